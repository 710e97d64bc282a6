//! Set commands end to end on a 2-thread server: keys on different shards ("foo" and "bar"),
//! atomic STORE/SMOVE across shards, encodings, SSCAN's guarantee under growth, hostile counts.

use crate::common;

use std::collections::BTreeSet;

use common::{Server, KEY_SHARD0, KEY_SHARD1};
use redis::{cmd, Connection};

fn server() -> (Server, Connection) {
    let server = Server::start(2, "epoll", &[]);
    let con = server.redis();
    (server, con)
}

fn members(con: &mut Connection, key: &str) -> BTreeSet<String> {
    cmd("SMEMBERS").arg(key).query(con).unwrap()
}

#[test]
fn algebra_across_shards() {
    let (_s, mut con) = server();
    let (a, b) = (KEY_SHARD1, KEY_SHARD0);
    let _: i64 = cmd("SADD")
        .arg(a)
        .arg(&["1", "2", "x", "y"])
        .query(&mut con)
        .unwrap();
    let _: i64 = cmd("SADD")
        .arg(b)
        .arg(&["2", "y", "z"])
        .query(&mut con)
        .unwrap();
    let inter: BTreeSet<String> = cmd("SINTER").arg(a).arg(b).query(&mut con).unwrap();
    assert_eq!(inter, ["2", "y"].iter().map(|s| s.to_string()).collect());
    let union: BTreeSet<String> = cmd("SUNION").arg(a).arg(b).query(&mut con).unwrap();
    assert_eq!(union.len(), 5);
    let diff: BTreeSet<String> = cmd("SDIFF").arg(a).arg(b).query(&mut con).unwrap();
    assert_eq!(diff, ["1", "x"].iter().map(|s| s.to_string()).collect());
    let card: i64 = cmd("SINTERCARD")
        .arg(2)
        .arg(a)
        .arg(b)
        .query(&mut con)
        .unwrap();
    assert_eq!(card, 2);
    // Destination on a third slot, sources on both shards.
    let n: i64 = cmd("SUNIONSTORE")
        .arg("dest")
        .arg(a)
        .arg(b)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(members(&mut con, "dest"), union);
    let n: i64 = cmd("SINTERSTORE")
        .arg(a)
        .arg(a)
        .arg(b)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(members(&mut con, a), inter);
    let n: i64 = cmd("SDIFFSTORE")
        .arg(b)
        .arg("nokey")
        .arg(b)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 0);
    let exists: i64 = cmd("EXISTS").arg(b).query(&mut con).unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn smove_across_shards() {
    let (_s, mut con) = server();
    let (a, b) = (KEY_SHARD1, KEY_SHARD0);
    let _: i64 = cmd("SADD").arg(a).arg("m").query(&mut con).unwrap();
    let _: () = cmd("SET").arg(b).arg("string").query(&mut con).unwrap();
    let err = cmd("SMOVE")
        .arg(a)
        .arg(b)
        .arg("m")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"));
    assert_eq!(
        members(&mut con, a).len(),
        1,
        "a failed SMOVE changes nothing"
    );
    let _: i64 = cmd("DEL").arg(b).query(&mut con).unwrap();
    let moved: i64 = cmd("SMOVE").arg(a).arg(b).arg("m").query(&mut con).unwrap();
    assert_eq!(moved, 1);
    assert_eq!(cmd("EXISTS").arg(a).query::<i64>(&mut con).unwrap(), 0);
    assert_eq!(members(&mut con, b), BTreeSet::from(["m".to_string()]));
    let moved: i64 = cmd("SMOVE").arg(a).arg(b).arg("m").query(&mut con).unwrap();
    assert_eq!(moved, 0);
}

#[test]
fn concurrent_cross_shard_stores_stay_consistent() {
    let server = Server::start(2, "epoll", &[]);
    let mut con = server.redis();
    let (a, b) = (KEY_SHARD1, KEY_SHARD0);
    let _: i64 = cmd("SADD")
        .arg(a)
        .arg(&["1", "2", "3"])
        .query(&mut con)
        .unwrap();
    let port = server.port;
    let workers: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                let mut con = client.get_connection().unwrap();
                for _ in 0..200 {
                    let (from, to) = if i % 2 == 0 {
                        (KEY_SHARD1, KEY_SHARD0)
                    } else {
                        (KEY_SHARD0, KEY_SHARD1)
                    };
                    for m in ["1", "2", "3"] {
                        let _: i64 = cmd("SMOVE")
                            .arg(from)
                            .arg(to)
                            .arg(m)
                            .query(&mut con)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let total = members(&mut con, a).len() + members(&mut con, b).len();
    assert_eq!(
        total, 3,
        "SMOVE across shards neither loses nor duplicates members"
    );
}

#[test]
fn encodings_follow_redis_7_2() {
    let (_s, mut con) = server();
    let enc = |con: &mut Connection, k: &str| -> String {
        cmd("OBJECT").arg("ENCODING").arg(k).query(con).unwrap()
    };
    let _: i64 = cmd("SADD")
        .arg("s")
        .arg(&["1", "2"])
        .query(&mut con)
        .unwrap();
    assert_eq!(enc(&mut con, "s"), "intset");
    let _: i64 = cmd("SADD").arg("s").arg("a").query(&mut con).unwrap();
    assert_eq!(enc(&mut con, "s"), "listpack");
    let many: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let _: i64 = cmd("SADD").arg("s").arg(&many).query(&mut con).unwrap();
    assert_eq!(enc(&mut con, "s"), "hashtable");
    let ints: Vec<String> = (0..513).map(|i| i.to_string()).collect();
    let _: i64 = cmd("SADD")
        .arg("i")
        .arg(&ints[..512])
        .query(&mut con)
        .unwrap();
    assert_eq!(enc(&mut con, "i"), "intset");
    let _: i64 = cmd("SADD")
        .arg("i")
        .arg(&ints[512])
        .query(&mut con)
        .unwrap();
    assert_eq!(enc(&mut con, "i"), "hashtable");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("set-max-listpack-entries")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let _: i64 = cmd("SADD").arg("t").arg("a").query(&mut con).unwrap();
    assert_eq!(enc(&mut con, "t"), "hashtable");
}

#[test]
fn sscan_returns_every_stable_member_while_the_set_grows() {
    let (_s, mut con) = server();
    let stable: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    let _: i64 = cmd("SADD").arg("k").arg(&stable).query(&mut con).unwrap();
    let mut seen = BTreeSet::new();
    let mut cursor = 0u64;
    let mut round = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = cmd("SSCAN")
            .arg("k")
            .arg(cursor)
            .arg("COUNT")
            .arg(7)
            .query(&mut con)
            .unwrap();
        seen.extend(batch);
        // Grow (several table doublings) between the first calls, then let the scan finish.
        if round < 12 {
            let extra: Vec<String> = (0..150).map(|i| format!("g{round}-{i}")).collect();
            let _: i64 = cmd("SADD").arg("k").arg(&extra).query(&mut con).unwrap();
        }
        round += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    for m in &stable {
        assert!(seen.contains(m), "{m} missing from the scan");
    }
}

#[test]
fn hostile_counts_are_bounded() {
    let (_s, mut con) = server();
    let _: i64 = cmd("SADD")
        .arg("s")
        .arg(&["a", "b"])
        .query(&mut con)
        .unwrap();
    for count in [i64::MIN, i64::MIN + 1, -(1 << 40)] {
        let r = cmd("SRANDMEMBER")
            .arg("s")
            .arg(count)
            .query::<Vec<String>>(&mut con);
        assert!(r.unwrap_err().to_string().contains("out of range"));
    }
    let all: Vec<String> = cmd("SRANDMEMBER")
        .arg("s")
        .arg(i64::MAX)
        .query(&mut con)
        .unwrap();
    assert_eq!(all.len(), 2);
    let some: Vec<String> = cmd("SRANDMEMBER")
        .arg("s")
        .arg(-1000)
        .query(&mut con)
        .unwrap();
    assert_eq!(some.len(), 1000);
    let popped: Vec<String> = cmd("SPOP").arg("s").arg(i64::MAX).query(&mut con).unwrap();
    assert_eq!(popped.len(), 2);
}
