//! The list type (in progress: its commands are being added).

/// A Redis list.
#[derive(Clone, Debug, Default)]
pub struct List {}
