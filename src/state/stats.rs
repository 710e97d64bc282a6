//! Per-thread counters (commands, calls per command-table row, errors) that one thread writes
//! and INFO sums. Depends on nothing in the crate.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters one thread writes and INFO sums.
#[derive(Default)]
pub struct ThreadStats {
    pub commands: AtomicU64,
    pub connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Reads and writes on client sockets (INFO's total_reads/writes_processed).
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub errors: AtomicU64,
    /// Calls per command-table row.
    pub calls: Vec<AtomicU64>,
    /// Calls that were refused before running (arity, unknown subcommand...), per row.
    pub rejected_calls: Vec<AtomicU64>,
    /// Calls that ran and replied with an error, per row.
    pub failed_calls: Vec<AtomicU64>,
    /// Error replies per error code (INFO errorstats), at most `ERROR_CODES` codes.
    pub error_codes: std::sync::Mutex<Vec<(String, u64)>>,
    /// Each row's time: what a timed call updates, together.
    pub timing: Vec<RowTiming>,
}

/// One command-table row's time on one thread.
#[derive(Default)]
pub struct RowTiming {
    /// Time spent running the row's calls, in `clock::cycles` ticks (commandstats usec).
    pub ticks: AtomicU64,
    /// The row's latency histogram (latency-tracking), made at its first timed call.
    pub histogram: std::sync::OnceLock<Box<Histogram>>,
}

/// Buckets per power of two of a [`Histogram`] (3 bits of mantissa: within 12.5 %).
const SUB_BUCKETS: usize = 8;
/// Powers of two of counter ticks a [`Histogram`] covers (2^44: over an hour at 4 GHz; a
/// longer call counts in the last bucket). 2.8 KB a histogram: one is made for each command
/// a thread sees, and a figure like maxmemory's test margin (4 KB) must not move at that.
const OCTAVES: usize = 44;
const BUCKETS: usize = OCTAVES * SUB_BUCKETS;

/// Call latencies in `clock::cycles` ticks (turned into nanoseconds when read), log-linear:
/// Redis's per-command histograms, coarser.
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Histogram {
    /// `octave * 8 + sub`, where `octave` is the top bit of `ticks` and `sub` the three bits
    /// below it: read off the number as an f64, whose exponent is the octave and whose
    /// mantissa starts with those three bits. Clamped, which also spares the index its check:
    /// a handful of instructions on every timed call.
    #[inline(always)]
    fn bucket(ticks: u64) -> usize {
        const EXPONENT_BIAS: usize = 1023;
        let bits = (ticks.max(8) as i64 as f64).to_bits();
        ((bits >> 49) as usize)
            .wrapping_sub(EXPONENT_BIAS * SUB_BUCKETS)
            .min(BUCKETS - 1)
    }

    /// The largest tick count of bucket `i`.
    fn upper(i: usize) -> u64 {
        let (octave, sub) = (i / SUB_BUCKETS, (i % SUB_BUCKETS) as u64);
        let base = 1u64 << octave;
        base + (sub + 1) * (base / SUB_BUCKETS as u64) - 1
    }

    /// Counts one call that took `ticks` (only its own thread writes).
    #[inline(always)]
    pub fn record(&self, ticks: u64) {
        let b = &self.buckets[Self::bucket(ticks)];
        b.store(b.load(Relaxed) + 1, Relaxed);
    }

    /// (upper bound in ns, count) of every bucket, in order.
    pub fn counts(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, c)| (super::clock::cycles_to_ns(Self::upper(i)), c.load(Relaxed)))
    }

    fn clear(&self) {
        self.buckets.iter().for_each(|b| b.store(0, Relaxed));
    }
}

/// Distinct error codes tracked, as Redis caps its errors table.
const ERROR_CODES: usize = 128;

impl ThreadStats {
    pub(super) fn new(commands: usize) -> Self {
        let zeros = || (0..commands).map(|_| AtomicU64::new(0)).collect();
        ThreadStats {
            calls: zeros(),
            rejected_calls: zeros(),
            failed_calls: zeros(),
            timing: (0..commands).map(|_| Default::default()).collect(),
            ..Default::default()
        }
    }

    /// Ticks spent in row `row`'s calls.
    pub fn ticks(&self, row: usize) -> u64 {
        self.timing.get(row).map_or(0, |t| t.ticks.load(Relaxed))
    }

    /// Row `row`'s latency histogram, if any call of it was timed with latency-tracking on.
    pub fn histogram(&self, row: usize) -> Option<&Histogram> {
        self.timing
            .get(row)
            .and_then(|t| t.histogram.get())
            .map(|h| &**h)
    }

    /// Adds `n` to a counter this thread owns (no read-modify-write race: one writer).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed) + n, Relaxed);
    }

    /// A call of command-table row `row` answered the error `text`: the error counts, and so
    /// does the failed call (`counted`: the error itself was counted where it arose, as an
    /// inner call's error that a script passes on).
    pub fn note_failed_call(&self, row: usize, text: &str, counted: bool) {
        if !counted {
            Self::add(&self.errors, 1);
            self.note_error(text);
        }
        if let Some(counter) = self.failed_calls.get(row) {
            Self::add(counter, 1);
        }
    }

    /// Counts an error reply under its code: the first word when a space comes within its
    /// first 31 bytes, else `ERR` (Redis's afterErrorReply).
    pub fn note_error(&self, text: &str) {
        let code = match text.as_bytes().iter().take(31).position(|&c| c == b' ') {
            Some(end) => &text[..end],
            None => "ERR",
        };
        let mut codes = self.error_codes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n)) = codes.iter_mut().find(|(c, _)| c == code) {
            *n += 1;
        } else if codes.len() < ERROR_CODES {
            codes.push((code.to_string(), 1));
        }
    }

    /// Error replies per code, summed over every thread's counts, sorted by code.
    pub fn error_totals(threads: &[ThreadStats]) -> Vec<(String, u64)> {
        let mut codes: Vec<(String, u64)> = Vec::new();
        for thread in threads {
            let counted = thread.error_codes.lock().unwrap_or_else(|e| e.into_inner());
            for (code, n) in counted.iter() {
                match codes.iter_mut().find(|(c, _)| c == code) {
                    Some((_, total)) => *total += n,
                    None => codes.push((code.clone(), *n)),
                }
            }
        }
        codes.sort();
        codes
    }

    pub(super) fn reset(&self) {
        self.error_codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for c in [
            &self.commands,
            &self.connections,
            &self.rejected_connections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.reads,
            &self.writes,
            &self.errors,
        ] {
            c.store(0, Relaxed);
        }
        for c in self
            .calls
            .iter()
            .chain(&self.rejected_calls)
            .chain(&self.failed_calls)
            .chain(self.timing.iter().map(|t| &t.ticks))
        {
            c.store(0, Relaxed);
        }
        self.timing
            .iter()
            .filter_map(|t| t.histogram.get())
            .for_each(|h| h.clear());
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn histogram_buckets_bound_their_values() {
        for ns in [
            8u64,
            9,
            15,
            16,
            17,
            100,
            1000,
            1023,
            1024,
            123_456,
            1 << 39,
            (1 << 44) - 1,
        ] {
            let b = Histogram::bucket(ns);
            assert!(ns <= Histogram::upper(b), "{ns} above bucket {b}");
            assert!(ns > Histogram::upper(b - 1), "{ns} below bucket {b}");
        }
        // Below 8 ticks everything lands in 8's bucket; the buckets are ordered.
        assert_eq!(Histogram::bucket(0), Histogram::bucket(8));
        assert_eq!(Histogram::bucket(1 << 44), super::BUCKETS - 1);
        assert_eq!(Histogram::bucket(u64::MAX), super::BUCKETS - 1);
        for b in 24..super::BUCKETS {
            assert!(Histogram::upper(b) > Histogram::upper(b - 1), "bucket {b}");
            assert_eq!(Histogram::bucket(Histogram::upper(b)), b);
        }
    }
}
