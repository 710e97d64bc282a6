//! The large representation of sets and hashes ("hashtable"): a chained hash table whose
//! entries live in one dense array. The dense array makes a fair random pick O(1) (SPOP,
//! SRANDMEMBER, HRANDFIELD); the power-of-two bucket array, indexed by the low bits of a
//! fixed per-process hash, gives SCAN cursors Redis's guarantee.
//!
//! Cursor invariant: a cursor is a bucket index written in reverse-bit order, and a bucket
//! is a set of low hash bits. An element's hash never changes, so when the table doubles or
//! halves between calls, every bucket not yet visited maps onto buckets not yet visited:
//! an element present for the whole scan is returned at least once (maybe twice after a
//! shrink), however the table was resized.

use std::hash::BuildHasher;
use std::sync::LazyLock;

/// One hasher for the whole process: an element hashes the same on every shard and call.
static HASHER: LazyLock<hashbrown::DefaultHashBuilder> = LazyLock::new(Default::default);

/// The hash of `key` used for bucket choice (32 bits: tables never exceed 2^32 buckets).
pub fn hash_of(key: &[u8]) -> u32 {
    let h = HASHER.hash_one(key);
    (h ^ (h >> 32)) as u32
}

/// What the table stores: anything with a byte-string key.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

impl Keyed for bytes::Bytes {
    fn key(&self) -> &[u8] {
        self
    }
}

impl Keyed for (bytes::Bytes, bytes::Bytes) {
    fn key(&self) -> &[u8] {
        &self.0
    }
}

/// The steps of [`Table::prefetch`], in the order a lookup takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetch {
    Head,
    Slot,
    Key,
}

#[derive(Clone, Debug)]
struct Slot<E> {
    item: E,
    hash: u32,
    /// Index + 1 of the next slot in the same bucket; 0 ends the chain.
    next: u32,
}

const MIN_BUCKETS: usize = 4;

/// A chained hash table over a dense array of entries.
#[derive(Clone, Debug)]
pub struct Table<E> {
    slots: Vec<Slot<E>>,
    /// Index + 1 of each bucket's first slot; 0 = empty. Length is a power of two.
    heads: Vec<u32>,
}

impl<E: Keyed> Table<E> {
    /// An empty table sized for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Table {
            slots: Vec::with_capacity(n),
            heads: vec![0; n.next_power_of_two().max(MIN_BUCKETS)],
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn mask(&self) -> usize {
        self.heads.len() - 1
    }

    /// Index of the entry whose key is `key`.
    pub fn index_of(&self, key: &[u8]) -> Option<usize> {
        let hash = hash_of(key);
        let mut at = self.heads[hash as usize & self.mask()];
        while at != 0 {
            let slot = &self.slots[at as usize - 1];
            if slot.hash == hash && slot.item.key() == key {
                return Some(at as usize - 1);
            }
            at = slot.next;
        }
        None
    }

    /// Starts loading, without waiting, one step of what `index_of` of a key whose
    /// [`hash_of`] is `hash` will read: its bucket's head, then the chain's first slot, then
    /// that slot's key bytes (when the hashes match). Each step reads only what the one before
    /// loaded, so a batch of lookups takes every key through one step before the next and
    /// their cache misses overlap (see `Shard::prefetch_fields`).
    pub fn prefetch(&self, hash: u32, step: Fetch) {
        use crate::shard::record::{prefetch, prefetch_value};
        let bucket = hash as usize & self.mask();
        if step == Fetch::Head {
            prefetch(std::ptr::from_ref(&self.heads[bucket]).cast());
            return;
        }
        let at = self.heads[bucket] as usize;
        let Some(slot) = at.checked_sub(1).and_then(|i| self.slots.get(i)) else {
            return;
        };
        if step == Fetch::Slot {
            prefetch_value(slot);
        } else if slot.hash == hash {
            prefetch(slot.item.key().as_ptr());
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&E> {
        self.index_of(key).map(|i| &self.slots[i].item)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut E> {
        self.index_of(key).map(|i| &mut self.slots[i].item)
    }

    /// The entry at dense position `index` (`index < len`).
    pub fn at(&self, index: usize) -> &E {
        &self.slots[index].item
    }

    /// Adds an entry whose key is known to be absent.
    pub fn insert_new(&mut self, item: E) {
        if self.slots.len() >= self.heads.len() {
            self.rebuild(self.heads.len() * 2);
        }
        let hash = hash_of(item.key());
        let bucket = hash as usize & self.mask();
        self.slots.push(Slot {
            item,
            hash,
            next: self.heads[bucket],
        });
        self.heads[bucket] = self.slots.len() as u32;
    }

    /// Removes the entry with key `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<E> {
        let index = self.index_of(key)?;
        Some(self.remove_at(index))
    }

    /// Removes the entry at dense position `index`; the last entry takes its place.
    pub fn remove_at(&mut self, index: usize) -> E {
        let next = self.slots[index].next;
        self.repoint(index, next);
        let last = self.slots.len() - 1;
        if index != last {
            self.repoint(last, index as u32 + 1);
        }
        let slot = self.slots.swap_remove(index);
        if self.heads.len() > MIN_BUCKETS && self.slots.len() * 8 < self.heads.len() {
            self.rebuild(self.slots.len().next_power_of_two().max(MIN_BUCKETS) * 2);
        }
        slot.item
    }

    /// Makes the link that points at slot `index` point at `to` instead.
    fn repoint(&mut self, index: usize, to: u32) {
        let target = index as u32 + 1;
        let bucket = self.slots[index].hash as usize & self.mask();
        if self.heads[bucket] == target {
            self.heads[bucket] = to;
            return;
        }
        let mut at = self.heads[bucket];
        while at != 0 {
            let slot = &mut self.slots[at as usize - 1];
            if slot.next == target {
                slot.next = to;
                return;
            }
            at = slot.next;
        }
        unreachable!("slot {index} is not in its bucket's chain");
    }

    fn rebuild(&mut self, buckets: usize) {
        self.heads = vec![0; buckets];
        let mask = buckets - 1;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let bucket = slot.hash as usize & mask;
            slot.next = self.heads[bucket];
            self.heads[bucket] = i as u32 + 1;
        }
    }

    /// Every entry, in dense order.
    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.slots.iter().map(|s| &s.item)
    }

    /// Redis's SCAN step: visits buckets from `cursor` in reverse-bit order until `count`
    /// entries were seen or `count * 10` buckets were visited; returns the next cursor
    /// (0 when the walk is complete).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&E)) -> u64 {
        let mask = self.mask() as u64;
        let mut cursor = cursor;
        let mut seen = 0usize;
        let mut budget = count.saturating_mul(10).max(1);
        loop {
            let mut at = self.heads[(cursor & mask) as usize];
            while at != 0 {
                let slot = &self.slots[at as usize - 1];
                visit(&slot.item);
                seen += 1;
                at = slot.next;
            }
            cursor |= !mask;
            cursor = cursor.reverse_bits().wrapping_add(1).reverse_bits();
            budget -= 1;
            if cursor == 0 || seen >= count || budget == 0 {
                return cursor;
            }
        }
    }

    /// Bytes of the table's own arrays (entries' payloads are the caller's to add).
    pub fn structure_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<E>>() + self.heads.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn prefetching_reads_nothing_it_should_not_and_changes_nothing() {
        let mut t: Table<Bytes> = Table::with_capacity(0);
        for step in [Fetch::Head, Fetch::Slot, Fetch::Key] {
            t.prefetch(hash_of(b"absent"), step);
        }
        for n in 0..1000u32 {
            t.insert_new(Bytes::from(n.to_string()));
        }
        // Every hash (all buckets, empty or not), every step.
        for hash in (0..4096u32).chain([u32::MAX]) {
            for step in [Fetch::Head, Fetch::Slot, Fetch::Key] {
                t.prefetch(hash, step);
            }
        }
        assert_eq!(t.len(), 1000);
        assert!((0..1000u32).all(|n| t.get(n.to_string().as_bytes()).is_some()));
        assert!(t.get(b"1000").is_none());
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0u16..300), 1..600)) {
            let mut t: Table<Bytes> = Table::with_capacity(0);
            let mut model = BTreeSet::new();
            for (add, n) in ops {
                let key = Bytes::from(n.to_string());
                if add {
                    if model.insert(n) {
                        t.insert_new(key);
                    }
                } else {
                    prop_assert_eq!(t.remove(&key).is_some(), model.remove(&n));
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for n in 0u16..300 {
                prop_assert_eq!(t.get(n.to_string().as_bytes()).is_some(), model.contains(&n));
            }
        }

        #[test]
        fn scan_survives_growth_and_shrink(stable in 1usize..200, churn in 0usize..2000, step in 1usize..20) {
            let mut t: Table<Bytes> = Table::with_capacity(0);
            for i in 0..stable {
                t.insert_new(Bytes::from(format!("s{i}")));
            }
            let mut seen = BTreeSet::new();
            let mut cursor = 0u64;
            let mut round = 0usize;
            loop {
                cursor = t.scan(cursor, step, |e| { seen.insert(e.clone()); });
                // Between calls: grow a lot, or remove what was added.
                if round.is_multiple_of(2) {
                    for j in 0..churn { t.insert_new(Bytes::from(format!("c{round}-{j}"))); }
                } else {
                    for j in 0..churn { t.remove(format!("c{}-{j}", round - 1).as_bytes()); }
                }
                round += 1;
                if cursor == 0 { break; }
            }
            for i in 0..stable {
                let key = Bytes::from(format!("s{i}"));
                prop_assert!(seen.contains(&key));
            }
        }
    }
}
