//! halocline as a replica of a real redis-server master (REPLICAOF): the
//! full sync of every type and encoding, the write stream, READONLY,
//! MASTERDOWN (and its EXECABORT, as Redis's tests/unit/multi.tcl checks
//! it), REPLICAOF NO ONE, and a master that goes away and comes back.
//!
//! Needs redis-server on PATH: without it each test prints a message and
//! passes, except under CI=true where it fails.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn have_redis() -> bool {
    redis_server_available("the replication tests")
}

type Master = RedisServer;

/// Poll `f` until it gives Ok, for up to `limit`; panic with its last
/// complaint otherwise.
#[track_caller]
fn eventually(limit: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("gave up after {limit:?}: {e}"),
            Err(_) => std::thread::sleep(ms(25)),
        }
    }
}

#[track_caller]
fn wait_link(con: &mut redis::Connection, up: bool) {
    let want = if up { "up" } else { "down" };
    eventually(Duration::from_secs(8), || {
        match info_field(con, "replication", "master_link_status") {
            Some(s) if s == want => Ok(()),
            other => Err(format!("master_link_status is {other:?}, want {want}")),
        }
    });
}

fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        Value::SimpleString(s) => s.clone().into_bytes(),
        Value::Int(n) => n.to_string().into_bytes(),
        Value::Okay => b"OK".to_vec(),
        v => panic!("expected a string, got {v:?}"),
    }
}

fn list(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(a) => a.iter().map(bytes).collect(),
        v => panic!("expected an array, got {v:?}"),
    }
}

/// One database's keys: type, contents (sorted where the type has no
/// order), and PTTL (-1 for none).
type Snapshot = BTreeMap<Vec<u8>, (String, Vec<Vec<u8>>, i64)>;

/// A database's snapshot; an error reply (a replica refusing reads while
/// its link is down) is an Err, for `eventually` to try again.
fn snapshot(con: &mut redis::Connection, db: usize) -> Result<Snapshot, String> {
    let mut call = |args: &[&[u8]]| -> Result<Value, String> {
        let v = q(con, args);
        match err_text(&v) {
            Some(e) => Err(e),
            None => Ok(v),
        }
    };
    call(&[b"SELECT", db.to_string().as_bytes()])?;
    let mut out = Snapshot::new();
    for k in list(&call(&[b"KEYS", b"*"])?) {
        let mut c = |cmd: &str, rest: &[&[u8]]| {
            let mut a: Vec<&[u8]> = vec![cmd.as_bytes(), &k];
            a.extend_from_slice(rest);
            call(&a)
        };
        let t = as_str(&c("TYPE", &[])?);
        let mut contents = match t.as_str() {
            "string" => vec![bytes(&c("GET", &[])?)],
            "list" => list(&c("LRANGE", &[b"0", b"-1"])?),
            "hash" => {
                let flat = list(&c("HGETALL", &[])?);
                let mut pairs: Vec<Vec<u8>> = flat.chunks(2).map(|p| p.concat()).collect();
                pairs.sort();
                pairs
            }
            "set" => list(&c("SMEMBERS", &[])?),
            "zset" => list(&c("ZRANGE", &[b"0", b"-1", b"WITHSCORES"])?),
            // Expired between KEYS and TYPE.
            "none" => continue,
            other => panic!("unexpected type {other}"),
        };
        if t == "set" {
            contents.sort();
        }
        let pttl = match c("PTTL", &[])? {
            Value::Int(n) => n,
            v => panic!("PTTL: {v:?}"),
        };
        out.insert(k.clone(), (t, contents, pttl));
    }
    call(&[b"SELECT", b"0"])?;
    Ok(out)
}

/// The same keys, types and contents, and TTLs within 2 s of each other.
fn same(master: &Snapshot, replica: &Snapshot) -> Result<(), String> {
    let mk: Vec<_> = master.keys().map(|k| String::from_utf8_lossy(k)).collect();
    let rk: Vec<_> = replica.keys().map(|k| String::from_utf8_lossy(k)).collect();
    if mk != rk {
        return Err(format!("keys differ:\n master:  {mk:?}\n replica: {rk:?}"));
    }
    for (k, (t, c, ttl)) in master {
        let (rt, rc, rttl) = &replica[k];
        let name = String::from_utf8_lossy(k);
        if t != rt || c != rc {
            return Err(format!("key {name} differs: {t} vs {rt}"));
        }
        let ttl_ok =
            (*ttl < 0 && ttl == rttl) || (*ttl >= 0 && *rttl >= 0 && (ttl - rttl).abs() <= 2000);
        if !ttl_ok {
            return Err(format!("key {name}: PTTL {ttl} on the master, {rttl} here"));
        }
    }
    Ok(())
}

#[track_caller]
fn converge(m: &mut redis::Connection, r: &mut redis::Connection, dbs: &[usize]) {
    eventually(Duration::from_secs(8), || {
        for &db in dbs {
            same(&snapshot(m, db)?, &snapshot(r, db)?).map_err(|e| format!("db {db}: {e}"))?;
        }
        Ok(())
    });
}

fn replicaof(con: &mut redis::Connection, port: u16) {
    ok(con, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
}

/// Data of every type, in the encodings a Redis 7.0 snapshot uses for
/// them (small and large), with TTLs, in several databases.
fn fill(m: &mut redis::Connection) {
    ok(m, &["SET", "str", "hello"]);
    ok(m, &["SET", "int", "12345"]);
    ok(m, &["SET", "neg", "-7"]);
    ok(m, &["SET", "long", &"abcdefgh".repeat(5000)]);
    q(m, &[&b"SET"[..], b"bin\x00\xff key", b"\x00\x01\x02\xfe"]);
    ok(m, &["SET", "ttl_s", "x", "EX", "1000"]);
    ok(m, &["SET", "ttl_ms", "y", "PX", "500000"]);
    let mut big: Vec<String> = vec!["RPUSH".into(), "biglist".into()];
    big.extend((0..2000).map(|i| format!("element-{i}")));
    q(m, &big);
    q(m, &["RPUSH", "smalllist", "a", "b", "1", "2"]);
    let mut h: Vec<String> = vec!["HSET".into(), "bighash".into()];
    for i in 0..700 {
        h.push(format!("f{i}"));
        h.push(format!("v{i}"));
    }
    q(m, &h);
    q(m, &["HSET", "smallhash", "a", "1", "b", "two"]);
    q(m, &["HSET", "longvalhash", "f", &"z".repeat(200)]);
    let mut s: Vec<String> = vec!["SADD".into(), "intset".into()];
    s.extend((0..100).map(|i| (i * 7 - 300).to_string()));
    q(m, &s);
    let mut s: Vec<String> = vec!["SADD".into(), "bigset".into()];
    s.extend((0..600).map(|i| format!("m{i}")));
    q(m, &s);
    q(m, &["SADD", "smallset", "x", "y", "z"]);
    q(m, &["ZADD", "smallzset", "1.5", "a", "-2", "b", "3", "c"]);
    let mut z: Vec<String> = vec!["ZADD".into(), "bigzset".into()];
    for i in 0..300 {
        z.push(format!("{}.25", i - 150));
        z.push(format!("member-{i}"));
    }
    q(m, &z);
    q(m, &["EXPIRE", "bigzset", "2000"]);
    ok(m, &["SELECT", "1"]);
    ok(m, &["SET", "one", "1"]);
    q(m, &["RPUSH", "l1", "x"]);
    ok(m, &["SELECT", "7"]);
    ok(m, &["SET", "seven", "7", "EX", "700"]);
    q(m, &["HSET", "h7", "k", "v"]);
    ok(m, &["SELECT", "0"]);
}

/// A full sync of every type, then the stream: plain writes, TTLs,
/// deletions, MULTI/EXEC (across shards), other databases, FLUSHDB.
#[test]
fn full_sync_then_stream() {
    if !have_redis() {
        return;
    }
    let master = Master::start(&[]);
    let mut m = master.conn();
    fill(&mut m);
    let replica = Server::start_with(2, &[]);
    let mut r = replica.conn();
    ok(&mut r, &["SET", "stale-local-key", "gone after the sync"]);
    replicaof(&mut r, master.port);
    wait_link(&mut r, true);
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("slave")
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_host").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_port"),
        Some(master.port.to_string())
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_sync_in_progress").as_deref(),
        Some("0")
    );
    // The link is up once the snapshot is applied: no waiting needed.
    for db in [0, 1, 7] {
        let (ms, rs) = (snapshot(&mut m, db), snapshot(&mut r, db));
        if let Err(e) = same(&ms.expect("master"), &rs.expect("replica")) {
            panic!("db {db} after the full sync: {e}");
        }
    }
    assert_eq!(int(&mut r, &["EXISTS", "stale-local-key"]), 0);

    ok(&mut m, &["SET", "str", "changed"]);
    int(&mut m, &["INCR", "int"]);
    int(&mut m, &["LPUSH", "biglist", "new-head"]);
    int(&mut m, &["HSET", "smallhash", "c", "3"]);
    int(&mut m, &["EXPIRE", "str", "300"]);
    int(&mut m, &["PERSIST", "ttl_s"]);
    int(&mut m, &["DEL", "bigset", "smalllist"]);
    ok(
        &mut m,
        &["MSET", "ma", "1", "mb", "2", "mc", "3", "md", "4"],
    );
    ok(&mut m, &["MULTI"]);
    q(&mut m, &["SET", "tx-a", "1"]);
    q(&mut m, &["INCRBY", "tx-b", "5"]);
    q(&mut m, &["SADD", "tx-c", "m"]);
    q(&mut m, &["ZINCRBY", "smallzset", "10", "a"]);
    q(&mut m, &["EXEC"]);
    ok(&mut m, &["SET", "short", "v", "PX", "150"]);
    ok(&mut m, &["SELECT", "7"]);
    ok(&mut m, &["SET", "in-seven", "x"]);
    int(&mut m, &["DEL", "h7"]);
    ok(&mut m, &["SELECT", "1"]);
    ok(&mut m, &["FLUSHDB"]);
    ok(&mut m, &["SELECT", "0"]);
    converge(&mut m, &mut r, &[0, 1, 7]);
    assert_eq!(bulk(&mut r, &["GET", "tx-b"]).as_deref(), Some("5"));
    // The short TTL ran out on both.
    eventually(Duration::from_secs(3), || {
        match int(&mut r, &["EXISTS", "short"]) {
            0 => Ok(()),
            _ => Err("short still exists".into()),
        }
    });
    // The replica's master connection, as CLIENT LIST shows it.
    let clients = as_str(&q(&mut r, &["CLIENT", "LIST"]));
    assert!(
        clients.lines().any(
            |l| l.contains("flags=M") && l.contains(&format!("addr=127.0.0.1:{}", master.port))
        ),
        "{clients}"
    );
    // The master sees an online replica acknowledging the stream.
    eventually(Duration::from_secs(5), || {
        let lines = as_str(&q(&mut m, &["INFO", "replication"]));
        let off = info_field(&mut m, "replication", "master_repl_offset").unwrap_or_default();
        match lines.lines().find(|l| l.starts_with("slave0:")) {
            Some(l) if l.contains("state=online") && l.contains(&format!("offset={off},")) => {
                Ok(())
            }
            other => Err(format!("{other:?}, master offset {off}")),
        }
    });
    // WAIT is answered through REPLCONF GETACK.
    ok(&mut m, &["SET", "waited", "1"]);
    assert_eq!(int(&mut m, &["WAIT", "1", "2000"]), 1);
}

/// Ordinary clients can read but not write; inside MULTI the write is
/// refused at once and EXEC aborts; a transaction whose writes were queued
/// before the switch is aborted at EXEC with READONLY; a client blocked on
/// keys is released with UNBLOCKED.
#[test]
fn replica_is_read_only() {
    if !have_redis() {
        return;
    }
    let master = Master::start(&[]);
    let mut m = master.conn();
    ok(&mut m, &["SET", "k", "v"]);
    let replica = Server::start_with(2, &[]);
    let mut r = replica.conn();
    let mut queued = replica.conn();
    ok(&mut queued, &["MULTI"]);
    assert_eq!(status(&mut queued, &["SET", "x", "1"]), "QUEUED");
    let mut blocked = replica.raw();
    blocked.set_timeout(Duration::from_secs(5));
    blocked.send(&encode_strs(&["BLPOP", "nothing", "0"]));
    std::thread::sleep(ms(100));
    replicaof(&mut r, master.port);
    assert_eq!(
        blocked.read(),
        Resp::Error(
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)".into()
        )
    );
    // And disconnected.
    assert!(blocked.read_until_close(Duration::from_secs(2)).1);
    wait_link(&mut r, true);
    assert_eq!(
        err(&mut queued, &["EXEC"]),
        "EXECABORT Transaction discarded because of: READONLY You can't write against a read only replica."
    );
    assert_eq!(bulk(&mut r, &["GET", "k"]).as_deref(), Some("v"));
    let readonly = "READONLY You can't write against a read only replica.";
    assert_eq!(err(&mut r, &["SET", "k", "w"]), readonly);
    assert_eq!(err(&mut r, &["DEL", "k"]), readonly);
    assert_eq!(err(&mut r, &["FLUSHALL"]), readonly);
    // FUNCTION's writing subcommands are writes (its others are not).
    let lib = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
    for write in [
        &["FUNCTION", "LOAD", lib][..],
        &["FUNCTION", "DELETE", "lib"],
        &["FUNCTION", "FLUSH"],
        &["FUNCTION", "RESTORE", "x"],
    ] {
        assert_eq!(err(&mut r, write), readonly, "{write:?}");
    }
    assert_eq!(q(&mut r, &["FUNCTION", "LIST"]), Value::Array(vec![]));
    q(&mut r, &["SCRIPT", "LOAD", "return 1"]);
    ok(&mut r, &["MULTI"]);
    assert_eq!(err(&mut r, &["INCR", "k"]), readonly);
    assert_eq!(status(&mut r, &["GET", "k"]), "QUEUED");
    assert_eq!(
        err(&mut r, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    // Reads in a transaction are fine.
    ok(&mut r, &["MULTI"]);
    q(&mut r, &["GET", "k"]);
    assert_eq!(strs(&q(&mut r, &["EXEC"])), vec![Some("v".to_string())]);
    // With replica-read-only no, clients may write (locally).
    ok(&mut r, &["CONFIG", "SET", "replica-read-only", "no"]);
    ok(&mut r, &["SET", "local", "1"]);
    assert_eq!(
        info_field(&mut r, "replication", "slave_read_only").as_deref(),
        Some("0")
    );
}

/// REPLICAOF NO ONE keeps the data and takes writes again; the master's
/// later writes no longer arrive. Here the master wants a password
/// (masterauth), the replica has one of its own (its master connection
/// needs none), runs the epoll driver, and starts replicating from its
/// configuration (`--replicaof "host port"`).
#[test]
fn replicaof_no_one_makes_a_master_again() {
    if !have_redis() {
        return;
    }
    let master = Master::start(&["--requirepass", "m-secret"]);
    let mut m = master.conn();
    ok(&mut m, &["SET", "a", "1"]);
    q(&mut m, &["RPUSH", "l", "x", "y"]);
    let target = format!("127.0.0.1 {}", master.port);
    let replica = Server::start_with(
        2,
        &[
            "--replicaof",
            &target,
            "--masterauth",
            "m-secret",
            "--requirepass",
            "r-secret",
            "--io-backend",
            "epoll",
        ],
    );
    let mut r = replica.conn();
    wait_link(&mut r, true);
    assert_eq!(bulk(&mut r, &["GET", "a"]).as_deref(), Some("1"));
    let cfg = strs(&q(&mut r, &["CONFIG", "GET", "replicaof"]));
    assert_eq!(cfg, vec![Some("replicaof".into()), Some(target.clone())]);
    // The same master again: nothing to do.
    assert_eq!(
        status(
            &mut r,
            &["REPLICAOF", "127.0.0.1", &master.port.to_string()]
        ),
        "OK Already connected to specified master"
    );
    ok(&mut m, &["SET", "b", "2"]);
    converge(&mut m, &mut r, &[0]);
    ok(&mut r, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("master")
    );
    ok(&mut r, &["SET", "c", "3"]);
    assert_eq!(bulk(&mut r, &["GET", "b"]).as_deref(), Some("2"));
    assert_eq!(int(&mut r, &["LLEN", "l"]), 2);
    ok(&mut m, &["SET", "a", "changed on the master"]);
    std::thread::sleep(ms(300));
    assert_eq!(bulk(&mut r, &["GET", "a"]).as_deref(), Some("1"));
    let cfg = strs(&q(&mut r, &["CONFIG", "GET", "replicaof"]));
    assert_eq!(cfg, vec![Some("replicaof".into()), Some(String::new())]);
    // NO ONE on a master is fine too.
    ok(&mut r, &["SLAVEOF", "no", "one"]);
}

/// replica-serve-stale-data no with an unreachable master: MASTERDOWN for
/// commands without the stale flag, and Redis's own MULTI test.
#[test]
fn stale_replica_refuses_with_masterdown() {
    if !have_redis() {
        return;
    }
    let srv = Server::start_with(2, &["--replica-serve-stale-data", "no"]);
    let mut r = srv.conn();
    let mut r1 = srv.conn();
    for port in ["70000", "-1", "abc"] {
        assert_eq!(
            err(&mut r1, &["REPLICAOF", "localhost", port]),
            "ERR Invalid master port"
        );
    }
    assert_eq!(
        err(&mut r1, &["REPLICAOF", "localhost"]),
        "ERR wrong number of arguments for 'replicaof' command"
    );
    ok(&mut r, &["SET", "xx", "1"]);
    let masterdown =
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    let execabort = format!("EXECABORT Transaction discarded because of: {masterdown}");

    // tests/unit/multi.tcl "exec with read commands and stale replica
    // state change".
    ok(&mut r, &["MULTI"]);
    q(&mut r, &["GET", "xx"]);
    ok(&mut r1, &["REPLICAOF", "localhsot", "0"]);
    assert_eq!(err(&mut r, &["EXEC"]), execabort);
    ok(&mut r1, &["REPLICAOF", "no", "one"]);
    ok(&mut r, &["MULTI"]);
    q(&mut r, &["PING"]);
    ok(&mut r1, &["REPLICAOF", "localhsot", "0"]);
    assert_eq!(err(&mut r, &["EXEC"]), execabort);
    ok(&mut r, &["MULTI"]);
    ok(&mut r1, &["REPLICAOF", "no", "one"]);
    q(&mut r, &["GET", "xx"]);
    assert_eq!(strs(&q(&mut r, &["EXEC"])), vec![Some("1".to_string())]);

    // A master that refuses connections: stale until it is reachable.
    let closed = free_port();
    ok(&mut r1, &["REPLICAOF", "127.0.0.1", &closed.to_string()]);
    assert_eq!(err(&mut r, &["GET", "xx"]), masterdown);
    assert_eq!(err(&mut r, &["PING"]), masterdown);
    assert_eq!(err(&mut r, &["DBSIZE"]), masterdown);
    assert_eq!(bulk(&mut r, &["ECHO", "hi"]).as_deref(), Some("hi"));
    let cfg = strs(&q(&mut r, &["CONFIG", "GET", "replica-serve-stale-data"]));
    assert_eq!(cfg[1].as_deref(), Some("no"));
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status").as_deref(),
        Some("down")
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_last_io_seconds_ago").as_deref(),
        Some("-1")
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_link_down_since_seconds").as_deref(),
        Some("-1")
    );
    // A write gets READONLY first, as in Redis.
    assert_eq!(
        err(&mut r, &["SET", "xx", "2"]),
        "READONLY You can't write against a read only replica."
    );
    // Serving stale data again.
    ok(
        &mut r,
        &["CONFIG", "SET", "replica-serve-stale-data", "yes"],
    );
    assert_eq!(bulk(&mut r, &["GET", "xx"]).as_deref(), Some("1"));
    ok(&mut r, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    ok(&mut r1, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(bulk(&mut r, &["GET", "xx"]).as_deref(), Some("1"));
}

/// The master is killed: the link goes down (and, with
/// replica-serve-stale-data no, reads are refused); a new master on the
/// same address is synced from scratch.
#[test]
fn master_restart_resyncs() {
    if !have_redis() {
        return;
    }
    let mut master = Master::start(&[]);
    let port = master.port;
    let mut m = master.conn();
    ok(&mut m, &["SET", "old", "1"]);
    let replica = Server::start_with(2, &["--replica-serve-stale-data", "no"]);
    let mut r = replica.conn();
    replicaof(&mut r, port);
    wait_link(&mut r, true);
    assert_eq!(bulk(&mut r, &["GET", "old"]).as_deref(), Some("1"));
    drop(m);
    master.kill();
    wait_link(&mut r, false);
    assert_eq!(
        err(&mut r, &["GET", "old"]),
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
    );
    let down: i64 = info_field(&mut r, "replication", "master_link_down_since_seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1);
    assert!(down >= 0, "{down}");
    let restarted = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(m) = Master::start_on(port, &[]) {
                break m;
            }
            assert!(Instant::now() < deadline, "could not restart the master");
            std::thread::sleep(ms(100));
        }
    };
    let mut m = restarted.conn();
    ok(&mut m, &["SET", "new", "2"]);
    wait_link(&mut r, true);
    converge(&mut m, &mut r, &[0]);
    assert_eq!(int(&mut r, &["EXISTS", "old"]), 0);
    assert_eq!(bulk(&mut r, &["GET", "new"]).as_deref(), Some("2"));
    // Killed from the master's side, the link resumes where it was.
    int(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
    ok(&mut m, &["SET", "after-kill", "3"]);
    wait_link(&mut r, true);
    converge(&mut m, &mut r, &[0]);
}

/// A snapshot halocline cannot hold (a stream) is refused with a clear log
/// line and leaves no data, as a failed load does in Redis; once the
/// master no longer has it, the next attempt succeeds, function libraries
/// included.
#[test]
fn unloadable_snapshot_is_refused_then_retried() {
    if !have_redis() {
        return;
    }
    let master = Master::start(&[]);
    let mut m = master.conn();
    ok(&mut m, &["SET", "a", "1"]);
    q(&mut m, &["XADD", "events", "*", "f", "v"]);
    q(
        &mut m,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=mylib\nredis.register_function('f', function() return 1 end)",
        ],
    );
    let replica = Server::start_with(2, &[]);
    let mut r = replica.conn();
    ok(&mut r, &["SET", "local", "1"]);
    replicaof(&mut r, master.port);
    eventually(Duration::from_secs(5), || {
        let log = replica.stderr();
        match log.contains("key 'events' is a stream (halocline has no streams)") {
            true => Ok(()),
            false => Err(format!("no refusal logged yet:\n{log}")),
        }
    });
    eventually(Duration::from_secs(5), || match q(&mut r, &["DBSIZE"]) {
        Value::Int(0) => Ok(()),
        v => Err(format!("DBSIZE {v:?}")),
    });
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status").as_deref(),
        Some("down")
    );
    int(&mut m, &["DEL", "events"]);
    wait_link(&mut r, true);
    assert_eq!(bulk(&mut r, &["GET", "a"]).as_deref(), Some("1"));
    assert_eq!(int(&mut r, &["EXISTS", "local"]), 0);
    // The master's function library came with the snapshot (its function
    // may write, so a read-only replica's client may not call it).
    let list = format!("{:?}", q(&mut r, &["FUNCTION", "LIST"]));
    assert!(list.contains("mylib"), "{list}");
    assert!(err(&mut r, &["FCALL", "f", "0"]).starts_with("READONLY"));
}
