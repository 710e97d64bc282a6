//! Persistence commands: SAVE and BGSAVE write an RDB snapshot of every shard to
//! `dir`/`dbfilename` (see `saving`: SAVE holds every shard while it encodes, BGSAVE takes a
//! consistent cut and encodes it slot by slot while commands keep running); the same file is
//! loaded at start.

use crate::command::err;

use super::saving;
use super::table::{flags, row, CommandSpec, NOKEY};
use super::{error, Args, CmdResult, Kind, Session};
use crate::config::Config;
use crate::protocol::Reply;
use crate::rdb::{self, Loaded, Record};
use crate::shard::types::{Hash, List, Set, ZSet};
use crate::shard::{Entry, Key, Shard, SlotTable, Value};

/// The persistence commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "save",
        1,
        flags!(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI),
        NOKEY,
        Kind::Routed(save),
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk.",
        "",
    ),
    row(
        "bgsave",
        -1,
        flags!(ADMIN | NOSCRIPT | NO_ASYNC_LOADING),
        NOKEY,
        Kind::Routed(bgsave),
        "server",
        "1.0.0",
        "Asynchronously saves the database(s) to disk.",
        "[SCHEDULE]",
    ),
];

type Routine<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + 'a>>;

fn save(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        if saving::bgsave_running() {
            return Err(error(err::BGSAVE_IN_PROGRESS));
        }
        let path = saving::dump_path(&session.server.config());
        match saving::save(&session.router, path, saving::Held::Command).await {
            Ok(()) => Ok(Reply::Simple("OK")),
            Err(()) => Err(error(err::ERR)),
        }
    })
}

fn bgsave(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let schedule = args.keyword("SCHEDULE");
        args.end()?;
        if saving::bgsave_running() {
            return Err(error(err::BGSAVE_IN_PROGRESS));
        }
        // Inside EXEC the transaction holds some shards: the cut waits until it is over.
        if session.router.in_transaction() {
            saving::schedule_bgsave();
            return Ok(Reply::Simple("Background saving scheduled"));
        }
        let path = saving::dump_path(&session.server.config());
        match saving::bgsave(&session.router, path).await {
            Ok(()) => Ok(Reply::Simple("Background saving started")),
            Err(saving::NotStarted::InProgress) => Err(error(err::BGSAVE_IN_PROGRESS)),
            Err(saving::NotStarted::Busy) if schedule => {
                saving::schedule_bgsave();
                Ok(Reply::Simple("Background saving scheduled"))
            }
            Err(saving::NotStarted::Busy) => Err(error(err::BGSAVE_BUSY)),
        }
    })
}

/// One shard's share of a loaded file: (database, key, entry).
pub type Restored = Vec<(usize, Key, Entry)>;

/// The keys the last RDB load kept and dropped as expired (INFO's rdb_last_load_keys_*).
static LAST_LOAD: [std::sync::atomic::AtomicU64; 2] = [
    std::sync::atomic::AtomicU64::new(0),
    std::sync::atomic::AtomicU64::new(0),
];

/// (keys loaded, keys expired) by the last RDB load.
pub fn last_load() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (LAST_LOAD[0].load(Relaxed), LAST_LOAD[1].load(Relaxed))
}

pub fn record_load(keys: usize, expired: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    LAST_LOAD[0].store(keys as u64, Relaxed);
    LAST_LOAD[1].store(expired as u64, Relaxed);
}

/// Reads `dir`/`dbfilename` when it exists and splits its keys per owning shard. Keys already
/// expired are dropped, as Redis does when it loads as a primary.
pub fn load(config: &Config, shards: usize) -> Result<Vec<Restored>, String> {
    saving::started();
    let path = saving::dump_path(config);
    let file = match std::fs::read(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((0..shards).map(|_| Vec::new()).collect())
        }
        Err(e) => return Err(format!("could not read {}: {e}", path.display())),
    };
    let started = std::time::Instant::now();
    let (records, libraries) =
        rdb::decode_all(&file).map_err(|e| format!("{}: {e}", path.display()))?;
    saving::key_load_delay(config.int("key-load-delay"), records.len());
    super::scripting::function::load_libraries(libraries)?;
    let backlog = config.int("repl-backlog-size").max(1) as usize;
    super::replication::restore(&rdb::aux_fields(&file), shards, backlog);
    let databases = config.int("databases") as usize;
    let now = crate::shard::unix_ms();
    // A master that kept its history tells its replicas of the keys it drops as expired
    // (they continue from the file's offset and hold those keys), as Redis's rdbLoad does.
    let dropped: Vec<(usize, Key)> = records
        .iter()
        .filter(|r| r.expire_at != 0 && r.expire_at <= now && r.db < databases)
        .map(|r| (r.db, r.key.clone()))
        .collect();
    let (per_shard, keys, expired) =
        split(records, databases, shards, Some(now)).map_err(|_| too_many_databases(databases))?;
    let lazy = config.get("lazyfree-lazy-expire") == "yes";
    super::replication::master::feed_expired_at_load(&dropped, lazy);
    record_load(keys, expired);
    tracing::info!(
        "Done loading RDB, keys loaded: {keys}, keys expired: {expired}. DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(per_shard)
}

/// Splits the records of a loaded file per owning shard (of `shards`), dropping the keys
/// expired at `expired_at` (None: keeping them all, as a replica loads its master's); with
/// the counts of keys kept and dropped. Err: the database of a record beyond `databases`.
pub fn split(
    records: Vec<Record>,
    databases: usize,
    shards: usize,
    expired_at: Option<u64>,
) -> Result<(Vec<Restored>, usize, usize), usize> {
    let mut per_shard: Vec<Restored> = (0..shards).map(|_| Vec::new()).collect();
    let table = SlotTable::new(shards);
    let mut keys = 0usize;
    let mut expired = 0usize;
    for Record {
        db,
        key,
        value,
        expire_at,
    } in records
    {
        if db >= databases {
            return Err(db);
        }
        if expire_at != 0 && expired_at.is_some_and(|now| expire_at <= now) {
            expired += 1;
            continue;
        }
        let Some(value) = restore_value(value) else {
            continue;
        };
        keys += 1;
        let entry = Entry {
            value,
            expire_at,
            touched: 0,
        };
        per_shard[table.shard_of(&key)].push((db, key, entry));
    }
    Ok((per_shard, keys, expired))
}

/// Redis's refusal of a file that uses more databases than `databases`.
pub fn too_many_databases(databases: usize) -> String {
    format!("FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting")
}

/// Puts a shard's share of the loaded file in place (at start, before it serves anyone).
pub fn restore(shard: &mut Shard, keys: Restored) {
    for (db, key, entry) in keys {
        shard.db_at(db).insert(&key, entry);
    }
}

/// The stored form of a loaded value, in the representation its size calls for; None for an
/// empty collection (Redis never stores one; an empty stream is a value).
pub fn restore_value(value: Loaded) -> Option<Value> {
    Some(match value {
        Loaded::Str(s) => Value::Str(s),
        Loaded::Stream(stream) => Value::Stream(stream),
        Loaded::List(items) if !items.is_empty() => {
            Value::List(Box::new(List::from_items(items.iter().map(|i| &i[..]))))
        }
        Loaded::Set(members) if !members.is_empty() => Value::Set(Box::new(Set::from_members(
            members.iter().map(|m| &m[..]),
            members.len(),
            &super::set::limits(),
        ))),
        Loaded::Hash(pairs) if !pairs.is_empty() => {
            let limits = super::hash::limits();
            let mut hash = Hash::default();
            for (field, value) in &pairs {
                hash.set(field, value, &limits);
            }
            Value::Hash(Box::new(hash))
        }
        Loaded::ZSet(pairs) if !pairs.is_empty() => {
            let longest = pairs.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
            let mut zset = ZSet::with_hint(pairs.len(), longest);
            for (member, score) in &pairs {
                zset.insert(member, *score);
            }
            Value::ZSet(Box::new(zset))
        }
        _ => return None,
    })
}
