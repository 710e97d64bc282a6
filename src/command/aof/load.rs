//! Loading a multi-part AOF at start: the base (an RDB preamble or commands), then each
//! incremental file, replayed into one shard that owns every slot (so any command, even one
//! whose keys span shards, is one `run_op`), then split per owning shard as an RDB load is.
//! A torn tail of the last file is cut when `aof-load-truncated` allows it, as Redis does.
//! The replaying shard's clock stands at 0, so nothing expires while the files load (as in
//! Redis); files hold absolute times only, as Redis and ringkv write relative ones.

use std::path::Path;

use bytes::Bytes;

use super::manifest::{FileType, Manifest};
use crate::command::dispatch::run_op;
use crate::command::persist::{restore_value, Restored};
use crate::command::table::lookup_original as lookup;
use crate::command::{Args, Kind};
use crate::config::Config;
use crate::protocol::Reply;
use crate::shard::slot::SLOTS;
use crate::shard::{Entry, Shard, SlotTable};

/// The most arguments and the longest argument a loaded command may have (Redis's own limits
/// are the configured bulk length; these bound what a corrupt file can make us allocate).
const MAX_ARGS: usize = 1 << 20;
const MAX_BULK: usize = 512 << 20;

/// What parsing a file of commands found at its end.
enum Tail {
    /// Every command complete.
    Clean,
    /// Cut short at this offset (the start of the incomplete command or transaction).
    Truncated(usize),
}

/// Replays the base and incremental files `manifest` names into per-shard key lists. None
/// when it names none. Every file named must exist (an empty one is fine), as in Redis.
pub fn load(
    config: &Config,
    dir: &Path,
    manifest: &Manifest,
    shards: usize,
) -> Result<Option<Vec<Restored>>, String> {
    let files: Vec<_> = manifest
        .files
        .iter()
        .filter(|f| f.kind != FileType::History)
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    let mut contents = Vec::with_capacity(files.len());
    for file in &files {
        match std::fs::read(dir.join(&file.name)) {
            Ok(data) => contents.push(data),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "The append log file {} doesn't exist: {}",
                    file.name,
                    crate::state::strerror(&e)
                ))
            }
            Err(e) => {
                return Err(format!(
                    "Fatal error: can't open the append log file {} for reading: {}",
                    file.name,
                    crate::state::strerror(&e)
                ))
            }
        }
    }
    let started = std::time::Instant::now();
    let databases = config.int("databases") as usize;
    let mut shard = Shard::new(0, databases).with_shards(1);
    shard.freeze_clock(0);
    let mut loader = Loader {
        shard,
        db: 0,
        databases,
        panic_on_error: config.get("propagation-error-behavior") == "panic",
    };
    let last = files.len() - 1;
    for (index, (file, data)) in files.iter().zip(&contents).enumerate() {
        let path = dir.join(&file.name);
        let begun = std::time::Instant::now();
        let mut from = 0;
        if data.starts_with(b"REDIS") {
            tracing::info!("Reading RDB base file on AOF loading...");
            from = loader
                .rdb(data)
                .map_err(|e| format!("{}: {e}", file.name))?;
            tracing::info!("Reading the remaining AOF tail...");
        }
        match loader
            .commands(data, from)
            .map_err(|e| format!("{e} reading the append only file {}", file.name))?
        {
            Tail::Clean => {}
            Tail::Truncated(at) => truncated(config, &path, &file.name, at, index == last)?,
        }
        let kind = if file.kind == FileType::Base {
            "base"
        } else {
            "incr"
        };
        if !data.is_empty() {
            tracing::info!(
                "DB loaded from {kind} file {}: {:.3} seconds",
                file.name,
                begun.elapsed().as_secs_f64()
            );
        }
    }
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(Some(loader.split(shards)))
}

/// A torn tail: cut (and say so) when it is the last file and `aof-load-truncated` is yes.
fn truncated(
    config: &Config,
    path: &Path,
    name: &str,
    at: usize,
    last: bool,
) -> Result<(), String> {
    if !last || config.get("aof-load-truncated") != "yes" {
        return Err(format!(
            "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
        ));
    }
    tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
    tracing::warn!("!!! Truncating the AOF {name} at offset {at} !!!");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| format!("Error truncating the AOF file {name}: {e}"))?;
    file.set_len(at as u64)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("Error truncating the AOF file {name}: {e}"))?;
    tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
    Ok(())
}

struct Loader {
    shard: Shard,
    db: usize,
    databases: usize,
    /// `propagation-error-behavior panic`: a command answering an error stops the load.
    panic_on_error: bool,
}

impl Loader {
    /// Loads an RDB preamble; returns where the commands after it start.
    fn rdb(&mut self, data: &[u8]) -> Result<usize, String> {
        let (records, libraries, end) = crate::rdb::decode_preamble(data)?;
        crate::command::scripting::function::load_libraries(libraries)?;
        for record in records {
            if record.db >= self.databases {
                return Err("the base was written with more databases than configured".into());
            }
            let Some(value) = restore_value(record.value) else {
                continue;
            };
            let entry = Entry {
                value,
                expire_at: record.expire_at,
                touched: 0,
            };
            self.shard.db_at(record.db).insert(&record.key, entry);
        }
        Ok(end)
    }

    /// Replays a file of commands; a MULTI without its EXEC at the end counts as torn.
    fn commands(&mut self, data: &[u8], from: usize) -> Result<Tail, String> {
        let mut at = from;
        let mut multi: Option<(usize, Vec<Vec<Bytes>>)> = None;
        while at < data.len() {
            if data[at] == b'#' {
                // An annotation (`#TS:...`): skipped to the end of its line, as Redis does.
                match data[at..].iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        at += end + 1;
                        continue;
                    }
                    None => return Ok(Tail::Truncated(multi.map_or(at, |(m, _)| m))),
                }
            }
            let start = at;
            let Some((items, next)) = parse(data, at)? else {
                return Ok(Tail::Truncated(multi.map_or(start, |(m, _)| m)));
            };
            at = next;
            let name = items[0].to_ascii_lowercase();
            match (&name[..], &mut multi) {
                (b"multi", None) => multi = Some((start, Vec::new())),
                (b"exec", Some(_)) => {
                    if let Some((_, queued)) = multi.take() {
                        for items in queued {
                            self.apply(items)?;
                        }
                    }
                }
                (_, Some((_, queued))) => queued.push(items),
                _ => self.apply(items)?,
            }
        }
        Ok(match multi {
            Some((start, _)) => Tail::Truncated(start),
            None => Tail::Clean,
        })
    }

    fn apply(&mut self, items: Vec<Bytes>) -> Result<(), String> {
        let name = items[0].to_ascii_lowercase();
        let int =
            |i: usize| -> Option<usize> { std::str::from_utf8(items.get(i)?).ok()?.parse().ok() };
        match &name[..] {
            b"select" => {
                self.db = int(1)
                    .filter(|&db| db < self.databases)
                    .ok_or("Bad SELECT in the AOF")?;
            }
            b"flushall" => (0..self.databases).for_each(|db| self.shard.db_at(db).clear()),
            b"flushdb" => self.shard.db_at(self.db).clear(),
            b"function" => crate::command::scripting::function::replay(&items),
            b"swapdb" => match (int(1), int(2)) {
                (Some(a), Some(b)) if a < self.databases && b < self.databases => {
                    if a != b {
                        self.shard.swap_dbs(a, b)
                    }
                }
                _ => return Err("Bad SWAPDB in the AOF".into()),
            },
            _ => {
                let Some((_, spec)) = lookup(&items[0]) else {
                    return Err(format!(
                        "Unknown command '{}'",
                        String::from_utf8_lossy(&items[0])
                    ));
                };
                let spec = spec.resolve(&items);
                let Kind::Keyed(op, _) = spec.kind else {
                    tracing::warn!(
                        "AOF: skipped '{}', which changes no key",
                        String::from_utf8_lossy(&items[0])
                    );
                    return Ok(());
                };
                if !spec.arity_ok(items.len()) {
                    return Err(format!("Wrong number of arguments for '{}'", spec.name));
                }
                let reply = run_op(
                    &mut self.shard,
                    self.db,
                    spec,
                    op,
                    &mut Args::of(spec, items),
                );
                if let Reply::Error(e) = reply {
                    tracing::warn!(
                        "== CRITICAL == This server is sending an error to its AOF-loading-client: '{e}' after processing the command '{}'",
                        spec.name
                    );
                    crate::command::replication::replica_apply::count_unexpected_error();
                    if self.panic_on_error {
                        return Err(format!(
                            "This server panicked sending an error to its AOF-loading-client after processing the command '{}'",
                            spec.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The loaded keys, split per owning shard; expired ones are dropped.
    fn split(mut self, shards: usize) -> Vec<Restored> {
        let table = SlotTable::new(shards);
        let now = crate::shard::unix_ms();
        let mut per_shard: Vec<Restored> = (0..shards).map(|_| Vec::new()).collect();
        for db in 0..self.databases {
            let store = self.shard.db_at(db);
            for slot in 0..SLOTS {
                let keys: Vec<Bytes> = store
                    .slot_entries(slot)
                    .filter(|r| r.is_live(now))
                    .map(|r| Bytes::copy_from_slice(r.key()))
                    .collect();
                for key in keys {
                    if let Some(record) = store.remove(&key) {
                        per_shard[table.shard_of(&key)].push((db, key, record.into_entry()));
                    }
                }
            }
        }
        per_shard
    }
}

/// Reads one RESP array of bulk strings at `at`: the arguments and where the next starts;
/// None when the data ends inside it; Err on anything that is not such an array.
pub fn parse(data: &[u8], at: usize) -> Result<Option<(Vec<Bytes>, usize)>, String> {
    let bad = || "Bad file format".to_string();
    let line = |from: usize| -> Result<Option<(usize, usize)>, String> {
        let Some(end) = data[from.min(data.len())..]
            .windows(2)
            .position(|w| w == b"\r\n")
        else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&data[from + 1..from + end]).map_err(|_| bad())?;
        let n: usize = text.parse().map_err(|_| bad())?;
        Ok(Some((n, from + end + 2)))
    };
    if data.get(at) != Some(&b'*') {
        return Err(bad());
    }
    let Some((count, mut pos)) = line(at)? else {
        return Ok(None);
    };
    if count == 0 || count > MAX_ARGS {
        return Err(bad());
    }
    let mut items = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        match data.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(_) => return Err(bad()),
        }
        let Some((len, start)) = line(pos)? else {
            return Ok(None);
        };
        if len > MAX_BULK {
            return Err(bad());
        }
        if data.len() < start + len + 2 {
            return Ok(None);
        }
        if &data[start + len..start + len + 2] != b"\r\n" {
            return Err(bad());
        }
        items.push(Bytes::copy_from_slice(&data[start..start + len]));
        pos = start + len + 2;
    }
    Ok(Some((items, pos)))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_command_cut_anywhere_is_incomplete_not_an_error() {
        let whole = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2\r\n10\r\n";
        let (items, next) = parse(whole, 0).unwrap().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(next, whole.len());
        for cut in 1..whole.len() {
            assert!(parse(&whole[..cut], 0).unwrap().is_none(), "cut at {cut}");
        }
        assert!(parse(b"+OK\r\n", 0).is_err());
        assert!(parse(b"*1\r\n$1\r\naXY", 0).is_err());
    }
}
