//! CLIENT TRACKING (client-side caching, default mode, RESP3): a client
//! that read a key is told when it changes, on any shard; OPTIN/OPTOUT
//! with CLIENT CACHING; the replies and errors of redis-server 7.0.

mod common;

use common::*;
use std::collections::HashMap;
use std::time::Duration;

fn resp3(port: u16) -> Raw {
    let mut c = Raw::connect(port);
    assert!(!c.call(&["HELLO", "3"]).is_error());
    c
}

/// The keys of an invalidation push (None: a flush's null).
fn invalidated(m: &Resp) -> Option<Option<Vec<String>>> {
    let Resp::Push(v) = m else { return None };
    if v.first() != Some(&Resp::bulk("invalidate")) {
        return None;
    }
    Some(match v.get(1) {
        Some(Resp::Array(keys)) => Some(
            keys.iter()
                .map(|k| match k {
                    Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect(),
        ),
        _ => None,
    })
}

/// Replies and pushes a tracking client gets, compared with redis-server:
/// the steps alternate between the tracking client and a writer.
#[test]
fn tracking_answers_as_redis_does() {
    if !redis_server_available("tracking differential test") {
        return;
    }
    let steps: &[(bool, &[&str])] = &[
        (true, &["CLIENT", "TRACKINGINFO"]),
        (true, &["CLIENT", "GETREDIR"]),
        (true, &["CLIENT", "CACHING", "YES"]),
        (true, &["CLIENT", "TRACKING", "MAYBE"]),
        (true, &["CLIENT", "TRACKING", "ON", "PREFIX", "a"]),
        (true, &["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"]),
        (true, &["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"]),
        (true, &["CLIENT", "TRACKING", "ON", "WHAT"]),
        (true, &["CLIENT", "TRACKING", "ON"]),
        (true, &["CLIENT", "GETREDIR"]),
        (true, &["CLIENT", "TRACKINGINFO"]),
        (true, &["CLIENT", "CACHING", "YES"]),
        (false, &["SET", "a", "1"]),
        (true, &["GET", "a"]),
        (false, &["SET", "a", "2"]),
        (true, &["PING"]),
        (false, &["SET", "a", "3"]),
        (true, &["PING"]),
        (true, &["GET", "a"]),
        (true, &["SET", "a", "4"]),
        (true, &["PING"]),
        (true, &["HSET", "h", "f", "v"]),
        (true, &["HGET", "h", "f"]),
        (false, &["HDEL", "h", "f"]),
        (true, &["PING"]),
        (true, &["CLIENT", "TRACKING", "OFF"]),
        (true, &["CLIENT", "TRACKING", "ON", "OPTIN"]),
        (true, &["CLIENT", "TRACKING", "ON", "OPTOUT"]),
        (true, &["CLIENT", "TRACKINGINFO"]),
        (true, &["CLIENT", "CACHING", "NO"]),
        (true, &["GET", "a"]),
        (false, &["SET", "a", "5"]),
        (true, &["PING"]),
        (true, &["CLIENT", "CACHING", "YES"]),
        (true, &["CLIENT", "CACHING", "MAYBE"]),
        (true, &["GET", "a"]),
        (false, &["SET", "a", "6"]),
        (true, &["PING"]),
        (true, &["CLIENT", "TRACKING", "OFF"]),
        (true, &["CLIENT", "TRACKING", "ON", "OPTIN"]),
        (true, &["CLIENT", "CACHING", "YES"]),
        (true, &["CLIENT", "TRACKINGINFO"]),
        (true, &["GET", "a"]),
        (true, &["GET", "b"]),
        (false, &["SET", "b", "1"]),
        (false, &["SET", "a", "7"]),
        (true, &["PING"]),
        (true, &["CLIENT", "CACHING", "YES"]),
        (true, &["MULTI"]),
        (true, &["GET", "a"]),
        (true, &["GET", "b"]),
        (true, &["EXEC"]),
        (false, &["DEL", "a", "b"]),
        (true, &["PING"]),
        (true, &["CLIENT", "TRACKING", "OFF"]),
        (true, &["CLIENT", "TRACKING", "ON"]),
        (true, &["GET", "a"]),
        (false, &["FLUSHALL"]),
        (true, &["PING"]),
        (true, &["CLIENT", "TRACKING", "ON", "BCAST"]),
        (true, &["CLIENT", "TRACKING", "OFF"]),
        (
            true,
            &[
                "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab",
            ],
        ),
        (
            true,
            &[
                "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:", "PREFIX", "b:",
            ],
        ),
        (true, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a"]),
        (true, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "c:"]),
        (true, &["CLIENT", "TRACKINGINFO"]),
        (
            false,
            &["MSET", "a:1", "1", "b:2", "2", "x", "3", "c:3", "4"],
        ),
        (true, &["PING"]),
        (true, &["SET", "a:own", "1"]),
        (true, &["PING"]),
        (true, &["CLIENT", "TRACKING", "OFF"]),
        (true, &["CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP"]),
        (true, &["SET", "mine", "1"]),
        (false, &["SET", "theirs", "1"]),
        (true, &["PING"]),
        (true, &["CLIENT", "TRACKINGINFO"]),
        (true, &["CLIENT", "TRACKING", "OFF"]),
        (true, &["CLIENT", "TRACKING", "ON", "NOLOOP"]),
        (true, &["MGET", "k1", "k2"]),
        (true, &["SET", "k1", "x"]),
        (false, &["SET", "k2", "y"]),
        (true, &["PING"]),
        (true, &["CLIENT", "TRACKING", "OFF"]),
        (true, &["CLIENT", "TRACKINGINFO"]),
        (false, &["SET", "a:9", "1"]),
        (true, &["PING"]),
        // Scripts: their declared keys are tracked if they read anything.
        (true, &["CLIENT", "TRACKING", "ON"]),
        (
            true,
            &[
                "EVAL",
                "redis.call('set', 'k3{t}', 'v')",
                "2",
                "k1{t}",
                "k2{t}",
            ],
        ),
        (false, &["MSET", "k2{t}", "1", "k1{t}", "1"]),
        (true, &["PING"]),
        (
            true,
            &["EVAL", "redis.call('get', 'k3{t}')", "2", "k1{t}", "k2{t}"],
        ),
        (false, &["MSET", "k2{t}", "2", "k1{t}", "2"]),
        (true, &["PING"]),
        (
            true,
            &["EVAL_RO", "redis.call('ping')", "2", "k1{t}", "k2{t}"],
        ),
        (false, &["MSET", "k2{t}", "3", "k1{t}", "3"]),
        (true, &["PING"]),
        (
            true,
            &[
                "EVAL_RO",
                "redis.call('get', 'k1{t}')",
                "2",
                "k1{t}",
                "k2{t}",
            ],
        ),
        (false, &["MSET", "k2{t}", "4", "k1{t}", "4"]),
        (true, &["PING"]),
        // A key written, then read, inside one EXEC is tracked from the
        // read on (Redis registers each read as it runs), so that write
        // does not invalidate it (it did: EXEC registered its reads
        // first); a later change does.
        (true, &["CLIENT", "TRACKING", "OFF"]),
        (true, &["CLIENT", "TRACKING", "ON"]),
        (true, &["MULTI"]),
        (true, &["SET", "wr{t}", "1"]),
        (true, &["GET", "wr{t}"]),
        (true, &["GET", "rd{t}"]),
        (true, &["SET", "rd{t}", "1"]),
        (true, &["EXEC"]),
        (true, &["PING"]),
        (false, &["SET", "wr{t}", "2"]),
        (true, &["PING"]),
    ];
    let run = |port: u16| -> Vec<Resp> {
        let mut t = resp3(port);
        let mut w = Raw::connect(port);
        let mut got = Vec::new();
        for (tracker, step) in steps {
            if *tracker {
                t.cmd(&step.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
                // A reply, after any pushes that came before it.
                loop {
                    let m = t.read();
                    let push = matches!(m, Resp::Push(_));
                    got.push(m);
                    if !push {
                        break;
                    }
                }
            } else {
                let _ = w.call(step);
            }
        }
        got
    };
    let redis = RedisServer::start(&[]);
    let want = run(redis.port);
    // One reactor: over several, a change spanning shards reaches a BCAST
    // client as one message per shard, in no fixed order.
    for threads in [1] {
        let s = Server::start(threads);
        let got = run(s.port);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "threads {threads}, message {i}");
        }
        assert_eq!(got.len(), want.len(), "threads {threads}");
    }
}

/// The property client-side caching rests on: once writes stop and the
/// invalidations have arrived, nothing the client kept is stale. Readers
/// cache what they read while writers change the same keys on every
/// shard.
#[test]
fn a_cache_kept_by_invalidations_is_never_stale() {
    let s = Server::start(4);
    let keys: Vec<String> = (0..32).map(|i| format!("key:{i}")).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Writers change the first half of the keys; the other half stays
    // cached whatever the machine's load, so the check below is never
    // vacuous.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (port, keys, stop) = (s.port, keys[..16].to_vec(), stop.clone());
            std::thread::spawn(move || {
                let mut c = Raw::connect(port);
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let k = &keys[(n as usize * 7 + w) % keys.len()];
                    let v = format!("{w}-{n}");
                    if n.is_multiple_of(5) {
                        let k2 = &keys[(n as usize * 3 + 1) % keys.len()];
                        c.call(&["MSET", k, &v, k2, &v]);
                    } else if n.is_multiple_of(7) {
                        c.call(&["DEL", k]);
                    } else {
                        c.call(&["SET", k, &v]);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let mut readers = Vec::new();
    for r in 0..3 {
        let (port, keys) = (s.port, keys.clone());
        readers.push(std::thread::spawn(move || {
            let mut c = resp3(port);
            assert_eq!(c.call(&["CLIENT", "TRACKING", "ON"]), Resp::simple("OK"));
            let mut cache: HashMap<String, Resp> = HashMap::new();
            let apply = |m: Resp, cache: &mut HashMap<String, Resp>| -> Option<Resp> {
                match invalidated(&m) {
                    Some(Some(ks)) => {
                        for k in ks {
                            cache.remove(&k);
                        }
                        None
                    }
                    Some(None) => {
                        cache.clear();
                        None
                    }
                    None => Some(m),
                }
            };
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            let mut i = r;
            while std::time::Instant::now() < deadline {
                let k = &keys[i % keys.len()];
                i += 5;
                if cache.contains_key(k) {
                    continue;
                }
                if i % 3 == 0 {
                    let k2 = &keys[(i + 11) % keys.len()];
                    c.cmd(&[b"MGET", k.as_bytes(), k2.as_bytes()]);
                    let reply = loop {
                        if let Some(m) = apply(c.read(), &mut cache) {
                            break m;
                        }
                    };
                    if let Resp::Array(v) = reply {
                        cache.insert(k.clone(), v[0].clone());
                        cache.insert(k2.clone(), v[1].clone());
                    }
                } else {
                    c.cmd(&[b"GET", k.as_bytes()]);
                    let reply = loop {
                        if let Some(m) = apply(c.read(), &mut cache) {
                            break m;
                        }
                    };
                    cache.insert(k.clone(), reply);
                }
            }
            (c, cache)
        }));
    }
    let readers: Vec<_> = readers.into_iter().map(|h| h.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let mut check = s.raw();
    let mut kept = 0;
    for (mut c, mut cache) in readers {
        // Every invalidation raised by the last writes is on its way: a
        // round trip through each shard (a read of every key) comes after.
        std::thread::sleep(Duration::from_millis(100));
        c.cmd(&[b"PING"]);
        loop {
            let m = c.read();
            match invalidated(&m) {
                Some(Some(ks)) => ks.iter().for_each(|k| {
                    cache.remove(k);
                }),
                Some(None) => cache.clear(),
                None => break,
            }
        }
        for (k, v) in &cache {
            let now = match check.call(&["GET", k]) {
                Resp::NilBulk => Resp::Null,
                other => other,
            };
            assert_eq!(&now, v, "{k} is stale in a client's cache");
            kept += 1;
        }
    }
    assert!(kept > 0, "nothing stayed cached: the test proves nothing");
}

/// REDIRECT: a RESP2 client subscribed to `__redis__:invalidate` gets the
/// invalidations of another client's reads, from any shard; with the
/// target gone, a RESP3 tracker is told its redirection is broken.
#[test]
fn invalidations_can_be_redirected() {
    let s = Server::start(4);
    let mut target = s.raw();
    let Resp::Int(target_id) = target.call(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID");
    };
    target.cmd(&[b"SUBSCRIBE", b"__redis__:invalidate"]);
    let _ = target.read();
    let mut t = Raw::connect(s.port);
    assert_eq!(
        t.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"]),
        Resp::Error("ERR The client ID you want redirect to does not exist".into())
    );
    let id = target_id.to_string();
    assert_eq!(
        t.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]),
        Resp::simple("OK")
    );
    assert_eq!(t.call(&["CLIENT", "GETREDIR"]), Resp::Int(target_id));
    let keys: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    for k in &keys {
        t.call(&["GET", k]);
    }
    let mut w = s.raw();
    for k in &keys {
        assert_eq!(w.call(&["SET", k, "1"]), Resp::simple("OK"));
    }
    target.set_timeout(Duration::from_secs(5));
    let mut got: Vec<String> = (0..keys.len())
        .map(|_| match target.read() {
            Resp::Array(v) => {
                assert_eq!(v[0], Resp::bulk("message"));
                assert_eq!(v[1], Resp::bulk("__redis__:invalidate"));
                match &v[2] {
                    Resp::Array(ks) => match &ks[0] {
                        Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                        other => panic!("{other:?}"),
                    },
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(got, keys);
    // The target leaves: a RESP3 tracker hears its redirection broke.
    let mut t3 = resp3(s.port);
    assert_eq!(
        t3.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]),
        Resp::simple("OK")
    );
    t3.call(&["GET", "r0"]);
    drop(target);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(w.call(&["SET", "r0", "2"]), Resp::simple("OK"));
    t3.set_timeout(Duration::from_secs(5));
    assert_eq!(
        t3.read(),
        Resp::Push(vec![
            Resp::bulk("tracking-redir-broken"),
            Resp::Int(target_id)
        ])
    );
}

/// tracking-table-max-keys bounds what the server remembers: keys read
/// past it are forgotten and their readers told (each key exactly once,
/// whether by eviction or by its later change).
#[test]
fn the_tracking_table_is_bounded() {
    let s = Server::start(1);
    let mut c = resp3(s.port);
    assert_eq!(
        c.call(&["CONFIG", "SET", "tracking-table-max-keys", "4"]),
        Resp::simple("OK")
    );
    assert_eq!(c.call(&["CLIENT", "TRACKING", "ON"]), Resp::simple("OK"));
    let keys: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let mut told: Vec<String> = Vec::new();
    let drain = |c: &mut Raw, told: &mut Vec<String>| loop {
        let m = c.read();
        match invalidated(&m) {
            Some(Some(ks)) => told.extend(ks),
            Some(None) => panic!("no flush here"),
            None => return m,
        }
    };
    for k in &keys {
        c.cmd(&[b"GET", k.as_bytes()]);
        assert_eq!(drain(&mut c, &mut told), Resp::Null);
    }
    c.cmd(&[b"PING"]);
    drain(&mut c, &mut told);
    assert_eq!(told.len(), 6, "evicted past the limit: {told:?}");
    let mut w = s.raw();
    for k in &keys {
        assert_eq!(w.call(&["SET", k, "v"]), Resp::simple("OK"));
    }
    c.cmd(&[b"PING"]);
    drain(&mut c, &mut told);
    told.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(told, want);
}

/// Tracking turned on inside MULTI tracks from the next read on, on a
/// server where no client had tracking before (it used to be noticed only
/// once some other command had been seen to turn it on); RESET turns it
/// off, as in Redis.
#[test]
fn tracking_from_multi_and_off_after_reset() {
    let s = Server::start(1);
    let mut writer = s.raw();
    let mut c = resp3(s.port);
    for cmd in [&["MULTI"][..], &["CLIENT", "TRACKING", "ON"]] {
        assert!(!c.call(cmd).is_error(), "{cmd:?}");
    }
    assert_eq!(c.call(&["EXEC"]), Resp::Array(vec![Resp::simple("OK")]));
    assert_eq!(c.call(&["GET", "k"]), Resp::Null);
    assert_eq!(writer.call(&["SET", "k", "1"]), Resp::simple("OK"));
    assert_eq!(invalidated(&c.read()), Some(Some(vec!["k".to_string()])));

    assert_eq!(c.call(&["RESET"]), Resp::simple("RESET"));
    let info = c.call(&["CLIENT", "TRACKINGINFO"]);
    let Resp::Array(fields) = info else {
        panic!("{info:?}")
    };
    assert_eq!(fields[1], Resp::Array(vec![Resp::bulk("off")]));
    assert!(!c.call(&["HELLO", "3"]).is_error());
    assert_eq!(c.call(&["GET", "k"]), Resp::bulk("1"));
    assert_eq!(writer.call(&["SET", "k", "2"]), Resp::simple("OK"));
    c.assert_silent(Duration::from_millis(200));
}

/// INFO counts what tracking holds (tracking_clients was a constant 0,
/// the tracking_total_* fields were missing), over every shard; a limit
/// lowered while nothing is read is enforced on the reactors' tick, and
/// split so that the shards keep exactly the limit between them (each
/// kept its rounded-up share: 1 over two shards kept two keys); a
/// redirect target that is gone shows as broken_redirect.
#[test]
fn tracking_counts_limits_and_broken_redirects() {
    let s = Server::start(2);
    let mut c = resp3(s.port);
    let field = |c: &mut Raw, section: &str, name: &str| -> String {
        let Resp::Verbatim(_, text) = c.call(&["INFO", section]) else {
            panic!("INFO {section}")
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert_eq!(c.call(&["CLIENT", "TRACKING", "ON"]), Resp::simple("OK"));
    let keys: Vec<String> = (0..20).map(|i| format!("key{i}")).collect();
    for k in &keys {
        assert_eq!(c.call(&["GET", k]), Resp::Null);
    }
    let mut b = resp3(s.port);
    assert_eq!(
        b.call(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "p:", "PREFIX", "q:"]),
        Resp::simple("OK")
    );
    assert_eq!(field(&mut c, "clients", "tracking_clients"), "2");
    assert_eq!(field(&mut c, "stats", "tracking_total_keys"), "20");
    assert_eq!(field(&mut c, "stats", "tracking_total_items"), "20");
    assert_eq!(field(&mut c, "stats", "tracking_total_prefixes"), "2");
    assert_eq!(field(&mut c, "memory", "mem_not_counted_for_evict"), "0");

    assert_eq!(
        c.call(&["CONFIG", "SET", "tracking-table-max-keys", "1"]),
        Resp::simple("OK")
    );
    std::thread::sleep(Duration::from_millis(400));
    let mut told = 0;
    c.cmd(&[b"PING"]);
    let pong = loop {
        let m = c.read();
        match invalidated(&m) {
            Some(Some(ks)) => told += ks.len(),
            Some(None) => panic!("no flush here"),
            None => break m,
        }
    };
    assert_eq!(pong, Resp::simple("PONG"));
    assert_eq!(told, 19, "one key kept in all");
    assert_eq!(field(&mut c, "stats", "tracking_total_keys"), "1");
    assert_eq!(
        c.call(&["CONFIG", "SET", "tracking-table-max-keys", "0"]),
        Resp::simple("OK")
    );

    let mut r = Raw::connect(s.port);
    let Resp::Int(rid) = r.call(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    let mut t = resp3(s.port);
    let rid = rid.to_string();
    assert_eq!(
        t.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", &rid]),
        Resp::simple("OK")
    );
    assert_eq!(t.call(&["GET", "gone"]), Resp::Null);
    drop(r);
    std::thread::sleep(Duration::from_millis(100));
    let mut w = Raw::connect(s.port);
    assert_eq!(w.call(&["SET", "gone", "1"]), Resp::simple("OK"));
    let broken = t.read();
    assert!(
        matches!(&broken, Resp::Push(v) if v.first() == Some(&Resp::bulk("tracking-redir-broken"))),
        "{broken:?}"
    );
    let Resp::Map(info) = t.call(&["CLIENT", "TRACKINGINFO"]) else {
        panic!("TRACKINGINFO")
    };
    assert_eq!(
        info[0].1,
        Resp::Set(vec![Resp::bulk("on"), Resp::bulk("broken_redirect")])
    );
}

/// The invalidation of a key a tracking client's own write changed comes
/// after that write's reply, as on Redis 7.0 (which holds a client's own
/// invalidations until its command has answered, so that they never cut
/// into a reply), whichever shard the key lives on.
#[test]
fn the_invalidation_of_a_clients_own_write_follows_its_reply() {
    let srv = Server::start(2);
    let mut c = resp3(srv.port);
    assert_eq!(c.call(&["CLIENT", "TRACKING", "on"]), Resp::simple("OK"));
    for shard in 0..2 {
        let k = key_on_shard("ownwrite:", shard, 2);
        assert_eq!(c.call(&["SET", &k, "1"]), Resp::simple("OK"));
        assert_eq!(c.call(&["GET", &k]), Resp::bulk("1"));
        c.cmd(&[b"SET", k.as_bytes(), b"2"]);
        assert_eq!(c.read(), Resp::simple("OK"), "shard {shard}");
        let then = c.read();
        assert_eq!(
            invalidated(&then),
            Some(Some(vec![k.clone()])),
            "shard {shard}: {then:?}"
        );
    }
}

/// Over maxmemory, the keys evicted to make room for a command are gone,
/// and a tracking client told so, before its reply, as on Redis (Redis's
/// unit/tracking "Tracking invalidation message of eviction keys should be
/// before response"), also when the only evictable key lives on another
/// shard than the client's: the command waits for that shard to evict. It
/// used to run at once while the other shard evicted on its next turn, so
/// the reply came first. Both placements of the two keys, so whichever
/// reactor the client is on, one round has the volatile key elsewhere.
#[test]
fn keys_evicted_for_a_command_are_invalidated_before_its_reply() {
    let srv = Server::start(2);
    let mut con = srv.conn();
    let mut c = resp3(srv.port);
    assert_eq!(c.call(&["CLIENT", "TRACKING", "on"]), Resp::simple("OK"));
    for volatile_shard in 0..2 {
        let vk = key_on_shard("evictme:", volatile_shard, 2);
        let big = key_on_shard("bigkey:", 1 - volatile_shard, 2);
        let used: u64 = info_field(&mut con, "memory", "used_memory")
            .and_then(|v| v.parse().ok())
            .expect("used_memory");
        let limit = (used + 100 * 1024).to_string();
        let set = c.call(&["CONFIG", "SET", "maxmemory", &limit]);
        assert_eq!(set, Resp::simple("OK"), "maxmemory {limit}: {set:?}");
        assert_eq!(
            c.call(&["CONFIG", "SET", "maxmemory-policy", "volatile-random"]),
            Resp::simple("OK")
        );
        assert_eq!(c.call(&["SETEX", &vk, "10000", "x"]), Resp::simple("OK"));
        assert_eq!(c.call(&["GET", &vk]), Resp::bulk("x"));
        // ~200 KB: over the limit from the next command on.
        assert_eq!(c.call(&["SETBIT", &big, "1600000", "0"]), Resp::Int(0));
        c.cmd(&[b"GETBIT", big.as_bytes(), b"0"]);
        let first = c.read();
        assert_eq!(
            invalidated(&first),
            Some(Some(vec![vk.clone()])),
            "volatile key on shard {volatile_shard}: {first:?}"
        );
        assert_eq!(c.read(), Resp::Int(0));
        assert_eq!(
            c.call(&["CONFIG", "SET", "maxmemory", "0"]),
            Resp::simple("OK")
        );
        assert_eq!(c.call(&["DEL", &big]), Resp::Int(1));
        // GETBIT tracked it: its own DEL's invalidation follows the reply.
        let then = c.read();
        assert_eq!(invalidated(&then), Some(Some(vec![big.clone()])));
    }
}

/// tracking-table-max-keys is the whole server's, as Redis's: two keys of
/// one hash tag stay tracked under a limit of 2 at --threads 2 (a share
/// per shard trimmed one of them at once), and setting the limit lower
/// trims the table before the next command, its invalidation ahead of that
/// command's reply (Redis's unit/tracking "Regression test for #11715").
#[test]
fn the_tracking_table_limit_is_the_whole_servers() {
    let srv = Server::start(2);
    let mut admin = srv.raw();
    assert_eq!(
        admin.call(&["CONFIG", "SET", "tracking-table-max-keys", "2"]),
        Resp::simple("OK")
    );
    let mut c = resp3(srv.port);
    assert_eq!(c.call(&["CLIENT", "TRACKING", "on"]), Resp::simple("OK"));
    let Resp::Array(got) = c.call(&["MGET", "1{tag}", "2{tag}"]) else {
        panic!("MGET")
    };
    assert_eq!(got.len(), 2);
    assert_eq!(c.call(&["PING"]), Resp::simple("PONG"), "nothing evicted");
    assert_eq!(
        admin.call(&["CONFIG", "SET", "tracking-table-max-keys", "1"]),
        Resp::simple("OK")
    );
    c.cmd(&[b"PING"]);
    let first = c.read();
    let keys = invalidated(&first).flatten().unwrap_or_default();
    assert!(
        keys.len() == 1 && keys[0].ends_with("{tag}"),
        "one key evicted before the reply: {first:?}"
    );
    assert_eq!(c.read(), Resp::simple("PONG"));
    assert_eq!(
        admin.call(&["CONFIG", "SET", "tracking-table-max-keys", "0"]),
        Resp::simple("OK")
    );
}
