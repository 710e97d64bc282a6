//! The Prometheus endpoint (`metrics-port`): a plain HTTP listener on its own thread that
//! answers `GET /metrics` in the OpenMetrics text format. It reads only what every thread
//! already publishes (relaxed per-thread counters, the shards' views from their maintenance
//! ticks, the inboxes' mail counts), so a scrape never waits on a shard nor slows a command.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric, NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::shard::mailbox::Inboxes;
use crate::state::{memory, ServerState};

/// Longest request head read (a scrape's is a few hundred bytes).
const MAX_REQUEST: usize = 8192;
/// How long a scraper may take to send its request: one slow client holds the others back.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bounds of the command latency buckets: 1 µs to ~1 s by powers of two.
const LATENCY_BUCKETS: usize = 21;

/// Binds the metrics listeners on every `bind` address (before the server announces itself,
/// so a port in use stops the start as Redis's own port does).
pub fn bind(config: &crate::config::Config) -> Result<Vec<TcpListener>, String> {
    let port = config.int("metrics-port") as u16;
    if port == 0 {
        return Ok(Vec::new());
    }
    let mut listeners = Vec::new();
    for (ip, optional) in super::listen::bind_addresses(config)? {
        match super::listen::single_listener(SocketAddr::new(ip, port)) {
            Ok(l) => listeners.push(l),
            Err(e) if optional => tracing::warn!("Skipping metrics on {ip}: {e}"),
            Err(e) => return Err(format!("could not bind metrics on {ip}:{port}: {e}")),
        }
    }
    Ok(listeners)
}

/// Serves each listener from a thread of its own.
pub fn serve(listeners: Vec<TcpListener>, state: Arc<ServerState>, inboxes: Inboxes) {
    let mut registry = Registry::with_prefix("ringkv");
    registry.register_collector(Box::new(Exporter { state, inboxes }));
    let registry = Arc::new(registry);
    for listener in listeners {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("metrics on http://{addr}/metrics");
        }
        let registry = registry.clone();
        let spawned = std::thread::Builder::new()
            .name("ringkv-metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let _ = answer(stream, &registry);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("metrics: could not start its thread: {e}");
        }
    }
}

/// Reads one request and answers it, then closes (no keep-alive: one scrape per connection).
fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, path) = (words.next(), words.next());
    let path = path.map(|p| p.split(|&b| b == b'?').next().unwrap_or_default());
    let (status, kind, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, registry) {
                Ok(()) => (
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    text,
                ),
                Err(_) => ("500 Internal Server Error", "text/plain", String::new()),
            }
        }
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "try /metrics\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", String::new()),
    };
    let mut reply = String::new();
    let _ = write!(
        reply,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(reply.as_bytes())?;
    stream.write_all(body.as_bytes())
}

/// Gathers the figures at each scrape.
struct Exporter {
    state: Arc<ServerState>,
    inboxes: Inboxes,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exporter")
    }
}

type Out<'a, 'b> = &'a mut DescriptorEncoder<'b>;

fn counter<V: EncodeCounterValue>(out: Out, name: &str, help: &str, v: V) -> std::fmt::Result {
    ConstCounter::new(v).encode(out.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge<V: EncodeGaugeValue>(out: Out, name: &str, help: &str, v: V) -> std::fmt::Result {
    ConstGauge::new(v).encode(out.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// One metric with a sample per value of `label`.
fn by_label<V>(
    out: Out,
    (name, help, kind): (&str, &str, MetricType),
    label: &str,
    values: impl IntoIterator<Item = (String, V)>,
) -> std::fmt::Result
where
    V: EncodeCounterValue + EncodeGaugeValue,
{
    let mut family = out.encode_descriptor(name, help, None, kind)?;
    for (value, n) in values {
        let labels = [(label, value)];
        let sample = family.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(n).encode(sample)?,
            _ => ConstGauge::new(n).encode(sample)?,
        }
    }
    Ok(())
}

impl Collector for Exporter {
    fn encode(&self, mut out: DescriptorEncoder) -> std::fmt::Result {
        let out = &mut out;
        let state = &*self.state;
        let views = state.shard_views();
        let shards = views
            .iter()
            .fold(crate::shard::ShardStats::default(), |a, v| {
                crate::shard::ShardStats {
                    keyspace_hits: a.keyspace_hits + v.stats.keyspace_hits,
                    keyspace_misses: a.keyspace_misses + v.stats.keyspace_misses,
                    expired_keys: a.expired_keys + v.stats.expired_keys,
                    evicted_keys: a.evicted_keys + v.stats.evicted_keys,
                    used_memory: a.used_memory + v.stats.used_memory,
                }
            });
        let uptime = state.started.elapsed().as_secs();
        gauge(
            out,
            "uptime_seconds",
            "Seconds since the server started",
            uptime,
        )?;
        self.commands(out)?;
        // Clients and traffic.
        let connected = state.clients.connected.load(Relaxed);
        gauge(
            out,
            "connected_clients",
            "Client connections open",
            connected,
        )?;
        let blocked = crate::shard::blocking::blocked_clients() as u64;
        gauge(
            out,
            "blocked_clients",
            "Clients waiting in a blocking command",
            blocked,
        )?;
        let total = |pick: fn(&crate::state::ThreadStats) -> &std::sync::atomic::AtomicU64| {
            state.total(pick)
        };
        let received = total(|s| &s.connections);
        counter(
            out,
            "connections_received",
            "Connections accepted",
            received,
        )?;
        let rejected = total(|s| &s.rejected_connections);
        counter(
            out,
            "rejected_connections",
            "Connections refused (maxclients, protected mode)",
            rejected,
        )?;
        counter(
            out,
            "net_input_bytes",
            "Bytes read from clients",
            total(|s| &s.net_input_bytes),
        )?;
        counter(
            out,
            "net_output_bytes",
            "Bytes written to clients",
            total(|s| &s.net_output_bytes),
        )?;
        // Memory.
        let used = memory::used_memory();
        gauge(
            out,
            "memory_used_bytes",
            "Bytes allocated (used_memory)",
            used,
        )?;
        gauge(
            out,
            "memory_rss_bytes",
            "Resident set size",
            memory::rss_bytes(),
        )?;
        gauge(
            out,
            "memory_peak_bytes",
            "Highest used_memory seen",
            memory::peak_memory(),
        )?;
        let dataset = shards.used_memory;
        gauge(
            out,
            "memory_dataset_bytes",
            "Bytes the keyspace accounts for (what maxmemory evicts against)",
            dataset,
        )?;
        let max = state.config().int("maxmemory").max(0) as u64;
        gauge(out, "memory_max_bytes", "maxmemory (0: no limit)", max)?;
        // Keyspace.
        let dbs = views.iter().map(|v| v.dbs.len()).max().unwrap_or(0);
        let per_db = |pick: fn(&(usize, usize)) -> usize| {
            (0..dbs)
                .map(|db| {
                    let n: usize = views.iter().filter_map(|v| v.dbs.get(db)).map(pick).sum();
                    (db.to_string(), n as u64)
                })
                .filter(|(_, n)| *n > 0)
                .collect::<Vec<_>>()
        };
        let keys = per_db(|d| d.0);
        let keyed: Vec<String> = keys.iter().map(|(db, _)| db.clone()).collect();
        by_label(
            out,
            ("keyspace_keys", "Keys per database", MetricType::Gauge),
            "db",
            keys,
        )?;
        // A database with keys shows its expires even when none has a TTL (as INFO's line).
        let expires = per_db(|d| d.1);
        let expires = keyed.into_iter().map(|db| {
            let n = expires.iter().find(|(d, _)| *d == db).map_or(0, |e| e.1);
            (db, n)
        });
        by_label(
            out,
            (
                "keyspace_expires",
                "Keys with a time to live per database",
                MetricType::Gauge,
            ),
            "db",
            expires,
        )?;
        counter(
            out,
            "keyspace_hits",
            "Lookups that found their key",
            shards.keyspace_hits,
        )?;
        counter(
            out,
            "keyspace_misses",
            "Lookups that found no key",
            shards.keyspace_misses,
        )?;
        counter(
            out,
            "expired_keys",
            "Keys deleted on expiry",
            shards.expired_keys,
        )?;
        counter(
            out,
            "evicted_keys",
            "Keys evicted for maxmemory",
            shards.evicted_keys,
        )?;
        self.persistence(out)?;
        // Replication, with INFO's words for the roles.
        let replica = crate::command::replication::replica::is_replica();
        by_label(
            out,
            (
                "replication_role",
                "The server's role (1 on its role's label)",
                MetricType::Gauge,
            ),
            "role",
            [
                ("master".to_string(), u64::from(!replica)),
                ("slave".to_string(), u64::from(replica)),
            ],
        )?;
        let replicas = crate::command::replication::master::replicas().len() as u64;
        gauge(out, "connected_replicas", "Replicas connected", replicas)?;
        self.threads(out)
    }
}

impl Exporter {
    /// Calls, failures, refusals and latency per command-table row that saw any.
    fn commands(&self, out: Out) -> std::fmt::Result {
        let state = &*self.state;
        let processed = state.total(|s| &s.commands);
        counter(out, "commands_processed", "Commands run", processed)?;
        let rows = crate::command::table::STAT_ROWS.iter().enumerate();
        let sum = |row: usize, pick: fn(&crate::state::ThreadStats) -> &Vec<std::sync::atomic::AtomicU64>| {
            state.stats.iter().map(|t| pick(t)[row].load(Relaxed)).sum::<u64>()
        };
        let seen: Vec<(usize, String)> = rows
            .filter(|(row, _)| sum(*row, |t| &t.calls) + sum(*row, |t| &t.rejected_calls) > 0)
            .map(|(row, spec)| (row, spec.name.to_ascii_lowercase()))
            .collect();
        let per_row = |pick| {
            seen.iter()
                .map(move |(row, name)| (name.clone(), sum(*row, pick)))
        };
        by_label(
            out,
            ("command_calls", "Calls per command", MetricType::Counter),
            "cmd",
            per_row(|t| &t.calls),
        )?;
        by_label(
            out,
            (
                "command_failed_calls",
                "Calls that ran and replied with an error",
                MetricType::Counter,
            ),
            "cmd",
            per_row(|t| &t.failed_calls),
        )?;
        by_label(
            out,
            (
                "command_rejected_calls",
                "Calls refused before running (arity, ACL, OOM...)",
                MetricType::Counter,
            ),
            "cmd",
            per_row(|t| &t.rejected_calls),
        )?;
        let mut family = out.encode_descriptor(
            "command_duration_seconds",
            "Time a call took to run (with latency-tracking on)",
            None,
            MetricType::Histogram,
        )?;
        for (row, name) in &seen {
            let (buckets, count) = latency_buckets(state, *row);
            if count == 0 {
                continue;
            }
            let secs =
                crate::state::cycles_to_us(state.stats.iter().map(|t| t.ticks(*row)).sum()) / 1e6;
            let labels = [("cmd", name.as_str())];
            family
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(secs, count, &buckets, None)?;
        }
        let codes = crate::state::ThreadStats::error_totals(&state.stats);
        by_label(
            out,
            (
                "error_replies",
                "Error replies per error code",
                MetricType::Counter,
            ),
            "code",
            codes,
        )
    }

    /// RDB saves and the AOF.
    fn persistence(&self, out: Out) -> std::fmt::Result {
        let saved = crate::command::saving::status();
        gauge(
            out,
            "rdb_changes_since_last_save",
            "Writes since the last successful save",
            saved.changes_since_save,
        )?;
        gauge(
            out,
            "rdb_last_save_timestamp_seconds",
            "Unix time of the last successful save",
            saved.last_save,
        )?;
        gauge(
            out,
            "rdb_bgsave_in_progress",
            "1 while a background save (or a replica's snapshot) runs",
            saved.rdb_in_progress() as u64,
        )?;
        gauge(
            out,
            "rdb_last_bgsave_ok",
            "1 when the last background save succeeded",
            saved.last_bgsave_ok as u64,
        )?;
        let aof = crate::command::aof::info();
        let field = |name: &str| {
            aof.iter()
                .find(|(f, _)| *f == name)
                .map(|(_, v)| v.as_str())
        };
        let flag = |name, yes| (field(name) == Some(yes)) as u64;
        gauge(
            out,
            "aof_enabled",
            "1 when appendonly is on",
            flag("aof_enabled", "1"),
        )?;
        gauge(
            out,
            "aof_rewrite_in_progress",
            "1 while an AOF rewrite runs",
            flag("aof_rewrite_in_progress", "1"),
        )?;
        gauge(
            out,
            "aof_last_write_ok",
            "1 when the last AOF write succeeded",
            flag("aof_last_write_status", "ok"),
        )?;
        gauge(
            out,
            "aof_last_bgrewrite_ok",
            "1 when the last AOF rewrite succeeded",
            flag("aof_last_bgrewrite_status", "ok"),
        )
    }

    /// What no Redis exporter sees: each thread's load and its cross-thread mail.
    fn threads(&self, out: Out) -> std::fmt::Result {
        let state = &*self.state;
        let per_thread = |n: &dyn Fn(usize) -> u64| {
            (0..state.threads)
                .map(|t| (t.to_string(), n(t)))
                .collect::<Vec<_>>()
        };
        let commands = per_thread(&|t| state.stats[t].commands.load(Relaxed));
        by_label(
            out,
            (
                "thread_commands",
                "Commands run by each thread's connections",
                MetricType::Counter,
            ),
            "thread",
            commands,
        )?;
        let clients = state.clients.clients();
        let connected = per_thread(&|t| clients.iter().filter(|c| c.thread == t).count() as u64);
        by_label(
            out,
            (
                "thread_connected_clients",
                "Client connections each thread serves",
                MetricType::Gauge,
            ),
            "thread",
            connected,
        )?;
        let traffic = |pick: fn(&crate::shard::inbox::Traffic) -> &std::sync::atomic::AtomicU64| {
            per_thread(&|t| {
                self.inboxes
                    .get(t)
                    .map_or(0, |i| pick(&i.traffic).load(Relaxed))
            })
        };
        by_label(
            out,
            (
                "mailbox_messages_sent",
                "Messages each thread sent to other threads",
                MetricType::Counter,
            ),
            "thread",
            traffic(|t| &t.sent),
        )?;
        by_label(
            out,
            (
                "mailbox_messages_received",
                "Messages each thread took from its inbox",
                MetricType::Counter,
            ),
            "thread",
            traffic(|t| &t.received),
        )?;
        by_label(
            out,
            (
                "mailbox_jobs_run",
                "Jobs from other threads each shard ran",
                MetricType::Counter,
            ),
            "thread",
            traffic(|t| &t.jobs_run),
        )
    }
}

/// A row's latency histogram summed over threads, as per-bucket counts under Prometheus
/// bounds (seconds; the last is +Inf), and the call count. A fine bucket goes under the first
/// bound at or above its own upper end, so no call is counted below its latency.
fn latency_buckets(state: &ServerState, row: usize) -> (Vec<(f64, u64)>, u64) {
    let mut bounds: Vec<(f64, u64)> = (0..LATENCY_BUCKETS)
        .map(|k| ((1u64 << k) as f64 / 1e6, 0))
        .collect();
    bounds.push((f64::INFINITY, 0));
    let mut count = 0;
    for thread in &state.stats {
        let Some(histogram) = thread.histogram(row) else {
            continue;
        };
        for (upper_ns, n) in histogram.counts().filter(|(_, n)| *n > 0) {
            let upper = upper_ns as f64 / 1e9;
            let at = bounds
                .iter()
                .position(|(b, _)| *b >= upper)
                .unwrap_or(LATENCY_BUCKETS);
            bounds[at].1 += n;
            count += n;
        }
    }
    (bounds, count)
}
