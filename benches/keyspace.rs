//! The keyspace table (`Db`) at 1M keys: lookup (hit and miss), overwrite of
//! an existing key, insert of a new key, delete; and a 100k-member set.
//!
//! `cargo bench --bench keyspace`
//!
//! The 1M-key table is built once, outside every timed loop. Inserts and
//! deletes are timed in chunks of `CHUNK` operations and undone, untimed,
//! after each chunk, so the table stays at 1M (± `CHUNK`) keys however many
//! iterations criterion asks for.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use halocline::shard::{Db, DbStats};
use halocline::types::{StrVal, Value};
use std::time::{Duration, Instant};

const KEYS: usize = 1_000_000;
const CHUNK: usize = 1024;

/// redis-benchmark's key shape (`key:000000012345`): 16 bytes, which the
/// table stores inline in the entry.
fn key(prefix: &[u8; 4], i: usize) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(prefix);
    k[4..].copy_from_slice(format!("{i:012}").as_bytes());
    k
}

/// A 3-byte value, like redis-benchmark's default `-d 3` (stored inline).
fn value() -> Value {
    Value::Str(StrVal::from_bytes(b"xxx"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Apply `op` to `iters` keys (taken from `keys` in `order`, from `*cursor`
/// on, cycling), timing only `op`; after each `CHUNK` keys apply `undo` to
/// the same keys, untimed.
fn chunked(
    db: &mut Db,
    iters: u64,
    keys: &[[u8; 16]],
    order: &[usize],
    cursor: &mut usize,
    op: impl Fn(&mut Db, &[u8]),
    undo: impl Fn(&mut Db, &[u8]),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let n = left.min(CHUNK);
        let at = |j: usize| &keys[order[(*cursor + j) % order.len()]][..];
        let t = Instant::now();
        for j in 0..n {
            op(db, black_box(at(j)));
        }
        total += t.elapsed();
        for j in 0..n {
            undo(db, at(j));
        }
        *cursor = (*cursor + n) % order.len();
        left -= n;
    }
    total
}

fn bench_keyspace(c: &mut Criterion) {
    let keys: Vec<[u8; 16]> = (0..KEYS).map(|i| key(b"key:", i)).collect();
    // Never inserted (except transiently by insert_new): same shape, other prefix.
    let absent: Vec<[u8; 16]> = (0..KEYS).map(|i| key(b"new:", i)).collect();

    let t = Instant::now();
    let mut db = Db::new();
    for k in &keys {
        db.set(k, value(), 0);
    }
    assert_eq!(db.len(), KEYS);
    eprintln!("keyspace: built a {KEYS}-key Db in {:?}", t.elapsed());

    // Random access order, so lookups miss the CPU caches as they do under
    // redis-benchmark -r 1000000.
    let mut order: Vec<usize> = (0..KEYS).collect();
    fastrand::Rng::with_seed(42).shuffle(&mut order);

    let now = now_ms();
    let mut stats = DbStats::default();
    let mut g = c.benchmark_group("keyspace_1M");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
        .throughput(Throughput::Elements(1));

    let mut i = 0usize;
    g.bench_function("lookup_hit", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(
                db.get(black_box(&keys[order[i]]), now, &mut stats)
                    .is_some(),
            )
        })
    });
    g.bench_function("lookup_miss", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(
                db.get(black_box(&absent[order[i]]), now, &mut stats)
                    .is_some(),
            )
        })
    });
    g.bench_function("overwrite", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            db.set(black_box(&keys[order[i]]), value(), 0)
        })
    });

    let mut cursor = 0usize;
    g.bench_function("insert_new", |b| {
        b.iter_custom(|iters| {
            chunked(
                &mut db,
                iters,
                &absent,
                &order,
                &mut cursor,
                |db, k| db.set(k, value(), 0),
                |db, k| {
                    db.remove(k);
                },
            )
        })
    });
    g.bench_function("delete", |b| {
        b.iter_custom(|iters| {
            chunked(
                &mut db,
                iters,
                &keys,
                &order,
                &mut cursor,
                |db, k| {
                    black_box(db.remove(k).is_some());
                },
                |db, k| db.set(k, value(), 0),
            )
        })
    });
    g.finish();
    assert_eq!(db.len(), KEYS);
}

/// A big set (the `hashtable` encoding) of redis-benchmark's SADD member
/// shape (`element:000000012345`, 20 bytes: spilled to the heap), as SADD
/// and SISMEMBER see it with -r 100000.
fn bench_big_set(c: &mut Criterion) {
    use halocline::types::set::SetVal;
    const MEMBERS: usize = 100_000;
    let members: Vec<Vec<u8>> = (0..MEMBERS)
        .map(|i| format!("element:{i:012}").into_bytes())
        .collect();
    let absent: Vec<Vec<u8>> = (0..MEMBERS)
        .map(|i| format!("missing:{i:012}").into_bytes())
        .collect();
    let mut set = SetVal::for_member(b"element:");
    for m in &members {
        set.insert(m);
    }
    assert_eq!(set.len(), MEMBERS);
    let mut order: Vec<usize> = (0..MEMBERS).collect();
    fastrand::Rng::with_seed(7).shuffle(&mut order);
    let mut g = c.benchmark_group("set_100k");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
        .throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("sadd_existing", |b| {
        b.iter(|| {
            i = (i + 1) % MEMBERS;
            black_box(set.insert(black_box(&members[order[i]])))
        })
    });
    g.bench_function("sismember_miss", |b| {
        b.iter(|| {
            i = (i + 1) % MEMBERS;
            black_box(set.contains(black_box(&absent[order[i]])))
        })
    });
    g.finish();
}

/// A big sorted set (the `skiplist` encoding) as redis-benchmark's ZADD
/// with -r 100000 sees it: random members of 100k getting random new
/// scores (unlink + relink), and ZRANK lookups.
fn bench_big_zset(c: &mut Criterion) {
    use halocline::types::zset::{AddFlags, ZSet};
    const MEMBERS: usize = 100_000;
    let members: Vec<Vec<u8>> = (0..MEMBERS)
        .map(|i| format!("element:{i:012}").into_bytes())
        .collect();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut z = ZSet::new_for(1000);
    for m in &members {
        z.add(rng.u32(..100_000) as f64, m, AddFlags::default());
    }
    assert_eq!(z.len(), MEMBERS);
    let picks: Vec<(usize, f64)> = (0..MEMBERS)
        .map(|_| (rng.usize(..MEMBERS), rng.u32(..100_000) as f64))
        .collect();
    let mut g = c.benchmark_group("zset_100k");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
        .throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("zadd_new_score", |b| {
        b.iter(|| {
            i = (i + 1) % MEMBERS;
            let (m, s) = picks[i];
            black_box(z.add(s, black_box(&members[m]), AddFlags::default()))
        })
    });
    g.bench_function("zrank", |b| {
        b.iter(|| {
            i = (i + 1) % MEMBERS;
            black_box(z.rank(black_box(&members[picks[i].0]), false))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_keyspace, bench_big_set, bench_big_zset
}
criterion_main!(benches);
