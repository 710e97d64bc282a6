//! Starts, parks and measures one server process: learns its port, waits for PONG, reads its CPU
//! time and RSS from /proc. Knows nothing of redis-benchmark or of what is being measured.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take from spawn to answering PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Lines of server output kept to explain a failed start.
const LOG_TAIL: usize = 20;

/// How the bench learns the port of a server it starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// Started with `--port 0`; the port is read from its `listening on 127.0.0.1:PORT` line.
    Ringkv,
    /// Given a port the bench chose by binding port 0 and releasing it.
    Redis,
}

/// How to start one server under test.
#[derive(Clone)]
pub struct ServerSpec {
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub launch: Launch,
}

impl ServerSpec {
    /// The full argument list for a launch on `port` (ignored for ringkv, which picks its own).
    fn launch_args(&self, port: u16) -> Vec<String> {
        let mut args: Vec<String> = match self.launch {
            // No save points on either side: a background save would land in some runs only.
            Launch::Ringkv => ["--port", "0", "--save", ""]
                .into_iter()
                .map(String::from)
                .collect(),
            Launch::Redis => ["--port", &port.to_string(), "--bind", "127.0.0.1"]
                .into_iter()
                .chain(["--save", "", "--appendonly", "no"])
                .map(String::from)
                .collect(),
        };
        args.extend(self.args.iter().cloned());
        args
    }

    /// The command line as the report shows it, `<port>` standing for the chosen port.
    pub fn command_line(&self) -> String {
        let args = self.launch_args(0);
        let shown = args.iter().map(|arg| match arg.as_str() {
            "" => "''".to_string(),
            "0" if self.launch == Launch::Redis => "<port>".to_string(),
            _ => arg.clone(),
        });
        std::iter::once(self.program.display().to_string())
            .chain(shown)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A running server. Dropping it kills the process; it also dies with the bench (PDEATHSIG), so
/// an interrupted run leaves nothing behind.
pub struct ServerProcess {
    child: Child,
    /// An empty directory of its own to run in: a dump or AOF in the bench's working
    /// directory is never loaded, and nothing is left in it.
    dir: std::path::PathBuf,
    pub port: u16,
    /// The line that announced the port, ANSI colours removed (empty for redis-server).
    pub startup_line: String,
}

impl ServerProcess {
    pub fn start(spec: &ServerSpec) -> Result<Self, String> {
        let chosen_port = match spec.launch {
            Launch::Redis => free_port().map_err(|err| format!("no free port: {err}"))?,
            Launch::Ringkv => 0,
        };
        let dir = fresh_dir().map_err(|err| format!("no directory to run in: {err}"))?;
        let mut command = Command::new(&spec.program);
        command
            .current_dir(&dir)
            .args(spec.launch_args(chosen_port))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", spec.program.display()))?;
        let mut log = ServerLog::follow(&mut child);
        let deadline = Instant::now() + START_TIMEOUT;
        let started = match spec.launch {
            Launch::Redis => Ok((chosen_port, String::new())),
            Launch::Ringkv => log.await_listening_line(deadline),
        }
        .and_then(|(port, line)| await_pong(&mut child, port, deadline).map(|()| (port, line)));
        match started {
            Ok((port, startup_line)) => Ok(ServerProcess {
                child,
                dir,
                port,
                startup_line,
            }),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&dir);
                Err(format!("{}: {err}{}", spec.label, log.tail()))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process (SIGSTOP) so an idle server cannot take CPU from the one being measured.
    pub fn park(&self) {
        send_signal(self.pid(), libc::SIGSTOP);
    }

    pub fn resume(&self) {
        send_signal(self.pid(), libc::SIGCONT);
    }

    /// User plus system CPU time of the whole process (all threads, live and exited).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // The command name (field 2) may hold spaces and parentheses; fields after the last ')'
        // start at field 3, so utime (14) and stime (15) are the 12th and 13th of them.
        let (_, after_name) = stat.rsplit_once(')')?;
        let mut fields = after_name.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some((utime + stime) as f64 / clock_ticks_per_second())
    }

    /// Resident set size (VmRSS) in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new empty directory under the system's temporary directory.
fn fresh_dir() -> io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "ringkv-compare-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Relaxed)
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A port that was free a moment ago. Another process could take it before the server binds it;
/// on a bench box that race is remote and the start fails loudly if it happens.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Asks the kernel to SIGKILL the child when the thread that spawned it (the bench's main thread)
/// exits, so no server outlives an interrupted or panicking bench.
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which is
    // async-signal-safe, allocates nothing and touches no state shared with the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sends `signal` to `pid`, a child of the bench that has not been reaped yet (so the PID cannot
/// belong to anyone else). Failure means the process is already gone, which callers detect anyway.
pub fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) reads no memory of ours; the only effect is on the target process.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf(3) only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Sends PING until `+PONG` comes back, the process exits, or the deadline passes.
fn await_pong(child: &mut Child, port: u16, deadline: Instant) -> Result<(), String> {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited during start-up ({status})"));
        }
        if ping(port).unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("no PONG on port {port} within {START_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn ping(port: u16) -> io::Result<bool> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply)?;
    Ok(&reply == b"+PONG\r\n")
}

/// A server's stdout and stderr, read by two threads for the process's whole life: a server that
/// logs into a full pipe would block, so the pipes are drained even after start-up.
struct ServerLog {
    lines: Receiver<String>,
    seen: VecDeque<String>,
}

impl ServerLog {
    fn follow(child: &mut Child) -> Self {
        let (sender, lines) = mpsc::channel();
        let stdout = child
            .stdout
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>);
        for pipe in [stdout, stderr].into_iter().flatten() {
            let sender = sender.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                while reader
                    .read_until(b'\n', &mut line)
                    .is_ok_and(|read| read > 0)
                {
                    // Nobody listens after start-up; the line is dropped but the pipe stays drained.
                    let _ = sender.send(strip_ansi(&String::from_utf8_lossy(&line)));
                    line.clear();
                }
            });
        }
        ServerLog {
            lines,
            seen: VecDeque::new(),
        }
    }

    /// Waits for `listening on 127.0.0.1:PORT` and returns the port and the whole line.
    fn await_listening_line(&mut self, deadline: Instant) -> Result<(u16, String), String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no 'listening on' line within {START_TIMEOUT:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("exited before announcing its port".into())
                }
            };
            if let Some(port) = listening_port(&line) {
                return Ok((port, line.trim().to_string()));
            }
            self.remember(line);
        }
    }

    fn remember(&mut self, line: String) {
        if self.seen.len() == LOG_TAIL {
            self.seen.pop_front();
        }
        self.seen.push_back(line);
    }

    /// The last lines the server printed, for an error message; waits briefly for a dying
    /// process's final words.
    fn tail(&mut self) -> String {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.remember(line);
        }
        if self.seen.is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = self.seen.iter().map(|line| line.trim_end()).collect();
        format!("\n  server output:\n    {}", lines.join("\n    "))
    }
}

/// The port in a `... listening on 127.0.0.1:PORT ...` line.
fn listening_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("listening on")?;
    let address = rest.split_whitespace().next()?;
    let (_, port) = address.rsplit_once(':')?;
    let digits: String = port.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|&port| port != 0)
}

/// Removes ANSI escape sequences (`ESC [ ... letter`): a logger may colour even piped output.
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                chars.by_ref().find(|c| c.is_ascii_alphabetic());
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
