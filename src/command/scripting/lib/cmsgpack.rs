//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis bundles it. Encoding picks the smallest form (Lua
//! numbers that are whole become integers, doubles that survive a trip through `float` become
//! 32-bit floats, strings are always `str`), tables nest at most 16 deep (deeper ones, and
//! cycles, become nil), and a table is an array exactly when its keys are 1..n. Decoding knows
//! the formats lua-cmsgpack writes (no `bin` or `ext`), and stops at Lua's C stack ceiling with
//! lua-cmsgpack's texts.
//!
//! The wire format is a few dozen lines; what makes this library is its Lua-specific rules
//! (array detection, float narrowing, depth cut-off, stack accounting and texts), which a
//! MessagePack crate would not give, so it is written out here rather than wrapped.

use mlua::{Lua, MultiValue, Table, Value};

use super::{
    check_bytes, check_integer, opt_integer, Builder, Fail, Out, MAX_RESULTS, MAX_TABLE_VISITS,
    NO_MEMORY,
};

const MAX_NESTING: usize = 16;
/// Output ceiling: a table that holds itself under many keys would otherwise grow the output
/// exponentially up to the nesting limit.
const MAX_OUTPUT: usize = 512 << 20;

const EOF: &str = "Missing bytes in input.";
const BAD_FORMAT: &str = "Bad data format in input.";
const TOO_MANY: &str =
    "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";

pub(super) fn table(build: &Builder) -> mlua::Result<Table> {
    let t = build.table(&[
        ("pack", build.function(|lua, args| pack(lua, &args))?),
        (
            "unpack",
            build.function(|lua, args| unpack(lua, &args, args.len(), 0, 0))?,
        ),
        (
            "unpack_one",
            build.function(|lua, args| match opt_integer(&args, 2, 0) {
                Ok(offset) => unpack(lua, &args, 1, 1, offset),
                Err(e) => Ok(Err(e)),
            })?,
        ),
        (
            "unpack_limit",
            build.function(|lua, args| {
                let limit = match check_integer(&args, 2) {
                    Ok(l) => l,
                    Err(e) => return Ok(Err(e)),
                };
                match opt_integer(&args, 3, 0) {
                    Ok(offset) => unpack(lua, &args, 1, limit, offset),
                    Err(e) => Ok(Err(e)),
                }
            })?,
        ),
    ])?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

fn pack(lua: &Lua, args: &MultiValue) -> mlua::Result<Out> {
    if args.is_empty() {
        return Ok(Err(Fail::Arg(0, "MessagePack pack needs input.".into())));
    }
    let (mut out, mut visits) = (Vec::new(), 0);
    for value in args.iter() {
        match encode(value, 0, &mut out, &mut visits) {
            Err(mlua::Error::MemoryError(text)) => return Ok(Err(Fail::Msg(text))),
            other => other?,
        }
    }
    let packed = lua.create_string(&out)?;
    Ok(Ok(MultiValue::from_iter([Value::String(packed)])))
}

fn grow(out: &mut Vec<u8>, bytes: &[u8]) -> mlua::Result<()> {
    if out.len() + bytes.len() > MAX_OUTPUT {
        return Err(mlua::Error::MemoryError(NO_MEMORY.into()));
    }
    out.extend_from_slice(bytes);
    Ok(())
}

fn header(
    out: &mut Vec<u8>,
    n: usize,
    fix: u8,
    fix_max: usize,
    codes: [u8; 3],
) -> mlua::Result<()> {
    if n <= fix_max {
        grow(out, &[fix | n as u8])
    } else if codes[0] != 0 && n <= 0xff {
        grow(out, &[codes[0], n as u8])
    } else if n <= 0xffff {
        let b = (n as u16).to_be_bytes();
        grow(out, &[codes[1], b[0], b[1]])
    } else {
        let b = (n as u32).to_be_bytes();
        grow(out, &[codes[2], b[0], b[1], b[2], b[3]])
    }
}

fn encode(value: &Value, level: usize, out: &mut Vec<u8>, visits: &mut usize) -> mlua::Result<()> {
    match value {
        Value::String(s) => {
            let s = s.as_bytes();
            header(out, s.len(), 0xa0, 31, [0xd9, 0xda, 0xdb])?;
            grow(out, &s)
        }
        Value::Boolean(b) => grow(out, &[if *b { 0xc3 } else { 0xc2 }]),
        Value::Integer(n) => encode_number(*n as f64, out),
        Value::Number(n) => encode_number(*n, out),
        Value::Table(t) if level < MAX_NESTING => {
            *visits += 1;
            if *visits > MAX_TABLE_VISITS {
                return Err(mlua::Error::MemoryError(NO_MEMORY.into()));
            }
            encode_table(t, level, out, visits)
        }
        _ => grow(out, &[0xc0]),
    }
}

fn encode_number(n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_finite() && (-LIMIT..LIMIT).contains(&n) && n.trunc() == n {
        return encode_int(n as i64, out);
    }
    let f = n as f32;
    if f as f64 == n {
        let b = f.to_be_bytes();
        grow(out, &[0xca, b[0], b[1], b[2], b[3]])
    } else {
        grow(out, &[0xcb])?;
        grow(out, &n.to_be_bytes())
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) -> mlua::Result<()> {
    match n {
        0..=127 => grow(out, &[n as u8]),
        128..=0xff => grow(out, &[0xcc, n as u8]),
        0x100..=0xffff => grow(out, &[&[0xcd], &(n as u16).to_be_bytes()[..]].concat()),
        0x1_0000..=0xffff_ffff => grow(out, &[&[0xce], &(n as u32).to_be_bytes()[..]].concat()),
        _ if n > 0 => grow(out, &[&[0xcf], &(n as u64).to_be_bytes()[..]].concat()),
        -32..=-1 => grow(out, &[n as i8 as u8]),
        -128..=-33 => grow(out, &[0xd0, n as i8 as u8]),
        -32768..=-129 => grow(out, &[&[0xd1], &(n as i16).to_be_bytes()[..]].concat()),
        -2_147_483_648..=-32769 => grow(out, &[&[0xd2], &(n as i32).to_be_bytes()[..]].concat()),
        _ => grow(out, &[&[0xd3], &n.to_be_bytes()[..]].concat()),
    }
}

/// lua-cmsgpack's array test: every key a whole number in 1..=i32::MAX, and as many keys as
/// the largest one.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let n = match key {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n <= 0.0 || n > i32::MAX as f64 || n.trunc() != n {
            return Ok(false);
        }
        max = max.max(n as i64);
        count += 1;
    }
    Ok(max == count)
}

fn encode_table(
    t: &Table,
    level: usize,
    out: &mut Vec<u8>,
    visits: &mut usize,
) -> mlua::Result<()> {
    if is_array(t)? {
        let len = t.raw_len();
        header(out, len, 0x90, 15, [0, 0xdc, 0xdd])?;
        for i in 1..=len {
            encode(&t.raw_get::<Value>(i)?, level + 1, out, visits)?;
        }
        return Ok(());
    }
    let len = t.pairs::<Value, Value>().count();
    header(out, len, 0x80, 15, [0, 0xde, 0xdf])?;
    for pair in t.pairs::<Value, Value>() {
        let (key, value) = pair?;
        encode(&key, level + 1, out, visits)?;
        encode(&value, level + 1, out, visits)?;
    }
    Ok(())
}

/// `mp_unpack_full`: `limit` values from `offset` (both 0: everything), preceded by the next
/// offset (-1 at the end) when a limit or offset was given. `base` is the number of arguments
/// left on the Lua stack (unpack keeps them all, the others only the first).
fn unpack(lua: &Lua, args: &MultiValue, base: usize, limit: i64, offset: i64) -> mlua::Result<Out> {
    let data = match check_bytes(args, 1) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let len = data.len();
    if offset < 0 || limit < 0 {
        return Ok(Err(Fail::Msg(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        ))));
    }
    if offset as u64 > len as u64 {
        return Ok(Err(Fail::Msg(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        ))));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut reader = Reader {
        lua,
        data: &data,
        at: offset as usize,
    };
    let mut values = Vec::new();
    while reader.at < len && (values.len() as i64) < limit {
        match reader.value(base + values.len())? {
            Ok(v) => values.push(v),
            Err(text) => return Ok(Err(Fail::Msg(text.into()))),
        }
    }
    if !decode_all {
        let next = if reader.at == len {
            -1.0
        } else {
            reader.at as f64
        };
        values.insert(0, Value::Number(next));
    }
    Ok(Ok(MultiValue::from_iter(values)))
}

struct Reader<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    at: usize,
}

type Decoded = Result<Value, &'static str>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.data.len() - self.at < n {
            return Err(EOF);
        }
        let bytes = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(bytes)
    }

    fn be(&mut self, n: usize) -> Result<u64, &'static str> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    /// One value; `stack` counts the Lua stack slots lua-cmsgpack would hold at this point.
    fn value(&mut self, stack: usize) -> mlua::Result<Decoded> {
        let Some(&first) = self.data.get(self.at) else {
            return Ok(Err(EOF));
        };
        if stack + 1 > MAX_RESULTS {
            return Ok(Err(TOO_MANY));
        }
        let number = |n: f64| Ok(Ok(Value::Number(n)));
        macro_rules! read {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(text) => return Ok(Err(text)),
                }
            };
        }
        match first {
            0xcc..=0xcf => {
                let n = read!(self.fixed(first, 0xcc));
                number(n as f64)
            }
            0xd0..=0xd3 => {
                let size = 1usize << (first - 0xd0);
                self.at += 1;
                let raw = read!(self.be(size));
                let shift = 64 - 8 * size as u32;
                number(((raw << shift) as i64 >> shift) as f64)
            }
            0xc0 => {
                self.at += 1;
                Ok(Ok(Value::Nil))
            }
            0xc2 | 0xc3 => {
                self.at += 1;
                Ok(Ok(Value::Boolean(first == 0xc3)))
            }
            0xca => {
                self.at += 1;
                let bits = read!(self.be(4)) as u32;
                number(f32::from_bits(bits) as f64)
            }
            0xcb => {
                self.at += 1;
                let bits = read!(self.be(8));
                number(f64::from_bits(bits))
            }
            0xd9..=0xdb => {
                let width = 1usize << (first - 0xd9);
                // lua-cmsgpack checks the length bytes and the body together for the short
                // forms; either way a shortfall is "missing bytes".
                self.at += 1;
                let len = read!(self.be(width)) as usize;
                let body = read!(self.take(len));
                Ok(Ok(Value::String(self.lua.create_string(body)?)))
            }
            0xdc | 0xdd => {
                self.at += 1;
                let len = read!(self.be(if first == 0xdc { 2 } else { 4 })) as usize;
                self.array(len, stack)
            }
            0xde | 0xdf => {
                self.at += 1;
                let len = read!(self.be(if first == 0xde { 2 } else { 4 })) as usize;
                self.map(len, stack)
            }
            _ if first & 0x80 == 0 => {
                self.at += 1;
                number(first as f64)
            }
            _ if first & 0xe0 == 0xe0 => {
                self.at += 1;
                number(first as i8 as f64)
            }
            _ if first & 0xe0 == 0xa0 => {
                let len = (first & 0x1f) as usize;
                if self.data.len() - self.at < 1 + len {
                    return Ok(Err(EOF));
                }
                self.at += 1;
                let body = read!(self.take(len));
                Ok(Ok(Value::String(self.lua.create_string(body)?)))
            }
            _ if first & 0xf0 == 0x90 => {
                self.at += 1;
                self.array((first & 0xf) as usize, stack)
            }
            _ if first & 0xf0 == 0x80 => {
                self.at += 1;
                self.map((first & 0xf) as usize, stack)
            }
            _ => Ok(Err(BAD_FORMAT)),
        }
    }

    /// An unsigned integer after its marker (`base` is the 1-byte form's marker).
    fn fixed(&mut self, marker: u8, base: u8) -> Result<u64, &'static str> {
        let size = 1usize << (marker - base);
        if self.data.len() - self.at < 1 + size {
            return Err(EOF);
        }
        self.at += 1;
        self.be(size)
    }

    /// The table is built as the elements arrive: a length the input claims is never
    /// allocated up front.
    fn array(&mut self, len: usize, stack: usize) -> mlua::Result<Decoded> {
        // lua-cmsgpack asks for the index's slot once the table holds the value's.
        if stack + 2 > MAX_RESULTS {
            return Ok(Err("stack overflow (in function mp_decode_to_lua_array)"));
        }
        let t = self.lua.create_table()?;
        for i in 1..=len {
            // The table and the index sit on the stack while the element is decoded.
            match self.value(stack + 2)? {
                Ok(v) => t.raw_set(i, v)?,
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(Value::Table(t)))
    }

    fn map(&mut self, len: usize, stack: usize) -> mlua::Result<Decoded> {
        let t = self.lua.create_table()?;
        for _ in 0..len {
            let key = match self.value(stack + 1)? {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            let value = match self.value(stack + 2)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            // lua_settable with a nil key raises; lua-cmsgpack would fail the same way.
            match key {
                Value::Nil => return Ok(Err("table index is nil")),
                Value::Number(n) if n.is_nan() => return Ok(Err("table index is NaN")),
                _ => t.raw_set(key, value)?,
            }
        }
        Ok(Ok(Value::Table(t)))
    }
}
