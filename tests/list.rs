//! List commands against the real binary with 2 threads: keys on different shards, blocking
//! pops woken from the other thread, timeouts, arrival order, and clients leaving while blocked.

use crate::common;

use std::thread;
use std::time::{Duration, Instant};

use common::{backends, connections_on_both_threads, eventually, Server, KEY_SHARD0, KEY_SHARD1};

type Pair = Option<(String, String)>;

fn blocked_clients(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients field")
}

/// Waits until exactly `n` clients are blocked.
fn wait_blocked(con: &mut redis::Connection, n: u64) {
    assert!(
        eventually(Duration::from_secs(5), || blocked_clients(con) == n),
        "expected {n} blocked clients"
    );
}

fn range(con: &mut redis::Connection, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(con)
        .unwrap()
}

#[test]
fn moves_between_shards() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        let (src, dst) = (KEY_SHARD1, KEY_SHARD0);
        let _: i64 = redis::cmd("RPUSH")
            .arg(src)
            .arg(&["1", "2", "3"])
            .query(&mut con)
            .unwrap();
        let moved: String = redis::cmd("LMOVE")
            .arg(src)
            .arg(dst)
            .arg("LEFT")
            .arg("RIGHT")
            .query(&mut con)
            .unwrap();
        assert_eq!(moved, "1");
        let moved: String = redis::cmd("RPOPLPUSH")
            .arg(src)
            .arg(dst)
            .query(&mut con)
            .unwrap();
        assert_eq!(moved, "3");
        assert_eq!(range(&mut con, src), vec!["2"]);
        assert_eq!(range(&mut con, dst), vec!["3", "1"]);
        // The last element moves and the source disappears.
        let _: String = redis::cmd("LMOVE")
            .arg(src)
            .arg(dst)
            .arg("RIGHT")
            .arg("LEFT")
            .query(&mut con)
            .unwrap();
        let exists: i64 = redis::cmd("EXISTS").arg(src).query(&mut con).unwrap();
        assert_eq!(exists, 0);
        // WRONGTYPE on the destination leaves the source untouched.
        let _: () = redis::cmd("SET")
            .arg("str")
            .arg("x")
            .query(&mut con)
            .unwrap();
        let err = redis::cmd("LMOVE")
            .arg(dst)
            .arg("str")
            .arg("LEFT")
            .arg("LEFT")
            .query::<String>(&mut con);
        assert!(err.unwrap_err().to_string().contains("WRONGTYPE"));
        assert_eq!(range(&mut con, dst), vec!["2", "3", "1"]);
        // LMPOP over keys on both shards takes the first non-empty one.
        let popped: (String, Vec<String>) = redis::cmd("LMPOP")
            .arg(3)
            .arg("nokey")
            .arg(src)
            .arg(dst)
            .arg("RIGHT")
            .arg("COUNT")
            .arg(2)
            .query(&mut con)
            .unwrap();
        assert_eq!(
            popped,
            (dst.to_string(), vec!["1".to_string(), "3".to_string()])
        );
    }
}

#[test]
fn blpop_is_woken_by_a_push_from_the_other_thread() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        for key in [KEY_SHARD0, KEY_SHARD1] {
            let (mut a, mut b) = connections_on_both_threads(&server);
            let key_owned = key.to_string();
            let waiter = thread::spawn(move || {
                let got: Pair = redis::cmd("BLPOP")
                    .arg(&key_owned)
                    .arg(0)
                    .query(&mut a)
                    .unwrap();
                got
            });
            wait_blocked(&mut b, 1);
            let _: i64 = redis::cmd("LPUSH")
                .arg(key)
                .arg("hello")
                .query(&mut b)
                .unwrap();
            assert_eq!(
                waiter.join().unwrap(),
                Some((key.to_string(), "hello".to_string()))
            );
            let exists: i64 = redis::cmd("EXISTS").arg(key).query(&mut b).unwrap();
            assert_eq!(exists, 0, "the popped element left an empty list behind");
        }
    }
}

#[test]
fn blocking_on_keys_of_both_shards() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let (mut a, mut b) = connections_on_both_threads(&server);
        let waiter = thread::spawn(move || {
            let got: Pair = redis::cmd("BRPOP")
                .arg(KEY_SHARD1)
                .arg(KEY_SHARD0)
                .arg(5)
                .query(&mut a)
                .unwrap();
            got
        });
        wait_blocked(&mut b, 1);
        let _: i64 = redis::cmd("RPUSH")
            .arg(KEY_SHARD0)
            .arg(&["x", "y"])
            .query(&mut b)
            .unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            Some((KEY_SHARD0.to_string(), "y".to_string()))
        );
        wait_blocked(&mut b, 0);
        // The registration on the other shard is gone: a push there stays in the list.
        let _: i64 = redis::cmd("RPUSH")
            .arg(KEY_SHARD1)
            .arg("z")
            .query(&mut b)
            .unwrap();
        assert_eq!(range(&mut b, KEY_SHARD1), vec!["z"]);
        assert_eq!(range(&mut b, KEY_SHARD0), vec!["x"]);
    }
}

#[test]
fn blmove_to_another_shard_is_served() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let (mut a, mut b) = connections_on_both_threads(&server);
        let waiter = thread::spawn(move || {
            let got: Option<String> = redis::cmd("BLMOVE")
                .arg(KEY_SHARD1)
                .arg(KEY_SHARD0)
                .arg("LEFT")
                .arg("RIGHT")
                .arg(0)
                .query(&mut a)
                .unwrap();
            got
        });
        wait_blocked(&mut b, 1);
        let _: i64 = redis::cmd("RPUSH")
            .arg(KEY_SHARD1)
            .arg(&["m", "n"])
            .query(&mut b)
            .unwrap();
        assert_eq!(waiter.join().unwrap().as_deref(), Some("m"));
        assert_eq!(range(&mut b, KEY_SHARD0), vec!["m"]);
        assert_eq!(range(&mut b, KEY_SHARD1), vec!["n"]);
    }
}

#[test]
fn timeouts() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        for cmd in [
            redis::cmd("BLPOP")
                .arg(KEY_SHARD0)
                .arg(KEY_SHARD1)
                .arg(0.2)
                .clone(),
            redis::cmd("BLMPOP")
                .arg(0.2)
                .arg(1)
                .arg("k")
                .arg("LEFT")
                .clone(),
            redis::cmd("BLMOVE")
                .arg(KEY_SHARD1)
                .arg(KEY_SHARD0)
                .arg("LEFT")
                .arg("LEFT")
                .arg(0.2)
                .clone(),
        ] {
            let started = Instant::now();
            let got: redis::Value = cmd.query(&mut con).unwrap();
            let waited = started.elapsed();
            assert_eq!(got, redis::Value::Nil);
            assert!(
                waited >= Duration::from_millis(190),
                "returned after {waited:?}"
            );
            assert!(waited < Duration::from_secs(3), "returned after {waited:?}");
        }
        assert_eq!(blocked_clients(&mut con), 0);
        let err = redis::cmd("BLPOP")
            .arg("k")
            .arg(-1)
            .query::<Pair>(&mut con)
            .unwrap_err();
        assert!(err.to_string().contains("timeout is negative"), "{err}");
        let err = redis::cmd("BLPOP")
            .arg("k")
            .arg("x")
            .query::<Pair>(&mut con)
            .unwrap_err();
        assert!(err.to_string().contains("timeout is not a float"), "{err}");
    }
}

#[test]
fn waiters_are_served_in_arrival_order() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let (a, b) = connections_on_both_threads(&server);
        let mut c = server.redis();
        let mut waiters = Vec::new();
        // One waiter per thread, the second arriving after the first is blocked.
        for (n, mut con) in [a, b].into_iter().enumerate() {
            waiters.push(thread::spawn(move || {
                let got: Pair = redis::cmd("BLPOP")
                    .arg(KEY_SHARD1)
                    .arg(0)
                    .query(&mut con)
                    .unwrap();
                got
            }));
            wait_blocked(&mut c, n as u64 + 1);
        }
        let _: i64 = redis::cmd("RPUSH")
            .arg(KEY_SHARD1)
            .arg(&["first", "second"])
            .query(&mut c)
            .unwrap();
        let got: Vec<Pair> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(
            got,
            vec![
                Some((KEY_SHARD1.to_string(), "first".to_string())),
                Some((KEY_SHARD1.to_string(), "second".to_string())),
            ]
        );
    }
}

#[test]
fn a_client_leaving_while_blocked_loses_nothing() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.redis();
        // The first waiter leaves; the element goes to the second one.
        let mut gone = server.raw();
        gone.cmd(&[b"BLPOP", KEY_SHARD1.as_bytes(), b"0"]);
        wait_blocked(&mut c, 1);
        let mut next = server.redis();
        let waiter = thread::spawn(move || {
            let got: Pair = redis::cmd("BLPOP")
                .arg(KEY_SHARD1)
                .arg(0)
                .query(&mut next)
                .unwrap();
            got
        });
        wait_blocked(&mut c, 2);
        drop(gone);
        wait_blocked(&mut c, 1);
        let _: i64 = redis::cmd("RPUSH")
            .arg(KEY_SHARD1)
            .arg("kept")
            .query(&mut c)
            .unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            Some((KEY_SHARD1.to_string(), "kept".to_string()))
        );
        // A lone waiter leaves: the next element stays in the list.
        for key in [KEY_SHARD0, KEY_SHARD1] {
            let mut gone = server.raw();
            gone.cmd(&[b"BRPOPLPUSH", key.as_bytes(), b"other", b"0"]);
            wait_blocked(&mut c, 1);
            drop(gone);
            wait_blocked(&mut c, 0);
            let _: i64 = redis::cmd("RPUSH")
                .arg(key)
                .arg("stays")
                .query(&mut c)
                .unwrap();
            assert_eq!(range(&mut c, key), vec!["stays"]);
        }
        let exists: i64 = redis::cmd("EXISTS").arg("other").query(&mut c).unwrap();
        assert_eq!(exists, 0);
    }
}

#[test]
fn encodings_follow_the_listpack_size() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        let encoding = |con: &mut redis::Connection, key: &str| -> String {
            redis::cmd("OBJECT")
                .arg("ENCODING")
                .arg(key)
                .query(con)
                .unwrap()
        };
        let _: i64 = redis::cmd("RPUSH")
            .arg("small")
            .arg(&["a", "b", "c"])
            .query(&mut con)
            .unwrap();
        assert_eq!(encoding(&mut con, "small"), "listpack");
        let big: Vec<String> = (0..1000).map(|i| format!("element-{i:04}")).collect();
        let _: i64 = redis::cmd("RPUSH")
            .arg("big")
            .arg(&big)
            .query(&mut con)
            .unwrap();
        assert_eq!(encoding(&mut con, "big"), "quicklist");
        let mid: String = redis::cmd("LINDEX")
            .arg("big")
            .arg(500)
            .query(&mut con)
            .unwrap();
        assert_eq!(mid, "element-0500");
        let _: () = redis::cmd("LTRIM")
            .arg("big")
            .arg(0)
            .arg(3)
            .query(&mut con)
            .unwrap();
        assert_eq!(encoding(&mut con, "big"), "listpack");
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("list-max-listpack-size")
            .arg(2)
            .query(&mut con)
            .unwrap();
        let _: i64 = redis::cmd("RPUSH")
            .arg("small")
            .arg("d")
            .query(&mut con)
            .unwrap();
        assert_eq!(encoding(&mut con, "small"), "quicklist");
        assert_eq!(range(&mut con, "small"), vec!["a", "b", "c", "d"]);
    }
}
