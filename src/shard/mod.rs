//! A shard: this reactor's slice of every database. Knows nothing of sockets.
pub mod db;
pub mod dbkey;
pub mod keytable;
pub mod pattern;
pub mod slot;

pub use db::{Db, DbStats, Entry};

/// The id of the scratch shard a command spanning shards runs in, on
/// copies of its keys (`tx::fanout::gather`).
pub const SCRATCH: usize = usize::MAX;

pub struct Shard {
    pub id: usize,
    /// How many shards the keyspace has (for commands that must tell
    /// whether a key they derive at run time lives here: SORT's patterns).
    pub nshards: usize,
    pub dbs: Vec<Db>,
    pub stats: DbStats,
    pub locks: crate::tx::locks::LockTable,
    /// Blocked clients per db key (`dbkey`), in arrival order, with what
    /// each pops.
    pub waiters: hashbrown::HashMap<Vec<u8>, Vec<(Waiter, Pops)>>,
    /// The blocked client whose attempt is running, while it runs.
    pub attempt: Option<Attempt>,
    /// A scratch shard holding every key SORT's BY/GET patterns name
    /// (`sort::patterns_plan`): its patterns may be read here.
    pub patterns_gathered: bool,
    /// Expiry and eviction deletions are kept for replicas (`Db::log_deletions`).
    pub logs_deletions: bool,
    /// The writes a script made through `redis.call`, for its reactor to
    /// replicate and to wake blocked clients with once it is done.
    pub script_effects: Vec<ScriptEffect>,
    /// The keys the last MIGRATE run here deleted (the target took them):
    /// what replicas are told to DEL.
    pub migrated: Vec<Vec<u8>>,
    /// The commands a script ran, for MONITOR (only while someone
    /// monitors).
    pub script_monitor: Vec<(usize, crate::tx::OwnedArgs)>,
    /// A scratch shard's keys, as gathered (`fanout::gather`): a script
    /// running here may touch these and no other.
    pub gathered_keys: Option<Vec<Vec<u8>>>,
}

/// One write a script made.
pub struct ScriptEffect {
    pub cmd: &'static crate::commands::table::Command,
    pub db: usize,
    pub args: crate::tx::OwnedArgs,
    pub reply: Vec<u8>,
}

/// A blocked client as its keys' shard knows it: (reactor, connection,
/// block id).
pub type Waiter = (usize, crate::tx::Token, u64);

/// What a blocked client pops. Redis serves a blocked client only from a
/// key of its type: waiters of the other kind are passed over, not in the
/// way.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Pops {
    List,
    ZSet,
}

impl Pops {
    /// BZPOPMIN, BZPOPMAX and BZMPOP pop sorted sets; the others lists.
    pub fn of(cmd_name: &str) -> Pops {
        if cmd_name.starts_with("bz") {
            Pops::ZSet
        } else {
            Pops::List
        }
    }
}

/// An attempt of a blocked client (see `reactor::blocking`).
#[derive(Clone, Copy)]
pub struct Attempt {
    pub waiter: Waiter,
    /// Not the command's first try: it was woken by a write to a key.
    pub retry: bool,
}

/// Samples `Shard::evict_one` draws while each finds only keys a
/// transaction holds, before giving up for this turn.
const HELD_ONLY_REDRAWS: usize = 4;

impl Shard {
    pub fn new(id: usize, databases: usize) -> Shard {
        Shard {
            id,
            nshards: 1,
            dbs: (0..databases)
                .map(|n| {
                    let mut db = Db::new();
                    db.id = if id == SCRATCH { Db::QUIET } else { n };
                    db
                })
                .collect(),
            stats: DbStats::default(),
            locks: Default::default(),
            waiters: Default::default(),
            attempt: None,
            patterns_gathered: false,
            logs_deletions: false,
            script_effects: Vec::new(),
            migrated: Vec::new(),
            script_monitor: Vec::new(),
            gathered_keys: None,
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
    ///
    /// Never a key a transaction holds: Redis evicts only between
    /// commands, so a transaction's keys stay put while it runs; a shard
    /// here evicts on its own turns, which may fall between two steps of
    /// a transaction coordinated elsewhere. A sample of held keys only is
    /// drawn again a few times, then this turn gives up (locks are brief).
    pub fn evict_one(&mut self, policy: crate::memory::Policy, samples: usize) -> bool {
        let idle = self.locks.is_idle();
        let draws = if idle { 1 } else { HELD_ONLY_REDRAWS };
        let mut best: Option<(u64, usize, crate::shard::db::Key)> = None;
        for _ in 0..draws {
            for (i, db) in self.dbs.iter().enumerate() {
                if let Some((rank, key)) = db.eviction_candidate(policy, samples) {
                    if !idle && self.locks.holds(crate::tx::locks::lock_id(i, &key)) {
                        continue;
                    }
                    if best.as_ref().is_none_or(|(b, _, _)| rank < *b) {
                        best = Some((rank, i, key));
                    }
                }
            }
            if best.is_some() {
                break;
            }
        }
        let Some((_, db, key)) = best else {
            return false;
        };
        self.dbs[db].note_deleted(&key);
        self.dbs[db].remove(&key);
        self.stats.evicted_keys += 1;
        crate::notify::notify(crate::notify::EVICTED, "evicted", db, &key);
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
        match (self.first_servable(&lk), self.attempt) {
            (None, _) => false,
            (Some(first), Some(a)) => first != a.waiter,
            (Some(_), None) => true,
        }
    }

    /// The longest-waiting client that could pop `db_key` as it is now: the
    /// first waiter of the key's kind (a list key passes over clients blocked
    /// in BZPOPMIN, which Redis never serves from it). For a key of any
    /// other type, or none, simply the first waiter.
    pub fn first_servable(&self, db_key: &[u8]) -> Option<Waiter> {
        let list = self.waiters.get(db_key)?;
        let kind = dbkey::split_db_key(db_key)
            .and_then(|(db, key)| self.dbs.get(db)?.peek(key))
            .and_then(|e| match e.value {
                crate::types::Value::List(_) => Some(Pops::List),
                crate::types::Value::ZSet(_) => Some(Pops::ZSet),
                _ => None,
            });
        match kind {
            Some(kind) => list.iter().find(|(_, p)| *p == kind),
            None => list.first(),
        }
        .map(|(w, _)| *w)
    }

    /// Active expiry, Redis's "slow cycle" in spirit: sample keys with a TTL
    /// in every database, repeating while more than a quarter of a sample was
    /// expired, within a time budget so the reactor keeps serving.
    pub fn active_expire(&mut self, now: u64, budget: std::time::Duration) {
        if crate::pause::writes_held(now) {
            return;
        }
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
