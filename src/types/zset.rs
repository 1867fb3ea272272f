//! The sorted set type, with Redis's two encodings:
//!
//! * `listpack`: (member, score) pairs packed in one buffer
//!   (`types::listpack`), kept sorted; O(n) edits and lookups, a few bytes
//!   of overhead per member. Used while the set has at most
//!   zset-max-listpack-entries members, none longer than
//!   zset-max-listpack-value bytes.
//! * `skiplist`: an order-statistics skiplist (Redis's zskiplist: every link
//!   carries its span, so rank <-> node is O(log n)) plus a hash index from
//!   member to node. Nodes live in an arena and link by u32 slot numbers:
//!   no unsafe pointers, and a node keeps its slot for life, which gives
//!   ZSCAN a stable cursor. The links live apart, in a level pool, and each
//!   carries its target's score and links' offset: a search reads the pool
//!   alone, one cache miss per step forward (see `Level`).
//!
//! Ordering is Redis's: by score, then by member bytes (memcmp, shorter
//! first on a common prefix, which is `[u8]`'s `Ord`).

use super::limits::{Limits, LIMITS};
use super::list::Elem;
use super::listpack::{self, decode_score, encode_score, Listpack};
use hashbrown::HashTable;
use std::cmp::Ordering;

/// A skiplist node's member, inline up to 24 bytes: the member index
/// compares the member of the node it finds, and a member spilled to the
/// heap (redis-benchmark's 20-byte `element:000000012345`) was one more
/// cache miss per lookup: ~4.5% of a ZADD on a 100k-member set, all of it
/// in memcmp waiting for the heap line. A node grows by 8 bytes.
type Member = smallvec::SmallVec<[u8; 24]>;
use std::hash::BuildHasher;

/// Redis's ZSKIPLIST_MAXLEVEL and ZSKIPLIST_P.
const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// A forward link, kept in the list's level pool. Besides the target and
/// the span it carries the target's score and the offset of the target's
/// own links, so a search walks the pool alone: one cache miss per step
/// forward, none to decide to go down a level, and the node itself only on
/// a score tie (where members are compared). Redis's nodes hold their
/// levels inline and the search reads each next node's score: about one
/// miss per node looked at; with levels above the second spilled to the
/// heap halocline paid two, and ZADD on a 100k-member set was its one data
/// type benchmark close to Redis.
#[derive(Clone, Copy)]
struct Level {
    next: u32,
    span: u32,
    /// Pool offset of `next`'s links (meaningless when `next` is NIL).
    next_lvl: u32,
    /// `next`'s score (meaningless when `next` is NIL).
    score: f64,
}

const NO_LINK: Level = Level {
    next: NIL,
    span: 0,
    next_lvl: 0,
    score: 0.0,
};

#[derive(Clone)]
struct Node {
    member: Member,
    score: f64,
    /// Previous node, NIL when the previous is the header.
    back: u32,
    /// Offset of this node's `height` links in the level pool.
    lvl: u32,
    /// 0 for a free slot.
    height: u8,
}

impl Node {
    fn vacant() -> Node {
        Node {
            member: Member::new(),
            score: 0.0,
            back: NIL,
            lvl: 0,
            height: 0,
        }
    }
}

/// `a == b`, deciding most mismatches of equal-length members (the
/// numbered members of one set) on their last eight bytes, without the
/// memcmp call a slice comparison makes.
#[inline]
fn same_member(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if n >= 8 {
        let tail = |s: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[n - 8..]);
            u64::from_ne_bytes(w)
        };
        if tail(a) != tail(b) {
            return false;
        }
    }
    a == b
}

#[inline]
fn before(score: f64, member: &[u8], s2: f64, m2: &[u8]) -> bool {
    score < s2 || (score == s2 && member < m2)
}

fn random_level() -> usize {
    let mut lvl = 1;
    // P = 1/4, as Redis.
    while lvl < MAX_LEVEL && fastrand::u32(..4) == 0 {
        lvl += 1;
    }
    lvl
}

/// The skiplist encoding: arena skiplist + member index.
#[derive(Clone)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Every node's links, `height` consecutive entries each; the header's
    /// MAX_LEVEL come first.
    pool: Vec<Level>,
    /// Free runs of the pool, by height.
    free_lvls: Vec<Vec<u32>>,
    tail: u32,
    len: usize,
    level: usize,
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let head = Node {
            member: Member::new(),
            score: 0.0,
            back: NIL,
            lvl: 0,
            height: MAX_LEVEL as u8,
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            pool: vec![NO_LINK; MAX_LEVEL],
            free_lvls: vec![Vec::new(); MAX_LEVEL + 1],
            tail: NIL,
            len: 0,
            level: 1,
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn n(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }
    #[inline]
    fn n_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }
    #[inline]
    fn lv(&self, i: u32, lvl: usize) -> &Level {
        &self.pool[self.nodes[i as usize].lvl as usize + lvl]
    }
    #[inline]
    fn lv_mut(&mut self, i: u32, lvl: usize) -> &mut Level {
        let o = self.nodes[i as usize].lvl as usize + lvl;
        &mut self.pool[o]
    }
    #[inline]
    fn height(&self, i: u32) -> usize {
        self.nodes[i as usize].height as usize
    }
    #[inline]
    fn next(&self, i: u32, lvl: usize) -> u32 {
        self.lv(i, lvl).next
    }
    #[inline]
    fn span(&self, i: u32, lvl: usize) -> u32 {
        self.lv(i, lvl).span
    }

    /// One step of a search at level `i` from the node whose links start
    /// at pool offset `xo`: the next node and its links' offset if it
    /// sorts strictly before (score, member).
    #[inline]
    fn step(&self, xo: usize, i: usize, score: f64, member: &[u8]) -> Option<(u32, usize)> {
        let l = &self.pool[xo + i];
        if l.next == NIL {
            return None;
        }
        let ahead =
            l.score < score || (l.score == score && self.n(l.next).member.as_slice() < member);
        ahead.then_some((l.next, l.next_lvl as usize))
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(member);
        self.index
            .find(h, |&i| self.nodes[i as usize].member.as_slice() == member)
            .copied()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|i| self.n(i).score)
    }

    fn alloc(&mut self, score: f64, member: Member) -> u32 {
        let height = random_level();
        let lvl = match self.free_lvls[height].pop() {
            Some(o) => {
                self.pool[o as usize..o as usize + height].fill(NO_LINK);
                o
            }
            None => {
                let o = self.pool.len() as u32;
                self.pool.extend(std::iter::repeat_n(NO_LINK, height));
                o
            }
        };
        let node = Node {
            member,
            score,
            back: NIL,
            lvl,
            height: height as u8,
        };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Link an allocated node at its place (Redis's zslInsert, without the
    /// allocation, so a score update can relink the same slot).
    fn link(&mut self, idx: u32) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let member = std::mem::take(&mut self.n_mut(idx).member);
        let score = self.n(idx).score;
        let (mut x, mut xo) = (HEAD, 0usize);
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            while let Some((nx, no)) = self.step(xo, i, score, &member) {
                rank[i] += self.pool[xo + i].span;
                (x, xo) = (nx, no);
            }
            update[i] = x;
        }
        self.n_mut(idx).member = member;
        let lvl = self.height(idx);
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.lv_mut(HEAD, i).span = self.len as u32;
            }
            self.level = lvl;
        }
        let my_lvl = self.n(idx).lvl;
        for i in 0..lvl {
            let u = update[i];
            let ul = *self.lv(u, i);
            let d = rank[0] - rank[i];
            *self.lv_mut(idx, i) = Level {
                next: ul.next,
                span: ul.span - d,
                next_lvl: ul.next_lvl,
                score: ul.score,
            };
            *self.lv_mut(u, i) = Level {
                next: idx,
                span: d + 1,
                next_lvl: my_lvl,
                score,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            self.lv_mut(u, i).span += 1;
        }
        self.n_mut(idx).back = if update[0] == HEAD { NIL } else { update[0] };
        let n0 = self.next(idx, 0);
        if n0 != NIL {
            self.n_mut(n0).back = idx;
        } else {
            self.tail = idx;
        }
        self.len += 1;
    }

    /// The update vector for a (score, member) position: for each level,
    /// the last node strictly before it.
    fn update_for(&self, score: f64, member: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [HEAD; MAX_LEVEL];
        let (mut x, mut xo) = (HEAD, 0usize);
        for i in (0..self.level).rev() {
            while let Some((nx, no)) = self.step(xo, i, score, member) {
                (x, xo) = (nx, no);
            }
            update[i] = x;
        }
        update
    }

    /// Unlink a node (Redis's zslDeleteNode); the slot stays allocated.
    fn unlink(&mut self, idx: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.next(u, i) == idx {
                let n = *self.lv(idx, i);
                let ul = self.lv_mut(u, i);
                ul.span = ul.span + n.span - 1;
                ul.next = n.next;
                ul.next_lvl = n.next_lvl;
                ul.score = n.score;
            } else {
                self.lv_mut(u, i).span -= 1;
            }
        }
        let n0 = self.next(idx, 0);
        let back = self.n(idx).back;
        if n0 != NIL {
            self.n_mut(n0).back = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.next(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    fn index_insert(&mut self, idx: u32) {
        let h = self.hasher.hash_one(self.n(idx).member.as_slice());
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index.insert_unique(h, idx, |&i| {
            hasher.hash_one(nodes[i as usize].member.as_slice())
        });
    }

    fn index_remove(&mut self, idx: u32) {
        let h = self.hasher.hash_one(self.n(idx).member.as_slice());
        // Slot numbers are unique, so matching on the slot is exact.
        if let Ok(e) = self.index.find_entry(h, |&i| i == idx) {
            e.remove();
        }
    }

    fn release(&mut self, idx: u32) {
        let (lvl, height) = (self.n(idx).lvl, self.height(idx));
        self.free_lvls[height].push(lvl);
        self.nodes[idx as usize] = Node::vacant();
        self.free.push(idx);
        if self.len == 0 {
            // Everything is free: drop the arena rather than keep holes.
            self.nodes.truncate(1);
            self.free.clear();
            self.pool.truncate(MAX_LEVEL);
            for f in &mut self.free_lvls {
                f.clear();
            }
        }
    }

    /// Add a member that is not present.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let idx = self.alloc(score, Member::from_slice(member));
        self.link(idx);
        self.index_insert(idx);
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let idx = self.find(member)?;
        let score = self.n(idx).score;
        let update = self.update_for(score, member);
        self.unlink(idx, &update);
        self.index_remove(idx);
        self.release(idx);
        Some(score)
    }

    /// Change the score of a present member (Redis's zslUpdateScore: in
    /// place when the order does not change, else unlink and relink).
    pub fn set_score(&mut self, member: &[u8], score: f64) {
        if let Some(idx) = self.find(member) {
            self.set_score_at(idx, member, score);
        }
    }

    /// `set_score` of the member at `idx` (found by the caller).
    fn set_score_at(&mut self, idx: u32, member: &[u8], score: f64) {
        let back = self.n(idx).back;
        let next = self.next(idx, 0);
        if (back == NIL || self.n(back).score < score)
            && (next == NIL || self.n(next).score > score)
        {
            // The order holds: rewrite the score in place, and in the
            // links that point here. A one-level node has one, from its
            // predecessor; a taller one's are found by a search.
            if self.height(idx) == 1 {
                let pred = if back == NIL { HEAD } else { back };
                self.lv_mut(pred, 0).score = score;
            } else {
                let update = self.update_for(self.n(idx).score, member);
                for (i, &u) in update.iter().enumerate().take(self.height(idx)) {
                    self.lv_mut(u, i).score = score;
                }
            }
            self.n_mut(idx).score = score;
            return;
        }
        let update = self.update_for(self.n(idx).score, member);
        self.unlink(idx, &update);
        self.n_mut(idx).score = score;
        for i in 0..self.height(idx) {
            *self.lv_mut(idx, i) = NO_LINK;
        }
        self.link(idx);
    }

    /// 0-based rank of a member.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let idx = self.find(member)?;
        let score = self.n(idx).score;
        let (mut x, mut xo) = (HEAD, 0usize);
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                // As `step`, but up to and including the member itself.
                let l = &self.pool[xo + i];
                if l.next != NIL
                    && (l.score < score
                        || (l.score == score && self.n(l.next).member.as_slice() <= member))
                {
                    rank += l.span as usize;
                    (x, xo) = (l.next, l.next_lvl as usize);
                } else {
                    break;
                }
            }
            if x == idx {
                return Some(rank - 1);
            }
        }
        None
    }

    /// The node at a 0-based rank.
    fn at(&self, rank: usize) -> Option<u32> {
        if rank >= self.len {
            return None;
        }
        let target = rank + 1;
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let nx = self.next(x, i);
                if nx != NIL && traversed + self.span(x, i) as usize <= target {
                    traversed += self.span(x, i) as usize;
                    x = nx;
                } else {
                    break;
                }
            }
            if traversed == target {
                return Some(x);
            }
        }
        None
    }

    /// Rank of the first node for which `pred` holds, `pred` being false
    /// for a prefix of the list (Redis's "go forward while out of range").
    fn first_where(&self, pred: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let nx = self.next(x, i);
                if nx != NIL && !pred(self.n(nx).score, &self.n(nx).member) {
                    traversed += self.span(x, i) as usize;
                    x = nx;
                } else {
                    break;
                }
            }
        }
        (self.next(x, 0) != NIL).then_some(traversed)
    }

    /// Rank of the last node for which `pred` holds, `pred` being true for
    /// a prefix of the list.
    fn last_where(&self, pred: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let nx = self.next(x, i);
                if nx != NIL && pred(self.n(nx).score, &self.n(nx).member) {
                    traversed += self.span(x, i) as usize;
                    x = nx;
                } else {
                    break;
                }
            }
        }
        (x != HEAD).then(|| traversed - 1)
    }

    fn first(&self) -> Option<u32> {
        let n = self.next(HEAD, 0);
        (n != NIL).then_some(n)
    }
    fn last(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Delete ranks `start..=end` (0-based, clamped by the caller) in one
    /// walk (Redis's zslDeleteRangeByRank). Returns how many went.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let (start, end) = (start + 1, end + 1);
        let (update, mut traversed) = self.update_for_rank(start);
        let mut x = update[0];
        traversed += 1;
        x = self.next(x, 0);
        let mut removed = 0;
        while x != NIL && traversed <= end {
            let nx = self.next(x, 0);
            self.unlink(x, &update);
            self.index_remove(x);
            self.release(x);
            removed += 1;
            traversed += 1;
            x = nx;
        }
        removed
    }

    /// The last node before 1-based rank `start` on every level, and the
    /// rank of the level-0 one: a walk by spans, with no member compares.
    fn update_for_rank(&self, start: usize) -> ([u32; MAX_LEVEL], usize) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let nx = self.next(x, i);
                if nx != NIL && traversed + (self.span(x, i) as usize) < start {
                    traversed += self.span(x, i) as usize;
                    x = nx;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        (update, traversed)
    }

    /// Remove and return the lowest (or highest) member, found by rank
    /// (Redis's ZPOPMIN deletes by rank too): no search by member.
    pub fn pop(&mut self, max: bool) -> Option<(Elem, f64)> {
        if self.len == 0 {
            return None;
        }
        let rank = if max { self.len } else { 1 };
        let (update, _) = self.update_for_rank(rank);
        let x = self.next(update[0], 0);
        if x == NIL {
            return None;
        }
        let (m, sc) = (Elem::from_slice(&self.n(x).member), self.n(x).score);
        self.unlink(x, &update);
        self.index_remove(x);
        self.release(x);
        Some((m, sc))
    }

    /// A uniformly random member.
    pub fn random(&self) -> Option<(&[u8], f64)> {
        if self.len == 0 {
            return None;
        }
        let i = self.at(fastrand::usize(..self.len))?;
        Some((&self.n(i).member, self.n(i).score))
    }

    /// ZSCAN step over arena slots: a member present for the whole scan
    /// keeps its slot, so it is returned. Cursor 0 starts; returns the next
    /// cursor (0 = done).
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(&'a [u8], f64)) -> u64 {
        let mut i = (cursor as usize).max(1);
        let mut seen = 0;
        while i < self.nodes.len() && seen < count {
            let n = &self.nodes[i];
            if n.height != 0 {
                f(&n.member, n.score);
                seen += 1;
            }
            i += 1;
        }
        if i >= self.nodes.len() {
            0
        } else {
            i as u64
        }
    }

    pub fn iter_from(&self, rank: usize, rev: bool) -> SkipIter<'_> {
        SkipIter {
            sl: self,
            cur: self.at(rank).unwrap_or(NIL),
            rev,
        }
    }

    /// Bytes held, roughly (MEMORY USAGE).
    pub fn payload_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self
                .nodes
                .iter()
                .map(|n| {
                    if n.member.spilled() {
                        n.member.capacity()
                    } else {
                        0
                    }
                })
                .sum::<usize>()
            + self.pool.capacity() * std::mem::size_of::<Level>()
            + self.index.capacity() * 5
    }

    /// Check every invariant (tests).
    #[cfg(test)]
    fn check(&self) {
        let mut x = self.next(HEAD, 0);
        let mut n = 0;
        let mut prev = NIL;
        while x != NIL {
            assert_eq!(self.n(x).back, prev);
            if prev != NIL {
                let p = self.n(prev);
                assert!(before(
                    p.score,
                    &p.member,
                    self.n(x).score,
                    &self.n(x).member
                ));
            }
            assert_eq!(self.find(&self.n(x).member), Some(x));
            prev = x;
            x = self.next(x, 0);
            n += 1;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(n, self.len);
        assert_eq!(self.index.len(), self.len);
        // Every link carries its target's score and links' offset.
        for (x, node) in self.nodes.iter().enumerate() {
            for i in 0..node.height as usize {
                let l = &self.pool[node.lvl as usize + i];
                if l.next != NIL {
                    assert_eq!(l.score, self.n(l.next).score, "link {i} from {x}");
                    assert_eq!(l.next_lvl, self.n(l.next).lvl, "link {i} from {x}");
                }
            }
        }
        // Spans: following level i from the header must add up to ranks.
        for i in 0..self.level {
            let mut x = HEAD;
            let mut r = 0usize;
            while self.next(x, i) != NIL {
                r += self.span(x, i) as usize;
                x = self.next(x, i);
                assert_eq!(self.at(r - 1), Some(x));
            }
        }
    }
}

pub struct SkipIter<'a> {
    sl: &'a SkipList,
    cur: u32,
    rev: bool,
}

impl<'a> Iterator for SkipIter<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        if self.cur == NIL {
            return None;
        }
        let n = self.sl.n(self.cur);
        self.cur = if self.rev {
            n.back
        } else {
            self.sl.next(self.cur, 0)
        };
        Some((&n.member, n.score))
    }
}

/// A score interval with open/closed ends (ZRANGEBYSCORE's "(1.5" form).
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }
    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }
    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic range: "-", "+", "[x" or "(x".
#[derive(Clone, Debug)]
pub enum LexItem {
    NegInf,
    PosInf,
    Str(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexItem,
    pub max: LexItem,
    pub minex: bool,
    pub maxex: bool,
}

fn cmp_lex(v: &[u8], item: &LexItem) -> Ordering {
    match item {
        LexItem::NegInf => Ordering::Greater,
        LexItem::PosInf => Ordering::Less,
        LexItem::Str(s) => v.cmp(s),
    }
}

fn cmp_items(a: &LexItem, b: &LexItem) -> Ordering {
    use LexItem::*;
    match (a, b) {
        (NegInf, NegInf) | (PosInf, PosInf) => Ordering::Equal,
        (NegInf, _) | (_, PosInf) => Ordering::Less,
        (PosInf, _) | (_, NegInf) => Ordering::Greater,
        (Str(x), Str(y)) => x.cmp(y),
    }
}

impl LexRange {
    pub fn gte_min(&self, v: &[u8]) -> bool {
        let c = cmp_lex(v, &self.min);
        if self.minex {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }
    pub fn lte_max(&self, v: &[u8]) -> bool {
        let c = cmp_lex(v, &self.max);
        if self.maxex {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }
    fn is_empty(&self) -> bool {
        let c = cmp_items(&self.min, &self.max);
        c == Ordering::Greater || (c == Ordering::Equal && (self.minex || self.maxex))
    }
}

/// A small sorted set: (member, score) pairs in one listpack, sorted by
/// (score, member). Scores are stored as `listpack::encode_score` does:
/// integral values as integers, as Redis's zzlInsertAt does.
#[derive(Clone, Default)]
pub struct ZPack(Listpack);

impl ZPack {
    pub fn len(&self) -> usize {
        self.0.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> PackIter<'_> {
        PackIter(self.0.iter())
    }

    /// Pairs from forward rank `rank` to the end.
    fn iter_from(&self, rank: usize) -> PackIter<'_> {
        PackIter(self.0.iter_at(self.0.offset_of(2 * rank)))
    }

    /// Pairs of forward ranks below `end`.
    fn iter_below(&self, end: usize) -> PackIter<'_> {
        PackIter(self.0.iter_between(0, self.0.offset_of(2 * end)))
    }

    /// The pair at byte offset `off` and the offset of the next one.
    #[inline]
    fn pair_at(&self, off: usize) -> (&[u8], f64, usize) {
        let (m, s_off) = self.0.at(off);
        let (s, next) = self.0.at(s_off);
        (m, decode_score(s), next)
    }

    /// Byte offset and forward rank of `member`. Scores are stepped over,
    /// not decoded: decoding every one made a ZADD on a 100-member pack
    /// cost more than Redis's (16k instructions in `pair_at` alone).
    fn find(&self, member: &[u8]) -> Option<(usize, usize)> {
        let mut off = 0;
        let mut rank = 0;
        while off < self.0.end() {
            let (m, s_off) = self.0.at(off);
            if same_member(m, member) {
                return Some((off, rank));
            }
            off = self.0.at(s_off).1;
            rank += 1;
        }
        None
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        let (off, _) = self.find(member)?;
        Some(self.pair_at(off).1)
    }

    /// Give the pair at byte offset `off` (from `find`) a new score and
    /// move it to its sorted place. When the new score encodes to as many
    /// bytes as the old one (integer scores of similar size), the pairs in
    /// between shift over by one `copy_within` and nothing is reallocated,
    /// as in an update in place; else it is a removal and an insertion.
    fn update_at(&mut self, off: usize, score: f64, member: &[u8]) {
        let (_, s_off) = self.0.at(off);
        let old_end = self.0.at(s_off).1;
        // The new place among the other pairs: the first that does not sort
        // before (score, member).
        let mut dest = 0;
        while dest < self.0.end() {
            if dest == off {
                dest = old_end;
                continue;
            }
            let (m, sc, next) = self.pair_at(dest);
            if !before(sc, m, score, member) {
                break;
            }
            dest = next;
        }
        // Just after itself is where it already is.
        let dest = if dest == old_end { off } else { dest };
        if self
            .0
            .move_replace(off, old_end, dest, &[member, &encode_score(score)])
        {
            return;
        }
        self.0.splice(off, 2, &[]);
        self.insert(score, member);
    }

    /// Forward rank and pair of the first pair satisfying `f(score,
    /// member)` (the pack's `SkipList::first_where`).
    fn first_where(&self, f: impl Fn(f64, &[u8]) -> bool) -> Option<(usize, Item<'_>)> {
        self.iter().enumerate().find(|(_, (m, sc))| f(*sc, m))
    }

    /// Forward rank and pair of the last pair satisfying `f`.
    fn last_where(&self, f: impl Fn(f64, &[u8]) -> bool) -> Option<(usize, Item<'_>)> {
        let n = self.len();
        let (i, item) = self
            .iter()
            .rev()
            .enumerate()
            .find(|(_, (m, sc))| f(*sc, m))?;
        Some((n - 1 - i, item))
    }

    /// Insert a member known to be absent at its sorted position.
    fn insert(&mut self, score: f64, member: &[u8]) {
        let mut off = 0;
        while off < self.0.end() {
            let (m, sc, next) = self.pair_at(off);
            if !before(sc, m, score, member) {
                break;
            }
            off = next;
        }
        self.0.splice(off, 0, &[member, &encode_score(score)]);
    }

    /// Append a pair that sorts after every present one.
    fn push(&mut self, score: f64, member: &[u8]) {
        self.0.push(&[member, &encode_score(score)]);
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        match self.find(member) {
            Some((off, _)) => {
                self.0.splice(off, 2, &[]);
                true
            }
            None => false,
        }
    }

    /// A pack of already sorted, distinct pairs.
    pub fn from_sorted<'a>(items: impl Iterator<Item = (&'a [u8], f64)>) -> ZPack {
        let mut p = ZPack::default();
        for (m, sc) in items {
            p.push(sc, m);
        }
        p
    }
}

/// A pack's (member, score) pairs, double-ended.
pub struct PackIter<'a>(listpack::Iter<'a>);

impl<'a> Iterator for PackIter<'a> {
    type Item = (&'a [u8], f64);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let m = self.0.next()?;
        let s = self.0.next()?;
        Some((m, decode_score(s)))
    }
}

impl DoubleEndedIterator for PackIter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        let s = self.0.next_back()?;
        let m = self.0.next_back()?;
        Some((m, decode_score(s)))
    }
}

/// ZADD's options.
#[derive(Clone, Copy, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What zsetAdd did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// Present with the same resulting score: processed, nothing changed.
    Same(f64),
    /// Skipped by NX/XX/GT/LT.
    Nop,
    /// The (incremented) score would be NaN.
    NaN,
}

#[derive(Clone)]
pub enum ZSet {
    Pack(ZPack),
    /// Boxed so that a sorted set is 16 bytes, inline in its key's `Value`.
    Skip(Box<SkipList>),
}

fn max_entries() -> usize {
    Limits::get(&LIMITS.zset_max_listpack_entries).max(0) as usize
}
fn max_value() -> usize {
    Limits::get(&LIMITS.zset_max_listpack_value).max(0) as usize
}

/// A (member, score) pair borrowed from a set.
pub type Item<'a> = (&'a [u8], f64);

pub enum ZIter<'a> {
    Fwd(PackIter<'a>),
    Rev(std::iter::Rev<PackIter<'a>>),
    Skip(SkipIter<'a>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ZIter::Fwd(it) => it.next(),
            ZIter::Rev(it) => it.next(),
            ZIter::Skip(it) => it.next(),
        }
    }
}

impl ZSet {
    /// A new empty set for a first member of `first_len` bytes (ZADD's
    /// choice: skiplist straight away if it could never be a listpack).
    pub fn new_for(first_len: usize) -> ZSet {
        if max_entries() == 0 || first_len > max_value() {
            ZSet::Skip(Box::default())
        } else {
            ZSet::Pack(ZPack::default())
        }
    }
    /// A new empty set expected to receive `n` members (ZRANGESTORE).
    pub fn with_hint(n: usize) -> ZSet {
        if n > max_entries() {
            ZSet::Skip(Box::default())
        } else {
            ZSet::Pack(ZPack::default())
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Skip(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.len(),
            ZSet::Skip(s) => s.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => p.score(member),
            ZSet::Skip(s) => s.score(member),
        }
    }

    /// Leave the listpack encoding whatever the size (SORT does).
    pub fn make_skiplist(&mut self) {
        self.convert_to_skip()
    }

    fn convert_to_skip(&mut self) {
        if let ZSet::Pack(p) = self {
            let mut s = SkipList::new();
            for (m, sc) in p.iter() {
                s.insert(sc, m);
            }
            *self = ZSet::Skip(Box::new(s));
        }
    }

    /// Convert a skiplist back to a listpack when it is small enough
    /// (zsetConvertToListpackIfNeeded; used for computed results).
    pub fn shrink_if_small(&mut self) {
        if let ZSet::Skip(s) = self {
            let maxv = max_value();
            if s.len() <= max_entries() && s.iter_from(0, false).all(|(m, _)| m.len() <= maxv) {
                *self = ZSet::Pack(ZPack::from_sorted(s.iter_from(0, false)));
            }
        }
    }

    /// Redis's zsetAdd: NX/XX/GT/LT/INCR semantics and encoding upgrades.
    pub fn add(&mut self, mut score: f64, member: &[u8], f: AddFlags) -> AddOutcome {
        if score.is_nan() {
            return AddOutcome::NaN;
        }
        // One member lookup serves both the test and the update.
        let found = match self {
            ZSet::Pack(p) => p.find(member).map(|(off, _)| (p.pair_at(off).1, off)),
            ZSet::Skip(s) => s.find(member).map(|i| (s.n(i).score, i as usize)),
        };
        if let Some((cur, at)) = found {
            if f.nx {
                return AddOutcome::Nop;
            }
            if f.incr {
                score += cur;
                if score.is_nan() {
                    return AddOutcome::NaN;
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return AddOutcome::Nop;
            }
            if score == cur {
                return AddOutcome::Same(score);
            }
            match self {
                // `at`: the pair's byte offset in a pack, the node's slot
                // in a skiplist (which holds at most u32::MAX nodes).
                ZSet::Pack(p) => p.update_at(at, score, member),
                ZSet::Skip(s) => s.set_score_at(at as u32, member, score),
            }
            return AddOutcome::Updated(score);
        }
        if f.xx {
            return AddOutcome::Nop;
        }
        if let ZSet::Pack(p) = self {
            if p.len() + 1 > max_entries() || member.len() > max_value() {
                self.convert_to_skip();
            }
        }
        self.insert_new(score, member);
        AddOutcome::Added(score)
    }

    /// Insert a member known to be absent, without encoding checks.
    fn insert_new(&mut self, score: f64, member: &[u8]) {
        match self {
            ZSet::Pack(p) => p.insert(score, member),
            ZSet::Skip(s) => s.insert(score, member),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Pack(p) => p.remove(member),
            ZSet::Skip(s) => s.remove(member).is_some(),
        }
    }

    /// 0-based rank, from the lowest score (or the highest if `rev`).
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let r = match self {
            ZSet::Pack(p) => p.find(member)?.1,
            ZSet::Skip(s) => s.rank(member)?,
        };
        Some(if rev { self.len() - 1 - r } else { r })
    }

    /// Iterate from a 0-based rank (counted in the iteration direction).
    pub fn iter_from(&self, rank: usize, rev: bool) -> ZIter<'_> {
        match self {
            ZSet::Pack(p) => {
                if rev {
                    ZIter::Rev(p.iter_below(p.len().saturating_sub(rank)).rev())
                } else {
                    ZIter::Fwd(p.iter_from(rank))
                }
            }
            ZSet::Skip(s) => {
                let fwd_rank = if rev {
                    match s.len().checked_sub(rank + 1) {
                        Some(r) => r,
                        None => {
                            return ZIter::Skip(SkipIter {
                                sl: s,
                                cur: NIL,
                                rev,
                            })
                        }
                    }
                } else {
                    rank
                };
                ZIter::Skip(s.iter_from(fwd_rank, rev))
            }
        }
    }

    pub fn iter(&self) -> ZIter<'_> {
        self.iter_from(0, false)
    }

    /// The lowest and highest (member, score).
    fn bounds(&self) -> Option<(Item<'_>, Item<'_>)> {
        match self {
            ZSet::Pack(p) => {
                let mut it = p.iter();
                let f = it.next()?;
                Some((f, it.next_back().unwrap_or(f)))
            }
            ZSet::Skip(s) => {
                let (f, l) = (s.first()?, s.last()?);
                Some((
                    (&s.n(f).member, s.n(f).score),
                    (&s.n(l).member, s.n(l).score),
                ))
            }
        }
    }

    /// 0-based (forward) rank of the first member with a score in range.
    pub fn first_in_score(&self, r: &ScoreRange) -> Option<usize> {
        if r.is_empty() {
            return None;
        }
        let ((_, lo), (_, hi)) = self.bounds()?;
        if !r.gte_min(hi) || !r.lte_max(lo) {
            return None;
        }
        let (rank, score) = match self {
            ZSet::Pack(p) => p
                .first_where(|sc, _| r.gte_min(sc))
                .map(|(i, (_, sc))| (i, sc))?,
            ZSet::Skip(s) => {
                let p = s.first_where(|sc, _| r.gte_min(sc))?;
                (p, s.n(s.at(p)?).score)
            }
        };
        r.lte_max(score).then_some(rank)
    }

    /// 0-based (forward) rank of the last member with a score in range.
    pub fn last_in_score(&self, r: &ScoreRange) -> Option<usize> {
        if r.is_empty() {
            return None;
        }
        let ((_, lo), (_, hi)) = self.bounds()?;
        if !r.gte_min(hi) || !r.lte_max(lo) {
            return None;
        }
        let (rank, score) = match self {
            ZSet::Pack(p) => p
                .last_where(|sc, _| r.lte_max(sc))
                .map(|(i, (_, sc))| (i, sc))?,
            ZSet::Skip(s) => {
                let p = s.last_where(|sc, _| r.lte_max(sc))?;
                (p, s.n(s.at(p)?).score)
            }
        };
        r.gte_min(score).then_some(rank)
    }

    pub fn first_in_lex(&self, r: &LexRange) -> Option<usize> {
        if r.is_empty() {
            return None;
        }
        let ((lo, _), (hi, _)) = self.bounds()?;
        if !r.gte_min(hi) || !r.lte_max(lo) {
            return None;
        }
        let (rank, m) = match self {
            ZSet::Pack(p) => p
                .first_where(|_, m| r.gte_min(m))
                .map(|(i, (m, _))| (i, m))?,
            ZSet::Skip(s) => {
                let p = s.first_where(|_, m| r.gte_min(m))?;
                (p, s.n(s.at(p)?).member.as_slice())
            }
        };
        r.lte_max(m).then_some(rank)
    }

    pub fn last_in_lex(&self, r: &LexRange) -> Option<usize> {
        if r.is_empty() {
            return None;
        }
        let ((lo, _), (hi, _)) = self.bounds()?;
        if !r.gte_min(hi) || !r.lte_max(lo) {
            return None;
        }
        let (rank, m) = match self {
            ZSet::Pack(p) => p
                .last_where(|_, m| r.lte_max(m))
                .map(|(i, (m, _))| (i, m))?,
            ZSet::Skip(s) => {
                let p = s.last_where(|_, m| r.lte_max(m))?;
                (p, s.n(s.at(p)?).member.as_slice())
            }
        };
        r.gte_min(m).then_some(rank)
    }

    /// Remove forward ranks `start..=end` (clamped by the caller).
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        match self {
            ZSet::Pack(p) => {
                let end = end.min(p.len().saturating_sub(1));
                if start > end || start >= p.len() {
                    return 0;
                }
                let off = p.0.offset_of(2 * start);
                p.0.splice(off, 2 * (end - start + 1), &[]);
                end - start + 1
            }
            ZSet::Skip(s) => s.remove_ranks(start, end),
        }
    }

    /// Remove and return the lowest (or highest) member.
    pub fn pop(&mut self, max: bool) -> Option<(Elem, f64)> {
        match self {
            ZSet::Pack(p) => {
                let (m, sc) = if max {
                    p.iter().next_back()?
                } else {
                    p.iter().next()?
                };
                let m = Elem::from_slice(m);
                let rank = if max { p.len() - 1 } else { 0 };
                let off = p.0.offset_of(2 * rank);
                p.0.splice(off, 2, &[]);
                Some((m, sc))
            }
            ZSet::Skip(s) => s.pop(max),
        }
    }

    pub fn random(&self) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Pack(p) => {
                if p.is_empty() {
                    return None;
                }
                p.iter_from(fastrand::usize(..p.len())).next()
            }
            ZSet::Skip(s) => s.random(),
        }
    }

    /// Add every member of an iterator of distinct members (result sets).
    pub fn from_sorted_unique<'a>(items: impl Iterator<Item = (&'a [u8], f64)>) -> ZSet {
        let mut s = SkipList::new();
        for (m, sc) in items {
            s.insert(sc, m);
        }
        let mut z = ZSet::Skip(Box::new(s));
        z.shrink_if_small();
        z
    }

    pub fn payload_bytes(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.0.bytes(),
            ZSet::Skip(s) => s.payload_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Total order on (score, member) for the naive model.
    #[derive(Clone, Debug, PartialEq)]
    struct K(f64, Vec<u8>);
    impl Eq for K {}
    impl PartialOrd for K {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for K {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0
                .partial_cmp(&o.0)
                .unwrap_or(Ordering::Equal)
                .then_with(|| self.1.cmp(&o.1))
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add(u8, i8),
        Remove(u8),
        RemoveRanks(u8, u8),
        Pop(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<i8>()).prop_map(|(m, s)| Op::Add(m, s)),
            2 => any::<u8>().prop_map(Op::Remove),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::RemoveRanks(a % 16, b % 16)),
            1 => any::<bool>().prop_map(Op::Pop),
        ]
    }

    fn member(m: u8) -> Vec<u8> {
        // Mix short (inline) and long (heap) members.
        if m.is_multiple_of(3) {
            format!("{m}-{}", "x".repeat(20)).into_bytes()
        } else {
            format!("m{m}").into_bytes()
        }
    }

    fn check_same(z: &ZSet, model: &BTreeSet<K>) {
        let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        let want: Vec<(Vec<u8>, f64)> = model.iter().map(|k| (k.1.clone(), k.0)).collect();
        assert_eq!(got, want);
        assert_eq!(z.len(), model.len());
        for (r, k) in model.iter().enumerate() {
            assert_eq!(z.rank(&k.1, false), Some(r));
            assert_eq!(z.rank(&k.1, true), Some(model.len() - 1 - r));
            assert_eq!(z.score(&k.1), Some(k.0));
            let fwd: Vec<&[u8]> = z.iter_from(r, false).map(|(m, _)| m).take(1).collect();
            assert_eq!(fwd, vec![k.1.as_slice()]);
            let rev: Vec<&[u8]> = z
                .iter_from(model.len() - 1 - r, true)
                .map(|(m, _)| m)
                .take(1)
                .collect();
            assert_eq!(rev, vec![k.1.as_slice()]);
        }
        if let ZSet::Skip(s) = z {
            s.check();
        }
    }

    fn run(ops: Vec<Op>, skip: bool) {
        let mut z = if skip {
            ZSet::Skip(Box::default())
        } else {
            ZSet::Pack(ZPack::default())
        };
        let mut model: BTreeSet<K> = BTreeSet::new();
        for op in ops {
            match op {
                Op::Add(m, s) => {
                    let m = member(m);
                    let s = s as f64 / 4.0;
                    if let Some(old) = model.iter().find(|k| k.1 == m).cloned() {
                        model.remove(&old);
                    }
                    model.insert(K(s, m.clone()));
                    // Insert directly so the encoding under test stays put.
                    if z.score(&m).is_some() {
                        match &mut z {
                            ZSet::Skip(sl) => sl.set_score(&m, s),
                            // Scores of i8/4 mix 1-byte integers and 9-byte
                            // doubles: both the in-place move and the
                            // remove-and-insert fallback run.
                            ZSet::Pack(p) => {
                                let (off, _) = p.find(&m).expect("present");
                                p.update_at(off, s, &m);
                            }
                        }
                    } else {
                        z.insert_new(s, &m);
                    }
                }
                Op::Remove(m) => {
                    let m = member(m);
                    let had = model.iter().find(|k| k.1 == m).cloned();
                    if let Some(k) = &had {
                        model.remove(k);
                    }
                    assert_eq!(z.remove(&m), had.is_some());
                }
                Op::RemoveRanks(a, b) => {
                    let (a, b) = (a as usize, b as usize);
                    if let Some((s, e)) =
                        crate::types::list::clamp_range(a as i64, b as i64, model.len())
                    {
                        let doomed: Vec<K> =
                            model.iter().skip(s).take(e - s + 1).cloned().collect();
                        for k in &doomed {
                            model.remove(k);
                        }
                        assert_eq!(z.remove_ranks(s, e), doomed.len());
                    }
                }
                Op::Pop(max) => {
                    let want = if max {
                        model.iter().next_back().cloned()
                    } else {
                        model.iter().next().cloned()
                    };
                    if let Some(k) = &want {
                        model.remove(k);
                    }
                    let got = z.pop(max).map(|(m, s)| K(s, m.to_vec()));
                    assert_eq!(got, want);
                }
            }
            check_same(&z, &model);
        }
        // Range queries against the model.
        for lo in -40..40 {
            let r = ScoreRange {
                min: lo as f64 / 4.0,
                max: (lo + 7) as f64 / 4.0,
                minex: lo % 2 == 0,
                maxex: lo % 3 == 0,
            };
            let idx: Vec<usize> = model
                .iter()
                .enumerate()
                .filter(|(_, k)| r.gte_min(k.0) && r.lte_max(k.0))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(z.first_in_score(&r), idx.first().copied());
            assert_eq!(z.last_in_score(&r), idx.last().copied());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn skiplist_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
            run(ops, true);
        }
        #[test]
        fn listpack_matches_model(ops in proptest::collection::vec(op(), 1..100)) {
            run(ops, false);
        }
    }

    #[test]
    fn lex_ranges() {
        let mut s = SkipList::new();
        for m in ["a", "b", "c", "d", "e"] {
            s.insert(0.0, m.as_bytes());
        }
        let z = ZSet::Skip(Box::new(s));
        let r = LexRange {
            min: LexItem::Str(b"b".to_vec()),
            max: LexItem::PosInf,
            minex: true,
            maxex: true,
        };
        assert_eq!(z.first_in_lex(&r), Some(2));
        assert_eq!(z.last_in_lex(&r), Some(4));
        let empty = LexRange {
            min: LexItem::PosInf,
            max: LexItem::NegInf,
            minex: true,
            maxex: true,
        };
        assert_eq!(z.first_in_lex(&empty), None);
    }

    #[test]
    fn add_flags_and_conversion() {
        let mut z = ZSet::Pack(ZPack::default());
        assert_eq!(
            z.add(1.0, b"a", AddFlags::default()),
            AddOutcome::Added(1.0)
        );
        let gt = AddFlags {
            gt: true,
            ..Default::default()
        };
        assert_eq!(z.add(0.5, b"a", gt), AddOutcome::Nop);
        assert_eq!(z.add(2.0, b"a", gt), AddOutcome::Updated(2.0));
        let incr = AddFlags {
            incr: true,
            ..Default::default()
        };
        assert_eq!(
            z.add(f64::INFINITY, b"a", incr),
            AddOutcome::Updated(f64::INFINITY)
        );
        assert_eq!(z.add(f64::NEG_INFINITY, b"a", incr), AddOutcome::NaN);
        // A member longer than zset-max-listpack-value converts.
        let long = vec![b'x'; max_value() + 1];
        z.add(3.0, &long, AddFlags::default());
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.rank(&long, false), Some(0));
    }

    #[test]
    fn scan_is_stable_across_deletes() {
        let mut s = SkipList::new();
        for i in 0..100 {
            s.insert(i as f64, format!("m{i}").as_bytes());
        }
        let mut seen = std::collections::HashSet::new();
        let mut cur = 0;
        let mut round = 0;
        loop {
            cur = s.scan(cur, 10, |m, _| {
                seen.insert(m.to_vec());
            });
            // Delete members as we go: those never deleted must all be seen.
            s.remove(format!("m{}", 99 - round).as_bytes());
            round += 1;
            if cur == 0 {
                break;
            }
        }
        for i in 0..(100 - round) {
            assert!(seen.contains(format!("m{i}").as_bytes()));
        }
    }
}
