//! maxmemory: how much memory is in use (cheaply enough to ask before every
//! command), which keys to evict, and the per-key access clock (LRU/LFU)
//! eviction and OBJECT IDLETIME/FREQ read.
//!
//! Used memory: jemalloc's `stats.allocated` needs an epoch refresh that
//! merges every arena, too slow per command. jemalloc also keeps, per
//! thread, the bytes that thread allocated and freed since it started (two
//! thread-local loads). Each reactor publishes its net figure once per loop
//! turn; the sum over reactors plus what was allocated before they started
//! is the figure maxmemory compares with. Memory freed by another thread
//! than the one that allocated it (a value moved across shards) nets out in
//! the sum. A reactor adds its own live figure, so its own writes count at
//! once; the others' lag by at most one of their loop turns.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

const POLICIES: [(Policy, &str); 8] = [
    (Policy::VolatileLru, "volatile-lru"),
    (Policy::VolatileLfu, "volatile-lfu"),
    (Policy::VolatileRandom, "volatile-random"),
    (Policy::VolatileTtl, "volatile-ttl"),
    (Policy::AllKeysLru, "allkeys-lru"),
    (Policy::AllKeysLfu, "allkeys-lfu"),
    (Policy::AllKeysRandom, "allkeys-random"),
    (Policy::NoEviction, "noeviction"),
];

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        POLICIES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(p, _)| *p)
    }

    pub fn name(self) -> &'static str {
        POLICIES
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("noeviction", |(_, n)| n)
    }

    /// Redis's error text for a value that is not a policy.
    pub fn choices() -> String {
        let names: Vec<&str> = POLICIES.iter().map(|(_, n)| *n).collect();
        format!(
            "argument(s) must be one of the following: {}",
            names.join(", ")
        )
    }

    /// Only keys with a TTL are candidates.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    fn from_u8(v: u8) -> Policy {
        POLICIES
            .get(v as usize)
            .map_or(Policy::NoEviction, |(p, _)| *p)
    }

    fn to_u8(self) -> u8 {
        POLICIES.iter().position(|(p, _)| *p == self).unwrap_or(7) as u8
    }
}

/// One reactor's published figures, on a cache line of its own.
#[repr(align(64))]
#[derive(Default)]
struct Published {
    net: AtomicI64,
    /// Keys its shard could evict under the current policy.
    candidates: AtomicU64,
}

pub struct MemoryLimit {
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    /// Allocated before the reactors started (their counters start at 0).
    base: i64,
    per_reactor: Vec<Published>,
}

/// The most bytes seen in use (INFO's used_memory_peak, MEMORY STATS):
/// sampled at 10 Hz as Redis's cron samples it, and whenever INFO or
/// MEMORY STATS compute the figure. Process-wide, like the memory it
/// describes.
static PEAK: AtomicU64 = AtomicU64::new(0);

/// Record `used` bytes in use; the peak so far (at least `used`).
pub fn note_peak(used: u64) -> u64 {
    PEAK.fetch_max(used, Ordering::Relaxed).max(used)
}

impl MemoryLimit {
    pub fn new(reactors: usize) -> MemoryLimit {
        let _ = tikv_jemalloc_ctl::epoch::advance();
        let base = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as i64;
        MemoryLimit {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(Policy::NoEviction.to_u8()),
            samples: AtomicU32::new(5),
            base,
            per_reactor: (0..reactors).map(|_| Published::default()).collect(),
        }
    }

    /// Apply the maxmemory-* settings (start-up and CONFIG SET).
    pub fn configure(&self, maxmemory: u64, policy: Policy, samples: u32) {
        self.maxmemory.store(maxmemory, Ordering::Relaxed);
        self.policy.store(policy.to_u8(), Ordering::Relaxed);
        self.samples.store(samples.max(1), Ordering::Relaxed);
        LFU_MODE.store(policy.lfu(), Ordering::Relaxed);
    }

    /// 0 = no limit.
    #[inline]
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }

    pub fn policy(&self) -> Policy {
        Policy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    pub fn samples(&self) -> usize {
        self.samples.load(Ordering::Relaxed) as usize
    }

    pub fn publish(&self, reactor: usize, net: i64, candidates: u64) {
        if let Some(p) = self.per_reactor.get(reactor) {
            p.net.store(net, Ordering::Relaxed);
            p.candidates.store(candidates, Ordering::Relaxed);
        }
    }

    /// Can reactor `r`'s shard still evict?
    pub fn can_evict(&self, r: usize) -> bool {
        self.per_reactor
            .get(r)
            .is_some_and(|p| p.candidates.load(Ordering::Relaxed) > 0)
    }

    /// Can another reactor's shard still evict?
    pub fn others_can_evict(&self, me: usize) -> bool {
        self.per_reactor
            .iter()
            .enumerate()
            .any(|(i, p)| i != me && p.candidates.load(Ordering::Relaxed) > 0)
    }

    /// Bytes in use given every reactor's live figure, summed (INFO).
    pub fn used_from(base: i64, nets: i64) -> u64 {
        (base + nets).max(0) as u64
    }

    pub fn base(&self) -> i64 {
        self.base
    }

    /// Bytes in use, with reactor `me`'s live figure `my_net`.
    pub fn used(&self, me: usize, my_net: i64) -> u64 {
        let others: i64 = self
            .per_reactor
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .map(|(_, p)| p.net.load(Ordering::Relaxed))
            .sum();
        Self::used_from(self.base, others + my_net)
    }
}

/// One reactor thread's jemalloc counters. Must be created on that thread.
pub struct ThreadMeter {
    allocated: Option<tikv_jemalloc_ctl::thread::ThreadLocal<u64>>,
    deallocated: Option<tikv_jemalloc_ctl::thread::ThreadLocal<u64>>,
}

impl ThreadMeter {
    pub fn new() -> ThreadMeter {
        ThreadMeter {
            allocated: tikv_jemalloc_ctl::thread::allocatedp::read().ok(),
            deallocated: tikv_jemalloc_ctl::thread::deallocatedp::read().ok(),
        }
    }

    /// Bytes this thread allocated minus bytes it freed, since it started.
    #[inline]
    pub fn net(&self) -> i64 {
        match (self.allocated, self.deallocated) {
            (Some(a), Some(d)) => a.get() as i64 - d.get() as i64,
            _ => 0,
        }
    }
}

impl Default for ThreadMeter {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------- access clock
//
// Each key's 32-bit meta word (see `KeyTable`): the low 24 bits are the
// clock (seconds, wrapping every 194 days, as Redis's LRU clock) of its last
// access; the high 8 bits its LFU counter (Redis's logarithmic counter,
// decayed by the minutes since that access). The counter only moves while
// an LFU policy is set, as in Redis.

const CLOCK_MASK: u32 = (1 << 24) - 1;
const LFU_INIT_VAL: u32 = 5;

static CLOCK: AtomicU32 = AtomicU32::new(0);
static LFU_MODE: AtomicBool = AtomicBool::new(false);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_TIME: AtomicU32 = AtomicU32::new(1);

/// Advance the shared clock (reactors call it every loop turn with their
/// cached time; the store only happens once a second).
#[inline]
pub fn set_clock(now_ms: u64) {
    let c = (now_ms / 1000) as u32 & CLOCK_MASK;
    if CLOCK.load(Ordering::Relaxed) != c {
        CLOCK.store(c, Ordering::Relaxed);
    }
}

#[inline]
fn clock() -> u32 {
    CLOCK.load(Ordering::Relaxed)
}

pub fn lfu_mode() -> bool {
    LFU_MODE.load(Ordering::Relaxed)
}

pub fn set_lfu_params(log_factor: u32, decay_time: u32) {
    LFU_LOG_FACTOR.store(log_factor, Ordering::Relaxed);
    LFU_DECAY_TIME.store(decay_time, Ordering::Relaxed);
}

/// The meta word after an access (`None`: a key being created).
#[inline]
pub fn access(prev: Option<u32>) -> u32 {
    let now = clock();
    let counter = match prev {
        None => LFU_INIT_VAL,
        Some(m) if lfu_mode() => lfu_increment(decayed_counter(m)),
        Some(m) => m >> 24,
    };
    (counter << 24) | now
}

/// The meta word RESTORE gives a key: last accessed `idle` seconds ago
/// (IDLETIME, under an LRU policy) or with LFU counter `freq` (FREQ, under
/// an LFU one), as Redis's objectSetLRUOrLFU does; otherwise as created.
pub fn restored_meta(idle: Option<u64>, freq: Option<u32>) -> u32 {
    let now = clock();
    let fresh = access(None);
    if lfu_mode() {
        return freq.map_or(fresh, |f| (f.min(255) << 24) | now);
    }
    match idle {
        Some(s) => {
            let then = now.wrapping_sub(s.min(u64::from(CLOCK_MASK)) as u32) & CLOCK_MASK;
            (fresh & !CLOCK_MASK) | then
        }
        None => fresh,
    }
}

/// Seconds since the last access.
pub fn idle_secs(meta: u32) -> u64 {
    let (now, then) = (clock(), meta & CLOCK_MASK);
    if now >= then {
        (now - then) as u64
    } else {
        (now + (CLOCK_MASK + 1 - then)) as u64
    }
}

/// The LFU counter with the decay since the last access applied (OBJECT
/// FREQ, and the eviction order of the LFU policies).
pub fn decayed_counter(meta: u32) -> u32 {
    let counter = meta >> 24;
    let period = LFU_DECAY_TIME.load(Ordering::Relaxed) as u64;
    if period == 0 {
        return counter;
    }
    let periods = idle_secs(meta) / 60 / period;
    counter.saturating_sub(periods.min(255) as u32)
}

fn lfu_increment(counter: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let factor = LFU_LOG_FACTOR.load(Ordering::Relaxed) as f64;
    if fastrand::f64() < 1.0 / (base * factor + 1.0) {
        counter + 1
    } else {
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for (p, n) in POLICIES {
            assert_eq!(Policy::parse(n), Some(p));
            assert_eq!(p.name(), n);
            assert_eq!(Policy::from_u8(p.to_u8()), p);
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Some(Policy::AllKeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    #[test]
    fn idle_time_survives_the_clock_wrapping() {
        CLOCK.store(5, Ordering::Relaxed);
        assert_eq!(idle_secs(CLOCK_MASK - 4), 10);
        assert_eq!(idle_secs(3), 2);
    }

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let mut c = LFU_INIT_VAL;
        for _ in 0..1000 {
            c = lfu_increment(c);
        }
        // With log factor 10, a thousand hits land well under 255.
        assert!(c > LFU_INIT_VAL && c < 40, "{c}");
        assert_eq!(lfu_increment(255), 255);
    }

    #[test]
    fn this_thread_is_metered() {
        use std::alloc::{GlobalAlloc, Layout};
        // The binary makes jemalloc the global allocator; unit tests do
        // not, so allocate through it explicitly.
        let jemalloc = tikv_jemallocator::Jemalloc;
        let layout = Layout::from_size_align(1 << 20, 8).unwrap();
        let m = ThreadMeter::new();
        let before = m.net();
        // SAFETY: a non-zero-sized layout, freed below with the same layout.
        let p = unsafe { jemalloc.alloc(layout) };
        assert!(!p.is_null());
        let during = m.net();
        // SAFETY: allocated above by the same allocator with this layout.
        unsafe { jemalloc.dealloc(p, layout) };
        assert!(during - before >= 1 << 20, "{before} -> {during}");
        assert!(m.net() < during);
    }
}
