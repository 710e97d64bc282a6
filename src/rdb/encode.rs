//! Writing: one database's keys into RDB records, and the file around them.

use super::*;
use crate::shard::slot::SLOTS;
use crate::shard::{Db, Record, ValueRef};

/// One database's share of a snapshot from one shard: its records, ready to concatenate.
pub use crate::shard::snapshot::Part as DbPart;

/// Encodes the keys of `db`, expired ones too, as Redis writes them: a master that loads the
/// file drops them (and tells its replicas), a replica keeps them until its master's DEL.
pub fn encode_db(db: &Db, now_ms: u64) -> DbPart {
    let mut part = DbPart::default();
    if db.is_empty() {
        return part;
    }
    for slot in 0..SLOTS {
        encode_slot(&mut part, &mut db.slot_entries(slot), now_ms);
    }
    part
}

/// Appends to `part` the keys among `records` (one slot's table), expired at the cut
/// (`_at_ms`) or not, as Redis writes every key it holds: the one walk both snapshots share
/// (a background snapshot's `shard::snapshot::EncodeSlot`).
pub fn encode_slot(part: &mut DbPart, records: &mut dyn Iterator<Item = &Record>, _at_ms: u64) {
    for record in records {
        part.keys += 1;
        let out = &mut part.records;
        if record.has_expiry() {
            part.volatile += 1;
            out.push(OP_EXPIRETIME_MS);
            out.extend_from_slice(&record.expire_at().to_le_bytes());
        }
        write_value(out, record.key(), record.value());
        part.seal();
    }
}

fn write_value(out: &mut Vec<u8>, key: &[u8], value: ValueRef) {
    out.push(value_type(value));
    write_string(out, key);
    write_body(out, value);
}

/// The type byte a value is written with.
fn value_type(value: ValueRef) -> u8 {
    match value {
        ValueRef::Str(_) => TYPE_STRING,
        ValueRef::List(_) => TYPE_LIST,
        ValueRef::Set(_) => TYPE_SET,
        ValueRef::Hash(_) => TYPE_HASH,
        ValueRef::ZSet(_) => TYPE_ZSET_2,
        ValueRef::Stream(_) => TYPE_STREAM_LISTPACKS_2,
    }
}

/// DUMP's payload for `value`: type, body, RDB version, CRC-64 (see the module doc).
pub fn dump_payload(value: ValueRef) -> Vec<u8> {
    let mut out = vec![value_type(value)];
    write_body(&mut out, value);
    out.extend_from_slice(&(VERSION as u16).to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn write_body(out: &mut Vec<u8>, value: ValueRef) {
    match value {
        ValueRef::Str(s) => write_string(out, &s),
        ValueRef::List(list) => {
            write_len(out, list.len() as u64);
            list.iter().for_each(|item| write_string(out, item));
        }
        ValueRef::Set(set) => {
            write_len(out, set.len() as u64);
            set.iter().for_each(|m| write_string(out, &m));
        }
        ValueRef::Hash(hash) => {
            write_len(out, hash.len() as u64);
            for (field, value) in hash.iter() {
                write_string(out, &field);
                write_string(out, &value);
            }
        }
        ValueRef::ZSet(zset) => {
            write_len(out, zset.len() as u64);
            zset.for_each(|member, score| {
                write_string(out, member);
                out.extend_from_slice(&score.to_le_bytes());
            });
        }
        ValueRef::Stream(stream) => super::stream::write_stream(out, stream),
    }
}

/// FUNCTION DUMP's payload: each library's code after the FUNCTION2 opcode, as in a file,
/// then the RDB version and the CRC-64, as a DUMP payload.
pub fn functions_payload(libraries: &[bytes::Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    write_functions(&mut out, libraries);
    out.extend_from_slice(&(VERSION as u16).to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn write_functions(out: &mut Vec<u8>, libraries: &[bytes::Bytes]) {
    for code in libraries {
        out.push(OP_FUNCTION2);
        write_string(out, code);
    }
}

/// Redis's length encoding: 6, 14, 32 or 64 bits, big-endian past the first byte.
pub(super) fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

pub(super) fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Where in its replication stream a server's data stands (an RDB's `repl-*` AUX fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplInfo {
    /// The database the stream's last SELECT named.
    pub stream_db: usize,
    pub replid: String,
    pub offset: i64,
}

/// The bytes of one RDB file, written front to back.
pub struct FileWriter {
    out: Vec<u8>,
    /// Called once per key written, when set.
    pace: Option<fn()>,
}

impl FileWriter {
    /// Header and AUX fields.
    pub fn new(redis_version: &str, used_memory: u64) -> Self {
        FileWriter::with_replication(redis_version, used_memory, None)
    }

    /// Header and AUX fields, with the replication stream's position the data stands at
    /// (`repl-stream-db`, `repl-id`, `repl-offset`, as Redis's rdbSaveInfoAuxFields) when
    /// given: a server restarted from the file continues its history from there.
    pub fn with_replication(
        redis_version: &str,
        used_memory: u64,
        replication: Option<&ReplInfo>,
    ) -> Self {
        let mut out = Vec::with_capacity(1 << 16);
        out.extend_from_slice(format!("REDIS{VERSION:04}").as_bytes());
        let ctime = crate::shard::unix_ms() / 1000;
        let mut aux: Vec<(&str, String)> = vec![
            ("redis-ver", redis_version.to_string()),
            ("redis-bits", (usize::BITS).to_string()),
            ("ctime", ctime.to_string()),
            ("used-mem", used_memory.to_string()),
        ];
        if let Some(repl) = replication {
            aux.push(("repl-stream-db", repl.stream_db.to_string()));
            aux.push(("repl-id", repl.replid.clone()));
            aux.push(("repl-offset", repl.offset.to_string()));
        }
        aux.push(("aof-base", "0".to_string()));
        for (name, value) in aux {
            out.push(OP_AUX);
            write_string(&mut out, name.as_bytes());
            write_string(&mut out, value.as_bytes());
        }
        FileWriter { out, pace: None }
    }

    /// The function libraries' code (written after the AUX fields, before any database).
    pub fn functions(&mut self, libraries: &[bytes::Bytes]) {
        write_functions(&mut self.out, libraries);
    }

    /// Database `index` made of the parts every shard encoded for it; nothing when empty.
    pub fn database(&mut self, index: usize, parts: &[&DbPart]) {
        let keys: usize = parts.iter().map(|p| p.keys).sum();
        if keys == 0 {
            return;
        }
        let volatile: usize = parts.iter().map(|p| p.volatile).sum();
        self.out.push(OP_SELECTDB);
        write_len(&mut self.out, index as u64);
        self.out.push(OP_RESIZEDB);
        write_len(&mut self.out, keys as u64);
        write_len(&mut self.out, volatile as u64);
        for part in parts {
            part.chunks().for_each(|c| self.out.extend_from_slice(c));
            if let Some(pace) = self.pace {
                (0..part.keys).for_each(|_| pace());
            }
        }
    }

    /// Calls `pace` once per key written (the test suite's `rdb-key-save-delay`).
    pub fn paced(mut self, pace: fn()) -> Self {
        self.pace = Some(pace);
        self
    }

    /// The finished file: EOF and checksum appended.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(OP_EOF);
        let crc = CRC64.checksum(&self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}
