//! `bit`: LuaBitOp 1.0 as Redis bundles it. Numbers become 32-bit integers the way the C
//! library does it (adding 2^52+2^51 and keeping the low word, so fractions round to even and
//! larger numbers wrap), and results come back as signed 32-bit numbers.

use mlua::{MultiValue, Table, Value};

use super::{to_number, type_error, Builder, Fail, Out};

pub(super) fn table(build: &Builder) -> mlua::Result<Table> {
    let unary =
        |op: fn(u32) -> u32| build.function(move |_, args| Ok(arg(&args, 1).map(|b| ret(op(b)))));
    let fold = |op: fn(u32, u32) -> u32| {
        build.function(move |_, args| {
            let result = (|| {
                let mut b = arg(&args, 1)?;
                for i in (2..=args.len()).rev() {
                    b = op(b, arg(&args, i)?);
                }
                Ok(ret(b))
            })();
            Ok(result)
        })
    };
    let shift = |op: fn(u32, u32) -> u32| {
        build.function(move |_, args| {
            let result = (|| {
                let b = arg(&args, 1)?;
                let n = arg(&args, 2)? & 31;
                Ok(ret(op(b, n)))
            })();
            Ok(result)
        })
    };
    let tohex = build.function(|lua, args| tohex(lua, &args))?;
    build.table(&[
        ("tobit", unary(|b| b)?),
        ("bnot", unary(|b| !b)?),
        ("band", fold(|a, b| a & b)?),
        ("bor", fold(|a, b| a | b)?),
        ("bxor", fold(|a, b| a ^ b)?),
        ("lshift", shift(|b, n| b << n)?),
        ("rshift", shift(|b, n| b >> n)?),
        ("arshift", shift(|b, n| ((b as i32) >> n) as u32)?),
        ("rol", shift(|b, n| b.rotate_left(n))?),
        ("ror", shift(|b, n| b.rotate_right(n))?),
        ("bswap", unary(u32::swap_bytes)?),
        ("tohex", tohex),
    ])
}

/// Argument `n` as LuaBitOp's `barg` reads it (`lua_tonumber`, so a non-number is 0 and only
/// then an error).
fn arg(args: &MultiValue, n: usize) -> Result<u32, Fail> {
    let value = args.get(n - 1);
    let x = to_number(value).unwrap_or(0.0);
    let b = (x + 6_755_399_441_055_744.0).to_bits() as u32;
    if b == 0 && to_number(value).is_none() {
        return Err(type_error(n, "number", value));
    }
    Ok(b)
}

fn ret(b: u32) -> MultiValue {
    MultiValue::from_iter([Value::Number(b as i32 as f64)])
}

fn tohex(lua: &mlua::Lua, args: &MultiValue) -> mlua::Result<Out> {
    let (mut b, n) = match (arg(args, 1), args.len() < 2) {
        (Err(e), _) => return Ok(Err(e)),
        (Ok(b), true) => (b, 8),
        (Ok(b), false) => match arg(args, 2) {
            Ok(n) => (b, n as i32),
            Err(e) => return Ok(Err(e)),
        },
    };
    let digits: &[u8; 16] = if n < 0 {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.saturating_neg().unsigned_abs().min(8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    let text = lua.create_string(&buf[..n])?;
    Ok(Ok(MultiValue::from_iter([Value::String(text)])))
}
