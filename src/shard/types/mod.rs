//! The collection types a key can hold besides strings, each in its own file with its compact
//! and large representations. Pure data structures: no shard, no commands, no I/O.

mod hash;
mod list;
mod set;
mod zset;

pub use hash::Hash;
pub use list::{List, MAX_LISTPACK_SIZE};
pub use set::Set;
pub use zset::ZSet;
