//! ringkv as the replica of a real redis-server 7.0.15: full resync (both snapshot framings),
//! the command stream, READONLY, ROLE and INFO, a partial resync after the link drops,
//! REPLICAOF NO ONE, and expiry left to the master.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{eventually, info_field, query, RedisServer, Server};
use redis::Value;

const SETTLE: Duration = Duration::from_secs(20);

/// A master that serves a replica at once (no diskless delay).
fn master(diskless: bool) -> RedisServer {
    RedisServer::start_with(&[
        "--repl-diskless-sync",
        if diskless { "yes" } else { "no" },
        "--repl-diskless-sync-delay",
        "0",
    ])
}

pub(crate) fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .expect("connect")
}

fn run(con: &mut redis::Connection, line: &str) -> Value {
    let args: Vec<String> = common::words(line)
        .into_iter()
        .map(|w| String::from_utf8(w).unwrap())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    query(con, &args)
}

/// Writes of every type to the master, `tag` keeping each round's keys apart.
pub(crate) fn load(con: &mut redis::Connection, tag: &str) {
    let script = [
        "SET str:{t} hello",
        "SET num:{t} 10",
        "INCRBY num:{t} 5",
        "APPEND str:{t} -world",
        "SET ttl:{t} v EX 1000",
        "SET pttl:{t} v PX 500000",
        "RPUSH list:{t} a b c d e",
        "LPOP list:{t}",
        "LPUSH list:{t} z",
        "HSET hash:{t} f1 v1 f2 v2 f3 v3",
        "HDEL hash:{t} f2",
        "HINCRBY hash:{t} n 7",
        "SADD set:{t} a b c d",
        "SREM set:{t} b",
        "ZADD zset:{t} 1 one 2 two 3 three 2.5 twohalf",
        "ZINCRBY zset:{t} 10 one",
        "XADD stream:{t} * f v",
        "XADD stream:{t} * f w g x",
        "XGROUP CREATE stream:{t} grp 0",
        "EXPIRE hash:{t} 5000",
        "MULTI",
        "SET tx1:{t} a",
        "INCR tx2:{t}",
        "RPUSH list:{t} tx",
        "EXEC",
        "EVAL \"redis.call('set', KEYS[1], ARGV[1]); return redis.call('incr', KEYS[2])\" 2 ev1:{t} ev2:{t} x",
        "SELECT 2",
        "SET db2:{t} two",
        "SADD db2set:{t} m",
        "SELECT 0",
        "SET gone:{t} x",
        "DEL gone:{t}",
        "MSET m1:{t} 1 m2:{t} 2 m3:{t} 3",
        "RENAME m3:{t} m4:{t}",
    ];
    for line in script {
        let line = line.replace("{t}", tag);
        run(con, &line);
    }
}

/// Every key of databases 0 and 2 with its type, content and absolute expiry.
pub(crate) fn snapshot(port: u16) -> BTreeMap<(u8, String), String> {
    let mut con = connect(port);
    let mut out = BTreeMap::new();
    for db in [0u8, 2] {
        query(&mut con, &["SELECT", &db.to_string()]);
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut con).unwrap();
            let content = match kind.as_str() {
                "string" => format!("{:?}", query(&mut con, &["GET", &key])),
                "list" => format!("{:?}", query(&mut con, &["LRANGE", &key, "0", "-1"])),
                "hash" => {
                    let mut pairs: Vec<(String, String)> =
                        redis::cmd("HGETALL").arg(&key).query(&mut con).unwrap();
                    pairs.sort();
                    format!("{pairs:?}")
                }
                "set" => {
                    let mut members: Vec<String> =
                        redis::cmd("SMEMBERS").arg(&key).query(&mut con).unwrap();
                    members.sort();
                    format!("{members:?}")
                }
                "zset" => format!(
                    "{:?}",
                    query(&mut con, &["ZRANGE", &key, "0", "-1", "WITHSCORES"])
                ),
                "stream" => format!(
                    "{:?} {:?}",
                    query(&mut con, &["XRANGE", &key, "-", "+"]),
                    query(&mut con, &["XINFO", "GROUPS", &key])
                ),
                other => other.to_string(),
            };
            let expiry = query(&mut con, &["PEXPIRETIME", &key]);
            out.insert((db, key), format!("{kind} {content} {expiry:?}"));
        }
    }
    out
}

/// Waits until the replica holds what the master holds; panics with the difference.
pub(crate) fn assert_same(master: u16, replica: u16, backend: &str, when: &str) {
    let same = eventually(SETTLE, || snapshot(master) == snapshot(replica));
    if !same {
        let (m, r) = (snapshot(master), snapshot(replica));
        let differ: Vec<_> = m
            .iter()
            .filter(|(k, v)| r.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k:?}: master {v} replica {:?}", r.get(k)))
            .chain(
                r.keys()
                    .filter(|k| !m.contains_key(*k))
                    .map(|k| format!("{k:?} only on the replica")),
            )
            .collect();
        panic!("[{backend}] {when}: replica differs from master: {differ:#?}");
    }
}

pub(crate) fn info(con: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(con).unwrap()
}

pub(crate) fn link_up(port: u16) -> bool {
    info(&mut connect(port), "replication").contains("master_link_status:up")
}

#[test]
fn replica_of_redis_full_then_partial_resync() {
    for backend in common::backends() {
        for diskless in [true, false] {
            let redis = master(diskless);
            let mut m = connect(redis.port);
            load(&mut m, "before");
            let replica = Server::start(
                2,
                backend,
                &["--replicaof", "127.0.0.1", &redis.port.to_string()],
            );
            assert!(
                eventually(SETTLE, || link_up(replica.port)),
                "[{backend}] link never came up"
            );
            assert_same(redis.port, replica.port, backend, "after the full resync");
            load(&mut m, "after");
            assert_same(redis.port, replica.port, backend, "after the stream");

            let mut r = replica.redis();
            // Writes are refused; reads are served.
            let mut raw = replica.raw();
            raw.cmd(&[b"SET", b"x", b"1"]);
            assert_eq!(
                raw.reply(),
                b"-READONLY You can't write against a read only replica.\r\n"
            );
            raw.cmd(&[b"MULTI"]);
            assert_eq!(raw.reply(), b"+OK\r\n");
            raw.cmd(&[b"INCR", b"num:before"]);
            assert_eq!(
                raw.reply(),
                b"-READONLY You can't write against a read only replica.\r\n"
            );
            raw.cmd(&[b"EXEC"]);
            assert_eq!(
                raw.reply(),
                b"-EXECABORT Transaction discarded because of previous errors.\r\n"
            );
            let got: String = redis::cmd("GET").arg("str:before").query(&mut r).unwrap();
            assert_eq!(got, "hello-world");

            // ROLE and INFO as a replica.
            let role = query(&mut r, &["ROLE"]);
            let Value::Array(items) = role else {
                panic!("ROLE: {role:?}")
            };
            assert_eq!(items.len(), 5);
            assert_eq!(items[0], Value::BulkString(b"slave".to_vec()));
            assert_eq!(items[1], Value::BulkString(b"127.0.0.1".to_vec()));
            assert_eq!(items[2], Value::Int(i64::from(redis.port)));
            assert_eq!(items[3], Value::BulkString(b"connected".to_vec()));
            assert!(matches!(items[4], Value::Int(n) if n > 0), "{items:?}");
            let text = info(&mut r, "replication");
            for line in ["role:slave", "master_host:127.0.0.1", "slave_read_only:1"] {
                assert!(text.contains(line), "[{backend}] {line} missing: {text}");
            }
            // The offsets meet the master's once the stream is applied.
            assert!(
                eventually(SETTLE, || {
                    let theirs = info_field(&info(&mut m, "replication"), "master_repl_offset");
                    let ours = info_field(&info(&mut r, "replication"), "slave_repl_offset");
                    theirs.is_some() && theirs == ours
                }),
                "[{backend}] offsets never met"
            );
            // The master sees the replica acknowledge its offset.
            assert!(
                eventually(SETTLE, || {
                    let text = info(&mut m, "replication");
                    let offset = info_field(&text, "master_repl_offset").unwrap_or(0);
                    text.contains(&format!("state=online,offset={offset},"))
                }),
                "[{backend}] the master never saw our ACK"
            );

            // The master drops the link; what it writes meanwhile comes by a partial resync.
            let killed: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("replica")
                .query(&mut m)
                .unwrap();
            assert_eq!(killed, 1);
            load(&mut m, "during");
            assert!(eventually(SETTLE, || link_up(replica.port)));
            assert_same(
                redis.port,
                replica.port,
                backend,
                "after the partial resync",
            );
            let stats = info(&mut m, "stats");
            assert_eq!(info_field(&stats, "sync_partial_ok"), Some(1), "{stats}");
            assert_eq!(info_field(&stats, "sync_full"), Some(1), "{stats}");

            // The replica drops it (CLIENT KILL TYPE master): another partial resync.
            let mut raw = replica.raw();
            raw.cmd(&[b"CLIENT", b"LIST", b"TYPE", b"master"]);
            let listed = String::from_utf8_lossy(&raw.reply()).into_owned();
            assert!(
                listed.contains(&format!("addr=127.0.0.1:{} ", redis.port)),
                "[{backend}] {listed}"
            );
            raw.cmd(&[b"CLIENT", b"KILL", b"TYPE", b"master"]);
            assert_eq!(raw.reply(), b":1\r\n");
            load(&mut m, "again");
            assert!(eventually(SETTLE, || {
                info_field(&info(&mut m, "stats"), "sync_partial_ok") == Some(2)
            }));
            assert!(eventually(SETTLE, || link_up(replica.port)));
            assert_same(
                redis.port,
                replica.port,
                backend,
                "after the second partial resync",
            );
            assert_eq!(info_field(&info(&mut m, "stats"), "sync_full"), Some(1));

            // Promoted: the data stays and writes are taken.
            let before = snapshot(replica.port);
            assert_eq!(query(&mut r, &["REPLICAOF", "NO", "ONE"]), Value::Okay);
            assert_eq!(snapshot(replica.port), before);
            assert_eq!(query(&mut r, &["SET", "x", "1"]), Value::Okay);
            let role = query(&mut r, &["ROLE"]);
            let Value::Array(items) = role else {
                panic!("ROLE: {role:?}")
            };
            assert_eq!(items[0], Value::BulkString(b"master".to_vec()));
            assert!(info(&mut r, "replication").contains("role:master"));
        }
    }
}

#[test]
fn replicaof_command_replaces_the_dataset_and_answers_as_redis() {
    for backend in common::backends() {
        let redis = master(true);
        let mut m = connect(redis.port);
        load(&mut m, "m");
        let replica = Server::start(2, backend, &[]);
        let mut r = replica.redis();
        query(&mut r, &["SET", "mine", "1"]);
        let mut raw = replica.raw();
        raw.cmd(&[b"REPLICAOF", b"127.0.0.1", b"notaport"]);
        assert_eq!(raw.reply(), b"-ERR Invalid master port\r\n");
        raw.cmd(&[b"REPLICAOF", b"127.0.0.1", b"70000"]);
        assert_eq!(raw.reply(), b"-ERR Invalid master port\r\n");
        let port = redis.port.to_string();
        raw.cmd(&[b"REPLICAOF", b"127.0.0.1", port.as_bytes()]);
        assert_eq!(raw.reply(), b"+OK\r\n");
        raw.cmd(&[b"SLAVEOF", b"127.0.0.1", port.as_bytes()]);
        assert_eq!(
            raw.reply(),
            b"+OK Already connected to specified master\r\n"
        );
        assert!(eventually(SETTLE, || link_up(replica.port)));
        assert_same(redis.port, replica.port, backend, "after REPLICAOF");
        let mine: Option<String> = redis::cmd("GET").arg("mine").query(&mut r).unwrap();
        assert_eq!(mine, None, "[{backend}] the full resync keeps no old key");
        raw.cmd(&[b"HELLO", b"3"]);
        let hello = raw.reply();
        assert!(
            String::from_utf8_lossy(&hello).contains("role\r\n$7\r\nreplica"),
            "{hello:?}"
        );
        let shown = format!("127.0.0.1 {port}");
        raw.cmd(&[b"CONFIG", b"GET", b"replicaof"]);
        assert_eq!(
            raw.reply(),
            format!("%1\r\n$9\r\nreplicaof\r\n${}\r\n{shown}\r\n", shown.len()).into_bytes()
        );
        raw.cmd(&[b"REPLICAOF", b"NO", b"ONE"]);
        assert_eq!(raw.reply(), b"+OK\r\n");
        raw.cmd(&[b"CONFIG", b"GET", b"replicaof"]);
        assert_eq!(raw.reply(), b"%1\r\n$9\r\nreplicaof\r\n$0\r\n\r\n");
        raw.cmd(&[b"REPLICAOF", b"no", b"one"]);
        assert_eq!(raw.reply(), b"+OK\r\n");
    }
}

#[test]
fn replica_leaves_expiry_to_its_master() {
    for backend in common::backends() {
        let redis = RedisServer::start_with(&[
            "--repl-diskless-sync-delay",
            "0",
            "--enable-debug-command",
            "yes",
        ]);
        let mut m = connect(redis.port);
        // A dump left in the oracle's directory by an earlier run on the same port is gone.
        query(&mut m, &["FLUSHALL"]);
        // The master keeps its expired key until someone touches it.
        query(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        let replica = Server::start(
            2,
            backend,
            &["--replicaof", "127.0.0.1", &redis.port.to_string()],
        );
        assert!(eventually(SETTLE, || link_up(replica.port)));
        query(&mut m, &["SET", "short", "v", "PX", "300"]);
        query(&mut m, &["SET", "long", "v"]);
        let mut r = replica.redis();
        assert!(eventually(SETTLE, || {
            query(&mut r, &["EXISTS", "long"]) == Value::Int(1)
        }));
        // Expired by the clock: read as missing on the replica, but still held.
        assert!(eventually(SETTLE, || {
            query(&mut r, &["GET", "short"]) == Value::Nil
        }));
        assert_eq!(query(&mut r, &["DBSIZE"]), Value::Int(2));
        // The master's lazy expiry propagates a DEL, which removes it.
        assert_eq!(query(&mut m, &["GET", "short"]), Value::Nil);
        assert!(
            eventually(SETTLE, || query(&mut r, &["DBSIZE"]) == Value::Int(1)),
            "[{backend}] the master's DEL did not remove the expired key"
        );
    }
}

#[test]
fn stale_replica_refuses_as_redis() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let args = [
        "--replicaof",
        "127.0.0.1",
        &dead,
        "--replica-serve-stale-data",
        "no",
    ];
    // Started as a master: a stale replica answers even PING with MASTERDOWN, and PING is
    // how the harness sees redis-server ready.
    let redis = RedisServer::start();
    let mut setup = connect(redis.port);
    query(
        &mut setup,
        &["CONFIG", "SET", "replica-serve-stale-data", "no"],
    );
    query(&mut setup, &["REPLICAOF", "127.0.0.1", &dead]);
    let commands: &[&[&[u8]]] = &[
        &[b"GET", b"k"],
        &[b"SET", b"k", b"v"],
        &[b"PING"],
        &[b"DBSIZE"],
        &[b"CONFIG", b"GET", b"replica-serve-stale-data"],
        &[b"MULTI"],
        &[b"GET", b"k"],
        &[b"EXEC"],
        &[b"CONFIG", b"SET", b"replica-serve-stale-data", b"yes"],
        &[b"GET", b"k"],
        &[b"CONFIG", b"SET", b"replica-read-only", b"no"],
        &[b"SET", b"k", b"v"],
        &[b"GET", b"k"],
    ];
    let theirs = ask(redis.port, commands);
    for backend in common::backends() {
        let ours = Server::start(2, backend, &args);
        assert_eq!(ask(ours.port, commands), theirs, "[{backend}]");
    }
}

/// The replies to `commands`, sent one by one on a new connection to `port`.
fn ask(port: u16, commands: &[&[&[u8]]]) -> Vec<String> {
    let mut raw = common::Raw::connect(port);
    commands
        .iter()
        .map(|c| {
            raw.cmd(c);
            String::from_utf8_lossy(&raw.reply()).into_owned()
        })
        .collect()
}

/// What a replica answers while it loads a full resync with `repl-diskless-load swapdb`:
/// first from a master with another history (the old data is gone: -LOADING, INFO loading:1,
/// and back when the transfer is cut off), then from the same history after its backlog
/// was overrun (the old data is served, async_loading:1, REPLICAOF and deny-loading configs
/// refused). The master is redis-server slowed by `rdb-key-save-delay`; ringkv's replies are
/// compared with a redis-server replica's.
#[test]
fn loading_a_full_resync_answers_as_redis() {
    let blocking: &[&[&[u8]]] = &[
        &[b"GET", b"mykey"],
        &[b"DBSIZE"],
        &[b"CONFIG", b"SET", b"appendonly", b"no"],
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
        &[b"REPLICAOF", b"NO", b"ONE"],
        &[b"PING"],
    ];
    let during_async: &[&[&[u8]]] = &[
        &[b"GET", b"mykey"],
        &[b"STRLEN", b"key:7"],
        &[b"DBSIZE"],
        &[b"CONFIG", b"SET", b"appendonly", b"no"],
        &[b"REPLICAOF", b"NO", b"ONE"],
        &[b"PING"],
    ];
    let persistence = |port: u16, field: &str| {
        let mut raw = common::Raw::connect(port);
        raw.cmd(&[b"INFO", b"persistence"]);
        info_field(&String::from_utf8_lossy(&raw.reply()), field).unwrap_or(99)
    };
    let transcript = |replica_port: u16| -> Vec<String> {
        let master = master(true);
        let mut m = connect(master.port);
        // Values of 100 KB: redis-server's snapshot reaches its replica in pieces of its
        // pipe's buffer, and the replica answers while it loads once per
        // `loading-process-events-interval-bytes` read.
        let value = "v".repeat(100_000);
        for i in 0..100 {
            run(&mut m, &format!("SET key:{i} {value}"));
        }
        run(&mut m, "CONFIG SET rdb-key-save-delay 50000");
        let mut r = connect(replica_port);
        run(&mut r, "CONFIG SET repl-diskless-load swapdb");
        run(
            &mut r,
            "CONFIG SET loading-process-events-interval-bytes 1024",
        );
        run(&mut r, "SET mykey myvalue");
        run(&mut r, &format!("REPLICAOF 127.0.0.1 {}", master.port));
        let mut out = Vec::new();
        assert!(eventually(SETTLE, || persistence(replica_port, "loading") == 1));
        out.push(format!(
            "async_loading:{}",
            persistence(replica_port, "async_loading")
        ));
        out.extend(ask(replica_port, blocking));
        // The transfer is cut off: the old data is back.
        run(&mut m, "CONFIG SET repl-diskless-sync-delay 5");
        run(&mut m, "CLIENT KILL TYPE replica");
        assert!(eventually(SETTLE, || persistence(replica_port, "loading") == 0));
        out.extend(ask(replica_port, &[&[b"GET", b"mykey"], &[b"DBSIZE"]]));
        // A sync that completes: the master's data replaces it.
        run(&mut m, "CONFIG SET rdb-key-save-delay 0");
        run(&mut m, "CONFIG SET repl-diskless-sync-delay 0");
        assert!(eventually(SETTLE, || {
            let mut raw = common::Raw::connect(replica_port);
            raw.cmd(&[b"DBSIZE"]);
            raw.reply() == b":100\r\n"
        }));
        // Same history, the backlog overrun while the link is down: a full resync served
        // from the old data.
        run(&mut r, "CONFIG SET replica-read-only no");
        run(&mut r, "SET mykey myvalue");
        run(&mut m, "CONFIG SET rdb-key-save-delay 50000");
        run(&mut m, "MULTI");
        run(&mut m, "CLIENT KILL TYPE replica");
        run(&mut m, "CONFIG SET repl-backlog-size 16384");
        let big = "A".repeat(16384);
        for i in 0..10 {
            run(&mut m, &format!("SET big:{i} {big}"));
        }
        run(&mut m, "EXEC");
        assert!(eventually(SETTLE, || persistence(
            replica_port,
            "async_loading"
        ) == 1));
        out.push(format!("loading:{}", persistence(replica_port, "loading")));
        out.extend(ask(replica_port, during_async));
        run(&mut m, "CONFIG SET rdb-key-save-delay 0");
        run(&mut m, "CLIENT KILL TYPE replica");
        assert!(eventually(SETTLE, || {
            let mut raw = common::Raw::connect(replica_port);
            raw.cmd(&[b"DBSIZE"]);
            raw.reply() == b":110\r\n"
        }));
        out.extend(ask(replica_port, &[&[b"GET", b"mykey"]]));
        out
    };
    let redis = RedisServer::start();
    let expected = transcript(redis.port);
    let refused = expected
        .iter()
        .filter(|r| r.starts_with("-LOADING"))
        .count();
    assert_eq!(refused, 7, "the oracle's replies: {expected:?}");
    for backend in common::backends() {
        let ringkv = Server::start(2, backend, &[]);
        assert_eq!(transcript(ringkv.port), expected, "[{backend}]");
    }
}
