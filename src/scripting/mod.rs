//! Lua scripting (EVAL, EVALSHA, SCRIPT): the server-wide script cache
//! here, the per-reactor interpreter in `engine`, reply conversion in
//! `convert`.
//!
//! A script runs on the shard that owns its declared keys (KEYS), as a
//! keyed command does, inside that reactor's own Lua interpreter: nothing
//! interleaves with it there, so it is atomic like any command. Keys on
//! several shards take the transaction path (`fanout::gather`): locked,
//! copied to a scratch shard, the script runs there, what it changed is
//! written back. The cache is shared so that a script loaded through one
//! reactor can be called through any; each interpreter compiles a body the
//! first time it runs it.

pub mod convert;
pub mod engine;
pub mod functions;
pub mod libs;
pub mod struct_lib;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

/// A script's SHA1, as 40 lowercase hex digits.
pub type Sha = [u8; 40];

struct Cache {
    bodies: RwLock<HashMap<Sha, Arc<[u8]>>>,
    /// Bumped by SCRIPT FLUSH: interpreters then start afresh, as Redis
    /// resets its Lua state.
    generation: AtomicU64,
    bytes: AtomicUsize,
}

static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache {
    bodies: RwLock::new(HashMap::new()),
    generation: AtomicU64::new(0),
    bytes: AtomicUsize::new(0),
});

pub fn sha1hex(body: &[u8]) -> Sha {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(body);
    let mut hexed = Vec::with_capacity(40);
    hex(&mut hexed, &digest);
    let mut out = [0u8; 40];
    out.copy_from_slice(&hexed);
    out
}

/// A client-supplied SHA, lowercased; `None` when it cannot be one.
pub fn parse_sha(s: &[u8]) -> Option<Sha> {
    let mut out: Sha = s.try_into().ok()?;
    out.make_ascii_lowercase();
    Some(out)
}

/// Remember a body (its SHA is computed by the caller).
pub fn register(sha: Sha, body: &[u8]) {
    let Ok(mut m) = CACHE.bodies.write() else {
        return;
    };
    if let std::collections::hash_map::Entry::Vacant(e) = m.entry(sha) {
        CACHE.bytes.fetch_add(body.len() + 40, Ordering::Relaxed);
        e.insert(Arc::from(body));
    }
}

pub fn body(sha: &Sha) -> Option<Arc<[u8]>> {
    CACHE.bodies.read().ok()?.get(sha).cloned()
}

pub fn exists(sha: &Sha) -> bool {
    CACHE.bodies.read().is_ok_and(|m| m.contains_key(sha))
}

pub fn flush() {
    if let Ok(mut m) = CACHE.bodies.write() {
        m.clear();
    }
    CACHE.bytes.store(0, Ordering::Relaxed);
    CACHE.generation.fetch_add(1, Ordering::Release);
}

pub fn generation() -> u64 {
    CACHE.generation.load(Ordering::Acquire)
}

/// (number_of_cached_scripts, used_memory_scripts) for INFO memory.
pub fn cache_stats() -> (usize, usize) {
    let n = CACHE.bodies.read().map(|m| m.len()).unwrap_or(0);
    (n, CACHE.bytes.load(Ordering::Relaxed))
}

/// Scripts running now and a pending SCRIPT KILL. A script occupies its
/// reactor's thread, so a kill can only come through another reactor; the
/// interpreter's instruction hook polls the flag.
pub struct Busy {
    pub running: AtomicUsize,
    pub kill: AtomicBool,
    /// busy-reply-threshold (alias lua-time-limit), ms; 0: none.
    pub threshold_ms: AtomicU64,
}

pub static BUSY: Busy = Busy {
    running: AtomicUsize::new(0),
    kill: AtomicBool::new(false),
    threshold_ms: AtomicU64::new(5000),
};

/// This server is a read-only replica: a read-only script refused a
/// write with Redis's replica errors, not the EVAL_RO ones.
static REPLICA_READ_ONLY: AtomicBool = AtomicBool::new(false);

pub fn set_replica_read_only(ro: bool) {
    REPLICA_READ_ONLY.store(ro, Ordering::Relaxed);
}

pub fn replica_read_only() -> bool {
    REPLICA_READ_ONLY.load(Ordering::Relaxed)
}

pub fn set_busy_threshold(ms: i64) {
    BUSY.threshold_ms.store(ms.max(0) as u64, Ordering::Relaxed);
}

/// The server is stopping: scripts that have not written stop now, and no
/// later one runs past its first hook.
pub fn stop_scripts() {
    STOPPING.store(true, Ordering::Release);
}

pub static STOPPING: AtomicBool = AtomicBool::new(false);

/// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call commands flagged
/// `noscript` (Redis's tests call DEBUG PROTOCOL from Lua this way).
pub static DENY_DISABLED: AtomicBool = AtomicBool::new(false);

/// SCRIPT KILL: stop the scripts running now that have not written yet
/// (one that has cannot be stopped without breaking its atomicity).
pub fn kill() -> Result<(), &'static str> {
    if BUSY.running.load(Ordering::Acquire) == 0 {
        return Err("NOTBUSY No scripts in execution right now.");
    }
    BUSY.kill.store(true, Ordering::Release);
    Ok(())
}

/// A script that met a key it did not declare, living on another shard,
/// stops before it has written (or on a scratch copy) and answers this
/// instead of a reply: the path that ran it starts it over as a
/// transaction over its declared keys and every key it met
/// (`Reactor::retry_script`). Paths that cannot (inside EXEC, behind a
/// transaction's locks) do not allow it: the script fails with an error.
const RETRY: &[u8] = b"-\x00RETRY ";

thread_local! {
    static RETRY_OK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// MONITOR lines of scripts run on copies (a transaction's scratch
    /// shard, which the reactor never sees): fed by the reactor at the
    /// end of its turn (`take_copied_monitor`).
    static COPIED_MONITOR: std::cell::RefCell<Vec<(usize, crate::tx::OwnedArgs)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

pub fn note_copied_monitor(db: usize, args: crate::tx::OwnedArgs) {
    COPIED_MONITOR.with(|m| m.borrow_mut().push((db, args)));
}

/// How many such lines wait (to forget a run's own with `forget_copied_monitor`).
pub fn copied_monitor_len() -> usize {
    COPIED_MONITOR.with(|m| m.borrow().len())
}

/// A run that starts over (RETRY) shows nothing: drop its lines.
pub fn forget_copied_monitor(len: usize) {
    COPIED_MONITOR.with(|m| m.borrow_mut().truncate(len));
}

/// The MONITOR lines scripts run on copies left on this thread.
pub fn take_copied_monitor() -> Vec<(usize, crate::tx::OwnedArgs)> {
    COPIED_MONITOR.with(|m| std::mem::take(&mut *m.borrow_mut()))
}

/// Let scripts run now answer `RETRY` (see above).
pub fn allow_retry(ok: bool) {
    RETRY_OK.with(|r| r.set(ok));
}

pub fn retry_allowed() -> bool {
    RETRY_OK.with(|r| r.get())
}

fn hex(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for x in b {
        out.push(HEX[(x >> 4) as usize]);
        out.push(HEX[(x & 15) as usize]);
    }
}

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    let v = crate::protocol::parser::hex_val;
    s.chunks(2)
        .map(|p| Some(v(*p.first()?)? << 4 | v(*p.get(1)?)?))
        .collect()
}

/// The `RETRY` answer: the command's database and arguments, and the
/// keys to take on top of its declared ones.
pub fn retry_reply(db: usize, args: crate::protocol::Args, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut out = RETRY.to_vec();
    out.extend_from_slice(db.to_string().as_bytes());
    for (list, n) in [(args.to_vec(), 0), (extra.to_vec(), 1)] {
        out.push(b' ');
        for (i, a) in list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'x');
            hex(&mut out, a);
        }
        let _ = n;
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Whether a reply is a `RETRY` answer (one byte test on the hot path).
#[inline]
pub fn is_retry(reply: &[u8]) -> bool {
    reply.get(1) == Some(&0) && reply.starts_with(RETRY)
}

/// A `RETRY` answer: the command's database and arguments, and the keys
/// it met.
pub struct Retry {
    pub db: usize,
    pub args: Vec<Vec<u8>>,
    pub extra: Vec<Vec<u8>>,
}

pub fn parse_retry(reply: &[u8]) -> Option<Retry> {
    let body = reply.strip_prefix(RETRY)?.strip_suffix(b"\r\n")?;
    let mut parts = body.split(|&b| b == b' ');
    let db = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let list = |p: &[u8]| -> Option<Vec<Vec<u8>>> {
        if p.is_empty() {
            return Some(Vec::new());
        }
        p.split(|&b| b == b',')
            .map(|x| unhex(x.strip_prefix(b"x")?))
            .collect()
    };
    let args = list(parts.next()?)?;
    let extra = list(parts.next()?)?;
    Some(Retry { db, args, extra })
}

/// Scripts (by `script_id`) seen touching keys they do not declare: their
/// later runs are transactions over copies from the start
/// (`Reactor::script_tx`), where meeting such keys only costs a restart,
/// even after the script has written.
static ROAMING: LazyLock<RwLock<std::collections::HashSet<u64>>> = LazyLock::new(Default::default);

/// Identifies a script across runs: EVAL by its body, EVALSHA by its
/// digest, FCALL by its function's name (each learned separately).
pub fn script_id(a: crate::protocol::Args) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(0x5c21).build_hasher();
    for b in a.get(0) {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.write_u8(0);
    h.write(a.get(1));
    h.finish()
}

pub fn roams(id: u64) -> bool {
    ROAMING.read().is_ok_and(|r| r.contains(&id))
}

pub fn mark_roaming(id: u64) {
    if !roams(id) {
        if let Ok(mut r) = ROAMING.write() {
            r.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_redis() {
        // redis-cli SCRIPT LOAD "return 1"
        assert_eq!(
            &sha1hex(b"return 1"),
            b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
        assert_eq!(&sha1hex(b""), b"da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn retry_answers_round_trip() {
        let buf = b"EVALreturn 1\r\n1k\x00ey".to_vec();
        let ranges = vec![0..4, 4..14, 14..15, 15..19];
        let a = crate::protocol::Args::from_parts(&buf, &ranges);
        let extra = vec![b"other".to_vec(), Vec::new()];
        let r = retry_reply(3, a, &extra);
        assert!(is_retry(&r));
        assert!(!r[..r.len() - 2].contains(&b'\n'));
        let p = parse_retry(&r).expect("parses");
        assert_eq!((p.db, p.args, p.extra), (3, a.to_vec(), extra));
        assert!(!is_retry(b"-ERR x\r\n"));
    }

    #[test]
    fn sha_is_case_insensitive() {
        assert_eq!(
            parse_sha(b"E0E1F9FABFC9D4800C877A703B823AC0578FF8DB"),
            Some(sha1hex(b"return 1"))
        );
        assert_eq!(parse_sha(b"abc"), None);
    }
}
