//! The append-only file, Redis 7's multi-part form: in `dir`/`appenddirname`, a manifest, a
//! base (an RDB preamble, or commands with `aof-use-rdb-preamble no`) and incremental files of
//! commands. A consumer of the change stream (`shard::journal`), as replication is: a writer thread
//! drains every shard's journal, writes, and fsyncs as `appendfsync` says (`always`: before
//! any reply of a batch that wrote is sent, see `durable`; `everysec`: once a second; `no`:
//! never itself). BGREWRITEAOF takes a snapshot with every shard held and, at that same cut,
//! starts a new incremental file; the base is written in the background and the manifest then
//! names the new base and the new incremental file only.

mod load;
pub mod manifest;
mod streams;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use manifest::{FileEntry, FileType, Manifest};

use super::persist::Restored;
use super::table::{flags, row, CommandSpec, NOKEY};
use super::{error, Args, CmdResult, Kind, Session};
use crate::config::Config;
use crate::protocol::Reply;
use crate::rdb::{self, DbPart, FileWriter};
use crate::shard::journal::{self, Consumer, Output, Stream};
use crate::shard::{Router, Shard};

pub static COMMANDS: &[CommandSpec] = &[row(
    "bgrewriteaof",
    1,
    flags!(ADMIN | NOSCRIPT | NO_ASYNC_LOADING),
    NOKEY,
    Kind::Routed(bgrewriteaof),
    "server",
    "1.0.0",
    "Asynchronously rewrites the append-only file to disk.",
    "",
)];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fsync {
    Always,
    EverySec,
    No,
}

/// The open AOF: where it lives and the incremental file being appended.
struct Aof {
    dir: PathBuf,
    name: String,
    manifest: Manifest,
    stream: Arc<Stream>,
    incr: File,
    out: Output,
    fsync: Fsync,
    last_fsync: Instant,
    unsynced: bool,
    /// Bytes of the base and of the incremental files, for INFO and auto-rewrite.
    base_size: u64,
    incr_size: u64,
    /// The size after the last rewrite (or load), auto-rewrite's reference.
    rewrite_base: u64,
    last_write_ok: bool,
    /// `aof-timestamp-enabled`, and the second of the last annotation written.
    timestamps: bool,
    last_timestamp: u64,
}

static AOF: Mutex<Option<Aof>> = Mutex::new(None);
static REWRITING: AtomicBool = AtomicBool::new(false);
static LAST_REWRITE_OK: AtomicBool = AtomicBool::new(true);
static REWRITES: AtomicU64 = AtomicU64::new(0);
/// DEBUG AOF-FLUSH-SLEEP: microseconds the writer sleeps before writing what it has.
static FLUSH_SLEEP_US: AtomicU64 = AtomicU64::new(0);
static LAST_REWRITE_SECS: AtomicU64 = AtomicU64::new(u64::MAX);
/// `appendfsync always` is on: connections wait for `durable` after writing.
static ALWAYS: AtomicBool = AtomicBool::new(false);
/// Durability requests (`durable`) and the last one fulfilled.
static REQUESTED: AtomicU64 = AtomicU64::new(0);
static WAKE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());
static SYNCED: OnceLock<tokio::sync::watch::Sender<u64>> = OnceLock::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn synced() -> &'static tokio::sync::watch::Sender<u64> {
    SYNCED.get_or_init(|| tokio::sync::watch::channel(0).0)
}

fn dir_of(config: &Config) -> PathBuf {
    PathBuf::from(config.get("dir")).join(config.get("appenddirname"))
}

fn fsync_of(config: &Config) -> Fsync {
    match config.get("appendfsync") {
        "always" => Fsync::Always,
        "no" => Fsync::No,
        _ => Fsync::EverySec,
    }
}

/// Options whose effect differs from Redis's, said at start.
pub fn check_options(config: &Config) -> Result<(), String> {
    if config.get("no-appendfsync-on-rewrite") == "yes" {
        tracing::warn!("no-appendfsync-on-rewrite yes has no effect: the AOF is fsynced as appendfsync says during rewrites too");
    }
    Ok(())
}

/// At start with `appendonly yes`: loads the AOF (the RDB file is then not read, as Redis),
/// moving an old-style single AOF into the directory first; with no AOF, writes an empty
/// base; opens the last incremental file or a new one; attaches the change stream and starts
/// the writer. The shards get their journals from `journal::current()` when they are built.
/// The errors are Redis's fatal start-up errors.
pub fn start(config: &Config, shards: usize) -> Result<Vec<Restored>, String> {
    let dir = dir_of(config);
    let name = config.get("appendfilename").to_string();
    let mut manifest = on_disk(config)?;
    upgrade(config, &dir, &name, &mut manifest)?;
    let loaded = load::load(config, &dir, &manifest, shards)?;
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    if manifest.base().is_none() && manifest.last_incr().is_none() {
        // A new AOF: an empty base, as a rewrite of the empty dataset writes it.
        let seq = manifest.top_seq(FileType::Base) + 1;
        let base = write_base(&dir, &name, seq, empty_snapshot(config), config)
            .map_err(|e| format!("Can't create the AOF base: {e}"))?;
        tracing::info!("Creating AOF base file {} on server start", base.name);
        manifest.files.insert(0, base);
    }
    match manifest.last_incr() {
        Some(incr) => tracing::info!("Opening AOF incr file {} on server start", incr.name),
        None => {
            let seq = manifest.top_seq(FileType::Incr) + 1;
            let incr = format!("{name}.{seq}.incr.aof");
            tracing::info!("Creating AOF incr file {incr} on server start");
            manifest.files.push(FileEntry {
                name: incr,
                seq,
                kind: FileType::Incr,
            });
        }
    }
    manifest
        .write(&dir, &name)
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    open(config, dir, name, manifest, shards).map_err(|e| format!("Can't open the AOF: {e}"))?;
    Ok(loaded.unwrap_or_else(|| (0..shards).map(|_| Vec::new()).collect()))
}

/// An `appendfilename` in `dir` is a single AOF of Redis before 7.0. It becomes the base of
/// a manifest in `appenddirname` when there is no directory, no manifest naming a file, or
/// a manifest naming only it as its base while the directory does not hold it (an upgrade
/// cut short before the move), as Redis upgrades it.
fn upgrade(config: &Config, dir: &Path, name: &str, manifest: &mut Manifest) -> Result<(), String> {
    let old = Path::new(config.get("dir")).join(name);
    if !old.is_file() {
        return Ok(());
    }
    let has_incr = manifest.last_incr().is_some();
    let needed = !dir.is_dir()
        || (manifest.base().is_none() && !has_incr)
        || (manifest.base().is_some_and(|b| b.name == name)
            && !has_incr
            && !dir.join(name).exists());
    if !needed {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    manifest.files.retain(|f| f.kind != FileType::Base);
    manifest.files.insert(
        0,
        FileEntry {
            name: name.to_string(),
            seq: 1,
            kind: FileType::Base,
        },
    );
    manifest
        .write(dir, name)
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    std::fs::rename(&old, dir.join(name)).map_err(|e| {
        format!(
            "Error trying to move the old AOF file {name} into dir {}: {e}",
            config.get("appenddirname")
        )
    })?;
    tracing::info!(
        "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({}).",
        config.get("appenddirname")
    );
    Ok(())
}

/// Opens the last incremental file for appending, attaches a stream, starts the writer.
fn open(
    config: &Config,
    dir: PathBuf,
    name: String,
    manifest: Manifest,
    shards: usize,
) -> std::io::Result<()> {
    // Enabled at run time, the AOF appends to a temporary file the manifest does not name
    // until the first rewrite's cut starts the first incremental file, as Redis does.
    let incr_name = manifest
        .last_incr()
        .map_or_else(|| temp_incr_of(&name), |f| f.name.clone());
    let incr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(&incr_name))?;
    let size = |f: &FileEntry| std::fs::metadata(dir.join(&f.name)).map_or(0, |m| m.len());
    let base_size = manifest.base().map_or(0, size);
    let incr_size: u64 = manifest
        .files
        .iter()
        .filter(|f| f.kind == FileType::Incr)
        .map(size)
        .sum();
    let (stream, _) = journal::attach(Consumer::Aof, shards);
    let fsync = fsync_of(config);
    ALWAYS.store(fsync == Fsync::Always, Relaxed);
    *lock(&AOF) = Some(Aof {
        dir,
        name,
        manifest,
        stream,
        incr,
        out: Output::default(),
        fsync,
        last_fsync: Instant::now(),
        unsynced: false,
        base_size,
        incr_size,
        rewrite_base: base_size + incr_size,
        last_write_ok: true,
        timestamps: timestamps_of(config),
        last_timestamp: 0,
    });
    start_writer();
    Ok(())
}

fn start_writer() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.swap(true, SeqCst) {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("ringkv-aof".into())
        .spawn(writer);
}

/// The writer thread: drains the stream every few milliseconds (at once when a connection
/// waits for `always`), writes, and fsyncs as the policy says.
fn writer() {
    loop {
        {
            let (flag, wake) = &WAKE;
            let guard = lock(flag);
            let (mut guard, _) = wake
                .wait_timeout_while(guard, Duration::from_millis(5), |woken| !*woken)
                .unwrap_or_else(|p| p.into_inner());
            *guard = false;
        }
        let requested = REQUESTED.load(SeqCst);
        let mut aof = lock(&AOF);
        let Some(aof) = aof.as_mut() else {
            synced().send_replace(requested);
            continue;
        };
        aof.flush();
        let due = match aof.fsync {
            Fsync::Always => true,
            Fsync::EverySec => aof.last_fsync.elapsed() >= Duration::from_secs(1),
            Fsync::No => false,
        };
        if aof.unsynced && due {
            aof.fsync_now();
        }
        synced().send_replace(requested);
    }
}

impl Aof {
    /// Writes what the stream holds to the incremental file.
    fn flush(&mut self) {
        self.stream.drain(Consumer::Aof, &mut self.out);
        if self.out.bytes.is_empty() {
            return;
        }
        let sleep = FLUSH_SLEEP_US.load(Relaxed);
        if sleep > 0 {
            std::thread::sleep(Duration::from_micros(sleep));
        }
        let second = crate::shard::unix_ms() / 1000;
        if self.timestamps && second != self.last_timestamp {
            self.last_timestamp = second;
            let mut annotated = timestamp_line().into_bytes();
            annotated.append(&mut self.out.bytes);
            self.out.bytes = annotated;
        }
        match self.incr.write_all(&self.out.bytes) {
            Ok(()) => {
                self.incr_size += self.out.bytes.len() as u64;
                self.unsynced = true;
                self.last_write_ok = true;
            }
            Err(e) => {
                self.last_write_ok = false;
                tracing::warn!("Error writing to the AOF file: {e}");
            }
        }
        self.out.bytes.clear();
    }

    fn fsync_now(&mut self) {
        if let Err(e) = self.incr.sync_data() {
            tracing::warn!("Can't persist the AOF, fsync: {e}");
            self.last_write_ok = false;
        }
        self.last_fsync = Instant::now();
        self.unsynced = false;
    }
}

/// True when replies of writing batches must wait for `durable` (`appendfsync always`).
#[inline]
pub fn always() -> bool {
    ALWAYS.load(Relaxed)
}

/// Waits until everything journaled before the call is written and fsynced.
pub async fn durable() {
    let target = REQUESTED.fetch_add(1, SeqCst) + 1;
    {
        let (flag, wake) = &WAKE;
        *lock(flag) = true;
        wake.notify_one();
    }
    let mut rx = synced().subscribe();
    let _ = rx.wait_for(|&done| done >= target).await;
}

/// Before the process exits: everything journaled is written and fsynced, as Redis fsyncs the
/// AOF in its shutdown; nothing to do with the AOF off.
pub async fn sync_for_exit() {
    if lock(&AOF).is_none() {
        return;
    }
    tracing::info!("Calling fsync() on the AOF file.");
    durable().await;
}

/// DEBUG AOF-FLUSH-SLEEP.
pub fn set_flush_sleep(micros: u64) {
    FLUSH_SLEEP_US.store(micros, Relaxed);
}

/// DEBUG LOADAOF's first step: what the AOF holds is written and fsynced (nothing to do
/// with the AOF off).
pub async fn flush_to_disk() {
    if lock(&AOF).is_some() {
        durable().await;
    }
}

/// The dataset the AOF's files on disk hold, per owning shard (DEBUG LOADAOF); empty when
/// there is no AOF.
pub fn read_back(config: &Config, shards: usize) -> Result<Vec<Restored>, String> {
    let manifest = on_disk(config)?;
    Ok(load::load(config, &dir_of(config), &manifest, shards)?
        .unwrap_or_else(|| (0..shards).map(|_| Vec::new()).collect()))
}

/// An RDB file of an empty dataset.
fn empty_snapshot(config: &Config) -> Vec<u8> {
    let _ = config;
    FileWriter::new(super::connection::REDIS_VERSION, 0).finish()
}

/// Writes base number `seq` (the RDB `snapshot`, or its commands without the preamble) and
/// returns its manifest entry.
fn write_base(
    dir: &Path,
    name: &str,
    seq: u64,
    snapshot: Vec<u8>,
    config: &Config,
) -> std::io::Result<FileEntry> {
    let preamble = config.get("aof-use-rdb-preamble") != "no";
    let (file_name, bytes) = if preamble {
        (format!("{name}.{seq}.base.rdb"), snapshot)
    } else {
        let mut commands = match timestamps_of(config) {
            true => timestamp_line().into_bytes(),
            false => Vec::new(),
        };
        commands.extend(commands_of(&snapshot)?);
        (format!("{name}.{seq}.base.aof"), commands)
    };
    let temp = dir.join(format!("temp-rewriteaof-{}.aof", std::process::id()));
    let mut file = File::create(&temp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, dir.join(&file_name))?;
    Ok(FileEntry {
        name: file_name,
        seq,
        kind: FileType::Base,
    })
}

/// A snapshot as the commands that rebuild it (`aof-use-rdb-preamble no`).
fn commands_of(snapshot: &[u8]) -> std::io::Result<Vec<u8>> {
    use crate::rdb::Loaded;
    let (records, libraries) = rdb::decode_all(snapshot).map_err(std::io::Error::other)?;
    let mut out = Output::default();
    let mut chunk = journal::Chunk::default();
    // The libraries first, as Redis's rewrite writes them.
    for code in &libraries {
        chunk.push_dbless(&[&b"FUNCTION"[..], b"LOAD", code]);
    }
    for r in records {
        let key = &r.key[..];
        match &r.value {
            Loaded::Str(v) => chunk.push(r.db, &[b"SET", key, v]),
            Loaded::List(items) => {
                for part in items.chunks(64) {
                    let mut c: Vec<&[u8]> = vec![b"RPUSH", key];
                    c.extend(part.iter().map(|i| &i[..]));
                    chunk.push(r.db, &c);
                }
            }
            Loaded::Set(members) => {
                for part in members.chunks(64) {
                    let mut c: Vec<&[u8]> = vec![b"SADD", key];
                    c.extend(part.iter().map(|i| &i[..]));
                    chunk.push(r.db, &c);
                }
            }
            Loaded::Hash(pairs) => {
                for part in pairs.chunks(64) {
                    let mut c: Vec<&[u8]> = vec![b"HSET", key];
                    for (f, v) in part {
                        c.push(f);
                        c.push(v);
                    }
                    chunk.push(r.db, &c);
                }
            }
            Loaded::ZSet(pairs) => {
                for part in pairs.chunks(64) {
                    let scores: Vec<String> = part.iter().map(|(_, s)| s.to_string()).collect();
                    let mut c: Vec<&[u8]> = vec![b"ZADD", key];
                    for ((m, _), s) in part.iter().zip(&scores) {
                        c.push(s.as_bytes());
                        c.push(m);
                    }
                    chunk.push(r.db, &c);
                }
            }
            Loaded::Stream(stream) => streams::rebuild(r.db, key, stream, &mut chunk),
        }
        if r.expire_at != 0 {
            chunk.push(
                r.db,
                &[b"PEXPIREAT", key, r.expire_at.to_string().as_bytes()],
            );
        }
    }
    out.append(chunk);
    Ok(out.bytes)
}

fn bgrewriteaof(
    session: &mut Session,
    args: Args,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        args.end()?;
        let config = session.server.config().clone();
        match rewrite(&session.router, config).await {
            Ok(()) => Ok(Reply::Simple(
                "Background append only file rewriting started",
            )),
            Err(e) => Err(e),
        }
    })
}

/// Starts a rewrite: the snapshot and the switch to a new incremental file at one cut, with
/// every shard held; the base is written on a background thread.
async fn rewrite(router: &Router, config: Config) -> Result<(), Reply> {
    if REWRITING.swap(true, SeqCst) {
        return Err(error(super::err::AOF_REWRITE_IN_PROGRESS));
    }
    let started = Instant::now();
    let now = crate::shard::unix_ms();
    let work: Vec<_> = (0..router.shards())
        .map(|id| {
            let job = move |s: &mut Shard| -> (Vec<DbPart>, journal::Chunk) {
                let parts = (0..s.databases())
                    .map(|db| rdb::encode_db(s.db_at(db), now))
                    .collect();
                (parts, journal::Chunk::default())
            };
            (id, job)
        })
        .collect();
    let (holding, results) = router.hold_with(work).await;
    let (parts, tails): (Vec<_>, Vec<_>) = results.into_iter().flatten().unzip();
    let cut = cut_incr(tails, &config);
    let libraries = super::scripting::function::library_codes();
    drop(holding);
    let seq = match cut {
        Ok(seq) => seq,
        Err(e) => {
            REWRITING.store(false, SeqCst);
            LAST_REWRITE_OK.store(false, SeqCst);
            tracing::warn!("Can't open new incr AOF for rewriting: {e}");
            return Err(error(super::err::AOF_REWRITE_FAILED));
        }
    };
    tracing::info!("Background append only file rewriting started");
    let spawned = std::thread::Builder::new()
        .name("ringkv-aofrw".into())
        .spawn(move || {
            let result = finish_rewrite(parts, &libraries, seq, &config);
            LAST_REWRITE_OK.store(result.is_ok(), SeqCst);
            LAST_REWRITE_SECS.store(started.elapsed().as_secs(), SeqCst);
            REWRITES.fetch_add(1, SeqCst);
            REWRITING.store(false, SeqCst);
            match result {
                Ok(()) => tracing::info!("Background AOF rewrite finished successfully"),
                Err(e) => tracing::warn!("Background AOF rewrite failed: {e}"),
            }
        });
    if spawned.is_err() {
        REWRITING.store(false, SeqCst);
        return Err(error(super::err::AOF_REWRITE_FAILED));
    }
    Ok(())
}

/// With every shard held: writes out what the stream holds, then appends to a new
/// incremental file from here on, starting with `tails` (what the base cannot hold, taken at
/// the same cut). Returns the base sequence the rewrite will write.
fn cut_incr(tails: Vec<journal::Chunk>, config: &Config) -> std::io::Result<u64> {
    let mut guard = lock(&AOF);
    let Some(aof) = guard.as_mut() else {
        // With the AOF off only a base is written (Redis rewrites then too).
        let manifest = on_disk(config).map_err(std::io::Error::other)?;
        return Ok(manifest.top_seq(FileType::Base) + 1);
    };
    aof.flush();
    aof.fsync_now();
    if aof.manifest.last_incr().is_none() {
        // Enabled at run time: the temporary file starts again at the cut and becomes the
        // first incremental file when the base is written; until then the manifest on disk
        // stays as it was.
        let temp = aof.dir.join(temp_incr_of(&aof.name));
        let _ = std::fs::remove_file(&temp);
        aof.incr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(temp)?;
    } else {
        let seq = aof.manifest.top_seq(FileType::Incr) + 1;
        let name = format!("{}.{seq}.incr.aof", aof.name);
        let incr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(aof.dir.join(&name))?;
        let mut manifest = aof.manifest.clone();
        manifest.files.push(FileEntry {
            name,
            seq,
            kind: FileType::Incr,
        });
        manifest.write(&aof.dir, &aof.name)?;
        aof.manifest = manifest;
        aof.incr = incr;
    }
    // A new file's reader starts without a database: the next chunk selects one.
    aof.out.db = None;
    for tail in tails {
        aof.out.append(tail);
    }
    Ok(aof.manifest.top_seq(FileType::Base) + 1)
}

/// In the background: the base from the snapshot, then a manifest naming it and the
/// incremental file opened at the cut; the files it replaces are deleted.
fn finish_rewrite(
    parts: Vec<Vec<DbPart>>,
    libraries: &[bytes::Bytes],
    seq: u64,
    config: &Config,
) -> std::io::Result<()> {
    let used = parts.iter().flatten().map(|p| p.records.len() as u64).sum();
    let mut writer = FileWriter::new(super::connection::REDIS_VERSION, used);
    writer.functions(libraries);
    let databases = parts.iter().map(Vec::len).max().unwrap_or(0);
    for db in 0..databases {
        let of_db: Vec<&DbPart> = parts.iter().filter_map(|p| p.get(db)).collect();
        writer.database(db, &of_db);
    }
    let snapshot = writer.finish();
    let (dir, name) = {
        let guard = lock(&AOF);
        match guard.as_ref() {
            Some(aof) => (aof.dir.clone(), aof.name.clone()),
            None => {
                drop(guard);
                return base_alone(snapshot, seq, config);
            }
        }
    };
    let base = write_base(&dir, &name, seq, snapshot, config)?;
    let mut guard = lock(&AOF);
    let aof = guard
        .as_mut()
        .ok_or_else(|| std::io::Error::other("AOF is off"))?;
    let current = match aof.manifest.last_incr() {
        Some(incr) => incr.clone(),
        None => {
            let seq = aof.manifest.top_seq(FileType::Incr) + 1;
            let incr = FileEntry {
                name: format!("{name}.{seq}.incr.aof"),
                seq,
                kind: FileType::Incr,
            };
            std::fs::rename(dir.join(temp_incr_of(&name)), dir.join(&incr.name))?;
            incr
        }
    };
    let current = Some(current);
    let old: Vec<String> = aof
        .manifest
        .files
        .iter()
        .filter(|f| Some(*f) != current.as_ref())
        .map(|f| f.name.clone())
        .collect();
    let mut manifest = Manifest::default();
    manifest.files.push(base.clone());
    manifest.files.extend(current.clone());
    manifest.write(&dir, &name)?;
    aof.manifest = manifest;
    aof.base_size = std::fs::metadata(dir.join(&base.name)).map_or(0, |m| m.len());
    aof.incr_size = current.map_or(0, |c| {
        std::fs::metadata(dir.join(&c.name)).map_or(0, |m| m.len())
    });
    aof.rewrite_base = aof.base_size + aof.incr_size;
    for file in old {
        let _ = std::fs::remove_file(dir.join(file));
    }
    Ok(())
}

/// A rewrite with the AOF off: the directory's manifest then names the new base alone, and
/// the files it named before are deleted, as Redis leaves it.
fn base_alone(snapshot: Vec<u8>, seq: u64, config: &Config) -> std::io::Result<()> {
    let dir = dir_of(config);
    let name = config.get("appendfilename");
    std::fs::create_dir_all(&dir)?;
    let old = on_disk(config).map_err(std::io::Error::other)?;
    let base = write_base(&dir, name, seq, snapshot, config)?;
    Manifest {
        files: vec![base.clone()],
    }
    .write(&dir, name)?;
    for file in old.files.iter().filter(|f| f.name != base.name) {
        let _ = std::fs::remove_file(dir.join(&file.name));
    }
    Ok(())
}

/// The manifest in the AOF directory (empty when there is none).
fn on_disk(config: &Config) -> Result<Manifest, String> {
    let dir = dir_of(config);
    match dir.is_dir() {
        true => Ok(Manifest::read(&dir, config.get("appendfilename"))?.unwrap_or_default()),
        false => Ok(Manifest::default()),
    }
}

/// The file the AOF appends to between CONFIG SET appendonly yes and its first rewrite.
fn temp_incr_of(name: &str) -> String {
    format!("temp-{name}.incr")
}

/// CONFIG SET appendonly: yes attaches the stream and starts a rewrite (the base is the
/// snapshot, the stream before it is dropped); no detaches it and closes the files.
pub fn set_appendonly(session: &Session, on: bool) {
    let config = session.server.config().clone();
    let router = session.router.clone();
    let shards = router.shards();
    if on == lock(&AOF).is_some() {
        return;
    }
    if !on {
        // Replication may still read the stream: the shards keep their journals then.
        let last = journal::detach(Consumer::Aof);
        ALWAYS.store(false, Relaxed);
        tokio::task::spawn_local(async move {
            if last {
                router.run_all(|s| s.set_journal(None)).await;
            }
            if let Some(mut aof) = lock(&AOF).take() {
                aof.flush();
                aof.fsync_now();
            }
        });
        return;
    }
    tokio::task::spawn_local(async move {
        let dir = dir_of(&config);
        let name = config.get("appendfilename").to_string();
        let setup = std::fs::create_dir_all(&dir).and_then(|()| {
            let mut manifest = Manifest::read(&dir, &name)
                .map_err(std::io::Error::other)?
                .unwrap_or_default();
            // The incremental files written before it was turned off are not replayed
            // after the rewrite's base: they are history.
            for file in &mut manifest.files {
                if file.kind == FileType::Incr {
                    file.kind = FileType::History;
                }
            }
            open(&config, dir.clone(), name.clone(), manifest, shards)
        });
        if let Err(e) = setup {
            tracing::warn!("Can't open the append-only file: {e}");
            return;
        }
        if let Some(stream) = journal::current() {
            router
                .run_all(move |s: &mut Shard| {
                    let id = s.id();
                    s.set_journal(stream.journal_of(id));
                })
                .await;
        }
        // What was journaled before the cut is in the snapshot: the rewrite's cut drops it
        // from the first incremental file, which the new manifest then leaves out.
        if let Err(e) = rewrite(&router, config).await {
            tracing::warn!("Can't start the AOF rewrite: {e:?}");
        }
    });
}

/// Makes `appendfsync` current at once (CONFIG SET): the next writing batch under `always`
/// waits for everything journaled before it.
pub fn apply_fsync(config: &Config) {
    let policy = fsync_of(config);
    if let Some(aof) = lock(&AOF).as_mut() {
        aof.fsync = policy;
        aof.timestamps = timestamps_of(config);
        ALWAYS.store(policy == Fsync::Always, Relaxed);
    }
}

fn timestamps_of(config: &Config) -> bool {
    config.get("aof-timestamp-enabled") == "yes"
}

/// `#TS:<unix seconds>`, the annotation Redis writes before the commands of a new second
/// with `aof-timestamp-enabled` (redis-check-aof --truncate-to-timestamp cuts at them).
fn timestamp_line() -> String {
    format!("#TS:{}\r\n", crate::shard::unix_ms() / 1000)
}

/// Maintenance tick (thread 0): keeps `appendfsync` current and starts an automatic rewrite
/// when the AOF grew by `auto-aof-rewrite-percentage` over its size after the last one.
pub fn tick(router: &Router, config: &Config) {
    let policy = fsync_of(config);
    let due = {
        let mut guard = lock(&AOF);
        let Some(aof) = guard.as_mut() else {
            return;
        };
        aof.fsync = policy;
        ALWAYS.store(policy == Fsync::Always, Relaxed);
        let percentage = config.int("auto-aof-rewrite-percentage").max(0) as u64;
        let min = config.int("auto-aof-rewrite-min-size").max(0) as u64;
        let size = aof.base_size + aof.incr_size;
        let base = aof.rewrite_base.max(1);
        percentage > 0 && size >= min && (size.saturating_sub(base)) * 100 / base >= percentage
    };
    if due && !REWRITING.load(SeqCst) {
        tracing::info!("Starting automatic rewriting of AOF");
        let (router, config) = (router.clone(), config.clone());
        tokio::task::spawn_local(async move {
            let _ = rewrite(&router, config).await;
        });
    }
}

/// Bytes of the change stream the AOF has not written yet: Redis's `aof_buf`, which eviction
/// does not count (`mem_not_counted_for_evict`). 0 without an AOF.
pub fn not_counted_for_evict() -> u64 {
    lock(&AOF)
        .as_ref()
        .map_or(0, |aof| aof.stream.pending() as u64)
}

/// INFO persistence's aof fields, in Redis's order.
pub fn info() -> Vec<(&'static str, String)> {
    let guard = lock(&AOF);
    let ok = |b: bool| if b { "ok" } else { "err" }.to_string();
    let last = LAST_REWRITE_SECS.load(Relaxed);
    let mut lines = vec![
        ("aof_enabled", (guard.is_some() as u8).to_string()),
        (
            "aof_rewrite_in_progress",
            (REWRITING.load(Relaxed) as u8).to_string(),
        ),
        ("aof_rewrite_scheduled", "0".into()),
        (
            "aof_last_rewrite_time_sec",
            if last == u64::MAX {
                "-1".into()
            } else {
                last.to_string()
            },
        ),
        ("aof_current_rewrite_time_sec", "-1".into()),
        (
            "aof_last_bgrewrite_status",
            ok(LAST_REWRITE_OK.load(Relaxed)),
        ),
        ("aof_rewrites", REWRITES.load(Relaxed).to_string()),
        ("aof_rewrites_consecutive_failures", "0".into()),
        (
            "aof_last_write_status",
            ok(guard.as_ref().is_none_or(|a| a.last_write_ok)),
        ),
        ("aof_last_cow_size", "0".into()),
    ];
    if let Some(aof) = guard.as_ref() {
        lines.extend([
            (
                "aof_current_size",
                (aof.base_size + aof.incr_size).to_string(),
            ),
            ("aof_base_size", aof.base_size.to_string()),
            ("aof_pending_rewrite", "0".into()),
            ("aof_buffer_length", aof.stream.pending().to_string()),
            ("aof_pending_bio_fsync", "0".into()),
            ("aof_delayed_fsync", "0".into()),
        ]);
    }
    lines
}
