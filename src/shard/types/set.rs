//! The set type (in progress: its commands are being added).

/// A Redis set.
#[derive(Clone, Debug, Default)]
pub struct Set {}
