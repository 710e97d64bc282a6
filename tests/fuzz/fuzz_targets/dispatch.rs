//! Runs arbitrary command sequences (RESP in the input) through the command table against one
//! in-process shard: every keyed command's Op half runs on it. Nothing may panic.
#![no_main]

use std::sync::Once;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringkv::command::dispatch::run_op;
use ringkv::command::{lookup, Args, Kind};
use ringkv::protocol::{parse_batch, ParseLimits, Protocol};
use ringkv::shard::Shard;

fuzz_target!(|data: &[u8]| {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        ringkv::pubsub::Registry::install(1);
        // Strings up to 1 MB: the limits are exercised without 512 MB allocations that
        // would slow every run (the proto-max-bulk-len checks are the same at any size).
        let mut config = ringkv::config::Config::default();
        let _ = config.set("proto-max-bulk-len", "1mb");
        ringkv::command::apply_config(&config);
    });
    let mut buf = BytesMut::from(data);
    let mut commands = Vec::new();
    let _ = parse_batch(&mut buf, &ParseLimits::default(), &mut commands);
    let mut shard = Shard::new(0, 16);
    let mut out = BytesMut::new();
    for items in commands.into_iter().take(64) {
        let Some((_, spec)) = lookup(&items[0]) else {
            continue;
        };
        // Keyed subcommands (OBJECT ENCODING, XGROUP CREATE...) run as their own rows.
        let spec = spec.resolve(&items);
        if !spec.arity_ok(items.len()) {
            continue;
        }
        if let Kind::Keyed(op, _) = spec.kind {
            let reply = run_op(&mut shard, 0, spec, op, &mut Args::of(spec, items));
            reply.encode(Protocol::Resp3, &mut out);
            out.clear();
        }
    }
});
