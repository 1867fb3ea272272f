//! maxmemory on the reactor: the figure published each loop turn, eviction
//! before commands (as Redis's processCommand does), and the OOM decision.
//!
//! A reactor can only evict from its own shard. When that is not enough
//! (its shard has no candidate left) but another shard has some, the
//! command is let through and the other reactors are woken, so they evict
//! from theirs on their next turn: the overshoot is bounded by one loop
//! turn of writes, where refusing would fail writes while other shards
//! still hold evictable keys. With no candidate anywhere (say a volatile
//! policy and no key with a TTL) writes get Redis's OOM error.

use super::Reactor;
use crate::memory::Policy;

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
    /// refused when it may use memory.
    pub(super) fn over_maxmemory(&mut self) -> bool {
        let mem = &self.shared.memory;
        let max = mem.maxmemory();
        if max == 0 || mem.used(self.id, self.meter.net()) <= max {
            return false;
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
            return false;
        }
        // CLIENT PAUSE keeps the dataset still: no eviction, and nothing
        // refused for it (Redis's performEvictions answers OK).
        if crate::pause::writes_held(self.now) {
            return false;
        }
        let policy = mem.policy();
        if policy == Policy::NoEviction {
            return true;
        }
        let samples = mem.samples();
        let timed = crate::latency::enabled().then(std::time::Instant::now);
        let over = self.evict_batch(policy, samples, max);
        if let Some(t) = timed {
            crate::latency::sample("eviction-cycle", t.elapsed().as_millis() as u64);
        }
        over
    }

    /// Up to EVICT_BATCH evictions, until under `max`; true if the command
    /// about to run must be refused.
    fn evict_batch(&mut self, policy: Policy, samples: usize, max: u64) -> bool {
        for _ in 0..EVICT_BATCH {
            if !self.shard.evict_one(policy, samples) {
                // Nothing left here: the other shards must shed, if they can.
                let id = self.id;
                if !self.shared.memory.others_can_evict(id) {
                    return true;
                }
                // One wake-up per turn, not an eventfd write per command.
                if !std::mem::replace(&mut self.nudged_evictors, true) {
                    for (i, m) in self.shared.mailboxes.iter().enumerate() {
                        if i != id {
                            m.ring();
                        }
                    }
                }
                return false;
            }
            if self.shared.memory.used(self.id, self.meter.net()) <= max {
                return false;
            }
        }
        false
    }
}
