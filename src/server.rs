//! State shared by all reactors: configuration, mailboxes, lifecycle flags.
//! Nothing here is on the per-request hot path except the mailboxes.

use crate::config::Config;
use crate::reactor::mailbox::Mailbox;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;

pub const REDIS_VERSION: &str = "7.0.15";
pub const HALOCLINE_VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Shared {
    pub config: RwLock<Config>,
    pub mailboxes: Vec<Mailbox>,
    pub nshards: usize,
    pub stop: AtomicBool,
    pub active_expire: AtomicBool,
    /// DEBUG PAUSE-CRON: each reactor's periodic duties (active expiry,
    /// client timeouts, tracking-table trimming, rate sampling) stop, as
    /// Redis's serverCron does.
    pub pause_cron: AtomicBool,
    pub next_client_id: AtomicU64,
    /// Transaction ids (lock owners); the order is not used for scheduling.
    pub next_txid: AtomicU64,
    pub clients: AtomicUsize,
    pub start_unix_ms: u64,
    pub start: std::time::Instant,
    pub backend: &'static str,
    pub run_id: String,
    pub executable: String,
    pub memory: crate::memory::MemoryLimit,
    /// min-replicas-to-write is in force (see `Config::writes_need_replicas`).
    pub writes_need_replicas: AtomicBool,
    /// MONITOR clients, as (reactor, connection token). Read by every
    /// command only once `monitor_count` says there is one.
    pub monitors: RwLock<Vec<(usize, u64)>>,
    pub monitor_count: AtomicUsize,
    pub repl: crate::replication::State,
    pub pubsub: crate::pubsub::Registry,
    /// Every connected client by id: (reactor, connection token), for
    /// CLIENT TRACKING REDIRECT (written once per connect and close).
    pub client_index: RwLock<std::collections::HashMap<u64, (usize, u64)>>,
}

impl Shared {
    pub fn new(config: Config, backend: &'static str) -> std::io::Result<Shared> {
        let n = config.threads;
        let mut mailboxes = Vec::with_capacity(n);
        for _ in 0..n {
            mailboxes.push(Mailbox::new()?);
        }
        let run_id: String = (0..40)
            .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
            .collect();
        let memory = crate::memory::MemoryLimit::new(n);
        let shared = Shared {
            config: RwLock::new(config),
            mailboxes,
            nshards: n,
            stop: AtomicBool::new(false),
            active_expire: AtomicBool::new(true),
            pause_cron: AtomicBool::new(false),
            next_client_id: AtomicU64::new(1),
            next_txid: AtomicU64::new(1),
            clients: AtomicUsize::new(0),
            start_unix_ms: now_ms(),
            start: std::time::Instant::now(),
            backend,
            run_id,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            memory,
            writes_need_replicas: AtomicBool::new(false),
            monitors: RwLock::new(Vec::new()),
            monitor_count: AtomicUsize::new(0),
            repl: crate::replication::State::default(),
            pubsub: crate::pubsub::Registry::default(),
            client_index: RwLock::new(std::collections::HashMap::new()),
        };
        shared.apply_settings(&shared.config());
        Ok(shared)
    }

    /// Settings the hot path reads without the config lock take effect
    /// (start-up, CONFIG SET): maxmemory-*, lfu-*, min-replicas-*,
    /// replica-*.
    pub fn apply_settings(&self, cfg: &Config) {
        cfg.apply_limits();
        let (max, policy, samples, log_factor, decay) = cfg.memory_settings();
        self.memory.configure(max, policy, samples);
        crate::memory::set_lfu_params(log_factor, decay);
        self.writes_need_replicas
            .store(cfg.writes_need_replicas(), Ordering::Relaxed);
        self.repl.replica.configure(cfg);
        crate::scripting::set_busy_threshold(cfg.int("busy-reply-threshold", 5000));
        crate::notify::set_flags(cfg.notify_flags);
        let latency_ms = cfg.int("latency-monitor-threshold", 0);
        crate::latency::set_threshold(latency_ms);
        crate::slowlog::configure(
            cfg.int("slowlog-log-slower-than", 10_000),
            cfg.int("slowlog-max-len", 128).max(0) as usize,
            latency_ms > 0,
        );
        crate::tracking::set_max_keys(cfg.int("tracking-table-max-keys", 1_000_000).max(0) as usize);
    }

    pub fn config(&self) -> std::sync::RwLockReadGuard<'_, Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config_mut(&self) -> std::sync::RwLockWriteGuard<'_, Config> {
        self.config.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_monitor(&self, reactor: usize, conn: u64) {
        let mut m = self.monitors.write().unwrap_or_else(|e| e.into_inner());
        m.push((reactor, conn));
        self.monitor_count.store(m.len(), Ordering::Release);
    }

    pub fn remove_monitor(&self, reactor: usize, conn: u64) {
        let mut m = self.monitors.write().unwrap_or_else(|e| e.into_inner());
        m.retain(|&x| x != (reactor, conn));
        self.monitor_count.store(m.len(), Ordering::Release);
    }

    /// Ask every reactor to stop, and the main thread too.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for m in &self.mailboxes {
            m.ring();
        }
        // The main thread waits in sigwait(); wake it the same way a user would.
        // SAFETY: plain syscalls.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Make a panic on any thread end the process. A reactor that panicked
/// used to die alone: its listener stayed bound (SO_REUSEPORT kept handing
/// it new connections, never accepted), its clients waited for replies
/// that never came, and the process looked alive to a supervisor. Like
/// Redis after an assertion, log the crash (the panic message and its
/// backtrace, then a line in the server log) and abort, so it can be
/// restarted.
pub fn abort_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        log::error!(
            "halocline crashed: {info}; aborting (thread {})",
            std::thread::current().name().unwrap_or("?")
        );
        std::process::abort();
    }));
}

#[cfg(test)]
mod tests {
    /// Re-run this test binary on this one test with the hook installed and
    /// a panic on a thread other than main: the process must die by SIGABRT
    /// rather than carry on without the thread.
    #[test]
    fn a_panic_on_any_thread_aborts_the_process() {
        if std::env::var_os("HALOCLINE_PANIC_CHILD").is_some() {
            super::abort_on_panic();
            let _ = std::thread::spawn(|| panic!("reactor bug")).join();
            // Reached only if the panic did not end the process.
            std::process::exit(0);
        }
        let exe = std::env::current_exe().expect("test binary path");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "server::tests::a_panic_on_any_thread_aborts_the_process",
                "--nocapture",
            ])
            .env("HALOCLINE_PANIC_CHILD", "1")
            .output()
            .expect("run child");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("reactor bug"));
    }
}
