//! Sorted-set commands. This file holds the table rows, the shared helpers and the single-key
//! commands; ranges, multi-key algebra (ZUNION...) and pops (with the blocking forms) live in
//! the `zset/` submodules. The *Op* halves run on the shard owning the key.

mod combine;
mod pop;
mod range;

pub(super) use range::store_result;

use crate::command::{read_as, write_as};
use crate::pubsub::notify::ZSET as ZSET_EVENTS;
use bytes::{Bytes, BytesMut};

use super::args::{parse_int, ScanType};
use super::set::scan_reply;
use super::table::{access, flags, keyed, routine, row, CommandSpec, KeyFinder, KEY1};
use super::{err, error, Args, CmdResult, Kind};
use crate::protocol::{Protocol, Reply};
use crate::shard::types::{zset_limits, ZSet};
use crate::shard::{Shard, Value};

/// A routine's future (multi-shard and blocking commands).
pub(crate) type Routine<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + 'a>>;

/// The sorted-set commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("zadd", -4, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(zadd), "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]"),
    row("zincrby", 4, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(zincrby), "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", "key increment member").access(access!(RW | ACCESS | UPDATE)),
    row("zrem", -3, flags!(WRITE | FAST), KEY1, keyed(zrem), "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "key member [member ...]").access(access!(RW | DELETE)),
    row("zcard", 2, flags!(READONLY | FAST), KEY1, keyed(zcard), "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", "key").access(access!(RO)),
    row("zscore", 3, flags!(READONLY | FAST), KEY1, keyed(zscore), "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", "key member"),
    row("zmscore", -3, flags!(READONLY | FAST), KEY1, keyed(zmscore), "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", "key member [member ...]"),
    row("zrank", -3, flags!(READONLY | FAST), KEY1, keyed(zrank), "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", "key member [WITHSCORE]"),
    row("zrevrank", -3, flags!(READONLY | FAST), KEY1, keyed(zrevrank), "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", "key member [WITHSCORE]"),
    row("zcount", 4, flags!(READONLY | FAST), KEY1, keyed(range::zcount), "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", "key min max"),
    row("zlexcount", 4, flags!(READONLY | FAST), KEY1, keyed(range::zlexcount), "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", "key min max"),
    row("zrange", -4, flags!(READONLY), KEY1, keyed(range::zrange), "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]"),
    row("zrevrange", -4, flags!(READONLY), KEY1, keyed(range::zrevrange), "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", "key start stop [WITHSCORES]"),
    row("zrangebyscore", -4, flags!(READONLY), KEY1, keyed(range::zrangebyscore), "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", "key min max [WITHSCORES] [LIMIT offset count]"),
    row("zrevrangebyscore", -4, flags!(READONLY), KEY1, keyed(range::zrevrangebyscore), "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", "key max min [WITHSCORES] [LIMIT offset count]"),
    row("zrangebylex", -4, flags!(READONLY), KEY1, keyed(range::zrangebylex), "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", "key min max [LIMIT offset count]"),
    row("zrevrangebylex", -4, flags!(READONLY), KEY1, keyed(range::zrevrangebylex), "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", "key max min [LIMIT offset count]"),
    row("zrangestore", -5, flags!(WRITE | DENYOOM), (1, 2, 1), routine(range::zrangestore, range::zrangestore_cross), "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]").access_split(access!(OW | UPDATE), access!(RO | ACCESS)),
    row("zremrangebyrank", 4, flags!(WRITE), KEY1, keyed(range::zremrangebyrank), "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "key start stop").access(access!(RW | DELETE)),
    row("zremrangebyscore", 4, flags!(WRITE), KEY1, keyed(range::zremrangebyscore), "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "key min max").access(access!(RW | DELETE)),
    row("zremrangebylex", 4, flags!(WRITE), KEY1, keyed(range::zremrangebylex), "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "key min max").access(access!(RW | DELETE)),
    row("zpopmin", -2, flags!(WRITE | FAST), KEY1, keyed(pop::zpopmin), "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count]").access(access!(RW | ACCESS | DELETE)),
    row("zpopmax", -2, flags!(WRITE | FAST), KEY1, keyed(pop::zpopmax), "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "key [count]").access(access!(RW | ACCESS | DELETE)),
    row("bzpopmin", -3, flags!(WRITE | NOSCRIPT | BLOCKING | FAST), (1, -2, 1), Kind::Routed(pop::bzpopmin), "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "key [key ...] timeout").access(access!(RW | ACCESS | DELETE)),
    row("bzpopmax", -3, flags!(WRITE | NOSCRIPT | BLOCKING | FAST), (1, -2, 1), Kind::Routed(pop::bzpopmax), "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "key [key ...] timeout").access(access!(RW | ACCESS | DELETE)),
    row("zmpop", -4, flags!(WRITE), (0, 0, 0), Kind::Routed(pop::zmpop), "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "numkeys key [key ...] MIN|MAX [COUNT count]").keys_by(KeyFinder::NumKeys(1)).access(access!(RW | ACCESS | DELETE)),
    row("bzmpop", -5, flags!(WRITE | BLOCKING), (0, 0, 0), Kind::Routed(pop::bzmpop), "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "timeout numkeys key [key ...] MIN|MAX [COUNT count]").keys_by(KeyFinder::NumKeys(2)).access(access!(RW | ACCESS | DELETE)),
    row("zrandmember", -2, flags!(READONLY), KEY1, keyed(zrandmember), "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", "key [count [WITHSCORES]]"),
    row("zunion", -3, flags!(READONLY), (0, 0, 0), Kind::Routed(combine::zunion), "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]").keys_by(KeyFinder::NumKeys(1)),
    row("zinter", -3, flags!(READONLY), (0, 0, 0), Kind::Routed(combine::zinter), "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]").keys_by(KeyFinder::NumKeys(1)),
    row("zdiff", -3, flags!(READONLY), (0, 0, 0), Kind::Routed(combine::zdiff), "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", "numkeys key [key ...] [WITHSCORES]").keys_by(KeyFinder::NumKeys(1)),
    row("zunionstore", -4, flags!(WRITE | DENYOOM), KEY1, Kind::Routed(combine::zunionstore), "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.", "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]").keys_by(KeyFinder::NumKeys(2)).access_split(access!(OW | UPDATE), access!(RO | ACCESS)),
    row("zinterstore", -4, flags!(WRITE | DENYOOM), KEY1, Kind::Routed(combine::zinterstore), "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]").keys_by(KeyFinder::NumKeys(2)).access_split(access!(OW | UPDATE), access!(RO | ACCESS)),
    row("zdiffstore", -4, flags!(WRITE | DENYOOM), KEY1, Kind::Routed(combine::zdiffstore), "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", "destination numkeys key [key ...]").keys_by(KeyFinder::NumKeys(2)).access_split(access!(OW | UPDATE), access!(RO | ACCESS)),
    row("zintercard", -3, flags!(READONLY), (0, 0, 0), Kind::Routed(combine::zintercard), "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", "numkeys key [key ...] [LIMIT limit]").keys_by(KeyFinder::NumKeys(1)),
    row("zscan", -3, flags!(READONLY), KEY1, keyed(zscan), "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", "key cursor [MATCH pattern] [COUNT count]"),
];

/// Applies a CONFIG SET of `name` (either spelling of the listpack limits) to the type's limits.
pub fn config_set(name: &str, config: &crate::config::Config) {
    use std::sync::atomic::Ordering::Relaxed;
    let value = config.int(name).max(0) as usize;
    match name.to_ascii_lowercase().as_str() {
        "zset-max-listpack-entries" | "zset-max-ziplist-entries" => {
            zset_limits::MAX_LISTPACK_ENTRIES.store(value, Relaxed)
        }
        "zset-max-listpack-value" | "zset-max-ziplist-value" => {
            zset_limits::MAX_LISTPACK_VALUE.store(value, Relaxed)
        }
        _ => {}
    }
}

/// Applies the start-up configuration's listpack limits (a changed old spelling wins).
pub fn apply_config(config: &crate::config::Config) {
    for name in ["zset-max-listpack-entries", "zset-max-listpack-value"] {
        config_set(name, config);
    }
    if config.get("zset-max-ziplist-entries") != "128" {
        config_set("zset-max-ziplist-entries", config);
    }
    if config.get("zset-max-ziplist-value") != "64" {
        config_set("zset-max-ziplist-value", config);
    }
}

/// Deletes `key` when its sorted set became empty (Redis never keeps an empty collection).
fn drop_if_empty(shard: &mut Shard, key: &[u8]) {
    if matches!(write_as::<ZSet>(shard, key), Ok(Some(z)) if z.is_empty()) {
        shard.delete(key);
    }
}

/// Members, with their scores as pairs (RESP3) or interleaved (RESP2) when `withscores`.
pub(crate) fn scored_reply(items: Vec<(Bytes, f64)>, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

/// Parses a score argument as Redis's getDoubleFromObject (string2d): a number too large for
/// a double (`1e400`) or too small to tell from zero (`1e-400`) is refused; `inf` is a score.
fn score_arg(raw: &[u8]) -> Result<f64, Reply> {
    super::args::parse_float(raw, super::args::FloatRule::Double)
        .ok_or_else(|| error(err::NOT_FLOAT))
}

/// ZADD's flags.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// What one ZADD element did.
enum Added {
    New(f64),
    Updated(f64),
    Same(f64),
    Skipped,
}

/// Redis's zsetAdd: applies one score/member under `flags`.
fn add_one(z: &mut ZSet, member: &[u8], score: f64, f: AddFlags) -> Result<Added, Reply> {
    match z.score(member) {
        Some(current) => {
            if f.nx {
                return Ok(Added::Skipped);
            }
            let new = if f.incr { current + score } else { score };
            if new.is_nan() {
                return Err(error(err::NAN_SCORE));
            }
            if (f.gt && new <= current) || (f.lt && new >= current) {
                return Ok(Added::Skipped);
            }
            if new == current {
                return Ok(Added::Same(new));
            }
            z.insert(member, new);
            Ok(Added::Updated(new))
        }
        None => {
            if f.xx {
                return Ok(Added::Skipped);
            }
            z.insert(member, score);
            Ok(Added::New(score))
        }
    }
}

pub fn zadd(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let mut f = AddFlags::default();
    let mut ch = false;
    loop {
        if args.keyword("NX") {
            f.nx = true;
        } else if args.keyword("XX") {
            f.xx = true;
        } else if args.keyword("GT") {
            f.gt = true;
        } else if args.keyword("LT") {
            f.lt = true;
        } else if args.keyword("CH") {
            ch = true;
        } else if args.keyword("INCR") {
            f.incr = true;
        } else {
            break;
        }
    }
    let pairs = args.rest().to_vec();
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(error(err::SYNTAX));
    }
    // Redis's order: the flag conflicts, then INCR's single pair, then the scores.
    if f.nx && f.xx {
        return Err(error(err::XX_NX));
    }
    if [f.gt, f.lt, f.nx].iter().filter(|&&b| b).count() > 1 {
        return Err(error(err::GT_LT_NX));
    }
    if f.incr && pairs.len() > 2 {
        return Err(error(err::INCR_PAIR));
    }
    let scores = pairs
        .chunks(2)
        .map(|p| score_arg(&p[0]))
        .collect::<Result<Vec<f64>, Reply>>()?;
    let outcome = add_all(shard, key, &pairs, &scores, f);
    drop_if_empty(shard, key);
    let (added, updated, last) = outcome?;
    if added + updated > 0 {
        super::notify(
            shard,
            ZSET_EVENTS,
            if f.incr { "zincr" } else { "zadd" },
            key,
        );
    } else {
        shard.unchanged();
    }
    if f.incr {
        return Ok(last.map_or(Reply::Nil, Reply::Double));
    }
    Ok(Reply::Int(if ch { added + updated } else { added }))
}

/// Applies ZADD's pairs; returns (added, updated, score of the last processed element).
fn add_all(
    shard: &mut Shard,
    key: &[u8],
    pairs: &[Bytes],
    scores: &[f64],
    f: AddFlags,
) -> Result<(i64, i64, Option<f64>), Reply> {
    let exists = write_as::<ZSet>(shard, key)?.is_some();
    if !exists {
        if f.xx {
            return Ok((0, 0, None));
        }
        let longest = pairs.chunks(2).map(|p| p[1].len()).max().unwrap_or(0);
        let hint = ZSet::with_hint(pairs.len() / 2, longest);
        shard.store(key, Value::ZSet(Box::new(hint)), 0);
    }
    let Some(z) = write_as::<ZSet>(shard, key)? else {
        return Ok((0, 0, None));
    };
    let (mut added, mut updated, mut last) = (0, 0, None);
    for (pair, &score) in pairs.chunks(2).zip(scores) {
        match add_one(z, &pair[1], score, f)? {
            Added::New(s) => {
                added += 1;
                last = Some(s);
            }
            Added::Updated(s) => {
                updated += 1;
                last = Some(s);
            }
            Added::Same(s) => last = Some(s),
            Added::Skipped => {}
        }
    }
    if added > 0 {
        shard.signal_ready(key);
    }
    Ok((added, updated, last))
}

pub fn zincrby(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let delta = score_arg(&args.next()?)?;
    let member = args.next()?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    let outcome = add_all(shard, key, &[Bytes::new(), member], &[delta], f);
    drop_if_empty(shard, key);
    let score = outcome?.2;
    super::notify(shard, ZSET_EVENTS, "zincr", key);
    Ok(score.map_or(Reply::Nil, Reply::Double))
}

pub fn zrem(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let members = args.rest().to_vec();
    let Some(z) = write_as::<ZSet>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let removed = members.iter().filter(|m| z.remove(m).is_some()).count();
    drop_if_empty(shard, key);
    if removed > 0 {
        super::notify_removal(shard, ZSET_EVENTS, "zrem", key);
    } else {
        shard.unchanged();
    }
    Ok(Reply::Int(removed as i64))
}

pub fn zcard(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    Ok(Reply::Int(
        read_as::<ZSet>(shard, key)?.map_or(0, |z| z.len() as i64),
    ))
}

pub fn zscore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let member = args.next()?;
    let score = read_as::<ZSet>(shard, key)?.and_then(|z| z.score(&member));
    Ok(score.map_or(Reply::Nil, Reply::Double))
}

pub fn zmscore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let members = args.rest().to_vec();
    let z = read_as::<ZSet>(shard, key)?;
    Ok(Reply::Array(
        members
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
            .collect(),
    ))
}

fn rank_generic(shard: &mut Shard, args: &mut Args, rev: bool) -> CmdResult {
    let key = args.arg()?;
    let member = args.next()?;
    let withscore = match args.remaining() {
        0 => false,
        1 if args.keyword("WITHSCORE") => true,
        1 => return Err(error(err::SYNTAX)),
        _ => return Err(super::err::arity(if rev { "zrevrank" } else { "zrank" })),
    };
    let missing = if withscore {
        Reply::NilArray
    } else {
        Reply::Nil
    };
    let Some(z) = read_as::<ZSet>(shard, key)? else {
        return Ok(missing);
    };
    let len = z.len();
    let Some((rank, score)) = z.rank(&member) else {
        return Ok(missing);
    };
    let rank = if rev { len - 1 - rank } else { rank } as i64;
    Ok(if withscore {
        Reply::Array(vec![Reply::Int(rank), Reply::Double(score)])
    } else {
        Reply::Int(rank)
    })
}

pub fn zrank(shard: &mut Shard, args: &mut Args) -> CmdResult {
    rank_generic(shard, args, false)
}

pub fn zrevrank(shard: &mut Shard, args: &mut Args) -> CmdResult {
    rank_generic(shard, args, true)
}

/// Random members: no count → one member or nil; negative → |count| with repeats;
/// positive → distinct members.
pub fn zrandmember(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let count = match args.peek() {
        None => None,
        Some(raw) => {
            let n = parse_int(raw).ok_or_else(|| error(err::NOT_INT))?;
            if n == i64::MIN {
                return Err(error(err::LONG_RANGE));
            }
            args.next()?;
            Some(n)
        }
    };
    let withscores = match args.remaining() {
        0 => false,
        1 if args.keyword("WITHSCORES") => true,
        _ => return Err(error(err::SYNTAX)),
    };
    if withscores && count.is_some_and(|n| !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n)) {
        return Err(error(err::OUT_OF_RANGE));
    }
    let picked = pick_random(shard, key, count)?;
    Ok(match (count, picked) {
        (None, None) => Reply::Nil,
        (None, Some(mut items)) => Reply::Bulk(items.pop().map(|(m, _)| m).unwrap_or_default()),
        (Some(_), None) => Reply::Array(Vec::new()),
        (Some(_), Some(items)) => scored_reply(items, withscores),
    })
}

/// Bound on ZRANDMEMBER's repeated picks: the reply is built in memory, so a client number may
/// not size it without limit.
const MAX_RANDOM_REPEATS: usize = 1 << 24;

fn pick_random(
    shard: &mut Shard,
    key: &[u8],
    count: Option<i64>,
) -> Result<Option<Vec<(Bytes, f64)>>, Reply> {
    let len = match read_as::<ZSet>(shard, key)? {
        None => return Ok(None),
        Some(z) => z.len(),
    };
    let picks: Vec<usize> = match count {
        None => vec![(shard.random() % len as u64) as usize],
        Some(0) => Vec::new(),
        // Refused before anything is picked: the reply would be built in memory.
        Some(n) if n < -(MAX_RANDOM_REPEATS as i64) => return Err(error(err::OUT_OF_RANGE)),
        Some(n) if n < 0 => (0..(n.unsigned_abs() as usize).min(MAX_RANDOM_REPEATS))
            .map(|_| (shard.random() % len as u64) as usize)
            .collect(),
        Some(n) if n as usize >= len => (0..len).collect(),
        Some(n) => {
            // Partial Fisher-Yates over the ranks: distinct picks in random order.
            let mut ranks: Vec<usize> = (0..len).collect();
            for i in 0..n as usize {
                let j = i + (shard.random() % (len - i) as u64) as usize;
                ranks.swap(i, j);
            }
            ranks.truncate(n as usize);
            ranks
        }
    };
    let z = read_as::<ZSet>(shard, key)?.expect("checked above");
    let whole = if picks.len() > 16 || count.is_some_and(|n| n as usize >= len) {
        Some(z.entries())
    } else {
        None
    };
    Ok(Some(
        picks
            .into_iter()
            .map(|r| match &whole {
                Some(all) => all[r].clone(),
                None => z.range(r, r + 1, false).remove(0),
            })
            .collect(),
    ))
}

/// The text of a double as Redis 7.2 prints it (what `Reply::Double` carries).
pub(crate) fn double_text(value: f64) -> Bytes {
    let mut out = BytesMut::new();
    Reply::Double(value).encode(Protocol::Resp3, &mut out);
    let len = out.len();
    // The RESP3 frame is ",text\r\n".
    out.freeze().slice(1..len - 2)
}

/// A score as C's `%.17Lg` prints it: what Redis's ZSCAN shows for a skiplist-encoded set.
pub(crate) fn g17_text(value: f64) -> Bytes {
    if value.is_infinite() {
        return Bytes::from_static(if value > 0.0 { b"inf" } else { b"-inf" });
    }
    let sci = format!("{:.16e}", value);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |t: &str| -> String {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t.to_string()
        }
    };
    let text = if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{:.*}", (16 - exp).max(0) as usize, value))
    };
    Bytes::from(text)
}

/// ZSCAN: the cursor is a rank into the order; a compact set is returned whole at once, as
/// Redis does. Members removed behind the cursor may shift later members past it, a weaker
/// guarantee than Redis's hash-table cursor.
pub fn zscan(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let cursor = args.cursor()?;
    let Some(z) = read_as::<ZSet>(shard, key)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let options = args.scan_options(ScanType::Refused)?;
    let len = z.len();
    let start = (cursor as usize).min(len);
    let compact = z.encoding() == "listpack";
    let (items, next) = if compact {
        (z.entries(), 0)
    } else {
        let end = start.saturating_add(options.count).min(len);
        (z.range(start, end, false), if end >= len { 0 } else { end })
    };
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items {
        if !options.matches(&m) {
            continue;
        }
        out.push(Reply::Bulk(m));
        out.push(Reply::Bulk(if compact {
            double_text(s)
        } else {
            g17_text(s)
        }));
    }
    Ok(scan_reply(next as u64, out))
}

#[cfg(test)]
mod tests;
