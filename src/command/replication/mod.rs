//! Replication in Redis's own protocol (PSYNC2), both directions: `master` serves replicas
//! (the handshake, full and partial resyncs, the offset-counted command stream and its
//! backlog, WAIT), `replica` follows a master (REPLICAOF, the link, loading its snapshot,
//! applying its stream, ACKs). This file holds what both sides share: the replication IDs
//! and offsets a server carries across role changes, as Redis 7.0's `server.replid`,
//! `replid2`, `master_repl_offset` and `second_replid_offset`.

pub mod backlog;
pub mod failover;
mod link;
pub mod master;
pub mod replica;
pub mod replica_apply;

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Mutex, MutexGuard};

/// The replication history this server is part of.
#[derive(Clone, Debug)]
pub struct Ids {
    /// The current history's ID (40 hex characters).
    pub replid: String,
    /// The previous history's ID (all zeros when none), kept after a promotion so replicas
    /// of the old master can continue partially.
    pub replid2: String,
    /// The first offset not in the previous history (-1 when none).
    pub second_offset: i64,
}

static IDS: Mutex<Option<Ids>> = Mutex::new(None);

/// `master_repl_offset`: bytes of the replication stream this server produced (as a master)
/// or processed from its master (as a replica).
pub static OFFSET: AtomicI64 = AtomicI64::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new random replication ID.
pub fn random_id() -> String {
    static DRAWN: AtomicU64 = AtomicU64::new(0);
    let n = DRAWN.fetch_add(1, SeqCst);
    let seed = crate::shard::unix_ms() ^ u64::from(std::process::id()).rotate_left(40);
    crate::state::hex_id(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The current IDs (created on first use).
pub fn ids() -> Ids {
    lock(&IDS)
        .get_or_insert_with(|| Ids {
            replid: random_id(),
            replid2: "0".repeat(40),
            second_offset: -1,
        })
        .clone()
}

/// Replaces the IDs (a replica adopting its master's history after a full resync).
pub fn set_ids(ids: Ids) {
    *lock(&IDS) = Some(ids);
}

/// Starts a new history, keeping the current one as the previous (a replica promoted by
/// REPLICAOF NO ONE or FAILOVER), as Redis's shiftReplicationId.
pub fn shift_ids() {
    let current = ids();
    set_ids(Ids {
        replid2: current.replid,
        second_offset: OFFSET.load(SeqCst) + 1,
        replid: random_id(),
    });
}

/// Holds a replica's applier (at most a second) while a save takes its cut, so that the data
/// and the offset agree; None on a master, or when the applier did not stop in time.
pub async fn pause_for_cut() -> Option<replica_apply::Paused> {
    // The applier's own command (its master's FLUSHALL) runs between two of its batches.
    if !replica::is_replica() || replica_apply::applying() {
        return None;
    }
    tokio::time::timeout(std::time::Duration::from_secs(1), replica_apply::pause())
        .await
        .ok()
}

/// The stream's position a save notes, taken with every shard held (Redis's
/// rdbPopulateSaveInfo): a master's once it has a backlog, a replica's once it holds its
/// master's history (`paused`: its applier is held, else its offset may trail the data).
pub fn save_info(paused: bool) -> Option<crate::rdb::ReplInfo> {
    if replica::is_replica() {
        if !paused || !replica::has_history() {
            return None;
        }
        return Some(crate::rdb::ReplInfo {
            stream_db: replica_apply::stream_db(),
            replid: ids().replid,
            offset: OFFSET.load(SeqCst),
        });
    }
    let (offset, stream_db) = master::settle()?;
    Some(crate::rdb::ReplInfo {
        stream_db,
        replid: ids().replid,
        offset,
    })
}

/// Reads the `repl-*` AUX fields of the RDB file loaded at start (Redis 7.0's
/// loadDataFromDisk): a replica takes the history and offset as its own and asks its master
/// to continue from there; a master keeps it as its previous history, with a backlog from
/// that offset, so that its replicas continue after its restart.
pub fn restore(aux: &[(bytes::Bytes, bytes::Bytes)], shards: usize, backlog_size: usize) {
    let field = |name: &str| {
        aux.iter()
            .find(|(n, _)| n.as_ref() == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let (Some(replid), Some(offset)) = (field("repl-id"), field("repl-offset")) else {
        return;
    };
    let Ok(offset) = offset.parse::<i64>() else {
        return;
    };
    if replid.len() != 40 || offset < 0 {
        return;
    }
    let stream_db = field("repl-stream-db")
        .and_then(|d| d.parse::<usize>().ok())
        .unwrap_or(0);
    OFFSET.store(offset, SeqCst);
    if replica::is_replica() {
        set_ids(Ids {
            replid,
            replid2: "0".repeat(40),
            second_offset: -1,
        });
        replica_apply::set_stream_db(stream_db);
        replica::note_history();
        tracing::info!("Restored the replication ID and offset of the RDB file: {offset}");
        return;
    }
    set_ids(Ids {
        replid: random_id(),
        replid2: replid,
        second_offset: offset + 1,
    });
    master::restored(shards, backlog_size);
    tracing::info!("Restored the replication history of the RDB file, at offset {offset}");
}
