//! Process-wide state every core can read: configuration, the client registry, counters.
//! Read-mostly; nothing here sits on the per-command data path except relaxed counters that
//! each thread writes alone. Depends on `config` and `protocol`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::config::{Config, OutputLimit};

/// Configuration read on every read batch, cached here (updated on start and CONFIG SET) so
/// the hot path does no map lookup: proto-max-bulk-len and client-query-buffer-limit.
pub static PROTO_MAX_BULK_LEN: AtomicU64 = AtomicU64::new(512 << 20);
pub static QUERY_BUFFER_LIMIT: AtomicU64 = AtomicU64::new(1 << 30);

/// Counters one thread writes and INFO sums.
#[derive(Default)]
pub struct ThreadStats {
    pub commands: AtomicU64,
    pub connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub errors: AtomicU64,
    /// Calls per command-table row.
    pub calls: Vec<AtomicU64>,
    /// Calls that were refused before running (arity, unknown subcommand...), per row.
    pub rejected_calls: Vec<AtomicU64>,
    /// Calls that ran and replied with an error, per row.
    pub failed_calls: Vec<AtomicU64>,
    /// Error replies per error code (INFO errorstats), at most `ERROR_CODES` codes.
    pub error_codes: std::sync::Mutex<Vec<(String, u64)>>,
}

/// Distinct error codes tracked, as Redis caps its errors table.
const ERROR_CODES: usize = 128;

impl ThreadStats {
    fn new(commands: usize) -> Self {
        let zeros = || (0..commands).map(|_| AtomicU64::new(0)).collect();
        ThreadStats {
            calls: zeros(),
            rejected_calls: zeros(),
            failed_calls: zeros(),
            ..Default::default()
        }
    }

    /// Adds `n` to a counter this thread owns (no read-modify-write race: one writer).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed) + n, Relaxed);
    }

    /// Counts an error reply under its code: the first word when a space comes within its
    /// first 31 bytes, else `ERR` (Redis's afterErrorReply).
    pub fn note_error(&self, text: &str) {
        let code = match text.as_bytes().iter().take(31).position(|&c| c == b' ') {
            Some(end) => &text[..end],
            None => "ERR",
        };
        let mut codes = self.error_codes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n)) = codes.iter_mut().find(|(c, _)| c == code) {
            *n += 1;
        } else if codes.len() < ERROR_CODES {
            codes.push((code.to_string(), 1));
        }
    }

    fn reset(&self) {
        self.error_codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for c in [
            &self.commands,
            &self.connections,
            &self.rejected_connections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.errors,
        ] {
            c.store(0, Relaxed);
        }
        for c in self
            .calls
            .iter()
            .chain(&self.rejected_calls)
            .chain(&self.failed_calls)
        {
            c.store(0, Relaxed);
        }
    }
}

/// What CLIENT LIST / INFO / CLIENT KILL see of a connection; written by its own thread.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    /// The socket, so another thread can shut it down (CLIENT KILL, idle timeout).
    pub fd: i32,
    pub thread: usize,
    pub created: Instant,
    pub name: Mutex<String>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    /// The ACL user the connection is logged in as.
    pub user: Mutex<String>,
    /// AUTH done (or not needed at connect): the reader's pre-auth limits stop applying.
    pub authenticated: AtomicBool,
    pub db: AtomicU32,
    pub resp: AtomicU8,
    /// The coarse monotonic clock (`coarse_ms`) at the last command.
    pub last_active_ms: AtomicU64,
    /// Command-table row of the last command (u32::MAX: none yet).
    pub last_cmd: AtomicU32,
    pub killed: AtomicBool,
    /// Pub/sub subscriptions (channels, patterns, shard channels together).
    pub subs: AtomicU32,
    /// Set while the client waits in a blocking command: CLIENT UNBLOCK ends the wait through it.
    pub unblock: Mutex<Option<tokio::sync::oneshot::Sender<Unblock>>>,
}

/// How CLIENT UNBLOCK ends a blocked command: as if it timed out, or with an UNBLOCKED error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblock {
    Timeout,
    Error,
}

impl ClientInfo {
    /// Seconds since the last command.
    pub fn idle_secs(&self) -> u64 {
        coarse_ms().saturating_sub(self.last_active_ms.load(Relaxed)) / 1000
    }

    /// Notes that a command arrived now.
    pub fn mark_active(&self) {
        self.last_active_ms.store(coarse_ms(), Relaxed);
    }
}

/// Milliseconds of the kernel's coarse monotonic clock: a few milliseconds of resolution (the
/// scheduler tick), read without the timestamp counter a precise clock needs — cheap enough to
/// take per batch for idle times, which CLIENT LIST reports in seconds.
pub fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// The server as every core sees it.
pub struct ServerState {
    pub config: RwLock<Config>,
    pub threads: usize,
    pub io_backend: &'static str,
    pub port: u16,
    pub started: Instant,
    pub run_id: String,
    pub stats: Vec<ThreadStats>,
    clients: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_client_id: AtomicU64,
    pub connected: AtomicU64,
}

impl ServerState {
    /// State for a server with `threads` threads and a command table of `commands` rows.
    pub fn new(
        config: Config,
        threads: usize,
        io_backend: &'static str,
        port: u16,
        commands: usize,
    ) -> Self {
        let seed = crate::shard::unix_ms() ^ (std::process::id() as u64) << 20;
        let mut x = seed | 1;
        let run_id = (0..40)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit((x % 16) as u32, 16).unwrap_or('0')
            })
            .collect();
        ServerState {
            config: RwLock::new(config),
            threads,
            io_backend,
            port,
            started: Instant::now(),
            run_id,
            stats: (0..threads).map(|_| ThreadStats::new(commands)).collect(),
            clients: Mutex::new(HashMap::new()),
            next_client_id: AtomicU64::new(1),
            connected: AtomicU64::new(0),
        }
    }

    /// Reads the configuration (a poisoned lock still holds a valid config).
    pub fn config(&self) -> std::sync::RwLockReadGuard<'_, Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the configuration.
    pub fn config_mut(&self) -> std::sync::RwLockWriteGuard<'_, Config> {
        self.config.write().unwrap_or_else(|e| e.into_inner())
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ClientInfo>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection and returns its info.
    pub fn register(
        &self,
        addr: SocketAddr,
        local_addr: SocketAddr,
        fd: i32,
        thread: usize,
    ) -> Arc<ClientInfo> {
        let info = Arc::new(ClientInfo {
            id: self.next_client_id.fetch_add(1, Relaxed),
            addr,
            local_addr,
            fd,
            thread,
            created: Instant::now(),
            name: Mutex::new(String::new()),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            user: Mutex::new("default".to_string()),
            authenticated: AtomicBool::new(false),
            db: AtomicU32::new(0),
            resp: AtomicU8::new(2),
            last_active_ms: AtomicU64::new(coarse_ms()),
            last_cmd: AtomicU32::new(u32::MAX),
            killed: AtomicBool::new(false),
            subs: AtomicU32::new(0),
            unblock: Mutex::new(None),
        });
        self.registry().insert(info.id, info.clone());
        self.connected.fetch_add(1, Relaxed);
        info
    }

    /// Removes a connection before its socket closes (so a kill never hits a reused fd).
    pub fn unregister(&self, id: u64) {
        if self.registry().remove(&id).is_some() {
            self.connected.fetch_sub(1, Relaxed);
        }
    }

    /// Every registered client, ordered by id.
    pub fn clients(&self) -> Vec<Arc<ClientInfo>> {
        let mut list: Vec<_> = self.registry().values().cloned().collect();
        list.sort_by_key(|c| c.id);
        list
    }

    /// Disconnects the clients `select` picks; returns how many. The socket is shut down under
    /// the registry lock: its owner unregisters (same lock) before closing, so the fd is live.
    pub fn kill(&self, select: impl Fn(&ClientInfo) -> bool) -> usize {
        let registry = self.registry();
        let mut killed = 0;
        for client in registry.values().filter(|c| select(c)) {
            client.killed.store(true, Relaxed);
            shutdown_fd(client.fd);
            killed += 1;
        }
        killed
    }

    /// Ends the wait of client `id` if it is blocked (CLIENT UNBLOCK); false when it is not.
    pub fn unblock(&self, id: u64, how: Unblock) -> bool {
        let Some(client) = self.registry().get(&id).cloned() else {
            return false;
        };
        let waiting = client
            .unblock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        waiting.is_some_and(|tx| tx.send(how).is_ok())
    }

    /// Zeroes the counters (CONFIG RESETSTAT).
    pub fn reset_stats(&self) {
        for s in &self.stats {
            s.reset();
        }
    }

    /// Sum of one counter over threads.
    pub fn total(&self, pick: impl Fn(&ThreadStats) -> &AtomicU64) -> u64 {
        self.stats.iter().map(|s| pick(s).load(Relaxed)).sum()
    }
}

/// Shuts a socket down in both directions so its pending read completes with 0 on any backend.
pub fn shutdown_fd(fd: i32) {
    // SAFETY: shutdown(2) takes a plain descriptor number and touches no memory of ours. Callers
    // guarantee `fd` is still open and names the client's socket: either they hold the registry
    // lock (the owner unregisters under it before closing), or they own a half of the socket.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// Descriptors kept for everything but clients: Redis's CONFIG_MIN_RESERVED_FDS (32), plus
/// each thread's listeners, ring or epoll instance and wake-up descriptors.
pub fn reserved_fds(threads: usize) -> u64 {
    32 + 4 * threads as u64
}

/// What raising RLIMIT_NOFILE achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit before.
    pub was: u64,
    /// The soft limit now (at least `was`).
    pub now: u64,
    /// Why the wanted limit could not be set, when it could not.
    pub error: Option<String>,
}

/// Raises the soft RLIMIT_NOFILE toward `wanted` when it is lower, as Redis's
/// adjustOpenFilesLimit: the wanted value first, then 16 less at a time down to the current
/// limit. The hard limit is raised only when that is allowed (root); it is never lowered.
pub fn raise_open_files_limit(wanted: u64) -> OpenFiles {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the local value the pointer refers to.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let error = os_error_text();
        return OpenFiles {
            was: 1024,
            now: 1024,
            error: Some(error),
        };
    }
    let was = limit.rlim_cur;
    if was >= wanted {
        return OpenFiles {
            was,
            now: was,
            error: None,
        };
    }
    let mut error = None;
    let mut best = wanted;
    while best > was {
        let next = libc::rlimit {
            rlim_cur: best,
            rlim_max: limit.rlim_max.max(best),
        };
        // SAFETY: setrlimit only reads the local `rlimit` the pointer refers to.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &next) } == 0 {
            break;
        }
        if error.is_none() {
            error = Some(os_error_text());
        }
        // Past the hard limit only root may go: try the hard limit itself next.
        best = if best > limit.rlim_max && limit.rlim_max > was {
            limit.rlim_max
        } else {
            best.saturating_sub(16)
        };
    }
    let now = best.max(was);
    OpenFiles {
        was,
        now,
        error: if now >= wanted { None } else { error },
    }
}

/// The last OS error as strerror prints it (Redis's log texts carry no "(os error N)").
fn os_error_text() -> String {
    let text = std::io::Error::last_os_error().to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// `client-output-buffer-limit` of one client class, readable from every thread (updated on
/// start and CONFIG SET).
pub struct ClassOutputLimit {
    hard: AtomicU64,
    soft: AtomicU64,
    soft_seconds: AtomicU64,
}

impl ClassOutputLimit {
    const fn new(hard: u64, soft: u64, soft_seconds: u64) -> Self {
        ClassOutputLimit {
            hard: AtomicU64::new(hard),
            soft: AtomicU64::new(soft),
            soft_seconds: AtomicU64::new(soft_seconds),
        }
    }

    /// The limit now in force.
    pub fn get(&self) -> OutputLimit {
        OutputLimit {
            hard: self.hard.load(Relaxed),
            soft: self.soft.load(Relaxed),
            soft_seconds: self.soft_seconds.load(Relaxed),
        }
    }

    fn set(&self, limit: OutputLimit) {
        self.hard.store(limit.hard, Relaxed);
        self.soft.store(limit.soft, Relaxed);
        self.soft_seconds.store(limit.soft_seconds, Relaxed);
    }
}

/// The limits of normal clients and of subscribers (replicas do not exist yet): Redis's
/// defaults `normal 0 0 0` (none) and `pubsub 32mb 8mb 60`.
pub static NORMAL_OUTPUT_LIMIT: ClassOutputLimit = ClassOutputLimit::new(0, 0, 0);
pub static PUBSUB_OUTPUT_LIMIT: ClassOutputLimit = ClassOutputLimit::new(32 << 20, 8 << 20, 60);

/// Clients disconnected for exceeding their output-buffer limit (INFO stats).
pub static OUTPUT_LIMIT_DISCONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Applies a `client-output-buffer-limit` value.
pub fn set_output_limits(text: &str) {
    let [normal, _replica, pubsub] = crate::config::output_limits(text);
    NORMAL_OUTPUT_LIMIT.set(normal);
    PUBSUB_OUTPUT_LIMIT.set(pubsub);
}

/// One client's pending output measured against its class's limit, as Redis's
/// checkClientOutputBufferLimits: over the hard limit at once, or over the soft limit for more
/// than its seconds without dropping under it.
#[derive(Default)]
pub struct OutputLimitWatch {
    over_soft_since: std::cell::Cell<Option<Instant>>,
}

impl OutputLimitWatch {
    /// Records `pending` bytes; true when the client must be disconnected.
    pub fn exceeded(&self, pending: usize, limit: OutputLimit) -> bool {
        let pending = pending as u64;
        let mut over = limit.hard > 0 && pending > limit.hard;
        if limit.soft > 0 && pending > limit.soft {
            // The first time over never disconnects; staying over longer than the seconds does.
            match self.over_soft_since.get() {
                None => self.over_soft_since.set(Some(Instant::now())),
                Some(since) => {
                    over |= since.elapsed() > std::time::Duration::from_secs(limit.soft_seconds)
                }
            }
        } else {
            self.over_soft_since.set(None);
        }
        over
    }

    /// While over the soft limit: when staying over it disconnects the client.
    pub fn soft_deadline(&self, limit: OutputLimit) -> Option<Instant> {
        let since = self.over_soft_since.get()?;
        (limit.soft > 0).then(|| since + std::time::Duration::from_secs(limit.soft_seconds))
    }
}

/// Logs and counts a client cut off at its output-buffer limit (Redis's text).
pub fn note_output_limit_disconnection(client: &str) {
    OUTPUT_LIMIT_DISCONNECTIONS.fetch_add(1, Relaxed);
    tracing::warn!(
        "Client {client} scheduled to be closed ASAP for overcoming of output buffer limits."
    );
}
