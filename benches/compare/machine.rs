//! Where and when the figures were taken: CPU, cores, kernel, redis version, commit, date; and
//! finding the redis programs on PATH. Knows nothing of the measurements.

use std::env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    /// `redis-server --version`, verbatim.
    pub redis_version: String,
}

impl Machine {
    pub fn describe(redis_server: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or("unknown".to_string(), |(_, model)| model.trim().to_string());
        let cores = cpuinfo
            .lines()
            .filter(|line| line.starts_with("processor"))
            .count();
        Machine {
            cpu_model,
            cores,
            kernel: command_output("uname", &["-r"]).unwrap_or_else(|| "unknown".into()),
            redis_version: command_output(&redis_server.display().to_string(), &["--version"])
                .unwrap_or_else(|| "unknown".into()),
        }
    }

    /// The `v=7.0.15` part of the redis version line.
    pub fn redis_version_number(&self) -> &str {
        self.redis_version
            .split_whitespace()
            .find_map(|word| word.strip_prefix("v="))
            .unwrap_or("unknown")
    }
}

/// `git rev-parse --short HEAD` of `dir`, with `-dirty` when tracked files differ from HEAD
/// (untracked files, such as earlier results, do not count); `nogit` outside a repository.
pub fn commit(dir: &Path) -> String {
    let dir = dir.display().to_string();
    let Some(hash) = command_output("git", &["-C", &dir, "rev-parse", "--short", "HEAD"]) else {
        return "nogit".into();
    };
    let status = command_output("git", &["-C", &dir, "status", "--porcelain", "-uno"]);
    match status {
        Some(changes) if !changes.is_empty() => format!("{hash}-dirty"),
        _ => hash,
    }
}

/// Today's date in UTC as `YYYY-MM-DD`.
pub fn today() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (year, month, day) = civil_date((seconds / 86_400) as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Gregorian date of a day count since 1970-01-01, by splitting time into 400-year eras that start
/// on 1 March (so the leap day falls at the end of each year).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// First executable named `name` in PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| {
            path.metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Trimmed stdout of a command that succeeded.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
