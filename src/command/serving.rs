//! What this thread is serving right now, for the crash report: the command's name, the
//! client it runs for (when the running code knows it) and, while the command's code runs,
//! its arguments. Written with a few plain stores per command; read only by the panic hook
//! and the fatal-signal handler on this same thread. Also the alternate signal stack that
//! handler writes its report from.

use std::cell::Cell;

use bytes::Bytes;

use super::table::CommandSpec;

#[derive(Clone, Copy)]
struct Current {
    name: &'static str,
    /// 0: not known.
    client: u64,
    /// The arguments of the command being run: valid while `argc > 0` (cleared when its code
    /// returns; a crash in between happens with the slice still alive on this stack).
    argv: *const Bytes,
    argc: usize,
}

thread_local! {
    static CURRENT: Cell<Current> = const {
        Cell::new(Current { name: "", client: 0, argv: std::ptr::null(), argc: 0 })
    };
}

/// Notes that this thread now runs `spec` for client `client` (0: not known) on `argv`.
/// Pair with [`done`] once the command's code returned.
#[inline(always)]
pub fn begin(spec: &'static CommandSpec, client: u64, argv: &[Bytes]) {
    CURRENT.with(|c| {
        c.set(Current {
            name: spec.name,
            client,
            argv: argv.as_ptr(),
            argc: argv.len(),
        })
    });
}

/// Notes that this thread runs `spec`, whose arguments are not at hand (a routine that waits).
#[inline(always)]
pub fn begin_named(spec: &'static CommandSpec, client: u64) {
    CURRENT.with(|c| {
        c.set(Current {
            name: spec.name,
            client,
            argv: std::ptr::null(),
            argc: 0,
        })
    });
}

/// The command's code returned: its arguments may go away now (the name stays, as the
/// command this thread ran last).
#[inline(always)]
pub fn done() {
    CURRENT.with(|c| {
        let mut now = c.get();
        now.argc = 0;
        c.set(now);
    });
}

/// The command this thread runs or ran last (None before its first one).
pub fn name() -> Option<&'static str> {
    let name = CURRENT.with(|c| c.get().name);
    (!name.is_empty()).then_some(name)
}

/// The client the current command runs for, when known.
pub fn client() -> Option<u64> {
    let id = CURRENT.with(|c| c.get().client);
    (id != 0).then_some(id)
}

/// Calls `f` with the arguments of the command running on this thread (none between
/// commands). For the crash paths only: it reads the slice noted by [`begin`].
pub fn with_argv<R>(f: impl FnOnce(&[Bytes]) -> R) -> R {
    let now = CURRENT.with(|c| c.get());
    if now.argc == 0 || now.argv.is_null() {
        return f(&[]);
    }
    // SAFETY: `begin` stored the pointer and length of a live slice of the command being run
    // on this thread, and `done` zeroes `argc` before that slice can be dropped (its owner's
    // frame is below the command's code on this stack). The crash paths call this on the
    // crashing thread, from inside that command's code.
    let argv = unsafe { std::slice::from_raw_parts(now.argv, now.argc) };
    f(argv)
}

/// Room for the fatal-signal report (`server::crash`) on a thread that runs commands: the
/// standard library's alternate signal stack (SIGSTKSZ, 8 KB here) is too small for the
/// report's buffer and backtrace(3).
const SIGNAL_STACK: usize = 256 * 1024;

/// Gives the calling thread an alternate signal stack big enough for the crash report
/// (called first thing on every thread that runs commands or scripts). The stack lives as
/// long as the thread, which lives as long as the process: it is never freed.
pub fn signal_stack() {
    let stack: &'static mut [u8] = Box::leak(vec![0u8; SIGNAL_STACK].into_boxed_slice());
    let alt = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: stack.len(),
    };
    // SAFETY: the stack is valid, writable memory for the rest of the process.
    unsafe { libc::sigaltstack(&alt, std::ptr::null_mut()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_seen_between_begin_and_done_only() {
        let spec = super::super::table::lookup(b"get").unwrap().1;
        let argv = vec![Bytes::from_static(b"get"), Bytes::from_static(b"k")];
        begin(spec, 7, &argv);
        assert_eq!(name(), Some("get"));
        assert_eq!(client(), Some(7));
        assert_eq!(with_argv(|a| a.to_vec()), argv);
        done();
        assert_eq!(with_argv(|a| a.len()), 0);
        assert_eq!(name(), Some("get"));
    }
}
