//! Keyspace commands, against --threads 1 and --threads 4 (RESP2 and RESP3).
//! Multi-key commands use many keys so that with 4 threads they span shards.
//! Expected replies are those of redis-server 7.0.15.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};

const NOT_INT: &str = "ERR value is not an integer or out of range";

fn set_many(con: &mut redis::Connection, prefix: &str, n: usize) {
    let mut args: Vec<String> = vec!["MSET".into()];
    for i in 0..n {
        args.push(format!("{prefix}{i}"));
        args.push(format!("{i}"));
    }
    ok(con, &args);
}

fn with_keys(cmd: &str, keys: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v = vec![cmd.to_string()];
    v.extend(keys);
    v
}

#[test]
fn del_exists_touch_unlink_counts() {
    for_each_setup(|_srv, con, _resp3| {
        set_many(con, "k:", 100);
        let all = || (0..100).map(|i| format!("k:{i}"));
        let missing = || (0..50).map(|i| format!("missing:{i}"));
        assert_eq!(int(con, &with_keys("EXISTS", all())), 100);
        assert_eq!(int(con, &with_keys("EXISTS", all().chain(missing()))), 100);
        assert_eq!(int(con, &with_keys("TOUCH", all().chain(missing()))), 100);
        // EXISTS counts repeated keys each time
        assert_eq!(int(con, &["EXISTS", "k:1", "k:1", "k:1", "missing"]), 3);
        assert_eq!(int(con, &["TOUCH", "k:1", "k:1", "missing"]), 2);
        // DEL counts each existing key once, even when repeated
        assert_eq!(int(con, &["DEL", "k:0", "k:0", "missing"]), 1);
        assert_eq!(
            int(
                con,
                &with_keys("DEL", (0..50).map(|i| format!("k:{i}")).chain(missing()))
            ),
            49
        );
        assert_eq!(int(con, &["DBSIZE"]), 50);
        assert_eq!(int(con, &with_keys("EXISTS", all())), 50);
        assert_eq!(
            int(
                con,
                &with_keys("UNLINK", (50..100).map(|i| format!("k:{i}")))
            ),
            50
        );
        assert_eq!(int(con, &["DBSIZE"]), 0);
        assert_eq!(int(con, &with_keys("DEL", all())), 0);
        assert_eq!(int(con, &with_keys("UNLINK", all())), 0);
        assert_eq!(
            err(con, &["DEL"]),
            "ERR wrong number of arguments for 'del' command"
        );
        assert_eq!(
            err(con, &["EXISTS"]),
            "ERR wrong number of arguments for 'exists' command"
        );
    });
}

#[test]
fn type_command() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "s", "v"]);
        assert_eq!(status(con, &["TYPE", "s"]), "string");
        assert_eq!(status(con, &["TYPE", "nosuch"]), "none");
        ok(con, &["SET", "e", "v", "PX", "1"]);
        std::thread::sleep(ms(20));
        assert_eq!(status(con, &["TYPE", "e"]), "none");
    });
}

#[test]
fn expire_ttl_persist() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "k", "v"]);
        assert_eq!(int(con, &["TTL", "k"]), -1);
        assert_eq!(int(con, &["PTTL", "k"]), -1);
        assert_eq!(int(con, &["TTL", "nosuch"]), -2);
        assert_eq!(int(con, &["PTTL", "nosuch"]), -2);
        assert_eq!(int(con, &["EXPIRETIME", "k"]), -1);
        assert_eq!(int(con, &["PEXPIRETIME", "k"]), -1);
        assert_eq!(int(con, &["EXPIRETIME", "nosuch"]), -2);
        assert_eq!(int(con, &["PEXPIRETIME", "nosuch"]), -2);

        assert_eq!(int(con, &["EXPIRE", "k", "100"]), 1);
        let t = int(con, &["TTL", "k"]);
        assert!((99..=100).contains(&t), "ttl {t}");
        let et = int(con, &["EXPIRETIME", "k"]);
        let now = now_ms() / 1000;
        assert!(
            (now + 98..=now + 101).contains(&et),
            "expiretime {et} now {now}"
        );
        assert_eq!(int(con, &["PEXPIRE", "k", "50000"]), 1);
        let t = int(con, &["PTTL", "k"]);
        assert!((48_000..=50_000).contains(&t), "pttl {t}");
        let at = now_ms() / 1000 + 1000;
        assert_eq!(int(con, &["EXPIREAT", "k", &at.to_string()]), 1);
        assert_eq!(int(con, &["EXPIRETIME", "k"]), at);
        assert_eq!(int(con, &["PEXPIRETIME", "k"]), at * 1000);
        let pat = now_ms() + 2_000_000;
        assert_eq!(int(con, &["PEXPIREAT", "k", &pat.to_string()]), 1);
        assert_eq!(int(con, &["PEXPIRETIME", "k"]), pat);
        assert_eq!(int(con, &["EXPIRE", "nosuch", "100"]), 0);
        assert_eq!(int(con, &["EXPIREAT", "nosuch", "100"]), 0);

        // PERSIST
        assert_eq!(int(con, &["PERSIST", "k"]), 1);
        assert_eq!(int(con, &["TTL", "k"]), -1);
        assert_eq!(int(con, &["PERSIST", "k"]), 0);
        assert_eq!(int(con, &["PERSIST", "nosuch"]), 0);

        // NX / XX / GT / LT
        assert_eq!(
            int(con, &["EXPIRE", "k", "100", "XX"]),
            0,
            "XX without a TTL"
        );
        assert_eq!(int(con, &["TTL", "k"]), -1);
        assert_eq!(
            int(con, &["EXPIRE", "k", "100", "GT"]),
            0,
            "GT without a TTL (infinite)"
        );
        assert_eq!(int(con, &["TTL", "k"]), -1);
        assert_eq!(int(con, &["EXPIRE", "k", "100", "NX"]), 1);
        assert_eq!(int(con, &["EXPIRE", "k", "200", "NX"]), 0);
        assert!(int(con, &["TTL", "k"]) <= 100);
        assert_eq!(int(con, &["EXPIRE", "k", "200", "XX"]), 1);
        assert!(int(con, &["TTL", "k"]) > 150);
        assert_eq!(int(con, &["EXPIRE", "k", "100", "GT"]), 0);
        assert_eq!(int(con, &["EXPIRE", "k", "300", "GT"]), 1);
        assert!(int(con, &["TTL", "k"]) > 250);
        assert_eq!(int(con, &["EXPIRE", "k", "400", "LT"]), 0);
        assert_eq!(int(con, &["EXPIRE", "k", "150", "LT"]), 1);
        let t = int(con, &["TTL", "k"]);
        assert!((149..=150).contains(&t), "ttl {t}");
        assert_eq!(int(con, &["PEXPIRE", "k", "100000", "XX", "LT"]), 1);
        assert!(int(con, &["PTTL", "k"]) <= 100_000);
        assert_eq!(int(con, &["PERSIST", "k"]), 1);
        assert_eq!(
            int(con, &["EXPIRE", "k", "100", "LT"]),
            1,
            "LT without a TTL (infinite)"
        );
        assert!(int(con, &["TTL", "k"]) > 0);

        // errors
        assert_eq!(
            err(con, &["EXPIRE", "k", "10", "NX", "XX"]),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            err(con, &["EXPIRE", "k", "10", "NX", "GT"]),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            err(con, &["EXPIRE", "k", "10", "GT", "LT"]),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            err(con, &["EXPIRE", "k", "10", "FOO"]),
            "ERR Unsupported option FOO"
        );
        assert_eq!(err(con, &["EXPIRE", "k", "abc"]), NOT_INT);
        assert_eq!(err(con, &["PEXPIREAT", "k", "1.5"]), NOT_INT);
        assert_eq!(
            err(con, &["EXPIRE", "k"]),
            "ERR wrong number of arguments for 'expire' command"
        );

        // a non-positive TTL deletes the key
        ok(con, &["SET", "gone", "v"]);
        assert_eq!(int(con, &["EXPIRE", "gone", "-1"]), 1);
        assert_eq!(int(con, &["EXISTS", "gone"]), 0);
        ok(con, &["SET", "gone", "v"]);
        assert_eq!(int(con, &["PEXPIREAT", "gone", "1000"]), 1);
        assert_eq!(int(con, &["EXISTS", "gone"]), 0);

        // TTLs on many keys across shards
        set_many(con, "t:", 100);
        for i in 0..100 {
            assert_eq!(
                int(
                    con,
                    &["EXPIRE", &format!("t:{i}"), &format!("{}", 1000 + i)]
                ),
                1
            );
        }
        for i in 0..100 {
            let t = int(con, &["TTL", &format!("t:{i}")]);
            assert!((999 + i..=1000 + i).contains(&t), "t:{i} ttl {t}");
        }
        // short expiry really expires
        ok(con, &["SET", "short", "v"]);
        assert_eq!(int(con, &["PEXPIRE", "short", "30"]), 1);
        std::thread::sleep(ms(80));
        assert_eq!(int(con, &["TTL", "short"]), -2);
        assert_eq!(bulk(con, &["GET", "short"]), None);
    });
}

#[test]
fn rename_renamenx_across_shards() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(err(con, &["RENAME", "nosuch", "x"]), "ERR no such key");
        assert_eq!(err(con, &["RENAMENX", "nosuch", "x"]), "ERR no such key");
        for i in 0..50 {
            let (src, dst) = (format!("src:{i}"), format!("dst:{i}"));
            ok(con, &["SET", &src, &format!("value-{i}")]);
            if i % 2 == 0 {
                ok(con, &["SET", &dst, "old"]);
            }
            if i % 3 == 0 {
                assert_eq!(int(con, &["EXPIRE", &src, "1000"]), 1);
            }
            ok(con, &["RENAME", &src, &dst]);
            assert_eq!(
                int(con, &["EXISTS", &src]),
                0,
                "{src} still exists after RENAME"
            );
            assert_eq!(bulk(con, &["GET", &dst]), Some(format!("value-{i}")));
            let t = int(con, &["TTL", &dst]);
            if i % 3 == 0 {
                assert!(t > 990, "RENAME must carry the TTL, {dst} ttl {t}");
            } else {
                assert_eq!(t, -1, "{dst} ttl");
            }
        }
        assert_eq!(int(con, &["DBSIZE"]), 50);
        // RENAME onto itself
        ok(con, &["RENAME", "dst:1", "dst:1"]);
        assert_eq!(bulk(con, &["GET", "dst:1"]).as_deref(), Some("value-1"));
        // a destination with a TTL loses it
        ok(con, &["SET", "withttl", "x", "EX", "1000"]);
        ok(con, &["RENAME", "dst:1", "withttl"]);
        assert_eq!(int(con, &["TTL", "withttl"]), -1);

        // RENAMENX
        for i in 0..50 {
            let (a, b) = (format!("nxa:{i}"), format!("nxb:{i}"));
            ok(con, &["SET", &a, "A"]);
            if i % 2 == 0 {
                ok(con, &["SET", &b, "B"]);
                assert_eq!(int(con, &["RENAMENX", &a, &b]), 0);
                assert_eq!(bulk(con, &["GET", &a]).as_deref(), Some("A"));
                assert_eq!(bulk(con, &["GET", &b]).as_deref(), Some("B"));
            } else {
                assert_eq!(int(con, &["RENAMENX", &a, &b]), 1);
                assert_eq!(int(con, &["EXISTS", &a]), 0);
                assert_eq!(bulk(con, &["GET", &b]).as_deref(), Some("A"));
            }
        }
        ok(con, &["SET", "same", "1"]);
        assert_eq!(int(con, &["RENAMENX", "same", "same"]), 0);
    });
}

#[test]
fn copy_across_shards() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(int(con, &["COPY", "nosuch", "x"]), 0);
        assert_eq!(int(con, &["EXISTS", "x"]), 0);
        for i in 0..50 {
            let (src, dst) = (format!("csrc:{i}"), format!("cdst:{i}"));
            ok(con, &["SET", &src, &format!("v{i}")]);
            if i % 4 == 0 {
                assert_eq!(int(con, &["PEXPIRE", &src, "1000000"]), 1);
            }
            assert_eq!(int(con, &["COPY", &src, &dst]), 1);
            assert_eq!(bulk(con, &["GET", &src]), Some(format!("v{i}")));
            assert_eq!(bulk(con, &["GET", &dst]), Some(format!("v{i}")));
            let t = int(con, &["PTTL", &dst]);
            if i % 4 == 0 {
                assert!(t > 990_000, "COPY must carry the TTL, {dst} pttl {t}");
            } else {
                assert_eq!(t, -1);
            }
            // the copy is independent
            assert_eq!(
                int(con, &["APPEND", &dst, "!"]) as usize,
                format!("v{i}!").len()
            );
            assert_eq!(bulk(con, &["GET", &src]), Some(format!("v{i}")));
            // destination exists
            ok(con, &["SET", &src, "newer"]);
            assert_eq!(int(con, &["COPY", &src, &dst]), 0);
            assert_eq!(bulk(con, &["GET", &dst]), Some(format!("v{i}!")));
            assert_eq!(int(con, &["COPY", &src, &dst, "REPLACE"]), 1);
            assert_eq!(bulk(con, &["GET", &dst]).as_deref(), Some("newer"));
        }
        // COPY ... DB
        ok(con, &["SET", "dbsrc", "x"]);
        assert_eq!(int(con, &["COPY", "dbsrc", "dbdst", "DB", "3"]), 1);
        assert_eq!(int(con, &["EXISTS", "dbdst"]), 0);
        assert_eq!(int(con, &["COPY", "dbsrc", "dbsrc", "DB", "3"]), 1);
        ok(con, &["SELECT", "3"]);
        assert_eq!(bulk(con, &["GET", "dbdst"]).as_deref(), Some("x"));
        assert_eq!(bulk(con, &["GET", "dbsrc"]).as_deref(), Some("x"));
        ok(con, &["SELECT", "0"]);
        assert_eq!(
            err(con, &["COPY", "dbsrc", "dbsrc"]),
            "ERR source and destination objects are the same"
        );
        assert_eq!(
            err(con, &["COPY", "dbsrc", "x", "DB", "99"]),
            "ERR DB index is out of range"
        );
        assert_eq!(err(con, &["COPY", "dbsrc", "x", "DB", "abc"]), NOT_INT);
        assert_eq!(err(con, &["COPY", "dbsrc", "x", "FOO"]), "ERR syntax error");
    });
}

#[test]
fn move_select_swapdb_dbsize() {
    for_each_setup(|srv, con, resp3| {
        for i in 0..40 {
            ok(con, &["SET", &format!("m:{i}"), &format!("{i}")]);
        }
        ok(con, &["SET", "ttlkey", "x", "EX", "1000"]);
        assert_eq!(int(con, &["DBSIZE"]), 41);
        for i in 0..40 {
            assert_eq!(int(con, &["MOVE", &format!("m:{i}"), "1"]), 1);
        }
        assert_eq!(int(con, &["MOVE", "ttlkey", "1"]), 1);
        assert_eq!(int(con, &["MOVE", "nosuch", "1"]), 0);
        assert_eq!(int(con, &["DBSIZE"]), 0);
        ok(con, &["SET", "m:0", "db0"]);
        assert_eq!(int(con, &["MOVE", "m:0", "1"]), 0, "target exists in db 1");
        assert_eq!(bulk(con, &["GET", "m:0"]).as_deref(), Some("db0"));
        assert_eq!(
            err(con, &["MOVE", "m:0", "0"]),
            "ERR source and destination objects are the same"
        );
        assert_eq!(
            err(con, &["MOVE", "m:0", "99"]),
            "ERR DB index is out of range"
        );
        assert_eq!(err(con, &["MOVE", "m:0", "abc"]), NOT_INT);
        ok(con, &["SELECT", "1"]);
        assert_eq!(int(con, &["DBSIZE"]), 41);
        for i in 0..40 {
            assert_eq!(bulk(con, &["GET", &format!("m:{i}")]), Some(format!("{i}")));
        }
        assert!(int(con, &["TTL", "ttlkey"]) > 990, "MOVE keeps the TTL");

        // SWAPDB 0 1, seen by another connection too
        let mut other = srv.conn_proto(resp3);
        ok(&mut other, &["SELECT", "1"]);
        assert_eq!(int(&mut other, &["DBSIZE"]), 41);
        ok(con, &["SWAPDB", "0", "1"]);
        assert_eq!(int(con, &["DBSIZE"]), 1, "db 1 now holds what db 0 had");
        assert_eq!(bulk(con, &["GET", "m:0"]).as_deref(), Some("db0"));
        assert_eq!(int(&mut other, &["DBSIZE"]), 1);
        ok(con, &["SELECT", "0"]);
        assert_eq!(int(con, &["DBSIZE"]), 41);
        assert_eq!(bulk(con, &["GET", "m:7"]).as_deref(), Some("7"));
        assert!(int(con, &["TTL", "ttlkey"]) > 990);
        assert_eq!(
            err(con, &["SWAPDB", "0", "99"]),
            "ERR DB index is out of range"
        );
        assert_eq!(
            err(con, &["SWAPDB", "a", "1"]),
            "ERR invalid first DB index"
        );
        assert_eq!(
            err(con, &["SWAPDB", "0", "b"]),
            "ERR invalid second DB index"
        );
        ok(con, &["SWAPDB", "2", "2"]);

        assert_eq!(err(con, &["SELECT", "16"]), "ERR DB index is out of range");
        assert_eq!(err(con, &["SELECT", "-1"]), "ERR DB index is out of range");
        assert_eq!(err(con, &["SELECT", "abc"]), NOT_INT);
        ok(con, &["SELECT", "15"]);
        assert_eq!(int(con, &["DBSIZE"]), 0);
        ok(con, &["SELECT", "0"]);
    });
}

#[test]
fn keys_pattern() {
    for_each_setup(|_srv, con, _resp3| {
        let names = [
            "user:1", "user:2", "user:10", "user:abc", "users", "admin:1", "a", "b", "ab", "h?llo",
            "hello", "hallo", "hxllo", "heeeello", "x*y", "xzy",
        ];
        for n in names {
            ok(con, &["SET", n, "v"]);
        }
        let keys = |con: &mut redis::Connection, p: &str| -> Vec<String> {
            let mut v: Vec<String> = strs(&q(con, &["KEYS", p]))
                .into_iter()
                .map(|s| s.unwrap())
                .collect();
            v.sort();
            v
        };
        let sorted = |v: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(keys(con, "*"), sorted(&names));
        assert_eq!(
            keys(con, "user:*"),
            sorted(&["user:1", "user:2", "user:10", "user:abc"])
        );
        assert_eq!(keys(con, "user:?"), sorted(&["user:1", "user:2"]));
        assert_eq!(keys(con, "[ab]"), sorted(&["a", "b"]));
        assert_eq!(keys(con, "h[^e]llo"), sorted(&["hallo", "hxllo", "h?llo"]));
        assert_eq!(keys(con, "h[a-e]llo"), sorted(&["hallo", "hello"]));
        assert_eq!(
            keys(con, "h*llo"),
            sorted(&["h?llo", "hello", "hallo", "hxllo", "heeeello"])
        );
        assert_eq!(keys(con, "h\\?llo"), sorted(&["h?llo"]));
        assert_eq!(keys(con, "x\\*y"), sorted(&["x*y"]));
        assert_eq!(keys(con, "nomatch*"), Vec::<String>::new());
        // many keys over all shards
        set_many(con, "many:", 300);
        assert_eq!(keys(con, "many:*").len(), 300);
        assert_eq!(keys(con, "many:1??").len(), 100);
    });
}

fn scan_all(con: &mut redis::Connection, extra: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN".to_string(), cursor.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let v = q(con, &args);
        let Value::Array(parts) = &v else {
            panic!("SCAN reply not an array: {v:?}")
        };
        assert_eq!(parts.len(), 2, "SCAN reply {v:?}");
        assert!(
            matches!(parts[0], Value::BulkString(_)),
            "SCAN cursor must be a bulk string: {v:?}"
        );
        cursor = as_str(&parts[0]);
        assert!(cursor.parse::<u64>().is_ok(), "cursor {cursor:?}");
        let Value::Array(keys) = &parts[1] else {
            panic!("SCAN keys not an array: {v:?}")
        };
        seen.extend(keys.iter().map(as_str));
        calls += 1;
        assert!(calls < 100_000, "SCAN does not terminate");
        if cursor == "0" {
            return (seen, calls);
        }
    }
}

#[test]
fn scan_full_iteration() {
    for_each_setup(|_srv, con, _resp3| {
        for chunk in 0..10 {
            let mut args: Vec<String> = vec!["MSET".into()];
            for i in chunk * 100..chunk * 100 + 100 {
                args.push(format!("scan:{i}"));
                args.push("v".into());
            }
            ok(con, &args);
        }
        assert_eq!(int(con, &["DBSIZE"]), 1000);
        let expected: HashSet<String> = (0..1000).map(|i| format!("scan:{i}")).collect();

        for count in ["10", "100", "1000"] {
            let (seen, calls) = scan_all(con, &["COUNT", count]);
            let set: HashSet<String> = seen.iter().cloned().collect();
            assert_eq!(set, expected, "SCAN COUNT {count} must return every key");
            if count == "10" {
                assert!(
                    calls > 5,
                    "COUNT 10 over 1000 keys finished in {calls} calls"
                );
            }
        }
        // default COUNT
        let (seen, _) = scan_all(con, &[]);
        assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);

        // MATCH
        let (seen, _) = scan_all(con, &["MATCH", "scan:1*", "COUNT", "50"]);
        let got: HashSet<String> = seen.into_iter().collect();
        let want: HashSet<String> = expected
            .iter()
            .filter(|k| k.starts_with("scan:1"))
            .cloned()
            .collect();
        assert_eq!(want.len(), 111);
        assert_eq!(got, want);
        // TYPE
        let (seen, _) = scan_all(con, &["TYPE", "string", "COUNT", "100"]);
        assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
        let (seen, _) = scan_all(con, &["TYPE", "list", "COUNT", "100"]);
        assert!(seen.is_empty(), "TYPE list returned {seen:?}");
        let (seen, _) = scan_all(con, &["MATCH", "scan:99?", "TYPE", "string"]);
        let got: HashSet<String> = seen.into_iter().collect();
        assert_eq!(
            got,
            (990..1000)
                .map(|i| format!("scan:{i}"))
                .collect::<HashSet<_>>()
        );

        // errors
        assert_eq!(err(con, &["SCAN", "abc"]), "ERR invalid cursor");
        assert_eq!(err(con, &["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
        assert_eq!(err(con, &["SCAN", "0", "COUNT", "x"]), NOT_INT);
        assert_eq!(err(con, &["SCAN", "0", "FOO", "bar"]), "ERR syntax error");
        assert_eq!(err(con, &["SCAN", "0", "MATCH"]), "ERR syntax error");
    });
}

#[test]
fn scan_empty_db_returns_cursor_zero_at_once() {
    // Redis 7.0: SCAN 0 on an empty database replies cursor "0" immediately.
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "in-db-0", "v"]);
        ok(con, &["SELECT", "5"]);
        let (seen, calls) = scan_all(con, &[]);
        assert!(seen.is_empty());
        assert_eq!(
            calls, 1,
            "SCAN over an empty db took {calls} calls to return cursor 0"
        );
        ok(con, &["SELECT", "0"]);
    });
}

#[test]
fn randomkey() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(bulk(con, &["RANDOMKEY"]), None);
        set_many(con, "r:", 100);
        let mut hits: HashMap<String, usize> = HashMap::new();
        for _ in 0..200 {
            let k = bulk(con, &["RANDOMKEY"]).expect("RANDOMKEY on a non-empty db");
            assert!(
                k.starts_with("r:") && k[2..].parse::<usize>().unwrap() < 100,
                "{k}"
            );
            *hits.entry(k).or_default() += 1;
        }
        assert!(
            hits.len() > 10,
            "RANDOMKEY is not random: {} distinct keys",
            hits.len()
        );
        ok(con, &["FLUSHDB"]);
        ok(con, &["SET", "only", "1"]);
        assert_eq!(bulk(con, &["RANDOMKEY"]).as_deref(), Some("only"));
    });
}

#[test]
fn flushdb_flushall() {
    for_each_setup(|srv, con, resp3| {
        set_many(con, "f:", 100);
        ok(con, &["SELECT", "1"]);
        set_many(con, "g:", 50);
        ok(con, &["SELECT", "2"]);
        set_many(con, "h:", 20);
        ok(con, &["FLUSHDB"]);
        assert_eq!(int(con, &["DBSIZE"]), 0);
        ok(con, &["SELECT", "1"]);
        assert_eq!(
            int(con, &["DBSIZE"]),
            50,
            "FLUSHDB must only flush the selected db"
        );
        ok(con, &["FLUSHDB", "ASYNC"]);
        assert_eq!(int(con, &["DBSIZE"]), 0);
        ok(con, &["SELECT", "0"]);
        assert_eq!(int(con, &["DBSIZE"]), 100);
        ok(con, &["SELECT", "3"]);
        set_many(con, "i:", 10);
        ok(con, &["SELECT", "0"]);
        assert_eq!(err(con, &["FLUSHDB", "FOO"]), "ERR syntax error");
        ok(con, &["FLUSHALL", "SYNC"]);
        let mut other = srv.conn_proto(resp3);
        for db in 0..16 {
            ok(&mut other, &["SELECT", &db.to_string()]);
            assert_eq!(int(&mut other, &["DBSIZE"]), 0, "db {db} after FLUSHALL");
        }
        assert_eq!(bulk(con, &["GET", "f:1"]), None);
    });
}

/// DEBUG DIGEST: 40 zeros for an empty dataset, a fingerprint of every key
/// (database, name, value, TTL) otherwise that does not depend on how keys
/// are split over shards: the same data gives the same digest at
/// --threads 1 and 4, any change changes it, and undoing it restores it.
#[test]
fn debug_digest_fingerprints_the_dataset() {
    let fill = |con: &mut redis::Connection| {
        ok(con, &["MSET", "s1", "a", "s2", "b", "s3", "c"]);
        int(con, &["RPUSH", "l", "1", "2", "3"]);
        int(con, &["SADD", "set", "x", "y"]);
        int(con, &["ZADD", "z", "1", "m", "2", "n"]);
        int(con, &["HSET", "h", "f", "v"]);
        int(con, &["EXPIREAT", "s1", "4000000000"]);
        ok(con, &["SELECT", "3"]);
        ok(con, &["SET", "s1", "other db"]);
        ok(con, &["SELECT", "0"]);
    };
    let digest = |con: &mut redis::Connection| status(con, &["DEBUG", "DIGEST"]);
    let mut digests = Vec::new();
    for threads in [1, 4] {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        assert_eq!(digest(&mut con), "0".repeat(40));
        fill(&mut con);
        let d = digest(&mut con);
        assert_eq!(d.len(), 40);
        assert_ne!(d, "0".repeat(40));
        ok(&mut con, &["SET", "s2", "changed"]);
        assert_ne!(digest(&mut con), d, "a value change shows");
        ok(&mut con, &["SET", "s2", "b"]);
        assert_eq!(digest(&mut con), d, "undone");
        int(&mut con, &["EXPIREAT", "s2", "4000000000"]);
        assert_ne!(digest(&mut con), d, "a TTL change shows");
        int(&mut con, &["PERSIST", "s2"]);
        assert_eq!(digest(&mut con), d);
        digests.push(d);
    }
    assert_eq!(digests[0], digests[1], "independent of the shard split");
}

/// DEBUG POPULATE makes prefix:0..count-1 holding "value:N" (or exactly
/// `size` bytes of it, zero-padded) on every shard, leaves existing keys
/// alone, and refuses negative or non-numeric counts and sizes: replies
/// checked against redis-server 7.0 (the Redis suite fills keyspaces with
/// it).
#[test]
fn debug_populate() {
    for threads in [1, 4] {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        ok(&mut con, &["SET", "key:5", "keep"]);
        ok(&mut con, &["DEBUG", "POPULATE", "1000"]);
        assert_eq!(int(&mut con, &["DBSIZE"]), 1000);
        assert_eq!(bulk(&mut con, &["GET", "key:5"]).as_deref(), Some("keep"));
        assert_eq!(
            bulk(&mut con, &["GET", "key:999"]).as_deref(),
            Some("value:999")
        );
        assert_eq!(
            bulk(&mut con, &["OBJECT", "ENCODING", "key:7"]).as_deref(),
            Some("embstr")
        );
        ok(&mut con, &["DEBUG", "POPULATE", "10", "pre", "3"]);
        assert_eq!(bulk(&mut con, &["GET", "pre:9"]).as_deref(), Some("val"));
        ok(&mut con, &["DEBUG", "POPULATE", "2", "big", "20"]);
        assert_eq!(
            bulk(&mut con, &["GET", "big:1"]).as_deref(),
            Some(format!("value:1{}", "\0".repeat(13)).as_str())
        );
        assert_eq!(int(&mut con, &["DBSIZE"]), 1012);
        for bad in [
            &["DEBUG", "POPULATE", "-1"][..],
            &["DEBUG", "POPULATE", "x"],
            &["DEBUG", "POPULATE", "5", "p", "-3"],
        ] {
            assert_eq!(
                err(&mut con, bad),
                "ERR value is out of range, must be positive"
            );
        }
        // Each key on its own shard: every one is readable.
        for j in [0, 1, 2, 3, 500, 998] {
            assert_eq!(
                bulk(&mut con, &["GET", &format!("key:{j}")]).as_deref(),
                Some(
                    if j == 5 {
                        "keep".to_string()
                    } else {
                        format!("value:{j}")
                    }
                    .as_str()
                )
            );
        }
    }
}

/// DEBUG RELOAD (and LOADAOF) leave the dataset as a save and load would:
/// values re-encoded as a load encodes them (a set shrunk to three
/// integers is an intset again), TTLs kept, expired keys dropped (same
/// encodings as redis-server 7.0.15 after its own reload).
#[test]
fn debug_reload_reencodes_like_a_load() {
    for threads in [1, 4] {
        let s = Server::start(threads);
        let mut con = s.conn();
        let nums: Vec<String> = (1..=600).map(|i| i.to_string()).collect();
        let mut sadd = vec!["SADD".to_string(), "s".into()];
        sadd.extend(nums.iter().cloned());
        int(&mut con, &sadd);
        let mut srem = vec!["SREM".to_string(), "s".into()];
        srem.extend(nums[3..].iter().cloned());
        int(&mut con, &srem);
        ok(&mut con, &["SET", "n", "12345"]);
        int(&mut con, &["APPEND", "n", "6"]);
        ok(&mut con, &["SET", "t", "v", "EX", "100"]);
        ok(&mut con, &["SET", "gone", "v", "PX", "10"]);
        std::thread::sleep(std::time::Duration::from_millis(30));
        let enc = |con: &mut redis::Connection, k: &str| bulk(con, &["OBJECT", "ENCODING", k]);
        assert_eq!(enc(&mut con, "s").as_deref(), Some("hashtable"));
        assert_eq!(enc(&mut con, "n").as_deref(), Some("raw"));
        for cmd in ["RELOAD", "LOADAOF"] {
            ok(&mut con, &["DEBUG", cmd]);
            assert_eq!(enc(&mut con, "s").as_deref(), Some("intset"), "{cmd}");
            assert_eq!(enc(&mut con, "n").as_deref(), Some("int"), "{cmd}");
            assert_eq!(bulk(&mut con, &["GET", "n"]).as_deref(), Some("123456"));
            let ttl = int(&mut con, &["TTL", "t"]);
            assert!((90..=100).contains(&ttl), "{cmd}: ttl {ttl}");
            assert_eq!(
                int(&mut con, &["DBSIZE"]),
                3,
                "{cmd}: the expired key is gone"
            );
        }
    }
}

/// DEBUG OBJECT looks at the table as Redis's does: a key past its TTL
/// that nothing expired yet is still described (Redis's unit/scripting
/// relies on it), and gone once a read expired it.
#[test]
fn debug_object_sees_a_key_not_yet_expired() {
    let s = Server::start(1);
    let mut con = s.conn();
    ok(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut con, &["SET", "k", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(status(&mut con, &["DEBUG", "OBJECT", "k"]).contains("encoding:embstr"));
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(err(&mut con, &["DEBUG", "OBJECT", "k"]), "ERR no such key");
    ok(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
}
