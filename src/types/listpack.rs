//! A packed sequence of byte strings: the compact encoding of small hashes
//! (field, value, field, value...) and small sorted sets (member, score...),
//! the role Redis's listpack plays.
//!
//! Hand-written because the point is the byte layout: small collections are
//! the ones there are millions of, so per-element headers, pointers and
//! slack capacity would dominate their memory. Each element is
//! `varint(len) bytes reversed-varint(len)`: the trailing length lets
//! iteration run backwards (ZREVRANGE, ZPOPMAX) without an index, and both
//! lengths take one byte below 128 bytes, like listpack's own encoding. The
//! buffer is a `Box<[u8]>` sized exactly to its contents and holds nothing
//! else (no header: counting walks the elements, which costs no more than
//! the linear searches a compact collection is made of); an empty listpack
//! allocates nothing. The whole value is 16 bytes, inline in a key's `Value`.

use smallvec::SmallVec;

#[derive(Clone, Default)]
pub struct Listpack {
    buf: Box<[u8]>,
}

/// Bytes of a varint encoding of `n`.
fn varint_len(mut n: usize) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

/// Append `bytes` as one element.
fn encode_into(out: &mut SmallVec<[u8; 64]>, bytes: &[u8]) {
    let mut head: SmallVec<[u8; 10]> = SmallVec::new();
    let mut n = bytes.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            head.push(b);
            break;
        }
        head.push(b | 0x80);
    }
    out.extend_from_slice(&head);
    out.extend_from_slice(bytes);
    out.extend(head.iter().rev().copied());
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack::default()
    }

    /// Number of elements (a walk).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes of the packed buffer (MEMORY USAGE).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Offset one past the last element.
    #[inline]
    pub fn end(&self) -> usize {
        self.buf.len()
    }

    /// The element at byte offset `off` and the offset of the next one.
    /// `off` must be an element boundary below `end()`.
    #[inline]
    pub fn at(&self, off: usize) -> (&[u8], usize) {
        let b = &self.buf;
        let (mut n, mut shift, mut p) = (0usize, 0u32, off);
        loop {
            let x = b[p];
            p += 1;
            n |= ((x & 0x7f) as usize) << shift;
            if x & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let data = &b[p..p + n];
        (data, p + n + varint_len(n))
    }

    /// The element ending at byte offset `end` (exclusive) and its start.
    #[inline]
    pub fn before(&self, end: usize) -> (&[u8], usize) {
        let b = &self.buf;
        let (mut n, mut shift, mut p) = (0usize, 0u32, end);
        loop {
            p -= 1;
            let x = b[p];
            n |= ((x & 0x7f) as usize) << shift;
            if x & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let start = p - n - varint_len(n);
        (&b[p - n..p], start)
    }

    pub fn iter(&self) -> Iter<'_> {
        self.iter_between(0, self.buf.len())
    }

    /// Iterate from byte offset `off` (an element boundary) to the end.
    pub fn iter_at(&self, off: usize) -> Iter<'_> {
        self.iter_between(off, self.buf.len())
    }

    /// Iterate the elements between byte offsets `front` and `back`
    /// (element boundaries).
    pub fn iter_between(&self, front: usize, back: usize) -> Iter<'_> {
        Iter {
            lp: self,
            front,
            back,
        }
    }

    /// Byte offset of element number `i` (or `end()` past the last).
    pub fn offset_of(&self, i: usize) -> usize {
        let mut off = 0;
        for _ in 0..i {
            if off >= self.end() {
                break;
            }
            off = self.at(off).1;
        }
        off
    }

    /// Replace `remove` elements starting at byte offset `off` (an element
    /// boundary, or `end()`) by `elems`.
    pub fn splice(&mut self, off: usize, remove: usize, elems: &[&[u8]]) {
        let mut end = off;
        for _ in 0..remove {
            end = self.at(end).1;
        }
        let mut add: SmallVec<[u8; 64]> = SmallVec::new();
        for e in elems {
            encode_into(&mut add, e);
        }
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.reserve_exact(add.len().saturating_sub(end - off));
        v.splice(off..end, add.iter().copied());
        // Exact size: into_boxed_slice only reallocates when shrinking.
        self.buf = v.into_boxed_slice();
    }

    /// Move the elements in bytes `from..to` to byte offset `dest` (an
    /// element boundary outside `from..to`, or `end()`), replacing them by
    /// `elems` there, when `elems` encode to exactly `to - from` bytes:
    /// then it is one `copy_within` of the bytes in between, with no
    /// reallocation. False (nothing changed) when the sizes differ.
    pub fn move_replace(&mut self, from: usize, to: usize, dest: usize, elems: &[&[u8]]) -> bool {
        let mut add: SmallVec<[u8; 64]> = SmallVec::new();
        for e in elems {
            encode_into(&mut add, e);
        }
        let n = to - from;
        if add.len() != n || (dest > from && dest < to) || dest > self.buf.len() {
            return false;
        }
        let at = if dest >= to {
            self.buf.copy_within(to..dest, from);
            dest - n
        } else {
            self.buf.copy_within(dest..from, dest + n);
            dest
        };
        self.buf[at..at + n].copy_from_slice(&add);
        true
    }

    /// Append elements at the end.
    pub fn push(&mut self, elems: &[&[u8]]) {
        let end = self.end();
        self.splice(end, 0, elems);
    }
}

/// Elements, front to back (and back to front: double-ended).
#[derive(Clone)]
pub struct Iter<'a> {
    lp: &'a Listpack,
    front: usize,
    back: usize,
}

impl<'a> Iter<'a> {
    /// Byte offset of the next element from the front.
    pub fn offset(&self) -> usize {
        self.front
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (e, next) = self.lp.at(self.front);
        self.front = next;
        Some(e)
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (e, start) = self.lp.before(self.back);
        self.back = start;
        Some(e)
    }
}

/// A sorted set score as a listpack element: an integral score of up to 53
/// bits is its minimal little-endian two's complement (0 bytes for 0, 1 for
/// -128..=127...), anything else 9 bytes (a tag then the f64). Redis's
/// zzlInsertAt also stores integral scores as integers, so -0 reads back 0.
pub fn encode_score(s: f64) -> SmallVec<[u8; 9]> {
    const EXACT: f64 = (1u64 << 53) as f64;
    let mut out = SmallVec::new();
    if s.fract() == 0.0 && s.abs() <= EXACT {
        let i = s as i64;
        let bytes = i.to_le_bytes();
        let n = (0..=8)
            .find(|&n| sign_extend(&bytes[..n]) == i)
            .unwrap_or(8);
        out.extend_from_slice(&bytes[..n]);
    } else {
        out.push(0xf0);
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Little-endian two's complement of up to 8 bytes (none = 0). Assembled
/// with shifts: a variable-length copy into a buffer was a memcpy call per
/// score, and sorted-set packs decode a score at every step of a scan.
#[inline]
fn sign_extend(b: &[u8]) -> i64 {
    let n = b.len().min(8);
    if n == 0 {
        return 0;
    }
    let mut v = 0u64;
    for (i, &byte) in b[..n].iter().enumerate() {
        v |= (byte as u64) << (8 * i);
    }
    let unused = 64 - 8 * n as u32;
    ((v << unused) as i64) >> unused
}

#[inline]
pub fn decode_score(b: &[u8]) -> f64 {
    if b.len() == 9 {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[1..]);
        return f64::from_le_bytes(x);
    }
    sign_extend(b) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn push_splice_iterate_both_ways() {
        let mut lp = Listpack::new();
        let long = vec![b'x'; 300];
        lp.push(&[b"a", b"", &long, b"dd"]);
        assert_eq!(lp.len(), 4);
        let fwd: Vec<&[u8]> = lp.iter().collect();
        assert_eq!(fwd, vec![&b"a"[..], b"", &long[..], b"dd"]);
        let rev: Vec<&[u8]> = lp.iter().rev().collect();
        assert_eq!(rev, vec![&b"dd"[..], &long[..], b"", b"a"]);
        // Replace the long element and its neighbour by one.
        let off = lp.offset_of(2);
        lp.splice(off, 2, &[b"z"]);
        let fwd: Vec<&[u8]> = lp.iter().collect();
        assert_eq!(fwd, vec![&b"a"[..], b"", b"z"]);
        assert_eq!(lp.bytes(), 3 + 2 + 3);
        lp.splice(0, 3, &[]);
        assert!(lp.is_empty());
        assert_eq!(lp.bytes(), 0);
    }

    #[test]
    fn move_replace_moves_and_rewrites_in_place() {
        let mut lp = Listpack::new();
        lp.push(&[b"a", b"1", b"b", b"2", b"c", b"3"]);
        let (a, b, c) = (0, lp.offset_of(2), lp.offset_of(4));
        // The first pair to the end, rewritten (same size).
        assert!(lp.move_replace(a, b, lp.end(), &[b"z", b"9"]));
        let all: Vec<&[u8]> = lp.iter().collect();
        assert_eq!(all, vec![&b"b"[..], b"2", b"c", b"3", b"z", b"9"]);
        // The last pair to the front.
        let (from, to) = (lp.offset_of(4), lp.end());
        assert!(lp.move_replace(from, to, 0, &[b"y", b"8"]));
        let all: Vec<&[u8]> = lp.iter().collect();
        assert_eq!(all, vec![&b"y"[..], b"8", b"b", b"2", b"c", b"3"]);
        // A size change is refused and changes nothing.
        assert!(!lp.move_replace(0, lp.offset_of(2), c, &[b"yy", b"8"]));
        assert_eq!(lp.iter().count(), 6);
    }

    #[test]
    fn scores_round_trip_compactly() {
        for (s, len) in [
            (0.0, 0),
            (-0.0, 0),
            (1.0, 1),
            (-1.0, 1),
            (127.0, 1),
            (128.0, 2),
            (-128.0, 1),
            (-129.0, 2),
            (9007199254740992.0, 7),
            (1.5, 9),
            (f64::INFINITY, 9),
            (f64::NEG_INFINITY, 9),
            (1e300, 9),
        ] {
            let e = encode_score(s);
            assert_eq!(e.len(), len, "{s}");
            let back = decode_score(&e);
            assert_eq!(back, s, "{s}");
            if s == 0.0 {
                assert!(back.is_sign_positive(), "-0 reads back as 0");
            }
        }
    }

    proptest! {
        #[test]
        fn matches_a_vec_model(ops in proptest::collection::vec(
            (0usize..8, 0usize..3, proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..200), 0..3)), 0..40)) {
            let mut lp = Listpack::new();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for (at, remove, add) in ops {
                let at = at.min(model.len());
                let remove = remove.min(model.len() - at);
                let refs: Vec<&[u8]> = add.iter().map(|v| v.as_slice()).collect();
                let off = lp.offset_of(at);
                lp.splice(off, remove, &refs);
                model.splice(at..at + remove, add.iter().cloned());
                let fwd: Vec<Vec<u8>> = lp.iter().map(|e| e.to_vec()).collect();
                prop_assert_eq!(&fwd, &model);
                let mut rev: Vec<Vec<u8>> = lp.iter().rev().map(|e| e.to_vec()).collect();
                rev.reverse();
                prop_assert_eq!(&rev, &model);
            }
        }

        #[test]
        fn any_score_round_trips(s in any::<f64>().prop_filter("not NaN", |s| !s.is_nan())) {
            prop_assert_eq!(decode_score(&encode_score(s)), s);
        }

        #[test]
        fn any_integer_score_round_trips(i in -(1i64 << 53)..=(1i64 << 53)) {
            let e = encode_score(i as f64);
            prop_assert!(e.len() <= 7);
            prop_assert_eq!(decode_score(&e), i as f64);
        }
    }
}
