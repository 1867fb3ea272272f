//! halocline as a master: SYNC/PSYNC hand out a snapshot and then the
//! stream of writes, in Redis 7.0's form (SELECT when the database
//! changes, MULTI/EXEC around transactions, relative times made absolute,
//! random and blocking pops replaced by what they did). Checked by reading
//! the stream directly, and by a real redis-server replicating from
//! halocline --threads 4 under concurrent writes and ending with the same
//! data (needs redis-server on PATH; with CI=true its absence fails).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A replica's view: the connection after SYNC, its snapshot consumed.
struct Stream {
    r: BufReader<TcpStream>,
    rdb: Vec<u8>,
}

impl Stream {
    fn attach(port: u16, psync: bool) -> Stream {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if psync {
            s.write_all(b"PSYNC ? -1\r\n").unwrap();
        } else {
            s.write_all(b"SYNC\r\n").unwrap();
        }
        let mut r = BufReader::new(s);
        let mut line = String::new();
        if psync {
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with("+FULLRESYNC "), "{line:?}");
            assert_eq!(line.split(' ').count(), 3, "{line:?}");
            line.clear();
        }
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with('$'), "{line:?}");
        let len: usize = line[1..].trim_end().parse().unwrap();
        let mut rdb = vec![0; len];
        r.read_exact(&mut rdb).unwrap();
        assert!(rdb.starts_with(b"REDIS0010"), "{:?}", &rdb[..9]);
        Stream { r, rdb }
    }

    /// The next command in the stream, keep-alive PINGs skipped.
    fn next(&mut self) -> Vec<String> {
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).expect("stream read");
            let n: usize = line
                .strip_prefix('*')
                .unwrap_or_else(|| panic!("not an array: {line:?}"))
                .trim_end()
                .parse()
                .unwrap();
            let mut cmd = Vec::with_capacity(n);
            for _ in 0..n {
                line.clear();
                self.r.read_line(&mut line).unwrap();
                let len: usize = line[1..].trim_end().parse().unwrap();
                let mut b = vec![0; len + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(len);
                cmd.push(String::from_utf8(b).unwrap());
            }
            // Command names in the case the client sent them: compare
            // them upper-cased.
            cmd[0].make_ascii_uppercase();
            if cmd != ["PING"] {
                return cmd;
            }
        }
    }

    /// Commands up to and including the one whose first key is `marker`.
    fn until(&mut self, marker: &str) -> Vec<Vec<String>> {
        let mut got = Vec::new();
        loop {
            let c = self.next();
            let done = c.get(1).is_some_and(|k| k == marker);
            got.push(c);
            if done {
                return got;
            }
        }
    }
}

fn cmds(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Replace the absolute times (PXAT/PEXPIREAT arguments) by "T" after
/// checking they are `delta_ms` ahead of now, give or take.
fn times_checked(mut got: Vec<Vec<String>>, now_ms: u64) -> Vec<Vec<String>> {
    for c in &mut got {
        let at = match c[0].to_ascii_uppercase().as_str() {
            "SET" if c.len() == 5 && c[3].eq_ignore_ascii_case("pxat") => 4,
            "PEXPIREAT" => 2,
            _ => continue,
        };
        let t: u64 = c[at].parse().unwrap();
        assert!(t > now_ms && t < now_ms + 200_000, "{c:?} vs now {now_ms}");
        c[at] = "T".into();
    }
    got
}

#[test]
fn the_stream_carries_writes_as_redis_replicates_them() {
    for threads in [1, 4] {
        let s = Server::start(threads);
        let mut c = s.conn();
        ok(&mut c, &["SET", "before", "1"]);
        let mut st = Stream::attach(s.port, threads == 4);
        let t0 = now_ms() as u64;
        ok(&mut c, &["SET", "foo", "bar"]);
        assert_eq!(int(&mut c, &["DEL", "missing"]), 0);
        assert_eq!(
            q(&mut c, &["GET", "foo"]),
            Value::BulkString(b"bar".to_vec())
        );
        ok(&mut c, &["SET", "k", "v", "EX", "100"]);
        assert_eq!(int(&mut c, &["EXPIRE", "foo", "100"]), 1);
        assert_eq!(
            bulk(&mut c, &["INCRBYFLOAT", "f", "1.5"]).as_deref(),
            Some("1.5")
        );
        ok(&mut c, &["MULTI"]);
        status(&mut c, &["SET", "{t}a", "1"]);
        status(&mut c, &["GET", "{t}a"]);
        status(&mut c, &["INCR", "{t}b"]);
        q(&mut c, &["EXEC"]);
        ok(&mut c, &["MULTI"]);
        status(&mut c, &["GET", "{t}a"]);
        q(&mut c, &["EXEC"]);
        // Keys on different shards at --threads 4.
        ok(&mut c, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
        assert_eq!(int(&mut c, &["DEL", "a", "b", "nope"]), 2);
        ok(&mut c, &["MULTI"]);
        status(&mut c, &["INCR", "c"]);
        status(&mut c, &["INCR", "d"]);
        q(&mut c, &["EXEC"]);
        ok(&mut c, &["SELECT", "2"]);
        assert_eq!(int(&mut c, &["SADD", "s", "x"]), 1);
        assert_eq!(bulk(&mut c, &["SPOP", "s"]).as_deref(), Some("x"));
        ok(&mut c, &["SELECT", "0"]);
        ok(&mut c, &["FLUSHDB"]);
        ok(&mut c, &["SET", "end", "1"]);
        let got = times_checked(st.until("end"), t0);
        let want = cmds(&[
            &["SELECT", "0"],
            &["SET", "foo", "bar"],
            &["SET", "k", "v", "PXAT", "T"],
            &["PEXPIREAT", "foo", "T"],
            &["SET", "f", "1.5", "KEEPTTL"],
            &["MULTI"],
            &["SET", "{t}a", "1"],
            &["INCR", "{t}b"],
            &["EXEC"],
            &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"],
            &["DEL", "a", "b", "nope"],
            &["MULTI"],
            &["INCR", "c"],
            &["INCR", "d"],
            &["EXEC"],
            &["SELECT", "2"],
            &["SADD", "s", "x"],
            &["SREM", "s", "x"],
            &["SELECT", "0"],
            &["FLUSHDB"],
            &["SET", "end", "1"],
        ]);
        assert_eq!(got, want, "--threads {threads}");
        assert!(!st.rdb.is_empty());
        let info = bulk(&mut c, &["INFO", "replication"]).unwrap();
        assert!(info.contains("connected_slaves:1"), "{info}");
        drop(st);
        // The replica's connection closing detaches it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !bulk(&mut c, &["INFO", "replication"])
            .unwrap()
            .contains("connected_slaves:0")
        {
            assert!(Instant::now() < deadline, "replica not detached");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// PUBLISH queued in MULTI reaches the stream in its place inside the
/// transaction's MULTI/EXEC, as Redis 7.0 propagates it; alone it is
/// just PUBLISH. It used to be appended ahead of the transaction (it ran
/// when EXEC started), so a replica's subscribers heard it first.
#[test]
fn publish_inside_exec_is_replicated_in_its_place() {
    for threads in [1, 4] {
        let s = Server::start(threads);
        let mut c = s.conn();
        let mut st = Stream::attach(s.port, threads == 4);
        ok(&mut c, &["MULTI"]);
        status(&mut c, &["SET", "a", "1"]);
        status(&mut c, &["PUBLISH", "ch", "m"]);
        status(&mut c, &["SET", "b", "2"]);
        q(&mut c, &["EXEC"]);
        ok(&mut c, &["MULTI"]);
        status(&mut c, &["PUBLISH", "ch", "alone"]);
        q(&mut c, &["EXEC"]);
        ok(&mut c, &["SET", "end", "1"]);
        let got = times_checked(st.until("end"), 0);
        let want = cmds(&[
            &["SELECT", "0"],
            &["MULTI"],
            &["SET", "a", "1"],
            &["PUBLISH", "ch", "m"],
            &["SET", "b", "2"],
            &["EXEC"],
            &["PUBLISH", "ch", "alone"],
            &["SET", "end", "1"],
        ]);
        assert_eq!(got, want, "--threads {threads}");
    }
}

#[test]
fn expiry_and_served_blocking_pops_are_replicated_as_deletes_and_pops() {
    let s = Server::start(4);
    let mut c = s.conn();
    let mut st = Stream::attach(s.port, false);
    ok(&mut c, &["SET", "e", "v", "PX", "30"]);
    // Active expiry deletes it without anyone asking.
    std::thread::sleep(Duration::from_millis(400));
    let mut waiter = s.conn();
    let t = std::thread::spawn(move || q(&mut waiter, &["BLPOP", "list", "5"]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(int(&mut c, &["RPUSH", "list", "x"]), 1);
    let popped = t.join().unwrap();
    assert_eq!(strs(&popped), vec![Some("list".into()), Some("x".into())]);
    ok(&mut c, &["SET", "end", "1"]);
    let got = st.until("end");
    let names: Vec<String> = got.iter().map(|c| c.join(" ")).collect();
    let pos = |s: &str| {
        names
            .iter()
            .position(|n| n == s)
            .unwrap_or_else(|| panic!("{s:?} missing from {names:?}"))
    };
    assert!(names[pos("DEL e")..].len() > 1);
    assert!(pos("RPUSH list x") < pos("LPOP list"), "{names:?}");
    assert!(
        pos("DEL e")
            > names
                .iter()
                .position(|n| n.starts_with("SET e v PXAT"))
                .unwrap()
    );
}

#[test]
fn replconf_and_role() {
    let s = Server::start(2);
    let mut c = s.conn();
    ok(&mut c, &["REPLCONF", "listening-port", "7777"]);
    ok(&mut c, &["REPLCONF", "capa", "eof", "capa", "psync2"]);
    assert_eq!(err(&mut c, &["REPLCONF", "capa"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["REPLCONF", "bogus", "1"]),
        "ERR Unrecognized REPLCONF option: bogus"
    );
    let role = q(&mut c, &["ROLE"]);
    let Value::Array(items) = role else {
        panic!("{role:?}")
    };
    assert_eq!(items[0], Value::BulkString(b"master".to_vec()));
    assert_eq!(items[2], Value::Array(vec![]));
    ok(&mut c, &["MULTI"]);
    assert_eq!(
        err(&mut c, &["SYNC"]),
        "ERR Command not allowed inside a transaction"
    );
}

// ---- a real redis-server replicating from halocline ----

/// A redis-server replica of the halocline on `master`.
fn start_replica_of(master: u16) -> RedisServer {
    RedisServer::start(&["--replicaof", "127.0.0.1", &master.to_string()])
}

/// Wait (20 s at most) until the replica on `c` has synced.
fn wait_link_up(c: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(c, "replication", "master_link_status").as_deref() != Some("up") {
        assert!(Instant::now() < deadline, "replica never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every key of databases 0..3 with its type, contents (order-free where
/// the type is) and absolute expiry.
fn dataset(c: &mut redis::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..3 {
        ok(c, &["SELECT", &db.to_string()]);
        let keys = strs(&q(c, &["KEYS", "*"]));
        for k in keys.into_iter().flatten() {
            let ty = status(c, &["TYPE", &k]);
            let mut v = match ty.as_str() {
                "string" => vec![bulk(c, &["GET", &k]).unwrap_or_default()],
                "list" => strs(&q(c, &["LRANGE", &k, "0", "-1"]))
                    .into_iter()
                    .flatten()
                    .collect(),
                "set" => strs(&q(c, &["SMEMBERS", &k]))
                    .into_iter()
                    .flatten()
                    .collect(),
                "hash" => strs(&q(c, &["HGETALL", &k]))
                    .into_iter()
                    .flatten()
                    .collect(),
                "zset" => strs(&q(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"]))
                    .into_iter()
                    .flatten()
                    .collect(),
                other => vec![other.to_string()],
            };
            if ty == "set" || ty == "hash" {
                v.sort();
            }
            let exp = int(c, &["PEXPIRETIME", &k]);
            out.push(format!("{db} {k} {ty} {exp} {v:?}"));
        }
    }
    ok(c, &["SELECT", "0"]);
    out.sort();
    out
}

#[test]
fn a_redis_replica_ends_with_the_same_data() {
    if !redis_server_available("the replica tests") {
        return;
    }
    let s = Server::start(4);
    let mut c = s.conn();
    // Before the snapshot: every type, TTLs, two databases.
    for i in 0..200 {
        ok(&mut c, &["SET", &format!("s{i}"), &i.to_string()]);
    }
    int(&mut c, &["RPUSH", "list", "a", "b", "c"]);
    int(&mut c, &["HSET", "hash", "f", "1", "g", "2"]);
    int(&mut c, &["SADD", "set", "1", "2", "3", "x"]);
    int(&mut c, &["ZADD", "zset", "1.5", "a", "-2", "b"]);
    ok(&mut c, &["SET", "ttl", "v", "EX", "1000"]);
    ok(&mut c, &["SELECT", "1"]);
    ok(&mut c, &["SET", "db1", "x"]);
    ok(&mut c, &["SELECT", "0"]);

    // Concurrent writers on every path: single-shard commands, spread
    // MSET/DEL/RENAME/SUNIONSTORE, spread and tagged MULTI/EXEC, random
    // pops, blocking pops served by pushes, float increments, expiry.
    let url = s.url(false);
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url.as_str())
                    .and_then(|cl| cl.get_connection())
                    .expect("connect");
                let mut rng = fastrand::Rng::with_seed(w);
                for i in 0..1500 {
                    let k = |rng: &mut fastrand::Rng| format!("k{}", rng.u32(..40));
                    match rng.u32(..15) {
                        0 => drop(q(&mut c, &["SET", &k(&mut rng), &i.to_string()])),
                        1 => drop(q(&mut c, &["INCR", &format!("n{}", rng.u32(..10))])),
                        2 => drop(q(
                            &mut c,
                            &[
                                "MSET",
                                &k(&mut rng),
                                "m",
                                &k(&mut rng),
                                "n",
                                &k(&mut rng),
                                "o",
                            ],
                        )),
                        3 => drop(q(&mut c, &["DEL", &k(&mut rng), &k(&mut rng)])),
                        4 => drop(q(&mut c, &["RENAME", &k(&mut rng), &k(&mut rng)])),
                        5 => drop(q(
                            &mut c,
                            &["SADD", &format!("S{}", rng.u32(..5)), &i.to_string()],
                        )),
                        6 => drop(q(&mut c, &["SPOP", &format!("S{}", rng.u32(..5))])),
                        7 => drop(q(
                            &mut c,
                            &[
                                "SUNIONSTORE",
                                &format!("U{}", rng.u32(..5)),
                                "S0",
                                "S1",
                                "S2",
                            ],
                        )),
                        8 => {
                            q(&mut c, &["MULTI"]);
                            q(&mut c, &["INCR", &k(&mut rng)]);
                            q(&mut c, &["LPUSH", &format!("L{}", rng.u32(..3)), "e"]);
                            q(&mut c, &["EXEC"]);
                        }
                        9 => drop(q(
                            &mut c,
                            &["INCRBYFLOAT", &format!("F{}", rng.u32(..5)), "0.1"],
                        )),
                        10 => drop(q(&mut c, &["EXPIRE", &k(&mut rng), "500"])),
                        11 => drop(q(&mut c, &["BLPOP", &format!("L{}", rng.u32(..3)), "0.01"])),
                        13 => {
                            // A pipeline of multi-key commands: folded into
                            // one transaction by the server.
                            let mut p = redis::pipe();
                            for j in 0..6 {
                                match j % 3 {
                                    0 => p
                                        .cmd("MSET")
                                        .arg(k(&mut rng))
                                        .arg(i)
                                        .arg(k(&mut rng))
                                        .arg(j),
                                    1 => p.cmd("DEL").arg(k(&mut rng)).arg(k(&mut rng)),
                                    _ => p.cmd("MGET").arg(k(&mut rng)).arg(k(&mut rng)),
                                };
                            }
                            let _: redis::Value = p.query(&mut c).unwrap();
                        }
                        12 => drop(q(&mut c, &["RPOP", &format!("L{}", rng.u32(..3))])),
                        _ => {
                            q(&mut c, &["MULTI"]);
                            q(&mut c, &["SET", "{t}x", &i.to_string()]);
                            q(&mut c, &["INCR", "{t}y"]);
                            q(&mut c, &["EXEC"]);
                        }
                    }
                }
            })
        })
        .collect();
    // The replica attaches while they write: whatever its snapshot
    // misses must reach it through the stream.
    std::thread::sleep(Duration::from_millis(30));
    let replica = start_replica_of(s.port);
    let mut rc = replica.conn();
    wait_link_up(&mut rc);

    for w in writers {
        w.join().unwrap();
    }
    ok(&mut c, &["SET", "done", "1"]);
    // The pipelines were folded into transactions while the replica was
    // attached (the path whose commands the fold must keep).
    let folded: u64 = info_field(&mut c, "stats", "tx_folded")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(folded > 0, "no fold happened");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // (A replica may have been dropped to resynchronize meanwhile.)
        let up = info_field(&mut rc, "replication", "master_link_status").as_deref() == Some("up");
        let master = info_field(&mut c, "replication", "master_repl_offset");
        let replica_at = info_field(&mut rc, "replication", "slave_repl_offset");
        if up && master.is_some() && master == replica_at {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica stuck at {replica_at:?}, master at {master:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let want = dataset(&mut c);
    let got = dataset(&mut rc);
    assert!(want.len() > 200, "{}", want.len());
    if want != got {
        let missing: Vec<_> = want.iter().filter(|x| !got.contains(x)).take(10).collect();
        let extra: Vec<_> = got.iter().filter(|x| !want.contains(x)).take(10).collect();
        panic!("replica differs: master only {missing:?}, replica only {extra:?}");
    }
}

/// A write that finds its key expired (HSET, SADD... create it afresh)
/// deletes the old one first: replicas, which never expire keys
/// themselves, must get that DEL before the write, or they add the field
/// to the stale hash (the stream had only the HSET).
#[test]
fn a_write_over_an_expired_key_replicates_its_deletion_first() {
    let s = Server::start(1);
    let mut c = s.conn();
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    assert_eq!(int(&mut c, &["HSET", "h", "a", "1"]), 1);
    assert_eq!(int(&mut c, &["PEXPIRE", "h", "1"]), 1);
    std::thread::sleep(Duration::from_millis(10));
    let mut st = Stream::attach(s.port, false);
    assert_eq!(int(&mut c, &["HSET", "h", "b", "2"]), 1);
    ok(&mut c, &["SET", "end", "1"]);
    let got = st.until("end");
    let names: Vec<String> = got.iter().map(|c| c.join(" ")).collect();
    let del = names.iter().position(|n| n == "DEL h");
    let hset = names.iter().position(|n| n == "HSET h b 2");
    assert!(
        matches!((del, hset), (Some(d), Some(h)) if d < h),
        "{names:?}"
    );
}

#[test]
fn keys_scan_and_randomkey_find_expired_are_deleted_in_the_stream() {
    let s = Server::start(1);
    let mut c = s.conn();
    ok(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut c, &["SET", "foo1", "bar", "PX", "1"]);
    ok(&mut c, &["SET", "foo2", "bar", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(10));
    let mut st = Stream::attach(s.port, false);
    q(&mut c, &["SCAN", "0"]);
    assert_eq!(int(&mut c, &["DBSIZE"]), 0);
    ok(&mut c, &["SET", "end", "1"]);
    let mut got = st.until("end");
    got.sort();
    assert_eq!(
        got,
        cmds(&[
            &["DEL", "foo1"],
            &["DEL", "foo2"],
            &["SELECT", "0"],
            &["SET", "end", "1"]
        ])
    );
}

#[test]
fn client_list_flags_show_blocked_and_multi_clients_and_replicas() {
    let s = Server::start(2);
    let mut c = s.conn();
    let _st = Stream::attach(s.port, false);
    let mut m = s.conn();
    ok(&mut m, &["MULTI"]);
    let mut b = s.conn();
    let t = std::thread::spawn(move || q(&mut b, &["BLPOP", "nothing", "1"]));
    std::thread::sleep(Duration::from_millis(200));
    let list = bulk(&mut c, &["CLIENT", "LIST"]).unwrap();
    let flags: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("flags=")))
        .collect();
    for f in ["S", "x", "b", "N"] {
        assert!(flags.contains(&f), "{f} missing from {flags:?}");
    }
    t.join().unwrap();
}

#[test]
fn min_replicas_to_write_counts_attached_replicas() {
    let s = Server::start(2);
    let mut c = s.conn();
    ok(&mut c, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert_eq!(
        err(&mut c, &["SET", "k", "v"]),
        "NOREPLICAS Not enough good replicas to write."
    );
    let st = Stream::attach(s.port, true);
    ok(&mut c, &["SET", "k", "v"]);
    ok(&mut c, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
    assert_eq!(
        err(&mut c, &["SET", "k", "v"]),
        "NOREPLICAS Not enough good replicas to write."
    );
    drop(st);
}

#[test]
fn a_halocline_replica_of_halocline_follows_it() {
    let master = Server::start(2);
    let replica = Server::start(3);
    let mut m = master.conn();
    let mut r = replica.conn();
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("k{i}"), &i.to_string()]);
    }
    int(&mut m, &["RPUSH", "list", "a", "b"]);
    ok(&mut m, &["SET", "ttl", "v", "EX", "1000"]);
    // A library in the snapshot, another in the stream.
    let lib = |name: &str| {
        format!("#!lua name={name}\nredis.register_function{{function_name='{name}_get', callback=function(k) return redis.call('get', k[1]) end, flags={{'no-writes'}}}}")
    };
    bulk(&mut m, &["FUNCTION", "LOAD", &lib("before")]);
    ok(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
    );
    wait_link_up(&mut r);
    let deadline = Instant::now() + Duration::from_secs(20);
    // After the sync: spread and tagged transactions, deletes, expiry.
    ok(&mut m, &["MSET", "a", "1", "b", "2", "c", "3"]);
    ok(&mut m, &["MULTI"]);
    status(&mut m, &["INCR", "a"]);
    status(&mut m, &["LPUSH", "list", "z"]);
    q(&mut m, &["EXEC"]);
    assert_eq!(int(&mut m, &["DEL", "k1", "k2", "k3"]), 3);
    assert_eq!(int(&mut m, &["EXPIRE", "k4", "500"]), 1);
    bulk(&mut m, &["FUNCTION", "LOAD", &lib("after")]);
    ok(&mut m, &["SET", "done", "1"]);
    loop {
        let mo = info_field(&mut m, "replication", "master_repl_offset");
        if mo.is_some()
            && mo == info_field(&mut r, "replication", "slave_repl_offset")
            && bulk(&mut r, &["GET", "done"]).is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "replica behind");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dataset(&mut r), dataset(&mut m));
    assert!(err(&mut r, &["SET", "x", "1"]).starts_with("READONLY"));
    for f in ["before_get", "after_get"] {
        assert_eq!(
            bulk(&mut r, &["FCALL_RO", f, "1", "k5"]).as_deref(),
            Some("5")
        );
        assert_eq!(bulk(&mut r, &["FCALL", f, "1", "k5"]).as_deref(), Some("5"));
    }
    // Scripts of the replica's own clients may read, not write.
    assert_eq!(
        bulk(
            &mut r,
            &["EVAL", "return redis.call('get', KEYS[1])", "1", "k6"]
        )
        .as_deref(),
        Some("6")
    );
    let e = err(
        &mut r,
        &["EVAL", "return redis.call('set', KEYS[1], 1)", "1", "k6"],
    );
    assert!(
        e.starts_with("READONLY You can't write against a read only replica."),
        "{e}"
    );
    bulk(&mut m, &["FUNCTION", "LOAD", "#!lua name=w\nredis.register_function('w', function(k) return redis.call('set', k[1], 1) end)"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = err(&mut r, &["FCALL", "w", "1", "k6"]);
        if e.starts_with("READONLY Can not run script with write flag on readonly replica") {
            break;
        }
        assert!(Instant::now() < deadline, "{e}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(bulk(&mut r, &["GET", "k6"]).as_deref(), Some("6"));
}

#[test]
fn wait_counts_replicas_that_acknowledged_the_clients_writes() {
    let s = Server::start(2);
    let mut c = s.conn();
    // No replica: WAIT 0 answers at once, WAIT 1 at its timeout.
    assert_eq!(int(&mut c, &["WAIT", "0", "0"]), 0);
    let t = Instant::now();
    assert_eq!(int(&mut c, &["WAIT", "1", "100"]), 0);
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert_eq!(err(&mut c, &["WAIT", "1", "-1"]), "ERR timeout is negative");
    assert_eq!(
        err(&mut c, &["WAIT", "x", "0"]),
        "ERR value is not an integer or out of range"
    );
    if !redis_server_available("the replica tests") {
        return;
    }
    let replica = start_replica_of(s.port);
    let mut rc = replica.conn();
    wait_link_up(&mut rc);
    // Writes on both shards, then WAIT: the replica acknowledges them.
    for i in 0..50 {
        ok(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let t = Instant::now();
    assert_eq!(int(&mut c, &["WAIT", "1", "5000"]), 1);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(bulk(&mut rc, &["GET", "k49"]).as_deref(), Some("v"));
    // Two asked, one there: the timeout answers with one.
    assert_eq!(int(&mut c, &["WAIT", "2", "200"]), 1);
    // Inside MULTI it never blocks: it counts the replicas that have
    // acknowledged the stream so far (0 or 1 here: the GETACK the last
    // WAIT sent may not be acknowledged yet).
    ok(&mut c, &["MULTI"]);
    status(&mut c, &["WAIT", "5", "0"]);
    let t = Instant::now();
    let Value::Array(r) = q(&mut c, &["EXEC"]) else {
        panic!()
    };
    assert!(matches!(r.as_slice(), [Value::Int(0 | 1)]), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn pipelined_folds_reach_a_replica_through_the_stream() {
    if !redis_server_available("the replica tests") {
        return;
    }
    let s = Server::start(4);
    let replica = start_replica_of(s.port);
    let mut rc = replica.conn();
    wait_link_up(&mut rc);
    // Attached before any of them started: each fold must reach the
    // replica through the stream (one that did not would make it
    // resynchronize, which the sync count below would show).
    let mut c = s.conn();
    for i in 0..200 {
        let mut p = redis::pipe();
        for j in 0..6 {
            let k = |x: u32| format!("f{}", (i * 7 + j * 3 + x) % 60);
            match j % 3 {
                0 => p.cmd("MSET").arg(k(0)).arg(i).arg(k(1)).arg(j),
                1 => p.cmd("DEL").arg(k(2)).arg(k(5)),
                _ => p.cmd("MGET").arg(k(3)).arg(k(4)),
            };
        }
        let _: Value = p.query(&mut c).unwrap();
    }
    ok(&mut c, &["SET", "done", "1"]);
    let folded: u64 = info_field(&mut c, "stats", "tx_folded")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(folded > 0, "no fold happened");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mo = info_field(&mut c, "replication", "master_repl_offset");
        if mo.is_some() && mo == info_field(&mut rc, "replication", "slave_repl_offset") {
            break;
        }
        assert!(Instant::now() < deadline, "replica behind");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dataset(&mut rc), dataset(&mut c));
    let syncs = s.stderr().matches("asks for synchronization").count();
    assert_eq!(syncs, 1, "{}", s.stderr());
}

/// Scripts replicate as their effects (Redis 7.0): one write alone, more
/// wrapped in MULTI/EXEC, reads nothing; a script whose keys span shards
/// runs on copies under locks and replicates as the EVAL of its body.
#[test]
fn scripts_replicate_their_writes() {
    for threads in [1, 4] {
        let s = Server::start(threads);
        let mut c = s.conn();
        let mut st = Stream::attach(s.port, true);
        ok(
            &mut c,
            &[
                "EVAL",
                "return redis.call('set', KEYS[1], 'a')",
                "1",
                "{s}one",
            ],
        );
        let _ = q(
            &mut c,
            &["EVAL", "return redis.call('get', KEYS[1])", "1", "{s}one"],
        );
        let two = "redis.call('set', KEYS[1], 'b') redis.call('incr', KEYS[2]) return 1";
        assert_eq!(int(&mut c, &["EVAL", two, "2", "{s}one", "{s}n"]), 1);
        // A failed write inside is not replicated; the rest is.
        let _ = q(
            &mut c,
            &[
                "EVAL",
                "redis.pcall('incr', KEYS[1]) return redis.call('set', KEYS[2], 'z')",
                "2",
                "{s}one",
                "{s}z",
            ],
        );
        ok(&mut c, &["SET", "end1", "1"]);
        assert_eq!(
            st.until("end1"),
            cmds(&[
                &["SELECT", "0"],
                &["SET", "{s}one", "a"],
                &["MULTI"],
                &["SET", "{s}one", "b"],
                &["INCR", "{s}n"],
                &["EXEC"],
                &["SET", "{s}z", "z"],
                &["SET", "end1", "1"],
            ])
        );
        // FUNCTION LOAD travels as called; FCALL as its effects.
        let lib = "#!lua name=l\nredis.register_function('f', function(k, a) return redis.call('set', k[1], a[1]) end)";
        assert_eq!(
            bulk(&mut c, &["FUNCTION", "LOAD", lib]).as_deref(),
            Some("l")
        );
        ok(&mut c, &["FCALL", "f", "1", "{s}fk", "fv"]);
        ok(&mut c, &["SET", "end3", "1"]);
        assert_eq!(
            st.until("end3"),
            cmds(&[
                &["FUNCTION", "LOAD", lib],
                &["SET", "{s}fk", "fv"],
                &["SET", "end3", "1"],
            ])
        );
        if threads == 1 {
            continue;
        }
        let sha = bulk(
            &mut c,
            &[
                "SCRIPT",
                "LOAD",
                "return redis.call('set', KEYS[1], ARGV[1])",
            ],
        )
        .unwrap();
        ok(&mut c, &["EVALSHA", &sha, "2", "spread:a", "spread:b", "v"]);
        ok(&mut c, &["SET", "end2", "1"]);
        assert_eq!(
            st.until("end2"),
            cmds(&[
                &[
                    "EVAL",
                    "return redis.call('set', KEYS[1], ARGV[1])",
                    "2",
                    "spread:a",
                    "spread:b",
                    "v"
                ],
                &["SET", "end2", "1"],
            ])
        );
    }
}
