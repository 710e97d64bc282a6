//! Background snapshots, the shard side: a cut of every database taken at one instant, then
//! encoded slot by slot between the shard's other work. A slot is encoded (as it stood at the
//! cut) before the first change after the cut reaches its table, so the file is the keyspace
//! at the cut however long the walk takes: copy-on-write at slot granularity. Every change of a
//! slot's table passes through `Db` (stores, removals, in-place changes, lazy and active expiry,
//! eviction, FLUSHDB/FLUSHALL), which calls [`Cut::before_write`] first; SWAPDB moves a `Db`
//! whole, and its cut with it. The record format is not known here: the layer that writes files
//! supplies it as an [`EncodeSlot`] function.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::db::SlotMap;
use super::record::Record;
use super::slot::SLOTS;
use super::Shard;

/// One database's records as encoded so far (from one shard), ready to concatenate.
#[derive(Default)]
pub struct Part {
    pub keys: usize,
    pub volatile: usize,
    /// The records being appended to; see `seal`.
    pub records: Vec<u8>,
    /// Records sealed, in order before `records`.
    sealed: Vec<Vec<u8>>,
}

/// Past this, `Part::seal` starts a new buffer.
const SEAL_AT: usize = 1 << 20;

impl Part {
    /// Called by an encoding between records: once `records` passes a megabyte it is put aside
    /// and a new buffer started, so a growing part is never copied whole by a reallocation (a
    /// copy of many megabytes in one step would stall the shard).
    #[inline]
    pub fn seal(&mut self) {
        if self.records.len() >= SEAL_AT {
            let full =
                std::mem::replace(&mut self.records, Vec::with_capacity(SEAL_AT + SEAL_AT / 4));
            self.sealed.push(full);
        }
    }

    /// The records, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.sealed
            .iter()
            .map(Vec::as_slice)
            .chain(std::iter::once(self.records.as_slice()))
    }

    /// Bytes of records.
    pub fn len(&self) -> usize {
        self.sealed.iter().map(Vec::len).sum::<usize>() + self.records.len()
    }

    /// True when no record was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Appends to `part` the records of the keys that were live at `at_ms` among `records` (one
/// slot's table).
pub type EncodeSlot = fn(part: &mut Part, records: &mut dyn Iterator<Item = &Record>, at_ms: u64);

const WORDS: usize = SLOTS / 64;

/// One shard's count of changes (Redis's `dirty`, what save points compare against), on a
/// cache line of its own: only its shard's thread adds to it, anyone may read it.
#[repr(align(128))]
#[derive(Default)]
pub struct Changes(AtomicU64);

impl Changes {
    #[inline]
    pub(super) fn add(&self, n: u64) {
        // One writer (the owning thread): a plain load and store, no locked instruction.
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
}

/// Every shard's counter, for [`changes`].
static COUNTERS: Mutex<Vec<Arc<Changes>>> = Mutex::new(Vec::new());

/// A new shard's counter, registered for [`changes`].
pub(super) fn new_counter() -> Arc<Changes> {
    let counter = Arc::new(Changes::default());
    if let Ok(mut all) = COUNTERS.lock() {
        all.push(counter.clone());
    }
    counter
}

/// Changes made to the keyspace since the process started, over every shard. A save remembers
/// the value at its cut; the difference is `rdb_changes_since_last_save`.
pub fn changes() -> u64 {
    COUNTERS.lock().map_or(0, |all| {
        all.iter()
            .fold(0u64, |sum, c| sum.wrapping_add(c.0.load(Relaxed)))
    })
}

/// A database's snapshot in progress.
pub(super) struct Cut {
    /// The database's index at the cut (SWAPDB moves the `Db`, and this, elsewhere).
    index: usize,
    at_ms: u64,
    encode: EncodeSlot,
    /// Slots not encoded yet, one bit each.
    pending: Box<[u64; WORDS]>,
    left: usize,
    /// Where the walk looks for the next pending slot.
    cursor: usize,
    part: Part,
    /// The tables as they stood at the cut, when FLUSHDB emptied the database before they were
    /// all encoded: the walk reads them, and later writes (to new tables) concern it no more.
    detached: Option<Vec<SlotMap>>,
}

impl Cut {
    fn new(index: usize, at_ms: u64, encode: EncodeSlot, slots: &[SlotMap]) -> Cut {
        let mut pending = Box::new([0u64; WORDS]);
        let mut left = 0;
        for (slot, map) in slots.iter().enumerate() {
            if !map.is_empty() {
                pending[slot / 64] |= 1 << (slot % 64);
                left += 1;
            }
        }
        Cut {
            index,
            at_ms,
            encode,
            pending,
            left,
            cursor: 0,
            part: Part::default(),
            detached: None,
        }
    }

    fn is_pending(&self, slot: usize) -> bool {
        self.pending[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// Called before anything changes `slot` of the live tables: encodes it first if the walk
    /// has not reached it yet.
    #[inline]
    pub(super) fn before_write(&mut self, slot: usize, slots: &[SlotMap]) {
        if self.detached.is_none() && self.is_pending(slot) {
            self.encode_slot(slot, slots);
        }
    }

    fn encode_slot(&mut self, slot: usize, live: &[SlotMap]) {
        self.pending[slot / 64] &= !(1 << (slot % 64));
        self.left -= 1;
        let source = self.detached.as_deref().unwrap_or(live);
        if let Some(map) = source.get(slot) {
            (self.encode)(&mut self.part, &mut map.iter(), self.at_ms);
        }
    }

    /// FLUSHDB is about to drop `slots`: the walk goes on from them, detached.
    pub(super) fn detach(&mut self, slots: Vec<SlotMap>) {
        if self.detached.is_none() && self.left > 0 {
            self.detached = Some(slots);
        }
    }

    /// Encodes pending slots until none is left or `deadline` passes; true when done.
    fn step(&mut self, live: &[SlotMap], deadline: Instant) -> bool {
        while self.left > 0 {
            let word = self.cursor / 64;
            let bits = self.pending[word] & (!0u64 << (self.cursor % 64));
            if bits == 0 {
                self.cursor = (word + 1) * 64;
                continue;
            }
            let slot = word * 64 + bits.trailing_zeros() as usize;
            self.cursor = slot + 1;
            self.encode_slot(slot, live);
            if Instant::now() >= deadline {
                break;
            }
        }
        if self.left == 0 {
            self.detached = None;
        }
        self.left == 0
    }
}

impl Shard {
    /// Takes the cut of every database of this shard at `at_ms` (Unix ms: keys live then are
    /// in the snapshot). Call while holding every shard, so all shards cut at the same point of
    /// their histories. False (and nothing changes) when a snapshot is already in progress.
    pub fn begin_snapshot(&mut self, at_ms: u64, encode: EncodeSlot) -> bool {
        if self.dbs.iter().any(|db| db.cut.is_some()) {
            return false;
        }
        for (index, db) in self.dbs.iter_mut().enumerate() {
            db.cut = Some(Box::new(Cut::new(index, at_ms, encode, &db.slots)));
        }
        true
    }

    /// True while a snapshot of this shard is being taken.
    pub fn snapshot_in_progress(&self) -> bool {
        self.dbs.iter().any(|db| db.cut.is_some())
    }

    /// Encodes pending slots for about `budget`; true when every slot of the cut is encoded.
    pub fn snapshot_step(&mut self, budget: Duration) -> bool {
        let deadline = Instant::now() + budget;
        let mut done = true;
        for db in &mut self.dbs {
            if let Some(cut) = db.cut.as_mut() {
                if !cut.step(&db.slots, deadline) {
                    done = false;
                    break;
                }
            }
        }
        done
    }

    /// Ends the snapshot: each database's part, by its index at the cut. Slots the walk had
    /// not reached are encoded now (none, after `snapshot_step` said done).
    pub fn take_snapshot(&mut self) -> Vec<(usize, Part)> {
        let far = Instant::now() + Duration::from_secs(3600 * 24);
        let mut parts: Vec<(usize, Part)> = Vec::with_capacity(self.dbs.len());
        for db in &mut self.dbs {
            if let Some(mut cut) = db.cut.take() {
                cut.step(&db.slots, far);
                parts.push((cut.index, std::mem::take(&mut cut.part)));
            }
        }
        parts.sort_by_key(|(index, _)| *index);
        parts
    }

    /// Drops a snapshot in progress (its file will not be written).
    pub fn abandon_snapshot(&mut self) {
        for db in &mut self.dbs {
            db.cut = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::{Entry, ValueRef};
    use bytes::Bytes;

    /// A test encoding: `key=value;` per string key.
    fn encode(part: &mut Part, records: &mut dyn Iterator<Item = &Record>, at_ms: u64) {
        for record in records {
            if !record.is_live(at_ms) {
                continue;
            }
            part.keys += 1;
            if record.has_expiry() {
                part.volatile += 1;
            }
            part.records.extend_from_slice(record.key());
            part.records.push(b'=');
            if let ValueRef::Str(s) = record.value() {
                part.records.extend_from_slice(&s.to_bytes());
            }
            part.records.push(b';');
        }
    }

    fn contents(parts: &[(usize, Part)]) -> Vec<(usize, Vec<String>)> {
        parts
            .iter()
            .map(|(db, part)| {
                let text = String::from_utf8(part.records.clone()).unwrap();
                let mut items: Vec<String> = text
                    .split(';')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                items.sort();
                assert_eq!(items.len(), part.keys);
                (*db, items)
            })
            .collect()
    }

    fn entry(value: &str, expire_at: u64) -> Entry {
        Entry {
            value: crate::shard::Value::Str(Bytes::from(value.to_string())),
            expire_at,
            touched: 0,
        }
    }

    #[test]
    fn the_snapshot_is_the_keyspace_at_the_cut_whatever_changes_after() {
        let mut shard = Shard::new(0, 3);
        shard.select(0);
        for i in 0..2000 {
            shard.store_str(format!("k{i}").as_bytes(), b"old", 0);
        }
        shard.insert(b"soon", entry("gone", 2_000));
        shard.select(1);
        shard.store_str(b"one", b"1", 0);
        assert!(shard.begin_snapshot(1_000, encode));
        assert!(!shard.begin_snapshot(1_000, encode), "one at a time");
        assert!(!shard.snapshot_step(Duration::ZERO));
        // After the cut: overwrites, deletes, new keys, expiry past the cut, FLUSHDB, SWAPDB.
        shard.select(0);
        for i in (0..2000).step_by(3) {
            shard.store_str(format!("k{i}").as_bytes(), b"new", 0);
        }
        for i in (1..2000).step_by(3) {
            shard.delete(format!("k{i}").as_bytes());
        }
        shard.store_str(b"late", b"x", 0);
        shard
            .db_at(0)
            .expire_slot(crate::shard::slot_of(b"soon") as usize, 5_000);
        shard.flush_db(1);
        shard.select(1);
        shard.store_str(b"after-flush", b"x", 0);
        shard.swap_dbs(1, 2);
        while !shard.snapshot_step(Duration::from_micros(50)) {}
        let parts = shard.take_snapshot();
        assert!(!shard.snapshot_in_progress());
        let got = contents(&parts);
        let mut db0: Vec<String> = (0..2000).map(|i| format!("k{i}=old")).collect();
        db0.push("soon=gone".into());
        db0.sort();
        assert_eq!(got[0], (0, db0));
        assert_eq!(got[1], (1, vec!["one=1".to_string()]));
        assert_eq!(got[2], (2, vec![]));
        assert_eq!(parts[0].1.volatile, 1);
    }

    #[test]
    fn keys_expired_at_the_cut_are_left_out_and_a_new_cut_sees_the_changes() {
        let mut shard = Shard::new(0, 1);
        shard.select(0);
        shard.insert(b"dead", entry("x", 500));
        shard.store_str(b"a", b"1", 0);
        assert!(shard.begin_snapshot(1_000, encode));
        let parts = shard.take_snapshot();
        assert_eq!(contents(&parts)[0].1, vec!["a=1".to_string()]);
        shard.store_str(b"a", b"2", 0);
        assert!(shard.begin_snapshot(1_000, encode));
        shard.abandon_snapshot();
        assert!(shard.begin_snapshot(1_000, encode));
        assert!(shard.snapshot_step(Duration::from_secs(1)));
        assert_eq!(
            contents(&shard.take_snapshot())[0].1,
            vec!["a=2".to_string()]
        );
    }
}
