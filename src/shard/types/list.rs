//! The list type. Small lists are one packed buffer (Redis's listpack: every element stored
//! inline with its length before and after it, so it can be walked from either end); large ones
//! are a deque of such buffers of bounded size (Redis's quicklist), cheap at both ends and
//! compact in the middle. Which one is used follows `list-max-listpack-size` like Redis 7.2.
//! Pure data structure: no shard, no commands, no I/O.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use bytes::Bytes;

/// `list-max-listpack-size` as lists see it (CONFIG SET updates it): negative = a byte limit
/// per packed node (-1: 4 KB, -2: 8 KB ... -5: 64 KB), positive = entries per node.
pub static MAX_LISTPACK_SIZE: AtomicI64 = AtomicI64::new(-2);

/// A node holding only entries counted by number still stays under this many bytes (Redis's
/// SIZE_SAFETY_LIMIT).
const SIZE_SAFETY_LIMIT: usize = 8192;

/// Redis's listpack header and terminator, counted in a node's size as Redis does.
const PACK_OVERHEAD: usize = 7;

/// The byte and entry limits of one packed node under `fill` (Redis's quicklistNodeLimit).
fn node_limit(fill: i64) -> (usize, usize) {
    if fill >= 0 {
        (usize::MAX, fill.max(1) as usize)
    } else {
        let level = (fill.unsigned_abs() as usize).min(5);
        (4096 << (level - 1), usize::MAX)
    }
}

/// Whether a node of `bytes` bytes and `count` entries is over the limits (quicklistNodeExceedsLimit).
fn exceeds(fill: i64, bytes: usize, count: usize) -> bool {
    let (size_limit, count_limit) = node_limit(fill);
    if size_limit != usize::MAX {
        bytes > size_limit
    } else {
        bytes > SIZE_SAFETY_LIMIT || count > count_limit
    }
}

/// Bytes of one length field: 1 below 0xFE, else a marker plus 4 or 8 bytes.
fn len_field(len: usize) -> usize {
    if len < 0xFE {
        1
    } else if len <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// Bytes one element takes in a packed buffer.
fn entry_size(len: usize) -> usize {
    len + 2 * len_field(len)
}

/// Appends one entry: length, data, then the length mirrored so it reads from the end.
fn encode_entry(out: &mut Vec<u8>, data: &[u8]) {
    let len = data.len();
    match len_field(len) {
        1 => out.push(len as u8),
        5 => {
            out.push(0xFE);
            out.extend_from_slice(&(len as u32).to_le_bytes());
        }
        _ => {
            out.push(0xFF);
            out.extend_from_slice(&(len as u64).to_le_bytes());
        }
    }
    out.extend_from_slice(data);
    match len_field(len) {
        1 => out.push(len as u8),
        5 => {
            out.extend_from_slice(&(len as u32).to_le_bytes());
            out.push(0xFE);
        }
        _ => {
            out.extend_from_slice(&(len as u64).to_le_bytes());
            out.push(0xFF);
        }
    }
}

/// The data range of the entry starting at `at`, and where the next entry starts.
fn read_forward(buf: &[u8], at: usize) -> (usize, usize, usize) {
    let (len, field) = match buf[at] {
        0xFE => (
            u32::from_le_bytes(buf[at + 1..at + 5].try_into().expect("4 bytes")) as usize,
            5,
        ),
        0xFF => (
            u64::from_le_bytes(buf[at + 1..at + 9].try_into().expect("8 bytes")) as usize,
            9,
        ),
        n => (n as usize, 1),
    };
    let start = at + field;
    (start, start + len, start + len + field)
}

/// The data range of the entry ending at `end` (exclusive), and where that entry starts.
fn read_backward(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let (len, field) = match buf[end - 1] {
        0xFE => (
            u32::from_le_bytes(buf[end - 5..end - 1].try_into().expect("4 bytes")) as usize,
            5,
        ),
        0xFF => (
            u64::from_le_bytes(buf[end - 9..end - 1].try_into().expect("8 bytes")) as usize,
            9,
        ),
        n => (n as usize, 1),
    };
    let data_end = end - field;
    let data_start = data_end - len;
    (data_start, data_end, data_start - field)
}

/// A packed run of elements (a listpack).
#[derive(Clone, Debug, Default)]
struct Pack {
    buf: Vec<u8>,
    count: usize,
}

impl Pack {
    fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Pack {
        let mut pack = Pack::default();
        for item in items {
            pack.push_back(item);
        }
        pack
    }

    /// Size as Redis counts a listpack (for the conversion thresholds).
    fn bytes(&self) -> usize {
        self.buf.len() + PACK_OVERHEAD
    }

    fn push_back(&mut self, data: &[u8]) {
        encode_entry(&mut self.buf, data);
        self.count += 1;
    }

    fn push_front(&mut self, data: &[u8]) {
        let mut entry = Vec::with_capacity(entry_size(data.len()));
        encode_entry(&mut entry, data);
        self.buf.splice(0..0, entry);
        self.count += 1;
    }

    fn pop_front(&mut self) -> Option<Bytes> {
        if self.count == 0 {
            return None;
        }
        let (start, end, next) = read_forward(&self.buf, 0);
        let value = Bytes::copy_from_slice(&self.buf[start..end]);
        self.buf.drain(..next);
        self.count -= 1;
        Some(value)
    }

    fn pop_back(&mut self) -> Option<Bytes> {
        if self.count == 0 {
            return None;
        }
        let (start, end, entry_start) = read_backward(&self.buf, self.buf.len());
        let value = Bytes::copy_from_slice(&self.buf[start..end]);
        self.buf.truncate(entry_start);
        self.count -= 1;
        Some(value)
    }

    fn iter(&self) -> PackIter<'_> {
        PackIter {
            buf: &self.buf,
            front: 0,
            back: self.buf.len(),
            left: self.count,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }
}

/// Walks a pack's elements from either end.
struct PackIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
    left: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let (start, end, next) = read_forward(self.buf, self.front);
        self.front = next;
        self.left -= 1;
        Some(&self.buf[start..end])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<'a> DoubleEndedIterator for PackIter<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let (start, end, entry_start) = read_backward(self.buf, self.back);
        self.back = entry_start;
        self.left -= 1;
        Some(&self.buf[start..end])
    }
}

/// Splits elements into packed nodes, each within the node limits of `fill`.
fn pack_nodes<'a>(items: impl IntoIterator<Item = &'a [u8]>, fill: i64) -> Vec<Pack> {
    let mut nodes = Vec::new();
    let mut node = Pack::default();
    for item in items {
        if node.count > 0 && exceeds(fill, node.bytes() + entry_size(item.len()), node.count + 1) {
            nodes.push(std::mem::take(&mut node));
        }
        node.push_back(item);
    }
    if node.count > 0 {
        nodes.push(node);
    }
    nodes
}

#[derive(Clone, Debug)]
enum Repr {
    /// One packed buffer: OBJECT ENCODING says "listpack".
    Packed(Pack),
    /// A deque of packed nodes, none empty: "quicklist". Boxed: most lists are one pack, and
    /// a list is as big as its larger form (32 bytes, not 48).
    Chunked {
        // The box is the point (the deque's 32 bytes off the common form), not a slip.
        #[allow(clippy::box_collection)]
        nodes: Box<VecDeque<Pack>>,
        len: usize,
    },
}

/// A Redis list.
#[derive(Clone, Debug)]
pub struct List {
    repr: Repr,
}

// A list is kept in a box of its own: 32 bytes is a small block.
const _: () = assert!(std::mem::size_of::<List>() == 32);

impl Default for List {
    fn default() -> Self {
        List {
            repr: Repr::Packed(Pack::default()),
        }
    }
}

type NodesIter<'a> = std::iter::FlatMap<
    std::collections::vec_deque::Iter<'a, Pack>,
    PackIter<'a>,
    fn(&'a Pack) -> PackIter<'a>,
>;

/// The elements of a list, front to back (reversible).
pub struct Iter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Packed(PackIter<'a>),
    Chunked(NodesIter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            IterRepr::Packed(it) => it.next(),
            IterRepr::Chunked(it) => it.next(),
        }
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            IterRepr::Packed(it) => it.next_back(),
            IterRepr::Chunked(it) => it.next_back(),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Lets a test pick the node limit without racing other tests on the global.
    static TEST_FILL: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

fn fill() -> i64 {
    #[cfg(test)]
    if let Some(fill) = TEST_FILL.with(|f| f.get()) {
        return fill;
    }
    MAX_LISTPACK_SIZE.load(Relaxed)
}

impl List {
    /// A list of `items` in order, in the representation their size calls for.
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> List {
        let mut list = List::default();
        for item in items {
            list.push(false, item);
        }
        list
    }

    /// The name OBJECT ENCODING reports for the representation in use.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Chunked { .. } => "quicklist",
        }
    }

    /// For a quicklist, its node count and the bytes of its nodes as Redis counts them
    /// (DEBUG OBJECT's `ql_nodes` and `ql_uncompressed_size`); None for one listpack.
    pub fn quicklist_nodes(&self) -> Option<(usize, usize)> {
        match &self.repr {
            Repr::Packed(_) => None,
            Repr::Chunked { nodes, .. } => Some((nodes.len(), nodes.iter().map(Pack::bytes).sum())),
        }
    }

    /// Bytes held on the heap by this value (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.heap_bytes(),
            Repr::Chunked { nodes, .. } => {
                nodes.capacity() * std::mem::size_of::<Pack>()
                    + nodes.iter().map(Pack::heap_bytes).sum::<usize>()
            }
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.count,
            Repr::Chunked { len, .. } => *len,
        }
    }

    /// True when the list holds no element (its key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every element, front to back; `.rev()` walks back to front.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Packed(p) => Iter(IterRepr::Packed(p.iter())),
            Repr::Chunked { nodes, .. } => Iter(IterRepr::Chunked(
                nodes
                    .iter()
                    .flat_map(Pack::iter as fn(&Pack) -> PackIter<'_>),
            )),
        }
    }

    /// Adds every one of `values` at the front (`front`, each before the last) or the back,
    /// with room reserved for them first (see [`List::reserve`]).
    pub fn push_all(&mut self, front: bool, values: &[impl AsRef<[u8]>]) {
        self.reserve(values.iter().map(|v| v.as_ref().len()));
        for v in values {
            self.push(front, v.as_ref());
        }
    }

    /// Makes room in a packed list for elements of these lengths, when they all fit in it:
    /// exactly that room, so a list pushed in one command holds no spare capacity (a doubling
    /// buffer would hold up to half again its size, 100 000 lists of ten 8-byte elements 16
    /// bytes each).
    fn reserve(&mut self, lengths: impl Iterator<Item = usize>) {
        let Repr::Packed(p) = &mut self.repr else {
            return;
        };
        let (count, bytes) = lengths.fold((0, 0), |(n, b), len| (n + 1, b + entry_size(len)));
        if !exceeds(fill(), p.bytes() + bytes, p.count + count) {
            p.buf.reserve_exact(bytes);
        }
    }

    /// Adds `data` at the front (`front`) or the back.
    pub fn push(&mut self, front: bool, data: &[u8]) {
        let fill = fill();
        if let Repr::Packed(p) = &self.repr {
            if exceeds(fill, p.bytes() + entry_size(data.len()), p.count + 1) {
                self.convert_to_chunked(fill);
            }
        }
        match &mut self.repr {
            Repr::Packed(p) if front => p.push_front(data),
            Repr::Packed(p) => p.push_back(data),
            Repr::Chunked { nodes, len } => {
                *len += 1;
                let end = if front {
                    nodes.front_mut()
                } else {
                    nodes.back_mut()
                };
                let room =
                    end.filter(|n| !exceeds(fill, n.bytes() + entry_size(data.len()), n.count + 1));
                match room {
                    Some(node) if front => node.push_front(data),
                    Some(node) => node.push_back(data),
                    None => {
                        let node = Pack::from_items([data]);
                        if front {
                            nodes.push_front(node);
                        } else {
                            nodes.push_back(node);
                        }
                    }
                }
            }
        }
    }

    /// Removes and returns the front (`front`) or back element.
    pub fn pop(&mut self, front: bool) -> Option<Bytes> {
        let value = match &mut self.repr {
            Repr::Packed(p) if front => p.pop_front(),
            Repr::Packed(p) => p.pop_back(),
            Repr::Chunked { nodes, len } => {
                let node = if front {
                    nodes.front_mut()?
                } else {
                    nodes.back_mut()?
                };
                let value = if front {
                    node.pop_front()
                } else {
                    node.pop_back()
                };
                if node.count == 0 {
                    if front {
                        nodes.pop_front();
                    } else {
                        nodes.pop_back();
                    }
                }
                *len -= 1;
                value
            }
        };
        self.shrink();
        value
    }

    /// The node holding element `index` and the element's position inside it.
    fn locate(nodes: &VecDeque<Pack>, index: usize) -> (usize, usize) {
        let mut skipped = 0;
        for (i, node) in nodes.iter().enumerate() {
            if index < skipped + node.count {
                return (i, index - skipped);
            }
            skipped += node.count;
        }
        (nodes.len(), 0)
    }

    /// The element at `index` (0-based from the front).
    pub fn get(&self, index: usize) -> Option<Bytes> {
        if index >= self.len() {
            return None;
        }
        let (pack, offset) = match &self.repr {
            Repr::Packed(p) => (p, index),
            Repr::Chunked { nodes, .. } => {
                let (node, offset) = Self::locate(nodes, index);
                (&nodes[node], offset)
            }
        };
        let item = if offset < pack.count / 2 {
            pack.iter().nth(offset)
        } else {
            pack.iter().rev().nth(pack.count - 1 - offset)
        };
        item.map(Bytes::copy_from_slice)
    }

    /// Elements `start..=end` (indexes already clamped into the list).
    pub fn range(&self, start: usize, end: usize) -> Vec<Bytes> {
        if start > end || start >= self.len() {
            return Vec::new();
        }
        let take = end.min(self.len() - 1) - start + 1;
        let out = match &self.repr {
            Repr::Packed(p) => p
                .iter()
                .skip(start)
                .take(take)
                .map(Bytes::copy_from_slice)
                .collect(),
            Repr::Chunked { nodes, .. } => {
                let (node, offset) = Self::locate(nodes, start);
                nodes
                    .iter()
                    .skip(node)
                    .flat_map(Pack::iter)
                    .skip(offset)
                    .take(take)
                    .map(Bytes::copy_from_slice)
                    .collect()
            }
        };
        out
    }

    /// Rewrites the pack holding element `index` with `edit` applied to its elements (given
    /// the element's offset in them), re-splitting it if it grew.
    fn edit_at(&mut self, index: usize, edit: impl FnOnce(&mut Vec<Bytes>, usize)) {
        let fill = fill();
        match &mut self.repr {
            Repr::Packed(p) => {
                let mut items: Vec<Bytes> = p.iter().map(Bytes::copy_from_slice).collect();
                edit(&mut items, index);
                *p = Pack::from_items(items.iter().map(|b| &b[..]));
                if exceeds(fill, p.bytes(), p.count) {
                    self.convert_to_chunked(fill);
                }
            }
            Repr::Chunked { nodes, len } => {
                let (node, offset) = Self::locate(nodes, index);
                let mut items: Vec<Bytes> =
                    nodes[node].iter().map(Bytes::copy_from_slice).collect();
                let before = items.len();
                edit(&mut items, offset);
                *len = *len + items.len() - before;
                let rebuilt = pack_nodes(items.iter().map(|b| &b[..]), fill);
                nodes.remove(node);
                for (i, pack) in rebuilt.into_iter().enumerate() {
                    nodes.insert(node + i, pack);
                }
            }
        }
    }

    /// Replaces the element at `index` (which must exist).
    pub fn set(&mut self, index: usize, data: &[u8]) {
        self.edit_at(index, |items, at| items[at] = Bytes::copy_from_slice(data));
    }

    /// Inserts `data` before (`after` false) or after the element at `index` (which must exist).
    pub fn insert(&mut self, index: usize, after: bool, data: &[u8]) {
        self.edit_at(index, |items, at| {
            items.insert(at + after as usize, Bytes::copy_from_slice(data))
        });
    }

    /// Removes up to `limit` elements equal to `value` (0: all), from the back when `from_back`.
    /// Returns how many were removed.
    pub fn remove(&mut self, value: &[u8], limit: usize, from_back: bool) -> usize {
        let mut budget = if limit == 0 { usize::MAX } else { limit };
        let mut removed = 0;
        let mut filter = |pack: &Pack| -> Option<Pack> {
            if budget == 0 || !pack.iter().any(|e| e == value) {
                return None;
            }
            let mut keep: Vec<&[u8]> = Vec::with_capacity(pack.count);
            let items: Vec<&[u8]> = if from_back {
                pack.iter().rev().collect()
            } else {
                pack.iter().collect()
            };
            for e in items {
                if budget > 0 && e == value {
                    budget -= 1;
                    removed += 1;
                } else {
                    keep.push(e);
                }
            }
            if from_back {
                keep.reverse();
            }
            Some(Pack::from_items(keep))
        };
        match &mut self.repr {
            Repr::Packed(p) => {
                if let Some(new) = filter(p) {
                    *p = new;
                }
            }
            Repr::Chunked { nodes, len } => {
                let order: Vec<usize> = if from_back {
                    (0..nodes.len()).rev().collect()
                } else {
                    (0..nodes.len()).collect()
                };
                for i in order {
                    if let Some(new) = filter(&nodes[i]) {
                        nodes[i] = new;
                    }
                }
                nodes.retain(|n| n.count > 0);
                *len -= removed;
            }
        }
        self.shrink();
        removed
    }

    /// Keeps only elements `start..=end` (clamped; an empty range empties the list).
    pub fn trim(&mut self, start: usize, end: usize) {
        let len = self.len();
        let (drop_front, drop_back) = if start > end || start >= len {
            (len, 0)
        } else {
            (start, len - 1 - end.min(len - 1))
        };
        match &mut self.repr {
            Repr::Packed(p) => {
                let keep = len - drop_front - drop_back;
                *p = Pack::from_items(p.iter().skip(drop_front).take(keep));
            }
            Repr::Chunked { nodes, len: total } => {
                Self::drop_ends(nodes, drop_front, false);
                Self::drop_ends(nodes, drop_back, true);
                *total = len - drop_front - drop_back;
            }
        }
        self.shrink();
    }

    /// Removes `n` elements from the front (or the back): whole nodes first, then part of one.
    fn drop_ends(nodes: &mut VecDeque<Pack>, mut n: usize, back: bool) {
        while n > 0 {
            let Some(node) = (if back {
                nodes.back_mut()
            } else {
                nodes.front_mut()
            }) else {
                return;
            };
            if node.count <= n {
                n -= node.count;
                if back {
                    nodes.pop_back();
                } else {
                    nodes.pop_front();
                }
            } else {
                let keep = node.count - n;
                *node = if back {
                    Pack::from_items(node.iter().take(keep))
                } else {
                    Pack::from_items(node.iter().skip(n))
                };
                n = 0;
            }
        }
    }

    /// Turns the packed form into nodes (the list outgrew one listpack).
    fn convert_to_chunked(&mut self, fill: i64) {
        if let Repr::Packed(p) = &self.repr {
            let len = p.count;
            let nodes: VecDeque<Pack> = pack_nodes(p.iter(), fill).into();
            self.repr = Repr::Chunked {
                nodes: Box::new(nodes),
                len,
            };
        }
    }

    /// Goes back to one listpack when a shrinking quicklist is down to one small node (at most
    /// half the limits, as Redis 7.2, so a list at the edge does not flip on every command).
    fn shrink(&mut self) {
        let Repr::Chunked { nodes, .. } = &mut self.repr else {
            return;
        };
        if nodes.len() > 1 {
            return;
        }
        let (size_limit, count_limit) = node_limit(fill());
        let node = nodes.pop_front().unwrap_or_default();
        if node.bytes() <= size_limit / 2 && node.count <= count_limit / 2 {
            self.repr = Repr::Packed(node);
        } else {
            let len = node.count;
            self.repr = Repr::Chunked {
                nodes: Box::new(VecDeque::from([node])),
                len,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn items(list: &List) -> Vec<Vec<u8>> {
        list.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn entry_lengths_round_trip_both_ways() {
        for len in [0usize, 1, 0xFD, 0xFE, 0xFF, 70_000] {
            let data = vec![7u8; len];
            let pack = Pack::from_items([&data[..], b"x"]);
            let forward: Vec<&[u8]> = pack.iter().collect();
            let backward: Vec<&[u8]> = pack.iter().rev().collect();
            assert_eq!(forward, vec![&data[..], b"x"]);
            assert_eq!(backward, vec![&b"x"[..], &data[..]]);
        }
    }

    #[test]
    fn a_push_of_many_reserves_exactly_what_fits() {
        let values: Vec<Vec<u8>> = (0..10).map(|i| format!("e{i:07}").into_bytes()).collect();
        let mut list = List::default();
        list.push_all(false, &values);
        // Ten entries of 8 bytes, each with its length byte before and its backlen after.
        assert_eq!(list.heap_bytes(), 100);
        assert_eq!(items(&list), values);
        // More than a pack takes: nothing reserved, the list turns into a quicklist.
        let mut big = List::default();
        let many: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!("element-{i}").into_bytes())
            .collect();
        big.reserve(many.iter().map(Vec::len));
        assert_eq!(big.heap_bytes(), 0);
    }

    #[test]
    fn grows_into_quicklist_and_shrinks_back() {
        let mut list = List::default();
        for i in 0..2000 {
            list.push(false, format!("element-{i}").as_bytes());
        }
        assert_eq!(list.encoding(), "quicklist");
        assert_eq!(list.get(1999).as_deref(), Some(&b"element-1999"[..]));
        list.trim(0, 9);
        assert_eq!(list.encoding(), "listpack");
        assert_eq!(list.len(), 10);
    }

    #[test]
    fn memory_is_close_to_the_data() {
        let list = List::from_items((0..100_000).map(|_| &b"0123456789"[..]));
        // 10 data bytes + 2 length bytes per element, plus node bookkeeping.
        let per_element = list.heap_bytes() as f64 / 100_000.0;
        eprintln!("list of 100k 10-byte elements: {per_element:.2} heap bytes per element");
        assert!(per_element < 16.0, "{per_element} bytes per element");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, bool, Vec<u8>),
        Remove(u8, usize, bool),
        Trim(usize, usize),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::collection::vec(0u8..3, 0..3),
            1 => proptest::collection::vec(any::<u8>(), 200..400),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<bool>(), value()).prop_map(|(f, v)| Op::Push(f, v)),
            2 => any::<bool>().prop_map(Op::Pop),
            1 => (0usize..80, value()).prop_map(|(i, v)| Op::Set(i, v)),
            1 => (0usize..80, any::<bool>(), value()).prop_map(|(i, a, v)| Op::Insert(i, a, v)),
            1 => (0u8..3, 0usize..3, any::<bool>()).prop_map(|(b, n, r)| Op::Remove(b, n, r)),
            1 => (0usize..40, 0usize..80).prop_map(|(s, e)| Op::Trim(s, e)),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_vecdeque(ops in proptest::collection::vec(op(), 0..200), fill in prop_oneof![Just(-2i64), Just(-1), Just(1), Just(3)]) {
            TEST_FILL.with(|f| f.set(Some(fill)));
            let mut list = List::default();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push(front, v) => {
                        list.push(front, &v);
                        if front { model.push_front(v) } else { model.push_back(v) }
                    }
                    Op::Pop(front) => {
                        let want = if front { model.pop_front() } else { model.pop_back() };
                        prop_assert_eq!(list.pop(front).map(|b| b.to_vec()), want);
                    }
                    Op::Set(i, v) => if i < model.len() {
                        list.set(i, &v);
                        model[i] = v;
                    },
                    Op::Insert(i, after, v) => if i < model.len() {
                        list.insert(i, after, &v);
                        model.insert(i + after as usize, v);
                    },
                    Op::Remove(b, n, back) => {
                        let target = vec![b];
                        let removed = list.remove(&target, n, back);
                        let mut budget = if n == 0 { usize::MAX } else { n };
                        let mut kept: Vec<Vec<u8>> = Vec::new();
                        let mut count = 0;
                        let order: Vec<Vec<u8>> = if back { model.iter().rev().cloned().collect() } else { model.iter().cloned().collect() };
                        for e in order {
                            if budget > 0 && e == target { budget -= 1; count += 1; } else { kept.push(e); }
                        }
                        if back { kept.reverse(); }
                        model = kept.into();
                        prop_assert_eq!(removed, count);
                    }
                    Op::Trim(s, e) => {
                        list.trim(s, e);
                        let len = model.len();
                        model = if s > e || s >= len { VecDeque::new() } else {
                            model.iter().skip(s).take(e.min(len - 1) - s + 1).cloned().collect()
                        };
                    }
                }
                prop_assert_eq!(list.len(), model.len());
                prop_assert_eq!(items(&list), model.iter().cloned().collect::<Vec<_>>());
                let back: Vec<Vec<u8>> = list.iter().rev().map(<[u8]>::to_vec).collect();
                prop_assert_eq!(back, model.iter().rev().cloned().collect::<Vec<_>>());
                if let Some(last) = model.len().checked_sub(1) {
                    prop_assert_eq!(list.get(last).map(|b| b.to_vec()), model.back().cloned());
                    prop_assert_eq!(list.range(1, last).len(), last);
                }
                if let Repr::Chunked { nodes, len } = &list.repr {
                    prop_assert!(nodes.iter().all(|n| n.count > 0));
                    prop_assert_eq!(*len, nodes.iter().map(|n| n.count).sum::<usize>());
                }
            }
            TEST_FILL.with(|f| f.set(None));
        }
    }
}
