//! DEBUG: the subcommands of Redis 7.0's debugging command that its test suite uses, behind
//! `enable-debug-command` (no, the default as in Redis 7.0; local; yes), with Redis's replies.
//! The command runs on the client's thread; a subcommand about a key runs on the key's shard,
//! one about the whole keyspace on every shard. PANIC and SEGFAULT exercise the crash policy
//! (`server::crash`); SLEEP stalls the thread, as Redis's stalls the server.

mod digest;
mod object;
mod populate;
mod protocol;
mod reload;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;

use super::keys::help_reply;
use super::table::{flags, row, CommandSpec, NOKEY};
use super::{aof, err, error, serving, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;

/// DEBUG's row of the command table.
pub static COMMANDS: &[CommandSpec] = &[row(
    "debug",
    -2,
    flags!(ADMIN | NOSCRIPT | LOADING | STALE),
    NOKEY,
    Kind::Routed(debug),
    "server",
    "1.0.0",
    "A container for debugging commands",
    "",
)];

type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

/// Redis's help lines for the subcommands ringkv has.
const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
];

/// DEBUG QUICKLIST-PACKED-THRESHOLD's setting (Redis's default, 1 GB). ringkv's list nodes
/// pack elements of any size, so it changes no layout: it is kept to be read back only.
static PACKED_THRESHOLD: AtomicU64 = AtomicU64::new(1 << 30);

fn debug(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        if !session.allowed_by("enable-debug-command") {
            return Err(error(err::DEBUG_NOT_ALLOWED));
        }
        let sub = args.next()?.to_ascii_lowercase();
        match (sub.as_slice(), args.remaining()) {
            (b"help", 0) => Ok(help_reply(DEBUG_HELP)),
            (b"segfault", _) => {
                serving::begin(&COMMANDS[0], session.client.id, args.all());
                segfault()
            }
            (b"panic", _) => {
                serving::begin(&COMMANDS[0], session.client.id, args.all());
                panic!(
                    "DEBUG PANIC called at Unix time {}",
                    crate::shard::unix_ms() / 1000
                )
            }
            (b"log", 1) => {
                let text = args.next()?;
                tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&text));
                Ok(Reply::Simple("OK"))
            }
            (b"error", 1) => Ok(err::debug_error(&args.next()?)),
            (b"reload", _) => reload::reload(session, &args).await,
            (b"loadaof", 0) => reload::load_aof(session).await,
            (b"aof-flush-sleep", 1) => {
                aof::set_flush_sleep(atoi(&args.next()?).max(0) as u64);
                Ok(Reply::Simple("OK"))
            }
            (b"object", 1) => object::object(session, args.next()?).await,
            (b"listpack", 1) => object::packed(session, args.next()?, "listpack").await,
            (b"quicklist", 1 | 2) => object::packed(session, args.next()?, "quicklist").await,
            (b"populate", 1..=3) => populate::populate(session, &args).await,
            (b"set-skip-checksum-validation", 1) => {
                let skip = atoi(&args.next()?) != 0;
                crate::rdb::SKIP_CHECKSUM.store(skip, Relaxed);
                Ok(Reply::Simple("OK"))
            }
            (b"digest", 0) => digest::dataset(session).await,
            (b"digest-value", _) => digest::values(session, args.rest()).await,
            (b"protocol", 1) => protocol::reply(session.protocol, &args.next()?),
            (b"sleep", 1) => {
                // The whole server stops, as Redis's one thread does: every thread sleeps at
                // once (its connections too, so none of them answers or keeps a link alive).
                let pause = Duration::from_secs_f64(atof(&args.next()?).clamp(0.0, 86_400.0));
                sleep_everywhere(&session.router, pause).await;
                Ok(Reply::Simple("OK"))
            }
            (b"drop-cluster-packet-filter", 1) => {
                crate::cluster::bus::set_drop_filter(args.int()?);
                Ok(Reply::Simple("OK"))
            }
            (b"clusterlink", 3) if args.keyword("kill") => {
                if !crate::cluster::enabled() {
                    return Err(error(err::DEBUG_CLUSTER_ONLY));
                }
                let direction = args.next()?.to_ascii_lowercase();
                let id = args.next()?;
                let known = crate::cluster::with(|state, _| state.lookup(&id).is_some());
                if known != Some(true) {
                    return Err(err::unknown_node(&String::from_utf8_lossy(&id)));
                }
                let (to, from) = match &direction[..] {
                    b"to" => (true, false),
                    b"from" => (false, true),
                    b"all" => (true, true),
                    _ => return Err(err::unknown_direction(&String::from_utf8_lossy(&direction))),
                };
                crate::cluster::bus::kill_links(&String::from_utf8_lossy(&id), to, from);
                Ok(Reply::Simple("OK"))
            }
            (b"set-active-expire", 1) => {
                let on = atoi(&args.next()?) != 0;
                crate::shard::ACTIVE_EXPIRE.store(on, Relaxed);
                Ok(Reply::Simple("OK"))
            }
            (b"quicklist-packed-threshold", 1) => packed_threshold(&args.next()?),
            (b"change-repl-id", 0) => {
                tracing::warn!("Changing replication IDs after receiving DEBUG change-repl-id");
                let ids = crate::command::replication::Ids {
                    replid: crate::command::replication::random_id(),
                    replid2: "0".repeat(40),
                    second_offset: -1,
                };
                crate::command::replication::set_ids(ids);
                Ok(Reply::Simple("OK"))
            }
            (b"replicate", 1..) => {
                // Into the replication stream only, not run here (divergence tests).
                let command: Vec<Bytes> = args.rest().to_vec();
                let command: Vec<&[u8]> = command.iter().map(|a| &a[..]).collect();
                let all: Vec<usize> = (0..session.router.shards()).collect();
                let holding = session.router.hold(&all).await;
                crate::shard::journal::push_held(&all, None, &command);
                drop(holding);
                Ok(Reply::Simple("OK"))
            }
            (b"config-rewrite-force-all", 0) => super::server::rewrite_config(session, true)
                .map_err(|why| err::debug_rewrite_failed(&why)),
            (b"stringmatch-test", 0) => {
                stringmatch_fuzz();
                Ok(Reply::Simple("Apparently Redis did not crash: test passed"))
            }
            _ => Err(err::subcommand_syntax(args.all())),
        }
    })
}

/// DEBUG SLEEP: every runtime thread sleeps for `pause` at the same time. The other threads
/// are sent their sleep first, and this one starts its own once they have started theirs (a
/// second at most), so the whole server stops for `pause`, not for a multiple of it. Inside a
/// transaction only this thread sleeps.
async fn sleep_everywhere(router: &crate::shard::Router, pause: Duration) {
    if router.in_transaction() {
        // Inside EXEC the transaction holds the shards: a job sent to one would wait for the
        // transaction, which waits for it. This thread sleeps alone then.
        std::thread::sleep(pause);
        return;
    }
    let started = std::sync::Arc::new(AtomicU64::new(0));
    let others: Vec<_> = (0..router.shards())
        .filter(|&id| !router.runs_inline(id))
        .map(|id| {
            let started = started.clone();
            router.post(id, move |_| {
                started.fetch_add(1, Relaxed);
                std::thread::sleep(pause);
            })
        })
        .collect();
    let since = std::time::Instant::now();
    while started.load(Relaxed) < others.len() as u64 && since.elapsed() < Duration::from_secs(1) {
        // Lets this tick's mail go out, and the other threads pick it up.
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    std::thread::sleep(pause.saturating_sub(since.elapsed()));
    for done in others {
        let _ = done.await;
    }
}

/// Writes to a read-only page: a real SIGSEGV, as Redis's DEBUG SEGFAULT raises it.
fn segfault() -> ! {
    // SAFETY: none, on purpose: the write faults and the fatal-signal handler ends the
    // process. The page is mapped read-only just for this.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        std::ptr::write_volatile(page.cast::<u8>(), b'x');
        libc::raise(libc::SIGSEGV);
    }
    unreachable!("the write to a read-only page faults")
}

/// QUICKLIST-PACKED-THRESHOLD <size>: a memory value (Redis's memtoull units) up to 4 GB
/// less 1 MB; 0 restores the default.
fn packed_threshold(arg: &[u8]) -> CmdResult {
    let size = std::str::from_utf8(arg)
        .ok()
        .and_then(crate::config::parse_memory)
        .filter(|&n| n >= 0 && (n as u64) <= (1u64 << 32) - (1 << 20))
        .ok_or_else(|| error(err::DEBUG_PACKED_THRESHOLD))?;
    let size = if size == 0 { 1 << 30 } else { size as u64 };
    PACKED_THRESHOLD.store(size, Relaxed);
    Ok(Reply::Simple("OK"))
}

/// C's atoi: leading blanks, a sign, the digits that follow; anything else reads as 0.
fn atoi(arg: &[u8]) -> i64 {
    let text = std::str::from_utf8(arg).unwrap_or("").trim_start();
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |n| sign * n)
}

/// C's strtod as Redis reads SLEEP's seconds: the longest number prefix, 0 when none.
fn atof(arg: &[u8]) -> f64 {
    let text = std::str::from_utf8(arg).unwrap_or("").trim_start();
    (1..=text.len())
        .rev()
        .find_map(|end| text.get(..end)?.parse::<f64>().ok())
        .filter(|s| s.is_finite())
        .unwrap_or(0.0)
}

/// Redis's stringmatchlen fuzz test: random patterns against random strings, for the
/// matcher not to crash or hang.
fn stringmatch_fuzz() {
    let mut seed = crate::shard::unix_ms() | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut pattern = Vec::with_capacity(32);
    let mut text = Vec::with_capacity(32);
    for _ in 0..100_000 {
        for buf in [&mut pattern, &mut text] {
            buf.clear();
            let len = next() % 32;
            buf.extend((0..len).map(|_| b"*?[]^-\\ab"[(next() % 9) as usize]));
        }
        std::hint::black_box(crate::glob::glob_match(&pattern, &text, next() % 2 == 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_c_reads_them() {
        assert_eq!(atoi(b" 12abc"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atof(b"0.5s"), 0.5);
        assert_eq!(atof(b"abc"), 0.0);
        assert_eq!(atof(b"1e1"), 10.0);
    }

    #[test]
    fn packed_threshold_takes_memory_values_up_to_4gb() {
        assert!(packed_threshold(b"1b").is_ok());
        assert!(packed_threshold(b"0").is_ok());
        assert_eq!(PACKED_THRESHOLD.load(Relaxed), 1 << 30);
        assert!(packed_threshold(b"5gb").is_err());
        assert!(packed_threshold(b"abc").is_err());
        assert!(packed_threshold(b"-1").is_err());
    }
}
