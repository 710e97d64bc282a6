//! Which node serves a command, as Redis's getNodeByQuery and clusterRedirectClient decide:
//! `-MOVED slot endpoint:port` for a slot another node serves, `-CLUSTERDOWN` for a slot no
//! node serves or a cluster that is down, `-CROSSSLOT` for keys of different slots (across a
//! whole transaction for EXEC). Reached only when cluster mode is on (dispatch's one branch).
//!
//! A slot being migrated or imported is decided by whether its keys are here, which only the
//! shard holding the slot knows: a keyed command is checked on that shard just before it runs
//! (`guard`, atomic with the command, as MIGRATE holds the shard while it moves keys), any
//! other command (EXEC, scripts, blocking commands) by asking the shard first (`moving_refusal`).
//! Missing keys of a migrating slot answer `-ASK slot endpoint:port` (`-TRYAGAIN` when some of
//! the keys are here); an importing slot serves a client that sent ASKING, with `-TRYAGAIN`
//! for several keys not all here.

use bytes::Bytes;

use super::super::table::{lookup, CommandSpec, Flags};
use super::super::{err, error, Session};
use crate::cluster::{self as state, Mark, Serving};
use crate::protocol::Reply;
use crate::shard::{slot_of, HashSlot, Shard};
use crate::state::ThreadStats;

/// Why a query is not served here.
enum Redirect {
    CrossSlot,
    Unbound,
    Down,
    DownReadOnly,
    Moved(u16, u16),
    Ask(u16, u16),
    TryAgain,
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
            Redirect::Ask(slot, node) => {
                Reply::error_owned(format!("ASK {slot} {}", state::address(node)))
            }
            Redirect::TryAgain => error(err::TRYAGAIN),
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

/// getNodeByQuery for `calls`: None when this node serves them (or they name no key), a
/// migrating or imported slot's keys being checked where they are (`guard`, `moving_refusal`).
/// `asking`: the client sent ASKING.
/// `readonly`: the client sent READONLY (a replica then serves reads of its master's slots).
fn route(calls: &[&[Bytes]], asking: bool, readonly: bool) -> Option<Redirect> {
    let mut first: Option<(&Bytes, u16)> = None;
    let mut write = false;
    let (mut migrate, mut asking, mut pubsubshard) = (false, asking, false);
    for items in calls {
        let Some((_, spec)) = lookup(&items[0]) else {
            continue;
        };
        let spec = spec.resolve(items);
        migrate |= spec.name == "migrate";
        pubsubshard |= matches!(spec.name, "ssubscribe" | "sunsubscribe" | "spublish");
        asking |= spec.has(Flags::ASKING);
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
    let serving = state::serving(slot);
    match state::mark(slot) {
        // MIGRATE works here on an open slot, whoever serves it.
        Mark::Migrating(_) | Mark::Importing(_) if migrate => return None,
        Mark::Migrating(_) if serving == Serving::Me => return None,
        Mark::Importing(_) if asking => return None,
        _ => {}
    }
    match serving {
        Serving::Me => None,
        // A replica serves its master's slots to READONLY reads and to shard channels.
        Serving::Other(node)
            if (readonly || pubsubshard) && !write && state::is_my_master(node) =>
        {
            None
        }
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
    let readonly = session.cluster.readonly;
    let redirect = route(&calls(session, spec, items), asking, readonly)?;
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
    match route(&[items], false, false)? {
        Redirect::Down => Some(error(err::SCRIPT_CLUSTER_DOWN)),
        Redirect::DownReadOnly => Some(error(err::SCRIPT_CLUSTER_DOWN_RO)),
        _ => Some(error(err::SCRIPT_NON_LOCAL_KEY)),
    }
}

/// How a migrating or imported slot's keys stand: whether the command names several keys,
/// and how many of them are here and missing.
#[derive(Default)]
struct Presence {
    multiple: bool,
    existing: usize,
    missing: usize,
}

impl Presence {
    /// Counts `keys` as `shard` (database 0, the only one in cluster mode) holds them.
    fn of<'a>(shard: &mut Shard, keys: impl Iterator<Item = &'a [u8]>) -> Presence {
        let mut presence = Presence::default();
        let mut first: Option<&[u8]> = None;
        shard.select(0);
        for key in keys {
            match first {
                None => first = Some(key),
                Some(k) if k != key => presence.multiple = true,
                Some(_) => {}
            }
            if shard.present(key) {
                presence.existing += 1;
            } else {
                presence.missing += 1;
            }
        }
        presence
    }

    /// The end of getNodeByQuery for a slot served here while marked `mark`.
    fn redirect(&self, slot: HashSlot, mark: Mark) -> Option<Redirect> {
        match mark {
            Mark::Migrating(_) if self.missing > 0 && self.existing > 0 => Some(Redirect::TryAgain),
            Mark::Migrating(to) if self.missing > 0 => Some(Redirect::Ask(slot, to)),
            Mark::Importing(_) if self.multiple && self.missing > 0 => Some(Redirect::TryAgain),
            _ => None,
        }
    }
}

/// The check of a keyed command about to run on `shard`, the holder of its first key's slot
/// `slot`, on a cluster node: the redirect it gets instead of running (None: it runs). Made on
/// the shard, atomic with the command, so that it holds against the slot's state then, not at
/// admission: a slot that finished migrating in between redirects (`-MOVED`), and a migrating
/// slot's keys are looked at while MIGRATE cannot move them.
#[cold]
#[inline(never)]
pub fn guard(
    shard: &mut Shard,
    spec: &CommandSpec,
    items: &[Bytes],
    slot: HashSlot,
) -> Option<Reply> {
    let mark = state::mark(slot);
    let serving = state::serving(slot);
    if mark == Mark::Stable && serving == Serving::Me {
        return None;
    }
    let keys = spec.keys_of(items).unwrap_or_default();
    if keys.is_empty() {
        return None;
    }
    let redirect = match (mark, serving) {
        // Admitted with ASKING (or MIGRATE's own): served here while the slot is imported.
        (Mark::Importing(_), _) | (Mark::Migrating(_), Serving::Me) => {
            let keys = keys.into_iter().map(|at| &items[at][..]);
            Presence::of(shard, keys).redirect(slot, mark)?
        }
        // A replica's READONLY reads (admission refused the others).
        (_, Serving::Other(node)) if state::is_my_master(node) && !spec.writes() => return None,
        (_, Serving::Other(node)) => Redirect::Moved(slot, node),
        (_, Serving::Nobody) => Redirect::Unbound,
        (_, Serving::Me) => return None,
    };
    Some(redirect.reply())
}

/// `guard` for a command that is not run as one keyed command on its shard (EXEC, a script,
/// a blocking command): the shard is asked first. Some: the command does not run, with the
/// refusal's side effects done.
pub async fn moving_refusal(
    session: &mut Session,
    spec: &CommandSpec,
    items: &[Bytes],
) -> Option<Reply> {
    if spec.name == "migrate" {
        return None;
    }
    let keys: Vec<Bytes> = calls(session, spec, items)
        .into_iter()
        .flat_map(|call| {
            let Some((_, spec)) = lookup(&call[0]) else {
                return Vec::new();
            };
            let spec = spec.resolve(call);
            spec.keys_of(call)
                .unwrap_or_default()
                .into_iter()
                .map(|at| call[at].clone())
                .collect()
        })
        .collect();
    let slot = slot_of(keys.first()?);
    let mark = state::mark(slot);
    if mark == Mark::Stable
        || state::serving(slot) != Serving::Me && !matches!(mark, Mark::Importing(_))
    {
        return None;
    }
    let shard = session.router.shard_of_slot(slot);
    let presence = session
        .router
        .run(shard, move |s| Presence::of(s, keys.iter().map(|k| &k[..])))
        .await?;
    let redirect = presence.redirect(slot, mark)?;
    if spec.has(Flags::RUNS_QUEUE) {
        super::super::transaction::discard_transaction(session);
    }
    if let Some((row, spec)) = lookup(&items[0]) {
        let row = super::super::table::stat_row(row, spec.resolve(items));
        ThreadStats::add(&session.server.stats[session.thread].rejected_calls[row], 1);
    }
    Some(redirect.reply())
}
