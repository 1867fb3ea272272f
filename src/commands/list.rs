//! List commands (Redis's t_list.c), minus the blocking B* forms. Empty
//! lists are never stored: whatever removes the last element deletes the key.

use super::ctx::{arg_i64, eq_ic, Ctx, Replied, ERR_NOT_INT, ERR_SYNTAX};
use crate::notify::{notify, GENERIC, LIST};
use crate::protocol::{Args, Reply};
use crate::shard::Shard;
use crate::types::list::{clamp_range, End};
use crate::types::{List, Value, WRONGTYPE};

/// Look a key up for a typed command. `read` = Redis's lookupKeyRead (counts
/// keyspace hits/misses); writes use lookupKeyWrite, which does not.
pub fn lookup_value<'s>(
    shard: &'s mut Shard,
    db: usize,
    now: u64,
    key: &[u8],
    read: bool,
) -> Option<&'s mut Value> {
    let Shard { dbs, stats, .. } = shard;
    let found = dbs[db].get(key, now, stats);
    if read {
        stats.count_read(found.is_some(), db, key);
    }
    found.map(|e| &mut e.value)
}

/// The list at `key`: `Ok(None)` if missing, `Err` (WRONGTYPE replied) if
/// it holds another type.
pub fn lookup_list<'s>(
    shard: &'s mut Shard,
    db: usize,
    now: u64,
    key: &[u8],
    read: bool,
    r: &mut Reply,
) -> Result<Option<&'s mut List>, Replied> {
    match lookup_value(shard, db, now, key, read) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => {
            r.error(WRONGTYPE);
            Err(Replied)
        }
    }
}

/// getRangeLongFromObjectOrReply: an integer in [min, max]; any failure
/// (including not an integer) replies `msg` when given, else Redis's
/// generic texts.
/// The optional `COUNT n` after LMPOP/ZMPOP's direction (n >= 1), Redis's
/// errors included; shared by the list and sorted-set forms.
pub fn mpop_count(a: Args, from: usize) -> Result<Option<usize>, String> {
    let mut count: Option<usize> = None;
    let mut j = from;
    while j < a.len() {
        if count.is_none() && eq_ic(a.get(j), "count") && j + 1 < a.len() {
            j += 1;
            let n = arg_range(
                a.get(j),
                1,
                i64::MAX,
                Some("count should be greater than 0"),
            )?;
            count = Some(n as usize);
        } else {
            return Err(ERR_SYNTAX.into());
        }
        j += 1;
    }
    Ok(count)
}

pub fn arg_range(a: &[u8], min: i64, max: i64, msg: Option<&str>) -> Result<i64, String> {
    match arg_i64(a) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(_) => Err(match msg {
            Some(m) => format!("ERR {m}"),
            None => format!("ERR value is out of range, value must between {min} and {max}"),
        }),
        None => Err(match msg {
            Some(m) => format!("ERR {m}"),
            None => ERR_NOT_INT.to_string(),
        }),
    }
}

/// getPositiveLongFromObjectOrReply.
pub fn arg_positive(a: &[u8], msg: Option<&str>) -> Result<i64, String> {
    arg_range(
        a,
        0,
        i64::MAX,
        Some(msg.unwrap_or("value is out of range, must be positive")),
    )
}

pub fn parse_end(a: &[u8]) -> Option<End> {
    if eq_ic(a, "left") {
        Some(End::Left)
    } else if eq_ic(a, "right") {
        Some(End::Right)
    } else {
        None
    }
}

fn push_generic(c: &mut Ctx, a: Args, end: End, xx: bool) {
    let key = a.get(1);
    let event = if end == End::Left { "lpush" } else { "rpush" };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_list(shard, *db, *now, key, false, r) {
        Err(Replied) => {}
        Ok(Some(l)) => {
            for v in a.iter().skip(2) {
                l.push(v, end);
            }
            r.int(l.len() as i64);
            notify(LIST, event, *db, key);
        }
        Ok(None) if xx => r.int(0),
        Ok(None) => {
            let mut l = List::new();
            for v in a.iter().skip(2) {
                l.push(v, end);
            }
            r.int(l.len() as i64);
            shard.dbs[*db].set(key, Value::List(Box::new(l)), 0);
            notify(LIST, event, *db, key);
        }
    }
}

pub fn lpush(c: &mut Ctx, a: Args) {
    push_generic(c, a, End::Left, false)
}
pub fn rpush(c: &mut Ctx, a: Args) {
    push_generic(c, a, End::Right, false)
}
pub fn lpushx(c: &mut Ctx, a: Args) {
    push_generic(c, a, End::Left, true)
}
pub fn rpushx(c: &mut Ctx, a: Args) {
    push_generic(c, a, End::Right, true)
}

/// Pop up to `count` elements from one end, replying with them as an
/// array in pop order. The caller deletes the key if the list emptied.
pub fn pop_range_reply(l: &mut List, end: End, count: usize, r: &mut Reply) -> usize {
    let n = count.min(l.len());
    r.array(n);
    for _ in 0..n {
        if let Some(v) = l.pop(end) {
            r.bulk(&v);
        }
    }
    n
}

fn pop_generic(c: &mut Ctx, a: Args, end: End) {
    if a.len() > 3 {
        return c.r.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            if end == End::Left { "lpop" } else { "rpop" }
        ));
    }
    let count = if a.len() == 3 {
        match arg_positive(a.get(2), None) {
            Ok(n) => Some(n as usize),
            Err(e) => return c.r.error(&e),
        }
    } else {
        None
    };
    let key = a.get(1);
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let l = match lookup_list(shard, *db, *now, key, false, r) {
        Err(Replied) => return,
        Ok(None) => {
            return if count.is_some() {
                r.null_array()
            } else {
                r.null()
            }
        }
        Ok(Some(l)) => l,
    };
    let event = if end == End::Left { "lpop" } else { "rpop" };
    match count {
        None => {
            if let Some(v) = l.pop(end) {
                r.bulk(&v);
            }
            notify(LIST, event, *db, key);
            if l.is_empty() {
                shard.dbs[*db].remove(key);
                notify(GENERIC, "del", *db, key);
            }
        }
        Some(0) => r.array(0),
        Some(n) => {
            pop_range_reply(l, end, n, r);
            notify(LIST, event, *db, key);
            if l.is_empty() {
                shard.dbs[*db].remove(key);
                notify(GENERIC, "del", *db, key);
            }
        }
    }
}

pub fn lpop(c: &mut Ctx, a: Args) {
    pop_generic(c, a, End::Left)
}
pub fn rpop(c: &mut Ctx, a: Args) {
    pop_generic(c, a, End::Right)
}

pub fn llen(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_list(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => {}
        Ok(None) => r.int(0),
        Ok(Some(l)) => r.int(l.len() as i64),
    }
}

pub fn lrange(c: &mut Ctx, a: Args) {
    let (Some(start), Some(end)) = (arg_i64(a.get(2)), arg_i64(a.get(3))) else {
        return c.r.error(ERR_NOT_INT);
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_list(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => {}
        Ok(None) => r.array(0),
        Ok(Some(l)) => match clamp_range(start, end, l.len()) {
            None => r.array(0),
            Some((s, e)) => {
                r.array(e - s + 1);
                for v in l.range(s, e) {
                    r.bulk(v);
                }
            }
        },
    }
}

pub fn lindex(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    // Redis looks the key up before parsing the index.
    match lookup_list(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => {}
        Ok(None) => r.null(),
        Ok(Some(l)) => match arg_i64(a.get(2)) {
            None => r.error(ERR_NOT_INT),
            Some(i) => match l.index(i).and_then(|p| l.get(p)) {
                Some(v) => r.bulk(v),
                None => r.null(),
            },
        },
    }
}

pub fn lset(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_list(shard, *db, *now, a.get(1), false, r) {
        Err(Replied) => {}
        Ok(None) => r.error("ERR no such key"),
        Ok(Some(l)) => match arg_i64(a.get(2)) {
            None => r.error(ERR_NOT_INT),
            Some(i) => match l.index(i) {
                Some(p) if l.set(p, a.get(3)) => {
                    notify(LIST, "lset", *db, a.get(1));
                    r.ok()
                }
                _ => r.error("ERR index out of range"),
            },
        },
    }
}

pub fn linsert(c: &mut Ctx, a: Args) {
    let after = if eq_ic(a.get(2), "after") {
        true
    } else if eq_ic(a.get(2), "before") {
        false
    } else {
        return c.r.error(ERR_SYNTAX);
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_list(shard, *db, *now, a.get(1), false, r) {
        Err(Replied) => {}
        Ok(None) => r.int(0),
        Ok(Some(l)) => match l.position(a.get(3)) {
            None => r.int(-1),
            Some(p) => {
                l.insert(if after { p + 1 } else { p }, a.get(4));
                r.int(l.len() as i64);
                notify(LIST, "linsert", *db, a.get(1));
            }
        },
    }
}

pub fn lrem(c: &mut Ctx, a: Args) {
    let Some(n) = arg_i64(a.get(2)) else {
        return c.r.error(ERR_NOT_INT);
    };
    let key = a.get(1);
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_list(shard, *db, *now, key, false, r) {
        Err(Replied) => {}
        Ok(None) => r.int(0),
        Ok(Some(l)) => {
            let removed = l.remove_matching(a.get(3), n.unsigned_abs() as usize, n < 0);
            r.int(removed as i64);
            if removed > 0 {
                notify(LIST, "lrem", *db, key);
            }
            if l.is_empty() {
                shard.dbs[*db].remove(key);
                notify(GENERIC, "del", *db, key);
            }
        }
    }
}

pub fn ltrim(c: &mut Ctx, a: Args) {
    let (Some(start), Some(end)) = (arg_i64(a.get(2)), arg_i64(a.get(3))) else {
        return c.r.error(ERR_NOT_INT);
    };
    let key = a.get(1);
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_list(shard, *db, *now, key, false, r) {
        Err(Replied) => {}
        Ok(None) => r.ok(),
        Ok(Some(l)) => {
            let len = l.len();
            let (left, right) = match clamp_range(start, end, len) {
                None => (len, 0),
                Some((s, e)) => (s, len - e - 1),
            };
            l.trim(left, right);
            notify(LIST, "ltrim", *db, key);
            if l.is_empty() {
                shard.dbs[*db].remove(key);
                notify(GENERIC, "del", *db, key);
            } else {
                // Even when it trimmed nothing, as Redis signals it; a
                // missing list is not touched.
                shard.dbs[*db].touch(key);
            }
            r.ok();
        }
    }
}

pub fn lpos(c: &mut Ctx, a: Args) {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j);
        let more = j + 1 < a.len();
        if eq_ic(opt, "rank") && more {
            j += 1;
            match arg_i64(a.get(j)) {
                None => return c.r.error(ERR_NOT_INT),
                Some(0) => {
                    return c.r.error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
                }
                // -LONG_MIN would overflow: Redis (UB) effectively never
                // finds that many matches; clamp so it finds none.
                Some(v) => rank = v.max(-i64::MAX),
            }
        } else if eq_ic(opt, "count") && more {
            j += 1;
            match arg_positive(a.get(j), Some("COUNT can't be negative")) {
                Ok(v) => count = Some(v as usize),
                Err(e) => return c.r.error(&e),
            }
        } else if eq_ic(opt, "maxlen") && more {
            j += 1;
            match arg_positive(a.get(j), Some("MAXLEN can't be negative")) {
                Ok(v) => maxlen = v as usize,
                Err(e) => return c.r.error(&e),
            }
        } else {
            return c.r.error(ERR_SYNTAX);
        }
        j += 1;
    }
    let from_tail = rank < 0;
    let rank = rank.unsigned_abs() as usize;
    let ele = a.get(2);
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let l = match lookup_list(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => return,
        Ok(None) => {
            return if count.is_some() {
                r.array(0)
            } else {
                r.null()
            }
        }
        Ok(Some(l)) => l,
    };
    let len = l.len();
    let limit = if maxlen == 0 { len } else { maxlen.min(len) };
    let mut matches = 0usize;
    let mut found: Vec<i64> = Vec::new();
    let it: Box<dyn Iterator<Item = (usize, &crate::types::list::Elem)>> = if from_tail {
        Box::new(l.iter().rev().enumerate())
    } else {
        Box::new(l.iter().enumerate())
    };
    for (i, v) in it.take(limit) {
        if v.as_slice() != ele {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        let idx = if from_tail { len - 1 - i } else { i };
        found.push(idx as i64);
        match count {
            None => break,
            Some(n) if n != 0 && found.len() >= n => break,
            _ => {}
        }
    }
    match count {
        Some(_) => {
            r.array(found.len());
            for i in found {
                r.int(i);
            }
        }
        None => match found.first() {
            Some(&i) => r.int(i),
            None => r.null(),
        },
    }
}

/// LMOVE's work, shared with the blocking forms: pop from `src`, push to
/// `dst`, reply with the element (or null if `src` is missing). Both keys
/// live on this shard.
#[allow(clippy::too_many_arguments)]
pub fn lmove_core(
    shard: &mut Shard,
    db: usize,
    now: u64,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    r: &mut Reply,
) {
    match lookup_list(shard, db, now, src, false, r) {
        Err(Replied) => return,
        Ok(None) => return r.null(),
        Ok(Some(l)) if l.is_empty() => return r.null(),
        Ok(Some(_)) => {}
    }
    // Redis checks the destination's type before popping anything.
    if lookup_list(shard, db, now, dst, false, r).is_err() {
        return;
    }
    let Ok(Some(l)) = lookup_list(shard, db, now, src, false, r) else {
        return;
    };
    let Some(v) = l.pop(from) else {
        return r.null();
    };
    // With src == dst the (possibly now empty) list is pushed back onto
    // before anything is deleted: RPOPLPUSH k k rotates.
    let emptied = l.is_empty() && src != dst;
    if emptied {
        shard.dbs[db].remove(src);
    }
    match lookup_list(shard, db, now, dst, false, r) {
        Ok(Some(d)) => d.push(&v, to),
        _ => {
            let mut d = List::new();
            d.push(&v, to);
            shard.dbs[db].set(dst, Value::List(Box::new(d)), 0);
        }
    }
    // Redis's order: the push, the pop, the source's deletion.
    notify(
        LIST,
        if to == End::Left { "lpush" } else { "rpush" },
        db,
        dst,
    );
    notify(
        LIST,
        if from == End::Left { "lpop" } else { "rpop" },
        db,
        src,
    );
    if emptied {
        notify(GENERIC, "del", db, src);
    }
    r.bulk(&v);
}

pub fn lmove(c: &mut Ctx, a: Args) {
    let (Some(from), Some(to)) = (parse_end(a.get(3)), parse_end(a.get(4))) else {
        return c.r.error(ERR_SYNTAX);
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    lmove_core(shard, *db, *now, a.get(1), a.get(2), from, to, r)
}

pub fn rpoplpush(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    lmove_core(
        shard,
        *db,
        *now,
        a.get(1),
        a.get(2),
        End::Right,
        End::Left,
        r,
    )
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` of LMPOP/BLMPOP, from
/// argument `at` (the numkeys position).
pub struct MPopArgs {
    pub first_key: usize,
    pub numkeys: usize,
    pub end: End,
    pub count: usize,
}

pub fn parse_lmpop(a: Args, at: usize) -> Result<MPopArgs, String> {
    let numkeys = arg_range(
        a.get(at),
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    )?;
    let where_idx = (at as u64).saturating_add(numkeys as u64).saturating_add(1);
    if where_idx >= a.len() as u64 {
        return Err(ERR_SYNTAX.into());
    }
    let where_idx = where_idx as usize;
    let end = parse_end(a.get(where_idx)).ok_or_else(|| ERR_SYNTAX.to_string())?;
    let count = mpop_count(a, where_idx + 1)?;
    Ok(MPopArgs {
        first_key: at + 1,
        numkeys: numkeys as usize,
        end,
        count: count.unwrap_or(1),
    })
}

/// LMPOP's work on parsed arguments: pop from the first non-empty list.
/// Returns false (and replies nothing) if every key was missing, so a
/// blocking caller can block instead.
/// Which keys a pop over several keys passes over (`blocking::skip_key`
/// for the blocking forms).
pub type SkipKey = fn(&mut Shard, usize, u64, &[u8], bool) -> bool;

pub fn never_skip(_: &mut Shard, _: usize, _: u64, _: &[u8], _: bool) -> bool {
    false
}

pub fn lmpop_core(
    shard: &mut Shard,
    db: usize,
    now: u64,
    a: Args,
    p: &MPopArgs,
    r: &mut Reply,
    skip: SkipKey,
) -> bool {
    for i in p.first_key..p.first_key + p.numkeys {
        let key = a.get(i);
        if skip(shard, db, now, key, false) {
            continue;
        }
        match lookup_list(shard, db, now, key, false, r) {
            Err(Replied) => return true,
            Ok(None) => continue,
            Ok(Some(l)) if l.is_empty() => continue,
            Ok(Some(l)) => {
                r.array(2);
                r.bulk(key);
                pop_range_reply(l, p.end, p.count, r);
                notify(
                    LIST,
                    if p.end == End::Left { "lpop" } else { "rpop" },
                    db,
                    key,
                );
                if l.is_empty() {
                    shard.dbs[db].remove(key);
                    notify(GENERIC, "del", db, key);
                }
                return true;
            }
        }
    }
    false
}

pub fn lmpop(c: &mut Ctx, a: Args) {
    let p = match parse_lmpop(a, 1) {
        Ok(p) => p,
        Err(e) => return c.r.error(&e),
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    if !lmpop_core(shard, *db, *now, a, &p, r, never_skip) {
        r.null_array();
    }
}
