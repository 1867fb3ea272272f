//! A shard: this reactor's slice of every database. Knows nothing of sockets.
pub mod db;
pub mod pattern;
pub mod slot;

pub use db::{Db, DbStats, Entry};

pub struct Shard {
    pub id: usize,
    pub dbs: Vec<Db>,
    pub stats: DbStats,
    pub locks: crate::tx::locks::LockTable,
    /// Blocked clients per lock key (db-prefixed): (reactor, connection,
    /// block id), in arrival order.
    pub waiters: hashbrown::HashMap<Vec<u8>, Vec<(usize, crate::tx::Token, u64)>>,
}

impl Shard {
    pub fn new(id: usize, databases: usize) -> Shard {
        Shard {
            id,
            dbs: (0..databases).map(|_| Db::new()).collect(),
            stats: DbStats::default(),
            locks: Default::default(),
            waiters: Default::default(),
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
