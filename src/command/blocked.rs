//! The connection's side of a blocked command (BLPOP, BZPOPMIN, ...): its wait until a shard
//! serves it, its timeout passes, its peer leaves, or CLIENT UNBLOCK ends it. Parking on keys
//! and serving live on the shards (`shard::blocking`); this file never touches shard data.

use crate::command::err;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{error, Session};
use crate::protocol::Reply;
use crate::shard::blocking::BlockedClient;
use crate::state::Unblock;

/// Why a blocked command stopped waiting before a shard served it.
pub enum Stop {
    /// Its timeout passed, its peer left, or CLIENT UNBLOCK [TIMEOUT]: it answers as timed out.
    TimedOut,
    /// CLIENT UNBLOCK ... ERROR.
    Error,
    /// The server became a replica.
    Replica,
}

impl Stop {
    /// The reply of a command stopped this way; `timed_out` is the command's own timeout reply.
    pub fn reply(self, timed_out: Reply) -> Result<Reply, Reply> {
        match self {
            Stop::TimedOut => Ok(timed_out),
            Stop::Error => Err(error(err::UNBLOCKED)),
            Stop::Replica => Err(error(err::UNBLOCKED_BY_ROLE_CHANGE)),
        }
    }
}

/// A client blocked in a command, from before it parks on any key until it answers: reachable
/// by CLIENT UNBLOCK from the start, counted in INFO's blocked_clients once it is parked on
/// every key (its first `wait`), so that whoever sees the count rise knows the shards have it
/// queued, in the order the clients blocked.
pub struct Blocked<'a> {
    session: &'a Session,
    unblocked: oneshot::Receiver<Unblock>,
    counted: Option<BlockedClient>,
}

impl<'a> Blocked<'a> {
    pub fn begin(session: &'a Session) -> Self {
        let (tx, unblocked) = oneshot::channel();
        *slot(session) = Some(tx);
        Blocked {
            session,
            unblocked,
            counted: None,
        }
    }

    /// Waits for a shard's outcome on `rx` (None: forever). `Ok(None)` when the serving side
    /// dropped its sender without an outcome. On `Err` the caller must still take the waiter's
    /// claim: a shard may have served it at the same moment, and its outcome is then on `rx`.
    pub async fn wait<T>(
        &mut self,
        rx: &mut oneshot::Receiver<T>,
        timeout: Option<Duration>,
    ) -> Result<Option<T>, Stop> {
        self.counted.get_or_insert_with(BlockedClient::new);
        let sleep = async {
            match timeout {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            outcome = rx => Ok(outcome.ok()),
            _ = sleep => Err(Stop::TimedOut),
            _ = self.session.hangup.raised() => Err(Stop::TimedOut),
            how = &mut self.unblocked => match how {
                Ok(Unblock::Error) => Err(Stop::Error),
                Ok(Unblock::Replica) => {
                    self.session.client.close_after_reply.store(true, std::sync::atomic::Ordering::Relaxed);
                    Err(Stop::Replica)
                }
                _ => Err(Stop::TimedOut),
            },
        }
    }
}

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        slot(self.session).take();
    }
}

fn slot(session: &Session) -> std::sync::MutexGuard<'_, Option<oneshot::Sender<Unblock>>> {
    let unblock = &session.client.unblock;
    unblock.lock().unwrap_or_else(|e| e.into_inner())
}
