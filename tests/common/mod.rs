//! Test harness: starts the real `ringkv` binary on `--port 0`, reads the bound port from its
//! first log line, and kills it on drop. Also a raw-bytes client and a redis-server starter for
//! differential tests. No sleeps for start-up, no fixed ports.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The I/O backends to test: both, or the one named by RINGKV_TEST_BACKEND.
pub fn backends() -> Vec<&'static str> {
    match std::env::var("RINGKV_TEST_BACKEND").as_deref() {
        Ok("uring") => vec!["uring"],
        Ok("epoll") => vec!["epoll"],
        _ => vec!["uring", "epoll"],
    }
}

/// A running server process.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// Starts ringkv with `threads` threads on `backend`, plus `extra` flags.
    pub fn start(threads: usize, backend: &str, extra: &[&str]) -> Server {
        Server::start_with(threads, backend, extra, |_| {})
    }

    /// Like `start`, letting `adjust` change the command (limits, environment) before spawning.
    pub fn start_with(
        threads: usize,
        backend: &str,
        extra: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringkv"));
        cmd.args([
            "--port",
            "0",
            "--threads",
            &threads.to_string(),
            "--io-backend",
            backend,
            // No save points unless a test sets some (`--save` lines add up, as in Redis): a
            // test server never writes a dump into the working directory on its own.
            "--save",
            "",
            // A replica's full resync starts at once, as Redis's own test configuration has it
            // (the default waits 5 s for more replicas); a test may set it again.
            "--repl-diskless-sync-delay",
            "0",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        adjust(&mut cmd);
        let mut child = cmd.spawn().expect("spawn ringkv");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port = first
            .split("listening on ")
            .nth(1)
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok());
        let Some(port) = port else {
            // A failed start leaves no server behind.
            let _ = child.kill();
            let _ = child.wait();
            panic!("first log line has no port: {first}");
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Server { child, port }
    }

    /// Like `start`, logging to `logfile` instead of standard output: the port is read from
    /// the log.
    pub fn start_logging(threads: usize, backend: &str, extra: &[&str], logfile: &str) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(["--port", "0", "--threads", &threads.to_string()])
            .args(["--io-backend", backend, "--save", "", "--logfile", logfile])
            .args(["--repl-diskless-sync-delay", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ringkv");
        let mut server = Server { child, port: 0 };
        let named = eventually(Duration::from_secs(10), || {
            let log = std::fs::read_to_string(logfile).unwrap_or_default();
            let port = log
                .split("listening on ")
                .nth(1)
                .and_then(|rest| rest.lines().next())
                .and_then(|addr| addr.rsplit(':').next())
                .and_then(|p| p.trim().parse().ok());
            server.port = port.unwrap_or(0);
            port.is_some()
        });
        assert!(named, "the log names the port");
        server
    }

    /// The process's exit status, once it ended.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// A `redis` crate connection.
    pub fn redis(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap();
        client.get_connection().expect("connect")
    }

    /// A raw connection.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit code, once exited.
    pub fn exit_code(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().and_then(|s| s.code())
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().map(|s| s.is_none()).unwrap_or(false)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long [`Raw::closed`] waits for the server to close a connection.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// A raw TCP client speaking bytes.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream }
    }

    /// Writes all of `bytes`; false when the server closed the connection.
    pub fn stream_write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command as multibulk.
    pub fn cmd(&mut self, args: &[&[u8]]) {
        let bytes = encode(args);
        self.send(&bytes);
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.stream.read_exact(&mut buf).expect("read");
        buf
    }

    /// Reads one complete RESP reply (any type, nested), returning its raw bytes.
    pub fn reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_value(&mut out);
        out
    }

    fn read_line(&mut self, out: &mut Vec<u8>) -> Vec<u8> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            self.stream.read_exact(&mut byte).expect("read line");
            line.push(byte[0]);
            if line.ends_with(b"\r\n") {
                break;
            }
        }
        out.extend_from_slice(&line);
        line
    }

    fn read_value(&mut self, out: &mut Vec<u8>) {
        let line = self.read_line(out);
        let body = std::str::from_utf8(&line[1..line.len() - 2]).unwrap_or("");
        match line[0] {
            b'$' | b'=' | b'!' => {
                let n: i64 = body.parse().unwrap();
                if n >= 0 {
                    let data = self.read_exact(n as usize + 2);
                    out.extend_from_slice(&data);
                }
            }
            b'*' | b'~' | b'>' => {
                let n: i64 = body.parse().unwrap();
                for _ in 0..n.max(0) {
                    self.read_value(out);
                }
            }
            b'%' => {
                let n: i64 = body.parse().unwrap();
                for _ in 0..n * 2 {
                    self.read_value(out);
                }
            }
            _ => {}
        }
    }

    /// True when the server closes the connection within [`CLOSE_WITHIN`]: EOF or a reset.
    /// Silence until then is false (a server that never closes must fail the assertion), and
    /// so are bytes arriving first: a caller expecting a reply before the close reads it.
    pub fn closed(&mut self) -> bool {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
        self.stream
            .set_read_timeout(Some(CLOSE_WITHIN))
            .expect("set a read timeout");
        let mut buf = [0u8; 256];
        match self.stream.read(&mut buf) {
            Ok(0) => true,
            Ok(n) => {
                eprintln!(
                    "closed(): the server sent {:?} instead of closing",
                    String::from_utf8_lossy(&buf[..n])
                );
                false
            }
            Err(e) if matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe) => true,
            Err(e) => {
                eprintln!("closed(): still open after {CLOSE_WITHIN:?} ({e})");
                false
            }
        }
    }
}

/// Encodes a command as multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (up to the hard limit);
/// returns the soft limit now in force.
pub fn raise_fd_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the local value.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    if limit.rlim_cur < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the local value only.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = raised.rlim_cur;
        }
    }
    limit.rlim_cur
}

/// A field of an INFO reply (`name:value` line), parsed.
pub fn info_field(info: &str, name: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls `check` until it holds or `within` passes; returns whether it held.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// The io-thread a connection lives on, from CLIENT INFO.
pub fn io_thread(con: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("CLIENT").arg("INFO").query(con).unwrap();
    info.split_whitespace()
        .find_map(|f| f.strip_prefix("io-thread="))
        .and_then(|n| n.parse().ok())
        .expect("io-thread field")
}

/// One connection on each of threads 0 and 1 of a 2-thread server (opens up to 200 tries).
pub fn connections_on_both_threads(server: &Server) -> (redis::Connection, redis::Connection) {
    let mut found: [Option<redis::Connection>; 2] = [None, None];
    for _ in 0..200 {
        let mut con = server.redis();
        let t = io_thread(&mut con);
        if found[t].is_none() {
            found[t] = Some(con);
        }
        if found.iter().all(Option::is_some) {
            let [a, b] = found;
            return (a.unwrap(), b.unwrap());
        }
    }
    panic!("the kernel never spread connections over both threads");
}

/// Two keys known to live on different shards of a 2-shard server (slot < 8192 vs ≥ 8192):
/// "foo" is slot 12182, "bar" slot 5061.
pub const KEY_SHARD1: &str = "foo";
pub const KEY_SHARD0: &str = "bar";

/// A redis-server on a free port, for differential tests.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// Starts redis-server and waits until it answers PING. A port picked free can be taken
    /// again before redis-server binds it (and a bare connect to a port with no listener can
    /// self-connect), so readiness is a real PONG from our child, and a child that exits is
    /// retried on another port.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts redis-server with `extra` arguments after the defaults (a later `--dir` wins).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        require_tool("redis-server", "redis-server");
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let dir = std::env::temp_dir().join(format!("ringkv-oracle-{port}"));
            // A dump an earlier server on this port left (a replica's full resync writes one)
            // would be loaded as this one's data.
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--bind",
                    "127.0.0.1",
                ])
                .args(extra)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut server = RedisServer { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if server.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if answers_ping(port) {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server did not start");
    }
}

/// True when something on `port` replies +PONG to PING.
fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Splits a script line into arguments; `"..."` groups words (no escapes needed here).
pub fn words(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let word: String = chars.by_ref().take_while(|&c| c != '"').collect();
            out.push(word.into_bytes());
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word.into_bytes());
        }
    }
    out
}

pub fn run_script(raw: &mut Raw, script: &[&str]) -> Vec<(String, Vec<u8>)> {
    raw.cmd(&[b"FLUSHALL"]);
    raw.reply();
    raw.cmd(&[b"SELECT", b"0"]);
    raw.reply();
    script
        .iter()
        .map(|line| {
            let args = words(line);
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            raw.cmd(&refs);
            (line.to_string(), raw.reply())
        })
        .collect()
}

/// Fails listing every reply that differed from redis-server's on `backend`.
pub fn assert_no_mismatches(backend: &str, mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "[{backend}] {} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Runs every script against redis-server and against ringkv (2 threads, each backend) and
/// fails listing every reply that differs byte for byte.
pub fn assert_scripts_match_redis(scripts: &[&[&str]]) {
    let redis = RedisServer::start();
    for backend in backends() {
        let server = Server::start(2, backend, &[]);
        let mut ours = server.raw();
        let mut theirs = Raw::connect(redis.port);
        let mut mismatches = Vec::new();
        for script in scripts {
            let expected = run_script(&mut theirs, script);
            let got = run_script(&mut ours, script);
            for ((line, want), (_, have)) in expected.iter().zip(&got) {
                if want != have {
                    mismatches.push(format!(
                        "{line}\n  redis : {:?}\n  ringkv: {:?}",
                        String::from_utf8_lossy(want),
                        String::from_utf8_lossy(have)
                    ));
                }
            }
        }
        assert_no_mismatches(backend, &mismatches);
    }
}

/// Fails the calling test with one line when `tool` is not on PATH, naming the Debian
/// `package` that provides it. Looked up once per tool per test binary.
pub fn require_tool(tool: &str, package: &str) {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static FOUND: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let found = *FOUND
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(tool.to_string())
        .or_insert_with(|| {
            Command::new(tool)
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        });
    if !found {
        panic!("{tool} not found: install Debian package {package} (tests/setup.sh does)");
    }
}

/// True when running in CI (`CI=true`, as .ci/run sets it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A test that cannot run on this machine says why and the caller returns; in CI, which
/// provides what every test needs (.ci/run), that is a failure instead.
pub fn skip(reason: &str) {
    if in_ci() {
        panic!("CI must run this test, but: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// A fresh empty directory under the system temp dir, removed on drop. Its name holds `name`,
/// the process and the thread, so that tests running at once never share one.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ringkv-test-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `args` on `con`, failing the test (naming the command) on an error reply.
pub fn query(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Fails the test unless redis-check-rdb (redis-tools) accepts the RDB file at `path`.
pub fn check_rdb(path: &std::path::Path) {
    require_tool("redis-check-rdb", "redis-tools");
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("run redis-check-rdb");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && log.contains("RDB looks OK"),
        "{log}"
    );
}

/// A reply as text: a bulk or simple string as itself, an integer in decimal, OK as "OK",
/// anything else in its debug form.
pub fn reply_text(v: &redis::Value) -> String {
    use redis::Value;
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Okay => "OK".into(),
        other => format!("{other:?}"),
    }
}
