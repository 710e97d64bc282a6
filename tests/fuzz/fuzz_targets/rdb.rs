//! Feeds arbitrary bytes to the RDB reader, as a whole file and as a RESTORE payload (with and
//! without checking its footer): it must never panic nor allocate beyond what the input holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ringkv::rdb::decode(data);
    if ringkv::rdb::verify_payload(data).is_some() {
        let _ = ringkv::rdb::decode_payload(data);
    }
    // The body alone, as if its footer had checked out: RESTORE's decoding path.
    let mut payload = data.to_vec();
    payload.extend_from_slice(&[10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let _ = ringkv::rdb::decode_payload(&payload);
});
