//! Numbers at the edges: i64::MIN/MAX, overflowing counts, offsets and lengths near
//! proto-max-bulk-len, for every command that takes a number. Each line goes to redis-server
//! and to ringkv; replies must be byte-identical and every ringkv reply must come quickly
//! (no huge allocation or loop behind a client-sent number).

use crate::common;

use std::time::{Duration, Instant};

use common::{words, Raw, RedisServer, Server};

const MAX: &str = "9223372036854775807";
const MIN: &str = "-9223372036854775808";

/// Scripts as lines; `MAX`/`MIN` stand for i64's extremes. Each script starts on an empty db 0.
const SCRIPTS: &[&[&str]] = &[
    // strings: ranges, offsets, lengths
    &[
        "SET s hello",
        "GETRANGE s 0 MAX",
        "GETRANGE s MIN -1",
        "GETRANGE s MIN MAX",
        "GETRANGE s MAX MIN",
        "GETRANGE s MAX MAX",
        "GETRANGE s -1 MIN",
        "GETRANGE s 0 9223372036854775808",
        "GETRANGE s -9223372036854775809 0",
        "GETRANGE nokey MIN MAX",
        "SUBSTR s MIN MAX",
        "SETRANGE s MAX x",
        "SETRANGE s MIN x",
        "SETRANGE s -1 x",
        "SETRANGE s 536870912 x",
        "SETRANGE s 536870911 xy",
        "SETRANGE s 4294967296 x",
        "SETRANGE s 9223372036854775808 x",
        "SETRANGE s MAX \"\"",
        "SETRANGE nokey MAX \"\"",
        "SETRANGE nokey 536870912 \"\"",
        "EXISTS nokey",
        "STRLEN s",
        "APPEND s x",
    ],
    // counters
    &[
        "SET n 0",
        "INCRBY n MAX",
        "INCRBY n 1",
        "INCR n",
        "DECRBY n MIN",
        "SET n 0",
        "DECRBY n MIN",
        "DECRBY n MAX",
        "DECRBY n 2",
        "DECR n",
        "INCRBY n MIN",
        "SET n -1",
        "INCRBY n MIN",
        "INCRBY n MIN",
        "INCRBY n 9223372036854775808",
        "DECRBY n -9223372036854775809",
        "SET n MIN",
        "DECR n",
        "INCRBY n -1",
        "SET n MAX",
        "INCR n",
        "DECRBY n -1",
        "GET n",
        "SET n 9223372036854775808",
        "INCR n",
        "SET f 1.5",
        "INCRBYFLOAT f 1.5",
        "INCRBYFLOAT f 1e-400",
        "INCRBYFLOAT f inf",
        "INCRBYFLOAT f -inf",
        "INCRBYFLOAT f nan",
        "SET g inf",
        "INCRBYFLOAT g 1",
        "SET g nan",
        "INCRBYFLOAT g 1",
    ],
    // hashes and sorted-set scores
    &[
        "HINCRBY h f MAX",
        "HINCRBY h f 1",
        "HINCRBY h f MIN",
        "HINCRBY h f MIN",
        "HINCRBY h g MIN",
        "HINCRBY h g -1",
        "HINCRBY h g 9223372036854775808",
        "HGET h f",
        "HINCRBYFLOAT h x 1.5",
        "HINCRBYFLOAT h x inf",
        "HINCRBYFLOAT h x nan",
        "HSET h i inf",
        "HINCRBYFLOAT h i 1",
        "HINCRBY h i 1",
        "ZINCRBY z 1e308 m",
        "ZINCRBY z 1e308 m",
        "ZSCORE z m",
        "ZINCRBY z -inf m",
        "ZINCRBY z nan m",
        "ZADD z inf n",
        "ZINCRBY z -inf n",
        "ZADD z nan q",
    ],
    // lists
    &[
        "RPUSH l a b c a",
        "LRANGE l MIN MAX",
        "LRANGE l MAX MIN",
        "LRANGE l MIN MIN",
        "LRANGE l -1 MAX",
        "LRANGE l 9223372036854775808 0",
        "LINDEX l MIN",
        "LINDEX l MAX",
        "LINDEX l -4",
        "LSET l MAX x",
        "LSET l MIN x",
        "LSET l -4 x",
        // RANK MIN: ringkv answers as 7.2 (out of range), see tests/regress_parsing.rs.
        "LPOS l a RANK -9223372036854775807",
        "LPOS l a RANK MAX",
        "LPOS l a RANK 0",
        "LPOS l a COUNT MAX",
        "LPOS l a COUNT -1",
        "LPOS l a MAXLEN MAX",
        "LPOS l a MAXLEN -1",
        "LPOS l a COUNT 0 MAXLEN 0",
        "LPOP l -1",
        "LPOP l 0",
        "RPOP l MIN",
        "LPOP l MAX",
        "RPUSH l a b c d",
        "LREM l MIN a",
        "LREM l MAX b",
        "LMPOP 1 l LEFT COUNT MAX",
        "LMPOP 1 l LEFT COUNT 0",
        "LMPOP 1 l LEFT COUNT -1",
        "LMPOP MAX l LEFT",
        "LMPOP -1 l LEFT",
        "RPUSH l a b c d",
        "LTRIM l MIN MAX",
        "LRANGE l 0 -1",
        "LTRIM l MAX MIN",
        "EXISTS l",
        "RPUSH l a",
        "LTRIM l -1 MAX",
        "LRANGE l 0 -1",
    ],
    // sorted sets
    &[
        "ZADD z 1 a 2 b 3 c",
        "ZRANGE z MIN MAX",
        "ZRANGE z MAX MIN",
        "ZRANGE z MIN MAX REV",
        "ZRANGE z MIN MAX WITHSCORES",
        "ZRANGE z -inf +inf BYSCORE LIMIT 0 MIN",
        "ZRANGE z -inf +inf BYSCORE LIMIT MAX MAX",
        "ZRANGE z -inf +inf BYSCORE LIMIT MIN 1",
        "ZRANGE z - + BYLEX LIMIT 1 MAX",
        "ZRANGEBYSCORE z -inf +inf LIMIT 0 -1",
        "ZRANGEBYSCORE z -inf +inf LIMIT MAX 1",
        "ZREVRANGE z MIN MAX",
        "ZREMRANGEBYRANK z MAX MIN",
        "ZREMRANGEBYRANK z MIN -3",
        "ZRANGE z 0 -1",
        "ZPOPMIN z -1",
        "ZPOPMIN z 0",
        "ZPOPMAX z MAX",
        "ZADD z 1 a 2 b",
        "ZPOPMIN z MIN",
        "ZMPOP 1 z MIN COUNT MAX",
        "ZADD z 1 a 2 b",
        "ZMPOP 1 z MIN COUNT 0",
        "ZMPOP 1 z MIN COUNT -1",
        "ZMPOP MAX z MIN",
        "ZRANDMEMBER z MIN",
        "ZADD one 1 a",
        "ZRANDMEMBER one MAX",
        "ZRANDMEMBER one MAX WITHSCORES",
        "ZRANDMEMBER z 0",
        "ZRANDMEMBER z -4611686018427387904 WITHSCORES",
        "ZRANDMEMBER z 4611686018427387904 WITHSCORES",
        "ZRANDMEMBER z MAX WITHSCORES",
        "ZRANDMEMBER z MIN WITHSCORES",
        "ZRANGESTORE dst z MIN MAX",
        "ZADD z 1e400 x",
        "ZADD z -1e400 x",
        "ZADD z 1e-400 x",
        "ZADD z 1e-310 x",
        "ZINCRBY z 1e400 x",
        "ZADD z 1.7976931348623157e308 y",
        "ZADD z 1 b",
        "ZCOUNT z MIN MAX",
        "ZCOUNT z -inf +inf",
        "ZRANGEBYSCORE z MIN MAX",
    ],
    // sets and hashes: random members
    &[
        "SADD s a b c",
        "SRANDMEMBER s MIN",
        "SADD one a",
        "SRANDMEMBER one MAX",
        "SPOP one MAX",
        "SRANDMEMBER s 0",
        "SRANDMEMBER s 9223372036854775808",
        "SPOP s -1",
        "SPOP s MIN",
        "SPOP s 0",
        "SINTERCARD 1 s LIMIT -1",
        "SINTERCARD 1 s LIMIT MAX",
        "SINTERCARD MAX s",
        "SINTERCARD 0 s",
        "SINTERCARD -1 s",
        "HSET h a 1 b 2",
        "HRANDFIELD h MIN",
        "HRANDFIELD h MAX",
        "HRANDFIELD h 0",
        "HRANDFIELD h -4611686018427387904 WITHVALUES",
        "HRANDFIELD h 4611686018427387904 WITHVALUES",
        "HRANDFIELD h MAX WITHVALUES",
        "HRANDFIELD h MIN WITHVALUES",
        "EXISTS s",
    ],
    // scans
    &[
        "MSET a 1 b 2 c 3",
        "SADD s a",
        "HSET h a 1",
        "ZADD z 1 a",
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT -1",
        "SCAN 0 COUNT MIN",
        "SCAN 0 COUNT 9223372036854775808",
        "SCAN 18446744073709551616",
        "SSCAN s 0 COUNT MAX",
        "SSCAN s 0 COUNT 0",
        "SSCAN s 0 COUNT -1",
        "HSCAN h 0 COUNT MAX",
        "HSCAN h 0 COUNT 0",
        "HSCAN h 0 COUNT MIN",
        "ZSCAN z 0 COUNT MAX",
        "ZSCAN z 0 COUNT -1",
        "ZSCAN z 18446744073709551615",
    ],
    // expiry
    &[
        "SET k v",
        "EXPIRE k MAX",
        "EXPIRE k 9223372036854775",
        "EXPIRE k 9223372036854774",
        "TTL k",
        "PEXPIRE k MAX",
        "PEXPIRE k MIN",
        "EXISTS k",
        "SET k v",
        "EXPIRE k MIN",
        "EXISTS k",
        "SET k v",
        "EXPIREAT k MAX",
        "PEXPIREAT k MAX",
        "PEXPIREAT k 9223372036854775806",
        "EXPIRE k 9223372036854775808",
        "SET k v EX MAX",
        "SET k v PX MAX",
        "SET k v EXAT MAX",
        "SET k v PXAT MAX",
        "SET k v EX 9223372036854775",
        "SET k v EX MIN",
        "SET k v PX 0",
        "SETEX k MAX v",
        "SETEX k 9223372036854775 v",
        "PSETEX k MAX v",
        "PSETEX k MIN v",
        "GETEX k EX MAX",
        "GETEX k PX MAX",
        "GETEX k EXAT MAX",
        "GETEX k PXAT MAX",
        "GETEX k EX MIN",
        "TTL k",
    ],
    // bits
    &[
        "SET s foobar",
        "BITCOUNT s 0 MAX",
        "BITCOUNT s MIN -1",
        "BITCOUNT s MIN MAX",
        "BITCOUNT s MAX MIN",
        "BITCOUNT s MIN MAX BIT",
        "BITCOUNT s 0 MAX BIT",
        "BITCOUNT s 9223372036854775808 0",
        "BITPOS s 1 MIN MAX",
        "BITPOS s 0 0 MAX",
        "BITPOS s 0 MIN MAX BIT",
        "BITPOS s 1 MAX",
        "BITPOS s 0 MAX MAX BIT",
        "GETBIT s MAX",
        "GETBIT s MIN",
        "GETBIT s -1",
        "GETBIT s 4294967295",
        "GETBIT s 4294967296",
        "SETBIT s MAX 1",
        "SETBIT s MIN 1",
        "SETBIT s 4294967296 1",
        "SETBIT s 0 MAX",
        "STRLEN s",
    ],
    // databases, clients, objects
    &[
        "SET k v",
        "SELECT MAX",
        "SELECT 9223372036854775808",
        "SELECT MIN",
        "SELECT 16",
        "MOVE k MAX",
        "MOVE k MIN",
        "MOVE k 9223372036854775808",
        "SWAPDB 0 MAX",
        "SWAPDB MIN 0",
        "SWAPDB 0 9223372036854775808",
        "COPY k k2 DB MAX",
        "COPY k k2 DB MIN",
        "OBJECT FREQ k",
        "OBJECT IDLETIME k",
        "OBJECT FREQ nokey",
        "CLIENT KILL ID MAX",
        "CLIENT KILL ID MIN",
        "CLIENT KILL ID -1",
        "CLIENT KILL ID 0",
        "CLIENT KILL ID 18446744073709551615",
        "CLIENT KILL ID 18446744073709551616",
        "CLIENT UNBLOCK MAX",
        "CLIENT UNBLOCK MIN",
        "CLIENT UNBLOCK -1",
        "DBSIZE",
    ],
];

/// The line's arguments with MAX/MIN replaced.
fn expand(line: &str) -> Vec<Vec<u8>> {
    words(line)
        .into_iter()
        .map(|w| match &w[..] {
            b"MAX" => MAX.as_bytes().to_vec(),
            b"MIN" => MIN.as_bytes().to_vec(),
            _ => w,
        })
        .collect()
}

fn ask(raw: &mut Raw, args: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    raw.cmd(&refs);
    raw.reply()
}

fn start_script(raw: &mut Raw) {
    for reset in [&[&b"SELECT"[..], b"0"][..], &[b"FLUSHALL"]] {
        raw.cmd(reset);
        raw.reply();
    }
}

#[test]
fn edge_numbers_match_redis_server_quickly() {
    let redis = RedisServer::start();
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let mut mismatches = Vec::new();
        for script in SCRIPTS {
            let mut ours = server.raw();
            let mut theirs = Raw::connect(redis.port);
            start_script(&mut ours);
            start_script(&mut theirs);
            for line in *script {
                let args = expand(line);
                let want = ask(&mut theirs, &args);
                let started = Instant::now();
                let have = ask(&mut ours, &args);
                let took = started.elapsed();
                if want != have {
                    mismatches.push(format!(
                        "{line}\n  redis : {:?}\n  ringkv: {:?}",
                        String::from_utf8_lossy(&want[..want.len().min(300)]),
                        String::from_utf8_lossy(&have[..have.len().min(300)])
                    ));
                }
                if took > Duration::from_secs(2) {
                    mismatches.push(format!("{line}: ringkv took {took:?}"));
                }
            }
        }
        common::assert_no_mismatches(backend, &mismatches);
    }
}

/// Counts that make redis-server 7.0 build a reply of ~2^63 elements (it never answers):
/// ringkv refuses them at once instead.
#[test]
fn huge_repeated_random_counts_are_refused_quickly() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let mut raw = server.raw();
        for setup in ["SADD s a b", "HSET h a 1", "ZADD z 1 a"] {
            ask(&mut raw, &expand(setup));
        }
        for line in [
            "SRANDMEMBER s -9223372036854775807",
            "HRANDFIELD h -9223372036854775807",
            "ZRANDMEMBER z -9223372036854775807",
            "HRANDFIELD h -4611686018427387903 WITHVALUES",
            "ZRANDMEMBER z -4611686018427387903 WITHSCORES",
        ] {
            let started = Instant::now();
            let reply = ask(&mut raw, &expand(line));
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "[{backend}] {line}"
            );
            assert_eq!(
                String::from_utf8_lossy(&reply),
                "-ERR value is out of range\r\n",
                "[{backend}] {line}"
            );
        }
    }
}
