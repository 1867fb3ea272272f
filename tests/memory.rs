//! MEMORY USAGE, STATS, DOCTOR, PURGE, MALLOC-STATS and HELP, and the
//! memory peak INFO reports. Argument errors are compared with a live
//! redis-server 7.0.15 when one is on PATH (and are also spelled out);
//! the figures themselves are this server's own.

mod common;
use common::*;
use redis::Value;

/// Replies that depend on no figure: argument checking and help.
const SAME_AS_REDIS: &[&[&str]] = &[
    &["MEMORY", "USAGE", "k", "SAMPLES", "x"],
    &["MEMORY", "USAGE", "k", "SAMPLES", "-1"],
    &["MEMORY", "USAGE", "k", "SAMPLES"],
    &["MEMORY", "USAGE", "k", "BOGUS"],
    &["MEMORY", "USAGE", "nokey"],
    &["MEMORY", "USAGE", "nokey", "SAMPLES", "0", "SAMPLES", "3"],
    &["MEMORY", "USAGE"],
    &["MEMORY", "STATS", "x"],
    &["MEMORY", "DOCTOR", "x"],
    &["MEMORY", "PURGE", "x"],
    &["MEMORY", "MALLOC-STATS", "x"],
    &["MEMORY", "HELP", "x"],
    &["MEMORY", "BOGUS"],
    &["MEMORY"],
    &["MEMORY", "HELP"],
    &["MEMORY", "PURGE"],
];

#[test]
fn memory_arguments_are_checked_as_redis_does() {
    let s = Server::start(2);
    let mut con = s.conn();
    ok(&mut con, &["SET", "k", "v"]);
    if redis_server_available("MEMORY differential test") {
        let r = RedisServer::start(&[]);
        let mut theirs = r.conn();
        ok(&mut theirs, &["SET", "k", "v"]);
        for args in SAME_AS_REDIS {
            assert_eq!(q(&mut con, args), q(&mut theirs, args), "{args:?}");
        }
    }
    // The options are checked before the key is looked up, as in Redis.
    assert_eq!(
        err(&mut con, &["MEMORY", "USAGE", "nokey", "SAMPLES", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut con, &["MEMORY", "USAGE", "k", "BOGUS"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["MEMORY", "STATS", "x"]),
        "ERR wrong number of arguments for 'memory|stats' command"
    );
    assert_eq!(
        err(&mut con, &["MEMORY", "BOGUS"]),
        "ERR unknown subcommand 'BOGUS'. Try MEMORY HELP."
    );
    assert_eq!(q(&mut con, &["MEMORY", "USAGE", "nokey"]), Value::Nil);
}

#[test]
fn memory_usage_reaches_every_shard_from_anywhere() {
    for_each_setup(|_, con, _| {
        for i in 0..64 {
            let key = format!("key:{i}");
            ok(con, &["SET", key.as_str(), "x".repeat(100).as_str()]);
            let n = int(con, &["MEMORY", "USAGE", key.as_str(), "SAMPLES", "0"]);
            assert!(n >= 100 + key.len() as i64, "{key}: {n}");
        }
        // Inside a transaction whose keys span shards.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg("a")
            .arg("1")
            .cmd("SET")
            .arg("b")
            .arg("1")
            .cmd("MEMORY")
            .arg("USAGE")
            .arg("a")
            .cmd("MEMORY")
            .arg("USAGE")
            .arg("b")
            .cmd("MEMORY")
            .arg("USAGE")
            .arg("nokey");
        let (_, _, a, b, none): (String, String, i64, i64, Option<i64>) =
            pipe.query(con).expect("EXEC");
        assert!(a > 0 && b > 0);
        assert_eq!(none, None);
        // From a script, on its declared key.
        let n = int(
            con,
            &[
                "EVAL",
                "return redis.call('memory','usage',KEYS[1])",
                "1",
                "key:7",
            ],
        );
        assert!(n >= 105, "{n}");
    });
}

/// A container's subcommand called from a script is checked as Redis's
/// lookup checks it: its own arity, and unknown ones are unknown commands
/// (these answered the handlers' own errors, such as "unknown subcommand
/// or wrong number of arguments for 'freq'", where Redis refuses the call).
/// MEMORY USAGE needs no declared key check beyond its own arity.
#[test]
fn scripts_check_subcommands_like_redis() {
    let s = Server::start(2);
    let mut con = s.conn();
    let cases: [(&str, &str); 5] = [
        (
            "return redis.call('memory','usage')",
            "ERR Wrong number of args calling Redis command from script",
        ),
        (
            "return redis.call('object','freq')",
            "ERR Wrong number of args calling Redis command from script",
        ),
        (
            "return redis.call('config','get')",
            "ERR Wrong number of args calling Redis command from script",
        ),
        (
            "return redis.call('memory','bogus')",
            "ERR Unknown Redis command called from script",
        ),
        (
            "return redis.call('memory','usage','k','samples','x')",
            "ERR value is not an integer or out of range",
        ),
    ];
    for (script, want) in cases {
        let e = err(&mut con, &["EVAL", script, "0"]);
        assert!(e.starts_with(want), "{script}: {e}");
    }
    assert_eq!(status(&mut con, &["PING"]), "PONG");
    assert_eq!(
        status(
            &mut con,
            &["EVAL", "return redis.call('memory','purge')", "0"]
        ),
        "OK"
    );
}

const STATS_FIELDS: [&str; 27] = [
    "peak.allocated",
    "total.allocated",
    "startup.allocated",
    "replication.backlog",
    "clients.slaves",
    "clients.normal",
    "cluster.links",
    "aof.buffer",
    "lua.caches",
    "functions.caches",
    "overhead.total",
    "keys.count",
    "keys.bytes-per-key",
    "dataset.bytes",
    "dataset.percentage",
    "peak.percentage",
    "allocator.allocated",
    "allocator.active",
    "allocator.resident",
    "allocator-fragmentation.ratio",
    "allocator-fragmentation.bytes",
    "allocator-rss.ratio",
    "allocator-rss.bytes",
    "rss-overhead.ratio",
    "rss-overhead.bytes",
    "fragmentation",
    "fragmentation.bytes",
];

fn num(v: &Value) -> f64 {
    match v {
        Value::Int(n) => *n as f64,
        Value::Double(d) => *d,
        v => as_str(v).parse().unwrap_or(f64::NAN),
    }
}

#[test]
fn memory_stats_counts_every_shard() {
    for_each_setup(|_, con, _| {
        for i in 0..1000 {
            ok(con, &["SET", format!("k{i}").as_str(), "v"]);
        }
        ok(con, &["SELECT", "3"]);
        for i in 0..10 {
            ok(con, &["SET", format!("k{i}").as_str(), "v"]);
        }
        ok(con, &["SELECT", "0"]);
        let stats = pairs(&q(con, &["MEMORY", "STATS"]));
        // Redis's fields in Redis's order, a map per non-empty database
        // before overhead.total.
        let names: Vec<&str> = stats.iter().map(|(k, _)| k.as_str()).collect();
        let mut want: Vec<&str> = STATS_FIELDS[..10].to_vec();
        want.extend(["db.0", "db.3"]);
        want.extend(&STATS_FIELDS[10..]);
        assert_eq!(names, want);
        let get = |name: &str| {
            stats
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Nil)
        };
        assert_eq!(num(&get("keys.count")), 1010.0);
        let total = num(&get("total.allocated"));
        assert!(num(&get("peak.allocated")) >= total);
        assert!(total > num(&get("startup.allocated")));
        let pct = num(&get("dataset.percentage"));
        assert!(pct > 0.0 && pct <= 100.0, "{pct}");
        let db0 = pairs(&get("db.0"));
        let db0: Vec<&str> = db0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            db0,
            [
                "overhead.hashtable.main",
                "overhead.hashtable.expires",
                "overhead.hashtable.slot-to-keys"
            ]
        );
    });
}

#[test]
fn doctor_purge_and_allocator_report() {
    let s = Server::start(2);
    let mut con = s.conn();
    let doctor = |con: &mut redis::Connection| as_str(&q(con, &["MEMORY", "DOCTOR"]));
    assert!(
        doctor(&mut con).starts_with("Hi Sam, this instance is empty"),
        "{}",
        doctor(&mut con)
    );
    // 24 MB of values: past the doctor's 5 MB floor.
    let value = "x".repeat(1 << 20);
    for i in 0..24 {
        ok(
            &mut con,
            &["SET", format!("big{i}").as_str(), value.as_str()],
        );
    }
    let report = doctor(&mut con);
    assert!(
        report.starts_with("Hi Sam, I can't find any memory issue")
            || report.starts_with("Sam, I detected a few issues"),
        "{report}"
    );
    ok(&mut con, &["MEMORY", "PURGE"]);
    let stats = as_str(&q(&mut con, &["MEMORY", "MALLOC-STATS"]));
    assert!(stats.contains("Begin jemalloc statistics"), "{stats}");
}

fn info_field(con: &mut redis::Connection, name: &str) -> u64 {
    let info = as_str(&q(con, &["INFO", "memory"]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {info}"))
}

/// used_memory_peak was used_memory itself; it is now the most ever in
/// use (sampled ten times a second, as Redis's cron samples it).
#[test]
fn memory_peak_outlives_the_data() {
    let s = Server::start(2);
    let mut con = s.conn();
    let value = "x".repeat(1 << 20);
    for i in 0..32 {
        ok(
            &mut con,
            &["SET", format!("big{i}").as_str(), value.as_str()],
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(400));
    let high = info_field(&mut con, "used_memory");
    ok(&mut con, &["FLUSHALL"]);
    let used = info_field(&mut con, "used_memory");
    let peak = info_field(&mut con, "used_memory_peak");
    assert!(used + (16 << 20) < high, "used {used} high {high}");
    assert!(peak >= high, "peak {peak} high {high}");
    let stats = pairs(&q(&mut con, &["MEMORY", "STATS"]));
    let peak_stat = stats
        .iter()
        .find(|(k, _)| k == "peak.allocated")
        .map(|(_, v)| num(v))
        .unwrap_or(0.0);
    assert!(peak_stat >= high as f64, "{peak_stat} {high}");
}
