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
//!   expiry, memory accounting and eviction (maxmemory, LRU and LFU access fields), the mailbox
//!   (inboxes that wake only an idle thread) and the router; `shard::snapshot`, the cut a
//!   background save encodes slot by slot (copy-on-write per slot) and the change counter save
//!   points read. Buffers keyspace events (`shard::events`) instead of publishing them;
//!   journals every applied write on its change stream (`shard::journal`) while a consumer
//!   reads it. Depends on `protocol` only.
//! - [`command`] — the command table (the only command metadata: flags, keys, ACL categories,
//!   subcommands, docs), argument cursor, handlers by family, batch dispatch; and
//!   `command::access`, the ACL users, logins, log and file over the table's ids;
//!   `command::saving`, SAVE/BGSAVE, save points and shutdown saves; `command::pause`,
//!   CLIENT PAUSE's server-wide pause (dispatch holds a paused client's batch, the shard
//!   keeps its data as it is meanwhile); `command::monitor`, MONITOR's per-monitor queues
//!   that dispatch feeds when someone monitors (one atomic load per batch otherwise);
//!   `command::serving`, what each thread is serving now (command, client, argv) for the
//!   crash report; `command::debug`, DEBUG and its subcommands; `command::replication`,
//!   Redis's PSYNC replication: as a replica, a link thread of its own (blocking socket,
//!   handshake, snapshot, stream) feeds a task on thread 0 that applies it as the master's
//!   client. `replication::failover`, FAILOVER: a thread waits for the target replica to
//!   catch up while writes are paused, then this server follows it (PSYNC ... FAILOVER).
//!   Publishes the keyspace events a shard buffered after each job on it. Decides what a
//!   write propagates (`command::propagate`); `command::aof` is the change stream's
//!   consumer, the AOF.
//! - [`server`] — thread-per-core bootstrap, listeners, I/O backends, connections, logging and
//!   the crash policy (`server::crash`: panic hook and fatal-signal handler). The top.
//! - [`pubsub`] — the shared channel registry and per-thread delivery to subscribers. Depends
//!   on `shard` (the mailbox), `state`, `glob`, `handoff`; never on `command`.
//! - [`rdb`] — RDB snapshot files (version 10): encode a shard's keys, decode a whole file
//!   (any RDB 1–11 encoding), and DUMP/RESTORE payloads. Depends on `shard` only.
//! - [`config`] — Redis-named options from a file or flags; CONFIG GET/SET. Depends on `glob`.
//! - [`state`] — process-wide state, one concern per file: configuration and counters, the
//!   client registry, what each client's buffers hold and client eviction (`maxmemory-clients`),
//!   the coarse clock, output-buffer limits, the open-files limit. Depends on
//!   `config` and `shard` (its clock).
//! - [`glob`] — Redis-style glob matching, bounded on hostile patterns. Depends on nothing.
//! - [`service`] — running as a Linux service: daemonize, pid file, systemd/upstart
//!   notification, oom-score-adj, files removed at exit. Depends on `config`.
//!
//! No cycles between these modules: `module_graph` (a unit test) reads every `crate::` path and
//! fails on one. Upward news travels as data: the shard buffers keyspace events, the command
//! layer publishes them.
//! - [`tracking`] — client-side caching: each connection's CLIENT TRACKING state, the tracking
//!   clients and BCAST prefixes, delivery of the invalidations a shard buffered
//!   (`shard::tracking`, the table keyed by key) to the clients' threads. Depends on `shard`,
//!   `state`, `protocol`, `handoff`; never on `command`.
//! - [`cluster`] — Redis Cluster state of this node (ID, known nodes, slot owners, epochs,
//!   `cluster_state`) and nodes.conf; a lock-free view (one atomic per slot) that dispatch
//!   reads to redirect (`-MOVED`, `-CLUSTERDOWN`); `cluster::bus`, the thread that owns the
//!   bus port and the state's clock. Depends on `config`, `shard` and `state`.
//! - [`handoff`] — a same-thread queue between two tasks (a connection's reader and executor,
//!   a subscriber's deliveries). Depends on nothing.

pub mod cluster;
pub mod command;
pub mod config;
pub mod glob;
pub mod handoff;
#[cfg(test)]
mod module_graph;
pub mod protocol;
pub mod pubsub;
pub mod rdb;
pub mod server;
pub mod service;
pub mod shard;
pub mod state;
#[cfg(test)]
mod test_waker;
pub mod tracking;
