//! Giving freed memory back to the kernel when it matters.
//!
//! jemalloc keeps freed pages resident for `dirty_decay_ms` (10 s) in case
//! they are reused. That is right for the churn of small values, wrong for
//! the one big free that follows a keyspace table doubling: the old entries
//! and index (megabytes) would stay in RSS for seconds, so a growing cache
//! showed up to half again its size. Purging right after such a growth
//! costs about what the rehash before it did, and happens log2(n) times.

/// jemalloc's `MALLCTL_ARENAS_ALL`.
const ALL_ARENAS_PURGE: &[u8] = b"arena.4096.purge\0";

/// Return every arena's dirty pages to the kernel now.
pub fn release_freed_pages() {
    // SAFETY: a NUL-terminated mallctl name that takes no argument and
    // returns nothing (null old/new pointers with zero lengths). It fails
    // harmlessly (non-zero return, ignored) where jemalloc is not in use.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            ALL_ARENAS_PURGE.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}
