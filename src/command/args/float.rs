//! Redis's float readers. Every float argument in Redis goes through glibc's strtod/strtold
//! (decimal, hex `0x1.8p3`, `inf`/`infinity` in any case, `nan` refused) wrapped in one of four
//! checks that differ in what they forgive; [`FloatRule`] names them and [`parse_float`] is
//! the one implementation. Pure functions: no replies, no shard.

/// Which of Redis's C readers a float argument goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatRule {
    /// string2d (getDoubleFromObject): scores, weights. The whole text, no leading space;
    /// a value too large for a double or too small to tell from zero is refused.
    Double,
    /// string2ld (getLongDoubleFromObject): INCRBYFLOAT, HINCRBYFLOAT, blocking timeouts.
    /// As `Double` but with long double's range: `1e400` is a number (read here as ±inf,
    /// the nearest double), `1e5000` is not.
    LongDouble,
    /// zslParseRange's bare strtod: leading space allowed, the text ends at a NUL, empty text
    /// is 0, and overflow is kept as ±inf.
    RangeBound,
    /// SORT's strtod: as `RangeBound`, but any range error (overflow, or an inexact result
    /// below the normal doubles) is refused.
    SortWeight,
}

/// Reads `bytes` as Redis reads a float under `rule`; None where Redis answers its
/// not-a-float error. NaN is never a value.
pub fn parse_float(bytes: &[u8], rule: FloatRule) -> Option<f64> {
    match rule {
        FloatRule::Double | FloatRule::LongDouble => {
            if bytes.first().is_some_and(|&b| is_c_space(b)) {
                return None;
            }
            let n = scan(bytes)?;
            let refused = if rule == FloatRule::Double {
                matches!(n.range, Range::Overflow | Range::Zero)
            } else {
                n.long_double_out_of_range()
            };
            (!refused).then_some(n.value)
        }
        FloatRule::RangeBound | FloatRule::SortWeight => {
            // A C string ends at its first NUL; strtod converting nothing leaves the end
            // pointer at the start, so only an empty text passes as 0.
            let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
            if text.is_empty() {
                return Some(0.0);
            }
            let skip = text.iter().take_while(|&&b| is_c_space(b)).count();
            let n = scan(&text[skip..])?;
            if rule == FloatRule::SortWeight && n.range != Range::Exact {
                return None;
            }
            Some(n.value)
        }
    }
}

/// C's isspace in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Where strtod's result falls against a double's range (glibc detects tininess after
/// rounding and reports ERANGE only for inexact tiny results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Range {
    /// No ERANGE.
    Exact,
    /// ERANGE, a nonzero result below the normal doubles.
    Tiny,
    /// ERANGE, rounded to zero.
    Zero,
    /// ERANGE, ±HUGE_VAL.
    Overflow,
}

/// A whole text read by strtod's grammar.
#[derive(Clone, Copy, Debug)]
struct Number {
    /// The value rounded to a double (±inf past its range).
    value: f64,
    range: Range,
    /// log2 of the exact magnitude (approximate); None for zero and for the words inf/infinity.
    log2: Option<f64>,
}

impl Number {
    /// strtold's ERANGE that string2ld refuses: past LDBL_MAX, or below half the smallest
    /// subnormal long double (2^-16446), where it rounds to zero.
    fn long_double_out_of_range(&self) -> bool {
        self.log2.is_some_and(|l| !(-16446.0..16384.0).contains(&l))
    }
}

/// Reads the whole of `text` as strtod would after its leading space (sign, then a decimal,
/// hex or inf/infinity body); None when strtod would stop early or read a NaN.
fn scan(text: &[u8]) -> Option<Number> {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let n = if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        Number {
            value: f64::INFINITY,
            range: Range::Exact,
            log2: None,
        }
    } else if body.len() > 2 && body[0] == b'0' && matches!(body[1], b'x' | b'X') {
        hex(&body[2..])?
    } else {
        decimal(body)?
    };
    Some(Number {
        value: if negative { -n.value } else { n.value },
        ..n
    })
}

/// Splits `digits [. digits] [exp sign? digits]` where `is_digit` tells mantissa digits and
/// `exp` is the exponent letter; None when the text holds anything else or no mantissa digit.
fn split_number(text: &[u8], is_digit: fn(&u8) -> bool, exp: u8) -> Option<(&[u8], &[u8], i64)> {
    let int_len = text.iter().take_while(|b| is_digit(b)).count();
    let (int, mut rest) = text.split_at(int_len);
    let mut frac: &[u8] = &[];
    if let Some(after) = rest.strip_prefix(b".") {
        let n = after.iter().take_while(|b| is_digit(b)).count();
        (frac, rest) = after.split_at(n);
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exponent = 0i64;
    if let Some((&e, after)) = rest.split_first() {
        if !e.eq_ignore_ascii_case(&exp) {
            return None;
        }
        let (negative, digits) = match after.first() {
            Some(b'-') => (true, &after[1..]),
            Some(b'+') => (false, &after[1..]),
            _ => (false, after),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Saturates far past any double's range; larger exponents read the same.
        for &d in digits {
            exponent = (exponent * 10 + i64::from(d - b'0')).min(1 << 50);
        }
        if negative {
            exponent = -exponent;
        }
    }
    Some((int, frac, exponent))
}

/// A decimal body: Rust's reader rounds it exactly as glibc does; the range is read off
/// the result and the digits.
fn decimal(body: &[u8]) -> Option<Number> {
    let (int, frac, exponent) = split_number(body, u8::is_ascii_digit, b'e')?;
    let value: f64 = std::str::from_utf8(body).ok()?.parse().ok()?;
    let digits = int.iter().chain(frac);
    let Some(first) = digits.clone().position(|&d| d != b'0') else {
        return Some(Number {
            value,
            range: Range::Exact,
            log2: None,
        });
    };
    let lead = digits
        .skip(first)
        .take(17)
        .fold(0.0, |acc, &d| acc * 10.0 + f64::from(d - b'0'));
    let taken = (int.len() + frac.len() - first).min(17) as f64;
    let e10 = exponent as f64 + int.len() as f64 - first as f64 - taken;
    let log2 = (lead.log10() + e10) * std::f64::consts::LOG2_10;
    let range = if value.is_infinite() {
        Range::Overflow
    } else if value == 0.0 {
        Range::Zero
    } else if value < f64::MIN_POSITIVE {
        // A decimal subnormal is never exact short of hundreds of digits.
        Range::Tiny
    } else {
        Range::Exact
    };
    Some(Number {
        value,
        range,
        log2: Some(log2),
    })
}

/// A hex body after `0x`: mantissa bits kept in a u64 (the rest as a sticky bit), then
/// rounded to nearest-even at the double's precision, subnormals included.
fn hex(body: &[u8]) -> Option<Number> {
    let (int, frac, exponent) = split_number(body, u8::is_ascii_hexdigit, b'p')?;
    let (mut m, mut exp2, mut sticky) = (0u64, exponent, false);
    for (i, &c) in int.iter().chain(frac).enumerate() {
        let d = (c as char).to_digit(16).unwrap_or(0) as u64;
        let fractional = i >= int.len();
        if m < 1 << 60 {
            m = m * 16 + d;
            if fractional {
                exp2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !fractional {
                exp2 += 4;
            }
        }
    }
    if m == 0 {
        return Some(Number {
            value: 0.0,
            range: Range::Exact,
            log2: None,
        });
    }
    let top = 63 - i64::from(m.leading_zeros());
    let e2 = top + exp2;
    let log2 = e2 as f64 + (m as f64).log2() - top as f64;
    // The result's unit in the last place: 53 significant bits, no finer than 2^-1074.
    let ulp = (e2 - 52).max(-1074);
    let (mut q, inexact) = round_shift(m, ulp - exp2, sticky);
    // Tininess after rounding to 53 bits with an unbounded exponent, as glibc tests it.
    let tiny = e2 < -1023 || (e2 == -1023 && round_shift(m, top - 52, sticky).0 < 1 << 53);
    let mut ulp = ulp;
    if q == 1 << 53 {
        q >>= 1;
        ulp += 1;
    }
    let (value, range) = if q == 0 {
        (0.0, Range::Zero)
    } else if q < 1 << 52 {
        let range = if inexact { Range::Tiny } else { Range::Exact };
        (f64::from_bits(q), range)
    } else if ulp + 52 + 1023 > 2046 {
        (f64::INFINITY, Range::Overflow)
    } else {
        let bits = (((ulp + 52 + 1023) as u64) << 52) | (q - (1 << 52));
        let range = if tiny && inexact {
            Range::Tiny
        } else {
            Range::Exact
        };
        (f64::from_bits(bits), range)
    };
    Some(Number {
        value,
        range,
        log2: Some(log2),
    })
}

/// `m` (plus a sticky fraction) shifted right by `shift` bits (left when negative), rounded
/// to nearest, ties to even; and whether bits were lost.
fn round_shift(m: u64, shift: i64, sticky: bool) -> (u64, bool) {
    if shift <= 0 {
        // Only when m holds fewer than 53 significant bits: the shift stays below 64.
        return (m << (-shift).min(63), sticky);
    }
    if shift > 64 {
        return (0, true);
    }
    let wide = u128::from(m);
    let q = (wide >> shift) as u64;
    let half = (wide >> (shift - 1)) & 1 == 1;
    let rest = wide & ((1u128 << (shift - 1)) - 1) != 0 || sticky;
    let up = half && (rest || q & 1 == 1);
    (q + u64::from(up), half || rest)
}

#[cfg(test)]
mod tests {
    use super::FloatRule::*;
    use super::*;

    fn all(text: &[u8]) -> [Option<f64>; 4] {
        [Double, LongDouble, RangeBound, SortWeight].map(|r| parse_float(text, r))
    }

    #[test]
    fn decimal_and_words() {
        assert_eq!(all(b"1.5"), [Some(1.5); 4]);
        assert_eq!(parse_float(b"-1e3", Double), Some(-1000.0));
        assert_eq!(parse_float(b".5", Double), Some(0.5));
        assert_eq!(parse_float(b"5.", Double), Some(5.0));
        assert_eq!(parse_float(b"+2E+2", Double), Some(200.0));
        assert_eq!(parse_float(b"INFINITY", Double), Some(f64::INFINITY));
        assert_eq!(parse_float(b"-Inf", Double), Some(f64::NEG_INFINITY));
        for bad in [
            &b"."[..],
            b"1e",
            b"1e+",
            b"e1",
            b"1_0",
            b"--1",
            b"+-1",
            b"infin",
            b"0x",
        ] {
            assert_eq!(all(bad), [None; 4], "{:?}", String::from_utf8_lossy(bad));
        }
        for nan in [&b"nan"[..], b"NaN", b"-nan", b"nan(1)"] {
            assert_eq!(all(nan), [None; 4]);
        }
    }

    #[test]
    fn hex_floats() {
        assert_eq!(parse_float(b"0x10", Double), Some(16.0));
        assert_eq!(parse_float(b"0X1P3", Double), Some(8.0));
        assert_eq!(parse_float(b"0x.8", Double), Some(0.5));
        assert_eq!(parse_float(b"0x1.", Double), Some(1.0));
        assert_eq!(parse_float(b"-0x1.8p-1", Double), Some(-0.75));
        assert_eq!(parse_float(b"0x1p-1074", Double), Some(f64::from_bits(1)));
        assert_eq!(parse_float(b"0x1.8p-1075", Double), Some(f64::from_bits(1)));
        assert_eq!(parse_float(b"0x1p-1075", Double), None);
        assert_eq!(parse_float(b"0x1p1023", Double), Some(2f64.powi(1023)));
        assert_eq!(
            parse_float(b"0x1.fffffffffffff7p1023", Double),
            Some(f64::MAX)
        );
        assert_eq!(parse_float(b"0x1.fffffffffffff8p1023", Double), None);
        assert_eq!(parse_float(b"0x1p1024", Double), None);
        let long = b"0x1.000000000000000000000000000000000000000001p0";
        assert_eq!(parse_float(long, Double), Some(1.0));
        // Ties go to even; a sticky bit past the tie rounds up.
        assert_eq!(parse_float(b"0x1.00000000000008p0", Double), Some(1.0));
        assert_eq!(
            parse_float(b"0x1.000000000000080000001p0", Double),
            Some(1.0 + f64::EPSILON)
        );
        assert_eq!(parse_float(b"0x1p", Double), None);
        assert_eq!(parse_float(b"0x1p+2", Double), Some(4.0));
        assert_eq!(
            parse_float(b"-0x0", Double).map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
    }

    #[test]
    fn string2d_refuses_space_overflow_and_underflow() {
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"\t1",
            b"1\0",
            b"1e400",
            b"1e-400",
            b"-1e400",
        ] {
            assert_eq!(parse_float(bad, Double), None);
        }
        assert_eq!(parse_float(b"1e-310", Double), Some(1e-310));
    }

    #[test]
    fn string2ld_has_long_double_range() {
        assert_eq!(parse_float(b"1e400", LongDouble), Some(f64::INFINITY));
        assert_eq!(parse_float(b"1e-400", LongDouble), Some(0.0));
        assert_eq!(parse_float(b"1e4933", LongDouble), None);
        assert_eq!(parse_float(b"1e-4952", LongDouble), None);
        assert_eq!(parse_float(b"0x1p16384", LongDouble), None);
        assert_eq!(parse_float(b"0x1p16383", LongDouble), Some(f64::INFINITY));
        assert_eq!(parse_float(b" 1", LongDouble), None);
    }

    #[test]
    fn strtod_prefix_rules() {
        assert_eq!(parse_float(b"", RangeBound), Some(0.0));
        assert_eq!(parse_float(b"\0", RangeBound), Some(0.0));
        assert_eq!(parse_float(b" 1", RangeBound), Some(1.0));
        assert_eq!(parse_float(b"\t\n1", SortWeight), Some(1.0));
        assert_eq!(parse_float(b"1\0zz", RangeBound), Some(1.0));
        assert_eq!(parse_float(b" ", RangeBound), None);
        assert_eq!(parse_float(b"1 ", RangeBound), None);
        assert_eq!(parse_float(b"1e400", RangeBound), Some(f64::INFINITY));
        assert_eq!(parse_float(b"1e400", SortWeight), None);
        assert_eq!(parse_float(b"1e-400", SortWeight), None);
        assert_eq!(parse_float(b"1e-310", SortWeight), None);
        assert_eq!(
            parse_float(b"0x1p-1074", SortWeight),
            Some(f64::from_bits(1))
        );
        assert_eq!(parse_float(b"0x1.8p-1074", SortWeight), None);
        assert_eq!(
            parse_float(b"0x1.fffffffffffff8p-1023", SortWeight),
            Some(f64::MIN_POSITIVE)
        );
        assert_eq!(parse_float(b"0x1.fffffffffffffp-1023", SortWeight), None);
        assert_eq!(parse_float(b"inf", SortWeight), Some(f64::INFINITY));
    }
}
