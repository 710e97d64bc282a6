//! Lua scripting, Redis 7.0 semantics: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT; the
//! functions (FUNCTION, FCALL) in `scripting/function.rs`, which run through the same path.
//!
//! A script is atomic: the connection that runs it first holds every shard (ascending order
//! through the mailbox, like EXEC; a script may touch keys it did not declare), then hands the
//! script to the Lua thread (`scripting/engine.rs`) and serves the script's `redis.call`s one by
//! one through `dispatch::call` with its router inside that holding, until the script's reply
//! comes back. Inside MULTI the transaction's holding is reused. The selected database and the
//! protocol seen by the script's commands are the script's own and restored afterwards.
//! Blocked clients are served after the script, as after EXEC.
//!
//! While a script runs past `busy-reply-threshold`, dispatch answers every command without the
//! allow-busy flag (SCRIPT KILL aside) with `-BUSY` through [`busy_reply`].

mod convert;
mod engine;
pub mod function;
mod library;
mod shebang;

pub use function::COMMANDS as FUNCTION_COMMANDS;
pub(crate) mod lib;

use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::dispatch::call;
use super::keys::help_reply;
use super::table::{access, container, flags, row, CommandSpec, Flags, KeyFinder, NOKEY};
use super::{err, error, Args, CmdResult, Kind, NumKeys, Session};
use crate::protocol::{Protocol, Reply};
use crate::shard::ShardId;
use engine::{Eval, Request, Step};

/// The scripting commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "eval",
        -3,
        flags!(NOSCRIPT | STALE | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS),
        NOKEY,
        Kind::Routed(eval),
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script.",
        "script numkeys [key [key ...]] [arg [arg ...]]",
    )
    .keys_by(KeyFinder::NumKeys(2))
    .access(access!(RW | ACCESS | UPDATE)),
    row(
        "evalsha",
        -3,
        flags!(NOSCRIPT | STALE | SKIP_MONITOR | MAY_REPLICATE | NO_MANDATORY_KEYS),
        NOKEY,
        Kind::Routed(evalsha),
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script by SHA1 digest.",
        "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    )
    .keys_by(KeyFinder::NumKeys(2))
    .access(access!(RW | ACCESS | UPDATE)),
    row(
        "eval_ro",
        -3,
        flags!(READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS),
        NOKEY,
        Kind::Routed(eval_ro),
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script.",
        "script numkeys [key [key ...]] [arg [arg ...]]",
    )
    .keys_by(KeyFinder::NumKeys(2)),
    row(
        "evalsha_ro",
        -3,
        flags!(READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS),
        NOKEY,
        Kind::Routed(evalsha_ro),
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script by SHA1 digest.",
        "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    )
    .keys_by(KeyFinder::NumKeys(2)),
    container(
        "script",
        "scripting",
        "2.6.0",
        "A container for Lua scripts management commands",
        SCRIPT_SUBCOMMANDS,
    ),
];

#[rustfmt::skip]
static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    row("script|debug", 3, flags!(NOSCRIPT), NOKEY, Kind::Local(script_debug), "scripting", "3.2.0", "Set the debug mode for executed scripts.", ""),
    row("script|exists", -3, flags!(NOSCRIPT), NOKEY, Kind::Routed(script_exists), "scripting", "2.6.0", "Check existence of scripts in the script cache.", ""),
    row("script|flush", -2, flags!(NOSCRIPT), NOKEY, Kind::Local(script_flush), "scripting", "2.6.0", "Remove all the scripts from the script cache.", ""),
    row("script|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(script_help), "scripting", "5.0.0", "Show helpful text about the different subcommands", ""),
    row("script|kill", 2, flags!(NOSCRIPT | ALLOW_BUSY), NOKEY, Kind::Local(script_kill), "scripting", "2.6.0", "Kill the script currently in execution.", ""),
    row("script|load", 3, flags!(NOSCRIPT | STALE), NOKEY, Kind::Routed(script_load), "scripting", "2.6.0", "Load the specified Lua script into the script cache.", ""),
];

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

type Routine<'a> = Pin<Box<dyn std::future::Future<Output = CmdResult> + 'a>>;

/// Takes `busy-reply-threshold` (`lua-time-limit` is its alias) from the configuration.
pub fn apply_config(config: &crate::config::Config) {
    let ms = config.int("busy-reply-threshold").max(0) as u64;
    engine::BUSY_THRESHOLD_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// For a call of a script (EVAL family, FCALL) whose flags are known before it runs: whether
/// it is deny-oom and a write, as Redis's evalGetCommandFlags and fcallGetCommandFlags make
/// it. None when the row's own flags stand (not a script row, a script without a shebang, an
/// unknown script or function).
pub fn implied_flags(spec: &CommandSpec, items: &[Bytes]) -> Option<(bool, bool)> {
    // Every script row is no-script: one flag test keeps the name matching off other rows.
    if !spec.has(Flags::NOSCRIPT) {
        return None;
    }
    match spec.name {
        "fcall" | "fcall_ro" => function::implied_flags(items),
        name => shebang::of_call(name, items).map(shebang::command_flags),
    }
}

/// `-BUSY` for `items` (a command of `spec`) while a script is busy, unless the command may
/// run then (allow-busy rows: SCRIPT KILL, MULTI...).
/// True while a script or function runs past `busy-reply-threshold` (others get BUSY).
#[inline(always)]
pub fn busy() -> bool {
    engine::busy()
}

/// The BUSY refusal of a command while a script is busy (None when none is, or the command
/// is allowed then). The test that no script is busy is inlined into admission.
#[inline(always)]
pub fn busy_reply(spec: &'static CommandSpec, items: &[Bytes]) -> Option<Reply> {
    if !engine::busy() {
        return None;
    }
    busy_refusal(spec, items)
}

#[inline(never)]
fn busy_refusal(spec: &'static CommandSpec, items: &[Bytes]) -> Option<Reply> {
    let reply = engine::busy_error()?;
    if spec.resolve(items).has(Flags::ALLOW_BUSY) {
        return None;
    }
    Some(reply)
}

fn eval(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(run(session, args, false, false))
}

fn evalsha(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(run(session, args, true, false))
}

fn eval_ro(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(run(session, args, false, true))
}

fn evalsha_ro(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(run(session, args, true, true))
}

/// EVAL and its forms: parse, hold every shard, run on the Lua thread, serve its calls.
async fn run(session: &mut Session, args: Args, by_sha: bool, read_only: bool) -> CmdResult {
    let script = args.next()?;
    let keys = args.numkeys(NumKeys::Script)?;
    let argv = args.rest();
    let (sha, body) = if by_sha {
        if script.len() != 40 {
            return Err(error(err::NOSCRIPT));
        }
        (String::from_utf8_lossy(&script).to_ascii_lowercase(), None)
    } else {
        (engine::sha1_hex(&script), Some(script))
    };
    let (steps_tx, steps) = mpsc::unbounded_channel();
    session.tracking.set_script_keys(Some(&keys));
    let request = Request::Eval(Eval {
        sha,
        body,
        keys,
        argv: argv.to_vec(),
        read_only,
        steps: steps_tx,
    });
    let reply = run_holding(session, request, steps).await;
    session.tracking.set_script_keys(None);
    Ok(reply)
}

/// Holds every shard, submits the script, serves its calls, restores the session.
async fn run_holding(
    session: &mut Session,
    request: Request,
    mut steps: mpsc::UnboundedReceiver<Step>,
) -> Reply {
    let all: Vec<ShardId> = (0..session.router.shards()).collect();
    let holding = Rc::new(session.router.hold(&all).await);
    // Scripts propagate as their effects, one MULTI/EXEC, as Redis 7 does.
    let block = crate::shard::journal::Block::open(&all);
    let inner = session.router.within(holding.clone());
    let outer = std::mem::replace(&mut session.router, inner);
    let nested = session.tx.in_exec;
    let (db, protocol) = (session.db, session.protocol);
    if !nested {
        defer_blocked(session, &all, true).await;
    }
    session.tx.in_exec = true;
    let in_script = std::mem::replace(&mut session.tx.in_script, true);
    let reply = if engine::submit(request) {
        serve_calls(session, &mut steps).await
    } else {
        error(err::ENGINE_GONE)
    };
    session.tx.in_exec = nested;
    session.tx.in_script = in_script;
    session.db = db;
    session.protocol = protocol;
    session
        .client
        .db
        .store(db as u32, std::sync::atomic::Ordering::Relaxed);
    if !nested {
        defer_blocked(session, &all, false).await;
    }
    session.router = outer;
    if let Some(block) = block {
        block.close(true);
    }
    drop(holding);
    reply
}

async fn defer_blocked(session: &Session, shards: &[ShardId], on: bool) {
    for &shard in shards {
        session
            .router
            .run(shard, move |s| s.defer_blocked(on))
            .await;
    }
}

/// Runs the script's commands as they come, until its reply. A script error that passes on
/// an inner call's error (`redis.call` raising it, or a returned `redis.pcall` error) was
/// counted when the call failed: `tx.error_counted` tells the caller, as Redis's
/// ERR_REPLY_FLAG_NO_STATS_UPDATE.
async fn serve_calls(session: &mut Session, steps: &mut mpsc::UnboundedReceiver<Step>) -> Reply {
    let mut call_errors: Vec<String> = Vec::new();
    while let Some(step) = steps.recv().await {
        match step {
            Step::Call {
                items,
                resp3,
                reply,
            } => {
                // The script's user may not run it: refused (and logged), not run or counted.
                if let Some(refused) = super::acl::check(session, &items) {
                    let _ = reply.send(refused);
                    continue;
                }
                // A read-only replica refuses a script's writes, unless its master runs it; a
                // cluster node refuses keys it does not serve.
                let refused = replica_write_refusal(session, &items)
                    .or_else(|| super::cluster::script_refusal(&items));
                if let Some(refused) = refused {
                    if call_errors.len() < MAX_CALL_ERRORS {
                        if let Reply::Error(text) = &refused {
                            call_errors.push(text.to_string());
                        }
                    }
                    let _ = reply.send(refused);
                    continue;
                }
                session.protocol = if resp3 {
                    Protocol::Resp3
                } else {
                    Protocol::Resp2
                };
                let shown = super::monitor::watching().then(|| items.clone());
                let reads = super::tracking::script_call_reads(session, &items);
                let result = call(session, items).await;
                if let Some(items) = shown {
                    super::monitor::show_script_call(session, &items);
                }
                if reads {
                    super::tracking::remember_script_keys(session).await;
                }
                if let Reply::Error(text) = &result {
                    if call_errors.len() < MAX_CALL_ERRORS && !call_errors.iter().any(|e| e == text)
                    {
                        call_errors.push(text.to_string());
                    }
                }
                let _ = reply.send(result);
            }
            Step::AclCheck { items, reply } => {
                let allowed = super::acl::allowed(session, &items);
                let _ = reply.send(allowed);
            }
            Step::Done(reply) => {
                if let Reply::Error(text) = &reply {
                    session.tx.error_counted = call_errors.iter().any(|e| text.starts_with(&**e));
                }
                return reply;
            }
        }
    }
    error(err::ENGINE_GONE)
}

/// READONLY for a write a script calls on a read-only replica (Redis's
/// scriptVerifyWriteCommandAllow); None elsewhere.
fn replica_write_refusal(session: &Session, items: &[Bytes]) -> Option<Reply> {
    if !super::replication::replica::is_replica() || session.master_link {
        return None;
    }
    let (_, spec) = super::table::lookup(items.first()?)?;
    let spec = spec.resolve(items);
    let read_only = session.server.config().get("replica-read-only") == "yes";
    (spec.has(Flags::WRITE) && read_only).then(|| error(err::READONLY_REPLICA))
}

/// The distinct inner-call errors a script run remembers to recognise the one it passes on.
const MAX_CALL_ERRORS: usize = 16;

fn script_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(SCRIPT_HELP))
}

fn script_load(_session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let body = args.next()?;
        let (done, answer) = oneshot::channel();
        ask(Request::Load { body, done }, answer)
            .await?
            .map(|sha| Reply::Bulk(Bytes::from(sha)))
    })
}

fn script_exists(_session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let shas = args.rest().to_vec();
        let (done, answer) = oneshot::channel();
        let known = ask(Request::Exists { shas, done }, answer).await?;
        Ok(Reply::Array(
            known.into_iter().map(|k| Reply::Int(k as i64)).collect(),
        ))
    })
}

/// SCRIPT FLUSH [ASYNC|SYNC]: the cache is emptied on the Lua thread either way.
fn script_flush(_session: &mut Session, args: &mut Args) -> CmdResult {
    let mode_ok = match args.remaining() {
        0 => true,
        1 => args.keyword("ASYNC") || args.keyword("SYNC"),
        _ => false,
    };
    if !mode_ok {
        return Err(error(err::SCRIPT_FLUSH_MODE));
    }
    if !engine::submit(Request::Flush) {
        return Err(error(err::ENGINE_GONE));
    }
    Ok(Reply::Simple("OK"))
}

fn script_kill(_session: &mut Session, _args: &mut Args) -> CmdResult {
    engine::kill(true).map(|_| Reply::Simple("OK"))
}

fn script_debug(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Err(error(err::SCRIPT_DEBUG))
}

/// Sends `request` to the Lua thread and waits for its answer.
async fn ask<T>(request: Request, answer: oneshot::Receiver<T>) -> Result<T, Reply> {
    if !engine::submit(request) {
        return Err(error(err::ENGINE_GONE));
    }
    answer.await.map_err(|_| error(err::SHARD_GONE))
}
