//! Per-shard key locks for transactions that span shards (multi-key
//! commands, MULTI/EXEC), in the spirit of VLL: no lock manager thread, no
//! global lock, just a table of held keys and one FIFO queue of waiters per
//! shard, owned by the shard's reactor.
//!
//! Deadlock freedom: a transaction acquires its shards' locks one shard at
//! a time in increasing shard order (the coordinator asks shard i+1 only
//! after shard i granted), so every transaction waits only for shards above
//! all those it holds: a cycle of waits would need a shard both above and
//! below another. The coordinator may take its own shard's locks first
//! when they are free (`try_lock`); shards below it are then asked not to
//! wait (`wait: false`, refused with `Busy`, and the transaction restarts
//! in order), so that exception never creates a wait either. Starvation
//! freedom: waiters are served in arrival order per shard; a waiter blocks
//! later ones that share a key with it, so a stream of newcomers cannot
//! overtake it.
//!
//! The common case costs one branch: with no lock held and nobody waiting,
//! `is_idle()` lets single-shard commands run as before.

use super::{ShardOp, Token};
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// Where the result of a parked operation must go once it runs.
#[derive(Clone, Copy, Debug)]
pub struct ReplyTo {
    pub from: usize,
    pub conn: Token,
    pub slot: u64,
    pub part: u32,
}

pub enum Waiting {
    /// A transaction asking for its locks on this shard.
    Lock { txid: u64 },
    /// ... and, once they are held, to run this and release them.
    LockRun { txid: u64, op: super::ShardOp },
    /// A command that touches locked keys: run it when they are free.
    Op(ShardOp),
}

pub struct Waiter {
    pub keys: LockSet,
    pub what: Waiting,
    pub reply: ReplyTo,
}

impl Waiter {
    /// The transaction whose lock request this is (None: a parked command).
    fn txid(&self) -> Option<u64> {
        match self.what {
            Waiting::Lock { txid } | Waiting::LockRun { txid, .. } => Some(txid),
            Waiting::Op(_) => None,
        }
    }
}

/// A lock names a (database, key) by a 64-bit hash, not by the key's
/// bytes: building, sending, storing and comparing lock sets then costs no
/// allocation per key (a 10-key MSET across shards spent a fifth of its
/// instructions copying keys into lock sets). Two keys with equal hashes
/// merely conflict when they need not: a wait, never a lost exclusion.
/// The seed is random per process, so no client can aim for collisions.
pub type LockId = u64;
pub type LockSet = Vec<LockId>;

/// The lock of a whole shard, every key of every database: whole-keyspace
/// commands (DBSIZE, KEYS, FLUSHDB, FLUSHALL, SWAPDB) take it on every
/// shard, so they see a multi-key command or MULTI/EXEC on
/// those shards entirely or not at all (a DBSIZE fanned out without locks
/// counted one key of a two-shard MSET and not the other). It conflicts
/// with every key. No key's lock id is ever this or `WHOLE_SHARD_READ`
/// (`key_lock`).
pub const WHOLE_SHARD: LockId = u64::MAX;

/// The shared form of `WHOLE_SHARD`, for whole-keyspace reads (DBSIZE,
/// KEYS): held by any number of transactions at once, it excludes every
/// key lock and `WHOLE_SHARD`, not other readers.
pub const WHOLE_SHARD_READ: LockId = u64::MAX - 1;

#[inline(always)]
pub fn lock_id(db: usize, key: &[u8]) -> LockId {
    use std::hash::Hasher;
    static SEED: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    // The database and the key's bytes straight into the hasher, not
    // `hash_one((db, key))`: the generic tuple and slice impls were not
    // inlined (~25 instructions a key more).
    let mut h = SEED
        .get_or_init(|| foldhash::fast::FixedState::with_seed(fastrand::u64(..)))
        .build_hasher();
    h.write_u32(db as u32);
    h.write(key);
    key_lock(h.finish())
}

/// A key's hash as a lock id, kept off the two reserved whole-shard ids
/// and off `idtable::EMPTY`: a key hashing to `WHOLE_SHARD_READ` would be
/// taken for a shared lock, and two writers of that key would no longer
/// exclude each other (an ordinary collision between two keys only makes
/// one wait for the other).
#[inline]
fn key_lock(hash: u64) -> LockId {
    if hash >= super::idtable::EMPTY {
        hash - 3
    } else {
        hash
    }
}

/// Add `key`'s lock to its shard's group (groups in first-seen order;
/// callers sort by shard before acquiring).
pub fn add_lock(locks: &mut Vec<(usize, LockSet)>, nshards: usize, db: usize, key: &[u8]) {
    add_lock_sized(locks, nshards, db, key, 1)
}

/// `add_lock`, a new group getting room for `room` locks (the caller's
/// key count: one allocation per group instead of a growth per power of 2).
pub fn add_lock_sized(
    locks: &mut Vec<(usize, LockSet)>,
    nshards: usize,
    db: usize,
    key: &[u8],
    room: usize,
) {
    let s = crate::shard::slot::key_shard(key, nshards);
    let g = super::group_index(locks, s, || Vec::with_capacity(room));
    locks[g].1.push(lock_id(db, key));
}

/// Lock ids are already seeded 64-bit hashes: the tables keyed by them use
/// the id itself as the hash instead of hashing it again.
#[derive(Default, Clone, Copy)]
pub struct IdHash;

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

#[derive(Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 ids are hashed; fold anything else in, for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

use super::idtable::IdTable;

/// Buckets of a `CountingFilter` (a power of two).
const FILTER_BUCKETS: usize = 4096;

/// How many ids of a set fall in each bucket of their low bits: in front
/// of an `IdTable`, a zero bucket answers "not in it" with one load
/// instead of a probe. Allocated on first use (most shards never lock).
#[derive(Default)]
struct CountingFilter(Vec<u32>);

impl CountingFilter {
    #[inline]
    fn bucket(k: LockId) -> usize {
        k as usize & (FILTER_BUCKETS - 1)
    }

    /// `k` may be in the set (false: it is not).
    #[inline]
    fn may_hold(&self, k: LockId) -> bool {
        self.0.get(Self::bucket(k)).is_some_and(|&n| n != 0)
    }

    /// `k` joined the set.
    #[inline]
    fn add(&mut self, k: LockId) {
        if self.0.is_empty() {
            self.0 = vec![0; FILTER_BUCKETS];
        }
        self.0[Self::bucket(k)] += 1;
    }

    /// `k` left the set.
    #[inline]
    fn remove(&mut self, k: LockId) {
        if let Some(n) = self.0.get_mut(Self::bucket(k)) {
            *n -= 1;
        }
    }

    /// Whether it counts exactly `ids` (the model test's check).
    #[cfg(test)]
    fn counts_exactly(&self, ids: impl Iterator<Item = LockId>) -> bool {
        let mut want = vec![0u32; FILTER_BUCKETS];
        let mut any = false;
        for k in ids {
            want[Self::bucket(k)] += 1;
            any = true;
        }
        if self.0.is_empty() {
            !any
        } else {
            self.0 == want
        }
    }
}

#[derive(Default)]
pub struct LockTable {
    held: IdTable<u64>,
    /// How many held locks fall in each bucket of their id's low bits: a
    /// counting filter in front of `held`. Most keys a request checks are
    /// not held even while other transactions hold hundreds (a two-shard
    /// MSET pipeline keeps ~25 folds' keys locked per shard), and a zero
    /// bucket answers that for one load instead of a hash probe (~70
    /// instructions a key on both shards of every multi-shard step).
    filter: CountingFilter,
    by_tx: hashbrown::HashMap<u64, LockSet>,
    queue: VecDeque<Waiter>,
    /// How many queued waiters name each key: "does an earlier waiter want
    /// this key" in O(1) instead of a scan of the queue, which made every
    /// check quadratic once contention filled the queue.
    queued: IdTable<u32>,
    /// `filter` for `queued`'s ids: while anyone waits (a two-shard MSET
    /// pipeline's queues rarely empty), most keys a request checks are
    /// wanted by no waiter, and a zero bucket says so without a probe.
    qfilter: CountingFilter,
    /// How many lock requests each transaction has in `queue`: whether a
    /// released transaction left one behind is then a lookup, not a scan
    /// of the whole queue on every release that frees no wanted key.
    queued_txs: hashbrown::HashMap<u64, u32>,
    /// `release`'s scratch set, kept to reuse its allocation.
    ahead: hashbrown::HashSet<LockId, IdHash>,
    /// Transactions holding `WHOLE_SHARD_READ` (kept out of `held`, which
    /// has one holder per lock).
    readers: u32,
}

/// What became of a `LockRun`.
pub enum LockRunOutcome {
    /// Nothing stood in the way: run the operation now. No lock was
    /// recorded: nothing can interleave with an operation run at once.
    Run(ShardOp),
    /// It waits in the queue and runs (then releases) when granted.
    Parked,
    /// A no-wait request that would have had to wait: the operation, back.
    Busy(ShardOp),
}

impl LockTable {
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.held.is_empty() && self.queue.is_empty() && self.readers == 0
    }

    #[inline]
    fn held_by_other(&self, k: LockId, txid: Option<u64>) -> bool {
        if !self.filter.may_hold(k) {
            return false;
        }
        self.held.get(k).is_some_and(|holder| Some(holder) != txid)
    }

    /// Held by another transaction, or wanted by a waiter already queued
    /// (earlier waiters on a key go first: FIFO per key).
    fn conflicts(&self, keys: &[LockId], txid: Option<u64>) -> bool {
        let queued = !self.queue.is_empty();
        self.must_wait(keys, txid, queued, |k| queued && self.is_queued(k))
    }

    /// Must a request for `keys` by `txid` wait, given the waiters ahead of
    /// it (`any_ahead`: there is one; `ahead(k)`: one of them wants `k`)?
    /// The one rule for new requests (`conflicts`) and for queued ones
    /// (`release`).
    fn must_wait(
        &self,
        keys: &[LockId],
        txid: Option<u64>,
        any_ahead: bool,
        ahead: impl Fn(LockId) -> bool,
    ) -> bool {
        let keys_held = || self.held.values().any(|h| Some(h) != txid);
        if keys.contains(&WHOLE_SHARD) {
            // Behind every waiter and every other holder.
            return any_ahead || self.readers > 0 || keys_held();
        }
        if keys.contains(&WHOLE_SHARD_READ) {
            // Behind every waiter and every key holder; beside readers.
            return any_ahead || keys_held();
        }
        self.readers > 0
            || self.held_by_other(WHOLE_SHARD, txid)
            || ahead(WHOLE_SHARD)
            || ahead(WHOLE_SHARD_READ)
            || keys
                .iter()
                .any(|&k| self.held_by_other(k, txid) || ahead(k))
    }

    /// Does a queued waiter name `k`?
    #[inline]
    fn is_queued(&self, k: LockId) -> bool {
        self.qfilter.may_hold(k) && self.queued.contains_key(k)
    }

    fn enqueue(&mut self, w: Waiter) {
        for &k in &w.keys {
            let n = self.queued.get_or_default(k);
            *n += 1;
            if *n == 1 {
                self.qfilter.add(k);
            }
        }
        if let Some(t) = w.txid() {
            *self.queued_txs.entry(t).or_default() += 1;
        }
        self.queue.push_back(w);
    }

    /// `w` leaves the queue: its keys and its transaction's request count.
    fn unqueue(&mut self, w: &Waiter) {
        self.unqueue_keys(&w.keys);
        if let Some(t) = w.txid() {
            if let hashbrown::hash_map::Entry::Occupied(mut e) = self.queued_txs.entry(t) {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
    }

    fn unqueue_keys(&mut self, keys: &[LockId]) {
        for k in keys {
            if let Some(n) = self.queued.get_mut(*k) {
                *n -= 1;
                if *n == 0 {
                    self.queued.remove(*k);
                    self.qfilter.remove(*k);
                }
            }
        }
    }

    /// Does a transaction hold this key (itself or its whole shard)?
    pub fn holds(&self, k: LockId) -> bool {
        self.readers > 0 || self.held_by_other(WHOLE_SHARD, None) || self.held_by_other(k, None)
    }

    /// Must an operation on `keys` wait? (Callers check `is_idle` first.)
    pub fn blocked(&self, keys: &[LockId]) -> bool {
        self.conflicts(keys, None)
    }

    /// The last shard of a single-phase transaction: lock, run, release.
    /// With `wait` false (a shard the transaction reached out of order) a
    /// conflict hands the operation back instead of queueing it.
    pub fn lock_run(
        &mut self,
        txid: u64,
        keys: LockSet,
        op: ShardOp,
        reply: ReplyTo,
        wait: bool,
    ) -> LockRunOutcome {
        if !self.conflicts(&keys, Some(txid)) {
            return LockRunOutcome::Run(op);
        }
        if !wait {
            return LockRunOutcome::Busy(op);
        }
        self.enqueue(Waiter {
            keys,
            what: Waiting::LockRun { txid, op },
            reply,
        });
        LockRunOutcome::Parked
    }

    /// Take the locks now (true), or queue the request.
    pub fn lock(&mut self, txid: u64, keys: LockSet, reply: ReplyTo) -> bool {
        if self.conflicts(&keys, Some(txid)) {
            self.enqueue(Waiter {
                keys,
                what: Waiting::Lock { txid },
                reply,
            });
            return false;
        }
        self.grant(txid, keys);
        true
    }

    /// Take the locks if nothing stands in the way; never queue.
    pub fn try_lock(&mut self, txid: u64, keys: LockSet) -> bool {
        if self.conflicts(&keys, Some(txid)) {
            return false;
        }
        self.grant(txid, keys);
        true
    }

    fn grant(&mut self, txid: u64, mut keys: LockSet) {
        use hashbrown::hash_map::Entry;
        let LockTable {
            held,
            filter,
            by_tx,
            readers,
            ..
        } = self;
        // One lookup of the transaction's entry, for both questions.
        let entry = by_tx.entry(txid);
        let again = matches!(&entry, Entry::Occupied(e) if e.get().contains(&WHOLE_SHARD_READ));
        // Keys this transaction already held (or names twice) are recorded
        // once; filtered in place, so a grant allocates nothing of its own.
        // A loop, not `retain`: its closure was not inlined (a call per
        // key, ~25 instructions each on a two-shard MSET's local keys).
        let mut kept = 0;
        for i in 0..keys.len() {
            let k = keys[i];
            let keep = if k == WHOLE_SHARD_READ {
                *readers += u32::from(!again);
                !again
            } else {
                let new = held.insert(k, txid).is_none();
                if new {
                    filter.add(k);
                }
                new
            };
            if keep {
                keys[kept] = k;
                kept += 1;
            }
        }
        keys.truncate(kept);
        match entry {
            Entry::Occupied(mut e) => e.get_mut().extend(keys),
            Entry::Vacant(e) => {
                e.insert(keys);
            }
        }
    }

    pub fn park(&mut self, keys: LockSet, op: ShardOp, reply: ReplyTo) {
        self.enqueue(Waiter {
            keys,
            what: Waiting::Op(op),
            reply,
        });
    }

    /// Release a transaction's locks (and forget any request of it still
    /// queued: its coordinator is gone). Returns the waiters that can run
    /// now, in order; granted lock requests already hold their keys.
    pub fn release(&mut self, txid: u64) -> Vec<Waiter> {
        let mut ready = Vec::new();
        // Whether a released key is wanted by a waiter: if none is, and no
        // request of this transaction is queued, nobody's turn has come
        // (each waiter still waits for what it waited for).
        let mut wanted = false;
        if let Some(keys) = self.by_tx.remove(&txid) {
            for k in keys {
                if k == WHOLE_SHARD_READ {
                    self.readers = self.readers.saturating_sub(1);
                } else {
                    if self.held.remove(k).is_some() {
                        self.filter.remove(k);
                    }
                }
                // A whole shard freed may let anyone through.
                wanted |= k == WHOLE_SHARD || k == WHOLE_SHARD_READ || self.is_queued(k);
            }
        }
        if self.queue.is_empty() {
            return ready;
        }
        // A waiter for the whole shard wants every key.
        wanted |= self.is_queued(WHOLE_SHARD) || self.is_queued(WHOLE_SHARD_READ);
        if !wanted && !self.queued_txs.contains_key(&txid) {
            return ready;
        }
        // One pass in queue order: a waiter runs unless another
        // transaction holds one of its keys or a waiter still queued ahead
        // of it wants one (`ahead`: the keys of those, built as we go).
        let mut ahead = std::mem::take(&mut self.ahead);
        ahead.clear();
        // Rotated in place, so the queue keeps its allocation.
        for _ in 0..self.queue.len() {
            let Some(w) = self.queue.pop_front() else {
                break;
            };
            let wtx = w.txid();
            if wtx == Some(txid) {
                // A request of the released transaction: its coordinator is gone.
                self.unqueue(&w);
                continue;
            }
            let waits = self.must_wait(&w.keys, wtx, !ahead.is_empty(), |k| ahead.contains(&k));
            if waits {
                ahead.extend(w.keys.iter().copied());
                self.queue.push_back(w);
                continue;
            }
            self.unqueue(&w);
            let mut w = w;
            if let Some(t) = wtx {
                // The caller needs only what to run and where to reply.
                self.grant(t, std::mem::take(&mut w.keys));
            }
            ready.push(w);
        }
        self.ahead = ahead;
        ready
    }

    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_db(db: usize, ks: &[&str]) -> LockSet {
        ks.iter().map(|k| lock_id(db, k.as_bytes())).collect()
    }
    fn keys(ks: &[&str]) -> LockSet {
        keys_db(0, ks)
    }
    const R: ReplyTo = ReplyTo {
        from: 0,
        conn: 0,
        slot: 0,
        part: 0,
    };

    #[test]
    fn grants_in_fifo_order_and_releases() {
        let mut t = LockTable::default();
        assert!(t.is_idle());
        assert!(t.lock(1, keys(&["a", "b"]), R));
        assert!(t.blocked(&keys(&["a"])));
        assert!(!t.blocked(&keys(&["c"])));
        assert!(!t.blocked(&keys_db(1, &["a"])), "other database");
        assert!(!t.lock(2, keys(&["b", "c"]), R));
        // A command on c must wait behind tx 2's queued request (FIFO).
        assert!(t.blocked(&keys(&["c"])));
        t.park(keys(&["c"]), ShardOp::Stats, R);
        let ready = t.release(1);
        assert_eq!(
            ready.len(),
            1,
            "tx 2 granted; the command on c waits for it"
        );
        assert!(matches!(ready[0].what, Waiting::Lock { txid: 2 }));
        let ready = t.release(2);
        assert_eq!(ready.len(), 1);
        assert!(matches!(ready[0].what, Waiting::Op(_)));
        assert!(t.is_idle());
    }

    #[test]
    fn the_whole_shard_lock_waits_for_everyone_and_everyone_for_it() {
        let all = vec![WHOLE_SHARD];
        let mut t = LockTable::default();
        assert!(t.lock(1, keys(&["a"]), R));
        assert!(t.blocked(&all), "a key is held");
        assert!(!t.lock(2, all.clone(), R), "queued behind tx 1");
        // Behind the queued whole-shard request, even an unrelated key waits.
        assert!(t.blocked(&keys_db(3, &["zz"])));
        assert!(!t.try_lock(3, keys(&["b"])));
        assert!(!t.lock(4, keys(&["c"]), R));
        let ready = t.release(1);
        assert_eq!(ready.len(), 1, "the whole shard, not tx 4 behind it");
        assert!(matches!(ready[0].what, Waiting::Lock { txid: 2 }));
        assert!(t.blocked(&keys(&["b"])), "held whole");
        assert!(!t.try_lock(5, keys(&["d"])));
        let ready = t.release(2);
        assert_eq!(ready.len(), 1);
        assert!(matches!(ready[0].what, Waiting::Lock { txid: 4 }));
        assert!(t.release(4).is_empty());
        assert!(t.is_idle());
        // Uncontended, it is granted at once and blocks nothing after release.
        assert!(t.try_lock(6, all.clone()));
        assert!(t.release(6).is_empty());
        assert!(!t.blocked(&keys(&["a"])));
    }

    #[test]
    fn no_key_takes_a_whole_shard_lock_id() {
        use crate::tx::idtable::EMPTY;
        for h in [u64::MAX, u64::MAX - 1, u64::MAX - 2] {
            let id = key_lock(h);
            assert!(
                id != WHOLE_SHARD && id != WHOLE_SHARD_READ && id != EMPTY,
                "{h:#x}"
            );
        }
        assert_eq!(key_lock(12345), 12345);
        assert_eq!(key_lock(u64::MAX - 3), u64::MAX - 3);
    }

    #[test]
    fn whole_shard_readers_share_it_and_exclude_writers() {
        let read = vec![WHOLE_SHARD_READ];
        let mut t = LockTable::default();
        assert!(t.lock(1, read.clone(), R));
        assert!(t.lock(2, read.clone(), R), "readers share it");
        assert!(!t.is_idle());
        assert!(t.blocked(&keys(&["a"])), "a write waits for the readers");
        assert!(!t.lock(3, keys(&["a"]), R));
        // FIFO: a reader arriving behind the queued writer waits too.
        assert!(!t.lock(4, read.clone(), R));
        assert!(t.release(1).is_empty(), "tx 2 still reads");
        let ready = t.release(2);
        assert_eq!(ready.len(), 1);
        assert!(matches!(ready[0].what, Waiting::Lock { txid: 3 }));
        let ready = t.release(3);
        assert_eq!(ready.len(), 1);
        assert!(matches!(ready[0].what, Waiting::Lock { txid: 4 }));
        // The exclusive form waits for readers.
        assert!(!t.lock(5, vec![WHOLE_SHARD], R));
        let ready = t.release(4);
        assert!(matches!(
            ready[..],
            [Waiter {
                what: Waiting::Lock { txid: 5 },
                ..
            }]
        ));
        assert!(!t.try_lock(6, read.clone()), "the whole shard is held");
        assert!(t.release(5).is_empty());
        assert!(t.is_idle());
    }

    #[test]
    fn no_wait_requests_never_queue() {
        let mut t = LockTable::default();
        assert!(t.try_lock(1, keys(&["a"])));
        assert!(!t.try_lock(2, keys(&["a", "b"])), "a is held");
        assert!(t.try_lock(2, keys(&["b"])));
        match t.lock_run(3, keys(&["b"]), ShardOp::Stats, R, false) {
            LockRunOutcome::Busy(ShardOp::Stats) => {}
            _ => panic!("a no-wait LockRun on a held key hands its op back"),
        }
        assert_eq!(t.queued_len(), 0);
        match t.lock_run(3, keys(&["c"]), ShardOp::Stats, R, false) {
            LockRunOutcome::Run(_) => {}
            _ => panic!("a free key runs at once"),
        }
        assert!(!t.blocked(&keys(&["c"])), "running at once records no lock");
        assert!(t.release(1).is_empty());
        assert!(t.release(2).is_empty());
        assert!(t.is_idle());
    }

    #[test]
    fn release_forgets_a_dead_transactions_queued_request() {
        let mut t = LockTable::default();
        assert!(t.lock(1, keys(&["a"]), R));
        assert!(!t.lock(2, keys(&["a"]), R));
        assert!(t.release(2).is_empty());
        assert!(t.release(1).is_empty());
        assert!(t.is_idle());
    }

    use proptest::prelude::*;

    /// The table as it was before the queued-key index: a linear scan of
    /// the queue for every check. The index must not change any decision.
    /// The whole shard is the key `*` (exclusive) or `?` (shared, any
    /// number of holders).
    #[derive(Default)]
    struct Naive {
        held: std::collections::HashMap<Vec<u8>, u64>,
        readers: Vec<u64>,
        queue: Vec<(Vec<Vec<u8>>, Option<u64>, u32)>,
    }

    const ALL: &[u8] = b"*";
    const ALL_READ: &[u8] = b"?";

    impl Naive {
        fn conflicts(&self, keys: &[Vec<u8>], txid: Option<u64>, upto: usize) -> bool {
            let other = |h: &u64| Some(*h) != txid;
            let keys_held = self.held.values().any(other);
            let ahead = &self.queue[..upto];
            if keys.iter().any(|k| k == ALL) {
                return !ahead.is_empty() || !self.readers.is_empty() || keys_held;
            }
            if keys.iter().any(|k| k == ALL_READ) {
                return !ahead.is_empty() || keys_held;
            }
            !self.readers.is_empty()
                || self.held.get(ALL).is_some_and(other)
                || ahead
                    .iter()
                    .any(|w| w.0.iter().any(|k| k == ALL || k == ALL_READ))
                || keys.iter().any(|k| {
                    self.held.get(k).is_some_and(other) || ahead.iter().any(|w| w.0.contains(k))
                })
        }
        fn grant(&mut self, keys: Vec<Vec<u8>>, t: u64) {
            for k in keys {
                if k == ALL_READ {
                    self.readers.push(t);
                } else {
                    self.held.entry(k).or_insert(t);
                }
            }
        }
        fn request(&mut self, keys: Vec<Vec<u8>>, txid: Option<u64>, id: u32) -> bool {
            if self.conflicts(&keys, txid, self.queue.len()) {
                self.queue.push((keys, txid, id));
                return false;
            }
            if let Some(t) = txid {
                self.grant(keys, t);
            }
            true
        }
        fn release(&mut self, txid: u64) -> Vec<u32> {
            self.held.retain(|_, h| *h != txid);
            self.readers.retain(|&r| r != txid);
            self.queue.retain(|w| w.1 != Some(txid));
            let mut ready = Vec::new();
            let mut i = 0;
            while i < self.queue.len() {
                if self.conflicts(&self.queue[i].0, self.queue[i].1, i) {
                    i += 1;
                    continue;
                }
                let (keys, t, id) = self.queue.remove(i);
                if let Some(t) = t {
                    self.grant(keys, t);
                }
                ready.push(id);
            }
            ready
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// A transaction (id 1..=6) asks for keys (at most once).
        Lock(u64, Vec<u8>),
        /// A transaction asks for the whole shard, shared or not.
        Whole(u64, bool),
        /// A command parks on keys if blocked.
        Command(Vec<u8>),
        Release(u64),
    }

    fn ids(ks: &[Vec<u8>]) -> LockSet {
        ks.iter()
            .map(|k| match k.as_slice() {
                ALL => WHOLE_SHARD,
                ALL_READ => WHOLE_SHARD_READ,
                k => lock_id(0, k),
            })
            .collect()
    }

    fn key_set(bits: &[u8]) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = bits.iter().map(|b| vec![b % 6]).collect();
        v.sort();
        v.dedup();
        v
    }

    proptest! {
        #[test]
        fn the_queued_key_index_decides_as_a_queue_scan(
            ops in proptest::collection::vec(
                prop_oneof![
                    (1u64..7, proptest::collection::vec(0u8..6, 1..4)).prop_map(|(t, k)| Op::Lock(t, k)),
                    (1u64..7, proptest::bool::ANY).prop_map(|(t, r)| Op::Whole(t, r)),
                    proptest::collection::vec(0u8..6, 1..3).prop_map(Op::Command),
                    (1u64..7).prop_map(Op::Release),
                ],
                1..120,
            )
        ) {
            let mut t = LockTable::default();
            let mut m = Naive::default();
            let mut asked = std::collections::HashSet::new();
            for (n, op) in ops.into_iter().enumerate() {
                let id = n as u32;
                let reply = ReplyTo { from: 0, conn: 0, slot: 0, part: id };
                match op {
                    Op::Lock(tx, k) => {
                        if !asked.insert(tx) {
                            continue;
                        }
                        let ks = key_set(&k);
                        prop_assert_eq!(t.lock(tx, ids(&ks), reply), m.request(ks, Some(tx), id));
                    }
                    Op::Whole(tx, read) => {
                        if !asked.insert(tx) {
                            continue;
                        }
                        let ks = vec![if read { ALL_READ } else { ALL }.to_vec()];
                        prop_assert_eq!(t.lock(tx, ids(&ks), reply), m.request(ks, Some(tx), id));
                    }
                    Op::Command(k) => {
                        let ks = key_set(&k);
                        let a: LockSet = ks.iter().map(|k| lock_id(0, k)).collect();
                        let blocked = t.blocked(&a);
                        prop_assert_eq!(blocked, !m.request(ks, None, id));
                        if blocked {
                            t.park(a, ShardOp::Stats, reply);
                        }
                    }
                    Op::Release(tx) => {
                        asked.remove(&tx);
                        let got: Vec<u32> = t.release(tx).iter().map(|w| w.reply.part).collect();
                        prop_assert_eq!(got, m.release(tx));
                    }
                }
                prop_assert_eq!(t.queued_len(), m.queue.len());
                prop_assert_eq!(
                    t.is_idle(),
                    m.held.is_empty() && m.readers.is_empty() && m.queue.is_empty()
                );
                // The filters count exactly the held and the queued ids.
                prop_assert!(t.filter.counts_exactly(t.held.keys()));
                prop_assert!(t.qfilter.counts_exactly(t.queued.keys()));
                // Each transaction's queued requests are counted exactly.
                let mut per_tx = hashbrown::HashMap::new();
                for w in &t.queue {
                    if let Some(x) = w.txid() {
                        *per_tx.entry(x).or_insert(0u32) += 1;
                    }
                }
                prop_assert_eq!(&t.queued_txs, &per_tx);
            }
        }
    }
}
