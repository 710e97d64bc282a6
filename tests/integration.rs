//! The integration tests, one module per area, built as one test binary (52 binaries took
//! about 24 CPU-seconds each to compile and link; one takes a fraction of their sum). Each
//! test spawns the real `ringkv` binary (and redis-server as the oracle) on ports picked at
//! run time. Run one area with `cargo test --release --test integration AREA::`.
//! tests/connections.rs (10 000 connections, PING latency while they come and go) and the Tcl
//! conformance suite (tests/conformance.rs) are binaries of their own, run one after another
//! with this one, so that nothing else runs beside them.

mod common;

mod acl_pubsub;
mod aof;
mod aof_manifest;
mod bitfield;
mod blocking;
mod client_memory;
mod clients;
mod cluster;
mod command_table;
mod crash;
mod debug;
mod differential;
mod edge_numbers;
mod expiry;
mod failover;
mod functions;
mod fuzz_seeds;
mod geo;
mod hash;
mod hyperloglog;
mod isolation;
mod keyspace_events;
mod list;
mod listeners;
mod lolwut_memory;
mod maxmemory;
mod metrics;
mod monitor;
mod multi;
mod observability;
mod operations;
mod oracle;
mod oracle_hash_set;
mod oracle_list;
mod oracle_zset;
mod pause;
mod persistence;
mod protocol;
mod pubsub;
mod rdb_compat;
mod regress_parsing;
mod replication_chain;
mod replication_expiry;
mod replication_master;
mod replication_replica;
mod replication_state;
mod scan;
mod scripting;
mod scripting_libs;
mod security;
mod sentinel;
mod set;
mod sharding;
mod snapshot;
mod sort;
mod stream;
mod tracking;
mod zset;
