//! The AOF (Redis 7's multi-part form) fed by the change stream: what ringkv journals, replayed
//! by redis-server 7.0.15, gives the data ringkv holds; redis-check-aof accepts the directory;
//! ringkv loads what redis-server wrote; kill -9 loses nothing acknowledged under `always`
//! and nothing older than about a second under `everysec`; a torn tail loads or refuses as
//! `aof-load-truncated` says.

use crate::common;

use common::{eventually, query as cmd, RedisServer, Server, TempDir};
use redis::{Connection, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What this file asks of a test directory.
trait AofDir {
    fn aof_dir(&self) -> PathBuf;
}

impl AofDir for TempDir {
    fn aof_dir(&self) -> PathBuf {
        self.0.join("appendonlydir")
    }
}

fn text(v: &Value) -> String {
    format!("{v:?}")
}

/// Every key of every database with its type, content and absolute expiry (ms), as text.
fn contents(con: &mut Connection) -> BTreeMap<(usize, String), String> {
    let mut all = BTreeMap::new();
    for db in 0..16 {
        cmd(con, &["SELECT", &db.to_string()]);
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(con).unwrap();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(con).unwrap();
            let value = match kind.as_str() {
                "string" => text(&cmd(con, &["GET", &key])),
                "list" => text(&cmd(con, &["LRANGE", &key, "0", "-1"])),
                "set" => {
                    let mut m: Vec<String> = redis::cmd("SMEMBERS").arg(&key).query(con).unwrap();
                    m.sort();
                    format!("{m:?}")
                }
                "hash" => {
                    let h: BTreeMap<String, String> =
                        redis::cmd("HGETALL").arg(&key).query(con).unwrap();
                    format!("{h:?}")
                }
                "zset" => text(&cmd(con, &["ZRANGE", &key, "0", "-1", "WITHSCORES"])),
                "stream" => {
                    let mut shown = text(&cmd(con, &["XRANGE", &key, "-", "+"]));
                    let groups: Vec<BTreeMap<String, Value>> = redis::cmd("XINFO")
                        .arg("GROUPS")
                        .arg(&key)
                        .query(con)
                        .unwrap();
                    for group in groups {
                        let name: String = match group.get("name") {
                            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into(),
                            other => format!("{other:?}"),
                        };
                        let summary = cmd(con, &["XPENDING", &key, &name]);
                        shown.push_str(&format!(" group {group:?} pending {summary:?}"));
                    }
                    shown
                }
                other => other.to_string(),
            };
            let at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query(con).unwrap();
            all.insert((db, key), format!("{kind} {value} expires {at}"));
        }
    }
    cmd(con, &["SELECT", "0"]);
    all
}

/// The differences between two servers' contents, one line each.
fn differences(
    ours: &BTreeMap<(usize, String), String>,
    theirs: &BTreeMap<(usize, String), String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in ours {
        match theirs.get(k) {
            Some(w) if w == v => {}
            other => out.push(format!("{k:?}: ringkv {v} / redis {other:?}")),
        }
    }
    for (k, w) in theirs {
        if !ours.contains_key(k) {
            out.push(format!("{k:?}: missing in ringkv, redis {w}"));
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn check_aof(dir: &Path) -> (bool, String) {
    common::require_tool("redis-check-aof", "redis-tools");
    let out = Command::new("redis-check-aof")
        .arg(dir.join("appendonlydir/appendonly.aof.manifest"))
        .output()
        .expect("run redis-check-aof");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success(), said)
}

fn info_field(con: &mut Connection, name: &str) -> Option<u64> {
    let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
    common::info_field(&info, name)
}

/// A sequence touching every rewrite rule: relative expiries, float increments, random pops,
/// served blocking pops, stream IDs, transactions, scripts and multi-key commands across
/// shards, database switches, flushes and swaps, expiry and lazy deletion.
fn workload(con: &mut Connection, streams: bool) {
    if streams {
        for i in 0..5 {
            cmd(con, &["XADD", "stream", "*", "f", &i.to_string()]);
        }
        cmd(con, &["XGROUP", "CREATE", "stream", "g", "0"]);
        cmd(
            con,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "2",
                "STREAMS",
                "stream",
                ">",
            ],
        );
        cmd(
            con,
            &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "stream", ">"],
        );
        cmd(con, &["XADD", "emptied", "MAXLEN", "0", "*", "f", "v"]);
    }
    let lines: &[&[&str]] = &[
        &["SET", "s", "1"],
        &["SET", "s:ex", "v", "EX", "1000"],
        &["SET", "s:px", "v", "PX", "2000000"],
        &["SETEX", "s:setex", "500", "v"],
        &["PSETEX", "s:psetex", "500000", "v"],
        &["SET", "s:keep", "v", "EX", "900"],
        &["SET", "s:keep", "w", "KEEPTTL"],
        &["SET", "s:nx", "a", "NX"],
        &["SET", "s:nx", "b", "NX"],
        &["SET", "gone", "v", "PX", "1"],
        &["INCRBYFLOAT", "f", "1.1"],
        &["INCRBYFLOAT", "f", "2.25"],
        &["HSET", "h", "a", "1", "b", "2"],
        &["HINCRBYFLOAT", "h", "a", "0.5"],
        &["EXPIRE", "h", "3000"],
        &["PEXPIRE", "s", "4000000"],
        &["PERSIST", "s"],
        &["SET", "pastexp", "v"],
        &["EXPIREAT", "pastexp", "1"],
        &["GETEX", "s:px", "EX", "777"],
        &["SADD", "set", "a", "b", "c", "d", "e", "f"],
        &["SPOP", "set"],
        &["SPOP", "set", "2"],
        &["RPUSH", "list", "a", "b", "c", "d"],
        &["LPOP", "list"],
        &["BLPOP", "list", "1"],
        &["BRPOP", "list", "1"],
        &["RPUSH", "src", "1", "2", "3"],
        &["LMOVE", "src", "dst", "LEFT", "RIGHT"],
        &["BLMOVE", "src", "dst2", "RIGHT", "LEFT", "1"],
        &["RPOPLPUSH", "src", "{src}other"],
        &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
        &["BZPOPMIN", "z", "1"],
        &["ZPOPMAX", "z"],
        &["ZADD", "z2", "5", "q", "6", "r"],
        &["ZUNIONSTORE", "zu", "2", "z", "z2"],
        &["RPUSH", "nums", "3", "1", "2", "5"],
        &["SORT", "nums", "STORE", "sorted"],
        &["LMPOP", "2", "nolist", "nums", "LEFT", "COUNT", "2"],
        &["BLMPOP", "1", "2", "nolist", "nums", "RIGHT"],
        &["ZMPOP", "1", "z2", "MIN"],
        &["MSET", "m1", "1", "m2", "2", "m3", "3", "m4", "4"],
        &["MSETNX", "n1", "1", "n2", "2", "n3", "3"],
        &["RENAME", "m1", "renamed"],
        &["SMOVE", "set", "set2", "a"],
        &["SADD", "set3", "b", "c", "x"],
        &["SINTERSTORE", "inter", "set", "set3"],
        &["COPY", "renamed", "copied"],
        &["EVAL", "redis.call('SET', KEYS[1], 'x'); redis.call('INCR', KEYS[2]); return redis.call('SPOP', KEYS[3])", "3", "lua1", "lua2", "set3"],
        &["SELECT", "3"],
        &["SET", "in3", "v"],
        &["RPUSH", "l3", "x"],
        &["SELECT", "4"],
        &["SET", "in4", "v"],
        &["FLUSHDB"],
        &["SET", "in4b", "v"],
        &["SWAPDB", "3", "5"],
        &["SELECT", "0"],
        &["DEL", "m2", "m3", "nothere"],
        &["APPEND", "s", "tail"],
    ];
    for line in lines {
        cmd(con, line);
    }
    // A transaction over keys on both shards, one on the same shard, one discarded.
    cmd(con, &["MULTI"]);
    cmd(con, &["SET", "tx:a", "1"]);
    cmd(con, &["INCR", "tx:b"]);
    cmd(con, &["SET", "tx:c", "v", "EX", "100"]);
    cmd(con, &["LPUSH", "tx:l", "x", "y"]);
    cmd(con, &["EXEC"]);
    cmd(con, &["MULTI"]);
    cmd(con, &["SET", "tx:discarded", "1"]);
    cmd(con, &["DISCARD"]);
    // `gone` expired a while ago: found on access (lazily) or by the active cycle.
    assert!(eventually(Duration::from_secs(5), || {
        cmd(con, &["EXISTS", "gone"]) == Value::Int(0)
    }));
    // A list that expired, then a push to its name: redis-server does not expire keys while
    // it loads, so only the journaled DEL keeps the old elements out of the replay.
    cmd(con, &["RPUSH", "relist", "old1", "old2"]);
    cmd(con, &["PEXPIRE", "relist", "1"]);
    assert!(eventually(Duration::from_secs(5), || {
        cmd(con, &["EXISTS", "relist"]) == Value::Int(0)
    }));
    cmd(con, &["RPUSH", "relist", "new"]);
}

fn start_ringkv(dir: &TempDir, extra: &[&str]) -> Server {
    let mut args = vec!["--dir", dir.path(), "--appendonly", "yes"];
    args.extend_from_slice(extra);
    Server::start(2, "uring", &args)
}

#[test]
fn journal_replayed_by_redis_gives_ringkv_data() {
    for preamble in ["yes", "no"] {
        let dir = TempDir::new(&format!("replay-{preamble}"));
        let server = start_ringkv(
            &dir,
            &[
                "--appendfsync",
                "always",
                "--aof-use-rdb-preamble",
                preamble,
            ],
        );
        let mut con = server.redis();
        workload(&mut con, true);
        let ours = contents(&mut con);
        assert!(ours.len() > 30, "the workload left {} keys", ours.len());
        let (ok, said) = check_aof(&dir.0);
        assert!(ok, "redis-check-aof: {said}");
        // Replayed from the incremental file alone, then from a rewritten base and a new one.
        let copy = TempDir::new(&format!("replay-copy-{preamble}"));
        copy_dir(&dir.aof_dir(), &copy.aof_dir());
        let redis = RedisServer::start_with(&["--dir", copy.path(), "--appendonly", "yes"]);
        let theirs = contents(&mut redis_con(redis.port));
        let diff = differences(&ours, &theirs);
        assert!(diff.is_empty(), "incremental replay:\n{}", diff.join("\n"));
        drop(redis);

        cmd(&mut con, &["BGREWRITEAOF"]);
        assert!(eventually(Duration::from_secs(10), || {
            info_field(&mut con, "aof_rewrites") == Some(1)
                && info_field(&mut con, "aof_rewrite_in_progress") == Some(0)
        }));
        cmd(&mut con, &["SET", "after:rewrite", "1"]);
        cmd(&mut con, &["INCR", "tx:b"]);
        let ours = contents(&mut con);
        let (ok, said) = check_aof(&dir.0);
        assert!(ok, "redis-check-aof after rewrite: {said}");
        let copy = TempDir::new(&format!("replay-copy2-{preamble}"));
        copy_dir(&dir.aof_dir(), &copy.aof_dir());
        let redis = RedisServer::start_with(&["--dir", copy.path(), "--appendonly", "yes"]);
        let diff = differences(&ours, &contents(&mut redis_con(redis.port)));
        assert!(diff.is_empty(), "rewritten replay:\n{}", diff.join("\n"));

        // And ringkv restarted on its own directory.
        drop(con);
        drop(server);
        let server = start_ringkv(&dir, &[]);
        let diff = differences(&ours, &contents(&mut server.redis()));
        assert!(diff.is_empty(), "ringkv restarted:\n{}", diff.join("\n"));
    }
}

fn redis_con(port: u16) -> Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Streams are journaled with the IDs XADD chose (rewrites leave streams out until the RDB
/// encoding has them: see the README).
#[test]
fn stream_ids_are_journaled_as_chosen() {
    let dir = TempDir::new("stream");
    let server = start_ringkv(&dir, &["--appendfsync", "always"]);
    let mut con = server.redis();
    for i in 0..20 {
        cmd(&mut con, &["XADD", "stream", "*", "f", &i.to_string()]);
    }
    cmd(
        &mut con,
        &["XADD", "stream", "MAXLEN", "=", "10", "*", "f", "last"],
    );
    cmd(
        &mut con,
        &["XADD", "{stream}2", "NOMKSTREAM", "5-*", "f", "v"],
    );
    cmd(&mut con, &["XADD", "{stream}2", "5-*", "f", "v"]);
    let ours = contents(&mut con);
    let copy = TempDir::new("stream-copy");
    copy_dir(&dir.aof_dir(), &copy.aof_dir());
    let redis = RedisServer::start_with(&["--dir", copy.path(), "--appendonly", "yes"]);
    let diff = differences(&ours, &contents(&mut redis_con(redis.port)));
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

#[test]
fn ringkv_loads_the_directory_redis_wrote() {
    let dir = TempDir::new("from-redis");
    let redis = RedisServer::start_with(&[
        "--dir",
        dir.path(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut con = redis_con(redis.port);
    // Without streams: ringkv's RDB reader does not read them yet.
    workload(&mut con, false);
    // Both a base with keys in it and commands after it.
    cmd(&mut con, &["BGREWRITEAOF"]);
    assert!(eventually(Duration::from_secs(10), || {
        info_field(&mut con, "aof_rewrite_in_progress") == Some(0)
            && info_field(&mut con, "aof_rewrites") == Some(1)
    }));
    cmd(&mut con, &["SET", "after:rewrite", "1"]);
    cmd(&mut con, &["RPUSH", "list", "more"]);
    let theirs = contents(&mut con);
    drop(con);
    drop(redis);
    let server = start_ringkv(&dir, &[]);
    let diff = differences(&contents(&mut server.redis()), &theirs);
    assert!(
        diff.is_empty(),
        "ringkv on redis's AOF:\n{}",
        diff.join("\n")
    );
}

/// Writes on several connections until killed; returns, per connection, the keys it saw
/// acknowledged with the instant of each acknowledgement.
fn write_until_killed(
    server: &mut Server,
    connections: usize,
) -> (Vec<Vec<(u64, Instant)>>, Instant) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for c in 0..connections {
        let mut con = server.redis();
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("c{c}:{i}");
                let done: redis::RedisResult<()> =
                    redis::cmd("SET").arg(&key).arg(i).query(&mut con);
                if done.is_err() {
                    break;
                }
                acked.push((i, Instant::now()));
                i += 1;
            }
            acked
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Instant::now();
    // SIGKILL, mid-load.
    sigkill(server.pid());
    stop.store(true, Ordering::Relaxed);
    let acked = writers.into_iter().map(|w| w.join().unwrap()).collect();
    (acked, killed)
}

fn sigkill(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn kill_and_count_lost(fsync: &str) -> (usize, usize, usize) {
    let dir = TempDir::new(&format!("kill-{fsync}"));
    let mut server = start_ringkv(&dir, &["--appendfsync", fsync]);
    let (acked, killed) = write_until_killed(&mut server, 4);
    assert!(eventually(Duration::from_secs(5), || !server.alive()));
    drop(server);
    let server = start_ringkv(&dir, &[]);
    let mut con = server.redis();
    let (mut total, mut lost, mut lost_old) = (0, 0, 0);
    for (c, keys) in acked.iter().enumerate() {
        for &(i, at) in keys {
            total += 1;
            let v: Option<u64> = redis::cmd("GET")
                .arg(format!("c{c}:{i}"))
                .query(&mut con)
                .unwrap();
            if v != Some(i) {
                lost += 1;
                if killed.duration_since(at) > Duration::from_millis(1100) {
                    lost_old += 1;
                }
            }
        }
    }
    (total, lost, lost_old)
}

#[test]
fn kill_9_under_always_loses_no_acknowledged_write() {
    let (total, lost, _) = kill_and_count_lost("always");
    assert!(total > 100, "only {total} writes were acknowledged");
    assert_eq!(lost, 0, "{lost} of {total} acknowledged writes lost");
}

#[test]
fn kill_9_under_everysec_loses_nothing_older_than_a_second() {
    let (total, _, lost_old) = kill_and_count_lost("everysec");
    assert!(total > 100, "only {total} writes were acknowledged");
    assert_eq!(
        lost_old, 0,
        "{lost_old} writes acknowledged over 1 s before the kill lost"
    );
}

#[test]
fn a_torn_tail_loads_when_allowed_and_refuses_otherwise() {
    let dir = TempDir::new("torn");
    let server = start_ringkv(&dir, &["--appendfsync", "always"]);
    let mut con = server.redis();
    for i in 0..50 {
        cmd(&mut con, &["SET", &format!("k{i}"), "v"]);
    }
    drop(con);
    drop(server);
    let incr = dir.aof_dir().join("appendonly.aof.1.incr.aof");
    let whole = std::fs::metadata(&incr).unwrap().len();
    let mut bytes = std::fs::read(&incr).unwrap();
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$5\r\nval");
    std::fs::write(&incr, &bytes).unwrap();

    let mut refused = start_ringkv(&dir, &["--aof-load-truncated", "no"]);
    assert!(eventually(Duration::from_secs(5), || !refused.alive()));
    assert_ne!(refused.exit_code(), Some(0));
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), bytes.len() as u64);

    let server = start_ringkv(&dir, &["--aof-load-truncated", "yes"]);
    let mut con = server.redis();
    assert_eq!(cmd(&mut con, &["DBSIZE"]), Value::Int(50));
    assert_eq!(cmd(&mut con, &["EXISTS", "torn"]), Value::Int(0));
    // The tail was cut off the file, so the next start is clean.
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), whole);
}

#[test]
fn appendonly_set_at_run_time_starts_with_a_rewrite() {
    let dir = TempDir::new("runtime");
    let server = Server::start(2, "uring", &["--dir", dir.path()]);
    let mut con = server.redis();
    for i in 0..20 {
        cmd(&mut con, &["SET", &format!("before{i}"), "v"]);
    }
    assert_eq!(info_field(&mut con, "aof_enabled"), Some(0));
    cmd(&mut con, &["CONFIG", "SET", "appendonly", "yes"]);
    assert!(eventually(Duration::from_secs(10), || {
        info_field(&mut con, "aof_rewrites") == Some(1)
            && info_field(&mut con, "aof_rewrite_in_progress") == Some(0)
    }));
    assert_eq!(info_field(&mut con, "aof_enabled"), Some(1));
    cmd(&mut con, &["SET", "after", "v"]);
    cmd(&mut con, &["CONFIG", "SET", "appendfsync", "always"]);
    cmd(&mut con, &["SET", "after2", "v"]);
    let ours = contents(&mut con);
    drop(con);
    drop(server);
    let server = start_ringkv(&dir, &[]);
    let diff = differences(&ours, &contents(&mut server.redis()));
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

#[test]
fn timestamp_annotations_are_written_and_redis_check_aof_truncates_at_them() {
    let dir = TempDir::new("timestamps");
    let args = [
        "--aof-timestamp-enabled",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
    ];
    let server = start_ringkv(&dir, &[&args[..], &["--appendfsync", "always"]].concat());
    let mut con = server.redis();
    cmd(&mut con, &["SET", "early", "1"]);
    let incr = dir.aof_dir().join("appendonly.aof.1.incr.aof");
    let first_line = |path: &Path| {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().next().unwrap_or_default().to_string()
    };
    assert!(
        first_line(&incr).starts_with("#TS:"),
        "{}",
        first_line(&incr)
    );
    let early: u64 = first_line(&incr)[4..].parse().unwrap();
    // A later second gets its own annotation before its commands.
    std::thread::sleep(Duration::from_millis(1100));
    cmd(&mut con, &["SET", "late", "1"]);
    let annotations: Vec<u64> = std::fs::read_to_string(&incr)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("#TS:").map(|t| t.parse().unwrap()))
        .collect();
    assert_eq!(annotations.len(), 2, "{annotations:?}");
    assert!(annotations[1] > early);
    let (ok, report) = check_aof(&dir.0);
    assert!(ok, "{report}");
    drop(con);
    drop(server);
    // Cut at the first second: the later write is gone after a restart.
    let manifest = dir.aof_dir().join("appendonly.aof.manifest");
    let out = Command::new("redis-check-aof")
        .args(["--truncate-to-timestamp", &early.to_string()])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let server = start_ringkv(&dir, &args);
    let mut con = server.redis();
    assert_eq!(cmd(&mut con, &["EXISTS", "early"]), Value::Int(1));
    assert_eq!(cmd(&mut con, &["EXISTS", "late"]), Value::Int(0));
    // A rewrite's base (commands, no preamble) starts with one as well.
    cmd(&mut con, &["BGREWRITEAOF"]);
    assert!(eventually(Duration::from_secs(10), || {
        info_field(&mut con, "aof_rewrite_in_progress") == Some(0)
            && info_field(&mut con, "aof_rewrites") == Some(1)
    }));
    assert!(first_line(&dir.aof_dir().join("appendonly.aof.2.base.aof")).starts_with("#TS:"));
}

#[test]
fn an_expiry_in_the_past_replayed_from_the_aof_expires_after_loading() {
    // Redis expires nothing while it loads: the list gets both elements and its expiry,
    // and is gone once loaded (a loader that deleted it at PEXPIREAT keeps "bar").
    let dir = TempDir::new("past-expiry");
    let aof = dir.aof_dir();
    std::fs::create_dir_all(&aof).unwrap();
    let commands = "*3\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n$3\r\nfoo\r\n\
                    *3\r\n$9\r\nPEXPIREAT\r\n$4\r\nlist\r\n$4\r\n1000\r\n\
                    *3\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n$3\r\nbar\r\n";
    std::fs::write(aof.join("appendonly.aof.1.incr.aof"), commands).unwrap();
    std::fs::write(
        aof.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    let server = start_ringkv(&dir, &[]);
    assert_eq!(cmd(&mut server.redis(), &["LLEN", "list"]), Value::Int(0));
}
