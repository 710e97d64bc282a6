//! Hash commands: HSET and friends, counters, HRANDFIELD, HSCAN. Every *Op* runs on the shard
//! owning the key; HRANDFIELD runs on the connection's core because its WITHVALUES reply shape
//! depends on the protocol (RESP3: an array of pairs; RESP2: a flat array).

use crate::command::{create_as, read_as, write_as};
use crate::pubsub::notify::HASH as HASH_EVENTS;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use bytes::Bytes;

use super::args::{ok, parse_float, parse_int, FloatRule, ScanType};
use super::set::{random_count, scan_reply};
use super::string::format_float;
use super::table::{access, flags, keyed, row, CommandSpec, KEY1};
use super::{err, error, Args, CmdResult, Kind, Session};
use crate::config::Config;
use crate::protocol::{Protocol, Reply};
use crate::shard::types::{Hash, HashLimits};
use crate::shard::Shard;

/// The hash commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("hset", -4, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(hset), "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", "key field value [field value ...]"),
    row("hsetnx", 4, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(hsetnx), "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", "key field value").access(access!(RW | INSERT)),
    row("hmset", -4, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(hmset), "hash", "2.0.0", "Sets the values of multiple fields.", "key field value [field value ...]"),
    row("hget", 3, flags!(READONLY | FAST), KEY1, keyed(hget), "hash", "2.0.0", "Returns the value of a field in a hash.", "key field"),
    row("hmget", -3, flags!(READONLY | FAST), KEY1, keyed(hmget), "hash", "2.0.0", "Returns the values of all fields in a hash.", "key field [field ...]"),
    row("hdel", -3, flags!(WRITE | FAST), KEY1, keyed(hdel), "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "key field [field ...]").access(access!(RW | DELETE)),
    row("hlen", 2, flags!(READONLY | FAST), KEY1, keyed(hlen), "hash", "2.0.0", "Returns the number of fields in a hash.", "key").access(access!(RO)),
    row("hstrlen", 3, flags!(READONLY | FAST), KEY1, keyed(hstrlen), "hash", "3.2.0", "Returns the length of the value of a field.", "key field").access(access!(RO)),
    row("hexists", 3, flags!(READONLY | FAST), KEY1, keyed(hexists), "hash", "2.0.0", "Determines whether a field exists in a hash.", "key field").access(access!(RO)),
    row("hkeys", 2, flags!(READONLY), KEY1, keyed(hkeys), "hash", "2.0.0", "Returns all fields in a hash.", "key"),
    row("hvals", 2, flags!(READONLY), KEY1, keyed(hvals), "hash", "2.0.0", "Returns all values in a hash.", "key"),
    row("hgetall", 2, flags!(READONLY), KEY1, keyed(hgetall), "hash", "2.0.0", "Returns all fields and values in a hash.", "key"),
    row("hincrby", 4, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(hincrby), "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "key field increment").access(access!(RW | ACCESS | UPDATE)),
    row("hincrbyfloat", 4, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(hincrbyfloat), "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "key field increment").access(access!(RW | ACCESS | UPDATE)),
    row("hrandfield", -2, flags!(READONLY), KEY1, Kind::Routed(hrandfield), "hash", "6.2.0", "Returns one or more random fields from a hash.", "key [count [WITHVALUES]]"),
    row("hscan", -3, flags!(READONLY), KEY1, keyed(hscan), "hash", "2.8.0", "Iterates over fields and values of a hash.", "key cursor [MATCH pattern] [COUNT count]"),
];

static MAX_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static MAX_VALUE: AtomicUsize = AtomicUsize::new(64);

/// The compact-encoding limits in force (CONFIG SET changes them).
pub fn limits() -> HashLimits {
    HashLimits {
        entries: MAX_ENTRIES.load(Relaxed),
        value: MAX_VALUE.load(Relaxed),
    }
}

/// Raw values of (listpack, ziplist) option pairs as last applied: the two names are aliases
/// in Redis but separate options here, so the one that changed since last time wins.
static SEEN: Mutex<[[i64; 2]; 2]> = Mutex::new([[128, 128], [64, 64]]);

/// Picks the value of an aliased option pair: the alias that changed, else the main name.
pub fn pick_alias(seen: &mut [i64; 2], now: [i64; 2]) -> usize {
    let value = if now[1] != seen[1] && now[0] == seen[0] {
        now[1]
    } else {
        now[0]
    };
    *seen = now;
    value.max(0) as usize
}

/// Applies `hash-max-listpack-*` (and their `ziplist` aliases) from the configuration.
pub fn apply_config(config: &Config) {
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let entries = [
        config.int("hash-max-listpack-entries"),
        config.int("hash-max-ziplist-entries"),
    ];
    let value = [
        config.int("hash-max-listpack-value"),
        config.int("hash-max-ziplist-value"),
    ];
    MAX_ENTRIES.store(pick_alias(&mut seen[0], entries), Relaxed);
    MAX_VALUE.store(pick_alias(&mut seen[1], value), Relaxed);
}

fn set_pairs(shard: &mut Shard, args: &mut Args, name: &str) -> Result<i64, Reply> {
    let key = args.arg()?;
    if !args.remaining().is_multiple_of(2) {
        return Err(err::arity(name));
    }
    let limits = limits();
    let pairs = args.rest();
    let hash = create_as::<Hash>(shard, key)?;
    let added = pairs
        .chunks(2)
        .filter(|p| hash.set(&p[0], &p[1], &limits))
        .count() as i64;
    super::notify(shard, HASH_EVENTS, "hset", key);
    Ok(added)
}

pub fn hset(shard: &mut Shard, args: &mut Args) -> CmdResult {
    set_pairs(shard, args, "hset").map(Reply::Int)
}

pub fn hmset(shard: &mut Shard, args: &mut Args) -> CmdResult {
    set_pairs(shard, args, "hmset")?;
    ok()
}

pub fn hsetnx(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, field, value) = (args.next()?, args.next()?, args.next()?);
    let hash = create_as::<Hash>(shard, &key)?;
    if hash.contains(&field) {
        shard.unchanged();
        return Ok(Reply::Int(0));
    }
    hash.set(&field, &value, &limits());
    super::notify(shard, HASH_EVENTS, "hset", &key);
    Ok(Reply::Int(1))
}

pub fn hget(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, field) = (args.next()?, args.next()?);
    let value = read_as::<Hash>(shard, &key)?.and_then(|h| h.get(&field));
    Ok(value.map_or(Reply::Nil, Reply::Bulk))
}

pub fn hmget(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let hash = read_as::<Hash>(shard, key)?;
    let values = args
        .rest()
        .iter()
        .map(|f| hash.and_then(|h| h.get(f)).map_or(Reply::Nil, Reply::Bulk))
        .collect();
    Ok(Reply::Array(values))
}

pub fn hdel(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let Some(hash) = write_as::<Hash>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let removed = args.rest().iter().filter(|f| hash.remove(f)).count();
    if hash.is_empty() {
        shard.delete(key);
    }
    if removed > 0 {
        super::notify_removal(shard, HASH_EVENTS, "hdel", key);
    } else {
        shard.unchanged();
    }
    Ok(Reply::Int(removed as i64))
}

pub fn hlen(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    Ok(Reply::Int(
        read_as::<Hash>(shard, key)?.map_or(0, |h| h.len() as i64),
    ))
}

pub fn hstrlen(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, field) = (args.next()?, args.next()?);
    let len = read_as::<Hash>(shard, &key)?
        .and_then(|h| h.get(&field))
        .map_or(0, |v| v.len());
    Ok(Reply::Int(len as i64))
}

pub fn hexists(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, field) = (args.next()?, args.next()?);
    let found = read_as::<Hash>(shard, &key)?.is_some_and(|h| h.contains(&field));
    Ok(Reply::Int(found as i64))
}

pub fn hkeys(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let fields = read_as::<Hash>(shard, key)?
        .map(|h| h.iter().map(|(f, _)| Reply::Bulk(f)).collect())
        .unwrap_or_default();
    Ok(Reply::Array(fields))
}

pub fn hvals(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let values = read_as::<Hash>(shard, key)?
        .map(|h| h.iter().map(|(_, v)| Reply::Bulk(v)).collect())
        .unwrap_or_default();
    Ok(Reply::Array(values))
}

pub fn hgetall(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let pairs = read_as::<Hash>(shard, key)?
        .map(|h| {
            h.iter()
                .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Reply::Map(pairs))
}

pub fn hincrby(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, field) = (args.next()?, args.next()?);
    let delta = args.int()?;
    let hash = create_as::<Hash>(shard, &key)?;
    let current = match hash.get(&field) {
        Some(v) => parse_int(&v).ok_or_else(|| error(err::HASH_NOT_INT))?,
        None => 0,
    };
    let next = current
        .checked_add(delta)
        .ok_or_else(|| error(err::OVERFLOW))?;
    hash.set(&field, next.to_string().as_bytes(), &limits());
    super::notify(shard, HASH_EVENTS, "hincrby", &key);
    Ok(Reply::Int(next))
}

pub fn hincrbyfloat(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, field) = (args.next()?, args.next()?);
    let raw = args.arg()?;
    let delta = parse_float(raw, FloatRule::LongDouble).ok_or_else(|| error(err::NOT_FLOAT))?;
    // An infinity as written is refused here, as Redis does; a finite increment past f64's
    // range (finite in Redis's long double) goes on to the field's check and the result's.
    if delta.is_infinite() && raw.iter().any(|b| b.eq_ignore_ascii_case(&b'i')) {
        return Err(error(err::NAN_OR_INFINITY));
    }
    let hash = create_as::<Hash>(shard, &key)?;
    let current = match hash.get(&field) {
        Some(v) => {
            parse_float(&v, FloatRule::LongDouble).ok_or_else(|| error(err::HASH_NOT_FLOAT))?
        }
        None => 0.0,
    };
    let next = current + delta;
    if !next.is_finite() {
        return Err(error(err::INCR_NAN));
    }
    let text = Bytes::from(format_float(next));
    hash.set(&field, &text, &limits());
    super::notify(shard, HASH_EVENTS, "hincrbyfloat", &key);
    Ok(Reply::Bulk(text))
}

/// HRANDFIELD: parses on the connection's core, picks on the key's shard, shapes the reply
/// for the connection's protocol.
pub fn hrandfield(
    session: &mut Session,
    mut args: Args,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        let key = args.next()?;
        let resp3 = session.protocol == Protocol::Resp3;
        let shard = session.router.shard_of(&key);
        let db = session.db;
        session
            .router
            .run(shard, move |s| {
                s.select(db);
                hrandfield_op(s, &key, &mut args, resp3)
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))?
    })
}

fn hrandfield_op(shard: &mut Shard, key: &[u8], args: &mut Args, resp3: bool) -> CmdResult {
    if args.is_done() {
        let Some(len) = read_as::<Hash>(shard, key)?.map(|h| h.len()) else {
            return Ok(Reply::Nil);
        };
        let pick = shard.random() as usize % len;
        let (field, _) = read_as::<Hash>(shard, key)?
            .map(|h| h.pair_at(pick))
            .unwrap_or_default();
        return Ok(Reply::Bulk(field));
    }
    let count = random_count(args)?;
    let with_values = if args.is_done() {
        false
    } else if args.keyword("WITHVALUES") && args.is_done() {
        if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(error(err::OUT_OF_RANGE));
        }
        true
    } else {
        return Err(error(err::SYNTAX));
    };
    let Some(len) = read_as::<Hash>(shard, key)?.map(|h| h.len()) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picks = super::set::random_picks(shard, len, count)?;
    let hash = read_as::<Hash>(shard, key)?.ok_or_else(|| error(err::WRONGTYPE))?;
    let pairs = picks.into_iter().map(|i| hash.pair_at(i));
    Ok(Reply::Array(if !with_values {
        pairs.map(|(f, _)| Reply::Bulk(f)).collect()
    } else if resp3 {
        pairs
            .map(|(f, v)| Reply::Array(vec![Reply::Bulk(f), Reply::Bulk(v)]))
            .collect()
    } else {
        pairs
            .flat_map(|(f, v)| [Reply::Bulk(f), Reply::Bulk(v)])
            .collect()
    }))
}

pub fn hscan(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let cursor = args.cursor()?;
    let Some(hash) = read_as::<Hash>(shard, key)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let options = args.scan_options(ScanType::Refused)?;
    let mut items = Vec::new();
    let next = hash.scan(cursor, options.count, |f, v| {
        if options.matches(&f) {
            items.push(Reply::Bulk(f));
            items.push(Reply::Bulk(v));
        }
    });
    Ok(scan_reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_the_last_change() {
        let mut seen = [64, 64];
        assert_eq!(pick_alias(&mut seen, [64, 10]), 10);
        assert_eq!(pick_alias(&mut seen, [64, 64]), 64);
        assert_eq!(pick_alias(&mut seen, [8, 64]), 8);
        assert_eq!(pick_alias(&mut seen, [64, 64]), 64);
    }
}
