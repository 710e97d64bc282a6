//! Server commands: INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, LASTSAVE, SHUTDOWN.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::args::ok;
use super::keys::help_reply;
use super::table::{cats, container, flags, row, CommandSpec, NOKEY};
use super::Kind;
use super::{err, error, shown, Args, CmdResult, Session};
use crate::config::ConfigError;
use crate::protocol::Reply;
use crate::shard::Shard;

/// The server commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "info",
        -1,
        flags!(LOADING | STALE),
        NOKEY,
        Kind::Routed(super::info::info),
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
    row("command|count", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command_count), "server", "2.8.13", "Get total number of Redis commands", "").with_acl(cats!(CONNECTION)),
    row("command|docs", -2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command_docs), "server", "7.0.0", "Get array of specific Redis command documentation", "").with_acl(cats!(CONNECTION)),
    row("command|getkeys", -4, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command_getkeys), "server", "2.8.13", "Extract keys given a full Redis command", "").with_acl(cats!(CONNECTION)),
    row("command|getkeysandflags", -4, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command_getkeysandflags), "server", "7.0.0", "Extract keys and access flags given a full Redis command", "").with_acl(cats!(CONNECTION)),
    row("command|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command_help), "server", "5.0.0", "Show helpful text about the different subcommands", "").with_acl(cats!(CONNECTION)),
    row("command|info", -2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command_info), "server", "2.8.13", "Get array of specific Redis command details, or all when no argument is given.", "").with_acl(cats!(CONNECTION)),
    row("command|list", -2, flags!(LOADING | STALE), NOKEY, Kind::Local(super::introspection::command_list), "server", "7.0.0", "Get an array of Redis command names", "").with_acl(cats!(CONNECTION)),
];

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    row("config|get", -3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(config_get), "server", "2.0.0", "Get the values of configuration parameters", ""),
    row("config|set", -4, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Routed(config_set_all), "server", "2.0.0", "Set configuration parameters to the given values", ""),
    row("config|resetstat", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Routed(config_resetstat), "server", "2.0.0", "Reset the stats returned by INFO", ""),
    row("config|rewrite", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(config_rewrite), "server", "2.8.0", "Rewrite the configuration file with the in memory configuration", ""),
    row("config|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(config_help), "server", "5.0.0", "Show helpful text about the different subcommands", ""),
];

pub(super) type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

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
        if crate::shard::journal::active() {
            let flush = move |s: &mut Shard| s.flush_db(db);
            let args: [&[u8]; 1] = [b"FLUSHDB"];
            let reply = flush_journaled(session, flush, Some(db), &args).await;
            crate::tracking::flushed(session.thread);
            return reply;
        }
        session.router.run_all(move |s| s.flush_db(db)).await;
        crate::tracking::flushed(session.thread);
        ok()
    })
}

pub fn flushall(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        flush_mode(&mut args)?;
        // As Redis kills the child of a BGSAVE under way: its file would hold the old data.
        super::saving::abort_background_save();
        let flush = |s: &mut Shard| (0..s.databases()).for_each(|db| s.flush_db(db));
        if crate::shard::journal::active() {
            // In the caller's database, as Redis propagates it (a SELECT only when it differs).
            let args: [&[u8]; 1] = [b"FLUSHALL"];
            flush_journaled(session, flush, Some(session.db), &args).await?;
        } else {
            session.router.run_all(flush).await;
        }
        crate::tracking::flushed(session.thread);
        // As Redis: with save points set, the dump is replaced by the empty keyspace at once, so
        // a restart cannot bring the keys back (a failure is logged; FLUSHALL still succeeds).
        let path = {
            let config = session.server.config();
            (!config.get("save").is_empty()).then(|| super::saving::dump_path(&config))
        };
        if let Some(path) = path {
            let _ = super::saving::save(&session.router, path, super::saving::Held::Flush).await;
        }
        ok()
    })
}

/// FLUSHDB/FLUSHALL while the change stream has a consumer: every shard held, so the one
/// journaled command falls after every shard's earlier writes and before its later ones.
async fn flush_journaled(
    session: &Session,
    flush: impl Fn(&mut Shard) + Clone + Send + 'static,
    db: Option<usize>,
    command: &[&[u8]],
) -> CmdResult {
    let all: Vec<usize> = (0..session.router.shards()).collect();
    let holding = session.router.hold(&all).await;
    for &shard in &all {
        holding.run(shard, flush.clone()).await;
    }
    crate::shard::journal::push_held(&all, db, command);
    drop(holding);
    ok()
}

pub fn swapdb(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        // A cluster node has database 0 only.
        if crate::cluster::enabled() {
            return Err(error(err::SWAPDB_IN_CLUSTER));
        }
        let a = args.int32().map_err(|_| error(err::BAD_FIRST_DB))?;
        let b = args.int32().map_err(|_| error(err::BAD_SECOND_DB))?;
        let databases = session.server.config().int("databases");
        if a < 0 || a >= databases || b < 0 || b >= databases {
            return Err(error(err::DB_RANGE));
        }
        let all: Vec<usize> = (0..session.router.shards()).collect();
        let holding = session.router.hold(&all).await;
        for &shard in &all {
            holding
                .run(shard, move |s| {
                    s.swap_dbs(a as usize, b as usize);
                    s.signal_db_ready(a as usize);
                    s.signal_db_ready(b as usize);
                    s.serve_blocked();
                })
                .await;
        }
        let (a, b) = (a.to_string(), b.to_string());
        let command: [&[u8]; 3] = [b"SWAPDB", a.as_bytes(), b.as_bytes()];
        crate::shard::journal::push_held(&all, Some(session.db), &command);
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
    Ok(Reply::Int(super::saving::status().last_save as i64))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: saves first with SAVE, or when save points
/// are configured and NOSAVE is not given; a failed save keeps the server up unless FORCE.
/// NOW only skips waiting for replicas, which ringkv does not have.
pub fn shutdown(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let mut flags = crate::config::ShutdownFlags::default();
        let mut abort = false;
        while !args.is_done() {
            if args.keyword("ABORT") {
                abort = true;
            } else if args.keyword("NOSAVE") {
                flags.nosave = true;
            } else if args.keyword("SAVE") {
                flags.save = true;
            } else if args.keyword("FORCE") {
                flags.force = true;
            } else if args.keyword("NOW") {
                flags.now = true;
            } else {
                return Err(error(err::SYNTAX));
            }
        }
        if (abort && flags != crate::config::ShutdownFlags::default())
            || (flags.save && flags.nosave)
        {
            return Err(error(err::SYNTAX));
        }
        if abort {
            return Err(error(err::NO_SHUTDOWN));
        }
        if !super::saving::shutdown(&session.router, &session.server.config, flags).await {
            return Err(error(err::SHUTDOWN_FAILED));
        }
        crate::service::at_exit();
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

fn config_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(CONFIG_HELP))
}

/// CONFIG GET pattern...: each matching option once, in the order first matched.
fn config_get(session: &mut Session, args: &mut Args) -> CmdResult {
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

/// CONFIG SET name value [name value ...]: all or nothing, then applied to the shards.
fn config_set_all(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        if !args.remaining().is_multiple_of(2) {
            return Err(error(err::SYNTAX));
        }
        if args
            .all()
            .iter()
            .skip(2)
            .step_by(2)
            .any(|name| super::replication::replica::denied_while_loading(name))
        {
            return Err(error(err::LOADING));
        }
        let reply = config_set(session, &mut args)?;
        // A lower maxmemory (or a policy that may now evict) takes effect at once.
        super::evict_on_fresh_weight(session).await;
        Ok(reply)
    })
}

fn config_resetstat(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        session.server.reset_stats();
        super::replication::master::reset_stats();
        super::replication::replica_apply::reset_unexpected_errors();
        session.router.run_all(|s| s.reset_stats()).await;
        ok()
    })
}

/// CONFIG REWRITE: the start-up file rewritten with the running values, as Redis does.
fn config_rewrite(session: &mut Session, _args: &mut Args) -> CmdResult {
    if session.server.config().file.is_none() {
        return Err(error(err::NO_CONFIG_FILE));
    }
    rewrite_config(session, false).map_err(|why| err::config_rewrite_failed(&why))
}

/// Rewrites the configuration file; `force_all` writes every option, defaults too (DEBUG
/// CONFIG-REWRITE-FORCE-ALL). Err: why, as Redis words it.
pub(super) fn rewrite_config(session: &Session, force_all: bool) -> Result<Reply, String> {
    let config = session.server.config();
    let users: Vec<String> = crate::command::access::users()
        .iter()
        .map(|u| format!("user {} {}", u.name, u.describe()))
        .collect();
    match config.rewrite(&users, force_all) {
        Ok(()) => {
            tracing::info!("CONFIG REWRITE executed with success.");
            Ok(Reply::Simple("OK"))
        }
        Err(why) => {
            tracing::warn!("CONFIG REWRITE failed: {why}");
            Err(why)
        }
    }
}

/// Options CONFIG SET changes only as `enable-protected-configs` allows (default: never).
const PROTECTED: [&str; 2] = ["dir", "dbfilename"];

fn config_set(session: &mut Session, args: &mut Args) -> CmdResult {
    let pairs: Vec<(String, String)> = args
        .rest()
        .chunks(2)
        .map(|p| (shown(&p[0]), shown(&p[1])))
        .collect();
    let failed = |name: &str, why: &str| err::config_set_failed(name, why);
    let protected_ok = session.allowed_by("enable-protected-configs");
    let mut config = session.server.config_mut();
    let mut staged = config.clone();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(failed(name, "duplicate parameter"));
        }
        // Redis 7.0's protected configs: where the server writes its files.
        if !protected_ok && PROTECTED.iter().any(|p| p.eq_ignore_ascii_case(name)) {
            return Err(failed(name, err::CONFIG_PROTECTED));
        }
        match staged.set(name, value) {
            Ok(()) => {}
            Err(ConfigError::Unknown(_)) => return Err(err::config_set_unknown(name)),
            Err(ConfigError::Immutable(_)) => return Err(failed(name, err::CONFIG_IMMUTABLE)),
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
    move_listeners(session, &pairs, &staged)?;
    *config = staged;
    for (name, _) in &pairs {
        if let Some(warning) = crate::config::Config::set_warning(name, config.get(name)) {
            tracing::warn!("{warning}");
        }
    }
    if pairs
        .iter()
        .any(|(n, _)| n.to_ascii_lowercase().starts_with("oom-score-adj"))
    {
        if let Err(e) = crate::service::apply_oom_score_adj(&config) {
            tracing::warn!("{e}");
        }
    }
    if pairs
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("requirepass"))
    {
        crate::command::access::set_default_password(config.get("requirepass").as_bytes());
    }
    pairs
        .iter()
        .for_each(|(name, _)| super::zset::config_set(name, &config));
    if let Some(flags) = notify_flags {
        crate::pubsub::notify::set(flags);
    }
    super::apply_config(&config);
    let appendonly = config.get("appendonly") == "yes";
    super::aof::apply_fsync(&config);
    drop(config);
    if pairs
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("appendonly"))
    {
        super::aof::set_appendonly(session, appendonly);
    }
    ok()
}

/// CONFIG SET port / bind: every thread's listeners move to the staged addresses before
/// anything is committed, so a failure leaves the old ones and every value as they were.
fn move_listeners(
    session: &Session,
    pairs: &[(String, String)],
    staged: &crate::config::Config,
) -> Result<(), Reply> {
    let named = |n: &str| pairs.iter().find(|(name, _)| name.eq_ignore_ascii_case(n));
    let Some((name, _)) = pairs
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("port") || n.eq_ignore_ascii_case("bind"))
    else {
        return Ok(());
    };
    let Some(rebind) = session.server.rebind.get() else {
        return Ok(());
    };
    // `port 0` picks a free port when set; a `bind` alone keeps the port in use.
    let fallback = match named("port") {
        Some(_) => 0,
        None => session.server.port.load(Relaxed),
    };
    let why = if name.eq_ignore_ascii_case("port") {
        err::CONFIG_PORT_LISTEN
    } else {
        err::CONFIG_BIND_FAILED
    };
    let port = rebind(staged, fallback).map_err(|_| err::config_set_failed(name, why))?;
    session.server.port.store(port, Relaxed);
    Ok(())
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
