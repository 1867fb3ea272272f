//! String commands, against --threads 1 and --threads 4, over RESP2 and RESP3.
//! Expected replies are those of redis-server 7.0.15.

mod common;
use common::*;

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

#[test]
fn set_and_get() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "foo", "bar"]);
        assert_eq!(bulk(con, &["GET", "foo"]).as_deref(), Some("bar"));
        assert_eq!(bulk(con, &["GET", "nosuchkey"]), None);
        // overwrite
        ok(con, &["SET", "foo", "baz"]);
        assert_eq!(bulk(con, &["GET", "foo"]).as_deref(), Some("baz"));
        // empty value
        ok(con, &["SET", "empty", ""]);
        assert_eq!(bulk(con, &["GET", "empty"]).as_deref(), Some(""));
        assert_eq!(int(con, &["EXISTS", "empty"]), 1);
        // binary-safe key and value
        let key: &[u8] = b"bin\x00\r\nkey";
        let val: Vec<u8> = (0u8..=255).chain(b"\r\n\x00end".iter().copied()).collect();
        assert_eq!(q(con, &[b"SET".as_slice(), key, &val]), Value::Okay);
        assert_eq!(
            q(con, &[b"GET".as_slice(), key]),
            Value::BulkString(val.clone())
        );
        // a 1 MB value
        let big = "x".repeat(1 << 20);
        ok(con, &["SET", "big", &big]);
        assert_eq!(bulk(con, &["GET", "big"]).map(|s| s.len()), Some(1 << 20));
        assert_eq!(int(con, &["STRLEN", "big"]), 1 << 20);
        // many keys spread over every shard
        for i in 0..100 {
            ok(con, &["SET", &format!("k:{i}"), &format!("v{i}")]);
        }
        for i in 0..100 {
            assert_eq!(
                bulk(con, &["GET", &format!("k:{i}")]),
                Some(format!("v{i}"))
            );
        }
        // arity
        assert_eq!(
            err(con, &["GET"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            err(con, &["SET", "a"]),
            "ERR wrong number of arguments for 'set' command"
        );
        assert_eq!(
            err(con, &["GET", "a", "b"]),
            "ERR wrong number of arguments for 'get' command"
        );
    });
}

#[test]
fn set_options() {
    for_each_setup(|_srv, con, _resp3| {
        // NX
        assert_eq!(q(con, &["SET", "nx", "1", "NX"]), Value::Okay);
        assert_eq!(q(con, &["SET", "nx", "2", "NX"]), Value::Nil);
        assert_eq!(bulk(con, &["GET", "nx"]).as_deref(), Some("1"));
        // XX
        assert_eq!(q(con, &["SET", "xx", "1", "XX"]), Value::Nil);
        assert_eq!(int(con, &["EXISTS", "xx"]), 0);
        ok(con, &["SET", "xx", "1"]);
        assert_eq!(q(con, &["SET", "xx", "2", "xx"]), Value::Okay);
        assert_eq!(bulk(con, &["GET", "xx"]).as_deref(), Some("2"));
        // GET
        assert_eq!(q(con, &["SET", "g", "1", "GET"]), Value::Nil);
        assert_eq!(bulk(con, &["SET", "g", "2", "GET"]).as_deref(), Some("1"));
        assert_eq!(bulk(con, &["GET", "g"]).as_deref(), Some("2"));
        // NX + GET (allowed since 7.0): returns the old value, does not set
        assert_eq!(
            bulk(con, &["SET", "g", "3", "NX", "GET"]).as_deref(),
            Some("2")
        );
        assert_eq!(bulk(con, &["GET", "g"]).as_deref(), Some("2"));
        // EX / PX
        ok(con, &["SET", "ex", "v", "EX", "100"]);
        let t = int(con, &["TTL", "ex"]);
        assert!((99..=100).contains(&t), "ttl {t}");
        ok(con, &["SET", "px", "v", "PX", "100000"]);
        let t = int(con, &["PTTL", "px"]);
        assert!((98_000..=100_000).contains(&t), "pttl {t}");
        // EXAT / PXAT
        let at = now_ms() / 1000 + 200;
        ok(con, &["SET", "exat", "v", "EXAT", &at.to_string()]);
        assert_eq!(int(con, &["EXPIRETIME", "exat"]), at);
        let pat = now_ms() + 300_000;
        ok(con, &["SET", "pxat", "v", "PXAT", &pat.to_string()]);
        assert_eq!(int(con, &["PEXPIRETIME", "pxat"]), pat);
        // KEEPTTL keeps it, a plain SET clears it
        ok(con, &["SET", "ex", "v2", "KEEPTTL"]);
        let t = int(con, &["TTL", "ex"]);
        assert!((98..=100).contains(&t), "ttl after KEEPTTL {t}");
        assert_eq!(bulk(con, &["GET", "ex"]).as_deref(), Some("v2"));
        ok(con, &["SET", "ex", "v3"]);
        assert_eq!(int(con, &["TTL", "ex"]), -1);
        // GET + EX together
        ok(con, &["SET", "ge", "1"]);
        assert_eq!(
            bulk(con, &["SET", "ge", "2", "GET", "EX", "50"]).as_deref(),
            Some("1")
        );
        let t = int(con, &["TTL", "ge"]);
        assert!((49..=50).contains(&t), "ttl {t}");
        // errors
        assert_eq!(
            err(con, &["SET", "e", "v", "EX", "0"]),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            err(con, &["SET", "e", "v", "EX", "-1"]),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            err(con, &["SET", "e", "v", "PX", "0"]),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            err(con, &["SET", "e", "v", "EXAT", "0"]),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(err(con, &["SET", "e", "v", "EX", "abc"]), NOT_INT);
        assert_eq!(err(con, &["SET", "e", "v", "NX", "XX"]), SYNTAX);
        assert_eq!(
            err(con, &["SET", "e", "v", "EX", "10", "PX", "100"]),
            SYNTAX
        );
        assert_eq!(err(con, &["SET", "e", "v", "KEEPTTL", "EX", "10"]), SYNTAX);
        assert_eq!(err(con, &["SET", "e", "v", "EX"]), SYNTAX);
        assert_eq!(err(con, &["SET", "e", "v", "BOGUS"]), SYNTAX);
        assert_eq!(int(con, &["EXISTS", "e"]), 0);
    });
}

#[test]
fn setnx_setex_psetex() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(int(con, &["SETNX", "a", "1"]), 1);
        assert_eq!(int(con, &["SETNX", "a", "2"]), 0);
        assert_eq!(bulk(con, &["GET", "a"]).as_deref(), Some("1"));

        ok(con, &["SETEX", "se", "100", "v"]);
        assert_eq!(bulk(con, &["GET", "se"]).as_deref(), Some("v"));
        let t = int(con, &["TTL", "se"]);
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(
            err(con, &["SETEX", "se2", "0", "v"]),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            err(con, &["SETEX", "se2", "-10", "v"]),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(err(con, &["SETEX", "se2", "abc", "v"]), NOT_INT);
        assert_eq!(int(con, &["EXISTS", "se2"]), 0);

        ok(con, &["PSETEX", "pse", "100000", "v"]);
        let t = int(con, &["PTTL", "pse"]);
        assert!((98_000..=100_000).contains(&t), "pttl {t}");
        assert_eq!(
            err(con, &["PSETEX", "pse2", "0", "v"]),
            "ERR invalid expire time in 'psetex' command"
        );
        assert_eq!(
            err(con, &["SETEX", "se2", "10"]),
            "ERR wrong number of arguments for 'setex' command"
        );
    });
}

#[test]
fn getset_getdel_getex() {
    for_each_setup(|_srv, con, _resp3| {
        // GETSET
        assert_eq!(bulk(con, &["GETSET", "gs", "1"]), None);
        assert_eq!(bulk(con, &["GETSET", "gs", "2"]).as_deref(), Some("1"));
        assert_eq!(bulk(con, &["GET", "gs"]).as_deref(), Some("2"));
        ok(con, &["SET", "gs", "3", "EX", "100"]);
        assert_eq!(bulk(con, &["GETSET", "gs", "4"]).as_deref(), Some("3"));
        assert_eq!(int(con, &["TTL", "gs"]), -1, "GETSET clears the TTL");

        // GETDEL
        ok(con, &["SET", "gd", "v"]);
        assert_eq!(bulk(con, &["GETDEL", "gd"]).as_deref(), Some("v"));
        assert_eq!(int(con, &["EXISTS", "gd"]), 0);
        assert_eq!(bulk(con, &["GETDEL", "gd"]), None);

        // GETEX
        ok(con, &["SET", "ge", "v"]);
        assert_eq!(bulk(con, &["GETEX", "ge"]).as_deref(), Some("v"));
        assert_eq!(int(con, &["TTL", "ge"]), -1);
        assert_eq!(
            bulk(con, &["GETEX", "ge", "EX", "100"]).as_deref(),
            Some("v")
        );
        let t = int(con, &["TTL", "ge"]);
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(
            bulk(con, &["GETEX", "ge", "PX", "200000"]).as_deref(),
            Some("v")
        );
        let t = int(con, &["PTTL", "ge"]);
        assert!((198_000..=200_000).contains(&t), "pttl {t}");
        // GETEX without options leaves the TTL alone
        assert_eq!(bulk(con, &["GETEX", "ge"]).as_deref(), Some("v"));
        assert!(int(con, &["TTL", "ge"]) > 190);
        let at = now_ms() / 1000 + 500;
        assert_eq!(
            bulk(con, &["GETEX", "ge", "EXAT", &at.to_string()]).as_deref(),
            Some("v")
        );
        assert_eq!(int(con, &["EXPIRETIME", "ge"]), at);
        assert_eq!(bulk(con, &["GETEX", "ge", "PERSIST"]).as_deref(), Some("v"));
        assert_eq!(int(con, &["TTL", "ge"]), -1);
        assert_eq!(bulk(con, &["GETEX", "missing", "EX", "10"]), None);
        assert_eq!(int(con, &["EXISTS", "missing"]), 0);
        assert_eq!(
            err(con, &["GETEX", "ge", "EX", "0"]),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            err(con, &["GETEX", "ge", "PXAT", "-1"]),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(err(con, &["GETEX", "ge", "EX", "10", "PERSIST"]), SYNTAX);
        assert_eq!(err(con, &["GETEX", "ge", "EX", "xyz"]), NOT_INT);
        assert_eq!(int(con, &["TTL", "ge"]), -1);
    });
}

#[test]
fn append_and_strlen() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(int(con, &["STRLEN", "ap"]), 0);
        assert_eq!(int(con, &["APPEND", "ap", "hello"]), 5);
        assert_eq!(int(con, &["APPEND", "ap", " world"]), 11);
        assert_eq!(bulk(con, &["GET", "ap"]).as_deref(), Some("hello world"));
        assert_eq!(int(con, &["STRLEN", "ap"]), 11);
        assert_eq!(int(con, &["APPEND", "ap", ""]), 11);
        // APPEND to an integer-looking value
        ok(con, &["SET", "num", "12"]);
        assert_eq!(int(con, &["APPEND", "num", "34"]), 4);
        assert_eq!(int(con, &["INCR", "num"]), 1235);
        assert_eq!(int(con, &["STRLEN", "num"]), 4);
        // APPEND keeps a TTL
        ok(con, &["SET", "apt", "a", "EX", "100"]);
        assert_eq!(int(con, &["APPEND", "apt", "b"]), 2);
        assert!(int(con, &["TTL", "apt"]) > 90);
        // many appends
        for _ in 0..1000 {
            q(con, &["APPEND", "many", "xy"]);
        }
        assert_eq!(int(con, &["STRLEN", "many"]), 2000);
    });
}

#[test]
fn incr_decr_family() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(int(con, &["INCR", "n"]), 1);
        assert_eq!(int(con, &["INCR", "n"]), 2);
        assert_eq!(int(con, &["INCRBY", "n", "10"]), 12);
        assert_eq!(int(con, &["DECR", "n"]), 11);
        assert_eq!(int(con, &["DECRBY", "n", "20"]), -9);
        assert_eq!(int(con, &["INCRBY", "n", "-1"]), -10);
        assert_eq!(bulk(con, &["GET", "n"]).as_deref(), Some("-10"));
        assert_eq!(int(con, &["DECR", "fresh"]), -1);
        assert_eq!(int(con, &["DECRBY", "fresh2", "5"]), -5);
        // INCR keeps the TTL
        ok(con, &["SET", "nt", "5", "EX", "100"]);
        assert_eq!(int(con, &["INCR", "nt"]), 6);
        assert!(int(con, &["TTL", "nt"]) > 90);
        // not integers
        ok(con, &["SET", "s", "abc"]);
        assert_eq!(err(con, &["INCR", "s"]), NOT_INT);
        assert_eq!(err(con, &["DECR", "s"]), NOT_INT);
        ok(con, &["SET", "s", " 1"]);
        assert_eq!(err(con, &["INCR", "s"]), NOT_INT);
        ok(con, &["SET", "s", "1.5"]);
        assert_eq!(err(con, &["INCRBY", "s", "1"]), NOT_INT);
        ok(con, &["SET", "s", "99999999999999999999"]);
        assert_eq!(err(con, &["INCR", "s"]), NOT_INT);
        assert_eq!(err(con, &["INCRBY", "n", "1.5"]), NOT_INT);
        assert_eq!(err(con, &["INCRBY", "n", "abc"]), NOT_INT);
        assert_eq!(err(con, &["DECRBY", "n", ""]), NOT_INT);
        assert_eq!(bulk(con, &["GET", "n"]).as_deref(), Some("-10"));
        // overflow
        ok(con, &["SET", "big", "9223372036854775807"]);
        assert_eq!(
            err(con, &["INCR", "big"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(
            err(con, &["INCRBY", "big", "1"]),
            "ERR increment or decrement would overflow"
        );
        ok(con, &["SET", "small", "-9223372036854775808"]);
        assert_eq!(
            err(con, &["DECR", "small"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(
            err(con, &["DECRBY", "small", "1"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(
            bulk(con, &["GET", "big"]).as_deref(),
            Some("9223372036854775807")
        );
        assert_eq!(int(con, &["INCRBY", "big", "-9223372036854775807"]), 0);
        // many counters over every shard
        for i in 0..100 {
            for _ in 0..3 {
                q(con, &["INCR", &format!("c:{i}")]);
            }
        }
        for i in 0..100 {
            assert_eq!(bulk(con, &["GET", &format!("c:{i}")]).as_deref(), Some("3"));
        }
    });
}

#[test]
fn incrbyfloat() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "f", "10.5"]);
        assert_eq!(
            bulk(con, &["INCRBYFLOAT", "f", "0.1"]).as_deref(),
            Some("10.6")
        );
        assert_eq!(bulk(con, &["GET", "f"]).as_deref(), Some("10.6"));
        assert_eq!(
            bulk(con, &["INCRBYFLOAT", "f", "-5"]).as_deref(),
            Some("5.6")
        );
        assert_eq!(
            bulk(con, &["INCRBYFLOAT", "nf", "5.0e3"]).as_deref(),
            Some("5000")
        );
        assert_eq!(
            bulk(con, &["INCRBYFLOAT", "nf", "-5000"]).as_deref(),
            Some("0")
        );
        ok(con, &["SET", "i", "3"]);
        assert_eq!(
            bulk(con, &["INCRBYFLOAT", "i", "1.25"]).as_deref(),
            Some("4.25")
        );
        ok(con, &["SET", "s", "abc"]);
        assert_eq!(
            err(con, &["INCRBYFLOAT", "s", "1"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            err(con, &["INCRBYFLOAT", "f", "xyz"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            err(con, &["INCRBYFLOAT", "f", "inf"]),
            "ERR increment would produce NaN or Infinity"
        );
        assert_eq!(bulk(con, &["GET", "f"]).as_deref(), Some("5.6"));
    });
}

#[test]
fn getrange_setrange() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["SET", "s", "Hello World"]);
        assert_eq!(
            bulk(con, &["GETRANGE", "s", "0", "4"]).as_deref(),
            Some("Hello")
        );
        assert_eq!(
            bulk(con, &["GETRANGE", "s", "-5", "-1"]).as_deref(),
            Some("World")
        );
        assert_eq!(
            bulk(con, &["GETRANGE", "s", "0", "-1"]).as_deref(),
            Some("Hello World")
        );
        assert_eq!(
            bulk(con, &["GETRANGE", "s", "0", "1000"]).as_deref(),
            Some("Hello World")
        );
        assert_eq!(
            bulk(con, &["GETRANGE", "s", "-1000", "2"]).as_deref(),
            Some("Hel")
        );
        assert_eq!(bulk(con, &["GETRANGE", "s", "5", "2"]).as_deref(), Some(""));
        assert_eq!(
            bulk(con, &["GETRANGE", "s", "100", "200"]).as_deref(),
            Some("")
        );
        assert_eq!(
            bulk(con, &["GETRANGE", "missing", "0", "-1"]).as_deref(),
            Some("")
        );
        assert_eq!(
            bulk(con, &["SUBSTR", "s", "6", "10"]).as_deref(),
            Some("World")
        );
        assert_eq!(err(con, &["GETRANGE", "s", "a", "1"]), NOT_INT);

        assert_eq!(int(con, &["SETRANGE", "s", "6", "Redis"]), 11);
        assert_eq!(bulk(con, &["GET", "s"]).as_deref(), Some("Hello Redis"));
        assert_eq!(int(con, &["SETRANGE", "s", "11", "!!"]), 13);
        assert_eq!(bulk(con, &["GET", "s"]).as_deref(), Some("Hello Redis!!"));
        // past the end pads with zero bytes
        assert_eq!(int(con, &["SETRANGE", "pad", "5", "hi"]), 7);
        assert_eq!(
            q(con, &["GET", "pad"]),
            Value::BulkString(b"\0\0\0\0\0hi".to_vec())
        );
        // empty value on a missing key does not create it
        assert_eq!(int(con, &["SETRANGE", "none", "0", ""]), 0);
        assert_eq!(int(con, &["EXISTS", "none"]), 0);
        assert_eq!(int(con, &["SETRANGE", "s", "100", ""]), 13);
        assert_eq!(
            err(con, &["SETRANGE", "s", "-1", "x"]),
            "ERR offset is out of range"
        );
        assert_eq!(
            err(con, &["SETRANGE", "s", "536870912", "x"]),
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        );
    });
}

#[test]
fn mget_mset_msetnx_across_shards() {
    for_each_setup(|_srv, con, _resp3| {
        let n = 100;
        // MSET 100 keys in one command
        let mut args: Vec<String> = vec!["MSET".into()];
        for i in 0..n {
            args.push(format!("mk:{i}"));
            args.push(format!("val-{i}"));
        }
        ok(con, &args);
        assert_eq!(int(con, &["DBSIZE"]), n as i64);
        for i in [0, 17, 55, 99] {
            assert_eq!(
                bulk(con, &["GET", &format!("mk:{i}")]),
                Some(format!("val-{i}"))
            );
        }
        // MGET with present and missing keys interleaved, order preserved
        let mut args: Vec<String> = vec!["MGET".into()];
        let mut expect = Vec::new();
        for i in 0..n {
            args.push(format!("mk:{i}"));
            expect.push(Some(format!("val-{i}")));
            args.push(format!("missing:{i}"));
            expect.push(None);
        }
        // the same key twice
        args.push("mk:3".into());
        expect.push(Some("val-3".into()));
        assert_eq!(strs(&q(con, &args)), expect);
        // MSET overwrites and the last value of a repeated key wins
        ok(con, &["MSET", "mk:1", "a", "mk:2", "b", "mk:1", "c"]);
        assert_eq!(
            strs(&q(con, &["MGET", "mk:1", "mk:2"])),
            vec![Some("c".into()), Some("b".into())]
        );
        // MSET clears TTLs
        ok(con, &["SET", "mk:5", "x", "EX", "100"]);
        ok(con, &["MSET", "mk:5", "y", "mk:6", "z"]);
        assert_eq!(int(con, &["TTL", "mk:5"]), -1);

        // MSETNX: all new -> 1
        let mut args: Vec<String> = vec!["MSETNX".into()];
        for i in 0..n {
            args.push(format!("nx:{i}"));
            args.push(format!("{i}"));
        }
        assert_eq!(int(con, &args), 1);
        assert_eq!(int(con, &["DBSIZE"]), 2 * n as i64);
        // one exists -> 0 and nothing is written
        let mut args: Vec<String> = vec!["MSETNX".into()];
        for i in 0..n {
            args.push(format!("nx2:{i}"));
            args.push("new".into());
        }
        args.push("nx:42".into());
        args.push("changed".into());
        assert_eq!(int(con, &args), 0);
        assert_eq!(bulk(con, &["GET", "nx:42"]).as_deref(), Some("42"));
        let mut args: Vec<String> = vec!["EXISTS".into()];
        args.extend((0..n).map(|i| format!("nx2:{i}")));
        assert_eq!(
            int(con, &args),
            0,
            "MSETNX that failed must not write any key"
        );
        assert_eq!(int(con, &["DBSIZE"]), 2 * n as i64);

        assert_eq!(
            err(con, &["MSET", "a"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            err(con, &["MSET", "a", "1", "b"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            err(con, &["MSETNX", "a", "1", "b"]),
            "ERR wrong number of arguments for 'msetnx' command"
        );
        assert_eq!(
            err(con, &["MGET"]),
            "ERR wrong number of arguments for 'mget' command"
        );
    });
}

/// APPEND to a missing key stores the value like SET (Redis: int/embstr),
/// only appending to an existing string makes it raw. (The differential
/// test found halocline answering raw.)
#[test]
fn append_to_missing_key_encodes_like_set() {
    let srv = Server::start(1);
    let mut con = srv.conn();
    assert_eq!(int(&mut con, &["APPEND", "a1", "a"]), 1);
    assert_eq!(
        bulk(&mut con, &["OBJECT", "ENCODING", "a1"]).as_deref(),
        Some("embstr")
    );
    assert_eq!(int(&mut con, &["APPEND", "a2", "42"]), 2);
    assert_eq!(
        bulk(&mut con, &["OBJECT", "ENCODING", "a2"]).as_deref(),
        Some("int")
    );
    assert_eq!(int(&mut con, &["APPEND", "a2", "1"]), 3);
    assert_eq!(
        bulk(&mut con, &["OBJECT", "ENCODING", "a2"]).as_deref(),
        Some("raw")
    );
    assert_eq!(bulk(&mut con, &["GET", "a2"]).as_deref(), Some("421"));
}

/// Redis checks a command's pieces in a fixed order, and its first error
/// is the one a client sees: found by the differential test's keyspace
/// family (each of these answered differently before).
#[test]
fn errors_come_in_redis_order() {
    for_each_setup(|_srv, con, _resp3| {
        ok(con, &["FLUSHALL"]);
        int(con, &["SADD", "aset", "m"]);
        ok(con, &["SET", "str", "abc"]);
        // GETEX: syntax, then the key (missing: nil; not a string:
        // WRONGTYPE), then the time.
        assert!(err(con, &["GETEX", "aset", "EX", "0"]).starts_with("WRONGTYPE"));
        assert_eq!(q(con, &["GETEX", "missing", "EX", "0"]), Value::Nil);
        assert_eq!(
            err(con, &["GETEX", "str", "EX", "0"]),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            err(con, &["GETEX", "str", "EX", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            err(con, &["GETEX", "str", "EX", "100", "PERSIST"]),
            "ERR syntax error"
        );
        assert_eq!(err(con, &["GETEX", "aset", "EX"]), "ERR syntax error");
        // INCRBYFLOAT: the key's type, its value, then the increment.
        assert!(err(con, &["INCRBYFLOAT", "aset", "abc"]).starts_with("WRONGTYPE"));
        assert_eq!(
            err(con, &["INCRBYFLOAT", "str", "1"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            err(con, &["INCRBYFLOAT", "missing", "abc"]),
            "ERR value is not a valid float"
        );
        // EXPIRE and kin: the options, then the time.
        for name in ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"] {
            assert_eq!(
                err(con, &[name, "str", "x", "BAD"]),
                "ERR Unsupported option BAD"
            );
            assert_eq!(
                err(con, &[name, "str", "x", "NX", "XX"]),
                "ERR NX and XX, GT or LT options at the same time are not compatible"
            );
            assert_eq!(
                err(con, &[name, "str", "x", "NX"]),
                "ERR value is not an integer or out of range"
            );
        }
    });
}

/// What INCRBYFLOAT stores is a string even when it spells an integer
/// (Redis: embstr), unlike SET's value.
#[test]
fn incrbyfloat_stores_a_string() {
    for_each_setup(|_srv, con, _resp3| {
        assert_eq!(
            bulk(con, &["INCRBYFLOAT", "f", "10"]).as_deref(),
            Some("10")
        );
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "f"]).as_deref(),
            Some("embstr")
        );
        assert_eq!(int(con, &["INCR", "f"]), 11);
        ok(con, &["SET", "g", "10"]);
        assert_eq!(
            bulk(con, &["OBJECT", "ENCODING", "g"]).as_deref(),
            Some("int")
        );
    });
}

/// INCRBYFLOAT and HINCRBYFLOAT add in C's long double and print 17
/// decimals, as Redis does: 0.1 + 0.2 is 0.3 (a double made it
/// 0.30000000000000004), and the residue shows where Redis shows it.
#[test]
fn float_increments_add_in_long_double() {
    for_each_setup(|_srv, con, _resp3| {
        let incr = |con: &mut redis::Connection, by: &str| bulk(con, &["INCRBYFLOAT", "lf", by]);
        assert_eq!(incr(con, "0.1").as_deref(), Some("0.1"));
        assert_eq!(incr(con, "0.2").as_deref(), Some("0.3"));
        assert_eq!(incr(con, "3e3").as_deref(), Some("3000.30000000000000004"));
        assert_eq!(
            bulk(con, &["GET", "lf"]).as_deref(),
            Some("3000.30000000000000004")
        );
        assert_eq!(incr(con, "-3000.3").as_deref(), Some("0"));
        assert_eq!(incr(con, "0x10").as_deref(), Some("16"));
        let hincr =
            |con: &mut redis::Connection, by: &str| bulk(con, &["HINCRBYFLOAT", "lh", "f", by]);
        assert_eq!(hincr(con, "0.1").as_deref(), Some("0.1"));
        assert_eq!(hincr(con, "0.2").as_deref(), Some("0.3"));
        assert_eq!(hincr(con, "1e-5").as_deref(), Some("0.30001"));
        // The whole value must be a number: a NUL byte is not one.
        ok(con, &["SET", "nul", "\0"]);
        assert_eq!(
            err(con, &["INCRBYFLOAT", "nul", "1"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            err(con, &["INCRBYFLOAT", "lf", " 1"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            err(con, &["INCRBYFLOAT", "lf", "inf"]),
            "ERR increment would produce NaN or Infinity"
        );
        assert_eq!(
            err(con, &["HINCRBYFLOAT", "lh", "f", "-inf"]),
            "ERR value is NaN or Infinity"
        );
    });
}

/// LCS looks at its keys before its options, with an error of its own for
/// a key that is not a string (found by the differential test).
#[test]
fn lcs_checks_its_keys_first() {
    for_each_setup(|_srv, con, _resp3| {
        int(con, &["RPUSH", "lcs_list", "a"]);
        ok(con, &["SET", "lcs_a", "ohmytext"]);
        let wrong = "ERR The specified keys must contain string values";
        assert_eq!(err(con, &["LCS", "lcs_list", "lcs_a"]), wrong);
        assert_eq!(err(con, &["LCS", "lcs_a", "lcs_list", "LEN", "IDX"]), wrong);
        assert_eq!(
            err(con, &["LCS", "lcs_a", "lcs_a", "LEN", "IDX"]),
            "ERR If you want both the length and indexes, please just use IDX."
        );
        assert_eq!(int(con, &["LCS", "lcs_a", "missing", "LEN"]), 0);
    });
}
