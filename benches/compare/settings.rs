//! The bench's knobs, read once from the environment and the command line; knows nothing of
//! servers or of how the figures are taken.

use std::env;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::workload::{Test, FANOUT_NAME, MULTI_NAME, TESTS};

/// Pipeline depths every test runs at: one request in flight per client, where per-request
/// syscalls dominate, and 16, where parsing and dispatch do.
pub const PIPELINES: [u32; 2] = [1, 16];

/// Ringkv variants run when `RINGKV_CONFIGS` is unset: default threads on each I/O backend, and a
/// single thread. Three variants plus redis-server keep a full run near six minutes on 2 cores.
const DEFAULT_CONFIGS: &str = "uring,epoll,threads1";

/// Requests per run at `-P 1`; about 1.5 s at the ~70k req/s a 2-core box manages.
const DEFAULT_REQUESTS_P1: u64 = 100_000;

/// Requests per run at `-P 16`; pipelining multiplies throughput roughly tenfold.
const DEFAULT_REQUESTS_PIPELINED: u64 = 1_000_000;

/// PUBLISHes per fan-out run: with 100 subscribers, 2 000 000 deliveries, about a second
/// on 2 cores; each subscriber's backlog (about 2.7 MB) stays under redis's pub/sub output
/// buffer limits even if it falls far behind.
const DEFAULT_FANOUT_MESSAGES: u64 = 20_000;

const DEFAULT_ROUNDS: usize = 3;
const DEFAULT_RUN_TIMEOUT_S: u64 = 120;

/// One ringkv launch variant, named as in `RINGKV_CONFIGS`.
#[derive(Clone, Debug)]
pub struct RingkvConfig {
    pub name: String,
    pub args: Vec<String>,
}

/// Everything a run needs to know before it starts.
pub struct Settings {
    /// Counted rounds; one warm-up round comes before them.
    pub rounds: usize,
    pub requests_p1: u64,
    pub requests_pipelined: u64,
    pub tests: Vec<&'static Test>,
    /// Whether the pub/sub fan-out row runs (`TESTS` unset, or naming `fanout`).
    pub fanout: bool,
    /// Whether the MULTI/EXEC rows run (`TESTS` unset, or naming `multi`).
    pub transactions: bool,
    /// PUBLISHes per fan-out run (`FANOUT_MESSAGES`).
    pub fanout_messages: u64,
    pub ringkv_configs: Vec<RingkvConfig>,
    pub ringkv_bin: PathBuf,
    /// Set when `RINGKV_BIN_OVERRIDE` replaced the binary cargo built; the report says so loudly.
    pub ringkv_overridden: bool,
    /// A redis-benchmark run still going after this is killed and counted as n/a: redis-benchmark
    /// spins forever when it cannot connect.
    pub run_timeout: Duration,
    pub throughput: bool,
    pub memory: bool,
}

impl Settings {
    pub fn load() -> Result<Self, String> {
        let (throughput, memory) = mode()?;
        let requests = env_number::<u64>("REQUESTS")?;
        let (ringkv_bin, ringkv_overridden) = match env::var_os("RINGKV_BIN_OVERRIDE") {
            // A path is made absolute: servers run in a directory of their own.
            Some(bin) => {
                let path = PathBuf::from(bin);
                let path = match path.components().count() {
                    1 => path,
                    _ => path.canonicalize().unwrap_or(path),
                };
                (path, true)
            }
            None => (PathBuf::from(env!("CARGO_BIN_EXE_ringkv")), false),
        };
        let list = env::var("TESTS").unwrap_or_default();
        let (tests, fanout) = tests(&list)?;
        let transactions = list.trim().is_empty()
            || list
                .split(',')
                .any(|name| name.trim().eq_ignore_ascii_case(MULTI_NAME));
        Ok(Settings {
            rounds: env_number("ROUNDS")?.unwrap_or(DEFAULT_ROUNDS).max(1),
            requests_p1: env_number("REQUESTS_P1")?
                .or(requests)
                .unwrap_or(DEFAULT_REQUESTS_P1),
            requests_pipelined: env_number("REQUESTS_P16")?
                .or(requests)
                .unwrap_or(DEFAULT_REQUESTS_PIPELINED),
            tests,
            fanout,
            transactions,
            fanout_messages: env_number("FANOUT_MESSAGES")?
                .unwrap_or(DEFAULT_FANOUT_MESSAGES)
                .max(1),
            ringkv_configs: ringkv_configs(
                &env::var("RINGKV_CONFIGS").unwrap_or_else(|_| DEFAULT_CONFIGS.to_string()),
            )?,
            ringkv_bin,
            ringkv_overridden,
            run_timeout: Duration::from_secs(
                env_number("RUN_TIMEOUT")?.unwrap_or(DEFAULT_RUN_TIMEOUT_S),
            ),
            throughput,
            memory,
        })
    }

    /// Requests for one run of `test` at pipeline depth `pipeline`.
    pub fn requests(&self, test: &Test, pipeline: u32) -> u64 {
        let base = if pipeline == 1 {
            self.requests_p1
        } else {
            self.requests_pipelined
        };
        (base / test.request_divisor).max(1)
    }
}

/// Which measurements to take: `(throughput, memory)`. `MEMORY=1` or the argument `memory` adds
/// the memory comparison; `MEMORY=only` or `memory-only` runs it alone.
fn mode() -> Result<(bool, bool), String> {
    let mut mode = match env::var("MEMORY").as_deref() {
        Err(_) | Ok("") | Ok("0") => (true, false),
        Ok("only") => (false, true),
        Ok(_) => (true, true),
    };
    // cargo bench passes `--bench` to every bench binary; other flags are ours to reject.
    for arg in env::args().skip(1).filter(|arg| arg != "--bench") {
        mode = match arg.as_str() {
            "memory" | "--memory" => (mode.0, true),
            "memory-only" | "--memory-only" => (false, true),
            _ => {
                return Err(format!(
                    "unknown argument {arg:?}; accepted: memory, memory-only"
                ))
            }
        };
    }
    Ok(mode)
}

fn env_number<T: FromStr>(name: &str) -> Result<Option<T>, String> {
    match env::var(name) {
        Err(_) => Ok(None),
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={text:?} is not a number")),
    }
}

/// `TESTS=set,get,fanout` narrows the run to those redis-benchmark tests and (when named) the
/// pub/sub fan-out row; empty means all of them. Returns the tests and whether fan-out runs.
fn tests(list: &str) -> Result<(Vec<&'static Test>, bool), String> {
    if list.trim().is_empty() {
        return Ok((TESTS.iter().collect(), true));
    }
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    let fanout = names
        .iter()
        .any(|name| name.eq_ignore_ascii_case(FANOUT_NAME));
    let tests = names
        .into_iter()
        .filter(|name| {
            !name.eq_ignore_ascii_case(FANOUT_NAME) && !name.eq_ignore_ascii_case(MULTI_NAME)
        })
        .map(|name| {
            TESTS
                .iter()
                .find(|test| test.flag.eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("TESTS: unknown test {name:?}"))
        })
        .collect::<Result<_, _>>()?;
    Ok((tests, fanout))
}

/// Parses `RINGKV_CONFIGS`: comma-separated names, each `default` or `+`-joined parts from
/// `threadsN`, `uring`, `epoll` (e.g. `threads1+epoll`).
fn ringkv_configs(list: &str) -> Result<Vec<RingkvConfig>, String> {
    let configs = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            let args = if name == "default" {
                Vec::new()
            } else {
                name.split('+')
                    .map(config_part)
                    .collect::<Result<Vec<_>, _>>()?
                    .concat()
            };
            Ok(RingkvConfig {
                name: name.to_string(),
                args,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if configs.is_empty() {
        return Err("RINGKV_CONFIGS names no configuration".into());
    }
    Ok(configs)
}

fn config_part(part: &str) -> Result<Vec<String>, String> {
    if let Some(count) = part.strip_prefix("threads") {
        if count.parse::<u32>().is_ok_and(|n| n > 0) {
            return Ok(vec!["--threads".into(), count.into()]);
        }
    }
    match part {
        "uring" | "epoll" => Ok(vec!["--io-backend".into(), part.into()]),
        _ => Err(format!(
            "RINGKV_CONFIGS: unknown part {part:?}; use default, threadsN, uring, epoll, joined with +"
        )),
    }
}
