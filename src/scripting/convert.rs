//! Between Redis replies and Lua values, with Redis's conventions: a
//! status reply is `{ok=...}`, an error `{err=...}`, a nil bulk or array
//! `false` (RESP2); RESP3 types become tables naming their type (`double`,
//! `map`, `set`, `big_number`, `verbatim_string`). A script's return value
//! goes the other way, into the caller's protocol.

use crate::protocol::Reply;
use mlua::{Lua, Table, Value};

/// Deep enough for any reply a command builds; a script returning a table
/// that contains itself stops here, as Redis stops at its Lua stack limit.
const MAX_DEPTH: usize = 200;

/// The Lua value of the reply at the start of `buf`. Replies come from our
/// own handlers, so malformed input is not expected; it converts to nil.
pub fn reply_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<Value> {
    let mut pos = 0;
    parse(lua, buf, &mut pos, 0)
}

fn line<'b>(buf: &'b [u8], pos: &mut usize) -> &'b [u8] {
    let start = *pos;
    let end = buf[start..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(buf.len(), |i| start + i);
    *pos = (end + 2).min(buf.len());
    &buf[start..end]
}

fn num(b: &[u8]) -> i64 {
    crate::protocol::parse_i64(b).unwrap_or(0)
}

fn field(lua: &Lua, name: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(name, v)?;
    Ok(Value::Table(t))
}

fn parse(lua: &Lua, buf: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if *pos >= buf.len() || depth > MAX_DEPTH {
        return Ok(Value::Nil);
    }
    let kind = buf[*pos];
    *pos += 1;
    let head = line(buf, pos);
    Ok(match kind {
        b'+' => field(lua, "ok", Value::String(lua.create_string(head)?))?,
        b'-' => {
            // Counted in INFO's error stats already, by the command that
            // answered it: Redis marks the table so that a script passing
            // it on does not count it twice.
            let t = lua.create_table_with_capacity(0, 2)?;
            t.raw_set("err", lua.create_string(head)?)?;
            t.raw_set(COUNTED, true)?;
            Value::Table(t)
        }
        b':' => Value::Number(num(head) as f64),
        b'$' | b'=' => {
            let n = num(head);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let n = n as usize;
            let end = pos.saturating_add(n).min(buf.len());
            let body = &buf[*pos..end];
            *pos = (end + 2).min(buf.len());
            if kind == b'=' && body.len() >= 4 {
                let t = lua.create_table()?;
                t.raw_set("format", lua.create_string(&body[..3])?)?;
                t.raw_set("string", lua.create_string(&body[4..])?)?;
                field(lua, "verbatim_string", Value::Table(t))?
            } else {
                Value::String(lua.create_string(body)?)
            }
        }
        b'*' | b'>' => {
            let n = num(head);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table_with_capacity(n as usize, 0)?;
            for i in 1..=n {
                t.raw_set(i, parse(lua, buf, pos, depth + 1)?)?;
            }
            Value::Table(t)
        }
        b'%' => {
            let t = lua.create_table()?;
            for _ in 0..num(head) {
                let k = parse(lua, buf, pos, depth + 1)?;
                let v = parse(lua, buf, pos, depth + 1)?;
                if !k.is_nil() {
                    t.raw_set(k, v)?;
                }
            }
            field(lua, "map", Value::Table(t))?
        }
        b'~' => {
            let t = lua.create_table()?;
            for _ in 0..num(head) {
                let k = parse(lua, buf, pos, depth + 1)?;
                if !k.is_nil() {
                    t.raw_set(k, true)?;
                }
            }
            field(lua, "set", Value::Table(t))?
        }
        b'|' => {
            // Attributes carry nothing a script sees: skip to the value.
            for _ in 0..num(head) * 2 {
                parse(lua, buf, pos, depth + 1)?;
            }
            parse(lua, buf, pos, depth)?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let v = std::str::from_utf8(head)
                .ok()
                .and_then(|s| match s {
                    "inf" => Some(f64::INFINITY),
                    "-inf" => Some(f64::NEG_INFINITY),
                    _ => s.parse().ok(),
                })
                .unwrap_or(0.0);
            field(lua, "double", Value::Number(v))?
        }
        b'(' => field(lua, "big_number", Value::String(lua.create_string(head)?))?,
        _ => Value::Nil,
    })
}

/// Redis's name for the mark of an error table whose error a command's
/// reply already counted (scripts can see it, as in Redis).
pub const COUNTED: &str = "ignore_error_stats_update";

/// Whether an error table's error was counted already (`COUNTED`).
pub fn counted(t: &Table) -> bool {
    matches!(t.raw_get::<Value>(COUNTED), Ok(Value::Boolean(true)))
}

/// Write an error table's message as the reply, counted unless it was.
pub fn error_reply(r: &mut Reply, t: &Table, msg: &str) {
    if counted(t) {
        r.error_uncounted(msg)
    } else {
        r.error(msg)
    }
}

/// The message of an error table (`{err=...}`), if it is one.
pub fn error_of(t: &Table) -> Option<String> {
    match t.raw_get::<Value>("err").ok()? {
        Value::String(s) => Some(s.to_string_lossy()),
        _ => None,
    }
}

/// Write a script's return value. `inner_resp3`: the script switched its
/// own calls to RESP3 (`redis.setresp(3)`), which decides how a boolean
/// is answered, as in Redis.
pub fn lua_to_reply(r: &mut Reply, v: &Value, inner_resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        return r.error("ERR reached lua stack limit");
    }
    match v {
        Value::String(s) => r.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if inner_resp3 {
                r.boolean(*b)
            } else if *b {
                r.int(1)
            } else {
                r.null()
            }
        }
        Value::Integer(i) => r.int(*i),
        Value::Number(n) => r.int(number_to_i64(*n)),
        Value::Table(t) => table_to_reply(r, t, inner_resp3, depth),
        _ => r.null(),
    }
}

/// C's (long long) cast of a Lua number: truncation, saturating where C
/// would be undefined.
fn number_to_i64(n: f64) -> i64 {
    if n.is_nan() {
        0
    } else {
        n as i64
    }
}

fn table_to_reply(r: &mut Reply, t: &Table, inner_resp3: bool, depth: usize) {
    if let Some(msg) = error_of(t) {
        return error_reply(r, t, &msg);
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        let s = s.to_string_lossy();
        return r.simple(&s.replace(['\r', '\n'], " "));
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(n)) => return r.double(n),
        Ok(Value::Integer(n)) => return r.double(n as f64),
        _ => {}
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        let s = s.to_string_lossy();
        return r.bignum(&s.replace(['\r', '\n'], " "));
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(_)), Ok(Value::String(s))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            return r.verbatim(&s.as_bytes());
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().flatten().collect();
        r.map(pairs.len());
        for (k, v) in &pairs {
            lua_to_reply(r, k, inner_resp3, depth + 1);
            lua_to_reply(r, v, inner_resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        r.set(keys.len());
        for k in &keys {
            lua_to_reply(r, k, inner_resp3, depth + 1);
        }
        return;
    }
    // An array: elements 1, 2, ... up to the first nil.
    let mut items = Vec::new();
    let mut i = 1;
    while let Ok(v) = t.raw_get::<Value>(i) {
        if v.is_nil() {
            break;
        }
        items.push(v);
        i += 1;
    }
    r.array(items.len());
    for v in &items {
        lua_to_reply(r, v, inner_resp3, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Proto;

    fn round(reply: &[u8], proto: Proto) -> Vec<u8> {
        let lua = Lua::new();
        let v = reply_to_lua(&lua, reply).unwrap();
        let mut out = Vec::new();
        lua_to_reply(&mut Reply::new(&mut out, proto), &v, false, 0);
        out
    }

    #[test]
    fn resp2_replies_survive_a_round_trip() {
        for r in [
            &b"+OK\r\n"[..],
            b"-ERR bad\r\n",
            b":42\r\n",
            b"$3\r\nfoo\r\n",
            b"*2\r\n$1\r\na\r\n:1\r\n",
            b"*0\r\n",
        ] {
            assert_eq!(round(r, Proto::Resp2), r, "{}", String::from_utf8_lossy(r));
        }
    }

    #[test]
    fn nil_becomes_false_and_back_nil() {
        assert_eq!(round(b"$-1\r\n", Proto::Resp2), b"$-1\r\n");
        // An array stops at its first nil (false is not nil).
        assert_eq!(
            round(b"*2\r\n$-1\r\n:1\r\n", Proto::Resp2),
            b"*2\r\n$-1\r\n:1\r\n"
        );
    }

    #[test]
    fn resp3_types_convert_back() {
        assert_eq!(round(b",1.5\r\n", Proto::Resp3), b",1.5\r\n");
        assert_eq!(
            round(b"%1\r\n$1\r\na\r\n:1\r\n", Proto::Resp3),
            b"%1\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(
            round(b"~1\r\n$1\r\na\r\n", Proto::Resp3),
            b"~1\r\n$1\r\na\r\n"
        );
        assert_eq!(
            round(b"%1\r\n$1\r\na\r\n:1\r\n", Proto::Resp2),
            b"*2\r\n$1\r\na\r\n:1\r\n"
        );
    }

    #[test]
    fn numbers_truncate_like_c() {
        let lua = Lua::new();
        let mut out = Vec::new();
        lua_to_reply(
            &mut Reply::new(&mut out, Proto::Resp2),
            &Value::Number(3.99),
            false,
            0,
        );
        lua_to_reply(
            &mut Reply::new(&mut out, Proto::Resp2),
            &Value::Number(-2.5),
            false,
            0,
        );
        assert_eq!(out, b":3\r\n:-2\r\n");
        drop(lua);
    }

    #[test]
    fn a_table_containing_itself_ends() {
        let lua = Lua::new();
        let t = lua.create_table().unwrap();
        t.raw_set(1, t.clone()).unwrap();
        let mut out = Vec::new();
        lua_to_reply(
            &mut Reply::new(&mut out, Proto::Resp2),
            &Value::Table(t),
            false,
            0,
        );
        assert!(out.ends_with(b"-ERR reached lua stack limit\r\n"));
    }
}
