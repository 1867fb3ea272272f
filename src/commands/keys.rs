//! Generic key commands (Redis's db.c and expire.c) on keys of one shard.
//! Their cross-shard forms are in `tx::fanout`.

use super::ctx::{arg_i64, eq_ic, Ctx, ERR_NOT_INT, ERR_SYNTAX};
use crate::notify::{self, GENERIC};
use crate::protocol::Args;

/// DEL/UNLINK on keys of this shard.
pub fn del(c: &mut Ctx, a: Args) {
    let mut n = 0;
    for k in a.iter().skip(1) {
        if c.lookup_untouched(k).is_some() {
            c.db().remove(k);
            c.notify(GENERIC, "del", k);
            n += 1;
        }
    }
    c.r.int(n);
}

/// EXISTS: count keys present (a key named twice counts twice), without
/// counting as an access (Redis's LOOKUP_NOTOUCH).
pub fn exists(c: &mut Ctx, a: Args) {
    count_present(c, a, false)
}

/// TOUCH: EXISTS that counts as an access.
pub fn touch(c: &mut Ctx, a: Args) {
    count_present(c, a, true)
}

fn count_present(c: &mut Ctx, a: Args, access: bool) {
    let n = a
        .iter()
        .skip(1)
        .filter(|k| {
            if access {
                c.lookup_write(k).is_some()
            } else {
                c.lookup_untouched(k).is_some()
            }
        })
        .count();
    c.r.int(n as i64);
}

pub fn type_(c: &mut Ctx, a: Args) {
    let t = c
        .lookup_untouched(a.get(1))
        .map(|e| e.value.type_name())
        .unwrap_or("none");
    c.r.simple(t);
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Sec,
    Ms,
}

fn expire_generic(c: &mut Ctx, a: Args, unit: Unit, absolute: bool, cmd: &str) {
    // The options first, then the time (Redis's order of errors).
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in a.iter().skip(3) {
        if eq_ic(o, "nx") {
            nx = true;
        } else if eq_ic(o, "xx") {
            xx = true;
        } else if eq_ic(o, "gt") {
            gt = true;
        } else if eq_ic(o, "lt") {
            lt = true;
        } else {
            return c.r.error(&format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(o)
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return c
            .r
            .error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return c
            .r
            .error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(n) = arg_i64(a.get(2)) else {
        return c.r.error(ERR_NOT_INT);
    };
    let bad = format!("ERR invalid expire time in '{cmd}' command");
    let ms = match unit {
        Unit::Sec => match n.checked_mul(1000) {
            Some(v) => v,
            None => return c.r.error(&bad),
        },
        Unit::Ms => n,
    };
    let at = if absolute {
        ms
    } else {
        match ms.checked_add(c.now as i64) {
            Some(v) => v,
            None => return c.r.error(&bad),
        }
    };
    let key = a.get(1);
    let now = c.now as i64;
    let Some(e) = c.lookup_write(key) else {
        return c.r.int(0);
    };
    let cur = e.expire_at;
    if (nx && cur != 0) || (xx && cur == 0) {
        return c.r.int(0);
    }
    if gt && (cur == 0 || at <= cur as i64) {
        return c.r.int(0);
    }
    if lt && cur != 0 && at >= cur as i64 {
        return c.r.int(0);
    }
    if at <= now {
        c.db().remove(key);
        c.notify(GENERIC, "del", key);
    } else {
        c.db().set_expire(key, at as u64);
        c.notify(GENERIC, "expire", key);
    }
    c.r.int(1);
}

pub fn expire(c: &mut Ctx, a: Args) {
    expire_generic(c, a, Unit::Sec, false, "expire")
}
pub fn pexpire(c: &mut Ctx, a: Args) {
    expire_generic(c, a, Unit::Ms, false, "pexpire")
}
pub fn expireat(c: &mut Ctx, a: Args) {
    expire_generic(c, a, Unit::Sec, true, "expireat")
}
pub fn pexpireat(c: &mut Ctx, a: Args) {
    expire_generic(c, a, Unit::Ms, true, "pexpireat")
}

fn ttl_generic(c: &mut Ctx, a: Args, unit: Unit, absolute: bool) {
    let now = c.now;
    let Some(e) = c.lookup_untouched(a.get(1)) else {
        return c.r.int(-2);
    };
    if e.expire_at == 0 {
        return c.r.int(-1);
    }
    let v = if absolute {
        e.expire_at
    } else {
        e.expire_at.saturating_sub(now)
    };
    let v = match unit {
        Unit::Ms => v,
        Unit::Sec if absolute => v / 1000,
        // Redis rounds the remaining TTL to the nearest second.
        Unit::Sec => (v + 500) / 1000,
    };
    c.r.int(v as i64);
}

pub fn ttl(c: &mut Ctx, a: Args) {
    ttl_generic(c, a, Unit::Sec, false)
}
pub fn pttl(c: &mut Ctx, a: Args) {
    ttl_generic(c, a, Unit::Ms, false)
}
pub fn expiretime(c: &mut Ctx, a: Args) {
    ttl_generic(c, a, Unit::Sec, true)
}
pub fn pexpiretime(c: &mut Ctx, a: Args) {
    ttl_generic(c, a, Unit::Ms, true)
}

pub fn persist(c: &mut Ctx, a: Args) {
    let key = a.get(1);
    match c.lookup_write(key) {
        Some(e) if e.expire_at != 0 => {
            c.db().set_expire(key, 0);
            c.notify(GENERIC, "persist", key);
            c.r.int(1)
        }
        _ => c.r.int(0),
    }
}

/// RENAME/RENAMENX with both keys in this shard.
fn rename_generic(c: &mut Ctx, a: Args, nx: bool) {
    let (src, dst) = (a.get(1), a.get(2));
    if c.lookup_write(src).is_none() {
        return c.r.error("ERR no such key");
    }
    if src == dst {
        return if nx { c.r.int(0) } else { c.r.ok() };
    }
    if nx && c.lookup_write(dst).is_some() {
        return c.r.int(0);
    }
    if let Some(e) = c.db().remove(src) {
        c.db().set(dst, e.value, e.expire_at);
        c.notify(GENERIC, "rename_from", src);
        c.notify(GENERIC, "rename_to", dst);
    }
    if nx {
        c.r.int(1)
    } else {
        c.r.ok()
    }
}

pub fn rename(c: &mut Ctx, a: Args) {
    rename_generic(c, a, false)
}
pub fn renamenx(c: &mut Ctx, a: Args) {
    rename_generic(c, a, true)
}

/// Parsed COPY options: target db and REPLACE.
pub fn copy_options(
    a: Args,
    cur_db: usize,
    databases: usize,
) -> Result<(usize, bool), &'static str> {
    let mut db = cur_db;
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        let o = a.get(i);
        if eq_ic(o, "replace") {
            replace = true;
        } else if eq_ic(o, "db") && i + 1 < a.len() {
            match arg_i64(a.get(i + 1)) {
                Some(n) if n >= 0 && (n as usize) < databases => db = n as usize,
                Some(_) => return Err("ERR DB index is out of range"),
                None => return Err(ERR_NOT_INT),
            }
            i += 1;
        } else {
            return Err(ERR_SYNTAX);
        }
        i += 1;
    }
    Ok((db, replace))
}

/// COPY with both keys in this shard.
pub fn copy(c: &mut Ctx, a: Args) {
    let (dst_db, replace) = match copy_options(a, c.db, c.shard.dbs.len()) {
        Ok(v) => v,
        Err(e) => return c.r.error(e),
    };
    let (src, dst) = (a.get(1), a.get(2));
    if src == dst && dst_db == c.db {
        return c.r.error("ERR source and destination objects are the same");
    }
    let Some(e) = c.lookup_write(src) else {
        return c.r.int(0);
    };
    let (v, exp) = (e.value.deep_clone(), e.expire_at);
    let now = c.now;
    let shard = &mut *c.shard;
    let target = &mut shard.dbs[dst_db];
    if target.get(dst, now, &mut shard.stats).is_some() && !replace {
        return c.r.int(0);
    }
    target.set(dst, v, exp);
    notify::notify(GENERIC, "copy_to", dst_db, dst);
    c.r.int(1);
}

pub fn move_(c: &mut Ctx, a: Args) {
    let Some(n) = arg_i64(a.get(2)) else {
        return c.r.error(ERR_NOT_INT);
    };
    if n < 0 || n as usize >= c.shard.dbs.len() {
        return c.r.error("ERR DB index is out of range");
    }
    let dst_db = n as usize;
    if dst_db == c.db {
        return c.r.error("ERR source and destination objects are the same");
    }
    let key = a.get(1);
    if c.lookup_write(key).is_none() {
        return c.r.int(0);
    }
    let now = c.now;
    let shard = &mut *c.shard;
    if shard.dbs[dst_db].get(key, now, &mut shard.stats).is_some() {
        return c.r.int(0);
    }
    if let Some(e) = shard.dbs[c.db].remove(key) {
        shard.dbs[dst_db].set(key, e.value, e.expire_at);
        c.notify(GENERIC, "move_from", key);
        notify::notify(GENERIC, "move_to", dst_db, key);
    }
    c.r.int(1);
}

pub fn object(c: &mut Ctx, a: Args) {
    let sub = a.get(1);
    if eq_ic(sub, "help") {
        return object_help(c);
    }
    if a.len() != 3 {
        return c.r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
    let (now, db) = (c.now, c.db);
    let shard = &mut *c.shard;
    // OBJECT does not count as an access (Redis's LOOKUP_NOTOUCH).
    let Some((e, meta)) = shard.dbs[db].get_untouched(a.get(2), now, &mut shard.stats) else {
        return c.r.null();
    };
    if eq_ic(sub, "encoding") {
        let enc = e.value.encoding();
        c.r.bulk(enc.as_bytes());
    } else if eq_ic(sub, "refcount") {
        // Redis shares the integer objects 0..9999 (refcount INT_MAX).
        let shared = matches!(&e.value, crate::types::Value::Str(crate::types::StrVal::Int(v)) if (0..10000).contains(v));
        c.r.int(if shared { i32::MAX as i64 } else { 1 });
    } else if eq_ic(sub, "idletime") {
        if crate::memory::lfu_mode() {
            return c.r.error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
        c.r.int(crate::memory::idle_secs(meta) as i64);
    } else if eq_ic(sub, "freq") {
        if !crate::memory::lfu_mode() {
            return c.r.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
        c.r.int(crate::memory::decayed_counter(meta) as i64);
    } else {
        c.r.error(&format!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

fn object_help(c: &mut Ctx) {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    c.r.help(&lines);
}

/// DEBUG DIGEST-VALUE for one key (zeros when missing, like Redis).
pub fn debug_digest(c: &mut Ctx, key: &[u8]) {
    let d = match c.lookup_write(key) {
        Some(e) => e.value.digest(),
        None => "0".repeat(40),
    };
    c.r.bulk(d.as_bytes());
}

/// DEBUG OBJECT, in Redis's format (fields a test or tool may grep for).
pub fn debug_object(c: &mut Ctx, key: &[u8]) {
    // As Redis's, a look at the table itself: a key past its TTL that
    // nothing expired yet is still shown.
    let Some(e) = c.shard.dbs[c.db].peek(key) else {
        return c.r.error("ERR no such key");
    };
    let enc = e.value.encoding();
    // Redis reports the RDB-serialized length; the element count of a
    // collection is what we have at hand.
    let len = match &e.value {
        crate::types::Value::Str(s) => s.len(),
        crate::types::Value::Hash(h) => h.len(),
        crate::types::Value::Set(s) => s.len(),
        crate::types::Value::List(l) => l.iter().map(|x| x.len() + 1).sum(),
        crate::types::Value::ZSet(z) => z.iter().map(|(m, _)| m.len() + 9).sum(),
    };
    let s = format!(
        "Value at:0x0 refcount:1 encoding:{enc} serializedlength:{len} lru:0 lru_seconds_idle:0"
    );
    c.r.simple(&s);
}

/// DUMP key: the value in Redis's serialization (`rdb::dump`), nil if
/// the key does not exist.
pub fn dump(c: &mut Ctx, a: Args) {
    let payload = c.lookup(a.get(1)).map(|e| crate::rdb::dump(&e.value));
    match payload {
        Some(p) => c.r.bulk(&p),
        None => c.r.null(),
    }
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
/// [FREQ frequency], its checks in Redis's order (options, an existing
/// key, the TTL, the payload's footer, then its contents).
pub fn restore(c: &mut Ctx, a: Args) {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut j = 4;
    while j < a.len() {
        let more = j + 1 < a.len();
        let opt = a.get(j);
        if eq_ic(opt, "replace") {
            replace = true;
        } else if eq_ic(opt, "absttl") {
            absttl = true;
        } else if eq_ic(opt, "idletime") && more && freq.is_none() {
            match arg_i64(a.get(j + 1)) {
                None => return c.r.error(ERR_NOT_INT),
                Some(v) if v < 0 => return c.r.error("ERR Invalid IDLETIME value, must be >= 0"),
                Some(v) => idle = Some(v as u64),
            }
            j += 1;
        } else if eq_ic(opt, "freq") && more && idle.is_none() {
            match arg_i64(a.get(j + 1)) {
                None => return c.r.error(ERR_NOT_INT),
                Some(v) if !(0..=255).contains(&v) => {
                    return c.r.error("ERR Invalid FREQ value, must be >= 0 and <= 255")
                }
                Some(v) => freq = Some(v as u32),
            }
            j += 1;
        } else {
            return c.r.error(ERR_SYNTAX);
        }
        j += 1;
    }
    let key = a.get(1);
    if !replace && c.lookup_write(key).is_some() {
        return c.r.error("BUSYKEY Target key name already exists.");
    }
    let ttl = match arg_i64(a.get(2)) {
        None => return c.r.error(ERR_NOT_INT),
        Some(t) if t < 0 => return c.r.error("ERR Invalid TTL value, must be >= 0"),
        Some(t) => t as u64,
    };
    let value = match crate::rdb::restore(a.get(3)) {
        Ok(v) => v,
        Err(crate::rdb::BadPayload::Footer) => {
            return c.r.error("ERR DUMP payload version or checksum are wrong")
        }
        Err(crate::rdb::BadPayload::Format) => return c.r.error("ERR Bad data format"),
    };
    if replace {
        c.db().remove(key);
    }
    let expire_at = match ttl {
        0 => 0,
        t if absttl => t,
        t => c.now.saturating_add(t),
    };
    // Already expired: the key is not created (an old one is still gone).
    if expire_at != 0 && expire_at <= c.now {
        return c.r.ok();
    }
    c.db().set(key, value, expire_at);
    c.notify(GENERIC, "restore", key);
    if idle.is_some() || freq.is_some() {
        let meta = crate::memory::restored_meta(idle, freq);
        c.db().set_meta(key, meta);
    }
    c.r.ok();
}
