//! HyperLogLog against redis-server 7.0.15: replies byte for byte, and the stored strings
//! themselves (sparse, dense, the promotion between them, the cached cardinality) identical for
//! the same inputs, readable by either server from the other's bytes.

use crate::common;

use common::{assert_scripts_match_redis, Raw, RedisServer, Server};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[test]
fn replies_match_redis() {
    assert_scripts_match_redis(&[
        &[
            "PFADD h",
            "PFADD h",
            "GET h",
            "PFADD h a b c d e",
            "PFADD h a",
            "GET h",
            "PFCOUNT h",
            "GET h",
            "PFCOUNT nokey",
            "PFDEBUG ENCODING h",
            "PFDEBUG DECODE h",
            "PFDEBUG GETREG h",
            "PFDEBUG TODENSE h",
            "PFDEBUG TODENSE h",
            "PFDEBUG DECODE h",
            "PFDEBUG ENCODING h",
            "PFDEBUG nosuch h",
            "PFDEBUG GETREG nokey",
            "PFCOUNT h",
            "GET h",
        ],
        // foo and bar live on different shards: union and merge across them.
        &[
            "PFADD foo 1 2 3 4 5 6 7 8 9 10",
            "PFADD bar 8 9 10 11 12 13",
            "PFCOUNT foo bar",
            "PFCOUNT foo bar nokey",
            "PFMERGE foo bar",
            "GET foo",
            "PFMERGE baz foo bar",
            "GET baz",
            "PFCOUNT baz",
            "PFMERGE empty",
            "GET empty",
            "PFDEBUG TODENSE bar",
            "PFMERGE {foo}x foo bar",
            "PFDEBUG ENCODING {foo}x",
            "GET {foo}x",
        ],
        &[
            "SET s hello",
            "PFADD s a",
            "PFCOUNT s",
            "PFCOUNT s foo",
            "PFMERGE s foo",
            "PFMERGE foo s",
            "LPUSH l a",
            "PFADD l a",
            "PFCOUNT l",
            "PFMERGE bar l",
            "PFDEBUG ENCODING l",
            "SET d HYLL",
            "PFCOUNT d",
            "CONFIG SET hll-sparse-max-bytes 30",
            "PFADD p 1 2 3 4 5 6 7 8 9 10 11 12",
            "PFDEBUG ENCODING p",
            "GET p",
            "CONFIG SET hll-sparse-max-bytes 3000",
            "PFSELFTEST",
        ],
    ]);
}

/// Sends one command and returns the raw reply.
fn call(raw: &mut Raw, args: &[&[u8]]) -> Vec<u8> {
    raw.cmd(args);
    raw.reply()
}

/// The bulk payload of a `$n\r\n...\r\n` reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    let start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    reply[start..reply.len() - 2].to_vec()
}

fn int(reply: &[u8]) -> i64 {
    assert_eq!(reply[0], b':', "{}", String::from_utf8_lossy(reply));
    std::str::from_utf8(&reply[1..reply.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

/// Random element sets, small (sparse) to large (dense, past the promotion), added in batches
/// to both servers: GET is byte-identical after every batch and after PFCOUNT caches the
/// estimate, the estimate is within Redis's error, merges agree both ways round, and each
/// server keeps adding to the other's bytes.
#[test]
fn stored_bytes_match_redis_for_random_sets() {
    let redis = RedisServer::start();
    let server = Server::start(2, common::backends()[0], &[]);
    let conns = std::cell::RefCell::new((server.raw(), Raw::connect(redis.port)));
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    let sets = (
        prop::collection::vec(any::<u32>(), 1..4000),
        16usize..400,
        any::<u64>(),
    );
    runner
        .run(&sets, |(elements, batch, salt)| {
            let mut pair = conns.borrow_mut();
            let (ours, theirs) = &mut *pair;
            for raw in [&mut *ours, &mut *theirs] {
                call(raw, &[b"FLUSHALL"]);
            }
            let texts: Vec<Vec<u8>> = elements
                .iter()
                .map(|e| format!("{}", *e as u64 ^ salt).into_bytes())
                .collect();
            for chunk in texts.chunks(batch.max(1)) {
                let mut args: Vec<&[u8]> = vec![b"PFADD", b"foo"];
                args.extend(chunk.iter().map(|e| &e[..]));
                prop_assert_eq!(call(&mut *ours, &args), call(&mut *theirs, &args));
                prop_assert_eq!(
                    call(&mut *ours, &[b"GET", b"foo"]),
                    call(&mut *theirs, &[b"GET", b"foo"])
                );
            }
            let count = call(&mut *ours, &[b"PFCOUNT", b"foo"]);
            prop_assert_eq!(&count, &call(&mut *theirs, &[b"PFCOUNT", b"foo"]));
            prop_assert_eq!(
                call(&mut *ours, &[b"GET", b"foo"]),
                call(&mut *theirs, &[b"GET", b"foo"])
            );
            let mut distinct = texts.clone();
            distinct.sort();
            distinct.dedup();
            let (n, estimate) = (distinct.len() as f64, int(&count) as f64);
            // 1.04/sqrt(16384) is the standard error; six of them bound it as PFSELFTEST does.
            prop_assert!(
                (estimate - n).abs() <= (n * 0.0081 * 6.0).max(2.0),
                "{} vs {}",
                estimate,
                n
            );
            // Merges commute: bar ∪ foo and foo ∪ bar count alike (bar on another shard).
            for raw in [&mut *ours, &mut *theirs] {
                call(raw, &[b"PFADD", b"bar", b"x", b"y", b"z"]);
            }
            let ab = int(&call(&mut *ours, &[b"PFCOUNT", b"foo", b"bar"]));
            let ba = int(&call(&mut *ours, &[b"PFCOUNT", b"bar", b"foo"]));
            prop_assert_eq!(ab, ba);
            call(&mut *ours, &[b"PFMERGE", b"{bar}m", b"bar", b"foo"]);
            call(&mut *theirs, &[b"PFMERGE", b"{bar}m", b"bar", b"foo"]);
            prop_assert_eq!(
                call(&mut *ours, &[b"GET", b"{bar}m"]),
                call(&mut *theirs, &[b"GET", b"{bar}m"])
            );
            // Each server reads and extends the other's bytes.
            let mine = bulk(&call(&mut *ours, &[b"GET", b"foo"]));
            let redis_bytes = bulk(&call(&mut *theirs, &[b"GET", b"foo"]));
            call(&mut *ours, &[b"SET", b"swap", &redis_bytes]);
            call(&mut *theirs, &[b"SET", b"swap", &mine]);
            for raw in [&mut *ours, &mut *theirs] {
                call(raw, &[b"PFADD", b"swap", b"extra-1", b"extra-2"]);
            }
            prop_assert_eq!(
                call(&mut *ours, &[b"GET", b"swap"]),
                call(&mut *theirs, &[b"GET", b"swap"])
            );
            Ok(())
        })
        .unwrap();
}
