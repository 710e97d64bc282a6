//! Redis's HyperLogLog string format ("HYLL"), byte for byte: a 16-byte header (magic, encoding,
//! three unused bytes, the cached cardinality little-endian with bit 63 meaning "stale"), then
//! either 16384 six-bit registers packed LSB first (dense) or run-length opcodes (sparse: ZERO
//! `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy`, VAL `1vvvvvxx`). Every edit follows Redis's own
//! steps (the same opcode splits, the same merge of neighbouring VALs, the same promotion
//! point), so the bytes match redis-server's for the same inputs. Depends on nothing.

/// Register index bits: 2^14 registers.
const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
/// Hash bits left after the index.
const Q: u32 = 64 - P;
const REGISTER_MAX: u8 = 63;
pub const HDR: usize = 16;
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// A string that claims to be an HLL but whose registers do not add up.
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// MurmurHash64A, as Redis computes it on little-endian machines.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the length of its hash's `0..01` run (1..=Q+1).
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// An empty HLL as Redis creates it: sparse, one XZERO run over every register, cardinality 0.
pub fn create() -> Vec<u8> {
    let mut v = vec![0u8; HDR];
    v[..4].copy_from_slice(b"HYLL");
    v[4] = SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_LEN);
        v.extend_from_slice(&xzero(run));
        left -= run;
    }
    v
}

/// Whether `s` has an HLL's header (Redis's isHLLObjectOrReply; the registers are checked
/// when read).
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

pub fn is_dense(s: &[u8]) -> bool {
    s[4] == DENSE
}

/// The cached cardinality, when it is not stale.
pub fn cached(s: &[u8]) -> Option<u64> {
    (s[15] & 0x80 == 0).then(|| u64::from_le_bytes(s[8..16].try_into().unwrap_or([0; 8])))
}

pub fn set_cached(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [0x40 | ((l >> 8) as u8 & 0x3f), l as u8]
}

fn zero(len: usize) -> u8 {
    (len - 1) as u8
}

fn val(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}

fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}

fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    (b & 3) as usize + 1
}

/// One sparse opcode at `p`: (registers covered, value, bytes taken). A truncated XZERO reads
/// a zero second byte, as Redis reads the string's terminator.
fn opcode(s: &[u8], p: usize) -> (usize, u8, usize) {
    let b = s[p];
    if is_zero(b) {
        ((b & 0x3f) as usize + 1, 0, 1)
    } else if is_xzero(b) {
        let lo = s.get(p + 1).copied().unwrap_or(0) as usize;
        ((((b & 0x3f) as usize) << 8 | lo) + 1, 0, 2)
    } else {
        (val_len(b), val_value(b), 1)
    }
}

/// Walks the sparse opcodes, calling `each(first_register, run, value)`; Corrupt when the runs
/// overflow or do not cover exactly every register.
fn walk_sparse(s: &[u8], mut each: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let mut p = HDR;
    let mut idx = 0;
    while p < s.len() {
        let (run, value, len) = opcode(s, p);
        if idx + run > REGISTERS {
            return Err(Corrupt);
        }
        each(idx, run, value);
        idx += run;
        p += len;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Register `i` of the dense register area `r`.
pub fn dense_get(r: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let (byte, fb) = (bit / 8, bit % 8);
    let b0 = r[byte] as u16;
    let b1 = r.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u16) as u8
}

pub fn dense_put(r: &mut [u8], i: usize, value: u8) {
    let bit = i * 6;
    let (byte, fb) = (bit / 8, bit % 8);
    let v = value as u16;
    r[byte] &= !((REGISTER_MAX as u16) << fb) as u8;
    r[byte] |= (v << fb) as u8;
    if let Some(next) = r.get_mut(byte + 1) {
        *next &= !((REGISTER_MAX as u16) >> (8 - fb)) as u8;
        *next |= (v >> (8 - fb)) as u8;
    }
}

/// Raises dense register `i` to `count`; true when it grew.
fn dense_set(s: &mut [u8], i: usize, count: u8) -> bool {
    let r = &mut s[HDR..];
    if count > dense_get(r, i) {
        dense_put(r, i, count);
        true
    } else {
        false
    }
}

/// Converts a sparse HLL to dense in place (a dense one is left alone), keeping the header.
pub fn to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if is_dense(s) {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    walk_sparse(s, |first, run, value| {
        if value > 0 {
            for i in first..first + run {
                dense_put(&mut dense[HDR..], i, value);
            }
        }
    })?;
    *s = dense;
    Ok(())
}

/// Adds an element; true when a register grew (the caller marks the cache stale).
pub fn add(s: &mut Vec<u8>, element: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    set(s, index, count, sparse_max)
}

/// Raises register `index` to `count` in either encoding.
pub fn set(s: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if is_dense(s) {
        Ok(dense_set(s, index, count))
    } else {
        sparse_set(s, index, count, sparse_max)
    }
}

/// Redis's hllSparseSet: split the opcode holding `index` into at most five, promote to dense
/// when a value exceeds 32 or the string would pass `sparse_max` bytes, then merge adjacent
/// equal VALs around the edit.
fn sparse_set(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    let mut p = HDR;
    let mut first = 0;
    let mut prev = None;
    let mut span = 0;
    let mut oplen = 1;
    while p < s.len() {
        let (run, _, len) = opcode(s, p);
        span = run;
        oplen = len;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += len;
        first += span;
    }
    if span == 0 || p >= s.len() {
        return Err(Corrupt);
    }
    let b = s[p];
    let updated = if is_val(b) && val_value(b) >= count {
        return Ok(false);
    } else if (is_val(b) && val_len(b) == 1) || (is_zero(b) && span == 1) {
        s[p] = val(count, 1);
        true
    } else {
        false
    };
    if !updated {
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        let gap = |seq: &mut Vec<u8>, len: usize, cur: Option<u8>| match cur {
            Some(v) => seq.push(val(v, len)),
            None if len > ZERO_MAX_LEN => seq.extend_from_slice(&xzero(len)),
            None => seq.push(zero(len)),
        };
        let cur = is_val(b).then(|| val_value(b));
        if index != first {
            gap(&mut seq, index - first, cur);
        }
        seq.push(val(count, 1));
        if index != last {
            gap(&mut seq, last - index, cur);
        }
        let grows = seq.len() > oplen;
        if grows && s.len() + seq.len() - oplen > sparse_max {
            return promote(s, index, count);
        }
        let old_end = (p + oplen).min(s.len());
        s.splice(p..old_end, seq);
    }
    merge_vals(s, prev.unwrap_or(HDR));
    invalidate(s);
    Ok(true)
}

/// Joins adjacent VAL opcodes of equal value (up to the longest run a VAL holds), scanning at
/// most five opcodes from `p`, as Redis does after each sparse edit.
fn merge_vals(s: &mut Vec<u8>, mut p: usize) {
    let mut scans = 5;
    while p < s.len() {
        if scans == 0 {
            break;
        }
        scans -= 1;
        let b = s[p];
        if is_xzero(b) {
            p += 2;
            continue;
        }
        if is_zero(b) {
            p += 1;
            continue;
        }
        if let Some(&n) = s.get(p + 1) {
            if is_val(n) && val_value(b) == val_value(n) {
                let len = val_len(b) + val_len(n);
                if len <= VAL_MAX_LEN {
                    s[p + 1] = val(val_value(b), len);
                    s.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    Ok(dense_set(s, index, count))
}

/// Raises `max[i]` to each register of the HLL `s` (Redis's hllMerge).
pub fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    if is_dense(s) {
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(&s[HDR..], i));
        }
        return Ok(());
    }
    walk_sparse(s, |first, run, value| {
        for m in &mut max[first..first + run] {
            *m = (*m).max(value);
        }
    })
}

/// The register values of the HLL `s`, one byte each.
pub fn registers(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut r = vec![0u8; REGISTERS];
    merge_into(&mut r, s)?;
    Ok(r)
}

/// The estimated cardinality of the HLL `s`.
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histogram = [0u32; 64];
    if is_dense(s) {
        for i in 0..REGISTERS {
            histogram[dense_get(&s[HDR..], i) as usize] += 1;
        }
    } else {
        walk_sparse(s, |_, run, value| histogram[value as usize] += run as u32)?;
    }
    Ok(estimate(&histogram))
}

/// The estimated cardinality of one-byte-per-register values (a merge of several HLLs).
pub fn count_raw(registers: &[u8]) -> u64 {
    let mut histogram = [0u32; 64];
    for r in registers {
        histogram[(*r & 63) as usize] += 1;
    }
    estimate(&histogram)
}

/// Ertl's improved estimator over the register histogram, in Redis's order of operations (the
/// result must agree with redis-server's to the unit).
fn estimate(histogram: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powf(2.0) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// PFDEBUG DECODE's rendering of the sparse opcodes.
pub fn decode(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR;
    while p < s.len() {
        let b = s[p];
        let (run, value, len) = opcode(s, p);
        out.push(if is_zero(b) {
            format!("z:{run}")
        } else if is_xzero(b) {
            format!("Z:{run}")
        } else {
            format!("v:{value},{run}")
        });
        p += len;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_is_redis_bytes() {
        let h = create();
        assert_eq!(h.len(), 18);
        assert_eq!(&h[16..], &[0x7f, 0xff]);
        assert_eq!(count(&h), Ok(0));
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut r = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_put(&mut r, i, (i * 7 % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&r, i), (i * 7 % 64) as u8);
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = create();
        let mut dense = create();
        to_dense(&mut dense).unwrap();
        for i in 0..2000u32 {
            add(&mut sparse, &i.to_le_bytes(), 1 << 20).unwrap();
            add(&mut dense, &i.to_le_bytes(), 1 << 20).unwrap();
        }
        assert!(!is_dense(&sparse));
        assert_eq!(count(&sparse), count(&dense));
        assert_eq!(registers(&sparse), registers(&dense));
        let n = count(&sparse).unwrap() as f64;
        assert!((n - 2000.0).abs() < 2000.0 * 0.05, "{n}");
    }

    #[test]
    fn corrupt_runs_are_refused() {
        let mut h = create();
        h.push(0x00);
        assert_eq!(count(&h), Err(Corrupt));
        h.truncate(17);
        assert_eq!(count(&h), Err(Corrupt));
        // A truncated XZERO reads as a shorter run: no panic whatever the edit does.
        let _ = add(&mut h, b"x", 3000);
        assert_eq!(to_dense(&mut h), Err(Corrupt));
    }
}
