//! set commands (in progress).

use super::table::CommandSpec;

/// The set commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[];
