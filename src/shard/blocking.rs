//! Clients blocked on keys (BLPOP, BZPOPMIN, ...): a per-shard FIFO of waiters per key, served
//! in arrival order when a write makes the key ready. A waiter registered on several shards
//! shares one claim flag: whoever sets it first (a shard serving it, or the client timing out or
//! leaving) owns the outcome, so an element is never taken for a client that is gone.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;

use super::Shard;

/// Clients blocked right now, server-wide (INFO blocked_clients).
static BLOCKED_CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// Number of clients blocked right now.
pub fn blocked_clients() -> usize {
    BLOCKED_CLIENTS.load(Ordering::Relaxed)
}

/// Counts one blocked client while it lives (a blocking command holds it while it waits).
pub struct BlockedClient(());

impl BlockedClient {
    pub fn new() -> Self {
        BLOCKED_CLIENTS.fetch_add(1, Ordering::Relaxed);
        BlockedClient(())
    }
}

impl Default for BlockedClient {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BlockedClient {
    fn drop(&mut self) {
        BLOCKED_CLIENTS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Tries to serve a waiter on its key: returns true once done with it (served, or its claim
/// was lost), false to keep it waiting. It must call [`try_claim`] before changing anything.
pub type ServeFn = Box<dyn FnMut(&mut Shard, &AtomicBool) -> bool + Send>;

/// Takes the claim; false when someone else (another shard, a timeout) already has it.
pub fn try_claim(claim: &AtomicBool) -> bool {
    !claim.swap(true, Ordering::AcqRel)
}

struct Waiter {
    claim: Arc<AtomicBool>,
    serve: ServeFn,
}

/// The shard's blocked clients and the keys that became ready since the last serving.
#[derive(Default)]
pub struct Blocked {
    waiting: HashMap<(usize, Bytes), VecDeque<Waiter>>,
    /// In signalling order: Redis serves keys in the order they became ready.
    ready: VecDeque<(usize, Bytes)>,
    /// Set while a transaction runs here: waiters are served after it, as Redis does.
    deferred: bool,
}

impl Shard {
    /// Parks a waiter on `key` of the current db, behind the ones already there; serves it at
    /// once if the key is ready now.
    pub fn block_on(&mut self, key: &[u8], claim: Arc<AtomicBool>, serve: ServeFn) {
        let db = self.db_index();
        let slot = (db, Bytes::copy_from_slice(key));
        self.blocked
            .waiting
            .entry(slot.clone())
            .or_default()
            .push_back(Waiter { claim, serve });
        self.blocked.ready.push_back(slot);
        self.serve_blocked();
    }

    /// Notes that `key` (current db) may now satisfy waiters. Free when nobody waits. (WATCH
    /// is told by the write itself, through `Shard::modified`.)
    pub fn signal_ready(&mut self, key: &[u8]) {
        if self.blocked.waiting.is_empty() {
            return;
        }
        let slot = (self.db_index(), Bytes::copy_from_slice(key));
        if self.blocked.waiting.contains_key(&slot) {
            self.blocked.ready.push_back(slot);
        }
    }

    /// Signals every key of `db` that has waiters (SWAPDB brought in another db's keys, or a
    /// flush removed them, as Redis's scanDatabaseForReadyKeys and scanDatabaseForDeletedKeys
    /// do): a waiter on a list finds it still empty, one reading a stream through a group
    /// learns that the stream is gone.
    pub fn signal_db_ready(&mut self, db: usize) {
        let waited: Vec<(usize, Bytes)> = self
            .blocked
            .waiting
            .keys()
            .filter(|(d, _)| *d == db)
            .cloned()
            .collect();
        self.blocked.ready.extend(waited);
    }

    /// True when some key was signalled and waiters may be served.
    pub fn has_ready(&self) -> bool {
        !self.blocked.ready.is_empty()
    }

    /// Serves waiters of every ready key, oldest first, until each key runs dry.
    pub fn serve_blocked(&mut self) {
        if self.blocked.deferred {
            return;
        }
        let db_before = self.db_index();
        while let Some(slot) = self.blocked.ready.pop_front() {
            let Some(mut queue) = self.blocked.waiting.remove(&slot) else {
                continue;
            };
            while let Some(waiter) = queue.front_mut() {
                if waiter.claim.load(Ordering::Acquire) {
                    queue.pop_front();
                    continue;
                }
                self.select(slot.0);
                if (waiter.serve)(self, &waiter.claim) {
                    queue.pop_front();
                    self.touch_watched(&slot.1);
                    self.invalidate(&slot.1);
                } else {
                    break;
                }
            }
            if !queue.is_empty() {
                // Serving may have parked new waiters on this key meanwhile: keep arrival order.
                let newer = self.blocked.waiting.remove(&slot);
                queue.extend(newer.into_iter().flatten());
                self.blocked.waiting.insert(slot, queue);
            }
        }
        self.select(db_before);
    }

    /// True while a transaction or a script runs here (see [`Shard::defer_blocked`]).
    pub fn in_atomic_unit(&self) -> bool {
        self.blocked.deferred
    }

    /// Holds back serving waiters (a transaction runs) or, on false, serves what became ready.
    pub fn defer_blocked(&mut self, defer: bool) {
        self.blocked.deferred = defer;
        if !defer && self.has_ready() {
            self.serve_blocked();
        }
    }

    /// Drops every registration sharing `claim` (the client timed out or left).
    pub fn unblock(&mut self, claim: &Arc<AtomicBool>) {
        self.blocked.waiting.retain(|_, queue| {
            queue.retain(|w| !Arc::ptr_eq(&w.claim, claim));
            !queue.is_empty()
        });
    }

    /// Number of registrations waiting on this shard.
    pub fn blocked_count(&self) -> usize {
        self.blocked.waiting.values().map(VecDeque::len).sum()
    }
}
