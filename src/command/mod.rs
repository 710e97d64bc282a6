//! Commands: the one command table, the argument cursor, the session (connection state that
//! commands see) and the batch dispatcher that routes each command to the shard owning its keys.
//! Depends on `protocol`, `shard`, `pubsub`, `rdb`, `config`, `state`, `glob`, `handoff`;
//! never on `server` or on sockets.

pub mod access;
mod acl;
pub mod aof;
mod args;
mod bitfield;
mod bitmap;
mod blocked;
pub mod cluster;
mod connection;
mod debug;
pub mod dispatch;
pub mod serving;
pub use connection::{client_line, REDIS_VERSION};
mod dump;
pub mod err;
mod expire;
mod geo;
mod hash;
mod hyperloglog;
mod info;
mod introspection;
mod keys;
mod latency;
mod list;
mod lolwut;
mod memory;
pub mod monitor;
pub mod pause;
pub mod persist;
mod propagate;
pub mod pubsub;
pub mod replication;
pub mod saving;
pub mod scripting;
mod server;
mod set;
mod slowlog;
mod sort;
mod stream;
mod string;
pub mod table;
mod timing;
mod tracking;
pub use timing::latency_event;
pub mod transaction;
mod zset;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use args::{Args, NumKeys};
pub use table::{lookup, CommandSpec, COMMANDS};

use crate::protocol::{Protocol, Reply};
use crate::shard::{Router, Shard, Typed};
use crate::state::{ClientInfo, ServerState};

/// A command's outcome: `Err` holds the error reply, so handlers can use `?`.
pub type CmdResult = Result<Reply, Reply>;

/// The *Op* half of a keyed command: runs on the shard owning its keys, `&mut` to its data.
pub type ShardOp = fn(&mut Shard, &mut Args) -> CmdResult;

/// A command that runs on the connection's core and touches no shard.
pub type LocalOp = fn(&mut Session, &mut Args) -> CmdResult;

/// A command that runs on the connection's core and visits shards itself (fan-out, holds).
pub type RoutedOp =
    for<'a> fn(&'a mut Session, Args) -> Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

/// How replies from several shards combine when a multi-key command is split.
#[derive(Clone, Copy, Debug)]
pub enum Merge {
    /// Add the integer replies (DEL, EXISTS, TOUCH, UNLINK).
    Sum,
    /// Put each key's element back at the key's position (MGET).
    Positional,
    /// `+OK` when every part succeeded (MSET).
    Ok,
}

/// What a keyed command does when its keys live on different shards.
#[derive(Clone, Copy)]
pub enum Cross {
    /// One key: always one shard.
    Single,
    /// Split per shard, run the same op on each part, merge. `atomic` holds all the shards first.
    Split { merge: Merge, atomic: bool },
    /// A command-specific multi-shard routine (RENAME, MSETNX, COPY...).
    Routine(RoutedOp),
}

/// Where a command runs.
#[derive(Clone, Copy)]
pub enum Kind {
    Keyed(ShardOp, Cross),
    Local(LocalOp),
    Routed(RoutedOp),
}

/// Connection state as commands see it: selected db, protocol, name, and the ways to reach shards.
pub struct Session {
    pub db: usize,
    pub protocol: Protocol,
    pub router: Router,
    pub server: Arc<ServerState>,
    pub client: Arc<ClientInfo>,
    pub thread: usize,
    /// Close the connection once the replies so far are written (QUIT, CLIENT KILL of self).
    pub close: bool,
    /// Raised when the peer is gone (a blocked command stops waiting).
    pub hangup: Hangup,
    /// Pub/sub subscriptions and their message queue.
    pub subscriptions: pubsub::Subscriptions,
    /// CLIENT REPLY: whether replies are sent.
    pub reply_mode: ReplyMode,
    /// MULTI queue and WATCHed keys.
    pub tx: transaction::State,
    /// The ACL user and whether AUTH is done.
    pub auth: crate::command::access::Login,
    /// Lists a batch of commands needs, kept for the next batch.
    pub scratch: dispatch::Scratch,
    /// MONITOR's queue of lines, once the connection monitors.
    pub monitor: monitor::Feed,
    /// CLIENT TRACKING state and the invalidations waiting to be written.
    pub tracking: crate::tracking::Conn,
    /// REPLCONF's settings, and the replica feed this connection becomes after PSYNC/SYNC.
    pub replication: replication::master::Link,
    /// The master's link on a replica: its commands are never refused as a replica refuses
    /// a normal client's (READONLY, MASTERDOWN, ACL).
    pub master_link: bool,
    /// READONLY and ASKING, on a cluster node.
    pub cluster: cluster::ClientFlags,
}

/// CLIENT REPLY ON | OFF | SKIP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// Drop the next command's reply, then back to On.
    SkipNext,
}

impl Session {
    /// A fresh session of `client` on thread `thread`: database 0, RESP2, logged in as `auth`
    /// says, nothing subscribed, queued or tracked.
    pub fn new(
        router: &Router,
        server: &Arc<ServerState>,
        client: Arc<ClientInfo>,
        thread: usize,
        auth: access::Login,
    ) -> Session {
        Session {
            tracking: crate::tracking::Conn::new(client.id, thread, server.clone()),
            db: 0,
            protocol: Protocol::Resp2,
            router: router.clone(),
            server: server.clone(),
            client,
            thread,
            close: false,
            hangup: Hangup::default(),
            subscriptions: Default::default(),
            reply_mode: Default::default(),
            tx: Default::default(),
            auth,
            scratch: Default::default(),
            monitor: Default::default(),
            replication: Default::default(),
            master_link: false,
            cluster: Default::default(),
        }
    }

    /// Whether this connection passes a `yes` / `local` / `no` option such as
    /// `enable-debug-command` or `enable-protected-configs` (Redis's allowProtectedAction):
    /// `local` admits loopback and unix-socket clients only.
    pub fn allowed_by(&self, option: &str) -> bool {
        match self.server.config().get(option) {
            "yes" => true,
            "local" => self.client.addr.is_local(),
            _ => false,
        }
    }

    /// True in RESP2 with a subscription: only the pub/sub commands, PING, QUIT and RESET run.
    pub fn in_subscribed_mode(&self) -> bool {
        self.protocol == Protocol::Resp2 && self.subscriptions.total() > 0
    }

    /// Publishes the subscription counts for CLIENT LIST.
    pub fn note_subscriptions(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.client
            .subs
            .store(self.subscriptions.total() as u32, Relaxed);
    }
}

/// Tells a connection's executor that its peer left, even while it waits on something else.
#[derive(Clone, Default)]
pub struct Hangup(std::rc::Rc<(std::cell::Cell<bool>, tokio::sync::Notify)>);

impl Hangup {
    /// Marks the peer gone and wakes whoever waits.
    pub fn raise(&self) {
        self.0 .0.set(true);
        self.0 .1.notify_waiters();
    }

    /// True once the peer is gone.
    pub fn is_raised(&self) -> bool {
        self.0 .0.get()
    }

    /// Resolves when the peer is gone.
    pub async fn raised(&self) {
        let notified = self.0 .1.notified();
        if self.is_raised() {
            return;
        }
        notified.await;
    }
}

/// The value at `key` as a `T` for reading (None if absent), WRONGTYPE for another type.
/// Counts a keyspace hit or miss, as every read does.
pub fn read_as<'a, T: Typed>(shard: &'a mut Shard, key: &[u8]) -> Result<Option<&'a T>, Reply> {
    match shard.read(key) {
        None => Ok(None),
        Some(record) => T::of(record.value())
            .map(Some)
            .ok_or_else(|| error(err::WRONGTYPE)),
    }
}

/// The value at `key` as a `T` for a change (None if absent), WRONGTYPE for another type.
/// No hit/miss accounting; marks the shard changed in place, as every write lookup does.
pub fn write_as<'a, T: Typed>(
    shard: &'a mut Shard,
    key: &[u8],
) -> Result<Option<&'a mut T>, Reply> {
    match shard.write(key) {
        None => Ok(None),
        Some(record) => T::of_mut(record.value_mut())
            .map(Some)
            .ok_or_else(|| error(err::WRONGTYPE)),
    }
}

/// The value at `key` as a `T` for a change, created empty when absent; WRONGTYPE for
/// another type.
pub fn create_as<'a, T: Typed>(shard: &'a mut Shard, key: &[u8]) -> Result<&'a mut T, Reply> {
    if write_as::<T>(shard, key)?.is_none() {
        shard.store(key, T::empty(), 0);
    }
    write_as::<T>(shard, key)?.ok_or_else(|| error(err::WRONGTYPE))
}

/// An error reply from a static text.
pub fn error(text: &'static str) -> Reply {
    Reply::error(text)
}

/// Renders client-sent bytes for an error text, the way Redis does (lossy, CR/LF neutralised by the encoder).
pub fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Walks the allocator and publishes what eviction weighs beyond the datasets (see
/// `shard::evict::weigh`); returns the walk's figures.
pub fn weigh_memory() -> crate::state::memory::Allocator {
    // Read before and after the walk, the larger kept: a replica's buffer moving between
    // its queue and its connection (or freed) meanwhile must not read as overhead, which
    // would evict keys for it.
    let before = not_counted_for_evict();
    let alloc = crate::state::memory::allocator();
    let not_counted = before.max(not_counted_for_evict());
    crate::shard::evict::weigh(alloc.allocated, not_counted);
    alloc
}

/// Evicts against used_memory as it is now (after CONFIG SET): the datasets are published,
/// the allocator weighed (a rise of the overhead counts once it lasts: see
/// `shard::evict::weigh`), then every shard evicts down to its share. Inside EXEC or a
/// script, Redis leaves eviction to the next command.
pub async fn evict_on_fresh_weight(session: &mut Session) {
    session
        .router
        .run_all(|s| {
            crate::state::memory::collect_thread();
            s.publish_dataset()
        })
        .await;
    crate::state::memory::collect_thread();
    weigh_memory();
    if !session.tx.in_exec {
        session.router.run_all(|s| s.enforce_maxmemory()).await;
    }
}

/// What eviction does not count (`mem_not_counted_for_evict`), as Redis: the AOF's buffer
/// and the replicas' output buffers (a slow replica must not evict the data it replicates).
pub fn not_counted_for_evict() -> u64 {
    aof::not_counted_for_evict() + replication::master::buffer_memory().not_counted
}

/// Applies configuration that other layers cache (string size limit, pub/sub output limit,
/// keyspace notification classes): at start and after every CONFIG SET.
pub fn apply_config(config: &crate::config::Config) {
    use std::sync::atomic::Ordering::Relaxed;
    crate::state::PROTO_MAX_BULK_LEN.store(config.int("proto-max-bulk-len") as u64, Relaxed);
    crate::state::QUERY_BUFFER_LIMIT.store(config.int("client-query-buffer-limit") as u64, Relaxed);
    crate::command::access::LOG_MAX_LEN.store(config.int("acllog-max-len") as usize, Relaxed);
    crate::command::access::PUBSUB_ALL_CHANNELS
        .store(config.get("acl-pubsub-default") == "allchannels", Relaxed);
    zset::apply_config(config);
    string::MAX_STRING_LEN.store(
        config.int("proto-max-bulk-len") as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    list::apply_config(config);
    hyperloglog::apply_config(config);
    hash::apply_config(config);
    set::apply_config(config);
    stream::apply_config(config);
    scripting::apply_config(config);
    crate::state::set_output_limits(config.get("client-output-buffer-limit"));
    saving::apply_config(config);
    timing::apply_config(config);
    // The current flags stand when the text is their rendering (which may hide `n`).
    let text = config.get("notify-keyspace-events");
    if crate::pubsub::notify::render(crate::pubsub::notify::flags()) != text {
        crate::pubsub::notify::set(crate::pubsub::notify::parse(text).unwrap_or(0));
    }
    crate::shard::tracking::set_max_keys(config.int("tracking-table-max-keys").max(0) as u64);
    replication::master::configure(config);
    if crate::cluster::enabled() {
        crate::cluster::apply_settings(crate::cluster::Settings::from_config(config));
    }
    crate::shard::evict::configure(
        config.int("maxmemory") as u64,
        config.get("maxmemory-policy"),
        config.int("maxmemory-samples") as u32,
        (
            config.int("lfu-log-factor").clamp(0, u32::MAX as i64) as u32,
            config.int("lfu-decay-time").clamp(0, u32::MAX as i64) as u32,
        ),
    );
    // The change stream journals expired keys as DEL: it needs them recorded too.
    crate::shard::db::RECORD_EXPIRED.store(
        crate::pubsub::notify::enabled(crate::pubsub::notify::EXPIRED)
            || crate::shard::journal::active()
            || crate::shard::tracking::in_use(),
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Signals that the running command modified `key` and publishes its keyspace event, from the
/// shard running the command.
pub fn notify(shard: &mut Shard, class: u32, event: &'static str, key: &[u8]) {
    shard.modified(key);
    shard.emit(class, event, key);
}

/// Publishes the keyspace events `shard` buffered, in order: run after every job on a shard
/// (the mailbox calls it, see `LocalShard::new`, and `run_op` after each command).
pub fn publish_events(shard: &mut Shard) {
    publish_keyspace_events(shard);
    // Per job, not per command: a transaction's BCAST keys go out as one message per prefix.
    if shard.has_invalidations() {
        let me = shard.id();
        let (out, bcast) = shard.take_invalidations();
        crate::tracking::deliver(me, out, bcast);
    }
}

/// Publishes the keyspace events `shard` buffered, in order (after each command).
pub fn publish_keyspace_events(shard: &mut Shard) {
    let me = shard.id();
    crate::pubsub::notify::publish(me, shard.drain_events());
}

/// Publishes `event` for a removal from the collection at `key`, then `del` when that removal
/// emptied it (the collection is already gone), as Redis does.
pub fn notify_removal(shard: &mut Shard, class: u32, event: &'static str, key: &[u8]) {
    notify(shard, class, event, key);
    if !shard.exists(key) {
        notify(shard, crate::pubsub::notify::GENERIC, "del", key);
    }
}

/// Publishes `expired` events for keys the shard reclaimed (and journals them as DEL).
pub fn notify_expired(shard: &mut Shard) {
    shard.drain_expired(false, expired_event);
}

/// [`notify_expired`], looking at every database (the expire cycle's).
pub fn notify_expired_all(shard: &mut Shard) {
    shard.drain_expired(true, expired_event);
}

fn expired_event(id: crate::shard::ShardId, db: usize, key: &[u8]) {
    crate::pubsub::notify::emit(id, crate::pubsub::notify::EXPIRED, "expired", db, key)
}
