//! SLOWLOG GET/LEN/RESET/HELP, as Redis 7.0: calls slower than `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len`, each with its arguments (at most 32,
//! each cut at 128 bytes, secrets redacted), the client's address and name. The log is one for
//! the server; threads add to it only on the slow path.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use bytes::Bytes;

use super::args::{ok, parse_int};
use super::keys::help_reply;
use super::table::{container, flags, row, CommandSpec, NOKEY};
use super::{err, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[container(
    "slowlog",
    "server",
    "2.2.12",
    "A container for slow log commands",
    SUBCOMMANDS,
)];

#[rustfmt::skip]
static SUBCOMMANDS: &[CommandSpec] = &[
    row("slowlog|get", -2, flags!(ADMIN | LOADING | STALE), NOKEY, Kind::Local(get), "server", "2.2.12", "Get the slow log's entries", "[count]"),
    row("slowlog|len", 2, flags!(ADMIN | LOADING | STALE), NOKEY, Kind::Local(len), "server", "2.2.12", "Get the slow log's length", ""),
    row("slowlog|reset", 2, flags!(ADMIN | LOADING | STALE), NOKEY, Kind::Local(reset), "server", "2.2.12", "Clear all entries from the slow log", ""),
    row("slowlog|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(help), "server", "6.2.0", "Show helpful text about the different subcommands", ""),
];

const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

struct Entry {
    id: u64,
    time: i64,
    micros: u64,
    args: Vec<Bytes>,
    peer: String,
    name: String,
}

static LOG: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static MAX_LEN: AtomicUsize = AtomicUsize::new(128);

fn log() -> std::sync::MutexGuard<'static, VecDeque<Entry>> {
    LOG.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn set_max_len(len: usize) {
    MAX_LEN.store(len, Relaxed);
    log().truncate(len);
}

/// The arguments as Redis keeps them: secrets redacted, at most 32 (the last saying how many
/// more there were), each cut at 128 bytes.
fn kept_args(spec: &CommandSpec, items: &[Bytes]) -> Vec<Bytes> {
    let redacted = redacted_positions(spec, items);
    let argc = items.len();
    let kept = argc.min(MAX_ARGC);
    (0..kept)
        .map(|j| {
            if kept != argc && j == kept - 1 {
                Bytes::from(format!("... ({} more arguments)", argc - kept + 1))
            } else if redacted.contains(&j) {
                Bytes::from_static(b"(redacted)")
            } else if items[j].len() > MAX_STRING {
                let mut cut = items[j][..MAX_STRING].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", items[j].len() - MAX_STRING).as_bytes(),
                );
                Bytes::from(cut)
            } else {
                // A copy: the entry must not pin the connection's read buffer.
                Bytes::copy_from_slice(&items[j])
            }
        })
        .collect()
}

/// Which arguments Redis 7.0 hides from SLOWLOG and MONITOR: AUTH's, HELLO's AUTH pair,
/// MIGRATE's AUTH/AUTH2 credentials.
fn redacted_positions(spec: &CommandSpec, items: &[Bytes]) -> Vec<usize> {
    let after = |word: &[u8], count: usize| -> Vec<usize> {
        items
            .iter()
            .position(|a| a.eq_ignore_ascii_case(word))
            .map(|at| (at + 1..(at + 1 + count).min(items.len())).collect())
            .unwrap_or_default()
    };
    match spec.name {
        "auth" => (1..items.len()).collect(),
        "hello" => after(b"auth", 2),
        "migrate" => {
            let mut hidden = after(b"auth", 1);
            hidden.extend(after(b"auth2", 2));
            hidden
        }
        _ => Vec::new(),
    }
}

/// Adds a call that took `micros` to the log.
pub fn push(session: &Session, spec: &CommandSpec, items: &[Bytes], micros: u64) {
    let max = MAX_LEN.load(Relaxed);
    if max == 0 {
        return;
    }
    let entry = Entry {
        id: NEXT_ID.fetch_add(1, Relaxed),
        time: (crate::shard::unix_ms() / 1000) as i64,
        micros,
        args: kept_args(spec, items),
        peer: session.client.addr.to_string(),
        name: session
            .client
            .name
            .lock()
            .map(|n| n.clone())
            .unwrap_or_default(),
    };
    let mut log = log();
    log.push_front(entry);
    log.truncate(max);
}

fn get(_session: &mut Session, args: &mut Args) -> CmdResult {
    let log = log();
    let count = match args.remaining() {
        0 => 10,
        1 => match parse_int(args.arg()?) {
            Some(-1) => log.len(),
            Some(n) if n >= 0 => n as usize,
            _ => return Err(Reply::error(err::SLOWLOG_COUNT)),
        },
        _ => return Err(err::subcommand_syntax(args.all())),
    };
    let int = |n: i64| Reply::Int(n);
    Ok(Reply::Array(
        log.iter()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    int(e.id as i64),
                    int(e.time),
                    int(e.micros as i64),
                    Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::Bulk(Bytes::from(e.peer.clone())),
                    Reply::Bulk(Bytes::from(e.name.clone())),
                ])
            })
            .collect(),
    ))
}

fn len(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(log().len() as i64))
}

fn reset(_session: &mut Session, _args: &mut Args) -> CmdResult {
    log().clear();
    ok()
}

fn help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(HELP))
}
