//! The hash type: "listpack" (fields and values alternating in one packed buffer, insertion
//! order, up to `hash-max-listpack-entries` pairs of strings of at most
//! `hash-max-listpack-value` bytes) and "hashtable" beyond. Conversion only goes towards the
//! hashtable, as in Redis. Pure data structure: the limits come from the caller.

use bytes::Bytes;

use super::set::packed::Packed;
use super::set::table::Table;

/// Size limits of the compact representation (Redis's defaults unless configured).
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub entries: usize,
    pub value: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            entries: 128,
            value: 64,
        }
    }
}

/// A Redis hash.
#[derive(Clone, Debug)]
pub struct Hash {
    repr: Repr,
}

#[derive(Clone, Debug)]
enum Repr {
    /// Field, value, field, value, ...
    Packed(Packed),
    /// Boxed: the packed form is what most hashes are, and a hash is as big as its larger form.
    Table(Box<Table<(Bytes, Bytes)>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash {
            repr: Repr::Packed(Packed::default()),
        }
    }
}

/// Byte offsets of `field` and of its value in a packed hash, and the value.
fn find_packed<'a>(p: &'a Packed, field: &[u8]) -> Option<(usize, usize, &'a [u8])> {
    let mut entries = p.entries();
    while let Some((at, f)) = entries.next() {
        let (value_at, value) = entries.next()?;
        if f == field {
            return Some((at, value_at, value));
        }
    }
    None
}

impl Hash {
    /// The table, when the hash has outgrown the packed form.
    pub(crate) fn table(&self) -> Option<&Table<(Bytes, Bytes)>> {
        match &self.repr {
            Repr::Table(t) => Some(t.as_ref()),
            Repr::Packed(_) => None,
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len() / 2,
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Packed(p) => p.is_empty(),
            Repr::Table(t) => t.is_empty(),
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<Bytes> {
        match &self.repr {
            Repr::Packed(p) => find_packed(p, field).map(|(_, _, v)| Bytes::copy_from_slice(v)),
            Repr::Table(t) => t.get(field).map(|(_, v)| v.clone()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.repr {
            Repr::Packed(p) => find_packed(p, field).is_some(),
            Repr::Table(t) => t.get(field).is_some(),
        }
    }

    /// Converts to a hashtable when writing `field`/`value` would break the compact limits.
    fn make_room(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) {
        if let Repr::Packed(p) = &self.repr {
            let too_long = field.len() > limits.value || value.len() > limits.value;
            if too_long || (p.len() / 2 >= limits.entries && find_packed(p, field).is_none()) {
                self.convert();
            }
        }
    }

    fn convert(&mut self) {
        let mut t = Table::with_capacity(self.len() + 1);
        for pair in self.iter() {
            t.insert_new(pair);
        }
        self.repr = Repr::Table(Box::new(t));
    }

    /// Sets `field` to `value`; true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        self.make_room(field, value, limits);
        match &mut self.repr {
            Repr::Packed(p) => match find_packed(p, field) {
                Some((_, value_at, _)) => {
                    p.replace(value_at, value);
                    false
                }
                None => {
                    p.push(field);
                    p.push(value);
                    true
                }
            },
            Repr::Table(t) => match t.get_mut(field) {
                Some((_, v)) => {
                    *v = Bytes::copy_from_slice(value);
                    false
                }
                None => {
                    t.insert_new((Bytes::copy_from_slice(field), Bytes::copy_from_slice(value)));
                    true
                }
            },
        }
    }

    /// Removes `field`; false when absent.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => match find_packed(p, field) {
                Some((at, _, _)) => {
                    p.remove(at, 2);
                    true
                }
                None => false,
            },
            Repr::Table(t) => t.remove(field).is_some(),
        }
    }

    /// The pair at position `index` of the representation's order (`index < len`).
    pub fn pair_at(&self, index: usize) -> (Bytes, Bytes) {
        match &self.repr {
            Repr::Packed(p) => {
                let mut it = p.iter().skip(index * 2);
                let f = it.next().unwrap_or_default();
                let v = it.next().unwrap_or_default();
                (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v))
            }
            Repr::Table(t) => t.at(index).clone(),
        }
    }

    /// Every (field, value), in the representation's order (insertion order when compact).
    pub fn iter(&self) -> Pairs<'_> {
        match &self.repr {
            Repr::Packed(p) => Pairs::Packed(p.entries()),
            Repr::Table(t) => Pairs::Table(Box::new(t.iter())),
        }
    }

    /// One HSCAN step. A compact hash is returned whole (cursor 0), as Redis does; a
    /// hashtable is walked by the bucket cursor described in `set::table`.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(Bytes, Bytes)) -> u64 {
        match &self.repr {
            Repr::Table(t) => t.scan(cursor, count, |(f, v)| visit(f.clone(), v.clone())),
            Repr::Packed(_) => {
                self.iter().for_each(|(f, v)| visit(f, v));
                0
            }
        }
    }

    /// The name OBJECT ENCODING reports for the representation in use.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Bytes held on the heap by this value (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.heap_bytes(),
            Repr::Table(t) => {
                t.structure_bytes() + t.iter().map(|(f, v)| f.len() + v.len() + 32).sum::<usize>()
            }
        }
    }
}

/// Iterator over a hash's (field, value) pairs.
pub enum Pairs<'a> {
    Packed(super::set::packed::Entries<'a>),
    Table(Box<dyn Iterator<Item = &'a (Bytes, Bytes)> + 'a>),
}

impl Iterator for Pairs<'_> {
    type Item = (Bytes, Bytes);

    fn next(&mut self) -> Option<(Bytes, Bytes)> {
        match self {
            Pairs::Packed(it) => {
                let (_, f) = it.next()?;
                let (_, v) = it.next()?;
                Some((Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
            }
            Pairs::Table(it) => it.next().cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn converts_on_size_and_length() {
        let l = HashLimits::default();
        let mut h = Hash::default();
        h.set(b"a", b"1", &l);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"b", &[b'x'; 65], &l);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::default();
        for i in 0..128 {
            h.set(i.to_string().as_bytes(), b"v", &l);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"0", b"w", &l);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"new", b"v", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 129);
    }

    #[test]
    fn compact_keeps_insertion_order() {
        let l = HashLimits::default();
        let mut h = Hash::default();
        for f in ["c", "a", "b"] {
            h.set(f.as_bytes(), b"1", &l);
        }
        h.set(b"a", b"2", &l);
        h.remove(b"c");
        let fields: Vec<Bytes> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec![Bytes::from("a"), Bytes::from("b")]);
        assert_eq!(h.get(b"a"), Some(Bytes::from("2")));
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreemap(ops in proptest::collection::vec((0u8..3, 0u16..300, 0usize..80), 1..700)) {
            let l = HashLimits::default();
            let mut h = Hash::default();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for (op, n, vlen) in ops {
                let f = format!("f{n}").into_bytes();
                let v = vec![b'v'; vlen];
                match op {
                    0 | 1 => prop_assert_eq!(h.set(&f, &v, &l), model.insert(f.clone(), v).is_none()),
                    _ => prop_assert_eq!(h.remove(&f), model.remove(&f).is_some()),
                }
                prop_assert_eq!(h.len(), model.len());
                prop_assert_eq!(h.get(&f).map(|b| b.to_vec()), model.get(&f).cloned());
            }
            let all: BTreeMap<Vec<u8>, Vec<u8>> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            prop_assert_eq!(all, model);
        }
    }
}
