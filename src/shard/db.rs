//! One logical database of one shard: the key → value table and the set of
//! keys carrying a TTL (sampled by the active expiry cycle, like Redis's
//! `expires` dict).
//!
//! The table is a `KeyTable` (see there): entries sit in a dense vector, so
//! a random key (RANDOMKEY, expiry sampling) is O(1), and SCAN can walk
//! indices downward with the guarantee Redis gives: `swap_remove` only ever
//! moves the last entry (already visited by a downward walk) into a lower
//! slot, and inserts append at the end, so every key present for the whole
//! scan is returned.

use super::keytable::KeyTable;
pub use super::keytable::{Hasher, Key};
use crate::types::Value;
use indexmap::IndexSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Weak;

pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 = persistent.
    pub expire_at: u64,
}

#[derive(Default)]
pub struct DbStats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

impl DbStats {
    /// A read lookup of `key` in database `db` (Redis's lookupKeyRead):
    /// a hit or a miss, and a miss raises `keymiss`.
    #[inline]
    pub fn count_read(&mut self, found: bool, db: usize, key: &[u8]) {
        if found {
            self.keyspace_hits += 1;
        } else {
            self.keyspace_misses += 1;
            crate::notify::key_miss(db, key);
        }
    }
}

pub struct Db {
    map: KeyTable<Entry>,
    expires: IndexSet<Key, Hasher>,
    /// WATCHed keys → the flags of the clients watching them. Raised (and
    /// dropped) on any change to the key; empty in the common case, so a
    /// write pays one branch.
    watched: hashbrown::HashMap<Key, Vec<Watcher>>,
    /// Keys deleted by expiry or eviction, kept while replicas must be
    /// told (None otherwise: nothing is kept).
    deleted: Option<Vec<Key>>,
    /// This database's number, for the keyspace notifications raised here
    /// (expiry, key creation); kept right across SWAPDB. `QUIET` in the
    /// scratch shard, whose keys are copies.
    pub id: usize,
}

/// A client watching a key. `stale`: the key was already logically expired
/// when WATCH ran; its deletion then is not a change (Redis 7.0 semantics).
struct Watcher {
    flag: Weak<AtomicBool>,
    stale: bool,
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

impl Db {
    /// The `id` of a database whose changes raise no notifications.
    pub const QUIET: usize = usize::MAX;

    #[inline]
    fn raise(&self, class: u32, event: &'static str, key: &[u8]) {
        if self.id != Self::QUIET {
            crate::notify::notify(class, event, self.id, key);
        }
    }

    pub fn new() -> Db {
        Db {
            map: KeyTable::new(),
            expires: IndexSet::with_hasher(Hasher::default()),
            watched: hashbrown::HashMap::new(),
            deleted: None,
            id: 0,
        }
    }

    /// Keep (or stop keeping) the keys expiry and eviction delete, for
    /// the replication stream.
    pub fn log_deletions(&mut self, on: bool) {
        match (on, self.deleted.is_some()) {
            (true, false) => self.deleted = Some(Vec::new()),
            (false, true) => self.deleted = None,
            _ => {}
        }
    }

    /// The keys expiry and eviction deleted since the last call.
    pub fn take_deleted(&mut self) -> Vec<Key> {
        match self.deleted.as_mut() {
            Some(v) if !v.is_empty() => std::mem::take(v),
            _ => Vec::new(),
        }
    }

    /// A key went away without a command deleting it (expiry, eviction).
    pub fn note_deleted(&mut self, key: &[u8]) {
        if let Some(v) = self.deleted.as_mut() {
            v.push(Key::from_slice(key));
        }
    }

    pub fn watch(&mut self, key: &[u8], flag: Weak<AtomicBool>, now: u64) {
        let stale = self.is_expired(key, now);
        self.watched
            .entry(Key::from_slice(key))
            .or_default()
            .push(Watcher { flag, stale });
    }

    /// Present but past its TTL (not yet deleted).
    fn is_expired(&self, key: &[u8], now: u64) -> bool {
        self.map
            .get(key)
            .is_some_and(|e| e.expire_at != 0 && e.expire_at <= now)
    }

    /// EXEC: has a key this client watched (live at WATCH time) expired since?
    pub fn watched_key_expired(&self, key: &[u8], flag: &Weak<AtomicBool>, now: u64) -> bool {
        let stale = self
            .watched
            .get(key)
            .and_then(|l| l.iter().find(|w| w.flag.ptr_eq(flag)))
            .is_some_and(|w| w.stale);
        !stale && self.is_expired(key, now)
    }

    /// A key changed (called after the change): invalidate every
    /// transaction watching it, except where a stale key was merely deleted.
    /// Also tells the clients tracking it (`crate::tracking`).
    #[inline]
    pub fn touch(&mut self, key: &[u8]) {
        if self.watched.is_empty() && !crate::tracking::any() {
            return;
        }
        self.touch_signal(key);
    }

    #[inline(never)]
    fn touch_signal(&mut self, key: &[u8]) {
        if self.id != Self::QUIET {
            crate::tracking::modified(key);
        }
        let Some(list) = self.watched.remove(key) else {
            return;
        };
        let gone = !self.map.contains_key(key);
        let mut keep = Vec::new();
        for w in list {
            if w.stale && gone {
                keep.push(Watcher {
                    flag: w.flag,
                    stale: false,
                });
            } else if let Some(f) = w.flag.upgrade() {
                f.store(true, Ordering::Release);
            }
        }
        if !keep.is_empty() {
            self.watched.insert(Key::from_slice(key), keep);
        }
    }

    #[inline]
    /// Whether a change must be signalled (`touch`): a WATCH, or a key
    /// of this shard tracked by a client (`crate::tracking`).
    pub fn signals_changes(&self) -> bool {
        !self.watched.is_empty() || crate::tracking::any()
    }

    fn watched_keys(&self) -> Vec<Key> {
        self.watched.keys().cloned().collect()
    }

    /// Drop watches of clients that are gone or unwatched (periodic).
    pub fn prune_watches(&mut self) {
        self.watched.retain(|_, v| {
            v.retain(|w| w.flag.strong_count() > 0);
            !v.is_empty()
        });
    }

    /// First step of a lookup started ahead of time (`Reactor::prefetch`).
    #[inline]
    pub fn prefetch_slot(&self, key: &[u8]) -> u64 {
        let hash = self.map.hash(key);
        self.map.prefetch_slot(hash);
        hash
    }

    /// Second step, once the slot had time to arrive.
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        self.map.prefetch_entry(hash);
    }

    /// Prefetch the keys a multi-key command is about to touch (MSET, MGET:
    /// up to 16 at a time, all slots, then all entries), so that their
    /// cache misses overlap instead of coming one after the other.
    pub fn prefetch_keys<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        let mut hashes = [0u64; 16];
        let mut keys = keys.peekable();
        while keys.peek().is_some() {
            let mut n = 0;
            for k in keys.by_ref().take(hashes.len()) {
                hashes[n] = self.prefetch_slot(k);
                n += 1;
            }
            for &h in &hashes[..n] {
                self.prefetch_entry(h);
            }
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

    /// Bytes of the key table and of the TTL index themselves (MEMORY
    /// STATS' overhead.hashtable.main and .expires).
    pub fn overhead(&self) -> (u64, u64) {
        let expires = self.expires.capacity() * (std::mem::size_of::<Key>() + 16);
        (self.map.table_bytes() as u64, expires as u64)
    }

    /// Look a key up, deleting it first if its TTL has passed (lazy expiry).
    #[inline]
    pub fn get(&mut self, key: &[u8], now: u64, stats: &mut DbStats) -> Option<&mut Entry> {
        let idx = self.live_index(key, now, stats)?;
        self.accessed(idx);
        self.map.get_index_mut(idx).map(|(_, e)| e)
    }

    /// As `get`, without counting as an access (OBJECT, like Redis's
    /// LOOKUP_NOTOUCH); also returns the key's access clock.
    pub fn get_untouched(
        &mut self,
        key: &[u8],
        now: u64,
        stats: &mut DbStats,
    ) -> Option<(&mut Entry, u32)> {
        let idx = self.live_index(key, now, stats)?;
        let meta = self.map.meta(idx);
        self.map.get_index_mut(idx).map(|(_, e)| (e, meta))
    }

    #[inline]
    fn live_index(&mut self, key: &[u8], now: u64, stats: &mut DbStats) -> Option<usize> {
        let idx = self.map.get_index_of(key)?;
        let expire_at = self.map[idx].expire_at;
        if expire_at != 0 && expire_at <= now {
            self.expire_on_access(idx, key, now, stats);
            return None;
        }
        Some(idx)
    }

    /// Lazy expiry of a key found past its TTL. Out of line so that the
    /// lookup above stays small enough to be inlined into every read.
    #[cold]
    #[inline(never)]
    fn expire_on_access(&mut self, idx: usize, key: &[u8], now: u64, stats: &mut DbStats) {
        // CLIENT PAUSE holds expiry: gone for readers, kept until then.
        if !crate::pause::writes_held(now) {
            self.delete_expired(idx, key, stats);
        }
    }

    /// Delete a key found past its TTL, like any other deletion: replicas
    /// and subscribers are told.
    fn delete_expired(&mut self, idx: usize, key: &[u8], stats: &mut DbStats) {
        self.note_deleted(key);
        self.remove_at(idx);
        stats.expired_keys += 1;
        self.raise(crate::notify::EXPIRED, "expired", key);
    }

    #[inline]
    fn accessed(&mut self, idx: usize) {
        if let Some(m) = self.map.meta_mut(idx) {
            *m = crate::memory::access(Some(*m));
        }
    }

    /// Overwrite a key's access record (RESTORE's IDLETIME and FREQ).
    pub fn set_meta(&mut self, key: &[u8], meta: u32) {
        if let Some(m) = self
            .map
            .get_index_of(key)
            .and_then(|i| self.map.meta_mut(i))
        {
            *m = meta;
        }
    }

    /// Read an entry without expiring it. For commands that read several
    /// keys at once (SINTER & co): they first `get` each key (lazy expiry,
    /// type check), then hold shared references to all of them.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// The live entry at `key`, inserting `make()` (without TTL) if the key
    /// is missing or expired: one probe for the common "update or create"
    /// path of HSET, SADD...
    pub fn get_or_insert_with(
        &mut self,
        key: &[u8],
        now: u64,
        stats: &mut DbStats,
        make: impl FnOnce() -> Value,
    ) -> &mut Entry {
        let hash = self.map.hash(key);
        if let Some(idx) = self.map.find(hash, key) {
            let expire_at = self.map[idx].expire_at;
            if expire_at == 0 || expire_at > now {
                self.accessed(idx);
                return &mut self.map[idx];
            }
            self.delete_expired(idx, key, stats);
        }
        let entry = Entry {
            value: make(),
            expire_at: 0,
        };
        let cap = self.map.capacity();
        let idx = self
            .map
            .push_new(hash, key, entry, crate::memory::access(None));
        self.after_insert(cap);
        self.raise(crate::notify::NEW, "new", key);
        &mut self.map[idx]
    }

    /// Look up without counting expiry as a modification (used for checks
    /// that must not observe expired keys either).
    /// Not an access either (EXISTS is LOOKUP_NOTOUCH in Redis).
    pub fn contains(&mut self, key: &[u8], now: u64, stats: &mut DbStats) -> bool {
        self.live_index(key, now, stats).is_some()
    }

    /// Create a key without signalling WATCHers (Redis's dbAdd, for a
    /// command that signals only if it then changes something: BITFIELD).
    pub fn add_quiet(&mut self, key: &[u8], value: Value) {
        self.set_inner(key, value, 0);
    }

    /// Insert or overwrite, setting the TTL to `expire_at` (0 = none).
    pub fn set(&mut self, key: &[u8], value: Value, expire_at: u64) {
        self.set_inner(key, value, expire_at);
        self.touch(key);
    }

    fn set_inner(&mut self, key: &[u8], value: Value, expire_at: u64) {
        let hash = self.map.hash(key);
        match self.map.find(hash, key) {
            Some(idx) => {
                self.accessed(idx);
                let e = &mut self.map[idx];
                let had = e.expire_at != 0;
                e.value = value;
                e.expire_at = expire_at;
                self.sync_expire(key, had, expire_at != 0);
            }
            None => {
                let cap = self.map.capacity();
                self.map.push_new(
                    hash,
                    key,
                    Entry { value, expire_at },
                    crate::memory::access(None),
                );
                self.after_insert(cap);
                if expire_at != 0 {
                    self.expires.insert(Key::from_slice(key));
                }
                self.raise(crate::notify::NEW, "new", key);
            }
        }
    }

    /// After an insert into a table that had capacity `before`: if a big
    /// table was just reallocated, hand its old memory back (`alloc`).
    fn after_insert(&self, before: usize) {
        // 16k entries of 64 bytes plus slots: about a megabyte freed.
        if before >= 1 << 14 && self.map.capacity() > before {
            let _ = crate::alloc::release_freed_pages();
        }
    }

    /// Overwrite the value only, keeping any TTL (KEEPTTL, SETRANGE...).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        let exp = self.map.get(key).map_or(0, |e| e.expire_at);
        self.set_inner(key, value, exp);
        self.touch(key);
    }

    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
        let had = e.expire_at != 0;
        e.expire_at = expire_at;
        self.sync_expire(key, had, expire_at != 0);
        self.touch(key);
        true
    }

    /// Inlined to one comparison at every write: a write that neither
    /// sets nor clears a TTL (most of them) must not pay a call; out of
    /// line, this was ~16 instructions a key of an MSET.
    #[inline(always)]
    fn sync_expire(&mut self, key: &[u8], had: bool, has: bool) {
        if had != has {
            self.change_expire(key, has);
        }
    }

    fn change_expire(&mut self, key: &[u8], has: bool) {
        if has {
            self.expires.insert(Key::from_slice(key));
        } else {
            self.expires.swap_remove(key);
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (_, e) = self.map.swap_remove_entry(key)?;
        if e.expire_at != 0 {
            self.expires.swap_remove(key);
        }
        self.touch(key);
        Some(e)
    }

    fn remove_at(&mut self, idx: usize) {
        if let Some((k, e)) = self.map.swap_remove_index(idx) {
            if e.expire_at != 0 {
                self.expires.swap_remove(&k);
            }
            self.touch(&k);
        }
    }

    /// FLUSHDB: watched keys that existed change (stale ones merely vanish).
    pub fn clear(&mut self) {
        let existed: Vec<Key> = self
            .watched_keys()
            .into_iter()
            .filter(|k| self.map.contains_key(&k[..]))
            .collect();
        self.map = KeyTable::new();
        self.expires = IndexSet::with_hasher(Hasher::default());
        for k in existed {
            self.touch(&k);
        }
    }

    /// SWAPDB, for the watchers of database `self` whose contents are
    /// replaced by `other`'s (Redis's touchAllWatchedKeysInDb rules).
    pub fn touch_swapped(&mut self, other: &Db, now: u64) {
        for k in self.watched_keys() {
            let here = self.map.contains_key(&k[..]);
            let there = other.map.contains_key(&k[..]);
            if !here && !there {
                continue;
            }
            let there_expired = other.is_expired(&k, now);
            let Some(list) = self.watched.remove(&k[..]) else {
                continue;
            };
            let mut keep = Vec::new();
            for w in list {
                if w.stale {
                    if !there {
                        keep.push(Watcher {
                            flag: w.flag,
                            stale: false,
                        });
                        continue;
                    } else if there_expired {
                        keep.push(w);
                        continue;
                    }
                } else if !here && there_expired {
                    keep.push(Watcher {
                        flag: w.flag,
                        stale: true,
                    });
                    continue;
                }
                if let Some(f) = w.flag.upgrade() {
                    f.store(true, Ordering::Release);
                }
            }
            if !keep.is_empty() {
                self.watched.insert(k, keep);
            }
        }
    }

    /// After SWAPDB the watch lists stay with the database index.
    pub fn swap_watches(&mut self, other: &mut Db) {
        std::mem::swap(&mut self.watched, &mut other.watched);
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
                if crate::pause::writes_held(now) {
                    continue;
                }
                let k = Key::from_slice(k);
                self.delete_expired(idx, &k, stats);
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
                self.note_deleted(&key);
                self.remove(&key);
                self.expires.swap_remove(&key);
                expired += 1;
                self.raise(crate::notify::EXPIRED, "expired", &key);
            }
        }
        (n, expired)
    }

    /// maxmemory: sample `samples` keys (only keys with a TTL for the
    /// volatile policies) and return the best one to evict with its rank
    /// (lower goes first), like Redis's sampled approximation of LRU/LFU.
    pub fn eviction_candidate(
        &self,
        policy: crate::memory::Policy,
        samples: usize,
    ) -> Option<(u64, Key)> {
        use crate::memory::{decayed_counter, idle_secs, Policy};
        let pool = if policy.volatile() {
            self.expires.len()
        } else {
            self.map.len()
        };
        if pool == 0 {
            return None;
        }
        let mut best: Option<(u64, usize)> = None;
        for _ in 0..samples.min(pool) {
            let r = fastrand::usize(..pool);
            let idx = if policy.volatile() {
                let Some(k) = self.expires.get_index(r) else {
                    continue;
                };
                let Some(i) = self.map.get_index_of(k) else {
                    continue;
                };
                i
            } else {
                r
            };
            let meta = self.map.meta(idx);
            let rank = match policy {
                Policy::AllKeysLru | Policy::VolatileLru => u64::MAX - idle_secs(meta),
                Policy::AllKeysLfu | Policy::VolatileLfu => {
                    ((decayed_counter(meta) as u64) << 32) | (u32::MAX as u64 - idle_secs(meta))
                }
                Policy::VolatileTtl => self.map[idx].expire_at,
                Policy::AllKeysRandom | Policy::VolatileRandom | Policy::NoEviction => {
                    fastrand::u64(..)
                }
            };
            if best.is_none_or(|(b, _)| rank < b) {
                best = Some((rank, idx));
            }
        }
        let (rank, idx) = best?;
        self.map.get_index(idx).map(|(k, _)| (rank, k.clone()))
    }

    /// SCAN step: walk indices downward from `pos` (0 = start at the end),
    /// visiting up to `count` entries. Returns the next position (0 = done).
    pub fn scan(
        &mut self,
        pos: u64,
        count: usize,
        now: u64,
        stats: &mut DbStats,
        mut visit: impl FnMut(&[u8], &Entry),
    ) -> u64 {
        let len = self.map.len() as u64;
        let mut i = if pos == 0 || pos > len { len } else { pos };
        let mut seen = 0;
        while i > 0 && seen < count {
            i -= 1;
            seen += 1;
            let Some((k, e)) = self.map.get_index(i as usize) else {
                continue;
            };
            if e.expire_at == 0 || e.expire_at > now {
                visit(k, e);
            } else if !crate::pause::writes_held(now) {
                // Expired: deleted as Redis's SCAN does (its DEL reaches
                // replicas). Safe while walking down: the entry moved into
                // this index comes from above it, already visited.
                let k = Key::from_slice(k);
                self.delete_expired(i as usize, &k, stats);
            }
        }
        i
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter()
    }
}
