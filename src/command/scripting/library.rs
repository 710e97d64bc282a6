//! The functions' Lua state (Redis 7.0's function libraries), on the Lua thread beside EVAL's.
//!
//! As in Redis, functions live in a Lua state of their own: FUNCTION FLUSH or SCRIPT FLUSH
//! of one leaves the other alone. A library's code runs once, at FUNCTION LOAD, with a
//! different set of globals: only `redis.register_function`, `redis.log` and the version
//! constants, every other name an error, no `redis.call`. The functions it registers keep
//! the state's ordinary globals (the `redis` API EVAL scripts see) when FCALL runs them, through
//! the same path as a script ([`Engine::protected`]): atomic, timed for BUSY, killable.
//!
//! After every change the libraries' description (names, flags, code) is published to
//! `function.rs`'s registry, which FUNCTION LIST/DUMP/STATS, FCALL's checks and the snapshots
//! read without a trip to this thread.

use std::cell::RefCell;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, HookTriggers, MultiValue, Table, Value, VmState};
use tokio::sync::mpsc;

use super::engine::{self, command_error, raise, Engine, Step};
use super::function::{publish, FunctionInfo, LibraryInfo};
use crate::command::err;
use crate::protocol::Reply;

/// Function flags, in the order Redis lists them.
pub const NO_WRITES: u8 = 1;
pub const ALLOW_OOM: u8 = 2;
pub const ALLOW_STALE: u8 = 4;
pub const NO_CLUSTER: u8 = 8;
pub const ALLOW_CROSS_SLOT: u8 = 16;
pub const FLAG_NAMES: [(u8, &str); 5] = [
    (NO_WRITES, "no-writes"),
    (ALLOW_OOM, "allow-oom"),
    (ALLOW_STALE, "allow-stale"),
    (NO_CLUSTER, "no-cluster"),
    (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

/// FUNCTION LOAD's time limit for a library's registration run (none when replaying a file).
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// Where a job's answer goes: a command's reply, or its error reply.
pub type Done = Box<dyn FnOnce(Result<Reply, Reply>) + Send>;

/// What the function state is asked to do.
pub enum Job {
    Load {
        code: Bytes,
        replace: bool,
        /// Bound the registration run's time (a client's FUNCTION LOAD; not a file replay).
        timeout: bool,
        done: Done,
    },
    Delete {
        name: Bytes,
        done: Done,
    },
    Flush {
        done: Done,
    },
    /// FUNCTION RESTORE, and loading a file's libraries: the libraries' code, read already.
    Restore {
        libraries: Vec<Bytes>,
        policy: Policy,
        /// Bound each library's registration run as FUNCTION LOAD's (a client's RESTORE:
        /// Redis sets no bound there, and a library that never returns would stall it).
        timeout: bool,
        done: Done,
    },
    Call(Call),
}

/// What FUNCTION RESTORE does with the libraries there are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Policy {
    Append,
    Replace,
    Flush,
}

/// One FCALL/FCALL_RO; the caller holds every shard until [`Step::Done`].
pub struct Call {
    pub name: Bytes,
    pub keys: Vec<Bytes>,
    pub argv: Vec<Bytes>,
    /// FCALL_RO: only functions flagged `no-writes` run.
    pub read_only: bool,
    /// The command as the client sent it, for FUNCTION STATS.
    pub command: Vec<Bytes>,
    pub steps: mpsc::UnboundedSender<Step>,
}

/// The function running now: its name, its FCALL, when it started (FUNCTION STATS).
pub static RUNNING: Mutex<Option<(String, Vec<Bytes>, Instant)>> = Mutex::new(None);

struct Registered {
    name: String,
    description: Option<Bytes>,
    flags: u8,
    callback: Function,
}

struct Library {
    name: String,
    code: Bytes,
    functions: Vec<Registered>,
}

thread_local! {
    /// The functions the library being loaded registered so far; None outside FUNCTION LOAD.
    static LOADING: RefCell<Option<Vec<Registered>>> = const { RefCell::new(None) };
}

/// Every library, and the state their code runs in.
pub struct Functions {
    state: Option<State>,
    libraries: Vec<Library>,
}

struct State {
    engine: Engine,
    /// The globals a library's code sees while it loads.
    load_globals: Table,
    /// Calls a chunk in protected mode, returning its error value untouched (no traceback).
    protect: Function,
}

impl Functions {
    pub fn new() -> Functions {
        let state = match State::build() {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::warn!("cannot set up the functions' Lua state: {e}");
                None
            }
        };
        Functions {
            state,
            libraries: Vec::new(),
        }
    }

    pub fn serve(&mut self, job: Job) {
        if self.state.is_none() {
            let gone = Reply::error(err::ENGINE_GONE);
            match job {
                Job::Load { done, .. }
                | Job::Delete { done, .. }
                | Job::Flush { done }
                | Job::Restore { done, .. } => done(Err(gone)),
                Job::Call(call) => drop(call.steps.send(Step::Done(gone))),
            }
            return;
        }
        match job {
            Job::Load {
                code,
                replace,
                timeout,
                done,
            } => {
                let limit = timeout.then_some(LOAD_TIMEOUT);
                let mut libraries = std::mem::take(&mut self.libraries);
                let result = self.create(&code, replace, limit, &mut libraries);
                self.libraries = libraries;
                self.publish();
                done(
                    result
                        .map(|name| Reply::Bulk(Bytes::from(name)))
                        .map_err(plain),
                );
            }
            Job::Delete { name, done } => {
                let at = self
                    .libraries
                    .iter()
                    .position(|l| l.name.as_bytes() == name);
                let result = match at {
                    Some(at) => {
                        self.libraries.remove(at);
                        self.publish();
                        Ok(Reply::Simple("OK"))
                    }
                    None => Err(Reply::error(err::FN_LIBRARY_NOT_FOUND)),
                };
                done(result);
            }
            Job::Flush { done } => {
                self.libraries.clear();
                self.publish();
                done(Ok(Reply::Simple("OK")));
            }
            Job::Restore {
                libraries,
                policy,
                timeout,
                done,
            } => {
                let limit = timeout.then_some(LOAD_TIMEOUT);
                let result = self.restore(libraries, policy, limit).map_err(plain);
                self.publish();
                done(result.map(|()| Reply::Simple("OK")));
            }
            Job::Call(call) => {
                let reply = self.call(&call);
                let _ = call.steps.send(Step::Done(reply));
            }
        }
    }

    fn publish(&self) {
        let infos = self
            .libraries
            .iter()
            .map(|l| LibraryInfo {
                name: l.name.clone(),
                code: l.code.clone(),
                functions: l
                    .functions
                    .iter()
                    .map(|f| FunctionInfo {
                        name: f.name.clone(),
                        description: f.description.clone(),
                        flags: f.flags,
                    })
                    .collect(),
            })
            .collect();
        publish(infos);
    }

    /// Compiles `code` and links it into `into` (Redis's functionsCreateWithLibraryCtx): the
    /// library's name, or the error text (without its `ERR ` code). `into` is unchanged on
    /// failure.
    fn create(
        &self,
        code: &Bytes,
        replace: bool,
        timeout: Option<Duration>,
        into: &mut Vec<Library>,
    ) -> Result<String, String> {
        let (engine_name, name, body) = metadata(code)?;
        if !valid_name(name.as_bytes()) {
            return Err(err::FN_BAD_NAME.into());
        }
        if !engine_name.eq_ignore_ascii_case("lua") {
            return Err(err::function_engine(&engine_name));
        }
        let old = into.iter().position(|l| l.name == name);
        if old.is_some() && !replace {
            return Err(err::function_library_exists_quoted(&name));
        }
        let functions = self.register(&code[body..], timeout)?;
        if functions.is_empty() {
            return Err(err::FN_NONE_REGISTERED.into());
        }
        for f in &functions {
            let taken = into
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != old)
                .flat_map(|(_, l)| &l.functions)
                .any(|g| g.name.eq_ignore_ascii_case(&f.name));
            if taken {
                return Err(err::function_exists(&f.name));
            }
        }
        let library = Library {
            name: name.clone(),
            code: code.clone(),
            functions,
        };
        match old {
            Some(at) => into[at] = library,
            None => into.push(library),
        }
        Ok(name)
    }

    /// Runs a library's code with the load-time globals; the functions it registered.
    fn register(&self, body: &[u8], timeout: Option<Duration>) -> Result<Vec<Registered>, String> {
        let Some(state) = &self.state else {
            return Err(err::ENGINE_GONE.into());
        };
        let lua = &state.engine.lua;
        let chunk = lua
            .load(body)
            .set_name("@user_function")
            .set_mode(mlua::chunk::ChunkMode::Text)
            .into_function();
        let chunk = match chunk {
            Ok(f) => f,
            Err(mlua::Error::SyntaxError { message, .. }) => {
                return Err(err::function_compile(&message))
            }
            Err(e) => return Err(err::function_compile(&e.to_string())),
        };
        let guard = lua.globals().metatable();
        let swap = |to: &Table| {
            if let Some(mt) = &guard {
                let _ = mt.raw_set("__index", to.clone());
            }
        };
        swap(&state.load_globals);
        let deadline = timeout.map(|t| Instant::now() + t);
        let hooked = lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |_, _| match deadline {
                Some(at) if Instant::now() > at => Err(raise(err::FN_LOAD_TIMEOUT.into())),
                _ => Ok(VmState::Continue),
            },
        );
        LOADING.with(|l| *l.borrow_mut() = Some(Vec::new()));
        let result = match hooked {
            Ok(()) => state.protect.call::<MultiValue>(chunk),
            Err(e) => Err(e),
        };
        let registered = LOADING.with(|l| l.borrow_mut().take()).unwrap_or_default();
        swap(&state.engine.globals);
        let _ = lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            |_, _| engine::hook(),
        );
        let mut values = match result {
            Ok(values) => values.into_iter(),
            Err(e) => return Err(err::function_register(&load_error(&e))),
        };
        if matches!(values.next(), Some(Value::Boolean(true))) {
            return Ok(registered);
        }
        let text = match values.next().unwrap_or(Value::Nil) {
            Value::Error(e) => load_error(&e),
            Value::Table(t) => match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => err::plain_text("table"),
            },
            Value::String(s) => err::plain_text(&s.to_string_lossy()),
            other => err::plain_text(&format!("{other:?}")),
        };
        Err(err::function_register(&text))
    }

    /// FUNCTION RESTORE: every library of the payload loaded apart, then joined to the
    /// current ones as `policy` says; nothing changes on failure.
    fn restore(
        &mut self,
        codes: Vec<Bytes>,
        policy: Policy,
        timeout: Option<Duration>,
    ) -> Result<(), String> {
        let mut loaded = Vec::new();
        for code in &codes {
            self.create(code, false, timeout, &mut loaded)?;
        }
        if policy == Policy::Flush {
            self.libraries = loaded;
            return Ok(());
        }
        let replaced: Vec<usize> = self
            .libraries
            .iter()
            .enumerate()
            .filter(|(_, l)| loaded.iter().any(|n| n.name == l.name))
            .map(|(i, _)| i)
            .collect();
        if policy == Policy::Append {
            if let Some(&i) = replaced.first() {
                return Err(err::function_library_exists(&self.libraries[i].name));
            }
        }
        for library in &loaded {
            for f in &library.functions {
                let taken = self
                    .libraries
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !replaced.contains(i))
                    .flat_map(|(_, l)| &l.functions)
                    .any(|g| g.name.eq_ignore_ascii_case(&f.name));
                if taken {
                    return Err(err::function_exists(&f.name));
                }
            }
        }
        let mut index = 0;
        self.libraries.retain(|_| {
            index += 1;
            !replaced.contains(&(index - 1))
        });
        self.libraries.extend(loaded);
        Ok(())
    }

    fn call(&mut self, call: &Call) -> Reply {
        let found = self
            .libraries
            .iter()
            .flat_map(|l| &l.functions)
            .find(|f| f.name.as_bytes().eq_ignore_ascii_case(&call.name));
        let Some(f) = found else {
            return Reply::error(err::FN_NOT_FOUND);
        };
        let no_writes = f.flags & NO_WRITES != 0;
        if call.read_only && !no_writes {
            return Reply::error(err::FN_RO_WRITE_FLAG);
        }
        let (name, callback, allow_oom) =
            (f.name.clone(), f.callback.clone(), f.flags & ALLOW_OOM != 0);
        let Some(state) = self.state.as_mut() else {
            return Reply::error(err::ENGINE_GONE);
        };
        let bound = tables(&state.engine.lua, &call.keys, &call.argv)
            .and_then(|(keys, argv)| callback.bind((keys, argv)));
        let bound = match bound {
            Ok(bound) => bound,
            Err(e) => return err::plain(&e.to_string()),
        };
        *lock(&RUNNING) = Some((name.clone(), call.command.clone(), Instant::now()));
        engine::FUNCTION_MODE.store(true, SeqCst);
        let reply = state
            .engine
            .protected(bound, &call.steps, no_writes, allow_oom, &name);
        engine::FUNCTION_MODE.store(false, SeqCst);
        *lock(&RUNNING) = None;
        reply
    }
}

impl State {
    fn build() -> mlua::Result<State> {
        // The same base as EVAL's state (the `redis` API, the globals guard): built by
        // `Engine::build`, so the Lua libraries and sandbox installed there (`lib::install`)
        // reach functions too, as in Redis, whose two states share them.
        let engine = Engine::new().ok_or_else(|| mlua::Error::runtime("no Lua state"))?;
        // Libraries for functions only would be installed here, on `engine.lua`.
        let lua = &engine.lua;
        let redis: Table = engine.globals.get("redis")?;
        let register = lua.create_function(|lua, args: MultiValue| register_function(lua, args))?;
        let load_globals: Table = lua
            .load(LOAD_API)
            .set_name("=load")
            .call((redis, register))?;
        let protect: Function = lua
            .load("local xpcall = xpcall\nreturn function(f) return xpcall(f, function(e) return e end) end")
            .set_name("=protect")
            .call(())?;
        Ok(State {
            engine,
            load_globals,
            protect,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn plain(text: String) -> Reply {
    err::plain(&text)
}

/// KEYS and ARGV as Lua tables.
fn tables(lua: &mlua::Lua, keys: &[Bytes], argv: &[Bytes]) -> mlua::Result<(Table, Table)> {
    let list = |items: &[Bytes]| -> mlua::Result<Table> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(t)
    };
    Ok((list(keys)?, list(argv)?))
}

/// The text Redis shows for an error of a library's registration run: a library error's own
/// text, or `ERR ` and Lua's message.
fn load_error(e: &mlua::Error) -> String {
    if let Some(text) = command_error(e) {
        return text;
    }
    match e {
        mlua::Error::RuntimeError(message) => err::plain_text(message),
        mlua::Error::CallbackError { cause, .. } => load_error(cause),
        other => err::plain_text(&other.to_string()),
    }
}

/// Letters, digits and underscores, at least one.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A library's shebang (`#!<engine> name=<name>`), split as Redis's sdssplitargs does: the
/// engine, the name, and where the code after the shebang line starts (at its newline, so
/// that line numbers stay right).
pub fn metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err(err::FN_MISSING_METADATA.into());
    }
    // Redis looks for the newline in a C string: a NUL before it means there is none.
    let Some(end) = code.iter().position(|&b| b == b'\n' || b == 0) else {
        return Err(err::FN_INVALID_METADATA.into());
    };
    if code[end] == 0 {
        return Err(err::FN_INVALID_METADATA.into());
    }
    let line = &code[..end];
    let mut buf = bytes::BytesMut::from(line);
    buf.extend_from_slice(b"\r\n");
    let mut parts = Vec::new();
    let parsed = crate::protocol::parse_batch(
        &mut buf,
        &crate::protocol::ParseLimits::default(),
        &mut parts,
    );
    let parts = match (parsed, parts.pop()) {
        (Ok(()), Some(parts)) if !parts.is_empty() => parts,
        _ => return Err(err::FN_INVALID_METADATA.into()),
    };
    let engine = String::from_utf8_lossy(parts[0].get(2..).unwrap_or_default()).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(err::FN_NAME_TWICE.into());
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(err::function_metadata_value(&String::from_utf8_lossy(part)));
    }
    let name = name.ok_or_else(|| err::FN_NO_NAME.to_string())?;
    Ok((engine, name, end))
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., description=..., flags={...}}`, only while a library loads.
fn register_function(lua: &mlua::Lua, args: MultiValue) -> mlua::Result<()> {
    let _ = lua;
    if LOADING.with(|l| l.borrow().is_none()) {
        return Err(raise(err::FN_REGISTER_OUTSIDE_LOAD.into()));
    }
    let fail = |text: &str| Err(raise(text.into()));
    let registered = match args.len() {
        1 => {
            let Some(Value::Table(t)) = args.front() else {
                return fail(err::FN_REGISTER_ONE_ARG);
            };
            named(t)?
        }
        2 => {
            let Some(name) = args.front().and_then(text) else {
                return fail(err::FN_REGISTER_FIRST);
            };
            let Some(Value::Function(callback)) = args.get(1) else {
                return fail(err::FN_REGISTER_SECOND);
            };
            Registered {
                name: String::from_utf8_lossy(&name).into_owned(),
                description: None,
                flags: 0,
                callback: callback.clone(),
            }
        }
        _ => return fail(err::FN_REGISTER_ARITY),
    };
    let name_ok = valid_name(registered.name.as_bytes());
    LOADING.with(|l| {
        let mut l = l.borrow_mut();
        let list = l.get_or_insert_with(Vec::new);
        if !name_ok {
            return fail(&err::plain_text(err::FN_BAD_NAME));
        }
        if list.iter().any(|f| f.name == registered.name) {
            return fail(&err::plain_text(err::FN_EXISTS_IN_LIBRARY));
        }
        list.push(registered);
        Ok(())
    })
}

/// The named-arguments form of `redis.register_function`.
fn named(t: &Table) -> mlua::Result<Registered> {
    let fail = |text: &str| Err(raise(text.into()));
    let (mut name, mut description, mut callback, mut flags) = (None, None, None, 0u8);
    for pair in t.pairs::<Value, Value>() {
        let (key, value) = pair?;
        let Some(key) = text(&key) else {
            return fail(err::FN_REGISTER_KEY);
        };
        match key.to_ascii_lowercase().as_slice() {
            b"function_name" => match text(&value) {
                Some(v) => name = Some(String::from_utf8_lossy(&v).into_owned()),
                None => return fail(err::FN_REGISTER_NAME_TYPE),
            },
            b"description" => match text(&value) {
                Some(v) => description = Some(Bytes::from(v)),
                None => return fail(err::FN_REGISTER_DESC_TYPE),
            },
            b"callback" => match value {
                Value::Function(f) => callback = Some(f),
                _ => return fail(err::FN_REGISTER_CALLBACK_TYPE),
            },
            b"flags" => {
                let Value::Table(list) = value else {
                    return fail(err::FN_REGISTER_FLAGS_TYPE);
                };
                for item in list.sequence_values::<Value>() {
                    let known = text(&item?).and_then(|word| {
                        FLAG_NAMES
                            .iter()
                            .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&word))
                    });
                    match known {
                        Some((bit, _)) => flags |= bit,
                        None => return fail(err::FN_REGISTER_UNKNOWN_FLAG),
                    }
                }
            }
            _ => return fail(err::FN_REGISTER_UNKNOWN_ARG),
        }
    }
    let Some(name) = name else {
        return fail(err::FN_REGISTER_NO_NAME);
    };
    let Some(callback) = callback else {
        return fail(err::FN_REGISTER_NO_CALLBACK);
    };
    Ok(Registered {
        name,
        description,
        flags,
        callback,
    })
}

/// A string or number argument as bytes (Lua's `lua_isstring`).
fn text(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Number(n) => Some(crate::protocol::reply::double_text(*n).into_bytes()),
        _ => None,
    }
}

/// The globals of a library's registration run: `redis` with only the load-time API, both
/// read-only and erroring on any other name, as Redis's.
const LOAD_API: &str = r#"
local redis, register = ...
local error, rawget, setmetatable, tostring = error, rawget, setmetatable, tostring
local function guarded(t)
  return setmetatable({}, {
    __index = function(_, name)
      local value = rawget(t, name)
      if value == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
      end
      return value
    end,
    __newindex = function() error('Attempt to modify a readonly table', 2) end,
    __metatable = false,
  })
end
local api = {
  register_function = register,
  log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE,
  LOG_NOTICE = redis.LOG_NOTICE, LOG_WARNING = redis.LOG_WARNING,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
return guarded({redis = guarded(api)})
"#;
