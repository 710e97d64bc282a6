//! The cluster bus thread: owns the bus port (`cluster-port`, or the client port + 10000) and
//! every link. An outbound link per known node (made by the 100 ms cron, greeting with MEET or
//! PING), inbound links from the other nodes (answered with PONG); messages in Redis 7.0's
//! format (`msg`), their effect on the state in `gossip`. One thread, non-blocking sockets,
//! `poll(2)` between ticks.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::time::{Duration, Instant};

use super::failover;
use super::gossip::{self, LinkInfo};
use super::msg;
use super::*;

/// How often the cron runs (Redis's clusterCron runs 10 times a second).
const TICK: Duration = Duration::from_millis(100);
/// How long CLUSTER FORGET keeps a node from coming back through gossip.
pub const BLACKLIST_TTL_MS: u64 = 60_000;

/// Messages sent and received by type (CLUSTER INFO's cluster_stats_messages_*).
static SENT: [AtomicU64; msg::TYPE_COUNT as usize] =
    [const { AtomicU64::new(0) }; msg::TYPE_COUNT as usize];
static RECEIVED: [AtomicU64; msg::TYPE_COUNT as usize] =
    [const { AtomicU64::new(0) }; msg::TYPE_COUNT as usize];

/// Counts a whole message (`bytes` starts with its header) in `table`.
fn count(table: &[AtomicU64], bytes: &[u8]) {
    if let Some(kind) = bytes.get(12..14) {
        let kind = usize::from(u16::from_be_bytes([kind[0], kind[1]]));
        if let Some(counter) = table.get(kind) {
            counter.fetch_add(1, Relaxed);
        }
    }
}

/// CLUSTER INFO's message lines, as Redis prints them: a line per type seen, then the total.
pub fn stats() -> String {
    let mut out = String::new();
    for (table, dir) in [(&SENT, "sent"), (&RECEIVED, "received")] {
        let mut total = 0;
        for (name, counter) in msg::TYPE_NAMES.iter().zip(table.iter()) {
            let n = counter.load(Relaxed);
            if n != 0 {
                total += n;
                out.push_str(&format!("cluster_stats_messages_{name}_{dir}:{n}\r\n"));
            }
        }
        out.push_str(&format!("cluster_stats_messages_{dir}:{total}\r\n"));
    }
    out
}

/// Work handed to the bus thread by the data path, done in order.
enum Outgoing {
    /// PUBLISH (to every node) or SPUBLISH (to the nodes serving this node's slots).
    Publish {
        sharded: bool,
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    /// DEBUG CLUSTERLINK KILL: close the links to (`to`), from (`from`) node `id`.
    Kill { id: String, to: bool, from: bool },
    /// Messages a command made (CLUSTER FAILOVER's), each for a node's outbound link.
    Send(failover::Outbox),
}

/// The work not yet taken by the bus thread, and the number of items ever handed over.
static OUTGOING: std::sync::Mutex<(Vec<Outgoing>, u64)> = std::sync::Mutex::new((Vec::new(), 0));
/// How many handed-over items the bus has done, with CLUSTER LINKS showing the result.
static DONE: AtomicU64 = AtomicU64::new(0);
/// The bus thread's wake-up (an eventfd in its poll set); -1 before it starts.
static WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
/// Delivers a message published on another node: sharded, channel, message.
pub type PublishSink = fn(bool, Vec<u8>, Vec<u8>);

/// Where a PUBLISH from another node goes (the server's pub/sub), set at start.
static PUBLISH_SINK: std::sync::OnceLock<PublishSink> = std::sync::OnceLock::new();

/// Names the server's delivery of messages published on other nodes.
pub fn set_publish_sink(sink: PublishSink) {
    let _ = PUBLISH_SINK.set(sink);
}

/// Queues `work` for the bus thread and wakes it; returns the item's number (see [`DONE`]).
fn hand_over(work: Outgoing) -> u64 {
    let number = {
        let mut queue = OUTGOING.lock().unwrap_or_else(|e| e.into_inner());
        queue.0.push(work);
        queue.1 += 1;
        queue.1
    };
    let fd = WAKE.load(Relaxed);
    if fd >= 0 {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to the eventfd the bus thread owns.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
    number
}

/// Sends a PUBLISH (`sharded`: PUBLISHSHARD) to the other nodes, as clusterPropagatePublish
/// and clusterPropagatePublishShard do.
pub fn publish(sharded: bool, channel: &[u8], message: &[u8]) {
    hand_over(Outgoing::Publish {
        sharded,
        channel: channel.to_vec(),
        message: message.to_vec(),
    });
}

/// DEBUG DROP-CLUSTER-PACKET-FILTER: messages of this type are dropped as they arrive
/// (-1: none), as Redis's cluster_drop_packet_filter.
static DROP_FILTER: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(-1);

pub fn set_drop_filter(kind: i64) {
    DROP_FILTER.store(kind, Relaxed);
}

/// Sends messages built under the state's lock by a command.
pub fn send_now(out: failover::Outbox) {
    if !out.is_empty() {
        hand_over(Outgoing::Send(out));
    }
}

/// DEBUG CLUSTERLINK KILL TO|FROM|ALL `id`. Returns once the links are closed and CLUSTER
/// LINKS no longer shows them, as in Redis, where the command closes them itself: a CLUSTER
/// LINKS sent next must not count a closed link (a second at most, should the bus be stuck).
pub fn kill_links(id: &str, to: bool, from: bool) {
    let number = hand_over(Outgoing::Kill {
        id: id.to_string(),
        to,
        from,
    });
    if WAKE.load(Relaxed) < 0 {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while DONE.load(Acquire) < number && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// One link as CLUSTER LINKS shows it.
#[derive(Clone, Debug)]
pub struct LinkView {
    pub outbound: bool,
    pub node: String,
    pub created: u64,
    pub writing: bool,
    pub buffered: usize,
    pub allocated: usize,
}

static LINKS: std::sync::Mutex<Vec<LinkView>> = std::sync::Mutex::new(Vec::new());

/// The links to and from known nodes, as the bus last saw them.
pub fn links() -> Vec<LinkView> {
    LINKS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Queues `bytes` on `link`, counted as sent.
fn send(link: &mut Link, bytes: &[u8]) {
    count(&SENT, bytes);
    link.wbuf.extend_from_slice(bytes);
}

/// Starts the bus thread on `listeners` (non-blocking, bound by the server).
pub fn start(listeners: Vec<TcpListener>) -> std::io::Result<()> {
    for listener in &listeners {
        listener.set_nonblocking(true)?;
    }
    // SAFETY: eventfd takes no pointers; a failure (-1) leaves the bus on its 100 ms ticks.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    WAKE.store(fd, Relaxed);
    std::thread::Builder::new()
        .name("cluster-bus".into())
        .spawn(move || Bus::new(listeners).run())?;
    Ok(())
}

struct Link {
    stream: TcpStream,
    /// The node an outbound link was made for (by ID); None: inbound.
    node: Option<String>,
    connecting: bool,
    /// Unix ms.
    created: u64,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    dead: bool,
    /// For an inbound link, the known node that sends on it.
    from: Option<String>,
}

struct Bus {
    listeners: Vec<TcpListener>,
    links: Vec<Link>,
    iteration: u64,
    save: bool,
    /// The number of the last item taken from [`OUTGOING`]; published as done by `finish`.
    taken: u64,
}

/// A non-blocking connect to `ip:port` (completion is seen as writability).
fn connect(ip: &str, port: u16) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| std::io::Error::from(ErrorKind::InvalidInput))?;
    let addr = SocketAddr::new(ip, port);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

impl Bus {
    fn new(listeners: Vec<TcpListener>) -> Bus {
        Bus {
            listeners,
            links: Vec::new(),
            iteration: 0,
            save: false,
            taken: 0,
        }
    }

    fn run(mut self) {
        let mut next_tick = Instant::now();
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            self.poll(wait);
            self.accept();
            self.outgoing();
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + TICK;
                self.cron();
            }
            self.finish();
        }
    }

    /// Waits up to `wait` for any socket, then reads, writes and completes connects.
    fn poll(&mut self, wait: Duration) {
        let mut fds: Vec<libc::pollfd> = self
            .listeners
            .iter()
            .map(|l| libc::pollfd {
                fd: l.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        for link in &self.links {
            let mut events = libc::POLLIN;
            if link.connecting || !link.wbuf.is_empty() {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: link.stream.as_raw_fd(),
                events,
                revents: 0,
            });
        }
        let wake = WAKE.load(Relaxed);
        if wake >= 0 {
            fds.push(libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let ms = wait.as_millis().min(1000) as libc::c_int;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if ready <= 0 {
            return;
        }
        if wake >= 0 && fds.last().is_some_and(|f| f.revents != 0) {
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from the eventfd this thread polls.
            unsafe { libc::read(wake, (&mut count as *mut u64).cast(), 8) };
        }
        let first = self.listeners.len();
        for i in 0..self.links.len() {
            let revents = fds[first + i].revents;
            if revents == 0 {
                continue;
            }
            if self.links[i].connecting
                && revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0
            {
                let link = &mut self.links[i];
                match link.stream.take_error() {
                    Ok(None) => link.connecting = false,
                    _ => {
                        link.dead = true;
                        continue;
                    }
                }
            }
            if revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0 {
                self.read(i);
            }
            self.write(i);
        }
    }

    fn accept(&mut self) {
        for listener in &self.listeners {
            while let Ok((stream, _)) = listener.accept() {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                self.links.push(Link {
                    stream,
                    node: None,
                    connecting: false,
                    created: crate::shard::unix_ms(),
                    rbuf: Vec::new(),
                    wbuf: Vec::new(),
                    dead: false,
                    from: None,
                });
            }
        }
    }

    /// Reads what link `i` has, processing each whole message as it completes.
    fn read(&mut self, i: usize) {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let link = &mut self.links[i];
            if link.dead || link.connecting {
                return;
            }
            match link.stream.read(&mut chunk) {
                Ok(0) => {
                    link.dead = true;
                    return;
                }
                Ok(n) => link.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    link.dead = true;
                    return;
                }
            }
            while let Some(frame) = self.next_frame(i) {
                count(&RECEIVED, &frame);
                if let Some(m) = msg::decode(&frame) {
                    let kind = i64::from(u16::from_be_bytes([frame[12], frame[13]]));
                    if kind == DROP_FILTER.load(Relaxed) {
                        tracing::warn!("Dropping packet that matches debug drop filter");
                        continue;
                    }
                    self.handle(i, &m);
                }
                if self.links[i].dead {
                    return;
                }
            }
        }
    }

    /// The next whole message in link `i`'s buffer; a malformed start kills the link.
    fn next_frame(&mut self, i: usize) -> Option<Vec<u8>> {
        let link = &mut self.links[i];
        if link.dead || link.rbuf.len() < 8 {
            return None;
        }
        let head: [u8; 8] = link.rbuf[..8].try_into().ok()?;
        match msg::frame_len(&head) {
            Err(why) => {
                tracing::warn!("Bad message on the cluster bus ({why}): closing the link");
                link.dead = true;
                None
            }
            Ok(len) if link.rbuf.len() >= len => Some(link.rbuf.drain(..len).collect()),
            Ok(_) => None,
        }
    }

    fn write(&mut self, i: usize) {
        let link = &mut self.links[i];
        while !link.dead && !link.connecting && !link.wbuf.is_empty() {
            match link.stream.write(&link.wbuf) {
                Ok(0) => link.dead = true,
                Ok(n) => {
                    link.wbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => link.dead = true,
            }
        }
    }

    fn handle(&mut self, i: usize, m: &msg::Msg) {
        let now = crate::shard::unix_ms();
        let link = &self.links[i];
        let info = LinkInfo {
            node: link.node.as_deref(),
            local_ip: link.stream.local_addr().ok().map(|a| a.ip().to_string()),
            peer_ip: link.stream.peer_addr().ok().map(|a| a.ip().to_string()),
        };
        let done = super::with(|state, settings| {
            let mut fx = gossip::process(state, settings, &info, m, now);
            let pong = fx
                .pong
                .then(|| msg::encode(&gossip::ping(state, settings, msg::PONG)));
            if fx.handle_failover {
                let age = super::data_age();
                let more = failover::handle_replica(state, settings, age, now, &mut fx.out);
                fx.actions.merge(more);
            }
            (fx, pong)
        });
        let Some((fx, pong)) = done else {
            return;
        };
        let link = &mut self.links[i];
        if let Some(pong) = pong {
            send(link, &pong);
        }
        if link.node.is_none() && fx.sender.is_some() {
            link.from = fx.sender.clone();
        }
        if let (Some((sharded, channel, message)), Some(sink)) = (fx.publish, PUBLISH_SINK.get()) {
            sink(sharded, channel, message);
        }
        if let Some(id) = fx.renamed {
            link.node = Some(id);
        }
        if fx.drop {
            link.dead = true;
        }
        self.save |= fx.save;
        super::apply_actions(&fx.actions);
        self.save |= fx.actions.save;
        self.send_all(fx.out);
        for id in fx.reconnect {
            if let Some(out) = self.outbound(&id) {
                out.dead = true;
            }
        }
        self.write(i);
    }

    /// Does the data path's work: publishes go out on the outbound links of their nodes, and
    /// DEBUG CLUSTERLINK KILL closes links, in the order they came.
    fn outgoing(&mut self) {
        let work = {
            let mut queue = OUTGOING.lock().unwrap_or_else(|e| e.into_inner());
            self.taken = queue.1;
            std::mem::take(&mut queue.0)
        };
        for item in work {
            match item {
                Outgoing::Kill { id, to, from } => {
                    for link in &mut self.links {
                        let outbound = link.node.as_deref() == Some(&id);
                        let inbound = link.node.is_none() && link.from.as_deref() == Some(&id);
                        if (to && outbound) || (from && inbound) {
                            link.dead = true;
                        }
                    }
                    // Gone now: a message sent next does not find them.
                    self.links.retain(|l| !l.dead);
                }
                Outgoing::Send(out) => self.send_all(out),
                Outgoing::Publish {
                    sharded,
                    channel,
                    message,
                } => {
                    let built = super::with(|state, settings| {
                        let me = state.myself;
                        let master = state.my_master().unwrap_or(me);
                        let targets: Vec<String> = state
                            .nodes
                            .iter()
                            .enumerate()
                            .filter(|&(i, n)| i != me && n.flags & HANDSHAKE == 0)
                            .filter(|&(i, n)| {
                                !sharded
                                    || i == master
                                    || n.master.as_deref() == Some(&state.nodes[master].id)
                            })
                            .map(|(_, n)| n.id.clone())
                            .collect();
                        let body = msg::Body::Publish {
                            sharded,
                            channel,
                            message,
                        };
                        let header = gossip::header(state, settings);
                        (targets, msg::encode(&msg::Msg { header, body }))
                    });
                    let Some((targets, bytes)) = built else {
                        continue;
                    };
                    for id in targets {
                        if let Some(link) = self.outbound(&id) {
                            send(link, &bytes);
                        }
                    }
                }
            }
        }
        for i in 0..self.links.len() {
            self.write(i);
        }
    }

    /// Queues each message on the outbound link of its node (none: it is not sent, as
    /// Redis drops a message for a node without a link).
    fn send_all(&mut self, out: failover::Outbox) {
        for (id, bytes) in out {
            if let Some(link) = self.outbound(&id) {
                send(link, &bytes);
            }
        }
    }

    fn outbound(&mut self, id: &str) -> Option<&mut Link> {
        self.links
            .iter_mut()
            .find(|l| !l.dead && l.node.as_deref() == Some(id))
    }

    /// clusterCron: handshake timeouts, links to nodes that have none (greeted with MEET or
    /// PING), a ping every second to the node heard from longest ago among five random ones,
    /// a ping to any node not pinged for half the node timeout, and PFAIL after the timeout.
    fn cron(&mut self) {
        self.iteration += 1;
        let now = crate::shard::unix_ms();
        let iteration = self.iteration;
        let links = &mut self.links;
        let mut save = false;
        let failed_over = super::with(|state, settings| {
            let timeout = settings.node_timeout;
            let handshake_timeout = timeout.max(1000);
            let mut i = 0;
            while i < state.nodes.len() {
                let n = &state.nodes[i];
                if i != state.myself
                    && n.flags & HANDSHAKE != 0
                    && now.saturating_sub(n.created) > handshake_timeout
                {
                    state.remove_node(i);
                    save = true;
                    continue;
                }
                i += 1;
            }
            let mut sends: Vec<(usize, u16)> = Vec::new();
            for i in 0..state.nodes.len() {
                let n = &state.nodes[i];
                if i == state.myself || n.flags & NOADDR != 0 {
                    continue;
                }
                let has = links
                    .iter()
                    .any(|l| !l.dead && l.node.as_deref() == Some(&n.id));
                if has {
                    continue;
                }
                match connect(&n.ip, n.cport) {
                    Ok(stream) => {
                        links.push(Link {
                            stream,
                            node: Some(n.id.clone()),
                            connecting: true,
                            created: now,
                            rbuf: Vec::new(),
                            wbuf: Vec::new(),
                            dead: false,
                            from: None,
                        });
                        let kind = if n.flags & MEET != 0 {
                            msg::MEET
                        } else {
                            msg::PING
                        };
                        sends.push((i, kind));
                    }
                    Err(e) => {
                        tracing::debug!(
                            "Unable to connect to node {} at {}:{}: {e}",
                            n.id,
                            n.ip,
                            n.cport
                        );
                        let n = &mut state.nodes[i];
                        if n.ping_sent == 0 {
                            n.ping_sent = now;
                        }
                    }
                }
            }
            if iteration.is_multiple_of(10) {
                let mut oldest: Option<usize> = None;
                for _ in 0..5 {
                    let i = gossip::random(state.nodes.len());
                    let n = &state.nodes[i];
                    let linked = links
                        .iter()
                        .any(|l| !l.dead && l.node.as_deref() == Some(&n.id));
                    if !linked || n.ping_sent != 0 || n.flags & (MYSELF | HANDSHAKE) != 0 {
                        continue;
                    }
                    if oldest.is_none_or(|o| n.pong_received < state.nodes[o].pong_received) {
                        oldest = Some(i);
                    }
                }
                if let Some(i) = oldest {
                    sends.push((i, msg::PING));
                }
            }
            let mut changed = false;
            for i in 0..state.nodes.len() {
                let n = &state.nodes[i];
                if n.flags & (MYSELF | NOADDR | HANDSHAKE) != 0 {
                    continue;
                }
                let link = links
                    .iter_mut()
                    .find(|l| !l.dead && l.node.as_deref() == Some(&n.id));
                let ping_delay = now.saturating_sub(n.ping_sent);
                let data_delay = now.saturating_sub(n.data_received);
                if let Some(link) = link {
                    if now.saturating_sub(link.created) > timeout
                        && n.ping_sent != 0
                        && ping_delay > timeout / 2
                        && data_delay > timeout / 2
                    {
                        link.dead = true;
                    } else if n.ping_sent == 0
                        && now.saturating_sub(n.pong_received) > timeout / 2
                        && !sends.iter().any(|&(s, _)| s == i)
                    {
                        sends.push((i, msg::PING));
                        continue;
                    }
                }
                if n.ping_sent != 0
                    && ping_delay.min(data_delay) > timeout
                    && n.flags & (PFAIL | FAIL) == 0
                {
                    tracing::debug!("*** NODE {} possibly failing", n.id);
                    state.nodes[i].flags |= PFAIL;
                    changed = true;
                }
            }
            for (i, kind) in sends {
                let bytes = msg::encode(&gossip::ping(state, settings, kind));
                let n = &mut state.nodes[i];
                if kind == msg::PING && n.ping_sent == 0 {
                    n.ping_sent = now;
                }
                n.flags &= !MEET;
                if let Some(link) = links
                    .iter_mut()
                    .find(|l| !l.dead && l.node.as_deref() == Some(&n.id))
                {
                    send(link, &bytes);
                }
            }
            if changed {
                save = true;
            }
            // clusterCron's failover steps: a manual failover's timeout and progress, then
            // the replica's election.
            let mut out = Vec::new();
            let mut actions = failover::handle_manual(state, settings, now, &mut out);
            let age = super::data_age();
            actions.merge(failover::handle_replica(
                state, settings, age, now, &mut out,
            ));
            actions.merge(failover::handle_migration(state, settings, now));
            state.update_state(settings, Instant::now());
            (out, actions)
        });
        if let Some((out, actions)) = failed_over {
            super::apply_actions(&actions);
            save |= actions.save;
            self.send_all(out);
        }
        self.save |= save;
    }

    /// After each round: closes dead links, shows which nodes have a link, writes nodes.conf
    /// when something changed.
    fn finish(&mut self) {
        self.links.retain(|l| !l.dead);
        let views = self
            .links
            .iter()
            .filter(|l| !l.connecting)
            .filter_map(|l| {
                let (outbound, node) = match (&l.node, &l.from) {
                    (Some(id), _) => (true, id.clone()),
                    (None, Some(id)) => (false, id.clone()),
                    (None, None) => return None,
                };
                Some(LinkView {
                    outbound,
                    node,
                    created: l.created,
                    writing: !l.wbuf.is_empty(),
                    buffered: l.wbuf.len(),
                    allocated: l.wbuf.capacity(),
                })
            })
            .collect();
        *LINKS.lock().unwrap_or_else(|e| e.into_inner()) = views;
        DONE.store(self.taken, Release);
        let links = &self.links;
        let save = std::mem::take(&mut self.save);
        let known = super::with(|state, settings| {
            let mut link_changed = false;
            for n in state.nodes.iter_mut() {
                let has = links.iter().any(|l| l.node.as_deref() == Some(&n.id));
                link_changed |= has != n.link;
                n.link = has;
            }
            if save || link_changed {
                state.update_state(settings, Instant::now());
            }
            if save {
                if let Err(e) = state.save(false) {
                    tracing::warn!("Fatal: can't update cluster config file: {e}");
                    std::process::exit(1);
                }
            }
            // Outbound links of nodes no longer known (forgotten, reset) close.
            links
                .iter()
                .map(|l| {
                    l.node
                        .as_ref()
                        .is_none_or(|id| state.lookup(id.as_bytes()).is_some())
                })
                .collect::<Vec<bool>>()
        })
        .unwrap_or_default();
        let mut keep = known.into_iter();
        self.links.retain(|_| keep.next().unwrap_or(false));
        super::follow_role();
    }
}
