//! The stream type: entries keyed by `ms-seq` IDs in ascending order, the stream's counters
//! (last ID, entries added, max deleted ID, recorded first ID) and its consumer groups with
//! their pending-entries lists. Entries are grouped into nodes the way Redis packs them into
//! listpacks (`stream-node-max-entries` / `-bytes`), because approximate trimming (`~`) only
//! ever removes whole nodes and XINFO reports the node count. Pure data structure: no shard,
//! no commands, no replies.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::ops::Bound;

use bytes::Bytes;

/// An entry ID: milliseconds and a sequence number, ordered as a pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The next ID, None past the last possible one.
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => self.ms.checked_add(1).map(|ms| StreamId::new(ms, 0)),
        }
    }

    /// The previous ID, None before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => self.ms.checked_sub(1).map(|ms| StreamId::new(ms, u64::MAX)),
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An entry's field/value pairs, flattened (`f1 v1 f2 v2 ...`).
pub type Fields = Box<[Bytes]>;

/// How big a node may grow before a new one starts (CONFIG stream-node-max-*; 0 = no limit).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub entries: usize,
    pub bytes: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            entries: 100,
            bytes: 4096,
        }
    }
}

/// Redis's hard cap on a stream listpack's size when `stream-node-max-bytes` is 0 or larger.
const NODE_MAX_BYTES: usize = 1 << 30;

/// One listpack node as Redis would hold it: its entries are a contiguous ID range.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    /// Entries ever appended, deleted ones included (Redis counts both against the limit).
    appended: usize,
    /// Entries still present.
    live: usize,
    /// Estimated listpack bytes.
    bytes: usize,
    /// ID of the last entry appended.
    last: StreamId,
}

/// A pending entry: delivered to a consumer, not acknowledged yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub consumer: Bytes,
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    /// Unix ms of its last interaction (any read attempt, claim, creation).
    pub seen_time: u64,
    /// Unix ms of its last successful read or claim; None before the first.
    pub active_time: Option<u64>,
    /// The IDs pending for it (each also in the group's PEL, naming it).
    pub pending: BTreeSet<StreamId>,
}

impl Consumer {
    fn new(now: u64) -> Self {
        Consumer {
            seen_time: now,
            active_time: None,
            pending: BTreeSet::new(),
        }
    }
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical count of entries read; None when unknown (Redis's -1).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    fn new(last_id: StreamId, entries_read: Option<u64>) -> Self {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Adds `name` when absent; true when it was created.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers
            .insert(Bytes::copy_from_slice(name), Consumer::new(now));
        true
    }

    /// Removes a consumer and its pending entries; the number it had pending, None if absent.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pending {
            self.pel.remove(id);
        }
        Some(consumer.pending.len())
    }

    /// Drops `id` from the PEL and its consumer's list; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pending.remove(&id);
        }
        true
    }

    /// Makes `consumer` (which must exist) the owner of pending `id`, creating the entry
    /// when absent; returns the entry to update its counters.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, now: u64) -> &mut Pending {
        let previous = self.pel.get(&id).map(|p| p.consumer.clone());
        if let Some(old) = previous.filter(|old| old != consumer) {
            if let Some(c) = self.consumers.get_mut(&old) {
                c.pending.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
        let nack = self.pel.entry(id).or_insert_with(|| Pending {
            consumer: consumer.clone(),
            delivery_time: now,
            delivery_count: 1,
        });
        nack.consumer = consumer.clone();
        nack
    }
}

/// A stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    entries: BTreeMap<StreamId, Fields>,
    nodes: VecDeque<Node>,
    pub last_id: StreamId,
    /// First entry's ID as recorded (0-0 when empty).
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Bytes, Group>,
    /// Accounted bytes of the entries (fields plus per-entry overhead).
    entry_bytes: usize,
}

/// Per-entry overhead beyond its field bytes: the map node share and the box.
const ENTRY_OVERHEAD: usize = 64;
/// Per-field overhead: the `Bytes` handle.
const FIELD_OVERHEAD: usize = std::mem::size_of::<Bytes>();
const PENDING_COST: usize = 96;
const CONSUMER_COST: usize = 96;
const GROUP_COST: usize = 160;

fn fields_bytes(fields: &[Bytes]) -> usize {
    fields
        .iter()
        .map(|f| f.len() + FIELD_OVERHEAD)
        .sum::<usize>()
        + ENTRY_OVERHEAD
}

/// What an entry adds to its listpack node, roughly as Redis encodes it.
fn node_bytes(fields: &[Bytes]) -> usize {
    fields.iter().map(|f| f.len() + 2).sum::<usize>() + 6
}

/// Why an append was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not above the stream's last ID.
    NotGreater,
}

/// How to trim.
#[derive(Clone, Copy, Debug)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

impl Stream {
    /// Records that `consumer` of `group` acted at `now` (XINFO's active-time); nothing when
    /// either is gone.
    pub fn mark_active(&mut self, group: &[u8], consumer: &[u8], now: u64) {
        if let Some(c) = self
            .groups
            .get_mut(group)
            .and_then(|g| g.consumers.get_mut(consumer))
        {
            c.active_time = Some(now);
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of listpack nodes (XINFO radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The entry with `id`.
    pub fn get(&self, id: StreamId) -> Option<&Fields> {
        self.entries.get(&id)
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.entries.contains_key(&id)
    }

    /// First and last entries.
    pub fn first(&self) -> Option<(StreamId, &Fields)> {
        self.entries.iter().next().map(|(id, f)| (*id, f))
    }

    pub fn last(&self) -> Option<(StreamId, &Fields)> {
        self.entries.iter().next_back().map(|(id, f)| (*id, f))
    }

    /// Entries with `start <= id <= end`, ascending (or descending when `rev`), at most
    /// `count` (0: no limit). Empty when `start > end`.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<(StreamId, Fields)> {
        if start > end {
            return Vec::new();
        }
        let limit = if count == 0 { usize::MAX } else { count };
        let iter = self.entries.range(start..=end);
        let pick = |(id, f): (&StreamId, &Fields)| (*id, f.clone());
        if rev {
            iter.rev().take(limit).map(pick).collect()
        } else {
            iter.take(limit).map(pick).collect()
        }
    }

    /// The ID a new entry gets: `explicit` (with `seq` None for `ms-*`), or the next one after
    /// the last ID at clock `now_ms`.
    pub fn next_id(
        &self,
        explicit: Option<(u64, Option<u64>)>,
        now_ms: u64,
    ) -> Result<StreamId, AppendError> {
        let id = match explicit {
            Some((ms, Some(seq))) => StreamId::new(ms, seq),
            Some((ms, None)) if ms == self.last_id.ms => {
                let seq = self
                    .last_id
                    .seq
                    .checked_add(1)
                    .ok_or(AppendError::NotGreater)?;
                StreamId::new(ms, seq)
            }
            Some((ms, None)) => StreamId::new(ms, 0),
            None if now_ms > self.last_id.ms => StreamId::new(now_ms, 0),
            None => self.last_id.next().ok_or(AppendError::NotGreater)?,
        };
        if id <= self.last_id {
            return Err(AppendError::NotGreater);
        }
        Ok(id)
    }

    /// Appends an entry with `id` (from [`Stream::next_id`]).
    pub fn append(&mut self, id: StreamId, fields: Fields, limits: NodeLimits) {
        let cost = node_bytes(&fields);
        let max_bytes = match limits.bytes {
            0 => NODE_MAX_BYTES,
            b => b.min(NODE_MAX_BYTES),
        };
        let fits = self.nodes.back().is_some_and(|n| {
            n.bytes + cost < max_bytes && (limits.entries == 0 || n.appended < limits.entries)
        });
        if fits {
            if let Some(n) = self.nodes.back_mut() {
                n.appended += 1;
                n.live += 1;
                n.bytes += cost;
                n.last = id;
            }
        } else {
            self.nodes.push_back(Node {
                appended: 1,
                live: 1,
                bytes: cost + 16,
                last: id,
            });
        }
        self.entry_bytes += fields_bytes(&fields);
        self.entries.insert(id, fields);
        self.entries_added += 1;
        self.last_id = id;
        if self.entries.len() == 1 {
            self.first_id = id;
        }
    }

    /// The entries node by node, as they are packed (an RDB file stores one listpack each).
    pub fn nodes(&self) -> impl Iterator<Item = impl Iterator<Item = (StreamId, &Fields)>> + '_ {
        let mut after: Option<StreamId> = None;
        self.nodes.iter().map(move |n| {
            let from = after.map_or(Bound::Unbounded, Bound::Excluded);
            after = Some(n.last);
            self.entries
                .range((from, Bound::Included(n.last)))
                .map(|(id, f)| (*id, f))
        })
    }

    /// Adds a node holding `entries` as a loaded file packed them (ascending, all above the
    /// entries already present: the loader checks); the counters are the loader's to set.
    pub fn push_node(&mut self, entries: Vec<(StreamId, Fields)>) {
        let Some(&(last, _)) = entries.last() else {
            return;
        };
        let bytes = entries.iter().map(|(_, f)| node_bytes(f)).sum::<usize>() + 16;
        self.nodes.push_back(Node {
            appended: entries.len(),
            live: entries.len(),
            bytes,
            last,
        });
        for (id, fields) in entries {
            self.entry_bytes += fields_bytes(&fields);
            self.entries.insert(id, fields);
        }
    }

    /// Index of the node holding `id` (nodes hold ascending, contiguous ID ranges).
    fn node_of(&self, id: StreamId) -> Option<usize> {
        let i = self.nodes.partition_point(|n| n.last < id);
        (i < self.nodes.len()).then_some(i)
    }

    /// Removes one entry, keeping nodes and byte counts right; the caller updates IDs.
    fn remove_entry(&mut self, id: StreamId) -> bool {
        let Some(fields) = self.entries.remove(&id) else {
            return false;
        };
        self.entry_bytes = self.entry_bytes.saturating_sub(fields_bytes(&fields));
        if let Some(i) = self.node_of(id) {
            let node = &mut self.nodes[i];
            node.live = node.live.saturating_sub(1);
            if node.live == 0 {
                self.nodes.remove(i);
            }
        }
        true
    }

    /// XDEL: removes the entries with these IDs; returns how many existed.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        let mut deleted = 0;
        for &id in ids {
            if self.remove_entry(id) {
                deleted += 1;
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                if id == self.first_id {
                    self.first_id = self.first().map_or(StreamId::MIN, |(id, _)| id);
                }
            }
        }
        if self.entries.is_empty() {
            self.first_id = StreamId::MIN;
        }
        deleted
    }

    /// XTRIM / XADD's trimming, as Redis's streamTrim: whole nodes first; with `approx` it
    /// stops at the first node it cannot drop whole; `limit` (0: none) caps the entries
    /// removed. Returns how many entries were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: usize) -> usize {
        let mut removed = 0usize;
        while let Some(node) = self.nodes.front() {
            let len = self.entries.len();
            if let Trim::MaxLen(max) = how {
                if len as u64 <= max {
                    break;
                }
            }
            if limit != 0 && removed + node.live > limit {
                break;
            }
            let whole = match how {
                Trim::MaxLen(max) => (len - node.live) as u64 >= max,
                Trim::MinId(min) => node.last < min,
            };
            if whole {
                let (live, node_entry_ids) = (node.live, self.first_ids(node.live));
                for id in node_entry_ids {
                    if let Some(f) = self.entries.remove(&id) {
                        self.entry_bytes = self.entry_bytes.saturating_sub(fields_bytes(&f));
                    }
                }
                self.nodes.pop_front();
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            // Entries out of the first node, one by one, until the condition holds.
            let ids = self.first_ids(node.live);
            for id in ids {
                let done = match how {
                    Trim::MaxLen(max) => self.entries.len() as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if done {
                    break;
                }
                self.remove_entry(id);
                removed += 1;
            }
            break;
        }
        if removed > 0 {
            self.first_id = self.first().map_or(StreamId::MIN, |(id, _)| id);
        }
        removed
    }

    fn first_ids(&self, n: usize) -> Vec<StreamId> {
        self.entries.keys().take(n).copied().collect()
    }

    /// Creates a group; false when the name is taken.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, read: Option<u64>) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups
            .insert(Bytes::copy_from_slice(name), Group::new(last_id, read));
        true
    }

    /// Redis's streamEstimateDistanceFromFirstEverEntry: the logical read counter of `id`,
    /// None when it cannot be known.
    pub fn estimate_read(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            let before = self.entries_added.saturating_sub(self.len() as u64);
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(before),
                std::cmp::Ordering::Equal => return Some(before + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// True when a deleted entry may lie in `start..` (Redis's streamRangeHasTombstones).
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.is_empty() || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// A group's lag (XINFO), None when it cannot be known. Negative when ENTRIESREAD set a
    /// counter past the entries added, as Redis reports it.
    pub fn lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let behind = |read: u64| (self.entries_added as i64).wrapping_sub(read as i64);
        if let Some(read) = group.entries_read {
            if !self.has_tombstones_from(group.last_id) {
                return Some(behind(read));
            }
        }
        self.estimate_read(group.last_id).map(behind)
    }

    /// Moves `group`'s last delivered ID to `id`, keeping its read counter as Redis does.
    pub fn advance_group(&mut self, name: &[u8], id: StreamId) {
        let tombstones = self.has_tombstones_from(id);
        let estimate = self.estimate_read(id);
        let added = self.entries_added;
        let Some(group) = self.groups.get_mut(name) else {
            return;
        };
        if id <= group.last_id {
            return;
        }
        match group.entries_read {
            Some(read) if !tombstones => group.entries_read = Some(read + 1),
            _ if added != 0 => group.entries_read = estimate,
            _ => {}
        }
        group.last_id = id;
    }

    /// The ID of the last entry still present, or the last ID when empty.
    pub fn last_valid_id(&self) -> StreamId {
        self.last().map_or(self.last_id, |(id, _)| id)
    }

    /// Accounted heap bytes: entries exactly as counted on the way in, groups from their sizes.
    pub fn heap_bytes(&self) -> usize {
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| {
                let consumers: usize = g
                    .consumers
                    .iter()
                    .map(|(n, c)| n.len() + CONSUMER_COST + c.pending.len() * 32)
                    .sum();
                name.len() + GROUP_COST + g.pel.len() * PENDING_COST + consumers
            })
            .sum();
        self.entry_bytes + self.nodes.len() * 48 + groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(n: usize) -> Fields {
        (0..n)
            .map(|i| Bytes::from(format!("f{i}")))
            .collect::<Vec<_>>()
            .into()
    }

    fn filled(n: u64, limits: NodeLimits) -> Stream {
        let mut s = Stream::default();
        for i in 1..=n {
            let id = s.next_id(Some((i, Some(0))), 0).unwrap();
            s.append(id, fields(2), limits);
        }
        s
    }

    #[test]
    fn ids_order_and_step() {
        assert!(StreamId::new(1, 5) < StreamId::new(2, 0));
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
        assert_eq!(StreamId::new(3, 4).to_string(), "3-4");
    }

    #[test]
    fn next_id_rules() {
        let mut s = Stream::default();
        assert_eq!(
            s.next_id(Some((0, Some(0))), 5),
            Err(AppendError::NotGreater)
        );
        assert_eq!(s.next_id(Some((0, None)), 5), Ok(StreamId::new(0, 1)));
        assert_eq!(s.next_id(None, 5), Ok(StreamId::new(5, 0)));
        s.append(StreamId::new(5, 3), fields(2), NodeLimits::default());
        assert_eq!(s.next_id(Some((5, None)), 0), Ok(StreamId::new(5, 4)));
        assert_eq!(s.next_id(None, 1), Ok(StreamId::new(5, 4)));
        assert_eq!(
            s.next_id(Some((5, Some(3))), 0),
            Err(AppendError::NotGreater)
        );
        assert_eq!(s.next_id(Some((4, None)), 0), Err(AppendError::NotGreater));
    }

    #[test]
    fn nodes_split_at_the_entry_limit() {
        let limits = NodeLimits {
            entries: 10,
            bytes: 0,
        };
        let s = filled(25, limits);
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.len(), 25);
    }

    #[test]
    fn approximate_trim_drops_whole_nodes_only() {
        let limits = NodeLimits {
            entries: 10,
            bytes: 0,
        };
        let mut s = filled(25, limits);
        assert_eq!(s.trim(Trim::MaxLen(12), true, 0), 10);
        assert_eq!(s.len(), 15);
        assert_eq!(s.trim(Trim::MaxLen(12), false, 0), 3);
        assert_eq!(s.len(), 12);
        assert_eq!(s.first_id, StreamId::new(14, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(20, 0)), false, 0), 6);
        assert_eq!(s.first().unwrap().0, StreamId::new(20, 0));
    }

    #[test]
    fn trim_limit_stops_before_a_node_too_many() {
        let limits = NodeLimits {
            entries: 10,
            bytes: 0,
        };
        let mut s = filled(30, limits);
        assert_eq!(s.trim(Trim::MaxLen(0), true, 15), 10);
        assert_eq!(s.len(), 20);
    }

    #[test]
    fn delete_tracks_first_and_max_deleted() {
        let mut s = filled(5, NodeLimits::default());
        assert_eq!(s.delete(&[StreamId::new(1, 0), StreamId::new(9, 0)]), 1);
        assert_eq!(s.first_id, StreamId::new(2, 0));
        assert_eq!(s.max_deleted_id, StreamId::new(1, 0));
        let all: Vec<StreamId> = (2..=5).map(|i| StreamId::new(i, 0)).collect();
        assert_eq!(s.delete(&all), 4);
        assert!(s.is_empty());
        assert_eq!(s.node_count(), 0);
        assert_eq!(s.first_id, StreamId::MIN);
        assert_eq!(s.last_id, StreamId::new(5, 0));
    }

    #[test]
    fn ranges_respect_bounds_and_count() {
        let s = filled(10, NodeLimits::default());
        let ids = |v: Vec<(StreamId, Fields)>| v.into_iter().map(|e| e.0.ms).collect::<Vec<_>>();
        assert_eq!(
            ids(s.range(StreamId::new(3, 0), StreamId::new(6, 0), 0, false)),
            vec![3, 4, 5, 6]
        );
        assert_eq!(
            ids(s.range(StreamId::MIN, StreamId::MAX, 2, true)),
            vec![10, 9]
        );
        assert!(s
            .range(StreamId::new(6, 0), StreamId::new(3, 0), 0, false)
            .is_empty());
    }

    #[test]
    fn groups_track_pending_and_lag() {
        let mut s = filled(3, NodeLimits::default());
        assert!(s.create_group(b"g", StreamId::MIN, None));
        assert!(!s.create_group(b"g", StreamId::MIN, None));
        s.advance_group(b"g", StreamId::new(1, 0));
        let g = s.groups.get_mut(&b"g"[..]).unwrap();
        assert!(g.create_consumer(b"alice", 7));
        let alice = Bytes::from_static(b"alice");
        g.assign(StreamId::new(1, 0), &alice, 7);
        assert_eq!(g.consumers[&alice].pending.len(), 1);
        let g = &s.groups[&b"g"[..]];
        assert_eq!(g.entries_read, Some(1));
        assert_eq!(s.lag(g), Some(2));
        let g = s.groups.get_mut(&b"g"[..]).unwrap();
        assert!(g.ack(StreamId::new(1, 0)));
        assert!(!g.ack(StreamId::new(1, 0)));
        assert_eq!(g.delete_consumer(b"alice"), Some(0));
    }

    #[test]
    fn accounted_bytes_return_to_zero_entries() {
        let mut s = filled(50, NodeLimits::default());
        assert!(s.heap_bytes() > 50 * ENTRY_OVERHEAD);
        s.trim(Trim::MaxLen(0), false, 0);
        assert_eq!(s.entry_bytes, 0);
    }
}
