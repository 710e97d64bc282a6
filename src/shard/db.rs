//! One logical database inside a shard: keys kept per hash slot, with lazy expiry.
//! Knows nothing of connections, commands or threads.

use bytes::Bytes;
use hashbrown::HashMap;

use super::slot::{slot_of, HashSlot, SLOTS};
use super::types::{Hash, List, Set, Stream, ZSet};

/// A key as stored: its own small allocation, never a slice of a read buffer.
pub type Key = Bytes;

/// A stored value: a string, or one of the collection types (each in `shard::types`).
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

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }
}

/// A value with its absolute expiry time in Unix milliseconds (0 = never).
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub expire_at: u64,
    /// Last access, in seconds since the shard started (OBJECT IDLETIME, LRU eviction).
    pub touched: u32,
    /// Accounted bytes, set by the database when stored or refreshed (see `shard::memory`).
    pub size: u32,
}

type SlotMap = HashMap<Key, Entry>;

/// A database's share of the keyspace on one shard.
#[derive(Default)]
pub struct Db {
    /// One map per hash slot; empty until the first write (an unused db costs nothing).
    slots: Vec<SlotMap>,
    /// Keys with an expiry, per slot: active expiry only visits slots with some.
    volatile_per_slot: Vec<u32>,
    keys: usize,
    volatile: usize,
    /// Sum of the entries' accounted sizes.
    used: usize,
    /// Keys removed because an access found them expired, not yet counted in the stats.
    expired_since_read: u64,
    /// Keys removed by expiry, kept only while someone listens for `expired` events.
    expired_keys: Vec<Key>,
    /// The running command's key and its slot, computed where the command was routed (see
    /// `Db::slot`): (address, length, slot), address 0 when none.
    hint: (usize, usize, HashSlot),
}

/// Whether expired keys are recorded for keyspace notifications (set from the configuration).
pub static RECORD_EXPIRED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

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

    /// Accounted bytes of this database's entries.
    pub fn used(&self) -> usize {
        self.used
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

    /// Re-estimates `key`'s accounted size after its value changed in place; a large
    /// collection only when `large` (its estimate samples elements).
    pub fn refresh_size(&mut self, key: &[u8], large: bool) {
        let slot = self.slot(key) as usize;
        let Some(entry) = self.slots.get_mut(slot).and_then(|m| m.get_mut(key)) else {
            return;
        };
        if !large && super::memory::is_large(&entry.value) {
            return;
        }
        let size = super::memory::entry_bytes(key, entry);
        self.used = self.used - entry.size as usize + size as usize;
        entry.size = size;
    }

    fn slot_map(&self, slot: HashSlot) -> Option<&SlotMap> {
        self.slots.get(slot as usize)
    }

    fn slot_map_mut(&mut self, slot: HashSlot) -> &mut SlotMap {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, SlotMap::default);
            self.volatile_per_slot = vec![0; SLOTS];
        }
        &mut self.slots[slot as usize]
    }

    /// The entry for `key`, expired or not.
    pub fn get_raw(&self, key: &[u8]) -> Option<&Entry> {
        self.slot_map(self.slot(key))?.get(key)
    }

    /// The live entry for `key`; an expired one is removed first.
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.get_mut(key, now_ms).map(|e| &*e)
    }

    /// The live entry for `key`, mutable; an expired one is removed first.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        let slot = self.slot(key);
        if self.slots.is_empty() {
            return None;
        }
        let map = &self.slots[slot as usize];
        let expired = match map.get(key) {
            None => return None,
            Some(e) => e.expire_at != 0 && e.expire_at <= now_ms,
        };
        if expired {
            self.remove_in(slot, key);
            self.expired_since_read += 1;
            if recording() {
                self.expired_keys.push(Key::copy_from_slice(key));
            }
            return None;
        }
        self.slots[slot as usize].get_mut(key)
    }

    /// Inserts or replaces `key`, returning the previous entry (expired or not). The key is
    /// copied into its own allocation only when it is new.
    pub fn insert(&mut self, key: &[u8], mut entry: Entry) -> Option<Entry> {
        let slot = self.slot(key);
        let volatile = entry.expire_at != 0;
        entry.size = super::memory::entry_bytes(key, &entry);
        self.used += entry.size as usize;
        let map = self.slot_map_mut(slot);
        let old = match map.get_mut(key) {
            Some(current) => Some(std::mem::replace(current, entry)),
            None => {
                map.insert(Key::copy_from_slice(key), entry);
                None
            }
        };
        match &old {
            Some(o) => {
                self.used -= o.size as usize;
                self.adjust_volatile(slot, o.expire_at != 0, volatile)
            }
            None => {
                self.keys += 1;
                self.adjust_volatile(slot, false, volatile);
            }
        }
        old
    }

    /// Removes `key` (expired or not), returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.remove_in(self.slot(key), key)
    }

    fn remove_in(&mut self, slot: HashSlot, key: &[u8]) -> Option<Entry> {
        let old = self.slots.get_mut(slot as usize)?.remove(key)?;
        self.keys -= 1;
        self.used -= old.size as usize;
        self.adjust_volatile(slot, old.expire_at != 0, false);
        Some(old)
    }

    /// Sets or clears (0) the expiry of an existing key. Returns false when the key is absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        let slot = self.slot(key);
        let Some(entry) = self
            .slots
            .get_mut(slot as usize)
            .and_then(|m| m.get_mut(key))
        else {
            return false;
        };
        let was = entry.expire_at != 0;
        entry.expire_at = expire_at;
        self.adjust_volatile(slot, was, expire_at != 0);
        true
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

    /// Drops every key.
    pub fn clear(&mut self) {
        *self = Db::default();
    }

    /// Keys of one slot (expired ones included; callers filter with `is_live`).
    pub fn slot_entries(&self, slot: usize) -> impl Iterator<Item = (&Key, &Entry)> {
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
        if self.volatile_per_slot.get(slot).copied().unwrap_or(0) == 0 {
            return (0, 0);
        }
        let record = recording();
        let map = &mut self.slots[slot];
        let seen = map.len();
        let expired_keys = &mut self.expired_keys;
        let mut freed = 0usize;
        map.retain(|key, e| {
            let live = e.expire_at == 0 || e.expire_at > now_ms;
            if !live {
                freed += e.size as usize;
                if record {
                    expired_keys.push(key.clone());
                }
            }
            live
        });
        self.used -= freed;
        let removed = seen - map.len();
        self.keys -= removed;
        self.volatile -= removed;
        self.volatile_per_slot[slot] -= removed as u32;
        (seen, removed)
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

/// True when `entry` has not expired at `now_ms`.
pub fn is_live(entry: &Entry, now_ms: u64) -> bool {
    entry.expire_at == 0 || entry.expire_at > now_ms
}
