//! The compact representation of small sets and hashes ("listpack"): every element in one
//! byte buffer, each prefixed by its length as a LEB128 varint. Lookups scan linearly, which
//! is cheap at the sizes Redis keeps compact (128 entries of at most 64 bytes by default).

/// A list of byte strings packed into one buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packed {
    buf: Vec<u8>,
    len: usize,
}

fn read_len(buf: &[u8], mut at: usize) -> (usize, usize) {
    let mut value = 0usize;
    let mut shift = 0;
    loop {
        let byte = buf[at];
        at += 1;
        value |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            return (value, at);
        }
        shift += 7;
    }
}

/// Bytes `write_len` takes for `n`.
fn len_bytes(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

fn write_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

impl Packed {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements with the byte offset each starts at.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            buf: &self.buf,
            at: 0,
        }
    }

    /// Elements in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.entries().map(|(_, e)| e)
    }

    /// The element at `index` (linear).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.iter().nth(index)
    }

    /// Appends an element. The buffer grows to fit exactly: packed collections are many and
    /// small, and the allocator resizes in place within a block's size class.
    pub fn push(&mut self, item: &[u8]) {
        self.buf.reserve_exact(len_bytes(item.len()) + item.len());
        write_len(&mut self.buf, item.len());
        self.buf.extend_from_slice(item);
        self.len += 1;
    }

    /// Removes `n` consecutive elements starting at byte offset `at`.
    pub fn remove(&mut self, at: usize, n: usize) {
        let mut end = at;
        for _ in 0..n {
            let (len, data) = read_len(&self.buf, end);
            end = data + len;
        }
        self.buf.drain(at..end);
        self.len -= n;
    }

    /// Replaces the element starting at byte offset `at` with `item`.
    pub fn replace(&mut self, at: usize, item: &[u8]) {
        let (len, data) = read_len(&self.buf, at);
        let mut encoded = Vec::with_capacity(item.len() + 2);
        write_len(&mut encoded, item.len());
        encoded.extend_from_slice(item);
        let old = data + len - at;
        if encoded.len() > old {
            self.buf.reserve_exact(encoded.len() - old);
        }
        self.buf.splice(at..data + len, encoded);
    }

    /// Heap bytes in use.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Drops spare capacity (after a bulk build).
    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }
}

/// Iterator over a packed list's elements and their byte offsets.
pub struct Entries<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        let start = self.at;
        let (len, data) = read_len(self.buf, start);
        self.at = data + len;
        Some((start, &self.buf[data..data + len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn behaves_like_a_vec(ops in proptest::collection::vec((0u8..3, proptest::collection::vec(any::<u8>(), 0..300)), 1..60)) {
            let mut p = Packed::default();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for (op, item) in ops {
                match op {
                    0 => { p.push(&item); model.push(item); }
                    1 if !model.is_empty() => {
                        let i = item.len() % model.len();
                        let at = p.entries().nth(i).unwrap().0;
                        p.remove(at, 1);
                        model.remove(i);
                    }
                    _ if !model.is_empty() => {
                        let i = item.len() % model.len();
                        let at = p.entries().nth(i).unwrap().0;
                        p.replace(at, &item);
                        model[i] = item;
                    }
                    _ => {}
                }
                prop_assert_eq!(p.len(), model.len());
                let got: Vec<Vec<u8>> = p.iter().map(|e| e.to_vec()).collect();
                prop_assert_eq!(&got, &model);
            }
        }
    }
}
