//! A key of one database as one byte string (the database index, 4 bytes
//! big-endian, then the key): how blocked clients' waits name their keys,
//! both on the wire (`Msg::BlockOn`) and in `Shard::waiters`.

use crate::tx::OwnedArgs;

pub fn db_key(db: usize, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    k.extend_from_slice(&(db as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The database and user key of a db key.
pub fn split_db_key(k: &[u8]) -> Option<(usize, &[u8])> {
    let (db, key) = k.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*db) as usize, key))
}

/// Add `key` of `db` to its shard's group (groups in first-seen order).
pub fn group_db_key(groups: &mut Vec<(usize, OwnedArgs)>, nshards: usize, db: usize, key: &[u8]) {
    let s = super::slot::key_shard(key, nshards);
    let k = db_key(db, key);
    match groups.iter_mut().find(|(x, _)| *x == s) {
        Some((_, keys)) => keys.push(&k),
        None => {
            let mut keys = OwnedArgs::new();
            keys.push(&k);
            groups.push((s, keys));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let k = db_key(7, b"user:1");
        assert_eq!(split_db_key(&k), Some((7, &b"user:1"[..])));
        assert_eq!(split_db_key(b"ab"), None);
    }
}
