//! Chained replication through a ringkv replica: redis-server → ringkv → redis-server and
//! ringkv → ringkv → ringkv. The middle server passes its master's stream on as received
//! (same replication ID and offsets), serves a full resync of its own dataset at its own
//! offset, continues its replica partially after the link drops, and after its promotion its
//! replica continues with +CONTINUE.

use crate::common;
use crate::replication_replica::{assert_same, connect, info, link_up, load, snapshot};

use std::time::Duration;

use common::{eventually, info_field, query, RedisServer, Server};
use redis::Value;

const SETTLE: Duration = Duration::from_secs(20);

/// The end of a chain: its port, and what keeps it running.
enum Node {
    Ringkv(Server),
    Redis(RedisServer),
}

impl Node {
    fn port(&self) -> u16 {
        match self {
            Node::Ringkv(s) => s.port,
            Node::Redis(r) => r.port,
        }
    }
}

fn replicaof(port: u16) -> [String; 3] {
    ["--replicaof".into(), "127.0.0.1".into(), port.to_string()]
}

fn offset(port: u16) -> Option<u64> {
    info_field(
        &info(&mut connect(port), "replication"),
        "master_repl_offset",
    )
}

fn stat(port: u16, field: &str) -> Option<u64> {
    info_field(&info(&mut connect(port), "stats"), field)
}

/// Runs the chain `top` → `middle` (ringkv, started here) → `bottom` (started by `start`).
fn chain(top: Node, backend: &str, bottom: impl Fn(u16) -> Node) {
    let mut m = connect(top.port());
    load(&mut m, "before");
    let args = replicaof(top.port());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let middle = Server::start(2, backend, &args);
    assert!(
        eventually(SETTLE, || link_up(middle.port)),
        "[{backend}] the middle link never came up"
    );
    let end = bottom(middle.port);
    assert!(
        eventually(SETTLE, || link_up(end.port())),
        "[{backend}] the end link never came up"
    );
    assert_same(top.port(), end.port(), backend, "after the full resyncs");
    load(&mut m, "after");
    assert_same(top.port(), end.port(), backend, "after the stream");
    // The same history and offsets down the chain.
    let replid = |port: u16| {
        let text = info(&mut connect(port), "replication");
        text.lines()
            .find_map(|l| l.strip_prefix("master_replid:"))
            .map(str::to_string)
    };
    assert!(
        eventually(SETTLE, || {
            let top_offset = offset(top.port());
            top_offset == offset(middle.port) && top_offset == offset(end.port())
        }),
        "[{backend}] offsets never met: {:?} {:?} {:?}",
        offset(top.port()),
        offset(middle.port),
        offset(end.port())
    );
    assert_eq!(replid(top.port()), replid(middle.port), "[{backend}]");
    assert_eq!(replid(top.port()), replid(end.port()), "[{backend}]");
    assert_eq!(stat(middle.port, "sync_full"), Some(1), "[{backend}]");

    // The middle cuts its replica off; what comes meanwhile arrives by a partial resync.
    let mut r = middle.redis();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut r)
        .unwrap();
    assert_eq!(killed, 1, "[{backend}]");
    load(&mut m, "during");
    assert!(eventually(SETTLE, || stat(middle.port, "sync_partial_ok") == Some(1)));
    assert!(eventually(SETTLE, || link_up(end.port())));
    assert_same(top.port(), end.port(), backend, "after the partial resync");
    assert_eq!(stat(middle.port, "sync_full"), Some(1), "[{backend}]");

    // Promoted, the middle keeps the history as the previous one: its replica continues.
    assert_eq!(query(&mut r, &["REPLICAOF", "NO", "ONE"]), Value::Okay);
    assert!(eventually(SETTLE, || stat(middle.port, "sync_partial_ok") == Some(2)));
    assert!(eventually(SETTLE, || link_up(end.port())));
    assert_eq!(stat(middle.port, "sync_full"), Some(1), "[{backend}]");
    load(&mut r, "promoted");
    assert_same(middle.port, end.port(), backend, "after the promotion");
    assert!(snapshot(end.port()).len() > snapshot(top.port()).len());
    assert!(eventually(SETTLE, || offset(middle.port) == offset(end.port())));
    assert_eq!(replid(middle.port), replid(end.port()), "[{backend}]");
}

#[test]
fn redis_to_ringkv_to_redis() {
    for backend in common::backends() {
        let top = RedisServer::start_with(&["--repl-diskless-sync-delay", "0"]);
        chain(Node::Redis(top), backend, |port| {
            let args = replicaof(port);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Node::Redis(RedisServer::start_with(&args))
        });
    }
}

#[test]
fn ringkv_to_ringkv_to_ringkv() {
    for backend in common::backends() {
        let top = Server::start(2, backend, &[]);
        chain(Node::Ringkv(top), backend, |port| {
            let args = replicaof(port);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Node::Ringkv(Server::start(2, backend, &args))
        });
    }
}
