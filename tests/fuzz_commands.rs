//! Every command the server lists (COMMAND LIST), called with random
//! arguments drawn from the words commands parse (numbers at their limits,
//! options, ranges, keys of several shards and types): whatever a client
//! sends, the server answers once and keeps serving. A panic in any
//! handler, any argument parser or any cross-shard path would drop the
//! connection or leave the command unanswered. Deterministic per seed
//! (`FUZZ_SEED`, `FUZZ_N` override).

mod common;

use common::*;
use redis::ConnectionLike;
use std::time::Duration;

/// Commands whose effect would end the run or change how the client must
/// read replies, not input handling: they have tests of their own.
const SKIP: &[&str] = &[
    "shutdown",
    "quit",
    "reset",
    "hello",
    "auth",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "monitor",
    "sync",
    "psync",
    "debug",
    "client",
    "config",
    "multi",
    "exec",
    "discard",
    "watch",
    "unwatch",
    "select",
    "swapdb",
    "move",
    "wait",
    "failover",
    "replicaof",
    "slaveof",
    // Connects to whatever host and port it is given (another test's
    // server, or a name to resolve): tested in tests/migrate.rs.
    "migrate",
];

const WORDS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "-10",
    "100",
    "1.5",
    "-2.5",
    "1e3",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "0x10",
    "",
    " ",
    "abc",
    "(1",
    "[a",
    "(a",
    "-",
    "+",
    "*",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "KEEPTTL",
    "GET",
    "PERSIST",
    "WITHSCORES",
    "WITHSCORE",
    "LIMIT",
    "COUNT",
    "MATCH",
    "TYPE",
    "BYSCORE",
    "BYLEX",
    "REV",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "MIN",
    "MAX",
    "RANK",
    "MAXLEN",
    "IDX",
    "LEN",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "AGGREGATE",
    "SUM",
    "WEIGHTS",
    "STORE",
    "BY",
    "ASC",
    "DESC",
    "ALPHA",
    "SYNC",
    "ASYNC",
    "REPLACE",
    "DB",
    "ENCODING",
    "REFCOUNT",
    "IDLETIME",
    "FREQ",
    "HELP",
    "string",
    "list",
    "set",
    "zset",
    "hash",
];

/// Keys on several shards and of every type, set up before each round.
const KEYS: &[&str] = &[
    "s1", "s2", "l1", "l2", "z1", "z2", "h1", "h2", "t1", "t2", "{t}s", "{t}l", "{t}z", "nokey",
];

fn setup(con: &mut redis::Connection) {
    let _ = q(con, &["FLUSHALL"]);
    for cmd in [
        vec!["MSET", "s1", "10", "s2", "hello", "{t}s", "1.5"],
        vec!["RPUSH", "l1", "a", "b", "c", "1", "2"],
        vec!["RPUSH", "l2", "x"],
        vec!["RPUSH", "{t}l", "3", "1", "2"],
        vec!["ZADD", "z1", "1", "a", "2", "b", "3", "c"],
        vec!["ZADD", "z2", "0", "a", "0", "b"],
        vec!["ZADD", "{t}z", "-1", "m"],
        vec!["HSET", "h1", "f", "1", "g", "v"],
        vec!["HSET", "h2", "f", "x"],
        vec!["SADD", "t1", "a", "b", "1"],
        vec!["SADD", "t2", "b", "c"],
        vec!["EXPIRE", "s2", "1000"],
    ] {
        let _ = q(con, &cmd);
    }
}

fn random_args(rng: &mut fastrand::Rng, name: &str) -> Vec<String> {
    let mut args = vec![name.to_string()];
    let n = rng.usize(0..8);
    for _ in 0..n {
        let a = match rng.u8(0..10) {
            0..=3 => KEYS[rng.usize(..KEYS.len())].to_string(),
            4..=8 => WORDS[rng.usize(..WORDS.len())].to_string(),
            _ => {
                // Random bytes as text, sometimes long.
                let len = if rng.u8(..10) == 0 {
                    300
                } else {
                    rng.usize(0..6)
                };
                (0..len).map(|_| rng.alphanumeric()).collect()
            }
        };
        args.push(a);
    }
    args
}

#[test]
fn random_arguments_to_every_command_never_break_the_server() {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261126);
    let n: usize = std::env::var("FUZZ_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6000);
    for threads in [1, 4] {
        let srv = Server::start(threads);
        let mut con = srv.conn();
        con.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let Value::Array(list) = q(&mut con, &["COMMAND", "LIST"]) else {
            panic!("COMMAND LIST is not an array");
        };
        let mut names: Vec<String> = list
            .iter()
            .map(as_str)
            .map(|s| s.to_ascii_lowercase())
            .filter(|s| !SKIP.contains(&s.as_str()))
            .collect();
        names.sort();
        // Blocking commands run with a zero-ish timeout appended by chance
        // only: with none they could wait for ever, so give them one.
        let blocking = [
            "blpop",
            "brpop",
            "brpoplpush",
            "blmove",
            "blmpop",
            "bzpopmin",
            "bzpopmax",
            "bzmpop",
        ];
        assert!(names.len() > 100, "only {} commands listed", names.len());
        let mut rng = fastrand::Rng::with_seed(seed ^ threads as u64);
        setup(&mut con);
        for i in 0..n {
            if i % 500 == 0 {
                setup(&mut con);
            }
            let name = &names[rng.usize(..names.len())];
            let mut args = random_args(&mut rng, name);
            if blocking.contains(&name.as_str()) {
                // The timeout is where each command expects it; a wrong
                // place is a syntax error, which is fine too. Never 0.
                let t = "0.01".to_string();
                match name.as_str() {
                    "blmpop" | "bzmpop" => {
                        if args.len() > 1 {
                            args[1] = t;
                        }
                    }
                    _ => args.push(t),
                }
            }
            let cmd = cmd_of(&args);
            if let Err(e) = con.req_command(&cmd) {
                panic!(
                    "seed {seed} --threads {threads}, command {i}: {args:?} got no reply: {e}\n{}",
                    srv.stderr()
                );
            }
        }
        // Still serving, on this connection and a new one.
        assert_eq!(status(&mut con, &["PING"]), "PONG");
        let mut fresh = srv.conn();
        assert_eq!(status(&mut fresh, &["PING"]), "PONG");
        assert!(
            !srv.stderr().contains("panicked"),
            "--threads {threads}: {}",
            srv.stderr()
        );
    }
}
