//! XINFO STREAM (and FULL), GROUPS, CONSUMERS and HELP. Consumers report Redis 7.2's
//! fields (seen-time and active-time, idle and inactive).

use crate::command::read_as;
use bytes::Bytes;

use super::super::keys::help_reply;
use super::super::{err, error, Args, CmdResult, Session};
use super::{entries_reply, entry_reply, id_reply};
use crate::protocol::Reply;
use crate::shard::types::{Group, Stream, StreamId};
use crate::shard::Shard;

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn text(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// XINFO HELP.
pub fn xinfo_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(XINFO_HELP))
}

/// The stream XINFO reports on: a missing key or another type is refused first, as Redis does
/// for every subcommand.
fn stream_of<'a>(shard: &'a mut Shard, args: &mut Args) -> Result<(Bytes, &'a Stream), Reply> {
    let key = args.next()?;
    let stream = read_as::<Stream>(shard, &key)?.ok_or_else(|| error(err::NO_KEY))?;
    Ok((key, stream))
}

/// XINFO CONSUMERS key group.
pub fn xinfo_consumers(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let now = shard.now_ms();
    let (key, stream) = stream_of(shard, args)?;
    let name = args.next()?;
    let group = stream
        .groups
        .get(&name)
        .ok_or_else(|| err::no_consumer_group(&name, &key))?;
    Ok(consumers(group, now))
}

/// XINFO GROUPS key.
pub fn xinfo_groups(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (_, stream) = stream_of(shard, args)?;
    Ok(Reply::Array(
        stream
            .groups
            .iter()
            .map(|(name, g)| {
                Reply::Map(vec![
                    (text("name"), Reply::Bulk(name.clone())),
                    (text("consumers"), int(g.consumers.len() as u64)),
                    (text("pending"), int(g.pel.len() as u64)),
                    (text("last-delivered-id"), id_reply(g.last_id)),
                    (text("entries-read"), g.entries_read.map_or(Reply::Nil, int)),
                    (text("lag"), stream.lag(g).map_or(Reply::Nil, Reply::Int)),
                ])
            })
            .collect(),
    ))
}

/// XINFO STREAM key [FULL [COUNT n]].
pub fn xinfo_stream(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (_, stream) = stream_of(shard, args)?;
    stream_info(stream, args)
}

fn consumers(group: &Group, now: u64) -> Reply {
    Reply::Array(
        group
            .consumers
            .iter()
            .map(|(name, c)| {
                Reply::Map(vec![
                    (text("name"), Reply::Bulk(name.clone())),
                    (text("pending"), int(c.pending.len() as u64)),
                    (text("idle"), int(now.saturating_sub(c.seen_time))),
                    (
                        text("inactive"),
                        c.active_time
                            .map_or(Reply::Int(-1), |t| int(now.saturating_sub(t))),
                    ),
                ])
            })
            .collect(),
    )
}

fn stream_info(stream: &Stream, args: &mut Args) -> CmdResult {
    let mut full = false;
    let mut count: usize = 10;
    if !args.is_done() {
        if !args.keyword("FULL") {
            return Err(err::subcommand_syntax(args.all()));
        }
        full = true;
        match args.remaining() {
            0 => {}
            2 if args.keyword("COUNT") => {
                let n = args.int()?;
                count = if n < 0 {
                    10
                } else {
                    usize::try_from(n).unwrap_or(usize::MAX)
                };
            }
            _ => return Err(err::subcommand_syntax(args.all())),
        }
    }
    let nodes = stream.node_count() as u64;
    let mut fields = vec![
        (text("length"), int(stream.len() as u64)),
        (text("radix-tree-keys"), int(nodes)),
        (text("radix-tree-nodes"), int(nodes + 1)),
        (text("last-generated-id"), id_reply(stream.last_id)),
        (
            text("max-deleted-entry-id"),
            id_reply(stream.max_deleted_id),
        ),
        (text("entries-added"), int(stream.entries_added)),
        (text("recorded-first-entry-id"), id_reply(stream.first_id)),
    ];
    if !full {
        let edge = |e: Option<(StreamId, &crate::shard::types::Fields)>| {
            e.map_or(Reply::Nil, |(id, f)| entry_reply(id, f))
        };
        fields.push((text("groups"), int(stream.groups.len() as u64)));
        fields.push((text("first-entry"), edge(stream.first())));
        fields.push((text("last-entry"), edge(stream.last())));
        return Ok(Reply::Map(fields));
    }
    fields.push((
        text("entries"),
        entries_reply(stream.range(StreamId::MIN, StreamId::MAX, count, false)),
    ));
    let limit = if count == 0 { usize::MAX } else { count };
    let groups = stream
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(p.consumer.clone()),
                        int(p.delivery_time),
                        int(p.delivery_count),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pending = c
                        .pending
                        .iter()
                        .take(limit)
                        .filter_map(|id| g.pel.get(id).map(|p| (id, p)))
                        .map(|(id, p)| {
                            Reply::Array(vec![
                                id_reply(*id),
                                int(p.delivery_time),
                                int(p.delivery_count),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        (text("name"), Reply::Bulk(cname.clone())),
                        (text("seen-time"), int(c.seen_time)),
                        (
                            text("active-time"),
                            c.active_time.map_or(Reply::Int(-1), int),
                        ),
                        (text("pel-count"), int(c.pending.len() as u64)),
                        (text("pending"), Reply::Array(pending)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (text("name"), Reply::Bulk(name.clone())),
                (text("last-delivered-id"), id_reply(g.last_id)),
                (text("entries-read"), g.entries_read.map_or(Reply::Nil, int)),
                (text("lag"), stream.lag(g).map_or(Reply::Nil, Reply::Int)),
                (text("pel-count"), int(g.pel.len() as u64)),
                (text("pending"), Reply::Array(pending)),
                (text("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    fields.push((text("groups"), Reply::Array(groups)));
    Ok(Reply::Map(fields))
}
