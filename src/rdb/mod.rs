//! Snapshots in Redis's RDB format (version 10, what redis-server 7.0 writes and
//! redis-check-rdb accepts): `encode` turns a shard's databases into RDB records, `decode`
//! reads a whole file (ours, or one redis-server wrote) back into records.
//! Depends on `shard` for the stored values only; knows nothing of commands or threads.
//!
//! A DUMP payload is one value's type byte and body as in a file, the RDB version (u16 LE) and
//! the CRC-64 of what precedes it (u64 LE).
//!
//! File layout: `REDIS0010`, AUX fields, the function libraries (`FUNCTION2` and the code), then
//! per database `SELECTDB n`, `RESIZEDB keys
//! volatile` and its keys (`EXPIRETIME_MS` before a key that has one), `EOF` and the CRC-64
//! (Jones polynomial, little-endian) of everything before it.

pub mod decode;
pub mod encode;
mod legacy;
mod listpack;
mod lzf;
mod stream;

pub use decode::{
    aux_fields, decode, decode_all, decode_functions, decode_payload, decode_preamble,
    verify_payload, Loaded, Record,
};
pub use encode::{
    dump_payload, encode_db, encode_slot, functions_payload, DbPart, FileWriter, ReplInfo,
};

/// The version written; files up to `MAX_VERSION` are read.
pub const VERSION: u32 = 10;
const MAX_VERSION: u32 = 11;

const OP_FUNCTION2: u8 = 245;
const OP_FUNCTION: u8 = 246;
const OP_MODULE_AUX: u8 = 247;
const OP_IDLE: u8 = 248;
const OP_FREQ: u8 = 249;
const OP_AUX: u8 = 250;
const OP_RESIZEDB: u8 = 251;
const OP_EXPIRETIME_MS: u8 = 252;
const OP_EXPIRETIME: u8 = 253;
const OP_SELECTDB: u8 = 254;
const OP_EOF: u8 = 255;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_MODULE: u8 = 6;
const TYPE_MODULE_2: u8 = 7;
const TYPE_HASH_ZIPMAP: u8 = 9;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_STREAM_LISTPACKS: u8 = 15;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_STREAM_LISTPACKS_2: u8 = 19;
const TYPE_SET_LISTPACK: u8 = 20;
const TYPE_STREAM_LISTPACKS_3: u8 = 21;

/// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE payloads and RDB files are taken without
/// checking their CRC-64 (Redis's test suite feeds corrupt payloads past it this way).
pub static SKIP_CHECKSUM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn skip_checksum() -> bool {
    SKIP_CHECKSUM.load(std::sync::atomic::Ordering::Relaxed)
}

/// The RDB file's checksum: CRC-64/REDIS (Jones polynomial, reflected).
static CRC64: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

#[cfg(test)]
mod tests;
