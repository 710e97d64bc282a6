//! Thread-per-core bootstrap: one OS thread per shard (pinned to a CPU only when
//! `server_cpulist` names some, see `affinity`), each running its own
//! single-threaded runtime (tokio-uring by default, tokio/epoll as fallback) with its own
//! SO_REUSEPORT listener, shard inbox, maintenance timer and connections.
//! The only module that touches sockets and runtimes. The top layer: nothing depends on it.

mod affinity;
mod bus;
mod connection;
pub mod crash;
mod io;
mod listen;
pub mod logging;
mod metrics;

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::command::Session;
use crate::config::Config;
use crate::service;
use crate::shard::inbox::busy;
use crate::shard::mailbox::{inboxes, serve_inbox, Inboxes, LocalShard};
use crate::shard::{Router, Shard, SlotTable};
use crate::state::{Addr, ServerState, ThreadStats};
use io::{EpollRead, EpollWrite, UringHalf, UringUnixHalf};
use listen::{still_listening, ListenerSet};
use tokio::sync::mpsc::UnboundedReceiver;

/// Which I/O backend a thread runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Uring,
    Epoll,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Uring => "io_uring",
            Backend::Epoll => "epoll",
        }
    }
}

fn uring_builder() -> io_uring::Builder {
    let mut builder = io_uring::IoUring::builder();
    builder
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_cqsize(8192);
    builder
}

const RING_ENTRIES: u32 = 2048;

/// Whether this kernel (and any seccomp profile) lets us create a ring with our flags.
fn uring_available() -> Result<(), std::io::Error> {
    uring_builder().build(RING_ENTRIES).map(drop)
}

/// Picks the backend: `uring` and `epoll` are taken as asked; `auto` probes io_uring and falls
/// back to epoll (the reason is returned for the log).
fn choose_backend(asked: &str) -> (Backend, Option<String>) {
    match asked {
        "epoll" => (Backend::Epoll, None),
        "uring" => (Backend::Uring, None),
        _ => match uring_available() {
            Ok(()) => (Backend::Uring, None),
            Err(e) => (
                Backend::Epoll,
                Some(format!("io_uring unavailable ({e}); using epoll")),
            ),
        },
    }
}

/// Binds `unixsocket` (replacing a stale socket file, as Redis does) with `unixsocketperm`.
/// Every thread accepts on a clone of the one listener.
fn bind_unix(
    config: &Config,
) -> Result<Option<(std::os::unix::net::UnixListener, Arc<str>)>, String> {
    let path = config.get("unixsocket");
    if path.is_empty() {
        return Ok(None);
    }
    let _ = std::fs::remove_file(path);
    let opening = |e: std::io::Error| format!("Failed opening Unix socket: {e}");
    // Bound, given its permissions, then listening (as Redis's anetUnixServer): no client
    // connects before the permissions hold.
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
        .map_err(opening)?;
    socket
        .bind(&socket2::SockAddr::unix(path).map_err(opening)?)
        .map_err(opening)?;
    let perm = u32::from_str_radix(config.get("unixsocketperm"), 8).unwrap_or(0);
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))
            .map_err(|e| format!("Failed to set permissions of Unix socket: {e}"))?;
    }
    let backlog = config.int("tcp-backlog").clamp(1, i64::from(i32::MAX)) as i32;
    socket.listen(backlog).map_err(opening)?;
    let listener = std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(socket));
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("unix socket: {e}"))?;
    service::remove_at_exit(path.into());
    Ok(Some((listener, Arc::from(path))))
}

/// What the configuration asks that ringkv cannot start with, checked before daemonizing so
/// the reason reaches the terminal: `rename-command` of unknown commands, and options whose
/// feature ringkv lacks and without which running would mislead (a TLS endpoint).
pub fn check_startup(config: &Config) -> Result<(), String> {
    crate::command::table::install_renames(&config.renames)?;
    if config.int("tls-port") != 0 {
        return Err("tls-port: ringkv has no TLS yet".into());
    }
    Ok(())
}

pub fn run(mut config: Config) -> Result<(), String> {
    let threads = config.threads();
    // Parsed before `config` moves into the state; a bad list is logged after the first
    // line, which must stay `listening on ...` (scripts read the port from it).
    let cpulist = affinity::parse_cpulist(config.get("server_cpulist"));
    let fd_notes = fit_maxclients(&mut config, threads)?;
    // Shown as Redis renders the classes (`KEA` reads back `AKE`), as CONFIG SET leaves it.
    if let Some(flags) = crate::pubsub::notify::parse(config.get("notify-keyspace-events")) {
        let _ = config.set(
            "notify-keyspace-events",
            &crate::pubsub::notify::render(flags),
        );
    }
    let signals = Signals::register()?;
    let (backend, fallback_note) = choose_backend(config.get("io-backend"));
    let (listeners, port) = listen::bind_all(&config, threads, config.int("port") as u16)?;
    if listeners.iter().all(|l| l.is_empty()) && config.get("unixsocket").is_empty() {
        return Err("Configured to not listen anywhere, exiting.".into());
    }
    let metrics_listeners = metrics::bind(&config)?;
    let first = config
        .get("bind")
        .split_whitespace()
        .next()
        .unwrap_or("127.0.0.1")
        .trim_start_matches('-')
        .to_string();
    tracing::info!("listening on {first}:{port}");
    if let Some(note) = fallback_note {
        tracing::warn!("{note}");
    }
    let cpus = cpulist.unwrap_or_else(|e| {
        tracing::warn!("server_cpulist: {e}; threads are not pinned");
        Vec::new()
    });
    for note in fd_notes {
        match note {
            FdNote::Notice(text) => tracing::info!("{text}"),
            FdNote::Warning(text) => tracing::warn!("{text}"),
        }
    }
    tracing::warn!(
        "ringkv version={}, bits={}, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        usize::BITS,
        std::process::id()
    );
    let cluster = config.get("cluster-enabled") == "yes";
    let mode = if cluster { "cluster" } else { "standalone" };
    tracing::info!("Running mode={mode}, port={port}.");
    if config.get("always-show-logo") == "yes" {
        // Redis's logo carries "PID: N"; supervisors and Redis's own test runner wait for it.
        tracing::info!(
            "ringkv {} (Redis 7.0.15 compatible), {} bit, {mode} mode, port: {port}, PID: {}",
            env!("CARGO_PKG_VERSION"),
            usize::BITS,
            std::process::id()
        );
    }
    if cluster {
        bus::start_cluster(&config, port, config.int("port") == 0)?;
    }
    for warning in config.without_effect() {
        tracing::warn!("{warning}");
    }
    service::check_backlog(config.int("tcp-backlog"));
    service::write_pidfile(&config);
    if let Err(e) = service::apply_oom_score_adj(&config) {
        tracing::warn!("{e}");
    }
    let supervisor = service::supervisor(&config);
    let unix = bind_unix(&config)?;
    crate::command::apply_config(&config);
    crate::command::replication::replica::configure(config.get("replicaof"));
    crate::command::access::set_default_password(config.get("requirepass").as_bytes());
    if !config.get("aclfile").is_empty() {
        if !config.users.is_empty() {
            return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
        }
        crate::command::access::load(config.get("aclfile"))?;
    }
    crate::command::access::load_configured(&config.users)?;
    let databases = config.int("databases") as usize;
    crate::state::memory::note_startup_memory();
    crate::command::aof::check_options(&config)?;
    // With appendonly yes the AOF is the data set, and the RDB file is not read (as Redis).
    let restored = if config.get("appendonly") == "yes" {
        crate::command::aof::start(&config, threads)?
    } else {
        crate::command::persist::load(&config, threads)?
    };
    let mut restored = restored.into_iter();
    crate::pubsub::Registry::install(threads);
    let state = Arc::new(ServerState::new(
        config,
        threads,
        backend.name(),
        port,
        crate::command::table::STAT_ROWS.len(),
    ));
    crash::watch_clients(state.clone());
    if crate::cluster::enabled() {
        bus::connect_cluster(&state);
    }
    let (moves, listeners) = listen::Listeners::start(listeners);
    let _ = state.rebind.set(Box::new(move |config, fallback| {
        moves.rebind(config, fallback)
    }));
    let inboxes = inboxes(threads);
    crate::shard::mailbox::share_inboxes(inboxes.clone());
    metrics::serve(metrics_listeners, state.clone(), inboxes.clone());
    for (id, listeners) in listeners.into_iter().enumerate() {
        let state = state.clone();
        let inboxes = inboxes.clone();
        let keys = restored.next().unwrap_or_default();
        let cpu = affinity::cpu_for(&cpus, id);
        let unix = match &unix {
            Some((listener, path)) => Some((
                listener
                    .try_clone()
                    .map_err(|e| format!("unix socket: {e}"))?,
                path.clone(),
            )),
            None => None,
        };
        std::thread::Builder::new()
            .name(format!("ringkv-{id}"))
            .spawn(move || {
                crate::command::serving::signal_stack();
                if let Some(cpu) = cpu {
                    if let Err(e) = affinity::pin_to(cpu) {
                        tracing::warn!("thread {id}: could not pin to CPU {cpu}: {e}");
                    }
                }
                let mut shard = Shard::new(id, databases).with_shards(threads);
                shard.set_journal(
                    crate::shard::journal::current().and_then(|stream| stream.journal_of(id)),
                );
                crate::command::persist::restore(&mut shard, keys);
                // Loading is not a write anyone subscribed to: Redis publishes nothing for it.
                drop(shard.drain_events());
                let worker = Worker {
                    id,
                    unix,
                    state,
                    inboxes,
                    shard,
                    listeners,
                };
                match backend {
                    Backend::Uring => run_uring(worker),
                    Backend::Epoll => run_epoll(worker),
                }
            })
            .map_err(|e| format!("could not start thread {id}: {e}"))?;
    }
    tracing::info!(
        threads,
        backend = backend.name(),
        "Ready to accept connections"
    );
    if let Some((_, path)) = &unix {
        tracing::info!("The server is now ready to accept connections at {path}");
    }
    service::ready(supervisor);
    signals.wait(&state);
    service::at_exit();
    Ok(())
}

/// A log line about the descriptor limit, printed after the "listening on" line.
enum FdNote {
    Notice(String),
    Warning(String),
}

/// Makes room for `maxclients` connections as Redis does at start: raises the soft
/// RLIMIT_NOFILE when maxclients plus the reserve needs it, and when the system refuses,
/// lowers maxclients to what the limit allows (refusing to start when nothing is left).
fn fit_maxclients(config: &mut Config, threads: usize) -> Result<Vec<FdNote>, String> {
    let maxclients = config.int("maxclients") as u64;
    let reserved = crate::state::reserved_fds(threads);
    let wanted = maxclients + reserved;
    let limit = crate::state::raise_open_files_limit(wanted);
    if limit.now >= wanted {
        if limit.now > limit.was {
            return Ok(vec![FdNote::Notice(format!(
                "Increased maximum number of open files to {} (it was originally set to {}).",
                limit.now, limit.was
            ))]);
        }
        return Ok(Vec::new());
    }
    if limit.now <= reserved {
        return Err(format!(
            "Your current 'ulimit -n' of {} is not enough for the server to start. Please increase your open file limit to at least {wanted}. Exiting.",
            limit.was
        ));
    }
    let lowered = limit.now - reserved;
    config
        .set("maxclients", &lowered.to_string())
        .map_err(|e| e.to_string())?;
    let why = limit.error.unwrap_or_default();
    Ok(vec![
        FdNote::Warning(format!(
            "You requested maxclients of {maxclients} requiring at least {wanted} max file descriptors."
        )),
        FdNote::Warning(format!(
            "Server can't set maximum open files to {wanted} because of OS error: {why}."
        )),
        FdNote::Warning(format!(
            "Current maximum open files is {}. maxclients has been reduced to {lowered} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
            limit.now
        )),
    ])
}

/// SIGINT and SIGTERM, registered before the server announces itself so a signal sent right
/// after the "listening on" line is not lost (or fatal).
struct Signals {
    runtime: tokio::runtime::Runtime,
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> Result<Signals, String> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("no signal runtime: {e}"))?;
        let (int, term) = runtime.block_on(async {
            (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            )
        });
        let (int, term) = (
            int.map_err(|e| e.to_string())?,
            term.map_err(|e| e.to_string())?,
        );
        Ok(Signals { runtime, int, term })
    }

    /// Serves SIGINT and SIGTERM until one of them shuts the server down, as Redis: the
    /// shutdown saves when save points are set (or as `shutdown-on-sigint`/`-sigterm` say),
    /// and a failed save keeps the server running unless FORCE. A second SIGINT while the
    /// shutdown saves exits at once.
    fn wait(mut self, state: &ServerState) {
        self.runtime.block_on(async {
            loop {
                let option = tokio::select! {
                    _ = self.int.recv() => {
                        tracing::warn!("Received SIGINT scheduling shutdown...");
                        "shutdown-on-sigint"
                    }
                    _ = self.term.recv() => {
                        tracing::warn!("Received SIGTERM scheduling shutdown...");
                        "shutdown-on-sigterm"
                    }
                };
                let flags =
                    crate::config::shutdown_flags(state.config().get(option)).unwrap_or_default();
                let mut done = crate::command::saving::request_shutdown(flags);
                let exit = loop {
                    tokio::select! {
                        exit = &mut done => break exit.unwrap_or(true),
                        _ = self.int.recv() => {
                            tracing::warn!("You insist... exiting now.");
                            crate::command::saving::remove_temp_files();
                            service::at_exit();
                            std::process::exit(1);
                        }
                        _ = self.term.recv() => {}
                    }
                };
                if exit {
                    return;
                }
            }
        });
    }
}

/// Everything one thread starts with.
struct Worker {
    id: usize,
    /// This thread's handle on the shared unix-socket listener, and its path.
    unix: Option<(std::os::unix::net::UnixListener, Arc<str>)>,
    state: Arc<ServerState>,
    inboxes: Inboxes,
    shard: Shard,
    /// This thread's TCP listeners: the first set, then each set a rebind hands over.
    listeners: UnboundedReceiver<ListenerSet>,
}

impl Worker {
    /// Starts the per-thread tasks shared by both backends; returns the thread's router.
    #[allow(clippy::type_complexity)]
    fn start(
        self,
    ) -> (
        Router,
        Arc<ServerState>,
        usize,
        UnboundedReceiver<ListenerSet>,
        Option<(std::os::unix::net::UnixListener, Arc<str>)>,
    ) {
        let local = LocalShard::new(self.shard, crate::command::publish_events);
        let router = Router::new(self.id, local.clone(), self.inboxes.clone());
        tokio::task::spawn_local(serve_inbox(local, self.inboxes, self.id));
        tokio::task::spawn_local(maintenance(router.clone(), self.state.clone(), self.id));
        if self.id == 0 {
            tokio::task::spawn_local(crate::command::saving::serve_shutdown_requests(
                router.clone(),
                self.state.clone(),
            ));
            tokio::task::spawn_local(crate::command::replication::replica_apply::serve(
                router.clone(),
                self.state.clone(),
            ));
        }
        (router, self.state, self.id, self.listeners, self.unix)
    }
}

/// (db, slot) pairs the access-clock ageing pass visits per maintenance tick: a shard's
/// 8192 slots of a database in under 4 minutes (see `Shard::age_clocks`).
const AGE_SLOTS_PER_TICK: usize = 4;

/// `hz` as the server runs it: Redis clamps it to 1..=500.
fn effective_hz(configured: i64) -> i64 {
    configured.clamp(1, 500)
}

/// Per-thread housekeeping, `hz` times a second (Redis's serverCron): active expiry
/// (time-bounded), eviction left over from a time-bounded pass; idle timeouts once a second.
async fn maintenance(router: Router, state: Arc<ServerState>, id: usize) {
    let owned = SlotTable::new(router.shards()).slots_of(id);
    let period = |state: &ServerState| {
        Duration::from_micros(1_000_000 / effective_hz(state.config().int("hz")) as u64)
    };
    let mut every = period(&state);
    let mut tick = tokio::time::interval(every);
    let mut last_second = std::time::Instant::now();
    let mut last_sample = 0;
    loop {
        tick.tick().await;
        let now_every = period(&state);
        if now_every != every {
            every = now_every;
            tick = tokio::time::interval(every);
            tick.tick().await;
        }
        if crate::shard::evict::limited() {
            // Eviction weighs used_memory (connection buffers included), walked each tick
            // while there is a limit: ~40 µs per 250 MB allocated; each thread first
            // collects the blocks the others freed for it.
            crate::state::memory::collect_thread();
            if id == 0 {
                crate::command::weigh_memory();
            }
        }
        if router.runs_inline(id) {
            let owned = owned.clone();
            // Redis gives active expiry a quarter of a cycle at most.
            let budget = Duration::from_millis(2).min(every / 4);
            router.run_inline(|s| {
                use crate::state::cycles;
                let dbs = (0..s.databases())
                    .map(|db| (s.db_at(db).len(), s.db_at(db).volatile()))
                    .collect();
                state.set_shard_view(
                    id,
                    crate::state::ShardView {
                        stats: s.stats(),
                        dbs,
                    },
                );
                s.age_clocks(owned.clone(), AGE_SLOTS_PER_TICK);
                let start = cycles();
                s.active_expire(owned, budget);
                crate::command::notify_expired_all(s);
                crate::command::latency_event("expire-cycle", cycles().wrapping_sub(start));
                let start = cycles();
                s.enforce_maxmemory();
                s.limit_tracking();
                crate::command::latency_event("eviction-cycle", cycles().wrapping_sub(start));
            });
        }
        if id == 0 {
            let now = crate::shard::unix_ms();
            // Every tick when ticks are 100 ms apart or more (Redis's run_with_period(100)).
            let period = Duration::from_millis(crate::state::SAMPLE_PERIOD_MS);
            if every >= period || now.saturating_sub(last_sample) >= crate::state::SAMPLE_PERIOD_MS
            {
                last_sample = now;
                state.sample_rates(now);
            }
            if crate::cluster::enabled() {
                crate::command::cluster::purge_lost_slots(&router).await;
            }
            crate::command::aof::tick(&router, &state.config());
            crate::command::replication::master::tick(&router, &state.config());
            crate::command::saving::cron(&router, &state.config).await;
            evict_clients(&state);
        }
        if last_second.elapsed() >= Duration::from_secs(1) {
            last_second = std::time::Instant::now();
            if id == 0 {
                // Raises used_memory_peak, as serverCron does, but once a second: the walk
                // of the allocator's pages takes ~40 µs per 250 MB allocated.
                crate::state::memory::used_memory();
            }
            let timeout = state.config().int("timeout") as u64;
            if timeout > 0 {
                state
                    .clients
                    .kill(|c| c.thread == id && c.idle_secs() >= timeout);
            }
        }
    }
}

/// Client eviction (`maxmemory-clients`), once a tick: Redis evicts before each command and
/// each sleep, a tick later here, which keeps the per-command path free of it.
fn evict_clients(state: &ServerState) {
    let budget = {
        let config = state.config();
        let setting = config.get("maxmemory-clients");
        if setting == "0" {
            return;
        }
        crate::state::client_memory_budget(setting, config.int("maxmemory") as u64)
    };
    crate::state::evict_clients(&state.clients, budget);
}

/// Accepts a connection: enforces maxclients and protected mode, sets TCP keepalive, registers
/// it and returns its session; Err holds the reply to send before closing.
fn admit(
    router: &Router,
    state: &Arc<ServerState>,
    id: usize,
    fd: i32,
    peer: Addr,
    local: Addr,
) -> Result<Session, &'static [u8]> {
    let stats = &state.stats[id];
    let (maxclients, protected, keepalive) = {
        let config = state.config();
        (
            config.int("maxclients") as u64,
            config.get("protected-mode") == "yes",
            config.int("tcp-keepalive"),
        )
    };
    if state.clients.connected.load(Relaxed) >= maxclients {
        ThreadStats::add(&stats.rejected_connections, 1);
        return Err(MAX_CLIENTS_REPLY);
    }
    if protected && crate::command::access::default_nopass() && !peer.is_local() {
        ThreadStats::add(&stats.rejected_connections, 1);
        return Err(PROTECTED_MODE_REPLY);
    }
    if keepalive > 0 && matches!(peer, Addr::Tcp(_)) {
        let _ = set_keepalive(fd, Duration::from_secs(keepalive as u64));
    }
    ThreadStats::add(&stats.connections, 1);
    let client = state.clients.register(peer, local, fd, id);
    let auth = crate::command::access::Login::default();
    client.authenticated.store(auth.authenticated, Relaxed);
    Ok(Session::new(router, state, client, id, auth))
}

/// TCP keepalive as Redis's anetKeepAlive: probes after `idle`, then every idle/3, 3 probes.
pub fn set_keepalive(fd: i32, idle: Duration) -> std::io::Result<()> {
    // SAFETY: `fd` is the accepted socket, open for the duration of this call (the caller owns
    // the stream); the borrow does not outlive it.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval((idle / 3).max(Duration::from_secs(1)))
        .with_retries(3);
    socket2::SockRef::from(&fd).set_tcp_keepalive(&keepalive)
}

const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";

/// Redis 7.0's text for a non-loopback client of a protected server (networking.c).
const PROTECTED_MODE_REPLY: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

fn run_uring(worker: Worker) {
    let mut builder = tokio_uring::builder();
    builder
        .entries(RING_ENTRIES)
        .uring_builder(&uring_builder());
    let runtime = match tokio_uring::Runtime::new(&builder) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("thread {}: io_uring runtime failed: {e}", worker.id);
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let (router, state, id, listeners, unix) = worker.start();
        let mut accepting = Vec::new();
        if let Some((listener, path)) = unix {
            let (router, state) = (router.clone(), state.clone());
            accepting.push(tokio::task::spawn_local(accept_unix(
                listener,
                path,
                move |stream, path| {
                    let Ok(stream) = stream.into_std() else {
                        return;
                    };
                    let stream = tokio_uring::net::UnixStream::from_std(stream);
                    let fd = stream.as_raw_fd();
                    let addr = Addr::Unix(path);
                    match admit(&router, &state, id, fd, addr.clone(), addr) {
                        Ok(session) => {
                            let (reader, writer) = UringUnixHalf::split(stream);
                            tokio::task::spawn_local(busy(connection::serve(
                                reader, writer, session,
                            )));
                        }
                        Err(reply) => {
                            tokio::task::spawn_local(async move {
                                let _ = stream.write_all(bytes::BytesMut::from(reply)).await;
                            });
                        }
                    }
                },
            )));
        }
        let mut listeners = listeners;
        while let Some(set) = listeners.recv().await {
            for listener in set {
                let fd = listener.as_raw_fd();
                let listener = tokio_uring::net::TcpListener::from_std(listener);
                let (router, state) = (router.clone(), state.clone());
                tokio::task::spawn_local(async move {
                    let local = listener
                        .local_addr()
                        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                    loop {
                        let Ok((stream, peer)) = listener.accept().await else {
                            if !still_listening(fd) {
                                break;
                            }
                            // Out of descriptors or similar: back off instead of spinning.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let fd = stream.as_raw_fd();
                        let (peer, local) = (Addr::Tcp(peer), Addr::Tcp(local));
                        match admit(&router, &state, id, fd, peer, local) {
                            Ok(session) => {
                                let (reader, writer) = UringHalf::split(stream);
                                tokio::task::spawn_local(busy(connection::serve(
                                    reader, writer, session,
                                )));
                            }
                            Err(reply) => {
                                let _ = stream.write_all(bytes::BytesMut::from(reply)).await;
                            }
                        }
                    }
                });
            }
        }
        for task in accepting {
            let _ = task.await;
        }
    });
}

/// Serves an admitted connection of the epoll backend (TCP or unix), or writes the refusal
/// `admit` gave and drops it.
fn serve_epoll<S, R, W>(
    admitted: Result<Session, &'static [u8]>,
    stream: S,
    fd: i32,
    split: fn(S) -> (R, W),
) where
    S: tokio::io::AsyncWrite + Unpin + 'static,
    R: tokio::io::AsyncRead + Unpin + 'static,
    W: tokio::io::AsyncWrite + Unpin + 'static,
{
    match admitted {
        Ok(session) => {
            let (read, write) = split(stream);
            let (reader, writer) = (EpollRead(read), EpollWrite(write, fd));
            tokio::task::spawn_local(busy(connection::serve(reader, writer, session)));
        }
        Err(reply) => {
            tokio::task::spawn_local(async move {
                use tokio::io::AsyncWriteExt;
                let mut stream = stream;
                let _ = stream.write_all(reply).await;
            });
        }
    }
}

fn run_epoll(worker: Worker) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("thread {}: runtime failed: {e}", worker.id);
            std::process::exit(1);
        }
    };
    let local_set = tokio::task::LocalSet::new();
    local_set.block_on(&runtime, async move {
        let (router, state, id, listeners, unix) = worker.start();
        let mut accepting = Vec::new();
        if let Some((listener, path)) = unix {
            let (router, state) = (router.clone(), state.clone());
            accepting.push(tokio::task::spawn_local(accept_unix(
                listener,
                path,
                move |stream, path| {
                    let fd = stream.as_raw_fd();
                    let addr = Addr::Unix(path);
                    let admitted = admit(&router, &state, id, fd, addr.clone(), addr);
                    serve_epoll(admitted, stream, fd, tokio::net::UnixStream::into_split);
                },
            )));
        }
        let mut listeners = listeners;
        while let Some(set) = listeners.recv().await {
            for listener in set {
                let fd = listener.as_raw_fd();
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    continue;
                };
                let (router, state) = (router.clone(), state.clone());
                tokio::task::spawn_local(async move {
                    let local = listener
                        .local_addr()
                        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                    loop {
                        let Ok((stream, peer)) = listener.accept().await else {
                            if !still_listening(fd) {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let fd = stream.as_raw_fd();
                        let admitted =
                            admit(&router, &state, id, fd, Addr::Tcp(peer), Addr::Tcp(local));
                        serve_epoll(admitted, stream, fd, tokio::net::TcpStream::into_split);
                    }
                });
            }
        }
        for task in accepting {
            let _ = task.await;
        }
    });
}

/// Accepts unix-socket connections on this thread's clone of the listener (through tokio's
/// reactor on either backend: accepts are rare) and hands each to `serve`.
async fn accept_unix(
    listener: std::os::unix::net::UnixListener,
    path: Arc<str>,
    serve: impl Fn(tokio::net::UnixStream, Arc<str>),
) {
    let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
        tracing::warn!("unix socket {path}: cannot register with the reactor");
        return;
    };
    loop {
        match listener.accept().await {
            Ok((stream, _)) => serve(stream, path.clone()),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// `disable-thp`: transparent huge pages off for this process (as redis-server does). The
/// allocator asks for huge pages on its arenas, so a fresh server's resident memory would grow
/// in 2 MiB steps and hold ~10 MB it never fills; off, it grows with the data. Called first
/// thing with `true` (before the allocator touches much) and again once the configuration is
/// read if it says `no`; the caller logs a failure once logging is up.
pub fn set_thp_disabled(disabled: bool) -> std::io::Result<()> {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, disabled as libc::c_ulong, 0, 0, 0) };
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}
