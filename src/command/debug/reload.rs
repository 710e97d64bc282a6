//! DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves the RDB file (unless NOSAVE), empties the
//! keyspace (unless NOFLUSH) and loads the file back, with every shard held from the
//! emptying to the last key put back, so no command sees half a keyspace. DEBUG LOADAOF does
//! the same from the AOF's files, after writing and fsyncing what the AOF has not yet.
//!
//! One difference from Redis: with NOFLUSH and without MERGE a key of the file that exists
//! already kills redis-server ("Duplicated key found in RDB file"); ringkv answers the load
//! error and changes nothing.

use super::super::persist::Restored;
use super::super::scripting::function::{self, Policy};
use super::super::{aof, err, error, persist, saving, Args, CmdResult, Session};
use crate::protocol::Reply;

pub async fn reload(session: &mut Session, args: &Args) -> CmdResult {
    let (mut flush, mut save, mut merge) = (true, true, false);
    for option in args.rest() {
        match option.to_ascii_lowercase().as_slice() {
            b"merge" => merge = true,
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => return Err(error(err::DEBUG_RELOAD_OPTION)),
        }
    }
    let (path, databases) = {
        let config = session.server.config();
        (saving::dump_path(&config), config.int("databases") as usize)
    };
    if save
        && saving::save(&session.router, path.clone(), saving::Held::Reload)
            .await
            .is_err()
    {
        return Err(error(err::ERR));
    }
    let loaded = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|file| crate::rdb::decode_all(&file))
        .and_then(|(records, libraries)| {
            let (per_shard, keys, expired) = persist::split(
                records,
                databases,
                session.router.shards(),
                Some(crate::shard::unix_ms()),
            )
            .map_err(|_| persist::too_many_databases(databases))?;
            persist::record_load(keys, expired);
            Ok((per_shard, libraries))
        });
    let (per_shard, libraries) = loaded.map_err(|e| {
        tracing::warn!("DEBUG RELOAD: {}: {e}", path.display());
        error(err::DEBUG_RELOAD_LOAD)
    })?;
    let all: Vec<usize> = (0..session.router.shards()).collect();
    let holding = session.router.hold(&all).await;
    if !flush && !merge {
        for (shard, keys) in per_shard.iter().enumerate() {
            let keys: Vec<_> = keys.iter().map(|(db, key, _)| (*db, key.clone())).collect();
            let clash = holding
                .run(shard, move |s| {
                    keys.iter()
                        .any(|(db, key)| s.db_at(*db).get_raw(key).is_some())
                })
                .await;
            if clash != Some(false) {
                tracing::warn!("DEBUG RELOAD: the RDB file holds keys that exist already");
                return Err(error(err::DEBUG_RELOAD_LOAD));
            }
        }
    }
    let policy = match (flush, merge) {
        (true, _) => Policy::Flush,
        (false, true) => Policy::Replace,
        (false, false) => Policy::Append,
    };
    if function::reload(libraries, policy).await.is_err() {
        return Err(error(err::DEBUG_RELOAD_LOAD));
    }
    for (shard, keys) in per_shard.into_iter().enumerate() {
        holding
            .run(shard, move |s| {
                if flush {
                    (0..s.databases()).for_each(|db| s.flush_db(db));
                }
                for (db, key, entry) in keys {
                    // With MERGE the file's key replaces the one there is.
                    s.db_at(db).insert(&key, entry);
                }
            })
            .await;
    }
    drop(holding);
    if flush {
        crate::tracking::flushed(session.thread);
    }
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    Ok(Reply::Simple("OK"))
}

/// DEBUG LOADAOF. The AOF's functions replace the ones there are. Where Redis exits on a
/// file it cannot load, this answers an error (the functions are gone by then).
pub async fn load_aof(session: &mut Session) -> CmdResult {
    let config = session.server.config().clone();
    aof::flush_to_disk().await;
    if function::reload(Vec::new(), Policy::Flush).await.is_err() {
        return Err(error(err::DEBUG_LOADAOF));
    }
    let per_shard = aof::read_back(&config, session.router.shards()).map_err(|e| {
        tracing::warn!("DEBUG LOADAOF: {e}");
        error(err::DEBUG_LOADAOF)
    })?;
    let all: Vec<usize> = (0..session.router.shards()).collect();
    let holding = session.router.hold(&all).await;
    replace_all(&holding, per_shard).await;
    drop(holding);
    crate::tracking::flushed(session.thread);
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
    Ok(Reply::Simple("OK"))
}

/// Empties every shard and puts `per_shard`'s keys in, the shards held by the caller.
async fn replace_all(holding: &crate::shard::mailbox::Holding, per_shard: Vec<Restored>) {
    for (shard, keys) in per_shard.into_iter().enumerate() {
        holding
            .run(shard, move |s| {
                (0..s.databases()).for_each(|db| s.flush_db(db));
                for (db, key, entry) in keys {
                    s.db_at(db).insert(&key, entry);
                }
            })
            .await;
    }
}
