//! Consumer groups: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP), XACK,
//! XPENDING, XCLAIM and XAUTOCLAIM. Every *Op* runs on the shard owning the key.

use crate::command::{read_as, write_as};
use bytes::Bytes;

use super::super::args::parse_int;
use super::super::keys::help_reply;
use super::super::{err, error, notify, Args, CmdResult, Session};
use super::{entry_reply, id_reply, range_bound, strict_id};
use crate::protocol::Reply;
use crate::pubsub::notify::STREAM as STREAM_EVENTS;
use crate::shard::types::{Stream, StreamId};
use crate::shard::{Shard, Value};

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

/// Parses `ENTRIESREAD n` (the only option besides CREATE's MKSTREAM).
fn entries_read(args: &mut Args) -> Result<Option<u64>, Reply> {
    let n = args.int()?;
    if n < 0 && n != -1 {
        return Err(error(err::BAD_ENTRIESREAD));
    }
    Ok(u64::try_from(n).ok())
}

/// The XGROUP subcommands that act on a key (HELP does not).
#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupSub {
    Create,
    SetId,
    Destroy,
    CreateConsumer,
    DelConsumer,
}

pub fn xgroup_create(shard: &mut Shard, args: &mut Args) -> CmdResult {
    xgroup(shard, args, GroupSub::Create)
}

pub fn xgroup_setid(shard: &mut Shard, args: &mut Args) -> CmdResult {
    xgroup(shard, args, GroupSub::SetId)
}

pub fn xgroup_destroy(shard: &mut Shard, args: &mut Args) -> CmdResult {
    xgroup(shard, args, GroupSub::Destroy)
}

pub fn xgroup_createconsumer(shard: &mut Shard, args: &mut Args) -> CmdResult {
    xgroup(shard, args, GroupSub::CreateConsumer)
}

pub fn xgroup_delconsumer(shard: &mut Shard, args: &mut Args) -> CmdResult {
    xgroup(shard, args, GroupSub::DelConsumer)
}

/// XGROUP HELP.
pub fn xgroup_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(XGROUP_HELP))
}

/// XGROUP's subcommands on a key, in Redis's order of checks: options, then the key, then
/// the group.
fn xgroup(shard: &mut Shard, args: &mut Args, sub: GroupSub) -> CmdResult {
    let (key, group) = (args.next()?, args.next()?);
    let mut mkstream = false;
    let mut read: Option<u64> = None;
    let id_arg = if matches!(sub, GroupSub::Create | GroupSub::SetId) {
        Some(args.next()?)
    } else {
        None
    };
    if sub == GroupSub::Create {
        while !args.is_done() {
            if args.keyword("MKSTREAM") {
                mkstream = true;
            } else if args.remaining() >= 2 && args.keyword("ENTRIESREAD") {
                read = entries_read(args)?;
            } else {
                return Err(err::subcommand_syntax(args.all()));
            }
        }
    } else if sub == GroupSub::SetId {
        if args.remaining() == 2 && args.keyword("ENTRIESREAD") {
            read = entries_read(args)?;
        } else if !args.is_done() {
            return Err(err::subcommand_syntax(args.all()));
        }
    }
    let exists = write_as::<Stream>(shard, &key)?.is_some();
    if !exists && !mkstream {
        return Err(error(err::XGROUP_NEEDS_KEY));
    }
    let has_group =
        exists && write_as::<Stream>(shard, &key)?.is_some_and(|s| s.groups.contains_key(&group));
    if !has_group && !matches!(sub, GroupSub::Create | GroupSub::Destroy) {
        return Err(err::no_consumer_group(&group, &key));
    }
    let now = shard.now_ms();
    xgroup_run(shard, args, sub, &key, &group, id_arg, exists, read, now)
}

#[allow(clippy::too_many_arguments)]
fn xgroup_run(
    shard: &mut Shard,
    args: &mut Args,
    sub: GroupSub,
    key: &Bytes,
    group: &Bytes,
    id_arg: Option<Bytes>,
    exists: bool,
    read: Option<u64>,
    now: u64,
) -> CmdResult {
    let (key, group) = (key.clone(), group.clone());
    match sub {
        GroupSub::Create => {
            let raw = id_arg.unwrap_or_default();
            let current = write_as::<Stream>(shard, &key)?.map(|s| s.last_id);
            let id = if raw.as_ref() == b"$" {
                current.unwrap_or(StreamId::MIN)
            } else {
                strict_id(&raw)?
            };
            if !exists {
                shard.store(&key, Value::Stream(Box::default()), 0);
            }
            let stream = write_as::<Stream>(shard, &key)?.ok_or_else(|| error(err::WRONGTYPE))?;
            if !stream.create_group(&group, id, read) {
                return Err(error(err::BUSYGROUP));
            }
            notify(shard, STREAM_EVENTS, "xgroup-create", &key);
            super::super::args::ok()
        }
        GroupSub::SetId => {
            let raw = id_arg.unwrap_or_default();
            let stream = write_as::<Stream>(shard, &key)?.ok_or_else(|| error(err::WRONGTYPE))?;
            let id = if raw.as_ref() == b"$" {
                stream.last_id
            } else {
                super::parse_id(&raw, 0, false)?
            };
            if let Some(g) = stream.groups.get_mut(&group) {
                g.last_id = id;
                g.entries_read = read;
            }
            notify(shard, STREAM_EVENTS, "xgroup-setid", &key);
            super::super::args::ok()
        }
        GroupSub::Destroy => {
            let stream = write_as::<Stream>(shard, &key)?.ok_or_else(|| error(err::WRONGTYPE))?;
            if stream.groups.remove(&group).is_none() {
                return Ok(Reply::Int(0));
            }
            notify(shard, STREAM_EVENTS, "xgroup-destroy", &key);
            shard.signal_ready(&key);
            Ok(Reply::Int(1))
        }
        GroupSub::CreateConsumer => {
            let consumer = args.next()?;
            let created = group_mut(shard, &key, &group)?.create_consumer(&consumer, now);
            if created {
                notify(shard, STREAM_EVENTS, "xgroup-createconsumer", &key);
            }
            Ok(Reply::Int(created as i64))
        }
        GroupSub::DelConsumer => {
            let consumer = args.next()?;
            let pending = group_mut(shard, &key, &group)?.delete_consumer(&consumer);
            if pending.is_some() {
                notify(shard, STREAM_EVENTS, "xgroup-delconsumer", &key);
            }
            Ok(Reply::Int(pending.unwrap_or(0) as i64))
        }
    }
}

fn group_mut<'a>(
    shard: &'a mut Shard,
    key: &[u8],
    group: &[u8],
) -> Result<&'a mut crate::shard::types::Group, Reply> {
    write_as::<Stream>(shard, key)?
        .and_then(|s| s.groups.get_mut(group))
        .ok_or_else(|| err::no_key_or_group(key, group))
}

pub fn xack(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, group) = (args.next()?, args.next()?);
    let raw: Vec<Bytes> = args.rest().to_vec();
    let has_group = read_as::<Stream>(shard, &key)?.is_some_and(|s| s.groups.contains_key(&group));
    if !has_group {
        return Ok(Reply::Int(0));
    }
    let ids = raw
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let g = group_mut(shard, &key, &group)?;
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
    Ok(Reply::Int(acked as i64))
}

pub fn xpending(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, group) = (args.next()?, args.next()?);
    let argc = args.all().len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(error(err::SYNTAX));
    }
    let mut range = None;
    if argc >= 6 {
        let mut min_idle = 0i64;
        if args.keyword("IDLE") {
            min_idle = args.int()?;
            if argc < 8 {
                return Err(error(err::SYNTAX));
            }
        }
        let (start_raw, end_raw) = (args.next()?, args.next()?);
        let count = args.int()?.max(0) as u64;
        let start = range_bound(&start_raw, 0, true)?;
        let end = range_bound(&end_raw, u64::MAX, false)?;
        // Redis ignores anything after the consumer.
        let consumer = if args.is_done() {
            None
        } else {
            Some(args.next()?)
        };
        range = Some((min_idle, start, end, count, consumer));
    }
    let now = shard.now_ms();
    let g = read_as::<Stream>(shard, &key)?
        .and_then(|s| s.groups.get(&group))
        .ok_or_else(|| err::no_key_or_group(&key, &group))?;
    let Some((min_idle, start, end, count, consumer)) = range else {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        }
        let first = g.pel.keys().next().copied().unwrap_or_default();
        let last = g.pel.keys().next_back().copied().unwrap_or_default();
        let owners = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pending.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::Bulk(name.clone()),
                    Reply::Bulk(Bytes::from(c.pending.len().to_string())),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_reply(first),
            id_reply(last),
            Reply::Array(owners),
        ]));
    };
    if start > end || count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let ids: Box<dyn Iterator<Item = &StreamId>> = match &consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) => Box::new(c.pending.range(start..=end)),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None => Box::new(g.pel.range(start..=end).map(|(id, _)| id)),
    };
    let mut out = Vec::new();
    for id in ids {
        let Some(nack) = g.pel.get(id) else { continue };
        let idle = now.saturating_sub(nack.delivery_time);
        if min_idle > 0 && (idle as i64) < min_idle {
            continue;
        }
        out.push(Reply::Array(vec![
            id_reply(*id),
            Reply::Bulk(nack.consumer.clone()),
            Reply::Int(idle as i64),
            Reply::Int(nack.delivery_count as i64),
        ]));
        if out.len() as u64 >= count {
            break;
        }
    }
    Ok(Reply::Array(out))
}

/// XCLAIM's options after the IDs.
struct ClaimOptions {
    delivery_time: Option<i64>,
    retry_count: Option<i64>,
    force: bool,
    justid: bool,
    last_id: StreamId,
}

fn claim_options(args: &mut Args, now: u64) -> Result<ClaimOptions, Reply> {
    let mut o = ClaimOptions {
        delivery_time: None,
        retry_count: None,
        force: false,
        justid: false,
        last_id: StreamId::MIN,
    };
    let int = |raw: &[u8], what: &str| parse_int(raw).ok_or_else(|| err::xclaim_bad_value(what));
    while !args.is_done() {
        let more = args.remaining() > 1;
        if args.keyword("FORCE") {
            o.force = true;
        } else if args.keyword("JUSTID") {
            o.justid = true;
        } else if more && args.keyword("IDLE") {
            o.delivery_time = Some((now as i64).saturating_sub(int(&args.next()?, "IDLE")?));
        } else if more && args.keyword("TIME") {
            o.delivery_time = Some(int(&args.next()?, "TIME")?);
        } else if more && args.keyword("RETRYCOUNT") {
            o.retry_count = Some(int(&args.next()?, "RETRYCOUNT")?);
        } else if more && args.keyword("LASTID") {
            o.last_id = strict_id(&args.next()?)?;
        } else {
            return Err(err::xclaim_option(&args.next()?));
        }
    }
    Ok(o)
}

fn min_idle(raw: &[u8], command: &str) -> Result<u64, Reply> {
    let n = parse_int(raw).ok_or_else(|| err::min_idle_time(command))?;
    Ok(n.max(0) as u64)
}

/// Gives `id` to `consumer` (created when needed); true when the consumer was created.
fn take_over(stream: &mut Stream, group: &[u8], consumer: &Bytes, id: StreamId, now: u64) -> bool {
    let Some(g) = stream.groups.get_mut(group) else {
        return false;
    };
    let created = g.create_consumer(consumer, now);
    g.assign(id, consumer, now);
    created
}

pub fn xclaim(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, group, consumer) = (args.next()?, args.next()?, args.next()?);
    let idle_raw = args.next()?;
    read_as::<Stream>(shard, &key)?
        .filter(|s| s.groups.contains_key(&group))
        .ok_or_else(|| err::no_key_or_group(&key, &group))?;
    let min_idle = min_idle(&idle_raw, "XCLAIM")?;
    let mut ids = Vec::new();
    while let Some(raw) = args.peek() {
        match strict_id(raw) {
            Ok(id) => {
                ids.push(id);
                args.next()?;
            }
            Err(_) => break,
        }
    }
    let now = shard.now_ms();
    let o = claim_options(args, now)?;
    let delivery_time = match o.delivery_time {
        Some(t) if t >= 0 && t as u64 <= now => t as u64,
        _ => now,
    };
    let stream =
        write_as::<Stream>(shard, &key)?.ok_or_else(|| err::no_key_or_group(&key, &group))?;
    if let Some(g) = stream.groups.get_mut(&group) {
        if o.last_id > g.last_id {
            g.last_id = o.last_id;
        }
    }
    let mut out = Vec::new();
    let mut created = false;
    let mut touched = false;
    for id in ids {
        let exists = stream.contains(id);
        let Some(g) = stream.groups.get_mut(&group) else {
            break;
        };
        let pending = g.pel.get(&id).map(|p| p.delivery_time);
        if !exists {
            if pending.is_some() {
                g.ack(id);
            }
            continue;
        }
        let fresh = pending.is_none();
        if fresh && !o.force {
            continue;
        }
        if let Some(t) = pending {
            if min_idle > 0 && now.saturating_sub(t) < min_idle {
                continue;
            }
        }
        created |= take_over(stream, &group, &consumer, id, now);
        touched = true;
        let Some(g) = stream.groups.get_mut(&group) else {
            break;
        };
        if let Some(nack) = g.pel.get_mut(&id) {
            nack.delivery_time = delivery_time;
            if let Some(n) = o.retry_count.filter(|n| *n >= 0) {
                nack.delivery_count = n as u64;
            } else if !o.justid {
                nack.delivery_count += 1;
            }
        }
        out.push(if o.justid {
            id_reply(id)
        } else {
            stream.get(id).map_or(Reply::Nil, |f| entry_reply(id, f))
        });
    }
    if touched {
        stream.mark_active(&group, &consumer, now);
    }
    if created {
        notify(shard, STREAM_EVENTS, "xgroup-createconsumer", &key);
    }
    Ok(Reply::Array(out))
}

pub fn xautoclaim(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (key, group, consumer) = (args.next()?, args.next()?, args.next()?);
    let min_idle = min_idle(&args.next()?, "XAUTOCLAIM")?;
    let start = range_bound(&args.next()?, 0, true)?;
    let mut count: u64 = 100;
    let mut justid = false;
    while !args.is_done() {
        if args.remaining() > 1 && args.keyword("COUNT") {
            let max = (i64::MAX / 16) as u64;
            count = parse_int(&args.next()?)
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| error(err::COUNT_NOT_ABOVE_ZERO))?;
        } else if args.keyword("JUSTID") {
            justid = true;
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    read_as::<Stream>(shard, &key)?
        .filter(|s| s.groups.contains_key(&group))
        .ok_or_else(|| err::no_key_or_group(&key, &group))?;
    let now = shard.now_ms();
    let stream =
        write_as::<Stream>(shard, &key)?.ok_or_else(|| err::no_key_or_group(&key, &group))?;
    let mut attempts = count.saturating_mul(10);
    let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
    let mut created = false;
    let mut cursor = Some(start);
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let next = cursor.and_then(|from| {
            stream.groups[&group]
                .pel
                .range(from..)
                .next()
                .map(|(id, p)| (*id, p.delivery_time))
        });
        let Some((id, delivered)) = next else {
            cursor = None;
            break;
        };
        cursor = id.next();
        if !stream.contains(id) {
            if let Some(g) = stream.groups.get_mut(&group) {
                g.ack(id);
            }
            deleted.push(id_reply(id));
            count -= 1;
            continue;
        }
        if min_idle > 0 && now.saturating_sub(delivered) < min_idle {
            continue;
        }
        created |= take_over(stream, &group, &consumer, id, now);
        if let Some(nack) = stream
            .groups
            .get_mut(&group)
            .and_then(|g| g.pel.get_mut(&id))
        {
            nack.delivery_time = now;
            if !justid {
                nack.delivery_count += 1;
            }
        }
        claimed.push(if justid {
            id_reply(id)
        } else {
            stream.get(id).map_or(Reply::Nil, |f| entry_reply(id, f))
        });
        count -= 1;
    }
    let next = cursor
        .and_then(|from| {
            stream.groups[&group]
                .pel
                .range(from..)
                .next()
                .map(|(id, _)| *id)
        })
        .unwrap_or(StreamId::MIN);
    if !claimed.is_empty() {
        stream.mark_active(&group, &consumer, now);
    }
    if created {
        notify(shard, STREAM_EVENTS, "xgroup-createconsumer", &key);
    }
    Ok(Reply::Array(vec![
        id_reply(next),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ]))
}
