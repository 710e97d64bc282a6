//! Keys on different shards, connections on different threads: writes through one thread are
//! read through the other; multi-key commands split and gather; atomic cross-shard commands.

use crate::common;

use common::{backends, connections_on_both_threads, Server, KEY_SHARD0, KEY_SHARD1};
use redis::Commands;

#[test]
fn a_key_written_on_one_thread_is_read_on_the_other() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let (mut t0, mut t1) = connections_on_both_threads(&server);
        for (i, key) in [KEY_SHARD0, KEY_SHARD1].iter().enumerate() {
            let _: () = t0.set(*key, format!("from-t0-{i}")).unwrap();
            let got: String = t1.get(*key).unwrap();
            assert_eq!(got, format!("from-t0-{i}"), "{backend}");
            let _: () = t1.set(*key, format!("from-t1-{i}")).unwrap();
            let got: String = t0.get(*key).unwrap();
            assert_eq!(got, format!("from-t1-{i}"), "{backend}");
        }
    }
}

#[test]
fn multi_key_commands_across_shards() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.redis();
        let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        let pairs: Vec<(String, String)> =
            keys.iter().map(|k| (k.clone(), format!("v-{k}"))).collect();
        let _: () = c.mset(&pairs).unwrap();
        let values: Vec<String> = c.mget(&keys).unwrap();
        assert_eq!(
            values,
            pairs.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            "{backend}"
        );
        let n: i64 = redis::cmd("EXISTS")
            .arg(&keys)
            .arg("k0")
            .arg("nokey")
            .query(&mut c)
            .unwrap();
        assert_eq!(n, 51);
        let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(size, 50);
        let mut all: Vec<String> = c.keys("k*").unwrap();
        all.sort();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(all, want);
        let mut scanned: Vec<String> = c.scan_match("k*").unwrap().collect();
        scanned.sort();
        assert_eq!(scanned, want, "{backend}: SCAN must visit every shard");
        let deleted: i64 = c.del(&keys[..25]).unwrap();
        assert_eq!(deleted, 25);
        let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(size, 25);
        let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
        let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(size, 0);
    }
}

#[test]
fn atomic_cross_shard_commands() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.redis();
        let set: i64 = redis::cmd("MSETNX")
            .arg(KEY_SHARD0)
            .arg("a")
            .arg(KEY_SHARD1)
            .arg("b")
            .query(&mut c)
            .unwrap();
        assert_eq!(set, 1);
        let refused: i64 = redis::cmd("MSETNX")
            .arg("fresh")
            .arg("x")
            .arg(KEY_SHARD1)
            .arg("c")
            .query(&mut c)
            .unwrap();
        assert_eq!(refused, 0);
        assert!(
            !c.exists::<_, bool>("fresh").unwrap(),
            "{backend}: MSETNX is all or nothing"
        );
        let _: () = c.expire(KEY_SHARD0, 100).unwrap();
        let _: () = c.rename(KEY_SHARD0, KEY_SHARD1).unwrap();
        let moved: String = c.get(KEY_SHARD1).unwrap();
        assert_eq!(moved, "a");
        let ttl: i64 = c.ttl(KEY_SHARD1).unwrap();
        assert!(ttl > 90, "{backend}: RENAME keeps the TTL across shards");
        assert!(!c.exists::<_, bool>(KEY_SHARD0).unwrap());
        let nx: i64 = redis::cmd("RENAMENX")
            .arg(KEY_SHARD1)
            .arg(KEY_SHARD0)
            .query(&mut c)
            .unwrap();
        assert_eq!(nx, 1);
        let copied: i64 = redis::cmd("COPY")
            .arg(KEY_SHARD0)
            .arg(KEY_SHARD1)
            .query(&mut c)
            .unwrap();
        assert_eq!(copied, 1);
        let both: Vec<String> = c.mget(&[KEY_SHARD0, KEY_SHARD1]).unwrap();
        assert_eq!(both, vec!["a", "a"]);
        let err = redis::cmd("RENAME")
            .arg("nokey")
            .arg(KEY_SHARD1)
            .query::<()>(&mut c)
            .unwrap_err();
        assert_eq!(err.detail(), Some("no such key"));
    }
}

/// Writers MSET keys on every shard to one value while readers read them all in one
/// MULTI/EXEC: no reader ever sees part of an MSET.
#[test]
fn concurrent_cross_shard_msets_are_never_seen_in_part() {
    // On four shards these land on shards 0, 1, 2 and 3.
    const KEYS: [&str; 4] = ["b", "bar", "d", "a"];
    for threads in [2, 4] {
        let server = Server::start(threads, "uring", &[]);
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let mut c = server.redis();
                std::thread::spawn(move || {
                    for i in 0..300 {
                        let value = w * 1000 + i;
                        let mut mset = redis::cmd("MSET");
                        // Each writer lists the keys in its own order.
                        for k in 0..KEYS.len() {
                            mset.arg(KEYS[(k + w) % KEYS.len()]).arg(value);
                        }
                        let _: () = mset.query(&mut c).unwrap();
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut c = server.redis();
                std::thread::spawn(move || {
                    for _ in 0..300 {
                        let mut pipe = redis::pipe();
                        pipe.atomic();
                        for key in KEYS {
                            pipe.cmd("GET").arg(key);
                        }
                        let values: Vec<Option<i64>> = pipe.query(&mut c).unwrap();
                        assert!(
                            values.iter().all(|v| *v == values[0]),
                            "threads {threads}: torn MSET {values:?}"
                        );
                    }
                })
            })
            .collect();
        for t in writers.into_iter().chain(readers) {
            t.join().unwrap();
        }
        let mut c = server.redis();
        let values: Vec<i64> = c.mget(&KEYS).unwrap();
        assert!(values.iter().all(|v| *v == values[0] && *v % 1000 == 299));
    }
}

#[test]
fn concurrent_cross_shard_renames_never_lose_or_duplicate() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.redis();
        let _: () = c.set("token", "t").unwrap();
        // Clients bounce one key between names on both shards; at every moment exactly one
        // of the names exists, and it never deadlocks.
        let port = server.port;
        let workers: Vec<_> = (0..4)
            .map(|w| {
                std::thread::spawn(move || {
                    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                    let mut c = client.get_connection().unwrap();
                    let names = ["token", "foo", "bar", "{x}1", "{x}2"];
                    for i in 0..300 {
                        let from = names[(i + w) % names.len()];
                        let to = names[(i + w + 1) % names.len()];
                        let _: Result<(), _> = redis::cmd("RENAME").arg(from).arg(to).query(&mut c);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let n: i64 = redis::cmd("EXISTS")
            .arg(&["token", "foo", "bar", "{x}1", "{x}2"])
            .query(&mut c)
            .unwrap();
        assert_eq!(n, 1, "{backend}: exactly one name holds the value");
    }
}

#[test]
fn one_thread_works_too() {
    for backend in backends() {
        let server = Server::start(1, backend, &[]);
        let mut c = server.redis();
        let _: () = c.mset(&[(KEY_SHARD0, "1"), (KEY_SHARD1, "2")]).unwrap();
        let _: () = c.rename(KEY_SHARD0, "other").unwrap();
        let v: Vec<Option<String>> = c.mget(&[KEY_SHARD0, KEY_SHARD1, "other"]).unwrap();
        assert_eq!(v, vec![None, Some("2".into()), Some("1".into())]);
    }
}
