//! Client management and server commands: CLIENT LIST/KILL/SETNAME, maxclients, idle timeout,
//! CONFIG GET/SET, INFO, COMMAND, and clean exit on SIGTERM.

use crate::common;

use std::time::Duration;

use common::{backends, eventually, Server};

#[test]
fn client_list_setname_and_kill() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut a = server.redis();
        let mut b = server.raw();
        b.send(b"CLIENT SETNAME victim\r\n");
        assert_eq!(b.reply(), b"+OK\r\n");
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut a).unwrap();
        assert!(list.contains("name=victim"), "{list}");
        assert_eq!(list.lines().count(), 2);
        let victim_id: i64 = list
            .lines()
            .find(|l| l.contains("name=victim"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|f| f.strip_prefix("id="))
            .and_then(|n| n.parse().ok())
            .unwrap();
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(victim_id)
            .query(&mut a)
            .unwrap();
        assert_eq!(killed, 1, "{backend}");
        assert!(b.closed(), "{backend}: killed client must be disconnected");
        assert!(eventually(Duration::from_secs(5), || {
            let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut a).unwrap();
            list.lines().count() == 1
        }));
    }
}

#[test]
fn maxclients_rejects_with_redis_text() {
    for backend in backends() {
        let server = Server::start(1, backend, &["--maxclients", "2"]);
        let mut a = server.raw();
        let mut b = server.raw();
        a.send(b"PING\r\n");
        b.send(b"PING\r\n");
        assert_eq!(a.reply(), b"+PONG\r\n");
        assert_eq!(b.reply(), b"+PONG\r\n");
        let mut c = server.raw();
        assert_eq!(
            c.reply(),
            b"-ERR max number of clients reached\r\n",
            "{backend}"
        );
    }
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    for backend in backends() {
        let server = Server::start(1, backend, &["--timeout", "1"]);
        let mut idle = server.raw();
        idle.send(b"PING\r\n");
        assert_eq!(idle.reply(), b"+PONG\r\n");
        assert!(idle.closed(), "{backend}: idle client must be closed");
    }
}

#[test]
fn config_info_and_command() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.redis();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxclients")
            .arg("77")
            .query(&mut c)
            .unwrap();
        let got: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxcl*")
            .query(&mut c)
            .unwrap();
        assert_eq!(got, vec!["maxclients", "77"]);
        let info: String = redis::cmd("INFO").query(&mut c).unwrap();
        for field in [
            "redis_version:",
            "connected_clients:1",
            "maxclients:77",
            "# Keyspace",
            "used_cpu_user:",
        ] {
            assert!(info.contains(field), "{backend}: INFO lacks {field}");
        }
        let all: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut c)
            .unwrap();
        // As Redis 7, subcommands are counted apart.
        assert!(all.contains("cmdstat_config|set:calls=1,"), "{all}");
        let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
        let list: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut c).unwrap();
        // As Redis 7: COUNT counts commands, LIST names subcommands too (`config|get`).
        let commands = list.iter().filter(|name| !name.contains('|')).count();
        assert_eq!(count as usize, commands);
        assert!(list.contains(&"config|get".to_string()));
        assert!(list.contains(&"set".to_string()));
        let docs: redis::Value = redis::cmd("COMMAND")
            .arg("DOCS")
            .arg("set")
            .query(&mut c)
            .unwrap();
        let text = format!("{docs:?}");
        assert!(
            text.contains("arguments") && text.contains("KEEPTTL"),
            "{text}"
        );
    }
}

#[test]
fn sigterm_exits_cleanly() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let pid = server.pid();
        // SAFETY-free: send the signal through the kill(1) utility.
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let mut server = server;
        assert!(
            eventually(Duration::from_secs(5), || !server.alive()),
            "{backend}"
        );
        assert_eq!(server.exit_code(), Some(0));
    }
}

/// INFO names the allocator really in use, and FUNCTION LOAD and EVAL both work.
#[test]
fn info_and_function_texts_are_true() {
    let server = Server::start(1, "epoll", &[]);
    let mut c = server.raw();
    c.cmd(&[b"INFO", b"memory"]);
    let info = String::from_utf8_lossy(&c.reply()).into_owned();
    let allocator = info
        .lines()
        .find_map(|l| l.strip_prefix("mem_allocator:"))
        .expect("mem_allocator in INFO memory");
    let version = allocator.strip_prefix("mimalloc-").expect(allocator);
    let parts: Vec<u32> = version.split('.').filter_map(|n| n.parse().ok()).collect();
    assert!(
        parts.len() == 3 && parts[0] >= 2,
        "mem_allocator:{allocator}"
    );
    c.cmd(&[
        b"FUNCTION",
        b"load",
        b"#!lua name=lib\nredis.register_function('f', function() return 1 end)",
    ]);
    assert_eq!(c.reply(), b"$3\r\nlib\r\n");
    c.cmd(&[b"FCALL", b"f", b"0"]);
    assert_eq!(c.reply(), b":1\r\n");
    c.cmd(&[b"EVAL", b"return 1", b"0"]);
    assert_eq!(c.reply(), b":1\r\n");
}
