//! Hash slots: key → slot (CRC16 of the key or its `{hash tag}`, as Redis Cluster) → owning shard.
//! Depends on nothing else in the crate.

/// Number of hash slots, as in Redis Cluster.
pub const SLOTS: usize = 16384;

/// A Redis Cluster hash slot, `0..16384`.
pub type HashSlot = u16;

/// Index of a shard; shard `i` is owned by thread `i`.
pub type ShardId = usize;

/// A `static`, not a `const`: a const table would be copied onto the stack at every use.
static CRC16: crc::Crc<u16, crc::Table<16>> =
    crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_XMODEM);

/// The part of a key that is hashed: the content of the first non-empty `{...}`, else the key.
/// Searched word by word (memchr): a byte loop was ~100 instructions of a 16-byte key, as
/// much as the CRC itself.
#[inline(always)]
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// CRC-16/XMODEM (Redis Cluster's key hash) over the crate's slice-by-16 tables, with XMODEM's
/// parameters fixed in the code (not reflected, initial 0, no final xor). The crate's generic
/// `checksum` reads them from the algorithm at run time unless the compiler happens to inline
/// it with the static in view: whether it did moved with unrelated code (72 or 112
/// instructions a 16-byte key).
#[inline(always)]
fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let t = CRC16.table();
    let mut crc: u16 = 0;
    let mut blocks = bytes.chunks_exact(16);
    for b in &mut blocks {
        let first = b[0] ^ (crc >> 8) as u8;
        let second = b[1] ^ crc as u8;
        crc = t[15][first as usize] ^ t[14][second as usize];
        for (j, &byte) in b[2..].iter().enumerate() {
            crc ^= t[13 - j][byte as usize];
        }
    }
    for &byte in blocks.remainder() {
        crc = t[0][((crc >> 8) as u8 ^ byte) as usize] ^ (crc << 8);
    }
    crc
}

/// The hash slot of `key`, exactly as Redis Cluster computes it. Not inlined into its
/// callers, so that its cost does not depend on theirs.
#[inline(never)]
pub fn slot_of(key: &[u8]) -> HashSlot {
    crc16_xmodem(hash_tag(key)) & (SLOTS as u16 - 1)
}

/// Maps slots to shards: contiguous slot ranges of equal size, so slot order is shard order
/// (SCAN walks slots in ascending order and so visits each shard once).
#[derive(Clone, Copy, Debug)]
pub struct SlotTable {
    shards: usize,
}

impl SlotTable {
    /// A table splitting the slots over `shards` shards (at least 1).
    pub fn new(shards: usize) -> Self {
        SlotTable {
            shards: shards.max(1),
        }
    }

    /// How many shards there are.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The shard that owns `slot`.
    pub fn shard_of_slot(&self, slot: HashSlot) -> ShardId {
        slot as usize * self.shards / SLOTS
    }

    /// The shard that owns `key`.
    pub fn shard_of(&self, key: &[u8]) -> ShardId {
        self.shard_of_slot(slot_of(key))
    }

    /// The slots owned by `shard`, as a half-open range.
    pub fn slots_of(&self, shard: ShardId) -> std::ops::Range<usize> {
        let first = (shard * SLOTS).div_ceil(self.shards);
        let end = ((shard + 1) * SLOTS).div_ceil(self.shards);
        first..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from redis-cli CLUSTER KEYSLOT on a real cluster node.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"bar"), 5061);
        assert_eq!(slot_of(b"123456789"), 0x31c3 & 16383);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
        assert_ne!(slot_of(b"foo{}{bar}"), slot_of(b"bar"));
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
        assert_eq!(slot_of(b"foo{bar}{zap}"), slot_of(b"bar"));
    }

    #[test]
    fn crc16_matches_the_crates_checksum_at_every_length() {
        let mut bytes = Vec::new();
        let mut x: u32 = 0x1234_5678;
        for len in 0..100 {
            assert_eq!(crc16_xmodem(&bytes), CRC16.checksum(&bytes), "length {len}");
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes.push(x as u8);
        }
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
    }

    #[test]
    fn slot_ranges_partition_all_slots() {
        for shards in 1..=7 {
            let table = SlotTable::new(shards);
            let mut next = 0;
            for shard in 0..shards {
                let range = table.slots_of(shard);
                assert_eq!(range.start, next);
                for slot in range.clone() {
                    assert_eq!(table.shard_of_slot(slot as u16), shard);
                }
                next = range.end;
            }
            assert_eq!(next, SLOTS);
        }
    }
}
