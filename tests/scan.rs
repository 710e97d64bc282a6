//! SCAN over a sharded keyspace: one call walks past empty slots and across shards until COUNT
//! keys were visited, so a small database comes back whole with cursor 0 as from redis-server;
//! a full iteration over a large keyspace returns every key exactly once, also while keys come
//! and go. The SCAN-family option grammar is checked byte for byte against redis-server.

use crate::common;

use std::collections::{BTreeSet, HashSet};

use common::{assert_scripts_match_redis, backends, RedisServer, Server, KEY_SHARD1};

/// One SCAN call: the next cursor and the keys of the page.
fn scan(con: &mut redis::Connection, cursor: u64, options: &[&str]) -> (u64, Vec<String>) {
    redis::cmd("SCAN")
        .arg(cursor)
        .arg(options)
        .query(con)
        .expect("SCAN")
}

fn load(con: &mut redis::Connection, commands: &[&str]) {
    for line in commands {
        let mut words = line.split(' ');
        let mut cmd = redis::cmd(words.next().unwrap());
        for w in words {
            cmd.arg(w);
        }
        let _: redis::Value = cmd.query(con).expect(line);
    }
}

/// Small keyspaces: for each (data, SCAN options), redis-server answers cursor 0 and a set of
/// keys in one call; ringkv (2 shards) must answer the same cursor and the same set.
#[test]
fn a_small_keyspace_comes_back_in_one_call_like_redis() {
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &[]),
        (&["SET a 1", "SET b 2", "SET c 3"], &[]),
        // every key on the second shard: the first shard's slots are all empty
        (&["SET foo 1", "SET {foo}a 2", "SET {foo}b 3"], &[]),
        // every key on the first shard
        (&["SET bar 1", "SET {bar}x 2"], &["COUNT", "5"]),
        (
            &["SET k1 1", "SET k2 2", "SET other 3", "HSET kh f v"],
            &["MATCH", "k*"],
        ),
        (
            &[
                "SET s 1",
                "HSET h f v",
                "RPUSH l a",
                "SADD st m",
                "ZADD z 1 m",
            ],
            &["TYPE", "hash"],
        ),
        (
            &["SET s 1", "HSET h f v", "RPUSH l a", "SADD st m"],
            &["TYPE", "LIST"],
        ),
        (
            &["SET s 1", "HSET h f v", "HSET hx f v"],
            &["MATCH", "h?", "TYPE", "hash"],
        ),
        (&["SET s 1", "HSET h f v"], &["TYPE", "nosuchtype"]),
        (&["SET a 1", "SET b 2"], &["MATCH", "nomatch*"]),
        (
            &["SET a 1", "SET b 2", "SET c 3", "SET d 4"],
            &["COUNT", "1000"],
        ),
    ];
    let redis = RedisServer::start();
    let oracle = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port)).unwrap();
    let mut theirs = oracle.get_connection().unwrap();
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut ours = server.redis();
        for (data, options) in cases {
            for con in [&mut theirs, &mut ours] {
                load(con, &["FLUSHALL"]);
                load(con, data);
            }
            let (want_cursor, want) = scan(&mut theirs, 0, options);
            let (cursor, got) = scan(&mut ours, 0, options);
            let want: BTreeSet<_> = want.into_iter().collect();
            let got_set: BTreeSet<_> = got.iter().cloned().collect();
            assert_eq!(want_cursor, 0, "redis-server pages {data:?} {options:?}");
            assert_eq!(
                (cursor, &got_set),
                (want_cursor, &want),
                "[{backend}] SCAN 0 {options:?} over {data:?}"
            );
            assert_eq!(got.len(), got_set.len(), "[{backend}] a key twice: {got:?}");
        }
    }
}

/// The reported case: three keys on the second shard of two, SCAN 0 answered "8192" and an
/// empty page.
#[test]
fn scan_walks_past_an_empty_shard() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        let keys = [KEY_SHARD1.to_string(), "{foo}1".into(), "{foo}2".into()];
        for k in &keys {
            load(&mut con, &[&format!("SET {k} v")]);
        }
        let (cursor, mut page) = scan(&mut con, 0, &[]);
        page.sort();
        assert_eq!((cursor, page), (0, keys.to_vec()), "[{backend}]");
        // From a cursor in the first shard's empty range, COUNT 1: the whole slot of three
        // keys is one page (a slot is never split), then the rest of the range is empty.
        let (cursor, page) = scan(&mut con, 100, &["COUNT", "1"]);
        assert_eq!(page.len(), 3, "[{backend}]");
        assert_ne!(cursor, 0, "[{backend}] COUNT 1 was spent on the slot");
        assert_eq!(
            scan(&mut con, cursor, &["COUNT", "1"]),
            (0, vec![]),
            "[{backend}]"
        );
    }
}

/// A full iteration at COUNT 10 over 20 000 keys on both shards: every key exactly once, and
/// a page stays near COUNT (the walk stops once the budget is spent).
#[test]
fn a_large_keyspace_iterates_in_bounded_pages_each_key_once() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        let all: Vec<String> = (0..20_000).map(|i| format!("key:{i}")).collect();
        for chunk in all.chunks(1000) {
            let _: () = redis::cmd("MSET")
                .arg(chunk.iter().flat_map(|k| [k, k]).collect::<Vec<_>>())
                .query(&mut con)
                .unwrap();
        }
        let (mut cursor, mut calls, mut largest) = (0, 0, 0);
        let mut seen = Vec::new();
        loop {
            let (next, page) = scan(&mut con, cursor, &[]);
            calls += 1;
            largest = largest.max(page.len());
            seen.extend(page);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "[{backend}] a key returned twice");
        assert_eq!(unique.len(), all.len(), "[{backend}] keys missing");
        // A page ends at the first slot boundary after 10 keys; slots here hold a few keys.
        assert!(
            largest <= 20,
            "[{backend}] a page of {largest} keys at COUNT 10"
        );
        assert!(
            calls >= 1000,
            "[{backend}] only {calls} calls for 20000 keys"
        );
    }
}

/// Keys added and removed between calls: every key present throughout is returned, none twice.
#[test]
fn keys_present_throughout_an_iteration_are_returned_once() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        let stable: Vec<String> = (0..3000).map(|i| format!("stable:{i}")).collect();
        let churn: Vec<String> = (0..3000).map(|i| format!("churn:{i}")).collect();
        for chunk in stable.chunks(1000).chain(churn.chunks(1000)) {
            let _: () = redis::cmd("MSET")
                .arg(chunk.iter().flat_map(|k| [k, k]).collect::<Vec<_>>())
                .query(&mut con)
                .unwrap();
        }
        let (mut cursor, mut round) = (0, 0usize);
        let mut seen = Vec::new();
        loop {
            let (next, page) = scan(&mut con, cursor, &["COUNT", "25"]);
            seen.extend(page);
            // Between calls: drop some churn keys, add fresh ones.
            let _: i64 = redis::cmd("DEL")
                .arg(&churn[(round * 7) % churn.len()])
                .arg(format!("fresh:{}", round.saturating_sub(3)))
                .query(&mut con)
                .unwrap();
            let _: () = redis::cmd("SET")
                .arg(format!("fresh:{round}"))
                .arg("v")
                .query(&mut con)
                .unwrap();
            round += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "[{backend}] a key returned twice");
        let missing: Vec<_> = stable.iter().filter(|k| !unique.contains(k)).collect();
        assert!(missing.is_empty(), "[{backend}] missing {missing:?}");
    }
}

/// The one option grammar of SCAN, HSCAN, SSCAN and ZSCAN: cursors as strtoul reads them,
/// COUNT limits, TYPE for SCAN only, options read only when the key exists.
#[test]
fn scan_family_options_match_redis() {
    assert_scripts_match_redis(&[
        &[
            "SCAN 0 COUNT 0",
            "SCAN 0 COUNT -5",
            "SCAN 0 COUNT x",
            "SCAN 0 COUNT",
            "SCAN 0 MATCH",
            "SCAN 0 TYPE",
            "SCAN 0 BOGUS 1",
            "SCAN x",
            "SCAN \" 1\"",
            "SCAN 18446744073709551616",
            "SCAN -",
            // strtoul reads -1 as the largest cursor. Asked on an empty keyspace only: on a
            // non-empty one, which keys redis-server returns for it depends on where its
            // per-process random hash seed put them.
            "SCAN -1",
            "SET k v",
            "SCAN \"\"",
            "SCAN +0",
            "SCAN 0 COUNT 9223372036854775807",
            "SCAN 0 type STRING",
            "SCAN 0 TYPE hash",
            "SCAN 0 MATCH k COUNT 100 MATCH * TYPE string",
        ],
        &[
            "HSCAN nokey 0 COUNT 0",
            "SSCAN nokey 0 TYPE string",
            "ZSCAN nokey 0 COUNT 0",
            "ZSCAN nokey x",
            "HSCAN nokey x",
            "SSCAN nokey \" 1\"",
            "HSET h f v",
            "SADD s m",
            "ZADD z 1 m",
            "SET str v",
            "HSCAN h 0 TYPE string",
            "SSCAN s 0 TYPE string",
            "ZSCAN z 0 TYPE string",
            "HSCAN h 0 COUNT 0",
            "SSCAN s 0 COUNT x",
            "ZSCAN z 0 COUNT 0",
            "ZSCAN z 0 COUNT -1",
            "ZSCAN z 0 MATCH",
            "ZSCAN z x",
            "ZSCAN z -1",
            "ZSCAN z \"\"",
            "ZSCAN z +0",
            "HSCAN h \"\"",
            "SSCAN s +0",
            "ZSCAN z 0 COUNT 9223372036854775807 MATCH m",
            "HSCAN str 0 COUNT 0",
            "ZSCAN str x",
            "ZSCAN str 0 COUNT 0",
        ],
    ]);
}
