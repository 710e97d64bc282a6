//! Failure detection and failover, as Redis 7.0's cluster.c does them.
//!
//! - Failure reports: a master that gossips another node as PFAIL or FAIL files a report on
//!   it; a node this node sees as PFAIL turns FAIL when the reports of a majority of the
//!   slot-serving masters (this node counted when it is one) are fresh, and the FAIL is
//!   broadcast (markNodeAsFailingIfNeeded).
//! - Election: a replica of a failed master waits 500–1000 ms plus a second per replica with
//!   a better offset, then asks every node for its vote in a new epoch (FAILOVER_AUTH_REQUEST);
//!   a master serving slots votes once per epoch, for a replica whose master failed, and at
//!   most once per master in two node timeouts (FAILOVER_AUTH_ACK). With a majority the
//!   replica takes its master's slots at the election's epoch and tells every node
//!   (clusterHandleSlaveFailover, clusterSendFailoverAuthIfNeeded).
//! - CLUSTER FAILOVER: the default waits for the master to pause writes and for the replica to
//!   reach the master's offset, then runs the election with votes forced (FORCEACK); FORCE
//!   skips the master; TAKEOVER takes the slots at once with a new epoch of its own.
//!
//! What needs a link goes out through an [`Outbox`]; what needs the server (replication,
//! pausing writes) is done by the caller through [`super::Hooks`], after the state's lock.

use super::msg::{self, Body, Msg};
use super::*;

/// A failure report is valid for twice the node timeout (CLUSTER_FAIL_REPORT_VALIDITY_MULT).
const REPORT_VALIDITY_MULT: u64 = 2;
/// A failed master with slots is cleared when reachable that long after it failed, in node
/// timeouts, and nobody took its slots (CLUSTER_FAIL_UNDO_TIME_MULT).
const FAIL_UNDO_TIME_MULT: u64 = 2;
/// A manual failover's time limit, ms (CLUSTER_MF_TIMEOUT).
pub const MF_TIMEOUT: u64 = 5000;
/// The master pauses writes for this many manual-failover time limits (CLUSTER_MF_PAUSE_MULT).
pub const MF_PAUSE_MULT: u64 = 2;
/// How long after pausing writes a master announces its offset as final, ms: commands
/// admitted just before the pause finish meanwhile.
const PAUSE_SETTLE: u64 = 50;
/// How often the same reason for not failing over is logged again, ms.
const CANT_RELOG_PERIOD: u64 = 10_000;

/// Header `mflags[0]` bits: the master paused writes for a manual failover; vote although
/// the master is up (a manual failover).
pub const FLAG0_PAUSED: u8 = 1;
pub const FLAG0_FORCEACK: u8 = 2;

/// Messages to send: each to the node with the ID given, on its outbound link.
pub type Outbox = Vec<(String, Vec<u8>)>;

/// Why a replica of a failed master does not fail over (clusterLogCantFailover's reasons).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Cant {
    #[default]
    None,
    DataAge,
    WaitingDelay,
    Expired,
    WaitingVotes,
}

/// A replica's election and a manual failover in progress: Redis's `failover_auth_*` and
/// `mf_*` fields. Times are unix ms.
#[derive(Debug, Default)]
pub struct Election {
    /// When the election starts (or started); 0 before any.
    auth_time: u64,
    auth_count: usize,
    auth_sent: bool,
    rank: usize,
    auth_epoch: u64,
    cant: Cant,
    cant_logged: u64,
    /// A manual failover's deadline (0: none in progress).
    pub mf_end: u64,
    /// On a master: the replica that asked for the manual failover, and from when the
    /// headers say writes are paused.
    mf_replica: Option<String>,
    mf_paused_from: u64,
    /// On the replica: the paused master's offset, once received.
    mf_master_offset: Option<u64>,
    /// On the replica: the election may start.
    mf_can_start: bool,
}

impl Election {
    /// Forgets the last election round: the next one is scheduled afresh. A won round must
    /// not count again, nor a round of an automatic failover for a manual one (whose request
    /// carries FORCEACK).
    fn new_round(&mut self) {
        self.auth_time = 0;
        self.auth_count = 0;
        self.auth_sent = false;
    }
}

/// What the server must do after a change of role or pause (see [`super::Hooks`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// Pause writes until this unix ms (the master's side of a manual failover).
    pub pause_until: Option<u64>,
    /// End that pause.
    pub unpause: bool,
    /// nodes.conf must be written (with fsync).
    pub save: bool,
}

impl Actions {
    pub fn merge(&mut self, other: Actions) {
        if other.pause_until.is_some() {
            self.pause_until = other.pause_until;
        }
        self.unpause |= other.unpause;
        self.save |= other.save;
    }
}

fn name_of(id: &str) -> [u8; ID_LEN] {
    let mut name = [0u8; ID_LEN];
    let n = id.len().min(ID_LEN);
    name[..n].copy_from_slice(&id.as_bytes()[..n]);
    name
}

/// Every known node but this one and those in handshake (clusterBroadcastMessage's targets;
/// the bus skips those it has no link to).
fn everyone(state: &ClusterState) -> Vec<String> {
    state
        .nodes
        .iter()
        .enumerate()
        .filter(|&(i, n)| i != state.myself && n.flags & HANDSHAKE == 0)
        .map(|(_, n)| n.id.clone())
        .collect()
}

fn broadcast(state: &ClusterState, bytes: &[u8], out: &mut Outbox) {
    for id in everyone(state) {
        out.push((id, bytes.to_vec()));
    }
}

/// clusterBroadcastPong: a PONG to every node, or (`local`) to the other replicas of this
/// node's master, which then know this node's offset.
fn broadcast_pong(state: &ClusterState, settings: &Settings, local: bool, out: &mut Outbox) {
    let bytes = msg::encode(&super::gossip::ping(state, settings, msg::PONG));
    let master = state.my_master().map(|m| state.nodes[m].id.clone());
    let me = state.me().id.clone();
    for id in everyone(state) {
        if local {
            let Some(i) = state.lookup(id.as_bytes()) else {
                continue;
            };
            let of = state.nodes[i].master.as_ref();
            let sibling = state.nodes[i].is_replica()
                && (of == master.as_ref() && of.is_some() || of == Some(&me));
            if !sibling {
                continue;
            }
        }
        out.push((id, bytes.clone()));
    }
}

// --- Failure reports. ---

/// clusterNodeAddFailureReport: `reporter` says `failing` is PFAIL or FAIL. True when new.
fn add_report(state: &mut ClusterState, failing: usize, reporter: &str, now: u64) -> bool {
    let reports = &mut state.nodes[failing].fail_reports;
    match reports.iter_mut().find(|r| r.0 == reporter) {
        Some(r) => {
            r.1 = now;
            false
        }
        None => {
            reports.push((reporter.to_string(), now));
            true
        }
    }
}

/// clusterNodeDelFailureReport. True when there was one.
fn remove_report(state: &mut ClusterState, failing: usize, reporter: &str) -> bool {
    let reports = &mut state.nodes[failing].fail_reports;
    let before = reports.len();
    reports.retain(|r| r.0 != reporter);
    reports.len() != before
}

/// clusterNodeFailureReportsCount: the reports on `node` younger than twice the node
/// timeout, older ones dropped.
pub fn valid_reports(state: &mut ClusterState, node: usize, timeout: u64, now: u64) -> usize {
    let max_age = timeout * REPORT_VALIDITY_MULT;
    let reports = &mut state.nodes[node].fail_reports;
    reports.retain(|r| now.saturating_sub(r.1) <= max_age);
    reports.len()
}

/// What a master's gossip about `node` says of it (clusterProcessGossipSection): a failure
/// report filed or withdrawn; FAIL when the reports now make a majority.
pub fn gossip_about(
    state: &mut ClusterState,
    settings: &Settings,
    sender: usize,
    node: usize,
    flags: u16,
    now: u64,
    out: &mut Outbox,
) -> bool {
    if node == state.myself || !state.nodes[sender].is_master() {
        return false;
    }
    let reporter = state.nodes[sender].id.clone();
    if flags & (FAIL | PFAIL) != 0 {
        if add_report(state, node, &reporter, now) {
            tracing::debug!(
                "Node {reporter} reported node {} as not reachable.",
                state.nodes[node].id
            );
        }
        mark_failing_if_needed(state, settings, node, now, out)
    } else {
        if remove_report(state, node, &reporter) {
            tracing::debug!(
                "Node {reporter} reported node {} is back online.",
                state.nodes[node].id
            );
        }
        false
    }
}

/// markNodeAsFailingIfNeeded: a PFAIL node that a majority of the masters reports failing
/// turns FAIL, and every node is told. True when it did.
pub fn mark_failing_if_needed(
    state: &mut ClusterState,
    settings: &Settings,
    node: usize,
    now: u64,
    out: &mut Outbox,
) -> bool {
    let quorum = state.size / 2 + 1;
    let flags = state.nodes[node].flags;
    if flags & PFAIL == 0 || flags & FAIL != 0 {
        return false;
    }
    let mut failures = valid_reports(state, node, settings.node_timeout, now);
    if state.me().is_master() {
        failures += 1;
    }
    if failures < quorum {
        return false;
    }
    let n = &mut state.nodes[node];
    tracing::info!("Marking node {} as failing (quorum reached).", n.id);
    n.flags = (n.flags & !PFAIL) | FAIL;
    n.fail_time = now;
    let fail = Msg {
        header: super::gossip::header(state, settings),
        body: Body::Fail(name_of(&state.nodes[node].id)),
    };
    broadcast(state, &msg::encode(&fail), out);
    true
}

/// A FAIL message about `node` from a known node.
pub fn fail_received(state: &mut ClusterState, node: usize, now: u64) -> bool {
    let n = &mut state.nodes[node];
    if n.flags & (FAIL | MYSELF) != 0 {
        return false;
    }
    tracing::info!("FAIL message received about {}", n.id);
    n.flags = (n.flags | FAIL) & !PFAIL;
    n.fail_time = now;
    true
}

/// clearNodeFailureIfNeeded, on a PONG from a failed node: a replica or a master without
/// slots is cleared at once; a master with slots once twice the node timeout has passed
/// since it failed (nobody took its slots meanwhile). True when cleared.
pub fn clear_failure_if_needed(
    state: &mut ClusterState,
    node: usize,
    timeout: u64,
    now: u64,
) -> bool {
    let n = &state.nodes[node];
    if n.flags & FAIL == 0 {
        return false;
    }
    let slots = state.slot_count(node);
    let n = &mut state.nodes[node];
    if n.is_replica() || slots == 0 {
        let what = if n.is_replica() {
            "replica"
        } else {
            "master without slots"
        };
        tracing::info!(
            "Clear FAIL state for node {}: {what} is reachable again.",
            n.id
        );
        n.flags &= !FAIL;
        return true;
    }
    if now.saturating_sub(n.fail_time) > timeout * FAIL_UNDO_TIME_MULT {
        tracing::info!(
            "Clear FAIL state for node {}: is reachable again and nobody is serving its slots after some time.",
            n.id
        );
        n.flags &= !FAIL;
        return true;
    }
    false
}

// --- Votes. ---

/// clusterSendFailoverAuthIfNeeded: a replica `s` asks for this node's vote.
pub fn vote(
    state: &mut ClusterState,
    settings: &Settings,
    s: usize,
    h: &msg::Header,
    now: u64,
    out: &mut Outbox,
) -> Actions {
    let mut fx = Actions::default();
    if state.me().is_replica() || state.slot_count(state.myself) == 0 {
        return fx;
    }
    let id = state.nodes[s].id.clone();
    if h.current_epoch < state.current_epoch {
        tracing::warn!(
            "Failover auth denied to {id}: reqEpoch ({}) < curEpoch({})",
            h.current_epoch,
            state.current_epoch
        );
        return fx;
    }
    if state.last_vote_epoch == state.current_epoch {
        tracing::warn!(
            "Failover auth denied to {id}: already voted for epoch {}",
            state.current_epoch
        );
        return fx;
    }
    let master = if state.nodes[s].is_master() {
        tracing::warn!("Failover auth denied to {id}: it is a master node");
        return fx;
    } else {
        match state.nodes[s].master.as_ref() {
            Some(m) => state.lookup(m.as_bytes()),
            None => None,
        }
    };
    let Some(master) = master else {
        tracing::warn!("Failover auth denied to {id}: I don't know its master");
        return fx;
    };
    if !state.nodes[master].failed() && h.mflags & FLAG0_FORCEACK == 0 {
        tracing::warn!("Failover auth denied to {id}: its master is up");
        return fx;
    }
    let since = now.saturating_sub(state.nodes[master].voted_time);
    if since < settings.node_timeout * 2 {
        tracing::warn!(
            "Failover auth denied to {id}: can't vote about this master before {} milliseconds",
            settings.node_timeout * 2 - since
        );
        return fx;
    }
    for slot in 0..SLOTS {
        if !h.has_slot(slot) {
            continue;
        }
        let Some(owner) = state.owner(slot) else {
            continue;
        };
        let epoch = state.nodes[owner].config_epoch;
        if epoch > h.config_epoch {
            tracing::warn!(
                "Failover auth denied to {id}: slot {slot} epoch ({epoch}) > reqEpoch ({})",
                h.config_epoch
            );
            return fx;
        }
    }
    state.last_vote_epoch = state.current_epoch;
    state.nodes[master].voted_time = now;
    fx.save = true;
    let ack = Msg {
        header: super::gossip::header(state, settings),
        body: Body::Other(msg::FAILOVER_AUTH_ACK),
    };
    out.push((id.clone(), msg::encode(&ack)));
    tracing::warn!(
        "Failover auth granted to {id} for epoch {}",
        state.current_epoch
    );
    fx
}

/// A FAILOVER_AUTH_ACK from `s`: a vote when it is a master serving slots in the election's
/// epoch or later.
pub fn ack_received(state: &mut ClusterState, s: usize, sender_epoch: u64) -> bool {
    let counts = state.nodes[s].is_master()
        && state.slot_count(s) > 0
        && sender_epoch >= state.election.auth_epoch;
    if counts {
        state.election.auth_count += 1;
    }
    counts
}

// --- The replica's side. ---

/// clusterGetSlaveRank: the other replicas of this node's master that may fail over and
/// report a larger offset.
fn rank(state: &ClusterState, master: usize, mine: u64) -> usize {
    let id = &state.nodes[master].id;
    state
        .nodes
        .iter()
        .enumerate()
        .filter(|&(i, n)| {
            i != state.myself
                && n.is_replica()
                && n.master.as_ref() == Some(id)
                && n.flags & NOFAILOVER == 0
                && n.repl_offset > mine
        })
        .count()
}

/// clusterLogCantFailover: logs why not, once per reason (again after 10 s), and not in the
/// first node timeout plus 5 s after the master failed.
fn cant(state: &mut ClusterState, settings: &Settings, why: Cant, now: u64) {
    let e = &mut state.election;
    if why == e.cant && now.saturating_sub(e.cant_logged) < CANT_RELOG_PERIOD {
        return;
    }
    e.cant = why;
    let recent = state.my_master().is_some_and(|m| {
        let m = &state.nodes[m];
        m.failed() && now.saturating_sub(m.fail_time) < settings.node_timeout + 5000
    });
    if recent {
        return;
    }
    state.election.cant_logged = now;
    let text = match why {
        Cant::DataAge => "Disconnected from master for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option.",
        Cant::WaitingDelay => "Waiting the delay before I can start a new failover.",
        Cant::Expired => "Failover attempt expired.",
        Cant::WaitingVotes => "Waiting for votes, but majority still not reached.",
        Cant::None => return,
    };
    tracing::warn!("Currently unable to failover: {text}");
}

/// clusterHandleSlaveFailover, run by the bus's cron and after votes arrive. `data_age`: ms
/// since the replication link last had data (since it went down, when down).
pub fn handle_replica(
    state: &mut ClusterState,
    settings: &Settings,
    data_age: u64,
    now: u64,
    out: &mut Outbox,
) -> Actions {
    let mut fx = Actions::default();
    let timeout = settings.node_timeout;
    let auth_timeout = (timeout * 2).max(2000) as i64;
    let auth_retry = auth_timeout * 2;
    let manual = state.election.mf_end != 0 && state.election.mf_can_start;
    let master = state.my_master();
    let eligible = master.is_some_and(|m| {
        state.me().is_replica()
            && (state.nodes[m].failed() || manual)
            && (!settings.replica_no_failover || manual)
            && state.slot_count(m) != 0
    });
    let Some(master) = master.filter(|_| eligible) else {
        state.election.cant = Cant::None;
        return fx;
    };
    let data_age = if data_age > timeout {
        data_age - timeout
    } else {
        data_age
    };
    let factor = settings.replica_validity_factor;
    if factor != 0 && data_age > settings.repl_ping_period_ms + timeout * factor && !manual {
        cant(state, settings, Cant::DataAge, now);
        return fx;
    }
    let auth_age = now as i64 - state.election.auth_time as i64;
    let mine = super::my_offset();
    if auth_age > auth_retry {
        let rank = rank(state, master, mine);
        let e = &mut state.election;
        e.auth_time = now + 500 + super::gossip::random(500) as u64;
        e.auth_count = 0;
        e.auth_sent = false;
        e.rank = rank;
        e.auth_time += rank as u64 * 1000;
        if e.mf_end != 0 {
            e.auth_time = now;
            e.rank = 0;
        }
        tracing::warn!(
            "Start of election delayed for {} milliseconds (rank #{}, offset {mine}).",
            e.auth_time - now,
            e.rank
        );
        broadcast_pong(state, settings, true, out);
        if state.election.mf_end == 0 {
            return fx;
        }
    }
    let auth_age = now as i64 - state.election.auth_time as i64;
    if !state.election.auth_sent && state.election.mf_end == 0 {
        let new = rank(state, master, mine);
        let e = &mut state.election;
        if new > e.rank {
            let added = (new - e.rank) as u64 * 1000;
            e.auth_time += added;
            e.rank = new;
            tracing::warn!("Replica rank updated to #{new}, added {added} milliseconds of delay.");
        }
    }
    if now < state.election.auth_time {
        cant(state, settings, Cant::WaitingDelay, now);
        return fx;
    }
    if auth_age > auth_timeout {
        cant(state, settings, Cant::Expired, now);
        return fx;
    }
    if !state.election.auth_sent {
        state.current_epoch += 1;
        state.election.auth_epoch = state.current_epoch;
        tracing::warn!(
            "Starting a failover election for epoch {}.",
            state.current_epoch
        );
        let mut header = super::gossip::header(state, settings);
        if state.election.mf_end != 0 {
            header.mflags |= FLAG0_FORCEACK;
        }
        let request = Msg {
            header,
            body: Body::Other(msg::FAILOVER_AUTH_REQUEST),
        };
        broadcast(state, &msg::encode(&request), out);
        state.election.auth_sent = true;
        fx.save = true;
        return fx;
    }
    let quorum = state.size / 2 + 1;
    if state.election.auth_count >= quorum {
        tracing::warn!("Failover election won: I'm the new master.");
        let epoch = state.election.auth_epoch;
        if state.me().config_epoch < epoch {
            state.me_mut().config_epoch = epoch;
            tracing::warn!("configEpoch set to {epoch} after successful failover");
        }
        fx.merge(replace_master(state, settings, out));
    } else {
        cant(state, settings, Cant::WaitingVotes, now);
    }
    fx
}

/// clusterFailoverReplaceYourMaster: this replica turns master, takes its master's slots and
/// tells every node. The caller has given it its new config epoch.
pub fn replace_master(state: &mut ClusterState, settings: &Settings, out: &mut Outbox) -> Actions {
    let mut fx = Actions::default();
    let Some(old) = state.my_master().filter(|_| state.me().is_replica()) else {
        return fx;
    };
    let me = state.myself;
    let node = state.me_mut();
    node.flags = (node.flags & !SLAVE) | MASTER;
    node.master = None;
    for slot in 0..SLOTS {
        if state.owner(slot) == Some(old) {
            state.assign(slot, me);
        }
    }
    state.update_state(settings, std::time::Instant::now());
    fx.save = true;
    broadcast_pong(state, settings, false, out);
    fx.merge(reset_manual(state));
    state.election.new_round();
    fx
}

// --- Manual failover. ---

/// resetManualFailover: a master that paused writes for one ends the pause.
pub fn reset_manual(state: &mut ClusterState) -> Actions {
    let e = &mut state.election;
    let unpause = e.mf_replica.is_some();
    e.mf_end = 0;
    e.mf_can_start = false;
    e.mf_replica = None;
    e.mf_master_offset = None;
    Actions {
        unpause,
        ..Actions::default()
    }
}

/// How CLUSTER FAILOVER was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manual {
    Default,
    Force,
    Takeover,
}

/// CLUSTER FAILOVER [FORCE|TAKEOVER] on a replica (the caller checked the preconditions).
pub fn start_manual(
    state: &mut ClusterState,
    settings: &Settings,
    how: Manual,
    now: u64,
    out: &mut Outbox,
) -> Actions {
    let mut fx = reset_manual(state);
    state.election.new_round();
    state.election.mf_end = now + MF_TIMEOUT;
    match how {
        Manual::Takeover => {
            tracing::warn!("Taking over the master (user request).");
            state.bump_epoch();
            fx.merge(replace_master(state, settings, out));
        }
        Manual::Force => {
            tracing::warn!("Forced failover user request accepted.");
            state.election.mf_can_start = true;
        }
        Manual::Default => {
            tracing::warn!("Manual failover user request accepted.");
            if let Some(m) = state.my_master() {
                let start = Msg {
                    header: super::gossip::header(state, settings),
                    body: Body::Other(msg::MFSTART),
                };
                out.push((state.nodes[m].id.clone(), msg::encode(&start)));
            }
        }
    }
    fx
}

/// An MFSTART from `s`: when it is this master's replica, writes pause; the pings the cron
/// then sends it carry the offset they stopped at.
pub fn mfstart_received(state: &mut ClusterState, s: usize, now: u64) -> Actions {
    let me = state.me().id.clone();
    if state.nodes[s].master.as_ref() != Some(&me) || !state.me().is_master() {
        return Actions::default();
    }
    // A manual failover already in progress ends; its pause gives way to the new one.
    reset_manual(state);
    let id = state.nodes[s].id.clone();
    let e = &mut state.election;
    e.mf_end = now + MF_TIMEOUT;
    e.mf_replica = Some(id.clone());
    e.mf_paused_from = now + PAUSE_SETTLE;
    tracing::warn!("Manual failover requested by replica {id}.");
    Actions {
        pause_until: Some(now + MF_TIMEOUT * MF_PAUSE_MULT),
        ..Actions::default()
    }
}

/// Pings the replica of a manual failover, each cron while it waits: once writes are
/// paused, the header carries PAUSED and the offset they stopped at.
fn ping_mf_replica(state: &ClusterState, settings: &Settings, out: &mut Outbox) {
    if let Some(id) = state.election.mf_replica.clone() {
        out.push((
            id,
            msg::encode(&super::gossip::ping(state, settings, msg::PING)),
        ));
    }
}

/// A header from this replica's master with the PAUSED flag: the offset to reach.
pub fn paused_offset_received(state: &mut ClusterState, s: usize, h: &msg::Header) {
    let e = &state.election;
    if e.mf_end != 0
        && e.mf_master_offset.is_none()
        && state.my_master() == Some(s)
        && h.mflags & FLAG0_PAUSED != 0
    {
        state.election.mf_master_offset = Some(h.offset);
        tracing::warn!(
            "Received replication offset for paused master manual failover: {}",
            h.offset
        );
    }
}

/// manualFailoverCheckTimeout and clusterHandleManualFailover, each cron: a manual failover
/// past its time is abandoned; a replica that reached the paused master's offset may start
/// its election. On a master, the replica is pinged with the offset while it waits.
pub fn handle_manual(
    state: &mut ClusterState,
    settings: &Settings,
    now: u64,
    out: &mut Outbox,
) -> Actions {
    let e = &state.election;
    if e.mf_end == 0 {
        return Actions::default();
    }
    if e.mf_end < now {
        tracing::warn!("Manual failover timed out.");
        return reset_manual(state);
    }
    if state.me().is_master() {
        ping_mf_replica(state, settings, out);
        return Actions::default();
    }
    if e.mf_can_start {
        return Actions::default();
    }
    if e.mf_master_offset == Some(super::my_offset()) {
        state.election.mf_can_start = true;
        tracing::warn!("All master replication stream processed, manual failover can start.");
    }
    Actions::default()
}

/// The header flags this node sets now: PAUSED on a master during a manual failover, once
/// the commands admitted before the pause have had time to finish (so that the offset the
/// header carries is the last one).
pub fn header_mflags(state: &ClusterState, now: u64) -> u8 {
    let e = &state.election;
    if e.mf_end != 0 && e.mf_replica.is_some() && now >= e.mf_paused_from && state.me().is_master()
    {
        FLAG0_PAUSED
    } else {
        0
    }
}

// --- Replica migration. ---

/// An orphaned master waits this long for a replica to migrate to it, ms
/// (CLUSTER_SLAVE_MIGRATION_DELAY).
const MIGRATION_DELAY: u64 = 5000;

/// The replicas listed for `master` (failed ones too).
fn replicas(state: &ClusterState, master: usize) -> impl Iterator<Item = usize> + '_ {
    let id = &state.nodes[master].id;
    (0..state.nodes.len())
        .filter(move |&i| state.nodes[i].is_replica() && state.nodes[i].master.as_ref() == Some(id))
}

/// clusterCountNonFailingSlaves.
fn working_replicas(state: &ClusterState, master: usize) -> usize {
    replicas(state, master)
        .filter(|&r| !state.nodes[r].failed())
        .count()
}

/// Redis's MIGRATE_TO: a master that has (or had) replicas, or took over from one.
fn migration_target(state: &ClusterState, master: usize) -> bool {
    state.nodes[master].migrate_to || replicas(state, master).next().is_some()
}

/// clusterCron's orphaned-master count and clusterHandleSlaveMigration: a replica of a master
/// with the most working replicas, more than `cluster-migration-barrier`, moves to a master
/// serving slots that has lost all of its replicas, once that master has been orphaned for
/// 5 s; of the replicas that could, the one with the smallest ID goes.
pub fn handle_migration(state: &mut ClusterState, settings: &Settings, now: u64) -> Actions {
    let Some(mine) = state.my_master().filter(|_| state.me().is_replica()) else {
        return Actions::default();
    };
    let masters: Vec<usize> = (0..state.nodes.len())
        .filter(|&i| state.nodes[i].is_master() && !state.nodes[i].failed())
        .collect();
    let working: Vec<usize> = masters
        .iter()
        .map(|&m| working_replicas(state, m))
        .collect();
    let most = working.iter().copied().max().unwrap_or(0);
    let orphaned = masters
        .iter()
        .zip(&working)
        .filter(|&(&m, &ok)| ok == 0 && state.slot_count(m) > 0 && migration_target(state, m))
        .count();
    let this = masters
        .iter()
        .position(|&m| m == mine)
        .map_or(0, |at| working[at]);
    if orphaned == 0 || most < 2 || this != most || !settings.allow_replica_migration {
        return Actions::default();
    }
    if !state.ok {
        return Actions::default();
    }
    let mine_ok = replicas(state, mine)
        .filter(|&r| state.nodes[r].flags & (FAIL | PFAIL) == 0)
        .count();
    if mine_ok as u64 <= settings.migration_barrier {
        return Actions::default();
    }
    let mut candidate = state.myself;
    let mut target = None;
    for i in 0..state.nodes.len() {
        let node = &state.nodes[i];
        let ok = if node.is_master() {
            working_replicas(state, i)
        } else {
            0
        };
        let orphan = node.is_master() && !node.failed() && ok == 0 && migration_target(state, i);
        if orphan {
            if target.is_none() && state.slot_count(i) > 0 {
                target = Some(i);
            }
            if state.nodes[i].orphaned_time == 0 {
                state.nodes[i].orphaned_time = now;
            }
        } else {
            state.nodes[i].orphaned_time = 0;
        }
        if ok == most {
            for r in replicas(state, i) {
                if state.nodes[r].id < state.nodes[candidate].id {
                    candidate = r;
                }
            }
        }
    }
    let Some(target) = target else {
        return Actions::default();
    };
    if candidate != state.myself
        || now.saturating_sub(state.nodes[target].orphaned_time) <= MIGRATION_DELAY
    {
        return Actions::default();
    }
    tracing::warn!("Migrating to orphaned master {}", state.nodes[target].id);
    let mut fx = state.set_my_master(target);
    fx.save = true;
    fx
}
