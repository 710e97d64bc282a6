//! Command lookup: `command::lookup` (case-insensitive table lookup) plus `arity_ok`, the work
//! done for every command before it is routed, so it is paid once per request at any pipeline
//! depth.
//!
//! `cargo bench --bench dispatch`. Names cover the upper-case form clients send, lower case,
//! long names (the lookup lower-cases every byte) and an unknown name.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ringkv::command::lookup;

/// (bench name, command name as sent, argument count including the name).
const NAMES: &[(&str, &[u8], usize)] = &[
    ("GET", b"GET", 2),
    ("set", b"set", 3),
    ("PUNSUBSCRIBE", b"PUNSUBSCRIBE", 2),
    ("ZRANGEBYSCORE", b"ZRANGEBYSCORE", 4),
    ("unknown", b"NOSUCHCOMMAND", 2),
];

fn lookup_and_arity(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup+arity");
    for &(label, name, argc) in NAMES {
        group.bench_function(label, |b| {
            b.iter(|| lookup(black_box(name)).map(|(_, spec)| spec.arity_ok(black_box(argc))))
        });
    }
    group.finish();
}

criterion_group!(benches, lookup_and_arity);
criterion_main!(benches);
