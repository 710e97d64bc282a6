//! zset commands (in progress).

use super::table::CommandSpec;

/// The zset commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[];
