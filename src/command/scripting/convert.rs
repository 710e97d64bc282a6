//! Conversions between command replies and Lua values, by Redis's rules (script_lua.c): the
//! reply of `redis.call` becomes a Lua value, the script's return value becomes the reply.
//! Runs on the Lua thread only.

use crate::command::err;
use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::protocol::reply::double_text;
use crate::protocol::Reply;

/// Nesting depth past which a returned table is cut short with Redis's stack-limit error.
const MAX_DEPTH: usize = 1000;

/// The Lua value of a command's reply: RESP2 rules, or RESP3 after `redis.setresp(3)`.
pub fn reply_to_lua(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Simple(text) => Value::Table(single(lua, "ok", text.as_bytes())?),
        Reply::Status(text) => Value::Table(single(lua, "ok", text.as_bytes())?),
        Reply::Error(text) => Value::Table(single(lua, "err", text.as_bytes())?),
        Reply::Int(n) => Value::Integer(n),
        Reply::Bulk(data) => Value::String(lua.create_string(&data)?),
        Reply::ShortBulk(short) => Value::String(lua.create_string(short.as_bytes())?),
        Reply::Nil | Reply::NilArray if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) | Reply::Sequence(items) => {
            Value::Table(array(lua, items, resp3)?)
        }
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
            }
            Value::Table(wrapped(lua, "set", set)?)
        }
        Reply::Set(items) => Value::Table(array(lua, items, resp3)?),
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
            }
            Value::Table(wrapped(lua, "map", map)?)
        }
        Reply::Pairs(pairs) if resp3 => {
            let items = pairs
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![k, v]))
                .collect();
            Value::Table(array(lua, items, resp3)?)
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            let items = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
            Value::Table(array(lua, items, resp3)?)
        }
        Reply::Double(x) if resp3 => {
            let t = lua.create_table()?;
            t.raw_set("double", x)?;
            Value::Table(t)
        }
        Reply::Double(x) => Value::String(lua.create_string(double_text(x))?),
        Reply::DoubleText(text) if resp3 => {
            let t = lua.create_table()?;
            let x: f64 = std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0);
            t.raw_set("double", x)?;
            Value::Table(t)
        }
        Reply::DoubleText(text) => Value::String(lua.create_string(&text)?),
        Reply::Bool(b) if resp3 => Value::Boolean(b),
        Reply::Bool(b) => Value::Integer(b as i64),
        Reply::Verbatim(format, data) if resp3 => {
            let t = lua.create_table()?;
            t.raw_set("format", format)?;
            t.raw_set("string", lua.create_string(&data)?)?;
            Value::Table(wrapped(lua, "verbatim_string", t)?)
        }
        Reply::Verbatim(_, data) => Value::String(lua.create_string(&data)?),
        Reply::BigNum(digits) if resp3 => Value::Table(single(lua, "big_number", &digits)?),
        Reply::BigNum(digits) => Value::String(lua.create_string(&digits)?),
        // Not a reply of its own: Redis's Lua reads attributes and drops them.
        Reply::Attribute(_) => Value::Nil,
    })
}

fn single(lua: &Lua, field: &str, text: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(field, lua.create_string(text)?)?;
    Ok(t)
}

fn wrapped(lua: &Lua, field: &str, inner: Table) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(field, inner)?;
    Ok(t)
}

fn array(lua: &Lua, items: Vec<Reply>, resp3: bool) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(t)
}

/// The reply for a script's return value. `resp3` is the script's `redis.setresp` choice: it
/// decides how booleans come out, as in Redis.
pub fn lua_to_reply(value: &Value, resp3: bool) -> Reply {
    to_reply(value, resp3, 0)
}

fn to_reply(value: &Value, resp3: bool, depth: usize) -> Reply {
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(n) => Reply::Int(*n),
        Value::Number(n) => Reply::Int(truncate(*n)),
        Value::Boolean(b) if resp3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Int(1),
        Value::Table(t) if depth >= MAX_DEPTH => {
            let _ = t;
            Reply::error(err::LUA_STACK_LIMIT)
        }
        Value::Table(t) => table_to_reply(t, resp3, depth),
        _ => Reply::Nil,
    }
}

/// A Lua number as Redis's `(long long)` cast gives it on x86-64: out of range and NaN become
/// the minimum.
fn truncate(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

fn table_to_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(s) = field("err") {
        return Reply::error_owned(String::from_utf8_lossy(&s.as_bytes()).into_owned());
    }
    if let Value::String(s) = field("ok") {
        return Reply::Status(String::from_utf8_lossy(&s.as_bytes()).into_owned());
    }
    match field("double") {
        Value::Number(x) => return Reply::Double(x),
        Value::Integer(x) => return Reply::Double(x as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        return Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes()));
    }
    if let Value::Table(v) = field("verbatim_string") {
        let format = v.raw_get::<Value>("format").unwrap_or(Value::Nil);
        let text = v.raw_get::<Value>("string").unwrap_or(Value::Nil);
        if let (Value::String(format), Value::String(text)) = (format, text) {
            let data = Bytes::copy_from_slice(&text.as_bytes());
            return match &format.as_bytes()[..] {
                b"txt" => Reply::Verbatim("txt", data),
                b"mkd" => Reply::Verbatim("mkd", data),
                _ => Reply::Bulk(data),
            };
        }
    }
    if let Value::Table(map) = field("map") {
        let pairs = map
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                (
                    to_reply(&k, resp3, depth + 1),
                    to_reply(&v, resp3, depth + 1),
                )
            })
            .collect();
        return Reply::Map(pairs);
    }
    if let Value::Table(set) = field("set") {
        let items = set
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| to_reply(&k, resp3, depth + 1))
            .collect();
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(to_reply(&v, resp3, depth + 1)),
        }
    }
    Reply::Array(items)
}
