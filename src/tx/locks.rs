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
}

impl LockTable {
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.held.is_empty() && self.queue.is_empty()
    }

    fn conflicts(&self, keys: &OwnedArgs, txid: Option<u64>, upto: usize) -> bool {
        for k in keys.args().iter() {
            if let Some(&holder) = self.held.get(k) {
                if Some(holder) != txid {
                    return true;
                }
            }
            // Earlier waiters on the same key go first (FIFO per key).
            for w in self.queue.iter().take(upto) {
                if w.keys.args().iter().any(|x| x == k) {
                    return true;
                }
            }
        }
        false
    }

    /// Must an operation on `keys` wait? (Callers check `is_idle` first.)
    pub fn blocked(&self, keys: &OwnedArgs) -> bool {
        self.conflicts(keys, None, self.queue.len())
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
        if self.conflicts(&keys, Some(txid), self.queue.len()) {
            self.queue.push_back(Waiter {
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
        if self.conflicts(&keys, Some(txid), self.queue.len()) {
            self.queue.push_back(Waiter {
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
        self.queue.push_back(Waiter {
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
        self.queue.retain(|w| match w.what {
            Waiting::Lock { txid: t } | Waiting::LockRun { txid: t, .. } => t != txid,
            Waiting::Op(_) => true,
        });
        let mut ready = Vec::new();
        let mut i = 0;
        while i < self.queue.len() {
            let w = &self.queue[i];
            let txid = match w.what {
                Waiting::Lock { txid } | Waiting::LockRun { txid, .. } => Some(txid),
                Waiting::Op(_) => None,
            };
            if self.conflicts(&w.keys, txid, i) {
                i += 1;
                continue;
            }
            let Some(w) = self.queue.remove(i) else { break };
            if let Waiting::Lock { txid } | Waiting::LockRun { txid, .. } = w.what {
                self.grant(txid, &w.keys);
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
}
