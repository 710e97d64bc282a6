//! Process-wide state every core can read, one concern per file: the server's configuration
//! and counters (here), the client registry (`clients`), per-thread counters (`stats`), the
//! coarse clock (`clock`), output-buffer limits (`output_limit`) and the open-files limit
//! (`rlimit`). Read-mostly; nothing here sits on the per-command data path except relaxed
//! counters that each thread writes alone. Depends on `config` and `shard` (its clock); never on
//! `command`, `server` or `pubsub`.

mod clients;
mod clock;
mod output_limit;
mod rlimit;
mod stats;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::RwLock;
use std::time::Instant;

use crate::config::Config;

pub use clients::{shutdown_fd, Addr, ClientInfo, ClientRegistry, Unblock};
pub use clock::{coarse_ms, cycles, cycles_to_ns, cycles_to_us, us_to_cycles};
pub use output_limit::{
    note_output_limit_disconnection, set_output_limits, ClassOutputLimit, OutputLimitWatch,
    NORMAL_OUTPUT_LIMIT, OUTPUT_LIMIT_DISCONNECTIONS, PUBSUB_OUTPUT_LIMIT,
};
pub use rlimit::{raise_open_files_limit, reserved_fds, OpenFiles};
pub use stats::{Histogram, ThreadStats};

/// Configuration read on every read batch, cached here (updated on start and CONFIG SET) so
/// the hot path does no map lookup: proto-max-bulk-len and client-query-buffer-limit.
pub static PROTO_MAX_BULK_LEN: AtomicU64 = AtomicU64::new(512 << 20);
pub static QUERY_BUFFER_LIMIT: AtomicU64 = AtomicU64::new(1 << 30);

/// The server as every core sees it.
pub struct ServerState {
    pub config: RwLock<Config>,
    pub threads: usize,
    pub io_backend: &'static str,
    pub port: u16,
    pub started: Instant,
    pub run_id: String,
    pub stats: Vec<ThreadStats>,
    /// Every connected client.
    pub clients: ClientRegistry,
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
            clients: ClientRegistry::default(),
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
