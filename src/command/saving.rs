//! Saving the keyspace to `dir`/`dbfilename`: SAVE, BGSAVE, save points, shutdown saves.
//!
//! - SAVE and SHUTDOWN hold every shard while each encodes its databases ([`snapshot`]).
//! - BGSAVE takes a cut with a brief hold of every shard, then each shard encodes its slots in
//!   steps between its other work (`shard::snapshot`), and a thread assembles and writes the
//!   file ([`background_snapshot`], also the start of an AOF rewrite).
//! - Every save writes its own temporary file (`temp-<pid>-<n>.rdb`) and renames it over the
//!   dump only when no save of a later cut got there first: the dump never goes back in time,
//!   and no rename ever sees a file another save is still writing.
//! - Save points (`save`) start a BGSAVE from the per-thread maintenance of thread 0.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::replication;
use super::scripting::function::library_codes;

use crate::config::{Config, ShutdownFlags};
use crate::rdb::{self, DbPart, FileWriter};
use crate::shard::snapshot::changes;
use crate::shard::{Router, Shard, ShardId};

/// Unix time (seconds) of the last successful save, or of the start.
static LAST_SAVE: AtomicU64 = AtomicU64::new(0);
/// `changes()` at the cut of the save now on disk.
static CHANGES_AT_SAVE: AtomicU64 = AtomicU64::new(0);
static LAST_BGSAVE_OK: AtomicBool = AtomicBool::new(true);
static BGSAVE_RUNNING: AtomicBool = AtomicBool::new(false);
/// Unix ms when the running BGSAVE started.
static BGSAVE_STARTED_MS: AtomicU64 = AtomicU64::new(0);
static LAST_BGSAVE_SECS: AtomicI64 = AtomicI64::new(-1);
/// Unix seconds of the last BGSAVE attempt (a failed one is retried after `RETRY_DELAY`).
static LAST_BGSAVE_TRY: AtomicU64 = AtomicU64::new(0);
static SAVES: AtomicU64 = AtomicU64::new(0);
/// A BGSAVE waits for another background snapshot to end (BGSAVE SCHEDULE).
static SCHEDULED: AtomicBool = AtomicBool::new(false);
/// A background cut is being encoded (by a BGSAVE or another user of `background_snapshot`).
static CUT_ACTIVE: AtomicBool = AtomicBool::new(false);
/// `stop-writes-on-bgsave-error yes` with save points set.
static STOP_WRITES: AtomicBool = AtomicBool::new(true);
/// Numbers the cuts in the order they were taken (under holds of every shard).
static CUTS: AtomicU64 = AtomicU64::new(0);
/// The number of the cut whose file is the dump now; renames happen under this lock.
static ON_DISK: Mutex<u64> = Mutex::new(0);
/// Temporary files being written (removed if the process exits first).
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Redis's CONFIG_BGSAVE_RETRY_DELAY: seconds before a failed save point BGSAVE is retried.
const RETRY_DELAY: u64 = 5;
/// How long a shard encodes before it serves its other work again.
const STEP: Duration = Duration::from_micros(500);

fn unix_secs() -> u64 {
    crate::shard::unix_ms() / 1000
}

/// What INFO persistence and LASTSAVE report.
pub struct Status {
    pub changes_since_save: u64,
    pub last_save: u64,
    pub bgsave_running: bool,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    pub current_bgsave_secs: i64,
    pub saves: u64,
}

impl Status {
    /// INFO's `rdb_bgsave_in_progress`: a BGSAVE, or a replica's snapshot (Redis's BGSAVE for
    /// replication).
    pub fn rdb_in_progress(&self) -> bool {
        self.bgsave_running || crate::command::replication::master::snapshot_in_progress()
    }
}

pub fn status() -> Status {
    let running = BGSAVE_RUNNING.load(Relaxed);
    Status {
        changes_since_save: changes().wrapping_sub(CHANGES_AT_SAVE.load(Relaxed)),
        last_save: LAST_SAVE.load(Relaxed),
        bgsave_running: running,
        last_bgsave_ok: LAST_BGSAVE_OK.load(Relaxed),
        last_bgsave_secs: LAST_BGSAVE_SECS.load(Relaxed),
        current_bgsave_secs: if running {
            (unix_secs().saturating_sub(BGSAVE_STARTED_MS.load(Relaxed) / 1000)) as i64
        } else {
            -1
        },
        saves: SAVES.load(Relaxed),
    }
}

/// At start (before loading): the data on disk is the data in memory.
pub fn started() {
    LAST_SAVE.store(unix_secs(), Relaxed);
    CHANGES_AT_SAVE.store(changes(), Relaxed);
}

/// Follows `stop-writes-on-bgsave-error`, `save` and the test suite's delays.
pub fn apply_config(config: &Config) {
    STOP_WRITES.store(
        config.get("stop-writes-on-bgsave-error") == "yes" && !config.get("save").is_empty(),
        Relaxed,
    );
    KEY_SAVE_DELAY.store(config.int("rdb-key-save-delay"), Relaxed);
}

/// `rdb-key-save-delay` (µs), for tests that need a slow save.
static KEY_SAVE_DELAY: AtomicI64 = AtomicI64::new(0);

/// `rdb-key-save-delay`: what the thread writing an RDB (a save's file, a replica's transfer)
/// waits per key.
fn key_save_delay() -> i64 {
    KEY_SAVE_DELAY.load(Relaxed)
}

/// Waits `rdb-key-save-delay` once (per key written), on a thread writing a background
/// save or a replica's transfer ([`paced`]) whose save was not aborted since. SAVE and the
/// shutdown's save are not slowed: with no child process to kill, a delay left set by a test
/// would hold the server's exit.
pub fn key_save_pause() {
    let wanted = || WANTED.with_borrow(|w| w.as_ref().is_none_or(|wanted| wanted()));
    if PACED_SINCE.get() == Some(SAVE_ABORTS.load(Relaxed)) && wanted() {
        debug_delay(key_save_delay());
    }
}

/// Bumped by what ends a background save early (FLUSHALL, as Redis kills the child).
static SAVE_ABORTS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// On a thread writing a background save: SAVE_ABORTS when it began.
    static PACED_SINCE: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
    /// On a thread writing a replica's transfer: whether the replica still waits for it.
    static WANTED: std::cell::RefCell<Option<Box<dyn Fn() -> bool>>> = const { std::cell::RefCell::new(None) };
}

/// The abort count now: a background save begun now is aborted once it changes.
pub fn save_began() -> u64 {
    SAVE_ABORTS.load(Relaxed)
}

/// Marks this thread as writing a background save or a transfer begun at `began`
/// ([`save_began`]), paced by `rdb-key-save-delay` until an abort.
pub fn paced(began: u64) {
    PACED_SINCE.set(Some(began));
}

/// As [`paced`], for a replica's transfer: paced only while `wanted` says its replica
/// still waits for it (once it is gone, the rest is built at full speed and dropped).
pub fn paced_while(began: u64, wanted: impl Fn() -> bool + 'static) {
    paced(began);
    WANTED.set(Some(Box::new(wanted)));
}

/// Ends the background save under way, if any (its file is not written).
pub fn abort_background_save() {
    SAVE_ABORTS.fetch_add(1, Relaxed);
}

/// Waits `key-load-delay` (`delay` µs, for tests that need a slow load) for each of `keys`
/// loaded: at start, or a replica's load of its master's data.
pub fn key_load_delay(delay: i64, keys: usize) {
    if delay != 0 {
        (0..keys).for_each(|_| debug_delay(delay));
    }
}

/// Redis's debugDelay: `usec` µs, or for a negative value 1 µs once in `-usec` calls.
pub fn debug_delay(usec: i64) {
    let usec = match usec {
        0 => return,
        // The counter's low bits serve as the coin.
        n if n < 0 => u64::from(crate::state::cycles().is_multiple_of(n.unsigned_abs())),
        n => n as u64,
    };
    if usec > 0 {
        std::thread::sleep(std::time::Duration::from_micros(usec));
    }
}

/// True when write commands (and PING) get `-MISCONF`: the last BGSAVE failed and
/// `stop-writes-on-bgsave-error` is on with save points set, as Redis.
#[inline]
pub fn writes_refused() -> bool {
    !LAST_BGSAVE_OK.load(Relaxed) && STOP_WRITES.load(Relaxed)
}

/// True while a BGSAVE runs (SAVE is refused then).
pub fn bgsave_running() -> bool {
    BGSAVE_RUNNING.load(Relaxed)
}

/// Where the dump lives.
pub fn dump_path(config: &Config) -> PathBuf {
    PathBuf::from(config.get("dir")).join(config.get("dbfilename"))
}

/// A cut taken and encoded: the parts every shard wrote, in shard order.
pub struct Encoded {
    parts: Vec<Vec<(usize, DbPart)>>,
    /// The function libraries' code at the cut.
    libraries: Vec<Bytes>,
    /// The cut's number (later cuts have larger ones).
    pub number: u64,
    /// `changes()` at the cut.
    pub changes: u64,
    /// The replication stream's position at the cut (a save's `repl-*` AUX fields).
    pub replication: Option<rdb::ReplInfo>,
}

impl Encoded {
    /// The RDB file. Costs a copy of every record and a checksum pass: call it off the shard
    /// threads for a big keyspace.
    pub fn into_file(self) -> Vec<u8> {
        let used = self
            .parts
            .iter()
            .flatten()
            .map(|(_, p)| p.len() as u64)
            .sum();
        let mut writer = FileWriter::with_replication(
            super::connection::REDIS_VERSION,
            used,
            self.replication.as_ref(),
        )
        .paced(key_save_pause);
        writer.functions(&self.libraries);
        let databases = self
            .parts
            .iter()
            .flatten()
            .map(|(db, _)| db + 1)
            .max()
            .unwrap_or(0);
        for db in 0..databases {
            let of_db: Vec<&DbPart> = self
                .parts
                .iter()
                .flatten()
                .filter(|(d, _)| *d == db)
                .map(|(_, p)| p)
                .collect();
            writer.database(db, &of_db);
        }
        writer.finish()
    }
}

/// The whole keyspace, encoded with every shard held (SAVE, SHUTDOWN): stops the world for the
/// time every shard takes to encode its keys.
pub async fn snapshot_held(router: &Router) -> Encoded {
    let now = crate::shard::unix_ms();
    let work: Vec<_> = (0..router.shards())
        .map(|id| {
            let job = move |s: &mut Shard| -> Vec<(usize, DbPart)> {
                (0..s.databases())
                    .map(|db| (db, rdb::encode_db(s.db_at(db), now)))
                    .collect()
            };
            (id, job)
        })
        .collect();
    let paused = replication::pause_for_cut().await;
    let (holding, parts) = router.hold_with(work).await;
    let number = CUTS.fetch_add(1, Relaxed) + 1;
    let changes = changes();
    let libraries = library_codes();
    let replication = replication::save_info(paused.is_some());
    drop(holding);
    drop(paused);
    Encoded {
        parts: parts.into_iter().flatten().collect(),
        libraries,
        number,
        changes,
        replication,
    }
}

/// The whole keyspace as an RDB file, taken with every shard held.
pub async fn snapshot(router: &Router) -> Vec<u8> {
    snapshot_held(router).await.into_file()
}

/// A consistent cut of every shard, encoded slot by slot in the background (see
/// `shard::snapshot`): [`BackgroundSnapshot::encode`] drives it to the end.
pub struct BackgroundSnapshot {
    router: Router,
    libraries: Vec<Bytes>,
    number: u64,
    changes: u64,
    replication: Option<rdb::ReplInfo>,
}

/// Takes a cut of every shard, holding them all only while each installs it; `at_cut` runs on
/// every shard inside the same hold (where a journal would note its position). None when
/// another background snapshot is being encoded (one at a time).
pub async fn background_snapshot_with<F>(router: &Router, at_cut: F) -> Option<BackgroundSnapshot>
where
    F: Fn(&mut Shard) + Clone + Send + 'static,
{
    cut(router, at_cut, false).await
}

/// A background cut; `replicated`: noting the replication stream's position at it (a save;
/// an AOF rewrite's preamble has none, as Redis's).
async fn cut<F>(router: &Router, at_cut: F, replicated: bool) -> Option<BackgroundSnapshot>
where
    F: Fn(&mut Shard) + Clone + Send + 'static,
{
    if CUT_ACTIVE.swap(true, Relaxed) {
        return None;
    }
    let at_ms = crate::shard::unix_ms();
    let work: Vec<_> = (0..router.shards())
        .map(|id| {
            let at_cut = at_cut.clone();
            let job = move |s: &mut Shard| {
                let taken = s.begin_snapshot(at_ms, rdb::encode_slot);
                if taken {
                    at_cut(s);
                }
                taken
            };
            (id, job)
        })
        .collect();
    let paused = match replicated {
        true => replication::pause_for_cut().await,
        false => None,
    };
    let (holding, taken) = router.hold_with(work).await;
    let number = CUTS.fetch_add(1, Relaxed) + 1;
    let changes = changes();
    if taken.iter().all(|t| *t == Some(true)) {
        let libraries = library_codes();
        let replication = match replicated {
            true => replication::save_info(paused.is_some()),
            false => None,
        };
        drop(holding);
        return Some(BackgroundSnapshot {
            router: router.clone(),
            libraries,
            number,
            changes,
            replication,
        });
    }
    for (id, t) in taken.into_iter().enumerate() {
        if t == Some(true) {
            holding.send(id, Shard::abandon_snapshot);
        }
    }
    drop(holding);
    CUT_ACTIVE.store(false, Relaxed);
    None
}

/// [`background_snapshot_with`] with nothing else done at the cut.
pub async fn background_snapshot(router: &Router) -> Option<BackgroundSnapshot> {
    cut(router, |_| {}, true).await
}

impl BackgroundSnapshot {
    /// Has every shard encode its remaining slots, `STEP` at a time between its other work,
    /// and collects the parts.
    pub async fn encode(self) -> Encoded {
        let router = &self.router;
        let mut left: Vec<ShardId> = (0..router.shards()).collect();
        while !left.is_empty() {
            let mut posted = Vec::new();
            let mut local = None;
            for &id in &left {
                if router.runs_inline(id) {
                    local = Some(id);
                } else {
                    posted.push((id, router.post(id, |s| s.snapshot_step(STEP))));
                }
            }
            let mut unfinished = Vec::new();
            if let Some(id) = local {
                if !router.run_inline(|s| s.snapshot_step(STEP)) {
                    unfinished.push(id);
                }
                // Lets this thread's connections run before the next step.
                tokio::task::yield_now().await;
            }
            for (id, done) in posted {
                // Err: the shard's thread is gone (shutdown).
                if done.await == Ok(false) {
                    unfinished.push(id);
                }
            }
            left = unfinished;
        }
        let parts = router.run_all(Shard::take_snapshot).await;
        CUT_ACTIVE.store(false, Relaxed);
        Encoded {
            parts,
            libraries: self.libraries,
            number: self.number,
            changes: self.changes,
            replication: self.replication,
        }
    }
}

/// The temporary file of cut `number`'s save: its own name, so no two saves share one.
fn temp_path(path: &Path, number: u64) -> PathBuf {
    path.with_file_name(format!("temp-{}-{number}.rdb", std::process::id()))
}

/// Removes the temporary files of saves still being written: the process is about to exit
/// (a shutdown, or a second SIGINT that does not wait for its save).
pub fn remove_temp_files() {
    for temp in TEMPS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = std::fs::remove_file(temp);
    }
}

/// Writes `file` to `temp` and syncs it; the temp file is known to `remove_temp_files` meanwhile.
fn write_temp(temp: &Path, file: &[u8]) -> Result<(), (&'static str, std::io::Error)> {
    use std::io::Write;
    let mut out = std::fs::File::create(temp).map_err(|e| ("open", e))?;
    TEMPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(temp.to_path_buf());
    out.write_all(file)
        .map_err(|e| ("write", e))
        .and_then(|()| out.sync_all().map_err(|e| ("fsync", e)))
}

/// Writes cut `number`'s `file` to its own temporary file beside `path`, then renames it over
/// `path` unless a later cut's file is there already. Logs failures as Redis does.
fn write_file(path: &Path, file: &[u8], number: u64, changes_at_cut: u64) -> Result<(), ()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = temp_path(path, number);
    let root = || {
        std::fs::canonicalize(dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| dir.display().to_string())
    };
    let written = write_temp(&temp, file);
    let forget = |temp: &Path| {
        TEMPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t| t != temp);
    };
    match written {
        Ok(()) => {}
        Err(("open", e)) => {
            tracing::warn!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {}",
                temp.display(),
                root(),
                crate::state::strerror(&e)
            );
            return Err(());
        }
        Err((op, e)) => {
            tracing::warn!(
                "Write error saving DB on disk({op}): {}",
                crate::state::strerror(&e)
            );
            let _ = std::fs::remove_file(&temp);
            forget(&temp);
            return Err(());
        }
    }
    let mut on_disk = ON_DISK.lock().unwrap_or_else(|e| e.into_inner());
    if *on_disk > number {
        // A later cut is on disk already: this older one must not replace it.
        let _ = std::fs::remove_file(&temp);
        forget(&temp);
        return Ok(());
    }
    if let Err(e) = std::fs::rename(&temp, path) {
        tracing::warn!(
            "Error moving temp DB file {} on the final destination {} (in server root dir {}): {}",
            temp.display(),
            path.display(),
            root(),
            crate::state::strerror(&e)
        );
        let _ = std::fs::remove_file(&temp);
        forget(&temp);
        return Err(());
    }
    forget(&temp);
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    *on_disk = number;
    CHANGES_AT_SAVE.store(changes_at_cut, Relaxed);
    LAST_SAVE.store(unix_secs(), Relaxed);
    tracing::info!("DB saved on disk");
    Ok(())
}

/// Who asks for a save with every shard held.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// SAVE: counted in `rdb_saves`.
    Command,
    /// SHUTDOWN, a signal.
    Shutdown,
    /// FLUSHALL with save points set: the dump must not bring the keys back at the next start.
    Flush,
    /// DEBUG RELOAD, which loads the file back at once.
    Reload,
}

/// Saves the keyspace with every shard held, written before returning. Err: it failed (logged).
pub async fn save(router: &Router, path: PathBuf, why: Held) -> Result<(), ()> {
    if why == Held::Command {
        SAVES.fetch_add(1, Relaxed);
    }
    if router.in_transaction() {
        // A hold of every shard taken now would cover only the transaction's (FLUSHALL in EXEC).
        tracing::warn!("Not saving the DB inside a transaction: it holds only some shards");
        return Err(());
    }
    let encoded = snapshot_held(router).await;
    let (number, changes) = (encoded.number, encoded.changes);
    write_file(&path, &encoded.into_file(), number, changes)?;
    LAST_BGSAVE_OK.store(true, Relaxed);
    Ok(())
}

/// Why a BGSAVE did not start.
pub enum NotStarted {
    /// A BGSAVE runs already.
    InProgress,
    /// Another background snapshot is being taken (an AOF rewrite).
    Busy,
}

/// Starts a BGSAVE: returns once the cut is taken; the encoding goes on in a task of this
/// thread and the file is written by a thread of its own.
pub async fn bgsave(router: &Router, path: PathBuf) -> Result<(), NotStarted> {
    if BGSAVE_RUNNING.swap(true, Relaxed) {
        return Err(NotStarted::InProgress);
    }
    let began = save_began();
    let Some(cut) = background_snapshot(router).await else {
        BGSAVE_RUNNING.store(false, Relaxed);
        return Err(NotStarted::Busy);
    };
    SAVES.fetch_add(1, Relaxed);
    let started = crate::shard::unix_ms();
    LAST_BGSAVE_TRY.store(started / 1000, Relaxed);
    BGSAVE_STARTED_MS.store(started, Relaxed);
    tracing::info!("Background saving started");
    tokio::task::spawn_local(async move {
        let encoded = cut.encode().await;
        let spawned = std::thread::Builder::new()
            .name("ringkv-bgsave".into())
            .spawn(move || {
                let (number, changes) = (encoded.number, encoded.changes);
                paced(began);
                let file = encoded.into_file();
                if SAVE_ABORTS.load(Relaxed) != began {
                    // As Redis reports the child it killed (SIGUSR1: not an error).
                    tracing::warn!("Background saving terminated by signal 10");
                    bgsave_ended();
                    return;
                }
                let result = write_file(&path, &file, number, changes);
                bgsave_done(result.is_ok());
            });
        if spawned.is_err() {
            tracing::warn!("Can't save in background: could not start a thread");
            bgsave_done(false);
        }
    });
    Ok(())
}

fn bgsave_done(ok: bool) {
    LAST_BGSAVE_OK.store(ok, Relaxed);
    if ok {
        tracing::info!("Background saving terminated with success");
    } else {
        tracing::warn!("Background saving error");
    }
    bgsave_ended();
}

/// A BGSAVE ended, written or not: its duration noted, the next one free to start.
fn bgsave_ended() {
    let started = BGSAVE_STARTED_MS.load(Relaxed) / 1000;
    LAST_BGSAVE_SECS.store(unix_secs().saturating_sub(started) as i64, Relaxed);
    BGSAVE_RUNNING.store(false, Relaxed);
}

/// BGSAVE SCHEDULE while another background snapshot runs: the save starts when it ends.
pub fn schedule_bgsave() {
    SCHEDULED.store(true, Relaxed);
}

/// Thread 0's maintenance, ten times a second: starts the BGSAVE a save point or BGSAVE
/// SCHEDULE calls for, as Redis's serverCron.
pub async fn cron(router: &Router, config: &std::sync::RwLock<Config>) {
    if BGSAVE_RUNNING.load(Relaxed) || CUT_ACTIVE.load(Relaxed) {
        return;
    }
    let (points, path) = {
        let config = config.read().unwrap_or_else(|e| e.into_inner());
        let points = crate::config::save_points(config.get("save")).unwrap_or_default();
        (points, dump_path(&config))
    };
    let now = unix_secs();
    let retry_ok = now.saturating_sub(LAST_BGSAVE_TRY.load(Relaxed)) > RETRY_DELAY
        || LAST_BGSAVE_OK.load(Relaxed);
    if !retry_ok {
        return;
    }
    let dirty = changes().wrapping_sub(CHANGES_AT_SAVE.load(Relaxed));
    let since = now.saturating_sub(LAST_SAVE.load(Relaxed));
    if let Some((seconds, count)) = points
        .iter()
        .find(|&&(seconds, count)| dirty >= count && since > seconds)
    {
        tracing::info!("{count} changes in {seconds} seconds. Saving...");
        let _ = bgsave(router, path).await;
        return;
    }
    if SCHEDULED.load(Relaxed) && bgsave(router, path).await.is_ok() {
        SCHEDULED.store(false, Relaxed);
    }
}

/// Redis's finishShutdown without replicas or AOF: saves when asked to (or when save points
/// are set and NOSAVE was not given), logging as Redis. False when the save failed and FORCE
/// was not given: the server keeps running.
pub async fn shutdown(
    router: &Router,
    config: &std::sync::RwLock<Config>,
    flags: ShutdownFlags,
) -> bool {
    tracing::warn!("User requested shutdown...");
    let (save_points, path) = {
        let config = config.read().unwrap_or_else(|e| e.into_inner());
        (!config.get("save").is_empty(), dump_path(&config))
    };
    if BGSAVE_RUNNING.load(Relaxed) {
        // Its file, older than the one saved now, is never renamed over it (see `write_file`).
        tracing::warn!("There is a child saving an .rdb. Killing it!");
    }
    if (save_points && !flags.nosave) || flags.save {
        tracing::info!("Saving the final RDB snapshot before exiting.");
        if save(router, path, Held::Shutdown).await.is_err() {
            if flags.force {
                tracing::warn!("Error trying to save the DB. Exit anyway.");
            } else {
                tracing::warn!("Error trying to save the DB, can't exit.");
                tracing::warn!(
                    "Errors trying to shut down the server. Check the logs for more information."
                );
                return false;
            }
        }
    }
    super::aof::sync_for_exit().await;
    remove_temp_files();
    tracing::warn!("ringkv is now ready to exit, bye bye...");
    true
}

/// A signal's shutdown request: its flags, and where to say whether to exit.
type Request = (ShutdownFlags, oneshot::Sender<bool>);

static REQUESTS: OnceLock<mpsc::UnboundedSender<Request>> = OnceLock::new();

/// Asks the thread serving [`serve_shutdown_requests`] to shut down with `flags`: the
/// receiver says true when the process may exit (the save, if any, is on disk).
pub fn request_shutdown(flags: ShutdownFlags) -> oneshot::Receiver<bool> {
    let (tx, rx) = oneshot::channel();
    if let Some(requests) = REQUESTS.get() {
        let _ = requests.send((flags, tx));
    } else {
        let _ = tx.send(true);
    }
    rx
}

/// Serves shutdown requests from the signal handler (on thread 0, for the life of the process).
pub async fn serve_shutdown_requests(
    router: Router,
    state: std::sync::Arc<crate::state::ServerState>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    if REQUESTS.set(tx).is_err() {
        return;
    }
    while let Some((flags, reply)) = rx.recv().await {
        let exit = shutdown(&router, &state.config, flags).await;
        let _ = reply.send(exit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_background_cut_of_many_megabytes_decodes_to_the_keys_at_the_cut() {
        let mut shard = Shard::new(0, 2);
        shard.select(1);
        let value = vec![b'v'; 100];
        for i in 0..40_000 {
            shard.store_str(format!("key:{i}").as_bytes(), &value, 0);
        }
        shard.store_str(b"volatile", b"x", u64::MAX / 2);
        assert!(shard.begin_snapshot(crate::shard::unix_ms(), rdb::encode_slot));
        // Changed after the cut: the file holds what was there before.
        shard.store_str(b"key:7", b"changed", 0);
        shard.delete(b"key:8");
        shard.store_str(b"new", b"x", 0);
        while !shard.snapshot_step(Duration::from_micros(100)) {}
        let parts = vec![shard.take_snapshot()];
        assert!(parts[0][1].1.len() > 4 << 20, "several sealed buffers");
        let library = Bytes::from_static(b"#!lua name=l\nredis.register_function('f', print)");
        let file = Encoded {
            parts,
            libraries: vec![library.clone()],
            number: 1,
            changes: 0,
            replication: None,
        }
        .into_file();
        let (records, libraries) = rdb::decode_all(&file).unwrap();
        assert_eq!(libraries, vec![library]);
        assert_eq!(records.len(), 40_001);
        assert!(records.iter().all(|r| r.db == 1));
        let mut keys: Vec<&[u8]> = records.iter().map(|r| &r.key[..]).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 40_001);
        for r in &records {
            match (&r.key[..], &r.value) {
                (b"volatile", _) => assert_eq!(r.expire_at, u64::MAX / 2),
                (_, rdb::Loaded::Str(s)) => assert_eq!(&s[..], &value[..]),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
