//! `cjson.decode`'s parser: cjson's tokenizer (bytes, not UTF-8, read as a C string), its
//! number forms (C `strtod`, so hex and inf/nan too), its depth and stack limits, and its
//! error texts with their token names and character positions.

use mlua::{Lua, MultiValue, Value};

use super::cjson::{single, Config, Shared};
use super::{check_bytes, Fail, Out, MAX_RESULTS};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Kind {
    fn found(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error(text) => text,
        }
    }
}

struct Token {
    kind: Kind,
    index: usize,
    text: Vec<u8>,
    number: f64,
    boolean: bool,
}

struct Parser<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    at: usize,
    depth: i64,
    cfg: Config,
}

pub(super) fn decode(lua: &Lua, args: &MultiValue, cfg: &Shared) -> mlua::Result<Out> {
    if args.len() != 1 {
        return Ok(Err(Fail::Arg(1, "expected 1 argument".into())));
    }
    let data = match args.front() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(Value::Integer(_)) | Some(Value::Number(_)) => match check_bytes(args, 1) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        },
        other => return Ok(Err(super::type_error(1, "string", other))),
    };
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Ok(Err(Fail::Msg(
            "JSON parser does not support UTF-16 or UTF-32".into(),
        )));
    }
    let mut p = Parser {
        lua,
        data: &data,
        at: 0,
        depth: 0,
        cfg: cfg.borrow().clone(),
    };
    let token = p.next();
    let value = match p.value(token, 1)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let token = p.next();
    if token.kind != Kind::End {
        return Ok(Err(expected("the end", &token)));
    }
    Ok(single(value))
}

fn expected(what: &str, token: &Token) -> Fail {
    Fail::Msg(format!(
        "Expected {what} but found {} at character {}",
        token.kind.found(),
        token.index + 1
    ))
}

impl Parser<'_> {
    /// The byte at `i`, NUL past the end (cjson reads a C string).
    fn byte(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn token(&self, kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            text: Vec::new(),
            number: 0.0,
            boolean: false,
        }
    }

    fn next(&mut self) -> Token {
        while matches!(self.byte(self.at), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        let start = self.at;
        let c = self.byte(start);
        let single = match c {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => return self.token(Kind::End, start),
            b'"' | b'-' | b'0'..=b'9' | b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => None,
            _ => return self.token(Kind::Error("invalid token"), start),
        };
        if let Some(kind) = single {
            self.at += 1;
            return self.token(kind, start);
        }
        let rest = &self.data[start..];
        if c == b'"' {
            return self.string(start);
        }
        if c == b'-' || c.is_ascii_digit() {
            if !self.cfg.decode_invalid_numbers && self.invalid_number() {
                return self.token(Kind::Error("invalid number"), start);
            }
            return self.number(start);
        }
        for (word, kind, b) in [
            (&b"true"[..], Kind::Boolean, true),
            (b"false", Kind::Boolean, false),
            (b"null", Kind::Null, false),
        ] {
            if rest.starts_with(word) {
                self.at += word.len();
                let mut t = self.token(kind, start);
                t.boolean = b;
                return t;
            }
        }
        if self.cfg.decode_invalid_numbers && self.invalid_number() {
            return self.number(start);
        }
        self.token(Kind::Error("invalid token"), start)
    }

    /// cjson's `json_is_invalid_number`: forms strtod takes that JSON does not.
    fn invalid_number(&self) -> bool {
        let mut p = self.at;
        match self.byte(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.byte(p);
        if c == b'0' {
            let c2 = self.byte(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word: Vec<u8> = (0..3)
            .map(|i| self.byte(p + i).to_ascii_lowercase())
            .collect();
        word == b"inf" || word == b"nan"
    }

    fn number(&mut self, start: usize) -> Token {
        match strtod(&self.data[start..]) {
            Some((x, used)) => {
                self.at = start + used;
                let mut t = self.token(Kind::Number, start);
                t.number = x;
                t
            }
            None => {
                let mut t = self.token(Kind::Error("invalid number"), start);
                t.index = self.at;
                t
            }
        }
    }

    fn string(&mut self, start: usize) -> Token {
        self.at += 1;
        let mut text = Vec::new();
        loop {
            let c = self.byte(self.at);
            if c == b'"' {
                break;
            }
            if c == 0 {
                let mut t = self.token(Kind::Error("unexpected end of string"), start);
                t.index = self.at;
                return t;
            }
            if c != b'\\' {
                text.push(c);
                self.at += 1;
                continue;
            }
            let mapped = match self.byte(self.at + 1) {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 8,
                b't' => b'\t',
                b'n' => b'\n',
                b'f' => 12,
                b'r' => b'\r',
                b'u' => {
                    if self.unicode(&mut text) {
                        continue;
                    }
                    let mut t = self.token(Kind::Error("invalid unicode escape code"), start);
                    t.index = self.at;
                    return t;
                }
                _ => {
                    let mut t = self.token(Kind::Error("invalid escape code"), start);
                    t.index = self.at;
                    return t;
                }
            };
            text.push(mapped);
            self.at += 2;
        }
        self.at += 1;
        let mut t = self.token(Kind::Str, start);
        t.text = text;
        t
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, i| {
            let d = (self.byte(at + i) as char).to_digit(16)?;
            Some(acc << 4 | d)
        })
    }

    /// A `\uXXXX` escape (or surrogate pair) at the cursor, appended as UTF-8.
    fn unicode(&mut self, text: &mut Vec<u8>) -> bool {
        let Some(mut code) = self.hex4(self.at + 2) else {
            return false;
        };
        let mut len = 6;
        if code & 0xf800 == 0xd800 {
            if code & 0x400 != 0
                || self.byte(self.at + 6) != b'\\'
                || self.byte(self.at + 7) != b'u'
            {
                return false;
            }
            let Some(low) = self.hex4(self.at + 8) else {
                return false;
            };
            if low & 0xfc00 != 0xdc00 {
                return false;
            }
            code = (((code & 0x3ff) << 10) | (low & 0x3ff)) + 0x10000;
            len = 12;
        }
        // Lone low surrogates are encoded as cjson does, as three bytes.
        let mut buf = [0u8; 4];
        let bytes: &[u8] = match code {
            0..=0x7f => {
                buf[0] = code as u8;
                &buf[..1]
            }
            0x80..=0x7ff => {
                buf[0] = (code >> 6) as u8 | 0xc0;
                buf[1] = (code & 0x3f) as u8 | 0x80;
                &buf[..2]
            }
            0x800..=0xffff => {
                buf[0] = (code >> 12) as u8 | 0xe0;
                buf[1] = ((code >> 6) & 0x3f) as u8 | 0x80;
                buf[2] = (code & 0x3f) as u8 | 0x80;
                &buf[..3]
            }
            _ => {
                buf[0] = (code >> 18) as u8 | 0xf0;
                buf[1] = ((code >> 12) & 0x3f) as u8 | 0x80;
                buf[2] = ((code >> 6) & 0x3f) as u8 | 0x80;
                buf[3] = (code & 0x3f) as u8 | 0x80;
                &buf[..4]
            }
        };
        text.extend_from_slice(bytes);
        self.at += len;
        true
    }

    fn descend(&mut self, stack: usize, slots: usize) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && stack + slots <= MAX_RESULTS {
            return Ok(());
        }
        Err(Fail::Msg(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.at
        )))
    }

    /// The value `token` starts; `stack` counts the Lua stack slots cjson would hold.
    fn value(&mut self, token: Token, stack: usize) -> mlua::Result<Result<Value, Fail>> {
        Ok(Ok(match token.kind {
            Kind::Str => Value::String(self.lua.create_string(&token.text)?),
            Kind::Number => Value::Number(token.number),
            Kind::Boolean => Value::Boolean(token.boolean),
            Kind::Null => Value::NULL,
            Kind::ObjBegin => return self.object(stack),
            Kind::ArrBegin => return self.array(stack),
            _ => return Ok(Err(expected("value", &token))),
        }))
    }

    fn object(&mut self, stack: usize) -> mlua::Result<Result<Value, Fail>> {
        if let Err(e) = self.descend(stack, 3) {
            return Ok(Err(e));
        }
        let t = self.lua.create_table()?;
        let mut token = self.next();
        if token.kind == Kind::ObjEnd {
            self.depth -= 1;
            return Ok(Ok(Value::Table(t)));
        }
        loop {
            if token.kind != Kind::Str {
                return Ok(Err(expected("object key string", &token)));
            }
            let key = self.lua.create_string(&token.text)?;
            let colon = self.next();
            if colon.kind != Kind::Colon {
                return Ok(Err(expected("colon", &colon)));
            }
            let first = self.next();
            let value = match self.value(first, stack + 2)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            t.raw_set(key, value)?;
            let after = self.next();
            if after.kind == Kind::ObjEnd {
                self.depth -= 1;
                return Ok(Ok(Value::Table(t)));
            }
            if after.kind != Kind::Comma {
                return Ok(Err(expected("comma or object end", &after)));
            }
            token = self.next();
        }
    }

    fn array(&mut self, stack: usize) -> mlua::Result<Result<Value, Fail>> {
        if let Err(e) = self.descend(stack, 2) {
            return Ok(Err(e));
        }
        let t = self.lua.create_table()?;
        let mut token = self.next();
        if token.kind == Kind::ArrEnd {
            self.depth -= 1;
            return Ok(Ok(Value::Table(t)));
        }
        for i in 1.. {
            let value = match self.value(token, stack + 1)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            t.raw_set(i, value)?;
            let after = self.next();
            if after.kind == Kind::ArrEnd {
                break;
            }
            if after.kind != Kind::Comma {
                return Ok(Err(expected("comma or array end", &after)));
            }
            token = self.next();
        }
        self.depth -= 1;
        Ok(Ok(Value::Table(t)))
    }
}

/// C's `strtod` over the start of `s`: the value and the bytes it used, or None when no
/// number starts there. Takes decimal, hex (`0x`, with fraction and `p` exponent), `inf`,
/// `infinity` and `nan` forms, as glibc does.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    let negative = match at(0) {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let sign = |x: f64| if negative { -x } else { x };
    let lower = |from: usize, n: usize| -> Vec<u8> {
        (0..n).map(|k| at(from + k).to_ascii_lowercase()).collect()
    };
    if lower(i, 3) == b"inf" {
        let used = if lower(i, 8) == b"infinity" {
            i + 8
        } else {
            i + 3
        };
        return Some((sign(f64::INFINITY), used));
    }
    if lower(i, 3) == b"nan" {
        let mut used = i + 3;
        if at(used) == b'(' {
            let mut j = used + 1;
            while at(j).is_ascii_alphanumeric() || at(j) == b'_' {
                j += 1;
            }
            if at(j) == b')' {
                used = j + 1;
            }
        }
        return Some((sign(f64::NAN), used));
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        let mut j = i + 2;
        let (mut mantissa, mut exp, mut digits) = (0f64, 0i64, 0);
        while let Some(d) = (at(j) as char).to_digit(16) {
            mantissa = mantissa * 16.0 + d as f64;
            j += 1;
            digits += 1;
        }
        if at(j) == b'.' {
            let mut k = j + 1;
            while let Some(d) = (at(k) as char).to_digit(16) {
                mantissa = mantissa * 16.0 + d as f64;
                exp -= 4;
                k += 1;
                digits += 1;
            }
            if digits > 0 {
                j = k;
            }
        }
        if digits == 0 {
            // Only the "0" is a number.
            return Some((sign(0.0), i + 1));
        }
        if at(j) | 0x20 == b'p' {
            let mut k = j + 1;
            let neg = match at(k) {
                b'-' => {
                    k += 1;
                    true
                }
                b'+' => {
                    k += 1;
                    false
                }
                _ => false,
            };
            if at(k).is_ascii_digit() {
                let mut e = 0i64;
                while at(k).is_ascii_digit() {
                    e = (e * 10 + (at(k) - b'0') as i64).min(100_000);
                    k += 1;
                }
                exp += if neg { -e } else { e };
                j = k;
            }
        }
        return Some((
            sign(mantissa * 2f64.powi(exp.clamp(-100_000, 100_000) as i32)),
            j,
        ));
    }
    let begin = i;
    let mut digits = 0;
    while at(i).is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if at(i) == b'.' {
        let mut k = i + 1;
        while at(k).is_ascii_digit() {
            k += 1;
            digits += 1;
        }
        if digits > 0 {
            i = k;
        }
    }
    if digits == 0 {
        return None;
    }
    if at(i) | 0x20 == b'e' {
        let mut k = i + 1;
        if matches!(at(k), b'+' | b'-') {
            k += 1;
        }
        if at(k).is_ascii_digit() {
            while at(k).is_ascii_digit() {
                k += 1;
            }
            i = k;
        }
    }
    let text = std::str::from_utf8(&s[begin..i]).ok()?;
    let x: f64 = text.parse().ok()?;
    Some((sign(x), i))
}

#[cfg(test)]
mod tests {
    use super::strtod;

    #[test]
    fn strtod_prefixes() {
        assert_eq!(strtod(b"12abc"), Some((12.0, 2)));
        assert_eq!(strtod(b"-5e3,"), Some((-5000.0, 4)));
        assert_eq!(strtod(b"0x10]"), Some((16.0, 4)));
        assert_eq!(strtod(b"0xg"), Some((0.0, 1)));
        assert_eq!(strtod(b"1e+"), Some((1.0, 1)));
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b".5"), Some((0.5, 2)));
        assert_eq!(strtod(b"Infinity"), Some((f64::INFINITY, 8)));
        assert!(strtod(b"nan").is_some_and(|(x, n)| x.is_nan() && n == 3));
    }
}
