//! Argument lists of finished cross-shard parts, kept for reuse by the
//! reactor that allocated them. A fold builds one list per shard (two
//! buffers each: bytes and ranges) and each comes back a round trip later
//! (`OpResult::Spent`); reused, a two-shard 10-key MSET at -P 1 ran 818
//! fewer instructions (callgrind: 20343 -> 19525 per MSET), mostly
//! jemalloc's slow paths for buffers freed long after they were taken.
//! (A pool of lock sets was tried too: those are small, jemalloc's thread
//! cache serves them faster than a pool, and it cost 560 instructions.)

use super::ops::OwnedArgs;

#[derive(Default)]
pub struct SpareArgs(Vec<OwnedArgs>);

impl SpareArgs {
    /// Enough for the folds in flight at once on a busy reactor; a list
    /// grown past `MAX_BYTES` (big values) is freed, so an idle reactor
    /// keeps at most 1 MiB here (a 10-key MSET's list is ~1 KiB).
    const KEEP: usize = 64;
    const MAX_BYTES: usize = 16 * 1024;

    pub fn put(&mut self, a: OwnedArgs) {
        if self.0.len() < Self::KEEP && a.capacity_bytes() <= Self::MAX_BYTES {
            self.0.push(a);
        }
    }

    /// An empty list with room for `bytes` in `args` arguments.
    pub fn take(&mut self, bytes: usize, args: usize) -> OwnedArgs {
        match self.0.pop() {
            Some(mut a) => {
                a.clear_reserve(bytes, args);
                a
            }
            None => OwnedArgs::with_capacity(bytes, args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(args: &[&[u8]]) -> OwnedArgs {
        let mut a = OwnedArgs::new();
        for x in args {
            a.push(x);
        }
        a
    }

    #[test]
    fn a_spare_list_comes_back_empty_with_room() {
        let mut s = SpareArgs::default();
        s.put(list(&[b"k1", b"v1", b"k2", b"v2"]));
        let a = s.take(64, 8);
        assert!(a.is_empty());
        assert!(a.capacity_bytes() >= 64 + 8 * size_of::<std::ops::Range<usize>>());
        assert_eq!(s.0.len(), 0);
        // Nothing spare: a new one.
        assert!(s.take(16, 2).is_empty());
    }

    #[test]
    fn big_lists_and_lists_beyond_the_bound_are_freed() {
        let mut s = SpareArgs::default();
        s.put(list(&[&vec![b'x'; SpareArgs::MAX_BYTES + 1]]));
        assert_eq!(s.0.len(), 0, "a big value's list is not kept");
        for _ in 0..SpareArgs::KEEP + 10 {
            s.put(list(&[b"k", b"v"]));
        }
        assert_eq!(s.0.len(), SpareArgs::KEEP);
    }
}
