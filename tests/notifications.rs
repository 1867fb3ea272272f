//! Keyspace notifications (`notify-keyspace-events`): the messages a
//! PSUBSCRIBE * client receives while another client runs commands must be
//! the ones redis-server 7.0 sends for the same commands.

mod common;

use common::*;
use std::time::Duration;

/// Commands covering the events halocline raises (README: which exist).
const STEPS: &[&[&str]] = &[
    &["SET", "s", "1"],
    &["SET", "s", "2", "EX", "100"],
    &["SET", "s", "3", "KEEPTTL"],
    &["SET", "s", "4", "NX"],
    &["SETNX", "s", "5"],
    &["SETNX", "s2", "5"],
    &["SETEX", "s3", "100", "x"],
    &["PSETEX", "s4", "100000", "x"],
    &["GETSET", "s", "6"],
    &["GETEX", "s", "EX", "50"],
    &["GETEX", "s", "PERSIST"],
    &["GETEX", "s", "PERSIST"],
    &["GETDEL", "s2"],
    &["GETDEL", "nope"],
    &["APPEND", "s", "x"],
    &["APPEND", "a", "x"],
    &["INCR", "n"],
    &["DECR", "n"],
    &["INCRBY", "n", "5"],
    &["DECRBY", "n", "2"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["INCR", "s"],
    &["SETRANGE", "s", "0", "ab"],
    &["SETRANGE", "s", "0", ""],
    &["SETRANGE", "r", "2", "ab"],
    &["MSET", "m1", "1", "m2", "2"],
    &["MSETNX", "m3", "1", "m4", "2"],
    &["MSETNX", "m3", "1", "m5", "2"],
    &["DEL", "m1", "m2", "nope"],
    &["UNLINK", "m3"],
    &["EXPIRE", "m4", "100"],
    &["PEXPIRE", "m4", "100000", "NX"],
    &["EXPIRE", "m4", "200", "GT"],
    &["PERSIST", "m4"],
    &["PERSIST", "m4"],
    &["EXPIRE", "m4", "-1"],
    &["SET", "old", "v"],
    &["RENAME", "old", "new"],
    &["RENAMENX", "new", "a"],
    &["COPY", "new", "copied"],
    &["COPY", "new", "copied", "DB", "3"],
    &["MOVE", "copied", "2"],
    &["LPUSH", "l", "a", "b"],
    &["RPUSH", "l", "c"],
    &["LPUSHX", "l", "d"],
    &["RPUSHX", "nolist", "d"],
    &["LINSERT", "l", "BEFORE", "c", "x"],
    &["LINSERT", "l", "BEFORE", "zz", "x"],
    &["LSET", "l", "0", "y"],
    &["LREM", "l", "0", "x"],
    &["LREM", "l", "0", "nothere"],
    &["LTRIM", "l", "0", "10"],
    &["LPOP", "l"],
    &["RPOP", "l", "2"],
    &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
    &["RPOPLPUSH", "l2", "l3"],
    &["LMPOP", "1", "l3", "LEFT"],
    &["RPUSH", "l4", "a", "b", "c"],
    &["LTRIM", "l4", "5", "10"],
    &["HSET", "h", "a", "1", "b", "2"],
    &["HMSET", "h", "c", "3"],
    &["HSETNX", "h", "a", "9"],
    &["HSETNX", "h", "d", "9"],
    &["HINCRBY", "h", "a", "5"],
    &["HINCRBYFLOAT", "h", "b", "0.5"],
    &["HDEL", "h", "nope"],
    &["HDEL", "h", "a", "b", "c", "d"],
    &["SADD", "st", "a", "b", "c"],
    &["SADD", "st", "a"],
    &["SREM", "st", "zz"],
    &["SREM", "st", "a"],
    &["SMOVE", "st", "st2", "b"],
    &["SMOVE", "st", "st2", "c"],
    &["SADD", "st3", "1", "2", "3"],
    &["SPOP", "st3"],
    &["SPOP", "st3", "1"],
    &["SPOP", "st3", "5"],
    &["SADD", "sa", "1", "2"],
    &["SADD", "sb", "2", "3"],
    &["SINTERSTORE", "sd", "sa", "sb"],
    &["SUNIONSTORE", "sd", "sa", "sb"],
    &["SDIFFSTORE", "sd", "sa", "sa"],
    &["SDIFFSTORE", "sd", "sa", "sa"],
    &[
        "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
    ],
    &["ZADD", "z", "1", "a"],
    &["ZADD", "z", "INCR", "1", "a"],
    &["ZINCRBY", "z", "1", "b"],
    &["ZREM", "z", "nope"],
    &["ZREM", "z", "a"],
    &["ZREMRANGEBYSCORE", "z", "100", "200"],
    &["ZREMRANGEBYSCORE", "z", "0", "3"],
    &["ZREMRANGEBYRANK", "z", "0", "0"],
    &["ZADD", "z", "0", "x", "0", "y"],
    &["ZREMRANGEBYLEX", "z", "[x", "[x"],
    &["ZPOPMIN", "z"],
    &["ZPOPMAX", "z", "5"],
    &["ZADD", "za", "1", "a", "2", "b"],
    &["ZADD", "zb", "2", "b", "3", "c"],
    &["ZUNIONSTORE", "zd", "2", "za", "zb"],
    &["ZINTERSTORE", "zd", "2", "za", "zb"],
    &["ZDIFFSTORE", "zd", "2", "za", "zb"],
    &["ZDIFFSTORE", "zd", "2", "za", "za"],
    &["ZDIFFSTORE", "zd", "2", "za", "za"],
    &["ZRANGESTORE", "zr", "za", "0", "-1"],
    &["ZRANGESTORE", "zr", "za", "5", "10"],
    &["RPUSH", "sl", "3", "1", "2"],
    &["SORT", "sl", "STORE", "sorted"],
    &["SORT", "nolist", "STORE", "sorted"],
    &["SORT", "nolist", "STORE", "sorted"],
    &["SETBIT", "bits", "7", "1"],
    &["SETBIT", "bits", "7", "1"],
    &["SETBIT", "bits", "7", "0"],
    &["SETBIT", "bits", "100", "0"],
    &["BITOP", "OR", "bdst", "bits", "nobits"],
    &["BITOP", "AND", "bdst", "nobits"],
    &["BITOP", "AND", "bdst", "nobits"],
    &["BITFIELD", "bf", "SET", "u8", "0", "1"],
    &["BITFIELD", "bf", "GET", "u8", "0"],
    &["BITFIELD", "bf", "INCRBY", "u8", "0", "1", "GET", "u8", "0"],
    &[
        "GEOADD",
        "geo",
        "13.361389",
        "38.115556",
        "p",
        "15.087269",
        "37.502669",
        "c",
    ],
    &["GEOADD", "geo", "NX", "13.361389", "38.115556", "p"],
    &["GEOADD", "geo", "XX", "CH", "13.5", "38.1", "p"],
    &["GEORADIUS", "geo", "15", "37", "200", "km", "STORE", "gs"],
    &["GEORADIUS", "geo", "15", "37", "1", "m", "STOREDIST", "gs"],
    &["GEORADIUSBYMEMBER", "geo", "p", "200", "km", "STORE", "gs"],
    &[
        "GEOSEARCHSTORE",
        "gs",
        "geo",
        "FROMMEMBER",
        "c",
        "BYBOX",
        "400",
        "400",
        "km",
    ],
    &[
        "GEOSEARCHSTORE",
        "gs",
        "nogeo",
        "FROMMEMBER",
        "c",
        "BYRADIUS",
        "1",
        "km",
    ],
    &[
        "GEOSEARCHSTORE",
        "gs",
        "nogeo",
        "FROMMEMBER",
        "c",
        "BYRADIUS",
        "1",
        "km",
    ],
    &["PFADD", "hll"],
    &["PFADD", "hll"],
    &["PFADD", "hll", "a", "b"],
    &["PFADD", "hll", "a"],
    &["PFCOUNT", "hll"],
    &["PFMERGE", "hll2", "hll", "nohll"],
];

/// Run `steps` on `port` while a PSUBSCRIBE * client of it listens; the
/// messages it got, in order (a PING marks the end).
fn events_of(port: u16, flags: &str, steps: &[&[&str]]) -> Vec<Resp> {
    let mut c = Raw::connect(port);
    assert_eq!(c.call(&["FLUSHALL"]), Resp::simple("OK"));
    assert_eq!(
        c.call(&["CONFIG", "SET", "notify-keyspace-events", flags]),
        Resp::simple("OK")
    );
    let mut sub = Raw::connect(port);
    sub.cmd(&[b"PSUBSCRIBE", b"*"]);
    let _ = sub.read();
    for step in steps {
        let _ = c.call(step);
    }
    sub.cmd(&[b"PING", b"end"]);
    let mut got = Vec::new();
    loop {
        let m = sub.read();
        if matches!(&m, Resp::Array(v) if v.first() == Some(&Resp::bulk("pong"))) {
            break;
        }
        got.push(m);
    }
    assert_eq!(
        c.call(&["CONFIG", "SET", "notify-keyspace-events", ""]),
        Resp::simple("OK")
    );
    got
}

/// A bulk string as text (anything else as debug output).
fn text(r: &Resp) -> String {
    match r {
        Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Messages as text, for readable failures.
fn show(msgs: &[Resp]) -> Vec<String> {
    msgs.iter()
        .map(|m| match m {
            Resp::Array(v) => v.iter().map(text).collect::<Vec<_>>().join(" "),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn events_are_those_redis_sends() {
    if !redis_server_available("keyspace notification differential test") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let s = Server::start(1);
    for flags in [
        "KEA", "KA", "Eg$", "Kl", "Ks", "Kz", "Kh", "KEAn", "Km", "KEAm",
    ] {
        let want = events_of(redis.port, flags, STEPS);
        let got = events_of(s.port, flags, STEPS);
        assert!(!want.is_empty() || !flags.contains('A'));
        let (got, want) = (show(&got), show(&want));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "flags {flags}: message {i}");
        }
        assert_eq!(got.len(), want.len(), "flags {flags}: {got:?}");
    }
}

/// Several reactors: every event reaches a subscriber on any of them (the
/// order of events of different shards may differ, so compared sorted).
#[test]
fn events_of_every_shard_reach_every_subscriber() {
    let steps: &[&[&str]] = &[
        &["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"],
        &["DEL", "a", "b", "c", "nope"],
        &["RENAME", "d", "x1"],
        &["COPY", "x1", "y2"],
        &["SADD", "s1", "m"],
        &["SUNIONSTORE", "s9", "s1", "s2", "s3"],
    ];
    let s = Server::start(4);
    let mut subs: Vec<Raw> = (0..4).map(|_| s.raw()).collect();
    let mut c = s.raw();
    assert_eq!(
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        Resp::simple("OK")
    );
    for sub in &mut subs {
        sub.cmd(&[b"PSUBSCRIBE", b"__keyevent@*"]);
        let _ = sub.read();
    }
    for step in steps {
        let _ = c.call(step);
    }
    let mut want: Vec<String> = [
        "set a",
        "set b",
        "set c",
        "set d",
        "set e",
        "del a",
        "del b",
        "del c",
        "rename_from d",
        "rename_to x1",
        "copy_to y2",
        "sadd s1",
        "sunionstore s9",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    for (n, sub) in subs.iter_mut().enumerate() {
        sub.set_timeout(Duration::from_secs(5));
        let mut got = Vec::new();
        for _ in 0..want.len() {
            let Resp::Array(v) = sub.read() else {
                panic!("subscriber {n}: not a message");
            };
            let channel = text(&v[2]);
            let event = channel.rsplit(':').next().unwrap_or_default().to_string();
            got.push(format!("{event} {}", text(&v[3])));
        }
        got.sort();
        assert_eq!(got, want, "subscriber {n}");
        sub.assert_silent(Duration::from_millis(100));
    }
}

fn expired(key: &str) -> Resp {
    Resp::Array(vec![
        Resp::bulk("pmessage"),
        Resp::bulk("*"),
        Resp::bulk("__keyevent@0__:expired"),
        Resp::bulk(key),
    ])
}

/// Keys that expire raise `expired`, found by the active cycle with no
/// client touching them, or lazily by an access.
#[test]
fn expiry_raises_expired() {
    let s = Server::start(2);
    let mut c = s.raw();
    assert_eq!(
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]),
        Resp::simple("OK")
    );
    let mut sub = s.raw();
    sub.cmd(&[b"PSUBSCRIBE", b"*"]);
    let _ = sub.read();
    sub.set_timeout(Duration::from_secs(5));
    assert_eq!(c.call(&["PSETEX", "k1", "50", "v"]), Resp::simple("OK"));
    assert_eq!(sub.read(), expired("k1"));
    assert_eq!(
        c.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Resp::simple("OK")
    );
    assert_eq!(c.call(&["PSETEX", "k2", "20", "v"]), Resp::simple("OK"));
    std::thread::sleep(Duration::from_millis(100));
    sub.assert_silent(Duration::from_millis(100));
    assert_eq!(c.call(&["GET", "k2"]), Resp::NilBulk);
    assert_eq!(sub.read(), expired("k2"));
}

/// CONFIG SET/GET of the flags: Redis's canonical form and its error.
#[test]
fn flags_are_shown_and_refused_as_redis_does() {
    let s = Server::start(1);
    let mut c = s.raw();
    for (set, shown) in [
        ("gKE", "gKE"),
        ("$lshzxeKE", "$lshzxeKE"),
        ("KA", "AK"),
        ("EA", "AE"),
        ("", ""),
    ] {
        assert_eq!(
            c.call(&["CONFIG", "SET", "notify-keyspace-events", set]),
            Resp::simple("OK")
        );
        assert_eq!(
            c.call(&["CONFIG", "GET", "notify-keyspace-events"]),
            Resp::Array(vec![
                Resp::bulk("notify-keyspace-events"),
                Resp::bulk(shown)
            ])
        );
    }
    let err = c.call(&["CONFIG", "SET", "notify-keyspace-events", "KEQ"]);
    assert!(
        matches!(&err, Resp::Error(e) if e.contains("Invalid event class character")),
        "{err:?}"
    );
    if redis_server_available("notify-keyspace-events error") {
        let redis = RedisServer::start(&[]);
        let mut r = Raw::connect(redis.port);
        let theirs = r.call(&["CONFIG", "SET", "notify-keyspace-events", "KEQ"]);
        assert_eq!(err, theirs);
    }
}

/// A script's writes raise their events once: a run that met a key of
/// another shard it did not declare starts over, and what its undone
/// writes raised is forgotten.
#[test]
fn a_script_that_starts_over_raises_its_events_once() {
    let s = Server::start(4);
    let mut c = s.raw();
    assert_eq!(
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "E$"]),
        Resp::simple("OK")
    );
    let mut sub = s.raw();
    sub.cmd(&[b"PSUBSCRIBE", b"*"]);
    let _ = sub.read();
    sub.set_timeout(Duration::from_secs(5));
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    let script: String = keys
        .iter()
        .map(|k| format!("redis.call('set', '{k}', 'v'); "))
        .collect::<String>()
        + "return 1";
    assert_eq!(c.call(&["EVAL", &script, "0"]), Resp::Int(1));
    let mut got: Vec<String> = (0..8)
        .map(|_| match sub.read() {
            Resp::Array(v) => v[2..].iter().map(text).collect::<Vec<_>>().join(" "),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    let want: Vec<String> = keys
        .iter()
        .map(|k| format!("__keyevent@0__:set {k}"))
        .collect();
    assert_eq!(got, want);
    sub.assert_silent(Duration::from_millis(200));
}
