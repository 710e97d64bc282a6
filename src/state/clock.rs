//! The cheap clock connections read per batch for idle times. Depends on nothing in the crate.

/// Milliseconds of the kernel's coarse monotonic clock: a few milliseconds of resolution (the
/// scheduler tick), read without the timestamp counter a precise clock needs — cheap enough to
/// take per batch for idle times, which CLIENT LIST reports in seconds.
pub fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}
