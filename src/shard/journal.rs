//! The change stream: each shard appends every write it applies, as the RESP command Redis would
//! propagate, to its own journal; consumers (the AOF writer now, replication next) merge the
//! journals with [`Stream::drain`]. Depends on nothing above `shard`: what a command propagates
//! is decided by the command layer, which hands the shard finished argument lists.
//!
//! Order: commands on different shards touch different keys and commute, so each journal's own
//! order is enough, and a merge may take the shards in any order. Work that holds several shards
//! at once (MULTI/EXEC, MSET, cross-shard RENAME, FLUSHALL, SWAPDB) is the exception: its
//! coordinator opens a [`Block`] while it holds them, their appends go to the block, and closing
//! it first moves each held shard's earlier entries into the merged sequence, then the block
//! (as one MULTI/EXEC), so everything a held shard wrote before the hold precedes it and
//! everything after follows it. No global counter is touched per write.
//!
//! Databases: every chunk knows the database of its first entry and carries a SELECT where its
//! database changes inside; a consumer emits SELECT when a chunk starts on another database
//! than the one it last wrote (see [`Output`]).
//!
//! Consumers: the AOF and replication each attach ([`attach`]) and drain with their own
//! [`Output`] (their own SELECT tracking). Whichever drains first moves what it takes into the
//! other attached consumer's waiting chunks too, so both see the same sequence.
//!
//! Cost when nothing consumes: `Shard::journal` is `None`, and a write pays the one branch
//! that finds so.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use super::{Shard, ShardId};
use crate::protocol::reply::{write_int, MAX_INT_LEN};

/// A run of journaled commands from one source, in order.
#[derive(Default, Debug, Clone)]
pub struct Chunk {
    bytes: Vec<u8>,
    /// Commands held (SELECTs aside).
    entries: usize,
    /// Database of the first entry (None: empty).
    first_db: Option<usize>,
    last_db: usize,
}

impl Chunk {
    /// Appends one command run in database `db`.
    pub fn push(&mut self, db: usize, args: &[&[u8]]) {
        match self.first_db {
            None => self.first_db = Some(db),
            Some(_) if self.last_db != db => encode(&mut self.bytes, &[b"SELECT", &itoa(db)]),
            Some(_) => {}
        }
        self.last_db = db;
        self.entries += 1;
        encode(&mut self.bytes, args);
    }

    /// Appends a command that belongs to no database (MULTI, EXEC, FLUSHALL).
    pub fn push_dbless(&mut self, args: &[&[u8]]) {
        if self.first_db.is_none() {
            self.first_db = Some(self.last_db);
        }
        self.entries += 1;
        encode(&mut self.bytes, args);
    }

    /// Appends `other` after this chunk's entries.
    fn extend(&mut self, other: Chunk) {
        let Some(first) = other.first_db else {
            return;
        };
        match self.first_db {
            None => self.first_db = Some(first),
            Some(_) if self.last_db != first => encode(&mut self.bytes, &[b"SELECT", &itoa(first)]),
            Some(_) => {}
        }
        self.bytes.extend_from_slice(&other.bytes);
        self.entries += other.entries;
        self.last_db = other.last_db;
    }

    pub fn is_empty(&self) -> bool {
        self.first_db.is_none()
    }

    /// Bytes held (INFO's buffer length).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// A consumer's view of the merged stream: the bytes to write and the database its reader
/// will be in after them.
#[derive(Default, Debug)]
pub struct Output {
    pub bytes: Vec<u8>,
    /// The reader's database after `bytes` (None: not known yet, e.g. a new file).
    pub db: Option<usize>,
}

impl Output {
    /// Appends `chunk`, with a SELECT first when it starts in another database.
    pub fn append(&mut self, chunk: Chunk) {
        let Some(first) = chunk.first_db else {
            return;
        };
        if self.db != Some(first) {
            encode(&mut self.bytes, &[b"SELECT", &itoa(first)]);
        }
        self.bytes.extend_from_slice(&chunk.bytes);
        self.db = Some(chunk.last_db);
    }
}

/// One shard's journal, shared between the shard (appending) and consumers (draining).
#[derive(Default, Debug)]
pub struct Journal {
    main: Chunk,
    /// Set while a coordinator holds this shard (see [`Block`]): appends go there.
    capture: Option<Arc<Mutex<Chunk>>>,
}

/// The journals of every shard and the sequence of blocks merged ahead of them.
#[derive(Debug)]
pub struct Stream {
    journals: Vec<Arc<Mutex<Journal>>>,
    /// Entries already placed in order (moved out of journals by closing blocks), oldest first.
    merged: Mutex<Vec<Chunk>>,
    /// Per consumer: None when not attached, else what another consumer's drain took for it.
    waiting: Mutex<[Option<Vec<Chunk>>; CONSUMERS]>,
}

/// Who reads the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumer {
    Aof = 0,
    Replication = 1,
}

const CONSUMERS: usize = 2;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The stream in use, if any consumer is attached.
static STREAM: Mutex<Option<Arc<Stream>>> = Mutex::new(None);
/// Fast check for the command layer's coordinators.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The thread that waits for appends in [`wait_for_appends`] (the replication pump).
static SLEEPER: OnceLock<Thread> = OnceLock::new();
/// Set while [`SLEEPER`] is parked: the next append wakes it.
static ASLEEP: AtomicBool = AtomicBool::new(false);

/// Parks the calling thread (always the same one) for at most `max`, or until something is
/// appended to the stream. A busy consumer should sleep instead: appends then cost no wake-up,
/// and what it drains comes in batches.
pub fn wait_for_appends(max: Duration) {
    let me = SLEEPER.get_or_init(std::thread::current);
    debug_assert_eq!(me.id(), std::thread::current().id());
    ASLEEP.store(true, SeqCst);
    std::thread::park_timeout(max);
    ASLEEP.store(false, Relaxed);
}

/// Wakes the consumer parked in [`wait_for_appends`], if it is. An append that races with
/// its parking waits out the park's timeout, as it would have without the kick.
#[inline]
fn kick() {
    if ASLEEP.load(Relaxed) && ASLEEP.swap(false, SeqCst) {
        if let Some(sleeper) = SLEEPER.get() {
            sleeper.unpark();
        }
    }
}

/// True while some consumer reads the stream.
pub fn active() -> bool {
    ACTIVE.load(Relaxed)
}

/// The stream in use.
pub fn current() -> Option<Arc<Stream>> {
    lock(&STREAM).clone()
}

/// Makes `stream` (or none) the one in use. Each shard must also be given its journal
/// ([`Shard::set_journal`]) on its own thread.
pub fn install(stream: Option<Arc<Stream>>) {
    if stream.is_some() {
        // Expired keys are journaled as DEL (see `Shard::drain_expired`): they must be
        // recorded. Turned off again by the configuration when nobody needs them.
        super::db::RECORD_EXPIRED.store(true, Relaxed);
    }
    ACTIVE.store(stream.is_some(), Relaxed);
    *lock(&STREAM) = stream;
}

/// Attaches `consumer` to the stream in use, installing a new one over `shards` journals when
/// none is; returns it and whether it is new (each shard must then be given its journal on
/// its own thread, [`Shard::set_journal`]).
pub fn attach(consumer: Consumer, shards: usize) -> (Arc<Stream>, bool) {
    let mut current = lock(&STREAM);
    let (stream, new) = match current.as_ref() {
        Some(stream) => (stream.clone(), false),
        None => (Stream::new(shards), true),
    };
    lock(&stream.waiting)[consumer as usize].get_or_insert_with(Vec::new);
    if new {
        super::db::RECORD_EXPIRED.store(true, Relaxed);
        ACTIVE.store(true, Relaxed);
        *current = Some(stream.clone());
    }
    (stream, new)
}

/// Detaches `consumer`; when no consumer remains the stream is uninstalled and true returned
/// (each shard should then drop its journal).
pub fn detach(consumer: Consumer) -> bool {
    let mut current = lock(&STREAM);
    let Some(stream) = current.as_ref() else {
        return false;
    };
    let mut waiting = lock(&stream.waiting);
    waiting[consumer as usize] = None;
    if waiting.iter().any(Option::is_some) {
        return false;
    }
    drop(waiting);
    ACTIVE.store(false, Relaxed);
    *current = None;
    true
}

impl Stream {
    pub fn new(shards: usize) -> Arc<Stream> {
        Arc::new(Stream {
            journals: (0..shards).map(|_| Arc::default()).collect(),
            merged: Mutex::new(Vec::new()),
            waiting: Mutex::new([None, None]),
        })
    }

    /// Whether `consumer` reads this stream.
    pub fn attached(&self, consumer: Consumer) -> bool {
        lock(&self.waiting)[consumer as usize].is_some()
    }

    /// Shard `id`'s journal, for [`Shard::set_journal`].
    pub fn journal_of(&self, id: ShardId) -> Option<Arc<Mutex<Journal>>> {
        self.journals.get(id).cloned()
    }

    /// Moves everything appended so far, in a valid order, into `out` for `consumer`, and
    /// keeps a copy for every other attached consumer.
    pub fn drain(&self, consumer: Consumer, out: &mut Output) {
        // Held throughout: two consumers draining at once must not reorder each other's part.
        let mut waiting = lock(&self.waiting);
        let mut fresh: Vec<Chunk> = lock(&self.merged).drain(..).collect();
        for journal in &self.journals {
            let chunk = std::mem::take(&mut lock(journal).main);
            if !chunk.is_empty() {
                fresh.push(chunk);
            }
        }
        let mine = consumer as usize;
        if !fresh.is_empty() {
            for (i, other) in waiting.iter_mut().enumerate() {
                if let (true, Some(other)) = (i != mine, other.as_mut()) {
                    other.extend(fresh.iter().cloned());
                }
            }
        }
        let earlier = waiting[mine].as_mut().map(std::mem::take);
        drop(waiting);
        for chunk in earlier.into_iter().flatten().chain(fresh) {
            out.append(chunk);
        }
    }

    /// Bytes waiting to be drained.
    pub fn pending(&self) -> usize {
        let merged: usize = lock(&self.merged).iter().map(Chunk::len).sum();
        merged
            + self
                .journals
                .iter()
                .map(|j| lock(j).main.len())
                .sum::<usize>()
    }
}

/// Work holding several shards, journaled once, as one MULTI/EXEC: see the module doc.
pub struct Block {
    stream: Arc<Stream>,
    shards: Vec<ShardId>,
    capture: Arc<Mutex<Chunk>>,
}

impl Block {
    /// A block over `shards` whose shards join it themselves, each on its own thread as the
    /// coordinator is granted it ([`Shard::join_block`]). None when nothing consumes the stream.
    pub fn new(shards: &[ShardId]) -> Option<Block> {
        if !active() {
            return None;
        }
        Some(Block {
            stream: current()?,
            shards: shards.to_vec(),
            capture: Arc::default(),
        })
    }

    /// Opens a block over `shards`, which the caller holds already (no command runs on them
    /// but its own until it closes the block). None when nothing consumes the stream, or when
    /// a block holding them is open already (a transaction): the work then joins that one.
    pub fn open(shards: &[ShardId]) -> Option<Block> {
        let block = Block::new(shards)?;
        let journals: Vec<_> = shards
            .iter()
            .filter_map(|&id| block.stream.journals.get(id))
            .collect();
        if journals.iter().any(|j| lock(j).capture.is_some()) {
            return None;
        }
        for journal in journals {
            lock(journal).capture = Some(block.capture.clone());
        }
        Some(block)
    }

    /// What a shard's thread needs to join this block.
    pub fn handle(&self) -> Capture {
        Capture(self.capture.clone())
    }

    /// Adds a command of the coordinator's own (FLUSHALL, SWAPDB, a cross-shard RENAME) to the
    /// block, after what the held shards appended so far.
    pub fn push(&self, db: Option<usize>, args: &[&[u8]]) {
        let mut chunk = lock(&self.capture);
        match db {
            Some(db) => chunk.push(db, args),
            None => chunk.push_dbless(args),
        }
    }

    /// Closes the block, still holding its shards (but the one whose thread closes it, whose
    /// part ran last): their earlier entries, then the block, as one MULTI/EXEC when it holds
    /// more than one command and `wrap` is set.
    pub fn close(self, wrap: bool) {
        let mut merged = lock(&self.stream.merged);
        for &id in &self.shards {
            if let Some(journal) = self.stream.journals.get(id) {
                let mut journal = lock(journal);
                journal.capture = None;
                let earlier = std::mem::take(&mut journal.main);
                if !earlier.is_empty() {
                    merged.push(earlier);
                }
            }
        }
        let captured = std::mem::take(&mut *lock(&self.capture));
        if captured.is_empty() {
            return;
        }
        if !wrap || captured.entries < 2 {
            merged.push(captured);
            drop(merged);
            kick();
            return;
        }
        let mut block = Chunk::default();
        if let Some(first) = captured.first_db {
            // MULTI after the SELECT of the first command, as Redis writes it.
            block.first_db = Some(first);
            block.last_db = first;
        }
        block.push_dbless(&[b"MULTI"]);
        block.extend(captured);
        block.push_dbless(&[b"EXEC"]);
        merged.push(block);
        drop(merged);
        kick();
    }
}

/// Adds a command of a coordinator that holds `shards` (FLUSHALL, SWAPDB, a cross-shard
/// RENAME): placed after everything they journaled before, or, inside a transaction's block,
/// in place there.
pub fn push_held(shards: &[ShardId], db: Option<usize>, args: &[&[u8]]) {
    if let Some(block) = Block::open(shards) {
        block.push(db, args);
        block.close(false);
        return;
    }
    let Some(stream) = current() else {
        return;
    };
    let capture = shards
        .iter()
        .filter_map(|&id| stream.journals.get(id))
        .find_map(|j| lock(j).capture.clone());
    if let Some(capture) = capture {
        let mut chunk = lock(&capture);
        match db {
            Some(db) => chunk.push(db, args),
            None => chunk.push_dbless(args),
        }
    }
}

/// A block's capture, sent to the shards that join it.
#[derive(Clone)]
pub struct Capture(Arc<Mutex<Chunk>>);

impl Shard {
    /// Attaches this shard to a stream's journal (None detaches it).
    pub fn set_journal(&mut self, journal: Option<Arc<Mutex<Journal>>>) {
        self.journal = journal;
    }

    /// True when writes are journaled.
    #[inline]
    pub fn journaling(&self) -> bool {
        self.journal.is_some()
    }

    /// Appends `args` as run in the current database.
    pub fn journal(&mut self, args: &[&[u8]]) {
        let db = self.db;
        self.journal_in(db, args);
    }

    /// Appends `args` as run in database `db`.
    pub fn journal_in(&mut self, db: usize, args: &[&[u8]]) {
        let Some(journal) = &self.journal else {
            return;
        };
        let mut journal = lock(journal);
        match &journal.capture {
            Some(capture) => lock(capture).push(db, args),
            None => {
                journal.main.push(db, args);
                drop(journal);
                kick();
            }
        }
    }

    /// Joins `block` (on this shard's thread, while its coordinator holds it): this shard's
    /// appends go to the block until it closes. A shard already in a block stays there.
    pub fn join_block(&mut self, block: &Capture) {
        if let Some(journal) = &self.journal {
            let mut journal = lock(journal);
            if journal.capture.is_none() {
                journal.capture = Some(block.0.clone());
            }
        }
    }

    /// Takes the write-happened flag `modified` raised during the running command.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Whether the running command reported any change yet (read without clearing).
    pub fn signalled_anything(&self) -> bool {
        self.signalled
    }
}

/// RESP array of bulk strings. Sized first and written with no allocation of its own: it
/// runs for every write while the AOF or a replica is attached (formatting each length
/// through a String cost ~400 instructions a SET).
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut digits = [0u8; MAX_INT_LEN];
    let size: usize = args.iter().map(|a| a.len() + 3 + MAX_INT_LEN + 2).sum();
    out.reserve(size + 3 + MAX_INT_LEN);
    header(out, b'*', args.len(), &mut digits);
    for arg in args {
        header(out, b'$', arg.len(), &mut digits);
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// `marker`, `n` in decimal, CRLF.
#[inline(always)]
fn header(out: &mut Vec<u8>, marker: u8, n: usize, digits: &mut [u8; MAX_INT_LEN]) {
    out.push(marker);
    let len = write_int(n as i64, digits);
    out.extend_from_slice(&digits[..len]);
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal (a SELECT's database: once per change of database).
fn itoa(n: usize) -> Vec<u8> {
    n.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: &Output) -> String {
        String::from_utf8_lossy(&out.bytes).replace("\r\n", " ")
    }

    #[test]
    fn chunks_select_their_database_once() {
        let mut c = Chunk::default();
        c.push(0, &[b"SET", b"a", b"1"]);
        c.push(0, &[b"SET", b"b", b"2"]);
        c.push(3, &[b"DEL", b"a"]);
        let mut out = Output::default();
        out.append(c);
        assert_eq!(
            text(&out),
            "*2 $6 SELECT $1 0 *3 $3 SET $1 a $1 1 *3 $3 SET $1 b $1 2 *2 $6 SELECT $1 3 *2 $3 DEL $1 a "
        );
        let mut next = Chunk::default();
        next.push(3, &[b"DEL", b"b"]);
        out.bytes.clear();
        out.append(next);
        assert_eq!(text(&out), "*2 $3 DEL $1 b ");
    }

    #[test]
    fn a_block_follows_what_its_shards_wrote_before_it() {
        let stream = Stream::new(2);
        install(Some(stream.clone()));
        let mut s0 = Shard::new(0, 16);
        let mut s1 = Shard::new(1, 16);
        s0.set_journal(stream.journal_of(0));
        s1.set_journal(stream.journal_of(1));
        s1.journal(&[b"SET", b"b", b"1"]);
        let block = Block::open(&[0, 1]).expect("active");
        assert!(
            Block::open(&[1]).is_none(),
            "a held shard's block is joined, not nested"
        );
        s0.journal(&[b"SET", b"a", b"2"]);
        s1.journal(&[b"SET", b"b", b"2"]);
        block.close(true);
        s1.journal(&[b"SET", b"b", b"3"]);
        let mut out = Output::default();
        stream.drain(Consumer::Aof, &mut out);
        install(None);
        assert_eq!(
            text(&out),
            "*2 $6 SELECT $1 0 *3 $3 SET $1 b $1 1 *1 $5 MULTI *3 $3 SET $1 a $1 2 *3 $3 SET $1 b $1 2 *1 $4 EXEC *3 $3 SET $1 b $1 3 "
        );
    }
}
