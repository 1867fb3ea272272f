//! Bit commands on strings (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT.

use super::ctx::{arg_i64, eq_ic, lookup_str, Ctx, Replied, ERR_NOT_INT, ERR_SYNTAX};
use crate::protocol::Args;
use crate::types::{StrVal, Value};

const ERR_OFFSET: &str = "ERR bit offset is not an integer or out of range";

fn bit_offset(a: &[u8], max_bulk: usize) -> Option<usize> {
    let v = arg_i64(a)?;
    if v < 0 || (v as u64 >> 3) >= max_bulk as u64 {
        return None;
    }
    Some(v as usize)
}

pub fn setbit(c: &mut Ctx, a: Args) {
    let Some(off) = bit_offset(a.get(2), c.max_bulk) else {
        return c.r.error(ERR_OFFSET);
    };
    let on = match a.get(3) {
        b"1" => true,
        b"0" => false,
        _ => return c.r.error("ERR bit is not an integer or out of range"),
    };
    let key = a.get(1);
    let byte = off >> 3;
    let mask = 1u8 << (7 - (off & 7));
    let raw = match c.lookup_str(key) {
        Err(Replied) => return,
        Ok(Some(s)) => s.make_raw(),
        Ok(None) => {
            c.db().set(key, Value::Str(StrVal::Raw(Box::default())), 0);
            match c.lookup_str(key) {
                Ok(Some(s)) => s.make_raw(),
                _ => return c.r.error("ERR internal error"),
            }
        }
    };
    let grew = raw.len() <= byte;
    if grew {
        raw.resize(byte + 1, 0);
    }
    let old = raw[byte] & mask != 0;
    if on {
        raw[byte] |= mask;
    } else {
        raw[byte] &= !mask;
    }
    c.r.int(old as i64);
    // As Redis 7.0 signals it: only a grown string or a flipped bit is a
    // change a WATCH sees (a new key was touched by Db::set).
    if grew || old != on {
        c.db().touch(key);
    }
}

pub fn getbit(c: &mut Ctx, a: Args) {
    let Some(off) = bit_offset(a.get(2), c.max_bulk) else {
        return c.r.error(ERR_OFFSET);
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_str(shard, *db, *now, a.get(1), r) {
        Err(Replied) => {}
        Ok(None) => r.int(0),
        Ok(Some(s)) => {
            let bit = s.with_bytes(|b| {
                b.get(off >> 3)
                    .is_some_and(|x| x & (1 << (7 - (off & 7))) != 0)
            });
            r.int(bit as i64)
        }
    }
}

pub fn bitcount(c: &mut Ctx, a: Args) {
    let mut range = None;
    let mut bits = false;
    if a.len() == 4 || a.len() == 5 {
        let (Some(s), Some(e)) = (arg_i64(a.get(2)), arg_i64(a.get(3))) else {
            return c.r.error(ERR_NOT_INT);
        };
        if a.len() == 5 {
            if eq_ic(a.get(4), "bit") {
                bits = true;
            } else if !eq_ic(a.get(4), "byte") {
                return c.r.error(ERR_SYNTAX);
            }
        }
        range = Some((s, e));
    } else if a.len() != 2 {
        return c.r.error(ERR_SYNTAX);
    }
    let Ctx {
        shard, db, now, r, ..
    } = c;
    match lookup_str(shard, *db, *now, a.get(1), r) {
        Err(Replied) => {}
        Ok(None) => r.int(0),
        Ok(Some(s)) => {
            let n = s.with_bytes(|b| {
                let total = if bits {
                    b.len() as i64 * 8
                } else {
                    b.len() as i64
                };
                let (mut st, mut en) = range.unwrap_or((0, total - 1));
                if st < 0 {
                    st += total;
                }
                if en < 0 {
                    en += total;
                }
                st = st.max(0);
                en = en.max(0).min(total - 1);
                if st > en || total == 0 {
                    return 0;
                }
                if bits {
                    (st..=en)
                        .filter(|&i| b[(i >> 3) as usize] & (1 << (7 - (i & 7))) != 0)
                        .count() as i64
                } else {
                    b[st as usize..=en as usize]
                        .iter()
                        .map(|x| x.count_ones() as i64)
                        .sum()
                }
            });
            r.int(n)
        }
    }
}
