//! The keyspace on one shard, per operation, holding 100 000 keys `key:%010d`: `select` (run
//! before every command), `store`, `read` (hit and miss), `set_expire` and `delete`. These are
//! the *Op* halves of GET/SET/EXPIRE/DEL without parsing, routing or replies, so they show what
//! the data structures cost on their own.
//!
//! `cargo bench --bench store`. Insert and delete need keys absent or present: each is timed over
//! chunks of keys, and the chunk is put back (or removed again) outside the timed region, so the
//! shard stays near 100 000 keys throughout.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use ringkv::shard::{unix_ms, Shard, Value};

const KEYS: usize = 100_000;

/// Keys inserted or deleted per timed stretch: a tenth of the shard.
const CHUNK: usize = KEYS / 10;

/// A 16-byte value shared by every entry: storing it costs a reference count, as a value sliced
/// out of a read buffer does.
fn value() -> Bytes {
    Bytes::from_static(b"vvvvvvvvvvvvvvvv")
}

fn numbered(prefix: &str) -> Vec<Bytes> {
    (0..KEYS)
        .map(|i| Bytes::from(format!("{prefix}:{i:010}")))
        .collect()
}

fn full_shard(keys: &[Bytes]) -> Shard {
    let mut shard = Shard::new(0, 16);
    shard.select(0);
    for key in keys {
        shard.store(key, Value::Str(value()), 0);
    }
    shard
}

/// Cycles through `keys`, one per call.
struct Cursor<'a> {
    keys: &'a [Bytes],
    next: usize,
}

impl<'a> Cursor<'a> {
    fn new(keys: &'a [Bytes]) -> Self {
        Cursor { keys, next: 0 }
    }

    fn key(&mut self) -> &'a [u8] {
        let key = &self.keys[self.next];
        self.next = (self.next + 1) % self.keys.len();
        key
    }

    /// The next `CHUNK` keys (wrapping to the start at the end).
    fn chunk(&mut self) -> &'a [Bytes] {
        if self.next + CHUNK > self.keys.len() {
            self.next = 0;
        }
        let chunk = &self.keys[self.next..self.next + CHUNK];
        self.next += CHUNK;
        chunk
    }
}

/// What to do with each key of a chunk: before the timed stretch, timed, and after it.
struct Steps<B, T, A> {
    before: B,
    timed: T,
    after: A,
}

/// Times `steps.timed` over `iters` keys taken chunk by chunk; the untimed steps keep the shard
/// in the state the timed one needs (keys absent before an insert, back after a delete).
fn per_key_in_chunks<B, T, A>(
    shard: &mut Shard,
    cursor: &mut Cursor,
    iters: u64,
    steps: &Steps<B, T, A>,
) -> Duration
where
    B: Fn(&mut Shard, &[u8]),
    T: Fn(&mut Shard, &[u8]),
    A: Fn(&mut Shard, &[u8]),
{
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let chunk = &cursor.chunk()[..left.min(CHUNK)];
        chunk.iter().for_each(|key| (steps.before)(shard, key));
        let start = Instant::now();
        for key in chunk {
            (steps.timed)(shard, key);
        }
        total += start.elapsed();
        chunk.iter().for_each(|key| (steps.after)(shard, key));
        left -= chunk.len();
    }
    total
}

fn shard_ops(c: &mut Criterion) {
    let keys = numbered("key");
    let missing = numbered("miss");
    let mut shard = full_shard(&keys);
    let mut cursor = Cursor::new(&keys);
    let store = |shard: &mut Shard, key: &[u8]| shard.store(key, Value::Str(value()), 0);
    let delete = |shard: &mut Shard, key: &[u8]| {
        black_box(shard.delete(key)).expect("key present");
    };
    let nothing = |_: &mut Shard, _: &[u8]| {};
    let insert = Steps {
        before: delete,
        timed: store,
        after: nothing,
    };
    let remove = Steps {
        before: nothing,
        timed: delete,
        after: store,
    };
    let far_future = unix_ms() + 86_400_000;

    let mut group = c.benchmark_group("shard");
    group.bench_function("select", |b| b.iter(|| shard.select(black_box(0))));
    group.bench_function("store_overwrite", |b| {
        b.iter(|| store(&mut shard, cursor.key()))
    });
    group.bench_function("store_insert", |b| {
        b.iter_custom(|iters| per_key_in_chunks(&mut shard, &mut cursor, iters, &insert))
    });
    group.bench_function("read_hit", |b| {
        b.iter(|| shard.read(cursor.key()).is_some())
    });
    let mut misses = Cursor::new(&missing);
    group.bench_function("read_miss", |b| {
        b.iter(|| shard.read(misses.key()).is_none())
    });
    group.bench_function("set_expire", |b| {
        b.iter(|| shard.db().set_expire(cursor.key(), black_box(far_future)))
    });
    group.bench_function("delete", |b| {
        b.iter_custom(|iters| per_key_in_chunks(&mut shard, &mut cursor, iters, &remove))
    });
    group.finish();
}

criterion_group!(benches, shard_ops);
criterion_main!(benches);
