//! The memory a shard accounts for its data: each entry's estimated bytes (key, value, per-key
//! overhead), kept on the entry and summed per database, so the total is O(1) to read and
//! cannot drift: whatever an entry added is what its removal takes back. Maxmemory, eviction
//! and INFO used_memory read this figure. Pure estimation; no dependency beyond the stored types.

use super::record::{Record, ValueRef};
use super::types::{Hash, List, Set, ZSet};

/// What one key costs besides its record: the table's bucket (a thin pointer and a control
/// byte) with the table's load-factor slack.
pub const PER_KEY: usize = (std::mem::size_of::<Record>() + 1) * 8 / 7 + 1;

/// The allocator's granularity for small blocks: mimalloc (as built here) serves 16, 32, 48
/// and 64 bytes, so a record's block is its length rounded up to 16.
const ALLOC_GRAIN: usize = 16;

/// The block mimalloc hands out for `len` bytes: multiples of 16 up to 64 bytes, then four
/// size classes per power of two (80, 96, 112, 128, 160, ...), as its bins are laid out.
pub fn block_size(len: usize) -> usize {
    if len <= 64 {
        return len.next_multiple_of(ALLOC_GRAIN);
    }
    let step = len.next_power_of_two() / 8;
    len.next_multiple_of(step.max(ALLOC_GRAIN))
}

/// Bytes of a slot table able to hold `capacity` records: hashbrown's buckets (a thin pointer
/// each), their control bytes and one group of trailing control bytes, in one block. The
/// database counts these as its tables grow (they never shrink but with the database), so
/// a table's slack is weighed as the allocator sees it.
pub fn table_bytes(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    const GROUP: usize = 16;
    let data = (buckets * std::mem::size_of::<Record>()).next_multiple_of(GROUP);
    block_size(data + buckets + GROUP)
}

/// Elements sampled to estimate a large collection, as Redis's MEMORY USAGE samples.
const SAMPLES: usize = 8;

/// Per-element overhead of the large encodings, beyond the element bytes themselves.
const LIST_ELEMENT: usize = 3;
const HASH_FIELD: usize = std::mem::size_of::<(bytes::Bytes, bytes::Bytes)>() * 8 / 7 + 1;
const SET_MEMBER: usize = std::mem::size_of::<bytes::Bytes>() * 8 / 7 + 1;
const ZSET_MEMBER: usize = 160;

/// The accounted bytes of `record`, as `measure` last recorded them: O(1), and the same at
/// removal as when the database added them unless the database re-measured in between. Its
/// bucket is the table's, which the database counts as the table grows.
pub fn accounted(record: &Record) -> usize {
    let shared = match record.shared_len() {
        0 => 0,
        len => block_size(len),
    };
    block_size(record.alloc_len()) + shared + record.collection_bytes()
}

/// MEMORY USAGE's figure: the record and its bucket, and the value's heap bytes measured
/// now (exact for every encoding: `heap_bytes` walks the value).
pub fn usage(record: &Record) -> usize {
    let heap = match record.value() {
        ValueRef::Str(s @ super::record::StrRef::Shared(_)) => s.len(),
        ValueRef::Str(_) => 0,
        ValueRef::List(l) => l.heap_bytes(),
        ValueRef::Hash(h) => h.heap_bytes(),
        ValueRef::Set(s) => s.heap_bytes(),
        ValueRef::ZSet(z) => z.heap_bytes(),
        ValueRef::Stream(s) => s.heap_bytes(),
    };
    PER_KEY + record.alloc_len().next_multiple_of(ALLOC_GRAIN) + heap
}

/// Estimates a collection's bytes and records them on `record`; returns its accounted bytes.
pub fn measure(record: &mut Record) -> usize {
    if record.is_collection() {
        let bytes = value_bytes(record.value());
        record.set_collection_bytes(bytes);
    }
    accounted(record)
}

/// A value's heap bytes: exact for strings and the compact encodings (one buffer each), a
/// sampled estimate for the large ones, so the cost stays O(1) however big the value.
pub fn value_bytes(value: ValueRef) -> usize {
    match value {
        ValueRef::Str(s) => s.len(),
        ValueRef::List(l) => list_bytes(l),
        ValueRef::Hash(h) => hash_bytes(h),
        ValueRef::Set(s) => set_bytes(s),
        ValueRef::ZSet(z) => zset_bytes(z),
        ValueRef::Stream(s) => s.heap_bytes(),
    }
}

/// True for a collection in one of its large encodings, whose estimate samples elements:
/// writes re-estimate it only now and then (see `Shard::after_write`).
pub fn is_large(value: ValueRef) -> bool {
    match value {
        ValueRef::Str(_) => false,
        ValueRef::List(l) => !compact(l.encoding()),
        ValueRef::Hash(h) => !compact(h.encoding()),
        ValueRef::Set(s) => !compact(s.encoding()),
        ValueRef::ZSet(z) => !compact(z.encoding()),
        // Kept exact incrementally: cheap to read after every write.
        ValueRef::Stream(_) => false,
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
    use crate::shard::Value;
    use bytes::Bytes;

    fn bytes_of(key: &[u8], value: Value, expire_at: u64) -> usize {
        measure(&mut Record::new(key, value, expire_at, 0))
    }

    #[test]
    fn strings_count_key_value_and_overhead() {
        let small = bytes_of(b"k", Value::Str(Bytes::from_static(b"v")), 0);
        let big = bytes_of(b"k", Value::Str(Bytes::from(vec![0u8; 1000])), 0);
        assert!(big - small >= 999, "{small} {big}");
        assert!(small >= 16);
        // The benchmark's key: 14-byte key, 16-byte value, one 32-byte block; with an expiry,
        // the wide layout's header and expiry word (46 bytes, a 48-byte block).
        let bench = bytes_of(
            b"key:0000000001",
            Value::Str(Bytes::from(vec![b'x'; 16])),
            0,
        );
        assert_eq!(bench, 32);
        let volatile = bytes_of(
            b"key:0000000001",
            Value::Str(Bytes::from(vec![b'x'; 16])),
            9,
        );
        assert_eq!(volatile, bench + 16);
    }

    #[test]
    fn blocks_follow_mimalloc_size_classes() {
        let classes: Vec<usize> = [1, 16, 17, 64, 65, 80, 81, 128, 129, 100_001]
            .into_iter()
            .map(block_size)
            .collect();
        assert_eq!(classes, [16, 16, 32, 64, 80, 80, 96, 128, 160, 114_688]);
        // 3 records in 4 buckets: 32 bytes of pointers, 4 + 16 control bytes.
        assert_eq!(table_bytes(3), 64);
        assert_eq!(table_bytes(7), block_size(64 + 8 + 16));
        assert_eq!(table_bytes(0), 0);
    }

    #[test]
    fn large_lists_scale_with_length() {
        let items: Vec<Vec<u8>> = (0..10_000)
            .map(|i| format!("{i:08}").into_bytes())
            .collect();
        let list = List::from_items(items.iter().map(|i| i.as_slice()));
        let bytes = value_bytes(ValueRef::List(&list));
        assert!((80_000..200_000).contains(&bytes), "{bytes}");
    }
}
