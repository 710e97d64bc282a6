//! The keyspace, split into shards that each belong to one thread, and the mailbox that carries
//! work between them. Shard code never touches a socket; it knows nothing of connections.
//! Depends on `protocol` only: never on `command`, `pubsub` or `state`. What the layers above
//! must learn (keyspace events, see `events`) is buffered on the shard for them to take.

pub mod blocking;
pub mod db;
pub mod events;
pub mod evict;
pub mod inbox;
pub mod journal;
pub mod lfu;
pub mod mailbox;
pub mod memory;
pub mod record;
pub mod slot;
pub mod snapshot;
pub mod tracking;
pub mod types;
pub mod watch;

use bytes::Bytes;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use db::{Db, Entry, Key, Value};
pub use mailbox::{Holding, Router};
pub use record::{Record, StrRef, Typed, ValueMut, ValueRef};
pub use slot::{slot_of, HashSlot, ShardId, SlotTable};

/// Whether shards expire keys in the background (DEBUG SET-ACTIVE-EXPIRE turns it off and on
/// for every shard at once; lazy expiry on access goes on either way).
pub static ACTIVE_EXPIRE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Counters a shard keeps for INFO; summed over shards when reported.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    /// Accounted memory (not a counter: reported as is, summed over shards).
    pub used_memory: u64,
}

/// One thread's part of the keyspace: all databases for the slots this shard owns.
pub struct Shard {
    id: ShardId,
    dbs: Vec<Db>,
    /// Database of the command being run (set by `select` before each command).
    db: usize,
    /// Clock of the command being run, in Unix milliseconds (refreshed by `select`).
    now_ms: u64,
    /// The clock stays where `freeze_clock` put it (loading an AOF).
    clock_frozen: bool,
    started_ms: u64,
    stats: ShardStats,
    rng: u64,
    /// Where the active expiry cycle resumes: (db, slot).
    expire_cursor: (usize, usize),
    /// Where the ageing pass (`age_clocks`) goes on: (db, slot).
    age_cursor: (usize, usize),
    /// Clients blocked on keys of this shard.
    blocked: blocking::Blocked,
    /// Clients watching keys of this shard (WATCH).
    watches: watch::Watches,
    /// Which tracking clients may cache keys of this shard (client-side caching).
    tracking: tracking::Tracking,
    /// Number of shards: this one's share of maxmemory is maxmemory / shards.
    shards: usize,
    /// The hash slots this shard owns (eviction samples keys from them).
    owned: std::ops::Range<usize>,
    /// What this shard last told the others about its memory (see `evict`).
    standing: evict::Standing,
    /// An entry was handed out for change in place since the last `after_write`: its
    /// accounted size must be re-estimated (stores and removals account exactly).
    changed_in_place: bool,
    /// The database told the running command's key (see `begin`).
    hinted: Option<usize>,
    /// The running command said which keys it modified, if any (`modified`, `unchanged`);
    /// otherwise `after_write` counts every key it names as modified.
    signalled: bool,
    /// Keyspace events of the running job, oldest first, until its runner publishes them
    /// (see `events`). Filled only when `notify-keyspace-events` enables their class.
    events: Vec<events::KeyEvent>,
    /// Changes made by this shard (see `snapshot::changes`).
    changes: std::sync::Arc<snapshot::Changes>,
    /// The key (address, length) the running command last counted as changed.
    last_changed: (usize, usize),
    /// This shard's journal while the change stream has a consumer (see `journal`).
    journal: Option<std::sync::Arc<std::sync::Mutex<journal::Journal>>>,
    /// The running command reported a change (`modified`): read by the journal hook.
    changed: bool,
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Shard {
    /// An empty shard with `databases` databases.
    pub fn new(id: ShardId, databases: usize) -> Self {
        let mut dbs = Vec::new();
        dbs.resize_with(databases.max(1), Db::default);
        Shard {
            id,
            dbs,
            db: 0,
            now_ms: unix_ms(),
            clock_frozen: false,
            started_ms: unix_ms(),
            stats: ShardStats::default(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            expire_cursor: (0, 0),
            age_cursor: (0, 0),
            blocked: blocking::Blocked::default(),
            watches: watch::Watches::default(),
            tracking: tracking::Tracking::default(),
            shards: 1,
            owned: 0..slot::SLOTS,
            standing: evict::Standing::default(),
            changed_in_place: false,
            hinted: None,
            signalled: false,
            events: Vec::new(),
            changes: snapshot::new_counter(),
            last_changed: (0, 0),
            journal: None,
            changed: false,
        }
    }

    /// This shard as one of `shards`: its slots and its share of maxmemory follow.
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self.owned = SlotTable::new(self.shards).slots_of(self.id);
        self
    }

    /// This shard's id.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// Makes `db` current and refreshes the clock: called before every command.
    pub fn select(&mut self, db: usize) {
        self.last_changed = (0, 0);
        self.db = db.min(self.dbs.len() - 1);
        self.read_clock();
    }

    /// Reads the clock once for a batch of commands run back to back (see `begin`).
    #[inline]
    pub fn read_clock(&mut self) {
        if !self.clock_frozen {
            self.now_ms = unix_ms();
        }
    }

    /// Stops the clock at `at_ms` for good. Replaying an AOF at Unix time 0 keeps every key
    /// alive and sets absolute expiries in the past rather than deleting keys, as Redis
    /// expires nothing while it loads (the loaded keys' expiries are checked afterwards).
    pub fn freeze_clock(&mut self, at_ms: u64) {
        self.now_ms = at_ms;
        self.clock_frozen = true;
    }

    /// The clock of the running command (Unix ms), fixed for the command like Redis's.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Seconds since the shard started at the running command's clock: the unit of an
    /// entry's last access time.
    pub fn clock_secs(&self) -> u32 {
        (self.now_ms.saturating_sub(self.started_ms) / 1000) as u32
    }

    /// Starts loading what the lookups of `(database, slot, key)` will read, every key through
    /// one step before the next (see [`Db::prefetch`]), so that the cache misses of commands
    /// about to run back to back on this shard overlap instead of coming one after another.
    pub fn prefetch_lookups<'a>(&self, lookups: impl Iterator<Item = (usize, HashSlot, &'a [u8])>) {
        const CHUNK: usize = 16;
        let steps = |found: &[(&Db, HashSlot, u64)]| {
            for step in [db::Fetch::Bucket, db::Fetch::Record] {
                for &(db, slot, hash) in found {
                    db.prefetch(slot, hash, step);
                }
            }
        };
        let mut found: [(&Db, HashSlot, u64); CHUNK] = [(&self.dbs[0], 0, 0); CHUNK];
        let mut n = 0;
        for (db, slot, key) in lookups {
            let Some(db) = self.dbs.get(db) else {
                continue;
            };
            db.prefetch(slot, 0, db::Fetch::Table);
            found[n] = (db, slot, db.key_hash(key));
            n += 1;
            if n == CHUNK {
                steps(&found);
                n = 0;
            }
        }
        steps(&found[..n]);
    }

    /// Starts loading what the field or member lookups `(database, slot, key, field)` of hash
    /// and set commands will read in large (table-form) hashes and sets, every field through
    /// one step before the next, as [`Shard::prefetch_lookups`] does for keys: a pipeline of
    /// HSETs into one big hash then waits for its fields' cache misses together. Keys that
    /// hold no such table are skipped; consecutive lookups in one key find it once.
    pub fn prefetch_fields<'a>(
        &self,
        lookups: impl Iterator<Item = (usize, HashSlot, &'a [u8], &'a [u8])>,
    ) {
        use types::FieldFetch as Fetch;
        const CHUNK: usize = 16;
        let steps = |found: &[Option<(FieldTable<'_>, u32)>]| {
            for step in [Fetch::Head, Fetch::Slot, Fetch::Key] {
                for &(table, hash) in found.iter().flatten() {
                    table.prefetch(hash, step);
                }
            }
        };
        let mut found: [Option<(FieldTable<'_>, u32)>; CHUNK] = [None; CHUNK];
        let mut n = 0;
        let mut last: Option<(usize, &[u8], Option<FieldTable<'_>>)> = None;
        for (db, slot, key, field) in lookups {
            let table = match last {
                Some((d, k, table)) if d == db && db::same_key(k, key) => table,
                _ => {
                    let record = self.dbs.get(db).and_then(|d| d.get_raw_in(slot, key));
                    let table = match record.map(|r| r.value()) {
                        Some(record::ValueRef::Hash(h)) => h.table().map(FieldTable::Hash),
                        Some(record::ValueRef::Set(s)) => s.table().map(FieldTable::Set),
                        _ => None,
                    };
                    last = Some((db, key, table));
                    table
                }
            };
            let Some(table) = table else {
                continue;
            };
            found[n] = Some((table, types::field_hash(field)));
            n += 1;
            if n == CHUNK {
                steps(&found);
                n = 0;
            }
        }
        steps(&found[..n]);
    }

    /// [`Shard::prefetch_lookups`] for the keys of one command in the current database (MSET,
    /// MGET, DEL...). A lone key gains nothing.
    pub fn prefetch_keys<'a>(&self, keys: impl ExactSizeIterator<Item = &'a Bytes>) {
        if keys.len() > 1 {
            self.prefetch_lookups(keys.map(|key| (self.db, slot_of(key), &key[..])));
        }
    }

    /// Index of the current database.
    pub fn db_index(&self) -> usize {
        self.db
    }

    /// The current database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.dbs[self.db]
    }

    /// Database `index` (must be in range; SELECT validated it).
    pub fn db_at(&mut self, index: usize) -> &mut Db {
        &mut self.dbs[index]
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// Two distinct databases at once (MOVE, SWAPDB).
    pub fn two_dbs(&mut self, a: usize, b: usize) -> (&mut Db, &mut Db) {
        assert_ne!(a, b, "two_dbs needs distinct databases");
        if a < b {
            let (left, right) = self.dbs.split_at_mut(b);
            (&mut left[a], &mut right[0])
        } else {
            let (left, right) = self.dbs.split_at_mut(a);
            (&mut right[0], &mut left[b])
        }
    }

    /// Counts a change made outside the keyspace (the function libraries) for the save points.
    pub fn count_change(&mut self) {
        self.changes.add(1);
    }

    /// Swaps two databases wholesale (SWAPDB).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        self.changes.add(1);
        self.touch_watched_db(a, Some(b));
        self.touch_watched_db(b, Some(a));
        self.end();
        self.dbs.swap(a, b);
    }

    /// Starts a command on database `db` whose first key is `key` in `slot` (see `Db::hint`).
    /// The clock is the one last read (`select` or `read_clock`): a batch reads it once.
    pub fn begin(&mut self, db: usize, key: Option<(&[u8], HashSlot)>) {
        self.db = db.min(self.dbs.len() - 1);
        self.signalled = false;
        self.last_changed = (0, 0);
        self.changed = false;
        if let Some((key, slot)) = key {
            self.dbs[self.db].hint(key, slot);
            self.hinted = Some(self.db);
        }
    }

    /// Ends the command started by `begin`.
    pub fn end(&mut self) {
        self.last_changed = (0, 0);
        if let Some(db) = self.hinted.take() {
            self.dbs[db].clear_hint();
        }
    }

    /// Looks `key` up for reading: expires it lazily, counts a hit or a miss, marks the access.
    pub fn read(&mut self, key: &[u8]) -> Option<&Record> {
        let (now, clock) = (self.now_ms, self.clock_secs());
        match self.dbs[self.db].get_mut(key, now) {
            Some(record) => {
                self.stats.keyspace_hits += 1;
                record.touch(accessed(record.touched(), clock, &mut self.rng));
                Some(&*record)
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// `read` that leaves the key's access time alone (Redis's LOOKUP_NOTOUCH: TTL, TYPE,
    /// EXISTS do not count as a use of the key).
    pub fn read_untouched(&mut self, key: &[u8]) -> Option<&Record> {
        let found = self.dbs[self.db].get(key, self.now_ms);
        let stats = &mut self.stats;
        match found {
            Some(record) => {
                stats.keyspace_hits += 1;
                Some(record)
            }
            None => {
                stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// Looks `key` up for writing: expires it lazily, no hit/miss accounting.
    pub fn write(&mut self, key: &[u8]) -> Option<&mut Record> {
        self.changed_in_place = true;
        self.live_mut(key)
    }

    /// Looks `key` up on a write path that only reads it (SET's old expiry, INCR's old value):
    /// expires it lazily, marks the access, no hit/miss accounting.
    pub fn live(&mut self, key: &[u8]) -> Option<&Record> {
        self.live_mut(key).map(|r| &*r)
    }

    /// Looks `key` up for a change that keeps its record's size (the accounting stays right
    /// without a re-estimate): expires it lazily, marks the access.
    pub fn live_mut(&mut self, key: &[u8]) -> Option<&mut Record> {
        let (now, clock) = (self.now_ms, self.clock_secs());
        let record = self.dbs[self.db].get_mut(key, now)?;
        record.touch(accessed(record.touched(), clock, &mut self.rng));
        Some(record)
    }

    /// True when `key` is live in the current db, with no side effect: no stats, no access
    /// mark, an expired key left in place (Redis's LOOKUP_NOTOUCH | NOSTATS | NOEXPIRE).
    pub fn present(&self, key: &[u8]) -> bool {
        self.dbs[self.db]
            .get_raw(key)
            .is_some_and(|r| r.is_live(self.now_ms))
    }

    /// True when `key` exists (live) in the current db, without touching stats.
    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.live(key).is_some()
    }

    /// Stores `value` under `key` with `expire_at` (0 = persistent), replacing any old value.
    pub fn store(&mut self, key: &[u8], value: Value, expire_at: u64) {
        let touched = self.stored_field(key);
        let entry = Entry {
            value,
            expire_at,
            touched,
        };
        self.insert(key, entry);
    }

    /// Stores `entry` under `key` as it is (RENAME, MOVE, COPY), replacing any old value; a
    /// key that did not exist raises the `new` keyspace event.
    pub fn insert(&mut self, key: &[u8], entry: Entry) {
        let record = Record::new(key, entry.value, entry.expire_at, entry.touched);
        self.insert_record(key, record);
    }

    /// Stores the string `value` under `key` with `expire_at` (0 = persistent), replacing any
    /// old value: copied straight from the argument, with no buffer of its own when short.
    pub fn store_str(&mut self, key: &[u8], value: &[u8], expire_at: u64) {
        let record = Record::new_str(key, value, expire_at, self.stored_field(key));
        self.insert_record(key, record);
    }

    /// The access field of a value stored now under `key`: the current second, or under an
    /// LFU policy a new key's counter, or the counter of the value it overwrites (as Redis
    /// keeps it across an overwrite).
    #[inline(always)]
    fn stored_field(&mut self, key: &[u8]) -> u32 {
        let clock = self.clock_secs();
        if !lfu::enabled() {
            return clock;
        }
        let now = self.now_ms;
        match self.dbs[self.db].get_mut(key, now) {
            Some(old) => old.touched(),
            None => lfu::fresh(clock),
        }
    }

    fn insert_record(&mut self, key: &[u8], record: Record) {
        let stream = matches!(record.value(), ValueRef::Stream(_));
        let old = self.dbs[self.db].insert_record(key, record);
        self.modified(key);
        if !stream
            && old
                .as_ref()
                .is_some_and(|o| matches!(o.value(), ValueRef::Stream(_)))
        {
            // Readers blocked on the stream learn it is gone.
            self.signal_ready(key);
        }
        if old.is_none_or(|o| !o.is_live(self.now_ms)) {
            self.emit(events::NEW, "new", key);
        }
    }

    /// Removes `key` if it is live; returns its record.
    pub fn delete(&mut self, key: &[u8]) -> Option<Record> {
        if self.write(key).is_none() {
            if db::REPLICA_FROZEN.load(std::sync::atomic::Ordering::Relaxed) {
                // On a replica the master's DEL of a key expired here removes it (a miss
                // all the same, as the key reads as missing).
                drop(self.dbs[self.db].remove(key));
            }
            return None;
        }
        let removed = self.dbs[self.db].remove(key);
        self.modified(key);
        if removed
            .as_ref()
            .is_some_and(|r| matches!(r.value(), ValueRef::Stream(_)))
        {
            // Readers blocked on the stream learn it is gone.
            self.signal_ready(key);
        }
        removed
    }

    /// Empties database `db` (FLUSHDB, FLUSHALL), touching the watched keys it held.
    pub fn flush_db(&mut self, db: usize) {
        self.changes.add(self.dbs[db].len() as u64);
        self.touch_watched_db(db, None);
        self.forget_tracked();
        self.dbs[db].clear();
        self.signal_db_ready(db);
        if self.has_ready() {
            self.serve_blocked();
        }
        self.enforce_maxmemory();
    }

    /// Buffers keyspace event `event` (of `class`) for `key` in the current database, if
    /// `notify-keyspace-events` enables that class; the job's runner publishes it.
    #[inline]
    pub fn emit(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.emit_in(class, event, self.db, key);
    }

    /// `emit` for a key of database `db`.
    #[inline]
    pub fn emit_in(&mut self, class: u32, event: &'static str, db: usize, key: &[u8]) {
        if events::enabled(class) {
            self.events.push(events::KeyEvent {
                class,
                event,
                db,
                key: key.into(),
            });
        }
    }

    /// True when keyspace events wait to be published.
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Takes the buffered keyspace events, oldest first (dropping the iterator drops the rest).
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, events::KeyEvent> {
        self.events.drain(..)
    }

    /// Reports keys that expired since the last call to `hook(shard, db, key)` (keyspace
    /// notifications); nothing is recorded unless `db::RECORD_EXPIRED` is on. `every`: look
    /// at every database, not only when this thread's databases said they recorded one.
    /// An expired key is journaled as DEL here, as Redis propagates it.
    pub fn drain_expired(&mut self, every: bool, hook: impl Fn(ShardId, usize, &[u8])) {
        // Called after every command while expiries are recorded (AOF on, a replica attached,
        // keyspace events or tracking): most find nothing.
        if !db::take_expired_pending() && !every {
            return;
        }
        for db in 0..self.dbs.len() {
            if !self.dbs[db].has_expired_keys() {
                continue;
            }
            for key in self.dbs[db].take_expired_keys() {
                self.journal_in(db, &[b"DEL", &key]);
                self.invalidate(&key);
                hook(self.id, db, &key);
            }
        }
    }

    /// Counters for INFO, with expiries found on access folded in.
    pub fn stats(&mut self) -> ShardStats {
        for db in &mut self.dbs {
            self.stats.expired_keys += db.take_expired_on_access();
        }
        self.stats.used_memory = self.used_memory() as u64;
        self.stats
    }

    /// Zeroes the counters (CONFIG RESETSTAT).
    pub fn reset_stats(&mut self) {
        self.stats = ShardStats::default();
    }

    /// A pseudo-random number (xorshift*; for RANDOMKEY and sampling, not for secrets).
    pub fn random(&mut self) -> u64 {
        next_random(&mut self.rng)
    }

    /// Redis's active expiry, time-bounded: walks slots with volatile keys from where the last
    /// cycle stopped, removing expired keys, until `budget` is spent or every slot was visited.
    /// Visits the next `slots` (db, slot) pairs of `owned` with keys and holds their records'
    /// idle times at `record::IDLE_CAP`: run every maintenance tick, a full pass over the 8192
    /// slots of a shard's database takes minutes, far inside the cap's 9 h, so no record's
    /// 16-bit access clock wraps (OBJECT IDLETIME, LRU eviction).
    pub fn age_clocks(&mut self, owned: std::ops::Range<usize>, slots: usize) {
        if owned.is_empty() {
            return;
        }
        self.read_clock();
        let clock = self.clock_secs();
        let (mut db, mut slot) = self.age_cursor;
        if db >= self.dbs.len() || slot < owned.start || slot >= owned.end {
            (db, slot) = (0, owned.start);
        }
        let mut left = slots;
        // Empty databases are stepped over whole, at most one lap of them per call.
        let mut skipped = 0;
        while left > 0 && skipped <= self.dbs.len() {
            if self.dbs[db].is_empty() {
                skipped += 1;
                (db, slot) = ((db + 1) % self.dbs.len(), owned.start);
                continue;
            }
            skipped = 0;
            self.dbs[db].age_slot(slot, clock, record::IDLE_CAP);
            left -= 1;
            slot += 1;
            if slot >= owned.end {
                (db, slot) = ((db + 1) % self.dbs.len(), owned.start);
            }
        }
        self.age_cursor = (db, slot);
    }

    /// One cycle of active expiry over the slots in `owned` (none while DEBUG
    /// SET-ACTIVE-EXPIRE 0 holds it off).
    pub fn active_expire(&mut self, owned: std::ops::Range<usize>, budget: std::time::Duration) {
        let now = unix_ms();
        if !ACTIVE_EXPIRE.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        // A writable replica's own volatile keys expire by its clock (no master DELs them).
        for db in &mut self.dbs {
            self.stats.expired_keys += db.expire_replica_keys(now) as u64;
        }
        if owned.is_empty() || db::frozen(now) || self.dbs.iter().all(|db| db.volatile() == 0) {
            return;
        }
        let start = Instant::now();
        let (mut db, mut slot) = self.expire_cursor;
        if db >= self.dbs.len() || slot < owned.start || slot >= owned.end {
            (db, slot) = (0, owned.start);
        }
        // Each (db, slot) is visited at most once per cycle; databases without volatile keys
        // are skipped whole.
        let mut budget_left = self.dbs.len() * owned.len();
        let mut visited = 0usize;
        while budget_left > 0 {
            if self.dbs[db].volatile() == 0 {
                budget_left = budget_left.saturating_sub(owned.end - slot);
                (db, slot) = ((db + 1) % self.dbs.len(), owned.start);
                continue;
            }
            let (_, removed) = self.dbs[db].expire_slot(slot, now);
            self.stats.expired_keys += removed as u64;
            budget_left -= 1;
            slot += 1;
            if slot >= owned.end {
                (db, slot) = ((db + 1) % self.dbs.len(), owned.start);
            }
            visited += 1;
            if visited.is_multiple_of(64) && start.elapsed() >= budget {
                break;
            }
        }
        self.expire_cursor = (db, slot);
    }
}

/// The table a field or member lookup searches (see [`Shard::prefetch_fields`]).
#[derive(Clone, Copy)]
enum FieldTable<'a> {
    Hash(&'a types::Table<(Bytes, Bytes)>),
    Set(&'a types::Table<Bytes>),
}

impl FieldTable<'_> {
    fn prefetch(self, hash: u32, step: types::FieldFetch) {
        match self {
            FieldTable::Hash(t) => t.prefetch(hash, step),
            FieldTable::Set(t) => t.prefetch(hash, step),
        }
    }
}

/// xorshift* over `state`.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The access field of a record accessed at `clock`: the second of the access, or under an
/// LFU policy its counter after the access (see `lfu`).
#[inline(always)]
fn accessed(field: u32, clock: u32, rng: &mut u64) -> u32 {
    if lfu::enabled() {
        lfu::accessed(field, clock, next_random(rng))
    } else {
        clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_events_are_buffered_in_order_only_when_enabled() {
        let mut shard = Shard::new(0, 2);
        let saved = events::flags();
        events::set(events::KEYSPACE | events::GENERIC | events::STRING | events::NEW);
        shard.select(1);
        shard.store_str(b"k", b"v", 0);
        shard.emit(events::STRING, "set", b"k");
        shard.emit(events::LIST, "lpush", b"k");
        shard.emit_in(events::GENERIC, "del", 0, b"j");
        let got: Vec<_> = shard
            .drain_events()
            .map(|e| (e.class, e.event, e.db, e.key.to_vec()))
            .collect();
        assert_eq!(
            got,
            [
                (events::NEW, "new", 1, b"k".to_vec()),
                (events::STRING, "set", 1, b"k".to_vec()),
                (events::GENERIC, "del", 0, b"j".to_vec()),
            ]
        );
        assert!(!shard.has_events());
        events::set(0);
        shard.emit(events::STRING, "set", b"k");
        assert!(!shard.has_events());
        events::set(saved);
    }

    #[test]
    fn prefetching_keys_changes_nothing() {
        let mut shard = Shard::new(0, 2);
        shard.select(1);
        let keys: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("key:{i}"))).collect();
        for key in keys.iter().step_by(2) {
            shard.store_str(key, key, 0);
        }
        // More keys than one chunk, present and absent, one alone, and none.
        shard.prefetch_keys(keys.iter());
        shard.prefetch_keys(keys[..1].iter());
        shard.prefetch_keys(keys[..0].iter());
        for (i, key) in keys.iter().enumerate() {
            let found = shard.read(key).map(|record| match record.value() {
                ValueRef::Str(value) => value.to_bytes(),
                _ => Bytes::new(),
            });
            assert_eq!(found.as_ref(), (i % 2 == 0).then_some(key), "{key:?}");
        }
        shard.select(0);
        shard.prefetch_keys(keys.iter());
        assert!(keys.iter().all(|key| shard.read(key).is_none()));
    }

    #[test]
    fn prefetching_fields_changes_nothing_and_takes_any_lookup() {
        use types::{Hash, HashLimits, Set, SetLimits};
        let mut shard = Shard::new(0, 2);
        let fields: Vec<Bytes> = (0..300).map(|i| Bytes::from(format!("f:{i}"))).collect();
        // Large enough for the table forms; a small hash stays packed.
        let (mut big, mut small, mut set) = (Hash::default(), Hash::default(), None::<Set>);
        for f in fields.iter().step_by(2) {
            big.set(f, f, &HashLimits::default());
            set.get_or_insert_with(|| Set::new(f, 0, &SetLimits::default()))
                .add(f, &SetLimits::default());
        }
        small.set(b"f:0", b"v", &HashLimits::default());
        assert_eq!(big.encoding(), "hashtable");
        assert_eq!(set.as_ref().map(Set::encoding), Some("hashtable"));
        shard.store(b"big", Value::Hash(Box::new(big)), 0);
        shard.store(b"small", Value::Hash(Box::new(small)), 0);
        shard.store(b"set", Value::Set(Box::new(set.expect("members"))), 0);
        shard.store_str(b"str", b"v", 0);
        let mut lookups: Vec<(usize, HashSlot, &[u8], &[u8])> = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let key: &[u8] = [&b"big"[..], b"set", b"small", b"str", b"absent"][i % 5];
            // Every key in both databases, and one database out of range.
            lookups.push((i % 3, slot_of(key), key, f));
            lookups.push((0, slot_of(b"big"), b"big", f));
        }
        shard.prefetch_fields(lookups.iter().copied());
        shard.prefetch_fields(lookups[..1].iter().copied());
        shard.prefetch_fields(std::iter::empty());
        let Some(ValueRef::Hash(big)) = shard.read(b"big").map(|r| r.value()) else {
            panic!("big is a hash");
        };
        for (i, f) in fields.iter().enumerate() {
            assert_eq!(big.get(f), (i % 2 == 0).then(|| f.clone()), "{f:?}");
        }
        let Some(ValueRef::Set(set)) = shard.read(b"set").map(|r| r.value()) else {
            panic!("set is a set");
        };
        assert_eq!(set.len(), 150);
        assert!(fields.iter().step_by(2).all(|f| set.contains(f)));
    }
}
