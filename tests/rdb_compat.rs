//! RDB compatibility with redis-server 7.0.15 for every type, streams included: a file ringkv
//! saves passes redis-check-rdb and loads in redis-server with the same content; files
//! redis-server writes in each of its encodings load in ringkv.

use crate::common;

use common::{check_rdb, query as cmd, RedisServer, Server, TempDir};
use redis::{Connection, Value};
use std::process::Command;

fn connect(port: u16) -> Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Streams with deleted entries, several nodes, groups, pending entries owned by several
/// consumers with delivery counts, an idle consumer, a group with unknown entries-read and an
/// emptied stream that keeps its group.
fn fill_streams(con: &mut Connection) {
    cmd(con, &["XADD", "st", "1-1", "a", "1", "b", "2"]);
    cmd(con, &["XADD", "st", "1-2", "a", "3", "b", "4"]);
    cmd(con, &["XADD", "st", "2-0", "c", "x"]);
    cmd(con, &["XADD", "st", "3-0", "a", "5", "b", "6"]);
    cmd(con, &["XADD", "st", "4-0", "a", "-7", "b", "text"]);
    cmd(con, &["XDEL", "st", "1-2"]);
    cmd(con, &["XGROUP", "CREATE", "st", "g1", "0"]);
    cmd(
        con,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "st",
            ">",
        ],
    );
    cmd(
        con,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "bob",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
    );
    cmd(con, &["XCLAIM", "st", "g1", "bob", "0", "1-1"]);
    cmd(con, &["XGROUP", "CREATECONSUMER", "st", "g1", "idle"]);
    cmd(con, &["XGROUP", "CREATE", "st", "g2", "$"]);
    cmd(con, &["XDEL", "st", "4-0"]);
    cmd(con, &["XGROUP", "CREATE", "st", "g3", "2-0"]);
    for i in 0..250 {
        let v = format!("value-{i}");
        cmd(
            con,
            &["XADD", "bigst", "*", "field", &v, "n", &i.to_string()],
        );
    }
    cmd(con, &["XTRIM", "bigst", "MAXLEN", "=", "180"]);
    cmd(con, &["XGROUP", "CREATE", "bigst", "readers", "0"]);
    cmd(
        con,
        &[
            "XREADGROUP",
            "GROUP",
            "readers",
            "r1",
            "COUNT",
            "30",
            "STREAMS",
            "bigst",
            ">",
        ],
    );
    cmd(con, &["XADD", "empty", "5-5", "f", "v"]);
    cmd(con, &["XGROUP", "CREATE", "empty", "eg", "0"]);
    cmd(
        con,
        &["XREADGROUP", "GROUP", "eg", "c", "STREAMS", "empty", ">"],
    );
    cmd(con, &["XDEL", "empty", "5-5"]);
    cmd(
        con,
        &[
            "XSETID",
            "empty",
            "9-9",
            "ENTRIESADDED",
            "12",
            "MAXDELETEDID",
            "7-0",
        ],
    );
}

/// Every other type, in sizes that pick each compact and large encoding in redis-server.
fn fill_others(con: &mut Connection) {
    cmd(con, &["SET", "s", "hello"]);
    cmd(con, &["SET", "n", "-12345"]);
    cmd(con, &["SET", "ttl", "v", "PX", "100000000"]);
    cmd(con, &["SET", "big", &"xyz".repeat(3000)]);
    cmd(con, &["RPUSH", "list", "a", "1", "-2", "300000", "b"]);
    let many: Vec<String> = (0..700).map(|i| format!("m{i}")).collect();
    let mut rpush = vec!["RPUSH", "biglist"];
    rpush.extend(many.iter().map(String::as_str));
    cmd(con, &rpush);
    cmd(con, &["RPUSH", "plain", &"p".repeat(20000), "short"]);
    cmd(con, &["SADD", "iset", "1", "-2", "70000", "5000000000"]);
    cmd(con, &["SADD", "sset", "a", "b", "c"]);
    let mut sadd = vec!["SADD", "bigset"];
    sadd.extend(many.iter().take(300).map(String::as_str));
    cmd(con, &sadd);
    cmd(con, &["HSET", "h", "f", "v", "n", "7"]);
    let mut hset = vec!["HSET", "bighash"];
    for m in many.iter().take(200) {
        hset.push(m);
        hset.push(m);
    }
    cmd(con, &hset);
    cmd(con, &["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c"]);
    let scores: Vec<String> = (0..200).map(|i| format!("{}.5", i * 3)).collect();
    let mut zadd = vec!["ZADD", "bigz"];
    for (s, m) in scores.iter().zip(&many) {
        zadd.push(s);
        zadd.push(m);
    }
    cmd(con, &zadd);
    cmd(con, &["SELECT", "2"]);
    cmd(con, &["HSET", "h2", "x", "y"]);
    cmd(con, &["SELECT", "0"]);
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Int(i) => i.to_string(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(","))
        }
        Value::Nil => "nil".into(),
        other => format!("{other:?}"),
    }
}

/// XINFO STREAM FULL without what differs by design: the radix tree's shape (ringkv packs
/// nodes its own way) and 7.2's active-time (redis-server 7.0 has none).
fn stream_info(v: &Value) -> String {
    const SKIP: [&str; 3] = ["radix-tree-keys", "radix-tree-nodes", "active-time"];
    match v {
        Value::Array(items)
            if items.len() % 2 == 0
                && items.iter().step_by(2).all(|k| {
                    matches!(k, Value::BulkString(b) if !b.is_empty()
                        && b.iter().all(|c| c.is_ascii_lowercase() || *c == b'-'))
                }) =>
        {
            let kept: Vec<String> = items
                .chunks(2)
                .filter(|p| !SKIP.contains(&text(&p[0]).as_str()))
                .map(|p| format!("{}={}", text(&p[0]), stream_info(&p[1])))
                .collect();
            format!("{{{}}}", kept.join(","))
        }
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(stream_info).collect::<Vec<_>>().join(",")
            )
        }
        other => text(other),
    }
}

/// Every key of databases 0 and 2: type, TTL presence and content (sets and hashes sorted;
/// streams by XRANGE, XINFO STREAM FULL and each group's XPENDING summary).
fn contents(con: &mut Connection) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "2"] {
        cmd(con, &["SELECT", db]);
        let Value::Array(keys) = cmd(con, &["KEYS", "*"]) else {
            panic!("KEYS")
        };
        let mut keys: Vec<String> = keys.iter().map(text).collect();
        keys.sort();
        for key in keys {
            let kind = text(&cmd(con, &["TYPE", &key]));
            let sorted = |v: Value, pairs: bool| {
                let Value::Array(items) = v else { panic!() };
                let mut items: Vec<String> = if pairs {
                    items
                        .chunks(2)
                        .map(|p| format!("{}={}", text(&p[0]), text(&p[1])))
                        .collect()
                } else {
                    items.iter().map(text).collect()
                };
                items.sort();
                items.join(",")
            };
            let body = match kind.as_str() {
                "string" => text(&cmd(con, &["GET", &key])),
                "list" => text(&cmd(con, &["LRANGE", &key, "0", "-1"])),
                "set" => sorted(cmd(con, &["SMEMBERS", &key]), false),
                "hash" => sorted(cmd(con, &["HGETALL", &key]), true),
                "zset" => text(&cmd(con, &["ZRANGE", &key, "0", "-1", "WITHSCORES"])),
                "stream" => {
                    let mut s = text(&cmd(con, &["XRANGE", &key, "-", "+"]));
                    s += &stream_info(&cmd(con, &["XINFO", "STREAM", &key, "FULL"]));
                    let Value::Array(groups) = cmd(con, &["XINFO", "GROUPS", &key]) else {
                        panic!()
                    };
                    for g in groups {
                        let Value::Array(g) = g else { panic!() };
                        let name = text(&g[1]);
                        s += &text(&cmd(con, &["XPENDING", &key, &name]));
                    }
                    s
                }
                other => panic!("unexpected type {other}"),
            };
            let ttl = match cmd(con, &["PTTL", &key]) {
                Value::Int(-1) => "persistent",
                Value::Int(ms) if ms > 0 => "volatile",
                _ => "bad ttl",
            };
            out.push(format!("db{db} {key} {kind} {ttl} {body}"));
        }
    }
    cmd(con, &["SELECT", "0"]);
    out
}

fn assert_same(got: &[String], expected: &[String], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: key counts differ");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(g, e, "{what}");
    }
}

#[test]
fn streams_saved_by_ringkv_load_in_redis_server_and_back() {
    let dir = TempDir::new("streams");
    let expected = {
        let server = Server::start(2, "uring", &["--dir", dir.path()]);
        let mut con = server.redis();
        fill_streams(&mut con);
        fill_others(&mut con);
        assert_eq!(cmd(&mut con, &["SAVE"]), Value::Okay);
        contents(&mut con)
    };
    assert!(expected.iter().any(|l| l.contains("db0 bigst stream")));
    check_rdb(&dir.0.join("dump.rdb"));

    // redis-server 7.0.15 started on the file holds the same content.
    let redis = RedisServer::start_with(&["--dir", dir.path(), "--dbfilename", "dump.rdb"]);
    let got = contents(&mut connect(redis.port));
    drop(redis);
    assert_same(&got, &expected, "redis-server loading ringkv's file");

    // ringkv restarted holds it, on one thread and on two.
    for threads in [1, 2] {
        let server = Server::start(threads, "uring", &["--dir", dir.path()]);
        let got = contents(&mut server.redis());
        assert_same(&got, &expected, "ringkv restarted");
    }
}

#[test]
fn ringkv_loads_what_redis_server_writes_in_each_encoding() {
    // Each configuration forces other encodings: the defaults (listpacks, intsets, quicklist
    // of listpacks), everything as a hashtable / skiplist / linked nodes, and plain quicklist
    // nodes with tiny stream nodes.
    let configs: [&[&str]; 3] = [
        &[],
        &[
            "--hash-max-listpack-entries",
            "0",
            "--zset-max-listpack-entries",
            "0",
            "--set-max-intset-entries",
            "0",
            "--list-max-listpack-size",
            "1",
            "--rdbcompression",
            "no",
        ],
        &[
            "--list-max-listpack-size",
            "-5",
            "--list-compress-depth",
            "1",
            "--stream-node-max-entries",
            "2",
            "--hash-max-listpack-value",
            "1",
            "--enable-debug-command",
            "yes",
        ],
    ];
    for extra in configs {
        let dir = TempDir::new("theirs");
        let mut args = vec!["--dir", dir.path()];
        args.extend_from_slice(extra);
        let redis = RedisServer::start_with(&args);
        let mut rcon = connect(redis.port);
        if extra.contains(&"--enable-debug-command") {
            // Elements past this size go into plain (unpacked) quicklist nodes.
            cmd(&mut rcon, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1000"]);
        }
        fill_streams(&mut rcon);
        fill_others(&mut rcon);
        let expected = contents(&mut rcon);
        cmd(&mut rcon, &["SAVE"]);
        drop(redis);
        let server = Server::start(2, "uring", &["--dir", dir.path()]);
        let got = contents(&mut server.redis());
        assert_same(
            &got,
            &expected,
            &format!("ringkv loading redis-server's file {extra:?}"),
        );
    }
}

/// Copies every key of database 0 from `from` to `to` with DUMP and RESTORE (TTL kept).
fn copy_by_dump(from: &mut Connection, to: &mut Connection) -> usize {
    let Value::Array(keys) = cmd(from, &["KEYS", "*"]) else {
        panic!("KEYS")
    };
    for key in &keys {
        let key = text(key);
        let Value::BulkString(payload) = cmd(from, &["DUMP", &key]) else {
            panic!("DUMP {key}")
        };
        let Value::Int(ttl) = cmd(from, &["PTTL", &key]) else {
            panic!("PTTL")
        };
        let ttl = ttl.max(0).to_string();
        let reply: Value = redis::cmd("RESTORE")
            .arg(&key)
            .arg(&ttl)
            .arg(&payload[..])
            .query(to)
            .unwrap_or_else(|e| panic!("RESTORE {key}: {e}"));
        assert_eq!(reply, Value::Okay, "RESTORE {key}");
    }
    keys.len()
}

#[test]
fn dump_and_restore_interoperate_with_redis_server_for_every_type() {
    let server = Server::start(2, "uring", &[]);
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (server.redis(), connect(redis.port));
    // ringkv → redis-server.
    fill_streams(&mut ours);
    fill_others(&mut ours);
    cmd(&mut ours, &["SELECT", "2"]);
    cmd(&mut ours, &["FLUSHDB"]);
    cmd(&mut ours, &["SELECT", "0"]);
    let expected = contents(&mut ours);
    assert_eq!(copy_by_dump(&mut ours, &mut theirs), 17);
    assert_same(&contents(&mut theirs), &expected, "RESTORE in redis-server");
    // redis-server → ringkv, from values redis-server built itself in each encoding.
    cmd(&mut ours, &["FLUSHALL"]);
    cmd(&mut theirs, &["FLUSHALL"]);
    fill_streams(&mut theirs);
    fill_others(&mut theirs);
    cmd(&mut theirs, &["SELECT", "2"]);
    cmd(&mut theirs, &["FLUSHDB"]);
    cmd(&mut theirs, &["SELECT", "0"]);
    let expected = contents(&mut theirs);
    copy_by_dump(&mut theirs, &mut ours);
    assert_same(&contents(&mut ours), &expected, "RESTORE in ringkv");
}

#[test]
fn restore_replies_match_redis_server() {
    common::assert_scripts_match_redis(&[&[
        "SET k hello",
        "SET other x",
        "DUMP nosuchkey",
        "RESTORE k 0 junk",
        "RESTORE k 0 junk REPLACE",
        "RESTORE newkey -1 junk",
        "RESTORE newkey abc junk",
        "RESTORE newkey 0 junk",
        "RESTORE newkey 0 0123456789",
        "RESTORE newkey 0 junk IDLETIME -1",
        "RESTORE newkey 0 junk IDLETIME 10 FREQ 5",
        "RESTORE newkey 0 junk FREQ 256",
        "RESTORE newkey 0 junk FREQ 5 IDLETIME 1",
        "RESTORE newkey 0 junk IDLETIME",
        "RESTORE newkey 0 junk BADOPT",
        "RESTORE newkey 0",
        "DUMP",
        "EXISTS newkey",
        "MIGRATE 127.0.0.1 1 k 0 100 KEYS a",
        "MIGRATE 127.0.0.1 1 \"\" 0 100 KEYS nokey1 nokey2",
        "MIGRATE 127.0.0.1 1 nokey 0 100",
        "MIGRATE 127.0.0.1 1 k 0 100 AUTH",
        "MIGRATE 127.0.0.1 1 k 0 100 AUTH2 user",
        "MIGRATE 127.0.0.1 1 k 0 100 BOGUS",
        "MIGRATE 127.0.0.1 1 k 0 abc",
        "MIGRATE 127.0.0.1 1 k abc 100",
        "MIGRATE 127.0.0.1 1 k 0 100",
        "EXISTS k",
        "COMMAND GETKEYS MIGRATE 127.0.0.1 1 k 0 100",
        "COMMAND GETKEYS MIGRATE 127.0.0.1 1 \"\" 0 100 COPY KEYS a b",
        "COMMAND GETKEYS MIGRATE 127.0.0.1 1 \"\" 0 100",
        "COMMAND GETKEYS DUMP k",
        "COMMAND GETKEYS RESTORE k 0 x",
    ]]);
}

#[test]
fn migrate_moves_keys_to_redis_server_and_to_ringkv() {
    for backend in common::backends() {
        migrate_from(backend);
    }
}

fn migrate_from(backend: &str) {
    let source = Server::start(2, backend, &[]);
    let redis = RedisServer::start();
    cmd(
        &mut connect(redis.port),
        &["CONFIG", "SET", "requirepass", "secret"],
    );
    let target = Server::start(2, "uring", &[]);
    let mut src = source.redis();
    fill_streams(&mut src);
    fill_others(&mut src);
    cmd(&mut src, &["SELECT", "2"]);
    cmd(&mut src, &["FLUSHDB"]);
    cmd(&mut src, &["SELECT", "0"]);
    let expected = contents(&mut src);
    let port = redis.port.to_string();
    // Everything to redis-server's db 0 in one call (AUTH), as copies.
    let Value::Array(keys) = cmd(&mut src, &["KEYS", "*"]) else {
        panic!()
    };
    let keys: Vec<String> = keys.iter().map(text).collect();
    let mut args = vec![
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "0",
        "5000",
        "COPY",
        "AUTH",
        "secret",
        "KEYS",
    ];
    args.extend(keys.iter().map(String::as_str));
    assert_eq!(cmd(&mut src, &args), Value::Okay);
    let mut theirs = connect(redis.port);
    cmd(&mut theirs, &["AUTH", "secret"]);
    assert_same(
        &contents(&mut theirs),
        &expected,
        "MIGRATE COPY to redis-server",
    );
    assert_same(&contents(&mut src), &expected, "COPY keeps the source");

    // Again without COPY: the target already has the keys.
    let mut raw = source.raw();
    let p = port.as_bytes();
    raw.cmd(&[
        b"MIGRATE",
        b"127.0.0.1",
        p,
        b"s",
        b"0",
        b"5000",
        b"AUTH",
        b"secret",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&raw.reply()),
        "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
    );
    raw.cmd(&[
        b"MIGRATE",
        b"127.0.0.1",
        p,
        b"s",
        b"0",
        b"5000",
        b"AUTH",
        b"wrong",
    ]);
    let reply = String::from_utf8_lossy(&raw.reply()).into_owned();
    assert!(
        reply.starts_with("-ERR Target instance replied with error: WRONGPASS"),
        "{reply}"
    );
    assert_eq!(cmd(&mut src, &["EXISTS", "s"]), Value::Int(1));

    // To a ringkv target, db 3, moving (the source loses each key), REPLACE over one there.
    let tport = target.port.to_string();
    let mut dst = target.redis();
    cmd(&mut dst, &["SELECT", "3"]);
    cmd(&mut dst, &["SET", "s", "old"]);
    for key in &keys {
        let reply = cmd(
            &mut src,
            &["MIGRATE", "127.0.0.1", &tport, key, "3", "5000", "REPLACE"],
        );
        assert_eq!(reply, Value::Okay, "{key}");
    }
    assert_eq!(cmd(&mut src, &["DBSIZE"]), Value::Int(0));
    // Database 3 of the target holds what database 0 of the source held.
    cmd(&mut dst, &["SELECT", "3"]);
    cmd(&mut dst, &["SWAPDB", "0", "3"]);
    cmd(&mut dst, &["SELECT", "0"]);
    assert_same(&contents(&mut dst), &expected, "MIGRATE REPLACE to ringkv");
    assert_eq!(
        cmd(
            &mut src,
            &["MIGRATE", "127.0.0.1", &tport, "s", "3", "5000"]
        ),
        Value::SimpleString("NOKEY".into())
    );
}

#[test]
fn a_file_that_cannot_be_loaded_stops_the_start_naming_the_offset() {
    let dir = TempDir::new("corrupt");
    {
        let server = Server::start(1, "uring", &["--dir", dir.path()]);
        let mut con = server.redis();
        fill_streams(&mut con);
        cmd(&mut con, &["SAVE"]);
    }
    let path = format!("{}/dump.rdb", dir.path());
    let file = std::fs::read(&path).unwrap();
    // Cut inside the records: a short read at the end of what is left.
    let cut = file.len() - 40;
    std::fs::write(&path, &file[..cut]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["--port", "0", "--threads", "1", "--dir", dir.path()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("Short read or OOM loading DB") && log.contains("(at byte offset "),
        "{log}"
    );
}
