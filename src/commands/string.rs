//! String commands (Redis's t_string.c).

use super::ctx::{
    arg_i64, eq_ic, lookup_str, reply_str, Ctx, Replied, ERR_NOT_FLOAT, ERR_NOT_INT, ERR_SYNTAX,
};
use crate::notify;
use crate::protocol::Args;
use crate::types::long_double::LongDouble;
use crate::types::{StrVal, Value};

const ERR_TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

pub fn get(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_str(shard, *db, *now, a.get(1), r) {
        Ok(Some(s)) => reply_str(r, s),
        Ok(None) => r.null(),
        Err(Replied) => {}
    }
}

/// Parsed expiry option of SET/GETEX. `Keep` = KEEPTTL, `Persist` = PERSIST.
enum Expiry {
    None,
    At(u64),
    Keep,
    Persist,
}

/// Parse EX/PX/EXAT/PXAT value into an absolute unix ms, Redis's rules:
/// must be > 0 and must not overflow.
fn expire_at(c: &Ctx, unit: &[u8], v: &[u8], cmd: &str) -> Result<u64, String> {
    let n = arg_i64(v).ok_or_else(|| ERR_NOT_INT.to_string())?;
    let bad = || format!("ERR invalid expire time in '{cmd}' command");
    if n <= 0 {
        return Err(bad());
    }
    let ms = if eq_ic(unit, "ex") || eq_ic(unit, "exat") {
        n.checked_mul(1000).ok_or_else(bad)?
    } else {
        n
    };
    let at = if eq_ic(unit, "ex") || eq_ic(unit, "px") {
        ms.checked_add(c.now as i64).ok_or_else(bad)?
    } else {
        ms
    };
    Ok(at as u64)
}

pub fn set(c: &mut Ctx, a: Args) {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut exp = Expiry::None;
    let mut i = 3;
    while i < a.len() {
        let o = a.get(i);
        let has_next = i + 1 < a.len();
        if eq_ic(o, "nx") && !xx {
            nx = true;
        } else if eq_ic(o, "xx") && !nx {
            xx = true;
        } else if eq_ic(o, "get") {
            get = true;
        } else if eq_ic(o, "keepttl") && matches!(exp, Expiry::None | Expiry::Keep) {
            exp = Expiry::Keep;
        } else if (eq_ic(o, "ex") || eq_ic(o, "px") || eq_ic(o, "exat") || eq_ic(o, "pxat"))
            && matches!(exp, Expiry::None)
            && has_next
        {
            match expire_at(c, o, a.get(i + 1), "set") {
                Ok(at) => exp = Expiry::At(at),
                Err(e) => return c.r.error(&e),
            }
            i += 1;
        } else {
            return c.r.error(ERR_SYNTAX);
        }
        i += 1;
    }
    let key = a.get(1);
    let old_exists = if get {
        match c.lookup_str(key) {
            Err(Replied) => return,
            Ok(Some(s)) => {
                let s = s.clone();
                c.reply_str(&s);
                true
            }
            Ok(None) => {
                c.r.null();
                false
            }
        }
    } else {
        c.lookup_write(key).is_some()
    };
    if (nx && old_exists) || (xx && !old_exists) {
        if !get {
            c.r.null();
        }
        return;
    }
    let v = Value::Str(StrVal::from_bytes(a.get(2)));
    match exp {
        Expiry::Keep => c.db().set_keep_ttl(key, v),
        Expiry::At(at) => c.db().set(key, v, at),
        _ => c.db().set(key, v, 0),
    }
    c.notify(notify::STRING, "set", key);
    if matches!(exp, Expiry::At(_)) {
        c.notify(notify::GENERIC, "expire", key);
    }
    if !get {
        c.r.ok();
    }
}

pub fn setnx(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    if c.lookup_write(key).is_some() {
        return c.r.int(0);
    }
    c.db().set(key, Value::Str(StrVal::from_bytes(a.get(2))), 0);
    c.notify(notify::STRING, "set", key);
    c.r.int(1);
}

fn setex_generic(c: &mut Ctx, a: Args, unit: &str, cmd: &str) {
    match expire_at(c, unit.as_bytes(), a.get(2), cmd) {
        Ok(at) => {
            c.db()
                .set(a.get(1), Value::Str(StrVal::from_bytes(a.get(3))), at);
            c.notify(notify::STRING, "set", a.get(1));
            c.notify(notify::GENERIC, "expire", a.get(1));
            c.r.ok();
        }
        Err(e) => c.r.error(&e),
    }
}

pub fn setex(c: &mut Ctx, a: Args) {
    setex_generic(c, a, "ex", "setex")
}

pub fn psetex(c: &mut Ctx, a: Args) {
    setex_generic(c, a, "px", "psetex")
}

pub fn getset(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    match c.lookup_str(key) {
        Err(Replied) => return,
        Ok(Some(s)) => {
            let s = s.clone();
            c.reply_str(&s);
        }
        Ok(None) => c.r.null(),
    }
    c.db().set(key, Value::Str(StrVal::from_bytes(a.get(2))), 0);
    c.notify(notify::STRING, "set", key);
}

pub fn getdel(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    match c.lookup_str(key) {
        Err(Replied) => {}
        Ok(Some(s)) => {
            let s = s.clone();
            c.reply_str(&s);
            c.db().remove(key);
            c.notify(notify::GENERIC, "del", key);
        }
        Ok(None) => c.r.null(),
    }
}

pub fn getex(c: &mut Ctx, a: Args) {
    // Syntax first; the time's value only once the key is found to be a
    // string (Redis's order: GETEX of a missing key with EX 0 is a nil, of
    // a set a WRONGTYPE).
    let mut time: Option<(&[u8], &[u8])> = None;
    let mut persist = false;
    let mut i = 2;
    while i < a.len() {
        let o = a.get(i);
        if (eq_ic(o, "ex") || eq_ic(o, "px") || eq_ic(o, "exat") || eq_ic(o, "pxat"))
            && time.is_none()
            && !persist
            && i + 1 < a.len()
        {
            time = Some((o, a.get(i + 1)));
            i += 1;
        } else if eq_ic(o, "persist") && time.is_none() && !persist {
            persist = true;
        } else {
            return c.r.error(ERR_SYNTAX);
        }
        i += 1;
    }
    let key = a.get(1);
    match c.lookup_str(key) {
        Err(Replied) => {}
        Ok(None) => c.r.null(),
        Ok(Some(s)) => {
            let s = s.clone();
            let exp = match time {
                Some((unit, v)) => match expire_at(c, unit, v, "getex") {
                    Ok(at) => Expiry::At(at),
                    Err(e) => return c.r.error(&e),
                },
                None if persist => Expiry::Persist,
                None => Expiry::None,
            };
            c.reply_str(&s);
            match exp {
                Expiry::At(at) if at <= c.now => {
                    c.db().remove(key);
                    c.notify(notify::GENERIC, "del", key);
                }
                Expiry::At(at) => {
                    c.db().set_expire(key, at);
                    c.notify(notify::GENERIC, "expire", key);
                }
                Expiry::Persist => {
                    let had_ttl = c.lookup_untouched(key).is_some_and(|e| e.expire_at != 0);
                    if had_ttl && c.db().set_expire(key, 0) {
                        c.notify(notify::GENERIC, "persist", key);
                    }
                }
                _ => {}
            }
        }
    }
}

pub fn append(c: &mut Ctx, a: Args) {
    let (key, add) = (a.get(1), a.get(2));
    let max = c.max_bulk;
    match c.lookup_str_write(key) {
        Err(Replied) => {}
        Ok(None) => {
            // A new key is stored like SET would (Redis: int/embstr).
            c.db().set(key, Value::Str(StrVal::from_bytes(add)), 0);
            c.notify(notify::STRING, "append", key);
            c.r.int(add.len() as i64);
        }
        Ok(Some(s)) => {
            if s.len() + add.len() > max {
                return c.r.error(ERR_TOO_BIG);
            }
            let raw = s.make_raw();
            raw.extend_from_slice(add);
            let n = raw.len() as i64;
            c.notify(notify::STRING, "append", key);
            c.r.int(n);
        }
    }
}

pub fn strlen(c: &mut Ctx, a: Args) {
    match c.lookup_str(a.get(1)) {
        Err(Replied) => {}
        Ok(None) => c.r.int(0),
        Ok(Some(s)) => {
            let n = s.len() as i64;
            c.r.int(n)
        }
    }
}

fn incr_generic(c: &mut Ctx, key: &[u8], by: i64) {
    // Redis raises "incrby" for all four commands.
    let event = "incrby";
    match c.lookup_str_write(key) {
        Err(Replied) => {}
        Ok(None) => {
            c.db().set(key, Value::Str(StrVal::Int(by)), 0);
            c.notify(notify::STRING, event, key);
            c.r.int(by);
        }
        Ok(Some(s)) => {
            let Some(cur) = s.as_int() else {
                return c.r.error(ERR_NOT_INT);
            };
            let Some(n) = cur.checked_add(by) else {
                return c.r.error("ERR increment or decrement would overflow");
            };
            *s = StrVal::Int(n);
            c.notify(notify::STRING, event, key);
            c.r.int(n);
        }
    }
}

pub fn incr(c: &mut Ctx, a: Args) {
    incr_generic(c, a.get(1), 1)
}

pub fn decr(c: &mut Ctx, a: Args) {
    incr_generic(c, a.get(1), -1)
}

pub fn incrby(c: &mut Ctx, a: Args) {
    match arg_i64(a.get(2)) {
        Some(by) => incr_generic(c, a.get(1), by),
        None => c.r.error(ERR_NOT_INT),
    }
}

pub fn decrby(c: &mut Ctx, a: Args) {
    match arg_i64(a.get(2)) {
        Some(i64::MIN) => c.r.error("ERR decrement would overflow"),
        Some(by) => incr_generic(c, a.get(1), -by),
        None => c.r.error(ERR_NOT_INT),
    }
}

pub fn incrbyfloat(c: &mut Ctx, a: Args) {
    // Redis's order: the key's type, its value, then the increment.
    let key = a.get(1);
    // In C's long double, as Redis computes it: `0.1` then `0.2` make `0.3`.
    let cur = match c.lookup_str_write(key) {
        Err(Replied) => return,
        Ok(None) => LongDouble::zero(),
        Ok(Some(s)) => match s.with_bytes(LongDouble::parse) {
            Some(v) => v,
            None => return c.r.error(ERR_NOT_FLOAT),
        },
    };
    let Some(by) = LongDouble::parse(a.get(2)) else {
        return c.r.error(ERR_NOT_FLOAT);
    };
    let n = cur + by;
    if !n.is_finite() {
        return c.r.error("ERR increment would produce NaN or Infinity");
    }
    let s = n.to_human();
    c.db()
        .set_keep_ttl(key, Value::Str(StrVal::string(s.as_bytes())));
    c.notify(notify::STRING, "incrbyfloat", key);
    c.r.bulk(s.as_bytes());
}

pub fn getrange(c: &mut Ctx, a: Args) {
    let (Some(start), Some(end)) = (arg_i64(a.get(2)), arg_i64(a.get(3))) else {
        return c.r.error(ERR_NOT_INT);
    };
    match c.lookup_str(a.get(1)) {
        Err(Replied) => {}
        Ok(None) => c.r.bulk(b""),
        Ok(Some(s)) => {
            let s = s.clone();
            s.with_bytes(|b| {
                let len = b.len() as i64;
                if start < 0 && end < 0 && start > end {
                    return c.r.bulk(b"");
                }
                let mut st = if start < 0 { len + start } else { start };
                let mut en = if end < 0 { len + end } else { end };
                if st < 0 {
                    st = 0;
                }
                if en < 0 {
                    en = 0;
                }
                if en >= len {
                    en = len - 1;
                }
                if st > en || len == 0 {
                    c.r.bulk(b"")
                } else {
                    c.r.bulk(&b[st as usize..=en as usize])
                }
            })
        }
    }
}

pub fn setrange(c: &mut Ctx, a: Args) {
    let Some(off) = arg_i64(a.get(2)) else {
        return c.r.error(ERR_NOT_INT);
    };
    if off < 0 {
        return c.r.error("ERR offset is out of range");
    }
    let (key, val) = (a.get(1), a.get(3));
    let off = off as usize;
    let max = c.max_bulk;
    let too_big = !val.is_empty() && off.saturating_add(val.len()) > max;
    match c.lookup_str_write(key) {
        Err(Replied) => {}
        Ok(None) => {
            if val.is_empty() {
                return c.r.int(0);
            }
            if too_big {
                return c.r.error(ERR_TOO_BIG);
            }
            let mut v = vec![0u8; off + val.len()];
            v[off..].copy_from_slice(val);
            let n = v.len() as i64;
            c.db().set(key, Value::Str(StrVal::Raw(Box::new(v))), 0);
            c.notify(notify::STRING, "setrange", key);
            c.r.int(n);
        }
        Ok(Some(s)) => {
            if val.is_empty() {
                let n = s.len() as i64;
                return c.r.int(n);
            }
            if too_big {
                return c.r.error(ERR_TOO_BIG);
            }
            let raw = s.make_raw();
            if raw.len() < off + val.len() {
                raw.resize(off + val.len(), 0);
            }
            raw[off..off + val.len()].copy_from_slice(val);
            let n = raw.len() as i64;
            c.r.int(n);
            // Touched here, not for every SETRANGE: an empty value changes
            // nothing and leaves a WATCH of the key intact, as in Redis.
            c.db().touch(key);
            c.notify(notify::STRING, "setrange", key);
        }
    }
}

/// MGET on keys that all live in this shard.
pub fn mget(c: &mut Ctx, a: Args) {
    c.db().prefetch_keys(a.iter().skip(1));
    c.r.array(a.len() - 1);
    for i in 1..a.len() {
        let Ctx {
            shard, db, now, r, ..
        } = c;
        let crate::shard::Shard { dbs, stats, .. } = &mut **shard;
        match dbs[*db].get(a.get(i), *now, stats).map(|e| &e.value) {
            Some(Value::Str(s)) => reply_str(r, s),
            #[allow(unreachable_patterns)]
            _ => c.r.null(),
        }
    }
}

pub fn mset(c: &mut Ctx, a: Args) {
    if a.len().is_multiple_of(2) {
        return c
            .r
            .error("ERR wrong number of arguments for 'mset' command");
    }
    c.db().prefetch_keys(a.iter().skip(1).step_by(2));
    for i in (1..a.len()).step_by(2) {
        c.db()
            .set(a.get(i), Value::Str(StrVal::from_bytes(a.get(i + 1))), 0);
        c.notify(notify::STRING, "set", a.get(i));
    }
    c.r.ok();
}

pub fn msetnx(c: &mut Ctx, a: Args) {
    if a.len().is_multiple_of(2) {
        return c
            .r
            .error("ERR wrong number of arguments for 'msetnx' command");
    }
    for i in (1..a.len()).step_by(2) {
        if c.lookup_write(a.get(i)).is_some() {
            return c.r.int(0);
        }
    }
    for i in (1..a.len()).step_by(2) {
        c.db()
            .set(a.get(i), Value::Str(StrVal::from_bytes(a.get(i + 1))), 0);
        c.notify(notify::STRING, "set", a.get(i));
    }
    c.r.int(1);
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN].
pub fn lcs(c: &mut Ctx, a: Args) {
    // The keys first (Redis's own type error), then the options.
    let mut vals = [Vec::new(), Vec::new()];
    for (k, v) in vals.iter_mut().enumerate() {
        match c.lookup(a.get(k + 1)).map(|e| &e.value) {
            None => {}
            Some(Value::Str(s)) => *v = s.to_vec(),
            Some(_) => {
                return c
                    .r
                    .error("ERR The specified keys must contain string values")
            }
        }
    }
    let (mut len_only, mut idx, mut minlen, mut withlen) = (false, false, 0i64, false);
    let mut i = 3;
    while i < a.len() {
        let o = a.get(i);
        if eq_ic(o, "len") {
            len_only = true;
        } else if eq_ic(o, "idx") {
            idx = true;
        } else if eq_ic(o, "withmatchlen") {
            withlen = true;
        } else if eq_ic(o, "minmatchlen") && i + 1 < a.len() {
            match arg_i64(a.get(i + 1)) {
                Some(v) => minlen = v.max(0),
                None => return c.r.error(ERR_NOT_INT),
            }
            i += 1;
        } else {
            return c.r.error(ERR_SYNTAX);
        }
        i += 1;
    }
    if len_only && idx {
        return c
            .r
            .error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (x, y) = (&vals[0], &vals[1]);
    // Classic O(n*m) dynamic programme, as Redis does.
    let (n, m) = (x.len(), y.len());
    let w = m + 1;
    let mut t = vec![0u32; (n + 1) * (m + 1)];
    for i in 1..=n {
        for j in 1..=m {
            t[i * w + j] = if x[i - 1] == y[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[n * w + m] as usize;
    if len_only {
        return c.r.int(total as i64);
    }
    // Walk back collecting the string and the matching ranges.
    let mut out = vec![0u8; total];
    let mut k = total;
    let (mut i, mut j) = (n, m);
    type Match = ((usize, usize), (usize, usize), usize);
    let mut matches: Vec<Match> = Vec::new();
    let mut cur: Option<((usize, usize), (usize, usize))> = None;
    while i > 0 && j > 0 {
        if x[i - 1] == y[j - 1] {
            k -= 1;
            out[k] = x[i - 1];
            let (ai, bj) = (i - 1, j - 1);
            cur = match cur {
                Some(((as_, ae), (bs, be))) if as_ == ai + 1 && bs == bj + 1 => {
                    Some(((ai, ae), (bj, be)))
                }
                Some(r) => {
                    matches.push((r.0, r.1, r.0 .1 - r.0 .0 + 1));
                    Some(((ai, ai), (bj, bj)))
                }
                None => Some(((ai, ai), (bj, bj))),
            };
            i -= 1;
            j -= 1;
        } else if t[(i - 1) * w + j] > t[i * w + j - 1] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if let Some(r) = cur {
        matches.push((r.0, r.1, r.0 .1 - r.0 .0 + 1));
    }
    if !idx {
        return c.r.bulk(&out);
    }
    let kept: Vec<_> = matches
        .into_iter()
        .filter(|m| m.2 as i64 >= minlen)
        .collect();
    c.r.map(2);
    c.r.bulk(b"matches");
    c.r.array(kept.len());
    for ((as_, ae), (bs, be), l) in kept {
        c.r.array(if withlen { 3 } else { 2 });
        c.r.array(2);
        c.r.int(as_ as i64);
        c.r.int(ae as i64);
        c.r.array(2);
        c.r.int(bs as i64);
        c.r.int(be as i64);
        if withlen {
            c.r.int(l as i64);
        }
    }
    c.r.bulk(b"len");
    c.r.int(total as i64);
}
