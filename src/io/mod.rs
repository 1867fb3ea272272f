//! I/O drivers. Each runs one reactor's loop: it owns the sockets' I/O and
//! calls into `reactor::Reactor` for everything else.
pub mod bufring;
pub mod listener;
pub mod uring;

/// Probe whether io_uring works here with the flags the uring driver needs.
pub fn uring_available() -> Result<(), String> {
    if std::env::var_os("HALOCLINE_DEBUG_FAIL_URING").is_some() {
        return Err("io_uring disabled by HALOCLINE_DEBUG_FAIL_URING".into());
    }
    io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(8)
        .map(|_| ())
        .map_err(|e| format!("io_uring_setup failed: {e}"))
}
