//! The libraries Redis 7.0 gives scripts besides `redis`: `cjson`, `cmsgpack`, `struct` and
//! `bit`, each written to Redis's bundled C library's behaviour (its encodings, limits and
//! error texts), and the helpers they share for raising errors the way a Lua C function does.
//!
//! [`install`] is the one entry point: it sets the four tables as globals of a Lua state, for
//! EVAL's state and any other state that runs user code. Runs on the Lua thread only.

mod bit;
mod cjson;
mod cmsgpack;
mod jsonparse;
mod structlib;

use std::ffi::{c_int, c_void};

use mlua::{ffi, Function, LightUserData, Lua, MultiValue, Table, Value};

/// Lua 5.1's C stack ceiling (LUAI_MAXCSTACK): a C function cannot return more values than
/// this, and the libraries refuse with their own texts where Redis's would.
pub(super) const MAX_RESULTS: usize = 8000;

/// Tables one encode call may visit. A table that holds itself under several keys expands
/// exponentially up to the encoder's depth limit (Redis runs until memory runs out); this
/// refuses such a call within about a second. Ordinary data (nested job payloads, arrays of
/// records) stays far below it.
pub(super) const MAX_TABLE_VISITS: usize = 1 << 20;

/// The error for an encode past [`MAX_TABLE_VISITS`] or its output ceiling: Lua's text for a
/// failed allocation.
pub(super) const NO_MEMORY: &str = "not enough memory";

/// Sets the globals `cjson`, `cmsgpack`, `struct` and `bit` on `lua`.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    let build = Builder { lua };
    globals.raw_set("cjson", cjson::table(&build)?)?;
    globals.raw_set("cmsgpack", cmsgpack::table(&build)?)?;
    globals.raw_set("struct", structlib::table(&build)?)?;
    globals.raw_set("bit", bit::table(&build)?)?;
    Ok(())
}

/// Why a library function failed, raised in the script as the C library raises it.
pub(super) enum Fail {
    /// `luaL_error`: the text, after the caller's position.
    Msg(String),
    /// `luaL_argerror`: argument number and text, shown as `bad argument #N to 'name' (...)`.
    Arg(i32, String),
}

pub(super) type Out = Result<MultiValue, Fail>;

/// Makes library functions that behave like C functions: a failure becomes a Lua string
/// error carrying the caller's position, and argument errors name the function as the
/// caller spelled it.
pub(super) struct Builder<'a> {
    lua: &'a Lua,
}

/// Marks a failed call: the raw function returns it and the message, and [`checked`] raises.
static FAILED: u8 = 0;
/// Marks a long result list: the raw function returns it, a table and the count, and
/// [`checked`] spreads the table, so that a Rust callback's own stack use does not lower the
/// number of results below what a C function may return.
static MANY: u8 = 0;
/// Result lists longer than this travel in a table.
const DIRECT_RESULTS: usize = 16;

fn failed_marker() -> *mut c_void {
    std::ptr::addr_of!(FAILED) as *mut c_void
}

fn many_marker() -> *mut c_void {
    std::ptr::addr_of!(MANY) as *mut c_void
}

impl Builder<'_> {
    /// A builder inside a library call (for `cjson.new`).
    pub(super) fn again(lua: &Lua) -> Builder<'_> {
        Builder { lua }
    }

    /// A new table holding `functions`.
    pub(super) fn table(&self, functions: &[(&str, Function)]) -> mlua::Result<Table> {
        let t = self.lua.create_table()?;
        for (name, f) in functions {
            t.raw_set(*name, f.clone())?;
        }
        Ok(t)
    }

    pub(super) fn function<F>(&self, f: F) -> mlua::Result<Function>
    where
        F: Fn(&Lua, MultiValue) -> mlua::Result<Out> + 'static,
    {
        let raw = self
            .lua
            .create_function(move |lua, args: MultiValue| match f(lua, args)? {
                Ok(values) if values.len() <= DIRECT_RESULTS => Ok(values),
                Ok(values) => {
                    let count = values.len();
                    let t = lua.create_table_with_capacity(count, 0)?;
                    for (i, v) in values.into_iter().enumerate() {
                        t.raw_set(i + 1, v)?;
                    }
                    Ok(MultiValue::from_iter([
                        Value::LightUserData(LightUserData(many_marker())),
                        Value::Table(t),
                        Value::Number(count as f64),
                    ]))
                }
                Err(fail) => {
                    let text = lua.create_string(message(lua, fail))?;
                    Ok(MultiValue::from_iter([
                        Value::LightUserData(LightUserData(failed_marker())),
                        Value::String(text),
                    ]))
                }
            })?;
        // SAFETY: the closure is pushed with the one upvalue `checked` reads, `raw`, which
        // exec_raw has just pushed onto the stack.
        unsafe {
            self.lua
                .exec_raw(raw, |state| ffi::lua_pushcclosure(state, checked, 1))
        }
    }
}

/// The C function a script calls: runs the Rust function (upvalue 1) and passes its results
/// on, or raises its message as a string with the caller's position (`luaL_error`'s
/// `luaL_where(L, 1)`). Being a C function, it keeps the caller's frame on a `return f()`
/// tail call, so the position is the script's line as in Redis.
unsafe extern "C-unwind" fn checked(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls this with a valid state; the stack operations stay within what
    // lua_call left (its results) plus two slots, which every C function is granted
    // (LUA_MINSTACK).
    unsafe {
        let nargs = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        let results = ffi::lua_gettop(state);
        if results == 3
            && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
            && ffi::lua_touserdata(state, 1) == many_marker()
        {
            let count = ffi::lua_tointeger(state, 3) as c_int;
            ffi::lua_settop(state, 2);
            ffi::lua_remove(state, 1);
            if ffi::lua_checkstack(state, count) == 0 {
                ffi::luaL_error(state, c"stack overflow (too many results)".as_ptr());
            }
            for i in 1..=count {
                ffi::lua_rawgeti(state, 1, i as _);
            }
            return count;
        }
        if results == 2
            && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
            && ffi::lua_touserdata(state, 1) == failed_marker()
        {
            ffi::luaL_where(state, 1);
            ffi::lua_pushvalue(state, 2);
            ffi::lua_concat(state, 2);
            ffi::lua_error(state);
        }
        results
    }
}

/// The text `luaL_argerror` would build: the function's name comes from how the caller
/// called it (stack level 1 is the C function the script called).
fn message(lua: &Lua, fail: Fail) -> String {
    match fail {
        Fail::Msg(text) => text,
        Fail::Arg(mut n, text) => {
            let (name, what) = lua
                .inspect_stack(1, |d| {
                    let names = d.names();
                    (names.name.map(|n| n.into_owned()), names.name_what)
                })
                .unwrap_or((None, None));
            if what == Some("method") {
                n -= 1;
                if n == 0 {
                    let name = name.unwrap_or_else(|| "?".into());
                    return format!("calling '{name}' on bad self ({text})");
                }
            }
            let name = name.unwrap_or_else(|| "?".into());
            format!("bad argument #{n} to '{name}' ({text})")
        }
    }
}

/// Lua's name of a value's type, as in `luaL_typerror`'s text.
pub(super) fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::LightUserData(_)) | Some(Value::UserData(_)) => "userdata",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `lua_tonumber`: numbers, and strings that read as one.
pub(super) fn to_number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => str_to_number(&s.as_bytes()),
        _ => None,
    }
}

/// Lua 5.1's string-to-number rule (`luaO_str2d`): a decimal or `0x` hex number with optional
/// surrounding whitespace.
pub(super) fn str_to_number(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return None;
    }
    let (negative, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let n = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if negative { -n } else { n });
    }
    if !body.starts_with(|c: char| {
        c.is_ascii_digit() || c == '.' || c == 'i' || c == 'I' || c == 'n' || c == 'N'
    }) {
        return None;
    }
    text.parse::<f64>().ok()
}

/// `luaL_checknumber`.
pub(super) fn check_number(args: &MultiValue, n: usize) -> Result<f64, Fail> {
    let value = args.get(n - 1);
    to_number(value).ok_or_else(|| type_error(n, "number", value))
}

/// `luaL_checkinteger` (a truncating cast, as on x86-64).
pub(super) fn check_integer(args: &MultiValue, n: usize) -> Result<i64, Fail> {
    check_number(args, n).map(truncate)
}

/// `luaL_optinteger`.
pub(super) fn opt_integer(args: &MultiValue, n: usize, default: i64) -> Result<i64, Fail> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(default),
        _ => check_integer(args, n),
    }
}

/// `luaL_checklstring`: strings, and numbers shown as Lua shows them.
pub(super) fn check_bytes(args: &MultiValue, n: usize) -> Result<Vec<u8>, Fail> {
    match args.get(n - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(i)) => Ok(i.to_string().into_bytes()),
        Some(Value::Number(x)) => Ok(number_text(*x, 14).into_bytes()),
        other => Err(type_error(n, "string", other)),
    }
}

pub(super) fn type_error(n: usize, expected: &str, got: Option<&Value>) -> Fail {
    Fail::Arg(
        n as i32,
        format!("{expected} expected, got {}", type_name(got)),
    )
}

/// A C `(lua_Integer)` cast of a double on x86-64: out of range gives the minimum.
pub(super) fn truncate(x: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

/// C's `%.{precision}g`, which Lua (`%.14g`) and cjson use to print numbers.
pub(super) fn number_text(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.into();
    }
    let p = precision.max(1);
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mantissa = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format_matches_c() {
        let cases = [
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (123456789012345.0, "1.2345678901234e+14"),
            (1.0 / 3.0, "0.33333333333333"),
            (100.0, "100"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-1.5, "-1.5"),
            (99999999999999.0, "99999999999999"),
            (999999999999999.0, "1e+15"),
            (2f64.powi(53), "9.007199254741e+15"),
        ];
        for (x, text) in cases {
            assert_eq!(number_text(x, 14), text, "{x}");
        }
    }

    #[test]
    fn lua_string_numbers() {
        assert_eq!(str_to_number(b" 10 "), Some(10.0));
        assert_eq!(str_to_number(b"0x10"), Some(16.0));
        assert_eq!(str_to_number(b"1e3"), Some(1000.0));
        assert_eq!(str_to_number(b"abc"), None);
        assert_eq!(str_to_number(b""), None);
    }
}
