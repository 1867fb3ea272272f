//! Set commands, against --threads 1 and --threads 4, over RESP2 and RESP3.
//! Multi-key commands use a {t} hash tag so their keys share a shard.
//! Expected replies are those of redis-server 7.0.15 (run them against it
//! with HALOCLINE_TEST_REDIS=/path/to/redis-server).

mod common;
use common::*;
use std::collections::HashSet;

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

fn members(con: &mut redis::Connection, key: &str) -> Vec<String> {
    sorted(&q(con, &["SMEMBERS", key]))
}

fn sadd(con: &mut redis::Connection, key: &str, items: &[&str]) -> i64 {
    let mut args = vec!["SADD", key];
    args.extend_from_slice(items);
    int(con, &args)
}

fn v(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// RESP3 set reply (`~`) when `resp3`, else an array.
#[track_caller]
fn assert_set_type(r: &Value, resp3: bool) {
    if resp3 {
        assert!(matches!(r, Value::Set(_)), "expected a RESP3 set: {r:?}");
    } else {
        assert!(matches!(r, Value::Array(_)), "expected an array: {r:?}");
    }
}

#[test]
fn basics() {
    for_each_setup(|_srv, con, resp3| {
        assert_eq!(sadd(con, "s", &["foo"]), 1);
        assert_eq!(encoding(con, "s"), "hashtable");
        assert_eq!(sadd(con, "s", &["bar", "bar", "foo"]), 1);
        assert_eq!(int(con, &["SCARD", "s"]), 2);
        assert_eq!(int(con, &["SCARD", "nokey"]), 0);
        assert_eq!(int(con, &["SISMEMBER", "s", "foo"]), 1);
        assert_eq!(int(con, &["SISMEMBER", "s", "bla"]), 0);
        assert_eq!(int(con, &["SISMEMBER", "nokey", "bla"]), 0);
        let r = q(con, &["SMISMEMBER", "s", "bla", "foo", "bar"]);
        assert_eq!(
            r,
            Value::Array(vec![Value::Int(0), Value::Int(1), Value::Int(1)])
        );
        assert_eq!(
            q(con, &["SMISMEMBER", "nokey", "a", "b"]),
            Value::Array(vec![Value::Int(0), Value::Int(0)])
        );
        let r = q(con, &["SMEMBERS", "s"]);
        assert_set_type(&r, resp3);
        assert_eq!(sorted(&r), v(&["bar", "foo"]));
        let empty = q(con, &["SMEMBERS", "nokey"]);
        assert_set_type(&empty, resp3);
        assert!(strs(&empty).is_empty());

        // Intset.
        assert_eq!(sadd(con, "i", &["17"]), 1);
        assert_eq!(encoding(con, "i"), "intset");
        assert_eq!(sadd(con, "i", &["16", "16", "-5"]), 2);
        assert_eq!(int(con, &["SISMEMBER", "i", "16"]), 1);
        assert_eq!(int(con, &["SISMEMBER", "i", "016"]), 0);
        assert_eq!(int(con, &["SISMEMBER", "i", "x"]), 0);
        // An intset replies in ascending order.
        assert_eq!(
            strs(&q(con, &["SMEMBERS", "i"])),
            vec![Some("-5".into()), Some("16".into()), Some("17".into())]
        );

        // SREM, and the key goes away with its last member.
        assert_eq!(int(con, &["SREM", "s", "qux"]), 0);
        assert_eq!(int(con, &["SREM", "s", "foo", "foo", "x"]), 1);
        assert_eq!(int(con, &["SREM", "i", "1", "16", "17", "-5", "99"]), 3);
        assert_eq!(int(con, &["EXISTS", "i"]), 0);
        assert_eq!(int(con, &["SREM", "s", "bar"]), 1);
        assert_eq!(int(con, &["EXISTS", "s"]), 0);
        assert_eq!(int(con, &["SREM", "nokey", "a"]), 0);

        // Binary-safe members.
        let m: &[u8] = b"\x00\r\n\xff";
        assert_eq!(q(con, &[b"SADD".as_slice(), b"bin", m, b""]), Value::Int(2));
        assert_eq!(q(con, &[b"SISMEMBER".as_slice(), b"bin", m]), Value::Int(1));
        assert_eq!(
            q(con, &[b"SISMEMBER".as_slice(), b"bin", b""]),
            Value::Int(1)
        );

        assert_eq!(
            err(con, &["SMISMEMBER", "s"]),
            "ERR wrong number of arguments for 'smismember' command"
        );
        assert_eq!(
            err(con, &["SADD", "s"]),
            "ERR wrong number of arguments for 'sadd' command"
        );
    });
}

#[test]
fn encodings_and_conversion() {
    for_each_setup(|_srv, con, _resp3| {
        sadd(con, "s", &["1", "2", "3"]);
        assert_eq!(encoding(con, "s"), "intset");
        assert_eq!(sadd(con, "s", &["a"]), 1);
        assert_eq!(encoding(con, "s"), "hashtable");
        assert_eq!(members(con, "s"), v(&["1", "2", "3", "a"]));
        // Removing the string does not convert back.
        int(con, &["SREM", "s", "a"]);
        assert_eq!(encoding(con, "s"), "hashtable");
        // Integers out of i64 range or not canonical are strings.
        for m in ["213244124402402314402033402", "01", "+1", "-0", "1.0", " 1"] {
            int(con, &["DEL", "x"]);
            sadd(con, "x", &[m]);
            assert_eq!(encoding(con, "x"), "hashtable", "{m}");
            assert_eq!(int(con, &["SISMEMBER", "x", m]), 1);
        }
        // set-max-intset-entries (default 512).
        let mut args = vec!["SADD".to_string(), "big".into()];
        args.extend((0..512).map(|i| i.to_string()));
        assert_eq!(int(con, &args), 512);
        assert_eq!(encoding(con, "big"), "intset");
        sadd(con, "big", &["512"]);
        assert_eq!(encoding(con, "big"), "hashtable");
        assert_eq!(int(con, &["SCARD", "big"]), 513);
        ok(con, &["CONFIG", "SET", "set-max-intset-entries", "2"]);
        sadd(con, "c", &["1", "2"]);
        assert_eq!(encoding(con, "c"), "intset");
        sadd(con, "c", &["3"]);
        assert_eq!(encoding(con, "c"), "hashtable");
        ok(con, &["CONFIG", "SET", "set-max-intset-entries", "512"]);
    });
}

#[test]
fn spop_with_and_without_count() {
    for_each_setup(|_srv, con, resp3| {
        assert_eq!(bulk(con, &["SPOP", "nokey"]), None);
        let r = q(con, &["SPOP", "nokey", "3"]);
        assert_set_type(&r, resp3);
        assert!(strs(&r).is_empty());
        for contents in [
            &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"][..],
            &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
        ] {
            int(con, &["DEL", "s"]);
            sadd(con, "s", contents);
            let mut popped = vec![bulk(con, &["SPOP", "s"]).unwrap()];
            let r = q(con, &["SPOP", "s", "0"]);
            assert_set_type(&r, resp3);
            assert!(strs(&r).is_empty());
            for n in ["1", "3", "2"] {
                let r = q(con, &["SPOP", "s", n]);
                assert_set_type(&r, resp3);
                popped.extend(sorted(&r));
            }
            assert_eq!(int(con, &["SCARD", "s"]), 3);
            // More than the set holds: all of it, and the key is gone.
            popped.extend(sorted(&q(con, &["SPOP", "s", "100"])));
            assert_eq!(int(con, &["EXISTS", "s"]), 0);
            popped.sort();
            assert_eq!(popped, v(contents));
        }
        // The last member popped deletes the key.
        sadd(con, "one", &["x"]);
        assert_eq!(bulk(con, &["SPOP", "one"]).as_deref(), Some("x"));
        assert_eq!(int(con, &["EXISTS", "one"]), 0);
        // Large pops from a big set (both strategies).
        let mut args = vec!["SADD".to_string(), "big".into()];
        args.extend((0..1000).map(|i| format!("m{i}")));
        int(con, &args);
        let a = sorted(&q(con, &["SPOP", "big", "950"]));
        let b = sorted(&q(con, &["SPOP", "big", "10"]));
        assert_eq!(a.len() + b.len(), 960);
        assert_eq!(int(con, &["SCARD", "big"]), 40);
        let mut all: HashSet<String> = a.into_iter().chain(b).collect();
        all.extend(members(con, "big"));
        assert_eq!(all.len(), 1000);

        sadd(con, "s", &["a"]);
        let positive = "ERR value is out of range, must be positive";
        assert_eq!(err(con, &["SPOP", "s", "-1"]), positive);
        assert_eq!(err(con, &["SPOP", "s", "x"]), positive);
        assert_eq!(err(con, &["SPOP", "s", "1", "2"]), SYNTAX);
    });
}

#[test]
fn srandmember_counts() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(bulk(con, &["SRANDMEMBER", "nokey"]), None);
        assert_eq!(q(con, &["SRANDMEMBER", "nokey", "5"]), Value::Array(vec![]));
        let intset: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        let table: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        for (key, contents) in [("i", &intset), ("t", &table)] {
            let mut args = vec!["SADD".to_string(), key.into()];
            args.extend(contents.iter().cloned());
            int(con, &args);
            let all: HashSet<&String> = contents.iter().collect();
            assert!(all.contains(&bulk(con, &["SRANDMEMBER", key]).unwrap()));
            let r = q(con, &["SRANDMEMBER", key, "0"]);
            assert_eq!(r, Value::Array(vec![]));
            let r = q(con, &["SRANDMEMBER", key, "-100"]);
            assert!(matches!(r, Value::Array(_)), "{r:?}");
            let got = sorted(&r);
            assert_eq!(got.len(), 100);
            assert!(got.iter().all(|m| all.contains(m)));
            for n in [1usize, 5, 45, 50, 100] {
                let got = sorted(&q(con, &["SRANDMEMBER", key, &n.to_string()]));
                let distinct: HashSet<&String> = got.iter().collect();
                assert_eq!(got.len(), n.min(50), "count {n}");
                assert_eq!(distinct.len(), got.len(), "count {n}");
                assert!(got.iter().all(|m| all.contains(m)));
            }
            // Does not modify the set.
            assert_eq!(int(con, &["SCARD", key]), 50);
        }
        assert_eq!(err(con, &["SRANDMEMBER", "i", "x"]), NOT_INT);
        assert_eq!(err(con, &["SRANDMEMBER", "i", "1", "2"]), SYNTAX);
        assert_eq!(
            err(con, &["SRANDMEMBER", "i", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
    });
}

#[test]
fn smove_semantics() {
    for_each_setup(|_srv, con, _resp3| {
        let setup = |con: &mut redis::Connection| {
            int(con, &["DEL", "{t}1", "{t}2", "{t}3"]);
            sadd(con, "{t}1", &["1", "a", "b"]);
            sadd(con, "{t}2", &["2", "3", "4"]);
        };
        setup(con);
        assert_eq!(int(con, &["SMOVE", "{t}1", "{t}2", "a"]), 1);
        assert_eq!(members(con, "{t}1"), v(&["1", "b"]));
        assert_eq!(members(con, "{t}2"), v(&["2", "3", "4", "a"]));
        assert_eq!(encoding(con, "{t}2"), "hashtable");
        setup(con);
        assert_eq!(int(con, &["SMOVE", "{t}1", "{t}2", "1"]), 1);
        assert_eq!(encoding(con, "{t}2"), "intset");
        setup(con);
        assert_eq!(int(con, &["SMOVE", "{t}1", "{t}2", "nope"]), 0);
        assert_eq!(int(con, &["SMOVE", "{t}1", "{t}1", "nope"]), 0);
        assert_eq!(int(con, &["SMOVE", "{t}1", "{t}1", "a"]), 1);
        assert_eq!(members(con, "{t}1"), v(&["1", "a", "b"]));
        assert_eq!(int(con, &["SMOVE", "{t}none", "{t}2", "2"]), 0);
        // New destination: created with the member's encoding.
        assert_eq!(int(con, &["SMOVE", "{t}2", "{t}3", "2"]), 1);
        assert_eq!(encoding(con, "{t}3"), "intset");
        assert_eq!(int(con, &["SMOVE", "{t}1", "{t}4", "a"]), 1);
        assert_eq!(encoding(con, "{t}4"), "hashtable");
        // Moving the last member deletes the source.
        int(con, &["DEL", "{t}5"]);
        sadd(con, "{t}5", &["only"]);
        assert_eq!(int(con, &["SMOVE", "{t}5", "{t}1", "only"]), 1);
        assert_eq!(int(con, &["EXISTS", "{t}5"]), 0);
        // Already in the destination: still 1, removed from the source.
        sadd(con, "{t}6", &["b"]);
        assert_eq!(int(con, &["SMOVE", "{t}6", "{t}1", "b"]), 1);
        assert_eq!(int(con, &["EXISTS", "{t}6"]), 0);
        // Types: a missing source wins over a wrong destination.
        ok(con, &["SET", "{t}str", "x"]);
        assert_eq!(int(con, &["SMOVE", "{t}none", "{t}str", "a"]), 0);
        assert_eq!(err(con, &["SMOVE", "{t}str", "{t}1", "a"]), WRONGTYPE);
        assert_eq!(err(con, &["SMOVE", "{t}1", "{t}str", "a"]), WRONGTYPE);
        // ("a" went to {t}4 above.)
        assert_eq!(members(con, "{t}1"), v(&["1", "b", "only"]));
    });
}

#[test]
fn algebra_and_store() {
    for_each_setup(|_srv, con, resp3| {
        for kind in ["intset", "hashtable"] {
            for i in 1..=5 {
                int(con, &["DEL", &format!("{{t}}set{i}")]);
            }
            let mut a1 = vec!["SADD".to_string(), "{t}set1".into()];
            let mut a2 = vec!["SADD".to_string(), "{t}set2".into()];
            for i in 0..200 {
                a1.push(i.to_string());
                a2.push((i + 195).to_string());
            }
            int(con, &a1);
            int(con, &a2);
            sadd(con, "{t}set3", &["199", "195", "1000", "2000"]);
            let mut a4 = vec!["SADD".to_string(), "{t}set4".into()];
            a4.extend((5..200).map(|i| i.to_string()));
            int(con, &a4);
            sadd(con, "{t}set5", &["0"]);
            let large = if kind == "intset" { "200" } else { "foo" };
            for i in 1..=5 {
                sadd(con, &format!("{{t}}set{i}"), &[large]);
                assert_eq!(encoding(con, &format!("{{t}}set{i}")), kind);
            }
            let r = q(con, &["SINTER", "{t}set1", "{t}set2"]);
            assert_set_type(&r, resp3);
            assert_eq!(sorted(&r), v(&["195", "196", "197", "198", "199", large]));
            assert_eq!(int(con, &["SINTERCARD", "2", "{t}set1", "{t}set2"]), 6);
            assert_eq!(
                int(
                    con,
                    &["SINTERCARD", "2", "{t}set1", "{t}set2", "LIMIT", "0"]
                ),
                6
            );
            assert_eq!(
                int(
                    con,
                    &["SINTERCARD", "2", "{t}set1", "{t}set2", "limit", "3"]
                ),
                3
            );
            assert_eq!(
                int(con, &["SINTERSTORE", "{t}res", "{t}set1", "{t}set2"]),
                6
            );
            assert_eq!(encoding(con, "{t}res"), kind);
            assert_eq!(
                sorted(&q(con, &["SINTER", "{t}set1", "{t}set2", "{t}set3"])),
                v(&["195", "199", large])
            );
            let r = q(con, &["SUNION", "{t}set1", "{t}nokey", "{t}set2"]);
            assert_set_type(&r, resp3);
            // 0..=394, plus "foo" for the hashtable sets (200 is in range).
            let n_union = if kind == "intset" { 395 } else { 396 };
            assert_eq!(strs(&r).len(), n_union);
            assert_eq!(
                int(con, &["SUNIONSTORE", "{t}res", "{t}set1", "{t}set2"]),
                n_union as i64
            );
            assert_eq!(encoding(con, "{t}res"), kind);
            let r = q(con, &["SDIFF", "{t}set1", "{t}set4"]);
            assert_set_type(&r, resp3);
            assert_eq!(sorted(&r), v(&["0", "1", "2", "3", "4"]));
            assert_eq!(
                sorted(&q(con, &["SDIFF", "{t}set1", "{t}set4", "{t}set5"])),
                v(&["1", "2", "3", "4"])
            );
            assert_eq!(
                int(
                    con,
                    &["SDIFFSTORE", "{t}res", "{t}set1", "{t}set4", "{t}set5"]
                ),
                4
            );
            if kind == "intset" {
                assert_eq!(encoding(con, "{t}res"), "intset");
            }
            // The same set three times.
            let all = members(con, "{t}set1");
            let three = ["{t}set1", "{t}set1", "{t}set1"];
            assert_eq!(sorted(&q(con, &[&["SINTER"][..], &three].concat())), all);
            assert_eq!(sorted(&q(con, &[&["SUNION"][..], &three].concat())), all);
            assert!(strs(&q(con, &[&["SDIFF"][..], &three].concat())).is_empty());
        }
        // Missing keys are empty sets.
        assert!(strs(&q(con, &["SINTER", "{t}set1", "{t}nokey"])).is_empty());
        assert!(strs(&q(con, &["SDIFF", "{t}nokey", "{t}set1"])).is_empty());
        assert_eq!(int(con, &["SINTERCARD", "1", "{t}nokey", "LIMIT", "10"]), 0);
        // A STORE with an empty result deletes the destination, whatever it held.
        ok(con, &["SET", "{t}dst", "xxx"]);
        assert_eq!(int(con, &["SINTERSTORE", "{t}dst", "{t}a", "{t}b"]), 0);
        assert_eq!(int(con, &["EXISTS", "{t}dst"]), 0);
        ok(con, &["SET", "{t}dst", "xxx"]);
        assert_eq!(int(con, &["SUNIONSTORE", "{t}dst", "{t}a", "{t}b"]), 0);
        assert_eq!(int(con, &["EXISTS", "{t}dst"]), 0);
        sadd(con, "{t}dst", &["q"]);
        assert_eq!(int(con, &["SDIFFSTORE", "{t}dst", "{t}set1", "{t}set1"]), 0);
        assert_eq!(int(con, &["EXISTS", "{t}dst"]), 0);
        // A STORE replaces a string and drops its TTL.
        ok(con, &["SET", "{t}dst", "xxx", "EX", "100"]);
        assert_eq!(int(con, &["SUNIONSTORE", "{t}dst", "{t}set5"]), 2);
        assert_eq!(
            q(con, &["TYPE", "{t}dst"]),
            Value::SimpleString("set".into())
        );
        assert_eq!(int(con, &["TTL", "{t}dst"]), -1);
        // The destination may be a source: {0, foo} + {195, 199, 1000, 2000, foo}.
        assert_eq!(int(con, &["SUNIONSTORE", "{t}dst", "{t}dst", "{t}set3"]), 6);
    });
}

#[test]
fn multi_key_errors() {
    for_each_setup(|_srv, con, _resp3| {
        sadd(con, "{t}set", &["a", "b", "c"]);
        ok(con, &["SET", "{t}str", "x"]);
        // A wrong type anywhere fails, even after a missing key.
        for args in [
            &["SINTER", "{t}str", "{t}nokey"][..],
            &["SINTER", "{t}nokey", "{t}str"],
            &["SINTER", "{t}set", "{t}str"],
            &["SUNION", "{t}nokey", "{t}str"],
            &["SDIFF", "{t}set", "{t}str"],
            &["SDIFF", "{t}nokey", "{t}str"],
            &["SINTERCARD", "2", "{t}nokey", "{t}str"],
            &["SINTERSTORE", "{t}d", "{t}nokey", "{t}str"],
            &["SUNIONSTORE", "{t}d", "{t}set", "{t}str"],
            &["SDIFFSTORE", "{t}d", "{t}str", "{t}set"],
        ] {
            assert_eq!(err(con, args), WRONGTYPE, "{args:?}");
        }
        assert_eq!(int(con, &["EXISTS", "{t}d"]), 0);
        // A failed STORE leaves the destination alone.
        sadd(con, "{t}d", &["e"]);
        assert_eq!(
            err(con, &["SDIFFSTORE", "{t}d", "{t}set", "{t}str"]),
            WRONGTYPE
        );
        assert_eq!(members(con, "{t}d"), v(&["e"]));
        // SINTERCARD arguments.
        assert_eq!(
            err(con, &["SINTERCARD", "1"]),
            "ERR wrong number of arguments for 'sintercard' command"
        );
        for n in ["0", "a", "-1"] {
            assert_eq!(
                err(con, &["SINTERCARD", n, "{t}set"]),
                "ERR numkeys should be greater than 0"
            );
        }
        assert_eq!(
            err(con, &["SINTERCARD", "2", "{t}set"]),
            "ERR Number of keys can't be greater than number of args"
        );
        assert_eq!(err(con, &["SINTERCARD", "1", "{t}set", "{t}x"]), SYNTAX);
        assert_eq!(err(con, &["SINTERCARD", "1", "{t}set", "LIMIT"]), SYNTAX);
        for l in ["-1", "a"] {
            assert_eq!(
                err(con, &["SINTERCARD", "1", "{t}set", "LIMIT", l]),
                "ERR LIMIT can't be negative"
            );
        }
        // Every other command against a string.
        for args in [
            &["SADD", "{t}str", "a"][..],
            &["SREM", "{t}str", "a"],
            &["SCARD", "{t}str"],
            &["SISMEMBER", "{t}str", "a"],
            &["SMISMEMBER", "{t}str", "a"],
            &["SMEMBERS", "{t}str"],
            &["SPOP", "{t}str"],
            &["SPOP", "{t}str", "2"],
            &["SRANDMEMBER", "{t}str"],
            &["SRANDMEMBER", "{t}str", "2"],
            &["SSCAN", "{t}str", "0"],
            &["HGET", "{t}set", "a"],
            &["GET", "{t}set"],
        ] {
            assert_eq!(err(con, args), WRONGTYPE, "{args:?}");
        }
    });
}

#[test]
fn keys_on_several_shards() {
    if server_bin().1 {
        return; // a single Redis has no shards
    }
    let srv = Server::start(4);
    let mut con = srv.conn();
    // Untagged keys spread over the shards: multi-key set commands work
    // across them (gathered under the transaction locks).
    let keys: Vec<String> = (0..20).map(|i| format!("set:{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        sadd(&mut con, k, &["a", "b", &format!("only{i}")]);
    }
    for k in &keys[1..] {
        let r = q(&mut con, &["SINTER", &keys[0], k]);
        assert_eq!(sorted(&r), v(&["a", "b"]));
        // SINTERCARD routes by the keys its numkeys counts: LIMIT's value
        // is no key.
        let r = q(&mut con, &["SINTERCARD", "1", k, "LIMIT", "1"]);
        assert_eq!(r, Value::Int(1));
    }
    // Stores and moves across shards.
    assert_eq!(
        q(&mut con, &["SUNIONSTORE", "dst", &keys[1], &keys[2]]),
        Value::Int(4)
    );
    assert_eq!(
        q(&mut con, &["SMOVE", &keys[1], &keys[3], "only1"]),
        Value::Int(1)
    );
    assert_eq!(
        q(&mut con, &["SISMEMBER", &keys[3], "only1"]),
        Value::Int(1)
    );
    assert_eq!(
        q(&mut con, &["SISMEMBER", &keys[1], "only1"]),
        Value::Int(0)
    );
    assert_eq!(q(&mut con, &["SCARD", "dst"]), Value::Int(4));
}

#[test]
fn sscan_iterates_everything() {
    for_each_setup(|_srv, con, _resp3| {
        for (key, prefix) in [("ints", ""), ("strs", "ele:")] {
            let mut args = vec!["SADD".to_string(), key.into()];
            args.extend((0..100).map(|i| format!("{prefix}{i}")));
            int(con, &args);
            let mut cursor = "0".to_string();
            let mut seen = HashSet::new();
            let mut calls = 0;
            loop {
                let Value::Array(parts) = q(con, &["SSCAN", key, &cursor]) else {
                    panic!()
                };
                cursor = as_str(&parts[0]);
                seen.extend(sorted(&parts[1]));
                calls += 1;
                if cursor == "0" {
                    break;
                }
            }
            assert_eq!(seen.len(), 100);
            if prefix.is_empty() {
                assert_eq!(encoding(con, key), "intset");
                assert_eq!(calls, 1, "an intset comes back whole");
            }
        }
        // Deleting most members mid-scan: those left are all reported.
        sadd(con, "s", &["x"]);
        let mut args = vec!["SADD".to_string(), "s".into()];
        args.extend((0..1000).map(|i| i.to_string()));
        int(con, &args);
        let mut cursor = "0".to_string();
        let mut seen = HashSet::new();
        let mut round = 0;
        loop {
            let Value::Array(parts) = q(con, &["SSCAN", "s", &cursor]) else {
                panic!()
            };
            cursor = as_str(&parts[0]);
            seen.extend(sorted(&parts[1]));
            round += 1;
            if round == 3 {
                let mut args = vec!["SREM".to_string(), "s".into()];
                args.extend((100..1000).map(|i| i.to_string()));
                int(con, &args);
            }
            if cursor == "0" {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(&i.to_string()), "missing {i}");
        }
        sadd(con, "m", &["1", "a"]);
        let Value::Array(parts) = q(con, &["SSCAN", "m", "0", "MATCH", "*a*", "COUNT", "100"])
        else {
            panic!()
        };
        assert_eq!(sorted(&parts[1]), v(&["a"]));
        int(con, &["DEL", "m"]);
        sadd(con, "m", &["1", "12", "2"]);
        let Value::Array(parts) = q(con, &["SSCAN", "m", "0", "MATCH", "1*"]) else {
            panic!()
        };
        assert_eq!(sorted(&parts[1]), v(&["1", "12"]));
        assert_eq!(
            q(con, &["SSCAN", "nokey", "0"]),
            Value::Array(vec![Value::BulkString(b"0".to_vec()), Value::Array(vec![])])
        );
        assert_eq!(err(con, &["SSCAN", "m", "x"]), "ERR invalid cursor");
        assert_eq!(err(con, &["SSCAN", "m", " 1"]), "ERR invalid cursor");
        assert_eq!(
            err(con, &["SSCAN", "m", "18446744073709551616"]),
            "ERR invalid cursor"
        );
        // strtoul rules: a sign is accepted (negative wraps around).
        let Value::Array(parts) = q(con, &["SSCAN", "m", "-1"]) else {
            panic!()
        };
        assert_eq!(as_str(&parts[0]), "0");
        assert_eq!(err(con, &["SSCAN", "m", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(err(con, &["SSCAN", "m", "0", "TYPE", "set"]), SYNTAX);
    });
}

#[test]
fn generic_key_commands_on_sets() {
    for_each_setup(|_srv, con, _resp3| {
        sadd(con, "s", &["a", "b"]);
        sadd(con, "i", &["1", "2"]);
        assert_eq!(q(con, &["TYPE", "s"]), Value::SimpleString("set".into()));
        assert!(int(con, &["MEMORY", "USAGE", "i"]) > 0);
        for i in 0..10 {
            let dst = format!("copy{i}");
            assert_eq!(int(con, &["COPY", "i", &dst]), 1);
            assert_eq!(encoding(con, &dst), "intset");
            sadd(con, &dst, &["3"]);
            let moved = format!("renamed{i}");
            ok(con, &["RENAME", &dst, &moved]);
            assert_eq!(members(con, &moved), v(&["1", "2", "3"]));
        }
        // The copies are independent of the original.
        assert_eq!(members(con, "i"), v(&["1", "2"]));
        assert_eq!(int(con, &["MOVE", "s", "2"]), 1);
        ok(con, &["SELECT", "2"]);
        assert_eq!(members(con, "s"), v(&["a", "b"]));
        assert_eq!(int(con, &["DEL", "s"]), 1);
        ok(con, &["SELECT", "0"]);
        int(con, &["PEXPIRE", "i", "100"]);
        std::thread::sleep(ms(200));
        assert_eq!(int(con, &["SCARD", "i"]), 0);
        let mut cursor = "0".to_string();
        let mut found = HashSet::new();
        loop {
            let Value::Array(parts) = q(con, &["SCAN", &cursor, "TYPE", "set"]) else {
                panic!()
            };
            cursor = as_str(&parts[0]);
            found.extend(sorted(&parts[1]));
            if cursor == "0" {
                break;
            }
        }
        let want: HashSet<String> = (0..10).map(|i| format!("renamed{i}")).collect();
        assert_eq!(found, want);
    });
}

/// SMOVE touches its destination (for WATCH) only when the member was
/// added, as Redis signals it: a member already there leaves a WATCH of
/// the destination intact, and a move that removes nothing touches
/// neither key. Same slot and ("a", "b") different shards at --threads 4.
#[test]
fn smove_touches_only_what_it_changes() {
    for_each_setup(|srv, con, _resp3| {
        for (src, dst) in [("{t}src", "{t}dst"), ("a", "b")] {
            let mut other = srv.conn();
            let exec_after = |con: &mut redis::Connection,
                              other: &mut redis::Connection,
                              watched: &str,
                              args: &[&str]|
             -> bool {
                ok(con, &["WATCH", watched]);
                ok(con, &["MULTI"]);
                q(con, &["SADD", watched, "c"]);
                q(other, args);
                !matches!(q(con, &["EXEC"]), Value::Nil)
            };
            int(con, &["DEL", src, dst]);
            sadd(con, src, &["a", "b"]);
            sadd(con, dst, &["a"]);
            // Already in the destination: the source changes, not it.
            assert!(
                exec_after(con, &mut other, dst, &["SMOVE", src, dst, "a"]),
                "{src} {dst}"
            );
            assert_eq!(int(con, &["SCARD", dst]), 2);
            // Nothing to move: neither key changes.
            assert!(
                exec_after(con, &mut other, src, &["SMOVE", src, dst, "nope"]),
                "{src}"
            );
            // Added: the destination changed.
            assert!(
                !exec_after(con, &mut other, dst, &["SMOVE", src, dst, "b"]),
                "{dst}"
            );
            // Removed from the source: it changed.
            sadd(con, src, &["x"]);
            assert!(
                !exec_after(con, &mut other, src, &["SMOVE", src, dst, "x"]),
                "{src}"
            );
        }
    });
}
