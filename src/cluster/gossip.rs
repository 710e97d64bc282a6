//! What the bus's messages do to the cluster state, as Redis 7.0's clusterProcessPacket,
//! clusterProcessGossipSection and clusterUpdateSlotsConfigWith do it, and the messages this
//! node sends (clusterBuildMessageHdr, clusterSendPing). The bus thread (`bus`) owns the
//! links and calls these under the state's lock; what needs a link is returned as [`Effects`].

use super::msg::{self, Body, Gossip, Header, Msg};
use super::*;

/// The link a message came on, as the processing needs it.
pub struct LinkInfo<'a> {
    /// Outbound links belong to a node (by ID); inbound ones are anonymous.
    pub node: Option<&'a str>,
    /// This end's address (a MEET tells a node its own IP) and the peer's.
    pub local_ip: Option<String>,
    pub peer_ip: Option<String>,
}

/// What the bus must do after a message.
#[derive(Default)]
pub struct Effects {
    /// Answer PONG on the same link.
    pub pong: bool,
    /// Close this link.
    pub drop: bool,
    /// The link's node now has this ID (a handshake completed).
    pub renamed: Option<String>,
    /// Messages to send, each on the outbound link of the node with the ID given.
    pub out: failover::Outbox,
    /// What a failover step asks of the server.
    pub actions: failover::Actions,
    /// A vote or a FAIL arrived: the replica's election is looked at now.
    pub handle_failover: bool,
    /// Close the outbound link of these nodes (their address changed).
    pub reconnect: Vec<String>,
    /// nodes.conf must be written.
    pub save: bool,
    /// A PUBLISH or PUBLISHSHARD from a known node, for this node's subscribers.
    pub publish: Option<(bool, Vec<u8>, Vec<u8>)>,
    /// The known node that sent the message (an inbound link's node, as CLUSTER LINKS shows).
    pub sender: Option<String>,
}

/// Whether a node name sent on the bus can be kept (nodes.conf splits on whitespace).
fn printable(name: &[u8; 40]) -> bool {
    name.iter().all(u8::is_ascii_graphic)
}

fn id_of(name: &[u8; 40]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// This node's slots as a bitmap (a replica's master's).
fn my_bitmap(state: &ClusterState, node: usize) -> Box<[u8; SLOTS / 8]> {
    let mut bits = Box::new([0u8; SLOTS / 8]);
    for (slot, owner) in state.slots.iter().enumerate() {
        if *owner == Some(node as u16) {
            msg::set_slot(&mut bits, slot);
        }
    }
    bits
}

/// The header of every message this node sends.
pub fn header(state: &ClusterState, settings: &Settings) -> Header {
    let me = state.me();
    let mut h = Header::new(&me.id);
    let master = state.my_master().unwrap_or(state.myself);
    if let Some(id) = &me.master {
        let n = id.len().min(40);
        h.slaveof[..n].copy_from_slice(&id.as_bytes()[..n]);
    }
    h.myip = settings.announce_ip.clone();
    h.port = me.port;
    h.cport = me.cport;
    h.flags = me.flags & !MEET;
    h.state = if state.ok { 0 } else { 1 };
    h.mflags = failover::header_mflags(state, crate::shard::unix_ms());
    h.current_epoch = state.current_epoch;
    h.offset = super::my_offset();
    h.config_epoch = state.nodes[master].config_epoch;
    h.myslots = my_bitmap(state, master);
    h
}

/// A small random number source for the gossip picks (no cryptography needed).
pub fn random(bound: usize) -> usize {
    use std::cell::Cell;
    thread_local!(static SEED: Cell<u64> = Cell::new(crate::shard::unix_ms() | 1));
    SEED.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x % bound.max(1) as u64) as usize
    })
}

/// A PING, PONG or MEET with gossip about a few other nodes, as clusterSendPing picks them:
/// a tenth of the nodes (at least 3, at most all but two), skipping handshake, address-less
/// and PFAIL nodes and slotless nodes without a link; then every PFAIL node.
pub fn ping(state: &ClusterState, settings: &Settings, kind: u16) -> Msg {
    let total = state.nodes.len();
    let mut fresh = total.saturating_sub(2);
    let wanted = (total / 10).max(3).min(fresh);
    let mut counts = vec![0usize; total];
    for owner in state.slots.iter().flatten() {
        counts[usize::from(*owner)] += 1;
    }
    let entry = |n: &Node| Gossip {
        name: {
            let mut name = [0u8; 40];
            let k = n.id.len().min(40);
            name[..k].copy_from_slice(&n.id.as_bytes()[..k]);
            name
        },
        ping_sent: (n.ping_sent / 1000) as u32,
        pong_received: (n.pong_received / 1000) as u32,
        ip: n.ip.clone(),
        port: n.port,
        cport: n.cport,
        flags: n.flags & !MEET,
        pport: 0,
    };
    let mut picked = vec![false; total];
    let mut gossip = Vec::new();
    let mut tries = wanted * 3;
    while fresh > 0 && gossip.len() < wanted && tries > 0 {
        tries -= 1;
        let i = random(total);
        let n = &state.nodes[i];
        if i == state.myself || n.flags & PFAIL != 0 {
            continue;
        }
        if n.flags & (HANDSHAKE | NOADDR) != 0 || (!n.link && counts[i] == 0) {
            fresh -= 1;
            continue;
        }
        if picked[i] {
            continue;
        }
        picked[i] = true;
        gossip.push(entry(n));
        fresh -= 1;
    }
    for n in &state.nodes {
        if n.flags & PFAIL != 0 && n.flags & (HANDSHAKE | NOADDR) == 0 {
            gossip.push(entry(n));
        }
    }
    Msg {
        header: header(state, settings),
        body: Body::Ping(kind, gossip),
    }
}

/// An UPDATE telling a node with an old view that `node` serves its slots.
fn update_about(state: &ClusterState, settings: &Settings, node: usize) -> Msg {
    let n = &state.nodes[node];
    let mut name = [0u8; 40];
    let k = n.id.len().min(40);
    name[..k].copy_from_slice(&n.id.as_bytes()[..k]);
    Msg {
        header: header(state, settings),
        body: Body::Update {
            config_epoch: n.config_epoch,
            name,
            slots: my_bitmap(state, node),
        },
    }
}

/// Processes one message; `now` in unix ms.
pub fn process(
    state: &mut ClusterState,
    settings: &Settings,
    link: &LinkInfo,
    m: &Msg,
    now: u64,
) -> Effects {
    let mut fx = Effects::default();
    let h = &m.header;
    if !printable(&h.sender) {
        // A name nodes.conf could not hold (whitespace, control bytes): not a node's.
        return fx;
    }
    let link_node = link.node.and_then(|id| state.lookup(id.as_bytes()));
    let link_handshake = link_node.is_some_and(|i| state.nodes[i].flags & HANDSHAKE != 0);
    let mut sender = match link_node {
        Some(i) if !link_handshake => Some(i),
        _ => state.lookup(&h.sender),
    };
    if let Some(s) = sender {
        fx.sender = Some(state.nodes[s].id.clone());
        state.nodes[s].data_received = now;
        state.nodes[s].repl_offset = h.offset;
        if state.nodes[s].flags & HANDSHAKE == 0 {
            if h.current_epoch > state.current_epoch {
                state.current_epoch = h.current_epoch;
            }
            if h.config_epoch > state.nodes[s].config_epoch {
                state.nodes[s].config_epoch = h.config_epoch;
                fx.save = true;
            }
            failover::paused_offset_received(state, s, h);
        }
    }
    let kind = match &m.body {
        Body::Ping(kind, _) => *kind,
        Body::Fail(_) => msg::FAIL,
        Body::Update { .. } => msg::UPDATE,
        Body::Publish { sharded: true, .. } => msg::PUBLISHSHARD,
        Body::Publish { .. } => msg::PUBLISH,
        Body::Other(kind) => *kind,
    };
    if kind == msg::PING || kind == msg::MEET {
        let me_ip_empty = state.me().ip.is_empty();
        if (kind == msg::MEET || me_ip_empty) && settings.announce_ip.is_empty() {
            if let Some(ip) = &link.local_ip {
                if *ip != state.me().ip {
                    tracing::warn!("IP address for this node updated to {ip}");
                    state.me_mut().ip = ip.clone();
                    fx.save = true;
                }
            }
        }
        if sender.is_none() && kind == msg::MEET {
            let mut node = Node::new(random_id(), HANDSHAKE);
            node.ip = if h.myip.is_empty() {
                link.peer_ip.clone().unwrap_or_default()
            } else {
                h.myip.clone()
            };
            node.port = h.port;
            node.cport = h.cport;
            state.nodes.push(node);
            fx.save = true;
            if let Body::Ping(_, gossip) = &m.body {
                process_gossip(state, settings, None, gossip, now, &mut fx);
            }
        }
        fx.pong = true;
    }
    let Body::Ping(_, gossip) = &m.body else {
        match &m.body {
            Body::Fail(about) => {
                let failing = state.lookup(about);
                if let (Some(_), Some(f)) = (sender, failing) {
                    if failover::fail_received(state, f, now) {
                        fx.save = true;
                        fx.handle_failover = true;
                    }
                }
            }
            Body::Other(msg::FAILOVER_AUTH_REQUEST) => {
                if let Some(s) = sender {
                    let mut out = Vec::new();
                    fx.actions
                        .merge(failover::vote(state, settings, s, h, now, &mut out));
                    fx.out.append(&mut out);
                }
            }
            Body::Other(msg::FAILOVER_AUTH_ACK) => {
                if let Some(s) = sender {
                    fx.handle_failover |= failover::ack_received(state, s, h.current_epoch);
                }
            }
            Body::Other(msg::MFSTART) => {
                if let Some(s) = sender {
                    fx.actions.merge(failover::mfstart_received(state, s, now));
                }
            }
            Body::Update {
                config_epoch,
                name,
                slots,
            } => {
                let Some(n) = sender.and(state.lookup(name)) else {
                    return fx;
                };
                if state.nodes[n].config_epoch >= *config_epoch {
                    return fx;
                }
                set_master(state, n);
                state.nodes[n].config_epoch = *config_epoch;
                update_slots_with(state, settings, n, *config_epoch, slots, &mut fx);
                fx.save = true;
            }
            Body::Publish {
                sharded,
                channel,
                message,
            } if sender.is_some() => {
                fx.publish = Some((*sharded, channel.clone(), message.clone()));
            }
            _ => {}
        }
        return fx;
    };
    if let Some(ln) = link_node {
        if link_handshake {
            if sender.is_some() {
                // Known under its real name already: the handshake node goes.
                state.remove_node(ln);
                fx.drop = true;
                fx.save = true;
                return fx;
            }
            let node = &mut state.nodes[ln];
            node.id = id_of(&h.sender);
            node.flags &= !HANDSHAKE;
            node.flags |= h.flags & (MASTER | SLAVE);
            tracing::info!("Handshake with node {} completed.", node.id);
            fx.renamed = Some(node.id.clone());
            fx.save = true;
        } else if state.nodes[ln].id.as_bytes() != h.sender {
            let node = &mut state.nodes[ln];
            node.flags |= NOADDR;
            node.ip.clear();
            node.port = 0;
            node.cport = 0;
            fx.drop = true;
            fx.save = true;
            return fx;
        }
        if kind == msg::PONG {
            let node = &mut state.nodes[ln];
            node.pong_received = now;
            node.ping_sent = 0;
            if node.flags & PFAIL != 0 {
                node.flags &= !PFAIL;
                fx.save = true;
            } else if failover::clear_failure_if_needed(state, ln, settings.node_timeout, now) {
                fx.save = true;
            }
        }
    }
    if link_handshake {
        sender = None;
    }
    let Some(s) = sender else {
        return fx;
    };
    let nofailover = h.flags & NOFAILOVER;
    state.nodes[s].flags = (state.nodes[s].flags & !NOFAILOVER) | nofailover;
    if kind == msg::PING && link.node.is_none() {
        update_address(state, s, link, h, &mut fx);
    }
    if h.slaveof.iter().all(|&b| b == 0) {
        set_master(state, s);
    } else {
        let master = id_of(&h.slaveof);
        if state.nodes[s].is_master() {
            for owner in state.slots.iter_mut() {
                if *owner == Some(s as u16) {
                    *owner = None;
                }
            }
            let node = &mut state.nodes[s];
            node.flags = (node.flags & !MASTER) | SLAVE;
            fx.save = true;
        }
        if state.lookup(master.as_bytes()).is_some()
            && state.nodes[s].master.as_deref() != Some(&master)
        {
            state.nodes[s].master = Some(master);
            fx.save = true;
        }
    }
    let sender_master = if state.nodes[s].is_master() {
        Some(s)
    } else {
        let m = state.nodes[s].master.clone();
        m.and_then(|id| state.lookup(id.as_bytes()))
    };
    let dirty = sender_master.is_some_and(|m| *my_bitmap(state, m) != *h.myslots);
    if dirty && state.nodes[s].is_master() {
        update_slots_with(state, settings, s, h.config_epoch, &h.myslots, &mut fx);
    }
    if dirty {
        for slot in 0..SLOTS {
            if !h.has_slot(slot) {
                continue;
            }
            let Some(owner) = state.owner(slot) else {
                continue;
            };
            if owner != s && state.nodes[owner].config_epoch > h.config_epoch {
                tracing::debug!("Node {} has an old slots configuration", state.nodes[s].id);
                let update = update_about(state, settings, owner);
                fx.out
                    .push((state.nodes[s].id.clone(), msg::encode(&update)));
                break;
            }
        }
    }
    let me = state.myself;
    if state.nodes[me].is_master()
        && state.nodes[s].is_master()
        && h.config_epoch == state.nodes[me].config_epoch
        && state.nodes[s].id.as_str() > state.nodes[me].id.as_str()
    {
        // clusterHandleConfigEpochCollision: the smaller node ID keeps the epoch.
        state.current_epoch += 1;
        state.nodes[me].config_epoch = state.current_epoch;
        fx.save = true;
        tracing::warn!(
            "WARNING: configEpoch collision with node {}. configEpoch set to {}",
            state.nodes[s].id,
            state.current_epoch
        );
    }
    process_gossip(state, settings, Some(s), gossip, now, &mut fx);
    fx
}

/// nodeUpdateAddressIfNeeded: a PING on an inbound link carries the sender's address as it
/// announces it now (a CONFIG SET of `cluster-announce-*`, a restart on another port); the
/// link to its old address is dropped.
fn update_address(
    state: &mut ClusterState,
    s: usize,
    link: &LinkInfo,
    h: &Header,
    fx: &mut Effects,
) {
    let ip = if h.myip.is_empty() {
        link.peer_ip.clone().unwrap_or_default()
    } else {
        h.myip.clone()
    };
    let node = &mut state.nodes[s];
    if node.port == h.port && node.cport == h.cport && node.ip == ip {
        return;
    }
    node.ip = ip;
    node.port = h.port;
    node.cport = h.cport;
    node.flags &= !NOADDR;
    tracing::warn!(
        "Address updated for node {} ({}), now {}:{}",
        node.id,
        node.hostname,
        node.ip,
        node.port
    );
    fx.reconnect.push(node.id.clone());
    fx.save = true;
}

/// clusterSetNodeAsMaster: a replica that turns master is a target for replica migration
/// (it failed over a master that had replicas).
fn set_master(state: &mut ClusterState, n: usize) {
    let me = state.myself;
    let node = &mut state.nodes[n];
    if node.is_master() {
        return;
    }
    if node.master.is_some() && n != me {
        node.migrate_to = true;
    }
    node.flags = (node.flags & !SLAVE) | MASTER;
    node.master = None;
}

/// clusterUpdateSlotsConfigWith: `sender` claims `slots` at `epoch`; each slot it does not
/// serve yet becomes its when unclaimed or held at a lower config epoch (unless importing).
/// When that leaves this node's shard (itself, or the master it replicates) without slots,
/// this node turns replica of `sender`, which took them (a failover happened); otherwise
/// the keys it still holds in slots it lost are deleted.
fn update_slots_with(
    state: &mut ClusterState,
    settings: &Settings,
    sender: usize,
    epoch: u64,
    slots: &[u8; SLOTS / 8],
    fx: &mut Effects,
) {
    if sender == state.myself {
        tracing::warn!("Discarding UPDATE message about myself.");
        return;
    }
    let me = state.myself;
    let current = if state.me().is_master() {
        Some(me)
    } else {
        state.my_master()
    };
    let mut sender_slots = 0usize;
    let mut migrated_ours = 0usize;
    let mut dirty = Vec::new();
    for slot in 0..SLOTS {
        if !msg::has_slot(slots, slot) {
            continue;
        }
        sender_slots += 1;
        let owner = state.owner(slot);
        if owner == Some(sender) {
            continue;
        }
        if matches!(
            state.moving.get(&(slot as HashSlot)),
            Some(Moving::ImportingFrom(_))
        ) {
            continue;
        }
        if owner.is_none_or(|o| state.nodes[o].config_epoch < epoch) {
            if owner == Some(me) {
                dirty.push(slot as HashSlot);
            }
            if owner.is_some() && owner == current {
                migrated_ours += 1;
            }
            state.assign(slot, sender);
            fx.save = true;
        }
    }
    let emptied = current.is_some_and(|c| state.slot_count(c) == 0);
    if migrated_ours > 0
        && emptied
        && (settings.allow_replica_migration || sender_slots == migrated_ours)
    {
        tracing::warn!(
            "Configuration change detected. Reconfiguring myself as a replica of {}",
            state.nodes[sender].id
        );
        fx.actions.merge(state.set_my_master(sender));
        fx.save = true;
        return;
    }
    if state.me().is_master() {
        // Keys this node may still hold there are deleted on the data path.
        for slot in dirty {
            super::note_lost(slot);
        }
    }
}

/// clusterProcessGossipSection: failure reports from masters, pong times, new nodes (from a
/// known sender), and a failing node's new address.
fn process_gossip(
    state: &mut ClusterState,
    settings: &Settings,
    sender: Option<usize>,
    gossip: &[Gossip],
    now: u64,
    fx: &mut Effects,
) {
    for g in gossip {
        match state.lookup(&g.name) {
            Some(i) => {
                if let Some(s) = sender {
                    if failover::gossip_about(state, settings, s, i, g.flags, now, &mut fx.out) {
                        fx.save = true;
                        fx.handle_failover = true;
                    }
                }
                let node = &mut state.nodes[i];
                if g.flags & (FAIL | PFAIL) == 0 && node.ping_sent == 0 {
                    let pong = u64::from(g.pong_received) * 1000;
                    if pong <= now + 500 && pong > node.pong_received {
                        node.pong_received = pong;
                    }
                }
                if node.flags & (FAIL | PFAIL) != 0
                    && g.flags & (NOADDR | FAIL | PFAIL) == 0
                    && (!node.ip.eq_ignore_ascii_case(&g.ip)
                        || node.port != g.port
                        || node.cport != g.cport)
                {
                    fx.reconnect.push(node.id.clone());
                    node.ip = g.ip.clone();
                    node.port = g.port;
                    node.cport = g.cport;
                    node.flags &= !NOADDR;
                }
            }
            None => {
                let id = id_of(&g.name);
                let banned = state.blacklist.get(&id).is_some_and(|&until| until > now);
                if sender.is_some() && g.flags & NOADDR == 0 && !banned && printable(&g.name) {
                    let mut node = Node::new(id, g.flags & !(MYSELF | MEET));
                    node.ip = g.ip.clone();
                    node.port = g.port;
                    node.cport = g.cport;
                    state.nodes.push(node);
                    fx.save = true;
                }
            }
        }
    }
}

/// CLUSTER MEET: a handshake node that the bus will connect to and greet with MEET
/// (clusterStartHandshake). False: a handshake with that address is already going on.
pub fn start_handshake(state: &mut ClusterState, ip: &str, port: u16, cport: u16) -> bool {
    let busy = state.nodes.iter().any(|n| {
        n.flags & HANDSHAKE != 0
            && n.ip.eq_ignore_ascii_case(ip)
            && n.port == port
            && n.cport == cport
    });
    if busy {
        return false;
    }
    let mut node = Node::new(random_id(), HANDSHAKE | MEET);
    node.ip = ip.to_string();
    node.port = port;
    node.cport = cport;
    state.nodes.push(node);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's defaults (a 15 s node timeout, full coverage required).
    fn settings() -> Settings {
        Settings::from_config(&crate::config::Config::default())
    }

    fn from(peer: &str, kind: u16, gossip: Vec<Gossip>) -> Msg {
        let mut header = Header::new(peer);
        header.port = 7001;
        header.cport = 17001;
        header.flags = MASTER;
        header.config_epoch = 2;
        header.current_epoch = 2;
        msg::set_slot(&mut header.myslots, 5);
        Msg {
            header,
            body: Body::Ping(kind, gossip),
        }
    }

    #[test]
    fn meet_handshake_rename_then_slots_and_gossip() {
        let mut state = ClusterState::fresh(PathBuf::from("/nonexistent"));
        let settings = settings();
        let peer = "b".repeat(40);
        let inbound = LinkInfo {
            node: None,
            local_ip: Some("127.0.0.1".into()),
            peer_ip: Some("127.0.0.2".into()),
        };
        let fx = process(
            &mut state,
            &settings,
            &inbound,
            &from(&peer, msg::MEET, vec![]),
            1,
        );
        assert!(fx.pong && fx.save);
        assert_eq!(state.me().ip, "127.0.0.1");
        let hs = state
            .nodes
            .iter()
            .position(|n| n.flags & HANDSHAKE != 0)
            .unwrap();
        assert_eq!(
            (state.nodes[hs].ip.as_str(), state.nodes[hs].cport),
            ("127.0.0.2", 17001)
        );
        let hs_id = state.nodes[hs].id.clone();
        let outbound = LinkInfo {
            node: Some(&hs_id),
            local_ip: None,
            peer_ip: None,
        };
        let fx = process(
            &mut state,
            &settings,
            &outbound,
            &from(&peer, msg::PONG, vec![]),
            2,
        );
        assert_eq!(fx.renamed.as_deref(), Some(peer.as_str()));
        let b = state.lookup(peer.as_bytes()).unwrap();
        assert_eq!(state.nodes[b].flags, MASTER);
        // The next PONG carries its slots, epochs and a node to gossip about; a name with a
        // space is no node's.
        let mut third = Gossip {
            name: [b'c'; 40],
            ping_sent: 0,
            pong_received: 0,
            ip: "127.0.0.3".into(),
            port: 7002,
            cport: 17002,
            flags: MASTER,
            pport: 0,
        };
        let mut bad = third.clone();
        bad.name[3] = b' ';
        let outbound = LinkInfo {
            node: Some(&peer),
            local_ip: None,
            peer_ip: None,
        };
        let pong = from(&peer, msg::PONG, vec![third.clone(), bad]);
        process(&mut state, &settings, &outbound, &pong, 3);
        assert_eq!(state.owner(5), Some(b));
        assert_eq!((state.current_epoch, state.nodes[b].config_epoch), (2, 2));
        assert_eq!(state.nodes.len(), 3);
        assert!(state.lookup(&[b'c'; 40]).is_some());
        // A higher config epoch takes a slot over; a lower one does not.
        third.name = [b'c'; 40];
        let mut claim = from(&"c".repeat(40), msg::PING, vec![]);
        claim.header.config_epoch = 1;
        process(&mut state, &settings, &inbound, &claim, 4);
        assert_eq!(state.owner(5), Some(b));
        claim.header.config_epoch = 3;
        process(&mut state, &settings, &inbound, &claim, 5);
        assert_eq!(state.owner(5), state.lookup(&[b'c'; 40]));
    }
}
