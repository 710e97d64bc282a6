//! The collection types a key can hold besides strings, each in its own file with its compact
//! and large representations. Pure data structures: no shard, no commands, no I/O.

mod hash;
mod list;
mod set;
mod zset;

pub use hash::{Hash, HashLimits};
pub use list::List;
pub use set::{Set, SetLimits};
pub use zset::ZSet;
