//! I/O drivers. Each runs one reactor's loop: it owns the sockets' I/O and
//! calls into `reactor::Reactor` for everything else.
pub mod batch;
pub mod bufring;
pub mod epoll;
pub mod listener;
pub mod sched;
pub mod sockopt;
pub mod uring;

/// Probe whether io_uring works here with the flags the uring driver needs.
/// `debug_fail` (the hidden `debug-fail-uring` directive) makes the probe
/// fail the way a seccomp filter or `kernel.io_uring_disabled` would, so the
/// fallback path can be tested anywhere.
pub fn uring_available(debug_fail: bool) -> Result<(), String> {
    if debug_fail {
        return Err(
            "io_uring_setup failed: Operation not permitted (os error 1) [debug-fail-uring]".into(),
        );
    }
    io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(8)
        .map(|_| ())
        .map_err(|e| format!("io_uring_setup failed: {e}"))
}
