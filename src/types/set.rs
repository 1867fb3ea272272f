//! The set type with Redis 7.0's two encodings:
//!
//! * `intset`: a sorted `Vec<i64>`, used while every member is a canonical
//!   integer (Redis's string2ll rules) and there are at most
//!   `set-max-intset-entries` members;
//! * `hashtable`: the keyspace's `KeyTable` (no values): its dense entry
//!   vector gives O(1) random members (SPOP, SRANDMEMBER) and an SSCAN with
//!   Redis's guarantee (see `types::hash`), and a member lookup misses the
//!   cache twice where an `IndexSet` missed three times.
//!
//! Redis 7.0 has no listpack set encoding, and a set never converts back.

use super::hash::{scan_positions, Elem};
use super::limits::{Limits, LIMITS};
use crate::protocol::parse_i64;
use crate::shard::keytable::{KeyTable, Keys};

#[derive(Clone)]
pub enum SetVal {
    Intset(Vec<i64>),
    Table(KeyTable<()>),
}

/// A member as stored: intsets hold integers, tables hold bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Call `f` with the byte form (integers are formatted on the stack).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(v) => f(itoa::Buffer::new().format(*v).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }
    pub fn to_elem(&self) -> Elem {
        self.with_bytes(Elem::from_slice)
    }
}

/// set-max-intset-entries, capped at 2^30 like Redis (intset internals).
fn max_intset() -> usize {
    Limits::get(&LIMITS.set_max_intset_entries).clamp(0, 1 << 30) as usize
}

impl SetVal {
    /// An empty intset: the starting point of SINTERSTORE & co, which then
    /// convert as members are added.
    pub fn new_intset() -> SetVal {
        SetVal::Intset(Vec::new())
    }

    /// The empty set SADD creates for its first member (setTypeCreate): an
    /// intset if that member is an integer, else a hash table.
    pub fn for_member(m: &[u8]) -> SetVal {
        if parse_i64(m).is_some() {
            SetVal::Intset(Vec::new())
        } else {
            SetVal::Table(KeyTable::new())
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            SetVal::Intset(_) => "intset",
            SetVal::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetVal::Intset(v) => v.len(),
            SetVal::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            SetVal::Intset(v) => parse_i64(m).is_some_and(|x| v.binary_search(&x).is_ok()),
            SetVal::Table(s) => s.contains_key(m),
        }
    }

    /// Membership of a member taken from another set (no parsing when both
    /// sides are integers).
    pub fn contains_member(&self, m: Member) -> bool {
        match (self, m) {
            (SetVal::Intset(v), Member::Int(x)) => v.binary_search(&x).is_ok(),
            (_, m) => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Add a member; returns whether it was new (setTypeAdd).
    pub fn insert(&mut self, m: &[u8]) -> bool {
        if let SetVal::Intset(v) = self {
            match parse_i64(m) {
                Some(x) => {
                    return match v.binary_search(&x) {
                        Ok(_) => false,
                        Err(pos) => {
                            v.insert(pos, x);
                            if v.len() > max_intset() {
                                self.convert();
                            }
                            true
                        }
                    };
                }
                None => self.convert(),
            }
        }
        match self {
            SetVal::Table(s) => s.insert_full(m, ()).1.is_none(),
            // Converted just above.
            SetVal::Intset(_) => false,
        }
    }

    pub fn insert_member(&mut self, m: Member) -> bool {
        m.with_bytes(|b| self.insert(b))
    }

    /// Remove a member; returns whether it was present.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            SetVal::Intset(v) => match parse_i64(m).map(|x| v.binary_search(&x)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            SetVal::Table(s) => {
                let found = s.swap_remove_entry(m).is_some();
                shrink_if_sparse_set(s);
                found
            }
        }
    }

    /// The member at position `i` (0..len).
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            SetVal::Intset(v) => v.get(i).map(|&x| Member::Int(x)),
            SetVal::Table(s) => s.get_index(i).map(|(e, _)| Member::Bytes(e)),
        }
    }

    /// A uniformly random member, None if empty.
    pub fn random(&self) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        self.get_index(fastrand::usize(..self.len()))
    }

    /// Remove and return the member at position `i`.
    pub fn take_index(&mut self, i: usize) -> Option<Elem> {
        match self {
            SetVal::Intset(v) => {
                if i < v.len() {
                    Some(Member::Int(v.remove(i)).to_elem())
                } else {
                    None
                }
            }
            SetVal::Table(s) => s.swap_remove_index(i).map(|(e, _)| e),
        }
    }

    /// Remove `k` distinct uniformly random members (k < len) and return
    /// them, in random order.
    pub fn pop_random(&mut self, k: usize) -> Vec<Elem> {
        match self {
            SetVal::Intset(v) => {
                // One O(n) pass instead of k shifting removals.
                let picked = sample_distinct(v.len(), k);
                let mut mark = vec![false; v.len()];
                let out = picked
                    .iter()
                    .map(|&i| {
                        mark[i] = true;
                        Member::Int(v[i]).to_elem()
                    })
                    .collect();
                let mut i = 0;
                v.retain(|_| {
                    i += 1;
                    !mark[i - 1]
                });
                out
            }
            SetVal::Table(s) => {
                let mut out = Vec::with_capacity(k);
                for _ in 0..k.min(s.len()) {
                    let i = fastrand::usize(..s.len());
                    if let Some((e, _)) = s.swap_remove_index(i) {
                        out.push(e);
                    }
                }
                shrink_if_sparse_set(s);
                out
            }
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match self {
            SetVal::Intset(v) => Iter::Intset(v.iter()),
            SetVal::Table(s) => Iter::Table(s.keys()),
        }
    }

    /// One SSCAN step (see `HashVal::scan`): an intset is returned whole
    /// with cursor 0.
    pub fn scan<'s>(&'s self, cursor: u64, count: usize, mut visit: impl FnMut(Member<'s>)) -> u64 {
        match self {
            SetVal::Intset(v) => {
                for &x in v {
                    visit(Member::Int(x));
                }
                0
            }
            SetVal::Table(s) => scan_positions(s.len(), cursor, count, |i| {
                if let Some((e, _)) = s.get_index(i) {
                    visit(Member::Bytes(e));
                }
            }),
        }
    }

    /// Approximate bytes used (MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        match self {
            SetVal::Intset(v) => v.capacity() * 8,
            SetVal::Table(s) => {
                s.table_bytes()
                    + s.keys()
                        .map(|e| if e.spilled() { e.capacity() } else { 0 })
                        .sum::<usize>()
            }
        }
    }

    fn convert(&mut self) {
        if let SetVal::Intset(v) = self {
            let mut s = KeyTable::new();
            for &x in v.iter() {
                Member::Int(x).with_bytes(|b| s.insert_full(b, ()));
            }
            *self = SetVal::Table(s);
        }
    }
}

/// `hash::shrink_if_sparse` for sets: give memory back below 10% fill.
fn shrink_if_sparse_set(s: &mut KeyTable<()>) {
    if s.capacity() > 64 && s.len() * 10 < s.capacity() {
        s.shrink_to(s.len() * 2);
    }
}

pub enum Iter<'a> {
    Intset(std::slice::Iter<'a, i64>),
    Table(Keys<'a, ()>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Intset(it) => it.next().map(|&x| Member::Int(x)),
            Iter::Table(it) => it.next().map(|e| Member::Bytes(e)),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Intset(it) => it.size_hint(),
            Iter::Table(it) => it.size_hint(),
        }
    }
}

/// `k` distinct positions out of `0..n` (k <= n), uniformly, in random
/// order. A partial Fisher-Yates shuffle when k is a large part of n,
/// rejection sampling otherwise (Redis's SRANDMEMBER cases 3 and 4).
pub fn sample_distinct(n: usize, k: usize) -> Vec<usize> {
    let k = k.min(n);
    if k * 3 > n {
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = fastrand::usize(i..n);
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    } else {
        let mut seen = hashbrown::HashSet::with_capacity(k);
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let i = fastrand::usize(..n);
            if seen.insert(i) {
                out.push(i);
            }
        }
        out
    }
}

/// Members in every one of `sets`, each passed to `f` (which returns
/// false to stop early). Walks the smallest set, as Redis does.
pub fn inter_each<'s>(sets: &[&'s SetVal], mut f: impl FnMut(Member<'s>) -> bool) {
    let Some(smallest) = sets.iter().min_by_key(|s| s.len()) else {
        return;
    };
    for m in smallest.iter() {
        let in_all = sets
            .iter()
            .all(|s| std::ptr::eq(*s, *smallest) || s.contains_member(m));
        if in_all && !f(m) {
            return;
        }
    }
}

/// The intersection as a new set (SINTERSTORE): it starts as an intset and
/// converts as members are added, so its encoding follows its content.
pub fn inter(sets: &[&SetVal]) -> SetVal {
    let mut out = SetVal::new_intset();
    inter_each(sets, |m| {
        out.insert_member(m);
        true
    });
    out
}

/// The union of the sets (None = a missing key, an empty set).
pub fn union(sets: &[Option<&SetVal>]) -> SetVal {
    let mut out = SetVal::new_intset();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            out.insert_member(m);
        }
    }
    out
}

/// The first set minus all the others (None = a missing key).
pub fn diff(sets: &[Option<&SetVal>]) -> SetVal {
    let mut out = SetVal::new_intset();
    let Some(Some(first)) = sets.first() else {
        return out;
    };
    let rest = &sets[1..];
    // The first set named again: the difference is empty.
    if rest.iter().flatten().any(|s| std::ptr::eq(*s, *first)) {
        return out;
    }
    for m in first.iter() {
        if !rest.iter().flatten().any(|s| s.contains_member(m)) {
            out.insert_member(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(items: &[&str]) -> SetVal {
        let mut s = SetVal::for_member(items[0].as_bytes());
        for i in items {
            s.insert(i.as_bytes());
        }
        s
    }

    fn sorted(s: &SetVal) -> Vec<String> {
        let mut v: Vec<String> = s
            .iter()
            .map(|m| m.with_bytes(|b| String::from_utf8_lossy(b).into_owned()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn intset_stays_sorted_and_converts() {
        let mut s = set_of(&["3", "1", "2"]);
        assert_eq!(s.encoding(), "intset");
        assert!(!s.insert(b"2"));
        let v: Vec<Member> = s.iter().collect();
        assert_eq!(v, vec![Member::Int(1), Member::Int(2), Member::Int(3)]);
        assert!(s.contains(b"2"));
        assert!(!s.contains(b"02"));
        assert!(!s.contains(b"x"));
        assert!(s.insert(b"a"));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"2") && s.contains(b"a"));
        assert!(s.remove(b"a"));
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn non_canonical_integers_are_strings() {
        for m in ["01", "+1", "-0", " 1", "99999999999999999999"] {
            assert_eq!(SetVal::for_member(m.as_bytes()).encoding(), "hashtable");
        }
        assert_eq!(SetVal::for_member(b"-5").encoding(), "intset");
    }

    #[test]
    fn intset_limit() {
        let mut s = SetVal::new_intset();
        for i in 0..512 {
            s.insert(i.to_string().as_bytes());
        }
        assert_eq!(s.encoding(), "intset");
        s.insert(b"512");
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 513);
    }

    #[test]
    fn algebra() {
        let a = set_of(&["1", "2", "3", "4"]);
        let b = set_of(&["3", "4", "5", "x"]);
        let c = set_of(&["4", "x"]);
        assert_eq!(sorted(&inter(&[&a, &b])), vec!["3", "4"]);
        assert_eq!(inter(&[&a, &b]).encoding(), "intset");
        assert_eq!(sorted(&inter(&[&a, &b, &c])), vec!["4"]);
        assert_eq!(
            sorted(&union(&[Some(&a), None, Some(&c)])),
            vec!["1", "2", "3", "4", "x"]
        );
        assert_eq!(sorted(&diff(&[Some(&a), Some(&b)])), vec!["1", "2"]);
        assert!(diff(&[None, Some(&a)]).is_empty());
        assert!(diff(&[Some(&a), Some(&a)]).is_empty());
        let mut n = 0;
        inter_each(&[&a, &b], |_| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn pop_random_removes_distinct() {
        for start in [
            vec!["1", "2", "3", "4", "5", "6"],
            vec!["a", "b", "c", "d", "e", "f"],
        ] {
            let mut s = set_of(&start);
            let popped = s.pop_random(4);
            assert_eq!(popped.len(), 4);
            assert_eq!(s.len(), 2);
            let mut all: Vec<String> = popped
                .iter()
                .map(|e| String::from_utf8_lossy(e).into_owned())
                .chain(sorted(&s))
                .collect();
            all.sort();
            assert_eq!(all, start);
        }
    }

    #[test]
    fn sample_distinct_is_distinct() {
        for (n, k) in [(10, 0), (10, 3), (10, 9), (10, 10), (1000, 5)] {
            let mut v = sample_distinct(n, k);
            assert_eq!(v.len(), k);
            v.sort();
            v.dedup();
            assert_eq!(v.len(), k);
            assert!(v.iter().all(|&i| i < n));
        }
    }
}
