//! The list type (in progress: its commands are being added).

/// A Redis list.
#[derive(Clone, Debug, Default)]
pub struct List {}

impl List {
    /// The name OBJECT ENCODING reports for the representation in use.
    pub fn encoding(&self) -> &'static str {
        "unknown"
    }

    /// Bytes held on the heap by this value (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        0
    }
}
