//! The link to the master: one thread per REPLICAOF session, with blocking
//! socket I/O and timeouts. Not a reactor's job: it is a single
//! connection whose work comes in bulk (a snapshot of any size to read and
//! decode, then a stream to cut into commands), and a reactor that did it
//! would stall its shard and every client of it for as long as a load
//! takes. The thread only talks to the master and writes commands into
//! the master connection (`feed`); the reactors apply them.
//!
//! One attempt (`attempt`) is Redis 7.0's replica handshake: PING, AUTH
//! (masterauth, masteruser), REPLCONF listening-port and capa psync2 (not
//! capa eof: the master then sends a snapshot of announced size), PSYNC
//! with the history followed so far (or `? -1`). +FULLRESYNC brings a
//! snapshot: `$<len>\r\n` (newlines before it are keepalives) and the RDB,
//! loaded as FLUSHALL then RESTOREs. +CONTINUE resumes the stream where
//! the last attempt left it. Then the stream: every command but REPLCONF
//! goes to the master connection; REPLCONF GETACK is answered with
//! REPLCONF ACK <offset>, which is also sent every second. A failed
//! attempt is retried a second later until the session ends.

use super::feed::Feed;
use super::LinkState;
use crate::protocol::parser::Parsed;
use crate::protocol::Parser;
use crate::rdb::FileReader;
use crate::replication::primary::encode;
use crate::server::{now_ms, Shared};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a blocked read wakes up to send the periodic ACK and to
/// notice the end of the session.
const POLL: Duration = Duration::from_millis(100);
/// Between two attempts (Redis's replicationCron runs once a second).
const RETRY: Duration = Duration::from_secs(1);
/// Commands written to the master connection in one go while loading.
const LOAD_CHUNK: usize = 256 * 1024;

/// One REPLICAOF session's link.
pub struct Link {
    pub session: u64,
    pub host: String,
    pub port: u16,
    stop: AtomicBool,
    /// A clone of the connection to the master, so `stop` can interrupt
    /// a blocked read.
    sock: Mutex<Option<TcpStream>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    state: AtomicU8,
    pub last_io_ms: AtomicU64,
    /// When the link last went down after being up; 0 if it never was.
    pub down_since_ms: AtomicU64,
    pub read_offset: AtomicI64,
    pub offset: AtomicI64,
    pub transfer_size: AtomicI64,
    pub transfer_read: AtomicI64,
    replid: Mutex<String>,
}

impl Link {
    pub fn new(session: u64, host: &str, port: u16) -> Link {
        Link {
            session,
            host: host.to_string(),
            port,
            stop: AtomicBool::new(false),
            sock: Mutex::new(None),
            thread: Mutex::new(None),
            state: AtomicU8::new(LinkState::Connect as u8),
            last_io_ms: AtomicU64::new(0),
            down_since_ms: AtomicU64::new(0),
            read_offset: AtomicI64::new(0),
            offset: AtomicI64::new(0),
            transfer_size: AtomicI64::new(0),
            transfer_read: AtomicI64::new(0),
            replid: Mutex::new(String::new()),
        }
    }

    pub fn active(&self, shared: &Shared) -> bool {
        !self.stop.load(Ordering::Acquire) && !shared.stop.load(Ordering::Relaxed)
    }

    /// End the session: the thread notices at its next wake-up, at once if
    /// it is blocked reading from the master.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(s) = self.sock.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn set_thread(&self, h: JoinHandle<()>) {
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
    }

    /// Wait for the thread to end, up to `limit`.
    pub fn join_for(&self, limit: Duration) {
        let h = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(h) = h else { return };
        let deadline = Instant::now() + limit;
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }

    pub fn state(&self) -> LinkState {
        match self.state.load(Ordering::Relaxed) {
            1 => LinkState::Connecting,
            2 => LinkState::Handshake,
            3 => LinkState::Sync,
            4 => LinkState::Connected,
            _ => LinkState::Connect,
        }
    }

    fn set_state(&self, s: LinkState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub fn replid(&self) -> String {
        self.replid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_replid(&self, id: &str) {
        *self.replid.lock().unwrap_or_else(|e| e.into_inner()) = id.to_string();
    }

    fn touch(&self) {
        self.last_io_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// What survives from one attempt to the next within a session.
struct Session {
    /// The master connection inside this server; kept across attempts so
    /// that a +CONTINUE resumes in the state (database, open MULTI) the
    /// stream left it in.
    feed: Option<Feed>,
    /// The history followed and the offset applied, for PSYNC.
    psync: Option<(String, i64)>,
    /// The last failure logged: the same one again, every second while a
    /// master is unreachable, goes to the debug level.
    last_error: String,
}

pub fn run(shared: Arc<Shared>, link: Arc<Link>) {
    log::info!("Connecting to MASTER {}:{}", link.host, link.port);
    let mut s = Session {
        feed: None,
        psync: None,
        last_error: String::new(),
    };
    while link.active(&shared) {
        let res = attempt(&shared, &link, &mut s);
        let r = &shared.repl.replica;
        r.if_current(&link, |r| {
            if r.link_up.swap(false, Ordering::Relaxed) {
                link.down_since_ms.store(now_ms(), Ordering::Relaxed);
            }
            r.loading.store(false, Ordering::Relaxed);
        });
        link.set_state(LinkState::Connect);
        *link.sock.lock().unwrap_or_else(|e| e.into_inner()) = None;
        match res {
            Ok(()) => {}
            Err(e) if !link.active(&shared) => log::debug!("replication link stopped: {e}"),
            Err(e) if e == s.last_error => log::debug!("MASTER {}:{}: {e}", link.host, link.port),
            Err(e) => {
                log::warn!("MASTER {}:{}: {e}", link.host, link.port);
                s.last_error = e;
            }
        }
        let until = Instant::now() + RETRY;
        while link.active(&shared) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Dropping the feed closes the master connection on reactor 0.
    drop(s.feed.take());
    log::debug!("replication link to {}:{} ended", link.host, link.port);
}

/// The master's answer to PSYNC.
enum Psync {
    Full { replid: String, offset: i64 },
    Continue { replid: Option<String> },
}

fn attempt(shared: &Shared, link: &Link, s: &mut Session) -> Result<(), String> {
    let (timeout, port, auth, user, max_bulk) = {
        let c = shared.config();
        let get = |k: &str| c.passive.get(k).cloned().unwrap_or_default();
        (
            Duration::from_secs(c.int("repl-timeout", 60).max(1) as u64),
            c.port,
            get("masterauth"),
            get("masteruser"),
            c.proto_max_bulk_len,
        )
    };
    link.set_state(LinkState::Connecting);
    let stream = connect(&link.host, link.port, timeout)?;
    let clone = stream
        .try_clone()
        .map_err(|e| format!("socket clone: {e}"))?;
    *link.sock.lock().unwrap_or_else(|e| e.into_inner()) = Some(clone);
    if !link.active(shared) {
        return Ok(());
    }
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(POLL))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("socket options: {e}"))?;
    let mut io = MasterIo {
        stream,
        buf: Vec::with_capacity(64 * 1024),
        start: 0,
        timeout,
    };
    link.set_state(LinkState::Handshake);
    log::info!("MASTER <-> REPLICA sync started");
    io.command(&[b"PING"])?;
    let pong = io.line(shared, link)?;
    // Without AUTH yet, these errors are expected: AUTH comes next.
    if pong.starts_with('-')
        && !["-NOAUTH", "-NOPERM", "-ERR operation not permitted"]
            .iter()
            .any(|p| pong.starts_with(p))
    {
        return Err(format!("error reply to PING from master: '{pong}'"));
    }
    if !auth.is_empty() {
        if user.is_empty() {
            io.command(&[b"AUTH", auth.as_bytes()])?;
        } else {
            io.command(&[b"AUTH", user.as_bytes(), auth.as_bytes()])?;
        }
        let r = io.line(shared, link)?;
        if r.starts_with('-') {
            return Err(format!("unable to AUTH to MASTER: {r}"));
        }
    }
    let port = port.to_string();
    io.command(&[b"REPLCONF", b"listening-port", port.as_bytes()])?;
    let r = io.line(shared, link)?;
    if r.starts_with('-') {
        log::info!("(Non critical) Master does not understand REPLCONF listening-port: {r}");
    }
    io.command(&[b"REPLCONF", b"capa", b"psync2"])?;
    let r = io.line(shared, link)?;
    if r.starts_with('-') {
        log::info!("(Non critical) Master does not understand REPLCONF capa: {r}");
    }
    // A resumed stream needs the master connection it was applied to.
    if s.feed.as_ref().is_none_or(|f| f.is_closed()) {
        s.feed = None;
        s.psync = None;
    }
    let (id, next) = match &s.psync {
        Some((id, off)) => (id.clone(), (off + 1).to_string()),
        None => ("?".to_string(), "-1".to_string()),
    };
    io.command(&[b"PSYNC", id.as_bytes(), next.as_bytes()])?;
    let reply = loop {
        // The master may send newlines to keep us waiting.
        let r = io.line(shared, link)?;
        if !r.is_empty() {
            break r;
        }
    };
    let psync = parse_psync(&reply)?;
    match psync {
        Psync::Full { replid, offset } => {
            log::info!("Full resync from master: {replid}:{offset}");
            // The data is about to be replaced: the old history cannot be
            // resumed any more, even if this sync fails.
            s.psync = None;
            link.set_state(LinkState::Sync);
            let rdb = io.read_snapshot(shared, link)?;
            log::info!(
                "MASTER <-> REPLICA sync: Loading DB in memory ({} bytes)",
                rdb.len()
            );
            shared
                .repl
                .replica
                .if_current(link, |r| r.loading.store(true, Ordering::Relaxed));
            let loaded = load(shared, link, s, &rdb);
            shared
                .repl
                .replica
                .if_current(link, |r| r.loading.store(false, Ordering::Relaxed));
            drop(rdb);
            loaded?;
            link.set_replid(&replid);
            link.offset.store(offset, Ordering::Relaxed);
            link.read_offset.store(offset, Ordering::Relaxed);
            s.psync = Some((replid, offset));
            log::info!("MASTER <-> REPLICA sync: Finished with success");
        }
        Psync::Continue { replid } => {
            let Some((id, off)) = s.psync.as_mut() else {
                return Err("+CONTINUE to a full resynchronization request".into());
            };
            if let Some(new) = replid {
                if new != *id {
                    log::info!("Master replication ID changed to {new}");
                    *id = new;
                }
            }
            link.set_replid(id);
            link.offset.store(*off, Ordering::Relaxed);
            link.read_offset.store(*off, Ordering::Relaxed);
            log::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        }
    }
    apply_stream(shared, link, s, &mut io, max_bulk)
}

fn parse_psync(reply: &str) -> Result<Psync, String> {
    let mut w = reply.split_whitespace();
    match w.next() {
        Some("+FULLRESYNC") => {
            let replid = w.next().unwrap_or_default();
            let offset = w.next().and_then(|o| o.parse::<i64>().ok());
            match offset {
                Some(offset) if replid.len() == 40 => Ok(Psync::Full {
                    replid: replid.to_string(),
                    offset,
                }),
                _ => Err(format!("unexpected reply to PSYNC: '{reply}'")),
            }
        }
        Some("+CONTINUE") => Ok(Psync::Continue {
            replid: w.next().filter(|id| id.len() == 40).map(str::to_string),
        }),
        _ if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") => Err(format!(
            "master is currently unable to PSYNC but should be in the future: {reply}"
        )),
        _ => Err(format!("unexpected reply to PSYNC from master: '{reply}'")),
    }
}

fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("Unable to connect to MASTER: {e}"))?;
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout.min(Duration::from_secs(10))) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("Error condition on socket for SYNC: {last}"))
}

/// The connection to the master, with what was read and not used yet.
struct MasterIo {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    /// repl-timeout: the longest the master may stay silent.
    timeout: Duration,
}

enum Fill {
    Data(usize),
    /// Nothing within `POLL`.
    Idle,
}

impl MasterIo {
    fn command(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut out = Vec::new();
        encode(&mut out, args);
        self.stream
            .write_all(&out)
            .map_err(|e| format!("writing to MASTER: {e}"))
    }

    /// Read more from the master into `buf`.
    fn fill(&mut self) -> Result<Fill, String> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + 64 * 1024, 0);
        let res = self.stream.read(&mut self.buf[len..]);
        match res {
            Ok(n) => {
                self.buf.truncate(len + n);
                if n == 0 {
                    return Err("connection lost: the master closed it".into());
                }
                Ok(Fill::Data(n))
            }
            Err(e) => {
                self.buf.truncate(len);
                match e.kind() {
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted => {
                        Ok(Fill::Idle)
                    }
                    _ => Err(format!("reading from MASTER: {e}")),
                }
            }
        }
    }

    /// One reply line (without its newline), waiting up to repl-timeout.
    fn line(&mut self, shared: &Shared, link: &Link) -> Result<String, String> {
        let mut quiet_since = Instant::now();
        loop {
            if let Some(p) = self.buf[self.start..].iter().position(|&b| b == b'\n') {
                let mut l = &self.buf[self.start..self.start + p];
                if l.last() == Some(&b'\r') {
                    l = &l[..l.len() - 1];
                }
                let s = String::from_utf8_lossy(l).into_owned();
                self.start += p + 1;
                link.touch();
                return Ok(s);
            }
            if self.buf.len() - self.start > 64 * 1024 {
                return Err("reply line from MASTER too long".into());
            }
            if !link.active(shared) {
                return Err("stopped".into());
            }
            match self.fill()? {
                Fill::Data(_) => quiet_since = Instant::now(),
                Fill::Idle if quiet_since.elapsed() > self.timeout => {
                    return Err("timeout waiting for a reply from MASTER".into())
                }
                Fill::Idle => {}
            }
        }
    }

    /// The snapshot after +FULLRESYNC: `$<len>\r\n` and that many bytes.
    fn read_snapshot(&mut self, shared: &Shared, link: &Link) -> Result<Vec<u8>, String> {
        link.transfer_size.store(-1, Ordering::Relaxed);
        link.transfer_read.store(0, Ordering::Relaxed);
        let header = loop {
            let l = self.line(shared, link)?;
            if !l.is_empty() {
                break l;
            }
        };
        if header.starts_with('-') {
            return Err(format!(
                "MASTER aborted replication with an error: {header}"
            ));
        }
        if header.starts_with("$EOF:") {
            return Err("the master sent a diskless snapshot, which was not asked for".into());
        }
        let len = header
            .strip_prefix('$')
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                format!("bad protocol from MASTER, the first byte is not '$': '{header}'")
            })?;
        let len = usize::try_from(len).map_err(|_| "snapshot too large".to_string())?;
        log::info!("MASTER <-> REPLICA sync: receiving {len} bytes from master to memory");
        link.transfer_size.store(len as i64, Ordering::Relaxed);
        // The announced size is not trusted for the allocation.
        let mut rdb = Vec::with_capacity(len.min(64 << 20));
        let mut quiet_since = Instant::now();
        loop {
            let take = (len - rdb.len()).min(self.buf.len() - self.start);
            rdb.extend_from_slice(&self.buf[self.start..self.start + take]);
            self.start += take;
            link.transfer_read
                .store(rdb.len() as i64, Ordering::Relaxed);
            if rdb.len() == len {
                return Ok(rdb);
            }
            if !link.active(shared) {
                return Err("stopped".into());
            }
            match self.fill()? {
                Fill::Data(_) => {
                    quiet_since = Instant::now();
                    link.touch();
                }
                Fill::Idle if quiet_since.elapsed() > self.timeout => {
                    return Err("timeout receiving the snapshot from MASTER".into())
                }
                Fill::Idle => {}
            }
        }
    }
}

/// Replace this server's data with the snapshot's: FLUSHALL, then per
/// database SELECT and a RESTORE ... ABSTTL REPLACE per key, through the
/// master connection, waiting until all have run. A key whose TTL has
/// already passed is not created (RESTORE's rule): a Redis replica would
/// hold it, unreadable, until its master's DEL.
///
/// A snapshot that cannot be loaded (a stream, a module type, corrupt
/// data) leaves no data at all, as in Redis, rather than part of it: the
/// next attempt starts from scratch.
fn load(shared: &Shared, link: &Link, s: &mut Session, rdb: &[u8]) -> Result<(), String> {
    if s.feed.as_ref().is_none_or(|f| f.is_closed()) {
        s.feed = Some(Feed::open(shared, link)?);
    }
    let Some(feed) = s.feed.as_mut() else {
        return Err("no master connection".into());
    };
    let res = load_into(shared, link, feed, rdb);
    if res.is_err() && link.active(shared) && !feed.is_closed() {
        let mut out = Vec::new();
        encode(&mut out, &[b"FLUSHALL"]);
        if feed.send(&out, 1, shared, link).is_ok() {
            let _ = feed.wait_answered(shared, link);
        }
    }
    res
}

fn load_into(shared: &Shared, link: &Link, feed: &mut Feed, rdb: &[u8]) -> Result<(), String> {
    let mut reader = FileReader::new(rdb).map_err(|e| format!("cannot load the snapshot: {e}"))?;
    let databases = shared.config().databases;
    let mut out = Vec::with_capacity(LOAD_CHUNK + 4096);
    let mut n = 0u64;
    encode(&mut out, &[b"FLUSHALL"]);
    encode(&mut out, &[b"SELECT", b"0"]);
    n += 2;
    let (mut db, mut keys) = (0usize, 0u64);
    loop {
        let e = match reader.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => return Err(format!("cannot load the snapshot: {e}")),
        };
        if e.db >= databases {
            return Err(format!(
                "cannot load the snapshot: it has keys in database {} and this server has {databases} databases",
                e.db
            ));
        }
        if e.db != db {
            db = e.db;
            encode(&mut out, &[b"SELECT", db.to_string().as_bytes()]);
            n += 1;
        }
        let payload = crate::rdb::dump(&e.value);
        drop(e.value);
        let ttl = e.expire_at.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", &e.key, ttl.as_bytes(), &payload];
        if e.expire_at != 0 {
            args.push(b"ABSTTL");
        }
        args.push(b"REPLACE");
        let meta;
        if let Some(idle) = e.idle {
            meta = idle.to_string();
            args.extend_from_slice(&[b"IDLETIME", meta.as_bytes()]);
        } else if let Some(freq) = e.freq {
            meta = freq.to_string();
            args.extend_from_slice(&[b"FREQ", meta.as_bytes()]);
        }
        encode(&mut out, &args);
        n += 1;
        keys += 1;
        if out.len() >= LOAD_CHUNK {
            feed.send(&out, n, shared, link)?;
            out.clear();
            n = 0;
        }
    }
    // The master's function libraries replace this server's.
    encode(&mut out, &[b"FUNCTION", b"FLUSH"]);
    n += 1;
    for code in &reader.functions {
        encode(&mut out, &[b"FUNCTION", b"LOAD", b"REPLACE", code]);
        n += 1;
    }
    // The master's stream starts in database 0 unless it says otherwise.
    encode(&mut out, &[b"SELECT", b"0"]);
    n += 1;
    feed.send(&out, n, shared, link)?;
    feed.wait_answered(shared, link)?;
    log::info!("MASTER <-> REPLICA sync: {keys} keys loaded");
    Ok(())
}

/// Apply the master's stream until the link fails or the session ends.
fn apply_stream(
    shared: &Shared,
    link: &Link,
    s: &mut Session,
    io: &mut MasterIo,
    max_bulk: usize,
) -> Result<(), String> {
    let Some(feed) = s.feed.as_mut() else {
        return Err("no master connection".into());
    };
    link.set_state(LinkState::Connected);
    link.touch();
    shared
        .repl
        .replica
        .if_current(link, |r| r.link_up.store(true, Ordering::Release));
    let replid = link.replid();
    let mut applied = link.offset.load(Ordering::Relaxed);
    let mut read = applied + (io.buf.len() - io.start) as i64;
    link.read_offset.store(read, Ordering::Relaxed);
    let mut parser = Parser::new(max_bulk);
    // Bytes of an open MULTI: they count once its EXEC is applied, so a
    // resumed stream starts again at the MULTI (as Redis's reploff does).
    let (mut in_multi, mut pending) = (false, 0i64);
    let mut out = Vec::new();
    let mut out_n = 0u64;
    // An ACK at once puts this replica online on the master.
    let mut last_ack = Instant::now() - Duration::from_secs(1);
    let mut quiet_since = Instant::now();
    let res = 'link: loop {
        loop {
            let data = &io.buf[io.start..];
            if data.is_empty() {
                break;
            }
            let consumed = match parser.parse(data) {
                Parsed::Command { consumed } => consumed,
                Parsed::Incomplete { .. } => break,
                Parsed::Error(e) => break 'link Err(format!("protocol error from MASTER: {e}")),
            };
            let args = parser.args(data);
            let name = if args.is_empty() {
                &b""[..]
            } else {
                args.get(0)
            };
            if name.eq_ignore_ascii_case(b"replconf") {
                if args.len() >= 2 && args.get(1).eq_ignore_ascii_case(b"getack") {
                    // The offset before this command, as Redis answers;
                    // what came before goes into the master connection
                    // first.
                    let ack = ack_command(applied);
                    if !out.is_empty() {
                        if let Err(e) = feed.send(&out, out_n, shared, link) {
                            break 'link Err(e);
                        }
                        out.clear();
                        out_n = 0;
                    }
                    if let Err(e) = io.stream.write_all(&ack) {
                        break 'link Err(format!("writing to MASTER: {e}"));
                    }
                    last_ack = Instant::now();
                }
            } else if !args.is_empty() {
                out.extend_from_slice(&data[..consumed]);
                out_n += 1;
            }
            io.start += consumed;
            let consumed = consumed as i64;
            if name.eq_ignore_ascii_case(b"multi") {
                in_multi = true;
            }
            if !in_multi {
                applied += consumed;
            } else if name.eq_ignore_ascii_case(b"exec") || name.eq_ignore_ascii_case(b"discard") {
                applied += pending + consumed;
                (in_multi, pending) = (false, 0);
            } else {
                pending += consumed;
            }
        }
        if !out.is_empty() {
            if let Err(e) = feed.send(&out, out_n, shared, link) {
                break Err(e);
            }
            out.clear();
            out_n = 0;
        }
        link.offset.store(applied, Ordering::Relaxed);
        if feed.is_closed() {
            break Err("the master connection on this server was closed".into());
        }
        if !link.active(shared) {
            break Ok(());
        }
        if last_ack.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = io.stream.write_all(&ack_command(applied)) {
                break Err(format!("writing to MASTER: {e}"));
            }
            last_ack = Instant::now();
        }
        match io.fill() {
            Ok(Fill::Data(n)) => {
                read += n as i64;
                link.read_offset.store(read, Ordering::Relaxed);
                link.touch();
                quiet_since = Instant::now();
            }
            Ok(Fill::Idle) if quiet_since.elapsed() > io.timeout => {
                break Err("MASTER timeout: no data nor PING received".into());
            }
            Ok(Fill::Idle) => {}
            Err(e) => break Err(e),
        }
    };
    // Resume at the last applied command: what was read past it is read
    // again, and a MULTI left open is discarded (its commands come again).
    // Commands counted as applied must have reached the master connection,
    // or the history cannot be resumed.
    link.read_offset.store(applied, Ordering::Relaxed);
    link.offset.store(applied, Ordering::Relaxed);
    if in_multi {
        encode(&mut out, &[b"DISCARD"]);
        out_n += 1;
    }
    let flushed = out.is_empty() || feed.send(&out, out_n, shared, link).is_ok();
    if flushed && !feed.is_closed() {
        s.psync = Some((replid, applied));
    } else {
        s.feed = None;
        s.psync = None;
    }
    res
}

fn ack_command(offset: i64) -> Vec<u8> {
    let mut out = Vec::new();
    encode(
        &mut out,
        &[b"REPLCONF", b"ACK", offset.to_string().as_bytes()],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psync_replies() {
        let id = "a".repeat(40);
        match parse_psync(&format!("+FULLRESYNC {id} 1234")) {
            Ok(Psync::Full { replid, offset }) => assert_eq!((replid, offset), (id.clone(), 1234)),
            _ => panic!("full resync"),
        }
        assert!(matches!(
            parse_psync("+CONTINUE"),
            Ok(Psync::Continue { replid: None })
        ));
        assert!(matches!(
            parse_psync(&format!("+CONTINUE {id}")),
            Ok(Psync::Continue { replid: Some(_) })
        ));
        assert!(parse_psync("+FULLRESYNC short 1").is_err());
        assert!(
            parse_psync("-NOMASTERLINK Can't SYNC while not connected with my master").is_err()
        );
        assert!(parse_psync("-ERR unknown command").is_err());
    }

    #[test]
    fn ack_is_a_replconf_command() {
        assert_eq!(
            ack_command(42),
            b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$2\r\n42\r\n".to_vec()
        );
    }
}
