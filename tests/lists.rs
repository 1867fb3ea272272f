//! List commands against --threads 1 and --threads 4, RESP2 and RESP3.
//! Multi-key commands use {t} hash tags so their keys share a shard.
//! Expected replies are those of redis-server 7.0.15 (run with
//! HALOCLINE_TEST_REDIS=/usr/bin/redis-server to check the tests).

mod common;
use common::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";

fn lrange(con: &mut redis::Connection, key: &str) -> Vec<String> {
    strs(&q(con, &["LRANGE", key, "0", "-1"]))
        .into_iter()
        .map(|x| x.unwrap_or_default())
        .collect()
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn push_pop_and_length() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(int(con, &["RPUSH", "l", "a", "b", "c"]), 3);
        assert_eq!(int(con, &["LPUSH", "l", "x", "y"]), 5);
        assert_eq!(lrange(con, "l"), owned(&["y", "x", "a", "b", "c"]));
        assert_eq!(int(con, &["LLEN", "l"]), 5);
        assert_eq!(int(con, &["LLEN", "nokey"]), 0);
        // X variants only touch existing lists
        assert_eq!(int(con, &["LPUSHX", "nokey", "a"]), 0);
        assert_eq!(int(con, &["RPUSHX", "nokey", "a", "b"]), 0);
        assert_eq!(int(con, &["EXISTS", "nokey"]), 0);
        assert_eq!(int(con, &["RPUSHX", "l", "z"]), 6);
        assert_eq!(int(con, &["LPUSHX", "l", "w", "v"]), 8);
        assert_eq!(bulk(con, &["LPOP", "l"]), Some("v".into()));
        assert_eq!(bulk(con, &["RPOP", "l"]), Some("z".into()));
        assert_eq!(bulk(con, &["LPOP", "nokey"]), None);
        // with a count: array, in pop order
        assert_eq!(
            strs(&q(con, &["LPOP", "l", "2"])),
            vec![Some("w".into()), Some("y".into())]
        );
        assert_eq!(
            strs(&q(con, &["RPOP", "l", "2"])),
            vec![Some("c".into()), Some("b".into())]
        );
        assert_eq!(
            strs(&q(con, &["LPOP", "l", "0"])),
            Vec::<Option<String>>::new()
        );
        // missing key with a count: null array (nil for the client)
        assert_eq!(q(con, &["LPOP", "nokey", "3"]), Value::Nil);
        // popping more than there is empties and deletes the list
        assert_eq!(
            strs(&q(con, &["RPOP", "l", "10"])),
            vec![Some("a".into()), Some("x".into())]
        );
        assert_eq!(int(con, &["EXISTS", "l"]), 0);
        assert_eq!(
            err(con, &["LPOP", "l", "-1"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            err(con, &["LPOP", "l", "x"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            err(con, &["LPOP", "l", "1", "2"]),
            "ERR wrong number of arguments for 'lpop' command"
        );
        assert_eq!(
            err(con, &["RPUSH", "l"]),
            "ERR wrong number of arguments for 'rpush' command"
        );
        // the last single pop deletes the key too
        int(con, &["RPUSH", "one", "x"]);
        assert_eq!(bulk(con, &["RPOP", "one"]), Some("x".into()));
        assert_eq!(int(con, &["EXISTS", "one"]), 0);
    });
}

#[test]
fn index_set_insert_range() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["RPUSH", "l", "a", "b", "c", "d"]);
        assert_eq!(bulk(con, &["LINDEX", "l", "0"]), Some("a".into()));
        assert_eq!(bulk(con, &["LINDEX", "l", "-1"]), Some("d".into()));
        assert_eq!(bulk(con, &["LINDEX", "l", "-5"]), None);
        assert_eq!(bulk(con, &["LINDEX", "l", "4"]), None);
        assert_eq!(bulk(con, &["LINDEX", "nokey", "x"]), None);
        assert_eq!(err(con, &["LINDEX", "l", "x"]), NOT_INT);
        ok(con, &["LSET", "l", "-2", "C"]);
        assert_eq!(err(con, &["LSET", "l", "4", "x"]), "ERR index out of range");
        assert_eq!(err(con, &["LSET", "nokey", "0", "x"]), "ERR no such key");
        assert_eq!(err(con, &["LSET", "l", "x", "x"]), NOT_INT);
        assert_eq!(int(con, &["LINSERT", "l", "BEFORE", "a", "0"]), 5);
        assert_eq!(int(con, &["LINSERT", "l", "after", "d", "e"]), 6);
        assert_eq!(int(con, &["LINSERT", "l", "after", "zz", "e"]), -1);
        assert_eq!(int(con, &["LINSERT", "nokey", "after", "a", "e"]), 0);
        assert_eq!(
            err(con, &["LINSERT", "l", "middle", "a", "e"]),
            "ERR syntax error"
        );
        assert_eq!(lrange(con, "l"), owned(&["0", "a", "b", "C", "d", "e"]));
        let r = |con: &mut redis::Connection, s: &str, e: &str| -> Vec<String> {
            strs(&q(con, &["LRANGE", "l", s, e]))
                .into_iter()
                .map(|x| x.unwrap_or_default())
                .collect()
        };
        assert_eq!(r(con, "1", "2"), owned(&["a", "b"]));
        assert_eq!(r(con, "-2", "-1"), owned(&["d", "e"]));
        assert_eq!(r(con, "-100", "1"), owned(&["0", "a"]));
        assert_eq!(r(con, "4", "100"), owned(&["d", "e"]));
        assert!(r(con, "3", "2").is_empty());
        assert!(r(con, "6", "10").is_empty());
        assert!(r(con, "0", "-7").is_empty());
        assert_eq!(err(con, &["LRANGE", "l", "a", "1"]), NOT_INT);
        assert_eq!(
            strs(&q(con, &["LRANGE", "nokey", "0", "-1"])),
            Vec::<Option<String>>::new()
        );
    });
}

#[test]
fn lrem_and_ltrim() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["RPUSH", "l", "a", "b", "a", "c", "a", "b"]);
        assert_eq!(int(con, &["LREM", "l", "-2", "a"]), 2);
        assert_eq!(lrange(con, "l"), owned(&["a", "b", "c", "b"]));
        assert_eq!(int(con, &["LREM", "l", "1", "b"]), 1);
        assert_eq!(lrange(con, "l"), owned(&["a", "c", "b"]));
        assert_eq!(int(con, &["LREM", "l", "0", "zz"]), 0);
        assert_eq!(int(con, &["LREM", "nokey", "0", "a"]), 0);
        assert_eq!(err(con, &["LREM", "l", "x", "a"]), NOT_INT);
        assert_eq!(int(con, &["LREM", "l", "0", "a"]), 1);
        assert_eq!(int(con, &["LREM", "l", "0", "c"]), 1);
        assert_eq!(int(con, &["LREM", "l", "0", "b"]), 1);
        assert_eq!(int(con, &["EXISTS", "l"]), 0);

        int(con, &["RPUSH", "t", "1", "2", "3", "4", "5"]);
        ok(con, &["LTRIM", "t", "1", "-2"]);
        assert_eq!(lrange(con, "t"), owned(&["2", "3", "4"]));
        ok(con, &["LTRIM", "t", "-100", "100"]);
        assert_eq!(lrange(con, "t"), owned(&["2", "3", "4"]));
        ok(con, &["LTRIM", "nokey", "0", "1"]);
        assert_eq!(err(con, &["LTRIM", "t", "0", "x"]), NOT_INT);
        // an empty range deletes the key
        ok(con, &["LTRIM", "t", "2", "1"]);
        assert_eq!(int(con, &["EXISTS", "t"]), 0);
    });
}

#[test]
fn lpos_options() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(q(con, &["LPOS", "l", "c"]), Value::Int(2));
        assert_eq!(q(con, &["LPOS", "l", "c", "RANK", "2"]), Value::Int(6));
        assert_eq!(q(con, &["LPOS", "l", "c", "RANK", "-1"]), Value::Int(7));
        assert_eq!(q(con, &["LPOS", "l", "c", "RANK", "-3"]), Value::Int(2));
        assert_eq!(q(con, &["LPOS", "l", "c", "RANK", "4"]), Value::Nil);
        assert_eq!(q(con, &["LPOS", "l", "x"]), Value::Nil);
        assert_eq!(q(con, &["LPOS", "nokey", "x"]), Value::Nil);
        let ints = |v: Value| -> Vec<i64> {
            match v {
                Value::Array(a) => a
                    .into_iter()
                    .map(|x| match x {
                        Value::Int(n) => n,
                        x => panic!("not an int: {x:?}"),
                    })
                    .collect(),
                v => panic!("not an array: {v:?}"),
            }
        };
        assert_eq!(
            ints(q(con, &["LPOS", "l", "c", "COUNT", "0"])),
            vec![2, 6, 7]
        );
        assert_eq!(ints(q(con, &["LPOS", "l", "c", "COUNT", "2"])), vec![2, 6]);
        assert_eq!(
            ints(q(con, &["LPOS", "l", "c", "COUNT", "0", "RANK", "-1"])),
            vec![7, 6, 2]
        );
        assert_eq!(
            ints(q(con, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"])),
            vec![2, 6]
        );
        assert_eq!(
            ints(q(
                con,
                &["LPOS", "l", "c", "RANK", "-1", "MAXLEN", "1", "COUNT", "0"]
            )),
            vec![7]
        );
        assert!(ints(q(con, &["LPOS", "nokey", "c", "COUNT", "0"])).is_empty());
        assert!(ints(q(con, &["LPOS", "l", "zz", "COUNT", "1"])).is_empty());
        assert_eq!(
            err(con, &["LPOS", "l", "c", "RANK", "0"]),
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
        );
        assert_eq!(
            err(con, &["LPOS", "l", "c", "COUNT", "-1"]),
            "ERR COUNT can't be negative"
        );
        assert_eq!(
            err(con, &["LPOS", "l", "c", "MAXLEN", "-1"]),
            "ERR MAXLEN can't be negative"
        );
        assert_eq!(err(con, &["LPOS", "l", "c", "RANK"]), "ERR syntax error");
        assert_eq!(
            err(con, &["LPOS", "l", "c", "FOO", "1"]),
            "ERR syntax error"
        );
    });
}

#[test]
fn lmove_and_rpoplpush() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["RPUSH", "{t}src", "a", "b", "c"]);
        assert_eq!(
            bulk(con, &["LMOVE", "{t}src", "{t}dst", "LEFT", "RIGHT"]),
            Some("a".into())
        );
        assert_eq!(
            bulk(con, &["LMOVE", "{t}src", "{t}dst", "right", "left"]),
            Some("c".into())
        );
        assert_eq!(lrange(con, "{t}dst"), owned(&["c", "a"]));
        assert_eq!(
            bulk(con, &["RPOPLPUSH", "{t}src", "{t}dst"]),
            Some("b".into())
        );
        assert_eq!(int(con, &["EXISTS", "{t}src"]), 0);
        assert_eq!(lrange(con, "{t}dst"), owned(&["b", "c", "a"]));
        assert_eq!(bulk(con, &["RPOPLPUSH", "{t}src", "{t}dst"]), None);
        assert_eq!(
            err(con, &["LMOVE", "{t}dst", "{t}x", "up", "left"]),
            "ERR syntax error"
        );
        // same key: rotation, even with one element
        assert_eq!(
            bulk(con, &["RPOPLPUSH", "{t}dst", "{t}dst"]),
            Some("a".into())
        );
        assert_eq!(lrange(con, "{t}dst"), owned(&["a", "b", "c"]));
        int(con, &["RPUSH", "{t}one", "x"]);
        assert_eq!(
            bulk(con, &["LMOVE", "{t}one", "{t}one", "LEFT", "RIGHT"]),
            Some("x".into())
        );
        assert_eq!(lrange(con, "{t}one"), owned(&["x"]));
        // a wrong destination type is reported before anything is popped
        ok(con, &["SET", "{t}str", "v"]);
        assert_eq!(err(con, &["RPOPLPUSH", "{t}dst", "{t}str"]), WRONGTYPE);
        assert_eq!(lrange(con, "{t}dst"), owned(&["a", "b", "c"]));
        assert_eq!(err(con, &["RPOPLPUSH", "{t}str", "{t}dst"]), WRONGTYPE);
        // missing source: nil, destination untouched even if wrong type
        assert_eq!(bulk(con, &["RPOPLPUSH", "{t}none", "{t}str"]), None);
    });
}

#[test]
fn lmpop_forms() {
    for_each_setup(|_srv, con, resp3| {
        int(con, &["RPUSH", "{t}b", "1", "2", "3"]);
        let v = q(con, &["LMPOP", "2", "{t}a", "{t}b", "LEFT"]);
        assert_eq!(
            v,
            Value::Array(vec![
                Value::BulkString(b"{t}b".to_vec()),
                Value::Array(vec![Value::BulkString(b"1".to_vec())]),
            ])
        );
        let v = q(con, &["LMPOP", "2", "{t}a", "{t}b", "RIGHT", "COUNT", "10"]);
        assert_eq!(
            v,
            Value::Array(vec![
                Value::BulkString(b"{t}b".to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"3".to_vec()),
                    Value::BulkString(b"2".to_vec())
                ]),
            ])
        );
        assert_eq!(int(con, &["EXISTS", "{t}b"]), 0);
        assert_eq!(q(con, &["LMPOP", "2", "{t}a", "{t}b", "LEFT"]), Value::Nil);
        assert_eq!(
            err(con, &["LMPOP", "0", "{t}a", "LEFT"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(
            err(con, &["LMPOP", "x", "{t}a", "LEFT"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(
            err(con, &["LMPOP", "3", "{t}a", "LEFT"]),
            "ERR syntax error"
        );
        assert_eq!(err(con, &["LMPOP", "1", "{t}a", "UP"]), "ERR syntax error");
        assert_eq!(
            err(con, &["LMPOP", "1", "{t}a", "LEFT", "COUNT", "0"]),
            "ERR count should be greater than 0"
        );
        assert_eq!(
            err(
                con,
                &["LMPOP", "1", "{t}a", "LEFT", "COUNT", "1", "COUNT", "1"]
            ),
            "ERR syntax error"
        );
        ok(con, &["SET", "{t}s", "x"]);
        int(con, &["RPUSH", "{t}l", "x"]);
        assert_eq!(err(con, &["LMPOP", "2", "{t}s", "{t}l", "LEFT"]), WRONGTYPE);
        // the first non-empty list wins; later keys are not type-checked
        assert!(matches!(
            q(con, &["LMPOP", "2", "{t}l", "{t}s", "LEFT"]),
            Value::Array(_)
        ));
        let _ = resp3;
    });
}

#[test]
fn wrong_type_everywhere() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "s", "v"]);
        for args in [
            vec!["LPUSH", "s", "a"],
            vec!["RPUSHX", "s", "a"],
            vec!["LPOP", "s"],
            vec!["RPOP", "s", "2"],
            vec!["LLEN", "s"],
            vec!["LRANGE", "s", "0", "-1"],
            vec!["LINDEX", "s", "0"],
            vec!["LSET", "s", "0", "x"],
            vec!["LINSERT", "s", "before", "a", "b"],
            vec!["LREM", "s", "0", "a"],
            vec!["LTRIM", "s", "0", "1"],
            vec!["LPOS", "s", "a"],
        ] {
            assert_eq!(err(con, &args), WRONGTYPE, "{args:?}");
        }
        int(con, &["RPUSH", "l", "a"]);
        assert_eq!(err(con, &["GET", "l"]), WRONGTYPE);
        assert_eq!(err(con, &["APPEND", "l", "x"]), WRONGTYPE);
        assert_eq!(err(con, &["INCR", "l"]), WRONGTYPE);
        // SET overwrites any type
        ok(con, &["SET", "l", "now a string"]);
        assert_eq!(bulk(con, &["GET", "l"]), Some("now a string".into()));
    });
}

#[test]
fn generic_key_commands_on_lists() {
    for_each_setup(|srv, con, _resp3| {
        int(con, &["RPUSH", "{t}l", "a", "b"]);
        assert_eq!(status(con, &["TYPE", "{t}l"]), "list");
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "{t}l"]),
            Some("quicklist".into())
        );
        // MGET answers nil for non-strings
        ok(con, &["SET", "{t}s", "v"]);
        assert_eq!(
            strs(&q(con, &["MGET", "{t}l", "{t}s"])),
            vec![None, Some("v".into())]
        );
        // COPY is deep: changing the copy leaves the original alone
        assert_eq!(int(con, &["COPY", "{t}l", "{t}c"]), 1);
        int(con, &["RPUSH", "{t}c", "z"]);
        assert_eq!(lrange(con, "{t}l"), owned(&["a", "b"]));
        assert_eq!(lrange(con, "{t}c"), owned(&["a", "b", "z"]));
        ok(con, &["RENAME", "{t}c", "{t}r"]);
        assert_eq!(lrange(con, "{t}r"), owned(&["a", "b", "z"]));
        // cross-shard RENAME/COPY move the value whole
        ok(con, &["RENAME", "{t}r", "elsewhere"]);
        assert_eq!(lrange(con, "elsewhere"), owned(&["a", "b", "z"]));
        assert_eq!(int(con, &["COPY", "elsewhere", "other"]), 1);
        assert_eq!(lrange(con, "other"), owned(&["a", "b", "z"]));
        assert_eq!(int(con, &["MOVE", "other", "3"]), 1);
        ok(con, &["SELECT", "3"]);
        assert_eq!(lrange(con, "other"), owned(&["a", "b", "z"]));
        ok(con, &["FLUSHDB"]);
        ok(con, &["SELECT", "0"]);
        // SCAN TYPE
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let v = q(con, &["SCAN", &cursor, "TYPE", "list", "COUNT", "100"]);
            let Value::Array(parts) = v else {
                panic!("bad SCAN reply")
            };
            cursor = as_str(&parts[0]);
            seen.extend(strs(&parts[1]).into_iter().flatten());
            if cursor == "0" {
                break;
            }
        }
        seen.sort();
        assert_eq!(seen, owned(&["elsewhere", "{t}l"]));
        // EXPIRE and DEL
        assert_eq!(int(con, &["PEXPIRE", "{t}l", "50"]), 1);
        std::thread::sleep(ms(80));
        assert_eq!(int(con, &["LLEN", "{t}l"]), 0);
        assert_eq!(int(con, &["DEL", "elsewhere"]), 1);
        let _ = srv;
    });
}

#[test]
fn big_list_matches_a_model() {
    for_each_setup(|_srv, con, _resp3| {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut model: std::collections::VecDeque<String> = Default::default();
        for i in 0..2000 {
            let v = format!("v{}", rng.u32(..50));
            match rng.u32(..6) {
                0 => {
                    int(con, &["LPUSH", "big", &v]);
                    model.push_front(v);
                }
                1 | 2 => {
                    int(con, &["RPUSH", "big", &v]);
                    model.push_back(v);
                }
                3 => assert_eq!(bulk(con, &["LPOP", "big"]), model.pop_front()),
                4 => {
                    let n = rng.i64(-3..3);
                    let removed = int(con, &["LREM", "big", &n.to_string(), &v]);
                    let mut left = if n == 0 {
                        usize::MAX
                    } else {
                        n.unsigned_abs() as usize
                    };
                    let mut idx: Vec<usize> = (0..model.len()).collect();
                    if n < 0 {
                        idx.reverse();
                    }
                    let mut doomed = Vec::new();
                    for i in idx {
                        if left > 0 && model[i] == v {
                            doomed.push(i);
                            left -= 1;
                        }
                    }
                    doomed.sort_unstable();
                    for i in doomed.iter().rev() {
                        model.remove(*i);
                    }
                    assert_eq!(removed as usize, doomed.len());
                }
                _ => {
                    if !model.is_empty() {
                        let i = rng.usize(..model.len());
                        assert_eq!(
                            bulk(con, &["LINDEX", "big", &i.to_string()]),
                            Some(model[i].clone())
                        );
                    }
                }
            }
            if i % 500 == 0 {
                assert_eq!(
                    lrange(con, "big"),
                    model.iter().cloned().collect::<Vec<_>>()
                );
            }
        }
        assert_eq!(lrange(con, "big"), model.into_iter().collect::<Vec<_>>());
    });
}

#[test]
fn lmpop_keys_route_by_numkeys() {
    // With 4 threads, keys of one tag share a shard wherever they sit in
    // the arguments; COMMAND GETKEYS reports the numkeys keys.
    let srv = Server::start(4);
    let mut con = srv.conn();
    let keys = strs(&q(
        &mut con,
        &["COMMAND", "GETKEYS", "LMPOP", "2", "{x}a", "{x}b", "LEFT"],
    ));
    assert_eq!(keys, vec![Some("{x}a".into()), Some("{x}b".into())]);
    for i in 0..20 {
        let k = format!("{{k{i}}}list");
        int(&mut con, &["RPUSH", &k, "v"]);
        let v = q(
            &mut con,
            &["LMPOP", "2", &format!("{{k{i}}}none"), &k, "LEFT"],
        );
        assert!(matches!(v, Value::Array(_)), "{v:?}");
    }
}
