//! Expiry commands: EXPIRE family (NX XX GT LT), TTL family, PERSIST. Keys expire lazily on
//! access and through each shard's active expiry cycle.

use super::args::parse_int;
use super::table::{flags, keyed, row, CommandSpec, KEY1};
use super::{err, error, Args, CmdResult};
use crate::protocol::Reply;
use crate::pubsub::notify::GENERIC;
use crate::shard::Shard;

use super::notify;

/// The expiry commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "expire",
        -3,
        flags!(WRITE | FAST),
        KEY1,
        keyed(expire),
        "generic",
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
        "key seconds [NX|XX|GT|LT]",
    ),
    row(
        "pexpire",
        -3,
        flags!(WRITE | FAST),
        KEY1,
        keyed(pexpire),
        "generic",
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
        "key milliseconds [NX|XX|GT|LT]",
    ),
    row(
        "expireat",
        -3,
        flags!(WRITE | FAST),
        KEY1,
        keyed(expireat),
        "generic",
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
        "key unix-time-seconds [NX|XX|GT|LT]",
    ),
    row(
        "pexpireat",
        -3,
        flags!(WRITE | FAST),
        KEY1,
        keyed(pexpireat),
        "generic",
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        "key unix-time-milliseconds [NX|XX|GT|LT]",
    ),
    row(
        "ttl",
        2,
        flags!(READONLY | FAST),
        KEY1,
        keyed(ttl),
        "generic",
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
        "key",
    ),
    row(
        "pttl",
        2,
        flags!(READONLY | FAST),
        KEY1,
        keyed(pttl),
        "generic",
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
        "key",
    ),
    row(
        "expiretime",
        2,
        flags!(READONLY | FAST),
        KEY1,
        keyed(expiretime),
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
        "key",
    ),
    row(
        "pexpiretime",
        2,
        flags!(READONLY | FAST),
        KEY1,
        keyed(pexpiretime),
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        "key",
    ),
    row(
        "persist",
        2,
        flags!(WRITE | FAST),
        KEY1,
        keyed(persist),
        "generic",
        "2.2.0",
        "Removes the expiration time of a key.",
        "key",
    ),
];

/// The unit and base of the time argument.
#[derive(Clone, Copy)]
enum Base {
    RelativeSeconds,
    RelativeMillis,
    UnixSeconds,
    UnixMillis,
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT as Redis 7 does them.
fn expire_generic(shard: &mut Shard, args: &mut Args, base: Base, command: &str) -> CmdResult {
    let key = args.arg()?;
    let raw = args.next()?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    while let Some(word) = args.peek() {
        match word.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            // The option is quoted as it was sent.
            _ => return Err(err::unsupported_option(word)),
        }
        args.next()?;
    }
    if nx && (xx || gt || lt) {
        return Err(error(err::NX_XX_GT_LT));
    }
    if gt && lt {
        return Err(error(err::GT_LT));
    }
    let n = parse_int(&raw).ok_or_else(|| error(err::NOT_INT))?;
    let invalid = || err::invalid_expire(command);
    let seconds = matches!(base, Base::RelativeSeconds | Base::UnixSeconds);
    let mut when = if seconds {
        n.checked_mul(1000).ok_or_else(invalid)?
    } else {
        n
    };
    if matches!(base, Base::RelativeSeconds | Base::RelativeMillis) {
        when = when
            .checked_add(shard.now_ms() as i64)
            .ok_or_else(invalid)?;
    }
    let Some(current) = shard.write(key).map(|r| r.expire_at()) else {
        return Ok(Reply::Int(0));
    };
    // A persistent key counts as an infinite TTL for GT/LT.
    let refused = (nx && current != 0)
        || (xx && current == 0)
        || (gt && (current == 0 || when <= current as i64))
        || (lt && current != 0 && when >= current as i64);
    if refused {
        shard.unchanged();
        return Ok(Reply::Int(0));
    }
    if when <= shard.now_ms() as i64 {
        shard.delete(key);
        notify(shard, GENERIC, "del", key);
    } else {
        shard.db().set_expire(key, when as u64);
        notify(shard, GENERIC, "expire", key);
    }
    Ok(Reply::Int(1))
}

pub fn expire(shard: &mut Shard, args: &mut Args) -> CmdResult {
    expire_generic(shard, args, Base::RelativeSeconds, "expire")
}

pub fn pexpire(shard: &mut Shard, args: &mut Args) -> CmdResult {
    expire_generic(shard, args, Base::RelativeMillis, "pexpire")
}

pub fn expireat(shard: &mut Shard, args: &mut Args) -> CmdResult {
    expire_generic(shard, args, Base::UnixSeconds, "expireat")
}

pub fn pexpireat(shard: &mut Shard, args: &mut Args) -> CmdResult {
    expire_generic(shard, args, Base::UnixMillis, "pexpireat")
}

/// The key's expiry: None when absent, Some(0) when persistent.
fn expiry_of(shard: &mut Shard, args: &mut Args) -> Result<Option<u64>, Reply> {
    let key = args.arg()?;
    Ok(shard.read_untouched(key).map(|r| r.expire_at()))
}

/// TTL-style reply: -2 missing, -1 persistent, else `convert(expire_at)`.
fn ttl_reply(at: Option<u64>, convert: impl Fn(u64) -> i64) -> CmdResult {
    Ok(Reply::Int(match at {
        None => -2,
        Some(0) => -1,
        Some(at) => convert(at),
    }))
}

pub fn ttl(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let now = shard.now_ms();
    let at = expiry_of(shard, args)?;
    ttl_reply(at, |at| {
        ((u128::from(at.saturating_sub(now)) + 500) / 1000) as i64
    })
}

pub fn pttl(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let now = shard.now_ms();
    let at = expiry_of(shard, args)?;
    ttl_reply(at, |at| at.saturating_sub(now) as i64)
}

pub fn expiretime(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let at = expiry_of(shard, args)?;
    // Rounded without overflow: an expiry at i64::MAX ms reads 9223372036854776, as in Redis.
    ttl_reply(at, |at| ((u128::from(at) + 500) / 1000) as i64)
}

pub fn pexpiretime(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let at = expiry_of(shard, args)?;
    ttl_reply(at, |at| at as i64)
}

pub fn persist(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    match shard.write(key).map(|r| r.expire_at()) {
        Some(at) if at != 0 => {
            shard.db().set_expire(key, 0);
            notify(shard, GENERIC, "persist", key);
            Ok(Reply::Int(1))
        }
        _ => {
            shard.unchanged();
            Ok(Reply::Int(0))
        }
    }
}
