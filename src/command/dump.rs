//! DUMP, RESTORE and MIGRATE: a value as Redis's serialized payload (`rdb::dump_payload`), and
//! back. MIGRATE sends RESTOREs to another server from a short-lived thread while the keys'
//! shards are held, so the keys cannot change between being sent and being removed, and the
//! connection's thread keeps serving everyone else meanwhile.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use super::args::parse_int;
use super::table::{access, cats, flags, keyed, row, CommandSpec, KeyFinder, KEY1};
use super::{err, error, notify, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::pubsub::notify::GENERIC;
use crate::rdb;
use crate::shard::record::IDLE_CAP;
use crate::shard::{lfu, Entry, Shard, ShardId};

/// The serialization commands' rows of the command table.
#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    row("dump", 2, flags!(READONLY), KEY1, keyed(dump), "generic", "2.6.0", "Returns a serialized representation of the value stored at a key.", "key"),
    row("restore", -4, flags!(WRITE | DENYOOM), KEY1, keyed(restore), "generic", "2.6.0", "Creates a key from the serialized representation of a value.", "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]").with_acl(cats!(DANGEROUS)).access(access!(OW | UPDATE)),
    row("restore-asking", -4, flags!(WRITE | DENYOOM | ASKING), KEY1, keyed(restore), "server", "3.0.0", "An internal command for migrating keys in a cluster", "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]").with_acl(cats!(DANGEROUS)).access(access!(OW | UPDATE)),
    row("migrate", -6, flags!(WRITE), (3, 3, 1), Kind::Routed(migrate), "generic", "2.6.0", "Atomically transfers a key from one Redis instance to another.", "host port <key | \"\"> destination-db timeout [COPY] [REPLACE] [AUTH password | AUTH2 username password] [KEYS key [key ...]]").keys_by(KeyFinder::Instead(migrate_keys)).with_acl(cats!(DANGEROUS)).access_split(access!(RW | ACCESS | DELETE), access!(RW | ACCESS | DELETE | INCOMPLETE)),
];

type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

pub fn dump(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    Ok(match shard.read(&key) {
        Some(record) => Reply::Bulk(Bytes::from(rdb::dump_payload(record.value()))),
        None => Reply::Nil,
    })
}

pub fn restore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let ttl = args.next()?;
    let payload = args.next()?;
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    while !args.is_done() {
        if args.keyword("REPLACE") {
            replace = true;
        } else if args.keyword("ABSTTL") {
            absttl = true;
        } else if args.remaining() >= 2 && freq.is_none() && args.keyword("IDLETIME") {
            let v = args.int()?;
            if v < 0 {
                return Err(error(err::INVALID_IDLETIME));
            }
            idle = Some(v);
        } else if args.remaining() >= 2 && idle.is_none() && args.keyword("FREQ") {
            let v = args.int()?;
            if !(0..=255).contains(&v) {
                return Err(error(err::INVALID_FREQ));
            }
            // Only read under an LFU policy, IDLETIME only under the others, as in Redis.
            freq = Some(v);
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    if !replace && shard.exists(&key) {
        return Err(error(err::BUSYKEY));
    }
    let ttl = parse_int(&ttl).ok_or_else(|| error(err::NOT_INT))?;
    if ttl < 0 {
        return Err(error(err::INVALID_TTL));
    }
    if rdb::verify_payload(&payload).is_none() {
        return Err(error(err::DUMP_PAYLOAD));
    }
    let value = rdb::decode_payload(&payload)
        .ok()
        .and_then(super::persist::restore_value)
        .ok_or_else(|| error(err::BAD_DATA_FORMAT))?;
    let deleted = replace && shard.delete(&key).is_some();
    let now = shard.now_ms() as i64;
    let expire_at = match ttl {
        0 => 0,
        t if absttl => t,
        t => t.saturating_add(now),
    };
    if expire_at != 0 && expire_at <= now {
        if deleted {
            notify(shard, GENERIC, "del", &key);
        }
        return Ok(Reply::Simple("OK"));
    }
    let clock = shard.clock_secs();
    let touched = if lfu::enabled() {
        freq.map_or(lfu::fresh(clock), |f| lfu::field(f as u8, clock))
    } else {
        clock.wrapping_sub(idle.map_or(0, |i| i.min(IDLE_CAP as i64) as u32))
    };
    shard.insert(
        &key,
        Entry {
            value,
            expire_at: expire_at as u64,
            touched,
        },
    );
    notify(shard, GENERIC, "restore", &key);
    shard.signal_ready(&key);
    Ok(Reply::Simple("OK"))
}

/// MIGRATE's keys: the key argument, or everything after KEYS.
fn migrate_keys(items: &[Bytes]) -> Option<Vec<usize>> {
    let keys_at = items
        .iter()
        .enumerate()
        .skip(6)
        .find(|(_, w)| w.eq_ignore_ascii_case(b"keys"))
        .map(|(i, _)| i);
    match keys_at {
        Some(i) => Some((i + 1..items.len()).collect()),
        None if items.len() > 3 => Some(vec![3]),
        None => None,
    }
}

/// What MIGRATE was asked to do.
struct Migration {
    host: String,
    port: u16,
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Vec<Bytes>,
}

fn migration(args: &Args) -> Result<Migration, Reply> {
    let host = args.next()?;
    let port = args.next()?;
    let key = args.next()?;
    let db = args.next()?;
    let timeout = args.next()?;
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let mut keys = vec![key.clone()];
    while !args.is_done() {
        if args.keyword("COPY") {
            copy = true;
        } else if args.keyword("REPLACE") {
            replace = true;
        } else if args.keyword("AUTH") {
            auth = Some((None, args.next().map_err(|_| error(err::SYNTAX))?));
        } else if args.keyword("AUTH2") {
            if args.remaining() < 2 {
                return Err(error(err::SYNTAX));
            }
            let user = args.next()?;
            auth = Some((Some(user), args.next()?));
        } else if args.keyword("KEYS") {
            if !key.is_empty() {
                return Err(error(err::MIGRATE_KEYS_EMPTY));
            }
            keys = args.rest().to_vec();
            break;
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    let int = |b: &[u8]| parse_int(b).ok_or_else(|| error(err::NOT_INT));
    let timeout = int(&timeout)?;
    let db = int(&db)?;
    // An unparsable port makes the connection fail, as Redis's connect does.
    let port = parse_int(&port)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0);
    let timeout = if timeout <= 0 { 1000 } else { timeout };
    Ok(Migration {
        host: String::from_utf8_lossy(&host).into_owned(),
        port,
        db,
        timeout: Duration::from_millis(timeout as u64),
        copy,
        replace,
        auth,
        keys,
    })
}

pub fn migrate(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let m = migration(&args)?;
        let db = session.db;
        let mut shards: Vec<ShardId> = m.keys.iter().map(|k| session.router.shard_of(k)).collect();
        shards.sort_unstable();
        shards.dedup();
        let holding = session.router.hold(&shards).await;
        let gone = || error(err::SHARD_GONE);
        // (key, payload, ttl) of every key present.
        let mut found = Vec::new();
        for key in &m.keys {
            let shard = session.router.shard_of(key);
            let k = key.clone();
            let dumped = holding
                .run(shard, move |s| {
                    s.select(db);
                    let now = s.now_ms();
                    s.read(&k).map(|r| {
                        let ttl = match r.expire_at() {
                            0 => 0,
                            at => at.saturating_sub(now).max(1),
                        };
                        (rdb::dump_payload(r.value()), ttl)
                    })
                })
                .await
                .ok_or_else(gone)?;
            if let Some((payload, ttl)) = dumped {
                found.push((key.clone(), payload, ttl));
            }
        }
        if found.is_empty() {
            return Ok(Reply::Simple("NOKEY"));
        }
        let request = restore_commands(&m, &found);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (host, port, timeout) = (m.host.clone(), m.port, m.timeout);
        let expect = usize::from(m.auth.is_some()) + 1 + found.len();
        let spawned = std::thread::Builder::new()
            .name("ringkv-migrate".into())
            .spawn(move || {
                let _ = tx.send(exchange(&host, port, timeout, &request, expect));
            });
        if spawned.is_err() {
            return Err(error(err::MIGRATE_CONNECT));
        }
        let outcome = rx.await.unwrap_or(Err(Failure::Connect));
        let replies = match outcome {
            Ok(replies) => replies,
            Err(Failure::Connect) => return Err(error(err::MIGRATE_CONNECT)),
            Err(Failure::Write) => return Err(error(err::MIGRATE_WRITE)),
            Err(Failure::Read(partial)) if partial.len() <= expect - found.len() => {
                return Err(error(err::MIGRATE_READ))
            }
            Err(Failure::Read(partial)) => partial,
        };
        let preamble = expect - found.len();
        let refused = replies[..preamble].iter().find(|r| r.starts_with('-'));
        let mut target_error = refused.cloned();
        let read_all = replies.len() == expect;
        // As Redis: each key the target acknowledged is removed here, whatever became of
        // the others.
        for ((key, _, _), reply) in found.iter().zip(&replies[preamble..]) {
            if refused.is_some() || reply.starts_with('-') {
                target_error.get_or_insert_with(|| reply.clone());
            } else if !m.copy {
                let k = key.clone();
                holding
                    .run(session.router.shard_of(key), move |s| {
                        s.select(db);
                        if s.delete(&k).is_some() {
                            notify(s, GENERIC, "del", &k);
                        }
                    })
                    .await
                    .ok_or_else(gone)?;
            }
        }
        drop(holding);
        match target_error {
            Some(e) => Err(err::migrate_target(&e[1..])),
            None if !read_all => Err(error(err::MIGRATE_READ)),
            None => Ok(Reply::Simple("OK")),
        }
    })
}

/// AUTH (when asked), SELECT and one RESTORE per key, as RESP.
fn restore_commands(m: &Migration, found: &[(Bytes, Vec<u8>, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut command = |parts: &[&[u8]]| {
        out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
        for p in parts {
            out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
    };
    match &m.auth {
        Some((Some(user), pass)) => command(&[b"AUTH", user, pass]),
        Some((None, pass)) => command(&[b"AUTH", pass]),
        None => {}
    }
    command(&[b"SELECT", m.db.to_string().as_bytes()]);
    for (key, payload, ttl) in found {
        let ttl = ttl.to_string();
        // A cluster node's target imports the slot: RESTORE-ASKING is served there.
        let restore: &[u8] = if crate::cluster::enabled() {
            b"RESTORE-ASKING"
        } else {
            b"RESTORE"
        };
        if m.replace {
            command(&[restore, key, ttl.as_bytes(), payload, b"REPLACE"]);
        } else {
            command(&[restore, key, ttl.as_bytes(), payload]);
        }
    }
    out
}

enum Failure {
    Connect,
    Write,
    /// The reply lines read before the failure.
    Read(Vec<String>),
}

/// Connects, sends `request` and reads `expect` reply lines, each step bounded by `timeout`
/// (runs on its own thread: blocking socket calls).
fn exchange(
    host: &str,
    port: u16,
    timeout: Duration,
    request: &[u8],
    expect: usize,
) -> Result<Vec<String>, Failure> {
    let addr = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(Failure::Connect)?;
    // Redis connects without blocking and waits for the socket to turn writable: a refused
    // connection only shows when it writes, a timeout while connecting.
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Failure::Connect,
        _ => Failure::Write,
    })?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .map_err(|_| Failure::Connect)?;
    stream.write_all(request).map_err(|_| Failure::Write)?;
    let mut reader = BufReader::new(stream);
    let mut replies = Vec::with_capacity(expect);
    for _ in 0..expect {
        let mut line = Vec::new();
        // A status or error line; Redis reads at most 1 KB of one.
        let read = Read::by_ref(&mut reader)
            .take(1024)
            .read_until(b'\n', &mut line);
        if read.map_or(true, |n| n == 0) {
            return Err(Failure::Read(replies));
        }
        let text = String::from_utf8_lossy(&line);
        replies.push(text.trim_end_matches(['\r', '\n']).to_string());
    }
    Ok(replies)
}
