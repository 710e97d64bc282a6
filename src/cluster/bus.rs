//! The cluster bus thread: owns the bus port (`cluster-port`, or the client port + 10000) and
//! the state's clock. Today it speaks nothing on the port: a peer's connection is accepted
//! and closed (Redis 7.0's `clusterMsg` exchange comes next, here), and every 100 ms it
//! evaluates the cluster state as Redis's clusterCron does.

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// How often the state is evaluated (Redis's clusterCron runs 10 times a second).
const TICK: Duration = Duration::from_millis(100);

/// Starts the bus thread on `listeners` (non-blocking, bound by the server).
pub fn start(listeners: Vec<TcpListener>) -> std::io::Result<()> {
    for listener in &listeners {
        listener.set_nonblocking(true)?;
    }
    std::thread::Builder::new()
        .name("cluster-bus".into())
        .spawn(move || run(listeners))?;
    Ok(())
}

fn run(listeners: Vec<TcpListener>) {
    loop {
        for listener in &listeners {
            // Nothing is spoken yet: a peer learns at once that no bus answers.
            while let Ok((stream, _)) = listener.accept() {
                drop(stream);
            }
        }
        super::tick(Instant::now());
        std::thread::sleep(TICK);
    }
}
