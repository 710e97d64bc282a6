//! The Prometheus endpoint (`metrics-port`) and INFO's sampled figures: a scrape over a plain
//! TcpStream, parsed, must show what the commands just run did (calls, errors, latency,
//! keyspace, memory, per-thread load and mail); INFO's instantaneous rates and allocator
//! memory follow the traffic and the data.

use crate::common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{backends, eventually, info_field, Server};

/// A port nobody listens on now (bound and released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// GETs `path`; returns the status line and the body.
fn get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    let status = head.lines().next().unwrap_or_default().to_string();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse::<usize>().ok())
        .expect("Content-Length");
    assert_eq!(length, body.len(), "Content-Length matches the body");
    (status, body.to_string())
}

/// Samples of a scrape: `name{labels}` → value (labels as printed).
fn scrape(port: u16) -> HashMap<String, f64> {
    let (status, body) = get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, name: &str) -> f64 {
    *samples
        .get(name)
        .unwrap_or_else(|| panic!("no sample {name}"))
}

#[test]
fn a_scrape_shows_what_commands_did() {
    for backend in backends() {
        let metrics = free_port();
        let server = Server::start(
            2,
            backend,
            &["--metrics-port", &metrics.to_string(), "--maxmemory", "1gb"],
        );
        let mut con = server.redis();
        // Keys on both shards: the other shard's writes travel by mail.
        for i in 0..100 {
            let _: () = redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg("v")
                .query(&mut con)
                .unwrap();
        }
        let _: () = redis::cmd("SET")
            .arg("ttl")
            .arg("v")
            .arg("EX")
            .arg(1000)
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
        let _: () = redis::cmd("SET").arg("x").arg("y").query(&mut con).unwrap();
        let _: Option<String> = redis::cmd("GET").arg("nokey").query(&mut con).unwrap();
        let failed: redis::RedisResult<i64> = redis::cmd("INCR").arg("x").query(&mut con);
        assert!(failed.is_err());
        let rejected: redis::RedisResult<()> = redis::cmd("GET").query(&mut con);
        assert!(rejected.is_err());

        // Shards publish their keyspace on their maintenance tick (10 times a second).
        let mut samples = HashMap::new();
        let published = eventually(Duration::from_secs(10), || {
            samples = scrape(metrics);
            samples.get("ringkv_keyspace_keys{db=\"0\"}") == Some(&101.0)
                && samples.get("ringkv_keyspace_keys{db=\"3\"}") == Some(&1.0)
        });
        assert!(
            published,
            "{backend}: keyspace never published: {samples:?}"
        );
        let s = &samples;
        assert_eq!(value(s, "ringkv_keyspace_expires{db=\"0\"}"), 1.0);
        assert_eq!(value(s, "ringkv_keyspace_expires{db=\"3\"}"), 0.0);
        assert!(!s.contains_key("ringkv_keyspace_keys{db=\"1\"}"));
        assert_eq!(value(s, "ringkv_command_calls_total{cmd=\"set\"}"), 102.0);
        assert_eq!(value(s, "ringkv_command_calls_total{cmd=\"incr\"}"), 1.0);
        assert_eq!(
            value(s, "ringkv_command_failed_calls_total{cmd=\"incr\"}"),
            1.0
        );
        assert_eq!(
            value(s, "ringkv_command_rejected_calls_total{cmd=\"get\"}"),
            1.0
        );
        assert_eq!(value(s, "ringkv_error_replies_total{code=\"ERR\"}"), 2.0);
        assert_eq!(value(s, "ringkv_keyspace_misses_total"), 1.0);
        // The latency histogram: every SET in the +Inf bucket, cumulative buckets.
        let set = |le: &str| {
            value(
                s,
                &format!("ringkv_command_duration_seconds_bucket{{le=\"{le}\",cmd=\"set\"}}"),
            )
        };
        assert_eq!(set("+Inf"), 102.0);
        assert_eq!(
            value(s, "ringkv_command_duration_seconds_count{cmd=\"set\"}"),
            102.0
        );
        assert!(set("0.000001") <= set("0.001024") && set("0.001024") <= set("+Inf"));
        assert!(value(s, "ringkv_command_duration_seconds_sum{cmd=\"set\"}") > 0.0);
        // Clients, memory, persistence, replication.
        assert!(value(s, "ringkv_connected_clients") >= 1.0);
        assert_eq!(value(s, "ringkv_blocked_clients"), 0.0);
        assert_eq!(value(s, "ringkv_memory_max_bytes"), (1u64 << 30) as f64);
        let used = value(s, "ringkv_memory_used_bytes");
        assert!(used > 0.0 && value(s, "ringkv_memory_peak_bytes") >= used);
        assert!(value(s, "ringkv_memory_rss_bytes") > 0.0);
        assert!(value(s, "ringkv_memory_dataset_bytes") > 0.0);
        assert_eq!(value(s, "ringkv_rdb_changes_since_last_save"), 102.0);
        assert_eq!(value(s, "ringkv_rdb_last_bgsave_ok"), 1.0);
        assert_eq!(value(s, "ringkv_aof_enabled"), 0.0);
        assert_eq!(value(s, "ringkv_replication_role{role=\"master\"}"), 1.0);
        assert_eq!(value(s, "ringkv_replication_role{role=\"slave\"}"), 0.0);
        assert_eq!(value(s, "ringkv_connected_replicas"), 0.0);
        assert_eq!(value(s, "ringkv_evicted_keys_total"), 0.0);
        // Per-thread load sums to the total; half the SETs went to the other shard by mail.
        let threads = |name: &str| {
            value(s, &format!("{name}{{thread=\"0\"}}"))
                + value(s, &format!("{name}{{thread=\"1\"}}"))
        };
        let commands = value(s, "ringkv_commands_processed_total");
        assert_eq!(threads("ringkv_thread_commands_total"), commands);
        // 102 SETs, SELECT, GET, INCR (the refused GET may or may not count).
        assert!(commands >= 105.0, "{commands}");
        assert!(threads("ringkv_mailbox_jobs_run_total") >= 20.0);
        assert!(threads("ringkv_mailbox_messages_sent_total") >= 20.0);
        let received = threads("ringkv_mailbox_messages_received_total");
        assert!(received >= 20.0 && received <= threads("ringkv_mailbox_messages_sent_total"));
        // Expiry shows up too.
        let _: () = redis::cmd("SET")
            .arg("short")
            .arg("v")
            .arg("PX")
            .arg(1)
            .query(&mut con)
            .unwrap();
        assert!(
            eventually(Duration::from_secs(10), || {
                scrape(metrics).get("ringkv_expired_keys_total") == Some(&1.0)
            }),
            "{backend}: expired key not counted"
        );
        // Anything but GET /metrics.
        assert_eq!(get(metrics, "/").0, "HTTP/1.1 404 Not Found");
    }
}

#[test]
fn metrics_port_is_off_by_default_and_fixed_at_start() {
    let server = Server::start(1, "epoll", &[]);
    let mut con = server.redis();
    let port: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("metrics-port")
        .query(&mut con)
        .unwrap();
    assert_eq!(port, ["metrics-port", "0"]);
    let set: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("metrics-port")
        .arg("9121")
        .query(&mut con);
    let err = set.unwrap_err().to_string();
    assert!(err.contains("can't set immutable config"), "{err}");
}

#[test]
fn a_metrics_port_in_use_stops_the_start() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["--port", "0", "--save", "", "--metrics-port", &port])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("could not bind metrics"), "{log}");
}

#[test]
fn info_rates_and_memory_follow_traffic_and_data() {
    let server = Server::start(2, "uring", &[]);
    let mut con = server.redis();
    let info = |con: &mut redis::Connection| -> String { redis::cmd("INFO").query(con).unwrap() };
    let before = info(&mut con);
    let used0 = info_field(&before, "used_memory").unwrap();
    // 20 MB of values: the allocator's count grows by as much, the peak with it.
    let value = vec![b'x'; 20_000];
    for i in 0..1000 {
        let _: () = redis::cmd("SET")
            .arg(format!("big{i}"))
            .arg(&value)
            .query(&mut con)
            .unwrap();
    }
    let after = info(&mut con);
    let used1 = info_field(&after, "used_memory").unwrap();
    assert!(used1 >= used0 + 20_000_000, "{used0} -> {used1}");
    assert!(info_field(&after, "used_memory_peak").unwrap() >= used1);
    assert!(info_field(&after, "used_memory_rss").unwrap() >= 20_000_000);
    assert!(info_field(&after, "used_memory_dataset").unwrap() >= 20_000_000);
    assert!(info_field(&after, "total_system_memory").unwrap() > used1);
    let replid = after
        .lines()
        .find_map(|l| l.strip_prefix("master_replid:"))
        .unwrap();
    assert_eq!(replid.trim().len(), 40);
    assert!(after.contains(&format!("master_replid2:{}\r\n", "0".repeat(40))));
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    // Blocks freed by another thread than the one that allocated them count as used until
    // their page's owner collects them (on its next allocations there).
    let mut flushed = String::new();
    let freed = eventually(Duration::from_secs(10), || {
        flushed = info(&mut con);
        info_field(&flushed, "used_memory").unwrap() + 15_000_000 < used1
    });
    assert!(freed, "{used1} before FLUSHALL, after: {flushed}");
    assert!(info_field(&flushed, "used_memory_peak").unwrap() >= used1);

    // A steady stream of PINGs shows up in the sampled rate (16 samples of 100 ms).
    let mut busy = server.redis();
    let busy_rate = eventually(Duration::from_secs(20), || {
        let mut pipe = redis::pipe();
        for _ in 0..200 {
            pipe.cmd("PING").ignore();
        }
        let _: () = pipe.query(&mut busy).unwrap();
        let text = info(&mut con);
        info_field(&text, "instantaneous_ops_per_sec").unwrap_or(0) > 100
            && text.contains("instantaneous_input_kbps:")
            && !text.contains("instantaneous_input_kbps:0.00")
    });
    assert!(busy_rate, "instantaneous rates stayed at zero");
    // Idle again, the rates fall back to zero once the 16 samples roll over.
    drop(busy);
    let idle = eventually(Duration::from_secs(20), || {
        let text = info(&mut con);
        // This INFO call is itself a command: at most a few a second.
        info_field(&text, "instantaneous_ops_per_sec").unwrap_or(u64::MAX) < 100
    });
    assert!(idle, "instantaneous_ops_per_sec never fell back");
}
