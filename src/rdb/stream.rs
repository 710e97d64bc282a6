//! Streams in RDB: written as RDB_TYPE_STREAM_LISTPACKS_2 (what Redis 7.0 writes), read in
//! all three versions (1: Redis 5–6.2, 2: 7.0, 3: 7.2 with consumers' active time).
//!
//! Layout: the node count, then per node its master ID (16 bytes, big-endian ms and seq) and
//! its listpack; the length, last ID, (v2+) first ID, max deleted ID, entries added; the
//! groups, each with its name, last ID, (v2+) entries read, its PEL (raw ID, delivery time,
//! delivery count) and its consumers (name, seen time, (v3) active time, their PEL's IDs).
//!
//! A node's listpack starts with the master entry (`count deleted nfields field... 0`), then
//! per entry `flags ms-delta seq-delta [nfields field value...| value...] lp-count`, the
//! field names left out when flag SAMEFIELDS says they are the master entry's.

use bytes::Bytes;

use super::decode::{listpack, Reader};
use super::encode::{write_len, write_string};
use super::listpack::ListpackWriter;
use crate::shard::types::{Consumer, Fields, Pending, Stream, StreamId};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Which version of the stream encoding a record holds.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub enum Version {
    V1 = 1,
    V2 = 2,
    V3 = 3,
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

fn raw_id(id: StreamId) -> [u8; 16] {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&id.ms.to_be_bytes());
    raw[8..].copy_from_slice(&id.seq.to_be_bytes());
    raw
}

/// The body of a RDB_TYPE_STREAM_LISTPACKS_2 record.
pub fn write_stream(out: &mut Vec<u8>, stream: &Stream) {
    let nodes: Vec<(StreamId, Vec<u8>)> = stream.nodes().filter_map(node_listpack).collect();
    write_len(out, nodes.len() as u64);
    for (master, lp) in &nodes {
        write_string(out, &raw_id(*master));
        write_string(out, lp);
    }
    write_len(out, stream.len() as u64);
    write_id(out, stream.last_id);
    write_id(out, stream.first_id);
    write_id(out, stream.max_deleted_id);
    write_len(out, stream.entries_added);
    write_len(out, stream.groups.len() as u64);
    for (name, group) in &stream.groups {
        write_string(out, name);
        write_id(out, group.last_id);
        write_len(out, group.entries_read.unwrap_or(u64::MAX));
        write_len(out, group.pel.len() as u64);
        for (id, nack) in &group.pel {
            out.extend_from_slice(&raw_id(*id));
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            write_len(out, nack.delivery_count);
        }
        write_len(out, group.consumers.len() as u64);
        for (name, consumer) in &group.consumers {
            write_string(out, name);
            out.extend_from_slice(&consumer.seen_time.to_le_bytes());
            write_len(out, consumer.pending.len() as u64);
            for id in &consumer.pending {
                out.extend_from_slice(&raw_id(*id));
            }
        }
    }
}

/// One node's listpack and master ID (its first entry's); None for an empty node.
fn node_listpack<'a>(
    entries: impl Iterator<Item = (StreamId, &'a Fields)>,
) -> Option<(StreamId, Vec<u8>)> {
    let entries: Vec<(StreamId, &Fields)> = entries.collect();
    let &(master, master_fields) = entries.first()?;
    let names = |f: &'a Fields| f.iter().step_by(2);
    let mut lp = ListpackWriter::default();
    lp.int(entries.len() as i64);
    lp.int(0);
    lp.int((master_fields.len() / 2) as i64);
    names(master_fields).for_each(|n| lp.string(n));
    lp.int(0);
    for (id, fields) in &entries {
        let pairs = fields.len() / 2;
        let same = pairs == master_fields.len() / 2 && names(fields).eq(names(master_fields));
        lp.int(if same { FLAG_SAMEFIELDS } else { 0 });
        lp.int(id.ms.wrapping_sub(master.ms) as i64);
        lp.int(id.seq.wrapping_sub(master.seq) as i64);
        if same {
            fields.iter().skip(1).step_by(2).for_each(|v| lp.string(v));
            lp.int(pairs as i64 + 3);
        } else {
            lp.int(pairs as i64);
            fields.iter().for_each(|f| lp.string(f));
            lp.int(2 * pairs as i64 + 4);
        }
    }
    Some((master, lp.finish()))
}

fn corrupt(what: &str) -> String {
    format!("Stream {what}")
}

impl Reader<'_> {
    fn id(&mut self) -> Result<StreamId, String> {
        Ok(StreamId::new(self.len()?, self.len()?))
    }

    fn raw_id(&mut self) -> Result<StreamId, String> {
        let raw: [u8; 16] = self.array()?;
        let (ms, seq) = raw.split_at(8);
        Ok(StreamId::new(
            u64::from_be_bytes(ms.try_into().unwrap_or_default()),
            u64::from_be_bytes(seq.try_into().unwrap_or_default()),
        ))
    }

    fn millis(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A stream record's body in encoding `version`.
    pub(super) fn stream(&mut self, version: Version) -> Result<Stream, String> {
        let mut stream = Stream::default();
        let nodes = self.count()?;
        let mut last_seen: Option<StreamId> = None;
        for _ in 0..nodes {
            let key = self.string()?;
            let key: [u8; 16] = key[..]
                .try_into()
                .map_err(|_| corrupt("node key entry is not the size of a stream ID"))?;
            let master = Reader { data: &key, pos: 0 }.raw_id()?;
            let entries = node_entries(master, &self.string()?)?;
            if let (Some(prev), Some((first, _))) = (last_seen, entries.first()) {
                if *first <= prev {
                    return Err(corrupt("node entries out of order"));
                }
            }
            if let Some((last, _)) = entries.last() {
                last_seen = Some(*last);
            }
            stream.push_node(entries);
        }
        let length = self.len()?;
        if length != stream.len() as u64 {
            return Err(corrupt("length inconsistent with its entries"));
        }
        stream.last_id = self.id()?;
        if last_seen.is_some_and(|l| l > stream.last_id) {
            return Err(corrupt("entry above its last ID"));
        }
        if version >= Version::V2 {
            stream.first_id = self.id()?;
            stream.max_deleted_id = self.id()?;
            stream.entries_added = self.len()?;
        } else {
            stream.first_id = stream.first().map_or(StreamId::MIN, |(id, _)| id);
            stream.entries_added = length;
        }
        let groups = self.count()?;
        for _ in 0..groups {
            self.group(&mut stream, version)?;
        }
        Ok(stream)
    }

    fn group(&mut self, stream: &mut Stream, version: Version) -> Result<(), String> {
        let name = self.string()?;
        let last_id = self.id()?;
        let read = if version >= Version::V2 {
            Some(self.len()?).filter(|&r| r != u64::MAX)
        } else {
            stream.estimate_read(last_id)
        };
        if !stream.create_group(&name, last_id, read) {
            return Err(corrupt("duplicated consumer group name"));
        }
        let pel_size = self.count()?;
        let mut pel = std::collections::BTreeMap::new();
        for _ in 0..pel_size {
            let id = self.raw_id()?;
            let nack = Pending {
                consumer: Bytes::new(),
                delivery_time: self.millis()?,
                delivery_count: self.len()?,
            };
            if pel.insert(id, (nack, false)).is_some() {
                return Err(corrupt("duplicated global PEL entry"));
            }
        }
        let consumers = self.count()?;
        let mut loaded = std::collections::BTreeMap::new();
        for _ in 0..consumers {
            let cname = self.string()?;
            let seen_time = self.millis()?;
            let active_time = if version >= Version::V3 {
                self.millis()?
            } else {
                seen_time
            };
            let mut consumer = Consumer {
                seen_time,
                active_time: Some(active_time),
                pending: Default::default(),
            };
            let owned = self.count()?;
            for _ in 0..owned {
                let id = self.raw_id()?;
                let (nack, taken) = pel
                    .get_mut(&id)
                    .ok_or_else(|| corrupt("consumer entry not found in group global PEL"))?;
                if *taken {
                    return Err(corrupt(
                        "consumer PEL entry already has a consumer assigned",
                    ));
                }
                *taken = true;
                nack.consumer = cname.clone();
                consumer.pending.insert(id);
            }
            if loaded.insert(cname, consumer).is_some() {
                return Err(corrupt("duplicate consumer detected"));
            }
        }
        let mut owned_pel = std::collections::BTreeMap::new();
        for (id, (nack, taken)) in pel {
            if !taken {
                return Err(corrupt("CG PEL entry without consumer"));
            }
            owned_pel.insert(id, nack);
        }
        if let Some(group) = stream.groups.get_mut(&name[..]) {
            group.pel = owned_pel;
            group.consumers = loaded;
        }
        Ok(())
    }
}

/// The live entries of one node's listpack, checked as Redis's deep integrity check does.
fn node_entries(master: StreamId, blob: &[u8]) -> Result<Vec<(StreamId, Fields)>, String> {
    let bad = || corrupt("listpack integrity check failed.");
    let items = listpack(blob)?;
    let mut it = items.into_iter();
    let int = |it: &mut std::vec::IntoIter<Bytes>| -> Result<i64, String> {
        let item = it.next().ok_or_else(bad)?;
        std::str::from_utf8(&item)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let count = int(&mut it)?;
    let deleted = int(&mut it)?;
    let nfields = int(&mut it)?;
    // Each entry takes items of the listpack: more than it holds cannot be right (and the
    // sum of two untrusted counts must not overflow).
    let total = count.checked_add(deleted).ok_or_else(bad)?;
    if count < 0 || deleted < 0 || nfields < 0 || total == 0 || total as usize > blob.len() {
        return Err(bad());
    }
    let mut master_fields = Vec::new();
    for _ in 0..nfields {
        master_fields.push(it.next().ok_or_else(bad)?);
    }
    if int(&mut it)? != 0 {
        return Err(bad());
    }
    let mut entries = Vec::new();
    let mut previous: Option<StreamId> = None;
    for _ in 0..total {
        let flags = int(&mut it)?;
        let ms = master.ms.wrapping_add(int(&mut it)? as u64);
        let seq = master.seq.wrapping_add(int(&mut it)? as u64);
        let id = StreamId::new(ms, seq);
        if previous.is_some_and(|p| id <= p) {
            return Err(bad());
        }
        previous = Some(id);
        let mut fields = Vec::new();
        let parts = if flags & FLAG_SAMEFIELDS != 0 {
            for name in &master_fields {
                fields.push(name.clone());
                fields.push(it.next().ok_or_else(bad)?);
            }
            master_fields.len() as i64 + 3
        } else {
            let n = int(&mut it)?;
            if n < 0 || n as usize > blob.len() {
                return Err(bad());
            }
            for _ in 0..2 * n {
                fields.push(it.next().ok_or_else(bad)?);
            }
            2 * n + 4
        };
        if int(&mut it)? != parts {
            return Err(bad());
        }
        if flags & FLAG_DELETED == 0 {
            entries.push((id, fields.into_boxed_slice()));
        }
    }
    if it.next().is_some() || entries.len() as i64 != count {
        return Err(bad());
    }
    Ok(entries)
}
