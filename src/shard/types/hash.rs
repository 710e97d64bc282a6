//! The hash type (in progress: its commands are being added).

/// A Redis hash.
#[derive(Clone, Debug, Default)]
pub struct Hash {}
