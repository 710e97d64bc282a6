//! Client-side caching on the shard side: which tracking clients read which keys of this shard
//! (the tracking table, keyed by key name as Redis's, whatever the database), and the
//! invalidations a change, an expiry, an eviction or the table's own limit produces. The shard
//! only buffers them as data; the layer above delivers them to the clients' threads after the
//! job (`command::publish_events`). Free when nobody tracks: [`Tracking::active`] is one load
//! and one compare per write.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use hashbrown::HashMap;

use super::Shard;

/// The tracking client a command runs for: who reads (`remember`: the read's keys go into the
/// table) and who writes (NOLOOP skips the writer's own invalidations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    pub id: u64,
    pub thread: u32,
    pub remember: bool,
}

/// How a queued command of a client tracks, in one byte (the client's id and thread are the
/// batch's, added when the command runs: see [`Track::tracker`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Track {
    /// The client does not track.
    #[default]
    Off,
    /// It tracks, but this command's reads are not remembered (BCAST, OPTIN/OPTOUT).
    Writes,
    /// Its reads are remembered.
    Reads,
}

impl Track {
    /// The tracker of a command of client `id` on `thread` tracking this way.
    #[inline(always)]
    pub fn tracker(self, id: u64, thread: usize) -> Option<Tracker> {
        match self {
            Track::Off => None,
            Track::Writes | Track::Reads => Some(Tracker {
                id,
                thread: thread as u32,
                remember: self == Track::Reads,
            }),
        }
    }
}

/// One invalidation for one client (`target` on `thread`), caused by client `writer` (0: none,
/// or a client that does not track).
#[derive(Clone, Debug)]
pub struct Invalidation {
    pub thread: u32,
    pub target: u64,
    pub writer: u64,
    pub key: Bytes,
}

/// Prefixes registered by BCAST clients, process-wide (the layer above keeps the table; a
/// shard only needs to know whether to buffer changed keys for it).
static BCAST_PREFIXES: AtomicUsize = AtomicUsize::new(0);
/// Keys in every shard's table (INFO tracking_total_keys; the limit applies to it).
static TOTAL_KEYS: AtomicU64 = AtomicU64::new(0);
/// (key, client) entries in every shard's table (INFO tracking_total_items).
static TOTAL_ITEMS: AtomicU64 = AtomicU64::new(0);
/// `tracking-table-max-keys` (0: no limit).
static MAX_KEYS: AtomicU64 = AtomicU64::new(1_000_000);
/// A shard is evicting tracked keys down to the limit: one at a time, so that two shards
/// reading the same total do not both evict and go below it.
static EVICTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Set once a client enabled tracking: from then on expired keys are recorded (they
/// invalidate), as the table may name them.
static IN_USE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets the number of BCAST prefixes registered (by the layer above).
pub fn set_bcast_prefixes(n: usize) {
    BCAST_PREFIXES.store(n, Relaxed);
}

/// `tracking-table-max-keys`.
pub fn set_max_keys(n: u64) {
    MAX_KEYS.store(n, Relaxed);
}

/// Keys and entries in the tracking tables of every shard.
pub fn totals() -> (u64, u64) {
    (TOTAL_KEYS.load(Relaxed), TOTAL_ITEMS.load(Relaxed))
}

/// Notes that a client enabled tracking.
pub fn note_in_use() {
    IN_USE.store(true, Relaxed);
    super::db::RECORD_EXPIRED.store(true, Relaxed);
}

/// Whether a client ever enabled tracking (expired keys must then be recorded).
pub fn in_use() -> bool {
    IN_USE.load(Relaxed)
}

/// One shard's tracking table and the invalidations of its running job.
#[derive(Default)]
pub struct Tracking {
    keys: HashMap<Bytes, Vec<(u32, u64)>>,
    /// The tracking client whose command runs now, if any.
    current: Option<Tracker>,
    /// Invalidations for single clients, until the job's runner delivers them.
    out: Vec<Invalidation>,
    /// Keys changed for the BCAST clients, with the client that changed them (0: none).
    bcast: Vec<(Bytes, u64)>,
    /// Passes of `limit_tracking` in a row that left the table over the limit.
    evict_effort: usize,
}

impl Tracking {
    /// True when a write may have someone to tell: the table names keys, or BCAST clients
    /// listen.
    #[inline(always)]
    pub fn active(&self) -> bool {
        !self.keys.is_empty() || BCAST_PREFIXES.load(Relaxed) != 0
    }

    fn writer(&self) -> u64 {
        self.current.map_or(0, |t| t.id)
    }

    /// Removes `key` from the table, queueing an invalidation for each client that read it,
    /// and, when `bcast`, for the BCAST clients.
    fn invalidate(&mut self, key: &[u8], bcast: bool) {
        let writer = self.writer();
        if bcast && BCAST_PREFIXES.load(Relaxed) != 0 {
            self.bcast.push((Bytes::copy_from_slice(key), writer));
        }
        if self.keys.is_empty() {
            return;
        }
        let Some(ids) = self.keys.remove(key) else {
            return;
        };
        TOTAL_KEYS.fetch_sub(1, Relaxed);
        TOTAL_ITEMS.fetch_sub(ids.len() as u64, Relaxed);
        let key = Bytes::copy_from_slice(key);
        for (thread, target) in ids {
            self.out.push(Invalidation {
                thread,
                target,
                writer,
                key: key.clone(),
            });
        }
    }

    fn remember(&mut self, key: &[u8], tracker: Tracker) {
        let entry = (tracker.thread, tracker.id);
        match self.keys.get_mut(key) {
            Some(ids) => {
                if !ids.contains(&entry) {
                    ids.push(entry);
                    TOTAL_ITEMS.fetch_add(1, Relaxed);
                }
            }
            None => {
                self.keys.insert(Bytes::copy_from_slice(key), vec![entry]);
                TOTAL_KEYS.fetch_add(1, Relaxed);
                TOTAL_ITEMS.fetch_add(1, Relaxed);
            }
        }
    }

    /// Empties the table (a flush: the clients are told once, by the layer above).
    fn clear(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let items: usize = self.keys.values().map(Vec::len).sum();
        TOTAL_KEYS.fetch_sub(self.keys.len() as u64, Relaxed);
        TOTAL_ITEMS.fetch_sub(items as u64, Relaxed);
        self.keys.clear();
    }
}

impl Shard {
    /// Sets the tracking client of the command about to run (None: it does not track).
    #[inline(always)]
    pub fn set_tracker(&mut self, tracker: Option<Tracker>) {
        self.tracking.current = tracker;
    }

    /// After a read-only command of a tracking client: remembers that it read `keys`.
    pub fn remember_keys<'k>(&mut self, keys: impl Iterator<Item = &'k [u8]>) {
        let Some(tracker) = self.tracking.current.filter(|t| t.remember) else {
            return;
        };
        for key in keys {
            self.tracking.remember(key, tracker);
        }
        self.limit_tracking();
    }

    /// The running command changed `key` (or it expired or was evicted): the clients that may
    /// cache it are told.
    #[inline(always)]
    pub fn invalidate(&mut self, key: &[u8]) {
        if self.tracking.active() {
            self.tracking.invalidate(key, true);
        }
    }

    /// True when a write may have a tracking client to tell (see [`Tracking::active`]).
    #[inline(always)]
    pub fn tracking_active(&self) -> bool {
        self.tracking.active()
    }

    /// A flush emptied a database: tracked keys are forgotten (every tracking client gets one
    /// "all keys" invalidation from the command).
    pub fn forget_tracked(&mut self) {
        self.tracking.clear();
    }

    /// True when invalidations wait to be delivered.
    #[inline(always)]
    pub fn has_invalidations(&self) -> bool {
        !self.tracking.out.is_empty() || !self.tracking.bcast.is_empty()
    }

    /// Takes the buffered invalidations: per client, and the keys changed for BCAST clients.
    pub fn take_invalidations(&mut self) -> (Vec<Invalidation>, Vec<(Bytes, u64)>) {
        (
            std::mem::take(&mut self.tracking.out),
            std::mem::take(&mut self.tracking.bcast),
        )
    }

    /// Keeps the tables within `tracking-table-max-keys` (summed over shards), as Redis:
    /// evicting an entry invalidates it for its clients. The effort grows while a pass leaves
    /// the table over the limit.
    pub fn limit_tracking(&mut self) {
        let max = MAX_KEYS.load(Relaxed);
        if max == 0 || TOTAL_KEYS.load(Relaxed) <= max || self.tracking.keys.is_empty() {
            self.tracking.evict_effort = 0;
            return;
        }
        if EVICTING.swap(true, std::sync::atomic::Ordering::Acquire) {
            // Another shard is at it; this one looks again on its next tick.
            return;
        }
        let effort = 100 * (self.tracking.evict_effort + 1);
        let current = self.tracking.current.take();
        let mut reached = false;
        for _ in 0..effort {
            if TOTAL_KEYS.load(Relaxed) <= max {
                reached = true;
                break;
            }
            let Some(key) = self.tracking.keys.keys().next().cloned() else {
                break;
            };
            self.tracking.invalidate(&key, false);
        }
        reached |= TOTAL_KEYS.load(Relaxed) <= max;
        self.tracking.evict_effort = if reached {
            0
        } else {
            self.tracking.evict_effort + 1
        };
        self.tracking.current = current;
        EVICTING.store(false, std::sync::atomic::Ordering::Release);
    }
}
