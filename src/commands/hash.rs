//! Hash commands (Redis's t_hash.c).

use super::coll::{
    as_hash, entry, hash_or_create, range_long, scan_cursor, scan_opts, scan_reply_header,
    MAX_RANDOM_REPLY,
};
use super::ctx::{arg_i64, eq_ic, Ctx, ERR_NOT_FLOAT, ERR_NOT_INT, ERR_SYNTAX};
use crate::notify::{notify, GENERIC, HASH};
use crate::protocol::{parse_i64, Args, Reply};
use crate::types::hash::HashVal;
use crate::types::long_double::LongDouble;
use crate::types::set::sample_distinct;
use crate::types::WRONGTYPE;

/// Look up the hash at `$key` for reading; on a missing key run `$missing`
/// (with the reply sink bound to `$r`) and return, on a wrong type reply
/// WRONGTYPE and return.
macro_rules! read_hash {
    ($c:expr, $key:expr, $r:ident, $missing:expr) => {{
        let (e, r) = entry($c, $key, true);
        match as_hash(e) {
            Ok(Some(h)) => (h, r),
            Ok(None) => {
                let $r = r;
                return $missing;
            }
            Err(_) => return r.error(WRONGTYPE),
        }
    }};
}

fn hset_generic(c: &mut Ctx, a: Args, name: &str) {
    if a.len() % 2 == 1 {
        return c.r.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let db = c.db;
    let Some((h, r)) = hash_or_create(c, a.get(1)) else {
        return;
    };
    notify(HASH, "hset", db, a.get(1));
    h.fit_lengths(a.iter().skip(2).map(|x| x.len()));
    let mut created = 0;
    for i in (2..a.len()).step_by(2) {
        if h.set(a.get(i), a.get(i + 1)) {
            created += 1;
        }
    }
    if name == "hset" {
        r.int(created);
    } else {
        r.ok();
    }
}

pub fn hset(c: &mut Ctx, a: Args) {
    hset_generic(c, a, "hset")
}

pub fn hmset(c: &mut Ctx, a: Args) {
    hset_generic(c, a, "hmset")
}

pub fn hsetnx(c: &mut Ctx, a: Args) {
    let db = c.db;
    let Some((h, r)) = hash_or_create(c, a.get(1)) else {
        return;
    };
    let (f, v) = (a.get(2), a.get(3));
    // The hash exists now (Redis creates it first), so it is never empty.
    if h.contains(f) {
        r.int(0);
    } else {
        h.fit_lengths([f.len(), v.len()]);
        h.set(f, v);
        notify(HASH, "hset", db, a.get(1));
        r.int(1);
    }
}

pub fn hget(c: &mut Ctx, a: Args) {
    let (h, r) = read_hash!(c, a.get(1), r, r.null());
    match h.get(a.get(2)) {
        Some(v) => r.bulk(v),
        None => r.null(),
    }
}

pub fn hmget(c: &mut Ctx, a: Args) {
    let (e, r) = entry(c, a.get(1), true);
    // A missing key is an empty hash: a null per field.
    let h = match as_hash(e) {
        Ok(h) => h,
        Err(_) => return r.error(WRONGTYPE),
    };
    r.array(a.len() - 2);
    for f in a.iter().skip(2) {
        match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => r.bulk(v),
            None => r.null(),
        }
    }
}

pub fn hdel(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    let (h, r) = {
        let (e, r) = entry(c, key, false);
        match as_hash(e) {
            Ok(Some(h)) => (h, r),
            Ok(None) => return r.int(0),
            Err(_) => return r.error(WRONGTYPE),
        }
    };
    let mut deleted = 0;
    for f in a.iter().skip(2) {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    let empty = h.is_empty();
    r.int(deleted);
    if deleted > 0 {
        c.notify(HASH, "hdel", key);
    }
    if empty {
        c.db().remove(key);
        c.notify(GENERIC, "del", key);
    }
}

pub fn hlen(c: &mut Ctx, a: Args) {
    let (h, r) = read_hash!(c, a.get(1), r, r.int(0));
    r.int(h.len() as i64);
}

pub fn hstrlen(c: &mut Ctx, a: Args) {
    let (h, r) = read_hash!(c, a.get(1), r, r.int(0));
    r.int(h.get(a.get(2)).map_or(0, |v| v.len()) as i64);
}

pub fn hexists(c: &mut Ctx, a: Args) {
    let (h, r) = read_hash!(c, a.get(1), r, r.int(0));
    r.int(h.contains(a.get(2)) as i64);
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Keys,
    Vals,
    Both,
}

fn getall_generic(c: &mut Ctx, a: Args, part: Part) {
    let (h, r) = read_hash!(
        c,
        a.get(1),
        r,
        if part == Part::Both {
            r.map(0)
        } else {
            r.array(0)
        }
    );
    if part == Part::Both {
        r.map(h.len());
    } else {
        r.array(h.len());
    }
    for (f, v) in h.iter() {
        if part != Part::Vals {
            r.bulk(f);
        }
        if part != Part::Keys {
            r.bulk(v);
        }
    }
}

pub fn hgetall(c: &mut Ctx, a: Args) {
    getall_generic(c, a, Part::Both)
}

pub fn hkeys(c: &mut Ctx, a: Args) {
    getall_generic(c, a, Part::Keys)
}

pub fn hvals(c: &mut Ctx, a: Args) {
    getall_generic(c, a, Part::Vals)
}

pub fn hincrby(c: &mut Ctx, a: Args) {
    let Some(incr) = arg_i64(a.get(3)) else {
        return c.r.error(ERR_NOT_INT);
    };
    let db = c.db;
    let Some((h, r)) = hash_or_create(c, a.get(1)) else {
        return;
    };
    let field = a.get(2);
    // Errors below need an existing field, so a just-created hash is
    // never left empty.
    let cur = match h.get(field) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return r.error("ERR hash value is not an integer"),
        },
    };
    let Some(n) = cur.checked_add(incr) else {
        return r.error("ERR increment or decrement would overflow");
    };
    h.set(field, itoa::Buffer::new().format(n).as_bytes());
    notify(HASH, "hincrby", db, a.get(1));
    r.int(n);
}

pub fn hincrbyfloat(c: &mut Ctx, a: Args) {
    // In C's long double, as Redis computes it (see INCRBYFLOAT).
    let Some(incr) = LongDouble::parse(a.get(3)) else {
        return c.r.error(ERR_NOT_FLOAT);
    };
    if !incr.is_finite() {
        return c.r.error("ERR value is NaN or Infinity");
    }
    let db = c.db;
    let Some((h, r)) = hash_or_create(c, a.get(1)) else {
        return;
    };
    let field = a.get(2);
    let cur = match h.get(field) {
        None => LongDouble::zero(),
        Some(v) => match LongDouble::parse(v) {
            Some(n) => n,
            None => return r.error("ERR hash value is not a float"),
        },
    };
    let n = cur + incr;
    if !n.is_finite() {
        return r.error("ERR increment would produce NaN or Infinity");
    }
    let s = n.to_human();
    h.set(field, s.as_bytes());
    notify(HASH, "hincrbyfloat", db, a.get(1));
    r.bulk(s.as_bytes());
}

/// A pair of an HRANDFIELD reply: RESP3 nests each pair in an array.
fn reply_pair(r: &mut Reply, f: &[u8], v: &[u8], withvalues: bool) {
    if withvalues {
        if r.resp3() {
            r.array(2);
        }
        r.bulk(f);
        r.bulk(v);
    } else {
        r.bulk(f);
    }
}

pub fn hrandfield(c: &mut Ctx, a: Args) {
    if a.len() == 2 {
        let (h, r) = read_hash!(c, a.get(1), r, r.null());
        if let Some((f, _)) = h.get_index(fastrand::usize(..h.len().max(1))) {
            r.bulk(f);
        }
        return;
    }
    let l = match range_long(a.get(2), -i64::MAX, i64::MAX) {
        Ok(v) => v,
        Err(e) => return c.r.error(&e),
    };
    let withvalues = match a.len() {
        3 => false,
        4 if eq_ic(a.get(3), "withvalues") => true,
        _ => return c.r.error(ERR_SYNTAX),
    };
    // Redis bounds the count so that count*2 (RESP2 pairs) cannot overflow.
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return c.r.error("ERR value is out of range");
    }
    if l.unsigned_abs() > MAX_RANDOM_REPLY {
        return c.r.error("ERR value is out of range");
    }
    let (h, r) = read_hash!(c, a.get(1), r, r.array(0));
    hrandfield_count(h, r, l, withvalues);
}

fn hrandfield_count(h: &HashVal, r: &mut Reply, l: i64, withvalues: bool) {
    let size = h.len();
    let count = l.unsigned_abs() as usize;
    let flat = |n: usize| if withvalues && !r.resp3() { n * 2 } else { n };
    if count == 0 || size == 0 {
        return r.array(0);
    }
    // Negative count: independent draws, repeats allowed.
    if l < 0 || count == 1 {
        r.array(flat(count));
        for _ in 0..count {
            if let Some((f, v)) = h.get_index(fastrand::usize(..size)) {
                reply_pair(r, f, v, withvalues);
            }
        }
        return;
    }
    // Positive count: distinct fields, the whole hash if it has no more.
    if count >= size {
        r.array(flat(size));
        for (f, v) in h.iter() {
            reply_pair(r, f, v, withvalues);
        }
        return;
    }
    r.array(flat(count));
    for i in sample_distinct(size, count) {
        if let Some((f, v)) = h.get_index(i) {
            reply_pair(r, f, v, withvalues);
        }
    }
}

pub fn hscan(c: &mut Ctx, a: Args) {
    let Some(cursor) = scan_cursor(a.get(2)) else {
        return c.r.error("ERR invalid cursor");
    };
    let (h, r) = read_hash!(c, a.get(1), r, scan_reply_header(r, 0, 0));
    // Options are parsed after the lookup, as in Redis: a missing key
    // answers an empty scan whatever follows.
    let opts = match scan_opts(a, 3) {
        Ok(o) => o,
        Err(e) => return r.error(e),
    };
    let mut out: Vec<(&[u8], &[u8])> = Vec::new();
    let next = h.scan(cursor, opts.count, |f, v| {
        if opts.matches(f) {
            out.push((f, v));
        }
    });
    scan_reply_header(r, next, out.len() * 2);
    for (f, v) in out {
        r.bulk(f);
        r.bulk(v);
    }
}
