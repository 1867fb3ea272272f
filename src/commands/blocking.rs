//! Blocking pops (BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP). Each handler is the non-blocking attempt: it replies
//! when an element is there (or with an error), and writes nothing when it
//! would block. The reactor (`reactor::blocking`) turns "nothing" into a
//! blocked client, retries the same handler when one of its keys is
//! written, and answers the timeout.

use super::ctx::{Ctx, Replied, ERR_SYNTAX};
use super::list::{lmove_core, lmpop_core, lookup_list, parse_end, parse_lmpop};
use super::zset::{lookup_zset, parse_zmpop, zmpop_core};
use crate::notify::{notify, GENERIC, LIST, ZSET};
use crate::protocol::{Args, Reply};
use crate::shard::Shard;
use crate::types::list::End;
use crate::types::Value;

/// Must a blocking pop pass over `key` now? When clients that blocked
/// earlier wait on it (FIFO: they are served first), or when this is a
/// retry and the key holds another type: Redis serves a blocked client only
/// from a key of its type, and only its first try answers WRONGTYPE.
pub fn skip_key(shard: &mut Shard, db: usize, now: u64, key: &[u8], zset: bool) -> bool {
    if shard.waiting_ahead(db, key) {
        return true;
    }
    if !shard.attempt.is_some_and(|a| a.retry) {
        return false;
    }
    let Shard { dbs, stats, .. } = shard;
    match dbs[db].get(key, now, stats).map(|e| &e.value) {
        Some(Value::List(_)) => zset,
        Some(Value::ZSet(_)) => !zset,
        Some(_) => true,
        None => false,
    }
}

/// Redis's timeout argument: seconds as `strtold` reads them (hex and
/// `inf` too), rounded up to whole ms; 0 = forever. Returns the timeout
/// in ms (0 = forever).
pub fn timeout_ms(a: &[u8]) -> Result<u64, &'static str> {
    let Some(secs) = crate::types::long_double::LongDouble::parse(a) else {
        return Err("ERR timeout is not a float or out of range");
    };
    let ms = (secs.to_f64() * 1000.0).ceil();
    // Redis converts with a plain cast, which on x86_64 makes anything
    // out of the 64-bit range (inf included) the most negative value: so
    // `inf` is "negative" while -0.0001 rounds up to 0, forever.
    let two63 = -(i64::MIN as f64);
    let in_range = (-two63..two63).contains(&ms);
    if !in_range || ms < 0.0 {
        return Err("ERR timeout is negative");
    }
    // Past ~146 million years is forever enough, and keeps deadlines
    // (now + ms) clear of overflow.
    Ok((ms as u64).min(i64::MAX as u64 / 2))
}

/// Position of the timeout argument of a blocking command.
pub fn timeout_index(name: &str, argc: usize) -> usize {
    match name {
        "blmpop" | "bzmpop" => 1,
        "brpoplpush" => 3,
        "blmove" => 5,
        _ => argc - 1,
    }
}

/// What a blocking command answers on timeout: a null array for the pops
/// that return arrays, a null bulk for BLMOVE/BRPOPLPUSH.
pub fn timeout_reply(name: &str, r: &mut Reply) {
    match name {
        "blmove" | "brpoplpush" => r.null(),
        _ => r.null_array(),
    }
}

fn check_timeout(c: &mut Ctx, a: Args, name: &str) -> Result<(), Replied> {
    match timeout_ms(a.get(timeout_index(name, a.len()))) {
        Ok(_) => Ok(()),
        Err(e) => {
            c.r.error(e);
            Err(Replied)
        }
    }
}

fn bpop(c: &mut Ctx, a: Args, end: End, name: &str) {
    if check_timeout(c, a, name).is_err() {
        return;
    }
    let Ctx {
        shard, db, now, r, ..
    } = c;
    for i in 1..a.len() - 1 {
        let key = a.get(i);
        if skip_key(shard, *db, *now, key, false) {
            continue;
        }
        match lookup_list(shard, *db, *now, key, false, r) {
            Err(Replied) => return,
            Ok(Some(l)) if !l.is_empty() => {
                if let Some(v) = l.pop(end) {
                    let empty = l.is_empty();
                    r.array(2);
                    r.bulk(key);
                    r.bulk(&v);
                    let event = if end == End::Left { "lpop" } else { "rpop" };
                    notify(LIST, event, *db, key);
                    if empty {
                        shard.dbs[*db].remove(key);
                        notify(GENERIC, "del", *db, key);
                    }
                    return;
                }
            }
            _ => {}
        }
    }
}

pub fn blpop(c: &mut Ctx, a: Args) {
    bpop(c, a, End::Left, "blpop")
}

pub fn brpop(c: &mut Ctx, a: Args) {
    bpop(c, a, End::Right, "brpop")
}

fn bmove(c: &mut Ctx, a: Args, from: End, to: End, name: &str) {
    if check_timeout(c, a, name).is_err() {
        return;
    }
    let (src, dst) = (a.get(1), a.get(2));
    let Ctx {
        shard, db, now, r, ..
    } = c;
    if skip_key(shard, *db, *now, src, false) {
        return;
    }
    match lookup_list(shard, *db, *now, src, false, r) {
        Err(Replied) => {}
        Ok(Some(l)) if !l.is_empty() => lmove_core(shard, *db, *now, src, dst, from, to, r),
        _ => {}
    }
}

pub fn brpoplpush(c: &mut Ctx, a: Args) {
    bmove(c, a, End::Right, End::Left, "brpoplpush")
}

pub fn blmove(c: &mut Ctx, a: Args) {
    let (Some(from), Some(to)) = (parse_end(a.get(3)), parse_end(a.get(4))) else {
        return c.r.error(ERR_SYNTAX);
    };
    bmove(c, a, from, to, "blmove")
}

pub fn blmpop(c: &mut Ctx, a: Args) {
    if check_timeout(c, a, "blmpop").is_err() {
        return;
    }
    let p = match parse_lmpop(a, 2) {
        Ok(p) => p,
        Err(e) => return c.r.error(&e),
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    lmpop_core(shard, *db, *now, a, &p, r, skip_key);
}

fn bzpop(c: &mut Ctx, a: Args, max: bool, name: &str) {
    if check_timeout(c, a, name).is_err() {
        return;
    }
    let Ctx {
        shard, db, now, r, ..
    } = c;
    for i in 1..a.len() - 1 {
        let key = a.get(i);
        if skip_key(shard, *db, *now, key, true) {
            continue;
        }
        match lookup_zset(shard, *db, *now, key, false, r) {
            Err(Replied) => return,
            Ok(Some(z)) if !z.is_empty() => {
                if let Some((m, s)) = z.pop(max) {
                    let empty = z.is_empty();
                    r.array(3);
                    r.bulk(key);
                    r.bulk(&m);
                    r.double(s);
                    notify(ZSET, if max { "zpopmax" } else { "zpopmin" }, *db, key);
                    if empty {
                        shard.dbs[*db].remove(key);
                        notify(GENERIC, "del", *db, key);
                    }
                    return;
                }
            }
            _ => {}
        }
    }
}

pub fn bzpopmin(c: &mut Ctx, a: Args) {
    bzpop(c, a, false, "bzpopmin")
}

pub fn bzpopmax(c: &mut Ctx, a: Args) {
    bzpop(c, a, true, "bzpopmax")
}

pub fn bzmpop(c: &mut Ctx, a: Args) {
    if check_timeout(c, a, "bzmpop").is_err() {
        return;
    }
    let p = match parse_zmpop(a, 2) {
        Ok(p) => p,
        Err(e) => return c.r.error(&e),
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    zmpop_core(shard, *db, *now, a, &p, r, skip_key);
}
