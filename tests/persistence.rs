//! SAVE / BGSAVE / SHUTDOWN SAVE write an RDB file that ringkv loads at start, that
//! redis-check-rdb accepts and redis-server loads; ringkv also loads what redis-server writes
//! (listpacks, intsets, quicklists, LZF-compressed and integer-encoded strings).

use crate::common;

use common::{backends, check_rdb, eventually, query as cmd, RedisServer, Server, TempDir};
use redis::{Connection, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// What this file asks of a test directory.
trait DumpFile {
    fn dump(&self) -> PathBuf;
}

impl DumpFile for TempDir {
    fn dump(&self) -> PathBuf {
        self.0.join("dump.rdb")
    }
}

/// Writes one key of each type and encoding (small and large), with and without TTL, in two
/// databases.
fn fill(con: &mut Connection) {
    cmd(con, &["SET", "s1", "hello"]);
    cmd(con, &["SET", "n", "12345"]);
    cmd(con, &["SET", "neg", "-5"]);
    cmd(con, &["SET", "big", &"abc".repeat(5000)]);
    cmd(con, &["SET", "ttl", "v", "PX", "1000000"]);
    cmd(con, &["RPUSH", "list", "a", "b", "c", "1", "2", "-3"]);
    let many: Vec<String> = (0..1000).map(|i| format!("item-{i}")).collect();
    let mut rpush = vec!["RPUSH", "biglist"];
    rpush.extend(many.iter().map(String::as_str));
    cmd(con, &rpush);
    cmd(
        con,
        &["SADD", "iset", "1", "2", "3", "-100", "70000", "5000000000"],
    );
    cmd(con, &["SADD", "sset", "a", "b", "c"]);
    let mut sadd = vec!["SADD", "bigset"];
    sadd.extend(many.iter().take(600).map(String::as_str));
    cmd(con, &sadd);
    cmd(con, &["HSET", "h", "f1", "v1", "f2", "2"]);
    let mut hset = vec!["HSET", "bighash"];
    for m in many.iter().take(200) {
        hset.push(m);
        hset.push(m);
    }
    cmd(con, &hset);
    cmd(
        con,
        &["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c", "3", "d"],
    );
    let scores: Vec<String> = (0..200).map(|i| format!("{}.25", i * 7)).collect();
    let mut zadd = vec!["ZADD", "bigz"];
    for (s, m) in scores.iter().zip(&many) {
        zadd.push(s);
        zadd.push(m);
    }
    cmd(con, &zadd);
    cmd(con, &["PEXPIRE", "bigz", "5000000"]);
    cmd(con, &["SELECT", "3"]);
    cmd(con, &["SET", "indb3", "x"]);
    cmd(con, &["RPUSH", "l3", "p", "q"]);
    cmd(con, &["SELECT", "0"]);
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        Value::Nil => "nil".into(),
        other => format!("{other:?}"),
    }
}

/// Every key of databases 0 and 3 with its type, content (sets and hashes sorted) and whether
/// it has a TTL.
fn contents(con: &mut Connection) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "3"] {
        cmd(con, &["SELECT", db]);
        let Value::Array(keys) = cmd(con, &["KEYS", "*"]) else {
            panic!("KEYS")
        };
        let mut keys: Vec<String> = keys.iter().map(text).collect();
        keys.sort();
        for key in keys {
            let kind = text(&cmd(con, &["TYPE", &key]));
            let body = match kind.as_str() {
                "string" => text(&cmd(con, &["GET", &key])),
                "list" => text(&cmd(con, &["LRANGE", &key, "0", "-1"])),
                "set" => {
                    let Value::Array(m) = cmd(con, &["SMEMBERS", &key]) else {
                        panic!()
                    };
                    let mut m: Vec<String> = m.iter().map(text).collect();
                    m.sort();
                    m.join(",")
                }
                "hash" => {
                    let Value::Array(m) = cmd(con, &["HGETALL", &key]) else {
                        panic!()
                    };
                    let mut pairs: Vec<String> = m
                        .chunks(2)
                        .map(|p| format!("{}={}", text(&p[0]), text(&p[1])))
                        .collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "zset" => text(&cmd(con, &["ZRANGE", &key, "0", "-1", "WITHSCORES"])),
                other => panic!("unexpected type {other}"),
            };
            let ttl = match cmd(con, &["PTTL", &key]) {
                Value::Int(-1) => "persistent".to_string(),
                Value::Int(ms) if ms > 0 => "volatile".to_string(),
                other => format!("bad ttl {other:?}"),
            };
            out.push(format!("db{db} {key} {kind} {ttl} {body}"));
        }
    }
    cmd(con, &["SELECT", "0"]);
    out
}

#[test]
fn save_then_restart_restores_every_type() {
    for backend in backends() {
        let dir = TempDir::new("restart");
        let expected = {
            let server = Server::start(2, backend, &["--dir", dir.path()]);
            let mut con = server.redis();
            fill(&mut con);
            assert_eq!(cmd(&mut con, &["SAVE"]), Value::Okay);
            contents(&mut con)
        };
        let names: Vec<&str> = expected
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap())
            .collect();
        assert_eq!(names.len(), 16, "{names:?}");
        check_rdb(&dir.dump());
        for threads in [1, 2] {
            let server = Server::start(threads, backend, &["--dir", dir.path()]);
            let mut con = server.redis();
            let got = contents(&mut con);
            assert!(
                got == expected,
                "{backend} --threads {threads}: contents differ"
            );
            assert_eq!(
                text(&cmd(&mut con, &["OBJECT", "ENCODING", "iset"])),
                "intset"
            );
            assert_eq!(
                text(&cmd(&mut con, &["OBJECT", "ENCODING", "bigset"])),
                "hashtable"
            );
        }
    }
}

#[test]
fn redis_server_loads_our_file_and_we_load_its_file() {
    let ours = TempDir::new("ours");
    let server = Server::start(2, "uring", &["--dir", ours.path()]);
    let mut con = server.redis();
    fill(&mut con);
    cmd(&mut con, &["SAVE"]);
    let expected = contents(&mut con);

    // redis-server loads what ringkv wrote.
    let redis =
        RedisServer::start_with(&["--dir", ours.path(), "--enable-protected-configs", "yes"]);
    let mut rcon = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    assert!(
        contents(&mut rcon) == expected,
        "redis-server loaded something else"
    );

    // ringkv loads what redis-server writes (its compact encodings, compression on).
    let theirs = TempDir::new("theirs");
    cmd(&mut rcon, &["CONFIG", "SET", "dir", theirs.path()]);
    cmd(&mut rcon, &["SAVE"]);
    drop(redis);
    let server = Server::start(2, "uring", &["--dir", theirs.path()]);
    let got = contents(&mut server.redis());
    assert!(
        got == expected,
        "ringkv loaded redis-server's file differently"
    );
}

#[test]
fn bgsave_writes_in_the_background_and_lastsave_moves() {
    let dir = TempDir::new("bgsave");
    let server = Server::start(2, "uring", &["--dir", dir.path()]);
    let mut con = server.redis();
    cmd(&mut con, &["SET", "k", "v"]);
    let before = cmd(&mut con, &["LASTSAVE"]);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        text(&cmd(&mut con, &["BGSAVE"])),
        "Background saving started"
    );
    assert!(eventually(Duration::from_secs(10), || {
        let info = text(&cmd(&mut con, &["INFO", "persistence"]));
        info.contains("rdb_bgsave_in_progress:0") && dir.dump().exists()
    }));
    assert_ne!(cmd(&mut con, &["LASTSAVE"]), before);
    check_rdb(&dir.dump());
    let mut raw = server.raw();
    raw.cmd(&[b"BGSAVE", b"NOW"]);
    assert_eq!(raw.reply(), b"-ERR syntax error\r\n");
}

#[test]
fn save_is_refused_inside_multi() {
    let dir = TempDir::new("multi");
    let server = Server::start(2, "uring", &["--dir", dir.path()]);
    let mut raw = server.raw();
    for (send, want) in [
        (&[&b"MULTI"[..]][..], &b"+OK\r\n"[..]),
        (&[b"SET", b"foo", b"bar"], b"+QUEUED\r\n"),
        (
            &[b"SAVE"],
            b"-ERR Command not allowed inside a transaction\r\n",
        ),
        (
            &[b"EXEC"],
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        ),
        (&[b"GET", b"foo"], b"$-1\r\n"),
    ] {
        raw.cmd(send);
        assert_eq!(raw.reply(), want, "{:?}", String::from_utf8_lossy(send[0]));
    }
    assert!(!dir.dump().exists());
}

#[test]
fn shutdown_save_writes_the_file_and_a_corrupt_file_stops_the_start() {
    let dir = TempDir::new("shutdown");
    let mut server = Server::start(2, "uring", &["--dir", dir.path()]);
    let mut con = server.redis();
    cmd(&mut con, &["SET", "kept", "yes"]);
    let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<Value>(&mut con);
    assert!(eventually(Duration::from_secs(10), || !server.alive()));
    check_rdb(&dir.dump());
    let server = Server::start(1, "uring", &["--dir", dir.path()]);
    assert_eq!(text(&cmd(&mut server.redis(), &["GET", "kept"])), "yes");
    drop(server);

    // Flip one byte of the payload: the checksum no longer matches and the server refuses to
    // start rather than serve a damaged keyspace.
    let mut file = std::fs::read(dir.dump()).unwrap();
    let at = file.len() - 12;
    file[at] ^= 0xff;
    std::fs::write(dir.dump(), &file).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["--port", "0", "--threads", "1", "--dir", dir.path()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
}
