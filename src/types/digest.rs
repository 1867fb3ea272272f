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
