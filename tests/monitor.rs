//! MONITOR: the lines a monitor receives match redis-server's (timestamps and client ports
//! aside), with scripts' commands as `[db lua]`, secrets redacted, admin commands and refused
//! ones left out; commands from every thread reach every monitor; a monitor's own commands
//! follow Redis's rules (no key access, RESET leaves the mode, QUIT closes).

use crate::common;

use common::{backends, encode, words, Raw, RedisServer, Server};

/// The calls one client makes while a monitor watches (each line: words as `words` reads
/// them; a `\x..` escape stands for that byte).
const CALLS: &[&str] = &[
    "SET a\"b\\c x\\x09y\\x01\\xff",
    "GET foo",
    "SELECT 2",
    "SET k v",
    "SELECT 0",
    "EVAL \"redis.call('select',3); return redis.call('set','k','v')\" 0",
    "MULTI",
    "SET foo bar",
    "EXEC",
    "MULTI",
    "NOSUCH",
    "EXEC",
    "AUTH pw",
    "AUTH user pw",
    "HELLO 3 AUTH user pw",
    "CONFIG GET maxmemory",
    "GET",
    "LPUSH foo x",
    "CLIENT SETNAME someone",
    "ECHO done",
];

/// `words` of `line`, with `\xHH` turned into that byte.
fn call(line: &str) -> Vec<Vec<u8>> {
    words(line)
        .into_iter()
        .map(|w| {
            let mut out = Vec::new();
            let mut i = 0;
            while i < w.len() {
                if w[i..].starts_with(b"\\x") && i + 4 <= w.len() {
                    let hex = std::str::from_utf8(&w[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 4;
                } else {
                    out.push(w[i]);
                    i += 1;
                }
            }
            out
        })
        .collect()
}

/// Runs `CALLS` on a new client of `port` while a monitor watches; returns the monitor's
/// lines with the timestamp checked and dropped, and the client's address replaced by
/// `CLIENT`.
fn monitored_lines(port: u16) -> Vec<String> {
    let mut monitor = Raw::connect(port);
    monitor.cmd(&[b"MONITOR"]);
    assert_eq!(monitor.reply(), b"+OK\r\n");
    let mut client = Raw::connect(port);
    let addr = client.stream.local_addr().unwrap().to_string();
    for line in CALLS {
        let args = call(line);
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        client.send(&encode(&refs));
        client.reply();
    }
    let mut lines = Vec::new();
    loop {
        let raw = String::from_utf8(monitor.reply()).unwrap();
        let line = raw.strip_prefix('+').unwrap().trim_end().to_string();
        let (stamp, rest) = line.split_once(' ').unwrap();
        let (secs, micros) = stamp.split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
        let rest = rest.replace(&addr, "CLIENT");
        let done = rest.ends_with("\"ECHO\" \"done\"");
        lines.push(rest);
        if done {
            return lines;
        }
    }
}

#[test]
fn monitor_lines_match_redis() {
    let redis = RedisServer::start();
    let expected = monitored_lines(redis.port);
    assert!(expected.iter().any(|l| l.contains("[3 lua] \"set\"")));
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        assert_eq!(monitored_lines(server.port), expected, "{backend}");
    }
}

#[test]
fn a_monitor_sees_the_commands_of_both_threads() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut monitor = server.raw();
        monitor.cmd(&[b"MONITOR"]);
        assert_eq!(monitor.reply(), b"+OK\r\n");
        let (mut a, mut b) = common::connections_on_both_threads(&server);
        let mut expected = Vec::new();
        for round in 0..5 {
            for (con, name) in [(&mut a, "a"), (&mut b, "b")] {
                let key = format!("{name}{round}");
                let _: () = redis::cmd("SET").arg(&key).arg(round).query(con).unwrap();
                expected.push(format!("\"SET\" \"{key}\" \"{round}\""));
            }
        }
        // The client library's own handshake commands are shown too: only the SETs count.
        let mut seen = Vec::new();
        while seen.len() < expected.len() {
            let line = String::from_utf8(monitor.reply()).unwrap();
            if line.contains("\"SET\"") {
                seen.push(line);
            }
        }
        for (line, want) in seen.iter().zip(&expected) {
            assert!(
                line.trim_end().ends_with(want.as_str()),
                "{backend}: {line}"
            );
        }
    }
}

/// A monitor's own commands, as raw replies, on `port`.
fn monitor_session(port: u16) -> Vec<Vec<u8>> {
    let mut monitor = Raw::connect(port);
    let mut replies = Vec::new();
    for command in [
        &[&b"MULTI"[..]][..],
        &[b"MONITOR"],
        &[b"EXEC"],
        &[b"MONITOR"],
        &[b"GET", b"k"],
        &[b"SET", b"k", b"v"],
        &[b"PUBLISH", b"ch", b"m"],
    ] {
        monitor.cmd(command);
        replies.push(monitor.reply());
    }
    // A second MONITOR gets no reply at all: the next reply is CONFIG GET's (an admin
    // command, not shown to the monitor itself).
    monitor.send(b"MONITOR\r\nCONFIG GET maxmemory\r\n");
    replies.push(monitor.reply());
    // After RESET, a normal client again.
    monitor.cmd(&[b"RESET"]);
    replies.push(monitor.reply());
    monitor.cmd(&[b"GET", b"k"]);
    replies.push(monitor.reply());
    monitor.cmd(&[b"MONITOR"]);
    replies.push(monitor.reply());
    monitor.cmd(&[b"QUIT"]);
    replies.push(monitor.reply());
    assert!(monitor.closed());
    replies
}

#[test]
fn monitor_clients_follow_redis_rules() {
    let redis = RedisServer::start();
    let expected = monitor_session(redis.port);
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let got = monitor_session(server.port);
        let show = |r: &Vec<Vec<u8>>| {
            r.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(show(&got), show(&expected), "{backend}");
    }
}

#[test]
fn client_list_flags_a_monitor_until_reset() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut admin = server.redis();
        let mut monitor = server.raw();
        monitor.cmd(&[b"MONITOR"]);
        assert_eq!(monitor.reply(), b"+OK\r\n");
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
        assert!(list.contains("flags=O"), "{backend}: {list}");
        // CLIENT LIST is an admin command: the monitor was not shown it.
        monitor.cmd(&[b"RESET"]);
        assert_eq!(monitor.reply(), b"+RESET\r\n", "{backend}");
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
        assert!(!list.contains("flags=O"), "{backend}: {list}");
    }
}
