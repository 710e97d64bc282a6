//! ringkv — a Redis-compatible in-memory cache server for Linux, built for throughput on many
//! cores: shared-nothing, one io_uring runtime per core.
//!
//! ```text
//!               clients (RESP2/RESP3 over TCP)
//!                  │  kernel spreads connections (SO_REUSEPORT, one listening socket per core)
//!      ┌───────────┴───────────┐                 ┌───────────────────────┐
//!      │ core 0: tokio-uring   │                 │ core N-1: tokio-uring │
//!      │  accept → Connection  │   Mailbox       │  accept → Connection  │
//!      │  tasks (parse, route, │◄──────────────► │  tasks                │
//!      │  reply in order)      │ (one job per    │                       │
//!      │  Shard 0: dbs, expiry │  target shard   │  Shard N-1            │
//!      │                       │  per batch)     │                       │
//!      └───────────┬───────────┘                 └───────────┬───────────┘
//!                  └──── ServerState (config, client registry, counters) ──┘
//! ```
//!
//! A key's hash slot (CRC16 of the key or its `{tag}`, as Redis Cluster) picks the shard that
//! owns it; each shard belongs to one thread and is reached by other threads only through the
//! mailbox. Commands whose keys span shards are split and gathered, or, when they must be atomic,
//! run under ordered shard holds (lowest shard id first, so holders never deadlock).
//!
//! # Layout
//! - [`protocol`] — RESP2/RESP3: zero-copy request parser, reply encoder. Depends on nothing.
//! - [`shard`] — the keyspace: slots, per-slot tables of packed records (one block per key),
//!   expiry, memory accounting and eviction (maxmemory), the mailbox (inboxes that wake only an
//!   idle thread) and the router.
//! - [`command`] — the command table (the only command metadata: flags, keys, ACL categories,
//!   subcommands, docs), argument cursor, handlers by family, batch dispatch.
//! - [`server`] — thread-per-core bootstrap, listeners, I/O backends, connections.
//! - [`pubsub`] — the shared channel registry and per-thread delivery to subscribers.
//! - [`rdb`] — RDB snapshot files (version 10): encode a shard's keys, decode a whole file.
//! - [`config`] — Redis-named options from a file or flags; CONFIG GET/SET.
//! - [`state`] — process-wide state: configuration, client registry, counters.
//! - [`acl`] — ACL users, logins, the ACL LOG and file; the ACL ids, a view of the command table.
//! - [`glob`] — Redis-style glob matching, bounded on hostile patterns.
//! - [`handoff`] — a same-thread queue between two tasks (a connection's reader and executor,
//!   a subscriber's deliveries). Depends on nothing.

pub mod acl;
pub mod command;
pub mod config;
pub mod glob;
pub mod handoff;
pub mod protocol;
pub mod pubsub;
pub mod rdb;
pub mod server;
pub mod shard;
pub mod state;
#[cfg(test)]
mod test_waker;
