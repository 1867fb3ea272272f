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
    for &b in rest {
        crc = (crc << 8) ^ TABLES[0][usize::from((crc >> 8) as u8 ^ b)];
    }
    crc
}

/// The part of the key that is hashed: the content of the first `{...}` if
/// it is non-empty, else the whole key (Redis's keyHashSlot rules).
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

/// Whether `s` contains `{`, eight bytes at a time: most keys have no hash
/// tag, and a byte-by-byte scan was a fifth of a 10-key MSET's routing
/// cost (core's memchr is no faster on keys this short).
#[inline]
fn has_open_brace(s: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const PAT: u64 = LO * b'{' as u64;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        // A byte of x is zero where the chunk has a `{` (the classic
        // "has zero byte" test: exact as to whether any byte is).
        let x = u64::from_le_bytes(w) ^ PAT;
        if x.wrapping_sub(LO) & !x & HI != 0 {
            return true;
        }
    }
    chunks.remainder().contains(&b'{')
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
        }
    }
}
