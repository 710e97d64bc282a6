//! list commands (in progress).

use super::table::CommandSpec;

/// The list commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[];
