//! Redis 7.0 functions: FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/STATS/KILL/HELP, FCALL
//! and FCALL_RO.
//!
//! The libraries live on the Lua thread (`library.rs`); what they are (names, flags, code) is
//! mirrored in [`REGISTRY`] after every change, so LIST, DUMP, STATS, FCALL's checks and the
//! snapshots read it without waiting for that thread, which may be running a function.
//!
//! A change (LOAD, DELETE, FLUSH, RESTORE) runs with every shard held, like a script, and is
//! journaled as it came (the AOF and replicas replay it); a snapshot's cut also holds every
//! shard, so it sees the libraries as of a point between changes. FCALL runs through EVAL's
//! holding path and is journaled as its effects.

use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::engine::{self, Request};
pub use super::library::Policy;
use super::library::{self, Call, Done, Job, FLAG_NAMES};
use super::{run_holding, Routine};
use crate::command::args::parse_int;
use crate::command::keys::help_reply;
use crate::command::table::{container, flags, row, CommandSpec, KeyFinder, NOKEY};
use crate::command::{err, error, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::shard::journal;
use crate::shard::ShardId;

/// FCALL, FCALL_RO and FUNCTION's rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "fcall",
        -3,
        flags!(NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS),
        NOKEY,
        Kind::Routed(fcall),
        "scripting",
        "7.0.0",
        "Invoke a function",
        "function numkeys [key [key ...]] [arg [arg ...]]",
    )
    .keys_by(KeyFinder::NumKeys(2)),
    row(
        "fcall_ro",
        -3,
        flags!(READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS),
        NOKEY,
        Kind::Routed(fcall_ro),
        "scripting",
        "7.0.0",
        "Invoke a read-only function",
        "function numkeys [key [key ...]] [arg [arg ...]]",
    )
    .keys_by(KeyFinder::NumKeys(2)),
    container(
        "function",
        "scripting",
        "7.0.0",
        "A container for function commands",
        FUNCTION_SUBCOMMANDS,
    ),
];

#[rustfmt::skip]
static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    row("function|delete", 3, flags!(WRITE | NOSCRIPT), NOKEY, Kind::Routed(function_delete), "scripting", "7.0.0", "Delete a function by name", ""),
    row("function|dump", 2, flags!(NOSCRIPT), NOKEY, Kind::Local(function_dump), "scripting", "7.0.0", "Dump all functions into a serialized binary payload", ""),
    row("function|flush", -2, flags!(WRITE | NOSCRIPT), NOKEY, Kind::Routed(function_flush), "scripting", "7.0.0", "Deleting all functions", ""),
    row("function|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(function_help), "scripting", "7.0.0", "Show helpful text about the different subcommands", ""),
    row("function|kill", 2, flags!(NOSCRIPT | ALLOW_BUSY), NOKEY, Kind::Local(function_kill), "scripting", "7.0.0", "Kill the function currently in execution.", ""),
    row("function|list", -2, flags!(NOSCRIPT), NOKEY, Kind::Local(function_list), "scripting", "7.0.0", "List information about all the functions", ""),
    row("function|load", -3, flags!(WRITE | DENYOOM | NOSCRIPT), NOKEY, Kind::Routed(function_load), "scripting", "7.0.0", "Create a function with the given arguments (name, code, description)", ""),
    row("function|restore", -3, flags!(WRITE | DENYOOM | NOSCRIPT), NOKEY, Kind::Routed(function_restore), "scripting", "7.0.0", "Restore all the functions on the given payload", ""),
    row("function|stats", 2, flags!(NOSCRIPT | ALLOW_BUSY), NOKEY, Kind::Local(function_stats), "scripting", "7.0.0", "Return information about the function currently running (name, description, duration)", ""),
];

/// Redis's FUNCTION HELP text.
const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// One library as the Lua thread last published it.
pub struct LibraryInfo {
    pub name: String,
    /// The whole code, shebang included (what DUMP, LIST WITHCODE and the RDB hold).
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Bytes>,
    pub flags: u8,
}

/// The libraries, in load order.
static REGISTRY: Mutex<Option<Arc<Vec<LibraryInfo>>>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Arc<Vec<LibraryInfo>>>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn libraries() -> Arc<Vec<LibraryInfo>> {
    registry().clone().unwrap_or_default()
}

/// Called by the Lua thread after every change.
pub(super) fn publish(libraries: Vec<LibraryInfo>) {
    *registry() = Some(Arc::new(libraries));
}

/// Whether no library is loaded.
fn libraries_are_empty() -> bool {
    registry().as_ref().is_none_or(|l| l.is_empty())
}

/// Every library's code, for a snapshot (take it with every shard held).
pub fn library_codes() -> Vec<Bytes> {
    libraries().iter().map(|l| l.code.clone()).collect()
}

/// The flags of function `name` (case-insensitive), if there is one.
fn flags_of(name: &[u8]) -> Option<u8> {
    libraries()
        .iter()
        .flat_map(|l| &l.functions)
        .find(|f| f.name.as_bytes().eq_ignore_ascii_case(name))
        .map(|f| f.flags)
}

/// For FCALL and FCALL_RO of a known function: whether the call is deny-oom and a write, as
/// its flags make it.
pub(super) fn implied_flags(items: &[Bytes]) -> Option<(bool, bool)> {
    flags_of(items.get(1)?).map(super::shebang::command_flags)
}

fn fcall(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(call(session, args, false))
}

fn fcall_ro(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(call(session, args, true))
}

/// FCALL and FCALL_RO: Redis's checks in its order, then the run with every shard held.
async fn call(session: &mut Session, args: Args, read_only: bool) -> CmdResult {
    let command = args.all().to_vec();
    let name = args.next()?;
    let Some(flags) = flags_of(&name) else {
        return Err(error(err::FN_NOT_FOUND));
    };
    let numkeys = parse_int(&args.next()?).ok_or_else(|| error(err::FN_BAD_NUMKEYS))?;
    if numkeys > args.remaining() as i64 {
        return Err(error(err::NUMKEYS_OVER_ARGS));
    }
    if numkeys < 0 {
        return Err(error(err::NUMKEYS_NEGATIVE));
    }
    let keys: Vec<Bytes> = (0..numkeys)
        .map(|_| args.next())
        .collect::<Result<_, _>>()?;
    let argv = args.rest().to_vec();
    super::shebang::admit_run(flags, read_only)?;
    let (steps_tx, steps) = mpsc::unbounded_channel();
    let request = Request::Function(Job::Call(Call {
        name,
        keys,
        argv,
        read_only,
        command,
        steps: steps_tx,
    }));
    Ok(run_holding(session, request, steps).await)
}

/// Sends a job to the Lua thread and waits for its answer.
async fn ask(make: impl FnOnce(Done) -> Job) -> CmdResult {
    let (tx, rx) = oneshot::channel();
    let job = make(Box::new(move |result| {
        let _ = tx.send(result);
    }));
    if !engine::submit(Request::Function(job)) {
        return Err(error(err::ENGINE_GONE));
    }
    rx.await.map_err(|_| error(err::ENGINE_GONE))?
}

/// DEBUG RELOAD's share: puts the libraries of the file back as `policy` says (Flush: the
/// file's replace all there are; Append fails on a library that exists).
pub async fn reload(libraries: Vec<Bytes>, policy: Policy) -> CmdResult {
    // Nothing to put back, and (for a flush) nothing to drop: the Lua thread, which starts
    // on its first job, is not woken (a replica's first full resync would wait ~10 ms for it,
    // showing -LOADING meanwhile).
    if libraries.is_empty() && (policy != Policy::Flush || libraries_are_empty()) {
        return Ok(Reply::Simple("OK"));
    }
    ask(|done| Job::Restore {
        libraries,
        policy,
        timeout: false,
        done,
    })
    .await
}

/// A change to the libraries: made with every shard held, journaled as it came when it
/// succeeded, and counted as a change for the save points.
async fn change(
    session: &mut Session,
    items: Vec<Bytes>,
    make: impl FnOnce(Done) -> Job,
) -> CmdResult {
    let all: Vec<ShardId> = (0..session.router.shards()).collect();
    let holding = Rc::new(session.router.hold(&all).await);
    let result = ask(make).await;
    if result.is_ok() {
        let command: Vec<&[u8]> = items.iter().map(|b| &b[..]).collect();
        journal::push_held(&all, None, &command);
        let inner = session.router.within(holding.clone());
        inner.run(0, |s| s.count_change()).await;
    }
    drop(holding);
    result
}

fn function_load(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let items = args.all().to_vec();
        let mut replace = false;
        let mut at = 2;
        while at < items.len() - 1 {
            if !items[at].eq_ignore_ascii_case(b"replace") {
                return Err(err::function_unknown_argument(&items[at], true));
            }
            replace = true;
            at += 1;
        }
        let Some(code) = items.get(at).cloned() else {
            return Err(error(err::FN_CODE_MISSING));
        };
        change(session, items, |done| Job::Load {
            code,
            replace,
            timeout: true,
            done,
        })
        .await
    })
}

fn function_delete(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let items = args.all().to_vec();
        let name = items[2].clone();
        change(session, items, |done| Job::Delete { name, done }).await
    })
}

fn function_flush(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let items = args.all().to_vec();
        if items.len() > 3 {
            return Err(err::subcommand_syntax(&items));
        }
        if let Some(mode) = items.get(2) {
            if !mode.eq_ignore_ascii_case(b"sync") && !mode.eq_ignore_ascii_case(b"async") {
                return Err(error(err::FN_FLUSH_MODE));
            }
        }
        change(session, items, |done| Job::Flush { done }).await
    })
}

fn function_restore(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let items = args.all().to_vec();
        if items.len() > 4 {
            return Err(err::subcommand_syntax(&items));
        }
        let policy = match items.get(3) {
            None => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
            Some(_) => return Err(error(err::FN_RESTORE_POLICY)),
        };
        let libraries = read_payload(&items[2]).map_err(|e| err::plain(&e))?;
        change(session, items, |done| Job::Restore {
            libraries,
            policy,
            timeout: true,
            done,
        })
        .await
    })
}

/// The libraries of a FUNCTION DUMP payload, or Redis's error text (without `ERR `).
fn read_payload(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    if crate::rdb::verify_payload(payload).is_none() {
        return Err(err::DUMP_PAYLOAD[4..].to_string());
    }
    crate::rdb::decode_functions(payload).map_err(str::to_string)
}

fn function_dump(_session: &mut Session, _args: &mut Args) -> CmdResult {
    let codes = library_codes();
    Ok(Reply::Bulk(Bytes::from(crate::rdb::functions_payload(
        &codes,
    ))))
}

fn function_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(FUNCTION_HELP))
}

fn function_kill(_session: &mut Session, _args: &mut Args) -> CmdResult {
    engine::kill(false).map(|_| Reply::Simple("OK"))
}

fn bulk(text: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(text.as_bytes()))
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE], each option at most once.
fn function_list(_session: &mut Session, args: &mut Args) -> CmdResult {
    let items = args.all();
    let (mut with_code, mut pattern) = (false, None);
    let mut at = 2;
    while at < items.len() {
        let word = &items[at];
        if !with_code && word.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && word.eq_ignore_ascii_case(b"libraryname") {
            at += 1;
            let Some(p) = items.get(at) else {
                return Err(error(err::FN_LIBRARYNAME_MISSING));
            };
            pattern = Some(p.clone());
        } else {
            return Err(err::function_unknown_argument(word, false));
        }
        at += 1;
    }
    let libraries = libraries();
    let listed = libraries.iter().filter(|l| {
        pattern
            .as_ref()
            .is_none_or(|p| crate::glob::glob_match(p, l.name.as_bytes(), true))
    });
    let reply = listed
        .map(|l| {
            let functions = l
                .functions
                .iter()
                .map(|f| {
                    let flags = FLAG_NAMES
                        .iter()
                        .filter(|(bit, _)| f.flags & bit != 0)
                        .map(|(_, name)| Reply::Status(name.to_string()))
                        .collect();
                    Reply::Map(vec![
                        (bulk("name"), Reply::Bulk(Bytes::from(f.name.clone()))),
                        (
                            bulk("description"),
                            f.description.clone().map_or(Reply::Nil, Reply::Bulk),
                        ),
                        (bulk("flags"), Reply::Set(flags)),
                    ])
                })
                .collect();
            let mut map = vec![
                (
                    bulk("library_name"),
                    Reply::Bulk(Bytes::from(l.name.clone())),
                ),
                (bulk("engine"), bulk("LUA")),
                (bulk("functions"), Reply::Array(functions)),
            ];
            if with_code {
                map.push((bulk("library_code"), Reply::Bulk(l.code.clone())));
            }
            Reply::Map(map)
        })
        .collect();
    Ok(Reply::Array(reply))
}

/// FUNCTION STATS: the function running (BUSY while an EVAL script runs), and the counts.
fn function_stats(_session: &mut Session, _args: &mut Args) -> CmdResult {
    if engine::running() && !engine::FUNCTION_MODE.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(error(err::BUSY_SCRIPT));
    }
    let running = library::RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or(Reply::Nil, |(name, command, started)| {
            Reply::Map(vec![
                (bulk("name"), Reply::Bulk(Bytes::from(name.clone()))),
                (
                    bulk("command"),
                    Reply::Array(command.iter().cloned().map(Reply::Bulk).collect()),
                ),
                (
                    bulk("duration_ms"),
                    Reply::Int(started.elapsed().as_millis() as i64),
                ),
            ])
        });
    let libraries = libraries();
    let functions: usize = libraries.iter().map(|l| l.functions.len()).sum();
    let counts = Reply::Map(vec![
        (bulk("libraries_count"), Reply::Int(libraries.len() as i64)),
        (bulk("functions_count"), Reply::Int(functions as i64)),
    ]);
    Ok(Reply::Map(vec![
        (bulk("running_script"), running),
        (bulk("engines"), Reply::Map(vec![(bulk("LUA"), counts)])),
    ]))
}

/// Blocks until the Lua thread answers `make`'s job (loading at start: no runtime yet).
fn ask_blocking(make: impl FnOnce(Done) -> Job) -> Result<Reply, Reply> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let job = make(Box::new(move |result| {
        let _ = tx.send(result);
    }));
    if !engine::submit(Request::Function(job)) {
        return Err(error(err::ENGINE_GONE));
    }
    rx.recv().map_err(|_| error(err::ENGINE_GONE))?
}

fn reply_text(reply: Reply) -> String {
    match reply {
        Reply::Error(text) => text.into_owned(),
        _ => String::new(),
    }
}

/// The libraries of a file being loaded at start (RDB, or an AOF's RDB base): an error stops
/// the start, as in Redis.
pub fn load_libraries(codes: Vec<Bytes>) -> Result<(), String> {
    if codes.is_empty() {
        return Ok(());
    }
    ask_blocking(|done| Job::Restore {
        libraries: codes,
        policy: Policy::Append,
        timeout: false,
        done,
    })
    .map(drop)
    .map_err(|e| format!("Failed loading library, {}", reply_text(e)))
}

/// A FUNCTION command of an AOF being replayed at start (only changes are journaled);
/// a failure is logged, as for any other command.
pub fn replay(items: &[Bytes]) {
    let sub = items
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let result = match (&sub[..], items.len()) {
        (b"load", 3..) => {
            let replace = items.len() > 3 && items[2].eq_ignore_ascii_case(b"replace");
            let code = items[items.len() - 1].clone();
            ask_blocking(|done| Job::Load {
                code,
                replace,
                timeout: false,
                done,
            })
        }
        (b"delete", 3) => {
            let name = items[2].clone();
            ask_blocking(|done| Job::Delete { name, done })
        }
        (b"flush", 2 | 3) => ask_blocking(|done| Job::Flush { done }),
        (b"restore", 3 | 4) => {
            let policy = match items.get(3).map(|p| p.to_ascii_lowercase()) {
                Some(p) if p == b"replace" => Policy::Replace,
                Some(p) if p == b"flush" => Policy::Flush,
                _ => Policy::Append,
            };
            match read_payload(&items[2]) {
                Ok(libraries) => ask_blocking(|done| Job::Restore {
                    libraries,
                    policy,
                    timeout: false,
                    done,
                }),
                Err(e) => Err(err::plain(&e)),
            }
        }
        _ => return,
    };
    if let Err(e) = result {
        tracing::warn!("AOF: a command failed while loading: {}", reply_text(e));
    }
}
