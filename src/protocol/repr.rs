//! Redis's quoted form of a string (sdscatrepr): what MONITOR shows, CONFIG REWRITE writes and
//! the logs quote. Depends on nothing in the crate.

use bytes::BufMut;

/// Appends `bytes` to `out` in double quotes, escaped as sdscatrepr escapes them: `\\` `\"`
/// `\n` `\r` `\t` `\a` `\b`, printable ASCII as it is, any other byte as `\xHH`.
pub fn repr_into(bytes: &[u8], out: &mut impl BufMut) {
    out.put_u8(b'"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.put_slice(&[b'\\', b]),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            7 => out.put_slice(b"\\a"),
            8 => out.put_slice(b"\\b"),
            0x20..=0x7e => out.put_u8(b),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.put_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
        }
    }
    out.put_u8(b'"');
}

/// `bytes` quoted as [`repr_into`] quotes them (all ASCII).
pub fn repr(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    repr_into(bytes, &mut out);
    // Only ASCII is written.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_sdscatrepr() {
        assert_eq!(repr(b"a b"), "\"a b\"");
        assert_eq!(
            repr(b"*1\r\n$4\r\nPING\r\n\"\\\t\x07\x08\x00\xff~"),
            "\"*1\\r\\n$4\\r\\nPING\\r\\n\\\"\\\\\\t\\a\\b\\x00\\xff~\""
        );
    }
}
