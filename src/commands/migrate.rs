//! MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
//! [AUTH password] [AUTH2 username password] [KEYS key...]: each key is
//! DUMPed here, RESTOREd on the target over a plain blocking connection
//! (as Redis does it: the command holds its shard for at most `timeout`
//! per step), and deleted here once the target took it, unless COPY.
//! Replicas see the deletions as DEL (`Reactor::replicate`).
//!
//! Keys must live on one shard: a MIGRATE whose keys span shards would
//! run on copies, where the deletions could not reach the replicas as the
//! DELs Redis sends; it is refused instead (see `SPANS`), and so is a
//! MIGRATE in a transaction that is not one shard's keyed commands
//! (`IN_TX`) or in a script (which may run again from its start).

use super::ctx::{Ctx, ERR_NOT_INT, ERR_SYNTAX};
use crate::notify::GENERIC;
use crate::protocol::{parse_i64, Args};
use crate::replication::primary::encode;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub const SPANS: &str =
    "ERR MIGRATE's keys must be on one shard here: give them a common {hash tag}";
pub const IN_TX: &str =
    "ERR MIGRATE runs in a transaction here only with keyed commands of its keys' shard";

/// The keys a MIGRATE call names, as Redis's migrateGetKeys finds them:
/// those after KEYS (skipping the options before it), none when KEYS
/// comes with a non-empty key argument; `None`: the fixed key.
pub fn keys(a: Args) -> Option<std::ops::Range<usize>> {
    let at = walk_options(a, |_| {})?;
    if !a.get(3).is_empty() {
        return Some(a.len()..a.len());
    }
    Some(at + 1..a.len())
}

/// MIGRATE's options from the sixth argument on, walked as Redis walks
/// them (AUTH takes one argument, AUTH2 two): `secret` gets the index of
/// each credential (those within the call), and the result is where KEYS
/// is, if it is there. The one walk for `keys` and for redaction
/// (`redact::secret_args`).
pub fn walk_options(a: Args, mut secret: impl FnMut(usize)) -> Option<usize> {
    let mut i = 6;
    while i < a.len() {
        let arg = a.get(i);
        if arg.eq_ignore_ascii_case(b"keys") {
            return Some(i);
        }
        let n = if arg.eq_ignore_ascii_case(b"auth") {
            1
        } else if arg.eq_ignore_ascii_case(b"auth2") {
            2
        } else {
            0
        };
        (i + 1..(i + 1 + n).min(a.len())).for_each(&mut secret);
        i += 1 + n;
    }
    None
}

struct Options<'a> {
    copy: bool,
    replace: bool,
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    keys: std::ops::Range<usize>,
}

/// Redis's option parsing, in its order.
fn options(a: Args<'_>) -> Result<Options<'_>, &'static str> {
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: 3..4,
    };
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let arg = a.get(j);
        if arg.eq_ignore_ascii_case(b"copy") {
            o.copy = true;
        } else if arg.eq_ignore_ascii_case(b"replace") {
            o.replace = true;
        } else if arg.eq_ignore_ascii_case(b"auth") {
            if more < 1 {
                return Err(ERR_SYNTAX);
            }
            o.auth = Some((None, a.get(j + 1)));
            j += 1;
        } else if arg.eq_ignore_ascii_case(b"auth2") {
            if more < 2 {
                return Err(ERR_SYNTAX);
            }
            o.auth = Some((Some(a.get(j + 1)), a.get(j + 2)));
            j += 2;
        } else if arg.eq_ignore_ascii_case(b"keys") {
            if !a.get(3).is_empty() {
                return Err(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                );
            }
            o.keys = j + 1..a.len();
            break;
        } else {
            return Err(ERR_SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

pub fn migrate(c: &mut Ctx, a: Args) {
    c.shard.migrated.clear();
    let o = match options(a) {
        Ok(o) => o,
        Err(e) => return c.r.error(e),
    };
    if c.shard.id == crate::shard::SCRATCH {
        return c.r.error(SPANS);
    }
    let (Some(timeout), Some(db)) = (parse_i64(a.get(5)), parse_i64(a.get(4))) else {
        return c.r.error(ERR_NOT_INT);
    };
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    // The keys here, each with its TTL left and its DUMP payload.
    let now = c.now;
    let mut found: Vec<(&[u8], u64, Vec<u8>)> = Vec::new();
    for i in o.keys.clone() {
        let k = a.get(i);
        if let Some(e) = c.lookup(k) {
            let ttl = match e.expire_at {
                0 => 0,
                at => at.saturating_sub(now).max(1),
            };
            found.push((k, ttl, crate::rdb::dump(&e.value)));
        }
    }
    if found.is_empty() {
        return c.r.simple("NOKEY");
    }
    let Some(mut conn) = connect(a.get(1), a.get(2), timeout) else {
        return c.r.error("IOERR error or timeout connecting to the client");
    };
    let mut out = Vec::new();
    if let Some((user, pass)) = o.auth {
        match user {
            Some(u) => encode(&mut out, &[b"AUTH", u, pass]),
            None => encode(&mut out, &[b"AUTH", pass]),
        }
    }
    let db_arg = db.to_string();
    encode(&mut out, &[b"SELECT", db_arg.as_bytes()]);
    for (k, ttl, payload) in &found {
        let ttl = ttl.to_string();
        let mut cmd: Vec<&[u8]> = vec![b"RESTORE", k, ttl.as_bytes(), payload];
        if o.replace {
            cmd.push(b"REPLACE");
        }
        encode(&mut out, &cmd);
    }
    if conn.write_all(&out).is_err() {
        return c
            .r
            .error("IOERR error or timeout writing to target instance");
    }
    let mut replies = Lines::new(conn, timeout);
    // AUTH's and SELECT's replies first; the first error of all is the
    // one reported, and a key the target took is deleted here even so.
    let mut first_error: Option<String> = None;
    for _ in 0..usize::from(o.auth.is_some()) + 1 {
        match replies.next() {
            Some(l) if l.starts_with('-') => {
                first_error.get_or_insert(l);
            }
            Some(_) => {}
            None => {
                return c
                    .r
                    .error("IOERR error or timeout reading to target instance")
            }
        }
    }
    // Refused AUTH or SELECT: no key was taken.
    let refused = first_error.is_some();
    let mut read_error = false;
    for (k, _, _) in &found {
        let Some(l) = replies.next() else {
            read_error = true;
            break;
        };
        if l.starts_with('-') {
            first_error.get_or_insert(l);
        } else if !refused && !o.copy {
            c.db().remove(k);
            c.notify(GENERIC, "del", k);
            c.shard.migrated.push(k.to_vec());
        }
    }
    match first_error {
        Some(e) => c.r.error(&format!(
            "ERR Target instance replied with error: {}",
            e.get(1..).unwrap_or_default()
        )),
        None if read_error => {
            c.r.error("IOERR error or timeout reading to target instance")
        }
        None => c.r.ok(),
    }
}

/// The target's reply lines, each within the timeout as a whole and at
/// most `MAX_LINE` bytes (Redis reads them into a 1 KB buffer): a target
/// that trickles bytes or never ends a line cannot hold the shard longer.
struct Lines {
    conn: TcpStream,
    timeout: Duration,
    buf: Vec<u8>,
}

const MAX_LINE: usize = 1024;

impl Lines {
    fn new(conn: TcpStream, timeout: Duration) -> Lines {
        Lines {
            conn,
            timeout,
            buf: Vec::new(),
        }
    }

    /// The next line without its CRLF; `None` on an error, a timeout, or
    /// a line too long.
    fn next(&mut self) -> Option<String> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                return Some(String::from_utf8_lossy(line).into_owned());
            }
            if self.buf.len() >= MAX_LINE {
                return None;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            self.conn.set_read_timeout(Some(left)).ok()?;
            let mut chunk = [0u8; 512];
            match self.conn.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(chunk.get(..n)?),
            }
        }
    }
}

/// A connection to `host:port` (each address it resolves to, in turn),
/// its connect and writes bounded by `timeout`.
fn connect(host: &[u8], port: &[u8], timeout: Duration) -> Option<TcpStream> {
    let host = std::str::from_utf8(host).ok()?;
    let port: u16 = std::str::from_utf8(port).ok()?.parse().ok()?;
    let s = (host, port)
        .to_socket_addrs()
        .ok()?
        .find_map(|addr| TcpStream::connect_timeout(&addr, timeout).ok())?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.set_nodelay(true).ok()?;
    Some(s)
}
