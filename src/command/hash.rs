//! hash commands (in progress).

use super::table::CommandSpec;

/// The hash commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[];
