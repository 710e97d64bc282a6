//! CLUSTER and its subcommands, ASKING, READONLY and READWRITE, as Redis 7.0.15 answers them
//! on a cluster node (and "cluster support disabled" otherwise). The state is `crate::cluster`'s;
//! each change is saved to nodes.conf before the reply, as Redis saves it before sleeping.
//! The key counts come from the shard's per-slot tables. Redirects are `cluster/redirect.rs`.

mod redirect;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::args::{ok, parse_int};
use super::keys::help_reply;
use super::table::{container, flags, row, CommandSpec, NOKEY};
use super::{err, error, Args, CmdResult, Kind, Session};
use crate::cluster::{self as state, ClusterState, Moving, Settings};
use crate::protocol::Reply;
use crate::shard::slot::SLOTS;

pub use redirect::{guard, moving_refusal, refusal, script_refusal};

type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

/// A connection's cluster flags (Redis's CLIENT_READONLY and CLIENT_ASKING).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientFlags {
    pub readonly: bool,
    pub asking: bool,
}

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "asking",
        1,
        flags!(FAST),
        NOKEY,
        Kind::Local(asking),
        "cluster",
        "3.0.0",
        "Sent by cluster clients after an -ASK redirect",
        "",
    )
    .with_acl(super::table::Categories::CONNECTION),
    container(
        "cluster",
        "cluster",
        "3.0.0",
        "A container for cluster commands",
        SUBCOMMANDS,
    ),
];

#[rustfmt::skip]
static SUBCOMMANDS: &[CommandSpec] = &[
    row("cluster|addslots", -3, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(addslots), "cluster", "3.0.0", "Assign new hash slots to receiving node", "slot [slot ...]"),
    row("cluster|addslotsrange", -4, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(addslotsrange), "cluster", "7.0.0", "Assign new hash slots to receiving node", "start-slot end-slot [start-slot end-slot ...]"),
    row("cluster|bumpepoch", 2, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(bumpepoch), "cluster", "3.0.0", "Advance the cluster config epoch", ""),
    row("cluster|count-failure-reports", 3, flags!(ADMIN | STALE), NOKEY, Kind::Local(count_failure_reports), "cluster", "3.0.0", "Return the number of failure reports active for a given node", "node-id"),
    row("cluster|countkeysinslot", 3, flags!(STALE), NOKEY, Kind::Routed(countkeysinslot), "cluster", "3.0.0", "Return the number of local keys in the specified hash slot", "slot"),
    row("cluster|delslots", -3, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(delslots), "cluster", "3.0.0", "Set hash slots as unbound in receiving node", "slot [slot ...]"),
    row("cluster|delslotsrange", -4, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(delslotsrange), "cluster", "7.0.0", "Set hash slots as unbound in receiving node", "start-slot end-slot [start-slot end-slot ...]"),
    row("cluster|failover", -2, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(failover), "cluster", "3.0.0", "Forces a replica to perform a manual failover of its master.", "[FORCE|TAKEOVER]"),
    row("cluster|flushslots", 2, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Routed(flushslots), "cluster", "3.0.0", "Delete a node's own slots information", ""),
    row("cluster|forget", 3, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(forget), "cluster", "3.0.0", "Remove a node from the nodes table", "node-id"),
    row("cluster|getkeysinslot", 4, flags!(STALE), NOKEY, Kind::Routed(getkeysinslot), "cluster", "3.0.0", "Return local key names in the specified hash slot", "slot count"),
    row("cluster|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(help), "cluster", "5.0.0", "Show helpful text about the different subcommands", ""),
    row("cluster|info", 2, flags!(STALE), NOKEY, Kind::Local(info), "cluster", "3.0.0", "Provides info about Redis Cluster node state", ""),
    row("cluster|keyslot", 3, flags!(STALE), NOKEY, Kind::Local(keyslot), "cluster", "3.0.0", "Returns the hash slot of the specified key", "key"),
    row("cluster|links", 2, flags!(STALE), NOKEY, Kind::Local(links), "cluster", "7.0.0", "Returns a list of all TCP links to and from peer nodes in cluster", ""),
    row("cluster|meet", -4, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(meet), "cluster", "3.0.0", "Force a node cluster to handshake with another node", "ip port [cluster_bus_port]"),
    row("cluster|myid", 2, flags!(STALE), NOKEY, Kind::Local(myid), "cluster", "3.0.0", "Return the node id", ""),
    row("cluster|nodes", 2, flags!(STALE), NOKEY, Kind::Local(nodes), "cluster", "3.0.0", "Get Cluster config for the node", ""),
    row("cluster|replicas", 3, flags!(ADMIN | STALE), NOKEY, Kind::Local(replicas), "cluster", "5.0.0", "List replica nodes of the specified master node", "node-id"),
    row("cluster|replicate", 3, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Routed(replicate), "cluster", "3.0.0", "Reconfigure a node as a replica of the specified master node", "node-id"),
    row("cluster|reset", -2, flags!(ADMIN | STALE | NOSCRIPT), NOKEY, Kind::Routed(reset), "cluster", "3.0.0", "Reset a Redis Cluster node", "[HARD|SOFT]"),
    row("cluster|saveconfig", 2, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(saveconfig), "cluster", "3.0.0", "Forces the node to save cluster state on disk", ""),
    row("cluster|set-config-epoch", 3, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Local(set_config_epoch), "cluster", "3.0.0", "Set the configuration epoch in a new node", "config-epoch"),
    row("cluster|setslot", -4, flags!(NO_ASYNC_LOADING | ADMIN | STALE), NOKEY, Kind::Routed(setslot), "cluster", "3.0.0", "Bind a hash slot to a specific node", "slot IMPORTING node-id|MIGRATING node-id|NODE node-id|STABLE"),
    row("cluster|shards", 2, flags!(STALE), NOKEY, Kind::Local(shards), "cluster", "7.0.0", "Get array of cluster slots to node mappings", ""),
    row("cluster|slaves", 3, flags!(ADMIN | STALE), NOKEY, Kind::Local(replicas), "cluster", "3.0.0", "List replica nodes of the specified master node", "node-id"),
    row("cluster|slots", 2, flags!(STALE), NOKEY, Kind::Local(slots), "cluster", "3.0.0", "Get array of Cluster slot to node mappings", ""),
];

const HELP: &[&str] = &[
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
    "HELP",
    "    Prints this help.",
];

/// Runs `f` on the cluster state; "cluster support disabled" when this is no cluster node.
fn on_state<R>(f: impl FnOnce(&mut ClusterState, &Settings) -> R) -> Result<R, Reply> {
    state::with(f).ok_or_else(|| error(err::CLUSTER_DISABLED))
}

fn disabled() -> Result<(), Reply> {
    if state::enabled() {
        Ok(())
    } else {
        Err(error(err::CLUSTER_DISABLED))
    }
}

/// Saves nodes.conf and re-evaluates the state after a change, as Redis's
/// CLUSTER_TODO_SAVE_CONFIG | CLUSTER_TODO_UPDATE_STATE before it sleeps.
fn changed(cluster: &mut ClusterState, settings: &Settings, fsync: bool) {
    cluster.update_state(settings, std::time::Instant::now());
    if let Err(e) = cluster.save(fsync) {
        // Redis's clusterSaveConfigOrDie: a node whose config cannot be kept stops.
        tracing::warn!("Fatal: can't update cluster config file: {e}");
        std::process::exit(1);
    }
}

fn asking(session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    session.cluster.asking = true;
    ok()
}

/// READONLY: reads of the master's slots served on this replica.
pub fn readonly(session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    session.cluster.readonly = true;
    ok()
}

/// READWRITE: back to redirecting every keyed command.
pub fn readwrite(session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    session.cluster.readonly = false;
    ok()
}

fn help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    Ok(help_reply(HELP))
}

/// A slot argument, as Redis's getSlotOrReply.
fn slot_arg(arg: &[u8]) -> Result<usize, Reply> {
    parse_int(arg)
        .filter(|s| (0..SLOTS as i64).contains(s))
        .map(|s| s as usize)
        .ok_or_else(|| error(err::CLUSTER_BAD_SLOT))
}

/// Checks slots `start..=end` for ADDSLOTS (`del` false) or DELSLOTS, marking them in `seen`,
/// as Redis's checkSlotAssignmentsOrReply.
fn check_slots(
    cluster: &ClusterState,
    seen: &mut [u8],
    del: bool,
    start: usize,
    end: usize,
) -> Result<(), Reply> {
    for (slot, count) in seen.iter_mut().enumerate().take(end + 1).skip(start) {
        let owner = cluster.owner(slot);
        if del && owner.is_none() {
            return Err(err::slot_unassigned(slot));
        } else if !del && owner.is_some() {
            return Err(err::slot_busy(slot));
        }
        *count += 1;
        if *count == 2 {
            return Err(err::slot_repeated(slot));
        }
    }
    Ok(())
}

/// Assigns (or frees) the marked slots, as Redis's clusterUpdateSlots, then saves.
fn update_slots(cluster: &mut ClusterState, settings: &Settings, seen: &[u8], del: bool) {
    let me = cluster.myself;
    for slot in (0..SLOTS).filter(|&s| seen[s] != 0) {
        if matches!(
            cluster.moving.get(&(slot as u16)),
            Some(Moving::ImportingFrom(_))
        ) {
            cluster.moving.remove(&(slot as u16));
        }
        if del {
            cluster.unassign(slot);
        } else {
            cluster.assign(slot, me);
        }
    }
    changed(cluster, settings, false);
}

fn addslots(_session: &mut Session, args: &mut Args) -> CmdResult {
    slots_each(args, false)
}

fn delslots(_session: &mut Session, args: &mut Args) -> CmdResult {
    slots_each(args, true)
}

fn slots_each(args: &mut Args, del: bool) -> CmdResult {
    disabled()?;
    let slots = args
        .rest()
        .iter()
        .map(|a| slot_arg(a))
        .collect::<Result<Vec<usize>, Reply>>()?;
    on_state(|cluster, settings| {
        let mut seen = vec![0u8; SLOTS];
        for &slot in &slots {
            check_slots(cluster, &mut seen, del, slot, slot)?;
        }
        update_slots(cluster, settings, &seen, del);
        ok()
    })?
}

fn addslotsrange(_session: &mut Session, args: &mut Args) -> CmdResult {
    slots_ranges(args, false, "cluster|addslotsrange")
}

fn delslotsrange(_session: &mut Session, args: &mut Args) -> CmdResult {
    slots_ranges(args, true, "cluster|delslotsrange")
}

fn slots_ranges(args: &mut Args, del: bool, name: &str) -> CmdResult {
    disabled()?;
    let rest = args.rest();
    if rest.len() % 2 == 1 {
        return Err(err::arity(name));
    }
    on_state(|cluster, settings| {
        let mut seen = vec![0u8; SLOTS];
        for pair in rest.chunks(2) {
            let start = slot_arg(&pair[0])?;
            let end = slot_arg(&pair[1])?;
            if start > end {
                return Err(err::slot_range_order(start, end));
            }
            check_slots(cluster, &mut seen, del, start, end)?;
        }
        update_slots(cluster, settings, &seen, del);
        ok()
    })?
}

fn bumpepoch(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    on_state(|cluster, settings| {
        let bumped = cluster.bump_epoch();
        if bumped {
            changed(cluster, settings, true);
        }
        let word = if bumped { "BUMPED" } else { "STILL" };
        Ok(Reply::Status(format!(
            "{word} {}",
            cluster.me().config_epoch
        )))
    })?
}

fn unknown_node(id: &[u8]) -> Reply {
    err::unknown_node(&super::shown(id))
}

fn count_failure_reports(_session: &mut Session, args: &mut Args) -> CmdResult {
    disabled()?;
    let id = args.next()?;
    on_state(|cluster, settings| {
        let node = cluster.lookup(&id).ok_or_else(|| unknown_node(&id))?;
        let now = crate::shard::unix_ms();
        let count = state::failover::valid_reports(cluster, node, settings.node_timeout, now);
        Ok(Reply::Int(count as i64))
    })?
}

/// Number of keys in `slot` of database 0, from the slot's own table on its shard.
async fn keys_in_slot(session: &Session, slot: usize) -> usize {
    let shard = session.router.shard_of_slot(slot as u16);
    session
        .router
        .run(shard, move |s| s.db_at(0).slot_len(slot))
        .await
        .unwrap_or(0)
}

/// Deletes the keys held in slots this node lost to another node's higher config epoch
/// (Redis's delKeysInSlot of the dirty slots): each is propagated as DEL, as Redis does.
pub async fn purge_lost_slots(router: &crate::shard::mailbox::Router) {
    for slot in state::take_lost() {
        if state::serving(slot) == state::Serving::Me {
            continue;
        }
        let shard = router.shard_of_slot(slot);
        let deleted = router
            .run(shard, move |s| {
                s.select(0);
                let keys: Vec<Bytes> = s
                    .db_at(0)
                    .slot_entries(usize::from(slot))
                    .map(|r| Bytes::copy_from_slice(r.key()))
                    .collect();
                for key in &keys {
                    if s.delete(key).is_some() {
                        s.journal_in(0, &[b"DEL", key]);
                        s.invalidate(key);
                    }
                }
                keys.len()
            })
            .await
            .unwrap_or(0);
        if deleted > 0 {
            tracing::info!("Deleted {deleted} keys of slot {slot}, now served by another node");
        }
    }
}

/// Number of keys in database 0 on every shard.
async fn keys_in_db0(session: &Session) -> usize {
    session
        .router
        .run_all(|s| s.db_at(0).len())
        .await
        .into_iter()
        .sum()
}

fn countkeysinslot(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        disabled()?;
        let slot = args.int()?;
        if !(0..SLOTS as i64).contains(&slot) {
            return Err(error(err::CLUSTER_INVALID_SLOT));
        }
        Ok(Reply::Int(
            keys_in_slot(session, slot as usize).await as i64,
        ))
    })
}

fn getkeysinslot(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        disabled()?;
        let slot = args.int()?;
        let max = args.int()?;
        if !(0..SLOTS as i64).contains(&slot) || max < 0 {
            return Err(error(err::CLUSTER_BAD_SLOT_OR_COUNT));
        }
        let slot = slot as usize;
        let shard = session.router.shard_of_slot(slot as u16);
        let keys = session
            .router
            .run(shard, move |s| {
                let max = usize::try_from(max).unwrap_or(usize::MAX);
                s.db_at(0)
                    .slot_entries(slot)
                    .take(max)
                    .map(|r| Reply::Bulk(Bytes::copy_from_slice(r.key())))
                    .collect::<Vec<Reply>>()
            })
            .await
            .unwrap_or_default();
        Ok(Reply::Array(keys))
    })
}

fn flushslots(session: &mut Session, _args: Args) -> Routine<'_> {
    Box::pin(async move {
        disabled()?;
        if keys_in_db0(session).await != 0 {
            return Err(error(err::CLUSTER_FLUSHSLOTS_NOT_EMPTY));
        }
        on_state(|cluster, settings| {
            let me = cluster.myself;
            for slot in 0..SLOTS {
                if cluster.owner(slot) == Some(me) {
                    cluster.unassign(slot);
                }
            }
            changed(cluster, settings, false);
            ok()
        })?
    })
}

fn forget(_session: &mut Session, args: &mut Args) -> CmdResult {
    disabled()?;
    let id = args.next()?;
    on_state(|cluster, settings| {
        let node = cluster.lookup(&id).ok_or_else(|| unknown_node(&id))?;
        if node == cluster.myself {
            return Err(error(err::CLUSTER_FORGET_MYSELF));
        }
        let me = cluster.me();
        if me.is_replica() && me.master.as_deref().map(str::as_bytes) == Some(&id[..]) {
            return Err(error(err::CLUSTER_FORGET_MASTER));
        }
        cluster.remove_node(node);
        let until = crate::shard::unix_ms() + state::bus::BLACKLIST_TTL_MS;
        cluster
            .blacklist
            .insert(String::from_utf8_lossy(&id).into_owned(), until);
        changed(cluster, settings, false);
        ok()
    })?
}

fn info(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    let text = on_state(|cluster, _| {
        let assigned = cluster.slots.iter().flatten().count();
        let failed = cluster
            .slots
            .iter()
            .flatten()
            .filter(|&&n| cluster.nodes[usize::from(n)].failed())
            .count();
        let pfail = cluster
            .slots
            .iter()
            .flatten()
            .filter(|&&n| {
                let node = &cluster.nodes[usize::from(n)];
                !node.failed() && node.flags & state::PFAIL != 0
            })
            .count();
        format!(
            "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\n\
             cluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{failed}\r\n\
             cluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\n\
             cluster_my_epoch:{}\r\n{}total_cluster_links_buffer_limit_exceeded:0\r\n",
            if cluster.ok { "ok" } else { "fail" },
            assigned - failed - pfail,
            cluster.nodes.len(),
            cluster.size,
            cluster.current_epoch,
            cluster.my_epoch(),
            state::bus::stats(),
        )
    })?;
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

fn keyslot(_session: &mut Session, args: &mut Args) -> CmdResult {
    disabled()?;
    let key = args.next()?;
    Ok(Reply::Int(i64::from(crate::shard::slot_of(&key))))
}

fn links(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    let mut views = crate::cluster::bus::links();
    // One link each way per node, as Redis keeps them: the newest.
    views.sort_by(|a, b| (&a.node, a.outbound, b.created).cmp(&(&b.node, b.outbound, a.created)));
    views.dedup_by(|a, b| a.node == b.node && a.outbound == b.outbound);
    let text = |s: &str| Reply::Bulk(Bytes::from(s.to_string()));
    let entries = views
        .into_iter()
        .map(|l| {
            Reply::Map(vec![
                (
                    bulk("direction"),
                    text(if l.outbound { "to" } else { "from" }),
                ),
                (bulk("node"), text(&l.node)),
                (bulk("create-time"), Reply::Int(l.created as i64)),
                (bulk("events"), text(if l.writing { "rw" } else { "r" })),
                (
                    bulk("send-buffer-allocated"),
                    Reply::Int(l.allocated as i64),
                ),
                (bulk("send-buffer-used"), Reply::Int(l.buffered as i64)),
            ])
        })
        .collect();
    Ok(Reply::Array(entries))
}

fn meet(_session: &mut Session, args: &mut Args) -> CmdResult {
    disabled()?;
    let all = args.rest();
    if all.len() > 3 {
        return Err(err::subcommand_syntax(args.all()));
    }
    let (ip, port) = (&all[0], &all[1]);
    let port_n = parse_int(port).ok_or_else(|| err::bad_base_port(&super::shown(port)))?;
    let cport_n = match all.get(2) {
        Some(cport) => parse_int(cport).ok_or_else(|| err::bad_bus_port(&super::shown(cport)))?,
        None => port_n + i64::from(state::PORT_INCR),
    };
    let parsed = std::str::from_utf8(ip)
        .ok()
        .and_then(|t| t.parse::<std::net::IpAddr>().ok());
    let valid_port = |p: i64| (1..=65535).contains(&p);
    let Some(parsed) = parsed.filter(|_| valid_port(port_n) && valid_port(cport_n)) else {
        return Err(err::bad_node_address(
            &super::shown(ip),
            &super::shown(port),
        ));
    };
    // A handshake already going on with that address answers OK too, as in Redis.
    on_state(|cluster, _| state::meet(cluster, parsed, port_n as u16, cport_n as u16))?;
    ok()
}

fn myid(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    let id = on_state(|cluster, _| cluster.me().id.clone())?;
    Ok(Reply::Bulk(Bytes::from(id)))
}

fn nodes(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    let text = on_state(|cluster, _| cluster.describe(0, false))?;
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

fn replicas(_session: &mut Session, args: &mut Args) -> CmdResult {
    disabled()?;
    let id = args.next()?;
    on_state(|cluster, _| {
        let node = cluster.lookup(&id).ok_or_else(|| unknown_node(&id))?;
        if cluster.nodes[node].is_replica() {
            return Err(error(err::CLUSTER_NOT_MASTER));
        }
        let lines = (0..cluster.nodes.len())
            .filter(|&i| {
                let n = &cluster.nodes[i];
                n.is_replica() && n.master.as_deref().map(str::as_bytes) == Some(&id[..])
            })
            .map(|i| Reply::Bulk(Bytes::from(cluster.describe_node(i))))
            .collect();
        Ok(Reply::Array(lines))
    })?
}

fn replicate(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        disabled()?;
        let id = args.next()?;
        let keys = keys_in_db0(session).await;
        let actions = on_state(|cluster, settings| {
            let node = cluster.lookup(&id).ok_or_else(|| unknown_node(&id))?;
            if node == cluster.myself {
                return Err(error(err::CLUSTER_REPLICATE_MYSELF));
            }
            if cluster.nodes[node].is_replica() {
                return Err(error(err::CLUSTER_REPLICATE_REPLICA));
            }
            if cluster.me().is_master() && (cluster.slot_count(cluster.myself) != 0 || keys != 0) {
                return Err(error(err::CLUSTER_REPLICATE_NOT_EMPTY));
            }
            let actions = cluster.set_my_master(node);
            changed(cluster, settings, true);
            Ok(actions)
        })??;
        state::apply_actions(&actions);
        state::follow_role();
        ok()
    })
}

fn reset(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        disabled()?;
        let hard = if args.keyword("hard") {
            true
        } else if args.keyword("soft") || args.is_done() {
            false
        } else {
            return Err(error(err::SYNTAX));
        };
        let master = on_state(|cluster, _| cluster.me().is_master())?;
        if master && keys_in_db0(session).await != 0 {
            return Err(error(err::CLUSTER_RESET_NOT_EMPTY));
        }
        on_state(|cluster, settings| {
            cluster.reset(hard);
            if hard {
                tracing::warn!("configEpoch set to 0 via CLUSTER RESET HARD");
                tracing::info!("Node hard reset, now I'm {}", cluster.me().id);
            }
            changed(cluster, settings, true);
        })?;
        ok()
    })
}

fn saveconfig(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    on_state(|cluster, _| match cluster.save(true) {
        Ok(()) => ok(),
        Err(e) => Err(err::cluster_save_failed(&crate::state::strerror(&e))),
    })?
}

fn set_config_epoch(_session: &mut Session, args: &mut Args) -> CmdResult {
    disabled()?;
    let epoch = args.int()?;
    on_state(|cluster, settings| {
        if epoch < 0 {
            return Err(err::bad_config_epoch(epoch));
        }
        if cluster.nodes.len() > 1 {
            return Err(error(err::CLUSTER_EPOCH_OTHERS));
        }
        if cluster.me().config_epoch != 0 {
            return Err(error(err::CLUSTER_EPOCH_NONZERO));
        }
        let epoch = epoch as u64;
        cluster.me_mut().config_epoch = epoch;
        tracing::warn!("configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH");
        cluster.current_epoch = cluster.current_epoch.max(epoch);
        changed(cluster, settings, false);
        ok()
    })?
}

fn setslot(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        disabled()?;
        if on_state(|cluster, _| cluster.me().is_replica())? {
            return Err(error(err::CLUSTER_SETSLOT_REPLICA));
        }
        let slot = slot_arg(&args.next()?)?;
        let action = args.next()?.to_ascii_lowercase();
        let target = args.rest().to_vec();
        let with_node = target.len() == 1;
        let keys = keys_in_slot(session, slot).await;
        on_state(|cluster, settings| {
            match (&action[..], with_node, target.is_empty()) {
                (b"migrating", true, _) => {
                    if cluster.owner(slot) != Some(cluster.myself) {
                        return Err(err::not_slot_owner(slot));
                    }
                    let n = known_master(cluster, &target[0], err::node_not_known)?;
                    cluster.moving.insert(slot as u16, Moving::MigratingTo(n));
                }
                (b"importing", true, _) => {
                    if cluster.owner(slot) == Some(cluster.myself) {
                        return Err(err::already_slot_owner(slot));
                    }
                    let n = known_master(cluster, &target[0], err::node_not_known)?;
                    cluster.moving.insert(slot as u16, Moving::ImportingFrom(n));
                }
                (b"stable", _, true) => {
                    cluster.moving.remove(&(slot as u16));
                }
                (b"node", true, _) => set_slot_node(cluster, settings, slot, &target[0], keys)?,
                _ => return Err(error(err::CLUSTER_SETSLOT_SYNTAX)),
            }
            changed(cluster, settings, false);
            ok()
        })?
    })
}

/// The master node named `id`; `unknown` starts the error when no node has that ID.
fn known_master(
    cluster: &ClusterState,
    id: &[u8],
    unknown: fn(&str) -> Reply,
) -> Result<usize, Reply> {
    let n = cluster
        .lookup(id)
        .ok_or_else(|| unknown(&super::shown(id)))?;
    if cluster.nodes[n].is_replica() {
        return Err(error(err::CLUSTER_TARGET_NOT_MASTER));
    }
    Ok(n)
}

/// CLUSTER SETSLOT <slot> NODE <id>, `keys` being the keys this node holds in the slot.
fn set_slot_node(
    cluster: &mut ClusterState,
    _settings: &Settings,
    slot: usize,
    id: &[u8],
    keys: usize,
) -> Result<(), Reply> {
    let n = known_master(cluster, id, err::unknown_node)?;
    let me = cluster.myself;
    let was_mine = cluster.owner(slot) == Some(me);
    if was_mine && n != me && keys != 0 {
        return Err(err::slot_keys_held(slot));
    }
    let key = slot as u16;
    if keys == 0 && matches!(cluster.moving.get(&key), Some(Moving::MigratingTo(_))) {
        cluster.moving.remove(&key);
    }
    cluster.assign(slot, n);
    if n == me && matches!(cluster.moving.get(&key), Some(Moving::ImportingFrom(_))) {
        if cluster.bump_epoch() {
            tracing::warn!("configEpoch updated after importing slot {slot}");
        }
        cluster.moving.remove(&key);
    }
    Ok(())
}

/// CLUSTER FAILOVER [FORCE|TAKEOVER] on a replica: a manual failover (see
/// `cluster::failover`); OK once started, as in Redis.
fn failover(_session: &mut Session, args: &mut Args) -> CmdResult {
    use state::failover::Manual;
    disabled()?;
    let how = match args.remaining() {
        0 => Manual::Default,
        1 if args.keyword("force") => Manual::Force,
        1 if args.keyword("takeover") => Manual::Takeover,
        1 => return Err(error(err::SYNTAX)),
        _ => return Err(err::subcommand_syntax(args.all())),
    };
    let actions = on_state(|cluster, settings| {
        if cluster.me().is_master() {
            return Err(error(err::CLUSTER_FAILOVER_MASTER));
        }
        let Some(master) = cluster.my_master() else {
            return Err(error(err::CLUSTER_FAILOVER_NO_MASTER));
        };
        let m = &cluster.nodes[master];
        if how == Manual::Default && (m.failed() || !m.link) {
            return Err(error(err::CLUSTER_FAILOVER_MASTER_DOWN));
        }
        let now = crate::shard::unix_ms();
        let mut out = Vec::new();
        let actions = state::failover::start_manual(cluster, settings, how, now, &mut out);
        if actions.save {
            changed(cluster, settings, true);
        }
        Ok((out, actions))
    })??;
    let (out, actions) = actions;
    state::apply_actions(&actions);
    state::bus::send_now(out);
    state::follow_role();
    ok()
}

/// One node as CLUSTER SLOTS lists it: endpoint, port, ID, and the other endpoints.
fn slot_node(node: &state::Node, settings: &Settings) -> Reply {
    let endpoint = match settings.preferred_endpoint.as_str() {
        "unknown-endpoint" => Reply::Nil,
        _ => Reply::Bulk(Bytes::from(state::endpoint(node, settings).to_string())),
    };
    let mut extra = Vec::new();
    if settings.preferred_endpoint != "ip" {
        extra.push((bulk("ip"), Reply::Bulk(Bytes::from(node.ip.clone()))));
    }
    if settings.preferred_endpoint != "hostname" && !node.hostname.is_empty() {
        extra.push((
            bulk("hostname"),
            Reply::Bulk(Bytes::from(node.hostname.clone())),
        ));
    }
    Reply::Array(vec![
        endpoint,
        Reply::Int(i64::from(node.port)),
        Reply::Bulk(Bytes::from(node.id.clone())),
        Reply::Map(extra),
    ])
}

fn bulk(text: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(text.as_bytes()))
}

fn slots(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    on_state(|cluster, settings| {
        let runs = cluster
            .runs()
            .into_iter()
            .map(|(start, end, node)| {
                let mut entry = vec![
                    Reply::Int(start as i64),
                    Reply::Int(end as i64),
                    slot_node(&cluster.nodes[node], settings),
                ];
                // Its replicas, once they report an offset and while not failed
                // (isReplicaAvailable).
                let id = &cluster.nodes[node].id;
                for (r, replica) in cluster.nodes.iter().enumerate() {
                    let offset = if r == cluster.myself {
                        state::my_offset()
                    } else {
                        replica.repl_offset
                    };
                    if replica.is_replica()
                        && replica.master.as_ref() == Some(id)
                        && !replica.failed()
                        && offset != 0
                    {
                        entry.push(slot_node(replica, settings));
                    }
                }
                Reply::Array(entry)
            })
            .collect();
        Ok(Reply::Array(runs))
    })?
}

fn shards(_session: &mut Session, _args: &mut Args) -> CmdResult {
    disabled()?;
    let offset = super::replication::OFFSET.load(std::sync::atomic::Ordering::Relaxed);
    on_state(|cluster, settings| {
        let mut out = Vec::new();
        for (i, node) in cluster.nodes.iter().enumerate() {
            if !node.is_master() {
                continue;
            }
            let ranges: Vec<Reply> = cluster
                .ranges_of(i)
                .into_iter()
                .flat_map(|(a, b)| [Reply::Int(a as i64), Reply::Int(b as i64)])
                .collect();
            let mut members = vec![shard_node(cluster, i, settings, offset)];
            for (r, replica) in cluster.nodes.iter().enumerate() {
                if replica.is_replica() && replica.master.as_deref() == Some(&node.id) {
                    members.push(shard_node(cluster, r, settings, offset));
                }
            }
            out.push(Reply::Map(vec![
                (bulk("slots"), Reply::Array(ranges)),
                (bulk("nodes"), Reply::Array(members)),
            ]));
        }
        Ok(Reply::Array(out))
    })?
}

/// One node's details in CLUSTER SHARDS.
fn shard_node(cluster: &ClusterState, i: usize, settings: &Settings, offset: i64) -> Reply {
    let node = &cluster.nodes[i];
    let text = |s: &str| Reply::Bulk(Bytes::from(s.to_string()));
    let mut fields = vec![(bulk("id"), text(&node.id))];
    if node.port != 0 {
        fields.push((bulk("port"), Reply::Int(i64::from(node.port))));
    }
    fields.push((bulk("ip"), text(&node.ip)));
    fields.push((bulk("endpoint"), text(state::endpoint(node, settings))));
    if !node.hostname.is_empty() {
        fields.push((bulk("hostname"), text(&node.hostname)));
    }
    let offset = if i == cluster.myself { offset } else { 0 };
    let role = if node.is_replica() {
        "replica"
    } else {
        "master"
    };
    fields.push((bulk("role"), text(role)));
    fields.push((bulk("replication-offset"), Reply::Int(offset)));
    let health = if node.failed() {
        "fail"
    } else if node.is_replica() && offset == 0 {
        "loading"
    } else {
        "online"
    };
    fields.push((bulk("health"), text(health)));
    Reply::Map(fields)
}
