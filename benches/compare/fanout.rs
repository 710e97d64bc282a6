//! The pub/sub fan-out driver: subscribers on raw TCP, each drained by its own thread, and one
//! publisher sending pipelined PUBLISHes to their channel. redis-benchmark has no subscriber mode,
//! so the bench generates this load itself. Knows nothing of server processes or rounds.
//!
//! Throughput is deliveries per second: publishes × subscribers ÷ the time from the first
//! PUBLISH written to the moment the last subscriber has read every message. Latency is each
//! PUBLISH's, from the write of its batch to the read of its reply.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::workload::Measured;

/// The channel every subscriber listens on.
pub const CHANNEL: &str = "fanout";

/// A drain thread only reads into a heap buffer; a small stack keeps 100 of them cheap.
const DRAIN_STACK: usize = 64 * 1024;

/// One fan-out run's shape.
#[derive(Clone, Copy)]
pub struct Fanout {
    pub subscribers: u32,
    /// Bytes in each published message.
    pub payload: usize,
    /// PUBLISHes written per batch; the next batch goes out once every reply is read.
    pub pipeline: u32,
    /// PUBLISHes in the run.
    pub messages: u64,
}

/// Runs one fan-out against the server on `port`. `Err` says why the run gave no figures: a
/// connection failed, a reply was wrong, or some subscriber lacked messages at `timeout`.
pub fn run(fanout: Fanout, port: u16, timeout: Duration) -> Result<Measured, String> {
    let deadline = Instant::now() + timeout;
    let payload = payload(fanout.payload);
    let mut subscribers = Subscribers::default();
    let (done, finished) = mpsc::channel();
    let frame: Arc<[u8]> = message_frame(&payload).into();
    for index in 0..fanout.subscribers {
        let stream =
            subscribe(port, deadline).map_err(|err| format!("subscriber {index}: {err}"))?;
        subscribers.drain(stream, frame.clone(), fanout.messages, done.clone())?;
    }
    drop(done);

    let started = Instant::now();
    let latencies = publish(fanout, &payload, port, deadline)?;
    let mut last = started;
    for _ in 0..fanout.subscribers {
        let left = deadline.saturating_duration_since(Instant::now());
        match finished.recv_timeout(left) {
            Ok(Ok(at)) => last = last.max(at),
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                return Err(format!(
                    "timed out after {} s waiting for subscribers",
                    timeout.as_secs()
                ))
            }
        }
    }
    let elapsed = last.duration_since(started).as_secs_f64();
    let deliveries = fanout.messages * u64::from(fanout.subscribers);
    let rps = deliveries as f64 / elapsed.max(f64::MIN_POSITIVE);
    let (p50_ms, p99_ms) = (percentile(&latencies, 50), percentile(&latencies, 99));
    Ok(Measured {
        operations: deliveries,
        rps,
        p50_ms,
        p99_ms,
        raw: format!(
            "{} PUBLISH x {} subscribers in {elapsed:.3} s: {rps:.0} deliveries/s, \
             PUBLISH p50 {p50_ms:.3} ms p99 {p99_ms:.3} ms",
            fanout.messages, fanout.subscribers
        ),
    })
}

/// The subscriber connections and their drain threads. Dropping it shuts every connection down,
/// which ends any drain still reading, and joins the threads: a failed run leaves none behind.
#[derive(Default)]
struct Subscribers {
    streams: Vec<TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

impl Subscribers {
    /// Starts a thread that reads `stream` until it has `messages` copies of `frame`, then
    /// reports the instant it got the last one (or why it could not) on `done`.
    fn drain(
        &mut self,
        stream: TcpStream,
        frame: Arc<[u8]>,
        messages: u64,
        done: mpsc::Sender<Result<Instant, String>>,
    ) -> Result<(), String> {
        self.streams
            .push(stream.try_clone().map_err(|err| err.to_string())?);
        let thread = thread::Builder::new()
            .name(format!("fanout-sub-{}", self.threads.len()))
            .stack_size(DRAIN_STACK)
            .spawn(move || {
                let _ = done.send(count_messages(stream, &frame, messages));
            })
            .map_err(|err| format!("cannot start a subscriber thread: {err}"))?;
        self.threads.push(thread);
        Ok(())
    }
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        for stream in &self.streams {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Reads until `messages` whole frames arrived, checking every byte against `frame` (all
/// messages are identical, so the stream must be `frame` repeated).
fn count_messages(mut stream: TcpStream, frame: &[u8], messages: u64) -> Result<Instant, String> {
    let mut buffer = vec![0u8; 16 * 1024];
    let (mut received, mut offset) = (0u64, 0usize);
    while received < messages {
        let read = match stream.read(&mut buffer) {
            Ok(0) => return Err(format!("subscriber closed after {received} messages")),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(format!("subscriber read after {received} messages: {err}")),
        };
        let mut chunk = &buffer[..read];
        while !chunk.is_empty() {
            let take = chunk.len().min(frame.len() - offset);
            if chunk[..take] != frame[offset..offset + take] {
                return Err(format!(
                    "subscriber got {:?} after {received} messages",
                    String::from_utf8_lossy(&chunk[..take.min(60)])
                ));
            }
            (offset, chunk) = (offset + take, &chunk[take..]);
            if offset == frame.len() {
                (offset, received) = (0, received + 1);
            }
        }
    }
    Ok(Instant::now())
}

/// Sends every PUBLISH in batches of `fanout.pipeline`, checks each reply counts every
/// subscriber, and returns each PUBLISH's latency in milliseconds.
fn publish(
    fanout: Fanout,
    payload: &[u8],
    port: u16,
    deadline: Instant,
) -> Result<Vec<f64>, String> {
    let mut writer = connect(port, deadline)?;
    let mut reader = BufReader::new(writer.try_clone().map_err(|err| err.to_string())?);
    let command = encode(&[b"PUBLISH", CHANNEL.as_bytes(), payload]);
    let batch = command.repeat(fanout.pipeline.max(1) as usize);
    let expected = format!(":{}\r\n", fanout.subscribers).into_bytes();
    let mut latencies = Vec::with_capacity(fanout.messages as usize);
    let mut line = Vec::new();
    let mut sent = 0u64;
    while sent < fanout.messages {
        if Instant::now() > deadline {
            return Err(format!("timed out after {sent} PUBLISHes"));
        }
        let count = (fanout.messages - sent).min(u64::from(fanout.pipeline.max(1))) as usize;
        let written = Instant::now();
        writer
            .write_all(&batch[..count * command.len()])
            .map_err(|err| format!("publisher write: {err}"))?;
        for _ in 0..count {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return Err("publisher connection closed".into()),
                Ok(_) if line == expected => {}
                Ok(_) => {
                    return Err(format!(
                        "PUBLISH answered {:?}, expected {:?}",
                        String::from_utf8_lossy(&line).trim_end(),
                        String::from_utf8_lossy(&expected).trim_end()
                    ))
                }
                Err(err) => return Err(format!("publisher read: {err}")),
            }
            latencies.push(written.elapsed().as_secs_f64() * 1e3);
        }
        sent += count as u64;
    }
    Ok(latencies)
}

/// A connection subscribed to [`CHANNEL`]: the confirmation has been read, so a PUBLISH sent
/// after this returns is delivered to it.
fn subscribe(port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let mut stream = connect(port, deadline)?;
    stream
        .write_all(&encode(&[b"SUBSCRIBE", CHANNEL.as_bytes()]))
        .map_err(|err| format!("write: {err}"))?;
    let confirmation = format!(
        "*3\r\n$9\r\nsubscribe\r\n${}\r\n{CHANNEL}\r\n:1\r\n",
        CHANNEL.len()
    );
    expect(&mut stream, confirmation.as_bytes())?;
    // Drain threads block in read until their messages arrive or the stream is shut down.
    stream
        .set_read_timeout(None)
        .map_err(|err| err.to_string())?;
    Ok(stream)
}

/// Reads exactly `expected`, failing as soon as the bytes differ (an error reply is shorter).
fn expect(stream: &mut TcpStream, expected: &[u8]) -> Result<(), String> {
    let mut got = vec![0u8; expected.len()];
    let mut filled = 0;
    while filled < expected.len() {
        let read = stream
            .read(&mut got[filled..])
            .map_err(|err| format!("read: {err}"))?;
        if read == 0 {
            return Err("connection closed".into());
        }
        filled += read;
        if got[..filled] != expected[..filled] {
            return Err(format!(
                "expected {:?}, got {:?}",
                String::from_utf8_lossy(expected),
                String::from_utf8_lossy(&got[..filled])
            ));
        }
    }
    Ok(())
}

/// A loopback connection with Nagle off and reads bounded by `deadline`.
fn connect(port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream =
        TcpStream::connect_timeout(&address, left).map_err(|err| format!("connect: {err}"))?;
    stream.set_nodelay(true).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(left))
        .map_err(|err| err.to_string())?;
    Ok(stream)
}

/// A RESP multibulk request.
fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What a subscriber receives for one PUBLISH of `payload` (RESP2 push as a 3-element array).
fn message_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{CHANNEL}\r\n${}\r\n",
        CHANNEL.len(),
        payload.len()
    )
    .into_bytes();
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\r\n");
    frame
}

/// `len` printable bytes, varied so a server that mangled the payload would be caught.
fn payload(len: usize) -> Vec<u8> {
    (b'a'..=b'z').cycle().take(len).collect()
}

/// Nearest-rank percentile of `values` (not sorted yet); 0 for an empty list.
pub fn percentile(values: &[f64], percent: usize) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1]
}
