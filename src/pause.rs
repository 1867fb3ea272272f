//! CLIENT PAUSE: until a deadline, normal clients' commands wait (ALL), or
//! only those that may write or replicate (WRITE), while reads go on, as
//! Redis lets a failover find the dataset still. Process-wide: every
//! reactor reads it before running a client's command (one load while no
//! pause is set), keeps the waiting connections with their input unread,
//! and resumes them when the pause ends (its deadline, or CLIENT UNPAUSE,
//! which rings every reactor). While paused, keys are not expired (lazily
//! they read as missing, but stay) and not evicted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Unix ms at which the pause ends; 0: none.
static UNTIL_MS: AtomicU64 = AtomicU64::new(0);
/// ALL rather than WRITE.
static ALL: AtomicBool = AtomicBool::new(false);

/// CLIENT PAUSE: replaces any pause in effect (Redis keeps one per
/// purpose, and CLIENT PAUSE has one).
pub fn set(until_ms: u64, all: bool) {
    ALL.store(all, Ordering::Relaxed);
    UNTIL_MS.store(until_ms.max(1), Ordering::Release);
}

/// CLIENT UNPAUSE.
pub fn clear() {
    UNTIL_MS.store(0, Ordering::Release);
}

/// Whether a pause may be set (the cheap test before `active`).
#[inline(always)]
pub fn maybe() -> bool {
    UNTIL_MS.load(Ordering::Relaxed) != 0
}

/// The pause in effect at `now_ms`: `Some(all)`.
pub fn active(now_ms: u64) -> Option<bool> {
    let until = UNTIL_MS.load(Ordering::Acquire);
    (until != 0 && now_ms < until).then(|| ALL.load(Ordering::Relaxed))
}

/// When the pause in effect ends (0: none).
pub fn until_ms() -> u64 {
    UNTIL_MS.load(Ordering::Acquire)
}

/// Whether writes are held now (either mode): expiry and eviction wait.
pub fn writes_held(now_ms: u64) -> bool {
    maybe() && active(now_ms).is_some()
}
