//! Bit commands on strings (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT,
//! BITPOS, BITOP, BITFIELD and BITFIELD_RO.

use super::ctx::{
    arg_i64, eq_ic, lookup_str, lookup_str_as, Ctx, Replied, ERR_NOT_INT, ERR_SYNTAX,
};
use crate::notify;
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
    let raw = match c.lookup_str_write(key) {
        Err(Replied) => return,
        Ok(Some(s)) => s.make_raw(),
        Ok(None) => {
            c.db().set(key, Value::Str(StrVal::Raw(Box::default())), 0);
            match c.lookup_str_write(key) {
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
        c.notify(notify::STRING, "setbit", key);
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

/// BITCOUNT key [start end [BYTE|BIT]], checked in Redis's order: the
/// key first (a missing one counts 0 whatever the range says), then the
/// range, where two negative indexes in reverse order count 0 before
/// they are clamped.
pub fn bitcount(c: &mut Ctx, a: Args) {
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let s = match lookup_str(shard, *db, *now, a.get(1), r) {
        Err(Replied) => return,
        Ok(None) => return r.int(0),
        Ok(Some(s)) => s,
    };
    s.with_bytes(|b| {
        let len = b.len() as i64;
        let (first, last) = match a.len() {
            2 => (0, len * 8 - 1),
            4 | 5 => {
                let Some(start) = arg_i64(a.get(2)) else {
                    return r.error(ERR_NOT_INT);
                };
                let Some(end) = arg_i64(a.get(3)) else {
                    return r.error(ERR_NOT_INT);
                };
                if start < 0 && end < 0 && start > end {
                    return r.int(0);
                }
                let Some(in_bits) = range_unit(a, 4) else {
                    return r.error(ERR_SYNTAX);
                };
                match bit_range(start, Some(end), in_bits, len) {
                    Some(range) => range,
                    None => return r.int(0),
                }
            }
            _ => return r.error(ERR_SYNTAX),
        };
        if first > last {
            return r.int(0);
        }
        r.int(count_bits(b, first as usize, last as usize) as i64)
    })
}

/// The BYTE|BIT argument at `i`, if given: whether the range is in bits
/// (None: neither word).
fn range_unit(a: Args, i: usize) -> Option<bool> {
    if a.len() <= i {
        return Some(false);
    }
    let unit = a.get(i);
    (eq_ic(unit, "bit") || eq_ic(unit, "byte")).then(|| eq_ic(unit, "bit"))
}

/// A BITCOUNT/BITPOS range as bits `first..=last` of a string of `len`
/// bytes: `start` and `end` (None: to the end) in bytes or bits, negative
/// ones from the end, clamped into the string. None if it is empty.
fn bit_range(start: i64, end: Option<i64>, in_bits: bool, len: i64) -> Option<(i64, i64)> {
    let total = if in_bits { len * 8 } else { len };
    let from_end = |i: i64| {
        if i < 0 {
            i.saturating_add(total).max(0)
        } else {
            i
        }
    };
    let (start, end) = (
        from_end(start),
        from_end(end.unwrap_or(total - 1)).min(total - 1),
    );
    if start > end {
        return None;
    }
    Some(if in_bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

/// Set bits in bits `first..=last` of `b`: the edge bits one by one, the
/// whole bytes between by popcount.
fn count_bits(b: &[u8], first: usize, last: usize) -> usize {
    let bit = |i: usize| usize::from(b[i >> 3] & (0x80 >> (i & 7)) != 0);
    let mut i = first;
    let mut n = 0;
    while i <= last && i & 7 != 0 {
        n += bit(i);
        i += 1;
    }
    while i + 7 <= last {
        n += b[i >> 3].count_ones() as usize;
        i += 8;
    }
    while i <= last {
        n += bit(i);
        i += 1;
    }
    n
}

/// BITPOS key bit [start [end [BYTE|BIT]]]: the first bit set to `bit`
/// in the range. A missing key is an endless run of zeros (answered
/// before the range is even parsed, as Redis does); looking for a 0 with
/// no end given finds one just past the string when every bit is set.
pub fn bitpos(c: &mut Ctx, a: Args) {
    let bit = match arg_i64(a.get(2)) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return c.r.error("ERR The bit argument must be 1 or 0."),
        None => return c.r.error(ERR_NOT_INT),
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let s = match lookup_str(shard, *db, *now, a.get(1), r) {
        Err(Replied) => return,
        Ok(None) => return r.int(if bit { -1 } else { 0 }),
        Ok(Some(s)) => s,
    };
    s.with_bytes(|b| {
        let len = b.len() as i64;
        if a.len() > 6 {
            return r.error(ERR_SYNTAX);
        }
        let end_given = a.len() >= 5;
        let (mut first, mut last) = (0, len * 8 - 1);
        if a.len() >= 4 {
            let Some(start) = arg_i64(a.get(3)) else {
                return r.error(ERR_NOT_INT);
            };
            let Some(in_bits) = range_unit(a, 5) else {
                return r.error(ERR_SYNTAX);
            };
            let end = match end_given.then(|| arg_i64(a.get(4))) {
                Some(None) => return r.error(ERR_NOT_INT),
                Some(e) => e,
                None => None,
            };
            (first, last) = match bit_range(start, end, in_bits, len) {
                Some(range) => range,
                None => return r.int(-1),
            };
        }
        if first > last {
            return r.int(-1);
        }
        match first_bit(b, bit, first as usize, last as usize) {
            Some(p) => r.int(p as i64),
            // Past the range: only a clear bit sought to the string's end
            // (no end given) is found there.
            None if !bit && !end_given => r.int(last + 1),
            None => r.int(-1),
        }
    })
}

/// The first bit equal to `bit` in bits `first..=last` of `b`: whole
/// bytes that cannot hold one are skipped a byte at a time.
fn first_bit(b: &[u8], bit: bool, first: usize, last: usize) -> Option<usize> {
    let skip = if bit { 0x00 } else { 0xFF };
    let mut i = first;
    while i <= last {
        if i & 7 == 0 && i + 7 <= last && b[i >> 3] == skip {
            i += 8;
            continue;
        }
        if (b[i >> 3] & (0x80 >> (i & 7)) != 0) == bit {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// BITOP AND|OR|XOR|NOT destkey srckey...: missing sources are empty
/// strings (zeros as long as the longest source); an empty result deletes
/// the destination. Across shards it runs on gathered copies under the
/// keys' locks, like every other multi-key store.
pub fn bitop(c: &mut Ctx, a: Args) {
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match a.get(1) {
        o if eq_ic(o, "and") => Op::And,
        o if eq_ic(o, "or") => Op::Or,
        o if eq_ic(o, "xor") => Op::Xor,
        o if eq_ic(o, "not") => Op::Not,
        _ => return c.r.error(ERR_SYNTAX),
    };
    if op == Op::Not && a.len() != 4 {
        return c
            .r
            .error("ERR BITOP NOT must be called with a single source key.");
    }
    // Types and lengths first (lazy expiry, WRONGTYPE before anything is
    // computed), then each source folded into the result where it lies:
    // no copies, so a key named many times costs no memory per mention.
    let mut len = 0;
    for key in a.iter().skip(3) {
        match c.lookup_str(key) {
            Err(Replied) => return,
            Ok(None) => {}
            Ok(Some(s)) => len = len.max(s.len()),
        }
    }
    let dest = a.get(2);
    if len == 0 {
        if c.db().remove(dest).is_some() {
            c.notify(notify::GENERIC, "del", dest);
        }
        return c.r.int(0);
    }
    let mut out = vec![0u8; len];
    let d = &c.shard.dbs[c.db];
    for (n, key) in a.iter().skip(3).enumerate() {
        let mut fold = |src: &[u8]| {
            for (i, o) in out.iter_mut().enumerate() {
                // Past its end a source is zeros.
                let b = src.get(i).copied().unwrap_or(0);
                *o = match op {
                    _ if n == 0 => b,
                    Op::And => *o & b,
                    Op::Or => *o | b,
                    Op::Xor => *o ^ b,
                    Op::Not => b,
                };
            }
        };
        match d.peek(key).map(|e| &e.value) {
            Some(Value::Str(s)) => s.with_bytes(&mut fold),
            _ => fold(&[]),
        }
    }
    if op == Op::Not {
        for o in out.iter_mut() {
            *o = !*o;
        }
    }
    // Raw, as Redis stores a BITOP result (OBJECT ENCODING says so).
    c.db().set(dest, Value::Str(StrVal::Raw(Box::new(out))), 0);
    c.notify(notify::STRING, "set", dest);
    c.r.int(len as i64);
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Clone, Copy)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

const ERR_FIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// `i1`..`i64` or `u1`..`u63`.
fn field_type(t: &[u8]) -> Option<(bool, u32)> {
    let signed = match t.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return None,
    };
    let bits = arg_i64(&t[1..])?;
    let max = if signed { 64 } else { 63 };
    (1..=max).contains(&bits).then_some((signed, bits as u32))
}

/// A bit offset, or `#n`: the n-th field of this width.
fn field_offset(o: &[u8], bits: u32, max_bulk: usize) -> Option<u64> {
    let (n, scale) = match o.strip_prefix(b"#") {
        Some(n) => (arg_i64(n)?, i64::from(bits)),
        None => (arg_i64(o)?, 1),
    };
    let off = n.checked_mul(scale)?;
    (off >= 0 && (off as u64 >> 3) < max_bulk as u64).then_some(off as u64)
}

/// Parse BITFIELD's subcommands (all of them, before anything runs).
fn parse_fields(a: Args, max_bulk: usize) -> Result<Vec<Field>, &'static str> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < a.len() {
        let rest = a.len() - j - 1;
        let sub = a.get(j);
        let write = (eq_ic(sub, "set") || eq_ic(sub, "incrby")) && rest >= 3;
        let get = eq_ic(sub, "get") && rest >= 2;
        if !(write || get) {
            if eq_ic(sub, "overflow") && rest >= 1 {
                overflow = match a.get(j + 1) {
                    o if eq_ic(o, "wrap") => Overflow::Wrap,
                    o if eq_ic(o, "sat") => Overflow::Sat,
                    o if eq_ic(o, "fail") => Overflow::Fail,
                    _ => return Err("ERR Invalid OVERFLOW type specified"),
                };
                j += 2;
                continue;
            }
            return Err(ERR_SYNTAX);
        }
        let (signed, bits) = field_type(a.get(j + 1)).ok_or(ERR_FIELD_TYPE)?;
        let offset = field_offset(a.get(j + 2), bits, max_bulk).ok_or(ERR_OFFSET)?;
        let op = if !write {
            FieldOp::Get
        } else {
            let v = arg_i64(a.get(j + 3)).ok_or(ERR_NOT_INT)?;
            if eq_ic(sub, "set") {
                FieldOp::Set(v)
            } else {
                FieldOp::IncrBy(v)
            }
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(fields)
}

/// The `bits` bits at bit `offset` (most significant first), zeros past
/// the end of `b`.
fn get_bits(b: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..u64::from(bits) {
        let p = offset + i;
        let on = b
            .get((p >> 3) as usize)
            .is_some_and(|x| x & (0x80 >> (p & 7)) != 0);
        v = (v << 1) | u64::from(on);
    }
    v
}

/// Write the low `bits` bits of `v` at bit `offset` (`b` is long enough).
fn set_bits(b: &mut [u8], offset: u64, bits: u32, v: u64) {
    for i in 0..u64::from(bits) {
        let p = offset + i;
        let mask = 0x80u8 >> (p & 7);
        let on = (v >> (u64::from(bits) - 1 - i)) & 1 == 1;
        if let Some(x) = b.get_mut((p >> 3) as usize) {
            if on {
                *x |= mask;
            } else {
                *x &= !mask;
            }
        }
    }
}

/// The field's value as the client sees it (sign-extended if signed).
fn field_value(raw: u64, signed: bool, bits: u32) -> i128 {
    if signed && bits < 64 && raw >> (bits - 1) & 1 == 1 {
        i128::from(raw) - (1i128 << bits)
    } else if signed {
        i128::from(raw as i64)
    } else {
        i128::from(raw)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Over {
    No,
    Up,
    Down,
}

/// Whether `value + incr` leaves a signed field of `bits`, decided with
/// Redis's own comparisons (checkSignedBitfieldOverflow), quirks
/// included: they wrap around for a SET of i64::MIN into a narrower field
/// (`incr > maxincr` with a wrapped `maxincr`), so that saturates to the
/// maximum, and a client sees the same as on Redis.
fn signed_over(value: i64, incr: i64, bits: u32) -> Over {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let narrow = bits != 64;
    if value > max || (narrow && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Over::Up
    } else if value < min || (narrow && incr < minincr) || (value < 0 && incr < 0 && incr < minincr)
    {
        Over::Down
    } else {
        Over::No
    }
}

/// The unsigned twin (checkUnsignedBitfieldOverflow; at most 63 bits).
fn unsigned_over(value: u64, incr: i64, bits: u32) -> Over {
    let max = (1u64 << bits) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    if value > max || (incr > 0 && incr > maxincr) {
        Over::Up
    } else if incr < 0 && incr < minincr {
        Over::Down
    } else {
        Over::No
    }
}

/// `value + incr` in a field of `bits` under `overflow`: the bits to
/// store, or None when FAIL refuses it.
fn field_result(value: u64, incr: i64, signed: bool, bits: u32, overflow: Overflow) -> Option<u64> {
    let over = if signed {
        signed_over(value as i64, incr, bits)
    } else {
        unsigned_over(value, incr, bits)
    };
    let sum = value.wrapping_add(incr as u64);
    let low = |x: u64| {
        if bits == 64 {
            x
        } else {
            x & !(u64::MAX << bits)
        }
    };
    match (over, overflow) {
        (Over::No, _) | (_, Overflow::Wrap) => Some(low(sum)),
        (_, Overflow::Fail) => None,
        (Over::Up, Overflow::Sat) if signed => Some(low((1u64 << (bits - 1)) - 1)),
        (Over::Up, Overflow::Sat) => Some(low(u64::MAX)),
        (Over::Down, Overflow::Sat) if signed => Some(low(1u64 << (bits - 1))),
        (Over::Down, Overflow::Sat) => Some(0),
    }
}

/// BITFIELD key [GET type offset] [SET type offset value]
/// [INCRBY type offset increment] [OVERFLOW WRAP|SAT|FAIL] ...
pub fn bitfield(c: &mut Ctx, a: Args) {
    bitfield_generic(c, a, false)
}

/// BITFIELD_RO key [GET type offset] ...
pub fn bitfield_ro(c: &mut Ctx, a: Args) {
    bitfield_generic(c, a, true)
}

fn bitfield_generic(c: &mut Ctx, a: Args, read_only: bool) {
    let fields = match parse_fields(a, c.max_bulk) {
        Ok(f) => f,
        Err(e) => return c.r.error(e),
    };
    let key = a.get(1);
    let writes = fields.iter().any(|f| f.op != FieldOp::Get);
    if !writes {
        let Ctx {
            shard, db, now, r, ..
        } = c;
        let s = match lookup_str(shard, *db, *now, key, r) {
            Err(Replied) => return,
            Ok(s) => s,
        };
        r.array(fields.len());
        for f in &fields {
            let raw = s
                .as_ref()
                .map_or(0, |s| s.with_bytes(|b| get_bits(b, f.offset, f.bits)));
            r.int(field_value(raw, f.signed, f.bits) as i64);
        }
        return;
    }
    if read_only {
        return c
            .r
            .error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    // Room up to the furthest bit written, as Redis makes it before any
    // subcommand runs (even one that then fails on overflow).
    let furthest = fields
        .iter()
        .filter(|f| f.op != FieldOp::Get)
        .map(|f| f.offset + u64::from(f.bits) - 1)
        .max()
        .unwrap_or(0);
    let need = (furthest >> 3) as usize + 1;
    let created = match c.lookup_str_write(key) {
        Err(Replied) => return,
        Ok(Some(_)) => false,
        // Created as Redis's dbAdd does, unsignalled: only a subcommand
        // that writes makes it a change (all of them failing on overflow
        // leaves a WATCH intact).
        Ok(None) => {
            c.db()
                .add_quiet(key, Value::Str(StrVal::Raw(Box::default())));
            true
        }
    };
    let Ctx {
        shard, db, now, r, ..
    } = c;
    let raw = match lookup_str_as(shard, *db, *now, key, r, false) {
        Ok(Some(s)) => s.make_raw(),
        _ => return r.error("ERR internal error"),
    };
    let grew = raw.len() < need;
    if grew {
        raw.resize(need, 0);
    }
    let mut changes = 0;
    r.array(fields.len());
    for f in &fields {
        let old_raw = get_bits(raw, f.offset, f.bits);
        let old = field_value(old_raw, f.signed, f.bits);
        // The field's bits read as the operand: sign-extended for a signed
        // field, so the sum below is the two's complement one.
        let old_operand = old as i64 as u64;
        let (value, incr, reply_new) = match f.op {
            FieldOp::Get => {
                r.int(old as i64);
                continue;
            }
            // An unsigned field takes the value's 64-bit pattern, so a
            // negative SET overflows upwards (SAT gives the maximum).
            FieldOp::Set(v) => (v as u64, 0, false),
            FieldOp::IncrBy(d) => (old_operand, d, true),
        };
        match field_result(value, incr, f.signed, f.bits, f.overflow) {
            None => r.null(),
            Some(bits) => {
                let new = field_value(bits, f.signed, f.bits);
                r.int(if reply_new { new as i64 } else { old as i64 });
                set_bits(raw, f.offset, f.bits, bits);
                if created || grew || new != old {
                    changes += 1;
                }
            }
        }
    }
    if changes > 0 {
        c.db().touch(key);
        c.notify(notify::STRING, "setbit", key);
    }
}
