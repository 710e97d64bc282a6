//! Saving as Redis users rely on it: save points fire, SIGTERM saves before exiting, saves
//! running at once never leave a damaged dump, a failed BGSAVE stops writes (`-MISCONF`), and
//! a BGSAVE taken under a multi-core write load is the keyspace at one instant.

use crate::common;

use common::{check_rdb, eventually, info_field, query as cmd, RedisServer, Server, TempDir};
use redis::{Connection, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What this file asks of a test directory.
trait SaveDir {
    fn dump(&self) -> PathBuf;
    /// Files other than the dump (temporary files a save left behind).
    fn strays(&self) -> Vec<String>;
}

impl SaveDir for TempDir {
    fn dump(&self) -> PathBuf {
        self.0.join("dump.rdb")
    }

    /// Files other than the dump (temporary files a save left behind).
    fn strays(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name != "dump.rdb")
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Int(n) => n.to_string(),
        Value::Nil => "(nil)".into(),
        other => format!("{other:?}"),
    }
}

fn info(con: &mut Connection, name: &str) -> u64 {
    let all = text(&cmd(con, &["INFO", "persistence"]));
    info_field(&all, name).unwrap_or_else(|| panic!("no {name} in {all}"))
}

fn signal(server: &Server, sig: i32) {
    // SAFETY: kill(2) on our own child's pid; no memory is touched.
    let rc = unsafe { libc::kill(server.pid() as i32, sig) };
    assert_eq!(rc, 0, "kill failed");
}

fn bgsave_done(con: &mut Connection) -> bool {
    info(con, "rdb_bgsave_in_progress") == 0
}

#[test]
fn a_save_point_starts_a_bgsave_and_resets_the_change_count() {
    let dir = TempDir::new("points");
    let server = Server::start(2, "uring", &["--dir", dir.path(), "--save", "1", "2"]);
    let mut con = server.redis();
    let Value::Array(pair) = cmd(&mut con, &["CONFIG", "GET", "save"]) else {
        panic!("CONFIG GET replies an array");
    };
    assert_eq!(text(&pair[1]), "1 2");
    cmd(&mut con, &["SET", "a", "1"]);
    assert_eq!(info(&mut con, "rdb_changes_since_last_save"), 1);
    // One change is under the save point: no save, however long we wait for the cron.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!dir.dump().exists());
    assert_eq!(info(&mut con, "rdb_saves"), 0);
    cmd(&mut con, &["MSET", "b", "2", "c", "3"]);
    assert!(eventually(Duration::from_secs(10), || dir.dump().exists()
        && bgsave_done(&mut con)));
    check_rdb(&dir.dump());
    assert_eq!(info(&mut con, "rdb_changes_since_last_save"), 0);
    assert_eq!(info(&mut con, "rdb_saves"), 1);
    assert_eq!(
        text(&cmd(&mut con, &["INFO", "persistence"]))
            .lines()
            .find(|l| l.starts_with("rdb_last_bgsave_status:")),
        Some("rdb_last_bgsave_status:ok")
    );
    // `save ""` turns them off.
    cmd(&mut con, &["CONFIG", "SET", "save", ""]);
    cmd(&mut con, &["SET", "d", "4"]);
    cmd(&mut con, &["SET", "e", "5"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(info(&mut con, "rdb_saves"), 1);
}

#[test]
fn sigterm_saves_when_save_points_are_set_and_the_restart_has_the_data() {
    let dir = TempDir::new("sigterm");
    let mut server = Server::start(2, "uring", &["--dir", dir.path(), "--save", "3600", "1"]);
    let mut con = server.redis();
    for i in 0..1000 {
        cmd(&mut con, &["SET", &format!("key:{i}"), &i.to_string()]);
    }
    cmd(&mut con, &["RPUSH", "list", "a", "b"]);
    signal(&server, libc::SIGTERM);
    assert!(eventually(Duration::from_secs(10), || !server.alive()));
    assert_eq!(server.exit_code(), Some(0));
    check_rdb(&dir.dump());
    let server = Server::start(1, "uring", &["--dir", dir.path()]);
    let mut con = server.redis();
    assert_eq!(text(&cmd(&mut con, &["DBSIZE"])), "1001");
    assert_eq!(text(&cmd(&mut con, &["GET", "key:999"])), "999");
    assert_eq!(text(&cmd(&mut con, &["LINDEX", "list", "1"])), "b");
}

#[test]
fn sigint_saves_unless_told_nosave_and_no_save_points_means_no_save() {
    // No save points: SIGTERM exits without a file.
    let dir = TempDir::new("nosave");
    let mut server = Server::start(1, "uring", &["--dir", dir.path()]);
    cmd(&mut server.redis(), &["SET", "k", "v"]);
    signal(&server, libc::SIGTERM);
    assert!(eventually(Duration::from_secs(10), || !server.alive()));
    assert!(!dir.dump().exists());
    // shutdown-on-sigint save: saves without save points.
    let mut server = Server::start(
        1,
        "uring",
        &["--dir", dir.path(), "--shutdown-on-sigint", "save"],
    );
    cmd(&mut server.redis(), &["SET", "k", "v"]);
    signal(&server, libc::SIGINT);
    assert!(eventually(Duration::from_secs(10), || !server.alive()));
    check_rdb(&dir.dump());
    std::fs::remove_file(dir.dump()).unwrap();
    // shutdown-on-sigterm nosave: save points set, yet no save.
    let mut server = Server::start(
        1,
        "uring",
        &[
            "--dir",
            dir.path(),
            "--save",
            "3600 1",
            "--shutdown-on-sigterm",
            "nosave",
        ],
    );
    cmd(&mut server.redis(), &["SET", "k", "v"]);
    signal(&server, libc::SIGTERM);
    assert!(eventually(Duration::from_secs(10), || !server.alive()));
    assert!(!dir.dump().exists());
}

#[test]
fn a_failed_save_keeps_sigterm_from_exiting_unless_force() {
    let dir = TempDir::new("sigfail");
    let gone = dir.0.join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    let mut server = Server::start(
        1,
        "uring",
        &["--dir", gone.to_str().unwrap(), "--save", "3600 1"],
    );
    let mut con = server.redis();
    cmd(&mut con, &["SET", "k", "v"]);
    std::fs::remove_dir_all(&gone).unwrap();
    signal(&server, libc::SIGTERM);
    // The save fails: the server keeps serving.
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.alive());
    assert_eq!(text(&cmd(&mut con, &["GET", "k"])), "v");
    let mut raw = server.raw();
    raw.cmd(&[b"SHUTDOWN"]);
    assert_eq!(
        raw.reply(),
        b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert!(server.alive());
    cmd(&mut con, &["CONFIG", "SET", "shutdown-on-sigterm", "force"]);
    signal(&server, libc::SIGTERM);
    assert!(eventually(Duration::from_secs(10), || !server.alive()));
    assert_eq!(server.exit_code(), Some(0));
}

#[test]
fn a_failed_bgsave_stops_writes_with_misconf_until_a_save_succeeds() {
    let dir = TempDir::new("misconf");
    let gone = dir.0.join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    let server = Server::start(
        2,
        "uring",
        &["--dir", gone.to_str().unwrap(), "--save", "3600 1"],
    );
    let mut con = server.redis();
    cmd(&mut con, &["SET", "k", "v"]);
    std::fs::remove_dir_all(&gone).unwrap();
    assert_eq!(
        text(&cmd(&mut con, &["BGSAVE"])),
        "Background saving started"
    );
    assert!(eventually(Duration::from_secs(10), || bgsave_done(
        &mut con
    )));
    let status = text(&cmd(&mut con, &["INFO", "persistence"]));
    assert!(status.contains("rdb_last_bgsave_status:err"), "{status}");
    let misconf = b"-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.\r\n";
    let mut raw = server.raw();
    for (send, want) in [
        (&[&b"SET"[..], b"k", b"w"][..], &misconf[..]),
        (&[b"PING"], misconf),
        (&[b"DEL", b"k"], misconf),
        (&[b"GET", b"k"], b"$1\r\nv\r\n"),
        (&[b"MULTI"], b"+OK\r\n"),
        (&[b"GET", b"k"], b"+QUEUED\r\n"),
        (&[b"SET", b"k", b"w"], misconf),
        (
            &[b"EXEC"],
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        ),
    ] {
        raw.cmd(send);
        assert_eq!(
            String::from_utf8_lossy(&raw.reply()),
            String::from_utf8_lossy(want),
            "{:?}",
            String::from_utf8_lossy(send[0])
        );
    }
    // `stop-writes-on-bgsave-error no` lets writes through.
    cmd(
        &mut con,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
    );
    raw.cmd(&[b"SET", b"k", b"w"]);
    assert_eq!(raw.reply(), b"+OK\r\n");
    cmd(
        &mut con,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
    );
    raw.cmd(&[b"SET", b"k", b"x"]);
    assert_eq!(raw.reply(), misconf);
    // A save that succeeds lifts it.
    std::fs::create_dir_all(&gone).unwrap();
    assert_eq!(
        text(&cmd(&mut con, &["BGSAVE"])),
        "Background saving started"
    );
    assert!(eventually(Duration::from_secs(10), || bgsave_done(
        &mut con
    )));
    raw.cmd(&[b"SET", b"k", b"x"]);
    assert_eq!(raw.reply(), b"+OK\r\n");
    check_rdb(&gone.join("dump.rdb"));
}

#[test]
fn saves_at_once_never_leave_a_bad_file_and_a_second_bgsave_is_refused() {
    let dir = TempDir::new("concurrent");
    let server = Server::start(2, "uring", &["--dir", dir.path()]);
    let mut con = server.redis();
    let mut pipe = redis::pipe();
    for i in 0..200_000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    // While one BGSAVE runs, the next one and SAVE are refused with Redis's error.
    assert_eq!(
        text(&cmd(&mut con, &["BGSAVE"])),
        "Background saving started"
    );
    let mut raw = server.raw();
    raw.cmd(&[b"BGSAVE"]);
    let second = raw.reply();
    raw.cmd(&[b"SAVE"]);
    let save = raw.reply();
    if !bgsave_done(&mut con) {
        assert_eq!(second, b"-ERR Background save already in progress\r\n");
        assert_eq!(save, b"-ERR Background save already in progress\r\n");
    }
    assert!(eventually(Duration::from_secs(20), || bgsave_done(
        &mut con
    )));
    // SAVE, BGSAVE and writes from several clients at once, on both threads.
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                let mut con = client.get_connection().unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let verb = ["SAVE", "BGSAVE", "SET", "BGSAVE"][(w + n as usize) % 4];
                    let reply: redis::RedisResult<Value> = match verb {
                        "SET" => redis::cmd("SET")
                            .arg(format!("w{w}"))
                            .arg(n)
                            .query(&mut con),
                        other => redis::cmd(other).query(&mut con),
                    };
                    if let Err(e) = reply {
                        assert!(
                            e.to_string()
                                .contains("Background save already in progress"),
                            "{verb}: {e}"
                        );
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let rounds: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(rounds > 8, "{rounds}");
    assert!(eventually(Duration::from_secs(20), || bgsave_done(
        &mut con
    )));
    check_rdb(&dir.dump());
    assert!(dir.strays().is_empty(), "{:?}", dir.strays());
    // SHUTDOWN SAVE while a BGSAVE runs: the shutdown's file is the one left.
    cmd(&mut con, &["SET", "last", "yes"]);
    cmd(&mut con, &["BGSAVE"]);
    let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<Value>(&mut con);
    let mut server = server;
    assert!(eventually(Duration::from_secs(20), || !server.alive()));
    check_rdb(&dir.dump());
    let server = Server::start(2, "uring", &["--dir", dir.path()]);
    assert_eq!(text(&cmd(&mut server.redis(), &["GET", "last"])), "yes");
    assert_eq!(text(&cmd(&mut server.redis(), &["DBSIZE"])), "200005");
}

/// Keys each load connection writes: `c{conn}:{j % KEYS}` = `j`, for j = 0, 1, 2...
const KEYS: u64 = 3000;
/// Writes per pipelined batch.
const BATCH: u64 = 64;

/// The shard owning `key` on a 2-thread server (slot ranges split in two, as `SlotTable`).
fn shard_of(key: &[u8]) -> usize {
    const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);
    let slot = CRC16.checksum(key) as usize & 16383;
    slot * 2 / 16384
}

/// A pipelined writer: sends `SET c{conn}:{j % KEYS} j` in batches and reads the replies,
/// until `stop`. Returns how many writes were acknowledged.
fn load(port: u16, conn: usize, stop: Arc<AtomicBool>) -> u64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut j = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        let mut out = Vec::new();
        for _ in 0..BATCH {
            let key = format!("c{conn}:{}", j % KEYS);
            let value = j.to_string();
            out.extend_from_slice(
                format!(
                    "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                    key.len(),
                    value.len()
                )
                .as_bytes(),
            );
            j += 1;
        }
        stream.write_all(&out).unwrap();
        let mut want = BATCH as usize * 5;
        while want > 0 {
            let cap = want.min(buf.len());
            let n = stream.read(&mut buf[..cap]).unwrap();
            assert!(n > 0, "server closed");
            assert!(buf[..n].iter().all(|&b| b"+OK\r\n".contains(&b)));
            want -= n;
        }
    }
    j
}

#[test]
fn a_bgsave_under_a_multicore_write_load_is_the_keyspace_at_its_cut() {
    let dir = TempDir::new("cut");
    let server = Server::start(2, "uring", &["--dir", dir.path()]);
    let mut con = server.redis();
    // Enough keys that the walk lasts while the load runs; each overwritten after the cut.
    let mut pipe = redis::pipe();
    for i in 0..300_000 {
        pipe.cmd("SET").arg(format!("p:{i}")).arg("before").ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let port = server.port;
    let loads: Vec<_> = (0..4)
        .map(|c| {
            let stop = stop.clone();
            std::thread::spawn(move || load(port, c, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    cmd(&mut con, &["SET", "m:before", "1"]);
    assert_eq!(
        text(&cmd(&mut con, &["BGSAVE"])),
        "Background saving started"
    );
    cmd(&mut con, &["SET", "m:after", "1"]);
    // After the cut: overwrite, delete and expire keys the walk may not have reached yet.
    let mut pipe = redis::pipe();
    for i in 0..300_000 {
        match i % 3 {
            0 => pipe.cmd("SET").arg(format!("p:{i}")).arg("after").ignore(),
            1 => pipe.cmd("DEL").arg(format!("p:{i}")).ignore(),
            _ => pipe.cmd("APPEND").arg(format!("p:{i}")).arg("+").ignore(),
        };
    }
    pipe.query::<()>(&mut con).unwrap();
    assert!(eventually(Duration::from_secs(30), || bgsave_done(
        &mut con
    )));
    stop.store(true, Ordering::Relaxed);
    let written: Vec<u64> = loads.into_iter().map(|l| l.join().unwrap()).collect();
    assert!(written.iter().all(|&n| n > 0), "{written:?}");
    let status = text(&cmd(&mut con, &["INFO", "persistence"]));
    assert!(status.contains("rdb_last_bgsave_status:ok"), "{status}");
    check_rdb(&dir.dump());

    // redis-server loads the file (it refuses a key twice) and serves what it holds.
    let redis = RedisServer::start_with(&["--dir", dir.path()]);
    let mut rcon = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(text(&cmd(&mut rcon, &["GET", "m:before"])), "1");
    assert_eq!(text(&cmd(&mut rcon, &["GET", "m:after"])), "(nil)");
    for chunk in (0..300_000).collect::<Vec<_>>().chunks(5000) {
        let keys: Vec<String> = chunk.iter().map(|i| format!("p:{i}")).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(&mut rcon).unwrap();
        for (key, value) in keys.iter().zip(values) {
            assert_eq!(value.as_deref(), Some("before"), "{key}");
        }
    }
    // A connection's writes reach each shard in order, and a batch is sent only once the one
    // before it is acknowledged: per shard, the file holds a prefix of the connection's writes
    // (up to some write J_s, every key holding the last value written to it up to J_s), and
    // every write of the batches before the latest one in the file is in it.
    for c in 0..4 {
        let keys: Vec<String> = (0..KEYS).map(|x| format!("c{c}:{x}")).collect();
        let values: Vec<Option<u64>> = redis::cmd("MGET").arg(&keys).query(&mut rcon).unwrap();
        let Some(latest) = values.iter().flatten().max().copied() else {
            continue;
        };
        let shard_of = |x: u64| shard_of(format!("c{c}:{x}").as_bytes());
        for shard in 0..2 {
            let last = values
                .iter()
                .enumerate()
                .filter(|&(x, _)| shard_of(x as u64) == shard)
                .filter_map(|(_, v)| *v)
                .max();
            let floor = latest / BATCH * BATCH;
            let before = (0..floor).rev().find(|&j| shard_of(j % KEYS) == shard);
            if let Some(before) = before {
                assert!(
                    last >= Some(before),
                    "c{c} shard {shard}: {last:?} < {before}"
                );
            }
            let Some(last) = last else { continue };
            for (x, value) in values.iter().enumerate() {
                let x = x as u64;
                if shard_of(x) != shard {
                    continue;
                }
                let want = (x <= last).then(|| last - (last + KEYS - x) % KEYS);
                assert_eq!(
                    *value, want,
                    "c{c}:{x}: shard {shard} cut after write {last}"
                );
            }
        }
    }
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut rcon).unwrap();
    let mut counted = 1u64 + 300_000;
    for c in 0..4 {
        let keys: Vec<String> = (0..KEYS).map(|x| format!("c{c}:{x}")).collect();
        let values: Vec<Option<u64>> = redis::cmd("MGET").arg(&keys).query(&mut rcon).unwrap();
        counted += values.iter().flatten().count() as u64;
    }
    assert_eq!(dbsize, counted);
}

#[test]
fn flushall_with_save_points_empties_the_dump_and_bgsave_in_exec_is_scheduled() {
    let dir = TempDir::new("flushall");
    let server = Server::start(2, "uring", &["--dir", dir.path(), "--save", "3600 1"]);
    let mut con = server.redis();
    cmd(&mut con, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(cmd(&mut con, &["SAVE"]), Value::Okay);
    assert_eq!(info(&mut con, "rdb_changes_since_last_save"), 0);
    cmd(&mut con, &["FLUSHALL"]);
    // Saved at once, as Redis 7.0 does.
    assert_eq!(info(&mut con, "rdb_changes_since_last_save"), 0);
    check_rdb(&dir.dump());
    let restarted = Server::start(1, "uring", &["--dir", dir.path()]);
    assert_eq!(text(&cmd(&mut restarted.redis(), &["DBSIZE"])), "0");
    drop(restarted);

    // Inside EXEC the transaction holds shards: the BGSAVE starts after it, from the cron.
    std::fs::remove_file(dir.dump()).unwrap();
    cmd(&mut con, &["SET", "c", "3"]);
    let mut raw = server.raw();
    for (send, want) in [
        (&[&b"MULTI"[..]][..], &b"+OK\r\n"[..]),
        (&[b"SET", b"d", b"4"], b"+QUEUED\r\n"),
        (&[b"BGSAVE"], b"+QUEUED\r\n"),
        (&[b"EXEC"], b"*2\r\n+OK\r\n+Background saving scheduled\r\n"),
    ] {
        raw.cmd(send);
        assert_eq!(
            String::from_utf8_lossy(&raw.reply()),
            String::from_utf8_lossy(want)
        );
    }
    assert!(eventually(Duration::from_secs(10), || dir.dump().exists()
        && bgsave_done(&mut con)));
    drop(server);
    let restarted = Server::start(1, "uring", &["--dir", dir.path()]);
    let got: Vec<String> = redis::cmd("MGET")
        .arg("c")
        .arg("d")
        .query(&mut restarted.redis())
        .unwrap();
    assert_eq!(got, ["3", "4"]);
}

#[test]
fn a_failed_save_point_bgsave_is_retried_after_five_seconds() {
    let dir = TempDir::new("retry");
    let gone = dir.0.join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    let server = Server::start(
        1,
        "uring",
        &["--dir", gone.to_str().unwrap(), "--save", "1", "1"],
    );
    let mut con = server.redis();
    cmd(&mut con, &["SET", "k", "v"]);
    std::fs::remove_dir_all(&gone).unwrap();
    assert!(eventually(Duration::from_secs(10), || info(
        &mut con,
        "rdb_saves"
    ) == 1
        && bgsave_done(&mut con)));
    let failed = std::time::Instant::now();
    assert!(text(&cmd(&mut con, &["INFO", "persistence"])).contains("rdb_last_bgsave_status:err"));
    assert!(eventually(Duration::from_secs(15), || info(
        &mut con,
        "rdb_saves"
    ) == 2));
    let waited = failed.elapsed();
    // Redis's CONFIG_BGSAVE_RETRY_DELAY: more than 5 whole seconds after the failed try.
    assert!(waited >= Duration::from_millis(4500), "{waited:?}");
    assert!(waited <= Duration::from_secs(8), "{waited:?}");
}

/// The test suite's delays, as redis-server honours them: `rdb-key-save-delay` holds a
/// BGSAVE for that long per key (it stays in progress, then completes whole), and
/// `key-load-delay` a start's load for that long per key.
#[test]
fn key_save_and_load_delays_slow_a_save_and_a_load_per_key() {
    let dir = TempDir::new("key-delays");
    let mut server = Server::start(2, "uring", &["--dir", dir.path(), "--save", ""]);
    let mut con = server.redis();
    for i in 0..20 {
        cmd(&mut con, &["SET", &format!("k{i}"), "v"]);
    }
    cmd(&mut con, &["CONFIG", "SET", "rdb-key-save-delay", "100000"]);
    let started = std::time::Instant::now();
    assert_eq!(
        text(&cmd(&mut con, &["BGSAVE"])),
        "Background saving started"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        info(&mut con, "rdb_bgsave_in_progress"),
        1,
        "20 keys at 100 ms"
    );
    assert!(eventually(Duration::from_secs(20), || bgsave_done(
        &mut con
    )));
    assert!(started.elapsed() >= Duration::from_millis(2000));
    check_rdb(&dir.dump());
    signal(&server, libc::SIGKILL);
    let _ = server.try_wait();
    let started = std::time::Instant::now();
    let server = Server::start(
        2,
        "uring",
        &[
            "--dir",
            dir.path(),
            "--save",
            "",
            "--key-load-delay",
            "100000",
        ],
    );
    let mut con = server.redis();
    assert_eq!(text(&cmd(&mut con, &["DBSIZE"])), "20");
    assert!(
        started.elapsed() >= Duration::from_millis(2000),
        "20 keys at 100 ms"
    );
}

/// FLUSHALL ends a BGSAVE under way, as Redis kills its child: no file of the old data, the
/// change count kept, the status not an error (writes go on); SAVE is not slowed by the delay.
#[test]
fn flushall_ends_a_background_save_under_way() {
    let dir = TempDir::new("flushall-bgsave");
    let server = Server::start(2, "uring", &["--dir", dir.path(), "--save", ""]);
    let mut con = server.redis();
    for i in 0..50 {
        cmd(&mut con, &["SET", &format!("k{i}"), "v"]);
    }
    cmd(&mut con, &["CONFIG", "SET", "rdb-key-save-delay", "100000"]);
    assert_eq!(
        text(&cmd(&mut con, &["BGSAVE"])),
        "Background saving started"
    );
    assert_eq!(info(&mut con, "rdb_bgsave_in_progress"), 1);
    assert_eq!(text(&cmd(&mut con, &["FLUSHALL"])), "OK");
    assert!(eventually(Duration::from_secs(2), || bgsave_done(&mut con)));
    assert!(info(&mut con, "rdb_changes_since_last_save") >= 50);
    let all = text(&cmd(&mut con, &["INFO", "persistence"]));
    assert!(all.contains("rdb_last_bgsave_status:ok"), "{all}");
    assert!(!dir.dump().exists(), "the aborted save wrote no file");
    assert_eq!(text(&cmd(&mut con, &["SET", "x", "y"])), "OK");
    let started = std::time::Instant::now();
    assert_eq!(text(&cmd(&mut con, &["SAVE"])), "OK");
    assert!(started.elapsed() < Duration::from_secs(2));
}
