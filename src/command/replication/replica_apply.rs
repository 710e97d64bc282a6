//! Applies what the master link receives, on runtime thread 0: loads a full resync's
//! snapshot in place of the whole dataset (every shard held from the flush to the last key,
//! as DEBUG RELOAD), runs the command stream as the master's client (never refused, replies
//! dropped), counts the offset by the stream's bytes, and acknowledges it to the master
//! (REPLCONF ACK every second, and at once for REPLCONF GETACK).

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};

use super::replica::{self, LinkState};
use crate::command::persist::Restored;
use crate::command::scripting::function::{self, Policy};
use crate::command::{dispatch, Session};
use crate::shard::Router;
use crate::state::{Addr, ClientInfo, ServerState};

/// A full resync's snapshot, decoded per owning shard.
pub struct Load {
    pub per_shard: Vec<Restored>,
    pub libraries: Vec<Bytes>,
    /// The master's history and the offset the snapshot stands at.
    pub replid: String,
    pub offset: i64,
}

/// What the link hands over, in the order it received it.
pub enum Feed {
    /// A link is up: its socket (for the ACKs), and the snapshot to load first after
    /// +FULLRESYNC (none after +CONTINUE).
    Attach {
        gen: u64,
        ack: TcpStream,
        load: Option<Load>,
    },
    /// Commands of the stream with their sizes in it; `extra`: bytes of the stream that held
    /// no command; `raw`: the stream's bytes as received, passed on to this server's own
    /// replicas.
    Commands {
        gen: u64,
        commands: Vec<(Vec<Bytes>, usize)>,
        extra: usize,
        raw: Bytes,
    },
    /// Holds the applier between two batches until `resume` is dropped (a full resync of
    /// this server's own replica takes its snapshot there).
    Pause {
        ready: oneshot::Sender<()>,
        resume: oneshot::Receiver<()>,
    },
}

/// While held, the applier runs none of the master's commands.
pub struct Paused {
    _resume: Option<oneshot::Sender<()>>,
}

/// Holds the applier between two batches (its queued batches before this are applied
/// first); the guard resumes it.
pub async fn pause() -> Paused {
    let Some(sender) = FEED.get() else {
        return Paused { _resume: None };
    };
    let (ready_tx, ready) = oneshot::channel();
    let (resume_tx, resume) = oneshot::channel();
    let pause = Feed::Pause {
        ready: ready_tx,
        resume,
    };
    if sender.send(pause).await.is_err() {
        return Paused { _resume: None };
    }
    let _ = ready.await;
    Paused {
        _resume: Some(resume_tx),
    }
}

/// Waits (on the link's thread) until the applier has applied every batch queued so far.
/// The link settles before it names its offset in PSYNC: a batch read before the link
/// dropped is counted then, so the master does not send it again (applied twice, it would
/// also put the offset past the master's, off its commands' bounds).
pub fn settle() -> Result<(), String> {
    let (ready_tx, ready) = oneshot::channel();
    // Dropped on return: the applier goes on at once.
    let (_resume, resume) = oneshot::channel();
    send(Feed::Pause {
        ready: ready_tx,
        resume,
    })?;
    ready
        .blocking_recv()
        .map_err(|_| "the replication applier stopped".to_string())
}

/// The database the master's stream selected last (a save notes it; a restart resumes it).
static STREAM_DB: AtomicUsize = AtomicUsize::new(0);

pub fn stream_db() -> usize {
    STREAM_DB.load(SeqCst)
}

/// The stream's database read from the RDB file loaded at start.
pub fn set_stream_db(db: usize) {
    STREAM_DB.store(db, SeqCst);
}

/// Batches waiting beyond this hold the link's reader (back-pressure on the master).
const QUEUE: usize = 64;

static FEED: OnceLock<mpsc::Sender<Feed>> = OnceLock::new();

/// Hands `feed` to the applier, waiting while its queue is full (link thread only).
pub fn send(feed: Feed) -> Result<(), String> {
    let sender = FEED.get().ok_or("the replication applier is not running")?;
    sender
        .blocking_send(feed)
        .map_err(|_| "the replication applier stopped".to_string())
}

/// The link up now, as the applier holds it.
struct Attached {
    gen: u64,
    ack: TcpStream,
    client: Arc<ClientInfo>,
}

impl Attached {
    fn stale(&self) -> bool {
        self.gen != replica::generation()
    }

    /// Sends REPLCONF ACK <offset> without blocking the runtime: a master that stopped
    /// reading loses the ACK (the next one says the same and more); a partial write would
    /// corrupt the stream, so the link is cut then.
    fn ack(&self) {
        let offset = super::OFFSET.load(SeqCst).to_string();
        let frame = format!(
            "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n${}\r\n{offset}\r\n",
            offset.len()
        );
        let sock = socket2::SockRef::from(&self.ack);
        match sock.send_with_flags(frame.as_bytes(), libc::MSG_DONTWAIT) {
            Ok(n) if n == frame.len() => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => {
                let _ = self.ack.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// Runs on thread 0 for the life of the server: starts following the master named by
/// `replicaof` at start, then applies every link's feed.
pub async fn serve(router: Router, server: Arc<ServerState>) {
    let (sender, mut feed) = mpsc::channel(QUEUE);
    if FEED.set(sender).is_err() {
        return;
    }
    // Read first: `set_master` writes the configuration.
    let configured = replica::parse_config(server.config().get("replicaof"));
    if let Some(master) = configured {
        replica::set_master(&server, master, false);
    }
    // A cluster node's role is the cluster's: a replica follows its master from here.
    crate::cluster::replication_ready();
    let mut session = master_session(&router, &server, None);
    session.db = stream_db();
    let mut attached: Option<Attached> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            next = feed.recv() => match next {
                Some(Feed::Attach { gen, ack, load }) => {
                    detach(&server, &mut attached);
                    if gen != replica::generation() {
                        replica::set_loading(replica::Loading::No);
                        continue;
                    }
                    let client = register(&server, &ack);
                    let db = session.db;
                    let full = load.is_some();
                    session = master_session(&router, &server, Some(client.clone()));
                    let fresh = load.is_some();
                    match load {
                        Some(load) => load_snapshot(&router, load).await,
                        // A partial resync goes on where the stream was: same database.
                        None => session.db = db,
                    }
                    let offset = super::OFFSET.load(SeqCst);
                    let config = server.config().clone();
                    super::master::follow(&router, &config, offset, fresh).await;
                    if fresh {
                        replica::set_state(gen, LinkState::Connected);
                    }
                    replica::set_master_client(client.id);
                    let link = attached.insert(Attached { gen, ack, client });
                    // The first ACK at once after loading, as Redis sends it: a master waits
                    // for it after a diskless transfer before it counts the replica online.
                    if full {
                        link.ack();
                    }
                }
                Some(Feed::Commands { gen, commands, extra, raw }) => {
                    let current = attached.as_ref().filter(|a| a.gen == gen && !a.stale());
                    if let Some(link) = current {
                        link.client.mark_active();
                        apply(&mut session, link, commands).await;
                        super::OFFSET.fetch_add(extra as i64, SeqCst);
                        STREAM_DB.store(session.db, SeqCst);
                        super::master::proxy(&raw);
                    }
                }
                Some(Feed::Pause { ready, resume }) => {
                    if ready.send(()).is_ok() {
                        let _ = resume.await;
                    }
                }
                None => return,
            },
            _ = tick.tick() => {
                if attached.as_ref().is_some_and(Attached::stale) {
                    detach(&server, &mut attached);
                }
                if let Some(link) = &attached {
                    if replica::state() == LinkState::Connected {
                        link.ack();
                    }
                }
            }
        }
    }
}

/// Forgets the link the applier held (its client leaves the registry before its socket
/// closes).
fn detach(server: &ServerState, attached: &mut Option<Attached>) {
    if let Some(link) = attached.take() {
        replica::set_master_client(0);
        server.clients.unregister(link.client.id);
        drop(link);
    }
}

/// The master's client in the registry (CLIENT LIST shows it, CLIENT KILL cuts the link).
fn register(server: &ServerState, ack: &TcpStream) -> Arc<ClientInfo> {
    let unknown = || std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let peer = Addr::Tcp(ack.peer_addr().unwrap_or_else(|_| unknown()));
    let local = Addr::Tcp(ack.local_addr().unwrap_or_else(|_| unknown()));
    let client = server.clients.register(peer, local, ack.as_raw_fd(), 0);
    client.authenticated.store(true, SeqCst);
    client
}

/// A session for the master's commands: authenticated, exempt from a replica's refusals.
fn master_session(
    router: &Router,
    server: &Arc<ServerState>,
    client: Option<Arc<ClientInfo>>,
) -> Session {
    let client = client.unwrap_or_else(|| {
        // Until a link is up the session runs nothing; a client outside the registry.
        let unknown = Addr::Tcp(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let placeholder = server.clients.register(unknown.clone(), unknown, -1, 0);
        server.clients.unregister(placeholder.id);
        placeholder
    });
    let mut auth = crate::command::access::Login::default();
    auth.authenticated = true;
    let mut session = Session::new(router, server, client, 0, auth);
    session.master_link = true;
    session
}

/// Replaces the whole dataset (and the functions) by the snapshot's, then adopts the
/// master's history and offset.
async fn load_snapshot(router: &Router, load: Load) {
    let Load {
        per_shard,
        libraries,
        replid,
        offset,
    } = load;
    if let Err(e) = function::reload(libraries, Policy::Flush).await {
        tracing::warn!("MASTER <-> REPLICA sync: the functions did not load: {e:?}");
    }
    let all: Vec<usize> = (0..router.shards()).collect();
    let holding = router.hold(&all).await;
    let mut keys = 0;
    for (shard, restored) in per_shard.into_iter().enumerate() {
        keys += restored.len();
        holding
            .run(shard, move |s| {
                (0..s.databases()).for_each(|db| s.flush_db(db));
                for (db, key, entry) in restored {
                    s.db_at(db).insert(&key, entry);
                }
                // Loading is not a write anyone subscribed to.
                drop(s.drain_events());
            })
            .await;
    }
    drop(holding);
    crate::tracking::flushed(0);
    super::set_ids(super::Ids {
        replid,
        replid2: "0".repeat(40),
        second_offset: -1,
    });
    super::OFFSET.store(offset, SeqCst);
    replica::note_history();
    replica::set_loading(replica::Loading::No);
    tracing::info!("MASTER <-> REPLICA sync: Finished with success ({keys} keys)");
}

/// Runs a batch of the master's commands in order; REPLCONF GETACK is answered (with the
/// offset before it, as Redis) instead of run. The offset counts each command once run.
async fn apply(session: &mut Session, link: &Attached, commands: Vec<(Vec<Bytes>, usize)>) {
    let mut run: Vec<Vec<Bytes>> = Vec::new();
    let mut bytes = 0usize;
    for (command, size) in commands {
        if command[0].eq_ignore_ascii_case(b"replconf") {
            execute(session, std::mem::take(&mut run)).await;
            super::OFFSET.fetch_add(std::mem::take(&mut bytes) as i64, SeqCst);
            if command
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"getack"))
            {
                link.ack();
            }
            super::OFFSET.fetch_add(size as i64, SeqCst);
            continue;
        }
        run.push(command);
        bytes += size;
    }
    execute(session, run).await;
    super::OFFSET.fetch_add(bytes as i64, SeqCst);
}

async fn execute(session: &mut Session, commands: Vec<Vec<Bytes>>) {
    if commands.is_empty() {
        return;
    }
    // A script past its busy threshold holds the master's commands until it ends (Redis
    // leaves its master's input unread then), instead of their being refused with BUSY.
    while crate::command::scripting::busy() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let names: Vec<&'static str> = commands.iter().map(|c| command_name(c)).collect();
    let mut replies = BytesMut::new();
    let total = commands.len();
    let mut held = APPLYING
        .scope((), dispatch::execute(session, commands, &mut replies))
        .await;
    let mut done = total - held.as_ref().map_or(0, Vec::len);
    on_errors(session, &replies, &names[..done]);
    // A client pause holds the master's writes too (Redis pauses its master client).
    while let Some(commands) = held {
        crate::command::pause::wait(session, &commands[0]).await;
        replies.clear();
        let start = done;
        held = APPLYING
            .scope((), dispatch::execute(session, commands, &mut replies))
            .await;
        done = total - held.as_ref().map_or(0, Vec::len);
        on_errors(session, &replies, &names[start..done]);
    }
    session.close = false;
}

tokio::task_local! {
    /// Set while the applier runs its master's commands.
    static APPLYING: ();
}

/// True inside the applier's own commands: a save one of them makes (FLUSHALL's) must not
/// wait for the applier to pause, as it never would.
pub fn applying() -> bool {
    APPLYING.try_with(|()| ()).is_ok()
}

/// Errors this replica answered its master's commands with (Redis's "unexpected error
/// replies").
static UNEXPECTED_ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// INFO's `unexpected_error_replies`.
pub fn unexpected_errors() -> u64 {
    UNEXPECTED_ERRORS.load(SeqCst)
}

/// Counts an error answered to the AOF's commands while loading.
pub fn count_unexpected_error() {
    UNEXPECTED_ERRORS.fetch_add(1, SeqCst);
}

/// CONFIG RESETSTAT.
pub fn reset_unexpected_errors() {
    UNEXPECTED_ERRORS.store(0, SeqCst);
}

/// A command's name as Redis's log names it: `container|sub` for a subcommand,
/// `<unknown>` for a command it does not know.
fn command_name(command: &[Bytes]) -> &'static str {
    match command
        .first()
        .and_then(|name| crate::command::table::lookup(name))
    {
        Some((_, spec)) => spec.resolve(command).name,
        None => "<unknown>",
    }
}

/// Every error among `replies` (the encoded replies to the commands named `names`, in order)
/// is a divergence from the master: logged as Redis logs it, counted, and with
/// `propagation-error-behavior panic` or `panic-on-replicas` on a read-only replica the
/// server stops, as Redis's does.
fn on_errors(session: &Session, replies: &[u8], names: &[&str]) {
    let found = reply_errors(replies);
    if found.is_empty() {
        return;
    }
    let config = session.server.config();
    let panic = matches!(
        config.get("propagation-error-behavior"),
        "panic" | "panic-on-replicas"
    ) && config.get("replica-read-only") == "yes";
    for (index, text) in found {
        let name = names.get(index).copied().unwrap_or("<unknown>");
        let text = &text[..text.len().min(4096)];
        tracing::warn!(
            "== CRITICAL == This replica is sending an error to its master: '{}' after processing the command '{name}'",
            String::from_utf8_lossy(text)
        );
        // Redis's showLatestBacklog: what the master sent last, for the post-mortem.
        if let Some(latest) = super::master::latest_backlog(256) {
            tracing::warn!(
                "Latest backlog is: '{}'",
                crate::protocol::repr::repr(&latest)
            );
        }
        UNEXPECTED_ERRORS.fetch_add(1, SeqCst);
        if panic {
            panic!(
                "This replica panicked sending an error to its master after processing the command '{name}'"
            );
        }
    }
}

/// The error replies in an encoded reply stream: (index of the top-level reply holding it,
/// its text without the `-`), errors nested in arrays (EXEC's) included.
fn reply_errors(mut buf: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut found = Vec::new();
    let mut index = 0;
    // Elements still to read of the open aggregates, innermost last.
    let mut open: Vec<usize> = Vec::new();
    while let Some(&kind) = buf.first() {
        let Some(end) = memchr::memmem::find(buf, b"\r\n") else {
            break;
        };
        let line = &buf[1..end];
        buf = &buf[end + 2..];
        let count = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
        let mut children = 0usize;
        match kind {
            b'-' | b'!' => {
                let text = if kind == b'-' {
                    line.to_vec()
                } else {
                    let n = count().unwrap_or(0).max(0) as usize;
                    let text = buf.get(..n).unwrap_or(buf).to_vec();
                    buf = buf.get(n + 2..).unwrap_or_default();
                    text
                };
                found.push((index, text));
            }
            b'$' | b'=' => {
                let n = count().unwrap_or(-1);
                if n >= 0 {
                    buf = buf.get(n as usize + 2..).unwrap_or_default();
                }
            }
            b'*' | b'~' | b'>' => children = count().unwrap_or(0).max(0) as usize,
            b'%' => children = 2 * count().unwrap_or(0).max(0) as usize,
            // An attribute precedes the reply it annotates: its pairs, then that reply.
            b'|' => children = 2 * count().unwrap_or(0).max(0) as usize + 1,
            _ => {}
        }
        if children > 0 {
            open.push(children);
            continue;
        }
        // One element done: close every aggregate it completes.
        loop {
            match open.last_mut() {
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
                None => {
                    index += 1;
                    break;
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::reply_errors;

    #[test]
    fn errors_are_found_at_their_top_level_reply() {
        let replies = b"+OK\r\n$5\r\n-ab\r\n\r\n-ERR one\r\n*3\r\n:1\r\n*1\r\n-WRONGTYPE two\r\n$-1\r\n*0\r\n-ERR three\r\n";
        let found = reply_errors(replies);
        let texts: Vec<(usize, &[u8])> = found.iter().map(|(i, t)| (*i, &t[..])).collect();
        assert_eq!(
            texts,
            vec![
                (2, &b"ERR one"[..]),
                (3, &b"WRONGTYPE two"[..]),
                (5, &b"ERR three"[..])
            ]
        );
    }

    #[test]
    fn a_cut_stream_ends_the_search() {
        assert!(reply_errors(b"$10\r\nabc").is_empty());
        assert_eq!(reply_errors(b"-ERR x\r\n*2\r\n:1").len(), 1);
    }
}
