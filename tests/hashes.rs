//! Hash commands, against --threads 1 and --threads 4, over RESP2 and RESP3.
//! Expected replies are those of redis-server 7.0.15 (run them against it
//! with HALOCLINE_TEST_REDIS=/path/to/redis-server).

mod common;
use common::*;
use std::collections::{HashMap, HashSet};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn sorted(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = strs(v).into_iter().map(|x| x.unwrap_or_default()).collect();
    s.sort();
    s
}

fn encoding(con: &mut redis::Connection, key: &str) -> String {
    bulk(con, &["OBJECT", "ENCODING", key]).unwrap_or_default()
}

/// HGETALL as a field → value map, whatever the protocol.
fn getall(con: &mut redis::Connection, key: &str) -> HashMap<String, String> {
    pairs(&q(con, &["HGETALL", key]))
        .into_iter()
        .map(|(k, v)| (k, as_str(&v)))
        .collect()
}

#[test]
fn hset_hget_and_friends() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(int(con, &["HSET", "h", "a", "1", "b", "2"]), 2);
        // Updating counts nothing; a field named twice counts once.
        assert_eq!(int(con, &["HSET", "h", "a", "10", "c", "3", "c", "4"]), 1);
        assert_eq!(bulk(con, &["HGET", "h", "a"]).as_deref(), Some("10"));
        assert_eq!(bulk(con, &["HGET", "h", "c"]).as_deref(), Some("4"));
        assert_eq!(bulk(con, &["HGET", "h", "zz"]), None);
        assert_eq!(bulk(con, &["HGET", "nokey", "a"]), None);
        assert_eq!(
            strs(&q(con, &["HMGET", "h", "a", "zz", "b"])),
            vec![Some("10".into()), None, Some("2".into())]
        );
        assert_eq!(
            strs(&q(con, &["HMGET", "nokey", "a", "b"])),
            vec![None, None]
        );
        assert_eq!(int(con, &["HLEN", "h"]), 3);
        assert_eq!(int(con, &["HLEN", "nokey"]), 0);
        assert_eq!(int(con, &["HEXISTS", "h", "a"]), 1);
        assert_eq!(int(con, &["HEXISTS", "h", "zz"]), 0);
        assert_eq!(int(con, &["HEXISTS", "nokey", "a"]), 0);
        assert_eq!(int(con, &["HSTRLEN", "h", "a"]), 2);
        assert_eq!(int(con, &["HSTRLEN", "h", "zz"]), 0);
        assert_eq!(int(con, &["HSTRLEN", "nokey", "zz"]), 0);

        assert_eq!(int(con, &["HSETNX", "h", "a", "x"]), 0);
        assert_eq!(int(con, &["HSETNX", "h", "d", "x"]), 1);
        assert_eq!(int(con, &["HSETNX", "new", "f", "v"]), 1);
        assert_eq!(bulk(con, &["HGET", "new", "f"]).as_deref(), Some("v"));
        ok(con, &["HMSET", "h", "e", "5", "a", "1"]);
        assert_eq!(bulk(con, &["HGET", "h", "a"]).as_deref(), Some("1"));

        // Binary-safe fields and values, empty ones included.
        let (f, v): (&[u8], &[u8]) = (b"f\x00\r\n", b"\x00\xff\r\nv");
        assert_eq!(q(con, &[b"HSET".as_slice(), b"bin", f, v]), Value::Int(1));
        assert_eq!(
            q(con, &[b"HGET".as_slice(), b"bin", f]),
            Value::BulkString(v.to_vec())
        );
        assert_eq!(int(con, &["HSET", "bin", "", ""]), 1);
        assert_eq!(bulk(con, &["HGET", "bin", ""]).as_deref(), Some(""));

        // Arity.
        for args in [
            &["HSET", "h", "a"][..],
            &["HSET", "h", "a", "1", "b"],
            &["HSET", "h"],
        ] {
            assert_eq!(
                err(con, args),
                "ERR wrong number of arguments for 'hset' command"
            );
        }
        assert_eq!(
            err(con, &["HMSET", "h", "a", "1", "b"]),
            "ERR wrong number of arguments for 'hmset' command"
        );
        assert_eq!(
            err(con, &["HGET", "h"]),
            "ERR wrong number of arguments for 'hget' command"
        );
        assert_eq!(
            err(con, &["HMGET", "h"]),
            "ERR wrong number of arguments for 'hmget' command"
        );
    });
}

#[test]
fn hdel_deletes_empty_hash() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["HMSET", "h", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(int(con, &["HDEL", "h", "x", "y"]), 0);
        assert_eq!(int(con, &["HDEL", "h", "a", "c", "f", "a"]), 2);
        assert_eq!(getall(con, "h"), HashMap::from([("b".into(), "2".into())]));
        assert_eq!(int(con, &["HDEL", "h", "b", "z"]), 1);
        assert_eq!(int(con, &["EXISTS", "h"]), 0);
        assert_eq!(q(con, &["TYPE", "h"]), Value::SimpleString("none".into()));
        assert_eq!(int(con, &["HDEL", "nokey", "a"]), 0);
        // Big (hashtable) hash too.
        for i in 0..600 {
            int(con, &["HSET", "big", &format!("f{i}"), "v"]);
        }
        assert_eq!(encoding(con, "big"), "hashtable");
        let mut args = vec!["HDEL".to_string(), "big".into()];
        args.extend((0..650).map(|i| format!("f{i}")));
        assert_eq!(int(con, &args), 600);
        assert_eq!(int(con, &["EXISTS", "big"]), 0);
    });
}

#[test]
fn getall_keys_vals_and_reply_types() {
    for_each_setup(|_srv, con, resp3| {
        ok(con, &["HMSET", "h", "a", "1", "b", "2", "c", "3"]);
        let all = q(con, &["HGETALL", "h"]);
        if resp3 {
            assert!(
                matches!(all, Value::Map(_)),
                "RESP3 HGETALL is a map: {all:?}"
            );
        } else {
            assert!(matches!(all, Value::Array(_)), "{all:?}");
        }
        // A listpack keeps insertion order.
        let order: Vec<String> = pairs(&all).into_iter().map(|(k, _)| k).collect();
        assert_eq!(order, vec!["a", "b", "c"]);
        assert_eq!(
            getall(con, "h"),
            HashMap::from([
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".into(), "3".into())
            ])
        );
        let keys = q(con, &["HKEYS", "h"]);
        assert!(matches!(keys, Value::Array(_)), "{keys:?}");
        assert_eq!(sorted(&keys), vec!["a", "b", "c"]);
        assert_eq!(sorted(&q(con, &["HVALS", "h"])), vec!["1", "2", "3"]);
        // Missing key: empty map / arrays.
        let empty = q(con, &["HGETALL", "nokey"]);
        if resp3 {
            assert_eq!(empty, Value::Map(vec![]));
        } else {
            assert_eq!(empty, Value::Array(vec![]));
        }
        assert_eq!(q(con, &["HKEYS", "nokey"]), Value::Array(vec![]));
        assert_eq!(q(con, &["HVALS", "nokey"]), Value::Array(vec![]));
    });
}

#[test]
fn encodings_and_conversion() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["HSET", "small", "a", "1"]);
        assert_eq!(encoding(con, "small"), "listpack");
        // Entries limit (default 512).
        for i in 0..512 {
            int(con, &["HSET", "h", &format!("f{i}"), "v"]);
        }
        assert_eq!(encoding(con, "h"), "listpack");
        int(con, &["HSET", "h", "one-more", "v"]);
        assert_eq!(encoding(con, "h"), "hashtable");
        // Never converts back.
        let mut args = vec!["HDEL".to_string(), "h".into()];
        args.extend((0..512).map(|i| format!("f{i}")));
        assert_eq!(int(con, &args), 512);
        assert_eq!(encoding(con, "h"), "hashtable");
        // Value and field length limit (default 64).
        int(con, &["HSET", "v", "f", &"x".repeat(64)]);
        assert_eq!(encoding(con, "v"), "listpack");
        int(con, &["HSET", "v", "f", &"x".repeat(65)]);
        assert_eq!(encoding(con, "v"), "hashtable");
        int(con, &["HSET", "k", &"k".repeat(65), "1"]);
        assert_eq!(encoding(con, "k"), "hashtable");
        // The limits follow CONFIG SET (ziplist aliases too).
        ok(con, &["CONFIG", "SET", "hash-max-ziplist-entries", "2"]);
        ok(con, &["CONFIG", "SET", "hash-max-listpack-value", "8"]);
        ok(con, &["HMSET", "c", "a", "1", "b", "2"]);
        assert_eq!(encoding(con, "c"), "listpack");
        int(con, &["HSET", "c", "c", "3"]);
        assert_eq!(encoding(con, "c"), "hashtable");
        // HINCRBYFLOAT results are checked against the value limit.
        int(con, &["HSET", "f1", "tmp", "0"]);
        int(con, &["HSET", "f2", "tmp", "0"]);
        bulk(con, &["HINCRBYFLOAT", "f1", "tmp", "0.000005"]);
        bulk(con, &["HINCRBYFLOAT", "f2", "tmp", "0.0000005"]);
        assert_eq!(encoding(con, "f1"), "listpack");
        assert_eq!(encoding(con, "f2"), "hashtable");
        ok(con, &["CONFIG", "SET", "hash-max-listpack-entries", "512"]);
        ok(con, &["CONFIG", "SET", "hash-max-listpack-value", "64"]);
        // The data survives conversions.
        assert_eq!(bulk(con, &["HGET", "c", "b"]).as_deref(), Some("2"));
        assert_eq!(int(con, &["HLEN", "h"]), 1);
    });
}

#[test]
fn hincrby_and_hincrbyfloat() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(int(con, &["HINCRBY", "h", "n", "2"]), 2);
        assert_eq!(int(con, &["HINCRBY", "h", "n", "-5"]), -3);
        int(con, &["HSET", "h", "big", "17179869184"]);
        assert_eq!(
            int(con, &["HINCRBY", "h", "big", "17179869184"]),
            34359738368
        );
        int(con, &["HSET", "h", "neg", "-9223372036854775484"]);
        assert_eq!(
            int(con, &["HINCRBY", "h", "neg", "-1"]),
            -9223372036854775485
        );
        assert_eq!(
            err(con, &["HINCRBY", "h", "neg", "-10000"]),
            "ERR increment or decrement would overflow"
        );
        for bad in [" 11", "11 ", "1.5", "abc", ""] {
            int(con, &["HSET", "h", "s", bad]);
            assert_eq!(
                err(con, &["HINCRBY", "h", "s", "1"]),
                "ERR hash value is not an integer"
            );
        }
        assert_eq!(err(con, &["HINCRBY", "h", "n", "x"]), NOT_INT);
        assert_eq!(err(con, &["HINCRBY", "h", "n", "1.0"]), NOT_INT);

        assert_eq!(
            bulk(con, &["HINCRBYFLOAT", "f", "x", "2.5"]).as_deref(),
            Some("2.5")
        );
        assert_eq!(
            bulk(con, &["HINCRBYFLOAT", "f", "x", "3.5"]).as_deref(),
            Some("6")
        );
        // Pretty printing (issue #2846).
        assert_eq!(
            bulk(con, &["HINCRBYFLOAT", "p", "v", "1.23"]).as_deref(),
            Some("1.23")
        );
        assert_eq!(
            bulk(con, &["HINCRBYFLOAT", "p", "v", "0.77"]).as_deref(),
            Some("2")
        );
        assert_eq!(
            bulk(con, &["HINCRBYFLOAT", "p", "v", "-0.1"]).as_deref(),
            Some("1.9")
        );
        assert_eq!(bulk(con, &["HGET", "p", "v"]).as_deref(), Some("1.9"));
        // Works on values written by HINCRBY (integers).
        assert_eq!(
            bulk(con, &["HINCRBYFLOAT", "h", "n", "0.5"]).as_deref(),
            Some("-2.5")
        );
        for bad in [" 11", "11 ", "abc", "1\x002"] {
            int(con, &["HSET", "h", "s", bad]);
            assert_eq!(
                err(con, &["HINCRBYFLOAT", "h", "s", "1"]),
                "ERR hash value is not a float"
            );
        }
        assert_eq!(
            err(con, &["HINCRBYFLOAT", "h", "n", "x"]),
            "ERR value is not a valid float"
        );
        for inf in ["+inf", "-inf", "inf"] {
            assert_eq!(
                err(con, &["HINCRBYFLOAT", "hfoo", "field", inf]),
                "ERR value is NaN or Infinity"
            );
        }
        assert_eq!(int(con, &["EXISTS", "hfoo"]), 0);
    });
}

#[test]
fn hrandfield_counts_and_shapes() {
    for_each_setup(|_srv, con, resp3| {
        assert_eq!(bulk(con, &["HRANDFIELD", "nokey"]), None);
        assert_eq!(q(con, &["HRANDFIELD", "nokey", "5"]), Value::Array(vec![]));
        assert_eq!(
            q(con, &["HRANDFIELD", "nokey", "-5", "WITHVALUES"]),
            Value::Array(vec![])
        );
        let mut fields = HashMap::new();
        for i in 0..10 {
            fields.insert(format!("f{i}"), format!("v{i}"));
            int(con, &["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
        }
        // 600 fields: a hashtable.
        for i in 0..600 {
            int(con, &["HSET", "big", &format!("f{i}"), &format!("v{i}")]);
        }
        assert_eq!(encoding(con, "big"), "hashtable");
        for key in ["h", "big"] {
            let size = if key == "h" { 10 } else { 600 };
            let f = bulk(con, &["HRANDFIELD", key]).unwrap();
            assert!(f.starts_with('f'));
            assert_eq!(q(con, &["HRANDFIELD", key, "0"]), Value::Array(vec![]));
            // Negative: exactly |count| picks, repeats allowed.
            let v = strs(&q(con, &["HRANDFIELD", key, "-1000"]));
            assert_eq!(v.len(), 1000);
            let distinct: HashSet<_> = v.iter().collect();
            assert!(distinct.len() <= size);
            // Positive: distinct picks, at most the whole hash.
            for count in [1usize, 3, 9, size, size + 5] {
                let v = sorted(&q(con, &["HRANDFIELD", key, &count.to_string()]));
                let mut d = v.clone();
                d.dedup();
                assert_eq!(v, d, "duplicates for count {count}");
                assert_eq!(v.len(), count.min(size));
            }
            // WITHVALUES: RESP2 flat pairs, RESP3 an array of pairs.
            for count in ["-7", "3", "500"] {
                let r = q(con, &["HRANDFIELD", key, count, "WITHVALUES"]);
                let n = count.parse::<i64>().unwrap().unsigned_abs() as usize;
                let n = if count.starts_with('-') {
                    n
                } else {
                    n.min(size)
                };
                let Value::Array(items) = r else {
                    panic!("expected an array")
                };
                let got: Vec<(String, String)> = if resp3 {
                    items
                        .iter()
                        .map(|p| match p {
                            Value::Array(kv) if kv.len() == 2 => (as_str(&kv[0]), as_str(&kv[1])),
                            x => panic!("expected a pair, got {x:?}"),
                        })
                        .collect()
                } else {
                    items
                        .chunks(2)
                        .map(|kv| (as_str(&kv[0]), as_str(&kv[1])))
                        .collect()
                };
                assert_eq!(got.len(), n);
                for (f, v) in got {
                    assert_eq!(&f[1..], &v[1..], "value of {f} is {v}");
                }
            }
        }
        // Every field shows up eventually.
        let mut seen = HashSet::new();
        for _ in 0..200 {
            for f in strs(&q(con, &["HRANDFIELD", "h", "-5"])) {
                seen.insert(f.unwrap());
            }
        }
        assert_eq!(seen.len(), 10);
        // Errors.
        assert_eq!(err(con, &["HRANDFIELD", "h", "x"]), NOT_INT);
        assert_eq!(err(con, &["HRANDFIELD", "h", "3", "foo"]), SYNTAX);
        assert_eq!(
            err(con, &["HRANDFIELD", "h", "3", "WITHVALUES", "x"]),
            SYNTAX
        );
        assert_eq!(
            err(con, &["HRANDFIELD", "h", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            err(
                con,
                &["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"]
            ),
            "ERR value is out of range"
        );
    });
}

#[test]
fn hscan_iterates_everything() {
    for_each_setup(|_srv, con, _resp3| {
        for (key, n) in [("small", 30), ("big", 1000)] {
            let mut args = vec!["HMSET".to_string(), key.into()];
            for i in 0..n {
                args.push(format!("key:{i}"));
                args.push(format!("{i}"));
            }
            ok(con, &args);
            let mut cursor = "0".to_string();
            let mut seen = HashMap::new();
            let mut calls = 0;
            loop {
                let r = q(con, &["HSCAN", key, &cursor]);
                let Value::Array(parts) = r else { panic!() };
                cursor = as_str(&parts[0]);
                for (f, v) in pairs(&parts[1]) {
                    seen.insert(f, as_str(&v));
                }
                calls += 1;
                if cursor == "0" {
                    break;
                }
            }
            assert_eq!(seen.len(), n);
            for (f, v) in &seen {
                assert_eq!(f, &format!("key:{v}"));
            }
            if key == "small" {
                // A listpack comes back whole in one call.
                assert_eq!(calls, 1);
            } else {
                assert!(calls > 1);
            }
        }
        ok(
            con,
            &[
                "HMSET", "m", "foo", "1", "fab", "2", "fiz", "3", "foobar", "10", "1", "a",
            ],
        );
        let r = q(con, &["HSCAN", "m", "0", "MATCH", "foo*", "COUNT", "10000"]);
        let Value::Array(parts) = r else { panic!() };
        assert_eq!(as_str(&parts[0]), "0");
        assert_eq!(sorted(&parts[1]), vec!["1", "10", "foo", "foobar"]);
        // Missing key: cursor 0, nothing, whatever the options.
        let r = q(con, &["HSCAN", "nokey", "0", "bogus"]);
        assert_eq!(
            r,
            Value::Array(vec![Value::BulkString(b"0".to_vec()), Value::Array(vec![])])
        );
        assert_eq!(err(con, &["HSCAN", "m", "x"]), "ERR invalid cursor");
        assert_eq!(err(con, &["HSCAN", "m", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(err(con, &["HSCAN", "m", "0", "COUNT", "x"]), NOT_INT);
        assert_eq!(err(con, &["HSCAN", "m", "0", "MATCH"]), SYNTAX);
        assert_eq!(err(con, &["HSCAN", "m", "0", "TYPE", "hash"]), SYNTAX);
    });
}

#[test]
fn wrong_type_both_ways() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "str", "x"]);
        int(con, &["HSET", "h", "f", "v"]);
        for args in [
            &["HSET", "str", "f", "v"][..],
            &["HSETNX", "str", "f", "v"],
            &["HMSET", "str", "f", "v"],
            &["HGET", "str", "f"],
            &["HMGET", "str", "f"],
            &["HGETALL", "str"],
            &["HKEYS", "str"],
            &["HVALS", "str"],
            &["HDEL", "str", "f"],
            &["HLEN", "str"],
            &["HEXISTS", "str", "f"],
            &["HSTRLEN", "str", "f"],
            &["HINCRBY", "str", "f", "1"],
            &["HINCRBYFLOAT", "str", "f", "1"],
            &["HRANDFIELD", "str"],
            &["HRANDFIELD", "str", "2"],
            &["HSCAN", "str", "0"],
            &["GET", "h"],
            &["APPEND", "h", "x"],
            &["INCR", "h"],
            &["STRLEN", "h"],
            &["SADD", "h", "x"],
        ] {
            assert_eq!(err(con, args), WRONGTYPE, "{args:?}");
        }
        assert_eq!(bulk(con, &["GET", "str"]).as_deref(), Some("x"));
        // MGET answers nil for a hash, on any shard.
        let mut args = vec!["MGET".to_string(), "str".into()];
        args.extend((0..20).map(|i| format!("h{i}")));
        for i in 0..20 {
            int(con, &["HSET", &format!("h{i}"), "f", "v"]);
        }
        let v = strs(&q(con, &args));
        assert_eq!(v[0].as_deref(), Some("x"));
        assert!(v[1..].iter().all(|x| x.is_none()));
        // SET overwrites a hash.
        ok(con, &["SET", "h", "now-a-string"]);
        assert_eq!(bulk(con, &["GET", "h"]).as_deref(), Some("now-a-string"));
    });
}

#[test]
fn generic_key_commands_on_hashes() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["HMSET", "h", "a", "1", "b", "2"]);
        assert_eq!(q(con, &["TYPE", "h"]), Value::SimpleString("hash".into()));
        assert!(int(con, &["MEMORY", "USAGE", "h"]) > 0);
        if !server_bin().1 {
            let dbg = status(con, &["DEBUG", "OBJECT", "h"]);
            assert!(dbg.contains("encoding:listpack"), "{dbg}");
        }
        // COPY is deep: changing the copy leaves the original alone.
        assert_eq!(int(con, &["COPY", "h", "{h}copy"]), 1);
        int(con, &["HSET", "{h}copy", "a", "changed"]);
        assert_eq!(bulk(con, &["HGET", "h", "a"]).as_deref(), Some("1"));
        assert_eq!(
            bulk(con, &["HGET", "{h}copy", "a"]).as_deref(),
            Some("changed")
        );
        // Across shards (COPY/RENAME fan out with 4 threads).
        for i in 0..10 {
            let dst = format!("copy{i}");
            assert_eq!(int(con, &["COPY", "h", &dst]), 1);
            assert_eq!(getall(con, &dst).len(), 2);
            let moved = format!("renamed{i}");
            ok(con, &["RENAME", &dst, &moved]);
            assert_eq!(int(con, &["EXISTS", &dst]), 0);
            assert_eq!(bulk(con, &["HGET", &moved, "b"]).as_deref(), Some("2"));
        }
        // Big hashes keep their encoding through COPY.
        for i in 0..600 {
            int(con, &["HSET", "big", &format!("f{i}"), "v"]);
        }
        assert_eq!(int(con, &["COPY", "big", "bigcopy"]), 1);
        assert_eq!(encoding(con, "bigcopy"), "hashtable");
        assert_eq!(int(con, &["HLEN", "bigcopy"]), 600);
        // MOVE to another db.
        assert_eq!(int(con, &["MOVE", "h", "1"]), 1);
        assert_eq!(int(con, &["EXISTS", "h"]), 0);
        ok(con, &["SELECT", "1"]);
        assert_eq!(bulk(con, &["HGET", "h", "a"]).as_deref(), Some("1"));
        assert_eq!(int(con, &["DEL", "h"]), 1);
        ok(con, &["SELECT", "0"]);
        // EXPIRE: a hash expires like any key; HSET keeps the TTL.
        int(con, &["HSET", "t", "f", "v"]);
        assert_eq!(int(con, &["PEXPIRE", "t", "100"]), 1);
        int(con, &["HSET", "t", "g", "v"]);
        assert!(int(con, &["PTTL", "t"]) > 0);
        std::thread::sleep(ms(200));
        assert_eq!(int(con, &["HLEN", "t"]), 0);
        assert_eq!(int(con, &["EXISTS", "t"]), 0);
        // SCAN TYPE.
        ok(con, &["SET", "s1", "x"]);
        let mut cursor = "0".to_string();
        let mut found = HashSet::new();
        loop {
            let r = q(con, &["SCAN", &cursor, "TYPE", "hash", "COUNT", "100"]);
            let Value::Array(parts) = r else { panic!() };
            cursor = as_str(&parts[0]);
            found.extend(sorted(&parts[1]));
            if cursor == "0" {
                break;
            }
        }
        assert!(found.contains("big") && found.contains("renamed3"));
        assert!(!found.contains("s1"));
    });
}
