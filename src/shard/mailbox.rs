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
//! Mail reaches a thread through its [`inbox`], which skips the wake-up syscall
//! while that thread is busy.
//! Depends on `shard`, and on `protocol::Reply` as the result of atomic parts; no sockets, no
//! runtime beyond tokio's channels and local tasks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use tokio::sync::{mpsc, oneshot};

use super::inbox;
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
    /// Serve only the holder's jobs (from `jobs`) until the holder drops its sender (results for
    /// this thread's tasks are still delivered meanwhile). `on_grant`
    /// runs first, in the same turn (the holder's first work rides with the request); it
    /// returns false when the holder is gone, and the hold then ends at once.
    Hold {
        on_grant: GrantJob,
        jobs: mpsc::UnboundedReceiver<Job>,
    },
}

/// The work a holder sends with its hold request.
pub type GrantJob = Box<dyn FnOnce(&mut Shard) -> bool + Send>;

pub use super::inbox::{inboxes, Inboxes};

/// A thread's own shard, plus whether a holder currently owns it.
pub struct LocalShard {
    shard: RefCell<Shard>,
    held: Cell<bool>,
    /// Publishes the keyspace events a job left buffered on the shard (see `Shard::emit`).
    publish: fn(&mut Shard),
}

impl LocalShard {
    /// Wraps the shard owned by the current thread. `publish` runs after every job that left
    /// keyspace events on the shard: the layer above hands them to pub/sub, which this module
    /// must not know.
    pub fn new(shard: Shard, publish: fn(&mut Shard)) -> Rc<Self> {
        Rc::new(LocalShard {
            shard: RefCell::new(shard),
            held: Cell::new(false),
            publish,
        })
    }

    fn run<R>(&self, job: impl FnOnce(&mut Shard) -> R) -> R {
        let shard = &mut self.shard.borrow_mut();
        let result = job(shard);
        self.after_job(shard);
        result
    }

    /// Publishes what the last job buffered, before anything else runs.
    #[inline]
    fn after_job(&self, shard: &mut Shard) {
        if shard.has_events() || shard.has_invalidations() {
            (self.publish)(shard);
        }
    }
}

/// This thread's outgoing mail, gathered during a tick and sent by one flush task.
struct Outbox {
    inboxes: Option<Inboxes>,
    /// The shard id of this thread, whose inbox counts what it sends.
    own: ShardId,
    jobs: Vec<Vec<Job>>,
    completions: Vec<Vec<Completion>>,
    flush_scheduled: bool,
}

thread_local! {
    static OUTBOX: RefCell<Outbox> = const {
        RefCell::new(Outbox {
            inboxes: None,
            own: 0,
            jobs: Vec::new(),
            completions: Vec::new(),
            flush_scheduled: false,
        })
    };
}

/// One shard's share of an atomic multi-shard command; its reply is delivered on this thread.
pub type AtomicPart = Box<dyn FnOnce(&mut Shard) -> crate::protocol::Reply + Send>;

/// One shard's share of an atomic batch: the (entry, part) position of each part, and the parts.
type ShardGroup = (ShardId, Vec<(usize, usize)>, Vec<AtomicPart>);

/// Atomic multi-shard commands submitted on this thread during one tick: run together under
/// one set of holds (see [`Router::atomic`]).
#[derive(Default)]
struct AtomicBatch {
    entries: Vec<(Vec<(ShardId, AtomicPart)>, AtomicReplies)>,
    scheduled: bool,
}

type AtomicReplies = oneshot::Sender<Vec<Option<crate::protocol::Reply>>>;

/// The replies of an atomic command's parts, in the order of its parts (None: shard gone).
pub type AtomicReply =
    std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Option<crate::protocol::Reply>>>>>;

thread_local! {
    static ATOMIC: RefCell<AtomicBatch> = RefCell::new(AtomicBatch::default());
}

/// Sets up this thread's outbox; called once when a worker thread starts.
fn init_outbox(inboxes: Inboxes, own: ShardId) {
    OUTBOX.with(|o| {
        let mut o = o.borrow_mut();
        o.own = own;
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
        tokio::task::spawn_local(inbox::busy(async { flush_outbox() }));
    }
}

/// Every thread's inbox, for threads outside the runtime (the cluster bus).
static FOREIGN: std::sync::OnceLock<Inboxes> = std::sync::OnceLock::new();

/// Makes the inboxes reachable from threads outside the runtime.
pub fn share_inboxes(inboxes: Inboxes) {
    let _ = FOREIGN.set(inboxes);
}

/// Runs `work` on thread `target` from any thread, as one message of its own.
pub fn run_on_thread_from_anywhere(target: ShardId, work: Completion) {
    if let Some(inbox) = FOREIGN.get().and_then(|i| i.get(target)) {
        inbox.send(Mail::Completions(vec![work]));
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
        let mut sent = 0;
        for (target, inbox) in inboxes.iter().enumerate() {
            if !o.jobs[target].is_empty() {
                inbox.send(Mail::Jobs(std::mem::take(&mut o.jobs[target])));
                sent += 1;
            }
            if !o.completions[target].is_empty() {
                inbox.send(Mail::Completions(std::mem::take(
                    &mut o.completions[target],
                )));
                sent += 1;
            }
        }
        let traffic = &inboxes[o.own].traffic;
        inbox::Traffic::add(&traffic.sent, sent);
    });
}

/// Serves shard `id`'s inbox on its owning thread, for as long as the thread runs.
pub async fn serve_inbox(local: Rc<LocalShard>, inboxes: Inboxes, id: ShardId) {
    inbox::adopt(inboxes.clone(), id);
    inbox::busy(serve(&local, &inboxes[id])).await
}

async fn serve(local: &LocalShard, inbox: &inbox::Inbox) {
    let mut batch = Vec::new();
    let mut queue = VecDeque::new();
    loop {
        inbox.recv(&mut batch).await;
        sort_mail(inbox, &mut batch, &mut queue);
        while let Some(mail) = queue.pop_front() {
            match mail {
                Mail::Jobs(jobs) => {
                    inbox::Traffic::add(&inbox.traffic.jobs_run, jobs.len() as u64);
                    let mut shard = local.shard.borrow_mut();
                    for job in jobs {
                        job(&mut shard);
                        local.after_job(&mut shard);
                    }
                }
                // Never queued (sort_mail delivers them); handled all the same.
                Mail::Completions(done) => deliver(done),
                Mail::Hold { on_grant, jobs } => {
                    if local.run(on_grant) {
                        serve_hold(local, inbox, jobs, &mut batch, &mut queue).await;
                    }
                }
            }
        }
    }
}

/// Delivers the results in `batch` at once and queues the shard's work behind what `queue`
/// holds, in arrival order. Results never wait behind shard work: a holder may be waiting on
/// one of them (the last part of an atomic batch comes back as one) while its hold keeps this
/// shard's queue closed, and they do not touch the shard.
fn sort_mail(inbox: &inbox::Inbox, batch: &mut Vec<Mail>, queue: &mut VecDeque<Mail>) {
    inbox::Traffic::add(&inbox.traffic.received, batch.len() as u64);
    for mail in batch.drain(..) {
        match mail {
            Mail::Completions(done) => deliver(done),
            work => queue.push_back(work),
        }
    }
}

/// Serves a holder's jobs until it lets go. Meanwhile results for this thread's tasks are still
/// delivered; other mail waits in `queue`.
async fn serve_hold(
    local: &LocalShard,
    inbox: &inbox::Inbox,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    batch: &mut Vec<Mail>,
    queue: &mut VecDeque<Mail>,
) {
    local.held.set(true);
    loop {
        tokio::select! {
            biased;
            job = jobs.recv() => match job {
                Some(job) => {
                    inbox::Traffic::add(&inbox.traffic.jobs_run, 1);
                    local.run(job)
                }
                None => break,
            },
            () = inbox.recv(batch) => sort_mail(inbox, batch, queue),
        }
    }
    local.held.set(false);
}

fn deliver(done: Vec<Completion>) {
    done.into_iter().for_each(|deliver| deliver());
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
        init_outbox(inboxes.clone(), id);
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

    /// True inside a transaction that holds shards (EXEC): a hold of every shard taken now
    /// would cover only the transaction's.
    pub fn in_transaction(&self) -> bool {
        self.holding.is_some()
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

    /// The shard that owns hash slot `slot`.
    pub fn shard_of_slot(&self, slot: super::HashSlot) -> ShardId {
        self.table.shard_of_slot(slot)
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
        let work = ids.into_iter().map(|id| (id, |_: &mut Shard| ())).collect();
        self.hold_with(work).await.0
    }

    /// Runs an atomic multi-shard command: `parts` (one per shard, distinct ids) run while all
    /// their shards are held. Every such command submitted on this thread in one tick shares
    /// one set of holds, each shard running the commands' parts in submission order, so each
    /// command is atomic and all shards see them in the same order; the holds cost one round
    /// trip per shard per tick instead of per command. Replies in the order of `parts`.
    /// The command joins this tick's batch at the call, not when the future is first polled, so
    /// a connection can submit several in a row and wait for them together.
    pub fn atomic(&self, parts: Vec<(ShardId, AtomicPart)>) -> AtomicReply {
        if self.holding.is_some() {
            // Inside a transaction that already holds the shards.
            let router = self.clone();
            return Box::pin(async move { router.hold_with(parts).await.1 });
        }
        let count = parts.len();
        let (tx, rx) = oneshot::channel();
        let schedule = ATOMIC.with(|a| {
            let mut a = a.borrow_mut();
            a.entries.push((parts, tx));
            !std::mem::replace(&mut a.scheduled, true)
        });
        if schedule {
            let router = self.clone();
            tokio::task::spawn_local(inbox::busy(async move { router.run_atomic_batch().await }));
        }
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| (0..count).map(|_| None).collect())
        })
    }

    /// Runs this tick's atomic commands under one set of holds.
    async fn run_atomic_batch(&self) {
        let entries = ATOMIC.with(|a| {
            let mut a = a.borrow_mut();
            a.scheduled = false;
            std::mem::take(&mut a.entries)
        });
        // Per shard: (entry, part) positions and the parts, in submission order.
        let mut groups: Vec<ShardGroup> = Vec::new();
        let mut senders = Vec::with_capacity(entries.len());
        let mut replies: Vec<Vec<Option<crate::protocol::Reply>>> = Vec::new();
        for (e, (parts, tx)) in entries.into_iter().enumerate() {
            replies.push((0..parts.len()).map(|_| None).collect());
            senders.push(tx);
            for (p, (shard, part)) in parts.into_iter().enumerate() {
                match groups.iter_mut().find(|(s, _, _)| *s == shard) {
                    Some((_, at, jobs)) => {
                        at.push((e, p));
                        jobs.push(part);
                    }
                    None => groups.push((shard, vec![(e, p)], vec![part])),
                }
            }
        }
        let mut positions = Vec::with_capacity(groups.len());
        let work: Vec<_> = groups
            .into_iter()
            .map(|(shard, at, jobs)| {
                positions.push(at);
                let job = move |s: &mut Shard| jobs.into_iter().map(|j| j(s)).collect::<Vec<_>>();
                (shard, job)
            })
            .collect();
        let results = self.run_atomically(work).await;
        for (at, result) in positions.into_iter().zip(results) {
            for ((e, p), reply) in at.into_iter().zip(result.into_iter().flatten()) {
                replies[e][p] = Some(reply);
            }
        }
        for (tx, r) in senders.into_iter().zip(replies) {
            let _ = tx.send(r);
        }
    }

    /// Runs the jobs of `work` (distinct ids, any order) as one atomic step: the shards below the
    /// highest are held as by [`Router::hold_with`], and the highest one's job then runs as a
    /// plain job (inline when this thread's shard is free) before they are released. That shard
    /// needs no hold: its part is the last one, so whoever sees it sees every other part done,
    /// and the held shards stay closed to everyone until then. This saves the hold's release
    /// trip and never makes the highest shard wait for the origin.
    async fn run_atomically<R, F>(&self, mut work: Vec<(ShardId, F)>) -> Vec<Option<R>>
    where
        R: Send + 'static,
        F: FnOnce(&mut Shard) -> R + Send + 'static,
    {
        let Some(top) = (0..work.len()).max_by_key(|&i| work[i].0) else {
            return Vec::new();
        };
        let (id, job) = work.remove(top);
        // Journaled as one block: each held shard joins it as granted, the last closes it.
        let ids: Vec<ShardId> = work.iter().map(|(w, _)| *w).chain([id]).collect();
        let block = super::journal::Block::new(&ids);
        let handle = block.as_ref().map(super::journal::Block::handle);
        let work: Vec<_> = work
            .into_iter()
            .map(|(w, job)| {
                let handle = handle.clone();
                let joined = move |s: &mut Shard| {
                    if let Some(h) = &handle {
                        s.join_block(h);
                    }
                    job(s)
                };
                (w, joined)
            })
            .collect();
        let job = move |s: &mut Shard| {
            if let Some(h) = &handle {
                s.join_block(h);
            }
            let result = job(s);
            if let Some(block) = block {
                block.close(true);
            }
            result
        };
        let (holding, mut results) = self.hold_with(work).await;
        let result = if self.runs_inline(id) {
            Some(self.run_inline(job))
        } else {
            // Its result comes back as a completion, delivered even while this thread's inbox
            // serves one of the holds just taken.
            self.post(id, job).await.ok()
        };
        drop(holding);
        results.insert(top, result);
        results
    }

    /// Holds the shards of `work` (distinct ids, any order) in ascending id order, running each
    /// shard's job as soon as that shard is granted: one round trip per shard instead of two.
    /// Safe for atomicity because no shard is released before the holding drops (strict
    /// two-phase locking), so nobody holding several of them can see part of the work. Results
    /// come back in the order of `work`; None where a shard's thread is gone.
    pub async fn hold_with<R, F>(&self, mut work: Vec<(ShardId, F)>) -> (Holding, Vec<Option<R>>)
    where
        R: Send + 'static,
        F: FnOnce(&mut Shard) -> R + Send + 'static,
    {
        let order: Vec<usize> = {
            let mut order: Vec<usize> = (0..work.len()).collect();
            order.sort_by_key(|&i| work[i].0);
            order
        };
        let mut results: Vec<Option<R>> = work.iter().map(|_| None).collect();
        if let Some(outer) = &self.holding {
            // Inside a transaction: its holding already covers every shard it may touch.
            let held: Vec<_> = outer
                .held
                .iter()
                .filter(|(id, _)| work.iter().any(|(w, _)| w == id))
                .cloned()
                .collect();
            let holding = Holding { held };
            let mut jobs: Vec<Option<(ShardId, F)>> = work.into_iter().map(Some).collect();
            for i in order {
                if let Some((id, job)) = jobs[i].take() {
                    results[i] = holding.run(id, job).await;
                }
            }
            return (holding, results);
        }
        let mut slots: Vec<Option<(ShardId, F)>> = work.drain(..).map(Some).collect();
        let mut held = Vec::with_capacity(slots.len());
        for i in order {
            let Some((id, job)) = slots[i].take() else {
                continue;
            };
            let (tx, rx) = mpsc::unbounded_channel();
            let (done_tx, done_rx) = oneshot::channel();
            let on_grant: GrantJob = Box::new(move |shard| done_tx.send(job(shard)).is_ok());
            self.inboxes[id].send(Mail::Hold { on_grant, jobs: rx });
            inbox::Traffic::add(&self.inboxes[self.id].traffic.sent, 1);
            // Err: the shard's thread is gone (shutdown); the holding then runs nothing there.
            results[i] = done_rx.await.ok();
            held.push((id, tx));
        }
        (Holding { held }, results)
    }
}

/// Shards held by one holder; dropping it releases them.
pub struct Holding {
    held: Vec<(ShardId, mpsc::UnboundedSender<Job>)>,
}

impl Holding {
    /// Queues `job` on held shard `id` without waiting for it (it runs before the release).
    pub fn send(&self, id: ShardId, job: impl FnOnce(&mut Shard) + Send + 'static) {
        if let Some((_, jobs)) = self.held.iter().find(|(held, _)| *held == id) {
            let _ = jobs.send(Box::new(job));
        }
    }

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
