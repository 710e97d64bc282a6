//! One logical database inside a shard: keys kept per hash slot, with lazy expiry.
//! Knows nothing of connections, commands or threads.

use bytes::Bytes;
use hashbrown::{DefaultHashBuilder, HashTable};

use super::memory;
use super::record::Record;
use super::slot::{slot_of, HashSlot, SLOTS};
use super::types::{Hash, List, Set, Stream, ZSet};

/// A key as handed out of the keyspace (expired keys for notifications, eviction's victim).
pub type Key = Bytes;

/// A value as owned outside the keyspace: what a command stores, what a removal hands back.
/// Stored, it is packed into a `Record` (see `shard::record`) and read through `ValueRef`.
#[derive(Clone, Debug)]
pub enum Value {
    /// A Redis string (binary safe).
    Str(Bytes),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

/// A value with its absolute expiry time in Unix milliseconds (0 = never) and last access,
/// detached from the keyspace (RENAME, MOVE, COPY, snapshot loading).
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub expire_at: u64,
    /// Last access, in seconds since the shard started (OBJECT IDLETIME, LRU eviction).
    pub touched: u32,
}

/// One slot's keys: buckets are thin pointers to records; the hash is the database's, of
/// the key bytes, recomputed from the record when the table grows.
pub(super) type SlotMap = HashTable<Record>;

/// A database's share of the keyspace on one shard.
#[derive(Default)]
pub struct Db {
    /// One map per hash slot; empty until the first write (an unused db costs nothing).
    pub(super) slots: Vec<SlotMap>,
    /// A background snapshot in progress: told before any change reaches a slot's table.
    pub(super) cut: Option<Box<super::snapshot::Cut>>,
    /// Keys with an expiry, per slot: active expiry only visits slots with some.
    volatile_per_slot: Vec<u32>,
    keys: usize,
    volatile: usize,
    /// Sum of the entries' accounted sizes.
    used: usize,
    /// Bytes of the slot tables' allocations (see `memory::table_bytes`).
    tables: usize,
    /// Keys removed because an access found them expired, not yet counted in the stats.
    expired_since_read: u64,
    /// Keys removed by expiry, kept only while someone listens for `expired` events.
    expired_keys: Vec<Key>,
    /// The running command's key and its slot, computed where the command was routed (see
    /// `Db::slot`): (address, length, slot), address 0 when none.
    hint: (usize, usize, HashSlot),
    /// Hashes keys for every slot's table.
    hasher: DefaultHashBuilder,
    /// On a writable replica, the keys its own clients gave an expiry (Redis's
    /// slaveKeysWithExpire): the replica expires these itself, the master's keys it does not.
    replica_volatile: hashbrown::HashSet<Key>,
}

/// One step of a lookup to prefetch (see [`Db::prefetch`]), in the order they must run.
#[derive(Clone, Copy, Debug)]
pub enum Fetch {
    /// The slot's table header.
    Table,
    /// The control bytes, then the bucket they point to.
    Bucket,
    /// The record the bucket points to.
    Record,
}

/// Whether expired keys are recorded for keyspace notifications (set from the configuration).
pub static RECORD_EXPIRED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// Set when a database on this thread recorded an expired key: after each command
    /// `Shard::drain_expired` looks at its databases only then (a look at all 16 after every
    /// command cost ~230 instructions a write with a replica or the AOF attached). A
    /// database is only changed on its shard's thread; the expire cycle drains regardless.
    static EXPIRED_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a database on this thread recorded an expired key since the last call.
pub fn take_expired_pending() -> bool {
    EXPIRED_PENDING.with(|p| p.replace(false))
}

fn mark_expired_pending() {
    EXPIRED_PENDING.with(|p| p.set(true));
}

/// Key equality, for the lookups: keys of 4 to 16 bytes (most keys) compare as two
/// overlapping machine words each, with no call to `memcmp`.
#[inline]
pub(crate) fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

/// While clients are paused (CLIENT PAUSE), the unix time in ms the pause lasts to, else 0.
/// The dataset then stays as it is: an expired key reads as missing but is not removed (active
/// expiry skips too), and nothing is evicted, as Redis 7.0 keeps it.
pub static FROZEN_UNTIL_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// True while this server is a replica: keys expire by its master's DEL, not by this clock.
/// An expired key reads as missing but stays, active expiry skips, nothing is evicted
/// (`replica-ignore-maxmemory yes`), as a Redis replica's expireIfNeeded.
pub static REPLICA_FROZEN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Who sent the command a replica's thread runs (see [`set_origin`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Origin {
    /// Not known (loading, internal work).
    Unknown,
    /// One of the replica's own clients: an expiry it sets is the replica's to enforce.
    Local,
    /// Its master: expired keys are still there for it (Redis's expireIfNeeded spares the
    /// master's client), since the master decides when they go.
    Master,
}

thread_local! {
    /// Set on a replica before each command this thread runs.
    static ORIGIN: std::cell::Cell<Origin> = const { std::cell::Cell::new(Origin::Unknown) };
}

/// Tells this thread who sent the command about to run (while this server is a replica).
pub fn set_origin(origin: Origin) {
    ORIGIN.with(|o| o.set(origin));
}

fn origin() -> Origin {
    if REPLICA_FROZEN.load(std::sync::atomic::Ordering::Relaxed) {
        ORIGIN.with(std::cell::Cell::get)
    } else {
        Origin::Unknown
    }
}

/// Whether an expiry set now is one a writable replica enforces itself.
fn replica_local_expiry() -> bool {
    origin() == Origin::Local
}

/// True while a pause, or being a replica, keeps the dataset as it is at `now_ms`.
#[inline]
pub fn frozen(now_ms: u64) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let until = FROZEN_UNTIL_MS.load(Relaxed);
    (until != 0 && now_ms <= until) || REPLICA_FROZEN.load(Relaxed)
}

/// `hasher.hash_one(key)`, spelled out (the length prefix `[u8]`'s `Hash` writes, then the
/// bytes) so that it always inlines into the lookups: left to itself, LLVM sometimes calls
/// `<[u8] as Hash>::hash` out of line instead, which cost 3 % more instructions per
/// pipelined SET (callgrind, -P 16).
#[inline(always)]
fn hash_of(hasher: &DefaultHashBuilder, key: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut state = hasher.build_hasher();
    state.write_usize(key.len());
    state.write(key);
    state.finish()
}

fn recording() -> bool {
    RECORD_EXPIRED.load(std::sync::atomic::Ordering::Relaxed)
}

impl Db {
    /// Number of keys (including expired ones not yet reclaimed).
    pub fn len(&self) -> usize {
        self.keys
    }

    /// True when the database holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// Number of keys with an expiry.
    pub fn volatile(&self) -> usize {
        self.volatile
    }

    /// Accounted bytes of this database's entries and of the tables holding them.
    pub fn used(&self) -> usize {
        self.used + self.tables
    }

    /// Tells the database the running command's key and slot (already computed to route it),
    /// until `clear_hint`. While the command runs its arguments are alive and immutable, so
    /// a key at the same address with the same length is that key.
    pub fn hint(&mut self, key: &[u8], slot: HashSlot) {
        self.hint = (key.as_ptr() as usize, key.len(), slot);
    }

    /// Forgets the key told by `hint` (its memory may be reused once the command is done).
    pub fn clear_hint(&mut self) {
        self.hint = (0, 0, 0);
    }

    /// The slot of `key`: the hinted one when it is the hinted key, else computed.
    fn slot(&self, key: &[u8]) -> HashSlot {
        let (address, len, slot) = self.hint;
        if address != 0 && key.as_ptr() as usize == address && key.len() == len {
            slot
        } else {
            slot_of(key)
        }
    }

    #[inline(always)]
    fn hash(&self, key: &[u8]) -> u64 {
        hash_of(&self.hasher, key)
    }

    /// The hash this database's tables file `key` under (for [`Db::prefetch`]).
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.hash(key)
    }

    /// Starts loading, without waiting, one step of what a lookup of the key with hash `hash`
    /// in `slot` will read. The steps depend on each other (the table header locates the
    /// control bytes, they the bucket, the bucket the record), so a batch of commands takes
    /// every key through one step before the next: each step's cache misses then overlap
    /// instead of coming one after another. The lookups' closures only prefetch what they are
    /// given and match nothing, so no step reads more than the one before it loaded.
    pub fn prefetch(&self, slot: HashSlot, hash: u64, step: Fetch) {
        let Some(map) = self.slots.get(slot as usize) else {
            return;
        };
        match step {
            Fetch::Table => super::record::prefetch(std::ptr::from_ref(map).cast()),
            // Reads the header and the control bytes; the candidate's bucket is only named.
            Fetch::Bucket if !map.is_empty() => {
                map.find(hash, |record| {
                    super::record::prefetch(std::ptr::from_ref(record).cast());
                    false
                });
            }
            // Reads the buckets too; the records they point to are only named.
            Fetch::Record if !map.is_empty() => {
                map.find(hash, |record| {
                    record.prefetch();
                    false
                });
            }
            Fetch::Bucket | Fetch::Record => {}
        }
    }

    /// Re-estimates `key`'s accounted size after its value changed in place; a large
    /// collection only when `large` (its estimate samples elements).
    pub fn refresh_size(&mut self, key: &[u8], large: bool) {
        let (slot, hash) = (self.slot(key) as usize, self.hash(key));
        let Some(record) = self
            .slots
            .get_mut(slot)
            .and_then(|m| m.find_mut(hash, |r| same_key(r.key(), key)))
        else {
            return;
        };
        if !large && memory::is_large(record.value()) {
            return;
        }
        let before = memory::accounted(record);
        self.used = self.used - before + memory::measure(record);
    }

    /// Every change of a slot's table comes here first: a snapshot in progress encodes the
    /// slot as it stood at the cut before the change (see `shard::snapshot`).
    #[inline]
    fn before_write(&mut self, slot: usize) {
        if let Some(cut) = self.cut.as_mut() {
            cut.before_write(slot, &self.slots);
        }
    }

    fn ensure_slots(&mut self) {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, SlotMap::default);
            self.volatile_per_slot = vec![0; SLOTS];
        }
    }

    /// The record for `key`, expired or not.
    pub fn get_raw(&self, key: &[u8]) -> Option<&Record> {
        self.get_raw_in(self.slot(key), key)
    }

    /// [`Db::get_raw`] for a key whose hash slot the caller knows.
    pub fn get_raw_in(&self, slot: HashSlot, key: &[u8]) -> Option<&Record> {
        let map = self.slots.get(slot as usize)?;
        if map.is_empty() {
            return None;
        }
        map.find(self.hash(key), |r| same_key(r.key(), key))
    }

    /// The live record for `key`; an expired one is removed first.
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Record> {
        self.get_mut(key, now_ms).map(|r| &*r)
    }

    /// The live record for `key`, mutable; an expired one is removed first.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Record> {
        let slot = self.slot(key);
        self.before_write(slot as usize);
        let map = self.slots.get_mut(slot as usize)?;
        // A miss in an empty slot (or an empty database) costs no hashing.
        if map.is_empty() {
            return None;
        }
        let hash = hash_of(&self.hasher, key);
        let found = map.find_entry(hash, |r| same_key(r.key(), key)).ok()?;
        if found.get().is_live(now_ms) || origin() == Origin::Master {
            return Some(found.into_mut());
        }
        if frozen(now_ms) {
            return None;
        }
        // Fields apart from `slots`: the found entry's borrow of it may be returned above.
        let (old, _) = found.remove();
        self.keys -= 1;
        self.used -= memory::accounted(&old);
        if old.has_expiry() {
            self.volatile -= 1;
            self.volatile_per_slot[slot as usize] -= 1;
        }
        self.expired_since_read += 1;
        if recording() {
            self.expired_keys.push(Key::copy_from_slice(key));
            mark_expired_pending();
        }
        // The table stays (the borrow returned above forbids touching it here): the slot's
        // next insert reuses it, its next removal or expiry frees it.
        None
    }

    /// Inserts or replaces `key`, returning the previous record (expired or not).
    pub fn insert(&mut self, key: &[u8], entry: Entry) -> Option<Record> {
        let record = Record::new(key, entry.value, entry.expire_at, entry.touched);
        self.insert_record(key, record)
    }

    /// `insert` for a record built by the caller (whose key is `key`).
    pub fn insert_record(&mut self, key: &[u8], mut record: Record) -> Option<Record> {
        let (slot, hash) = (self.slot(key), self.hash(key));
        let volatile = record.has_expiry();
        if volatile && replica_local_expiry() {
            self.replica_volatile.insert(Key::copy_from_slice(key));
        }
        self.used += memory::measure(&mut record);
        self.ensure_slots();
        self.before_write(slot as usize);
        let map = &mut self.slots[slot as usize];
        let old = match map.find_mut(hash, |r| same_key(r.key(), key)) {
            Some(current) => Some(std::mem::replace(current, record)),
            None => {
                let hasher = &self.hasher;
                let capacity = map.capacity();
                map.insert_unique(hash, record, |r| hash_of(hasher, r.key()));
                if map.capacity() != capacity {
                    self.tables += memory::table_bytes(map.capacity());
                    self.tables -= memory::table_bytes(capacity);
                }
                None
            }
        };
        match &old {
            Some(o) => {
                self.used -= memory::accounted(o);
                self.adjust_volatile(slot, o.has_expiry(), volatile)
            }
            None => {
                self.keys += 1;
                self.adjust_volatile(slot, false, volatile);
            }
        }
        old
    }

    /// Removes `key` (expired or not), returning its record.
    pub fn remove(&mut self, key: &[u8]) -> Option<Record> {
        let slot = self.slot(key);
        self.before_write(slot as usize);
        let map = self.slots.get_mut(slot as usize)?;
        if map.is_empty() {
            return None;
        }
        let hash = hash_of(&self.hasher, key);
        let (old, _) = map
            .find_entry(hash, |r| same_key(r.key(), key))
            .ok()?
            .remove();
        self.forget(slot, &old);
        self.release_if_empty(slot as usize);
        Some(old)
    }

    /// Frees `slot`'s table once its last key is gone, as Redis 7.4 frees an empty slot's
    /// dict: eviction then gives back the table too (with one key per slot, the table is
    /// most of the key's cost), and a key in a new slot after it does not grow memory for good.
    fn release_if_empty(&mut self, slot: usize) {
        let map = &mut self.slots[slot];
        if map.is_empty() && map.capacity() > 0 {
            self.tables -= memory::table_bytes(map.capacity());
            *map = SlotMap::default();
        }
    }

    /// Takes a removed record out of the counts.
    fn forget(&mut self, slot: HashSlot, old: &Record) {
        self.keys -= 1;
        self.used -= memory::accounted(old);
        self.adjust_volatile(slot, old.has_expiry(), false);
    }

    /// Sets or clears (0) the expiry of an existing key. Returns false when the key is absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        let (slot, hash) = (self.slot(key), self.hash(key));
        self.before_write(slot as usize);
        let Some(record) = self
            .slots
            .get_mut(slot as usize)
            .and_then(|m| m.find_mut(hash, |r| same_key(r.key(), key)))
        else {
            return false;
        };
        let was = record.has_expiry();
        let before = memory::accounted(record);
        record.set_expire(expire_at);
        self.used = self.used - before + memory::accounted(record);
        self.adjust_volatile(slot, was, expire_at != 0);
        if expire_at != 0 && replica_local_expiry() {
            self.replica_volatile.insert(Key::copy_from_slice(key));
        }
        true
    }

    /// On a writable replica, removes the keys its own clients gave an expiry that has
    /// passed (Redis's expireSlaveKeys), returning how many; a key that lost its expiry or
    /// is gone is forgotten. Once no longer a replica the list is dropped: active expiry
    /// covers every key again.
    pub fn expire_replica_keys(&mut self, now_ms: u64) -> usize {
        if self.replica_volatile.is_empty() {
            return 0;
        }
        if !REPLICA_FROZEN.load(std::sync::atomic::Ordering::Relaxed) {
            self.replica_volatile = hashbrown::HashSet::new();
            return 0;
        }
        let paused_until = FROZEN_UNTIL_MS.load(std::sync::atomic::Ordering::Relaxed);
        if paused_until != 0 && now_ms <= paused_until {
            return 0;
        }
        let keys = std::mem::take(&mut self.replica_volatile);
        let mut removed = 0;
        for key in keys {
            let Some(record) = self.get_raw(&key) else {
                continue;
            };
            if !record.has_expiry() {
                continue;
            }
            if record.is_live(now_ms) {
                self.replica_volatile.insert(key);
                continue;
            }
            drop(self.remove(&key));
            removed += 1;
            if recording() {
                self.expired_keys.push(key);
                mark_expired_pending();
            }
        }
        removed
    }

    fn adjust_volatile(&mut self, slot: HashSlot, was: bool, now: bool) {
        match (was, now) {
            (false, true) => {
                self.volatile += 1;
                self.volatile_per_slot[slot as usize] += 1;
            }
            (true, false) => {
                self.volatile -= 1;
                self.volatile_per_slot[slot as usize] -= 1;
            }
            _ => {}
        }
    }

    /// Drops every key. A snapshot in progress keeps the tables it has not encoded yet. The
    /// slot directory stays allocated (16384 empty tables, ~0.6 MB): dropped here and
    /// allocated again by the next write, it made used_memory jump by that much on the first
    /// key after a FLUSHALL, where Redis's grows by one key.
    pub fn clear(&mut self) {
        let mut cut = self.cut.take();
        let mut slots = std::mem::take(&mut self.slots);
        let mut volatile = std::mem::take(&mut self.volatile_per_slot);
        match cut.as_mut() {
            Some(cut) => {
                let size = if slots.is_empty() { 0 } else { SLOTS };
                let fresh = std::iter::repeat_with(SlotMap::default)
                    .take(size)
                    .collect();
                cut.detach(std::mem::replace(&mut slots, fresh));
            }
            None => slots.iter_mut().for_each(|map| *map = SlotMap::default()),
        }
        volatile.fill(0);
        *self = Db::default();
        self.slots = slots;
        self.volatile_per_slot = volatile;
        self.cut = cut;
    }

    /// Records of one slot (expired ones included; callers filter with `Record::is_live`).
    pub fn slot_entries(&self, slot: usize) -> impl Iterator<Item = &Record> {
        self.slots.get(slot).into_iter().flat_map(|m| m.iter())
    }

    /// Number of keys stored in `slot`.
    pub fn slot_len(&self, slot: usize) -> usize {
        self.slots.get(slot).map_or(0, |m| m.len())
    }

    /// Number of keys with an expiry stored in `slot`.
    pub fn slot_volatile(&self, slot: usize) -> usize {
        self.volatile_per_slot.get(slot).map_or(0, |&n| n as usize)
    }

    /// Removes the expired keys of `slot`, returning how many keys were looked at and removed.
    pub fn expire_slot(&mut self, slot: usize, now_ms: u64) -> (usize, usize) {
        if self.volatile_per_slot.get(slot).copied().unwrap_or(0) == 0 || frozen(now_ms) {
            return (0, 0);
        }
        self.before_write(slot);
        let record = recording();
        let map = &mut self.slots[slot];
        let seen = map.len();
        let expired_keys = &mut self.expired_keys;
        let mut freed = 0usize;
        map.retain(|r| {
            let live = r.is_live(now_ms);
            if !live {
                freed += memory::accounted(r);
                if record {
                    expired_keys.push(Key::copy_from_slice(r.key()));
                    mark_expired_pending();
                }
            }
            live
        });
        self.used -= freed;
        let removed = seen - map.len();
        self.keys -= removed;
        self.volatile -= removed;
        self.volatile_per_slot[slot] -= removed as u32;
        self.release_if_empty(slot);
        (seen, removed)
    }

    /// Holds the idle time of `slot`'s records at most `cap` seconds at `clock` (see
    /// `record::IDLE_CAP`); returns how many records were looked at.
    pub fn age_slot(&mut self, slot: usize, clock: u32, cap: u32) -> usize {
        let Some(map) = self.slots.get_mut(slot) else {
            return 0;
        };
        if super::lfu::enabled() {
            for record in map.iter_mut() {
                record.touch(super::lfu::aged(record.touched(), clock));
            }
            return map.len();
        }
        for record in map.iter_mut() {
            if record.idle(clock) > cap {
                record.touch(clock.wrapping_sub(cap));
            }
        }
        map.len()
    }

    /// True when expiry removed keys since the last `take_expired_keys`.
    #[inline]
    pub fn has_expired_keys(&self) -> bool {
        !self.expired_keys.is_empty()
    }

    /// Takes the keys removed by expiry since the last call (recorded only while enabled).
    pub fn take_expired_keys(&mut self) -> Vec<Key> {
        std::mem::take(&mut self.expired_keys)
    }

    /// Takes the count of keys found expired on access since the last call.
    pub fn take_expired_on_access(&mut self) -> u64 {
        std::mem::take(&mut self.expired_since_read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &[u8], expire_at: u64) -> Entry {
        Entry {
            value: Value::Str(Bytes::copy_from_slice(value)),
            expire_at,
            touched: 0,
        }
    }

    #[test]
    fn spelled_out_hash_is_hash_one() {
        use std::hash::BuildHasher;
        let hasher = DefaultHashBuilder::default();
        for key in [&b""[..], b"k", b"key:000000123456", &[7u8; 100]] {
            assert_eq!(hash_of(&hasher, key), hasher.hash_one(key));
        }
    }

    #[test]
    fn same_key_agrees_with_slice_equality_at_every_length_and_position() {
        for len in 0..=24usize {
            let key: Vec<u8> = (0..len as u8).map(|i| b'a' + i).collect();
            assert!(same_key(&key, &key.clone()), "len {len}");
            for at in 0..len {
                let mut other = key.clone();
                other[at] ^= 0x20;
                assert!(!same_key(&key, &other), "len {len}, byte {at}");
            }
            assert!(!same_key(&key, &key[..len.saturating_sub(1)]) || len == 0);
            let mut longer = key.clone();
            longer.push(b'z');
            assert!(!same_key(&key, &longer), "len {len} against {}", len + 1);
        }
    }

    #[test]
    fn prefetching_changes_nothing_and_takes_any_key_or_slot() {
        let mut db = Db::default();
        let steps = [Fetch::Table, Fetch::Bucket, Fetch::Record];
        // Nothing allocated yet: every slot is out of range.
        for step in steps {
            db.prefetch(slot_of(b"k"), db.key_hash(b"k"), step);
        }
        db.insert(b"k", entry(b"v", 0));
        for slot in [0, slot_of(b"k"), 16_383, u16::MAX] {
            for step in steps {
                db.prefetch(slot, db.key_hash(b"k"), step);
                db.prefetch(slot, db.key_hash(b"absent"), step);
            }
        }
        assert_eq!(db.len(), 1);
        let record = db.get_mut(b"k", 0).expect("still there");
        assert_eq!(record.key(), b"k");
        assert!(db.get_mut(b"absent", 0).is_none());
    }

    #[test]
    fn ageing_holds_idle_times_at_the_cap_so_the_clock_never_wraps() {
        use crate::shard::record::IDLE_CAP;
        let mut db = Db::default();
        let mut old = entry(b"v", 0);
        old.touched = 1_000;
        let mut recent = entry(b"v", 0);
        recent.touched = 39_000;
        db.insert(b"old", old);
        db.insert(b"recent", recent);
        let age = |db: &mut Db, clock: u32| {
            for key in [&b"old"[..], b"recent"] {
                db.age_slot(slot_of(key) as usize, clock, IDLE_CAP);
            }
        };
        let idle = |db: &Db, key: &[u8], clock: u32| db.get_raw(key).unwrap().idle(clock);
        age(&mut db, 40_000);
        assert_eq!(idle(&db, b"old", 40_000), IDLE_CAP);
        assert_eq!(idle(&db, b"recent", 40_000), 1_000);
        // 40 000 s later, unaged, "old" would be 79 000 s idle: 13 464 after the 16-bit wrap.
        // Aged on the way, it reads as held at the cap; "recent" is exact (still under it).
        age(&mut db, 60_000);
        age(&mut db, 80_000);
        assert_eq!(idle(&db, b"old", 80_000), IDLE_CAP);
        assert_eq!(idle(&db, b"recent", 80_000), IDLE_CAP);
        age(&mut db, 70_000 + IDLE_CAP);
        assert_eq!(idle(&db, b"old", 70_000 + IDLE_CAP), IDLE_CAP);
        // A key seen again is exact from there on.
        db.get_mut(b"old", 0).unwrap().touch(80_000);
        assert_eq!(idle(&db, b"old", 80_010), 10);
    }

    #[test]
    fn accounting_returns_to_zero_and_tables_grow() {
        let mut db = Db::default();
        let keys: Vec<String> = (0..20_000).map(|i| format!("key:{i:010}")).collect();
        for (i, key) in keys.iter().enumerate() {
            assert!(db
                .insert(key.as_bytes(), entry(b"0123456789abcdef", i as u64 % 2))
                .is_none());
        }
        assert_eq!((db.len(), db.volatile()), (20_000, 10_000));
        let full = db.used();
        for key in &keys {
            let r = db
                .get_raw(key.as_bytes())
                .expect("every key found after growth");
            assert_eq!(r.key(), key.as_bytes());
        }
        // Overwrite with a longer value, move expiries both ways: the sum follows.
        let old = db
            .insert(keys[0].as_bytes(), entry(&[7u8; 300], 0))
            .unwrap();
        assert_eq!(old.key(), keys[0].as_bytes());
        assert!(db.set_expire(keys[2].as_bytes(), 99));
        assert!(db.set_expire(keys[1].as_bytes(), 0));
        assert!(!db.set_expire(b"absent", 5));
        assert_ne!(db.used(), full);
        // Expired on access (keys with expiry 1 are in the past at 10).
        assert!(db.get_mut(keys[3].as_bytes(), 10).is_none());
        assert!(db.get_mut(keys[4].as_bytes(), 10).is_some());
        for key in &keys {
            db.remove(key.as_bytes());
        }
        assert_eq!((db.len(), db.volatile(), db.used()), (0, 0, 0));
    }

    #[test]
    fn active_expiry_frees_what_was_accounted() {
        let mut db = Db::default();
        for i in 0..5_000 {
            db.insert(format!("k{i}").as_bytes(), entry(b"v", 1 + i % 2));
        }
        for slot in 0..SLOTS {
            db.expire_slot(slot, 1);
        }
        assert_eq!((db.len(), db.volatile()), (2_500, 2_500));
        for slot in 0..SLOTS {
            db.expire_slot(slot, 2);
        }
        assert_eq!((db.len(), db.volatile(), db.used()), (0, 0, 0));
    }
}
