//! Writing: one database's keys into RDB records, and the file around them.

use super::*;
use crate::shard::slot::SLOTS;
use crate::shard::{Db, Record, ValueRef};

/// One database's share of a snapshot from one shard: its records, ready to concatenate.
pub use crate::shard::snapshot::Part as DbPart;

/// Encodes the live keys of `db` (expired ones are skipped, as Redis does).
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

/// Appends to `part` the keys among `records` (one slot's table) live at `now_ms`: the one
/// walk both snapshots share (a background snapshot's `shard::snapshot::EncodeSlot`).
pub fn encode_slot(part: &mut DbPart, records: &mut dyn Iterator<Item = &Record>, now_ms: u64) {
    for record in records {
        if !record.is_live(now_ms) {
            continue;
        }
        if matches!(record.value(), ValueRef::Stream(_)) {
            part.skipped += 1;
            continue;
        }
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
    match value {
        ValueRef::Str(s) => {
            out.push(TYPE_STRING);
            write_string(out, key);
            write_string(out, &s);
        }
        ValueRef::List(list) => {
            out.push(TYPE_LIST);
            write_string(out, key);
            write_len(out, list.len() as u64);
            list.iter().for_each(|item| write_string(out, item));
        }
        ValueRef::Set(set) => {
            out.push(TYPE_SET);
            write_string(out, key);
            write_len(out, set.len() as u64);
            set.iter().for_each(|m| write_string(out, &m));
        }
        ValueRef::Hash(hash) => {
            out.push(TYPE_HASH);
            write_string(out, key);
            write_len(out, hash.len() as u64);
            for (field, value) in hash.iter() {
                write_string(out, &field);
                write_string(out, &value);
            }
        }
        ValueRef::ZSet(zset) => {
            out.push(TYPE_ZSET_2);
            write_string(out, key);
            write_len(out, zset.len() as u64);
            zset.for_each(|member, score| {
                write_string(out, member);
                out.extend_from_slice(&score.to_le_bytes());
            });
        }
        ValueRef::Stream(_) => {}
    }
}

/// Redis's length encoding: 6, 14, 32 or 64 bits, big-endian past the first byte.
fn write_len(out: &mut Vec<u8>, len: u64) {
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

fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The bytes of one RDB file, written front to back.
pub struct FileWriter {
    out: Vec<u8>,
}

impl FileWriter {
    /// Header and AUX fields.
    pub fn new(redis_version: &str, used_memory: u64) -> Self {
        let mut out = Vec::with_capacity(1 << 16);
        out.extend_from_slice(format!("REDIS{VERSION:04}").as_bytes());
        let ctime = crate::shard::unix_ms() / 1000;
        let aux: [(&str, String); 5] = [
            ("redis-ver", redis_version.to_string()),
            ("redis-bits", (usize::BITS).to_string()),
            ("ctime", ctime.to_string()),
            ("used-mem", used_memory.to_string()),
            ("aof-base", "0".to_string()),
        ];
        for (name, value) in aux {
            out.push(OP_AUX);
            write_string(&mut out, name.as_bytes());
            write_string(&mut out, value.as_bytes());
        }
        FileWriter { out }
    }

    /// Database `index` made of the parts every shard encoded for it; nothing when empty.
    pub fn database(&mut self, index: usize, parts: &[&DbPart]) {
        let skipped: usize = parts.iter().map(|p| p.skipped).sum();
        if skipped > 0 {
            tracing::warn!(
                "snapshot leaves out {skipped} stream keys: streams are not persisted yet"
            );
        }
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
        }
    }

    /// The finished file: EOF and checksum appended.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(OP_EOF);
        let crc = CRC64.checksum(&self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}
