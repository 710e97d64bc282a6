//! Resident memory per key: loads exact keys into a fresh server over pipelined RESP and diffs
//! its VmRSS, for each shape: 1 000 000 strings, and 100 000 small hashes, lists, sets and
//! sorted sets of 10 elements each. redis-benchmark's `-r` cannot promise every key is
//! distinct, so the bench writes the keys itself. Knows nothing of redis-benchmark or of the
//! throughput rounds.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use crate::server::{ServerProcess, ServerSpec};

/// String keys loaded: `key:0000000000` .. `key:0000999999`.
pub const KEYS: u64 = 1_000_000;

/// Collection keys loaded per shape, each with `ELEMENTS` elements of `ELEMENT_LEN` bytes.
pub const COLLECTION_KEYS: u64 = 100_000;
pub const ELEMENTS: usize = 10;
pub const ELEMENT_LEN: usize = 8;

/// What the keys hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `SET key:%010d <16 bytes>`.
    Strings,
    /// `HSET`: 10 fields and values.
    Hash,
    /// `RPUSH`: 10 elements.
    List,
    /// `SADD`: 10 members (not integers: a set of integers is an intset on both servers).
    Set,
    /// `ZADD`: 10 members with the integer scores 1 to 10.
    ZSet,
}

pub const SHAPES: [Shape; 5] = [
    Shape::Strings,
    Shape::Hash,
    Shape::List,
    Shape::Set,
    Shape::ZSet,
];

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Strings => "strings",
            Shape::Hash => "hash",
            Shape::List => "list",
            Shape::Set => "set",
            Shape::ZSet => "zset",
        }
    }

    pub fn keys(self) -> u64 {
        match self {
            Shape::Strings => KEYS,
            _ => COLLECTION_KEYS,
        }
    }

    /// How the keys are written, for the report.
    pub fn described(self) -> String {
        let each = format!("{ELEMENTS} {ELEMENT_LEN}-byte");
        match self {
            Shape::Strings => format!("`SET key:%010d` with {VALUE_LEN}-byte values"),
            Shape::Hash => format!("`HSET h:%08d` with {each} fields and values"),
            Shape::List => format!("`RPUSH l:%08d` with {each} elements"),
            Shape::Set => format!("`SADD s:%08d` with {each} members"),
            Shape::ZSet => format!("`ZADD z:%08d` with {each} members, scores 1 to {ELEMENTS}"),
        }
    }

    /// The command that writes key `index`, and the reply it must get.
    fn encode(self, out: &mut Vec<u8>, index: u64) -> &'static str {
        let element =
            |prefix: char, j: usize| format!("{prefix}{j:0width$}", width = ELEMENT_LEN - 1);
        let mut args: Vec<String> = Vec::with_capacity(2 + 2 * ELEMENTS);
        match self {
            Shape::Strings => {
                args.extend(["SET".into(), format!("key:{index:010}")]);
                args.push(format!("v{index:0width$}", width = VALUE_LEN - 1));
            }
            Shape::Hash => {
                args.extend(["HSET".into(), format!("h:{index:08}")]);
                for j in 0..ELEMENTS {
                    args.extend([element('f', j), element('v', j)]);
                }
            }
            Shape::List => {
                args.extend(["RPUSH".into(), format!("l:{index:08}")]);
                args.extend((0..ELEMENTS).map(|j| element('e', j)));
            }
            Shape::Set => {
                args.extend(["SADD".into(), format!("s:{index:08}")]);
                args.extend((0..ELEMENTS).map(|j| element('m', j)));
            }
            Shape::ZSet => {
                args.extend(["ZADD".into(), format!("z:{index:08}")]);
                for j in 0..ELEMENTS {
                    args.extend([(j + 1).to_string(), element('m', j)]);
                }
            }
        }
        // Writing into a Vec cannot fail.
        let _ = write!(out, "*{}\r\n", args.len());
        for arg in &args {
            let _ = write!(out, "${}\r\n{arg}\r\n", arg.len());
        }
        match self {
            Shape::Strings => "+OK",
            _ => ":10",
        }
    }
}

/// Bytes in every value. Values start with a letter so no server stores them as integers.
pub const VALUE_LEN: usize = 16;

/// SET commands per pipelined write; replies are read before the next batch goes out.
pub const BATCH: u64 = 1000;

/// One server's figures for one shape.
pub struct MemoryFigures {
    pub keys: u64,
    pub rss_before: u64,
    pub rss_after: u64,
    /// What DBSIZE answered after the load, if the server knows DBSIZE.
    pub keys_reported: Option<u64>,
}

impl MemoryFigures {
    pub fn bytes_per_key(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.keys as f64
    }
}

pub struct MemoryRow {
    pub shape: Shape,
    pub label: String,
    pub outcome: Result<MemoryFigures, String>,
}

/// Measures each shape on each server in turn, each freshly started so earlier runs leave no
/// garbage behind.
pub fn measure_all(specs: &[ServerSpec]) -> Vec<MemoryRow> {
    let mut rows = Vec::new();
    for shape in SHAPES {
        for spec in specs {
            eprintln!(
                "compare: loading {} {} keys into {}",
                shape.keys(),
                shape.name(),
                spec.label
            );
            let outcome = measure(spec, shape);
            if let Err(err) = &outcome {
                eprintln!(
                    "compare: memory of {} ({}): {err}",
                    spec.label,
                    shape.name()
                );
            }
            rows.push(MemoryRow {
                shape,
                label: spec.label.clone(),
                outcome,
            });
        }
    }
    rows
}

fn measure(spec: &ServerSpec, shape: Shape) -> Result<MemoryFigures, String> {
    let server = ServerProcess::start(spec)?;
    let rss = || server.rss_bytes().ok_or("cannot read VmRSS");
    let rss_before = rss()?;
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, server.port))
        .map_err(|err| format!("connect: {err}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|err| err.to_string())?;
    let mut connection = Connection {
        writer: stream.try_clone().map_err(|err| err.to_string())?,
        reader: BufReader::new(stream),
    };
    connection.load(shape)?;
    let keys_reported = connection.dbsize();
    Ok(MemoryFigures {
        keys: shape.keys(),
        rss_before,
        rss_after: rss()?,
        keys_reported,
    })
}

struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn load(&mut self, shape: Shape) -> Result<(), String> {
        let mut batch = Vec::with_capacity(BATCH as usize * 64);
        let keys = shape.keys();
        for first in (0..keys).step_by(BATCH as usize) {
            batch.clear();
            let last = (first + BATCH).min(keys);
            let mut expected = "";
            for index in first..last {
                expected = shape.encode(&mut batch, index);
            }
            self.writer
                .write_all(&batch)
                .map_err(|err| format!("write: {err}"))?;
            for _ in first..last {
                let line = self.read_line()?;
                if line != expected {
                    return Err(format!("{} load answered {line:?}", shape.name()));
                }
            }
        }
        Ok(())
    }

    /// `None` if the server does not answer DBSIZE with an integer.
    fn dbsize(&mut self) -> Option<u64> {
        self.writer.write_all(b"*1\r\n$6\r\nDBSIZE\r\n").ok()?;
        let line = self.read_line().ok()?;
        line.strip_prefix(':')?.parse().ok()
    }

    /// One reply line without its CRLF; every reply the loader expects is a single line.
    fn read_line(&mut self) -> Result<String, String> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) => Err("server closed the connection".into()),
            Ok(_) => Ok(String::from_utf8_lossy(&line).trim_end().to_string()),
            Err(err) => Err(format!("read: {err}")),
        }
    }
}
