//! Process-wide state every core can read, one concern per file: the server's configuration
//! and counters (here), the client registry (`clients`), what each client's buffers hold and client eviction
//! (`client_memory`), per-thread counters (`stats`), the
//! coarse clock (`clock`), output-buffer limits (`output_limit`), the open-files limit
//! (`rlimit`), the allocator's and the kernel's view of memory (`memory`) and the sampled
//! instantaneous rates (`instant`). Read-mostly; nothing here sits on the per-command data path except relaxed
//! counters that each thread writes alone. Depends on `config` and `shard` (its clock); never on
//! `command`, `server` or `pubsub`.

mod client_memory;
mod clients;
mod clock;
mod instant;
pub mod memory;
mod output_limit;
mod rlimit;
mod stats;

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use crate::config::Config;

pub use client_memory::{
    client_memory_budget, client_totals, evict_clients, ClientMemory, CLIENT_OVERHEAD,
    EVICTED_CLIENTS,
};
pub use clients::{shutdown_fd, Addr, ClientInfo, ClientRegistry, SubscribedNames, Unblock};
pub use clock::{
    coarse_ms, cycles, cycles_to_ns, cycles_to_us, monotonic_clock_info, us_to_cycles,
};
pub use instant::{InstantMetrics, Rate, SAMPLE_PERIOD_MS};
pub use output_limit::{
    note_output_limit_disconnection, set_output_limits, ClassOutputLimit, OutputLimitWatch,
    NORMAL_OUTPUT_LIMIT, OUTPUT_LIMIT_DISCONNECTIONS, PUBSUB_OUTPUT_LIMIT, REPLICA_OUTPUT_LIMIT,
};
pub use rlimit::{raise_open_files_limit, reserved_fds, strerror, OpenFiles};
pub use stats::{Histogram, RowTiming, ThreadStats};

/// Configuration read on every read batch, cached here (updated on start and CONFIG SET) so
/// the hot path does no map lookup: proto-max-bulk-len and client-query-buffer-limit.
pub static PROTO_MAX_BULK_LEN: AtomicU64 = AtomicU64::new(512 << 20);
pub static QUERY_BUFFER_LIMIT: AtomicU64 = AtomicU64::new(1 << 30);

/// The server as every core sees it.
pub struct ServerState {
    pub config: RwLock<Config>,
    pub threads: usize,
    pub io_backend: &'static str,
    /// The TCP port the listeners are bound to (the one picked when `port` is 0).
    pub port: AtomicU16,
    /// Moves every thread's TCP listeners to the configuration's `bind` and `port` (CONFIG
    /// SET): installed by the server at start, called by the command layer.
    pub rebind: OnceLock<Rebind>,
    pub started: Instant,
    pub run_id: String,
    pub stats: Vec<ThreadStats>,
    /// Every connected client.
    pub clients: ClientRegistry,
    /// INFO's instantaneous rates.
    pub instant: InstantMetrics,
    /// What each shard last reported on its maintenance tick, for readers that cannot reach
    /// the shards (the metrics endpoint's thread).
    pub shard_views: Vec<std::sync::Mutex<ShardView>>,
}

/// Binds new TCP listeners for a configuration and hands them to every thread, closing the
/// old ones; Ok is the port now listened on. The `u16` is the port to bind when the
/// configuration's is 0 (0 again: pick a free one). Err leaves the old listeners serving.
pub type Rebind = Box<dyn Fn(&Config, u16) -> Result<u16, String> + Send + Sync>;

/// A shard's counters and its (keys, keys with a TTL) per database, as of its last tick.
#[derive(Clone, Debug, Default)]
pub struct ShardView {
    pub stats: crate::shard::ShardStats,
    pub dbs: Vec<(usize, usize)>,
}

/// 40 hex digits (run ids, replication ids) from a seed.
pub fn hex_id(seed: u64) -> String {
    let mut x = seed | 1;
    (0..40)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap_or('0')
        })
        .collect()
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
        let run_id = hex_id(seed);
        ServerState {
            config: RwLock::new(config),
            threads,
            io_backend,
            port: AtomicU16::new(port),
            rebind: OnceLock::new(),
            started: Instant::now(),
            run_id,
            stats: (0..threads).map(|_| ThreadStats::new(commands)).collect(),
            clients: ClientRegistry::default(),
            instant: InstantMetrics::default(),
            shard_views: (0..threads).map(|_| Default::default()).collect(),
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
        self.instant.reset();
        EVICTED_CLIENTS.store(0, Relaxed);
        OUTPUT_LIMIT_DISCONNECTIONS.store(0, Relaxed);
    }

    /// Takes one sample of the instantaneous rates (every [`SAMPLE_PERIOD_MS`], on one
    /// thread's maintenance tick).
    pub fn sample_rates(&self, now_ms: u64) {
        self.instant.sample(
            now_ms,
            [
                self.total(|s| &s.commands),
                self.total(|s| &s.net_input_bytes),
                self.total(|s| &s.net_output_bytes),
            ],
        );
    }

    /// Records what shard `id` holds now (its maintenance tick).
    pub fn set_shard_view(&self, id: usize, view: ShardView) {
        if let Some(slot) = self.shard_views.get(id) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = view;
        }
    }

    /// Every shard's last view.
    pub fn shard_views(&self) -> Vec<ShardView> {
        self.shard_views
            .iter()
            .map(|v| v.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Sum of one counter over threads.
    pub fn total(&self, pick: impl Fn(&ThreadStats) -> &AtomicU64) -> u64 {
        self.stats.iter().map(|s| pick(s).load(Relaxed)).sum()
    }
}
