//! Sorted set commands against --threads 1 and --threads 4, RESP2 and
//! RESP3. Multi-key commands use {t} hash tags so their keys share a shard.
//! Expected replies are those of redis-server 7.0.15 (run with
//! HALOCLINE_TEST_REDIS=/usr/bin/redis-server to check the tests).

mod common;
use common::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const SYNTAX: &str = "ERR syntax error";

/// Members of a reply without scores.
fn members(v: &Value) -> Vec<String> {
    strs(v).into_iter().map(|x| x.unwrap_or_default()).collect()
}

/// (member, score) pairs of a WITHSCORES reply, in either protocol:
/// RESP2 flat [m, "s", ...], RESP3 [[m, s], ...] with doubles.
fn scored(v: &Value) -> Vec<(String, f64)> {
    let Value::Array(a) = v else {
        panic!("expected an array, got {v:?}")
    };
    let num = |x: &Value| -> f64 {
        match x {
            Value::Double(d) => *d,
            x => match as_str(x).as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                s => s.parse().unwrap_or_else(|_| panic!("bad score {s:?}")),
            },
        }
    };
    if a.iter().all(|x| matches!(x, Value::Array(_))) && !a.is_empty() {
        a.iter()
            .map(|p| match p {
                Value::Array(p) if p.len() == 2 => (as_str(&p[0]), num(&p[1])),
                p => panic!("bad pair {p:?}"),
            })
            .collect()
    } else {
        assert!(a.len() % 2 == 0, "odd flat WITHSCORES reply {v:?}");
        a.chunks(2).map(|c| (as_str(&c[0]), num(&c[1]))).collect()
    }
}

fn zs(items: &[(&str, f64)]) -> Vec<(String, f64)> {
    items.iter().map(|(m, s)| (m.to_string(), *s)).collect()
}

fn all(con: &mut redis::Connection, key: &str) -> Vec<(String, f64)> {
    scored(&q(con, &["ZRANGE", key, "0", "-1", "WITHSCORES"]))
}

fn score(con: &mut redis::Connection, key: &str, m: &str) -> Option<f64> {
    match q(con, &["ZSCORE", key, m]) {
        Value::Nil => None,
        Value::Double(d) => Some(d),
        v => Some(as_str(&v).parse().unwrap_or_else(|_| panic!("{v:?}"))),
    }
}

#[test]
fn zadd_options() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(int(con, &["ZADD", "z", "1", "a", "2", "b"]), 2);
        assert_eq!(int(con, &["ZADD", "z", "3", "a", "3", "c"]), 1);
        assert_eq!(
            int(con, &["ZADD", "z", "CH", "4", "a", "3", "c", "5", "d"]),
            2
        );
        assert_eq!(int(con, &["ZADD", "z", "NX", "9", "a", "6", "e"]), 1);
        assert_eq!(score(con, "z", "a"), Some(4.0));
        assert_eq!(
            int(con, &["ZADD", "z", "XX", "CH", "1", "a", "9", "new"]),
            1
        );
        assert_eq!(score(con, "z", "new"), None);
        assert_eq!(int(con, &["ZADD", "z", "GT", "CH", "0", "a", "7", "b"]), 1);
        assert_eq!(score(con, "z", "a"), Some(1.0));
        assert_eq!(score(con, "z", "b"), Some(7.0));
        assert_eq!(int(con, &["ZADD", "z", "LT", "CH", "5", "b", "8", "d"]), 1);
        assert_eq!(score(con, "z", "b"), Some(5.0));
        // GT/LT still add new members
        assert_eq!(int(con, &["ZADD", "z", "GT", "1", "f"]), 1);
        // INCR: the new score, or nil when skipped
        let incr = q(con, &["ZADD", "z", "INCR", "2.5", "a"]);
        assert!(
            matches!(incr, Value::Double(_) | Value::BulkString(_)),
            "{incr:?}"
        );
        assert_eq!(score(con, "z", "a"), Some(3.5));
        assert_eq!(q(con, &["ZADD", "z", "INCR", "LT", "1", "a"]), Value::Nil);
        assert_eq!(q(con, &["ZADD", "z", "NX", "INCR", "1", "a"]), Value::Nil);
        assert_eq!(
            q(con, &["ZADD", "nokey", "XX", "INCR", "1", "a"]),
            Value::Nil
        );
        assert_eq!(int(con, &["ZADD", "nokey", "XX", "1", "a"]), 0);
        assert_eq!(int(con, &["EXISTS", "nokey"]), 0);
        // errors
        assert_eq!(
            err(con, &["ZADD", "z", "NX", "XX", "1", "a"]),
            "ERR XX and NX options at the same time are not compatible"
        );
        for o in [["NX", "GT"], ["NX", "LT"], ["GT", "LT"]] {
            assert_eq!(
                err(con, &["ZADD", "z", o[0], o[1], "1", "a"]),
                "ERR GT, LT, and/or NX options at the same time are not compatible"
            );
        }
        assert_eq!(
            err(con, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
            "ERR INCR option supports a single increment-element pair"
        );
        assert_eq!(err(con, &["ZADD", "z", "1", "a", "2"]), SYNTAX);
        assert_eq!(
            err(con, &["ZADD", "z", "NX"]),
            "ERR wrong number of arguments for 'zadd' command"
        );
        assert_eq!(err(con, &["ZADD", "z", "NX", "CH", "1"]), SYNTAX);
        for bad in ["", "abc", "nan", " 1", "1 ", "1e400"] {
            assert_eq!(err(con, &["ZADD", "z", bad, "x"]), NOT_FLOAT, "{bad:?}");
        }
        // all or nothing on a bad score
        assert_eq!(err(con, &["ZADD", "z", "1", "x", "bad", "y"]), NOT_FLOAT);
        assert_eq!(score(con, "z", "x"), None);
        // inf and NaN results
        assert_eq!(int(con, &["ZADD", "inf", "+inf", "a", "-inf", "b"]), 2);
        assert_eq!(
            err(con, &["ZINCRBY", "inf", "-inf", "a"]),
            "ERR resulting score is not a number (NaN)"
        );
        assert_eq!(score(con, "inf", "a"), Some(f64::INFINITY));
        assert_eq!(score(con, "inf", "b"), Some(f64::NEG_INFINITY));
    });
}

#[test]
fn score_formatting_like_redis() {
    // Redis 7.0 replies scores with %.17g: in RESP2 as bulk strings, in
    // RESP3 as doubles with the same text.
    let srv = Server::start(2);
    let mut r2 = srv.raw();
    let mut r3 = srv.raw();
    assert!(!r3.call(&["HELLO", "3"]).is_error());
    r2.call(&[
        "ZADD", "z", "1.1", "a", "10", "b", "1e17", "c", "-0.0", "d", "inf", "e",
    ]);
    for (m, text) in [
        ("a", "1.1000000000000001"),
        ("b", "10"),
        ("c", "1e+17"),
        ("d", "0"),
        ("e", "inf"),
    ] {
        assert_eq!(r2.call(&["ZSCORE", "z", m]), Resp::bulk(text), "{m}");
        assert_eq!(
            r3.call(&["ZSCORE", "z", m]),
            Resp::Double(text.into()),
            "{m}"
        );
    }
    // A listpack stores integral scores as integers (so -0 reads back as
    // 0); a skiplist keeps the double as given.
    r2.call(&["CONFIG", "SET", "zset-max-listpack-entries", "0"]);
    r2.call(&["ZADD", "sk", "-0.0", "d"]);
    assert_eq!(r2.call(&["ZSCORE", "sk", "d"]), Resp::bulk("-0"));
    r2.call(&["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
    assert_eq!(
        r3.call(&["ZINCRBY", "z", "1", "b"]),
        Resp::Double("11".into())
    );
    assert_eq!(r2.call(&["ZINCRBY", "z", "0.5", "b"]), Resp::bulk("11.5"));
    // ZSCAN of a listpack shows scores as the listpack stores them
    let v = r2.call(&["ZSCAN", "z", "0"]);
    let Resp::Array(parts) = v else {
        panic!("{v:?}")
    };
    let Resp::Array(items) = &parts[1] else {
        panic!()
    };
    let pos = items.iter().position(|x| *x == Resp::bulk("c")).unwrap();
    assert_eq!(items[pos + 1], Resp::bulk("100000000000000000"));
}

#[test]
fn ranges_by_rank_score_and_lex() {
    for_each_setup(|_srv, con, _resp3| {
        int(
            con,
            &[
                "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
            ],
        );
        assert_eq!(
            members(&q(con, &["ZRANGE", "z", "1", "-2"])),
            ["b", "c", "d"]
        );
        assert_eq!(members(&q(con, &["ZRANGE", "z", "-100", "0"])), ["a"]);
        assert!(members(&q(con, &["ZRANGE", "z", "3", "1"])).is_empty());
        assert_eq!(
            members(&q(con, &["ZRANGE", "z", "0", "1", "REV"])),
            ["e", "d"]
        );
        assert_eq!(members(&q(con, &["ZREVRANGE", "z", "0", "1"])), ["e", "d"]);
        assert_eq!(
            scored(&q(con, &["ZRANGE", "z", "0", "1", "WITHSCORES"])),
            zs(&[("a", 1.0), ("b", 2.0)])
        );
        assert_eq!(
            members(&q(con, &["ZRANGE", "z", "(1", "4", "BYSCORE"])),
            ["b", "c", "d"]
        );
        assert_eq!(
            members(&q(
                con,
                &["ZRANGE", "z", "4", "(1", "BYSCORE", "REV", "LIMIT", "1", "2"]
            )),
            ["c", "b"]
        );
        assert_eq!(
            members(&q(
                con,
                &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "3", "-1"]
            )),
            ["d", "e"]
        );
        assert!(members(&q(
            con,
            &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "3"]
        ))
        .is_empty());
        assert!(members(&q(con, &["ZRANGEBYSCORE", "z", "3", "(3"])).is_empty());
        assert_eq!(
            scored(&q(con, &["ZREVRANGEBYSCORE", "z", "5", "4", "WITHSCORES"])),
            zs(&[("e", 5.0), ("d", 4.0)])
        );
        assert_eq!(int(con, &["ZCOUNT", "z", "(1", "+inf"]), 4);
        assert_eq!(int(con, &["ZCOUNT", "z", "10", "20"]), 0);
        assert_eq!(int(con, &["ZCOUNT", "nokey", "0", "1"]), 0);
        assert_eq!(
            err(con, &["ZCOUNT", "z", "x", "1"]),
            "ERR min or max is not a float"
        );
        assert_eq!(
            err(con, &["ZRANGEBYSCORE", "z", "(", "nan"]),
            "ERR min or max is not a float"
        );
        assert_eq!(
            err(con, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]),
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        );
        assert_eq!(
            err(con, &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]),
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
        );
        assert_eq!(err(con, &["ZREVRANGE", "z", "0", "1", "BYSCORE"]), SYNTAX);
        assert_eq!(err(con, &["ZRANGEBYSCORE", "z", "0", "1", "REV"]), SYNTAX);
        assert_eq!(
            err(con, &["ZRANGE", "z", "a", "1"]),
            "ERR value is not an integer or out of range"
        );
        // lex ranges (all scores equal)
        int(
            con,
            &[
                "ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e",
            ],
        );
        assert_eq!(
            members(&q(con, &["ZRANGEBYLEX", "lex", "[b", "(d"])),
            ["b", "c"]
        );
        assert_eq!(
            members(&q(
                con,
                &["ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "1", "2"]
            )),
            ["b", "c"]
        );
        assert_eq!(
            members(&q(con, &["ZREVRANGEBYLEX", "lex", "+", "(c"])),
            ["e", "d"]
        );
        assert_eq!(
            members(&q(con, &["ZRANGE", "lex", "[d", "-", "BYLEX", "REV"])),
            ["d", "c", "b", "a"]
        );
        assert!(members(&q(con, &["ZRANGEBYLEX", "lex", "+", "-"])).is_empty());
        assert_eq!(int(con, &["ZLEXCOUNT", "lex", "(a", "[c"]), 2);
        assert_eq!(int(con, &["ZLEXCOUNT", "lex", "-", "+"]), 5);
        for bad in [["a", "+"], ["[a", "c"], ["1", "+"], ["-", "++"]] {
            assert_eq!(
                err(con, &["ZRANGEBYLEX", "lex", bad[0], bad[1]]),
                "ERR min or max not valid string range item"
            );
        }
        assert!(members(&q(con, &["ZRANGE", "nokey", "0", "-1"])).is_empty());
    });
}

#[test]
fn rank_score_card_rem() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(q(con, &["ZRANK", "z", "b"]), Value::Int(1));
        assert_eq!(q(con, &["ZREVRANK", "z", "b"]), Value::Int(1));
        assert_eq!(q(con, &["ZREVRANK", "z", "a"]), Value::Int(2));
        assert_eq!(q(con, &["ZRANK", "z", "x"]), Value::Nil);
        assert_eq!(q(con, &["ZRANK", "nokey", "x"]), Value::Nil);
        assert_eq!(int(con, &["ZCARD", "z"]), 3);
        assert_eq!(int(con, &["ZCARD", "nokey"]), 0);
        let v = q(con, &["ZMSCORE", "z", "a", "x", "c"]);
        let Value::Array(a) = &v else { panic!("{v:?}") };
        assert_eq!(a.len(), 3);
        assert_eq!(a[1], Value::Nil);
        let v = q(con, &["ZMSCORE", "nokey", "a", "b"]);
        assert_eq!(v, Value::Array(vec![Value::Nil, Value::Nil]));
        assert_eq!(int(con, &["ZREM", "z", "a", "x", "a"]), 1);
        assert_eq!(int(con, &["ZREM", "z", "b", "c", "d"]), 2);
        assert_eq!(int(con, &["EXISTS", "z"]), 0);
        assert_eq!(int(con, &["ZREM", "z", "b"]), 0);
    });
}

#[test]
fn remrange_forms() {
    for_each_setup(|_srv, con, _resp3| {
        let fill = |con: &mut redis::Connection| {
            q(con, &["DEL", "z"]);
            int(
                con,
                &[
                    "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
                ],
            );
        };
        fill(con);
        assert_eq!(int(con, &["ZREMRANGEBYRANK", "z", "1", "-2"]), 3);
        assert_eq!(all(con, "z"), zs(&[("a", 1.0), ("e", 5.0)]));
        assert_eq!(int(con, &["ZREMRANGEBYRANK", "z", "5", "10"]), 0);
        fill(con);
        assert_eq!(int(con, &["ZREMRANGEBYSCORE", "z", "(1", "3"]), 2);
        assert_eq!(int(con, &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]), 3);
        assert_eq!(int(con, &["EXISTS", "z"]), 0);
        int(con, &["ZADD", "z", "0", "a", "0", "b", "0", "c"]);
        assert_eq!(int(con, &["ZREMRANGEBYLEX", "z", "[a", "(c"]), 2);
        assert_eq!(all(con, "z"), zs(&[("c", 0.0)]));
        assert_eq!(int(con, &["ZREMRANGEBYLEX", "nokey", "-", "+"]), 0);
        assert_eq!(
            err(con, &["ZREMRANGEBYSCORE", "z", "a", "1"]),
            "ERR min or max is not a float"
        );
        assert_eq!(
            err(con, &["ZREMRANGEBYLEX", "z", "a", "1"]),
            "ERR min or max not valid string range item"
        );
    });
}

#[test]
fn pop_shapes() {
    for_each_setup(|_srv, con, resp3| {
        int(
            con,
            &["ZADD", "{t}z", "1", "a", "2", "b", "3", "c", "4", "d"],
        );
        // no count: flat [member, score] in both protocols
        let v = q(con, &["ZPOPMIN", "{t}z"]);
        let Value::Array(a) = &v else { panic!("{v:?}") };
        assert_eq!(a.len(), 2);
        assert_eq!(as_str(&a[0]), "a");
        // with a count: flat in RESP2, pairs in RESP3
        let v = q(con, &["ZPOPMAX", "{t}z", "2"]);
        let Value::Array(a) = &v else { panic!("{v:?}") };
        assert_eq!(a.len(), if resp3 { 2 } else { 4 });
        assert_eq!(scored(&v), zs(&[("d", 4.0), ("c", 3.0)]));
        assert_eq!(q(con, &["ZPOPMIN", "{t}z", "0"]), Value::Array(vec![]));
        assert_eq!(q(con, &["ZPOPMIN", "nokey"]), Value::Array(vec![]));
        assert_eq!(
            err(con, &["ZPOPMIN", "{t}z", "-1"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(err(con, &["ZPOPMIN", "{t}z", "1", "2"]), SYNTAX);
        // ZMPOP: [key, [[m, s], ...]]
        let v = q(con, &["ZMPOP", "2", "{t}none", "{t}z", "MIN", "COUNT", "5"]);
        let Value::Array(a) = &v else { panic!("{v:?}") };
        assert_eq!(as_str(&a[0]), "{t}z");
        assert_eq!(scored(&a[1]), zs(&[("b", 2.0)]));
        assert_eq!(int(con, &["EXISTS", "{t}z"]), 0);
        assert_eq!(q(con, &["ZMPOP", "1", "{t}z", "MAX"]), Value::Nil);
        assert_eq!(
            err(con, &["ZMPOP", "0", "{t}z", "MAX"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(err(con, &["ZMPOP", "1", "{t}z", "MIDDLE"]), SYNTAX);
        assert_eq!(
            err(con, &["ZMPOP", "1", "{t}z", "MIN", "COUNT", "0"]),
            "ERR count should be greater than 0"
        );
        ok(con, &["SET", "{t}s", "x"]);
        assert_eq!(err(con, &["ZMPOP", "1", "{t}s", "MIN"]), WRONGTYPE);
        assert_eq!(err(con, &["ZPOPMIN", "{t}s"]), WRONGTYPE);
    });
}

#[test]
fn union_inter_diff() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["ZADD", "{t}a", "1", "a", "2", "b", "3", "c"]);
        int(con, &["ZADD", "{t}b", "1", "b", "2", "c", "3", "d"]);
        assert_eq!(
            scored(&q(con, &["ZUNION", "2", "{t}a", "{t}b", "WITHSCORES"])),
            zs(&[("a", 1.0), ("b", 3.0), ("d", 3.0), ("c", 5.0)])
        );
        assert_eq!(
            scored(&q(
                con,
                &[
                    "ZUNION",
                    "2",
                    "{t}a",
                    "{t}b",
                    "WEIGHTS",
                    "2",
                    "3",
                    "WITHSCORES"
                ]
            )),
            zs(&[("a", 2.0), ("b", 7.0), ("d", 9.0), ("c", 12.0)])
        );
        assert_eq!(
            scored(&q(
                con,
                &[
                    "ZINTER",
                    "2",
                    "{t}a",
                    "{t}b",
                    "AGGREGATE",
                    "MAX",
                    "WITHSCORES"
                ]
            )),
            zs(&[("b", 2.0), ("c", 3.0)])
        );
        assert_eq!(
            scored(&q(
                con,
                &[
                    "ZINTER",
                    "2",
                    "{t}a",
                    "{t}b",
                    "AGGREGATE",
                    "min",
                    "WITHSCORES"
                ]
            )),
            zs(&[("b", 1.0), ("c", 2.0)])
        );
        assert_eq!(members(&q(con, &["ZDIFF", "2", "{t}a", "{t}b"])), ["a"]);
        assert!(members(&q(con, &["ZDIFF", "2", "{t}a", "{t}a"])).is_empty());
        assert_eq!(int(con, &["ZINTERCARD", "2", "{t}a", "{t}b"]), 2);
        assert_eq!(
            int(con, &["ZINTERCARD", "2", "{t}a", "{t}b", "LIMIT", "1"]),
            1
        );
        assert_eq!(int(con, &["ZINTERCARD", "2", "{t}a", "{t}none"]), 0);
        assert_eq!(int(con, &["ZUNIONSTORE", "{t}u", "2", "{t}a", "{t}b"]), 4);
        assert_eq!(
            all(con, "{t}u"),
            zs(&[("a", 1.0), ("b", 3.0), ("d", 3.0), ("c", 5.0)])
        );
        assert_eq!(
            int(
                con,
                &[
                    "ZINTERSTORE",
                    "{t}i",
                    "2",
                    "{t}a",
                    "{t}b",
                    "WEIGHTS",
                    "1",
                    "0"
                ]
            ),
            2
        );
        assert_eq!(all(con, "{t}i"), zs(&[("b", 2.0), ("c", 3.0)]));
        assert_eq!(int(con, &["ZDIFFSTORE", "{t}d", "2", "{t}b", "{t}a"]), 1);
        assert_eq!(all(con, "{t}d"), zs(&[("d", 3.0)]));
        // an empty result deletes the destination
        assert_eq!(
            int(con, &["ZINTERSTORE", "{t}d", "2", "{t}a", "{t}none"]),
            0
        );
        assert_eq!(int(con, &["EXISTS", "{t}d"]), 0);
        // the destination may be an input
        assert_eq!(int(con, &["ZUNIONSTORE", "{t}a", "2", "{t}a", "{t}a"]), 3);
        assert_eq!(all(con, "{t}a"), zs(&[("a", 2.0), ("b", 4.0), ("c", 6.0)]));
        // inf - inf sums to 0
        int(con, &["ZADD", "{t}p", "inf", "x"]);
        int(con, &["ZADD", "{t}n", "-inf", "x"]);
        assert_eq!(
            scored(&q(con, &["ZUNION", "2", "{t}p", "{t}n", "WITHSCORES"])),
            zs(&[("x", 0.0)])
        );
        // errors
        assert_eq!(
            err(con, &["ZUNION", "0", "{t}a"]),
            "ERR at least 1 input key is needed for 'zunion' command"
        );
        assert_eq!(
            err(con, &["ZINTERSTORE", "{t}x", "0", "{t}a"]),
            "ERR at least 1 input key is needed for 'zinterstore' command"
        );
        assert_eq!(err(con, &["ZUNION", "3", "{t}a", "{t}b"]), SYNTAX);
        assert_eq!(
            err(con, &["ZUNIONSTORE", "{t}x", "1", "{t}a", "WITHSCORES"]),
            SYNTAX
        );
        assert_eq!(err(con, &["ZDIFF", "1", "{t}a", "WEIGHTS", "1"]), SYNTAX);
        assert_eq!(
            err(con, &["ZUNION", "1", "{t}a", "AGGREGATE", "AVG"]),
            SYNTAX
        );
        assert_eq!(
            err(con, &["ZUNION", "2", "{t}a", "{t}b", "WEIGHTS", "1", "x"]),
            "ERR weight value is not a float"
        );
        assert_eq!(
            err(con, &["ZINTERCARD", "1", "{t}a", "LIMIT", "-1"]),
            "ERR LIMIT can't be negative"
        );
        ok(con, &["SET", "{t}s", "x"]);
        assert_eq!(err(con, &["ZUNION", "2", "{t}a", "{t}s"]), WRONGTYPE);
        // WRONGTYPE is found before option errors, as in Redis
        assert_eq!(err(con, &["ZUNION", "1", "{t}s", "BOGUS"]), WRONGTYPE);
    });
}

#[test]
fn zrangestore_and_encodings() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["ZADD", "{t}src", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(int(con, &["ZRANGESTORE", "{t}dst", "{t}src", "1", "-1"]), 2);
        assert_eq!(all(con, "{t}dst"), zs(&[("b", 2.0), ("c", 3.0)]));
        assert_eq!(
            int(
                con,
                &[
                    "ZRANGESTORE",
                    "{t}dst",
                    "{t}src",
                    "+inf",
                    "(1",
                    "BYSCORE",
                    "REV",
                    "LIMIT",
                    "0",
                    "1"
                ]
            ),
            1
        );
        assert_eq!(all(con, "{t}dst"), zs(&[("c", 3.0)]));
        assert_eq!(
            int(con, &["ZRANGESTORE", "{t}dst", "{t}none", "0", "-1"]),
            0
        );
        assert_eq!(int(con, &["EXISTS", "{t}dst"]), 0);
        assert_eq!(
            err(
                con,
                &["ZRANGESTORE", "{t}dst", "{t}src", "0", "-1", "WITHSCORES"]
            ),
            SYNTAX
        );
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "{t}src"]),
            Some("listpack".into())
        );
        // Past zset-max-listpack-entries the set becomes a skiplist, and
        // stays one when it shrinks; computed results are re-packed.
        ok(con, &["CONFIG", "SET", "zset-max-listpack-entries", "4"]);
        int(con, &["ZADD", "{t}src", "4", "d", "5", "e"]);
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "{t}src"]),
            Some("skiplist".into())
        );
        int(con, &["ZREM", "{t}src", "e", "d"]);
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "{t}src"]),
            Some("skiplist".into())
        );
        assert_eq!(int(con, &["ZUNIONSTORE", "{t}u", "1", "{t}src"]), 3);
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "{t}u"]),
            Some("listpack".into())
        );
        ok(con, &["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
        // A member longer than zset-max-listpack-value converts too.
        let long = "x".repeat(65);
        int(con, &["ZADD", "{t}long", "1", &long]);
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "{t}long"]),
            Some("skiplist".into())
        );
        // COPY keeps the encoding and is independent of the original
        assert_eq!(int(con, &["COPY", "{t}long", "{t}copy"]), 1);
        int(con, &["ZADD", "{t}copy", "2", "y"]);
        assert_eq!(int(con, &["ZCARD", "{t}long"]), 1);
        assert_eq!(int(con, &["ZCARD", "{t}copy"]), 2);
        assert_eq!(status(con, &["TYPE", "{t}copy"]), "zset");
    });
}

#[test]
fn randmember_forms() {
    for_each_setup(|_srv, con, resp3| {
        assert_eq!(q(con, &["ZRANDMEMBER", "nokey"]), Value::Nil);
        assert_eq!(q(con, &["ZRANDMEMBER", "nokey", "3"]), Value::Array(vec![]));
        int(
            con,
            &[
                "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
            ],
        );
        let all_m = ["a", "b", "c", "d", "e"];
        for _ in 0..20 {
            let m = bulk(con, &["ZRANDMEMBER", "z"]).unwrap();
            assert!(all_m.contains(&m.as_str()));
        }
        let v = members(&q(con, &["ZRANDMEMBER", "z", "3"]));
        assert_eq!(v.len(), 3);
        let mut d = v.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 3, "distinct members expected: {v:?}");
        // The whole set when asked for more, highest first (Redis walks it
        // backwards).
        let mut rev = all_m;
        rev.reverse();
        assert_eq!(members(&q(con, &["ZRANDMEMBER", "z", "10"])), rev);
        assert_eq!(members(&q(con, &["ZRANDMEMBER", "z", "-12"])).len(), 12);
        let v = q(con, &["ZRANDMEMBER", "z", "2", "WITHSCORES"]);
        let Value::Array(a) = &v else { panic!("{v:?}") };
        assert_eq!(a.len(), if resp3 { 2 } else { 4 });
        for (m, s) in scored(&v) {
            assert_eq!(s, (m.as_bytes()[0] - b'a' + 1) as f64);
        }
        assert_eq!(q(con, &["ZRANDMEMBER", "z", "0"]), Value::Array(vec![]));
        assert_eq!(err(con, &["ZRANDMEMBER", "z", "1", "X"]), SYNTAX);
        assert_eq!(
            err(con, &["ZRANDMEMBER", "z", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            err(
                con,
                &["ZRANDMEMBER", "z", "-9223372036854770000", "WITHSCORES"]
            ),
            "ERR value is out of range"
        );
    });
}

#[test]
fn zscan_returns_every_member() {
    for_each_setup(|_srv, con, _resp3| {
        for enc in ["small", "big"] {
            let n = if enc == "small" { 50 } else { 1000 };
            let key = format!("z{enc}");
            let mut args: Vec<String> = vec!["ZADD".into(), key.clone()];
            for i in 0..n {
                args.push(format!("{}", i as f64 / 2.0));
                args.push(format!("m{i}"));
            }
            int(con, &args);
            let mut seen = std::collections::HashMap::new();
            let mut cursor = "0".to_string();
            let mut calls = 0;
            loop {
                let v = q(con, &["ZSCAN", &key, &cursor, "COUNT", "37"]);
                let Value::Array(parts) = v else { panic!() };
                cursor = as_str(&parts[0]);
                let items = members(&parts[1]);
                for c in items.chunks(2) {
                    seen.insert(c[0].clone(), c[1].clone());
                }
                calls += 1;
                if cursor == "0" {
                    break;
                }
            }
            assert_eq!(seen.len(), n, "{enc}");
            assert_eq!(seen["m3"], "1.5");
            if enc == "small" {
                assert_eq!(calls, 1, "a listpack is returned in one call");
            }
            let v = q(con, &["ZSCAN", &key, "0", "MATCH", "m1?", "COUNT", "10000"]);
            let Value::Array(parts) = v else { panic!() };
            assert_eq!(members(&parts[1]).len(), 20);
        }
        assert_eq!(err(con, &["ZSCAN", "zsmall", "x"]), "ERR invalid cursor");
        assert_eq!(err(con, &["ZSCAN", "zsmall", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(err(con, &["ZSCAN", "zsmall", "0", "TYPE", "zset"]), SYNTAX);
    });
}

/// A naive model of a sorted set, checked against the server through
/// thousands of random operations in both encodings.
#[test]
fn random_operations_match_a_model() {
    for_each_setup(|_srv, con, _resp3| {
        for (enc, max_entries) in [("listpack", "128"), ("skiplist", "0")] {
            ok(
                con,
                &["CONFIG", "SET", "zset-max-listpack-entries", max_entries],
            );
            let key = format!("model-{enc}");
            let mut rng = fastrand::Rng::with_seed(42);
            let mut model: Vec<(String, f64)> = Vec::new();
            let sort = |m: &mut Vec<(String, f64)>| {
                m.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)))
            };
            for step in 0..1500 {
                let m = format!("m{}", rng.u32(..120));
                let s = rng.i32(-20..20) as f64 / 2.0;
                match rng.u32(..8) {
                    0..=3 => {
                        let added = int(con, &["ZADD", &key, &s.to_string(), &m]);
                        let had = model.iter().position(|x| x.0 == m);
                        assert_eq!(added, had.is_none() as i64);
                        match had {
                            Some(i) => model[i].1 = s,
                            None => model.push((m.clone(), s)),
                        }
                        sort(&mut model);
                    }
                    4 => {
                        let removed = int(con, &["ZREM", &key, &m]);
                        let had = model.iter().position(|x| x.0 == m);
                        assert_eq!(removed, had.is_some() as i64);
                        if let Some(i) = had {
                            model.remove(i);
                        }
                    }
                    5 => {
                        let want = model.iter().position(|x| x.0 == m);
                        let got = match q(con, &["ZRANK", &key, &m]) {
                            Value::Int(n) => Some(n as usize),
                            _ => None,
                        };
                        assert_eq!(got, want, "step {step}");
                        let rev = match q(con, &["ZREVRANK", &key, &m]) {
                            Value::Int(n) => Some(n as usize),
                            _ => None,
                        };
                        assert_eq!(rev, want.map(|w| model.len() - 1 - w));
                    }
                    6 => {
                        let (lo, hi) = (s, s + rng.u32(..10) as f64);
                        let want: Vec<String> = model
                            .iter()
                            .filter(|x| x.1 >= lo && x.1 <= hi)
                            .map(|x| x.0.clone())
                            .collect();
                        let got = members(&q(
                            con,
                            &["ZRANGEBYSCORE", &key, &lo.to_string(), &hi.to_string()],
                        ));
                        assert_eq!(got, want, "step {step} range {lo} {hi} model {model:?}");
                        assert_eq!(
                            int(con, &["ZCOUNT", &key, &lo.to_string(), &hi.to_string()]),
                            want.len() as i64
                        );
                    }
                    _ => {
                        let a = rng.i64(-30..30);
                        let b = rng.i64(-30..30);
                        let len = model.len() as i64;
                        // Redis's clamping: only the start is raised to 0.
                        let norm = |x: i64| if x < 0 { len + x } else { x };
                        let (s0, e0) = (norm(a).max(0), norm(b).min(len - 1));
                        let want: Vec<String> = if s0 > e0 || s0 >= len || e0 < 0 {
                            vec![]
                        } else {
                            model[s0 as usize..=e0 as usize]
                                .iter()
                                .map(|x| x.0.clone())
                                .collect()
                        };
                        let got =
                            members(&q(con, &["ZRANGE", &key, &a.to_string(), &b.to_string()]));
                        assert_eq!(got, want);
                    }
                }
            }
            assert_eq!(all(con, &key), model);
            if !model.is_empty() {
                assert_eq!(bulk(con, &["OBJECT", "ENCODING", &key]), Some(enc.into()));
            }
        }
        ok(con, &["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
    });
}

#[test]
fn wrong_type_and_generic_commands() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "s", "v"]);
        for args in [
            vec!["ZADD", "s", "1", "a"],
            vec!["ZINCRBY", "s", "1", "a"],
            vec!["ZREM", "s", "a"],
            vec!["ZCARD", "s"],
            vec!["ZSCORE", "s", "a"],
            vec!["ZMSCORE", "s", "a"],
            vec!["ZRANK", "s", "a"],
            vec!["ZCOUNT", "s", "0", "1"],
            vec!["ZLEXCOUNT", "s", "-", "+"],
            vec!["ZRANGE", "s", "0", "1"],
            vec!["ZRANGEBYSCORE", "s", "0", "1"],
            vec!["ZREMRANGEBYRANK", "s", "0", "1"],
            vec!["ZPOPMAX", "s"],
            vec!["ZRANDMEMBER", "s"],
            vec!["ZSCAN", "s", "0"],
            vec!["LPUSH", "z", "x"],
        ] {
            if args[0] == "LPUSH" {
                int(con, &["ZADD", "z", "1", "a"]);
            }
            assert_eq!(err(con, &args), WRONGTYPE, "{args:?}");
        }
        assert_eq!(status(con, &["TYPE", "z"]), "zset");
        assert_eq!(q(con, &["MGET", "z"]), Value::Array(vec![Value::Nil]));
        assert_eq!(int(con, &["EXPIRE", "z", "100"]), 1);
        assert!(int(con, &["TTL", "z"]) > 0);
        ok(con, &["RENAME", "z", "z2"]);
        assert!(int(con, &["TTL", "z2"]) > 0);
        assert_eq!(all(con, "z2"), zs(&[("a", 1.0)]));
        assert_eq!(int(con, &["DEL", "z2"]), 1);
    });
}

/// ZSCAN looks its key up before reading its options, as HSCAN, SSCAN
/// and Redis do: a missing key is an empty scan and a wrong type
/// WRONGTYPE whatever the options (it answered a syntax error).
#[test]
fn zscan_looks_up_its_key_before_its_options() {
    let srv = Server::start(2);
    let mut con = srv.conn();
    ok(&mut con, &["SET", "str", "v"]);
    assert_eq!(int(&mut con, &["ZADD", "z", "1", "m"]), 1);
    let empty = Value::Array(vec![Value::BulkString(b"0".to_vec()), Value::Array(vec![])]);
    assert_eq!(q(&mut con, &["ZSCAN", "nokey", "0", "bogus"]), empty);
    assert_eq!(
        err(&mut con, &["ZSCAN", "str", "0", "bogus"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        err(&mut con, &["ZSCAN", "z", "0", "bogus"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["ZSCAN", "z", "0", "COUNT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(&mut con, &["ZSCAN", "z", "abc"]), "ERR invalid cursor");
}
