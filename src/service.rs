//! Running as a Linux service the way redis-server does: `daemonize`, `pidfile`,
//! `supervised` (systemd's sd_notify protocol, upstart's SIGSTOP), `oom-score-adj`, the
//! somaxconn check of `tcp-backlog`, and the files removed at exit.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::config::Config;

/// Redis's pid file when daemonized without `pidfile`.
const DEFAULT_PIDFILE: &str = "/var/run/redis.pid";

/// Files the server created and removes when it exits (pid file, unix socket).
static REMOVE_AT_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// How the service manager is told about the server's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supervisor {
    None,
    Systemd,
    Upstart,
}

/// The supervisor `supervised` asks for (`auto`: whichever the environment names).
pub fn supervisor(config: &Config) -> Supervisor {
    match config.get("supervised") {
        "systemd" => Supervisor::Systemd,
        "upstart" => Supervisor::Upstart,
        "auto" if std::env::var_os("UPSTART_JOB").is_some() => Supervisor::Upstart,
        "auto" if std::env::var_os("NOTIFY_SOCKET").is_some() => Supervisor::Systemd,
        _ => Supervisor::None,
    }
}

/// Detaches from the terminal as redis-server does: fork (the parent exits 0), a new session,
/// standard streams on /dev/null. Must run before any thread starts.
pub fn daemonize() -> Result<(), String> {
    // SAFETY: called from main before any other thread exists, so the child is a complete copy
    // of the process; the parent only exits.
    match unsafe { libc::fork() } {
        -1 => return Err(format!("fork failed: {}", std::io::Error::last_os_error())),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: plain system calls on this process's own descriptors; /dev/null is opened by a
    // NUL-terminated literal.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null != -1 {
            libc::dup2(null, libc::STDIN_FILENO);
            libc::dup2(null, libc::STDOUT_FILENO);
            libc::dup2(null, libc::STDERR_FILENO);
            if null > libc::STDERR_FILENO {
                libc::close(null);
            }
        }
    }
    Ok(())
}

/// Writes the pid file when `pidfile` is set, or Redis's default one when daemonized; a file
/// that cannot be written is logged, as Redis does, and the server goes on.
pub fn write_pidfile(config: &Config) {
    let path = match config.get("pidfile") {
        "" if config.get("daemonize") == "yes" => DEFAULT_PIDFILE,
        "" => return,
        path => path,
    };
    match std::fs::write(path, format!("{}\n", std::process::id())) {
        Ok(()) => remove_at_exit(PathBuf::from(path)),
        Err(e) => tracing::warn!("Failed to write PID file: {e}"),
    }
}

pub fn remove_at_exit(path: PathBuf) {
    if let Ok(mut files) = REMOVE_AT_EXIT.lock() {
        files.push(path);
    }
}

/// What every way out of the server does last: tells systemd, removes the pid file and socket.
pub fn at_exit() {
    notify("STOPPING=1\n");
    if let Ok(files) = REMOVE_AT_EXIT.lock() {
        for file in files.iter() {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Sends `state` (e.g. `READY=1\n`) to systemd over $NOTIFY_SOCKET, when there is one.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> std::io::Result<()> {
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let bytes = socket.as_encoded_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name)?
            }
            None => SocketAddr::from_pathname(&socket)?,
        };
        let datagram = UnixDatagram::unbound()?;
        datagram.send_to_addr(state.as_bytes(), &addr)?;
        Ok(())
    })();
    if let Err(e) = sent {
        tracing::warn!("Can't send notification to systemd: {e}");
    }
}

/// Tells the supervisor the server is ready, as Redis does once it accepts connections.
pub fn ready(supervisor: Supervisor) {
    match supervisor {
        Supervisor::Systemd => {
            notify("STATUS=Ready to accept connections\n");
            notify("READY=1\n");
        }
        Supervisor::Upstart => {
            std::env::remove_var("UPSTART_JOB");
            // SAFETY: stopping ourselves is how upstart's `expect stop` learns we are ready.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
        }
        Supervisor::None => {}
    }
}

/// /proc/self/oom_score_adj as it was when ringkv last took control of it (`None` while
/// ringkv leaves it alone): the base of `oom-score-adj relative`, and what `no` restores.
static OOM_BASE: std::sync::Mutex<Option<i64>> = std::sync::Mutex::new(None);

/// Applies `oom-score-adj` / `oom-score-adj-values` to this process, as redis-server does at
/// start, on CONFIG SET and when REPLICAOF changes the role: the first value is a master's, the
/// second a replica's (`replicaof` set). The score is read when ringkv takes control (so a
/// change made meanwhile by someone else is the new base), and `no` puts that value back once,
/// then leaves the score alone. Err: the reason, for CONFIG SET.
pub fn apply_oom_score_adj(config: &Config) -> Result<(), String> {
    let path = "/proc/self/oom_score_adj";
    let mut base = OOM_BASE.lock().unwrap_or_else(|e| e.into_inner());
    let mode = config.get("oom-score-adj");
    let class = usize::from(!config.get("replicaof").is_empty());
    let value: i64 = config
        .get("oom-score-adj-values")
        .split_whitespace()
        .nth(class)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let target = if mode == "no" {
        match base.take() {
            Some(original) => original,
            None => return Ok(()),
        }
    } else {
        let original = match *base {
            Some(original) => original,
            None => {
                let read = std::fs::read_to_string(path)
                    .map_err(|e| format!("Unable to read oom_score_adj: {e}"))?;
                let original = read.trim().parse().unwrap_or(0);
                *base = Some(original);
                original
            }
        };
        match mode {
            "absolute" => value,
            _ => original + value,
        }
        .clamp(-1000, 1000)
    };
    std::fs::write(path, target.to_string())
        .map_err(|e| format!("Unable to write oom_score_adj: {e}"))
}

/// Redis's warning when the kernel caps the listen backlog below `tcp-backlog`.
pub fn check_backlog(backlog: i64) {
    let Some(somaxconn) = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
    else {
        return;
    };
    if somaxconn < backlog {
        tracing::warn!(
            "WARNING: The TCP backlog setting of {backlog} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {somaxconn}."
        );
    }
}
