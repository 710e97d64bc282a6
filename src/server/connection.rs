//! One client connection, as two tasks on the thread that accepted it: a reader that reads and
//! parses (always one read in flight), and an executor that runs each parsed batch (routed to
//! shards) and writes its replies in one write. The split lets a blocked or subscribed client
//! still notice its peer leaving. Generic over the I/O backend.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Buf;
use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use super::io::{ReadHalf, WriteHalf, QUIET_READ, READ_CHUNK};
use crate::command::pubsub::{encode_message, unsubscribe_all};
use crate::command::replication::master::Feed;
use crate::command::{dispatch, pause, Hangup, Session};
use crate::config::OutputLimit;
use crate::handoff;
use crate::protocol::{parse_batch, pending_big_bulk, ParseLimits, Reply};
use crate::pubsub::Push;
use crate::shard::inbox::busy;
use crate::shard::memory::block_size;
use crate::state::{
    note_output_limit_disconnection, shutdown_fd, ClientInfo, OutputLimitWatch, ServerState,
    ThreadStats, NORMAL_OUTPUT_LIMIT, PROTO_MAX_BULK_LEN, QUERY_BUFFER_LIMIT,
};

/// Output buffers above this are dropped after a write instead of being kept for reuse.
const KEEP_OUTPUT_CAPACITY: usize = 1 << 20;

/// The reply buffer an idle connection keeps (Redis's PROTO_REPLY_MIN_BYTES).
const IDLE_REPLY_ROOM: usize = 1024;

/// A fresh reply buffer of the idle size, with the client's figure set to it.
fn idle_reply_buffer(session: &Session) -> BytesMut {
    let memory = &session.client.memory;
    memory.write_buf.store(IDLE_REPLY_ROOM as u64, Relaxed);
    BytesMut::with_capacity(IDLE_REPLY_ROOM)
}

/// Parsed batches the reader may hold ahead of the executor (backpressure beyond it).
const BATCHES_AHEAD: usize = 4;

/// What the reader hands the executor.
enum Input {
    /// Parsed commands and the query bytes they came from.
    Commands(Vec<Vec<Bytes>>, u64),
    /// A protocol error: reply it, then close.
    ProtocolError(String),
    /// Answered once every input before it has run.
    Sync(oneshot::Sender<()>),
}

/// Serves one connection until the peer leaves, QUIT, a kill, or a protocol error.
pub async fn serve<R: ReadHalf, W: WriteHalf>(reader: R, mut writer: W, mut session: Session) {
    let server = session.server.clone();
    let (tx, mut rx) = handoff::channel(BATCHES_AHEAD);
    tokio::task::spawn_local(busy(read_loop(
        reader,
        tx,
        server.clone(),
        session.client.clone(),
        session.hangup.clone(),
    )));
    let stats = &server.stats[session.thread];
    // Small while the connection idles (see the idle branch below), grown by what it writes.
    let mut output = idle_reply_buffer(&session);
    let watch = OutputLimitWatch::default();
    // Commands a client pause holds, with the replies before them already written.
    let mut held: Option<Vec<Vec<Bytes>>> = None;
    // Replies of commands run while a write was in flight, and an input taken then but left
    // for the loop (see `write_and_serve`).
    let mut more = BytesMut::new();
    let mut carry: Option<Option<Input>> = None;
    loop {
        let event = if !output.is_empty() && !session.auth.auth_required() {
            Event::Flush
        } else if let Some(input) = carry.take() {
            Event::Input(input)
        } else if let Some(commands) = held.take() {
            if !pause::wait(&session, &commands[0]).await {
                break;
            }
            Event::Input(Some(Input::Commands(commands, 0)))
        } else if let Some(input) = rx.try_recv() {
            Event::Input(Some(input))
        } else {
            // Going idle: a reply buffer grown past its idle size is let go (a production
            // cache keeps many connections that mostly wait), as Redis shrinks an idle
            // client's to PROTO_REPLY_MIN_BYTES.
            if output.capacity() > IDLE_REPLY_ROOM {
                output = idle_reply_buffer(&session);
            }
            tokio::select! {
                biased;
                input = rx.recv() => Event::Input(input),
                push = session.subscriptions.next_message() => Event::Message(push),
                note = session.tracking.next_note() => Event::Note(note),
                line = session.monitor.next_line(), if session.monitor.is_on() => {
                    Event::Monitor(line)
                }
                // Lazy: select! builds every branch's future each turn, and a timer reads the
                // clock.
                _ = async { tokio::time::sleep(UNAUTH_RETRY).await }, if !output.is_empty() => {
                    Event::Retry
                }
            }
        };
        let mut closing = false;
        match event {
            Event::Input(None) => break,
            Event::Input(Some(Input::Commands(commands, bytes))) => {
                // Invalidations already queued go before the replies of later commands.
                write_notes(&mut session, None, &mut output);
                session.client.mark_active();
                held = dispatch::execute(&mut session, commands, &mut output).await;
                session.client.memory.remove_queued(bytes);
            }
            Event::Input(Some(Input::ProtocolError(text))) => {
                tracing::debug!(client = session.client.id, "protocol error: {text}");
                Reply::error_owned(text).encode(session.protocol, &mut output);
                closing = true;
            }
            Event::Input(Some(Input::Sync(done))) => {
                let _ = done.send(());
            }
            Event::Message(None) | Event::Note(None) | Event::Retry | Event::Flush => {}
            Event::Note(Some(note)) => write_notes(&mut session, Some(note), &mut output),
            Event::Message(Some(push)) => write_messages(&mut session, push, &mut output),
            Event::Monitor(None) => {}
            Event::Monitor(Some(line)) => write_monitor_lines(&mut session, line, &mut output),
        }
        let last = closing || session.close || session.client.close_after_reply.load(Relaxed);
        // Subscribers are the pubsub class, limited where messages are queued.
        let limit = if session.subscriptions.total() > 0 {
            OutputLimit::default()
        } else {
            NORMAL_OUTPUT_LIMIT.get()
        };
        if limit.hard > 0 && output.len() as u64 > limit.hard {
            note_output_limit_disconnection(&describe(&session.client));
            break;
        }
        if !output.is_empty() && !last && session.auth.auth_required() {
            // Redis keeps 16 KB of replies in a client's own buffer and cuts off an
            // unauthenticated client with more than 1 KB beyond it, before writing.
            if output.len() > UNAUTH_REPLY_BUFFER + UNAUTH_OUTPUT_LIMIT {
                tracing::debug!(
                    client = session.client.id,
                    "unauthenticated client flooding"
                );
                break;
            }
            // Never wait on an unauthenticated client: send what the socket takes now and keep
            // the rest (at most the limit) for a retry; more than that unread cuts it off.
            let sent = send_now(writer.fd(), &output);
            ThreadStats::add(&stats.net_output_bytes, sent as u64);
            ThreadStats::add(&stats.writes, 1);
            output.advance(sent);
            if output.len() > UNAUTH_OUTPUT_LIMIT {
                tracing::debug!(
                    client = session.client.id,
                    "unauthenticated client not reading"
                );
                break;
            }
        } else if !output.is_empty() {
            ThreadStats::add(&stats.net_output_bytes, output.len() as u64);
            ThreadStats::add(&stats.writes, 1);
            let memory = &session.client.memory;
            memory.writing.store(output.len() as u64, Relaxed);
            memory.write_peak.store(output.len() as u64, Relaxed);
            memory.write_buf.store(output.capacity() as u64, Relaxed);
            let serving = Serving {
                session: &mut session,
                rx: &mut rx,
                more: &mut more,
                held: &mut held,
                carry: &mut carry,
                accepting: !last,
            };
            let (result, mut buf) =
                write_and_serve(&mut writer, output, limit, &watch, serving).await;
            if buf.capacity() > KEEP_OUTPUT_CAPACITY {
                buf = BytesMut::with_capacity(READ_CHUNK);
            }
            buf.clear();
            output = if more.is_empty() {
                buf
            } else {
                std::mem::replace(&mut more, buf)
            };
            let memory = &session.client.memory;
            memory.writing.store(output.len() as u64, Relaxed);
            memory.write_buf.store(output.capacity() as u64, Relaxed);
            match result {
                Ok(()) => {}
                Err(WriteEnd::OverLimit) => {
                    note_output_limit_disconnection(&describe(&session.client));
                    break;
                }
                Err(WriteEnd::Failed) => break,
            }
        }
        if last || session.client.killed.load(Relaxed) {
            break;
        }
        if let Some(feed) = session.replication.feed.take() {
            // Boxed, as only a replica's connection gets here (see above).
            Box::pin(serve_replica(&mut session, feed, &mut writer, &mut rx)).await;
            break;
        }
    }
    // Unsubscribe and unregister first (so nothing can target a reused descriptor), then wake
    // the reader.
    unsubscribe_all(&mut session);
    crate::command::transaction::forget_watches(&mut session);
    server.clients.unregister(session.client.id);
    shutdown_fd(writer.fd());
}

/// Serves a replica after its PSYNC/SYNC reply is written: the snapshot of a full resync,
/// then the stream as the pump queues it. What the replica sends (REPLCONF ACK) is read and
/// never answered. Returns when it leaves, is killed, or is cut off.
async fn serve_replica<W: WriteHalf>(
    session: &mut Session,
    mut feed: Feed,
    writer: &mut W,
    rx: &mut handoff::Receiver<Input>,
) {
    let server = session.server.clone();
    let stats = &server.stats[session.thread];
    let mut output = BytesMut::new();
    if feed.waiting() {
        // A diskless transfer waiting for more replicas: a newline a second keeps the link
        // alive (as Redis's cron sends them), until it starts with its PSYNC reply.
        let mut last_newline = std::time::Instant::now();
        while !feed.may_start() {
            tokio::select! {
                biased;
                input = rx.recv() => {
                    if !replica_input(session, &feed, input) {
                        return;
                    }
                }
                () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
            }
            if session.client.killed.load(Relaxed)
                || !keep_alive(writer, &mut output, &mut last_newline).await
            {
                return;
            }
        }
        // The PSYNC reply goes out as the transfer starts, as Redis sends it when its child
        // starts: the replica is in its transfer from then on.
        output.extend_from_slice(&feed.start_delayed(&session.router).await);
        let (result, buf) = writer.write_all(output).await;
        output = buf;
        output.clear();
        if result.is_err() {
            return;
        }
    }
    if let Some(mut snapshot) = feed.snapshot() {
        // While it is built, a newline a second keeps the link alive (as Redis's cron sends
        // them while a disk-backed transfer is saved); the stream held for the replica
        // meanwhile may put it over its output limit.
        let mut last_newline = std::time::Instant::now();
        let payload = loop {
            if feed.dropped()
                || session.client.killed.load(Relaxed)
                || !keep_alive(writer, &mut output, &mut last_newline).await
            {
                return;
            }
            tokio::select! {
                biased;
                input = rx.recv() => {
                    if !replica_input(session, &feed, input) {
                        return;
                    }
                }
                payload = &mut snapshot => break payload,
                _ = feed.wait() => {}
                () = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
        };
        let Ok(transfer) = payload else {
            return;
        };
        feed.sending();
        output.extend_from_slice(&transfer.bytes);
        drop(transfer.bytes);
        ThreadStats::add(&stats.net_output_bytes, output.len() as u64);
        feed.holding(output.capacity());
        let (result, buf) = writer.write_all(output).await;
        drop(buf);
        drop(transfer.building);
        feed.holding(0);
        if result.is_err() || !feed.snapshot_sent() {
            return;
        }
    }
    loop {
        // Written as taken: shared parts of the replication buffer, not copies.
        for part in feed.take() {
            ThreadStats::add(&stats.net_output_bytes, part.len() as u64);
            ThreadStats::add(&stats.writes, 1);
            if writer.write_shared(part).await.is_err() {
                return;
            }
        }
        if feed.dropped() || session.client.killed.load(Relaxed) {
            return;
        }
        tokio::select! {
            biased;
            input = rx.recv() => {
                if !replica_input(session, &feed, input) {
                    return;
                }
            }
            _ = feed.wait() => {}
        }
    }
}

/// Writes a newline to a replica waiting for its transfer once a second since `last` (as
/// Redis's cron does, keeping the link alive); false when the write fails.
async fn keep_alive<W: WriteHalf>(
    writer: &mut W,
    output: &mut BytesMut,
    last: &mut std::time::Instant,
) -> bool {
    if last.elapsed() < std::time::Duration::from_secs(1) {
        return true;
    }
    *last = std::time::Instant::now();
    output.extend_from_slice(b"\n");
    let (result, mut buf) = writer.write_all(std::mem::take(output)).await;
    buf.clear();
    *output = buf;
    result.is_ok()
}

/// Handles what a replica sent; false when the connection must close.
fn replica_input(session: &mut Session, feed: &Feed, input: Option<Input>) -> bool {
    match input {
        None | Some(Input::ProtocolError(_)) => false,
        Some(Input::Commands(commands, bytes)) => {
            session.client.mark_active();
            session.client.memory.remove_queued(bytes);
            for command in &commands {
                if !silent_on_replica_link(command) {
                    reply_on_replica_link(session, command);
                    return false;
                }
                feed.command(command);
            }
            true
        }
        Some(Input::Sync(done)) => {
            let _ = done.send(());
            true
        }
    }
}

/// What runs while a connection's reply write is in flight.
struct Serving<'a> {
    session: &'a mut Session,
    rx: &'a mut handoff::Receiver<Input>,
    /// Replies of the commands run meanwhile, written after the write in flight.
    more: &'a mut BytesMut,
    /// Commands a client pause held meanwhile.
    held: &'a mut Option<Vec<Vec<Bytes>>>,
    /// An input taken meanwhile that the connection's loop handles (an end, an error).
    carry: &'a mut Option<Option<Input>>,
    /// Whether commands may run before this write completes.
    accepting: bool,
}

impl Serving<'_> {
    /// Whether the next input may run before the write in flight completes: not after
    /// anything that changes how the connection goes on (a pause, an end, a kill, a PSYNC, a
    /// subscription, lost authentication).
    fn accepts(&self) -> bool {
        let session = &*self.session;
        self.accepting
            && self.held.is_none()
            && self.carry.is_none()
            && !session.close
            && !session.client.close_after_reply.load(Relaxed)
            && !session.client.killed.load(Relaxed)
            && session.replication.feed.is_none()
            && session.subscriptions.total() == 0
            && !session.auth.auth_required()
    }
}

/// Writes `output` and meanwhile keeps running what the client sends, its replies queued in
/// `serving.more`, as Redis keeps reading a client whose replies the socket has not taken yet
/// (a client that sends a long pipeline before it reads any reply would otherwise wait on a
/// server waiting on it). A batch begun runs to its end even when the write completes first;
/// past the output limit's hard bound the connection is cut off.
async fn write_and_serve<W: WriteHalf>(
    writer: &mut W,
    output: BytesMut,
    limit: OutputLimit,
    watch: &OutputLimitWatch,
    serving: Serving<'_>,
) -> (Result<(), WriteEnd>, BytesMut) {
    use std::future::{poll_fn, Future};
    use std::task::Poll;
    let in_flight = output.len() as u64;
    let fd = writer.fd();
    let mut write = std::pin::pin!(write_within_limit(writer, output, limit, watch));
    // Polled by hand beside the other work, never dropped before it completes.
    let mut written = None;
    let mut cut_off = false;
    // While replies queued behind the write keep the client over its soft limit: when that
    // cuts it off (the write's own check sees only the bytes it holds).
    let mut soft_deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    while written.is_none() && !cut_off && serving.accepts() {
        let input = {
            let mut recv = std::pin::pin!(serving.rx.recv());
            poll_fn(|cx| {
                if let Poll::Ready(done) = write.as_mut().poll(cx) {
                    written = Some(done);
                    return Poll::Ready(None);
                }
                if let Some(deadline) = soft_deadline.as_mut() {
                    if deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Some(Err(())));
                    }
                }
                recv.as_mut().poll(cx).map(|input| Some(Ok(input)))
            })
            .await
        };
        let input = match input {
            None => break,
            Some(Err(())) => {
                // The soft limit's seconds ran out: cut off if still over, else wait again
                // while over (the write's check may have seen the client under it since).
                if watch.exceeded(in_flight as usize, limit) {
                    shutdown_fd(fd);
                    cut_off = true;
                }
                soft_deadline = soft_timer(watch, limit);
                continue;
            }
            Some(Ok(input)) => input,
        };
        let session = &mut *serving.session;
        match input {
            Some(Input::Commands(commands, bytes)) => {
                write_notes(session, None, serving.more);
                session.client.mark_active();
                // The write goes on while the batch runs (it may block or wait on shards).
                *serving.held = {
                    // Boxed: held inline, this rarer path's batch would make every
                    // connection's task (idle ones too) larger by its size.
                    let mut run = Box::pin(dispatch::execute(session, commands, serving.more));
                    poll_fn(|cx| {
                        if written.is_none() {
                            if let Poll::Ready(done) = write.as_mut().poll(cx) {
                                written = Some(done);
                            }
                        }
                        run.as_mut().poll(cx)
                    })
                    .await
                };
                session.client.memory.remove_queued(bytes);
                let behind = serving.more.len() as u64;
                session
                    .client
                    .memory
                    .writing
                    .store(in_flight + behind, Relaxed);
                // `in_flight` counts the write whole, though the socket may have taken part
                // of it: a client is judged by at most what it was last handed.
                watch.queue_behind(behind);
                if watch.exceeded(in_flight as usize, limit) {
                    shutdown_fd(fd);
                    cut_off = true;
                } else if soft_deadline.is_none() {
                    soft_deadline = soft_timer(watch, limit);
                }
            }
            Some(Input::Sync(done)) => {
                let _ = done.send(());
            }
            other => *serving.carry = Some(other),
        }
    }
    let (result, buf) = match written {
        Some(done) => done,
        None => write.await,
    };
    // What was queued behind is the next write's own output.
    watch.queue_behind(0);
    match cut_off {
        true => (Err(WriteEnd::OverLimit), buf),
        false => (result, buf),
    }
}

/// A timer for when staying over the soft output limit cuts the client off, while it is over.
fn soft_timer(
    watch: &OutputLimitWatch,
    limit: OutputLimit,
) -> Option<std::pin::Pin<Box<tokio::time::Sleep>>> {
    let at = watch.soft_deadline(limit)?;
    Some(Box::pin(tokio::time::sleep_until(at.into())))
}

/// True for what a replica may send on its link without a reply (REPLCONF ACK).
fn silent_on_replica_link(command: &[Bytes]) -> bool {
    command.len() >= 2
        && command[0].eq_ignore_ascii_case(b"replconf")
        && command[1].eq_ignore_ascii_case(b"ack")
}

/// A replica sent a command that answers: the link carries no replies, so Redis logs the
/// command and closes the link (a command on the keyspace is refused first, with the error
/// logged as sent to the replica).
#[cold]
fn reply_on_replica_link(session: &Session, command: &[Bytes]) {
    let name = match crate::command::table::lookup(&command[0]) {
        Some((_, spec)) => {
            let spec = spec.resolve(command);
            use crate::command::table::Flags;
            if spec.has(Flags::WRITE) || spec.has(Flags::READONLY) || spec.has(Flags::MAY_REPLICATE)
            {
                tracing::warn!(
                    "== CRITICAL == This master is sending an error to its replica: 'Replica can't interact with the keyspace' after processing the command '{}'",
                    spec.name
                );
                crate::command::replication::replica_apply::count_unexpected_error();
            }
            spec.name.to_string()
        }
        None => "<unknown>".to_string(),
    };
    tracing::warn!(
        "Replica generated a reply to command '{name}', disconnecting it: {}",
        crate::command::client_line(&session.client)
    );
}

/// Why a write ended early.
enum WriteEnd {
    /// The client kept more than its soft output limit unread for longer than allowed.
    OverLimit,
    /// The socket failed (the peer left).
    Failed,
}

/// Largest piece written while a client is over its soft output limit.
const LIMITED_PIECE: usize = 256 * 1024;

/// Writes all of `output`. While more than the soft limit is pending it writes in pieces
/// against the soft limit's deadline; a client that keeps that much unread past it is cut off
/// (the socket is shut down, which ends the write in flight).
async fn write_within_limit<W: WriteHalf>(
    writer: &mut W,
    mut output: BytesMut,
    limit: OutputLimit,
    watch: &OutputLimitWatch,
) -> (Result<(), WriteEnd>, BytesMut) {
    loop {
        if watch.exceeded(output.len(), limit) {
            return (Err(WriteEnd::OverLimit), output);
        }
        let Some(deadline) = watch.soft_deadline(limit) else {
            let (result, buf) = writer.write_all(output).await;
            return (result.map_err(|_| WriteEnd::Failed), buf);
        };
        if output.is_empty() {
            // Only replies queued behind keep it over: they are checked where they are written.
            return (Ok(()), output);
        }
        let over = (output.len() as u64 + watch.behind()).saturating_sub(limit.soft) as usize;
        let piece = output.split_to(over.clamp(1, LIMITED_PIECE).min(output.len()));
        let fd = writer.fd();
        let write = writer.write_all(piece);
        tokio::pin!(write);
        tokio::select! {
            biased;
            (result, _) = &mut write => {
                if result.is_err() {
                    return (Err(WriteEnd::Failed), output);
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                shutdown_fd(fd);
                let _ = write.await;
                return (Err(WriteEnd::OverLimit), output);
            }
        }
    }
}

/// How a client is named in the log line about its output limit.
fn describe(client: &ClientInfo) -> String {
    format!(
        "id={} addr={} laddr={} fd={}",
        client.id, client.addr, client.local_addr, client.fd
    )
}

/// What the executor waits for.
enum Event {
    Input(Option<Input>),
    Message(Option<Push>),
    /// A MONITOR line.
    Monitor(Option<Bytes>),
    Note(Option<crate::tracking::Note>),
    /// Time to retry sending an unauthenticated client's unsent replies.
    Retry,
    /// Replies of commands run during the last write, to write now.
    Flush,
}

/// Most message bytes encoded into one write.
const MESSAGES_PER_WRITE: usize = 256 * 1024;

/// Encodes `first` and whatever else is already queued for this subscriber (bounded).
fn write_messages(session: &mut Session, first: Push, output: &mut BytesMut) {
    let mut next = Some(first);
    while let Some(push) = next {
        session.subscriptions.written(&push);
        encode_message(&push, session.protocol, output);
        next = if output.len() < MESSAGES_PER_WRITE {
            session.subscriptions.try_next_message()
        } else {
            None
        };
    }
}

/// Writes `first` and the MONITOR lines already queued after it (bounded).
fn write_monitor_lines(session: &mut Session, first: Bytes, output: &mut BytesMut) {
    let mut next = Some(first);
    while let Some(line) = next {
        session.monitor.written(&line);
        output.extend_from_slice(&line);
        next = if output.len() < MESSAGES_PER_WRITE {
            session.monitor.try_next_line()
        } else {
            None
        };
    }
}

/// Encodes `first` and every other tracking note already queued for this connection.
fn write_notes(session: &mut Session, first: Option<crate::tracking::Note>, output: &mut BytesMut) {
    let mut next = first.or_else(|| session.tracking.try_next_note());
    while let Some(note) = next {
        let subscribed = session.subscriptions.total() > 0;
        crate::tracking::encode(&note, session.protocol, subscribed, output);
        next = session.tracking.try_next_note();
    }
}

/// Most bytes an unauthenticated client may buffer unparsed (Redis: 1 MB before AUTH).
const UNAUTH_QUERY_LIMIT: usize = 1 << 20;

/// Reads and parses until end of stream or a protocol error; ends the stream of inputs then.
/// Before AUTH the parser applies Redis's pre-auth limits; a frame that breaks them is judged
/// again once the commands before it ran, since one of them may have been the AUTH.
async fn read_loop<R: ReadHalf>(
    mut reader: R,
    tx: handoff::Sender<Input>,
    server: Arc<ServerState>,
    client: Arc<ClientInfo>,
    hangup: Hangup,
) {
    let thread = client.thread;
    let mut input = BytesMut::with_capacity(QUIET_READ);
    let memory = &client.memory;
    memory.read_buf.store(QUIET_READ as u64, Relaxed);
    // The room reads ask for (see `next_read_room`).
    let mut want = QUIET_READ;
    let mut read_more = true;
    loop {
        if read_more {
            let capacity = input.capacity();
            let len = input.len();
            let (result, buf) = reader.read(input, want).await;
            input = buf;
            let room = input.capacity() - len;
            if input.capacity() != capacity {
                // The read grew the buffer (or took back its whole allocation): its size now.
                memory.read_buf.store(input.capacity() as u64, Relaxed);
            }
            match result {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let stats = &server.stats[thread];
                    ThreadStats::add(&stats.net_input_bytes, n as u64);
                    ThreadStats::add(&stats.reads, 1);
                    want = next_read_room(want, n, room);
                }
            }
        }
        read_more = true;
        let unauthenticated = !client.authenticated.load(Relaxed)
            && crate::command::access::auth_required_by_default();
        let limits = ParseLimits {
            max_bulk_len: PROTO_MAX_BULK_LEN.load(Relaxed),
            unauthenticated,
        };
        let query_limit = if unauthenticated {
            UNAUTH_QUERY_LIMIT
        } else {
            QUERY_BUFFER_LIMIT.load(Relaxed) as usize
        };
        let mut commands = Vec::new();
        let before = input.len();
        let parsed = parse_batch(&mut input, &limits, &mut commands);
        memory.unparsed.store(input.len() as u64, Relaxed);
        if !commands.is_empty() {
            let bytes = (before - input.len()) as u64;
            memory.add_queued(bytes);
            if tx.send(Input::Commands(commands, bytes)).await.is_err() {
                break;
            }
        }
        if let Err(error) = parsed {
            if unauthenticated {
                let (done, ran) = oneshot::channel();
                if tx.send(Input::Sync(done)).await.is_err() || ran.await.is_err() {
                    break;
                }
                if client.authenticated.load(Relaxed) {
                    read_more = false;
                    continue;
                }
            }
            let _ = tx.send(Input::ProtocolError(error.0)).await;
            break;
        }
        if input.len() > query_limit {
            tracing::warn!("closing client that reached max query buffer length");
            break;
        }
        if !input.is_empty() {
            // A big argument in progress gets room for all of it at once, as Redis sizes
            // its query buffer (the length is within proto-max-bulk-len: parsed above).
            let need = pending_big_bulk(&input).min(query_limit);
            if need > input.capacity() {
                input.reserve(need - input.len());
                // Weighed as the allocator holds it (Redis counts its allocation's usable
                // size), so client eviction sees the block a big argument pins.
                memory
                    .read_buf
                    .store(block_size(input.capacity()) as u64, Relaxed);
            }
        }
    }
    hangup.raise();
}

/// The room the next read asks for after one that read `n` bytes into `room`: four times
/// more after a full read, twice after one over a quarter of it (a pipelining client's
/// batches then share a buffer rather than each taking a fresh one), half after one of an
/// eighth or less (back to `QUIET_READ` for a client that sends a command at a time).
fn next_read_room(want: usize, n: usize, room: usize) -> usize {
    if n >= room {
        (want * 4).min(READ_CHUNK)
    } else if n > want / 4 {
        (want * 2).min(READ_CHUNK)
    } else if n <= want / 8 {
        (want / 2).max(QUIET_READ)
    } else {
        want
    }
}

/// Most reply bytes an unauthenticated client may leave unread before it is cut off (Redis:
/// 1024, checkClientOutputBufferLimits).
const UNAUTH_OUTPUT_LIMIT: usize = 1024;
/// Redis's per-client reply buffer (PROTO_REPLY_CHUNK_BYTES), not counted in that limit.
const UNAUTH_REPLY_BUFFER: usize = 16 * 1024;

/// How often unsent replies of an unauthenticated client are retried.
const UNAUTH_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// Sends what the socket takes right now without waiting; returns the bytes sent.
fn send_now(fd: i32, bytes: &[u8]) -> usize {
    // SAFETY: `bytes` is a live slice for the duration of the call and send(2) only reads
    // `bytes.len()` bytes from it; `fd` is this connection's socket, owned by its writer half.
    let sent = unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    sent.max(0) as usize
}
