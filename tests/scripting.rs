//! Lua scripting against the real binary: reply conversions and error texts compared byte for
//! byte with redis-server, EVALSHA/NOSCRIPT and the script cache, scripts inside MULTI, the
//! atomicity of a script whose keys live on different shards, and a busy script that other
//! clients see as `-BUSY` until SCRIPT KILL (or `-UNKILLABLE` once it wrote).

use crate::common;

use std::thread;
use std::time::Duration;

use common::{assert_scripts_match_redis, backends, eventually, Server, KEY_SHARD0, KEY_SHARD1};

#[test]
fn conversions_match_redis() {
    assert_scripts_match_redis(&[&[
        "EVAL \"return 1\" 0",
        "EVAL \"return 3.99\" 0",
        "EVAL \"return -3.99\" 0",
        "EVAL \"return 'text'\" 0",
        "EVAL \"return true\" 0",
        "EVAL \"return false\" 0",
        "EVAL \"return nil\" 0",
        "EVAL \"return {1,2,3.9,'x',nil,4}\" 0",
        "EVAL \"return {1,{2,{3}},'x'}\" 0",
        "EVAL \"return {ok='fine'}\" 0",
        "EVAL \"return {err='My Error'}\" 0",
        "EVAL \"return {err=1}\" 0",
        "EVAL \"return redis.status_reply('x')\" 0",
        "EVAL \"return redis.error_reply('My Error')\" 0",
        "EVAL \"return redis.error_reply('foo')\" 0",
        "EVAL \"return redis.error_reply('-ERR x')\" 0",
        "EVAL \"return redis.error_reply()\" 0",
        "EVAL \"return {double=3.5}\" 0",
        "EVAL \"return {map={a=1}}\" 0",
        "EVAL \"return {set={a=true}}\" 0",
        "EVAL \"redis.setresp(3); return true\" 0",
        "EVAL \"redis.setresp(3); return false\" 0",
        "EVAL \"return KEYS\" 2 a b c",
        "EVAL \"return ARGV\" 2 a b c",
        "HSET h a 1",
        "EVAL \"return redis.call('hgetall','h')\" 0",
        "EVAL \"redis.setresp(3); return redis.call('hgetall','h')\" 0",
        "EVAL \"return redis.call('get','nokey')\" 0",
        "EVAL \"return tostring(redis.call('get','nokey'))\" 0",
        "EVAL \"return redis.call('set','n',1.5)\" 0",
        "GET n",
        "EVAL \"return redis.sha1hex('')\" 0",
        "EVAL \"return redis.sha1hex(1)\" 0",
        "EVAL \"return redis.log(redis.LOG_WARNING,'hi')\" 0",
        "EVAL \"return type(redis.pcall('nosuch'))\" 0",
        "EVAL \"local ok, e = pcall(redis.call,'nosuch'); return e\" 0",
        "EVAL \"return loadstring\" 0",
        // A set sorted BY a constant comes out in ALPHA order inside a script.
        "SADD myset a b c d e f g h i l m n o p q r s t u v z aa aaa azz",
        "EVAL \"return redis.call('sort',KEYS[1],'by','_')\" 1 myset",
        "EVAL \"return redis.call('sort_ro',KEYS[1],'by','_','desc')\" 1 myset",
        "EVAL \"return redis.call('sort',KEYS[1],'by','_','get','#','get','_:*')\" 1 myset",
    ]]);
}

#[test]
fn errors_match_redis() {
    assert_scripts_match_redis(&[&[
        "EVAL \"return (\" 0",
        "EVAL \"error('boom')\" 0",
        "EVAL \"error()\" 0",
        "EVAL \"error({err='CUSTOM x'})\" 0",
        "SET s x",
        "EVAL \"return redis.call('incr','s')\" 0",
        "EVAL \"return redis.pcall('incr','s')\" 0",
        "EVAL \"return redis.call('nosuch')\" 0",
        "EVAL \"return redis.call('set','x')\" 0",
        "EVAL \"return redis.call()\" 0",
        "EVAL \"return redis.call(1,{})\" 0",
        "EVAL \"return redis.call('blpop','nolist',0)\" 0",
        "EVAL \"return redis.call('eval','return 1','0')\" 0",
        "EVAL \"return redis.call('multi')\" 0",
        "EVAL \"return redis.sha1hex()\" 0",
        "EVAL \"redis.setresp(4)\" 0",
        "EVAL \"a=1\" 0",
        "EVAL \"return a\" 0",
        "EVAL \"return os\" 0",
        "EVAL \"redis = 1\" 0",
        "EVAL \"#!not-lua\nreturn 1\" 0",
        "EVAL \"#!lua badger=data\nreturn 1\" 0",
        "EVAL \"#!lua flags=allow-oom,what?\nreturn 1\" 0",
        "EVAL \"#!lua flags=no-writes\nreturn redis.call('set','x','y')\" 0",
        "EVAL \"#!lua\nerror('x')\" 0",
        "EVAL \"local x = 1 return redis.call('nosuch')\" 0",
        "EVAL_RO \"return redis.call('set',KEYS[1],'v')\" 1 k",
        "EVAL_RO \"return redis.call('get',KEYS[1])\" 1 k",
        "EVAL \"return 1\" -1",
        "EVAL \"return 1\" 3 a",
        "EVAL \"return 1\" x",
        "EVAL",
        "SCRIPT KILL",
        "SCRIPT FLUSH x",
        "SCRIPT foo",
        "SCRIPT EXISTS",
        "SCRIPT LOAD",
        "SCRIPT HELP",
    ]]);
}

#[test]
fn evalsha_and_the_script_cache_match_redis() {
    assert_scripts_match_redis(&[&[
        "SCRIPT FLUSH",
        "EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0",
        "EVALSHA abc 0",
        "SCRIPT LOAD \"return 1\"",
        "SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db E0E1F9FABFC9D4800C877A703B823AC0578FF8DB ab",
        "EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0",
        "EVALSHA_RO E0E1F9FABFC9D4800C877A703B823AC0578FF8DB 0",
        "EVAL \"return ARGV[1]\" 0 hello",
        "EVALSHA 0a6d3a3a4a4e6e4ab2a0ba8a89b26e4d3d76b4ab 0 x",
        "SCRIPT LOAD \"return (\"",
        "SCRIPT FLUSH ASYNC",
        "EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0",
        "SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
    ]]);
}

/// EVAL's `#!lua flags=...`: the declared flags replace the command's (an undeclared
/// `allow-oom` refuses the script out of memory, `no-writes` lifts that and refuses writes),
/// for a body and for a cached script run by sha; bad shebangs; XREAD BLOCK from a script.
#[test]
fn shebang_flags_match_redis() {
    let oom_free = "#!lua flags=allow-oom\nredis.call('set','x',1) return 1";
    let plain = "#!lua\nreturn 1";
    let evalsha = |body: &str| format!("EVALSHA {} 1 x", sha1_of(body));
    let script: Vec<String> = [
        "SET x 123".to_string(),
        format!("SCRIPT LOAD \"{oom_free}\""),
        format!("SCRIPT LOAD \"{plain}\""),
        "CONFIG SET maxmemory 1".into(),
        "EVAL \"redis.call('set','x',1) return 1\" 1 x".into(),
        "EVAL \"return redis.call('get','x')\" 1 x".into(),
        "EVAL \"#!lua flags=\nreturn 1\" 0".into(),
        format!("EVAL \"{plain}\" 0"),
        format!("EVAL_RO \"{plain}\" 0"),
        format!("EVAL \"{oom_free}\" 1 x"),
        evalsha(oom_free),
        evalsha(plain),
        "EVAL \"#!lua flags=no-writes\nreturn redis.call('get','x')\" 0".into(),
        "EVAL_RO \"#!lua flags=no-writes\nreturn redis.call('get','x')\" 1 x".into(),
        "EVAL \"#!lua flags=no-writes,allow-oom\nreturn redis.call('get','x')\" 0".into(),
        "EVAL_RO \"return redis.call('get','x')\" 1 x".into(),
        "MULTI".into(),
        format!("EVAL \"{plain}\" 0"),
        "EXEC".into(),
        "CONFIG SET maxmemory 0".into(),
        format!("EVAL_RO \"{plain}\" 0"),
        format!("EVAL \"{plain}\" 0"),
        "EVAL \"#!lua flags=no-writes\nreturn redis.call('set','x',1)\" 1 x".into(),
        "EVAL \"#!lua flags=allow-stale,no-cluster,allow-cross-slot-keys\nreturn 2\" 0".into(),
        "EVAL \"#!lua\" 0".into(),
        "EVAL \"#!lua flags=no-writes,,allow-oom\nreturn 1\" 0".into(),
        "EVAL \"#!lua flags=bogus\nreturn 1\" 0".into(),
        "EVAL \"#!python flags=no-writes\nreturn 1\" 0".into(),
        "EVAL \"#!lua name=x\nreturn 1\" 0".into(),
        "EVAL \"#!lua  flags=no-writes \n\nerror('x')\" 0".into(),
        "GET x".into(),
        "XGROUP CREATE s g $ MKSTREAM".into(),
        "EVAL \"return redis.pcall('xread','COUNT',1,'STREAMS','s','$')\" 1 s".into(),
        "EVAL \"return redis.pcall('xread','BLOCK',0,'STREAMS','s','$')\" 1 s".into(),
        "EVAL \"return redis.pcall('XREADGROUP','GROUP','g','c','BLOCK',0,'STREAMS','s','>')\" 1 s"
            .into(),
        "EVAL \"return redis.pcall('xreadgroup','group','g','c','STREAMS','s','>')\" 1 s".into(),
    ]
    .into();
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    assert_scripts_match_redis(&[&lines]);
}

#[test]
fn scripts_inside_multi_match_redis() {
    assert_scripts_match_redis(&[&[
        "MULTI",
        "EVAL \"return redis.call('incr',KEYS[1])\" 1 foo",
        "SET bar 10",
        "EVAL \"return redis.call('incrby',KEYS[1],ARGV[1]) + redis.call('incr',KEYS[2])\" 2 bar foo",
        "EVAL \"return redis.call('nosuch')\" 0",
        "EXEC",
        "MGET foo bar",
        "EVAL \"redis.call('select','5'); return redis.call('set','k','v')\" 0",
        "EXISTS k",
    ]]);
}

/// A script incrementing keys on both shards while another client reads them with a script:
/// the reader never sees one incremented without the other.
#[test]
fn cross_shard_script_is_atomic() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let writer_port = server.port;
        let writer = thread::spawn(move || {
            let client = redis::Client::open(format!("redis://127.0.0.1:{writer_port}/")).unwrap();
            let mut con = client.get_connection().unwrap();
            for _ in 0..500 {
                let _: i64 = redis::cmd("EVAL")
                    .arg("redis.call('incr', KEYS[1]); return redis.call('incr', KEYS[2])")
                    .arg(2)
                    .arg(KEY_SHARD0)
                    .arg(KEY_SHARD1)
                    .query(&mut con)
                    .unwrap();
            }
        });
        let mut reader = server.redis();
        let mut reads = 0;
        while !writer.is_finished() || reads == 0 {
            let (a, b): (Option<i64>, Option<i64>) = redis::cmd("EVAL")
                .arg("return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}")
                .arg(2)
                .arg(KEY_SHARD0)
                .arg(KEY_SHARD1)
                .query(&mut reader)
                .unwrap();
            assert_eq!(a, b, "[{backend}] a script saw half of another script");
            reads += 1;
        }
        writer.join().unwrap();
        let final_values: Vec<i64> = redis::cmd("MGET")
            .arg(KEY_SHARD0)
            .arg(KEY_SHARD1)
            .query(&mut reader)
            .unwrap();
        assert_eq!(final_values, vec![500, 500], "[{backend}]");
    }
}

/// Sends EVAL on a raw connection and returns it, the reply still to come.
fn start_script(server: &Server, body: &str) -> common::Raw {
    let mut raw = server.raw();
    raw.cmd(&[b"EVAL", body.as_bytes(), b"0"]);
    raw
}

fn sha1_of(body: &str) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

#[test]
fn busy_script_is_killed_and_others_see_busy() {
    for backend in backends() {
        let server = Server::start(2, backend, &["--busy-reply-threshold", "100"]);
        let body = "local i = 0 while true do i = i + 1 end";
        let mut runner = start_script(&server, body);
        let mut other = server.raw();
        let busy = eventually(Duration::from_secs(10), || {
            other.cmd(&[b"PING"]);
            other.reply() == BUSY
        });
        assert!(busy, "[{backend}] PING never saw BUSY");
        other.cmd(&[b"GET", b"foo"]);
        assert_eq!(other.reply(), BUSY, "[{backend}]");
        other.cmd(&[b"SCRIPT", b"KILL"]);
        assert_eq!(other.reply(), b"+OK\r\n", "[{backend}]");
        let expected = format!(
            "-ERR Script killed by user with SCRIPT KILL... script: {}, on @user_script:1.\r\n",
            sha1_of(body)
        );
        assert_eq!(
            String::from_utf8_lossy(&runner.reply()),
            expected,
            "[{backend}]"
        );
        other.cmd(&[b"PING"]);
        assert_eq!(other.reply(), b"+PONG\r\n", "[{backend}]");
        other.cmd(&[b"SCRIPT", b"KILL"]);
        assert_eq!(
            other.reply(),
            b"-NOTBUSY No scripts in execution right now.\r\n",
            "[{backend}]"
        );
    }
}

#[test]
fn busy_script_that_wrote_is_unkillable() {
    for backend in backends() {
        let mut server = Server::start(2, backend, &["--busy-reply-threshold", "100"]);
        let _runner = start_script(&server, "redis.call('set','x','y') while true do end");
        let mut other = server.raw();
        let busy = eventually(Duration::from_secs(10), || {
            other.cmd(&[b"SCRIPT", b"KILL"]);
            other.reply().starts_with(b"-UNKILLABLE")
        });
        assert!(busy, "[{backend}] SCRIPT KILL never answered UNKILLABLE");
        other.cmd(&[b"MULTI"]);
        assert_eq!(
            other.reply(),
            b"+OK\r\n",
            "[{backend}] MULTI is allowed while busy"
        );
        other.cmd(&[b"DISCARD"]);
        assert_eq!(other.reply(), b"+OK\r\n", "[{backend}]");
        other.cmd(&[b"SHUTDOWN", b"NOSAVE"]);
        let exited = eventually(Duration::from_secs(10), || !server.alive());
        assert!(
            exited,
            "[{backend}] SHUTDOWN NOSAVE did not stop the server"
        );
    }
}

#[test]
fn resp3_client_gets_resp3_conversions() {
    let server = Server::start(2, "uring", &[]);
    let mut raw = server.raw();
    raw.cmd(&[b"HELLO", b"3"]);
    raw.reply();
    raw.cmd(&[b"EVAL", b"return {double=1.5}", b"0"]);
    assert_eq!(raw.reply(), b",1.5\r\n");
    raw.cmd(&[b"EVAL", b"return false", b"0"]);
    assert_eq!(raw.reply(), b"_\r\n");
    raw.cmd(&[b"HSET", b"h", b"f", b"v"]);
    raw.reply();
    raw.cmd(&[
        b"EVAL",
        b"redis.setresp(3); return redis.call('hgetall','h')",
        b"0",
    ]);
    assert_eq!(raw.reply(), b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
}

#[test]
fn exec_while_a_script_is_busy_aborts_the_transaction() {
    let server = Server::start(2, "uring", &["--busy-reply-threshold", "100"]);
    let mut tx = server.raw();
    tx.cmd(&[b"MULTI"]);
    assert_eq!(tx.reply(), b"+OK\r\n");
    tx.cmd(&[b"INCR", b"xx"]);
    assert_eq!(tx.reply(), b"+QUEUED\r\n");
    let _runner = start_script(&server, "while true do end");
    let mut other = server.raw();
    let busy = eventually(Duration::from_secs(10), || {
        other.cmd(&[b"PING"]);
        other.reply() == BUSY
    });
    assert!(busy, "PING never saw BUSY");
    tx.cmd(&[b"EXEC"]);
    let mut expected = b"-EXECABORT Transaction discarded because of: ".to_vec();
    expected.extend_from_slice(&BUSY[1..]);
    assert_eq!(
        String::from_utf8_lossy(&tx.reply()),
        String::from_utf8_lossy(&expected)
    );
    other.cmd(&[b"SCRIPT", b"KILL"]);
    assert_eq!(other.reply(), b"+OK\r\n");
    // The transaction is gone: the client is out of MULTI and nothing ran.
    // (The killed script stops at its next hook, so BUSY may still come for a moment.)
    let done = eventually(Duration::from_secs(10), || {
        tx.cmd(&[b"GET", b"xx"]);
        tx.reply() != BUSY
    });
    assert!(done, "still busy after SCRIPT KILL");
    tx.cmd(&[b"GET", b"xx"]);
    assert_eq!(tx.reply(), b"$-1\r\n");
}
