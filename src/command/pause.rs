//! CLIENT PAUSE and CLIENT UNPAUSE, with Redis 7.0's rules, for the connections of every
//! thread.
//!
//! A pause is kept per purpose, as Redis 7.0 keeps them: CLIENT PAUSE's and a FAILOVER's.
//! Each has its kind (WRITE or ALL) and its end; a new CLIENT PAUSE while one is in force keeps
//! the stricter kind and the later end, as Redis's pauseClients. What is in force is the
//! strictest kind among them until the latest end; CLIENT UNPAUSE ends only CLIENT PAUSE's,
//! and a failover's end only its own.
//! Dispatch reads [`active`] once per batch; when a pause is in force it asks [`holds`] for
//! each command (after the checks Redis makes first: unknown command, arity), and a held
//! command and everything the client sent after it go back to the connection, which writes the
//! replies so far and waits in [`wait`] (its task parks, its thread serves everyone else).
//! Waiters are released through one `Notify`, in the order they started waiting, when the
//! pause ends: by CLIENT UNPAUSE, by a less strict pause, or at its end time (the first waiter
//! whose timer fires ends it for everyone). A command inside EXEC or a script is never held:
//! a pause started there takes effect once the transaction or script is over.
//!
//! While paused the dataset stays as it is (`shard::db::FROZEN_UNTIL_MS`): expired keys read
//! as missing but are not removed, and nothing is evicted.

use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{LazyLock, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use super::args::{ok, parse_block_ms};
use super::table::{lookup, CommandSpec, Flags};
use super::{err, error, Args, CmdResult, Session};
use crate::shard::blocking::BlockedClient;
use crate::shard::db::FROZEN_UNTIL_MS;
use crate::shard::unix_ms;

/// What a pause holds back, least strict first (the order Redis compares them in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseKind {
    Off = 0,
    /// Writes and commands that may replicate (PUBLISH, PFCOUNT, scripts that may write).
    Write = 1,
    /// Every command.
    All = 2,
}

/// Why clients are paused (Redis's pause_purpose): each purpose's pause starts and ends on
/// its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PausePurpose {
    /// CLIENT PAUSE, ended by CLIENT UNPAUSE or its timeout.
    Client = 0,
    /// FAILOVER's pause of writes while the target catches up.
    Failover = 1,
}

/// One purpose's pause: its kind and its end (unix ms).
#[derive(Clone, Copy)]
struct Pause {
    kind: PauseKind,
    end_ms: u64,
}

const OFF: Pause = Pause {
    kind: PauseKind::Off,
    end_ms: 0,
};

/// Each purpose's pause, by `PausePurpose as usize`.
static STATE: Mutex<[Pause; 2]> = Mutex::new([OFF; 2]);

/// The kind in force (`PauseKind as u8`), read by dispatch once per batch. It may still show a
/// pause whose end has passed: [`holds`] then ends it.
static KIND: AtomicU8 = AtomicU8::new(0);

/// Wakes the waiting clients when the pause ends or becomes less strict.
static RELEASED: LazyLock<Notify> = LazyLock::new(Notify::new);

fn lock() -> MutexGuard<'static, [Pause; 2]> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// True when a pause may be in force (one relaxed load: dispatch's per-batch test).
#[inline(always)]
pub fn active() -> bool {
    KIND.load(Relaxed) != 0
}

/// The pause in force, after ending those whose end time has passed (Redis's
/// checkClientPauseTimeoutAndReturnIfPaused: a pause lasts while `end >= now`).
fn current() -> (PauseKind, u64) {
    let mut state = lock();
    let now = unix_ms();
    let mut changed = false;
    for pause in state.iter_mut() {
        if pause.kind != PauseKind::Off && pause.end_ms < now {
            *pause = OFF;
            changed = true;
        }
    }
    if changed {
        publish(&state);
    }
    in_force(&state)
}

/// The strictest kind among the purposes' pauses, until the latest end of those in force
/// (Redis's updateClientPauseTypeAndEndTime).
fn in_force(state: &[Pause; 2]) -> (PauseKind, u64) {
    let kind = state.iter().map(|p| p.kind).max().unwrap_or(PauseKind::Off);
    let end_ms = state
        .iter()
        .filter(|p| p.kind != PauseKind::Off)
        .map(|p| p.end_ms)
        .max()
        .unwrap_or(0);
    (kind, end_ms)
}

/// Makes what is in force after a change visible to dispatch and the shards, and releases
/// the waiting clients when it became less strict.
fn publish(state: &[Pause; 2]) {
    let (kind, end_ms) = in_force(state);
    let was = KIND.swap(kind as u8, Relaxed);
    FROZEN_UNTIL_MS.store(if kind == PauseKind::Off { 0 } else { end_ms }, Relaxed);
    if (kind as u8) < was {
        RELEASED.notify_waiters();
    }
}

/// Starts a pause of `kind` until `end_ms` for `purpose`, or widens the one it has in force
/// (stricter kind, later end).
pub fn pause(purpose: PausePurpose, kind: PauseKind, end_ms: u64) {
    current();
    let mut state = lock();
    let mine = &mut state[purpose as usize];
    let (kind, end_ms) = widened((mine.kind, mine.end_ms), kind, end_ms);
    *mine = Pause { kind, end_ms };
    publish(&state);
}

/// The pause in force once a pause of `kind` until `end_ms` starts over `now` (Redis's
/// pauseClients: the stricter kind, the later end).
fn widened(now: (PauseKind, u64), kind: PauseKind, end_ms: u64) -> (PauseKind, u64) {
    match now {
        (PauseKind::Off, _) => (kind, end_ms),
        (was, until) => (was.max(kind), until.max(end_ms)),
    }
}

/// Ends `purpose`'s pause; the clients it held run unless another purpose's holds them.
pub fn unpause(purpose: PausePurpose) {
    let mut state = lock();
    state[purpose as usize] = OFF;
    publish(&state);
}

/// Whether `items` must wait for the pause to end before it runs for `session`.
pub fn holds(session: &Session, items: &[Bytes]) -> bool {
    let (kind, _) = current();
    blocks(kind, session, items)
}

fn blocks(kind: PauseKind, session: &Session, items: &[Bytes]) -> bool {
    // Replicas are never paused, and a monitor is one for Redis.
    if kind == PauseKind::Off || session.monitor.is_on() {
        return false;
    }
    // Unknown commands and arity errors are answered at once (Redis checks them first).
    let Some((_, spec)) = lookup(&items[0]) else {
        return false;
    };
    let spec = spec.resolve(items);
    if !spec.arity_ok(items.len()) {
        return false;
    }
    kind == PauseKind::All || may_replicate(session, spec, items)
}

/// Redis's is_may_replicate_command: a write or may-replicate row, a script that may write,
/// or EXEC of a transaction that holds one.
fn may_replicate(session: &Session, spec: &'static CommandSpec, items: &[Bytes]) -> bool {
    if spec.has(Flags::RUNS_QUEUE) {
        return session.tx.queued().iter().any(|queued| {
            lookup(&queued[0])
                .is_some_and(|(_, s)| may_replicate(session, s.resolve(queued), queued))
        });
    }
    // A script with declared flags is a write unless it declares `no-writes`, and never
    // may-replicate otherwise (scriptFlagsToCmdFlags).
    if let Some((_, write)) = super::scripting::implied_flags(spec, items) {
        return write;
    }
    spec.has(Flags::WRITE) || spec.has(Flags::MAY_REPLICATE)
}

/// Waits until `items` (the first command of what the client sent) may run; counted as a
/// blocked client meanwhile. False when the client left while waiting.
pub async fn wait(session: &Session, items: &[Bytes]) -> bool {
    let _blocked = BlockedClient::new();
    let left = loop {
        let released = RELEASED.notified();
        tokio::pin!(released);
        // Registered before the state is read: a release in between is not missed.
        released.as_mut().enable();
        let (kind, end_ms) = current();
        if !blocks(kind, session, items) {
            break false;
        }
        let until = std::time::Duration::from_millis(end_ms.saturating_sub(unix_ms()) + 1);
        tokio::select! {
            biased;
            _ = &mut released => {}
            _ = session.hangup.raised() => break true,
            // The end time: the next `current` ends the pause and releases everyone in order.
            _ = tokio::time::sleep(until) => {}
        }
    };
    !left
}

/// CLIENT PAUSE timeout [WRITE|ALL]: the mode is checked before the timeout, as Redis does.
pub fn client_pause(_session: &mut Session, args: &mut Args) -> CmdResult {
    let timeout = args.next()?;
    let kind = if args.is_done() {
        PauseKind::All
    } else if args.keyword("write") {
        PauseKind::Write
    } else if args.keyword("all") {
        PauseKind::All
    } else {
        return Err(error(err::PAUSE_MODE));
    };
    if !args.is_done() {
        return Err(err::subcommand_syntax(args.all()));
    }
    let ms = parse_block_ms(&timeout)?.map_or(0, |d| d.as_millis() as u64);
    pause(PausePurpose::Client, kind, unix_ms().saturating_add(ms));
    ok()
}

/// CLIENT UNPAUSE: ends CLIENT PAUSE's pause, not a failover's.
pub fn client_unpause(_session: &mut Session, _args: &mut Args) -> CmdResult {
    unpause(PausePurpose::Client);
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The process-wide pause is left alone here: other unit tests expire keys meanwhile.
    #[test]
    fn a_new_pause_keeps_the_stricter_kind_and_the_later_end() {
        use PauseKind::*;
        assert_eq!(widened((Off, 0), Write, 50), (Write, 50));
        assert_eq!(widened((Off, 900), Write, 50), (Write, 50));
        assert_eq!(widened((Write, 100), All, 50), (All, 100));
        assert_eq!(widened((All, 100), Write, 500), (All, 500));
        assert_eq!(widened((Write, 100), Write, 100), (Write, 100));
    }

    #[test]
    fn the_strictest_purpose_holds_until_the_latest_end() {
        use PauseKind::*;
        let client = Pause {
            kind: All,
            end_ms: 100,
        };
        let failover = Pause {
            kind: Write,
            end_ms: u64::MAX,
        };
        assert_eq!(in_force(&[OFF, OFF]), (Off, 0));
        assert_eq!(in_force(&[client, OFF]), (All, 100));
        assert_eq!(in_force(&[client, failover]), (All, u64::MAX));
        assert_eq!(in_force(&[OFF, failover]), (Write, u64::MAX));
    }
}
