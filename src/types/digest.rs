//! DEBUG DIGEST-VALUE: a content digest of a value, equal for equal
//! contents whatever the encoding (Redis's tests compare a key and its COPY
//! with it). Unordered collections combine element digests with XOR so
//! iteration order does not matter.

use super::Value;
use std::hash::{BuildHasher, Hasher};

fn h(parts: &[&[u8]]) -> u64 {
    // Fixed seed: digests must be stable across shards and runs.
    let mut s = foldhash::quality::FixedState::with_seed(0x6861_6c6f).build_hasher();
    for p in parts {
        s.write(p);
        s.write_u8(0xff);
    }
    s.finish()
}

/// DEBUG DIGEST's part for some databases: every live key's database,
/// name, value digest and expire time, combined by XOR so that neither
/// iteration order nor the split of keys over shards matters (the shards'
/// parts XOR into the whole, `combine_digests`). Zeros when there is no key.
pub fn dataset_digest(dbs: &[crate::shard::Db], now: u64) -> [u8; 20] {
    let (mut a, mut b) = (0u64, 0u64);
    for (i, db) in dbs.iter().enumerate() {
        for (k, e) in db.iter() {
            if e.expire_at != 0 && e.expire_at <= now {
                continue;
            }
            let d = e.value.digest();
            let (db_id, ttl) = ((i as u64).to_le_bytes(), e.expire_at.to_le_bytes());
            let key: &[u8] = k;
            a ^= h(&[&db_id, key, d.as_bytes(), &ttl]);
            b ^= h(&[&ttl, d.as_bytes(), key, &db_id]);
        }
    }
    let mut out = [0u8; 20];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..16].copy_from_slice(&b.to_be_bytes());
    out[16..].copy_from_slice(&((a ^ b) as u32).to_be_bytes());
    out
}

/// XOR of DEBUG DIGEST parts (`dataset_digest`), as Redis shows it: 40
/// hex digits, all zeros for an empty dataset.
pub fn combine_digests<'a>(parts: impl Iterator<Item = &'a [u8]>) -> String {
    let mut acc = [0u8; 20];
    for p in parts {
        for (x, y) in acc.iter_mut().zip(p) {
            *x ^= y;
        }
    }
    acc.iter().map(|b| format!("{b:02x}")).collect()
}

impl Value {
    /// A 160-bit digest as 40 hex digits, like Redis's.
    pub fn digest(&self) -> String {
        let (a, b) = match self {
            Value::Str(s) => s.with_bytes(|x| (h(&[b"string", x]), h(&[x, b"string"]))),
            Value::Hash(m) => m.iter().fold((h(&[b"hash"]), 0), |(a, b), (f, v)| {
                (a ^ h(&[f, v]), b ^ h(&[v, f]))
            }),
            Value::Set(s) => s.iter().fold((h(&[b"set"]), 0), |(a, b), m| {
                m.with_bytes(|x| (a ^ h(&[x]), b ^ h(&[x, x])))
            }),
            // Ordered: chain the element digests.
            Value::List(l) => l.iter().fold((h(&[b"list"]), 1u64), |(a, b), e| {
                (h(&[&a.to_le_bytes(), e]), b.wrapping_mul(31) ^ h(&[e]))
            }),
            Value::ZSet(z) => z.iter().fold((h(&[b"zset"]), 0), |(a, b), (m, sc)| {
                let sc = sc.to_bits().to_le_bytes();
                (a ^ h(&[m, &sc]), b ^ h(&[&sc, m]))
            }),
        };
        format!("{a:016x}{b:016x}{:08x}", (a ^ b) as u32)
    }
}
