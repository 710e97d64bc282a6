//! DEBUG: the subcommands ringkv has of Redis's debugging command, behind
//! `enable-debug-command` (no, the default as in Redis 7.0; local; yes). PANIC exercises the
//! crash policy; SLEEP stalls the thread, as Redis's stalls the server.

use std::time::Duration;

use super::keys::help_reply;
use super::table::{flags, row, CommandSpec, NOKEY};
use super::{err, error, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;

/// DEBUG's row of the command table.
pub static COMMANDS: &[CommandSpec] = &[row(
    "debug",
    -2,
    flags!(ADMIN | NOSCRIPT | LOADING | STALE),
    NOKEY,
    Kind::Local(debug),
    "server",
    "1.0.0",
    "A container for debugging commands",
    "",
)];

const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "PANIC",
    "    Crash the server simulating a panic.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

/// Whether this connection may run DEBUG under `enable-debug-command`.
fn allowed(session: &Session) -> bool {
    match session.server.config().get("enable-debug-command") {
        "yes" => true,
        "local" => session.client.addr.is_local(),
        _ => false,
    }
}

fn debug(session: &mut Session, args: &mut Args) -> CmdResult {
    if !allowed(session) {
        return Err(error(err::DEBUG_NOT_ALLOWED));
    }
    let sub = args.next()?.to_ascii_lowercase();
    match (sub.as_slice(), args.remaining()) {
        (b"help", 0) => Ok(help_reply(DEBUG_HELP)),
        (b"panic", 0) => panic!(
            "DEBUG PANIC called at Unix time {}",
            crate::shard::unix_ms()
        ),
        (b"sleep", 1) => {
            // As Redis's atof: a number that does not parse sleeps 0 s.
            let secs = std::str::from_utf8(&args.next()?)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(0.0);
            std::thread::sleep(Duration::from_secs_f64(secs.min(86_400.0)));
            Ok(Reply::Simple("OK"))
        }
        _ => Err(err::subcommand_syntax(args.all())),
    }
}
