//! Generic key commands: DEL, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME, COPY, MOVE, OBJECT.
//! Whole-keyspace ones fan out to every shard; two-key ones hold both shards when they differ.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::args::{parse_int, ScanOptions, ScanType};
use super::set::scan_reply;
use super::table::{
    access, cats, container, flags, keyed, routine, row, split, CommandSpec, KEY1, KEY12, KEYS_ALL,
    NOKEY, SUBKEY,
};
use super::{err, error, Args, CmdResult, Session};
use super::{Kind, Merge};
use crate::glob::glob_match;
use crate::protocol::Reply;
use crate::pubsub::notify::GENERIC;
use crate::shard::record::idle_at;
use crate::shard::{lfu, memory, slot, Entry, Shard, ShardId, ValueRef};

use super::notify;

/// The generic keys commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("del", -2, flags!(WRITE), KEYS_ALL, split(del, Merge::Sum, false), "generic", "1.0.0", "Deletes one or more keys.", "key [key ...]").access(access!(RM | DELETE)),
    row("unlink", -2, flags!(WRITE | FAST), KEYS_ALL, split(del, Merge::Sum, false), "generic", "4.0.0", "Asynchronously deletes one or more keys.", "key [key ...]").access(access!(RM | DELETE)),
    row("exists", -2, flags!(READONLY | FAST), KEYS_ALL, split(exists, Merge::Sum, false), "generic", "1.0.0", "Determines whether one or more keys exist.", "key [key ...]").access(access!(RO)),
    row("touch", -2, flags!(READONLY | FAST), KEYS_ALL, split(touch, Merge::Sum, false), "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "key [key ...]").access(access!(RO)),
    row("type", 2, flags!(READONLY | FAST), KEY1, keyed(type_), "generic", "1.0.0", "Determines the type of value stored at a key.", "key").access(access!(RO)),
    row("keys", 2, flags!(READONLY), NOKEY, Kind::Routed(keys), "generic", "1.0.0", "Returns all key names that match a pattern.", "pattern").with_acl(cats!(DANGEROUS)),
    row("scan", -2, flags!(READONLY), NOKEY, Kind::Routed(scan), "generic", "2.8.0", "Iterates over the key names in the database.", "cursor [MATCH pattern] [COUNT count] [TYPE type]"),
    row("randomkey", 1, flags!(READONLY), NOKEY, Kind::Routed(randomkey), "generic", "1.0.0", "Returns a random key name from the database.", ""),
    row("rename", 3, flags!(WRITE), KEY12, routine(rename, rename_cross), "generic", "1.0.0", "Renames a key and overwrites the destination.", "key newkey").access_split(access!(RW | ACCESS | DELETE), access!(OW | UPDATE)),
    row("renamenx", 3, flags!(WRITE | FAST), KEY12, routine(renamenx, renamenx_cross), "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", "key newkey").access_split(access!(RW | ACCESS | DELETE), access!(OW | INSERT)),
    row("copy", -3, flags!(WRITE | DENYOOM), KEY12, routine(copy, copy_cross), "generic", "6.2.0", "Copies the value of a key to a new key.", "source destination [DB destination-db] [REPLACE]").access_split(access!(RO | ACCESS), access!(OW | UPDATE)),
    row("move", 3, flags!(WRITE | FAST), KEY1, keyed(move_), "generic", "1.0.0", "Moves a key to another database.", "key db").access(access!(RW | ACCESS | UPDATE)),
    container("object", "generic", "2.2.3", "A container for object introspection commands", OBJECT_SUBCOMMANDS),
    container("memory", "server", "4.0.0", "A container for memory diagnostics commands", MEMORY_SUBCOMMANDS),
];

#[rustfmt::skip]
static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    row("memory|usage", -3, flags!(READONLY), SUBKEY, keyed(memory), "server", "4.0.0", "Estimate the memory usage of a key", "").outside_family().access(access!(RO)),
    row("memory|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(memory_help), "server", "4.0.0", "Show helpful text about the different subcommands", "").outside_family(),
    row("memory|stats", 2, flags!(), NOKEY, Kind::Routed(super::memory::stats), "server", "4.0.0", "Show memory usage details", "").outside_family(),
    row("memory|doctor", 2, flags!(), NOKEY, Kind::Routed(super::memory::doctor), "server", "4.0.0", "Outputs memory problems report", "").outside_family(),
    row("memory|malloc-stats", 2, flags!(), NOKEY, Kind::Local(super::memory::malloc_stats), "server", "4.0.0", "Show allocator internal stats", "").outside_family(),
    row("memory|purge", 2, flags!(), NOKEY, Kind::Local(super::memory::purge), "server", "4.0.0", "Ask the allocator to release memory", "").outside_family(),
];

#[rustfmt::skip]
static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    row("object|encoding", 3, flags!(READONLY), SUBKEY, keyed(object_encoding), "generic", "2.2.3", "Inspect the internal encoding of a Redis object", "").access(access!(RO)),
    row("object|freq", 3, flags!(READONLY), SUBKEY, keyed(object_freq), "generic", "4.0.0", "Get the logarithmic access frequency counter of a Redis object", "").access(access!(RO)),
    row("object|idletime", 3, flags!(READONLY), SUBKEY, keyed(object_idletime), "generic", "2.2.3", "Get the time since a Redis object was last accessed", "").access(access!(RO)),
    row("object|refcount", 3, flags!(READONLY), SUBKEY, keyed(object_refcount), "generic", "2.2.3", "Get the number of references to the value of the key", "").access(access!(RO)),
    row("object|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(object_help), "generic", "6.2.0", "Show helpful text about the different subcommands", ""),
];

type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

pub fn del(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let keys = args.rest();
    shard.prefetch_keys(keys.iter());
    let mut deleted = 0;
    for key in keys {
        if shard.delete(key).is_some() {
            notify(shard, GENERIC, "del", key);
            deleted += 1;
        }
    }
    Ok(Reply::Int(deleted))
}

pub fn exists(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let keys = args.rest();
    shard.prefetch_keys(keys.iter());
    Ok(Reply::Int(
        keys.iter()
            .filter(|k| shard.read_untouched(k).is_some())
            .count() as i64,
    ))
}

pub fn touch(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let keys = args.rest();
    shard.prefetch_keys(keys.iter());
    Ok(Reply::Int(
        keys.iter().filter(|k| shard.write(k).is_some()).count() as i64,
    ))
}

pub fn type_(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    let name = shard
        .read_untouched(key)
        .map_or("none", |r| r.value().type_name());
    Ok(Reply::Simple(name))
}

/// Live keys of the current db in `slots` matching `pattern` (None: all), appended to `out`.
fn collect_keys(
    shard: &mut Shard,
    slots: std::ops::Range<usize>,
    pattern: Option<&[u8]>,
    out: &mut Vec<Bytes>,
) {
    let now = shard.now_ms();
    let db = shard.db();
    for slot in slots {
        for record in db.slot_entries(slot) {
            let key = record.key();
            if record.is_live(now) && pattern.is_none_or(|p| glob_match(p, key, false)) {
                out.push(Bytes::copy_from_slice(key));
            }
        }
    }
}

pub fn keys(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let pattern = args.next()?;
        let db = session.db;
        let table = *session.router.table();
        let all = pattern.iter().all(|&b| b == b'*');
        let parts = session
            .router
            .run_all(move |s| {
                s.select(db);
                let mut found = Vec::new();
                let p = if all { None } else { Some(&pattern[..]) };
                collect_keys(s, table.slots_of(s.id()), p, &mut found);
                found
            })
            .await;
        Ok(Reply::Array(
            parts.into_iter().flatten().map(Reply::Bulk).collect(),
        ))
    })
}

/// SCAN: the cursor is a hash slot. One call walks slots upwards, crossing from shard to
/// shard, until COUNT keys were visited or the keyspace ends, so every key present throughout
/// the iteration is returned exactly once and a small database comes back whole with cursor 0.
/// Empty slots are skipped by their length alone (no budget spent): at most all 16384 length
/// reads and one hop per shard per call.
pub fn scan(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let cursor = args.cursor()?;
        let options = args.scan_options(ScanType::Allowed)?;
        if cursor >= slot::SLOTS as u64 {
            return Ok(scan_page(0, Vec::new()));
        }
        let table = *session.router.table();
        let db = session.db;
        let (mut next, mut budget, mut keys) = (cursor as usize, options.count, Vec::new());
        while next < slot::SLOTS && budget > 0 {
            let shard = table.shard_of_slot(next as u16);
            let slots = next..table.slots_of(shard).end;
            let options = options.clone();
            let page = session
                .router
                .run(shard, move |s| {
                    s.select(db);
                    scan_slots(s, slots, budget, &options)
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))?;
            next = page.next;
            budget = budget.saturating_sub(page.visited);
            keys.extend(page.keys);
        }
        let next = if next >= slot::SLOTS { 0 } else { next };
        Ok(scan_page(next as u64, keys))
    })
}

/// What one shard's part of a SCAN call found.
struct ScanPage {
    /// The first slot not visited.
    next: usize,
    /// Keys looked at (matching or not, expired included): the work spent.
    visited: usize,
    keys: Vec<Bytes>,
}

/// Visits whole non-empty slots from `slots.start` until `budget` keys were looked at or the
/// range ends.
fn scan_slots(
    shard: &mut Shard,
    slots: std::ops::Range<usize>,
    budget: usize,
    options: &ScanOptions,
) -> ScanPage {
    let now = shard.now_ms();
    let db = shard.db();
    let (mut visited, mut keys) = (0, Vec::new());
    let mut slot = slots.start;
    while slot < slots.end && visited < budget {
        if db.slot_len(slot) == 0 {
            slot += 1;
            continue;
        }
        for record in db.slot_entries(slot) {
            visited += 1;
            let key = record.key();
            if !record.is_live(now)
                || !options.matches(key)
                || options
                    .kind
                    .as_ref()
                    .is_some_and(|t| record.value().type_name().as_bytes() != &t[..])
            {
                continue;
            }
            keys.push(Bytes::copy_from_slice(key));
        }
        slot += 1;
    }
    ScanPage {
        next: slot,
        visited,
        keys,
    }
}

fn scan_page(cursor: u64, keys: Vec<Bytes>) -> Reply {
    scan_reply(cursor, keys.into_iter().map(Reply::Bulk).collect())
}

/// A random live key of the current db on this shard (expired ones met are removed).
fn random_key(shard: &mut Shard, slots: std::ops::Range<usize>) -> Option<Bytes> {
    for _ in 0..100 {
        if shard.db().is_empty() {
            return None;
        }
        let span = slots.len();
        let offset = (shard.random() % span as u64) as usize;
        let db = shard.db();
        let slot = (0..span)
            .map(|i| slots.start + (offset + i) % span)
            .find(|&s| db.slot_len(s) > 0)?;
        let pick = (shard.random() % shard.db().slot_len(slot) as u64) as usize;
        let key = shard
            .db()
            .slot_entries(slot)
            .nth(pick)
            .map(|r| Bytes::copy_from_slice(r.key()))?;
        if shard.write(&key).is_some() {
            return Some(key);
        }
    }
    None
}

pub fn randomkey(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        let db = session.db;
        let sizes = session
            .router
            .run_all(move |s| {
                s.select(db);
                s.db().len()
            })
            .await;
        let total: usize = sizes.iter().sum();
        if total == 0 {
            return Ok(Reply::Nil);
        }
        let seed = crate::shard::unix_ms() as usize ^ session.client.id as usize;
        let mut pick = seed.wrapping_mul(2654435761) % total;
        let mut order: Vec<ShardId> = (0..sizes.len()).collect();
        if let Some(first) = order.iter().position(|&s| {
            let hit = pick < sizes[s];
            pick = pick.saturating_sub(sizes[s]);
            hit
        }) {
            order.rotate_left(first);
        }
        let table = *session.router.table();
        for shard in order {
            let key = session
                .router
                .run(shard, move |s| {
                    s.select(db);
                    random_key(s, table.slots_of(s.id()))
                })
                .await
                .flatten();
            if let Some(key) = key {
                return Ok(Reply::Bulk(key));
            }
        }
        Ok(Reply::Nil)
    })
}

fn rename_local(shard: &mut Shard, args: &mut Args, nx: bool) -> CmdResult {
    let src = args.next()?;
    let dst = args.next()?;
    if shard.write(&src).is_none() {
        return Err(error(err::NO_KEY));
    }
    // Both keys are signalled below when the rename happens; otherwise nothing changed.
    shard.unchanged();
    if src == dst {
        return Ok(if nx {
            Reply::Int(0)
        } else {
            Reply::Simple("OK")
        });
    }
    if nx && shard.exists(&dst) {
        return Ok(Reply::Int(0));
    }
    let record = shard.delete(&src).ok_or_else(|| error(err::NO_KEY))?;
    shard.insert(&dst, record.into_entry());
    notify(shard, GENERIC, "rename_from", &src);
    notify(shard, GENERIC, "rename_to", &dst);
    shard.signal_ready(&dst);
    Ok(if nx {
        Reply::Int(1)
    } else {
        Reply::Simple("OK")
    })
}

pub fn rename(shard: &mut Shard, args: &mut Args) -> CmdResult {
    rename_local(shard, args, false)
}

pub fn renamenx(shard: &mut Shard, args: &mut Args) -> CmdResult {
    rename_local(shard, args, true)
}

/// Moves an entry between two shards under a hold of both: check source, check destination
/// (NX), take the entry, store it.
async fn rename_between(session: &mut Session, args: Args, nx: bool) -> CmdResult {
    let src = args.next()?;
    let dst = args.next()?;
    let db = session.db;
    let (from, to) = (session.router.shard_of(&src), session.router.shard_of(&dst));
    let holding = session.router.hold(&[from, to]).await;
    let gone = || error(err::SHARD_GONE);
    let taken: Option<Entry> = holding
        .run(from, {
            let src = src.clone();
            move |s| {
                s.select(db);
                s.write(&src).map(|r| r.to_entry())
            }
        })
        .await
        .ok_or_else(gone)?;
    let Some(entry) = taken else {
        return Err(error(err::NO_KEY));
    };
    if nx {
        let dst = dst.clone();
        let exists = holding
            .run(to, move |s| {
                s.select(db);
                s.exists(&dst)
            })
            .await
            .ok_or_else(gone)?;
        if exists {
            return Ok(Reply::Int(0));
        }
    }
    holding
        .run(from, move |s| {
            s.select(db);
            s.delete(&src);
            notify(s, GENERIC, "rename_from", &src);
        })
        .await
        .ok_or_else(gone)?;
    holding
        .run(to, move |s| {
            s.select(db);
            s.insert(&dst, entry);
            notify(s, GENERIC, "rename_to", &dst);
            s.signal_ready(&dst);
            s.serve_blocked();
        })
        .await
        .ok_or_else(gone)?;
    Ok(if nx {
        Reply::Int(1)
    } else {
        Reply::Simple("OK")
    })
}

pub fn rename_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(rename_between(session, args, false))
}

pub fn renamenx_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(rename_between(session, args, true))
}

/// COPY's options: destination db and REPLACE.
fn copy_options(args: &mut Args, current: usize, databases: usize) -> Result<(usize, bool), Reply> {
    let (mut db, mut replace) = (current, false);
    while !args.is_done() {
        if args.keyword("REPLACE") {
            replace = true;
        } else if args.remaining() >= 2 && args.keyword("DB") {
            let n = args.int32()?;
            if n < 0 || n as usize >= databases {
                return Err(error(err::DB_RANGE));
            }
            db = n as usize;
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    if crate::cluster::enabled() && (current != 0 || db != 0) {
        return Err(error(err::COPY_DB_IN_CLUSTER));
    }
    Ok((db, replace))
}

pub fn copy(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let src = args.next()?;
    let dst = args.next()?;
    let current = shard.db_index();
    let (target, replace) = copy_options(args, current, shard.databases())?;
    if src == dst && target == current {
        return Err(error(err::SAME_OBJECT));
    }
    // Only the destination changes, signalled when it is stored.
    shard.unchanged();
    let Some(entry) = shard.write(&src).map(|r| r.to_entry()) else {
        return Ok(Reply::Int(0));
    };
    shard.select(target);
    if shard.exists(&dst) && !replace {
        return Ok(Reply::Int(0));
    }
    shard.insert(&dst, entry);
    notify(shard, GENERIC, "copy_to", &dst);
    shard.signal_ready(&dst);
    Ok(Reply::Int(1))
}

pub fn copy_cross(session: &mut Session, mut args: Args) -> Routine<'_> {
    Box::pin(async move {
        let src = args.next()?;
        let dst = args.next()?;
        let databases = session.server.config().int("databases") as usize;
        let (target, replace) = copy_options(&mut args, session.db, databases)?;
        let db = session.db;
        let (from, to) = (session.router.shard_of(&src), session.router.shard_of(&dst));
        let holding = session.router.hold(&[from, to]).await;
        let gone = || error(err::SHARD_GONE);
        let entry = holding
            .run(from, move |s| {
                s.select(db);
                s.write(&src).map(|r| r.to_entry())
            })
            .await
            .ok_or_else(gone)?;
        let Some(entry) = entry else {
            return Ok(Reply::Int(0));
        };
        let copied = holding
            .run(to, move |s| {
                s.select(target);
                if s.exists(&dst) && !replace {
                    return false;
                }
                s.insert(&dst, entry);
                notify(s, GENERIC, "copy_to", &dst);
                s.signal_ready(&dst);
                s.serve_blocked();
                true
            })
            .await
            .ok_or_else(gone)?;
        Ok(Reply::Int(copied as i64))
    })
}

pub fn move_(shard: &mut Shard, args: &mut Args) -> CmdResult {
    if crate::cluster::enabled() {
        return Err(error(err::MOVE_IN_CLUSTER));
    }
    let key = args.arg()?;
    let target = args.int32()?;
    if target < 0 || target as usize >= shard.databases() {
        return Err(error(err::DB_RANGE));
    }
    let (source, target) = (shard.db_index(), target as usize);
    if source == target {
        return Err(error(err::SAME_OBJECT));
    }
    // Both sides are signalled below when the key moves; otherwise nothing changed.
    shard.unchanged();
    if shard.write(key).is_none() {
        return Ok(Reply::Int(0));
    }
    shard.select(target);
    if shard.exists(key) {
        return Ok(Reply::Int(0));
    }
    shard.select(source);
    let Some(record) = shard.delete(key) else {
        return Ok(Reply::Int(0));
    };
    notify(shard, GENERIC, "move_from", key);
    shard.select(target);
    shard.insert(key, record.into_entry());
    notify(shard, GENERIC, "move_to", key);
    shard.signal_ready(key);
    Ok(Reply::Int(1))
}

/// Redis's name for how a string is held: int, embstr (≤ 44 bytes) or raw.
pub(crate) fn encoding(value: ValueRef) -> &'static str {
    match value {
        ValueRef::Str(s) if s.len() <= 20 && parse_int(&s).is_some() => "int",
        ValueRef::Str(s) if s.len() <= 44 => "embstr",
        ValueRef::Str(_) => "raw",
        ValueRef::List(l) => l.encoding(),
        ValueRef::Hash(h) => h.encoding(),
        ValueRef::Set(s) => s.encoding(),
        ValueRef::ZSet(z) => z.encoding(),
        ValueRef::Stream(_) => "stream",
    }
}

/// MEMORY USAGE key [SAMPLES n]: the key's record, its table bucket and the value's heap
/// bytes (SAMPLES is accepted and ignored: the estimate is exact-ish already).
pub fn memory(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.arg()?;
    if args.keyword("SAMPLES") {
        args.int()?;
    }
    args.end()?;
    let Some(record) = shard.read(key) else {
        return Ok(Reply::Nil);
    };
    Ok(Reply::Int(memory::usage(record) as i64))
}

/// Redis's MEMORY HELP text.
const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// MEMORY HELP.
pub fn memory_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(MEMORY_HELP))
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// Lines of a container command's HELP reply.
pub fn help_reply(lines: &[&str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::Status(l.to_string())).collect())
}

/// OBJECT HELP.
pub fn object_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(OBJECT_HELP))
}

/// What OBJECT reports of `key`: its access field (see `Record::touched`) and its encoding;
/// None for a missing key. Like Redis's OBJECT, the lookup does not count as an access.
fn object_of(
    shard: &mut Shard,
    args: &mut Args,
) -> Result<Option<(u32, &'static str, bool)>, Reply> {
    let key = args.arg()?;
    let now = shard.now_ms();
    let found = shard.db().get_raw(key).map(|r| {
        let shared = shared_integer(r.value());
        (r.touched(), encoding(r.value()), shared, r.is_live(now))
    });
    match found {
        Some((field, encoding, shared, true)) => Ok(Some((field, encoding, shared))),
        Some((_, _, _, false)) => {
            // Expired: removed as any lookup would.
            shard.write(key);
            Ok(None)
        }
        None => Ok(None),
    }
}

pub fn object_encoding(shard: &mut Shard, args: &mut Args) -> CmdResult {
    Ok(
        object_of(shard, args)?.map_or(Reply::Nil, |(_, encoding, _)| {
            Reply::Bulk(Bytes::from_static(encoding.as_bytes()))
        }),
    )
}

/// OBJECT IDLETIME: seconds since the last access; not tracked under an LFU policy.
pub fn object_idletime(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let Some((field, _, _)) = object_of(shard, args)? else {
        return Ok(Reply::Nil);
    };
    if lfu::enabled() {
        return Err(error(err::LFU_SELECTED));
    }
    Ok(Reply::Int(idle_at(field, shard.clock_secs()) as i64))
}

/// OBJECT REFCOUNT: Redis holds the integers 0..9999 as shared objects, whose refcount is
/// `OBJ_SHARED_REFCOUNT`, while no LRU or LFU policy needs a clock per value; every other
/// value has one reference. Redis decides when the value is stored; here the policy in
/// force when asked decides (a record keeps no bit for it).
pub fn object_refcount(shard: &mut Shard, args: &mut Args) -> CmdResult {
    Ok(
        object_of(shard, args)?.map_or(Reply::Nil, |(_, _, shared)| {
            let shared = shared && crate::shard::evict::shares_integers();
            Reply::Int(if shared { SHARED_REFCOUNT } else { 1 })
        }),
    )
}

/// Redis's `OBJ_SHARED_REFCOUNT` (INT_MAX).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Whether Redis would hold `value` as one of its shared integers (`OBJ_SHARED_INTEGERS`).
fn shared_integer(value: ValueRef) -> bool {
    match value {
        ValueRef::Str(s) if s.len() <= 20 => {
            parse_int(&s).is_some_and(|n| (0..10_000).contains(&n))
        }
        _ => false,
    }
}

/// OBJECT FREQ: the logarithmic access counter, tracked under an LFU policy only.
pub fn object_freq(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let Some((field, _, _)) = object_of(shard, args)? else {
        return Ok(Reply::Nil);
    };
    if !lfu::enabled() {
        return Err(error(err::LFU_NOT_SELECTED));
    }
    Ok(Reply::Int(lfu::counter(field, shard.clock_secs()) as i64))
}
