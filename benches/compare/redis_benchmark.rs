//! Runs redis-benchmark once and turns its `--csv` output into numbers; knows nothing of which
//! server is listening or how runs are grouped.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::server::send_signal;
use crate::workload::{Case, Measured, CLIENTS, KEYSPACE};

/// Arguments for one run of test `flag` (the program name excluded).
pub fn args(flag: &str, case: &Case, port: u16) -> Vec<String> {
    let options = [
        ("-h", "127.0.0.1".to_string()),
        ("-p", port.to_string()),
        ("-c", CLIENTS.to_string()),
        ("-r", KEYSPACE.to_string()),
        ("-n", case.requests.to_string()),
        ("-P", case.pipeline.to_string()),
        ("-t", flag.to_string()),
    ];
    let mut args: Vec<String> = options
        .into_iter()
        .flat_map(|(option, value)| [option.to_string(), value])
        .collect();
    args.push("--csv".into());
    args
}

/// Runs redis-benchmark to completion or `timeout`. `Err` carries why the run gave no figures:
/// the server answered with an error, the connection failed, or the output held no result line.
pub fn run(program: &Path, args: &[String], timeout: Duration) -> Result<Measured, String> {
    let output = run_with_timeout(Command::new(program).args(args), timeout)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Some(line) = first_failure_line(&stdout).or_else(|| first_failure_line(&stderr)) {
        return Err(line);
    }
    if !output.status.success() {
        return Err(format!("redis-benchmark {}", output.status));
    }
    parse_csv(&stdout)
}

/// redis-benchmark never gives up on a refused connection, so every run has a deadline.
fn run_with_timeout(command: &mut Command, timeout: Duration) -> Result<Output, String> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start redis-benchmark: {err}"))?;
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    thread::spawn(move || done.send(child.wait_with_output()));
    let output = match finished.recv_timeout(timeout) {
        Ok(output) => output,
        Err(_) => {
            send_signal(pid, libc::SIGKILL);
            let _ = finished.recv();
            return Err(format!("timed out after {} s", timeout.as_secs()));
        }
    };
    output.map_err(|err| format!("waiting for redis-benchmark: {err}"))
}

/// A line that means the run failed even if some numbers were printed. `WARNING: Could not fetch
/// server CONFIG` is not one: a server without CONFIG is still measured.
fn first_failure_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|line| {
            line.starts_with("Error")
                || line.starts_with("ERR")
                || line.starts_with("Could not connect")
        })
        .map(|line| line.chars().take(200).collect())
}

/// Extracts rps, p50 and p99 from redis-benchmark 7's CSV: a header row naming the columns
/// (`"test","rps","avg_latency_ms",...,"p50_latency_ms",...,"p99_latency_ms",...`) then one row
/// per test. Columns are found by name, so a reordered or extended header still parses.
pub fn parse_csv(stdout: &str) -> Result<Measured, String> {
    let mut rows = stdout
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with('"'))
        .map(|line| (line, split_csv_line(line)));
    let (_, header) = rows
        .find(|(_, fields)| fields.first().is_some_and(|first| first == "test"))
        .ok_or("no CSV header in redis-benchmark output")?;
    let column = |name: &str| {
        header
            .iter()
            .position(|field| field == name)
            .ok_or(format!("no {name} column in redis-benchmark CSV"))
    };
    let (rps, p50, p99) = (
        column("rps")?,
        column("p50_latency_ms")?,
        column("p99_latency_ms")?,
    );
    let (line, fields) = rows
        .find(|(_, fields)| fields.len() == header.len())
        .ok_or("no result row in redis-benchmark output")?;
    let number = |index: usize| {
        fields[index]
            .parse::<f64>()
            .map_err(|_| format!("unreadable number {:?} in {line}", fields[index]))
    };
    Ok(Measured {
        operations: 0,
        rps: number(rps)?,
        p50_ms: number(p50)?,
        p99_ms: number(p99)?,
        raw: line.to_string(),
    })
}

/// Splits one CSV line: fields may be quoted, a quoted field may hold commas and `""` for `"`.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}
