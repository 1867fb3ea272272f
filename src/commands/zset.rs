//! Sorted set commands (Redis's t_zset.c), minus the blocking B* forms.
//! Empty sorted sets are never stored.

use super::ctx::{arg_i64, eq_ic, Ctx, Replied, ERR_NOT_INT, ERR_SYNTAX};
use super::list::{arg_positive, arg_range, lookup_value};
use crate::notify::{notify, GENERIC, ZSET};
use crate::protocol::reply::{format_d2string, format_g17};
use crate::protocol::{Args, Reply};
use crate::shard::Shard;
use crate::types::list::clamp_range;
use crate::types::zset::{AddFlags, AddOutcome, LexItem, LexRange, ScoreRange, SkipList, ZPack};
use crate::types::{Value, ZSet, WRONGTYPE};
use std::cmp::Ordering;

const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";
const ERR_SCORE_RANGE: &str = "ERR min or max is not a float";
const ERR_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// The sorted set at `key`: `Ok(None)` if missing, `Err` (WRONGTYPE
/// replied) if it holds another type.
pub fn lookup_zset<'s>(
    shard: &'s mut Shard,
    db: usize,
    now: u64,
    key: &[u8],
    read: bool,
    r: &mut Reply,
) -> Result<Option<&'s mut ZSet>, Replied> {
    match lookup_value(shard, db, now, key, read) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => {
            r.error(WRONGTYPE);
            Err(Replied)
        }
    }
}

/// An optional '-' and 1 to 15 decimal digits, which strtod converts
/// exactly: scores are integers more often than not (redis-benchmark's
/// ZADD, timestamps, counters), and the general path (UTF-8 check,
/// `f64::from_str`, the strtod edge cases) cost ~400 instructions a ZADD.
#[inline]
fn small_integer(a: &[u8]) -> Option<f64> {
    let (neg, digits) = match a.first()? {
        b'-' => (true, &a[1..]),
        _ => (false, a),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut n = 0u64;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as u64;
    }
    // "-0" is -0.0, as strtod reads it.
    let v = n as f64;
    Some(if neg { -v } else { v })
}

/// C's strtod on a whole string (no trailing garbage): decimal forms and
/// inf/infinity/nan via Rust's parser, plus C99 hex floats ("0x1p3").
fn c_strtod(t: &str) -> Option<f64> {
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let hex = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X"));
    let Some(hex) = hex else {
        return t.parse().ok();
    };
    let (mant, exp) = match hex.find(['p', 'P']) {
        Some(i) => (&hex[..i], Some(&hex[i + 1..])),
        None => (hex, None),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut m: u64 = 0;
    let mut shift: i64 = 0;
    for (i, ch) in int.chars().chain(frac.chars()).enumerate() {
        let d = ch.to_digit(16)? as u64;
        if m >> 56 == 0 {
            m = m * 16 + d;
            if i >= int.len() {
                shift -= 4;
            }
        } else if i < int.len() {
            // Digits past u64 precision: only their magnitude counts.
            shift += 4;
        }
    }
    let e: i64 = match exp {
        Some(e) => e.parse().ok()?,
        None => 0,
    };
    let v = (m as f64) * 2f64.powi((e + shift).clamp(-2000, 2000) as i32);
    Some(if neg { -v } else { v })
}

/// C's strtod over the whole argument, as zslParseRange uses it: leading
/// whitespace allowed, an empty string is 0, NaN rejected.
fn strtod_all(a: &[u8]) -> Option<f64> {
    if a.is_empty() {
        return Some(0.0);
    }
    let t = a.trim_ascii_start();
    if t.is_empty() {
        return None;
    }
    let v = c_strtod(std::str::from_utf8(t).ok()?)?;
    (!v.is_nan()).then_some(v)
}

/// getDoubleFromObject: the whole argument must be a number (no leading
/// space, not empty, no NaN), and strtod must not have overflowed or
/// underflowed to zero ("1e400" is an error, "inf" is not).
pub fn arg_double(a: &[u8]) -> Option<f64> {
    small_integer(a).or_else(|| any_double(a))
}

/// `arg_double` without the integer shortcut: strtod's whole grammar.
fn any_double(a: &[u8]) -> Option<f64> {
    if a.is_empty() || a[0].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(a).ok()?;
    let v = c_strtod(s)?;
    if v.is_nan() {
        return None;
    }
    let body = s.trim_start_matches(['+', '-']);
    let is_hex = body.starts_with("0x") || body.starts_with("0X");
    if v.is_infinite()
        && !is_hex
        && !body.eq_ignore_ascii_case("inf")
        && !body.eq_ignore_ascii_case("infinity")
    {
        return None;
    }
    if v == 0.0 && !is_hex {
        let mantissa = body.split(['e', 'E']).next().unwrap_or("");
        if mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            return None;
        }
    }
    Some(v)
}

/// zslParseRange: "1.5" is inclusive, "(1.5" exclusive.
pub fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    fn item(a: &[u8]) -> Option<(f64, bool)> {
        // Integer-encoded arguments are taken as integers (no '(' possible).
        if let Some(v) = arg_i64(a) {
            return Some((v as f64, false));
        }
        match a.first() {
            Some(b'(') => Some((strtod_all(&a[1..])?, true)),
            _ => Some((strtod_all(a)?, false)),
        }
    }
    let (min, minex) = item(min)?;
    let (max, maxex) = item(max)?;
    Some(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

/// zslParseLexRange: "-", "+", "[x" (inclusive) or "(x" (exclusive).
pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Option<LexRange> {
    fn item(a: &[u8]) -> Option<(LexItem, bool)> {
        // Redis rejects integer-encoded objects outright.
        if arg_i64(a).is_some() {
            return None;
        }
        match a.first()? {
            b'+' if a.len() == 1 => Some((LexItem::PosInf, true)),
            b'-' if a.len() == 1 => Some((LexItem::NegInf, true)),
            b'(' => Some((LexItem::Str(a[1..].to_vec()), true)),
            b'[' => Some((LexItem::Str(a[1..].to_vec()), false)),
            _ => None,
        }
    }
    let (min, minex) = item(min)?;
    let (max, maxex) = item(max)?;
    Some(LexRange {
        min,
        max,
        minex,
        maxex,
    })
}

/// Reply with (member, score) items: RESP2 a flat array, RESP3 an array of
/// pairs; members only without scores.
fn reply_items(r: &mut Reply, items: &[(&[u8], f64)], withscores: bool) {
    if withscores && !r.resp3() {
        r.array(items.len() * 2);
    } else {
        r.array(items.len());
    }
    for (m, s) in items {
        if withscores && r.resp3() {
            r.array(2);
        }
        r.bulk(m);
        if withscores {
            r.double(*s);
        }
    }
}

pub(super) fn zadd_generic(c: &mut Ctx, a: Args, incr_cmd: bool) {
    let mut f = AddFlags {
        incr: incr_cmd,
        ..Default::default()
    };
    let mut ch = false;
    let mut idx = 2;
    while idx < a.len() {
        let o = a.get(idx);
        if eq_ic(o, "nx") {
            f.nx = true;
        } else if eq_ic(o, "xx") {
            f.xx = true;
        } else if eq_ic(o, "ch") {
            ch = true;
        } else if eq_ic(o, "incr") {
            f.incr = true;
        } else if eq_ic(o, "gt") {
            f.gt = true;
        } else if eq_ic(o, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = a.len() - idx;
    if elements % 2 == 1 || elements == 0 {
        return c.r.error(ERR_SYNTAX);
    }
    let elements = elements / 2;
    if f.nx && f.xx {
        return c
            .r
            .error("ERR XX and NX options at the same time are not compatible");
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return c
            .r
            .error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && elements > 1 {
        return c
            .r
            .error("ERR INCR option supports a single increment-element pair");
    }
    // All scores are parsed before anything changes: all or nothing.
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        match arg_double(a.get(idx + j * 2)) {
            Some(v) => scores.push(v),
            None => return c.r.error(ERR_NOT_FLOAT),
        }
    }
    let key = a.get(1);
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let mut fresh: Option<ZSet> = None;
    let z: &mut ZSet = match lookup_zset(shard, *db, *now, key, false, r) {
        Err(Replied) => return,
        Ok(Some(z)) => z,
        Ok(None) if f.xx => {
            return if f.incr { r.null() } else { r.int(0) };
        }
        Ok(None) => fresh.insert(ZSet::new_for(a.get(idx + 1).len())),
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (j, &score) in scores.iter().enumerate() {
        match z.add(score, a.get(idx + 1 + j * 2), f) {
            AddOutcome::Added(s) => {
                added += 1;
                processed += 1;
                last = s;
            }
            AddOutcome::Updated(s) => {
                updated += 1;
                processed += 1;
                last = s;
            }
            AddOutcome::Same(s) => {
                processed += 1;
                last = s;
            }
            AddOutcome::Nop => {}
            AddOutcome::NaN => {
                nan = true;
                break;
            }
        }
    }
    if nan {
        r.error("ERR resulting score is not a number (NaN)");
    } else if f.incr {
        if processed > 0 {
            r.double(last);
        } else {
            r.null();
        }
    } else {
        r.int(if ch { added + updated } else { added });
    }
    if let Some(z) = fresh {
        if !z.is_empty() {
            shard.dbs[*db].set(key, Value::ZSet(z), 0);
        }
    } else if added + updated > 0 {
        // As Redis signals it: a member re-added with its score changed
        // nothing, and a WATCH of the key survives it.
        shard.dbs[*db].touch(key);
    }
    if !nan && added + updated > 0 {
        notify(ZSET, if f.incr { "zincr" } else { "zadd" }, *db, key);
    }
}

pub fn zadd(c: &mut Ctx, a: Args) {
    zadd_generic(c, a, false)
}
pub fn zincrby(c: &mut Ctx, a: Args) {
    zadd_generic(c, a, true)
}

pub fn zrem(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_zset(shard, *db, *now, key, false, r) {
        Err(Replied) => {}
        Ok(None) => r.int(0),
        Ok(Some(z)) => {
            let mut n = 0;
            for m in a.iter().skip(2) {
                if z.remove(m) {
                    n += 1;
                }
                if z.is_empty() {
                    break;
                }
            }
            r.int(n);
            if n > 0 {
                notify(ZSET, "zrem", *db, key);
            }
            if z.is_empty() {
                shard.dbs[*db].remove(key);
                notify(GENERIC, "del", *db, key);
            }
        }
    }
}

pub fn zcard(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => {}
        Ok(None) => r.int(0),
        Ok(Some(z)) => r.int(z.len() as i64),
    }
}

pub fn zscore(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => {}
        Ok(None) => r.null(),
        Ok(Some(z)) => match z.score(a.get(2)) {
            Some(s) => r.double(s),
            None => r.null(),
        },
    }
}

pub fn zmscore(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let z = match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => return,
        Ok(z) => z,
    };
    r.array(a.len() - 2);
    for m in a.iter().skip(2) {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => r.double(s),
            None => r.null(),
        }
    }
}

fn zrank_generic(c: &mut Ctx, a: Args, rev: bool) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => {}
        Ok(None) => r.null(),
        Ok(Some(z)) => match z.rank(a.get(2), rev) {
            Some(n) => r.int(n as i64),
            None => r.null(),
        },
    }
}

pub fn zrank(c: &mut Ctx, a: Args) {
    zrank_generic(c, a, false)
}
pub fn zrevrank(c: &mut Ctx, a: Args) {
    zrank_generic(c, a, true)
}

/// Forward ranks `first..=last` of the members in a score or lex range.
enum Range {
    Score(ScoreRange),
    Lex(LexRange),
}

impl Range {
    fn first(&self, z: &ZSet) -> Option<usize> {
        match self {
            Range::Score(r) => z.first_in_score(r),
            Range::Lex(r) => z.first_in_lex(r),
        }
    }
    fn last(&self, z: &ZSet) -> Option<usize> {
        match self {
            Range::Score(r) => z.last_in_score(r),
            Range::Lex(r) => z.last_in_lex(r),
        }
    }
    fn gte_min(&self, m: &[u8], s: f64) -> bool {
        match self {
            Range::Score(r) => r.gte_min(s),
            Range::Lex(r) => r.gte_min(m),
        }
    }
    fn lte_max(&self, m: &[u8], s: f64) -> bool {
        match self {
            Range::Score(r) => r.lte_max(s),
            Range::Lex(r) => r.lte_max(m),
        }
    }
}

fn count_generic(c: &mut Ctx, a: Args, lex: bool) {
    let range = if lex {
        match parse_lex_range(a.get(2), a.get(3)) {
            Some(r) => Range::Lex(r),
            None => return c.r.error(ERR_LEX_RANGE),
        }
    } else {
        match parse_score_range(a.get(2), a.get(3)) {
            Some(r) => Range::Score(r),
            None => return c.r.error(ERR_SCORE_RANGE),
        }
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => {}
        Ok(None) => r.int(0),
        Ok(Some(z)) => {
            let n = match (range.first(z), range.last(z)) {
                (Some(f), Some(l)) if l >= f => l - f + 1,
                _ => 0,
            };
            r.int(n as i64);
        }
    }
}

pub fn zcount(c: &mut Ctx, a: Args) {
    count_generic(c, a, false)
}
pub fn zlexcount(c: &mut Ctx, a: Args) {
    count_generic(c, a, true)
}

#[derive(Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// ZRANGE and friends; `store` = ZRANGESTORE's destination key. `src_at`
/// is the position of the source key; min/max follow it.
fn zrange_generic(
    c: &mut Ctx,
    a: Args,
    src_at: usize,
    store: Option<&[u8]>,
    mut rt: RangeType,
    rev_preset: Option<bool>,
) {
    let mut withscores = false;
    let (mut offset, mut limit): (i64, i64) = (0, -1);
    let mut rev = rev_preset;
    let mut j = src_at + 3;
    while j < a.len() {
        let o = a.get(j);
        let left = a.len() - j - 1;
        if store.is_none() && eq_ic(o, "withscores") {
            withscores = true;
        } else if eq_ic(o, "limit") && left >= 2 {
            match (arg_i64(a.get(j + 1)), arg_i64(a.get(j + 2))) {
                (Some(o), Some(l)) => {
                    offset = o;
                    limit = l;
                }
                _ => return c.r.error(ERR_NOT_INT),
            }
            j += 2;
        } else if rev_preset.is_none() && eq_ic(o, "rev") {
            rev = Some(true);
        } else if rt == RangeType::Auto && eq_ic(o, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && eq_ic(o, "byscore") {
            rt = RangeType::Score;
        } else {
            return c.r.error(ERR_SYNTAX);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return c.r.error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && rt == RangeType::Lex {
        return c
            .r
            .error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut min_at, mut max_at) = (src_at + 1, src_at + 2);
    if rev && rt != RangeType::Rank {
        // BYSCORE/BYLEX with REV take the range as max, min.
        std::mem::swap(&mut min_at, &mut max_at);
    }
    let mut rank_range = (0i64, 0i64);
    let mut range = None;
    match rt {
        RangeType::Score => match parse_score_range(a.get(min_at), a.get(max_at)) {
            Some(r) => range = Some(Range::Score(r)),
            None => return c.r.error(ERR_SCORE_RANGE),
        },
        RangeType::Lex => match parse_lex_range(a.get(min_at), a.get(max_at)) {
            Some(r) => range = Some(Range::Lex(r)),
            None => return c.r.error(ERR_LEX_RANGE),
        },
        _ => match (arg_i64(a.get(min_at)), arg_i64(a.get(max_at))) {
            (Some(s), Some(e)) => rank_range = (s, e),
            _ => return c.r.error(ERR_NOT_INT),
        },
    }
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let z = match lookup_zset(shard, *db, *now, a.get(src_at), true, r) {
        Err(Replied) => return,
        Ok(z) => z,
    };
    let mut items: Vec<(&[u8], f64)> = Vec::new();
    let mut hint = 0;
    if let Some(z) = z.as_deref() {
        match &range {
            None => {
                if let Some((s, e)) = clamp_range(rank_range.0, rank_range.1, z.len()) {
                    hint = e - s + 1;
                    items.extend(z.iter_from(s, rev).take(e - s + 1));
                }
            }
            Some(rg) => {
                let start = if rev { rg.last(z) } else { rg.first(z) };
                if let (Some(start), true) = (start, offset >= 0) {
                    let from = if rev { z.len() - 1 - start } else { start };
                    let take = if limit < 0 {
                        usize::MAX
                    } else {
                        limit as usize
                    };
                    items.extend(
                        z.iter_from(from, rev)
                            .skip(offset as usize)
                            .take_while(|(m, s)| {
                                if rev {
                                    rg.gte_min(m, *s)
                                } else {
                                    rg.lte_max(m, *s)
                                }
                            })
                            .take(take),
                    );
                }
            }
        }
    }
    let Some(dst) = store else {
        return reply_items(r, &items, withscores);
    };
    if items.is_empty() {
        r.int(0);
        if shard.dbs[*db].remove(dst).is_some() {
            notify(GENERIC, "del", *db, dst);
        }
        return;
    }
    // Redis sizes the destination by the rank range (unknown for score
    // and lex ranges), then adds members one by one.
    let mut out = ZSet::with_hint(hint);
    for (m, s) in &items {
        out.add(*s, m, AddFlags::default());
    }
    let n = out.len();
    shard.dbs[*db].set(dst, Value::ZSet(out), 0);
    notify(ZSET, "zrangestore", *db, dst);
    r.int(n as i64);
}

pub fn zrange(c: &mut Ctx, a: Args) {
    zrange_generic(c, a, 1, None, RangeType::Auto, None)
}
pub fn zrangestore(c: &mut Ctx, a: Args) {
    let dst = a.get(1);
    zrange_generic(c, a, 2, Some(dst), RangeType::Auto, None)
}
pub fn zrevrange(c: &mut Ctx, a: Args) {
    zrange_generic(c, a, 1, None, RangeType::Rank, Some(true))
}
pub fn zrangebyscore(c: &mut Ctx, a: Args) {
    zrange_generic(c, a, 1, None, RangeType::Score, Some(false))
}
pub fn zrevrangebyscore(c: &mut Ctx, a: Args) {
    zrange_generic(c, a, 1, None, RangeType::Score, Some(true))
}
pub fn zrangebylex(c: &mut Ctx, a: Args) {
    zrange_generic(c, a, 1, None, RangeType::Lex, Some(false))
}
pub fn zrevrangebylex(c: &mut Ctx, a: Args) {
    zrange_generic(c, a, 1, None, RangeType::Lex, Some(true))
}

fn zremrange_generic(c: &mut Ctx, a: Args, rt: RangeType) {
    let mut rank_range = (0i64, 0i64);
    let range = match rt {
        RangeType::Score => match parse_score_range(a.get(2), a.get(3)) {
            Some(r) => Some(Range::Score(r)),
            None => return c.r.error(ERR_SCORE_RANGE),
        },
        RangeType::Lex => match parse_lex_range(a.get(2), a.get(3)) {
            Some(r) => Some(Range::Lex(r)),
            None => return c.r.error(ERR_LEX_RANGE),
        },
        _ => match (arg_i64(a.get(2)), arg_i64(a.get(3))) {
            (Some(s), Some(e)) => {
                rank_range = (s, e);
                None
            }
            _ => return c.r.error(ERR_NOT_INT),
        },
    };
    let key = a.get(1);
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let z = match lookup_zset(shard, *db, *now, key, false, r) {
        Err(Replied) => return,
        Ok(None) => return r.int(0),
        Ok(Some(z)) => z,
    };
    let span = match &range {
        None => clamp_range(rank_range.0, rank_range.1, z.len()),
        // Like zslDeleteRangeBy*: from the first member in range, every
        // following member while it stays within the max.
        Some(rg) => rg.first(z).map(|f| {
            let n = z
                .iter_from(f, false)
                .take_while(|(m, s)| rg.lte_max(m, *s))
                .count();
            (f, f + n.max(1) - 1)
        }),
    };
    let removed = match span {
        Some((s, e)) => z.remove_ranks(s, e),
        None => 0,
    };
    r.int(removed as i64);
    if removed > 0 {
        let event = match rt {
            RangeType::Score => "zremrangebyscore",
            RangeType::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        notify(ZSET, event, *db, key);
    }
    if z.is_empty() {
        shard.dbs[*db].remove(key);
        notify(GENERIC, "del", *db, key);
    }
}

pub fn zremrangebyrank(c: &mut Ctx, a: Args) {
    zremrange_generic(c, a, RangeType::Rank)
}
pub fn zremrangebyscore(c: &mut Ctx, a: Args) {
    zremrange_generic(c, a, RangeType::Score)
}
pub fn zremrangebylex(c: &mut Ctx, a: Args) {
    zremrange_generic(c, a, RangeType::Lex)
}

/// How a pop reply is shaped (genericZpopCommand's emitkey/nested flags).
#[derive(Clone, Copy)]
pub enum PopShape {
    /// ZPOPMIN/ZPOPMAX: flat [m, s, ...]; RESP3 with COUNT: [[m, s], ...].
    Plain { nested: bool },
    /// ZMPOP/BZMPOP: [key, [[m, s], ...]].
    WithKey,
}

/// Pop up to `count` members of the zset at `key` (present, non-empty)
/// and reply; deletes the key when it empties.
#[allow(clippy::too_many_arguments)]
pub fn zpop_reply(
    shard: &mut Shard,
    db: usize,
    now: u64,
    key: &[u8],
    max: bool,
    count: usize,
    shape: PopShape,
    r: &mut Reply,
) {
    let Ok(Some(z)) = lookup_zset(shard, db, now, key, false, r) else {
        return;
    };
    let n = count.min(z.len());
    match shape {
        PopShape::Plain { nested: false } => r.array(n * 2),
        PopShape::Plain { nested: true } => r.array(n),
        PopShape::WithKey => {
            r.array(2);
            r.bulk(key);
            r.array(n);
        }
    }
    let nested = !matches!(shape, PopShape::Plain { nested: false });
    for _ in 0..n {
        if let Some((m, s)) = z.pop(max) {
            if nested {
                r.array(2);
            }
            r.bulk(&m);
            r.double(s);
        }
    }
    if n > 0 {
        notify(ZSET, if max { "zpopmax" } else { "zpopmin" }, db, key);
    }
    if z.is_empty() {
        shard.dbs[db].remove(key);
        notify(GENERIC, "del", db, key);
    }
}

fn zpop_generic(c: &mut Ctx, a: Args, max: bool) {
    if a.len() > 3 {
        return c.r.error(ERR_SYNTAX);
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
    match lookup_zset(shard, *db, *now, key, false, r) {
        Err(Replied) => return,
        Ok(None) => return r.array(0),
        Ok(Some(_)) => {}
    }
    if count == Some(0) {
        return r.array(0);
    }
    let nested = r.resp3() && count.is_some();
    zpop_reply(
        shard,
        *db,
        *now,
        key,
        max,
        count.unwrap_or(1),
        PopShape::Plain { nested },
        r,
    );
}

pub fn zpopmin(c: &mut Ctx, a: Args) {
    zpop_generic(c, a, false)
}
pub fn zpopmax(c: &mut Ctx, a: Args) {
    zpop_generic(c, a, true)
}

/// Parsed `numkeys key... MIN|MAX [COUNT n]` of ZMPOP/BZMPOP, from argument
/// `at` (the numkeys position).
pub struct ZMPopArgs {
    pub first_key: usize,
    pub numkeys: usize,
    pub max: bool,
    pub count: usize,
}

pub fn parse_zmpop(a: Args, at: usize) -> Result<ZMPopArgs, String> {
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
    let w = a.get(where_idx);
    let max = if eq_ic(w, "min") {
        false
    } else if eq_ic(w, "max") {
        true
    } else {
        return Err(ERR_SYNTAX.into());
    };
    let count = super::list::mpop_count(a, where_idx + 1)?;
    Ok(ZMPopArgs {
        first_key: at + 1,
        numkeys: numkeys as usize,
        max,
        count: count.unwrap_or(1),
    })
}

/// ZMPOP's work: pop from the first existing sorted set. Returns false
/// (nothing replied) when none exists, so a blocking caller can block.
pub fn zmpop_core(
    shard: &mut Shard,
    db: usize,
    now: u64,
    a: Args,
    p: &ZMPopArgs,
    r: &mut Reply,
    skip: super::list::SkipKey,
) -> bool {
    for i in p.first_key..p.first_key + p.numkeys {
        let key = a.get(i);
        if skip(shard, db, now, key, true) {
            continue;
        }
        match lookup_zset(shard, db, now, key, false, r) {
            Err(Replied) => return true,
            Ok(None) => continue,
            Ok(Some(z)) if z.is_empty() => continue,
            Ok(Some(_)) => {
                zpop_reply(shard, db, now, key, p.max, p.count, PopShape::WithKey, r);
                return true;
            }
        }
    }
    false
}

pub fn zmpop(c: &mut Ctx, a: Args) {
    let p = match parse_zmpop(a, 1) {
        Ok(p) => p,
        Err(e) => return c.r.error(&e),
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    if !zmpop_core(shard, *db, *now, a, &p, r, super::list::never_skip) {
        r.null_array();
    }
}

/// A random-count reply bigger than this is refused: Redis would build it
/// (gigabytes of output for the client to never read); no sane client asks
/// for more than this many samples at once.
const RANDMEMBER_MAX: u64 = 1 << 24;

pub fn zrandmember(c: &mut Ctx, a: Args) {
    if a.len() < 3 {
        let Ctx {
            shard, db, now, r, ..
        } = c;
        return match lookup_zset(shard, *db, *now, a.get(1), true, r) {
            Err(Replied) => {}
            Ok(None) => r.null(),
            Ok(Some(z)) => match z.random() {
                Some((m, _)) => r.bulk(m),
                None => r.null(),
            },
        };
    }
    let l = match arg_range(a.get(2), -i64::MAX, i64::MAX, None) {
        Ok(l) => l,
        Err(e) => return c.r.error(&e),
    };
    if a.len() > 4 || (a.len() == 4 && !eq_ic(a.get(3), "withscores")) {
        return c.r.error(ERR_SYNTAX);
    }
    let withscores = a.len() == 4;
    if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
        return c.r.error("ERR value is out of range");
    }
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let z = match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => return,
        Ok(None) => return r.array(0),
        Ok(Some(z)) => z,
    };
    let count = l.unsigned_abs();
    if count == 0 {
        return r.array(0);
    }
    let size = z.len();
    if l < 0 || count == 1 {
        // With repetitions, in random order.
        if count > RANDMEMBER_MAX {
            return r.error("ERR value is out of range");
        }
        // Streamed: no intermediate copy of what may be millions of picks.
        if withscores && !r.resp3() {
            r.array(count as usize * 2);
        } else {
            r.array(count as usize);
        }
        for _ in 0..count {
            let (m, s) = z.random().unwrap_or((b"", 0.0));
            if withscores && r.resp3() {
                r.array(2);
            }
            r.bulk(m);
            if withscores {
                r.double(s);
            }
        }
        return;
    }
    let count = count as usize;
    if count >= size {
        // The whole set, highest first: Redis's zset iterator walks backwards.
        let all: Vec<(&[u8], f64)> = z.iter_from(0, true).collect();
        return reply_items(r, &all, withscores);
    }
    // Distinct members: a partial Fisher-Yates over the ranks.
    let mut ranks: Vec<usize> = (0..size).collect();
    for i in 0..count {
        let j = fastrand::usize(i..size);
        ranks.swap(i, j);
    }
    let picks: Vec<(&[u8], f64)> = match z {
        ZSet::Pack(_) => ranks[..count]
            .iter()
            .filter_map(|&i| z.iter_from(i, false).next())
            .collect(),
        ZSet::Skip(_) => {
            let all: Vec<(&[u8], f64)> = z.iter().collect();
            ranks[..count].iter().map(|&i| all[i]).collect()
        }
    };
    reply_items(r, &picks, withscores);
}

pub fn zscan(c: &mut Ctx, a: Args) {
    let Some(cursor) = super::coll::scan_cursor(a.get(2)) else {
        return c.r.error("ERR invalid cursor");
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let z = match lookup_zset(shard, *db, *now, a.get(1), true, r) {
        Err(Replied) => return,
        Ok(None) => {
            r.array(2);
            r.bulk(b"0");
            return r.array(0);
        }
        Ok(Some(z)) => z,
    };
    // Options are parsed after the lookup, as in Redis (a missing key is
    // an empty scan, a wrong type WRONGTYPE, whatever the options).
    let opts = match super::coll::scan_opts(a, 3) {
        Ok(o) => o,
        Err(e) => return r.error(e),
    };
    let (count, pattern) = (opts.count, opts.pattern);
    let mut out: Vec<(&[u8], String)> = Vec::new();
    let keep = |m: &[u8]| pattern.is_none_or(|p| crate::shard::pattern::glob_match(p, m, false));
    let next = match &*z {
        // A listpack is small: everything in one call, as Redis does, with
        // scores as the listpack stores them.
        ZSet::Pack(p) => {
            for (m, sc) in p.iter() {
                if keep(m) {
                    out.push((m, format_d2string(sc)));
                }
            }
            0
        }
        ZSet::Skip(s) => {
            let mut found: Vec<(&[u8], f64)> = Vec::new();
            let next = s.scan(cursor, count, |m, sc| found.push((m, sc)));
            for (m, sc) in found {
                if keep(m) {
                    out.push((m, format_g17(sc)));
                }
            }
            next
        }
    };
    r.array(2);
    r.bulk(next.to_string().as_bytes());
    r.array(out.len() * 2);
    for (m, s) in out {
        r.bulk(m);
        r.bulk(s.as_bytes());
    }
}

// ---------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF (+STORE) and ZINTERCARD

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, v: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += v;
            // inf + -inf: Redis's convention is 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v
            }
        }
    }
}

/// The value behind one input key of a set operation. Redis also accepts
/// plain sets (every member scoring 1): once the set type is on this
/// branch it is one more variant here and one arm in each method below.
enum Input<'a> {
    Missing,
    Z(&'a ZSet),
    /// A plain set: every member scores 1 (Redis's zuiInitIterator); its
    /// members are materialized once, as bytes, for iteration.
    Set(&'a crate::types::SetVal, &'a [Vec<u8>]),
}

impl<'a> Input<'a> {
    /// The input for a stored value; None = wrong type.
    fn of(v: Option<&'a Value>) -> Option<Input<'a>> {
        match v {
            None => Some(Input::Missing),
            Some(Value::ZSet(z)) => Some(Input::Z(z)),
            // Type check only: pass 2 builds the Set input with its members.
            Some(Value::Set(_)) => Some(Input::Missing),
            Some(_) => None,
        }
    }
    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Z(z) => z.len(),
            Input::Set(s, _) => s.len(),
        }
    }
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Z(z) => z.score(m),
            Input::Set(s, _) => s.contains(m).then_some(1.0),
        }
    }
    fn iter(&self) -> Box<dyn Iterator<Item = (&'a [u8], f64)> + 'a> {
        match *self {
            Input::Missing => Box::new(std::iter::empty()),
            Input::Z(z) => Box::new(z.iter()),
            Input::Set(_, members) => Box::new(members.iter().map(|m| (m.as_slice(), 1.0))),
        }
    }
}

struct Src<'a> {
    input: Input<'a>,
    key: &'a [u8],
    weight: f64,
}

impl Src<'_> {
    fn len(&self) -> usize {
        self.input.len()
    }
    fn score(&self, m: &[u8]) -> Option<f64> {
        self.input.score(m)
    }
}

/// Sort (member, score) results into zset order.
pub(super) fn sort_items(items: &mut [(&[u8], f64)]) {
    items.sort_unstable_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(b.0))
    });
}

/// A stored result: listpack if small enough, else skiplist (Redis builds
/// a skiplist, then zsetConvertToListpackIfNeeded).
pub(super) fn zset_from_sorted(items: &[(&[u8], f64)]) -> ZSet {
    let mut s = SkipList::new();
    let small = {
        let me = crate::types::limits::Limits::get(
            &crate::types::limits::LIMITS.zset_max_listpack_entries,
        );
        let mv = crate::types::limits::Limits::get(
            &crate::types::limits::LIMITS.zset_max_listpack_value,
        );
        (items.len() as i64) <= me && items.iter().all(|(m, _)| (m.len() as i64) <= mv)
    };
    if small {
        return ZSet::Pack(ZPack::from_sorted(items.iter().copied()));
    }
    for (m, sc) in items {
        s.insert(*sc, m);
    }
    ZSet::Skip(Box::new(s))
}

fn setop_generic(
    c: &mut Ctx,
    a: Args,
    dst: Option<&[u8]>,
    numkeys_at: usize,
    op: SetOp,
    card_only: bool,
    name: &str,
) {
    let Some(setnum) = arg_i64(a.get(numkeys_at)) else {
        return c.r.error(ERR_NOT_INT);
    };
    if setnum < 1 {
        return c.r.error(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    if setnum as u64 > (a.len() - (numkeys_at + 1)) as u64 {
        return c.r.error(ERR_SYNTAX);
    }
    let setnum = setnum as usize;
    let first = numkeys_at + 1;
    let Ctx {
        shard, db, now, r, ..
    } = c;
    // Pass 1: lazy expiry and type checks (before option parsing, as Redis).
    for i in first..first + setnum {
        if Input::of(lookup_value(shard, *db, *now, a.get(i), true).map(|v| &*v)).is_none() {
            return r.error(WRONGTYPE);
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: usize = 0;
    let mut j = first + setnum;
    while j < a.len() {
        let remaining = a.len() - j;
        let o = a.get(j);
        if op != SetOp::Diff && !card_only && remaining > setnum && eq_ic(o, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match arg_double(a.get(j)) {
                    Some(v) => *w = v,
                    None => return r.error("ERR weight value is not a float"),
                }
                j += 1;
            }
            continue;
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && eq_ic(o, "aggregate") {
            let v = a.get(j + 1);
            agg = if eq_ic(v, "sum") {
                Aggregate::Sum
            } else if eq_ic(v, "min") {
                Aggregate::Min
            } else if eq_ic(v, "max") {
                Aggregate::Max
            } else {
                return r.error(ERR_SYNTAX);
            };
            j += 2;
            continue;
        } else if dst.is_none() && !card_only && eq_ic(o, "withscores") {
            withscores = true;
            j += 1;
            continue;
        } else if card_only && remaining >= 2 && eq_ic(o, "limit") {
            match arg_positive(a.get(j + 1), Some("LIMIT can't be negative")) {
                Ok(n) => limit = n as usize,
                Err(e) => return r.error(&e),
            }
            j += 2;
            continue;
        }
        return r.error(ERR_SYNTAX);
    }
    // Pass 2: borrow every input at once (read-only).
    let d = &shard.dbs[*db];
    let set_members: Vec<Vec<Vec<u8>>> = (0..setnum)
        .map(|i| match d.peek(a.get(first + i)).map(|e| &e.value) {
            Some(Value::Set(s)) => s.iter().map(|m| m.with_bytes(|b| b.to_vec())).collect(),
            _ => Vec::new(),
        })
        .collect();
    let mut srcs: Vec<Src> = (0..setnum)
        .map(|i| {
            let key = a.get(first + i);
            let input = match d.peek(key).map(|e| &e.value) {
                Some(Value::Set(s)) => Input::Set(s, &set_members[i]),
                // Types were checked in pass 1.
                other => Input::of(other).unwrap_or(Input::Missing),
            };
            Src {
                input,
                key,
                weight: weights[i],
            }
        })
        .collect();
    if op != SetOp::Diff {
        // Smallest first, as Redis (a stable sort, like glibc's qsort).
        srcs.sort_by_key(|s| s.len());
    }
    let mut items: Vec<(&[u8], f64)> = Vec::new();
    let mut card = 0usize;
    match op {
        SetOp::Inter => {
            for (m, s0) in srcs[0].input.iter() {
                let mut score = srcs[0].weight * s0;
                if score.is_nan() {
                    score = 0.0;
                }
                let mut all = true;
                for src in &srcs[1..] {
                    let v = if src.key == srcs[0].key {
                        Some(s0)
                    } else {
                        src.score(m)
                    };
                    match v {
                        Some(v) => aggregate(&mut score, v * src.weight, agg),
                        None => {
                            all = false;
                            break;
                        }
                    }
                }
                if !all {
                    continue;
                }
                if card_only {
                    card += 1;
                    if limit != 0 && card >= limit {
                        break;
                    }
                } else {
                    items.push((m, score));
                }
            }
        }
        SetOp::Union => {
            let mut acc: hashbrown::HashMap<&[u8], f64, foldhash::fast::RandomState> =
                hashbrown::HashMap::with_capacity_and_hasher(
                    srcs.last().map_or(0, |s| s.len()),
                    Default::default(),
                );
            let mut order: Vec<&[u8]> = Vec::new();
            for src in &srcs {
                for (m, s) in src.input.iter() {
                    let mut score = src.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m, score);
                            order.push(m);
                        }
                    }
                }
            }
            items = order
                .into_iter()
                .filter_map(|m| acc.get(m).map(|&s| (m, s)))
                .collect();
        }
        SetOp::Diff => {
            for (m, s0) in srcs[0].input.iter() {
                let mut gone = false;
                for src in &srcs[1..] {
                    if src.key == srcs[0].key || src.score(m).is_some() {
                        gone = true;
                        break;
                    }
                }
                if !gone {
                    items.push((m, s0));
                }
            }
        }
    }
    if card_only {
        return r.int(card as i64);
    }
    sort_items(&mut items);
    let Some(dst) = dst else {
        return reply_items(r, &items, withscores);
    };
    if items.is_empty() {
        drop(srcs);
        r.int(0);
        if shard.dbs[*db].remove(dst).is_some() {
            notify(GENERIC, "del", *db, dst);
        }
        return;
    }
    let out = zset_from_sorted(&items);
    let n = out.len();
    drop(srcs);
    shard.dbs[*db].set(dst, Value::ZSet(out), 0);
    let event = match op {
        SetOp::Union => "zunionstore",
        SetOp::Inter => "zinterstore",
        SetOp::Diff => "zdiffstore",
    };
    notify(ZSET, event, *db, dst);
    r.int(n as i64);
}

pub fn zunion(c: &mut Ctx, a: Args) {
    setop_generic(c, a, None, 1, SetOp::Union, false, "zunion")
}
pub fn zinter(c: &mut Ctx, a: Args) {
    setop_generic(c, a, None, 1, SetOp::Inter, false, "zinter")
}
pub fn zdiff(c: &mut Ctx, a: Args) {
    setop_generic(c, a, None, 1, SetOp::Diff, false, "zdiff")
}
pub fn zintercard(c: &mut Ctx, a: Args) {
    setop_generic(c, a, None, 1, SetOp::Inter, true, "zintercard")
}
pub fn zunionstore(c: &mut Ctx, a: Args) {
    let dst = a.get(1);
    setop_generic(c, a, Some(dst), 2, SetOp::Union, false, "zunionstore")
}
pub fn zinterstore(c: &mut Ctx, a: Args) {
    let dst = a.get(1);
    setop_generic(c, a, Some(dst), 2, SetOp::Inter, false, "zinterstore")
}
pub fn zdiffstore(c: &mut Ctx, a: Args) {
    let dst = a.get(1);
    setop_generic(c, a, Some(dst), 2, SetOp::Diff, false, "zdiffstore")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The integer shortcut reads exactly what strtod reads, to the bit
        /// (-0 included), and leaves everything else to the general path.
        #[test]
        fn small_integers_parse_as_strtod_does(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"0123456789-+.e x".to_vec()), 0..20),
            n in proptest::prelude::any::<i64>(),
        ) {
            if let Some(v) = small_integer(&bytes) {
                proptest::prop_assert_eq!(Some(v.to_bits()), any_double(&bytes).map(f64::to_bits));
            }
            let n = n % 1_000_000_000_000_000;
            let text = n.to_string();
            proptest::prop_assert_eq!(small_integer(text.as_bytes()), Some(n as f64));
        }
    }
}
