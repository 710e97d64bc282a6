//! Replies of the differential test: a buffered RESP2 connection that never panics (a missing
//! reply is itself a difference), a reply tree, and the normalisations of `gen::Tf`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::gen::Tf;

/// How long a reply may take: the longest blocking timeout generated is 0.01 s, and Redis
/// serves timeouts from its cron (10 Hz), so anything near a second is a hang.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// One client connection speaking RESP2.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends `args` as a multibulk and reads one reply's raw bytes; `Err` says what went wrong
    /// (closed, timed out) so the caller can report it like any other reply.
    pub fn call(&mut self, args: &[String]) -> Result<Vec<u8>, String> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.stream
            .write_all(&out)
            .map_err(|e| format!("<write failed: {e}>"))?;
        loop {
            if let Some(n) = frame_len(&self.buf) {
                return Ok(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("<connection closed>".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("<no reply: {e}>")),
            }
        }
    }
}

/// The length of the complete RESP2 frame at the start of `buf`, or None if incomplete.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&buf[1..line_end]).ok()?;
    let after = line_end + 2;
    match buf.first()? {
        b'$' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' => {
            let n: i64 = head.parse().ok()?;
            let mut at = after;
            for _ in 0..n.max(0) {
                at += frame_len(&buf[at..])?;
            }
            Some(at)
        }
        _ => Some(after),
    }
}

/// A parsed reply.
#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<V>),
    NilArray,
    /// Not a reply: what `Conn::call` reported instead.
    Missing(String),
}

/// Parses one complete frame (as returned by `Conn::call`).
pub fn parse(bytes: &[u8]) -> V {
    fn value(buf: &[u8], at: &mut usize) -> V {
        let rest = &buf[*at..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(rest.len());
        let head = &rest[1..end];
        *at += end + 2;
        let num = || {
            std::str::from_utf8(head)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        };
        match rest[0] {
            b'+' => V::Status(head.to_vec()),
            b'-' => V::Error(head.to_vec()),
            b':' => num().map_or(V::Status(head.to_vec()), V::Int),
            b'$' => match num() {
                Some(n) if n >= 0 => {
                    let data = buf[*at..*at + n as usize].to_vec();
                    *at += n as usize + 2;
                    V::Bulk(data)
                }
                _ => V::Nil,
            },
            b'*' => match num() {
                Some(n) if n >= 0 => V::Array((0..n).map(|_| value(buf, at)).collect()),
                _ => V::NilArray,
            },
            _ => V::Missing(format!("unparsed {:?}", String::from_utf8_lossy(rest))),
        }
    }
    let mut at = 0;
    value(bytes, &mut at)
}

impl V {
    /// A short description of the reply's kind, for filing differences into classes.
    pub fn kind(&self) -> String {
        match self {
            V::Status(_) => "status".into(),
            V::Error(e) => {
                let text = String::from_utf8_lossy(e);
                let cut: String = text.chars().take(60).collect();
                format!("error '{cut}'")
            }
            V::Int(_) => "integer".into(),
            V::Bulk(_) => "bulk".into(),
            V::Nil => "nil".into(),
            V::Array(_) => "array".into(),
            V::NilArray => "nil array".into(),
            V::Missing(m) => m.clone(),
        }
    }

    /// The reply in redis-cli's style, on one line.
    pub fn show(&self) -> String {
        match self {
            V::Status(s) => String::from_utf8_lossy(s).into_owned(),
            V::Error(e) => format!("(error) {}", String::from_utf8_lossy(e)),
            V::Int(n) => format!("(integer) {n}"),
            V::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
            V::Nil | V::NilArray => "(nil)".into(),
            V::Array(items) => {
                let inner: Vec<String> = items.iter().map(V::show).collect();
                format!("[{}]", inner.join(", "))
            }
            V::Missing(m) => m.clone(),
        }
    }

    /// The sort key of an element: its display text is enough to order replies totally.
    fn key(&self) -> String {
        format!("{self:?}")
    }
}

/// Applies `tf` to one reply (each side separately); TTL tolerance is applied in `same`.
pub fn normalise(v: &V, tf: Tf) -> V {
    match (tf, v) {
        (Tf::Sorted, V::Array(items)) => {
            let mut items = items.clone();
            items.sort_by_key(V::key);
            V::Array(items)
        }
        (Tf::SortedPairs, V::Array(items)) => V::Array(sorted_pairs(items)),
        (Tf::SortedScorePairs, V::Array(items)) => V::Array(sorted_pairs(items)),
        (Tf::Shape, other) => shape(other),
        _ => v.clone(),
    }
}

fn sorted_pairs(items: &[V]) -> Vec<V> {
    let mut pairs: Vec<&[V]> = items.chunks(2).collect();
    pairs.sort_by_key(|p| format!("{p:?}"));
    pairs.concat()
}

/// A bulk leaf reduced to its kind: which member a random pick chose is not compared. Inside
/// an array a nil is any element too (SORT ... GET of an element whose place is unspecified).
fn shape(v: &V) -> V {
    match v {
        V::Bulk(_) => V::Bulk(b"<any>".to_vec()),
        V::Array(items) => V::Array(
            items
                .iter()
                .map(|item| match item {
                    V::Nil => V::Bulk(b"<any>".to_vec()),
                    other => shape(other),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every bulk `-0` leaf becomes `0` (see "ZRANDMEMBER and a -0 score" in the test).
pub fn unsigned_zeros(v: &V) -> V {
    match v {
        V::Bulk(b) if b == b"-0" => V::Bulk(b"0".to_vec()),
        V::Array(items) => V::Array(items.iter().map(unsigned_zeros).collect()),
        other => other.clone(),
    }
}

/// Every bulk leaf that parses as a double becomes the f64's exact bits, so "0.1" (7.2) and
/// "0.10000000000000001" (7.0) agree while "-0" and "0" stay apart.
pub fn canonical_scores(v: &V) -> V {
    match v {
        V::Bulk(b) => match std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
        {
            Some(f) => V::Bulk(format!("f64:{:016x}", f.to_bits()).into_bytes()),
            None => v.clone(),
        },
        V::Array(items) => V::Array(items.iter().map(canonical_scores).collect()),
        other => other.clone(),
    }
}

/// Whether two normalised replies agree; `Tf::Ttl` allows positive values to differ a little.
pub fn same(tf: Tf, redis: &V, ours: &V) -> bool {
    match (tf, redis, ours) {
        (Tf::Ttl(tol), V::Int(a), V::Int(b)) if *a >= 0 && *b >= 0 => (a - b).abs() <= tol,
        _ => redis == ours,
    }
}
