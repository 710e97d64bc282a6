//! Maxmemory: eviction keeps the accounted memory under the limit, each policy picks the keys
//! it should, `evicted` events reach subscribers, and when nothing may be evicted the OOM error
//! (and MULTI/EXEC's handling of it) matches redis-server byte for byte.

use crate::common;

use std::time::Duration;

use common::{assert_scripts_match_redis, backends, Raw, RedisServer, Server};

fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

/// The memory maxmemory weighs, as Redis defines it: `used_memory` less
/// `mem_not_counted_for_evict` (read from one INFO reply).
fn counted_memory(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("INFO memory has no {name}"))
    };
    field("used_memory") - field("mem_not_counted_for_evict")
}

/// `used_memory` with no data once each shard (of two) has held a key in database 0: the
/// first key a shard stores in a database allocates its slot directory (16384 empty slot
/// tables, ~0.6 MB), which Redis's single dict does not, so limits are set above this.
fn empty_base(con: &mut redis::Connection) -> u64 {
    for key in [common::KEY_SHARD0, common::KEY_SHARD1] {
        let _: () = redis::cmd("SET").arg(key).arg("x").query(con).unwrap();
        let _: () = redis::cmd("DEL").arg(key).query(con).unwrap();
    }
    counted_memory(con)
}

/// A limit that leaves room for all but `tenths` tenths of the dataset: used_memory less that
/// part of `used_memory_dataset` (the buffers a pipeline grew stay counted, as in Redis).
fn evicting(con: &mut redis::Connection, tenths: u64) -> u64 {
    let data = info_field(con, "memory", "used_memory_dataset");
    counted_memory(con) - data * tenths / 10
}

fn set_config(con: &mut redis::Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .unwrap();
}

fn fill(con: &mut redis::Connection, prefix: &str, count: usize, ttl: Option<u64>) {
    let mut pipe = redis::pipe();
    for i in 0..count {
        let cmd = pipe
            .cmd("SET")
            .arg(format!("{prefix}{i}"))
            .arg(vec![b'v'; 100]);
        if let Some(ttl) = ttl {
            cmd.arg("EX").arg(ttl + i as u64);
        }
        cmd.ignore();
    }
    let _: () = pipe.query(con).unwrap();
}

fn surviving(con: &mut redis::Connection, prefix: &str, count: usize) -> Vec<usize> {
    (0..count)
        .filter(|i| {
            redis::cmd("EXISTS")
                .arg(format!("{prefix}{i}"))
                .query::<i64>(con)
                .unwrap()
                == 1
        })
        .collect()
}

const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

#[test]
fn allkeys_lru_keeps_used_memory_under_the_limit() {
    for backend in backends() {
        let server = Server::start(
            2,
            backend,
            &["--maxmemory", "200kb", "--maxmemory-policy", "allkeys-lru"],
        );
        let mut con = server.redis();
        let max: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory*")
            .query(&mut con)
            .unwrap();
        assert!(
            max.windows(2).any(|p| p == ["maxmemory", "204800"]),
            "{max:?}"
        );
        assert!(max
            .windows(2)
            .any(|p| p == ["maxmemory-policy", "allkeys-lru"]));
        // 200 KB is below what the server holds with no data (used_memory counts every
        // buffer and table, as Redis's does): the limit is set 200 KB above that instead.
        set_config(&mut con, "maxmemory", "0");
        let base = empty_base(&mut con);
        let limit = base + 200 * 1024;
        set_config(&mut con, "maxmemory", &limit.to_string());
        fill(&mut con, "key:", 5000, None);
        // The buffers the pipeline grew are weighed by the next maintenance tick (100 ms),
        // which evicts for them; Redis's own suite allows 4 KB over the limit.
        let mut used = 0;
        common::eventually(Duration::from_secs(5), || {
            used = counted_memory(&mut con);
            used < limit + 4096
        });
        assert!(
            used < limit + 4096,
            "{backend}: used_memory {used} > {limit}"
        );
        assert!(
            used > base + 100_000,
            "{backend}: eviction went too far: {used}"
        );
        let evicted = info_field(&mut con, "stats", "evicted_keys");
        let keys: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(keys + evicted, 5000, "{backend}");
        assert!(evicted > 2000, "{backend}: evicted {evicted}");
        // Writes keep working: the policy makes room.
        let _: () = redis::cmd("SET")
            .arg("last")
            .arg("v")
            .query(&mut con)
            .unwrap();
        let last: String = redis::cmd("GET").arg("last").query(&mut con).unwrap();
        assert_eq!(last, "v");
    }
}

#[test]
fn lru_prefers_keys_not_used_lately() {
    let server = Server::start(2, "uring", &["--maxmemory-policy", "allkeys-lru"]);
    let mut con = server.redis();
    fill(&mut con, "cold:", 500, None);
    fill(&mut con, "hot:", 500, None);
    // The access clock counts seconds, as Redis's LRU clock does.
    std::thread::sleep(Duration::from_millis(1100));
    for i in 0..500 {
        let _: Option<String> = redis::cmd("GET")
            .arg(format!("hot:{i}"))
            .query(&mut con)
            .unwrap();
    }
    let limit = evicting(&mut con, 4);
    set_config(&mut con, "maxmemory", &limit.to_string());
    let hot = surviving(&mut con, "hot:", 500).len();
    let cold = surviving(&mut con, "cold:", 500).len();
    assert!(hot > cold + 100, "hot {hot} cold {cold}");
}

#[test]
fn lfu_prefers_keys_used_often() {
    let server = Server::start(2, "uring", &["--maxmemory-policy", "allkeys-lfu"]);
    let mut con = server.redis();
    fill(&mut con, "rare:", 500, None);
    fill(&mut con, "often:", 500, None);
    // No sleep needed: frequency, not recency, decides. Ten reads raise a new key's counter
    // from 5 to at least 6 (the first read always counts), the rare keys stay at 5.
    for _ in 0..10 {
        let mut pipe = redis::pipe();
        for i in 0..500 {
            pipe.cmd("GET").arg(format!("often:{i}")).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let limit = evicting(&mut con, 4);
    set_config(&mut con, "maxmemory", &limit.to_string());
    let often = surviving(&mut con, "often:", 500).len();
    let rare = surviving(&mut con, "rare:", 500).len();
    assert!(often > rare + 100, "often {often} rare {rare}");
}

#[test]
fn object_freq_and_idletime_follow_the_policy_as_redis() {
    // Deterministic steps only: a new key's counter is 5, and the first access from 5 always
    // counts (probability 1); an overwrite keeps the counter its lookup left.
    assert_scripts_match_redis(&[&[
        "CONFIG SET maxmemory-policy allkeys-lfu",
        "SET foo bar",
        "OBJECT FREQ foo",
        "GET foo",
        "OBJECT FREQ foo",
        "SET fresh x",
        "SET fresh y",
        "OBJECT FREQ fresh",
        "OBJECT FREQ nokey",
        "OBJECT IDLETIME foo",
        "OBJECT ENCODING foo",
        "CONFIG SET maxmemory-policy allkeys-lru",
        "OBJECT FREQ foo",
        "OBJECT IDLETIME nokey",
        "CONFIG SET maxmemory-policy volatile-lfu",
        "OBJECT IDLETIME foo",
        "CONFIG SET maxmemory-policy noeviction",
        "OBJECT FREQ foo",
    ]]);
}

#[test]
fn volatile_policies_only_evict_keys_with_a_ttl() {
    for policy in [
        "volatile-lru",
        "volatile-random",
        "volatile-ttl",
        "volatile-lfu",
    ] {
        let server = Server::start(2, "uring", &["--maxmemory-policy", policy]);
        let mut con = server.redis();
        fill(&mut con, "keep:", 500, None);
        let persistent = counted_memory(&mut con);
        fill(&mut con, "ttl:", 500, Some(1000));
        let all = counted_memory(&mut con);
        set_config(
            &mut con,
            "maxmemory",
            &(persistent + (all - persistent) / 2).to_string(),
        );
        assert_eq!(surviving(&mut con, "keep:", 500).len(), 500, "{policy}");
        let left = surviving(&mut con, "ttl:", 500);
        assert!(
            !left.is_empty() && left.len() < 400,
            "{policy}: {}",
            left.len()
        );
        if policy == "volatile-ttl" {
            // The keys closest to expiring go first.
            let mean = left.iter().sum::<usize>() / left.len();
            assert!(mean > 300, "{policy}: mean index of survivors {mean}");
        }
        // Below what the persistent keys need: every volatile key goes, then writes are refused.
        set_config(&mut con, "maxmemory", &(persistent / 2).to_string());
        assert!(surviving(&mut con, "ttl:", 500).is_empty(), "{policy}");
        assert_eq!(surviving(&mut con, "keep:", 500).len(), 500, "{policy}");
        let mut raw = server.raw();
        raw.cmd(&[b"SET", b"one-more", b"v"]);
        assert_eq!(raw.reply(), OOM, "{policy}");
        raw.cmd(&[b"GET", b"keep:1"]);
        assert_eq!(
            raw.reply(),
            b"$100\r\n"
                .iter()
                .chain(&[b'v'; 100])
                .chain(b"\r\n")
                .copied()
                .collect::<Vec<u8>>()
        );
    }
}

#[test]
fn noeviction_refuses_writes_until_memory_is_freed() {
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut con = server.redis();
        fill(&mut con, "key:", 1000, None);
        let limit = evicting(&mut con, 5);
        set_config(&mut con, "maxmemory", &limit.to_string());
        let mut raw = server.raw();
        raw.cmd(&[b"SET", b"new", b"v"]);
        assert_eq!(raw.reply(), OOM, "{backend}");
        raw.cmd(&[b"LPUSH", b"list", b"v"]);
        assert_eq!(raw.reply(), OOM, "{backend}");
        raw.cmd(&[b"GET", b"key:1"]);
        assert!(raw.reply().starts_with(b"$100\r\n"), "{backend}");
        let keys: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(keys, 1000, "{backend}: noeviction must not evict");
        assert_eq!(info_field(&mut con, "stats", "evicted_keys"), 0);
        // Deleting (not denyoom) frees memory, and writes are accepted again.
        let mut pipe = redis::pipe();
        for i in 0..900 {
            pipe.cmd("DEL").arg(format!("key:{i}")).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
        raw.cmd(&[b"SET", b"new", b"v"]);
        assert_eq!(raw.reply(), b"+OK\r\n", "{backend}");
    }
}

#[test]
fn evicted_events_reach_a_subscriber_on_another_thread() {
    for backend in backends() {
        let server = Server::start(
            2,
            backend,
            &[
                "--notify-keyspace-events",
                "Ee",
                "--maxmemory-policy",
                "allkeys-random",
            ],
        );
        let mut subscribers: Vec<Raw> = (0..4)
            .map(|_| {
                let mut s = server.raw();
                s.cmd(&[b"SUBSCRIBE", b"__keyevent@0__:evicted"]);
                s.reply();
                s
            })
            .collect();
        let mut con = server.redis();
        let _: () = redis::cmd("SET")
            .arg("foo")
            .arg("bar")
            .query(&mut con)
            .unwrap();
        set_config(&mut con, "maxmemory", "1");
        for s in &mut subscribers {
            assert_eq!(
                s.reply(),
                b"*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:evicted\r\n$3\r\nfoo\r\n",
                "{backend}"
            );
        }
        assert_eq!(info_field(&mut con, "stats", "evicted_keys"), 1);
        set_config(&mut con, "maxmemory", "0");
    }
}

#[test]
fn oom_replies_match_redis() {
    assert_scripts_match_redis(&[
        &[
            "SET x 1",
            "CONFIG SET maxmemory 1",
            "SET y 1",
            "APPEND x 2",
            "GET x",
            "DEL x",
            "PING",
            "CONFIG SET maxmemory 0",
            "SET y 1",
        ],
        &[
            "SET x 1",
            "CONFIG SET maxmemory 1",
            "MULTI",
            "GET x",
            "PING",
            "EXEC",
            "MULTI",
            "DISCARD",
            "MULTI",
            "WATCH x",
            "MULTI",
            "EXEC",
            "CONFIG SET maxmemory 0",
            "MULTI",
            "SET a 1",
            "CONFIG SET maxmemory 1",
            "EXEC",
            "CONFIG SET maxmemory 0",
        ],
    ]);
}

/// A transaction queued before memory ran out: EXEC is refused only if it may use memory.
fn exec_after_oom(port: u16, queued: &[&[&[u8]]]) -> Vec<Vec<u8>> {
    let mut tx = Raw::connect(port);
    let mut admin = Raw::connect(port);
    let mut out = Vec::new();
    for args in [&[&b"SET"[..], b"x", b"value"][..], &[b"MULTI"]] {
        tx.cmd(args);
        out.push(tx.reply());
    }
    for args in queued {
        tx.cmd(args);
        out.push(tx.reply());
    }
    admin.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"1"]);
    out.push(admin.reply());
    tx.cmd(&[b"EXEC"]);
    out.push(tx.reply());
    admin.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    out.push(admin.reply());
    out
}

#[test]
fn exec_under_oom_matches_redis() {
    let redis = RedisServer::start();
    let reads: &[&[&[u8]]] = &[&[b"GET", b"x"], &[b"PING"]];
    let writes: &[&[&[u8]]] = &[&[b"SET", b"x", b"1"], &[b"GET", b"x"]];
    let expected = [
        exec_after_oom(redis.port, reads),
        exec_after_oom(redis.port, writes),
    ];
    assert!(expected[1]
        .iter()
        .any(|r| r.starts_with(b"-EXECABORT Transaction discarded because of: OOM")));
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        assert_eq!(exec_after_oom(server.port, reads), expected[0], "{backend}");
        assert_eq!(
            exec_after_oom(server.port, writes),
            expected[1],
            "{backend}"
        );
    }
}

/// A big key written to one shard, with nothing that shard may evict, is covered by another
/// shard's volatile key, as Redis evicts from the whole dataset: the key goes before the next
/// command runs, its RESP3 invalidation comes before that command's reply, and the server is
/// out of memory only while the total stays over the limit.
fn cross_shard_eviction(port: u16) -> Vec<Vec<u8>> {
    let (volatile, big) = (common::KEY_SHARD0.as_bytes(), common::KEY_SHARD1.as_bytes());
    let mut raw = Raw::connect(port);
    raw.cmd(&[b"HELLO", b"3"]);
    raw.reply();
    let mut out = Vec::new();
    let ask = |raw: &mut Raw, args: &[&[u8]]| {
        raw.cmd(args);
        raw.reply()
    };
    out.push(ask(&mut raw, &[b"CLIENT", b"TRACKING", b"on"]));
    raw.cmd(&[b"INFO", b"memory"]);
    let info = String::from_utf8(raw.reply()).unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("INFO memory has no {name}"))
    };
    // What eviction weighs, by Redis's rule: used_memory less what it does not count.
    let counted = field("used_memory") - field("mem_not_counted_for_evict");
    let limit = (counted + 100 * 1024).to_string();
    out.push(ask(
        &mut raw,
        &[b"CONFIG", b"SET", b"maxmemory", limit.as_bytes()],
    ));
    out.push(ask(
        &mut raw,
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"volatile-random"],
    ));
    out.push(ask(&mut raw, &[b"SETEX", volatile, b"10000", b"x"]));
    out.push(ask(&mut raw, &[b"GET", volatile]));
    out.push(ask(&mut raw, &[b"SETBIT", big, b"1600000", b"0"]));
    // The invalidation, then GETBIT's own reply.
    out.push(ask(&mut raw, &[b"GETBIT", big, b"0"]));
    out.push(raw.reply());
    out.push(ask(&mut raw, &[b"EXISTS", volatile]));
    out.push(ask(&mut raw, &[b"SET", b"more", b"x"]));
    out.push(ask(&mut raw, &[b"CONFIG", b"SET", b"maxmemory", b"0"]));
    out.push(ask(&mut raw, &[b"SET", b"more", b"x"]));
    out
}

#[test]
fn a_big_key_evicts_a_volatile_key_on_another_shard_as_redis() {
    let redis = RedisServer::start();
    let expected = cross_shard_eviction(redis.port);
    assert!(expected
        .iter()
        .any(|r| r.starts_with(b">2\r\n$10\r\ninvalidate")));
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        assert_eq!(cross_shard_eviction(server.port), expected, "{backend}");
    }
}

#[test]
fn object_refcount_reports_shared_integers_as_redis() {
    // Redis shares the integers 0..9999 (refcount INT_MAX) unless maxmemory is set with an
    // LRU or LFU policy, whose values each need their own access clock.
    assert_scripts_match_redis(&[&[
        "SET a 1",
        "OBJECT REFCOUNT a",
        "SET b 9999",
        "OBJECT REFCOUNT b",
        "SET c 10000",
        "OBJECT REFCOUNT c",
        "SET d -1",
        "OBJECT REFCOUNT d",
        "SET e 01",
        "OBJECT REFCOUNT e",
        "SET f abc",
        "OBJECT REFCOUNT f",
        "RPUSH g 1",
        "OBJECT REFCOUNT g",
        "CONFIG SET maxmemory 1073741824",
        "CONFIG SET maxmemory-policy allkeys-random",
        "SET h 5",
        "OBJECT REFCOUNT h",
        "CONFIG SET maxmemory-policy allkeys-lru",
        "SET i 5",
        "OBJECT REFCOUNT i",
        "CONFIG SET maxmemory-policy volatile-lfu",
        "SET j 7",
        "OBJECT REFCOUNT j",
        "CONFIG SET maxmemory 0",
        "CONFIG SET maxmemory-policy noeviction",
        "OBJECT REFCOUNT nokey",
    ]]);
}

/// Writes `count` SETEX keys after setting maxmemory 100 KB above used_memory (as Redis's
/// maxmemory.tcl does); returns (limit, used_memory after, keys left, keys written before
/// used_memory came within 4 KB of the limit).
fn writes_under_a_limit(port: u16, policy: &str, count: usize) -> (u64, u64, u64, usize) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut con = client.get_connection().unwrap();
    set_config(&mut con, "maxmemory", "0");
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    // Each shard's slot directory exists before the reading (see `empty_base`).
    let used = empty_base(&mut con);
    let limit = used + 100 * 1024;
    set_config(&mut con, "maxmemory", &limit.to_string());
    set_config(&mut con, "maxmemory-policy", policy);
    let mut reached = 0;
    for i in 0..count {
        let _: () = redis::cmd("SETEX")
            .arg(format!("key:{i}"))
            .arg(10_000)
            .arg("x")
            .query(&mut con)
            .unwrap();
        if reached == 0 && info_field(&mut con, "memory", "used_memory") + 4096 > limit {
            reached = i + 1;
        }
    }
    let after = counted_memory(&mut con);
    let keys: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(
        info_field(&mut con, "memory", "mem_not_counted_for_evict"),
        0,
        "no AOF, no replica: eviction counts all of used_memory"
    );
    (limit, after, keys, reached)
}

#[test]
fn a_limit_above_used_memory_is_honoured_as_by_redis() {
    let redis = RedisServer::start();
    let server = Server::start(2, "uring", &[]);
    for (name, port) in [("redis", redis.port), ("ringkv", server.port)] {
        for policy in ["allkeys-random", "volatile-lru"] {
            let (limit, used, keys, reached) = writes_under_a_limit(port, policy, 4000);
            // More than ten keys fit in the 100 KB before eviction starts, and the limit
            // then holds: keys are evicted, used_memory stays within Redis's 4 KB.
            assert!(
                reached > 10,
                "{name} {policy}: limit reached after {reached}"
            );
            assert!(used < limit + 4096, "{name} {policy}: {used} > {limit}");
            assert!(
                keys > 100 && keys < 3000,
                "{name} {policy}: {keys} keys left"
            );
        }
    }
}

/// CONFIG SET maxmemory inside MULTI: nothing is evicted while the transaction runs (Redis's
/// isSafeToPerformEvictions), so its second INCR sees the first; the key goes afterwards.
/// A script under that limit is refused (OOM) as Redis refuses it.
fn no_eviction_inside_exec(port: u16) -> Vec<Vec<u8>> {
    let mut raw = Raw::connect(port);
    let mut out = Vec::new();
    let script = b"redis.call('incr', KEYS[1]); return redis.call('incr', KEYS[1])";
    let steps: &[&[&[u8]]] = &[
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"],
        &[b"MULTI"],
        &[b"INCR", b"x"],
        &[b"CONFIG", b"SET", b"maxmemory", b"1"],
        &[b"INCR", b"x"],
        &[b"EXEC"],
    ];
    for args in steps {
        raw.cmd(args);
        out.push(raw.reply());
    }
    let gone = common::eventually(Duration::from_secs(10), || {
        raw.cmd(&[b"DBSIZE"]);
        raw.reply() == b":0\r\n"
    });
    assert!(gone, "x was never evicted");
    for args in [
        &[&b"EVAL"[..], script, b"1", b"y"][..],
        &[b"CONFIG", b"SET", b"maxmemory", b"0"],
        &[b"EVAL", script, b"1", b"y"],
    ] {
        raw.cmd(args);
        out.push(raw.reply());
    }
    out
}

#[test]
fn nothing_is_evicted_inside_a_transaction_as_redis() {
    let redis = RedisServer::start();
    let expected = no_eviction_inside_exec(redis.port);
    assert_eq!(expected[5], b"*3\r\n:1\r\n+OK\r\n:2\r\n");
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        assert_eq!(no_eviction_inside_exec(server.port), expected, "{backend}");
    }
}

/// Redis's "client tracking don't cause eviction feedback loop": ten clients track 300 keys
/// with long names, and a limit 40 KB under used_memory evicts a few dozen of them. Each
/// eviction sends every tracking client an invalidation of about a kilobyte, held in its reply
/// buffer for the moment of a write; counted as overhead, those would evict more keys, whose
/// invalidations would evict more (ringkv drained the database so). With a tick every 2 ms
/// (`hz 500`), a tick between a limit being set and the shards publishing their datasets, or
/// reading the invalidations in flight, would catch it: several rounds make that likely.
#[test]
fn tracking_invalidations_do_not_feed_eviction() {
    let server = Server::start(2, "uring", &["--hz", "500"]);
    let mut con = server.redis();
    let mut trackers: Vec<Raw> = (0..10).map(|_| server.raw()).collect();
    for raw in &mut trackers {
        raw.cmd(&[b"HELLO", b"3"]);
        raw.reply();
        raw.cmd(&[b"CLIENT", b"TRACKING", b"on"]);
        assert_eq!(raw.reply(), b"+OK\r\n");
    }
    set_config(&mut con, "maxmemory-policy", "allkeys-lru");
    for round in 0..6 {
        set_config(&mut con, "maxmemory", "0");
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut con)
            .unwrap();
        let keys: Vec<Vec<u8>> = (0..300)
            .map(|j| format!("{round}:{j}:{}", "x".repeat(1000)).into_bytes())
            .collect();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("SET").arg(key).arg("x").ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
        for raw in &mut trackers {
            let mut batch = Vec::new();
            for key in &keys {
                batch.extend(common::encode(&[b"GET", key]));
            }
            raw.send(&batch);
            for _ in &keys {
                assert_eq!(reply_past_pushes(raw), b"$1\r\nx\r\n");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let used = info_field(&mut con, "memory", "used_memory");
        set_config(&mut con, "maxmemory", &(used - 40_000).to_string());
        let evicted = info_field(&mut con, "stats", "evicted_keys");
        let dbsize: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert!(
            (10..=50).contains(&evicted) && (200..=300).contains(&dbsize),
            "round {round}: {evicted} keys evicted, {dbsize} left"
        );
        // The invalidations arrived (and are read, so the next round starts clean).
        for raw in &mut trackers {
            for _ in 0..evicted {
                assert!(raw.reply().starts_with(b">2\r\n$10\r\ninvalidate\r\n"));
            }
        }
    }
}

/// The next reply that is not a push (FLUSHALL's invalidation comes before the next round's).
fn reply_past_pushes(raw: &mut Raw) -> Vec<u8> {
    loop {
        let reply = raw.reply();
        if !reply.starts_with(b">") {
            return reply;
        }
    }
}
