//! MIGRATE between two halocline servers and to a real redis-server:
//! keys restored on the target with their TTL and deleted here (kept with
//! COPY), Redis's replies (NOKEY, BUSYKEY from the target, IOERR) and
//! argument errors, the KEYS form, AUTH, replicas told with DEL, and
//! keys spanning shards refused.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn migrate(con: &mut redis::Connection, to: u16, rest: &[&str]) -> Value {
    let port = to.to_string();
    let mut a = vec!["MIGRATE", "127.0.0.1", port.as_str()];
    a.extend_from_slice(rest);
    q(con, &a)
}

/// Poll `done` for up to 8 s (a replica catching up), failing with `what`.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(8);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn text(v: &Value) -> String {
    err_text(v).unwrap_or_else(|| as_str(v))
}

#[test]
fn keys_move_to_the_target_with_their_ttl() {
    for threads in [1, 2] {
        let (src, dst) = (Server::start(threads), Server::start(threads));
        let (mut s, mut d) = (src.conn(), dst.conn());
        ok(&mut s, &["SET", "k", "v", "EX", "100"]);
        q(&mut s, &["RPUSH", "l", "a", "b"]);
        assert_eq!(text(&migrate(&mut s, dst.port, &["k", "0", "1000"])), "OK");
        assert_eq!(int(&mut s, &["EXISTS", "k"]), 0);
        assert_eq!(bulk(&mut d, &["GET", "k"]).as_deref(), Some("v"));
        let ttl = int(&mut d, &["TTL", "k"]);
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        // Into another database; without a TTL.
        assert_eq!(text(&migrate(&mut s, dst.port, &["l", "3", "1000"])), "OK");
        ok(&mut d, &["SELECT", "3"]);
        assert_eq!(
            strs(&q(&mut d, &["LRANGE", "l", "0", "-1"])),
            [Some("a".into()), Some("b".into())]
        );
        assert_eq!(int(&mut d, &["TTL", "l"]), -1);
        assert_eq!(
            text(&migrate(&mut s, dst.port, &["nokey", "0", "1000"])),
            "NOKEY"
        );
        // The target's refusal, the key kept; then COPY and REPLACE.
        ok(&mut s, &["SET", "b", "here"]);
        ok(&mut d, &["SELECT", "0"]);
        ok(&mut d, &["SET", "b", "there"]);
        assert_eq!(
            text(&migrate(&mut s, dst.port, &["b", "0", "1000"])),
            "ERR Target instance replied with error: BUSYKEY Target key name already exists."
        );
        assert_eq!(bulk(&mut s, &["GET", "b"]).as_deref(), Some("here"));
        assert_eq!(
            text(&migrate(
                &mut s,
                dst.port,
                &["b", "0", "1000", "COPY", "REPLACE"]
            )),
            "OK"
        );
        assert_eq!(bulk(&mut s, &["GET", "b"]).as_deref(), Some("here"));
        assert_eq!(bulk(&mut d, &["GET", "b"]).as_deref(), Some("here"));
        // KEYS: several keys of one shard (a hash tag) at once.
        q(&mut s, &["MSET", "{t}1", "x", "{t}2", "y"]);
        assert_eq!(
            text(&migrate(
                &mut s,
                dst.port,
                &["", "0", "1000", "KEYS", "{t}1", "{t}2", "{t}3"]
            )),
            "OK"
        );
        assert_eq!(int(&mut s, &["EXISTS", "{t}1", "{t}2"]), 0);
        assert_eq!(int(&mut d, &["EXISTS", "{t}1", "{t}2"]), 2);
        // Inside MULTI too.
        ok(&mut s, &["SET", "m", "1"]);
        ok(&mut s, &["MULTI"]);
        assert_eq!(
            as_str(&migrate(&mut s, dst.port, &["m", "0", "1000"])),
            "QUEUED"
        );
        assert_eq!(strs(&q(&mut s, &["EXEC"])), [Some("OK".into())]);
        assert_eq!(bulk(&mut d, &["GET", "m"]).as_deref(), Some("1"));
        // Nobody listening.
        let closed = free_port();
        ok(&mut s, &["SET", "z", "1"]);
        assert_eq!(
            text(&migrate(&mut s, closed, &["z", "0", "500"])),
            "IOERR error or timeout connecting to the client"
        );
        assert_eq!(int(&mut s, &["EXISTS", "z"]), 1);
    }
}

/// Keys of different shards cannot be migrated in one call here (their
/// deletions would not reach replicas as DEL); a common hash tag can.
#[test]
fn keys_spanning_shards_are_refused() {
    let (src, dst) = (Server::start(4), Server::start(1));
    let mut s = src.conn();
    // "a" and "b" hash to different quarters of the slots.
    q(&mut s, &["MSET", "a", "1", "b", "2"]);
    let spans = "ERR MIGRATE's keys must be on one shard here: give them a common {hash tag}";
    assert_eq!(
        text(&migrate(
            &mut s,
            dst.port,
            &["", "0", "1000", "KEYS", "a", "b"]
        )),
        spans
    );
    ok(&mut s, &["MULTI"]);
    assert_eq!(
        text(&migrate(
            &mut s,
            dst.port,
            &["", "0", "1000", "KEYS", "a", "b"]
        )),
        spans
    );
    assert_eq!(
        err(&mut s, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(int(&mut s, &["EXISTS", "a", "b"]), 2);
    assert_eq!(int(&mut dst.conn(), &["DBSIZE"]), 0);
}

/// Argument errors, in Redis's order and words (checked against a live
/// redis-server when there is one), and AUTH to a target with a password.
#[test]
fn arguments_and_auth_as_redis() {
    let src = Server::start(2);
    let dst = Server::start_with(1, &["--requirepass", "pw"]);
    let mut s = src.conn();
    ok(&mut s, &["SET", "q", "1"]);
    let cases: Vec<Vec<&str>> = vec![
        vec!["q", "0", "1000", "bogus"],
        vec!["q", "0", "abc"],
        vec!["q", "x", "1000"],
        vec!["q", "0", "1000", "KEYS", "a"],
        vec!["q", "0", "1000", "AUTH"],
        vec!["q", "0", "1000", "AUTH2", "u"],
        vec!["", "0", "1000", "KEYS"],
    ];
    let expected = [
        "ERR syntax error",
        "ERR value is not an integer or out of range",
        "ERR value is not an integer or out of range",
        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
        "ERR syntax error",
        "ERR syntax error",
        "NOKEY",
    ];
    for (case, want) in cases.iter().zip(expected) {
        assert_eq!(text(&migrate(&mut s, dst.port, case)), want, "{case:?}");
    }
    if redis_server_available("MIGRATE argument errors against redis-server") {
        let redis = RedisServer::start(&[]);
        let mut r = redis.conn();
        ok(&mut r, &["SET", "q", "1"]);
        for case in &cases {
            assert_eq!(
                text(&migrate(&mut r, dst.port, case)),
                text(&migrate(&mut s, dst.port, case)),
                "{case:?}"
            );
        }
    }
    assert_eq!(
        text(&migrate(&mut s, dst.port, &["q", "0", "1000", "AUTH", "nope"])),
        "ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(int(&mut s, &["EXISTS", "q"]), 1);
    ok(&mut s, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    assert_eq!(
        text(&migrate(
            &mut s,
            dst.port,
            &["q", "0", "1000", "AUTH2", "default", "pw"]
        )),
        "OK"
    );
    assert_eq!(int(&mut s, &["EXISTS", "q"]), 0);
    // The slow log (like MONITOR) shows credentials redacted.
    let Value::Array(log) = q(&mut s, &["SLOWLOG", "GET", "5"]) else {
        panic!("SLOWLOG GET")
    };
    let logged: Vec<Vec<String>> = log
        .iter()
        .filter_map(|e| match e {
            Value::Array(e) => Some(strs(&e[3]).into_iter().flatten().collect()),
            _ => None,
        })
        .collect();
    let m = logged
        .iter()
        .find(|a| a[0] == "MIGRATE")
        .unwrap_or_else(|| panic!("{logged:?}"));
    assert_eq!(&m[6..], ["AUTH2", "(redacted)", "(redacted)"], "{m:?}");
}

/// Payloads cross with Redis both ways, and a replica of the source loses
/// the migrated key (MIGRATE is replicated as DEL) but keeps a COPY.
#[test]
fn to_and_from_redis_and_replicated_as_del() {
    if !redis_server_available("MIGRATE with redis-server") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let src = Server::start(2);
    let replica = Server::start_with(2, &["--replicaof", &format!("127.0.0.1 {}", src.port)]);
    let (mut s, mut r, mut rep) = (src.conn(), redis.conn(), replica.conn());
    q(&mut s, &["HSET", "h", "f", "v"]);
    q(&mut s, &["SADD", "st", "m"]);
    until("replica never got the keys", || {
        int(&mut rep, &["EXISTS", "h", "st"]) >= 2
    });
    assert_eq!(
        text(&migrate(&mut s, redis.port, &["h", "0", "1000"])),
        "OK"
    );
    assert_eq!(
        text(&migrate(&mut s, redis.port, &["st", "0", "1000", "COPY"])),
        "OK"
    );
    assert_eq!(bulk(&mut r, &["HGET", "h", "f"]).as_deref(), Some("v"));
    assert_eq!(int(&mut r, &["SISMEMBER", "st", "m"]), 1);
    until("the replica kept the migrated key", || {
        int(&mut rep, &["EXISTS", "h"]) == 0
    });
    assert_eq!(int(&mut rep, &["EXISTS", "st"]), 1, "COPY keeps it");
    // The target refuses one key of two: the other leaves, on the replica
    // too (DEL of what went, though the reply is an error).
    q(&mut s, &["MSET", "{t}1", "a", "{t}2", "b"]);
    ok(&mut r, &["SET", "{t}2", "taken"]);
    until("replica never got the keys", || {
        int(&mut rep, &["EXISTS", "{t}1", "{t}2"]) >= 2
    });
    assert_eq!(
        text(&migrate(
            &mut s,
            redis.port,
            &["", "0", "1000", "KEYS", "{t}1", "{t}2"]
        )),
        "ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(int(&mut s, &["EXISTS", "{t}1"]), 0);
    assert_eq!(int(&mut s, &["EXISTS", "{t}2"]), 1);
    until("the replica kept the key that left", || {
        int(&mut rep, &["EXISTS", "{t}1"]) == 0
    });
    assert_eq!(int(&mut rep, &["EXISTS", "{t}2"]), 1);
    // And back from Redis.
    assert_eq!(text(&migrate(&mut r, src.port, &["h", "0", "1000"])), "OK");
    assert_eq!(bulk(&mut s, &["HGET", "h", "f"]).as_deref(), Some("v"));
}

/// Where MIGRATE's deletions could not be replicated as DEL it is refused:
/// in a transaction that is not one shard's keyed commands (at EXEC,
/// before anything ran) and in scripts (which may run again from their
/// start). A WATCHer sees a key MIGRATE moved, not one it copied.
#[test]
fn refused_where_it_could_not_replicate_and_watch_as_redis() {
    let (src, dst) = (Server::start(2), Server::start(1));
    let mut s = src.conn();
    ok(&mut s, &["SET", "k", "v"]);
    ok(&mut s, &["MULTI"]);
    q(&mut s, &["PING"]);
    assert_eq!(
        as_str(&migrate(&mut s, dst.port, &["k", "0", "1000"])),
        "QUEUED"
    );
    assert_eq!(
        err(&mut s, &["EXEC"]),
        "EXECABORT Transaction discarded because of: ERR MIGRATE runs in a transaction here only with keyed commands of its keys' shard"
    );
    assert_eq!(int(&mut s, &["EXISTS", "k"]), 1);
    let port = dst.port.to_string();
    let script =
        format!("return redis.call('migrate', '127.0.0.1', '{port}', KEYS[1], '0', '1000')");
    let e = err(&mut s, &["EVAL", &script, "1", "k"]);
    assert!(
        e.starts_with("ERR This Redis command is not allowed from script"),
        "{e}"
    );
    assert_eq!(int(&mut s, &["EXISTS", "k"]), 1);
    // WATCH: a COPY changes nothing here; a move deletes the key.
    let mut w = src.conn();
    ok(&mut w, &["WATCH", "k"]);
    assert_eq!(
        text(&migrate(&mut s, dst.port, &["k", "0", "1000", "COPY"])),
        "OK"
    );
    ok(&mut w, &["MULTI"]);
    q(&mut w, &["PING"]);
    assert_eq!(strs(&q(&mut w, &["EXEC"])), [Some("PONG".into())]);
    ok(&mut w, &["WATCH", "k"]);
    assert_eq!(
        text(&migrate(&mut s, dst.port, &["k", "0", "1000", "REPLACE"])),
        "OK"
    );
    ok(&mut w, &["MULTI"]);
    q(&mut w, &["PING"]);
    assert_eq!(q(&mut w, &["EXEC"]), Value::Nil);
}

/// A target that trickles its reply a byte at a time and never ends the
/// line costs at most the timeout (for the whole line, not for each read)
/// and a bounded buffer: IOERR, the key kept.
#[test]
fn a_target_that_trickles_a_reply_gets_ioerr_in_time() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            use std::io::Write;
            for _ in 0..60 {
                if conn.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    let src = Server::start(1);
    let mut s = src.conn();
    ok(&mut s, &["SET", "k", "v"]);
    let started = Instant::now();
    assert_eq!(
        text(&migrate(&mut s, port, &["k", "0", "1000"])),
        "IOERR error or timeout reading to target instance"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2000), "{took:?}");
    assert_eq!(int(&mut s, &["EXISTS", "k"]), 1);
    let _ = target.join();
}

/// A target whose reply line runs past the line bound (1 KB) gets IOERR
/// as soon as the bound is reached, not at the end of the timeout: the
/// reply buffer is bounded.
#[test]
fn a_target_reply_line_past_the_bound_gets_ioerr_at_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            use std::io::{Read, Write};
            let _ = conn.write_all(&[b'x'; 4096]);
            // Hold the line open until MIGRATE gives up on it.
            let mut sink = [0u8; 4096];
            while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
        }
    });
    let src = Server::start(1);
    let mut s = src.conn();
    ok(&mut s, &["SET", "k", "v"]);
    let started = Instant::now();
    assert_eq!(
        text(&migrate(&mut s, port, &["k", "0", "10000"])),
        "IOERR error or timeout reading to target instance"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3000), "{took:?}");
    assert_eq!(int(&mut s, &["EXISTS", "k"]), 1);
    let _ = target.join();
}
