//! One client connection: read → parse → execute (routed to shards) → one write per batch.
//! Generic over the I/O backend; lives on the thread that accepted it, for life.

use std::sync::atomic::Ordering::Relaxed;

use bytes::BytesMut;

use super::io::{Stream, READ_CHUNK};
use crate::command::{dispatch, Session};
use crate::protocol::{parse_batch, ParseLimits, Reply};
use crate::state::ThreadStats;

/// Output buffers above this are dropped after a write instead of being kept for reuse.
const KEEP_OUTPUT_CAPACITY: usize = 1 << 20;

/// Serves `stream` until the peer leaves, QUIT, a kill, or a protocol error.
pub async fn serve<S: Stream>(mut stream: S, mut session: Session) {
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    let mut commands = Vec::new();
    let server = session.server.clone();
    let stats = &server.stats[session.thread];
    loop {
        let (result, buf) = stream.read(input).await;
        input = buf;
        match result {
            Ok(0) | Err(_) => break,
            Ok(n) => ThreadStats::add(&stats.net_input_bytes, n as u64),
        }
        if session.client.killed.load(Relaxed) {
            break;
        }
        let (limits, query_limit) = {
            let config = server.config();
            let limits = ParseLimits {
                max_bulk_len: config.int("proto-max-bulk-len") as u64,
                unauthenticated: false,
            };
            (limits, config.int("client-query-buffer-limit") as usize)
        };
        let parsed = parse_batch(&mut input, &limits, &mut commands);
        session
            .client
            .last_active_ms
            .store(session.client.created.elapsed().as_millis() as u64, Relaxed);
        if !commands.is_empty() {
            dispatch::execute(&mut session, std::mem::take(&mut commands), &mut output).await;
        }
        let mut closing = session.close;
        if let Err(error) = parsed {
            tracing::debug!(client = session.client.id, "protocol error: {}", error.0);
            Reply::error_owned(error.0).encode(session.protocol, &mut output);
            closing = true;
        } else if input.len() > query_limit {
            tracing::warn!(
                client = session.client.id,
                "closing client that reached max query buffer length"
            );
            closing = true;
        }
        if !output.is_empty() {
            ThreadStats::add(&stats.net_output_bytes, output.len() as u64);
            let (result, mut buf) = stream.write_all(output).await;
            if buf.capacity() > KEEP_OUTPUT_CAPACITY {
                buf = BytesMut::with_capacity(READ_CHUNK);
            }
            buf.clear();
            output = buf;
            if result.is_err() {
                break;
            }
        }
        if closing {
            break;
        }
    }
    server.unregister(session.client.id);
}
