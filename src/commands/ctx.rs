//! The execution context of a keyed command: the shard that owns its keys,
//! the client's selected database, the command's clock, and the reply sink.

use crate::protocol::Reply;
use crate::shard::{Db, Entry, Shard};
use crate::types::{StrVal, Value, WRONGTYPE};

pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    /// Unix ms, fixed for the whole command like Redis's cached mstime.
    pub now: u64,
    pub r: Reply<'a>,
    pub max_bulk: usize,
}

/// The error reply has already been written (e.g. WRONGTYPE).
#[derive(Debug)]
pub struct Replied;

pub const ERR_NOT_INT: &str = "ERR value is not an integer or out of range";
pub const ERR_SYNTAX: &str = "ERR syntax error";
pub const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";

impl<'a> Ctx<'a> {
    /// Raise a keyspace notification for `key` of the client's database.
    #[inline]
    pub fn notify(&self, class: u32, event: &'static str, key: &[u8]) {
        crate::notify::notify(class, event, self.db, key);
    }

    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.shard.dbs[self.db]
    }

    /// Look a key up, applying lazy expiry and counting hits/misses.
    #[inline]
    pub fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let Shard { dbs, stats, .. } = &mut *self.shard;
        let found = dbs[self.db].get(key, self.now, stats);
        stats.count_read(found.is_some(), self.db, key);
        found
    }

    /// Look up without touching hit/miss statistics (existence checks, writes).
    #[inline]
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let Shard { dbs, stats, .. } = &mut *self.shard;
        dbs[self.db].get(key, self.now, stats)
    }

    /// Look up without counting as an access (TYPE, EXISTS, TTL & co, as
    /// Redis's LOOKUP_NOTOUCH): the key's idle time and LFU counter stay.
    #[inline]
    pub fn lookup_untouched(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let Shard { dbs, stats, .. } = &mut *self.shard;
        dbs[self.db]
            .get_untouched(key, self.now, stats)
            .map(|(e, _)| e)
    }

    /// A string value, `Ok(None)` if missing, `Err` (already replied) on a
    /// wrong type.
    pub fn lookup_str(&mut self, key: &[u8]) -> Result<Option<&mut StrVal>, Replied> {
        lookup_str(self.shard, self.db, self.now, key, &mut self.r)
    }

    /// `lookup_str` for a command that writes the key (APPEND, INCR,
    /// SETRANGE...): as Redis's lookupKeyWrite, no hit or miss is counted
    /// and no keymiss event raised.
    pub fn lookup_str_write(&mut self, key: &[u8]) -> Result<Option<&mut StrVal>, Replied> {
        lookup_str_as(self.shard, self.db, self.now, key, &mut self.r, false)
    }

    pub fn reply_str(&mut self, s: &StrVal) {
        reply_str(&mut self.r, s)
    }
}

/// Parse an integer argument as Redis's getLongLongFromObject does.
pub fn arg_i64(a: &[u8]) -> Option<i64> {
    crate::protocol::parse_i64(a)
}

/// Parse a float argument like Redis's string2ld: no surrounding spaces,
/// no empty string, "inf"/"-inf" accepted, NaN rejected.
pub fn arg_f64(a: &[u8]) -> Option<f64> {
    if a.is_empty() || a[0].is_ascii_whitespace() || a[a.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(a).ok()?;
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

pub fn eq_ic(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

pub fn reply_str(r: &mut Reply, s: &StrVal) {
    match s {
        StrVal::Int(v) => r.bulk_int(*v),
        StrVal::Inline(n, b) => r.bulk(&b[..*n as usize]),
        StrVal::Emb(b) => r.bulk(b),
        StrVal::Raw(b) => r.bulk(b),
    }
}

/// Field-level form of `Ctx::lookup_str`, so a caller can hold the value and
/// write the reply at the same time.
#[inline]
pub fn lookup_str<'s>(
    shard: &'s mut Shard,
    db: usize,
    now: u64,
    key: &[u8],
    r: &mut Reply,
) -> Result<Option<&'s mut StrVal>, Replied> {
    lookup_str_as(shard, db, now, key, r, true)
}

/// `lookup_str`, counting the lookup as a read (`read`) or not.
#[inline]
pub fn lookup_str_as<'s>(
    shard: &'s mut Shard,
    db: usize,
    now: u64,
    key: &[u8],
    r: &mut Reply,
    read: bool,
) -> Result<Option<&'s mut StrVal>, Replied> {
    let Shard { dbs, stats, .. } = shard;
    let found = dbs[db].get(key, now, stats);
    if read {
        stats.count_read(found.is_some(), db, key);
    }
    match found {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Str(s) => Ok(Some(s)),
            #[allow(unreachable_patterns)]
            _ => {
                r.error(WRONGTYPE);
                Err(Replied)
            }
        },
    }
}
