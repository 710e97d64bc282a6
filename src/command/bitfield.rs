//! BITFIELD and BITFIELD_RO: signed and unsigned integers of 1..64 bits at any bit offset of a
//! string (most significant bit first, as SETBIT numbers bits), with Redis's overflow modes.

use bytes::Bytes;

use super::args::parse_int;
use super::string::{change_long_str, write_string, MAX_STRING_LEN};
use super::table::{access, flags, keyed, row, CommandSpec, KEY1};
use super::{err, error, notify, Args, CmdResult};
use crate::protocol::Reply;
use crate::pubsub::notify::STRING;
use crate::shard::{Shard, Value, ValueRef};

/// The BITFIELD rows (bitmap family).
pub static COMMANDS: &[CommandSpec] = &[
    row("bitfield", -2, flags!(WRITE | DENYOOM), KEY1, keyed(bitfield), "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings.", "key [GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] SET encoding offset value|INCRBY encoding offset increment [GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] SET encoding offset value|INCRBY encoding offset increment ...]]").access(access!(RW | UPDATE | ACCESS | VARIABLE_FLAGS)),
    row("bitfield_ro", -2, flags!(READONLY | FAST), KEY1, keyed(bitfield_ro), "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", "key [GET encoding offset [GET encoding offset ...]]"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set,
    IncrBy,
}

/// A field: signed or not, its width, its bit offset.
#[derive(Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
}

struct Step {
    op: Op,
    field: Field,
    value: i64,
    overflow: Overflow,
}

/// `i1`..`i64` or `u1`..`u63`.
fn field_type(raw: &[u8]) -> Result<(bool, u32), Reply> {
    let bad = || error(err::BITFIELD_TYPE);
    let signed = match raw.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(bad()),
    };
    let bits = parse_int(&raw[1..]).ok_or_else(bad)?;
    if bits < 1 || bits > if signed { 64 } else { 63 } {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

/// A bit offset, or `#N` for the N-th field of this width.
fn field_offset(raw: &[u8], bits: u32) -> Result<u64, Reply> {
    let bad = || error(err::BAD_OFFSET);
    let (digits, scale) = match raw.first() {
        Some(b'#') => (&raw[1..], bits as i64),
        _ => (raw, 1),
    };
    let n = parse_int(digits)
        .ok_or_else(bad)?
        .checked_mul(scale)
        .ok_or_else(bad)?;
    let limit = MAX_STRING_LEN.load(std::sync::atomic::Ordering::Relaxed);
    if n < 0 || (n as u64 >> 3) >= limit {
        return Err(bad());
    }
    Ok(n as u64)
}

fn parse(args: &Args) -> Result<Vec<Step>, Reply> {
    let items = &args.all()[2..];
    let mut steps = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 0;
    while j < items.len() {
        let left = items.len() - j - 1;
        let op = match items[j].to_ascii_lowercase().as_slice() {
            b"get" if left >= 2 => Op::Get,
            b"set" if left >= 3 => Op::Set,
            b"incrby" if left >= 3 => Op::IncrBy,
            b"overflow" if left >= 1 => {
                overflow = match items[j + 1].to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(error(err::BITFIELD_OVERFLOW)),
                };
                j += 2;
                continue;
            }
            _ => return Err(error(err::SYNTAX)),
        };
        let (signed, bits) = field_type(&items[j + 1])?;
        let offset = field_offset(&items[j + 2], bits)?;
        let value = if op == Op::Get {
            0
        } else {
            parse_int(&items[j + 3]).ok_or_else(|| error(err::NOT_INT))?
        };
        steps.push(Step {
            op,
            field: Field {
                signed,
                bits,
                offset,
            },
            value,
            overflow,
        });
        j += if op == Op::Get { 3 } else { 4 };
    }
    Ok(steps)
}

/// The field's bits as an unsigned number; bits past the end of `s` read as zero.
fn get_raw(s: &[u8], f: Field) -> u64 {
    (0..f.bits as u64).fold(0u64, |acc, j| {
        let bit = f.offset + j;
        let on = s
            .get((bit >> 3) as usize)
            .is_some_and(|b| b & (0x80 >> (bit & 7)) != 0);
        (acc << 1) | on as u64
    })
}

fn get(s: &[u8], f: Field) -> i64 {
    let raw = get_raw(s, f);
    if f.signed && f.bits < 64 && raw & (1 << (f.bits - 1)) != 0 {
        (raw | (u64::MAX << f.bits)) as i64
    } else {
        raw as i64
    }
}

fn put(s: &mut [u8], f: Field, value: u64) {
    for j in 0..f.bits as u64 {
        let bit = f.offset + j;
        let mask = 0x80u8 >> (bit & 7);
        let byte = &mut s[(bit >> 3) as usize];
        if value & (1 << (f.bits as u64 - 1 - j)) != 0 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// `sum` brought into the field's range: None when it overflows under FAIL.
fn fit(sum: i128, f: Field, overflow: Overflow) -> Option<i128> {
    let (min, max) = if f.signed {
        (-(1i128 << (f.bits - 1)), (1i128 << (f.bits - 1)) - 1)
    } else {
        (0, (1i128 << f.bits) - 1)
    };
    if (min..=max).contains(&sum) {
        return Some(sum);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if sum > max { max } else { min }),
        Overflow::Wrap => {
            let span = 1i128 << f.bits;
            let wrapped = sum.rem_euclid(span);
            Some(if f.signed && wrapped > max {
                wrapped - span
            } else {
                wrapped
            })
        }
    }
}

fn run(shard: &mut Shard, args: &mut Args, read_only: bool) -> CmdResult {
    let key = args.next()?;
    let steps = parse(args)?;
    let writes = steps.iter().any(|s| s.op != Op::Get);
    if !writes {
        let value = match shard.read(&key) {
            None => Bytes::new(),
            Some(r) => match r.value() {
                ValueRef::Str(s) => s.to_bytes(),
                _ => return Err(error(err::WRONGTYPE)),
            },
        };
        let out = steps
            .iter()
            .map(|s| Reply::Int(get(&value, s.field)))
            .collect();
        return Ok(Reply::Array(out));
    }
    if read_only {
        return Err(error(err::BITFIELD_RO_GET_ONLY));
    }
    let highest = steps
        .iter()
        .filter(|s| s.op != Op::Get)
        .map(|s| s.field.offset + s.field.bits as u64 - 1)
        .max()
        .unwrap_or(0);
    let existing = match shard.live(&key) {
        None => None,
        Some(r) => match r.value() {
            ValueRef::Str(s) => Some(s.len()),
            _ => return Err(error(err::WRONGTYPE)),
        },
    };
    let need = (highest >> 3) as usize + 1;
    let dirty = existing.is_none_or(|len| len < need);
    // Runs the steps on a value at least `need` long: the replies and the number of fields
    // that changed.
    let run = |value: &mut [u8]| {
        let mut changes = 0;
        let mut out = Vec::with_capacity(steps.len());
        for s in &steps {
            let f = s.field;
            let old = if f.signed {
                get(value, f) as i128
            } else {
                get_raw(value, f) as i128
            };
            if s.op == Op::Get {
                out.push(Reply::Int(old as i64));
                continue;
            }
            // SET of an unsigned field takes the value's 64 bits as they are (-1 is 2^64-1).
            let (target, reply_new) = match s.op {
                Op::IncrBy => (old + s.value as i128, true),
                _ if f.signed => (s.value as i128, false),
                _ => (s.value as u64 as i128, false),
            };
            match fit(target, f, s.overflow) {
                None => out.push(Reply::Nil),
                Some(new) => {
                    out.push(Reply::Int(if reply_new { new as i64 } else { old as i64 }));
                    put(value, f, new as u64);
                    if dirty || new != old {
                        changes += 1;
                    }
                }
            }
        }
        (out, changes)
    };
    // A long string (a bitmap) changes in place; an inline or new one is built.
    let in_place = match existing {
        Some(_) => change_long_str(shard, &key, |value| {
            if value.len() < need {
                value.resize(need, 0);
            }
            run(value)
        }),
        None => None,
    };
    let (out, changes) = match in_place {
        Some(done) => done,
        None => {
            let (mut value, expire) = match write_string(shard, &key)? {
                Some((current, expire)) => (current.to_vec(), expire),
                None => (Vec::new(), 0),
            };
            if value.len() < need {
                value.resize(need, 0);
            }
            let done = run(&mut value);
            if dirty || done.1 > 0 {
                shard.store(&key, Value::Str(Bytes::from(value)), expire);
            }
            done
        }
    };
    if changes > 0 {
        notify(shard, STRING, "setbit", &key);
    } else if !dirty {
        shard.unchanged();
    }
    Ok(Reply::Array(out))
}

pub fn bitfield(shard: &mut Shard, args: &mut Args) -> CmdResult {
    run(shard, args, false)
}

pub fn bitfield_ro(shard: &mut Shard, args: &mut Args) -> CmdResult {
    run(shard, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_back_and_overflow_like_redis() {
        let f = Field {
            signed: true,
            bits: 8,
            offset: 3,
        };
        let mut s = vec![0u8; 2];
        put(&mut s, f, (-5i64) as u64);
        assert_eq!(get(&s, f), -5);
        assert_eq!(fit(130, f, Overflow::Wrap), Some(-126));
        assert_eq!(fit(130, f, Overflow::Sat), Some(127));
        assert_eq!(fit(-200, f, Overflow::Sat), Some(-128));
        assert_eq!(fit(130, f, Overflow::Fail), None);
        let u = Field {
            signed: false,
            bits: 2,
            offset: 0,
        };
        assert_eq!(fit(-1, u, Overflow::Wrap), Some(3));
        let i64f = Field {
            signed: true,
            bits: 64,
            offset: 0,
        };
        assert_eq!(
            fit(i64::MAX as i128 + 1, i64f, Overflow::Wrap),
            Some(i64::MIN as i128)
        );
    }
}
