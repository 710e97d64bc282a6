//! `client-output-buffer-limit`: each client class's limits, readable from every thread, and
//! the per-client watch that decides when pending output is over them. Depends on `config`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crate::config::OutputLimit;

/// `client-output-buffer-limit` of one client class, readable from every thread (updated on
/// start and CONFIG SET).
pub struct ClassOutputLimit {
    hard: AtomicU64,
    soft: AtomicU64,
    soft_seconds: AtomicU64,
}

impl ClassOutputLimit {
    const fn new(hard: u64, soft: u64, soft_seconds: u64) -> Self {
        ClassOutputLimit {
            hard: AtomicU64::new(hard),
            soft: AtomicU64::new(soft),
            soft_seconds: AtomicU64::new(soft_seconds),
        }
    }

    /// The limit now in force.
    pub fn get(&self) -> OutputLimit {
        OutputLimit {
            hard: self.hard.load(Relaxed),
            soft: self.soft.load(Relaxed),
            soft_seconds: self.soft_seconds.load(Relaxed),
        }
    }

    fn set(&self, limit: OutputLimit) {
        self.hard.store(limit.hard, Relaxed);
        self.soft.store(limit.soft, Relaxed);
        self.soft_seconds.store(limit.soft_seconds, Relaxed);
    }
}

/// The limits of normal clients, replicas and subscribers: Redis's defaults `normal 0 0 0`
/// (none), `replica 256mb 64mb 60` and `pubsub 32mb 8mb 60`.
pub static NORMAL_OUTPUT_LIMIT: ClassOutputLimit = ClassOutputLimit::new(0, 0, 0);
pub static REPLICA_OUTPUT_LIMIT: ClassOutputLimit = ClassOutputLimit::new(256 << 20, 64 << 20, 60);
pub static PUBSUB_OUTPUT_LIMIT: ClassOutputLimit = ClassOutputLimit::new(32 << 20, 8 << 20, 60);

/// Clients disconnected for exceeding their output-buffer limit (INFO stats).
pub static OUTPUT_LIMIT_DISCONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Applies a `client-output-buffer-limit` value.
pub fn set_output_limits(text: &str) {
    let [normal, replica, pubsub] = crate::config::output_limits(text);
    NORMAL_OUTPUT_LIMIT.set(normal);
    REPLICA_OUTPUT_LIMIT.set(replica);
    PUBSUB_OUTPUT_LIMIT.set(pubsub);
}

/// One client's pending output measured against its class's limit, as Redis's
/// checkClientOutputBufferLimits: over the hard limit at once, or over the soft limit for more
/// than its seconds without dropping under it.
#[derive(Default)]
pub struct OutputLimitWatch {
    over_soft_since: std::cell::Cell<Option<Instant>>,
    /// Replies queued behind the write in flight (commands run while it was under way): they
    /// count with whatever the caller weighs.
    behind: std::cell::Cell<u64>,
}

impl OutputLimitWatch {
    /// Sets the bytes queued behind the write in flight (0 once it is done).
    pub fn queue_behind(&self, bytes: u64) {
        self.behind.set(bytes);
    }

    pub fn behind(&self) -> u64 {
        self.behind.get()
    }

    /// Records `pending` bytes (plus those queued behind); true when the client must be
    /// disconnected.
    pub fn exceeded(&self, pending: usize, limit: OutputLimit) -> bool {
        let pending = pending as u64 + self.behind.get();
        let mut over = limit.hard > 0 && pending > limit.hard;
        if limit.soft > 0 && pending > limit.soft {
            // The first time over never disconnects; staying over longer than the seconds does.
            match self.over_soft_since.get() {
                None => self.over_soft_since.set(Some(Instant::now())),
                Some(since) => {
                    over |= since.elapsed() > std::time::Duration::from_secs(limit.soft_seconds)
                }
            }
        } else {
            self.over_soft_since.set(None);
        }
        over
    }

    /// While over the soft limit: when staying over it disconnects the client.
    pub fn soft_deadline(&self, limit: OutputLimit) -> Option<Instant> {
        let since = self.over_soft_since.get()?;
        (limit.soft > 0).then(|| since + std::time::Duration::from_secs(limit.soft_seconds))
    }
}

/// Logs and counts a client cut off at its output-buffer limit (Redis's text).
pub fn note_output_limit_disconnection(client: &str) {
    OUTPUT_LIMIT_DISCONNECTIONS.fetch_add(1, Relaxed);
    tracing::warn!(
        "Client {client} scheduled to be closed ASAP for overcoming of output buffer limits."
    );
}
