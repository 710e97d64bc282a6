//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! MULTI queues commands on the connection's core (dispatch answers `+QUEUED`). EXEC runs them
//! atomically: when every queued command is keyed to one shard and the watched keys live there
//! too, the whole transaction is one job on that shard (one hop, nothing can interleave). Else
//! EXEC holds every shard the transaction may touch, in ascending id order through the mailbox
//! (the same ordered holds MSET and RENAME use, so no two holders can deadlock), runs the
//! commands one by one with the session's router sending all work through that holding, and
//! releases. Keyless commands that visit shards (FLUSHALL, KEYS, blocking pops, SORT...) hold
//! them all. Clients blocked on keys are served after the transaction, as Redis does, and a
//! blocking command inside EXEC does not block.
//!
//! WATCH registers the key on its shard with the client's dirty flag (see `shard::watch`); a
//! write to the key from any core raises it in the same shard job. EXEC checks the flags (and
//! that keys live at WATCH time did not expire) on the owning shards while holding them.

use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;

use super::dispatch::{call, run_op_for, single_shard, unknown_command, PendingAtomic};
use super::table::{flags, lookup, row, CommandSpec, Flags, NOKEY};
use super::{err, error, Args, CmdResult, Kind, Session, ShardOp};
use crate::protocol::Reply;
use crate::shard::mailbox::{AtomicPart, AtomicReply};
use crate::shard::watch::WatchFlag;
use crate::shard::{Shard, ShardId};
use crate::state::ThreadStats;

/// The transaction commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "multi",
        1,
        flags!(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | NOT_QUEUED),
        NOKEY,
        Kind::Local(multi),
        "transactions",
        "1.2.0",
        "Starts a transaction.",
        "",
    ),
    row(
        "exec",
        1,
        flags!(NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | NOT_QUEUED | ENDS_MULTI | RUNS_QUEUE),
        NOKEY,
        Kind::Routed(exec),
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
        "",
    ),
    row(
        "discard",
        1,
        flags!(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | NOT_QUEUED | ENDS_MULTI),
        NOKEY,
        Kind::Routed(discard),
        "transactions",
        "2.0.0",
        "Discards a transaction.",
        "",
    ),
    row(
        "watch",
        -2,
        flags!(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | NOT_QUEUED),
        (1, -1, 1),
        Kind::Routed(watch),
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        "key [key ...]",
    ),
    row(
        "unwatch",
        1,
        flags!(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY),
        NOKEY,
        Kind::Routed(unwatch),
        "transactions",
        "2.2.0",
        "Forgets about watched keys of a transaction.",
        "",
    ),
];

/// True when EXEC must refuse `queued`: out of memory and some command may use more.
fn refused_for_memory(queued: &[Vec<Bytes>]) -> bool {
    crate::shard::evict::out_of_memory()
        && queued.iter().any(|items| {
            lookup(&items[0]).is_some_and(|(_, spec)| {
                let spec = spec.resolve(items);
                super::scripting::implied_flags(spec, items)
                    .map_or(spec.has(Flags::DENYOOM), |(denyoom, _)| denyoom)
            })
        })
}

/// A connection's transaction state.
#[derive(Default)]
pub struct State {
    /// Commands queued since MULTI; None outside MULTI.
    queued: Option<Vec<Vec<Bytes>>>,
    /// A command failed to queue: EXEC must abort.
    aborted: bool,
    /// Watched keys: (shard, db, key, live at WATCH).
    watched: Vec<(ShardId, usize, Bytes, bool)>,
    flag: WatchFlag,
    /// EXEC is running the queued commands (blocking commands must not block).
    pub in_exec: bool,
    /// A script is running these commands (set with `in_exec`; XREAD refuses BLOCK then).
    pub in_script: bool,
    /// The error reply the last script gave was an inner call's error, counted already in
    /// the error stats when that call failed: the script's call counts as failed only.
    pub error_counted: bool,
}

impl State {
    /// True between MULTI and EXEC/DISCARD.
    pub fn in_multi(&self) -> bool {
        self.queued.is_some()
    }

    /// The commands queued since MULTI (none outside MULTI).
    pub fn queued(&self) -> &[Vec<Bytes>] {
        self.queued.as_deref().unwrap_or_default()
    }

    /// What dispatch does with a command inside MULTI: `None` runs it now, `Some` is the reply
    /// (`+QUEUED`, or the error that aborts the transaction).
    /// Marks the transaction failed (EXECABORT) when one is open: a queued command was refused.
    pub fn abort(&mut self) {
        if self.queued.is_some() {
            self.aborted = true;
        }
    }

    pub fn offer(&mut self, items: &[Bytes]) -> Option<Reply> {
        let queued = self.queued.as_mut()?;
        let Some(spec) = lookup(&items[0]).map(|(_, spec)| spec.resolve(items)) else {
            self.aborted = true;
            return Some(unknown_command(items));
        };
        let immediate = spec.has(Flags::NOT_QUEUED);
        if !immediate && !spec.arity_ok(items.len()) {
            self.aborted = true;
            return Some(err::arity(spec.name));
        }
        if !immediate {
            if let Some(busy) = super::scripting::busy_reply(spec, items) {
                self.aborted = true;
                return Some(busy);
            }
        }
        if !immediate && spec.has(Flags::NO_MULTI) {
            self.aborted = true;
            return Some(error(err::NOT_IN_MULTI));
        }
        // Queueing takes memory too: out of memory, Redis refuses every command but the ones
        // that end the transaction.
        if crate::shard::evict::out_of_memory() && !spec.has(Flags::ENDS_MULTI) {
            self.aborted = true;
            return Some(error(err::OOM));
        }
        if !immediate
            && super::saving::writes_refused()
            && (spec.has(Flags::WRITE) || spec.name == "ping")
        {
            self.aborted = true;
            return Some(error(err::MISCONF));
        }
        if immediate {
            return None;
        }
        queued.push(items.to_vec());
        Some(Reply::Simple("QUEUED"))
    }
}

fn multi(session: &mut Session, _args: &mut Args) -> CmdResult {
    if session.tx.in_multi() {
        return Err(error(err::MULTI_NESTED));
    }
    session.tx.queued = Some(Vec::new());
    session.tx.aborted = false;
    Ok(Reply::Simple("OK"))
}

type Routine<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + 'a>>;

fn discard(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        if !session.tx.in_multi() {
            return Err(error(err::DISCARD_WITHOUT_MULTI));
        }
        session.tx.queued = None;
        forget_watches(session);
        Ok(Reply::Simple("OK"))
    })
}

fn unwatch(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        forget_watches(session);
        Ok(Reply::Simple("OK"))
    })
}

fn watch(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        if session.tx.in_multi() {
            return Err(error(err::WATCH_IN_MULTI));
        }
        if session.tx.flag.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(Reply::Simple("OK"));
        }
        let db = session.db;
        for key in &args.all()[1..] {
            let known = session.tx.watched.iter();
            if known.clone().any(|(_, d, k, _)| *d == db && k == key) {
                continue;
            }
            let shard = session.router.shard_of(key);
            let (flag, k) = (session.tx.flag.clone(), key.clone());
            let existed = session
                .router
                .run(shard, move |s| {
                    s.select(db);
                    s.watch(&k, &flag)
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))?;
            session.tx.watched.push((shard, db, key.clone(), existed));
        }
        Ok(Reply::Simple("OK"))
    })
}

/// A command refused before it ran (wrong arity, BUSY, OOM): when it is EXEC, Redis discards
/// the transaction and the watches, and names the reason in an EXECABORT.
pub fn refuse(session: &mut Session, spec: &CommandSpec, reason: Reply) -> Reply {
    // Redis answers a refused EXEC with EXECABORT even outside MULTI.
    if !spec.has(Flags::RUNS_QUEUE) {
        return reason;
    }
    discard_transaction(session);
    match reason {
        // Redis names an `ERR` reason by its text alone, any other by its code and text.
        Reply::Error(text) => err::execabort(&text),
        other => other,
    }
}

/// Drops the open transaction and every watch (Redis's discardTransaction).
pub fn discard_transaction(session: &mut Session) {
    session.tx.queued = None;
    session.tx.aborted = false;
    forget_watches(session);
}

/// Drops every watch of the session (UNWATCH, DISCARD, EXEC, RESET, disconnect). The shards
/// forget them in the background; a fresh flag makes any late touch of the old one harmless.
pub fn forget_watches(session: &mut Session) {
    let watched = std::mem::take(&mut session.tx.watched);
    let flag = std::mem::replace(&mut session.tx.flag, Arc::new(AtomicBool::new(false)));
    for (shard, keys) in by_shard(&watched) {
        let keys: Vec<(usize, Bytes)> = keys.into_iter().map(|(db, k, _)| (db, k)).collect();
        let flag = flag.clone();
        let job = move |s: &mut Shard| s.unwatch(&keys, &flag);
        if session.router.runs_inline(shard) {
            session.router.run_inline(job);
        } else {
            drop(session.router.post(shard, job));
        }
    }
}

/// Ends MULTI (RESET).
pub fn reset(session: &mut Session) {
    session.tx.queued = None;
    session.tx.aborted = false;
    forget_watches(session);
}

type WatchedKeys = Vec<(usize, Bytes, bool)>;

fn by_shard(watched: &[(ShardId, usize, Bytes, bool)]) -> Vec<(ShardId, WatchedKeys)> {
    let mut out: Vec<(ShardId, WatchedKeys)> = Vec::new();
    for (shard, db, key, existed) in watched {
        let entry = match out.iter_mut().position(|(s, _)| s == shard) {
            Some(i) => &mut out[i].1,
            None => {
                out.push((*shard, Vec::new()));
                &mut out.last_mut().expect("just pushed").1
            }
        };
        entry.push((*db, key.clone(), *existed));
    }
    out
}

fn exec(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        let Some(queued) = session.tx.queued.take() else {
            return Err(error(err::EXEC_WITHOUT_MULTI));
        };
        if refused_for_memory(&queued) {
            session.tx.aborted = false;
            forget_watches(session);
            return Err(error(err::EXECABORT_OOM));
        }
        if std::mem::take(&mut session.tx.aborted) {
            forget_watches(session);
            return Err(error(err::EXECABORT));
        }
        let watched = by_shard(&session.tx.watched);
        let flag = session.tx.flag.clone();
        let shown = super::monitor::watching().then(|| queued.clone());
        let reply = match one_shard(session, &queued, &watched) {
            Some(shard) => exec_on_shard(session, shard, queued, watched, flag).await,
            None => match keyed_per_shard(session, &queued) {
                Some(groups) if watched.is_empty() => submit_spread(session, queued, groups).await,
                _ => exec_holding(session, queued, watched, flag).await,
            },
        };
        forget_watches(session);
        if let (Some(queued), Ok(Reply::Array(_))) = (shown, &reply) {
            super::monitor::show_queued(session, &queued);
        }
        reply
    })
}

/// The one shard every queued command and watched key belongs to, if there is one and every
/// command is a plain keyed op.
fn one_shard(
    session: &Session,
    queued: &[Vec<Bytes>],
    watched: &[(ShardId, WatchedKeys)],
) -> Option<ShardId> {
    let mut target: Option<ShardId> = watched.first().map(|(s, _)| *s);
    if watched.len() > 1 {
        return None;
    }
    for items in queued {
        let (_, spec) = lookup(&items[0])?;
        if !matches!(spec.kind, Kind::Keyed(..)) {
            return None;
        }
        let shard = single_shard(session, spec, items)?;
        if *target.get_or_insert(shard) != shard {
            return None;
        }
    }
    target.or(Some(session.thread))
}

/// The queued commands' indexes grouped by shard, when each is a keyed command on one shard.
fn keyed_per_shard(session: &Session, queued: &[Vec<Bytes>]) -> Option<Vec<(ShardId, Vec<usize>)>> {
    let mut groups: Vec<(ShardId, Vec<usize>)> = Vec::new();
    for (index, items) in queued.iter().enumerate() {
        let (_, spec) = lookup(&items[0])?;
        if !matches!(spec.kind, Kind::Keyed(..)) {
            return None;
        }
        let shard = single_shard(session, spec, items)?;
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, indexes)) => indexes.push(index),
            None => groups.push((shard, vec![index])),
        }
    }
    Some(groups)
}

/// A queued keyed command ready to run on its shard.
type KeyedOp = (&'static CommandSpec, ShardOp, Args);

/// The queued commands as shard ops, in order (None for a keyless one), counted as calls;
/// and their command-table rows, in order (`usize::MAX`: unknown), to count their errors by.
fn keyed_ops(session: &Session, queued: Vec<Vec<Bytes>>) -> (Vec<Option<KeyedOp>>, Vec<usize>) {
    let mut rows = Vec::with_capacity(queued.len());
    let ops = queued
        .into_iter()
        .map(|items| {
            let Some((row, spec)) = lookup(&items[0]) else {
                rows.push(usize::MAX);
                return None;
            };
            let spec = spec.resolve(&items);
            rows.push(super::table::stat_row(row, spec));
            match spec.kind {
                Kind::Keyed(op, _) => Some((spec, op, Args::of(spec, items))),
                _ => None,
            }
        })
        .collect();
    let known = rows.iter().copied().filter(|&r| r != usize::MAX);
    super::dispatch::count_calls(session, known);
    (ops, rows)
}

/// Counts the error replies among a transaction's `replies` (in queue order, `rows` alike):
/// each is an error reply and a failed call of its command, as Redis counts them as they
/// happen; EXEC itself did not fail.
fn count_inner_errors(stats: &ThreadStats, rows: &[usize], replies: &[Reply]) {
    for (row, reply) in rows.iter().zip(replies) {
        if let Reply::Error(text) = reply {
            stats.note_failed_call(*row, text, false);
        }
    }
}

/// Keyed commands on several shards, no WATCH: each shard's commands run (in queue order) as
/// that shard is granted, the holds taken in ascending order and kept until all ran, so no
/// holder of several of these shards sees part of the transaction. Waiters are served after.
fn submit_spread(
    session: &Session,
    queued: Vec<Vec<Bytes>>,
    groups: Vec<(ShardId, Vec<usize>)>,
) -> PendingAtomic {
    let db = session.db;
    let tracker = session.tracking.tracker();
    let client = session.client.id;
    let count = queued.len();
    let (mut commands, rows) = keyed_ops(session, queued);
    let (server, thread) = (session.server.clone(), session.thread);
    let mut positions = Vec::with_capacity(groups.len());
    let work: Vec<(ShardId, AtomicPart)> = groups
        .into_iter()
        .map(|(shard, indexes)| {
            let ops: Vec<_> = indexes
                .into_iter()
                .filter_map(|i| commands[i].take().map(|c| (i, c)))
                .collect();
            positions.push(ops.iter().map(|(i, _)| *i).collect::<Vec<_>>());
            let part: AtomicPart = Box::new(move |s: &mut Shard| {
                // Waiters on keys this part pushed are served once the part is done (the other
                // shards' parts are invisible to them: they live here).
                s.defer_blocked(true);
                let replies = ops
                    .into_iter()
                    .map(|(_, (spec, op, mut args))| {
                        run_op_for(s, db, spec, op, &mut args, tracker, client)
                    })
                    .collect();
                s.defer_blocked(false);
                Reply::Array(replies)
            });
            (shard, part)
        })
        .collect();
    let router = &session.router;
    let results: AtomicReply = match <[_; 1]>::try_from(work) {
        // One shard: a plain job, inline when it is this thread's, else batched by mail.
        Ok([(shard, part)]) if router.runs_inline(shard) => {
            let reply = router.run_inline(part);
            Box::pin(std::future::ready(vec![Some(reply)]))
        }
        Ok([(shard, part)]) => {
            let wait = router.post(shard, part);
            Box::pin(async move { vec![wait.await.ok()] })
        }
        Err(work) => router.atomic(work),
    };
    Box::pin(async move {
        let mut replies: Vec<Reply> = (0..count).map(|_| error(err::SHARD_GONE)).collect();
        for (indexes, result) in positions.into_iter().zip(results.await) {
            if let Some(Reply::Array(part)) = result {
                for (index, reply) in indexes.into_iter().zip(part) {
                    replies[index] = reply;
                }
            }
        }
        count_inner_errors(&server.stats[thread], &rows, &replies);
        Ok(Reply::Array(replies))
    })
}

/// EXEC of keyed commands with no WATCH, submitted without waiting (dispatch lets the
/// following pipelined transactions join the same batch of holds). None when this EXEC needs
/// the general path (not in MULTI, aborted, watches, keyless or multi-shard commands).
pub fn submit_exec(session: &mut Session) -> Option<PendingAtomic> {
    let queued = session.tx.queued.as_ref()?;
    if session.tx.aborted || !session.tx.watched.is_empty() || refused_for_memory(queued) {
        return None;
    }
    let groups = keyed_per_shard(session, queued)?;
    let queued = session.tx.queued.take()?;
    forget_watches(session);
    if super::monitor::watching() {
        super::monitor::show_queued(session, &queued);
    }
    Some(submit_spread(session, queued, groups))
}

/// One job on `shard`: check the watches, run every command, serve blocked clients after.
async fn exec_on_shard(
    session: &mut Session,
    shard: ShardId,
    queued: Vec<Vec<Bytes>>,
    watched: Vec<(ShardId, WatchedKeys)>,
    flag: WatchFlag,
) -> CmdResult {
    let db = session.db;
    let tracker = session.tracking.tracker();
    let client = session.client.id;
    let (ops, rows) = keyed_ops(session, queued);
    let ops: Vec<KeyedOp> = ops.into_iter().flatten().collect();
    let keys: WatchedKeys = watched.into_iter().flat_map(|(_, k)| k).collect();
    let job = move |s: &mut Shard| {
        if !s.watch_intact(&keys, &flag) {
            return None;
        }
        s.defer_blocked(true);
        let replies: Vec<Reply> = ops
            .into_iter()
            .map(|(spec, op, mut args)| run_op_for(s, db, spec, op, &mut args, tracker, client))
            .collect();
        s.defer_blocked(false);
        Some(replies)
    };
    let replies = session
        .router
        .run(shard, job)
        .await
        .ok_or_else(|| error(err::SHARD_GONE))?;
    if let Some(replies) = &replies {
        count_inner_errors(&session.server.stats[session.thread], &rows, replies);
    }
    Ok(replies.map_or(Reply::NilArray, Reply::Array))
}

/// Every shard the queued commands and watched keys may touch.
fn shards_needed(
    session: &Session,
    queued: &[Vec<Bytes>],
    watched: &[(ShardId, WatchedKeys)],
) -> Vec<ShardId> {
    let all = || (0..session.router.shards()).collect::<Vec<_>>();
    let mut shards: Vec<ShardId> = watched.iter().map(|(s, _)| *s).collect();
    for items in queued {
        let Some((_, spec)) = lookup(&items[0]) else {
            continue;
        };
        match spec.kind {
            Kind::Local(_) => {}
            Kind::Routed(_) => return all(),
            Kind::Keyed(..) => {
                for p in spec.key_positions(items.len()) {
                    shards.push(session.router.shard_of(&items[p]));
                }
            }
        }
    }
    shards.sort_unstable();
    shards.dedup();
    shards
}

/// Holds every shard the transaction needs, then runs the commands one by one through it.
async fn exec_holding(
    session: &mut Session,
    queued: Vec<Vec<Bytes>>,
    watched: Vec<(ShardId, WatchedKeys)>,
    flag: WatchFlag,
) -> CmdResult {
    let shards = shards_needed(session, &queued, &watched);
    let holding = Rc::new(session.router.hold(&shards).await);
    let block = crate::shard::journal::Block::open(&shards);
    let inner = session.router.within(holding.clone());
    let outer = std::mem::replace(&mut session.router, inner);
    let reply = run_held(session, &shards, queued, watched, flag).await;
    session.router = outer;
    if let Some(block) = block {
        block.close(true);
    }
    drop(holding);
    reply
}

async fn run_held(
    session: &mut Session,
    shards: &[ShardId],
    queued: Vec<Vec<Bytes>>,
    watched: Vec<(ShardId, WatchedKeys)>,
    flag: WatchFlag,
) -> CmdResult {
    let router = session.router.clone();
    let mut intact = true;
    for (shard, keys) in watched {
        let flag = flag.clone();
        let ok = router
            .run(shard, move |s| s.watch_intact(&keys, &flag))
            .await;
        intact &= ok.unwrap_or(false);
    }
    if !intact {
        return Ok(Reply::NilArray);
    }
    for &shard in shards {
        router.run(shard, |s| s.defer_blocked(true)).await;
    }
    session.tx.in_exec = true;
    let mut replies = Vec::with_capacity(queued.len());
    for items in queued {
        replies.push(call(session, items).await);
    }
    session.tx.in_exec = false;
    for &shard in shards {
        router.run(shard, |s| s.defer_blocked(false)).await;
    }
    Ok(Reply::Array(replies))
}
