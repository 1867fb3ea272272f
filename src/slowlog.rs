//! SLOWLOG: commands whose execution took at least
//! `slowlog-log-slower-than` microseconds, newest first, at most
//! `slowlog-max-len` of them, as Redis keeps them (ids, Unix time, duration,
//! arguments cut at 32 and 128 bytes each, client address and name).
//!
//! The same timings feed INFO commandstats' `usec`. Timing every command
//! would cost the hot path two clock reads per request, so commands Redis
//! flags `fast` (GET, SET, INCR...: O(1)) are timed only when the slow
//! log's threshold is low enough for them to matter
//! (`FAST_TIMED_BELOW_US`; the suite's 0 logs everything) or the latency
//! monitor is on; every other command run by one reactor is timed: keyed
//! commands where they run (on the key's reactor for a remote key, without
//! the client's address and name there), connection commands, scripts, and
//! the commands EXEC runs (EXEC itself is not logged, as in Redis). Not
//! timed: commands spanning shards, whole-keyspace commands (KEYS, SCAN,
//! FLUSHALL...), and the fan-outs behind connection commands. A blocking
//! command is judged when it is served. The log is one
//! process-wide list behind a mutex: only a slow command or a SLOWLOG
//! query ever takes it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::commands::table::Command;
use crate::protocol::Args;

/// Below this threshold the `fast` commands are timed too.
const FAST_TIMED_BELOW_US: i64 = 1000;
const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

static THRESHOLD_US: AtomicI64 = AtomicI64::new(10_000);
static MAX_LEN: AtomicUsize = AtomicUsize::new(128);
/// The `fast` commands are timed too (a threshold under
/// `FAST_TIMED_BELOW_US`).
static TIME_FAST: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static LOG: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

pub struct Entry {
    id: u64,
    unix_s: u64,
    duration_us: u64,
    args: Vec<Vec<u8>>,
    addr: String,
    name: Vec<u8>,
}

/// CONFIG: slowlog-log-slower-than (negative: off) and slowlog-max-len.
/// `monitored`: the latency monitor is on, which samples every command
/// class, the fast ones included.
pub fn configure(threshold_us: i64, max_len: usize, monitored: bool) {
    THRESHOLD_US.store(threshold_us, Ordering::Relaxed);
    MAX_LEN.store(max_len, Ordering::Relaxed);
    TIME_FAST.store(
        monitored || (0..FAST_TIMED_BELOW_US).contains(&threshold_us),
        Ordering::Relaxed,
    );
    trim(&mut lock());
}

/// Whether `cmd`'s run is timed (for commandstats and the slow log).
#[inline]
pub fn times(cmd: &Command) -> bool {
    !cmd.fast || TIME_FAST.load(Ordering::Relaxed)
}

fn lock() -> std::sync::MutexGuard<'static, VecDeque<Entry>> {
    LOG.lock().unwrap_or_else(|e| e.into_inner())
}

fn trim(log: &mut VecDeque<Entry>) {
    let max = MAX_LEN.load(Ordering::Relaxed);
    log.truncate(max);
}

/// A timed run's duration.
pub fn elapsed_us(started: std::time::Instant) -> u64 {
    started.elapsed().as_micros() as u64
}

/// A timed run of `cmd` took `us` microseconds: a latency monitor sample
/// if slow enough for it; whether it goes in the slow log.
pub fn took(cmd: &Command, us: u64) -> bool {
    crate::latency::command(cmd.fast, us);
    is_slow(us)
}

/// Whether a run of `us` microseconds goes in the slow log.
pub fn is_slow(us: u64) -> bool {
    let threshold = THRESHOLD_US.load(Ordering::Relaxed);
    threshold >= 0 && us as i64 >= threshold
}

/// Log a run of `args` that took `us` microseconds.
pub fn record(us: u64, args: Args, addr: &str, name: &[u8]) {
    let argc = args.len();
    let kept = argc.min(MAX_ARGC);
    let secret = crate::redact::secret_args(args);
    let mut logged = Vec::with_capacity(kept);
    for (j, a) in args.iter().take(kept).enumerate() {
        if secret.binary_search(&j).is_ok() {
            logged.push(b"(redacted)".to_vec());
        } else if kept != argc && j == kept - 1 {
            logged.push(format!("... ({} more arguments)", argc - kept + 1).into_bytes());
        } else if a.len() > MAX_STRING {
            let mut s = a[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            logged.push(s);
        } else {
            logged.push(a.to_vec());
        }
    }
    let unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut log = lock();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    log.push_front(Entry {
        id,
        unix_s,
        duration_us: us,
        args: logged,
        addr: addr.to_string(),
        name: name.to_vec(),
    });
    trim(&mut log);
}

pub fn len() -> usize {
    lock().len()
}

pub fn reset() {
    lock().clear();
}

/// SLOWLOG GET: the newest `count` entries (None: all).
pub fn write_newest(r: &mut crate::protocol::reply::Reply, count: Option<usize>) {
    let log = lock();
    let n = count.map_or(log.len(), |c| c.min(log.len()));
    r.array(n);
    for e in log.iter().take(n) {
        r.array(6);
        r.int(e.id as i64);
        r.int(e.unix_s as i64);
        r.int(e.duration_us as i64);
        r.array(e.args.len());
        for a in &e.args {
            r.bulk(a);
        }
        r.bulk(e.addr.as_bytes());
        r.bulk(&e.name);
    }
}
