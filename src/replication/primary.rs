//! This server as a master: the one ordered stream of writes every
//! attached replica receives after its snapshot.
//!
//! Shards run writes concurrently, but a replica needs one sequence. Each
//! write is appended here by the reactor that ran it, while it still owns
//! the keys it wrote (a single-shard command on its shard; a transaction
//! while it holds every lock it took), so two writes to one key enter the
//! stream in the order they ran, and a multi-shard write enters it at a
//! point where none of its keys can change. The append takes a mutex, but
//! only while a replica is attached: otherwise writers pay one relaxed
//! load (`active`).
//!
//! Bytes for a replica wait in its buffer here until the reactor owning
//! its connection moves them to the socket (`take`), woken by a message
//! when the buffer goes from empty to non-empty.

use crate::tx::Token;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A replica further behind than this is dropped, as Redis's
/// `client-output-buffer-limit replica 256mb` does.
const MAX_BACKLOG: usize = 256 << 20;

pub struct Primary {
    active: AtomicBool,
    /// Snapshots in progress: transactions starting now must carry their
    /// commands, since they may complete after the replica attaches.
    syncing: AtomicUsize,
    log: Mutex<Log>,
}

/// A write to propagate: the database it ran in and its arguments.
pub type Propagated = (usize, Vec<Vec<u8>>);

struct Log {
    replid: String,
    offset: u64,
    /// The database the stream last selected (None: the next write
    /// selects, as after a replica attaches).
    db: Option<usize>,
    replicas: Vec<Replica>,
    /// Reused for encoding: a write allocates nothing here once warm.
    scratch: Vec<u8>,
}

pub struct Replica {
    pub reactor: usize,
    pub conn: Token,
    pub id: u64,
    pub ip: String,
    pub listening_port: u16,
    /// Offset the replica last acknowledged (REPLCONF ACK).
    pub ack: u64,
    pub ack_ms: u64,
    out: Vec<u8>,
    /// To be disconnected (it must resynchronize).
    dropped: bool,
}

/// What INFO replication shows for one replica.
pub struct ReplicaInfo {
    pub ip: String,
    pub port: u16,
    pub offset: u64,
    pub lag_s: u64,
}

impl Default for Primary {
    fn default() -> Primary {
        let replid = (0..40)
            .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
            .collect();
        Primary {
            active: AtomicBool::new(false),
            syncing: AtomicUsize::new(0),
            log: Mutex::new(Log {
                replid,
                offset: 0,
                db: None,
                replicas: Vec::new(),
                scratch: Vec::new(),
            }),
        }
    }
}

impl Primary {
    /// Is any replica attached? (One relaxed load: the writers' check.)
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Must a transaction starting now record its commands? (A replica
    /// is attached, or is being snapshotted and may attach before it ends.)
    #[inline]
    pub fn recording(&self) -> bool {
        self.active() || self.syncing.load(Ordering::Relaxed) > 0
    }

    /// A snapshot starts (`attach` or `sync_abandoned` ends it).
    pub fn sync_started(&self) {
        self.syncing.fetch_add(1, Ordering::Relaxed);
    }

    fn sync_ended(&self) {
        let _ = self
            .syncing
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Drop every replica (each resynchronizes from scratch): a write
    /// reached none of their streams. Returns the reactors to wake.
    pub fn drop_all(&self) -> Vec<usize> {
        let mut log = self.log();
        let mut wake = Vec::new();
        for r in &mut log.replicas {
            r.dropped = true;
            if !wake.contains(&r.reactor) {
                wake.push(r.reactor);
            }
        }
        wake
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // A panic while holding it aborts the process (server::abort_on_panic),
        // so a poisoned lock never outlives one.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A replica's snapshot is taken (every shard locked): from here on it
    /// receives every write. Returns (replication id, offset) for
    /// +FULLRESYNC.
    pub fn attach(
        &self,
        reactor: usize,
        conn: Token,
        id: u64,
        ip: String,
        listening_port: u16,
    ) -> (String, u64) {
        let mut log = self.log();
        self.sync_ended();
        log.db = None;
        log.replicas.push(Replica {
            reactor,
            conn,
            id,
            ip,
            listening_port,
            ack: 0,
            // Online from now, as Redis counts a new replica's lag.
            ack_ms: crate::server::now_ms(),
            out: Vec::new(),
            dropped: false,
        });
        self.active.store(true, Ordering::Relaxed);
        (log.replid.clone(), log.offset)
    }

    /// The replica's connection is gone.
    pub fn detach(&self, reactor: usize, conn: Token) {
        let mut log = self.log();
        log.replicas
            .retain(|r| !(r.reactor == reactor && r.conn == conn));
        if log.replicas.is_empty() {
            self.active.store(false, Ordering::Relaxed);
        }
    }

    /// REPLCONF ACK from the attached replica with client id `id`.
    pub fn ack(&self, reactor: usize, id: u64, offset: u64, now_ms: u64) {
        let mut log = self.log();
        if let Some(r) = log
            .replicas
            .iter_mut()
            .find(|r| r.reactor == reactor && r.id == id)
        {
            r.ack = offset;
            r.ack_ms = now_ms;
        }
    }

    /// Append writes that ran as one atomic step (`wrap`: more than one,
    /// so MULTI/EXEC around them). Returns the reactors whose replicas'
    /// buffers were empty before: they must be told to send.
    pub fn append(&self, cmds: &[Propagated], wrap: bool) -> Vec<usize> {
        if cmds.is_empty() {
            return Vec::new();
        }
        let mut log = self.log();
        if log.replicas.is_empty() {
            return Vec::new();
        }
        let mut bytes = std::mem::take(&mut log.scratch);
        bytes.clear();
        let mut db = log.db;
        let mut select = |bytes: &mut Vec<u8>, want: usize| {
            if db != Some(want) {
                encode(bytes, &[b"SELECT", want.to_string().as_bytes()]);
                db = Some(want);
            }
        };
        if wrap {
            select(&mut bytes, cmds[0].0);
            encode(&mut bytes, &[b"MULTI"]);
        }
        for (d, args) in cmds {
            select(&mut bytes, *d);
            let parts: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            encode(&mut bytes, &parts);
        }
        if wrap {
            encode(&mut bytes, &[b"EXEC"]);
        }
        log.db = db;
        let wake = self.push(&mut log, &bytes);
        log.scratch = bytes;
        wake
    }

    /// One command, already encoded, run in database `db` (the common
    /// case: a single-shard write replicated as it was called).
    pub fn append_encoded(&self, db: usize, cmd: &[u8]) -> Vec<usize> {
        let mut log = self.log();
        if log.replicas.is_empty() {
            return Vec::new();
        }
        if log.db != Some(db) {
            let mut bytes = std::mem::take(&mut log.scratch);
            bytes.clear();
            encode(&mut bytes, &[b"SELECT", db.to_string().as_bytes()]);
            bytes.extend_from_slice(cmd);
            log.db = Some(db);
            let wake = self.push(&mut log, &bytes);
            log.scratch = bytes;
            return wake;
        }
        self.push(&mut log, cmd)
    }

    /// Bytes that select no database (the keep-alive PING).
    pub fn append_raw(&self, args: &[&[u8]]) -> Vec<usize> {
        let mut log = self.log();
        if log.replicas.is_empty() {
            return Vec::new();
        }
        let mut bytes = Vec::new();
        encode(&mut bytes, args);
        self.push(&mut log, &bytes)
    }

    fn push(&self, log: &mut Log, bytes: &[u8]) -> Vec<usize> {
        log.offset += bytes.len() as u64;
        let mut wake = Vec::new();
        for r in &mut log.replicas {
            if r.out.len() > MAX_BACKLOG {
                // Left for its reactor to drop (`take` hands it back empty
                // and flagged): a replica that cannot keep up resyncs.
                continue;
            }
            if r.out.is_empty() && !wake.contains(&r.reactor) {
                wake.push(r.reactor);
            }
            r.out.extend_from_slice(bytes);
        }
        wake
    }

    /// The stream bytes waiting for this reactor's replicas, as (conn,
    /// bytes, over the limit).
    pub fn take(&self, reactor: usize) -> Vec<(Token, Vec<u8>, bool)> {
        let mut log = self.log();
        log.replicas
            .iter_mut()
            .filter(|r| r.reactor == reactor && (!r.out.is_empty() || r.dropped))
            .map(|r| {
                let over = r.out.len() > MAX_BACKLOG || r.dropped;
                // The next turn's stream is about as long: start with the
                // room this one needed instead of growing from nothing.
                let room = r.out.capacity().min(1 << 20);
                (
                    r.conn,
                    std::mem::replace(&mut r.out, Vec::with_capacity(room)),
                    over,
                )
            })
            .collect()
    }

    /// INFO replication: replication id, offset, and each replica.
    pub fn info(&self, now_ms: u64) -> (String, u64, Vec<ReplicaInfo>) {
        let log = self.log();
        let replicas = log
            .replicas
            .iter()
            .map(|r| ReplicaInfo {
                ip: r.ip.clone(),
                port: r.listening_port,
                offset: r.ack,
                lag_s: if r.ack_ms == 0 {
                    0
                } else {
                    now_ms.saturating_sub(r.ack_ms) / 1000
                },
            })
            .collect();
        (log.replid.clone(), log.offset, replicas)
    }

    /// The stream's offset: bytes appended since this server started.
    pub fn offset(&self) -> u64 {
        self.log().offset
    }

    /// How many replicas acknowledged `offset` of the stream (WAIT).
    pub fn acked(&self, offset: u64) -> usize {
        self.log()
            .replicas
            .iter()
            .filter(|r| r.ack >= offset)
            .count()
    }

    /// The stream's offset now, after asking every replica to acknowledge
    /// it (REPLCONF GETACK in the stream, as Redis's WAIT does). Returns
    /// the offset and the reactors to wake.
    pub fn offset_with_getack(&self) -> (u64, Vec<usize>) {
        let mut log = self.log();
        let offset = log.offset;
        if log.replicas.is_empty() {
            return (offset, Vec::new());
        }
        let mut bytes = Vec::new();
        encode(&mut bytes, &[b"REPLCONF", b"GETACK", b"*"]);
        (offset, self.push(&mut log, &bytes))
    }

    /// Replicas whose last ACK is at most `max_lag_s` old
    /// (min-replicas-to-write's "good" replicas).
    pub fn good_replicas(&self, now_ms: u64, max_lag_s: u64) -> usize {
        self.log()
            .replicas
            .iter()
            .filter(|r| now_ms.saturating_sub(r.ack_ms) / 1000 <= max_lag_s)
            .count()
    }
}

/// A command as RESP, the way replicas read the stream.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    encode_iter(out, args.len(), args.iter().copied());
}

/// `encode` for a command's arguments as they arrived (no copies).
pub fn encode_args(out: &mut Vec<u8>, a: crate::protocol::Args) {
    encode_iter(out, a.len(), a.iter());
}

fn encode_iter<'x>(out: &mut Vec<u8>, n: usize, args: impl Iterator<Item = &'x [u8]>) {
    use crate::protocol::reply::push_int;
    out.push(b'*');
    push_int(out, n as i64);
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        push_int(out, a.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(db: usize, args: &[&str]) -> Propagated {
        (db, args.iter().map(|a| a.as_bytes().to_vec()).collect())
    }

    #[test]
    fn selects_only_when_the_database_changes_and_wraps_transactions() {
        let p = Primary::default();
        assert!(p.append(&[cmd(0, &["set", "a", "1"])], false).is_empty());
        p.attach(1, 7, 1, "127.0.0.1".into(), 6380);
        assert!(p.active());
        assert_eq!(p.append(&[cmd(9, &["set", "a", "1"])], false), vec![1]);
        // Not empty any more: no second wake.
        assert!(p
            .append(&[cmd(9, &["incr", "b"]), cmd(3, &["del", "c"])], true)
            .is_empty());
        let got = p.take(1);
        assert_eq!(got.len(), 1);
        let text = String::from_utf8(got[0].1.clone()).unwrap();
        assert_eq!(
            text,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n9\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n\
             *1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nincr\r\n$1\r\nb\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$3\r\ndel\r\n$1\r\nc\r\n*1\r\n$4\r\nEXEC\r\n"
        );
        let (_, offset, _) = p.info(0);
        assert_eq!(offset, text.len() as u64);
        p.detach(1, 7);
        assert!(!p.active());
    }
}
