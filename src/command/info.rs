//! INFO: which sections a call asks for, and one function per section writing its
//! `field:value` lines (Redis's field names, in Redis's order).

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::connection::REDIS_VERSION;
use super::server::Routine;
use super::{shown, Args, Session};
use crate::protocol::Reply;
use crate::shard::ShardStats;
use crate::state::{Rate, ServerState, ThreadStats};

/// One INFO section: its name (as asked), its title (as printed) and what it writes.
struct Section {
    name: &'static str,
    title: &'static str,
    write: fn(&Snapshot, &mut Lines),
}

const fn section(
    name: &'static str,
    title: &'static str,
    write: fn(&Snapshot, &mut Lines),
) -> Section {
    Section { name, title, write }
}

/// Every section in the order `all` prints them; the first `DEFAULT` are the default ones.
const SECTIONS: &[Section] = &[
    section("server", "Server", server),
    section("clients", "Clients", clients),
    section("memory", "Memory", memory),
    section("persistence", "Persistence", persistence),
    section("stats", "Stats", stats),
    section("replication", "Replication", replication),
    section("cpu", "CPU", cpu),
    section("modules", "Modules", nothing),
    section("errorstats", "Errorstats", errorstats),
    section("cluster", "Cluster", cluster),
    section("keyspace", "Keyspace", keyspace),
    section("commandstats", "Commandstats", commandstats),
    section("latencystats", "Latencystats", latencystats),
];

/// Sections INFO prints with no argument or "default".
const DEFAULT: usize = 11;

/// The sections `asked` (lower-cased arguments) name, each once, in the order first named;
/// unknown names are skipped, as Redis does.
fn chosen(asked: &[String]) -> Vec<&'static Section> {
    let mut sections: Vec<&'static Section> = Vec::new();
    let mut add = |group: &'static [Section]| {
        for s in group {
            if !sections.iter().any(|t| std::ptr::eq(*t, s)) {
                sections.push(s);
            }
        }
    };
    if asked.is_empty() {
        add(&SECTIONS[..DEFAULT]);
    }
    for a in asked {
        match a.as_str() {
            "default" => add(&SECTIONS[..DEFAULT]),
            "all" | "everything" => add(SECTIONS),
            other => {
                if let Some(at) = SECTIONS.iter().position(|s| s.name == other) {
                    add(&SECTIONS[at..=at]);
                }
            }
        }
    }
    sections
}

pub fn info(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let asked: Vec<String> = args.all()[1..]
            .iter()
            .map(|a| shown(a).to_ascii_lowercase())
            .collect();
        let sections = chosen(&asked);
        let shards = session
            .router
            .run_all(|s| {
                // used_memory is read (and weighed for eviction) below: without the
                // blocks other threads freed and this one has not collected yet.
                crate::state::memory::collect_thread();
                let sizes: Vec<(usize, usize)> = (0..s.databases())
                    .map(|db| (s.db_at(db).len(), s.db_at(db).volatile()))
                    .collect();
                (s.stats(), sizes)
            })
            .await;
        let info = Snapshot::new(&session.server, &shards);
        let mut text = String::new();
        for section in sections {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let _ = write!(text, "# {}\r\n", section.title);
            (section.write)(&info, &mut Lines(&mut text));
        }
        Ok(Reply::Verbatim("txt", Bytes::from(text)))
    })
}

/// Each shard's counters and its (keys, keys with a TTL) per database.
type ShardInfo = (ShardStats, Vec<(usize, usize)>);

/// What the sections read: the server, and the shards' figures gathered once per call.
struct Snapshot<'a> {
    server: &'a ServerState,
    shards: &'a [ShardInfo],
    /// The shards' counters summed.
    totals: ShardStats,
}

impl<'a> Snapshot<'a> {
    fn new(server: &'a ServerState, shards: &'a [ShardInfo]) -> Self {
        let totals = shards
            .iter()
            .fold(ShardStats::default(), |a, (s, _)| ShardStats {
                keyspace_hits: a.keyspace_hits + s.keyspace_hits,
                keyspace_misses: a.keyspace_misses + s.keyspace_misses,
                expired_keys: a.expired_keys + s.expired_keys,
                evicted_keys: a.evicted_keys + s.evicted_keys,
                used_memory: a.used_memory + s.used_memory,
            });
        Snapshot {
            server,
            shards,
            totals,
        }
    }
}

/// A section's output: `field:value` lines.
struct Lines<'a>(&'a mut String);

impl Lines<'_> {
    fn line(&mut self, field: &str, value: &dyn std::fmt::Display) {
        let _ = write!(self.0, "{field}:{value}\r\n");
    }
}

/// Version, process, port, uptime, threads.
fn server(info: &Snapshot, out: &mut Lines) {
    let uptime = info.server.started.elapsed().as_secs();
    out.line("redis_version", &REDIS_VERSION);
    out.line("redis_git_sha1", &"00000000");
    out.line("redis_git_dirty", &0);
    out.line("redis_mode", &super::connection::mode());
    out.line("ringkv_version", &env!("CARGO_PKG_VERSION"));
    out.line("os", &os_name());
    out.line("arch_bits", &64);
    out.line("monotonic_clock", &crate::state::monotonic_clock_info());
    out.line("multiplexing_api", &info.server.io_backend);
    // Rust's atomics are the C11 memory model's.
    out.line("atomicvar_api", &"c11-builtin");
    // Redis prints 0.0.0 when not built by GCC.
    out.line("gcc_version", &"0.0.0");
    out.line("process_id", &std::process::id());
    out.line("process_supervised", &supervised(info));
    out.line("run_id", &info.server.run_id);
    out.line("tcp_port", &info.server.port.load(Relaxed));
    out.line("server_time_usec", &(crate::shard::unix_ms() * 1000));
    out.line("uptime_in_seconds", &uptime);
    out.line("uptime_in_days", &(uptime / 86400));
    let hz = info.server.config().int("hz");
    out.line("hz", &hz);
    out.line("configured_hz", &hz);
    // Redis's LRU clock: seconds, 24 bits.
    out.line(
        "lru_clock",
        &((crate::shard::unix_ms() / 1000) & ((1 << 24) - 1)),
    );
    let exe = std::env::current_exe().map(|p| p.display().to_string());
    out.line("executable", &exe.unwrap_or_default());
    let file = info.server.config().file.as_ref().map(|f| {
        std::fs::canonicalize(f)
            .unwrap_or_else(|_| f.clone())
            .display()
            .to_string()
    });
    out.line("config_file", &file.unwrap_or_default());
    out.line("threads", &info.server.threads);
    out.line("io_threads_active", &0);
}

/// Connected and blocked clients.
fn clients(info: &Snapshot, out: &mut Lines) {
    out.line(
        "connected_clients",
        &info.server.clients.connected.load(Relaxed),
    );
    out.line("cluster_connections", &0);
    out.line("maxclients", &info.server.config().int("maxclients"));
    let (_, input, output) = crate::state::client_totals(&info.server.clients);
    out.line("client_recent_max_input_buffer", &input);
    out.line("client_recent_max_output_buffer", &output);
    let blocked = crate::shard::blocking::blocked_clients() as u64;
    out.line("blocked_clients", &blocked);
    out.line("tracking_clients", &crate::tracking::counts().0);
    out.line("clients_in_timeout_table", &0);
}

/// The allocator's and the kernel's figures, the keyspace's accounted share (the dataset,
/// which maxmemory evicts against), maxmemory and its policy.
fn memory(info: &Snapshot, out: &mut Lines) {
    use crate::state::memory;
    // Every write answered so far is in the replication buffer, as in Redis where a write
    // is propagated before its reply.
    super::replication::master::stream_offset();
    memory::collect_thread();
    let alloc = super::weigh_memory();
    // One look at the replication buffer for every field, so that they agree with each
    // other while the stream grows (mem_not_counted_for_evict covers mem_clients_slaves).
    let replication = super::replication::master::buffer_memory();
    let not_counted = super::aof::not_counted_for_evict() + replication.not_counted;
    let used = alloc.allocated;
    let peak = memory::peak_memory().max(used);
    let rss = memory::rss_bytes();
    let startup = memory::startup_memory();
    let dataset = info.totals.used_memory.min(used);
    let ratio = |a: u64, b: u64| format!("{:.2}", a as f64 / b.max(1) as f64);
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    out.line("used_memory", &used);
    out.line("used_memory_human", &human(used));
    out.line("used_memory_rss", &rss);
    out.line("used_memory_rss_human", &human(rss));
    out.line("used_memory_peak", &peak);
    out.line("used_memory_peak_human", &human(peak));
    let peak_perc = used as f64 * 100.0 / peak.max(1) as f64;
    out.line("used_memory_peak_perc", &format!("{peak_perc:.2}%"));
    out.line("used_memory_overhead", &(used - dataset));
    out.line("used_memory_startup", &startup);
    out.line("used_memory_dataset", &dataset);
    let net = used.saturating_sub(startup).max(1);
    let dataset_perc = dataset as f64 * 100.0 / net as f64;
    out.line("used_memory_dataset_perc", &format!("{dataset_perc:.2}%"));
    out.line("allocator_allocated", &alloc.allocated);
    out.line("allocator_active", &alloc.active);
    out.line("allocator_resident", &alloc.resident);
    let total = memory::total_system_memory();
    out.line("total_system_memory", &total);
    out.line("total_system_memory_human", &human(total));
    let maxmemory = info.server.config().int("maxmemory").max(0) as u64;
    out.line("maxmemory", &maxmemory);
    out.line("maxmemory_human", &human(maxmemory));
    out.line(
        "maxmemory_policy",
        &info.server.config().get("maxmemory-policy").to_string(),
    );
    out.line(
        "allocator_frag_ratio",
        &ratio(alloc.active, alloc.allocated),
    );
    out.line("allocator_frag_bytes", &diff(alloc.active, alloc.allocated));
    out.line("allocator_rss_ratio", &ratio(alloc.resident, alloc.active));
    out.line("allocator_rss_bytes", &diff(alloc.resident, alloc.active));
    out.line("rss_overhead_ratio", &ratio(rss, alloc.resident));
    out.line("rss_overhead_bytes", &diff(rss, alloc.resident));
    out.line("mem_fragmentation_ratio", &ratio(rss, used));
    out.line("mem_fragmentation_bytes", &diff(rss, used));
    // Eviction weighs used_memory less the AOF's buffer and the replicas' buffers, as Redis.
    out.line("mem_not_counted_for_evict", &not_counted);
    out.line("mem_replication_backlog", &replication.backlog);
    out.line("mem_total_replication_buffers", &replication.total);
    out.line("mem_clients_slaves", &replication.replicas);
    out.line(
        "mem_clients_normal",
        &crate::state::client_totals(&info.server.clients).0,
    );
    out.line("mem_cluster_links", &0);
    out.line("mem_allocator", &memory::allocator_name());
    // mimalloc compacts nothing on request: no active defragmentation.
    out.line("active_defrag_running", &0);
    // Frees are never deferred to a background thread.
    out.line("lazyfree_pending_objects", &0);
    out.line("lazyfreed_objects", &0);
}

/// RDB saves (no AOF).
fn persistence(_: &Snapshot, out: &mut Lines) {
    use super::replication::replica::{loading, Loading};
    let loading = loading();
    out.line("loading", &u8::from(loading == Loading::Blocking));
    out.line("async_loading", &u8::from(loading == Loading::Async));
    // Saves do not fork: no copy-on-write to measure.
    out.line("current_cow_peak", &0);
    out.line("current_cow_size", &0);
    out.line("current_cow_size_age", &0);
    out.line("current_fork_perc", &"0.00");
    out.line("current_save_keys_processed", &0);
    out.line("current_save_keys_total", &0);
    let saved = super::saving::status();
    out.line("rdb_changes_since_last_save", &saved.changes_since_save);
    out.line("rdb_bgsave_in_progress", &(saved.rdb_in_progress() as u8));
    out.line("rdb_last_save_time", &saved.last_save);
    out.line(
        "rdb_last_bgsave_status",
        &if saved.last_bgsave_ok { "ok" } else { "err" },
    );
    out.line("rdb_last_bgsave_time_sec", &saved.last_bgsave_secs);
    out.line("rdb_current_bgsave_time_sec", &saved.current_bgsave_secs);
    out.line("rdb_saves", &saved.saves);
    out.line("rdb_last_cow_size", &0);
    let (loaded, expired) = super::persist::last_load();
    out.line("rdb_last_load_keys_expired", &expired);
    out.line("rdb_last_load_keys_loaded", &loaded);
    for (field, value) in super::aof::info() {
        out.line(field, &value);
    }
    // No modules.
    out.line("module_fork_in_progress", &0);
    out.line("module_fork_last_cow_size", &0);
}

/// Connections, commands, bytes, keyspace hits and expiries, pub/sub, errors.
fn stats(info: &Snapshot, out: &mut Lines) {
    out.line(
        "total_connections_received",
        &info.server.total(|s| &s.connections),
    );
    out.line(
        "total_commands_processed",
        &info.server.total(|s| &s.commands),
    );
    let rate = |r| info.server.instant.per_sec(r);
    out.line("instantaneous_ops_per_sec", &rate(Rate::Commands));
    out.line(
        "total_net_input_bytes",
        &info.server.total(|s| &s.net_input_bytes),
    );
    out.line(
        "total_net_output_bytes",
        &info.server.total(|s| &s.net_output_bytes),
    );
    // No replication yet: no replication traffic.
    out.line("total_net_repl_input_bytes", &0);
    out.line("total_net_repl_output_bytes", &0);
    let kbps = |r| format!("{:.2}", rate(r) as f64 / 1024.0);
    out.line("instantaneous_input_kbps", &kbps(Rate::NetInput));
    out.line("instantaneous_output_kbps", &kbps(Rate::NetOutput));
    out.line("instantaneous_input_repl_kbps", &"0.00");
    out.line("instantaneous_output_repl_kbps", &"0.00");
    out.line(
        "rejected_connections",
        &info.server.total(|s| &s.rejected_connections),
    );
    let [full, partial_ok, partial_err] = super::replication::master::sync_stats();
    out.line("sync_full", &full);
    out.line("sync_partial_ok", &partial_ok);
    out.line("sync_partial_err", &partial_err);
    out.line("expired_keys", &info.totals.expired_keys);
    out.line("evicted_keys", &info.totals.evicted_keys);
    out.line(
        "evicted_clients",
        &crate::state::EVICTED_CLIENTS.load(Relaxed),
    );
    out.line("keyspace_hits", &info.totals.keyspace_hits);
    out.line("keyspace_misses", &info.totals.keyspace_misses);
    let registry = crate::pubsub::Registry::get();
    let count = |kind| registry.map_or(0, |r| r.len(kind));
    out.line("pubsub_channels", &count(crate::pubsub::Kind::Channel));
    out.line("pubsub_patterns", &count(crate::pubsub::Kind::Pattern));
    out.line("pubsubshard_channels", &count(crate::pubsub::Kind::Shard));
    // Snapshots run on threads, never in a forked child.
    out.line("latest_fork_usec", &0);
    out.line("total_forks", &0);
    // MIGRATE opens a connection per call and keeps none.
    out.line("migrate_cached_sockets", &0);
    // No replicas, so no writable-replica expiries; no active defragmentation.
    out.line("slave_expires_tracked_keys", &0);
    for field in [
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        out.line(field, &0);
    }
    out.line(
        "client_output_buffer_limit_disconnections",
        &crate::state::OUTPUT_LIMIT_DISCONNECTIONS.load(Relaxed),
    );
    let (keys, items) = crate::shard::tracking::totals();
    out.line("tracking_total_keys", &keys);
    out.line("tracking_total_items", &items);
    out.line("tracking_total_prefixes", &crate::tracking::counts().1);
    // Errors answered to a master's commands (loading stops at the first error instead).
    out.line(
        "unexpected_error_replies",
        &crate::command::replication::replica_apply::unexpected_errors(),
    );
    out.line("total_error_replies", &info.server.total(|s| &s.errors));
    out.line("total_reads_processed", &info.server.total(|s| &s.reads));
    out.line("total_writes_processed", &info.server.total(|s| &s.writes));
    // No I/O threads: every thread reads and writes its own clients.
    out.line("io_threaded_reads_processed", &0);
    out.line("io_threaded_writes_processed", &0);
}

/// Role, IDs, offsets and backlog, from the replication module; the backlog size as set.
fn replication(info: &Snapshot, out: &mut Lines) {
    let mut lines = Vec::new();
    match super::replication::replica::is_replica() {
        true => out.line("role", &"slave"),
        false => out.line("role", &"master"),
    }
    super::replication::replica::info(info.server, &mut lines);
    super::replication::master::info(&mut lines);
    for (field, value) in &lines {
        out.line(field, value);
    }
    out.line(
        "repl_backlog_size",
        &info.server.config().int("repl-backlog-size"),
    );
    let (first, histlen) = super::replication::master::backlog_span();
    out.line("repl_backlog_first_byte_offset", &first);
    out.line("repl_backlog_histlen", &histlen);
}

/// CPU seconds of the process.
fn cpu(_: &Snapshot, out: &mut Lines) {
    let (user, sys) = cpu_times();
    out.line("used_cpu_sys", &format!("{sys:.6}"));
    out.line("used_cpu_user", &format!("{user:.6}"));
    out.line("used_cpu_sys_children", &"0.000000");
    out.line("used_cpu_user_children", &"0.000000");
}

fn cluster(_: &Snapshot, out: &mut Lines) {
    out.line("cluster_enabled", &u8::from(crate::cluster::enabled()))
}

/// Error replies per error code, summed over threads.
fn errorstats(info: &Snapshot, out: &mut Lines) {
    let codes = crate::state::ThreadStats::error_totals(&info.server.stats);
    for (code, n) in codes {
        out.line(&format!("errorstat_{code}"), &format!("count={n}"));
    }
}

/// Keys and keys with a TTL per non-empty database.
fn keyspace(info: &Snapshot, out: &mut Lines) {
    let dbs = info.shards.first().map_or(0, |(_, sizes)| sizes.len());
    for db in 0..dbs {
        let (keys, expires) = info.shards.iter().fold((0, 0), |(k, e), (_, sizes)| {
            (k + sizes[db].0, e + sizes[db].1)
        });
        if keys > 0 {
            out.line(
                &format!("db{db}"),
                &format!("keys={keys},expires={expires},avg_ttl=0"),
            );
        }
    }
}

/// Calls, rejected and failed calls per command-table row that saw any.
fn commandstats(info: &Snapshot, out: &mut Lines) {
    for (row, spec) in super::table::STAT_ROWS.iter().copied().enumerate() {
        let sum = |pick: fn(&ThreadStats) -> &Vec<std::sync::atomic::AtomicU64>| {
            info.server
                .stats
                .iter()
                .map(|t| pick(t)[row].load(Relaxed))
                .sum::<u64>()
        };
        let calls = sum(|t| &t.calls);
        let rejected = sum(|t| &t.rejected_calls);
        let failed = sum(|t| &t.failed_calls);
        if calls + rejected > 0 {
            let usec =
                crate::state::cycles_to_us(info.server.stats.iter().map(|t| t.ticks(row)).sum())
                    as u64;
            let per_call = if calls == 0 {
                0.0
            } else {
                usec as f64 / calls as f64
            };
            out.line(
                &format!("cmdstat_{}", spec.name),
                &format!("calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}"),
            );
        }
    }
}

/// Per-command latency percentiles (latency-tracking).
fn latencystats(info: &Snapshot, out: &mut Lines) {
    super::latency::info_lines(&info.server.stats, out.0);
}

/// A section with no fields (modules): its title only.
fn nothing(_: &Snapshot, _: &mut Lines) {}

fn human(bytes: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

/// Redis's `os` field: kernel name, release and machine, as `uname -srm`.
fn os_name() -> String {
    // SAFETY: uname fills the zeroed struct we pass; its fields are NUL-terminated.
    let uts = unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut uts) != 0 {
            return std::env::consts::OS.to_string();
        }
        uts
    };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&uts.sysname),
        field(&uts.release),
        field(&uts.machine)
    )
}

/// Redis's `process_supervised`: the supervisor `supervised` resolves to.
fn supervised(info: &Snapshot) -> &'static str {
    match crate::service::supervisor(&info.server.config()) {
        crate::service::Supervisor::Systemd => "systemd",
        crate::service::Supervisor::Upstart => "upstart",
        crate::service::Supervisor::None => "no",
    }
}

/// (user, system) CPU seconds of the whole process.
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(asked: &[&str]) -> Vec<&'static str> {
        let asked: Vec<String> = asked.iter().map(|a| a.to_string()).collect();
        chosen(&asked).iter().map(|s| s.name).collect()
    }

    #[test]
    fn sections_are_chosen_as_redis_does() {
        let default = [
            "server",
            "clients",
            "memory",
            "persistence",
            "stats",
            "replication",
            "cpu",
            "modules",
            "errorstats",
            "cluster",
            "keyspace",
        ];
        assert_eq!(names(&[]), default);
        assert_eq!(names(&["default"]), default);
        let all = names(&["everything"]);
        assert_eq!(all[..11], default);
        assert_eq!(all[11..], ["commandstats", "latencystats"]);
        // Named order, each once, unknown names skipped.
        assert_eq!(
            names(&["keyspace", "nosuch", "server", "keyspace"]),
            ["keyspace", "server"]
        );
        assert_eq!(
            names(&["commandstats", "all"])[..2],
            ["commandstats", "server"]
        );
        assert_eq!(names(&["nosuch"]), Vec::<&str>::new());
    }
}
