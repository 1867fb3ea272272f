//! Encoding thresholds of the collection types (CONFIG SET-able). Read on
//! every write to a small collection, so they are atomics rather than a
//! lock on the config.

use std::sync::atomic::{AtomicI64, Ordering};

pub struct Limits {
    pub list_max_listpack_size: AtomicI64,
    pub hash_max_listpack_entries: AtomicI64,
    pub hash_max_listpack_value: AtomicI64,
    pub set_max_intset_entries: AtomicI64,
    pub zset_max_listpack_entries: AtomicI64,
    pub zset_max_listpack_value: AtomicI64,
    pub hll_sparse_max_bytes: AtomicI64,
}

pub static LIMITS: Limits = Limits {
    list_max_listpack_size: AtomicI64::new(-2),
    hash_max_listpack_entries: AtomicI64::new(512),
    hash_max_listpack_value: AtomicI64::new(64),
    set_max_intset_entries: AtomicI64::new(512),
    zset_max_listpack_entries: AtomicI64::new(128),
    zset_max_listpack_value: AtomicI64::new(64),
    hll_sparse_max_bytes: AtomicI64::new(3000),
};

impl Limits {
    #[inline]
    pub fn get(a: &AtomicI64) -> i64 {
        a.load(Ordering::Relaxed)
    }

    /// Mirror a (canonical) config name/value into the atomics; other
    /// names are ignored.
    pub fn apply(name: &str, value: &str) {
        let Ok(v) = value.parse::<i64>() else { return };
        let a = match name {
            "list-max-listpack-size" => &LIMITS.list_max_listpack_size,
            "hash-max-listpack-entries" => &LIMITS.hash_max_listpack_entries,
            "hash-max-listpack-value" => &LIMITS.hash_max_listpack_value,
            "set-max-intset-entries" => &LIMITS.set_max_intset_entries,
            "zset-max-listpack-entries" => &LIMITS.zset_max_listpack_entries,
            "zset-max-listpack-value" => &LIMITS.zset_max_listpack_value,
            "hll-sparse-max-bytes" => &LIMITS.hll_sparse_max_bytes,
            _ => return,
        };
        a.store(v, Ordering::Relaxed);
    }
}
