//! DEBUG DIGEST and DIGEST-VALUE: Redis's dataset signature, computed as debug.c computes it,
//! so that the same data gives the same 40 hex digits on ringkv and on redis-server. Ordered
//! parts (a list, a stream, the parts of one key) are mixed in (`mix`: SHA1 of the running
//! digest xor SHA1 of the part); unordered ones (keys, set members, hash fields, sorted set
//! members) are xored together, so their order does not matter. Every shard digests its own
//! keys per database; the xor of the shards' digests is the database's.

use bytes::Bytes;

use super::super::{CmdResult, Session};
use crate::protocol::Reply;
use crate::shard::slot::SLOTS;
use crate::shard::{Record, Shard, ValueRef};

type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// Redis's xorDigest: `digest ^= SHA1(data)`.
fn xor(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// Redis's mixDigest: `digest = SHA1(digest ^ SHA1(data))`.
fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    *digest = sha1(digest);
}

/// `x` as C's printf "%.17g" writes it (the sorted set scores' text in a digest, DEBUG
/// PROTOCOL's double).
pub fn g17(x: f64) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: the format takes one double; snprintf writes at most `buf.len()` bytes, NUL
    // included.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), x) };
    let n = (n.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The type numbers Redis mixes in (its OBJ_* constants).
fn type_number(value: ValueRef) -> u32 {
    match value {
        ValueRef::Str(_) => 0,
        ValueRef::List(_) => 1,
        ValueRef::Set(_) => 2,
        ValueRef::ZSet(_) => 3,
        ValueRef::Hash(_) => 4,
        ValueRef::Stream(_) => 6,
    }
}

/// Redis's xorObjectDigest: mixes `record`'s value (and whether it expires) into `digest`.
fn value_digest(digest: &mut Digest, record: &Record) {
    let value = record.value();
    mix(digest, &type_number(value).to_be_bytes());
    match value {
        ValueRef::Str(s) => mix(digest, &s),
        ValueRef::List(list) => list.iter().for_each(|item| mix(digest, item)),
        ValueRef::Set(set) => set.iter().for_each(|m| xor(digest, &m)),
        ValueRef::ZSet(zset) => zset.for_each(|member, score| {
            let mut element = [0u8; 20];
            mix(&mut element, member);
            mix(&mut element, g17(score).as_bytes());
            xor(digest, &element);
        }),
        ValueRef::Hash(hash) => {
            for (field, value) in hash.iter() {
                let mut element = [0u8; 20];
                mix(&mut element, &field);
                mix(&mut element, &value);
                xor(digest, &element);
            }
        }
        ValueRef::Stream(stream) => {
            for (id, fields) in stream.nodes().flatten() {
                mix(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                fields.iter().for_each(|f| mix(digest, f));
            }
        }
    }
    if record.has_expiry() {
        xor(digest, b"!!expire!!");
    }
}

/// One key's digest as the dataset digest xors it in: its name, then its value.
fn key_digest(record: &Record) -> Digest {
    let mut digest = [0u8; 20];
    mix(&mut digest, record.key());
    value_digest(&mut digest, record);
    digest
}

/// Per database of `shard`: how many keys it holds (expired ones not yet removed included, as
/// Redis counts its dictionary) and the xor of their digests' SHA1s (Redis xors each key's
/// digest in with `xorDigest`, which hashes it first).
fn shard_digests(shard: &mut Shard) -> Vec<(usize, Digest)> {
    (0..shard.databases())
        .map(|db| {
            let db = shard.db_at(db);
            let mut sum = (0usize, [0u8; 20]);
            if db.is_empty() {
                return sum;
            }
            for slot in 0..SLOTS {
                for record in db.slot_entries(slot) {
                    sum.0 += 1;
                    xor(&mut sum.1, &key_digest(record));
                }
            }
            sum
        })
        .collect()
}

fn hex(digest: &Digest) -> Reply {
    Reply::Status(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// DEBUG DIGEST: every database with keys, in order, its number mixed in, then its keys
/// xored in (Redis's computeDatasetDigest).
pub async fn dataset(session: &mut Session) -> CmdResult {
    let shards = session.router.run_all(shard_digests).await;
    let databases = shards.iter().map(Vec::len).max().unwrap_or(0);
    let mut digest = [0u8; 20];
    for db in 0..databases {
        let mut keys = 0;
        let mut sum = [0u8; 20];
        for (count, part) in shards.iter().filter_map(|s| s.get(db)) {
            keys += count;
            sum.iter_mut().zip(part).for_each(|(d, p)| *d ^= p);
        }
        if keys == 0 {
            continue;
        }
        mix(&mut digest, &(db as u32).to_be_bytes());
        digest.iter_mut().zip(sum).for_each(|(d, s)| *d ^= s);
    }
    Ok(hex(&digest))
}

/// DEBUG DIGEST-VALUE key...: each key's value digest (zeros for a missing key), expired keys
/// not yet removed included, as Redis looks them up without expiring them.
pub async fn values(session: &mut Session, keys: &[Bytes]) -> CmdResult {
    let mut replies = Vec::with_capacity(keys.len());
    for key in keys {
        let db = session.db;
        let shard = session.router.shard_of(key);
        let key = key.clone();
        let digest = session
            .router
            .run(shard, move |s| {
                let mut digest = [0u8; 20];
                if let Some(record) = s.db_at(db).get_raw(&key) {
                    value_digest(&mut digest, record);
                }
                digest
            })
            .await
            .unwrap_or_default();
        replies.push(hex(&digest));
    }
    Ok(Reply::Array(replies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_print_as_c_prints_them() {
        assert_eq!(g17(2.5), "2.5");
        assert_eq!(g17(1.0), "1");
        assert_eq!(g17(0.1), "0.10000000000000001");
        assert_eq!(g17(f64::INFINITY), "inf");
        assert_eq!(g17(1e300), "1.0000000000000001e+300");
    }

    #[test]
    fn mixing_keeps_order_and_xoring_does_not() {
        let (mut ab, mut ba) = ([0u8; 20], [0u8; 20]);
        mix(&mut ab, b"a");
        mix(&mut ab, b"b");
        mix(&mut ba, b"b");
        mix(&mut ba, b"a");
        assert_ne!(ab, ba);
        let (mut x1, mut x2) = ([0u8; 20], [0u8; 20]);
        xor(&mut x1, b"a");
        xor(&mut x1, b"b");
        xor(&mut x2, b"b");
        xor(&mut x2, b"a");
        assert_eq!(x1, x2);
    }
}
