//! Redis Cluster's key → slot function: CRC16-CCITT (XMODEM) of the key, or of
//! its `{hash tag}`, mod 16384. Keys sharing a hash tag share a slot and so a
//! shard, which keeps multi-key work on them local.

pub const SLOTS: u16 = 16384;

/// Slice-by-16 tables: a 16-byte key (redis-benchmark's `key:000000012345`)
/// is 16 independent table loads instead of a chain of 16 dependent ones.
/// Routing computes this for every keyed command when there are several
/// shards, so the byte-at-a-time loop showed up at ~4% of a reactor's time.
static CRC16: crc::Crc<u16, crc::Table<16>> =
    crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_XMODEM);

#[inline]
pub fn crc16(data: &[u8]) -> u16 {
    CRC16.checksum(data)
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
