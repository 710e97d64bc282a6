//! Set commands on one key (SADD, SREM, SPOP, SRANDMEMBER, SSCAN, ...) and the helpers the
//! hash commands share (scan arguments, random picks). The multi-key algebra (SINTER, SUNION,
//! SDIFF, their STORE forms, SINTERCARD, SMOVE) is in `set/algebra.rs`.

mod algebra;

use crate::command::{read_as, write_as};
use crate::pubsub::notify::SET as SET_EVENTS;
use crate::shard::ValueRef;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;

use super::args::ScanType;
use super::table::{
    access, flags, keyed, routine, row, CommandSpec, KeyFinder, KEY1, KEY12, KEYS_ALL, NOKEY,
};
use super::{err, error, Args, CmdResult, Kind};
use crate::config::Config;
use crate::protocol::Reply;
use crate::shard::types::{Set, SetLimits};
use crate::shard::{Shard, Value};
use algebra::*;

/// The set commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("sadd", -3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(sadd), "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", "key member [member ...]").access(access!(RW | INSERT)),
    row("srem", -3, flags!(WRITE | FAST), KEY1, keyed(srem), "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", "key member [member ...]").access(access!(RW | DELETE)),
    row("smembers", 2, flags!(READONLY), KEY1, keyed(smembers), "set", "1.0.0", "Returns all members of a set.", "key"),
    row("sismember", 3, flags!(READONLY | FAST), KEY1, keyed(sismember), "set", "1.0.0", "Determines whether a member belongs to a set.", "key member").access(access!(RO)),
    row("smismember", -3, flags!(READONLY | FAST), KEY1, keyed(smismember), "set", "6.2.0", "Determines whether multiple members belong to a set.", "key member [member ...]"),
    row("scard", 2, flags!(READONLY | FAST), KEY1, keyed(scard), "set", "1.0.0", "Returns the number of members in a set.", "key").access(access!(RO)),
    row("spop", -2, flags!(WRITE | FAST), KEY1, keyed(spop), "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "key [count]").access(access!(RW | ACCESS | DELETE)),
    row("srandmember", -2, flags!(READONLY), KEY1, keyed(srandmember), "set", "1.0.0", "Get one or multiple random members from a set", "key [count]"),
    row("smove", 4, flags!(WRITE | FAST), KEY12, routine(smove, smove_cross), "set", "1.0.0", "Moves a member from one set to another.", "source destination member").access_split(access!(RW | ACCESS | DELETE), access!(RW | INSERT)),
    row("sinter", -2, flags!(READONLY), KEYS_ALL, routine(sinter, sinter_cross), "set", "1.0.0", "Returns the intersect of multiple sets.", "key [key ...]"),
    row("sintercard", -3, flags!(READONLY), NOKEY, Kind::Routed(sintercard), "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", "numkeys key [key ...] [LIMIT limit]").keys_by(KeyFinder::NumKeys(1)),
    row("sunion", -2, flags!(READONLY), KEYS_ALL, routine(sunion, sunion_cross), "set", "1.0.0", "Returns the union of multiple sets.", "key [key ...]"),
    row("sdiff", -2, flags!(READONLY), KEYS_ALL, routine(sdiff, sdiff_cross), "set", "1.0.0", "Returns the difference of multiple sets.", "key [key ...]"),
    row("sinterstore", -3, flags!(WRITE | DENYOOM), KEYS_ALL, routine(sinterstore, sinterstore_cross), "set", "1.0.0", "Stores the intersect of multiple sets in a key.", "destination key [key ...]").access_split(access!(RW | UPDATE), access!(RO | ACCESS)),
    row("sunionstore", -3, flags!(WRITE | DENYOOM), KEYS_ALL, routine(sunionstore, sunionstore_cross), "set", "1.0.0", "Stores the union of multiple sets in a key.", "destination key [key ...]").access_split(access!(OW | UPDATE), access!(RO | ACCESS)),
    row("sdiffstore", -3, flags!(WRITE | DENYOOM), KEYS_ALL, routine(sdiffstore, sdiffstore_cross), "set", "1.0.0", "Stores the difference of multiple sets in a key.", "destination key [key ...]").access_split(access!(OW | UPDATE), access!(RO | ACCESS)),
    row("sscan", -3, flags!(READONLY), KEY1, keyed(sscan), "set", "2.8.0", "Iterates over members of a set.", "key cursor [MATCH pattern] [COUNT count]"),
];

static INTSET_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static LISTPACK_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static LISTPACK_VALUE: AtomicUsize = AtomicUsize::new(64);

/// The compact-encoding limits in force (CONFIG SET changes them).
pub fn limits() -> SetLimits {
    SetLimits {
        intset_entries: INTSET_ENTRIES.load(Relaxed),
        listpack_entries: LISTPACK_ENTRIES.load(Relaxed),
        listpack_value: LISTPACK_VALUE.load(Relaxed),
    }
}

/// Applies `set-max-intset-entries` and `set-max-listpack-*` from the configuration.
pub fn apply_config(config: &Config) {
    let get = |name| config.int(name).max(0) as usize;
    INTSET_ENTRIES.store(get("set-max-intset-entries"), Relaxed);
    LISTPACK_ENTRIES.store(get("set-max-listpack-entries"), Relaxed);
    LISTPACK_VALUE.store(get("set-max-listpack-value"), Relaxed);
}

/// Most elements a count "with repetition" (negative SRANDMEMBER/HRANDFIELD count) may ask
/// for: Redis streams any number; a reply here is built whole, so the work is bounded.
pub const MAX_REPEATED: i64 = 1 << 20;

fn members_reply(members: impl Iterator<Item = Bytes>) -> Reply {
    Reply::Set(members.map(Reply::Bulk).collect())
}

pub fn sadd(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let members = args.rest();
    let limits = limits();
    let set = match write_as::<Set>(shard, key)? {
        Some(set) => set,
        None => {
            let fresh = Set::new(&members[0], members.len(), &limits);
            shard.store(key, Value::Set(Box::new(fresh)), 0);
            write_as::<Set>(shard, key)?.ok_or_else(|| error(err::WRONGTYPE))?
        }
    };
    let added = members.iter().filter(|m| set.add(m, &limits)).count();
    if added > 0 {
        super::notify(shard, SET_EVENTS, "sadd", key);
    } else {
        shard.unchanged();
    }
    Ok(Reply::Int(added as i64))
}

pub fn srem(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let Some(set) = write_as::<Set>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let removed = args.rest().iter().filter(|m| set.remove(m)).count();
    if set.is_empty() {
        shard.delete(key);
    }
    if removed > 0 {
        super::notify_removal(shard, SET_EVENTS, "srem", key);
    } else {
        shard.unchanged();
    }
    Ok(Reply::Int(removed as i64))
}

pub fn smembers(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    Ok(members_reply(
        read_as::<Set>(shard, key)?
            .into_iter()
            .flat_map(|s| s.iter()),
    ))
}

pub fn sismember(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, member) = (args.next()?, args.next()?);
    let found = read_as::<Set>(shard, &key)?.is_some_and(|s| s.contains(&member));
    Ok(Reply::Int(found as i64))
}

pub fn smismember(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let set = read_as::<Set>(shard, key)?;
    let found = args
        .rest()
        .iter()
        .map(|m| Reply::Int(set.is_some_and(|s| s.contains(m)) as i64))
        .collect();
    Ok(Reply::Array(found))
}

pub fn scard(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    Ok(Reply::Int(
        read_as::<Set>(shard, key)?.map_or(0, |s| s.len() as i64),
    ))
}

/// A SRANDMEMBER/HRANDFIELD count: any i64 but i64::MIN, with Redis's message.
pub fn random_count(args: &mut Args) -> Result<i64, Reply> {
    let count = args.int()?;
    if count == i64::MIN {
        return Err(error(err::LONG_RANGE));
    }
    Ok(count)
}

/// Positions to return for a random-members count over a collection of `len` (> 0):
/// positive: distinct (all, in order, when `count >= len`); negative: with repetition.
pub fn random_picks(shard: &mut Shard, len: usize, count: i64) -> Result<Vec<usize>, Reply> {
    if count < 0 {
        if count < -MAX_REPEATED {
            return Err(error(err::OUT_OF_RANGE));
        }
        return Ok((0..-count).map(|_| shard.random() as usize % len).collect());
    }
    let count = count as usize;
    if count >= len {
        return Ok((0..len).collect());
    }
    if count * 4 < len {
        let mut chosen = hashbrown::HashSet::with_capacity(count);
        let mut picks = Vec::with_capacity(count);
        while picks.len() < count {
            let i = shard.random() as usize % len;
            if chosen.insert(i) {
                picks.push(i);
            }
        }
        return Ok(picks);
    }
    let mut all: Vec<usize> = (0..len).collect();
    for i in 0..count {
        let j = i + shard.random() as usize % (len - i);
        all.swap(i, j);
    }
    all.truncate(count);
    Ok(all)
}

pub fn spop(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    if args.remaining() > 1 {
        return Err(error(err::SYNTAX));
    }
    if args.is_done() {
        let Some(len) = write_as::<Set>(shard, key)?.map(|s| s.len()) else {
            return Ok(Reply::Nil);
        };
        let pick = shard.random() as usize % len;
        let set = write_as::<Set>(shard, key)?.ok_or_else(|| error(err::WRONGTYPE))?;
        let member = set.remove_at(pick);
        if set.is_empty() {
            shard.delete(key);
        }
        super::notify_removal(shard, SET_EVENTS, "spop", key);
        return Ok(Reply::Bulk(member));
    }
    let count = super::args::parse_int(&args.next()?)
        .filter(|n| *n >= 0)
        .ok_or_else(|| error(err::NOT_POSITIVE))?;
    let Some(len) = write_as::<Set>(shard, key)?.map(|s| s.len()) else {
        return Ok(Reply::Set(Vec::new()));
    };
    if count == 0 {
        shard.unchanged();
        return Ok(Reply::Set(Vec::new()));
    }
    if count as u64 >= len as u64 {
        let set = shard.delete(key);
        super::notify_removal(shard, SET_EVENTS, "spop", key);
        return Ok(match set.as_ref().map(|r| r.value()) {
            Some(ValueRef::Set(s)) => members_reply(s.iter()),
            _ => Reply::Set(Vec::new()),
        });
    }
    let mut popped = Vec::with_capacity(count as usize);
    for left in (len - count as usize + 1..=len).rev() {
        let pick = shard.random() as usize % left;
        let set = write_as::<Set>(shard, key)?.ok_or_else(|| error(err::WRONGTYPE))?;
        popped.push(Reply::Bulk(set.remove_at(pick)));
    }
    super::notify(shard, SET_EVENTS, "spop", key);
    Ok(Reply::Set(popped))
}

pub fn srandmember(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    if args.remaining() > 1 {
        return Err(error(err::SYNTAX));
    }
    if args.is_done() {
        let Some(len) = read_as::<Set>(shard, &key)?.map(|s| s.len()) else {
            return Ok(Reply::Nil);
        };
        let pick = shard.random() as usize % len;
        let set = read_as::<Set>(shard, &key)?.ok_or_else(|| error(err::WRONGTYPE))?;
        return Ok(Reply::Bulk(set.member_at(pick)));
    }
    let count = random_count(args)?;
    let Some(len) = read_as::<Set>(shard, &key)?.map(|s| s.len()) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picks = random_picks(shard, len, count)?;
    let set = read_as::<Set>(shard, &key)?.ok_or_else(|| error(err::WRONGTYPE))?;
    if picks.len() == len && count >= 0 {
        return Ok(Reply::Array(set.iter().map(Reply::Bulk).collect()));
    }
    Ok(Reply::Array(
        picks
            .into_iter()
            .map(|i| Reply::Bulk(set.member_at(i)))
            .collect(),
    ))
}

/// `[cursor, [items...]]`.
pub fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

pub fn sscan(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let cursor = args.cursor()?;
    let Some(set) = read_as::<Set>(shard, key)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let options = args.scan_options(ScanType::Refused)?;
    let mut items = Vec::new();
    let next = set.scan(cursor, options.count, |m| {
        if options.matches(&m) {
            items.push(Reply::Bulk(m));
        }
    });
    Ok(scan_reply(next, items))
}
