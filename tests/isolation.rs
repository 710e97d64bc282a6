//! Regression tests against redis-server for what a transaction may rely on: WATCH sees a key
//! as changed exactly when a command changed it (pops that serve at once included, no-op
//! writes and the sources of STORE commands excluded), a command that answers an error changes
//! nothing (MSET with a cut-short pair, on one shard or several), a refused MULTI, WATCH,
//! DISCARD or EXEC inside MULTI fails the transaction, and LMOVE onto the same list keeps it.
//! Every reply is compared byte for byte with redis-server's; ringkv runs with two threads so
//! the keys below land on both shards.

use crate::common;

use common::{assert_scripts_match_redis, backends, words, Raw, RedisServer, Server};

/// Runs `script` over two connections: a line starts with `A ` or `B ` to say which one sends
/// it. Returns every line with its reply.
fn run_two(a: &mut Raw, b: &mut Raw, script: &[&str]) -> Vec<(String, Vec<u8>)> {
    for raw in [&mut *a, &mut *b] {
        raw.cmd(&[b"FLUSHALL"]);
        raw.reply();
    }
    script
        .iter()
        .map(|line| {
            let (who, command) = line.split_at(2);
            let raw = match who {
                "A " => &mut *a,
                "B " => &mut *b,
                _ => panic!("script line must start with 'A ' or 'B ': {line}"),
            };
            let args = words(command);
            let refs: Vec<&[u8]> = args.iter().map(|w| &w[..]).collect();
            raw.cmd(&refs);
            (line.to_string(), raw.reply())
        })
        .collect()
}

/// The WATCH check: `setup` on A, then A watches `keys`, B runs `command`, and A's
/// `MULTI; PING; EXEC` tells whether B's command signalled a watched key (nil) or not.
fn watch_case(setup: &[&str], keys: &str, command: &str) -> Vec<String> {
    let mut script: Vec<String> = setup.iter().map(|l| format!("A {l}")).collect();
    script.push(format!("A WATCH {keys}"));
    script.push(format!("B {command}"));
    script.extend(["A MULTI", "A PING", "A EXEC"].map(String::from));
    script
}

/// Runs every case on redis-server and ringkv, failing with each reply that differs.
fn assert_two_connection_cases_match(cases: &[Vec<String>]) {
    let redis = RedisServer::start();
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let (mut a, mut b) = (server.raw(), server.raw());
        let (mut ra, mut rb) = (Raw::connect(redis.port), Raw::connect(redis.port));
        let mut mismatches = Vec::new();
        for case in cases {
            let lines: Vec<&str> = case.iter().map(String::as_str).collect();
            let want = run_two(&mut ra, &mut rb, &lines);
            let have = run_two(&mut a, &mut b, &lines);
            for ((line, w), (_, h)) in want.iter().zip(&have) {
                if w != h {
                    mismatches.push(format!(
                        "{}\n  at {line}\n  redis : {:?}\n  ringkv: {:?}",
                        lines.join(" | "),
                        String::from_utf8_lossy(w),
                        String::from_utf8_lossy(h)
                    ));
                }
            }
        }
        common::assert_no_mismatches(backend, &mismatches);
    }
}

#[test]
fn pops_that_serve_at_once_signal_the_key() {
    let list = ["RPUSH l a b c"];
    let zset = ["ZADD z 1 a 2 b 3 c"];
    let both = ["RPUSH l a b c", "ZADD z 1 a 2 b 3 c"];
    assert_two_connection_cases_match(&[
        watch_case(&list, "l", "LMPOP 1 l LEFT"),
        watch_case(&list, "l", "LMPOP 2 nokey l RIGHT COUNT 2"),
        watch_case(&list, "l", "BLPOP l 0"),
        watch_case(&list, "l", "BRPOP nokey l 0"),
        watch_case(&list, "l", "BLMPOP 0 1 l LEFT"),
        watch_case(&list, "l", "BLMOVE l other LEFT RIGHT 0"),
        watch_case(&list, "other", "BLMOVE l other LEFT RIGHT 0"),
        watch_case(&list, "l", "BRPOPLPUSH l l 0"),
        watch_case(&list, "l", "LMOVE l l LEFT RIGHT"),
        watch_case(&list, "l", "LPOP l 2"),
        watch_case(&zset, "z", "ZMPOP 1 z MIN"),
        watch_case(&zset, "z", "ZMPOP 2 nokey z MAX COUNT 5"),
        watch_case(&zset, "z", "BZMPOP 0 1 z MIN"),
        watch_case(&zset, "z", "BZPOPMIN z 0"),
        watch_case(&zset, "z", "BZPOPMAX nokey z 0"),
        watch_case(&zset, "z", "ZPOPMIN z"),
        watch_case(&both, "l", "LMPOP 1 z LEFT"),
        watch_case(&both, "z", "ZMPOP 1 l MIN"),
    ]);
}

/// The setups of the two tables below.
const STRING: &[&str] = &["SET k 1"];
const SET: &[&str] = &["SADD s a b"];
const HASH: &[&str] = &["HSET h f v"];
const ZSET: &[&str] = &["ZADD z 1 a"];
const LIST: &[&str] = &["RPUSH l a b"];

#[test]
fn writes_that_change_nothing_leave_watch_intact() {
    assert_two_connection_cases_match(&[
        watch_case(STRING, "k", "SET k 1 NX"),
        watch_case(STRING, "k", "SET k 2 NX GET"),
        watch_case(STRING, "k", "SETNX k 2"),
        watch_case(STRING, "k", "SET k 2 XX"),
        watch_case(STRING, "nokey", "SET nokey 2 XX"),
        watch_case(STRING, "k", "GETEX k"),
        watch_case(STRING, "k", "EXPIRE k 100 XX"),
        watch_case(STRING, "k", "EXPIRE k 100 GT"),
        watch_case(STRING, "k", "PERSIST k"),
        watch_case(STRING, "k", "MSETNX other 1 k 2"),
        watch_case(STRING, "k", "MSETNX k 2"),
        watch_case(STRING, "k", "INCRBY k abc"),
        watch_case(STRING, "k", "LPUSH k x"),
        watch_case(STRING, "k", "SADD k x"),
        watch_case(STRING, "k", "RENAME k k"),
        watch_case(STRING, "k", "RENAMENX k k"),
        watch_case(STRING, "k", "BITOP AND w_3 k"),
        watch_case(STRING, "k", "BITOP AND k2 k"),
        watch_case(STRING, "k", "BITOP AND k2 nokey"),
        watch_case(STRING, "k", "COPY k j"),
        watch_case(STRING, "k", "MOVE k 1"),
        watch_case(
            &["SET k 1", "SELECT 1", "SET k 2", "SELECT 0"],
            "k",
            "MOVE k 1",
        ),
        watch_case(SET, "s", "SADD s a"),
        watch_case(SET, "s", "SREM s zz"),
        watch_case(SET, "s", "SUNIONSTORE w_3 s"),
        watch_case(SET, "s", "SINTERSTORE s2 s"),
        watch_case(SET, "s", "SDIFFSTORE s2 s s"),
        watch_case(SET, "s", "SMOVE s s2 zz"),
        watch_case(SET, "s", "SMOVE s s a"),
        watch_case(&["SADD s a b", "SADD s2 a"], "s2", "SMOVE s s2 a"),
        watch_case(HASH, "h", "HSETNX h f w"),
        watch_case(HASH, "h", "HDEL h nofield"),
        watch_case(ZSET, "z", "ZADD z NX 5 a"),
        watch_case(ZSET, "z", "ZADD z 1 a"),
        watch_case(ZSET, "z", "ZADD z XX 1 b"),
        watch_case(ZSET, "z", "ZREM z b"),
        watch_case(ZSET, "z", "ZUNIONSTORE z2 1 z"),
        watch_case(ZSET, "z", "ZRANGESTORE z2 z 0 -1"),
        watch_case(LIST, "l", "LREM l 0 zz"),
        watch_case(LIST, "l", "LINSERT l BEFORE zz x"),
        watch_case(LIST, "l", "LPUSHX nolist x"),
    ]);
}

#[test]
fn writes_that_change_a_key_signal_it() {
    assert_two_connection_cases_match(&[
        watch_case(STRING, "k", "SET k 1"),
        watch_case(STRING, "k", "SET k 2 XX"),
        watch_case(STRING, "k", "GETEX k EX 100"),
        watch_case(STRING, "k", "EXPIRE k 100"),
        watch_case(&["SET k 1 EX 100"], "k", "PERSIST k"),
        watch_case(STRING, "k", "INCRBY k 5"),
        watch_case(STRING, "k", "APPEND k x"),
        watch_case(STRING, "k", "RENAME k j"),
        watch_case(STRING, "j", "RENAME k j"),
        watch_case(STRING, "j", "COPY k j"),
        watch_case(STRING, "k", "MOVE k 1"),
        watch_case(STRING, "k", "BITOP NOT k k"),
        watch_case(STRING, "k2", "BITOP AND k2 k"),
        watch_case(&["SET k2 x"], "k2", "BITOP AND k2 nokey"),
        watch_case(SET, "s", "SADD s c"),
        watch_case(SET, "s", "SREM s a"),
        watch_case(SET, "s2", "SUNIONSTORE s2 s"),
        watch_case(&["SADD s a b", "SADD s2 x"], "s2", "SINTERSTORE s2 s nokey"),
        watch_case(SET, "s", "SMOVE s s2 a"),
        watch_case(SET, "s2", "SMOVE s s2 a"),
        watch_case(&["SADD s a"], "s", "SPOP s"),
        watch_case(HASH, "h", "HSET h f v"),
        watch_case(HASH, "h", "HSETNX h g w"),
        watch_case(HASH, "h", "HDEL h f"),
        watch_case(HASH, "h", "HINCRBY h n 1"),
        watch_case(ZSET, "z", "ZADD z 2 a"),
        watch_case(ZSET, "z", "ZINCRBY z 1 a"),
        watch_case(ZSET, "z", "ZREM z a"),
        watch_case(ZSET, "z2", "ZUNIONSTORE z2 1 z"),
        watch_case(ZSET, "z", "ZREMRANGEBYSCORE z -inf +inf"),
        watch_case(LIST, "l", "LSET l 0 x"),
        watch_case(LIST, "l", "LINSERT l BEFORE a x"),
        watch_case(LIST, "l", "LREM l 0 a"),
        watch_case(LIST, "l", "LTRIM l 0 -1"),
        watch_case(LIST, "l", "RPUSHX l c"),
        watch_case(LIST, "l", "SORT l ALPHA STORE l"),
        watch_case(STRING, "k", "DEL k"),
        watch_case(STRING, "k", "FLUSHDB"),
    ]);
}

#[test]
fn an_error_reply_changes_nothing() {
    assert_scripts_match_redis(&[
        &["MSET a 1 b", "EXISTS a b", "MSETNX a 1 b", "EXISTS a b"],
        &[
            "MSET {a}2 1 k1 zzz w_b 0 k0 1 k2",
            "MGET {a}2 k1 w_b k0 k2",
            "MSET k1 1 k2 2 k3 3 k4",
            "MGET k1 k2 k3 k4",
        ],
        &["MULTI", "MSET a 1 b", "SET c 1", "EXEC", "MGET a b c"],
        &[
            "SET k 1",
            "INCRBY k abc",
            "GET k",
            "RPUSH l a",
            "INCR l",
            "LRANGE l 0 -1",
        ],
    ]);
}

#[test]
fn a_refused_transaction_command_fails_the_transaction() {
    assert_scripts_match_redis(&[
        &["MULTI", "SET a 1", "MULTI k", "EXEC", "GET a"],
        &["MULTI", "SET a 1", "EXEC x", "EXEC", "GET a"],
        &["MULTI", "SET a 1", "WATCH", "EXEC", "GET a"],
        &["MULTI", "SET a 1", "DISCARD x", "EXEC", "GET a"],
        &["MULTI", "SET a 1", "UNWATCH x", "EXEC", "GET a"],
        &["MULTI", "SET a 1", "EXEC", "GET a"],
    ]);
}

#[test]
fn a_list_moved_onto_itself_keeps_its_expiry() {
    assert_scripts_match_redis(&[&[
        "RPUSH l a",
        "EXPIRE l 1000",
        "LMOVE l l LEFT RIGHT",
        "TTL l",
        "RPOPLPUSH l l",
        "TTL l",
        "BLMOVE l l RIGHT LEFT 0",
        "TTL l",
        "BRPOPLPUSH l l 0",
        "TTL l",
        "LRANGE l 0 -1",
        "RPUSH m a b",
        "EXPIRE m 1000",
        "LMOVE m m RIGHT LEFT",
        "TTL m",
        "LRANGE m 0 -1",
    ]]);
}
