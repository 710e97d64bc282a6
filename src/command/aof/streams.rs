//! Stream keys as the commands that rebuild them (entries, groups, consumers, pending
//! entries), for a rewrite's command base (`aof-use-rdb-preamble no`).

use crate::shard::journal::Chunk;
use crate::shard::types::Stream;
use crate::shard::types::StreamId;

/// The commands rebuilding `stream` under `key` of database `db`.
pub fn rebuild(db: usize, key: &[u8], stream: &Stream, out: &mut Chunk) {
    let entries = stream.range(StreamId::MIN, StreamId::MAX, 0, false);
    if entries.is_empty() {
        // A stream with no entries: created by an entry trimmed away at once.
        let id = stream.last_id.to_string();
        out.push(
            db,
            &[b"XADD", key, b"MAXLEN", b"0", id.as_bytes(), b"x", b"y"],
        );
    }
    for (id, fields) in &entries {
        let id = id.to_string();
        let mut command: Vec<&[u8]> = vec![b"XADD", key, id.as_bytes()];
        command.extend(fields.iter().map(|f| &f[..]));
        out.push(db, &command);
    }
    let (last, added, deleted) = (
        stream.last_id.to_string(),
        stream.entries_added.to_string(),
        stream.max_deleted_id.to_string(),
    );
    out.push(
        db,
        &[
            b"XSETID",
            key,
            last.as_bytes(),
            b"ENTRIESADDED",
            added.as_bytes(),
            b"MAXDELETEDID",
            deleted.as_bytes(),
        ],
    );
    for (name, group) in &stream.groups {
        let last = group.last_id.to_string();
        let read = group.entries_read.map(|n| n.to_string());
        let mut create: Vec<&[u8]> = vec![b"XGROUP", b"CREATE", key, name, last.as_bytes()];
        if let Some(read) = &read {
            create.extend([&b"ENTRIESREAD"[..], read.as_bytes()]);
        }
        out.push(db, &create);
        for consumer in group.consumers.keys() {
            out.push(db, &[b"XGROUP", b"CREATECONSUMER", key, name, consumer]);
        }
        for (id, pending) in &group.pel {
            let (id, time, count) = (
                id.to_string(),
                pending.delivery_time.to_string(),
                pending.delivery_count.to_string(),
            );
            out.push(
                db,
                &[
                    b"XCLAIM",
                    key,
                    name,
                    &pending.consumer,
                    b"0",
                    id.as_bytes(),
                    b"TIME",
                    time.as_bytes(),
                    b"RETRYCOUNT",
                    count.as_bytes(),
                    b"JUSTID",
                    b"FORCE",
                ],
            );
        }
    }
}
