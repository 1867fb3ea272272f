//! Cross-shard work: the messages reactors exchange, the operations a shard
//! runs for another reactor, and the coordinator that fans a multi-shard
//! command out and combines the parts.
//!
//! Every message names the origin connection and a reply slot, so a scheduler
//! (global sequence numbers, per-shard intent queues) can later be placed
//! between `Coord` and the shards without changing either side.
pub mod fanout;
pub mod idtable;
pub mod locks;
pub mod multi;
pub mod ops;
pub mod spares;

pub use fanout::{Coord, Step};
pub use ops::{OpResult, OwnedArgs, ShardOp};

use crate::commands::table::Command;
use crate::protocol::{Args, Proto};
use std::ops::Range;

/// The index of `shard`'s entry in a list of per-shard groups (lock sets,
/// operations), appending `new()` for a shard not seen yet: the lists
/// hold one to a few shards, so a scan beats a map.
pub fn group_index<T>(
    groups: &mut Vec<(usize, T)>,
    shard: usize,
    new: impl FnOnce() -> T,
) -> usize {
    match groups.iter().position(|(s, _)| *s == shard) {
        Some(g) => g,
        None => {
            groups.push((shard, new()));
            groups.len() - 1
        }
    }
}

/// Append `src` to `buf`. Keys and small values are what cross shards,
/// and `extend_from_slice` copies each with a call to memcpy (its length
/// is not known at compile time); up to 16 bytes, two fixed-size copies
/// that overlap do the same inline. A two-shard 10-key MSET at -P 16
/// copies twenty arguments this way.
#[inline(always)]
pub fn append_bytes(buf: &mut Vec<u8>, src: &[u8]) {
    use std::ptr::{read_unaligned, write_unaligned};
    let n = src.len();
    if n > 16 {
        return buf.extend_from_slice(src);
    }
    buf.reserve(16);
    let len = buf.len();
    let p = src.as_ptr();
    // SAFETY: `reserve(16)` leaves at least 16 writable bytes past `len`
    // and n <= 16, so every write below stays within them; every read is
    // within `src` (the first and the last W bytes, W <= n); those n
    // bytes are then initialized, so the new length is.
    unsafe {
        let dst = buf.as_mut_ptr().add(len);
        if n >= 8 {
            write_unaligned(dst as *mut u64, read_unaligned(p as *const u64));
            let t = n - 8;
            write_unaligned(
                dst.add(t) as *mut u64,
                read_unaligned(p.add(t) as *const u64),
            );
        } else if n >= 4 {
            write_unaligned(dst as *mut u32, read_unaligned(p as *const u32));
            let t = n - 4;
            write_unaligned(
                dst.add(t) as *mut u32,
                read_unaligned(p.add(t) as *const u32),
            );
        } else if n > 0 {
            *dst = *p;
            *dst.add(n / 2) = *p.add(n / 2);
            *dst.add(n - 1) = *p.add(n - 1);
        }
        buf.set_len(len + n);
    }
}

/// Identifies a connection across reactors: (generation << 32) | slab index.
pub type Token = u64;

pub struct Request {
    pub from: usize,
    pub conn: Token,
    pub slot: u64,
    pub part: u32,
    /// Boxed: inline, the largest operation made every message 128 bytes,
    /// the `Cmd`s and `Replies` that dominate batches too; a
    /// batch of a turn's remote GETs outgrew its room and reallocated into
    /// jemalloc's large classes (~3% of a --threads 2 pipelined GET).
    pub op: Box<ShardOp>,
}

pub struct Response {
    pub conn: Token,
    pub slot: u64,
    pub part: u32,
    pub result: OpResult,
}

pub enum Msg {
    /// Replication stream bytes wait for a replica connected here
    /// (`replication::primary`): move them to its connection.
    ReplPending,
    Req(Request),
    Resp(Response),
    Cmd(RemoteCmd),
    /// The replies to consecutive `Cmd`s of one connection, verbatim:
    /// `Batch::replies[parts]`. A pipeline's remote commands arrive
    /// together and are answered together, so the origin looks the
    /// connection up and settles its reply slots once per run of them
    /// instead of once per command.
    Replies {
        conn: Token,
        parts: Range<usize>,
    },
    /// Register a blocked client on keys of the receiving shard. With
    /// `serve`, every key of its command lives there: the shard makes the
    /// first try itself and serves it when a key gets data
    /// (`Reactor::serve_remote`), instead of asking it to retry.
    BlockOn {
        /// The keys waited on, and the command if the shard serves it
        /// (boxed: registrations are rare, and messages stay small).
        what: Box<(OwnedArgs, Option<ServeAt>)>,
        from: usize,
        conn: Token,
        id: u64,
        pops: crate::shard::Pops,
    },
    /// The client timed out or was unblocked: forget it on the receiving
    /// shard, then answer its slot with an empty reply. If the shard
    /// served it first, that reply is already on its way, ahead of this
    /// one, so an element is never handed to a client that gave up.
    CancelWait {
        from: usize,
        conn: Token,
        id: u64,
        slot: u64,
    },
    /// Forget that registration.
    Unblock {
        keys: OwnedArgs,
        from: usize,
        conn: Token,
        id: u64,
    },
    /// One of the keys a blocked client waits on was written.
    KeyReady {
        conn: Token,
        id: u64,
    },
    /// A transaction is over: release its locks on the receiving shard.
    Unlock {
        txid: u64,
    },
    /// A MONITOR line for a connection of the receiving reactor:
    /// `Batch::bytes[line]`.
    Monitor {
        conn: Token,
        line: Range<usize>,
    },
    /// CLIENT TRACKING: `tracker` reads `key` of the target's shard
    /// (sent ahead of the read itself).
    Track {
        key: Range<usize>,
        tracker: crate::tracking::Tracker,
    },
    /// A tracked key changed (`key` None: a flush): tell the tracker.
    /// `redirected`: `tracker` is the client another one's invalidations
    /// are redirected to (CLIENT TRACKING REDIRECT).
    Invalidate {
        tracker: crate::tracking::Tracker,
        key: Option<Range<usize>>,
        redirected: bool,
    },
    /// A Pub/Sub message for a subscribed connection (RESP2 framing; a
    /// RESP3 connection gets it as a push).
    Message {
        conn: Token,
        bytes: Range<usize>,
    },
    /// From a replication link thread: take this socket in as the master
    /// connection of its session (`replication::replica`).
    AdoptMaster(Box<crate::replication::replica::Adopt>),
}

/// What a shard needs to run a blocked client's command for it: the
/// command, and the reply slot its answer goes to.
pub struct ServeAt {
    pub args: OwnedArgs,
    pub db: usize,
    pub proto: Proto,
    pub slot: u64,
}

/// A whole command whose keys all live on the receiving shard (the common
/// remote request).
pub struct RemoteCmd {
    pub from: usize,
    pub conn: Token,
    pub slot: u64,
    pub db: usize,
    pub proto: Proto,
    /// Its command-table entry, looked up once by the origin.
    pub cmd: &'static Command,
    /// Its arguments: `Batch::ranges[args]`.
    pub args: Range<usize>,
}

/// Everything one reactor has for another in one loop turn travels as one
/// queue element: one queue operation per turn and target, not per
/// request. The arguments of its `Cmd`s and the bytes of its `Replies`
/// share the batch's own buffers, which travel back and forth with it
/// (see `Reactor::recycle`): a remote GET and its reply allocate nothing,
/// where an owned copy of the arguments and a reply buffer cost three
/// allocations, each freed by the other thread.
#[derive(Default)]
pub struct Batch {
    pub msgs: Vec<Msg>,
    pub bytes: Vec<u8>,
    pub ranges: Vec<Range<usize>>,
    pub replies: Vec<ReplyPart>,
    /// The reactor that sent it (`Reactor::recycle` gives it back).
    pub origin: usize,
}

/// One reply of a `Msg::Replies`: its slot and `Batch::bytes[reply]`.
pub struct ReplyPart {
    pub slot: u64,
    pub reply: Range<usize>,
}

/// A fresh batch's room (`Batch::with_room`): a turn's messages to one
/// peer at -P 16 run to dozens; grown from empty, the pushes reallocated
/// (and copied) their way up several times per new batch.
const BATCH_MSGS: usize = 64;
const BATCH_BYTES: usize = 2048;

impl Batch {
    pub fn with_room() -> Batch {
        Batch {
            msgs: Vec::with_capacity(BATCH_MSGS),
            bytes: Vec::with_capacity(BATCH_BYTES),
            ranges: Vec::with_capacity(2 * BATCH_MSGS),
            replies: Vec::with_capacity(BATCH_MSGS),
            origin: 0,
        }
    }

    #[inline]
    pub fn push(&mut self, m: Msg) {
        self.msgs.push(m);
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Emptied for reuse, keeping its allocations.
    pub fn clear(&mut self) {
        self.msgs.clear();
        self.bytes.clear();
        self.ranges.clear();
        self.replies.clear();
    }

    /// Copy a command's arguments into the batch: the range of
    /// `ranges` a `RemoteCmd` names them by.
    pub fn push_args(&mut self, a: Args) -> Range<usize> {
        let first = self.ranges.len();
        for x in a.iter() {
            let s = self.bytes.len();
            append_bytes(&mut self.bytes, x);
            self.ranges.push(s..self.bytes.len());
        }
        first..self.ranges.len()
    }

    /// Queue the reply to `conn`'s command in `slot`, joining the
    /// `Replies` just before it if that one is for the same connection.
    pub fn push_reply(&mut self, conn: Token, slot: u64, reply: &[u8]) {
        let s = self.bytes.len();
        self.bytes.extend_from_slice(reply);
        let n = self.replies.len();
        self.replies.push(ReplyPart {
            slot,
            reply: s..self.bytes.len(),
        });
        if let Some(Msg::Replies { conn: c, parts }) = self.msgs.last_mut() {
            // Only `Replies` add parts: the last one's run ends here.
            if *c == conn && parts.end == n {
                parts.end = n + 1;
                return;
            }
        }
        self.msgs.push(Msg::Replies {
            conn,
            parts: n..n + 1,
        });
    }

    /// The replies of a `Msg::Replies`, with their bytes.
    pub fn replies(&self, parts: Range<usize>) -> impl Iterator<Item = (u64, &[u8])> {
        self.replies
            .get(parts)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| Some((p.slot, self.bytes.get(p.reply.clone())?)))
    }

    /// The arguments of a `Cmd` of this batch (None if out of range).
    pub fn args(&self, r: Range<usize>) -> Option<Args<'_>> {
        self.ranges
            .get(r)
            .map(|rs| Args::from_parts(&self.bytes, rs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_bytes_copies_every_length_exactly() {
        for n in 0..=80usize {
            let src: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            for prefix in [0usize, 1, 5] {
                let mut buf = vec![b'p'; prefix];
                append_bytes(&mut buf, &src);
                append_bytes(&mut buf, b"xy");
                let mut want = vec![b'p'; prefix];
                want.extend_from_slice(&src);
                want.extend_from_slice(b"xy");
                assert_eq!(buf, want, "length {n}, prefix {prefix}");
            }
        }
    }

    #[test]
    fn messages_stay_small() {
        // Batches hold a turn's messages to a peer, often hundreds: keep
        // the common ones (`Cmd`, `Replies`) from paying for the rare big one.
        assert!(
            std::mem::size_of::<Msg>() <= 80,
            "{}",
            std::mem::size_of::<Msg>()
        );
    }

    #[test]
    fn consecutive_replies_to_one_connection_travel_as_one_message() {
        let mut b = Batch::default();
        b.push_reply(8, 1, b":1\r\n");
        b.push_reply(8, 3, b":3\r\n");
        b.push_reply(9, 0, b":0\r\n");
        b.push_reply(8, 4, b":4\r\n");
        type Run = (Token, Vec<(u64, Vec<u8>)>);
        let got: Vec<Run> = b
            .msgs
            .iter()
            .map(|m| match m {
                Msg::Replies { conn, parts } => (
                    *conn,
                    b.replies(parts.clone())
                        .map(|(s, r)| (s, r.to_vec()))
                        .collect(),
                ),
                _ => unreachable!(),
            })
            .collect();
        let r = |s: u64, v: &[u8]| (s, v.to_vec());
        assert_eq!(
            got,
            vec![
                (8, vec![r(1, b":1\r\n"), r(3, b":3\r\n")]),
                (9, vec![r(0, b":0\r\n")]),
                (8, vec![r(4, b":4\r\n")]),
            ]
        );
        assert_eq!(b.replies(7..9).count(), 0, "out of range: nothing");
        b.clear();
        assert!(b.replies.is_empty());
    }

    fn args_of<'a>(buf: &'a [u8], ranges: &'a [Range<usize>]) -> Args<'a> {
        Args::from_parts(buf, ranges)
    }

    #[test]
    fn batch_carries_commands_and_replies_in_its_own_buffers() {
        let src = b"GETkeySETk2v".to_vec();
        let get = [0..3, 3..6];
        let set = [6..9, 9..11, 11..12];
        let cmd = |name: &[u8]| crate::commands::table::lookup(name).expect("in the table");
        let mut b = Batch::default();
        let remote = |b: &mut Batch, slot, db, name: &[u8], a| {
            let args = b.push_args(a);
            let (from, conn, proto, cmd) = (0, 7, Proto::Resp2, cmd(name));
            b.push(Msg::Cmd(RemoteCmd {
                from,
                conn,
                slot,
                db,
                proto,
                cmd,
                args,
            }));
        };
        remote(&mut b, 1, 0, b"get", args_of(&src, &get));
        b.push_reply(8, 2, b"$1\r\nx\r\n");
        remote(&mut b, 2, 3, b"set", args_of(&src, &set));
        let mut seen = Vec::new();
        for m in &b.msgs {
            match m {
                Msg::Cmd(c) => {
                    let a = b.args(c.args.clone()).expect("in range");
                    assert!(c.cmd.name.as_bytes().eq_ignore_ascii_case(a.get(0)));
                    let parts: Vec<&[u8]> = a.iter().collect();
                    seen.push((c.slot, c.db, parts.concat()));
                }
                Msg::Replies { conn, parts } => {
                    for (_, r) in b.replies(parts.clone()) {
                        seen.push((*conn, 0, r.to_vec()));
                    }
                }
                _ => unreachable!(),
            }
        }
        assert_eq!(
            seen,
            vec![
                (1, 0, b"GETkey".to_vec()),
                (8, 0, b"$1\r\nx\r\n".to_vec()),
                (2, 3, b"SETk2v".to_vec()),
            ]
        );
        // Reused: emptied, allocations kept.
        let cap = b.bytes.capacity();
        b.clear();
        assert!(b.is_empty() && b.bytes.is_empty() && b.ranges.is_empty());
        assert_eq!(b.bytes.capacity(), cap);
        assert!(b.args(0..1).is_none());
    }
}
