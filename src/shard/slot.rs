//! Redis Cluster's key → slot function: CRC16-CCITT (XMODEM) of the key, or of
//! its `{hash tag}`, mod 16384. Keys sharing a hash tag share a slot and so a
//! shard, which keeps multi-key work on them local.

pub const SLOTS: u16 = 16384;

/// CRC16-XMODEM, slice-by-16, written out by hand. Routing computes it
/// for every key of every keyed command once there are several shards; the
/// crc crate's `Table<16>` checksum took ~112 instructions for
/// redis-benchmark's 16-byte `key:000000012345` (digest set-up, reflection
/// and width checks around the same table loads), about 7% of a two-shard
/// GET or MSET. Here a 16-byte block is two big-endian loads and sixteen
/// independent table lookups.
static TABLES: [[u16; 256]; 16] = crc16_tables();

/// `TABLES[k][x]`: the CRC of byte `x` followed by `k` zero bytes.
const fn crc16_tables() -> [[u16; 256]; 16] {
    let mut t = [[0u16; 256]; 16];
    let mut x = 0;
    while x < 256 {
        let mut crc = (x as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        t[0][x] = crc;
        x += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut x = 0;
        while x < 256 {
            let prev = t[k - 1][x];
            t[k][x] = (prev << 8) ^ t[0][(prev >> 8) as usize];
            x += 1;
        }
        k += 1;
    }
    t
}

/// The CRC of eight bytes `w` (big-endian, the running CRC already folded
/// into its top two bytes) followed by `zeros` zero bytes (0 or 8).
#[inline(always)]
fn crc16_word(w: u64, zeros: usize) -> u16 {
    let t = &TABLES[zeros..zeros + 8];
    t[7][(w >> 56) as usize]
        ^ t[6][(w >> 48) as u8 as usize]
        ^ t[5][(w >> 40) as u8 as usize]
        ^ t[4][(w >> 32) as u8 as usize]
        ^ t[3][(w >> 24) as u8 as usize]
        ^ t[2][(w >> 16) as u8 as usize]
        ^ t[1][(w >> 8) as u8 as usize]
        ^ t[0][w as u8 as usize]
}

#[inline(always)]
fn be_word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_be_bytes(w)
}

#[inline]
pub fn crc16(data: &[u8]) -> u16 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("pclmulqdq") {
        // SAFETY: the CPU has PCLMULQDQ (checked just above; the check is
        // one cached load), the only feature `clmul::crc16` is built for.
        return unsafe { clmul::crc16(data) };
    }
    crc16_by_tables(data)
}

/// The table-driven CRC16, for CPUs without carry-less multiplication.
fn crc16_by_tables(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        let hi = be_word(&b[..8]) ^ (u64::from(crc) << 48);
        crc = crc16_word(hi, 8) ^ crc16_word(be_word(&b[8..]), 0);
    }
    let mut rest = blocks.remainder();
    if rest.len() >= 8 {
        crc = crc16_word(be_word(rest) ^ (u64::from(crc) << 48), 0);
        rest = &rest[8..];
    }
    crc16_bytes(crc, rest)
}

#[inline(always)]
fn crc16_bytes(mut crc: u16, rest: &[u8]) -> u16 {
    for &b in rest {
        crc = (crc << 8) ^ TABLES[0][usize::from((crc >> 8) as u8 ^ b)];
    }
    crc
}

/// The low 64 bits of floor(x^80 / P), P = x^16 + 0x1021 (the quotient
/// has degree 64: its top bit is implicit in `clmul::step`).
const MU_LOW: u64 = {
    let p: u128 = 0x1_1021;
    let mut rem: u128 = 1 << 80;
    let mut q: u128 = 0;
    let mut i = 80;
    while i >= 16 {
        if rem & (1 << i) != 0 {
            rem ^= p << (i - 16);
            q |= 1 << (i - 16);
        }
        i -= 1;
    }
    q as u64
};

/// CRC16 eight bytes at a time by Barrett reduction with carry-less
/// multiplies: two dependent PCLMULQDQs per eight bytes where the tables
/// take eight loads and the shifts and masks around them; 47 instead of
/// ~81 instructions (callgrind) for redis-benchmark's 16-byte keys, paid for every
/// key of every keyed command once there are several shards.
#[cfg(target_arch = "x86_64")]
mod clmul {
    use std::arch::x86_64::{
        __m128i, _mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_cvtsi64_si128, _mm_unpackhi_epi64,
    };

    /// V(x)·x^16 mod P for a 64-bit V (the running CRC already folded into
    /// its top two bytes): the quotient q = floor(V·x^16 / P) is
    /// V ⊕ floor(V·MU_LOW / x^64) (Barrett, exact over GF(2) since
    /// deg V < 64), and the remainder is the low 16 bits of q·P, where
    /// q·x^16 contributes none.
    #[inline]
    #[target_feature(enable = "pclmulqdq")]
    fn step(v: u64) -> u16 {
        let wide = |x: u64| -> __m128i { _mm_cvtsi64_si128(x as i64) };
        let prod = _mm_clmulepi64_si128::<0x00>(wide(v), wide(super::MU_LOW));
        let q = v ^ _mm_cvtsi128_si64(_mm_unpackhi_epi64(prod, prod)) as u64;
        let r = _mm_clmulepi64_si128::<0x00>(wide(q), wide(0x1021));
        _mm_cvtsi128_si64(r) as u16
    }

    #[target_feature(enable = "pclmulqdq")]
    pub fn crc16(data: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            crc = step(super::be_word(w) ^ (u64::from(crc) << 48));
        }
        super::crc16_bytes(crc, words.remainder())
    }

    #[cfg(test)]
    pub fn step_checked(v: u64) -> Option<u16> {
        // SAFETY: only called after the feature check.
        std::arch::is_x86_feature_detected!("pclmulqdq").then(|| unsafe { step(v) })
    }
}

/// The part of the key that is hashed: the content of the first `{...}` if
/// it is non-empty, else the whole key (Redis's keyHashSlot rules).
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if !has_open_brace(key) {
        return key;
    }
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// Whether `s` contains `{`. Most keys have no hash tag, and a
/// byte-by-byte scan was a fifth of a 10-key MSET's routing cost (core's
/// memchr is no faster on keys this short): whole words or SSE2 blocks at
/// a time, the last one overlapping the one before rather than a byte
/// loop.
#[inline]
fn has_open_brace(s: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const PAT: u64 = LO * b'{' as u64;
    // A byte of x is zero where the word has a `{` (the classic "has zero
    // byte" test: exact as to whether any byte is).
    let brace = |w: u64| {
        let x = w ^ PAT;
        x.wrapping_sub(LO) & !x & HI != 0
    };
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    };
    let n = s.len();
    if n < 8 {
        return s.contains(&b'{');
    }
    if n <= 16 {
        return brace(word(s)) || brace(word(&s[n - 8..]));
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        let block = |b: &[u8]| {
            let b = &b[..16];
            // SAFETY: SSE2 is part of x86_64; the load reads the 16 bytes
            // of `b`, checked just above, and needs no alignment.
            unsafe {
                let v = _mm_loadu_si128(b.as_ptr().cast::<__m128i>());
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'{' as i8))) != 0
            }
        };
        let mut chunks = s.chunks_exact(16);
        if chunks.any(block) {
            return true;
        }
        !n.is_multiple_of(16) && block(&s[n - 16..])
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut chunks = s.chunks_exact(8);
        if chunks.any(|c| brace(word(c))) {
            return true;
        }
        !n.is_multiple_of(8) && brace(word(&s[n - 8..]))
    }
}

#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS - 1)
}

/// Slots are split into contiguous ranges, one per shard, like a cluster
/// whose nodes own equal slot ranges.
#[inline]
pub fn slot_shard(slot: u16, shards: usize) -> usize {
    slot as usize * shards / SLOTS as usize
}

#[inline]
pub fn key_shard(key: &[u8], shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    slot_shard(key_slot(key), shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // From the Redis Cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
    }

    #[test]
    fn shards_cover_all_slots() {
        for n in 1..9 {
            assert_eq!(slot_shard(0, n), 0);
            assert_eq!(slot_shard(SLOTS - 1, n), n - 1);
        }
    }

    /// The polynomial, one bit at a time: the definition the table-driven
    /// version must match on every length (whole 16-byte blocks and tails).
    fn crc16_bitwise(data: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for &b in data {
            crc ^= (b as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// The Barrett step is linear over GF(2) in its input, as is the
    /// remainder it computes: agreeing on the 64 one-bit inputs, it agrees
    /// on every input. This is the proof the reduction is exact.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn clmul_step_is_exact_on_a_basis() {
        for bit in 0..64 {
            let v = 1u64 << bit;
            let Some(got) = clmul::step_checked(v) else {
                return; // no PCLMULQDQ here: the tables are used and tested
            };
            assert_eq!(got, crc16_bitwise(&v.to_be_bytes()), "bit {bit}");
        }
    }

    proptest::proptest! {
        #[test]
        fn brace_scan_matches_contains(data in proptest::collection::vec(
            proptest::prop_oneof![proptest::prelude::Just(b'{'), proptest::prelude::any::<u8>()], 0..40)
        ) {
            proptest::prop_assert_eq!(has_open_brace(&data), data.contains(&b'{'));
        }

        #[test]
        fn crc16_matches_the_bitwise_definition(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            proptest::prop_assert_eq!(crc16(&data), crc16_bitwise(&data));
            proptest::prop_assert_eq!(crc16_by_tables(&data), crc16_bitwise(&data));
        }
    }
}
