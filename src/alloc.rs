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

/// Return every arena's dirty pages to the kernel now (MEMORY PURGE);
/// false if jemalloc refused.
pub fn release_freed_pages() -> bool {
    // SAFETY: a NUL-terminated mallctl name that takes no argument and
    // returns nothing (null old/new pointers with zero lengths).
    unsafe {
        tikv_jemalloc_sys::mallctl(
            ALL_ARENAS_PURGE.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        ) == 0
    }
}

/// jemalloc's own totals (bytes), as Redis's cron samples them for INFO
/// and MEMORY STATS.
#[derive(Clone, Copy, Default)]
pub struct AllocatorStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
}

impl AllocatorStats {
    pub fn read() -> AllocatorStats {
        use tikv_jemalloc_ctl::{epoch, stats};
        let _ = epoch::advance();
        AllocatorStats {
            allocated: stats::allocated::read().unwrap_or(0) as u64,
            active: stats::active::read().unwrap_or(0) as u64,
            resident: stats::resident::read().unwrap_or(0) as u64,
        }
    }
}

/// jemalloc's statistics report (MEMORY MALLOC-STATS), as
/// `malloc_stats_print` writes it.
pub fn stats_report() -> String {
    extern "C" fn append(opaque: *mut std::ffi::c_void, text: *const std::ffi::c_char) {
        if opaque.is_null() || text.is_null() {
            return;
        }
        // SAFETY: `opaque` is the `String` passed below, alive and not
        // otherwise borrowed during the call; jemalloc passes a
        // NUL-terminated string.
        unsafe {
            let out = &mut *opaque.cast::<String>();
            out.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
        }
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call;
    // a null options string asks for the default report.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(append),
            (&mut out as *mut String).cast(),
            std::ptr::null(),
        );
    }
    out
}
