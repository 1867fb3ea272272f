//! The `struct` library Redis gives scripts (Roberto Ierusalimschy's
//! lua-struct, as vendored by Redis 7.0): `struct.pack(fmt, ...)`,
//! `struct.unpack(fmt, data [, pos])` and `struct.size(fmt)`. Written here
//! for the same reason as `libs`: it is a C module in Redis, and scripts
//! depend on its exact byte layout and error texts.
//!
//! Formats: `<` `>` set little/big endian (native: little), `!n` the
//! maximum alignment (default 1: packed; `!` alone 8), `b`/`B` `h`/`H`
//! `l`/`L` `T` `i[n]`/`I[n]` integers (lower case signed; 1, 2, 8, 8 and n
//! bytes, n up to 32, default 4), `f` and `d` floats, `c[n]` n raw bytes
//! (`c0`: the whole string when packing, the length unpacked just before
//! when unpacking), `s` a zero-terminated string, `x` a zero byte, spaces
//! ignored.

use mlua::{Lua, MultiValue, Table, Value};

/// Integers up to this many bytes (only the low 8 carry value).
const MAX_INT_SIZE: usize = 32;
/// What `!` alone sets: the alignment of a double on this platform.
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    big_endian: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            big_endian: false,
            align: 1,
        }
    }
}

fn error(msg: String) -> mlua::Error {
    mlua::Error::runtime(msg)
}

fn arg_error(n: usize, func: &str, msg: &str) -> mlua::Error {
    error(format!("bad argument #{n} to '{func}' ({msg})"))
}

/// A decimal count after an option, or `default` if none follows.
fn number(fmt: &[u8], at: &mut usize, default: usize) -> mlua::Result<usize> {
    if !fmt.get(*at).is_some_and(u8::is_ascii_digit) {
        return Ok(default);
    }
    let mut n: usize = 0;
    while let Some(&d) = fmt.get(*at).filter(|d| d.is_ascii_digit()) {
        let d = usize::from(d - b'0');
        // The C library's bound: an int.
        if n > (i32::MAX as usize - d) / 10 {
            return Err(error("integral size overflow".into()));
        }
        n = n * 10 + d;
        *at += 1;
    }
    Ok(n)
}

/// The size of option `opt` (reading its count, if it takes one); 0 for
/// options that are not items.
fn item_size(opt: u8, fmt: &[u8], at: &mut usize) -> mlua::Result<usize> {
    Ok(match opt {
        b'b' | b'B' | b'x' => 1,
        b'h' | b'H' => 2,
        b'l' | b'L' | b'T' | b'd' => 8,
        b'f' => 4,
        b'c' => number(fmt, at, 1)?,
        b'i' | b'I' => {
            let n = number(fmt, at, 4)?;
            if n > MAX_INT_SIZE {
                return Err(error(format!(
                    "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                )));
            }
            n
        }
        _ => 0,
    })
}

/// Padding that aligns an item of `size` bytes at offset `len`.
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

/// Endianness, alignment and spaces; anything else is not an option.
fn control(opt: u8, fmt: &[u8], at: &mut usize, h: &mut Header, func: &str) -> mlua::Result<()> {
    match opt {
        b' ' => {}
        b'>' => h.big_endian = true,
        b'<' => h.big_endian = false,
        b'!' => {
            let a = number(fmt, at, MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(error(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        _ => {
            let msg = format!("invalid format option '{}'", opt as char);
            return Err(arg_error(1, func, &msg));
        }
    }
    Ok(())
}

/// A missing argument is "no value", except a missing value to `pack`:
/// the C library pushes a nil right after its arguments once it has the
/// format, which is what the first missing one then reads as.
fn type_name(v: Option<&Value>, func: &str, n: usize) -> &'static str {
    match v {
        Some(v) => v.type_name(),
        None if func == "pack" && n > 1 => "nil",
        None => "no value",
    }
}

fn check_number(lua: &Lua, args: &MultiValue, n: usize, func: &str) -> mlua::Result<f64> {
    let v = args.get(n - 1);
    match v.map(|v| lua.coerce_number(v.clone())).transpose()? {
        Some(Some(x)) => Ok(x),
        _ => {
            let msg = format!("number expected, got {}", type_name(v, func, n));
            Err(arg_error(n, func, &msg))
        }
    }
}

fn check_bytes(lua: &Lua, args: &MultiValue, n: usize, func: &str) -> mlua::Result<Vec<u8>> {
    let v = args.get(n - 1);
    match v.map(|v| lua.coerce_string(v.clone())).transpose()? {
        Some(Some(s)) => Ok(s.as_bytes().to_vec()),
        _ => {
            let msg = format!("string expected, got {}", type_name(v, func, n));
            Err(arg_error(n, func, &msg))
        }
    }
}

/// `n` as the C library stores it: negative through a signed 64-bit value.
fn to_bits(n: f64) -> u64 {
    if n < 0.0 {
        n as i64 as u64
    } else {
        n as u64
    }
}

fn put_integer(out: &mut Vec<u8>, value: u64, big_endian: bool, size: usize) {
    let mut bytes = vec![0u8; size];
    for (i, b) in bytes.iter_mut().enumerate().take(8) {
        *b = (value >> (8 * i)) as u8;
    }
    if big_endian {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn get_integer(data: &[u8], big_endian: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    let mut push = |b: u8| l = (l << 8) | u64::from(b);
    if big_endian {
        data.iter().for_each(|&b| push(b));
    } else {
        data.iter().rev().for_each(|&b| push(b));
    }
    if !signed {
        return l as f64;
    }
    // The sign bit of a `size`-byte integer, extended; as the C library's
    // shift, whose count the CPU takes modulo 64.
    let mask = u64::MAX.wrapping_shl((size as u32).wrapping_mul(8).wrapping_sub(1));
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// Little-endian bytes in the order asked for.
fn ordered<const N: usize>(mut bytes: [u8; N], big_endian: bool) -> [u8; N] {
    if big_endian {
        bytes.reverse();
    }
    bytes
}

/// The first N bytes of `data` (checked long enough by the caller).
fn read<const N: usize>(data: &[u8]) -> [u8; N] {
    let mut b = [0u8; N];
    b.copy_from_slice(&data[..N]);
    b
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    let fmt = check_bytes(lua, &args, 1, "pack")?;
    let mut h = Header::default();
    let mut out = Vec::new();
    let mut arg = 2;
    let mut at = 0;
    while let Some(&opt) = fmt.get(at) {
        at += 1;
        let mut size = item_size(opt, &fmt, &mut at)?;
        let pad = padding(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, &args, arg, "pack")?;
                arg += 1;
                put_integer(&mut out, to_bits(n), h.big_endian, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = check_number(lua, &args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&ordered(f.to_le_bytes(), h.big_endian));
            }
            b'd' => {
                let d = check_number(lua, &args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&ordered(d.to_le_bytes(), h.big_endian));
            }
            b'c' | b's' => {
                let s = check_bytes(lua, &args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                let Some(bytes) = s.get(..size) else {
                    // The C library names the argument after this one.
                    return Err(arg_error(arg, "pack", "string too short"));
                };
                out.extend_from_slice(bytes);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => control(opt, &fmt, &mut at, &mut h, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let fmt = check_bytes(lua, &args, 1, "unpack")?;
    let data = check_bytes(lua, &args, 2, "unpack")?;
    let pos = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(_) => check_number(lua, &args, 3, "unpack")? as i64,
    };
    if pos == 0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    if pos < 0 {
        // The C library's offset is unsigned: a negative one is past any
        // data.
        if fmt.is_empty() {
            return Ok(MultiValue::from_iter([Value::Integer(
                pos as mlua::Integer,
            )]));
        }
        return Err(arg_error(2, "unpack", "data string too short"));
    }
    let mut pos = (pos - 1) as usize;
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let short = || arg_error(2, "unpack", "data string too short");
    let mut at = 0;
    while let Some(&opt) = fmt.get(at) {
        at += 1;
        let mut size = item_size(opt, &fmt, &mut at)?;
        pos += padding(pos, &h, opt, size);
        if size > data.len() || pos > data.len() - size {
            return Err(short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                let n = get_integer(&data[pos..pos + size], h.big_endian, signed, size);
                out.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let f = f32::from_le_bytes(ordered(read(&data[pos..]), h.big_endian));
                out.push(Value::Number(f64::from(f)));
            }
            b'd' => {
                let d = f64::from_le_bytes(ordered(read(&data[pos..]), h.big_endian));
                out.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    // The length is the number unpacked just before.
                    let Some(prev) = out.pop() else {
                        return Err(error("format 'c0' needs a previous size".into()));
                    };
                    match lua.coerce_number(prev)? {
                        // Negative: the C library's unsigned size is huge.
                        Some(n) if n < 0.0 => return Err(short()),
                        Some(n) => size = n as usize,
                        None => return Err(error("format 'c0' needs a previous size".into())),
                    }
                    if size > data.len() || pos > data.len() - size {
                        return Err(short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(error("unfinished string in data".into()));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + len])?));
                size = len + 1;
            }
            _ => control(opt, &fmt, &mut at, &mut h, "unpack")?,
        }
        pos += size;
    }
    out.push(Value::Integer((pos + 1) as mlua::Integer));
    Ok(MultiValue::from_iter(out))
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::Integer> {
    let fmt = check_bytes(lua, &args, 1, "size")?;
    let mut h = Header::default();
    let mut pos = 0usize;
    let mut at = 0;
    while let Some(&opt) = fmt.get(at) {
        at += 1;
        let size = item_size(opt, &fmt, &mut at)?;
        pos += padding(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        // Unknown letters count for nothing here, as in the C library.
        if !opt.is_ascii_alphanumeric() {
            control(opt, &fmt, &mut at, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as mlua::Integer)
}

/// The `struct` table.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_in_both_byte_orders() {
        let mut out = Vec::new();
        put_integer(&mut out, to_bits(-2.0), true, 4);
        assert_eq!(out, [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(get_integer(&out, true, true, 4), -2.0);
        assert_eq!(get_integer(&out, true, false, 4), 4294967294.0);
        out.clear();
        put_integer(&mut out, 258, false, 2);
        assert_eq!(out, [2, 1]);
        assert_eq!(get_integer(&out, false, false, 2), 258.0);
        // Wider than 8 bytes: the value's bytes, then zeros.
        out.clear();
        put_integer(&mut out, 1, false, 10);
        assert_eq!(out, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    proptest::proptest! {
        /// Any format, any arguments: an answer or a Lua error, never a
        /// panic; what pack makes, unpack with the same format reads
        /// without running past the data.
        #[test]
        fn any_format_is_answered_without_panicking(
            fmt in "[<>! 0-9bBhHlLTiIfdcsxz?]{0,12}",
            nums in proptest::collection::vec(-1e12f64..1e12, 0..6),
            text in "[a-z]{0,6}",
        ) {
            let lua = Lua::new();
            let t = table(&lua).unwrap();
            let mut args: Vec<Value> = vec![Value::String(lua.create_string(&fmt).unwrap())];
            for (i, n) in nums.iter().enumerate() {
                args.push(if i % 2 == 0 {
                    Value::Number(*n)
                } else {
                    Value::String(lua.create_string(&text).unwrap())
                });
            }
            let pack: mlua::Function = t.get("pack").unwrap();
            let packed: mlua::Result<mlua::LuaString> = pack.call(MultiValue::from_iter(args));
            if let Ok(p) = packed {
                let unpack: mlua::Function = t.get("unpack").unwrap();
                let _: mlua::Result<MultiValue> = unpack.call((fmt.as_str(), p));
            }
            let size: mlua::Function = t.get("size").unwrap();
            let _: mlua::Result<mlua::Integer> = size.call(fmt.as_str());
        }
    }

    #[test]
    fn padding_follows_the_alignment_in_force() {
        let packed = Header::default();
        assert_eq!(padding(1, &packed, b'i', 4), 0);
        let aligned = Header {
            big_endian: false,
            align: 8,
        };
        assert_eq!(padding(1, &aligned, b'i', 4), 3);
        assert_eq!(padding(1, &aligned, b'd', 8), 7);
        assert_eq!(padding(3, &aligned, b'c', 4), 0);
        assert_eq!(padding(5, &aligned, b'x', 0), 0);
    }
}
