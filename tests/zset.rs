//! Sorted sets through the real server: 2 threads so keys land on different shards, blocking
//! pops woken from the other thread, encodings, RESP3 shapes, 7.2-only replies.

use crate::common;

use std::time::{Duration, Instant};

use common::{connections_on_both_threads, Server, KEY_SHARD0, KEY_SHARD1};
use redis::Value;

fn server() -> Server {
    Server::start(2, "epoll", &[])
}

fn strings(con: &mut redis::Connection, cmd: &mut redis::Cmd) -> Vec<String> {
    cmd.query(con).unwrap()
}

#[test]
fn cross_shard_algebra_and_store() {
    let s = server();
    let mut con = s.redis();
    let _: i64 = redis::cmd("ZADD")
        .arg(KEY_SHARD0)
        .arg(1)
        .arg("a")
        .arg(2)
        .arg("b")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg(KEY_SHARD1)
        .arg(10)
        .arg("b")
        .arg(20)
        .arg("c")
        .query(&mut con)
        .unwrap();
    let union = strings(
        &mut con,
        redis::cmd("ZUNION")
            .arg(2)
            .arg(KEY_SHARD0)
            .arg(KEY_SHARD1)
            .arg("WITHSCORES"),
    );
    assert_eq!(union, ["a", "1", "b", "12", "c", "20"]);
    let inter = strings(
        &mut con,
        redis::cmd("ZINTER").arg(2).arg(KEY_SHARD0).arg(KEY_SHARD1),
    );
    assert_eq!(inter, ["b"]);
    let n: i64 = redis::cmd("ZUNIONSTORE")
        .arg(KEY_SHARD1)
        .arg(2)
        .arg(KEY_SHARD0)
        .arg(KEY_SHARD1)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 3);
    let stored = strings(
        &mut con,
        redis::cmd("ZRANGE").arg(KEY_SHARD1).arg(0).arg(-1),
    );
    assert_eq!(stored, ["a", "b", "c"]);
    let n: i64 = redis::cmd("ZRANGESTORE")
        .arg(KEY_SHARD0)
        .arg(KEY_SHARD1)
        .arg(1)
        .arg(2)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 2);
    let stored = strings(
        &mut con,
        redis::cmd("ZRANGE").arg(KEY_SHARD0).arg(0).arg(-1),
    );
    assert_eq!(stored, ["b", "c"]);
    let card: i64 = redis::cmd("ZINTERCARD")
        .arg(2)
        .arg(KEY_SHARD0)
        .arg(KEY_SHARD1)
        .query(&mut con)
        .unwrap();
    assert_eq!(card, 2);
    let popped: Value = redis::cmd("ZMPOP")
        .arg(2)
        .arg("nokey")
        .arg(KEY_SHARD1)
        .arg("MAX")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        popped,
        Value::Array(vec![
            Value::BulkString(KEY_SHARD1.into()),
            Value::Array(vec![Value::Array(vec![
                Value::BulkString(b"c".to_vec()),
                Value::BulkString(b"20".to_vec())
            ])]),
        ])
    );
}

#[test]
fn bzpopmin_woken_from_the_other_thread() {
    let s = server();
    let (mut waiter, mut writer) = connections_on_both_threads(&s);
    for key in [KEY_SHARD0, KEY_SHARD1] {
        let start = Instant::now();
        let handle = {
            let key = key.to_string();
            std::thread::spawn(move || {
                let r: Value = redis::cmd("BZPOPMIN")
                    .arg("nokey{x}")
                    .arg(&key)
                    .arg(5)
                    .query(&mut waiter)
                    .unwrap();
                (r, waiter)
            })
        };
        // Let the waiter park first; the reply must arrive when the other thread writes.
        assert!(common::eventually(Duration::from_secs(5), || {
            let info: String = redis::cmd("INFO")
                .arg("clients")
                .query(&mut writer)
                .unwrap();
            !info.contains("blocked_clients:0") || start.elapsed() > Duration::from_millis(300)
        }));
        std::thread::sleep(Duration::from_millis(100));
        let _: i64 = redis::cmd("ZADD")
            .arg(key)
            .arg(3)
            .arg("m")
            .arg(4)
            .arg("n")
            .query(&mut writer)
            .unwrap();
        let (reply, w) = handle.join().unwrap();
        waiter = w;
        assert_eq!(
            reply,
            Value::Array(vec![
                Value::BulkString(key.into()),
                Value::BulkString(b"m".to_vec()),
                Value::BulkString(b"3".to_vec()),
            ])
        );
        assert!(start.elapsed() < Duration::from_secs(4));
        let left: i64 = redis::cmd("ZCARD").arg(key).query(&mut writer).unwrap();
        assert_eq!(left, 1);
        let _: i64 = redis::cmd("DEL").arg(key).query(&mut writer).unwrap();
    }
}

#[test]
fn blocking_pops_time_out_and_serve_in_order() {
    let s = server();
    let mut con = s.redis();
    let start = Instant::now();
    let r: Value = redis::cmd("BZPOPMAX")
        .arg(KEY_SHARD0)
        .arg(KEY_SHARD1)
        .arg("0.2")
        .query(&mut con)
        .unwrap();
    assert_eq!(r, Value::Nil);
    assert!(start.elapsed() >= Duration::from_millis(190));
    let r: Value = redis::cmd("BZMPOP")
        .arg("0.1")
        .arg(1)
        .arg(KEY_SHARD0)
        .arg("MIN")
        .query(&mut con)
        .unwrap();
    assert_eq!(r, Value::Nil);
    // Two waiters on one key: the first to block is served first.
    let mut first = s.redis();
    let mut second = s.redis();
    let a = std::thread::spawn(move || {
        let r: Value = redis::cmd("BZMPOP")
            .arg(5)
            .arg(1)
            .arg(KEY_SHARD1)
            .arg("MAX")
            .arg("COUNT")
            .arg(2)
            .query(&mut first)
            .unwrap();
        r
    });
    std::thread::sleep(Duration::from_millis(200));
    let b = std::thread::spawn(move || {
        let r: Value = redis::cmd("BZPOPMIN")
            .arg(KEY_SHARD1)
            .arg(5)
            .query(&mut second)
            .unwrap();
        r
    });
    std::thread::sleep(Duration::from_millis(200));
    let _: i64 = redis::cmd("ZADD")
        .arg(KEY_SHARD1)
        .arg(1)
        .arg("a")
        .arg(2)
        .arg("b")
        .arg(3)
        .arg("c")
        .query(&mut con)
        .unwrap();
    let ra = a.join().unwrap();
    let rb = b.join().unwrap();
    assert_eq!(
        ra,
        Value::Array(vec![
            Value::BulkString(KEY_SHARD1.into()),
            Value::Array(vec![
                Value::Array(vec![
                    Value::BulkString(b"c".to_vec()),
                    Value::BulkString(b"3".to_vec())
                ]),
                Value::Array(vec![
                    Value::BulkString(b"b".to_vec()),
                    Value::BulkString(b"2".to_vec())
                ]),
            ]),
        ])
    );
    assert_eq!(
        rb,
        Value::Array(vec![
            Value::BulkString(KEY_SHARD1.into()),
            Value::BulkString(b"a".to_vec()),
            Value::BulkString(b"1".to_vec()),
        ])
    );
}

#[test]
fn encodings_and_conversions() {
    let s = server();
    let mut con = s.redis();
    for i in 0..128 {
        let _: i64 = redis::cmd("ZADD")
            .arg("z")
            .arg(i)
            .arg(format!("m{i}"))
            .query(&mut con)
            .unwrap();
    }
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("z")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "listpack");
    let _: i64 = redis::cmd("ZADD")
        .arg("z")
        .arg(1000)
        .arg("m1000")
        .query(&mut con)
        .unwrap();
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("z")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "skiplist");
    let rank: i64 = redis::cmd("ZRANK")
        .arg("z")
        .arg("m1000")
        .query(&mut con)
        .unwrap();
    assert_eq!(rank, 128);
    // A long member forces the skiplist at once.
    let _: i64 = redis::cmd("ZADD")
        .arg("long")
        .arg(1)
        .arg("x".repeat(65))
        .query(&mut con)
        .unwrap();
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("long")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "skiplist");
    // A small stored result is compact again.
    let _: i64 = redis::cmd("ZRANGESTORE")
        .arg("small")
        .arg("z")
        .arg(0)
        .arg(2)
        .query(&mut con)
        .unwrap();
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("small")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "listpack");
}

#[test]
fn redis_7_2_replies() {
    let s = server();
    let mut raw = s.raw();
    raw.cmd(&[b"ZADD", b"z", b"1.1", b"a", b"2", b"b"]);
    assert_eq!(raw.reply(), b":2\r\n");
    raw.cmd(&[b"ZSCORE", b"z", b"a"]);
    assert_eq!(raw.reply(), b"$3\r\n1.1\r\n");
    raw.cmd(&[b"ZRANK", b"z", b"b", b"WITHSCORE"]);
    assert_eq!(raw.reply(), b"*2\r\n:1\r\n$1\r\n2\r\n");
    raw.cmd(&[b"ZREVRANK", b"z", b"b", b"withscore"]);
    assert_eq!(raw.reply(), b"*2\r\n:0\r\n$1\r\n2\r\n");
    raw.cmd(&[b"ZRANK", b"z", b"nosuch", b"WITHSCORE"]);
    assert_eq!(raw.reply(), b"*-1\r\n");
    raw.cmd(&[b"ZRANK", b"z", b"a", b"WITHSCORES"]);
    assert_eq!(raw.reply(), b"-ERR syntax error\r\n");
    raw.cmd(&[b"ZRANK", b"z", b"a", b"WITHSCORE", b"x"]);
    assert_eq!(
        raw.reply(),
        b"-ERR wrong number of arguments for 'zrank' command\r\n"
    );
    raw.cmd(&[b"ZINCRBY", b"z", b"0.2", b"a"]);
    assert_eq!(raw.reply(), b"$3\r\n1.3\r\n");
    raw.cmd(&[b"HELLO", b"3"]);
    raw.reply();
    raw.cmd(&[b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"]);
    assert_eq!(
        raw.reply(),
        b"*2\r\n*2\r\n$1\r\na\r\n,1.3\r\n*2\r\n$1\r\nb\r\n,2\r\n"
    );
    raw.cmd(&[b"ZPOPMIN", b"z"]);
    assert_eq!(raw.reply(), b"*2\r\n$1\r\na\r\n,1.3\r\n");
    raw.cmd(&[b"ZPOPMIN", b"z", b"1"]);
    assert_eq!(raw.reply(), b"*1\r\n*2\r\n$1\r\nb\r\n,2\r\n");
    raw.cmd(&[b"ZSCORE", b"z", b"b"]);
    assert_eq!(raw.reply(), b"_\r\n");
}

#[test]
fn hostile_counts_are_bounded() {
    let s = server();
    let mut raw = s.raw();
    raw.cmd(&[b"ZADD", b"z", b"1", b"a", b"2", b"b"]);
    raw.reply();
    raw.cmd(&[
        b"ZRANGE",
        b"z",
        b"-9223372036854775808",
        b"9223372036854775807",
    ]);
    assert_eq!(raw.reply(), b"*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    raw.cmd(&[
        b"ZRANGEBYSCORE",
        b"z",
        b"-inf",
        b"+inf",
        b"LIMIT",
        b"9223372036854775807",
        b"9223372036854775807",
    ]);
    assert_eq!(raw.reply(), b"*0\r\n");
    raw.cmd(&[b"ZPOPMIN", b"z", b"9223372036854775807"]);
    assert_eq!(
        raw.reply(),
        b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    raw.cmd(&[b"ZADD", b"z", b"1", b"a"]);
    raw.reply();
    raw.cmd(&[b"ZRANDMEMBER", b"z", b"-9223372036854775807"]);
    assert_eq!(raw.reply(), b"-ERR value is out of range\r\n");
    raw.cmd(&[b"ZMPOP", b"9223372036854775807", b"z", b"MIN"]);
    assert_eq!(raw.reply(), b"-ERR syntax error\r\n");
    raw.cmd(&[b"PING"]);
    assert_eq!(raw.reply(), b"+PONG\r\n");
}

#[test]
fn a_waiter_that_left_takes_nothing() {
    for backend in common::backends() {
        let s = Server::start(2, backend, &[]);
        let mut con = s.redis();
        let blocked = |con: &mut redis::Connection, n: usize| {
            common::eventually(Duration::from_secs(5), || {
                let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
                info.contains(&format!("blocked_clients:{n}\r"))
            })
        };
        {
            let mut raw = s.raw();
            raw.cmd(&[
                b"BZPOPMIN",
                KEY_SHARD1.as_bytes(),
                KEY_SHARD0.as_bytes(),
                b"0",
            ]);
            assert!(blocked(&mut con, 1), "[{backend}] never blocked");
        }
        assert!(
            blocked(&mut con, 0),
            "[{backend}] still blocked after the peer left"
        );
        let _: i64 = redis::cmd("ZADD")
            .arg(KEY_SHARD0)
            .arg(1)
            .arg("kept")
            .query(&mut con)
            .unwrap();
        let n: i64 = redis::cmd("ZCARD").arg(KEY_SHARD0).query(&mut con).unwrap();
        assert_eq!(n, 1, "[{backend}]");
    }
}

/// Many small algebra calls in a row on both backends (the shape of Redis's ZDIFF fuzzing).
#[test]
fn zdiff_fuzz_matches_a_model() {
    for backend in common::backends() {
        let s = Server::start(2, backend, &[]);
        let mut con = s.redis();
        let mut seed: u64 = 42;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..60 {
            let sets = next(10) + 1;
            let mut want: std::collections::BTreeSet<String> = Default::default();
            let mut keys = Vec::new();
            for i in 0..sets {
                let key = format!("zset_{i}{{t}}");
                let _: i64 = redis::cmd("DEL").arg(&key).query(&mut con).unwrap();
                for _ in 0..next(60) {
                    let ele = format!("e{}", next(200));
                    let _: i64 = redis::cmd("ZADD")
                        .arg(&key)
                        .arg(next(100))
                        .arg(&ele)
                        .query(&mut con)
                        .unwrap();
                    if i == 0 {
                        want.insert(ele);
                    } else {
                        want.remove(&ele);
                    }
                }
                keys.push(key);
            }
            let mut got: Vec<String> = redis::cmd("ZDIFF")
                .arg(keys.len())
                .arg(&keys)
                .query(&mut con)
                .unwrap();
            got.sort();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "[{backend}]");
        }
    }
}
