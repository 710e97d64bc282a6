//! Running ringkv as a drop-in redis-server: the stock Debian redis.conf (daemonized, pid file,
//! log file), CONFIG GET/SET/REWRITE against redis-server's, `include`, `rename-command`,
//! refused directives, systemd notification, oom-score-adj and hz.

use crate::common;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{eventually, query, RedisServer, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_ringkv");

/// A ringkv started on a configuration file (plus flags), killed on drop.
struct Started {
    child: Child,
    port: u16,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts ringkv with `conf` first and `flags` after, reading the port from its first line.
fn start_on(conf: &str, flags: &[&str], adjust: impl FnOnce(&mut Command)) -> Started {
    let mut cmd = Command::new(BIN);
    cmd.arg(conf)
        .args(["--port", "0", "--save", ""])
        .args(flags)
        .stdout(Stdio::piped());
    adjust(&mut cmd);
    let mut child = cmd.spawn().expect("spawn ringkv");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a log line").expect("readable");
    let port = first
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {first}"));
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Started { child, port }
}

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .expect("connect")
}

fn text(value: redis::Value) -> String {
    match value {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::SimpleString(s) => s,
        redis::Value::Okay => "OK".into(),
        other => format!("{other:?}"),
    }
}

fn reply(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    match c.query::<redis::Value>(con) {
        Ok(v) => text(v),
        Err(e) => format!("ERR {}", e.detail().unwrap_or_default()),
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Kills a daemonized server the test lost track of.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0 > 0 && alive(self.0) {
            // SAFETY: the pid was read from the server's own pid file.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

#[test]
fn the_stock_debian_redis_conf_starts_a_daemon_with_pid_and_log_files() {
    let stock = std::fs::read_to_string("/etc/redis/redis.conf")
        .expect("/etc/redis/redis.conf (Debian package redis-server, tests/setup.sh installs it)");
    let dir = TempDir::new("stock-conf");
    let (pidfile, logfile) = (
        format!("{}/r.pid", dir.path()),
        format!("{}/r.log", dir.path()),
    );
    // Only the port and the paths that need root change.
    let conf: String = stock
        .lines()
        .map(|line| match line.split_whitespace().next() {
            Some("port") => "port 0".to_string(),
            Some("pidfile") => format!("pidfile {pidfile}"),
            Some("logfile") => format!("logfile {logfile}"),
            Some("dir") => format!("dir {}", dir.path()),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        conf.contains("\ndaemonize yes"),
        "the stock file daemonizes"
    );
    let path = format!("{}/redis.conf", dir.path());
    std::fs::write(&path, conf).unwrap();
    let status = Command::new(BIN).arg(&path).status().expect("run ringkv");
    assert!(
        status.success(),
        "the foreground process exits 0 once daemonized"
    );
    let mut pid = 0;
    assert!(
        eventually(Duration::from_secs(10), || {
            pid = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pid > 0
        }),
        "the pid file is written"
    );
    let _guard = KillOnDrop(pid);
    assert!(alive(pid));
    let mut log = String::new();
    assert!(eventually(Duration::from_secs(10), || {
        log = std::fs::read_to_string(&logfile).unwrap_or_default();
        log.contains("Ready to accept connections")
    }));
    let port: u16 = log
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("the log names the port");
    assert!(log.contains(&format!("pid={pid}")), "{log}");
    assert!(
        log.contains(&format!("Running mode=standalone, port={port}.")),
        "{log}"
    );
    // One warning line names what the file sets without effect here.
    let warning = log
        .lines()
        .find(|l| l.contains("features ringkv does not have yet"))
        .expect("a warning about options without effect");
    assert!(warning.contains("repl-diskless-load"), "{warning}");
    // The diskless transfer's delay works now: not named.
    assert!(!warning.contains("repl-diskless-sync"), "{warning}");
    let mut con = connect(port);
    assert_eq!(reply(&mut con, &["PING"]), "PONG");
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hash-max-listpack-entries")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        got,
        ["hash-max-listpack-entries", "512"],
        "the file's value"
    );
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut con);
    assert!(eventually(Duration::from_secs(10), || !alive(pid)));
    assert!(
        !std::path::Path::new(&pidfile).exists(),
        "the pid file is removed at exit"
    );
}

/// CONFIG GET's names: every redis-server 7.0.15 option and alias is known to ringkv.
#[test]
fn config_get_knows_every_option_redis_server_has() {
    let redis = RedisServer::start();
    let server = common::Server::start(1, "uring", &[]);
    let names = |con: &mut redis::Connection| -> std::collections::BTreeSet<String> {
        let pairs: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("*").query(con).unwrap();
        pairs.chunks(2).map(|p| p[0].clone()).collect()
    };
    let theirs = names(&mut connect(redis.port));
    let ours = names(&mut server.redis());
    let missing: Vec<_> = theirs.difference(&ours).collect();
    assert!(missing.is_empty(), "unknown to ringkv: {missing:?}");
    let extra: Vec<_> = ours.difference(&theirs).collect();
    // threads, io-backend and metrics-port answer only when named (fixed at start, so
    // CONFIG GET * stays settable back, as the suite's CONFIG sanity test does).
    for own in ["threads", "io-backend", "metrics-port"] {
        let pair: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(own)
            .query(&mut server.redis())
            .unwrap();
        assert_eq!(pair.first().map(String::as_str), Some(own));
    }
    assert_eq!(
        extra,
        ["set-max-listpack-entries", "set-max-listpack-value"],
        "ringkv's own options"
    );
    // Aliases read and write one setting, with Redis's validation texts.
    let mut a = connect(redis.port);
    let mut b = server.redis();
    for args in [
        &["CONFIG", "SET", "slave-read-only", "no"][..],
        &["CONFIG", "GET", "replica-read-only"],
        &["CONFIG", "SET", "hz", "1000"],
        &["CONFIG", "GET", "hz"],
        &["CONFIG", "SET", "oom-score-adj-values", "1 2"],
        &["CONFIG", "SET", "unixsocketperm", "700"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "50 101",
        ],
        &["CONFIG", "SET", "maxmemory-clients", "10%"],
        &["CONFIG", "GET", "maxmemory-clients"],
        &["CONFIG", "SET", "repl-diskless-load", "sometimes"],
        &["CONFIG", "SET", "no-such-option", "1"],
    ] {
        let (x, y) = (query_any(&mut a, args), query_any(&mut b, args));
        assert_eq!(y, x, "{args:?}");
    }
    let info: redis::InfoDict = redis::cmd("INFO").arg("server").query(&mut b).unwrap();
    assert_eq!(info.get::<i64>("hz"), Some(500), "hz is capped at 500");
    assert_eq!(info.get::<i64>("configured_hz"), Some(500));
}

fn query_any(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    match c.query::<redis::Value>(con) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("{:?} {:?}", e.code(), e.detail()),
    }
}

/// CONFIG REWRITE of the same file after the same CONFIG SETs writes what redis-server writes:
/// comments, order and blank runs kept, first lines replaced, duplicates blanked, aliases,
/// unknown lines commented out, new options appended after the signature.
#[test]
fn config_rewrite_writes_the_file_redis_server_writes() {
    let dir = TempDir::new("rewrite");
    let base = format!(
        "# A cache\n\nport 0\nsave 900 1\nsave 300 10\n\n\n# replication\nslave-read-only yes\nmaxmemory 100mb\nrename-command DEBUG \"\"\ndir {}\nappendfilename   \"appendonly.aof\"\nhz 10\n",
        dir.path()
    );
    let ours = format!("{}/ringkv.conf", dir.path());
    let theirs = format!("{}/redis.conf", dir.path());
    std::fs::write(&ours, &base).unwrap();
    std::fs::write(&theirs, &base).unwrap();
    let server = start_on(&ours, &[], |_| {});
    let redis = {
        let mut child = Command::new("redis-server")
            .arg(&theirs)
            .args([
                "--port",
                "0",
                "--unixsocket",
                &format!("{}/r.sock", dir.path()),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        let socket = format!("{}/r.sock", dir.path());
        let up = eventually(Duration::from_secs(10), || {
            std::path::Path::new(&socket).exists()
        });
        if !up {
            let _ = child.kill();
        }
        assert!(up, "redis-server started");
        (child, socket)
    };
    let mut rk = connect(server.port);
    let mut rs = redis::Client::open(format!("redis+unix://{}", redis.1))
        .unwrap()
        .get_connection()
        .unwrap();
    for con in [&mut rk, &mut rs] {
        for args in [
            &["CONFIG", "SET", "maxmemory", "2gb"][..],
            &["CONFIG", "SET", "save", "60 5"],
            &["CONFIG", "SET", "replica-read-only", "no"],
            &["CONFIG", "SET", "maxclients", "500"],
            &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
        ] {
            query(con, args);
        }
        query(con, &["CONFIG", "REWRITE"]);
    }
    let (mut redis_child, _) = redis;
    let _ = redis_child.kill();
    let _ = redis_child.wait();
    let ours = std::fs::read_to_string(&ours).unwrap();
    // redis-server was also given a unix socket on its command line: leave that line out.
    let theirs: String = std::fs::read_to_string(&theirs)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("unixsocket "))
        .map(|l| format!("{l}\n"))
        .collect();
    // redis-server appends new options in its hash table's order: compare that tail as a set.
    let split = |text: &str| -> (String, Vec<String>) {
        let (head, tail) = text
            .split_once("# Generated by CONFIG REWRITE\n")
            .expect("a signature line");
        let mut tail: Vec<String> = tail.lines().map(String::from).collect();
        tail.sort();
        (head.to_string(), tail)
    };
    assert_eq!(
        split(&ours),
        split(&theirs),
        "ringkv:\n{ours}\nredis-server:\n{theirs}"
    );
}

#[test]
fn include_rename_command_and_refused_directives() {
    let dir = TempDir::new("include");
    std::fs::create_dir(format!("{}/conf.d", dir.path())).unwrap();
    std::fs::write(format!("{}/conf.d/a.conf", dir.path()), "maxclients 123\n").unwrap();
    std::fs::write(
        format!("{}/conf.d/b.conf", dir.path()),
        "rename-command FLUSHALL \"\"\nrename-command CONFIG MYCONFIG\n",
    )
    .unwrap();
    let main = format!("{}/main.conf", dir.path());
    std::fs::write(&main, format!("include {}/conf.d/*.conf\n", dir.path())).unwrap();
    let server = start_on(&main, &["--threads", "2"], |_| {});
    let mut con = connect(server.port);
    let got: Vec<String> = redis::cmd("MYCONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, ["maxclients", "123"]);
    // The same unknown-command errors as redis-server with the same renames.
    let redis = RedisServer::start_with(&[
        "--rename-command",
        "FLUSHALL",
        "",
        "--rename-command",
        "CONFIG",
        "MYCONFIG",
    ]);
    let mut theirs = connect(redis.port);
    for args in [&["FLUSHALL"][..], &["CONFIG", "GET", "port"]] {
        assert_eq!(
            query_any(&mut con, args),
            query_any(&mut theirs, args),
            "{args:?}"
        );
    }

    // Refused at start, as redis-server refuses them (exit 1, the line quoted).
    for (text, why) in [
        (
            "not-an-option yes\n",
            "Bad directive or wrong number of arguments",
        ),
        ("maxmemory lots\n", "argument must be a memory value"),
        ("rename-command NOSUCH X\n", "No such command"),
        ("replicaof 127.0.0.1 70000\n", "Invalid master port"),
    ] {
        let path = format!("{}/bad.conf", dir.path());
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .arg(&path)
            .args(["--port", "0"])
            .output()
            .expect("run ringkv");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        assert!(stderr.contains(why), "{text}: {stderr}");
    }
    let path = format!("{}/bad.conf", dir.path());
    std::fs::write(&path, "port 0\nnot-an-option yes\n").unwrap();
    let ours = Command::new(BIN).arg(&path).output().unwrap();
    let theirs = Command::new("redis-server").arg(&path).output().unwrap();
    let tail = |out: &std::process::Output| -> Vec<String> {
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        text.lines()
            .skip_while(|l| !l.starts_with("Reading the configuration file"))
            .map(String::from)
            .collect()
    };
    assert_eq!(tail(&ours), tail(&theirs));
}

#[test]
fn supervised_systemd_is_told_ready_and_stopping() {
    let dir = TempDir::new("notify");
    let socket_path = format!("{}/notify.sock", dir.path());
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let conf = format!("{}/empty.conf", dir.path());
    std::fs::write(&conf, "supervised systemd\n").unwrap();
    let server = start_on(&conf, &[], |cmd| {
        cmd.env("NOTIFY_SOCKET", &socket_path);
    });
    let mut buf = [0u8; 256];
    let mut messages = Vec::new();
    while !messages.iter().any(|m: &String| m.contains("READY=1")) {
        let n = socket.recv(&mut buf).expect("a notification");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(
        messages,
        ["STATUS=Ready to accept connections\n", "READY=1\n"]
    );
    let mut con = connect(server.port);
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut con);
    let n = socket.recv(&mut buf).expect("a notification at exit");
    assert_eq!(&buf[..n], b"STOPPING=1\n");
}

/// The process's /proc oom_score_adj, as written.
fn oom_score_adj(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn oom_score_adj_is_applied_at_start_and_on_config_set() {
    let dir = TempDir::new("oom");
    let conf = format!("{}/oom.conf", dir.path());
    std::fs::write(
        &conf,
        "oom-score-adj absolute\noom-score-adj-values 100 200 800\n",
    )
    .unwrap();
    let server = start_on(&conf, &[], |_| {});
    let pid = server.child.id();
    let read = || oom_score_adj(pid);
    assert!(
        eventually(Duration::from_secs(10), || read() == "100"),
        "{}",
        read()
    );
    let mut con = connect(server.port);
    query(
        &mut con,
        &["CONFIG", "SET", "oom-score-adj-values", "300 400 900"],
    );
    assert_eq!(read(), "300");
    // A replica takes the second value, a master the first again (as Redis on REPLICAOF).
    query(&mut con, &["REPLICAOF", "127.0.0.1", "1"]);
    assert_eq!(read(), "400");
    query(&mut con, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(read(), "300");
}

/// Started as a replica (`replicaof` in the file), the process takes the replica's class.
#[test]
fn oom_score_adj_of_a_replica_at_start() {
    let dir = TempDir::new("oom-replica");
    let conf = format!("{}/oom.conf", dir.path());
    std::fs::write(
        &conf,
        "oom-score-adj absolute\noom-score-adj-values 100 200 800\nreplicaof 127.0.0.1 1\n",
    )
    .unwrap();
    let server = start_on(&conf, &[], |_| {});
    let pid = server.child.id();
    let read = || oom_score_adj(pid);
    assert!(
        eventually(Duration::from_secs(10), || read() == "200"),
        "{}",
        read()
    );
}

#[test]
fn unixsocket_serves_clients_with_its_permissions_and_is_removed_at_exit() {
    for backend in common::backends() {
        unixsocket_on(backend);
    }
}

fn unixsocket_on(backend: &str) {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unixsocket");
    let path = format!("{}/ringkv.sock", dir.path());
    let server = common::Server::start(
        2,
        backend,
        &["--unixsocket", &path, "--unixsocketperm", "700"],
    );
    // Listening once the permissions are set: the first connection that succeeds finds them.
    assert!(eventually(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&path).is_ok()
    }));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // Several connections (spread over both threads), each on keys of both shards.
    for i in 0..4 {
        let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let cmd = format!("SET foo{i} v\r\nSET bar{i} w\r\nMGET foo{i} bar{i}\r\nCLIENT INFO\r\n");
        stream.write_all(cmd.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"\r\n") || !String::from_utf8_lossy(&got).contains("flags=") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("+OK\r\n+OK\r\n*2\r\n$1\r\nv\r\n$1\r\nw\r\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("addr={path}:0 laddr={path}:0 ")),
            "{text}"
        );
        assert!(text.contains(" flags=U "), "{text}");
    }
    let mut con = redis::Client::open(format!("redis+unix://{path}"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut con);
    assert!(eventually(Duration::from_secs(10), || {
        !std::path::Path::new(&path).exists()
    }));
    drop(server);
}

/// The kernel's THP_enabled line for `pid` (Linux 5.0 and later), if it has one.
fn thp_enabled(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
    Some(line["THP_enabled:".len()..].trim().to_string())
}

/// `disable-thp yes` (the default) turns transparent huge pages off for the process, as
/// redis-server does; `no` leaves them on.
#[test]
fn disable_thp_turns_transparent_huge_pages_off_for_the_process() {
    let dir = TempDir::new("thp");
    let conf = format!("{}/thp.conf", dir.path());
    std::fs::write(&conf, "").unwrap();
    let default = start_on(&conf, &[], |_| {});
    let Some(off) = thp_enabled(default.child.id()) else {
        common::skip("this kernel's /proc/PID/status has no THP_enabled line");
        return;
    };
    assert_eq!(off, "0");
    let kept = start_on(&conf, &["--disable-thp", "no"], |_| {});
    assert_eq!(thp_enabled(kept.child.id()).as_deref(), Some("1"));
    let mut con = connect(kept.port);
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("disable-thp")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, ["disable-thp", "no"]);
}
