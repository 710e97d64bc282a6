//! Redis Cluster state of this node: who it is, the nodes it knows, which node serves each of
//! the 16384 hash slots, the epochs, and whether the cluster is up; kept in `nodes.conf`
//! (`cluster-config-file`) in Redis 7.0's format. Depends on `config` and `shard` (the slot
//! count) only.
//!
//! One owner at a time changes the state, under [`with`]'s lock: CLUSTER commands, and the bus
//! thread (`bus`: links and cron; `gossip`: what messages do; `msg`: the wire format). After
//! every change the owner [`publish`]es a read-only view that the data path reads without a
//! lock: one atomic per slot naming its node, and one flag for "the cluster is up".
//!
//! Nodes meet, gossip and agree on slots; replicas follow their masters (the replication is
//! the server's, driven through [`Hooks`]); failed nodes are agreed on and their replicas
//! elected in their place (`failover`).

pub mod bus;
pub mod failover;
mod gossip;
pub mod msg;
mod nodes_conf;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, RwLock};

use crate::shard::slot::{HashSlot, SLOTS};

pub use nodes_conf::ParseError;

/// Node flags: Redis's CLUSTER_NODE_* bits, as the bus carries them in headers and gossip.
pub const MASTER: u16 = 1;
pub const SLAVE: u16 = 2;
pub const PFAIL: u16 = 4;
pub const FAIL: u16 = 8;
pub const MYSELF: u16 = 16;
pub const HANDSHAKE: u16 = 32;
pub const NOADDR: u16 = 64;
/// Send MEET, not PING, when the link to this node is made (never shown).
pub const MEET: u16 = 128;
pub const NOFAILOVER: u16 = 512;

/// Length of a node ID (hex characters).
pub const ID_LEN: usize = 40;

/// Redis's CLUSTER_PORT_INCR: the bus port's default distance from the client port.
pub const PORT_INCR: u32 = 10000;

/// One node as this node knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// 40 hex characters.
    pub id: String,
    /// Empty until known (Redis learns its own from the first MEET).
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub hostname: String,
    pub flags: u16,
    /// The master's ID, for a replica.
    pub master: Option<String>,
    pub ping_sent: u64,
    pub pong_received: u64,
    pub config_epoch: u64,
    /// Whether the bus holds a link to this node (CLUSTER NODES' `connected`).
    pub link: bool,
    /// When the node was added and when the bus last heard from it (unix ms).
    pub created: u64,
    pub data_received: u64,
    /// The replication offset its last header carried (0: none yet).
    pub repl_offset: u64,
    /// Masters that gossiped it as failing: (reporter ID, unix ms).
    pub fail_reports: Vec<(String, u64)>,
    /// When it was marked FAIL, and (for a master) when this node last voted for one of its
    /// replicas; unix ms.
    pub fail_time: u64,
    pub voted_time: u64,
    /// A replica took over from a master that had replicas (Redis's MIGRATE_TO for a node
    /// with none listed yet): a replica may migrate to it when it has none.
    pub migrate_to: bool,
    /// Since when it is an orphaned master (unix ms; 0: it is not).
    pub orphaned_time: u64,
}

impl Node {
    pub(crate) fn new(id: String, flags: u16) -> Node {
        Node {
            id,
            ip: String::new(),
            port: 0,
            cport: 0,
            hostname: String::new(),
            flags,
            master: None,
            ping_sent: 0,
            pong_received: 0,
            config_epoch: 0,
            link: false,
            created: crate::shard::unix_ms(),
            data_received: 0,
            repl_offset: 0,
            fail_reports: Vec::new(),
            fail_time: 0,
            voted_time: 0,
            migrate_to: false,
            orphaned_time: 0,
        }
    }

    pub fn is_master(&self) -> bool {
        self.flags & MASTER != 0
    }

    pub fn is_replica(&self) -> bool {
        self.flags & SLAVE != 0
    }

    pub fn failed(&self) -> bool {
        self.flags & FAIL != 0
    }
}

/// Where a slot is in a resharding, as this node sees it (`[slot->-id]`, `[slot-<-id]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moving {
    MigratingTo(usize),
    ImportingFrom(usize),
}

/// The cluster as this node sees it.
pub struct ClusterState {
    /// Known nodes, in nodes.conf order; an index is a node's handle while it is known.
    pub nodes: Vec<Node>,
    /// Index of this node in `nodes`.
    pub myself: usize,
    /// Which node serves each slot (index into `nodes`).
    pub slots: Box<[Option<u16>]>,
    /// Slots being migrated or imported.
    pub moving: hashbrown::HashMap<HashSlot, Moving>,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    /// `cluster_state:ok` (true) or `fail`.
    pub ok: bool,
    /// Masters serving at least one slot.
    pub size: usize,
    /// Where nodes.conf is written.
    pub path: PathBuf,
    /// When the state was first evaluated, and when this node last saw itself among a
    /// minority of masters (Redis's writable and rejoin delays count from them).
    first_update: Option<std::time::Instant>,
    among_minority: Option<std::time::Instant>,
    /// Nodes CLUSTER FORGET removed, not re-added from gossip until the unix ms given.
    pub blacklist: hashbrown::HashMap<String, u64>,
    /// This replica's election, or a manual failover in progress.
    pub election: failover::Election,
}

/// A fresh random node ID (40 hex characters from the kernel's random source).
pub fn random_id() -> String {
    let mut bytes = [0u8; ID_LEN / 2];
    // SAFETY: the buffer is valid for `bytes.len()` writable bytes for the call's duration.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        // No kernel randomness: time, pid and a counter, as the run ID is made.
        let seed = crate::shard::unix_ms() ^ u64::from(std::process::id()).rotate_left(32);
        return crate::state::hex_id(seed);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` has the shape of a node ID (Redis's verifyClusterNodeId: 40 characters).
pub fn valid_id(id: &[u8]) -> bool {
    id.len() == ID_LEN
}

impl ClusterState {
    /// A new node on its own, master of nothing.
    pub fn fresh(path: PathBuf) -> ClusterState {
        ClusterState {
            nodes: vec![Node::new(random_id(), MYSELF | MASTER)],
            myself: 0,
            slots: vec![None; SLOTS].into_boxed_slice(),
            moving: Default::default(),
            current_epoch: 0,
            last_vote_epoch: 0,
            ok: false,
            size: 1,
            path,
            first_update: None,
            among_minority: None,
            blacklist: Default::default(),
            election: Default::default(),
        }
    }

    pub fn me(&self) -> &Node {
        &self.nodes[self.myself]
    }

    pub fn me_mut(&mut self) -> &mut Node {
        &mut self.nodes[self.myself]
    }

    /// The master this node replicates, when it is a replica of a known node.
    pub fn my_master(&self) -> Option<usize> {
        let me = self.me();
        me.is_replica()
            .then_some(me.master.as_ref()?)
            .and_then(|id| self.lookup(id.as_bytes()))
    }

    /// What this node's replication should follow: Some(None) as a master, Some(address)
    /// as a replica of a master with an address, None while that is not known.
    fn wanted_master(&self) -> Option<Option<(String, u16)>> {
        if self.me().is_master() {
            return Some(None);
        }
        let m = &self.nodes[self.my_master()?];
        (!m.ip.is_empty() && m.port != 0).then(|| Some((m.ip.clone(), m.port)))
    }

    /// clusterSetMaster: this node turns replica of `master` (a master closes its open slots
    /// and gives up a manual failover). The replication follows on [`follow_role`].
    pub fn set_my_master(&mut self, master: usize) -> failover::Actions {
        if self.me().is_master() {
            let me = self.me_mut();
            me.flags = (me.flags & !MASTER) | SLAVE;
            self.moving.clear();
        }
        let id = self.nodes[master].id.clone();
        self.me_mut().master = Some(id);
        failover::reset_manual(self)
    }

    /// The node with ID `id`.
    pub fn lookup(&self, id: &[u8]) -> Option<usize> {
        self.nodes.iter().position(|n| n.id.as_bytes() == id)
    }

    /// The node with ID `id`, added (flags `noflags`) when unknown: nodes.conf may name a
    /// node before its own line.
    fn lookup_or_add(&mut self, id: &str) -> usize {
        self.lookup(id.as_bytes()).unwrap_or_else(|| {
            self.nodes.push(Node::new(id.to_string(), 0));
            self.nodes.len() - 1
        })
    }

    /// The node serving `slot`.
    pub fn owner(&self, slot: usize) -> Option<usize> {
        self.slots[slot].map(usize::from)
    }

    /// How many slots `node` serves.
    pub fn slot_count(&self, node: usize) -> usize {
        self.slots
            .iter()
            .filter(|o| **o == Some(node as u16))
            .count()
    }

    /// The slot ranges `node` serves, ascending.
    pub fn ranges_of(&self, node: usize) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (slot, owner) in self.slots.iter().enumerate() {
            if *owner != Some(node as u16) {
                continue;
            }
            match out.last_mut() {
                Some((_, end)) if *end + 1 == slot => *end = slot,
                _ => out.push((slot, slot)),
            }
        }
        out
    }

    /// Consecutive runs of slots served by one node, in slot order (CLUSTER SLOTS).
    pub fn runs(&self) -> Vec<(usize, usize, usize)> {
        let mut out: Vec<(usize, usize, usize)> = Vec::new();
        for (slot, owner) in self.slots.iter().enumerate() {
            let Some(owner) = owner.map(usize::from) else {
                continue;
            };
            match out.last_mut() {
                Some((_, end, node)) if *end + 1 == slot && *node == owner => *end = slot,
                _ => out.push((slot, slot, owner)),
            }
        }
        out
    }

    pub fn assign(&mut self, slot: usize, node: usize) {
        self.slots[slot] = Some(node as u16);
    }

    pub fn unassign(&mut self, slot: usize) {
        self.slots[slot] = None;
    }

    /// Forgets node `node` (never myself): its slots become unassigned, later indexes move
    /// down by one.
    pub fn remove_node(&mut self, node: usize) {
        let gone = node as u16;
        for owner in self.slots.iter_mut() {
            *owner = match *owner {
                Some(n) if n == gone => None,
                Some(n) if n > gone => Some(n - 1),
                other => other,
            };
        }
        let moving = std::mem::take(&mut self.moving);
        let shift = |n: usize| if n > node { n - 1 } else { n };
        self.moving = moving
            .into_iter()
            .filter_map(|(slot, how)| match how {
                Moving::MigratingTo(n) | Moving::ImportingFrom(n) if n == node => None,
                Moving::MigratingTo(n) => Some((slot, Moving::MigratingTo(shift(n)))),
                Moving::ImportingFrom(n) => Some((slot, Moving::ImportingFrom(shift(n)))),
            })
            .collect();
        let id = self.nodes.remove(node).id;
        for n in &mut self.nodes {
            if n.master.as_deref() == Some(&id) {
                n.master = None;
            }
            n.fail_reports.retain(|r| r.0 != id);
        }
        self.myself = shift(self.myself);
    }

    /// The largest epoch known: the current one or any node's config epoch.
    fn max_epoch(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// Redis's clusterBumpConfigEpochWithoutConsensus: a new config epoch for this node unless
    /// it already has the largest one. True when bumped.
    pub fn bump_epoch(&mut self) -> bool {
        let max = self.max_epoch();
        let mine = self.me().config_epoch;
        if mine == 0 || mine != max {
            self.current_epoch += 1;
            let epoch = self.current_epoch;
            self.me_mut().config_epoch = epoch;
            true
        } else {
            false
        }
    }

    /// My epoch as CLUSTER INFO shows it: a replica shows its master's.
    pub fn my_epoch(&self) -> u64 {
        let me = self.me();
        match (&me.master, me.is_replica()) {
            (Some(master), true) => self
                .lookup(master.as_bytes())
                .map_or(0, |m| self.nodes[m].config_epoch),
            _ => me.config_epoch,
        }
    }

    /// Redis's clusterReset: forgets the other nodes, frees every slot and open slot; a hard
    /// reset also draws a new ID and zeroes the epochs.
    pub fn reset(&mut self, hard: bool) {
        let me = self.me().clone();
        self.nodes = vec![me];
        self.myself = 0;
        self.slots.iter_mut().for_each(|s| *s = None);
        self.moving.clear();
        let me = self.me_mut();
        me.flags = (me.flags & !SLAVE) | MASTER;
        me.master = None;
        if hard {
            self.current_epoch = 0;
            self.last_vote_epoch = 0;
            let me = self.me_mut();
            me.config_epoch = 0;
            me.id = random_id();
        }
    }

    /// Redis's clusterUpdateState, for a node whose only peers are in nodes.conf: full
    /// coverage (when required) and a majority of the slot-serving masters reachable make the
    /// state ok; a master waits 2 s after the first evaluation, and a while after having been
    /// among a minority, before turning ok.
    pub fn update_state(&mut self, settings: &Settings, now: std::time::Instant) {
        const WRITABLE_DELAY: std::time::Duration = std::time::Duration::from_millis(2000);
        let first = *self.first_update.get_or_insert(now);
        let master = self.me().is_master();
        if master && !self.ok && now.duration_since(first) < WRITABLE_DELAY {
            return;
        }
        let mut ok = !settings.require_full_coverage
            || self
                .slots
                .iter()
                .all(|owner| owner.is_some_and(|n| !self.nodes[usize::from(n)].failed()));
        let mut counts = vec![0usize; self.nodes.len()];
        for owner in self.slots.iter().flatten() {
            counts[usize::from(*owner)] += 1;
        }
        let serving = |i: usize| self.nodes[i].is_master() && counts[i] > 0;
        self.size = (0..self.nodes.len()).filter(|&i| serving(i)).count();
        let reachable = (0..self.nodes.len())
            .filter(|&i| serving(i) && self.nodes[i].flags & (FAIL | PFAIL) == 0)
            .count();
        if reachable < self.size / 2 + 1 {
            ok = false;
            self.among_minority = Some(now);
        }
        if ok != self.ok {
            let rejoin = std::time::Duration::from_millis(settings.node_timeout.clamp(500, 5000));
            let recently_minority = self
                .among_minority
                .is_some_and(|t| now.duration_since(t) < rejoin);
            if ok && master && recently_minority {
                return;
            }
            tracing::warn!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.ok = ok;
        }
    }

    /// Writes nodes.conf as Redis does (CLUSTER NODES' lines without handshake nodes, then the
    /// `vars` line), in place: padded with newlines over a longer old file, then truncated.
    pub fn save(&self, fsync: bool) -> std::io::Result<()> {
        use std::io::Write;
        let text = self.describe(HANDSHAKE, true);
        let mut text = text.into_bytes();
        text.extend_from_slice(
            format!(
                "vars currentEpoch {} lastVoteEpoch {}\n",
                self.current_epoch, self.last_vote_epoch
            )
            .as_bytes(),
        );
        let content = text.len();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)?;
        let old = file.metadata()?.len() as usize;
        if old > content {
            text.resize(old, b'\n');
        }
        file.write_all(&text)?;
        if fsync {
            file.sync_all()?;
        }
        if old > content {
            let _ = file.set_len(content as u64);
        }
        Ok(())
    }

    /// CLUSTER NODES' text (and nodes.conf's node lines): one line per node not flagged with
    /// any of `skip`; `for_file` drops nothing more (Redis writes the same lines).
    pub fn describe(&self, skip: u16, _for_file: bool) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.flags & skip != 0 {
                continue;
            }
            out.push_str(&self.describe_node(i));
            out.push('\n');
        }
        out
    }

    /// One node's line: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent>
    /// <pong-recv> <config-epoch> <link-state> <slot> ...`.
    pub fn describe_node(&self, i: usize) -> String {
        nodes_conf::node_line(self, i)
    }
}

/// The cluster-* options the state reads, as last applied (start and CONFIG SET).
#[derive(Clone, Debug)]
pub struct Settings {
    pub require_full_coverage: bool,
    pub allow_reads_when_down: bool,
    pub node_timeout: u64,
    pub announce_ip: String,
    pub announce_hostname: String,
    pub announce_port: u16,
    pub announce_bus_port: u16,
    /// `ip`, `hostname` or `unknown-endpoint`.
    pub preferred_endpoint: String,
    pub allow_replica_migration: bool,
    /// `cluster-replica-validity-factor` (0: any data age may fail over).
    pub replica_validity_factor: u64,
    pub replica_no_failover: bool,
    /// `cluster-migration-barrier`: the working replicas a master keeps before one of them
    /// may migrate to an orphaned master.
    pub migration_barrier: u64,
    /// `repl-ping-replica-period`, ms.
    pub repl_ping_period_ms: u64,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            require_full_coverage: config.get("cluster-require-full-coverage") == "yes",
            allow_reads_when_down: config.get("cluster-allow-reads-when-down") == "yes",
            node_timeout: config.int("cluster-node-timeout").max(0) as u64,
            announce_ip: config.get("cluster-announce-ip").to_string(),
            announce_hostname: config.get("cluster-announce-hostname").to_string(),
            announce_port: config.int("cluster-announce-port") as u16,
            announce_bus_port: config.int("cluster-announce-bus-port") as u16,
            preferred_endpoint: config.get("cluster-preferred-endpoint-type").to_string(),
            allow_replica_migration: config.get("cluster-allow-replica-migration") == "yes",
            replica_validity_factor: config.int("cluster-replica-validity-factor").max(0) as u64,
            replica_no_failover: config.get("cluster-replica-no-failover") == "yes",
            migration_barrier: config.int("cluster-migration-barrier").max(0) as u64,
            repl_ping_period_ms: config.int("repl-ping-replica-period").max(1) as u64 * 1000,
        }
    }
}

/// The state and the settings, behind one lock: the owner of the moment holds it.
struct Shared {
    state: ClusterState,
    settings: Settings,
    /// The ports this node listens on (client, bus), before any announce-* override.
    ports: (u16, u16),
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

fn shared() -> MutexGuard<'static, Option<Shared>> {
    SHARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on the state and settings under the lock; None when cluster mode is off. The
/// view is published afterwards, whatever `f` changed.
pub fn with<R>(f: impl FnOnce(&mut ClusterState, &Settings) -> R) -> Option<R> {
    let mut guard = shared();
    let shared = guard.as_mut()?;
    let result = f(&mut shared.state, &shared.settings);
    publish(&shared.state, &shared.settings);
    Some(result)
}

// --- The published view: what the data path reads without the lock. ---

/// This node's replication offset, as its headers carry it (set at start by the server: the
/// stream offset of a master, the applied offset of a replica).
static OFFSET_SOURCE: std::sync::OnceLock<fn() -> u64> = std::sync::OnceLock::new();

/// Names where this node's replication offset is read.
pub fn set_offset_source(source: fn() -> u64) {
    let _ = OFFSET_SOURCE.set(source);
}

/// This node's replication offset now (0 before the server named its source).
pub fn my_offset() -> u64 {
    OFFSET_SOURCE.get().map_or(0, |f| f())
}

/// An address (ip, port) to replicate, or None to serve as a master.
pub type Follow = Box<dyn Fn(Option<(String, u16)>) + Send + Sync>;

/// What the cluster asks of the server, named once at start.
pub struct Hooks {
    /// Replicate the master at this address (None: serve as a master). Called when the role
    /// or the master's address changes; doing nothing when already so.
    pub follow: Follow,
    /// Milliseconds since the replication link last brought data, or since it went down
    /// (Redis's data age, before the node timeout is taken off).
    pub data_age: fn() -> u64,
    /// Pause writes until the unix ms given (a master's side of a manual failover); None
    /// ends that pause.
    pub pause_writes: fn(Option<u64>),
}

static HOOKS: std::sync::OnceLock<Hooks> = std::sync::OnceLock::new();

pub fn set_hooks(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

/// The role last handed to [`Hooks::follow`] (None: none yet); its lock orders the calls.
static FOLLOWING: Mutex<Option<Option<(String, u16)>>> = Mutex::new(None);
/// Set once the server's replication can take a master (its feed is up).
static REPLICATION_READY: AtomicBool = AtomicBool::new(false);

/// The server's replication is up: the role nodes.conf gives (a replica follows its master,
/// as Redis's clusterCron sets it) is applied from now on.
pub fn replication_ready() {
    REPLICATION_READY.store(true, Relaxed);
    follow_role();
}

/// Makes the server's replication what the state says this node is: a replica of its
/// master's address, or a master (clusterSetMaster's replicationSetMaster, a promotion's
/// replicationUnsetMaster, a master's new address). Cheap when nothing changed.
pub fn follow_role() {
    let Some(hooks) = HOOKS.get().filter(|_| REPLICATION_READY.load(Relaxed)) else {
        return;
    };
    let mut applied = FOLLOWING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(wanted) = with(|state, _| state.wanted_master()).flatten() else {
        return;
    };
    if applied.as_ref() != Some(&wanted) {
        (hooks.follow)(wanted.clone());
        *applied = Some(wanted);
    }
}

/// The replication link's data age, ms (unknown without the server: 0).
fn data_age() -> u64 {
    HOOKS.get().map_or(0, |h| (h.data_age)())
}

/// Applies what a failover step asks of the server: a pause of writes, or its end.
pub fn apply_actions(actions: &failover::Actions) {
    let Some(hooks) = HOOKS.get() else {
        return;
    };
    if let Some(until) = actions.pause_until {
        (hooks.pause_writes)(Some(until));
    } else if actions.unpause {
        (hooks.pause_writes)(None);
    }
}

/// Index of the master this node replicates (u16::MAX: none), for the data path.
static MY_MASTER: AtomicU16 = AtomicU16::new(u16::MAX);

/// Whether `node` is the master this node replicates.
pub fn is_my_master(node: u16) -> bool {
    MY_MASTER.load(Relaxed) == node
}

/// Set once at start when cluster mode is on: the one branch the command path pays otherwise.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// `cluster_state:ok`.
static STATE_OK: AtomicBool = AtomicBool::new(false);
static ALLOW_READS_WHEN_DOWN: AtomicBool = AtomicBool::new(false);
/// No node serves the slot.
const UNASSIGNED: u16 = u16::MAX;
/// The node serving each slot (index into the state's nodes), or UNASSIGNED.
static OWNER: [AtomicU16; SLOTS] = [const { AtomicU16::new(UNASSIGNED) }; SLOTS];
static ME: AtomicU16 = AtomicU16::new(0);
/// Each slot's resharding mark: 0 none, else `MARK_MIGRATING` or `MARK_IMPORTING` with the
/// other node's index in the low 16 bits.
static MOVING: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];
/// Whether any slot is marked: the one load the data path pays while none is.
static ANY_MOVING: AtomicBool = AtomicBool::new(false);
const MARK_MIGRATING: u32 = 1 << 16;
const MARK_IMPORTING: u32 = 2 << 16;
/// Each node's redirect address (`endpoint:port`), by index.
static ADDRESSES: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Slots this node served and lost to a node with a higher config epoch: the keys it still
/// holds in them are deleted (clusterUpdateSlotsConfigWith's dirty slots), by `take_lost`'s
/// caller on the data path.
static LOST: Mutex<Vec<HashSlot>> = Mutex::new(Vec::new());
static LOST_PENDING: AtomicBool = AtomicBool::new(false);

/// Notes that this node lost `slot` (called under the state's lock).
pub(crate) fn note_lost(slot: HashSlot) {
    LOST.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
    LOST_PENDING.store(true, Relaxed);
}

/// The slots lost since the last call, whose keys are to be deleted.
pub fn take_lost() -> Vec<HashSlot> {
    if !LOST_PENDING.swap(false, Relaxed) {
        return Vec::new();
    }
    std::mem::take(&mut *LOST.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Whether this server is a cluster node.
#[inline(always)]
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// Whether the cluster is up (`cluster_state:ok`).
pub fn is_ok() -> bool {
    STATE_OK.load(Relaxed)
}

/// Whether keyed reads are served while the cluster is down.
pub fn reads_when_down() -> bool {
    ALLOW_READS_WHEN_DOWN.load(Relaxed)
}

/// Who serves a slot, as the data path sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serving {
    Me,
    Other(u16),
    Nobody,
}

/// Who serves `slot` now.
#[inline]
pub fn serving(slot: HashSlot) -> Serving {
    match OWNER[usize::from(slot) % SLOTS].load(Relaxed) {
        UNASSIGNED => Serving::Nobody,
        n if n == ME.load(Relaxed) => Serving::Me,
        n => Serving::Other(n),
    }
}

/// Whether some slot is being migrated or imported here.
#[inline(always)]
pub fn any_moving() -> bool {
    ANY_MOVING.load(Relaxed)
}

/// A slot's resharding mark as the data path sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Stable,
    /// Served here and being moved to the node given (`[slot->-id]`).
    Migrating(u16),
    /// Being moved here from the node given (`[slot-<-id]`).
    Importing(u16),
}

/// `slot`'s resharding mark now.
pub fn mark(slot: HashSlot) -> Mark {
    if !any_moving() {
        return Mark::Stable;
    }
    let mark = MOVING[usize::from(slot) % SLOTS].load(Relaxed);
    let node = (mark & 0xffff) as u16;
    match mark & !0xffff {
        MARK_MIGRATING => Mark::Migrating(node),
        MARK_IMPORTING => Mark::Importing(node),
        _ => Mark::Stable,
    }
}

/// The redirect address (`endpoint:port`) of node `index`.
pub fn address(index: u16) -> String {
    ADDRESSES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(usize::from(index))
        .cloned()
        .unwrap_or_default()
}

/// The endpoint a client is told for `node`, as `cluster-preferred-endpoint-type` says.
pub fn endpoint<'a>(node: &'a Node, settings: &Settings) -> &'a str {
    match settings.preferred_endpoint.as_str() {
        "hostname" if node.hostname.is_empty() => "?",
        "hostname" => &node.hostname,
        "unknown-endpoint" => "",
        _ => &node.ip,
    }
}

fn publish(state: &ClusterState, settings: &Settings) {
    for (owner, slot) in OWNER.iter().zip(state.slots.iter()) {
        owner.store(slot.unwrap_or(UNASSIGNED), Relaxed);
    }
    if !state.moving.is_empty() || any_moving() {
        // Each slot stored once, never cleared in between: a marked slot stays marked.
        if !state.moving.is_empty() {
            ANY_MOVING.store(true, Relaxed);
        }
        for (slot, mark) in MOVING.iter().enumerate() {
            let now = match state.moving.get(&(slot as HashSlot)) {
                Some(Moving::MigratingTo(n)) => MARK_MIGRATING | *n as u32,
                Some(Moving::ImportingFrom(n)) => MARK_IMPORTING | *n as u32,
                None => 0,
            };
            mark.store(now, Relaxed);
        }
        ANY_MOVING.store(!state.moving.is_empty(), Relaxed);
    }
    ME.store(state.myself as u16, Relaxed);
    MY_MASTER.store(state.my_master().map_or(u16::MAX, |m| m as u16), Relaxed);
    STATE_OK.store(state.ok, Relaxed);
    ALLOW_READS_WHEN_DOWN.store(settings.allow_reads_when_down, Relaxed);
    let addresses = state
        .nodes
        .iter()
        .map(|n| format!("{}:{}", endpoint(n, settings), n.port))
        .collect();
    *ADDRESSES.write().unwrap_or_else(|e| e.into_inner()) = addresses;
}

/// Takes this node's own address fields from the settings and its listening ports, as Redis's
/// clusterUpdateMyself* do at start and on CONFIG SET.
fn update_myself(shared: &mut Shared) {
    let (port, bus) = shared.ports;
    let settings = &shared.settings;
    let me = shared.state.me_mut();
    me.port = if settings.announce_port != 0 {
        settings.announce_port
    } else {
        port
    };
    me.cport = if settings.announce_bus_port != 0 {
        settings.announce_bus_port
    } else {
        bus
    };
    if !settings.announce_ip.is_empty() {
        me.ip = settings.announce_ip.clone();
    }
    me.hostname = settings.announce_hostname.clone();
    // clusterUpdateMyselfFlags: other nodes see that this replica will not fail over.
    if settings.replica_no_failover {
        me.flags |= NOFAILOVER;
    } else {
        me.flags &= !NOFAILOVER;
    }
}

/// Loads nodes.conf at `path` (a missing or empty file: a fresh node, saved at once), as
/// Redis's clusterInit does. Err: why the node cannot start.
pub fn open(path: PathBuf, settings: Settings) -> Result<(), String> {
    let state = match std::fs::read(&path) {
        Ok(text) if !text.is_empty() => {
            let state = nodes_conf::parse(&text, path.clone()).map_err(|e| {
                format!(
                    "Unrecoverable error: corrupted cluster config file {}: {e}",
                    path.display()
                )
            })?;
            tracing::info!("Node configuration loaded, I'm {}", state.me().id);
            state
        }
        Ok(_) => fresh(path.clone()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh(path.clone()),
        Err(e) => {
            return Err(format!(
                "Loading the cluster node config from {}: {e}",
                path.display()
            ))
        }
    };
    state
        .save(true)
        .map_err(|e| format!("Fatal: can't update cluster config file: {e}"))?;
    *shared() = Some(Shared {
        state,
        settings,
        ports: (0, 0),
    });
    Ok(())
}

fn fresh(path: PathBuf) -> ClusterState {
    let state = ClusterState::fresh(path);
    tracing::info!("No cluster configuration found, I'm {}", state.me().id);
    state
}

/// Turns cluster mode on for the data path once the node listens: its ports are known.
pub fn start_serving(port: u16, bus_port: u16) {
    let mut guard = shared();
    let Some(shared) = guard.as_mut() else {
        return;
    };
    shared.ports = (port, bus_port);
    update_myself(shared);
    publish(&shared.state, &shared.settings);
    ENABLED.store(true, Relaxed);
}

/// Applies the cluster-* options after CONFIG SET.
pub fn apply_settings(settings: Settings) {
    let mut guard = shared();
    let Some(shared) = guard.as_mut() else {
        return;
    };
    shared.settings = settings;
    update_myself(shared);
    publish(&shared.state, &shared.settings);
}

/// CLUSTER MEET: starts a handshake with the node at `ip:port@cport` (the bus thread
/// connects to it within 100 ms). False: one is already going on with that address.
pub fn meet(state: &mut ClusterState, ip: std::net::IpAddr, port: u16, cport: u16) -> bool {
    gossip::start_handshake(state, &ip.to_string(), port, cport)
}

#[cfg(test)]
mod tests;
