//! The collection types a key can hold besides strings, each in its own file with its compact
//! and large representations. Pure data structures: no shard, no commands, no I/O.

mod hash;
mod list;
mod set;
mod stream;
mod zset;

pub use hash::{Hash, HashLimits};
pub use list::{List, MAX_LISTPACK_SIZE};
pub(crate) use set::table::{hash_of as field_hash, Fetch as FieldFetch, Table};
pub use set::{Set, SetLimits};
pub use stream::{Consumer, Fields, Group, NodeLimits, Pending, Stream, StreamId, Trim};
pub use zset::ZSet;

/// The sorted set's compact-form limits (CONFIG zset-max-listpack-*).
pub mod zset_limits {
    pub use super::zset::{MAX_LISTPACK_ENTRIES, MAX_LISTPACK_VALUE};
}
