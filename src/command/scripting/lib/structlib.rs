//! `struct`: Roberto Ierusalimschy's struct library as Redis bundles it (pack, unpack, size),
//! on x86-64's sizes: `long` and `size_t` are 8 bytes, native order is little-endian, the
//! largest alignment is 8 and integers may be up to 32 bytes.

use mlua::{Lua, MultiValue, Table, Value};

use super::{check_bytes, check_number, opt_integer, to_number, Builder, Fail, Out, MAX_RESULTS};

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

pub(super) fn table(build: &Builder) -> mlua::Result<Table> {
    build.table(&[
        ("pack", build.function(|lua, args| pack(lua, &args))?),
        ("unpack", build.function(|lua, args| unpack(lua, &args))?),
        ("size", build.function(|_, args| Ok(size(&args)))?),
    ])
}

struct Header {
    little: bool,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// The format string: a C string, so it ends at the first NUL.
fn format(args: &MultiValue) -> Result<Vec<u8>, Fail> {
    let mut fmt = check_bytes(args, 1)?;
    if let Some(end) = fmt.iter().position(|&b| b == 0) {
        fmt.truncate(end);
    }
    Ok(fmt)
}

/// A count after an option, or `default` when there is none.
fn number(fmt: &[u8], at: &mut usize, default: usize) -> Result<usize, Fail> {
    if !fmt.get(*at).is_some_and(u8::is_ascii_digit) {
        return Ok(default);
    }
    let mut a: usize = 0;
    while let Some(d) = fmt.get(*at).filter(|c| c.is_ascii_digit()) {
        let d = (d - b'0') as usize;
        if a > i32::MAX as usize / 10 || a * 10 > i32::MAX as usize - d {
            return Err(Fail::Msg("integral size overflow".into()));
        }
        a = a * 10 + d;
        *at += 1;
    }
    Ok(a)
}

fn option_size(opt: u8, fmt: &[u8], at: &mut usize) -> Result<usize, Fail> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => number(fmt, at, 1)?,
        b'i' | b'I' => {
            let size = number(fmt, at, 4)?;
            if size > MAX_INT_SIZE {
                return Err(Fail::Msg(format!(
                    "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                )));
            }
            size
        }
        _ => 0,
    })
}

fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn control(opt: u8, fmt: &[u8], at: &mut usize, h: &mut Header) -> Result<(), Fail> {
    match opt {
        b' ' => {}
        b'>' => h.little = false,
        b'<' => h.little = true,
        b'!' => {
            let a = number(fmt, at, MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(Fail::Msg(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        _ => {
            return Err(Fail::Arg(
                1,
                format!("invalid format option '{}'", opt as char),
            ))
        }
    }
    Ok(())
}

fn is_integer_option(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

fn ordered(bytes: &mut [u8], little: bool) {
    if !little {
        bytes.reverse();
    }
}

fn pack(lua: &Lua, args: &MultiValue) -> mlua::Result<Out> {
    let result = (|| {
        let fmt = format(args)?;
        let mut h = Header::new();
        let (mut out, mut arg, mut at) = (Vec::new(), 2usize, 0usize);
        while at < fmt.len() {
            let opt = fmt[at];
            at += 1;
            let mut size = option_size(opt, &fmt, &mut at)?;
            let pad = padding(out.len(), &h, opt, size);
            out.resize(out.len() + pad, 0);
            match opt {
                _ if is_integer_option(opt) => {
                    let n = check_number(args, arg)?;
                    arg += 1;
                    let mut value = if n < 0.0 {
                        super::truncate(n) as u64
                    } else if n < 18_446_744_073_709_551_616.0 {
                        n as u64
                    } else {
                        1 << 63
                    };
                    let mut bytes = vec![0u8; size];
                    for b in bytes.iter_mut() {
                        *b = value as u8;
                        value >>= 8;
                    }
                    ordered(&mut bytes, h.little);
                    out.extend_from_slice(&bytes);
                }
                b'x' => out.push(0),
                b'f' => {
                    let mut bytes = (check_number(args, arg)? as f32).to_le_bytes();
                    arg += 1;
                    ordered(&mut bytes, h.little);
                    out.extend_from_slice(&bytes);
                }
                b'd' => {
                    let mut bytes = check_number(args, arg)?.to_le_bytes();
                    arg += 1;
                    ordered(&mut bytes, h.little);
                    out.extend_from_slice(&bytes);
                }
                b'c' | b's' => {
                    let s = check_bytes(args, arg)?;
                    arg += 1;
                    if size == 0 {
                        size = s.len();
                    }
                    if s.len() < size {
                        return Err(Fail::Arg(arg as i32, "string too short".into()));
                    }
                    out.extend_from_slice(&s[..size]);
                    if opt == b's' {
                        out.push(0);
                        size += 1;
                    }
                }
                _ => control(opt, &fmt, &mut at, &mut h)?,
            }
            let _ = size;
        }
        Ok(out)
    })();
    Ok(match result {
        Ok(bytes) => Ok(MultiValue::from_iter([Value::String(
            lua.create_string(&bytes)?,
        )])),
        Err(e) => Err(e),
    })
}

fn integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let mut push = |b: u8| l = (l << 8) | b as u64;
    if little {
        bytes.iter().rev().for_each(|&b| push(b));
    } else {
        bytes.iter().for_each(|&b| push(b));
    }
    if !signed {
        return l as f64;
    }
    // The C code shifts by size*8-1, which x86 takes modulo 64 for wide sizes.
    let mask = u64::MAX.wrapping_shl((bytes.len() * 8).wrapping_sub(1) as u32);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: &MultiValue) -> mlua::Result<Out> {
    let fmt = match format(args) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let data = match check_bytes(args, 2) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let start = match opt_integer(args, 3, 1) {
        Ok(p) => p as u64 as usize,
        Err(e) => return Ok(Err(e)),
    };
    if start == 0 {
        return Ok(Err(Fail::Arg(3, "offset must be 1 or greater".into())));
    }
    let too_short = || Fail::Arg(2, "data string too short".into());
    let ld = data.len();
    let mut pos = start - 1;
    let mut h = Header::new();
    let mut out: Vec<Value> = Vec::new();
    let mut at = 0;
    while at < fmt.len() {
        let opt = fmt[at];
        at += 1;
        let mut size = match option_size(opt, &fmt, &mut at) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Ok(Err(too_short()));
        }
        if args.len() + out.len() + 2 > MAX_RESULTS {
            return Ok(Err(Fail::Msg("stack overflow (too many results)".into())));
        }
        match opt {
            _ if is_integer_option(opt) => out.push(Value::Number(integer(
                &data[pos..pos + size],
                h.little,
                opt.is_ascii_lowercase(),
            ))),
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                ordered(&mut b, h.little);
                out.push(Value::Number(f32::from_le_bytes(b) as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                ordered(&mut b, h.little);
                out.push(Value::Number(f64::from_le_bytes(b)));
            }
            b'c' => {
                if size == 0 {
                    let Some(n) = out.last().filter(|v| to_number(Some(v)).is_some()) else {
                        return Ok(Err(Fail::Msg("format 'c0' needs a previous size".into())));
                    };
                    let n = to_number(Some(n)).unwrap_or(0.0);
                    size = if n < 0.0 { usize::MAX } else { n as usize };
                    out.pop();
                    if !(size <= ld && pos <= ld - size) {
                        return Ok(Err(too_short()));
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Ok(Err(Fail::Msg("unfinished string in data".into())));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + len])?));
                size = len + 1;
            }
            _ => {
                if let Err(e) = control(opt, &fmt, &mut at, &mut h) {
                    return Ok(Err(e));
                }
            }
        }
        pos += size;
    }
    out.push(Value::Number((pos as u64).wrapping_add(1) as i64 as f64));
    Ok(Ok(MultiValue::from_iter(out)))
}

fn size(args: &MultiValue) -> Out {
    let fmt = format(args)?;
    let mut h = Header::new();
    let (mut pos, mut at) = (0usize, 0usize);
    while at < fmt.len() {
        let opt = fmt[at];
        at += 1;
        let size = option_size(opt, &fmt, &mut at)?;
        pos += padding(pos, &h, opt, size);
        if opt == b's' {
            return Err(Fail::Arg(1, "option 's' has no fixed size".into()));
        } else if opt == b'c' && size == 0 {
            return Err(Fail::Arg(1, "option 'c0' has no fixed size".into()));
        }
        if !opt.is_ascii_alphanumeric() {
            control(opt, &fmt, &mut at, &mut h)?;
        }
        pos += size;
    }
    Ok(MultiValue::from_iter([Value::Number(pos as f64)]))
}
