//! String commands: GET/SET and friends, counters, ranges, LCS. The *Op* halves run on the shard
//! owning the key; MSETNX and LCS also have multi-shard routines.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::{Bytes, BytesMut};

use super::args::{ok, parse_float, parse_int, FloatRule};
use super::table::{access, flags, keyed, routine, row, split, CommandSpec, KEY1, KEY12, KEYS_ALL};
use super::Merge;
use super::{err, error, Args, CmdResult, Session};
use crate::protocol::reply::{write_int, MAX_INT_LEN};
use crate::protocol::Reply;
use crate::pubsub::notify::{GENERIC, STRING};
use crate::shard::record::StrRef;
use crate::shard::{Shard, ShardId, Value, ValueRef};

use super::notify;

/// The strings commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("get", 2, flags!(READONLY | FAST), KEY1, keyed(get), "string", "1.0.0", "Returns the string value of a key.", "key"),
    row("set", -3, flags!(WRITE | DENYOOM), KEY1, keyed(set), "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]").access(access!(RW | ACCESS | UPDATE | VARIABLE_FLAGS)),
    row("setnx", 3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(setnx), "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", "key value").access(access!(OW | INSERT)),
    row("setex", 4, flags!(WRITE | DENYOOM), KEY1, keyed(setex), "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "key seconds value").access(access!(OW | UPDATE)),
    row("psetex", 4, flags!(WRITE | DENYOOM), KEY1, keyed(psetex), "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "key milliseconds value").access(access!(OW | UPDATE)),
    row("getset", 3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(getset), "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", "key value").access(access!(RW | ACCESS | UPDATE)),
    row("getdel", 2, flags!(WRITE | FAST), KEY1, keyed(getdel), "string", "6.2.0", "Returns the string value of a key after deleting the key.", "key").access(access!(RW | ACCESS | DELETE)),
    row("getex", -2, flags!(WRITE | FAST), KEY1, keyed(getex), "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]").access(access!(RW | ACCESS | UPDATE)),
    row("mget", -2, flags!(READONLY | FAST), KEYS_ALL, split(mget, Merge::Positional, false), "string", "1.0.0", "Atomically returns the string values of one or more keys.", "key [key ...]"),
    row("mset", -3, flags!(WRITE | DENYOOM), (1, -1, 2), split(mset, Merge::Ok, true), "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "key value [key value ...]").access(access!(OW | UPDATE)),
    row("msetnx", -3, flags!(WRITE | DENYOOM), (1, -1, 2), routine(msetnx, msetnx_cross), "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "key value [key value ...]").access(access!(OW | INSERT)),
    row("append", 3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(append), "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "key value").access(access!(RW | INSERT)),
    row("strlen", 2, flags!(READONLY | FAST), KEY1, keyed(strlen), "string", "2.2.0", "Returns the length of a string value.", "key").access(access!(RO)),
    row("incr", 2, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(incr), "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key").access(access!(RW | ACCESS | UPDATE)),
    row("decr", 2, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(decr), "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key").access(access!(RW | ACCESS | UPDATE)),
    row("incrby", 3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(incrby), "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment").access(access!(RW | ACCESS | UPDATE)),
    row("decrby", 3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(decrby), "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "key decrement").access(access!(RW | ACCESS | UPDATE)),
    row("incrbyfloat", 3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(incrbyfloat), "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment").access(access!(RW | ACCESS | UPDATE)),
    row("getrange", 4, flags!(READONLY), KEY1, keyed(getrange), "string", "2.4.0", "Returns a substring of the string stored at a key.", "key start end"),
    row("substr", 4, flags!(READONLY), KEY1, keyed(getrange), "string", "1.0.0", "Returns a substring from a string value.", "key start end"),
    row("setrange", 4, flags!(WRITE | DENYOOM), KEY1, keyed(setrange), "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "key offset value"),
    row("lcs", -3, flags!(READONLY), KEY12, routine(lcs, lcs_cross), "string", "7.0.0", "Finds the longest common substring.", "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]"),
];

/// proto-max-bulk-len as strings see it: no string may grow beyond it (CONFIG SET updates it).
pub static MAX_STRING_LEN: AtomicU64 = AtomicU64::new(512 << 20);

/// Values shorter than this are copied out of the read buffer so they don't pin it; longer
/// ones keep the zero-copy slice (they dominate the chunk they arrived in).
const COPY_BELOW: usize = 16 * 1024;

/// Stores the value argument `value` under `key`: copied from the argument (no reference to its
/// buffer kept or counted), except a long one, which keeps the zero-copy slice. Inlined: it is
/// SET's whole store, on the hot path.
#[inline(always)]
fn store_value(shard: &mut Shard, key: &[u8], value: &Bytes, expire: u64) {
    if value.len() < COPY_BELOW {
        shard.store_str(key, value, expire);
    } else {
        shard.store(key, Value::Str(value.clone()), expire);
    }
}

/// The string at `key` (None if absent); WRONGTYPE for other types. Counts a hit or miss.
pub fn read_string(shard: &mut Shard, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match shard.read(key) {
        None => Ok(None),
        Some(record) => match record.value() {
            ValueRef::Str(s) => Ok(Some(s.to_bytes())),
            _ => Err(error(err::WRONGTYPE)),
        },
    }
}

/// The string at `key` for a write (no hit/miss accounting), with its expiry.
pub(super) fn write_string(shard: &mut Shard, key: &[u8]) -> Result<Option<(Bytes, u64)>, Reply> {
    match shard.live(key) {
        None => Ok(None),
        Some(record) => match record.value() {
            ValueRef::Str(s) => Ok(Some((s.to_bytes(), record.expire_at()))),
            _ => Err(error(err::WRONGTYPE)),
        },
    }
}

pub fn check_len(len: u64) -> Result<(), Reply> {
    if len > MAX_STRING_LEN.load(Relaxed) {
        Err(error(err::STRING_TOO_LONG))
    } else {
        Ok(())
    }
}

/// What a SET/GETEX-style command does with the key's time to live.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ttl {
    /// Drop any expiry (a plain SET).
    Clear,
    /// Keep the current expiry (KEEPTTL; GETEX without options).
    Keep,
    /// Remove the expiry (GETEX PERSIST).
    Persist,
    /// Expire at this Unix ms time.
    At(u64),
}

/// Unit and base of an expiry argument.
#[derive(Clone, Copy)]
enum ExpireArg {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

/// Turns an expiry argument into an absolute Unix ms time with Redis's checks and texts.
fn expire_at(shard: &Shard, raw: &[u8], kind: ExpireArg, command: &str) -> Result<u64, Reply> {
    let n = parse_int(raw).ok_or_else(|| error(err::NOT_INT))?;
    let invalid = || err::invalid_expire(command);
    let seconds = matches!(kind, ExpireArg::Seconds | ExpireArg::UnixSeconds);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if matches!(kind, ExpireArg::Seconds | ExpireArg::Millis) {
        ms = ms.checked_add(shard.now_ms() as i64).ok_or_else(invalid)?;
    }
    Ok(ms as u64)
}

/// Options shared by SET and GETEX: NX/XX/GET and the expiry forms.
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    ttl: Ttl,
    /// An EX/PX/EXAT/PXAT argument not yet read: Redis checks the grammar first and the
    /// number later (GETEX only after looking the key up).
    expiry: Option<(ExpireArg, Bytes)>,
}

impl SetOptions {
    /// Reads the pending expiry argument into `ttl`, with Redis's checks and texts. Inlined
    /// to one test when there is none (a plain SET, the hot path).
    #[inline(always)]
    fn resolve_expiry(&mut self, shard: &Shard, command: &str) -> Result<(), Reply> {
        if self.expiry.is_none() {
            return Ok(());
        }
        self.read_expiry(shard, command)
    }

    #[inline(never)]
    fn read_expiry(&mut self, shard: &Shard, command: &str) -> Result<(), Reply> {
        if let Some((kind, raw)) = self.expiry.take() {
            self.ttl = Ttl::At(expire_at(shard, &raw, kind, command)?);
        }
        Ok(())
    }
}

/// Parses SET (`for_set`) or GETEX options the way Redis does: a flag conflicting with an
/// earlier one is a syntax error; repeating the same one is allowed.
fn parse_set_options(args: &Args, for_set: bool) -> Result<SetOptions, Reply> {
    let mut o = SetOptions {
        nx: false,
        xx: false,
        get: false,
        ttl: if for_set { Ttl::Clear } else { Ttl::Keep },
        expiry: None,
    };
    let mut expiry: Option<(ExpireArg, Bytes)> = None;
    let mut keepttl = false;
    let mut persist = false;
    while let Some(word) = args.peek().map(|w| w.to_ascii_uppercase()) {
        args.next()?;
        let has_next = !args.is_done();
        let expire_kind = match word.as_slice() {
            b"EX" => Some(ExpireArg::Seconds),
            b"PX" => Some(ExpireArg::Millis),
            b"EXAT" => Some(ExpireArg::UnixSeconds),
            b"PXAT" => Some(ExpireArg::UnixMillis),
            _ => None,
        };
        let other_expiry = |k: Option<&(ExpireArg, Bytes)>| {
            k.is_some_and(|(have, _)| {
                std::mem::discriminant(have)
                    != std::mem::discriminant(&expire_kind.unwrap_or(ExpireArg::Seconds))
            })
        };
        match word.as_slice() {
            b"NX" if for_set && !o.xx => o.nx = true,
            b"XX" if for_set && !o.nx => o.xx = true,
            b"GET" if for_set => o.get = true,
            b"KEEPTTL" if for_set && !persist && expiry.is_none() => keepttl = true,
            b"PERSIST" if !for_set && expiry.is_none() && !keepttl => persist = true,
            _ if expire_kind.is_some()
                && has_next
                && !keepttl
                && !persist
                && !other_expiry(expiry.as_ref()) =>
            {
                expiry = Some((expire_kind.unwrap_or(ExpireArg::Seconds), args.next()?));
            }
            _ => return Err(error(err::SYNTAX)),
        }
    }
    if expiry.is_some() {
        o.expiry = expiry;
    } else if keepttl {
        o.ttl = Ttl::Keep;
    } else if persist {
        o.ttl = Ttl::Persist;
    }
    Ok(o)
}

pub fn get(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    match shard.read(key) {
        None => Ok(Reply::Nil),
        Some(record) => match record.value() {
            ValueRef::Str(s) => Ok(string_reply(s)),
            _ => Err(error(err::WRONGTYPE)),
        },
    }
}

/// The bulk reply of a stored string: a short one copied into the reply, a long one shared.
fn string_reply(s: StrRef) -> Reply {
    match s {
        StrRef::Inline(bytes) => Reply::bulk_copy(bytes),
        StrRef::Shared(bytes) => Reply::bulk_of(bytes),
    }
}

pub fn set(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let value = args.arg()?;
    let mut o = parse_set_options(args, true)?;
    o.resolve_expiry(shard, "set")?;
    let old = if o.get {
        read_string(shard, key)?
    } else {
        None
    };
    let record = shard.live_mut(key);
    let current_ttl = record.as_ref().map(|r| r.expire_at());
    let exists = current_ttl.is_some();
    if (o.nx && exists) || (o.xx && !exists) {
        shard.unchanged();
        return Ok(if o.get {
            old.map_or(Reply::Nil, Reply::Bulk)
        } else {
            Reply::Nil
        });
    }
    let expire = match o.ttl {
        Ttl::At(at) => at,
        Ttl::Keep => current_ttl.unwrap_or(0),
        Ttl::Clear | Ttl::Persist => 0,
    };
    // A short string over one of the same length and expiry is rewritten where it is stored.
    let in_place =
        record.is_some_and(|record| record.expire_at() == expire && record.overwrite_inline(value));
    if !in_place {
        store_value(shard, key, value, expire);
    }
    notify(shard, STRING, "set", key);
    if let Ttl::At(_) = o.ttl {
        notify(shard, GENERIC, "expire", key);
    }
    Ok(if o.get {
        old.map_or(Reply::Nil, Reply::Bulk)
    } else {
        Reply::Simple("OK")
    })
}

pub fn setnx(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let value = args.arg()?;
    if shard.exists(key) {
        shard.unchanged();
        return Ok(Reply::Int(0));
    }
    store_value(shard, key, value, 0);
    notify(shard, STRING, "set", key);
    Ok(Reply::Int(1))
}

fn set_with_expiry(
    shard: &mut Shard,
    args: &mut Args,
    kind: ExpireArg,
    command: &str,
) -> CmdResult {
    let key = args.arg()?;
    let raw = args.next()?;
    let value = args.arg()?;
    let at = expire_at(shard, &raw, kind, command)?;
    store_value(shard, key, value, at);
    notify(shard, STRING, "set", key);
    notify(shard, GENERIC, "expire", key);
    ok()
}

pub fn setex(shard: &mut Shard, args: &mut Args) -> CmdResult {
    set_with_expiry(shard, args, ExpireArg::Seconds, "setex")
}

pub fn psetex(shard: &mut Shard, args: &mut Args) -> CmdResult {
    set_with_expiry(shard, args, ExpireArg::Millis, "psetex")
}

pub fn getset(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let value = args.arg()?;
    let old = read_string(shard, key)?;
    store_value(shard, key, value, 0);
    notify(shard, STRING, "set", key);
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

pub fn getdel(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let old = read_string(shard, key)?;
    if old.is_some() {
        shard.delete(key);
        notify(shard, GENERIC, "del", key);
    }
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

pub fn getex(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let mut o = parse_set_options(args, false)?;
    // Every change below is signalled where it is made; a plain GETEX changes nothing.
    shard.unchanged();
    let Some(value) = read_string(shard, &key)? else {
        return Ok(Reply::Nil);
    };
    o.resolve_expiry(shard, "getex")?;
    match o.ttl {
        Ttl::At(at) if at <= shard.now_ms() => {
            shard.delete(&key);
            notify(shard, GENERIC, "del", &key);
        }
        Ttl::At(at) => {
            shard.db().set_expire(&key, at);
            notify(shard, GENERIC, "expire", &key);
        }
        Ttl::Persist => {
            if shard.db().get_raw(&key).is_some_and(|r| r.has_expiry()) {
                shard.db().set_expire(&key, 0);
                notify(shard, GENERIC, "persist", &key);
            }
        }
        Ttl::Keep | Ttl::Clear => {}
    }
    Ok(Reply::Bulk(value))
}

pub fn mget(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let keys = args.rest();
    shard.prefetch_keys(keys.iter());
    let values = keys
        .iter()
        .map(|k| match shard.read(k).map(|record| record.value()) {
            Some(ValueRef::Str(s)) => string_reply(s),
            _ => Reply::Nil,
        })
        .collect();
    Ok(Reply::Array(values))
}

fn check_pairs(args: &Args, name: &str) -> Result<(), Reply> {
    if args.all().len().is_multiple_of(2) {
        Err(super::err::arity(name))
    } else {
        Ok(())
    }
}

pub fn mset(shard: &mut Shard, args: &mut Args) -> CmdResult {
    check_pairs(args, "mset")?;
    let pairs = args.rest();
    shard.prefetch_keys(pairs.iter().step_by(2));
    for pair in pairs.chunks(2) {
        store_value(shard, &pair[0], &pair[1], 0);
        notify(shard, STRING, "set", &pair[0]);
    }
    ok()
}

pub fn msetnx(shard: &mut Shard, args: &mut Args) -> CmdResult {
    check_pairs(args, "msetnx")?;
    let pairs = args.rest();
    shard.prefetch_keys(pairs.iter().step_by(2));
    if pairs.chunks(2).any(|p| shard.exists(&p[0])) {
        shard.unchanged();
        return Ok(Reply::Int(0));
    }
    for pair in pairs.chunks(2) {
        store_value(shard, &pair[0], &pair[1], 0);
        notify(shard, STRING, "set", &pair[0]);
    }
    Ok(Reply::Int(1))
}

/// MSETNX across shards: hold every shard involved, check all, then set all.
pub fn msetnx_cross(
    session: &mut Session,
    args: Args,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        check_pairs(&args, "msetnx")?;
        let db = session.db;
        let mut by_shard: Vec<(ShardId, Vec<Bytes>)> = Vec::new();
        for pair in args.all()[1..].chunks(2) {
            let shard = session.router.shard_of(&pair[0]);
            match by_shard.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, items)) => items.extend_from_slice(pair),
                None => by_shard.push((shard, pair.to_vec())),
            }
        }
        let shards: Vec<ShardId> = by_shard.iter().map(|(s, _)| *s).collect();
        let holding = session.router.hold(&shards).await;
        for (shard, items) in &by_shard {
            let keys: Vec<Bytes> = items.chunks(2).map(|p| p[0].clone()).collect();
            let any = holding
                .run(*shard, move |s| {
                    s.select(db);
                    keys.iter().any(|k| s.exists(k))
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))?;
            if any {
                return Ok(Reply::Int(0));
            }
        }
        for (shard, items) in by_shard {
            holding
                .run(shard, move |s| {
                    s.select(db);
                    for pair in items.chunks(2) {
                        store_value(s, &pair[0], &pair[1], 0);
                        notify(s, STRING, "set", &pair[0]);
                    }
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))?;
        }
        Ok(Reply::Int(1))
    })
}

pub fn append(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let tail = args.next()?;
    let Some(current_len) = write_len(shard, key)? else {
        store_value(shard, key, &tail, 0);
        notify(shard, STRING, "append", key);
        return Ok(Reply::Int(tail.len() as i64));
    };
    let len = current_len + tail.len();
    check_len(len as u64)?;
    // A long string grows in place, with room to spare as a Vec grows (amortized, as
    // Redis's sds): appending in a loop costs what it appends, not the whole string again.
    if change_long_str(shard, key, |value| value.extend_from_slice(&tail)).is_none() {
        if let Some((current, expire)) = write_string(shard, key)? {
            let mut joined = Vec::with_capacity(len);
            joined.extend_from_slice(&current);
            joined.extend_from_slice(&tail);
            shard.store(key, Value::Str(Bytes::from(joined)), expire);
        }
    }
    notify(shard, STRING, "append", key);
    Ok(Reply::Int(len as i64))
}

pub fn strlen(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    Ok(Reply::Int(
        read_string(shard, key)?.map_or(0, |v| v.len() as i64),
    ))
}

/// Adds `delta` to the integer at `key` (0 when absent), keeping its expiry.
fn add_int(shard: &mut Shard, key: &[u8], delta: i64) -> CmdResult {
    // Parsed where it is stored, and written back there when the digits keep their count.
    let (next, expire, record) = match shard.live_mut(key) {
        None => (delta, 0, None),
        Some(record) => {
            let current = match record.value() {
                ValueRef::Str(s) => parse_int(&s).ok_or_else(|| error(err::NOT_INT))?,
                _ => return Err(error(err::WRONGTYPE)),
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| error(err::OVERFLOW))?;
            (next, record.expire_at(), Some(record))
        }
    };
    let mut digits = [0u8; MAX_INT_LEN];
    let len = write_int(next, &mut digits);
    let digits = &digits[..len];
    if !record.is_some_and(|record| record.overwrite_inline(digits)) {
        shard.store_str(key, digits, expire);
    }
    notify(shard, STRING, "incrby", key);
    Ok(Reply::Int(next))
}

pub fn incr(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    add_int(shard, key, 1)
}

pub fn decr(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    add_int(shard, key, -1)
}

pub fn incrby(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let delta = args.int()?;
    add_int(shard, key, delta)
}

pub fn decrby(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let delta = args.int()?;
    let delta = delta
        .checked_neg()
        .ok_or_else(|| error(err::DECR_OVERFLOW))?;
    add_int(shard, key, delta)
}

/// Formats a float the way INCRBYFLOAT stores it: plain decimal, no exponent, no trailing zeros.
pub fn format_float(value: f64) -> String {
    let text = format!("{value}");
    if text == "-0" {
        "0".into()
    } else {
        text
    }
}

pub fn incrbyfloat(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let raw_delta = args.arg()?;
    // Redis's order: the key's type, then the stored value, then the increment (string2ld).
    let long_double =
        |raw: &[u8]| parse_float(raw, FloatRule::LongDouble).ok_or_else(|| error(err::NOT_FLOAT));
    let (current, expire) = match write_string(shard, key)? {
        Some((v, e)) => (long_double(&v)?, e),
        None => (0.0, 0),
    };
    let delta = long_double(raw_delta)?;
    let next = current + delta;
    if !next.is_finite() {
        return Err(error(err::INCR_NAN));
    }
    let text = Bytes::from(format_float(next));
    shard.store(key, Value::Str(text.clone()), expire);
    notify(shard, STRING, "incrbyfloat", key);
    Ok(Reply::Bulk(text))
}

pub fn getrange(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let mut start = args.int()?;
    let mut end = args.int()?;
    let value = read_string(shard, key)?.unwrap_or_default();
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    if start < 0 {
        start = len.saturating_add(start);
    }
    if end < 0 {
        end = len.saturating_add(end);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if len == 0 || start > end {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    Ok(Reply::Bulk(value.slice(start as usize..=end as usize)))
}

/// The length of the string at `key` for a write (no hit/miss accounting); None when absent.
fn write_len(shard: &mut Shard, key: &[u8]) -> Result<Option<usize>, Reply> {
    match shard.live(key) {
        None => Ok(None),
        Some(record) => match record.value() {
            ValueRef::Str(s) => Ok(Some(s.len())),
            _ => Err(error(err::WRONGTYPE)),
        },
    }
}

/// Changes the long string at `key` in place (see `Record::change_long_str`): None when it is
/// an inline one, which the caller rebuilds (it is short).
pub(super) fn change_long_str<R>(
    shard: &mut Shard,
    key: &[u8],
    f: impl FnOnce(&mut BytesMut) -> R,
) -> Option<R> {
    shard.write(key)?.change_long_str(f)
}

pub fn setrange(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let offset = args.int()?;
    let patch = args.next()?;
    if offset < 0 {
        return Err(error(err::OFFSET_RANGE));
    }
    let Some(current_len) = write_len(shard, key)? else {
        if patch.is_empty() {
            shard.unchanged();
            return Ok(Reply::Int(0));
        }
        check_len(offset as u64 + patch.len() as u64)?;
        // Sized once: growing by the patch would double the block (a 100 KB value held 200 KB).
        let mut value = Vec::with_capacity(offset as usize + patch.len());
        value.resize(offset as usize, 0);
        value.extend_from_slice(&patch);
        let len = value.len();
        shard.store(key, Value::Str(Bytes::from(value)), 0);
        notify(shard, STRING, "setrange", key);
        return Ok(Reply::Int(len as i64));
    };
    if patch.is_empty() {
        shard.unchanged();
        return Ok(Reply::Int(current_len as i64));
    }
    check_len(offset as u64 + patch.len() as u64)?;
    let (offset, end) = (offset as usize, offset as usize + patch.len());
    let patch_into = |value: &mut [u8]| value[offset..end].copy_from_slice(&patch);
    let in_place = change_long_str(shard, key, |value| {
        if value.len() < end {
            value.resize(end, 0);
        }
        patch_into(value);
        value.len()
    });
    let len = match in_place {
        Some(len) => len,
        None => {
            let Some((current, expire)) = write_string(shard, key)? else {
                return Ok(Reply::Int(0));
            };
            let mut value = Vec::with_capacity(current.len().max(end));
            value.extend_from_slice(&current);
            if value.len() < end {
                value.resize(end, 0);
            }
            patch_into(&mut value);
            let len = value.len();
            shard.store(key, Value::Str(Bytes::from(value)), expire);
            len
        }
    };
    notify(shard, STRING, "setrange", key);
    Ok(Reply::Int(len as i64))
}

/// The string at `key` for LCS: missing keys are empty, other types an error.
fn lcs_operand(shard: &mut Shard, key: &[u8]) -> Result<Bytes, Reply> {
    read_string(shard, key)
        .map_err(|_| error(err::LCS_NOT_STRINGS))
        .map(Option::unwrap_or_default)
}

pub fn lcs(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let a = lcs_operand(shard, &args.next()?)?;
    let b = lcs_operand(shard, &args.next()?)?;
    lcs_reply(&a, &b, args)
}

/// LCS with its two keys on different shards: fetch both, compute here.
pub fn lcs_cross(
    session: &mut Session,
    mut args: Args,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        let db = session.db;
        let mut operands = Vec::with_capacity(2);
        for _ in 0..2 {
            let key = args.next()?;
            let shard = session.router.shard_of(&key);
            let value = session
                .router
                .run(shard, move |s| {
                    s.select(db);
                    lcs_operand(s, &key)
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))??;
            operands.push(value);
        }
        lcs_reply(&operands[0], &operands[1], &mut args)
    })
}

/// Redis's LCS: dynamic programming table, then a walk back from the end emitting ranges.
fn lcs_reply(a: &[u8], b: &[u8], args: &mut Args) -> CmdResult {
    let (mut want_idx, mut want_len, mut with_len, mut min_len) = (false, false, false, 0i64);
    while !args.is_done() {
        if args.keyword("IDX") {
            want_idx = true;
        } else if args.keyword("LEN") {
            want_len = true;
        } else if args.keyword("WITHMATCHLEN") {
            with_len = true;
        } else if args.remaining() >= 2 && args.keyword("MINMATCHLEN") {
            min_len = args.int()?.max(0);
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    if want_idx && want_len {
        return Err(error(err::LCS_LEN_AND_IDX));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > MAX_STRING_LEN.load(Relaxed) {
        return Err(error(err::LCS_TOO_BIG));
    }
    let width = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen] as usize;
    if want_len {
        return Ok(Reply::Int(total as i64));
    }
    let mut common = vec![0u8; total];
    let mut matches = Vec::new();
    let (mut i, mut j, mut idx) = (alen, blen, total);
    let unset = alen;
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (unset, 0usize, 0usize, 0usize);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            common[idx - 1] = a[i - 1];
            if a_start == unset {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != unset {
                emit = true;
            }
        }
        if emit {
            let match_len = a_end - a_start + 1;
            if want_idx && (min_len == 0 || match_len as i64 >= min_len) {
                let mut item = vec![
                    Reply::Array(vec![Reply::Int(a_start as i64), Reply::Int(a_end as i64)]),
                    Reply::Array(vec![Reply::Int(b_start as i64), Reply::Int(b_end as i64)]),
                ];
                if with_len {
                    item.push(Reply::Int(match_len as i64));
                }
                matches.push(Reply::Array(item));
            }
            a_start = unset;
        }
    }
    if want_idx {
        return Ok(Reply::Map(vec![
            (
                Reply::Bulk(Bytes::from_static(b"matches")),
                Reply::Array(matches),
            ),
            (
                Reply::Bulk(Bytes::from_static(b"len")),
                Reply::Int(total as i64),
            ),
        ]));
    }
    Ok(Reply::Bulk(Bytes::from(common)))
}
