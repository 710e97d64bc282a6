//! What a write puts on the change stream (see `shard::journal`): the command as Redis 7.0
//! propagates it. Relative times become absolute (SET ... PXAT, PEXPIREAT), a past expiry
//! becomes DEL, SPOP becomes SREM, INCRBYFLOAT becomes SET ... KEEPTTL and HINCRBYFLOAT HSET,
//! XADD names the ID it chose; the rest go as they came. Blocking pops and the other commands
//! that change keys outside `run_op` journal their effects where they apply them.

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::table::CommandSpec;
use super::{Args, CmdResult, RoutedOp, Session};
use crate::protocol::Reply;
use crate::shard::journal::{self, Block};
use crate::shard::{Shard, ShardId};

/// The journal hook of `run_op`: called after the op, only while the shard journals. Expired
/// keys the command found go first (as DEL), then the command if it changed anything.
pub fn record(shard: &mut Shard, spec: &CommandSpec, args: &Args, reply: &Reply) {
    if crate::shard::db::RECORD_EXPIRED.load(Relaxed) {
        super::notify_expired(shard);
    }
    let changed = shard.take_changed();
    if !spec.writes() || matches!(reply, Reply::Error(_)) {
        return;
    }
    // A command that said what it changed and changed nothing is not journaled; one that
    // said nothing is, as `after_write` counts it modified.
    if !changed && shard.signalled_anything() {
        return;
    }
    rewrite(shard, spec.name, args.all(), reply);
}

fn rewrite(shard: &mut Shard, name: &str, items: &[Bytes], reply: &Reply) {
    let arg = |i: usize| items.get(i).map_or(&b""[..], |b| &b[..]);
    match name {
        "set" | "setnx" | "getset" => set_form(shard, arg(1), arg(2)),
        "setex" | "psetex" => set_form(shard, arg(1), arg(3)),
        "getex" | "expire" | "pexpire" | "expireat" | "pexpireat" => expiry_form(shard, arg(1)),
        "incrbyfloat" => {
            if let Reply::Bulk(value) = reply {
                shard.journal(&[b"SET", arg(1), value, b"KEEPTTL"]);
            }
        }
        "hincrbyfloat" => {
            if let Reply::Bulk(value) = reply {
                shard.journal(&[b"HSET", arg(1), arg(2), value]);
            }
        }
        "spop" => {
            let members: Vec<&[u8]> = match reply {
                Reply::Bulk(m) => vec![m],
                Reply::Array(items) | Reply::Set(items) => items
                    .iter()
                    .filter_map(|r| match r {
                        Reply::Bulk(m) => Some(&m[..]),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if !members.is_empty() {
                let mut command: Vec<&[u8]> = vec![b"SREM", arg(1)];
                command.extend(members);
                shard.journal(&command);
            }
        }
        "xadd" => xadd_form(shard, items, reply),
        _ => {
            let command: Vec<&[u8]> = items.iter().map(|b| &b[..]).collect();
            shard.journal(&command);
        }
    }
}

/// The key's expiry after the command (0: none), or None when the key is gone.
fn expiry_of(shard: &mut Shard, key: &[u8]) -> Option<u64> {
    shard.db().get_raw(key).map(|r| r.expire_at())
}

/// `SET key value [PXAT at]`, with the expiry the key has now.
fn set_form(shard: &mut Shard, key: &[u8], value: &[u8]) {
    match expiry_of(shard, key) {
        Some(0) => shard.journal(&[b"SET", key, value]),
        Some(at) => shard.journal(&[b"SET", key, value, b"PXAT", at.to_string().as_bytes()]),
        None => shard.journal(&[b"DEL", key]),
    }
}

/// PEXPIREAT at the expiry the key has now, PERSIST when it has none, DEL when it is gone.
fn expiry_form(shard: &mut Shard, key: &[u8]) {
    match expiry_of(shard, key) {
        Some(0) => shard.journal(&[b"PERSIST", key]),
        Some(at) => shard.journal(&[b"PEXPIREAT", key, at.to_string().as_bytes()]),
        None => shard.journal(&[b"DEL", key]),
    }
}

/// XADD with the ID it chose in place of `*` or a partial ID.
fn xadd_form(shard: &mut Shard, items: &[Bytes], reply: &Reply) {
    let Reply::Bulk(id) = reply else {
        return;
    };
    let mut command: Vec<&[u8]> = items.iter().map(|b| &b[..]).collect();
    // The ID is the first argument after the key that is not an option (or an option's value).
    let mut at = 2;
    while at < command.len() {
        let word = command[at].to_ascii_uppercase();
        match &word[..] {
            b"NOMKSTREAM" => at += 1,
            b"MAXLEN" | b"MINID" => {
                at += 2;
                if matches!(command.get(at - 1), Some(&b"=") | Some(&b"~")) {
                    at += 1;
                }
            }
            b"LIMIT" => at += 2,
            _ => break,
        }
    }
    if at < command.len() {
        command[at] = id;
        shard.journal(&command);
    }
}

/// Runs a routed command; the routed writes that store a result computed from other keys
/// (SORT ... STORE, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE) are journaled as they came, every
/// shard held from start to journal while the stream has a consumer (their keys are not all
/// in the key spec). The blocking pops journal their effects where they apply them.
pub async fn routed(
    session: &mut Session,
    spec: &'static CommandSpec,
    op: RoutedOp,
    args: Args,
) -> CmdResult {
    if !journal::active() {
        return op(session, args).await;
    }
    let stores = match spec.name {
        "zunionstore" | "zinterstore" | "zdiffstore" => true,
        "sort" => args.all().iter().any(|a| a.eq_ignore_ascii_case(b"store")),
        _ => false,
    };
    if !stores {
        return op(session, args).await;
    }
    let all: Vec<ShardId> = (0..session.router.shards()).collect();
    held_and_journaled(session, all, op, args).await
}

/// A write whose keys span shards and whose routine changes them outside `run_op` (RENAME,
/// SMOVE, COPY, MSETNX, the *STORE commands, BITOP) while the stream has a consumer: its
/// shards are held from start to journal, and the command is journaled as it came, once.
/// LMOVE and RPOPLPUSH journal themselves (`list::move_between`).
pub async fn journaled_routine(
    session: &mut Session,
    spec: &'static CommandSpec,
    routine: RoutedOp,
    args: Args,
) -> CmdResult {
    let items: Vec<Bytes> = args.all().to_vec();
    let mut shards: Vec<ShardId> = spec
        .key_positions(items.len())
        .map(|p| session.router.shard_of(&items[p]))
        .collect();
    shards.sort_unstable();
    shards.dedup();
    held_and_journaled(session, shards, routine, args).await
}

/// Runs `routine` with `shards` held, then journals the command as it came (when it
/// succeeded), in a block over those shards.
async fn held_and_journaled(
    session: &mut Session,
    shards: Vec<ShardId>,
    routine: RoutedOp,
    args: Args,
) -> CmdResult {
    let items: Vec<Bytes> = args.all().to_vec();
    let holding = Rc::new(session.router.hold(&shards).await);
    let block = Block::open(&shards);
    let inner = session.router.within(holding.clone());
    let outer = std::mem::replace(&mut session.router, inner);
    let result = routine(session, args).await;
    session.router = outer;
    if result.is_ok() {
        let command: Vec<&[u8]> = items.iter().map(|b| &b[..]).collect();
        match &block {
            Some(block) => block.push(Some(session.db), &command),
            None => journal::push_held(&shards, Some(session.db), &command),
        }
    }
    if let Some(block) = block {
        block.close(true);
    }
    drop(holding);
    result
}
