//! Client memory as Redis reports and limits it: CLIENT LIST/INFO's buffer fields, the
//! pubsub output-buffer limit, client-query-buffer-limit and client eviction
//! (maxmemory-clients, CLIENT NO-EVICT). Each case runs on both backends and on redis-server.

use crate::common;

use std::time::Duration;

use common::{backends, encode, eventually, info_field, RedisServer, Server};

/// A server under test: ringkv on a backend, or redis-server.
enum Target {
    Ringkv(Server),
    Redis(RedisServer),
}

impl Target {
    fn port(&self) -> u16 {
        match self {
            Target::Ringkv(s) => s.port,
            Target::Redis(s) => s.port,
        }
    }

    fn redis(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port()))
            .unwrap()
            .get_connection()
            .expect("connect")
    }

    fn raw(&self) -> common::Raw {
        common::Raw::connect(self.port())
    }
}

/// Every server to compare: ringkv on each backend (2 threads), then redis-server.
fn targets() -> Vec<(String, Target)> {
    let mut all: Vec<(String, Target)> = backends()
        .into_iter()
        .map(|b| (b.to_string(), Target::Ringkv(Server::start(2, b, &[]))))
        .collect();
    all.push(("redis".into(), Target::Redis(RedisServer::start())));
    all
}

/// The value of `field=` in a CLIENT LIST line.
fn field(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .to_string()
}

fn num(line: &str, name: &str) -> u64 {
    field(line, name).parse().unwrap()
}

/// The CLIENT LIST line of the client named `name`, if it is connected.
fn line_of(con: &mut redis::Connection, name: &str) -> Option<String> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(con).unwrap();
    let tag = format!(" name={name} ");
    list.lines().find(|l| l.contains(&tag)).map(str::to_string)
}

fn info(con: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(con).unwrap()
}

fn set(con: &mut redis::Connection, args: &[&str]) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(args)
        .query(con)
        .unwrap();
}

#[test]
fn client_info_shows_the_running_command_as_redis_does() {
    for (name, target) in targets() {
        let mut con = target.redis();
        for sub in ["INFO", "LIST"] {
            let text: String = redis::cmd("CLIENT").arg(sub).query(&mut con).unwrap();
            let line = text.lines().next().unwrap();
            // The query buffer holds this very command (`*2 $6 client $4 info|list`), its
            // arguments are 10 bytes, and nothing is pending in the output yet.
            assert_eq!(num(line, "qbuf"), 26, "{name}: {line}");
            assert_eq!(num(line, "argv-mem"), 10, "{name}: {line}");
            for zero in ["multi-mem", "obl", "oll", "omem"] {
                assert_eq!(num(line, zero), 0, "{name}: {zero} in {line}");
            }
            assert!(num(line, "qbuf-free") > 0, "{name}: {line}");
            assert!(num(line, "rbs") > 0, "{name}: {line}");
            let total = num(line, "tot-mem");
            assert!(
                total > num(line, "qbuf") + num(line, "qbuf-free"),
                "{name}: {line}"
            );
        }
    }
}

#[test]
fn a_partial_command_shows_in_the_query_buffer() {
    for (name, target) in targets() {
        let mut con = target.redis();
        let mut dead = target.raw();
        dead.cmd(&[b"CLIENT", b"SETNAME", b"dead"]);
        assert_eq!(dead.reply(), b"+OK\r\n");
        // Half of a 200 kB argument: it stays unparsed in the query buffer.
        dead.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200000\r\n");
        dead.send(&vec![b'x'; 100_000]);
        let mut seen = String::new();
        assert!(
            eventually(Duration::from_secs(5), || {
                seen = line_of(&mut con, "dead").unwrap_or_default();
                !seen.is_empty() && num(&seen, "qbuf") >= 100_000
            }),
            "{name}: {seen}"
        );
        assert!(num(&seen, "tot-mem") >= 100_000, "{name}: {seen}");
    }
}

#[test]
fn a_subscriber_that_does_not_read_is_closed_at_the_hard_limit() {
    for (name, target) in targets() {
        let mut con = target.redis();
        set(
            &mut con,
            &["client-output-buffer-limit", "pubsub 200000 0 0"],
        );
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut con)
            .unwrap();
        let mut sub = target.raw();
        sub.cmd(&[b"CLIENT", b"SETNAME", b"silent"]);
        assert_eq!(sub.reply(), b"+OK\r\n");
        sub.cmd(&[b"SUBSCRIBE", b"news"]);
        sub.reply();
        let payload = "x".repeat(10_000);
        let mut largest = 0;
        let mut gone = false;
        // The socket buffers take some megabytes first; then the output grows to the limit.
        for _ in 0..5000 {
            let _: i64 = redis::cmd("PUBLISH")
                .arg("news")
                .arg(&payload)
                .query(&mut con)
                .unwrap();
            match line_of(&mut con, "silent") {
                Some(line) => largest = largest.max(num(&line, "omem")),
                None => {
                    gone = true;
                    break;
                }
            }
        }
        assert!(gone, "{name}: the subscriber was never closed");
        assert!(
            largest <= 200_000 + 20_000,
            "{name}: omem reached {largest}"
        );
        if name != "redis" {
            // Redis 7.2's counter (7.0 has none), kept by ringkv.
            let stats = info(&mut con, "stats");
            assert_eq!(
                info_field(&stats, "client_output_buffer_limit_disconnections"),
                Some(1),
                "{name}"
            );
        }
        assert!(ends_after_what_was_sent(&mut sub), "{name}");
    }
}

/// True when the connection reaches end of stream once the bytes already sent are read
/// (bounded: 64 MB, 10 s without a byte).
fn ends_after_what_was_sent(raw: &mut common::Raw) -> bool {
    use std::io::Read;
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    while total < 64 << 20 {
        match raw.stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => total += n,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
    false
}

#[test]
fn a_query_buffer_over_its_limit_closes_the_client() {
    for (name, target) in targets() {
        let mut con = target.redis();
        set(&mut con, &["client-query-buffer-limit", "1mb"]);
        let mut big = target.raw();
        big.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n");
        // The server may close while this is still being written.
        let _ = big.stream_write(&vec![b'x'; 1_500_000]);
        assert!(big.closed(), "{name}");
        let mut other = target.raw();
        other.send(&encode(&[b"PING"]));
        assert_eq!(other.reply(), b"+PONG\r\n", "{name}");
    }
}

#[test]
fn client_eviction_closes_the_largest_clients_but_not_no_evict_ones() {
    for (name, target) in targets() {
        let mut con = target.redis();
        let _: () = redis::cmd("CLIENT")
            .arg("NO-EVICT")
            .arg("ON")
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut con)
            .unwrap();
        let flags = field(&line_of_self(&mut con), "flags");
        assert!(flags.contains('e'), "{name}: flags={flags}");
        // Two clients hold 600 kB each in their query buffers, one of them exempt.
        let mut kept = target.raw();
        kept.cmd(&[b"CLIENT", b"SETNAME", b"kept"]);
        assert_eq!(kept.reply(), b"+OK\r\n");
        kept.cmd(&[b"CLIENT", b"NO-EVICT", b"ON"]);
        assert_eq!(kept.reply(), b"+OK\r\n");
        let mut big = target.raw();
        big.cmd(&[b"CLIENT", b"SETNAME", b"big"]);
        assert_eq!(big.reply(), b"+OK\r\n");
        for client in [&mut kept, &mut big] {
            client.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n");
            client.send(&vec![b'x'; 600_000]);
        }
        assert!(eventually(Duration::from_secs(5), || {
            line_of(&mut con, "big").is_some_and(|l| num(&l, "qbuf") >= 600_000)
        }));
        assert_eq!(
            info_field(&info(&mut con, "stats"), "evicted_clients"),
            Some(0),
            "{name}: nothing is evicted without maxmemory-clients"
        );
        set(&mut con, &["maxmemory-clients", "1mb"]);
        assert!(
            eventually(Duration::from_secs(5), || line_of(&mut con, "big")
                .is_none()),
            "{name}: the largest evictable client stays"
        );
        assert!(big.closed(), "{name}");
        assert!(
            line_of(&mut con, "kept").is_some(),
            "{name}: no-evict client evicted"
        );
        assert_eq!(
            info_field(&info(&mut con, "stats"), "evicted_clients"),
            Some(1),
            "{name}"
        );
        set(&mut con, &["maxmemory-clients", "0"]);
    }
}

fn line_of_self(con: &mut redis::Connection) -> String {
    redis::cmd("CLIENT").arg("INFO").query(con).unwrap()
}
