//! Redis 7 functions against the real binary: FUNCTION LOAD/LIST/DELETE/FLUSH/RESTORE, FCALL
//! and FCALL_RO replies and error texts compared byte for byte with redis-server; FUNCTION
//! DUMP payloads exchanged both ways; libraries surviving a restart through the RDB file
//! (which redis-check-rdb and redis-server accept) and through the AOF; BUSY, FUNCTION KILL
//! and SCRIPT KILL as Redis has them; hostile RESTORE payloads answered, never a crash.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    assert_scripts_match_redis, backends, check_rdb, eventually, query as cmd, RedisServer, Server,
    TempDir,
};
use redis::{Connection, Value};

const LIB1: &str = "\"#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys[1], args[1], #keys, #args} end)\"";
const LIB1_WRITES: &str = "\"#!lua name=lib1\nredis.register_function('f1', function(keys) return redis.call('set', keys[1], 'v') end)\"";
const LIB2: &str = "\"#!lua name=lib2\nredis.register_function{function_name='ro', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes', 'allow-stale'}, description='reads'}\"";

fn lines(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

#[test]
fn load_call_list_and_errors_match_redis() {
    let basic: Vec<String> = [
        "FUNCTION FLUSH".to_string(),
        format!("FUNCTION LOAD {LIB1}"),
        format!("FUNCTION LOAD {LIB1}"),
        format!("FUNCTION LOAD REPLACE {LIB1}"),
        format!("FUNCTION LOAD foo {LIB1}"),
        "FCALL f1 2 a b c".into(),
        "FCALL F1 0".into(),
        "FCALL f1 x".into(),
        "FCALL f1 3 a".into(),
        "FCALL f1 -1".into(),
        "FCALL nosuch 0".into(),
        "FCALL_RO f1 0".into(),
        "FUNCTION LIST".into(),
        "FUNCTION LIST WITHCODE".into(),
        "FUNCTION LIST LIBRARYNAME lib*".into(),
        "FUNCTION LIST LIBRARYNAME x*".into(),
        "FUNCTION LIST LIBRARYNAME".into(),
        "FUNCTION LIST WITHCODE WITHCODE".into(),
        "FUNCTION LIST bad".into(),
        "FUNCTION STATS".into(),
        "FUNCTION DELETE nosuch".into(),
        "FUNCTION DELETE lib1".into(),
        format!("FUNCTION LOAD {LIB2}"),
        "SET k 5".into(),
        "FCALL_RO ro 1 k".into(),
        "FUNCTION LIST".into(),
        format!("FUNCTION LOAD REPLACE {LIB1_WRITES}"),
        "FCALL f1 1 x".into(),
        "GET x".into(),
        "FUNCTION FLUSH bad".into(),
        "FUNCTION FLUSH SYNC extra".into(),
        "FUNCTION FLUSH ASYNC".into(),
        "FUNCTION LIST".into(),
        "FUNCTION RESTORE bad".into(),
        "FUNCTION RESTORE a b c d".into(),
        "FUNCTION RESTORE a bad".into(),
        "FUNCTION KILL".into(),
        "FUNCTION nosuch".into(),
        "FUNCTION HELP".into(),
    ]
    .into();
    let loading: Vec<String> = [
        "FUNCTION FLUSH",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function()\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function('f')\"",
        "FUNCTION LOAD \"#!lua name=x\nreturn math.random()\"",
        "FUNCTION LOAD \"#!lua name=x\na = 1\"",
        "FUNCTION LOAD \"#!lua name=x\nlocal a = 1 while 1 do a = a + 1 end\"",
        "FUNCTION LOAD \"#!lua name=x\nbad code\"",
        "FUNCTION LOAD \"#!lua name=x\nreturn redis.call('ping')\"",
        "FUNCTION LOAD \"#!lua name=x\nreturn 1\"",
        "FUNCTION LOAD \"#!lua name=bad-name\nreturn 1\"",
        "FUNCTION LOAD \"#!other name=x\nreturn 1\"",
        "FUNCTION LOAD \"#!lua name=x foo=bar\nreturn 1\"",
        "FUNCTION LOAD \"#!lua\nreturn 1\"",
        "FUNCTION LOAD \"#!lua name=a name=b\nreturn 1\"",
        "FUNCTION LOAD \"#!lua name=x\"",
        "FUNCTION LOAD nocode",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function{function_name='f', callback='no'}\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags='no'}\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function{function_name='f', callback=function() end, other=1}\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function{callback=function() end}\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function{function_name='f'}\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function(nil, function() end)\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function('f', 'no')\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function('a-b', function() end)\"",
        "FUNCTION LOAD \"#!lua name=x\nredis.register_function('f', function() end) redis.register_function('f', function() end)\"",
        "FUNCTION LOAD \"#!lua name=x\nlocal lib = redis\nlib.register_function('w', function() lib.redis = redis end)\"",
        "FCALL w 0",
        "FUNCTION LOAD \"#!lua name=y\nlocal lib = redis\nlib.register_function('r', function() lib.register_function('q', function() end) end)\"",
        "FCALL r 0",
        "FUNCTION LOAD \"#!lua name=z\nredis.register_function('e', function() return redis.call('nosuch') end)\"",
        "FCALL e 0",
        "FUNCTION LOAD \"#!lua name=v\nredis.register_function('o', function() error('oops') end)\"",
        "FCALL o 0",
        "FUNCTION STATS",
        "FUNCTION LOAD \"#!lua name=oom\nredis.register_function('o', function() return 1 end)\nredis.register_function{function_name='o2', callback=function() return redis.call('set','x','y') end, flags={'allow-oom'}}\nredis.register_function{function_name='o3', callback=function() return redis.call('set','x','y') end, flags={'no-writes'}}\"",
        "CONFIG SET maxmemory 1",
        "FCALL o 0",
        "FCALL o2 0",
        "FCALL o3 0",
        "FCALL_RO o3 0",
        "MULTI",
        "FCALL o 0",
        "EXEC",
        "CONFIG SET maxmemory 0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_scripts_match_redis(&[&lines(&basic), &lines(&loading)]);
}

fn connect(port: u16) -> Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn restore(con: &mut Connection, payload: &[u8], policy: &str) -> Value {
    let mut c = redis::cmd("FUNCTION");
    c.arg("RESTORE").arg(payload);
    if !policy.is_empty() {
        c.arg(policy);
    }
    c.query(con)
        .unwrap_or_else(|e| panic!("FUNCTION RESTORE: {e}"))
}

fn load(con: &mut Connection, code: &str) {
    cmd(con, &["FUNCTION", "LOAD", code]);
}

const CODE_A: &str = "#!lua name=liba\nredis.register_function('fa', function(keys, args) return 'a:' .. (args[1] or '') end)";
const CODE_B: &str = "#!lua name=libb\nredis.register_function{function_name='fb', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='b'}";

#[test]
fn dump_payloads_restore_across_servers() {
    let redis = RedisServer::start();
    let mut theirs = connect(redis.port);
    load(&mut theirs, CODE_A);
    load(&mut theirs, CODE_B);
    let from_redis = bytes(cmd(&mut theirs, &["FUNCTION", "DUMP"]));
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut ours = server.redis();
        assert_eq!(restore(&mut ours, &from_redis, ""), Value::Okay);
        assert_eq!(
            cmd(&mut ours, &["FCALL", "fa", "0", "x"]),
            Value::BulkString(b"a:x".to_vec())
        );
        cmd(&mut ours, &["SET", "k", "v"]);
        assert_eq!(
            cmd(&mut ours, &["FCALL_RO", "fb", "1", "k"]),
            Value::BulkString(b"v".to_vec())
        );
        let err = redis::cmd("FUNCTION")
            .arg("RESTORE")
            .arg(&from_redis[..])
            .query::<Value>(&mut ours)
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(restore(&mut ours, &from_redis, "REPLACE"), Value::Okay);

        // And back: redis-server restores what ringkv dumps, and lists the same libraries.
        let from_ours = bytes(cmd(&mut ours, &["FUNCTION", "DUMP"]));
        let fresh = RedisServer::start();
        let mut other = connect(fresh.port);
        assert_eq!(restore(&mut other, &from_ours, "FLUSH"), Value::Okay);
        for lib in ["liba", "libb"] {
            let args = ["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", lib];
            assert_eq!(
                cmd(&mut other, &args),
                cmd(&mut ours, &args),
                "[{backend}] {lib}"
            );
        }
        assert_eq!(
            cmd(&mut other, &["FCALL", "fa", "0", "y"]),
            Value::BulkString(b"a:y".to_vec())
        );
    }
}

#[test]
fn hostile_restore_payloads_get_errors_not_crashes() {
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
    let sealed = |body: &[u8]| {
        let mut p = body.to_vec();
        p.extend_from_slice(&10u16.to_le_bytes());
        let sum = crc.checksum(&p);
        p.extend_from_slice(&sum.to_le_bytes());
        p
    };
    let mut cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0; 9],
        sealed(&[0xF5]),
        sealed(&[0x00, 0x01, b'a']),
        sealed(&[0xF5, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        sealed(&[0xF5, 0x80, 0x7F, 0xFF, 0xFF, 0xFF, b'x']),
        sealed(&[0xF5, 0xC3, 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0x05, 1, 2, 3]),
        sealed(&[0xF6, 0x01, b'n', 0x03, b'L', b'U', b'A', 0x00, 0x01, b'x']),
        sealed(&[0xF5, 0x05, b'#', b'!', b'l', b'u', b'a']),
        sealed(b"\xF5\x0bno shebang!"),
        sealed(b"\xF5\x0e#!lua name=x\0\n"),
        // A library that never returns: Redis would hang; the registration run is bounded.
        sealed(b"\xF5\x1f#!lua name=spin\nwhile 1 do end\n"),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..200 {
        let len = (seed % 40) as usize;
        let body: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        cases.push(sealed(&[&[0xF5][..], &body].concat()));
    }
    for backend in backends() {
        let mut server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        load(&mut con, CODE_A);
        for payload in &cases {
            let result = redis::cmd("FUNCTION")
                .arg("RESTORE")
                .arg(&payload[..])
                .query::<Value>(&mut con);
            assert!(result.is_err(), "[{backend}] accepted {payload:?}");
        }
        assert!(server.alive(), "[{backend}] the server died");
        assert_eq!(
            cmd(&mut con, &["FCALL", "fa", "0", "z"]),
            Value::BulkString(b"a:z".to_vec()),
            "[{backend}] the libraries changed"
        );
    }
}

/// The libraries as FUNCTION LIST WITHCODE shows them, per library name.
fn listing(con: &mut Connection) -> Vec<Value> {
    ["liba", "libb"]
        .iter()
        .map(|lib| cmd(con, &["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", lib]))
        .collect()
}

#[test]
fn libraries_survive_a_restart_through_the_rdb_file() {
    for backend in backends() {
        let dir = TempDir::new("fn-rdb");
        let expected = {
            let server = Server::start(2, backend, &["--dir", dir.path()]);
            let mut con = server.redis();
            load(&mut con, CODE_A);
            load(&mut con, CODE_B);
            assert_eq!(cmd(&mut con, &["SAVE"]), Value::Okay);
            listing(&mut con)
        };
        check_rdb(&dir.0.join("dump.rdb"));
        let server = Server::start(1, backend, &["--dir", dir.path()]);
        let mut con = server.redis();
        assert_eq!(listing(&mut con), expected, "[{backend}]");
        assert_eq!(
            cmd(&mut con, &["FCALL", "fa", "0", "r"]),
            Value::BulkString(b"a:r".to_vec())
        );
        drop(server);
        // redis-server loads the same file with the same libraries.
        let redis =
            RedisServer::start_with(&["--dir", dir.path(), "--enable-protected-configs", "yes"]);
        assert_eq!(listing(&mut connect(redis.port)), expected, "[{backend}]");
        drop(redis);

        // A background save takes the libraries at its cut too.
        let server = Server::start(2, backend, &["--dir", dir.path()]);
        let mut con = server.redis();
        cmd(&mut con, &["FUNCTION", "DELETE", "liba"]);
        std::fs::remove_file(dir.0.join("dump.rdb")).unwrap();
        cmd(&mut con, &["BGSAVE"]);
        let saved = eventually(Duration::from_secs(10), || {
            let info = match cmd(&mut con, &["INFO", "persistence"]) {
                Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            };
            info.contains("rdb_bgsave_in_progress:0") && dir.0.join("dump.rdb").exists()
        });
        assert!(saved, "[{backend}] BGSAVE never finished");
        drop(server);
        let server = Server::start(2, backend, &["--dir", dir.path()]);
        let mut con = server.redis();
        assert_eq!(
            listing(&mut con),
            vec![Value::Array(vec![]), expected[1].clone()],
            "[{backend}]"
        );
    }
}

fn check_aof(dir: &Path) {
    let out = Command::new("redis-check-aof")
        .arg(dir.join("appendonlydir/appendonly.aof.manifest"))
        .output()
        .expect("run redis-check-aof");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{log}");
}

#[test]
fn libraries_survive_a_restart_through_the_aof() {
    for preamble in ["yes", "no"] {
        let dir = TempDir::new("fn-aof");
        let args = [
            "--dir",
            dir.path(),
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            preamble,
        ];
        let expected = {
            let mut server = Server::start(2, "uring", &args);
            let mut con = server.redis();
            load(&mut con, CODE_A);
            load(
                &mut con,
                "#!lua name=gone\nredis.register_function('g', function() return 1 end)",
            );
            cmd(&mut con, &["FUNCTION", "DELETE", "gone"]);
            assert_eq!(
                cmd(&mut con, &["BGREWRITEAOF"]),
                Value::SimpleString("Background append only file rewriting started".into())
            );
            let done = eventually(Duration::from_secs(10), || {
                let info = match cmd(&mut con, &["INFO", "persistence"]) {
                    Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                    Value::VerbatimString { text, .. } => text,
                    _ => String::new(),
                };
                info.contains("aof_rewrite_in_progress:0")
            });
            assert!(done, "the rewrite never finished");
            // After the rewrite: in the new incremental file.
            load(&mut con, CODE_B);
            cmd(&mut con, &["FCALL", "fa", "0"]);
            let listed = listing(&mut con);
            // A clean stop (SHUTDOWN fsyncs the AOF), not the kill of a dropped server.
            let mut raw = server.raw();
            raw.cmd(&[b"SHUTDOWN"]);
            assert!(eventually(Duration::from_secs(10), || !server.alive()));
            listed
        };
        check_aof(&dir.0);
        let server = Server::start(2, "uring", &args);
        let mut con = server.redis();
        assert_eq!(listing(&mut con), expected, "preamble {preamble}");
        assert_eq!(
            cmd(&mut con, &["FUNCTION", "LIST", "LIBRARYNAME", "gone"]),
            Value::Array(vec![])
        );
        drop(server);
        // redis-server replays the same directory to the same libraries.
        let redis = RedisServer::start_with(&[
            "--dir",
            dir.path(),
            "--appendonly",
            "yes",
            "--enable-protected-configs",
            "yes",
        ]);
        assert_eq!(
            listing(&mut connect(redis.port)),
            expected,
            "preamble {preamble}"
        );
    }
}

const BUSY_FUNCTION: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
const BUSY_SCRIPT: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

#[test]
fn busy_function_is_killed_by_function_kill_only() {
    for backend in backends() {
        let server = Server::start(2, backend, &["--busy-reply-threshold", "100"]);
        let mut con = server.redis();
        load(
            &mut con,
            "#!lua name=busy\nredis.register_function('spin', function()\n local a = 1 while true do a = a + 1 end\nend)",
        );
        let mut runner = server.raw();
        runner.cmd(&[b"FCALL", b"spin", b"0"]);
        let mut other = server.raw();
        let busy = eventually(Duration::from_secs(10), || {
            other.cmd(&[b"PING"]);
            other.reply() == BUSY_FUNCTION
        });
        assert!(busy, "[{backend}] PING never saw BUSY");
        other.cmd(&[b"SCRIPT", b"KILL"]);
        assert_eq!(other.reply(), BUSY_FUNCTION, "[{backend}]");
        other.cmd(&[b"FUNCTION", b"STATS"]);
        let stats = String::from_utf8_lossy(&other.reply()).into_owned();
        assert!(
            stats.contains("$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n$11\r\nduration_ms\r\n:"),
            "[{backend}] {stats}"
        );
        other.cmd(&[b"FUNCTION", b"KILL"]);
        assert_eq!(other.reply(), b"+OK\r\n", "[{backend}]");
        assert_eq!(
            String::from_utf8_lossy(&runner.reply()),
            "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:3.\r\n",
            "[{backend}]"
        );
        other.cmd(&[b"PING"]);
        assert_eq!(other.reply(), b"+PONG\r\n", "[{backend}]");

        // An EVAL script is SCRIPT KILL's: FUNCTION KILL and FUNCTION STATS say so.
        runner.cmd(&[b"EVAL", b"while true do end", b"0"]);
        let busy = eventually(Duration::from_secs(10), || {
            other.cmd(&[b"PING"]);
            other.reply() == BUSY_SCRIPT
        });
        assert!(busy, "[{backend}] PING never saw BUSY");
        other.cmd(&[b"FUNCTION", b"KILL"]);
        assert_eq!(other.reply(), BUSY_SCRIPT, "[{backend}]");
        other.cmd(&[b"FUNCTION", b"STATS"]);
        assert_eq!(other.reply(), BUSY_SCRIPT, "[{backend}]");
        other.cmd(&[b"SCRIPT", b"KILL"]);
        assert_eq!(other.reply(), b"+OK\r\n", "[{backend}]");
        assert!(runner.reply().starts_with(b"-ERR Script killed"));
    }
}

#[test]
fn functions_keep_their_own_lua_state() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        load(&mut con, CODE_A);
        // SCRIPT FLUSH resets EVAL's state only; FUNCTION FLUSH leaves the script cache.
        let sha = cmd(&mut con, &["SCRIPT", "LOAD", "return 7"]);
        cmd(&mut con, &["SCRIPT", "FLUSH"]);
        assert_eq!(
            cmd(&mut con, &["FCALL", "fa", "0", "s"]),
            Value::BulkString(b"a:s".to_vec())
        );
        let sha = match sha {
            Value::BulkString(b) => String::from_utf8(b).unwrap(),
            other => panic!("{other:?}"),
        };
        cmd(&mut con, &["SCRIPT", "LOAD", "return 7"]);
        cmd(&mut con, &["FUNCTION", "FLUSH"]);
        assert_eq!(cmd(&mut con, &["EVALSHA", &sha, "0"]), Value::Int(7));
        // A function's writes under MULTI are part of the transaction.
        load(&mut con, "#!lua name=w\nredis.register_function('w', function(keys) return redis.call('incr', keys[1]) end)");
        let replies: Vec<Value> = redis::pipe()
            .atomic()
            .cmd("FCALL")
            .arg("w")
            .arg(1)
            .arg("foo")
            .cmd("FCALL")
            .arg("w")
            .arg(1)
            .arg("bar")
            .query(&mut con)
            .unwrap();
        assert_eq!(replies, vec![Value::Int(1), Value::Int(1)], "[{backend}]");
    }
}
