//! MONITOR: every command the server runs, from every thread, shown to the monitoring clients
//! as Redis 7.0 shows it (`+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`).
//!
//! The monitors are one process-wide list of queues, one per monitoring connection; its
//! length is mirrored in an atomic that dispatch reads once per batch, so a server nobody
//! monitors pays that load and nothing else. A line is built once per command and shared by
//! every monitor (a `Bytes`), sent through each one's queue, and written by the monitoring
//! connection's executor like a pub/sub message.
//!
//! What is shown follows Redis's call(): commands that ran (refused ones are not), once they
//! ran (SELECT shows the database it selected), except admin and skip-monitor rows; the
//! scripting commands before their script runs, then each command the script calls as
//! `[db lua]`; a transaction's commands before its EXEC when it ran. AUTH's, HELLO's and
//! MIGRATE's secrets show as `(redacted)`. A monitor is a replica for Redis: it may not run
//! commands that touch keys, and CLIENT PAUSE does not hold it.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::mpsc;

use super::table::{flags, lookup, row, CommandSpec, Flags, NOKEY};
use super::{err, error, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;

/// MONITOR's row of the command table.
pub static COMMANDS: &[CommandSpec] = &[row(
    "monitor",
    1,
    flags!(ADMIN | NOSCRIPT | LOADING | STALE),
    NOKEY,
    Kind::Local(monitor),
    "server",
    "1.0.0",
    "Listen for all requests received by the server in real time",
    "",
)];

/// Monitoring connections, mirrored from `SINKS` for the per-batch test.
static MONITORS: AtomicUsize = AtomicUsize::new(0);

/// One queue per monitoring connection.
static SINKS: Mutex<Vec<Sink>> = Mutex::new(Vec::new());

/// Bytes a monitor may leave unread before it is disconnected: a monitor that stops reading
/// must not hold the server's memory.
const QUEUE_LIMIT: usize = 64 << 20;

struct Sink {
    client: u64,
    lines: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued and not yet written.
    queued: Arc<AtomicUsize>,
}

fn sinks() -> MutexGuard<'static, Vec<Sink>> {
    SINKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// True when some connection monitors (one relaxed load: dispatch's per-batch test).
#[inline(always)]
pub fn watching() -> bool {
    MONITORS.load(Relaxed) != 0
}

/// Whether client `id` is a monitor (CLIENT LIST's `O` flag).
pub fn is_monitor(id: u64) -> bool {
    sinks().iter().any(|s| s.client == id)
}

/// A connection's side of MONITOR: the lines queued for it once it monitors.
#[derive(Default)]
pub struct Feed {
    on: Option<(u64, mpsc::UnboundedReceiver<Bytes>, Arc<AtomicUsize>)>,
}

impl Feed {
    /// True once the connection ran MONITOR (until RESET or its end).
    pub fn is_on(&self) -> bool {
        self.on.is_some()
    }

    /// The next line to write; never resolves for a connection that does not monitor.
    pub async fn next_line(&mut self) -> Option<Bytes> {
        match self.on.as_mut() {
            Some((_, lines, _)) => lines.recv().await,
            None => std::future::pending().await,
        }
    }

    /// A line already queued, if any.
    pub fn try_next_line(&mut self) -> Option<Bytes> {
        self.on.as_mut()?.1.try_recv().ok()
    }

    /// The connection wrote `line`: it no longer counts against the queue limit.
    pub fn written(&self, line: &Bytes) {
        if let Some((_, _, queued)) = &self.on {
            queued.fetch_sub(line.len(), Relaxed);
        }
    }

    /// Leaves MONITOR mode (RESET, or the connection's end).
    pub fn stop(&mut self) {
        if let Some((id, ..)) = self.on.take() {
            let mut sinks = sinks();
            sinks.retain(|s| s.client != id);
            MONITORS.store(sinks.len(), Ordering::Relaxed);
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop();
    }
}

fn monitor(session: &mut Session, _args: &mut Args) -> CmdResult {
    // Inside EXEC the client expects one reply per command.
    if session.tx.in_exec {
        return Err(error(err::MONITOR_DENY_BLOCKING));
    }
    // Already monitoring: Redis ignores it, without a reply.
    if session.monitor.is_on() {
        return Ok(Reply::Sequence(Vec::new()));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let id = session.client.id;
    let mut sinks = sinks();
    sinks.push(Sink {
        client: id,
        lines: tx,
        queued: queued.clone(),
    });
    MONITORS.store(sinks.len(), Ordering::Relaxed);
    session.monitor.on = Some((id, rx, queued));
    Ok(Reply::Simple("OK"))
}

/// Dispatch's check of an admitted command while someone monitors. Refused: a monitor asked
/// for a command that touches keys. Else the call to show once it ran (None: not shown, or
/// already shown, as a script is before it runs).
pub fn admit(
    session: &Session,
    spec: &'static CommandSpec,
    items: &[Bytes],
) -> Result<Option<Vec<Bytes>>, Reply> {
    if session.monitor.is_on()
        && (spec.has(Flags::READONLY) || spec.has(Flags::WRITE) || spec.has(Flags::MAY_REPLICATE))
    {
        return Err(error(err::REPLICA_KEYSPACE));
    }
    if is_script(spec) {
        show(session, items);
        return Ok(None);
    }
    Ok(shown(spec).then(|| items.to_vec()))
}

/// The scripting commands, shown before their script runs so its commands follow them (they
/// are skip-monitor rows, like Redis's, so that call() does not show them again).
fn is_script(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Whether a run of `spec` is shown: admin commands are too dangerous to be, as in Redis.
fn shown(spec: &CommandSpec) -> bool {
    !spec.has(Flags::SKIP_MONITOR) && !spec.has(Flags::ADMIN)
}

/// Shows a call the client made, in the database it now has selected.
pub fn show(session: &Session, items: &[Bytes]) {
    let origin = session.client.addr.to_string();
    feed(session, &line(&origin, session.db, items));
}

/// Shows the commands of a transaction about to run (or that ran), as EXEC's own runs show
/// them in Redis.
pub fn show_queued(session: &Session, queued: &[Vec<Bytes>]) {
    for items in queued {
        if called(items).is_some_and(shown) {
            show(session, items);
        }
    }
}

/// Shows a command a script called (`[db lua]`), once it ran.
pub fn show_script_call(session: &Session, items: &[Bytes]) {
    if called(items).is_some_and(shown) {
        feed(session, &line("lua", session.db, items));
    }
}

/// The row a call ran as, None when it was refused before running (unknown, bad arity).
fn called(items: &[Bytes]) -> Option<&'static CommandSpec> {
    let spec = lookup(items.first()?)?.1.resolve(items);
    spec.arity_ok(items.len()).then_some(spec)
}

/// Queues `line` for every monitor; a monitor over its queue limit is disconnected.
fn feed(session: &Session, line: &Bytes) {
    let mut over = Vec::new();
    for sink in sinks().iter() {
        if sink.queued.load(Relaxed) > QUEUE_LIMIT {
            over.push(sink.client);
            continue;
        }
        sink.queued.fetch_add(line.len(), Relaxed);
        let _ = sink.lines.send(line.clone());
    }
    for id in over {
        session.server.clients.kill(|c| c.id == id);
    }
}

/// One monitor line: `+secs.micros [db origin] "arg" ...\r\n`, secrets redacted.
fn line(origin: &str, db: usize, items: &[Bytes]) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let hidden = redacted(items);
    let size: usize = items.iter().map(|a| a.len() + 3).sum();
    let mut out = BytesMut::with_capacity(48 + origin.len() + size);
    out.put_slice(
        format!(
            "+{}.{:06} [{} {}] ",
            now.as_secs(),
            now.subsec_micros(),
            db,
            origin
        )
        .as_bytes(),
    );
    for (i, arg) in items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b' ');
        }
        if hidden.contains(&i) {
            out.put_slice(b"\"(redacted)\"");
        } else {
            crate::protocol::repr::repr_into(arg, &mut out);
        }
    }
    out.put_slice(b"\r\n");
    out.freeze()
}

/// The argument positions Redis redacts in a call: AUTH's password (and username), HELLO's
/// AUTH pair, MIGRATE's AUTH password and AUTH2 pair. ACL SETUSER and CONFIG SET are admin
/// commands, never shown.
fn redacted(items: &[Bytes]) -> Vec<usize> {
    let is = |i: usize, word: &str| {
        items
            .get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let mut hidden = Vec::new();
    if is(0, "auth") {
        // Three or more arguments is a syntax error, refused before anything is redacted.
        if items.len() <= 3 {
            hidden.extend(1..items.len());
        }
    } else if is(0, "hello") {
        // A bad protocol version is refused before the options are read.
        let version_ok =
            items.len() < 2 || super::args::parse_int(&items[1]).is_some_and(|v| v == 2 || v == 3);
        let mut j = 2;
        while version_ok && j < items.len() {
            let more = items.len() - 1 - j;
            if is(j, "auth") && more >= 2 {
                hidden.extend([j + 1, j + 2]);
                j += 3;
            } else if is(j, "setname") && more >= 1 {
                j += 2;
            } else {
                break;
            }
        }
    } else if is(0, "migrate") {
        let mut j = 6;
        while j < items.len() {
            let more = items.len() - 1 - j;
            if is(j, "auth") && more >= 1 {
                hidden.push(j + 1);
                j += 2;
            } else if is(j, "auth2") && more >= 2 {
                hidden.extend([j + 1, j + 2]);
                j += 3;
            } else if is(j, "copy") || is(j, "replace") {
                j += 1;
            } else {
                // KEYS ends the options; anything else is a syntax error.
                break;
            }
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(args: &[&str]) -> Vec<Bytes> {
        args.iter().map(|a| Bytes::from(a.to_string())).collect()
    }

    fn shown_args(args: &[&str]) -> String {
        let text = String::from_utf8(line("o", 0, &items(args)).to_vec()).unwrap();
        let (_, rest) = text.split_once("[0 o] ").unwrap();
        rest.trim_end().to_string()
    }

    #[test]
    fn lines_have_redis_header_and_escaping() {
        let text =
            String::from_utf8(line("127.0.0.1:6000", 3, &items(&["get", "k"])).to_vec()).unwrap();
        let (stamp, rest) = text[1..].split_once(' ').unwrap();
        let (secs, micros) = stamp.split_once('.').unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
        assert_eq!(micros.len(), 6);
        assert_eq!(rest, "[3 127.0.0.1:6000] \"get\" \"k\"\r\n");
        let raw = vec![Bytes::from_static(b"a\"b\\c\n\r\t\x07\x08\x01\xff~ ")];
        let text = String::from_utf8(line("lua", 0, &raw).to_vec()).unwrap();
        assert!(text.ends_with("[0 lua] \"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x01\\xff~ \"\r\n"));
    }

    #[test]
    fn secrets_are_redacted_as_redis_does() {
        assert_eq!(shown_args(&["auth", "pw"]), r#""auth" "(redacted)""#);
        assert_eq!(
            shown_args(&["AUTH", "u", "pw"]),
            r#""AUTH" "(redacted)" "(redacted)""#
        );
        assert_eq!(
            shown_args(&["auth", "a", "b", "c"]),
            r#""auth" "a" "b" "c""#
        );
        assert_eq!(
            shown_args(&["hello", "3", "auth", "u", "p", "setname", "n"]),
            r#""hello" "3" "auth" "(redacted)" "(redacted)" "setname" "n""#
        );
        assert_eq!(
            shown_args(&["hello", "4", "auth", "u", "p"]),
            r#""hello" "4" "auth" "u" "p""#
        );
        assert_eq!(
            shown_args(&["migrate", "h", "1", "k", "0", "5", "AUTH", "pw"]),
            r#""migrate" "h" "1" "k" "0" "5" "AUTH" "(redacted)""#
        );
        assert_eq!(
            shown_args(&[
                "migrate", "h", "1", "", "0", "5", "copy", "auth2", "u", "p", "keys", "a"
            ]),
            r#""migrate" "h" "1" "" "0" "5" "copy" "auth2" "(redacted)" "(redacted)" "keys" "a""#
        );
    }
}
