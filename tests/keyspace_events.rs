//! Keyspace notifications against redis-server: every write command's events (which, in what
//! order, on which keys) equal Redis's, command by command. They come from the same place that
//! signals a key to WATCH, so a write path that forgets one shows up here.
//!
//! A subscriber listens on `__key*__:*` with `notify-keyspace-events KEA`. After each command
//! the commanding connection publishes a marker on another channel; everything the subscriber
//! receives before the marker belongs to that command. ringkv runs one thread here: with one
//! thread, events and the marker leave in the order they were made (across threads Redis does
//! not order them either).

use crate::common;

use common::{backends, encode, words, Raw, RedisServer, Server};

/// The commands: each line runs in order on one connection (state carries over).
const SCRIPT: &[&str] = &[
    // strings
    "SET k 1",
    "SET k 1 NX",
    "SET k 2 XX EX 100",
    "SET k 3 KEEPTTL",
    "SET k 4 GET",
    "SETNX k 5",
    "SETNX k2 5",
    "SETEX k 100 v",
    "PSETEX k 100000 v",
    "GETSET k v2",
    "GETDEL k2",
    "GETDEL k2",
    "GETEX k",
    "GETEX k EX 100",
    "GETEX k PERSIST",
    "GETEX k PX 0",
    "MSET a 1 b 2",
    "MSETNX a 1 c 3",
    "MSETNX c 3 d 4",
    "APPEND a x",
    "APPEND new x",
    "INCR n",
    "DECR n",
    "INCRBY n 5",
    "DECRBY n 2",
    "INCRBYFLOAT f 1.5",
    "INCRBY a x",
    "SETRANGE s 2 ab",
    "SETRANGE s 0 \"\"",
    "SETRANGE nos 0 \"\"",
    "SETBIT bits 7 1",
    "SETBIT bits 7 1",
    "BITOP OR dest bits a",
    "BITOP AND dest nokey",
    "BITOP AND nodest nokey",
    // keys and expiry
    "DEL a nokey",
    "UNLINK b",
    "EXPIRE c 100",
    "EXPIRE c 100 NX",
    "PEXPIRE c 100000 XX",
    "EXPIREAT c 1",
    "SET c 1",
    "PERSIST c",
    "EXPIRE c 100",
    "PERSIST c",
    "RENAME c c2",
    "RENAME c2 c2",
    "RENAMENX c2 d",
    "SET c 1",
    "RENAMENX c c3",
    "COPY c3 c4",
    "COPY c3 c4",
    "COPY c3 c4 REPLACE",
    "MOVE c4 1",
    "MOVE nokey 1",
    "TOUCH c3",
    "EXPIRE c3 0",
    // lists
    "LPUSH l a b c",
    "RPUSH l d",
    "LPUSHX l e",
    "RPUSHX nol e",
    "LPOP l",
    "RPOP l 2",
    "LPOP nol",
    "LSET l 0 z",
    "LINSERT l BEFORE z y",
    "LINSERT l BEFORE nothere y",
    "LREM l 0 y",
    "LREM l 0 q",
    "LTRIM l 0 0",
    "LTRIM l 5 10",
    "RPUSH l a b c",
    "LMOVE l l2 LEFT RIGHT",
    "RPOPLPUSH l2 l",
    "LMOVE l l RIGHT LEFT",
    "LMPOP 2 nol l LEFT COUNT 2",
    "BLPOP l 0",
    "RPUSH l x y",
    "BLMPOP 0 1 l RIGHT",
    "BRPOPLPUSH l l3 0",
    "BLMOVE l3 l LEFT LEFT 0",
    "RPOP l 5",
    // hashes
    "HSET h f v g w",
    "HSET h f v",
    "HSETNX h f x",
    "HSETNX h n x",
    "HMSET h a 1",
    "HDEL h zz",
    "HDEL h f g",
    "HINCRBY h i 2",
    "HINCRBYFLOAT h j 1.5",
    "HDEL h a n i j",
    // sets
    "SADD s a b c",
    "SADD s a",
    "SREM s zz",
    "SREM s a",
    "SPOP s 0",
    "SMOVE s s2 b",
    "SMOVE s s2 zz",
    "SMOVE s s c",
    "SADD s2 x",
    "SINTERSTORE s3 s2 s2",
    "SUNIONSTORE s3 nokey",
    "SDIFFSTORE s4 s2 nokey",
    "SPOP s4 10",
    "SREM s2 b x",
    // sorted sets
    "ZADD z 1 a 2 b 3 c",
    "ZADD z 1 a",
    "ZADD z NX 5 a",
    "ZADD z XX 5 zz",
    "ZADD z INCR 1 a",
    "ZINCRBY z 1 b",
    "ZREM z zz",
    "ZREM z c",
    "ZPOPMIN z",
    "ZPOPMAX z 5",
    "ZADD z 1 a 2 b 3 c 4 d",
    "ZREMRANGEBYSCORE z 10 20",
    "ZREMRANGEBYSCORE z 1 1",
    "ZREMRANGEBYRANK z 0 0",
    "ZREMRANGEBYLEX z [x [y",
    "ZREMRANGEBYLEX z - +",
    "ZADD z 1 a 2 b",
    "ZUNIONSTORE z2 1 z",
    "ZINTERSTORE z3 2 z nokey",
    "ZDIFFSTORE z4 1 z",
    "ZRANGESTORE z5 z 0 0",
    "ZRANGESTORE z5 z 5 6",
    "ZMPOP 1 z MIN",
    "BZPOPMIN z 0",
    "BZMPOP 0 2 nokey z2 MAX COUNT 5",
    "BZPOPMAX z4 0",
    // sort, streams, flush
    "RPUSH sl 3 1 2",
    "SORT sl STORE sorted",
    "SORT nol STORE sorted",
    "XADD x 1-1 f v",
    "XADD x 2-1 f v",
    "XDEL x 1-1",
    "XDEL x 9-9",
    "XTRIM x MAXLEN 0",
    "XGROUP CREATE x g $",
    "XGROUP CREATECONSUMER x g c",
    "XSETID x 5-5",
    "DEL x",
    "SET last 1",
    "FLUSHDB",
];

/// Runs SCRIPT against the server at `port`: for each command its reply and the events it
/// caused, in order.
fn events(port: u16) -> Vec<(String, Vec<u8>, Vec<Vec<u8>>)> {
    let mut cmd = Raw::connect(port);
    let mut sub = Raw::connect(port);
    cmd.cmd(&[b"FLUSHALL"]);
    cmd.reply();
    cmd.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA"]);
    assert_eq!(cmd.reply(), b"+OK\r\n");
    sub.cmd(&[b"PSUBSCRIBE", b"__key*__:*"]);
    sub.reply();
    sub.cmd(&[b"SUBSCRIBE", b"marker"]);
    sub.reply();
    let mut out = Vec::new();
    for (i, line) in SCRIPT.iter().enumerate() {
        let args = words(line);
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        cmd.cmd(&refs);
        let reply = cmd.reply();
        let marker = i.to_string();
        cmd.send(&encode(&[b"PUBLISH", b"marker", marker.as_bytes()]));
        cmd.reply();
        let mut seen = Vec::new();
        loop {
            let message = sub.reply();
            if message
                .ends_with(format!("$6\r\nmarker\r\n${}\r\n{marker}\r\n", marker.len()).as_bytes())
            {
                break;
            }
            seen.push(message);
        }
        out.push((line.to_string(), reply, seen));
    }
    out
}

fn show(events: &[Vec<u8>]) -> String {
    let parts: Vec<String> = events
        .iter()
        .map(|e| {
            let text = String::from_utf8_lossy(e);
            let fields: Vec<&str> = text
                .split("\r\n")
                .filter(|f| !f.starts_with(['$', '*']))
                .collect();
            fields[fields.len().saturating_sub(3)..].join(" ")
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[test]
fn every_write_publishes_the_events_redis_does() {
    let redis = RedisServer::start();
    let want = events(redis.port);
    for backend in backends() {
        let server = Server::start(1, backend, &[]);
        let have = events(server.port);
        let mismatches: Vec<String> = want
            .iter()
            .zip(&have)
            .filter(|(w, h)| w.1 != h.1 || w.2 != h.2)
            .map(|(w, h)| {
                format!(
                    "{}\n  redis : {:?} {}\n  ringkv: {:?} {}",
                    w.0,
                    String::from_utf8_lossy(&w.1),
                    show(&w.2),
                    String::from_utf8_lossy(&h.1),
                    show(&h.2)
                )
            })
            .collect();
        assert!(
            mismatches.is_empty(),
            "[{backend}] {} commands differ:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
}
