//! RESP request parsing and reply encoding.
//!
//! `cargo bench --bench protocol`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use halocline::protocol::{Parsed, Parser, Proto, Reply};
use std::time::Duration;

/// Redis's default proto-max-bulk-len.
const MAX_BULK: usize = 512 * 1024 * 1024;

/// A pipeline of `n` commands as redis-benchmark sends them: SET and GET
/// alternating over 16-byte keys (`key:000000012345`) with 3-byte values.
fn pipeline(n: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..n {
        let key = format!("key:{:012}", i * 7919 % 100_000);
        if i % 2 == 0 {
            buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$16\r\n");
            buf.extend_from_slice(key.as_bytes());
            buf.extend_from_slice(b"\r\n$3\r\nxxx\r\n");
        } else {
            buf.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$16\r\n");
            buf.extend_from_slice(key.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
    }
    buf
}

/// Parse every command of `buf`, touching the arguments the way dispatch
/// does (command name and first key). Returns the number of commands.
#[inline]
fn parse_all(parser: &mut Parser, buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while pos < buf.len() {
        match parser.parse(&buf[pos..]) {
            Parsed::Command { consumed } => {
                let args = parser.args(&buf[pos..]);
                black_box(args.get(0));
                black_box(args.get(1));
                pos += consumed;
                n += 1;
            }
            other => panic!("unexpected parse result {other:?}"),
        }
    }
    n
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);

    let buf = pipeline(64);
    let mut parser = Parser::new(MAX_BULK);
    assert_eq!(parse_all(&mut parser, &buf), 64);
    g.throughput(Throughput::Elements(64));
    g.bench_function("pipeline64_get_set", |b| {
        b.iter(|| parse_all(&mut parser, black_box(&buf)))
    });

    // The same 64 commands as inline requests (redis-cli / telnet style):
    // arguments are split and copied into the parser's scratch buffer.
    let mut inline = Vec::new();
    for i in 0..64 {
        let key = format!("key:{:012}", i * 7919 % 100_000);
        if i % 2 == 0 {
            inline.extend_from_slice(format!("SET {key} xxx\r\n").as_bytes());
        } else {
            inline.extend_from_slice(format!("GET {key}\r\n").as_bytes());
        }
    }
    assert_eq!(parse_all(&mut parser, &inline), 64);
    g.bench_function("pipeline64_inline", |b| {
        b.iter(|| parse_all(&mut parser, black_box(&inline)))
    });
    g.finish();
}

fn bench_reply(c: &mut Criterion) {
    let mut g = c.benchmark_group("reply");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);

    let small = b"xxx".to_vec();
    let medium = vec![b'v'; 64];
    let members: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("member:{i:06}").into_bytes())
        .collect();
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);

    for (name, proto) in [("resp2", Proto::Resp2), ("resp3", Proto::Resp3)] {
        // 64 replies per iteration, like one pipelined read's worth of output.
        g.throughput(Throughput::Elements(64));
        g.bench_with_input(BenchmarkId::new("bulk3_x64", name), &proto, |b, &p| {
            b.iter(|| {
                out.clear();
                let mut r = Reply::new(&mut out, p);
                for _ in 0..64 {
                    r.bulk(black_box(&small));
                }
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("bulk64_x64", name), &proto, |b, &p| {
            b.iter(|| {
                out.clear();
                let mut r = Reply::new(&mut out, p);
                for _ in 0..64 {
                    r.bulk(black_box(&medium));
                }
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("int_x64", name), &proto, |b, &p| {
            b.iter(|| {
                out.clear();
                let mut r = Reply::new(&mut out, p);
                for i in 0..64i64 {
                    r.int(black_box(i * 1_000_003));
                }
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("null_x64", name), &proto, |b, &p| {
            b.iter(|| {
                out.clear();
                let mut r = Reply::new(&mut out, p);
                for _ in 0..64 {
                    r.null();
                }
                black_box(out.len())
            })
        });
        // One array of 100 bulk strings (LRANGE_100 / SMEMBERS shaped).
        g.throughput(Throughput::Elements(100));
        g.bench_with_input(BenchmarkId::new("array100_bulk", name), &proto, |b, &p| {
            b.iter(|| {
                out.clear();
                let mut r = Reply::new(&mut out, p);
                r.array(members.len());
                for m in &members {
                    r.bulk(black_box(m));
                }
                black_box(out.len())
            })
        });
        // A map of 50 field/value pairs (HGETALL shaped): RESP3 `%`, RESP2 a flat array.
        g.bench_with_input(BenchmarkId::new("map50", name), &proto, |b, &p| {
            b.iter(|| {
                out.clear();
                let mut r = Reply::new(&mut out, p);
                r.map(50);
                for pair in members.chunks(2) {
                    r.bulk(black_box(&pair[0]));
                    r.bulk(black_box(&pair[1]));
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

/// Command name -> table entry, as every request does it.
fn bench_lookup(c: &mut Criterion) {
    let names: [&[u8]; 8] = [
        b"GET",
        b"SET",
        b"incr",
        b"LPUSH",
        b"zadd",
        b"HSET",
        b"MSET",
        b"ZRANGEBYSCORE",
    ];
    let mut g = c.benchmark_group("command_lookup");
    g.throughput(Throughput::Elements(names.len() as u64));
    g.bench_function("mixed_case_8", |b| {
        b.iter(|| {
            for n in names {
                black_box(halocline::commands::table::lookup(black_box(n)));
            }
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_parse, bench_reply, bench_lookup
}
criterion_main!(benches);
