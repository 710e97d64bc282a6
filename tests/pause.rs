//! CLIENT PAUSE and UNPAUSE across threads: under WRITE, writes and may-replicate commands wait
//! while reads flow on every thread; UNPAUSE releases the waiting clients in the order they
//! came; ALL holds everything until the pause ends; expiry and eviction stop meanwhile; the
//! replies that are comparable match redis-server's.

use crate::common;

use std::time::{Duration, Instant};

use common::{
    assert_scripts_match_redis, backends, eventually, info_field, query, Raw, RedisServer, Server,
};

/// A raw connection and the thread it lives on.
fn raw_on(port: u16) -> (Raw, usize) {
    let mut raw = Raw::connect(port);
    raw.cmd(&[b"CLIENT", b"INFO"]);
    let info = String::from_utf8(raw.reply()).unwrap();
    let thread = info
        .split_whitespace()
        .find_map(|f| f.strip_prefix("io-thread="))
        .and_then(|n| n.parse().ok())
        .expect("io-thread field");
    (raw, thread)
}

fn blocked_clients(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
    info_field(&info, "blocked_clients").unwrap()
}

fn stat(con: &mut redis::Connection, name: &str) -> u64 {
    let info: String = redis::cmd("INFO").query(con).unwrap();
    info_field(&info, name).unwrap()
}

#[test]
fn write_pause_holds_writes_on_both_threads_and_releases_them_in_order() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut admin = server.redis();
        // Enough connections that both threads hold several paused clients.
        let mut clients: Vec<(Raw, usize)> = (0..12).map(|_| raw_on(server.port)).collect();
        assert!(
            clients.iter().any(|c| c.1 == 0) && clients.iter().any(|c| c.1 == 1),
            "{backend}: connections on both threads"
        );
        let _: () = redis::cmd("SET")
            .arg("seen")
            .arg("before")
            .query(&mut admin)
            .unwrap();
        query(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]);
        // Each client pipelines a read, then a write: the read is answered now, the write
        // waits. One at a time, so the order they start waiting is known.
        for (i, (raw, thread)) in clients.iter_mut().enumerate() {
            let mut batch = common::encode(&[b"GET", b"seen"]);
            let key = format!("order:{thread}");
            let value = i.to_string();
            batch.extend(common::encode(&[
                b"RPUSH",
                key.as_bytes(),
                value.as_bytes(),
            ]));
            raw.send(&batch);
            assert_eq!(raw.reply(), b"$6\r\nbefore\r\n", "{backend}");
            assert!(
                eventually(Duration::from_secs(5), || blocked_clients(&mut admin)
                    == i as u64 + 1),
                "{backend}: client {i} paused"
            );
        }
        // Reads keep flowing on both threads.
        let mut readers: Vec<(Raw, usize)> = (0..8).map(|_| raw_on(server.port)).collect();
        assert!(readers.iter().any(|r| r.1 == 0) && readers.iter().any(|r| r.1 == 1));
        for (reader, _) in &mut readers {
            reader.cmd(&[b"GET", b"seen"]);
            assert_eq!(reader.reply(), b"$6\r\nbefore\r\n", "{backend}");
        }
        let order: Vec<String> = redis::cmd("LRANGE")
            .arg("order:0")
            .arg(0)
            .arg(-1)
            .query(&mut admin)
            .unwrap();
        assert!(order.is_empty(), "{backend}: nothing written while paused");
        query(&mut admin, &["CLIENT", "UNPAUSE"]);
        for (raw, _) in clients.iter_mut() {
            let reply = String::from_utf8(raw.reply()).unwrap();
            assert!(reply.starts_with(':'), "{backend}: {reply}");
        }
        assert_eq!(blocked_clients(&mut admin), 0, "{backend}");
        // Each thread's paused clients ran in the order they started waiting.
        for thread in 0..2 {
            let expected: Vec<String> = clients
                .iter()
                .enumerate()
                .filter(|(_, c)| c.1 == thread)
                .map(|(i, _)| i.to_string())
                .collect();
            let order: Vec<String> = redis::cmd("LRANGE")
                .arg(format!("order:{thread}"))
                .arg(0)
                .arg(-1)
                .query(&mut admin)
                .unwrap();
            assert_eq!(order, expected, "{backend}: thread {thread}");
        }
    }
}

#[test]
fn write_pause_holds_may_replicate_commands_and_write_transactions_only() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut admin = server.redis();
        // A write is held even as it is queued: the transaction is queued first.
        let mut tx = server.raw();
        tx.send(b"MULTI\r\nSET k v\r\n");
        assert_eq!(tx.reply(), b"+OK\r\n");
        assert_eq!(tx.reply(), b"+QUEUED\r\n");
        query(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]);
        // Held: PUBLISH, PFCOUNT, EVAL without no-writes, EXEC of a transaction with a write.
        let mut held = Vec::new();
        for command in [
            &[&b"PUBLISH"[..], b"ch", b"msg"][..],
            &[b"PFCOUNT", b"hll"],
            &[b"EVAL", b"return 1", b"0"],
        ] {
            let mut raw = server.raw();
            raw.cmd(command);
            held.push(raw);
        }
        tx.send(b"EXEC\r\n");
        assert!(
            eventually(Duration::from_secs(5), || blocked_clients(&mut admin) == 4),
            "{backend}: four clients paused"
        );
        // Not held: reads, read-only scripts, transactions of reads, syntax errors.
        let mut free = server.raw();
        let script = b"#!lua flags=no-writes\nreturn redis.call('get','k')";
        for (command, reply) in [
            (&[&b"EVAL"[..], script, b"0"][..], &b"$-1\r\n"[..]),
            (&[b"EVAL_RO", b"return 2", b"0"], b":2\r\n"),
            (
                &[b"SET", b"k"],
                b"-ERR wrong number of arguments for 'set' command\r\n",
            ),
            (
                &[b"NOSUCH"],
                b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n",
            ),
            (&[b"MULTI"], b"+OK\r\n"),
            (&[b"GET", b"k"], b"+QUEUED\r\n"),
            (&[b"EXEC"], b"*1\r\n$-1\r\n"),
        ] {
            free.cmd(command);
            assert_eq!(
                String::from_utf8_lossy(&free.reply()),
                String::from_utf8_lossy(reply),
                "{backend}"
            );
        }
        query(&mut admin, &["CLIENT", "UNPAUSE"]);
        let replies: Vec<Vec<u8>> = held.iter_mut().map(|r| r.reply()).collect();
        assert_eq!(
            replies,
            [b":0\r\n".to_vec(), b":0\r\n".to_vec(), b":1\r\n".to_vec()],
            "{backend}"
        );
        assert_eq!(tx.reply(), b"*1\r\n+OK\r\n", "{backend}");
    }
}

#[test]
fn all_pause_holds_every_command_until_its_end() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut admin = server.redis();
        let started = Instant::now();
        query(&mut admin, &["CLIENT", "PAUSE", "400", "ALL"]);
        let mut others: Vec<Raw> = (0..4).map(|_| server.raw()).collect();
        for raw in &mut others {
            raw.cmd(&[b"PING"]);
        }
        for raw in &mut others {
            assert_eq!(raw.reply(), b"+PONG\r\n", "{backend}");
        }
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{backend}: PING answered {:?} into a 400 ms pause",
            started.elapsed()
        );
    }
}

#[test]
fn a_pause_widens_and_unpause_from_a_paused_write_pause_works() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut admin = server.redis();
        // A shorter WRITE pause over a longer one keeps the later end.
        query(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]);
        query(&mut admin, &["CLIENT", "PAUSE", "10", "WRITE"]);
        let mut writer = server.raw();
        writer.cmd(&[b"SET", b"a", b"1"]);
        assert!(eventually(Duration::from_secs(5), || blocked_clients(
            &mut admin
        ) == 1));
        // Still held well past the short pause's end.
        assert!(!eventually(Duration::from_millis(200), || blocked_clients(
            &mut admin
        ) == 0));
        query(&mut admin, &["CLIENT", "UNPAUSE"]);
        assert_eq!(writer.reply(), b"+OK\r\n", "{backend}");
        // A client that leaves while paused is forgotten.
        query(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]);
        let mut leaver = server.raw();
        leaver.cmd(&[b"SET", b"b", b"1"]);
        assert!(eventually(Duration::from_secs(5), || blocked_clients(
            &mut admin
        ) == 1));
        drop(leaver);
        assert!(
            eventually(Duration::from_secs(5), || blocked_clients(&mut admin) == 0),
            "{backend}: a paused client that left is no longer counted"
        );
        query(&mut admin, &["CLIENT", "UNPAUSE"]);
        let b: Option<String> = redis::cmd("GET").arg("b").query(&mut admin).unwrap();
        assert_eq!(b, None, "{backend}: the leaver's write never ran");
    }
}

#[test]
fn expiry_waits_while_clients_are_paused() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        let expired_before = stat(&mut con, "expired_keys");
        // As Redis's own test: the pause starts inside the transaction, at its end.
        let (): () = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("foo")
            .arg("bar")
            .arg("PX")
            .arg(10)
            .ignore()
            .cmd("SET")
            .arg("bar")
            .arg("foo")
            .arg("PX")
            .arg(10)
            .ignore()
            .cmd("CLIENT")
            .arg("PAUSE")
            .arg(60_000)
            .arg("WRITE")
            .ignore()
            .query(&mut con)
            .unwrap();
        assert!(eventually(Duration::from_secs(5), || {
            let foo: Option<String> = redis::cmd("GET").arg("foo").query(&mut con).unwrap();
            let bar: Option<String> = redis::cmd("GET").arg("bar").query(&mut con).unwrap();
            foo.is_none() && bar.is_none()
        }));
        // Logically gone, still stored: the active cycle ran meanwhile and removed nothing.
        let active_cycle = Duration::from_millis(300);
        assert!(!eventually(active_cycle, || stat(&mut con, "expired_keys")
            != expired_before));
        let dbsize: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(dbsize, 2, "{backend}");
        query(&mut con, &["CLIENT", "UNPAUSE"]);
        let _: Option<String> = redis::cmd("GET").arg("foo").query(&mut con).unwrap();
        let _: Option<String> = redis::cmd("GET").arg("bar").query(&mut con).unwrap();
        assert!(
            eventually(Duration::from_secs(5), || stat(&mut con, "expired_keys")
                == expired_before + 2),
            "{backend}"
        );
    }
}

#[test]
fn pause_replies_match_redis() {
    assert_scripts_match_redis(&[&[
        "CLIENT PAUSE 100 foo",
        "CLIENT PAUSE abc",
        "CLIENT PAUSE -1",
        "CLIENT PAUSE 1.5",
        "CLIENT PAUSE 100 write extra",
        "CLIENT PAUSE",
        "CLIENT UNPAUSE x",
        "CLIENT PAUSE 0 write",
        "CLIENT PAUSE 0 ALL",
        "CLIENT UNPAUSE",
        "CLIENT UNPAUSE",
        "EVAL_RO \"return redis.call('publish','ch','m')\" 0",
    ]]);
}

#[test]
fn write_pause_holds_a_pipeline_at_its_first_write() {
    let redis = RedisServer::start();
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        for port in [redis.port, server.port] {
            let mut client = Raw::connect(port);
            client.cmd(&[b"DEL", b"a"]);
            client.reply();
            let mut admin = Raw::connect(port);
            admin.cmd(&[b"CLIENT", b"PAUSE", b"60000", b"WRITE"]);
            assert_eq!(admin.reply(), b"+OK\r\n");
            client.send(b"SET\r\nGET a\r\nINCR a\r\nGET a\r\n");
            // The arity error and the read come back now; INCR and the GET after it wait.
            assert_eq!(
                client.reply(),
                b"-ERR wrong number of arguments for 'set' command\r\n"
            );
            assert_eq!(client.reply(), b"$-1\r\n");
            admin.cmd(&[b"CLIENT", b"UNPAUSE"]);
            assert_eq!(admin.reply(), b"+OK\r\n");
            assert_eq!(client.reply(), b":1\r\n", "{backend} port {port}");
            assert_eq!(client.reply(), b"$1\r\n1\r\n");
        }
    }
}
