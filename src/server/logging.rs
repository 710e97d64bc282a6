//! Where log lines go, as redis-server's `logfile`, `syslog-enabled`, `syslog-ident` and
//! `syslog-facility` say: standard output, or a file opened for each line (so a rotated log
//! is followed without a signal), and syslog besides when enabled.

use std::ffi::CString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use crate::config::Config;

struct Targets {
    /// None: standard output.
    file: Option<PathBuf>,
    syslog: bool,
}

/// Makes one writer per event; the event's text is sent where it belongs when dropped.
#[derive(Clone)]
pub struct Logs(Arc<Targets>);

pub struct LogLine {
    targets: Arc<Targets>,
    priority: libc::c_int,
    text: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        match &self.targets.file {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path);
                if let Ok(mut file) = file {
                    let _ = file.write_all(&self.text);
                }
            }
            None => {
                let _ = std::io::stdout().lock().write_all(&self.text);
            }
        }
        if self.targets.syslog {
            let line = self.text.strip_suffix(b"\n").unwrap_or(&self.text);
            let line: Vec<u8> = line.iter().copied().filter(|&b| b != 0).collect();
            if let Ok(line) = CString::new(line) {
                // SAFETY: both strings are NUL-terminated and live across the call.
                unsafe { libc::syslog(self.priority, c"%s".as_ptr(), line.as_ptr()) };
            }
        }
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        self.line(libc::LOG_NOTICE)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LogLine {
        let priority = match *meta.level() {
            Level::ERROR | Level::WARN => libc::LOG_WARNING,
            Level::INFO => libc::LOG_NOTICE,
            _ => libc::LOG_DEBUG,
        };
        self.line(priority)
    }
}

impl Logs {
    fn line(&self, priority: libc::c_int) -> LogLine {
        LogLine {
            targets: self.0.clone(),
            priority,
            text: Vec::new(),
        }
    }
}

/// syslog(3) facility codes by `syslog-facility` name.
fn facility(name: &str) -> libc::c_int {
    match name {
        "user" => libc::LOG_USER,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_LOCAL0,
    }
}

/// The log file (None: standard output), for the crash paths, which write to it with plain
/// system calls.
static CRASH_LOG: std::sync::OnceLock<Option<CString>> = std::sync::OnceLock::new();

/// Where the crash report goes: the log file's path, or None for standard output.
pub fn crash_log() -> Option<&'static std::ffi::CStr> {
    CRASH_LOG.get().and_then(|p| p.as_deref())
}

/// Sets up the process's logging from `config` (after daemonizing: a daemon without a
/// `logfile` logs nowhere but syslog, as its standard output is /dev/null).
/// Err: the log file cannot be opened (redis-server refuses to start then too).
pub fn init(config: &Config) -> Result<(), String> {
    let level = match config.get("loglevel") {
        "debug" | "verbose" => Level::DEBUG,
        "warning" => Level::WARN,
        "nothing" => Level::ERROR,
        _ => Level::INFO,
    };
    let syslog = config.get("syslog-enabled") == "yes";
    if syslog {
        let ident = CString::new(config.get("syslog-ident")).unwrap_or_default();
        // syslog keeps the pointer: the ident lives for the rest of the process.
        let ident: &'static std::ffi::CStr = Box::leak(ident.into_boxed_c_str());
        // SAFETY: `ident` is NUL-terminated and never freed.
        unsafe {
            libc::openlog(
                ident.as_ptr(),
                libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
                facility(config.get("syslog-facility")),
            )
        };
    }
    let file = match config.get("logfile") {
        "" => None,
        path => {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("Can't open the log file: {e}"))?;
            Some(PathBuf::from(path))
        }
    };
    let _ = CRASH_LOG.set(
        file.as_ref()
            .and_then(|p| CString::new(p.as_os_str().as_encoded_bytes()).ok()),
    );
    let logs = Logs(Arc::new(Targets { file, syslog }));
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(false)
        .with_writer(logs)
        .init();
    Ok(())
}
