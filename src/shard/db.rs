//! One logical database of one shard: the key → value table and the set of
//! keys carrying a TTL (sampled by the active expiry cycle, like Redis's
//! `expires` dict).
//!
//! The table is an `IndexMap`: entries sit in a dense vector, so a random key
//! (RANDOMKEY, expiry sampling) is O(1), and SCAN can walk indices downward
//! with the guarantee Redis gives: `swap_remove` only ever moves the last
//! entry (already visited by a downward walk) into a lower slot, and inserts
//! append at the end, so every key present for the whole scan is returned.

use crate::types::Value;
use indexmap::{IndexMap, IndexSet};

pub type Hasher = foldhash::fast::RandomState;
/// Keys of up to 16 bytes (e.g. redis-benchmark's `key:000000012345`) live
/// inside the entry, so a lookup compares them without another cache miss
/// and without an allocation; longer keys spill to the heap.
pub type Key = smallvec::SmallVec<[u8; 16]>;

pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 = persistent.
    pub expire_at: u64,
}

#[derive(Default)]
pub struct DbStats {
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

pub struct Db {
    map: IndexMap<Key, Entry, Hasher>,
    expires: IndexSet<Key, Hasher>,
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

impl Db {
    pub fn new() -> Db {
        Db {
            map: IndexMap::with_hasher(Hasher::default()),
            expires: IndexSet::with_hasher(Hasher::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// Look a key up, deleting it first if its TTL has passed (lazy expiry).
    #[inline]
    pub fn get(&mut self, key: &[u8], now: u64, stats: &mut DbStats) -> Option<&mut Entry> {
        let idx = self.map.get_index_of(key)?;
        let expire_at = self.map[idx].expire_at;
        if expire_at != 0 && expire_at <= now {
            self.remove_at(idx);
            stats.expired_keys += 1;
            return None;
        }
        self.map.get_index_mut(idx).map(|(_, e)| e)
    }

    /// Read-only look-up that does not apply expiry: for commands that need
    /// several values borrowed at once (ZUNION...), after `get` has expired
    /// each key.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Look up without counting expiry as a modification (used for checks
    /// that must not observe expired keys either).
    pub fn contains(&mut self, key: &[u8], now: u64, stats: &mut DbStats) -> bool {
        self.get(key, now, stats).is_some()
    }

    /// Insert or overwrite, setting the TTL to `expire_at` (0 = none).
    pub fn set(&mut self, key: &[u8], value: Value, expire_at: u64) {
        match self.map.get_index_of(key) {
            Some(idx) => {
                let e = &mut self.map[idx];
                let had = e.expire_at != 0;
                e.value = value;
                e.expire_at = expire_at;
                self.sync_expire(key, had, expire_at != 0);
            }
            None => {
                self.map
                    .insert(Key::from_slice(key), Entry { value, expire_at });
                if expire_at != 0 {
                    self.expires.insert(Key::from_slice(key));
                }
            }
        }
    }

    /// Overwrite the value only, keeping any TTL (KEEPTTL, SETRANGE...).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        match self.map.get_mut(key) {
            Some(e) => e.value = value,
            None => {
                self.map.insert(
                    key.into(),
                    Entry {
                        value,
                        expire_at: 0,
                    },
                );
            }
        }
    }

    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        let had = e.expire_at != 0;
        e.expire_at = expire_at;
        self.sync_expire(key, had, expire_at != 0);
        true
    }

    fn sync_expire(&mut self, key: &[u8], had: bool, has: bool) {
        if had && !has {
            self.expires.swap_remove(key);
        } else if has && !had {
            self.expires.insert(Key::from_slice(key));
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (_, e) = self.map.swap_remove_entry(key)?;
        if e.expire_at != 0 {
            self.expires.swap_remove(key);
        }
        Some(e)
    }

    fn remove_at(&mut self, idx: usize) {
        if let Some((k, e)) = self.map.swap_remove_index(idx) {
            if e.expire_at != 0 {
                self.expires.swap_remove(&k);
            }
        }
    }

    pub fn clear(&mut self) {
        self.map = IndexMap::with_hasher(Hasher::default());
        self.expires = IndexSet::with_hasher(Hasher::default());
    }

    /// A random live key (expired ones met on the way are deleted).
    pub fn random_key(&mut self, now: u64, stats: &mut DbStats) -> Option<Vec<u8>> {
        for _ in 0..100 {
            if self.map.is_empty() {
                return None;
            }
            let idx = fastrand::usize(..self.map.len());
            let (k, e) = self.map.get_index(idx)?;
            if e.expire_at != 0 && e.expire_at <= now {
                self.remove_at(idx);
                stats.expired_keys += 1;
                continue;
            }
            return Some(k.to_vec());
        }
        // Almost everything is expired: fall back to a linear pass.
        self.map
            .iter()
            .find(|(_, e)| e.expire_at == 0 || e.expire_at > now)
            .map(|(k, _)| k.to_vec())
    }

    /// One round of active expiry: sample up to `samples` keys with a TTL and
    /// delete the expired ones. Returns (sampled, expired).
    pub fn expire_sample(&mut self, samples: usize, now: u64) -> (usize, usize) {
        let mut expired = 0;
        let n = samples.min(self.expires.len());
        for _ in 0..n {
            let len = self.expires.len();
            if len == 0 {
                break;
            }
            let i = fastrand::usize(..len);
            let Some(key) = self.expires.get_index(i) else {
                break;
            };
            let due = match self.map.get(&key[..]) {
                Some(e) => e.expire_at != 0 && e.expire_at <= now,
                None => true,
            };
            if due {
                let key: Key = key.clone();
                self.remove(&key);
                self.expires.swap_remove(&key);
                expired += 1;
            }
        }
        (n, expired)
    }

    /// SCAN step: walk indices downward from `pos` (0 = start at the end),
    /// visiting up to `count` entries. Returns the next position (0 = done).
    pub fn scan(
        &mut self,
        pos: u64,
        count: usize,
        now: u64,
        mut visit: impl FnMut(&[u8], &Entry),
    ) -> u64 {
        let len = self.map.len() as u64;
        let mut i = if pos == 0 || pos > len { len } else { pos };
        let mut seen = 0;
        while i > 0 && seen < count {
            i -= 1;
            seen += 1;
            if let Some((k, e)) = self.map.get_index(i as usize) {
                if e.expire_at == 0 || e.expire_at > now {
                    visit(k, e);
                }
            }
        }
        i
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter()
    }
}
