//! The crash policy: a panic anywhere is a bug that may have left a shard half-changed, so the
//! process does not limp on with a dead shard; a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL)
//! is one too. Either way a report in Redis's shape goes where the log goes (the `logfile`, or
//! standard output): version, thread, the command being run and the client it runs for when
//! known (its info line and `argv[n]` lines as Redis prints them), the cause and a backtrace.
//! Then the process dies (abort, or the signal's default action), so that a supervisor
//! restarts the server on its persisted data.
//!
//! The signal path writes with plain system calls into a buffer on its own stack: no lock is
//! waited for and nothing is allocated but what the C library's backtrace needs (warmed up at
//! start, as Redis does).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::command::serving;
use crate::state::ServerState;

/// The server's state, for the client registry the report names the client from.
static STATE: OnceLock<Arc<ServerState>> = OnceLock::new();

/// Set by the first thread that crashes: a second one waits for it to end the process.
static REPORTING: AtomicBool = AtomicBool::new(false);

/// An SA_SIGINFO handler's signature.
type Handler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL];

extern "C" {
    // glibc's <execinfo.h>.
    fn backtrace(buffer: *mut *mut libc::c_void, size: libc::c_int) -> libc::c_int;
    fn backtrace_symbols_fd(buffer: *const *mut libc::c_void, size: libc::c_int, fd: libc::c_int);
}

/// Installs the panic hook and the fatal-signal handlers (once, at start, before any worker
/// thread exists).
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        claim();
        let mut out = Report::open();
        let _ = write!(
            out,
            "\n\n=== RINGKV BUG REPORT START: Cut & paste starting from here ===\n\
             ringkv {} crashed by panic (Redis {} compatible)\n",
            env!("CARGO_PKG_VERSION"),
            crate::command::REDIS_VERSION,
        );
        context(&mut out);
        let _ = write!(
            out,
            "panic: {info}\n\n------ STACK TRACE ------\n{}\n",
            std::backtrace::Backtrace::force_capture()
        );
        let _ = out.write_str(END);
        out.flush();
        std::process::abort();
    }));
    serving::signal_stack();
    // Loads what backtrace(3) needs now, so that the signal path does not allocate for it.
    let mut frames = [std::ptr::null_mut(); 4];
    // SAFETY: `frames` has room for the 4 entries asked for.
    unsafe { backtrace(frames.as_mut_ptr(), frames.len() as libc::c_int) };
    for sig in SIGNALS {
        // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO signature and
        // only reads the siginfo it is given. SA_ONSTACK uses the alternate stack the
        // standard library gives each thread, so a stack overflow is reported too.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as Handler as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Gives the report the client registry (once the server state exists).
pub fn watch_clients(state: Arc<ServerState>) {
    let _ = STATE.set(state);
}

const END: &str = "\n=== RINGKV BUG REPORT END. Make sure to include from START to END. ===\n\n";

/// Becomes the thread that reports, or waits to be ended with the process.
fn claim() {
    if REPORTING.swap(true, Ordering::SeqCst) {
        loop {
            // SAFETY: pause(2) only waits for a signal.
            unsafe { libc::pause() };
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    claim();
    let mut out = Report::open();
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr()) };
    let _ = write!(
        out,
        "\n\n=== RINGKV BUG REPORT START: Cut & paste starting from here ===\n\
         ringkv {} crashed by signal: {sig}, si_code: {code} (Redis {} compatible)\n\
         Accessing address: {addr:p}\n",
        env!("CARGO_PKG_VERSION"),
        crate::command::REDIS_VERSION,
    );
    context(&mut out);
    let _ = out.write_str("\n------ STACK TRACE ------\n");
    out.flush();
    let mut frames = [std::ptr::null_mut(); 64];
    // SAFETY: `frames` has room for the entries asked for; the symbols go straight to the fd.
    unsafe {
        let n = backtrace(frames.as_mut_ptr(), frames.len() as libc::c_int);
        backtrace_symbols_fd(frames.as_ptr(), n, out.fd);
    }
    let _ = out.write_str(END);
    out.close();
    // SAFETY: signal(2) and raise(3) are async-signal-safe. The signal is blocked while this
    // handler runs, so it is delivered with its default action (the process ends with it)
    // as soon as the handler returns.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// The thread, the command and the client: what both reports share.
fn context(out: &mut Report) {
    let _ = writeln!(out, "thread: {}", ThreadName::current());
    let _ = writeln!(
        out,
        "command being run on this thread: {}",
        serving::name().unwrap_or("(none)")
    );
    let Some(id) = serving::client() else {
        return;
    };
    let _ = out.write_str("\n------ CURRENT CLIENT INFO ------\n");
    let client = STATE.get().and_then(|s| s.clients.try_get(id));
    match &client {
        Some(c) => {
            let _ = write!(
                out,
                "id={} addr={} laddr={} fd={} name=",
                c.id, c.addr, c.local_addr, c.fd
            );
            if let Ok(name) = c.name.try_lock() {
                let _ = out.write_str(&name);
            }
            let _ = writeln!(out, " db={}", c.db.load(Ordering::Relaxed));
        }
        None => {
            let _ = writeln!(out, "id={id}");
        }
    }
    serving::with_argv(|argv| {
        for (j, arg) in argv.iter().enumerate().take(MAX_ARGV) {
            let _ = write!(out, "argv[{j}]: '");
            repr(out, &arg[..arg.len().min(128)]);
            let _ = out.write_str("'\n");
        }
        if argv.len() > MAX_ARGV {
            let _ = writeln!(out, "... {} more arguments", argv.len() - MAX_ARGV);
        }
    });
}

/// The most `argv[n]` lines a report shows.
const MAX_ARGV: usize = 64;

/// `bytes` quoted as Redis's sdscatrepr quotes them.
fn repr(out: &mut Report, bytes: &[u8]) {
    let _ = out.write_char('"');
    for &b in bytes {
        let _ = match b {
            b'\\' => out.write_str("\\\\"),
            b'"' => out.write_str("\\\""),
            b'\n' => out.write_str("\\n"),
            b'\r' => out.write_str("\\r"),
            b'\t' => out.write_str("\\t"),
            7 => out.write_str("\\a"),
            8 => out.write_str("\\b"),
            0x20..=0x7e => out.write_char(b as char),
            _ => write!(out, "\\x{b:02x}"),
        };
    }
    let _ = out.write_char('"');
}

/// The calling thread's name, read with prctl(2) into a buffer of its own.
struct ThreadName([u8; 16]);

impl ThreadName {
    fn current() -> Self {
        let mut name = ThreadName([0; 16]);
        // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included, into the buffer.
        unsafe { libc::prctl(libc::PR_GET_NAME, name.0.as_mut_ptr()) };
        name
    }
}

impl std::fmt::Display for ThreadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(16);
        f.write_str(&String::from_utf8_lossy(&self.0[..len]))
    }
}

/// The report's output: a buffer on the stack, written to the log file (opened for this
/// report, appending) or standard output whenever it fills.
struct Report {
    fd: libc::c_int,
    owned: bool,
    buf: [u8; 4096],
    len: usize,
}

impl Report {
    fn open() -> Self {
        let file = super::logging::crash_log().map(|path| {
            // SAFETY: `path` is NUL-terminated; open(2) is async-signal-safe.
            unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
                    0o644,
                )
            }
        });
        let (fd, owned) = match file {
            Some(fd) if fd >= 0 => (fd, true),
            _ => (libc::STDOUT_FILENO, false),
        };
        Report {
            fd,
            owned,
            buf: [0; 4096],
            len: 0,
        }
    }

    fn flush(&mut self) {
        let mut at = 0;
        while at < self.len {
            // SAFETY: the range written is inside `buf`; write(2) is async-signal-safe.
            let n = unsafe { libc::write(self.fd, self.buf[at..].as_ptr().cast(), self.len - at) };
            if n <= 0 {
                break;
            }
            at += n as usize;
        }
        self.len = 0;
    }

    fn close(mut self) {
        self.flush();
        if self.owned {
            // SAFETY: the descriptor was opened by `open` for this report alone.
            unsafe { libc::close(self.fd) };
        }
    }
}

impl std::fmt::Write for Report {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for chunk in s.as_bytes().chunks(self.buf.len()) {
            if self.len + chunk.len() > self.buf.len() {
                self.flush();
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_as_redis_quotes_them() {
        let mut out = Report {
            fd: -1,
            owned: false,
            buf: [0; 4096],
            len: 0,
        };
        repr(&mut out, b"a\"b\\\r\n\x01z");
        assert_eq!(&out.buf[..out.len], br#""a\"b\\\r\n\x01z""#);
    }
}
