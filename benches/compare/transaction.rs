//! The MULTI/EXEC driver: `CLIENTS` raw-TCP clients, each on its own thread, sending
//! transactions `MULTI; INCR a; INCR b; EXEC` in pipelined batches. redis-benchmark cannot send
//! a transaction as one request, so the bench generates this load itself. Knows nothing of
//! server processes or rounds.
//!
//! Each client has its own two keys: on one shard (`{tag}` shared) or, for the cross-shard row,
//! one key in each half of the hash-slot range (two shards with ringkv's default 2 threads).
//! Throughput is transactions per second over the whole run; latency is each batch's, from its
//! write to the read of its last reply.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::fanout::percentile;
use crate::workload::{Measured, CLIENTS};

/// Lines of one transaction's replies: +OK, +QUEUED, +QUEUED, *2, :n, :m.
const REPLY_LINES: usize = 6;

/// One MULTI/EXEC run's shape.
#[derive(Clone, Copy)]
pub struct Transactions {
    /// Keys of a transaction on two shards (else one).
    pub cross: bool,
    /// Transactions written per batch.
    pub pipeline: u32,
    /// Transactions in the run, over all clients.
    pub total: u64,
}

/// Two keys for client `index`: same slot, or slots in different halves of the slot range.
fn keys(index: u32, cross: bool) -> (String, String) {
    if !cross {
        return (format!("{{tx{index}}}:a"), format!("{{tx{index}}}:b"));
    }
    let low = (0..)
        .map(|n| format!("tx:{index}:{n}"))
        .find(|k| ringkv::shard::slot_of(k.as_bytes()) < 8192);
    let high = (0..)
        .map(|n| format!("tx:{index}:{n}"))
        .find(|k| ringkv::shard::slot_of(k.as_bytes()) >= 8192);
    (low.unwrap_or_default(), high.unwrap_or_default())
}

fn command(parts: &[&str]) -> String {
    let mut out = format!("*{}\r\n", parts.len());
    for part in parts {
        out.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    out
}

/// Runs the transactions against the server on `port`. `Err` says why there are no figures.
pub fn run(shape: Transactions, port: u16, timeout: Duration) -> Result<Measured, String> {
    let deadline = Instant::now() + timeout;
    let per_client = (shape.total / u64::from(CLIENTS)).max(1);
    let batches = per_client.div_ceil(u64::from(shape.pipeline.max(1)));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let (a, b) = keys(index, shape.cross);
            let one = [
                command(&["MULTI"]),
                command(&["INCR", &a]),
                command(&["INCR", &b]),
                command(&["EXEC"]),
            ]
            .concat();
            let batch = one.repeat(shape.pipeline.max(1) as usize);
            thread::spawn(move || client(port, &batch, shape.pipeline, batches, deadline))
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.join().map_err(|_| "client thread panicked")??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = batches * u64::from(shape.pipeline.max(1)) * u64::from(CLIENTS);
    let rps = done as f64 / elapsed.max(f64::MIN_POSITIVE);
    let (p50_ms, p99_ms) = (percentile(&latencies, 50), percentile(&latencies, 99));
    Ok(Measured {
        operations: done,
        rps,
        p50_ms,
        p99_ms,
        raw: format!(
            "{done} MULTI/INCR/INCR/EXEC ({}) from {CLIENTS} clients in {elapsed:.3} s: \
             {rps:.0} tx/s, batch p50 {p50_ms:.3} ms p99 {p99_ms:.3} ms",
            if shape.cross {
                "two shards"
            } else {
                "one shard"
            }
        ),
    })
}

/// One client: `batches` batches, each written whole, then its replies read. Batch latencies in ms.
fn client(
    port: u16,
    batch: &str,
    pipeline: u32,
    batches: u64,
    deadline: Instant,
) -> Result<Vec<f64>, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let left = deadline.saturating_duration_since(Instant::now());
    stream
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut latencies = Vec::with_capacity(batches as usize);
    for _ in 0..batches {
        let sent = Instant::now();
        writer
            .write_all(batch.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        for n in 0..pipeline as usize * REPLY_LINES {
            line.clear();
            reader
                .read_line(&mut line)
                .map_err(|e| format!("read: {e}"))?;
            let expected = match n % REPLY_LINES {
                0 => line == "+OK\r\n",
                1 | 2 => line == "+QUEUED\r\n",
                3 => line == "*2\r\n",
                _ => line.starts_with(':'),
            };
            if !expected {
                return Err(format!("unexpected reply line {line:?}"));
            }
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(latencies)
}
