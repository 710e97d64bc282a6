//! The replica side of replication: following a master (see the module doc of `replication`).
//! REPLICAOF/SLAVEOF and ROLE, the link's state as INFO and ROLE show it, and the admission
//! rules of a replica (READONLY, MASTERDOWN). The link itself (a thread with a blocking
//! socket) is `link`; what it receives is applied on a runtime thread by `replica_apply`.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8};
use std::sync::{Arc, Mutex};

use crate::command::table::{cats, flags, row, CommandSpec, Flags, NOKEY};
use crate::command::{err, error, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::state::ServerState;

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "replicaof",
        3,
        flags!(NO_ASYNC_LOADING | ADMIN | NOSCRIPT | STALE),
        NOKEY,
        Kind::Local(replicaof),
        "server",
        "5.0.0",
        "Make the server a replica of another instance, or promote it as master.",
        "host port",
    ),
    row(
        "slaveof",
        3,
        flags!(NO_ASYNC_LOADING | ADMIN | NOSCRIPT | STALE),
        NOKEY,
        Kind::Local(replicaof),
        "server",
        "1.0.0",
        "Make the server a replica of another instance, or promote it as master.",
        "host port",
    ),
    row(
        "role",
        1,
        flags!(NOSCRIPT | LOADING | STALE | FAST),
        NOKEY,
        Kind::Local(role),
        "server",
        "2.8.12",
        "Return the role of the instance in the context of replication",
        "",
    )
    .with_acl(cats!(ADMIN | DANGEROUS)),
];

/// The link's state, as Redis's `repl_state` (ROLE names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Waiting to (re)connect.
    Connect = 0,
    /// The TCP connection is being made.
    Connecting = 1,
    /// Connected; PING, AUTH, REPLCONF, PSYNC under way.
    Handshake = 2,
    /// Receiving (or loading) the master's snapshot.
    Sync = 3,
    /// Applying the master's command stream.
    Connected = 4,
}

impl LinkState {
    fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The master followed: host and port as REPLICAOF named them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Master {
    pub host: String,
    pub port: u16,
}

static MASTER: Mutex<Option<Master>> = Mutex::new(None);
static IS_REPLICA: AtomicBool = AtomicBool::new(false);
/// Bumped at every REPLICAOF: a link thread or a queued batch of an older one stops.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static STATE: AtomicU8 = AtomicU8::new(LinkState::Connect as u8);
/// Unix seconds of the last read from the master (0: none on this link).
static LAST_IO: AtomicU64 = AtomicU64::new(0);
/// Unix seconds since when the link is down (0: it never was up).
static DOWN_SINCE: AtomicU64 = AtomicU64::new(0);
/// Bytes of the stream read from the master (`slave_read_repl_offset`); the bytes applied
/// are `super::OFFSET`.
pub static READ_OFFSET: AtomicI64 = AtomicI64::new(0);
/// True once this server has a history it can ask its master to continue (Redis's cached
/// master): after a sync, or after serving as a master itself. Without one, PSYNC ? -1.
static HISTORY: AtomicBool = AtomicBool::new(false);
/// The registry id of the master's client (0: none), for CLIENT LIST / KILL TYPE master.
static MASTER_CLIENT: AtomicU64 = AtomicU64::new(0);
/// The socket of the link up now, so that REPLICAOF can cut it from any thread.
static LINK_FD: Mutex<Option<i32>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// True while this server replicates a master (REPLICAOF host port).
pub fn is_replica() -> bool {
    IS_REPLICA.load(Relaxed)
}

/// The master followed now.
pub fn master() -> Option<Master> {
    lock(&MASTER).clone()
}

/// The link generation now: a link thread serves while it is its own.
pub fn generation() -> u64 {
    GENERATION.load(SeqCst)
}

pub fn state() -> LinkState {
    match STATE.load(Relaxed) {
        1 => LinkState::Connecting,
        2 => LinkState::Handshake,
        3 => LinkState::Sync,
        4 => LinkState::Connected,
        _ => LinkState::Connect,
    }
}

/// Moves the link of generation `gen` to `next` (a stale link changes nothing).
pub fn set_state(gen: u64, next: LinkState) {
    if gen != generation() {
        return;
    }
    let was = state();
    STATE.store(next as u8, Relaxed);
    if was == LinkState::Connected && next != LinkState::Connected {
        DOWN_SINCE.store(crate::shard::unix_ms() / 1000, Relaxed);
    }
}

/// Notes a read from the master.
pub fn touch() {
    LAST_IO.store(crate::shard::unix_ms() / 1000, Relaxed);
}

/// Milliseconds since the master last sent data while the link is up, or since the link
/// went down (never up: since the epoch, as Redis's repl_down_since of 0 makes it).
pub fn data_age_ms() -> u64 {
    let now = crate::shard::unix_ms() / 1000;
    let since = if state() == LinkState::Connected {
        LAST_IO.load(Relaxed)
    } else {
        DOWN_SINCE.load(Relaxed)
    };
    now.saturating_sub(since) * 1000
}

/// The master's client in the registry while a link is up.
pub fn master_client() -> Option<u64> {
    Some(MASTER_CLIENT.load(Relaxed)).filter(|&id| id != 0)
}

/// Names the master's client (0: none).
pub fn set_master_client(id: u64) {
    MASTER_CLIENT.store(id, Relaxed);
}

pub fn has_history() -> bool {
    HISTORY.load(Relaxed)
}

/// Notes that the server holds its master's history (after a full sync).
pub fn note_history() {
    HISTORY.store(true, Relaxed);
}

/// Registers the socket of the link of generation `gen` (None: it is closing). Refused
/// (false) when REPLICAOF moved on meanwhile: the caller then drops its link.
pub fn set_link_fd(gen: u64, fd: Option<i32>) -> bool {
    let mut slot = lock(&LINK_FD);
    if fd.is_some() && gen != generation() {
        return false;
    }
    *slot = fd;
    true
}

/// Cuts the link up now, if any: its thread's read then ends and it sees it is stale.
fn cut_link() {
    if let Some(fd) = *lock(&LINK_FD) {
        // The link thread keeps the socket open while its descriptor is registered here.
        crate::state::shutdown_fd(fd);
    }
}

/// Follows `master` from now on (REPLICAOF host port, or `replicaof` at start).
/// `cache_self`: a running master turning replica offers its own history, which its new
/// master may continue (Redis's replicationCacheMasterUsingMyself); at start there is none.
pub fn set_master(server: &Arc<ServerState>, master: Master, cache_self: bool) {
    if !IS_REPLICA.swap(true, SeqCst) && cache_self {
        HISTORY.store(true, Relaxed);
    }
    crate::shard::db::REPLICA_FROZEN.store(true, Relaxed);
    // Serving them later would diverge from the master's stream.
    server.clients.unblock_all_for_replica();
    *lock(&MASTER) = Some(master.clone());
    record_role(server, &format!("{} {}", master.host, master.port));
    let gen = GENERATION.fetch_add(1, SeqCst) + 1;
    STATE.store(LinkState::Connect as u8, Relaxed);
    LAST_IO.store(0, Relaxed);
    cut_link();
    tracing::info!(
        "Connecting to MASTER {}:{}; REPLICAOF {} {} enabled",
        master.host,
        master.port,
        master.host,
        master.port
    );
    super::link::start(server.clone(), gen, master);
}

/// Stops following a master (REPLICAOF NO ONE): the data stays, writes are accepted, and a
/// new history starts with the old one as the previous.
pub fn unset_master(server: &ServerState) {
    if !is_replica() {
        return;
    }
    GENERATION.fetch_add(1, SeqCst);
    STATE.store(LinkState::Connect as u8, Relaxed);
    cut_link();
    record_role(server, "");
    *lock(&MASTER) = None;
    // The new history starts exactly after the last byte of the master's stream.
    super::master::promote(|| {
        IS_REPLICA.store(false, SeqCst);
        super::shift_ids();
    });
    crate::shard::db::REPLICA_FROZEN.store(false, Relaxed);
    HISTORY.store(true, Relaxed);
    tracing::info!("MASTER MODE enabled");
}

/// Records `replicaof` (empty: a master) and moves the process to its role's
/// `oom-score-adj-values` class, as Redis does on every change of role.
fn record_role(server: &ServerState, replicaof: &str) {
    let mut config = server.config_mut();
    config.record("replicaof", replicaof);
    if let Err(e) = crate::service::apply_oom_score_adj(&config) {
        tracing::warn!("{e}");
    }
}

/// Takes the replica's role named by `replicaof` at start, before any client is served (the
/// link itself starts with the runtime, in `replica_apply::serve`).
pub fn configure(replicaof: &str) {
    if let Some(master) = parse_config(replicaof) {
        IS_REPLICA.store(true, SeqCst);
        crate::shard::db::REPLICA_FROZEN.store(true, Relaxed);
        *lock(&MASTER) = Some(master);
    }
}

/// Parses `replicaof`'s value ("host port"), as a config file or the command line gives it.
pub fn parse_config(value: &str) -> Option<Master> {
    let mut words = value.split_whitespace();
    let host = words.next()?.to_string();
    let port = words.next()?.parse().ok()?;
    words.next().is_none().then_some(Master { host, port })
}

fn replicaof(session: &mut Session, args: &mut Args) -> CmdResult {
    // A cluster node's replication is CLUSTER REPLICATE's.
    if crate::cluster::enabled() {
        return Err(error(err::REPLICAOF_IN_CLUSTER));
    }
    if super::failover::active() {
        return Err(error(err::REPLICAOF_WHILE_FAILING_OVER));
    }
    let host = args.next()?;
    let port = args.next()?;
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        unset_master(&session.server);
        return Ok(Reply::Simple("OK"));
    }
    let port = std::str::from_utf8(&port)
        .ok()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| error(err::INVALID_MASTER_PORT))?;
    let master = Master {
        host: String::from_utf8_lossy(&host).into_owned(),
        port: port as u16,
    };
    if is_replica() && self::master().as_ref() == Some(&master) {
        return Ok(Reply::Simple("OK Already connected to specified master"));
    }
    set_master(&session.server, master, true);
    Ok(Reply::Simple("OK"))
}

fn role(_session: &mut Session, _args: &mut Args) -> CmdResult {
    let bulk = |s: &str| Reply::bulk_copy(s.as_bytes());
    let Some(master) = master().filter(|_| is_replica()) else {
        let replicas = super::master::replicas()
            .into_iter()
            .filter(|r| r.state == "online")
            .map(|r| {
                Reply::Array(vec![
                    bulk(&r.ip),
                    bulk(&r.port.to_string()),
                    bulk(&r.offset.to_string()),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            bulk("master"),
            Reply::Int(super::master::stream_offset()),
            Reply::Array(replicas),
        ]));
    };
    let state = state();
    let offset = match state {
        LinkState::Connected => super::OFFSET.load(SeqCst),
        _ => -1,
    };
    Ok(Reply::Array(vec![
        bulk("slave"),
        bulk(&master.host),
        Reply::Int(i64::from(master.port)),
        bulk(state.name()),
        Reply::Int(offset),
    ]))
}

/// INFO replication's lines of a replica, after `role` (none for a master).
pub fn info(server: &ServerState, out: &mut Vec<(String, String)>) {
    let Some(master) = master().filter(|_| is_replica()) else {
        return;
    };
    let mut line = |field: &str, value: String| out.push((field.into(), value));
    let state = state();
    let now = crate::shard::unix_ms() / 1000;
    line("master_host", master.host.clone());
    line("master_port", master.port.to_string());
    let up = state == LinkState::Connected;
    line("master_link_status", if up { "up" } else { "down" }.into());
    let last_io = LAST_IO.load(Relaxed);
    let ago = if up && last_io != 0 {
        now.saturating_sub(last_io) as i64
    } else {
        -1
    };
    line("master_last_io_seconds_ago", ago.to_string());
    line(
        "master_sync_in_progress",
        u8::from(state == LinkState::Sync).to_string(),
    );
    line(
        "slave_read_repl_offset",
        READ_OFFSET.load(SeqCst).to_string(),
    );
    line("slave_repl_offset", super::OFFSET.load(SeqCst).to_string());
    if !up {
        let since = DOWN_SINCE.load(Relaxed);
        let down = if since == 0 {
            -1
        } else {
            now.saturating_sub(since) as i64
        };
        line("master_link_down_since_seconds", down.to_string());
    }
    let config = server.config();
    line("slave_priority", config.int("replica-priority").to_string());
    let yes = |option: &str| u8::from(config.get(option) == "yes").to_string();
    line("slave_read_only", yes("replica-read-only"));
    line("replica_announced", yes("replica-announced"));
}

/// The refusal a replica gives a normal client's command before it runs: READONLY for a
/// write while `replica-read-only`, MASTERDOWN while the link is down and
/// `replica-serve-stale-data no` for a command not flagged `stale`. The master's own
/// commands are never refused.
pub fn refusal(session: &Session, spec: &CommandSpec, write: bool) -> Option<Reply> {
    if !is_replica() || session.master_link {
        return None;
    }
    let config = session.server.config();
    if write && config.get("replica-read-only") == "yes" {
        return Some(error(err::READONLY_REPLICA));
    }
    if state() != LinkState::Connected
        && config.get("replica-serve-stale-data") == "no"
        && !spec.has(Flags::STALE)
    {
        return Some(error(err::MASTERDOWN));
    }
    match loading() {
        Loading::Blocking if !spec.has(Flags::LOADING) => Some(error(err::LOADING)),
        Loading::Async if spec.has(Flags::NO_ASYNC_LOADING) => Some(error(err::LOADING)),
        _ => None,
    }
}

/// A full resync's load, as INFO shows it (Redis's `loading` and `async_loading`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loading {
    No = 0,
    /// The old data is gone for clients: what lacks the LOADING flag gets -LOADING.
    Blocking = 1,
    /// The old data is served until the new replaces it (`repl-diskless-load swapdb` with
    /// the master's history unchanged); NO_ASYNC_LOADING commands get -LOADING.
    Async = 2,
}

static LOADING: AtomicU8 = AtomicU8::new(Loading::No as u8);

/// What a full resync is loading now.
pub fn loading() -> Loading {
    match LOADING.load(Relaxed) {
        1 => Loading::Blocking,
        2 => Loading::Async,
        _ => Loading::No,
    }
}

/// Marks a full resync's load as begun (or ended, with `Loading::No`).
pub fn set_loading(state: Loading) {
    LOADING.store(state as u8, Relaxed);
}

/// Configs CONFIG SET refuses with -LOADING while a load runs (Redis's DENY_LOADING_CONFIG).
pub fn denied_while_loading(name: &[u8]) -> bool {
    loading() != Loading::No
        && [&b"appendonly"[..], b"repl-diskless-load", b"dir"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
}
