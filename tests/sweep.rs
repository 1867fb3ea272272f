//! Every keyed command redis-server 7.0.15 has, run on halocline
//! (--threads 2) and on a live redis-server against keys of every type
//! (and a missing one) with a fixed set of argument shapes, in RESP2 and
//! RESP3: the replies, errors included, must be identical. Where the
//! random differential test (tests/differential.rs) goes deep into the
//! commands it generates, this goes wide: argument-checking order, the
//! type check's place, and commands nobody generates; a second pass names
//! a second key of every type, so multi-key commands run across shards.
//! It found ZSCAN
//! reading its options before its key, and EVALSHA/FCALL reading their
//! number of keys before their script.

mod common;
use common::*;
use redis::Value;

/// Not swept: connection state, server-wide or blocking commands, random
/// replies, and those covered by tests of their own.
const SKIP: &[&str] = &[
    "acl",
    "asking",
    "auth",
    "bgrewriteaof",
    "bgsave",
    "blmove",
    "blmpop",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzmpop",
    "bzpopmax",
    "bzpopmin",
    "client",
    "cluster",
    "command",
    "config",
    "dbsize",
    "debug",
    "discard",
    "dump",
    "echo",
    "exec",
    "failover",
    "flushall",
    "flushdb",
    "function",
    "hello",
    "hrandfield",
    "info",
    "keys",
    "lastsave",
    "latency",
    "memory",
    "module",
    "monitor",
    "multi",
    "object",
    "pfdebug",
    "pfselftest",
    "ping",
    "psubscribe",
    "psync",
    "publish",
    "pubsub",
    "punsubscribe",
    "quit",
    "randomkey",
    "readonly",
    "readwrite",
    "replconf",
    "replicaof",
    "reset",
    "restore",
    "role",
    "save",
    "scan",
    "script",
    "select",
    "shutdown",
    "slaveof",
    "slowlog",
    "spop",
    "spublish",
    "srandmember",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "swapdb",
    "sync",
    "time",
    "unsubscribe",
    "unwatch",
    "wait",
    "watch",
    "zrandmember",
    // Not implemented here (README).
    "lolwut",
    "restore-asking",
    // Connects to the host and port it is given: tests/migrate.rs.
    "migrate",
];

/// Replies that are sets: Redis's member order follows its hash table,
/// so members are compared as sets.
const UNORDERED: &[&str] = &["smembers", "sdiff", "sinter", "sunion"];

const SETUP: &[&[&str]] = &[
    &["SET", "s", "v"],
    &["SET", "n", "10"],
    &["RPUSH", "l", "a", "b", "c"],
    &["HSET", "h", "f", "v", "g", "1"],
    &["SADD", "S", "m", "n"],
    &["ZADD", "z", "1", "m", "2.5", "n"],
];

const KEYS: &[&str] = &["s", "n", "l", "h", "S", "z", "nokey"];

const SHAPES: &[&[&str]] = &[
    &[],
    &["a"],
    &["1", "2"],
    &["a", "b", "c"],
    &["0", "-1"],
    &["m", "1"],
    &["f", "g"],
    &["0", "-1", "WITHSCORES"],
];

/// Shapes naming a second key (of every type), for the multi-key commands
/// (SMOVE, LMOVE, RENAME, COPY, the stores...): at --threads 2 the two
/// keys often live on different shards, so the cross-shard paths answer.
fn pair_shapes() -> Vec<Vec<&'static str>> {
    let tails: [&[&str]; 5] = [
        &[],
        &["1"],
        &["LEFT", "RIGHT"],
        &["m"],
        &["WEIGHTS", "1", "2"],
    ];
    KEYS.iter()
        .flat_map(|k| {
            tails.iter().map(move |t| {
                let mut v = vec![*k];
                v.extend_from_slice(t);
                v
            })
        })
        .collect()
}

fn normalized(name: &str, v: Value) -> Value {
    match v {
        Value::Array(mut items) | Value::Set(mut items) if UNORDERED.contains(&name) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Value::Array(items)
        }
        v => v,
    }
}

#[test]
fn every_keyed_command_answers_as_redis_on_every_key_type() {
    let shapes: Vec<Vec<&str>> = SHAPES.iter().map(|s| s.to_vec()).collect();
    sweep(&shapes);
}

#[test]
fn every_keyed_command_answers_as_redis_on_every_pair_of_keys() {
    sweep(&pair_shapes());
}

fn sweep(shapes: &[Vec<&str>]) {
    if !redis_server_available("the command sweep") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let srv = Server::start(2);
    let mut names: Vec<String> = strs(&q(&mut redis.conn(), &["COMMAND", "LIST"]))
        .into_iter()
        .flatten()
        .filter(|n| !n.contains('|') && !n.starts_with('x') && !SKIP.contains(&n.as_str()))
        .collect();
    names.sort();
    assert!(names.len() > 120, "{names:?}");
    let mut differ = Vec::new();
    for resp3 in [false, true] {
        let theirs_url = format!(
            "redis://127.0.0.1:{}/{}",
            redis.port,
            if resp3 { "?protocol=resp3" } else { "" }
        );
        let mut theirs = redis::Client::open(theirs_url)
            .and_then(|c| c.get_connection())
            .expect("redis-server connection");
        let mut ours = srv.conn_proto(resp3);
        for name in &names {
            for key in KEYS {
                for shape in shapes {
                    let mut args = vec![name.as_str(), key];
                    args.extend_from_slice(shape);
                    let mut replies = Vec::new();
                    for con in [&mut theirs, &mut ours] {
                        q(con, &["FLUSHALL"]);
                        for s in SETUP {
                            q(con, s);
                        }
                        replies.push(normalized(name, q(con, &args)));
                    }
                    if replies[0] != replies[1] {
                        differ.push(format!(
                            "RESP{} {args:?}: redis {:?} / ours {:?}",
                            if resp3 { 3 } else { 2 },
                            replies[0],
                            replies[1]
                        ));
                    }
                }
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} differences:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
