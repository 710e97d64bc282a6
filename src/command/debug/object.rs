//! DEBUG OBJECT, LISTPACK and QUICKLIST: low-level facts about one key's value, looked up on
//! the key's shard.

use bytes::Bytes;

use super::super::{err, error, CmdResult, Session};
use crate::protocol::Reply;
use crate::shard::record::idle_at;
use crate::shard::{Shard, ValueRef};

/// Redis's LRU clock wraps at 24 bits of seconds.
const LRU_CLOCK_MAX: u64 = (1 << 24) - 1;

/// Runs `look` on the record of `key` in the session's database, on the key's shard.
async fn on_key<R: Send + 'static>(
    session: &Session,
    key: Bytes,
    look: impl FnOnce(&mut Shard, &Bytes) -> R + Send + 'static,
) -> Option<R> {
    let shard = session.router.shard_of(&key);
    let db = session.db;
    session
        .router
        .run(shard, move |s| {
            s.read_clock();
            s.begin(db, None);
            let result = look(s, &key);
            s.end();
            result
        })
        .await
}

/// DEBUG OBJECT <key>: Redis's status line. The value is not touched, and a key expired but
/// not yet removed is shown, as Redis finds it in its dictionary. `serializedlength` is the
/// size of the value's body as ringkv writes it in an RDB file.
pub async fn object(session: &Session, key: Bytes) -> CmdResult {
    let compressed = session.server.config().int("list-compress-depth") != 0;
    let fill = crate::shard::types::MAX_LISTPACK_SIZE.load(std::sync::atomic::Ordering::Relaxed);
    let line = on_key(session, key, move |s, key| {
        let clock = s.clock_secs();
        let now_secs = crate::shard::unix_ms() / 1000;
        let record = s.db().get_raw(key)?;
        let value = record.value();
        let idle = idle_at(record.touched(), clock) as u64;
        let serialized = crate::rdb::dump_payload(value).len().saturating_sub(11);
        let mut line = format!(
            "Value at:{:p} refcount:1 encoding:{} serializedlength:{serialized} lru:{} lru_seconds_idle:{idle}",
            record as *const _,
            super::super::keys::encoding(value),
            now_secs.wrapping_sub(idle) & LRU_CLOCK_MAX,
        );
        if let ValueRef::List(list) = value {
            if let Some((nodes, bytes)) = list.quicklist_nodes() {
                line.push_str(&format!(
                    " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:{fill} ql_compressed:{} ql_uncompressed_size:{bytes}",
                    list.len() as f64 / nodes as f64,
                    compressed as u8,
                ));
            }
        }
        Some(line)
    })
    .await
    .ok_or_else(|| error(err::SHARD_GONE))?;
    line.map(Reply::Status).ok_or_else(|| error(err::NO_KEY))
}

/// DEBUG LISTPACK / QUICKLIST <key>: Redis prints the structure on its standard output; the
/// reply says so when the value is in that `encoding`. An expired key is removed, as a lookup
/// removes it.
pub async fn packed(session: &Session, key: Bytes, encoding: &'static str) -> CmdResult {
    let found = on_key(session, key, |s, key| {
        s.read_untouched(key)
            .map(|r| super::super::keys::encoding(r.value()))
    })
    .await
    .ok_or_else(|| error(err::SHARD_GONE))?;
    match found {
        None => Err(error(err::NO_KEY)),
        Some(e) if e != encoding => Err(error(if encoding == "listpack" {
            err::NOT_LISTPACK
        } else {
            err::NOT_QUICKLIST
        })),
        Some(_) if encoding == "listpack" => {
            Ok(Reply::Simple("Listpack structure printed on stdout"))
        }
        Some(_) => Ok(Reply::Simple("Quicklist structure printed on stdout")),
    }
}
