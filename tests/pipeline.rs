//! Pipelining with --threads 4: many commands in one write, keys on every
//! shard, replies must come back complete and in request order.

mod common;
use common::*;
use std::collections::HashMap;
use std::time::Duration;

/// Build a pipeline of `n` commands over keys with `prefix`, and the replies a
/// Redis server gives for them (computed from a model of the keyspace).
fn build(prefix: &str, n: usize) -> (Vec<u8>, Vec<Resp>) {
    build_with(&mut Model::default(), prefix, n)
}

#[derive(Default)]
struct Model {
    strings: HashMap<String, String>,
    counters: HashMap<String, i64>,
}

fn build_with(m: &mut Model, prefix: &str, n: usize) -> (Vec<u8>, Vec<Resp>) {
    let mut out = Vec::new();
    let mut want = Vec::new();
    let Model { strings, counters } = m;
    for i in 0..n {
        match i % 6 {
            0 => {
                let k = format!("{prefix}key:{}", i % 97);
                let v = format!("v{i}");
                out.extend(encode_strs(&["SET", &k, &v]));
                want.push(Resp::simple("OK"));
                strings.insert(k, v);
            }
            1 => {
                let k = format!("{prefix}key:{}", (i * 7) % 101);
                out.extend(encode_strs(&["GET", &k]));
                want.push(
                    strings
                        .get(&k)
                        .map(|v| Resp::bulk(v))
                        .unwrap_or(Resp::NilBulk),
                );
            }
            2 => {
                let k = format!("{prefix}ctr:{}", i % 31);
                out.extend(encode_strs(&["INCR", &k]));
                let c = counters.entry(k).or_insert(0);
                *c += 1;
                want.push(Resp::Int(*c));
            }
            3 => {
                let keys: Vec<String> = (0..8)
                    .map(|j| {
                        if j % 4 == 3 {
                            format!("{prefix}ctr:{}", (i + j) % 31)
                        } else {
                            format!("{prefix}key:{}", (i + j * 13) % 97)
                        }
                    })
                    .collect();
                let mut args = vec!["MGET"];
                args.extend(keys.iter().map(|s| s.as_str()));
                out.extend(encode_strs(&args));
                want.push(Resp::Array(
                    keys.iter()
                        .map(|k| {
                            if let Some(v) = strings.get(k) {
                                Resp::bulk(v)
                            } else if let Some(c) = counters.get(k) {
                                Resp::bulk(&c.to_string())
                            } else {
                                Resp::NilBulk
                            }
                        })
                        .collect(),
                ));
            }
            4 => {
                if i % 12 == 4 {
                    out.extend(encode_strs(&["PING"]));
                    want.push(Resp::simple("PONG"));
                } else {
                    let m = format!("msg-{i}");
                    out.extend(encode_strs(&["PING", &m]));
                    want.push(Resp::bulk(&m));
                }
            }
            _ => {
                // a multi-key write spanning shards
                let a = format!("{prefix}key:{}", (i * 3) % 97);
                let b = format!("{prefix}key:{}", (i * 5 + 1) % 97);
                let va = format!("m{i}a");
                let vb = format!("m{i}b");
                out.extend(encode_strs(&["MSET", &a, &va, &b, &vb]));
                want.push(Resp::simple("OK"));
                strings.insert(a, va);
                strings.insert(b, vb);
            }
        }
    }
    (out, want)
}

fn check_replies(raw: &mut Raw, want: &[Resp]) {
    for (i, w) in want.iter().enumerate() {
        let got = raw.read();
        assert_eq!(&got, w, "reply #{i} out of order or wrong");
    }
    // and nothing extra
    raw.assert_silent(ms(100));
}

#[test]
fn raw_pipeline_one_write_1000_commands() {
    let srv = Server::start(4);
    let (bytes, want) = build("p1:", 1000);
    let mut raw = srv.raw();
    raw.send(&bytes);
    check_replies(&mut raw, &want);
    // the state is what the model says, seen from a new connection
    let mut con = srv.conn();
    let n = (0..1000).filter(|i| i % 6 == 2 && i % 31 == 0).count();
    assert_eq!(bulk(&mut con, &["GET", "p1:ctr:0"]), Some(n.to_string()));
}

#[test]
fn raw_pipeline_split_into_small_fragments() {
    // The same stream, delivered in tiny fragments that cut through headers,
    // lengths and CRLFs.
    let srv = Server::start(4);
    let (bytes, want) = build("p2:", 300);
    let mut raw = srv.raw();
    for chunk in bytes.chunks(7) {
        raw.send(chunk);
    }
    check_replies(&mut raw, &want);
    // with a pause after every fragment for the first commands
    let (bytes, want) = build("p3:", 20);
    for chunk in bytes.chunks(3) {
        raw.send(chunk);
        std::thread::sleep(Duration::from_micros(300));
    }
    check_replies(&mut raw, &want);
}

#[test]
fn raw_pipelines_on_concurrent_connections() {
    let srv = Server::start(4);
    let port = srv.port;
    let handles: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let mut model = Model::default();
                let mut raw = Raw::connect(port);
                for _round in 0..2 {
                    // round two sees round one's state (counters keep counting)
                    let (bytes, want) = build_with(&mut model, &format!("c{c}:"), 1000);
                    raw.send(&bytes);
                    for (i, w) in want.iter().enumerate() {
                        let got = raw.read();
                        assert_eq!(&got, w, "conn {c} reply #{i}");
                    }
                }
                let mut rest = raw;
                rest.assert_silent(ms(50));
            })
        })
        .collect();
    let failed = handles
        .into_iter()
        .map(|h| h.join())
        .filter(|r| r.is_err())
        .count();
    assert_eq!(
        failed,
        0,
        "{failed} pipelining connections failed; server stderr:\n{}",
        srv.stderr()
    );
    let mut con = srv.conn();
    for c in 0..8 {
        // two rounds of the INCRs on ctr:0 among the 1000 commands
        let n = (0..1000).filter(|i| i % 6 == 2 && i % 31 == 0).count() as i64;
        assert_eq!(
            bulk(&mut con, &["GET", &format!("c{c}:ctr:0")]),
            Some((2 * n).to_string())
        );
    }
}

#[test]
fn raw_pipeline_with_large_output_does_not_stall() {
    // 20k GETs of a 1 KB value: ~20 MB of replies to ~600 KB of requests,
    // all written before reading anything (as redis-benchmark -P does).
    let srv = Server::start(4);
    let mut con = srv.conn();
    let val = "z".repeat(1024);
    for i in 0..16 {
        ok(&mut con, &["SET", &format!("big:{i}"), &val]);
    }
    let mut bytes = Vec::new();
    for i in 0..20_000 {
        bytes.extend(encode_strs(&["GET", &format!("big:{}", i % 16)]));
    }
    let mut raw = srv.raw();
    let writer = {
        let mut w = raw.s.try_clone().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            w.write_all(&bytes).map_err(|e| e.to_string())
        })
    };
    // Read only after giving the writer a head start, so output backs up.
    std::thread::sleep(ms(300));
    for i in 0..20_000 {
        match raw.read() {
            Resp::Bulk(b) => assert_eq!(b.len(), 1024, "reply #{i}"),
            r => panic!("reply #{i}: {r:?}"),
        }
    }
    writer
        .join()
        .unwrap()
        .expect("writing the pipeline failed (server stopped reading?)");
}

#[test]
fn redis_crate_pipeline_10k_commands() {
    let srv = Server::start(4);
    for resp3 in [false, true] {
        let mut con = srv.conn_proto(resp3);
        ok(&mut con, &["FLUSHALL"]);
        let mut pipe = redis::pipe();
        for i in 0..10_000 {
            match i % 4 {
                0 => {
                    pipe.cmd("SET").arg(format!("rk:{i}")).arg(i);
                }
                1 => {
                    pipe.cmd("GET").arg(format!("rk:{}", i - 1));
                }
                2 => {
                    pipe.cmd("INCR").arg(format!("rc:{}", (i / 4) % 50));
                }
                _ => {
                    pipe.cmd("MGET")
                        .arg(format!("rk:{}", i - 3))
                        .arg(format!("rk:{}", i + 1))
                        .arg("nokey");
                }
            }
        }
        let replies: Vec<Value> = pipe.query(&mut con).expect("pipeline");
        assert_eq!(replies.len(), 10_000);
        let mut incr_seen: HashMap<usize, i64> = HashMap::new();
        for (i, r) in replies.iter().enumerate() {
            match i % 4 {
                0 => assert_eq!(r, &Value::Okay, "#{i}"),
                1 => assert_eq!(
                    r,
                    &Value::BulkString((i - 1).to_string().into_bytes()),
                    "#{i}"
                ),
                2 => {
                    let c = incr_seen.entry((i / 4) % 50).or_insert(0);
                    *c += 1;
                    assert_eq!(r, &Value::Int(*c), "#{i}");
                }
                _ => assert_eq!(
                    r,
                    &Value::Array(vec![
                        Value::BulkString((i - 3).to_string().into_bytes()),
                        Value::Nil,
                        Value::Nil
                    ]),
                    "#{i}"
                ),
            }
        }
        assert_eq!(int(&mut con, &["DBSIZE"]), 2500 + 50);
    }
}

/// Commands sent to another shard carry their arguments in the batch's
/// byte buffer and their replies back the same way; batches are kept for
/// reuse with bounded room. Large values and many-argument commands, mixed
/// with small ones in one pipeline, must survive growing, dropping and
/// reusing those buffers, turn after turn.
#[test]
fn large_arguments_and_replies_cross_shards_intact() {
    let srv = Server::start(4);
    let mut con = srv.conn();
    for round in 0..3 {
        let mut pipe = redis::pipe();
        let big = |i: usize| {
            let byte = b'a' + ((i + round) % 26) as u8;
            String::from_utf8(vec![byte; 64 * 1024 * (1 + i % 4)]).unwrap_or_default()
        };
        for i in 0..16 {
            pipe.cmd("SET").arg(format!("lv:{i}")).arg(big(i)).ignore();
            pipe.cmd("DEL").arg(format!("ll:{i}")).ignore();
            let items: Vec<String> = (0..3000).map(|j| format!("{i}-{j}")).collect();
            pipe.cmd("RPUSH")
                .arg(format!("ll:{i}"))
                .arg(&items)
                .ignore();
            pipe.cmd("SET").arg(format!("lsmall:{i}")).arg(i).ignore();
        }
        for i in 0..16 {
            pipe.cmd("GET").arg(format!("lv:{i}"));
            pipe.cmd("LRANGE").arg(format!("ll:{i}")).arg(2990).arg(-1);
            pipe.cmd("GET").arg(format!("lsmall:{i}"));
        }
        let replies: Vec<Value> = pipe.query(&mut con).expect("pipeline");
        assert_eq!(replies.len(), 48, "round {round}");
        for i in 0..16 {
            let want = big(i);
            match &replies[3 * i] {
                Value::BulkString(b) => assert!(b == want.as_bytes(), "round {round} lv:{i}"),
                r => panic!("round {round} lv:{i}: {r:?}"),
            }
            let tail: Vec<String> = (2990..3000).map(|j| format!("{i}-{j}")).collect();
            let got: Vec<String> =
                redis::from_redis_value(replies[3 * i + 1].clone()).expect("LRANGE reply");
            assert_eq!(got, tail, "round {round} ll:{i}");
            assert_eq!(
                replies[3 * i + 2],
                Value::BulkString(i.to_string().into_bytes()),
                "round {round} lsmall:{i}"
            );
        }
    }
}
