//! MEMORY STATS, DOCTOR, MALLOC-STATS and PURGE in Redis 7.0's reply shapes (MEMORY USAGE and
//! HELP live with the keyspace commands). The figures are INFO memory's: the allocator's
//! (used_memory, its peak and start-up figure, active and resident bytes), the per-key table
//! overhead from the shards' key counts, and the process's resident set. What ringkv keeps
//! nowhere (replication backlog, cluster links, AOF buffer) is 0.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::{CmdResult, Session};
use crate::protocol::Reply;

type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

/// Below this total, DOCTOR has nothing to say (Redis's 5 MB).
const EMPTY_BELOW: u64 = 5 << 20;

/// The figures MEMORY STATS reports and DOCTOR judges.
struct Figures {
    total: u64,
    peak: u64,
    /// What the server held once started, before data and clients.
    startup: u64,
    /// The allocator's pages holding blocks, and what it has from the system.
    active: u64,
    resident: u64,
    /// Per database with keys: (index, keys, table overhead of its keys).
    dbs: Vec<(usize, u64, u64)>,
    rss: u64,
}

impl Figures {
    async fn gather(session: &Session) -> Figures {
        let shards = session
            .router
            .run_all(|s| {
                (0..s.databases())
                    .map(|db| s.db_at(db).len())
                    .collect::<Vec<usize>>()
            })
            .await;
        let databases = shards.first().map_or(0, Vec::len);
        let dbs = (0..databases)
            .filter_map(|db| {
                let keys: u64 = shards.iter().map(|dbs| dbs[db] as u64).sum();
                let overhead = keys * crate::shard::memory::PER_KEY as u64;
                (keys > 0).then_some((db, keys, overhead))
            })
            .collect();
        use crate::state::memory;
        let alloc = memory::allocator();
        Figures {
            total: alloc.allocated,
            peak: memory::peak_memory().max(alloc.allocated),
            startup: memory::startup_memory(),
            active: alloc.active,
            resident: alloc.resident,
            dbs,
            rss: memory::rss_bytes(),
        }
    }

    fn keys(&self) -> u64 {
        self.dbs.iter().map(|(_, keys, _)| keys).sum()
    }

    fn overhead(&self) -> u64 {
        self.startup + self.dbs.iter().map(|(_, _, o)| o).sum::<u64>()
    }
}

/// Redis computes its ratios in single precision.
fn ratio(a: u64, b: u64) -> Reply {
    Reply::Double(f64::from(if b == 0 { 0.0 } else { a as f32 / b as f32 }))
}

fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::Bulk(Bytes::from_static(name.as_bytes())), value)
}

/// MEMORY STATS.
pub fn stats(session: &mut Session, _args: super::Args) -> Routine<'_> {
    Box::pin(async move {
        let f = Figures::gather(session).await;
        let net = f.total.saturating_sub(f.startup);
        let keys = f.keys();
        let dataset = f.total.saturating_sub(f.overhead());
        let mut out = vec![
            field("peak.allocated", int(f.peak)),
            field("total.allocated", int(f.total)),
            field("startup.allocated", int(f.startup)),
            field("replication.backlog", int(0)),
            field("clients.slaves", int(0)),
            field("clients.normal", int(0)),
            field("cluster.links", int(0)),
            field("aof.buffer", int(0)),
            field("lua.caches", int(0)),
            field("functions.caches", int(0)),
        ];
        for &(db, _, overhead) in &f.dbs {
            let name = Reply::Bulk(Bytes::from(format!("db.{db}")));
            let table = Reply::Map(vec![
                field("overhead.hashtable.main", int(overhead)),
                // Expiry times live in the entries: there is no second table.
                field("overhead.hashtable.expires", int(0)),
                field("overhead.hashtable.slot-to-keys", int(0)),
            ]);
            out.push((name, table));
        }
        let rss = f.rss;
        out.extend([
            field("overhead.total", int(f.overhead())),
            field("keys.count", int(keys)),
            field(
                "keys.bytes-per-key",
                int(net.checked_div(keys).unwrap_or(0)),
            ),
            field("dataset.bytes", int(dataset)),
            field("dataset.percentage", ratio(dataset * 100, net)),
            field("peak.percentage", ratio(f.total * 100, f.peak)),
            field("allocator.allocated", int(f.total)),
            field("allocator.active", int(f.active)),
            field("allocator.resident", int(f.resident)),
            field("allocator-fragmentation.ratio", ratio(f.active, f.total)),
            field(
                "allocator-fragmentation.bytes",
                int(f.active.saturating_sub(f.total)),
            ),
            field("allocator-rss.ratio", ratio(f.resident, f.active)),
            field(
                "allocator-rss.bytes",
                int(f.resident.saturating_sub(f.active)),
            ),
            field("rss-overhead.ratio", ratio(rss, f.resident)),
            field("rss-overhead.bytes", int(rss.saturating_sub(f.resident))),
            field("fragmentation", ratio(rss, f.total)),
            field("fragmentation.bytes", int(rss.saturating_sub(f.total))),
        ]);
        Ok(Reply::Map(out))
    })
}

/// MEMORY DOCTOR: Redis's report for the conditions ringkv can judge (an empty instance, a
/// past peak, RSS far above the accounted memory).
pub fn doctor(session: &mut Session, _args: super::Args) -> Routine<'_> {
    Box::pin(async move {
        let f = Figures::gather(session).await;
        let text = doctor_report(&f);
        Ok(Reply::Verbatim("txt", Bytes::from(text)))
    })
}

fn doctor_report(f: &Figures) -> String {
    if f.total < EMPTY_BELOW {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let big_peak = f.peak as f32 / f.total as f32 > 1.5;
    let frag = f.rss as f32 / f.total as f32;
    let high_frag = frag > 1.4 && f.rss.saturating_sub(f.total) > 10 << 20;
    if !big_peak && !high_frag {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    if big_peak {
        s.push_str(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
    }
    if high_frag {
        s.push_str(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"mimalloc\".\n\n");
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// MEMORY MALLOC-STATS: Redis's reply for an allocator other than jemalloc.
pub fn malloc_stats(_session: &mut Session, _args: &mut super::Args) -> CmdResult {
    Ok(Reply::Bulk(Bytes::from_static(
        b"Stats not supported for the current allocator",
    )))
}

/// MEMORY PURGE: asks mimalloc to return the memory it holds free to the system.
pub fn purge(_session: &mut Session, _args: &mut super::Args) -> CmdResult {
    extern "C" {
        fn mi_collect(force: bool);
    }
    // SAFETY: mi_collect takes a flag and only walks mimalloc's own heaps (the global
    // allocator of this process, linked through the mimalloc crate).
    unsafe { mi_collect(true) };
    Ok(Reply::Simple("OK"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(total: u64, peak: u64, rss: u64) -> Figures {
        Figures {
            total,
            peak,
            startup: 0,
            active: total,
            resident: rss,
            dbs: Vec::new(),
            rss,
        }
    }

    #[test]
    fn doctor_reports_as_redis_words_them() {
        assert!(doctor_report(&figures(1 << 20, 1 << 20, 1 << 20))
            .starts_with("Hi Sam, this instance is empty"));
        assert!(doctor_report(&figures(64 << 20, 64 << 20, 64 << 20))
            .starts_with("Hi Sam, I can't find"));
        let peak = doctor_report(&figures(64 << 20, 128 << 20, 64 << 20));
        assert!(peak.contains(" * Peak memory:") && !peak.contains("High total RSS"));
        let rss = doctor_report(&figures(64 << 20, 64 << 20, 256 << 20));
        assert!(rss.contains(" * High total RSS:") && rss.ends_with("I want to help you.\n"));
    }
}
