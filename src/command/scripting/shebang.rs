//! Script flags: EVAL's `#!lua flags=...` first line, and what a script's flags change for
//! the command that runs it (Redis 7.0's evalExtractShebangFlags, scriptFlagsToCmdFlags and
//! scriptPrepareForRun). The functions' flags are the same bits (`library::FLAG_NAMES`).
//!
//! A script without a shebang runs in Redis's compatibility mode: the command keeps its own
//! flags and only the per-call checks apply. With a shebang, the declared flags replace the
//! command's write and deny-oom flags before the command is admitted, and decide whether the
//! script may start at all.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};

use bytes::Bytes;

use super::library::{ALLOW_OOM, FLAG_NAMES, NO_CLUSTER, NO_WRITES};
use crate::command::err;
use crate::protocol::Reply;

/// A script's declared flags; None for a script without a shebang (compatibility mode).
pub type ScriptFlags = Option<u8>;

/// The declared flags of the cached scripts by sha1, readable from any thread: admission of an
/// EVALSHA reads them before the script reaches the Lua thread. Scripts without a shebang are
/// not listed.
static CACHED: LazyLock<Mutex<HashMap<String, u8>>> = LazyLock::new(Default::default);

fn cached() -> MutexGuard<'static, HashMap<String, u8>> {
    CACHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Notes the flags of a script just compiled into the cache.
pub(super) fn remember(sha: &str, flags: ScriptFlags) {
    if let Some(flags) = flags {
        cached().insert(sha.to_string(), flags);
    }
}

/// SCRIPT FLUSH: the cache is empty.
pub(super) fn forget_all() {
    cached().clear();
}

/// Splits the shebang line off `body`. The code keeps the line's `\n`, so line numbers in
/// errors stay the user's. Errors are the compile errors Redis gives for a bad shebang.
pub(super) fn parse(body: &[u8]) -> Result<(&[u8], ScriptFlags), Reply> {
    if !body.starts_with(b"#!") {
        return Ok((body, None));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err(Reply::error(err::SHEBANG_INVALID));
    };
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let mut words = line.split_ascii_whitespace();
    // The line starts with `#!`, so there is always a first word.
    match words.next() {
        Some("#!lua") => {}
        engine => return Err(err::shebang_engine(engine.unwrap_or_default())),
    }
    let mut flags = 0;
    for word in words {
        let Some(list) = word.strip_prefix("flags=") else {
            return Err(err::shebang_option(word));
        };
        // Redis splits with sdssplitlen: nothing for an empty list, and an empty name between
        // two commas is an unknown flag.
        if list.is_empty() {
            continue;
        }
        for name in list.split(',') {
            let Some(&(bit, _)) = FLAG_NAMES.iter().find(|(_, n)| *n == name) else {
                return Err(err::shebang_flag(name));
            };
            flags |= bit;
        }
    }
    Ok((&body[end..], Some(flags)))
}

/// The declared flags of the script an EVAL-family call runs, as admission sees them before
/// the run: those of the cached script, else (EVAL) of its body's shebang. None in
/// compatibility mode, for an unknown EVALSHA and for a shebang that will not compile.
pub fn of_call(name: &str, items: &[Bytes]) -> ScriptFlags {
    let script = items.get(1)?;
    match name {
        "eval" | "eval_ro" => parse(script).ok().and_then(|(_, flags)| flags),
        "evalsha" | "evalsha_ro" if script.len() == 40 => {
            let sha = String::from_utf8_lossy(script).to_ascii_lowercase();
            cached().get(&sha).copied()
        }
        _ => None,
    }
}

/// The (deny-oom, write) command flags declared flags give a call, as scriptFlagsToCmdFlags:
/// `no-writes` clears write, and deny-oom holds unless `allow-oom` or `no-writes` is declared.
pub fn command_flags(flags: u8) -> (bool, bool) {
    let write = flags & NO_WRITES == 0;
    let denyoom = flags & (NO_WRITES | ALLOW_OOM) == 0;
    (denyoom, write)
}

/// Whether a script with these declared flags may start now (scriptPrepareForRun): a script
/// that may write is refused while writes are refused for a failed save and under a `*_RO`
/// command; out of memory, only `allow-oom` or `no-writes` scripts start; a `no-cluster`
/// script does not start on a cluster node.
pub fn admit_run(flags: u8, read_only: bool) -> Result<(), Reply> {
    if flags & NO_CLUSTER != 0 && crate::cluster::enabled() {
        return Err(Reply::error(err::FN_NO_CLUSTER));
    }
    if flags & NO_WRITES == 0 {
        if crate::command::saving::writes_refused() {
            return Err(Reply::error(err::FN_MISCONF));
        }
        if read_only {
            return Err(Reply::error(err::FN_RO_WRITE_FLAG));
        }
    }
    if flags & (ALLOW_OOM | NO_WRITES) == 0 && crate::shard::evict::out_of_memory() {
        return Err(Reply::error(err::FN_OOM));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_shebang_is_compatibility_mode() {
        let (code, flags) = parse(b"return 1").unwrap();
        assert_eq!(code, b"return 1");
        assert_eq!(flags, None);
    }

    #[test]
    fn flags_are_read_and_the_line_feed_kept() {
        let (code, flags) = parse(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert_eq!(code, b"\nreturn 1");
        assert_eq!(flags, Some(NO_WRITES | ALLOW_OOM));
        assert_eq!(parse(b"#!lua flags=\nreturn 1").unwrap().1, Some(0));
        assert_eq!(parse(b"#!lua\nreturn 1").unwrap().1, Some(0));
    }

    #[test]
    fn bad_shebangs_are_refused() {
        assert!(parse(b"#!lua").is_err());
        assert!(parse(b"#!lua flags=no-writes,,allow-oom\n").is_err());
        assert!(parse(b"#!lua flags=bogus\n").is_err());
        assert!(parse(b"#!lua name=x\n").is_err());
        assert!(parse(b"#!python\n").is_err());
        assert!(parse(b"#! \n").is_err());
    }

    #[test]
    fn declared_flags_replace_the_command_flags() {
        assert_eq!(command_flags(0), (true, true));
        assert_eq!(command_flags(ALLOW_OOM), (false, true));
        assert_eq!(command_flags(NO_WRITES), (false, false));
    }
}
