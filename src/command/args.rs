//! The argument cursor every handler reads its arguments through.

use std::cell::Cell;

use bytes::Bytes;

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
    /// Wraps a parsed command (name first).
    pub fn new(items: Vec<Bytes>) -> Self {
        Args {
            items,
            pos: Cell::new(1),
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

    /// The next argument as an f64 (no NaN), with Redis's error text.
    pub fn float(&self) -> Result<f64, Reply> {
        parse_float(self.arg()?).ok_or_else(|| error(err::NOT_FLOAT))
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

/// Parses a Redis float argument: what strtold accepts (including "inf"), no spaces, no NaN.
pub fn parse_float(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    let value = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse::<f64>().ok()?,
    };
    if value.is_nan() {
        return None;
    }
    Some(value)
}

/// `Ok(Reply::Simple("OK"))`.
pub fn ok() -> CmdResult {
    Ok(Reply::Simple("OK"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn floats_like_redis() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"1e3"), Some(1000.0));
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b"abc"), None);
    }

    #[test]
    fn cursor() {
        let a = Args::new(vec![
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
}
