//! Lua scripting: EVAL/EVALSHA/EVAL_RO and SCRIPT at --threads 1 and 4,
//! replies checked against a real redis-server script by script (errors
//! included), the sandbox, the script cache shared by every reactor,
//! scripts over keys on several shards staying atomic, WATCH and blocked
//! clients seeing a script's writes, and busy scripts being stopped.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Scripts and their arguments whose replies must equal Redis 7.0's,
/// byte for byte, over RESP2 and RESP3. Keys carry one hash tag so a
/// script's keys share a shard (as Redis Cluster requires too).
const CASES: &[&[&str]] = &[
    &["return 1", "0"],
    &["return 3.99", "0"],
    &["return -2.5", "0"],
    &["return 'str'", "0"],
    &["return true", "0"],
    &["return false", "0"],
    &["return nil", "0"],
    &["return {1, 2, {3, 'x'}, false, 'after'}", "0"],
    &["return {1, nil, 3}", "0"],
    &["return {ok='FINE'}", "0"],
    &["return {err='MYERR custom'}", "0"],
    &["return redis.status_reply('DONE')", "0"],
    &["return redis.error_reply('My Error')", "0"],
    &["return redis.error_reply('-WRONG one')", "0"],
    &["return redis.error_reply('single')", "0"],
    &["return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", "2", "{t}a", "{t}b", "x", "y"],
    &["return #ARGV", "0", "a", "b", "c"],
    &["return redis.call('set', KEYS[1], ARGV[1])", "1", "{t}k", "v1"],
    &["return redis.call('get', KEYS[1])", "1", "{t}k"],
    &["return redis.call('get', KEYS[1])", "1", "{t}missing"],
    &["return redis.call('incr', KEYS[1])", "1", "{t}k"],
    &["return redis.pcall('incr', KEYS[1])", "1", "{t}k"],
    &["local ok, e = pcall(redis.call, 'incr', KEYS[1]) return {tostring(ok), e}", "1", "{t}k"],
    &["redis.call('rpush', KEYS[1], 'a', 'b', 'c') return redis.call('lrange', KEYS[1], 0, -1)", "1", "{t}l"],
    &["return redis.call('hset', KEYS[1], 'f', 1, 'g', 2.5)", "1", "{t}h"],
    &["return redis.call('hgetall', KEYS[1])", "1", "{t}h"],
    &["return redis.call('zadd', KEYS[1], 1.5, 'm')", "1", "{t}z"],
    &["return redis.call('zscore', KEYS[1], 'm')", "1", "{t}z"],
    &["return redis.call('zrange', KEYS[1], 0, -1, 'withscores')", "1", "{t}z"],
    &["redis.setresp(3) return redis.call('hgetall', KEYS[1])", "1", "{t}h"],
    &["redis.setresp(3) return redis.call('zscore', KEYS[1], 'm')", "1", "{t}z"],
    &["redis.setresp(3) return redis.call('get', KEYS[1])", "1", "{t}missing"],
    &["return redis.call('type', KEYS[1])", "1", "{t}h"],
    &["return redis.call('lpop', KEYS[1], 10)", "1", "{t}nolist"],
    &["return redis.call('blpop', KEYS[1], 0)", "1", "{t}nolist"],
    &["return redis.call('exists', KEYS[1], KEYS[2])", "2", "{t}k", "{t}l"],
    &["redis.call('select', 3) redis.call('set', KEYS[1], 'in3') return redis.call('get', KEYS[1])", "1", "{t}s"],
    &["return redis.call('get', KEYS[1])", "1", "{t}s"],
    &["redis.call('sadd', KEYS[1], 'b', 'azz', 'a', 'c', 'aa', 'z', 'y') return redis.call('sort', KEYS[1], 'by', 'nokey')", "1", "{t}set"],
    &["return redis.call('ping')", "0"],
    &["return redis.call('publish', 'nobody-listens', 'm')", "0"],
    &["return redis.call('echo', 'hi')", "0"],
    &["return redis.call('nosuchcommand')", "0"],
    &["return redis.call('get')", "0"],
    &["return redis.call()", "0"],
    &["return redis.call('get', {})", "0"],
    &["return redis.call('eval', 'return 1', 0)", "0"],
    &["return redis.call('multi')", "0"],
    &["return x", "0"],
    &["x = 1", "0"],
    &["print('no')", "0"],
    &["return loadfile", "0"],
    &["string.foo = 1", "0"],
    &["redis.call = nil", "0"],
    &["setmetatable(_G, {})", "0"],
    &["local g = getmetatable(_G) g.__index = {}", "0"],
    &["_G = {}", "0"],
    &["local t = setmetatable({}, {__index = function() return 5 end}) return t.x", "0"],
    &["return nosuch()", "0"],
    &["error('plain')", "0"],
    &["error({err='TABLE error'})", "0"],
    &["retur 1", "0"],
    &["return redis.sha1hex('abc')", "0"],
    &["return redis.sha1hex()", "0"],
    &["cjson.encode_keep_buffer(false) cjson.encode_max_depth(10) return cjson.encode({1, 'a'})", "0"],
    &["return tostring(math.floor(7.9)) .. string.upper('x') .. table.concat({1, 2}, ',')", "0"],
    &["return redis.setresp(4)", "0"],
    &["#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 1)", "1", "{t}k"],
    &["#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", "1", "{t}k"],
    &["#!lua flags=bogus\nreturn 1", "0"],
    &["#!python\nreturn 1", "0"],
    &["return cjson.encode({1, 2, 'a/b\"c', {x = 1.5}, true, false})", "0"],
    &["return cjson.encode({})", "0"],
    &["return cjson.encode({[1] = 1, [3] = 3})", "0"],
    &["return cjson.encode({[1] = 1, [100] = 3})", "0"],
    &["return cjson.encode({0.1, 1e20, -0.0001, 123456789012345, 1/3})", "0"],
    &[r"return cjson.encode('\1\127\n\t')", "0"],
    &["return cjson.encode(cjson.decode('[1,{\"a\":null},\"s\"]'))", "0"],
    &["local t = cjson.decode('{\"a\":[1,2,3],\"b\":{\"c\":\"d\"}}') return {t.a[3], t.b.c}", "0"],
    &["local ok, e = pcall(cjson.encode, {[1] = 1, [100] = 3}) return {tostring(ok), e}", "0"],
    &["cjson.encode = nil", "0"],
    &["return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}", "0"],
    &["return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-16, 2), bit.rol(1, 33)}", "0"],
    &["return {bit.tobit(4294967297), bit.tohex(255), bit.tohex(-1, -4), bit.bswap(1)}", "0"],
    &["return bit.band()", "0"],
    &["local e = cmsgpack.pack(0.1, -1099511627776, 1.5, 300, -200, 70000, true, false, 'short', string.rep('x', 40), {1, 2, 3}, {a = 1}) local h = '' for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end return h", "0"],
    &["local a = {x = nil, y = 5} local b = {x = a} a['x'] = b local e = cmsgpack.pack(a) local h = '' for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end return h", "0"],
    &["local t = cmsgpack.unpack(cmsgpack.pack({1, 'two', {3, {4}}, {k = 'v'}})) return {t[1], t[2], t[3][1], t[3][2][1], t[4].k}", "0"],
    &["local off, v = cmsgpack.unpack_one(cmsgpack.pack('a', 'b'), 0) local off2, w = cmsgpack.unpack_one(cmsgpack.pack('a', 'b'), off) return {off, v, off2, w}", "0"],
    &["return {cmsgpack.unpack(cmsgpack.pack(1, 2, 3))}", "0"],
    &["return cmsgpack.unpack('\\x91')", "0"],
    &["return cmsgpack.pack()", "0"],
    &["return 1", "-1"],
    &["return 1", "2", "a"],
    &["return 1", "x"],
    // struct (lua-struct, as Redis vendors it).
    &["return struct.pack('>I', 1)", "0"],
    &["return struct.pack('bBhHlLT', -1, 255, -300, 65535, -5, 7, 9)", "0"],
    &["return struct.pack('>i10', -1)", "0"],
    &["return struct.pack('i33', 1)", "0"],
    &["return struct.pack('i99999999999', 1)", "0"],
    &["return struct.pack('!4 b i', 1, 2)", "0"],
    &["return struct.pack('!3 b i', 1, 2)", "0"],
    &["return struct.pack('c3c0s', 'abcdef', 'xy', 'hi')", "0"],
    &["return struct.pack('c9', 'abc')", "0"],
    &["return struct.pack('>fd', 1.5, -0.25)", "0"],
    &["return struct.pack('z', 1)", "0"],
    &["return struct.pack('i', 'abc')", "0"],
    &["return struct.pack('ii', 1)", "0"],
    &["return struct.pack()", "0"],
    &["return {struct.unpack('>i10', struct.pack('>i10', -1))}", "0"],
    &["return {struct.unpack('bBhH', struct.pack('bBhH', -1, 255, -300, 65535))}", "0"],
    &["return {struct.unpack('s', 'abc\\0def')}", "0"],
    &["return {struct.unpack('s', 'abc')}", "0"],
    &["return {struct.unpack('Bc0', '\\3abcde')}", "0"],
    &["return {struct.unpack('c0', 'abc')}", "0"],
    &["return {struct.unpack('i', 'abcdefgh', 5)}", "0"],
    &["return {struct.unpack('i', 'abcdefgh', 6)}", "0"],
    &["return {struct.unpack('i', 'abcd', 0)}", "0"],
    &["return {struct.unpack('i', 'abcd', -1)}", "0"],
    &["return {struct.unpack('!8 bd', struct.pack('!8 bd', 1, 2))}", "0"],
    &["return tostring(struct.unpack('f', struct.pack('f', 0.1)))", "0"],
    &["return {struct.unpack('i')}", "0"],
    &["return {struct.size('!8 b d'), struct.size('bhlTfdc5i3'), struct.size('z')}", "0"],
    &["return struct.size('s')", "0"],
    &["return struct.size('c0')", "0"],
    &["return struct.size('!5')", "0"],
    &["struct.x = 1", "0"],
    &["return loadstring('return 1 + 2')()", "0"],
    &["local f, e = loadstring('return +'); return {tostring(f), e}", "0"],
    &["local f, e = loadstring(string.dump(function() return 1 end)); return {tostring(f), e}", "0"],
    &["local f, e = loadstring(string.dump(function() end), 'named'); return e", "0"],
    &["return loadstring(string.dump(function() return 1 end))()", "0"],
];

/// Send `steps` to halocline (--threads 1 and 4) and to a redis-server
/// 7.0, over RESP2 and then RESP3: every reply must be identical.
fn same_as_redis(what: &str, steps: &[Vec<String>]) {
    if !redis_server_available(what) {
        return;
    }
    let redis = RedisServer::start(&[]);
    for threads in THREADS {
        let s = Server::start(threads);
        for resp3 in [false, true] {
            let mut ours = Raw::connect(s.port);
            let mut theirs = Raw::connect(redis.port);
            if resp3 {
                for r in [&mut ours, &mut theirs] {
                    assert!(!r.call(&["HELLO", "3"]).is_error());
                }
            }
            for step in steps {
                let a: Vec<&str> = step.iter().map(String::as_str).collect();
                let want = theirs.call(&a);
                let got = ours.call(&a);
                assert_eq!(got, want, "threads {threads} resp3 {resp3}: {step:?}");
            }
        }
    }
}

#[test]
fn scripts_answer_as_redis_does() {
    let mut steps = vec![vec!["FLUSHALL".to_string()]];
    for case in CASES {
        let mut v = vec!["EVAL".to_string()];
        v.extend(case.iter().map(|s| s.to_string()));
        steps.push(v);
    }
    same_as_redis("scripting differential test", &steps);
}

/// FUNCTION LIST's flags are a set of status replies in Redis's order,
/// each once (they were bulk strings, in declaration order).
#[test]
fn function_list_flags_as_redis() {
    let load = "#!lua name=flagged\nredis.register_function{function_name='f', callback=function() return 1 end, flags={'allow-stale', 'no-writes', 'allow-stale'}}";
    let steps: Vec<Vec<String>> = [
        vec!["FUNCTION", "FLUSH"],
        vec!["FUNCTION", "LOAD", load],
        vec!["FUNCTION", "LIST"],
        vec!["FUNCTION", "FLUSH"],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect())
    .collect();
    same_as_redis("FUNCTION LIST flags", &steps);
}

#[test]
fn the_script_cache_is_shared_by_every_connection() {
    for threads in THREADS {
        let s = Server::start(threads);
        let mut c = s.conn();
        let sha = bulk(&mut c, &["SCRIPT", "LOAD", "return ARGV[1] .. '!'"]).unwrap();
        assert_eq!(sha.len(), 40);
        // Every reactor finds it, by any case of its digest.
        for _ in 0..8 {
            let mut other = s.conn();
            assert_eq!(
                bulk(&mut other, &["EVALSHA", &sha, "0", "hi"]).as_deref(),
                Some("hi!")
            );
            assert_eq!(
                bulk(&mut other, &["EVALSHA", &sha.to_uppercase(), "0", "yo"]).as_deref(),
                Some("yo!")
            );
        }
        // EVAL caches its body too.
        assert_eq!(int(&mut c, &["EVAL", "return 7", "0"]), 7);
        let by_eval = q(
            &mut c,
            &[
                "SCRIPT",
                "EXISTS",
                &sha,
                "0000000000000000000000000000000000000000",
                "x",
            ],
        );
        assert_eq!(
            by_eval,
            redis::Value::Array(vec![
                redis::Value::Int(1),
                redis::Value::Int(0),
                redis::Value::Int(0)
            ])
        );
        assert!(err(&mut c, &["EVALSHA", "ffff", "0"]).starts_with("NOSCRIPT"));
        ok(&mut c, &["SCRIPT", "FLUSH"]);
        for _ in 0..4 {
            let mut other = s.conn();
            assert_eq!(
                err(&mut other, &["EVALSHA", &sha, "0", "x"]),
                "NOSCRIPT No matching script. Please use EVAL."
            );
        }
        assert!(err(&mut c, &["SCRIPT", "FLUSH", "sometimes"]).contains("SYNC|ASYNC"));
        assert!(err(&mut c, &["SCRIPT", "LOAD", "return +"])
            .starts_with("ERR Error compiling script (new function): user_script:1:"));
        assert!(err(&mut c, &["SCRIPT", "NOPE"]).contains("unknown subcommand"));
        assert_eq!(
            err(&mut c, &["SCRIPT", "KILL"]),
            "NOTBUSY No scripts in execution right now."
        );
    }
}

#[test]
fn eval_ro_refuses_writes() {
    for threads in THREADS {
        let s = Server::start(threads);
        let mut c = s.conn();
        ok(&mut c, &["SET", "k", "1"]);
        assert_eq!(
            bulk(
                &mut c,
                &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"]
            )
            .as_deref(),
            Some("1")
        );
        let e = err(
            &mut c,
            &["EVAL_RO", "return redis.call('set', KEYS[1], 2)", "1", "k"],
        );
        assert!(
            e.starts_with("ERR Write commands are not allowed from read-only scripts."),
            "{e}"
        );
        let e = err(
            &mut c,
            &["EVAL_RO", "return redis.call('publish', 'ch', 'm')", "0"],
        );
        assert!(
            e.starts_with("ERR Write commands are not allowed from read-only scripts."),
            "{e}"
        );
        assert_eq!(bulk(&mut c, &["GET", "k"]).as_deref(), Some("1"));
    }
}

/// Keys spread over every shard: each script INCRs all of them while
/// readers check, with MGET and with a script of their own, that they are
/// always equal. A script is one atomic step wherever its keys live.
#[test]
fn scripts_over_keys_on_several_shards_are_atomic() {
    let s = Server::start(4);
    let keys: Vec<String> = (0..8).map(|i| format!("spread:{i}")).collect();
    let incr_all = "for _, k in ipairs(KEYS) do redis.call('incr', k) end return #KEYS";
    let read_all =
        "local v = {} for i, k in ipairs(KEYS) do v[i] = redis.call('get', k) or '0' end return v";
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..3 {
        let port = s.port;
        let keys = keys.clone();
        writers.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .unwrap();
            let mut args = vec![incr_all.to_string(), keys.len().to_string()];
            args.extend(keys.iter().cloned());
            for _ in 0..300 {
                let mut a = vec!["EVAL".to_string()];
                a.extend(args.iter().cloned());
                assert_eq!(int(&mut c, &a), 8);
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..2 {
        let port = s.port;
        let keys = keys.clone();
        let stop = stop.clone();
        readers.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .unwrap();
            let mut checks = 0;
            while !stop.load(Ordering::Relaxed) {
                let got = if r == 0 {
                    let mut a = vec!["MGET".to_string()];
                    a.extend(keys.iter().cloned());
                    strs(&q(&mut c, &a))
                } else {
                    let mut a = vec!["EVAL".to_string(), read_all.to_string(), "8".to_string()];
                    a.extend(keys.iter().cloned());
                    strs(&q(&mut c, &a))
                };
                let first = got[0].clone().unwrap_or_else(|| "0".into());
                for v in &got {
                    assert_eq!(
                        v.clone().unwrap_or_else(|| "0".into()),
                        first,
                        "torn: {got:?}"
                    );
                }
                checks += 1;
            }
            checks
        }));
    }
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 10);
    }
    let mut c = s.conn();
    for k in &keys {
        assert_eq!(bulk(&mut c, &["GET", k]).as_deref(), Some("900"));
    }
}

/// Keys a script builds itself, on any shard: read and written
/// atomically (a script meeting one runs again as a transaction that
/// takes it), at --threads 1 and 4.
#[test]
fn undeclared_keys_work_on_any_shard() {
    for threads in THREADS {
        let s = Server::start(threads);
        let mut c = s.conn();
        for i in 0..20 {
            ok(&mut c, &["SET", &format!("und:{i}"), &format!("v{i}")]);
        }
        for i in 0..20 {
            assert_eq!(
                bulk(
                    &mut c,
                    &[
                        "EVAL",
                        "return redis.call('get', ARGV[1])",
                        "0",
                        &format!("und:{i}")
                    ]
                ),
                Some(format!("v{i}"))
            );
        }
        // Writers and a reader of eight undeclared keys spread over the
        // shards: every read sees them all equal.
        let incr_all = "for i = 1, 8 do redis.call('incr', 'roam:' .. i) end return 1";
        let read_all = "local v = {} for i = 1, 8 do v[i] = redis.call('get', 'roam:' .. i) or '0' end return v";
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let port = s.port;
                std::thread::spawn(move || {
                    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                        .unwrap()
                        .get_connection()
                        .unwrap();
                    for _ in 0..150 {
                        assert_eq!(int(&mut c, &["EVAL", incr_all, "0"]), 1);
                    }
                })
            })
            .collect();
        let reader = {
            let port = s.port;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                // At least one read, even if the writers finish before
                // this thread gets going (a busy 2-core CI machine).
                let mut n = 0;
                loop {
                    let got = strs(&q(&mut c, &["EVAL", read_all, "0"]));
                    assert!(got.iter().all(|v| *v == got[0]), "torn: {got:?}");
                    n += 1;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                n
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        let mut all = vec!["MGET".to_string()];
        all.extend((1..=8).map(|i| format!("roam:{i}")));
        assert!(strs(&q(&mut c, &all))
            .iter()
            .all(|v| v.as_deref() == Some("300")));
        // Writing, then meeting an undeclared key of another shard: the
        // writes are put back and the script starts over as a
        // transaction; each runs once (the counter proves it).
        let body = "redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], ARGV[1]) return redis.call('incr', 'other:' .. ARGV[1])";
        for i in 0..20 {
            let arg = i.to_string();
            assert_eq!(int(&mut c, &["EVAL", body, "2", "{w}n", "{w}k", &arg]), 1);
        }
        assert_eq!(bulk(&mut c, &["GET", "{w}n"]).as_deref(), Some("20"));
        // A write to a value too big to keep a copy of, then such a key:
        // that first run cannot start over and fails; later runs of the
        // script are transactions from the start.
        let mut push = vec!["RPUSH".to_string(), "{b}big".to_string()];
        push.extend((0..1000).map(|i| i.to_string()));
        int(&mut c, &push);
        let body = "redis.call('rpush', KEYS[1], ARGV[1]) return redis.call('incr', 'big-other:' .. ARGV[1])";
        let mut failed = 0;
        for i in 0..20 {
            let arg = i.to_string();
            match q(&mut c, &["EVAL", body, "1", "{b}big", &arg]) {
                redis::Value::Int(1) => {}
                v => {
                    let e = err_text(&v).unwrap_or_default();
                    assert!(e.contains("after writing"), "{e}");
                    failed += 1;
                }
            }
        }
        assert!(failed <= 1, "{failed} runs failed");
        if threads == 1 {
            assert_eq!(failed, 0);
        }
    }
}

#[test]
fn a_scripts_writes_fail_watches_and_wake_blocked_clients() {
    for threads in THREADS {
        let s = Server::start(threads);
        let mut c = s.conn();
        let mut w = s.conn();
        // WATCH sees a script's write.
        ok(&mut w, &["WATCH", "wk"]);
        ok(
            &mut c,
            &["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "wk"],
        );
        ok(&mut w, &["MULTI"]);
        let _ = q(&mut w, &["GET", "wk"]);
        assert_eq!(q(&mut w, &["EXEC"]), redis::Value::Nil);
        // ... but not a script that only read it.
        ok(&mut w, &["WATCH", "wk"]);
        let _ = q(
            &mut c,
            &["EVAL", "return redis.call('get', KEYS[1])", "1", "wk"],
        );
        ok(&mut w, &["MULTI"]);
        let _ = q(&mut w, &["GET", "wk"]);
        assert_ne!(q(&mut w, &["EXEC"]), redis::Value::Nil);
        // A client blocked on a list is served by a script's push.
        let port = s.port;
        let t = std::thread::spawn(move || {
            let mut b = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .unwrap();
            strs(&q(&mut b, &["BLPOP", "bl", "5"]))
        });
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            int(
                &mut c,
                &[
                    "EVAL",
                    "return redis.call('rpush', KEYS[1], 'e')",
                    "1",
                    "bl"
                ]
            ),
            1
        );
        assert_eq!(t.join().unwrap(), vec![Some("bl".into()), Some("e".into())]);
        // Inside MULTI, a script is one of the queued commands.
        ok(&mut c, &["MULTI"]);
        let _ = q(
            &mut c,
            &["EVAL", "return redis.call('incr', KEYS[1])", "1", "mk"],
        );
        let _ = q(&mut c, &["INCR", "mk"]);
        assert_eq!(
            q(&mut c, &["EXEC"]),
            redis::Value::Array(vec![redis::Value::Int(1), redis::Value::Int(2)])
        );
    }
}

#[test]
fn a_busy_script_is_stopped() {
    for threads in THREADS {
        let s = Server::start(threads);
        let mut c = s.conn();
        // Past busy-reply-threshold (alias lua-time-limit) without having
        // written: stopped, and the server serves on.
        ok(&mut c, &["CONFIG", "SET", "lua-time-limit", "100"]);
        assert_eq!(
            strs(&q(&mut c, &["CONFIG", "GET", "busy-reply-threshold"])),
            vec![
                Some("busy-reply-threshold".to_string()),
                Some("100".to_string())
            ]
        );
        let t0 = Instant::now();
        let e = err(&mut c, &["EVAL", "while true do end", "0"]);
        assert!(e.contains("busy-reply-threshold (100 ms)"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(3));
        assert_eq!(status(&mut c, &["PING"]), "PONG");
        // A script that wrote is never stopped halfway.
        let n = int(
            &mut c,
            &[
                "EVAL",
                "redis.call('set', KEYS[1], 1) local t = redis.call('time') local i = 0 \
                 while true do i = i + 1 local n = redis.call('time') \
                 if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 300000 then return 1 end end",
                "1",
                "dirty",
            ],
        );
        assert_eq!(n, 1);
        ok(&mut c, &["CONFIG", "SET", "lua-time-limit", "0"]);
        if threads == 1 {
            continue;
        }
        // SCRIPT KILL from clients of the other reactors.
        let mut runner = s.raw();
        runner.set_timeout(Duration::from_secs(10));
        runner.cmd(&[b"EVAL", b"while true do end", b"0"]);
        std::thread::sleep(Duration::from_millis(300));
        let mut killers: Vec<Raw> = (0..6).map(|_| s.raw()).collect();
        for k in &mut killers {
            k.set_timeout(Duration::from_secs(10));
            k.cmd(&[b"SCRIPT", b"KILL"]);
        }
        match runner.read() {
            Resp::Error(e) => assert!(
                e.starts_with("ERR Script killed by user with SCRIPT KILL..."),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        let mut oks = 0;
        for k in &mut killers {
            match k.read() {
                Resp::Simple(s) if s == "OK" => oks += 1,
                Resp::Error(e) => assert!(e.starts_with("NOTBUSY"), "{e}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(oks >= 1);
    }
}

/// FUNCTION and FCALL, command by command against redis-server 7.0.
const FUNCTION_STEPS: &[&[&str]] = &[
    &["FLUSHALL"],
    &["FUNCTION", "FLUSH"],
    &["FUNCTION", "LOAD", "#!lua name=mylib\nredis.register_function('myset', function(keys, args) return redis.call('set', keys[1], args[1]) end)\nredis.register_function{function_name='myget', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}"],
    &["FCALL", "myset", "1", "{f}k", "v"],
    &["FCALL", "MYGET", "1", "{f}k"],
    &["FCALL_RO", "myget", "1", "{f}k"],
    &["FCALL_RO", "myset", "1", "{f}k", "w"],
    &["FCALL", "nosuch", "0"],
    &["FCALL", "myset", "x"],
    &["FCALL", "myset", "-1"],
    &["FCALL", "myset", "3", "a"],
    &["FUNCTION", "LOAD", "#!lua name=mylib\nredis.register_function('other', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=MYLIB\nredis.register_function('other', function() return 1 end)"],
    &["FCALL", "OTHER", "0"],
    // (Redis lists libraries in hash order: keep one for LIST below.)
    &["FUNCTION", "DELETE", "MYLIB"],
    &["FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('myset', function() return 1 end)"],
    &["FUNCTION", "LOAD", "return 1"],
    &["FUNCTION", "LOAD", "#!js name=x\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=empty\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=bad\nlocal x = = 1"],
    &["FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function('a b', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function('f')"],
    &["FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}"],
    &["FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)"],
    &["FUNCTION", "LOAD", "REPLACE", "#!lua name=mylib\nredis.register_function('myset', function(keys, args) return redis.call('incr', keys[1]) end)"],
    &["FCALL", "myset", "1", "{f}n"],
    &["FCALL", "myget", "1", "{f}k"],
    &["FCALL", "myset", "1", "{f}k"],
    &["FUNCTION", "LIST"],
    &["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "my*"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "zzz*"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "DELETE", "mylib"],
    &["FUNCTION", "DELETE", "mylib"],
    &["FCALL", "myset", "1", "{f}n"],
    &["FUNCTION", "KILL"],
    &["FUNCTION", "FLUSH", "sometimes"],
    &["FUNCTION", "FLUSH", "sync", "extra"],
    &["FUNCTION", "LOAD", "#! name=x\nredis.register_function('x', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=a name=b\nredis.register_function('x', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=\"quoted\"\nredis.register_function('q', function() return 'q' end)"],
    &["FCALL", "q", "0"],
    // DUMP/RESTORE: round trip, policies, bad payloads.
    &["FUNCTION", "RESTORE", "garbage"],
    &["FUNCTION", "RESTORE", "garbage", "SOMETIMES"],
    &["FUNCTION", "RESTORE", "a", "b", "c"],
    // Over maxmemory: scripts that declare flags are refused unless
    // allow-oom or no-writes; others are refused per command.
    &["FUNCTION", "LOAD", "#!lua name=m\nredis.register_function('w', function(k) return redis.call('set', k[1], 1) end)\nredis.register_function{function_name='r', callback=function() return 1 end, flags={'no-writes'}}"],
    &["CONFIG", "SET", "maxmemory", "1"],
    &["EVAL", "#!lua\nreturn 1", "0"],
    &["EVAL", "#!lua flags=no-writes\nreturn 1", "0"],
    &["EVAL", "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], 1)", "1", "{f}o"],
    &["EVAL", "return redis.call('set', KEYS[1], 1)", "1", "{f}o"],
    &["EVAL", "return redis.call('get', KEYS[1])", "1", "{f}o"],
    &["FCALL", "w", "1", "{f}o"],
    &["FCALL", "r", "0"],
    &["CONFIG", "SET", "maxmemory", "0"],
];

#[test]
fn functions_answer_as_redis_does() {
    let steps: Vec<Vec<String>> = FUNCTION_STEPS
        .iter()
        .map(|s| s.iter().map(|x| x.to_string()).collect())
        .collect();
    same_as_redis("functions differential test", &steps);
}

#[test]
fn functions_are_callable_through_every_reactor() {
    let s = Server::start(4);
    let mut c = s.conn();
    let code = "#!lua name=counter\nredis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)";
    assert_eq!(
        bulk(&mut c, &["FUNCTION", "LOAD", code]).as_deref(),
        Some("counter")
    );
    for i in 0..16 {
        let mut other = s.conn();
        assert_eq!(
            int(&mut other, &["FCALL", "bump", "1", &format!("k{}", i % 3)]),
            (i / 3 + 1) as i64
        );
    }
    // A library that never finishes loading is stopped, as in Redis.
    let e = err(
        &mut c,
        &["FUNCTION", "LOAD", "#!lua name=slow\nwhile true do end"],
    );
    assert!(e.contains("FUNCTION LOAD timeout"), "{e}");
    // Replacing a library reaches every reactor.
    let code2 =
        "#!lua name=counter\nredis.register_function('bump', function(keys) return 'replaced' end)";
    assert_eq!(
        bulk(&mut c, &["FUNCTION", "LOAD", "REPLACE", code2]).as_deref(),
        Some("counter")
    );
    for _ in 0..8 {
        let mut other = s.conn();
        assert_eq!(
            bulk(&mut other, &["FCALL", "bump", "1", "x"]).as_deref(),
            Some("replaced")
        );
    }
    ok(&mut c, &["FUNCTION", "FLUSH"]);
    for _ in 0..8 {
        let mut other = s.conn();
        assert_eq!(
            err(&mut other, &["FCALL", "bump", "1", "x"]),
            "ERR Function not found"
        );
    }
}

/// SIGTERM stops the server even while a script that wrote holds a
/// reactor (it cannot be interrupted; Redis needs SHUTDOWN NOSAVE there).
#[test]
fn the_server_stops_while_a_script_runs() {
    for dirty in [false, true] {
        let mut s = Server::start(2);
        let mut c = s.conn();
        ok(&mut c, &["CONFIG", "SET", "busy-reply-threshold", "0"]);
        let mut runner = s.raw();
        let body = if dirty {
            "redis.call('set', KEYS[1], 1) while true do end"
        } else {
            "while true do end"
        };
        runner.cmd(&[b"EVAL", body.as_bytes(), b"1", b"k"]);
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(s.pid() as i32, libc::SIGTERM) };
        let status = s.wait_exit(Duration::from_secs(20)).expect("exited");
        assert!(status.success(), "{status:?}");
    }
}

#[test]
fn scripts_publish() {
    for threads in THREADS {
        let s = Server::start(threads);
        let mut subs: Vec<Raw> = (0..4).map(|_| s.raw()).collect();
        for r in &mut subs {
            r.set_timeout(Duration::from_secs(5));
            assert!(!r.call(&["SUBSCRIBE", "events"]).is_error());
        }
        let mut c = s.conn();
        let n = int(
            &mut c,
            &[
                "EVAL",
                "redis.call('set', KEYS[1], ARGV[1]) return redis.call('publish', 'events', ARGV[1])",
                "1",
                "k",
                "hello",
            ],
        );
        assert_eq!(n, 4);
        for r in &mut subs {
            assert_eq!(
                r.read(),
                Resp::Array(vec![
                    Resp::bulk("message"),
                    Resp::bulk("events"),
                    Resp::bulk("hello")
                ])
            );
        }
    }
}

/// FUNCTION DUMP/RESTORE with each policy, and payloads exchanged with
/// redis-server 7.0 both ways.
#[test]
fn function_dump_and_restore() {
    let lib = |name: &str, f: &str, ret: &str| {
        format!("#!lua name={name}\nredis.register_function('{f}', function() return '{ret}' end)")
    };
    // FUNCTION RESTORE payload [policy], the payload as raw bytes.
    let restore = |c: &mut redis::Connection, payload: &[u8], policy: Option<&str>| {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("RESTORE").arg(payload);
        if let Some(p) = policy {
            cmd.arg(p);
        }
        cmd.query::<redis::Value>(c)
            .unwrap_or_else(|e| redis::Value::SimpleString(format!("error: {e}")))
    };
    let is_ok = |v: &redis::Value| matches!(v, redis::Value::Okay);
    let text = |v: redis::Value| format!("{v:?}");
    for threads in THREADS {
        let s = Server::start(threads);
        let mut c = s.conn();
        bulk(&mut c, &["FUNCTION", "LOAD", &lib("l1", "f1", "one")]);
        bulk(&mut c, &["FUNCTION", "LOAD", &lib("l2", "f2", "two")]);
        let dump = match q(&mut c, &["FUNCTION", "DUMP"]) {
            redis::Value::BulkString(b) => b,
            v => panic!("{v:?}"),
        };
        ok(&mut c, &["FUNCTION", "FLUSH"]);
        assert!(is_ok(&restore(&mut c, &dump, None)));
        assert_eq!(bulk(&mut c, &["FCALL", "f2", "0"]).as_deref(), Some("two"));
        // APPEND refuses a name taken; REPLACE swaps; FLUSH drops the rest.
        let e = text(restore(&mut c, &dump, None));
        assert!(e.contains("already exists"), "{e}");
        bulk(
            &mut c,
            &["FUNCTION", "LOAD", "REPLACE", &lib("l1", "f1", "changed")],
        );
        bulk(&mut c, &["FUNCTION", "LOAD", &lib("l3", "f3", "three")]);
        assert!(is_ok(&restore(&mut c, &dump, Some("REPLACE"))));
        assert_eq!(bulk(&mut c, &["FCALL", "f1", "0"]).as_deref(), Some("one"));
        assert_eq!(
            bulk(&mut c, &["FCALL", "f3", "0"]).as_deref(),
            Some("three")
        );
        assert!(is_ok(&restore(&mut c, &dump, Some("FLUSH"))));
        assert_eq!(err(&mut c, &["FCALL", "f3", "0"]), "ERR Function not found");
        let mut bad = dump.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(text(restore(&mut c, &bad, None)).contains("payload version or checksum are wrong"));
        assert_eq!(bulk(&mut c, &["FCALL", "f1", "0"]).as_deref(), Some("one"));
    }
    if !redis_server_available("FUNCTION DUMP/RESTORE with redis-server") {
        return;
    }
    let redis = RedisServer::start(&[]);
    let mut r = redis.conn();
    let s = Server::start(4);
    let mut c = s.conn();
    // Long enough code that Redis compresses it in its payload.
    let long = format!(
        "#!lua name=big\n-- {}\nredis.register_function('big', function() return 'big' end)",
        "x".repeat(200)
    );
    bulk(&mut r, &["FUNCTION", "LOAD", &long]);
    let from_redis = match q(&mut r, &["FUNCTION", "DUMP"]) {
        redis::Value::BulkString(b) => b,
        v => panic!("{v:?}"),
    };
    assert!(is_ok(&restore(&mut c, &from_redis, None)));
    assert_eq!(bulk(&mut c, &["FCALL", "big", "0"]).as_deref(), Some("big"));
    bulk(&mut c, &["FUNCTION", "LOAD", &lib("mine", "mine", "ours")]);
    let from_us = match q(&mut c, &["FUNCTION", "DUMP"]) {
        redis::Value::BulkString(b) => b,
        v => panic!("{v:?}"),
    };
    assert!(is_ok(&restore(&mut r, &from_us, Some("FLUSH"))));
    assert_eq!(
        bulk(&mut r, &["FCALL", "mine", "0"]).as_deref(),
        Some("ours")
    );
}

/// MONITOR shows a script's commands after the script, as `[db lua]`.
#[test]
fn monitor_shows_what_scripts_run() {
    for threads in THREADS {
        let s = Server::start(threads);
        let mut m = s.raw();
        m.set_timeout(Duration::from_secs(5));
        assert_eq!(m.call(&["MONITOR"]), Resp::simple("OK"));
        let mut c = s.conn();
        ok(
            &mut c,
            &[
                "EVAL",
                "return redis.call('set', KEYS[1], ARGV[1])",
                "1",
                "foo",
                "bar",
            ],
        );
        let line = |r: Resp| match r {
            Resp::Simple(s) => s,
            other => panic!("{other:?}"),
        };
        // (The client library's own set-up commands come first.)
        let mut seen = Vec::new();
        while !seen.last().is_some_and(|l: &String| l.contains("\"EVAL\"")) {
            assert!(seen.len() < 10, "{seen:?}");
            seen.push(line(m.read()));
        }
        let l = line(m.read());
        assert!(l.contains("[0 lua] \"set\" \"foo\" \"bar\""), "{l}");
        // Keys it does not declare, on every shard: with several reactors
        // it runs as a transaction on copies, and its lines still show.
        let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
        let script = format!(
            "{} return 1",
            keys.iter()
                .map(|k| format!("redis.call('set', '{k}', 'v');"))
                .collect::<String>()
        );
        assert_eq!(int(&mut c, &["EVAL", &script, "0"]), 1);
        let l = line(m.read());
        assert!(l.contains("\"EVAL\""), "{l}");
        let mut lua: Vec<String> = (0..8).map(|_| line(m.read())).collect();
        lua.sort();
        for (k, l) in keys.iter().zip(&lua) {
            assert!(
                l.contains(&format!("[0 lua] \"set\" \"{k}\" \"v\"")),
                "{lua:?}"
            );
        }
    }
}

/// DEBUG SET-DISABLE-DENY-SCRIPTS lets scripts call DEBUG, as Redis's own
/// tests do: DEBUG PROTOCOL's every RESP type through Lua and back, for
/// RESP2 and RESP3 clients and scripts (identical bytes to redis-server
/// 7.0.15 when it is on PATH), DEBUG SLEEP with the script's clock
/// stopped, and the refusal once deny is back on. The block in Redis's
/// unit/scripting that starts with this DEBUG call used to be aborted
/// whole (about 40 tests).
#[test]
fn scripts_may_call_debug_with_deny_disabled() {
    let run = |port: u16| -> Vec<String> {
        let mut c = Raw::connect(port);
        let mut out = Vec::new();
        let script = |t: &str, lua: &str| {
            format!("redis.setresp({lua}); return redis.call('debug','protocol','{t}')")
        };
        let refused = c.call(&["EVAL", &script("map", "2"), "0"]);
        assert!(refused.is_error(), "{refused:?}");
        assert_eq!(
            c.call(&["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"]),
            Resp::simple("OK")
        );
        for proto in ["2", "3"] {
            assert!(!c.call(&["HELLO", proto]).is_error());
            for t in [
                "bignum", "map", "set", "double", "true", "false", "null", "verbatim",
            ] {
                for lua in ["2", "3"] {
                    out.push(format!(
                        "{proto} {lua} {t} {:?}",
                        c.call(&["EVAL", &script(t, lua), "0"])
                    ));
                }
            }
        }
        let frozen = "redis.call('SET','key','v','PX','1'); redis.call('DEBUG','SLEEP','0.01'); return redis.call('EXISTS','key')";
        assert_eq!(c.call(&["EVAL", frozen, "0"]), Resp::Int(1));
        assert_eq!(c.call(&["EXISTS", "key"]), Resp::Int(0));
        assert_eq!(
            c.call(&["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0"]),
            Resp::simple("OK")
        );
        assert!(c.call(&["EVAL", &script("map", "2"), "0"]).is_error());
        out
    };
    let ours = run(Server::start(2).port);
    assert!(
        ours.contains(
            &"3 3 map Map([(Int(1), Bool(true)), (Int(2), Bool(false)), (Int(0), Bool(false))])"
                .to_string()
        ),
        "{ours:?}"
    );
    if redis_server_available("DEBUG-in-scripts differential test") {
        let redis = RedisServer::start(&["--enable-debug-command", "yes"]);
        assert_eq!(ours, run(redis.port));
    }
}

/// cjson's depth limits and invalid-number setting act as Redis's cjson's
/// do (they were accepted and ignored; Redis's "JSON smoke test" checks
/// them; the expected values are redis-server 7.0.15's for this script).
#[test]
fn cjson_settings_take_effect() {
    let s = Server::start(1);
    let mut con = s.conn();
    let script = r#"
        local out = {}
        local nested = {a = {b = 1}}
        cjson.encode_max_depth(1)
        out[1] = tostring(pcall(cjson.encode, nested))
        cjson.encode_max_depth(1000)
        out[2] = cjson.encode(nested)
        cjson.decode_max_depth(1)
        out[3] = tostring(pcall(cjson.decode, '{"obj": {"array": [1,2]}}'))
        cjson.decode_max_depth(1000)
        out[4] = tostring(pcall(cjson.encode, {n = 0/0}))
        cjson.encode_invalid_numbers(true)
        out[5] = cjson.encode({1/0, -1/0})
        out[6] = tostring(cjson.encode_invalid_numbers('null'))
        out[7] = cjson.encode({1/0})
        cjson.encode_invalid_numbers(false)
        return out
    "#;
    assert_eq!(
        strs(&q(&mut con, &["EVAL", script, "0"])),
        [
            Some("false".to_string()),
            Some(r#"{"a":{"b":1}}"#.to_string()),
            Some("false".to_string()),
            Some("false".to_string()),
            Some("[inf,-inf]".to_string()),
            Some("null".to_string()),
            Some("[null]".to_string()),
        ]
    );
}

/// EVALSHA and FCALL check their arguments in Redis's order: a digest
/// that is not 40 characters is NOSCRIPT and an unknown function "not
/// found" before the number of keys is read (both answered the number of
/// keys' error first).
#[test]
fn evalsha_and_fcall_check_the_script_before_numkeys() {
    let srv = Server::start(2);
    let mut con = srv.conn();
    assert_eq!(
        err(&mut con, &["EVALSHA", "short", "x"]),
        "NOSCRIPT No matching script. Please use EVAL."
    );
    assert_eq!(
        err(&mut con, &["EVALSHA", &"a".repeat(40), "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut con, &["FCALL", "nosuch", "x"]),
        "ERR Function not found"
    );
    let lib = "#!lua name=ordlib\nredis.register_function('ordf', function() return 1 end)";
    assert_eq!(
        bulk(&mut con, &["FUNCTION", "LOAD", lib]).as_deref(),
        Some("ordlib")
    );
    assert_eq!(
        err(&mut con, &["FCALL", "ordf", "x"]),
        "ERR Bad number of keys provided"
    );
    assert_eq!(int(&mut con, &["FCALL", "ordf", "0"]), 1);
}

/// loadstring, which Redis's sandbox allows (it was a nonexistent global
/// here): source text only, as Redis's Lua parses every chunk as text (a
/// precompiled chunk fails to load, and calling the result is calling
/// nil), and the chunk runs in the script's sandbox, not the interpreter's
/// globals.
#[test]
fn loadstring_loads_text_inside_the_sandbox_and_never_bytecode() {
    let srv = Server::start(1);
    let mut c = srv.raw();
    assert_eq!(
        c.call(&["EVAL", "return loadstring('return 1 + 2')()", "0"]),
        Resp::Int(3)
    );
    for (script, says) in [
        (
            "return loadstring(string.dump(function() return 1 end))()",
            "attempt to call a nil value",
        ),
        (
            "return loadstring('return __log')()",
            "nonexistent global variable '__log'",
        ),
        ("return loadstring('x = 5')()", "readonly table"),
    ] {
        let e = c.call(&["EVAL", script, "0"]);
        assert!(
            matches!(&e, Resp::Error(m) if m.contains(says)),
            "{script}: {e:?}"
        );
    }
}
