//! Persistence commands: SAVE and BGSAVE write an RDB snapshot of every shard to
//! `dir`/`dbfilename`; the same file is loaded at start. The snapshot is taken with every
//! shard held (ordered holds, as MULTI), each shard encoding its own keys on its own thread, so
//! it is consistent across shards. SAVE writes the file before replying; BGSAVE replies once the
//! shards are released and writes the file on a background thread.

use crate::command::err;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};

use super::table::{flags, row, CommandSpec, NOKEY};
use super::{error, Args, CmdResult, Kind, Session};
use crate::config::Config;
use crate::protocol::Reply;
use crate::rdb::{self, DbPart, FileWriter, Loaded, Record};
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

/// Unix time (seconds) of the last successful save, or of the start.
static LAST_SAVE: AtomicU64 = AtomicU64::new(0);
static BGSAVE_RUNNING: AtomicBool = AtomicBool::new(false);
static LAST_BGSAVE_FAILED: AtomicBool = AtomicBool::new(false);
static SAVES: AtomicU64 = AtomicU64::new(0);

/// What INFO persistence and LASTSAVE report.
pub struct Status {
    pub last_save: u64,
    pub bgsave_running: bool,
    pub last_bgsave_ok: bool,
    pub saves: u64,
}

pub fn status() -> Status {
    Status {
        last_save: LAST_SAVE.load(Relaxed),
        bgsave_running: BGSAVE_RUNNING.load(Relaxed),
        last_bgsave_ok: !LAST_BGSAVE_FAILED.load(Relaxed),
        saves: SAVES.load(Relaxed),
    }
}

fn save(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        if BGSAVE_RUNNING.load(Relaxed) {
            return Err(error(err::BGSAVE_IN_PROGRESS));
        }
        let file = snapshot(session).await;
        match write_file(&path(&session.server.config()), &file) {
            Ok(()) => Ok(Reply::Simple("OK")),
            Err(_) => Err(error("ERR")),
        }
    })
}

fn bgsave(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let schedule = args.keyword("SCHEDULE");
        args.end()?;
        if BGSAVE_RUNNING.swap(true, Relaxed) {
            // SCHEDULE only defers a save that another kind of child would block; a snapshot
            // in progress is refused either way, as Redis does.
            let _ = schedule;
            return Err(error(err::BGSAVE_IN_PROGRESS));
        }
        let file = snapshot(session).await;
        let path = path(&session.server.config());
        let spawned = std::thread::Builder::new()
            .name("ringkv-bgsave".into())
            .spawn(move || {
                let failed = write_file(&path, &file).is_err();
                LAST_BGSAVE_FAILED.store(failed, Relaxed);
                BGSAVE_RUNNING.store(false, Relaxed);
                if !failed {
                    tracing::info!("Background saving terminated with success");
                }
            });
        if spawned.is_err() {
            BGSAVE_RUNNING.store(false, Relaxed);
            return Err(error(err::BGSAVE_THREAD));
        }
        tracing::info!("Background saving started");
        Ok(Reply::Simple("Background saving started"))
    })
}

/// Saves now, before SHUTDOWN returns: true when the file was written.
pub async fn save_for_shutdown(session: &mut Session) -> bool {
    let file = snapshot(session).await;
    write_file(&path(&session.server.config()), &file).is_ok()
}

/// The whole keyspace as an RDB file, taken with every shard held.
async fn snapshot(session: &mut Session) -> Vec<u8> {
    let now = crate::shard::unix_ms();
    let work: Vec<_> = (0..session.router.shards())
        .map(|id| {
            let job = move |s: &mut Shard| -> Vec<DbPart> {
                (0..s.databases())
                    .map(|db| rdb::encode_db(s.db_at(db), now))
                    .collect()
            };
            (id, job)
        })
        .collect();
    let (holding, parts) = session.router.hold_with(work).await;
    drop(holding);
    let parts: Vec<Vec<DbPart>> = parts.into_iter().flatten().collect();
    let used = parts.iter().flatten().map(|p| p.records.len() as u64).sum();
    let mut writer = FileWriter::new(super::connection::REDIS_VERSION, used);
    let databases = parts.iter().map(Vec::len).max().unwrap_or(0);
    for db in 0..databases {
        let of_db: Vec<&DbPart> = parts.iter().filter_map(|p| p.get(db)).collect();
        writer.database(db, &of_db);
    }
    writer.finish()
}

fn path(config: &Config) -> PathBuf {
    PathBuf::from(config.get("dir")).join(config.get("dbfilename"))
}

/// Writes `file` to a temporary name beside `path`, then renames it over `path` (a reader
/// never sees half a file).
fn write_file(path: &PathBuf, file: &[u8]) -> std::io::Result<()> {
    let temp = path.with_file_name(format!("temp-{}.rdb", std::process::id()));
    let result = std::fs::write(&temp, file)
        .and_then(|()| std::fs::File::open(&temp)?.sync_all())
        .and_then(|()| std::fs::rename(&temp, path));
    match &result {
        Ok(()) => {
            LAST_SAVE.store(crate::shard::unix_ms() / 1000, Relaxed);
            SAVES.fetch_add(1, Relaxed);
            tracing::info!("DB saved on disk");
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            tracing::warn!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
                temp.display(),
                path.display()
            );
        }
    }
    result
}

/// One shard's share of a loaded file: (database, key, entry).
pub type Restored = Vec<(usize, Key, Entry)>;

/// Reads `dir`/`dbfilename` when it exists and splits its keys per owning shard. Keys already
/// expired are dropped, as Redis does when it loads as a primary.
pub fn load(config: &Config, shards: usize) -> Result<Vec<Restored>, String> {
    LAST_SAVE.store(crate::shard::unix_ms() / 1000, Relaxed);
    let mut per_shard: Vec<Restored> = (0..shards).map(|_| Vec::new()).collect();
    let path = path(config);
    let file = match std::fs::read(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(per_shard),
        Err(e) => return Err(format!("could not read {}: {e}", path.display())),
    };
    let started = std::time::Instant::now();
    let records = rdb::decode(&file).map_err(|e| format!("{}: {e}", path.display()))?;
    let databases = config.int("databases") as usize;
    let table = SlotTable::new(shards);
    let now = crate::shard::unix_ms();
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
            return Err(format!(
                "FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting"
            ));
        }
        if expire_at != 0 && expire_at <= now {
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
    tracing::info!(
        "Done loading RDB, keys loaded: {keys}, keys expired: {expired}. DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(per_shard)
}

/// Puts a shard's share of the loaded file in place (at start, before it serves anyone).
pub fn restore(shard: &mut Shard, keys: Restored) {
    for (db, key, entry) in keys {
        shard.db_at(db).insert(&key, entry);
    }
}

/// The stored form of a loaded value, in the representation its size calls for; None for an
/// empty collection (Redis never stores one).
pub fn restore_value(value: Loaded) -> Option<Value> {
    Some(match value {
        Loaded::Str(s) => Value::Str(s),
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
