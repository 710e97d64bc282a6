//! Stream commands. This file holds the table rows, ID parsing, the shared helpers and the
//! single-key entry commands (XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID); reads
//! (XREAD, XREADGROUP and their blocking forms), consumer groups and XINFO live in the
//! `stream/` submodules. The *Op* halves run on the shard owning the key.

mod group;
mod info;
mod read;

use crate::command::{read_as, write_as};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;

use super::args::parse_int;
use super::table::{
    access, container, flags, keyed, row, streams_keys, CommandSpec, KeyFinder, KEY1, NOKEY, SUBKEY,
};
use super::{err, error, Args, CmdResult, Kind};
use crate::protocol::Reply;
use crate::pubsub::notify::STREAM as STREAM_EVENTS;
use crate::shard::types::{Fields, NodeLimits, Stream, StreamId, Trim};
use crate::shard::{Shard, Value};

/// The stream commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("xadd", -5, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(xadd), "stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist.", "key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]"),
    row("xlen", 2, flags!(READONLY | FAST), KEY1, keyed(xlen), "stream", "5.0.0", "Return the number of messages in a stream.", "key").access(access!(RO)),
    row("xrange", -4, flags!(READONLY), KEY1, keyed(xrange), "stream", "5.0.0", "Returns the messages from a stream within a range of IDs.", "key start end [COUNT count]"),
    row("xrevrange", -4, flags!(READONLY), KEY1, keyed(xrevrange), "stream", "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order.", "key end start [COUNT count]"),
    row("xdel", -3, flags!(WRITE | FAST), KEY1, keyed(xdel), "stream", "5.0.0", "Returns the number of messages after removing them from a stream.", "key id [id ...]").access(access!(RW | DELETE)),
    row("xtrim", -4, flags!(WRITE), KEY1, keyed(xtrim), "stream", "5.0.0", "Deletes messages from the beginning of a stream.", "key MAXLEN|MINID [=|~] threshold [LIMIT count]").access(access!(RW | DELETE)),
    row("xsetid", -3, flags!(WRITE | DENYOOM | FAST), KEY1, keyed(xsetid), "stream", "5.0.0", "An internal command for replicating stream values.", "key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]"),
    row("xread", -4, flags!(READONLY | BLOCKING), (0, 0, 0), Kind::Routed(read::xread), "stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.", "[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]").keys_by(KeyFinder::Custom(streams_keys)),
    row("xreadgroup", -7, flags!(WRITE | BLOCKING), (0, 0, 0), Kind::Routed(read::xreadgroup), "stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]").keys_by(KeyFinder::Custom(streams_keys)).access(access!(RO | ACCESS)),
    row("xack", -4, flags!(WRITE | FAST), KEY1, keyed(group::xack), "stream", "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.", "key group id [id ...]"),
    row("xpending", -3, flags!(READONLY), KEY1, keyed(group::xpending), "stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list.", "key group [[IDLE min-idle-time] start end count [consumer]]"),
    row("xclaim", -6, flags!(WRITE | FAST), KEY1, keyed(group::xclaim), "stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.", "key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]"),
    row("xautoclaim", -6, flags!(WRITE | FAST), KEY1, keyed(group::xautoclaim), "stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.", "key group consumer min-idle-time start [COUNT count] [JUSTID]").access(access!(RW | DELETE)),
    container("xgroup", "stream", "5.0.0", "A container for consumer groups commands", XGROUP_SUBCOMMANDS),
    container("xinfo", "stream", "5.0.0", "A container for stream introspection commands", XINFO_SUBCOMMANDS),
];

#[rustfmt::skip]
static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    row("xinfo|consumers", 4, flags!(READONLY), SUBKEY, keyed(info::xinfo_consumers), "stream", "5.0.0", "List the consumers in a consumer group", ""),
    row("xinfo|groups", 3, flags!(READONLY), SUBKEY, keyed(info::xinfo_groups), "stream", "5.0.0", "List the consumer groups of a stream", ""),
    row("xinfo|stream", -3, flags!(READONLY), SUBKEY, keyed(info::xinfo_stream), "stream", "5.0.0", "Get information about a stream", ""),
    row("xinfo|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(info::xinfo_help), "stream", "5.0.0", "Show helpful text about the different subcommands", ""),
];

#[rustfmt::skip]
static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    row("xgroup|create", -5, flags!(WRITE | DENYOOM), SUBKEY, keyed(group::xgroup_create), "stream", "5.0.0", "Create a consumer group.", "").access(access!(RW | INSERT)),
    row("xgroup|createconsumer", 5, flags!(WRITE | DENYOOM), SUBKEY, keyed(group::xgroup_createconsumer), "stream", "6.2.0", "Create a consumer in a consumer group.", "").access(access!(RW | INSERT)),
    row("xgroup|delconsumer", 5, flags!(WRITE), SUBKEY, keyed(group::xgroup_delconsumer), "stream", "5.0.0", "Delete a consumer from a consumer group.", "").access(access!(RW | DELETE)),
    row("xgroup|destroy", 4, flags!(WRITE), SUBKEY, keyed(group::xgroup_destroy), "stream", "5.0.0", "Destroy a consumer group.", "").access(access!(RW | DELETE)),
    row("xgroup|setid", -5, flags!(WRITE), SUBKEY, keyed(group::xgroup_setid), "stream", "5.0.0", "Set a consumer group to an arbitrary last delivered ID value.", ""),
    row("xgroup|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(group::xgroup_help), "stream", "5.0.0", "Show helpful text about the different subcommands", ""),
];

static NODE_MAX_ENTRIES: AtomicUsize = AtomicUsize::new(100);
static NODE_MAX_BYTES: AtomicUsize = AtomicUsize::new(4096);

/// Applies `stream-node-max-entries` / `-bytes` from the configuration.
pub fn apply_config(config: &crate::config::Config) {
    NODE_MAX_ENTRIES.store(
        config.int("stream-node-max-entries").max(0) as usize,
        Relaxed,
    );
    NODE_MAX_BYTES.store(config.int("stream-node-max-bytes").max(0) as usize, Relaxed);
}

fn limits() -> NodeLimits {
    NodeLimits {
        entries: NODE_MAX_ENTRIES.load(Relaxed),
        bytes: NODE_MAX_BYTES.load(Relaxed),
    }
}

/// A stream ID as a reply.
pub(crate) fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(Bytes::from(id.to_string()))
}

/// One entry as Redis replies it: `[id, [field, value, ...]]`.
pub(crate) fn entry_reply(id: StreamId, fields: &Fields) -> Reply {
    Reply::Array(vec![
        id_reply(id),
        Reply::Array(fields.iter().cloned().map(Reply::Bulk).collect()),
    ])
}

pub(crate) fn entries_reply(entries: Vec<(StreamId, Fields)>) -> Reply {
    Reply::Array(entries.iter().map(|(id, f)| entry_reply(*id, f)).collect())
}

/// Redis's string2ull: a plain non-negative decimal (strtoull beyond i64).
fn parse_u64(text: &[u8]) -> Option<u64> {
    if let Some(n) = parse_int(text) {
        return u64::try_from(n).ok();
    }
    let digits = text.strip_prefix(b"+").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A parsed ID argument: `ms` and, unless `ms-*` or missing, `seq`.
struct RawId {
    ms: u64,
    seq: Option<u64>,
    /// True when the argument had no `-seq` part at all.
    bare: bool,
}

/// Redis's streamGenericParseIDOrReply: `-`, `+` (unless strict), `ms`, `ms-seq`, and
/// `ms-*` when `star` is allowed.
fn parse_raw_id(text: &[u8], strict: bool, star: bool) -> Result<RawId, Reply> {
    let invalid = || error(err::INVALID_STREAM_ID);
    if text.len() > 127 {
        return Err(invalid());
    }
    match text {
        b"-" | b"+" if strict => return Err(invalid()),
        b"-" => {
            return Ok(RawId {
                ms: 0,
                seq: Some(0),
                bare: false,
            })
        }
        b"+" => {
            return Ok(RawId {
                ms: u64::MAX,
                seq: Some(u64::MAX),
                bare: false,
            })
        }
        _ => {}
    }
    let (ms_text, seq_text) = match text.iter().position(|&c| c == b'-') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let ms = parse_u64(ms_text).ok_or_else(invalid)?;
    let seq = match seq_text {
        None => {
            return Ok(RawId {
                ms,
                seq: None,
                bare: true,
            })
        }
        Some(b"*") if star => None,
        Some(s) => Some(parse_u64(s).ok_or_else(invalid)?),
    };
    Ok(RawId {
        ms,
        seq,
        bare: false,
    })
}

/// An ID where a missing sequence becomes `missing_seq` (`-`/`+` accepted unless strict).
fn parse_id(text: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, Reply> {
    let raw = parse_raw_id(text, strict, false)?;
    Ok(StreamId::new(raw.ms, raw.seq.unwrap_or(missing_seq)))
}

/// A strict ID (`-` and `+` refused), missing sequence 0.
pub(crate) fn strict_id(text: &[u8]) -> Result<StreamId, Reply> {
    parse_id(text, 0, true)
}

/// A range bound: `(id` excludes it (strict parse), else `-`, `+` or an ID whose missing
/// sequence is `missing_seq`. Returns the inclusive bound, or the interval error.
pub(crate) fn range_bound(text: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, Reply> {
    if text.len() > 1 && text[0] == b'(' {
        let id = parse_id(&text[1..], missing_seq, true)?;
        let moved = if start { id.next() } else { id.prev() };
        return moved.ok_or_else(|| {
            error(if start {
                err::BAD_START_ID
            } else {
                err::BAD_END_ID
            })
        });
    }
    parse_id(text, missing_seq, false)
}

/// Parsed XADD / XTRIM options.
#[derive(Default)]
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: usize,
    no_mkstream: bool,
    /// XADD's explicit ID: ms and, unless `ms-*`, seq.
    id: Option<(u64, Option<u64>)>,
}

/// Redis's streamParseAddOrTrimArgsOrReply: options up to the ID (XADD) or the end (XTRIM).
fn parse_trim_args(args: &mut Args, xadd: bool) -> Result<TrimArgs, Reply> {
    let mut out = TrimArgs::default();
    let mut limit_given = false;
    while let Some(opt) = args.peek() {
        let more = args.remaining() - 1;
        if xadd && opt == b"*" {
            args.next()?;
            break;
        }
        let lower = opt.to_ascii_lowercase();
        if (lower == b"maxlen" || lower == b"minid") && more > 0 {
            args.next()?;
            if out.trim.is_some() {
                return Err(error(err::MAXLEN_AND_MINID));
            }
            out.approx = false;
            if more >= 2 {
                if args.peek() == Some(b"~") {
                    out.approx = true;
                    args.next()?;
                } else if args.peek() == Some(b"=") {
                    args.next()?;
                }
            }
            let value = args.next()?;
            out.trim = Some(if lower == b"maxlen" {
                let n = parse_int(&value).ok_or_else(|| error(err::NOT_INT))?;
                if n < 0 {
                    return Err(error(err::XTRIM_MAXLEN_NEGATIVE));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(strict_id(&value)?)
            });
        } else if lower == b"limit" && more > 0 {
            args.next()?;
            let n = args.int()?;
            if n < 0 {
                return Err(error(err::XTRIM_LIMIT_NEGATIVE));
            }
            out.limit = usize::try_from(n).unwrap_or(usize::MAX);
            limit_given = true;
        } else if xadd && lower == b"nomkstream" {
            args.next()?;
            out.no_mkstream = true;
        } else if xadd {
            let raw = parse_raw_id(&args.next()?, true, true)?;
            out.id = Some((raw.ms, if raw.bare { Some(0) } else { raw.seq }));
            break;
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    if out.limit != 0 && out.trim.is_none() {
        return Err(error(err::LIMIT_WITHOUT_STRATEGY));
    }
    if !xadd && out.trim.is_none() {
        return Err(error(err::XTRIM_NO_STRATEGY));
    }
    if limit_given && !out.approx {
        return Err(error(err::LIMIT_WITHOUT_TILDE));
    }
    if !limit_given && out.approx {
        out.limit = limits().entries.saturating_mul(100).clamp(1, 1_000_000);
        if limits().entries == 0 {
            out.limit = 1_000_000;
        }
    }
    Ok(out)
}

pub fn xadd(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let opts = parse_trim_args(args, true)?;
    let pairs = args.rest();
    if pairs.len() < 2 || !pairs.len().is_multiple_of(2) {
        return Err(err::arity("xadd"));
    }
    if opts.id == Some((0, Some(0))) {
        return Err(error(err::XADD_ZERO_ID));
    }
    let fields: Fields = pairs.iter().map(|b| Bytes::copy_from_slice(b)).collect();
    if write_as::<Stream>(shard, &key)?.is_none() {
        if opts.no_mkstream {
            return Ok(Reply::Nil);
        }
        shard.store(&key, Value::Stream(Box::default()), 0);
    }
    let now = shard.now_ms();
    let stream = write_as::<Stream>(shard, &key)?.ok_or_else(|| error(err::WRONGTYPE))?;
    if stream.last_id == StreamId::MAX {
        return Err(error(err::STREAM_EXHAUSTED));
    }
    let id = stream
        .next_id(opts.id, now)
        .map_err(|_| error(err::XADD_NOT_GREATER))?;
    stream.append(id, fields, limits());
    let trimmed = opts
        .trim
        .is_some_and(|how| stream.trim(how, opts.approx, opts.limit) > 0);
    super::notify(shard, STREAM_EVENTS, "xadd", &key);
    if trimmed {
        super::notify(shard, STREAM_EVENTS, "xtrim", &key);
    }
    shard.signal_ready(&key);
    Ok(id_reply(id))
}

pub fn xlen(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    Ok(Reply::Int(
        read_as::<Stream>(shard, key)?.map_or(0, |s| s.len() as i64),
    ))
}

fn range_generic(shard: &mut Shard, args: &mut Args, rev: bool) -> CmdResult {
    let key = args.arg()?;
    let (first, second) = (args.next()?, args.next()?);
    let (start_arg, end_arg) = if rev {
        (second, first)
    } else {
        (first, second)
    };
    let start = range_bound(&start_arg, 0, true)?;
    let end = range_bound(&end_arg, u64::MAX, false)?;
    let mut count: Option<usize> = None;
    while !args.is_done() {
        if args.remaining() >= 2 && args.keyword("COUNT") {
            let n = args.int()?;
            count = Some(usize::try_from(n).unwrap_or(0));
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    let Some(stream) = read_as::<Stream>(shard, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    match count {
        Some(0) => Ok(Reply::NilArray),
        n => Ok(entries_reply(stream.range(start, end, n.unwrap_or(0), rev))),
    }
}

pub fn xrange(shard: &mut Shard, args: &mut Args) -> CmdResult {
    range_generic(shard, args, false)
}

pub fn xrevrange(shard: &mut Shard, args: &mut Args) -> CmdResult {
    range_generic(shard, args, true)
}

pub fn xdel(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    // As Redis: the key first (absent: 0, another type: WRONGTYPE), then the IDs.
    if write_as::<Stream>(shard, key)?.is_none() {
        return Ok(Reply::Int(0));
    }
    let ids = args
        .rest()
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(stream) = write_as::<Stream>(shard, key)? else {
        return Ok(Reply::Int(0));
    };
    let deleted = stream.delete(&ids);
    if deleted > 0 {
        super::notify(shard, STREAM_EVENTS, "xdel", key);
    } else {
        shard.unchanged();
    }
    Ok(Reply::Int(deleted as i64))
}

pub fn xtrim(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let opts = parse_trim_args(args, false)?;
    let Some(stream) = write_as::<Stream>(shard, &key)? else {
        return Ok(Reply::Int(0));
    };
    let Some(how) = opts.trim else {
        shard.unchanged();
        return Ok(Reply::Int(0));
    };
    let removed = stream.trim(how, opts.approx, opts.limit);
    if removed > 0 {
        super::notify(shard, STREAM_EVENTS, "xtrim", &key);
    } else {
        shard.unchanged();
    }
    Ok(Reply::Int(removed as i64))
}

pub fn xsetid(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let id = strict_id(&args.next()?)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    while !args.is_done() {
        if args.remaining() >= 2 && args.keyword("ENTRIESADDED") {
            let n = args.int()?;
            if n < 0 {
                return Err(error(err::ENTRIES_ADDED_NEGATIVE));
            }
            entries_added = Some(n as u64);
        } else if args.remaining() >= 2 && args.keyword("MAXDELETEDID") {
            max_deleted = strict_id(&args.next()?)?;
            if id < max_deleted {
                return Err(error(err::XSETID_BELOW_GIVEN_DELETED));
            }
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    let stream = write_as::<Stream>(shard, key)?.ok_or_else(|| error(err::NO_KEY))?;
    if id < stream.max_deleted_id {
        return Err(error(err::XSETID_BELOW_DELETED));
    }
    if !stream.is_empty() {
        if id < stream.last_valid_id() {
            return Err(error(err::XSETID_BELOW_TOP));
        }
        if entries_added.is_some_and(|n| (stream.len() as u64) > n) {
            return Err(error(err::XSETID_ADDED_BELOW_LEN));
        }
    }
    stream.last_id = id;
    if let Some(n) = entries_added {
        stream.entries_added = n;
    }
    if !max_deleted.is_zero() {
        stream.max_deleted_id = max_deleted;
    }
    super::notify(shard, STREAM_EVENTS, "xsetid", key);
    super::args::ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(strict_id(b"5").unwrap(), StreamId::new(5, 0));
        assert_eq!(strict_id(b"5-7").unwrap(), StreamId::new(5, 7));
        assert!(strict_id(b"-").is_err());
        assert!(strict_id(b"+").is_err());
        assert!(strict_id(b"5-").is_err());
        assert!(strict_id(b"-5").is_err());
        assert!(strict_id(b"a-1").is_err());
        assert!(strict_id(b"1-2-3").is_err());
        assert_eq!(
            strict_id(b"18446744073709551615-18446744073709551615").unwrap(),
            StreamId::MAX
        );
        assert!(strict_id(b"18446744073709551616").is_err());
        assert_eq!(range_bound(b"-", 0, true).unwrap(), StreamId::MIN);
        assert_eq!(range_bound(b"+", 0, false).unwrap(), StreamId::MAX);
        assert_eq!(
            range_bound(b"5", u64::MAX, false).unwrap(),
            StreamId::new(5, u64::MAX)
        );
        assert_eq!(range_bound(b"(5-1", 0, true).unwrap(), StreamId::new(5, 2));
        assert!(range_bound(b"(0-0", 0, false).is_err());
        assert!(range_bound(b"(-", 0, true).is_err());
        let star = parse_raw_id(b"7-*", true, true).unwrap();
        assert_eq!((star.ms, star.seq), (7, None));
        assert!(parse_raw_id(b"7-*", true, false).is_err());
    }
}
