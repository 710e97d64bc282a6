//! FAILOVER: a coordinated handover from this master to one of its replicas, as Redis 7.0's
//! failoverCommand and updateFailoverStatus. Writes are paused; once the target replica
//! acknowledged the whole stream (or the timeout passed with FORCE), this server becomes the
//! target's replica and its link asks `PSYNC <replid> <offset> FAILOVER`, which makes the
//! target a master continuing this server's history. The link's answer ends the failover
//! (and the pause) or aborts it. Also the other side: a replica asked `PSYNC ... FAILOVER`
//! by its master becomes a master before serving it.
//!
//! The link and the master side only ask this file (`in_progress`, `psync_answered`,
//! `active`, `state_name`); the state lives here alone.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::replica::{self, Master};
use crate::command::pause::{self, PauseKind, PausePurpose};
use crate::command::table::{flags, row, CommandSpec, NOKEY};
use crate::command::{err, error, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::state::ServerState;

pub static COMMANDS: &[CommandSpec] = &[row(
    "failover",
    -1,
    flags!(ADMIN | NOSCRIPT | STALE),
    NOKEY,
    Kind::Local(failover),
    "server",
    "6.2.0",
    "Start a coordinated failover between this server and one of its replicas.",
    "[TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]",
)];

/// Redis's failover_state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    None,
    /// Writes paused; waiting for the target to acknowledge the whole stream.
    WaitForSync,
    /// This server follows the target and asks it to take over (PSYNC ... FAILOVER).
    InProgress,
}

struct Failover {
    state: State,
    /// The replica handed over to (None: the first one caught up).
    target: Option<(String, i64)>,
    end: Option<Instant>,
    force: bool,
}

static FAILOVER: Mutex<Failover> = Mutex::new(Failover {
    state: State::None,
    target: None,
    end: None,
    force: false,
});

/// How often the wait for the target is checked (Redis runs its cron every 100 ms then).
const CHECK_EVERY: Duration = Duration::from_millis(10);

fn lock() -> MutexGuard<'static, Failover> {
    FAILOVER.lock().unwrap_or_else(|p| p.into_inner())
}

/// True while a failover runs (SYNC, PSYNC and REPLICAOF are refused meanwhile).
pub fn active() -> bool {
    lock().state != State::None
}

/// True when the link's PSYNC must carry FAILOVER.
pub fn in_progress() -> bool {
    lock().state == State::InProgress
}

/// INFO's master_failover_state.
pub fn state_name() -> &'static str {
    match lock().state {
        State::None => "no-failover",
        State::WaitForSync => "waiting-for-sync",
        State::InProgress => "failover-in-progress",
    }
}

/// Resets the state and ends the pause (Redis's clearFailoverState).
fn clear(f: &mut Failover) {
    *f = Failover {
        state: State::None,
        target: None,
        end: None,
        force: false,
    };
    pause::unpause(PausePurpose::Failover);
}

/// Abandons the failover, back to a master if this server already followed the target
/// (Redis's abortFailover).
fn abort(server: &ServerState, reason: &str) {
    let mut f = lock();
    match &f.target {
        Some((host, port)) => tracing::info!("FAILOVER to {host}:{port} aborted: {reason}"),
        None => tracing::info!("FAILOVER to any replica aborted: {reason}"),
    }
    let following = f.state == State::InProgress;
    clear(&mut f);
    drop(f);
    if following {
        replica::unset_master(server);
    }
}

/// The link's answer to PSYNC ... FAILOVER: the target took over (a partial or a full
/// resync), or it refused and the failover is abandoned.
pub fn psync_answered(server: &ServerState, accepted: bool) {
    let mut f = lock();
    if f.state != State::InProgress {
        return;
    }
    if accepted {
        clear(&mut f);
        return;
    }
    drop(f);
    abort(server, "Failover target rejected psync request");
}

/// PSYNC with FAILOVER as its fourth argument: a replica of the history named becomes a
/// master before the request is served (Redis's syncCommand).
pub fn psync_request(server: &ServerState, replid: &[u8], from: &str) -> Result<(), Reply> {
    tracing::warn!(
        "Failover request received for replid {}.",
        String::from_utf8_lossy(replid)
    );
    if !replica::is_replica() {
        return Err(error(err::PSYNC_FAILOVER_TO_MASTER));
    }
    if !replid.eq_ignore_ascii_case(super::ids().replid.as_bytes()) {
        return Err(error(err::PSYNC_FAILOVER_REPLID));
    }
    replica::unset_master(server);
    tracing::info!("MASTER MODE enabled (failover request from '{from}')");
    Ok(())
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT.
fn failover(session: &mut Session, args: &mut Args) -> CmdResult {
    if crate::cluster::enabled() {
        return Err(error(err::FAILOVER_IN_CLUSTER));
    }
    if args.remaining() == 1 && args.keyword("ABORT") {
        if !active() {
            return Err(error(err::NO_FAILOVER));
        }
        abort(&session.server, "Failover manually aborted");
        return Ok(Reply::Simple("OK"));
    }
    let (mut timeout, mut force, mut target) = (0i64, false, None);
    while !args.is_done() {
        let word = args.next()?.to_ascii_lowercase();
        match word.as_slice() {
            b"timeout" if !args.is_done() && timeout == 0 => {
                timeout = args.int()?;
                if timeout <= 0 {
                    return Err(error(err::FAILOVER_TIMEOUT));
                }
            }
            // The port is read first, as Redis does: a bad one is the error even before a
            // host.
            b"to" if args.remaining() >= 2 && target.is_none() => {
                let host = args.next()?;
                let port = args.int()?;
                target = Some((String::from_utf8_lossy(&host).into_owned(), port));
            }
            b"force" if !force => force = true,
            _ => return Err(error(err::SYNTAX)),
        }
    }
    if active() {
        return Err(error(err::FAILOVER_RUNNING));
    }
    if replica::is_replica() {
        return Err(error(err::FAILOVER_ON_REPLICA));
    }
    let replicas = super::master::replicas();
    if replicas.is_empty() {
        return Err(error(err::FAILOVER_NO_REPLICAS));
    }
    if force && (timeout == 0 || target.is_none()) {
        return Err(error(err::FAILOVER_FORCE));
    }
    match &target {
        Some((host, port)) => {
            let found = replicas
                .iter()
                .find(|r| r.ip.eq_ignore_ascii_case(host) && i64::from(r.port) == *port);
            match found {
                None => return Err(error(err::FAILOVER_NOT_A_REPLICA)),
                Some(r) if r.state != "online" => return Err(error(err::FAILOVER_NOT_ONLINE)),
                Some(_) => tracing::info!("FAILOVER requested to {host}:{port}."),
            }
        }
        None => tracing::info!("FAILOVER requested to any replica."),
    }
    {
        let mut f = lock();
        *f = Failover {
            state: State::WaitForSync,
            target,
            end: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64)),
            force,
        };
        pause::pause(PausePurpose::Failover, PauseKind::Write, u64::MAX);
    }
    let server = session.server.clone();
    let spawned = std::thread::Builder::new()
        .name("ringkv-failover".into())
        .spawn(move || watch(&server));
    if spawned.is_err() {
        abort(&session.server, "could not start the failover");
    }
    Ok(Reply::Simple("OK"))
}

/// Waits for the target to catch up (or for the timeout), then hands over.
fn watch(server: &Arc<ServerState>) {
    loop {
        std::thread::sleep(CHECK_EVERY);
        match step() {
            Step::Wait => {}
            Step::Done => return,
            Step::Abort(reason) => return abort(server, reason),
            Step::Follow(host, port) => {
                // Redis's replicationSetMaster: this server's own history is offered to the
                // target (PSYNC <replid> <offset+1> FAILOVER).
                let Ok(port) = u16::try_from(port) else {
                    return abort(server, "Failover target port is out of range");
                };
                replica::set_master(server, Master { host, port }, true);
                return;
            }
        }
    }
}

enum Step {
    Wait,
    Done,
    Abort(&'static str),
    Follow(String, i64),
}

/// One check of the wait (Redis's updateFailoverStatus).
fn step() -> Step {
    let mut f = lock();
    if f.state != State::WaitForSync {
        return Step::Done;
    }
    if f.end.is_some_and(|end| Instant::now() >= end) {
        if !f.force {
            return Step::Abort("Replica never caught up before timeout");
        }
        let Some((host, port)) = f.target.clone() else {
            return Step::Abort("Replica never caught up before timeout");
        };
        tracing::info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
        f.state = State::InProgress;
        return Step::Follow(host, port);
    }
    let offset = super::master::stream_offset();
    let replicas = super::master::replicas();
    let caught_up = match &f.target {
        Some((host, port)) => replicas.iter().any(|r| {
            r.ip.eq_ignore_ascii_case(host) && i64::from(r.port) == *port && r.offset == offset
        }),
        None => match replicas.iter().find(|r| r.offset == offset) {
            Some(r) => {
                f.target = Some((r.ip.clone(), i64::from(r.port)));
                true
            }
            None => false,
        },
    };
    if !caught_up {
        return Step::Wait;
    }
    let Some((host, port)) = f.target.clone() else {
        return Step::Wait;
    };
    tracing::info!("Failover target {host}:{port} is synced, failing over.");
    f.state = State::InProgress;
    Step::Follow(host, port)
}
