//! The link to the master, on a thread of its own with a blocking socket (independent of the
//! I/O backend): connect, handshake (PING, AUTH, REPLCONF, PSYNC), receive the snapshot of a
//! full resync and decode it, then read the command stream and hand it, in batches, to
//! `replica_apply` on a runtime thread. A dropped link is made again a second later, asking
//! to continue where it stopped (PSYNC <replid> <offset+1>).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::replica::{self, LinkState, Master};
use super::replica_apply::{self, Feed, Load};
use crate::command::err;
use crate::protocol::{parse_batch, ParseLimits};
use crate::state::ServerState;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;
/// The longest line the handshake accepts from the master.
const MAX_LINE: usize = 64 * 1024;

/// Starts the link thread of generation `gen`.
pub fn start(server: Arc<ServerState>, gen: u64, master: Master) {
    let spawned = std::thread::Builder::new()
        .name("ringkv-replica".into())
        .spawn(move || run(&server, gen, &master));
    if let Err(e) = spawned {
        tracing::warn!("could not start the replication link: {e}");
    }
}

fn run(server: &Arc<ServerState>, gen: u64, master: &Master) {
    while replica::generation() == gen {
        replica::set_state(gen, LinkState::Connecting);
        if let Err(e) = follow(server, gen, master) {
            if replica::generation() == gen {
                tracing::warn!("MASTER {}:{}: {e}", master.host, master.port);
            }
        }
        let was_up = replica::state() == LinkState::Connected;
        replica::set_state(gen, LinkState::Connect);
        // A link that was up is made again at once, as Redis does (waiting risks the backlog
        // moving past our offset); a failed attempt is retried from a once-a-second cron.
        if was_up && replica::generation() == gen {
            tracing::info!("Reconnecting to MASTER {}:{}", master.host, master.port);
            continue;
        }
        for _ in 0..10 {
            if replica::generation() != gen {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The socket with what was read from it and not used yet.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    /// While the command stream is read: the bytes of `buf` again, kept as received so that
    /// what is applied is passed on verbatim (each byte copied once, however long a command
    /// takes to arrive).
    mirror: Option<BytesMut>,
}

impl Conn {
    fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).map_err(|e| e.to_string())
    }

    /// Reads more into the buffer; Err at end of stream, on a timeout or an error.
    fn fill(&mut self) -> Result<usize, String> {
        let mut chunk = vec![0u8; READ_CHUNK];
        // A read with a timeout fails with EINTR after the process was stopped and continued
        // (SIGSTOP/SIGCONT, signal(7)): that is no reason to drop the link.
        let read = loop {
            match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                read => break read,
            }
        };
        match read {
            Ok(0) => Err("connection lost".into()),
            Ok(n) => {
                replica::touch();
                self.buf.extend_from_slice(&chunk[..n]);
                if let Some(mirror) = &mut self.mirror {
                    mirror.extend_from_slice(&chunk[..n]);
                }
                Ok(n)
            }
            // Redis's words for a silent master, before and after the link is up.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(match self.mirror {
                None => "Timeout connecting to the MASTER...".into(),
                Some(_) => "MASTER timeout: no data nor PING received...".into(),
            }),
            Err(e) => Err(e.to_string()),
        }
    }

    /// One line without its CRLF (or LF).
    fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(end + 1);
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                return Ok(String::from_utf8_lossy(text).into_owned());
            }
            if self.buf.len() > MAX_LINE {
                return Err("line too long from the MASTER".into());
            }
            self.fill()?;
        }
    }

    /// The next line that is not a keepalive newline.
    fn reply(&mut self) -> Result<String, String> {
        loop {
            let line = self.line()?;
            if !line.is_empty() {
                return Ok(line);
            }
        }
    }
}

/// Removes the link's socket from `replica` before the socket closes (declared after it, so
/// dropped first), so that REPLICAOF never shuts a reused descriptor down.
struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        replica::set_link_fd(self.0, None);
    }
}

/// One connection to the master, from connect to the end of its stream.
fn follow(server: &Arc<ServerState>, gen: u64, master: &Master) -> Result<(), String> {
    let (timeout, auth, user, announce_ip, announce_port, source) = {
        let config = server.config();
        (
            Duration::from_secs(config.int("repl-timeout").max(1) as u64),
            config.get("masterauth").to_string(),
            config.get("masteruser").to_string(),
            config.get("replica-announce-ip").to_string(),
            config.int("replica-announce-port"),
            config.get("bind-source-addr").to_string(),
        )
    };
    let addr = (master.host.as_str(), master.port)
        .to_socket_addrs()
        .map_err(|e| format!("Unable to connect to MASTER: {e}"))?
        .next()
        .ok_or("Unable to connect to MASTER: no address")?;
    let stream = connect(&addr, &source, timeout)
        .map_err(|e| format!("Unable to connect to MASTER: {e}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    if !replica::set_link_fd(gen, Some(stream.as_raw_fd())) {
        return Ok(());
    }
    let _registered = Registered(gen);
    let mut conn = Conn {
        stream,
        buf: BytesMut::new(),
        mirror: None,
    };
    replica::set_state(gen, LinkState::Handshake);
    tracing::info!("MASTER <-> REPLICA sync started");
    conn.send(&[b"PING"])?;
    let pong = conn.reply()?;
    // Without AUTH yet, a master asking for one answers PING with an error: AUTH comes next.
    if let Some(text) = pong.strip_prefix('-').filter(|t| {
        !["NOAUTH", "NOPERM", err::OPERATION_NOT_PERMITTED]
            .iter()
            .any(|p| t.starts_with(p))
    }) {
        return Err(format!("Error reply to PING from master: '-{text}'"));
    }
    if !auth.is_empty() {
        match user.is_empty() {
            true => conn.send(&[b"AUTH", auth.as_bytes()])?,
            false => conn.send(&[b"AUTH", user.as_bytes(), auth.as_bytes()])?,
        }
        let reply = conn.reply()?;
        if reply.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    }
    let port = match announce_port {
        0 => i64::from(server.port.load(SeqCst)),
        port => port,
    };
    conn.send(&[b"REPLCONF", b"listening-port", port.to_string().as_bytes()])?;
    let mut asked = 1;
    if !announce_ip.is_empty() {
        conn.send(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])?;
        asked += 1;
    }
    conn.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
    asked += 1;
    for _ in 0..asked {
        let reply = conn.reply()?;
        if reply.starts_with('-') {
            // As Redis: a master that does not know an option still serves.
            tracing::info!("(Non critical) Master does not understand REPLCONF: {reply}");
        }
    }
    // What was read before the link dropped is applied first, so the offset is all of it.
    replica_apply::settle()?;
    let (replid, offset) = match replica::has_history() {
        true => (
            super::ids().replid,
            (super::OFFSET.load(SeqCst) + 1).to_string(),
        ),
        false => ("?".to_string(), "-1".to_string()),
    };
    // A master handing over with FAILOVER asks its target to take over (see `failover`).
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", replid.as_bytes(), offset.as_bytes()];
    if super::failover::in_progress() {
        psync.push(b"FAILOVER");
    }
    let reply = conn.send(&psync).and_then(|()| conn.reply());
    let took_over = |r: &String| r.starts_with("+FULLRESYNC") || r.starts_with("+CONTINUE");
    super::failover::psync_answered(server, reply.as_ref().is_ok_and(took_over));
    let reply = reply?;
    // The load shown in INFO until the snapshot is handed over (its applier ends it).
    let mut shown = LoadShown(false);
    let load = if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut words = rest.split_whitespace();
        let (Some(id), Some(offset)) = (words.next(), words.next()) else {
            return Err(format!("Bad FULLRESYNC reply: '{reply}'"));
        };
        let offset: i64 = offset
            .parse()
            .map_err(|_| format!("Bad FULLRESYNC reply: '{reply}'"))?;
        tracing::info!("Full resync from master: {id}:{offset}");
        replica::set_state(gen, LinkState::Sync);
        // With `repl-diskless-load swapdb` the load begins with the transfer, the old data
        // served meanwhile when the master's history is the one this replica had (Redis's
        // async loading); otherwise the snapshot is received first, then loaded.
        let swapdb = server.config().get("repl-diskless-load") == "swapdb";
        if swapdb {
            shown.begin(match id == super::ids().replid {
                true => replica::Loading::Async,
                false => replica::Loading::Blocking,
            });
        }
        let payload = read_payload(&mut conn)?;
        tracing::info!(
            "MASTER <-> REPLICA sync: received {} bytes of the snapshot",
            payload.len()
        );
        let (databases, delay, interval) = {
            let config = server.config();
            (
                config.int("databases") as usize,
                config.int("key-load-delay"),
                config.int("loading-process-events-interval-bytes"),
            )
        };
        if !swapdb {
            tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
            // Redis loads in one go and answers clients (-LOADING) only every
            // `loading-process-events-interval-bytes` of it: a smaller snapshot is never seen
            // loading (clients wait for the shards it is installed in, then see it whole).
            if payload.len() as i64 >= interval || delay != 0 {
                shown.begin(replica::Loading::Blocking);
            } else {
                tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
            }
        }
        let load = decode(&payload, databases, server.threads)?;
        let keys = load.per_shard.iter().map(Vec::len).sum();
        crate::command::saving::key_load_delay(delay, keys);
        Some(Load {
            replid: id.to_string(),
            offset,
            ..load
        })
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        let mut ids = super::ids();
        if !id.is_empty() && id != ids.replid {
            // The master's history changed name (a failover): ours becomes the previous.
            ids.replid2 = std::mem::replace(&mut ids.replid, id.to_string());
            ids.second_offset = super::OFFSET.load(SeqCst) + 1;
            super::set_ids(ids);
            // Its own replicas learn the new name by reconnecting (as Redis).
            super::master::disconnect_replicas();
        }
        tracing::info!("Successful partial resynchronization with master.");
        None
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    };
    let ack = conn.stream.try_clone().map_err(|e| e.to_string())?;
    let full = load.is_some();
    let start = load
        .as_ref()
        .map_or(super::OFFSET.load(SeqCst), |l| l.offset);
    replica::READ_OFFSET.store(start, SeqCst);
    replica_apply::send(Feed::Attach { gen, ack, load })?;
    shown.0 = false;
    if !full {
        replica::set_state(gen, LinkState::Connected);
    }
    stream_commands(&mut conn, gen)
}

/// A full resync's load as shown (INFO `loading`, -LOADING): ended when the link fails
/// before the snapshot is handed over.
struct LoadShown(bool);

impl LoadShown {
    fn begin(&mut self, kind: replica::Loading) {
        tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
        replica::set_loading(kind);
        self.0 = true;
    }
}

impl Drop for LoadShown {
    fn drop(&mut self) {
        if self.0 {
            replica::set_loading(replica::Loading::No);
        }
    }
}

/// Connects to the master, from `bind-source-addr` when set.
fn connect(
    addr: &std::net::SocketAddr,
    source: &str,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    if source.is_empty() {
        return TcpStream::connect_timeout(addr, timeout);
    }
    let ip: std::net::IpAddr = source.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("bind-source-addr '{source}' is not an address"),
        )
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(*addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&std::net::SocketAddr::new(ip, 0).into())?;
    socket.connect_timeout(&(*addr).into(), timeout)?;
    Ok(socket.into())
}

/// The snapshot that follows +FULLRESYNC, in either framing: `$<len>` then that many bytes,
/// or (diskless) `$EOF:<40-byte mark>` then bytes up to the mark. Memory grows with the
/// bytes received, never ahead of them by more than a read.
fn read_payload(conn: &mut Conn) -> Result<Vec<u8>, String> {
    let header = conn.reply()?;
    if header.starts_with('-') {
        return Err(format!(
            "MASTER aborted replication with an error: {header}"
        ));
    }
    let Some(size) = header.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$': {header}"
        ));
    };
    let mut payload = Vec::new();
    if let Some(mark) = size.strip_prefix("EOF:") {
        let mark = mark.as_bytes().to_vec();
        if mark.len() != 40 {
            return Err("Bad EOF mark from MASTER".into());
        }
        loop {
            payload.extend_from_slice(&conn.buf.split());
            if payload.ends_with(&mark) {
                payload.truncate(payload.len() - mark.len());
                return Ok(payload);
            }
            conn.fill()?;
        }
    }
    let size: usize = size
        .parse()
        .map_err(|_| format!("Bad snapshot length from MASTER: {header}"))?;
    while payload.len() < size {
        if conn.buf.is_empty() {
            conn.fill()?;
        }
        let take = conn.buf.len().min(size - payload.len());
        payload.extend_from_slice(&conn.buf.split_to(take));
    }
    Ok(payload)
}

/// Decodes the snapshot into each shard's keys. Keys already expired stay: the master
/// deletes them, as a Redis replica loads them.
fn decode(payload: &[u8], databases: usize, shards: usize) -> Result<Load, String> {
    let (records, libraries) = crate::rdb::decode_all(payload)
        .map_err(|e| format!("Failed trying to load the MASTER synchronization DB: {e}"))?;
    let (per_shard, _, _) = crate::command::persist::split(records, databases, shards, None)
        .map_err(|db| format!("the MASTER's snapshot uses database {db} of {databases}"))?;
    Ok(Load {
        per_shard,
        libraries,
        replid: String::new(),
        offset: 0,
    })
}

/// The bytes a command takes in the stream as a master sends it (a multibulk of bulks).
fn encoded_len(command: &[Bytes]) -> usize {
    let digits = |n: usize| n.to_string().len();
    3 + digits(command.len())
        + command
            .iter()
            .map(|arg| 5 + digits(arg.len()) + arg.len())
            .sum::<usize>()
}

/// Reads the command stream until the link ends, handing over each read's complete commands
/// with their sizes in the stream.
fn stream_commands(conn: &mut Conn, gen: u64) -> Result<(), String> {
    let limits = ParseLimits::default();
    conn.mirror = Some(BytesMut::from(&conn.buf[..]));
    loop {
        if !conn.buf.is_empty() {
            let before = conn.buf.len();
            let mut commands = Vec::new();
            let parsed = parse_batch(&mut conn.buf, &limits, &mut commands);
            let consumed = before - conn.buf.len();
            let raw = match &mut conn.mirror {
                Some(mirror) => mirror.split_to(consumed).freeze(),
                None => Bytes::new(),
            };
            replica::READ_OFFSET.fetch_add(consumed as i64, SeqCst);
            let mut sized: Vec<(Vec<Bytes>, usize)> = commands
                .into_iter()
                .map(|c| {
                    let len = encoded_len(&c);
                    (c, len)
                })
                .collect();
            let counted: usize = sized.iter().map(|(_, n)| n).sum();
            let extra = consumed.saturating_sub(counted);
            if let Some(last) = sized.last_mut() {
                last.1 += extra;
            }
            if consumed > 0 {
                let extra = if sized.is_empty() { extra } else { 0 };
                replica_apply::send(Feed::Commands {
                    gen,
                    commands: sized,
                    extra,
                    raw,
                })?;
            }
            if let Err(e) = parsed {
                return Err(format!("protocol error from MASTER: {e}"));
            }
        }
        if replica::generation() != gen {
            return Ok(());
        }
        conn.fill()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_counts_the_multibulk() {
        let cmd = vec![
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k"),
            Bytes::from(vec![b'v'; 12]),
        ];
        let wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12\r\nvvvvvvvvvvvv\r\n";
        assert_eq!(encoded_len(&cmd), wire.len());
    }
}
