//! Per-command timing, as Redis's `call()` measures it: commandstats' usec, the per-command
//! latency histograms (`latency-tracking`: INFO latencystats, LATENCY HISTOGRAM), SLOWLOG
//! entries (`slowlog-log-slower-than`) and the latency monitor's `command` / `fast-command`
//! events (`latency-monitor-threshold`).
//!
//! A call is timed where it runs, with the CPU's time-stamp counter (`state::cycles`): a keyed
//! command on its shard (the ticks come back with its reply), a local or routed one on its
//! connection's thread. The connection then notes the time under the command's row in its own
//! thread's counters: a relaxed add, a histogram bucket, and two threshold compares.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

use super::table::{CommandSpec, Flags};
use super::Session;
use crate::state::{cycles_to_ns, us_to_cycles, RowTiming, ThreadStats};

/// `slowlog-log-slower-than` in ticks (u64::MAX: off).
static SLOW_TICKS: AtomicU64 = AtomicU64::new(u64::MAX);
/// `latency-monitor-threshold` in ticks (u64::MAX: off).
static LATENCY_TICKS: AtomicU64 = AtomicU64::new(u64::MAX);
/// `latency-tracking`.
static TRACKING: AtomicBool = AtomicBool::new(true);

pub fn apply_config(config: &crate::config::Config) {
    let slower = config.int("slowlog-log-slower-than");
    SLOW_TICKS.store(
        if slower < 0 {
            u64::MAX
        } else {
            us_to_cycles(slower as u64)
        },
        Relaxed,
    );
    let threshold = config.int("latency-monitor-threshold");
    LATENCY_TICKS.store(
        if threshold <= 0 {
            u64::MAX
        } else {
            us_to_cycles(threshold as u64 * 1000)
        },
        Relaxed,
    );
    TRACKING.store(config.get("latency-tracking") == "yes", Relaxed);
    super::slowlog::set_max_len(config.int("slowlog-max-len").max(0) as usize);
    super::latency::set_percentiles(config.get("latency-tracking-info-percentiles"));
}

/// Notes one finished call of row `row` (`spec` as resolved) that took `ticks`.
#[inline]
pub fn finished(session: &Session, row: u32, spec: &CommandSpec, items: &[Bytes], ticks: u64) {
    Timer::new(session).note(row, ticks, || (spec, items));
}

/// [`finished`] for a run of calls of one batch: what it reads per call (the thread's
/// counters, whether histograms are on, the slow threshold) is looked up once.
pub struct Timer<'a> {
    session: &'a Session,
    rows: &'a [RowTiming],
    /// `latency-tracking`.
    tracking: bool,
    threshold: u64,
}

impl<'a> Timer<'a> {
    pub fn new(session: &'a Session) -> Self {
        let stats = &session.server.stats[session.thread];
        Timer {
            session,
            rows: &stats.timing,
            tracking: TRACKING.load(Relaxed),
            threshold: SLOW_TICKS.load(Relaxed).min(LATENCY_TICKS.load(Relaxed)),
        }
    }

    /// Notes one finished call of row `row` that took `ticks`; `call` gives its spec (as
    /// resolved) and arguments, read only when the call was slow.
    #[inline(always)]
    pub fn note<'c>(
        &self,
        row: u32,
        ticks: u64,
        call: impl FnOnce() -> (&'c CommandSpec, &'c [Bytes]),
    ) {
        let Some(timing) = self.rows.get(row as usize) else {
            return;
        };
        ThreadStats::add(&timing.ticks, ticks);
        if self.tracking {
            timing.histogram.get_or_init(Default::default).record(ticks);
        }
        if ticks >= self.threshold {
            let (spec, items) = call();
            slow(self.session, spec, items, ticks);
        }
    }
}

#[cold]
fn slow(session: &Session, spec: &CommandSpec, items: &[Bytes], ticks: u64) {
    if ticks >= SLOW_TICKS.load(Relaxed) && !spec.has(Flags::SKIP_SLOWLOG) {
        super::slowlog::push(session, spec, items, cycles_to_ns(ticks) / 1000);
    }
    if ticks >= LATENCY_TICKS.load(Relaxed) {
        let event = if spec.has(Flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        super::latency::add_sample(event, cycles_to_ns(ticks) / 1_000_000);
    }
}

/// Notes a server event (`expire-cycle`, `eviction-cycle`, ...) that took `ticks`, for the
/// latency monitor.
pub fn latency_event(event: &'static str, ticks: u64) {
    if ticks >= LATENCY_TICKS.load(Relaxed) {
        super::latency::add_sample(event, cycles_to_ns(ticks) / 1_000_000);
    }
}
