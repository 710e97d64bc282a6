//! One client connection, as two tasks on the thread that accepted it: a reader that reads and
//! parses (always one read in flight), and an executor that runs each parsed batch (routed to
//! shards) and writes its replies in one write. The split lets a blocked or subscribed client
//! still notice its peer leaving. Generic over the I/O backend.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::io::{ReadHalf, WriteHalf, READ_CHUNK};
use crate::command::pubsub::{message_reply, unsubscribe_all};
use crate::command::{dispatch, Hangup, Session};
use crate::protocol::{parse_batch, ParseLimits, Reply};
use crate::pubsub::Push;
use crate::state::{shutdown_fd, ServerState, ThreadStats, PROTO_MAX_BULK_LEN, QUERY_BUFFER_LIMIT};

/// Output buffers above this are dropped after a write instead of being kept for reuse.
const KEEP_OUTPUT_CAPACITY: usize = 1 << 20;

/// Parsed batches the reader may hold ahead of the executor (backpressure beyond it).
const BATCHES_AHEAD: usize = 4;

/// What the reader hands the executor.
enum Input {
    Commands(Vec<Vec<Bytes>>),
    /// A protocol error: reply it, then close.
    ProtocolError(String),
}

/// Serves one connection until the peer leaves, QUIT, a kill, or a protocol error.
pub async fn serve<R: ReadHalf, W: WriteHalf>(reader: R, mut writer: W, mut session: Session) {
    let server = session.server.clone();
    let (tx, mut rx) = mpsc::channel(BATCHES_AHEAD);
    tokio::task::spawn_local(read_loop(
        reader,
        tx,
        server.clone(),
        session.thread,
        session.hangup.clone(),
    ));
    let stats = &server.stats[session.thread];
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let event = tokio::select! {
            biased;
            input = rx.recv() => Event::Input(input),
            push = session.subscriptions.next_message() => Event::Message(push),
        };
        let mut closing = false;
        match event {
            Event::Input(None) => break,
            Event::Input(Some(Input::Commands(commands))) => {
                session
                    .client
                    .last_active_ms
                    .store(session.client.created.elapsed().as_millis() as u64, Relaxed);
                dispatch::execute(&mut session, commands, &mut output).await
            }
            Event::Input(Some(Input::ProtocolError(text))) => {
                tracing::debug!(client = session.client.id, "protocol error: {text}");
                Reply::error_owned(text).encode(session.protocol, &mut output);
                closing = true;
            }
            Event::Message(None) => {}
            Event::Message(Some(push)) => write_messages(&mut session, push, &mut output),
        }
        if !output.is_empty() {
            ThreadStats::add(&stats.net_output_bytes, output.len() as u64);
            let (result, mut buf) = writer.write_all(output).await;
            if buf.capacity() > KEEP_OUTPUT_CAPACITY {
                buf = BytesMut::with_capacity(READ_CHUNK);
            }
            buf.clear();
            output = buf;
            if result.is_err() {
                break;
            }
        }
        if closing || session.close || session.client.killed.load(Relaxed) {
            break;
        }
    }
    // Unsubscribe and unregister first (so nothing can target a reused descriptor), then wake
    // the reader.
    unsubscribe_all(&mut session);
    crate::command::transaction::forget_watches(&mut session);
    server.unregister(session.client.id);
    shutdown_fd(writer.fd());
}

/// What the executor waits for.
enum Event {
    Input(Option<Input>),
    Message(Option<Push>),
}

/// Most message bytes encoded into one write.
const MESSAGES_PER_WRITE: usize = 256 * 1024;

/// Encodes `first` and whatever else is already queued for this subscriber (bounded).
fn write_messages(session: &mut Session, first: Push, output: &mut BytesMut) {
    let mut next = Some(first);
    while let Some(push) = next {
        session.subscriptions.written(&push);
        message_reply(push).encode(session.protocol, output);
        next = if output.len() < MESSAGES_PER_WRITE {
            session.subscriptions.try_next_message()
        } else {
            None
        };
    }
}

/// Reads and parses until end of stream or a protocol error; ends the stream of inputs then.
async fn read_loop<R: ReadHalf>(
    mut reader: R,
    tx: mpsc::Sender<Input>,
    server: Arc<ServerState>,
    thread: usize,
    hangup: Hangup,
) {
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    loop {
        let (result, buf) = reader.read(input).await;
        input = buf;
        match result {
            Ok(0) | Err(_) => break,
            Ok(n) => ThreadStats::add(&server.stats[thread].net_input_bytes, n as u64),
        }
        let limits = ParseLimits {
            max_bulk_len: PROTO_MAX_BULK_LEN.load(Relaxed),
            unauthenticated: false,
        };
        let query_limit = QUERY_BUFFER_LIMIT.load(Relaxed) as usize;
        let mut commands = Vec::new();
        let parsed = parse_batch(&mut input, &limits, &mut commands);
        if !commands.is_empty() && tx.send(Input::Commands(commands)).await.is_err() {
            break;
        }
        if let Err(error) = parsed {
            let _ = tx.send(Input::ProtocolError(error.0)).await;
            break;
        }
        if input.len() > query_limit {
            tracing::warn!("closing client that reached max query buffer length");
            break;
        }
    }
    hangup.raise();
}
