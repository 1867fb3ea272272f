//! maxmemory on the reactor: the figure published each loop turn, eviction
//! before commands (as Redis's processCommand does), and the OOM decision.
//!
//! A reactor can only evict from its own shard. When that is not enough
//! (its shard has no candidate left) but another shard has some, a
//! client's command waits once for those shards to evict
//! (`wait_for_eviction`), then runs; if still over, the other reactors are
//! woken to evict on their next turn and the command goes through: the
//! overshoot is bounded by one loop turn of writes, where refusing would
//! fail writes while other shards still hold evictable keys. With no
//! candidate anywhere (say a volatile policy and no key with a TTL) writes
//! get Redis's OOM error.

use super::Reactor;
use crate::memory::Policy;
use crate::tx::fanout::{Plan, Step};
use crate::tx::ShardOp;

/// Evictions per command or per loop turn, at most.
const EVICT_BATCH: usize = 1024;

pub const OOM_ERR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

impl Reactor {
    /// Once per loop turn: publish this thread's memory figure, advance the
    /// access clock, and evict if over the limit.
    pub fn memory_turn(&mut self) {
        crate::memory::set_clock(self.now);
        self.nudged_evictors = false;
        let mem = &self.shared.memory;
        let candidates = if mem.maxmemory() == 0 {
            0
        } else {
            self.shard.eviction_candidates(mem.policy())
        };
        mem.publish(self.id, self.meter.net(), candidates);
        if candidates > 0 {
            self.over_maxmemory();
        }
    }

    /// Evict as the policy allows; true if the command about to run must be
    /// refused when it may use memory. When only other shards can still
    /// evict, they are woken to evict on their next turn and the command
    /// goes through (scripts' commands, each loop turn).
    pub(super) fn over_maxmemory(&mut self) -> bool {
        match self.make_room() {
            Room::Enough => false,
            Room::Refuse => true,
            Room::Elsewhere => {
                self.nudge_evictors();
                false
            }
        }
    }

    /// Evict from this shard as the policy allows, before a command.
    pub(super) fn make_room(&mut self) -> Room {
        let mem = &self.shared.memory;
        let max = mem.maxmemory();
        if max == 0 || mem.used(self.id, self.meter.net()) <= max {
            return Room::Enough;
        }
        // replica-ignore-maxmemory (default yes): a replica is an exact
        // copy of its master, which evicts for it (its DELs arrive in the
        // stream); evicting here too would make the copies differ.
        let repl = &self.shared.repl;
        if repl.is_replica.load(std::sync::atomic::Ordering::Relaxed)
            && repl
                .replica
                .ignore_maxmemory
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Room::Enough;
        }
        // CLIENT PAUSE keeps the dataset still: no eviction, and nothing
        // refused for it (Redis's performEvictions answers OK).
        if crate::pause::writes_held(self.now) {
            return Room::Enough;
        }
        let policy = mem.policy();
        if policy == Policy::NoEviction {
            return Room::Refuse;
        }
        let samples = mem.samples();
        let timed = crate::latency::enabled().then(std::time::Instant::now);
        let room = self.evict_batch(policy, samples, max);
        if let Some(t) = timed {
            crate::latency::sample("eviction-cycle", t.elapsed().as_millis() as u64);
        }
        room
    }

    /// Up to EVICT_BATCH evictions, until under `max`.
    fn evict_batch(&mut self, policy: Policy, samples: usize, max: u64) -> Room {
        for _ in 0..EVICT_BATCH {
            if !self.shard.evict_one(policy, samples) {
                // Nothing left here: the other shards must shed, if they can.
                if !self.shared.memory.others_can_evict(self.id) {
                    return Room::Refuse;
                }
                return Room::Elsewhere;
            }
            if self.shared.memory.used(self.id, self.meter.net()) <= max {
                return Room::Enough;
            }
        }
        Room::Enough
    }

    /// Wake the other reactors to evict on their next turn: one wake-up
    /// per turn, not an eventfd write per command.
    pub(super) fn nudge_evictors(&mut self) {
        if !std::mem::replace(&mut self.nudged_evictors, true) {
            let id = self.id;
            for (i, m) in self.shared.mailboxes.iter().enumerate() {
                if i != id {
                    m.ring();
                }
            }
        }
    }

    /// A client's command found this shard out of candidates while
    /// others have some: it waits (unread, behind a barrier) until they
    /// have evicted, then runs. So, as on Redis, the keys evicted for it
    /// are gone before it runs, and a tracking client hears of them
    /// before its reply (their invalidations travel ahead of the answers
    /// on the same mailboxes). Once per command: what the others could
    /// not free by then, they free on their next turns.
    #[cold]
    pub(super) fn wait_for_eviction(&mut self, idx: u32) {
        let me = self.id;
        let mem = &self.shared.memory;
        let ops: Vec<(usize, ShardOp)> = (0..self.shared.nshards)
            .filter(|&s| s != me && mem.can_evict(s))
            .map(|s| (s, ShardOp::Evict))
            .collect();
        let Some(c) = self.conn_mut(idx) else { return };
        c.evict_waited = true;
        // Counted when it runs.
        self.counters.total_commands -= 1;
        self.postponed = true;
        self.start_plan(
            idx,
            Plan {
                ops,
                barrier: true,
                finish: Box::new(|_, _| Step::Done),
            },
        );
    }

    /// `ShardOp::Evict`: another reactor's command waits for room. What is
    /// left to do if this shard runs out is the asker's to decide.
    pub(super) fn evict_for_peer(&mut self) {
        let _ = self.make_room();
        // The invalidations of the evicted keys go out ahead of this
        // answer, so a tracking client hears of them before the reply of
        // the command that waited (a write's own invalidations, by
        // contrast, follow its reply, as on Redis).
        self.send_pending_invalidations();
        // The asker reads the figures as soon as this answer arrives.
        let candidates = self.shard.eviction_candidates(self.shared.memory.policy());
        self.shared
            .memory
            .publish(self.id, self.meter.net(), candidates);
    }
}

/// What eviction before a command decided.
pub(super) enum Room {
    Enough,
    /// Over the limit with nothing left to evict anywhere.
    Refuse,
    /// Over the limit; only other shards can still evict.
    Elsewhere,
}
