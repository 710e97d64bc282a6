//! The crash policy: a panic anywhere is a bug that may have left a shard half-changed, so the
//! process does not limp on with a dead shard. The hook logs a report in Redis's shape
//! (version, thread, the command being run on that thread when known, the panic and a
//! backtrace) and aborts, so that a supervisor restarts the server on its persisted data.

use std::backtrace::Backtrace;
use std::io::Write;

/// Installs the hook (once, at start, before any worker thread exists).
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let command = crate::command::dispatch::serving().unwrap_or("(none)");
        let report = format!(
            "\n\n=== RINGKV BUG REPORT START: Cut & paste starting from here ===\n\
             ringkv {} crashed by panic (Redis {} compatible)\n\
             thread: {}\n\
             command being run on this thread: {command}\n\
             panic: {info}\n\
             ------ BACKTRACE ------\n{}\n\
             === RINGKV BUG REPORT END. Make sure to include from START to END. ===\n",
            env!("CARGO_PKG_VERSION"),
            crate::command::REDIS_VERSION,
            thread.name().unwrap_or("(unnamed)"),
            Backtrace::force_capture(),
        );
        // Straight to stdout, where the log goes, bypassing the logger (it may be what
        // panicked).
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(report.as_bytes());
        let _ = out.flush();
        std::process::abort();
    }));
}
