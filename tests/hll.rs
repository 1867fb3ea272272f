//! HyperLogLog commands against --threads 1 and --threads 4, RESP2 and
//! RESP3. Expected counts and bytes are redis-server 7.0.15's for the same
//! input; tests/differential.rs compares random HLL commands (and the raw
//! bytes GET returns) with a live redis-server.

mod common;
use common::*;

fn numbers(from: u32, to: u32) -> Vec<String> {
    (from..=to).map(|i| i.to_string()).collect()
}

fn pfadd(con: &mut redis::Connection, key: &str, elements: &[String]) -> i64 {
    let mut args = vec!["PFADD".to_string(), key.to_string()];
    args.extend_from_slice(elements);
    int(con, &args)
}

fn raw(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    match q(con, &["GET", key]) {
        Value::BulkString(b) => b,
        v => panic!("GET {key}: {v:?}"),
    }
}

#[test]
fn counts_and_bytes_as_redis() {
    for_each_setup(|_, con, _| {
        // Creating the key counts as a change, even with no element.
        assert_eq!(int(con, &["PFADD", "h"]), 1);
        assert_eq!(int(con, &["PFADD", "h"]), 0);
        assert_eq!(int(con, &["PFADD", "h", "a", "b", "c"]), 1);
        assert_eq!(int(con, &["PFADD", "h", "a", "b", "c"]), 0);
        assert_eq!(int(con, &["PFCOUNT", "h"]), 3);
        let bytes = raw(con, "h");
        assert_eq!(&bytes[..5], b"HYLL\x01");
        // The count is cached in the header, valid (top bit clear).
        assert_eq!(&bytes[8..16], &[3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            bulk(con, &["PFDEBUG", "DECODE", "h"]).as_deref(),
            Some("Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603")
        );
        assert_eq!(status(con, &["PFDEBUG", "ENCODING", "h"]), "sparse");
        assert_eq!(pfadd(con, "h2", &numbers(1, 300)), 1);
        assert_eq!(int(con, &["PFCOUNT", "h2"]), 302);
        assert_eq!(int(con, &["STRLEN", "h2"]), 698);
        assert_eq!(pfadd(con, "h3", &numbers(1000, 4000)), 1);
        assert_eq!(status(con, &["PFDEBUG", "ENCODING", "h3"]), "dense");
        assert_eq!(int(con, &["PFCOUNT", "h3"]), 3008);
        assert_eq!(int(con, &["STRLEN", "h3"]), 12304);
        // Several keys (on several shards with --threads 4): the union.
        assert_eq!(int(con, &["PFCOUNT", "h", "h2", "h3", "nokey"]), 3312);
        ok(con, &["PFMERGE", "merged", "h", "h2"]);
        assert_eq!(status(con, &["PFDEBUG", "ENCODING", "merged"]), "sparse");
        assert_eq!(int(con, &["PFCOUNT", "merged"]), 305);
        ok(con, &["PFMERGE", "merged", "h3"]);
        assert_eq!(status(con, &["PFDEBUG", "ENCODING", "merged"]), "dense");
        assert_eq!(int(con, &["PFCOUNT", "merged"]), 3312);
        // The bytes are the value: copied by GET/SET, still a HyperLogLog.
        let b = raw(con, "h2");
        let _: () = redis::cmd("SET").arg("copy").arg(&b).query(con).unwrap();
        assert_eq!(int(con, &["PFCOUNT", "copy"]), 302);
        assert_eq!(int(con, &["PFDEBUG", "TODENSE", "copy"]), 1);
        assert_eq!(int(con, &["PFDEBUG", "TODENSE", "copy"]), 0);
        assert_eq!(int(con, &["PFCOUNT", "copy"]), 302);
        let regs = q(con, &["PFDEBUG", "GETREG", "h"]);
        let Value::Array(regs) = regs else {
            panic!("{regs:?}")
        };
        assert_eq!(regs.len(), 16384);
    });
}

#[test]
fn bad_values_are_refused_and_corruption_detected() {
    for_each_setup(|_, con, _| {
        let not_hll = "WRONGTYPE Key is not a valid HyperLogLog string value.";
        let corrupt = "INVALIDOBJ Corrupted HLL object detected";
        ok(con, &["SET", "str", "abc"]);
        ok(con, &["SET", "num", "123"]);
        assert_eq!(err(con, &["PFADD", "str", "a"]), not_hll);
        assert_eq!(err(con, &["PFADD", "num", "a"]), not_hll);
        assert_eq!(err(con, &["PFCOUNT", "str"]), not_hll);
        q(con, &["LPUSH", "list", "a"]);
        assert_eq!(
            err(con, &["PFCOUNT", "list"]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            err(con, &["PFDEBUG", "ENCODING", "nokey"]),
            "ERR The specified key does not exist"
        );
        int(con, &["PFADD", "h", "a", "b", "c"]);
        assert_eq!(
            err(con, &["PFDEBUG", "NOSUCH", "h"]),
            "ERR Unknown PFDEBUG subcommand 'NOSUCH'"
        );
        // A sparse value with garbage after its opcodes covers too many
        // registers; a dense one of the wrong length is no HyperLogLog.
        int(con, &["APPEND", "h", "hello"]);
        assert_eq!(err(con, &["PFCOUNT", "h"]), corrupt);
        assert_eq!(err(con, &["PFCOUNT", "h", "nokey"]), corrupt);
        assert_eq!(err(con, &["PFMERGE", "dst", "h"]), corrupt);
        pfadd(con, "d", &numbers(1, 3000));
        int(con, &["APPEND", "d", "x"]);
        assert_eq!(err(con, &["PFCOUNT", "d"]), not_hll);
        int(con, &["SETRANGE", "h", "4", "x"]);
        assert_eq!(err(con, &["PFCOUNT", "h"]), not_hll);
        // Random bytes anywhere: an error or a count, never a crash.
        let mut rng = fastrand::Rng::with_seed(11);
        for round in 0..200 {
            let key = format!("f{round}");
            pfadd(con, &key, &numbers(0, rng.u32(1..2000)));
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(0..12400).to_string();
                let byte = [rng.u8(..)];
                let _: redis::Value = redis::cmd("SETRANGE")
                    .arg(&key)
                    .arg(&at)
                    .arg(&byte[..])
                    .query(con)
                    .unwrap();
            }
            let _ = q(con, &["PFCOUNT", &key]);
            let _ = q(con, &["PFADD", &key, "x", "y"]);
            let _ = q(con, &["PFMERGE", "sink", &key]);
        }
        assert_eq!(status(con, &["PING"]), "PONG");
    });
}

#[test]
fn watch_and_selftest() {
    let s = Server::start(2);
    let mut a = s.conn();
    let mut b = s.conn();
    int(&mut a, &["PFADD", "w", "a"]);
    // An add that changes no register is no change.
    ok(&mut a, &["WATCH", "w"]);
    assert_eq!(int(&mut b, &["PFADD", "w", "a"]), 0);
    assert!(exec_runs(&mut a));
    // PFCOUNT that refreshes the cached count changes the value (Redis
    // signals it too); the next one reads the cache and changes nothing.
    ok(&mut a, &["WATCH", "w"]);
    assert_eq!(int(&mut b, &["PFCOUNT", "w"]), 1);
    assert!(!exec_runs(&mut a));
    ok(&mut a, &["WATCH", "w"]);
    assert_eq!(int(&mut b, &["PFCOUNT", "w"]), 1);
    assert!(exec_runs(&mut a));
    assert_eq!(status(&mut a, &["PFSELFTEST"]), "OK");
}
