//! The libraries Redis gives scripts beyond Lua's own: `cjson` (lua-cjson
//! 2.1's encode/decode and `cjson.null`) and `bit` (LuaBitOp). Written
//! here because they are C modules in Redis: nothing to link against from
//! Rust, and their output (cjson's number format, escaping and sparse-
//! array rule; LuaBitOp's 32-bit wrapping) is what scripts compare with.

use mlua::{Lua, MultiValue, Table, Value};

/// Put `cjson` and `bit` in the interpreter's globals.
pub fn install(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.raw_set("cjson", cjson(lua)?)?;
    globals.raw_set("bit", bit(lua)?)?;
    Ok(())
}

fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("null", Value::NULL)?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = Vec::new();
            encode(&v, &mut out, 0).map_err(mlua::Error::runtime)?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, s: mlua::LuaString| {
            let v: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::runtime(format!("Expected value but found invalid token: {e}"))
            })?;
            decode(lua, &v)
        })?,
    )?;
    Ok(t)
}

/// lua-cjson's default: 14 significant digits.
fn number(n: f64) -> Result<String, String> {
    if !n.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
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

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(u) if u.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(number(*i as f64)?.as_bytes()),
        Value::Number(n) => out.extend_from_slice(number(*n)?.as_bytes()),
        Value::String(s) => escape(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= 1000 {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            encode_table(t, out, depth + 1)?
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
fn encode_table(t: &Table, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
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
            encode(&v, out, depth)?;
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
            Value::Integer(i) => escape(number(*i as f64)?.as_bytes(), out),
            Value::Number(x) => escape(number(*x)?.as_bytes(), out),
            _ => return Err("Cannot serialise table: table key must be a number or string".into()),
        }
        out.push(b':');
        encode(v, out, depth)?;
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
            let (upper, width) = if n < 0 {
                (true, (-n) as usize)
            } else {
                (false, n as usize)
            };
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
    fn bit_wraps_to_32_bits() {
        assert_eq!(eval("return tostring(bit.band(0xff, 0x0f))"), "15");
        assert_eq!(eval("return tostring(bit.bnot(0))"), "-1");
        assert_eq!(eval("return tostring(bit.lshift(1, 31))"), "-2147483648");
        assert_eq!(eval("return tostring(bit.rshift(-1, 28))"), "15");
        assert_eq!(eval("return tostring(bit.arshift(-16, 2))"), "-4");
        assert_eq!(eval("return tostring(bit.tobit(4294967297))"), "1");
        assert_eq!(eval("return bit.tohex(255)"), "000000ff");
        assert_eq!(eval("return bit.tohex(-1, -4)"), "FFFF");
        assert_eq!(eval("return tostring(bit.bxor(5, 3, 1))"), "7");
    }
}
