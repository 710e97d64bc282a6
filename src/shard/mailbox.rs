//! The mailbox: the cross-core queue that carries work to the thread owning a shard, and the
//! ordered hold protocol that makes multi-shard commands atomic.
//!
//! Every thread owns one shard and one inbox. Work for a shard is a [`Job`] (a closure run with
//! `&mut Shard` on the owning thread). Jobs and their results cross threads in batches: a
//! thread collects what it posts during one scheduler tick in a thread-local outbox, one list per
//! destination, and a flush task sends each list as one message at the end of the tick. Results
//! travel back the same way as [`Completion`]s run on the origin thread, so the wake-up of the
//! waiting connection is a local one; a tick costs at most one cross-thread wake per peer thread.
//! A [`Mail::Hold`] asks the shard to serve only its holder until released: holders lock shards in
//! ascending id order, so two holders can never wait on each other (no deadlock).
//! Depends on `shard` only; no sockets, no runtime beyond tokio's channels.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::slot::{ShardId, SlotTable};
use super::Shard;

/// Work for one shard, run on its thread.
pub type Job = Box<dyn FnOnce(&mut Shard) + Send>;

/// A result's delivery, run back on the thread that posted the job.
pub type Completion = Box<dyn FnOnce() + Send>;

/// What travels through a shard's inbox.
pub enum Mail {
    /// Run these jobs, in order.
    Jobs(Vec<Job>),
    /// Deliver these results (to tasks of this thread).
    Completions(Vec<Completion>),
    /// Serve only the holder's jobs (from `jobs`) until the holder drops its sender.
    Hold {
        granted: oneshot::Sender<()>,
        jobs: mpsc::UnboundedReceiver<Job>,
    },
}

/// Sender side of every shard's inbox, shared by all threads.
pub type Inboxes = Arc<Vec<mpsc::UnboundedSender<Mail>>>;

/// A thread's own shard, plus whether a holder currently owns it.
pub struct LocalShard {
    shard: RefCell<Shard>,
    held: Cell<bool>,
}

impl LocalShard {
    /// Wraps the shard owned by the current thread.
    pub fn new(shard: Shard) -> Rc<Self> {
        Rc::new(LocalShard {
            shard: RefCell::new(shard),
            held: Cell::new(false),
        })
    }

    fn run<R>(&self, job: impl FnOnce(&mut Shard) -> R) -> R {
        job(&mut self.shard.borrow_mut())
    }
}

/// This thread's outgoing mail, gathered during a tick and sent by one flush task.
struct Outbox {
    inboxes: Option<Inboxes>,
    jobs: Vec<Vec<Job>>,
    completions: Vec<Vec<Completion>>,
    flush_scheduled: bool,
}

thread_local! {
    static OUTBOX: RefCell<Outbox> = const {
        RefCell::new(Outbox {
            inboxes: None,
            jobs: Vec::new(),
            completions: Vec::new(),
            flush_scheduled: false,
        })
    };
}

/// Sets up this thread's outbox; called once when a worker thread starts.
fn init_outbox(inboxes: Inboxes) {
    OUTBOX.with(|o| {
        let mut o = o.borrow_mut();
        o.jobs = (0..inboxes.len()).map(|_| Vec::new()).collect();
        o.completions = (0..inboxes.len()).map(|_| Vec::new()).collect();
        o.inboxes = Some(inboxes);
    });
}

/// Queues mail in this thread's outbox; the first one in a tick schedules the flush.
fn enqueue(push: impl FnOnce(&mut Outbox)) {
    let schedule = OUTBOX.with(|o| {
        let mut o = o.borrow_mut();
        push(&mut o);
        !std::mem::replace(&mut o.flush_scheduled, true)
    });
    if schedule {
        tokio::task::spawn_local(async { flush_outbox() });
    }
}

/// Runs `work` on thread `target`, delivered with the rest of this tick's mail for it (pub/sub
/// fan-out uses this: one message per thread per tick, however many publishes).
pub fn run_on_thread(target: ShardId, work: Completion) {
    enqueue(|o| o.completions[target].push(work));
}

/// Sends every destination's gathered mail as one message each.
fn flush_outbox() {
    OUTBOX.with(|o| {
        let mut o = o.borrow_mut();
        o.flush_scheduled = false;
        let Some(inboxes) = o.inboxes.clone() else {
            return;
        };
        for (target, inbox) in inboxes.iter().enumerate() {
            // A closed inbox means the server is stopping; waiting receivers then see the loss.
            if !o.jobs[target].is_empty() {
                let _ = inbox.send(Mail::Jobs(std::mem::take(&mut o.jobs[target])));
            }
            if !o.completions[target].is_empty() {
                let _ = inbox.send(Mail::Completions(std::mem::take(
                    &mut o.completions[target],
                )));
            }
        }
    });
}

/// Serves a shard's inbox on its owning thread until every sender is gone.
pub async fn serve_inbox(local: Rc<LocalShard>, mut inbox: mpsc::UnboundedReceiver<Mail>) {
    while let Some(mail) = inbox.recv().await {
        match mail {
            Mail::Jobs(jobs) => {
                let mut shard = local.shard.borrow_mut();
                for job in jobs {
                    job(&mut shard);
                }
            }
            Mail::Completions(done) => done.into_iter().for_each(|deliver| deliver()),
            Mail::Hold { granted, mut jobs } => {
                if granted.send(()).is_err() {
                    continue;
                }
                local.held.set(true);
                while let Some(job) = jobs.recv().await {
                    local.run(job);
                }
                local.held.set(false);
            }
        }
    }
}

/// A thread's way to every shard: its own (run inline when free) and the others (by mail).
#[derive(Clone)]
pub struct Router {
    id: ShardId,
    local: Rc<LocalShard>,
    inboxes: Inboxes,
    table: SlotTable,
    /// Shards a transaction holds: while set, work for them goes through the holding (their
    /// inboxes serve nobody else), and nested holds reuse it.
    holding: Option<Rc<Holding>>,
}

impl Router {
    /// The router of the thread owning shard `id` (call on that thread: it sets up the
    /// thread's outbox).
    pub fn new(id: ShardId, local: Rc<LocalShard>, inboxes: Inboxes) -> Self {
        init_outbox(inboxes.clone());
        let table = SlotTable::new(inboxes.len());
        Router {
            id,
            local,
            inboxes,
            table,
            holding: None,
        }
    }

    /// This router, with every job for a shard of `holding` sent through it (EXEC).
    pub fn within(&self, holding: Rc<Holding>) -> Router {
        Router {
            holding: Some(holding),
            ..self.clone()
        }
    }

    /// The slot table.
    pub fn table(&self) -> &SlotTable {
        &self.table
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.table.shards()
    }

    /// The shard owning `key`.
    pub fn shard_of(&self, key: &[u8]) -> ShardId {
        self.table.shard_of(key)
    }

    /// True when `id` is this thread's shard and no holder owns it: work may run inline.
    pub fn runs_inline(&self, id: ShardId) -> bool {
        id == self.id && !self.local.held.get()
    }

    /// The holding's queue for shard `id`, when a transaction holds it.
    fn held_queue(&self, id: ShardId) -> Option<&mpsc::UnboundedSender<Job>> {
        let holding = self.holding.as_ref()?;
        holding.held.iter().find(|(h, _)| *h == id).map(|(_, q)| q)
    }

    /// Runs `job` on this thread's shard right now. Callers check [`Router::runs_inline`] first.
    pub fn run_inline<R>(&self, job: impl FnOnce(&mut Shard) -> R) -> R {
        self.local.run(job)
    }

    /// Posts `job` to shard `id` (sent with the rest of this tick's mail for that shard); its
    /// result comes back through the origin thread's inbox to the returned receiver.
    pub fn post<R: Send + 'static>(
        &self,
        id: ShardId,
        job: impl FnOnce(&mut Shard) -> R + Send + 'static,
    ) -> oneshot::Receiver<R> {
        let (tx, rx) = oneshot::channel();
        if let Some(queue) = self.held_queue(id) {
            let _ = queue.send(Box::new(move |shard| {
                let _ = tx.send(job(shard));
            }));
            return rx;
        }
        let origin = self.id;
        let job: Job = Box::new(move |shard| {
            let result = job(shard);
            let deliver: Completion = Box::new(move || {
                let _ = tx.send(result);
            });
            enqueue(|o| o.completions[origin].push(deliver));
        });
        enqueue(|o| o.jobs[id].push(job));
        rx
    }

    /// Runs `job` on shard `id` and returns its result: inline when possible, else by mail.
    pub async fn run<R: Send + 'static>(
        &self,
        id: ShardId,
        job: impl FnOnce(&mut Shard) -> R + Send + 'static,
    ) -> Option<R> {
        if self.runs_inline(id) {
            return Some(self.run_inline(job));
        }
        self.post(id, job).await.ok()
    }

    /// Runs `job` on every shard concurrently; results in shard order.
    pub async fn run_all<R: Send + 'static>(
        &self,
        job: impl Fn(&mut Shard) -> R + Send + Clone + 'static,
    ) -> Vec<R> {
        let pending: Vec<_> = (0..self.shards())
            .map(|id| {
                if self.runs_inline(id) {
                    Err(id)
                } else {
                    Ok(self.post(id, job.clone()))
                }
            })
            .collect();
        let mut results = Vec::with_capacity(pending.len());
        for p in pending {
            match p {
                Err(_) => results.push(Some(self.run_inline(job.clone()))),
                Ok(rx) => results.push(rx.await.ok()),
            }
        }
        results.into_iter().flatten().collect()
    }

    /// Holds the given shards (any order, duplicates allowed) for an atomic multi-shard step.
    /// Shards are locked one by one in ascending id order; released when the result drops.
    pub async fn hold(&self, shards: &[ShardId]) -> Holding {
        let mut ids: Vec<ShardId> = shards.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if let Some(outer) = &self.holding {
            // Inside a transaction: its holding already covers every shard it may touch.
            let held = outer
                .held
                .iter()
                .filter(|(id, _)| ids.contains(id))
                .cloned()
                .collect();
            return Holding { held };
        }
        let mut held = Vec::with_capacity(ids.len());
        for id in ids {
            let (tx, rx) = mpsc::unbounded_channel();
            let (granted_tx, granted_rx) = oneshot::channel();
            let _ = self.inboxes[id].send(Mail::Hold {
                granted: granted_tx,
                jobs: rx,
            });
            // Err: the shard's thread is gone (shutdown); the holding then runs nothing there.
            let _ = granted_rx.await;
            held.push((id, tx));
        }
        Holding { held }
    }
}

/// Shards held by one holder; dropping it releases them.
pub struct Holding {
    held: Vec<(ShardId, mpsc::UnboundedSender<Job>)>,
}

impl Holding {
    /// Runs `job` on held shard `id`. Returns None if `id` is not held or its thread is gone.
    pub async fn run<R: Send + 'static>(
        &self,
        id: ShardId,
        job: impl FnOnce(&mut Shard) -> R + Send + 'static,
    ) -> Option<R> {
        let (_, jobs) = self.held.iter().find(|(held, _)| *held == id)?;
        let (tx, rx) = oneshot::channel();
        jobs.send(Box::new(move |shard| {
            let _ = tx.send(job(shard));
        }))
        .ok()?;
        rx.await.ok()
    }
}
