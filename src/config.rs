//! Configuration with Redis's option names: a redis.conf-style file and `--name value` flags at
//! start, CONFIG GET/SET at run time. Depends only on `glob`.

use std::collections::BTreeMap;
use std::fmt;

use crate::glob::glob_match;

/// How an option's value is checked and normalised.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Integer within bounds.
    Int(i64, i64),
    /// Byte size with Redis's units (`1gb`, `512mb`, `100k`), stored in bytes, at least the bound.
    Memory(i64),
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

/// One known option: name, default, check, and whether CONFIG SET may change it.
struct OptionSpec {
    name: &'static str,
    default: &'static str,
    kind: Kind,
    mutable: bool,
}

const fn opt(name: &'static str, default: &'static str, kind: Kind, mutable: bool) -> OptionSpec {
    OptionSpec {
        name,
        default,
        kind,
        mutable,
    }
}

const BIG: i64 = i64::MAX;

/// Options that are two names for one setting (Redis renamed them); setting one sets both.
fn alias_of(name: &str) -> Option<&'static str> {
    match name {
        "lua-time-limit" => Some("busy-reply-threshold"),
        "busy-reply-threshold" => Some("lua-time-limit"),
        _ => None,
    }
}
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];

/// Every option ringkv knows. The first group changes ringkv's behaviour; the rest are Redis
/// tuning knobs that do not apply here but are accepted and reported, since clients and test
/// suites set them.
const OPTIONS: &[OptionSpec] = &[
    opt("port", "6379", Kind::Int(0, 65535), false),
    opt("bind", "127.0.0.1", Kind::Text, false),
    opt("threads", "0", Kind::Int(0, 1024), false),
    opt(
        "io-backend",
        "auto",
        Kind::Enum(&["auto", "uring", "epoll"]),
        false,
    ),
    opt("server_cpulist", "", Kind::Text, false),
    opt("databases", "16", Kind::Int(1, 1 << 20), false),
    opt("maxclients", "10000", Kind::Int(1, 1 << 30), true),
    opt("timeout", "0", Kind::Int(0, i32::MAX as i64), true),
    opt("loglevel", "notice", Kind::Enum(LOGLEVELS), true),
    opt(
        "proto-max-bulk-len",
        "536870912",
        Kind::Memory(1 << 20),
        true,
    ),
    opt(
        "client-query-buffer-limit",
        "1073741824",
        Kind::Memory(1 << 20),
        true,
    ),
    opt("save", "3600 1 300 100 60 10000", Kind::SavePoints, true),
    opt("stop-writes-on-bgsave-error", "yes", Kind::Bool, true),
    opt("shutdown-on-sigint", "default", Kind::ShutdownFlags, true),
    opt("shutdown-on-sigterm", "default", Kind::ShutdownFlags, true),
    // Accepted and reported; no effect in ringkv (yet).
    // The AOF (command::aof).
    opt("appendonly", "no", Kind::Bool, true),
    opt(
        "appendfsync",
        "everysec",
        Kind::Enum(&["always", "everysec", "no"]),
        true,
    ),
    opt("appendfilename", "appendonly.aof", Kind::Text, false),
    opt("appenddirname", "appendonlydir", Kind::Text, false),
    opt("aof-use-rdb-preamble", "yes", Kind::Bool, true),
    opt("aof-load-truncated", "yes", Kind::Bool, true),
    opt("aof-timestamp-enabled", "no", Kind::Bool, true),
    opt("aof-rewrite-incremental-fsync", "yes", Kind::Bool, true),
    opt("no-appendfsync-on-rewrite", "no", Kind::Bool, true),
    opt(
        "auto-aof-rewrite-percentage",
        "100",
        Kind::Int(0, i32::MAX as i64),
        true,
    ),
    opt(
        "auto-aof-rewrite-min-size",
        "67108864",
        Kind::Memory(0),
        true,
    ),
    opt("dir", "./", Kind::Text, true),
    opt("dbfilename", "dump.rdb", Kind::Text, true),
    opt("daemonize", "no", Kind::Bool, false),
    opt("pidfile", "", Kind::Text, false),
    opt("logfile", "", Kind::Text, false),
    opt("protected-mode", "yes", Kind::Bool, true),
    opt("requirepass", "", Kind::Text, true),
    opt("aclfile", "", Kind::Text, false),
    opt("acllog-max-len", "128", Kind::Int(0, BIG), true),
    opt("tcp-backlog", "511", Kind::Int(0, BIG), false),
    opt("tcp-keepalive", "300", Kind::Int(0, BIG), true),
    opt("hz", "10", Kind::Int(0, BIG), true),
    opt("dynamic-hz", "yes", Kind::Bool, true),
    opt("maxmemory", "0", Kind::Memory(0), true),
    opt(
        "maxmemory-policy",
        "noeviction",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        true,
    ),
    opt("maxmemory-samples", "5", Kind::Int(1, BIG), true),
    opt("lazyfree-lazy-eviction", "no", Kind::Bool, true),
    opt("lazyfree-lazy-expire", "no", Kind::Bool, true),
    opt("lazyfree-lazy-server-del", "no", Kind::Bool, true),
    opt("lazyfree-lazy-user-del", "no", Kind::Bool, true),
    opt("lazyfree-lazy-user-flush", "no", Kind::Bool, true),
    opt("activedefrag", "no", Kind::Bool, true),
    opt("activerehashing", "yes", Kind::Bool, true),
    opt("active-expire-effort", "1", Kind::Int(1, 10), true),
    opt("notify-keyspace-events", "", Kind::Text, true),
    opt("slowlog-log-slower-than", "10000", Kind::Int(-1, BIG), true),
    opt("slowlog-max-len", "128", Kind::Int(0, BIG), true),
    opt("latency-monitor-threshold", "0", Kind::Int(0, BIG), true),
    opt("latency-tracking", "yes", Kind::Bool, true),
    opt(
        "tracking-table-max-keys",
        "1000000",
        Kind::Int(0, BIG),
        true,
    ),
    opt("lua-time-limit", "5000", Kind::Int(0, BIG), true),
    opt("busy-reply-threshold", "5000", Kind::Int(0, BIG), true),
    opt("io-threads", "1", Kind::Int(1, 128), false),
    opt(
        "list-max-listpack-size",
        "-2",
        Kind::Int(i32::MIN as i64, BIG),
        true,
    ),
    opt(
        "list-max-ziplist-size",
        "-2",
        Kind::Int(i32::MIN as i64, BIG),
        true,
    ),
    opt("list-compress-depth", "0", Kind::Int(0, BIG), true),
    opt("hash-max-listpack-entries", "128", Kind::Int(0, BIG), true),
    opt("hash-max-listpack-value", "64", Kind::Int(0, BIG), true),
    opt("hash-max-ziplist-entries", "128", Kind::Int(0, BIG), true),
    opt("hash-max-ziplist-value", "64", Kind::Int(0, BIG), true),
    opt("set-max-intset-entries", "512", Kind::Int(0, BIG), true),
    opt("set-max-listpack-entries", "128", Kind::Int(0, BIG), true),
    opt("set-max-listpack-value", "64", Kind::Int(0, BIG), true),
    opt("zset-max-listpack-entries", "128", Kind::Int(0, BIG), true),
    opt("zset-max-listpack-value", "64", Kind::Int(0, BIG), true),
    opt("zset-max-ziplist-entries", "128", Kind::Int(0, BIG), true),
    opt("zset-max-ziplist-value", "64", Kind::Int(0, BIG), true),
    opt("hll-sparse-max-bytes", "3000", Kind::Memory(0), true),
    opt("stream-node-max-bytes", "4096", Kind::Memory(0), true),
    opt("stream-node-max-entries", "100", Kind::Int(0, BIG), true),
    opt(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Kind::OutputLimits,
        true,
    ),
    opt("lfu-log-factor", "10", Kind::Int(0, BIG), true),
    opt("lfu-decay-time", "1", Kind::Int(0, BIG), true),
    opt("replica-read-only", "yes", Kind::Bool, true),
    opt("min-replicas-to-write", "0", Kind::Int(0, BIG), true),
    opt("cluster-enabled", "no", Kind::Bool, false),
    opt("rdbcompression", "yes", Kind::Bool, true),
    opt("rdbchecksum", "yes", Kind::Bool, true),
    opt(
        "enable-debug-command",
        "no",
        Kind::Enum(&["no", "yes", "local"]),
        false,
    ),
    opt("set-proc-title", "yes", Kind::Bool, false),
    opt("always-show-logo", "no", Kind::Bool, false),
    opt("supervised", "no", Kind::Text, false),
    opt("unixsocket", "", Kind::Text, false),
    opt("jemalloc-bg-thread", "yes", Kind::Bool, true),
    opt("maxmemory-clients", "0", Kind::Memory(0), true),
];

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
        }
    }
}

fn spec(name: &str) -> Option<&'static OptionSpec> {
    let name = name.to_ascii_lowercase();
    OPTIONS.iter().find(|o| o.name == name)
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
        Kind::Memory(lo) => {
            let n =
                parse_memory(value).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n < lo {
                return Err(format!(
                    "argument must be between {lo} and {} inclusive",
                    BIG
                ));
            }
            Ok(n.to_string())
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
                    .map_err(|e| format!("can't read config file '{first}': {e}"))?;
                config.load_text(&text)?;
                rest = &rest[1..];
            }
        }
        let mut i = 0;
        while i < rest.len() {
            let Some(name) = rest[i].strip_prefix("--") else {
                return Err(format!("expected an option like --port, got '{}'", rest[i]));
            };
            i += 1;
            let start = i;
            while i < rest.len() && !rest[i].starts_with("--") {
                i += 1;
            }
            let value = rest[start..i].join(" ");
            config
                .set_startup(name, &value)
                .map_err(|e| e.to_string())?;
        }
        Ok(config)
    }

    /// Applies a redis.conf-style text: `name value...` lines, `#` comments, quoted values.
    pub fn load_text(&mut self, text: &str) -> Result<(), String> {
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = unquote(value.trim());
            self.set_startup(name, &value)
                .map_err(|e| format!("config file line {}: {e}", number + 1))?;
        }
        Ok(())
    }

    fn set_startup(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
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
        if let Some(twin) = alias_of(spec.name) {
            self.values.insert(twin, value.clone());
        }
        self.values.insert(spec.name, value);
        Ok(())
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
        if let Some(twin) = alias_of(spec.name) {
            self.values.insert(twin, value.clone());
        }
        self.values.insert(spec.name, value);
        Ok(())
    }

    /// The value to store for `spec`; limits merge into the current ones.
    fn normalise(&self, spec: &OptionSpec, value: &str) -> Result<String, String> {
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

    /// CONFIG GET: every option whose name matches the glob `pattern` (case-insensitive).
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, &str)> {
        self.values
            .iter()
            .filter(|(name, _)| glob_match(pattern, name.as_bytes(), true))
            .map(|(name, value)| (*name, value.as_str()))
            .collect()
    }

    /// The current text of `name`.
    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
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

/// Removes one level of double or single quotes around a config file value.
fn unquote(value: &str) -> String {
    let bytes = value.as_bytes();
    if bytes.len() >= 2
        && ((bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"')
            || (bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\''))
    {
        value[1..value.len() - 1].to_string()
    } else {
        value.to_string()
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
        assert!(matches!(c.set("port", "1"), Err(ConfigError::Immutable(_))));
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
