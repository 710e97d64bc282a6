//! The blocking list commands: BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH. Each first tries its
//! non-blocking form; if nothing is there it parks one waiter per key on the key's shard (all
//! sharing one claim flag, see `shard::blocking`) and waits for a serving, its timeout, or its
//! peer leaving. Served elements never vanish: a client that left after a shard served it gets
//! its elements pushed back where they came from.

use crate::command::write_as;
use crate::shard::types::List;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::{
    end_of, gone, journal_move, move_between, move_local, multi_pop_now, multi_reply,
    parse_multi_pop, pop_ready, push_and_serve, Move, Routine,
};
use crate::command::args::parse_timeout;
use crate::command::blocked::{Blocked, Stop};
use crate::command::{Args, CmdResult, Session};
use crate::protocol::Reply;
use crate::shard::blocking::{try_claim, ServeFn};
use crate::shard::{Shard, ShardId};

/// What a waiter takes from its key once the key holds a list.
#[derive(Clone)]
enum Want {
    /// Up to `count` elements from one end.
    Pop { front: bool, count: usize },
    /// One element moved into `m.dst`, which lives on the same shard.
    Move(Move),
    /// One element popped for a destination on another shard (the handler pushes it there).
    MoveOut { front: bool },
}

/// What a shard hands back to the blocked handler.
enum Outcome {
    Popped {
        key: Bytes,
        values: Vec<Bytes>,
        front: bool,
    },
    Done(Reply),
    MovedOut {
        key: Bytes,
        value: Bytes,
        front: bool,
    },
}

type Sender = Arc<Mutex<Option<oneshot::Sender<Outcome>>>>;

/// The serving function parked on `key`: takes the claim only when the key holds a non-empty
/// list, then does `want` and sends the outcome.
fn serve_fn(key: Bytes, want: Want, tx: Sender) -> ServeFn {
    Box::new(move |s: &mut Shard, claim: &AtomicBool| {
        if !matches!(write_as::<List>(s, &key), Ok(Some(l)) if !l.is_empty()) {
            return false;
        }
        if !try_claim(claim) {
            return true;
        }
        let outcome = match &want {
            Want::Pop { front, count } => Outcome::Popped {
                key: key.clone(),
                values: pop_ready(s, &key, *front, *count)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                front: *front,
            },
            Want::Move(m) => {
                let reply = move_local(s, m).unwrap_or_else(|e| e);
                if matches!(reply, Reply::Bulk(_)) {
                    journal_move(s, m);
                }
                Outcome::Done(reply)
            }
            Want::MoveOut { front } => match pop_ready(s, &key, *front, 1) {
                Ok(Some(mut v)) => Outcome::MovedOut {
                    key: key.clone(),
                    value: v.pop().unwrap_or_default(),
                    front: *front,
                },
                _ => Outcome::Done(Reply::Nil),
            },
        };
        if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(outcome);
        }
        true
    })
}

/// Parks the client on every key (in order) and waits. `Ok(None)` inside EXEC or when the
/// serving shard sent nothing; `Err` when it stopped waiting before anything was served.
async fn block(
    session: &Session,
    waits: Vec<(Bytes, Want)>,
    timeout: Option<Duration>,
) -> Result<Option<Outcome>, Stop> {
    if session.tx.in_exec {
        // Inside EXEC a blocking command answers as if it timed out at once.
        return Err(Stop::TimedOut);
    }
    let mut blocked = Blocked::begin(session);
    let db = session.db;
    let router = &session.router;
    let claim = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = oneshot::channel();
    let tx: Sender = Arc::new(Mutex::new(Some(tx)));
    let mut shards: Vec<ShardId> = Vec::new();
    let registrations = waits.len();
    for (key, want) in waits {
        let shard = router.shard_of(&key);
        if !shards.contains(&shard) {
            shards.push(shard);
        }
        let serve = serve_fn(key.clone(), want, tx.clone());
        let claim = claim.clone();
        let parked = router
            .run(shard, move |s| {
                s.select(db);
                s.block_on(&key, claim, serve);
            })
            .await;
        if parked.is_none() {
            return Err(Stop::TimedOut);
        }
    }
    let outcome = match blocked.wait(&mut rx, timeout).await {
        Ok(outcome) => Ok(outcome),
        // Stopped first: nobody may serve us any more.
        Err(stop) if try_claim(&claim) => Err(stop),
        // A shard took the claim just before: its outcome is already on the way.
        Err(_) => Ok(rx.await.ok()),
    };
    if registrations > 1 || !matches!(outcome, Ok(Some(_))) {
        // Drop the registrations left on other keys (a served one is already gone); no need
        // to wait for it.
        for shard in shards {
            let claim = claim.clone();
            let job = move |s: &mut Shard| s.unblock(&claim);
            if router.runs_inline(shard) {
                router.run_inline(job);
            } else {
                drop(router.post(shard, job));
            }
        }
    }
    outcome
}

/// Pushes `values` (popped from `front` or the back of `key`) back where they came from.
async fn restore(session: &Session, key: Bytes, values: Vec<Bytes>, front: bool) {
    let db = session.db;
    let shard = session.router.shard_of(&key);
    let _ = session
        .router
        .run(shard, move |s| {
            for value in values.into_iter().rev() {
                let _ = push_and_serve(s, db, &key, value, front);
            }
        })
        .await;
}

/// The reply a blocking command gives once served.
enum Shape {
    /// BLPOP/BRPOP: `[key, element]`.
    Pair,
    /// BLMPOP: `[key, [elements...]]`.
    Multi,
    /// BLMOVE/BRPOPLPUSH: the element, pushed to the move's destination.
    Moved(Move),
}

/// Turns a served outcome into the reply.
async fn finish(
    session: &Session,
    outcome: Result<Option<Outcome>, Stop>,
    shape: Shape,
) -> CmdResult {
    let left = session.hangup.is_raised();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(stop) => return stop.reply(Reply::NilArray),
    };
    match outcome {
        None => Ok(Reply::NilArray),
        Some(Outcome::Done(reply)) => Ok(reply),
        Some(Outcome::Popped { key, values, front }) if left => {
            restore(session, key, values, front).await;
            Ok(Reply::NilArray)
        }
        Some(Outcome::Popped {
            key, mut values, ..
        }) => Ok(match shape {
            Shape::Pair if values.len() == 1 => {
                Reply::Array(vec![Reply::Bulk(key), Reply::Bulk(values.remove(0))])
            }
            _ => multi_reply(key, values),
        }),
        Some(Outcome::MovedOut { key, value, front }) => {
            // BLMOVE to another shard: the pop above and this push are two steps; between them
            // the element is in neither list, and a destination that changed type meanwhile
            // gets the element back on the source and the client WRONGTYPE.
            let Shape::Moved(m) = shape else {
                return Ok(Reply::Bulk(value));
            };
            let db = session.db;
            let shard = session.router.shard_of(&m.dst);
            let (dst_key, pushed) = (m.dst.clone(), value.clone());
            let result = session
                .router
                .run(shard, move |s| {
                    push_and_serve(s, db, &dst_key, pushed, m.to_front)
                })
                .await
                .ok_or_else(gone)?;
            match result {
                Ok(_) => Ok(Reply::Bulk(value)),
                Err(e) => {
                    restore(session, key, vec![value], front).await;
                    Err(e)
                }
            }
        }
    }
}

/// BLPOP / BRPOP.
async fn pop_blocking(session: &mut Session, args: Args, front: bool) -> CmdResult {
    let items = args.all();
    let timeout = parse_timeout(&items[items.len() - 1])?;
    let keys: Vec<Bytes> = items[1..items.len() - 1].to_vec();
    let db = session.db;
    for key in &keys {
        let shard = session.router.shard_of(key);
        let key = key.clone();
        let found = session
            .router
            .run(shard, move |s| {
                s.select(db);
                pop_ready(s, &key, front, 1).map(|v| v.map(|mut v| (key, v.remove(0))))
            })
            .await
            .ok_or_else(gone)??;
        if let Some((key, value)) = found {
            return Ok(Reply::Array(vec![Reply::Bulk(key), Reply::Bulk(value)]));
        }
    }
    let waits = keys
        .into_iter()
        .map(|k| (k, Want::Pop { front, count: 1 }))
        .collect();
    let outcome = block(session, waits, timeout).await;
    finish(session, outcome, Shape::Pair).await
}

pub fn blpop(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(pop_blocking(session, args, true))
}

pub fn brpop(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(pop_blocking(session, args, false))
}

pub fn blmpop(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        // Redis reads the timeout after the rest: a bad numkeys or option answers first.
        let raw_timeout = args.next()?;
        let p = parse_multi_pop(&mut args)?;
        let timeout = parse_timeout(&raw_timeout)?;
        let now = multi_pop_now(session, &p).await?;
        if !matches!(now, Reply::NilArray) {
            return Ok(now);
        }
        let waits = p
            .keys
            .iter()
            .map(|k| {
                let want = Want::Pop {
                    front: p.front,
                    count: p.count,
                };
                (k.clone(), want)
            })
            .collect();
        let outcome = block(session, waits, timeout).await;
        finish(session, outcome, Shape::Multi).await
    })
}

/// BLMOVE / BRPOPLPUSH once parsed.
async fn move_blocking(session: &mut Session, m: Move, timeout: Option<Duration>) -> CmdResult {
    let db = session.db;
    let (a, b) = (
        session.router.shard_of(&m.src),
        session.router.shard_of(&m.dst),
    );
    let now = if a == b {
        let job = m.clone();
        session
            .router
            .run(a, move |s| {
                s.select(db);
                let reply = move_local(s, &job);
                if matches!(reply, Ok(Reply::Bulk(_))) {
                    journal_move(s, &job);
                }
                if s.has_ready() {
                    s.serve_blocked();
                }
                reply
            })
            .await
            .ok_or_else(gone)??
    } else {
        move_between(session, m.clone()).await?
    };
    if !matches!(now, Reply::Nil) || session.tx.in_exec {
        // Inside EXEC the move does not block: Redis answers a null bulk there.
        return Ok(now);
    }
    let want = if a == b {
        Want::Move(m.clone())
    } else {
        Want::MoveOut {
            front: m.from_front,
        }
    };
    let outcome = block(session, vec![(m.src.clone(), want)], timeout).await;
    finish(session, outcome, Shape::Moved(m)).await
}

pub fn blmove(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let src = args.next()?;
        let dst = args.next()?;
        let from_front = end_of(&args.next()?)?;
        let to_front = end_of(&args.next()?)?;
        let timeout = parse_timeout(&args.next()?)?;
        let m = Move {
            src,
            dst,
            from_front,
            to_front,
            rpoplpush: false,
        };
        move_blocking(session, m, timeout).await
    })
}

pub fn brpoplpush(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let src = args.next()?;
        let dst = args.next()?;
        let timeout = parse_timeout(&args.next()?)?;
        let m = Move {
            src,
            dst,
            from_front: false,
            to_front: true,
            rpoplpush: true,
        };
        move_blocking(session, m, timeout).await
    })
}
