//! The Lua thread: one process-wide Lua 5.1 state (as Redis has one), its script cache, and the
//! `redis` library scripts see.
//!
//! A Lua state is not `Send`, and a script may run for seconds while other clients must still
//! be answered (`-BUSY`, SCRIPT KILL), so the state lives on its own OS thread rather than on a
//! core's runtime. Requests arrive on a channel, one at a time. While a script runs, each
//! `redis.call` is sent back as a [`Step::Call`] to the connection that started the script (it
//! holds every shard and runs the command through the normal dispatch path), and the Lua thread
//! waits for the reply. The core threads never block on this thread, and this thread only ever
//! waits on the one connection whose script it runs, so nothing can deadlock.
//!
//! The count hook measures the run time: past `busy-reply-threshold` the script is *busy*
//! (other clients get `-BUSY`), and SCRIPT KILL makes the hook raise an error from then on.

use crate::command::err;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::mpsc as std_mpsc;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use tokio::sync::{mpsc, oneshot};

use super::convert::{lua_to_reply, reply_to_lua};
use super::library::{ALLOW_OOM, NO_WRITES};
use super::shebang::{self, ScriptFlags};
use crate::command::lookup;
use crate::command::table::Flags;
use crate::protocol::reply::double_text;
use crate::protocol::Reply;

/// What the Lua thread is asked to do.
pub enum Request {
    Eval(Eval),
    /// SCRIPT LOAD: compile and cache; the sha1 or the compile error.
    Load {
        body: Bytes,
        done: oneshot::Sender<Result<String, Reply>>,
    },
    /// SCRIPT EXISTS.
    Exists {
        shas: Vec<Bytes>,
        done: oneshot::Sender<Vec<bool>>,
    },
    /// SCRIPT FLUSH: a fresh Lua state.
    Flush,
    /// FUNCTION and FCALL work, served by the functions' own Lua state (`library.rs`).
    Function(super::library::Job),
}

/// One EVAL/EVALSHA run. The caller holds every shard until it receives [`Step::Done`].
pub struct Eval {
    /// Lower-case hex sha1 of the body.
    pub sha: String,
    /// The body (EVAL), or None to run a cached script (EVALSHA).
    pub body: Option<Bytes>,
    pub keys: Vec<Bytes>,
    pub argv: Vec<Bytes>,
    /// EVAL_RO / EVALSHA_RO: write commands are refused.
    pub read_only: bool,
    pub steps: mpsc::UnboundedSender<Step>,
}

/// What a running script asks of the connection that started it.
pub enum Step {
    /// Run this command (RESP3 rules when `resp3`) and send the reply back.
    Call {
        items: Vec<Bytes>,
        resp3: bool,
        reply: std_mpsc::SyncSender<Reply>,
    },
    /// `redis.acl_check_cmd`: may the connection's user run this command?
    AclCheck {
        items: Vec<Bytes>,
        reply: std_mpsc::SyncSender<bool>,
    },
    /// The script's reply; the run is over.
    Done(Reply),
}

/// A script is running.
static RUNNING: AtomicBool = AtomicBool::new(false);
/// The running script is a function (FCALL): FUNCTION KILL, not SCRIPT KILL, stops it.
pub static FUNCTION_MODE: AtomicBool = AtomicBool::new(false);
/// The running script passed the busy threshold: other clients get `-BUSY`.
static BUSY: AtomicBool = AtomicBool::new(false);
/// SCRIPT KILL asked the running script to stop.
static KILL: AtomicBool = AtomicBool::new(false);
/// The running script called a write command: SCRIPT KILL refuses.
static WROTE: AtomicBool = AtomicBool::new(false);
/// `busy-reply-threshold` (alias `lua-time-limit`) in milliseconds.
pub static BUSY_THRESHOLD_MS: AtomicU64 = AtomicU64::new(5000);

/// Lua memory ceiling: a script cannot make the server allocate without bound.
const LUA_MEMORY_LIMIT: usize = 1 << 30;

/// The instructions between two looks at the clock (Redis uses the same count).
const HOOK_EVERY: u32 = 100_000;

static REQUESTS: LazyLock<std_mpsc::Sender<Request>> = LazyLock::new(|| {
    let (tx, rx) = std_mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("lua".into())
        .stack_size(16 << 20)
        .spawn(move || {
            crate::command::serving::signal_stack();
            serve(rx)
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the Lua thread: {e}");
    }
    tx
});

/// Sends `request` to the Lua thread; false when it is gone.
pub fn submit(request: Request) -> bool {
    REQUESTS.send(request).is_ok()
}

/// True while a script runs past the threshold (every command's admission asks).
#[inline(always)]
pub fn busy() -> bool {
    BUSY.load(Relaxed)
}

/// The `-BUSY` reply while a script runs past the threshold, for commands without allow-busy.
pub fn busy_error() -> Option<Reply> {
    BUSY.load(Relaxed).then(busy_text)
}

/// The `-BUSY` text for the kind of script running.
pub fn busy_text() -> Reply {
    match FUNCTION_MODE.load(Relaxed) {
        true => Reply::error(err::BUSY_FUNCTION),
        false => Reply::error(err::BUSY_SCRIPT),
    }
}

/// True while a script or function runs.
pub fn running() -> bool {
    RUNNING.load(SeqCst)
}

/// SCRIPT KILL (`eval`) or FUNCTION KILL: each stops only its own kind of script.
pub fn kill(eval: bool) -> Result<(), Reply> {
    if !(RUNNING.load(SeqCst) && BUSY.load(SeqCst)) {
        return Err(Reply::error(err::NOTBUSY));
    }
    if WROTE.load(SeqCst) {
        return Err(Reply::error(err::UNKILLABLE));
    }
    if eval == FUNCTION_MODE.load(SeqCst) {
        return Err(busy_text());
    }
    KILL.store(true, SeqCst);
    Ok(())
}

/// The lower-case hex sha1 of a script body.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

fn serve(requests: std_mpsc::Receiver<Request>) {
    let mut engine = Engine::new();
    let mut functions = super::library::Functions::new();
    while let Ok(request) = requests.recv() {
        let request = match request {
            Request::Function(job) => {
                functions.serve(job);
                continue;
            }
            other => other,
        };
        let Some(state) = engine.as_mut() else {
            fail(request, err::ENGINE_GONE);
            continue;
        };
        match request {
            Request::Eval(eval) => {
                let reply = state.eval(&eval);
                let _ = eval.steps.send(Step::Done(reply));
            }
            Request::Load { body, done } => {
                let sha = sha1_hex(&body);
                let _ = done.send(state.function(&sha, Some(&body)).map(|_| sha));
            }
            Request::Exists { shas, done } => {
                let known = shas
                    .iter()
                    .map(|sha| {
                        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                        state.scripts.contains_key(&sha)
                    })
                    .collect();
                let _ = done.send(known);
            }
            Request::Flush => {
                engine = Engine::new();
                shebang::forget_all();
            }
            Request::Function(_) => {}
        }
    }
}

fn fail(request: Request, text: &'static str) {
    match request {
        Request::Eval(eval) => drop(eval.steps.send(Step::Done(Reply::error(text)))),
        Request::Load { done, .. } => drop(done.send(Err(Reply::error(text)))),
        Request::Exists { shas, done } => drop(done.send(vec![false; shas.len()])),
        Request::Flush | Request::Function(_) => {}
    }
}

/// The run in progress, as the `redis` library callbacks see it.
struct Context {
    steps: mpsc::UnboundedSender<Step>,
    read_only: bool,
    /// The `allow-oom` flag of a function: deny-oom commands run even out of memory.
    allow_oom: bool,
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
    static RESP3: Cell<bool> = const { Cell::new(false) };
    static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
}

pub(super) struct Engine {
    pub(super) lua: Lua,
    /// Compiled scripts by sha1, with their declared flags.
    scripts: HashMap<String, (Function, ScriptFlags)>,
    /// The real globals: `_G` itself stays empty so that every assignment is refused.
    pub(super) globals: Table,
    xpcall: Function,
    handler: Function,
}

impl Engine {
    pub(super) fn new() -> Option<Engine> {
        match Self::build() {
            Ok(engine) => Some(engine),
            Err(e) => {
                tracing::warn!("cannot set up the Lua state: {e}");
                None
            }
        }
    }

    fn build() -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
        super::lib::install(&lua)?;
        let globals = lua.globals();
        let xpcall: Function = globals.get("xpcall")?;
        let handler = lua.create_function(error_handler)?;
        let redis = lua.create_table()?;
        redis.set("REDIS_VERSION", crate::command::connection::REDIS_VERSION)?;
        redis.set(
            "REDIS_VERSION_NUM",
            version_num(crate::command::connection::REDIS_VERSION),
        )?;
        globals.set("redis", redis)?;
        for name in [
            "loadfile", "dofile", "print", "newproxy", "setfenv", "getfenv",
        ] {
            globals.raw_set(name, Value::Nil)?;
        }
        let call =
            lua.create_function(|lua, args: MultiValue| command(lua, args)?.map_err(raise))?;
        let pcall = lua.create_function(|lua, args: MultiValue| match command(lua, args)? {
            Ok(value) => Ok(value),
            Err(text) => Ok(Value::Table(error_table(lua, &text)?)),
        })?;
        let set_resp = lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise(err::SETRESP_ARITY.into()));
            }
            let resp = match args.front() {
                Some(Value::Integer(n)) => *n as f64,
                Some(Value::Number(n)) => *n,
                _ => 0.0,
            };
            if resp != 2.0 && resp != 3.0 {
                return Err(raise(err::BAD_RESP_VERSION.into()));
            }
            RESP3.with(|r| r.set(resp == 3.0));
            Ok(())
        })?;
        let sha1 = lua.create_function(|_, args: MultiValue| match args.front() {
            Some(value) if args.len() == 1 => Ok(sha1_hex(shown(value).as_bytes())),
            _ => Err(raise(err::LUA_ARITY.into())),
        })?;
        let log = lua.create_function(|_, args: MultiValue| {
            if args.len() < 2 {
                return Err(raise(err::LOG_ARITY.into()));
            }
            let level = match args.front() {
                Some(Value::Integer(n)) => *n as f64,
                Some(Value::Number(n)) => *n,
                _ => return Err(raise(err::LOG_LEVEL_NOT_NUMBER.into())),
            };
            if !(0.0..=3.0).contains(&level) {
                return Err(raise(err::BAD_LOG_LEVEL.into()));
            }
            let text: Vec<String> = args.iter().skip(1).map(shown).collect();
            match level as i64 {
                3 => tracing::warn!("{}", text.join(" ")),
                _ => tracing::info!("{}", text.join(" ")),
            }
            Ok(())
        })?;
        let error_text = lua.create_function(|_, value: Value| {
            Ok(match value {
                Value::Error(e) => command_error(&e),
                _ => None,
            })
        })?;
        let acl_check = lua.create_function(|_, args: MultiValue| {
            acl_check(args)?.map_err(|text| raise(text.into()))
        })?;
        let set_repl = lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise(err::SET_REPL_ARITY.into()));
            }
            // Redis reads the flags as a C int from lua_tonumber.
            let flags = super::lib::to_number(args.front()).unwrap_or(0.0) as i32;
            if flags & !3 != 0 {
                return Err(raise(err::SET_REPL_FLAGS.into()));
            }
            Ok(())
        })?;
        let redis: Table = globals.get("redis")?;
        redis.set("acl_check_cmd", acl_check)?;
        redis.set("set_repl", set_repl)?;
        redis.set("call", call)?;
        redis.set("pcall", pcall)?;
        redis.set("setresp", set_resp)?;
        redis.set("sha1hex", sha1)?;
        redis.set("log", log)?;
        let killed = lua.create_function(|_, ()| Ok(KILL.load(Relaxed)))?;
        let hidden: Table = lua
            .load(LIBRARY)
            .set_name("=redis")
            .call((error_text, killed))?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |_, _| hook(),
        )?;
        Ok(Engine {
            lua,
            scripts: HashMap::new(),
            globals: hidden,
            xpcall,
            handler,
        })
    }

    /// The compiled script `sha`, compiling `body` when it is not cached yet.
    fn function(
        &mut self,
        sha: &str,
        body: Option<&Bytes>,
    ) -> Result<(Function, ScriptFlags), Reply> {
        if let Some(f) = self.scripts.get(sha) {
            return Ok(f.clone());
        }
        let Some(body) = body else {
            return Err(Reply::error(err::NOSCRIPT));
        };
        let (code, flags) = shebang::parse(body)?;
        let compiled = self
            .lua
            .load(code)
            .set_name("@user_script")
            .set_mode(mlua::chunk::ChunkMode::Text)
            .into_function();
        match compiled {
            Ok(f) => {
                self.scripts.insert(sha.to_string(), (f.clone(), flags));
                shebang::remember(sha, flags);
                Ok((f, flags))
            }
            Err(e) => {
                let message = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                Err(err::script_compile(&message))
            }
        }
    }

    /// An EVAL-family run: the script's declared flags may refuse it before it starts, and
    /// otherwise decide whether its writes (`no-writes`) and deny-oom commands (`allow-oom`)
    /// are let through.
    fn eval(&mut self, eval: &Eval) -> Reply {
        let (f, flags) = match self.function(&eval.sha, eval.body.as_ref()) {
            Ok(f) => f,
            Err(reply) => return reply,
        };
        if let Some(flags) = flags {
            if let Err(reply) = shebang::admit_run(flags, eval.read_only) {
                return reply;
            }
        }
        if let Err(e) = self.set_args(eval) {
            return err::plain(&e.to_string());
        }
        let declared = flags.unwrap_or(0);
        self.protected(
            f,
            &eval.steps,
            eval.read_only || declared & NO_WRITES != 0,
            declared & ALLOW_OOM != 0,
            &eval.sha,
        )
    }

    /// Runs `f` (no arguments) as a script: its `redis.call`s go to `steps`, the run is timed
    /// for BUSY and may be killed; `name` is the sha1 or function named in error replies.
    pub(super) fn protected(
        &mut self,
        f: Function,
        steps: &mpsc::UnboundedSender<Step>,
        read_only: bool,
        allow_oom: bool,
        name: &str,
    ) -> Reply {
        CONTEXT.with(|c| {
            *c.borrow_mut() = Some(Context {
                steps: steps.clone(),
                read_only,
                allow_oom,
            })
        });
        RESP3.with(|r| r.set(false));
        STARTED.with(|s| s.set(Some(Instant::now())));
        WROTE.store(false, SeqCst);
        KILL.store(false, SeqCst);
        RUNNING.store(true, SeqCst);
        let result = self.xpcall.call::<MultiValue>((f, self.handler.clone()));
        RUNNING.store(false, SeqCst);
        BUSY.store(false, SeqCst);
        KILL.store(false, SeqCst);
        CONTEXT.with(|c| c.borrow_mut().take());
        let reply = match result {
            Ok(values) => self.outcome(values, name),
            Err(e) => err::script_failed(&e.to_string()),
        };
        // Scripts leave garbage behind; collect between runs like Redis's periodic full GC.
        let _ = self.lua.gc_step();
        reply
    }

    fn set_args(&self, eval: &Eval) -> mlua::Result<()> {
        let list = |items: &[Bytes]| -> mlua::Result<Table> {
            let t = self.lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, self.lua.create_string(item)?)?;
            }
            Ok(t)
        };
        self.globals.raw_set("KEYS", list(&eval.keys)?)?;
        self.globals.raw_set("ARGV", list(&eval.argv)?)?;
        Ok(())
    }

    /// The reply for what xpcall returned: the script's value, or its error with the place.
    fn outcome(&self, values: MultiValue, sha: &str) -> Reply {
        let mut values = values.into_iter();
        let ok = matches!(values.next(), Some(Value::Boolean(true)));
        let value = values.next().unwrap_or(Value::Nil);
        if ok {
            return lua_to_reply(&value, RESP3.with(Cell::get));
        }
        let Value::Table(t) = value else {
            return err::script_failed_value(sha, &shown(&value));
        };
        let text = |field: &str| match t.raw_get::<Value>(field) {
            Ok(Value::Nil) | Err(_) => None,
            Ok(v) => Some(shown(&v)),
        };
        let mut message = text("err").unwrap_or_default();
        if let (Some(source), Some(line)) = (text("source"), text("line")) {
            message.push_str(&format!(" script: {sha}, on {source}:{line}."));
        }
        Reply::error_owned(message)
    }
}

/// "7.2.4" as Redis's REDIS_VERSION_NUM (0x00070204).
fn version_num(version: &str) -> i64 {
    version
        .split('.')
        .take(3)
        .fold(0, |n, part| (n << 8) | part.parse::<i64>().unwrap_or(0))
}

/// A Lua value as text, for error messages.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => double_text(*n),
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Error(e) => e.to_string(),
        other => other.type_name().into(),
    }
}

/// The count hook: marks the script busy past the threshold, and stops a killed script (on
/// every later tick too, so a `pcall` in a loop cannot swallow the kill).
pub(super) fn hook() -> mlua::Result<VmState> {
    if KILL.load(Relaxed) {
        return Err(mlua::Error::runtime(err::SCRIPT_KILLED));
    }
    if !BUSY.load(Relaxed) {
        let limit = Duration::from_millis(BUSY_THRESHOLD_MS.load(Relaxed));
        let started = STARTED.with(Cell::get);
        if started.is_some_and(|t| t.elapsed() >= limit) {
            BUSY.store(true, SeqCst);
        }
    }
    Ok(VmState::Continue)
}

/// xpcall's message handler: turns any error into Redis's error table `{err=..., source=...,
/// line=...}`, the place being the innermost frame of the user's script.
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match err {
        Value::Table(t) => t,
        other => {
            let text = match &other {
                _ if KILL.load(Relaxed) => err::SCRIPT_KILLED.to_string(),
                Value::Error(e) => {
                    command_error(e).unwrap_or_else(|| err::plain_text(&shown(&other)))
                }
                _ => err::plain_text(&shown(&other)),
            };
            error_table(lua, &text)?
        }
    };
    for level in 1..200 {
        let Some((source, line)) = lua.inspect_stack(level, |d| {
            let source = d.source().source.map(|s| s.into_owned());
            (source, d.current_line())
        }) else {
            break;
        };
        if let Some(source @ ("@user_script" | "@user_function")) = source.as_deref() {
            table.raw_set("source", source)?;
            if let Some(line) = line {
                table.raw_set("line", line)?;
            }
            break;
        }
    }
    Ok(table)
}

/// An error a library function raises with Redis's text (`redis.call` of a failing command,
/// bad arguments): the message handler turns it into `{err=text}`, as if it were that table.
#[derive(Debug)]
struct RaisedError(String);

impl std::fmt::Display for RaisedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedError {}

pub(super) fn raise(text: String) -> mlua::Error {
    mlua::Error::external(RaisedError(text))
}

/// The text of a [`RaisedError`] inside an error a callback raised.
pub(super) fn command_error(e: &mlua::Error) -> Option<String> {
    match e {
        mlua::Error::CallbackError { cause, .. } => command_error(cause),
        mlua::Error::ExternalError(inner) => {
            inner.downcast_ref::<RaisedError>().map(|r| r.0.clone())
        }
        _ => None,
    }
}

fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    Ok(t)
}

/// `redis.acl_check_cmd`: whether the script's user may run the command, asked of the
/// connection that runs the script (it holds the user).
fn acl_check(args: MultiValue) -> mlua::Result<Result<bool, &'static str>> {
    let items = match script_args(&args) {
        Ok(items) => items,
        Err(text) => return Ok(Err(text)),
    };
    if lookup(&items[0]).is_none() {
        return Ok(Err(err::ACL_CHECK_INVALID));
    }
    let steps = CONTEXT.with(|c| c.borrow().as_ref().map(|c| c.steps.clone()));
    let Some(steps) = steps else {
        return Ok(Err(err::CALL_OUTSIDE_SCRIPT));
    };
    let (tx, rx) = std_mpsc::sync_channel(1);
    let sent = steps.send(Step::AclCheck { items, reply: tx });
    match sent.ok().and_then(|_| rx.recv().ok()) {
        Some(allowed) => Ok(Ok(allowed)),
        None => Err(mlua::Error::runtime(
            "the client that ran the script is gone",
        )),
    }
}

/// A library call's arguments as a command line (strings and numbers only, at least one).
fn script_args(args: &MultiValue) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err(err::SCRIPT_NO_ARGS);
    }
    let mut items = Vec::with_capacity(args.len());
    for arg in args.iter() {
        items.push(match arg {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Integer(n) => Bytes::from(n.to_string()),
            Value::Number(n) => Bytes::from(double_text(*n)),
            _ => return Err(err::SCRIPT_BAD_ARG_TYPE),
        });
    }
    Ok(items)
}

/// Runs one `redis.call`/`redis.pcall`: the reply as a Lua value, or the error text.
fn command(lua: &Lua, args: MultiValue) -> mlua::Result<Result<Value, String>> {
    let fail = |text: &str| Ok(Err(text.to_string()));
    let items = match script_args(&args) {
        Ok(items) => items,
        Err(text) => return fail(text),
    };
    let Some(spec) = lookup(&items[0]).map(|(_, spec)| spec.resolve(&items)) else {
        return fail(err::SCRIPT_UNKNOWN_COMMAND);
    };
    if !spec.arity_ok(items.len()) {
        return fail(err::SCRIPT_ARITY);
    }
    if spec.has(Flags::NOSCRIPT) {
        return fail(err::SCRIPT_DENIED_COMMAND);
    }
    let write = spec.writes();
    let context = CONTEXT.with(|c| {
        let c = c.borrow();
        c.as_ref()
            .map(|c| (c.steps.clone(), c.read_only, c.allow_oom))
    });
    let Some((steps, read_only, allow_oom)) = context else {
        return fail(err::CALL_OUTSIDE_SCRIPT);
    };
    // May-replicate commands count as writes here, so a read-only script may run while
    // clients are paused for writes.
    if read_only && (write || spec.has(Flags::MAY_REPLICATE)) {
        return fail(err::SCRIPT_READ_ONLY);
    }
    // Out of memory, a script may still read and delete but not grow the data, unless it
    // declares `allow-oom`.
    if !allow_oom && crate::shard::evict::out_of_memory() && spec.has(Flags::DENYOOM) {
        return fail(err::OOM);
    }
    // Too few good replicas (`min-replicas-to-write`): no write, as Redis refuses it inside
    // a script too.
    if write && crate::command::replication::master::lacks_good_replicas() {
        return fail(err::NOREPLICAS);
    }
    if write {
        WROTE.store(true, SeqCst);
    }
    hook()?;
    let resp3 = RESP3.with(Cell::get);
    let (tx, rx) = std_mpsc::sync_channel(1);
    let sent = steps.send(Step::Call {
        items,
        resp3,
        reply: tx,
    });
    let Some(reply) = sent.ok().and_then(|_| rx.recv().ok()) else {
        return Err(mlua::Error::runtime(
            "the client that ran the script is gone",
        ));
    };
    match reply {
        Reply::Error(text) => Ok(Err(text.into_owned())),
        other => Ok(Ok(reply_to_lua(lua, other, resp3)?)),
    }
}

/// The Lua half of the `redis` library, and the globals guard. Receives the Rust callbacks.
const LIBRARY: &str = r#"
local error_text, killed = ...
local error, type, select, tostring, setmetatable = error, type, select, tostring, setmetatable
local rawget, raw_pcall = rawget, pcall

redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  local code, msg = 'ERR', e:sub(2)
  local space = e:find(' ', 1, true)
  if space then code, msg = e:sub(2, space - 1), e:sub(space + 1) end
  msg = (msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', ''))
  return {err = code .. ' ' .. msg}
end

redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {ok = s}
end

redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end

-- Lua 5.1's unpack overflows its stack check with huge ranges (Redis patches lua_checkstack).
local raw_unpack, tonumber = unpack, tonumber
unpack = function(...)
  local t, i, j = ...
  if type(t) == 'table' then
    local first, last = tonumber(i) or 1, tonumber(j) or #t
    if first <= last and last - first >= 8000 then error('too many results to unpack', 2) end
  end
  return raw_unpack(...)
end

-- Redis's pcall hands back the text of an error table (or of a library error), not the table.
local function unwrap(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if killed() then error(e, 0) end
  if type(e) == 'table' then
    local text = rawget(e, 'err')
    if type(text) == 'string' or type(text) == 'number' then return false, text end
  elseif type(e) == 'userdata' then
    local text = error_text(e)
    if text then return false, text end
  end
  return false, e
end
pcall = function(...) return unwrap(raw_pcall(...)) end

-- Redis's Lua parses every chunk as text: a binary chunk fails to compile instead of loading.
-- A leading space keeps Lua from seeing the binary signature and changes no line number.
local raw_load, raw_loadstring = load, loadstring
loadstring = function(s, name, ...)
  if type(s) == 'string' and s:byte(1) == 27 then
    return raw_loadstring(' ' .. s, name or s, ...)
  end
  return raw_loadstring(s, name, ...)
end
load = function(reader, ...)
  if type(reader) ~= 'function' then return raw_load(reader, ...) end
  local first = true
  return raw_load(function()
    local piece = reader()
    if first then
      first = false
      if type(piece) == 'string' and piece:byte(1) == 27 then return ' ' .. piece end
    end
    return piece
  end, ...)
end

-- Library tables are read-only, as Redis marks every table reachable from the globals: each
-- becomes an empty front that reads through to the real table and refuses writes.
local readonly = setmetatable({}, {__mode = 'k'})
local function refuse() error('Attempt to modify a readonly table', 2) end
local function front(t)
  local f = setmetatable({}, {__index = t, __newindex = refuse, __metatable = false})
  readonly[f] = true
  return f
end
for _, name in ipairs({'string', 'math', 'table', 'coroutine', 'redis', 'cjson', 'cmsgpack', 'struct', 'bit'}) do
  _G[name] = front(_G[name])
end
do
  local mt = getmetatable('')
  mt.__index = _G.string
  -- getmetatable('') hands out a read-only front, as Redis protects basic types' metatables.
  mt.__metatable = front(mt)
end
local raw_rawset = rawset
rawset = function(t, ...)
  if readonly[t] or t == _G then error('Attempt to modify a readonly table', 0) end
  return raw_rawset(t, ...)
end
local raw_setmetatable = setmetatable
_G.setmetatable = function(t, ...)
  if readonly[t] or t == _G then error('Attempt to modify a readonly table', 0) end
  return raw_setmetatable(t, ...)
end

-- The globals move to a hidden table; _G stays empty and refuses every assignment.
local G, hidden, names = _G, {}, {}
for name, value in next, G do hidden[name] = value; names[#names + 1] = name end
for _, name in ipairs(names) do G[name] = nil end
local function unknown(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
setmetatable(hidden, {__index = unknown, __metatable = false})
-- getmetatable(_G) shows what Redis's shows (an __index that refuses unknown names), as a
-- read-only front: never the hidden table itself.
setmetatable(G, {
  __index = hidden,
  __newindex = function()
    error('Attempt to modify a readonly table', 2)
  end,
  __metatable = front({__index = unknown}),
})
return hidden
"#;
