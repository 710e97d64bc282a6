//! Server commands: INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, LASTSAVE, SHUTDOWN.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::args::ok;
use super::connection::{sub_arity_error, unknown_subcommand, REDIS_VERSION};
use super::keys::help_reply;
use super::table::{cats, container, flags, row, CommandSpec, NOKEY};
use super::Kind;
use super::{err, error, shown, Args, CmdResult, Session};
use crate::config::ConfigError;
use crate::protocol::Reply;
use crate::shard::ShardStats;
use crate::state::ThreadStats;

/// The server commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "info",
        -1,
        flags!(LOADING | STALE),
        NOKEY,
        Kind::Routed(info),
        "server",
        "1.0.0",
        "Returns information and statistics about the server.",
        "[section [section ...]]",
    )
    .with_acl(cats!(DANGEROUS)),
    container(
        "config",
        "server",
        "2.0.0",
        "A container for server configuration commands",
        CONFIG_SUBCOMMANDS,
    ),
    row(
        "dbsize",
        1,
        flags!(READONLY | FAST),
        NOKEY,
        Kind::Routed(dbsize),
        "server",
        "1.0.0",
        "Returns the number of keys in the database.",
        "",
    )
    .with_acl(cats!(KEYSPACE)),
    row(
        "flushdb",
        -1,
        flags!(WRITE),
        NOKEY,
        Kind::Routed(flushdb),
        "server",
        "1.0.0",
        "Removes all keys from the current database.",
        "[ASYNC|SYNC]",
    )
    .with_acl(cats!(KEYSPACE | DANGEROUS)),
    row(
        "flushall",
        -1,
        flags!(WRITE),
        NOKEY,
        Kind::Routed(flushall),
        "server",
        "1.0.0",
        "Removes all keys from all databases.",
        "[ASYNC|SYNC]",
    )
    .with_acl(cats!(KEYSPACE | DANGEROUS)),
    row(
        "swapdb",
        3,
        flags!(WRITE | FAST),
        NOKEY,
        Kind::Routed(swapdb),
        "server",
        "4.0.0",
        "Swaps two Redis databases.",
        "index1 index2",
    )
    .with_acl(cats!(KEYSPACE | DANGEROUS)),
    row(
        "time",
        1,
        flags!(LOADING | STALE | FAST),
        NOKEY,
        Kind::Local(time),
        "server",
        "2.6.0",
        "Returns the server time.",
        "",
    ),
    row(
        "lastsave",
        1,
        flags!(LOADING | STALE | FAST),
        NOKEY,
        Kind::Local(lastsave),
        "server",
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.",
        "",
    )
    .with_acl(cats!(ADMIN | DANGEROUS)),
    row(
        "shutdown",
        -1,
        flags!(ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY),
        NOKEY,
        Kind::Routed(shutdown),
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
    ),
    container(
        "function",
        "scripting",
        "7.0.0",
        "A container for function commands",
        FUNCTION_SUBCOMMANDS,
    ),
    row(
        "command",
        -1,
        flags!(LOADING | STALE),
        NOKEY,
        Kind::Local(super::introspection::command),
        "server",
        "2.8.13",
        "Returns detailed information about all commands.",
        "[subcommand [argument ...]]",
    )
    .with_acl(cats!(CONNECTION))
    .with_subcommands(COMMAND_SUBCOMMANDS),
];

#[rustfmt::skip]
static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    row("command|count", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command), "server", "2.8.13", "Get total number of Redis commands", "").with_acl(cats!(CONNECTION)),
    row("command|docs", -2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command), "server", "7.0.0", "Get array of specific Redis command documentation", "").with_acl(cats!(CONNECTION)),
    row("command|getkeys", -4, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command), "server", "2.8.13", "Extract keys given a full Redis command", "").with_acl(cats!(CONNECTION)),
    row("command|getkeysandflags", -4, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command), "server", "7.0.0", "Extract keys and access flags given a full Redis command", "").with_acl(cats!(CONNECTION)),
    row("command|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command), "server", "5.0.0", "Show helpful text about the different subcommands", "").with_acl(cats!(CONNECTION)),
    row("command|info", -2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command), "server", "2.8.13", "Get array of specific Redis command details, or all when no argument is given.", "").with_acl(cats!(CONNECTION)),
    row("command|list", -2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command), "server", "7.0.0", "Get an array of Redis command names", "").with_acl(cats!(CONNECTION)),
];

#[rustfmt::skip]
static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    row("function|delete", 3, flags!(WRITE | NOSCRIPT), NOKEY, Kind::Local(function), "scripting", "7.0.0", "Delete a function by name", "").with_acl(cats!(SCRIPTING)),
    row("function|dump", 2, flags!(NOSCRIPT), NOKEY, Kind::Local(function), "scripting", "7.0.0", "Dump all functions into a serialized binary payload", "").with_acl(cats!(SCRIPTING)),
    row("function|flush", -2, flags!(WRITE | NOSCRIPT), NOKEY, Kind::Local(function), "scripting", "7.0.0", "Deleting all functions", "").with_acl(cats!(SCRIPTING)),
    row("function|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(function), "scripting", "7.0.0", "Show helpful text about the different subcommands", "").with_acl(cats!(SCRIPTING)),
    row("function|kill", 2, flags!(NOSCRIPT | ALLOW_BUSY), NOKEY, Kind::Local(function), "scripting", "7.0.0", "Kill the function currently in execution.", "").with_acl(cats!(SCRIPTING)),
    row("function|list", -2, flags!(NOSCRIPT), NOKEY, Kind::Local(function), "scripting", "7.0.0", "List information about all the functions", "").with_acl(cats!(SCRIPTING)),
    row("function|load", -3, flags!(WRITE | DENYOOM | NOSCRIPT), NOKEY, Kind::Local(function), "scripting", "7.0.0", "Create a function with the given arguments (name, code, description)", "").with_acl(cats!(SCRIPTING)),
    row("function|restore", -3, flags!(WRITE | DENYOOM | NOSCRIPT), NOKEY, Kind::Local(function), "scripting", "7.0.0", "Restore all the functions on the given payload", "").with_acl(cats!(SCRIPTING)),
    row("function|stats", 2, flags!(NOSCRIPT | ALLOW_BUSY), NOKEY, Kind::Local(function), "scripting", "7.0.0", "Return information about the function currently running (name, description, duration)", "").with_acl(cats!(SCRIPTING)),
];

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    row("config|get", -3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Routed(config), "server", "2.0.0", "Get the values of configuration parameters", ""),
    row("config|set", -4, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Routed(config), "server", "2.0.0", "Set configuration parameters to the given values", ""),
    row("config|resetstat", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Routed(config), "server", "2.0.0", "Reset the stats returned by INFO", ""),
    row("config|rewrite", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Routed(config), "server", "2.8.0", "Rewrite the configuration file with the in memory configuration", ""),
    row("config|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Routed(config), "server", "5.0.0", "Show helpful text about the different subcommands", ""),
];

type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

pub fn dbsize(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        let db = session.db;
        let sizes = session.router.run_all(move |s| s.db_at(db).len()).await;
        Ok(Reply::Int(sizes.iter().sum::<usize>() as i64))
    })
}

fn flush_mode(args: &mut Args) -> Result<(), Reply> {
    if !args.is_done() && !args.keyword("ASYNC") && !args.keyword("SYNC") {
        return Err(error(err::SYNTAX));
    }
    args.end()
}

pub fn flushdb(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        flush_mode(&mut args)?;
        let db = session.db;
        session.router.run_all(move |s| s.flush_db(db)).await;
        ok()
    })
}

pub fn flushall(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        flush_mode(&mut args)?;
        session
            .router
            .run_all(|s| (0..s.databases()).for_each(|db| s.flush_db(db)))
            .await;
        ok()
    })
}

pub fn swapdb(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let a = args.int32().map_err(|_| error(err::BAD_FIRST_DB))?;
        let b = args.int32().map_err(|_| error(err::BAD_SECOND_DB))?;
        let databases = session.server.config().int("databases");
        if a < 0 || a >= databases || b < 0 || b >= databases {
            return Err(error(err::DB_RANGE));
        }
        let all: Vec<usize> = (0..session.router.shards()).collect();
        let holding = session.router.hold(&all).await;
        for shard in all {
            holding
                .run(shard, move |s| {
                    s.swap_dbs(a as usize, b as usize);
                    s.signal_db_ready(a as usize);
                    s.signal_db_ready(b as usize);
                    s.serve_blocked();
                })
                .await;
        }
        ok()
    })
}

pub fn time(_session: &mut Session, _args: &mut Args) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(now.as_secs().to_string())),
        Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
    ]))
}

pub fn lastsave(session: &mut Session, _args: &mut Args) -> CmdResult {
    let _ = session;
    Ok(Reply::Int(super::persist::status().last_save as i64))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: saves first with SAVE, or when save points
/// are configured and NOSAVE is not given; a failed save keeps the server up unless FORCE.
pub fn shutdown(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let (mut save, mut nosave, mut force) = (false, false, false);
        while !args.is_done() {
            if args.keyword("ABORT") {
                return Err(error(err::NO_SHUTDOWN));
            } else if args.keyword("NOSAVE") {
                nosave = true;
            } else if args.keyword("SAVE") {
                save = true;
            } else if args.keyword("FORCE") {
                force = true;
            } else if !args.keyword("NOW") {
                return Err(error(err::SYNTAX));
            }
        }
        if save && nosave {
            return Err(error(err::SYNTAX));
        }
        tracing::warn!("User requested shutdown...");
        let save_points = !session.server.config().get("save").trim().is_empty();
        if (save || (save_points && !nosave)) && !super::persist::save_for_shutdown(session).await {
            tracing::warn!("Error trying to save the DB, can't exit.");
            if !force {
                return Err(error(err::SHUTDOWN_FAILED));
            }
        }
        tracing::warn!("ringkv is now ready to exit, bye bye...");
        std::process::exit(0);
    })
}

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

pub fn config(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        let sub = args.next()?;
        let n = args.remaining();
        match sub.to_ascii_lowercase().as_slice() {
            b"help" => Ok(help_reply(CONFIG_HELP)),
            b"get" if n >= 1 => {
                let config = session.server.config();
                let mut pairs: Vec<(&'static str, String)> = Vec::new();
                for pattern in args.rest() {
                    for (name, value) in config.matching(pattern) {
                        if !pairs.iter().any(|(n, _)| *n == name) {
                            pairs.push((name, value.to_string()));
                        }
                    }
                }
                Ok(Reply::Map(
                    pairs
                        .into_iter()
                        .map(|(n, v)| {
                            (
                                Reply::Bulk(Bytes::from_static(n.as_bytes())),
                                Reply::Bulk(Bytes::from(v)),
                            )
                        })
                        .collect(),
                ))
            }
            b"set" if n >= 2 && n.is_multiple_of(2) => {
                let reply = config_set(session, &mut args)?;
                // A lower maxmemory (or a policy that may now evict) takes effect at once.
                session.router.run_all(|s| s.enforce_maxmemory()).await;
                Ok(reply)
            }
            b"resetstat" if n == 0 => {
                session.server.reset_stats();
                session.router.run_all(|s| s.reset_stats()).await;
                ok()
            }
            b"rewrite" if n == 0 => Err(error(err::NO_CONFIG_FILE)),
            b"get" | b"set" | b"resetstat" | b"rewrite" => Err(sub_arity_error("config", &sub)),
            _ => Err(unknown_subcommand("config", &sub)),
        }
    })
}

fn config_set(session: &mut Session, args: &mut Args) -> CmdResult {
    let pairs: Vec<(String, String)> = args
        .rest()
        .chunks(2)
        .map(|p| (shown(&p[0]), shown(&p[1])))
        .collect();
    let failed = |name: &str, why: &str| {
        Reply::error_owned(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
        ))
    };
    let mut config = session.server.config_mut();
    let mut staged = config.clone();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(failed(name, "duplicate parameter"));
        }
        match staged.set(name, value) {
            Ok(()) => {}
            Err(ConfigError::Unknown(_)) => {
                return Err(Reply::error_owned(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                )))
            }
            Err(ConfigError::Immutable(_)) => {
                return Err(failed(name, "can't set immutable config"))
            }
            Err(ConfigError::Invalid(_, why)) => return Err(failed(name, &why)),
        }
    }
    for (name, value) in &pairs {
        if name.eq_ignore_ascii_case("notify-keyspace-events")
            && crate::pubsub::notify::parse(value).is_none()
        {
            return Err(failed(
                name,
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
            ));
        }
        if name.eq_ignore_ascii_case("maxclients") {
            if let Some(fit) = clients_the_system_allows(session, &config, &staged) {
                return Err(failed(
                    name,
                    &format!("The operating system is not able to handle the specified number of clients, try with {fit}"),
                ));
            }
        }
    }
    // Redis's text for the classes can hide `n` (behind `A`): the flags are kept as parsed.
    let notify_flags = crate::pubsub::notify::parse(staged.get("notify-keyspace-events"));
    if let Some(flags) = notify_flags {
        let _ = staged.set(
            "notify-keyspace-events",
            &crate::pubsub::notify::render(flags),
        );
    }
    *config = staged;
    if pairs
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("requirepass"))
    {
        crate::acl::set_default_password(config.get("requirepass").as_bytes());
    }
    pairs
        .iter()
        .for_each(|(name, _)| super::zset::config_set(name, &config));
    if let Some(flags) = notify_flags {
        crate::pubsub::notify::set(flags);
    }
    super::apply_config(&config);
    ok()
}

/// A raised maxclients raises the descriptor limit too (Redis's updateMaxclients); when the
/// system refuses, the number of clients it allows.
fn clients_the_system_allows(
    session: &Session,
    old: &crate::config::Config,
    new: &crate::config::Config,
) -> Option<u64> {
    let wanted = new.int("maxclients") as u64;
    if wanted <= old.int("maxclients") as u64 {
        return None;
    }
    let reserved = crate::state::reserved_fds(session.server.threads);
    let limit = crate::state::raise_open_files_limit(wanted + reserved);
    (limit.now < wanted + reserved).then(|| limit.now.saturating_sub(reserved))
}

/// Sections INFO prints with no argument or "default".
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

pub fn info(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let asked: Vec<String> = args.all()[1..]
            .iter()
            .map(|a| shown(a).to_ascii_lowercase())
            .collect();
        let mut sections: Vec<&str> = Vec::new();
        let mut add = |s: &'static str| {
            if !sections.contains(&s) {
                sections.push(s);
            }
        };
        if asked.is_empty() {
            DEFAULT_SECTIONS.iter().for_each(|s| add(s));
        }
        for a in &asked {
            match a.as_str() {
                "default" => DEFAULT_SECTIONS.iter().for_each(|s| add(s)),
                "all" | "everything" => {
                    DEFAULT_SECTIONS.iter().for_each(|s| add(s));
                    add("commandstats");
                    add("latencystats");
                }
                other => {
                    if let Some(s) = DEFAULT_SECTIONS
                        .iter()
                        .chain(&["commandstats", "latencystats"])
                        .find(|s| **s == other)
                    {
                        add(s)
                    }
                }
            }
        }
        let shards = session
            .router
            .run_all(|s| {
                let sizes: Vec<(usize, usize)> = (0..s.databases())
                    .map(|db| (s.db_at(db).len(), s.db_at(db).volatile()))
                    .collect();
                (s.stats(), sizes)
            })
            .await;
        let mut text = String::new();
        for section in sections {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            render_section(session, section, &shards, &mut text);
        }
        Ok(Reply::Verbatim("txt", Bytes::from(text)))
    })
}

type ShardInfo = (ShardStats, Vec<(usize, usize)>);

fn human(bytes: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// (user, system) CPU seconds of the whole process.
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

fn render_section(session: &Session, section: &str, shards: &[ShardInfo], out: &mut String) {
    let server = &session.server;
    let stats: ShardStats = shards
        .iter()
        .fold(ShardStats::default(), |a, (s, _)| ShardStats {
            keyspace_hits: a.keyspace_hits + s.keyspace_hits,
            keyspace_misses: a.keyspace_misses + s.keyspace_misses,
            expired_keys: a.expired_keys + s.expired_keys,
            evicted_keys: a.evicted_keys + s.evicted_keys,
            used_memory: a.used_memory + s.used_memory,
        });
    let title = match section {
        "cpu" => "CPU".to_string(),
        "commandstats" => "Commandstats".to_string(),
        "errorstats" => "Errorstats".to_string(),
        "latencystats" => "Latencystats".to_string(),
        s => format!("{}{}", s[..1].to_ascii_uppercase(), &s[1..]),
    };
    let _ = write!(out, "# {title}\r\n");
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    let uptime = server.started.elapsed().as_secs();
    match section {
        "server" => {
            line("redis_version", &REDIS_VERSION);
            line("redis_git_sha1", &"00000000");
            line("redis_git_dirty", &0);
            line("redis_mode", &"standalone");
            line("ringkv_version", &env!("CARGO_PKG_VERSION"));
            line("os", &std::env::consts::OS);
            line("arch_bits", &64);
            line("multiplexing_api", &server.io_backend);
            line("process_id", &std::process::id());
            line("run_id", &server.run_id);
            line("tcp_port", &server.port);
            line("server_time_usec", &(crate::shard::unix_ms() * 1000));
            line("uptime_in_seconds", &uptime);
            line("uptime_in_days", &(uptime / 86400));
            line("hz", &10);
            line("configured_hz", &10);
            line("threads", &server.threads);
            line("io_threads_active", &0);
        }
        "clients" => {
            line("connected_clients", &server.connected.load(Relaxed));
            line("cluster_connections", &0);
            line("maxclients", &server.config().int("maxclients"));
            let blocked = crate::shard::blocking::blocked_clients() as u64;
            line("blocked_clients", &blocked);
            line("tracking_clients", &0);
            line("clients_in_timeout_table", &0);
        }
        "memory" => {
            let rss = rss_bytes();
            line("used_memory", &stats.used_memory);
            line("used_memory_human", &human(stats.used_memory));
            line("used_memory_rss", &rss);
            line("used_memory_rss_human", &human(rss));
            line("maxmemory", &server.config().int("maxmemory"));
            line(
                "maxmemory_policy",
                &server.config().get("maxmemory-policy").to_string(),
            );
            line("mem_allocator", &allocator_name());
        }
        "persistence" => {
            line("loading", &0);
            line("async_loading", &0);
            let saved = super::persist::status();
            line("rdb_changes_since_last_save", &0);
            line("rdb_bgsave_in_progress", &(saved.bgsave_running as u8));
            line("rdb_last_save_time", &saved.last_save);
            line(
                "rdb_last_bgsave_status",
                &if saved.last_bgsave_ok { "ok" } else { "err" },
            );
            line("rdb_saves", &saved.saves);
            line("aof_enabled", &0);
            line("aof_rewrite_in_progress", &0);
        }
        "stats" => {
            line(
                "total_connections_received",
                &server.total(|s| &s.connections),
            );
            line("total_commands_processed", &server.total(|s| &s.commands));
            line(
                "total_net_input_bytes",
                &server.total(|s| &s.net_input_bytes),
            );
            line(
                "total_net_output_bytes",
                &server.total(|s| &s.net_output_bytes),
            );
            line(
                "rejected_connections",
                &server.total(|s| &s.rejected_connections),
            );
            line("expired_keys", &stats.expired_keys);
            line("evicted_keys", &stats.evicted_keys);
            line("keyspace_hits", &stats.keyspace_hits);
            line("keyspace_misses", &stats.keyspace_misses);
            let registry = crate::pubsub::Registry::get();
            let count = |kind| registry.map_or(0, |r| r.len(kind));
            line("pubsub_channels", &count(crate::pubsub::Kind::Channel));
            line("pubsub_patterns", &count(crate::pubsub::Kind::Pattern));
            line("pubsub_shardchannels", &count(crate::pubsub::Kind::Shard));
            line(
                "client_output_buffer_limit_disconnections",
                &crate::state::OUTPUT_LIMIT_DISCONNECTIONS.load(Relaxed),
            );
            line("total_error_replies", &server.total(|s| &s.errors));
        }
        "replication" => {
            line("role", &"master");
            line("connected_slaves", &0);
            line("master_failover_state", &"no-failover");
            line("master_repl_offset", &0);
        }
        "cpu" => {
            let (user, sys) = cpu_times();
            line("used_cpu_sys", &format!("{sys:.6}"));
            line("used_cpu_user", &format!("{user:.6}"));
            line("used_cpu_sys_children", &"0.000000");
            line("used_cpu_user_children", &"0.000000");
        }
        "cluster" => line("cluster_enabled", &0),
        "errorstats" => {
            let mut codes: Vec<(String, u64)> = Vec::new();
            for thread in server.stats.iter() {
                let counted = thread.error_codes.lock().unwrap_or_else(|e| e.into_inner());
                for (code, n) in counted.iter() {
                    match codes.iter_mut().find(|(c, _)| c == code) {
                        Some((_, total)) => *total += n,
                        None => codes.push((code.clone(), *n)),
                    }
                }
            }
            codes.sort();
            for (code, n) in codes {
                line(&format!("errorstat_{code}"), &format!("count={n}"));
            }
        }
        "keyspace" => {
            let dbs = shards.first().map_or(0, |(_, sizes)| sizes.len());
            for db in 0..dbs {
                let (keys, expires) = shards.iter().fold((0, 0), |(k, e), (_, sizes)| {
                    (k + sizes[db].0, e + sizes[db].1)
                });
                if keys > 0 {
                    line(
                        &format!("db{db}"),
                        &format!("keys={keys},expires={expires},avg_ttl=0"),
                    );
                }
            }
        }
        "commandstats" => {
            for (row, spec) in super::table::COMMANDS.iter().copied().enumerate() {
                let sum = |pick: fn(&ThreadStats) -> &Vec<std::sync::atomic::AtomicU64>| {
                    server
                        .stats
                        .iter()
                        .map(|t| pick(t)[row].load(Relaxed))
                        .sum::<u64>()
                };
                let calls = sum(|t| &t.calls);
                let rejected = sum(|t| &t.rejected_calls);
                let failed = sum(|t| &t.failed_calls);
                if calls + rejected > 0 {
                    line(
                        &format!("cmdstat_{}", spec.name),
                        &format!("calls={calls},usec=0,usec_per_call=0.00,rejected_calls={rejected},failed_calls={failed}"),
                    );
                }
            }
        }
        _ => {}
    }
}

/// Redis's FUNCTION HELP text.
const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// INFO's `mem_allocator`: the allocator src/main.rs installs, mimalloc, with the version the
/// linked library reports (`mimalloc-3.3.2`, as Redis says `jemalloc-5.3.0`).
fn allocator_name() -> String {
    // Links mimalloc into every build of the library (tests, benches), not only the binary.
    extern crate mimalloc as _;
    extern "C" {
        /// mimalloc's `MI_MALLOC_VERSION`: major * 10000 + minor * 100 + patch.
        fn mi_version() -> std::ffi::c_int;
    }
    // SAFETY: mi_version takes no arguments, touches no memory of ours and returns a
    // constant; the mimalloc crate links the library that defines it.
    let v = unsafe { mi_version() };
    format!("mimalloc-{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

/// FUNCTION: the FUNCTION family is not implemented yet (EVAL and EVALSHA are), so there are
/// never functions: FLUSH and LIST are truthful no-ops (test harnesses and clients call them),
/// STATS shows no running script and no engine; the rest say they are not implemented.
pub fn function(_session: &mut Session, args: &mut Args) -> CmdResult {
    let sub = args.next()?;
    match sub.to_ascii_lowercase().as_slice() {
        b"help" => Ok(help_reply(FUNCTION_HELP)),
        b"flush" => {
            if !args.is_done() && !args.keyword("ASYNC") && !args.keyword("SYNC") {
                return Err(error(err::SYNTAX));
            }
            args.end()?;
            ok()
        }
        b"list" => Ok(Reply::Array(Vec::new())),
        b"stats" => Ok(Reply::Map(vec![
            (
                Reply::Bulk(Bytes::from_static(b"running_script")),
                Reply::Nil,
            ),
            (
                Reply::Bulk(Bytes::from_static(b"engines")),
                Reply::Map(Vec::new()),
            ),
        ])),
        b"load" | b"delete" | b"dump" | b"restore" | b"kill" => Err(Reply::error_owned(format!(
            "ERR FUNCTION {} is not implemented yet (EVAL and EVALSHA are)",
            String::from_utf8_lossy(&sub).to_ascii_uppercase()
        ))),
        _ => Err(unknown_subcommand("function", &sub)),
    }
}
