//! Maxmemory: each shard keeps its accounted memory (see `shard::memory`) within its share of
//! `maxmemory`, evicting keys chosen by sampling as `maxmemory-policy` says. Eviction weighs
//! what Redis weighs, `used_memory` less what it does not count (the AOF's buffer): the
//! allocator's figure is walked now and then (every maintenance tick while there is a limit,
//! every INFO, every CONFIG SET) and what it holds beyond the shards' datasets (connection
//! buffers, tables, start-up memory) is published as the overhead; a share is then the limit
//! less that overhead, divided by the number of shards. A shard that stays over its share with nothing it may evict is
//! stuck, and publishes its excess: the other shards then cover it, evicting their own keys
//! while the total is over the limit (Redis evicts from the whole dataset, so a big key on one
//! shard evicts a volatile key on another). The server is out of memory while some shard is
//! stuck and the total is over the limit; commands flagged `denyoom` are then refused with
//! Redis's OOM error (the check is in the dispatcher, which also asks every shard to evict
//! before a command while a stuck shard's excess is not covered: [`cover_needed`]).
//! Depends on `shard` and on the pub/sub registry for `evicted` events; knows nothing of
//! connections.

use std::sync::atomic::{
    AtomicU32, AtomicU64, AtomicU8,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::db::Key;
use super::{record, Shard};

/// Redis's OOM error text.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// How eviction picks its victims (`maxmemory-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// The policy named by Redis's option value.
    pub fn parse(name: &str) -> Option<Policy> {
        Some(match name {
            "noeviction" => Policy::NoEviction,
            "allkeys-lru" => Policy::AllKeysLru,
            "volatile-lru" => Policy::VolatileLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "volatile-lfu" => Policy::VolatileLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => return None,
        })
    }

    fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    const ALL: [Policy; 8] = [
        Policy::NoEviction,
        Policy::AllKeysLru,
        Policy::VolatileLru,
        Policy::AllKeysLfu,
        Policy::VolatileLfu,
        Policy::AllKeysRandom,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
    ];
}

static MAXMEMORY: AtomicU64 = AtomicU64::new(0);
static POLICY: AtomicU8 = AtomicU8::new(0);
static SAMPLES: AtomicU32 = AtomicU32::new(5);
/// Shards currently over their budget with nothing left to evict.
static OUT_OF_MEMORY: AtomicU32 = AtomicU32::new(0);
/// `used_memory` beyond the shards' datasets, less what eviction does not count, as last
/// weighed (see [`weigh`]).
static OVERHEAD: AtomicU64 = AtomicU64::new(0);
/// What stuck shards hold beyond their shares: the others cover it.
static STUCK_EXCESS: AtomicU64 = AtomicU64::new(0);
/// Number of shards, as the shards know it.
static SHARDS: AtomicU32 = AtomicU32::new(1);

/// Each shard's accounted memory as it last published it, on a cache line of its own: while
/// there is a limit every write that changed it stores it (a plain store, no shared counter),
/// so the sum is exact when [`weigh`] subtracts it from the allocator's figure.
static DATASETS: OnceLock<Box<[Dataset]>> = OnceLock::new();

#[repr(align(128))]
#[derive(Default)]
struct Dataset {
    used: AtomicU64,
    /// The [`LIMIT_SET`] count this figure was published under.
    limit: AtomicU64,
}

/// How many times a limit was set where there was none: a shard's dataset published before
/// (none is published without a limit) is stale until the shard publishes again.
static LIMIT_SET: AtomicU64 = AtomicU64::new(0);

/// The shards' published datasets (sized by the first shard that publishes).
fn datasets(shards: usize) -> &'static [Dataset] {
    DATASETS.get_or_init(|| (0..shards.max(1)).map(|_| Dataset::default()).collect())
}

/// Whether every shard published its dataset since the limit was set (the sum is then
/// whole: weighing against a partial one would count the rest as overhead and evict it).
fn datasets_current() -> bool {
    let limit = LIMIT_SET.load(Relaxed);
    DATASETS
        .get()
        .is_some_and(|all| all.iter().all(|d| d.limit.load(Acquire) == limit))
}

/// The sum of the shards' datasets as published (0 before any shard published).
fn dataset_total() -> u64 {
    DATASETS
        .get()
        .map_or(0, |all| all.iter().map(|d| d.used.load(Relaxed)).sum())
}

/// A rise of the overhead not yet counted: when it was first read, and the least reading
/// since (see [`next_overhead`]).
static RISE: Mutex<Option<(Instant, u64)>> = Mutex::new(None);

/// How long a rise of the overhead must last before eviction counts it.
const RISE_CONFIRM: Duration = Duration::from_millis(100);

/// Takes a reading of the allocator (`used_memory`) and of what eviction does not count
/// (`not_counted`, Redis's `mem_not_counted_for_evict`), and publishes the difference with
/// the shards' datasets: each share is lowered by its part of it. Without a limit the
/// datasets are not published, and the overhead is cleared.
///
/// A rise counts only once it has lasted (see [`next_overhead`]).
pub fn weigh(used_memory: u64, not_counted: u64) {
    let mut rise = RISE.lock().unwrap_or_else(|e| e.into_inner());
    let overhead = if MAXMEMORY.load(Relaxed) == 0 {
        *rise = None;
        0
    } else {
        if !datasets_current() {
            // A limit was just set, and not every shard has published yet (CONFIG SET
            // publishes them all before it weighs; so does each shard's tick): wait for them.
            return;
        }
        let reading = used_memory
            .saturating_sub(dataset_total())
            .saturating_sub(not_counted);
        next_overhead(OVERHEAD.load(Relaxed), reading, &mut rise, Instant::now())
    };
    OVERHEAD.store(overhead, Relaxed);
}

/// The overhead after `reading` taken at `now`. The first reading under a limit is taken as
/// it is. A rise beyond the noise counts only once it has lasted [`RISE_CONFIRM`], and then
/// as the least reading since it began: replies in flight (a burst of tracking
/// invalidations grows the reply buffers of the clients that track the evicted keys for the
/// moment of a write) must not evict keys, whose invalidations would grow the buffers again
/// (the feedback loop Redis's maxmemory test guards against; Redis writes them out before
/// its next command evicts). Buffers that stay (clients that do not read) are counted a
/// moment later. A fall is taken at once.
fn next_overhead(
    running: u64,
    reading: u64,
    rise: &mut Option<(Instant, u64)>,
    now: Instant,
) -> u64 {
    if running == 0 || reading <= running.saturating_add(READING_NOISE) {
        *rise = None;
        return smoothed(running, reading);
    }
    match rise {
        None => {
            *rise = Some((now, reading));
            running
        }
        Some((since, least)) => {
            *least = (*least).min(reading);
            if now.duration_since(*since) < RISE_CONFIRM {
                return running;
            }
            let lasted = *least;
            *rise = None;
            smoothed(running, lasted)
        }
    }
}

/// Readings closer than this to the running overhead are averaged into it.
const READING_NOISE: u64 = 16 * 1024;

/// The overhead after `reading`: the allocator counts a block freed by another thread as in
/// use until its owner collects it, so with several threads successive readings scatter by
/// a few KB around the true figure; readings within [`READING_NOISE`] are averaged in (an
/// eighth each), larger moves (connections, buffers) are taken at once, as is the first.
fn smoothed(running: u64, reading: u64) -> u64 {
    if running == 0 || reading.abs_diff(running) > READING_NOISE {
        reading
    } else {
        running - running / 8 + reading / 8
    }
}

/// Whether there is a limit (`maxmemory` not 0).
pub fn limited() -> bool {
    MAXMEMORY.load(Relaxed) != 0
}

/// Whether a small integer value is held as Redis's shared object (OBJECT REFCOUNT answers
/// its refcount then): always without a limit, never under an LRU or LFU policy, whose
/// records each need their own access clock (Redis's `MAXMEMORY_FLAG_NO_SHARED_INTEGERS`).
pub fn shares_integers() -> bool {
    let policy = Policy::ALL[POLICY.load(Relaxed) as usize];
    MAXMEMORY.load(Relaxed) == 0
        || !matches!(
            policy,
            Policy::AllKeysLru | Policy::VolatileLru | Policy::AllKeysLfu | Policy::VolatileLfu
        )
}

/// What a shard last published of its memory: its part of the figures above.
#[derive(Default)]
pub struct Standing {
    stuck: bool,
    used: u64,
    /// The [`LIMIT_SET`] count `used` was published under.
    limit: u64,
    excess: u64,
}

impl Standing {
    /// Nothing published: not stuck, no used memory or excess in the totals.
    fn is_clear(&self) -> bool {
        !self.stuck && self.used == 0 && self.excess == 0
    }
}

/// Moves a shard's part of `total` from `*mine` to `now`.
fn publish(total: &AtomicU64, mine: &mut u64, now: u64) {
    if now > *mine {
        total.fetch_add(now - *mine, Relaxed);
    } else if now < *mine {
        total.fetch_sub(*mine - now, Relaxed);
    }
    *mine = now;
}

/// Whether the shards should be asked to evict before the next command: a stuck shard's
/// excess keeps the total over the limit, and some shard is not stuck yet (it may cover).
/// One relaxed load when nothing is stuck.
pub fn cover_needed() -> bool {
    STUCK_EXCESS.load(Relaxed) > 0
        && OUT_OF_MEMORY.load(Relaxed) < SHARDS.load(Relaxed)
        && over_limit()
}

fn over_limit() -> bool {
    let max = MAXMEMORY.load(Relaxed);
    max != 0 && dataset_total() + OVERHEAD.load(Relaxed) > max
}

/// Makes `maxmemory` (bytes, 0 = no limit), the policy, the sample count and the LFU
/// parameters (`lfu-log-factor`, `lfu-decay-time`) current.
pub fn configure(maxmemory: u64, policy: &str, samples: u32, lfu: (u32, u32)) {
    let policy = Policy::parse(policy).unwrap_or(Policy::NoEviction);
    super::lfu::configure(policy.is_lfu(), lfu.0, lfu.1);
    let index = Policy::ALL.iter().position(|p| *p == policy).unwrap_or(0);
    if maxmemory != 0 && MAXMEMORY.load(Relaxed) == 0 {
        // A new limit: the datasets published before are stale, and the first weighing
        // under it is taken as it is.
        LIMIT_SET.fetch_add(1, Relaxed);
        OVERHEAD.store(0, Relaxed);
    }
    MAXMEMORY.store(maxmemory, Relaxed);
    POLICY.store(index as u8, Relaxed);
    SAMPLES.store(samples.clamp(1, 64), Relaxed);
}

/// True while some shard is over its budget and cannot evict, and the total is over the
/// limit (denyoom commands are then refused).
pub fn out_of_memory() -> bool {
    OUT_OF_MEMORY.load(Relaxed) > 0 && over_limit()
}

/// One write in this many re-samples a large collection's size.
const LARGE_REFRESH: u64 = 16;

/// Longest a single eviction pass runs; what is left is evicted by the next write or tick.
const PASS_LIMIT: Duration = Duration::from_millis(20);

impl Shard {
    /// Bytes this shard accounts for: its fixed structures and every database's entries.
    pub fn used_memory(&self) -> usize {
        std::mem::size_of::<Shard>()
            + self.dbs.len() * std::mem::size_of::<super::Db>()
            + self.dbs.iter().map(|db| db.used()).sum::<usize>()
    }

    /// After a write command: re-estimates the sizes of keys changed in place (when the
    /// command took an entry for change; stores and removals were accounted as they ran), and
    /// keeps the shard within maxmemory. A large collection is re-sampled on one write in
    /// `LARGE_REFRESH` on average: its figure lags a few writes, its writes stay cheap.
    /// `succeeded` false (an error reply) means nothing changed; a command that succeeded
    /// without signalling its changes (see `Shard::modified`) has each of `keys` signalled.
    pub fn after_write<'k>(&mut self, keys: impl Iterator<Item = &'k [u8]>, succeeded: bool) {
        let signal =
            succeeded && !self.take_signalled() && (self.is_watched() || self.tracking_active());
        let refresh = std::mem::take(&mut self.changed_in_place);
        if refresh || signal {
            for key in keys {
                if refresh {
                    let large = self.random().is_multiple_of(LARGE_REFRESH);
                    self.dbs[self.db].refresh_size(key, large);
                }
                if signal {
                    self.touch_watched_guess(key);
                    self.invalidate(key);
                }
            }
        }
        self.enforce_maxmemory();
    }

    /// Evicts until the shard fits its share of maxmemory, and while other shards are stuck,
    /// until the total fits too (or the pass's time is up); then publishes its standing.
    /// Cheap when there is no limit or it fits.
    pub fn enforce_maxmemory(&mut self) {
        let max = MAXMEMORY.load(Relaxed);
        if max == 0 && self.standing.is_clear() {
            // No limit, and nothing of this shard's is published: nothing to do, per write.
            return;
        }
        // Nothing is evicted inside a transaction or a script (Redis's
        // isSafeToPerformEvictions): its commands see the data they were queued against, and
        // its propagated block holds no DEL of eviction; the next write or tick evicts.
        if self.in_atomic_unit() {
            return;
        }
        let share = max.saturating_sub(OVERHEAD.load(Relaxed)) / self.shards.max(1) as u64;
        let mut stuck = false;
        // A client pause keeps the dataset as it is: no eviction, and no OOM refusal either.
        let frozen = super::db::frozen(self.now_ms);
        if max != 0 && !frozen && self.over_budget(share, max) {
            let policy = Policy::ALL[POLICY.load(Relaxed) as usize];
            let started = Instant::now();
            let current = self.db;
            let mut evicted = 0u32;
            while self.over_budget(share, max) {
                if policy == Policy::NoEviction || !self.evict_one(policy) {
                    stuck = true;
                    break;
                }
                self.publish_dataset();
                evicted += 1;
                if evicted.is_multiple_of(32) && started.elapsed() >= PASS_LIMIT {
                    break;
                }
            }
            self.db = current;
        }
        self.publish_standing(max, share, stuck);
    }

    /// Over this shard's share, or covering for stuck shards while the total is over `max`.
    fn over_budget(&self, share: u64, max: u64) -> bool {
        let used = self.used_memory() as u64;
        if used > share {
            return true;
        }
        let others = STUCK_EXCESS
            .load(Relaxed)
            .saturating_sub(self.standing.excess);
        others > 0 && used > share.saturating_sub(others) && {
            let total = dataset_total().saturating_sub(self.standing.used) + used;
            total + OVERHEAD.load(Relaxed) > max
        }
    }

    /// Publishes this shard's dataset while there is a limit (a store on its own line),
    /// and clears it without one.
    pub fn publish_dataset(&mut self) {
        let used = if MAXMEMORY.load(Relaxed) == 0 {
            0
        } else {
            self.used_memory() as u64
        };
        self.store_dataset(used);
    }

    fn store_dataset(&mut self, used: u64) {
        let limit = LIMIT_SET.load(Relaxed);
        if used != self.standing.used || limit != self.standing.limit {
            self.standing.used = used;
            self.standing.limit = limit;
            let all = datasets(self.shards);
            let mine = &all[self.id % all.len()];
            mine.used.store(used, Relaxed);
            mine.limit.store(limit, Release);
        }
    }

    /// Publishes this shard's figures: its dataset (exact after every write while there is
    /// a limit), whether it is stuck and by how much.
    fn publish_standing(&mut self, max: u64, share: u64, stuck: bool) {
        let (used, excess) = if max == 0 {
            (0, 0)
        } else {
            let shards = self.shards.max(1) as u32;
            if SHARDS.load(Relaxed) != shards {
                SHARDS.store(shards, Relaxed);
            }
            let used = self.used_memory() as u64;
            (used, if stuck { used.saturating_sub(share) } else { 0 })
        };
        if stuck != self.standing.stuck {
            self.standing.stuck = stuck;
            if stuck {
                OUT_OF_MEMORY.fetch_add(1, Relaxed);
            } else {
                OUT_OF_MEMORY.fetch_sub(1, Relaxed);
            }
        }
        if excess != self.standing.excess {
            publish(&STUCK_EXCESS, &mut self.standing.excess, excess);
        }
        self.store_dataset(used);
    }

    /// Evicts the best of a few sampled keys; false when no key may be evicted.
    fn evict_one(&mut self, policy: Policy) -> bool {
        let samples = SAMPLES.load(Relaxed) as usize;
        let now = self.now_ms;
        let mut best: Option<(u64, usize, Key)> = None;
        for db in 0..self.dbs.len() {
            let count = if policy.volatile_only() {
                self.dbs[db].volatile()
            } else {
                self.dbs[db].len()
            };
            if count == 0 {
                continue;
            }
            for _ in 0..samples {
                let random = self.random();
                let Some((key, field, expire_at)) = self.sample(db, policy.volatile_only()) else {
                    break;
                };
                let clock = self.clock_secs();
                // An expired key goes first: it is dead already.
                let score = match policy {
                    _ if expire_at != 0 && expire_at <= now => 0,
                    Policy::AllKeysLru | Policy::VolatileLru => {
                        u64::MAX - record::idle_at(field, clock) as u64
                    }
                    Policy::AllKeysLfu | Policy::VolatileLfu => {
                        1 + super::lfu::counter(field, clock) as u64
                    }
                    Policy::VolatileTtl => expire_at,
                    _ => random,
                };
                if best.as_ref().is_none_or(|(s, _, _)| score < *s) {
                    best = Some((score, db, key));
                }
            }
        }
        let Some((_, db, key)) = best else {
            return false;
        };
        self.db = db;
        if self.dbs[db].remove(&key).is_none() {
            return false;
        }
        self.touch_watched(&key);
        self.invalidate(&key);
        self.journal_in(db, &[b"DEL", &key]);
        self.stats.evicted_keys += 1;
        self.emit_in(super::events::EVICTED, "evicted", db, &key);
        true
    }

    /// A random key of `db` among this shard's slots (only keys with a TTL when `volatile`),
    /// with its access field and expiry.
    fn sample(&mut self, db: usize, volatile: bool) -> Option<(Key, u32, u64)> {
        let owned = self.owned.clone();
        let span = owned.len();
        if span == 0 {
            return None;
        }
        let offset = (self.random() % span as u64) as usize;
        let pick = self.random();
        let db = &self.dbs[db];
        let slot = (0..span)
            .map(|i| owned.start + (offset + i) % span)
            .find(|&s| {
                if volatile {
                    db.slot_volatile(s) > 0
                } else {
                    db.slot_len(s) > 0
                }
            })?;
        let candidates = if volatile {
            db.slot_volatile(slot)
        } else {
            db.slot_len(slot)
        };
        let nth = (pick % candidates as u64) as usize;
        db.slot_entries(slot)
            .filter(|r| !volatile || r.has_expiry())
            .nth(nth)
            .map(|r| (Key::copy_from_slice(r.key()), r.touched(), r.expire_at()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_overhead_moves_are_averaged_large_ones_taken() {
        assert_eq!(smoothed(0, 5000), 5000);
        let near = smoothed(1_000_000, 1_008_000);
        assert!(near > 1_000_000 && near <= 1_001_000, "{near}");
        assert_eq!(smoothed(1_000_000, 1_100_000), 1_100_000);
        assert_eq!(smoothed(1_000_000, 900_000), 900_000);
    }

    #[test]
    fn a_rise_counts_once_it_has_lasted() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut rise = None;
        // The first reading is taken as it is.
        assert_eq!(next_overhead(0, 500_000, &mut rise, at(0)), 500_000);
        // A spike, gone by the next reading: never counted.
        assert_eq!(next_overhead(500_000, 900_000, &mut rise, at(10)), 500_000);
        assert_eq!(next_overhead(500_000, 501_000, &mut rise, at(20)), 500_125);
        assert!(rise.is_none());
        // A rise that stays counts once it has lasted, as the least reading since.
        assert_eq!(next_overhead(500_000, 900_000, &mut rise, at(30)), 500_000);
        assert_eq!(next_overhead(500_000, 800_000, &mut rise, at(60)), 500_000);
        assert_eq!(next_overhead(500_000, 950_000, &mut rise, at(130)), 800_000);
        // A fall is taken at once.
        assert_eq!(next_overhead(800_000, 400_000, &mut rise, at(140)), 400_000);
    }

    #[test]
    fn policies_parse_by_redis_names() {
        assert_eq!(Policy::parse("allkeys-lfu"), Some(Policy::AllKeysLfu));
        assert_eq!(Policy::parse("volatile-lfu"), Some(Policy::VolatileLfu));
        assert!(Policy::VolatileLfu.volatile_only() && Policy::VolatileLfu.is_lfu());
        assert!(!Policy::AllKeysLru.is_lfu());
        assert_eq!(Policy::parse("bogus"), None);
        assert!(Policy::VolatileTtl.volatile_only());
        assert!(!Policy::AllKeysRandom.volatile_only());
    }
}
