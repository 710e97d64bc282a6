//! The memory a shard accounts for its data: each entry's estimated bytes (key, value, per-key
//! overhead), kept on the entry and summed per database, so the total is O(1) to read and
//! cannot drift: whatever an entry added is what its removal takes back. Maxmemory, eviction
//! and INFO used_memory read this figure. Pure estimation; no dependency beyond the stored types.

use super::db::{Entry, Key, Value};
use super::types::{Hash, List, Set, ZSet};

/// What one key costs besides its bytes and its value's heap: the map slot holding
/// (key, entry) plus hash table control bytes and load-factor slack.
const PER_KEY: usize = std::mem::size_of::<(Key, Entry)>() * 8 / 7 + 1;

/// Elements sampled to estimate a large collection, as Redis's MEMORY USAGE samples.
const SAMPLES: usize = 8;

/// Per-element overhead of the large encodings, beyond the element bytes themselves.
const LIST_ELEMENT: usize = 3;
const HASH_FIELD: usize = std::mem::size_of::<(bytes::Bytes, bytes::Bytes)>() * 8 / 7 + 1;
const SET_MEMBER: usize = std::mem::size_of::<bytes::Bytes>() * 8 / 7 + 1;
const ZSET_MEMBER: usize = 160;

/// The accounted bytes of `key` holding `entry` (saturates at `u32::MAX`).
pub fn entry_bytes(key: &[u8], entry: &Entry) -> u32 {
    let total = PER_KEY + key.len() + value_bytes(&entry.value);
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// A value's heap bytes: exact for strings and the compact encodings (one buffer each), a
/// sampled estimate for the large ones, so the cost stays O(1) however big the value.
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Str(s) => s.len(),
        Value::List(l) => list_bytes(l),
        Value::Hash(h) => hash_bytes(h),
        Value::Set(s) => set_bytes(s),
        Value::ZSet(z) => zset_bytes(z),
        Value::Stream(s) => s.heap_bytes(),
    }
}

/// True for a collection in one of its large encodings, whose estimate samples elements:
/// writes re-estimate it only now and then (see `Shard::after_write`).
pub fn is_large(value: &Value) -> bool {
    match value {
        Value::Str(_) => false,
        Value::List(l) => !compact(l.encoding()),
        Value::Hash(h) => !compact(h.encoding()),
        Value::Set(s) => !compact(s.encoding()),
        Value::ZSet(z) => !compact(z.encoding()),
        // Kept exact incrementally: cheap to read after every write.
        Value::Stream(_) => false,
    }
}

/// `count` elements estimated from the sizes of a few of them.
fn scaled(count: usize, sample: impl Iterator<Item = usize>, overhead: usize) -> usize {
    let (mut seen, mut bytes) = (0usize, 0usize);
    for size in sample.take(SAMPLES) {
        seen += 1;
        bytes += size;
    }
    if seen == 0 {
        return 0;
    }
    count.saturating_mul(bytes / seen + overhead)
}

fn compact(encoding: &str) -> bool {
    matches!(encoding, "listpack" | "intset")
}

fn list_bytes(list: &List) -> usize {
    if compact(list.encoding()) {
        return list.heap_bytes();
    }
    scaled(list.len(), list.iter().map(<[u8]>::len), LIST_ELEMENT)
}

fn hash_bytes(hash: &Hash) -> usize {
    if compact(hash.encoding()) {
        return hash.heap_bytes();
    }
    scaled(
        hash.len(),
        hash.iter().map(|(f, v)| f.len() + v.len()),
        HASH_FIELD,
    )
}

fn set_bytes(set: &Set) -> usize {
    if compact(set.encoding()) {
        return set.heap_bytes();
    }
    scaled(set.len(), set.iter().map(|m| m.len()), SET_MEMBER)
}

fn zset_bytes(zset: &ZSet) -> usize {
    if compact(zset.encoding()) {
        return zset.heap_bytes();
    }
    let sample = zset.range(0, SAMPLES, false);
    scaled(zset.len(), sample.iter().map(|(m, _)| m.len()), ZSET_MEMBER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(value: Value) -> Entry {
        Entry {
            value,
            expire_at: 0,
            touched: 0,
            size: 0,
        }
    }

    #[test]
    fn strings_count_key_value_and_overhead() {
        let small = entry_bytes(b"k", &entry(Value::Str(Bytes::from_static(b"v"))));
        let big = entry_bytes(b"k", &entry(Value::Str(Bytes::from(vec![0u8; 1000]))));
        assert_eq!(big - small, 999);
        assert!(small as usize > PER_KEY);
    }

    #[test]
    fn large_lists_scale_with_length() {
        let items: Vec<Vec<u8>> = (0..10_000)
            .map(|i| format!("{i:08}").into_bytes())
            .collect();
        let list = List::from_items(items.iter().map(|i| i.as_slice()));
        let bytes = value_bytes(&Value::List(Box::new(list)));
        assert!((80_000..200_000).contains(&bytes), "{bytes}");
    }
}
