//! The sorted set type: members ordered by (score, member bytes), as Redis orders them.
//!
//! Small sets live in one byte buffer laid out like Redis's listpack (`[len u8][member][score]`
//! per entry, in order, the score in 1, 5 or 9 bytes): every operation scans it, which is cheap
//! at ≤ 128 entries and costs one allocation, sized to fit, for the whole set. Larger sets (or any member longer than 64 bytes) move to a
//! skiplist with span counts, as Redis's `zskiplist`: insert, delete, rank and rank lookup in
//! O(log n), plus a member → node map for O(1) score lookups. Pure data structure: no shard,
//! no commands, no I/O.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use hashbrown::HashMap;

/// `zset-max-listpack-entries`: the most entries a compact set holds (Redis's default 128).
pub static MAX_LISTPACK_ENTRIES: AtomicUsize = AtomicUsize::new(128);
/// `zset-max-listpack-value`: the longest member a compact set holds (Redis's default 64).
pub static MAX_LISTPACK_VALUE: AtomicUsize = AtomicUsize::new(64);

/// The longest member the compact form takes: the configured limit, but never more than its
/// one-byte length field can describe.
fn max_compact_member() -> usize {
    MAX_LISTPACK_VALUE.load(Relaxed).min(u8::MAX as usize)
}

/// True when (score a, member a) sorts before (score b, member b).
fn before(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> bool {
    a_score < b_score || (a_score == b_score && a_member < b_member)
}

/// A Redis sorted set.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    Listpack(Listpack),
    /// Boxed: the compact form is what most sets are, and the set is as big as its larger form.
    Skiplist(Box<Skiplist>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl ZSet {
    /// An empty set in the compact representation.
    pub fn new() -> Self {
        ZSet {
            repr: Repr::Listpack(Listpack::default()),
        }
    }

    /// An empty set in the representation Redis picks for `entries` members of at most
    /// `longest` bytes (what ZADD and the *STORE commands create).
    pub fn with_hint(entries: usize, longest: usize) -> Self {
        if entries <= MAX_LISTPACK_ENTRIES.load(Relaxed)
            && longest <= max_compact_member()
            && MAX_LISTPACK_ENTRIES.load(Relaxed) > 0
        {
            ZSet::new()
        } else {
            ZSet {
                repr: Repr::Skiplist(Box::new(Skiplist::new())),
            }
        }
    }

    /// The name OBJECT ENCODING reports for the representation in use.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    /// Bytes held on the heap by this value (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.buf.capacity(),
            Repr::Skiplist(sl) => sl.heap_bytes(),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.len,
            Repr::Skiplist(sl) => sl.len,
        }
    }

    /// True when the set has no member (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(lp) => lp.find(member).map(|(_, s)| s),
            Repr::Skiplist(sl) => sl.score(member),
        }
    }

    /// Sets `member`'s score, adding it if absent; returns true when it was added. Moves to
    /// the skiplist when the compact form would exceed its limits.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        if let Repr::Listpack(lp) = &mut self.repr {
            if let Some((at, old)) = lp.find(member) {
                if old != score {
                    lp.remove_at(at);
                    lp.insert(member, score);
                }
                return false;
            }
            if lp.len < MAX_LISTPACK_ENTRIES.load(Relaxed) && member.len() <= max_compact_member() {
                lp.insert(member, score);
                return true;
            }
            self.convert_to_skiplist();
        }
        match &mut self.repr {
            Repr::Skiplist(sl) => sl.set(member, score),
            Repr::Listpack(_) => unreachable!("converted above"),
        }
    }

    /// Removes `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Listpack(lp) => {
                let (at, score) = lp.find(member)?;
                lp.remove_at(at);
                Some(score)
            }
            Repr::Skiplist(sl) => sl.remove(member),
        }
    }

    /// The 0-based ascending rank of `member` and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Listpack(lp) => lp
                .iter()
                .enumerate()
                .find(|(_, (m, _))| *m == member)
                .map(|(i, (_, s))| (i, s)),
            Repr::Skiplist(sl) => {
                let score = sl.score(member)?;
                Some((sl.count_while(|s, m| before(s, m, score, member)), score))
            }
        }
    }

    /// How many leading members (in ascending order) satisfy `pred`. `pred` must hold for a
    /// prefix of the order and fail for the rest (a score or lex bound), so this is the rank
    /// where the bound falls.
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.iter().take_while(|(m, s)| pred(*s, m)).count(),
            Repr::Skiplist(sl) => sl.count_while(pred),
        }
    }

    /// Members of ranks `start..end` (ascending ranks, `end` clamped to the length), in
    /// ascending order, or descending when `rev`.
    pub fn range(&self, start: usize, end: usize, rev: bool) -> Vec<(Bytes, f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        match &self.repr {
            Repr::Listpack(lp) => {
                let mut out: Vec<(Bytes, f64)> = lp
                    .iter()
                    .skip(start)
                    .take(end - start)
                    .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                    .collect();
                if rev {
                    out.reverse();
                }
                out
            }
            Repr::Skiplist(sl) => sl.range(start, end, rev),
        }
    }

    /// Every member with its score, ascending.
    pub fn entries(&self) -> Vec<(Bytes, f64)> {
        self.range(0, self.len(), false)
    }

    /// Visits every member with its score, ascending, without copying.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match &self.repr {
            Repr::Listpack(lp) => lp.iter().for_each(|(m, s)| f(m, s)),
            Repr::Skiplist(sl) => sl.for_each(|m, s| f(m, s)),
        }
    }

    /// Removes the members of ranks `start..end`; returns them in ascending order.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(Bytes, f64)> {
        let removed = self.range(start, end, false);
        match &mut self.repr {
            Repr::Listpack(lp) => {
                if !removed.is_empty() {
                    lp.remove_ranks(start, start + removed.len());
                }
            }
            Repr::Skiplist(sl) => {
                for (m, _) in &removed {
                    sl.remove(m);
                }
            }
        }
        removed
    }

    /// Moves a skiplist set back to the compact form when it fits (what Redis does for the
    /// results of ZUNIONSTORE/ZRANGESTORE and friends).
    pub fn shrink_if_small(&mut self) {
        if let Repr::Skiplist(sl) = &self.repr {
            let fits = sl.len <= MAX_LISTPACK_ENTRIES.load(Relaxed)
                && sl.longest() <= max_compact_member();
            if fits {
                let mut lp = Listpack::default();
                sl.for_each(|m, s| lp.push_back(m, s));
                self.repr = Repr::Listpack(lp);
            }
        }
    }

    fn convert_to_skiplist(&mut self) {
        if let Repr::Listpack(lp) = &self.repr {
            let mut sl = Skiplist::new();
            for (m, s) in lp.iter() {
                sl.set(m, s);
            }
            self.repr = Repr::Skiplist(Box::new(sl));
        }
    }
}

/// The compact form: entries `[len u8][member][score]` back to back, in order. A score that is
/// an integer takes one byte from -128 to 125 (the byte is the score + 128), or a 0xFE byte and
/// 4 bytes for other `i32`s; any other score is a 0xFF byte and its 8 bytes of `f64`, all
/// little-endian. The buffer grows to fit exactly (sets of this size are many and small).
#[derive(Clone, Debug, Default)]
struct Listpack {
    buf: Vec<u8>,
    len: usize,
}

const SCORE_I32: u8 = 0xFE;
const SCORE_F64: u8 = 0xFF;
/// The one-byte scores: -128 ..= 125, stored as 0 ..= 253.
const SMALL_MIN: f64 = -128.0;
const SMALL_MAX: f64 = 125.0;

/// Bytes a score takes after its tag byte.
fn score_tail(tag: u8) -> usize {
    match tag {
        SCORE_I32 => 4,
        SCORE_F64 => 8,
        _ => 0,
    }
}

/// The encoded score. A zero score is stored as +0, as Redis's listpack stores the text "0"
/// for -0 (the skiplist form keeps -0, as Redis's does).
fn encode_score(score: f64, out: &mut Vec<u8>) {
    if score.fract() == 0.0 && (SMALL_MIN..=SMALL_MAX).contains(&score) {
        out.push((score - SMALL_MIN) as u8);
    } else if score.fract() == 0.0 && score >= i32::MIN as f64 && score <= i32::MAX as f64 {
        out.push(SCORE_I32);
        out.extend_from_slice(&(score as i32).to_le_bytes());
    } else {
        out.push(SCORE_F64);
        out.extend_from_slice(&score.to_le_bytes());
    }
}

/// The score whose encoding starts at `bytes[0]`.
fn decode_score(bytes: &[u8]) -> f64 {
    match bytes[0] {
        SCORE_I32 => i32::from_le_bytes(bytes[1..5].try_into().expect("4 score bytes")) as f64,
        SCORE_F64 => f64::from_le_bytes(bytes[1..9].try_into().expect("8 score bytes")),
        small => small as f64 + SMALL_MIN,
    }
}

/// Walks a listpack's entries: (member, score, byte offset of the entry).
struct LpIter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for LpIter<'a> {
    type Item = (&'a [u8], f64, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.at;
        let len = *self.buf.get(at)? as usize;
        let member = &self.buf[at + 1..at + 1 + len];
        let score_at = at + 1 + len;
        let score = decode_score(&self.buf[score_at..]);
        self.at = score_at + 1 + score_tail(self.buf[score_at]);
        Some((member, score, at))
    }
}

impl Listpack {
    fn walk(&self) -> LpIter<'_> {
        LpIter {
            buf: &self.buf,
            at: 0,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.walk().map(|(m, s, _)| (m, s))
    }

    /// Offset and score of `member`.
    fn find(&self, member: &[u8]) -> Option<(usize, f64)> {
        self.walk()
            .find(|(m, _, _)| *m == member)
            .map(|(_, s, at)| (at, s))
    }

    /// One entry.
    fn encode(member: &[u8], score: f64) -> Vec<u8> {
        let score = if score == 0.0 { 0.0 } else { score };
        let mut entry = Vec::with_capacity(member.len() + 10);
        entry.push(member.len() as u8);
        entry.extend_from_slice(member);
        encode_score(score, &mut entry);
        entry
    }

    /// The byte length of the entry at `at`.
    fn entry_len(&self, at: usize) -> usize {
        let score_at = at + 1 + self.buf[at] as usize;
        score_at + 1 + score_tail(self.buf[score_at]) - at
    }

    /// Inserts a member known to be absent at its place in the order.
    fn insert(&mut self, member: &[u8], score: f64) {
        let at = self
            .walk()
            .find(|(m, s, _)| before(score, member, *s, m))
            .map_or(self.buf.len(), |(_, _, at)| at);
        let entry = Listpack::encode(member, score);
        self.buf.reserve_exact(entry.len());
        self.buf.splice(at..at, entry);
        self.len += 1;
    }

    /// Appends a member known to sort after every other.
    fn push_back(&mut self, member: &[u8], score: f64) {
        let entry = Listpack::encode(member, score);
        self.buf.reserve_exact(entry.len());
        self.buf.extend_from_slice(&entry);
        self.len += 1;
    }

    fn remove_at(&mut self, at: usize) {
        let end = at + self.entry_len(at);
        self.buf.drain(at..end);
        self.len -= 1;
    }

    fn remove_ranks(&mut self, start: usize, end: usize) {
        let offset = |rank: usize| {
            self.walk()
                .nth(rank)
                .map_or(self.buf.len(), |(_, _, at)| at)
        };
        let (from, to) = (offset(start), offset(end));
        self.buf.drain(from..to);
        self.len -= end - start;
        if self.len == 0 {
            self.buf = Vec::new();
        }
    }
}

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Level {
    next: u32,
    /// Number of level-0 steps this link jumps over (for ranks).
    span: u32,
}

#[derive(Clone, Debug)]
struct Node {
    member: Bytes,
    score: f64,
    prev: u32,
    levels: Vec<Level>,
}

/// Redis's skiplist with spans, its nodes in an arena (indices instead of pointers; node 0 is
/// the header), and a member → node map.
#[derive(Clone, Debug)]
struct Skiplist {
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    level: usize,
    len: usize,
    index: HashMap<Bytes, u32>,
    rng: u64,
}

impl Skiplist {
    fn new() -> Self {
        let head = Node {
            member: Bytes::new(),
            score: 0.0,
            prev: NIL,
            levels: vec![Level { next: NIL, span: 0 }; MAX_LEVEL],
        };
        Skiplist {
            nodes: vec![head],
            free: Vec::new(),
            tail: NIL,
            level: 1,
            len: 0,
            index: HashMap::new(),
            rng: 0x2545_F491_4F6C_DD1D,
        }
    }

    fn heap_bytes(&self) -> usize {
        let nodes: usize = self
            .nodes
            .iter()
            .map(|n| n.levels.capacity() * std::mem::size_of::<Level>() + n.member.len())
            .sum();
        nodes
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.free.capacity() * 4
            + self.index.capacity() * (std::mem::size_of::<(Bytes, u32)>() + 1)
    }

    fn longest(&self) -> usize {
        self.index.keys().map(|m| m.len()).max().unwrap_or(0)
    }

    /// Redis's level distribution: each level with probability 1/4.
    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if level >= MAX_LEVEL || self.rng & 3 != 0 {
                return level;
            }
            level += 1;
        }
    }

    fn next(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].levels[i].next
    }

    fn span(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].levels[i].span
    }

    fn link(&mut self, x: u32, i: usize) -> &mut Level {
        &mut self.nodes[x as usize].levels[i]
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        self.index
            .get(member)
            .map(|&x| self.nodes[x as usize].score)
    }

    /// Sets the score of `member`, adding it when absent; true when added.
    fn set(&mut self, member: &[u8], score: f64) -> bool {
        if let Some(&x) = self.index.get(member) {
            let node = &self.nodes[x as usize];
            if node.score == score {
                return false;
            }
            let owned = node.member.clone();
            let old = node.score;
            self.unlink(old, &owned);
            let x = self.link_new(owned.clone(), score);
            self.index.insert(owned, x);
            return false;
        }
        let owned = Bytes::copy_from_slice(member);
        let x = self.link_new(owned.clone(), score);
        self.index.insert(owned, x);
        true
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.index.remove(member)?;
        let score = self.nodes[x as usize].score;
        let owned = self.nodes[x as usize].member.clone();
        self.unlink(score, &owned);
        Some(score)
    }

    /// Inserts a node for a member not in the list; returns its index.
    fn link_new(&mut self, member: Bytes, score: f64) -> u32 {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let n = self.next(x, i);
                if n == NIL {
                    break;
                }
                let node = &self.nodes[n as usize];
                if !before(node.score, &node.member, score, &member) {
                    break;
                }
                rank[i] += self.span(x, i);
                x = n;
            }
            update[i] = x;
        }
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.link(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let node = Node {
            member,
            score,
            prev: if update[0] == HEAD { NIL } else { update[0] },
            levels: vec![Level { next: NIL, span: 0 }; level],
        };
        let new = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let up = update[i];
            let next = self.next(up, i);
            let span = self.span(up, i);
            *self.link(new, i) = Level {
                next,
                span: span - (rank[0] - rank[i]),
            };
            *self.link(up, i) = Level {
                next: new,
                span: rank[0] - rank[i] + 1,
            };
        }
        for (i, &up) in update.iter().enumerate().take(self.level).skip(level) {
            self.link(up, i).span += 1;
        }
        let next = self.next(new, 0);
        if next == NIL {
            self.tail = new;
        } else {
            self.nodes[next as usize].prev = new;
        }
        self.len += 1;
        new
    }

    /// Removes the node holding (score, member), which must exist.
    fn unlink(&mut self, score: f64, member: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL {
                    break;
                }
                let node = &self.nodes[n as usize];
                if !before(node.score, &node.member, score, member) {
                    break;
                }
                x = n;
            }
            update[i] = x;
        }
        let target = self.next(x, 0);
        debug_assert!(target != NIL && self.nodes[target as usize].member == member);
        for (i, &up) in update.iter().enumerate().take(self.level) {
            if self.next(up, i) == target {
                let Level { next, span } = self.nodes[target as usize].levels[i];
                let link = self.link(up, i);
                link.span += span;
                link.span -= 1;
                link.next = next;
            } else {
                self.link(up, i).span -= 1;
            }
        }
        let next = self.next(target, 0);
        let prev = self.nodes[target as usize].prev;
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        while self.level > 1 && self.next(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let node = &mut self.nodes[target as usize];
        node.member = Bytes::new();
        node.levels = Vec::new();
        self.free.push(target);
        if self.len == 0 {
            // Drop the arena's slack once empty.
            self.nodes.truncate(1);
            self.free.clear();
        }
    }

    /// Number of leading nodes satisfying a prefix predicate.
    fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL {
                    break;
                }
                let node = &self.nodes[n as usize];
                if !pred(node.score, &node.member) {
                    break;
                }
                rank += self.span(x, i) as usize;
                x = n;
            }
        }
        rank
    }

    /// The node of 0-based rank `rank` (< len).
    fn at_rank(&self, rank: usize) -> u32 {
        let target = rank + 1;
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL || traversed + self.span(x, i) as usize > target {
                    break;
                }
                traversed += self.span(x, i) as usize;
                x = n;
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }

    fn range(&self, start: usize, end: usize, rev: bool) -> Vec<(Bytes, f64)> {
        let mut out = Vec::with_capacity(end - start);
        let mut x = self.at_rank(if rev { end - 1 } else { start });
        while out.len() < end - start && x != NIL {
            let node = &self.nodes[x as usize];
            out.push((node.member.clone(), node.score));
            x = if rev { node.prev } else { node.levels[0].next };
        }
        out
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        let mut x = self.next(HEAD, 0);
        while x != NIL {
            let node = &self.nodes[x as usize];
            f(&node.member, node.score);
            x = node.levels[0].next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Serialises the tests that read or change the process-wide limits.
    static LIMITS: Mutex<()> = Mutex::new(());

    /// The model: member → score, ordered on demand.
    fn model_order(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then(a.0.cmp(&b.0)));
        v
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>, f64),
        Remove(Vec<u8>),
        RemoveRange(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let member = prop_oneof![
            4 => prop::collection::vec(b'a'..b'h', 0..3),
            1 => prop::collection::vec(any::<u8>(), 60..70),
        ];
        let score = prop_oneof![
            (-5i32..5).prop_map(f64::from),
            any::<f64>().prop_filter("no nan", |f| !f.is_nan())
        ];
        prop_oneof![
            6 => (member.clone(), score).prop_map(|(m, s)| Op::Insert(m, s)),
            2 => member.prop_map(Op::Remove),
            1 => (0usize..40, 0usize..10).prop_map(|(a, n)| Op::RemoveRange(a, a + n)),
        ]
    }

    fn check(z: &ZSet, model: &BTreeMap<Vec<u8>, f64>) {
        let want = model_order(model);
        let got: Vec<(Vec<u8>, f64)> = z
            .entries()
            .into_iter()
            .map(|(m, s)| (m.to_vec(), s))
            .collect();
        assert_eq!(got, want);
        assert_eq!(z.len(), model.len());
        for (i, (m, s)) in want.iter().enumerate() {
            assert_eq!(z.rank(m), Some((i, *s)));
            assert_eq!(z.score(m), Some(*s));
            let below = z.count_while(|sc, mm| before(sc, mm, *s, m));
            assert_eq!(below, i);
        }
        let mut rev = z.range(0, z.len(), true);
        rev.reverse();
        assert_eq!(rev, z.entries());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn behaves_like_a_sorted_map(ops in prop::collection::vec(op(), 0..400), big in any::<bool>()) {
            let _limits = LIMITS.lock().unwrap_or_else(|e| e.into_inner());
            let mut z = if big { ZSet::with_hint(1000, 0) } else { ZSet::new() };
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(m, s) => {
                        let added = z.insert(&m, s);
                        prop_assert_eq!(added, model.insert(m, s).is_none());
                    }
                    Op::Remove(m) => prop_assert_eq!(z.remove(&m), model.remove(&m)),
                    Op::RemoveRange(a, b) => {
                        let order = model_order(&model);
                        let removed = z.remove_range(a, b);
                        let want: Vec<_> = order.iter().skip(a).take(b.saturating_sub(a)).cloned().collect();
                        let got: Vec<_> = removed.into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
                        prop_assert_eq!(&got, &want);
                        for (m, _) in want {
                            model.remove(&m);
                        }
                    }
                }
            }
            check(&z, &model);
            z.shrink_if_small();
            check(&z, &model);
        }
    }

    #[test]
    fn encodings_follow_redis_limits() {
        let _limits = LIMITS.lock().unwrap_or_else(|e| e.into_inner());
        let mut z = ZSet::new();
        for i in 0..128 {
            z.insert(format!("m{i}").as_bytes(), i as f64);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"one-more", 0.0);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::new();
        z.insert(&[b'x'; 65], 1.0);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(&[b'x'; 65]);
        z.insert(b"a", 1.0);
        z.shrink_if_small();
        assert_eq!(z.encoding(), "listpack");
        assert!(z.heap_bytes() > 0);
    }

    #[test]
    fn compact_members_fit_their_length_byte() {
        let _limits = LIMITS.lock().unwrap_or_else(|e| e.into_inner());
        MAX_LISTPACK_VALUE.store(100_000, Relaxed);
        let mut z = ZSet::new();
        z.insert(&[b'y'; 300], 1.0);
        MAX_LISTPACK_VALUE.store(64, Relaxed);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.score(&[b'y'; 300]), Some(1.0));
    }

    #[test]
    fn large_set_ranks() {
        let mut z = ZSet::with_hint(10_000, 0);
        for i in (0..5000).rev() {
            z.insert(format!("{i:05}").as_bytes(), (i / 10) as f64);
        }
        for i in (0..5000).step_by(97) {
            assert_eq!(z.rank(format!("{i:05}").as_bytes()).map(|r| r.0), Some(i));
            assert_eq!(
                &z.range(i, i + 1, false)[0].0[..],
                format!("{i:05}").as_bytes()
            );
        }
        let removed = z.remove_range(100, 200);
        assert_eq!(removed.len(), 100);
        assert_eq!(z.len(), 4900);
        assert_eq!(&z.range(100, 101, false)[0].0[..], b"00200");
    }
}
