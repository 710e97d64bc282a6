//! Pops: ZPOPMIN/ZPOPMAX, ZMPOP, and the blocking BZPOPMIN/BZPOPMAX/BZMPOP. A blocking pop
//! first tries its keys in order (each on its shard); when all are empty it parks one waiter
//! per key sharing a claim flag (see `shard::blocking`), and waits for the first shard to serve
//! it, the timeout, or the peer leaving.

use crate::command::write_as;
use crate::shard::types::ZSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::super::args::{parse_int, parse_timeout};
use super::super::blocked::Blocked;
use super::super::{err, error, Args, CmdResult, NumKeys, Session};
use super::{drop_if_empty, Routine};
use crate::protocol::Reply;
use crate::shard::blocking::try_claim;
use crate::shard::{Shard, ShardId};

/// Removes up to `count` members from the low (or high) end of `key` and signals it with the
/// pop event; None when absent. Highest first for `max`.
fn pop_from(
    shard: &mut Shard,
    key: &[u8],
    max: bool,
    count: usize,
) -> Result<Option<Vec<(Bytes, f64)>>, Reply> {
    let Some(z) = write_as::<ZSet>(shard, key)? else {
        return Ok(None);
    };
    let len = z.len();
    let n = count.min(len);
    let mut popped = if max {
        z.remove_range(len - n, len)
    } else {
        z.remove_range(0, n)
    };
    if max {
        popped.reverse();
    }
    if !popped.is_empty() {
        drop_if_empty(shard, key);
        let event = if max { "zpopmax" } else { "zpopmin" };
        crate::command::notify_removal(shard, crate::pubsub::notify::ZSET, event, key);
    }
    Ok(Some(popped))
}

fn pair(m: Bytes, s: f64) -> Reply {
    Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)])
}

fn zpop_generic(shard: &mut Shard, args: &mut Args, max: bool) -> CmdResult {
    let key = args.arg()?;
    let count = match args.remaining() {
        0 => None,
        1 => {
            let n = parse_int(&args.next()?).ok_or_else(|| error(err::NOT_POSITIVE))?;
            if n < 0 {
                return Err(error(err::NOT_POSITIVE));
            }
            Some(n as usize)
        }
        _ => return Err(error(err::SYNTAX)),
    };
    if count == Some(0) {
        write_as::<ZSet>(shard, key)?;
        shard.unchanged();
        return Ok(Reply::Array(Vec::new()));
    }
    let popped = pop_from(shard, key, max, count.unwrap_or(1))?.unwrap_or_default();
    Ok(match count {
        None => Reply::Array(
            popped
                .into_iter()
                .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
                .collect(),
        ),
        Some(_) => Reply::Pairs(
            popped
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        ),
    })
}

pub fn zpopmin(shard: &mut Shard, args: &mut Args) -> CmdResult {
    zpop_generic(shard, args, false)
}

pub fn zpopmax(shard: &mut Shard, args: &mut Args) -> CmdResult {
    zpop_generic(shard, args, true)
}

/// How a pop's result is shaped.
#[derive(Clone, Copy)]
enum Shape {
    /// BZPOPMIN/BZPOPMAX: `[key, member, score]`.
    Flat,
    /// ZMPOP/BZMPOP: `[key, [[member, score], ...]]`.
    Nested,
}

/// A pop request over several keys.
#[derive(Clone)]
struct Pop {
    keys: Vec<Bytes>,
    max: bool,
    count: usize,
    shape: Shape,
}

impl Pop {
    /// Pops from `key` if it holds members: the reply, or None when empty/absent.
    fn try_key(&self, shard: &mut Shard, key: &Bytes) -> Result<Option<Reply>, Reply> {
        let Some(popped) = pop_from(shard, key, self.max, self.count)? else {
            return Ok(None);
        };
        if popped.is_empty() {
            return Ok(None);
        }
        if shard.journaling() {
            // Served outside `run_op`: journaled as the members it removed.
            let mut command: Vec<&[u8]> = vec![b"ZREM", key];
            command.extend(popped.iter().map(|(m, _)| &m[..]));
            shard.journal(&command);
        }
        Ok(Some(match self.shape {
            Shape::Flat => {
                let (m, s) = popped.into_iter().next().expect("one popped");
                Reply::Array(vec![
                    Reply::Bulk(key.clone()),
                    Reply::Bulk(m),
                    Reply::Double(s),
                ])
            }
            Shape::Nested => Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(popped.into_iter().map(|(m, s)| pair(m, s)).collect()),
            ]),
        }))
    }

    /// Tries every key in order, each on its shard; the first WRONGTYPE stops the search.
    async fn try_all(&self, session: &Session) -> Result<Option<Reply>, Reply> {
        let db = session.db;
        for key in &self.keys {
            let shard = session.router.shard_of(key);
            let (pop, key) = (self.clone(), key.clone());
            let found = session
                .router
                .run(shard, move |s| {
                    s.select(db);
                    let found = pop.try_key(s, &key);
                    if s.has_ready() {
                        s.serve_blocked();
                    }
                    found
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))??;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Waits until a key can be popped, the timeout (None: forever) passes, or the peer leaves.
    async fn block(self, session: &Session, timeout: Option<Duration>) -> CmdResult {
        if session.tx.in_exec {
            // Inside EXEC a blocking command answers as if it timed out at once.
            return Ok(Reply::NilArray);
        }
        let db = session.db;
        let mut blocked = Blocked::begin(session);
        let claim = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel::<Reply>();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let mut shards: Vec<ShardId> = Vec::new();
        for key in self.keys.clone() {
            let shard = session.router.shard_of(&key);
            if !shards.contains(&shard) {
                shards.push(shard);
            }
            let (pop, tx, waiter_key) = (self.clone(), tx.clone(), key.clone());
            let serve = Box::new(move |s: &mut Shard, claim: &AtomicBool| {
                let ready =
                    matches!(write_as::<ZSet>(s, &waiter_key), Ok(Some(z)) if !z.is_empty());
                if !ready {
                    return false;
                }
                if !try_claim(claim) {
                    return true;
                }
                if let Ok(Some(reply)) = pop.try_key(s, &waiter_key) {
                    if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                        let _ = tx.send(reply);
                    }
                }
                true
            });
            let claim = claim.clone();
            session
                .router
                .run(shard, move |s| {
                    s.select(db);
                    s.block_on(&key, claim, serve);
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))?;
        }
        let mut rx = rx;
        let outcome = match blocked.wait(&mut rx, timeout).await {
            Ok(reply) => reply.ok_or_else(|| error(err::SHARD_GONE)),
            // Stopped first: whoever claims first owns the outcome.
            Err(stop) if try_claim(&claim) => stop.reply(Reply::NilArray),
            Err(_) => rx.await.map_err(|_| error(err::SHARD_GONE)),
        };
        // Drop the registrations still parked on the other keys (or the other shards).
        for shard in shards {
            let claim = claim.clone();
            session.router.run(shard, move |s| s.unblock(&claim)).await;
        }
        outcome
    }
}

fn bzpop_generic(session: &mut Session, args: Args, max: bool) -> Routine<'_> {
    Box::pin(async move {
        let items = args.into_items();
        let timeout = parse_timeout(&items[items.len() - 1])?;
        let pop = Pop {
            keys: items[1..items.len() - 1].to_vec(),
            max,
            count: 1,
            shape: Shape::Flat,
        };
        if let Some(reply) = pop.try_all(session).await? {
            return Ok(reply);
        }
        pop.block(session, timeout).await
    })
}

pub fn bzpopmin(session: &mut Session, args: Args) -> Routine<'_> {
    bzpop_generic(session, args, false)
}

pub fn bzpopmax(session: &mut Session, args: Args) -> Routine<'_> {
    bzpop_generic(session, args, true)
}

/// Parses `numkeys key... MIN|MAX [COUNT count]` (the cursor is at numkeys).
fn parse_mpop(args: &mut Args) -> Result<Pop, Reply> {
    let keys = args.numkeys(NumKeys::Pop)?;
    let max = if args.keyword("MIN") {
        false
    } else if args.keyword("MAX") {
        true
    } else {
        return Err(error(err::SYNTAX));
    };
    let mut count: Option<usize> = None;
    while !args.is_done() {
        if count.is_none() && args.remaining() >= 2 && args.keyword("COUNT") {
            let n = parse_int(&args.next()?).ok_or_else(|| error(err::COUNT_NOT_POSITIVE))?;
            if n < 1 {
                return Err(error(err::COUNT_NOT_POSITIVE));
            }
            count = Some(n as usize);
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    Ok(Pop {
        keys,
        max,
        count: count.unwrap_or(1),
        shape: Shape::Nested,
    })
}

pub fn zmpop(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let mut args = args;
        let pop = parse_mpop(&mut args)?;
        Ok(pop.try_all(session).await?.unwrap_or(Reply::NilArray))
    })
}

pub fn bzmpop(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let mut args = args;
        // Redis reads the timeout after the rest: a bad numkeys or option answers first.
        let raw_timeout = args.next()?;
        let pop = parse_mpop(&mut args)?;
        let timeout = parse_timeout(&raw_timeout)?;
        if let Some(reply) = pop.try_all(session).await? {
            return Ok(reply);
        }
        pop.block(session, timeout).await
    })
}
