//! List commands: pushes and pops at both ends, indexes and ranges, LPOS, LMOVE/LMPOP, and the
//! blocking forms (in `list/blocking.rs`). The *Op* halves run on the shard owning the key;
//! LMOVE/RPOPLPUSH across shards hold both shards, LMPOP holds every shard of its keys.

mod blocking;

use crate::command::{read_as, write_as};
use crate::pubsub::notify::LIST as LIST_EVENTS;
use bytes::Bytes;

use super::args::{ok, parse_int};
use super::table::{
    access, flags, keyed, routine, row, CommandSpec, KeyFinder, KEY1, KEY12, NOKEY,
};
use super::{err, error, Args, CmdResult, Kind, NumKeys, Session};
use crate::protocol::Reply;
use crate::shard::types::List;
use crate::shard::{Shard, ShardId, Value};

/// The list commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("lpush", -3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(lpush), "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "key element [element ...]").access(access!(RW | INSERT)),
    row("rpush", -3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(rpush), "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "key element [element ...]").access(access!(RW | INSERT)),
    row("lpushx", -3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(lpushx), "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", "key element [element ...]").access(access!(RW | INSERT)),
    row("rpushx", -3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(rpushx), "list", "2.2.0", "Appends an element to a list only when the list exists.", "key element [element ...]").access(access!(RW | INSERT)),
    row("lpop", -2, flags!(WRITE | FAST), KEY1, keyed(lpop), "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "key [count]").access(access!(RW | ACCESS | DELETE)),
    row("rpop", -2, flags!(WRITE | FAST), KEY1, keyed(rpop), "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "key [count]").access(access!(RW | ACCESS | DELETE)),
    row("llen", 2, flags!(READONLY | FAST), KEY1, keyed(llen), "list", "1.0.0", "Returns the length of a list.", "key").access(access!(RO)),
    row("lrange", 4, flags!(READONLY), KEY1, keyed(lrange), "list", "1.0.0", "Returns a range of elements from a list.", "key start stop"),
    row("lindex", 3, flags!(READONLY), KEY1, keyed(lindex), "list", "1.0.0", "Returns an element from a list by its index.", "key index"),
    row("lset", 4, flags!(WRITE | DENYOOM), KEY1, keyed(lset), "list", "1.0.0", "Sets the value of an element in a list by its index.", "key index element"),
    row("linsert", 5, flags!(WRITE | DENYOOM), KEY1, keyed(linsert), "list", "2.2.0", "Inserts an element before or after another element in a list.", "key BEFORE|AFTER pivot element").access(access!(RW | INSERT)),
    row("lrem", 4, flags!(WRITE), KEY1, keyed(lrem), "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", "key count element").access(access!(RW | DELETE)),
    row("ltrim", 4, flags!(WRITE), KEY1, keyed(ltrim), "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "key start stop").access(access!(RW | DELETE)),
    row("lpos", -3, flags!(READONLY), KEY1, keyed(lpos), "list", "6.0.6", "Returns the index of matching elements in a list.", "key element [RANK rank] [COUNT num-matches] [MAXLEN len]"),
    row("lmove", 5, flags!(WRITE | DENYOOM), KEY12, routine(lmove, lmove_cross), "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "source destination LEFT|RIGHT LEFT|RIGHT").access_split(access!(RW | ACCESS | DELETE), access!(RW | INSERT)),
    row("rpoplpush", 3, flags!(WRITE | DENYOOM), KEY12, routine(rpoplpush, rpoplpush_cross), "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "source destination").access_split(access!(RW | ACCESS | DELETE), access!(RW | INSERT)),
    row("lmpop", -4, flags!(WRITE), NOKEY, Kind::Routed(lmpop), "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "numkeys key [key ...] LEFT|RIGHT [COUNT count]").keys_by(KeyFinder::NumKeys(1)).access(access!(RW | ACCESS | DELETE)),
    row("blpop", -3, flags!(WRITE | NOSCRIPT | BLOCKING), (1, -2, 1), Kind::Routed(blocking::blpop), "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "key [key ...] timeout").access(access!(RW | ACCESS | DELETE)),
    row("brpop", -3, flags!(WRITE | NOSCRIPT | BLOCKING), (1, -2, 1), Kind::Routed(blocking::brpop), "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "key [key ...] timeout").access(access!(RW | ACCESS | DELETE)),
    row("blmove", 6, flags!(WRITE | DENYOOM | NOSCRIPT | BLOCKING), KEY12, Kind::Routed(blocking::blmove), "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "source destination LEFT|RIGHT LEFT|RIGHT timeout").access_split(access!(RW | ACCESS | DELETE), access!(RW | INSERT)),
    row("brpoplpush", 4, flags!(WRITE | DENYOOM | NOSCRIPT | BLOCKING), KEY12, Kind::Routed(blocking::brpoplpush), "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "source destination timeout").access_split(access!(RW | ACCESS | DELETE), access!(RW | INSERT)),
    row("blmpop", -5, flags!(WRITE | BLOCKING), NOKEY, Kind::Routed(blocking::blmpop), "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]").keys_by(KeyFinder::NumKeys(2)).access(access!(RW | ACCESS | DELETE)),
];

/// Picks up `list-max-listpack-size` (or its old name, when only that one was changed).
pub fn apply_config(config: &crate::config::Config) {
    let listpack = config.int("list-max-listpack-size");
    let ziplist = config.int("list-max-ziplist-size");
    let size = if listpack == -2 { ziplist } else { listpack };
    crate::shard::types::MAX_LISTPACK_SIZE.store(size, std::sync::atomic::Ordering::Relaxed);
}

/// Deletes `key` when its list became empty (Redis never keeps an empty list).
fn drop_if_empty(shard: &mut Shard, key: &[u8]) {
    if matches!(write_as::<List>(shard, key), Ok(Some(l)) if l.is_empty()) {
        shard.delete(key);
    }
}

/// Pushes `values` at one end of the list at `key`, creating it unless `only_existing`;
/// signals the key with its push event and wakes clients blocked on it. Returns the new
/// length (0: no list and `only_existing`).
fn push_values(
    shard: &mut Shard,
    key: &[u8],
    values: &[Bytes],
    front: bool,
    only_existing: bool,
) -> Result<usize, Reply> {
    let len = match write_as::<List>(shard, key)? {
        Some(list) => {
            list.push_all(front, values);
            list.len()
        }
        None if only_existing => return Ok(0),
        None => {
            let mut list = List::default();
            list.push_all(front, values);
            let len = list.len();
            shard.store(key, Value::List(Box::new(list)), 0);
            len
        }
    };
    let event = if front { "lpush" } else { "rpush" };
    super::notify(shard, LIST_EVENTS, event, key);
    shard.signal_ready(key);
    Ok(len)
}

fn push_command(shard: &mut Shard, args: &mut Args, front: bool, only_existing: bool) -> CmdResult {
    let key = args.arg()?;
    let len = push_values(shard, key, args.rest(), front, only_existing)?;
    Ok(Reply::Int(len as i64))
}

pub fn lpush(shard: &mut Shard, args: &mut Args) -> CmdResult {
    push_command(shard, args, true, false)
}

pub fn rpush(shard: &mut Shard, args: &mut Args) -> CmdResult {
    push_command(shard, args, false, false)
}

pub fn lpushx(shard: &mut Shard, args: &mut Args) -> CmdResult {
    push_command(shard, args, true, true)
}

pub fn rpushx(shard: &mut Shard, args: &mut Args) -> CmdResult {
    push_command(shard, args, false, true)
}

/// Pops up to `count` elements from one end of the list at `key`, signals it with the pop
/// event, and deletes it when emptied. None when there is no list.
fn pop_values(
    shard: &mut Shard,
    key: &[u8],
    front: bool,
    count: usize,
) -> Result<Option<Vec<Bytes>>, Reply> {
    let popped = take_values(shard, key, front, count)?;
    if popped.as_ref().is_some_and(|v| !v.is_empty()) {
        after_pop(shard, key, front);
    }
    Ok(popped)
}

/// The first half of `pop_values`: takes the elements, leaving the list in place even when
/// empty (LMOVE pushes before the source is dropped, so a list moved onto itself survives).
fn take_values(
    shard: &mut Shard,
    key: &[u8],
    front: bool,
    count: usize,
) -> Result<Option<Vec<Bytes>>, Reply> {
    let Some(list) = write_as::<List>(shard, key)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(count.min(list.len()));
    while out.len() < count {
        match list.pop(front) {
            Some(v) => out.push(v),
            None => break,
        }
    }
    Ok(Some(out))
}

/// The second half of `pop_values`: deletes the list at `key` if it is empty now, and
/// signals the pop (then `del` when it went), as Redis does.
fn after_pop(shard: &mut Shard, key: &[u8], front: bool) {
    drop_if_empty(shard, key);
    let event = if front { "lpop" } else { "rpop" };
    super::notify_removal(shard, LIST_EVENTS, event, key);
}

fn pop_command(shard: &mut Shard, args: &mut Args, front: bool) -> CmdResult {
    if args.all().len() > 3 {
        return Err(err::arity(if front { "lpop" } else { "rpop" }));
    }
    let key = args.next()?;
    let count = match args.is_done() {
        true => None,
        false => Some(non_negative(args, err::NOT_POSITIVE)? as usize),
    };
    if write_as::<List>(shard, &key)?.is_none() {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    }
    Ok(match count {
        Some(0) => {
            shard.unchanged();
            Reply::Array(Vec::new())
        }
        None => pop_values(shard, &key, front, 1)?
            .and_then(|mut v| v.pop())
            .map_or(Reply::Nil, Reply::Bulk),
        Some(n) => {
            let values = pop_values(shard, &key, front, n)?.unwrap_or_default();
            Reply::Array(values.into_iter().map(Reply::Bulk).collect())
        }
    })
}

pub fn lpop(shard: &mut Shard, args: &mut Args) -> CmdResult {
    pop_command(shard, args, true)
}

pub fn rpop(shard: &mut Shard, args: &mut Args) -> CmdResult {
    pop_command(shard, args, false)
}

pub fn llen(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    Ok(Reply::Int(
        read_as::<List>(shard, key)?.map_or(0, List::len) as i64,
    ))
}

/// Redis's range normalisation: negative indexes count from the end; None when empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    }
    .max(0);
    let end = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

pub fn lrange(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let start = args.int()?;
    let end = args.int()?;
    let Some(list) = read_as::<List>(shard, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items = match clamp_range(start, end, list.len()) {
        Some((s, e)) => list.range(s, e),
        None => Vec::new(),
    };
    Ok(Reply::Array(items.into_iter().map(Reply::Bulk).collect()))
}

/// A possibly negative index into a list of `len`, or None when outside it.
fn position(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 {
        (len as i64).checked_add(index)?
    } else {
        index
    };
    (index >= 0 && (index as u64) < len as u64).then_some(index as usize)
}

pub fn lindex(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let Some(list) = read_as::<List>(shard, key)? else {
        return Ok(Reply::Nil);
    };
    let index = args.int()?;
    Ok(position(index, list.len())
        .and_then(|i| list.get(i))
        .map_or(Reply::Nil, Reply::Bulk))
}

pub fn lset(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let Some(list) = write_as::<List>(shard, key)? else {
        return Err(error(err::NO_KEY));
    };
    let index = args.int()?;
    let value = args.next()?;
    let at = position(index, list.len()).ok_or_else(|| error(err::INDEX_RANGE))?;
    list.set(at, &value);
    super::notify(shard, LIST_EVENTS, "lset", key);
    ok()
}

pub fn linsert(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let after = if args.keyword("AFTER") {
        true
    } else if args.keyword("BEFORE") {
        false
    } else {
        return Err(error(err::SYNTAX));
    };
    let pivot = args.next()?;
    let value = args.next()?;
    let Some(list) = write_as::<List>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let Some(at) = list.iter().position(|e| e == &pivot[..]) else {
        shard.unchanged();
        return Ok(Reply::Int(-1));
    };
    list.insert(at, after, &value);
    let len = list.len();
    super::notify(shard, LIST_EVENTS, "linsert", key);
    Ok(Reply::Int(len as i64))
}

pub fn lrem(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let count = args.int()?;
    let value = args.next()?;
    let Some(list) = write_as::<List>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = list.remove(&value, limit, count < 0);
    if removed == 0 {
        shard.unchanged();
    } else {
        drop_if_empty(shard, key);
        super::notify_removal(shard, LIST_EVENTS, "lrem", key);
    }
    Ok(Reply::Int(removed as i64))
}

pub fn ltrim(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let start = args.int()?;
    let end = args.int()?;
    let Some(list) = write_as::<List>(shard, key)? else {
        return ok();
    };
    match clamp_range(start, end, list.len()) {
        Some((s, e)) => list.trim(s, e),
        None => list.trim(1, 0),
    }
    drop_if_empty(shard, key);
    super::notify_removal(shard, LIST_EVENTS, "ltrim", key);
    ok()
}

pub fn lpos(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let value = args.next()?;
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    while !args.is_done() {
        let more = args.remaining() > 1;
        if more && args.keyword("RANK") {
            rank = args.int()?;
            // Redis 7.2 reads RANK in -LONG_MAX..=LONG_MAX (7.0 took LONG_MIN and answered 0).
            if rank == i64::MIN {
                return Err(error(err::LONG_RANGE));
            }
            if rank == 0 {
                return Err(error(err::RANK_ZERO));
            }
        } else if more && args.keyword("COUNT") {
            count = Some(non_negative(args, err::COUNT_NEGATIVE)?);
        } else if more && args.keyword("MAXLEN") {
            maxlen = non_negative(args, err::MAXLEN_NEGATIVE)?;
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    let Some(list) = read_as::<List>(shard, &key)? else {
        return Ok(if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        });
    };
    let len = list.len();
    let scan = if maxlen == 0 {
        len
    } else {
        (maxlen as usize).min(len)
    };
    let want = match count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => n as usize,
    };
    let mut skip = rank.unsigned_abs() - 1;
    let mut found = Vec::new();
    let elements: Box<dyn Iterator<Item = (usize, &[u8])>> = if rank > 0 {
        Box::new(list.iter().enumerate())
    } else {
        Box::new(list.iter().rev().enumerate().map(|(i, e)| (len - 1 - i, e)))
    };
    for (i, (index, element)) in elements.enumerate() {
        if i >= scan || found.len() >= want {
            break;
        }
        if element == &value[..] {
            if skip > 0 {
                skip -= 1;
            } else {
                found.push(Reply::Int(index as i64));
            }
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    })
}

/// A non-negative integer option, `message` for anything else (Redis's getPositiveLong).
fn non_negative(args: &mut Args, message: &'static str) -> Result<i64, Reply> {
    match parse_int(&args.next()?) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(error(message)),
    }
}

/// LEFT or RIGHT (true for LEFT); a syntax error otherwise.
fn end_of(word: &[u8]) -> Result<bool, Reply> {
    if word.eq_ignore_ascii_case(b"LEFT") {
        Ok(true)
    } else if word.eq_ignore_ascii_case(b"RIGHT") {
        Ok(false)
    } else {
        Err(error(err::SYNTAX))
    }
}

/// Source and destination of a move, and which ends it pops from and pushes to.
#[derive(Clone)]
struct Move {
    src: Bytes,
    dst: Bytes,
    from_front: bool,
    to_front: bool,
    /// Asked as (B)RPOPLPUSH: journaled as RPOPLPUSH, as Redis propagates it.
    rpoplpush: bool,
}

fn parse_move(args: &mut Args, lmove: bool) -> Result<Move, Reply> {
    let src = args.next()?;
    let dst = args.next()?;
    let (from_front, to_front) = if lmove {
        (end_of(&args.next()?)?, end_of(&args.next()?)?)
    } else {
        (false, true)
    };
    Ok(Move {
        src,
        dst,
        from_front,
        to_front,
        rpoplpush: !lmove,
    })
}

/// LMOVE with both keys on this shard: Nil when the source is empty. As Redis: the element
/// is pushed before the source is dropped, so a one-element list moved onto itself stays (with
/// its expiry), and the push is signalled before the pop.
fn move_local(shard: &mut Shard, m: &Move) -> CmdResult {
    // Both keys are signalled where they change (`push_values`, `after_pop`).
    shard.unchanged();
    if write_as::<List>(shard, &m.src)?.is_none() {
        return Ok(Reply::Nil);
    }
    write_as::<List>(shard, &m.dst)?;
    let taken = take_values(shard, &m.src, m.from_front, 1)?;
    let Some(value) = taken.and_then(|mut v| v.pop()) else {
        return Ok(Reply::Nil);
    };
    push_values(
        shard,
        &m.dst,
        std::slice::from_ref(&value),
        m.to_front,
        false,
    )?;
    after_pop(shard, &m.src, m.from_front);
    Ok(Reply::Bulk(value))
}

pub fn lmove(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let m = parse_move(args, true)?;
    move_local(shard, &m)
}

pub fn rpoplpush(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let m = parse_move(args, false)?;
    move_local(shard, &m)
}

fn gone() -> Reply {
    error(err::SHARD_GONE)
}

/// LMOVE across two shards, atomic: both are held while the source is checked and popped and
/// the destination checked and pushed.
async fn move_between(session: &Session, m: Move) -> CmdResult {
    let db = session.db;
    let (a, b) = (
        session.router.shard_of(&m.src),
        session.router.shard_of(&m.dst),
    );
    let holding = session.router.hold(&[a, b]).await;
    // Journaled as the one command it is (RPOPLPUSH or LMOVE, as Redis propagates it), after
    // the pop and before the push, so that clients the push serves come after it.
    let block = crate::shard::journal::Block::open(&[a, b]);
    let result = move_held(&holding, db, a, b, m).await;
    if let Some(block) = block {
        block.close(true);
    }
    result
}

async fn move_held(
    holding: &crate::shard::Holding,
    db: usize,
    a: ShardId,
    b: ShardId,
    m: Move,
) -> CmdResult {
    let src = m.src.clone();
    let ready = holding
        .run(a, move |s| {
            s.select(db);
            write_as::<List>(s, &src).map(|l| l.is_some_and(|l| !l.is_empty()))
        })
        .await
        .ok_or_else(gone)??;
    if !ready {
        return Ok(Reply::Nil);
    }
    let dst = m.dst.clone();
    holding
        .run(b, move |s| {
            s.select(db);
            write_as::<List>(s, &dst).map(|_| ())
        })
        .await
        .ok_or_else(gone)??;
    let (src, from_front) = (m.src.clone(), m.from_front);
    let popped = holding
        .run(a, move |s| {
            s.select(db);
            pop_values(s, &src, from_front, 1)
        })
        .await
        .ok_or_else(gone)??;
    let Some(value) = popped.and_then(|mut v| v.pop()) else {
        return Ok(Reply::Nil);
    };
    // Into this move's block, or the transaction's holding both shards.
    let side = |front: bool| if front { &b"LEFT"[..] } else { &b"RIGHT"[..] };
    let command: &[&[u8]] = match m.rpoplpush {
        true => &[b"RPOPLPUSH", &m.src, &m.dst],
        false => &[
            b"LMOVE",
            &m.src,
            &m.dst,
            side(m.from_front),
            side(m.to_front),
        ],
    };
    crate::shard::journal::push_held(&[a, b], Some(db), command);
    let pushed = value.clone();
    holding
        .run(b, move |s| {
            push_then_serve(s, db, &m.dst, pushed, m.to_front, false)
        })
        .await
        .ok_or_else(gone)??;
    Ok(Reply::Bulk(value))
}

/// Pushes one element in a job outside the dispatcher (journaled as LPUSH/RPUSH), then
/// serves clients it unblocks.
fn push_and_serve(
    s: &mut Shard,
    db: usize,
    key: &[u8],
    value: Bytes,
    front: bool,
) -> Result<usize, Reply> {
    push_then_serve(s, db, key, value, front, true)
}

/// [`push_and_serve`], journaling the push only when `journal` (a cross-shard move journals
/// itself as one command).
fn push_then_serve(
    s: &mut Shard,
    db: usize,
    key: &[u8],
    value: Bytes,
    front: bool,
    journal: bool,
) -> Result<usize, Reply> {
    s.select(db);
    let len = push_values(s, key, std::slice::from_ref(&value), front, false);
    if journal && len.is_ok() && s.journaling() {
        s.journal(&[if front { b"LPUSH" } else { b"RPUSH" }, key, &value]);
    }
    if s.has_ready() {
        s.serve_blocked();
    }
    len
}

type Routine<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + 'a>>;

pub fn lmove_cross(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        let m = parse_move(&mut args, true)?;
        move_between(session, m).await
    })
}

pub fn rpoplpush_cross(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        let m = parse_move(&mut args, false)?;
        move_between(session, m).await
    })
}

/// The keys, end and count of LMPOP / BLMPOP (from the numkeys argument on).
struct MultiPop {
    keys: Vec<Bytes>,
    front: bool,
    count: usize,
}

fn parse_multi_pop(args: &mut Args) -> Result<MultiPop, Reply> {
    let keys = args.numkeys(NumKeys::Pop)?;
    let front = end_of(&args.next()?)?;
    let mut count = None;
    while !args.is_done() {
        if count.is_none() && args.remaining() > 1 && args.keyword("COUNT") {
            match parse_int(&args.next()?) {
                Some(n) if n > 0 => count = Some(n as usize),
                _ => return Err(error(err::COUNT_NOT_POSITIVE)),
            }
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    Ok(MultiPop {
        keys,
        front,
        count: count.unwrap_or(1),
    })
}

/// Pops from `key` if it holds a non-empty list: the popped elements, None when it has none.
fn pop_ready(
    shard: &mut Shard,
    key: &[u8],
    front: bool,
    count: usize,
) -> Result<Option<Vec<Bytes>>, Reply> {
    let popped = pop_values(shard, key, front, count)?.filter(|v| !v.is_empty());
    if let Some(values) = &popped {
        journal_pop(shard, key, front, values.len());
    }
    Ok(popped)
}

/// Journals a pop done outside `run_op` (a served or cross-shard pop) as LPOP/RPOP.
fn journal_pop(shard: &mut Shard, key: &[u8], front: bool, count: usize) {
    if shard.journaling() {
        let count = count.to_string();
        shard.journal(&[if front { b"LPOP" } else { b"RPOP" }, key, count.as_bytes()]);
    }
}

/// Journals a same-shard move done outside `run_op` (a served BLMOVE) as LMOVE, a
/// BRPOPLPUSH as RPOPLPUSH.
fn journal_move(shard: &mut Shard, m: &Move) {
    if shard.journaling() && m.rpoplpush {
        shard.journal(&[b"RPOPLPUSH", &m.src, &m.dst]);
    } else if shard.journaling() {
        let side = |front: bool| if front { &b"LEFT"[..] } else { &b"RIGHT"[..] };
        shard.journal(&[
            b"LMOVE",
            &m.src,
            &m.dst,
            side(m.from_front),
            side(m.to_front),
        ]);
    }
}

/// `[key, [elements...]]`, the LMPOP reply.
fn multi_reply(key: Bytes, values: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(key),
        Reply::Array(values.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// LMPOP's non-blocking pass: the first key holding a list gives up to `count` elements.
/// Every shard of the keys is held so the pass sees one moment, as Redis's would.
async fn multi_pop_now(session: &Session, p: &MultiPop) -> CmdResult {
    let db = session.db;
    let shards: Vec<ShardId> = p.keys.iter().map(|k| session.router.shard_of(k)).collect();
    let first = shards[0];
    if shards.iter().all(|&s| s == first) {
        let (keys, front, count) = (p.keys.clone(), p.front, p.count);
        return session
            .router
            .run(first, move |s| {
                s.select(db);
                for key in keys {
                    if let Some(values) = pop_ready(s, &key, front, count)? {
                        return Ok(multi_reply(key, values));
                    }
                }
                Ok(Reply::NilArray)
            })
            .await
            .ok_or_else(gone)?;
    }
    let holding = session.router.hold(&shards).await;
    for (key, shard) in p.keys.iter().zip(shards) {
        let (key, front, count) = (key.clone(), p.front, p.count);
        let found = holding
            .run(shard, move |s| {
                s.select(db);
                pop_ready(s, &key, front, count).map(|v| v.map(|v| multi_reply(key, v)))
            })
            .await
            .ok_or_else(gone)??;
        if let Some(reply) = found {
            return Ok(reply);
        }
    }
    Ok(Reply::NilArray)
}

pub fn lmpop(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        let p = parse_multi_pop(&mut args)?;
        multi_pop_now(session, &p).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_redis() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-3, -1, 5), Some((2, 4)));
        assert_eq!(clamp_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(3, 1, 5), None);
        assert_eq!(clamp_range(5, 10, 5), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 5), Some((0, 4)));
        assert_eq!(clamp_range(0, -1, 0), None);
    }

    #[test]
    fn indexes_like_redis() {
        assert_eq!(position(0, 3), Some(0));
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(-4, 3), None);
        assert_eq!(position(3, 3), None);
        assert_eq!(position(i64::MIN, 3), None);
        assert_eq!(position(i64::MAX, 3), None);
    }
}
