//! The scheduling policy of reactor threads.
//!
//! When there are more reactors than CPUs this process may run on, reactors
//! share CPUs. With the default policy a reactor woken by a completion or a
//! peer's ring preempts the one running on its CPU in the middle of a turn,
//! so every cross-shard hand-off turns into extra context switches and cold
//! caches for both. SCHED_BATCH keeps the same priority and nice level but
//! disables wake-up preemption: each reactor finishes its turn, hands over a
//! whole batch, and sleeps. With one CPU per reactor (the default
//! `--threads`) nothing changes, so the policy is only applied when the
//! reactors outnumber the allowed CPUs.

/// Number of CPUs the process may run on (its affinity mask).
pub fn allowed_cpus() -> Option<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        Some(libc::CPU_COUNT(&set) as usize)
    }
}

/// Whether `threads` reactors must share CPUs.
pub fn oversubscribed(threads: usize) -> bool {
    allowed_cpus().is_some_and(|n| n < threads)
}

/// Put the calling thread under SCHED_BATCH.
pub fn use_batch_policy() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 = the calling thread; a valid sched_param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
