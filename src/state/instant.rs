//! INFO's instantaneous rates (ops/sec, input and output kbps), sampled as Redis's serverCron
//! does (trackInstantaneousMetric): every 100 ms a rate since the previous sample goes into a
//! ring of 16, and the rate shown is their mean. One thread samples; INFO reads.
//! Depends on nothing in the crate.

use std::sync::Mutex;

/// Samples per rate (Redis's STATS_METRIC_SAMPLES).
const SAMPLES: usize = 16;
/// Milliseconds between samples (serverCron's `run_with_period(100)`).
pub const SAMPLE_PERIOD_MS: u64 = 100;

/// The rates, in the order of [`InstantMetrics::sample`]'s readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    Commands = 0,
    NetInput = 1,
    NetOutput = 2,
}

#[derive(Default)]
struct Track {
    samples: [u64; SAMPLES],
    next: usize,
    last_ms: u64,
    last_count: u64,
}

impl Track {
    fn sample(&mut self, now_ms: u64, count: u64) {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        // A counter reset (CONFIG RESETSTAT) reads as no traffic, not as a wrap.
        let delta = count.saturating_sub(self.last_count);
        self.samples[self.next] = (delta * 1000).checked_div(elapsed).unwrap_or(0);
        self.next = (self.next + 1) % SAMPLES;
        self.last_ms = now_ms;
        self.last_count = count;
    }

    fn mean(&self) -> u64 {
        self.samples.iter().sum::<u64>() / SAMPLES as u64
    }
}

/// The three rates.
#[derive(Default)]
pub struct InstantMetrics {
    tracks: Mutex<[Track; 3]>,
}

impl InstantMetrics {
    /// Takes one sample of each rate from the counters' totals now (`readings` in [`Rate`]
    /// order).
    pub fn sample(&self, now_ms: u64, readings: [u64; 3]) {
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        for (track, count) in tracks.iter_mut().zip(readings) {
            track.sample(now_ms, count);
        }
    }

    /// The mean of a rate's last 16 samples, per second.
    pub fn per_sec(&self, rate: Rate) -> u64 {
        let tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        tracks[rate as usize].mean()
    }

    /// Forgets every sample (CONFIG RESETSTAT).
    pub fn reset(&self) {
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        for track in tracks.iter_mut() {
            track.samples = [0; SAMPLES];
            track.last_count = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_the_mean_of_sixteen_samples() {
        let m = InstantMetrics::default();
        m.sample(1000, [0, 0, 0]);
        // 50 commands in 100 ms: 500/s in one sample of sixteen.
        m.sample(1100, [50, 1024, 0]);
        assert_eq!(m.per_sec(Rate::Commands), 500 / 16);
        assert_eq!(m.per_sec(Rate::NetInput), 10240 / 16);
        for i in 2..=17 {
            m.sample(1000 + i * 100, [50 * i, 0, 0]);
        }
        assert_eq!(m.per_sec(Rate::Commands), 500);
        // A reset counter gives a zero sample, not a huge one.
        m.sample(2800, [0, 0, 0]);
        assert_eq!(m.per_sec(Rate::Commands), 500 * 15 / 16);
    }
}
