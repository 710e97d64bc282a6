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
    pub errors: AtomicU64,
    /// Calls per command-table row.
    pub calls: Vec<AtomicU64>,
    /// Calls that were refused before running (arity, unknown subcommand...), per row.
    pub rejected_calls: Vec<AtomicU64>,
    /// Calls that ran and replied with an error, per row.
    pub failed_calls: Vec<AtomicU64>,
    /// Error replies per error code (INFO errorstats), at most `ERROR_CODES` codes.
    pub error_codes: std::sync::Mutex<Vec<(String, u64)>>,
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
            ..Default::default()
        }
    }

    /// Adds `n` to a counter this thread owns (no read-modify-write race: one writer).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed) + n, Relaxed);
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
            &self.errors,
        ] {
            c.store(0, Relaxed);
        }
        for c in self
            .calls
            .iter()
            .chain(&self.rejected_calls)
            .chain(&self.failed_calls)
        {
            c.store(0, Relaxed);
        }
    }
}
