//! HyperLogLog commands (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE,
//! PFDEBUG, PFSELFTEST, over string values in Redis's HLL format
//! (`types::hll`).

use super::conn::ConnCtx;
use super::ctx::{eq_ic, Ctx, Replied};
use super::list::lookup_value;
use crate::notify::{notify, STRING};
use crate::protocol::{Args, Reply};
use crate::shard::Shard;
use crate::types::hll::{self, Registers, ERR_CORRUPT, ERR_NOT_HLL};
use crate::types::limits::{Limits, LIMITS};
use crate::types::{StrVal, Value, WRONGTYPE};

fn sparse_max_bytes() -> usize {
    Limits::get(&LIMITS.hll_sparse_max_bytes).max(0) as usize
}

/// The HyperLogLog at `key`: `Ok(None)` if missing; `Err` (replied) if it
/// is not a string, or a string that is not a HyperLogLog.
fn lookup_hll<'s>(
    shard: &'s mut Shard,
    db: usize,
    now: u64,
    key: &[u8],
    read: bool,
    r: &mut Reply,
) -> Result<Option<&'s mut StrVal>, Replied> {
    match lookup_value(shard, db, now, key, read) {
        None => Ok(None),
        Some(Value::Str(s)) if !matches!(s, StrVal::Int(_)) && s.with_bytes(hll::is_hll) => {
            Ok(Some(s))
        }
        Some(Value::Str(_)) => {
            r.error(ERR_NOT_HLL);
            Err(Replied)
        }
        Some(_) => {
            r.error(WRONGTYPE);
            Err(Replied)
        }
    }
}

/// PFADD key [element ...]: 1 if the key was created or a register grew.
pub fn pfadd(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    let max = sparse_max_bytes();
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let created = match lookup_hll(shard, *db, *now, key, false, r) {
        Err(Replied) => return,
        Ok(Some(s)) => {
            let v = s.make_raw();
            let mut updated = false;
            for e in a.iter().skip(2) {
                match hll::add(v, e, max) {
                    Ok(changed) => updated |= changed,
                    Err(hll::Corrupt) => return r.error(ERR_CORRUPT),
                }
            }
            if updated {
                notify(STRING, "pfadd", *db, key);
            }
            return r.int(i64::from(updated));
        }
        Ok(None) => {
            let mut v = hll::new_sparse();
            for e in a.iter().skip(2) {
                // A value made here is well formed.
                let _ = hll::add(&mut v, e, max);
            }
            // Redis marks the count stale whenever PFADD changed anything,
            // creating the key included: the bytes GET shows say so.
            hll::invalidate_cache(&mut v);
            v
        }
    };
    shard.dbs[*db].set(key, Value::Str(StrVal::Raw(Box::new(created))), 0);
    notify(STRING, "pfadd", *db, key);
    r.int(1);
}

/// PFCOUNT key [key ...]: one key's count is cached in its value (a
/// change WATCH sees, as in Redis); several keys are counted merged.
pub fn pfcount(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    if a.len() > 2 {
        let mut regs = Registers::default();
        for key in a.iter().skip(1) {
            match lookup_hll(shard, *db, *now, key, true, r) {
                Err(Replied) => return,
                Ok(None) => {}
                Ok(Some(s)) => {
                    if s.with_bytes(|b| regs.merge(b)).is_err() {
                        return r.error(ERR_CORRUPT);
                    }
                }
            }
        }
        return r.int(regs.count() as i64);
    }
    let key = a.get(1);
    let counted = match lookup_hll(shard, *db, *now, key, true, r) {
        Err(Replied) => return,
        Ok(None) => return r.int(0),
        Ok(Some(s)) => hll::count_cached(s.make_raw()),
    };
    match counted {
        Err(hll::Corrupt) => r.error(ERR_CORRUPT),
        Ok((card, cached_now)) => {
            if cached_now {
                shard.dbs[*db].touch(key);
            }
            r.int(card as i64);
        }
    }
}

/// PFMERGE destkey [sourcekey ...]: the destination (itself one of the
/// inputs) gets the registers' maxima; dense if any input was.
pub fn pfmerge(c: &mut Ctx, a: Args) {
    let max = sparse_max_bytes();
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let mut regs = Registers::default();
    let mut dense = false;
    for key in a.iter().skip(1) {
        match lookup_hll(shard, *db, *now, key, true, r) {
            Err(Replied) => return,
            Ok(None) => {}
            Ok(Some(s)) => {
                let merged = s.with_bytes(|b| {
                    dense |= !hll::is_sparse(b);
                    regs.merge(b)
                });
                if merged.is_err() {
                    return r.error(ERR_CORRUPT);
                }
            }
        }
    }
    let key = a.get(1);
    match lookup_value(shard, *db, *now, key, false) {
        Some(Value::Str(s)) => {
            if regs.store(s.make_raw(), dense, max).is_err() {
                return r.error(ERR_CORRUPT);
            }
            shard.dbs[*db].touch(key);
        }
        // Checked above: the destination is missing.
        _ => {
            let mut v = hll::new_sparse();
            let _ = regs.store(&mut v, dense, max);
            shard.dbs[*db].set(key, Value::Str(StrVal::Raw(Box::new(v))), 0);
        }
    }
    notify(STRING, "pfadd", *db, key);
    r.ok();
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
pub fn pfdebug(c: &mut Ctx, a: Args) {
    let (sub, key) = (a.get(1), a.get(2));
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let v = match lookup_hll(shard, *db, *now, key, false, r) {
        Err(Replied) => return,
        Ok(None) => return r.error("ERR The specified key does not exist"),
        Ok(Some(s)) => s.make_raw(),
    };
    if eq_ic(sub, "getreg") {
        if hll::is_sparse(v) && hll::to_dense(v).is_err() {
            return r.error(ERR_CORRUPT);
        }
        let regs = hll::registers(v);
        r.array(regs.len());
        for x in regs {
            r.int(i64::from(x));
        }
    } else if eq_ic(sub, "decode") {
        if !hll::is_sparse(v) {
            return r.error("ERR HLL encoding is not sparse");
        }
        r.bulk(hll::decode(v).as_bytes());
    } else if eq_ic(sub, "encoding") {
        r.simple(if hll::is_sparse(v) { "sparse" } else { "dense" });
    } else if eq_ic(sub, "todense") {
        let sparse = hll::is_sparse(v);
        if sparse && hll::to_dense(v).is_err() {
            return r.error(ERR_CORRUPT);
        }
        r.int(i64::from(sparse));
    } else {
        r.error(&format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        ));
    }
}

/// PFSELFTEST: Redis's check of the register packing and of the error of
/// the estimate, sparse and dense side by side, up to 10 million elements.
pub fn pfselftest(c: &mut ConnCtx, _a: Args) {
    match hll::self_test(sparse_max_bytes()) {
        Ok(()) => c.r.ok(),
        Err(e) => c.r.error(&e),
    }
}
