//! The cost of forwarding work across cores: from thread 0, `Router::post` a job to shard 1 and
//! await its reply, for one job and for 16 jobs posted in one tick (which travel as one batch).
//! Every command whose key another thread owns pays this, so it is what the shared-nothing
//! design charges against a shared map.
//!
//! `cargo bench --bench mailbox`. Two OS threads are wired as `server::Worker::start` wires them
//! (a current-thread tokio runtime and a LocalSet each, one shard, the inbox served by
//! `serve_inbox`), without sockets or core pinning; the clock runs inside thread 0's runtime.

use std::hint::black_box;
use std::sync::mpsc as std_mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringkv::shard::mailbox::{inboxes, serve_inbox, Inboxes, LocalShard};
use ringkv::shard::{Router, Shard};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::LocalSet;

/// Databases per shard, as the server's default configuration.
const DATABASES: usize = 16;

/// A request to thread 0: `iters` round trips of `batch` jobs each.
struct Measure {
    iters: u64,
    batch: usize,
}

/// The two worker threads. Dropping it stops and joins both.
struct Workers {
    requests: Option<std_mpsc::Sender<Measure>>,
    results: std_mpsc::Receiver<Duration>,
    stop_peer: Option<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    fn start() -> Workers {
        let inboxes = inboxes(2);
        let (stop_peer, stopped) = oneshot::channel::<()>();
        let (requests, requested) = std_mpsc::channel::<Measure>();
        let (report, results) = std_mpsc::channel();

        let peer_inboxes = inboxes.clone();
        let peer = thread::spawn(move || {
            let (runtime, local_set) = runtime();
            local_set.block_on(&runtime, async move {
                let _router = worker(1, peer_inboxes);
                let _ = stopped.await;
            });
        });
        let origin = thread::spawn(move || {
            let (runtime, local_set) = runtime();
            // The inbox task stays in the LocalSet and runs again during every later block_on.
            let router = local_set.block_on(&runtime, async { worker(0, inboxes) });
            for Measure { iters, batch } in requested {
                let elapsed = local_set.block_on(&runtime, round_trips(&router, iters, batch));
                if report.send(elapsed).is_err() {
                    break;
                }
            }
        });
        Workers {
            requests: Some(requests),
            results,
            stop_peer: Some(stop_peer),
            threads: vec![origin, peer],
        }
    }

    /// Time thread 0 took for `iters` round trips of `batch` jobs.
    fn measure(&self, iters: u64, batch: usize) -> Duration {
        let requests = self.requests.as_ref().expect("running");
        requests
            .send(Measure { iters, batch })
            .expect("thread 0 alive");
        self.results.recv().expect("thread 0 answers")
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(stop) = self.stop_peer.take() {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn runtime() -> (Runtime, LocalSet) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    (runtime, LocalSet::new())
}

/// What `Worker::start` does on its thread: own a shard, set up the router (and with it the
/// thread's outbox), serve the inbox. Call inside the thread's LocalSet.
fn worker(id: usize, inboxes: Inboxes) -> Router {
    let local = LocalShard::new(Shard::new(id, DATABASES), |s| drop(s.drain_events()));
    let router = Router::new(id, local.clone(), inboxes.clone());
    tokio::task::spawn_local(serve_inbox(local, inboxes, id));
    router
}

/// Posts `batch` jobs to shard 1 in one tick and awaits every reply, `iters` times.
async fn round_trips(router: &Router, iters: u64, batch: usize) -> Duration {
    let mut replies = Vec::with_capacity(batch);
    let start = Instant::now();
    for _ in 0..iters {
        replies.extend((0..batch).map(|_| router.post(1, |shard| shard.id())));
        for reply in replies.drain(..) {
            black_box(reply.await.expect("shard 1 replies"));
        }
    }
    start.elapsed()
}

fn forwarded(c: &mut Criterion) {
    let workers = Workers::start();
    let mut group = c.benchmark_group("mailbox");
    for (name, batch) in [("round_trip_1_job", 1), ("round_trip_16_jobs", 16)] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| workers.measure(iters, batch))
        });
    }
    group.finish();
}

criterion_group!(benches, forwarded);
criterion_main!(benches);
