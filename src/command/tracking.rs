//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO: client-side caching's commands, with
//! Redis's option checks and replies. The state and the delivery live in `crate::tracking`.

use bytes::Bytes;

use super::args::ok;
use super::table::{CommandSpec, Flags};
use super::{err, error, Args, CmdResult, Session};
use crate::protocol::Reply;
use crate::shard::tracking::Track;
use crate::shard::Shard;
use crate::tracking::{Options, BCAST, BROKEN, CACHING, NOLOOP, ON, OPTIN, OPTOUT};

/// True when one prefix starts with the other: both would see the same keys.
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP].
pub fn client_tracking(session: &mut Session, args: &mut Args) -> CmdResult {
    let mode = args.next()?;
    let mut redirect = 0u64;
    let mut flags = 0u8;
    let mut prefixes: Vec<Bytes> = Vec::new();
    while !args.is_done() {
        let more = args.remaining() > 1;
        if more && args.keyword("REDIRECT") {
            if redirect != 0 {
                return Err(error(err::TRACKING_ONE_REDIRECT));
            }
            let id = args.int()?;
            let known = u64::try_from(id)
                .ok()
                .and_then(|id| session.server.clients.thread_of(id).map(|_| id));
            redirect = known.ok_or_else(|| error(err::TRACKING_NO_REDIRECT_CLIENT))?;
        } else if args.keyword("BCAST") {
            flags |= BCAST;
        } else if args.keyword("OPTIN") {
            flags |= OPTIN;
        } else if args.keyword("OPTOUT") {
            flags |= OPTOUT;
        } else if args.keyword("NOLOOP") {
            flags |= NOLOOP;
        } else if more && args.keyword("PREFIX") {
            prefixes.push(args.next()?);
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    let tracking = &mut session.tracking;
    if mode.eq_ignore_ascii_case(b"off") {
        tracking.disable();
        return ok();
    }
    if !mode.eq_ignore_ascii_case(b"on") {
        return Err(error(err::SYNTAX));
    }
    let current = tracking.flags();
    if flags & BCAST == 0 && !prefixes.is_empty() {
        return Err(error(err::TRACKING_PREFIX_NEEDS_BCAST));
    }
    if current & ON != 0 && (current & BCAST) != (flags & BCAST) {
        return Err(error(err::TRACKING_BCAST_SWITCH));
    }
    if flags & BCAST != 0 && flags & (OPTIN | OPTOUT) != 0 {
        return Err(error(err::TRACKING_OPT_BCAST));
    }
    if flags & OPTIN != 0 && flags & OPTOUT != 0 {
        return Err(error(err::TRACKING_OPTIN_OPTOUT));
    }
    if (flags & OPTIN != 0 && current & OPTOUT != 0)
        || (flags & OPTOUT != 0 && current & OPTIN != 0)
    {
        return Err(error(err::TRACKING_OPT_SWITCH));
    }
    if flags & BCAST != 0 {
        let existing = tracking.prefixes();
        for (i, prefix) in prefixes.iter().enumerate() {
            if let Some(old) = existing.iter().find(|old| overlap(old, prefix)) {
                return Err(err::prefix_overlap(prefix, old, true));
            }
            if let Some(other) = prefixes[i + 1..].iter().find(|o| overlap(prefix, o)) {
                return Err(err::prefix_overlap(prefix, other, false));
            }
        }
    }
    tracking.enable(Options {
        redirect,
        flags,
        prefixes,
    });
    ok()
}

/// CLIENT CACHING YES|NO: whether the next command's keys are tracked (OPTIN / OPTOUT).
pub fn client_caching(session: &mut Session, args: &mut Args) -> CmdResult {
    let flags = session.tracking.flags();
    if flags & ON == 0 {
        return Err(error(err::CACHING_NOT_TRACKING));
    }
    let option = args.next()?;
    if option.eq_ignore_ascii_case(b"yes") {
        if flags & OPTIN == 0 {
            return Err(error(err::CACHING_YES_NEEDS_OPTIN));
        }
    } else if option.eq_ignore_ascii_case(b"no") {
        if flags & OPTOUT == 0 {
            return Err(error(err::CACHING_NO_NEEDS_OPTOUT));
        }
    } else {
        return Err(error(err::SYNTAX));
    }
    session.tracking.set_caching();
    ok()
}

/// CLIENT GETREDIR: the redirection's client id, 0 for none, -1 when tracking is off.
pub fn client_getredir(session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(redirect_or_off(session)))
}

fn redirect_or_off(session: &Session) -> i64 {
    if session.tracking.flags() & ON != 0 {
        session.tracking.redirect() as i64
    } else {
        -1
    }
}

fn bulk(text: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(text.as_bytes()))
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes, in Redis's order.
pub fn client_trackinginfo(session: &mut Session, _args: &mut Args) -> CmdResult {
    let flags = session.tracking.flags();
    let mut names = vec![bulk(if flags & ON != 0 { "on" } else { "off" })];
    let named = [
        (BCAST, "bcast"),
        (OPTIN, "optin"),
        (OPTOUT, "optout"),
        (NOLOOP, "noloop"),
        (BROKEN, "broken_redirect"),
    ];
    for (flag, name) in named {
        if flags & flag == 0 {
            continue;
        }
        names.push(bulk(name));
        if flags & CACHING != 0 && flag == OPTIN {
            names.push(bulk("caching-yes"));
        }
        if flags & CACHING != 0 && flag == OPTOUT {
            names.push(bulk("caching-no"));
        }
    }
    let prefixes = session
        .tracking
        .prefixes()
        .into_iter()
        .map(Reply::Bulk)
        .collect();
    Ok(Reply::Map(vec![
        (bulk("flags"), Reply::Set(names)),
        (bulk("redirect"), Reply::Int(redirect_or_off(session))),
        (bulk("prefixes"), Reply::Array(prefixes)),
    ]))
}

/// How a command of `session` tracks (Off while tracking is off: a load and a branch).
/// CLIENT CACHING covers the one command after it (a transaction as a whole), as Redis: any
/// other command consumes it.
#[inline(always)]
pub fn track(session: &Session, spec: &CommandSpec) -> Track {
    let track = session.tracking.track();
    if track == Track::Off {
        return track;
    }
    // MULTI and EXEC keep it for the transaction's commands, as Redis does inside MULTI.
    if !spec.name.starts_with("client")
        && spec.name != "multi"
        && !spec.has(Flags::RUNS_QUEUE)
        && !session.tx.in_multi()
    {
        session.tracking.command_done();
    }
    track
}

/// On the shard, after a command of a tracking client: a read-only command's keys are
/// remembered for it (Redis's CMD_READONLY; a script tracks through the commands it calls).
pub fn after_op(shard: &mut Shard, spec: &CommandSpec, items: &[Bytes]) {
    if spec.has(Flags::READONLY)
        && !spec.name.starts_with("eval")
        && !spec.name.starts_with("fcall")
    {
        shard.remember_keys(spec.key_positions(items.len()).map(|p| &items[p][..]));
    }
    shard.set_tracker(None);
}

/// Within a script: whether the call `items` is a read-only command, whose run makes the
/// script's declared keys tracked (Redis tracks the script's keys, not the call's).
pub fn script_call_reads(session: &Session, items: &[Bytes]) -> bool {
    session.tracking.script_reads().is_some()
        && super::lookup(&items[0])
            .is_some_and(|(_, spec)| spec.resolve(items).has(Flags::READONLY))
}

/// After a read-only call of a script: remembers the script's declared keys for its client,
/// on the shards owning them (held by the script).
pub async fn remember_script_keys(session: &Session) {
    let Some((tracker, keys)) = session.tracking.script_reads() else {
        return;
    };
    for key in keys.iter().cloned() {
        let shard = session.router.shard_of(&key);
        session
            .router
            .run(shard, move |s: &mut Shard| {
                s.set_tracker(Some(tracker));
                s.remember_keys(std::iter::once(&key[..]));
                s.set_tracker(None);
            })
            .await;
    }
}

/// Encodes the invalidations queued for this connection into `out`, ahead of what follows
/// (the connection writes them before a batch; this is for those a batch itself caused).
pub fn write_notes(session: &mut Session, out: &mut bytes::BytesMut) {
    while let Some(note) = session.tracking.try_next_note() {
        let subscribed = session.subscriptions.total() > 0;
        crate::tracking::encode(&note, session.protocol, subscribed, out);
    }
}
