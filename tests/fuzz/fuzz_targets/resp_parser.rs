//! Feeds arbitrary bytes to the RESP parser, whole and split at a fuzzer-chosen offset, with
//! and without the pre-auth limits: it must never panic, and both ways must agree.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringkv::protocol::{parse_batch, ParseLimits};

fn parse_in_two(data: &[u8], split: usize, limits: &ParseLimits) -> (Vec<Vec<bytes::Bytes>>, bool) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut failed = false;
    for piece in [&data[..split], &data[split..]] {
        buf.extend_from_slice(piece);
        if parse_batch(&mut buf, limits, &mut out).is_err() {
            failed = true;
            break;
        }
    }
    (out, failed)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize % data.len();
    let data = &data[1..];
    let split = split.min(data.len());
    for unauthenticated in [false, true] {
        let limits = ParseLimits {
            max_bulk_len: 1 << 20,
            unauthenticated,
        };
        let whole = parse_in_two(data, data.len(), &limits);
        let halves = parse_in_two(data, split, &limits);
        if !whole.1 && !halves.1 {
            assert_eq!(whole.0, halves.0);
        }
    }
});
