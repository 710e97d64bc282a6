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

use super::jsonparse::decode;

use super::{
    check_bytes, check_integer, number_text, type_name, Builder, Fail, Out, MAX_RESULTS,
    MAX_TABLE_VISITS, NO_MEMORY,
};

/// Output ceiling, as the Lua state's own memory ceiling bounds other strings.
const MAX_OUTPUT: usize = 1 << 30;

#[derive(Clone)]
pub(super) struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    pub(super) decode_max_depth: i64,
    /// 0 off, 1 on, 2 null.
    encode_invalid_numbers: usize,
    pub(super) decode_invalid_numbers: bool,
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

pub(super) type Shared = Rc<RefCell<Config>>;

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

pub(super) fn single(value: Value) -> Out {
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
