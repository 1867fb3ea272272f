//! Helpers shared by the collection commands (hashes, sets): typed lookups
//! that hand back the value together with the reply sink, the options of
//! HSCAN/SSCAN, and Redis's range-checked count arguments.

use super::ctx::{arg_i64, eq_ic, Ctx, ERR_NOT_INT, ERR_SYNTAX};
use crate::protocol::{Args, Reply};
use crate::shard::{Entry, Shard};
use crate::types::{HashVal, SetVal, Value, WRONGTYPE};

/// Marker: the key holds another type (the caller replies WRONGTYPE).
pub struct WrongType;

/// Look a key up (lazy expiry; `read` lookups count keyspace hits and
/// misses like Redis's lookupKeyRead) and return the entry with the reply
/// sink, so a handler can hold the value while writing the reply.
pub fn entry<'c, 'a>(
    c: &'c mut Ctx<'a>,
    key: &[u8],
    read: bool,
) -> (Option<&'c mut Entry>, &'c mut Reply<'a>) {
    let Shard { dbs, stats, .. } = &mut *c.shard;
    let e = dbs[c.db].get(key, c.now, stats);
    if read {
        stats.count_read(e.is_some(), c.db, key);
    }
    (e, &mut c.r)
}

/// The entry at `key`, created with `make()` if missing, with the reply sink.
pub fn entry_or_insert<'c, 'a>(
    c: &'c mut Ctx<'a>,
    key: &[u8],
    make: impl FnOnce() -> Value,
) -> (&'c mut Entry, &'c mut Reply<'a>) {
    let Shard { dbs, stats, .. } = &mut *c.shard;
    let e = dbs[c.db].get_or_insert_with(key, c.now, stats, make);
    (e, &mut c.r)
}

pub fn as_hash(e: Option<&mut Entry>) -> Result<Option<&mut HashVal>, WrongType> {
    match e.map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(WrongType),
    }
}

pub fn as_set(e: Option<&mut Entry>) -> Result<Option<&mut SetVal>, WrongType> {
    match e.map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(WrongType),
    }
}

/// The hash at `key`, created empty if missing (hashTypeLookupWriteOrCreate).
/// Replies WRONGTYPE and returns None for another type. A caller that can
/// fail after this must not leave the new hash empty.
pub fn hash_or_create<'c, 'a>(
    c: &'c mut Ctx<'a>,
    key: &[u8],
) -> Option<(&'c mut HashVal, &'c mut Reply<'a>)> {
    let (e, r) = entry_or_insert(c, key, || Value::Hash(HashVal::default()));
    match &mut e.value {
        Value::Hash(h) => Some((h, r)),
        _ => {
            r.error(WRONGTYPE);
            None
        }
    }
}

/// HSCAN/SSCAN cursor, parsed like Redis's parseScanCursorOrReply: strtoul
/// without leading spaces, so a sign is accepted (a negative cursor wraps
/// around), overflow is an error, and an empty string is cursor 0.
pub fn scan_cursor(a: &[u8]) -> Option<u64> {
    let (neg, digits) = match a.first() {
        None => return Some(0),
        Some(b'-') => (true, &a[1..]),
        Some(b'+') => (false, &a[1..]),
        Some(_) => (false, a),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

pub struct ScanOpts<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
}

impl ScanOpts<'_> {
    pub fn matches(&self, s: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| crate::shard::pattern::glob_match(p, s, false))
    }
}

/// COUNT/MATCH options from argument `from` on (scanGenericCommand; TYPE
/// only exists for SCAN).
pub fn scan_opts(a: Args<'_>, from: usize) -> Result<ScanOpts<'_>, &'static str> {
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut i = from;
    while i < a.len() {
        let has_value = i + 1 < a.len();
        if eq_ic(a.get(i), "count") && has_value {
            match arg_i64(a.get(i + 1)) {
                Some(n) if n >= 1 => o.count = n as usize,
                Some(_) => return Err(ERR_SYNTAX),
                None => return Err(ERR_NOT_INT),
            }
        } else if eq_ic(a.get(i), "match") && has_value {
            let p = a.get(i + 1);
            // "*" matches everything: same as no pattern.
            o.pattern = if p == b"*" { None } else { Some(p) };
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 2;
    }
    Ok(o)
}

/// Reply header of a SCAN-family reply: [cursor, [n elements...]].
pub fn scan_reply_header(r: &mut Reply, cursor: u64, n: usize) {
    r.array(2);
    r.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    r.array(n);
}

/// getRangeLongFromObjectOrReply with Redis's messages.
pub fn range_long(a: &[u8], min: i64, max: i64) -> Result<i64, String> {
    match arg_i64(a) {
        None => Err(ERR_NOT_INT.to_string()),
        Some(v) if v < min || v > max => Err(format!(
            "ERR value is out of range, value must between {min} and {max}"
        )),
        Some(v) => Ok(v),
    }
}

/// getPositiveLongFromObjectOrReply: any failure gives `msg` (Redis passes
/// the message to the integer parse too).
pub fn positive_long(a: &[u8], msg: &str) -> Result<i64, String> {
    match arg_i64(a) {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(msg.to_string()),
    }
}

/// Replies of random-member commands are built in memory before they are
/// sent; a count whose reply could not be held is refused. (Redis would
/// start writing it and run out of memory or get the client killed.)
pub const MAX_RANDOM_REPLY: u64 = 1 << 27;
