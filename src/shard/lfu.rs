//! Access frequency for the LFU eviction policies (`allkeys-lfu`, `volatile-lfu`), as Redis
//! keeps it. A record's 16-bit access field holds, under an LFU policy, a logarithmic access
//! counter (high 8 bits) and the minute of its last update (low 8 bits, modulo 256) in place
//! of its last access second; as in Redis, switching policy at run time reinterprets the field,
//! and the values adjust as keys are accessed. The counter starts at `INIT` for a new key, each
//! access raises it with probability 1 / ((counter - INIT) × lfu-log-factor + 1), and it loses
//! one per lfu-decay-time minutes without access. The shard's ageing pass re-bases any field
//! older than `MINUTES_CAP` so that the 8-bit minute never wraps between two looks at a key.
//! Depends on nothing.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

/// The counter of a new key (Redis's LFU_INIT_VAL): new keys are not evicted first.
pub const INIT: u8 = 5;

/// Minutes a field may go without being re-based by the ageing pass (which visits every
/// record within minutes): below 256, so that the elapsed minutes never wrap.
pub const MINUTES_CAP: u32 = 128;

static ENABLED: AtomicBool = AtomicBool::new(false);
static LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static DECAY_TIME: AtomicU32 = AtomicU32::new(1);

/// Makes the policy (LFU or not) and `lfu-log-factor` / `lfu-decay-time` current.
pub fn configure(enabled: bool, log_factor: u32, decay_time: u32) {
    ENABLED.store(enabled, Relaxed);
    LOG_FACTOR.store(log_factor, Relaxed);
    DECAY_TIME.store(decay_time, Relaxed);
}

/// True under an LFU policy: access fields hold counters.
#[inline(always)]
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

fn minute(clock_secs: u32) -> u32 {
    (clock_secs / 60) & 0xff
}

/// Minutes since the field was last updated, at `clock_secs`.
fn elapsed(field: u32, clock_secs: u32) -> u32 {
    minute(clock_secs).wrapping_sub(field & 0xff) & 0xff
}

/// A field holding `counter`, updated at `clock_secs`.
pub fn field(counter: u8, clock_secs: u32) -> u32 {
    (counter as u32) << 8 | minute(clock_secs)
}

/// The field of a new key.
pub fn fresh(clock_secs: u32) -> u32 {
    field(INIT, clock_secs)
}

/// The counter of `field` at `clock_secs`, decayed by the periods elapsed (OBJECT FREQ,
/// eviction's choice); the field itself is not changed.
pub fn counter(field: u32, clock_secs: u32) -> u8 {
    let counter = (field >> 8) as u8;
    let decay = DECAY_TIME.load(Relaxed);
    if decay == 0 {
        return counter;
    }
    let periods = elapsed(field, clock_secs) / decay;
    counter.saturating_sub(periods.min(255) as u8)
}

/// The field after an access at `clock_secs`: decayed, then raised with the logarithmic
/// probability; `random` is a uniformly random number.
pub fn accessed(field: u32, clock_secs: u32, random: u64) -> u32 {
    let mut counter = self::counter(field, clock_secs);
    if counter < u8::MAX {
        let base = counter.saturating_sub(INIT) as f64;
        let p = 1.0 / (base * LOG_FACTOR.load(Relaxed) as f64 + 1.0);
        // 53 random bits as a number in [0, 1).
        let r = (random >> 11) as f64 / (1u64 << 53) as f64;
        if r < p {
            counter += 1;
        }
    }
    self::field(counter, clock_secs)
}

/// The field re-based at `clock_secs` when it is older than `MINUTES_CAP` (the ageing pass),
/// its counter decayed as it would be read.
pub fn aged(field: u32, clock_secs: u32) -> u32 {
    if elapsed(field, clock_secs) <= MINUTES_CAP {
        return field;
    }
    self::field(counter(field, clock_secs), clock_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_grow_logarithmically_and_decay_by_the_minute() {
        // Defaults: log factor 10, decay time 1 minute (ENABLED is not read here).
        let start = fresh(0);
        assert_eq!(counter(start, 0), INIT);
        // Always raised near INIT (p = 1 at the initial value), never past 255.
        assert_eq!(counter(accessed(start, 0, 0), 0), INIT + 1);
        assert_eq!(counter(accessed(field(255, 0), 0, 0), 0), 255);
        // A random draw above p leaves it: at INIT + 10, p = 1/101.
        let high = field(INIT + 10, 0);
        assert_eq!(counter(accessed(high, 0, u64::MAX), 0), INIT + 10);
        // One point per elapsed minute, floored at 0; reading does not change the field.
        assert_eq!(counter(field(10, 0), 3 * 60), 7);
        assert_eq!(counter(field(2, 0), 10 * 60), 0);
        // Across the 8-bit minute wrap: updated at minute 250, read at minute 260.
        assert_eq!(counter(field(20, 250 * 60), 260 * 60), 10);
    }

    #[test]
    fn ageing_rebases_old_fields_only() {
        let young = field(200, 0);
        assert_eq!(aged(young, MINUTES_CAP * 60), young);
        let now = (MINUTES_CAP + 1) * 60;
        let old = aged(young, now);
        assert_eq!(counter(old, now), 200 - (MINUTES_CAP + 1) as u8);
        assert_eq!(elapsed(old, now), 0);
    }
}
