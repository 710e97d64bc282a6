//! XREAD and XREADGROUP, with their BLOCK forms. Every key is checked first, in argument
//! order, on its shard (type, group, ID), then served in order; when none can be served and
//! BLOCK was given, the client parks one waiter per key sharing a claim flag (see
//! `shard::blocking`) and the first key an XADD makes readable answers.

use crate::command::{read_as, write_as};
use crate::shard::types::Stream;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::super::args::parse_block_ms;
use super::super::blocked::Blocked;
use super::super::{err, error, Args, CmdResult, Session};
use super::{entries_reply, entry_reply, id_reply, strict_id};
use crate::protocol::{Protocol, Reply};
use crate::pubsub::notify::STREAM as STREAM_EVENTS;
use crate::shard::blocking::try_claim;
use crate::shard::types::StreamId;
use crate::shard::{Shard, ShardId};

type Routine<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + 'a>>;

/// A parsed XREAD / XREADGROUP.
#[derive(Clone)]
struct Request {
    /// (group, consumer) for XREADGROUP.
    group: Option<(Bytes, Bytes)>,
    /// 0: no limit.
    count: usize,
    /// None: no BLOCK; Some(None): block forever.
    block: Option<Option<Duration>>,
    noack: bool,
    keys: Vec<Bytes>,
    ids: Vec<Bytes>,
}

/// Where a key's read starts.
#[derive(Clone, Copy)]
enum From {
    /// Entries after this ID.
    After(StreamId),
    /// XREADGROUP `>`: entries the group has not delivered yet.
    New,
}

fn parse(args: &mut Args, grouped: bool, in_script: bool) -> Result<Request, Reply> {
    let name = if grouped { "XREADGROUP" } else { "XREAD" };
    let mut req = Request {
        group: None,
        count: 0,
        block: None,
        noack: false,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut streams = false;
    while !args.is_done() {
        let more = args.remaining() - 1;
        if more >= 1 && args.keyword("BLOCK") {
            // Redis refuses it outright rather than not blocking, as inside MULTI.
            if in_script {
                return Err(err::stream_block_in_script(args.name()));
            }
            req.block = Some(parse_block_ms(&args.next()?)?);
        } else if more >= 1 && args.keyword("COUNT") {
            req.count = usize::try_from(args.int()?).unwrap_or(0);
        } else if more >= 1 && args.keyword("STREAMS") {
            let rest = args.rest();
            if !rest.len().is_multiple_of(2) {
                let symbol = if grouped { '>' } else { '$' };
                return Err(err::unbalanced_streams(name, symbol));
            }
            let half = rest.len() / 2;
            req.keys = rest[..half].to_vec();
            req.ids = rest[half..].to_vec();
            streams = true;
        } else if more >= 2 && args.keyword("GROUP") {
            if !grouped {
                return Err(error(err::XREAD_GROUP));
            }
            req.group = Some((args.next()?, args.next()?));
        } else if args.keyword("NOACK") {
            if !grouped {
                return Err(error(err::XREAD_NOACK));
            }
            req.noack = true;
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    if !streams {
        return Err(error(err::SYNTAX));
    }
    if grouped && req.group.is_none() {
        return Err(error(err::XREADGROUP_NO_GROUP));
    }
    Ok(req)
}

/// Checks one key as Redis does before serving anything: its type, the group, the ID.
fn resolve(shard: &mut Shard, req: &Request, key: &[u8], id: &[u8]) -> Result<From, Reply> {
    let stream = read_as::<Stream>(shard, key)?;
    if let Some((group, _)) = &req.group {
        if !stream.is_some_and(|s| s.groups.contains_key(group)) {
            return Err(err::xreadgroup_no_group(key, group));
        }
    }
    match id {
        b"$" if req.group.is_some() => Err(error(err::XREADGROUP_DOLLAR)),
        b"$" => Ok(From::After(stream.map_or(StreamId::MIN, |s| s.last_id))),
        b">" if req.group.is_none() => Err(error(err::XREAD_GT_ID)),
        b">" => Ok(From::New),
        _ => strict_id(id).map(From::After),
    }
}

/// Serves one key if it has something for the request: the key's entries reply, or None.
fn serve(
    shard: &mut Shard,
    req: &Request,
    key: &Bytes,
    from: From,
) -> Result<Option<Reply>, Reply> {
    let Some((group, consumer)) = &req.group else {
        let From::After(after) = from else {
            return Ok(None);
        };
        let Some(stream) = read_as::<Stream>(shard, key)? else {
            return Ok(None);
        };
        if stream.is_empty() || stream.last_valid_id() <= after {
            return Ok(None);
        }
        let Some(start) = after.next() else {
            return Ok(None);
        };
        return Ok(Some(entries_reply(stream.range(
            start,
            StreamId::MAX,
            req.count,
            false,
        ))));
    };
    let now = shard.now_ms();
    let Some(stream) = write_as::<Stream>(shard, key)? else {
        return Err(error(err::BLOCKED_GROUP_GONE));
    };
    let Some(g) = stream.groups.get(group) else {
        return Err(error(err::BLOCKED_GROUP_GONE));
    };
    let history = match from {
        From::After(after) => Some(after),
        From::New if !stream.is_empty() && stream.last_valid_id() > g.last_id => None,
        From::New => return Ok(None),
    };
    let g = stream
        .groups
        .get_mut(group)
        .ok_or_else(|| error(err::BLOCKED_GROUP_GONE))?;
    let created = g.create_consumer(consumer, now);
    if let Some(c) = g.consumers.get_mut(consumer) {
        c.seen_time = now;
    }
    let reply = match history {
        Some(after) => serve_history(shard, key, group, consumer, after, req.count, now),
        None => serve_new(shard, key, group, consumer, req, now),
    };
    if created {
        super::super::notify(shard, STREAM_EVENTS, "xgroup-createconsumer", key);
    }
    if shard.journaling() {
        // Replayed in order, the same read delivers the same entries to the same consumer.
        let id = match from {
            From::After(after) => after.to_string(),
            From::New => ">".to_string(),
        };
        let count = req.count.to_string();
        let mut command: Vec<&[u8]> = vec![b"XREADGROUP", b"GROUP", group, consumer];
        if req.count > 0 {
            command.extend([&b"COUNT"[..], count.as_bytes()]);
        }
        if req.noack {
            command.push(b"NOACK");
        }
        command.extend([&b"STREAMS"[..], key, id.as_bytes()]);
        shard.journal(&command);
    }
    shard.after_write(std::iter::once(&key[..]), false);
    Ok(Some(reply))
}

/// Entries pending for `consumer` after `after`: each delivered again (a deleted one as
/// `[id, nil]`).
fn serve_history(
    shard: &mut Shard,
    key: &[u8],
    group: &Bytes,
    consumer: &Bytes,
    after: StreamId,
    count: usize,
    now: u64,
) -> Reply {
    let Ok(Some(stream)) = write_as::<Stream>(shard, key) else {
        return Reply::Array(Vec::new());
    };
    let Some(start) = after.next() else {
        return Reply::Array(Vec::new());
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let ids: Vec<StreamId> = stream.groups[group].consumers[consumer]
        .pending
        .range(start..)
        .take(limit)
        .copied()
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match stream.get(id) {
            Some(fields) => {
                out.push(entry_reply(id, fields));
                if let Some(nack) = stream
                    .groups
                    .get_mut(group)
                    .and_then(|g| g.pel.get_mut(&id))
                {
                    nack.delivery_time = now;
                    nack.delivery_count += 1;
                }
            }
            None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
        }
    }
    Reply::Array(out)
}

/// New entries for the group: delivered, and added to the PEL unless NOACK.
fn serve_new(
    shard: &mut Shard,
    key: &[u8],
    group: &Bytes,
    consumer: &Bytes,
    req: &Request,
    now: u64,
) -> Reply {
    let Ok(Some(stream)) = write_as::<Stream>(shard, key) else {
        return Reply::Array(Vec::new());
    };
    let Some(start) = stream.groups[group].last_id.next() else {
        return Reply::Array(Vec::new());
    };
    let entries = stream.range(start, StreamId::MAX, req.count, false);
    for (id, _) in &entries {
        stream.advance_group(group, *id);
        if !req.noack {
            if let Some(g) = stream.groups.get_mut(group) {
                let nack = g.assign(*id, consumer, now);
                nack.delivery_time = now;
                nack.delivery_count = 1;
            }
        }
    }
    stream.mark_active(group, consumer, now);
    entries_reply(entries)
}

/// The reply of served keys: RESP3 a map key → entries, RESP2 an array of pairs.
fn shape(served: Vec<(Bytes, Reply)>, resp3: bool) -> Reply {
    if resp3 {
        Reply::Map(
            served
                .into_iter()
                .map(|(k, r)| (Reply::Bulk(k), r))
                .collect(),
        )
    } else {
        Reply::Array(
            served
                .into_iter()
                .map(|(k, r)| Reply::Array(vec![Reply::Bulk(k), r]))
                .collect(),
        )
    }
}

async fn on_shard<T: Send + 'static>(
    session: &Session,
    key: &[u8],
    job: impl FnOnce(&mut Shard) -> T + Send + 'static,
) -> Result<T, Reply> {
    let shard = session.router.shard_of(key);
    let db = session.db;
    session
        .router
        .run(shard, move |s| {
            s.select(db);
            let out = job(s);
            if s.has_ready() {
                s.serve_blocked();
            }
            out
        })
        .await
        .ok_or_else(|| error(err::SHARD_GONE))
}

fn generic(session: &mut Session, args: Args, grouped: bool) -> Routine<'_> {
    Box::pin(async move {
        let mut args = args;
        let req = parse(&mut args, grouped, session.tx.in_script)?;
        let mut froms = Vec::with_capacity(req.keys.len());
        for (key, id) in req.keys.iter().zip(&req.ids) {
            let (r, k, i) = (req.clone(), key.clone(), id.clone());
            froms.push(on_shard(session, key, move |s| resolve(s, &r, &k, &i)).await??);
        }
        let mut served = Vec::new();
        for (key, from) in req.keys.iter().zip(&froms) {
            let (r, k, f) = (req.clone(), key.clone(), *from);
            if let Some(reply) = on_shard(session, key, move |s| serve(s, &r, &k, f)).await?? {
                served.push((key.clone(), reply));
            }
        }
        let resp3 = session.protocol == Protocol::Resp3;
        if !served.is_empty() {
            return Ok(shape(served, resp3));
        }
        match req.block {
            Some(timeout) if !session.tx.in_exec => {
                block(session, req, froms, timeout, resp3).await
            }
            _ => Ok(Reply::NilArray),
        }
    })
}

/// Waits until a key can be served, the timeout passes, or the peer leaves.
async fn block(
    session: &Session,
    req: Request,
    froms: Vec<From>,
    timeout: Option<Duration>,
    resp3: bool,
) -> CmdResult {
    let db = session.db;
    let mut blocked = Blocked::begin(session);
    let claim = Arc::new(AtomicBool::new(false));
    let (tx, rx) = oneshot::channel::<CmdResult>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let mut shards: Vec<ShardId> = Vec::new();
    for (key, from) in req.keys.iter().zip(froms) {
        let shard = session.router.shard_of(key);
        if !shards.contains(&shard) {
            shards.push(shard);
        }
        let (r, tx, k) = (req.clone(), tx.clone(), key.clone());
        let waiter = Box::new(move |s: &mut Shard, claim: &AtomicBool| {
            let outcome = match ready(s, &r, &k, from) {
                Readiness::Wait => return false,
                Readiness::Gone => Err(error(err::BLOCKED_GROUP_GONE)),
                Readiness::Ready => match serve(s, &r, &k, from) {
                    Ok(None) => return false,
                    Ok(Some(reply)) => Ok(shape(vec![(k.clone(), reply)], resp3)),
                    Err(e) => Err(e),
                },
            };
            if !try_claim(claim) {
                return true;
            }
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(outcome);
            }
            true
        });
        let (claim, key) = (claim.clone(), key.clone());
        session
            .router
            .run(shard, move |s| {
                s.select(db);
                s.block_on(&key, claim, waiter);
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))?;
    }
    let mut rx = rx;
    let outcome = match blocked.wait(&mut rx, timeout).await {
        Ok(outcome) => outcome.unwrap_or_else(|| Err(error(err::SHARD_GONE))),
        Err(stop) if try_claim(&claim) => stop.reply(Reply::NilArray),
        Err(_) => rx.await.unwrap_or_else(|_| Err(error(err::SHARD_GONE))),
    };
    for shard in shards {
        let claim = claim.clone();
        session.router.run(shard, move |s| s.unblock(&claim)).await;
    }
    outcome
}

enum Readiness {
    Wait,
    Ready,
    /// An XREADGROUP whose key or group went away.
    Gone,
}

/// Whether a parked read can be answered now, without changing anything.
fn ready(shard: &mut Shard, req: &Request, key: &[u8], from: From) -> Readiness {
    let stream = match shard.write(key).map(|e| e.value()) {
        Some(crate::shard::ValueRef::Stream(s)) => Some(s),
        Some(_) => None,
        None => None,
    };
    let Some((group, _)) = &req.group else {
        return match (stream, from) {
            (Some(s), From::After(after)) if !s.is_empty() && s.last_valid_id() > after => {
                Readiness::Ready
            }
            _ => Readiness::Wait,
        };
    };
    let Some(g) = stream.and_then(|s| s.groups.get(group).map(|g| (s, g))) else {
        return Readiness::Gone;
    };
    let (s, g) = g;
    if !s.is_empty() && s.last_valid_id() > g.last_id {
        Readiness::Ready
    } else {
        Readiness::Wait
    }
}

pub fn xread(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, false)
}

pub fn xreadgroup(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, true)
}
