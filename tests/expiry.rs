//! Expiry: lazy on access and the active cycle reclaiming keys nobody touches; SET PX then GET
//! as in the README example. Polls with deadlines (no fixed sleeps).

mod common;

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
