//! `cjson`: Lua CJSON 2.1.0 as Redis bundles it. Numbers print as C's `%.14g`, `/` and DEL
//! are escaped, an empty table is `{}`, arrays follow cjson's sparse-array rule, `cjson.null`
//! is the NULL light userdata, and the parser takes what cjson's takes (strtod numbers, hex
//! and inf/nan included) with its error texts and character positions. The settings
//! (`encode_max_depth`, `decode_max_depth`, ...) belong to the module table, as in cjson, and
//! last as long as the Lua state.
//!
//! Encoding is written out because cjson's formatting (escapes, `%.14g`, sparse arrays) is the
//! whole job; decoding because cjson reads bytes, not UTF-8, accepts non-JSON numbers, and
//! its error texts name its own token types and offsets.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Lua, MultiValue, Table, Value};

use super::{
    check_bytes, check_integer, number_text, type_name, Builder, Fail, Out, MAX_RESULTS,
    MAX_TABLE_VISITS, NO_MEMORY,
};

/// Output ceiling, as the Lua state's own memory ceiling bounds other strings.
const MAX_OUTPUT: usize = 1 << 30;

#[derive(Clone)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    /// 0 off, 1 on, 2 null.
    encode_invalid_numbers: usize,
    decode_invalid_numbers: bool,
    keep_buffer: bool,
    precision: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            keep_buffer: true,
            precision: 14,
        }
    }
}

type Shared = Rc<RefCell<Config>>;

pub(super) fn table(build: &Builder) -> mlua::Result<Table> {
    let cfg: Shared = Rc::default();
    let with = |f: fn(&Lua, &MultiValue, &Shared) -> mlua::Result<Out>| {
        let cfg = cfg.clone();
        build.function(move |lua, args| f(lua, &args, &cfg))
    };
    let t = build.table(&[
        ("encode", with(encode)?),
        ("decode", with(decode)?),
        ("encode_sparse_array", with(sparse_array)?),
        (
            "encode_max_depth",
            with(|l, a, c| int_option(l, a, c, 1, i32::MAX as i64, |c| &mut c.encode_max_depth))?,
        ),
        (
            "decode_max_depth",
            with(|l, a, c| int_option(l, a, c, 1, i32::MAX as i64, |c| &mut c.decode_max_depth))?,
        ),
        (
            "encode_number_precision",
            with(|l, a, c| int_option(l, a, c, 1, 14, |c| &mut c.precision))?,
        ),
        (
            "encode_keep_buffer",
            with(|_, a, c| bool_option(a, c, |c| &mut c.keep_buffer))?,
        ),
        ("encode_invalid_numbers", with(invalid_numbers)?),
        (
            "decode_invalid_numbers",
            with(|_, a, c| bool_option(a, c, |c| &mut c.decode_invalid_numbers))?,
        ),
        (
            "new",
            build.function(|lua, _| {
                let fresh = super::Builder::again(lua);
                Ok(Ok(MultiValue::from_iter([Value::Table(table(&fresh)?)])))
            })?,
        ),
    ])?;
    t.raw_set("null", Value::NULL)?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn single(value: Value) -> Out {
    Ok(MultiValue::from_iter([value]))
}

/// `json_arg_init`: at most `n` arguments.
fn at_most(args: &MultiValue, n: usize) -> Result<(), Fail> {
    if args.len() > n {
        return Err(Fail::Arg(n as i32 + 1, "found too many arguments".into()));
    }
    Ok(())
}

fn given(args: &MultiValue, n: usize) -> bool {
    !matches!(args.get(n - 1), None | Some(Value::Nil))
}

fn int_option(
    _: &Lua,
    args: &MultiValue,
    cfg: &Shared,
    min: i64,
    max: i64,
    field: fn(&mut Config) -> &mut i64,
) -> mlua::Result<Out> {
    Ok((|| {
        at_most(args, 1)?;
        let mut cfg = cfg.borrow_mut();
        set_int(args, 1, &mut cfg, min, max, field)?;
        single(Value::Number(*field(&mut cfg) as f64))
    })())
}

fn set_int(
    args: &MultiValue,
    n: usize,
    cfg: &mut Config,
    min: i64,
    max: i64,
    field: fn(&mut Config) -> &mut i64,
) -> Result<(), Fail> {
    if given(args, n) {
        // cjson reads the option into a C int.
        let value = check_integer(args, n)? as i32 as i64;
        if !(min..=max).contains(&value) {
            return Err(Fail::Arg(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *field(cfg) = value;
    }
    Ok(())
}

/// `json_enum_option` over `options` (index = setting); booleans map to 0 and `bool_true`.
fn enum_option(
    args: &MultiValue,
    n: usize,
    options: &[&str],
    bool_true: usize,
) -> Result<Option<usize>, Fail> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(if *b { bool_true } else { 0 })),
        _ => {
            let name = check_bytes(args, n)?;
            match options.iter().position(|o| o.as_bytes() == name) {
                Some(i) => Ok(Some(i)),
                None => Err(Fail::Arg(
                    n as i32,
                    format!("invalid option '{}'", String::from_utf8_lossy(&name)),
                )),
            }
        }
    }
}

fn bool_option(
    args: &MultiValue,
    cfg: &Shared,
    field: fn(&mut Config) -> &mut bool,
) -> mlua::Result<Out> {
    Ok((|| {
        at_most(args, 1)?;
        let mut cfg = cfg.borrow_mut();
        if let Some(i) = enum_option(args, 1, &["off", "on"], 1)? {
            *field(&mut cfg) = i == 1;
        }
        single(Value::Boolean(*field(&mut cfg)))
    })())
}

fn invalid_numbers(lua: &Lua, args: &MultiValue, cfg: &Shared) -> mlua::Result<Out> {
    let options = ["off", "on", "null"];
    let result = (|| {
        at_most(args, 1)?;
        let mut cfg = cfg.borrow_mut();
        if let Some(i) = enum_option(args, 1, &options, 1)? {
            cfg.encode_invalid_numbers = i;
        }
        Ok(cfg.encode_invalid_numbers)
    })();
    Ok(match result {
        Ok(2) => single(Value::String(lua.create_string("null")?)),
        Ok(i) => single(Value::Boolean(i == 1)),
        Err(e) => Err(e),
    })
}

fn sparse_array(_: &Lua, args: &MultiValue, cfg: &Shared) -> mlua::Result<Out> {
    Ok((|| {
        at_most(args, 3)?;
        let mut c = cfg.borrow_mut();
        if let Some(i) = enum_option(args, 1, &["off", "on"], 1)? {
            c.sparse_convert = i == 1;
        }
        set_int(args, 2, &mut c, 0, i32::MAX as i64, |c| &mut c.sparse_ratio)?;
        set_int(args, 3, &mut c, 0, i32::MAX as i64, |c| &mut c.sparse_safe)?;
        Ok(MultiValue::from_iter([
            Value::Boolean(c.sparse_convert),
            Value::Number(c.sparse_ratio as f64),
            Value::Number(c.sparse_safe as f64),
        ]))
    })())
}

// ---- encoding ----

fn encode(lua: &Lua, args: &MultiValue, cfg: &Shared) -> mlua::Result<Out> {
    if args.len() != 1 {
        return Ok(Err(Fail::Arg(1, "expected 1 argument".into())));
    }
    let cfg = cfg.borrow().clone();
    let mut out = Buf {
        bytes: Vec::new(),
        visits: 0,
    };
    let value = args.front().cloned().unwrap_or(Value::Nil);
    match append(&value, &cfg, 0, 1, &mut out)? {
        Ok(()) => Ok(single(Value::String(lua.create_string(&out.bytes)?))),
        Err(e) => Ok(Err(e)),
    }
}

fn cannot(value: &Value, reason: &str) -> Fail {
    Fail::Msg(format!(
        "Cannot serialise {}: {reason}",
        type_name(Some(value))
    ))
}

/// The text being built, and the tables visited so far.
struct Buf {
    bytes: Vec<u8>,
    visits: usize,
}

fn put(out: &mut Buf, bytes: &[u8]) -> Result<(), Fail> {
    if out.bytes.len() + bytes.len() > MAX_OUTPUT {
        return Err(Fail::Msg(NO_MEMORY.into()));
    }
    out.bytes.extend_from_slice(bytes);
    Ok(())
}

fn append_string(bytes: &[u8], out: &mut Buf) -> Result<(), Fail> {
    put(out, b"\"")?;
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'/' => Some(b"\\/"),
            b'\x08' => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            b'\x0c' => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        put(out, &bytes[start..i])?;
        match escaped {
            Some(e) => put(out, e)?,
            None => put(out, format!("\\u{b:04x}").as_bytes())?,
        }
        start = i + 1;
    }
    put(out, &bytes[start..])?;
    put(out, b"\"")
}

fn append_number(value: &Value, x: f64, cfg: &Config, out: &mut Buf) -> Result<(), Fail> {
    match cfg.encode_invalid_numbers {
        0 if !x.is_finite() => return Err(cannot(value, "must not be NaN or Inf")),
        1 if x.is_nan() => return put(out, b"nan"),
        2 if !x.is_finite() => return put(out, b"null"),
        _ => {}
    }
    put(out, number_text(x, cfg.precision as usize).as_bytes())
}

/// `stack` counts the Lua stack slots cjson would use here, for its `lua_checkstack` limit.
fn append(
    value: &Value,
    cfg: &Config,
    depth: i64,
    stack: usize,
    out: &mut Buf,
) -> mlua::Result<Result<(), Fail>> {
    Ok(match value {
        Value::String(s) => append_string(&s.as_bytes(), out),
        Value::Integer(n) => append_number(value, *n as f64, cfg, out),
        Value::Number(x) => append_number(value, *x, cfg, out),
        Value::Boolean(true) => put(out, b"true"),
        Value::Boolean(false) => put(out, b"false"),
        Value::Nil => put(out, b"null"),
        Value::LightUserData(p) if p.0.is_null() => put(out, b"null"),
        Value::Table(t) => {
            out.visits += 1;
            if out.visits > MAX_TABLE_VISITS {
                return Ok(Err(Fail::Msg(NO_MEMORY.into())));
            }
            let depth = depth + 1;
            if depth > cfg.encode_max_depth || stack + 3 > MAX_RESULTS {
                return Ok(Err(Fail::Msg(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                ))));
            }
            match array_length(t, value, cfg)? {
                Err(e) => Err(e),
                Ok(Some(len)) if len > 0 => append_array(t, len, cfg, depth, stack, out)?,
                Ok(_) => append_object(t, cfg, depth, stack, out)?,
            }
        }
        other => Err(cannot(other, "type not supported")),
    })
}

/// cjson's `lua_array_length`: `Some(max key)` when every key is a whole number >= 1 and the
/// array is not too sparse, `None` for an object.
fn array_length(t: &Table, value: &Value, cfg: &Config) -> mlua::Result<Result<Option<i64>, Fail>> {
    let (mut max, mut items) = (0i32, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let k = match key {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(Ok(None)),
        };
        if k == 0.0 || k.floor() != k || k < 1.0 {
            return Ok(Ok(None));
        }
        if k > max as f64 {
            // A C double-to-int conversion: out of range gives INT_MIN.
            max = if k < 2_147_483_648.0 {
                k as i32
            } else {
                i32::MIN
            };
        }
        items += 1;
    }
    let max = max as i64;
    if cfg.sparse_ratio > 0 && max > items * cfg.sparse_ratio && max > cfg.sparse_safe {
        if !cfg.sparse_convert {
            return Ok(Err(cannot(value, "excessively sparse array")));
        }
        return Ok(Ok(None));
    }
    Ok(Ok(Some(max)))
}

fn append_array(
    t: &Table,
    len: i64,
    cfg: &Config,
    depth: i64,
    stack: usize,
    out: &mut Buf,
) -> mlua::Result<Result<(), Fail>> {
    if let Err(e) = put(out, b"[") {
        return Ok(Err(e));
    }
    for i in 1..=len {
        if i > 1 {
            if let Err(e) = put(out, b",") {
                return Ok(Err(e));
            }
        }
        let item: Value = t.raw_get(i)?;
        if let Err(e) = append(&item, cfg, depth, stack + 1, out)? {
            return Ok(Err(e));
        }
    }
    Ok(put(out, b"]"))
}

fn append_object(
    t: &Table,
    cfg: &Config,
    depth: i64,
    stack: usize,
    out: &mut Buf,
) -> mlua::Result<Result<(), Fail>> {
    let step = |out: &mut Buf,
                key: &Value,
                value: &Value,
                first: bool|
     -> mlua::Result<Result<(), Fail>> {
        let key_part = (|| {
            if !first {
                put(out, b",")?;
            }
            match key {
                Value::Integer(_) | Value::Number(_) => {
                    let x = match key {
                        Value::Integer(n) => *n as f64,
                        Value::Number(x) => *x,
                        _ => 0.0,
                    };
                    put(out, b"\"")?;
                    append_number(key, x, cfg, out)?;
                    put(out, b"\":")
                }
                Value::String(s) => {
                    append_string(&s.as_bytes(), out)?;
                    put(out, b":")
                }
                other => Err(cannot(other, "table key must be a number or string")),
            }
        })();
        if let Err(e) = key_part {
            return Ok(Err(e));
        }
        append(value, cfg, depth, stack + 2, out)
    };
    if let Err(e) = put(out, b"{") {
        return Ok(Err(e));
    }
    let mut first = true;
    for pair in t.pairs::<Value, Value>() {
        let (key, value) = pair?;
        if let Err(e) = step(out, &key, &value, first)? {
            return Ok(Err(e));
        }
        first = false;
    }
    Ok(put(out, b"}"))
}

// ---- decoding ----

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

fn decode(lua: &Lua, args: &MultiValue, cfg: &Shared) -> mlua::Result<Out> {
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
