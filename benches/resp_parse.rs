//! Request framing and reply encoding, per call and in bytes/s: every request a connection reads
//! goes through `parse_batch` and every reply through `Reply::encode`, so their cost bounds
//! pipelined throughput before any command runs.
//!
//! `cargo bench --bench resp_parse`. The input buffer is rebuilt outside the timed region
//! (parsing consumes it); the parsed arguments are dropped outside it too.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringkv::protocol::{parse_batch, ParseLimits, Protocol, Reply};

/// A multibulk request as a client library writes it.
fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn set(value_len: usize) -> Vec<u8> {
    request(&[b"SET", b"key:0000000042", &vec![b'v'; value_len]])
}

fn parse(c: &mut Criterion) {
    let inputs: [(&str, Vec<u8>); 5] = [
        ("get", request(&[b"GET", b"key:0000000042"])),
        ("set_16B", set(16)),
        ("set_16B_x16_pipeline", set(16).repeat(16)),
        ("set_1KiB", set(1024)),
        ("set_64KiB", set(64 * 1024)),
    ];
    let limits = ParseLimits::default();
    let mut group = c.benchmark_group("parse_batch");
    for (name, input) in &inputs {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(*name, |b| {
            b.iter_batched(
                || (BytesMut::from(&input[..]), Vec::with_capacity(16)),
                |(mut buf, mut out): (BytesMut, Vec<Vec<Bytes>>)| {
                    parse_batch(&mut buf, &limits, &mut out).expect("valid request");
                    assert!(buf.is_empty(), "every request is complete");
                    (buf, out)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let value = Bytes::from(vec![b'v'; 16]);
    let replies = [
        ("bulk_16B", Reply::Bulk(value.clone())),
        // What MGET of ten keys answers.
        ("array_10x16B", Reply::Array(vec![Reply::Bulk(value); 10])),
    ];
    let mut group = c.benchmark_group("reply_encode");
    for (name, reply) in &replies {
        let mut out = BytesMut::with_capacity(4096);
        reply.encode(Protocol::Resp2, &mut out);
        group.throughput(Throughput::Bytes(out.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                black_box(reply).encode(Protocol::Resp2, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
