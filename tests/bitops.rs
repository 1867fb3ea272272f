//! The bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO) against --threads 1 and --threads 4, over RESP2 and RESP3.
//! Expected replies are those of redis-server 7.0.15; tests/differential.rs
//! also compares random bit commands with a live redis-server.

mod common;
use common::*;

use redis::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const SYNTAX: &str = "ERR syntax error";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn ints(v: &Value) -> Vec<Option<i64>> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::Int(i) => Some(*i),
                Value::Nil => None,
                other => panic!("not an integer: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn bytes(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    match q(con, &["GET", key]) {
        Value::BulkString(b) => b,
        Value::Nil => Vec::new(),
        other => panic!("GET {key}: {other:?}"),
    }
}

#[test]
fn bitcount_checks_the_key_before_the_range() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "str", "xxxx"]);
        // Two negative indexes in reverse order count nothing (before
        // clamping, both would have become 0: the first byte).
        assert_eq!(int(con, &["BITCOUNT", "str", "-6", "-7"]), 0);
        assert_eq!(int(con, &["BITCOUNT", "str", "-6", "-15", "BIT"]), 0);
        assert_eq!(int(con, &["BITCOUNT", "str", "-6", "0"]), 4);
        assert_eq!(int(con, &["BITCOUNT", "str", "1", "9", "bit"]), 5);
        // A missing key counts 0 whatever its range says.
        assert_eq!(int(con, &["BITCOUNT", "nokey", "a", "b"]), 0);
        assert_eq!(err(con, &["BITCOUNT", "str", "a", "1"]), NOT_INT);
        assert_eq!(err(con, &["BITCOUNT", "str", "0", "1", "bits"]), SYNTAX);
        assert_eq!(err(con, &["BITCOUNT", "str", "0"]), SYNTAX);
        ok(con, &["SET", "n", "12"]);
        assert_eq!(int(con, &["BITCOUNT", "n"]), 6, "the digits' bits");
    });
}

#[test]
fn bitpos_finds_set_and_clear_bits() {
    for_each_setup(|_srv, con, _resp3| {
        let set = |con: &mut redis::Connection, k: &str, v: &[u8]| {
            assert_eq!(q(con, &[b"SET".as_slice(), k.as_bytes(), v]), Value::Okay);
        };
        set(con, "k", b"\xff\xf0\x00");
        assert_eq!(int(con, &["BITPOS", "k", "0"]), 12);
        assert_eq!(int(con, &["BITPOS", "k", "1", "2"]), -1);
        assert_eq!(int(con, &["BITPOS", "k", "1", "0", "-1", "bit"]), 0);
        assert_eq!(int(con, &["BITPOS", "k", "0", "2", "-1", "BIT"]), 12);
        assert_eq!(int(con, &["BITPOS", "k", "1", "7", "15", "bit"]), 7);
        set(con, "ones", b"\xff\xff\xff");
        // No end given: the clear bit just past the string.
        assert_eq!(int(con, &["BITPOS", "ones", "0"]), 24);
        assert_eq!(int(con, &["BITPOS", "ones", "0", "1"]), 24);
        // An end given: not found.
        assert_eq!(int(con, &["BITPOS", "ones", "0", "0", "-1"]), -1);
        set(con, "zeros", b"\x00\x00");
        assert_eq!(int(con, &["BITPOS", "zeros", "1"]), -1);
        assert_eq!(int(con, &["BITPOS", "zeros", "0"]), 0);
        // A missing key is zeros all the way, before its range is looked at.
        assert_eq!(int(con, &["BITPOS", "nokey", "1"]), -1);
        assert_eq!(int(con, &["BITPOS", "nokey", "0", "x"]), 0);
        set(con, "empty", b"");
        assert_eq!(int(con, &["BITPOS", "empty", "0"]), -1);
        assert_eq!(
            err(con, &["BITPOS", "k", "2"]),
            "ERR The bit argument must be 1 or 0."
        );
        assert_eq!(err(con, &["BITPOS", "k", "x"]), NOT_INT);
        assert_eq!(err(con, &["BITPOS", "k", "1", "0", "1", "bits"]), SYNTAX);
        assert_eq!(
            err(con, &["BITPOS", "k", "1", "0", "1", "bit", "x"]),
            SYNTAX
        );
        assert_eq!(int(con, &["RPUSH", "list", "a"]), 1);
        assert_eq!(err(con, &["BITPOS", "list", "1"]), WRONGTYPE);
    });
}

#[test]
fn bitop_across_shards() {
    for_each_setup(|_srv, con, _resp3| {
        // No hash tags: at --threads 4 these keys live on different shards.
        let keys = ["src:a", "src:b", "src:c", "dst:x"];
        assert_eq!(
            q(con, &[b"SET".as_slice(), b"src:a", b"\xf0\x0f"]),
            Value::Okay
        );
        assert_eq!(q(con, &[b"SET".as_slice(), b"src:b", b"\xff"]), Value::Okay);
        assert_eq!(int(con, &["BITOP", "AND", keys[3], keys[0], keys[1]]), 2);
        assert_eq!(bytes(con, keys[3]), b"\xf0\x00");
        assert_eq!(int(con, &["BITOP", "or", keys[3], keys[0], keys[1]]), 2);
        assert_eq!(bytes(con, keys[3]), b"\xff\x0f");
        assert_eq!(int(con, &["BITOP", "XOR", keys[3], keys[0], keys[1]]), 2);
        assert_eq!(bytes(con, keys[3]), b"\x0f\x0f");
        // A source named several times (folded where it lies, not copied).
        assert_eq!(
            int(con, &["BITOP", "XOR", keys[3], keys[0], keys[0], keys[0]]),
            2
        );
        assert_eq!(bytes(con, keys[3]), b"\xf0\x0f");
        // A missing source is zeros as long as the longest source.
        assert_eq!(int(con, &["BITOP", "AND", keys[3], keys[0], keys[2]]), 2);
        assert_eq!(bytes(con, keys[3]), b"\x00\x00");
        assert_eq!(int(con, &["BITOP", "NOT", keys[3], keys[1]]), 1);
        assert_eq!(bytes(con, keys[3]), b"\x00");
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", keys[3]]).as_deref(),
            Some("raw")
        );
        // The result replaces the destination, TTL included.
        assert_eq!(int(con, &["EXPIRE", keys[3], "100"]), 1);
        assert_eq!(int(con, &["BITOP", "OR", keys[3], keys[0]]), 2);
        assert_eq!(int(con, &["TTL", keys[3]]), -1);
        // All sources missing or empty: the destination is deleted.
        assert_eq!(int(con, &["BITOP", "OR", keys[3], keys[2], "src:none"]), 0);
        assert_eq!(int(con, &["EXISTS", keys[3]]), 0);
        // Integers are operated on as their digits.
        ok(con, &["SET", "src:n", "12"]);
        assert_eq!(int(con, &["BITOP", "NOT", keys[3], "src:n"]), 2);
        assert_eq!(bytes(con, keys[3]), [!b'1', !b'2']);
        assert_eq!(
            err(con, &["BITOP", "NOT", keys[3], keys[0], keys[1]]),
            "ERR BITOP NOT must be called with a single source key."
        );
        assert_eq!(err(con, &["BITOP", "NAND", keys[3], keys[0]]), SYNTAX);
        assert_eq!(
            err(con, &["BITOP", "AND", keys[3]]),
            "ERR wrong number of arguments for 'bitop' command"
        );
        assert_eq!(int(con, &["RPUSH", "src:list", "a"]), 1);
        ok(con, &["SET", keys[3], "keep"]);
        assert_eq!(
            err(con, &["BITOP", "AND", keys[3], keys[0], "src:list"]),
            WRONGTYPE
        );
        assert_eq!(bulk(con, &["GET", keys[3]]).as_deref(), Some("keep"));
    });
}

/// A store signals its destination even when it writes the value that
/// was there (Redis's setKey), and never its sources. Across shards the
/// command runs on gathered copies, and only a changed digest used to be
/// written back: a WATCHer of the destination missed a same-value BITOP or
/// SORT ... STORE at --threads 4.
#[test]
fn stores_signal_their_destination_to_watch_even_unchanged() {
    for_each_setup(|srv, con, _resp3| {
        let mut other = srv.conn();
        ok(con, &["SET", "w:src", "ab"]);
        assert_eq!(int(con, &["RPUSH", "w:list", "3", "1", "2"]), 3);
        let stores: [&[&str]; 2] = [
            &["BITOP", "NOT", "w:dst", "w:src"],
            &["SORT", "w:list", "STORE", "w:sorted"],
        ];
        for (store, dst, src) in [
            (stores[0], "w:dst", "w:src"),
            (stores[1], "w:sorted", "w:list"),
        ] {
            let exec_after_store =
                |con: &mut redis::Connection, other: &mut redis::Connection, watched: &str| {
                    ok(con, &["WATCH", watched]);
                    q(other, store);
                    ok(con, &["MULTI"]);
                    assert_eq!(status(con, &["PING"]), "QUEUED");
                    q(con, &["EXEC"])
                };
            q(&mut other, store);
            assert_eq!(
                exec_after_store(con, &mut other, dst),
                Value::Nil,
                "{store:?}: the destination was written (same value)"
            );
            assert_eq!(
                strs(&exec_after_store(con, &mut other, src)),
                vec![Some("PONG".to_string())],
                "{store:?}: the source was only read"
            );
        }
    });
}

/// BITOP across shards reads its sources at one instant: while another
/// client keeps writing two keys on different shards to the same value
/// with MSET, XOR of the two is always all zeros.
#[test]
fn bitop_reads_a_consistent_snapshot_across_shards() {
    let srv = Server::start(4);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut con = srv.conn();
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let v = format!("{i:x}").repeat(1 + (i % 5) as usize);
                ok(&mut con, &["MSET", "snap:a", &v, "snap:b", &v]);
                i += 1;
            }
            i
        })
    };
    let mut con = srv.conn();
    ok(&mut con, &["MSET", "snap:a", "x", "snap:b", "x"]);
    for round in 0..3000 {
        let n = int(&mut con, &["BITOP", "XOR", "snap:d", "snap:a", "snap:b"]);
        let d = bytes(&mut con, "snap:d");
        assert_eq!(d.len() as i64, n);
        assert!(
            d.iter().all(|&b| b == 0),
            "round {round}: torn read, XOR = {d:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("writer");
    assert!(writes > 0, "the writer ran");
}

#[test]
fn bitfield_get_set_incrby() {
    for_each_setup(|_srv, con, _resp3| {
        // redis.io's examples.
        assert_eq!(
            ints(&q(
                con,
                &["BITFIELD", "bf", "INCRBY", "i5", "100", "1", "GET", "u4", "0"]
            )),
            vec![Some(1), Some(0)]
        );
        assert_eq!(
            ints(&q(
                con,
                &["BITFIELD", "bf2", "SET", "i8", "#0", "100", "SET", "i8", "#1", "200"]
            )),
            vec![Some(0), Some(0)]
        );
        assert_eq!(
            ints(&q(
                con,
                &["BITFIELD", "bf2", "GET", "i8", "#0", "GET", "i8", "8", "GET", "u8", "8"]
            )),
            vec![Some(100), Some(-56), Some(200)]
        );
        // Overflow: WRAP (the default), SAT and FAIL.
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(ints(&q(
                con,
                &[
                    "BITFIELD", "ov", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY",
                    "u2", "102", "1",
                ],
            )));
        }
        assert_eq!(
            seen,
            vec![
                vec![Some(1), Some(1)],
                vec![Some(2), Some(2)],
                vec![Some(3), Some(3)],
                vec![Some(0), Some(3)],
            ]
        );
        assert_eq!(
            ints(&q(
                con,
                &["BITFIELD", "ov", "OVERFLOW", "FAIL", "INCRBY", "u2", "102", "1"]
            )),
            vec![None]
        );
        assert_eq!(
            ints(&q(
                con,
                &["BITFIELD", "ov", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "-1000"]
            )),
            vec![Some(-128)]
        );
        // SET returns the old value; an unsigned field takes a negative
        // value's 64-bit pattern (WRAP) or saturates upwards (SAT).
        assert_eq!(
            ints(&q(
                con,
                &["BITFIELD", "s", "SET", "u8", "0", "-1", "GET", "u8", "0"]
            )),
            vec![Some(0), Some(255)]
        );
        assert_eq!(
            ints(&q(
                con,
                &["BITFIELD", "s", "OVERFLOW", "SAT", "SET", "u4", "0", "-5", "GET", "u4", "0"]
            )),
            vec![Some(15), Some(15)]
        );
        // Redis's comparison wraps for i64::MIN into a narrower signed
        // field: it saturates to the maximum there.
        assert_eq!(
            ints(&q(
                con,
                &[
                    "BITFIELD",
                    "s",
                    "OVERFLOW",
                    "SAT",
                    "SET",
                    "i14",
                    "20",
                    "-9223372036854775808",
                    "GET",
                    "i14",
                    "20"
                ],
            )),
            vec![Some(0), Some(8191)]
        );
        assert_eq!(
            ints(&q(
                con,
                &[
                    "BITFIELD",
                    "s64",
                    "SET",
                    "i64",
                    "0",
                    "-9223372036854775808",
                    "INCRBY",
                    "i64",
                    "0",
                    "-1"
                ]
            )),
            vec![Some(0), Some(i64::MAX)]
        );
        // Only GETs: a missing key reads zeros and is not created.
        assert_eq!(
            ints(&q(con, &["BITFIELD", "none", "GET", "u8", "0"])),
            vec![Some(0)]
        );
        assert_eq!(int(con, &["EXISTS", "none"]), 0);
        // Written bits grow the string to the furthest one.
        assert_eq!(
            ints(&q(con, &["BITFIELD", "grow", "SET", "u1", "100", "1"])),
            vec![Some(0)]
        );
        assert_eq!(int(con, &["STRLEN", "grow"]), 13);
        assert_eq!(int(con, &["GETBIT", "grow", "100"]), 1);
        assert_eq!(q(con, &["BITFIELD", "grow"]), Value::Array(vec![]));
    });
}

/// A BITFIELD on a missing key whose every write fails on overflow creates
/// the key (Redis's dbAdd) but changes nothing a WATCHer sees.
#[test]
fn bitfield_that_changes_nothing_keeps_a_watch() {
    for_each_setup(|srv, con, _resp3| {
        let mut other = srv.conn();
        ok(con, &["WATCH", "bfw"]);
        assert_eq!(
            ints(&q(
                &mut other,
                &["BITFIELD", "bfw", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "10"]
            )),
            vec![None]
        );
        assert_eq!(int(&mut other, &["STRLEN", "bfw"]), 1);
        ok(con, &["MULTI"]);
        assert_eq!(status(con, &["PING"]), "QUEUED");
        assert_eq!(strs(&q(con, &["EXEC"])), vec![Some("PONG".to_string())]);
        // A write that changes a bit is a change.
        ok(con, &["WATCH", "bfw"]);
        assert_eq!(
            ints(&q(&mut other, &["BITFIELD", "bfw", "SET", "u2", "0", "1"])),
            vec![Some(0)]
        );
        ok(con, &["MULTI"]);
        assert_eq!(status(con, &["PING"]), "QUEUED");
        assert_eq!(q(con, &["EXEC"]), Value::Nil);
    });
}

#[test]
fn bitfield_errors() {
    for_each_setup(|_srv, con, _resp3| {
        let bad_type = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
        assert_eq!(err(con, &["BITFIELD", "k", "GET", "u64", "0"]), bad_type);
        assert_eq!(err(con, &["BITFIELD", "k", "GET", "i65", "0"]), bad_type);
        assert_eq!(err(con, &["BITFIELD", "k", "GET", "x8", "0"]), bad_type);
        assert_eq!(err(con, &["BITFIELD", "k", "GET", "i0", "0"]), bad_type);
        assert_eq!(
            err(con, &["BITFIELD", "k", "GET", "u8", "-1"]),
            "ERR bit offset is not an integer or out of range"
        );
        assert_eq!(
            err(con, &["BITFIELD", "k", "GET", "u8", "4294967296"]),
            "ERR bit offset is not an integer or out of range"
        );
        assert_eq!(err(con, &["BITFIELD", "k", "SET", "u8", "0", "x"]), NOT_INT);
        assert_eq!(
            err(con, &["BITFIELD", "k", "OVERFLOW", "SOMETIMES"]),
            "ERR Invalid OVERFLOW type specified"
        );
        assert_eq!(err(con, &["BITFIELD", "k", "GET", "u8"]), SYNTAX);
        assert_eq!(err(con, &["BITFIELD", "k", "FROB", "u8", "0"]), SYNTAX);
        assert_eq!(
            err(con, &["BITFIELD_RO", "k", "SET", "u8", "0", "1"]),
            "ERR BITFIELD_RO only supports the GET subcommand"
        );
        // Nothing ran: the key was never created.
        assert_eq!(int(con, &["EXISTS", "k"]), 0);
        assert_eq!(
            ints(&q(con, &["BITFIELD_RO", "k", "GET", "u8", "0"])),
            vec![Some(0)]
        );
        assert_eq!(int(con, &["RPUSH", "l", "a"]), 1);
        assert_eq!(err(con, &["BITFIELD", "l", "GET", "u8", "0"]), WRONGTYPE);
        assert_eq!(
            err(con, &["BITFIELD", "l", "SET", "u8", "0", "1"]),
            WRONGTYPE
        );
        assert_eq!(int(con, &["LLEN", "l"]), 1);
    });
}
