//! LZF decompression (the compressed strings redis-server writes with `rdbcompression yes`).

/// Decompresses `input` into exactly `expected` bytes; None when the data is corrupt.
pub fn decompress(input: &[u8], expected: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(expected);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let run = ctrl + 1;
            let literal = input.get(i..i + run)?;
            if out.len() + run > expected {
                return None;
            }
            out.extend_from_slice(literal);
            i += run;
        } else {
            // A back reference: length (3 bits, extended by one byte) and distance (13 bits).
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let distance = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let len = len + 2;
            if distance > out.len() || out.len() + len > expected {
                return None;
            }
            let start = out.len() - distance;
            // Byte by byte: the source may overlap what is being written.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == expected).then_some(out)
}
