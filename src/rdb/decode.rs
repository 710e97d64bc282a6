//! Reading: a whole RDB file into records. Every length is checked against the bytes left, so
//! a corrupt or hostile file gives an error, never a panic or an allocation beyond its size.

use bytes::Bytes;

use super::stream::Version;
use super::*;
use crate::shard::types::Stream;

/// A value as read from the file, before it is given the representation its size calls for.
#[derive(Debug, PartialEq)]
pub enum Loaded {
    Str(Bytes),
    List(Vec<Bytes>),
    Set(Vec<Bytes>),
    Hash(Vec<(Bytes, Bytes)>),
    ZSet(Vec<(Bytes, f64)>),
    Stream(Box<Stream>),
}

/// One key of the file.
#[derive(Debug, PartialEq)]
pub struct Record {
    pub db: usize,
    pub key: Bytes,
    pub value: Loaded,
    /// Absolute expiry in Unix milliseconds, 0 for none.
    pub expire_at: u64,
}

/// Reads every key of an RDB file (versions 1 to 11). Function libraries are skipped (see
/// [`decode_all`]), module AUX data with a log line; a module value is an error. An error names the byte offset
/// where reading stopped.
pub fn decode(file: &[u8]) -> Result<Vec<Record>, String> {
    decode_all(file).map(|(records, _)| records)
}

/// [`decode`], and the code of each function library in the file, in its order.
pub fn decode_all(file: &[u8]) -> Result<(Vec<Record>, Vec<Bytes>), String> {
    decode_preamble(file).map(|(records, libraries, _)| (records, libraries))
}

/// As [`decode_all`], for an RDB that may be followed by more (an AOF's RDB preamble): also
/// the offset where the RDB ends.
pub fn decode_preamble(file: &[u8]) -> Result<(Vec<Record>, Vec<Bytes>, usize), String> {
    let mut r = Reader { data: file, pos: 0 };
    let mut libraries = Vec::new();
    let records = r
        .file(&mut libraries)
        .map_err(|e| format!("{e} (at byte offset {})", r.pos))?;
    Ok((records, libraries, r.pos))
}

/// The AUX fields at the head of an RDB file (before any function or database, where Redis
/// and ringkv write them); empty when the file is not an RDB. A field cut short ends the list.
pub fn aux_fields(file: &[u8]) -> Vec<(Bytes, Bytes)> {
    let mut out = Vec::new();
    if !file.starts_with(b"REDIS") || file.len() < 9 {
        return out;
    }
    let mut r = Reader { data: file, pos: 9 };
    while r.data.get(r.pos) == Some(&OP_AUX) {
        r.pos += 1;
        match (r.string(), r.string()) {
            (Ok(name), Ok(value)) => out.push((name, value)),
            _ => break,
        }
    }
    out
}

/// The libraries in a FUNCTION DUMP payload that passed [`verify_payload`]; the error is
/// Redis's text for what went wrong.
pub fn decode_functions(payload: &[u8]) -> Result<Vec<Bytes>, &'static str> {
    let body = &payload[..payload.len().saturating_sub(10)];
    let mut r = Reader { data: body, pos: 0 };
    let mut libraries = Vec::new();
    while r.pos < body.len() {
        let op = r.byte().map_err(|_| "can not read data type")?;
        if op != OP_FUNCTION && op != OP_FUNCTION2 {
            return Err("given type is not a function");
        }
        let code = r
            .library(op)
            .map_err(|_| "Failed loading library payload")?;
        libraries.push(code);
    }
    Ok(libraries)
}

/// The version of a DUMP payload, if its footer's CRC-64 matches. Layout: the value's type
/// byte and RDB body, the RDB version (u16 LE), the CRC-64 of everything before (u64 LE).
pub fn verify_payload(payload: &[u8]) -> Option<u16> {
    let body = payload.len().checked_sub(10)?;
    let version = u16::from_le_bytes([payload[body], payload[body + 1]]);
    let stored = u64::from_le_bytes(payload[body + 2..].try_into().ok()?);
    (version as u32 <= MAX_VERSION
        && (skip_checksum() || CRC64.checksum(&payload[..body + 2]) == stored))
        .then_some(version)
}

/// The value in a DUMP payload that passed [`verify_payload`].
pub fn decode_payload(payload: &[u8]) -> Result<Loaded, String> {
    let body = &payload[..payload.len().saturating_sub(10)];
    let mut r = Reader { data: body, pos: 0 };
    let kind = r.byte()?;
    r.value(kind)
}

impl<'a> Reader<'a> {
    /// A library after its opcode: 7.0's FUNCTION2 (the code), or the release candidates'
    /// FUNCTION (name, engine, description, body), turned into code with its shebang.
    fn library(&mut self, op: u8) -> Result<Bytes, String> {
        if op == OP_FUNCTION2 {
            return self.string();
        }
        let name = self.string()?;
        let engine = self.string()?;
        if self.len()? != 0 {
            self.string()?;
        }
        let body = self.string()?;
        let mut code = Vec::with_capacity(body.len() + name.len() + engine.len() + 9);
        code.extend_from_slice(b"#!");
        code.extend_from_slice(&engine);
        code.extend_from_slice(b" name=");
        code.extend_from_slice(&name);
        code.push(b'\n');
        code.extend_from_slice(&body);
        Ok(Bytes::from(code))
    }

    fn file(&mut self, libraries: &mut Vec<Bytes>) -> Result<Vec<Record>, String> {
        let magic = self.take(9)?;
        if &magic[..5] != b"REDIS" {
            return Err("Wrong signature trying to load DB from file".into());
        }
        let version: u32 = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or("Bad RDB version")?;
        if version == 0 || version > MAX_VERSION {
            return Err(format!("Can't handle RDB format version {version}"));
        }
        let mut records = Vec::new();
        let mut db = 0usize;
        let mut expire_at = 0u64;
        loop {
            let op = self.byte()?;
            match op {
                OP_EOF => break,
                OP_SELECTDB => db = self.len()? as usize,
                OP_RESIZEDB => {
                    self.len()?;
                    self.len()?;
                }
                OP_AUX => {
                    self.string()?;
                    self.string()?;
                }
                OP_EXPIRETIME_MS => expire_at = u64::from_le_bytes(self.array()?),
                OP_EXPIRETIME => expire_at = u32::from_le_bytes(self.array()?) as u64 * 1000,
                OP_IDLE => {
                    self.len()?;
                }
                OP_FREQ => {
                    self.byte()?;
                }
                OP_MODULE_AUX => {
                    let module = self.len()?;
                    self.module_aux()?;
                    tracing::warn!("skipping module AUX data in the RDB file (module id {module:#x}): modules are not supported");
                }
                OP_FUNCTION | OP_FUNCTION2 => libraries.push(self.library(op)?),
                kind => {
                    let key = self.string()?;
                    let value = self.value(kind)?;
                    records.push(Record {
                        db,
                        key,
                        value,
                        expire_at,
                    });
                    expire_at = 0;
                }
            }
        }
        if version >= 5 {
            let end = self.pos;
            let stored = u64::from_le_bytes(self.array()?);
            let computed = CRC64.checksum(&self.data[..end]);
            if stored != 0 && stored != computed && !skip_checksum() {
                self.pos = end;
                return Err(format!(
                    "Wrong RDB checksum expected: ({computed:x}) but got ({stored:x}): RDB CRC error"
                ));
            }
        }
        Ok(records)
    }

    /// Skips a module AUX field's annotated value: `when` opcode and value, then typed items
    /// up to the EOF opcode.
    fn module_aux(&mut self) -> Result<(), String> {
        if self.len()? != 2 {
            return Err("bad when_opcode".into());
        }
        self.len()?;
        loop {
            match self.len()? {
                0 => return Ok(()),
                1 | 2 => {
                    self.len()?;
                }
                3 => {
                    self.take(4)?;
                }
                4 => {
                    self.take(8)?;
                }
                5 => {
                    self.string()?;
                }
                other => return Err(format!("Unknown module opcode {other}")),
            }
        }
    }
}

pub(super) struct Reader<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
}

const TRUNCATED: &str = "Short read or OOM loading DB. Unrecoverable error, aborting now.";

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or(TRUNCATED)?;
        let slice = self.data.get(self.pos..end).ok_or(TRUNCATED)?;
        self.pos = end;
        Ok(slice)
    }

    pub(super) fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A length, or the special string encoding it announces (Err-free: `Ok((value, special))`).
    fn len_or_special(&mut self) -> Result<(u64, bool), String> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => ((first & 0x3f) as u64, false),
            1 => ((((first & 0x3f) as u64) << 8) | self.byte()? as u64, false),
            2 => match first {
                0x80 => (u32::from_be_bytes(self.array()?) as u64, false),
                0x81 => (u64::from_be_bytes(self.array()?), false),
                _ => return Err(format!("Unknown length encoding {first}")),
            },
            _ => ((first & 0x3f) as u64, true),
        })
    }

    pub(super) fn len(&mut self) -> Result<u64, String> {
        match self.len_or_special()? {
            (len, false) => Ok(len),
            _ => Err("Unexpected special encoding for a length".into()),
        }
    }

    /// A count of items that each take at least one byte: never more than the bytes left.
    pub(super) fn count(&mut self) -> Result<usize, String> {
        let n = self.len()?;
        if n > (self.data.len() - self.pos) as u64 {
            return Err(TRUNCATED.into());
        }
        Ok(n as usize)
    }

    pub(super) fn string(&mut self) -> Result<Bytes, String> {
        let (len, special) = self.len_or_special()?;
        if !special {
            return Ok(Bytes::copy_from_slice(self.take(len as usize)?));
        }
        let int = match len {
            0 => self.byte()? as i8 as i64,
            1 => i16::from_le_bytes(self.array()?) as i64,
            2 => i32::from_le_bytes(self.array()?) as i64,
            3 => {
                let compressed = self.len()? as usize;
                let plain = self.len()? as usize;
                let input = self.take(compressed)?;
                // LZF expands at most 88 times (3 input bytes for a 264-byte back reference):
                // anything claiming more is corrupt, and is refused before allocating.
                if plain > compressed.saturating_mul(88) {
                    return Err("Invalid LZF compressed string".into());
                }
                let out = lzf::decompress(input, plain).ok_or("Invalid LZF compressed string")?;
                return Ok(Bytes::from(out));
            }
            other => return Err(format!("Unknown RDB string encoding type {other}")),
        };
        Ok(Bytes::from(int.to_string()))
    }

    fn value(&mut self, kind: u8) -> Result<Loaded, String> {
        Ok(match kind {
            TYPE_STRING => Loaded::Str(self.string()?),
            TYPE_LIST | TYPE_SET => {
                let n = self.count()?;
                let items = (0..n).map(|_| self.string()).collect::<Result<_, _>>()?;
                if kind == TYPE_LIST {
                    Loaded::List(items)
                } else {
                    Loaded::Set(items)
                }
            }
            TYPE_HASH => {
                let n = self.count()?;
                let pairs = (0..n)
                    .map(|_| Ok((self.string()?, self.string()?)))
                    .collect::<Result<_, String>>()?;
                Loaded::Hash(pairs)
            }
            TYPE_ZSET | TYPE_ZSET_2 => {
                let n = self.count()?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let member = self.string()?;
                    let score = if kind == TYPE_ZSET_2 {
                        f64::from_le_bytes(self.array()?)
                    } else {
                        self.ascii_double()?
                    };
                    if score.is_nan() {
                        return Err("Zset with NAN score detected".into());
                    }
                    pairs.push((member, score));
                }
                Loaded::ZSet(pairs)
            }
            TYPE_SET_INTSET => Loaded::Set(intset(&self.string()?)?),
            TYPE_SET_LISTPACK => Loaded::Set(listpack(&self.string()?)?),
            TYPE_HASH_LISTPACK => Loaded::Hash(pairs(listpack(&self.string()?)?)?),
            TYPE_HASH_ZIPLIST => Loaded::Hash(pairs(legacy::ziplist(&self.string()?)?)?),
            TYPE_HASH_ZIPMAP => Loaded::Hash(legacy::zipmap(&self.string()?)?),
            TYPE_ZSET_LISTPACK => Loaded::ZSet(scored(listpack(&self.string()?)?)?),
            TYPE_ZSET_ZIPLIST => Loaded::ZSet(scored(legacy::ziplist(&self.string()?)?)?),
            TYPE_LIST_ZIPLIST => Loaded::List(legacy::ziplist(&self.string()?)?),
            TYPE_LIST_QUICKLIST => {
                let nodes = self.count()?;
                let mut items = Vec::new();
                for _ in 0..nodes {
                    let node = legacy::ziplist(&self.string()?)?;
                    if node.is_empty() {
                        return Err("Empty ziplist in a quicklist".into());
                    }
                    items.extend(node);
                }
                Loaded::List(items)
            }
            TYPE_LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut items = Vec::new();
                for _ in 0..nodes {
                    let container = self.len()?;
                    let node = self.string()?;
                    match container {
                        1 => items.push(node),
                        2 => {
                            let node = listpack(&node)?;
                            if node.is_empty() {
                                return Err("Empty listpack in a quicklist".into());
                            }
                            items.extend(node)
                        }
                        _ => return Err(format!("Unknown quicklist container {container}")),
                    }
                }
                Loaded::List(items)
            }
            TYPE_STREAM_LISTPACKS => Loaded::Stream(Box::new(self.stream(Version::V1)?)),
            TYPE_STREAM_LISTPACKS_2 => Loaded::Stream(Box::new(self.stream(Version::V2)?)),
            TYPE_STREAM_LISTPACKS_3 => Loaded::Stream(Box::new(self.stream(Version::V3)?)),
            TYPE_MODULE | TYPE_MODULE_2 => {
                return Err("a module value: modules are not supported".into())
            }
            other => return Err(format!("Unknown RDB encoding type {other}")),
        })
    }

    /// RDB_TYPE_ZSET's score: a length byte (253 NaN, 254 +inf, 255 -inf) and ASCII digits.
    fn ascii_double(&mut self) -> Result<f64, String> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => parse_score(self.take(n as usize)?),
        }
    }
}

fn parse_score(text: &[u8]) -> Result<f64, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| !s.is_nan())
        .ok_or_else(|| "Invalid zset score".to_string())
}

/// Member, score pairs of a listpack or ziplist sorted set.
fn scored(items: Vec<Bytes>) -> Result<Vec<(Bytes, f64)>, String> {
    pairs(items)?
        .into_iter()
        .map(|(member, score)| Ok((member, parse_score(&score)?)))
        .collect()
}

fn pairs(items: Vec<Bytes>) -> Result<Vec<(Bytes, Bytes)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("Listpack of pairs with an odd number of entries".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

/// An intset blob: encoding (2, 4 or 8 bytes per integer), count, then the integers, all LE.
pub(super) fn intset(blob: &[u8]) -> Result<Vec<Bytes>, String> {
    let bad = || "Intset integrity check failed.".to_string();
    let header = blob.get(..8).ok_or_else(bad)?;
    let width = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if ![2, 4, 8].contains(&width) || blob.len() != 8 + width.saturating_mul(count) {
        return Err(bad());
    }
    Ok(blob[8..]
        .chunks_exact(width)
        .map(|c| {
            let v = match width {
                2 => i16::from_le_bytes([c[0], c[1]]) as i64,
                4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
                _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            };
            Bytes::from(v.to_string())
        })
        .collect())
}

/// A listpack blob: total bytes (u32), count (u16), entries each followed by its back-length,
/// and 0xFF. Integers come back as their decimal text, as Redis hands them out.
pub(super) fn listpack(blob: &[u8]) -> Result<Vec<Bytes>, String> {
    let bad = || "Listpack integrity check failed.".to_string();
    if blob.len() < 7
        || u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize != blob.len()
    {
        return Err(bad());
    }
    let mut pos = 6;
    let mut items = Vec::new();
    loop {
        let b = *blob.get(pos).ok_or_else(bad)?;
        if b == 0xFF {
            break;
        }
        let field = |from: usize, n: usize| blob.get(from..from + n).ok_or_else(bad);
        let (item, size) = if b & 0x80 == 0 {
            (Item::Int((b & 0x7f) as i64), 1)
        } else if b & 0xC0 == 0x80 {
            let n = (b & 0x3f) as usize;
            (Item::Str(field(pos + 1, n)?), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let raw =
                (((b & 0x1f) as i64) << 8) | *field(pos + 1, 1)?.first().ok_or_else(bad)? as i64;
            (Item::Int(sign_extend(raw, 13)), 2)
        } else if b & 0xF0 == 0xE0 {
            let n = (((b & 0x0f) as usize) << 8)
                | *field(pos + 1, 1)?.first().ok_or_else(bad)? as usize;
            (Item::Str(field(pos + 2, n)?), 2 + n)
        } else {
            match b {
                0xF0 => {
                    let l = field(pos + 1, 4)?;
                    let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    (Item::Str(field(pos + 5, n)?), 5 + n)
                }
                0xF1..=0xF4 => {
                    let width = [2, 3, 4, 8][(b - 0xF1) as usize];
                    let raw = field(pos + 1, width)?;
                    let mut v: u64 = 0;
                    for (i, byte) in raw.iter().enumerate() {
                        v |= (*byte as u64) << (8 * i);
                    }
                    (
                        Item::Int(sign_extend(v as i64, width as u32 * 8)),
                        1 + width,
                    )
                }
                _ => return Err(bad()),
            }
        };
        items.push(match item {
            Item::Int(v) => Bytes::from(v.to_string()),
            Item::Str(s) => Bytes::copy_from_slice(s),
        });
        pos += size + backlen_size(size);
    }
    Ok(items)
}

enum Item<'a> {
    Int(i64),
    Str(&'a [u8]),
}

pub(super) fn sign_extend(v: i64, bits: u32) -> i64 {
    if bits >= 64 {
        return v;
    }
    let shift = 64 - bits;
    (v << shift) >> shift
}

/// Bytes of the back-length that follows an entry of `size` bytes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}
