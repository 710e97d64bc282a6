//! ringkv as a master, redis-server 7.0 as its replica: the full resync (both transfer forms),
//! the stream after it, WAIT, and a partial resync after the replica's link is killed.

use crate::common;

use common::{
    backends, eventually, info_field, query as cmd, RedisServer, Server, KEY_SHARD0, KEY_SHARD1,
};
use redis::{Connection, Value};
use std::time::{Duration, Instant};

const SYNC_WITHIN: Duration = Duration::from_secs(20);

fn text(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(n) => n.to_string(),
        Value::BulkString(d) => String::from_utf8_lossy(d).into_owned(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(text).collect();
            format!("[{}]", parts.join(","))
        }
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        other => format!("{other:?}"),
    }
}

fn info(con: &mut Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(con).unwrap()
}

/// Every key of `db` with its type and content, sorted; TTLs as present or not.
fn content(con: &mut Connection, db: usize) -> Vec<String> {
    cmd(con, &["SELECT", &db.to_string()]);
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let Value::Array(reply) = cmd(con, &["SCAN", &cursor, "COUNT", "1000"]) else {
            panic!("SCAN reply");
        };
        cursor = text(&reply[0]);
        if let Value::Array(found) = &reply[1] {
            keys.extend(found.iter().map(text));
        }
        if cursor == "0" {
            break;
        }
    }
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let kind = text(&cmd(con, &["TYPE", &key]));
        let value = match kind.as_str() {
            "string" => text(&cmd(con, &["GET", &key])),
            "list" => text(&cmd(con, &["LRANGE", &key, "0", "-1"])),
            "hash" => sorted(cmd(con, &["HGETALL", &key]), 2),
            "set" => sorted(cmd(con, &["SMEMBERS", &key]), 1),
            "zset" => text(&cmd(con, &["ZRANGE", &key, "0", "-1", "WITHSCORES"])),
            "stream" => text(&cmd(con, &["XRANGE", &key, "-", "+"])),
            // Expired between SCAN and TYPE.
            "none" => continue,
            other => panic!("unexpected type {other}"),
        };
        let ttl = match cmd(con, &["PTTL", &key]) {
            Value::Int(-1) => "persistent",
            _ => "volatile",
        };
        out.push(format!("{key} {kind} {ttl} {value}"));
    }
    out
}

/// A reply's items in groups of `n`, sorted (hash and set order differ between servers).
fn sorted(v: Value, n: usize) -> String {
    let Value::Array(items) = v else {
        return text(&v);
    };
    let mut groups: Vec<String> = items
        .chunks(n)
        .map(|c| c.iter().map(text).collect::<Vec<_>>().join("="))
        .collect();
    groups.sort();
    groups.join(",")
}

/// Master and replica hold the same keys in databases 0 and 1.
fn same_content(master: &mut Connection, replica: &mut Connection) -> bool {
    (0..2).all(|db| {
        let m = content(master, db);
        !m.is_empty() && m == content(replica, db)
    })
}

fn assert_same(master: &mut Connection, replica: &mut Connection) {
    let ok = eventually(SYNC_WITHIN, || same_content(master, replica));
    if !ok {
        for db in 0..2 {
            let (m, r) = (content(master, db), content(replica, db));
            for line in m.iter().filter(|l| !r.contains(l)) {
                eprintln!("db {db} master only: {line}");
            }
            for line in r.iter().filter(|l| !m.contains(l)) {
                eprintln!("db {db} replica only: {line}");
            }
        }
        panic!("master and replica differ");
    }
}

/// Writes of every type, `tag` naming this round's keys.
fn load(con: &mut Connection, tag: &str) {
    let k = |name: &str| format!("{tag}:{name}");
    cmd(con, &["SELECT", "0"]);
    cmd(con, &["SET", &k("s"), "hello"]);
    cmd(con, &["SET", &k("ttl"), "v", "EX", "1000"]);
    cmd(con, &["SET", &k("gone"), "v"]);
    cmd(con, &["EXPIRE", &k("gone"), "1000"]);
    cmd(con, &["PERSIST", &k("gone")]);
    cmd(con, &["INCRBYFLOAT", &k("f"), "1.25"]);
    cmd(con, &["INCRBYFLOAT", &k("f"), "0.1"]);
    cmd(con, &["RPUSH", &k("l"), "a", "b", "c", "d"]);
    cmd(con, &["LPOP", &k("l")]);
    cmd(con, &["HSET", &k("h"), "f1", "v1", "f2", "v2"]);
    cmd(con, &["SADD", &k("set"), "a", "b", "c", "d", "e"]);
    cmd(con, &["SPOP", &k("set")]);
    cmd(con, &["SPOP", &k("set"), "2"]);
    cmd(con, &["ZADD", &k("z"), "1.5", "a", "2", "b", "-3", "c"]);
    cmd(con, &["ZINCRBY", &k("z"), "2", "a"]);
    cmd(con, &["XADD", &k("x"), "*", "f", "v"]);
    cmd(con, &["XADD", &k("x"), "*", "g", "w"]);
    cmd(con, &["XGROUP", "CREATE", &k("x"), "grp", "0"]);
    cmd(con, &["SET", &k("short"), "v", "PX", "30"]);
    // Cross-shard transaction and a script.
    let (a, b) = (format!("{KEY_SHARD0}{tag}"), format!("{KEY_SHARD1}{tag}"));
    let _: () = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(&a)
        .arg("1")
        .cmd("INCR")
        .arg(&a)
        .cmd("SET")
        .arg(&b)
        .arg("2")
        .query(con)
        .unwrap();
    cmd(
        con,
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[1])",
            "1",
            &k("lua"),
            "41",
        ],
    );
    cmd(con, &["SELECT", "1"]);
    cmd(con, &["SET", &k("db1"), "one"]);
    cmd(con, &["RPUSH", &k("db1l"), "x"]);
    cmd(con, &["SELECT", "0"]);
}

/// A BLPOP served by a push from another connection.
fn served_blpop(server: &Server, tag: &str) {
    let key = format!("{tag}:q");
    let waiter = {
        let mut con = server.redis();
        let key = key.clone();
        std::thread::spawn(move || cmd(&mut con, &["BLPOP", &key, "10"]))
    };
    let mut con = server.redis();
    let blocked = eventually(SYNC_WITHIN, || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        list.contains("cmd=blpop")
    });
    assert!(blocked, "BLPOP never blocked");
    cmd(&mut con, &["RPUSH", &key, "first", "second"]);
    let got = waiter.join().unwrap();
    assert_eq!(text(&got), format!("[{key},first]"));
}

fn start_replica(master: &Server, extra: &[&str]) -> RedisServer {
    let port = master.port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(extra);
    RedisServer::start_with(&args)
}

fn connect(port: u16) -> Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn link_up(replica: &mut Connection) -> bool {
    info(replica, "replication").contains("master_link_status:up")
}

#[test]
fn a_redis_replica_gets_the_same_content() {
    for backend in backends() {
        for diskless in ["yes", "no"] {
            let server = Server::start(2, backend, &["--repl-diskless-sync", diskless]);
            let mut master = server.redis();
            load(&mut master, "before");
            let redis = start_replica(&server, &[]);
            let mut replica = connect(redis.port);
            assert!(
                eventually(SYNC_WITHIN, || link_up(&mut replica)),
                "{backend}: link never up"
            );
            load(&mut master, "after");
            served_blpop(&server, "after");
            // Expired on the master, the short keys reach the replica as DEL.
            assert!(eventually(SYNC_WITHIN, || {
                cmd(&mut master, &["EXISTS", "before:short", "after:short"]) == Value::Int(0)
            }));
            assert_same(&mut master, &mut replica);
            let sizes = |c: &mut Connection| {
                cmd(c, &["SELECT", "0"]);
                cmd(c, &["DBSIZE"])
            };
            assert!(
                eventually(SYNC_WITHIN, || sizes(&mut master) == sizes(&mut replica)),
                "{backend}: expired keys still on the replica"
            );
            let stats = info(&mut master, "all");
            assert_eq!(info_field(&stats, "sync_full"), Some(1), "{backend}");
            assert_eq!(info_field(&stats, "connected_slaves"), Some(1), "{backend}");
            assert!(
                stats.contains("slave0:ip=127.0.0.1,port="),
                "{backend}: {stats}"
            );
            assert_eq!(info_field(&stats, "repl_backlog_active"), Some(1));
            let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut master).unwrap();
            assert!(list.contains("flags=S"), "{backend}: {list}");
            let replicas: String = redis::cmd("CLIENT")
                .arg("LIST")
                .arg("TYPE")
                .arg("replica")
                .query(&mut master)
                .unwrap();
            assert_eq!(replicas.lines().count(), 1, "{backend}: {replicas}");
            assert!(replicas.contains("cmd=psync"), "{backend}: {replicas}");
        }
    }
}

#[test]
fn wait_counts_the_replica_that_acknowledged() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut master = server.redis();
        assert_eq!(cmd(&mut master, &["WAIT", "0", "0"]), Value::Int(0));
        assert_eq!(cmd(&mut master, &["WAIT", "1", "50"]), Value::Int(0));
        let redis = start_replica(&server, &[]);
        let mut replica = connect(redis.port);
        assert!(eventually(SYNC_WITHIN, || link_up(&mut replica)));
        for i in 0..100 {
            cmd(&mut master, &["SET", &format!("k{i}"), &i.to_string()]);
        }
        assert_eq!(cmd(&mut master, &["WAIT", "1", "0"]), Value::Int(1));
        // Everything before WAIT is on the replica when it returns.
        assert_eq!(
            cmd(&mut replica, &["GET", "k99"]),
            Value::BulkString(b"99".to_vec())
        );
        assert_eq!(cmd(&mut master, &["WAIT", "2", "100"]), Value::Int(1));
    }
}

#[test]
fn a_killed_replica_link_resumes_partially() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut master = server.redis();
        load(&mut master, "before");
        let redis = start_replica(&server, &[]);
        let mut replica = connect(redis.port);
        assert!(eventually(SYNC_WITHIN, || link_up(&mut replica)));
        assert_same(&mut master, &mut replica);
        let killed = cmd(&mut master, &["CLIENT", "KILL", "TYPE", "replica"]);
        assert_eq!(killed, Value::Int(1), "{backend}");
        load(&mut master, "after");
        assert!(eventually(SYNC_WITHIN, || {
            info_field(&info(&mut master, "stats"), "sync_partial_ok") == Some(1)
        }));
        assert_same(&mut master, &mut replica);
        let stats = info(&mut master, "stats");
        assert_eq!(info_field(&stats, "sync_full"), Some(1), "{backend}");
        assert_eq!(info_field(&stats, "sync_partial_err"), Some(0), "{backend}");
    }
}

#[test]
fn writes_need_the_good_replicas_asked_for() {
    for backend in backends() {
        let server = Server::start(1, backend, &["--min-replicas-to-write", "1"]);
        let mut master = server.redis();
        let refused: redis::RedisResult<Value> =
            redis::cmd("SET").arg("a").arg("1").query(&mut master);
        let e = refused.unwrap_err();
        assert_eq!(e.code(), Some("NOREPLICAS"), "{backend}: {e:?}");
        let redis = start_replica(&server, &[]);
        let mut replica = connect(redis.port);
        assert!(eventually(SYNC_WITHIN, || link_up(&mut replica)));
        assert!(eventually(SYNC_WITHIN, || {
            redis::cmd("SET")
                .arg("a")
                .arg("1")
                .query::<Value>(&mut master)
                .is_ok()
        }));
        assert!(eventually(SYNC_WITHIN, || cmd(&mut replica, &["GET", "a"])
            == Value::BulkString(b"1".to_vec())));
    }
}

#[test]
fn replication_keeps_the_stream_when_the_aof_is_turned_off() {
    for backend in backends() {
        let dir = common::TempDir::new(&format!("repl-aof-{backend}"));
        let server = Server::start(2, backend, &["--appendonly", "yes", "--dir", dir.path()]);
        let mut master = server.redis();
        load(&mut master, "before");
        let redis = start_replica(&server, &[]);
        let mut replica = connect(redis.port);
        assert!(eventually(SYNC_WITHIN, || link_up(&mut replica)));
        cmd(&mut master, &["CONFIG", "SET", "appendonly", "no"]);
        load(&mut master, "after");
        assert_same(&mut master, &mut replica);
    }
}

#[test]
fn the_backlog_is_freed_after_its_ttl_without_replicas() {
    for backend in backends() {
        let server = Server::start(1, backend, &["--repl-backlog-ttl", "1"]);
        let mut master = server.redis();
        cmd(&mut master, &["SET", "a", "1"]);
        let backlog =
            |m: &mut Connection| info_field(&info(m, "replication"), "repl_backlog_active");
        assert_eq!(backlog(&mut master), Some(0));
        let redis = start_replica(&server, &[]);
        let mut replica = connect(redis.port);
        assert!(eventually(SYNC_WITHIN, || link_up(&mut replica)));
        let replid = info(&mut master, "replication");
        assert_eq!(backlog(&mut master), Some(1));
        drop(replica);
        drop(redis);
        assert!(
            eventually(SYNC_WITHIN, || backlog(&mut master) == Some(0)),
            "{backend}: backlog kept"
        );
        let id = |text: &str| {
            text.lines()
                .find(|l| l.starts_with("master_replid:"))
                .map(str::to_string)
        };
        assert_ne!(
            id(&replid),
            id(&info(&mut master, "replication")),
            "{backend}: same history"
        );
        // Writes go on without a consumer of the stream.
        cmd(&mut master, &["SET", "b", "2"]);
        assert_eq!(
            cmd(&mut master, &["GET", "b"]),
            Value::BulkString(b"2".to_vec())
        );
    }
}

/// The replica's view of its link: ROLE's fourth element (connect, handshake, sync,
/// connected...).
fn link_state(replica: &mut Connection) -> String {
    match cmd(replica, &["ROLE"]) {
        Value::Array(items) => items.get(3).map(text).unwrap_or_default(),
        other => text(&other),
    }
}

#[test]
fn a_diskless_transfer_waits_for_more_replicas_as_redis() {
    for backend in backends() {
        // One replica: nothing happens before the delay (the replica waits in its handshake,
        // kept alive by newlines), then the transfer starts.
        let server = Server::start(2, backend, &["--repl-diskless-sync-delay", "3"]);
        let mut master = server.redis();
        cmd(&mut master, &["SET", "a", "1"]);
        let started = Instant::now();
        let redis = start_replica(&server, &["--repl-timeout", "2"]);
        let mut replica = connect(redis.port);
        assert!(eventually(SYNC_WITHIN, || link_state(&mut replica) == "handshake"));
        std::thread::sleep(Duration::from_millis(2200));
        // Past the replica's repl-timeout: the newlines kept the link.
        assert_eq!(link_state(&mut replica), "handshake", "{backend}");
        assert!(
            eventually(SYNC_WITHIN, || link_up(&mut replica)),
            "{backend}"
        );
        assert!(started.elapsed() >= Duration::from_secs(3), "{backend}");
        assert_eq!(
            cmd(&mut replica, &["GET", "a"]),
            Value::BulkString(b"1".to_vec())
        );
        drop(replica);
        drop(redis);
        // Enough replicas waiting start at once, long before the delay.
        let server = Server::start(
            2,
            backend,
            &[
                "--repl-diskless-sync-delay",
                "60",
                "--repl-diskless-sync-max-replicas",
                "2",
            ],
        );
        let mut master = server.redis();
        cmd(&mut master, &["SET", "b", "2"]);
        let first = start_replica(&server, &[]);
        let mut one = connect(first.port);
        assert!(eventually(SYNC_WITHIN, || link_state(&mut one) == "handshake"));
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(link_state(&mut one), "handshake", "{backend}");
        let second = start_replica(&server, &[]);
        let mut two = connect(second.port);
        assert!(
            eventually(SYNC_WITHIN, || link_up(&mut one) && link_up(&mut two)),
            "{backend}"
        );
        let full = info_field(&info(&mut master, "stats"), "sync_full");
        assert_eq!(full, Some(2), "{backend}");
    }
}

#[test]
fn a_cross_shard_move_and_flushall_reach_the_stream_as_redis_writes_them() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        // A replica of the old protocol: SYNC, the RDB, then the stream as written.
        let mut stream = common::Raw::connect(server.port);
        stream.send(b"SYNC\r\n");
        let _ = stream
            .stream
            .set_read_timeout(Some(Duration::from_millis(200)));
        let mut received = Vec::new();
        let mut read_more = |received: &mut Vec<u8>| {
            let mut chunk = [0u8; 65536];
            if let Ok(n) = std::io::Read::read(&mut stream.stream, &mut chunk) {
                received.extend_from_slice(&chunk[..n]);
            }
        };
        // The RDB payload, then what follows it.
        assert!(eventually(SYNC_WITHIN, || {
            read_more(&mut received);
            !received.is_empty()
        }));
        let mut client = server.raw();
        // "a" and "b" live on different shards; the transaction keeps them held together.
        for command in [
            &[&b"SELECT"[..], b"9"][..],
            &[b"RPUSH", b"a", b"x", b"y"],
            &[b"LMOVE", b"a", b"b", b"LEFT", b"RIGHT"],
            &[b"RPOPLPUSH", b"a", b"b"],
            &[b"FLUSHALL"],
        ] {
            client.cmd(command);
            client.reply();
        }
        let expected: &[&[&[u8]]] = &[
            &[b"SELECT", b"9"],
            &[b"RPUSH", b"a", b"x", b"y"],
            &[b"LMOVE", b"a", b"b", b"LEFT", b"RIGHT"],
            &[b"RPOPLPUSH", b"a", b"b"],
            &[b"FLUSHALL"],
        ];
        let wanted: Vec<u8> = expected.iter().flat_map(|c| common::encode(c)).collect();
        // Keepalive PINGs may come in between.
        let stream_part = |received: &[u8]| {
            let at = received
                .windows(4)
                .position(|w| w == b"*2\r\n")
                .unwrap_or(received.len());
            let mut text = received[at..].to_vec();
            let ping = b"*1\r\n$4\r\nPING\r\n";
            while let Some(p) = text.windows(ping.len()).position(|w| w == ping) {
                text.drain(p..p + ping.len());
            }
            text
        };
        let complete = eventually(SYNC_WITHIN, || {
            read_more(&mut received);
            stream_part(&received).len() >= wanted.len()
        });
        assert!(
            complete,
            "{backend}: {:?}",
            String::from_utf8_lossy(&received)
        );
        assert_eq!(
            String::from_utf8_lossy(&stream_part(&received)),
            String::from_utf8_lossy(&wanted),
            "{backend}"
        );
    }
}

/// Sends `signal` (STOP or CONT) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal} {pid}");
}

/// Resumes a stopped replica however the test ends.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

/// A replica that stops reading (SIGSTOP) makes its master hold the stream for it: INFO
/// memory shows it as `mem_clients_slaves` and eviction does not count it
/// (`mem_not_counted_for_evict`), as in Redis, so the master keeps accepting writes under
/// `noeviction` with a limit a little above its data; killing the replica frees it.
#[test]
fn a_stopped_replica_s_buffer_is_not_counted_for_eviction() {
    let master = Server::start(2, "uring", &[]);
    let replica = Server::start(2, "uring", &[]);
    let mut m = master.redis();
    for j in 0..100 {
        cmd(&mut m, &["SETRANGE", &format!("key:{j}"), "100000", "asdf"]);
    }
    cmd(
        &mut m,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 0 0 0",
        ],
    );
    cmd(&mut m, &["CONFIG", "SET", "repl-backlog-size", "16384"]);
    let mut r = replica.redis();
    cmd(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
    );
    assert!(eventually(SYNC_WITHIN, || info(&mut r, "replication")
        .contains("master_link_status:up")));
    let memory = info(&mut m, "memory");
    let field = |info: &str, name: &str| info_field(info, name).unwrap();
    let counted = field(&memory, "used_memory") - field(&memory, "mem_not_counted_for_evict");
    let limit = (counted + 4 * 1024 * 1024).to_string();
    cmd(&mut m, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    cmd(&mut m, &["CONFIG", "SET", "maxmemory", &limit]);
    signal(replica.pid(), "STOP");
    let _resume = Resume(replica.pid());
    // About 30 MB of stream, seven times the room the limit leaves: the stopped replica's
    // socket buffers absorb several MB of it (up to ~6 MB on loopback), the rest stays here.
    let payload = "A".repeat(500);
    for _ in 0..50 {
        let mut pipe = redis::pipe();
        for _ in 0..1000 {
            pipe.cmd("SETRANGE").arg("key:0").arg(0).arg(&payload);
        }
        let replies: Result<Vec<i64>, _> = pipe.query(&mut m);
        assert!(
            replies.is_ok(),
            "refused for the replica's buffer: {replies:?}"
        );
    }
    let memory = info(&mut m, "memory");
    let slaves = field(&memory, "mem_clients_slaves");
    assert!(slaves > 4 * 1024 * 1024, "{memory}");
    assert!(
        field(&memory, "mem_not_counted_for_evict") >= slaves,
        "{memory}"
    );
    // One buffer for the backlog and the replica: what the replica holds beyond the
    // backlog's size is its part.
    let total = field(&memory, "mem_total_replication_buffers");
    let backlog = field(&memory, "mem_replication_backlog");
    assert_eq!(backlog, 16384, "{memory}");
    assert_eq!(total, slaves + backlog, "{memory}");
    assert_eq!(text(&cmd(&mut m, &["DBSIZE"])), "100");
    cmd(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert!(eventually(Duration::from_secs(10), || {
        info_field(&info(&mut m, "memory"), "mem_clients_slaves") == Some(0)
    }));
}

/// A replica's link carries no replies: a command on it that answers (PING, or a keyspace
/// command, refused first) closes the link with Redis's log lines, and PSYNC with an offset
/// that is no number is refused and logged, as redis-server 7.0 does.
#[test]
fn a_command_that_answers_on_a_replica_link_closes_it() {
    let dir = common::TempDir::new("replica-link-replies");
    let logfile = format!("{}/ringkv.log", dir.path());
    let server = Server::start_logging(2, "uring", &[], &logfile);
    let log = || std::fs::read_to_string(&logfile).unwrap_or_default();
    for (sync, command, name) in [
        (&b"SYNC\r\n"[..], &b"PING\r\n"[..], "ping"),
        (b"PSYNC replicationid -1\r\n", b"GET foo\r\n", "get"),
        (b"SYNC\r\n", b"XINFO HELP\r\n", "xinfo|help"),
    ] {
        let mut link = common::Raw::connect(server.port);
        link.send(sync);
        // The snapshot (after +FULLRESYNC) first; SYNC's has no line end after it.
        let mut first = [0u8; 256];
        let got = std::io::Read::read(&mut link.stream, &mut first).expect("the snapshot");
        assert!(got > 0);
        link.send(command);
        let line = format!("Replica generated a reply to command '{name}', disconnecting it: id=");
        assert!(
            eventually(Duration::from_secs(10), || log().contains(&line)),
            "{name}"
        );
        let mut rest = Vec::new();
        link.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = std::io::Read::read_to_end(&mut link.stream, &mut rest);
        assert!(
            !String::from_utf8_lossy(&rest).contains("PONG"),
            "no reply on the link"
        );
    }
    assert!(log().contains(
        "== CRITICAL == This master is sending an error to its replica: 'Replica can't interact with the keyspace' after processing the command 'get'"
    ));
    let mut raw = server.raw();
    raw.cmd(&[b"PSYNC", b"replicationid", b"offset_str"]);
    assert_eq!(
        raw.reply(),
        b"-ERR value is not an integer or out of range\r\n"
    );
    assert!(log().contains("asks for synchronization but with a wrong offset"));
    raw.cmd(&[b"PING"]);
    assert_eq!(raw.reply(), b"+PONG\r\n");
}
