//! Per-shard key locks for transactions that span shards (multi-key
//! commands, MULTI/EXEC), in the spirit of VLL: no lock manager thread, no
//! global lock, just a table of held keys and one FIFO queue of waiters per
//! shard, owned by the shard's reactor.
//!
//! Deadlock freedom: a transaction acquires its shards' locks one shard at
//! a time in increasing shard order (the coordinator asks shard i+1 only
//! after shard i granted), so every transaction waits only for shards above
//! all those it holds: a cycle of waits would need a shard both above and
//! below another. Starvation freedom: waiters are served in arrival order
//! per shard; a waiter blocks later ones that share a key with it, so a
//! stream of newcomers cannot overtake it.
//!
//! The common case costs one branch: with no lock held and nobody waiting,
//! `is_idle()` lets single-shard commands run as before.

use super::{OwnedArgs, ShardOp, Token};
use std::collections::VecDeque;

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
    /// Lock keys (`lock_key`: database and key).
    pub keys: OwnedArgs,
    pub what: Waiting,
    pub reply: ReplyTo,
}

type LockKey = Vec<u8>;

/// Add `key`'s lock key to its shard's group (groups in first-seen order;
/// callers sort by shard before acquiring).
pub fn add_lock(locks: &mut Vec<(usize, OwnedArgs)>, nshards: usize, db: usize, key: &[u8]) {
    let s = crate::shard::slot::key_shard(key, nshards);
    let g = match locks.iter().position(|(x, _)| *x == s) {
        Some(g) => g,
        None => {
            locks.push((s, OwnedArgs::new()));
            locks.len() - 1
        }
    };
    push_lock_key(&mut locks[g].1, db, key);
}

/// A lock is on a key of one database: the database index prefixes it.
/// Blocked clients' waiter lists (`Shard::waiters`) use the same keys.
pub fn lock_key(db: usize, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    k.extend_from_slice(&(db as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The database and user key of a lock key.
pub fn split_lock_key(k: &[u8]) -> Option<(usize, &[u8])> {
    let (db, key) = k.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*db) as usize, key))
}

pub fn push_lock_key(keys: &mut OwnedArgs, db: usize, key: &[u8]) {
    keys.push(&lock_key(db, key));
}

#[derive(Default)]
pub struct LockTable {
    held: hashbrown::HashMap<LockKey, u64>,
    by_tx: hashbrown::HashMap<u64, Vec<LockKey>>,
    queue: VecDeque<Waiter>,
    /// How many queued waiters name each key: "does an earlier waiter want
    /// this key" in O(1) instead of a scan of the queue, which made every
    /// check quadratic once contention filled the queue.
    queued: hashbrown::HashMap<LockKey, u32>,
}

impl LockTable {
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.held.is_empty() && self.queue.is_empty()
    }

    fn held_by_other(&self, k: &[u8], txid: Option<u64>) -> bool {
        self.held.get(k).is_some_and(|&holder| Some(holder) != txid)
    }

    /// Held by another transaction, or wanted by a waiter already queued
    /// (earlier waiters on a key go first: FIFO per key).
    fn conflicts(&self, keys: &OwnedArgs, txid: Option<u64>) -> bool {
        let queued = !self.queue.is_empty();
        keys.args()
            .iter()
            .any(|k| self.held_by_other(k, txid) || (queued && self.queued.contains_key(k)))
    }

    fn enqueue(&mut self, w: Waiter) {
        for k in w.keys.args().iter() {
            *self.queued.entry_ref(k).or_insert(0) += 1;
        }
        self.queue.push_back(w);
    }

    fn unqueue_keys(&mut self, keys: &OwnedArgs) {
        for k in keys.args().iter() {
            if let Some(n) = self.queued.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    self.queued.remove(k);
                }
            }
        }
    }

    /// Must an operation on `keys` wait? (Callers check `is_idle` first.)
    pub fn blocked(&self, keys: &OwnedArgs) -> bool {
        self.conflicts(keys, None)
    }

    /// Take the locks now, or queue the request. True if granted.
    /// `lock` for the last shard of a single-phase transaction: the
    /// operation comes back when the locks were granted at once, else it
    /// waits in the queue with the request.
    pub fn lock_run(
        &mut self,
        txid: u64,
        keys: OwnedArgs,
        op: ShardOp,
        reply: ReplyTo,
    ) -> Option<ShardOp> {
        if self.conflicts(&keys, Some(txid)) {
            self.enqueue(Waiter {
                keys,
                what: Waiting::LockRun { txid, op },
                reply,
            });
            return None;
        }
        self.grant(txid, &keys);
        Some(op)
    }

    pub fn lock(&mut self, txid: u64, keys: OwnedArgs, reply: ReplyTo) -> bool {
        if self.conflicts(&keys, Some(txid)) {
            self.enqueue(Waiter {
                keys,
                what: Waiting::Lock { txid },
                reply,
            });
            return false;
        }
        self.grant(txid, &keys);
        true
    }

    fn grant(&mut self, txid: u64, keys: &OwnedArgs) {
        let list = self.by_tx.entry(txid).or_default();
        for k in keys.args().iter() {
            if self.held.insert(k.to_vec(), txid).is_none() {
                list.push(k.to_vec());
            }
        }
    }

    pub fn park(&mut self, keys: OwnedArgs, op: ShardOp, reply: ReplyTo) {
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
        if let Some(keys) = self.by_tx.remove(&txid) {
            for k in keys {
                self.held.remove(&k);
            }
        }
        // One pass in queue order: a waiter runs unless another
        // transaction holds one of its keys or a waiter still queued ahead
        // of it wants one (`ahead`: the keys of those, built as we go).
        let mut ready = Vec::new();
        if self.queue.is_empty() {
            return ready;
        }
        let mut ahead: hashbrown::HashSet<LockKey> = hashbrown::HashSet::new();
        let waiters = std::mem::take(&mut self.queue);
        for w in waiters {
            let wtx = match w.what {
                Waiting::Lock { txid } | Waiting::LockRun { txid, .. } => Some(txid),
                Waiting::Op(_) => None,
            };
            if wtx == Some(txid) {
                // A request of the released transaction: its coordinator is gone.
                self.unqueue_keys(&w.keys);
                continue;
            }
            let keys = w.keys.args();
            let waits = keys
                .iter()
                .any(|k| self.held_by_other(k, wtx) || ahead.contains(k));
            if waits {
                for k in keys.iter() {
                    if !ahead.contains(k) {
                        ahead.insert(k.to_vec());
                    }
                }
                self.queue.push_back(w);
                continue;
            }
            self.unqueue_keys(&w.keys);
            if let Some(t) = wtx {
                self.grant(t, &w.keys);
            }
            ready.push(w);
        }
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

    fn keys_db(db: usize, ks: &[&str]) -> OwnedArgs {
        let mut a = OwnedArgs::new();
        for k in ks {
            push_lock_key(&mut a, db, k.as_bytes());
        }
        a
    }
    fn keys(ks: &[&str]) -> OwnedArgs {
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
    #[derive(Default)]
    struct Naive {
        held: std::collections::HashMap<Vec<u8>, u64>,
        queue: Vec<(Vec<Vec<u8>>, Option<u64>, u32)>,
    }

    impl Naive {
        fn conflicts(&self, keys: &[Vec<u8>], txid: Option<u64>, upto: usize) -> bool {
            keys.iter().any(|k| {
                self.held.get(k).is_some_and(|&h| Some(h) != txid)
                    || self.queue[..upto].iter().any(|w| w.0.contains(k))
            })
        }
        fn request(&mut self, keys: Vec<Vec<u8>>, txid: Option<u64>, id: u32) -> bool {
            if self.conflicts(&keys, txid, self.queue.len()) {
                self.queue.push((keys, txid, id));
                return false;
            }
            if let Some(t) = txid {
                for k in keys {
                    self.held.entry(k).or_insert(t);
                }
            }
            true
        }
        fn release(&mut self, txid: u64) -> Vec<u32> {
            self.held.retain(|_, h| *h != txid);
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
                    for k in keys {
                        self.held.entry(k).or_insert(t);
                    }
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
        /// A command parks on keys if blocked.
        Command(Vec<u8>),
        Release(u64),
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
                        let mut a = OwnedArgs::new();
                        for k in &ks {
                            a.push(k);
                        }
                        prop_assert_eq!(t.lock(tx, a, reply), m.request(ks, Some(tx), id));
                    }
                    Op::Command(k) => {
                        let ks = key_set(&k);
                        let mut a = OwnedArgs::new();
                        for k in &ks {
                            a.push(k);
                        }
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
                prop_assert_eq!(t.is_idle(), m.held.is_empty() && m.queue.is_empty());
            }
        }
    }
}
