//! LOLWUT and MEMORY STATS / DOCTOR / PURGE against redis-server: LOLWUT's deterministic
//! drawings (Schotter's first two rows, a one-row skyline) byte for byte once the version in
//! the signature is Redis's, the random ones in Redis's frame; MEMORY STATS with Redis's
//! fields in Redis's order and types; the error replies.

use crate::common;

use common::{assert_scripts_match_redis, backends, RedisServer, Server};
use redis::Value;

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn lolwut(con: &mut redis::Connection, args: &str) -> String {
    let mut cmd = redis::cmd("LOLWUT");
    for a in args.split_whitespace() {
        cmd.arg(a);
    }
    cmd.query(con).unwrap()
}

fn version(con: &mut redis::Connection) -> String {
    let info: String = redis::cmd("INFO").arg("server").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn lolwut_draws_as_redis() {
    let redis = RedisServer::start();
    let mut theirs = connect(redis.port);
    let their_version = version(&mut theirs);
    let fixed = [
        "",
        "VERSION 5 1 1 1",
        "VERSION 5 10 3 2",
        "VERSION 5 66 8 1",
        "VERSION 5 200 13 2",
        "VERSION 5 0 0 0",
        "VERSION 5 3 300 1",
        "VERSION 5 5000 1 1",
        "VERSION 6 10 1",
        "VERSION 6 80 1 extra",
        "VERSION 7",
        "VERSION -1",
        "version 4",
        "VERSION",
    ];
    // Random drawings: the same frame (lines, signature), not the same picture.
    let random = [
        "VERSION 5",
        "VERSION 5 30 4 9",
        "VERSION 6",
        "VERSION 6 40 12",
    ];
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut ours = server.redis();
        let our_version = version(&mut ours);
        for args in fixed {
            let want = lolwut(&mut theirs, args);
            let got = lolwut(&mut ours, args).replace(&our_version, &their_version);
            assert_eq!(got, want, "[{backend}] LOLWUT {args}");
        }
        for args in random {
            let want = lolwut(&mut theirs, args);
            let got = lolwut(&mut ours, args).replace(&our_version, &their_version);
            let frame = |s: &str| {
                let lines: Vec<&str> = s.lines().collect();
                // Pixels per line: a Braille cell (version 5) or a coloured space (6).
                let pixels = |l: &str| {
                    l.chars()
                        .filter(|c| *c == ' ' || ('\u{2800}'..='\u{28FF}').contains(c))
                        .count()
                };
                let widths: Vec<usize> = lines.iter().map(|l| pixels(l)).collect();
                (widths, lines.last().map(|l| l.to_string()))
            };
            assert_eq!(frame(&got), frame(&want), "[{backend}] LOLWUT {args}");
        }
    }
}

#[test]
fn lolwut_and_memory_errors_match_redis() {
    assert_scripts_match_redis(&[&[
        "LOLWUT VERSION x",
        "LOLWUT VERSION 5 a",
        "LOLWUT VERSION 6 1 x",
        "MEMORY PURGE",
        "MEMORY PURGE x",
        "MEMORY STATS x",
        "MEMORY DOCTOR x",
        "MEMORY MALLOC-STATS x",
        "MEMORY DOCTOR",
        "MEMORY NOSUCH",
    ]]);
}

/// The fields of a MEMORY STATS reply with each value's kind, nested maps included.
fn shape(value: &Value) -> Vec<String> {
    let Value::Array(items) = value else {
        panic!("MEMORY STATS is not an array: {value:?}");
    };
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let name = match &pair[0] {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("field name {other:?}"),
        };
        let kind = match &pair[1] {
            Value::Int(_) => "int".to_string(),
            // Redis 7.0 sends doubles to RESP2 clients as bulk strings.
            Value::BulkString(b) => {
                let text = String::from_utf8_lossy(b);
                assert!(text.parse::<f64>().is_ok(), "{name}: {text}");
                "double".to_string()
            }
            nested @ Value::Array(_) => shape(nested).join(","),
            other => panic!("{name}: {other:?}"),
        };
        out.push(format!("{name}={kind}"));
    }
    out
}

fn memory_stats(port: u16) -> Vec<String> {
    let mut con = connect(port);
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    for db in [0, 3] {
        let _: () = redis::cmd("SELECT").arg(db).query(&mut con).unwrap();
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
        let _: () = redis::cmd("SET")
            .arg("t")
            .arg("v")
            .arg("EX")
            .arg(100)
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();
    let stats: Value = redis::cmd("MEMORY").arg("STATS").query(&mut con).unwrap();
    let keys: Vec<i64> = match &stats {
        Value::Array(items) => items
            .chunks(2)
            .filter(|p| p[0] == Value::BulkString(b"keys.count".to_vec()))
            .filter_map(|p| match p[1] {
                Value::Int(n) => Some(n),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    assert_eq!(keys, [4], "keys.count");
    shape(&stats)
}

#[test]
fn memory_stats_has_redis_fields_in_order() {
    let redis = RedisServer::start();
    let expected = memory_stats(redis.port);
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        assert_eq!(memory_stats(server.port), expected, "{backend}");
    }
}
