//! Hash commands end to end on a 2-thread server: encodings and their limits (CONFIG SET),
//! HSCAN's guarantee under growth, HRANDFIELD's shapes and hostile counts.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::Server;
use redis::{cmd, Connection};

fn server() -> (Server, Connection) {
    let server = Server::start(2, "epoll", &[]);
    let con = server.redis();
    (server, con)
}

fn encoding(con: &mut Connection, key: &str) -> String {
    cmd("OBJECT").arg("ENCODING").arg(key).query(con).unwrap()
}

#[test]
fn listpack_until_the_limits_then_hashtable() {
    let (_s, mut con) = server();
    for i in 0..128 {
        let _: i64 = cmd("HSET")
            .arg("h")
            .arg(format!("f{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    assert_eq!(encoding(&mut con, "h"), "listpack");
    let _: i64 = cmd("HSET")
        .arg("h")
        .arg("one-more")
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert_eq!(encoding(&mut con, "h"), "hashtable");
    let all: BTreeMap<String, String> = cmd("HGETALL").arg("h").query(&mut con).unwrap();
    assert_eq!(all.len(), 129);
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("hash-max-ziplist-value")
        .arg(4)
        .query(&mut con)
        .unwrap();
    let _: i64 = cmd("HSET")
        .arg("small")
        .arg("f")
        .arg("12345")
        .query(&mut con)
        .unwrap();
    assert_eq!(encoding(&mut con, "small"), "hashtable");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("hash-max-ziplist-value")
        .arg(64)
        .query(&mut con)
        .unwrap();
    let _: i64 = cmd("HSET")
        .arg("small2")
        .arg("f")
        .arg("12345")
        .query(&mut con)
        .unwrap();
    assert_eq!(encoding(&mut con, "small2"), "listpack");
}

#[test]
fn hscan_returns_every_stable_field_while_the_hash_grows() {
    let (_s, mut con) = server();
    for i in 0..200 {
        let _: i64 = cmd("HSET")
            .arg("h")
            .arg(format!("s{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let mut seen = BTreeSet::new();
    let mut cursor = 0u64;
    let mut round = 0;
    loop {
        let (next, flat): (u64, Vec<String>) = cmd("HSCAN")
            .arg("h")
            .arg(cursor)
            .arg("COUNT")
            .arg(5)
            .query(&mut con)
            .unwrap();
        seen.extend(flat.chunks(2).map(|p| p[0].clone()));
        // Grow for a while (several table doublings), then let the scan finish.
        for i in 0..if round < 12 { 100 } else { 0 } {
            let _: i64 = cmd("HSET")
                .arg("h")
                .arg(format!("g{round}-{i}"))
                .arg(i)
                .query(&mut con)
                .unwrap();
        }
        round += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    for i in 0..200 {
        assert!(seen.contains(&format!("s{i}")));
    }
}

#[test]
fn hrandfield_counts() {
    let (_s, mut con) = server();
    let _: i64 = cmd("HSET")
        .arg("h")
        .arg(&["a", "1", "b", "2", "c", "3"])
        .query(&mut con)
        .unwrap();
    let all: Vec<String> = cmd("HRANDFIELD")
        .arg("h")
        .arg(10)
        .arg("WITHVALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(all, vec!["a", "1", "b", "2", "c", "3"]);
    let two: Vec<String> = cmd("HRANDFIELD").arg("h").arg(2).query(&mut con).unwrap();
    assert_eq!(two.iter().collect::<BTreeSet<_>>().len(), 2);
    let rep: Vec<String> = cmd("HRANDFIELD")
        .arg("h")
        .arg(-50)
        .arg("WITHVALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(rep.len(), 100);
    for count in [i64::MIN, -(1 << 40)] {
        let r = cmd("HRANDFIELD")
            .arg("h")
            .arg(count)
            .query::<Vec<String>>(&mut con);
        assert!(r.unwrap_err().to_string().contains("out of range"));
    }
}

#[test]
fn counters_and_wrong_types() {
    let (_s, mut con) = server();
    let n: i64 = cmd("HINCRBY")
        .arg("h")
        .arg("n")
        .arg(5)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 5);
    let f: String = cmd("HINCRBYFLOAT")
        .arg("h")
        .arg("n")
        .arg("0.5")
        .query(&mut con)
        .unwrap();
    assert_eq!(f, "5.5");
    let _: () = cmd("SET").arg("s").arg("x").query(&mut con).unwrap();
    let e = cmd("HSET")
        .arg("s")
        .arg("f")
        .arg("v")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("WRONGTYPE"));
    let _: i64 = cmd("HDEL").arg("h").arg("n").query(&mut con).unwrap();
    assert_eq!(cmd("EXISTS").arg("h").query::<i64>(&mut con).unwrap(), 0);
}
