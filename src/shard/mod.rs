//! A shard: this reactor's slice of every database. Knows nothing of sockets.
pub mod db;
pub mod dbkey;
pub mod keytable;
pub mod pattern;
pub mod slot;

pub use db::{Db, DbStats, Entry};

pub struct Shard {
    pub id: usize,
    /// How many shards the keyspace has (for commands that must tell
    /// whether a key they derive at run time lives here: SORT's patterns).
    pub nshards: usize,
    pub dbs: Vec<Db>,
    pub stats: DbStats,
    pub locks: crate::tx::locks::LockTable,
    /// Blocked clients per db key (`dbkey`): (reactor, connection,
    /// block id), in arrival order.
    pub waiters: hashbrown::HashMap<Vec<u8>, Vec<Waiter>>,
    /// The blocked client whose attempt is running, while it runs.
    pub attempt: Option<Attempt>,
}

/// A blocked client as its keys' shard knows it: (reactor, connection,
/// block id).
pub type Waiter = (usize, crate::tx::Token, u64);

/// An attempt of a blocked client (see `reactor::blocking`).
#[derive(Clone, Copy)]
pub struct Attempt {
    pub waiter: Waiter,
    /// Not the command's first try: it was woken by a write to a key.
    pub retry: bool,
}

impl Shard {
    pub fn new(id: usize, databases: usize) -> Shard {
        Shard {
            id,
            nshards: 1,
            dbs: (0..databases).map(|_| Db::new()).collect(),
            stats: DbStats::default(),
            locks: Default::default(),
            waiters: Default::default(),
            attempt: None,
        }
    }

    /// Keys the policy could evict here.
    pub fn eviction_candidates(&self, policy: crate::memory::Policy) -> u64 {
        if policy == crate::memory::Policy::NoEviction {
            return 0;
        }
        self.dbs
            .iter()
            .map(|d| {
                if policy.volatile() {
                    d.expires_len()
                } else {
                    d.len()
                }
            })
            .sum::<usize>() as u64
    }

    /// maxmemory: evict the best of a sample from every database (Redis
    /// samples each database too). False when no key is a candidate.
    pub fn evict_one(&mut self, policy: crate::memory::Policy, samples: usize) -> bool {
        let mut best: Option<(u64, usize, crate::shard::db::Key)> = None;
        for (i, db) in self.dbs.iter().enumerate() {
            if let Some((rank, key)) = db.eviction_candidate(policy, samples) {
                if best.as_ref().is_none_or(|(b, _, _)| rank < *b) {
                    best = Some((rank, i, key));
                }
            }
        }
        let Some((_, db, key)) = best else {
            return false;
        };
        self.dbs[db].remove(&key);
        self.stats.evicted_keys += 1;
        true
    }

    /// Do clients that blocked before the running attempt (or before a
    /// client that has not blocked yet) wait on `key`? Then they get its
    /// elements first, even while their retry is still on its way here:
    /// Redis serves blocked clients in the order they blocked.
    pub fn waiting_ahead(&self, db: usize, key: &[u8]) -> bool {
        if self.waiters.is_empty() {
            return false;
        }
        let lk = dbkey::db_key(db, key);
        match (self.waiters.get(&lk).and_then(|l| l.first()), self.attempt) {
            (None, _) => false,
            (Some(first), Some(a)) => *first != a.waiter,
            (Some(_), None) => true,
        }
    }

    /// Active expiry, Redis's "slow cycle" in spirit: sample keys with a TTL
    /// in every database, repeating while more than a quarter of a sample was
    /// expired, within a time budget so the reactor keeps serving.
    pub fn active_expire(&mut self, now: u64, budget: std::time::Duration) {
        let start = std::time::Instant::now();
        for db in &mut self.dbs {
            if db.expires_len() == 0 {
                continue;
            }
            let mut rounds = 0u32;
            loop {
                let (sampled, expired) = db.expire_sample(20, now);
                self.stats.expired_keys += expired as u64;
                rounds += 1;
                if sampled == 0 || expired * 4 < sampled {
                    break;
                }
                if rounds.is_multiple_of(16) && start.elapsed() > budget {
                    return;
                }
            }
        }
    }
}
