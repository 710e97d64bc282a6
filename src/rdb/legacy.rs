//! Reading the compact encodings Redis 2.6–6.2 wrote and 7.x no longer does: ziplists (lists,
//! hashes and sorted sets, and quicklist 1 nodes) and zipmaps (hashes before 2.6). Every length
//! is checked against the blob, so a corrupt one is an error, never a panic.

use bytes::Bytes;

/// A ziplist blob: total bytes (u32), tail offset (u32), count (u16), entries each preceded by
/// the previous entry's length, and 0xFF. Integers come back as their decimal text.
pub fn ziplist(blob: &[u8]) -> Result<Vec<Bytes>, String> {
    let bad = || "Ziplist integrity check failed.".to_string();
    if blob.len() < 11
        || u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize != blob.len()
    {
        return Err(bad());
    }
    let mut pos = 10;
    let mut items = Vec::new();
    let field = |from: usize, n: usize| blob.get(from..from.saturating_add(n)).ok_or_else(bad);
    loop {
        let first = *blob.get(pos).ok_or_else(bad)?;
        if first == 0xFF {
            break;
        }
        pos += if first == 0xFE { 5 } else { 1 };
        let enc = *blob.get(pos).ok_or_else(bad)?;
        let int = |bytes: &[u8]| {
            let mut v: u64 = 0;
            for (i, b) in bytes.iter().enumerate() {
                v |= (*b as u64) << (8 * i);
            }
            super::decode::sign_extend(v as i64, bytes.len() as u32 * 8)
        };
        let (item, size) = match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                (Bytes::copy_from_slice(field(pos + 1, n)?), 1 + n)
            }
            1 => {
                let n = (((enc & 0x3f) as usize) << 8) | field(pos + 1, 1)?[0] as usize;
                (Bytes::copy_from_slice(field(pos + 2, n)?), 2 + n)
            }
            2 => {
                let l = field(pos + 1, 4)?;
                let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (Bytes::copy_from_slice(field(pos + 5, n)?), 5 + n)
            }
            _ => {
                let (v, width) = match enc {
                    0xC0 => (int(field(pos + 1, 2)?), 2),
                    0xD0 => (int(field(pos + 1, 4)?), 4),
                    0xE0 => (int(field(pos + 1, 8)?), 8),
                    0xF0 => (int(field(pos + 1, 3)?), 3),
                    0xFE => (int(field(pos + 1, 1)?), 1),
                    0xF1..=0xFD => ((enc & 0x0f) as i64 - 1, 0),
                    _ => return Err(bad()),
                };
                (Bytes::from(v.to_string()), 1 + width)
            }
        };
        items.push(item);
        pos += size;
    }
    if pos + 1 != blob.len() {
        return Err(bad());
    }
    Ok(items)
}

/// A zipmap blob: a count byte, then `len key len free value [free bytes]` pairs, and 0xFF.
/// A length is one byte below 254, or 254 and a 4-byte length.
pub fn zipmap(blob: &[u8]) -> Result<Vec<(Bytes, Bytes)>, String> {
    let bad = || "Zipmap integrity check failed.".to_string();
    let mut pos = 1;
    let mut pairs = Vec::new();
    let len = |pos: &mut usize| -> Result<Option<usize>, String> {
        let b = *blob.get(*pos).ok_or_else(bad)?;
        *pos += 1;
        Ok(match b {
            0..=253 => Some(b as usize),
            254 => {
                let l = blob.get(*pos..*pos + 4).ok_or_else(bad)?;
                *pos += 4;
                Some(u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
            }
            _ => None,
        })
    };
    let take = |pos: &mut usize, n: usize| -> Result<Bytes, String> {
        let s = blob.get(*pos..pos.checked_add(n).ok_or_else(bad)?);
        let s = s.ok_or_else(bad)?;
        *pos += n;
        Ok(Bytes::copy_from_slice(s))
    };
    while let Some(klen) = len(&mut pos)? {
        let field = take(&mut pos, klen)?;
        let vlen = len(&mut pos)?.ok_or_else(bad)?;
        let free = *blob.get(pos).ok_or_else(bad)? as usize;
        pos += 1;
        let value = take(&mut pos, vlen)?;
        take(&mut pos, free)?;
        pairs.push((field, value));
    }
    if pos != blob.len() {
        return Err(bad());
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ziplist built by hand from ziplist.c's layout: each entry's prevlen, encoding, data.
    fn build_ziplist(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = 10;
        for e in entries {
            tail = 10 + body.len();
            let mut entry = Vec::new();
            if prev < 254 {
                entry.push(prev as u8);
            } else {
                entry.push(0xFE);
                entry.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            entry.extend_from_slice(e);
            prev = entry.len();
            body.extend_from_slice(&entry);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
        out.extend_from_slice(&(tail as u32).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xFF);
        out
    }

    fn str6(s: &[u8]) -> Vec<u8> {
        let mut e = vec![s.len() as u8];
        e.extend_from_slice(s);
        e
    }

    #[test]
    fn ziplist_reads_every_encoding() {
        let long = vec![b'x'; 300];
        let mut str14 = vec![0x40 | (300 >> 8) as u8, (300 & 0xff) as u8];
        str14.extend_from_slice(&long);
        let huge = vec![b'y'; 20000];
        let mut str32 = vec![0x80];
        str32.extend_from_slice(&(20000u32).to_be_bytes());
        str32.extend_from_slice(&huge);
        let entries = vec![
            str6(b"hello"),
            str14,
            str32,
            vec![0xC0, 0x39, 0x30],             // int16 12345
            vec![0xD0, 0xFF, 0xFF, 0xFF, 0xFF], // int32 -1
            [vec![0xE0], i64::MIN.to_le_bytes().to_vec()].concat(), // int64
            vec![0xF0, 0x00, 0x00, 0x80],       // int24 -8388608
            vec![0xFE, 0x80],                   // int8 -128
            vec![0xF1],                         // immediate 0
            vec![0xFD],                         // immediate 12
        ];
        let blob = build_ziplist(&entries);
        let items = ziplist(&blob).unwrap();
        let expect: Vec<Bytes> = vec![
            Bytes::from_static(b"hello"),
            Bytes::from(long),
            Bytes::from(huge),
            Bytes::from_static(b"12345"),
            Bytes::from_static(b"-1"),
            Bytes::from(i64::MIN.to_string()),
            Bytes::from_static(b"-8388608"),
            Bytes::from_static(b"-128"),
            Bytes::from_static(b"0"),
            Bytes::from_static(b"12"),
        ];
        assert_eq!(items, expect);
        // A 20000-byte entry makes the next prevlen take the 5-byte form: exercised above.
    }

    #[test]
    fn ziplist_rejects_corruption() {
        let blob = build_ziplist(&[str6(b"abc"), vec![0xC0, 1, 0]]);
        for cut in 0..blob.len() {
            assert!(ziplist(&blob[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = blob.clone();
        bad[11] = 60; // a string length past the end
        assert!(ziplist(&bad).is_err());
        let mut bad = blob;
        bad[16] = 0xFF; // not an encoding
        assert!(ziplist(&bad).is_err());
    }

    #[test]
    fn zipmap_reads_pairs_with_free_bytes() {
        let mut blob = vec![2u8];
        blob.extend_from_slice(&[3, b'f', b'o', b'o', 3, 2, b'b', b'a', b'r', 0, 0]);
        let long = vec![b'v'; 300];
        blob.extend_from_slice(&[1, b'k', 254]);
        blob.extend_from_slice(&300u32.to_le_bytes());
        blob.push(0);
        blob.extend_from_slice(&long);
        blob.push(0xFF);
        let pairs = zipmap(&blob).unwrap();
        assert_eq!(
            pairs,
            vec![
                (Bytes::from_static(b"foo"), Bytes::from_static(b"bar")),
                (Bytes::from_static(b"k"), Bytes::from(long)),
            ]
        );
        for cut in 0..blob.len() {
            assert!(zipmap(&blob[..cut]).is_err(), "cut at {cut}");
        }
    }
}
