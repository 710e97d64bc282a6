//! What is measured in one run: the list of tests, a `Case` (test × pipeline depth × requests)
//! and the dispatch from a case to the tool that drives it. Knows nothing of server processes.

use std::path::Path;
use std::time::Duration;

use crate::fanout::{self, Fanout};
use crate::redis_benchmark;
use crate::transaction::{self, Transactions};
use crate::Tools;

/// Concurrent client connections per run (`-c`).
pub const CLIENTS: u32 = 50;

/// Key space for the random-key tests (`-r`): big enough to miss CPU caches, small enough to fill
/// in the warm-up round.
pub const KEYSPACE: u64 = 100_000;

/// Subscribers of the fan-out row: each PUBLISH is delivered this many times.
pub const FANOUT_SUBSCRIBERS: u32 = 100;

/// Bytes in each message of the fan-out row.
pub const FANOUT_PAYLOAD: usize = 100;

/// PUBLISHes in flight in the fan-out row (one batch): enough that the publisher's round trips
/// do not bound the deliveries.
pub const FANOUT_PIPELINE: u32 = 64;

/// The name `TESTS` selects the fan-out row by.
pub const FANOUT_NAME: &str = "fanout";

/// The name `TESTS` selects the MULTI/EXEC rows by.
pub const MULTI_NAME: &str = "multi";

/// One redis-benchmark test, run on its own (`-t flag`) so the server's CPU time is per test.
pub struct Test {
    /// The name `-t` takes.
    pub flag: &'static str,
    /// The name in tables.
    pub label: &'static str,
    /// Divides the configured request count, for tests whose requests cost several times more.
    pub request_divisor: u64,
}

pub const TESTS: &[Test] = &[
    test("ping_mbulk", "PING_MBULK", 1),
    test("set", "SET", 1),
    test("get", "GET", 1),
    test("incr", "INCR", 1),
    test("lpush", "LPUSH", 1),
    test("hset", "HSET", 1),
    // Each MSET writes 10 keys; a quarter of the requests keeps its run as long as the others.
    test("mset", "MSET", 4),
];

const fn test(flag: &'static str, label: &'static str, request_divisor: u64) -> Test {
    Test {
        flag,
        label,
        request_divisor,
    }
}

/// The tool that generates load for a case. A new kind of load is a variant with its own driver
/// returning a `Measured`, plus arms in `measure` and `Case`; tables, medians and the chart pick
/// it up from the case list.
#[derive(Clone, Copy)]
pub enum Workload {
    RedisBenchmark(&'static Test),
    /// PUBLISH to a channel with `subscribers` raw-TCP subscribers (`fanout.rs`); a case's
    /// requests are the PUBLISHes, its operations the deliveries.
    PubSubFanout {
        subscribers: u32,
        payload: usize,
    },
    /// MULTI; INCR a; INCR b; EXEC from every client (`transaction.rs`), keys on one shard or
    /// two; a case's requests are transactions.
    Transaction {
        cross: bool,
    },
}

/// One row of the results: a workload at one pipeline depth and request count.
#[derive(Clone, Copy)]
pub struct Case {
    pub workload: Workload,
    pub pipeline: u32,
    pub requests: u64,
}

/// Figures from one run, whatever drove it.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Operations the server performed, the numerator of requests per CPU-second.
    pub operations: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The tool's own result line, kept verbatim for the appendix.
    pub raw: String,
}

impl Case {
    pub fn label(&self) -> &'static str {
        match self.workload {
            Workload::RedisBenchmark(test) => test.label,
            Workload::PubSubFanout { .. } => "FANOUT",
            Workload::Transaction { cross: false } => "MULTI_1SHARD",
            Workload::Transaction { cross: true } => "MULTI_2SHARD",
        }
    }

    /// The exact command line of this case against `port`, with the program first.
    pub fn command(&self, tools: &Tools, port: u16) -> Vec<String> {
        match self.workload {
            Workload::RedisBenchmark(test) => {
                let mut line = vec![tools.redis_benchmark.display().to_string()];
                line.extend(redis_benchmark::args(test.flag, self, port));
                line
            }
            // The driver is built in; the line names its file and spells its parameters in
            // redis-benchmark's terms so the report reads alike.
            Workload::PubSubFanout {
                subscribers,
                payload,
            } => [
                "benches/compare/fanout.rs",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--channel",
                fanout::CHANNEL,
                "--subscribers",
                &subscribers.to_string(),
                "-d",
                &payload.to_string(),
                "-n",
                &self.requests.to_string(),
                "-P",
                &self.pipeline.to_string(),
            ]
            .map(String::from)
            .to_vec(),
            Workload::Transaction { cross } => [
                "benches/compare/transaction.rs",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-c",
                &CLIENTS.to_string(),
                "--keys",
                if cross { "two-shards" } else { "one-shard" },
                "-n",
                &self.requests.to_string(),
                "-P",
                &self.pipeline.to_string(),
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Runs `case` against the server on `port`. `Err` carries why the case is n/a.
pub fn measure(
    case: &Case,
    tools: &Tools,
    port: u16,
    timeout: Duration,
) -> Result<Measured, String> {
    match case.workload {
        Workload::RedisBenchmark(_) => {
            let command = case.command(tools, port);
            let measured = redis_benchmark::run(Path::new(&command[0]), &command[1..], timeout)?;
            Ok(Measured {
                operations: case.requests,
                ..measured
            })
        }
        Workload::PubSubFanout {
            subscribers,
            payload,
        } => {
            let shape = Fanout {
                subscribers,
                payload,
                pipeline: case.pipeline,
                messages: case.requests,
            };
            fanout::run(shape, port, timeout)
        }
        Workload::Transaction { cross } => {
            let shape = Transactions {
                cross,
                pipeline: case.pipeline,
                total: case.requests,
            };
            transaction::run(shape, port, timeout)
        }
    }
}
