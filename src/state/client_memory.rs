//! What a client's buffers hold, as CLIENT LIST shows it (qbuf, omem, tot-mem, ...) and as
//! client eviction (`maxmemory-clients`) weighs it. Each figure is written by the one task
//! that owns the buffer (the reader, the executor, the thread's pub/sub delivery), with relaxed
//! stores once per read or write, never per command. Depends on nothing in the crate but
//! `clients`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::clients::{ClientInfo, ClientRegistry};

/// A connection's buffers in bytes; zero while a buffer is not allocated.
#[derive(Default)]
pub struct ClientMemory {
    /// Read and not yet parsed into commands (the reader).
    pub unparsed: AtomicU64,
    /// Parsed and handed to the executor, not yet run to the end of their batch. The reader
    /// adds and the executor subtracts; both run on the connection's thread, so a plain load
    /// and store cannot lose an update.
    pub queued: AtomicU64,
    /// The read buffer's allocation.
    pub read_buf: AtomicU64,
    /// Reply bytes handed to the socket and not yet taken by it (the executor).
    pub writing: AtomicU64,
    /// The reply buffer's allocation.
    pub write_buf: AtomicU64,
    /// Size of the last write: the reply buffer's recent peak (CLIENT LIST `rbp`).
    pub write_peak: AtomicU64,
    /// Messages delivered to a subscriber and not yet encoded for it (pub/sub delivery).
    pub messages: AtomicU64,
}

/// Bytes a connection costs besides its buffers: its registry entry, session and tasks, as
/// Redis counts `sizeof(client)` in tot-mem.
pub const CLIENT_OVERHEAD: u64 = 2048;

impl ClientMemory {
    /// Query bytes received and not yet run (CLIENT LIST `qbuf`).
    pub fn qbuf(&self) -> u64 {
        self.unparsed.load(Relaxed) + self.queued.load(Relaxed)
    }

    /// Room left in the read buffer (CLIENT LIST `qbuf-free`).
    pub fn qbuf_free(&self) -> u64 {
        self.read_buf.load(Relaxed).saturating_sub(self.qbuf())
    }

    /// Pending output, replies and messages (CLIENT LIST `omem`; the output-buffer limits).
    pub fn omem(&self) -> u64 {
        self.writing.load(Relaxed) + self.messages.load(Relaxed)
    }

    /// Everything the connection holds (CLIENT LIST `tot-mem`, weighed by client eviction):
    /// read buffer, reply buffer (or the larger write in flight), queued messages and the
    /// fixed overhead. `argv` is the running command's arguments when the caller knows them.
    pub fn total(&self, argv: u64) -> u64 {
        let read = self.read_buf.load(Relaxed).max(self.qbuf());
        let write = self.write_buf.load(Relaxed).max(self.writing.load(Relaxed));
        read + write + self.messages.load(Relaxed) + argv + CLIENT_OVERHEAD
    }

    /// Adds a batch the reader handed over.
    pub fn add_queued(&self, bytes: u64) {
        self.queued
            .store(self.queued.load(Relaxed) + bytes, Relaxed);
    }

    /// Removes a batch the executor finished.
    pub fn remove_queued(&self, bytes: u64) {
        self.queued
            .store(self.queued.load(Relaxed).saturating_sub(bytes), Relaxed);
    }
}

/// What the clients hold together (INFO): the sum of their totals, the largest query buffer
/// and the largest pending output.
pub fn client_totals(registry: &ClientRegistry) -> (u64, u64, u64) {
    registry
        .clients()
        .iter()
        .fold((0, 0, 0), |(all, input, output), c| {
            let m = &c.memory;
            let query = m.read_buf.load(Relaxed).max(m.qbuf());
            (all + m.total(0), input.max(query), output.max(m.omem()))
        })
}

/// Clients closed by client eviction (INFO stats `evicted_clients`).
pub static EVICTED_CLIENTS: AtomicU64 = AtomicU64::new(0);

/// The `maxmemory-clients` budget in bytes: a size, or a percentage of `maxmemory` (0 when
/// maxmemory is 0); 0 means no client eviction.
pub fn client_memory_budget(setting: &str, maxmemory: u64) -> u64 {
    match setting.strip_suffix('%') {
        Some(percent) => maxmemory / 100 * percent.parse::<u64>().unwrap_or(0),
        None => setting.parse().unwrap_or(0),
    }
}

/// Redis's client eviction: while the clients that may be evicted hold `budget` bytes or
/// more together, closes the largest. Clients with CLIENT NO-EVICT on are neither evicted
/// nor counted. Returns how many were closed.
pub fn evict_clients(registry: &ClientRegistry, budget: u64) -> usize {
    if budget == 0 {
        return 0;
    }
    let mut sizes: Vec<(u64, u64)> = registry
        .clients()
        .iter()
        .filter(|c| !c.no_evict.load(Relaxed) && !c.killed.load(Relaxed))
        .map(|c| (c.memory.total(0), c.id))
        .collect();
    let mut held: u64 = sizes.iter().map(|(size, _)| size).sum();
    if held < budget {
        return 0;
    }
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut victims = Vec::new();
    for (size, id) in sizes {
        if held < budget {
            break;
        }
        held -= size;
        victims.push(id);
    }
    let evicted = registry.kill(|c: &ClientInfo| victims.contains(&c.id));
    EVICTED_CLIENTS.fetch_add(evicted as u64, Relaxed);
    for id in &victims {
        tracing::debug!("Evicting client: id={id}");
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_bytes_or_a_share_of_maxmemory() {
        assert_eq!(client_memory_budget("0", 1 << 20), 0);
        assert_eq!(client_memory_budget("3145728", 0), 3 << 20);
        assert_eq!(client_memory_budget("10%", 1000), 100);
        assert_eq!(client_memory_budget("10%", 0), 0);
    }

    #[test]
    fn figures_follow_the_buffers() {
        let m = ClientMemory::default();
        m.read_buf.store(16384, Relaxed);
        m.add_queued(26);
        assert_eq!((m.qbuf(), m.qbuf_free()), (26, 16358));
        m.remove_queued(26);
        assert_eq!(m.qbuf(), 0);
        m.writing.store(100, Relaxed);
        m.messages.store(50, Relaxed);
        assert_eq!(m.omem(), 150);
        m.write_buf.store(16384, Relaxed);
        assert_eq!(m.total(10), 16384 + 16384 + 50 + 10 + CLIENT_OVERHEAD);
    }
}
