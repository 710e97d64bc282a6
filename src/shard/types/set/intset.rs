//! The "intset": a sorted array of distinct integers stored at the narrowest width (16, 32 or
//! 64 bits) that holds every member, as Redis's intset does. The width only grows.

/// Sorted distinct integers, narrowest width that fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntSet {
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::W16(Vec::new())
    }
}

impl IntSet {
    pub fn len(&self) -> usize {
        match self {
            IntSet::W16(v) => v.len(),
            IntSet::W32(v) => v.len(),
            IntSet::W64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member at `index` (`index < len`).
    pub fn get(&self, index: usize) -> i64 {
        match self {
            IntSet::W16(v) => v[index] as i64,
            IntSet::W32(v) => v[index] as i64,
            IntSet::W64(v) => v[index],
        }
    }

    /// Binary search, as `slice::binary_search`.
    pub fn search(&self, n: i64) -> Result<usize, usize> {
        match self {
            IntSet::W16(v) => match i16::try_from(n) {
                Ok(x) => v.binary_search(&x),
                Err(_) => Err(if n < 0 { 0 } else { v.len() }),
            },
            IntSet::W32(v) => match i32::try_from(n) {
                Ok(x) => v.binary_search(&x),
                Err(_) => Err(if n < 0 { 0 } else { v.len() }),
            },
            IntSet::W64(v) => v.binary_search(&n),
        }
    }

    /// Adds `n`; false when present.
    pub fn insert(&mut self, n: i64) -> bool {
        let Err(at) = self.search(n) else {
            return false;
        };
        let fits = match self {
            IntSet::W16(_) => i16::try_from(n).is_ok(),
            IntSet::W32(_) => i32::try_from(n).is_ok(),
            IntSet::W64(_) => true,
        };
        if !fits {
            self.widen(n);
        }
        match self {
            IntSet::W16(v) => v.insert(at, n as i16),
            IntSet::W32(v) => v.insert(at, n as i32),
            IntSet::W64(v) => v.insert(at, n),
        }
        true
    }

    fn widen(&mut self, n: i64) {
        let all: Vec<i64> = self.iter().collect();
        *self = if i32::try_from(n).is_ok() {
            IntSet::W32(all.into_iter().map(|x| x as i32).collect())
        } else {
            IntSet::W64(all)
        };
    }

    /// Removes the member at `index`, returning it.
    pub fn remove_at(&mut self, index: usize) -> i64 {
        match self {
            IntSet::W16(v) => v.remove(index) as i64,
            IntSet::W32(v) => v.remove(index) as i64,
            IntSet::W64(v) => v.remove(index),
        }
    }

    /// Smallest and largest member.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        (!self.is_empty()).then(|| (self.get(0), self.get(self.len() - 1)))
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            IntSet::W16(v) => v.capacity() * 2,
            IntSet::W32(v) => v.capacity() * 4,
            IntSet::W64(v) => v.capacity() * 8,
        }
    }

    pub fn shrink(&mut self) {
        match self {
            IntSet::W16(v) => v.shrink_to_fit(),
            IntSet::W32(v) => v.shrink_to_fit(),
            IntSet::W64(v) => v.shrink_to_fit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn widens_only_when_needed() {
        let mut s = IntSet::default();
        s.insert(5);
        assert!(matches!(s, IntSet::W16(_)));
        s.insert(70_000);
        assert!(matches!(s, IntSet::W32(_)));
        s.insert(i64::MIN);
        assert!(matches!(s, IntSet::W64(_)));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, 5, 70_000]);
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreeset(ops in proptest::collection::vec((any::<bool>(), prop_oneof![any::<i16>().prop_map(i64::from), any::<i32>().prop_map(i64::from), any::<i64>()]), 1..300)) {
            let mut s = IntSet::default();
            let mut model = BTreeSet::new();
            for (add, n) in ops {
                if add {
                    prop_assert_eq!(s.insert(n), model.insert(n));
                } else if let Ok(at) = s.search(n) {
                    prop_assert_eq!(s.remove_at(at), n);
                    prop_assert!(model.remove(&n));
                } else {
                    prop_assert!(!model.contains(&n));
                }
            }
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), model.into_iter().collect::<Vec<_>>());
        }
    }
}
