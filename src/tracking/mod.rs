//! Client-side caching, the delivery side: each connection's tracking state (CLIENT TRACKING
//! flags, redirection, BCAST prefixes), the process-wide list of tracking clients and prefix
//! table, and the per-thread delivery of invalidations to connections.
//!
//! A shard buffers invalidations as (thread, client id, key) (`shard::tracking`); after the job
//! they go to each client's thread in one mailbox message per thread per tick, the way pub/sub
//! fans out. There the client's own state decides (tracking still on, NOLOOP, redirection),
//! and the message is queued to the connection it is for, which encodes it for its protocol
//! when it writes. Keys a shard job changed for BCAST clients are sent as one message per
//! prefix, as Redis sends what one event loop iteration changed.
//! Depends on `shard` (mailbox, tracking table), `state` (the client registry), `protocol`
//! and `handoff`; never on `command`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use crate::handoff;
use crate::protocol::Protocol;
use crate::shard::mailbox::run_on_thread;
use crate::shard::tracking::{Invalidation, Track, Tracker};
use crate::state::ServerState;

/// CLIENT TRACKING is on.
pub const ON: u8 = 1;
pub const BCAST: u8 = 2;
pub const OPTIN: u8 = 4;
pub const OPTOUT: u8 = 8;
/// CLIENT CACHING yes (OPTIN) or no (OPTOUT) was given for the next command.
pub const CACHING: u8 = 16;
pub const NOLOOP: u8 = 32;
/// The redirection's client is gone.
pub const BROKEN: u8 = 64;

/// Something to write to a connection, outside any reply.
#[derive(Debug)]
pub enum Note {
    /// `invalidate` with these keys (None: every key, after a flush). `redirected`: sent for
    /// another client, so a RESP2 subscriber gets it as a `__redis__:invalidate` message.
    Invalidate {
        keys: Option<Arc<Vec<Bytes>>>,
        redirected: bool,
    },
    /// The client that invalidations were redirected to is gone (RESP3 only).
    RedirectBroken(u64),
}

/// One connection as delivery sees it.
pub struct Target {
    id: u64,
    thread: usize,
    flags: Cell<u8>,
    redirect: Cell<u64>,
    /// BCAST prefixes, sorted.
    prefixes: RefCell<Vec<Bytes>>,
    tx: handoff::Sender<Note>,
    server: Arc<ServerState>,
}

thread_local! {
    /// This thread's connections, by client id.
    static TARGETS: RefCell<HashMap<u64, Rc<Target>>> = RefCell::new(HashMap::new());
}

/// Tracking clients and BCAST prefixes of the whole process.
#[derive(Default)]
struct Global {
    /// Client id → thread, for every client with tracking on.
    clients: HashMap<u64, usize>,
    /// Prefix → (thread, client id) of its BCAST clients.
    prefixes: BTreeMap<Bytes, Vec<(usize, u64)>>,
}

static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);

fn global<R>(f: impl FnOnce(&mut Global) -> R) -> R {
    let mut guard = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(Global::default))
}

/// INFO: clients with tracking on, and BCAST prefixes registered.
pub fn counts() -> (usize, usize) {
    global(|g| (g.clients.len(), g.prefixes.len()))
}

/// A connection's tracking state and the queue of its notes.
pub struct Conn {
    /// Tracking is on: the command path's check, without following the pointer to `target`.
    on: bool,
    target: Rc<Target>,
    rx: handoff::Receiver<Note>,
    /// The keys a running script declared: its read-only calls track these, not their own.
    script_keys: Option<Vec<Bytes>>,
}

/// What CLIENT TRACKING ON asks for.
pub struct Options {
    pub redirect: u64,
    pub flags: u8,
    pub prefixes: Vec<Bytes>,
}

impl Conn {
    /// The state of client `id` on `thread`, registered for delivery until dropped.
    pub fn new(id: u64, thread: usize, server: Arc<ServerState>) -> Conn {
        let (tx, rx) = handoff::unbounded();
        let target = Rc::new(Target {
            id,
            thread,
            flags: Cell::new(0),
            redirect: Cell::new(0),
            prefixes: RefCell::new(Vec::new()),
            tx,
            server,
        });
        TARGETS.with(|t| t.borrow_mut().insert(id, target.clone()));
        Conn {
            on: false,
            target,
            rx,
            script_keys: None,
        }
    }

    pub fn flags(&self) -> u8 {
        self.target.flags.get()
    }

    pub fn redirect(&self) -> u64 {
        self.target.redirect.get()
    }

    pub fn prefixes(&self) -> Vec<Bytes> {
        self.target.prefixes.borrow().clone()
    }

    /// The tracker a command of this client runs with: None when tracking is off (the common
    /// case: one load and a branch).
    #[inline(always)]
    pub fn tracker(&self) -> Option<Tracker> {
        if !self.on {
            return None;
        }
        Some(self.tracker_on(self.target.flags.get()))
    }

    /// `tracker` in one byte, for a command queued in a batch.
    #[inline(always)]
    pub fn track(&self) -> Track {
        if !self.on {
            return Track::Off;
        }
        if self.script_keys.is_none() && wants_reads(self.target.flags.get()) {
            Track::Reads
        } else {
            Track::Writes
        }
    }

    fn tracker_on(&self, f: u8) -> Tracker {
        Tracker {
            id: self.target.id,
            thread: self.target.thread as u32,
            remember: self.script_keys.is_none() && wants_reads(f),
        }
    }

    /// A script with `keys` declared starts (None: it ended). Kept only while tracking is on.
    pub fn set_script_keys(&mut self, keys: Option<&[Bytes]>) {
        self.script_keys = keys
            .filter(|_| self.target.flags.get() & ON != 0)
            .map(<[Bytes]>::to_vec);
    }

    /// Within a script of a client whose reads are tracked: the keys the script declared.
    pub fn script_reads(&self) -> Option<(Tracker, &[Bytes])> {
        let keys = self.script_keys.as_deref()?;
        let f = self.target.flags.get();
        if f & ON == 0 {
            return None;
        }
        let tracker = Tracker {
            id: self.target.id,
            thread: self.target.thread as u32,
            remember: true,
        };
        wants_reads(f).then_some((tracker, keys))
    }

    /// After a command other than CLIENT outside MULTI: CLIENT CACHING applied to it only.
    pub fn command_done(&self) {
        let f = self.target.flags.get();
        if f & CACHING != 0 {
            self.target.flags.set(f & !CACHING);
        }
    }

    /// CLIENT CACHING yes|no (checked by the caller).
    pub fn set_caching(&self) {
        self.target.flags.set(self.target.flags.get() | CACHING);
    }

    /// CLIENT TRACKING ON with checked options: keeps BCAST prefixes already registered.
    pub fn enable(&mut self, options: Options) {
        self.on = true;
        let t = &self.target;
        let mut flags = t.flags.get();
        if flags & ON == 0 {
            global(|g| g.clients.insert(t.id, t.thread));
            crate::shard::tracking::note_in_use();
        }
        flags = (flags | ON) & !(BROKEN | BCAST | OPTIN | OPTOUT | NOLOOP);
        flags |= options.flags & (BCAST | OPTIN | OPTOUT | NOLOOP);
        t.flags.set(flags);
        t.redirect.set(options.redirect);
        if options.flags & BCAST != 0 {
            let mut prefixes = options.prefixes;
            if prefixes.is_empty() {
                prefixes.push(Bytes::new());
            }
            let mut mine = t.prefixes.borrow_mut();
            global(|g| {
                for prefix in prefixes {
                    if mine.contains(&prefix) {
                        continue;
                    }
                    g.prefixes
                        .entry(prefix.clone())
                        .or_default()
                        .push((t.thread, t.id));
                    mine.push(prefix);
                }
                crate::shard::tracking::set_bcast_prefixes(g.prefixes.len());
            });
            mine.sort();
        }
    }

    /// CLIENT TRACKING OFF (and RESET, and the connection's end).
    pub fn disable(&mut self) {
        self.on = false;
        let t = &self.target;
        let prefixes = std::mem::take(&mut *t.prefixes.borrow_mut());
        if t.flags.get() & ON != 0 || !prefixes.is_empty() {
            global(|g| {
                g.clients.remove(&t.id);
                for prefix in prefixes {
                    if let Some(clients) = g.prefixes.get_mut(&prefix) {
                        clients.retain(|&(_, id)| id != t.id);
                        if clients.is_empty() {
                            g.prefixes.remove(&prefix);
                        }
                    }
                }
                crate::shard::tracking::set_bcast_prefixes(g.prefixes.len());
            });
        }
        t.flags.set(0);
    }

    /// The next note for this connection.
    pub async fn next_note(&mut self) -> Option<Note> {
        self.rx.recv().await
    }

    /// A note already queued, if any.
    pub fn try_next_note(&mut self) -> Option<Note> {
        self.rx.try_recv()
    }
}

/// Whether a command's reads are remembered under `flags`: not in BCAST mode, and as OPTIN /
/// OPTOUT with CLIENT CACHING say.
fn wants_reads(flags: u8) -> bool {
    let caching = flags & CACHING != 0;
    let optin_ok = flags & OPTIN == 0 || caching;
    let optout_ok = flags & OPTOUT == 0 || !caching;
    flags & BCAST == 0 && optin_ok && optout_ok
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.disable();
        let id = self.target.id;
        TARGETS.with(|t| t.borrow_mut().remove(&id));
    }
}

/// Encodes `note` for a connection speaking `protocol` (`subscribed`: it has pub/sub
/// subscriptions), as Redis frames it; nothing where Redis sends nothing.
pub fn encode(note: &Note, protocol: Protocol, subscribed: bool, out: &mut BytesMut) {
    let resp3 = protocol == Protocol::Resp3;
    match note {
        Note::RedirectBroken(id) => {
            if resp3 {
                out.extend_from_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n");
                out.extend_from_slice(format!(":{id}\r\n").as_bytes());
            }
        }
        Note::Invalidate { keys, redirected } => {
            if resp3 {
                out.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
            } else if *redirected && subscribed {
                out.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
            } else {
                return;
            }
            match keys {
                None if resp3 => out.extend_from_slice(b"_\r\n"),
                None => out.extend_from_slice(b"$-1\r\n"),
                Some(keys) => {
                    out.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
                    for key in keys.iter() {
                        out.extend_from_slice(format!("${}\r\n", key.len()).as_bytes());
                        out.extend_from_slice(key);
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
    }
}

/// Runs `work` with this thread's connection `id`, if it is still here.
fn with_target(id: u64, work: impl FnOnce(&Rc<Target>)) {
    let target = TARGETS.with(|t| t.borrow().get(&id).cloned());
    if let Some(target) = target {
        work(&target);
    }
}

/// Queues `note` for connection `id` on `thread`, from thread `me`.
fn post(me: usize, thread: usize, id: u64, note: Note) {
    if thread == me {
        with_target(id, |t| {
            let _ = t.tx.push(note);
        });
    } else {
        run_on_thread(
            thread,
            Box::new(move || {
                with_target(id, |t| {
                    let _ = t.tx.push(note);
                })
            }),
        );
    }
}

/// Sends an invalidation of `keys` on behalf of tracking client `source` (on its thread): to
/// it, or to the client it redirects to; a redirection whose client is gone is reported.
fn send(source: &Target, keys: Option<Arc<Vec<Bytes>>>) {
    let redirect = source.redirect.get();
    if redirect == 0 {
        let _ = source.tx.push(Note::Invalidate {
            keys,
            redirected: false,
        });
        return;
    }
    match source.server.clients.thread_of(redirect) {
        Some(thread) => post(
            source.thread,
            thread,
            redirect,
            Note::Invalidate {
                keys,
                redirected: true,
            },
        ),
        None => {
            source.flags.set(source.flags.get() | BROKEN);
            let _ = source.tx.push(Note::RedirectBroken(redirect));
        }
    }
}

/// Delivers what a shard job on thread `me` buffered: each invalidation to its client's thread
/// (one message per thread), and the BCAST keys to the clients of their prefixes.
pub fn deliver(me: usize, out: Vec<Invalidation>, bcast: Vec<(Bytes, u64)>) {
    if !out.is_empty() {
        let mut by_thread: BTreeMap<usize, Vec<Invalidation>> = BTreeMap::new();
        for inv in out {
            by_thread.entry(inv.thread as usize).or_default().push(inv);
        }
        for (thread, list) in by_thread {
            if thread == me {
                invalidate_local(list);
            } else {
                run_on_thread(thread, Box::new(move || invalidate_local(list)));
            }
        }
    }
    if !bcast.is_empty() {
        broadcast(me, bcast);
    }
}

/// On the clients' thread: sends each invalidation its client still wants.
fn invalidate_local(list: Vec<Invalidation>) {
    for inv in list {
        with_target(inv.target, |t| {
            let flags = t.flags.get();
            if flags & ON == 0 || flags & BCAST != 0 {
                return;
            }
            if flags & NOLOOP != 0 && inv.writer == t.id {
                return;
            }
            send(t, Some(Arc::new(vec![inv.key])));
        });
    }
}

/// Keys changed under one prefix, sorted, with their last writer.
type PrefixKeys = Arc<Vec<(Bytes, u64)>>;

/// Sends the keys one shard job changed to the BCAST clients of each matching prefix: one
/// message per prefix and client, as Redis sends what an event loop iteration changed (a
/// transaction or a pipelined group on one shard is one job; keys changed on several shards
/// come in one message per shard).
fn broadcast(me: usize, changed: Vec<(Bytes, u64)>) {
    let mut by_thread: BTreeMap<usize, Vec<(u64, PrefixKeys)>> = BTreeMap::new();
    global(|g| {
        for (prefix, clients) in &g.prefixes {
            let mut keys: BTreeMap<&Bytes, u64> = BTreeMap::new();
            for (key, writer) in &changed {
                if key.starts_with(prefix) {
                    keys.insert(key, *writer);
                }
            }
            if keys.is_empty() {
                continue;
            }
            let keys: PrefixKeys =
                Arc::new(keys.into_iter().map(|(k, w)| (k.clone(), w)).collect());
            for &(thread, id) in clients {
                by_thread
                    .entry(thread)
                    .or_default()
                    .push((id, keys.clone()));
            }
        }
    });
    for (thread, list) in by_thread {
        if thread == me {
            broadcast_local(list);
        } else {
            run_on_thread(thread, Box::new(move || broadcast_local(list)));
        }
    }
}

/// On the clients' thread: one BCAST message per (client, prefix), without the client's own
/// changes under NOLOOP.
fn broadcast_local(list: Vec<(u64, PrefixKeys)>) {
    for (id, keys) in list {
        with_target(id, |t| {
            let flags = t.flags.get();
            if flags & ON == 0 || flags & BCAST == 0 {
                return;
            }
            let noloop = flags & NOLOOP != 0;
            let keys: Vec<Bytes> = keys
                .iter()
                .filter(|(_, writer)| !noloop || *writer != id)
                .map(|(k, _)| k.clone())
                .collect();
            if !keys.is_empty() {
                send(t, Some(Arc::new(keys)));
            }
        });
    }
}

/// FLUSHDB/FLUSHALL ran (from thread `me`): every tracking client is told that all keys are
/// invalid.
pub fn flushed(me: usize) {
    let clients: Vec<(u64, usize)> =
        global(|g| g.clients.iter().map(|(&id, &t)| (id, t)).collect());
    let mut by_thread: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (id, thread) in clients {
        by_thread.entry(thread).or_default().push(id);
    }
    for (thread, ids) in by_thread {
        let work = move || {
            for id in ids {
                with_target(id, |t| {
                    if t.flags.get() & ON != 0 {
                        send(t, None);
                    }
                });
            }
        };
        if thread == me {
            work();
        } else {
            run_on_thread(thread, Box::new(work));
        }
    }
}
