//! Expiry: lazy on access and the active cycle reclaiming keys nobody touches; SET PX then GET
//! as in the README example. Polls with deadlines (no fixed sleeps).

use crate::common;

use std::time::Duration;

use common::{backends, eventually, Server};
use redis::Commands;

#[test]
fn set_px_then_get() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.redis();
        let _: () = redis::cmd("SET")
            .arg("mykey")
            .arg("Hello World")
            .arg("PX")
            .arg(300)
            .query(&mut c)
            .unwrap();
        let v: Option<String> = c.get("mykey").unwrap();
        assert_eq!(v.as_deref(), Some("Hello World"));
        let pttl: i64 = c.pttl("mykey").unwrap();
        assert!(pttl > 0 && pttl <= 300);
        assert!(
            eventually(Duration::from_secs(5), || c
                .get::<_, Option<String>>("mykey")
                .unwrap()
                .is_none()),
            "{backend}"
        );
        let ttl: i64 = c.ttl("mykey").unwrap();
        assert_eq!(ttl, -2);
    }
}

#[test]
fn active_expiry_reclaims_untouched_keys() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.redis();
        for i in 0..500 {
            let _: () = redis::cmd("SET")
                .arg(format!("vol{i}"))
                .arg("x")
                .arg("PX")
                .arg(100)
                .query(&mut c)
                .unwrap();
        }
        let _: () = c.set("persistent", "y").unwrap();
        // DBSIZE counts keys not yet reclaimed: only the active cycle can bring it down.
        assert!(
            eventually(Duration::from_secs(5), || redis::cmd("DBSIZE")
                .query::<i64>(&mut c)
                .unwrap()
                == 1),
            "{backend}: active expiry did not reclaim the keys"
        );
        let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
        assert!(info.contains("expired_keys:500"), "{backend}: {info}");
    }
}

/// SET and INCR over a value of the same length rewrite it where it is stored: the TTL rules,
/// the replies and WATCH must stay Redis's.
#[test]
fn rewrites_of_equal_length_keep_redis_semantics() {
    let server = Server::start(2, "uring", &[]);
    let mut c = server.redis();
    let set = |c: &mut redis::Connection, args: &[&str]| -> redis::Value {
        redis::cmd("SET").arg(args).query(c).unwrap()
    };
    set(&mut c, &["k", "aaa", "EX", "100"]);
    set(&mut c, &["k", "bbb"]);
    assert_eq!(
        c.ttl::<_, i64>("k").unwrap(),
        -1,
        "a plain SET drops the TTL"
    );
    assert_eq!(c.get::<_, String>("k").unwrap(), "bbb");
    set(&mut c, &["k", "ccc", "EX", "100"]);
    set(&mut c, &["k", "ddd", "KEEPTTL"]);
    assert!((99..=100).contains(&c.ttl::<_, i64>("k").unwrap()));
    assert_eq!(c.get::<_, String>("k").unwrap(), "ddd");
    set(&mut c, &["k", "eee", "EX", "50"]);
    assert!((49..=50).contains(&c.ttl::<_, i64>("k").unwrap()));
    let old: Option<String> = redis::cmd("SET")
        .arg(&["k", "fff", "GET"])
        .query(&mut c)
        .unwrap();
    assert_eq!(old.as_deref(), Some("eee"));
    assert_eq!(c.ttl::<_, i64>("k").unwrap(), -1);
    // INCR keeps the TTL, in place (41 → 42) and not (99 → 100).
    set(&mut c, &["n", "41", "EX", "100"]);
    assert_eq!(c.incr::<_, _, i64>("n", 1).unwrap(), 42);
    set(&mut c, &["m", "99", "EX", "100"]);
    assert_eq!(c.incr::<_, _, i64>("m", 1).unwrap(), 100);
    for key in ["n", "m"] {
        assert!((99..=100).contains(&c.ttl::<_, i64>(key).unwrap()), "{key}");
    }
    assert_eq!(c.get::<_, String>("n").unwrap(), "42");
    // A key written in place by another client fails the watcher's EXEC, on either shard.
    for key in ["foo", "bar"] {
        for write in [&["SET", key, "xyz"][..], &["INCR", key]] {
            set(&mut c, &[key, "100"]);
            let mut other = server.redis();
            let _: () = redis::cmd("WATCH").arg(key).query(&mut c).unwrap();
            let _: () = redis::cmd(write[0])
                .arg(&write[1..])
                .query(&mut other)
                .unwrap();
            let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
            let _: () = redis::cmd("GET").arg(key).query(&mut c).unwrap();
            let exec: Option<Vec<String>> = redis::cmd("EXEC").query(&mut c).unwrap();
            assert_eq!(exec, None, "{write:?}");
        }
    }
}
