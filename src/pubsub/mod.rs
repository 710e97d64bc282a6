//! Pub/sub: a shared, read-mostly registry of which threads have subscribers for each channel,
//! pattern and shard channel, and per-thread delivery to the subscriber connections.
//!
//! PUBLISH reads the registry on the publisher's core (no hop), answers with the receiver count,
//! and sends the message once to each other thread with subscribers (batched per tick through the
//! mailbox); each thread hands it to its own subscribers. The payload is one `Bytes`, shared.
//! Messages from one publisher keep their order at every subscriber: same queue, same order.
//! Depends on `shard::mailbox` (for cross-thread delivery), `glob` and `state` (output limits);
//! not on commands or sockets.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

use crate::glob::glob_match;
use crate::handoff;
use crate::shard::mailbox::run_on_thread;
use crate::state::{
    note_output_limit_disconnection, ClientInfo, OutputLimitWatch, PUBSUB_OUTPUT_LIMIT,
};

/// Which family a subscription belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

/// A message for one subscriber: `message`/`pmessage`/`smessage`.
#[derive(Clone, Debug)]
pub struct Push {
    pub kind: Kind,
    /// The matching pattern, for `pmessage`.
    pub pattern: Option<Bytes>,
    /// Channel and payload, one copy per thread shared by all its subscribers (a count that
    /// needs no atomic operation, unlike a `Bytes` clone).
    pub message: Rc<Message>,
}

/// A published message, as a thread's subscribers share it.
#[derive(Debug)]
pub struct Message {
    pub channel: Bytes,
    pub payload: Bytes,
    /// Its `message` and `smessage` pushes as RESP2 and RESP3 bytes (in that order), each
    /// encoded by the first subscriber that writes it and copied by the others (a pattern's
    /// `pmessage` differs per pattern).
    pub encoded: [std::cell::OnceCell<Bytes>; 4],
}

impl Message {
    pub fn new(channel: Bytes, payload: Bytes) -> Message {
        Message {
            channel,
            payload,
            encoded: Default::default(),
        }
    }
}

impl Push {
    /// Bytes this message holds in a subscriber's output queue (for the output-buffer limit).
    pub fn cost(&self) -> usize {
        let message = &self.message;
        message.payload.len()
            + message.channel.len()
            + self.pattern.as_ref().map_or(0, |p| p.len())
            + 48
    }
}

/// One subscribed connection as its thread's delivery sees it.
pub struct Subscriber {
    pub id: u64,
    client: Arc<ClientInfo>,
    /// The subscriber itself, for the soft limit's timer.
    me: Weak<Subscriber>,
    tx: handoff::Sender<Push>,
    /// Bytes delivered but not yet encoded by the connection.
    pub queued: Cell<usize>,
    watch: OutputLimitWatch,
    /// A soft-limit timer is running.
    timing: Cell<bool>,
    /// Called once when the subscriber exceeds its output-buffer limit (disconnects it).
    on_overflow: Box<dyn Fn()>,
}

impl Subscriber {
    /// A subscriber whose messages go to `tx`.
    pub fn new(
        client: Arc<ClientInfo>,
        tx: handoff::Sender<Push>,
        on_overflow: Box<dyn Fn()>,
    ) -> Rc<Self> {
        Rc::new_cyclic(|me| Subscriber {
            id: client.id,
            client,
            me: me.clone(),
            tx,
            queued: Cell::new(0),
            watch: OutputLimitWatch::default(),
            timing: Cell::new(false),
            on_overflow,
        })
    }

    fn deliver(&self, push: Push) {
        let queued = self.queued.get() + push.cost();
        if self.over_limit(queued) {
            return;
        }
        self.set_queued(queued);
        let _ = self.tx.push(push);
    }

    fn set_queued(&self, queued: usize) {
        self.queued.set(queued);
        self.client.memory.messages.store(queued as u64, Relaxed);
    }

    /// Applies `client-output-buffer-limit pubsub` to `queued` plus the write in flight: hard
    /// limit at once, soft limit after its grace period (checked again when it ends, so a
    /// subscriber that stays over is cut off without further traffic, as Redis's clientsCron
    /// does). An offender is cut off (once) and its message dropped.
    fn over_limit(&self, queued: usize) -> bool {
        if self.queued.get() == usize::MAX {
            return true;
        }
        let limit = PUBSUB_OUTPUT_LIMIT.get();
        let pending = queued + self.client.memory.writing.load(Relaxed) as usize;
        let over = self.watch.exceeded(pending, limit);
        if over {
            self.queued.set(usize::MAX);
            note_output_limit_disconnection(&format!("id={}", self.id));
            (self.on_overflow)();
        } else if let Some(deadline) = self.watch.soft_deadline(limit) {
            self.time_soft_limit(deadline);
        }
        over
    }

    /// Checks the soft limit again just after `deadline`.
    fn time_soft_limit(&self, deadline: std::time::Instant) {
        if self.timing.replace(true) {
            return;
        }
        let me = self.me.clone();
        tokio::task::spawn_local(async move {
            let after = deadline + std::time::Duration::from_millis(1);
            tokio::time::sleep_until(after.into()).await;
            if let Some(sub) = me.upgrade() {
                sub.timing.set(false);
                sub.over_limit(sub.queued.get());
            }
        });
    }

    /// The connection encoded a message: it is counted as the write in flight from now on.
    pub fn written(&self, push: &Push) {
        let queued = self.queued.get();
        if queued != usize::MAX {
            self.set_queued(queued.saturating_sub(push.cost()));
        }
    }
}

impl Drop for Subscriber {
    /// Messages still queued go with the subscriber: they no longer count as the client's.
    fn drop(&mut self) {
        self.client.memory.messages.store(0, Relaxed);
    }
}

/// Per-thread subscriber tables: who on this thread listens to what.
#[derive(Default)]
struct Local {
    subs: HashMap<(Kind, Bytes), Vec<Rc<Subscriber>>>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

type Counts = HashMap<Bytes, Vec<u32>>;

/// The shared registry: for each channel, pattern and shard channel, how many subscribed
/// connections each thread has.
pub struct Registry {
    threads: usize,
    tables: [RwLock<Counts>; 3],
}

static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Channel => 0,
        Kind::Pattern => 1,
        Kind::Shard => 2,
    }
}

impl Registry {
    /// Creates the process's registry for `threads` threads (once; later calls get the same one).
    pub fn install(threads: usize) -> Arc<Registry> {
        REGISTRY
            .get_or_init(|| {
                Arc::new(Registry {
                    threads,
                    tables: Default::default(),
                })
            })
            .clone()
    }

    /// The process's registry, if the server started one.
    pub fn get() -> Option<&'static Arc<Registry>> {
        REGISTRY.get()
    }

    fn table(&self, kind: Kind) -> std::sync::RwLockReadGuard<'_, Counts> {
        self.tables[slot(kind)]
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn adjust(&self, kind: Kind, name: &Bytes, thread: usize, delta: i32) {
        let mut table = self.tables[slot(kind)]
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let counts = table
            .entry(name.clone())
            .or_insert_with(|| vec![0; self.threads]);
        counts[thread] = counts[thread].saturating_add_signed(delta);
        if counts.iter().all(|&c| c == 0) {
            table.remove(name);
        }
    }

    /// Names with subscribers, filtered by an optional glob.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.table(kind)
            .keys()
            .filter(|n| pattern.is_none_or(|p| glob_match(p, n, false)))
            .cloned()
            .collect()
    }

    /// Subscribed connections for `name`.
    pub fn count(&self, kind: Kind, name: &[u8]) -> u64 {
        self.table(kind)
            .get(name)
            .map_or(0, |c| c.iter().map(|&n| n as u64).sum())
    }

    /// Number of distinct names with subscribers.
    pub fn len(&self, kind: Kind) -> usize {
        self.table(kind).len()
    }

    /// True when nothing is subscribed at all.
    pub fn is_empty(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.read().map_or(true, |t| t.is_empty()))
    }

    /// Publishes `payload` on `channel` from the calling thread (`me`): delivers to local
    /// subscribers now, sends one message to each other thread with subscribers, and returns
    /// how many subscriptions receive it (channel subscribers plus matching patterns).
    pub fn publish(&self, me: usize, sharded: bool, channel: Bytes, payload: Bytes) -> u64 {
        let mut receivers = 0u64;
        let mut threads = vec![false; self.threads];
        let direct = if sharded { Kind::Shard } else { Kind::Channel };
        if let Some(counts) = self.table(direct).get(&channel) {
            for (t, &n) in counts.iter().enumerate() {
                receivers += n as u64;
                threads[t] |= n > 0;
            }
        }
        if !sharded {
            for (pattern, counts) in self.table(Kind::Pattern).iter() {
                if glob_match(pattern, &channel, false) {
                    for (t, &n) in counts.iter().enumerate() {
                        receivers += n as u64;
                        threads[t] |= n > 0;
                    }
                }
            }
        }
        for (t, wanted) in threads.into_iter().enumerate() {
            if !wanted {
                continue;
            }
            if t == me {
                deliver_local(sharded, &channel, &payload);
            } else {
                let (channel, payload) = (channel.clone(), payload.clone());
                run_on_thread(
                    t,
                    Box::new(move || deliver_local(sharded, &channel, &payload)),
                );
            }
        }
        receivers
    }
}

/// Hands a message to this thread's subscribers of `channel` (and matching patterns).
fn deliver_local(sharded: bool, channel: &Bytes, payload: &Bytes) {
    LOCAL.with(|local| {
        let local = local.borrow();
        let direct = if sharded { Kind::Shard } else { Kind::Channel };
        let message = Rc::new(Message::new(channel.clone(), payload.clone()));
        if let Some(subs) = local.subs.get(&(direct, channel.clone())) {
            for sub in subs {
                sub.deliver(Push {
                    kind: direct,
                    pattern: None,
                    message: message.clone(),
                });
            }
        }
        if sharded {
            return;
        }
        for ((kind, pattern), subs) in &local.subs {
            if *kind == Kind::Pattern && glob_match(pattern, channel, false) {
                for sub in subs {
                    sub.deliver(Push {
                        kind: Kind::Pattern,
                        pattern: Some(pattern.clone()),
                        message: message.clone(),
                    });
                }
            }
        }
    });
}

/// Adds `sub` to `name` on this thread (`thread`); returns false if it was already there.
pub fn subscribe(
    registry: &Registry,
    thread: usize,
    sub: &Rc<Subscriber>,
    kind: Kind,
    name: Bytes,
) -> bool {
    let added = LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        let list = local.subs.entry((kind, name.clone())).or_default();
        if list.iter().any(|s| s.id == sub.id) {
            return false;
        }
        list.push(sub.clone());
        true
    });
    if added {
        registry.adjust(kind, &name, thread, 1);
    }
    added
}

/// Removes subscriber `id` from `name` on this thread; returns whether it was subscribed.
pub fn unsubscribe(registry: &Registry, thread: usize, id: u64, kind: Kind, name: &Bytes) -> bool {
    let removed = LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        let key = (kind, name.clone());
        let Some(list) = local.subs.get_mut(&key) else {
            return false;
        };
        let before = list.len();
        list.retain(|s| s.id != id);
        let removed = list.len() != before;
        if list.is_empty() {
            local.subs.remove(&key);
        }
        removed
    });
    if removed {
        registry.adjust(kind, name, thread, -1);
    }
    removed
}

/// Publishes keyspace notifications. The flags and the event type live with the shard that
/// buffers the events (`shard::events`); this is where they become messages.
pub mod notify {
    use bytes::Bytes;

    use super::Registry;
    pub use crate::shard::events::*;

    /// Publishes the buffered `events` from thread `me`, in order, each as
    /// `__keyspace@db__:key` and/or `__keyevent@db__:event`.
    pub fn publish(me: usize, events: impl IntoIterator<Item = KeyEvent>) {
        for e in events {
            emit(me, e.class, e.event, e.db, &e.key);
        }
    }

    /// Publishes `event` for `key` in `db` from thread `me`, as `__keyspace@db__:key` and/or
    /// `__keyevent@db__:event`.
    pub fn emit(me: usize, class: u32, event: &str, db: usize, key: &[u8]) {
        if !enabled(class) {
            return;
        }
        let Some(registry) = Registry::get() else {
            return;
        };
        let flags = flags();
        if flags & KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            registry.publish(
                me,
                false,
                Bytes::from(channel),
                Bytes::copy_from_slice(event.as_bytes()),
            );
        }
        if flags & KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            registry.publish(me, false, Bytes::from(channel), Bytes::copy_from_slice(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_flags_round_trip() {
        assert_eq!(
            notify::parse("KEA").map(notify::render).as_deref(),
            Some("AKE")
        );
        assert_eq!(
            notify::parse("Kg$").map(notify::render).as_deref(),
            Some("g$K")
        );
        assert_eq!(notify::parse("Q"), None);
        assert_eq!(notify::parse(""), Some(0));
    }
}
