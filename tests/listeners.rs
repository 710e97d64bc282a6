//! CONFIG SET port / bind move the listeners at run time, as redis-server 7.0 does: the
//! replies and errors are compared with redis-server's, the new port serves, the old one
//! refuses connections, and a failed move leaves the old listeners serving. Also the
//! command-line errors redis-server reports for badly formed arguments.

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::process::Command;

use common::{Raw, RedisServer, Server};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

/// Runs the same moves on a server listening on `port`; returns the replies in order.
fn moves(port: u16) -> Vec<Vec<u8>> {
    let mut replies = Vec::new();
    let mut old = Raw::connect(port);
    let new_port = free_port();
    old.cmd(&[b"CONFIG", b"SET", b"port", new_port.to_string().as_bytes()]);
    replies.push(old.reply());
    // The connection made before the move stays; the old port takes no new ones.
    old.cmd(&[b"PING"]);
    replies.push(old.reply());
    assert!(refused(port), "old port {port} still accepts");
    let mut new = Raw::connect(new_port);
    new.cmd(&[b"CONFIG", b"GET", b"port"]);
    let got = new.reply();
    let want = format!(
        "*2\r\n$4\r\nport\r\n${}\r\n{new_port}\r\n",
        new_port.to_string().len()
    );
    assert_eq!(String::from_utf8_lossy(&got), want);
    // A port someone else holds: refused, and the listeners stay where they are.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    new.cmd(&[b"CONFIG", b"SET", b"port", taken_port.as_bytes()]);
    replies.push(new.reply());
    new.cmd(&[b"CONFIG", b"SET", b"bind", b"999.999.999.999"]);
    replies.push(new.reply());
    new.cmd(&[b"CONFIG", b"GET", b"bind"]);
    replies.push(new.reply());
    let mut again = Raw::connect(new_port);
    again.cmd(&[b"PING"]);
    replies.push(again.reply());
    // Moving to the loopback address alone keeps the port.
    again.cmd(&[b"CONFIG", b"SET", b"bind", b"127.0.0.1"]);
    replies.push(again.reply());
    let mut moved = Raw::connect(new_port);
    moved.cmd(&[b"CONFIG", b"GET", b"bind"]);
    replies.push(moved.reply());
    replies
}

#[test]
fn config_set_port_and_bind_move_the_listeners_as_redis() {
    let redis = RedisServer::start();
    let want = moves(redis.port);
    for backend in common::backends() {
        let server = Server::start(2, backend, &["--bind", "127.0.0.1"]);
        let got = moves(server.port);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(g),
                String::from_utf8_lossy(w),
                "{backend}: reply {i}"
            );
        }
        assert_eq!(got.len(), want.len());
    }
}

#[test]
fn every_thread_serves_the_new_port() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = Raw::connect(server.port);
        let new_port = free_port();
        con.cmd(&[b"CONFIG", b"SET", b"port", new_port.to_string().as_bytes()]);
        assert_eq!(con.reply(), b"+OK\r\n");
        for _ in 0..4 {
            con.cmd(&[b"CONFIG", b"SET", b"bind", b"127.0.0.1"]);
            assert_eq!(con.reply(), b"+OK\r\n");
        }
        // The retired listeners are closed, not leaked: one per thread is left, on the new
        // port (counted by the kernel's table of the process's sockets, not by its fds).
        assert!(
            common::eventually(std::time::Duration::from_secs(5), || {
                listening_ports(server.pid()) == vec![new_port, new_port]
            }),
            "{backend}: listening on {:?}, want two on {new_port}",
            listening_ports(server.pid())
        );
        // Enough connections for the kernel to spread them over both threads' sockets.
        let mut threads = std::collections::HashSet::new();
        for _ in 0..32 {
            let mut c = redis::Client::open(format!("redis://127.0.0.1:{new_port}/"))
                .unwrap()
                .get_connection()
                .unwrap();
            threads.insert(common::io_thread(&mut c));
        }
        assert_eq!(threads.len(), 2, "{backend}: {threads:?}");
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(
                &mut redis::Client::open(format!("redis://127.0.0.1:{new_port}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(common::info_field(&info, "tcp_port"), Some(new_port as u64));
    }
}

/// The ports of the TCP sockets process `pid` listens on, sorted.
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy().into_owned();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 is the inode.
            if fields.len() > 9 && fields[3] == "0A" && inodes.contains(fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap_or("0");
                ports.push(u16::from_str_radix(port, 16).unwrap_or(0));
            }
        }
    }
    ports.sort_unstable();
    ports
}

/// The last two lines redis-server (or ringkv) prints on stderr for `args`: the offending
/// line and the reason (the header above them names the program).
fn startup_error(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(!out.status.success(), "{program} {args:?} started");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(2)..].join("\n")
}

#[test]
fn command_line_errors_as_redis() {
    common::require_tool("redis-server", "redis-server");
    let cases: &[&[&str]] = &[
        &["--port"],
        &["--port", "6380", "--loglevel"],
        &["--port", "6379", "6380"],
        &["--port", "--loglevel", "verbose"],
        &["--port", "--bla", "--loglevel", "verbose"],
        &["--logfile", "--my--log--file", "--port", "--bla"],
        &["--shutdown-on-sigint"],
        &["--replicaof", "127.0.0.1", "abc"],
        &["--replicaof", "--127.0.0.1", "--abc"],
        &["--maxmemory-clients", "200%"],
    ];
    for args in cases {
        assert_eq!(
            startup_error(env!("CARGO_BIN_EXE_ringkv"), args),
            startup_error("redis-server", args),
            "{args:?}"
        );
    }
}

/// CONFIG SET of `dir` / `dbfilename`, then `enable-protected-configs` as given at start.
fn protected_replies(port: u16) -> Vec<Vec<u8>> {
    let mut con = Raw::connect(port);
    let dir = std::env::temp_dir().to_string_lossy().to_string();
    let mut replies = Vec::new();
    for args in [
        &[&b"CONFIG"[..], b"SET", b"dir", dir.as_bytes()][..],
        &[b"CONFIG", b"SET", b"dbfilename", b"other.rdb"],
        &[
            b"CONFIG",
            b"SET",
            b"maxmemory",
            b"0",
            b"DBFILENAME",
            b"x.rdb",
        ],
        &[b"CONFIG", b"SET", b"enable-protected-configs", b"yes"],
    ] {
        con.cmd(args);
        replies.push(con.reply());
    }
    replies
}

#[test]
fn protected_configs_are_refused_unless_enabled_as_redis() {
    for setting in ["no", "yes", "local"] {
        let redis = RedisServer::start_with(&["--enable-protected-configs", setting]);
        let ours = Server::start(2, "uring", &["--enable-protected-configs", setting]);
        let theirs = protected_replies(redis.port);
        assert_eq!(
            protected_replies(ours.port),
            theirs,
            "enable-protected-configs {setting}"
        );
        let refused = theirs[0].starts_with(b"-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config");
        assert_eq!(
            refused,
            setting == "no",
            "{setting}: {:?}",
            String::from_utf8_lossy(&theirs[0])
        );
    }
}
