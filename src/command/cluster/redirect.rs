//! Which node serves a command, as Redis's getNodeByQuery and clusterRedirectClient decide:
//! `-MOVED slot endpoint:port` for a slot another node serves, `-CLUSTERDOWN` for a slot no
//! node serves or a cluster that is down, `-CROSSSLOT` for keys of different slots (across a
//! whole transaction for EXEC). Reached only when cluster mode is on (dispatch's one branch).
//!
//! Slots being migrated or imported (ASK, TRYAGAIN) are not told apart yet: a slot is served
//! here or redirected as its owner says.

use bytes::Bytes;

use super::super::table::{lookup, CommandSpec, Flags};
use super::super::{err, error, Session};
use crate::cluster::{self as state, Serving};
use crate::protocol::Reply;
use crate::shard::slot_of;
use crate::state::ThreadStats;

/// Why a query is not served here.
enum Redirect {
    CrossSlot,
    Unbound,
    Down,
    DownReadOnly,
    Moved(u16, u16),
}

impl Redirect {
    fn reply(self) -> Reply {
        match self {
            Redirect::CrossSlot => error(err::CROSSSLOT),
            Redirect::Unbound => error(err::CLUSTERDOWN_UNBOUND),
            Redirect::Down => error(err::CLUSTERDOWN),
            Redirect::DownReadOnly => error(err::CLUSTERDOWN_RO),
            Redirect::Moved(slot, node) => {
                Reply::error_owned(format!("MOVED {slot} {}", state::address(node)))
            }
        }
    }
}

/// The calls a query stands for: EXEC stands for its queued commands.
fn calls<'a>(session: &'a Session, spec: &CommandSpec, items: &'a [Bytes]) -> Vec<&'a [Bytes]> {
    if spec.has(Flags::RUNS_QUEUE) {
        if !session.tx.in_multi() {
            return Vec::new();
        }
        return session.tx.queued().iter().map(Vec::as_slice).collect();
    }
    vec![items]
}

/// Whether the call writes (a script's declared flags included).
fn writes(items: &[Bytes]) -> bool {
    let Some((_, spec)) = lookup(&items[0]) else {
        return false;
    };
    let spec = spec.resolve(items);
    super::super::scripting::implied_flags(spec, items).map_or(spec.has(Flags::WRITE), |f| f.1)
}

/// getNodeByQuery for `calls`: None when this node serves them (or they name no key).
fn route(calls: &[&[Bytes]]) -> Option<Redirect> {
    let mut first: Option<(&Bytes, u16)> = None;
    let mut write = false;
    for items in calls {
        let Some((_, spec)) = lookup(&items[0]) else {
            continue;
        };
        let spec = spec.resolve(items);
        let Some(positions) = spec.keys_of(items) else {
            continue;
        };
        if !positions.is_empty() {
            write |= writes(items);
        }
        for at in positions {
            let key = &items[at];
            let slot = slot_of(key);
            match first {
                None => {
                    if state::serving(slot) == Serving::Nobody {
                        return Some(Redirect::Unbound);
                    }
                    first = Some((key, slot));
                }
                Some((k, s)) if k != key && s != slot => return Some(Redirect::CrossSlot),
                Some(_) => {}
            }
        }
    }
    let (_, slot) = first?;
    if !state::is_ok() {
        if !state::reads_when_down() {
            return Some(Redirect::Down);
        }
        if write {
            return Some(Redirect::DownReadOnly);
        }
    }
    match state::serving(slot) {
        Serving::Me => None,
        Serving::Other(node) => Some(Redirect::Moved(slot, node)),
        Serving::Nobody => Some(Redirect::Unbound),
    }
}

/// The redirect a client's command gets instead of running, with Redis's side effects: a
/// refused EXEC discards its transaction, any other refused command inside MULTI fails it,
/// and the call counts as rejected. None: it runs here.
#[cold]
#[inline(never)]
pub fn refusal(session: &mut Session, items: &[Bytes]) -> Option<Reply> {
    let (row, spec) = lookup(&items[0])?;
    let spec = spec.resolve(items);
    if !spec.arity_ok(items.len()) {
        return None;
    }
    let asking = std::mem::take(&mut session.cluster.asking);
    if spec.name == "asking" || session.tx.in_multi() {
        // ASKING holds for the next command, and for a whole transaction.
        session.cluster.asking = asking;
    }
    let exec = spec.has(Flags::RUNS_QUEUE);
    if !exec && !spec.has_keys() {
        return None;
    }
    let redirect = route(&calls(session, spec, items))?;
    if exec {
        super::super::transaction::discard_transaction(session);
    } else {
        session.tx.abort();
    }
    let row = super::super::table::stat_row(row, spec);
    ThreadStats::add(&session.server.stats[session.thread].rejected_calls[row], 1);
    Some(redirect.reply())
}

/// Redis's scriptVerifyClusterState for a call a script makes: a key served elsewhere, or a
/// cluster that is down, fails the call. None: it runs.
pub fn script_refusal(items: &[Bytes]) -> Option<Reply> {
    if !state::enabled() {
        return None;
    }
    match route(&[items])? {
        Redirect::Down => Some(error(err::SCRIPT_CLUSTER_DOWN)),
        Redirect::DownReadOnly => Some(error(err::SCRIPT_CLUSTER_DOWN_RO)),
        _ => Some(error(err::SCRIPT_NON_LOCAL_KEY)),
    }
}
