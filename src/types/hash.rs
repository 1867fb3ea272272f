//! The hash type with Redis 7.0's two encodings:
//!
//! * `listpack`: fields and values alternating in one packed buffer
//!   (`types::listpack`), in insertion order, searched linearly. Used while the hash has at most
//!   `hash-max-listpack-entries` pairs and no field or value is longer than
//!   `hash-max-listpack-value` bytes.
//! * `hashtable`: an `IndexMap`. Its dense index gives O(1) random fields
//!   (HRANDFIELD) and an HSCAN with Redis's guarantee, the same way the
//!   keyspace does (see `shard::db`): the cursor walks positions downward,
//!   `swap_remove` only moves the last (already visited) entry into a lower
//!   slot, and inserts append at the end.
//!
//! Like Redis, a hash never converts back to a listpack.

use super::limits::{Limits, LIMITS};
use super::listpack::{self, Listpack};
use indexmap::IndexMap;
use smallvec::SmallVec;

/// A field, value or set member: up to 16 bytes are stored inline, so the
/// small strings that dominate real data cost no allocation of their own.
pub type Elem = SmallVec<[u8; 16]>;

type Hasher = crate::shard::db::Hasher;

#[derive(Clone)]
pub enum HashVal {
    Listpack(Listpack),
    /// Boxed so that a hash is 16 bytes, inline in its key's `Value`.
    Table(Box<IndexMap<Elem, Elem, Hasher>>),
}

impl Default for HashVal {
    fn default() -> Self {
        HashVal::new()
    }
}

/// A limit from the config as a usize (a negative value means "nothing fits").
fn limit(a: &std::sync::atomic::AtomicI64) -> usize {
    Limits::get(a).max(0) as usize
}

impl HashVal {
    /// An empty hash: new hashes always start as a listpack (createHashObject).
    pub fn new() -> HashVal {
        HashVal::Listpack(Listpack::new())
    }

    /// Byte offset of `field`'s pair in a listpack.
    fn find(lp: &Listpack, field: &[u8]) -> Option<usize> {
        let mut off = 0;
        while off < lp.end() {
            let (f, v) = lp.at(off);
            if f == field {
                return Some(off);
            }
            off = lp.at(v).1;
        }
        None
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            HashVal::Listpack(_) => "listpack",
            HashVal::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashVal::Listpack(lp) => lp.len() / 2,
            HashVal::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashVal::Listpack(lp) => {
                let off = Self::find(lp, field)?;
                Some(lp.at(lp.at(off).1).0)
            }
            HashVal::Table(m) => m.get(field).map(|v| v.as_slice()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Convert to a hash table if any of these lengths (of fields/values
    /// about to be written) is over hash-max-listpack-value. Redis checks a
    /// whole HSET's arguments up front (hashTypeTryConversion).
    pub fn fit_lengths(&mut self, lens: impl IntoIterator<Item = usize>) {
        if let HashVal::Listpack(_) = self {
            let max = limit(&LIMITS.hash_max_listpack_value);
            if lens.into_iter().any(|l| l > max) {
                self.convert();
            }
        }
    }

    /// Set a field; returns true if it was added (false: value replaced).
    /// Converts to a hash table when the pair is too long for a listpack or
    /// the listpack grows past hash-max-listpack-entries (hashTypeSet).
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.fit_lengths([field.len(), value.len()]);
        match self {
            HashVal::Listpack(lp) => {
                if let Some(off) = Self::find(lp, field) {
                    let voff = lp.at(off).1;
                    lp.splice(voff, 1, &[value]);
                    return false;
                }
                lp.push(&[field, value]);
                if lp.len() / 2 > limit(&LIMITS.hash_max_listpack_entries) {
                    self.convert();
                }
                true
            }
            // One probe: a big table's lookups are cache misses.
            HashVal::Table(m) => match m.entry(Elem::from_slice(field)) {
                indexmap::map::Entry::Occupied(mut o) => {
                    *o.get_mut() = Elem::from_slice(value);
                    false
                }
                indexmap::map::Entry::Vacant(v) => {
                    v.insert(Elem::from_slice(value));
                    true
                }
            },
        }
    }

    /// Remove a field; returns whether it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashVal::Listpack(lp) => match Self::find(lp, field) {
                Some(off) => {
                    lp.splice(off, 2, &[]);
                    true
                }
                None => false,
            },
            HashVal::Table(m) => {
                let found = m.swap_remove(field).is_some();
                shrink_if_sparse(m);
                found
            }
        }
    }

    /// The pair at position `i` (0..len), for random access.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            HashVal::Listpack(lp) => {
                let mut it = lp.iter_at(lp.offset_of(2 * i));
                Some((it.next()?, it.next()?))
            }
            HashVal::Table(m) => m.get_index(i).map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match self {
            HashVal::Listpack(lp) => Iter::Listpack(lp.iter()),
            HashVal::Table(m) => Iter::Table(m.iter()),
        }
    }

    /// One HSCAN step from `cursor`, visiting about `count` pairs; returns
    /// the next cursor (0 = done). A listpack is returned whole with cursor
    /// 0, as Redis does for its compact encodings.
    pub fn scan<'s>(
        &'s self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'s [u8], &'s [u8]),
    ) -> u64 {
        match self {
            HashVal::Listpack(_) => {
                for (f, val) in self.iter() {
                    visit(f, val);
                }
                0
            }
            HashVal::Table(m) => scan_positions(m.len(), cursor, count, |i| {
                if let Some((f, v)) = m.get_index(i) {
                    visit(f, v);
                }
            }),
        }
    }

    /// Approximate bytes used (MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        let elem = |e: &Elem| if e.spilled() { e.capacity() } else { 0 };
        match self {
            HashVal::Listpack(lp) => lp.bytes(),
            HashVal::Table(m) => {
                // Entries (hash + pair) plus the index table.
                m.capacity() * (std::mem::size_of::<(Elem, Elem)>() + 8 + 8)
                    + m.iter().map(|(f, x)| elem(f) + elem(x)).sum::<usize>()
            }
        }
    }

    fn convert(&mut self) {
        if let HashVal::Listpack(lp) = self {
            let mut m = IndexMap::with_capacity_and_hasher(lp.len() / 2, Hasher::default());
            let mut it = lp.iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                m.insert(Elem::from_slice(f), Elem::from_slice(v));
            }
            *self = HashVal::Table(Box::new(m));
        }
    }
}

/// Give memory back when a table has shrunk to under a tenth of its
/// capacity (Redis resizes dicts below 10% fill too).
pub(crate) fn shrink_if_sparse<K, V, S>(m: &mut IndexMap<K, V, S>)
where
    K: std::hash::Hash + Eq,
    S: std::hash::BuildHasher,
{
    if m.capacity() > 64 && m.len() * 10 < m.capacity() {
        m.shrink_to(m.len() * 2);
    }
}

/// The downward position walk shared by HSCAN and SSCAN (see `Db::scan`):
/// a cursor is the position below which entries remain to be visited; 0
/// starts at the end. Shrinking a table keeps positions, so it is safe.
pub(crate) fn scan_positions(
    len: usize,
    cursor: u64,
    count: usize,
    mut visit: impl FnMut(usize),
) -> u64 {
    let len = len as u64;
    let mut i = if cursor == 0 || cursor > len {
        len
    } else {
        cursor
    };
    let mut seen = 0;
    while i > 0 && seen < count {
        i -= 1;
        seen += 1;
        visit(i as usize);
    }
    i
}

pub enum Iter<'a> {
    Listpack(listpack::Iter<'a>),
    Table(indexmap::map::Iter<'a, Elem, Elem>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => Some((it.next()?, it.next()?)),
            Iter::Table(it) => it.next().map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Listpack(_) => (0, None),
            Iter::Table(it) => it.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn listpack_set_get_remove_keeps_order() {
        let mut h = HashVal::new();
        assert!(h.set(b"a", b"1"));
        assert!(h.set(b"b", b"2"));
        assert!(h.set(b"c", b"3"));
        assert!(!h.set(b"b", b"20"));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.get(b"b"), Some(&b"20"[..]));
        assert_eq!(h.get(b"x"), None);
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        let fields: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec![&b"b"[..], &b"c"[..]]);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn converts_on_long_value_or_many_entries() {
        let mut h = HashVal::new();
        h.set(b"f", &[b'x'; 65]);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f").map(|v| v.len()), Some(65));

        let mut h = HashVal::new();
        h.set(&[b'k'; 65], b"v");
        assert_eq!(h.encoding(), "hashtable");

        let mut h = HashVal::new();
        for i in 0..512 {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"one-more", b"v");
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 513);
        // Never converts back.
        for i in 0..512 {
            h.remove(format!("f{i}").as_bytes());
        }
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"one-more"), Some(&b"v"[..]));
    }

    #[test]
    fn fit_lengths_converts_up_front() {
        let mut h = HashVal::new();
        h.fit_lengths([1, 2, 64]);
        assert_eq!(h.encoding(), "listpack");
        h.fit_lengths([1, 65]);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn table_scan_survives_deletes() {
        let mut h = HashVal::new();
        for i in 0..1000 {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(h.encoding(), "hashtable");
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = h.scan(cursor, 10, |f, _| {
                seen.insert(f.to_vec());
            });
            round += 1;
            if round == 5 {
                // Delete most fields mid-scan; f0..f99 must still be seen.
                for i in 100..1000 {
                    h.remove(format!("f{i}").as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(format!("f{i}").as_bytes()), "missing f{i}");
        }
    }

    #[test]
    fn listpack_scan_is_one_step() {
        let mut h = HashVal::new();
        h.set(b"a", b"1");
        h.set(b"b", b"2");
        let mut n = 0;
        assert_eq!(h.scan(0, 1, |_, _| n += 1), 0);
        assert_eq!(n, 2);
    }
}
