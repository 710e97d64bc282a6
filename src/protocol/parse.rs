//! Request framing: turns the bytes a client sent into commands (lists of arguments), exactly as
//! Redis 7.0 frames them, without copying argument bytes. Depends on nothing but `bytes`.
//!
//! Parsing runs in two phases. `scan` walks `&[u8]` and records where each argument of each
//! complete command lies; only then does [`parse_batch`] split the consumed prefix off the buffer
//! once, freezes it, and hands out `Bytes::slice`s of it. Incomplete trailing data is never an
//! error: it stays in the buffer for the next read.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

/// Redis's PROTO_INLINE_MAX_SIZE: how far a header or inline line may run without its terminator.
/// Redis errors once more than this many bytes are buffered with no terminator in sight.
const INLINE_MAX: usize = 64 * 1024;

/// Redis's default proto-max-bulk-len.
const DEFAULT_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// Redis's cap on a multibulk count before authentication.
const UNAUTH_MAX_MULTIBULK: i64 = 10;

/// Redis's cap on a bulk length before authentication.
const UNAUTH_MAX_BULK: u64 = 16384;

const ERR_TOO_BIG_MBULK: &str = "ERR Protocol error: too big mbulk count string";
const ERR_INVALID_MBULK: &str = "ERR Protocol error: invalid multibulk length";
const ERR_UNAUTH_MBULK: &str = "ERR Protocol error: unauthenticated multibulk length";
const ERR_TOO_BIG_BULK: &str = "ERR Protocol error: too big bulk count string";
const ERR_INVALID_BULK: &str = "ERR Protocol error: invalid bulk length";
const ERR_UNAUTH_BULK: &str = "ERR Protocol error: unauthenticated bulk length";
const ERR_TOO_BIG_INLINE: &str = "ERR Protocol error: too big inline request";
const ERR_UNBALANCED: &str = "ERR Protocol error: unbalanced quotes in request";

/// Limits the parser enforces, so a client cannot make the server buffer or trust absurd sizes.
/// The field docs give the Redis names they mirror.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// proto-max-bulk-len (default 512 MiB): a larger declared bulk is a protocol error.
    pub max_bulk_len: u64,
    /// True before the client has authenticated: Redis then caps a multibulk at 10 args
    /// ("unauthenticated multibulk length") and a bulk at 16384 bytes ("unauthenticated bulk
    /// length"), so an anonymous peer cannot make the server wait for huge requests.
    pub unauthenticated: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            unauthenticated: false,
        }
    }
}

/// A protocol error: the full error line without the leading '-' and CRLF,
/// e.g. "ERR Protocol error: invalid bulk length". The connection replies with it and closes,
/// because after a framing error the rest of the stream cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn of(text: &str) -> ProtocolError {
        ProtocolError(text.to_owned())
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Parses every complete command at the front of `buf` (multibulk `*N\r\n$len\r\n...` or inline),
/// removes their bytes from `buf` with one `split_to(n).freeze()` per call, and pushes each
/// command's arguments (as `Bytes::slice`s of that frozen chunk — no copying) to `out`.
/// Incomplete trailing data stays in `buf` untouched (incomplete is not an error).
/// Empty commands (`*0\r\n`, `*-1\r\n`, blank inline lines) are consumed and produce nothing.
/// On a protocol error the commands before it are still pushed to `out`, then Err is returned:
/// the caller replies to those, sends the error, and closes the connection, as Redis does.
pub fn parse_batch(
    buf: &mut BytesMut,
    limits: &ParseLimits,
    out: &mut Vec<Vec<Bytes>>,
) -> Result<(), ProtocolError> {
    SCRATCH.with_borrow_mut(|frames| {
        if frames.args.capacity() > SCRATCH_KEEP {
            *frames = Frames::default();
        }
        frames.args.clear();
        frames.commands.clear();
        frames.consumed = 0;
        let result = scan(&buf[..], limits, frames);
        if frames.commands.is_empty() {
            buf.advance(frames.consumed);
            return result;
        }
        let chunk = buf.split_to(frames.consumed).freeze();
        out.reserve(frames.commands.len());
        let mut args = frames.args.drain(..);
        for &argc in &frames.commands {
            let command = args
                .by_ref()
                .take(argc)
                .map(|arg| match arg {
                    Arg::Slice(range) => chunk.slice(range),
                    Arg::Owned(bytes) => bytes,
                })
                .collect();
            out.push(command);
        }
        result
    })
}

/// Arguments' worth of scratch kept between batches; a huge pipeline's lists are let go.
const SCRATCH_KEEP: usize = 4096;

thread_local! {
    /// Phase one's lists, kept per thread so that parsing a batch allocates only its commands.
    static SCRATCH: std::cell::RefCell<Frames> = std::cell::RefCell::new(Frames::default());
}

/// Where one argument's bytes are: a range of the scanned buffer, or (only for inline arguments
/// with quotes or escapes, whose bytes do not appear verbatim in the input) a fresh buffer.
#[derive(Debug)]
enum Arg {
    Slice(Range<usize>),
    Owned(Bytes),
}

/// What phase one found: every complete command's arguments, flattened, and how many bytes
/// they (plus any empty commands) occupy at the front of the buffer.
#[derive(Debug, Default)]
struct Frames {
    args: Vec<Arg>,
    /// Argument count of each complete command, in order; counts index into `args`.
    commands: Vec<usize>,
    consumed: usize,
}

/// Result of trying to frame one command at some offset.
enum Step {
    /// A whole command ended at this offset (it may have had no arguments).
    Done(usize),
    /// The command is not all here yet.
    Incomplete,
}

/// Phase one: records every complete command in `input` into `frames`, stopping at the first
/// incomplete one or the first protocol error. Kept out of line: whether it was inlined into
/// `parse_batch` moved with unrelated code elsewhere, and inlined it cost ~15 instructions a
/// command more (callgrind, GET -P 16).
#[inline(never)]
fn scan(input: &[u8], limits: &ParseLimits, frames: &mut Frames) -> Result<(), ProtocolError> {
    while frames.consumed < input.len() {
        let start = frames.consumed;
        let arg_mark = frames.args.len();
        let step = if input[start] == b'*' {
            scan_multibulk(input, start, limits, &mut frames.args)
        } else {
            scan_inline(input, start, &mut frames.args)
        };
        match step {
            Ok(Step::Done(end)) => {
                let argc = frames.args.len() - arg_mark;
                if argc > 0 {
                    frames.commands.push(argc);
                }
                frames.consumed = end;
            }
            Ok(Step::Incomplete) => {
                frames.args.truncate(arg_mark);
                return Ok(());
            }
            Err(err) => {
                frames.args.truncate(arg_mark);
                return Err(err);
            }
        }
    }
    Ok(())
}

/// A complete header line (`*N` or `$N`): where its text lies and where the next item starts.
struct HeaderLine {
    /// The text between the type marker and the `\r`.
    text: Range<usize>,
    /// Just past the line.
    next: usize,
}

/// Finds the end of the header line that starts at `start` (its first byte is the type marker).
/// Like Redis, it looks for the first `\r` (a NUL byte hides everything after it, as strchr
/// does), then skips one more byte without checking that it is `\n`. `None` means the line is
/// not all here yet.
///
/// The terminator must lie within the first INLINE_MAX + 1 bytes: Redis reports `too_big` when
/// more than INLINE_MAX bytes are buffered without one, so a terminator inside that window is
/// seen by Redis however the bytes arrive, and one beyond it is an error here whatever the split.
fn header_line(
    input: &[u8],
    start: usize,
    too_big: &'static str,
) -> Result<Option<HeaderLine>, ProtocolError> {
    let rest = &input[start..];
    let window = &rest[..rest.len().min(INLINE_MAX + 1)];
    match window.iter().position(|&b| b == b'\r' || b == 0) {
        Some(i) if window[i] == b'\r' => Ok((i + 1 < rest.len()).then(|| HeaderLine {
            text: start + 1..start + i,
            next: start + i + 2,
        })),
        _ if rest.len() > INLINE_MAX => Err(ProtocolError::of(too_big)),
        _ => Ok(None),
    }
}

/// Parses a decimal integer the way Redis's string2ll does: optional '-', no '+', no leading
/// zeros, no spaces, at most 20 characters, must fit in i64.
fn parse_int(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// The common header line, read in one pass: a marker at `start`, 1 to 18 digits without a
/// leading zero (or a lone `0`), `\r`, and the byte after it present. Anything else (a sign,
/// other bytes, a line not all here) is None and goes the general way (`header_line`), which
/// gives the same value for every line this accepts. Returns the value and where the next
/// item starts.
fn plain_header(input: &[u8], start: usize) -> Option<(i64, usize)> {
    let digits = input.get(start + 1..)?;
    let mut value: i64 = 0;
    for (i, &b) in digits.iter().enumerate().take(19) {
        match b {
            b'0'..=b'9' if i < 18 && (i == 0 || value != 0) => {
                value = value * 10 + i64::from(b - b'0');
            }
            b'\r' if i > 0 && start + 1 + i + 1 < input.len() => {
                return Some((value, start + 1 + i + 2));
            }
            _ => return None,
        }
    }
    None
}

/// Frames one multibulk command starting at `start` (where the `*` is).
fn scan_multibulk(
    input: &[u8],
    start: usize,
    limits: &ParseLimits,
    args: &mut Vec<Arg>,
) -> Result<Step, ProtocolError> {
    let (count, mut pos) = match plain_header(input, start) {
        Some(header) => header,
        None => {
            let Some(line) = header_line(input, start, ERR_TOO_BIG_MBULK)? else {
                return Ok(Step::Incomplete);
            };
            let count = parse_int(&input[line.text])
                .filter(|&n| n <= i64::from(i32::MAX))
                .ok_or_else(|| ProtocolError::of(ERR_INVALID_MBULK))?;
            (count, line.next)
        }
    };
    if count > i64::from(i32::MAX) {
        return Err(ProtocolError::of(ERR_INVALID_MBULK));
    }
    if limits.unauthenticated && count > UNAUTH_MAX_MULTIBULK {
        return Err(ProtocolError::of(ERR_UNAUTH_MBULK));
    }
    // Room for the arguments, bounded: the count is the client's word, not yet backed by bytes.
    args.reserve(count.clamp(0, 64) as usize);
    for _ in 0..count.max(0) {
        let header = match input.get(pos) {
            Some(b'$') => plain_header(input, pos),
            _ => None,
        };
        let (len, data) = match header {
            Some((len, data)) => (len as u64, data),
            None => {
                let Some(line) = header_line(input, pos, ERR_TOO_BIG_BULK)? else {
                    return Ok(Step::Incomplete);
                };
                // Redis checks the marker only once the whole header line is here.
                if input[pos] != b'$' {
                    return Err(unexpected_marker(input[pos]));
                }
                let len = parse_int(&input[line.text])
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| ProtocolError::of(ERR_INVALID_BULK))?;
                (len, line.next)
            }
        };
        if len > limits.max_bulk_len {
            return Err(ProtocolError::of(ERR_INVALID_BULK));
        }
        if limits.unauthenticated && len > UNAUTH_MAX_BULK {
            return Err(ProtocolError::of(ERR_UNAUTH_BULK));
        }
        // The data is followed by two bytes that Redis skips unchecked (normally CRLF).
        // `len` came from an i64, so `len + 2` cannot overflow.
        if ((input.len() - data) as u64) < len + 2 {
            return Ok(Step::Incomplete);
        }
        let end = data + len as usize;
        args.push(Arg::Slice(data..end));
        pos = end + 2;
    }
    Ok(Step::Done(pos))
}

/// Redis's PROTO_MBULK_BIG_ARG: a bulk this long or longer gets a buffer of its own size.
pub const BIG_ARG: usize = 32 * 1024;

/// For an incomplete multibulk command at the front of `input` whose missing part is inside
/// a bulk of `BIG_ARG` bytes or more: the bytes the whole command up to that bulk's end takes,
/// so the reader can make room for it at once, as Redis sizes its query buffer for a big
/// argument. 0 otherwise (a complete command, a small bulk, a malformed header: the parse
/// deals with those). The declared length was already checked against proto-max-bulk-len.
pub fn pending_big_bulk(input: &[u8]) -> usize {
    let Some((count, mut pos)) = (input.first() == Some(&b'*'))
        .then(|| plain_header(input, 0))
        .flatten()
    else {
        return 0;
    };
    for _ in 0..count {
        let Some((len, data)) = (input.get(pos) == Some(&b'$'))
            .then(|| plain_header(input, pos))
            .flatten()
        else {
            return 0;
        };
        let end = data + len as usize + 2;
        if end > input.len() {
            return if len as usize >= BIG_ARG { end } else { 0 };
        }
        pos = end;
    }
    0
}

/// The error for a bulk header that does not start with `$`. Redis prints the byte raw with CR
/// and LF mapped to spaces; a non-ASCII byte cannot sit in a `String`, so it becomes U+FFFD,
/// which is what a client decoding Redis's raw byte as UTF-8 would show.
fn unexpected_marker(marker: u8) -> ProtocolError {
    let shown = match marker {
        b'\r' | b'\n' => ' ',
        b if b.is_ascii() => char::from(b),
        _ => char::REPLACEMENT_CHARACTER,
    };
    ProtocolError(format!("ERR Protocol error: expected '$', got '{shown}'"))
}

/// Frames one inline command (a text line) starting at `start`.
fn scan_inline(input: &[u8], start: usize, args: &mut Vec<Arg>) -> Result<Step, ProtocolError> {
    let rest = &input[start..];
    let window = &rest[..rest.len().min(INLINE_MAX + 1)];
    // Redis finds the newline with strchr, so a NUL before it means "no line yet".
    let newline = match window.iter().position(|&b| b == b'\n' || b == 0) {
        Some(i) if window[i] == b'\n' => start + i,
        _ if rest.len() > INLINE_MAX => return Err(ProtocolError::of(ERR_TOO_BIG_INLINE)),
        _ => return Ok(Step::Incomplete),
    };
    let mut end = newline;
    if end > start && input[end - 1] == b'\r' {
        end -= 1;
    }
    split_inline(input, start, end, args)?;
    Ok(Step::Done(newline + 1))
}

/// Whitespace as C's isspace sees it in the C locale: what Redis skips between arguments and
/// accepts after a closing quote.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// What ends an unquoted argument in Redis's sdssplitargs (note: not \v or \f, unlike isspace).
fn ends_bare_arg(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Splits `input[start..end]` into arguments the way Redis's sdssplitargs does.
fn split_inline(
    input: &[u8],
    start: usize,
    end: usize,
    args: &mut Vec<Arg>,
) -> Result<(), ProtocolError> {
    let line = &input[..end];
    let mut i = start;
    loop {
        while i < end && is_c_space(line[i]) {
            i += 1;
        }
        if i == end {
            return Ok(());
        }
        let mut arg = ArgBuilder::new(i);
        i = read_arg(line, i, &mut arg)?;
        args.push(arg.finish());
    }
}

/// Quoting state inside one inline argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Reads one inline argument starting at `i` into `arg`; returns where scanning continues.
fn read_arg(line: &[u8], mut i: usize, arg: &mut ArgBuilder) -> Result<usize, ProtocolError> {
    let end = line.len();
    let at = |k: usize| line.get(k).copied();
    let mut quote = Quote::None;
    loop {
        let Some(b) = at(i) else {
            return match quote {
                Quote::None => Ok(i),
                _ => Err(ProtocolError::of(ERR_UNBALANCED)),
            };
        };
        match quote {
            Quote::None => match b {
                _ if ends_bare_arg(b) => return Ok(i + 1),
                b'"' => quote = Quote::Double,
                b'\'' => quote = Quote::Single,
                _ => arg.copy(line, i),
            },
            Quote::Double => match b {
                b'\\'
                    if at(i + 1) == Some(b'x')
                        && at(i + 2).is_some_and(|h| h.is_ascii_hexdigit())
                        && at(i + 3).is_some_and(|h| h.is_ascii_hexdigit()) =>
                {
                    arg.push(line, (hex_value(line[i + 2]) << 4) | hex_value(line[i + 3]));
                    i += 3;
                }
                b'\\' if i + 1 < end => {
                    i += 1;
                    arg.push(line, unescape(line[i]));
                }
                b'"' => return close_quote(line, i),
                _ => arg.copy(line, i),
            },
            Quote::Single => match b {
                b'\\' if at(i + 1) == Some(b'\'') => {
                    i += 1;
                    arg.copy(line, i);
                }
                b'\'' => return close_quote(line, i),
                _ => arg.copy(line, i),
            },
        }
        i += 1;
    }
}

/// A closing quote at `i` must be followed by whitespace or the end of the line.
fn close_quote(line: &[u8], i: usize) -> Result<usize, ProtocolError> {
    match line.get(i + 1) {
        Some(&next) if !is_c_space(next) => Err(ProtocolError::of(ERR_UNBALANCED)),
        _ => Ok(i + 1),
    }
}

fn hex_value(h: u8) -> u8 {
    char::from(h).to_digit(16).unwrap_or(0) as u8
}

/// The byte a backslash escape inside double quotes stands for.
fn unescape(b: u8) -> u8 {
    match b {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

/// Collects one inline argument. It stays a range of the input for as long as the argument's
/// bytes are a contiguous run of the input (the usual case); the first quote gap or escape turns
/// it into an owned copy (bounded by the line length, itself at most INLINE_MAX).
struct ArgBuilder {
    start: usize,
    end: usize,
    owned: Option<Vec<u8>>,
}

impl ArgBuilder {
    fn new(at: usize) -> Self {
        ArgBuilder {
            start: at,
            end: at,
            owned: None,
        }
    }

    /// Appends the input byte at `i` verbatim.
    fn copy(&mut self, line: &[u8], i: usize) {
        match &mut self.owned {
            None if self.start == self.end => {
                self.start = i;
                self.end = i + 1;
            }
            None if self.end == i => self.end += 1,
            _ => self.push(line, line[i]),
        }
    }

    /// Appends a byte that does not appear at this point of the input.
    fn push(&mut self, line: &[u8], b: u8) {
        self.owned
            .get_or_insert_with(|| line[self.start..self.end].to_vec())
            .push(b);
    }

    fn finish(self) -> Arg {
        match self.owned {
            Some(bytes) => Arg::Owned(Bytes::from(bytes)),
            None => Arg::Slice(self.start..self.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_bulk_in_progress_asks_for_its_whole_length() {
        let head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$40000\r\n";
        let mut partial = head.to_vec();
        partial.extend_from_slice(&[b'x'; 100]);
        assert_eq!(pending_big_bulk(&partial), head.len() + 40000 + 2);
        // Small bulks, complete commands, headers not all here and inline commands: nothing.
        assert_eq!(
            pending_big_bulk(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$400\r\nxx"),
            0
        );
        assert_eq!(pending_big_bulk(b"*1\r\n$4\r\nPING\r\n"), 0);
        assert_eq!(pending_big_bulk(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000"), 0);
        assert_eq!(pending_big_bulk(b"SET k 40000"), 0);
        assert_eq!(pending_big_bulk(b""), 0);
    }

    #[test]
    fn plain_headers_read_as_the_general_way_does() {
        let texts = [
            "0",
            "1",
            "3",
            "10",
            "01",
            "00",
            "-1",
            "-0",
            "+1",
            " 1",
            "1 ",
            "12a",
            "",
            "999999999999999999",
            "9999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "9223372036854775808",
            "2147483647",
            "2147483648",
        ];
        for text in texts {
            for tail in ["\r\n", "\r", "\rx", "", "\n"] {
                let line = format!("${text}{tail}");
                let input = line.as_bytes();
                let general = header_line(input, 0, "too big")
                    .ok()
                    .flatten()
                    .map(|l| (parse_int(&input[l.text]), l.next));
                if let Some((value, next)) = plain_header(input, 0) {
                    assert_eq!(general, Some((Some(value), next)), "{line:?}");
                }
            }
        }
        assert_eq!(plain_header(b"$3\r\nGET\r\n", 0), Some((3, 4)));
        assert_eq!(plain_header(b"*0\r\n", 0), Some((0, 4)));
        assert_eq!(plain_header(b"$01\r\n", 0), None);
        assert_eq!(plain_header(b"$3\r", 0), None);
    }

    /// What one `parse_batch` call produced, with arguments copied out for easy comparison.
    type Commands = Vec<Vec<Vec<u8>>>;

    fn to_vecs(out: Vec<Vec<Bytes>>) -> Commands {
        out.into_iter()
            .map(|cmd| cmd.into_iter().map(|a| a.to_vec()).collect())
            .collect()
    }

    /// Parses `input` in one call; returns the commands, the result and what stayed in the buffer.
    fn parse_with(input: &[u8], limits: &ParseLimits) -> (Commands, Result<(), String>, Vec<u8>) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        let result = parse_batch(&mut buf, limits, &mut out).map_err(|e| e.0);
        (to_vecs(out), result, buf.to_vec())
    }

    fn parse(input: &[u8]) -> (Commands, Result<(), String>, Vec<u8>) {
        parse_with(input, &ParseLimits::default())
    }

    fn error_of(input: &[u8]) -> String {
        parse(input).1.expect_err("expected a protocol error")
    }

    fn args(list: &[&[u8]]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.to_vec()).collect()
    }

    /// Arguments of a single complete inline line, or the error text.
    fn inline(line: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n");
        let (mut cmds, result, rest) = parse(&input);
        result?;
        assert!(rest.is_empty());
        Ok(cmds.pop().unwrap_or_default())
    }

    #[test]
    fn multibulk_and_inline_commands_in_one_batch() {
        let (cmds, result, rest) = parse(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\nPING\r\n*1\r\n$4\r\nPI");
        assert_eq!(result, Ok(()));
        assert_eq!(cmds, vec![args(&[b"ECHO", b""]), args(&[b"PING"])]);
        assert_eq!(rest, b"*1\r\n$4\r\nPI");
    }

    #[test]
    fn arguments_are_slices_of_the_input_buffer() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nSET a b\r\n"[..]);
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let mut out = Vec::new();
        parse_batch(&mut buf, &ParseLimits::default(), &mut out).unwrap();
        assert_eq!(out.len(), 2);
        for arg in out.iter().flatten() {
            assert!(
                range.contains(&(arg.as_ptr() as usize)),
                "argument was copied"
            );
        }
    }

    #[test]
    fn empty_commands_are_consumed_silently() {
        let (cmds, result, rest) =
            parse(b"*0\r\n*-1\r\n*-99\r\n\r\n   \r\n\n\t\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(result, Ok(()));
        assert_eq!(cmds, vec![args(&[b"PING"])]);
        assert!(rest.is_empty());
        let (cmds, result, rest) = parse(b"*0\r\n\r\n");
        assert_eq!((cmds.len(), result, rest.len()), (0, Ok(()), 0));
    }

    #[test]
    fn incomplete_input_is_left_untouched() {
        let whole = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        for cut in 0..whole.len() {
            let (cmds, result, rest) = parse(&whole[..cut]);
            assert_eq!((cmds.len(), result), (0, Ok(())), "cut at {cut}");
            assert_eq!(rest, &whole[..cut]);
        }
        // A header's '\r' without the byte after it is not a complete line yet.
        assert_eq!(parse(b"*1\r").2, b"*1\r");
        assert_eq!(parse(b"*1\r\n$3\r").2, b"*1\r\n$3\r");
        // Inline: no newline yet.
        assert_eq!(parse(b"PING\r").2, b"PING\r");
    }

    #[test]
    fn redis_skips_two_bytes_after_headers_and_data_unchecked() {
        // redis-server 7.0.15 answers +PONG to each of these.
        for input in [
            &b"*1\rX$4\r\nPING\r\n"[..],
            b"*1\r\n$4\rXPING\r\n",
            b"*1\r\n$4\r\nPINGxy",
        ] {
            assert_eq!(parse(input).0, vec![args(&[b"PING"])], "{input:?}");
        }
        let (cmds, _, _) = parse(b"*1\r\n$1\r\n\r\n\r\n");
        assert_eq!(cmds, vec![args(&[b"\r"])]);
    }

    #[test]
    fn multibulk_count_errors() {
        let invalid = "ERR Protocol error: invalid multibulk length";
        for input in [
            &b"*abc\r\n"[..],
            b"*\r\n",
            b"* 1\r\n",
            b"*+1\r\n",
            b"*01\r\n",
            b"*-0\r\n",
            b"*1 \r\n",
            b"*2147483648\r\n",
            b"*99999999999999999999\r\n",
            b"*123456789012345678901\r\n",
        ] {
            assert_eq!(error_of(input), invalid, "{input:?}");
        }
        // i32::MAX itself is accepted (and then waits for the arguments).
        assert_eq!(parse(b"*2147483647\r\n").1, Ok(()));
        let mut long = b"*".to_vec();
        long.resize(1 + INLINE_MAX, b'1');
        assert_eq!(
            error_of(&long),
            "ERR Protocol error: too big mbulk count string"
        );
        long.pop();
        assert_eq!(parse(&long).1, Ok(()));
    }

    #[test]
    fn bulk_header_errors() {
        assert_eq!(
            error_of(b"*1\r\nX4\r\nPING\r\n"),
            "ERR Protocol error: expected '$', got 'X'"
        );
        assert_eq!(
            error_of(b"*1\r\n\r\n"),
            "ERR Protocol error: expected '$', got ' '"
        );
        assert_eq!(
            error_of(b"*1\r\n\xff\r\n"),
            "ERR Protocol error: expected '$', got '\u{fffd}'"
        );
        // The marker is judged only once the header line is complete.
        assert_eq!(parse(b"*1\r\nX4").1, Ok(()));
        let invalid = "ERR Protocol error: invalid bulk length";
        for input in [
            &b"*1\r\n$-1\r\n"[..],
            b"*1\r\n$-0\r\n",
            b"*1\r\n$abc\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$+4\r\n",
            b"*1\r\n$536870913\r\n",
            b"*1\r\n$9223372036854775808\r\n",
        ] {
            assert_eq!(error_of(input), invalid, "{input:?}");
        }
        let mut long = b"*1\r\n$".to_vec();
        long.resize(4 + 1 + INLINE_MAX, b'1');
        assert_eq!(
            error_of(&long),
            "ERR Protocol error: too big bulk count string"
        );
        long.pop();
        assert_eq!(parse(&long).1, Ok(()));
    }

    #[test]
    fn max_bulk_len_is_inclusive_and_configurable() {
        let limits = ParseLimits {
            max_bulk_len: 3,
            unauthenticated: false,
        };
        assert_eq!(parse_with(b"*1\r\n$3\r\nabc\r\n", &limits).1, Ok(()));
        assert_eq!(
            parse_with(b"*1\r\n$4\r\nabcd\r\n", &limits).1,
            Err("ERR Protocol error: invalid bulk length".into())
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let anon = ParseLimits {
            unauthenticated: true,
            ..ParseLimits::default()
        };
        assert_eq!(parse_with(b"*10\r\n", &anon).1, Ok(()));
        assert_eq!(
            parse_with(b"*11\r\n", &anon).1,
            Err("ERR Protocol error: unauthenticated multibulk length".into())
        );
        assert_eq!(parse_with(b"*1\r\n$16384\r\n", &anon).1, Ok(()));
        assert_eq!(
            parse_with(b"*1\r\n$16385\r\n", &anon).1,
            Err("ERR Protocol error: unauthenticated bulk length".into())
        );
        // Invalid beats unauthenticated, as in Redis.
        assert_eq!(
            parse_with(b"*2147483648\r\n", &anon).1,
            Err("ERR Protocol error: invalid multibulk length".into())
        );
        assert_eq!(
            parse_with(b"*1\r\n$536870913\r\n", &anon).1,
            Err("ERR Protocol error: invalid bulk length".into())
        );
        // After authentication the same sizes are fine.
        assert_eq!(parse(b"*11\r\n$16385\r\n").1, Ok(()));
    }

    #[test]
    fn commands_before_an_error_are_still_returned() {
        let (cmds, result, _) = parse(b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(cmds, vec![args(&[b"PING"]), args(&[b"PING"])]);
        assert_eq!(
            result,
            Err("ERR Protocol error: invalid multibulk length".into())
        );
    }

    #[test]
    fn inline_line_length_limit() {
        let mut line = vec![b'a'; INLINE_MAX];
        assert_eq!(parse(&line).1, Ok(()));
        line.push(b'\n');
        assert_eq!(parse(&line).0, vec![vec![vec![b'a'; INLINE_MAX]]]);
        line.pop();
        line.push(b'a');
        assert_eq!(
            parse(&line).1,
            Err("ERR Protocol error: too big inline request".into())
        );
    }

    #[test]
    fn nul_before_a_terminator_hides_it_as_in_redis() {
        // Redis looks for terminators with strchr, so these wait for more data
        // (redis-server 7.0.15 does not answer them), and error past 64 KiB.
        for input in [&b"PING\0\n"[..], b"*1\0\r\n", b"*1\r\n$4\0\r\nPING\r\n"] {
            let (cmds, result, rest) = parse(input);
            assert_eq!((cmds.len(), result, rest), (0, Ok(()), input.to_vec()));
        }
        let mut big = b"PING\0\n".to_vec();
        big.resize(INLINE_MAX + 1, b'a');
        assert_eq!(error_of(&big), "ERR Protocol error: too big inline request");
        // NUL inside bulk data is just data.
        assert_eq!(parse(b"*1\r\n$4\r\nPI\0G\r\n").0, vec![args(&[b"PI\0G"])]);
    }

    /// Each case was sent to redis-server 7.0.15 as `RPUSH k <line>` and read back with LRANGE.
    #[test]
    fn inline_splitting_matches_redis() {
        let unbalanced = Err("ERR Protocol error: unbalanced quotes in request".to_string());
        type Case<'a> = (&'a [u8], Result<Vec<Vec<u8>>, String>);
        let cases: &[Case] = &[
            (b"a b", Ok(args(&[b"a", b"b"]))),
            (b"  a   b  ", Ok(args(&[b"a", b"b"]))),
            (b"a\tb", Ok(args(&[b"a", b"b"]))),
            (b"a\rb", Ok(args(&[b"a", b"b"]))),
            // \v and \f are skipped between arguments but do not end one.
            (b"a\x0bb", Ok(args(&[b"a\x0bb"]))),
            (b"a\x0cb", Ok(args(&[b"a\x0cb"]))),
            (b"\x0ba", Ok(args(&[b"a"]))),
            (b"a\x0b", Ok(args(&[b"a\x0b"]))),
            (b"a\xa0b \x85", Ok(args(&[b"a\xa0b", b"\x85"]))),
            (br#""a b""#, Ok(args(&[b"a b"]))),
            (br#""a\nb""#, Ok(args(&[b"a\nb"]))),
            (br#""\x41\x4a\x4B\xzz""#, Ok(args(&[b"AJKxzz"]))),
            (br#""\x4""#, Ok(args(&[b"x4"]))),
            (br#""\x4G""#, Ok(args(&[b"x4G"]))),
            (br#""\x""#, Ok(args(&[b"x"]))),
            (br#""\x00\xff""#, Ok(args(&[b"\x00\xff"]))),
            (br#""\q\\\"""#, Ok(args(&[b"q\\\""]))),
            (br#""\a\b\t\r""#, Ok(args(&[b"\x07\x08\t\r"]))),
            (b"'a b'", Ok(args(&[b"a b"]))),
            (br"'a\'b'", Ok(args(&[b"a'b"]))),
            (br"'a\\b'", Ok(args(&[br"a\\b"]))),
            (br"'a\nb'", Ok(args(&[br"a\nb"]))),
            (br#"foo"bar baz""#, Ok(args(&[b"foobar baz"]))),
            (b"foo'bar baz'", Ok(args(&[b"foobar baz"]))),
            (br"a\x41", Ok(args(&[br"a\x41"]))),
            (br#""""#, Ok(args(&[b""]))),
            (b"''", Ok(args(&[b""]))),
            (b"\"a\"\x0bx", Ok(args(&[b"a", b"x"]))),
            (b"\"a\"\tx", Ok(args(&[b"a", b"x"]))),
            (b"\"a\x0bb\"", Ok(args(&[b"a\x0bb"]))),
            (br#""a"b"#, unbalanced.clone()),
            (b"'a'b", unbalanced.clone()),
            (br#""a""b""#, unbalanced.clone()),
            (br#"'a'"b""#, unbalanced.clone()),
            (br#"a"b"c"#, unbalanced.clone()),
            (br#""a"#, unbalanced.clone()),
            (b"'a", unbalanced.clone()),
            (br#""a\""#, unbalanced.clone()),
            (br"'a\'", unbalanced.clone()),
            (br#""abc\"#, unbalanced.clone()),
        ];
        for (line, expected) in cases {
            assert_eq!(
                &inline(line),
                expected,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn inline_line_endings() {
        // Only one '\r' before the '\n' is part of the terminator; another one ends the argument.
        assert_eq!(parse(b"PING\r\r\n").0, vec![args(&[b"PING"])]);
        assert_eq!(parse(b"\rPING\n").0, vec![args(&[b"PING"])]);
        assert_eq!(parse(b"PING\rECHO\n").0, vec![args(&[b"PING", b"ECHO"])]);
        assert_eq!(parse(b"ECHO \"a\r\n").1, Err(ERR_UNBALANCED.into()));
    }
}
