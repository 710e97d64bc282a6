//! The set type (in progress: its commands are being added).

/// A Redis set.
#[derive(Clone, Debug, Default)]
pub struct Set {}

impl Set {
    /// The name OBJECT ENCODING reports for the representation in use.
    pub fn encoding(&self) -> &'static str {
        "unknown"
    }

    /// Bytes held on the heap by this value (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        0
    }
}
