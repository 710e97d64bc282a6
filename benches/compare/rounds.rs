//! Drives the same-run A/B comparison: a warm-up round, then counted rounds in which every case
//! runs against every server in turn, only one server runnable at a time; then medians. Knows
//! nothing of report formats.

use crate::server::{ServerProcess, ServerSpec};
use crate::settings::{Settings, PIPELINES};
use crate::workload::{
    self, Case, Measured, Workload, FANOUT_PAYLOAD, FANOUT_PIPELINE, FANOUT_SUBSCRIBERS,
};
use crate::Tools;

/// A server as the report describes it.
pub struct ServerInfo {
    pub label: String,
    pub command_line: String,
    pub startup_line: String,
    /// Why the server could not be started at all; its runs are all n/a.
    pub start_error: Option<String>,
}

/// One redis-benchmark (or other driver) run.
pub struct Run {
    /// 0 is the warm-up round, not counted.
    pub round: usize,
    pub server: usize,
    pub case: usize,
    pub command: String,
    pub outcome: Result<RunFigures, String>,
}

pub struct RunFigures {
    pub measured: Measured,
    /// Server CPU time (user + system) spent during the run.
    pub cpu_seconds: f64,
}

impl RunFigures {
    /// `None` when the run was too short for the clock-tick resolution of /proc.
    pub fn per_cpu_second(&self) -> Option<f64> {
        (self.cpu_seconds > 0.0).then(|| self.measured.operations as f64 / self.cpu_seconds)
    }
}

/// Medians of the counted rounds of one server on one case.
pub struct Cell {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu_seconds: f64,
    pub per_cpu_second: Option<f64>,
}

/// Everything the throughput comparison produced.
pub struct Throughput {
    /// Ringkv configurations first, redis-server last.
    pub servers: Vec<ServerInfo>,
    pub cases: Vec<Case>,
    pub rounds: usize,
    pub runs: Vec<Run>,
}

impl Throughput {
    pub fn redis(&self) -> usize {
        self.servers.len() - 1
    }

    /// Counted runs of one server on one case, in round order.
    pub fn counted(&self, server: usize, case: usize) -> impl Iterator<Item = &Run> {
        self.runs
            .iter()
            .filter(move |run| run.round > 0 && run.server == server && run.case == case)
    }

    /// The medians, or why the cell is n/a: any failed counted round makes it n/a, since a
    /// median over the survivors would hide a crash or an unsupported command.
    pub fn cell(&self, server: usize, case: usize) -> Result<Cell, String> {
        let figures = self
            .counted(server, case)
            .map(|run| run.outcome.as_ref().map_err(String::clone))
            .collect::<Result<Vec<_>, _>>()?;
        if figures.is_empty() {
            return Err("not run".into());
        }
        let median_of = |value: fn(&RunFigures) -> f64| median(figures.iter().map(|f| value(f)));
        let per_cpu: Vec<f64> = figures.iter().filter_map(|f| f.per_cpu_second()).collect();
        Ok(Cell {
            rps: median_of(|f| f.measured.rps),
            p50_ms: median_of(|f| f.measured.p50_ms),
            p99_ms: median_of(|f| f.measured.p99_ms),
            cpu_seconds: median_of(|f| f.cpu_seconds),
            per_cpu_second: (!per_cpu.is_empty()).then(|| median(per_cpu.into_iter())),
        })
    }
}

/// ringkv ÷ redis for one server and case: (throughput, requests per CPU-second); `None` where
/// either side is n/a.
pub struct Ratios {
    pub throughput: Option<f64>,
    pub cpu_efficiency: Option<f64>,
}

impl Throughput {
    pub fn ratios(&self, server: usize, case: usize) -> Ratios {
        let ours = self.cell(server, case).ok();
        let theirs = self.cell(self.redis(), case).ok();
        let (ours, theirs) = (ours.as_ref(), theirs.as_ref());
        Ratios {
            throughput: ratio(ours.map(|c| c.rps), theirs.map(|c| c.rps)),
            cpu_efficiency: ratio(
                ours.and_then(|c| c.per_cpu_second),
                theirs.and_then(|c| c.per_cpu_second),
            ),
        }
    }
}

pub fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if theirs > 0.0 => Some(ours / theirs),
        _ => None,
    }
}

/// The cases of a run: every selected test at every pipeline depth, then the fan-out row.
pub fn cases(settings: &Settings) -> Vec<Case> {
    let fanout = settings.fanout.then_some(Case {
        workload: Workload::PubSubFanout {
            subscribers: FANOUT_SUBSCRIBERS,
            payload: FANOUT_PAYLOAD,
        },
        pipeline: FANOUT_PIPELINE,
        requests: settings.fanout_messages,
    });
    PIPELINES
        .iter()
        .flat_map(|&pipeline| {
            settings.tests.iter().map(move |&test| Case {
                workload: Workload::RedisBenchmark(test),
                pipeline,
                requests: settings.requests(test, pipeline),
            })
        })
        .chain(fanout)
        .chain(transactions(settings))
        .collect()
}

/// The MULTI/EXEC rows: one shard and two shards, at each pipeline depth; a transaction is four
/// commands, so a quarter of the requests.
fn transactions(settings: &Settings) -> Vec<Case> {
    if !settings.transactions {
        return Vec::new();
    }
    PIPELINES
        .iter()
        .flat_map(|&pipeline| {
            let base = if pipeline == 1 {
                settings.requests_p1
            } else {
                settings.requests_pipelined
            };
            [false, true].map(|cross| Case {
                workload: Workload::Transaction { cross },
                pipeline,
                requests: (base / 4).max(1),
            })
        })
        .collect()
}

/// Runs the warm-up round and `settings.rounds` counted rounds over `specs` (redis-server last).
pub fn run(settings: &Settings, tools: &Tools, specs: &[ServerSpec]) -> Throughput {
    let cases = cases(settings);
    let mut slots: Vec<Slot> = specs.iter().map(Slot::start).collect();
    let servers = slots.iter().map(Slot::info).collect();
    let total = (settings.rounds + 1) * cases.len() * slots.len();
    let mut runs = Vec::with_capacity(total);
    for round in 0..=settings.rounds {
        for (case_index, case) in cases.iter().enumerate() {
            for (server, slot) in slots.iter_mut().enumerate() {
                let (command, outcome) = slot.measure(case, settings, tools);
                let run = Run {
                    round,
                    server,
                    case: case_index,
                    command,
                    outcome,
                };
                progress(
                    runs.len() + 1,
                    total,
                    settings.rounds,
                    &run,
                    case,
                    &slot.spec.label,
                );
                runs.push(run);
            }
        }
    }
    Throughput {
        servers,
        cases,
        rounds: settings.rounds,
        runs,
    }
}

/// One server under test, kept running (and parked between its runs) for the whole comparison.
struct Slot {
    spec: ServerSpec,
    process: Option<ServerProcess>,
    startup_line: String,
    /// Set once a start failed; the slot is not retried, so a hanging binary costs one timeout.
    start_error: Option<String>,
}

impl Slot {
    fn start(spec: &ServerSpec) -> Slot {
        let mut slot = Slot {
            spec: spec.clone(),
            process: None,
            startup_line: String::new(),
            start_error: None,
        };
        slot.ensure_running();
        slot
    }

    fn info(&self) -> ServerInfo {
        ServerInfo {
            label: self.spec.label.clone(),
            command_line: self.spec.command_line(),
            startup_line: self.startup_line.clone(),
            start_error: self.start_error.clone(),
        }
    }

    /// Starts the server if it is not running: the first time, and after it died in a run.
    fn ensure_running(&mut self) -> Option<&ServerProcess> {
        if self.start_error.is_some() {
            return None;
        }
        if !self.process.as_mut().is_some_and(ServerProcess::is_alive) {
            if self.process.take().is_some() {
                eprintln!("compare: {} died; restarting it", self.spec.label);
            }
            match ServerProcess::start(&self.spec) {
                Ok(process) => {
                    if self.startup_line.is_empty() {
                        self.startup_line = process.startup_line.clone();
                    }
                    process.park();
                    self.process = Some(process);
                }
                Err(err) => {
                    eprintln!("compare: {err}");
                    self.start_error = Some(err);
                }
            }
        }
        self.process.as_ref()
    }

    /// Runs `case` once with the server resumed, and returns the exact command and its figures.
    fn measure(
        &mut self,
        case: &Case,
        settings: &Settings,
        tools: &Tools,
    ) -> (String, Result<RunFigures, String>) {
        let Some(process) = self.ensure_running() else {
            let why = self.start_error.clone().unwrap_or_default();
            return (String::new(), Err(format!("server did not start: {why}")));
        };
        let command = case.command(tools, process.port).join(" ");
        process.resume();
        let before = process.cpu_seconds();
        let measured = workload::measure(case, tools, process.port, settings.run_timeout);
        let after = process.cpu_seconds();
        process.park();
        let cpu_seconds = after
            .zip(before)
            .map_or(0.0, |(after, before)| after - before);
        let outcome = measured.map(|measured| RunFigures {
            measured,
            cpu_seconds,
        });
        (command, outcome)
    }
}

fn progress(done: usize, total: usize, rounds: usize, run: &Run, case: &Case, label: &str) {
    let round = match run.round {
        0 => "warm-up".to_string(),
        n => format!("round {n}/{rounds}"),
    };
    let result = match &run.outcome {
        Ok(figures) => format!(
            "{:>10.0} rps  cpu {:.2} s",
            figures.measured.rps, figures.cpu_seconds
        ),
        Err(err) => format!("n/a ({})", err.lines().next().unwrap_or_default()),
    };
    eprintln!(
        "[{done:>3}/{total}] {round:<11} {:<10} P={:<2} {label:<18} {result}",
        case.label(),
        case.pipeline
    );
}

/// Median; the mean of the middle two for an even count. `values` must not be empty.
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}
