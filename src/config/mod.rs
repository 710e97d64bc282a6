//! Configuration with Redis's option names: a redis.conf-style file and `--name value` flags at
//! start, CONFIG GET/SET at run time. Depends only on `glob`.

use std::collections::BTreeMap;
use std::fmt;

use crate::glob::glob_match;

pub mod file;
mod options;
mod rewrite;

pub use options::Effect;
use options::{OptionSpec, OPTIONS};

/// How an option's value is checked and normalised.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Integer within bounds.
    Int(i64, i64),
    /// Byte size with Redis's units (`1gb`, `512mb`, `100k`), stored in bytes, within bounds.
    Memory(i64, i64),
    /// A byte size, or a percentage of `maxmemory` (`10%`, stored negated as Redis shows it).
    MemoryOrPercent,
    /// An octal number up to the bound (`unixsocketperm`).
    Octal(i64),
    /// `oom-score-adj-values`: three integers from -2000 to 2000.
    OomValues,
    /// `latency-tracking-info-percentiles`: numbers from 0 to 100.
    Percentiles,
    /// `yes` / `no`.
    Bool,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// Free text.
    Text,
    /// `client-output-buffer-limit`: `class hard soft seconds` groups merged into the current
    /// value, which always shows all three classes in bytes.
    OutputLimits,
    /// `save`: `seconds changes` pairs; `""` for none.
    SavePoints,
    /// `shutdown-on-sigterm`/`-sigint`: `default` or some of `save nosave now force`.
    ShutdownFlags,
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No such option.
    Unknown(String),
    /// The option exists but cannot change at run time.
    Immutable(String),
    /// The value does not parse or is out of range: (option, reason).
    Invalid(String, String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unknown(name) => write!(f, "unknown option '{name}'"),
            ConfigError::Immutable(name) => write!(f, "option '{name}' can't be set at run time"),
            ConfigError::Invalid(name, why) => write!(f, "option '{name}': {why}"),
        }
    }
}

/// The running configuration: every known option's current value, as CONFIG GET shows it.
#[derive(Clone, Debug)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
    /// A `save` line of the start-up configuration was read: the next ones add save points
    /// to it instead of replacing the default, as Redis reads its file.
    save_loaded: bool,
    /// The configuration file the server started with (absolute), for CONFIG REWRITE.
    pub file: Option<std::path::PathBuf>,
    /// `rename-command` lines: (command, new name; empty = disabled).
    pub renames: Vec<(String, String)>,
    /// The options the start-up configuration set, in order (for the warning about those
    /// without effect).
    given: Vec<&'static str>,
    /// `user name rule...` directives: ACL users the server creates at start (the ACL layer
    /// applies and checks the rules), each as its words after `user`.
    pub users: Vec<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        let values = OPTIONS
            .iter()
            .map(|o| (o.name, o.default.to_string()))
            .collect();
        Config {
            values,
            save_loaded: false,
            file: None,
            renames: Vec::new(),
            given: Vec::new(),
            users: Vec::new(),
        }
    }
}

/// The option called `name` (or by its alias), case-insensitively.
fn spec(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| {
        o.name.eq_ignore_ascii_case(name) || o.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses Redis's memory units: `12`, `1k` (1000), `1kb` (1024), `1m`, `1mb`, `1g`, `1gb`.
pub fn parse_memory(text: &str) -> Option<i64> {
    let lower = text.to_ascii_lowercase();
    let (digits, unit): (&str, i64) = [
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|&(suffix, mul)| lower.strip_suffix(suffix).map(|d| (d, mul)))
    .unwrap_or((lower.as_str(), 1));
    digits.parse::<i64>().ok()?.checked_mul(unit)
}

fn normalise(spec: &OptionSpec, value: &str) -> Result<String, String> {
    match spec.kind {
        Kind::Int(lo, hi) => {
            let n: i64 = value
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < lo || n > hi {
                return Err(format!("argument must be between {lo} and {hi} inclusive"));
            }
            Ok(n.to_string())
        }
        Kind::Memory(lo, hi) => {
            let n =
                parse_memory(value).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n < lo || n > hi {
                return Err(format!("argument must be between {lo} and {hi} inclusive"));
            }
            Ok(n.to_string())
        }
        Kind::MemoryOrPercent => {
            if let Some(percent) = value.strip_suffix('%') {
                match percent.parse::<i64>() {
                    Ok(n) if (0..=100).contains(&n) => Ok(format!("{n}%")),
                    Ok(n) if n > 100 => {
                        Err("percentage argument must be less or equal to 100".into())
                    }
                    _ => Err("argument must be a memory or percent value".into()),
                }
            } else {
                match parse_memory(value) {
                    Some(n) if n >= 0 => Ok(n.to_string()),
                    Some(_) => Err(
                        "argument must be between -100 and 9223372036854775807 inclusive".into(),
                    ),
                    None => Err("argument must be a memory or percent value".into()),
                }
            }
        }
        Kind::Octal(hi) => match i64::from_str_radix(value, 8) {
            Ok(n) if (0..=hi).contains(&n) => Ok(format!("{n:o}")),
            Ok(_) => Err(format!("argument must be between 0 and {hi:o} inclusive")),
            Err(_) => Err("argument couldn't be parsed into an integer".into()),
        },
        Kind::OomValues => {
            let words: Vec<&str> = value.split_whitespace().collect();
            if words.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let values: Vec<i64> = words
                .iter()
                .map(|w| w.parse::<i64>().ok().filter(|v| (-2000..=2000).contains(v)))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                        .to_string()
                })?;
            Ok(values
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "))
        }
        Kind::Percentiles => {
            let mut shown = Vec::new();
            for word in value.split_whitespace() {
                match word.parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => {
                        shown.push(crate::protocol::reply::double_text(p))
                    }
                    Ok(_) => {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into())
                    }
                    Err(_) => {
                        return Err("Invalid latency-tracking-info-percentiles parameters".into())
                    }
                }
            }
            Ok(shown.join(" "))
        }
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Enum(words) => {
            let lower = value.to_ascii_lowercase();
            if words.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                ))
            }
        }
        Kind::SavePoints => save_points(value).map(|points| render_save_points(&points)),
        Kind::ShutdownFlags => shutdown_flags(value).map(render_shutdown_flags),
        Kind::Text | Kind::OutputLimits => Ok(value.to_string()),
    }
}

/// The `(seconds, changes)` pairs of a `save` value: a save starts once `changes` writes
/// were made and more than `seconds` passed since the last save.
pub fn save_points(text: &str) -> Result<Vec<(u64, u64)>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let invalid = || "Invalid save parameters".to_string();
    if words.len() % 2 == 1 {
        return Err(invalid());
    }
    let number = |word: &str, least: i64| match word.parse::<i64>() {
        Ok(n) if n >= least => Ok(n as u64),
        _ => Err(invalid()),
    };
    words
        .chunks(2)
        .map(|pair| Ok((number(pair[0], 1)?, number(pair[1], 0)?)))
        .collect()
}

fn render_save_points(points: &[(u64, u64)]) -> String {
    let words: Vec<String> = points.iter().map(|(s, c)| format!("{s} {c}")).collect();
    words.join(" ")
}

/// What a shutdown does, from SHUTDOWN's arguments or `shutdown-on-sig*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownFlags {
    pub save: bool,
    pub nosave: bool,
    pub now: bool,
    pub force: bool,
}

const SHUTDOWN_WORDS: &[&str] = &["default", "save", "nosave", "now", "force"];

/// Parses a `shutdown-on-sig*` value (`default` is none of the flags).
pub fn shutdown_flags(text: &str) -> Result<ShutdownFlags, String> {
    let mut flags = ShutdownFlags::default();
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.to_ascii_lowercase())
        .collect();
    if words.is_empty() {
        return Err(format!(
            "argument(s) must be one of the following: {}",
            SHUTDOWN_WORDS.join(", ")
        ));
    }
    for word in &words {
        match word.as_str() {
            "default" => {}
            "save" => flags.save = true,
            "nosave" => flags.nosave = true,
            "now" => flags.now = true,
            "force" => flags.force = true,
            _ => {
                return Err(format!(
                    "argument(s) must be one of the following: {}",
                    SHUTDOWN_WORDS.join(", ")
                ))
            }
        }
    }
    if flags.save && flags.nosave {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    Ok(flags)
}

fn render_shutdown_flags(flags: ShutdownFlags) -> String {
    let set = [flags.save, flags.nosave, flags.now, flags.force];
    let words: Vec<&str> = SHUTDOWN_WORDS[1..]
        .iter()
        .zip(set)
        .filter_map(|(word, on)| on.then_some(*word))
        .collect();
    if words.is_empty() {
        "default".into()
    } else {
        words.join(" ")
    }
}

/// One client class's `client-output-buffer-limit`: bytes, bytes, seconds (0 = no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// The client classes of `client-output-buffer-limit`, in the order CONFIG GET shows them.
pub const OUTPUT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// Index into [`OUTPUT_CLASSES`] of a class name as Redis accepts it (`replica` = `slave`).
fn output_class(name: &str) -> Option<usize> {
    match name.to_ascii_lowercase().as_str() {
        "normal" => Some(0),
        "slave" | "replica" => Some(1),
        "pubsub" => Some(2),
        _ => None,
    }
}

/// The three classes' limits from a `client-output-buffer-limit` value (unset classes: none).
pub fn output_limits(text: &str) -> [OutputLimit; 3] {
    let mut limits = [OutputLimit::default(); 3];
    let _ = merge_output_limits(&mut limits, text);
    limits
}

/// Applies `class hard soft seconds` groups to `limits` as Redis's CONFIG SET does: all or
/// nothing, with Redis's error texts.
fn merge_output_limits(limits: &mut [OutputLimit; 3], text: &str) -> Result<(), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut merged = *limits;
    for group in words.chunks(4) {
        let class = output_class(group[0])
            .ok_or("Invalid client class specified in buffer limit configuration.")?;
        let bytes = |w: &str| parse_memory(w).filter(|&n| n >= 0).map(|n| n as u64);
        let (Some(hard), Some(soft), Ok(soft_seconds)) =
            (bytes(group[1]), bytes(group[2]), group[3].parse::<i64>())
        else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        if soft_seconds < 0 {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        }
        merged[class] = OutputLimit {
            hard,
            soft,
            soft_seconds: soft_seconds as u64,
        };
    }
    *limits = merged;
    Ok(())
}

/// Redis's rendering of all three classes: `normal 0 0 0 slave ... pubsub ...`, in bytes.
fn render_output_limits(limits: &[OutputLimit; 3]) -> String {
    OUTPUT_CLASSES
        .iter()
        .zip(limits)
        .map(|(class, l)| format!("{class} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Config {
    /// Builds the start-up configuration from the command line: an optional config file path
    /// first, then `--name value [value ...]` flags (flags win over the file).
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut rest = args;
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first)
                    .map_err(|e| format!("Fatal error, can't open config file '{first}': {e}"))?;
                config.load_text(&text)?;
                config.file = std::path::absolute(first).ok();
                rest = &rest[1..];
            }
        }
        config.load_text(&file::command_line_options(rest))?;
        Ok(config)
    }

    /// Moves into `dir`, as redis-server does while reading its configuration, so that the
    /// relative paths of other options (aclfile, pidfile, logfile) name files there; `dir`
    /// then holds the absolute path, which is what Redis's CONFIG GET shows.
    pub fn enter_dir(&mut self) -> Result<(), String> {
        let dir = self.get("dir").to_string();
        std::env::set_current_dir(&dir).map_err(|e| format!("Can't chdir to '{dir}': {e}"))?;
        if let Ok(cwd) = std::env::current_dir() {
            self.values
                .insert("dir", cwd.to_string_lossy().into_owned());
        }
        Ok(())
    }

    fn set_startup(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        if name.eq_ignore_ascii_case("user") {
            return self.add_user(value);
        }
        let spec = spec(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        let mut value = self
            .normalise(spec, value)
            .map_err(|why| ConfigError::Invalid(spec.name.into(), why))?;
        if let Kind::SavePoints = spec.kind {
            // Every `save` line after the first adds to it; `save ""` clears.
            let before = self.get(spec.name).to_string();
            let later = std::mem::replace(&mut self.save_loaded, true);
            if later && !value.is_empty() && !before.is_empty() {
                value = format!("{before} {value}");
            }
        }
        if !self.given.contains(&spec.name) {
            self.given.push(spec.name);
        }
        self.values.insert(spec.name, value);
        Ok(())
    }

    /// A `user` directive: a name and its rules, each name once (as Redis's
    /// ACLAppendUserForLoading).
    fn add_user(&mut self, value: &str) -> Result<(), ConfigError> {
        let words: Vec<String> = value.split_whitespace().map(str::to_string).collect();
        let Some(name) = words.first() else {
            return Err(ConfigError::Invalid(
                "user".into(),
                "Bad directive or wrong number of arguments".into(),
            ));
        };
        if self.users.iter().any(|u| u[0] == *name) {
            return Err(ConfigError::Invalid(
                "user".into(),
                format!("Error in user declaration '{name}': Duplicate user found. A user can only be defined once in config files"),
            ));
        }
        self.users.push(words);
        Ok(())
    }

    /// Records the value of an option the server itself changes while it runs though
    /// CONFIG SET may not (`replicaof`, which REPLICAOF moves): CONFIG GET and REWRITE
    /// then show the state as it is, as Redis derives them from it.
    pub fn record(&mut self, name: &str, value: &str) {
        if let Some(spec) = spec(name) {
            self.values.insert(spec.name, value.to_string());
        }
    }

    /// CONFIG SET for one option: checks that it exists, may change now, and parses.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let spec = spec(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        if !spec.mutable {
            return Err(ConfigError::Immutable(spec.name.into()));
        }
        let value = self
            .normalise(spec, value)
            .map_err(|why| ConfigError::Invalid(spec.name.into(), why))?;
        self.values.insert(spec.name, value);
        Ok(())
    }

    /// The value to store for `spec`; limits merge into the current ones.
    fn normalise(&self, spec: &OptionSpec, value: &str) -> Result<String, String> {
        if spec.name == "hz" {
            // Redis keeps `hz` within 1..=500 whatever was asked.
            let asked = normalise(spec, value)?;
            return Ok(asked.parse::<i64>().unwrap_or(10).clamp(1, 500).to_string());
        }
        if let Kind::OutputLimits = spec.kind {
            let mut limits = output_limits(self.get(spec.name));
            merge_output_limits(&mut limits, value)?;
            return Ok(render_output_limits(&limits));
        }
        normalise(spec, value)
    }

    /// Checks a CONFIG SET value without applying it.
    pub fn check(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        self.clone().set(name, value)
    }

    /// CONFIG GET: every option whose name or alias matches the glob `pattern`
    /// (case-insensitive), each under the name that matched. Hidden options answer only
    /// when named (a pattern without `*`, `?` or `[`), as in Redis.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, &str)> {
        let mut found = Vec::new();
        let named = !pattern.iter().any(|b| b"*?[".contains(b));
        for spec in OPTIONS.iter().filter(|o| named || !o.hidden) {
            let value = self.get(spec.name);
            for name in std::iter::once(spec.name).chain(spec.alias) {
                if glob_match(pattern, name.as_bytes(), true) {
                    found.push((name, value));
                }
            }
        }
        found.sort_by_key(|(name, _)| *name);
        found
    }

    /// The current text of `name` (or of the option it is an alias of).
    pub fn get(&self, name: &str) -> &str {
        let value = match self.values.get(name) {
            Some(value) => Some(value),
            None => spec(name).and_then(|s| self.values.get(s.name)),
        };
        value.map_or("", String::as_str)
    }

    /// The options the start-up configuration set without effect in ringkv, as one warning
    /// line per kind: Redis tuning knobs set away from the behaviour ringkv always has, and
    /// options of features ringkv does not have yet (grouped by feature). None when all is well.
    pub fn without_effect(&self) -> Vec<String> {
        let mut inert = Vec::new();
        let mut missing: Vec<(&str, Vec<&str>)> = Vec::new();
        for name in &self.given {
            let Some(spec) = spec(name) else { continue };
            match spec.effect {
                Effect::Works => {}
                Effect::Inert => {
                    if self.get(spec.name) != spec.default {
                        inert.push(spec.name);
                    }
                }
                Effect::Missing(feature) => match missing.iter_mut().find(|(f, _)| *f == feature) {
                    Some((_, names)) => names.push(spec.name),
                    None => missing.push((feature, vec![spec.name])),
                },
            }
        }
        let mut lines = Vec::new();
        if !inert.is_empty() {
            lines.push(format!(
                "these options have no effect in ringkv, which always behaves as their defaults: {}",
                inert.join(", ")
            ));
        }
        if !missing.is_empty() {
            let groups: Vec<String> = missing
                .iter()
                .map(|(feature, names)| format!("{} ({feature})", names.join(", ")))
                .collect();
            lines.push(format!(
                "these options belong to features ringkv does not have yet and have no effect: {}",
                groups.join("; ")
            ));
        }
        lines
    }

    /// What setting `name` to `value` does in ringkv: a warning to log when nothing.
    pub fn set_warning(name: &str, value: &str) -> Option<String> {
        let spec = spec(name)?;
        match spec.effect {
            Effect::Works => None,
            Effect::Inert if value == spec.default => None,
            Effect::Inert => Some(format!(
                "CONFIG SET {}: no effect in ringkv, which always behaves as '{}'",
                spec.name, spec.default
            )),
            Effect::Missing(feature) => Some(format!(
                "CONFIG SET {}: no effect, ringkv has no {feature} yet",
                spec.name
            )),
        }
    }

    /// An integer or memory option's value.
    pub fn int(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    /// Worker threads: `threads`, or the number of cores when 0.
    pub fn threads(&self) -> usize {
        match self.int("threads") {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_limits_merge_per_class_and_render_in_bytes() {
        let mut c = Config::default();
        c.set("client-output-buffer-limit", "normal 1mb 512kb 10")
            .unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit"),
            "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        c.set(
            "client-output-buffer-limit",
            "PUBSUB 1 2 3 normal 4 5 6 replica 1gb 2g 7",
        )
        .unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit"),
            "normal 4 5 6 slave 1073741824 2000000000 7 pubsub 1 2 3"
        );
        assert_eq!(
            output_limits(c.get("client-output-buffer-limit"))[0],
            OutputLimit {
                hard: 4,
                soft: 5,
                soft_seconds: 6
            }
        );
        for (bad, why) in [
            ("normal 1 2", "Wrong number"),
            ("master 1 2 3", "Invalid client class"),
            ("normal x 2 3", "Error in hard"),
            ("normal 1 2 -3", "Error in hard"),
            ("normal -1 2 3", "Error in hard"),
            ("normal 1 2 3 pubsub 1 2", "Wrong number"),
        ] {
            match c.set("client-output-buffer-limit", bad) {
                Err(ConfigError::Invalid(_, text)) => assert!(text.starts_with(why), "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        c.set("client-output-buffer-limit", "").unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit"),
            "normal 4 5 6 slave 1073741824 2000000000 7 pubsub 1 2 3"
        );
    }

    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn save_lines_add_up_and_shutdown_flags_render_as_redis() {
        assert_eq!(Config::default().get("save"), "3600 1 300 100 60 10000");
        let c = Config::from_args(&args(&["--save", "900", "1", "--save", "60", "10"])).unwrap();
        assert_eq!(c.get("save"), "900 1 60 10");
        let c = Config::from_args(&args(&["--save", "", "--save", "5", "0"])).unwrap();
        assert_eq!(c.get("save"), "5 0");
        let mut c = Config::from_args(&args(&["--save", "5", "1", "--save", ""])).unwrap();
        assert_eq!(c.get("save"), "");
        c.set("save", "100 2 50 3").unwrap();
        c.set("save", "10 1").unwrap();
        assert_eq!(c.get("save"), "10 1");
        for bad in ["1 2 3", "0 1", "1 -1", "a 1", "1 1x"] {
            assert_eq!(
                c.set("save", bad),
                Err(ConfigError::Invalid(
                    "save".into(),
                    "Invalid save parameters".into()
                )),
                "{bad}"
            );
        }
        c.set("shutdown-on-sigterm", "force now SAVE").unwrap();
        assert_eq!(c.get("shutdown-on-sigterm"), "save now force");
        c.set("shutdown-on-sigterm", "default").unwrap();
        assert_eq!(c.get("shutdown-on-sigterm"), "default");
        assert!(c.set("shutdown-on-sigint", "save nosave").is_err());
        assert!(c.set("shutdown-on-sigint", "bogus").is_err());
    }

    #[test]
    fn flags_override_defaults() {
        let c = Config::from_args(&args(&[
            "--port",
            "0",
            "--save",
            "",
            "--bind",
            "127.0.0.1",
            "::1",
        ]))
        .unwrap();
        assert_eq!(c.get("port"), "0");
        assert_eq!(c.get("save"), "");
        assert_eq!(c.get("bind"), "127.0.0.1 ::1");
        assert_eq!(c.get("databases"), "16");
    }

    #[test]
    fn config_file_then_flags() {
        let dir = std::env::temp_dir().join(format!("ringkv-conf-{}", std::process::id()));
        std::fs::write(&dir, "# comment\nport 7000\nmaxclients 5\nsave \"\"\n").unwrap();
        let c = Config::from_args(&args(&[dir.to_str().unwrap(), "--maxclients", "9"])).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(c.get("port"), "7000");
        assert_eq!(c.get("maxclients"), "9");
    }

    #[test]
    fn memory_units_and_errors() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
        let mut c = Config::default();
        c.set("proto-max-bulk-len", "2mb").unwrap();
        assert_eq!(c.int("proto-max-bulk-len"), 2 << 20);
        assert!(matches!(c.set("nosuch", "1"), Err(ConfigError::Unknown(_))));
        assert!(matches!(
            c.set("databases", "1"),
            Err(ConfigError::Immutable(_))
        ));
        assert!(matches!(
            c.set("maxclients", "x"),
            Err(ConfigError::Invalid(..))
        ));
        assert!(Config::from_args(&args(&["--bogus", "1"])).is_err());
    }

    #[test]
    fn glob_get() {
        let c = Config::default();
        let names: Vec<_> = c.matching(b"max*").into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"maxclients"));
        assert!(names.contains(&"maxmemory"));
        assert!(names.iter().all(|n| n.starts_with("max")));
    }
}
