//! Resident memory per key: loads 1 000 000 exact keys into a fresh server over pipelined RESP and
//! diffs its VmRSS. redis-benchmark's `-r` cannot promise every key is distinct, so the bench
//! writes the keys itself. Knows nothing of redis-benchmark or of the throughput rounds.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use crate::server::{ServerProcess, ServerSpec};

/// Keys loaded: `key:0000000000` .. `key:0000999999`.
pub const KEYS: u64 = 1_000_000;

/// Bytes in every value. Values start with a letter so no server stores them as integers.
pub const VALUE_LEN: usize = 16;

/// SET commands per pipelined write; replies are read before the next batch goes out.
pub const BATCH: u64 = 1000;

/// One server's figures.
pub struct MemoryFigures {
    pub rss_before: u64,
    pub rss_after: u64,
    /// What DBSIZE answered after the load, if the server knows DBSIZE.
    pub keys_reported: Option<u64>,
}

impl MemoryFigures {
    pub fn bytes_per_key(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / KEYS as f64
    }
}

pub struct MemoryRow {
    pub label: String,
    pub outcome: Result<MemoryFigures, String>,
}

/// Measures each server in turn, each freshly started so earlier runs leave no garbage behind.
pub fn measure_all(specs: &[ServerSpec]) -> Vec<MemoryRow> {
    specs
        .iter()
        .map(|spec| {
            eprintln!("compare: loading {KEYS} keys into {}", spec.label);
            let outcome = measure(spec);
            if let Err(err) = &outcome {
                eprintln!("compare: memory of {}: {err}", spec.label);
            }
            MemoryRow {
                label: spec.label.clone(),
                outcome,
            }
        })
        .collect()
}

fn measure(spec: &ServerSpec) -> Result<MemoryFigures, String> {
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
    connection.load()?;
    let keys_reported = connection.dbsize();
    Ok(MemoryFigures {
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
    fn load(&mut self) -> Result<(), String> {
        let mut batch = Vec::with_capacity(BATCH as usize * 64);
        for first in (0..KEYS).step_by(BATCH as usize) {
            batch.clear();
            let last = (first + BATCH).min(KEYS);
            for index in first..last {
                encode_set(&mut batch, index);
            }
            self.writer
                .write_all(&batch)
                .map_err(|err| format!("write: {err}"))?;
            for _ in first..last {
                self.expect_ok()?;
            }
        }
        Ok(())
    }

    fn expect_ok(&mut self) -> Result<(), String> {
        let line = self.read_line()?;
        if line != "+OK" {
            return Err(format!("SET answered {line:?}"));
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

fn encode_set(out: &mut Vec<u8>, index: u64) {
    let key = format!("key:{index:010}");
    let value = format!("v{index:0width$}", width = VALUE_LEN - 1);
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
        key.len(),
        value.len()
    );
}
