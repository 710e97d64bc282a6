//! Keyspace events (`notify-keyspace-events`): which classes are on, and the events a shard
//! buffers while it runs a job. The shard never publishes: whoever runs a job on it drains
//! `Shard::take_events` afterwards and hands them to pub/sub, in order.
//! Depends on nothing outside `shard`.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const NEW: u32 = 1 << 12;
pub const MODULE: u32 = 1 << 13;
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

static FLAGS: AtomicU32 = AtomicU32::new(0);

/// Parses Redis's `notify-keyspace-events` letters; None for an unknown letter.
pub fn parse(text: &str) -> Option<u32> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Redis's canonical text for a flag set (CONFIG GET shows it). As Redis does, `n` is
/// only shown beside the classes listed one by one: `A` hides it (though it stays set).
pub fn render(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// The current flags.
pub fn flags() -> u32 {
    FLAGS.load(Relaxed)
}

/// Makes `flags` current.
pub fn set(flags: u32) {
    FLAGS.store(flags, Relaxed);
}

/// True when events of `class` are published at all (cheap check for callers).
pub fn enabled(class: u32) -> bool {
    let flags = FLAGS.load(Relaxed);
    flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0
}

/// One keyspace event, as buffered by the shard that caused it.
pub struct KeyEvent {
    /// Its class bit (`STRING`, `GENERIC`, ...).
    pub class: u32,
    /// The event name (`set`, `del`, `expired`, ...).
    pub event: &'static str,
    pub db: usize,
    pub key: Box<[u8]>,
}
