//! Bitmap commands over string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP.

use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};

use super::args::parse_int;
use super::string::{change_long_str, check_len, read_string, write_string, MAX_STRING_LEN};
use super::table::{access, flags, keyed, routine, row, CommandSpec, KEY1};
use super::{err, error, notify, Args, CmdResult, Session};
use crate::protocol::Reply;
use crate::pubsub::notify::{GENERIC, STRING};
use crate::shard::{Shard, ShardId, Value, ValueRef};

/// The bitmap commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("setbit", 4, flags!(WRITE | DENYOOM), KEY1, keyed(setbit), "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "key offset value").access(access!(RW | ACCESS | UPDATE)),
    row("getbit", 3, flags!(READONLY | FAST), KEY1, keyed(getbit), "bitmap", "2.2.0", "Returns a bit value by offset.", "key offset"),
    row("bitcount", -2, flags!(READONLY), KEY1, keyed(bitcount), "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", "key [start end [BYTE|BIT]]"),
    row("bitpos", -3, flags!(READONLY), KEY1, keyed(bitpos), "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", "key bit [start [end [BYTE|BIT]]]"),
    row("bitop", -4, flags!(WRITE | DENYOOM), (2, -1, 1), routine(bitop, bitop_cross), "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", "operation destkey key [key ...]").access_split(access!(OW | UPDATE), access!(RO | ACCESS)),
];

fn bit_offset(raw: &[u8]) -> Result<u64, Reply> {
    let n = parse_int(raw).ok_or_else(|| error(err::BAD_OFFSET))?;
    let max_bits = MAX_STRING_LEN.load(std::sync::atomic::Ordering::Relaxed) * 8;
    if n < 0 || n as u64 >= max_bits {
        return Err(error(err::BAD_OFFSET));
    }
    Ok(n as u64)
}

pub fn setbit(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let offset = bit_offset(&args.next()?)?;
    let on = match &args.next()?[..] {
        b"1" => true,
        b"0" => false,
        _ => return Err(error(err::BIT_NOT_INT)),
    };
    let byte = (offset / 8) as usize;
    check_len(byte as u64 + 1)?;
    let mask = 1u8 << (7 - (offset % 8));
    // Sets the bit in a string long enough; returns the old one.
    let set = |value: &mut [u8]| {
        let old = value[byte] & mask != 0;
        if on {
            value[byte] |= mask;
        } else {
            value[byte] &= !mask;
        }
        old
    };
    // The string's length and the byte holding the bit (when it reaches that far).
    let existing = match shard.live(key) {
        None => None,
        Some(r) => match r.value() {
            ValueRef::Str(s) => Some((s.len(), s.get(byte).copied())),
            _ => return Err(error(err::WRONGTYPE)),
        },
    };
    let old = match existing {
        // As Redis: a key created or grown, or a bit that flips, is a change; anything else
        // is not.
        Some((_, Some(current))) if (current & mask != 0) == on => {
            shard.unchanged();
            return Ok(Reply::Int(on as i64));
        }
        Some(_) => {
            // A long string (a bitmap) changes in place; an inline one is rebuilt.
            let grow_and_set = |value: &mut BytesMut| {
                if value.len() <= byte {
                    value.resize(byte + 1, 0);
                }
                set(value)
            };
            match change_long_str(shard, key, grow_and_set) {
                Some(old) => old,
                None => {
                    let Some((current, expire)) = write_string(shard, key)? else {
                        return Ok(Reply::Int(0));
                    };
                    let mut value = current.to_vec();
                    if value.len() <= byte {
                        value.resize(byte + 1, 0);
                    }
                    let old = set(&mut value);
                    shard.store(key, Value::Str(Bytes::from(value)), expire);
                    old
                }
            }
        }
        None => {
            let mut value = vec![0u8; byte + 1];
            let old = set(&mut value);
            shard.store(key, Value::Str(Bytes::from(value)), 0);
            old
        }
    };
    notify(shard, STRING, "setbit", key);
    Ok(Reply::Int(old as i64))
}

pub fn getbit(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let offset = bit_offset(&args.next()?)?;
    let value = read_string(shard, key)?.unwrap_or_default();
    let byte = (offset / 8) as usize;
    let bit = value
        .get(byte)
        .is_some_and(|b| b & (1 << (7 - offset % 8)) != 0);
    Ok(Reply::Int(bit as i64))
}

/// Resolves a start/end pair against `len` units the way Redis does; None for an empty range.
fn range(mut start: i64, mut end: i64, len: i64) -> Option<(i64, i64)> {
    if start < 0 {
        start = (len + start).max(0);
    }
    if end < 0 {
        end = (len + end).max(0);
    }
    end = end.min(len - 1);
    (start <= end && len > 0).then_some((start, end))
}

/// Reads the optional `BYTE|BIT` unit: true for bits.
fn unit(args: &Args) -> Result<bool, Reply> {
    if args.is_done() {
        return Ok(false);
    }
    if args.keyword("BIT") {
        return Ok(true);
    }
    if args.keyword("BYTE") {
        return Ok(false);
    }
    Err(error(err::SYNTAX))
}

fn bit_at(value: &[u8], bit: i64) -> bool {
    value[(bit / 8) as usize] & (1 << (7 - bit % 8)) != 0
}

pub fn bitcount(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    // Redis 7.0/7.2 look the key up before reading the range: a missing key counts 0
    // whatever follows.
    let Some(value) = read_string(shard, &key)? else {
        return Ok(Reply::Int(0));
    };
    let (start, end, bits) = match args.remaining() {
        0 => return Ok(Reply::Int(count_ones(&value))),
        2 | 3 => {
            let (start, end) = (args.int()?, args.int()?);
            // Both negative and crossed: empty before the unit is even read.
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            (start, end, unit(args)?)
        }
        _ => return Err(error(err::SYNTAX)),
    };
    let count = if bits {
        match range(start, end, value.len() as i64 * 8) {
            None => 0,
            Some((s, e)) => (s..=e).filter(|&b| bit_at(&value, b)).count() as i64,
        }
    } else {
        match range(start, end, value.len() as i64) {
            None => 0,
            Some((s, e)) => count_ones(&value[s as usize..=e as usize]),
        }
    };
    Ok(Reply::Int(count))
}

fn count_ones(bytes: &[u8]) -> i64 {
    bytes.iter().map(|b| b.count_ones() as i64).sum()
}

pub fn bitpos(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let wanted = match parse_int(&args.next()?) {
        Some(1) => true,
        Some(0) => false,
        Some(_) => return Err(error(err::BIT_NOT_BINARY)),
        None => return Err(error(err::NOT_INT)),
    };
    // Redis's order: the bit, the key, the start, the unit, then the end.
    let Some(value) = read_string(shard, &key)? else {
        return Ok(Reply::Int(if wanted { -1 } else { 0 }));
    };
    let extra = args.remaining();
    if extra > 3 {
        return Err(error(err::SYNTAX));
    }
    let start = if extra >= 1 { Some(args.int()?) } else { None };
    let raw_end = if extra >= 2 { Some(args.arg()?) } else { None };
    let bits = unit(args)?;
    let end = match raw_end {
        Some(raw) => Some(parse_int(raw).ok_or_else(|| error(err::NOT_INT))?),
        None => None,
    };
    let total_bits = value.len() as i64 * 8;
    let (first, last) = if bits {
        let len = total_bits;
        match range(start.unwrap_or(0), end.unwrap_or(len - 1), len) {
            Some(r) => r,
            None => return Ok(Reply::Int(-1)),
        }
    } else {
        let len = value.len() as i64;
        match range(start.unwrap_or(0), end.unwrap_or(len - 1), len) {
            Some((s, e)) => (s * 8, e * 8 + 7),
            None => return Ok(Reply::Int(-1)),
        }
    };
    if let Some(found) = (first..=last).find(|&b| bit_at(&value, b) == wanted) {
        return Ok(Reply::Int(found));
    }
    // Looking for a clear bit with no end given: the string is padded with zeros on the right.
    if !wanted && end.is_none() {
        return Ok(Reply::Int(last + 1));
    }
    Ok(Reply::Int(-1))
}

/// The operation BITOP names.
#[derive(Clone, Copy)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn parse_op(args: &mut Args) -> Result<BitOp, Reply> {
    let op = match args.next()?.to_ascii_uppercase().as_slice() {
        b"AND" => BitOp::And,
        b"OR" => BitOp::Or,
        b"XOR" => BitOp::Xor,
        b"NOT" => BitOp::Not,
        _ => return Err(error(err::SYNTAX)),
    };
    if matches!(op, BitOp::Not) && args.remaining() != 2 {
        return Err(error(err::BITOP_NOT_ONE_KEY));
    }
    Ok(op)
}

fn combine(op: BitOp, sources: &[Bytes]) -> Vec<u8> {
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    (0..len)
        .map(|i| {
            let byte = |s: &Bytes| s.get(i).copied().unwrap_or(0);
            match op {
                BitOp::Not => !byte(&sources[0]),
                BitOp::And => sources.iter().map(byte).fold(0xff, |a, b| a & b),
                BitOp::Or => sources.iter().map(byte).fold(0, |a, b| a | b),
                BitOp::Xor => sources.iter().map(byte).fold(0, |a, b| a ^ b),
            }
        })
        .collect()
}

/// BITOP's result into `dest`: stored, or `dest` deleted when it is empty. Only `dest` is
/// signalled, and only when it changed; the sources are not.
fn store_result(shard: &mut Shard, dest: &[u8], result: Vec<u8>) -> Reply {
    shard.unchanged();
    let len = result.len() as i64;
    if !result.is_empty() {
        shard.store(dest, Value::Str(Bytes::from(result)), 0);
        notify(shard, STRING, "set", dest);
    } else if shard.delete(dest).is_some() {
        notify(shard, GENERIC, "del", dest);
    }
    Reply::Int(len)
}

pub fn bitop(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let op = parse_op(args)?;
    let dest = args.next()?;
    let mut sources = Vec::new();
    for key in args.rest().to_vec() {
        sources.push(read_string(shard, &key)?.unwrap_or_default());
    }
    Ok(store_result(shard, &dest, combine(op, &sources)))
}

/// BITOP with keys on several shards: hold them all, read the sources, store the result.
pub fn bitop_cross(
    session: &mut Session,
    mut args: Args,
) -> Pin<Box<dyn Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        let op = parse_op(&mut args)?;
        let dest = args.next()?;
        let keys = args.rest().to_vec();
        let db = session.db;
        let mut shards: Vec<ShardId> = keys.iter().map(|k| session.router.shard_of(k)).collect();
        let dest_shard = session.router.shard_of(&dest);
        shards.push(dest_shard);
        let holding = session.router.hold(&shards).await;
        let mut sources = Vec::with_capacity(keys.len());
        for key in keys {
            let shard = session.router.shard_of(&key);
            let value = holding
                .run(shard, move |s| {
                    s.select(db);
                    read_string(s, &key)
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))??;
            sources.push(value.unwrap_or_default());
        }
        let result = combine(op, &sources);
        holding
            .run(dest_shard, move |s| {
                s.select(db);
                store_result(s, &dest, result)
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))
    })
}
