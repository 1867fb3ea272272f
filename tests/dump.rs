//! DUMP and RESTORE, against --threads 1 and --threads 4, over RESP2 and
//! RESP3, with Redis 7.0.15's replies. tests/differential.rs exchanges
//! payloads with a live redis-server both ways.

mod common;
use common::*;

use redis::Value;

fn payload(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    match q(con, &["DUMP", key]) {
        Value::BulkString(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(con: &mut redis::Connection, key: &str, ttl: &str, p: &[u8], opts: &[&str]) -> Value {
    let mut c: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), p];
    c.extend(opts.iter().map(|o| o.as_bytes()));
    q(con, &c)
}

#[test]
fn dump_and_restore_every_type() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "str", "hello"]);
        q(con, &["RPUSH", "list", "a", "1", "b"]);
        q(con, &["SADD", "set", "x", "2"]);
        q(con, &["HSET", "hash", "f", "v"]);
        q(con, &["ZADD", "zset", "1.5", "m", "-inf", "n"]);
        assert_eq!(q(con, &["DUMP", "nokey"]), Value::Nil);
        for (k, read) in [
            ("str", vec!["GET", "str2"]),
            ("list", vec!["LRANGE", "list2", "0", "-1"]),
            ("set", vec!["SMEMBERS", "set2"]),
            ("hash", vec!["HGETALL", "hash2"]),
            ("zset", vec!["ZRANGE", "zset2", "0", "-1", "WITHSCORES"]),
        ] {
            let p = payload(con, k);
            // The copy's key is on another shard at --threads 4.
            let copy = format!("{k}2");
            assert_eq!(restore(con, &copy, "0", &p, &[]), Value::Okay, "{k}");
            let mut orig = read.clone();
            orig[1] = k;
            let (mut a, mut b) = (q(con, &orig), q(con, &read));
            // A set's members come in no particular order (an array in
            // RESP2, a set in RESP3).
            for v in [&mut a, &mut b] {
                if let (Value::Array(x) | Value::Set(x), "set") = (v, k) {
                    x.sort_by_key(|e| format!("{e:?}"));
                }
            }
            assert_eq!(a, b, "{k}");
            assert_eq!(int(con, &["TTL", &copy]), -1);
            // The copy dumps to the same payload (not a set: Redis dumps a
            // hashtable set in its dict's order, which a copy need not keep).
            if k != "set" {
                assert_eq!(payload(con, &copy), p, "{k}");
            }
        }
    });
}

#[test]
fn restore_options_and_errors() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "src", "v"]);
        let p = payload(con, "src");
        assert_eq!(
            err(con, &[b"RESTORE".as_slice(), b"src", b"0", &p]),
            "BUSYKEY Target key name already exists."
        );
        assert_eq!(restore(con, "src", "0", &p, &["REPLACE"]), Value::Okay);
        // A relative TTL, and an absolute one.
        assert_eq!(restore(con, "ttl", "100000", &p, &[]), Value::Okay);
        let pttl = int(con, &["PTTL", "ttl"]);
        assert!((99_000..=100_000).contains(&pttl), "{pttl}");
        let at = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
            + 50_000)
            .to_string();
        assert_eq!(restore(con, "abs", &at, &p, &["ABSTTL"]), Value::Okay);
        let pttl = int(con, &["PTTL", "abs"]);
        assert!((40_000..=50_000).contains(&pttl), "{pttl}");
        // Already expired: not created; REPLACE still removed the old key.
        assert_eq!(
            restore(con, "abs", "1", &p, &["ABSTTL", "REPLACE"]),
            Value::Okay
        );
        assert_eq!(int(con, &["EXISTS", "abs"]), 0);
        // IDLETIME (LRU, the default policy) sets OBJECT IDLETIME.
        assert_eq!(
            restore(con, "idle", "0", &p, &["IDLETIME", "1000"]),
            Value::Okay
        );
        let idle = int(con, &["OBJECT", "IDLETIME", "idle"]);
        assert!((1000..=1002).contains(&idle), "{idle}");

        let e = |con: &mut redis::Connection, key: &str, ttl: &str, p: &[u8], opts: &[&str]| {
            err_text(&restore(con, key, ttl, p, opts)).unwrap_or_default()
        };
        assert_eq!(
            e(con, "k", "-1", &p, &[]),
            "ERR Invalid TTL value, must be >= 0"
        );
        assert_eq!(
            e(con, "k", "x", &p, &[]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(e(con, "k", "0", &p, &["BOGUS"]), "ERR syntax error");
        assert_eq!(
            e(con, "k", "0", &p, &["IDLETIME", "-1"]),
            "ERR Invalid IDLETIME value, must be >= 0"
        );
        assert_eq!(
            e(con, "k", "0", &p, &["FREQ", "256"]),
            "ERR Invalid FREQ value, must be >= 0 and <= 255"
        );
        assert_eq!(
            e(con, "k", "0", &p, &["IDLETIME", "1", "FREQ", "1"]),
            "ERR syntax error"
        );
        let mut bad = p.clone();
        bad[1] ^= 0xFF;
        assert_eq!(
            e(con, "k", "0", &bad, &[]),
            "ERR DUMP payload version or checksum are wrong"
        );
        assert_eq!(
            e(con, "k", "0", b"short", &[]),
            "ERR DUMP payload version or checksum are wrong"
        );
        assert_eq!(int(con, &["EXISTS", "k"]), 0);
        assert_eq!(
            err(con, &["RESTORE", "k", "0"]),
            "ERR wrong number of arguments for 'restore' command"
        );
    });
}

#[test]
fn restore_signals_watch() {
    for_each_setup(|srv, con, _resp3| {
        ok(con, &["SET", "w", "1"]);
        let p = payload(con, "w");
        let mut other = srv.conn();
        ok(con, &["WATCH", "w"]);
        assert_eq!(restore(&mut other, "w", "0", &p, &["REPLACE"]), Value::Okay);
        ok(con, &["MULTI"]);
        assert_eq!(status(con, &["PING"]), "QUEUED");
        assert_eq!(q(con, &["EXEC"]), Value::Nil);
    });
}
