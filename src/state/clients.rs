//! The client registry: what CLIENT LIST / INFO / CLIENT KILL / CLIENT UNBLOCK see of every
//! connection, and the only place another thread may shut a client's socket down.
//! Depends on nothing in the crate but the clock and `client_memory`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::client_memory::ClientMemory;
use super::clock::coarse_ms;

/// A connection's end: a TCP address, or the path of the unix socket (both ends show the
/// listening path, as Redis shows them: `/path:0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp(SocketAddr),
    Unix(Arc<str>),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Tcp(addr) => write!(f, "{addr}"),
            Addr::Unix(path) => write!(f, "{path}:0"),
        }
    }
}

impl Addr {
    /// Redis's islocalClient: the unix socket, or a TCP peer that is exactly 127.0.0.1 or ::1.
    pub fn is_local(&self) -> bool {
        match self {
            Addr::Tcp(addr) => match addr.ip() {
                std::net::IpAddr::V4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
                std::net::IpAddr::V6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
            },
            Addr::Unix(_) => true,
        }
    }
}

/// What CLIENT LIST / INFO / CLIENT KILL see of a connection; written by its own thread.
pub struct ClientInfo {
    pub id: u64,
    pub addr: Addr,
    pub local_addr: Addr,
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
    /// Closed once its pending replies are written (unblocked when the server became a
    /// replica, as Redis's CLIENT_CLOSE_AFTER_REPLY).
    pub close_after_reply: AtomicBool,
    /// Pub/sub subscriptions (channels, patterns, shard channels together).
    pub subs: AtomicU32,
    /// The names subscribed to, for ACL changes that must close subscribers who lost a
    /// channel (read by whichever thread changes a user).
    pub subscribed: Mutex<SubscribedNames>,
    /// Set while the client waits in a blocking command: CLIENT UNBLOCK ends the wait through it.
    pub unblock: Mutex<Option<tokio::sync::oneshot::Sender<Unblock>>>,
    /// What the connection's buffers hold.
    pub memory: ClientMemory,
    /// CLIENT NO-EVICT ON: never closed by client eviction.
    pub no_evict: AtomicBool,
}

/// A connection's pub/sub subscriptions by kind (a copy its own thread keeps current).
#[derive(Default, Debug)]
pub struct SubscribedNames {
    pub channels: Vec<bytes::Bytes>,
    pub patterns: Vec<bytes::Bytes>,
    pub shard_channels: Vec<bytes::Bytes>,
}

/// How CLIENT UNBLOCK ends a blocked command: as if it timed out, or with an UNBLOCKED error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblock {
    Timeout,
    Error,
    /// The server became a replica: its blocked clients get an error and are closed.
    Replica,
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

/// Shuts a socket down in both directions so its pending read completes with 0 on any backend.
pub fn shutdown_fd(fd: i32) {
    // SAFETY: shutdown(2) takes a plain descriptor number and touches no memory of ours. Callers
    // guarantee `fd` is still open and names the client's socket: either they hold the registry
    // lock (the owner unregisters under it before closing), or they own a half of the socket.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// Every connected client by id.
pub struct ClientRegistry {
    clients: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_client_id: AtomicU64,
    /// Connected clients (INFO).
    pub connected: AtomicU64,
}

impl Default for ClientRegistry {
    fn default() -> Self {
        ClientRegistry {
            clients: Mutex::new(HashMap::new()),
            next_client_id: AtomicU64::new(1),
            connected: AtomicU64::new(0),
        }
    }
}

impl ClientRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ClientInfo>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection and returns its info.
    pub fn register(
        &self,
        addr: Addr,
        local_addr: Addr,
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
            close_after_reply: AtomicBool::new(false),
            subs: AtomicU32::new(0),
            subscribed: Mutex::new(SubscribedNames::default()),
            unblock: Mutex::new(None),
            memory: ClientMemory::default(),
            no_evict: AtomicBool::new(false),
        });
        self.lock().insert(info.id, info.clone());
        self.connected.fetch_add(1, Relaxed);
        info
    }

    /// Removes a connection before its socket closes (so a kill never hits a reused fd).
    pub fn unregister(&self, id: u64) {
        if self.lock().remove(&id).is_some() {
            self.connected.fetch_sub(1, Relaxed);
        }
    }

    /// The thread serving client `id`, if it is connected.
    pub fn thread_of(&self, id: u64) -> Option<usize> {
        self.lock().get(&id).map(|c| c.thread)
    }

    /// Client `id`'s info, unless the registry is locked right now (the crash report's
    /// look-up: it must not wait, the lock may be held by the very thread that crashed).
    pub fn try_get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.clients.try_lock().ok()?.get(&id).cloned()
    }

    /// Every registered client, ordered by id; a killed one, only waiting for its thread to
    /// close it, is gone already (as Redis frees it at once).
    pub fn clients(&self) -> Vec<Arc<ClientInfo>> {
        let mut list: Vec<_> = self
            .lock()
            .values()
            .filter(|c| !c.killed.load(Relaxed))
            .cloned()
            .collect();
        list.sort_by_key(|c| c.id);
        list
    }

    /// Disconnects the clients `select` picks; returns how many. The socket is shut down under
    /// the registry lock: its owner unregisters (same lock) before closing, so the fd is live.
    pub fn kill(&self, select: impl Fn(&ClientInfo) -> bool) -> usize {
        let registry = self.lock();
        let mut killed = 0;
        // A client killed already is gone for Redis (freed at once): not counted again.
        let alive = registry.values().filter(|c| !c.killed.load(Relaxed));
        for client in alive.filter(|c| select(c)) {
            client.killed.store(true, Relaxed);
            shutdown_fd(client.fd);
            killed += 1;
        }
        killed
    }

    /// Ends the wait of every blocked client with an error and closes them: the server turned
    /// into a replica, where serving them later would diverge from its master (Redis's
    /// disconnectAllBlockedClients).
    pub fn unblock_all_for_replica(&self) {
        let ids: Vec<u64> = self.lock().keys().copied().collect();
        for id in ids {
            self.unblock(id, Unblock::Replica);
        }
    }

    /// Ends the wait of client `id` if it is blocked (CLIENT UNBLOCK); false when it is not.
    pub fn unblock(&self, id: u64, how: Unblock) -> bool {
        let Some(client) = self.lock().get(&id).cloned() else {
            return false;
        };
        let waiting = client
            .unblock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        waiting.is_some_and(|tx| tx.send(how).is_ok())
    }
}
