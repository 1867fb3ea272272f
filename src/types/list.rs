//! The list type. Redis 7.0 always encodes lists as a quicklist (a linked
//! list of listpacks; the small-list "listpack" encoding only arrived in
//! 7.2), so OBJECT ENCODING always reports "quicklist". The representation
//! here is a ring buffer: O(1) at both ends and O(1) by index, which is what
//! LPUSH/RPOP/LINDEX/LSET need; middle edits (LINSERT, LREM) are O(n) as in
//! Redis.

use std::collections::VecDeque;

/// One element of a collection. Elements of up to 16 bytes (counters, ids,
/// short names) live inline: no allocation per element, no pointer chase.
pub type Elem = smallvec::SmallVec<[u8; 16]>;

#[derive(Clone, Default)]
pub struct List {
    items: VecDeque<Elem>,
}

/// Which end of a list (LEFT = head, RIGHT = tail).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Left,
    Right,
}

impl List {
    pub fn new() -> List {
        List::default()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn push(&mut self, v: &[u8], end: End) {
        let e = Elem::from_slice(v);
        match end {
            End::Left => self.items.push_front(e),
            End::Right => self.items.push_back(e),
        }
    }
    pub fn pop(&mut self, end: End) -> Option<Elem> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }
    /// Resolve a Redis index (negative = from the tail) to a position.
    pub fn index(&self, i: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let p = if i < 0 { len.checked_add(i)? } else { i };
        (0..len).contains(&p).then_some(p as usize)
    }
    pub fn get(&self, pos: usize) -> Option<&Elem> {
        self.items.get(pos)
    }
    pub fn set(&mut self, pos: usize, v: &[u8]) -> bool {
        match self.items.get_mut(pos) {
            Some(e) => {
                *e = Elem::from_slice(v);
                true
            }
            None => false,
        }
    }
    pub fn insert(&mut self, pos: usize, v: &[u8]) {
        self.items.insert(pos, Elem::from_slice(v));
    }
    pub fn position(&self, v: &[u8]) -> Option<usize> {
        self.items.iter().position(|e| e.as_slice() == v)
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Elem> + ExactSizeIterator {
        self.items.iter()
    }
    /// Elements `start..=end` (already clamped by the caller).
    pub fn range(&self, start: usize, end: usize) -> impl DoubleEndedIterator<Item = &Elem> {
        self.items.range(start..=end)
    }

    /// LREM: remove up to `count` occurrences (0 = all), scanning from the
    /// head, or from the tail when `from_tail`. Returns how many went.
    pub fn remove_matching(&mut self, v: &[u8], count: usize, from_tail: bool) -> usize {
        let n = self.items.len();
        // Mark the victims first (in scan order), then compact once: O(n)
        // whatever the number of matches.
        let mut doomed = vec![false; n];
        let mut removed = 0;
        let order: Box<dyn Iterator<Item = usize>> = if from_tail {
            Box::new((0..n).rev())
        } else {
            Box::new(0..n)
        };
        for i in order {
            if self.items[i].as_slice() == v {
                doomed[i] = true;
                removed += 1;
                if count != 0 && removed == count {
                    break;
                }
            }
        }
        if removed > 0 {
            let mut i = 0;
            self.items.retain(|_| {
                let keep = !doomed[i];
                i += 1;
                keep
            });
        }
        removed
    }

    /// LTRIM's work: drop `left` elements at the head and `right` at the tail.
    pub fn trim(&mut self, left: usize, right: usize) {
        let left = left.min(self.items.len());
        self.items.drain(..left);
        let keep = self.items.len().saturating_sub(right);
        self.items.truncate(keep);
    }

    /// Bytes held by the elements (for MEMORY USAGE / DEBUG OBJECT).
    pub fn payload_bytes(&self) -> usize {
        self.items
            .iter()
            .map(|e| if e.spilled() { e.capacity() } else { 0 })
            .sum::<usize>()
            + self.items.capacity() * std::mem::size_of::<Elem>()
    }
}

/// Clamp a Redis start/end pair (negative = from the tail) to an inclusive
/// range of positions, as addListRangeReply/LTRIM/ZRANGE do. None = empty.
pub fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut e = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(items: &[&str]) -> List {
        let mut x = List::new();
        for i in items {
            x.push(i.as_bytes(), End::Right);
        }
        x
    }
    fn v(x: &List) -> Vec<String> {
        x.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn push_pop_index() {
        let mut x = l(&["a", "b", "c"]);
        x.push(b"z", End::Left);
        assert_eq!(v(&x), ["z", "a", "b", "c"]);
        assert_eq!(x.index(-1), Some(3));
        assert_eq!(x.index(-5), None);
        assert_eq!(x.index(4), None);
        assert_eq!(x.index(i64::MIN), None);
        assert_eq!(x.pop(End::Right).as_deref(), Some(&b"c"[..]));
        let long = [b'x'; 100];
        x.push(&long, End::Right);
        assert_eq!(x.get(3).map(|e| e.len()), Some(100));
    }

    #[test]
    fn remove_matching_both_directions() {
        let mut x = l(&["a", "b", "a", "c", "a"]);
        assert_eq!(x.remove_matching(b"a", 2, true), 2);
        assert_eq!(v(&x), ["a", "b", "c"]);
        let mut x = l(&["a", "b", "a", "c", "a"]);
        assert_eq!(x.remove_matching(b"a", 2, false), 2);
        assert_eq!(v(&x), ["b", "c", "a"]);
        assert_eq!(x.remove_matching(b"a", 0, false), 1);
        assert_eq!(x.remove_matching(b"q", 0, false), 0);
        assert_eq!(v(&x), ["b", "c"]);
    }

    #[test]
    fn ranges_and_trim() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(0, 0, 0), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        let mut x = l(&["a", "b", "c", "d"]);
        x.trim(1, 1);
        assert_eq!(v(&x), ["b", "c"]);
        x.trim(5, 5);
        assert!(x.is_empty());
    }
}
