//! The ACL view of the command table: every row and every subcommand row gets an id (rows
//! first, in table order, then each container's subcommands), and each id the categories its
//! row declares (`CommandSpec::categories`: explicit, family, implied by flags). Nothing here
//! names a command: adding a row adds its id.
//! Depends on the command table only.

use std::sync::LazyLock;

use hashbrown::HashMap;

use crate::command::table::{family_of, Categories};
use crate::command::{CommandSpec, COMMANDS};

/// Redis's ACL categories, in ACL CAT order; a category's bit is its index.
pub const CATEGORIES: &[&str] = Categories::NAMES;

/// The bit of a category name (case-insensitive), if it exists.
pub fn category_bit(name: &[u8]) -> Option<u32> {
    Categories::named(name).map(Categories::bits)
}

/// One ACL-visible command: a table row or a subcommand row.
pub struct Entry {
    /// `get`, or `config|get` for a subcommand.
    pub fullname: &'static str,
    pub categories: u32,
    /// For a subcommand: the container's row.
    pub parent: Option<usize>,
    pub spec: &'static CommandSpec,
}

/// Every ACL id: table rows (same index), then subcommands.
pub static ENTRIES: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    let mut entries: Vec<Entry> = COMMANDS
        .iter()
        .enumerate()
        .map(|(row, spec)| Entry {
            fullname: spec.name,
            categories: spec.categories(family_of(row)).bits(),
            parent: None,
            spec,
        })
        .collect();
    for (row, spec) in COMMANDS.iter().enumerate() {
        for sub in spec.subcommands {
            entries.push(Entry {
                fullname: sub.name,
                categories: sub.categories(family_of(row)).bits(),
                parent: Some(row),
                spec: sub,
            });
        }
    }
    entries
});

/// Full name (lower case) to id.
static INDEX: LazyLock<HashMap<&'static str, usize>> = LazyLock::new(|| {
    ENTRIES
        .iter()
        .enumerate()
        .map(|(id, e)| (e.fullname, id))
        .collect()
});

/// Number of ACL ids.
pub fn count() -> usize {
    ENTRIES.len()
}

/// The id of a command name (`get`) or `container|sub` (case-insensitive).
pub fn id_of(name: &[u8]) -> Option<usize> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    INDEX.get(lower.as_str()).copied()
}

/// True when the row is a container command (CONFIG, CLIENT, ACL...).
pub fn is_container(spec: &CommandSpec) -> bool {
    spec.is_container()
}

/// The id a call is checked against: the subcommand's when `row` is a container and the
/// first argument names one of its subcommands, else the row's.
pub fn id_for_call(row: usize, spec: &'static CommandSpec, first_arg: Option<&[u8]>) -> usize {
    match first_arg.and_then(|arg| spec.subcommand(arg)) {
        Some(sub) => INDEX.get(sub.name).copied().unwrap_or(row),
        None => row,
    }
}

/// Command ids that are subcommands of `row`.
pub fn subcommands_of(row: usize) -> impl Iterator<Item = usize> {
    ENTRIES
        .iter()
        .enumerate()
        .filter(move |(_, e)| e.parent == Some(row))
        .map(|(id, _)| id)
}

/// The categories of the row or subcommand row `spec` (found by its full name).
pub fn categories_of(spec: &CommandSpec) -> Categories {
    INDEX.get(spec.name).map_or(Categories::NONE, |&id| {
        Categories::from_bits(ENTRIES[id].categories)
    })
}
