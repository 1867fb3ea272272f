//! Reactors that outnumber the CPUs they may run on share CPUs; they then
//! run under SCHED_BATCH so that one woken by a completion does not preempt
//! another mid-turn (see src/io/sched.rs). With a CPU each, nothing changes.

mod common;
use common::*;

/// The scheduling policy (field 41 of /proc/PID/task/TID/stat) of each
/// reactor thread of `pid`.
fn reactor_policies(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir");
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("reactor-") {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the command name (which ends with ')').
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let policy = rest
            .split_whitespace()
            .nth(41 - 3)
            .and_then(|v| v.parse().ok())
            .expect("policy field");
        out.push(policy);
    }
    out
}

/// Pin the calling thread (and so the children it spawns) to one CPU.
fn pin_to_one_cpu() {
    // SAFETY: cpu_set_t is plain data; affinity of the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0
        );
    }
}

#[test]
fn reactors_sharing_a_cpu_use_sched_batch() {
    if std::env::var("HALOCLINE_TEST_REDIS").is_ok() {
        return; // a property of halocline's threads, not of the protocol
    }
    std::thread::spawn(|| {
        pin_to_one_cpu();
        let srv = Server::start(2);
        let policies = reactor_policies(srv.pid());
        assert_eq!(policies, vec![libc::SCHED_BATCH as u32; 2]);
        // And they serve, across shards.
        let mut con = srv.conn();
        ok(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(
            strs(&q(&mut con, &["MGET", "a", "b", "c"])),
            vec![Some("1".into()), Some("2".into()), Some("3".into())]
        );
    })
    .join()
    .expect("pinned thread");
}

#[test]
fn a_reactor_per_cpu_keeps_the_default_policy() {
    if std::env::var("HALOCLINE_TEST_REDIS").is_ok() {
        return;
    }
    let srv = Server::start(1);
    assert_eq!(reactor_policies(srv.pid()), vec![libc::SCHED_OTHER as u32]);
}
