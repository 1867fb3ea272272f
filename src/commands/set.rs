//! Set commands (Redis's t_set.c). Multi-key commands run on one shard: the
//! table's key positions route them there, and keys on several shards are
//! gathered onto one under locks by the reactor.

use super::coll::{
    as_set, entry, entry_or_insert, positive_long, range_long, scan_cursor, scan_opts,
    scan_reply_header, MAX_RANDOM_REPLY,
};
use super::ctx::{Ctx, ERR_SYNTAX};
use crate::notify::{GENERIC, SET};
use crate::protocol::{Args, Reply};
use crate::shard::{Db, Entry};
use crate::types::set::{self, sample_distinct, Member, SetVal};
use crate::types::{Value, WRONGTYPE};

/// Look up the set at `$key`; on a missing key run `$missing` (with the
/// reply sink bound to `$r`) and return; on a wrong type reply WRONGTYPE.
macro_rules! get_set {
    ($c:expr, $key:expr, $read:expr, $r:ident, $missing:expr) => {{
        let (e, r) = entry($c, $key, $read);
        match as_set(e) {
            Ok(Some(s)) => (s, r),
            Ok(None) => {
                let $r = r;
                return $missing;
            }
            Err(_) => return r.error(WRONGTYPE),
        }
    }};
}

fn reply_member(r: &mut Reply, m: Member) {
    match m {
        Member::Int(v) => r.bulk_int(v),
        Member::Bytes(b) => r.bulk(b),
    }
}

pub fn sadd(c: &mut Ctx, a: Args) {
    let first = a.get(2);
    let (e, r) = entry_or_insert(c, a.get(1), || {
        Value::Set(Box::new(SetVal::for_member(first)))
    });
    let Value::Set(s) = &mut e.value else {
        return r.error(WRONGTYPE);
    };
    let mut added = 0;
    for m in a.iter().skip(2) {
        if s.insert(m) {
            added += 1;
        }
    }
    r.int(added);
    if added > 0 {
        c.notify(SET, "sadd", a.get(1));
    }
}

pub fn srem(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    let (s, r) = get_set!(c, key, false, r, r.int(0));
    let mut deleted = 0;
    for m in a.iter().skip(2) {
        if s.remove(m) {
            deleted += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let empty = s.is_empty();
    r.int(deleted);
    if deleted > 0 {
        c.notify(SET, "srem", key);
    }
    if empty {
        c.db().remove(key);
        c.notify(GENERIC, "del", key);
    }
}

pub fn scard(c: &mut Ctx, a: Args) {
    let (s, r) = get_set!(c, a.get(1), true, r, r.int(0));
    r.int(s.len() as i64);
}

pub fn sismember(c: &mut Ctx, a: Args) {
    let (s, r) = get_set!(c, a.get(1), true, r, r.int(0));
    r.int(s.contains(a.get(2)) as i64);
}

pub fn smismember(c: &mut Ctx, a: Args) {
    let (e, r) = entry(c, a.get(1), true);
    // A missing key is an empty set: a zero per member.
    let s = match as_set(e) {
        Ok(s) => s,
        Err(_) => return r.error(WRONGTYPE),
    };
    r.array(a.len() - 2);
    for m in a.iter().skip(2) {
        r.int(s.as_ref().is_some_and(|s| s.contains(m)) as i64);
    }
}

/// SMEMBERS: SINTER of one key in Redis; served directly.
pub fn smembers(c: &mut Ctx, a: Args) {
    let (s, r) = get_set!(c, a.get(1), true, r, r.set(0));
    r.set(s.len());
    for m in s.iter() {
        reply_member(r, m);
    }
}

pub fn spop(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    if a.len() > 3 {
        return c.r.error(ERR_SYNTAX);
    }
    if a.len() == 3 {
        return spop_count(c, a);
    }
    let (s, r) = get_set!(c, key, false, r, r.null());
    let i = fastrand::usize(..s.len().max(1));
    if let Some(m) = s.take_index(i) {
        r.bulk(&m);
    }
    let empty = s.is_empty();
    c.notify(SET, "spop", key);
    if empty {
        c.db().remove(key);
        c.notify(GENERIC, "del", key);
    }
}

fn spop_count(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    let count = match positive_long(a.get(2), "ERR value is out of range, must be positive") {
        Ok(n) => n as u64,
        Err(e) => return c.r.error(&e),
    };
    let (s, r) = get_set!(c, key, false, r, r.set(0));
    if count == 0 {
        return r.set(0);
    }
    // All of it: reply with the whole set and delete the key.
    if count >= s.len() as u64 {
        r.set(s.len());
        for m in s.iter() {
            reply_member(r, m);
        }
        c.db().remove(key);
        c.notify(SET, "spop", key);
        c.notify(GENERIC, "del", key);
        return;
    }
    let popped = s.pop_random(count as usize);
    r.set(popped.len());
    for m in &popped {
        r.bulk(m);
    }
    c.notify(SET, "spop", key);
}

pub fn srandmember(c: &mut Ctx, a: Args) {
    if a.len() > 3 {
        return c.r.error(ERR_SYNTAX);
    }
    if a.len() == 2 {
        let (s, r) = get_set!(c, a.get(1), true, r, r.null());
        if let Some(m) = s.random() {
            reply_member(r, m);
        }
        return;
    }
    let l = match range_long(a.get(2), -i64::MAX, i64::MAX) {
        Ok(v) => v,
        Err(e) => return c.r.error(&e),
    };
    if l.unsigned_abs() > MAX_RANDOM_REPLY {
        return c.r.error("ERR value is out of range");
    }
    let (s, r) = get_set!(c, a.get(1), true, r, r.array(0));
    let count = l.unsigned_abs() as usize;
    let size = s.len();
    if count == 0 {
        return r.array(0);
    }
    // Negative count: independent draws, repeats allowed.
    if l < 0 || count == 1 {
        r.array(count);
        for _ in 0..count {
            if let Some(m) = s.random() {
                reply_member(r, m);
            }
        }
        return;
    }
    if count >= size {
        r.array(size);
        for m in s.iter() {
            reply_member(r, m);
        }
        return;
    }
    r.array(count);
    for i in sample_distinct(size, count) {
        if let Some(m) = s.get_index(i) {
            reply_member(r, m);
        }
    }
}

pub fn smove(c: &mut Ctx, a: Args) {
    let (src, dst, m) = (a.get(1), a.get(2), a.get(3));
    // Source missing: 0, whatever the destination holds.
    let src_ok = match as_set(c.lookup_write(src)) {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(_) => return c.r.error(WRONGTYPE),
    };
    if !src_ok {
        return c.r.int(0);
    }
    if as_set(c.lookup_write(dst)).is_err() {
        return c.r.error(WRONGTYPE);
    }
    if src == dst {
        let (s, r) = get_set!(c, src, false, r, r.int(0));
        return r.int(s.contains(m) as i64);
    }
    let (s, r) = get_set!(c, src, false, r, r.int(0));
    if !s.remove(m) {
        return r.int(0);
    }
    let emptied = s.is_empty();
    c.notify(SET, "srem", src);
    if emptied {
        c.db().remove(src);
        c.notify(GENERIC, "del", src);
    }
    let mut created = false;
    let (e, r) = entry_or_insert(c, dst, || {
        created = true;
        Value::Set(Box::new(SetVal::for_member(m)))
    });
    let inserted = match &mut e.value {
        Value::Set(d) => d.insert(m),
        _ => false,
    };
    r.int(1);
    // Touched as Redis signals them: the source always, the destination
    // only if the member was added (already there, a WATCH of it holds).
    c.db().touch(src);
    if created || inserted {
        c.db().touch(dst);
        c.notify(SET, "sadd", dst);
    }
}

/// First pass over the source keys of a multi-set command: lazy expiry,
/// hit/miss statistics and the type check. A wrong type anywhere fails the
/// command, even after a missing key (as in Redis). Returns false once
/// WRONGTYPE was replied.
fn check_sources<'k>(c: &mut Ctx, keys: impl Iterator<Item = &'k [u8]>) -> bool {
    for k in keys {
        if as_set(c.lookup(k)).is_err() {
            c.r.error(WRONGTYPE);
            return false;
        }
    }
    true
}

/// The sets at `keys` (None = missing), all borrowed at once. Only valid
/// after `check_sources` expired and type-checked them.
fn sources<'d, 'k>(db: &'d Db, keys: impl Iterator<Item = &'k [u8]>) -> Vec<Option<&'d SetVal>> {
    keys.map(|k| match db.peek(k) {
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => Some(&**s),
        _ => None,
    })
    .collect()
}

/// Store a computed set at `dst` (replacing any value and TTL), or delete
/// `dst` when the result is empty; replies with the cardinality.
fn store(c: &mut Ctx, dst: &[u8], result: SetVal, event: &'static str) {
    let n = result.len();
    if n == 0 {
        if c.db().remove(dst).is_some() {
            c.notify(GENERIC, "del", dst);
        }
    } else {
        c.db().set(dst, Value::Set(Box::new(result)), 0);
        c.notify(SET, event, dst);
    }
    c.r.int(n as i64);
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Diff,
}

/// SINTER / SINTERSTORE (`dst`).
fn sinter_generic(c: &mut Ctx, a: Args, first: usize, dst: Option<&[u8]>) {
    let keys = || a.iter().skip(first);
    if !check_sources(c, keys()) {
        return;
    }
    let Ctx { shard, db, r, .. } = c;
    let sets = sources(&shard.dbs[*db], keys());
    // Any missing key makes the intersection empty.
    let Some(sets) = sets.into_iter().collect::<Option<Vec<&SetVal>>>() else {
        return match dst {
            Some(d) => store(c, d, SetVal::new_intset(), "sinterstore"),
            None => r.set(0),
        };
    };
    match dst {
        Some(d) => {
            let result = set::inter(&sets);
            store(c, d, result, "sinterstore")
        }
        None => {
            let mut out = Vec::new();
            set::inter_each(&sets, |m| {
                out.push(m);
                true
            });
            r.set(out.len());
            for m in out {
                reply_member(r, m);
            }
        }
    }
}

/// SUNION / SDIFF and their STORE forms.
fn sunion_diff_generic(c: &mut Ctx, a: Args, first: usize, dst: Option<&[u8]>, op: Op) {
    let keys = || a.iter().skip(first);
    if !check_sources(c, keys()) {
        return;
    }
    let Ctx { shard, db, r, .. } = c;
    let sets = sources(&shard.dbs[*db], keys());
    let result = match op {
        Op::Union => set::union(&sets),
        Op::Diff => set::diff(&sets),
    };
    match dst {
        Some(d) => store(
            c,
            d,
            result,
            if op == Op::Union {
                "sunionstore"
            } else {
                "sdiffstore"
            },
        ),
        None => {
            r.set(result.len());
            for m in result.iter() {
                reply_member(r, m);
            }
        }
    }
}

pub fn sinter(c: &mut Ctx, a: Args) {
    sinter_generic(c, a, 1, None)
}

pub fn sinterstore(c: &mut Ctx, a: Args) {
    sinter_generic(c, a, 2, Some(a.get(1)))
}

pub fn sunion(c: &mut Ctx, a: Args) {
    sunion_diff_generic(c, a, 1, None, Op::Union)
}

pub fn sunionstore(c: &mut Ctx, a: Args) {
    sunion_diff_generic(c, a, 2, Some(a.get(1)), Op::Union)
}

pub fn sdiff(c: &mut Ctx, a: Args) {
    sunion_diff_generic(c, a, 1, None, Op::Diff)
}

pub fn sdiffstore(c: &mut Ctx, a: Args) {
    sunion_diff_generic(c, a, 2, Some(a.get(1)), Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(c: &mut Ctx, a: Args) {
    let numkeys = match range_long(a.get(1), 1, i64::MAX) {
        Ok(n) => n as usize,
        Err(_) => return c.r.error("ERR numkeys should be greater than 0"),
    };
    if numkeys > a.len() - 2 {
        return c
            .r
            .error("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < a.len() {
        if super::ctx::eq_ic(a.get(i), "limit") && i + 1 < a.len() {
            match positive_long(a.get(i + 1), "ERR LIMIT can't be negative") {
                Ok(n) => limit = n as usize,
                Err(e) => return c.r.error(&e),
            }
            i += 2;
        } else {
            return c.r.error(ERR_SYNTAX);
        }
    }
    let keys = || a.iter().skip(2).take(numkeys);
    if !check_sources(c, keys()) {
        return;
    }
    let Ctx { shard, db, r, .. } = c;
    let sets = sources(&shard.dbs[*db], keys());
    let Some(sets) = sets.into_iter().collect::<Option<Vec<&SetVal>>>() else {
        return r.int(0);
    };
    let mut n = 0usize;
    set::inter_each(&sets, |_| {
        n += 1;
        limit == 0 || n < limit
    });
    r.int(n as i64);
}

pub fn sscan(c: &mut Ctx, a: Args) {
    let Some(cursor) = scan_cursor(a.get(2)) else {
        return c.r.error("ERR invalid cursor");
    };
    let (s, r) = get_set!(c, a.get(1), true, r, scan_reply_header(r, 0, 0));
    // Options are parsed after the lookup, as in Redis.
    let opts = match scan_opts(a, 3) {
        Ok(o) => o,
        Err(e) => return r.error(e),
    };
    let mut out = Vec::new();
    let next = s.scan(cursor, opts.count, |m| {
        if opts.pattern.is_none() || m.with_bytes(|b| opts.matches(b)) {
            out.push(m);
        }
    });
    scan_reply_header(r, next, out.len());
    for m in out {
        reply_member(r, m);
    }
}
