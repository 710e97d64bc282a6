//! Client-side caching (CLIENT TRACKING) against redis-server 7.0.15 as the oracle: the same
//! steps on several connections, every byte each connection reads compared. ringkv runs with
//! two threads, the tracking client on one and the writer on the other, with keys on both
//! shards, so invalidations cross cores.

use crate::common;

use std::time::Duration;

use common::{info_field, Raw, RedisServer, Server, KEY_SHARD0, KEY_SHARD1};

/// One step of a scenario: `N> command` sends on connection N and reads its reply; `N<`
/// reads one more value (a push) from connection N; `N! command` sends and reads a reply
/// that is left out of the transcript (it names a client id or a version). `$REDIR` in a
/// command is connection 2's client id, and stands for it in the transcript.
fn run(conns: &mut [Raw], redirect_id: &str, steps: &[&str]) -> Vec<String> {
    let id_reply = format!(":{redirect_id}\r\n");
    let shown = |value: &[u8]| {
        let text = String::from_utf8_lossy(value);
        if redirect_id.is_empty() {
            return text.into_owned();
        }
        if text == id_reply {
            return ":$REDIR\r\n".to_string();
        }
        // Only where a reply names the redirection: an integer reply may equal the id.
        ["redir-broken\r\n", "redirect\r\n"]
            .iter()
            .fold(text.into_owned(), |text, before| {
                text.replace(
                    &format!("{before}{id_reply}"),
                    &format!("{before}:$REDIR\r\n"),
                )
            })
    };
    let mut transcript = Vec::new();
    for step in steps {
        let (conn, rest) = step.split_at(1);
        let conn: usize = conn.parse().expect("a connection number");
        let raw = &mut conns[conn];
        let (kind, command) = rest.split_at(1);
        if kind == "<" {
            let value = raw.reply();
            transcript.push(format!("{step} => {}", shown(&value)));
            continue;
        }
        let line = command.trim().replace("$REDIR", redirect_id);
        let args = common::words(&line);
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        raw.cmd(&refs);
        let reply = raw.reply();
        if kind == ">" {
            transcript.push(format!("{step} => {}", shown(&reply)));
        }
    }
    transcript
}

/// The client id of a connection, read as an integer reply.
fn client_id(raw: &mut Raw) -> String {
    raw.cmd(&[b"CLIENT", b"ID"]);
    let reply = raw.reply();
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned()
}

/// The io-thread a raw connection lives on (ringkv's CLIENT INFO field).
fn thread_of(raw: &mut Raw) -> usize {
    raw.cmd(&[b"CLIENT", b"INFO"]);
    let reply = String::from_utf8_lossy(&raw.reply()).into_owned();
    reply
        .split_whitespace()
        .find_map(|f| f.strip_prefix("io-thread="))
        .and_then(|n| n.trim().parse().ok())
        .expect("io-thread field")
}

/// Three ringkv connections: 0 (the tracking client) on thread 0, 1 (the writer) and 2 (the
/// redirection target) on thread 1.
fn ringkv_conns(port: u16) -> Vec<Raw> {
    let mut slots: [Vec<Raw>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..400 {
        if !slots[0].is_empty() && slots[1].len() >= 2 {
            break;
        }
        let mut raw = Raw::connect(port);
        let t = thread_of(&mut raw);
        slots[t].push(raw);
    }
    assert!(
        !slots[0].is_empty() && slots[1].len() >= 2,
        "the kernel never spread connections over both threads"
    );
    let mut on1 = std::mem::take(&mut slots[1]).into_iter();
    let first = slots[0].swap_remove(0);
    vec![first, on1.next().unwrap(), on1.next().unwrap()]
}

/// Runs `steps` against redis-server and ringkv (2 threads, each backend) and compares every
/// byte.
fn assert_matches_redis(extra: &[&str], steps: &[&str]) {
    let redis = RedisServer::start_with(extra);
    let mut theirs: Vec<Raw> = (0..3).map(|_| Raw::connect(redis.port)).collect();
    let id = client_id(&mut theirs[2]);
    let expected = run(&mut theirs, &id, steps);
    for backend in common::backends() {
        let server = Server::start(2, backend, extra);
        let mut ours = ringkv_conns(server.port);
        let id = client_id(&mut ours[2]);
        let got = run(&mut ours, &id, steps);
        let mismatches: Vec<String> = expected
            .iter()
            .zip(&got)
            .filter(|(want, have)| want != have)
            .map(|(want, have)| format!("redis : {want}\n  ringkv: {have}"))
            .collect();
        common::assert_no_mismatches(backend, &mismatches);
        assert_eq!(expected.len(), got.len());
    }
}

fn s(template: &str) -> String {
    template.replace("K0", KEY_SHARD0).replace("K1", KEY_SHARD1)
}

#[test]
fn writes_on_another_thread_invalidate_keys_of_both_shards() {
    let steps: Vec<String> = [
        "0! HELLO 3",
        "0> CLIENT TRACKING on",
        "0> GET K0",
        "0> GET K1",
        "1> SET K1 v",
        "0<",
        "1> SET K0 v",
        "0<",
        // Not read since: no invalidation.
        "1> SET K0 w",
        "0> MGET K0 K1",
        "1> SET K0 a",
        "0<",
        "1> SET K1 b",
        "0<",
        "1> HSET h f 1",
        "0> HGET h f",
        "1> HDEL h f",
        "0<",
        "0> PING",
        "0> CLIENT TRACKINGINFO",
        "0> CLIENT GETREDIR",
    ]
    .iter()
    .map(|t| s(t))
    .collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    assert_matches_redis(&[], &steps);
}

#[test]
fn own_writes_invalidate_after_the_reply_and_noloop_skips_them() {
    assert_matches_redis(
        &[],
        &[
            "0! HELLO 3",
            "0> CLIENT TRACKING on",
            "0> GET k",
            "0> SET k 1",
            "0<",
            "0> GET k",
            "0> MULTI",
            "0> INCR k",
            "0> GET other",
            "0> EXEC",
            "0<",
            // The GET inside the transaction tracked the key again.
            "1> SET other 1",
            "0<",
            "0> CLIENT TRACKING off",
            "0> CLIENT TRACKING on NOLOOP",
            "0> GET k",
            "0> SET k 2",
            "0> PING",
            // The own write still dropped the key from the table: read it again.
            "0> GET k",
            "1> SET k 3",
            "0<",
            "0> CLIENT TRACKINGINFO",
        ],
    );
}

#[test]
fn bcast_with_prefixes() {
    assert_matches_redis(
        &[],
        &[
            "0! HELLO 3",
            "0> CLIENT TRACKING on BCAST PREFIX user: PREFIX obj:",
            "0> CLIENT TRACKING on BCAST PREFIX us",
            "0> CLIENT TRACKING on BCAST PREFIX zz PREFIX zzz",
            "0> CLIENT TRACKING on",
            "0> CLIENT TRACKINGINFO",
            "1> MSET user:1{t} a user:2{t} b obj:1{t} c other{t} d",
            "0<",
            "0<",
            "1> SET other 1",
            "1> SET user:9 1",
            "0<",
            "0> CLIENT TRACKING on BCAST PREFIX item:",
            "0> CLIENT TRACKINGINFO",
            "1> INCR item:7",
            "0<",
            "0> SET user:5 x",
            "0> PING",
            "0<",
            "0> CLIENT TRACKING off",
            "0> CLIENT TRACKING on BCAST NOLOOP",
            "0> SET mine 1",
            "1> SET theirs 1",
            "0<",
            "0> CLIENT TRACKINGINFO",
        ],
    );
}

#[test]
fn optin_and_optout_follow_client_caching() {
    assert_matches_redis(
        &[],
        &[
            "0! HELLO 3",
            "0> CLIENT CACHING yes",
            "0> CLIENT TRACKING on OPTIN OPTOUT",
            "0> CLIENT TRACKING on BCAST OPTIN",
            "0> CLIENT TRACKING on OPTIN",
            "0> CLIENT TRACKING on OPTOUT",
            "0> CLIENT CACHING no",
            "0> CLIENT CACHING maybe",
            "0> GET a",
            "0> CLIENT CACHING yes",
            "0> CLIENT TRACKINGINFO",
            "0> GET b",
            "0> CLIENT TRACKINGINFO",
            "1> SET a 1",
            "1> SET b 1",
            "0<",
            "0> PING",
            "0> CLIENT TRACKING off",
            "0> CLIENT TRACKING on OPTOUT",
            "0> CLIENT CACHING no",
            "0> GET c",
            "0> GET d",
            "1> SET c 1",
            "1> SET d 1",
            "0<",
            "0> PING",
        ],
    );
}

#[test]
fn resp2_redirect_to_a_subscriber_flush_and_broken_redirect() {
    assert_matches_redis(
        &[],
        &[
            "2> SUBSCRIBE __redis__:invalidate",
            "0> CLIENT TRACKING on REDIRECT 999999",
            "0> CLIENT TRACKING on REDIRECT $REDIR REDIRECT $REDIR",
            "0> CLIENT TRACKING on PREFIX p",
            "0> CLIENT TRACKING on REDIRECT $REDIR",
            "0> GET k1",
            "1> SET k1 1",
            "2<",
            "1> FLUSHALL",
            "2<",
            "0> GET k2",
            "1> FLUSHDB",
            "2<",
            "2> UNSUBSCRIBE",
            "2> QUIT",
            "0! HELLO 3",
            "0> GET k3",
            "1> SET k3 1",
            "0<",
            "0> CLIENT TRACKINGINFO",
            "0> RESET",
            "0> CLIENT TRACKINGINFO",
            "0> CLIENT GETREDIR",
        ],
    );
}

#[test]
fn flushall_sends_a_null_invalidation_to_every_tracking_client() {
    assert_matches_redis(
        &[],
        &[
            "0! HELLO 3",
            "0> CLIENT TRACKING on",
            "1> CLIENT TRACKING on BCAST",
            "1> FLUSHALL",
            "0<",
            "0> MULTI",
            "0> FLUSHDB",
            "0> EXEC",
            "0<",
            "0> PING",
        ],
    );
}

#[test]
fn expired_keys_are_invalidated() {
    assert_matches_redis(
        &[],
        &[
            "0! HELLO 3",
            "0> CLIENT TRACKING on",
            "1> SET gone v PX 500",
            "0> GET gone",
            // Active expiry removes it, lazily or in its cycle: either way the client is told.
            "0<",
            "0> PING",
        ],
    );
}

/// Reads INFO through a raw connection.
fn info(raw: &mut Raw) -> String {
    raw.cmd(&[b"INFO"]);
    String::from_utf8_lossy(&raw.reply()).into_owned()
}

#[test]
fn info_counts_tracking_clients_keys_items_and_prefixes() {
    let check = |conns: &mut Vec<Raw>| -> Vec<Option<u64>> {
        run(
            conns,
            "",
            &[
                "0> CLIENT TRACKING on",
                "0> MGET a b c",
                "1> CLIENT TRACKING on",
                "1> GET a",
                "2> CLIENT TRACKING on BCAST PREFIX x PREFIX y",
            ],
        );
        let text = info(&mut conns[0]);
        [
            "tracking_clients",
            "tracking_total_keys",
            "tracking_total_items",
            "tracking_total_prefixes",
        ]
        .iter()
        .map(|f| info_field(&text, f))
        .collect()
    };
    let redis = RedisServer::start();
    let mut theirs: Vec<Raw> = (0..3).map(|_| Raw::connect(redis.port)).collect();
    let expected = check(&mut theirs);
    assert_eq!(expected, vec![Some(3), Some(3), Some(4), Some(2)]);
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let mut ours = ringkv_conns(server.port);
        assert_eq!(check(&mut ours), expected, "[{backend}]");
    }
}

/// `tracking-table-max-keys` lowered below the table's size: entries are evicted, and each
/// eviction invalidates the key for its clients (which keys go is random, as in Redis).
#[test]
fn the_table_limit_evicts_entries_with_invalidations() {
    let check = |conns: &mut Vec<Raw>| {
        run(
            conns,
            "",
            &[
                "0! HELLO 3",
                "0> CLIENT TRACKING on",
                "0> MGET t1 t2 t3",
                "1> CONFIG SET tracking-table-max-keys 1",
            ],
        );
        let mut keys = Vec::new();
        for _ in 0..2 {
            let push = String::from_utf8_lossy(&conns[0].reply()).into_owned();
            assert!(
                push.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n"),
                "{push}"
            );
            keys.push(push.rsplit("\r\n").nth(1).unwrap_or_default().to_string());
        }
        let total = info_field(&info(&mut conns[1]), "tracking_total_keys");
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 2, "two different keys invalidated: {keys:?}");
        assert_eq!(total, Some(1));
    };
    let redis = RedisServer::start();
    check(&mut (0..3).map(|_| Raw::connect(redis.port)).collect());
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        check(&mut ringkv_conns(server.port));
    }
}

/// A key evicted under maxmemory is invalidated for the clients caching it.
#[test]
fn evicted_keys_are_invalidated() {
    let check = |conns: &mut Vec<Raw>| {
        run(
            conns,
            "",
            &[
                "0! HELLO 3",
                "0> CLIENT TRACKING on",
                "1> SET victim{e} v EX 1000",
                "0> GET victim{e}",
                "1> CONFIG SET maxmemory-policy volatile-random",
            ],
        );
        // The memory maxmemory weighs, as Redis defines it.
        let text = info(&mut conns[1]);
        let field = |name| info_field(&text, name).expect(name);
        let used = field("used_memory") - field("mem_not_counted_for_evict");
        let limit = (used + 512 * 1024).to_string();
        conns[1].cmd(&[b"CONFIG", b"SET", b"maxmemory", limit.as_bytes()]);
        assert_eq!(conns[1].reply(), b"+OK\r\n");
        let value = vec![b'x'; 64 * 1024];
        let evicted = common::eventually(Duration::from_secs(10), || {
            let key = format!("fill{{e}}{}", rand_suffix());
            conns[1].cmd(&[b"SET", key.as_bytes(), &value]);
            conns[1].reply();
            info_field(&info(&mut conns[1]), "evicted_keys").unwrap_or(0) > 0
        });
        assert!(evicted, "the volatile key was never evicted");
        assert_eq!(
            conns[0].reply(),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$9\r\nvictim{e}\r\n"
        );
        conns[1].cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
        assert_eq!(conns[1].reply(), b"+OK\r\n");
    };
    let redis = RedisServer::start();
    check(&mut (0..3).map(|_| Raw::connect(redis.port)).collect());
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        check(&mut ringkv_conns(server.port));
    }
}

/// A fresh key name per call (a counter: the keys only need to differ).
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
