//! The replica side of replication: following a master (see the module doc of `replication`).

use crate::command::table::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];

/// True while this server replicates a master (REPLICAOF host port).
pub fn is_replica() -> bool {
    false
}
