//! WATCH on the shard side: which clients watch which keys of this shard, and the touch that
//! marks them dirty when a key changes. A client's watch set shares one dirty flag across every
//! shard it watches; EXEC reads it while holding those shards, so a touch is never missed.
//! Free when nobody watches: every hook starts with an emptiness check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;

use super::Shard;

/// One client's dirty flag: set once any key it watches changes.
pub type WatchFlag = Arc<AtomicBool>;

struct Watcher {
    flag: WatchFlag,
    /// The key was live when WATCH ran (see `Shard::touch_watched_guess`).
    existed: bool,
}

/// Watched keys of one shard, per (db, key).
#[derive(Default)]
pub struct Watches {
    keys: HashMap<(usize, Bytes), Vec<Watcher>>,
}

impl Watches {
    /// Raises the flag of the watchers of `key`: every one when it was modified (`live` None:
    /// only real modifications get here, see `Shard::modified`), or, for a guess, those that saw
    /// it live at WATCH or see it live now (`live` Some: see `Shard::touch_watched_guess`).
    fn mark(&self, db: usize, key: &[u8], live: Option<bool>) {
        let Some(watchers) = self.keys.get(&(db, Bytes::copy_from_slice(key))) else {
            return;
        };
        for w in watchers {
            if live.is_none_or(|live| live || w.existed) {
                w.flag.store(true, Ordering::Release);
            }
        }
    }
}

impl Shard {
    /// Starts watching `key` of the current db for `flag`; returns whether the key is live.
    pub fn watch(&mut self, key: &[u8], flag: &WatchFlag) -> bool {
        let existed = self.exists(key);
        let db = self.db_index();
        let watchers = self
            .watches
            .keys
            .entry((db, Bytes::copy_from_slice(key)))
            .or_default();
        if !watchers.iter().any(|w| Arc::ptr_eq(&w.flag, flag)) {
            watchers.push(Watcher {
                flag: flag.clone(),
                existed,
            });
        }
        existed
    }

    /// Stops watching `keys` ((db, key) pairs) for `flag`.
    pub fn unwatch(&mut self, keys: &[(usize, Bytes)], flag: &WatchFlag) {
        for slot in keys {
            if let Some(watchers) = self.watches.keys.get_mut(slot) {
                watchers.retain(|w| !Arc::ptr_eq(&w.flag, flag));
                if watchers.is_empty() {
                    self.watches.keys.remove(slot);
                }
            }
        }
    }

    /// True when someone watches a key of this shard (the hooks' fast check).
    pub fn is_watched(&self) -> bool {
        !self.watches.keys.is_empty()
    }

    /// Signals that the running command modified `key` (current db): the one place a write
    /// reports a change, so WATCH sees exactly the keys that changed and save points count it
    /// (once per key and command, where Redis counts some commands per element). Every store,
    /// removal, push, pop and keyspace event passes here; a write that changed nothing calls
    /// [`Shard::unchanged`] instead, or nothing at all when it failed.
    pub fn modified(&mut self, key: &[u8]) {
        self.signalled = true;
        self.changed = true;
        // A store and the command's event name the same key (the same argument): one change.
        let this = (key.as_ptr() as usize, key.len());
        if this != self.last_changed {
            self.last_changed = this;
            self.changes.add(1);
        }
        self.touch_watched(key);
        self.invalidate(key);
    }

    /// Says that the running write command changed nothing (SET NX on an existing key, SADD of
    /// members already there...): `after_write` then signals none of its keys.
    pub fn unchanged(&mut self) {
        self.signalled = true;
    }

    /// For `after_write`: whether the command signalled its changes itself (then clears it).
    pub(super) fn take_signalled(&mut self) -> bool {
        std::mem::take(&mut self.signalled)
    }

    /// Marks the watchers of `key` (current db) dirty: a write touched it.
    pub fn touch_watched(&mut self, key: &[u8]) {
        if self.watches.keys.is_empty() {
            return;
        }
        self.watches.mark(self.db, key, None);
    }

    /// `touch_watched` for a write that did not say what it changed (`after_write`'s fallback):
    /// a key absent at WATCH and absent now is taken as unchanged (a DEL or LPUSHX of a missing
    /// key), anything else as changed.
    pub fn touch_watched_guess(&mut self, key: &[u8]) {
        if self.watches.keys.is_empty() {
            return;
        }
        let live = self.exists(key);
        self.watches.mark(self.db, key, Some(live));
    }

    /// Marks watchers of every watched key of database `db` that exists there, or in `other`
    /// (FLUSHDB/FLUSHALL empty a db; SWAPDB replaces it with `other`).
    pub fn touch_watched_db(&mut self, db: usize, other: Option<usize>) {
        if self.watches.keys.is_empty() {
            return;
        }
        let watches = std::mem::take(&mut self.watches);
        let before = self.db_index();
        for (watched_db, key) in watches.keys.keys() {
            if *watched_db != db {
                continue;
            }
            let live = [Some(db), other].into_iter().flatten().any(|d| {
                self.db = d;
                self.exists(key)
            });
            if live {
                watches.mark(db, key, None);
            }
        }
        self.db = before;
        self.watches = watches;
    }

    /// EXEC's check, on the shard owning the keys: false when `flag` was raised or a key that
    /// was live at WATCH is gone now (deleted or expired).
    pub fn watch_intact(&mut self, keys: &[(usize, Bytes, bool)], flag: &WatchFlag) -> bool {
        if flag.load(Ordering::Acquire) {
            return false;
        }
        let before = self.db_index();
        let intact = keys.iter().all(|(db, key, existed)| {
            self.db = *db;
            !*existed || self.exists(key)
        });
        self.db = before;
        intact
    }
}
