//! A map from lock ids to small values, for the lock table's held and
//! queued sets.
//!
//! Written by hand because the ids are already uniformly random (seeded
//! hashes: see `locks::lock_id`) and a two-shard MSET pipeline inserts and
//! removes a held id for every key of its coordinator's shard: hashbrown's
//! general machinery (control bytes, group probes, tombstones) was ~2.7%
//! of such an MSET's instructions more than this. A slot is found from the
//! id's top bits, probing is linear over a table kept at most half full,
//! and a removal shifts the probe run back instead of leaving a tombstone,
//! so lookups never slow down as ids come and go.

use super::locks::LockId;

/// Never an id (`locks::key_lock` keeps key ids off it, and the two
/// whole-shard ids are other values): marks an empty slot.
pub const EMPTY: LockId = u64::MAX - 2;

const MIN_SLOTS: usize = 64;

pub struct IdTable<V> {
    slots: Vec<(LockId, V)>,
    len: usize,
    /// `64 - log2(slots.len())`: an id's home slot is its top bits.
    shift: u32,
}

impl<V: Copy + Default> Default for IdTable<V> {
    fn default() -> Self {
        IdTable {
            slots: Vec::new(),
            len: 0,
            shift: 64,
        }
    }
}

impl<V: Copy + Default> IdTable<V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    #[inline]
    fn home(&self, k: LockId) -> usize {
        // shift < 64 whenever there are slots; with none, callers return first.
        (k >> (self.shift & 63)) as usize & self.mask()
    }

    /// The slot holding `k`, or None.
    #[inline]
    fn find(&self, k: LockId) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(k);
        loop {
            let (id, _) = self.slots[i];
            if id == k {
                return Some(i);
            }
            if id == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub fn contains_key(&self, k: LockId) -> bool {
        self.find(k).is_some()
    }

    #[inline]
    pub fn get(&self, k: LockId) -> Option<V> {
        self.find(k).map(|i| self.slots[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, k: LockId) -> Option<&mut V> {
        self.find(k).map(|i| &mut self.slots[i].1)
    }

    /// The value of `k`, inserted as `V::default()` if absent.
    #[inline]
    pub fn get_or_default(&mut self, k: LockId) -> &mut V {
        debug_assert_ne!(k, EMPTY);
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.mask();
        let mut i = self.home(k);
        loop {
            let id = self.slots[i].0;
            if id == k {
                break;
            }
            if id == EMPTY {
                self.slots[i] = (k, V::default());
                self.len += 1;
                break;
            }
            i = (i + 1) & mask;
        }
        &mut self.slots[i].1
    }

    /// Set `k` to `v`; the previous value if it had one.
    #[inline]
    pub fn insert(&mut self, k: LockId, v: V) -> Option<V> {
        let had = self.len;
        let slot = self.get_or_default(k);
        let old = *slot;
        *slot = v;
        (self.len == had).then_some(old)
    }

    pub fn remove(&mut self, k: LockId) -> Option<V> {
        let mut hole = self.find(k)?;
        let old = self.slots[hole].1;
        self.len -= 1;
        // Backward-shift deletion: move later members of the probe run
        // into the hole when their home is not between the hole and them.
        let mask = self.mask();
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let id = self.slots[i].0;
            if id == EMPTY {
                break;
            }
            let home = self.home(id);
            if (i.wrapping_sub(home) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[i];
                hole = i;
            }
        }
        self.slots[hole] = (EMPTY, V::default());
        Some(old)
    }

    pub fn values(&self) -> impl Iterator<Item = V> + '_ {
        self.slots
            .iter()
            .filter(|(id, _)| *id != EMPTY)
            .map(|&(_, v)| v)
    }

    pub fn keys(&self) -> impl Iterator<Item = LockId> + '_ {
        self.slots
            .iter()
            .filter(|(id, _)| *id != EMPTY)
            .map(|&(id, _)| id)
    }

    #[cold]
    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![(EMPTY, V::default()); n]);
        self.shift = 64 - n.trailing_zeros();
        self.len = 0;
        for (id, v) in old {
            if id != EMPTY {
                *self.get_or_default(id) = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Against std's HashMap, with ids drawn from a small set (so the
        /// same ids come and go) and from clusters sharing their top bits
        /// (long probe runs that wrap, where backward shifts can go wrong).
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(
            (0u8..4, prop_oneof![0u64..40, (0u64..8).prop_map(|x| x | 0xFFFF_0000_0000_0000), (0u64..8).prop_map(|x| (x << 58) | 7)], any::<u32>()),
            0..400,
        )) {
            let mut t: IdTable<u32> = IdTable::default();
            let mut m: HashMap<u64, u32> = HashMap::new();
            for (op, k, v) in ops {
                match op {
                    0 => prop_assert_eq!(t.insert(k, v), m.insert(k, v)),
                    1 => prop_assert_eq!(t.remove(k), m.remove(&k)),
                    2 => {
                        *t.get_or_default(k) += 1;
                        *m.entry(k).or_default() += 1;
                    }
                    _ => prop_assert_eq!(t.get(k), m.get(&k).copied()),
                }
                prop_assert_eq!(t.len(), m.len());
                for (&k, &v) in &m {
                    prop_assert_eq!(t.get(k), Some(v));
                }
                let mut keys: Vec<u64> = t.keys().collect();
                keys.sort_unstable();
                let mut want: Vec<u64> = m.keys().copied().collect();
                want.sort_unstable();
                prop_assert_eq!(keys, want);
            }
        }
    }
}
