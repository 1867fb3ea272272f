//! SORT and SORT_RO: Redis 7.0's replies (`HALOCLINE_TEST_REDIS` runs the
//! same tests against redis-server), with --threads 1 and 4. Keys read by
//! BY/GET patterns share the sorted key's hash tag (read on its shard),
//! except in `patterns_read_keys_on_every_shard` (gathered from all).

mod common;
use common::*;

fn sorted(con: &mut redis::Connection, args: &[&str]) -> Vec<Option<String>> {
    let mut full = vec!["SORT"];
    full.extend_from_slice(args);
    strs(&q(con, &full))
}

fn some(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| Some(s.to_string())).collect()
}

#[test]
fn numeric_alpha_desc_limit_on_lists_sets_and_sorted_sets() {
    for_each_setup(|_srv, con, _resp3| {
        q(con, &["RPUSH", "{s}l", "3", "10", "-1.5", "2", "10"]);
        assert_eq!(
            sorted(con, &["{s}l"]),
            some(&["-1.5", "2", "3", "10", "10"])
        );
        assert_eq!(
            sorted(con, &["{s}l", "DESC"]),
            some(&["10", "10", "3", "2", "-1.5"])
        );
        assert_eq!(sorted(con, &["{s}l", "LIMIT", "1", "2"]), some(&["2", "3"]));
        assert_eq!(
            sorted(con, &["{s}l", "LIMIT", "-5", "2"]),
            some(&["-1.5", "2"])
        );
        assert_eq!(sorted(con, &["{s}l", "LIMIT", "4", "-1"]), some(&["10"]));
        assert_eq!(sorted(con, &["{s}l", "LIMIT", "9", "1"]), some(&[]));
        assert_eq!(
            sorted(con, &["{s}l", "ALPHA"]),
            some(&["-1.5", "10", "10", "2", "3"])
        );
        q(con, &["RPUSH", "{s}words", "pear", "apple", "fig"]);
        assert_eq!(
            err(con, &["SORT", "{s}words"]),
            "ERR One or more scores can't be converted into double"
        );
        assert_eq!(
            sorted(con, &["{s}words", "ALPHA", "DESC"]),
            some(&["pear", "fig", "apple"])
        );
        q(con, &["SADD", "{s}set", "5", "1", "3"]);
        assert_eq!(sorted(con, &["{s}set"]), some(&["1", "3", "5"]));
        q(con, &["ZADD", "{s}z", "1", "c", "2", "a", "3", "b"]);
        assert_eq!(sorted(con, &["{s}z", "ALPHA"]), some(&["a", "b", "c"]));
        // BY a constant: the value's own order (DESC reverses it).
        assert_eq!(
            sorted(con, &["{s}z", "BY", "nosort"]),
            some(&["c", "a", "b"])
        );
        assert_eq!(
            sorted(con, &["{s}z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]),
            some(&["b", "a"])
        );
        assert_eq!(
            sorted(con, &["{s}l", "BY", "nosort", "DESC"]),
            some(&["10", "2", "-1.5", "10", "3"])
        );
        assert_eq!(sorted(con, &["{s}missing"]), some(&[]));
        assert_eq!(
            strs(&q(con, &["SORT_RO", "{s}l", "LIMIT", "0", "1"])),
            some(&["-1.5"])
        );
    });
}

#[test]
fn by_and_get_patterns_read_strings_and_hash_fields() {
    for_each_setup(|_srv, con, _resp3| {
        q(con, &["RPUSH", "{p}ids", "1", "2", "3"]);
        q(
            con,
            &["MSET", "{p}w_1", "30", "{p}w_2", "10", "{p}w_3", "20"],
        );
        q(con, &["MSET", "{p}name_1", "one", "{p}name_3", "three"]);
        q(con, &["HSET", "{p}h_1", "f", "x1"]);
        q(con, &["HSET", "{p}h_2", "f", "x2"]);
        assert_eq!(
            sorted(con, &["{p}ids", "BY", "{p}w_*"]),
            some(&["2", "3", "1"])
        );
        assert_eq!(
            sorted(
                con,
                &["{p}ids", "BY", "{p}w_*", "GET", "#", "GET", "{p}name_*"]
            ),
            vec![
                Some("2".into()),
                None,
                Some("3".into()),
                Some("three".into()),
                Some("1".into()),
                Some("one".into()),
            ]
        );
        assert_eq!(
            sorted(con, &["{p}ids", "GET", "{p}h_*->f"]),
            vec![Some("x1".into()), Some("x2".into()), None]
        );
        // A missing BY key weighs 0 (numeric) or sorts first (ALPHA).
        q(con, &["DEL", "{p}w_3"]);
        assert_eq!(
            sorted(con, &["{p}ids", "BY", "{p}w_*"]),
            some(&["3", "2", "1"])
        );
        assert_eq!(
            sorted(con, &["{p}ids", "BY", "{p}name_*", "ALPHA"]),
            some(&["2", "1", "3"])
        );
        // BY a hash field.
        assert_eq!(
            sorted(con, &["{p}ids", "BY", "{p}h_*->f", "ALPHA", "DESC"]),
            some(&["2", "1", "3"])
        );
    });
}

#[test]
fn store_writes_a_list_and_an_empty_result_deletes_the_destination() {
    for_each_setup(|_srv, con, _resp3| {
        q(con, &["RPUSH", "{t}src", "3", "1", "2"]);
        // The destination may live on another shard.
        for dst in ["{t}dst", "elsewhere"] {
            assert_eq!(int(con, &["SORT", "{t}src", "STORE", dst]), 3);
            assert_eq!(
                strs(&q(con, &["LRANGE", dst, "0", "-1"])),
                some(&["1", "2", "3"])
            );
            q(con, &["SET", dst, "not a list"]);
            q(con, &["EXPIRE", dst, "100"]);
            assert_eq!(int(con, &["SORT", "{t}src", "DESC", "STORE", dst]), 3);
            assert_eq!(as_str(&q(con, &["TYPE", dst])), "list");
            assert_eq!(int(con, &["TTL", dst]), -1);
            assert_eq!(int(con, &["SORT", "{t}nothing", "STORE", dst]), 0);
            assert_eq!(int(con, &["EXISTS", dst]), 0);
        }
        // Nil GET results are stored as empty strings.
        assert_eq!(
            int(
                con,
                &["SORT", "{t}src", "GET", "{t}none_*", "STORE", "{t}dst"]
            ),
            3
        );
        assert_eq!(
            strs(&q(con, &["LRANGE", "{t}dst", "0", "-1"])),
            some(&["", "", ""])
        );
        // A set stored without an order of its own is sorted.
        q(con, &["SADD", "{t}set", "b", "c", "a"]);
        assert_eq!(
            int(con, &["SORT", "{t}set", "BY", "nosort", "STORE", "{t}dst"]),
            3
        );
        assert_eq!(
            strs(&q(con, &["LRANGE", "{t}dst", "0", "-1"])),
            some(&["a", "b", "c"])
        );
    });
}

#[test]
fn sort_errors_and_watch() {
    for_each_setup(|srv, con, _resp3| {
        q(con, &["SET", "{e}str", "x"]);
        assert!(err(con, &["SORT", "{e}str"]).starts_with("WRONGTYPE"));
        q(con, &["RPUSH", "{e}l", "1"]);
        assert_eq!(
            err(con, &["SORT", "{e}l", "LIMIT", "1"]),
            "ERR syntax error"
        );
        assert_eq!(err(con, &["SORT", "{e}l", "BOGUS"]), "ERR syntax error");
        assert_eq!(
            err(con, &["SORT", "{e}l", "LIMIT", "x", "1"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            err(con, &["SORT_RO", "{e}l", "STORE", "{e}d"]),
            "ERR syntax error"
        );
        // A SORT ... STORE that empties a watched key aborts EXEC.
        q(con, &["RPUSH", "{e}watched", "bar"]);
        ok(con, &["WATCH", "{e}watched"]);
        assert_eq!(int(con, &["SORT", "{e}empty", "STORE", "{e}watched"]), 0);
        ok(con, &["MULTI"]);
        q(con, &["PING"]);
        assert_eq!(q(con, &["EXEC"]), Value::Nil);
        // A plain SORT is not a write to its key.
        ok(con, &["WATCH", "{e}l"]);
        sorted(con, &["{e}l"]);
        ok(con, &["MULTI"]);
        q(con, &["PING"]);
        assert_ne!(q(con, &["EXEC"]), Value::Nil);
        let _ = srv;
    });
}

/// Patterns without hash tags name keys on any shard: at --threads 4 SORT
/// reads the sorted key, then gathers every key its patterns name, all
/// shards locked, and answers as a single-threaded Redis does (it used to
/// refuse, as Redis Cluster does). Keys here have no hash tags, so the
/// list, the weights, the objects and the destination are spread out.
#[test]
fn patterns_read_keys_on_every_shard() {
    for_each_setup(|_srv, con, _resp3| {
        q(con, &["RPUSH", "ids", "1", "2", "3", "4"]);
        for i in 1..=4 {
            q(con, &["SET", &format!("w_{i}"), &(10 - i).to_string()]);
            q(con, &["SET", &format!("obj_{i}"), &format!("o{i}")]);
            q(
                con,
                &["HSET", &format!("h_{i}"), "f", &format!("f{}", 5 - i)],
            );
        }
        assert_eq!(
            sorted(con, &["ids", "BY", "w_*"]),
            some(&["4", "3", "2", "1"])
        );
        assert_eq!(
            sorted(
                con,
                &["ids", "BY", "h_*->f", "ALPHA", "GET", "obj_*", "GET", "#"]
            ),
            some(&["o4", "4", "o3", "3", "o2", "2", "o1", "1"])
        );
        assert_eq!(
            sorted(
                con,
                &["ids", "BY", "w_*", "DESC", "LIMIT", "1", "2", "GET", "obj_*"]
            ),
            some(&["o2", "o3"])
        );
        assert_eq!(
            strs(&q(con, &["SORT_RO", "ids", "BY", "nosort", "GET", "obj_*"])),
            some(&["o1", "o2", "o3", "o4"])
        );
        // A missing weight is 0; a missing GET key is nil.
        q(con, &["DEL", "w_2", "obj_3"]);
        assert_eq!(
            strs(&q(con, &["SORT", "ids", "BY", "w_*", "GET", "obj_*"])),
            vec![
                Some("o2".into()),
                Some("o4".into()),
                None,
                Some("o1".into())
            ]
        );
        // STORE to a destination on yet another shard; GET values stored.
        assert_eq!(
            int(
                con,
                &["SORT", "ids", "BY", "w_*", "GET", "obj_*", "STORE", "dest"]
            ),
            4
        );
        assert_eq!(
            strs(&q(con, &["LRANGE", "dest", "0", "-1"])),
            some(&["o2", "o4", "", "o1"])
        );
        assert_eq!(
            int(con, &["SORT", "nolist", "BY", "w_*", "STORE", "dest"]),
            0
        );
        assert_eq!(int(con, &["EXISTS", "dest"]), 0);
        // Patterns on the sorted key's shard, STORE on another: the
        // gathered copies must include what the patterns name (they used
        // to be read as missing, and the result stored unsorted).
        q(con, &["RPUSH", "{t}l", "1", "2", "3"]);
        q(con, &["MSET", "{t}w_1", "3", "{t}w_2", "2", "{t}w_3", "1"]);
        for dest in ["elsewhere", "{t}here"] {
            assert_eq!(
                int(con, &["SORT", "{t}l", "BY", "{t}w_*", "STORE", dest]),
                3
            );
            assert_eq!(
                strs(&q(con, &["LRANGE", dest, "0", "-1"])),
                some(&["3", "2", "1"]),
                "{dest}"
            );
        }
        q(con, &["SET", "str", "x"]);
        assert_eq!(
            err(con, &["SORT", "str", "BY", "w_*"]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            err(con, &["SORT", "ids", "BY", "w_*", "GET"]),
            "ERR syntax error"
        );
    });
}

/// Inside MULTI a transaction's keys are locked before it runs, so a
/// pattern that may leave the sorted key's shard is still refused there
/// at --threads 4 (halocline only; with one shard it runs).
#[test]
fn patterns_inside_multi_need_the_sorted_keys_shard() {
    if server_bin().1 {
        return;
    }
    let srv = Server::start(4);
    let mut con = srv.conn();
    q(&mut con, &["RPUSH", "{r}l", "1", "2"]);
    q(&mut con, &["MSET", "{r}w_1", "9", "{r}w_2", "1"]);
    q(&mut con, &["MULTI"]);
    q(&mut con, &["SORT", "{r}l", "BY", "w_*"]);
    q(&mut con, &["SORT", "{r}l", "BY", "{r}w_*"]);
    let Value::Array(replies) = q(&mut con, &["EXEC"]) else {
        panic!("EXEC returns an array");
    };
    assert!(err_text(&replies[0]).is_some_and(|e| e.starts_with("ERR BY option of SORT denied")));
    assert_eq!(strs(&replies[1]), some(&["2", "1"]));
    // Storing on another shard runs on gathered copies inside EXEC too,
    // which hold no pattern keys: refused, never sorted by missing weights.
    let shard = |k: &str| halocline::shard::slot::key_shard(k.as_bytes(), 4);
    let elsewhere = (0..)
        .map(|i| format!("elsewhere{i}"))
        .find(|k| shard(k) != shard("{r}l"))
        .unwrap_or_default();
    q(&mut con, &["MULTI"]);
    q(
        &mut con,
        &["SORT", "{r}l", "BY", "{r}w_*", "STORE", &elsewhere],
    );
    let Value::Array(replies) = q(&mut con, &["EXEC"]) else {
        panic!("EXEC returns an array");
    };
    assert!(err_text(&replies[0]).is_some_and(|e| e.starts_with("ERR BY option of SORT denied")));
    assert_eq!(int(&mut con, &["EXISTS", &elsewhere]), 0);
}

/// Redis converts a sorted set SORT (or SORT_RO) reads to a skiplist for
/// good: OBJECT ENCODING shows it (found by the differential test).
#[test]
fn sorting_a_sorted_set_makes_it_a_skiplist() {
    for_each_setup(|_srv, con, _resp3| {
        for (key, cmd) in [("zs1", "SORT"), ("zs2", "SORT_RO")] {
            int(con, &["ZADD", key, "1", "a", "2", "b"]);
            assert_eq!(
                bulk(con, &["OBJECT", "ENCODING", key]).as_deref(),
                Some("listpack")
            );
            assert_eq!(strs(&q(con, &[cmd, key, "ALPHA"])), some(&["a", "b"]));
            assert_eq!(
                bulk(con, &["OBJECT", "ENCODING", key]).as_deref(),
                Some("skiplist")
            );
            assert_eq!(
                strs(&q(con, &["ZRANGE", key, "0", "-1"])),
                some(&["a", "b"])
            );
        }
        // A list is left as it is (Redis 7.0: always a quicklist).
        int(con, &["RPUSH", "sl", "2", "1"]);
        assert_eq!(sorted(con, &["sl"]), some(&["1", "2"]));
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "sl"]).as_deref(),
            Some("quicklist")
        );
    });
}

/// BY weights are read as Redis reads them, with C's strtod over a C
/// string: binary starting with a NUL byte or an empty string weighs 0, a
/// leading space, hex and inf are numbers, an underflow is an error (found
/// by the differential test: a SETBIT-made weight was refused here).
#[test]
fn weights_are_read_like_strtod() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["RPUSH", "{w}l", "a", "b", "c", "d", "e", "f"]);
        ok(con, &["SET", "{w}w_a", "\0\x10"]);
        ok(con, &["SET", "{w}w_b", " 3"]);
        ok(con, &["SET", "{w}w_c", "0x10"]);
        ok(con, &["SET", "{w}w_d", "inf"]);
        ok(con, &["SET", "{w}w_e", ""]);
        assert_eq!(
            sorted(con, &["{w}l", "BY", "{w}w_*"]),
            some(&["a", "e", "f", "b", "c", "d"])
        );
        ok(con, &["SET", "{w}w_f", "1e-400"]);
        assert_eq!(
            err(con, &["SORT", "{w}l", "BY", "{w}w_*"]),
            "ERR One or more scores can't be converted into double"
        );
    });
}
