//! The replication backlog: the last `repl-backlog-size` bytes of the stream, from which a
//! replica that reconnects continues (PSYNC) without a full resync.

use std::collections::VecDeque;

/// A byte ring ending at `master_repl_offset`.
#[derive(Debug)]
pub struct Backlog {
    bytes: VecDeque<u8>,
    size: usize,
    /// Offset of the first byte held (Redis's `repl_backlog->offset`).
    first: i64,
}

impl Backlog {
    /// An empty backlog whose next byte is at offset `next`.
    pub fn new(size: usize, next: i64) -> Backlog {
        Backlog {
            bytes: VecDeque::new(),
            size: size.max(1),
            first: next,
        }
    }

    /// Appends fed bytes, dropping the oldest beyond the size.
    pub fn push(&mut self, bytes: &[u8]) {
        // Bytes that cannot fit pass through uncounted in the ring but move its start.
        let skipped = bytes.len().saturating_sub(self.size);
        if skipped > 0 {
            self.first += (self.bytes.len() + skipped) as i64;
            self.bytes.clear();
        }
        let bytes = &bytes[skipped..];
        self.bytes.extend(bytes);
        self.trim();
    }

    fn trim(&mut self) {
        if self.bytes.len() > self.size {
            let excess = self.bytes.len() - self.size;
            self.bytes.drain(..excess);
            self.first += excess as i64;
        }
    }

    /// CONFIG SET repl-backlog-size: keeps the newest bytes that fit.
    pub fn resize(&mut self, size: usize) {
        self.size = size.max(1);
        self.trim();
        self.bytes.shrink_to(self.size);
    }

    /// Bytes allocated for the ring (INFO's `mem_replication_backlog`).
    pub fn memory(&self) -> usize {
        self.bytes.capacity()
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn first_offset(&self) -> i64 {
        self.first
    }

    pub fn histlen(&self) -> usize {
        self.bytes.len()
    }

    /// The bytes from offset `from` to the end; None when `from` is outside what is held
    /// (Redis: before the first byte, or beyond the one after the last).
    pub fn since(&self, from: i64) -> Option<Vec<u8>> {
        let end = self.first + self.bytes.len() as i64;
        if from < self.first || from > end {
            return None;
        }
        let skip = (from - self.first) as usize;
        Some(self.bytes.range(skip..).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_and_counts_offsets() {
        let mut b = Backlog::new(4, 1);
        b.push(b"ab");
        assert_eq!(b.since(1).unwrap(), b"ab");
        b.push(b"cdef");
        assert_eq!(b.first_offset(), 3);
        assert_eq!(b.since(3).unwrap(), b"cdef");
        assert_eq!(b.since(5).unwrap(), b"ef");
        assert_eq!(b.since(7).unwrap(), b"");
        assert!(b.since(2).is_none());
        assert!(b.since(8).is_none());
        b.push(b"0123456789");
        assert_eq!(b.first_offset(), 13);
        assert_eq!(b.since(13).unwrap(), b"6789");
        b.resize(2);
        assert_eq!(b.since(15).unwrap(), b"89");
        assert_eq!(b.histlen(), 2);
    }
}
