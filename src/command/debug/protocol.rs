//! DEBUG PROTOCOL <type>: one test value of each reply kind, as Redis 7.0 sends it in RESP2
//! and RESP3 (a client library's test suite reads them).

use bytes::Bytes;

use super::super::{err, error, CmdResult};
use crate::protocol::{Protocol, Reply};

/// The double Redis sends (its literal, not an approximation of pi).
#[allow(clippy::approx_constant)]
const DOUBLE: f64 = 3.141;

fn bulk(text: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(text.as_bytes()))
}

pub fn reply(protocol: Protocol, name: &[u8]) -> CmdResult {
    let ints = || (0..3).map(Reply::Int).collect::<Vec<_>>();
    Ok(match name.to_ascii_lowercase().as_slice() {
        b"string" => bulk("Hello World"),
        b"integer" => Reply::Int(12345),
        // Redis 7.0 prints a double with "%.17g" in both protocols.
        b"double" => Reply::DoubleText(Bytes::from(super::digest::g17(DOUBLE))),
        b"bignum" => Reply::BigNum(Bytes::from_static(b"1234567999999999999999999999999999999")),
        b"null" => Reply::Nil,
        b"array" => Reply::Array(ints()),
        b"set" => Reply::Set(ints()),
        b"map" => Reply::Map(
            (0..3)
                .map(|j| (Reply::Int(j), Reply::Bool(j == 1)))
                .collect(),
        ),
        b"attrib" => Reply::Sequence(vec![
            Reply::Attribute(vec![(
                bulk("key-popularity"),
                Reply::Array(vec![bulk("key:123"), Reply::Int(90)]),
            )]),
            bulk("Some real reply following the attribute"),
        ]),
        b"push" if protocol == Protocol::Resp2 => return Err(error(err::DEBUG_PROTOCOL_RESP2)),
        b"push" => Reply::Sequence(vec![
            Reply::Push(vec![bulk("server-cpu-usage"), Reply::Int(42)]),
            bulk("Some real reply following the push reply"),
        ]),
        b"true" => Reply::Bool(true),
        b"false" => Reply::Bool(false),
        b"verbatim" => Reply::Verbatim("txt", Bytes::from_static(b"This is a verbatim\nstring")),
        _ => return Err(error(err::DEBUG_PROTOCOL_TYPE)),
    })
}
