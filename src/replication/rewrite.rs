//! What a write sends to replicas: Redis 7.0 replicates most commands as
//! they were called, but rewrites the ones a replica running them later
//! would get a different result from (relative expiry times, random pops,
//! float arithmetic, blocking pops), and skips the ones that changed
//! nothing. The rewrites follow Redis's own (t_string.c, expire.c,
//! t_set.c, t_list.c, t_zset.c, t_hash.c), so a Redis replica sees the
//! stream a Redis master would send it.

use crate::commands::table::{Command, WatchTouch};
use crate::protocol::Args;

/// SPOP with a count replicates as SREMs of at most this many members,
/// as Redis batches them.
const SREM_BATCH: usize = 1024;

/// What to replicate for a write.
pub enum Replicated {
    /// It changed nothing.
    Nothing,
    /// The command as it was called (most writes: nothing to copy).
    AsCalled,
    /// These commands instead.
    Rewritten(Vec<Vec<Vec<u8>>>),
}

/// What to replicate for `cmd` run with `a`, given its reply (RESP2 or
/// RESP3) and the command's clock.
pub fn replicated(cmd: &Command, a: Args, reply: &[u8], now: u64) -> Replicated {
    if reply.is_empty() || reply[0] == b'-' || reply[0] == b'!' || unchanged(cmd, a, reply) {
        return Replicated::Nothing;
    }
    let plain_set = cmd.name == "set"
        && !a.iter().skip(3).any(|o| {
            ["ex", "px", "exat", "pxat"]
                .iter()
                .any(|x| o.eq_ignore_ascii_case(x.as_bytes()))
        });
    if plain_set || !rewrites(cmd.name) {
        return Replicated::AsCalled;
    }
    Replicated::Rewritten(propagated(cmd, a, reply, now))
}

/// The commands Redis replicates as something else than they were called.
fn rewrites(name: &str) -> bool {
    matches!(
        name,
        "set"
            | "setex"
            | "psetex"
            | "getset"
            | "restore"
            | "getdel"
            | "getex"
            | "expire"
            | "pexpire"
            | "expireat"
            | "pexpireat"
            | "incrbyfloat"
            | "hincrbyfloat"
            | "spop"
            | "blpop"
            | "brpop"
            | "bzpopmin"
            | "bzpopmax"
            | "lmpop"
            | "blmpop"
            | "zmpop"
            | "bzmpop"
            | "blmove"
            | "brpoplpush"
    )
}

/// The commands to replicate for `cmd` run with `a`, given its reply
/// (RESP2 or RESP3) and the command's clock. Empty: nothing changed.
pub fn propagated(cmd: &Command, a: Args, reply: &[u8], now: u64) -> Vec<Vec<Vec<u8>>> {
    if reply.is_empty() || reply[0] == b'-' || reply[0] == b'!' || unchanged(cmd, a, reply) {
        return Vec::new();
    }
    let arg = |i: usize| a.get(i).to_vec();
    let v = |s: &str| s.as_bytes().to_vec();
    let one = |c: Vec<Vec<u8>>| vec![c];
    match cmd.name {
        "set" => {
            let mut at = None;
            let mut i = 3;
            while i < a.len() {
                let o = a.get(i).to_ascii_lowercase();
                let n: &[u8] = if i + 1 < a.len() { a.get(i + 1) } else { b"" };
                let num = || crate::protocol::parse_i64(n).unwrap_or(0);
                match o.as_slice() {
                    b"ex" => at = Some(now as i64 + num().saturating_mul(1000)),
                    b"px" => at = Some(now as i64 + num()),
                    b"exat" => at = Some(num().saturating_mul(1000)),
                    b"pxat" => at = Some(num()),
                    _ => {}
                }
                i += 1;
            }
            match at {
                Some(ms) => one(vec![v("SET"), arg(1), arg(2), v("PXAT"), ms_arg(ms)]),
                None => one(a.iter().map(|x| x.to_vec()).collect()),
            }
        }
        "setex" | "psetex" => {
            let n = crate::protocol::parse_i64(a.get(2)).unwrap_or(0);
            let ms = if cmd.name == "setex" {
                n.saturating_mul(1000)
            } else {
                n
            };
            one(vec![
                v("SET"),
                arg(1),
                arg(3),
                v("PXAT"),
                ms_arg(now as i64 + ms),
            ])
        }
        "getset" => one(vec![v("SET"), arg(1), arg(2)]),
        "restore" => {
            // A relative TTL is made absolute (ABSTTL appended), as Redis's
            // restoreCommand rewrites it.
            let ttl = crate::protocol::parse_i64(a.get(2)).unwrap_or(0);
            let absolute = a.iter().skip(4).any(|x| x.eq_ignore_ascii_case(b"absttl"));
            let mut c: Vec<Vec<u8>> = a.iter().map(|x| x.to_vec()).collect();
            if ttl > 0 && !absolute {
                c[2] = ms_arg(now as i64 + ttl);
                c.push(v("ABSTTL"));
            }
            one(c)
        }
        "getdel" => one(vec![v("DEL"), arg(1)]),
        "getex" => {
            if a.len() < 3 {
                return Vec::new();
            }
            let o = a.get(2).to_ascii_lowercase();
            if o == b"persist" {
                return one(vec![v("PERSIST"), arg(1)]);
            }
            let n: &[u8] = if a.len() > 3 { a.get(3) } else { b"" };
            let n = crate::protocol::parse_i64(n).unwrap_or(0);
            let (ms, absolute) = match o.as_slice() {
                b"ex" => (now as i64 + n.saturating_mul(1000), false),
                b"px" => (now as i64 + n, false),
                b"exat" => (n.saturating_mul(1000), true),
                _ => (n, true),
            };
            if absolute && ms <= now as i64 {
                one(vec![v("DEL"), arg(1)])
            } else {
                one(vec![v("PEXPIREAT"), arg(1), ms_arg(ms)])
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            let n = crate::protocol::parse_i64(a.get(2)).unwrap_or(0);
            let when = match cmd.name {
                "expire" => (now as i64).saturating_add(n.saturating_mul(1000)),
                "pexpire" => (now as i64).saturating_add(n),
                "expireat" => n.saturating_mul(1000),
                _ => n,
            };
            if when <= now as i64 {
                return one(vec![v("DEL"), arg(1)]);
            }
            let mut c = vec![v("PEXPIREAT"), arg(1), ms_arg(when)];
            c.extend(a.iter().skip(3).map(|x| x.to_vec()));
            one(c)
        }
        "incrbyfloat" => match bulk(reply) {
            Some(val) => one(vec![v("SET"), arg(1), val.to_vec(), v("KEEPTTL")]),
            None => Vec::new(),
        },
        "hincrbyfloat" => match bulk(reply) {
            Some(val) => one(vec![v("HSET"), arg(1), arg(2), val.to_vec()]),
            None => Vec::new(),
        },
        "spop" => {
            let members: Vec<Vec<u8>> = match parse(reply) {
                Some(Resp::Bulk(m)) => vec![m.to_vec()],
                Some(Resp::Array(items)) => items
                    .into_iter()
                    .filter_map(|x| x.bulk().map(|b| b.to_vec()))
                    .collect(),
                _ => Vec::new(),
            };
            members
                .chunks(SREM_BATCH)
                .map(|chunk| {
                    let mut c = vec![v("SREM"), arg(1)];
                    c.extend(chunk.iter().cloned());
                    c
                })
                .collect()
        }
        "blpop" | "brpop" => match parse(reply) {
            Some(Resp::Array(items)) if !items.is_empty() => match items[0].bulk() {
                Some(key) => {
                    let pop = if cmd.name == "blpop" { "LPOP" } else { "RPOP" };
                    one(vec![v(pop), key.to_vec()])
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        },
        "bzpopmin" | "bzpopmax" => match parse(reply) {
            Some(Resp::Array(items)) if !items.is_empty() => match items[0].bulk() {
                Some(key) => {
                    let pop = if cmd.name == "bzpopmin" {
                        "ZPOPMIN"
                    } else {
                        "ZPOPMAX"
                    };
                    one(vec![v(pop), key.to_vec()])
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        },
        "lmpop" | "blmpop" | "zmpop" | "bzmpop" => {
            let Some(Resp::Array(items)) = parse(reply) else {
                return Vec::new();
            };
            let (Some(key), Some(Resp::Array(popped))) =
                (items.first().and_then(|k| k.bulk()), items.get(1))
            else {
                return Vec::new();
            };
            let left = a
                .iter()
                .any(|x| x.eq_ignore_ascii_case(b"left") || x.eq_ignore_ascii_case(b"min"));
            let pop = match (cmd.name.ends_with("zmpop"), left) {
                (false, true) => "LPOP",
                (false, false) => "RPOP",
                (true, true) => "ZPOPMIN",
                (true, false) => "ZPOPMAX",
            };
            one(vec![v(pop), key.to_vec(), v(&popped.len().to_string())])
        }
        "blmove" => one(vec![v("LMOVE"), arg(1), arg(2), arg(3), arg(4)]),
        "brpoplpush" => one(vec![v("RPOPLPUSH"), arg(1), arg(2)]),
        _ => one(a.iter().map(|x| x.to_vec()).collect()),
    }
}

fn ms_arg(ms: i64) -> Vec<u8> {
    ms.to_string().into_bytes()
}

/// Does the reply show the write changed nothing? The reply-based rules
/// WATCH uses (`Command::watch`), plus the precise writers' own "nothing
/// done" answers (DEL of missing keys, SET NX on an existing key...).
fn unchanged(cmd: &Command, a: Args, reply: &[u8]) -> bool {
    let zero = reply == b":0\r\n";
    let nil = matches!(reply, b"$-1\r\n" | b"*-1\r\n" | b"_\r\n");
    match cmd.watch {
        WatchTouch::UnlessZero => return zero || reply == b":-1\r\n",
        WatchTouch::UnlessNone => {
            return nil || matches!(reply, b"*0\r\n" | b"~0\r\n");
        }
        _ => {}
    }
    match cmd.name {
        "del" | "unlink" | "expire" | "pexpire" | "expireat" | "pexpireat" | "persist"
        | "renamenx" | "msetnx" | "setnx" | "move" | "copy" | "smove" | "hsetnx" => zero,
        "getdel" | "getex" | "blmove" | "brpoplpush" => nil,
        "set" => {
            let has = |o: &str| {
                a.iter()
                    .skip(3)
                    .any(|x| x.eq_ignore_ascii_case(o.as_bytes()))
            };
            if !has("get") {
                nil
            } else if has("nx") {
                // SET NX GET answers the old value when it did not set.
                !nil
            } else if has("xx") {
                nil
            } else {
                false
            }
        }
        _ => false,
    }
}

/// A reply, as far as the rewrites need to look into one.
enum Resp<'a> {
    Bulk(&'a [u8]),
    Array(Vec<Resp<'a>>),
    Other,
}

impl<'a> Resp<'a> {
    fn bulk(&self) -> Option<&'a [u8]> {
        match self {
            Resp::Bulk(b) => Some(b),
            _ => None,
        }
    }
}

fn bulk(reply: &[u8]) -> Option<&[u8]> {
    match parse(reply) {
        Some(Resp::Bulk(b)) => Some(b),
        _ => None,
    }
}

fn parse(b: &[u8]) -> Option<Resp<'_>> {
    parse_at(b, 0).map(|(v, _)| v)
}

/// One RESP2/RESP3 value starting at `at`, and where it ends.
fn parse_at(b: &[u8], at: usize) -> Option<(Resp<'_>, usize)> {
    let line_end = at + b.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    let head = b.get(at + 1..line_end)?;
    let next = line_end + 2;
    let n = || std::str::from_utf8(head).ok()?.parse::<i64>().ok();
    match b.get(at)? {
        b'$' | b'=' => {
            let len = n()?;
            if len < 0 {
                return Some((Resp::Other, next));
            }
            let end = next.checked_add(len as usize)?;
            Some((Resp::Bulk(b.get(next..end)?), end + 2))
        }
        b'+' => Some((Resp::Bulk(head), next)),
        b'*' | b'~' | b'>' | b'%' => {
            let count = n()?;
            if count < 0 {
                return Some((Resp::Other, next));
            }
            let count = if b[at] == b'%' { count * 2 } else { count } as usize;
            let mut items = Vec::with_capacity(count.min(1024));
            let mut pos = next;
            for _ in 0..count {
                let (v, p) = parse_at(b, pos)?;
                items.push(v);
                pos = p;
            }
            Some((Resp::Array(items), pos))
        }
        _ => Some((Resp::Other, next)),
    }
}

/// Split concatenated replies (a fold's, or an EXEC array's elements)
/// into one slice per reply.
pub fn split_replies(b: &[u8], skip_array_header: bool) -> Vec<&[u8]> {
    let mut pos = 0;
    if skip_array_header {
        match parse_header_end(b) {
            Some(p) => pos = p,
            None => return Vec::new(),
        }
    }
    let mut out = Vec::new();
    while pos < b.len() {
        let Some((_, end)) = parse_at(b, pos) else {
            break;
        };
        out.push(&b[pos..end]);
        pos = end;
    }
    out
}

fn parse_header_end(b: &[u8]) -> Option<usize> {
    if !matches!(b.first(), Some(b'*')) {
        return None;
    }
    Some(b.windows(2).position(|w| w == b"\r\n")? + 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::table;
    use crate::tx::OwnedArgs;

    fn prop(args: &[&str], reply: &str, now: u64) -> Vec<Vec<String>> {
        let mut o = OwnedArgs::new();
        for a in args {
            o.push(a.as_bytes());
        }
        let cmd = table::lookup(args[0].as_bytes()).unwrap();
        propagated(cmd, o.args(), reply.as_bytes(), now)
            .into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|x| String::from_utf8(x).unwrap())
                    .collect()
            })
            .collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn rewrites_as_redis_does() {
        assert_eq!(
            prop(&["set", "k", "v", "EX", "10"], "+OK\r\n", 1000),
            vec![s(&["SET", "k", "v", "PXAT", "11000"])]
        );
        assert_eq!(
            prop(&["set", "k", "v", "PXAT", "5"], "+OK\r\n", 1000),
            vec![s(&["SET", "k", "v", "PXAT", "5"])]
        );
        assert_eq!(
            prop(&["restore", "k", "100", "P"], "+OK\r\n", 1000),
            vec![s(&["restore", "k", "1100", "P", "ABSTTL"])]
        );
        assert_eq!(
            prop(&["restore", "k", "0", "P"], "+OK\r\n", 1000),
            vec![s(&["restore", "k", "0", "P"])]
        );
        assert!(prop(&["set", "k", "v", "NX"], "$-1\r\n", 0).is_empty());
        assert_eq!(prop(&["set", "k", "v", "NX", "GET"], "$-1\r\n", 0).len(), 1);
        assert!(prop(&["set", "k", "v", "NX", "GET"], "$1\r\nx\r\n", 0).is_empty());
        assert_eq!(
            prop(&["setex", "k", "2", "v"], "+OK\r\n", 10),
            vec![s(&["SET", "k", "v", "PXAT", "2010"])]
        );
        assert_eq!(
            prop(&["expire", "k", "5"], ":1\r\n", 100),
            vec![s(&["PEXPIREAT", "k", "5100"])]
        );
        assert_eq!(
            prop(&["expire", "k", "-1"], ":1\r\n", 100),
            vec![s(&["DEL", "k"])]
        );
        assert!(prop(&["del", "k"], ":0\r\n", 0).is_empty());
        assert!(prop(&["set", "k", "v"], "-ERR x\r\n", 0).is_empty());
        assert_eq!(
            prop(&["getex", "k", "EX", "1"], "$1\r\nv\r\n", 0),
            vec![s(&["PEXPIREAT", "k", "1000"])]
        );
        assert!(prop(&["getex", "k"], "$1\r\nv\r\n", 0).is_empty());
        assert_eq!(
            prop(&["getdel", "k"], "$1\r\nv\r\n", 0),
            vec![s(&["DEL", "k"])]
        );
        assert_eq!(
            prop(&["incrbyfloat", "k", "1.5"], "$3\r\n2.5\r\n", 0),
            vec![s(&["SET", "k", "2.5", "KEEPTTL"])]
        );
        assert_eq!(
            prop(&["spop", "s"], "$1\r\na\r\n", 0),
            vec![s(&["SREM", "s", "a"])]
        );
        assert_eq!(
            prop(&["spop", "s", "2"], "~2\r\n$1\r\na\r\n$1\r\nb\r\n", 0),
            vec![s(&["SREM", "s", "a", "b"])]
        );
        assert!(prop(&["spop", "s"], "$-1\r\n", 0).is_empty());
        assert_eq!(
            prop(&["blpop", "a", "b", "0"], "*2\r\n$1\r\nb\r\n$1\r\nx\r\n", 0),
            vec![s(&["LPOP", "b"])]
        );
        assert!(prop(&["blpop", "a", "0"], "", 0).is_empty());
        assert_eq!(
            prop(
                &["blmpop", "0", "1", "l", "RIGHT", "COUNT", "5"],
                "*2\r\n$1\r\nl\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n",
                0
            ),
            vec![s(&["RPOP", "l", "2"])]
        );
        assert_eq!(
            prop(
                &["bzpopmax", "z", "0"],
                "*3\r\n$1\r\nz\r\n$1\r\nm\r\n,1\r\n",
                0
            ),
            vec![s(&["ZPOPMAX", "z"])]
        );
        assert_eq!(
            prop(&["brpoplpush", "a", "b", "0"], "$1\r\nx\r\n", 0),
            vec![s(&["RPOPLPUSH", "a", "b"])]
        );
    }

    #[test]
    fn splits_replies() {
        let r = b"*3\r\n+OK\r\n*2\r\n$1\r\na\r\n$-1\r\n:4\r\n";
        assert_eq!(
            split_replies(r, true),
            vec![&b"+OK\r\n"[..], b"*2\r\n$1\r\na\r\n$-1\r\n", b":4\r\n"]
        );
        assert_eq!(split_replies(b"+OK\r\n:1\r\n", false).len(), 2);
    }
}
