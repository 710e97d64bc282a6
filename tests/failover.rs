//! FAILOVER as Redis 7.0 runs it, with redis-server 7.0.15 on the other side: a ringkv master
//! hands over to its redis replica (writes paused, the replica caught up, PSYNC ... FAILOVER,
//! a partial resync, no acknowledged write lost); the wait, its timeout, FORCE and ABORT; and
//! a redis master handing over to a ringkv replica.

use crate::common;

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, info_field, reply_text as text, RedisServer, Server};
use redis::{Connection, Value};

const WITHIN: Duration = Duration::from_secs(20);
const READONLY: &str = "READONLY You can't write against a read only replica.";

fn connect(port: u16) -> Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let con = client.get_connection().expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    con
}

fn run(port: u16, args: &[&str]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut connect(port))
}

fn error_text(e: &redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
}

fn info(port: u16, section: &str) -> String {
    text(&run(port, &["INFO", section]).unwrap())
}

fn failover_state(port: u16) -> String {
    info(port, "replication")
        .lines()
        .find_map(|l| l.strip_prefix("master_failover_state:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn role(port: u16) -> Vec<String> {
    match run(port, &["ROLE"]) {
        Ok(Value::Array(items)) => items.iter().map(text).collect(),
        _ => Vec::new(),
    }
}

fn is_replica_of(port: u16, master: u16) -> bool {
    let r = role(port);
    r.len() >= 4 && r[0] == "slave" && r[2] == master.to_string() && r[3] == "connected"
}

fn is_master(port: u16) -> bool {
    role(port).first().is_some_and(|r| r == "master")
}

fn redis_replica_of(port: u16) -> RedisServer {
    let replica = RedisServer::start_with(&[
        "--replicaof",
        "127.0.0.1",
        &port.to_string(),
        "--repl-diskless-sync-delay",
        "0",
    ]);
    assert!(
        eventually(WITHIN, || is_replica_of(replica.port, port)),
        "the redis replica did not link"
    );
    replica
}

#[test]
fn failover_hands_over_to_a_redis_replica_without_losing_a_write() {
    for backend in common::backends() {
        let ringkv = Server::start(2, backend, &[]);
        let replica = redis_replica_of(ringkv.port);
        // A client writing all along: every INCR acknowledged must be on the new master,
        // and the first refused one is refused as a replica refuses it.
        let acked = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (acked, stop, port) = (acked.clone(), stop.clone(), ringkv.port);
            std::thread::spawn(move || {
                let mut con = connect(port);
                while !stop.load(SeqCst) {
                    match redis::cmd("INCR").arg("counter").query::<i64>(&mut con) {
                        Ok(n) => acked.store(n, SeqCst),
                        Err(e) => return Some(error_text(&e)),
                    }
                }
                None
            })
        };
        assert!(eventually(WITHIN, || acked.load(SeqCst) >= 200));
        let target = ["TO", "127.0.0.1", &replica.port.to_string()];
        let mut args = vec!["FAILOVER"];
        args.extend_from_slice(&target);
        args.extend_from_slice(&["TIMEOUT", "10000"]);
        assert_eq!(text(&run(ringkv.port, &args).unwrap()), "OK");
        let handed_over = eventually(WITHIN, || {
            is_replica_of(ringkv.port, replica.port) && is_master(replica.port)
        });
        stop.store(true, SeqCst);
        let refused = writer.join().unwrap();
        assert!(handed_over, "{backend}: ROLE {:?}", role(ringkv.port));
        assert_eq!(refused.as_deref(), Some(READONLY), "{backend}");
        let last = acked.load(SeqCst);
        let on_new = text(&run(replica.port, &["GET", "counter"]).unwrap());
        assert_eq!(
            on_new,
            last.to_string(),
            "{backend}: acknowledged writes lost"
        );
        assert_eq!(failover_state(ringkv.port), "no-failover");
        // The old master continued the history it handed over: no full resync.
        let stats = info(replica.port, "stats");
        assert_eq!(info_field(&stats, "sync_partial_ok"), Some(1), "{backend}");
        assert_eq!(info_field(&stats, "sync_full"), Some(0), "{backend}");
        // The new master's writes reach ringkv.
        assert_eq!(
            text(&run(replica.port, &["INCR", "counter"]).unwrap()),
            (last + 1).to_string()
        );
        assert!(eventually(WITHIN, || {
            run(ringkv.port, &["GET", "counter"]).is_ok_and(|v| text(&v) == (last + 1).to_string())
        }));
    }
}

/// A replica that never acknowledges: it asks for a full resync and reads nothing after.
fn silent_replica(master: u16, listening: u16) -> common::Raw {
    let mut raw = common::Raw::connect(master);
    let port = listening.to_string();
    raw.cmd(&[b"REPLCONF", b"listening-port", port.as_bytes()]);
    assert_eq!(raw.reply(), b"+OK\r\n");
    raw.cmd(&[b"PSYNC", b"?", b"-1"]);
    assert!(raw.reply().starts_with(b"+FULLRESYNC"));
    raw
}

fn replica_online(master: u16) -> bool {
    info(master, "replication").contains("state=online")
}

#[test]
fn failover_waits_for_the_target_times_out_and_aborts() {
    for backend in common::backends() {
        let ringkv = Server::start(2, backend, &[]);
        let port = ringkv.port;
        let expect_err = |args: &[&str], want: &str| {
            let e = run(port, args).expect_err(&format!("{args:?} succeeded"));
            assert_eq!(error_text(&e), want, "{backend}: {args:?}");
        };
        expect_err(&["FAILOVER"], "ERR FAILOVER requires connected replicas.");
        // Nothing listens on the port the replica announces: a forced handover never links.
        let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let _replica = silent_replica(port, nowhere);
        assert!(eventually(WITHIN, || replica_online(port)));
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query(&mut connect(port))
            .unwrap();
        let to = nowhere.to_string();
        expect_err(
            &["FAILOVER", "TO", "127.0.0.1", "1"],
            "ERR FAILOVER target HOST and PORT is not a replica.",
        );
        expect_err(
            &["FAILOVER", "TO", "127.0.0.1", &to, "FORCE"],
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );

        // Waiting: writes are held, REPLICAOF, SYNC and a second FAILOVER refused.
        let ok = run(
            port,
            &["FAILOVER", "TO", "127.0.0.1", &to, "TIMEOUT", "60000"],
        )
        .unwrap();
        assert_eq!(text(&ok), "OK");
        assert_eq!(failover_state(port), "waiting-for-sync");
        let mut held = ringkv.raw();
        held.cmd(&[b"SET", b"held", b"1"]);
        assert!(eventually(WITHIN, || {
            info_field(&info(port, "clients"), "blocked_clients") == Some(1)
        }));
        expect_err(&["FAILOVER"], "ERR FAILOVER already in progress.");
        expect_err(
            &["REPLICAOF", "127.0.0.1", &to],
            "ERR REPLICAOF not allowed while failing over.",
        );
        expect_err(
            &["PSYNC", "?", "-1"],
            "NOMASTERLINK Can't SYNC while failing over",
        );
        // CLIENT UNPAUSE ends CLIENT PAUSE's pause, not the failover's (Redis's purposes).
        assert_eq!(text(&run(port, &["CLIENT", "UNPAUSE"]).unwrap()), "OK");
        std::thread::sleep(Duration::from_millis(100));
        let blocked = info_field(&info(port, "clients"), "blocked_clients");
        assert_eq!(blocked, Some(1), "{backend}");
        assert_eq!(text(&run(port, &["FAILOVER", "ABORT"]).unwrap()), "OK");
        assert_eq!(held.reply(), b"+OK\r\n");
        assert_eq!(failover_state(port), "no-failover");
        expect_err(&["FAILOVER", "ABORT"], "ERR No failover in progress.");

        // And a failover's end does not end a CLIENT PAUSE.
        let paused = run(port, &["CLIENT", "PAUSE", "60000", "WRITE"]).unwrap();
        assert_eq!(text(&paused), "OK");
        let ok = run(
            port,
            &["FAILOVER", "TO", "127.0.0.1", &to, "TIMEOUT", "100"],
        )
        .unwrap();
        assert_eq!(text(&ok), "OK");
        assert!(eventually(WITHIN, || failover_state(port) == "no-failover"));
        held.cmd(&[b"SET", b"held", b"2"]);
        assert!(eventually(WITHIN, || {
            info_field(&info(port, "clients"), "blocked_clients") == Some(1)
        }));
        assert_eq!(text(&run(port, &["CLIENT", "UNPAUSE"]).unwrap()), "OK");
        assert_eq!(held.reply(), b"+OK\r\n");

        // A timeout without FORCE gives up and stays master.
        let ok = run(
            port,
            &["FAILOVER", "TO", "127.0.0.1", &to, "TIMEOUT", "200"],
        )
        .unwrap();
        assert_eq!(text(&ok), "OK");
        assert!(eventually(WITHIN, || failover_state(port) == "no-failover"));
        assert!(is_master(port));
        assert_eq!(text(&run(port, &["SET", "after", "1"]).unwrap()), "OK");

        // With FORCE it follows the target anyway, until aborted.
        let args = [
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &to,
            "TIMEOUT",
            "200",
            "FORCE",
        ];
        assert_eq!(text(&run(port, &args).unwrap()), "OK");
        assert!(eventually(WITHIN, || {
            failover_state(port) == "failover-in-progress"
                && role(port).first().is_some_and(|r| r == "slave")
        }));
        assert_eq!(text(&run(port, &["FAILOVER", "ABORT"]).unwrap()), "OK");
        assert_eq!(failover_state(port), "no-failover");
        assert!(is_master(port));
        assert_eq!(text(&run(port, &["SET", "after", "2"]).unwrap()), "OK");
    }
}

#[test]
fn a_redis_master_hands_over_to_a_ringkv_replica() {
    for backend in common::backends() {
        let master = RedisServer::start_with(&["--repl-diskless-sync-delay", "0"]);
        let mport = master.port.to_string();
        let ringkv = Server::start(2, backend, &["--replicaof", "127.0.0.1", &mport]);
        // FAILOVER TO wants the target online on the master's side, which after a diskless
        // transfer follows the replica's first ACK.
        assert!(eventually(WITHIN, || {
            is_replica_of(ringkv.port, master.port) && replica_online(master.port)
        }));
        for i in 0..100 {
            let _: () = redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(i)
                .query(&mut connect(master.port))
                .unwrap();
        }
        // A request naming another history is refused, as Redis refuses it.
        let e = run(ringkv.port, &["PSYNC", &"0".repeat(40), "1", "FAILOVER"]).unwrap_err();
        assert_eq!(
            error_text(&e),
            "ERR PSYNC FAILOVER replid must match my replid."
        );
        let to = ringkv.port.to_string();
        let ok = run(master.port, &["FAILOVER", "TO", "127.0.0.1", &to]).unwrap();
        assert_eq!(text(&ok), "OK");
        let handed_over = eventually(WITHIN, || {
            is_master(ringkv.port)
                && is_replica_of(master.port, ringkv.port)
                && failover_state(master.port) == "no-failover"
        });
        assert!(handed_over, "{backend}: ROLE {:?}", role(master.port));
        for i in 0..100 {
            let v = run(master.port, &["GET", &format!("k{i}")]).unwrap();
            assert_eq!(text(&v), i.to_string(), "{backend}");
        }
        assert_eq!(text(&run(ringkv.port, &["SET", "new", "1"]).unwrap()), "OK");
        assert!(eventually(WITHIN, || {
            run(master.port, &["GET", "new"]).is_ok_and(|v| text(&v) == "1")
        }));
    }
}
