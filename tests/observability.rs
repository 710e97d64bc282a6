//! SLOWLOG, LATENCY and per-command timing against redis-server 7.0.15: entries and replies in
//! Redis's shapes, timing that follows what the commands really took.

use crate::common;

use common::{query, RedisServer, Server};
use redis::Value;

fn bulk_text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// SLOWLOG GET's entries without what differs between runs (id, time, duration, the
/// client's port): (arguments, client host, client name).
fn entries(con: &mut redis::Connection) -> Vec<(Vec<String>, String, String)> {
    let Value::Array(list) = query(con, &["SLOWLOG", "GET", "-1"]) else {
        panic!("SLOWLOG GET is an array");
    };
    list.iter()
        .map(|e| {
            let Value::Array(fields) = e else {
                panic!("entry {e:?}")
            };
            assert_eq!(fields.len(), 6, "{fields:?}");
            assert!(matches!(fields[0], Value::Int(_)) && matches!(fields[2], Value::Int(_)));
            let Value::Array(args) = &fields[3] else {
                panic!("args {fields:?}")
            };
            let peer = bulk_text(&fields[4]);
            let host = peer
                .rsplit_once(':')
                .map_or(peer.clone(), |(h, _)| h.to_string());
            (
                args.iter().map(bulk_text).collect(),
                host,
                bulk_text(&fields[5]),
            )
        })
        .collect()
}

fn any_reply(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    match c.query::<Value>(con) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("{:?} {:?}", e.code(), e.detail()),
    }
}

#[test]
fn slowlog_records_what_redis_server_records() {
    let redis = RedisServer::start();
    let server = Server::start(2, "uring", &[]);
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut ours = server.redis();
    let long = "x".repeat(200);
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    for con in [&mut theirs, &mut ours] {
        query(con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        query(con, &["SLOWLOG", "RESET"]);
        query(con, &["CLIENT", "SETNAME", "probe"]);
        query(con, &["SET", "foo", &long]);
        query(con, &["SET", "bar", "1"]);
        let mut rpush = vec!["RPUSH", "list"];
        rpush.extend(many.iter().map(String::as_str));
        query(con, &rpush);
        let _ = redis::cmd("AUTH")
            .arg("someone")
            .arg("secret")
            .query::<Value>(con);
        query(con, &["MGET", "foo", "bar"]);
        query(
            con,
            &["CONFIG", "SET", "slowlog-log-slower-than", "10000000"],
        );
    }
    let (a, b) = (entries(&mut theirs), entries(&mut ours));
    assert_eq!(b, a);
    assert!(b
        .iter()
        .any(|(args, ..)| args.last().is_some_and(|l| l == "... (11 more arguments)")));
    assert!(b
        .iter()
        .any(|(args, ..)| args == &["AUTH", "(redacted)", "(redacted)"]));
    for args in [
        &["SLOWLOG", "LEN"][..],
        &["SLOWLOG", "GET", "-2"],
        &["SLOWLOG", "GET", "x"],
        &["SLOWLOG", "GET", "1", "2"],
        &["SLOWLOG", "HELP"],
        &["SLOWLOG", "RESET"],
        &["SLOWLOG", "LEN"],
        &["CONFIG", "SET", "slowlog-max-len", "1"],
    ] {
        assert_eq!(
            any_reply(&mut ours, args),
            any_reply(&mut theirs, args),
            "{args:?}"
        );
    }
}

/// A script that keeps the server busy for `ms` milliseconds.
const BUSY: &str = "local t = redis.call('TIME') \
    while true do local n = redis.call('TIME') \
    if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > tonumber(ARGV[1]) * 1000 then break end end";

#[test]
fn timing_shows_in_commandstats_latencystats_and_the_latency_monitor() {
    let server = Server::start(2, "uring", &[]);
    let mut con = server.redis();
    query(
        &mut con,
        &["CONFIG", "SET", "latency-monitor-threshold", "5"],
    );
    query(&mut con, &["EVAL", BUSY, "0", "20"]);
    query(&mut con, &["SET", "foo", "1"]);
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("cmdstat_eval:"))
        .expect("eval counted");
    let usec: u64 = value_after(line, "usec=").expect("usec field");
    assert!((20_000..10_000_000).contains(&usec), "{line}");
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    let eval = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_eval:"))
        .expect("eval's percentiles");
    let p50: f64 = value_after(eval, "p50=").expect("p50");
    assert!(p50 >= 20_000.0, "{eval}");
    assert!(eval.contains(",p99=") && eval.contains(",p99.9="), "{eval}");
    assert!(info.contains("latency_percentiles_usec_set:p50="), "{info}");
    // The latency monitor saw the script as a `command` spike; SET was fast.
    let Value::Array(latest) = query(&mut con, &["LATENCY", "LATEST"]) else {
        panic!()
    };
    assert_eq!(latest.len(), 1, "{latest:?}");
    let Value::Array(fields) = &latest[0] else {
        panic!()
    };
    assert_eq!(bulk_text(&fields[0]), "command");
    let ms: i64 = bulk_text(&fields[2]).parse().unwrap();
    assert!(ms >= 20, "{fields:?}");
    let Value::Array(history) = query(&mut con, &["LATENCY", "HISTORY", "command"]) else {
        panic!()
    };
    assert_eq!(history.len(), 1);
    assert_eq!(query(&mut con, &["LATENCY", "RESET"]), Value::Int(1));
    // CONFIG RESETSTAT clears the timing too.
    query(&mut con, &["CONFIG", "RESETSTAT"]);
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    assert!(!info.contains("cmdstat_eval"), "{info}");
}

#[test]
fn latency_histogram_and_subcommand_stats_have_redis_server_shapes() {
    let redis = RedisServer::start();
    let server = Server::start(2, "uring", &[]);
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut ours = server.redis();
    let shape = |con: &mut redis::Connection| -> Vec<(String, Vec<String>)> {
        query(con, &["CONFIG", "RESETSTAT"]);
        query(con, &["CLIENT", "ID"]);
        query(con, &["CLIENT", "LIST"]);
        query(con, &["SET", "a", "1"]);
        // RESP2: maps come as flat arrays of key, value.
        let pairs = |v: Value| -> Vec<(Value, Value)> {
            let Value::Array(flat) = v else {
                panic!("{v:?}")
            };
            flat.chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect()
        };
        let map = pairs(query(
            con,
            &["LATENCY", "HISTOGRAM", "client", "set", "nosuch"],
        ));
        let mut out: Vec<(String, Vec<String>)> = map
            .into_iter()
            .map(|(k, v)| {
                (
                    bulk_text(&k),
                    pairs(v).iter().map(|(f, _)| bulk_text(f)).collect(),
                )
            })
            .collect();
        out.sort();
        let info: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
        let mut names: Vec<String> = info
            .lines()
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            .filter_map(|l| l.split(':').next())
            // ringkv counts a call when it starts, Redis when it ends: INFO lists itself in
            // ringkv only, CONFIG RESETSTAT in redis-server only (README, differences).
            .filter(|name| !matches!(*name, "info" | "config|resetstat"))
            .map(String::from)
            .collect();
        names.sort();
        out.push(("commandstats".into(), names));
        out
    };
    assert_eq!(shape(&mut ours), shape(&mut theirs));
}

/// The value after `key` in an INFO line's `k=v,k=v` list.
fn value_after<T: std::str::FromStr>(line: &str, key: &str) -> Option<T> {
    line.split(key).nth(1)?.split(',').next()?.parse().ok()
}
