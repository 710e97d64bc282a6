//! The master side of replication: serving replicas (see the module doc of `replication`).
//!
//! The first replica to attach creates the backlog and attaches replication to the change
//! stream (installing it when the AOF is off). A pump thread drains the stream every few
//! milliseconds and appends what it takes to the replication buffer (counting
//! `master_repl_offset`), held once for the backlog and every replica (see `backlog`); each
//! replica's connection copies and writes what it has not been sent yet (see
//! `server::connection`). A full resync takes the snapshot with every shard held and cuts the
//! stream at that same moment, as an AOF rewrite does; a partial one starts from the backlog.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};

use super::backlog::Backlog;
use super::{ids, OFFSET};
use crate::command::table::{cats, flags, row, CommandSpec, NOKEY};
use crate::command::{err, error, Args, CmdResult, Kind, Session};
use crate::config::Config;
use crate::protocol::Reply;
use crate::rdb::{self, DbPart, FileWriter};
use crate::shard::journal::{self, Consumer, Output};
use crate::shard::{Router, Shard};

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "psync",
        -3,
        flags!(NO_ASYNC_LOADING | ADMIN | NO_MULTI | NOSCRIPT),
        NOKEY,
        Kind::Routed(psync),
        "server",
        "2.8.0",
        "An internal command used in replication.",
        "replicationid offset",
    ),
    row(
        "sync",
        1,
        flags!(NO_ASYNC_LOADING | ADMIN | NO_MULTI | NOSCRIPT),
        NOKEY,
        Kind::Routed(sync),
        "server",
        "1.0.0",
        "An internal command used in replication.",
        "",
    ),
    row(
        "replconf",
        -1,
        flags!(ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY),
        NOKEY,
        Kind::Local(replconf),
        "server",
        "3.0.0",
        "An internal command for configuring the replication stream.",
        "",
    ),
    row(
        "wait",
        3,
        flags!(NOSCRIPT),
        NOKEY,
        Kind::Routed(wait),
        "generic",
        "3.0.0",
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        "numreplicas timeout",
    )
    .with_acl(cats!(CONNECTION)),
];

/// One attached replica, shared by the pump and its connection.
#[derive(Debug)]
struct Replica {
    client: u64,
    ip: String,
    port: u16,
    /// The offset of the next stream byte it is sent, from the shared buffer ([`NOT_FED`]
    /// for a replica that takes the snapshot only). Moved under the master's lock.
    position: AtomicI64,
    /// Bytes its connection holds to write (taken from the buffer, or the snapshot).
    writing: AtomicU64,
    wake: Notify,
    /// 0 wait_bgsave, 1 send_bulk, 2 online.
    state: std::sync::atomic::AtomicU8,
    ack: AtomicI64,
    ack_ms: AtomicU64,
    /// Cut off (output limit, backlog freed): its connection closes.
    dropped: AtomicBool,
    /// The first ACK starts the stream (after a diskless transfer, whose end the replica
    /// finds by its mark: nothing may follow it in the same read).
    stream_on_ack: AtomicBool,
    /// Its connection ended: a snapshot still being built for it is not wanted any more.
    gone: AtomicBool,
}

/// The position of a replica that is not fed the stream (it asked for the RDB only).
const NOT_FED: i64 = i64::MAX;

/// The most stream bytes a replica's connection takes for one write.
const TAKE_AT_MOST: usize = 4 << 20;

impl Replica {
    fn fed(&self) -> bool {
        self.position.load(Relaxed) != NOT_FED && !self.dropped.load(Relaxed)
    }
}

const WAIT_BGSAVE: u8 = 0;
const SEND_BULK: u8 = 1;
const ONLINE: u8 = 2;

struct Attached {
    replica: Arc<Replica>,
    over_soft_since: Option<Instant>,
}

/// Replication's side of the stream.
struct Master {
    backlog: Option<Backlog>,
    /// The replication stream's SELECT tracking.
    out: Output,
    replicas: Vec<Attached>,
    /// When the last replica left (the backlog's time to live counts from it).
    alone_since: Option<Instant>,
    last_ping: Option<Instant>,
}

static MASTER: Mutex<Master> = Mutex::new(Master {
    backlog: None,
    out: Output {
        bytes: Vec::new(),
        db: None,
    },
    replicas: Vec::new(),
    alone_since: None,
    last_ping: None,
});

static SYNC_FULL: AtomicU64 = AtomicU64::new(0);
static SYNC_PARTIAL_OK: AtomicU64 = AtomicU64::new(0);
static SYNC_PARTIAL_ERR: AtomicU64 = AtomicU64::new(0);
/// Replicas online whose last ACK is within `min-replicas-max-lag` (Redis's good slaves).
static GOOD: AtomicU64 = AtomicU64::new(0);
/// `min-replicas-to-write` and `min-replicas-max-lag`, and the ping period, as last applied.
static MIN_TO_WRITE: AtomicU64 = AtomicU64::new(0);
static MAX_LAG: AtomicU64 = AtomicU64::new(10);
static PING_SECS: AtomicU64 = AtomicU64::new(10);
/// `repl-timeout` in seconds: an online replica silent longer is cut off.
static TIMEOUT_SECS: AtomicU64 = AtomicU64::new(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long the pump gathers the stream after feeding something; an idle pump is woken by the
/// next write instead (see [`pump`]).
const PUMP_EVERY: Duration = Duration::from_millis(2);
/// The most room the pump keeps for its next drain.
const DRAIN_KEPT: usize = 256 << 10;
const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";

impl Master {
    /// Takes what the stream holds for replication and feeds it; true when there was some.
    fn drain(&mut self) -> bool {
        if self.backlog.is_none() {
            return false;
        }
        collect_now_and_then();
        let Some(stream) = journal::current() else {
            return false;
        };
        stream.drain(Consumer::Replication, &mut self.out);
        if self.out.bytes.is_empty() {
            return false;
        }
        let bytes = std::mem::take(&mut self.out.bytes);
        self.feed(&bytes);
        self.out.bytes = bytes;
        self.out.bytes.clear();
        // What a burst drained is held in the buffer now: do not keep its room twice.
        if self.out.bytes.capacity() > DRAIN_KEPT {
            self.out.bytes.shrink_to(DRAIN_KEPT);
        }
        true
    }

    /// Appends `bytes` to the replication buffer; counts them in the offset.
    fn feed(&mut self, bytes: &[u8]) {
        // A replica's offset counts its master's stream as it applies it (replica_apply),
        // and that stream is what its own replicas get (`proxy`): what it journals itself
        // while applying it is dropped here.
        if super::replica::is_replica() {
            return;
        }
        if self.push(bytes) {
            OFFSET.fetch_add(bytes.len() as i64, SeqCst);
        }
    }

    /// Appends `bytes` to the shared buffer and wakes the replicas (false without one).
    fn push(&mut self, bytes: &[u8]) -> bool {
        let Some(backlog) = self.backlog.as_mut() else {
            return false;
        };
        backlog.push(bytes);
        for attached in &self.replicas {
            attached.replica.wake.notify_one();
        }
        self.trim();
        true
    }

    /// Frees the buffer's blocks that neither the backlog nor a replica still needs.
    fn trim(&mut self) {
        let keep = self
            .replicas
            .iter()
            .filter(|a| a.replica.fed())
            .map(|a| a.replica.position.load(Relaxed))
            .min()
            .unwrap_or(NOT_FED);
        if let Some(backlog) = self.backlog.as_mut() {
            backlog.trim(keep);
        }
    }

    /// What `replica` holds of the shared buffer, as Redis counts a replica's output buffer.
    fn held_by(&self, replica: &Replica) -> u64 {
        let position = replica.position.load(Relaxed);
        match (&self.backlog, position) {
            (Some(backlog), p) if p != NOT_FED => backlog.held_from(p) as u64,
            _ => 0,
        }
    }

    /// Cuts every replica off (their connections close; they come back with PSYNC).
    fn drop_replicas(&mut self) {
        for attached in self.replicas.drain(..) {
            attached.replica.dropped.store(true, SeqCst);
            attached.replica.wake.notify_one();
        }
        self.alone_since = Some(Instant::now());
        self.trim();
    }

    /// Cuts off replicas over `client-output-buffer-limit replica`; counts the good ones.
    fn check(&mut self) {
        let limit = crate::state::REPLICA_OUTPUT_LIMIT.get();
        // As Redis: a hard limit below the backlog's size is the backlog's size (a partial
        // resync would otherwise succeed only to be cut off; the buffer is shared anyway).
        let size = self.backlog.as_ref().map_or(0, |b| b.size() as u64);
        let hard = match limit.hard {
            0 => 0,
            hard => hard.max(size),
        };
        // What it holds of the buffer; not the snapshot being written to it, which Redis
        // sends from its file or its child, outside the output buffer.
        let held: Vec<u64> = self
            .replicas
            .iter()
            .map(|a| self.held_by(&a.replica))
            .collect();
        let now = Instant::now();
        let now_ms = crate::shard::unix_ms();
        let max_lag = MAX_LAG.load(Relaxed);
        let timeout_ms = TIMEOUT_SECS.load(Relaxed).saturating_mul(1000);
        let mut good = 0;
        for (attached, pending) in self.replicas.iter_mut().zip(held) {
            let r = &attached.replica;
            let silent_ms = now_ms.saturating_sub(r.ack_ms.load(Relaxed));
            if r.state.load(Relaxed) == ONLINE
                && silent_ms > timeout_ms
                && !r.dropped.swap(true, SeqCst)
            {
                tracing::warn!(
                    "Disconnecting timedout replica (streaming sync): {}:{}",
                    r.ip,
                    r.port
                );
                r.wake.notify_one();
            }
            let mut over = hard > 0 && pending >= hard;
            if limit.soft > 0 && pending >= limit.soft {
                let since = *attached.over_soft_since.get_or_insert(now);
                over |= now.duration_since(since).as_secs() >= limit.soft_seconds;
            } else {
                attached.over_soft_since = None;
            }
            if over && !r.dropped.swap(true, SeqCst) {
                crate::state::note_output_limit_disconnection(&format!(
                    "id={} replica {}:{}",
                    r.client, r.ip, r.port
                ));
                r.wake.notify_one();
            }
            let lag = now_ms.saturating_sub(r.ack_ms.load(Relaxed)) / 1000;
            if r.state.load(Relaxed) == ONLINE && lag <= max_lag {
                good += 1;
            }
        }
        GOOD.store(good, Relaxed);
        // The replicas cut off hold nothing any more.
        self.trim();
    }
}

/// Folds in, every 100 ms, the blocks other threads freed for this one: the replication
/// buffer grows here and is freed by the replicas' connections as they take from it, and mimalloc counts such a block in use
/// until its owner collects it, which a thread that only appends would never do.
fn collect_now_and_then() {
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    let now = crate::shard::unix_ms();
    if now.saturating_sub(LAST_MS.load(Relaxed)) >= 100 {
        LAST_MS.store(now, Relaxed);
        crate::state::memory::collect_thread();
    }
}

/// The pump thread: drains the stream into the replication buffer, PINGs the replicas
/// every `repl-ping-replica-period`.
///
/// Latency against batching: after feeding something it sleeps [`PUMP_EVERY`], so under load
/// writes are fed in ~2 ms batches and cost the writers nothing; when the last drain found
/// nothing it parks until the next write wakes it (at most `PUMP_EVERY`), so a lone write
/// reaches the replicas at once, as Redis writes it to them before its event loop sleeps.
fn pump() {
    let mut fed = false;
    loop {
        if fed {
            std::thread::sleep(PUMP_EVERY);
        } else {
            journal::wait_for_appends(PUMP_EVERY);
        }
        let mut m = lock(&MASTER);
        if m.backlog.is_none() {
            fed = false;
            continue;
        }
        fed = m.drain();
        if let Some(backlog) = m.backlog.as_mut() {
            backlog.release();
        }
        let period = Duration::from_secs(PING_SECS.load(Relaxed).max(1));
        // The first PING a period after the pump starts (as Redis's cron-aligned ones, not
        // at once when a replica attaches).
        let last = *m.last_ping.get_or_insert_with(Instant::now);
        if !m.replicas.is_empty() && last.elapsed() >= period {
            m.last_ping = Some(Instant::now());
            m.feed(PING);
        }
        m.check();
    }
}

fn start_pump() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.swap(true, SeqCst) {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("ringkv-repl".into())
        .spawn(pump);
}

/// What a connection learned from REPLCONF, and the feed it becomes after PSYNC/SYNC.
#[derive(Default)]
pub struct Link {
    listening_port: u16,
    ip: Option<String>,
    capa_eof: bool,
    capa_psync2: bool,
    rdb_only: bool,
    filtered: bool,
    /// Set by PSYNC/SYNC: the connection serves this replica once the reply is written.
    pub feed: Option<Feed>,
}

/// A connection serving a replica: the snapshot (after a full resync), then the stream.
pub struct Feed {
    replica: Arc<Replica>,
    payload: Option<oneshot::Receiver<Transfer>>,
    rdb_only: bool,
    /// A diskless full resync waiting out `repl-diskless-sync-delay` for more replicas.
    delayed: Option<Delayed>,
}

/// A diskless full resync not started yet: the PSYNC reply (`+FULLRESYNC`) goes out when it
/// starts, as Redis sends it when its child starts; meanwhile the replica gets a newline a
/// second.
struct Delayed {
    since: Instant,
    delay: Duration,
    /// `repl-diskless-sync-max-replicas` (0: none): this many waiting start at once.
    max_replicas: usize,
    /// The start generation when it began waiting: a later one means a group started.
    seen: u64,
    with_data: bool,
    chained: bool,
    psync: bool,
}

/// A full resync's snapshot as sent, and the mark of its save under way (INFO's
/// `rdb_bgsave_in_progress`, as Redis's child runs until it has sent it), kept until written.
pub struct Transfer {
    pub bytes: Vec<u8>,
    pub building: Building,
}

/// Snapshots for replicas being built or sent.
static BUILDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One snapshot for a replica under way, from its cut until it is written (or dropped).
pub struct Building(());

impl Building {
    fn new() -> Building {
        BUILDING.fetch_add(1, SeqCst);
        Building(())
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        BUILDING.fetch_sub(1, SeqCst);
    }
}

/// True while a replica's snapshot is built or sent (Redis's RDB child for replication).
pub fn snapshot_in_progress() -> bool {
    BUILDING.load(SeqCst) > 0
}

/// Replicas waiting out the diskless delay.
static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Bumped whenever waiting replicas start their transfer: every replica waiting then starts
/// too (Redis sends one snapshot to all of them).
static STARTS: AtomicU64 = AtomicU64::new(0);

impl Feed {
    /// True while a diskless full resync waits to start (see [`Feed::start_delayed`]).
    pub fn waiting(&self) -> bool {
        self.delayed.is_some()
    }

    /// True once a waiting transfer may start: its delay is over, enough replicas wait, or
    /// another waiting replica started.
    pub fn may_start(&self) -> bool {
        let Some(d) = &self.delayed else {
            return true;
        };
        d.since.elapsed() >= d.delay
            || (d.max_replicas > 0 && WAITING.load(SeqCst) >= d.max_replicas)
            || STARTS.load(SeqCst) != d.seen
    }

    /// Starts a waiting transfer: takes the snapshot; returns what to write before it (the
    /// `+FULLRESYNC` line of a PSYNC).
    pub async fn start_delayed(&mut self, router: &Router) -> Vec<u8> {
        let Some(d) = self.delayed.take() else {
            return Vec::new();
        };
        WAITING.fetch_sub(1, SeqCst);
        STARTS.fetch_add(1, SeqCst);
        let (rx, offset) = full_resync(
            router,
            &self.replica,
            d.with_data,
            d.chained,
            true,
            self.rdb_only,
        )
        .await;
        self.payload = Some(rx);
        match d.psync {
            true => format!("+FULLRESYNC {} {offset}\r\n", ids().replid).into_bytes(),
            false => Vec::new(),
        }
    }

    /// The snapshot transfer to write first, once built (full resyncs only).
    pub fn snapshot(&mut self) -> Option<oneshot::Receiver<Transfer>> {
        self.payload.take()
    }

    /// The snapshot is being written.
    pub fn sending(&self) {
        self.replica.state.store(SEND_BULK, Relaxed);
    }

    /// The snapshot is written: the replica is online. False when it asked for the RDB only
    /// (the connection then closes, as Redis closes it).
    pub fn snapshot_sent(&self) -> bool {
        self.replica.state.store(ONLINE, Relaxed);
        self.replica.ack_ms.store(crate::shard::unix_ms(), Relaxed);
        !self.rdb_only
    }

    /// Stream bytes to write now, in order (none until the first ACK after a diskless
    /// transfer): parts of the shared buffer, which stay counted there.
    pub fn take(&self) -> Vec<Bytes> {
        let r = &self.replica;
        if r.stream_on_ack.load(Relaxed) || !r.fed() {
            return Vec::new();
        }
        let mut m = lock(&MASTER);
        let position = r.position.load(Relaxed);
        let Some(backlog) = m.backlog.as_mut() else {
            return Vec::new();
        };
        let parts = backlog.take(position, TAKE_AT_MOST);
        let taken: usize = parts.iter().map(Bytes::len).sum();
        let at = position + taken as i64;
        r.position.store(at, Relaxed);
        if backlog.end() > at {
            // More than one write's worth: the connection comes back for the rest.
            r.wake.notify_one();
        }
        m.trim();
        parts
    }

    /// Notes the bytes the connection holds to write to the replica now (its buffer's size).
    pub fn holding(&self, bytes: usize) {
        self.replica.writing.store(bytes as u64, Relaxed);
    }

    /// Waits until there is something to write or the replica is cut off.
    pub async fn wait(&self) {
        self.replica.wake.notified().await
    }

    /// True when the replica was cut off.
    pub fn dropped(&self) -> bool {
        self.replica.dropped.load(Relaxed)
    }

    /// A command the replica sent: REPLCONF ACK records its offset; nothing is answered.
    pub fn command(&self, args: &[Bytes]) {
        let is = |i: usize, word: &str| {
            args.get(i)
                .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
        };
        if !(is(0, "replconf") && is(1, "ack")) {
            return;
        }
        let Some(offset) = args.get(2).and_then(|a| crate::command::args::parse_int(a)) else {
            return;
        };
        self.replica.ack.fetch_max(offset, SeqCst);
        self.replica.ack_ms.store(crate::shard::unix_ms(), Relaxed);
        if self.replica.stream_on_ack.swap(false, SeqCst) {
            self.replica.wake.notify_one();
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if self.delayed.is_some() {
            WAITING.fetch_sub(1, SeqCst);
        }
        self.replica.gone.store(true, SeqCst);
        let mut m = lock(&MASTER);
        m.replicas
            .retain(|a| !Arc::ptr_eq(&a.replica, &self.replica));
        if m.replicas.is_empty() {
            m.alone_since = Some(Instant::now());
        }
        m.check();
    }
}

fn replconf(session: &mut Session, args: &mut Args) -> CmdResult {
    let all = args.all();
    if all.len().is_multiple_of(2) {
        return Err(error(err::SYNTAX));
    }
    let link = &mut session.replication;
    for pair in all[1..].chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        match option.to_ascii_lowercase().as_slice() {
            b"listening-port" => {
                let port =
                    crate::command::args::parse_int(value).ok_or_else(|| error(err::NOT_INT))?;
                link.listening_port = port as u16;
            }
            b"ip-address" => {
                // NET_HOST_STR_LEN
                if value.len() >= 256 {
                    return Err(err::replconf_ip_too_long(value.len()));
                }
                link.ip = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"capa" => match value.to_ascii_lowercase().as_slice() {
                b"eof" => link.capa_eof = true,
                b"psync2" => link.capa_psync2 = true,
                _ => {}
            },
            // Only a replica's own link sends these; from another client they do nothing.
            b"ack" | b"getack" => return Ok(Reply::Sequence(Vec::new())),
            b"rdb-only" => match crate::command::args::parse_int(value) {
                Some(n @ 0..=1) => link.rdb_only = n == 1,
                Some(_) => return Err(err::value_between(0, 1)),
                None => return Err(error(err::NOT_INT)),
            },
            b"rdb-filter-only" => {
                let text = String::from_utf8_lossy(value);
                for filter in text.split_ascii_whitespace() {
                    if !filter.eq_ignore_ascii_case("functions") {
                        return Err(err::rdb_filter_unsupported(filter));
                    }
                }
                link.filtered = true;
            }
            _ => return Err(err::replconf_unknown_option(option)),
        }
    }
    Ok(Reply::Simple("OK"))
}

fn psync(session: &mut Session, args: Args) -> Pin<Box<dyn Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        let all = args.all();
        let Some(offset) = crate::command::args::parse_int(&all[2]) else {
            tracing::warn!(
                "Replica {} asks for synchronization but with a wrong offset",
                replica_name(session)
            );
            return Err(error(err::NOT_INT));
        };
        if all
            .get(3)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"failover"))
        {
            let from = session.client.addr.to_string();
            super::failover::psync_request(&session.server, &all[1], &from)?;
        }
        let replid = String::from_utf8_lossy(&all[1]).into_owned();
        start(session, Some((replid, offset))).await
    })
}

/// How Redis's log names a replica (replicationGetSlaveName): its address and listening port.
fn replica_name(session: &Session) -> String {
    slave_name(&replica_ip(session), session.replication.listening_port)
}

/// The address a replica announced (`REPLCONF ip-address`), else its connection's.
fn replica_ip(session: &Session) -> String {
    session
        .replication
        .ip
        .clone()
        .unwrap_or_else(|| match &session.client.addr {
            crate::state::Addr::Tcp(a) => a.ip().to_string(),
            crate::state::Addr::Unix(_) => "?".into(),
        })
}

/// `ip:port`, or `ip:<unknown-replica-port>` before the replica said its port.
fn slave_name(ip: &str, port: u16) -> String {
    match port {
        0 => format!("{ip}:<unknown-replica-port>"),
        port => format!("{ip}:{port}"),
    }
}

fn sync(session: &mut Session, _args: Args) -> Pin<Box<dyn Future<Output = CmdResult> + '_>> {
    Box::pin(start(session, None))
}

/// PSYNC (with the replica's request) or SYNC: a partial resync when the backlog holds what
/// it asks for, else a full one. The connection becomes the replica's feed.
async fn start(session: &mut Session, request: Option<(String, i64)>) -> CmdResult {
    if session.replication.feed.is_some() {
        return Ok(Reply::Sequence(Vec::new()));
    }
    if super::failover::active() {
        return Err(error(err::SYNC_WHILE_FAILING_OVER));
    }
    // A replica serves its own replicas the stream of its master, once it follows it.
    let chained = super::replica::is_replica();
    if chained && super::replica::state() != super::replica::LinkState::Connected {
        return Err(error(err::SYNC_NO_MASTER_LINK));
    }
    let link = &session.replication;
    if link.filtered && !link.capa_eof {
        return Err(error(err::FILTERED_REPLICA_NEEDS_EOF));
    }
    let config = session.server.config().clone();
    attach(&session.router, &config).await;
    let link = &session.replication;
    let ip = replica_ip(session);
    let replica = Arc::new(Replica {
        client: session.client.id,
        ip,
        port: link.listening_port,
        position: AtomicI64::new(NOT_FED),
        writing: AtomicU64::new(0),
        wake: Notify::new(),
        state: std::sync::atomic::AtomicU8::new(WAIT_BGSAVE),
        ack: AtomicI64::new(0),
        ack_ms: AtomicU64::new(crate::shard::unix_ms()),
        dropped: AtomicBool::new(false),
        stream_on_ack: AtomicBool::new(false),
        gone: AtomicBool::new(false),
    });
    if let Some((replid, offset)) = &request {
        // Whatever holds shards now (an EXEC that ran CLIENT KILL on this replica's last link,
        // say) ends first, so the backlog holds all of it before the offset is judged, as a
        // PSYNC on Redis comes after the whole transaction.
        session.router.run_all(|_: &mut Shard| {}).await;
        if let Some(reply) = try_partial(&replica, replid, *offset, link.capa_psync2) {
            SYNC_PARTIAL_OK.fetch_add(1, Relaxed);
            session.replication.feed = Some(Feed {
                replica,
                payload: None,
                rdb_only: false,
                delayed: None,
            });
            return Ok(reply);
        }
        if replid != "?" {
            SYNC_PARTIAL_ERR.fetch_add(1, Relaxed);
        }
    }
    SYNC_FULL.fetch_add(1, Relaxed);
    let eof = link.capa_eof && config.get("repl-diskless-sync") == "yes";
    let rdb_only = link.rdb_only;
    let with_data = !link.filtered;
    let delay = config.int("repl-diskless-sync-delay").max(0) as u64;
    if eof && delay > 0 {
        // Redis waits for more replicas before a diskless transfer; its reply comes then.
        tracing::info!(
            "Replica {} asks for synchronization: full resync, delayed {delay} s for more replicas",
            slave_name(&replica.ip, replica.port)
        );
        WAITING.fetch_add(1, SeqCst);
        session.replication.feed = Some(Feed {
            replica,
            payload: None,
            rdb_only,
            delayed: Some(Delayed {
                since: Instant::now(),
                delay: Duration::from_secs(delay),
                max_replicas: config.int("repl-diskless-sync-max-replicas").max(0) as usize,
                seen: STARTS.load(SeqCst),
                with_data,
                chained,
                psync: request.is_some(),
            }),
        });
        return Ok(Reply::Sequence(Vec::new()));
    }
    let (rx, offset) =
        full_resync(&session.router, &replica, with_data, chained, eof, rdb_only).await;
    session.replication.feed = Some(Feed {
        replica,
        payload: Some(rx),
        rdb_only,
        delayed: None,
    });
    match request {
        Some(_) => Ok(Reply::Status(format!(
            "FULLRESYNC {} {offset}",
            ids().replid
        ))),
        None => Ok(Reply::Sequence(Vec::new())),
    }
}

/// Takes a full resync's snapshot (between two batches of its master's stream on a chained
/// replica) and builds its transfer on a thread of its own; the transfer when built, and the
/// offset the snapshot stands at.
async fn full_resync(
    router: &Router,
    replica: &Arc<Replica>,
    with_data: bool,
    chained: bool,
    eof: bool,
    rdb_only: bool,
) -> (oneshot::Receiver<Transfer>, i64) {
    let (parts, offset) = match chained {
        // Between two batches of the master's stream: the data and the offset agree.
        true => {
            let paused = super::replica_apply::pause().await;
            let cut = cut(router, replica, with_data, rdb_only).await;
            drop(paused);
            cut
        }
        false => cut(router, replica, with_data, rdb_only).await,
    };
    replica.stream_on_ack.store(eof, Relaxed);
    let (tx, rx) = oneshot::channel();
    let libraries = crate::command::scripting::function::library_codes();
    let at = rdb::ReplInfo {
        stream_db: 0,
        replid: ids().replid,
        offset,
    };
    let began = crate::command::saving::save_began();
    let building = Building::new();
    let wanted = replica.clone();
    let spawned = std::thread::Builder::new()
        .name("ringkv-replsync".into())
        .spawn(move || {
            // Paced while its replica waits for it; built at full speed (and dropped) once
            // the replica is gone, as Redis kills a child no replica needs.
            crate::command::saving::paced_while(began, move || {
                !wanted.gone.load(Relaxed) && !wanted.dropped.load(Relaxed)
            });
            let snapshot = snapshot(parts, &libraries, &at);
            let _ = tx.send(Transfer {
                bytes: transfer(snapshot, eof),
                building,
            });
        });
    if spawned.is_err() {
        tracing::warn!("Can't start the replication snapshot");
    }
    tracing::info!(
        "Replica {} asks for synchronization: full resync at offset {offset}",
        slave_name(&replica.ip, replica.port)
    );
    (rx, offset)
}

/// Attaches replication to the shards' change stream (their journals, if not yet made).
async fn attach_stream(router: &Router) {
    let (stream, new) = journal::attach(Consumer::Replication, router.shards());
    if new {
        router
            .run_all(move |s: &mut Shard| {
                let id = s.id();
                s.set_journal(stream.journal_of(id));
            })
            .await;
    }
}

/// Attaches replication to the change stream and creates the backlog when this is the first
/// replica (a new backlog starts a new history, as Redis does).
async fn attach(router: &Router, config: &Config) {
    attach_stream(router).await;
    let mut m = lock(&MASTER);
    // A replica's backlog is made when its link comes up (`follow`), in its master's history.
    if m.backlog.is_none() && !super::replica::is_replica() {
        super::set_ids(super::Ids {
            replid: super::random_id(),
            replid2: "0".repeat(40),
            second_offset: -1,
        });
        let size = config.int("repl-backlog-size").max(1) as usize;
        m.backlog = Some(Backlog::new(size, OFFSET.load(SeqCst) + 1));
        m.out.db = None;
        m.alone_since = Some(Instant::now());
    }
    drop(m);
    start_pump();
}

/// With every shard held (a save's cut): feeds what the stream holds, so the offset stands
/// where the data does. The offset and the database the stream last selected; None without
/// a backlog.
pub fn settle() -> Option<(i64, usize)> {
    let mut m = lock(&MASTER);
    m.backlog.as_ref()?;
    m.drain();
    Some((OFFSET.load(SeqCst), m.out.db.unwrap_or(0)))
}

/// At start, before the shards exist (they take the stream's journals when made): the RDB
/// loaded held a history, so the stream and a backlog start at its offset.
pub fn restored(shards: usize, backlog_size: usize) {
    journal::attach(Consumer::Replication, shards);
    let mut m = lock(&MASTER);
    m.backlog = Some(Backlog::new(backlog_size.max(1), OFFSET.load(SeqCst) + 1));
    m.out.db = None;
    m.alone_since = Some(Instant::now());
    drop(m);
    start_pump();
}

/// At start, after `restored`: the keys the loaded file held but found expired, in its
/// order, go into the backlog as DELs (UNLINKs when `lazy`), so that replicas continuing
/// from the file's offset drop them too. Nothing without a backlog.
pub fn feed_expired_at_load(keys: &[(usize, Bytes)], lazy: bool) {
    let mut m = lock(&MASTER);
    if m.backlog.is_none() || keys.is_empty() {
        return;
    }
    let delete: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
    let mut bytes = Vec::new();
    for (db, key) in keys {
        if m.out.db != Some(*db) {
            journal::encode(&mut bytes, &[b"SELECT", db.to_string().as_bytes()]);
            m.out.db = Some(*db);
        }
        journal::encode(&mut bytes, &[delete, key]);
    }
    m.feed(&bytes);
}

/// A replica's link came up: the backlog holds its master's stream from `offset` + 1 on
/// (`fresh`: after a full resync, when what it held before no longer applies and its own
/// replicas must resync too). The change stream is attached so that a promotion needs no
/// step before the first write of its own.
pub async fn follow(router: &Router, config: &Config, offset: i64, fresh: bool) {
    attach_stream(router).await;
    let mut m = lock(&MASTER);
    let stale = m.backlog.as_ref().is_none_or(|b| b.end() != offset + 1);
    if fresh || stale {
        let size = config.int("repl-backlog-size").max(1) as usize;
        m.backlog = Some(Backlog::new(size, offset + 1));
        m.drop_replicas();
    }
    m.out.db = None;
    drop(m);
    start_pump();
}

/// A replica passes on its master's stream as received, once applied: to its backlog and
/// its own replicas (its offset already counts it).
pub fn proxy(bytes: &[u8]) {
    lock(&MASTER).push(bytes);
}

/// The last `max` bytes of the backlog (None without one, or when it is empty).
pub fn latest_backlog(max: usize) -> Option<Vec<u8>> {
    let m = lock(&MASTER);
    let backlog = m.backlog.as_ref()?;
    let len = backlog.histlen().min(max);
    if len == 0 {
        return None;
    }
    backlog.since(backlog.end() - len as i64)
}

/// Cuts this server's replicas off: its master's history changed name (they reconnect and
/// learn the new one, continuing partially).
pub fn disconnect_replicas() {
    lock(&MASTER).drop_replicas();
}

/// A replica stops following its master (REPLICAOF NO ONE): what it journaled while
/// applying the master's stream is dropped, `promote` runs (the role changes) with no drain
/// in between, and its replicas are cut off so that they learn the new history.
pub fn promote(promote: impl FnOnce()) {
    let mut m = lock(&MASTER);
    m.drain();
    promote();
    // The next write of its own names its database.
    m.out.db = None;
    m.drop_replicas();
}

/// Memory held for replication (see [`buffer_memory`]).
pub struct BufferMemory {
    /// The shared buffer (`mem_total_replication_buffers`).
    pub total: u64,
    /// Its part counted as the backlog's (`mem_replication_backlog`): up to the backlog's
    /// size while replicas are attached, else all of it.
    pub backlog: u64,
    /// Its part beyond the backlog's size while replicas are attached (Redis counts it as
    /// the replicas'), and what their connections hold to write (`mem_clients_slaves`).
    pub replicas: u64,
    /// What eviction does not count: the buffer beyond the backlog's size (with replicas or
    /// not, as Redis), what is being written, the stream the pump keeps between drains, and
    /// the blocks trimmed that the pump has yet to free.
    pub not_counted: u64,
}

/// Memory held for replication now, as INFO memory reports it.
pub fn buffer_memory() -> BufferMemory {
    let m = lock(&MASTER);
    let (total, size, releasing) = m.backlog.as_ref().map_or((0, 0, 0), |b| {
        (b.memory() as u64, b.size() as u64, b.releasing() as u64)
    });
    let beyond = total.saturating_sub(size);
    let writing: u64 = m
        .replicas
        .iter()
        .map(|a| a.replica.writing.load(Relaxed))
        .sum();
    let drained = m.out.bytes.capacity() as u64;
    let with_replicas = !m.replicas.is_empty();
    BufferMemory {
        total,
        backlog: if with_replicas {
            total.min(size)
        } else {
            total
        },
        replicas: if with_replicas { beyond } else { 0 } + writing,
        not_counted: beyond + writing + drained + releasing,
    }
}

/// What a replica's client holds to be sent (CLIENT LIST's omem), 0 for other clients.
pub fn replica_output(client: u64) -> u64 {
    let m = lock(&MASTER);
    m.replicas
        .iter()
        .find(|a| a.replica.client == client)
        .map_or(0, |a| {
            m.held_by(&a.replica) + a.replica.writing.load(Relaxed)
        })
}

/// The reply of a partial resync, with `replica` attached and sent the backlog from
/// `offset` on; None when a full resync is needed (Redis's masterTryPartialResynchronization).
fn try_partial(replica: &Arc<Replica>, replid: &str, offset: i64, psync2: bool) -> Option<Reply> {
    let ids = ids();
    let current = replid.eq_ignore_ascii_case(&ids.replid);
    let previous = replid.eq_ignore_ascii_case(&ids.replid2) && offset <= ids.second_offset;
    if !current && !previous {
        return None;
    }
    let mut m = lock(&MASTER);
    m.drain();
    let backlog = m.backlog.as_ref()?;
    if !backlog.holds(offset) {
        return None;
    }
    tracing::info!(
        "Partial resynchronization request from {}:{} accepted. Sending {} bytes of backlog starting from offset {offset}.",
        replica.ip,
        replica.port,
        backlog.end() - offset
    );
    replica.position.store(offset, Relaxed);
    replica.state.store(ONLINE, Relaxed);
    replica.wake.notify_one();
    m.replicas.push(Attached {
        replica: replica.clone(),
        over_soft_since: None,
    });
    m.alone_since = None;
    Some(match psync2 {
        true => Reply::Status(format!("CONTINUE {}", ids.replid)),
        false => Reply::Simple("CONTINUE"),
    })
}

/// With every shard held: encodes each shard's databases, feeds what the stream holds, and
/// attaches `replica` from the offset there (fed the stream unless `rdb_only`). Returns the
/// snapshot's parts and that offset.
async fn cut(
    router: &Router,
    replica: &Arc<Replica>,
    with_data: bool,
    rdb_only: bool,
) -> (Vec<Vec<DbPart>>, i64) {
    let now = crate::shard::unix_ms();
    let work: Vec<_> = (0..router.shards())
        .map(|id| {
            let job = move |s: &mut Shard| -> Vec<DbPart> {
                match with_data {
                    true => (0..s.databases())
                        .map(|db| rdb::encode_db(s.db_at(db), now))
                        .collect(),
                    false => Vec::new(),
                }
            };
            (id, job)
        })
        .collect();
    let (holding, results) = router.hold_with(work).await;
    let offset = {
        let mut m = lock(&MASTER);
        m.drain();
        // The replica's database after loading is not known to the stream: SELECT again.
        m.out.db = None;
        if let Some(backlog) = m.backlog.as_ref().filter(|_| !rdb_only) {
            replica.position.store(backlog.end(), Relaxed);
        }
        m.replicas.push(Attached {
            replica: replica.clone(),
            over_soft_since: None,
        });
        m.alone_since = None;
        OFFSET.load(SeqCst)
    };
    drop(holding);
    (results.into_iter().flatten().collect(), offset)
}

/// The RDB file of the snapshot.
fn snapshot(parts: Vec<Vec<DbPart>>, libraries: &[Bytes], at: &rdb::ReplInfo) -> Vec<u8> {
    let used = parts.iter().flatten().map(|p| p.records.len() as u64).sum();
    let mut writer = FileWriter::with_replication(crate::command::REDIS_VERSION, used, Some(at))
        .paced(crate::command::saving::key_save_pause);
    writer.functions(libraries);
    let databases = parts.iter().map(Vec::len).max().unwrap_or(0);
    for db in 0..databases {
        let of_db: Vec<&DbPart> = parts.iter().filter_map(|p| p.get(db)).collect();
        writer.database(db, &of_db);
    }
    writer.finish()
}

/// The RDB as sent: `$<len>\r\n<rdb>`, or with a diskless transfer
/// `$EOF:<mark>\r\n<rdb><mark>` (the replica reads until the 40-character mark).
fn transfer(rdb: Vec<u8>, eof: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(rdb.len() + 100);
    if eof {
        let mark = super::random_id();
        out.extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
        out.extend_from_slice(&rdb);
        out.extend_from_slice(mark.as_bytes());
    } else {
        out.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
        out.extend_from_slice(&rdb);
    }
    out
}

fn wait(session: &mut Session, args: Args) -> Pin<Box<dyn Future<Output = CmdResult> + '_>> {
    Box::pin(async move {
        if super::replica::is_replica() {
            return Err(error(err::WAIT_ON_REPLICA));
        }
        let all = args.all();
        let wanted = crate::command::args::parse_int(&all[1]).ok_or_else(|| error(err::NOT_INT))?;
        let timeout = crate::command::args::parse_block_ms(&all[2])?;
        let target = {
            let mut m = lock(&MASTER);
            m.drain();
            OFFSET.load(SeqCst)
        };
        let count = acked(target);
        // Inside a transaction it never blocks (it would hold the transaction's shards).
        if count >= wanted || session.tx.in_multi() || session.router.in_transaction() {
            return Ok(Reply::Int(count));
        }
        {
            let mut m = lock(&MASTER);
            m.drain();
            m.feed(GETACK);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            tokio::select! {
                _ = session.hangup.raised() => break,
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
            let count = acked(target);
            if count >= wanted || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Reply::Int(count));
            }
        }
        Ok(Reply::Int(acked(target)))
    })
}

/// `master_repl_offset` once the stream's pending writes are fed (FAILOVER waits for it).
pub fn stream_offset() -> i64 {
    lock(&MASTER).drain();
    OFFSET.load(SeqCst)
}

/// Replicas that acknowledged `offset` or beyond.
fn acked(offset: i64) -> i64 {
    let m = lock(&MASTER);
    m.replicas
        .iter()
        .filter(|a| a.replica.ack.load(SeqCst) >= offset)
        .count() as i64
}

/// True when writes are refused for lack of good replicas (`min-replicas-to-write`).
#[inline]
pub fn lacks_good_replicas() -> bool {
    let min = MIN_TO_WRITE.load(Relaxed);
    min > 0
        && MAX_LAG.load(Relaxed) > 0
        && GOOD.load(Relaxed) < min
        && !super::replica::is_replica()
}

/// Applies the options the write path and the pump read (at start and on CONFIG SET).
pub fn configure(config: &Config) {
    MIN_TO_WRITE.store(config.int("min-replicas-to-write").max(0) as u64, Relaxed);
    MAX_LAG.store(config.int("min-replicas-max-lag").max(0) as u64, Relaxed);
    PING_SECS.store(
        config.int("repl-ping-replica-period").max(1) as u64,
        Relaxed,
    );
    TIMEOUT_SECS.store(config.int("repl-timeout").max(1) as u64, Relaxed);
    let size = config.int("repl-backlog-size").max(1) as usize;
    let mut m = lock(&MASTER);
    // At once, as Redis resizes it in CONFIG SET: a PSYNC right after is judged by it.
    if let Some(backlog) = m.backlog.as_mut().filter(|b| b.size() != size) {
        backlog.resize(size);
        m.trim();
    }
    // The next write already counts the good replicas by the new lag (not at the pump's
    // next round).
    m.check();
}

/// Maintenance tick (thread 0): applies the options, frees the backlog after
/// `repl-backlog-ttl` without replicas.
pub fn tick(router: &Router, config: &Config) {
    configure(config);
    let ttl = config.int("repl-backlog-ttl").max(0) as u64;
    let mut m = lock(&MASTER);
    // A replica keeps its backlog: after a promotion its own replicas continue from it.
    if m.backlog.is_none() || !m.replicas.is_empty() || ttl == 0 || super::replica::is_replica() {
        return;
    }
    if m.alone_since
        .is_none_or(|since| since.elapsed() < Duration::from_secs(ttl))
    {
        return;
    }
    tracing::info!("Replication backlog freed after {ttl} seconds without connected replicas.");
    m.drain();
    m.backlog = None;
    drop(m);
    // Its history cannot be continued any more: a new one starts, as Redis does.
    super::set_ids(super::Ids {
        replid: super::random_id(),
        replid2: "0".repeat(40),
        second_offset: -1,
    });
    if journal::detach(Consumer::Replication) {
        let router = router.clone();
        tokio::task::spawn_local(async move {
            router.run_all(|s| s.set_journal(None)).await;
        });
    }
}

/// Client ids of the attached replicas (CLIENT LIST/KILL TYPE replica, the `S` flag).
pub fn replica_clients() -> Vec<u64> {
    lock(&MASTER)
        .replicas
        .iter()
        .map(|a| a.replica.client)
        .collect()
}

/// CONFIG RESETSTAT: the resync counters start again.
pub fn reset_stats() {
    for counter in [&SYNC_FULL, &SYNC_PARTIAL_OK, &SYNC_PARTIAL_ERR] {
        counter.store(0, Relaxed);
    }
}

/// INFO stats' resync counters: sync_full, sync_partial_ok, sync_partial_err.
pub fn sync_stats() -> [u64; 3] {
    [
        SYNC_FULL.load(Relaxed),
        SYNC_PARTIAL_OK.load(Relaxed),
        SYNC_PARTIAL_ERR.load(Relaxed),
    ]
}

/// INFO replication's lines of a master, after `role`.
pub fn info(out: &mut Vec<(String, String)>) {
    let ids = super::ids();
    // Every write answered so far counts, as in Redis where a write is propagated before
    // its reply: the pump's pending part is fed first.
    let offset = stream_offset();
    let replicas = replicas();
    out.push(("connected_slaves".into(), replicas.len().to_string()));
    for (i, r) in replicas.iter().enumerate() {
        out.push((
            format!("slave{i}"),
            format!(
                "ip={},port={},state={},offset={},lag={}",
                r.ip, r.port, r.state, r.offset, r.lag
            ),
        ));
    }
    out.push((
        "master_failover_state".into(),
        super::failover::state_name().into(),
    ));
    out.push(("master_replid".into(), ids.replid));
    out.push(("master_replid2".into(), ids.replid2));
    out.push(("master_repl_offset".into(), offset.to_string()));
    out.push(("second_repl_offset".into(), ids.second_offset.to_string()));
    let active = lock(&MASTER).backlog.is_some();
    out.push(("repl_backlog_active".into(), (active as u8).to_string()));
}

/// INFO's repl_backlog_first_byte_offset and repl_backlog_histlen (0 0 without a backlog).
pub fn backlog_span() -> (i64, usize) {
    lock(&MASTER)
        .backlog
        .as_ref()
        .map_or((0, 0), |b| (b.first_offset(), b.histlen()))
}

/// One attached replica as ROLE and INFO show it.
#[derive(Clone, Debug)]
pub struct ReplicaView {
    pub ip: String,
    pub port: u16,
    /// The last offset it acknowledged.
    pub offset: i64,
    pub state: &'static str,
    /// Seconds since its last ACK.
    pub lag: u64,
}

/// The replicas attached now.
pub fn replicas() -> Vec<ReplicaView> {
    let now = crate::shard::unix_ms();
    lock(&MASTER)
        .replicas
        .iter()
        .map(|a| {
            let r = &a.replica;
            ReplicaView {
                ip: r.ip.clone(),
                port: r.port,
                offset: r.ack.load(SeqCst),
                state: match r.state.load(Relaxed) {
                    WAIT_BGSAVE => "wait_bgsave",
                    SEND_BULK => "send_bulk",
                    _ => "online",
                },
                lag: now.saturating_sub(r.ack_ms.load(Relaxed)) / 1000,
            }
        })
        .collect()
}
