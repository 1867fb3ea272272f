//! The keyspace's hash table: entries in a dense vector (as in `IndexMap`:
//! a random entry is O(1) for RANDOMKEY and expiry sampling, and SCAN walks
//! indices downward), found through an open-addressing array of 8-byte
//! slots with linear probing.
//!
//! Why not `IndexMap`: its index is a SwissTable of `usize`, so looking up a
//! key that is not in cache misses three times in a row (control bytes,
//! index slot, entry), and at -P 1 those misses were the largest user-space
//! cost of a GET or SET on a 100k-key keyspace. Here a slot holds the entry's
//! index *and* 32 bits of its hash: one miss for the slot, one for the
//! entry. And since the slot's address depends on the hash alone, a lookup
//! can be started early (`prefetch`), which the reactor does for the keys of
//! a whole batch of commands before it runs the first.
//!
//! Slot encoding: 0 is empty; otherwise `(h << 32) | (index + 1)` where `h`
//! is the low 32 bits of the key's hash, whose low bits are also the slot's
//! home position. Keeping the home derivable from the slot lets deletion
//! shift later slots back (no tombstones) without touching the entries.
//! The load factor stays at or below 3/4, so a probe always ends.

use std::hash::BuildHasher;

pub type Hasher = foldhash::fast::RandomState;

/// Keys of up to 16 bytes (e.g. redis-benchmark's `key:000000012345`) live
/// inside the entry, so a lookup compares them without another cache miss
/// and without an allocation; longer keys spill to the heap.
pub type Key = smallvec::SmallVec<[u8; 16]>;

#[derive(Clone)]
struct Bucket<V> {
    /// The hash bits the slots use: growth re-places entries without
    /// rehashing keys.
    hash: u32,
    /// Free for the owner: the keyspace keeps the key's access clock here
    /// (LRU/LFU, see `Db`), in what would otherwise be padding.
    meta: u32,
    key: Key,
    value: V,
}

#[derive(Clone)]
pub struct KeyTable<V> {
    entries: Vec<Bucket<V>>,
    /// Empty (no allocation) until the first insert; then a power of two.
    slots: Box<[u64]>,
    mask: usize,
    hasher: Hasher,
}

const MIN_SLOTS: usize = 8;

#[inline]
fn encode(h: u32, index: usize) -> u64 {
    ((h as u64) << 32) | (index as u64 + 1)
}

#[inline]
fn slot_hash(s: u64) -> u32 {
    (s >> 32) as u32
}

#[inline]
fn slot_index(s: u64) -> usize {
    (s as u32 as usize).wrapping_sub(1)
}

/// Start loading the cache line at `p` without waiting for it.
#[inline(always)]
fn prefetch_read<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> KeyTable<V> {
    pub fn new() -> Self {
        KeyTable {
            entries: Vec::new(),
            slots: Box::new([]),
            mask: 0,
            hasher: Hasher::default(),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries it holds before the next growth.
    pub fn capacity(&self) -> usize {
        self.slots.len() / 4 * 3
    }

    /// The key's bytes straight into the hasher: `hash_one(key)` goes
    /// through the generic `Hash for [u8]` (length prefix, then bytes),
    /// which the compiler stopped inlining into some callers as the
    /// reactor grew: ~35 instructions a key more (10-key MSET +320).
    #[inline(always)]
    pub fn hash(&self, key: &[u8]) -> u64 {
        use std::hash::Hasher as _;
        let mut h = self.hasher.build_hasher();
        h.write(key);
        h.finish()
    }

    /// Begin fetching the slot a lookup of `hash` starts at.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        if !self.slots.is_empty() {
            let pos = hash as u32 as usize & self.mask;
            prefetch_read(self.slots.as_ptr().wrapping_add(pos));
        }
    }

    /// Second step after `prefetch_slot`: begin fetching the entry the
    /// first slot with a matching hash points to (a hint: no key compare).
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let h = hash as u32;
        let mut pos = h as usize & self.mask;
        // A few slots at most: the hint is worth less than a long probe.
        for _ in 0..4 {
            let s = self.slots[pos];
            if s == 0 {
                return;
            }
            if slot_hash(s) == h {
                let i = slot_index(s);
                if i < self.entries.len() {
                    prefetch_read(self.entries.as_ptr().wrapping_add(i));
                }
                return;
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// Position of `key` (whose hash is `hash`) in the entry vector.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let h = hash as u32;
        let mut pos = h as usize & self.mask;
        loop {
            let s = self.slots[pos];
            if s == 0 {
                return None;
            }
            if slot_hash(s) == h {
                let i = slot_index(s);
                if self.entries[i].key[..] == *key {
                    return Some(i);
                }
            }
            pos = (pos + 1) & self.mask;
        }
    }

    #[inline]
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.find(self.hash(key), key)
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_index_of(key).map(|i| &self.entries[i].value)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.get_index_of(key)?;
        Some(&mut self.entries[i].value)
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&Key, &V)> {
        self.entries.get(i).map(|b| (&b.key, &b.value))
    }

    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<(&Key, &mut V)> {
        self.entries.get_mut(i).map(|b| (&b.key, &mut b.value))
    }

    #[inline]
    pub fn meta(&self, i: usize) -> u32 {
        self.entries.get(i).map_or(0, |b| b.meta)
    }

    #[inline]
    pub fn meta_mut(&mut self, i: usize) -> Option<&mut u32> {
        self.entries.get_mut(i).map(|b| &mut b.meta)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &V)> {
        self.entries.iter().map(|b| (&b.key, &b.value))
    }

    /// The keys in entry order (a nameable iterator, for enums of them).
    pub fn keys(&self) -> Keys<'_, V> {
        Keys(self.entries.iter())
    }

    /// Bytes held by the table itself (not counting spilled keys).
    pub fn table_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Bucket<V>>() + self.slots.len() * 8
    }

    /// Give memory back: size the table for `n` entries (at least its
    /// length), as after many removals.
    pub fn shrink_to(&mut self, n: usize) {
        let want = n.max(self.entries.len());
        let mut slots = MIN_SLOTS;
        while slots / 4 * 3 < want {
            slots *= 2;
        }
        if slots >= self.slots.len() {
            return;
        }
        self.entries.shrink_to(slots / 4 * 3);
        self.resize_slots(slots);
    }

    /// A fresh slot array of `n` slots with every entry placed again from
    /// its stored hash.
    fn resize_slots(&mut self, n: usize) {
        self.slots = vec![0u64; n].into_boxed_slice();
        self.mask = n - 1;
        for (i, b) in self.entries.iter().enumerate() {
            let h = b.hash;
            let mut pos = h as usize & self.mask;
            while self.slots[pos] != 0 {
                pos = (pos + 1) & self.mask;
            }
            self.slots[pos] = encode(h, i);
        }
    }

    /// Insert or overwrite; returns the entry's position and the value it
    /// replaced.
    pub fn insert_full(&mut self, key: &[u8], value: V) -> (usize, Option<V>) {
        let hash = self.hash(key);
        if let Some(i) = self.find(hash, key) {
            return (
                i,
                Some(std::mem::replace(&mut self.entries[i].value, value)),
            );
        }
        (self.push_new(hash, key, value, 0), None)
    }

    /// Append an entry for a key known to be absent.
    pub fn push_new(&mut self, hash: u64, key: &[u8], value: V, meta: u32) -> usize {
        if self.entries.len() >= self.capacity() {
            self.grow();
        }
        let i = self.entries.len();
        self.entries.push(Bucket {
            hash: hash as u32,
            meta,
            key: Key::from_slice(key),
            value,
        });
        let pos = self.free_slot(hash as u32);
        self.slots[pos] = encode(hash as u32, i);
        i
    }

    /// Remove entry `i`; the last entry takes its place (as `Vec::swap_remove`).
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(Key, V)> {
        let hash = self.entries.get(i)?.hash as u64;
        let pos = self.slot_of(hash, i);
        self.remove_slot(pos);
        let last = self.entries.len() - 1;
        if i != last {
            let lhash = self.entries[last].hash as u64;
            let lpos = self.slot_of(lhash, last);
            self.slots[lpos] = encode(lhash as u32, i);
        }
        let b = self.entries.swap_remove(i);
        Some((b.key, b.value))
    }

    pub fn swap_remove_entry(&mut self, key: &[u8]) -> Option<(Key, V)> {
        let i = self.get_index_of(key)?;
        self.swap_remove_index(i)
    }

    /// The first empty slot on `h`'s probe sequence.
    #[inline]
    fn free_slot(&self, h: u32) -> usize {
        let mut pos = h as usize & self.mask;
        while self.slots[pos] != 0 {
            pos = (pos + 1) & self.mask;
        }
        pos
    }

    /// The slot that points at entry `i` (which exists, with hash `hash`).
    fn slot_of(&self, hash: u64, i: usize) -> usize {
        let want = encode(hash as u32, i);
        let mut pos = hash as u32 as usize & self.mask;
        while self.slots[pos] != want {
            pos = (pos + 1) & self.mask;
        }
        pos
    }

    /// Empty slot `hole`, moving back each later slot of the same run whose
    /// home is not between the hole and itself, so that every probe still
    /// reaches its key before an empty slot.
    fn remove_slot(&mut self, mut hole: usize) {
        let mask = self.mask;
        let mut j = (hole + 1) & mask;
        loop {
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            let home = slot_hash(s) as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = 0;
    }

    /// Double the slots and re-place every entry from its stored hash. The
    /// entry vector is sized to the new capacity at the same moment, so
    /// both reallocate together (see `Db::after_insert`).
    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        self.resize_slots(n);
        let want = self.capacity();
        self.entries
            .reserve_exact(want.saturating_sub(self.entries.len()));
    }
}

pub struct Keys<'a, V>(std::slice::Iter<'a, Bucket<V>>);

impl<'a, V> Iterator for Keys<'a, V> {
    type Item = &'a Key;
    fn next(&mut self) -> Option<&'a Key> {
        self.0.next().map(|b| &b.key)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<V> std::ops::Index<usize> for KeyTable<V> {
    type Output = V;
    fn index(&self, i: usize) -> &V {
        &self.entries[i].value
    }
}

impl<V> std::ops::IndexMut<usize> for KeyTable<V> {
    fn index_mut(&mut self, i: usize) -> &mut V {
        &mut self.entries[i].value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Every slot is reachable from its home without crossing an empty
    /// slot, points at an entry whose hash it carries, and every entry has
    /// exactly one slot.
    fn check_invariants(t: &KeyTable<u32>) {
        let mut seen = vec![0u32; t.entries.len()];
        for (pos, &s) in t.slots.iter().enumerate() {
            if s == 0 {
                continue;
            }
            let i = slot_index(s);
            assert!(i < t.entries.len(), "slot {pos} points past the end");
            assert_eq!(slot_hash(s), t.entries[i].hash);
            seen[i] += 1;
            let mut p = slot_hash(s) as usize & t.mask;
            while p != pos {
                assert_ne!(t.slots[p], 0, "slot {pos} cut off from its home");
                p = (p + 1) & t.mask;
            }
        }
        assert!(
            seen.iter().all(|&n| n == 1),
            "entries without one slot each"
        );
        assert!(t.len() <= t.capacity() || t.slots.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        RemoveIndex(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        // A small key range so that removes and overwrites hit.
        prop_oneof![
            3 => (0u16..600, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            1 => (0u16..600).prop_map(Op::Remove),
            1 => any::<u16>().prop_map(Op::RemoveIndex),
        ]
    }

    fn key(k: u16) -> Vec<u8> {
        // Both inline (short) and spilled (long) keys.
        if k.is_multiple_of(3) {
            format!("a-rather-long-key-name-{k}").into_bytes()
        } else {
            format!("k{k}").into_bytes()
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_hashmap(ops in proptest::collection::vec(op(), 1..2000)) {
            let mut t = KeyTable::new();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let (_, old) = t.insert_full(&key(k), v);
                        prop_assert_eq!(old, model.insert(key(k), v));
                    }
                    Op::Remove(k) => {
                        let got = t.swap_remove_entry(&key(k)).map(|(_, v)| v);
                        prop_assert_eq!(got, model.remove(&key(k)));
                    }
                    Op::RemoveIndex(i) => {
                        if !t.is_empty() {
                            let i = i as usize % t.len();
                            let (k, v) = t.swap_remove_index(i).unwrap();
                            prop_assert_eq!(model.remove(&k[..]), Some(v));
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
            }
            check_invariants(&t);
            for (k, v) in &model {
                prop_assert_eq!(t.get(k), Some(v));
            }
            for k in 0..600u16 {
                prop_assert_eq!(t.contains_key(&key(k)), model.contains_key(&key(k)));
            }
            let mut listed: Vec<_> = t.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
            let mut expect: Vec<_> = model.into_iter().collect();
            listed.sort();
            expect.sort();
            prop_assert_eq!(listed, expect);
        }
    }

    #[test]
    fn grows_and_shrinks_back_to_empty() {
        let mut t = KeyTable::new();
        for i in 0..100_000u32 {
            t.insert_full(&i.to_be_bytes(), i);
        }
        check_invariants(&t);
        assert_eq!(t.len(), 100_000);
        for i in (0..100_000u32).step_by(2) {
            assert_eq!(t.swap_remove_entry(&i.to_be_bytes()).map(|e| e.1), Some(i));
        }
        check_invariants(&t);
        for i in 0..100_000u32 {
            assert_eq!(t.get(&i.to_be_bytes()).is_some(), !i.is_multiple_of(2));
        }
        let before = t.slots.len();
        t.shrink_to(0);
        assert!(t.slots.len() < before);
        check_invariants(&t);
        for i in 0..100_000u32 {
            assert_eq!(t.get(&i.to_be_bytes()).is_some(), !i.is_multiple_of(2));
        }
        while !t.is_empty() {
            t.swap_remove_index(0);
        }
        assert!(t.slots.iter().all(|&s| s == 0));
    }

    #[test]
    fn prefetch_is_harmless_on_any_table() {
        let mut t: KeyTable<u8> = KeyTable::new();
        t.prefetch_slot(12345);
        t.prefetch_entry(12345);
        t.insert_full(b"a", 1);
        let h = t.hash(b"a");
        t.prefetch_slot(h);
        t.prefetch_entry(h);
        t.prefetch_entry(!h);
        assert_eq!(t.get(b"a"), Some(&1));
    }
}
