//! The set type, in Redis 7.2's three representations: "intset" (a sorted array of integers,
//! for sets of canonical integers only, up to `set-max-intset-entries`), "listpack" (a packed
//! byte list, up to `set-max-listpack-entries` members of at most `set-max-listpack-value`
//! bytes) and "hashtable" (beyond). Conversions only go towards the larger form, as in Redis.
//! Pure data structure: the limits come from the caller.

pub(crate) mod intset;
pub(crate) mod packed;
pub(crate) mod table;

use bytes::Bytes;

use intset::IntSet;
use packed::Packed;
use table::Table;

/// Size limits of the compact representations (Redis's defaults unless configured).
#[derive(Clone, Copy, Debug)]
pub struct SetLimits {
    pub intset_entries: usize,
    pub listpack_entries: usize,
    pub listpack_value: usize,
}

impl Default for SetLimits {
    fn default() -> Self {
        SetLimits {
            intset_entries: 512,
            listpack_entries: 128,
            listpack_value: 64,
        }
    }
}

/// A Redis set.
#[derive(Clone, Debug)]
pub struct Set {
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    Ints(IntSet),
    Packed(Packed),
    Table(Table<Bytes>),
}

impl Default for Set {
    fn default() -> Self {
        Set {
            repr: Repr::Ints(IntSet::default()),
        }
    }
}

/// `member` as an i64 when it is the canonical decimal form of one (what an intset holds).
pub fn as_int(member: &[u8]) -> Option<i64> {
    if member.is_empty() || member.len() > 20 {
        return None;
    }
    let n: i64 = std::str::from_utf8(member).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == member).then_some(n)
}

fn int_bytes(n: i64) -> Bytes {
    Bytes::from(n.to_string())
}

fn digits(n: i64) -> usize {
    n.to_string().len()
}

impl Set {
    /// The table, when the set has outgrown the compact forms.
    pub(crate) fn table(&self) -> Option<&Table<Bytes>> {
        match &self.repr {
            Repr::Table(t) => Some(t),
            Repr::Ints(_) | Repr::Packed(_) => None,
        }
    }

    /// A new set about to receive `hint` members, the first being `first` (Redis picks the
    /// representation from these, as SADD on a missing key does).
    pub fn new(first: &[u8], hint: usize, limits: &SetLimits) -> Set {
        let repr = if as_int(first).is_some() && hint <= limits.intset_entries {
            Repr::Ints(IntSet::default())
        } else if hint <= limits.listpack_entries && first.len() <= limits.listpack_value {
            Repr::Packed(Packed::default())
        } else {
            Repr::Table(Table::with_capacity(hint.min(1 << 16)))
        };
        Set { repr }
    }

    /// Builds a set from members (duplicates allowed), choosing the representation as a
    /// fresh SADD of them would.
    pub fn from_members<'a>(
        members: impl IntoIterator<Item = &'a [u8]>,
        hint: usize,
        limits: &SetLimits,
    ) -> Set {
        let mut members = members.into_iter().peekable();
        let mut set = match members.peek() {
            Some(first) => Set::new(first, hint, limits),
            None => Set::default(),
        };
        for m in members {
            set.add(m, limits);
        }
        set.shrink();
        set
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(v) => v.len(),
            Repr::Packed(p) => p.len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(v) => as_int(member).is_some_and(|n| v.search(n).is_ok()),
            Repr::Packed(p) => p.iter().any(|m| m == member),
            Repr::Table(t) => t.get(member).is_some(),
        }
    }

    /// Adds `member`; false when it was already there.
    pub fn add(&mut self, member: &[u8], limits: &SetLimits) -> bool {
        match &mut self.repr {
            Repr::Ints(v) => {
                if let Some(n) = as_int(member) {
                    if !v.insert(n) {
                        return false;
                    }
                    if v.len() > limits.intset_entries {
                        self.convert_to_table();
                    }
                    return true;
                }
                let widest = v.bounds().map_or(0, |(lo, hi)| digits(lo).max(digits(hi)));
                if v.len() < limits.listpack_entries
                    && member.len() <= limits.listpack_value
                    && widest <= limits.listpack_value
                {
                    let mut p = Packed::default();
                    for n in v.iter() {
                        p.push(n.to_string().as_bytes());
                    }
                    p.push(member);
                    self.repr = Repr::Packed(p);
                } else {
                    self.convert_to_table();
                    self.add(member, limits);
                }
                true
            }
            Repr::Packed(p) => {
                if p.iter().any(|m| m == member) {
                    return false;
                }
                if p.len() >= limits.listpack_entries || member.len() > limits.listpack_value {
                    self.convert_to_table();
                    return self.add(member, limits);
                }
                p.push(member);
                true
            }
            Repr::Table(t) => {
                if t.get(member).is_some() {
                    return false;
                }
                t.insert_new(Bytes::copy_from_slice(member));
                true
            }
        }
    }

    fn convert_to_table(&mut self) {
        let mut t = Table::with_capacity(self.len() + 1);
        for m in self.iter() {
            t.insert_new(m);
        }
        self.repr = Repr::Table(t);
    }

    /// Removes `member`; false when it was absent.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(v) => match as_int(member).map(|n| v.search(n)) {
                Some(Ok(at)) => {
                    v.remove_at(at);
                    true
                }
                _ => false,
            },
            Repr::Packed(p) => match p.entries().find(|(_, m)| *m == member) {
                Some((at, _)) => {
                    p.remove(at, 1);
                    true
                }
                None => false,
            },
            Repr::Table(t) => t.remove(member).is_some(),
        }
    }

    /// The member at position `index` of the representation's order (`index < len`).
    pub fn member_at(&self, index: usize) -> Bytes {
        match &self.repr {
            Repr::Ints(v) => int_bytes(v.get(index)),
            Repr::Packed(p) => Bytes::copy_from_slice(p.get(index).unwrap_or_default()),
            Repr::Table(t) => t.at(index).clone(),
        }
    }

    /// Removes and returns the member at position `index` (`index < len`).
    pub fn remove_at(&mut self, index: usize) -> Bytes {
        match &mut self.repr {
            Repr::Ints(v) => int_bytes(v.remove_at(index)),
            Repr::Packed(p) => {
                let (at, m) = p.entries().nth(index).unwrap_or_default();
                let m = Bytes::copy_from_slice(m);
                p.remove(at, 1);
                m
            }
            Repr::Table(t) => t.remove_at(index),
        }
    }

    /// Every member, in the representation's order (ascending for an intset).
    pub fn iter(&self) -> Members<'_> {
        match &self.repr {
            Repr::Ints(v) => Members::Ints(v, 0),
            Repr::Packed(p) => Members::Packed(p.entries()),
            Repr::Table(t) => Members::Table(Box::new(t.iter())),
        }
    }

    /// One SSCAN step. Compact sets are returned whole (cursor 0), as Redis does; a
    /// hashtable is walked by the bucket cursor described in `table`.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(Bytes)) -> u64 {
        match &self.repr {
            Repr::Table(t) => t.scan(cursor, count, |m| visit(m.clone())),
            _ => {
                self.iter().for_each(visit);
                0
            }
        }
    }

    /// Releases spare capacity after a bulk build.
    pub fn shrink(&mut self) {
        match &mut self.repr {
            Repr::Ints(v) => v.shrink(),
            Repr::Packed(p) => p.shrink(),
            Repr::Table(_) => {}
        }
    }

    /// The name OBJECT ENCODING reports for the representation in use.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Bytes held on the heap by this value (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Ints(v) => v.heap_bytes(),
            Repr::Packed(p) => p.heap_bytes(),
            Repr::Table(t) => t.structure_bytes() + t.iter().map(|m| m.len() + 16).sum::<usize>(),
        }
    }
}

/// Iterator over a set's members.
pub enum Members<'a> {
    Ints(&'a IntSet, usize),
    Packed(packed::Entries<'a>),
    Table(Box<dyn Iterator<Item = &'a Bytes> + 'a>),
}

impl Iterator for Members<'_> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        match self {
            Members::Ints(v, at) => (*at < v.len()).then(|| {
                *at += 1;
                int_bytes(v.get(*at - 1))
            }),
            Members::Packed(it) => it.next().map(|(_, m)| Bytes::copy_from_slice(m)),
            Members::Table(it) => it.next().cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn integers_are_canonical() {
        assert_eq!(as_int(b"12"), Some(12));
        assert_eq!(as_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(as_int(b"012"), None);
        assert_eq!(as_int(b"+1"), None);
        assert_eq!(as_int(b"-0"), None);
        assert_eq!(as_int(b"1 "), None);
        assert_eq!(as_int(b"99999999999999999999"), None);
    }

    #[test]
    fn encodings_follow_redis_7_2() {
        let l = SetLimits::default();
        let mut s = Set::new(b"1", 1, &l);
        s.add(b"1", &l);
        assert_eq!(s.encoding(), "intset");
        s.add(b"a", &l);
        assert_eq!(s.encoding(), "listpack");
        for i in 0..200 {
            s.add(i.to_string().as_bytes(), &l);
        }
        assert_eq!(s.encoding(), "hashtable");
        let mut ints = Set::new(b"0", 1, &l);
        for i in 0..=512 {
            ints.add(i.to_string().as_bytes(), &l);
        }
        assert_eq!(ints.encoding(), "hashtable");
        let big = Set::new(b"x", 300, &l);
        assert_eq!(big.encoding(), "hashtable");
        let mut long = Set::new(b"x", 1, &l);
        long.add(&[b'x'; 65], &l);
        assert_eq!(long.encoding(), "hashtable");
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreeset(ops in proptest::collection::vec((0u8..4, 0u16..700, any::<bool>()), 1..900)) {
            let l = SetLimits::default();
            let mut s = Set::default();
            let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
            for (op, n, text) in ops {
                let m = if text { format!("m{n}") } else { n.to_string() }.into_bytes();
                match op {
                    0 | 1 => prop_assert_eq!(s.add(&m, &l), model.insert(m.clone())),
                    2 => prop_assert_eq!(s.remove(&m), model.remove(&m)),
                    _ if !model.is_empty() => {
                        let i = n as usize % s.len();
                        let got = s.remove_at(i);
                        prop_assert!(model.remove(&got[..]));
                    }
                    _ => {}
                }
                prop_assert_eq!(s.len(), model.len());
                prop_assert_eq!(s.contains(&m), model.contains(&m));
            }
            let all: BTreeSet<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
            prop_assert_eq!(all, model);
        }
    }
}
