//! Pub/sub across threads: subscribers and publishers on different cores, patterns, shard
//! channels, RESP3 pushes, cleanup on disconnect, the slow-subscriber cut-off, ordering under a
//! burst, and keyspace notifications. Byte-exact replies where Redis defines them.

use crate::common;

use std::time::Duration;

use common::{assert_scripts_match_redis, backends, encode, eventually, Raw, Server};

fn subscribe(server: &Server, command: &str, names: &[&str]) -> Raw {
    let mut c = server.raw();
    let mut args: Vec<&[u8]> = vec![command.as_bytes()];
    args.extend(names.iter().map(|n| n.as_bytes()));
    c.cmd(&args);
    for _ in names {
        c.reply();
    }
    c
}

fn message(channel: &str, payload: &str) -> Vec<u8> {
    format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
        channel.len(),
        payload.len()
    )
    .into_bytes()
}

fn numsub(server: &Server, channel: &str) -> Vec<u8> {
    let mut c = server.raw();
    c.cmd(&[b"PUBSUB", b"NUMSUB", channel.as_bytes()]);
    c.reply()
}

#[test]
fn publish_reaches_subscribers_on_every_thread() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        // More connections than threads: the kernel spreads them over both.
        let mut subs: Vec<Raw> = (0..6)
            .map(|_| subscribe(&server, "SUBSCRIBE", &["news"]))
            .collect();
        let mut pattern = subscribe(&server, "PSUBSCRIBE", &["n*"]);
        let mut publisher = server.raw();
        publisher.cmd(&[b"PUBLISH", b"news", b"Breaking: Server is Live!"]);
        assert_eq!(publisher.reply(), b":7\r\n", "{backend}");
        for s in &mut subs {
            assert_eq!(s.reply(), message("news", "Breaking: Server is Live!"));
        }
        assert_eq!(
            pattern.reply(),
            b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$25\r\nBreaking: Server is Live!\r\n"
        );
        publisher.cmd(&[b"PUBLISH", b"nobody", b"x"]);
        assert_eq!(
            publisher.reply(),
            b":1\r\n",
            "the pattern n* matches 'nobody'"
        );
        publisher.cmd(&[b"PUBLISH", b"other", b"x"]);
        assert_eq!(publisher.reply(), b":0\r\n");
    }
}

#[test]
fn subscribed_mode_rules_and_unsubscribe_all() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.raw();
        c.cmd(&[b"SUBSCRIBE", b"a", b"b"]);
        assert_eq!(c.reply(), b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(c.reply(), b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
        c.cmd(&[b"GET", b"k"]);
        assert_eq!(
            c.reply(),
            b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n".to_vec(),
            "{backend}"
        );
        c.cmd(&[b"PING"]);
        assert_eq!(c.reply(), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        c.cmd(&[b"UNSUBSCRIBE"]);
        assert_eq!(c.reply(), b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(c.reply(), b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n");
        c.cmd(&[b"UNSUBSCRIBE"]);
        assert_eq!(c.reply(), b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
        c.cmd(&[b"GET", b"k"]);
        assert_eq!(c.reply(), b"$-1\r\n", "out of subscribed mode");
    }
}

#[test]
fn resp3_pushes_and_commands_mix() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut c = server.raw();
        c.cmd(&[b"HELLO", b"3"]);
        c.reply();
        c.cmd(&[b"SUBSCRIBE", b"ch"]);
        assert_eq!(c.reply(), b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
        c.cmd(&[b"SET", b"k", b"v"]);
        assert_eq!(
            c.reply(),
            b"+OK\r\n",
            "{backend}: RESP3 allows commands while subscribed"
        );
        let mut p = server.raw();
        p.cmd(&[b"PUBLISH", b"ch", b"hi"]);
        assert_eq!(p.reply(), b":1\r\n");
        assert_eq!(
            c.reply(),
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
    }
}

#[test]
fn shard_channels_are_separate() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut s = subscribe(&server, "SSUBSCRIBE", &["orders"]);
        let mut plain = subscribe(&server, "SUBSCRIBE", &["orders"]);
        let mut p = server.raw();
        p.cmd(&[b"SPUBLISH", b"orders", b"1"]);
        assert_eq!(p.reply(), b":1\r\n", "{backend}");
        assert_eq!(
            s.reply(),
            b"*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$1\r\n1\r\n"
        );
        p.cmd(&[b"PUBLISH", b"orders", b"2"]);
        assert_eq!(p.reply(), b":1\r\n");
        assert_eq!(plain.reply(), message("orders", "2"));
        p.cmd(&[b"PUBSUB", b"SHARDNUMSUB", b"orders"]);
        assert_eq!(p.reply(), b"*2\r\n$6\r\norders\r\n:1\r\n");
    }
}

#[test]
fn disconnect_cleans_up_on_any_thread() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let subs: Vec<Raw> = (0..4)
            .map(|_| subscribe(&server, "SUBSCRIBE", &["gone"]))
            .collect();
        assert_eq!(numsub(&server, "gone"), b"*2\r\n$4\r\ngone\r\n:4\r\n");
        drop(subs);
        assert!(
            eventually(Duration::from_secs(5), || numsub(&server, "gone")
                == b"*2\r\n$4\r\ngone\r\n:0\r\n"),
            "{backend}"
        );
        let mut c = server.raw();
        c.cmd(&[b"PUBSUB", b"CHANNELS"]);
        assert_eq!(c.reply(), b"*0\r\n");
    }
}

#[test]
fn burst_arrives_complete_and_in_order() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut subs: Vec<Raw> = (0..3)
            .map(|_| subscribe(&server, "SUBSCRIBE", &["burst"]))
            .collect();
        let mut publisher = server.raw();
        let total = 100_000;
        let mut pipeline = Vec::new();
        for i in 0..total {
            pipeline.extend(encode(&[b"PUBLISH", b"burst", i.to_string().as_bytes()]));
        }
        let writer = {
            let mut stream = publisher.stream.try_clone().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                stream.write_all(&pipeline).unwrap();
            })
        };
        for i in 0..total {
            assert_eq!(publisher.reply(), b":3\r\n");
            for s in &mut subs {
                assert_eq!(
                    s.reply(),
                    message("burst", &i.to_string()),
                    "{backend}: message {i}"
                );
            }
        }
        writer.join().unwrap();
    }
}

#[test]
fn a_subscriber_that_never_reads_is_cut_off() {
    for backend in backends() {
        let server = Server::start(
            2,
            backend,
            &["--client-output-buffer-limit", "pubsub 1mb 512kb 60"],
        );
        let _slow = subscribe(&server, "SUBSCRIBE", &["firehose"]);
        let mut fast = subscribe(&server, "SUBSCRIBE", &["firehose"]);
        let mut publisher = server.raw();
        let payload = vec![b'x'; 16 * 1024];
        let mut info = server.redis();
        let mut cut = false;
        for round in 0..400 {
            publisher.cmd(&[b"PUBLISH", b"firehose", &payload]);
            publisher.reply();
            // The fast subscriber keeps reading and keeps receiving.
            let got = fast.reply();
            assert!(got.ends_with(b"xxx\r\n"), "{backend}: round {round}");
            let text: String = redis::cmd("INFO").arg("stats").query(&mut info).unwrap();
            if text.contains("client_output_buffer_limit_disconnections:1") {
                cut = true;
                break;
            }
        }
        assert!(cut, "{backend}: the slow subscriber was never disconnected");
        assert!(eventually(Duration::from_secs(5), || numsub(
            &server, "firehose"
        )
            == b"*2\r\n$8\r\nfirehose\r\n:1\r\n"));
    }
}

#[test]
fn keyspace_notifications() {
    for backend in backends() {
        let server = Server::start(2, backend, &["--notify-keyspace-events", "KEA"]);
        let mut space = subscribe(&server, "PSUBSCRIBE", &["__keyspace@0__:*"]);
        let mut event = subscribe(&server, "SUBSCRIBE", &["__keyevent@0__:expired"]);
        let mut c = server.raw();
        c.cmd(&[b"SET", b"foo", b"bar"]);
        c.reply();
        assert_eq!(
            space.reply(),
            b"*4\r\n$8\r\npmessage\r\n$16\r\n__keyspace@0__:*\r\n$18\r\n__keyspace@0__:foo\r\n$3\r\nset\r\n",
            "{backend}"
        );
        c.cmd(&[b"SET", b"bar", b"1", b"PX", b"50"]);
        c.reply();
        space.reply();
        space.reply();
        assert_eq!(
            event.reply(),
            b"*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$3\r\nbar\r\n"
        );
    }
}

#[test]
fn pubsub_replies_match_redis() {
    assert_scripts_match_redis(&[&[
        "PUBLISH nochannel hello",
        "SPUBLISH nochannel hello",
        "PUBSUB NUMSUB a b",
        "PUBSUB NUMPAT",
        "PUBSUB CHANNELS",
        "PUBSUB SHARDCHANNELS",
        "PUBSUB SHARDNUMSUB x",
        "PUBSUB BOGUS",
        "PUBSUB NUMPAT extra",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUNSUBSCRIBE",
        "CONFIG SET notify-keyspace-events KQ",
        "CONFIG SET notify-keyspace-events KEA",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events \"\"",
        "CONFIG SET client-output-buffer-limit \"pubsub 1mb\"",
        "CONFIG SET client-output-buffer-limit \"pubsub 64mb 16mb 60\"",
        "CONFIG GET client-output-buffer-limit",
        "CONFIG SET client-output-buffer-limit \"normal 1mb 512kb 10\"",
        "CONFIG SET client-output-buffer-limit \"PUBSUB 1mb 2mb 3 normal 4mb 5m 6 replica 1gb 2g 7\"",
        "CONFIG GET client-output-buffer-limit",
        "CONFIG SET client-output-buffer-limit \"master 1 2 3\"",
        "CONFIG SET client-output-buffer-limit \"normal x 2 3\"",
        "CONFIG SET client-output-buffer-limit \"normal 1 2 -3\"",
        "CONFIG SET client-output-buffer-limit \"normal 10K 5KB 1 normal 0 0 0\"",
        "CONFIG GET client-output-buffer-limit",
        "CONFIG SET client-output-buffer-limit \"normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60\"",
    ]]);
}

/// Every message `sub` receives until it has been quiet for a while.
fn drain(sub: &mut Raw) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        sub.stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let ready = matches!(sub.stream.peek(&mut [0u8; 1]), Ok(n) if n > 0);
        sub.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        if !ready {
            return got;
        }
        got.push(sub.reply());
    }
}

#[test]
fn new_key_events() {
    for backend in backends() {
        let server = Server::start(2, backend, &["--notify-keyspace-events", "En"]);
        let mut sub = subscribe(&server, "SUBSCRIBE", &["__keyevent@0__:new"]);
        let mut c = server.raw();
        for args in [
            &[&b"SET"[..], b"foo", b"bar"][..],
            &[b"SET", b"foo", b"baz"],
            &[b"LPUSH", b"list", b"a"],
            &[b"LPUSH", b"list", b"b"],
            &[b"SET", b"gone", b"1", b"PX", b"1"],
        ] {
            c.cmd(args);
            c.reply();
        }
        let expect = |key: &str| message("__keyevent@0__:new", key);
        assert_eq!(sub.reply(), expect("foo"), "{backend}");
        assert_eq!(sub.reply(), expect("list"), "{backend}");
        assert_eq!(sub.reply(), expect("gone"), "{backend}");
        // A key that expired is new again when written.
        std::thread::sleep(Duration::from_millis(5));
        c.cmd(&[b"SET", b"gone", b"2"]);
        c.reply();
        assert_eq!(sub.reply(), expect("gone"), "{backend}");
        // RENAME, COPY and MOVE create their destination.
        c.cmd(&[b"RENAME", b"foo", b"{foo}renamed"]);
        c.reply();
        assert_eq!(sub.reply(), expect("{foo}renamed"), "{backend}");
        c.cmd(&[b"COPY", b"list", b"{list}copy"]);
        c.reply();
        assert_eq!(sub.reply(), expect("{list}copy"), "{backend}");
        assert!(drain(&mut sub).is_empty(), "{backend}");
    }
}

#[test]
fn new_key_events_match_redis() {
    let script: &[&[&[u8]]] = &[
        &[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA"],
        &[b"CONFIG", b"GET", b"notify-keyspace-events"],
        &[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEAn"],
        &[b"CONFIG", b"GET", b"notify-keyspace-events"],
        &[b"SET", b"{t}a", b"1"],
        &[b"SET", b"{t}a", b"2"],
        &[b"INCR", b"{t}n"],
        &[b"HSET", b"{t}h", b"f", b"v"],
        &[b"HSET", b"{t}h", b"g", b"v"],
        &[b"SADD", b"{t}s", b"m"],
        &[b"ZADD", b"{t}z", b"1", b"m"],
        &[b"RENAME", b"{t}a", b"{t}b"],
        &[b"SETNX", b"{t}b", b"x"],
        &[b"SETNX", b"{t}c", b"x"],
        &[b"MSET", b"{t}c", b"1", b"{t}d", b"2"],
        &[b"COPY", b"{t}b", b"{t}e"],
        &[b"DEL", b"{t}b"],
        &[b"SET", b"{t}b", b"again"],
        &[b"CONFIG", b"SET", b"notify-keyspace-events", b""],
    ];
    let run = |port: u16| {
        let mut sub = Raw::connect(port);
        sub.cmd(&[b"PSUBSCRIBE", b"__key*"]);
        sub.reply();
        let mut c = Raw::connect(port);
        let replies: Vec<Vec<u8>> = script
            .iter()
            .map(|args| {
                c.cmd(args);
                c.reply()
            })
            .collect();
        (replies, drain(&mut sub))
    };
    let redis = common::RedisServer::start();
    let expected = run(redis.port);
    assert!(expected.1.len() > 20);
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let got = run(server.port);
        assert_eq!(got.0, expected.0, "{backend}: replies");
        let show = |m: &Vec<Vec<u8>>| -> Vec<String> {
            m.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()
        };
        assert_eq!(show(&got.1), show(&expected.1), "{backend}: events");
    }
}
