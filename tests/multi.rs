//! Transactions against the real binary: MULTI/EXEC/DISCARD/WATCH/UNWATCH with keys on different
//! shards (2 and 4 threads), reply bytes compared with redis-server, blocked clients served after
//! EXEC, and concurrency checks of atomicity, isolation and WATCH-based optimistic locking.

use crate::common;

use std::thread;
use std::time::Duration;

use common::{
    assert_scripts_match_redis, backends, connections_on_both_threads, eventually, Server,
    KEY_SHARD0, KEY_SHARD1,
};

#[test]
fn replies_match_redis() {
    assert_scripts_match_redis(&[
        &[
            "MULTI",
            "SET foo 1",
            "SET bar 2",
            "INCR foo",
            "MGET foo bar",
            "PING",
            "LPUSH foo x",
            "GET bar",
            "EXEC",
            "GET foo",
        ],
        &[
            "MULTI",
            "SET foo 1",
            "NOSUCHCOMMAND a b",
            "SET bar 2",
            "EXEC",
            "EXISTS foo bar",
            "MULTI",
            "GET",
            "EXEC",
            "EXEC",
            "DISCARD",
            "MULTI",
            "MULTI",
            "WATCH foo",
            "SHUTDOWN",
            "DISCARD",
            "MULTI",
            "EXEC",
            "UNWATCH",
        ],
        &[
            "SET foo 1",
            "WATCH foo bar",
            "SET bar changed",
            "MULTI",
            "INCR foo",
            "EXEC",
            "GET foo",
            "WATCH foo bar",
            "MULTI",
            "INCR foo",
            "EXEC",
            "GET foo",
            "WATCH foo",
            "UNWATCH",
            "SET foo 9",
            "MULTI",
            "GET foo",
            "EXEC",
            "WATCH nokey",
            "DEL nokey",
            "MULTI",
            "PING",
            "EXEC",
            "WATCH foo",
            "FLUSHALL",
            "MULTI",
            "PING",
            "EXEC",
            "SET foo 1",
            "SELECT 1",
            "WATCH foo",
            "SELECT 0",
            "SET foo 2",
            "SELECT 1",
            "MULTI",
            "PING",
            "EXEC",
            "SELECT 0",
        ],
        &[
            "MULTI",
            "BLPOP foo bar 0",
            "BRPOPLPUSH foo bar 0",
            "BZPOPMIN foo 0",
            "SET foo x",
            "EXEC",
            "WATCH bar",
            "MULTI",
            "SELECT 3",
            "SET bar 1",
            "EXEC",
            "WATCH foo",
            "SET foo y",
            "MULTI",
            "GET foo",
            "EXEC",
            "MULTI",
            "GET foo",
            "DISCARD",
            "RESET",
            "MULTI",
            "SET bar 1",
            "RESET",
            "EXEC",
        ],
    ]);
}

/// A write from a connection on the other thread, to a key on either shard, fails the EXEC.
#[test]
fn watch_sees_writes_from_other_threads() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let (mut a, mut b) = connections_on_both_threads(&server);
        for key in [KEY_SHARD0, KEY_SHARD1] {
            let _: () = redis::cmd("SET").arg(key).arg(1).query(&mut a).unwrap();
            let _: () = redis::cmd("WATCH")
                .arg(KEY_SHARD0)
                .arg(KEY_SHARD1)
                .query(&mut a)
                .unwrap();
            let _: () = redis::cmd("SET").arg(key).arg(2).query(&mut b).unwrap();
            let _: () = redis::cmd("MULTI").query(&mut a).unwrap();
            let _: () = redis::cmd("INCR").arg(key).query(&mut a).unwrap();
            let exec: Option<Vec<i64>> = redis::cmd("EXEC").query(&mut a).unwrap();
            assert_eq!(exec, None, "{backend}: EXEC ran although {key} changed");
            let now: i64 = redis::cmd("GET").arg(key).query(&mut a).unwrap();
            assert_eq!(now, 2);
        }
    }
}

/// A watched key that expires (active expiry) between WATCH and EXEC fails the EXEC.
#[test]
fn watch_sees_expiry() {
    let server = Server::start(2, "uring", &[]);
    let mut con = server.redis();
    let _: () = redis::cmd("SET")
        .arg(KEY_SHARD1)
        .arg("v")
        .arg("PX")
        .arg(50)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("WATCH").arg(KEY_SHARD1).query(&mut con).unwrap();
    let mut other = server.redis();
    assert!(eventually(Duration::from_secs(5), || {
        redis::cmd("DBSIZE").query::<i64>(&mut other).unwrap() == 0
    }));
    let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
    let _: () = redis::cmd("PING").query(&mut con).unwrap();
    let exec: Option<Vec<String>> = redis::cmd("EXEC").query(&mut con).unwrap();
    assert_eq!(exec, None);
}

/// RESP3: an EXEC aborted by WATCH is a null; run-time errors stay in place.
#[test]
fn raw_reply_bytes() {
    let server = Server::start(2, "uring", &[]);
    let mut raw = server.raw();
    raw.send(b"HELLO 3\r\n");
    raw.reply();
    raw.send(b"SET foo 1\r\nWATCH foo\r\nSET foo 2\r\nMULTI\r\nGET foo\r\nEXEC\r\n");
    let replies: Vec<Vec<u8>> = (0..6).map(|_| raw.reply()).collect();
    assert_eq!(replies[4], b"+QUEUED\r\n");
    assert_eq!(replies[5], b"_\r\n");
    raw.send(b"MULTI\r\nSET bar x\r\nINCR bar\r\nSET foo y\r\nEXEC\r\n");
    let replies: Vec<Vec<u8>> = (0..5).map(|_| raw.reply()).collect();
    assert_eq!(
        replies[4],
        b"*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n"
    );
}

/// Clients blocked on a key pushed by a transaction are served after it, seeing its end state.
#[test]
fn blocked_clients_are_served_after_exec() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let (mut blocked, mut tx) = connections_on_both_threads(&server);
        let waiter = thread::spawn(move || {
            let got: (String, String) = redis::cmd("BLPOP")
                .arg(KEY_SHARD1)
                .arg(0)
                .query(&mut blocked)
                .unwrap();
            got
        });
        assert!(eventually(Duration::from_secs(5), || {
            let info: String = redis::cmd("INFO").arg("clients").query(&mut tx).unwrap();
            info.contains("blocked_clients:1")
        }));
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("LPUSH")
            .arg(KEY_SHARD1)
            .arg("a")
            .cmd("LPUSH")
            .arg(KEY_SHARD1)
            .arg("b")
            .cmd("SET")
            .arg(KEY_SHARD0)
            .arg("x")
            .cmd("LPUSH")
            .arg(KEY_SHARD1)
            .arg("c");
        let _: (i64, i64, String, i64) = pipe.query(&mut tx).unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            (KEY_SHARD1.to_string(), "c".to_string()),
            "{backend}"
        );
    }
}

fn key_names() -> Vec<String> {
    (0..8).map(|i| format!("account:{i}")).collect()
}

/// Transfers between accounts on different shards (MULTI; DECRBY a; INCRBY b; EXEC) while
/// readers take MULTI MGET snapshots: every snapshot sums to the starting total, and the final
/// balances equal the sum of the transfers each client made (nothing lost, nothing doubled).
#[test]
fn transfers_are_atomic_and_isolated() {
    for threads in [2, 4] {
        let server = Server::start(threads, "uring", &[]);
        let keys = key_names();
        let mut setup = server.redis();
        for key in &keys {
            let _: () = redis::cmd("SET")
                .arg(key)
                .arg(1000)
                .query(&mut setup)
                .unwrap();
        }
        let total = 1000 * keys.len() as i64;
        let transfers: Vec<_> = (0..6u64)
            .map(|client| {
                let mut con = server.redis();
                let keys = keys.clone();
                thread::spawn(move || {
                    let mut moved = vec![0i64; keys.len()];
                    let mut seed = client * 7919 + 1;
                    for _ in 0..300 {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let from = (seed >> 33) as usize % keys.len();
                        let to = (from + 1 + (seed >> 40) as usize % (keys.len() - 1)) % keys.len();
                        let amount = (seed >> 50) as i64 % 50 + 1;
                        let (_, _): (i64, i64) = redis::pipe()
                            .atomic()
                            .cmd("DECRBY")
                            .arg(&keys[from])
                            .arg(amount)
                            .cmd("INCRBY")
                            .arg(&keys[to])
                            .arg(amount)
                            .query(&mut con)
                            .unwrap();
                        moved[from] -= amount;
                        moved[to] += amount;
                    }
                    moved
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut con = server.redis();
                let keys = keys.clone();
                thread::spawn(move || {
                    for _ in 0..300 {
                        let (values,): (Vec<i64>,) = redis::pipe()
                            .atomic()
                            .cmd("MGET")
                            .arg(&keys)
                            .query(&mut con)
                            .unwrap();
                        assert_eq!(values.iter().sum::<i64>(), total, "torn snapshot");
                    }
                })
            })
            .collect();
        let mut expected = vec![1000i64; keys.len()];
        for t in transfers {
            for (e, m) in expected.iter_mut().zip(t.join().unwrap()) {
                *e += m;
            }
        }
        for r in readers {
            r.join().unwrap();
        }
        let values: Vec<i64> = redis::cmd("MGET").arg(&keys).query(&mut setup).unwrap();
        assert_eq!(values, expected, "threads {threads}");
    }
}

/// Check-and-set loops with WATCH: every increment lands exactly once.
#[test]
fn watch_check_and_set_counts_exactly() {
    for threads in [2, 4] {
        let server = Server::start(threads, "uring", &[]);
        let (clients, rounds) = (6, 100);
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                let mut con = server.redis();
                thread::spawn(move || {
                    let mut retries = 0;
                    for _ in 0..rounds {
                        loop {
                            let _: () = redis::cmd("WATCH").arg("counter").query(&mut con).unwrap();
                            let now: Option<i64> =
                                redis::cmd("GET").arg("counter").query(&mut con).unwrap();
                            let done: Option<(String,)> = redis::pipe()
                                .atomic()
                                .cmd("SET")
                                .arg("counter")
                                .arg(now.unwrap_or(0) + 1)
                                .query(&mut con)
                                .unwrap();
                            if done.is_some() {
                                break;
                            }
                            retries += 1;
                        }
                    }
                    retries
                })
            })
            .collect();
        let retries: i32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        let mut con = server.redis();
        let counter: i64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
        assert_eq!(
            counter,
            clients * rounds,
            "threads {threads}, {retries} retries"
        );
    }
}
