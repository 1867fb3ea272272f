//! The libraries Redis gives scripts beyond Lua's own: `cjson` (lua-cjson
//! 2.1's encode/decode and `cjson.null`), `cmsgpack` (lua_cmsgpack's
//! pack/unpack) and `bit` (LuaBitOp). Written
//! here because they are C modules in Redis: nothing to link against from
//! Rust, and their output (cjson's number format, escaping and sparse-
//! array rule; LuaBitOp's 32-bit wrapping) is what scripts compare with.

use mlua::{Lua, MultiValue, Table, Value};
use std::cell::Cell;
use std::rc::Rc;

/// Put `cjson`, `bit`, `cmsgpack` and `struct` in the interpreter's globals.
pub fn install(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.raw_set("cjson", cjson(lua)?)?;
    globals.raw_set("bit", bit(lua)?)?;
    globals.raw_set("cmsgpack", msgpack(lua)?)?;
    globals.raw_set("struct", super::struct_lib::table(lua)?)?;
    Ok(())
}

/// lua_cmsgpack encodes tables to this depth; deeper ones become nil.
const MSGPACK_MAX_NESTING: usize = 16;

fn msgpack(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(mlua::Error::runtime(
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                mp_encode(v, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::LuaString| {
            let b = s.as_bytes();
            let mut pos = 0;
            let mut vals = Vec::new();
            while pos < b.len() {
                vals.push(mp_decode(lua, &b, &mut pos)?);
            }
            Ok(MultiValue::from_iter(vals))
        })?,
    )?;
    let unpack_limit = |lua: &Lua, s: mlua::LuaString, limit: i64, offset: i64| {
        let b = s.as_bytes();
        let mut pos = usize::try_from(offset.max(0)).unwrap_or(0);
        let mut vals = Vec::new();
        while pos < b.len() && (limit <= 0 || (vals.len() as i64) < limit) {
            vals.push(mp_decode(lua, &b, &mut pos)?);
        }
        let next = if pos >= b.len() { -1 } else { pos as i64 };
        let mut all = vec![Value::Number(next as f64)];
        all.extend(vals);
        Ok(MultiValue::from_iter(all))
    };
    t.raw_set(
        "unpack_one",
        lua.create_function(move |lua, (s, offset): (mlua::LuaString, Option<i64>)| {
            unpack_limit(lua, s, 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            move |lua, (s, limit, offset): (mlua::LuaString, i64, Option<i64>)| {
                unpack_limit(lua, s, limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(t)
}

fn mp_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn mp_number(d: f64, out: &mut Vec<u8>) {
    // An integral value (that an int64 holds exactly) as an integer; else
    // a float when it loses nothing, a double otherwise.
    if d.is_finite() && (d as i64) as f64 == d {
        return mp_int(d as i64, out);
    }
    let f = d as f32;
    if f as f64 == d {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&d.to_be_bytes());
    }
}

fn mp_len(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, w16: u8, w32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(w16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(w32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// lua_cmsgpack's array test: every key a positive integer (numeric
/// strings count, as lua_isnumber has it) and as many keys as the largest.
fn mp_is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0f64, 0f64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            Value::String(s) => match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
                Some(n) => n,
                None => return Ok(false),
            },
            _ => return Ok(false),
        };
        if n <= 0.0 || n.fract() != 0.0 {
            return Ok(false);
        }
        max = f64::max(max, n);
        count += 1.0;
    }
    Ok(max == count)
}

fn mp_encode(v: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => mp_int(*i, out),
        Value::Number(n) => mp_number(*n, out),
        Value::String(s) => {
            let b = s.as_bytes();
            if b.len() < 32 {
                out.push(0xa0 | b.len() as u8);
            } else if b.len() <= 0xff {
                out.extend_from_slice(&[0xd9, b.len() as u8]);
            } else {
                mp_len(out, b.len(), 0, 0, 0xda, 0xdb);
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if level < MSGPACK_MAX_NESTING => {
            if mp_is_array(t)? {
                let n = t.raw_len();
                mp_len(out, n, 0x90, 15, 0xdc, 0xdd);
                for i in 1..=n {
                    mp_encode(&t.raw_get::<Value>(i)?, level + 1, out)?;
                }
            } else {
                let pairs: Vec<(Value, Value)> =
                    t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                mp_len(out, pairs.len(), 0x80, 15, 0xde, 0xdf);
                for (k, v) in &pairs {
                    mp_encode(k, level + 1, out)?;
                    mp_encode(v, level + 1, out)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// Nesting a decoded value may have (input comes from the script, so its
/// depth must not be able to exhaust the stack).
const MSGPACK_MAX_DECODE_DEPTH: usize = 64;

fn mp_decode(lua: &Lua, b: &[u8], pos: &mut usize) -> mlua::Result<Value> {
    mp_decode_at(lua, b, pos, 0)
}

fn mp_decode_at(lua: &Lua, b: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > MSGPACK_MAX_DECODE_DEPTH {
        return Err(mlua::Error::runtime("Bad data format in input."));
    }
    let missing = || mlua::Error::runtime("Missing bytes in input.");
    let take = |pos: &mut usize, n: usize| -> mlua::Result<&[u8]> {
        let s = b.get(*pos..*pos + n).ok_or_else(missing)?;
        *pos += n;
        Ok(s)
    };
    let be = |s: &[u8]| s.iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
    let t = *b.get(*pos).ok_or_else(missing)?;
    *pos += 1;
    let str_of = |pos: &mut usize, n: usize| -> mlua::Result<Value> {
        Ok(Value::String(lua.create_string(take(pos, n)?)?))
    };
    let array = |pos: &mut usize, n: usize| -> mlua::Result<Value> {
        let tbl = lua.create_table_with_capacity(n.min(1 << 16), 0)?;
        for i in 1..=n {
            tbl.raw_set(i, mp_decode_at(lua, b, pos, depth + 1)?)?;
        }
        Ok(Value::Table(tbl))
    };
    let map = |pos: &mut usize, n: usize| -> mlua::Result<Value> {
        let tbl = lua.create_table_with_capacity(0, n.min(1 << 16))?;
        for _ in 0..n {
            let k = mp_decode_at(lua, b, pos, depth + 1)?;
            let v = mp_decode_at(lua, b, pos, depth + 1)?;
            if !k.is_nil() {
                tbl.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(tbl))
    };
    Ok(match t {
        0x00..=0x7f => Value::Number(f64::from(t)),
        0x80..=0x8f => map(pos, usize::from(t & 0x0f))?,
        0x90..=0x9f => array(pos, usize::from(t & 0x0f))?,
        0xa0..=0xbf => str_of(pos, usize::from(t & 0x1f))?,
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xc4 | 0xd9 => {
            let n = usize::from(take(pos, 1)?[0]);
            str_of(pos, n)?
        }
        0xc5 | 0xda => {
            let n = be(take(pos, 2)?) as usize;
            str_of(pos, n)?
        }
        0xc6 | 0xdb => {
            let n = be(take(pos, 4)?) as usize;
            str_of(pos, n)?
        }
        0xca => {
            let s = take(pos, 4)?;
            Value::Number(f64::from(f32::from_be_bytes([s[0], s[1], s[2], s[3]])))
        }
        0xcb => Value::Number(f64::from_bits(be(take(pos, 8)?))),
        0xcc => Value::Number(be(take(pos, 1)?) as f64),
        0xcd => Value::Number(be(take(pos, 2)?) as f64),
        0xce => Value::Number(be(take(pos, 4)?) as f64),
        0xcf => Value::Number(be(take(pos, 8)?) as f64),
        0xd0 => Value::Number(f64::from(take(pos, 1)?[0] as i8)),
        0xd1 => Value::Number(f64::from(be(take(pos, 2)?) as u16 as i16)),
        0xd2 => Value::Number(f64::from(be(take(pos, 4)?) as u32 as i32)),
        0xd3 => Value::Number(be(take(pos, 8)?) as i64 as f64),
        // array 16/32, map 16/32: the length's width is in the low bit.
        0xdc..=0xdf => {
            let n = be(take(pos, if t & 1 == 0 { 2 } else { 4 })?) as usize;
            if t < 0xde {
                array(pos, n)?
            } else {
                map(pos, n)?
            }
        }
        0xe0..=0xff => Value::Number(f64::from(t as i8)),
        _ => return Err(mlua::Error::runtime("Bad data format in input.")),
    })
}

fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("null", Value::NULL)?;
    // lua-cjson's nesting limits, per interpreter as its module's are.
    let encode_max = Rc::new(Cell::new(1000usize));
    let decode_max = Rc::new(Cell::new(1000usize));
    let invalid = Rc::new(Cell::new(0u8));
    let (max, inv) = (encode_max.clone(), invalid.clone());
    t.raw_set(
        "encode",
        lua.create_function(move |lua, v: Value| {
            let cfg = EncodeCfg {
                max_depth: max.get(),
                invalid: inv.get(),
            };
            let mut out = Vec::new();
            encode(&v, &mut out, 0, cfg).map_err(mlua::Error::runtime)?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, setting: Option<Value>| {
            match setting {
                None => {}
                Some(Value::Boolean(b)) => invalid.set(u8::from(b)),
                Some(Value::String(s)) if s.as_bytes().as_ref() == b"null" => invalid.set(2),
                Some(Value::String(s)) if s.as_bytes().as_ref() == b"on" => invalid.set(1),
                Some(Value::String(s)) if s.as_bytes().as_ref() == b"off" => invalid.set(0),
                Some(_) => {
                    return Err(mlua::Error::runtime(
                        "bad argument #1 to '?' (invalid option)",
                    ))
                }
            }
            Ok(match invalid.get() {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    for (name, limit) in [
        ("encode_max_depth", &encode_max),
        ("decode_max_depth", &decode_max),
    ] {
        let limit = limit.clone();
        t.raw_set(
            name,
            lua.create_function(move |_, n: Option<i64>| {
                if let Some(n) = n {
                    if !(1..=i64::from(i32::MAX)).contains(&n) {
                        return Err(mlua::Error::runtime(
                            "bad argument #1 to '?' (expected integer between 1 and 2147483647)",
                        ));
                    }
                    limit.set(n as usize);
                }
                Ok(limit.get() as i64)
            })?,
        )?;
    }
    // lua-cjson's other settings: accepted (halocline keeps its defaults,
    // which are Redis's) and answered with what they are.
    for (name, default) in [
        ("encode_keep_buffer", Value::Boolean(true)),
        ("encode_number_precision", Value::Number(14.0)),
        ("decode_invalid_numbers", Value::Boolean(true)),
    ] {
        t.raw_set(
            name,
            lua.create_function(move |_, _: MultiValue| Ok(default.clone()))?,
        )?;
    }
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(|_, _: MultiValue| Ok((false, 2, 10)))?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(move |lua, s: mlua::LuaString| {
            let v: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::runtime(format!("Expected value but found invalid token: {e}"))
            })?;
            let max = decode_max.get();
            if nesting(&v) > max {
                return Err(mlua::Error::runtime(format!(
                    "Found too many nested data structures ({}) at character 1",
                    max + 1
                )));
            }
            decode(lua, &v)
        })?,
    )?;
    Ok(t)
}

/// lua-cjson's default: 14 significant digits.
/// lua-cjson's encoding settings that halocline honours.
#[derive(Clone, Copy)]
struct EncodeCfg {
    max_depth: usize,
    /// encode_invalid_numbers: 0 refuse NaN/Inf, 1 write them as Redis's
    /// cjson does (`nan`, `inf`, `-inf`), 2 write null.
    invalid: u8,
}

fn number(n: f64, cfg: EncodeCfg) -> Result<String, String> {
    if !n.is_finite() {
        return match cfg.invalid {
            0 => Err("Cannot serialise number: must not be NaN or Inf".into()),
            1 if n.is_nan() => Ok("nan".into()),
            1 if n < 0.0 => Ok("-inf".into()),
            1 => Ok("inf".into()),
            _ => Ok("null".into()),
        };
    }
    Ok(format_g(n, 14))
}

/// C's `%.{prec}g`.
pub fn format_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    // Rounding can carry into the next power of ten: let the scientific
    // formatter decide the exponent.
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if e < -4 || e >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", e.abs())
    } else {
        let decimals = (prec as i32 - 1 - e).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, v)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn escape(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// How deeply arrays and objects nest in a decoded document.
fn nesting(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(nesting).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize, cfg: EncodeCfg) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(u) if u.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(number(*i as f64, cfg)?.as_bytes()),
        Value::Number(n) => out.extend_from_slice(number(*n, cfg)?.as_bytes()),
        Value::String(s) => escape(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= cfg.max_depth {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            encode_table(t, out, depth + 1, cfg)?
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

/// lua-cjson's rule: a table whose keys are all positive integers is an
/// array (holes become null) unless excessively sparse; an empty table is
/// an object.
fn encode_table(t: &Table, out: &mut Vec<u8>, depth: usize, cfg: EncodeCfg) -> Result<(), String> {
    let pairs: Vec<(Value, Value)> = t
        .pairs::<Value, Value>()
        .collect::<mlua::Result<_>>()
        .map_err(|e| e.to_string())?;
    let mut max = 0usize;
    let mut array = !pairs.is_empty();
    for (k, _) in &pairs {
        let idx = match k {
            Value::Integer(i) if *i >= 1 => Some(*i as usize),
            Value::Number(n) if *n >= 1.0 && n.fract() == 0.0 => Some(*n as usize),
            _ => None,
        };
        match idx {
            Some(i) => max = max.max(i),
            None => {
                array = false;
                break;
            }
        }
    }
    if array && max > pairs.len() * 2 && max > 10 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    if array {
        out.push(b'[');
        for i in 1..=max {
            if i > 1 {
                out.push(b',');
            }
            let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
            encode(&v, out, depth, cfg)?;
        }
        out.push(b']');
        return Ok(());
    }
    out.push(b'{');
    for (n, (k, v)) in pairs.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        match k {
            Value::String(s) => escape(&s.as_bytes(), out),
            Value::Integer(i) => escape(number(*i as f64, cfg)?.as_bytes(), out),
            Value::Number(x) => escape(number(*x, cfg)?.as_bytes(), out),
            _ => return Err("Cannot serialise table: table key must be a number or string".into()),
        }
        out.push(b':');
        encode(v, out, depth, cfg)?;
    }
    out.push(b'}');
    Ok(())
}

fn decode(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::NULL,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, x) in a.iter().enumerate() {
                t.raw_set(i + 1, decode(lua, x)?)?;
            }
            Value::Table(t)
        }
        J::Object(o) => {
            let t = lua.create_table_with_capacity(0, o.len())?;
            for (k, x) in o {
                t.raw_set(k.as_str(), decode(lua, x)?)?;
            }
            Value::Table(t)
        }
    })
}

/// LuaBitOp's conversion: the number modulo 2^32, rounded to an integer,
/// as a signed 32-bit value.
fn tobit(v: &Value) -> mlua::Result<i32> {
    let n = match v {
        Value::Integer(i) => return Ok(*i as i32),
        Value::Number(n) => *n,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| mlua::Error::runtime("bad argument (number expected)"))?,
        _ => {
            return Err(mlua::Error::runtime(
                "bad argument (number expected, got no value)",
            ))
        }
    };
    let r = n.round_ties_even().rem_euclid(4294967296.0);
    Ok(r as u64 as u32 as i32)
}

fn args_bits(name: &str, args: &MultiValue) -> mlua::Result<Vec<i32>> {
    if args.is_empty() {
        return Err(mlua::Error::runtime(format!(
            "bad argument #1 to '{name}' (number expected, got no value)"
        )));
    }
    args.iter().map(tobit).collect()
}

fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let fold = |lua: &Lua, name: &'static str, f: fn(i32, i32) -> i32| -> mlua::Result<()> {
        let func = lua.create_function(move |_, args: MultiValue| {
            let v = args_bits(name, &args)?;
            Ok(v[1..].iter().fold(v[0], |a, &b| f(a, b)) as f64)
        })?;
        t.raw_set(name, func)
    };
    fold(lua, "band", |a, b| a & b)?;
    fold(lua, "bor", |a, b| a | b)?;
    fold(lua, "bxor", |a, b| a ^ b)?;
    let unary = |lua: &Lua, name: &str, f: fn(i32) -> i32| -> mlua::Result<()> {
        let func = lua.create_function(move |_, v: Value| Ok(f(tobit(&v)?) as f64))?;
        t.raw_set(name, func)
    };
    unary(lua, "tobit", |x| x)?;
    unary(lua, "bnot", |x| !x)?;
    unary(lua, "bswap", |x| x.swap_bytes())?;
    let shift = |lua: &Lua, name: &str, f: fn(i32, u32) -> i32| -> mlua::Result<()> {
        let func = lua.create_function(move |_, (x, n): (Value, Value)| {
            Ok(f(tobit(&x)?, (tobit(&n)? & 31) as u32) as f64)
        })?;
        t.raw_set(name, func)
    };
    shift(lua, "lshift", |x, n| ((x as u32) << n) as i32)?;
    shift(lua, "rshift", |x, n| ((x as u32) >> n) as i32)?;
    shift(lua, "arshift", |x, n| x >> n)?;
    shift(lua, "rol", |x, n| (x as u32).rotate_left(n) as i32)?;
    shift(lua, "ror", |x, n| (x as u32).rotate_right(n) as i32)?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (x, n): (Value, Option<Value>)| {
            let x = tobit(&x)? as u32;
            let n = match n {
                Some(v) => tobit(&v)?,
                None => 8,
            };
            // (-2^31 has no positive i32: unsigned_abs.)
            let (upper, width) = (n < 0, n.unsigned_abs() as usize);
            let width = width.min(8);
            let full = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(full[8 - width..].to_string())
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_like_printf_g14() {
        assert_eq!(format_g(1.0, 14), "1");
        assert_eq!(format_g(1.5, 14), "1.5");
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(-3.25, 14), "-3.25");
        assert_eq!(format_g(99999999999999.9, 14), "1e+14");
    }

    fn eval(code: &str) -> String {
        let lua = Lua::new();
        install(&lua, &lua.globals()).unwrap();
        lua.load(code).eval::<String>().unwrap()
    }

    #[test]
    fn cjson_encodes_as_lua_cjson() {
        assert_eq!(
            eval("return cjson.encode({1, 2, 'a/b'})"),
            r#"[1,2,"a\/b"]"#
        );
        assert_eq!(eval("return cjson.encode({})"), "{}");
        assert_eq!(
            eval("return cjson.encode({a = {b = true}})"),
            r#"{"a":{"b":true}}"#
        );
        assert_eq!(
            eval("return cjson.encode({[1] = 1, [3] = 3})"),
            "[1,null,3]"
        );
        assert_eq!(eval("return cjson.encode(cjson.null)"), "null");
        assert_eq!(eval("return cjson.encode('\\1')"), r#""\u0001""#);
        assert!(
            eval("local ok, e = pcall(cjson.encode, {[1] = 1, [100] = 1}) return tostring(e)")
                .contains("excessively sparse array")
        );
    }

    #[test]
    fn cjson_decodes() {
        assert_eq!(
            eval("local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":1.5}') return tostring(t.a[2]) .. tostring(t.a[3].b == cjson.null) .. t.c"),
            "2true1.5"
        );
    }

    #[test]
    fn msgpack_decoding_deep_input_fails_without_exhausting_the_stack() {
        assert_eq!(
            eval("local ok, e = pcall(cmsgpack.unpack, string.rep('\\145', 100000)) return tostring(ok)"),
            "false"
        );
        assert_eq!(
            eval("local t = cmsgpack.unpack(cmsgpack.pack({1, {2, {3}}})) return tostring(t[2][2][1])"),
            "3"
        );
    }

    #[test]
    fn bit_wraps_to_32_bits() {
        assert_eq!(eval("return tostring(bit.band(0xff, 0x0f))"), "15");
        assert_eq!(eval("return tostring(bit.bnot(0))"), "-1");
        assert_eq!(eval("return tostring(bit.lshift(1, 31))"), "-2147483648");
        assert_eq!(eval("return tostring(bit.rshift(-1, 28))"), "15");
        assert_eq!(eval("return tostring(bit.arshift(-16, 2))"), "-4");
        assert_eq!(eval("return tostring(bit.tobit(4294967297))"), "1");
        assert_eq!(eval("return bit.tohex(255)"), "000000ff");
        assert_eq!(eval("return bit.tohex(-1, -4)"), "FFFF");
        assert_eq!(eval("return bit.tohex(255, -2147483648)"), "000000FF");
        assert_eq!(eval("return tostring(bit.bxor(5, 3, 1))"), "7");
    }
}
