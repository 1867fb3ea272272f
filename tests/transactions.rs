//! Transactions (issue 3): multi-shard atomicity of multi-key commands and of
//! MULTI/EXEC, WATCH, EXECABORT and friends, and clients that vanish in the
//! middle of a transaction. Keys are chosen with the server's slot function so
//! that with --threads 4 they land on the shards a test needs. Expected
//! replies are those of redis-server 7.0.15 (`HALOCLINE_TEST_REDIS` runs the
//! same tests against it).

mod common;
use common::*;
use redis::ConnectionLike;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Shards of the multi-shard tests (`--threads 4`).
const NSHARDS: usize = 4;
const NOT_INT: &str = "ERR value is not an integer or out of range";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// A command as owned strings: `c!["SET", key, 1]`.
macro_rules! c {
    ($($x:expr),* $(,)?) => { vec![$($x.to_string()),*] };
}

// ---------------------------------------------------------------------------
// Key placement: CRC16 (XMODEM) slot, contiguous slot ranges per shard.

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn shard_of(key: &str, nshards: usize) -> usize {
    assert!(!key.contains('{'), "no hash tags in these keys");
    (crc16(key.as_bytes()) & 16383) as usize * nshards / 16384
}

/// The first key `{prefix}{i}` that lives on `shard` (of 4).
fn key_on(prefix: &str, shard: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| shard_of(k, NSHARDS) == shard)
        .unwrap()
}

/// `per` keys on each of the 4 shards, interleaved (shard 0, 1, 2, 3, 0...).
fn spread_keys(prefix: &str, per: usize) -> Vec<String> {
    let mut by_shard: Vec<Vec<String>> = vec![Vec::new(); NSHARDS];
    let mut i = 0;
    while by_shard.iter().any(|v| v.len() < per) {
        let k = format!("{prefix}{i}");
        let s = shard_of(&k, NSHARDS);
        if by_shard[s].len() < per {
            by_shard[s].push(k);
        }
        i += 1;
    }
    let mut out = Vec::new();
    for j in 0..per {
        for s in by_shard.iter() {
            out.push(s[j].clone());
        }
    }
    out
}

#[test]
fn key_placement_helpers() {
    assert_eq!(crc16(b"123456789"), 0x31c3, "CRC16/XMODEM check value");
    let ks = spread_keys("p:", 2);
    let shards: Vec<usize> = ks.iter().map(|k| shard_of(k, NSHARDS)).collect();
    assert_eq!(shards, vec![0, 1, 2, 3, 0, 1, 2, 3]);
    for s in 0..NSHARDS {
        assert_eq!(shard_of(&key_on("q:", s), NSHARDS), s);
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// MULTI, the commands and EXEC in one write. Every command must be QUEUED;
/// returns EXEC's reply.
fn tx(con: &mut redis::Connection, cmds: &[Vec<String>]) -> Value {
    let mut packed = cmd_of(&["MULTI"]).get_packed_command();
    for cm in cmds {
        packed.extend(cmd_of(cm).get_packed_command());
    }
    packed.extend(cmd_of(&["EXEC"]).get_packed_command());
    let mut replies = con
        .req_packed_commands(&packed, 0, cmds.len() + 2)
        .expect("I/O error talking to server");
    assert_eq!(replies.len(), cmds.len() + 2);
    assert!(
        matches!(&replies[0], Value::Okay)
            || matches!(&replies[0], Value::SimpleString(s) if s == "OK"),
        "MULTI: {:?}",
        replies[0]
    );
    for (i, r) in replies[1..=cmds.len()].iter().enumerate() {
        assert!(
            matches!(r, Value::SimpleString(s) if s == "QUEUED"),
            "{:?} inside MULTI: expected QUEUED, got {r:?}",
            cmds[i]
        );
    }
    replies.pop().unwrap()
}

/// EXEC's array, or a panic.
#[track_caller]
fn arr(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        v => panic!("expected EXEC to run (an array), got {v:?}"),
    }
}

#[track_caller]
fn queued<A: redis::ToRedisArgs>(con: &mut redis::Connection, args: &[A]) {
    assert_eq!(status(con, args), "QUEUED");
}

/// An EXEC that must be aborted by WATCH (null array).
#[track_caller]
fn exec_nil(con: &mut redis::Connection) {
    let v = q(con, &["EXEC"]);
    assert!(matches!(v, Value::Nil), "expected a nil EXEC, got {v:?}");
}

/// An EXEC that must run: its array.
#[track_caller]
fn exec_runs(con: &mut redis::Connection) -> Vec<Value> {
    arr(q(con, &["EXEC"]))
}

fn bulk_of(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        v => panic!("expected a bulk string or nil, got {v:?}"),
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        v => panic!("expected an integer, got {v:?}"),
    }
}

fn is_ok(v: &Value) -> bool {
    matches!(v, Value::Okay) || matches!(v, Value::SimpleString(s) if s == "OK")
}

/// Stops every worker of a stress test if one of them panics.
struct StopOnPanic(Arc<AtomicBool>);
impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Shared state of a stress test: stop flag, operation count, torn reads.
struct Stress {
    stop: Arc<AtomicBool>,
    ops: AtomicU64,
    torn: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Stress {
    fn new() -> Arc<Stress> {
        Arc::new(Stress {
            stop: Arc::new(AtomicBool::new(false)),
            ops: AtomicU64::new(0),
            torn: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        })
    }
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
    fn op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }
    fn torn(&self, what: String) {
        self.torn.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap();
        if s.len() < 8 {
            s.push(what);
        }
    }
    /// Run `f(thread number, state)` on a worker thread with its own connection.
    fn spawn<T: Send + 'static>(
        self: &Arc<Self>,
        srv: &Server,
        t: usize,
        f: impl FnOnce(usize, &mut redis::Connection, &Stress) -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let st = self.clone();
        let mut con = srv.conn();
        std::thread::spawn(move || {
            let _g = StopOnPanic(st.stop.clone());
            f(t, &mut con, &st)
        })
    }
    /// Let the workers run for `d`, then stop them.
    fn run_for(&self, d: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < d && self.running() {
            std::thread::sleep(ms(20));
        }
        self.stop.store(true, Ordering::SeqCst);
    }
    #[track_caller]
    fn assert_clean(&self) {
        let torn = self.torn.load(Ordering::SeqCst);
        assert_eq!(
            torn,
            0,
            "{torn} torn reads, e.g. {:#?}",
            self.samples.lock().unwrap()
        );
    }
}

fn join_all<T>(hs: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    let mut panicked = 0;
    for h in hs {
        match h.join() {
            Ok(v) => out.push(v),
            Err(_) => panicked += 1,
        }
    }
    assert_eq!(
        panicked, 0,
        "{panicked} worker thread(s) panicked (see above)"
    );
    out
}

// ---------------------------------------------------------------------------
// 1. Stress: cross-shard MSET/MGET and MULTI/EXEC are never torn.

/// Runs at least this long...
const STRESS_MIN: Duration = Duration::from_secs(8);
/// ...and until this many operations (MSET, MGET, EXEC: one each)...
const STRESS_MIN_OPS: u64 = 100_000;
/// ...but never longer than this.
const STRESS_MAX: Duration = Duration::from_secs(28);

#[test]
fn stress_cross_shard_writes_are_never_seen_torn() {
    let srv = Server::start(NSHARDS);
    let mut con = srv.conn();
    // 8 keys, 2 on each shard, written together by MSET.
    let mkeys = Arc::new(spread_keys("stress:m:", 2));
    // 4 counters, one per shard, incremented together by MULTI/EXEC.
    let ckeys = Arc::new(spread_keys("stress:c:", 1));
    let mut init = c!["MSET"];
    for k in mkeys.iter() {
        init.extend(c![k, "init"]);
    }
    for k in ckeys.iter() {
        init.extend(c![k, 0]);
    }
    ok(&mut con, &init);

    let st = Stress::new();
    let mut writers = Vec::new();
    let mut others = Vec::new();
    // MSET writers: one value for all 8 keys per MSET.
    for t in 0..2 {
        let mkeys = mkeys.clone();
        others.push(st.spawn(&srv, t, move |t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let v = format!("w{t}:{i}");
                let mut a = c!["MSET"];
                for k in mkeys.iter() {
                    a.extend(c![k, v]);
                }
                let r = q(con, &a);
                assert!(is_ok(&r), "MSET: {r:?}");
                st.op();
                i += 1;
            }
        }));
    }
    // MGET (and MULTI/GET.../EXEC) readers: all 8 values equal.
    for t in 0..2 {
        let mkeys = mkeys.clone();
        others.push(st.spawn(&srv, t, move |_t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let (how, vals) = if i % 4 == 3 {
                    let cmds: Vec<Vec<String>> = mkeys.iter().map(|k| c!["GET", k]).collect();
                    ("MULTI/GET", strs(&tx(con, &cmds)))
                } else {
                    let mut a = c!["MGET"];
                    a.extend(mkeys.iter().cloned());
                    ("MGET", strs(&q(con, &a)))
                };
                st.op();
                if vals.len() != mkeys.len() || vals.iter().any(|v| v.is_none() || *v != vals[0]) {
                    st.torn(format!("{how}: {vals:?}"));
                }
                i += 1;
            }
        }));
    }
    // MULTI/INCR x4/EXEC writers, each in its own key order (the locks are
    // still taken in shard order). Inside one EXEC all four results agree.
    for t in 0..2 {
        let ckeys = ckeys.clone();
        writers.push(st.spawn(&srv, t, move |t, con, st| {
            let mut commits = 0i64;
            let cmds: Vec<Vec<String>> = (0..NSHARDS)
                .map(|j| c!["INCR", ckeys[(j + t * 3) % NSHARDS]])
                .collect();
            while st.running() {
                let r: Vec<i64> = arr(tx(con, &cmds)).iter().map(int_of).collect();
                st.op();
                commits += 1;
                if r.iter().any(|x| *x != r[0]) {
                    st.torn(format!("EXEC of INCRs: {r:?}"));
                }
            }
            commits
        }));
    }
    // Counter readers: MULTI/GET x4/EXEC and MGET see equal counters.
    for t in 0..2 {
        let ckeys = ckeys.clone();
        others.push(st.spawn(&srv, t, move |t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let (how, vals) = if (i + t as u64).is_multiple_of(2) {
                    let cmds: Vec<Vec<String>> = ckeys.iter().map(|k| c!["GET", k]).collect();
                    ("MULTI/GET", strs(&tx(con, &cmds)))
                } else {
                    let mut a = c!["MGET"];
                    a.extend(ckeys.iter().cloned());
                    ("MGET", strs(&q(con, &a)))
                };
                st.op();
                if vals.len() != NSHARDS || vals.iter().any(|v| v.is_none() || *v != vals[0]) {
                    st.torn(format!("{how} of counters: {vals:?}"));
                }
                i += 1;
            }
        }));
    }

    let t0 = Instant::now();
    loop {
        std::thread::sleep(ms(50));
        let n = st.ops.load(Ordering::Relaxed);
        let e = t0.elapsed();
        if !st.running() || (e >= STRESS_MIN && n >= STRESS_MIN_OPS) || e >= STRESS_MAX {
            break;
        }
    }
    st.stop.store(true, Ordering::SeqCst);
    let elapsed = t0.elapsed();
    let commits: i64 = join_all(writers).into_iter().sum();
    join_all(others);
    let ops = st.ops.load(Ordering::SeqCst);
    eprintln!(
        "stress: {ops} operations in {:.1} s ({:.0}/s), {commits} INCR transactions",
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64()
    );
    st.assert_clean();
    assert!(
        ops >= STRESS_MIN_OPS,
        "only {ops} operations in {elapsed:?}"
    );
    // No lost update: every committed transaction incremented every counter.
    let mut a = c!["MGET"];
    a.extend(ckeys.iter().cloned());
    let want = Some(commits.to_string());
    assert_eq!(strs(&q(&mut con, &a)), vec![want; NSHARDS]);
    let mut a = c!["MGET"];
    a.extend(mkeys.iter().cloned());
    let vals = strs(&q(&mut con, &a));
    assert!(
        vals.iter().all(|v| v.is_some() && *v == vals[0]),
        "{vals:?}"
    );
}

/// With two shards, a coordinator on the upper shard locks its own keys
/// first and asks the lower shard not to wait; under contention the lower
/// shard refuses and the transaction starts over in shard order. Hammer
/// two keys (one per shard) from many clients, so both paths run: never a
/// torn read, and the refusals did happen (INFO stats tx_restarts).
#[test]
fn two_shards_refused_out_of_order_locks_restart_and_stay_atomic() {
    let srv = Server::start(2);
    let mut con = srv.conn();
    let ka = (0..)
        .map(|i| format!("oo:a{i}"))
        .find(|k| shard_of(k, 2) == 0)
        .unwrap();
    let kb = (0..)
        .map(|i| format!("oo:b{i}"))
        .find(|k| shard_of(k, 2) == 1)
        .unwrap();
    ok(&mut con, &["MSET", &ka, "init", &kb, "init"]);
    let st = Stress::new();
    let mut hs = Vec::new();
    // Enough connections that both reactors coordinate some of them
    // (SO_REUSEPORT spreads them; all 16 on one reactor: p = 2^-15).
    for t in 0..12 {
        let (ka, kb) = (ka.clone(), kb.clone());
        hs.push(st.spawn(&srv, t, move |t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let v = format!("w{t}:{i}");
                // Alternate the key order: the lock order must not depend on it.
                let a = if i.is_multiple_of(2) {
                    c!["MSET", ka, v, kb, v]
                } else {
                    c!["MSET", kb, v, ka, v]
                };
                assert!(is_ok(&q(con, &a)));
                st.op();
                i += 1;
            }
        }));
    }
    for t in 0..4 {
        let (ka, kb) = (ka.clone(), kb.clone());
        hs.push(st.spawn(&srv, t, move |_, con, st| {
            while st.running() {
                let vals = strs(&q(con, &["MGET", &ka, &kb]));
                st.op();
                if vals.len() != 2 || vals[0].is_none() || vals[0] != vals[1] {
                    st.torn(format!("MGET: {vals:?}"));
                }
            }
        }));
    }
    st.run_for(Duration::from_secs(3));
    join_all(hs);
    st.assert_clean();
    let restarts: u64 = info_field(&mut con, "stats", "tx_restarts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        restarts > 0,
        "no out-of-order refusal in {} operations: the restart path went untested",
        st.ops.load(Ordering::SeqCst)
    );
}

/// One write of a whole pipeline: the server reads it in one batch, so
/// its consecutive multi-key commands fold into one transaction.
fn pipeline_bytes(cmds: &[Vec<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in cmds {
        out.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in c {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    out
}

/// Send `cmds` in one write (so they fold), check every reply in order,
/// and that something was folded.
fn assert_folded_pipeline(
    srv: &Server,
    con: &mut redis::Connection,
    cmds: Vec<(Vec<String>, Resp)>,
) {
    let before = folded(con);
    let mut raw = srv.raw();
    let (sent, want): (Vec<_>, Vec<_>) = cmds.into_iter().unzip();
    raw.send(&pipeline_bytes(&sent));
    for (i, w) in want.iter().enumerate() {
        assert_eq!(&raw.read(), w, "reply {i} to {:?}", sent[i]);
    }
    assert!(folded(con) > before, "no command was folded");
}

/// INFO stats tx_folded; against a reference redis-server (which has no
/// such field) a count that always grows.
fn folded(con: &mut redis::Connection) -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    if server_bin().1 {
        return CALLS.fetch_add(1, Ordering::Relaxed);
    }
    info_field(con, "stats", "tx_folded")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Consecutive multi-key commands of one pipeline run as one transaction
/// (`fanout::fold`); every command still gets its own reply, in order,
/// including the ones that end a fold (a command of another kind, a
/// malformed MSET) and single-shard ones that join a pending fold.
#[test]
fn pipelined_multi_key_commands_fold_and_answer_in_order() {
    let srv = Server::start(NSHARDS);
    let mut con = srv.conn();
    let k = spread_keys("fold:", 2); // k[i] on shard i % 4
    let b = |s: &str| Resp::bulk(s);
    let cmds: Vec<(Vec<String>, Resp)> = vec![
        (
            c!["MSET", k[0], "a", k[1], "a", k[2], "a", k[3], "a"],
            Resp::simple("OK"),
        ),
        (
            c!["MGET", k[0], k[1], k[2], k[3]],
            Resp::Array(vec![b("a"), b("a"), b("a"), b("a")]),
        ),
        (c!["MSET", k[0], "b", k[5], "b"], Resp::simple("OK")),
        (c!["EXISTS", k[0], k[1], "fold:none"], Resp::Int(2)),
        (c!["DEL", k[1], k[2]], Resp::Int(2)),
        (
            c!["MGET", k[0], k[1], k[2], k[3], k[5]],
            Resp::Array(vec![b("b"), Resp::NilBulk, Resp::NilBulk, b("a"), b("b")]),
        ),
        // Even argument count: rejected while a fold is pending.
        (
            c!["MSET", k[0], "x", k[1]],
            Resp::Error("ERR wrong number of arguments for 'mset' command".into()),
        ),
        (c!["GET", k[0]], b("b")),
        (c!["MSET", k[3], "c", k[6], "c"], Resp::simple("OK")),
        (c!["TOUCH", k[3], k[6], k[7]], Resp::Int(2)),
        (c!["UNLINK", k[7], k[6]], Resp::Int(1)),
        // One shard only, joining the pending fold.
        (c!["MSET", "{t}a", "1", "{t}b", "2"], Resp::simple("OK")),
        (
            c!["MGET", "{t}a", "{t}b", k[0], k[6]],
            Resp::Array(vec![b("1"), b("2"), b("b"), Resp::NilBulk]),
        ),
        (c!["INCR", k[0]], Resp::Error(NOT_INT.into())),
        (c!["SELECT", "1"], Resp::simple("OK")),
        (c!["MSET", k[0], "db1", k[1], "db1"], Resp::simple("OK")),
        (
            c!["MGET", k[0], k[1], k[3]],
            Resp::Array(vec![b("db1"), b("db1"), Resp::NilBulk]),
        ),
        (c!["SELECT", "0"], Resp::simple("OK")),
        (c!["MGET", k[0], k[3]], Resp::Array(vec![b("b"), b("c")])),
    ];
    let before = folded(&mut con);
    let mut raw = srv.raw();
    let (sent, want): (Vec<_>, Vec<_>) = cmds.into_iter().unzip();
    raw.send(&pipeline_bytes(&sent));
    for (i, w) in want.iter().enumerate() {
        assert_eq!(&raw.read(), w, "reply {i} to {:?}", sent[i]);
    }
    // Twenty 8-key MSETs in a row: folds end at their key limit and the
    // next one starts; the last write of every key wins, replies in order.
    let keys = spread_keys("fold2:", 2);
    let mset = |v: usize| {
        let mut a = c!["MSET"];
        for k in &keys {
            a.push(k.clone());
            a.push(v.to_string());
        }
        a
    };
    let mut batch: Vec<Vec<String>> = (0..20).map(mset).collect();
    let mut mget = c!["MGET"];
    mget.extend(keys.iter().cloned());
    batch.push(mget);
    raw.send(&pipeline_bytes(&batch));
    for i in 0..20 {
        assert_eq!(raw.read(), Resp::simple("OK"), "MSET {i}");
    }
    assert_eq!(raw.read(), Resp::Array(vec![b("19"); keys.len()]));
    // A test of folding must see folds happen (sent in one write each,
    // they are read in one batch in practice).
    assert!(folded(&mut con) > before, "no command was folded");
}

/// Commands parsed ahead of a transaction that stops the connection (a
/// fold's barrier) are kept and run when it resumes, also when the rest of
/// the pipeline arrives in pieces meanwhile: every reply, in order.
#[test]
fn pipelines_stopped_by_folds_resume_in_order_across_reads() {
    let srv = Server::start(NSHARDS);
    let k = spread_keys("pa:", 2);
    let mut cmds: Vec<(Vec<String>, Resp)> = Vec::new();
    for i in 0..30 {
        let v = i.to_string();
        // 8 keys: a fold takes four of these, then the next one waits.
        let mut m = c!["MSET"];
        for key in &k {
            m.push(key.clone());
            m.push(v.clone());
        }
        cmds.push((m, Resp::simple("OK")));
        cmds.push((c!["GET", k[i % k.len()]], Resp::bulk(&v)));
        if i % 7 == 3 {
            cmds.push((c!["INCR", "pa:n"], Resp::Int(i as i64 / 7 + 1)));
        }
    }
    let (sent, want): (Vec<_>, Vec<_>) = cmds.into_iter().unzip();
    let bytes = pipeline_bytes(&sent);
    for piece in [bytes.len(), 4096, 61] {
        let mut raw = srv.raw();
        assert_eq!(
            q(&mut srv.conn(), &["DEL", "pa:n"]),
            Value::Int(i64::from(piece != bytes.len()))
        );
        for chunk in bytes.chunks(piece) {
            raw.send(chunk);
            if piece < bytes.len() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        for (i, w) in want.iter().enumerate() {
            assert_eq!(
                &raw.read(),
                w,
                "pieces of {piece}: reply {i} to {:?}",
                sent[i]
            );
        }
    }
}

/// Consecutive MGETs (and MSETs) of a pipeline merge into one operation
/// per shard (`fanout::FoldRun`); each command still gets its own reply:
/// repeated keys, missing keys, a key of another type, single-shard
/// commands, and a write between reads seen by the reads after it only.
#[test]
fn pipelined_mgets_merge_and_answer_each() {
    let srv = Server::start(NSHARDS);
    let mut con = srv.conn();
    let k = spread_keys("run:", 2); // k[i] on shard i % 4
    let b = |s: &str| Resp::bulk(s);
    assert!(is_ok(&q(
        &mut con,
        &["MSET", &k[0], "0", &k[1], "1", &k[2], "2"]
    )));
    assert_eq!(q(&mut con, &["RPUSH", &k[3], "x"]), Value::Int(1));
    let cmds: Vec<(Vec<String>, Resp)> = vec![
        (c!["MGET", k[0], k[1]], Resp::Array(vec![b("0"), b("1")])),
        (
            c!["MGET", k[1], k[0], k[0], k[5]],
            Resp::Array(vec![b("1"), b("0"), b("0"), Resp::NilBulk]),
        ),
        (c!["MGET", k[3]], Resp::Array(vec![Resp::NilBulk])),
        (c!["MGET", k[2]], Resp::Array(vec![b("2")])),
        (c!["MSET", k[0], "a", k[2], "a"], Resp::simple("OK")),
        (c!["MSET", k[0], "b", k[1], "b"], Resp::simple("OK")),
        (
            c!["MGET", k[0], k[1], k[2], k[4]],
            Resp::Array(vec![b("b"), b("b"), b("a"), Resp::NilBulk]),
        ),
        (
            c!["MGET", k[4], k[0]],
            Resp::Array(vec![Resp::NilBulk, b("b")]),
        ),
    ];
    assert_folded_pipeline(&srv, &mut con, cmds);
}

/// Consecutive DEL/UNLINK, EXISTS and TOUCH of a pipeline merge per kind
/// (`fanout::FoldRun`, one `CountEach` per shard); each command still
/// counts its own keys: a key named twice (DEL counts it once, EXISTS and
/// TOUCH twice), keys deleted by an earlier DEL of the same run, missing
/// keys, and DEL and UNLINK merged together.
#[test]
fn pipelined_counts_merge_and_answer_each() {
    let srv = Server::start(NSHARDS);
    let mut con = srv.conn();
    let k = spread_keys("cnt:", 2); // k[i] on shard i % 4
    let mut init = c!["MSET"];
    for key in &k {
        init.push(key.clone());
        init.push("v".into());
    }
    assert!(is_ok(&q(&mut con, &init)));
    let cmds: Vec<(Vec<String>, Resp)> = vec![
        (c!["EXISTS", k[0], k[0], k[1], "cnt:none"], Resp::Int(3)),
        (c!["EXISTS", k[2], k[7]], Resp::Int(2)),
        (c!["TOUCH", k[3], k[3], k[4]], Resp::Int(3)),
        (c!["DEL", k[0], k[1], k[0]], Resp::Int(2)),
        (c!["UNLINK", k[0], k[2], k[5]], Resp::Int(2)),
        (c!["DEL", k[1], k[6]], Resp::Int(1)),
        (c!["EXISTS", k[0], k[1], k[2], k[3], k[7]], Resp::Int(2)),
        (c!["DEL", "cnt:none"], Resp::Int(0)),
    ];
    assert_folded_pipeline(&srv, &mut con, cmds);
    assert_eq!(q(&mut con, &["DBSIZE"]), Value::Int(3));
}

/// Pipelines of cross-shard MSETs (folded, several per transaction), of
/// MGETs, and of EXISTS/DEL/UNLINK on the same keys: no MGET ever sees two
/// values (or some keys gone), no count sees some of the keys.
#[test]
fn pipelined_folded_transactions_stay_atomic() {
    let srv = Server::start(NSHARDS);
    let mut con = srv.conn();
    let keys = spread_keys("pf:", 2);
    let mut init = c!["MSET"];
    for k in &keys {
        init.push(k.clone());
        init.push("init".into());
    }
    assert!(is_ok(&q(&mut con, &init)));
    let before = folded(&mut con);
    let st = Stress::new();
    let mut hs = Vec::new();
    for t in 0..4 {
        let keys = keys.clone();
        hs.push(st.spawn(&srv, t, move |t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let mut p = redis::pipe();
                for j in 0..8 {
                    let v = format!("w{t}:{i}:{j}");
                    let mut c = redis::cmd("MSET");
                    // Rotate the key order: lock order must not depend on it.
                    for x in 0..keys.len() {
                        c.arg(&keys[(x + j + t) % keys.len()]).arg(&v);
                    }
                    p.add_command(c);
                }
                let r: Vec<Value> = p.query(con).expect("pipeline");
                assert!(r.iter().all(is_ok), "{r:?}");
                st.op();
                i += 1;
            }
        }));
    }
    for t in 0..3 {
        let keys = keys.clone();
        hs.push(st.spawn(&srv, t, move |_, con, st| {
            while st.running() {
                let mut p = redis::pipe();
                for _ in 0..8 {
                    p.add_command(redis::cmd("MGET").arg(&keys).clone());
                }
                let r: Vec<Value> = p.query(con).expect("pipeline");
                st.op();
                for v in &r {
                    // All equal, or all gone (the deleters below).
                    let vals = strs(v);
                    if vals.len() != keys.len() || vals.iter().any(|x| *x != vals[0]) {
                        st.torn(format!("MGET: {vals:?}"));
                    }
                }
            }
        }));
    }
    // Runs of EXISTS and of DEL merged per kind within a fold
    // (`fanout::FoldRun`): each command still sees every key or none.
    for t in 0..2 {
        let keys = keys.clone();
        hs.push(st.spawn(&srv, t, move |_, con, st| {
            let n = keys.len() as i64;
            while st.running() {
                let mut p = redis::pipe();
                for name in ["EXISTS", "EXISTS", "DEL", "UNLINK", "EXISTS", "EXISTS"] {
                    p.add_command(redis::cmd(name).arg(&keys).clone());
                }
                let r: Vec<Value> = p.query(con).expect("pipeline");
                st.op();
                for (i, v) in r.iter().enumerate() {
                    match v {
                        Value::Int(c) if *c == 0 || *c == n => {}
                        other => st.torn(format!("count {i}: {other:?}")),
                    }
                }
            }
        }));
    }
    st.run_for(Duration::from_secs(3));
    join_all(hs);
    st.assert_clean();
    assert!(folded(&mut con) > before, "no command was folded");
}

// ---------------------------------------------------------------------------
// 2. WATCH

/// One way for another client to change key `k` (which holds "10" with a
/// TTL). `other` is a key on another shard.
type Mutation = fn(&mut redis::Connection, &str, &str);

fn mutations() -> Vec<(&'static str, Mutation)> {
    vec![
        ("SET", |c, k, _| ok(c, &["SET", k, "x"])),
        ("SET same value", |c, k, _| ok(c, &["SET", k, "10"])),
        ("DEL", |c, k, _| assert_eq!(int(c, &["DEL", k]), 1)),
        ("EXPIRE", |c, k, _| {
            assert_eq!(int(c, &["EXPIRE", k, "500"]), 1)
        }),
        ("PEXPIRE", |c, k, _| {
            assert_eq!(int(c, &["PEXPIRE", k, "900000"]), 1)
        }),
        ("PERSIST", |c, k, _| assert_eq!(int(c, &["PERSIST", k]), 1)),
        ("EXPIRE 0", |c, k, _| {
            assert_eq!(int(c, &["EXPIRE", k, "0"]), 1)
        }),
        ("INCR", |c, k, _| assert_eq!(int(c, &["INCR", k]), 11)),
        ("INCRBY 0", |c, k, _| {
            assert_eq!(int(c, &["INCRBY", k, "0"]), 10)
        }),
        ("APPEND", |c, k, _| {
            assert_eq!(int(c, &["APPEND", k, "0"]), 3)
        }),
        ("SETRANGE", |c, k, _| {
            assert_eq!(int(c, &["SETRANGE", k, "1", "5"]), 2)
        }),
        ("GETDEL", |c, k, _| {
            assert_eq!(bulk(c, &["GETDEL", k]).as_deref(), Some("10"))
        }),
        ("GETSET", |c, k, _| {
            assert_eq!(bulk(c, &["GETSET", k, "y"]).as_deref(), Some("10"))
        }),
        ("MSET across shards", |c, k, o| {
            ok(c, &["MSET", o, "1", k, "2"])
        }),
        ("DEL across shards", |c, k, o| {
            assert_eq!(int(c, &["DEL", o, k]), 1)
        }),
        ("RENAME from it", |c, k, o| ok(c, &["RENAME", k, o])),
        ("RENAME onto it", |c, k, o| {
            ok(c, &["SET", o, "z"]);
            ok(c, &["RENAME", o, k]);
        }),
        ("COPY REPLACE onto it", |c, k, o| {
            ok(c, &["SET", o, "z"]);
            assert_eq!(int(c, &["COPY", o, k, "REPLACE"]), 1);
        }),
        ("MULTI/EXEC across shards", |c, k, o| {
            let r = arr(tx(c, &[c!["SET", o, "1"], c!["SET", k, "2"]]));
            assert!(r.iter().all(is_ok), "{r:?}");
        }),
    ]
}

#[test]
fn watch_aborts_exec_when_another_client_changes_the_key() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        let mut b = srv.conn();
        for (name, m) in mutations() {
            for s in 0..NSHARDS {
                let k = key_on(&format!("w:{name}:"), s);
                let o = key_on(&format!("w:{name}:other:"), (s + 1) % NSHARDS);
                ok(&mut a, &["SET", &k, "10", "EX", "1000"]);
                ok(&mut a, &["WATCH", &k]);
                m(&mut b, &k, &o);
                ok(&mut a, &["MULTI"]);
                queued(&mut a, &["SET", &k, "from-exec"]);
                queued(&mut a, &["SET", &o, "from-exec"]);
                let v = q(&mut a, &["EXEC"]);
                assert!(
                    matches!(v, Value::Nil),
                    "threads {threads}, {name} on shard {s}: EXEC should abort, got {v:?}"
                );
                assert_ne!(bulk(&mut a, &["GET", &k]).as_deref(), Some("from-exec"));
                assert_ne!(bulk(&mut a, &["GET", &o]).as_deref(), Some("from-exec"));
            }
        }
    }
}

#[test]
fn watch_aborts_exec_when_the_key_expires() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        for s in 0..NSHARDS {
            let k = key_on("wexp:", s);
            let o = key_on("wexp:o:", (s + 2) % NSHARDS);
            ok(&mut a, &["SET", &k, "v", "PX", "50"]);
            ok(&mut a, &["WATCH", &k]);
            std::thread::sleep(ms(120));
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["SET", &o, "1"]);
            queued(&mut a, &["GET", &k]);
            exec_nil(&mut a);
            assert_eq!(bulk(&mut a, &["GET", &o]), None);
            // ...also when the key was watched together with others and
            // the expired one is only touched by the transaction's reads.
            ok(&mut a, &["SET", &k, "v", "PX", "50"]);
            ok(&mut a, &["WATCH", &o, &k]);
            std::thread::sleep(ms(120));
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["PING"]);
            exec_nil(&mut a);
        }
    }
}

/// Redis 7.0: a key already expired (but not yet deleted) when WATCHed is
/// "stale"; its deletion is no change, but a write to it is.
#[test]
fn watch_of_a_stale_key() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        let mut b = srv.conn();
        ok(&mut a, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        for s in 0..NSHARDS {
            let k = key_on("wstale:", s);
            // read by another client (lazy deletion): EXEC runs
            ok(&mut a, &["SET", &k, "v", "PX", "1"]);
            std::thread::sleep(ms(10));
            ok(&mut a, &["WATCH", &k]);
            assert_eq!(bulk(&mut b, &["GET", &k]), None);
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["PING"]);
            assert_eq!(
                strs(&Value::Array(exec_runs(&mut a))),
                vec![Some("PONG".into())]
            );
            // written by another client: EXEC aborts
            ok(&mut a, &["SET", &k, "v", "PX", "1"]);
            std::thread::sleep(ms(10));
            ok(&mut a, &["WATCH", &k]);
            ok(&mut b, &["SET", &k, "new"]);
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["PING"]);
            exec_nil(&mut a);
        }
        ok(&mut a, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    }
}

#[test]
fn watch_aborts_exec_on_flushdb_flushall_and_swapdb() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        let mut b = srv.conn();
        let keys = spread_keys("wflush:", 1);
        let mut mset = c!["MSET"];
        for k in &keys {
            mset.extend(c![k, "v"]);
        }
        let mut watch = c!["WATCH"];
        watch.extend(keys.iter().cloned());
        let exec_aborts = |a: &mut redis::Connection, what: &str| {
            ok(a, &["MULTI"]);
            queued(a, &["SET", "wflush:marker", what]);
            exec_nil(a);
            assert_eq!(bulk(a, &["GET", "wflush:marker"]), None, "{what}");
        };
        for k in &keys {
            // FLUSHDB by another client, the watched key existing
            ok(&mut a, &["FLUSHALL"]);
            ok(&mut a, &mset);
            ok(&mut a, &["WATCH", k]);
            ok(&mut b, &["FLUSHDB"]);
            exec_aborts(&mut a, "FLUSHDB");
            // FLUSHALL
            ok(&mut a, &mset);
            ok(&mut a, &["WATCH", k]);
            ok(&mut b, &["FLUSHALL"]);
            exec_aborts(&mut a, "FLUSHALL");
            // FLUSHALL, the watched key living in another database
            ok(&mut a, &["SELECT", "3"]);
            ok(&mut a, &mset);
            ok(&mut a, &["WATCH", k]);
            ok(&mut b, &["FLUSHALL"]);
            exec_aborts(&mut a, "FLUSHALL db 3");
            ok(&mut a, &["SELECT", "0"]);
            // SWAPDB: the key exists in db 0 (goes away)...
            ok(&mut a, &mset);
            ok(&mut a, &["WATCH", k]);
            ok(&mut b, &["SWAPDB", "0", "1"]);
            exec_aborts(&mut a, "SWAPDB");
            // ...or only in db 1 (appears)
            ok(&mut a, &["FLUSHALL"]);
            ok(&mut a, &["SELECT", "1"]);
            ok(&mut a, &mset);
            ok(&mut a, &["SELECT", "0"]);
            ok(&mut a, &["WATCH", k]);
            ok(&mut b, &["SWAPDB", "1", "0"]);
            exec_aborts(&mut a, "SWAPDB (appears)");
        }
        // Keys on every shard watched, one database flushed.
        ok(&mut a, &["FLUSHALL"]);
        ok(&mut a, &mset);
        ok(&mut a, &watch);
        ok(&mut b, &["FLUSHDB"]);
        exec_aborts(&mut a, "FLUSHDB, all shards watched");
        // Redis: flushing or swapping databases in which the watched key
        // does not exist changes nothing for it.
        ok(&mut a, &["FLUSHALL"]);
        ok(&mut a, &watch);
        ok(&mut b, &["FLUSHDB"]);
        ok(&mut b, &["SWAPDB", "0", "1"]);
        ok(&mut a, &["MULTI"]);
        queued(&mut a, &["PING"]);
        assert_eq!(exec_runs(&mut a).len(), 1);
    }
}

#[test]
fn watch_of_untouched_keys_lets_exec_run() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        let mut b = srv.conn();
        let keys = spread_keys("wok:", 2);
        let mut mset = c!["MSET"];
        for k in &keys {
            mset.extend(c![k, "1"]);
        }
        ok(&mut a, &mset);
        let mut watch = c!["WATCH"];
        watch.extend(keys.iter().cloned());
        watch.push("wok:missing".into());
        ok(&mut a, &watch);
        // Reads by anyone, writes to other keys and to the same names in
        // another database change nothing.
        let mut mget = c!["MGET"];
        mget.extend(keys.iter().cloned());
        assert_eq!(strs(&q(&mut b, &mget)).len(), keys.len());
        assert_eq!(bulk(&mut b, &["GET", &keys[1]]).as_deref(), Some("1"));
        assert_eq!(int(&mut b, &["EXISTS", &keys[0], &keys[3]]), 2);
        assert_eq!(int(&mut b, &["TTL", &keys[2]]), -1);
        ok(&mut b, &["SET", "wok:unrelated", "x"]);
        ok(
            &mut b,
            &["MSET", "wok:u1", "1", "wok:u2", "2", "wok:u3", "3"],
        );
        ok(&mut b, &["SELECT", "2"]);
        ok(&mut b, &mset);
        assert_eq!(int(&mut b, &["DEL", &keys[0], &keys[5]]), 2);
        ok(&mut b, &["SELECT", "0"]);
        assert_eq!(bulk(&mut a, &["GET", &keys[4]]).as_deref(), Some("1"));
        ok(&mut a, &["MULTI"]);
        for k in &keys {
            queued(&mut a, &["INCR", k]);
        }
        let r = exec_runs(&mut a);
        assert_eq!(
            r.iter().map(int_of).collect::<Vec<_>>(),
            vec![2; keys.len()]
        );
        // A plain EXEC with WATCH on one remote key.
        for k in &keys {
            ok(&mut a, &["WATCH", k]);
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["GET", k]);
            let r = exec_runs(&mut a);
            assert_eq!(bulk_of(&r[0]).as_deref(), Some("2"));
        }
    }
}

#[test]
fn watch_keys_on_several_shards_any_one_changed_aborts() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        let mut b = srv.conn();
        let keys = spread_keys("wmulti:", 2);
        let mut watch = c!["WATCH"];
        watch.extend(keys.iter().cloned());
        for (i, k) in keys.iter().enumerate() {
            ok(&mut a, &["FLUSHALL"]);
            // Watched in one WATCH, or one WATCH per key.
            if i.is_multiple_of(2) {
                ok(&mut a, &watch);
            } else {
                for w in &keys {
                    ok(&mut a, &["WATCH", w]);
                }
            }
            ok(&mut b, &["SET", k, "changed"]);
            ok(&mut a, &["MULTI"]);
            for w in &keys {
                queued(&mut a, &["SET", w, "exec"]);
            }
            exec_nil(&mut a);
            let mut mget = c!["MGET"];
            mget.extend(keys.iter().cloned());
            let got = strs(&q(&mut a, &mget));
            for (j, v) in got.iter().enumerate() {
                let want = (j == i).then(|| "changed".to_string());
                assert_eq!(*v, want, "key {j} after changing key {i}");
            }
        }
    }
}

#[test]
fn unwatch_discard_and_exec_end_the_watch() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        let mut b = srv.conn();
        let keys = spread_keys("wend:", 1);
        let (k, o) = (&keys[0], &keys[3]);
        let run_ok = |a: &mut redis::Connection| {
            ok(a, &["MULTI"]);
            queued(a, &["SET", o, "ran"]);
            queued(a, &["GET", k]);
            let r = exec_runs(a);
            assert!(is_ok(&r[0]), "{r:?}");
            assert_eq!(int(a, &["DEL", o]), 1);
        };
        // UNWATCH
        ok(&mut a, &["WATCH", k, o]);
        ok(&mut b, &["SET", k, "1"]);
        ok(&mut a, &["UNWATCH"]);
        run_ok(&mut a);
        // UNWATCH without WATCH is fine
        ok(&mut a, &["UNWATCH"]);
        // DISCARD
        ok(&mut a, &["WATCH", k]);
        ok(&mut b, &["SET", k, "2"]);
        ok(&mut a, &["MULTI"]);
        queued(&mut a, &["SET", o, "discarded"]);
        ok(&mut a, &["DISCARD"]);
        assert_eq!(bulk(&mut a, &["GET", o]), None);
        run_ok(&mut a);
        // EXEC (run or aborted) ends the watch too
        ok(&mut a, &["WATCH", k]);
        run_ok(&mut a);
        ok(&mut b, &["SET", k, "3"]);
        run_ok(&mut a);
        ok(&mut a, &["WATCH", k]);
        ok(&mut b, &["SET", k, "4"]);
        ok(&mut a, &["MULTI"]);
        queued(&mut a, &["PING"]);
        exec_nil(&mut a);
        ok(&mut b, &["SET", k, "5"]);
        run_ok(&mut a);
        // EXECABORT ends it as well
        ok(&mut a, &["WATCH", k]);
        ok(&mut a, &["MULTI"]);
        assert!(err(&mut a, &["NOSUCHCOMMAND"]).starts_with("ERR unknown command"));
        assert_eq!(err(&mut a, &["EXEC"]), EXECABORT);
        ok(&mut b, &["SET", k, "6"]);
        run_ok(&mut a);
    }
}

#[test]
fn watch_then_own_write_before_multi_aborts() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        for s in 0..NSHARDS {
            let k = key_on("wown:", s);
            let o = key_on("wown:o:", (s + 1) % NSHARDS);
            ok(&mut a, &["SET", &k, "1"]);
            ok(&mut a, &["WATCH", &k, &o]);
            assert_eq!(int(&mut a, &["INCR", &k]), 2);
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["SET", &k, "exec"]);
            exec_nil(&mut a);
            assert_eq!(bulk(&mut a, &["GET", &k]).as_deref(), Some("2"));
            // the same with a cross-shard write of this client
            ok(&mut a, &["WATCH", &k]);
            ok(&mut a, &["MSET", &o, "x", &k, "y"]);
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["SET", &k, "exec"]);
            exec_nil(&mut a);
            // a write inside the transaction itself is no reason to abort
            ok(&mut a, &["WATCH", &k]);
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["SET", &k, "exec"]);
            queued(&mut a, &["SET", &o, "exec"]);
            let r = exec_runs(&mut a);
            assert!(r.iter().all(is_ok), "{r:?}");
        }
    }
}

/// Redis only invalidates a WATCH when a key really changes: writes that
/// change nothing (DEL of a missing key, SET NX on an existing one...) let
/// the EXEC run.
#[test]
fn watch_survives_writes_that_change_nothing() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut a = srv.conn();
        let mut b = srv.conn();
        let cases: &[&[&str]] = &[
            &["DEL", "wnoop:missing"],
            &["UNLINK", "wnoop:missing"],
            &["GETDEL", "wnoop:missing"],
            &["EXPIRE", "wnoop:missing", "10"],
            &["SET", "wnoop:missing", "z", "XX"],
            &["SET", "wnoop:k", "z", "NX"],
            &["SETNX", "wnoop:k", "z"],
            &["PERSIST", "wnoop:k"],
            &["MSETNX", "wnoop:k", "a", "wnoop:missing", "b"],
            &["COPY", "wnoop:missing", "wnoop:k"],
            &["COPY", "wnoop:n", "wnoop:k"],
            &["RENAMENX", "wnoop:n", "wnoop:k"],
        ];
        let mut failed = Vec::new();
        for cmd in cases {
            ok(&mut a, &["FLUSHALL"]);
            ok(&mut a, &["MSET", "wnoop:k", "v", "wnoop:n", "5"]);
            ok(&mut a, &["WATCH", "wnoop:k", "wnoop:missing"]);
            let r = q(&mut b, cmd);
            assert!(err_text(&r).is_none(), "{cmd:?}: {r:?}");
            ok(&mut a, &["MULTI"]);
            queued(&mut a, &["PING"]);
            match q(&mut a, &["EXEC"]) {
                Value::Array(_) => {}
                v => failed.push(format!("{cmd:?} (reply {r:?}) -> EXEC {v:?}")),
            }
        }
        assert!(
            failed.is_empty(),
            "threads {threads}: EXEC aborted after writes that changed nothing:\n{}",
            failed.join("\n")
        );
    }
}

/// Optimistic locking across shards: WATCH x y, read, MULTI, write both,
/// EXEC; retry on nil. No update may be lost.
#[test]
fn watch_check_and_set_across_shards_loses_no_update() {
    let srv = Server::start(NSHARDS);
    let mut con = srv.conn();
    let (x, y) = (key_on("cas:x:", 0), key_on("cas:y:", 3));
    ok(&mut con, &["MSET", &x, "0", &y, "0"]);
    let st = Stress::new();
    let mut hs = Vec::new();
    for t in 0..4 {
        let (x, y) = (x.clone(), y.clone());
        hs.push(st.spawn(&srv, t, move |_t, con, st| {
            let (mut commits, mut retries) = (0i64, 0i64);
            while st.running() {
                ok(con, &["WATCH", &x, &y]);
                let vx: i64 = bulk(con, &["GET", &x]).unwrap().parse().unwrap();
                let vy: i64 = bulk(con, &["GET", &y]).unwrap().parse().unwrap();
                ok(con, &["MULTI"]);
                queued(con, &["SET", &x, &(vx + 1).to_string()]);
                queued(con, &["SET", &y, &(vy + 1).to_string()]);
                match q(con, &["EXEC"]) {
                    Value::Nil => retries += 1,
                    Value::Array(r) => {
                        assert!(r.iter().all(is_ok), "{r:?}");
                        commits += 1;
                        if vx != vy {
                            st.torn(format!("committed after reading x={vx} y={vy}"));
                        }
                    }
                    v => panic!("EXEC: {v:?}"),
                }
                st.op();
            }
            (commits, retries)
        }));
    }
    st.run_for(Duration::from_secs(3));
    let res = join_all(hs);
    let commits: i64 = res.iter().map(|r| r.0).sum();
    let retries: i64 = res.iter().map(|r| r.1).sum();
    eprintln!("CAS: {commits} commits, {retries} aborted by WATCH");
    st.assert_clean();
    assert!(commits > 0);
    assert_eq!(
        strs(&q(&mut con, &["MGET", &x, &y])),
        vec![Some(commits.to_string()), Some(commits.to_string())],
        "lost updates"
    );
}

#[test]
fn exec_aborted_by_watch_is_a_null_array_in_resp2_and_null_in_resp3() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut other = srv.raw();
        for resp3 in [false, true] {
            let mut a = srv.raw();
            if resp3 {
                assert!(matches!(a.call(&["HELLO", "3"]), Resp::Map(_)));
            }
            let keys = spread_keys("wnull:", 1);
            assert_eq!(a.call(&["SET", &keys[0], "v"]), Resp::simple("OK"));
            assert_eq!(a.call(&["WATCH", &keys[0], &keys[2]]), Resp::simple("OK"));
            assert_eq!(other.call(&["SET", &keys[2], "x"]), Resp::simple("OK"));
            assert_eq!(a.call(&["MULTI"]), Resp::simple("OK"));
            assert_eq!(a.call(&["GET", &keys[0]]), Resp::simple("QUEUED"));
            assert_eq!(a.call(&["SET", &keys[1], "y"]), Resp::simple("QUEUED"));
            let want = if resp3 { Resp::Null } else { Resp::NilArray };
            assert_eq!(a.call(&["EXEC"]), want, "resp3 {resp3}");
            // and an EXEC that runs is an array in both
            assert_eq!(a.call(&["MULTI"]), Resp::simple("OK"));
            assert_eq!(a.call(&["GET", &keys[0]]), Resp::simple("QUEUED"));
            assert_eq!(a.call(&["GET", &keys[1]]), Resp::simple("QUEUED"));
            let nil = if resp3 { Resp::Null } else { Resp::NilBulk };
            assert_eq!(a.call(&["EXEC"]), Resp::Array(vec![Resp::bulk("v"), nil]));
            assert_eq!(a.call(&["MULTI"]), Resp::simple("OK"));
            assert_eq!(a.call(&["EXEC"]), Resp::Array(vec![]));
        }
    }
}

// ---------------------------------------------------------------------------
// 3. EXECABORT, errors, MULTI misuse, SELECT, multi-key commands inside MULTI

#[test]
fn queued_command_errors_make_exec_abort() {
    for_each_setup(|_srv, con, _resp3| {
        let keys = spread_keys("abort:", 1);
        // unknown command
        ok(con, &["MULTI"]);
        queued(con, &["SET", &keys[0], "1"]);
        assert_eq!(
            err(con, &["NOSUCHCMD", "x", "y"]),
            "ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' 'y' "
        );
        queued(con, &["SET", &keys[1], "1"]);
        assert_eq!(err(con, &["EXEC"]), EXECABORT);
        assert_eq!(int(con, &["EXISTS", &keys[0], &keys[1]]), 0);
        assert_eq!(err(con, &["EXEC"]), "ERR EXEC without MULTI");
        // wrong arity
        ok(con, &["MULTI"]);
        queued(con, &["SET", &keys[2], "1"]);
        assert_eq!(
            err(con, &["GET"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            err(con, &["MSET", &keys[0]]),
            "ERR wrong number of arguments for 'mset' command"
        );
        queued(con, &["SET", &keys[3], "1"]);
        assert_eq!(err(con, &["EXEC"]), EXECABORT);
        assert_eq!(int(con, &["EXISTS", &keys[2], &keys[3]]), 0);
        // the connection is out of MULTI: commands run at once
        ok(con, &["SET", &keys[0], "after"]);
        assert_eq!(bulk(con, &["GET", &keys[0]]).as_deref(), Some("after"));
        // DISCARD after an error also works
        ok(con, &["MULTI"]);
        assert!(err(con, &["GET"]).starts_with("ERR wrong number"));
        ok(con, &["DISCARD"]);
        assert_eq!(err(con, &["DISCARD"]), "ERR DISCARD without MULTI");
    });
}

#[test]
fn runtime_errors_inside_exec_do_not_stop_the_rest() {
    for_each_setup(|_srv, con, _resp3| {
        let keys = spread_keys("rt:", 2);
        let (s, n, h, other) = (&keys[0], &keys[1], &keys[2], &keys[7]);
        ok(con, &["SET", s, "abc"]);
        assert_eq!(int(con, &["HSET", h, "f", "v"]), 1);
        let r = arr(tx(
            con,
            &[
                c!["SET", n, "5"],
                c!["INCR", s],
                c!["INCR", n],
                c!["HSET", s, "f", "v"],
                c!["GET", h],
                c!["RENAME", "rt:missing", other],
                c!["APPEND", s, "d"],
                c!["GET", n],
            ],
        ));
        assert_eq!(r.len(), 8, "{r:?}");
        assert!(is_ok(&r[0]), "{r:?}");
        assert_eq!(err_text(&r[1]).as_deref(), Some(NOT_INT));
        assert_eq!(int_of(&r[2]), 6);
        assert_eq!(err_text(&r[3]).as_deref(), Some(WRONGTYPE));
        assert_eq!(err_text(&r[4]).as_deref(), Some(WRONGTYPE));
        assert_eq!(err_text(&r[5]).as_deref(), Some("ERR no such key"));
        assert_eq!(int_of(&r[6]), 4);
        assert_eq!(bulk_of(&r[7]).as_deref(), Some("6"));
        assert_eq!(bulk(con, &["GET", s]).as_deref(), Some("abcd"));
    });
}

/// Redis answers every refusal of EXEC itself (wrong arity, NOAUTH, a
/// RESP2 subscriber's EXEC) with EXECABORT and discards the transaction;
/// a refused EXEC used to answer the plain error and keep the doomed
/// transaction for the next EXEC.
#[test]
fn a_refused_exec_aborts_the_transaction_as_redis() {
    let srv = Server::start(2);
    let mut r = srv.raw();
    let keys = spread_keys("refused:", 1);
    assert!(matches!(r.call(&["MULTI"]), Resp::Simple(s) if s == "OK"));
    assert!(matches!(r.call(&["SET", &keys[0], "1"]), Resp::Simple(s) if s == "QUEUED"));
    assert_eq!(
        r.call(&["EXEC", "x"]),
        Resp::Error(
            "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
                .into()
        )
    );
    assert_eq!(
        r.call(&["EXEC"]),
        Resp::Error("ERR EXEC without MULTI".into())
    );
    assert_eq!(r.call(&["EXISTS", &keys[0]]), Resp::Int(0));

    // A RESP2 subscriber may not run EXEC.
    let mut sub = srv.raw();
    assert!(matches!(sub.call(&["SUBSCRIBE", "ch"]), Resp::Array(_)));
    assert_eq!(
        sub.call(&["EXEC"]),
        Resp::Error(
            "EXECABORT Transaction discarded because of: Can't execute 'exec': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                .into()
        )
    );

    let auth = Server::start_with(2, &["--requirepass", "pw"]);
    let mut a = auth.raw();
    assert_eq!(
        a.call(&["EXEC"]),
        Resp::Error(
            "EXECABORT Transaction discarded because of: NOAUTH Authentication required.".into()
        )
    );
    // Other commands keep their plain errors.
    assert_eq!(
        a.call(&["GET", "k"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        r.call(&["GET"]),
        Resp::Error("ERR wrong number of arguments for 'get' command".into())
    );
}

#[test]
fn multi_exec_discard_watch_misuse() {
    for_each_setup(|_srv, con, _resp3| {
        let keys = spread_keys("misuse:", 1);
        assert_eq!(err(con, &["EXEC"]), "ERR EXEC without MULTI");
        assert_eq!(err(con, &["DISCARD"]), "ERR DISCARD without MULTI");
        ok(con, &["MULTI"]);
        queued(con, &["SET", &keys[0], "1"]);
        // Neither error dooms the transaction (Redis 7.0).
        assert_eq!(err(con, &["MULTI"]), "ERR MULTI calls can not be nested");
        assert_eq!(
            err(con, &["WATCH", &keys[1]]),
            "ERR WATCH inside MULTI is not allowed"
        );
        queued(con, &["SET", &keys[1], "2"]);
        let r = exec_runs(con);
        assert!(r.len() == 2 && r.iter().all(is_ok), "{r:?}");
        assert_eq!(
            strs(&q(con, &["MGET", &keys[0], &keys[1]])),
            vec![Some("1".into()), Some("2".into())]
        );
        // The WATCH inside MULTI was not registered.
        ok(con, &["MULTI"]);
        assert!(err(con, &["WATCH", &keys[2]]).starts_with("ERR WATCH inside MULTI"));
        ok(con, &["DISCARD"]);
        ok(con, &["SET", &keys[2], "changed"]);
        ok(con, &["MULTI"]);
        queued(con, &["GET", &keys[2]]);
        let r = exec_runs(con);
        assert_eq!(bulk_of(&r[0]).as_deref(), Some("changed"));
    });
}

#[test]
fn select_inside_multi_applies_to_later_commands() {
    for_each_setup(|_srv, con, _resp3| {
        let keys = spread_keys("sel:", 1);
        let (k, o) = (&keys[0], &keys[2]);
        let r = arr(tx(
            con,
            &[
                c!["SET", k, "db0"],
                c!["SELECT", 1],
                c!["SET", k, "db1"],
                c!["MSET", o, "db1", keys[1], "db1", keys[3], "db1"],
                c!["GET", k],
                c!["SELECT", 99],
                c!["GET", k],
                c!["SELECT", 2],
                c!["MGET", k, o],
            ],
        ));
        assert_eq!(r.len(), 9, "{r:?}");
        for i in [0, 1, 2, 3, 7] {
            assert!(is_ok(&r[i]), "reply {i}: {r:?}");
        }
        assert_eq!(bulk_of(&r[4]).as_deref(), Some("db1"));
        assert_eq!(
            err_text(&r[5]).as_deref(),
            Some("ERR DB index is out of range")
        );
        assert_eq!(bulk_of(&r[6]).as_deref(), Some("db1"));
        assert_eq!(strs(&r[8]), vec![None, None]);
        // The connection stays in the database selected last.
        assert_eq!(bulk(con, &["GET", k]), None);
        ok(con, &["SELECT", "1"]);
        assert_eq!(bulk(con, &["GET", k]).as_deref(), Some("db1"));
        assert_eq!(int(con, &["DBSIZE"]), 4);
        ok(con, &["SELECT", "0"]);
        assert_eq!(bulk(con, &["GET", k]).as_deref(), Some("db0"));
        assert_eq!(int(con, &["DBSIZE"]), 1);
    });
}

#[test]
fn cross_shard_multi_key_commands_inside_multi() {
    for_each_setup(|_srv, con, _resp3| {
        let keys = spread_keys("mk:", 2);
        let kr = key_on("mk:renamed:", (shard_of(&keys[0], NSHARDS) + 1) % NSHARDS);
        let kc = key_on("mk:copied:", (shard_of(&kr, NSHARDS) + 2) % NSHARDS);
        let mut mset = c!["MSET"];
        for (i, k) in keys.iter().enumerate() {
            mset.extend(c![k, i]);
        }
        let mut mget = c!["MGET"];
        mget.extend(keys.iter().cloned());
        let mut del = c!["DEL"];
        del.extend(keys.iter().cloned());
        del.extend(c![kr, kc, "mk:solo"]);
        let r = arr(tx(
            con,
            &[
                mset,
                mget.clone(),
                c!["SET", "mk:solo", "x"],
                c!["RENAME", keys[0], kr],
                c!["EXISTS", keys[0], kr, keys[1]],
                c!["GET", kr],
                c!["COPY", kr, kc],
                c!["MSETNX", keys[1], "z", "mk:new", "z"],
                c!["MGET", kc, "mk:new", keys[7]],
                c!["DBSIZE"],
                del,
                c!["DBSIZE"],
                mget,
            ],
        ));
        assert_eq!(r.len(), 13, "{r:?}");
        assert!(is_ok(&r[0]), "{r:?}");
        let want: Vec<Option<String>> = (0..keys.len()).map(|i| Some(i.to_string())).collect();
        assert_eq!(strs(&r[1]), want);
        assert!(is_ok(&r[2]) && is_ok(&r[3]), "{r:?}");
        assert_eq!(int_of(&r[4]), 2);
        assert_eq!(bulk_of(&r[5]).as_deref(), Some("0"));
        assert_eq!(int_of(&r[6]), 1);
        assert_eq!(int_of(&r[7]), 0);
        assert_eq!(strs(&r[8]), vec![Some("0".into()), None, Some("7".into())]);
        assert_eq!(int_of(&r[9]), 10);
        assert_eq!(int_of(&r[10]), 10);
        assert_eq!(int_of(&r[11]), 0);
        assert_eq!(strs(&r[12]), vec![None; keys.len()]);
        // And the effects are visible afterwards.
        let r = arr(tx(
            con,
            &[
                c!["MSET", keys[0], "a", keys[5], "b"],
                c!["RENAME", keys[0], kr],
                c!["COPY", keys[5], kc],
            ],
        ));
        assert_eq!(r.len(), 3);
        assert_eq!(
            strs(&q(con, &["MGET", &keys[0], &kr, &keys[5], &kc])),
            vec![None, Some("a".into()), Some("b".into()), Some("b".into())]
        );
    });
}

#[test]
fn empty_multi_exec_returns_an_empty_array() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["MULTI"]);
        assert_eq!(exec_runs(con), Vec::<Value>::new());
        // also with a WATCH of untouched keys on several shards
        let keys = spread_keys("empty:", 1);
        let mut watch = c!["WATCH"];
        watch.extend(keys.iter().cloned());
        ok(con, &watch);
        ok(con, &["MULTI"]);
        assert_eq!(exec_runs(con), Vec::<Value>::new());
        // ...and a nil one when a watched key changed
        ok(con, &watch);
        ok(con, &["SET", &keys[3], "x"]);
        ok(con, &["MULTI"]);
        exec_nil(con);
    });
}

// ---------------------------------------------------------------------------
// 4. Clients that disconnect in the middle of a transaction

#[test]
fn client_disconnecting_inside_multi_has_no_effect() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut check = srv.conn();
        let keys = spread_keys("gone:", 1);
        // redis crate connection dropped after queuing
        {
            let mut a = srv.conn();
            let watch: Vec<&str> = ["WATCH"]
                .into_iter()
                .chain(keys.iter().map(|s| s.as_str()))
                .collect();
            ok(&mut a, &watch);
            ok(&mut a, &["MULTI"]);
            for k in &keys {
                queued(&mut a, &["SET", k, "queued"]);
            }
            queued(&mut a, &["MSET", &keys[0], "m", &keys[3], "m"]);
        }
        // raw client: MULTI ... without EXEC, then close
        for i in 0..20 {
            let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
            let mut req = encode_strs(&["MULTI"]);
            for k in &keys {
                req.extend(encode_strs(&["SET", k, &i.to_string()]));
            }
            req.extend(encode_strs(&["DEL", &keys[1], &keys[2]]));
            s.write_all(&req).unwrap();
        }
        std::thread::sleep(ms(200));
        let mut mget = c!["MGET"];
        mget.extend(keys.iter().cloned());
        assert_eq!(strs(&q(&mut check, &mget)), vec![None; keys.len()]);
        assert_eq!(int(&mut check, &["DBSIZE"]), 0);
        // and the keys are free
        let mut mset = c!["MSET"];
        for k in &keys {
            mset.extend(c![k, "fine"]);
        }
        ok(&mut check, &mset);
        let r = arr(tx(&mut check, &[c!["GET", keys[0]], c!["GET", keys[3]]]));
        assert_eq!(strs(&Value::Array(r)), vec![Some("fine".into()); 2]);
    }
}

/// Write MULTI, the commands and EXEC on a fresh socket and close it
/// without reading anything.
fn fire_and_close(port: u16, cmds: &[Vec<String>]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).ok();
    let mut req = encode_strs(&["MULTI"]);
    for cm in cmds {
        let a: Vec<&str> = cm.iter().map(|x| x.as_str()).collect();
        req.extend(encode_strs(&a));
    }
    req.extend(encode_strs(&["EXEC"]));
    s.write_all(&req).unwrap();
}

#[track_caller]
fn raw_ok(r: &mut Raw, args: &[&str]) {
    assert_eq!(r.call(args), Resp::simple("OK"), "{args:?}");
}

#[test]
fn exec_then_immediate_close_leaves_no_locks_behind() {
    let srv = Server::start(NSHARDS);
    let mut check = srv.raw();
    // A lock left behind would park these commands forever.
    check.set_timeout(Duration::from_secs(2));
    for i in 0..200 {
        let s0 = i % NSHARDS;
        let (a, b, c) = (
            key_on(&format!("lk{i}:a:"), s0),
            key_on(&format!("lk{i}:b:"), (s0 + 1) % NSHARDS),
            key_on(&format!("lk{i}:c:"), (s0 + 2) % NSHARDS),
        );
        let v = i.to_string();
        let cmds = match i % 4 {
            0 => vec![c!["SET", a, v], c!["SET", b, v], c!["SET", c, v]],
            1 => vec![c!["MSET", a, v, b, v, c, v]],
            2 => vec![c!["SET", a, v], c!["MSET", b, v, c, v], c!["GET", a]],
            _ => vec![c!["INCR", "lk:counter"], c!["MSET", c, v, a, v, b, v]],
        };
        fire_and_close(srv.port, &cmds);
        // Whatever happened to that transaction, it is all or nothing...
        let got = check.call(&["MGET", &a, &b, &c]);
        let Resp::Array(vals) = &got else {
            panic!("MGET: {got:?}")
        };
        assert!(
            vals.iter().all(|x| *x == vals[0]),
            "iteration {i}: torn transaction {got:?}"
        );
        // ...and every key is free at once, on its own and across shards.
        // (The closed client's EXEC may still land in between: then its
        // value shows, for all three keys at once.)
        let theirs = Resp::bulk(&v);
        for k in [&a, &b, &c] {
            raw_ok(&mut check, &["SET", k, "mine"]);
            let got = check.call(&["GET", k]);
            assert!(got == Resp::bulk("mine") || got == theirs, "{got:?}");
        }
        raw_ok(&mut check, &["MSET", &a, "m", &b, "m", &c, "m"]);
        let got = check.call(&["MGET", &c, &b, &a]);
        assert!(
            got == Resp::Array(vec![Resp::bulk("m"); 3])
                || got == Resp::Array(vec![theirs.clone(); 3]),
            "iteration {i}: {got:?}"
        );
        assert_eq!(check.call(&["MULTI"]), Resp::simple("OK"));
        assert_eq!(check.call(&["DEL", &a]), Resp::simple("QUEUED"));
        assert_eq!(check.call(&["DEL", &b, &c]), Resp::simple("QUEUED"));
        assert_eq!(
            check.call(&["EXEC"]),
            Resp::Array(vec![Resp::Int(1), Resp::Int(2)])
        );
    }
    assert_eq!(check.call(&["PING"]), Resp::simple("PONG"));
}

/// Redis runs every command it has received, also when the client closes
/// right after sending them: a fully sent EXEC is applied, entirely.
#[test]
fn exec_received_before_the_client_closes_is_applied() {
    let srv = Server::start(NSHARDS);
    let mut check = srv.conn();
    let n = 200;
    let mut keys = Vec::new();
    for i in 0..n {
        let s0 = i % NSHARDS;
        let ks: Vec<String> = (0..NSHARDS)
            .map(|j| key_on(&format!("ap{i}:{j}:"), (s0 + j) % NSHARDS))
            .collect();
        let cmds: Vec<Vec<String>> = ks.iter().map(|k| c!["SET", k, i]).collect();
        fire_and_close(srv.port, &cmds);
        keys.push(ks);
    }
    // Give the server time to run them all.
    let deadline = Instant::now() + Duration::from_secs(3);
    let (mut applied, mut missing, mut torn) = (0, Vec::new(), Vec::new());
    for (i, ks) in keys.iter().enumerate() {
        let mut mget = c!["MGET"];
        mget.extend(ks.iter().cloned());
        let got = loop {
            let got = strs(&q(&mut check, &mget));
            if got.iter().all(|v| v.is_some()) || Instant::now() >= deadline {
                break got;
            }
            std::thread::sleep(ms(10));
        };
        if got
            .iter()
            .all(|v| v.as_deref() == Some(i.to_string().as_str()))
        {
            applied += 1;
        } else if got.iter().all(|v| v.is_none()) {
            missing.push(i);
        } else {
            torn.push(format!("{i}: {got:?}"));
        }
    }
    assert!(torn.is_empty(), "torn transactions: {torn:?}");
    assert!(
        missing.is_empty(),
        "{} of {n} EXECs sent in full before close were dropped ({applied} applied), e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

#[derive(Debug, PartialEq)]
enum Renamed {
    Applied,
    NotApplied,
    /// Neither the source nor the destination exists.
    Lost,
}

/// Number of clients connected, from INFO clients.
fn connected_clients(con: &mut redis::Connection) -> usize {
    let info = as_str(&q(con, &["INFO", "clients"]));
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients in INFO clients")
}

/// Iteration `i`: SET src, then on a fresh socket send a cross-shard
/// RENAME src dst (plain, or inside MULTI/EXEC), wait `delay`, close without
/// reading. Once the server has dropped that client and a little more, what
/// became of the value?
fn rename_then_close(
    srv: &Server,
    check: &mut redis::Connection,
    i: usize,
    delay: Duration,
) -> Renamed {
    let s0 = i % NSHARDS;
    let src = key_on(&format!("rn{i}:src:"), s0);
    let dst = key_on(&format!("rn{i}:dst:"), (s0 + 1 + i / NSHARDS % 3) % NSHARDS);
    assert_ne!(shard_of(&src, NSHARDS), shard_of(&dst, NSHARDS));
    ok(check, &["SET", &src, "payload"]);
    let before = connected_clients(check);
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_nodelay(true).ok();
    let req = if i.is_multiple_of(2) {
        encode_strs(&["RENAME", &src, &dst])
    } else {
        let mut r = encode_strs(&["MULTI"]);
        r.extend(encode_strs(&["RENAME", &src, &dst]));
        r.extend(encode_strs(&["EXEC"]));
        r
    };
    s.write_all(&req).unwrap();
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(2);
    while connected_clients(check) > before && Instant::now() < deadline {
        std::thread::sleep(ms(1));
    }
    // Anything still in flight for that client settles within this.
    let deadline = Instant::now() + ms(50);
    loop {
        let got = strs(&q(check, &["MGET", &src, &dst]));
        match (&got[0], &got[1]) {
            (None, Some(v)) => {
                assert_eq!(v, "payload");
                return Renamed::Applied;
            }
            (Some(_), Some(_)) => panic!("iteration {i}: both keys exist: {got:?}"),
            (Some(v), None) if Instant::now() >= deadline => {
                assert_eq!(v, "payload");
                return Renamed::NotApplied;
            }
            (None, None) if Instant::now() >= deadline => return Renamed::Lost,
            _ => std::thread::sleep(ms(2)),
        }
    }
}

/// A cross-shard RENAME moves the value in two phases (take, then put): a
/// client that closes while it runs must never make the value vanish. The
/// close comes at various delays to hit the window between the phases.
#[test]
fn cross_shard_rename_by_a_client_that_closes_never_loses_the_value() {
    let srv = Server::start(NSHARDS);
    let mut check = srv.conn();
    let delays_us = [0u64, 0, 20, 50, 100, 200, 400, 1000];
    let (mut lost, mut applied, mut not_applied) = (Vec::new(), 0, 0);
    for i in 0..160 {
        let d = Duration::from_micros(delays_us[(i / 2) % delays_us.len()]);
        match rename_then_close(&srv, &mut check, i, d) {
            Renamed::Applied => applied += 1,
            Renamed::NotApplied => not_applied += 1,
            Renamed::Lost => lost.push((i, d)),
        }
        if lost.len() >= 3 {
            break;
        }
    }
    eprintln!(
        "RENAME then close: {applied} applied, {not_applied} not applied, {} lost",
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "the value vanished (neither source nor destination exists) after a \
         cross-shard RENAME whose client closed: (iteration, delay before close) \
         {lost:?} ({applied} applied, {not_applied} not applied)"
    );
}

/// Redis runs a command it has received in full even if the client closes
/// right after: the RENAME is applied.
#[test]
fn cross_shard_rename_received_before_the_client_closes_is_applied() {
    let srv = Server::start(NSHARDS);
    let mut check = srv.conn();
    let mut outcomes = Vec::new();
    for i in 0..40 {
        outcomes.push(rename_then_close(
            &srv,
            &mut check,
            1000 + i,
            Duration::ZERO,
        ));
    }
    let applied = outcomes.iter().filter(|o| **o == Renamed::Applied).count();
    assert_eq!(
        applied,
        outcomes.len(),
        "RENAME (even: plain, odd: in MULTI/EXEC) sent in full, then close: {outcomes:?}"
    );
}

// ---------------------------------------------------------------------------
// 5. Atomic multi-key commands across shards, seen from transactions

#[test]
fn cross_shard_rename_is_atomic_for_readers() {
    let srv = Server::start(NSHARDS);
    let mut con = srv.conn();
    let pairs: Vec<(String, String)> = (0..2)
        .map(|p| {
            (
                key_on(&format!("ra{p}:a:"), p),
                key_on(&format!("ra{p}:b:"), p + 2),
            )
        })
        .collect();
    for (a, _) in &pairs {
        ok(&mut con, &["SET", a, "payload"]);
    }
    let st = Stress::new();
    let mut hs = Vec::new();
    for (p, (a, b)) in pairs.iter().enumerate() {
        // the renamer: a -> b -> a ...
        let (ka, kb) = (a.clone(), b.clone());
        hs.push(st.spawn(&srv, p, move |_t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let (from, to) = if i.is_multiple_of(2) {
                    (&ka, &kb)
                } else {
                    (&kb, &ka)
                };
                if i.is_multiple_of(3) {
                    let r = arr(tx(con, &[c!["RENAME", from, to]]));
                    assert!(is_ok(&r[0]), "{r:?}");
                } else {
                    ok(con, &["RENAME", from, to]);
                }
                st.op();
                i += 1;
            }
        }));
        // readers: MULTI/EXISTS/EXISTS/GET/GET/EXEC, MGET, EXISTS a b
        for t in 0..2 {
            let (ka, kb) = (a.clone(), b.clone());
            hs.push(st.spawn(&srv, t, move |t, con, st| {
                let mut i = 0u64;
                while st.running() {
                    if (i + t as u64).is_multiple_of(2) {
                        let r = arr(tx(
                            con,
                            &[
                                c!["EXISTS", ka],
                                c!["EXISTS", kb],
                                c!["GET", ka],
                                c!["GET", kb],
                            ],
                        ));
                        let n = int_of(&r[0]) + int_of(&r[1]);
                        let (va, vb) = (bulk_of(&r[2]), bulk_of(&r[3]));
                        let one = [va.as_deref(), vb.as_deref()]
                            .iter()
                            .filter(|v| **v == Some("payload"))
                            .count();
                        if n != 1 || one != 1 || (va.is_some() && vb.is_some()) {
                            st.torn(format!("MULTI: exists {n}, a={va:?} b={vb:?}"));
                        }
                    } else if i.is_multiple_of(3) {
                        let n = int(con, &["EXISTS", &ka, &kb]);
                        if n != 1 {
                            st.torn(format!("EXISTS a b = {n}"));
                        }
                    } else {
                        let got = strs(&q(con, &["MGET", &ka, &kb]));
                        if got.iter().filter(|v| v.is_some()).count() != 1 {
                            st.torn(format!("MGET: {got:?}"));
                        }
                    }
                    st.op();
                    i += 1;
                }
            }));
        }
    }
    st.run_for(Duration::from_secs(3));
    join_all(hs);
    eprintln!("RENAME: {} operations", st.ops.load(Ordering::SeqCst));
    st.assert_clean();
    for (a, b) in &pairs {
        let got = strs(&q(&mut con, &["MGET", a, b]));
        assert_eq!(got.iter().filter(|v| v.is_some()).count(), 1, "{got:?}");
    }
}

/// COPY a b REPLACE reads a and writes b as one step: interleaved with
/// transactions that set a and b to the same value, a == b always holds.
#[test]
fn cross_shard_copy_is_atomic_against_transactions() {
    let srv = Server::start(NSHARDS);
    let mut con = srv.conn();
    let (a, b) = (key_on("cp:a:", 1), key_on("cp:b:", 2));
    ok(&mut con, &["MSET", &a, "0", &b, "0"]);
    let st = Stress::new();
    let mut hs = Vec::new();
    for t in 0..2 {
        // setters: MULTI SET a v SET b v EXEC (in both key orders)
        let (ka, kb) = (a.clone(), b.clone());
        hs.push(st.spawn(&srv, t, move |t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let v = format!("t{t}:{i}");
                let cmds = if i.is_multiple_of(2) {
                    vec![c!["SET", ka, v], c!["SET", kb, v]]
                } else {
                    vec![c!["SET", kb, v], c!["SET", ka, v]]
                };
                let r = arr(tx(con, &cmds));
                assert!(r.iter().all(is_ok), "{r:?}");
                st.op();
                i += 1;
            }
        }));
    }
    // copier: COPY a b REPLACE (plain and inside MULTI), and back
    {
        let (ka, kb) = (a.clone(), b.clone());
        hs.push(st.spawn(&srv, 0, move |_t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let (from, to) = if i.is_multiple_of(2) {
                    (&ka, &kb)
                } else {
                    (&kb, &ka)
                };
                let n = if i.is_multiple_of(3) {
                    int_of(&arr(tx(con, &[c!["COPY", from, to, "REPLACE"]]))[0])
                } else {
                    int(con, &["COPY", from, to, "REPLACE"])
                };
                assert_eq!(n, 1);
                st.op();
                i += 1;
            }
        }));
    }
    for t in 0..2 {
        let (ka, kb) = (a.clone(), b.clone());
        hs.push(st.spawn(&srv, t, move |t, con, st| {
            let mut i = 0u64;
            while st.running() {
                let got = if (i + t as u64).is_multiple_of(2) {
                    strs(&tx(con, &[c!["GET", ka], c!["GET", kb]]))
                } else {
                    strs(&q(con, &["MGET", &ka, &kb]))
                };
                if got[0].is_none() || got[0] != got[1] {
                    st.torn(format!("a, b = {got:?}"));
                }
                st.op();
                i += 1;
            }
        }));
    }
    st.run_for(Duration::from_secs(3));
    join_all(hs);
    eprintln!("COPY: {} operations", st.ops.load(Ordering::SeqCst));
    st.assert_clean();
    let got = strs(&q(&mut con, &["MGET", &a, &b]));
    assert_eq!(got[0], got[1]);
}

/// Pipelined transactions on every shard, interleaved with plain commands
/// on the same keys: each reply comes back in request order and each
/// command sees the effects of every earlier one of its connection, also
/// when a transaction's shard is another reactor's and its reply has not
/// come back yet when the next command runs.
#[test]
fn pipelined_transactions_on_other_shards_keep_the_connection_order() {
    for_each_setup(|_srv, con, _resp3| {
        let keys: Vec<String> = (0..NSHARDS).map(|s| key_on("pipe:tx:", s)).collect();
        let rounds = 25;
        let mut p = redis::pipe();
        for _ in 0..rounds {
            for k in &keys {
                p.cmd("MULTI")
                    .cmd("INCR")
                    .arg(k)
                    .cmd("INCR")
                    .arg(k)
                    .cmd("EXEC")
                    .cmd("INCR")
                    .arg(k)
                    .cmd("GET")
                    .arg(k);
            }
        }
        let replies: Vec<Value> = p.query(con).expect("pipeline");
        assert_eq!(replies.len(), rounds * NSHARDS * 6);
        let mut it = replies.chunks(6);
        for round in 0..rounds as i64 {
            for k in &keys {
                let r = it.next().unwrap();
                let base = round * 3;
                assert!(is_ok(&r[0]), "{k} round {round}: {r:?}");
                assert_eq!(as_str(&r[1]), "QUEUED");
                assert_eq!(as_str(&r[2]), "QUEUED");
                let exec = arr(r[3].clone());
                assert_eq!(
                    exec.iter().map(int_of).collect::<Vec<_>>(),
                    vec![base + 1, base + 2],
                    "{k} round {round}"
                );
                assert_eq!(int_of(&r[4]), base + 3);
                assert_eq!(bulk_of(&r[5]), Some((base + 3).to_string()));
            }
        }
    });
}

/// min-replicas-to-write with a lag bound refuses writes when too few good
/// replicas are connected: halocline has none, Redis 7.0 on its own has
/// none either. Reads go on; EXEC of a transaction with a write aborts.
#[test]
fn min_replicas_to_write_refuses_writes_and_exec_with_writes() {
    const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
    for_each_setup(|srv, con, _resp3| {
        let mut admin = srv.conn();
        ok(con, &["SET", "mr:x", "1"]);
        q(con, &["MULTI"]);
        queued(con, &["INCR", "mr:x"]);
        queued(con, &["GET", "mr:x"]);
        ok(&mut admin, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
        assert_eq!(
            err(con, &["EXEC"]),
            format!("EXECABORT Transaction discarded because of: {NOREPLICAS}")
        );
        assert_eq!(bulk(con, &["GET", "mr:x"]).as_deref(), Some("1"));
        assert_eq!(err(con, &["SET", "mr:x", "2"]), NOREPLICAS);
        assert_eq!(err(con, &["DEL", "mr:x"]), NOREPLICAS);
        // A read-only transaction runs; a write queued inside MULTI dooms it.
        q(con, &["MULTI"]);
        queued(con, &["GET", "mr:x"]);
        assert_eq!(strs(&q(con, &["EXEC"])), vec![Some("1".to_string())]);
        q(con, &["MULTI"]);
        assert_eq!(err(con, &["INCR", "mr:x"]), NOREPLICAS);
        assert_eq!(err(con, &["EXEC"]), EXECABORT);
        // No lag bound, no guard; to-write 0, no guard.
        ok(&mut admin, &["CONFIG", "SET", "min-replicas-max-lag", "0"]);
        ok(con, &["SET", "mr:x", "3"]);
        ok(&mut admin, &["CONFIG", "SET", "min-replicas-max-lag", "10"]);
        assert_eq!(err(con, &["SET", "mr:x", "4"]), NOREPLICAS);
        ok(&mut admin, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
        ok(con, &["SET", "mr:x", "5"]);
        assert_eq!(bulk(con, &["GET", "mr:x"]).as_deref(), Some("5"));
    });
}

/// Pipelined cross-shard MSETs followed by reads of their keys, WATCH,
/// EXEC and whole-keyspace commands on the same connection: every later
/// command sees every earlier write, and a key written before WATCH does
/// not abort the EXEC after it. Several connections, so that they land on
/// different reactors. A multi-shard transaction is a barrier for its
/// connection today; this pins down what any relaxation of that must keep
/// (letting keyed commands through while DBSIZE ran at once failed it).
#[test]
fn pipelined_cross_shard_msets_are_seen_by_every_later_command() {
    for_each_setup(|srv, _con, _resp3| {
        let pairs = [(0, 1), (0, 3), (1, 2), (2, 3)];
        for n in 0..8 {
            let mut con = srv.conn();
            ok(&mut con, &["FLUSHALL"]);
            let (sa, sb) = pairs[n % pairs.len()];
            let a = key_on(&format!("soft:{n}:a"), sa);
            let b = key_on(&format!("soft:{n}:b"), sb);
            let rounds = 20;
            ok(&mut con, &["SET", &a, "x"]);
            ok(&mut con, &["SET", &b, "x"]);
            let mut p = redis::pipe();
            // Each kind of later command right behind its MSET.
            for i in 0..rounds {
                let (ka, kb) = (format!("{a}{i}"), format!("{b}{i}"));
                let (ka, kb) = (key_on(&ka, sa), key_on(&kb, sb));
                p.cmd("MSET").arg(&ka).arg(i).arg(&kb).arg(i);
                p.cmd("DBSIZE");
                p.cmd("MSET").arg(&a).arg(i).arg(&b).arg(i);
                p.cmd("WATCH").arg(&a).arg(&b);
                p.cmd("MULTI");
                p.cmd("GET").arg(&b);
                p.cmd("EXEC");
                p.cmd("MSET").arg(&a).arg(i + 1).arg(&b).arg(i + 1);
                p.cmd("GET").arg(&a);
                p.cmd("MSET").arg(&a).arg(i).arg(&b).arg(i);
                p.cmd("MGET").arg(&a).arg(&b);
            }
            let r: Vec<Value> = p.query(&mut con).expect("pipeline");
            assert_eq!(r.len(), rounds * 11);
            for (i, c) in r.chunks(11).enumerate() {
                let v = Some(i.to_string());
                assert!(is_ok(&c[0]) && is_ok(&c[2]), "{c:?}");
                // a and b, plus both keys of every round so far.
                assert_eq!(int_of(&c[1]), 2 + 2 * (i as i64 + 1), "round {i}: DBSIZE");
                assert!(is_ok(&c[3]) && is_ok(&c[4]), "{c:?}");
                assert_eq!(
                    arr(c[6].clone()).first().and_then(bulk_of),
                    v,
                    "round {i}: EXEC {:?}",
                    c[6]
                );
                assert_eq!(bulk_of(&c[8]), Some((i + 1).to_string()), "round {i}: GET");
                assert_eq!(strs(&c[10]), vec![v.clone(), v.clone()], "round {i}: MGET");
            }
        }
    });
}

/// Whole-keyspace commands see a multi-shard command entirely or not at
/// all: writers add and remove sets of keys, one on each shard (MSET, then
/// DEL, each atomic), so DBSIZE and KEYS must always count a multiple of
/// the set, and a FLUSHALL running meanwhile must remove a set whole: the
/// writer's DEL then finds all of it or none. Fanned out without locks,
/// DBSIZE saw odd counts in ~40% of its calls (one shard counted after the
/// MSET, the other before).
#[test]
fn whole_keyspace_commands_never_see_half_a_transaction() {
    let srv = Server::start(NSHARDS);
    let st = Stress::new();
    let mut hs = Vec::new();
    for t in 0..4 {
        hs.push(st.spawn(&srv, t, move |t, con, st| {
            let set = spread_keys(&format!("wk{t}:"), 1);
            while st.running() {
                let mut mset = redis::cmd("MSET");
                for k in &set {
                    mset.arg(k).arg("v");
                }
                let r: Value = mset.query(con).expect("MSET");
                assert!(is_ok(&r), "{r:?}");
                let n: i64 = redis::cmd("DEL").arg(&set).query(con).expect("DEL");
                if n != 0 && n as usize != set.len() {
                    st.torn(format!("DEL found {n} of {} keys", set.len()));
                }
                st.op();
            }
        }));
    }
    for t in 0..5 {
        hs.push(st.spawn(&srv, t, move |t, con, st| {
            while st.running() {
                let (what, n) = match t {
                    3 => {
                        // The same inside MULTI/EXEC.
                        let (n, ks): (i64, Vec<String>) = redis::pipe()
                            .atomic()
                            .cmd("DBSIZE")
                            .cmd("KEYS")
                            .arg("wk*")
                            .query(con)
                            .expect("EXEC");
                        if ks.len() as i64 % NSHARDS as i64 != 0 {
                            st.torn(format!("KEYS in EXEC counted {}", ks.len()));
                        }
                        ("DBSIZE in EXEC", n)
                    }
                    4 => {
                        let _: Value = redis::pipe()
                            .atomic()
                            .cmd("FLUSHALL")
                            .query(con)
                            .expect("EXEC");
                        std::thread::sleep(Duration::from_millis(1));
                        ("FLUSHALL in EXEC", 0)
                    }
                    0 => ("DBSIZE", redis::cmd("DBSIZE").query(con).expect("DBSIZE")),
                    1 => {
                        let ks: Vec<String> =
                            redis::cmd("KEYS").arg("wk*").query(con).expect("KEYS");
                        ("KEYS", ks.len() as i64)
                    }
                    _ => {
                        let r: Value = redis::cmd("FLUSHALL").query(con).expect("FLUSHALL");
                        assert!(is_ok(&r), "{r:?}");
                        std::thread::sleep(Duration::from_millis(1));
                        ("FLUSHALL", 0)
                    }
                };
                if n % NSHARDS as i64 != 0 {
                    st.torn(format!("{what} counted {n} keys"));
                }
                st.op();
            }
        }));
    }
    st.run_for(Duration::from_secs(3));
    join_all(hs);
    st.assert_clean();
}

/// A write that changes nothing does not break a WATCH of its key, as in
/// Redis (which signals a key only when a command modified it): popping
/// a missing list, adding a member already there, deleting an absent
/// field, re-adding a score, a blocking pop that timed out. Writes that
/// do change the key still do.
#[test]
fn writes_that_change_nothing_keep_a_watch() {
    for threads in [1, 4] {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        // (setup commands, the other client's write, whether EXEC fails)
        type Case<'a> = (&'a [&'a [&'a str]], &'a [&'a str], bool);
        let cases: &[Case] = &[
            (&[], &["LPOP", "k"], false),
            (&[], &["RPOPLPUSH", "k", "k2"], false),
            (&[], &["ZPOPMIN", "k"], false),
            (&[], &["LPUSHX", "k", "a"], false),
            (&[], &["BLPOP", "k", "0.01"], false),
            (&[&["SADD", "k", "a"]], &["SADD", "k", "a"], false),
            (&[&["SADD", "k", "a"]], &["SREM", "k", "zz"], false),
            (&[&["SADD", "k", "a"]], &["SPOP", "k", "0"], false),
            (&[&["HSET", "k", "f", "v"]], &["HDEL", "k", "zz"], false),
            (
                &[&["HSET", "k", "f", "v"]],
                &["HSETNX", "k", "f", "w"],
                false,
            ),
            (&[&["ZADD", "k", "1", "a"]], &["ZADD", "k", "1", "a"], false),
            (
                &[&["ZADD", "k", "1", "a"]],
                &["ZADD", "k", "NX", "5", "a"],
                false,
            ),
            (
                &[&["ZADD", "k", "1", "a"]],
                &["ZINCRBY", "k", "0", "a"],
                false,
            ),
            (&[&["ZADD", "k", "1", "a"]], &["ZREM", "k", "zz"], false),
            (&[&["RPUSH", "k", "a"]], &["LREM", "k", "0", "zz"], false),
            (
                &[&["RPUSH", "k", "a"]],
                &["LINSERT", "k", "BEFORE", "zz", "b"],
                false,
            ),
            (&[&["SET", "k", "abc"]], &["SETRANGE", "k", "1", ""], false),
            (&[], &["SETRANGE", "k", "1", ""], false),
            (
                &[&["SETBIT", "k", "3", "1"]],
                &["SETBIT", "k", "3", "1"],
                false,
            ),
            (&[], &["LTRIM", "k", "0", "1"], false),
            // Changes: the transaction must fail.
            (&[&["SADD", "k", "a"]], &["SADD", "k", "b"], true),
            (&[&["ZADD", "k", "1", "a"]], &["ZADD", "k", "2", "a"], true),
            (
                &[&["ZADD", "k", "1", "a"]],
                &["ZINCRBY", "k", "1", "a"],
                true,
            ),
            (&[&["RPUSH", "k", "a"]], &["LPOP", "k"], true),
            (&[&["HSET", "k", "f", "v"]], &["HSET", "k", "f", "v"], true),
            (&[&["SET", "k", "abc"]], &["SETRANGE", "k", "1", "b"], true),
            (&[], &["SETRANGE", "k", "1", "b"], true),
            (
                &[&["SETBIT", "k", "3", "1"]],
                &["SETBIT", "k", "3", "0"],
                true,
            ),
            (
                &[&["SETBIT", "k", "3", "1"]],
                &["SETBIT", "k", "100", "0"],
                true,
            ),
            (&[], &["SETBIT", "k", "1", "0"], true),
            (&[&["RPUSH", "k", "a"]], &["LTRIM", "k", "0", "-1"], true),
            (
                &[&["RPUSH", "k", "a", "b"]],
                &["LTRIM", "k", "0", "0"],
                true,
            ),
        ];
        // The writer speaks RESP2 and RESP3: its replies decide.
        for (i, (setup, write, aborts)) in cases.iter().chain(cases).enumerate() {
            let mut other = srv.conn_proto(i >= cases.len());
            ok(&mut con, &["FLUSHALL"]);
            for s in setup.iter() {
                q(&mut con, s);
            }
            let got = exec_after_write(&mut con, &mut other, "k", write);
            assert_eq!(
                matches!(got, Value::Nil),
                *aborts,
                "threads {threads}, resp3 {}: {write:?} after {setup:?}: {got:?}",
                i >= cases.len()
            );
        }
    }
}

/// WATCH `watched`, MULTI, PING; `write` from `other`; then EXEC's
/// reply (nil: the write aborted it).
fn exec_after_write(
    con: &mut redis::Connection,
    other: &mut redis::Connection,
    watched: &str,
    write: &[&str],
) -> Value {
    ok(con, &["WATCH", watched]);
    ok(con, &["MULTI"]);
    queued(con, &["PING"]);
    q(other, write);
    q(con, &["EXEC"])
}

/// The store commands signal their destination, never their sources
/// (only read), and a destination only when they changed it: an empty
/// result for a missing destination writes nothing. "a" and "b" are on
/// different shards at --threads 4.
#[test]
fn stores_touch_their_destination_only() {
    for threads in [1, 4] {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        let mut other = srv.conn();
        // (watched key, the store, whether EXEC fails)
        let cases: &[(&str, &[&str], bool)] = &[
            ("a", &["SINTERSTORE", "b", "a"], false),
            ("a", &["SUNIONSTORE", "b", "a"], false),
            ("a", &["ZUNIONSTORE", "b", "1", "z"], false),
            ("z", &["ZRANGESTORE", "b", "z", "0", "-1"], false),
            ("b", &["SDIFFSTORE", "b", "nosuch"], false),
            ("b", &["ZINTERSTORE", "b", "1", "nosuch"], false),
            ("b", &["SUNIONSTORE", "b", "a"], true),
            ("b", &["ZUNIONSTORE", "b", "1", "z"], true),
        ];
        for (watched, store, aborts) in cases {
            ok(&mut con, &["FLUSHALL"]);
            q(&mut con, &["SADD", "a", "x"]);
            q(&mut con, &["ZADD", "z", "1", "x"]);
            let got = exec_after_write(&mut con, &mut other, watched, store);
            assert_eq!(
                matches!(got, Value::Nil),
                *aborts,
                "threads {threads}: WATCH {watched}, {store:?}: {got:?}"
            );
        }
    }
}

/// PUBLISH queued in MULTI is heard after the writes queued before it and
/// before those after it, as in Redis, where EXEC runs them in order: it
/// went out when EXEC started, before any write had run (a subscriber
/// could hear it and still read the old values).
#[test]
fn publish_inside_exec_is_heard_in_its_place() {
    let srv = Server::start(2);
    let mut a = srv.raw();
    assert!(!a
        .call(&["CONFIG", "SET", "notify-keyspace-events", "E$"])
        .is_error());
    let mut sub = srv.raw();
    sub.cmd(&[b"SUBSCRIBE", b"__keyevent@0__:set", b"ch"]);
    for _ in 0..2 {
        assert!(matches!(sub.read(), Resp::Array(_)));
    }
    let keys = spread_keys("pubtx:", 1);
    let (k1, k2, k3) = (&keys[0], &keys[1], &keys[2]);
    assert!(!a.call(&["MULTI"]).is_error());
    for cmd in [
        &["SET", k1, "v"][..],
        &["SET", k2, "v"],
        &["PUBLISH", "ch", "go"],
        &["SET", k3, "v"],
    ] {
        assert_eq!(a.call(cmd), Resp::Simple("QUEUED".into()), "{cmd:?}");
    }
    let Resp::Array(r) = a.call(&["EXEC"]) else {
        panic!("EXEC")
    };
    assert_eq!(r[2], Resp::Int(1), "the subscriber");
    let mut heard = Vec::new();
    for _ in 0..4 {
        let Resp::Array(m) = sub.read() else {
            panic!("message")
        };
        let Resp::Bulk(payload) = &m[2] else {
            panic!("{m:?}")
        };
        heard.push(String::from_utf8_lossy(payload).into_owned());
    }
    // k1 and k2 live on different shards: their events may come either way.
    let go = heard.iter().position(|h| h == "go").expect("go");
    assert_eq!(
        go, 2,
        "after both writes before it, before the one after: {heard:?}"
    );
    assert_eq!(heard[3], *k3, "{heard:?}");
}

/// A connection command queued in MULTI (FUNCTION, SCRIPT, CONFIG,
/// CLIENT...) runs in its place among the others, as on Redis. It ran when
/// EXEC started: `FCALL f; FUNCTION DELETE lib` deleted f before the call
/// ("Function not found"), and `EVALSHA; SCRIPT FLUSH` flushed the script
/// before its first call.
#[test]
fn connection_commands_inside_exec_run_in_their_place() {
    let srv = Server::start(2);
    let mut a = srv.raw();
    let lib = "#!lua name=inplace\nredis.register_function('inplace_f', function() return 7 end)";
    assert_eq!(
        a.call(&["FUNCTION", "LOAD", lib]),
        Resp::Bulk(b"inplace".to_vec())
    );
    let keys = spread_keys("connstep:", 1);
    let Resp::Bulk(sha) = a.call(&["SCRIPT", "LOAD", "return 5"]) else {
        panic!("SCRIPT LOAD")
    };
    let sha = String::from_utf8_lossy(&sha).into_owned();
    assert!(!a.call(&["MULTI"]).is_error());
    for cmd in [
        &["SET", &keys[0], "v"][..],
        &["FCALL", "inplace_f", "0"],
        &["FUNCTION", "DELETE", "inplace"],
        &["FCALL", "inplace_f", "0"],
        &["EVALSHA", &sha, "0"],
        &["SCRIPT", "FLUSH"],
        &["EVALSHA", &sha, "0"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "inplace"],
        &["SET", &keys[1], "v"],
        &["CLIENT", "GETNAME"],
    ] {
        assert_eq!(a.call(cmd), Resp::Simple("QUEUED".into()), "{cmd:?}");
    }
    let Resp::Array(r) = a.call(&["EXEC"]) else {
        panic!("EXEC")
    };
    assert_eq!(r[1], Resp::Int(7), "called before its library is deleted");
    assert_eq!(r[2], Resp::Simple("OK".into()));
    assert!(r[3].is_error(), "deleted by then: {:?}", r[3]);
    assert_eq!(r[4], Resp::Int(5), "run before the flush");
    assert!(r[6].is_error(), "flushed by then: {:?}", r[6]);
    assert_eq!(r[7], Resp::NilBulk);
    assert_eq!(r[10], Resp::Bulk(b"inplace".to_vec()));
    assert_eq!(a.call(&["GET", &keys[1]]), Resp::Bulk(b"v".to_vec()));
}

/// Each connection command is a step of its own, run by the coordinator:
/// one after another in a loop, not one call deeper per command (a
/// transaction of many would exhaust the reactor's stack).
#[test]
fn exec_of_many_connection_commands_across_shards() {
    let srv = Server::start(2);
    let mut a = srv.raw();
    let keys = spread_keys("connmany:", 1);
    let n = 20_000;
    let mut pipe = Vec::new();
    pipe.extend_from_slice(b"MULTI\r\n");
    pipe.extend_from_slice(format!("SET {} a\r\n", keys[0]).as_bytes());
    for i in 0..n {
        pipe.extend_from_slice(format!("CLIENT SETNAME n{i}\r\n").as_bytes());
    }
    pipe.extend_from_slice(format!("SET {} b\r\nEXEC\r\n", keys[1]).as_bytes());
    a.send(&pipe);
    for _ in 0..n + 3 {
        assert!(!a.read().is_error());
    }
    let Resp::Array(r) = a.read() else {
        panic!("EXEC")
    };
    assert_eq!(r.len(), n + 2);
    assert!(r.iter().all(|x| *x == Resp::Simple("OK".into())));
    assert_eq!(
        a.call(&["CLIENT", "GETNAME"]),
        Resp::Bulk(format!("n{}", n - 1).into_bytes())
    );
}
