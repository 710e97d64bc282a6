//! Renders the figures as Markdown: a summary (machine, servers, commands, one table per ringkv
//! configuration, memory) and an appendix (exact medians, every round's raw CSV line). Knows
//! nothing of how the figures were taken.

use std::fmt::Write as _;

use crate::machine::Machine;
use crate::memory::{MemoryRow, BATCH, SHAPES};
use crate::rounds::{ratio, Cell, Throughput};
use crate::settings::Settings;
use crate::workload::{Workload, CLIENTS, KEYSPACE};
use crate::Tools;

/// Everything a report shows.
pub struct Report<'a> {
    pub date: &'a str,
    pub commit: &'a str,
    pub machine: &'a Machine,
    pub settings: &'a Settings,
    pub tools: &'a Tools,
    pub throughput: Option<&'a Throughput>,
    pub memory: Option<&'a [MemoryRow]>,
    /// File name of the SVG chart beside the report.
    pub chart: Option<&'a str>,
}

impl Report<'_> {
    /// The part printed to stdout: everything but the appendix.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "# ringkv vs redis-server — {} ({})\n\n",
            self.date, self.commit
        );
        self.machine_section(&mut out);
        if let Some(throughput) = self.throughput {
            self.servers_section(&mut out, throughput);
            self.commands_section(&mut out, throughput);
            self.tables_section(&mut out, throughput);
        }
        if let Some(rows) = self.memory {
            memory_section(&mut out, rows);
        }
        out
    }

    /// The whole Markdown file.
    pub fn document(&self) -> String {
        let mut out = self.summary();
        if let Some(throughput) = self.throughput {
            medians_appendix(&mut out, throughput);
            rounds_appendix(&mut out, throughput);
        }
        out
    }

    fn machine_section(&self, out: &mut String) {
        let machine = self.machine;
        let _ = write!(
            out,
            "## Machine\n\n\
             - CPU: {} ({} cores)\n- Kernel: {}\n- redis-server: {}\n- redis-benchmark: {}\n",
            machine.cpu_model,
            machine.cores,
            machine.kernel,
            machine.redis_version,
            self.tools.redis_benchmark.display(),
        );
        if self.settings.ringkv_overridden {
            let _ = writeln!(
                out,
                "\n**RINGKV_BIN_OVERRIDE was set: the \"ringkv\" side is `{}`, not ringkv.**",
                self.settings.ringkv_bin.display()
            );
        }
        out.push('\n');
    }

    fn servers_section(&self, out: &mut String, throughput: &Throughput) {
        let settings = self.settings;
        let order: Vec<&str> = throughput
            .servers
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        let _ = write!(
            out,
            "## Method\n\n\
             - {} counted round(s) after one warm-up round; each table cell is the median.\n\
             - Within a round every case runs against each server in turn: {}.\n\
             - Idle servers are stopped (SIGSTOP) while another is measured.\n\
             - `-c {CLIENTS} -r {KEYSPACE}`; requests per run: {} at P=1, {} at P=16 (MSET a quarter).\n\
             - req/CPU-s: requests ÷ server user+system CPU seconds from /proc/PID/stat.\n",
            throughput.rounds,
            order.join(" → "),
            settings.requests_p1,
            settings.requests_pipelined,
        );
        if throughput
            .cases
            .iter()
            .any(|case| matches!(case.workload, Workload::Transaction { .. }))
        {
            out.push_str(
                "- MULTI_1SHARD / MULTI_2SHARD: every client sends `MULTI; INCR a; INCR b; EXEC` \
                 with its own two keys, on one hash slot or in different halves of the slot \
                 range (two shards at ringkv's 2 threads); P = transactions per pipelined batch. \
                 rps = transactions/s; p50/p99 = per batch; req/CPU-s counts transactions.\n",
            );
        }
        for case in &throughput.cases {
            if let Workload::PubSubFanout {
                subscribers,
                payload,
            } = case.workload
            {
                let _ = writeln!(
                    out,
                    "- FANOUT: {} PUBLISHes of {payload} bytes, {} per pipelined batch, to \
                     {subscribers} raw-TCP subscribers each drained by its own thread. rps = \
                     deliveries/s (PUBLISHes × {subscribers} ÷ time until every subscriber has \
                     them all); p50/p99 = PUBLISH → reply; req/CPU-s counts deliveries.",
                    case.requests, case.pipeline
                );
            }
        }
        out.push_str("\n## Servers\n\n| server | command line | start-up line |\n|---|---|---|\n");
        for server in &throughput.servers {
            let startup = match &server.start_error {
                Some(err) => format!("**failed to start:** {}", first_line(err)),
                None => server.startup_line.clone(),
            };
            let _ = writeln!(
                out,
                "| {} | `{}` | {} |",
                server.label,
                server.command_line,
                cell_text(&startup)
            );
        }
        out.push('\n');
    }

    fn commands_section(&self, out: &mut String, throughput: &Throughput) {
        out.push_str(
            "## Load command lines\n\n`<port>` is each server's port (see the appendix).\n\n```\n",
        );
        for case in &throughput.cases {
            let line = case.command(self.tools, 0).join(" ");
            let _ = writeln!(out, "{}", line.replace(" -p 0 ", " -p <port> "));
        }
        out.push_str("```\n\n");
    }

    fn tables_section(&self, out: &mut String, throughput: &Throughput) {
        if let Some(chart) = self.chart {
            let _ = writeln!(out, "![ringkv ÷ redis ratios]({chart})\n");
        }
        for server in 0..throughput.redis() {
            comparison_table(out, throughput, server);
        }
    }
}

fn comparison_table(out: &mut String, throughput: &Throughput, server: usize) {
    let redis = throughput.redis();
    let _ = write!(
        out,
        "## {} vs redis-server\n\n\
         | test | P | ringkv rps | redis rps | ratio | ringkv p50/p99 ms | redis p50/p99 ms \
         | ringkv req/CPU-s | redis req/CPU-s | CPU ratio |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        throughput.servers[server].label
    );
    for (index, case) in throughput.cases.iter().enumerate() {
        let ours = throughput.cell(server, index);
        let theirs = throughput.cell(redis, index);
        let ratios = throughput.ratios(server, index);
        let rps = |cell: &Result<Cell, String>| cell.as_ref().ok().map(|cell| cell.rps);
        let per_cpu =
            |cell: &Result<Cell, String>| cell.as_ref().ok().and_then(|c| c.per_cpu_second);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            case.label(),
            case.pipeline,
            rate(rps(&ours)),
            rate(rps(&theirs)),
            ratio_text(ratios.throughput),
            latencies(&ours),
            latencies(&theirs),
            rate(per_cpu(&ours)),
            rate(per_cpu(&theirs)),
            ratio_text(ratios.cpu_efficiency),
        );
    }
    let failures: Vec<String> = throughput
        .cases
        .iter()
        .enumerate()
        .filter_map(|(index, case)| {
            let err = throughput.cell(server, index).err()?;
            Some(format!(
                "- {} P={}: {}",
                case.label(),
                case.pipeline,
                first_line(&err)
            ))
        })
        .collect();
    if !failures.is_empty() {
        let _ = write!(out, "\nn/a because:\n{}\n", failures.join("\n"));
    }
    out.push('\n');
}

fn memory_section(out: &mut String, rows: &[MemoryRow]) {
    let _ = write!(
        out,
        "## Memory\n\nEach shape is loaded into a fresh server over pipelined RESP ({BATCH} \
         commands per batch); bytes/key = ΔVmRSS ÷ keys.\n\n"
    );
    for shape in SHAPES {
        let shape_rows: Vec<&MemoryRow> = rows.iter().filter(|row| row.shape == shape).collect();
        if shape_rows.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "### {}: {} keys, {}\n\n\
             | server | RSS before | RSS after | DBSIZE | bytes/key | vs redis |\n\
             |---|--:|--:|--:|--:|--:|\n",
            shape.name(),
            shape.keys(),
            shape.described()
        );
        let redis = shape_rows.last().and_then(|row| row.outcome.as_ref().ok());
        for row in shape_rows {
            let line = match &row.outcome {
                Ok(figures) => format!(
                    "| {} | {} | {} | {} | {:.1} | {} |",
                    row.label,
                    mebibytes(figures.rss_before),
                    mebibytes(figures.rss_after),
                    figures
                        .keys_reported
                        .map_or("n/a".into(), |keys| keys.to_string()),
                    figures.bytes_per_key(),
                    ratio_text(ratio(
                        Some(figures.bytes_per_key()),
                        redis.map(|redis| redis.bytes_per_key())
                    )),
                ),
                Err(err) => format!(
                    "| {} | n/a | n/a | n/a | n/a | {} |",
                    row.label,
                    cell_text(err)
                ),
            };
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }
}

fn medians_appendix(out: &mut String, throughput: &Throughput) {
    out.push_str(
        "## Appendix A: medians, unrounded\n\n\
         | server | test | P | requests | rps | p50 ms | p99 ms | CPU s | req/CPU-s |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for (server, info) in throughput.servers.iter().enumerate() {
        for (index, case) in throughput.cases.iter().enumerate() {
            let figures = match throughput.cell(server, index) {
                Ok(cell) => format!(
                    "{:.2} | {:.3} | {:.3} | {:.3} | {}",
                    cell.rps,
                    cell.p50_ms,
                    cell.p99_ms,
                    cell.cpu_seconds,
                    cell.per_cpu_second
                        .map_or("n/a".into(), |v| format!("{v:.0}"))
                ),
                Err(_) => "n/a | n/a | n/a | n/a | n/a".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {figures} |",
                info.label,
                case.label(),
                case.pipeline,
                case.requests
            );
        }
    }
    out.push('\n');
}

fn rounds_appendix(out: &mut String, throughput: &Throughput) {
    out.push_str(
        "## Appendix B: every run\n\n\
         Round 0 is the warm-up. Each line: round, server, port, server CPU seconds, then \
         redis-benchmark's CSV line or the fan-out driver's summary (or why the run is n/a).\n\n",
    );
    for (index, case) in throughput.cases.iter().enumerate() {
        let _ = writeln!(out, "### {} P={}\n\n```", case.label(), case.pipeline);
        for run in throughput.runs.iter().filter(|run| run.case == index) {
            let port = port_of(&run.command);
            let label = &throughput.servers[run.server].label;
            let detail = match &run.outcome {
                Ok(figures) => format!("cpu={:.3}s  {}", figures.cpu_seconds, figures.measured.raw),
                Err(err) => format!("n/a: {}", first_line(err)),
            };
            let _ = writeln!(out, "r{} {label:<18} port={port:<5} {detail}", run.round);
        }
        out.push_str("```\n\n");
    }
}

/// The value after `-p` in a command line.
fn port_of(command: &str) -> &str {
    let mut words = command.split(' ');
    words.find(|word| *word == "-p");
    words.next().unwrap_or("-")
}

fn ratio_text(ratio: Option<f64>) -> String {
    ratio.map_or("n/a".into(), |ratio| format!("{ratio:.2}"))
}

/// A rate for a human: `70.1k`, `1.52M`.
fn rate(value: Option<f64>) -> String {
    match value {
        None => "n/a".into(),
        Some(v) if v >= 1e6 => format!("{:.2}M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1}k", v / 1e3),
        Some(v) => format!("{v:.0}"),
    }
}

fn latencies(cell: &Result<Cell, String>) -> String {
    cell.as_ref().map_or("n/a".into(), |cell| {
        format!("{:.3} / {:.3}", cell.p50_ms, cell.p99_ms)
    })
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Text safe inside a Markdown table cell.
fn cell_text(text: &str) -> String {
    first_line(text).replace('|', "\\|")
}
