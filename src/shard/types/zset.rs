//! The zset type (in progress: its commands are being added).

/// A Redis zset.
#[derive(Clone, Debug, Default)]
pub struct ZSet {}

impl ZSet {
    /// The name OBJECT ENCODING reports for the representation in use.
    pub fn encoding(&self) -> &'static str {
        "unknown"
    }

    /// Bytes held on the heap by this value (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        0
    }
}
