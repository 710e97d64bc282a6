//! Streams: the same scripts go to redis-server and to ringkv (2 threads, keys on both shards);
//! every reply must be byte-identical. IDs are explicit wherever a reply shows them, and
//! nothing here reads an idle time or a consumer's fields that differ between Redis 7.0 (the
//! oracle) and 7.2 (what ringkv follows: active-time, inactive); those, blocking reads and
//! keyspace events are tested against ringkv alone below.

use crate::common;

use std::time::Duration;

use common::{assert_scripts_match_redis, backends, Raw, Server};

const SCRIPTS: &[&[&str]] = &[
    // XADD forms, IDs and errors
    &[
        "XADD s 1-1 a 1",
        "XADD s 1-1 a 1",
        "XADD s 1-0 a 1",
        "XADD s 1-* b 2",
        "XADD s 2 c 3 d 4",
        "XADD s 5-* e 5",
        "XADD s 3-* x y",
        "XADD s 0-0 a 1",
        "XADD t 0-0 a 1",
        "EXISTS t",
        "XADD t 0-* a 1",
        "XADD t 0 a 1",
        "XADD s 6-1",
        "XADD s 6-1 a",
        "XADD s 6-1 a 1 b",
        "XADD s abc a 1",
        "XADD s 6-abc a 1",
        "XADD s 6- a 1",
        "XADD s -1 a 1",
        "XADD s + a 1",
        "XADD s - a 1",
        "XADD s NOMKSTREAM 7 a 1",
        "XADD nokey NOMKSTREAM 7 a 1",
        "EXISTS nokey",
        "XADD s 18446744073709551615-18446744073709551615 a 1",
        "XADD s * a 1",
        "XADD s 18446744073709551615-* a 1",
        "XLEN s",
        "XLEN nokey",
        "TYPE s",
        "OBJECT ENCODING s",
        "SET str v",
        "XADD str 1 a 1",
        "XLEN str",
        "XRANGE str - +",
    ],
    // XRANGE / XREVRANGE
    &[
        "XADD s 1-1 a 1",
        "XADD s 1-2 b 2",
        "XADD s 2-0 c 3",
        "XADD s 3-5 d 4",
        "XRANGE s - +",
        "XRANGE s 1 1",
        "XRANGE s 1-2 3",
        "XRANGE s (1-1 +",
        "XRANGE s - (3-5",
        "XRANGE s (1-2 (3-5",
        "XRANGE s - + COUNT 2",
        "XRANGE s - + COUNT 0",
        "XRANGE s - + COUNT -1",
        "XRANGE s - + COUNT",
        "XRANGE s - + COUNT abc",
        "XRANGE s - + LIMIT 1",
        "XRANGE s + -",
        "XRANGE s (- +",
        "XRANGE s - (+",
        "XRANGE s ( +",
        "XRANGE s (0-0 +",
        "XRANGE s - (0-0",
        "XRANGE s (18446744073709551615-18446744073709551615 +",
        "XRANGE s abc +",
        "XRANGE nokey - +",
        "XRANGE nokey - + COUNT 0",
        "XREVRANGE s + -",
        "XREVRANGE s + - COUNT 1",
        "XREVRANGE s 2 1",
        "XREVRANGE s (3-5 (1-1",
        "XREVRANGE s - +",
    ],
    // XDEL, XTRIM, trimming in XADD
    &[
        "XADD s 1 a 1",
        "XADD s 2 a 2",
        "XADD s 3 a 3",
        "XADD s 4 a 4",
        "XADD s 5 a 5",
        "XDEL s 2 9 2",
        "XDEL s abc",
        "XDEL nokey 1",
        "XLEN s",
        "XTRIM s MAXLEN 3",
        "XRANGE s - +",
        "XTRIM s MAXLEN = 2",
        "XTRIM s MINID 5",
        "XRANGE s - +",
        "XTRIM s MAXLEN -1",
        "XTRIM s MAXLEN abc",
        "XTRIM s",
        "XTRIM s FOO 1",
        "XTRIM s MAXLEN 1 LIMIT 10",
        "XTRIM s MAXLEN ~ 1 LIMIT -1",
        "XTRIM s MAXLEN 1 MINID 1",
        "XTRIM s LIMIT 10",
        "XTRIM nokey MAXLEN 0",
        "XTRIM str MAXLEN 0",
        "XADD s MAXLEN 2 6 a 6",
        "XADD s MAXLEN 2 7 a 7",
        "XRANGE s - +",
        "XADD s MINID 7 8 a 8",
        "XRANGE s - +",
        "XADD s MAXLEN ~ 1 9 a 9",
        "XLEN s",
        "XADD s LIMIT 10 10 a 10",
        "XADD s MAXLEN 1 LIMIT 10 10 a 10",
        "XADD s MAXLEN -1 10 a 10",
        "XADD s MAXLEN 0 10 a 10",
        "XLEN s",
        "EXISTS s",
        "XRANGE s - +",
        "XADD s 11 a 1",
        "XDEL s 11",
        "XLEN s",
        "EXISTS s",
    ],
    // approximate trimming keeps whole nodes (100 entries each by default)
    &[
        "CONFIG SET stream-node-max-entries 10",
        "XADD s 1 a 1",
        "XADD s 2 a 1",
        "XADD s 3 a 1",
        "XADD s 4 a 1",
        "XADD s 5 a 1",
        "XADD s 6 a 1",
        "XADD s 7 a 1",
        "XADD s 8 a 1",
        "XADD s 9 a 1",
        "XADD s 10 a 1",
        "XADD s 11 a 1",
        "XADD s 12 a 1",
        "XADD s 13 a 1",
        "XADD s 14 a 1",
        "XADD s 15 a 1",
        "XADD s 16 a 1",
        "XADD s 17 a 1",
        "XADD s 18 a 1",
        "XADD s 19 a 1",
        "XADD s 20 a 1",
        "XADD s 21 a 1",
        "XADD s 22 a 1",
        "XADD s 23 a 1",
        "XADD s 24 a 1",
        "XADD s 25 a 1",
        "XTRIM s MAXLEN ~ 12",
        "XLEN s",
        "XTRIM s MAXLEN ~ 12 LIMIT 5",
        "XTRIM s MINID ~ 22",
        "XLEN s",
        "XTRIM s MINID 22",
        "XRANGE s - + COUNT 1",
        "CONFIG SET stream-node-max-entries 100",
    ],
    // XSETID and XINFO STREAM
    &[
        "XADD s 1 a 1",
        "XADD s 2 b 2",
        "XADD s 3 c 3",
        "XDEL s 2",
        "XINFO STREAM s",
        "XSETID s 2",
        "XSETID s 5",
        "XSETID s 5 ENTRIESADDED 1",
        "XSETID s 5 ENTRIESADDED 10 MAXDELETEDID 6",
        "XSETID s 9 ENTRIESADDED 10 MAXDELETEDID 6",
        "XSETID s 9 ENTRIESADDED -1",
        "XSETID s 9 BOGUS",
        "XSETID s abc",
        "XSETID nokey 1",
        "XSETID str 1",
        "XINFO STREAM s",
        "XINFO STREAM s FULL",
        "XINFO STREAM s FULL COUNT 1",
        "XINFO STREAM s FULL COUNT",
        "XINFO STREAM s BOGUS",
        "XINFO STREAM nokey",
        "XINFO STREAM str",
        "XINFO BOGUS s",
        "XINFO",
        "XINFO GROUPS",
        "XINFO HELP",
        "XDEL s 1 3",
        "XINFO STREAM s",
        "XADD e MAXLEN 0 1 a 1",
        "XINFO STREAM e",
    ],
    // consumer groups
    &[
        "XGROUP CREATE s g $",
        "XGROUP CREATE s g $ MKSTREAM",
        "XGROUP CREATE s g $ MKSTREAM",
        "XGROUP CREATE s g2 0 ENTRIESREAD 3",
        "XGROUP CREATE s g3 0 ENTRIESREAD -2",
        "XGROUP CREATE s g3 abc",
        "XGROUP CREATE s g3 0 BOGUS",
        "XGROUP CREATE str g 0",
        "XGROUP CREATE nokey g 0",
        "XGROUP SETID s nog 0",
        "XGROUP SETID s g 0 ENTRIESREAD 0",
        "XGROUP CREATECONSUMER s g alice",
        "XGROUP CREATECONSUMER s g alice",
        "XGROUP CREATECONSUMER s nog alice",
        "XGROUP DELCONSUMER s g bob",
        "XGROUP DELCONSUMER s g alice",
        "XGROUP DESTROY s g2",
        "XGROUP DESTROY s g2",
        "XGROUP DESTROY nokey g2",
        "XGROUP BOGUS s g",
        "XGROUP CREATE s",
        "XGROUP HELP",
        "XINFO GROUPS s",
        "XADD s 1 a 1",
        "XADD s 2 b 2",
        "XADD s 3 c 3",
        "XADD s 4 d 4",
        "XGROUP CREATE s g9 $ ENTRIESREAD 9",
        "XINFO GROUPS s",
        "XGROUP DESTROY s g9",
        "XREADGROUP GROUP g alice COUNT 1 STREAMS s >",
        "XREADGROUP GROUP g bob STREAMS s >",
        "XREADGROUP GROUP g bob STREAMS s >",
        "XREADGROUP GROUP g alice STREAMS s 0",
        "XREADGROUP GROUP g bob COUNT 2 STREAMS s 0",
        "XREADGROUP GROUP g bob STREAMS s 2",
        "XINFO GROUPS s",
        "XPENDING s g",
        "XPENDING s g - + 10 nobody",
        "XPENDING s g IDLE 3600000 - + 10",
        "XPENDING s g - + 0",
        "XPENDING s g - + abc",
        "XPENDING s g - +",
        "XPENDING s nog",
        "XPENDING nokey g",
        "XACK s g 1 2 9",
        "XACK s g abc",
        "XACK s nog 1",
        "XACK nokey g 1",
        "XPENDING s g",
        "XDEL s 3",
        "XREADGROUP GROUP g bob STREAMS s 0",
        "XINFO GROUPS s",
        "XGROUP DELCONSUMER s g bob",
        "XPENDING s g",
        "XGROUP CREATE s late $",
        "XINFO GROUPS s",
        "XGROUP SETID s late 0",
        "XINFO GROUPS s",
    ],
    // XREADGROUP / XREAD argument errors, NOACK, multiple keys on both shards
    &[
        "XADD foo 1 a 1",
        "XADD bar 2 b 2",
        "XGROUP CREATE foo g 0",
        "XGROUP CREATE bar g 0",
        "XREAD STREAMS foo bar 0 0",
        "XREAD COUNT 1 STREAMS foo bar 0 1",
        "XREAD STREAMS foo bar $ $",
        "XREAD STREAMS foo nokey 0 0",
        "XREAD STREAMS nokey 0",
        "XREAD STREAMS foo",
        "XREAD STREAMS foo bar 0",
        "XREAD STREAMS foo >",
        "XREAD STREAMS foo abc",
        "XREAD GROUP g c STREAMS foo 0",
        "XREAD NOACK STREAMS foo 0",
        "XREAD COUNT 1 foo 0",
        "XREAD BLOCK abc STREAMS foo 0",
        "XREAD BLOCK -1 STREAMS foo 0",
        "XREAD STREAMS str 0",
        "XREADGROUP STREAMS foo >",
        "XREADGROUP GROUP g c STREAMS foo $",
        "XREADGROUP GROUP nog c STREAMS foo >",
        "XREADGROUP GROUP g c STREAMS nokey >",
        "XREADGROUP GROUP g c NOACK STREAMS foo bar > >",
        "XPENDING foo g",
        "XREADGROUP GROUP g c STREAMS foo bar > >",
        "XREADGROUP GROUP g c STREAMS foo bar 0 0",
        "XINFO GROUPS foo",
    ],
    // XCLAIM / XAUTOCLAIM (idle 0: nothing depends on the clock)
    &[
        "XADD s 1 a 1",
        "XADD s 2 b 2",
        "XADD s 3 c 3",
        "XGROUP CREATE s g 0",
        "XREADGROUP GROUP g alice STREAMS s >",
        "XCLAIM s g bob 0 1 2 JUSTID",
        "XCLAIM s g bob 0 3",
        "XCLAIM s g bob 0 3 RETRYCOUNT 7 JUSTID",
        "XCLAIM s g carol 0 9 FORCE",
        "XDEL s 2",
        "XCLAIM s g carol 0 2",
        "XPENDING s g",
        "XCLAIM s g carol abc 1",
        "XCLAIM s g carol 0 1 BOGUS",
        "XCLAIM s g carol 0 1 IDLE abc",
        "XCLAIM s g carol 0 1 IDLE -9223372036854775808 JUSTID",
        "XCLAIM s g carol 0 1 RETRYCOUNT",
        "XCLAIM s nog carol 0 1",
        "XCLAIM nokey g carol 0 1",
        "XCLAIM s g carol 3600000 1",
        "XAUTOCLAIM s g dave 0 0 COUNT 1",
        "XAUTOCLAIM s g dave 0 0 JUSTID",
        "XADD s 4 d 4",
        "XREADGROUP GROUP g alice STREAMS s >",
        "XDEL s 4",
        "XAUTOCLAIM s g erin 0 - COUNT 10",
        "XAUTOCLAIM s g erin 0 0 COUNT 0",
        "XAUTOCLAIM s g erin 0 0 BOGUS",
        "XAUTOCLAIM s g erin abc 0",
        "XAUTOCLAIM s nog erin 0 0",
        "XAUTOCLAIM s g erin 0 (18446744073709551615-18446744073709551615",
        "XPENDING s g",
        "XINFO GROUPS s",
    ],
    // generic commands on streams
    &[
        "XADD {t}s 1 a 1",
        "XGROUP CREATE {t}s g 0",
        "XREADGROUP GROUP g c STREAMS {t}s >",
        "COPY {t}s {t}copy",
        "XINFO STREAM {t}copy",
        "XPENDING {t}copy g",
        "RENAME {t}copy {t}moved",
        "TYPE {t}moved",
        "XRANGE {t}moved - +",
        "MOVE {t}moved 9",
        "SELECT 9",
        "XLEN {t}moved",
        "DEL {t}moved",
        "SELECT 0",
        "EXPIRE {t}s 100",
        "TTL {t}s",
        "DEL {t}s",
        "XLEN {t}s",
    ],
];

#[test]
fn stream_replies_match_redis() {
    assert_scripts_match_redis(SCRIPTS);
}

/// Sends one command on `raw` and returns its reply as text.
fn call(raw: &mut Raw, line: &str) -> String {
    let args = common::words(line);
    let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    raw.cmd(&refs);
    String::from_utf8_lossy(&raw.reply()).into_owned()
}

fn blocked_clients(raw: &mut Raw) -> u64 {
    call(raw, "INFO clients")
        .lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients")
}

fn wait_blocked(raw: &mut Raw, n: u64) {
    assert!(
        common::eventually(Duration::from_secs(5), || blocked_clients(raw) == n),
        "expected {n} blocked clients"
    );
}

/// Servers to run the ringkv-only tests on: one and two threads, each backend.
fn servers() -> Vec<Server> {
    let mut out = Vec::new();
    for backend in backends() {
        for threads in [1, 2] {
            out.push(Server::start(threads, backend, &[]));
        }
    }
    out
}

#[test]
fn blocked_xread_is_served_by_xadd_on_any_key() {
    for server in servers() {
        let (mut reader, mut writer) = (server.raw(), server.raw());
        call(&mut writer, "XADD foo 1 a 1");
        let args = common::words("XREAD BLOCK 0 STREAMS foo bar $ $");
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        reader.cmd(&refs);
        wait_blocked(&mut writer, 1);
        call(&mut writer, "XADD bar 7-1 f v");
        assert_eq!(
            String::from_utf8_lossy(&reader.reply()),
            "*1\r\n*2\r\n$3\r\nbar\r\n*1\r\n*2\r\n$3\r\n7-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        );
        wait_blocked(&mut writer, 0);
        assert_eq!(call(&mut reader, "XREAD BLOCK 30 STREAMS foo $"), "*-1\r\n");
        assert_eq!(call(&mut reader, "MULTI"), "+OK\r\n");
        assert_eq!(
            call(&mut reader, "XREAD BLOCK 0 STREAMS foo $"),
            "+QUEUED\r\n"
        );
        assert_eq!(call(&mut reader, "EXEC"), "*1\r\n*-1\r\n");
    }
}

#[test]
fn blocked_xreadgroup_takes_new_entries_or_learns_the_key_is_gone() {
    for server in servers() {
        let (mut reader, mut writer) = (server.raw(), server.raw());
        call(&mut writer, "XGROUP CREATE s g $ MKSTREAM");
        let args = common::words("XREADGROUP GROUP g alice BLOCK 0 STREAMS s >");
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        reader.cmd(&refs);
        wait_blocked(&mut writer, 1);
        call(&mut writer, "XADD s 3-0 f v");
        assert_eq!(
            String::from_utf8_lossy(&reader.reply()),
            "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        );
        assert_eq!(
            call(&mut writer, "XPENDING s g"),
            "*4\r\n:1\r\n$3\r\n3-0\r\n$3\r\n3-0\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n1\r\n"
        );
        reader.cmd(&refs);
        wait_blocked(&mut writer, 1);
        call(&mut writer, "DEL s");
        assert!(String::from_utf8_lossy(&reader.reply()).contains("no longer exists"));
        // The error a blocked client got counts in INFO errorstats under its code.
        assert!(call(&mut writer, "INFO errorstats").contains("errorstat_NOGROUP:count=1\r\n"));
    }
}

#[test]
fn keyspace_events_name_the_stream_operations() {
    for server in servers() {
        let (mut sub, mut raw) = (server.raw(), server.raw());
        call(&mut raw, "CONFIG SET notify-keyspace-events Et");
        call(&mut sub, "PSUBSCRIBE __keyevent@0__:*");
        for line in [
            "XGROUP CREATE s g $ MKSTREAM",
            "XGROUP CREATECONSUMER s g bob",
            "XADD s 1 a 1",
            "XREADGROUP GROUP g alice STREAMS s >",
            "XCLAIM s g mike 0 1-0 FORCE",
            "XGROUP DELCONSUMER s g nobody",
            "XGROUP DELCONSUMER s g bob",
            "XADD s MAXLEN 0 2 a 1",
            "XDEL s 9",
            "XSETID s 5",
            "XGROUP SETID s g 0",
            "XGROUP DESTROY s g",
        ] {
            call(&mut raw, line);
        }
        let events: Vec<String> = (0..11)
            .map(|_| {
                let msg = String::from_utf8_lossy(&sub.reply()).into_owned();
                msg.lines()
                    .nth(6)
                    .unwrap_or_default()
                    .trim_start_matches("__keyevent@0__:")
                    .to_string()
            })
            .collect();
        assert_eq!(
            events,
            [
                "xgroup-create",
                "xgroup-createconsumer",
                "xadd",
                "xgroup-createconsumer",
                "xgroup-createconsumer",
                "xgroup-delconsumer",
                "xadd",
                "xtrim",
                "xsetid",
                "xgroup-setid",
                "xgroup-destroy",
            ]
        );
    }
}

#[test]
fn consumers_report_redis_7_2_fields() {
    for server in servers() {
        let mut raw = server.raw();
        call(&mut raw, "XADD s 1 a 1");
        call(&mut raw, "XGROUP CREATE s g 0");
        call(&mut raw, "XGROUP CREATECONSUMER s g idle");
        call(&mut raw, "XREADGROUP GROUP g busy STREAMS s >");
        let info = call(&mut raw, "XINFO CONSUMERS s g");
        assert!(
            info.starts_with(
                "*2\r\n*8\r\n$4\r\nname\r\n$4\r\nbusy\r\n$7\r\npending\r\n:1\r\n$4\r\nidle\r\n:"
            ),
            "{info}"
        );
        assert!(info.ends_with("$8\r\ninactive\r\n:-1\r\n"), "{info}");
        let full = call(&mut raw, "XINFO STREAM s FULL");
        assert!(full.contains("$11\r\nactive-time\r\n:-1\r\n"), "{full}");
        let pending = call(&mut raw, "XPENDING s g - + 10 busy");
        assert!(
            pending.starts_with("*1\r\n*4\r\n$3\r\n1-0\r\n$4\r\nbusy\r\n:"),
            "{pending}"
        );
        assert!(pending.ends_with(":1\r\n"), "{pending}");
        // A huge COUNT allocates nothing up front.
        assert_eq!(
            call(&mut raw, "XRANGE s - + COUNT 9223372036854775807"),
            "*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert!(call(&mut raw, "XAUTOCLAIM s g x 0 0 COUNT 576460752303423487").starts_with("*3"));
        assert!(call(&mut raw, "TYPE s").contains("stream"));
    }
}
