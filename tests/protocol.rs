//! Protocol edge cases as raw bytes: inline commands, pipelines split anywhere, protocol errors
//! (reply then close), RESP3 via HELLO, replies in request order. On both I/O backends.

use crate::common;

use common::{backends, encode, Server};

#[test]
fn inline_commands_with_quotes() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.raw();
        c.send(b"PING\r\nSET greeting \"hello world\"\r\nGET greeting\r\nECHO 'it''s'\r\n");
        assert_eq!(c.reply(), b"+PONG\r\n");
        assert_eq!(c.reply(), b"+OK\r\n");
        assert_eq!(c.reply(), b"$11\r\nhello world\r\n");
        assert_eq!(
            c.reply(),
            b"-ERR Protocol error: unbalanced quotes in request\r\n"
        );
        assert!(
            c.closed(),
            "{backend}: connection must close after a protocol error"
        );
    }
}

#[test]
fn pipeline_split_at_every_byte_keeps_order() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut pipeline = Vec::new();
        for i in 0..20 {
            let key = format!("key{i}");
            let value = format!("value{i}");
            pipeline.extend(encode(&[b"SET", key.as_bytes(), value.as_bytes()]));
            pipeline.extend(encode(&[b"GET", key.as_bytes()]));
        }
        let mut expected = Vec::new();
        for i in 0..20 {
            expected.extend_from_slice(b"+OK\r\n");
            let value = format!("value{i}");
            expected.extend(format!("${}\r\n{value}\r\n", value.len()).into_bytes());
        }
        for cut in [1, 7, 13, pipeline.len() / 2, pipeline.len() - 1] {
            let mut c = server.raw();
            c.send(&pipeline[..cut]);
            std::thread::yield_now();
            c.send(&pipeline[cut..]);
            assert_eq!(
                c.read_exact(expected.len()),
                expected,
                "{backend}: cut at {cut}"
            );
        }
    }
}

#[test]
fn protocol_errors_reply_then_close() {
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\nxfoo\r\n",
            b"-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        (
            b"*1\r\n$600000000\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
    ];
    for backend in backends() {
        let server = Server::start(1, backend, &[]);
        for (input, reply) in cases {
            let mut c = server.raw();
            c.send(b"PING\r\n");
            c.send(input);
            assert_eq!(c.reply(), b"+PONG\r\n");
            assert_eq!(
                c.reply(),
                *reply,
                "{backend}: {:?}",
                String::from_utf8_lossy(input)
            );
            assert!(c.closed());
        }
        let mut c = server.raw();
        c.send(&vec![b'a'; 70 * 1024]);
        assert_eq!(
            c.reply(),
            b"-ERR Protocol error: too big inline request\r\n"
        );
        assert!(c.closed());
    }
}

#[test]
fn big_value_round_trips_in_fragments() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.raw();
        let value = vec![b'x'; 3 * 1024 * 1024 + 17];
        let cmd = encode(&[b"SET", b"big", &value]);
        for chunk in cmd.chunks(100_000) {
            c.send(chunk);
        }
        assert_eq!(c.reply(), b"+OK\r\n");
        c.cmd(&[b"STRLEN", b"big"]);
        assert_eq!(c.reply(), format!(":{}\r\n", value.len()).into_bytes());
        c.cmd(&[b"GET", b"big"]);
        let reply = c.reply();
        assert!(
            reply.ends_with(b"xx\r\n") && reply.len() == value.len() + 12,
            "{backend}"
        );
    }
}

#[test]
fn resp3_after_hello() {
    for backend in backends() {
        let server = Server::start(1, backend, &[]);
        let mut c = server.raw();
        c.cmd(&[b"HELLO", b"3"]);
        let hello = c.reply();
        assert!(
            hello.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
            "{backend}"
        );
        c.cmd(&[b"GET", b"missing"]);
        assert_eq!(c.reply(), b"_\r\n");
        c.cmd(&[b"CONFIG", b"GET", b"maxclients"]);
        assert_eq!(c.reply(), b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n");
        c.cmd(&[b"HELLO", b"2"]);
        c.reply();
        c.cmd(&[b"GET", b"missing"]);
        assert_eq!(c.reply(), b"$-1\r\n");
    }
}

#[test]
fn quit_replies_then_closes_and_ignores_the_rest() {
    for backend in backends() {
        let server = Server::start(1, backend, &[]);
        let mut c = server.raw();
        c.send(b"SET a 1\r\nQUIT\r\nSET a 2\r\n");
        assert_eq!(c.reply(), b"+OK\r\n");
        assert_eq!(c.reply(), b"+OK\r\n");
        assert!(c.closed());
        let mut d = server.raw();
        d.cmd(&[b"GET", b"a"]);
        assert_eq!(d.reply(), b"$1\r\n1\r\n");
    }
}

#[test]
fn garbage_never_kills_the_server() {
    for backend in backends() {
        let mut server = Server::start(2, backend, &[]);
        let mut seed = 0x1234_5678u64;
        for _ in 0..200 {
            let mut c = server.raw();
            let len = (seed % 300) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b"*$\r\n0123456789-abc \"'"[(seed % 21) as usize]
                })
                .collect();
            c.send(&bytes);
        }
        let mut c = server.raw();
        c.cmd(&[b"PING"]);
        assert_eq!(c.reply(), b"+PONG\r\n");
        assert!(server.alive());
    }
}
