//! Replays the fuzz seed corpus (tests/fuzz/corpus) in ordinary `cargo test`: every parser
//! seed parses the same whole or split at any byte, with and without the pre-auth limits, and
//! every dispatch seed runs its keyed commands on an in-process shard without panicking, and
//! every RDB seed (a file or a DUMP payload redis-server wrote) decodes.
//! Inputs the fuzzers find go into the corpus and so become regression tests here.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use ringkv::command::dispatch::run_op;
use ringkv::command::{lookup, Args, Kind};
use ringkv::protocol::{parse_batch, ParseLimits, Protocol};
use ringkv::shard::Shard;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

fn parse_in_two(data: &[u8], split: usize, limits: &ParseLimits) -> (Vec<Vec<Bytes>>, bool) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in [&data[..split], &data[split..]] {
        buf.extend_from_slice(piece);
        if parse_batch(&mut buf, limits, &mut out).is_err() {
            return (out, true);
        }
    }
    (out, false)
}

#[test]
fn parser_seeds_parse_the_same_at_every_split() {
    let seeds = seeds("resp_parser");
    assert!(seeds.len() >= 5);
    let mut commands = 0;
    for (name, seed) in seeds {
        // The first byte picks the fuzzer's split point; the rest is the input.
        let data = &seed[1..];
        for unauthenticated in [false, true] {
            let limits = ParseLimits {
                max_bulk_len: 1 << 20,
                unauthenticated,
            };
            let whole = parse_in_two(data, data.len(), &limits);
            commands += whole.0.len();
            for split in 0..=data.len() {
                let halves = parse_in_two(data, split, &limits);
                if !whole.1 && !halves.1 {
                    assert_eq!(whole.0, halves.0, "{name} split at {split}");
                }
                assert_eq!(whole.1, halves.1, "{name} split at {split}");
            }
        }
    }
    assert!(commands > 0);
}

#[test]
fn dispatch_seeds_run_on_one_shard() {
    ringkv::pubsub::Registry::install(1);
    let mut ran = 0;
    for (name, seed) in seeds("dispatch") {
        let mut buf = BytesMut::from(&seed[..]);
        let mut commands = Vec::new();
        parse_batch(&mut buf, &ParseLimits::default(), &mut commands)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut shard = Shard::new(0, 16);
        for items in commands {
            let (_, spec) = lookup(&items[0]).unwrap_or_else(|| panic!("{name}: unknown"));
            let spec = spec.resolve(&items);
            assert!(spec.arity_ok(items.len()), "{name}: {}", spec.name);
            if let Kind::Keyed(op, _) = spec.kind {
                let mut out = BytesMut::new();
                run_op(&mut shard, 0, spec, op, &mut Args::of(spec, items))
                    .encode(Protocol::Resp2, &mut out);
                assert!(!out.is_empty());
                ran += 1;
            }
        }
    }
    assert!(ran >= 8);
}

#[test]
fn rdb_seeds_decode_as_files_or_payloads() {
    let seeds = seeds("rdb");
    assert!(seeds.len() >= 2);
    for (name, data) in seeds {
        if data.starts_with(b"REDIS") {
            let records = ringkv::rdb::decode(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!records.is_empty(), "{name}");
        } else {
            assert_eq!(ringkv::rdb::verify_payload(&data), Some(10), "{name}");
            ringkv::rdb::decode_payload(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// Inputs that once crashed the RDB fuzz target (tests/fuzz/crashes/rdb; the fuzz smoke runs
/// them with overflow checks): each is refused as the target feeds it, without a panic.
#[test]
fn rdb_crash_inputs_are_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/crashes/rdb");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(ringkv::rdb::decode(&data).is_err());
        let mut payload = data.clone();
        payload.extend_from_slice(&[10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(ringkv::rdb::decode_payload(&payload).is_err());
        ran += 1;
    }
    assert!(ran >= 1);
}
