//! maxmemory: Redis's OOM error under noeviction (MULTI/EXEC included),
//! eviction under the other policies on one and several shards, and the
//! per-key access clock behind LRU/LFU and OBJECT IDLETIME/FREQ. Expected
//! replies are redis-server 7.0.15's.

mod common;
use common::*;
use std::time::Duration;

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn used_memory(con: &mut redis::Connection) -> u64 {
    info_field(con, "memory", "used_memory")
        .and_then(|v| v.parse().ok())
        .expect("used_memory")
}

fn evicted(con: &mut redis::Connection) -> u64 {
    info_field(con, "stats", "evicted_keys")
        .and_then(|v| v.parse().ok())
        .expect("evicted_keys")
}

/// Fill with `n` keys of `size`-byte values, pipelined.
fn fill(con: &mut redis::Connection, prefix: &str, n: usize, size: usize) {
    let value = "v".repeat(size);
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut p = redis::pipe();
        for i in chunk {
            p.cmd("SET")
                .arg(format!("{prefix}:{i}"))
                .arg(&value)
                .ignore();
        }
        let _: () = p.query(con).expect("fill");
    }
}

#[test]
fn noeviction_refuses_writes_with_redis_error_and_keeps_serving() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        ok(&mut con, &["SET", "a", "1"]);
        ok(&mut con, &["CONFIG", "SET", "maxmemory", "1"]);
        assert_eq!(err(&mut con, &["SET", "b", "2"]), OOM);
        assert_eq!(err(&mut con, &["LPUSH", "l", "x"]), OOM);
        // A container's subcommands as Redis flags them: FUNCTION LOAD
        // may use memory, FUNCTION LIST and FLUSH do not.
        let lib = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
        assert_eq!(err(&mut con, &["FUNCTION", "LOAD", lib]), OOM);
        assert_eq!(q(&mut con, &["FUNCTION", "LIST"]), Value::Array(vec![]));
        ok(&mut con, &["FUNCTION", "FLUSH"]);
        // Reads and commands that free memory still run.
        assert_eq!(bulk(&mut con, &["GET", "a"]).as_deref(), Some("1"));
        assert_eq!(int(&mut con, &["DEL", "a"]), 1);
        assert_eq!(status(&mut con, &["PING"]), "PONG");
        assert_eq!(
            info_field(&mut con, "memory", "maxmemory_policy").as_deref(),
            Some("noeviction")
        );
        assert_eq!(
            info_field(&mut con, "memory", "maxmemory").as_deref(),
            Some("1")
        );
        ok(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
        ok(&mut con, &["SET", "b", "2"]);
    }
}

#[test]
fn oom_inside_multi_follows_redis() {
    let srv = Server::start(2);
    let mut con = srv.conn();
    let mut admin = srv.conn();
    ok(&mut con, &["SET", "x", "value"]);

    // A write refused while queueing dooms the transaction.
    ok(&mut admin, &["CONFIG", "SET", "maxmemory", "1"]);
    ok(&mut con, &["MULTI"]);
    assert_eq!(err(&mut con, &["SET", "y", "1"]), OOM);
    // Inside MULTI even reads are refused: queueing itself takes memory.
    assert_eq!(err(&mut con, &["GET", "x"]), OOM);
    assert_eq!(
        err(&mut con, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    // DISCARD works while out of memory.
    ok(&mut con, &["MULTI"]);
    assert_eq!(err(&mut con, &["SET", "y", "1"]), OOM);
    ok(&mut con, &["DISCARD"]);

    // Only reads: EXEC runs although memory is over the limit.
    ok(&mut admin, &["CONFIG", "SET", "maxmemory", "0"]);
    ok(&mut con, &["MULTI"]);
    assert_eq!(status(&mut con, &["GET", "x"]), "QUEUED");
    assert_eq!(status(&mut con, &["PING"]), "QUEUED");
    ok(&mut admin, &["CONFIG", "SET", "maxmemory", "1"]);
    let v = q(&mut con, &["EXEC"]);
    assert_eq!(strs(&v), vec![Some("value".into()), Some("PONG".into())]);

    // A write queued before the limit was hit: EXEC is refused as a whole.
    ok(&mut admin, &["CONFIG", "SET", "maxmemory", "0"]);
    ok(&mut con, &["MULTI"]);
    assert_eq!(status(&mut con, &["SET", "x", "2"]), "QUEUED");
    ok(&mut admin, &["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(
        err(&mut con, &["EXEC"]),
        format!("EXECABORT Transaction discarded because of: {OOM}")
    );
    ok(&mut admin, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(bulk(&mut con, &["GET", "x"]).as_deref(), Some("value"));
    // The client left MULTI: a new one starts cleanly.
    ok(&mut con, &["MULTI"]);
    ok(&mut con, &["DISCARD"]);
}

#[test]
fn save_and_shutdown_are_refused_inside_multi() {
    let srv = Server::start(1);
    let mut con = srv.conn();
    for cmd in ["SAVE", "SHUTDOWN"] {
        ok(&mut con, &["MULTI"]);
        assert_eq!(status(&mut con, &["SET", "foo", "bar"]), "QUEUED");
        assert_eq!(
            err(&mut con, &[cmd]),
            "ERR Command not allowed inside a transaction"
        );
        assert!(err(&mut con, &["EXEC"]).starts_with("EXECABORT"));
        assert_eq!(bulk(&mut con, &["GET", "foo"]), None);
    }
    if !server_bin().1 {
        // redis-server saves; halocline has nothing to save to.
        assert!(err(&mut con, &["SAVE"]).contains("does not persist"));
    }
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "maxmemory-samples", "0"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 2147483647 inclusive"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "lfu-decay-time", "-1"]),
        "ERR CONFIG SET failed (possibly related to argument 'lfu-decay-time') - argument must be between 0 and 2147483647 inclusive"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "maxmemory-policy", "lru"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
    );
}

#[test]
fn evicting_policies_keep_memory_near_the_limit_on_every_shard() {
    for threads in THREADS {
        for policy in ["allkeys-lru", "allkeys-random", "allkeys-lfu"] {
            let srv = Server::start(threads);
            let mut con = srv.conn();
            let base = used_memory(&mut con);
            let limit = base + (4 << 20);
            ok(&mut con, &["CONFIG", "SET", "maxmemory-policy", policy]);
            ok(
                &mut con,
                &["CONFIG", "SET", "maxmemory", &limit.to_string()],
            );
            // About 10 MB of values: well past the limit.
            fill(&mut con, "k", 40_000, 200);
            let keys = int(&mut con, &["DBSIZE"]);
            let used = used_memory(&mut con);
            assert!(
                keys > 1000 && keys < 40_000,
                "{policy} threads {threads}: {keys} keys left"
            );
            assert!(evicted(&mut con) as i64 >= 40_000 - keys);
            // Within a loop turn's worth of writes of the limit.
            assert!(
                used < limit + (1 << 20),
                "{policy} threads {threads}: used {used} > limit {limit}"
            );
        }
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        fill(&mut con, "persistent", 2_000, 200);
        let base = used_memory(&mut con);
        ok(
            &mut con,
            &["CONFIG", "SET", "maxmemory-policy", "volatile-ttl"],
        );
        ok(
            &mut con,
            &[
                "CONFIG",
                "SET",
                "maxmemory",
                &(base + (2 << 20)).to_string(),
            ],
        );
        let value = "v".repeat(200);
        for i in 0..20_000 {
            let r = q(
                &mut con,
                &["SET", &format!("ttl:{i}"), &value, "EX", "1000"],
            );
            assert_eq!(err_text(&r), None, "volatile key {i}");
        }
        assert_eq!(
            int(&mut con, &["EXISTS", "persistent:0", "persistent:1999"]),
            2
        );
        let keys = int(&mut con, &["DBSIZE"]);
        assert!(keys < 22_000, "threads {threads}: nothing evicted");
        // Each write evicts a bounded batch (as Redis's eviction time
        // limit lets a command through); once no key with a TTL is left,
        // writes are refused.
        ok(&mut con, &["CONFIG", "SET", "maxmemory", "1"]);
        let refused = (0..200).find(|i| {
            let r = q(&mut con, &["SET", &format!("more:{i}"), &value]);
            err_text(&r).as_deref() == Some(OOM)
        });
        assert!(refused.is_some(), "threads {threads}: never refused");
        assert_eq!(
            int(&mut con, &["EXISTS", "persistent:0", "persistent:1999"]),
            2
        );
    }
}

#[test]
fn lru_eviction_spares_recently_used_keys() {
    let srv = Server::start(1);
    let mut con = srv.conn();
    fill(&mut con, "hot", 1_000, 200);
    fill(&mut con, "cold", 20_000, 200);
    std::thread::sleep(Duration::from_millis(2100));
    for i in 0..1_000 {
        assert!(bulk(&mut con, &["GET", &format!("hot:{i}")]).is_some());
    }
    let used = used_memory(&mut con);
    ok(&mut con, &["CONFIG", "SET", "maxmemory-samples", "10"]);
    ok(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    // Room for about two thirds of what is there.
    ok(
        &mut con,
        &["CONFIG", "SET", "maxmemory", &(used * 2 / 3).to_string()],
    );
    fill(&mut con, "new", 1_000, 200);
    let hot = (0..1_000)
        .filter(|i| int(&mut con, &["EXISTS", &format!("hot:{i}")]) == 1)
        .count();
    assert!(evicted(&mut con) > 3_000, "too little evicted");
    assert!(hot >= 950, "only {hot} of 1000 recently used keys survived");
}

#[test]
fn object_idletime_and_freq_follow_accesses() {
    // --threads 4: EXISTS and TOUCH of several keys fan out across shards.
    let srv = Server::start(4);
    let mut con = srv.conn();
    let keys = ["k", "a", "b", "c", "d", "e"];
    for k in keys {
        ok(&mut con, &["SET", k, "v"]);
    }
    std::thread::sleep(Duration::from_millis(2100));
    let idle = |con: &mut redis::Connection, k: &str| int(con, &["OBJECT", "IDLETIME", k]);
    // OBJECT, TYPE, EXISTS and TTL are not accesses (LOOKUP_NOTOUCH).
    assert!(idle(&mut con, "k") >= 2);
    assert_eq!(status(&mut con, &["TYPE", "k"]), "string");
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 1);
    assert_eq!(int(&mut con, &["EXISTS", "a", "b", "c", "d", "e"]), 5);
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);
    for k in keys {
        assert!(idle(&mut con, k) >= 2, "{k} touched");
    }
    // GET and TOUCH are.
    assert!(bulk(&mut con, &["GET", "k"]).is_some());
    assert_eq!(int(&mut con, &["TOUCH", "a", "b", "c", "d", "e"]), 5);
    for k in keys {
        assert!(idle(&mut con, k) <= 1, "{k} not touched");
    }
    assert!(err(&mut con, &["OBJECT", "FREQ", "k"])
        .starts_with("ERR An LFU maxmemory policy is not selected"));

    ok(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
    );
    assert!(err(&mut con, &["OBJECT", "IDLETIME", "k"])
        .starts_with("ERR An LFU maxmemory policy is selected"));
    let before = int(&mut con, &["OBJECT", "FREQ", "k"]);
    for _ in 0..500 {
        bulk(&mut con, &["GET", "k"]);
    }
    let after = int(&mut con, &["OBJECT", "FREQ", "k"]);
    assert!(after > before, "FREQ {before} -> {after} after 500 reads");
    assert!(after < 255);
}

/// INFO's used_memory is the figure maxmemory compares with (Redis's is
/// too): it follows the keyspace on every shard, up with a fill and back
/// down after FLUSHALL, with jemalloc's own count beside it.
#[test]
fn info_used_memory_is_the_figure_maxmemory_enforces() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        let base = used_memory(&mut con);
        fill(&mut con, "k", 4_000, 2_000);
        let full = used_memory(&mut con);
        assert!(
            full > base + (8 << 20),
            "threads {threads}: {base} -> {full} after 8 MB of values"
        );
        ok(&mut con, &["FLUSHALL"]);
        let after = used_memory(&mut con);
        assert!(
            after < base + (1 << 20),
            "threads {threads}: {base} -> {after} after FLUSHALL"
        );
        let allocator: u64 = info_field(&mut con, "memory", "allocator_allocated")
            .and_then(|v| v.parse().ok())
            .expect("allocator_allocated");
        assert!(allocator > 0);
    }
}

/// Large values leave no buffer behind once they are gone: not the reply
/// buffer of the reactor that answered for another reactor's client, nor
/// the connection's own input and send buffers (a pooled connection lives
/// on). After the values are deleted, used_memory (what maxmemory
/// enforces) is back near where it started, the connection still open.
#[test]
fn large_values_leave_no_buffers_behind() {
    let srv = Server::start(2);
    let mut con = srv.conn();
    let base = used_memory(&mut con);
    let value = "x".repeat(8 << 20);
    // "{b}" and "{a}" hash to slots 3300 and 15495: one key per shard, so
    // one of the two GETs runs on the other reactor, whichever this
    // connection landed on.
    for key in ["big:{b}", "big:{a}"] {
        ok(&mut con, &["SET", key, &value]);
    }
    for key in ["big:{b}", "big:{a}"] {
        assert_eq!(
            bulk(&mut con, &["GET", key]).map(|v| v.len()),
            Some(8 << 20)
        );
    }
    assert_eq!(int(&mut con, &["DEL", "big:{b}", "big:{a}"]), 2);
    let after = used_memory(&mut con);
    assert!(
        after < base + (4 << 20),
        "{base} -> {after}: buffers of the 8 MB values were kept"
    );
}

/// CLIENT PAUSE keeps the dataset still: over maxmemory, nothing is
/// evicted until the pause ends (Redis's performEvictions waits too).
#[test]
fn no_eviction_while_clients_are_paused() {
    for threads in THREADS {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        ok(
            &mut con,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
        );
        fill(&mut con, "k", 20_000, 200);
        let keys = int(&mut con, &["DBSIZE"]);
        ok(&mut con, &["CLIENT", "PAUSE", "100000", "WRITE"]);
        let limit = used_memory(&mut con) / 2;
        ok(
            &mut con,
            &["CONFIG", "SET", "maxmemory", &limit.to_string()],
        );
        for _ in 0..20 {
            // Reads go on; every reactor's loop turns pass.
            let _ = q(&mut con, &["GET", "k:1"]);
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(evicted(&mut con), 0, "threads {threads}");
        assert_eq!(int(&mut con, &["DBSIZE"]), keys);
        ok(&mut con, &["CLIENT", "UNPAUSE"]);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while evicted(&mut con) == 0 && std::time::Instant::now() < deadline {
            let _ = q(&mut con, &["SET", "after", "x"]);
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(evicted(&mut con) > 0, "threads {threads}: eviction resumes");
    }
}

/// Eviction never takes a key a running transaction holds: Redis evicts
/// only between commands, so an EXEC sees its keys stay put. Here a shard
/// evicts on its own loop turns too, and one did between two steps of a
/// transaction (a PING between them makes two steps): `GET k ... GET k`
/// inside one EXEC answered the value, then nil. Only when the client's
/// reactor is not the keys' shard do the steps leave that shard a turn in
/// between: fresh connections each round, so that placement is met.
#[test]
fn eviction_spares_the_keys_of_a_running_transaction() {
    let srv = Server::start(2);
    let mut admin = srv.conn();
    for round in 0..8 {
        let _: () = redis::cmd("FLUSHALL").query(&mut admin).expect("flushall");
        let k = key_on_shard("txheld:", 0, 2);
        let big = key_on_shard("txbig:", 0, 2);
        ok(&mut admin, &["SET", &k, "kept"]);
        let used = used_memory(&mut admin);
        ok(
            &mut admin,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
        );
        ok(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "maxmemory",
                &(used + 300 * 1024).to_string(),
            ],
        );
        let mut con = srv.conn();
        let r: Vec<Value> = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&k)
            // ~500 KB on the same shard: over the limit from here on.
            .cmd("SETBIT")
            .arg(&big)
            .arg(4_000_000)
            .arg(0)
            .cmd("PING")
            .cmd("GET")
            .arg(&k)
            .query(&mut con)
            .expect("EXEC");
        ok(&mut admin, &["CONFIG", "SET", "maxmemory", "0"]);
        assert_eq!(
            r[0],
            Value::BulkString(b"kept".to_vec()),
            "round {round}: {r:?}"
        );
        assert_eq!(r[3], r[0], "round {round}: the same key, one EXEC");
    }
}
