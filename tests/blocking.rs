//! Blocked clients against the real binary with 2 threads: CLIENT UNBLOCK from either thread,
//! the order keys are served in, wake-ups by keyspace commands (SWAPDB, MOVE, COPY, RENAME,
//! SORT ... STORE, *STORE) and chains of blocked moves.

use crate::common;

use std::time::Duration;

use common::{backends, eventually, Raw, Server, KEY_SHARD0, KEY_SHARD1};

/// Runs one command and returns its raw reply.
fn call(raw: &mut Raw, args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    raw.cmd(&args);
    raw.reply()
}

fn text(reply: Vec<u8>) -> String {
    String::from_utf8(reply).unwrap()
}

/// A raw connection living on io-thread `thread` (the kernel spreads connections).
fn raw_on_thread(server: &Server, thread: usize) -> Raw {
    for _ in 0..200 {
        let mut raw = server.raw();
        let info = text(call(&mut raw, &["CLIENT", "INFO"]));
        if info.contains(&format!(" io-thread={thread}")) {
            return raw;
        }
    }
    panic!("no connection landed on thread {thread}");
}

fn client_id(raw: &mut Raw) -> String {
    let reply = text(call(raw, &["CLIENT", "ID"]));
    reply.trim_start_matches(':').trim_end().to_string()
}

fn blocked_clients(raw: &mut Raw) -> u64 {
    let info = text(call(raw, &["INFO", "clients"]));
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"));
    line.and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients")
}

/// Waits until exactly `n` clients are blocked.
fn wait_blocked(raw: &mut Raw, n: u64) {
    assert!(
        eventually(Duration::from_secs(5), || blocked_clients(raw) == n),
        "expected {n} blocked clients"
    );
}

fn lrange(raw: &mut Raw, key: &str) -> String {
    text(call(raw, &["LRANGE", key, "0", "-1"]))
}

#[test]
fn client_unblock_ends_a_wait_from_either_thread() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        for (blocked_on, from) in [(0, 0), (0, 1), (1, 0)] {
            let mut waiter = raw_on_thread(&server, blocked_on);
            let mut admin = raw_on_thread(&server, from);
            let id = client_id(&mut waiter);
            let commands: [&[&str]; 3] = [
                &["BLPOP", KEY_SHARD0, KEY_SHARD1, "0"],
                &["BZPOPMIN", KEY_SHARD1, "0"],
                &["BLMOVE", KEY_SHARD0, KEY_SHARD1, "LEFT", "RIGHT", "0"],
            ];
            for command in commands {
                for (how, expected) in [
                    (None, "*-1\r\n".to_string()),
                    (Some("TIMEOUT"), "*-1\r\n".to_string()),
                    (
                        Some("error"),
                        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_string(),
                    ),
                ] {
                    let args: Vec<&[u8]> = command.iter().map(|a| a.as_bytes()).collect();
                    waiter.cmd(&args);
                    wait_blocked(&mut admin, 1);
                    let list = text(call(&mut admin, &["CLIENT", "LIST", "ID", &id]));
                    assert!(list.contains(" flags=b "), "{list}");
                    let mut unblock = vec!["CLIENT", "UNBLOCK", id.as_str()];
                    unblock.extend(how);
                    assert_eq!(text(call(&mut admin, &unblock)), ":1\r\n");
                    assert_eq!(text(waiter.reply()), expected, "{command:?} {how:?}");
                    wait_blocked(&mut admin, 0);
                }
            }
            // A client that is not blocked, or does not exist, is not unblocked.
            assert_eq!(
                text(call(&mut admin, &["CLIENT", "UNBLOCK", &id])),
                ":0\r\n"
            );
            assert_eq!(
                text(call(&mut admin, &["CLIENT", "UNBLOCK", "999999"])),
                ":0\r\n"
            );
            assert_eq!(
                text(call(&mut admin, &["CLIENT", "UNBLOCK", "x"])),
                "-ERR value is not an integer or out of range\r\n"
            );
            assert_eq!(
                text(call(&mut admin, &["CLIENT", "UNBLOCK", "x", "later"])),
                "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
            );
            // The unblocked client still blocks and is served as usual.
            waiter.cmd(&[b"BLPOP", KEY_SHARD1.as_bytes(), b"0"]);
            wait_blocked(&mut admin, 1);
            call(&mut admin, &["RPUSH", KEY_SHARD1, "v"]);
            let expected = format!("*2\r\n$3\r\n{KEY_SHARD1}\r\n$1\r\nv\r\n");
            assert_eq!(text(waiter.reply()), expected);
        }
    }
}

#[test]
fn keys_are_served_in_the_order_they_became_ready() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut r = server.raw();
        let mut waiters: Vec<Raw> = Vec::new();
        for (n, (end, count)) in [
            ("left", "1"),
            ("right", "10"),
            ("left", "10"),
            ("right", "1"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut w = server.raw();
            let args = ["BLMPOP", "0", "2", "a{t}", "b{t}", end, "COUNT", count];
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            w.cmd(&args);
            wait_blocked(&mut r, n as u64 + 1);
            waiters.push(w);
        }
        call(&mut r, &["MULTI"]);
        call(&mut r, &["LPUSH", "a{t}", "a", "b", "c", "d", "e"]);
        call(&mut r, &["LPUSH", "b{t}", "1", "2", "3", "4", "5"]);
        call(&mut r, &["EXEC"]);
        let replies: Vec<String> = waiters[..3].iter_mut().map(|w| text(w.reply())).collect();
        assert_eq!(replies[0], "*2\r\n$4\r\na{t}\r\n*1\r\n$1\r\ne\r\n");
        assert_eq!(
            replies[1],
            "*2\r\n$4\r\na{t}\r\n*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
        );
        assert!(replies[2].starts_with("*2\r\n$4\r\nb{t}\r\n*5\r\n$1\r\n5\r\n"));
        wait_blocked(&mut r, 1);
        call(&mut r, &["LPUSH", "b{t}", "1", "2", "3"]);
        assert_eq!(
            text(waiters[3].reply()),
            "*2\r\n$4\r\nb{t}\r\n*1\r\n$1\r\n1\r\n"
        );
        assert_eq!(lrange(&mut r, "b{t}"), "*2\r\n$1\r\n3\r\n$1\r\n2\r\n");
    }
}

/// Blocks `waiter` with `command`, runs `wake` on `r`, and checks the waiter's reply.
fn woken_by(r: &mut Raw, waiter: &mut Raw, command: &[&str], wake: &[&[&str]], expected: &str) {
    let args: Vec<&[u8]> = command.iter().map(|a| a.as_bytes()).collect();
    waiter.cmd(&args);
    wait_blocked(r, 1);
    for step in wake {
        call(r, step);
    }
    assert_eq!(
        text(waiter.reply()),
        expected,
        "{command:?} woken by {wake:?}"
    );
    wait_blocked(r, 0);
}

#[test]
fn keyspace_commands_wake_clients_blocked_on_their_destination() {
    let (a, b) = (KEY_SHARD0, KEY_SHARD1);
    let popped =
        |key: &str, v: &str| format!("*2\r\n${}\r\n{key}\r\n${}\r\n{v}\r\n", key.len(), v.len());
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut r = server.raw();
        let mut w = server.raw();
        // SWAPDB brings a list into the waiter's db.
        call(&mut r, &["SELECT", "1"]);
        call(&mut r, &["RPUSH", b, "hello"]);
        call(&mut w, &["SELECT", "9"]);
        woken_by(
            &mut r,
            &mut w,
            &["BRPOP", b, "5"],
            &[&["SWAPDB", "1", "9"]],
            &popped(b, "hello"),
        );
        call(&mut w, &["SELECT", "0"]);
        call(&mut r, &["SELECT", "0"]);
        // MOVE from another db.
        call(&mut r, &["SELECT", "3"]);
        call(&mut r, &["RPUSH", a, "moved"]);
        woken_by(
            &mut r,
            &mut w,
            &["BLPOP", a, "5"],
            &[&["MOVE", a, "0"]],
            &popped(a, "moved"),
        );
        call(&mut r, &["SELECT", "0"]);
        // COPY on one shard and across shards, RENAME across shards.
        for (src, dst) in [("s{x}", "d{x}"), (a, b), (b, a)] {
            call(&mut r, &["DEL", src, dst]);
            call(&mut r, &["RPUSH", src, "c"]);
            woken_by(
                &mut r,
                &mut w,
                &["BLPOP", dst, "5"],
                &[&["COPY", src, dst]],
                &popped(dst, "c"),
            );
            assert_eq!(lrange(&mut r, src), "*1\r\n$1\r\nc\r\n");
            woken_by(
                &mut r,
                &mut w,
                &["BLPOP", dst, "5"],
                &[&["RENAME", src, dst]],
                &popped(dst, "c"),
            );
        }
        // SORT ... STORE and ZUNIONSTORE into a key of the other shard.
        call(&mut r, &["RPUSH", a, "3", "1", "2"]);
        woken_by(
            &mut r,
            &mut w,
            &["BLPOP", b, "5"],
            &[&["SORT", a, "STORE", b]],
            &popped(b, "1"),
        );
        call(&mut r, &["DEL", a, b]);
        call(&mut r, &["ZADD", a, "1", "m"]);
        let zpopped = format!("*3\r\n${}\r\n{b}\r\n$1\r\nm\r\n$1\r\n1\r\n", b.len());
        woken_by(
            &mut r,
            &mut w,
            &["BZPOPMIN", b, "5"],
            &[&["ZUNIONSTORE", b, "1", a]],
            &zpopped,
        );
        call(&mut r, &["DEL", a, b]);
    }
}

#[test]
fn blocked_moves_chain_across_shards() {
    let (a, b, c) = ("list-a", KEY_SHARD0, KEY_SHARD1);
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut r = server.raw();
        let mut w1 = server.raw();
        let mut w2 = server.raw();
        // a → b → c: one push runs through both moves.
        w1.cmd(&[
            b"BLMOVE",
            a.as_bytes(),
            b.as_bytes(),
            b"RIGHT",
            b"LEFT",
            b"0",
        ]);
        wait_blocked(&mut r, 1);
        w2.cmd(&[
            b"BLMOVE",
            b.as_bytes(),
            c.as_bytes(),
            b"LEFT",
            b"RIGHT",
            b"0",
        ]);
        wait_blocked(&mut r, 2);
        call(&mut r, &["RPUSH", a, "foo"]);
        assert_eq!(text(w1.reply()), "$3\r\nfoo\r\n");
        assert_eq!(text(w2.reply()), "$3\r\nfoo\r\n");
        assert_eq!(lrange(&mut r, a), "*0\r\n");
        assert_eq!(lrange(&mut r, b), "*0\r\n");
        assert_eq!(lrange(&mut r, c), "*1\r\n$3\r\nfoo\r\n");
        // b → c and c → b: the element comes to rest where the circle closes.
        call(&mut r, &["DEL", b, c]);
        w1.cmd(&[b"BRPOPLPUSH", b.as_bytes(), c.as_bytes(), b"0"]);
        wait_blocked(&mut r, 1);
        w2.cmd(&[b"BRPOPLPUSH", c.as_bytes(), b.as_bytes(), b"0"]);
        wait_blocked(&mut r, 2);
        call(&mut r, &["RPUSH", b, "foo"]);
        assert_eq!(text(w1.reply()), "$3\r\nfoo\r\n");
        assert_eq!(text(w2.reply()), "$3\r\nfoo\r\n");
        assert_eq!(lrange(&mut r, b), "*1\r\n$3\r\nfoo\r\n");
        assert_eq!(lrange(&mut r, c), "*0\r\n");
        // A list moved onto itself keeps its element.
        call(&mut r, &["DEL", b]);
        w1.cmd(&[b"BRPOPLPUSH", b.as_bytes(), b.as_bytes(), b"0"]);
        wait_blocked(&mut r, 1);
        call(&mut r, &["RPUSH", b, "foo"]);
        assert_eq!(text(w1.reply()), "$3\r\nfoo\r\n");
        assert_eq!(lrange(&mut r, b), "*1\r\n$3\r\nfoo\r\n");
    }
}
