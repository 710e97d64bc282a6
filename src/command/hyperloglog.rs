//! HyperLogLog commands over string values in Redis's HYLL format: PFADD, PFCOUNT, PFMERGE,
//! PFDEBUG, PFSELFTEST. The format itself is `hll`; keys on several shards are read (and
//! PFMERGE's destination written) under ordered holds, so a multi-key call is atomic.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;

use super::table::{access, flags, keyed, routine, row, CommandSpec, KEY1, NOKEY};
use super::{err, error, notify, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::pubsub::notify::STRING;
use crate::shard::{Holding, Shard, ShardId, Value, ValueRef};

pub mod hll;

/// The rows of the HyperLogLog commands.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "pfadd",
        -2,
        flags!(WRITE | DENYOOM | FAST),
        KEY1,
        keyed(pfadd),
        "hyperloglog",
        "2.8.9",
        "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
        "key [element [element ...]]",
    )
    .access(access!(RW | INSERT)),
    row(
        "pfcount",
        -2,
        flags!(READONLY | MAY_REPLICATE),
        (1, -1, 1),
        routine(pfcount, pfcount_cross),
        "hyperloglog",
        "2.8.9",
        "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
        "key [key ...]",
    )
    .access(access!(RW | ACCESS)),
    row(
        "pfmerge",
        -2,
        flags!(WRITE | DENYOOM),
        (1, -1, 1),
        routine(pfmerge, pfmerge_cross),
        "hyperloglog",
        "2.8.9",
        "Merges one or more HyperLogLog values into a single key.",
        "destkey [sourcekey [sourcekey ...]]",
    )
    .access_split(access!(RW | ACCESS | INSERT), access!(RO | ACCESS)),
    row(
        "pfdebug",
        3,
        flags!(WRITE | DENYOOM | ADMIN),
        (2, 2, 1),
        keyed(pfdebug),
        "hyperloglog",
        "2.8.9",
        "Internal commands for debugging HyperLogLog values.",
        "subcommand key",
    )
    .access(access!(RW | ACCESS)),
    row(
        "pfselftest",
        1,
        flags!(ADMIN),
        NOKEY,
        Kind::Local(pfselftest),
        "hyperloglog",
        "2.8.9",
        "An internal command for testing HyperLogLog values.",
        "",
    ),
];

/// `hll-sparse-max-bytes`: the size past which a sparse HLL turns dense.
pub static SPARSE_MAX_BYTES: AtomicUsize = AtomicUsize::new(3000);

pub fn apply_config(config: &crate::config::Config) {
    SPARSE_MAX_BYTES.store(config.int("hll-sparse-max-bytes").max(0) as usize, Relaxed);
}

fn sparse_max() -> usize {
    SPARSE_MAX_BYTES.load(Relaxed)
}

fn corrupt(_: hll::Corrupt) -> Reply {
    error(err::HLL_CORRUPT)
}

/// The HLL string at `key` (None when missing) and its expiry; WRONGTYPE for another type or a
/// string without an HLL header. `write` looks the key up for writing (no hit/miss count).
fn read_hll(shard: &mut Shard, key: &[u8], write: bool) -> Result<Option<(Vec<u8>, u64)>, Reply> {
    let record = if write {
        shard.live(key)
    } else {
        shard.read(key)
    };
    let Some(record) = record else {
        return Ok(None);
    };
    match record.value() {
        ValueRef::Str(s) if hll::is_hll(&s) => Ok(Some((s.to_vec(), record.expire_at()))),
        ValueRef::Str(_) => Err(error(err::HLL_WRONGTYPE)),
        _ => Err(error(err::WRONGTYPE)),
    }
}

fn store_hll(shard: &mut Shard, key: &[u8], value: Vec<u8>, expire: u64) {
    shard.store(key, Value::Str(Bytes::from(value)), expire);
}

pub fn pfadd(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let (mut value, expire, mut updated) = match read_hll(shard, &key, true)? {
        Some((v, e)) => (v, e, false),
        None => (hll::create(), 0, true),
    };
    let max = sparse_max();
    let mut failed = false;
    for element in args.rest() {
        match hll::add(&mut value, element, max) {
            Ok(grew) => updated |= grew,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if failed {
        // As Redis, which edits in place: what was added before the corrupt part stays.
        if updated {
            store_hll(shard, &key, value, expire);
        } else {
            shard.unchanged();
        }
        return Err(error(err::HLL_CORRUPT));
    }
    if !updated {
        shard.unchanged();
        return Ok(Reply::Int(0));
    }
    hll::invalidate(&mut value);
    store_hll(shard, &key, value, expire);
    notify(shard, STRING, "pfadd", &key);
    Ok(Reply::Int(1))
}

/// The cardinality of the one HLL at `key`, refreshing its cached value as Redis does (a
/// change of the key, though PFCOUNT reads).
fn count_one(shard: &mut Shard, key: &[u8]) -> CmdResult {
    let Some((mut value, expire)) = read_hll(shard, key, false)? else {
        return Ok(Reply::Int(0));
    };
    if let Some(card) = hll::cached(&value) {
        return Ok(Reply::Int(card as i64));
    }
    let card = hll::count(&value).map_err(corrupt)?;
    hll::set_cached(&mut value, card);
    store_hll(shard, key, value, expire);
    Ok(Reply::Int(card as i64))
}

pub fn pfcount(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let keys = args.rest().to_vec();
    if let [key] = keys.as_slice() {
        return count_one(shard, key);
    }
    let mut max = vec![0u8; hll::REGISTERS];
    for key in keys {
        if let Some((value, _)) = read_hll(shard, &key, false)? {
            hll::merge_into(&mut max, &value).map_err(corrupt)?;
        }
    }
    Ok(Reply::Int(hll::count_raw(&max) as i64))
}

/// The sources of a multi-key PFCOUNT or PFMERGE, each read on its own shard under holds, in
/// key order (the first bad key's error is the reply, as Redis checks them in order).
async fn gather(
    session: &mut Session,
    keys: Vec<Bytes>,
    extra: Option<ShardId>,
) -> Result<(Vec<Vec<u8>>, Holding), Reply> {
    let db = session.db;
    let mut shards: Vec<ShardId> = keys.iter().map(|k| session.router.shard_of(k)).collect();
    shards.extend(extra);
    let holding = session.router.hold(&shards).await;
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        let shard = session.router.shard_of(&key);
        let value = holding
            .run(shard, move |s| {
                s.select(db);
                read_hll(s, &key, false)
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))??;
        values.extend(value.map(|(v, _)| v));
    }
    Ok((values, holding))
}

/// PFCOUNT over keys on several shards.
pub fn pfcount_cross(
    session: &mut Session,
    args: Args,
) -> Pin<Box<dyn Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        let keys = args.rest().to_vec();
        let (values, _holding) = gather(session, keys, None).await?;
        let mut max = vec![0u8; hll::REGISTERS];
        for value in &values {
            hll::merge_into(&mut max, value).map_err(corrupt)?;
        }
        Ok(Reply::Int(hll::count_raw(&max) as i64))
    })
}

/// The union of `sources` (destination included): the registers' maxima, and whether any
/// source was dense (the destination is then made dense first).
fn union(sources: &[Vec<u8>]) -> Result<(Vec<u8>, bool), Reply> {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut dense = false;
    for value in sources {
        dense |= hll::is_dense(value);
        hll::merge_into(&mut max, value).map_err(corrupt)?;
    }
    Ok((max, dense))
}

/// Writes the union `max` into the HLL at `dest` (created when missing).
fn merge_store(shard: &mut Shard, dest: &[u8], max: &[u8], dense: bool) -> CmdResult {
    let (mut value, expire) = read_hll(shard, dest, true)?.unwrap_or_else(|| (hll::create(), 0));
    if dense {
        hll::to_dense(&mut value).map_err(corrupt)?;
    }
    let limit = sparse_max();
    for (i, &m) in max.iter().enumerate() {
        if m > 0 {
            // A corrupt sparse destination was refused by the union already.
            let _ = hll::set(&mut value, i, m, limit);
        }
    }
    hll::invalidate(&mut value);
    store_hll(shard, dest, value, expire);
    notify(shard, STRING, "pfadd", dest);
    Ok(Reply::Simple("OK"))
}

pub fn pfmerge(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let keys = args.rest().to_vec();
    let mut sources = Vec::with_capacity(keys.len());
    for key in &keys {
        sources.extend(read_hll(shard, key, false)?.map(|(v, _)| v));
    }
    let (max, dense) = union(&sources)?;
    merge_store(shard, &keys[0], &max, dense)
}

/// PFMERGE with keys on several shards: all held while the sources are read and the
/// destination written.
pub fn pfmerge_cross(
    session: &mut Session,
    args: Args,
) -> Pin<Box<dyn Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        let keys = args.rest().to_vec();
        let dest = keys[0].clone();
        let (sources, holding) = gather(session, keys, None).await?;
        let (max, dense) = union(&sources)?;
        let db = session.db;
        let dest_shard = session.router.shard_of(&dest);
        holding
            .run(dest_shard, move |s| {
                s.select(db);
                merge_store(s, &dest, &max, dense)
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))?
    })
}

pub fn pfdebug(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let sub = args.next()?;
    let key = args.next()?;
    let Some((mut value, expire)) = read_hll(shard, &key, true)? else {
        shard.unchanged();
        return Err(error(err::PFDEBUG_NO_KEY));
    };
    let sub_name = sub.to_ascii_lowercase();
    let reply = match sub_name.as_slice() {
        b"getreg" | b"todense" => {
            let converted = !hll::is_dense(&value);
            if converted {
                hll::to_dense(&mut value).map_err(corrupt)?;
            }
            let reply = if sub_name == b"getreg" {
                let regs = hll::registers(&value).map_err(corrupt)?;
                Reply::Array(regs.into_iter().map(|r| Reply::Int(r as i64)).collect())
            } else {
                Reply::Int(converted as i64)
            };
            if converted {
                store_hll(shard, &key, value, expire);
                return Ok(reply);
            }
            reply
        }
        b"decode" if hll::is_dense(&value) => Err(error(err::HLL_NOT_SPARSE))?,
        b"decode" => Reply::Bulk(Bytes::from(hll::decode(&value))),
        b"encoding" => Reply::Status(
            if hll::is_dense(&value) {
                "dense"
            } else {
                "sparse"
            }
            .into(),
        ),
        _ => Err(err::unknown_pfdebug(&sub))?,
    };
    shard.unchanged();
    Ok(reply)
}

/// PFSELFTEST: the register packing round-trips, and the estimate stays within Redis's bound
/// at every power of ten up to 10^7 with sparse and dense agreeing (Redis's own checks).
pub fn pfselftest(_session: &mut Session, _args: &mut Args) -> CmdResult {
    let mut dense = vec![0u8; hll::DENSE_SIZE - hll::HDR];
    let mut seed = {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            | 1
    };
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut expected = vec![0u8; hll::REGISTERS];
    for _ in 0..1000 {
        for (i, e) in expected.iter_mut().enumerate() {
            *e = (next() & 63) as u8;
            hll::dense_put(&mut dense, i, *e);
        }
        for (i, e) in expected.iter().enumerate() {
            let got = hll::dense_get(&dense, i);
            if got != *e {
                return Err(err::hll_register_test(i, *e, got));
            }
        }
    }
    let mut dense = hll::create();
    hll::to_dense(&mut dense).map_err(corrupt)?;
    let mut sparse = hll::create();
    let relerr = 1.04 / (hll::REGISTERS as f64).sqrt();
    let salt = next();
    let limit = sparse_max();
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let element = (j ^ salt).to_le_bytes();
        let _ = hll::add(&mut dense, &element, limit);
        let _ = hll::add(&mut sparse, &element, limit);
        if j != checkpoint {
            continue;
        }
        if j < (limit / 2) as u64 && hll::is_dense(&sparse) {
            return Err(error(err::HLL_TEST_NOT_SPARSE));
        }
        let estimate = hll::count(&dense).map_err(corrupt)?;
        if hll::count(&sparse).map_err(corrupt)? != estimate {
            return Err(error(err::HLL_TEST_DISAGREE));
        }
        let abserr = (checkpoint as i64 - estimate as i64).unsigned_abs();
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(err::hll_error_test(checkpoint, abserr));
        }
        checkpoint *= 10;
    }
    Ok(Reply::Simple("OK"))
}
