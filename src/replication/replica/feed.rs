//! The master connection inside this server: a socket pair whose one end
//! reactor 0 adopts as a client connection flagged `master`, and whose
//! other end the link thread writes the master's commands into.
//!
//! Going through a connection rather than calling into the shards gives
//! the master's commands everything a client's get (routing, MULTI/EXEC,
//! cross-shard transactions, WATCH signals, blocked-client wake-ups,
//! MONITOR) without a second path into the keyspace. The replies come
//! back on the same socket: a thread of its own reads them (so the pair
//! never fills up and stalls the reactor's sends), counts them (a
//! snapshot is loaded once every RESTORE is answered) and logs errors
//! (the master sent something this server refused).

use super::link::Link;
use super::Adopt;
use crate::server::Shared;
use crate::tx::{Batch, Msg};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Feed {
    sock: UnixStream,
    /// Commands written so far, and replies read back.
    sent: u64,
    answered: Arc<AtomicU64>,
    /// The reactor closed its end (CLIENT KILL, a protocol error...).
    closed: Arc<AtomicBool>,
}

/// The reactor that adopts master connections: any one would do, the
/// first always exists.
const REACTOR: usize = 0;

impl Feed {
    /// A new master connection on reactor 0 for `link`'s session.
    pub fn open(shared: &Shared, link: &Link) -> Result<Feed, String> {
        let err = |e: std::io::Error| format!("cannot create the master connection: {e}");
        let (ours, theirs) = UnixStream::pair().map_err(err)?;
        theirs.set_nonblocking(true).map_err(err)?;
        // Writes wake up now and then to notice a stop (the reactor may
        // be gone at shutdown, leaving the pair full).
        ours.set_write_timeout(Some(Duration::from_millis(200)))
            .map_err(err)?;
        let replies = ours.try_clone().map_err(err)?;
        let answered = Arc::new(AtomicU64::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let (a, c) = (answered.clone(), closed.clone());
        std::thread::Builder::new()
            .name("replica-replies".into())
            .spawn(move || read_replies(replies, a, c))
            .map_err(err)?;
        let mut msg = Some(Msg::AdoptMaster(Box::new(Adopt {
            fd: theirs.into_raw_fd(),
            session: link.session,
            addr: format!("{}:{}", link.host, link.port),
        })));
        let mb = &shared.mailboxes[REACTOR];
        // A full mailbox is backpressure: try again shortly.
        while let Some(m) = msg.take() {
            let mut batch = Batch {
                origin: REACTOR,
                ..Default::default()
            };
            batch.push(m);
            if let Err(mut b) = mb.push(batch) {
                msg = b.msgs.pop();
                if !link.active(shared) {
                    if let Some(Msg::AdoptMaster(a)) = msg {
                        // SAFETY: nobody else got this fd.
                        unsafe { libc::close(a.fd) };
                    }
                    return Err("stopped".into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        mb.ring();
        Ok(Feed {
            sock: ours,
            sent: 0,
            answered,
            closed,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Write `bytes` (`commands` whole commands) to the master connection.
    pub fn send(
        &mut self,
        bytes: &[u8],
        commands: u64,
        shared: &Shared,
        link: &Link,
    ) -> Result<(), String> {
        let mut off = 0;
        while off < bytes.len() {
            match self.sock.write(&bytes[off..]) {
                Ok(0) => return Err("the master connection is closed".into()),
                Ok(n) => off += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if !link.active(shared) {
                        return Err("stopped".into());
                    }
                    if self.is_closed() {
                        return Err("the master connection is closed".into());
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("writing to the master connection: {e}")),
            }
        }
        self.sent += commands;
        Ok(())
    }

    /// Wait until every command sent has been answered: they have all run.
    pub fn wait_answered(&self, shared: &Shared, link: &Link) -> Result<(), String> {
        let mut pause = Duration::from_micros(100);
        while self.answered.load(Ordering::Acquire) < self.sent {
            if self.is_closed() {
                return Err("the master connection is closed".into());
            }
            if !link.active(shared) {
                return Err("stopped".into());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Feed {
    /// The reactor reads EOF once it has run everything sent before, and
    /// closes the connection; the reply reader then ends too.
    fn drop(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }
}

fn read_replies(mut sock: UnixStream, answered: Arc<AtomicU64>, closed: Arc<AtomicBool>) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut limiter = ErrorLog::default();
    loop {
        let n = match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        let mut count = 0;
        while let Some(len) = reply_len(&buf[at..]) {
            if buf[at] == b'-' {
                let line = &buf[at + 1..at + len - 2];
                limiter.log(&String::from_utf8_lossy(&line[..line.len().min(200)]));
            }
            at += len;
            count += 1;
        }
        buf.drain(..at);
        answered.fetch_add(count, Ordering::Release);
    }
    closed.store(true, Ordering::Release);
}

/// At most one error line a second reaches the log (a master streaming
/// commands this server does not know would flood it), with a count of
/// those left out.
#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    skipped: u64,
}

impl ErrorLog {
    fn log(&mut self, err: &str) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.skipped += 1;
            return;
        }
        self.last = Some(now);
        let more = std::mem::take(&mut self.skipped);
        if more > 0 {
            log::warn!("a command from the master was refused: {err} ({more} more since the last such line)");
        } else {
            log::warn!("a command from the master was refused: {err}");
        }
    }
}

/// The length of the RESP2 reply at the start of `b`, if it is all there.
/// Replies are this server's own, so anything unexpected ends the reply at
/// its line (it is only counted).
pub fn reply_len(b: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    let mut pending = 1u64;
    while pending > 0 {
        let nl = pos + b.get(pos..)?.windows(2).position(|w| w == b"\r\n")?;
        let kind = b[pos];
        let n = crate::protocol::parse_i64(&b[pos + 1..nl]);
        pos = nl + 2;
        pending -= 1;
        match (kind, n) {
            (b'$', Some(n)) if n >= 0 => {
                pos = pos.checked_add(n as usize)?.checked_add(2)?;
                if pos > b.len() {
                    return None;
                }
            }
            (b'*', Some(n)) if n > 0 => pending += n as u64,
            _ => {}
        }
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::reply_len;

    #[test]
    fn reply_lengths() {
        assert_eq!(reply_len(b"+OK\r\n"), Some(5));
        assert_eq!(reply_len(b"+OK\r"), None);
        assert_eq!(reply_len(b"-ERR x\r\n+OK\r\n"), Some(8));
        assert_eq!(reply_len(b"$3\r\nabc\r\n"), Some(9));
        assert_eq!(reply_len(b"$3\r\nab"), None);
        assert_eq!(reply_len(b"$-1\r\n"), Some(5));
        assert_eq!(reply_len(b"*2\r\n:1\r\n$1\r\nx\r\n"), Some(15));
        assert_eq!(reply_len(b"*2\r\n:1\r\n"), None);
        assert_eq!(reply_len(b"*1\r\n*0\r\n"), Some(8));
        assert_eq!(reply_len(b"*-1\r\n"), Some(5));
        assert_eq!(reply_len(b"*2\r\n*1\r\n+a\r\n-b\r\n"), Some(16));
        assert_eq!(reply_len(b"$99999999999999999999\r\n"), Some(23));
        assert_eq!(reply_len(b""), None);
    }
}
