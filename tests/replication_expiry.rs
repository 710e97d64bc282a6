//! Expiry across a replication link, as Redis 7.0 splits it: a writable replica expires the
//! keys its own clients gave a TTL, never its master's; the master's commands still find a
//! key the replica's clock has expired; a master restarted from its RDB tells the replicas
//! continuing from its offset which keys it dropped as expired. And a replica's errors to its
//! master's commands are logged and counted (DEBUG REPLICATE makes one).

use crate::common;
use crate::replication_replica::{connect, info, link_up};

use std::time::{Duration, Instant};

use common::{eventually, info_field, query, RedisServer, Server};
use redis::Value;

const SETTLE: Duration = Duration::from_secs(20);

fn offset(port: u16) -> Option<u64> {
    info_field(
        &info(&mut connect(port), "replication"),
        "master_repl_offset",
    )
}

fn in_sync(master: u16, replica: u16) -> bool {
    eventually(SETTLE, || offset(master) == offset(replica))
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// A ringkv master whose keys expire only when touched, and a ringkv replica linked to it
/// (both with DEBUG enabled).
fn pair_without_active_expiry(backend: &str) -> (Server, Server) {
    let debug = ["--enable-debug-command", "yes"];
    let master = Server::start(2, backend, &debug);
    query(&mut master.redis(), &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let port = master.port.to_string();
    let replica = Server::start(
        2,
        backend,
        &[&debug[..], &["--replicaof", "127.0.0.1", &port]].concat(),
    );
    assert!(eventually(SETTLE, || link_up(replica.port)));
    (master, replica)
}

#[test]
fn a_writable_replica_expires_its_own_keys_but_not_its_masters() {
    for backend in common::backends() {
        let (master, replica) = pair_without_active_expiry(backend);
        let mut m = master.redis();
        query(&mut m, &["SET", "theirs", "v", "PX", "100"]);
        assert!(in_sync(master.port, replica.port));
        let mut r = replica.redis();
        query(&mut r, &["CONFIG", "SET", "replica-read-only", "no"]);
        // Given a TTL by SET and by PEXPIRE, in two databases and on both shards.
        for (db, key) in [("0", "own-a"), ("0", "own-b{x}"), ("3", "own-c")] {
            query(&mut r, &["SELECT", db]);
            assert_eq!(query(&mut r, &["SET", key, "1", "PX", "100"]), Value::Okay);
        }
        query(&mut r, &["SELECT", "0"]);
        query(&mut r, &["SET", "own-d", "1"]);
        assert_eq!(query(&mut r, &["PEXPIRE", "own-d", "100"]), Value::Int(1));
        query(&mut r, &["SET", "kept", "1"]);
        let dbsize = |r: &mut redis::Connection, db: &str| {
            query(r, &["SELECT", db]);
            query(r, &["DBSIZE"])
        };
        // Active expiry removes the replica's own keys; the master's expired one stays
        // (read as missing) until the master deletes it.
        let gone = eventually(SETTLE, || {
            dbsize(&mut r, "0") == Value::Int(2) && dbsize(&mut r, "3") == Value::Int(0)
        });
        assert!(gone, "[{backend}] the replica's own keys did not expire");
        query(&mut r, &["SELECT", "0"]);
        assert_eq!(query(&mut r, &["EXISTS", "theirs", "kept"]), Value::Int(1));
        let replica_info = info(&mut r, "stats");
        assert_eq!(info_field(&replica_info, "expired_keys"), Some(4));
    }
}

#[test]
fn the_masters_write_finds_a_key_the_replica_sees_expired() {
    for backend in common::backends() {
        let (master, replica) = pair_without_active_expiry(backend);
        let mut m = master.redis();
        // Retried with a longer TTL when the INCR reached the replica before the key
        // expired there (a loaded machine), as Redis's own test does.
        let mut ttl = 500u64;
        let mut found = None;
        for _ in 0..4 {
            query(&mut m, &["DEL", "k"]);
            query(&mut m, &["SET", "k", "1", "PX", &ttl.to_string()]);
            assert!(in_sync(master.port, replica.port));
            let started = Instant::now();
            signal(replica.pid(), "-STOP");
            let incr = query(&mut m, &["INCR", "k"]);
            std::thread::sleep(Duration::from_millis(ttl + 50));
            signal(replica.pid(), "-CONT");
            if incr != Value::Int(2) || started.elapsed() < Duration::from_millis(ttl) {
                ttl *= 2;
                continue;
            }
            assert!(in_sync(master.port, replica.port));
            let mut r = replica.redis();
            // Expired by the replica's clock, yet the INCR applied to it: a new key made
            // by the INCR would have no TTL and read as live.
            let exists = query(&mut r, &["EXISTS", "k"]);
            let object = redis::cmd("DEBUG")
                .arg("OBJECT")
                .arg("k")
                .query::<String>(&mut r);
            found = Some((exists, object.is_ok()));
            break;
        }
        assert_eq!(found, Some((Value::Int(0), true)), "[{backend}]");
    }
}

#[test]
fn a_restarted_master_sends_dels_for_the_keys_it_dropped_as_expired() {
    for backend in common::backends() {
        let dir = common::TempDir::new(&format!("repl-expired-restart-{backend}"));
        let args = ["--dir", dir.path(), "--enable-debug-command", "yes"];
        let master = Server::start(2, backend, &args);
        let mut m = master.redis();
        query(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        let replica =
            RedisServer::start_with(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
        assert!(eventually(SETTLE, || link_up(replica.port)));
        for j in 0..40 {
            query(&mut m, &["SELECT", &(j % 4).to_string()]);
            query(&mut m, &["SET", &format!("k{j}"), "v", "PX", "10"]);
        }
        query(&mut m, &["SELECT", "0"]);
        query(&mut m, &["SET", "live", "v"]);
        std::thread::sleep(Duration::from_millis(50));
        assert!(in_sync(master.port, replica.port));
        let before = offset(master.port).unwrap();
        let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<Value>(&mut m);
        drop(master);
        let master = Server::start(2, backend, &args);
        let mut m = master.redis();
        let persistence = info(&mut m, "persistence");
        assert_eq!(
            info_field(&persistence, "rdb_last_load_keys_expired"),
            Some(40),
            "[{backend}]"
        );
        let after = offset(master.port).unwrap();
        assert!(after > before, "[{backend}] no DEL went into the backlog");
        let mut r = connect(replica.port);
        query(
            &mut r,
            &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
        );
        assert!(eventually(SETTLE, || link_up(replica.port)));
        assert!(in_sync(master.port, replica.port), "[{backend}]");
        let stats = info(&mut m, "stats");
        assert_eq!(
            info_field(&stats, "sync_partial_ok"),
            Some(1),
            "[{backend}]"
        );
        assert_eq!(info_field(&stats, "sync_full"), Some(0), "[{backend}]");
        // The replica held the 40 expired keys; the DELs removed them.
        let total: i64 = (0..4)
            .map(|db| {
                query(&mut r, &["SELECT", &db.to_string()]);
                match query(&mut r, &["DBSIZE"]) {
                    Value::Int(n) => n,
                    other => panic!("{other:?}"),
                }
            })
            .sum();
        assert_eq!(total, 1, "[{backend}]");
    }
}

#[test]
fn an_error_answered_to_the_master_is_logged_and_counted() {
    for backend in common::backends() {
        let dir = common::TempDir::new(&format!("repl-divergence-{backend}"));
        let log = format!("{}/replica.log", dir.path());
        let master = Server::start(2, backend, &["--enable-debug-command", "yes"]);
        let mut m = master.redis();
        let replica = Server::start_logging(
            2,
            backend,
            &["--replicaof", "127.0.0.1", &master.port.to_string()],
            &log,
        );
        assert!(eventually(SETTLE, || link_up(replica.port)));
        // Something in the replica's backlog before the bad command, for the log line.
        query(&mut m, &["SET", "before", "1"]);
        assert!(in_sync(master.port, replica.port));
        assert_eq!(
            query(&mut m, &["DEBUG", "REPLICATE", "fake-command-1", "a"]),
            Value::Okay
        );
        query(&mut m, &["SET", "foo", "bar"]);
        assert!(in_sync(master.port, replica.port));
        let mut r = replica.redis();
        assert_eq!(
            query(&mut r, &["GET", "foo"]),
            Value::BulkString(b"bar".to_vec())
        );
        let stats = info(&mut r, "stats");
        assert_eq!(info_field(&stats, "unexpected_error_replies"), Some(1));
        let text = std::fs::read_to_string(&log).unwrap();
        let critical: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("== CRITICAL =="))
            .collect();
        assert_eq!(critical.len(), 1, "[{backend}] {text}");
        assert!(
            critical[0].contains(
                "This replica is sending an error to its master: 'ERR unknown command 'fake-command-1'"
            ) && critical[0].ends_with("after processing the command '<unknown>'"),
            "[{backend}] {}",
            critical[0]
        );
        // Then the tail of the backlog, as Redis's showLatestBacklog logs it (sdscatrepr).
        let latest: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("Latest backlog is: '"))
            .collect();
        assert_eq!(latest.len(), 1, "[{backend}] {text}");
        assert!(
            latest[0].ends_with("$3\\r\\nSET\\r\\n$6\\r\\nbefore\\r\\n$1\\r\\n1\\r\\n\"'"),
            "[{backend}] {}",
            latest[0]
        );
        // The master's own data never ran it.
        assert_eq!(
            info_field(&info(&mut m, "stats"), "unexpected_error_replies"),
            Some(0)
        );
    }
}
