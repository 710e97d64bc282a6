//! Same-run end-to-end comparison of ringkv with redis-server, driven by redis-benchmark.
//!
//! `cargo bench --bench compare` starts each ringkv configuration and a redis-server on loopback
//! ports, runs every redis-benchmark test against them alternately (a warm-up round, then
//! `ROUNDS` counted rounds), takes medians of throughput, latency and requests per server
//! CPU-second, and writes `bench-results/DATE-COMMIT.md` and `.svg`. `bench-results/README.md`
//! explains the method and the knobs.
//!
//! Layout (files under `benches/compare/`):
//! - `settings`: the env and command-line knobs.
//! - `workload`: the test list, a `Case`, and the dispatch to the tool that drives it.
//! - `redis_benchmark`: one redis-benchmark run and its `--csv` output.
//! - `fanout`: the pub/sub fan-out row's own driver (raw-TCP subscribers and a publisher).
//! - `transaction`: the MULTI/EXEC rows' driver (raw-TCP clients sending transactions).
//! - `server`: starting, parking and measuring a server process through /proc.
//! - `rounds`: the A/B rounds and the medians.
//! - `memory`: bytes per key after loading 1 000 000 keys.
//! - `machine`: CPU, kernel, redis version, commit, date.
//! - `report`: the Markdown tables; `chart`: the SVG.

#[path = "compare/chart.rs"]
mod chart;
#[path = "compare/fanout.rs"]
mod fanout;
#[path = "compare/machine.rs"]
mod machine;
#[path = "compare/memory.rs"]
mod memory;
#[path = "compare/redis_benchmark.rs"]
mod redis_benchmark;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/rounds.rs"]
mod rounds;
#[path = "compare/server.rs"]
mod server;
#[path = "compare/settings.rs"]
mod settings;
#[path = "compare/transaction.rs"]
mod transaction;
#[path = "compare/workload.rs"]
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use machine::Machine;
use report::Report;
use server::{Launch, ServerSpec};
use settings::Settings;

/// External programs the bench drives, found on PATH.
pub struct Tools {
    pub redis_server: PathBuf,
    pub redis_benchmark: PathBuf,
}

impl Tools {
    fn find() -> Result<Tools, String> {
        let find = |name: &str| {
            machine::find_on_path(name).ok_or_else(|| {
                format!("{name} not found on PATH; install with apt-get install redis-server redis-tools")
            })
        };
        Ok(Tools {
            redis_server: find("redis-server")?,
            redis_benchmark: find("redis-benchmark")?,
        })
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(written) => {
            eprintln!("compare: wrote {}", written.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("compare: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<PathBuf, String> {
    let settings = Settings::load()?;
    let tools = Tools::find()?;
    let machine = Machine::describe(&tools.redis_server);
    if !machine.redis_version_number().starts_with("7.") {
        eprintln!(
            "compare: warning: expected redis-server 7.x, found {}",
            machine.redis_version
        );
    }
    let specs = server_specs(&settings, &tools);
    let throughput = settings
        .throughput
        .then(|| rounds::run(&settings, &tools, &specs));
    let memory = settings.memory.then(|| memory::measure_all(&specs));

    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (date, commit) = (machine::today(), machine::commit(project));
    let directory = project.join("bench-results");
    let stem = free_stem(&directory, &format!("{date}-{commit}"));
    let chart_file = format!("{stem}.svg");
    let report = Report {
        date: &date,
        commit: &commit,
        machine: &machine,
        settings: &settings,
        tools: &tools,
        throughput: throughput.as_ref(),
        memory: memory.as_deref(),
        chart: throughput.as_ref().map(|_| chart_file.as_str()),
    };
    println!("{}", report.summary());

    std::fs::create_dir_all(&directory)
        .map_err(|err| format!("cannot create {}: {err}", directory.display()))?;
    if let Some(throughput) = &throughput {
        let title = format!("ringkv ÷ redis-server — {date} ({commit})");
        write(
            &directory.join(&chart_file),
            &chart::render(throughput, &title),
        )?;
    }
    let markdown = directory.join(format!("{stem}.md"));
    write(&markdown, &report.document())?;
    Ok(markdown)
}

/// The servers of a run: each ringkv configuration, then redis-server (last, by convention of
/// `rounds::Throughput`).
fn server_specs(settings: &Settings, tools: &Tools) -> Vec<ServerSpec> {
    // An override named redis-server stands in for ringkv while ringkv cannot run yet; it is
    // launched the redis way and does not get ringkv's flags.
    let stand_in = settings.ringkv_overridden
        && settings
            .ringkv_bin
            .file_name()
            .is_some_and(|name| name == "redis-server");
    let mut specs: Vec<ServerSpec> = settings
        .ringkv_configs
        .iter()
        .map(|config| ServerSpec {
            label: format!("ringkv[{}]", config.name),
            program: settings.ringkv_bin.clone(),
            args: if stand_in {
                Vec::new()
            } else {
                config.args.clone()
            },
            launch: if stand_in {
                Launch::Redis
            } else {
                Launch::Ringkv
            },
        })
        .collect();
    specs.push(ServerSpec {
        label: "redis-server".into(),
        program: tools.redis_server.clone(),
        args: Vec::new(),
        launch: Launch::Redis,
    });
    specs
}

/// `base`, or `base-2`, `base-3`, ... so a second run on the same day and commit keeps the first.
fn free_stem(directory: &Path, base: &str) -> String {
    let taken = |stem: &str| {
        directory.join(format!("{stem}.md")).exists()
            || directory.join(format!("{stem}.svg")).exists()
    };
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|stem| !taken(stem))
        .unwrap_or_else(|| base.to_string())
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|err| format!("cannot write {}: {err}", path.display()))
}
