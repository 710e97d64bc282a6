//! The argument cursor every handler reads its arguments through, and the grammars shared by
//! every command that takes an argument of that shape (integers, floats, blocking timeouts).

mod float;

use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;

pub use float::{parse_float, FloatRule};

use super::{err, error, CmdResult};
use crate::protocol::Reply;

/// A command's arguments with a read position (starting after the command name). Reading
/// takes `&self` (the position is a `Cell`), so a handler may hold borrowed arguments from
/// [`Args::arg`] while it reads on.
#[derive(Debug, Clone)]
pub struct Args {
    items: Vec<Bytes>,
    pos: Cell<usize>,
}

impl Args {
    /// Wraps a parsed command (name first) that is not a subcommand: for a unit test, or a
    /// handler calling another command's (GEOADD's ZADD). Dispatch and loaders build cursors
    /// with [`Args::of`], which knows where a subcommand's arguments start.
    pub fn plain(items: Vec<Bytes>) -> Self {
        Args {
            items,
            pos: Cell::new(1),
        }
    }

    /// The arguments of a call that runs as `spec`: for a subcommand row the cursor starts
    /// after the subcommand's name, which the table has already matched.
    #[inline]
    pub fn of(spec: &super::CommandSpec, items: Vec<Bytes>) -> Self {
        Args {
            items,
            pos: Cell::new(1 + spec.is_subcommand as usize),
        }
    }

    /// Every argument, name included.
    pub fn all(&self) -> &[Bytes] {
        &self.items
    }

    /// Consumes the cursor, returning every argument.
    pub fn into_items(self) -> Vec<Bytes> {
        self.items
    }

    /// The command name as sent.
    pub fn name(&self) -> &[u8] {
        &self.items[0]
    }

    /// Arguments not yet read.
    pub fn remaining(&self) -> usize {
        self.items.len().saturating_sub(self.pos.get())
    }

    /// True when every argument was read.
    pub fn is_done(&self) -> bool {
        self.pos.get() >= self.items.len()
    }

    /// The next argument without consuming it.
    pub fn peek(&self) -> Option<&[u8]> {
        self.items.get(self.pos.get()).map(|b| &b[..])
    }

    /// The next argument; a missing one is a syntax error. (Not `Iterator::next`: it returns
    /// the error reply for a missing argument.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&self) -> Result<Bytes, Reply> {
        self.arg().cloned()
    }

    /// The next argument, borrowed (no reference count taken, unlike [`Args::next`]); a
    /// missing one is a syntax error.
    pub fn arg(&self) -> Result<&Bytes, Reply> {
        let item = self
            .items
            .get(self.pos.get())
            .ok_or_else(|| error(err::SYNTAX))?;
        self.pos.set(self.pos.get() + 1);
        Ok(item)
    }

    /// The next argument as an i64, with Redis's error text.
    pub fn int(&self) -> Result<i64, Reply> {
        parse_int(self.arg()?).ok_or_else(|| error(err::NOT_INT))
    }

    /// The next argument as an i32-sized number, as Redis's getIntFromObjectOrReply reads it
    /// (DB indexes): a number outside i32 has its own text.
    pub fn int32(&self) -> Result<i64, Reply> {
        let n = self.int()?;
        if i32::try_from(n).is_err() {
            return Err(error(err::INT32_RANGE));
        }
        Ok(n)
    }

    /// The next argument as Redis's string2d reads it (scores), with Redis's error text.
    pub fn float(&self) -> Result<f64, Reply> {
        parse_float(self.arg()?, FloatRule::Double).ok_or_else(|| error(err::NOT_FLOAT))
    }

    /// Consumes the next argument if it equals `word` case-insensitively.
    pub fn keyword(&self, word: &str) -> bool {
        let hit = self
            .peek()
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()));
        if hit {
            self.pos.set(self.pos.get() + 1);
        }
        hit
    }

    /// Fails with a syntax error when arguments are left over.
    pub fn end(&self) -> Result<(), Reply> {
        if self.is_done() {
            Ok(())
        } else {
            Err(error(err::SYNTAX))
        }
    }

    /// Everything not yet read, consumed.
    pub fn rest(&self) -> &[Bytes] {
        let start = self.pos.get().min(self.items.len());
        self.pos.set(self.items.len());
        &self.items[start..]
    }
}

/// Which command reads a numkeys argument: Redis checks the count, and words its refusals,
/// differently per family.
#[derive(Clone, Copy)]
pub enum NumKeys<'a> {
    /// EVAL, EVALSHA: any integer from 0 up to the arguments left.
    Script,
    /// ZUNION, ZINTER, ZDIFF (and their STORE forms), ZINTERCARD, named for the refusal of 0:
    /// at least 1, at most the arguments left (else a syntax error).
    Combine(&'a str),
    /// SINTERCARD: 1 up to the arguments left.
    Card,
    /// LMPOP, BLMPOP, ZMPOP, BZMPOP: at least 1, and an argument (the end) must follow the keys.
    Pop,
}

impl Args {
    /// Reads `numkeys key [key ...]` as `form`'s command does, with its error texts.
    pub fn numkeys(&self, form: NumKeys) -> Result<Vec<Bytes>, Reply> {
        let raw = self.arg()?;
        let positive = || {
            parse_int(raw)
                .filter(|n| *n >= 1)
                .ok_or_else(|| error(err::NUMKEYS))
        };
        // The count, the arguments that must follow the keys, the refusal of a count too large.
        let (n, trailing, too_many) = match form {
            NumKeys::Script => match parse_int(raw) {
                None => return Err(error(err::NOT_INT)),
                Some(n) if n < 0 => return Err(error(err::NUMKEYS_NEGATIVE)),
                Some(n) => (n, 0, err::NUMKEYS_OVER_ARGS),
            },
            NumKeys::Combine(command) => match parse_int(raw) {
                None => return Err(error(err::NOT_INT)),
                Some(n) if n < 1 => return Err(err::no_input_key(command)),
                Some(n) => (n, 0, err::SYNTAX),
            },
            NumKeys::Card => (positive()?, 0, err::NUMKEYS_OVER_ARGS),
            NumKeys::Pop => (positive()?, 1, err::SYNTAX),
        };
        if n as u64 + trailing > self.remaining() as u64 {
            return Err(error(too_many));
        }
        (0..n).map(|_| self.next()).collect()
    }
}

/// Parses a whole argument as a Redis integer: optional '-', digits, no spaces or '+', fits i64.
pub fn parse_int(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let (negative, digits) = match bytes[0] {
        b'-' => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = (d - b'0') as i64;
        value = if negative {
            value.checked_mul(10)?.checked_sub(digit)?
        } else {
            value.checked_mul(10)?.checked_add(digit)?
        };
    }
    if negative && value == 0 {
        return None;
    }
    Some(value)
}

/// A blocking command's timeout in seconds (BLPOP, BZPOPMIN, BLMOVE, BLMPOP, BZMPOP...), as
/// Redis's getTimeoutFromObjectOrReply reads it; None = wait forever (0). The seconds are a
/// string2ld float; the milliseconds are rounded up, and a count past i64 converts the way
/// x86 does (to i64::MIN), so `inf` and `1e30` answer "negative" as Redis 7.0 does.
pub fn parse_timeout(raw: &[u8]) -> Result<Option<Duration>, Reply> {
    let secs =
        parse_float(raw, FloatRule::LongDouble).ok_or_else(|| error(err::TIMEOUT_NOT_FLOAT))?;
    let ms = (secs * 1000.0).ceil();
    // 2^63 as f64; every f64 strictly inside converts without wrapping.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let ms = if (-LIMIT..LIMIT).contains(&ms) {
        ms as i64
    } else {
        i64::MIN
    };
    deadline(ms)
}

/// XREAD's BLOCK milliseconds, the same checks on an integer; None = forever (0).
pub fn parse_block_ms(raw: &[u8]) -> Result<Option<Duration>, Reply> {
    deadline(parse_int(raw).ok_or_else(|| error(err::TIMEOUT_NOT_INT))?)
}

/// The checks every timeout shares: negative refused; one whose deadline (now + ms) would
/// overflow is out of range (Redis 7.2's check).
fn deadline(ms: i64) -> Result<Option<Duration>, Reply> {
    if ms < 0 {
        return Err(error(err::TIMEOUT_NEGATIVE));
    }
    if ms > i64::MAX - crate::shard::unix_ms() as i64 {
        return Err(error(err::TIMEOUT_RANGE));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// `Ok(Reply::Simple("OK"))`.
pub fn ok() -> CmdResult {
    Ok(Reply::Simple("OK"))
}

/// The largest COUNT a SCAN-family command honours (a larger one is clamped). COUNT bounds the
/// work of one call, so the clamp only matters to keep arithmetic on it (budgets, `start +
/// count`) far from overflow.
pub const SCAN_COUNT_MAX: usize = 1 << 30;

/// The options of SCAN, HSCAN, SSCAN and ZSCAN: `[MATCH pattern] [COUNT count] [TYPE type]`
/// (TYPE for SCAN only), repeated options the last one winning, as Redis parses them.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The glob; `None` when absent or exactly `*` (which matches everything).
    pub pattern: Option<Bytes>,
    /// Elements to visit (not to return) in one call, at least 1.
    pub count: usize,
    /// The type name asked for, lowercased (Redis compares it case-insensitively).
    pub kind: Option<Bytes>,
}

impl ScanOptions {
    /// Whether `item` passes MATCH.
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| crate::glob::glob_match(p, item, false))
    }
}

/// Whether a SCAN-family command accepts the TYPE option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanType {
    /// SCAN over the keyspace.
    Allowed,
    /// HSCAN, SSCAN, ZSCAN: TYPE is a syntax error.
    Refused,
}

impl Args {
    /// The next argument as a SCAN cursor, read as Redis's strtoul reads it: an unsigned
    /// 64-bit number with an optional sign (a leading '-' wraps around, as in C); an empty
    /// argument is cursor 0.
    pub fn cursor(&self) -> Result<u64, Reply> {
        parse_cursor(self.arg()?).ok_or_else(|| error(err::INVALID_CURSOR))
    }

    /// The rest of the arguments as SCAN options. COUNT below 1 is a syntax error, a
    /// non-number COUNT the integer error, anything else unknown a syntax error.
    pub fn scan_options(&self, types: ScanType) -> Result<ScanOptions, Reply> {
        let mut options = ScanOptions {
            pattern: None,
            count: 10,
            kind: None,
        };
        while !self.is_done() {
            if self.remaining() >= 2 && self.keyword("COUNT") {
                let n = self.int()?;
                if n < 1 {
                    return Err(error(err::SYNTAX));
                }
                options.count = (n as u64).min(SCAN_COUNT_MAX as u64) as usize;
            } else if self.remaining() >= 2 && self.keyword("MATCH") {
                let p = self.next()?;
                options.pattern = (&p[..] != b"*").then_some(p);
            } else if types == ScanType::Allowed && self.remaining() >= 2 && self.keyword("TYPE") {
                options.kind = Some(Bytes::from(self.arg()?.to_ascii_lowercase()));
            } else {
                return Err(error(err::SYNTAX));
            }
        }
        Ok(options)
    }
}

/// A SCAN cursor as strtoul(base 10) accepts it whole: optional sign then digits, no leading
/// space, no overflow; nothing at all reads as 0.
pub fn parse_cursor(raw: &[u8]) -> Option<u64> {
    let (negative, digits) = match raw.first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    if raw.is_empty() {
        return Some(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative { n.wrapping_neg() } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::err::{
        TIMEOUT_NEGATIVE, TIMEOUT_NOT_FLOAT, TIMEOUT_NOT_INT, TIMEOUT_RANGE,
    };

    #[test]
    fn integers_like_redis() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-1"), Some(-1));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"01"), None);
        assert_eq!(parse_int(b"+1"), None);
        assert_eq!(parse_int(b" 1"), None);
        assert_eq!(parse_int(b"-0"), None);
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"1a"), None);
    }

    #[test]
    fn timeouts_like_redis() {
        let secs = |t: &str| parse_timeout(t.as_bytes());
        let text = |r: Result<Option<Duration>, Reply>| match r {
            Err(Reply::Error(e)) => e.to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(secs("0").unwrap(), None);
        assert_eq!(secs("-0.0001").unwrap(), None);
        assert_eq!(secs("0.0001").unwrap(), Some(Duration::from_millis(1)));
        assert_eq!(secs("0x1p-1").unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(secs("1.5").unwrap(), Some(Duration::from_millis(1500)));
        for negative in ["-1", "inf", "-inf", "1e30", "1e400"] {
            assert_eq!(text(secs(negative)), TIMEOUT_NEGATIVE, "{negative}");
        }
        for bad in [" 1", "abc", "nan", "1e5000", ""] {
            assert_eq!(text(secs(bad)), TIMEOUT_NOT_FLOAT, "{bad}");
        }
        assert_eq!(text(secs("9223371000000000")), TIMEOUT_RANGE);
        let ms = |t: &str| parse_block_ms(t.as_bytes());
        assert_eq!(ms("0").unwrap(), None);
        assert_eq!(ms("10").unwrap(), Some(Duration::from_millis(10)));
        assert_eq!(text(ms("-1")), TIMEOUT_NEGATIVE);
        assert_eq!(text(ms("0x10")), TIMEOUT_NOT_INT);
        assert_eq!(text(ms("9223372036854775807")), TIMEOUT_RANGE);
    }

    #[test]
    fn cursor() {
        let a = Args::plain(vec![
            Bytes::from("set"),
            Bytes::from("k"),
            Bytes::from("EX"),
            Bytes::from("10"),
        ]);
        assert_eq!(&a.next().unwrap()[..], b"k");
        assert!(!a.keyword("px"));
        assert!(a.keyword("ex"));
        assert_eq!(a.int().unwrap(), 10);
        assert!(a.end().is_ok());
        assert!(a.next().is_err());
    }
    #[test]
    fn cursors_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b"-"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1 "), None);
        assert_eq!(parse_cursor(b"x"), None);
    }

    #[test]
    fn one_scan_grammar() {
        let args = |words: &[&str]| {
            let mut items = vec![Bytes::from("scan")];
            items.extend(words.iter().map(|w| Bytes::from(w.to_string())));
            Args::plain(items)
        };
        let o = args(&["match", "a*", "COUNT", "5", "type", "HASH", "count", "7"])
            .scan_options(ScanType::Allowed)
            .unwrap();
        assert_eq!(o.pattern.as_deref(), Some(&b"a*"[..]));
        assert_eq!(o.count, 7);
        assert_eq!(o.kind.as_deref(), Some(&b"hash"[..]));
        let all = args(&["MATCH", "*"])
            .scan_options(ScanType::Refused)
            .unwrap();
        assert!(all.pattern.is_none() && all.matches(b"anything"));
        let huge = args(&["COUNT", "9223372036854775807"]);
        assert_eq!(
            huge.scan_options(ScanType::Refused).unwrap().count,
            SCAN_COUNT_MAX
        );
        for bad in [
            &["COUNT", "0"][..],
            &["COUNT"],
            &["TYPE", "string"],
            &["MATCH"],
        ] {
            let e = args(bad).scan_options(ScanType::Refused).unwrap_err();
            assert_eq!(e, error(err::SYNTAX), "{bad:?}");
        }
        let e = args(&["COUNT", "x"])
            .scan_options(ScanType::Allowed)
            .unwrap_err();
        assert_eq!(e, error(err::NOT_INT));
    }

    /// Each family's numkeys refusals, as redis-server 7.0.15 words them.
    #[test]
    fn numkeys_like_redis() {
        let read = |form: NumKeys, line: &str| {
            let items = std::iter::once("cmd").chain(line.split(' '));
            let args = Args::plain(
                items
                    .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                    .collect(),
            );
            match args.numkeys(form) {
                Ok(keys) => Ok((keys.len(), args.remaining())),
                Err(Reply::Error(e)) => Err(e.to_string()),
                Err(other) => Err(format!("{other:?}")),
            }
        };
        let zunion = NumKeys::Combine("zunion");
        let no_input = "ERR at least 1 input key is needed for 'zunion' command";
        // (form, arguments, Ok((keys read, arguments left)) or the error text)
        type Case<'a> = (NumKeys<'a>, &'a str, Result<(usize, usize), &'a str>);
        let cases: &[Case] = &[
            (NumKeys::Script, "0 a", Ok((0, 1))),
            (NumKeys::Script, "2 a b c", Ok((2, 1))),
            (NumKeys::Script, "x a", Err(err::NOT_INT)),
            (NumKeys::Script, "-1 a", Err(err::NUMKEYS_NEGATIVE)),
            (NumKeys::Script, "2 a", Err(err::NUMKEYS_OVER_ARGS)),
            (zunion, "2 a b WITHSCORES", Ok((2, 1))),
            (zunion, "x a", Err(err::NOT_INT)),
            (zunion, "0 a", Err(no_input)),
            (zunion, "-1 a", Err(no_input)),
            (zunion, "3 a b", Err(err::SYNTAX)),
            (NumKeys::Card, "1 a", Ok((1, 0))),
            (NumKeys::Card, "x a", Err(err::NUMKEYS)),
            (NumKeys::Card, "0 a", Err(err::NUMKEYS)),
            (NumKeys::Card, "3 a", Err(err::NUMKEYS_OVER_ARGS)),
            (NumKeys::Pop, "1 a LEFT", Ok((1, 1))),
            (
                NumKeys::Pop,
                "99999999999999999999 a LEFT",
                Err(err::NUMKEYS),
            ),
            (NumKeys::Pop, "-1 a LEFT", Err(err::NUMKEYS)),
            (NumKeys::Pop, "2 a LEFT", Err(err::SYNTAX)),
        ];
        for (form, line, want) in cases {
            let want = want.map_err(str::to_string);
            assert_eq!(read(*form, line), want, "{line}");
        }
    }
}
