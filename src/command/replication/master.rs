//! The master side of replication: serving replicas (see the module doc of `replication`).

use crate::command::table::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];

/// INFO replication's lines of a master, after `role`.
pub fn info(out: &mut Vec<(String, String)>) {
    let ids = super::ids();
    let offset = super::OFFSET.load(std::sync::atomic::Ordering::SeqCst);
    out.push(("connected_slaves".into(), "0".into()));
    out.push(("master_failover_state".into(), "no-failover".into()));
    out.push(("master_replid".into(), ids.replid));
    out.push(("master_replid2".into(), ids.replid2));
    out.push(("master_repl_offset".into(), offset.to_string()));
    out.push(("second_repl_offset".into(), ids.second_offset.to_string()));
    out.push(("repl_backlog_active".into(), "0".into()));
}

/// One attached replica as ROLE and INFO show it.
#[derive(Clone, Debug)]
pub struct ReplicaView {
    pub ip: String,
    pub port: u16,
    /// The last offset it acknowledged.
    pub offset: i64,
    pub state: &'static str,
    /// Seconds since its last ACK.
    pub lag: u64,
}

/// The replicas attached now.
pub fn replicas() -> Vec<ReplicaView> {
    Vec::new()
}
