//! Reply values and their RESP2/RESP3 wire encoding. Depends on nothing but `bytes`.
//!
//! A handler builds a [`Reply`] wherever the data lives (it is `Send`); the connection encodes it
//! in the protocol it negotiated. Encoding runs for every reply, so it reserves once, writes
//! integers with a small digit routine, and copies each payload exactly once.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

/// Which protocol the connection speaks (HELLO 2 / HELLO 3): the same reply value is framed
/// differently in each, so the encoder needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, what every connection starts with.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`: adds maps, sets, doubles, booleans, nulls, verbatim and push.
    Resp3,
}

/// A reply value, encoded per protocol. Built on the shard (it is Send) and encoded on the
/// connection's core, so shard code never needs to know which protocol a client speaks.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `+text` from a constant, e.g. "OK", "PONG", "QUEUED".
    Simple(&'static str),
    /// `+text` built at run time (the encoder replaces any \r or \n with a space).
    Status(String),
    /// `-text` — the text includes the code, e.g. "ERR syntax error", "WRONGTYPE Operation ...";
    /// \r and \n in it become spaces.
    Error(Cow<'static, str>),
    /// `:n`
    Int(i64),
    /// `$len\r\ndata\r\n`
    Bulk(Bytes),
    /// A short bulk string carried in the reply itself (see [`Reply::bulk_copy`]).
    ShortBulk(ShortBulk),
    /// null bulk: RESP2 `$-1`, RESP3 `_`
    Nil,
    /// null array: RESP2 `*-1`, RESP3 `_`
    NilArray,
    /// `*n`
    Array(Vec<Reply>),
    /// RESP3 `%n` with n pairs; RESP2: flat `*2n` array.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~n`; RESP2: array.
    Set(Vec<Reply>),
    /// RESP3 `*n` of 2-element arrays; RESP2: flat `*2n` array (ZRANGE WITHSCORES, HRANDFIELD
    /// WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// RESP3 `,x`; RESP2: bulk string of the same text. The text is what Redis 7.2 prints:
    /// integral values within ±2^62 as integers ("3"), otherwise the shortest digits that
    /// round-trip, laid out like Redis's fpconv_dtoa (exponent form for very large or small
    /// magnitudes, e.g. "1e+20", "1.5e-7"); "inf", "-inf", "nan", "-0".
    Double(f64),
    /// RESP3 `,text`; RESP2: bulk string of the same text. For a double Redis prints with
    /// its own digits (GEOPOS's coordinates: `%.17Lf` without trailing zeros).
    DoubleText(Bytes),
    /// RESP3 `#t`/`#f`; RESP2 `:1`/`:0`.
    Bool(bool),
    /// RESP3 verbatim `=len\r\nfmt:data\r\n` (format is 3 chars, e.g. "txt"); RESP2 plain bulk.
    Verbatim(&'static str, Bytes),
    /// RESP3 `>n` push; RESP2 `*n` array.
    Push(Vec<Reply>),
    /// RESP3 `(digits` big number; RESP2: bulk string of the digits.
    BigNum(Bytes),
    /// RESP3 `|n` attribute pairs, which precede a reply and are not one (RESP2: nothing).
    Attribute(Vec<(Reply, Reply)>),
    /// Several top-level replies for one command, written one after another (SUBSCRIBE a b
    /// answers once per channel).
    Sequence(Vec<Reply>),
}

/// Equal replies encode alike: a bulk string equals another whichever form each takes.
impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        use Reply::*;
        if let (Some(a), Some(b)) = (self.as_bulk(), other.as_bulk()) {
            return a == b;
        }
        match (self, other) {
            (Simple(a), Simple(b)) => a == b,
            (Status(a), Status(b)) => a == b,
            (Error(a), Error(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Nil, Nil) | (NilArray, NilArray) => true,
            (Array(a), Array(b))
            | (Set(a), Set(b))
            | (Push(a), Push(b))
            | (Sequence(a), Sequence(b)) => a == b,
            (Map(a), Map(b)) | (Pairs(a), Pairs(b)) | (Attribute(a), Attribute(b)) => a == b,
            (BigNum(a), BigNum(b)) => a == b,
            (Double(a), Double(b)) => a == b,
            (DoubleText(a), DoubleText(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Verbatim(f, a), Verbatim(g, b)) => f == g && a == b,
            _ => false,
        }
    }
}

/// Most bytes a [`Reply::ShortBulk`] carries: what fits beside the tag in the room the largest
/// other variant already takes, so the reply does not grow.
pub const SHORT_BULK: usize = 54;

/// A bulk string of at most [`SHORT_BULK`] bytes held inline: a reply to GET of a small value
/// copies the bytes here instead of sharing the stored buffer, so building, moving it across
/// cores and dropping it touch no reference count and no allocation.
#[derive(Clone, Copy)]
pub struct ShortBulk {
    len: u8,
    data: [u8; SHORT_BULK],
}

impl ShortBulk {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

impl std::fmt::Debug for ShortBulk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", Bytes::copy_from_slice(self.as_bytes()))
    }
}

impl PartialEq for ShortBulk {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// The text Redis 7.2 gives `value` in a reply (see [`Reply::Double`]); Lua scripts pass
/// numbers to commands this way.
pub fn double_text(value: f64) -> String {
    let mut buf = [0u8; MAX_DOUBLE_LEN];
    String::from_utf8_lossy(format_double(value, &mut buf)).into_owned()
}

/// Longest decimal i64 ("-9223372036854775808").
pub const MAX_INT_LEN: usize = 20;

/// Longest text [`format_double`] produces; see the bound argued there.
const MAX_DOUBLE_LEN: usize = 32;

impl Reply {
    /// `Reply::Error` from a static text: the common case, with no allocation.
    pub fn error(text: &'static str) -> Reply {
        Reply::Error(Cow::Borrowed(text))
    }

    /// A bulk reply holding a copy of `data`: inline when short, else in its own buffer.
    pub fn bulk_copy(data: &[u8]) -> Reply {
        if data.len() <= SHORT_BULK {
            let mut short = ShortBulk {
                len: data.len() as u8,
                data: [0; SHORT_BULK],
            };
            short.data[..data.len()].copy_from_slice(data);
            Reply::ShortBulk(short)
        } else {
            Reply::Bulk(Bytes::copy_from_slice(data))
        }
    }

    /// A bulk reply of a stored value: a copy when short (see [`ShortBulk`]), else the value's
    /// buffer, shared.
    pub fn bulk_of(data: &Bytes) -> Reply {
        if data.len() <= SHORT_BULK {
            Reply::bulk_copy(data)
        } else {
            Reply::Bulk(data.clone())
        }
    }

    /// The bytes of a bulk reply (either form).
    pub fn as_bulk(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(data) => Some(data),
            Reply::ShortBulk(short) => Some(short.as_bytes()),
            _ => None,
        }
    }

    /// `Reply::Error` from an owned text, for errors that quote user input or numbers.
    pub fn error_owned(text: String) -> Reply {
        Reply::Error(Cow::Owned(text))
    }

    /// Appends the encoding to `out`, reserving the whole size up front so that a large array
    /// grows the buffer once.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        if let Some(bytes) = self.constant(proto) {
            out.extend_from_slice(bytes);
            return;
        }
        out.reserve(self.size_bound());
        self.write(proto, out);
    }

    /// The fixed encoding of the most frequent small replies, if this is one of them.
    fn constant(&self, proto: Protocol) -> Option<&'static [u8]> {
        Some(match (self, proto) {
            (Reply::Simple("OK"), _) => b"+OK\r\n",
            (Reply::Int(0), _) | (Reply::Bool(false), Protocol::Resp2) => b":0\r\n",
            (Reply::Int(1), _) | (Reply::Bool(true), Protocol::Resp2) => b":1\r\n",
            (Reply::Nil, Protocol::Resp2) => b"$-1\r\n",
            (Reply::NilArray, Protocol::Resp2) => b"*-1\r\n",
            (Reply::Nil | Reply::NilArray, Protocol::Resp3) => b"_\r\n",
            (Reply::Bool(true), Protocol::Resp3) => b"#t\r\n",
            (Reply::Bool(false), Protocol::Resp3) => b"#f\r\n",
            _ => return None,
        })
    }

    /// An upper bound on the encoded size in either protocol, so `encode` can reserve once.
    fn size_bound(&self) -> usize {
        // Marker, number, CRLF.
        const HEADER: usize = 1 + MAX_INT_LEN + 2;
        match self {
            Reply::Simple(text) => text.len() + 3,
            Reply::Status(text) => text.len() + 3,
            Reply::Error(text) => text.len() + 3,
            Reply::Int(_) | Reply::Nil | Reply::NilArray | Reply::Bool(_) => HEADER,
            Reply::Bulk(data) => HEADER + data.len() + 2,
            Reply::ShortBulk(short) => HEADER + short.len as usize + 2,
            Reply::Verbatim(format, data) => HEADER + format.len() + 1 + data.len() + 2,
            Reply::Double(_) => HEADER + MAX_DOUBLE_LEN + 2,
            Reply::DoubleText(text) | Reply::BigNum(text) => HEADER + text.len() + 2,
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
                HEADER + items.iter().map(|r| r.size_bound()).sum::<usize>()
            }
            Reply::Sequence(items) => items.iter().map(|r| r.size_bound()).sum::<usize>(),
            Reply::Map(pairs) | Reply::Pairs(pairs) | Reply::Attribute(pairs) => {
                let entries = pairs
                    .iter()
                    .map(|(k, v)| HEADER + k.size_bound() + v.size_bound());
                HEADER + entries.sum::<usize>()
            }
        }
    }

    fn write(&self, proto: Protocol, out: &mut BytesMut) {
        if let Some(bytes) = self.constant(proto) {
            out.put_slice(bytes);
            return;
        }
        let resp3 = proto == Protocol::Resp3;
        match self {
            Reply::Simple(text) => write_line(out, b'+', text.as_bytes()),
            Reply::Status(text) => write_line(out, b'+', text.as_bytes()),
            Reply::Error(text) => write_line(out, b'-', text.as_bytes()),
            Reply::Int(n) => write_header(out, b':', *n),
            Reply::Bulk(data) => write_bulk(out, data),
            Reply::ShortBulk(short) => write_bulk(out, short.as_bytes()),
            Reply::Array(items) => write_items(out, b'*', items, proto),
            Reply::Set(items) => write_items(out, if resp3 { b'~' } else { b'*' }, items, proto),
            Reply::Push(items) => write_items(out, if resp3 { b'>' } else { b'*' }, items, proto),
            Reply::Sequence(items) => items.iter().for_each(|r| r.write(proto, out)),
            Reply::Map(pairs) => {
                if resp3 {
                    write_header(out, b'%', len_i64(pairs.len()));
                } else {
                    write_header(out, b'*', len_i64(pairs.len()).saturating_mul(2));
                }
                for (key, value) in pairs {
                    key.write(proto, out);
                    value.write(proto, out);
                }
            }
            Reply::Pairs(pairs) => {
                let n = len_i64(pairs.len());
                write_header(out, b'*', if resp3 { n } else { n.saturating_mul(2) });
                for (key, value) in pairs {
                    if resp3 {
                        write_header(out, b'*', 2);
                    }
                    key.write(proto, out);
                    value.write(proto, out);
                }
            }
            Reply::Double(value) => {
                let mut buf = [0u8; MAX_DOUBLE_LEN];
                let text = format_double(*value, &mut buf);
                if resp3 {
                    write_line(out, b',', text);
                } else {
                    write_bulk(out, text);
                }
            }
            Reply::DoubleText(text) => {
                if resp3 {
                    write_line(out, b',', text);
                } else {
                    write_bulk(out, text);
                }
            }
            Reply::BigNum(digits) => {
                if resp3 {
                    write_line(out, b'(', digits);
                } else {
                    write_bulk(out, digits);
                }
            }
            Reply::Attribute(pairs) => {
                if resp3 {
                    write_header(out, b'|', len_i64(pairs.len()));
                    for (key, value) in pairs {
                        key.write(proto, out);
                        value.write(proto, out);
                    }
                }
            }
            Reply::Verbatim(format, data) => {
                if resp3 {
                    write_header(out, b'=', len_i64(format.len() + 1 + data.len()));
                    out.put_slice(format.as_bytes());
                    out.put_u8(b':');
                    out.put_slice(data);
                    out.put_slice(b"\r\n");
                } else {
                    write_bulk(out, data);
                }
            }
            // Always answered by `constant`.
            Reply::Nil | Reply::NilArray | Reply::Bool(_) => {}
        }
    }
}

fn len_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// `marker text CRLF`, with CR and LF inside the text turned into spaces so that the text
/// cannot end the line early and inject protocol.
/// Encodes a push of bulk strings (a pub/sub message) exactly as a `Reply::Push` of
/// `Reply::Bulk`s, without building the reply: no allocation, no buffer reference counts.
pub fn encode_bulk_push(proto: Protocol, parts: &[&[u8]], out: &mut BytesMut) {
    out.reserve(
        parts
            .iter()
            .map(|p| p.len() + 2 + 1 + MAX_INT_LEN + 2)
            .sum::<usize>()
            + 24,
    );
    let marker = if proto == Protocol::Resp3 { b'>' } else { b'*' };
    write_header(out, marker, len_i64(parts.len()));
    for part in parts {
        write_bulk(out, part);
    }
}

fn write_line(out: &mut BytesMut, marker: u8, text: &[u8]) {
    out.put_u8(marker);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

fn write_bulk(out: &mut BytesMut, data: &[u8]) {
    write_header(out, b'$', len_i64(data.len()));
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn write_items(out: &mut BytesMut, marker: u8, items: &[Reply], proto: Protocol) {
    write_header(out, marker, len_i64(items.len()));
    for item in items {
        item.write(proto, out);
    }
}

/// `marker n CRLF`.
fn write_header(out: &mut BytesMut, marker: u8, n: i64) {
    let mut buf = [0u8; 1 + MAX_INT_LEN + 2];
    buf[0] = marker;
    let len = 1 + write_int(n, &mut buf[1..]);
    buf[len] = b'\r';
    buf[len + 1] = b'\n';
    out.put_slice(&buf[..len + 2]);
}

/// Writes `n` in decimal at the start of `buf` (which holds at least MAX_INT_LEN bytes) and
/// returns the length.
pub fn write_int(n: i64, buf: &mut [u8]) -> usize {
    let mut digits = [0u8; MAX_INT_LEN];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        digits[at] = b'-';
    }
    let len = digits.len() - at;
    buf[..len].copy_from_slice(&digits[at..]);
    len
}

/// A fixed-size `fmt::Write` sink, so a double can be formatted without a heap allocation.
struct StackText<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl std::fmt::Write for StackText<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Redis's double2ll bound: integral doubles within ±(i64::MAX / 2) print as integers.
const INTEGRAL_LIMIT: f64 = (i64::MAX / 2) as f64;

/// Formats `value` as Redis 7.2's d2string does and returns the text (a prefix of `buf`).
///
/// Redis takes Grisu2's digits; this takes Rust's shortest round-trip digits (the two agree
/// except in rare cases where Grisu2 emits a longer string) and lays them out by fpconv's rules.
/// With n ≤ 17 digits the longest layouts are "-0.000000" + 17 digits (26 bytes), the plain
/// integer form (at most n + 7 digits plus sign) and "-d.ddddddddddddddde-308" (24 bytes), all
/// within MAX_DOUBLE_LEN.
fn format_double(value: f64, buf: &mut [u8; MAX_DOUBLE_LEN]) -> &[u8] {
    if value.is_nan() {
        return b"nan";
    }
    if value.is_infinite() {
        return if value < 0.0 { b"-inf" } else { b"inf" };
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            b"-0"
        } else {
            b"0"
        };
    }
    if (-INTEGRAL_LIMIT..=INTEGRAL_LIMIT).contains(&value) && value.fract() == 0.0 {
        let len = write_int(value as i64, &mut buf[..]);
        return &buf[..len];
    }

    // Shortest digits and decimal exponent, from "d.ddde±x".
    let mut sci = [0u8; MAX_DOUBLE_LEN];
    let mut sink = StackText {
        buf: &mut sci,
        len: 0,
    };
    if std::fmt::write(&mut sink, format_args!("{:e}", value.abs())).is_err() {
        return b"nan";
    }
    let sci_len = sink.len;
    let sci = &sci[..sci_len];
    let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
    let mut digits = [0u8; MAX_DOUBLE_LEN];
    let mut ndigits = 0;
    for &b in sci[..e_at].iter().filter(|b| b.is_ascii_digit()) {
        digits[ndigits] = b;
        ndigits += 1;
    }
    let exp10 = std::str::from_utf8(&sci[(e_at + 1).min(sci.len())..])
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
        .unwrap_or(0);
    let digits = &digits[..ndigits];

    let mut out = Layout { buf, len: 0 };
    if value < 0.0 {
        out.push(b'-');
    }
    emit_fpconv(digits, exp10, &mut out);
    let len = out.len;
    &buf[..len]
}

/// Appends into a fixed buffer.
struct Layout<'a> {
    buf: &'a mut [u8; MAX_DOUBLE_LEN],
    len: usize,
}

impl Layout<'_> {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.push(b));
    }

    fn zeros(&mut self, count: usize) {
        (0..count).for_each(|_| self.push(b'0'));
    }
}

/// fpconv's layout of `digits` × 10^(exp10 - (digits.len() - 1)): a plain integer when the
/// exponent is small relative to the digit count, a plain decimal for exponents just below
/// zero, otherwise `d.ddde±x` with no zero padding in the exponent.
fn emit_fpconv(digits: &[u8], exp10: i32, out: &mut Layout<'_>) {
    let n = digits.len() as i32;
    // The value is digits × 10^k (fpconv's K).
    let k = exp10 - (n - 1);
    let exp_abs = exp10.unsigned_abs() as i32;
    if k >= 0 && exp_abs < n + 7 {
        out.extend(digits);
        out.zeros(k as usize);
    } else if k < 0 && (k > -7 || exp_abs < 4) {
        let int_digits = n + k;
        if int_digits <= 0 {
            out.extend(b"0.");
            out.zeros((-int_digits) as usize);
            out.extend(digits);
        } else {
            let (int_part, frac_part) = digits.split_at(int_digits as usize);
            out.extend(int_part);
            out.push(b'.');
            out.extend(frac_part);
        }
    } else {
        let (first, rest) = digits.split_at(digits.len().min(1));
        out.extend(first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend(rest);
        }
        out.push(b'e');
        out.push(if exp10 < 0 { b'-' } else { b'+' });
        let mut buf = [0u8; MAX_INT_LEN];
        let len = write_int(i64::from(exp_abs), &mut buf);
        out.extend(&buf[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(reply: &Reply, proto: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        reply.encode(proto, &mut out);
        out.to_vec()
    }

    #[test]
    fn short_bulk_is_inline_encodes_as_bulk_and_keeps_the_reply_size() {
        // The inline form must not make every reply bigger.
        assert!(std::mem::size_of::<Reply>() <= 56);
        for len in [0, 1, 16, SHORT_BULK - 1, SHORT_BULK, SHORT_BULK + 1, 1000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let copy = Reply::bulk_copy(&data);
            let shared = Reply::bulk_of(&Bytes::from(data.clone()));
            assert_eq!(matches!(copy, Reply::ShortBulk(_)), len <= SHORT_BULK);
            assert_eq!(matches!(shared, Reply::ShortBulk(_)), len <= SHORT_BULK);
            let plain = Reply::Bulk(Bytes::from(data.clone()));
            for proto in [Protocol::Resp2, Protocol::Resp3] {
                assert_eq!(enc(&copy, proto), enc(&plain, proto));
                assert_eq!(enc(&shared, proto), enc(&plain, proto));
            }
            assert_eq!(copy, plain);
            assert_eq!(copy.as_bulk(), Some(&data[..]));
        }
        assert_ne!(Reply::bulk_copy(b"a"), Reply::bulk_copy(b"b"));
        assert_ne!(Reply::bulk_copy(b"1"), Reply::Int(1));
    }

    /// Asserts the RESP2 and RESP3 encodings.
    fn check(reply: Reply, resp2: &[u8], resp3: &[u8]) {
        assert_eq!(
            String::from_utf8_lossy(&enc(&reply, Protocol::Resp2)),
            String::from_utf8_lossy(resp2),
            "RESP2 {reply:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&enc(&reply, Protocol::Resp3)),
            String::from_utf8_lossy(resp3),
            "RESP3 {reply:?}"
        );
    }

    fn bulk(text: &'static str) -> Reply {
        Reply::Bulk(Bytes::from_static(text.as_bytes()))
    }

    #[test]
    fn simple_status_and_error() {
        check(Reply::Simple("OK"), b"+OK\r\n", b"+OK\r\n");
        check(Reply::Simple("PONG"), b"+PONG\r\n", b"+PONG\r\n");
        check(
            Reply::Status("a\r\nb\nc".into()),
            b"+a  b c\r\n",
            b"+a  b c\r\n",
        );
        check(
            Reply::error("ERR syntax error"),
            b"-ERR syntax error\r\n",
            b"-ERR syntax error\r\n",
        );
        check(
            Reply::error_owned("ERR unknown command 'a\r\nb'".into()),
            b"-ERR unknown command 'a  b'\r\n",
            b"-ERR unknown command 'a  b'\r\n",
        );
    }

    #[test]
    fn integers() {
        check(Reply::Int(0), b":0\r\n", b":0\r\n");
        check(Reply::Int(1), b":1\r\n", b":1\r\n");
        check(Reply::Int(-1), b":-1\r\n", b":-1\r\n");
        check(
            Reply::Int(1234567890),
            b":1234567890\r\n",
            b":1234567890\r\n",
        );
        check(
            Reply::Int(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        );
        check(
            Reply::Int(i64::MAX),
            b":9223372036854775807\r\n",
            b":9223372036854775807\r\n",
        );
    }

    #[test]
    fn bulks_and_nulls() {
        check(bulk("foo"), b"$3\r\nfoo\r\n", b"$3\r\nfoo\r\n");
        check(bulk(""), b"$0\r\n\r\n", b"$0\r\n\r\n");
        check(bulk("a\r\nb"), b"$4\r\na\r\nb\r\n", b"$4\r\na\r\nb\r\n");
        check(Reply::Nil, b"$-1\r\n", b"_\r\n");
        check(Reply::NilArray, b"*-1\r\n", b"_\r\n");
    }

    #[test]
    fn aggregates() {
        check(Reply::Array(vec![]), b"*0\r\n", b"*0\r\n");
        check(
            Reply::Array(vec![bulk("a"), Reply::Int(2), Reply::Nil]),
            b"*3\r\n$1\r\na\r\n:2\r\n$-1\r\n",
            b"*3\r\n$1\r\na\r\n:2\r\n_\r\n",
        );
        check(
            Reply::Map(vec![(bulk("f"), bulk("v")), (bulk("n"), Reply::Int(7))]),
            b"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nn\r\n:7\r\n",
            b"%2\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nn\r\n:7\r\n",
        );
        check(Reply::Map(vec![]), b"*0\r\n", b"%0\r\n");
        check(
            Reply::Set(vec![bulk("x"), bulk("y")]),
            b"*2\r\n$1\r\nx\r\n$1\r\ny\r\n",
            b"~2\r\n$1\r\nx\r\n$1\r\ny\r\n",
        );
        check(
            Reply::Push(vec![bulk("message"), bulk("ch"), bulk("hi")]),
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        );
        check(
            Reply::Array(vec![Reply::Array(vec![Reply::Bool(true)]), Reply::NilArray]),
            b"*2\r\n*1\r\n:1\r\n*-1\r\n",
            b"*2\r\n*1\r\n#t\r\n_\r\n",
        );
    }

    #[test]
    fn doubles_bools_and_verbatim() {
        check(Reply::Double(3.0), b"$1\r\n3\r\n", b",3\r\n");
        check(
            Reply::DoubleText(Bytes::from_static(b"13.36138933897018433")),
            b"$20\r\n13.36138933897018433\r\n",
            b",13.36138933897018433\r\n",
        );
        check(Reply::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n");
        check(Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
        check(
            Reply::Double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        );
        check(Reply::Double(f64::NAN), b"$3\r\nnan\r\n", b",nan\r\n");
        check(Reply::Bool(true), b":1\r\n", b"#t\r\n");
        check(Reply::Bool(false), b":0\r\n", b"#f\r\n");
        check(
            Reply::Verbatim("txt", Bytes::from_static(b"a\nb")),
            b"$3\r\na\nb\r\n",
            b"=7\r\ntxt:a\nb\r\n",
        );
    }

    fn double_text(value: f64) -> String {
        let mut buf = [0u8; MAX_DOUBLE_LEN];
        String::from_utf8(format_double(value, &mut buf).to_vec()).unwrap()
    }

    /// Expected texts follow Redis 7.2's d2string + fpconv_dtoa rules (redis-server 7.0 on this
    /// machine prints "%.17g", so it agrees only on the integral, inf and exponent cases).
    #[test]
    fn double_text_like_redis_7_2() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (3.0, "3"),
            (-3.0, "-3"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "10000000000000000"),
            (4611686018427387904.0, "4611686018427387904"),
            (9223372036854775808.0, "9223372036854776000"),
            (1.2345678901234567e19, "12345678901234567000"),
            (1.5e19, "1.5e+19"),
            (1e20, "1e+20"),
            (1e22, "1e+22"),
            (1e300, "1e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (12345678901234.5, "12345678901234.5"),
            (0.0001, "0.0001"),
            (0.000001, "0.000001"),
            (0.0012345, "0.0012345"),
            (0.00012345, "1.2345e-4"),
            (1e-7, "1e-7"),
            (-1.5e-7, "-1.5e-7"),
            (5e-324, "5e-324"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-0.000012, "-0.000012"),
            (-1.23456789e-5, "-1.23456789e-5"),
        ];
        for &(value, text) in cases {
            assert_eq!(double_text(value), text, "{value:e}");
        }
    }

    fn reply_strategy() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            Just(Reply::Simple("OK")),
            ".{0,8}".prop_map(Reply::Status),
            ".{0,8}".prop_map(Reply::error_owned),
            any::<i64>().prop_map(Reply::Int),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(|b| Reply::Bulk(b.into())),
            Just(Reply::Nil),
            Just(Reply::NilArray),
            any::<f64>().prop_map(Reply::Double),
            any::<bool>().prop_map(Reply::Bool),
            proptest::collection::vec(any::<u8>(), 0..16)
                .prop_map(|b| Reply::Verbatim("txt", b.into())),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Set),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Push),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Reply::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn integers_match_std(n in any::<i64>()) {
            prop_assert_eq!(enc(&Reply::Int(n), Protocol::Resp2), format!(":{n}\r\n").into_bytes());
        }

        #[test]
        fn double_text_round_trips(value in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            let text = double_text(value);
            prop_assert!(text.len() <= 26, "{}", text);
            let back: f64 = text.parse().unwrap();
            prop_assert_eq!(back.to_bits(), value.to_bits(), "{}", text);
            if value.fract() == 0.0 && value.abs() <= INTEGRAL_LIMIT {
                prop_assert!(!text.contains(['.', 'e']), "{}", text);
            }
        }

        #[test]
        fn size_bound_covers_the_encoding(reply in reply_strategy(), resp3 in any::<bool>()) {
            let proto = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
            prop_assert!(enc(&reply, proto).len() <= reply.size_bound());
        }
    }
}
