//! Multi-key set commands. On one shard they run as ordinary *Op*s over borrowed sets; when
//! the keys span shards, each shard sends copies of its sets to the connection's core, which
//! computes the result. The STORE forms and SMOVE hold every shard involved first, so the
//! read-compute-write is atomic across shards.

use crate::command::{read_as, write_as};
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::limits;
use crate::command::{err, error, notify, notify_removal, Args, CmdResult, NumKeys, Session};
use crate::protocol::Reply;
use crate::pubsub::notify::SET as SET_EVENTS;
use crate::shard::types::Set;
use crate::shard::ValueRef;
use crate::shard::{Holding, Shard, ShardId, Value};

type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

impl Algebra {
    /// The keyspace event of the STORE form.
    fn store_event(self) -> &'static str {
        match self {
            Algebra::Inter => "sinterstore",
            Algebra::Union => "sunionstore",
            Algebra::Diff => "sdiffstore",
        }
    }
}

/// Checks every key (all must be sets or absent, as Redis checks them all before computing),
/// then borrows them at once.
fn borrow_sets<'a>(shard: &'a mut Shard, keys: &[Bytes]) -> Result<Vec<Option<&'a Set>>, Reply> {
    for key in keys {
        read_as::<Set>(shard, key)?;
    }
    let db = &*shard.db();
    Ok(keys
        .iter()
        .map(|k| match db.get_raw(k).map(|e| e.value()) {
            Some(ValueRef::Set(s)) => Some(s),
            _ => None,
        })
        .collect())
}

/// The result set of `op` over `sets`, built as Redis builds it (so its encoding and member
/// order match what a fresh SADD of the result would give).
fn compute(op: Algebra, sets: &[Option<&Set>]) -> Set {
    let limits = limits();
    match op {
        Algebra::Inter => {
            let members = intersection(sets, usize::MAX);
            Set::from_members(members.iter().map(|m| &m[..]), members.len(), &limits)
        }
        Algebra::Union => {
            let mut out = Set::default();
            for set in sets.iter().flatten() {
                for m in set.iter() {
                    out.add(&m, &limits);
                }
            }
            out
        }
        Algebra::Diff => {
            let mut out = Set::default();
            if let Some(Some(first)) = sets.first() {
                for m in first.iter() {
                    if !sets[1..].iter().flatten().any(|s| s.contains(&m)) {
                        out.add(&m, &limits);
                    }
                }
            }
            out
        }
    }
}

/// Members of the intersection, walking the smallest set in its own order; stops at `limit`.
fn intersection(sets: &[Option<&Set>], limit: usize) -> Vec<Bytes> {
    if sets.iter().any(Option::is_none) {
        return Vec::new();
    }
    let mut sets: Vec<&Set> = sets.iter().flatten().copied().collect();
    sets.sort_by_key(|s| s.len());
    let mut out = Vec::new();
    for m in sets[0].iter() {
        if out.len() >= limit {
            break;
        }
        if sets[1..].iter().all(|s| s.contains(&m)) {
            out.push(m);
        }
    }
    out
}

/// The reply of SINTER/SUNION/SDIFF.
fn algebra_reply(op: Algebra, sets: &[Option<&Set>]) -> Reply {
    let members: Vec<Reply> = if op == Algebra::Inter {
        intersection(sets, usize::MAX)
            .into_iter()
            .map(Reply::Bulk)
            .collect()
    } else {
        compute(op, sets).iter().map(Reply::Bulk).collect()
    };
    Reply::Set(members)
}

/// Stores `result` at `dest` (deleting `dest` when empty); replies with its size.
/// Only `dest` is signalled (`op`'s store event, or `del`), and only when it changed; the
/// sources are not.
fn store_result(shard: &mut Shard, dest: &[u8], result: Set, op: Algebra) -> Reply {
    shard.unchanged();
    let len = result.len();
    if len > 0 {
        shard.store(dest, Value::Set(Box::new(result)), 0);
        notify(shard, SET_EVENTS, op.store_event(), dest);
    } else if shard.delete(dest).is_some() {
        notify(shard, crate::pubsub::notify::GENERIC, "del", dest);
    }
    Reply::Int(len as i64)
}

fn local(shard: &mut Shard, args: &mut Args, op: Algebra) -> CmdResult {
    let keys = args.rest().to_vec();
    let sets = borrow_sets(shard, &keys)?;
    Ok(algebra_reply(op, &sets))
}

fn local_store(shard: &mut Shard, args: &mut Args, op: Algebra) -> CmdResult {
    let dest = args.next()?;
    let keys = args.rest().to_vec();
    let sets = borrow_sets(shard, &keys)?;
    let result = compute(op, &sets);
    Ok(store_result(shard, &dest, result, op))
}

pub fn sinter(shard: &mut Shard, args: &mut Args) -> CmdResult {
    local(shard, args, Algebra::Inter)
}

pub fn sunion(shard: &mut Shard, args: &mut Args) -> CmdResult {
    local(shard, args, Algebra::Union)
}

pub fn sdiff(shard: &mut Shard, args: &mut Args) -> CmdResult {
    local(shard, args, Algebra::Diff)
}

pub fn sinterstore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    local_store(shard, args, Algebra::Inter)
}

pub fn sunionstore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    local_store(shard, args, Algebra::Union)
}

pub fn sdiffstore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    local_store(shard, args, Algebra::Diff)
}

/// Copies of the sets at `keys` (None = absent), fetched with one job per shard, through
/// `holding` when the caller holds the shards.
async fn fetch_sets(
    session: &Session,
    holding: Option<&Holding>,
    keys: &[Bytes],
) -> Result<Vec<Option<Set>>, Reply> {
    let db = session.db;
    let mut groups: Vec<(ShardId, Vec<usize>)> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let shard = session.router.shard_of(key);
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, ids)) => ids.push(i),
            None => groups.push((shard, vec![i])),
        }
    }
    let mut out: Vec<Option<Set>> = vec![None; keys.len()];
    let mut failure = None;
    for (shard, ids) in groups {
        let wanted: Vec<Bytes> = ids.iter().map(|&i| keys[i].clone()).collect();
        let job = move |s: &mut Shard| {
            s.select(db);
            wanted
                .iter()
                .map(|k| read_as::<Set>(s, k).map(|set| set.cloned()))
                .collect::<Vec<_>>()
        };
        let got = match holding {
            Some(h) => h.run(shard, job).await,
            None => session.router.run(shard, job).await,
        }
        .ok_or_else(|| error(err::SHARD_GONE))?;
        for (i, set) in ids.into_iter().zip(got) {
            match set {
                Ok(set) => out[i] = set,
                Err(e) => failure = Some(e),
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn as_refs(sets: &[Option<Set>]) -> Vec<Option<&Set>> {
    sets.iter().map(Option::as_ref).collect()
}

async fn cross(session: &mut Session, args: Args, op: Algebra) -> CmdResult {
    let keys = args.all()[1..].to_vec();
    let sets = fetch_sets(session, None, &keys).await?;
    Ok(algebra_reply(op, &as_refs(&sets)))
}

/// A STORE form across shards: hold the destination's and every source's shard, read,
/// compute here, write the destination.
async fn cross_store(session: &mut Session, args: Args, op: Algebra) -> CmdResult {
    let dest = args.all()[1].clone();
    let keys = args.all()[2..].to_vec();
    let mut shards: Vec<ShardId> = keys.iter().map(|k| session.router.shard_of(k)).collect();
    let dest_shard = session.router.shard_of(&dest);
    shards.push(dest_shard);
    let holding = session.router.hold(&shards).await;
    let sets = fetch_sets(session, Some(&holding), &keys).await?;
    let result = compute(op, &as_refs(&sets));
    let db = session.db;
    holding
        .run(dest_shard, move |s| {
            s.select(db);
            store_result(s, &dest, result, op)
        })
        .await
        .ok_or_else(|| error(err::SHARD_GONE))
}

pub fn sinter_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(cross(session, args, Algebra::Inter))
}

pub fn sunion_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(cross(session, args, Algebra::Union))
}

pub fn sdiff_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(cross(session, args, Algebra::Diff))
}

pub fn sinterstore_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(cross_store(session, args, Algebra::Inter))
}

pub fn sunionstore_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(cross_store(session, args, Algebra::Union))
}

pub fn sdiffstore_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(cross_store(session, args, Algebra::Diff))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]: the keys are counted by an argument, so
/// the command routes itself (always through `fetch_sets`, one job per shard).
pub fn sintercard(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let keys = args.numkeys(NumKeys::Card)?;
        let mut limit = 0usize;
        while !args.is_done() {
            if args.remaining() >= 2 && args.keyword("LIMIT") {
                limit = crate::command::args::parse_int(&args.next()?)
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| error(err::LIMIT_NEGATIVE))? as usize;
            } else {
                return Err(error(crate::command::err::SYNTAX));
            }
        }
        let sets = fetch_sets(session, None, &keys).await?;
        let limit = if limit == 0 { usize::MAX } else { limit };
        Ok(Reply::Int(intersection(&as_refs(&sets), limit).len() as i64))
    })
}

pub fn smove(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let (src, dest, member) = (args.next()?, args.next()?, args.next()?);
    // Each side is signalled where it changes (`move_out`, `move_in`).
    shard.unchanged();
    if write_as::<Set>(shard, &src)?.is_none() {
        return Ok(Reply::Int(0));
    }
    write_as::<Set>(shard, &dest)?;
    if src == dest {
        let found = write_as::<Set>(shard, &src)?.is_some_and(|s| s.contains(&member));
        return Ok(Reply::Int(found as i64));
    }
    let removed = move_out(shard, &src, &member)?;
    if removed {
        move_in(shard, &dest, &member)?;
    }
    Ok(Reply::Int(removed as i64))
}

/// Removes `member` from the set at `src` (deleting an emptied set) and signals it; true when
/// it was there.
fn move_out(shard: &mut Shard, src: &[u8], member: &[u8]) -> Result<bool, Reply> {
    let Some(set) = write_as::<Set>(shard, src)? else {
        return Ok(false);
    };
    let removed = set.remove(member);
    if set.is_empty() {
        shard.delete(src);
    }
    if removed {
        notify_removal(shard, SET_EVENTS, "srem", src);
    }
    Ok(removed)
}

/// Adds `member` to the set at `dest`, creating it; signals it when the member is new.
fn move_in(shard: &mut Shard, dest: &[u8], member: &[u8]) -> Result<(), Reply> {
    let limits = limits();
    let added = match write_as::<Set>(shard, dest)? {
        Some(set) => set.add(member, &limits),
        None => {
            let mut set = Set::new(member, 1, &limits);
            set.add(member, &limits);
            shard.store(dest, Value::Set(Box::new(set)), 0);
            true
        }
    };
    if added {
        notify(shard, SET_EVENTS, "sadd", dest);
    }
    Ok(())
}

/// SMOVE between shards: hold both, check both types, then remove and add.
pub fn smove_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let (src, dest, member) = (args.next()?, args.next()?, args.next()?);
        let (a, b) = (
            session.router.shard_of(&src),
            session.router.shard_of(&dest),
        );
        let db = session.db;
        let holding = session.router.hold(&[a, b]).await;
        let gone = || error(err::SHARD_GONE);
        let key = src.clone();
        let src_state = holding
            .run(a, move |s| {
                s.select(db);
                write_as::<Set>(s, &key).map(|set| set.is_some())
            })
            .await
            .ok_or_else(gone)??;
        if !src_state {
            return Ok(Reply::Int(0));
        }
        let key = dest.clone();
        holding
            .run(b, move |s| {
                s.select(db);
                write_as::<Set>(s, &key).map(|_| ())
            })
            .await
            .ok_or_else(gone)??;
        let m = member.clone();
        let removed = holding
            .run(a, move |s| {
                s.select(db);
                move_out(s, &src, &m)
            })
            .await
            .ok_or_else(gone)??;
        if removed {
            holding
                .run(b, move |s| {
                    s.select(db);
                    move_in(s, &dest, &member)
                })
                .await
                .ok_or_else(gone)??;
        }
        Ok(Reply::Int(removed as i64))
    })
}
