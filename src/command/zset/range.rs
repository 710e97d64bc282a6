//! Ranges over a sorted set: by rank, by score (`(` exclusive, ±inf) and by member (`[a (a - +`),
//! for ZRANGE and its legacy forms, ZRANGESTORE, ZCOUNT/ZLEXCOUNT and ZREMRANGEBY*. Every range
//! becomes a window of ranks `start..end` found in O(log n), so reading it is a rank walk.

use crate::command::{read_as, write_as};
use bytes::Bytes;

use super::super::args::{parse_float, parse_int, FloatRule};
use super::super::{err, error, Args, CmdResult, Session};
use super::{drop_if_empty, scored_reply};
use crate::protocol::Reply;
use crate::shard::types::ZSet;
use crate::shard::{Shard, Value};

/// A score interval.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    min: f64,
    max: f64,
    min_ex: bool,
    max_ex: bool,
}

fn score_bound(raw: &[u8]) -> Result<(f64, bool), Reply> {
    let (text, ex) = match raw.first() {
        Some(b'(') => (&raw[1..], true),
        _ => (raw, false),
    };
    parse_float(text, FloatRule::RangeBound)
        .map(|v| (v, ex))
        .ok_or_else(|| error(err::NOT_FLOAT_RANGE))
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<Self, Reply> {
        let (min, min_ex) = score_bound(min)?;
        let (max, max_ex) = score_bound(max)?;
        Ok(ScoreRange {
            min,
            max,
            min_ex,
            max_ex,
        })
    }

    /// The ranks `start..end` of the members inside the interval.
    pub fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let start = z.count_while(|s, _| {
            if self.min_ex {
                s <= self.min
            } else {
                s < self.min
            }
        });
        let end = z.count_while(|s, _| {
            if self.max_ex {
                s < self.max
            } else {
                s <= self.max
            }
        });
        (start, end.max(start))
    }
}

/// One end of a lex interval.
#[derive(Clone, Debug)]
enum LexBound {
    Min,
    Max,
    In(Bytes),
    Ex(Bytes),
}

/// A member interval (meaningful when all scores are equal, as in Redis).
#[derive(Clone, Debug)]
pub struct LexRange {
    min: LexBound,
    max: LexBound,
}

fn lex_bound(raw: &Bytes) -> Result<LexBound, Reply> {
    match raw.first() {
        Some(b'+') if raw.len() == 1 => Ok(LexBound::Max),
        Some(b'-') if raw.len() == 1 => Ok(LexBound::Min),
        Some(b'[') => Ok(LexBound::In(raw.slice(1..))),
        Some(b'(') => Ok(LexBound::Ex(raw.slice(1..))),
        _ => Err(error(err::NOT_LEX_RANGE)),
    }
}

impl LexRange {
    pub fn parse(min: &Bytes, max: &Bytes) -> Result<Self, Reply> {
        Ok(LexRange {
            min: lex_bound(min)?,
            max: lex_bound(max)?,
        })
    }

    pub fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let start = z.count_while(|_, m| match &self.min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::In(x) => m < &x[..],
            LexBound::Ex(x) => m <= &x[..],
        });
        let end = z.count_while(|_, m| match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::In(x) => m <= &x[..],
            LexBound::Ex(x) => m < &x[..],
        });
        (start, end.max(start))
    }
}

/// The ascending ranks `start..end` of Redis's index range `start..=stop` (negative from the end).
pub fn rank_window(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { stop + len } else { stop };
    if start > stop || start >= len {
        return (0, 0);
    }
    (start as usize, (stop.min(len - 1) + 1) as usize)
}

#[derive(Clone, Debug)]
enum By {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed ZRANGE-family request.
#[derive(Clone, Debug)]
pub struct RangeQuery {
    by: By,
    rev: bool,
    offset: i64,
    limit: i64,
    pub withscores: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Fixed {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Parses `min max [options]` (the cursor is past the key) like Redis's zrangeGenericCommand.
/// `fixed`/`rev` are what the legacy command names imply; `store` forbids WITHSCORES.
fn parse_query(
    args: &mut Args,
    fixed: Fixed,
    rev: Option<bool>,
    store: bool,
) -> Result<RangeQuery, Reply> {
    let mut lo = args.next()?;
    let mut hi = args.next()?;
    let mut kind = fixed;
    let mut direction = rev;
    let mut withscores = false;
    let mut limit: Option<(i64, i64)> = None;
    while let Some(word) = args.peek().map(<[u8]>::to_ascii_lowercase) {
        args.next()?;
        match word.as_slice() {
            b"withscores" if !store => withscores = true,
            b"limit" if args.remaining() >= 2 => {
                let offset = args.int()?;
                let count = args.int()?;
                limit = Some((offset, count));
            }
            b"rev" if direction.is_none() => direction = Some(true),
            b"bylex" if kind == Fixed::Auto => kind = Fixed::Lex,
            b"byscore" if kind == Fixed::Auto => kind = Fixed::Score,
            _ => return Err(error(err::SYNTAX)),
        }
    }
    let rev = direction.unwrap_or(false);
    let by_rank = matches!(kind, Fixed::Auto | Fixed::Rank);
    // Redis tells "no LIMIT" by a count of -1: `LIMIT <offset> -1` passes on a rank range,
    // where it is ignored.
    if by_rank && limit.is_some_and(|(_, count)| count != -1) {
        return Err(error(err::LIMIT_NEEDS_BY));
    }
    let limit = if by_rank { None } else { limit };
    if withscores && kind == Fixed::Lex {
        return Err(error(err::NO_LEX_SCORES));
    }
    if rev && matches!(kind, Fixed::Score | Fixed::Lex) {
        std::mem::swap(&mut lo, &mut hi);
    }
    let by = match kind {
        Fixed::Auto | Fixed::Rank => By::Rank(
            parse_int(&lo).ok_or_else(|| error(err::NOT_INT))?,
            parse_int(&hi).ok_or_else(|| error(err::NOT_INT))?,
        ),
        Fixed::Score => By::Score(ScoreRange::parse(&lo, &hi)?),
        Fixed::Lex => By::Lex(LexRange::parse(&lo, &hi)?),
    };
    let (offset, limit) = limit.unwrap_or((0, -1));
    Ok(RangeQuery {
        by,
        rev,
        offset,
        limit,
        withscores,
    })
}

impl RangeQuery {
    /// The members the query selects, in reply order.
    pub fn run(&self, z: &ZSet) -> Vec<(Bytes, f64)> {
        let len = z.len();
        let (start, end) = match &self.by {
            By::Rank(a, b) => {
                let (s, e) = rank_window(*a, *b, len);
                if self.rev {
                    (len - e, len - s)
                } else {
                    (s, e)
                }
            }
            By::Score(r) => r.ranks(z),
            By::Lex(r) => r.ranks(z),
        };
        if start >= end || self.offset < 0 {
            return Vec::new();
        }
        let offset = self.offset as usize;
        let take = if self.limit < 0 {
            usize::MAX
        } else {
            self.limit as usize
        };
        let (a, b) = if self.rev {
            let b = end.saturating_sub(offset);
            (b.saturating_sub(take).max(start), b)
        } else {
            let a = start.saturating_add(offset);
            (a, a.saturating_add(take).min(end))
        };
        if a >= b {
            return Vec::new();
        }
        z.range(a, b, self.rev)
    }
}

fn range_generic(shard: &mut Shard, args: &mut Args, fixed: Fixed, rev: Option<bool>) -> CmdResult {
    let key = args.next()?;
    let query = parse_query(args, fixed, rev, false)?;
    let Some(z) = read_as::<ZSet>(shard, &key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(scored_reply(query.run(z), query.withscores))
}

pub fn zrange(shard: &mut Shard, args: &mut Args) -> CmdResult {
    range_generic(shard, args, Fixed::Auto, None)
}

pub fn zrevrange(shard: &mut Shard, args: &mut Args) -> CmdResult {
    range_generic(shard, args, Fixed::Rank, Some(true))
}

pub fn zrangebyscore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    range_generic(shard, args, Fixed::Score, Some(false))
}

pub fn zrevrangebyscore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    range_generic(shard, args, Fixed::Score, Some(true))
}

pub fn zrangebylex(shard: &mut Shard, args: &mut Args) -> CmdResult {
    range_generic(shard, args, Fixed::Lex, Some(false))
}

pub fn zrevrangebylex(shard: &mut Shard, args: &mut Args) -> CmdResult {
    range_generic(shard, args, Fixed::Lex, Some(true))
}

/// The selected members of `src` (None when absent), for ZRANGESTORE.
fn select(shard: &mut Shard, src: &[u8], query: &RangeQuery) -> Result<Vec<(Bytes, f64)>, Reply> {
    Ok(read_as::<ZSet>(shard, src)?.map_or_else(Vec::new, |z| query.run(z)))
}

/// Replaces `dst` with a sorted set of `items` (deletes it when empty); returns the size.
/// Only `dst` is signalled (`event`, or `del`), and only when it changed; the sources are not.
pub fn store_result(
    shard: &mut Shard,
    dst: &[u8],
    items: Vec<(Bytes, f64)>,
    event: &'static str,
) -> Reply {
    shard.unchanged();
    let len = items.len();
    if len == 0 {
        if shard.delete(dst).is_some() {
            crate::command::notify(shard, crate::pubsub::notify::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    let mut z = ZSet::with_hint(len, 0);
    for (m, s) in items {
        z.insert(&m, s);
    }
    shard.store(dst, Value::ZSet(Box::new(z)), 0);
    crate::command::notify(shard, crate::pubsub::notify::ZSET, event, dst);
    shard.signal_ready(dst);
    Reply::Int(len as i64)
}

pub fn zrangestore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let dst = args.next()?;
    let src = args.next()?;
    let query = parse_query(args, Fixed::Auto, None, true)?;
    let items = select(shard, &src, &query)?;
    Ok(store_result(shard, &dst, items, "zrangestore"))
}

/// ZRANGESTORE when `dst` and `src` live on different shards: both held, read, then write.
pub fn zrangestore_cross(session: &mut Session, args: Args) -> super::Routine<'_> {
    Box::pin(async move {
        let mut args = args;
        let dst = args.next()?;
        let src = args.next()?;
        let query = parse_query(&mut args, Fixed::Auto, None, true)?;
        let db = session.db;
        let (src_shard, dst_shard) = (session.router.shard_of(&src), session.router.shard_of(&dst));
        let holding = session.router.hold(&[src_shard, dst_shard]).await;
        let gone = || error(err::SHARD_GONE);
        let items = holding
            .run(src_shard, move |s| {
                s.select(db);
                select(s, &src, &query)
            })
            .await
            .ok_or_else(gone)??;
        holding
            .run(dst_shard, move |s| {
                s.select(db);
                store_result(s, &dst, items, "zrangestore")
            })
            .await
            .ok_or_else(gone)
    })
}

pub fn zcount(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let range = ScoreRange::parse(&args.next()?, &args.next()?)?;
    let Some(z) = read_as::<ZSet>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let (a, b) = range.ranks(z);
    Ok(Reply::Int((b - a) as i64))
}

pub fn zlexcount(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let range = LexRange::parse(&args.next()?, &args.next()?)?;
    let Some(z) = read_as::<ZSet>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let (a, b) = range.ranks(z);
    Ok(Reply::Int((b - a) as i64))
}

/// Removes the members in `window`'s ranks; signals `event` (and `del`) when any went.
fn remove_window(
    shard: &mut Shard,
    key: &[u8],
    window: impl Fn(&ZSet) -> (usize, usize),
    event: &'static str,
) -> CmdResult {
    let Some(z) = write_as::<ZSet>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let (a, b) = window(z);
    let removed = if a < b { z.remove_range(a, b).len() } else { 0 };
    if removed == 0 {
        shard.unchanged();
    } else {
        drop_if_empty(shard, key);
        crate::command::notify_removal(shard, crate::pubsub::notify::ZSET, event, key);
    }
    Ok(Reply::Int(removed as i64))
}

pub fn zremrangebyrank(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let start = args.int()?;
    let stop = args.int()?;
    remove_window(
        shard,
        key,
        |z| rank_window(start, stop, z.len()),
        "zremrangebyrank",
    )
}

pub fn zremrangebyscore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let range = ScoreRange::parse(&args.next()?, &args.next()?)?;
    remove_window(shard, key, |z| range.ranks(z), "zremrangebyscore")
}

pub fn zremrangebylex(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let range = LexRange::parse(&args.next()?, &args.next()?)?;
    remove_window(shard, key, |z| range.ranks(z), "zremrangebylex")
}
