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

/// A timestamp for timing one command: the CPU's time-stamp counter where there is one (a
/// few cycles to read, constant-rate on any x86-64 of the last decade), else nanoseconds of
/// the monotonic clock. Only differences mean anything; [`cycles_to_us`] converts them.
#[inline(always)]
pub fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC reads a counter; it has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let start = *START.get_or_init(std::time::Instant::now);
        start.elapsed().as_nanos() as u64
    }
}

#[cfg(not(target_arch = "x86_64"))]
static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// INFO's `monotonic_clock`: what times commands, in Redis's words.
pub fn monotonic_clock_info() -> String {
    if cfg!(target_arch = "x86_64") {
        format!("X86 TSC @ {} ticks/us", ticks_per_us() as u64)
    } else {
        "POSIX clock_gettime".into()
    }
}

/// Counter ticks per microsecond, measured once against the monotonic clock.
fn ticks_per_us() -> f64 {
    static RATE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *RATE.get_or_init(|| {
        #[cfg(not(target_arch = "x86_64"))]
        {
            1000.0
        }
        #[cfg(target_arch = "x86_64")]
        {
            let (t0, c0) = (std::time::Instant::now(), cycles());
            std::thread::sleep(std::time::Duration::from_millis(20));
            let (t1, c1) = (std::time::Instant::now(), cycles());
            let us = (t1 - t0).as_secs_f64() * 1e6;
            ((c1.wrapping_sub(c0)) as f64 / us).max(1.0)
        }
    })
}

/// Microseconds in `ticks` of [`cycles`].
pub fn cycles_to_us(ticks: u64) -> f64 {
    ticks as f64 / ticks_per_us()
}

/// Nanoseconds in `ticks` of [`cycles`].
#[inline]
pub fn cycles_to_ns(ticks: u64) -> u64 {
    (ticks as f64 * 1000.0 / ticks_per_us()) as u64
}

/// Ticks of [`cycles`] in `us` microseconds (saturating).
pub fn us_to_cycles(us: u64) -> u64 {
    (us as f64 * ticks_per_us()).min(u64::MAX as f64) as u64
}
