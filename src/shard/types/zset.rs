//! The zset type (in progress: its commands are being added).

/// A Redis zset.
#[derive(Clone, Debug, Default)]
pub struct ZSet {}
