//! The replication buffer: the stream's latest bytes, held once for the backlog and for every
//! replica still to be sent them, as Redis 7's shared replication buffer.
//!
//! The bytes are kept in blocks: a tail being filled, and sealed blocks before it that the
//! replicas' connections write as they are (shared, not copied). The backlog keeps at least
//! `repl-backlog-size` of them, from which a replica that reconnects continues (PSYNC)
//! without a full resync; a replica's position (the next offset it is sent) keeps every
//! block from the one it reads on. A block is freed once neither needs it, so the backlog
//! outgrows its size while a slow replica (or one waiting for its snapshot) holds older
//! blocks, and a PSYNC may continue from them.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Redis's PROTO_REPLY_CHUNK_BYTES: the smallest block, so that small writes fill one. Also
/// the least of the tail a reader takes shared; less is copied, so that small writes do not
/// leave a trail of small blocks.
const MIN_BLOCK: usize = 16 * 1024;

/// What a block costs beside its bytes and its entry in the list: the shared buffer's header
/// and the allocator's rounding of it (Redis counts its block headers and list nodes too).
const PER_BLOCK: usize = 64;

#[derive(Debug)]
struct Block {
    /// Offset of its first byte.
    start: i64,
    bytes: Bytes,
}

impl Block {
    /// The memory it stands for in `held`: its bytes and [`PER_BLOCK`].
    fn weight(&self) -> usize {
        self.bytes.len() + PER_BLOCK
    }
}

/// The blocks ending at `master_repl_offset`.
#[derive(Debug)]
pub struct Backlog {
    blocks: VecDeque<Block>,
    /// The block being filled; its bytes start at `end - tail.len()`. Its capacity is fixed
    /// when it is made: it never grows.
    tail: BytesMut,
    /// `repl-backlog-size`.
    size: usize,
    /// Offset of the first byte held (Redis's `repl_backlog->offset`).
    first: i64,
    /// Offset of the next byte fed.
    end: i64,
    /// The blocks' weights and the tail's capacity.
    held: usize,
    /// Blocks trimmed, freed by [`Backlog::release`] on the thread that made them (an
    /// allocator counts a block freed by another thread in use until its owner collects it).
    trimmed: Vec<Block>,
    /// Their weights.
    trimmed_held: usize,
}

impl Backlog {
    /// An empty buffer whose next byte is at offset `next`.
    pub fn new(size: usize, next: i64) -> Backlog {
        Backlog {
            blocks: VecDeque::new(),
            tail: BytesMut::new(),
            size: size.max(1),
            first: next,
            end: next,
            held: 0,
            trimmed: Vec::new(),
            trimmed_held: 0,
        }
    }

    /// Appends fed bytes: into the tail while it has room, then into new tails of at least
    /// [`MIN_BLOCK`] and at most a sixteenth of the backlog's size (Redis's sizes: small
    /// writes share a block, a big one is split so that it can be freed part by part).
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.tail.capacity() - self.tail.len();
            if room > 0 {
                let n = room.min(bytes.len());
                self.tail.extend_from_slice(&bytes[..n]);
                self.end += n as i64;
                bytes = &bytes[n..];
                continue;
            }
            self.seal();
            let limit = (self.size / 16).max(MIN_BLOCK);
            self.tail = BytesMut::with_capacity(bytes.len().clamp(MIN_BLOCK, limit));
            self.held += self.tail.capacity();
        }
    }

    /// Makes the tail's bytes a block; the tail keeps the rest of its allocation.
    fn seal(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        // The tail keeps (and goes on counting) its spare room.
        let bytes = self.tail.split().freeze();
        self.held += PER_BLOCK;
        self.blocks.push_back(Block {
            start: self.end - bytes.len() as i64,
            bytes,
        });
    }

    fn tail_start(&self) -> i64 {
        self.end - self.tail.len() as i64
    }

    /// Frees the oldest blocks while the backlog keeps more than its size without them and
    /// no reader still to be sent bytes from them (`keep`: the lowest position of those
    /// readers) needs them. The tail is always kept.
    pub fn trim(&mut self, keep: i64) {
        while let Some(front) = self.blocks.front() {
            let len = front.bytes.len();
            let after = front.start + len as i64;
            if self.histlen() - len <= self.size || keep < after {
                break;
            }
            self.held -= front.weight();
            self.trimmed_held += front.weight();
            self.first = after;
            self.trimmed.extend(self.blocks.pop_front());
        }
    }

    /// Frees the blocks trimmed since the last call (on the thread that feeds the buffer),
    /// and the list's room when it is mostly empty.
    pub fn release(&mut self) {
        self.trimmed.clear();
        self.trimmed_held = 0;
        if self.blocks.capacity() > 64 && self.blocks.capacity() > 4 * self.blocks.len() {
            self.blocks.shrink_to(2 * self.blocks.len());
        }
        if self.trimmed.capacity() > 64 {
            self.trimmed.shrink_to(64);
        }
    }

    /// Memory trimmed and not freed yet (see [`Backlog::release`]).
    pub fn releasing(&self) -> usize {
        self.trimmed_held + self.trimmed.capacity() * std::mem::size_of::<Block>()
    }

    /// CONFIG SET repl-backlog-size (the caller trims).
    pub fn resize(&mut self, size: usize) {
        self.size = size.max(1);
    }

    /// Bytes held for the blocks and their list (INFO's `mem_total_replication_buffers`).
    pub fn memory(&self) -> usize {
        self.held + self.blocks.capacity() * std::mem::size_of::<Block>()
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn first_offset(&self) -> i64 {
        self.first
    }

    /// The offset of the next byte fed.
    pub fn end(&self) -> i64 {
        self.end
    }

    pub fn histlen(&self) -> usize {
        (self.end - self.first) as usize
    }

    /// True when `from` can be continued from: it is held, or it is the next byte.
    pub fn holds(&self, from: i64) -> bool {
        (self.first..=self.end).contains(&from)
    }

    /// At most `max` bytes from offset `from` on, as parts to write in order: the sealed
    /// blocks shared, the tail's bytes sealed first when there are enough of them, else
    /// copied. Nothing when `from` is not held.
    pub fn take(&mut self, from: i64, max: usize) -> Vec<Bytes> {
        let mut parts = Vec::new();
        if !self.holds(from) || max == 0 {
            return parts;
        }
        if self.end - from.max(self.tail_start()) >= MIN_BLOCK as i64 {
            self.seal();
        }
        let mut at = from;
        let mut left = max;
        let first = self
            .blocks
            .partition_point(|b| b.start + b.bytes.len() as i64 <= from);
        for block in self.blocks.range(first..) {
            if left == 0 {
                return parts;
            }
            let skip = (at - block.start) as usize;
            let n = (block.bytes.len() - skip).min(left);
            parts.push(block.bytes.slice(skip..skip + n));
            at += n as i64;
            left -= n;
        }
        let skip = (at - self.tail_start()) as usize;
        let n = (self.tail.len() - skip).min(left);
        if n > 0 {
            parts.push(Bytes::copy_from_slice(&self.tail[skip..skip + n]));
        }
        parts
    }

    /// The bytes from offset `from` to the end; None when `from` is not held (Redis: before
    /// the first byte, or beyond the one after the last).
    pub fn since(&self, from: i64) -> Option<Vec<u8>> {
        if !self.holds(from) {
            return None;
        }
        let mut out = Vec::with_capacity((self.end - from) as usize);
        for block in &self.blocks {
            let end = block.start + block.bytes.len() as i64;
            if end > from {
                let skip = (from - block.start).max(0) as usize;
                out.extend_from_slice(&block.bytes[skip..]);
            }
        }
        let skip = (from - self.tail_start()).max(0) as usize;
        out.extend_from_slice(&self.tail[skip..]);
        Some(out)
    }

    /// The memory a reader at `from` holds, as Redis counts a replica's output buffer: every
    /// block from the one it reads on (the tail once it has all) to the end, whole.
    pub fn held_from(&self, from: i64) -> usize {
        let mut held = self.tail.capacity();
        if from >= self.tail_start() {
            return held;
        }
        for block in self.blocks.iter().rev() {
            held += block.weight();
            if block.start <= from {
                break;
            }
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes the blocks were made with, without their overheads.
    fn bytes_held(b: &Backlog) -> usize {
        b.held - b.blocks.len() * PER_BLOCK
    }

    fn joined(parts: Vec<Bytes>) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn keeps_its_size_in_whole_blocks_and_counts_offsets() {
        let mut b = Backlog::new(MIN_BLOCK, 1);
        b.push(b"ab");
        assert_eq!(b.since(1).unwrap(), b"ab");
        assert_eq!(b.since(3).unwrap(), b"");
        assert!(b.since(4).is_none());
        assert_eq!(bytes_held(&b), MIN_BLOCK);
        // Four blocks: the oldest are freed while the rest hold more than the size.
        b.push(&vec![b'x'; 3 * MIN_BLOCK]);
        assert_eq!(bytes_held(&b), 4 * MIN_BLOCK);
        b.trim(i64::MAX);
        assert_eq!(b.first_offset(), 1 + 2 * MIN_BLOCK as i64);
        assert_eq!(b.histlen(), MIN_BLOCK + 2);
        assert_eq!(bytes_held(&b), 2 * MIN_BLOCK);
        assert!(b.since(1).is_none());
        assert_eq!(b.end(), 3 + 3 * MIN_BLOCK as i64);
        assert_eq!(joined(b.take(b.end() - 5, 3)), b"xxx");
        b.resize(1);
        b.trim(i64::MAX);
        assert_eq!(b.histlen(), 2, "the tail stays");
        assert_eq!(bytes_held(&b), MIN_BLOCK);
    }

    #[test]
    fn a_reader_keeps_the_blocks_it_still_needs() {
        let mut b = Backlog::new(MIN_BLOCK, 1);
        let reader = 1 + MIN_BLOCK as i64 + 10;
        b.push(&vec![b'y'; 5 * MIN_BLOCK]);
        b.trim(reader);
        // The block the reader reads in stays, so the backlog outgrows its size.
        assert_eq!(b.first_offset(), 1 + MIN_BLOCK as i64);
        assert!(b.holds(reader));
        assert_eq!(b.held_from(reader), 4 * MIN_BLOCK + 3 * PER_BLOCK);
        assert_eq!(b.held_from(b.end()), MIN_BLOCK);
        b.trim(i64::MAX);
        assert_eq!(b.histlen(), 2 * MIN_BLOCK);
    }

    #[test]
    fn a_big_write_is_split_by_the_backlog_size() {
        let mut b = Backlog::new(64 * MIN_BLOCK, 1);
        b.push(&vec![b'z'; 10 * MIN_BLOCK]);
        // A sixteenth of the size: 4 blocks each.
        assert_eq!(b.blocks.len(), 2);
        assert_eq!(b.tail.len(), 2 * MIN_BLOCK);
        assert_eq!(b.since(1).unwrap().len(), 10 * MIN_BLOCK);
    }

    #[test]
    fn a_reader_takes_what_follows_its_position_in_order() {
        let mut b = Backlog::new(MIN_BLOCK, 1);
        let mut stream = Vec::new();
        let mut at = 1;
        for i in 0..2000u32 {
            let write = format!("write {i};").repeat(1 + i as usize % 7);
            b.push(write.as_bytes());
            stream.extend_from_slice(write.as_bytes());
            if i % 3 == 0 {
                let parts = b.take(at, 1000);
                let got = joined(parts);
                assert_eq!(got[..], stream[(at - 1) as usize..][..got.len()]);
                at += got.len() as i64;
                b.trim(at);
            }
        }
        let rest = joined(b.take(at, usize::MAX));
        assert_eq!(rest[..], stream[(at - 1) as usize..]);
        // Sealing for a reader keeps the tail's allocation: the memory counted is unchanged.
        b.push(&vec![b'q'; MIN_BLOCK]);
        let before = bytes_held(&b);
        let parts = b.take(b.end() - MIN_BLOCK as i64, usize::MAX);
        assert_eq!(parts.concat(), vec![b'q'; MIN_BLOCK]);
        assert_eq!(bytes_held(&b), before);
        b.push(b"more");
        assert_eq!(b.take(b.end() - 4, 10).concat(), b"more");
    }

    #[test]
    fn readers_at_any_pace_get_the_stream_whole() {
        // A small pseudo-random generator: the sizes and paces vary, the run repeats.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for size in [100, MIN_BLOCK, 1 << 20, 100_000_000] {
            let mut b = Backlog::new(size, 1);
            let mut stream: Vec<u8> = Vec::new();
            let mut readers = [1i64, 1, 1];
            for round in 0..3000u64 {
                let len = match next(4) {
                    0 => next(40) as usize,
                    1 => next(3000) as usize,
                    2 => next(40_000) as usize,
                    _ => next(200_000) as usize,
                };
                let write: Vec<u8> = (0..len).map(|i| (round as usize * 31 + i) as u8).collect();
                b.push(&write);
                stream.extend_from_slice(&write);
                for r in readers.iter_mut() {
                    if next(3) == 0 {
                        let max = [10, 5000, 4 << 20][next(3) as usize];
                        let got = b.take(*r, max).concat();
                        let from = (*r - 1) as usize;
                        assert_eq!(got[..], stream[from..from + got.len()], "size {size}");
                        *r += got.len() as i64;
                    }
                }
                b.trim(*readers.iter().min().unwrap());
                if next(50) == 0 {
                    b.release();
                }
                assert!(b.first_offset() <= *readers.iter().min().unwrap());
                assert_eq!(b.end(), stream.len() as i64 + 1);
            }
        }
    }
}
