//! DEBUG POPULATE <count> [<prefix>] [<size>]: creates string keys `prefix:N` (default
//! `key:N`) holding `value:N`, or, with a size, `value:N` cut or zero-padded to that many
//! bytes; a key that exists is left alone. Keys are made and stored in bounded batches per
//! owning shard, so a large count never builds one large list.

use bytes::Bytes;

use super::super::{err, error, Args, CmdResult, Session};
use crate::protocol::Reply;

/// Keys sent to the shards at a time.
const BATCH: u64 = 4096;

/// Redis's getPositiveLongFromObjectOrReply: one error for a negative and a non-number.
fn positive(arg: &[u8]) -> Result<u64, Reply> {
    super::super::args::parse_int(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| error(err::NOT_POSITIVE))
}

pub async fn populate(session: &mut Session, args: &Args) -> CmdResult {
    let rest = args.rest();
    let count = positive(&rest[0])?;
    let prefix = rest.get(1).cloned().unwrap_or(Bytes::from_static(b"key"));
    let size = match rest.get(2) {
        Some(arg) => positive(arg)?,
        None => 0,
    };
    // A value is one allocation of `size` bytes: no larger than a client could send one.
    let max_bulk = session.server.config().int("proto-max-bulk-len").max(0) as u64;
    if size > max_bulk {
        return Err(error(err::OUT_OF_RANGE));
    }
    let shards = session.router.shards();
    let db = session.db;
    let mut from = 0;
    while from < count {
        let to = count.min(from + BATCH);
        let mut per_shard: Vec<Vec<(Bytes, Bytes)>> = vec![Vec::new(); shards];
        for j in from..to {
            let mut key = prefix.to_vec();
            key.extend_from_slice(format!(":{j}").as_bytes());
            let mut value = format!("value:{j}").into_bytes();
            if size > 0 {
                value.resize(size as usize, 0);
            }
            let shard = session.router.shard_of(&key);
            per_shard[shard].push((Bytes::from(key), Bytes::from(value)));
        }
        for (shard, batch) in per_shard.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            session
                .router
                .run(shard, move |s| {
                    s.read_clock();
                    s.begin(db, None);
                    let mut added = Vec::with_capacity(batch.len());
                    for (key, value) in &batch {
                        if !s.exists(key) {
                            s.store_str(key, value, 0);
                            added.push(&key[..]);
                        }
                    }
                    s.after_write(added.into_iter(), true);
                    s.end();
                })
                .await
                .ok_or_else(|| error(err::SHARD_GONE))?;
        }
        from = to;
    }
    Ok(Reply::Simple("OK"))
}
