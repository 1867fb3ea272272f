//! The reactor core: connections, command dispatch, cross-shard messages.
//! It is driven by an I/O driver (`io::uring`) that tells it what arrived and
//! asks it what to send; it knows nothing of command semantics beyond the
//! table's routing information.

pub mod blocking;
pub mod client;
pub mod conn;
mod exec;
pub mod mailbox;
mod master_link;
mod maxmemory;
mod pause;
mod pubsub;
mod replicate;
mod tracking;

use crate::commands::conn::{ConnAction, ConnCtx};
use crate::commands::ctx::Ctx;
use crate::commands::table::{self, AllOp, Command, Kind, Multi, WatchTouch};
use crate::commands::{keys, server as server_cmds};
use crate::protocol::parser::Parsed;
use crate::protocol::{Args, Parser, Reply};
use crate::replication::replica;
use crate::server::{now_ms, Shared};
use crate::shard::slot::key_shard;
use crate::shard::Shard;
use crate::tx::fanout::{self, Plan, TxState};
use crate::tx::locks::{lock_id, LockRunOutcome, LockSet, ReplyTo, Waiting};
use crate::tx::ops::{CountMode, ShardStats};
use crate::tx::{
    Batch, Coord, Msg, OpResult, OwnedArgs, RemoteCmd, Request, Response, ShardOp, Token,
};
use client::Client;
use conn::{Conn, Place, Slot};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Redis's client-query-buffer-limit default: a client that sends more
/// unparsed input than this is disconnected.
const QUERY_BUFFER_LIMIT: usize = 1 << 30;

#[derive(Default)]
pub struct Counters {
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub total_commands: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub tx_restarts: u64,
    pub tx_folded: u64,
    /// (calls, rejected calls) per statistics slot (`table::stat_index`:
    /// a command, or a container's subcommand).
    pub cmd_calls: Vec<(u64, u64)>,
    /// Failed calls (an error reply) per statistics slot. A call is
    /// counted where it is dispatched, a failure where the command ran,
    /// which for a remote key is the key's reactor: INFO adds them up.
    /// (Apart from `cmd_calls`: a third field there cost SET's path ~0.5%.)
    pub cmd_failed: Vec<u64>,
    /// Microseconds spent in timed calls (`slowlog::times`), per slot.
    pub cmd_usec: Vec<u64>,
}

impl Counters {
    /// Both indexed by statistics slot (`table::stat_index`); `None` (an
    /// unknown subcommand) is counted nowhere, as in Redis.
    #[inline]
    fn rejected(&mut self, stat: Option<usize>) {
        if let Some(x) = stat.and_then(|s| self.cmd_calls.get_mut(s)) {
            x.1 += 1;
        }
    }
    #[inline]
    fn called(&mut self, stat: Option<usize>) {
        if let Some(x) = stat.and_then(|s| self.cmd_calls.get_mut(s)) {
            x.0 += 1;
        }
    }
    /// A call that ran here answered an error (`failed`) and, if it was
    /// timed, took `usec`.
    fn ran(&mut self, stat: Option<usize>, failed: bool, usec: Option<u64>) {
        let Some(s) = stat else { return };
        if failed {
            if let Some(x) = self.cmd_failed.get_mut(s) {
                *x += 1;
            }
        }
        if let (Some(us), Some(x)) = (usec, self.cmd_usec.get_mut(s)) {
            *x += us;
        }
    }
}

pub struct Reactor {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub shard: Shard,
    conns: Vec<Option<Conn>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    outbox: Vec<Batch>,
    /// Per target: 0 = nothing unrung, k > 0 = messages pushed k-1 turns ago
    /// and not rung yet.
    unrung: Vec<u32>,
    /// Eventfds of peers claimed for a wake, not yet written (`take_wakes`).
    wakes: Vec<std::os::fd::RawFd>,
    /// Emptied batches kept for reuse as outboxes (`recycle`).
    spare: Vec<Batch>,
    /// Reused buffer for the replies of commands run for other reactors.
    remote_out: Vec<u8>,
    parser: Parser,
    ahead: ParsedAhead,
    /// `feed_monitors`'s copy of the monitor list, kept for its allocation.
    monitor_scratch: Vec<(usize, u64)>,
    /// Connections with output to send (the driver drains this).
    pub dirty: Vec<u32>,
    /// Connections to close once their I/O is quiet (the driver drains this).
    pub to_close: Vec<u32>,
    pub counters: Counters,
    block_seq: u64,
    /// Earliest deadline of a blocked client here (unix ms; 0 = none). May
    /// be stale-early (a client unblocked since): that costs one extra scan.
    next_deadline: u64,
    /// Local blocked clients woken this turn (see `blocking`).
    ready_local: Vec<(Token, u64)>,
    /// Other reactors' blocked clients this shard serves itself
    /// (`blocking::Served`), and those woken since the last command.
    served_here: std::collections::HashMap<crate::shard::Waiter, blocking::Served>,
    ready_remote: Vec<crate::shard::Waiter>,
    /// How many `process` calls are on the stack.
    processing: u32,
    /// Connections that may be able to run again, found while input was
    /// being processed: resumed once it is done, one after another, never
    /// nested (a chain of blocked clients each freeing the next would
    /// otherwise recurse once per client).
    resumable: VecDeque<u32>,
    draining_resumable: bool,
    pub now: u64,
    pub max_bulk: usize,
    /// (db, key hash) of the lookups `prefetch` started this turn.
    prefetched: Vec<(usize, u64)>,
    /// This thread's allocation counters (maxmemory).
    meter: crate::memory::ThreadMeter,
    /// The other reactors were already asked to evict this turn.
    nudged_evictors: bool,
    /// Multi-key commands spanning shards, read in one batch from one
    /// connection and not started yet: they become one transaction
    /// (`fanout::fold`) when the batch ends or another command comes.
    fold: Option<PendingFold>,
    /// How many clients of this reactor have replies off or skipped, or
    /// tracking on (`Conn::special`): while any has, commands go through
    /// `dispatch_special`; otherwise they pay one branch.
    special_clients: u32,
    /// Connections held by CLIENT PAUSE (`pause.rs`), and the pause's end
    /// they were held under: they are looked at again once it changes.
    paused_conns: Vec<u32>,
    paused_under: u64,
    /// The command just dispatched was held by a pause: not consumed.
    postponed: bool,
    /// Replication: where the writes running now go (`replicate`).
    emit: replicate::Emit,
    /// What the next coordinator started replicates when it completes.
    tx_replicate: Option<Box<fanout::ToReplicate>>,
    /// The next coordinator started writes (see `write_missed`).
    tx_writes: bool,
    /// Stream bytes wait for a replica connected here.
    repl_pump: bool,
    last_repl_ping: u64,
    /// When this shard last took part in a replica's snapshot.
    snapshot_ms: u64,
    /// Reused to encode a replicated command.
    repl_scratch: Vec<u8>,
    /// Expired plus evicted keys counted when deletions were last
    /// replicated (`replicate_deletions`).
    deletions_seen: u64,
    /// Clients in WAIT (`replicate::check_waits`).
    waits: Vec<replicate::WaitFor>,
    /// Master connections taken in this turn, for the driver to arm
    /// (`take_adopted`).
    adopted: Vec<u32>,
}

struct PendingFold {
    idx: u32,
    plans: Vec<Plan>,
    /// The commands of one kind (MSET, MGET, DEL/UNLINK, EXISTS, TOUCH)
    /// read since the last plan, merged (`fanout::FoldRun`); they become
    /// one plan when another kind joins or the fold starts.
    run: Option<fanout::FoldRun>,
    locks: fanout::Locks,
    /// Some of its commands write (MSET, DEL...).
    writes: bool,
    /// Its commands in order, kept while replicas are attached or
    /// attaching (the fold's coordinator replicates them; its reply is
    /// theirs, one after another).
    cmds: Option<Vec<(usize, OwnedArgs)>>,
}

impl PendingFold {
    fn close_run(&mut self) {
        if let Some(run) = self.run.take() {
            self.plans.push(run.into_plan());
        }
    }
}

/// Pending output at which a MONITOR client is disconnected (Redis's
/// default hard limit for its class).
const MONITOR_OUTPUT_LIMIT: usize = 256 << 20;

/// Commands parsed ahead of running them (`Reactor::parse_ahead`).
const AHEAD: usize = 16;

/// Commands whose effect on parsing (AUTH's limits, CONFIG's bulk limit)
/// must be seen before the next command is parsed.
const STATEFUL_PARSE: [&[u8]; 4] = [b"auth", b"hello", b"reset", b"config"];

/// Commands of one batch parsed before running: (end offset, argument
/// ranges in `ranges`), `next` the first not yet run.
#[derive(Default)]
pub struct ParsedAhead {
    cmds: Vec<(usize, usize, usize)>,
    ranges: Vec<std::ops::Range<usize>>,
    next: usize,
}

impl ParsedAhead {
    pub fn clear(&mut self) {
        self.cmds.clear();
        self.ranges.clear();
        self.next = 0;
    }

    /// Keep the commands not run yet, their offsets made relative to
    /// `off` (where the next call's input will start).
    fn keep_rest(&mut self, off: usize) {
        let Some(&(_, r0, _)) = self.cmds.get(self.next) else {
            return self.clear();
        };
        self.cmds.drain(..self.next);
        self.ranges.drain(..r0);
        for c in &mut self.cmds {
            c.0 -= off;
            c.1 -= r0;
            c.2 -= r0;
        }
        for r in &mut self.ranges {
            r.start -= off;
            r.end -= off;
        }
        self.next = 0;
    }
}

/// The driver's prefetch pass reads each connection's first command only
/// (`parse_ahead` covers the rest of a pipelined batch).
const PREFETCH_PER_CONN: usize = 1;
const PREFETCH_MAX: usize = 256;
/// A drained batch bigger than this (messages) is freed, not kept: one
/// burst must not pin its memory for good.
const MAILBOX_KEEP_CAPACITY: usize = 1024;
/// A kept batch's argument and reply bytes keep at most this much room.
const MAILBOX_KEEP_BYTES: usize = 16 * 1024;

pub fn token(idx: u32, gen: u32) -> Token {
    ((gen as u64 & 0xFF_FFFF) << 32) | idx as u64
}

pub fn token_parts(t: Token) -> (u32, u32) {
    (t as u32, ((t >> 32) & 0xFF_FFFF) as u32)
}

impl Reactor {
    pub fn new(id: usize, shared: Arc<Shared>) -> Reactor {
        crate::scripting::engine::attach_server(shared.clone());
        let (databases, max_bulk) = {
            let c = shared.config();
            (c.databases, c.proto_max_bulk_len)
        };
        let n = shared.nshards;
        Reactor {
            id,
            shard: Shard {
                nshards: n,
                ..Shard::new(id, databases)
            },
            shared,
            conns: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            outbox: (0..n).map(|_| Batch::default()).collect(),
            unrung: vec![0; n],
            wakes: Vec::with_capacity(n),
            spare: Vec::new(),
            remote_out: Vec::new(),
            parser: Parser::new(max_bulk),
            ahead: ParsedAhead::default(),
            monitor_scratch: Vec::new(),
            fold: None,
            special_clients: 0,
            paused_conns: Vec::new(),
            paused_under: 0,
            postponed: false,
            emit: replicate::Emit::Direct,
            tx_replicate: None,
            tx_writes: false,
            repl_pump: false,
            last_repl_ping: now_ms(),
            snapshot_ms: 0,
            repl_scratch: Vec::new(),
            deletions_seen: 0,
            waits: Vec::new(),
            adopted: Vec::new(),
            dirty: Vec::new(),
            to_close: Vec::new(),
            block_seq: 0,
            next_deadline: 0,
            ready_local: Vec::new(),
            served_here: Default::default(),
            ready_remote: Vec::new(),
            processing: 0,
            resumable: VecDeque::new(),
            draining_resumable: false,
            counters: Counters {
                cmd_calls: vec![(0, 0); table::stat_slots()],
                cmd_failed: vec![0; table::stat_slots()],
                cmd_usec: vec![0; table::stat_slots()],
                ..Default::default()
            },
            now: now_ms(),
            max_bulk,
            prefetched: Vec::new(),
            meter: crate::memory::ThreadMeter::new(),
            nudged_evictors: false,
        }
    }

    pub fn conn(&self, idx: u32) -> Option<&Conn> {
        self.conns.get(idx as usize).and_then(|c| c.as_ref())
    }

    pub fn conn_mut(&mut self, idx: u32) -> Option<&mut Conn> {
        self.conns.get_mut(idx as usize).and_then(|c| c.as_mut())
    }

    fn conn_by_token(&mut self, t: Token) -> Option<(u32, &mut Conn)> {
        let (idx, gen) = token_parts(t);
        match self.conns.get_mut(idx as usize) {
            // A closing connection still finishes what it started: its
            // transactions must complete (and release their locks), only
            // their replies go nowhere.
            Some(Some(c)) if c.gen & 0xFF_FFFF == gen => Some((idx, c)),
            _ => None,
        }
    }

    /// A new connection from the listener. Returns its slab index, or None
    /// if it was refused (maxclients): the refusal is written to the socket
    /// and the fd closed here.
    pub fn accept(&mut self, fd: i32) -> Option<u32> {
        let (maxclients, requirepass, keepalive) = {
            let c = self.shared.config();
            (
                c.maxclients,
                !c.requirepass.is_empty(),
                c.int("tcp-keepalive", 300),
            )
        };
        if self.shared.clients.fetch_add(1, Ordering::Relaxed) >= maxclients {
            self.shared.clients.fetch_sub(1, Ordering::Relaxed);
            self.counters.rejected_connections += 1;
            let msg = b"-ERR max number of clients reached\r\n";
            // SAFETY: writing a static buffer to a socket we own, then closing it.
            unsafe {
                libc::write(fd, msg.as_ptr() as *const libc::c_void, msg.len());
                libc::close(fd);
            }
            return None;
        }
        crate::io::sockopt::tune_accepted(fd, keepalive);
        self.counters.total_connections += 1;
        let id = self.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let (addr, laddr) = (sock_name(fd, true), sock_name(fd, false));
        let client = Client::new(id, fd, addr, laddr, !requirepass, self.now);
        Some(self.install_conn(fd, client))
    }

    /// Give a new connection a slot (a freed one first) with the next
    /// generation of its token.
    pub(super) fn install_conn(&mut self, fd: i32, client: Client) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.gens.push(0);
                (self.conns.len() - 1) as u32
            }
        };
        self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
        let tok = token(idx, self.gens[idx as usize]);
        self.shared
            .client_index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client.id, (self.id, tok));
        self.conns[idx as usize] = Some(Conn::new(fd, self.gens[idx as usize], client));
        idx
    }

    pub fn token_of(&self, idx: u32) -> Token {
        token(idx, self.gens.get(idx as usize).copied().unwrap_or(0))
    }

    /// Free a connection whose I/O has fully completed.
    pub fn release(&mut self, idx: u32) {
        if let Some(slot) = self.conns.get_mut(idx as usize) {
            if let Some(c) = slot.take() {
                self.special_clients -= u32::from(c.special);
                // SAFETY: the driver only releases once no operation on fd is in flight.
                unsafe { libc::close(c.fd) };
                self.shared.clients.fetch_sub(1, Ordering::Relaxed);
                self.free.push(idx);
            }
        }
    }

    /// Mark for closing; the driver cancels its I/O and calls `release`.
    /// Commands already received still run (as Redis runs what it read
    /// before seeing the EOF), and coordinators in flight finish — a
    /// transaction abandoned halfway would lose data (a RENAME between its
    /// take and its put) — so the slot is released only once `idle_for_release`.
    pub fn close(&mut self, idx: u32) {
        let me = self.id;
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        // Closing first: unblocking resumes the commands queued behind the
        // pop, and a blocking one among them must see that nobody is left
        // to wait for (see `block`).
        if !std::mem::replace(&mut c.closing, true) {
            let monitor = c.client.monitor.then(|| token(idx, c.gen));
            let replica = c.client.replica.then(|| token(idx, c.gen));
            if let Some(subs) = c.client.subs.take() {
                let who = (me, token(idx, c.gen));
                crate::commands::pubsub::forget_all(&self.shared, *subs, who);
            }
            let id = c.client.id;
            if c.client.tracking.as_ref().is_some_and(|t| t.bcast) {
                crate::tracking::bcast_remove(id);
            }
            self.shared
                .client_index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            self.to_close.push(idx);
            if let Some(tok) = monitor {
                self.shared.remove_monitor(self.id, tok);
            }
            if let Some(tok) = replica {
                self.replica_gone(tok);
            }
        }
        // A blocked client that goes away leaves no waiter behind.
        if self.conn(idx).is_some_and(|c| c.blocked.is_some()) {
            self.unblock(idx, Vec::new());
        }
    }

    /// No command of this connection is still running anywhere.
    pub fn idle_for_release(&self, idx: u32) -> bool {
        self.conn(idx).is_some_and(|c| c.slots.is_empty())
    }

    fn mark_dirty(&mut self, idx: u32) {
        if let Some(c) = self.conn_mut(idx) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(idx);
            }
        }
    }

    /// Bytes received on a connection.
    pub fn on_recv(&mut self, idx: u32, data: &[u8]) {
        self.counters.net_input_bytes += data.len() as u64;
        let Some(c) = self.conn_mut(idx) else { return };
        if c.closing {
            return;
        }
        if c.inbuf.is_empty() {
            // Fast path: parse straight from the receive buffer.
            let used = self.process(idx, data);
            if used < data.len() {
                if let Some(c) = self.conn_mut(idx) {
                    c.inbuf.extend_from_slice(&data[used..]);
                }
            }
            self.drain_resumable();
        } else {
            c.inbuf.extend_from_slice(data);
            self.resume(idx);
        }
        if let Some(c) = self.conn(idx) {
            if c.inbuf.len() > QUERY_BUFFER_LIMIT {
                log::warn!("closing client {}: query buffer limit reached", c.client.id);
                self.close(idx);
            }
        }
        self.mark_dirty(idx);
    }

    /// Re-run buffered input (after more data, or after a pause ended).
    fn resume(&mut self, idx: u32) {
        let Some(c) = self.conn_mut(idx) else { return };
        let buf = std::mem::take(&mut c.inbuf);
        let used = self.process(idx, &buf);
        if let Some(c) = self.conn_mut(idx) {
            let mut buf = buf;
            buf.drain(..used);
            // Emptied after a large request (a big value arrives over many
            // receives): not worth keeping that room.
            if buf.is_empty() && buf.capacity() > conn::CONN_KEEP_BYTES {
                buf = Vec::new();
            }
            // Anything appended meanwhile cannot exist: processing is synchronous.
            c.inbuf = buf;
        }
        self.drain_resumable();
    }

    /// Parse and run as many commands as allowed; returns bytes consumed.
    /// Then, at the outermost call, resume the connections that became
    /// able to run meanwhile.
    fn process(&mut self, idx: u32, data: &[u8]) -> usize {
        self.processing += 1;
        let used = self.process_input(idx, data);
        self.processing -= 1;
        used
    }

    /// Resume the connections that became able to run while input was
    /// being processed. Called by `on_recv` and `resume` once the input
    /// they processed is back in its buffer: a connection freed while its
    /// own unread input was out of `inbuf` (a client whose BLPOP was
    /// served by a command another connection's resumption ran) must find
    /// that input there. Iterative: resumptions during the drain queue up
    /// behind it.
    fn drain_resumable(&mut self) {
        if self.processing > 0 || self.draining_resumable {
            return;
        }
        self.draining_resumable = true;
        while let Some(i) = self.resumable.pop_front() {
            if self
                .conn(i)
                .is_some_and(|c| !c.inbuf.is_empty() && c.can_process())
            {
                self.resume(i);
            }
        }
        self.draining_resumable = false;
    }

    fn process_input(&mut self, idx: u32, data: &[u8]) -> usize {
        let mut parser = std::mem::take(&mut self.parser);
        let mut ahead = std::mem::take(&mut self.ahead);
        ahead.clear();
        // Commands parsed ahead in an earlier call that stopped before
        // running them (a transaction's barrier): `data` starts where that
        // call stopped, so they are still valid.
        if let Some(c) = self.conn_mut(idx) {
            if !c.ahead.cmds.is_empty() {
                std::mem::swap(&mut ahead, &mut c.ahead);
            }
            c.client.qbuf = data.len();
        }
        if ahead
            .cmds
            .last()
            .is_some_and(|&(end, _, _)| end > data.len())
        {
            ahead.clear();
        }
        let mut off = 0;
        self.now = now_ms();
        // The keys' access clock must be current for these commands.
        crate::memory::set_clock(self.now);
        while off < data.len() {
            match self.conn(idx) {
                Some(c) if c.can_process() => parser.unauthenticated = !c.client.authed,
                _ => break,
            }
            if ahead.cmds.is_empty() && !parser.unauthenticated {
                self.parse_ahead(&mut parser, &mut ahead, idx, data, off);
            }
            if let Some(&(end, from, to)) = ahead.cmds.get(ahead.next) {
                let args = Args::from_parts(data, &ahead.ranges[from..to]);
                if !self.run_unless_barrier(idx, args) {
                    continue;
                }
                self.serve_woken();
                off = end;
                ahead.next += 1;
                // Parsing depends on the connection (AUTH: the limits for
                // unauthenticated clients) and on CONFIG (the bulk limit):
                // after such a command, what follows is parsed again.
                if ahead.next == ahead.cmds.len()
                    || args.iter().next().is_some_and(|name| {
                        STATEFUL_PARSE.iter().any(|n| name.eq_ignore_ascii_case(n))
                    })
                {
                    ahead.clear();
                }
                continue;
            }
            match parser.parse(&data[off..]) {
                Parsed::Command { consumed } => {
                    if self.run_unless_barrier(idx, parser.args(&data[off..])) {
                        self.serve_woken();
                        off += consumed;
                    }
                }
                Parsed::Incomplete { hint } => {
                    if let Some(c) = self.conn_mut(idx) {
                        if hint > c.inbuf.capacity() {
                            c.inbuf.reserve(hint - c.inbuf.len());
                        }
                    }
                    break;
                }
                Parsed::Error(e) => {
                    if let Some(c) = self.conn_mut(idx) {
                        let proto = c.client.proto;
                        Reply::new(c.reply_buf(), proto).error(&format!("ERR {e}"));
                        c.close_after_flush = true;
                    }
                    off = data.len();
                    break;
                }
            }
        }
        self.flush_fold();
        self.parser = parser;
        if let Some(c) = self.conn_mut(idx) {
            c.client.qbuf = 0;
        }
        if ahead.next < ahead.cmds.len() {
            ahead.keep_rest(off);
            if let Some(c) = self.conn_mut(idx) {
                std::mem::swap(&mut ahead, &mut c.ahead);
            }
        }
        ahead.clear();
        self.ahead = ahead;
        off
    }

    /// Run a parsed command, unless this connection's pending fold cannot
    /// take it: then the fold's transaction starts (a barrier) and the
    /// command waits for it, to be met again (false).
    #[inline]
    fn run_unless_barrier(&mut self, idx: u32, args: Args) -> bool {
        if self.fold.is_some() {
            return self.run_in_fold(idx, args);
        }
        if !args.is_empty() {
            if self.special_clients != 0 {
                self.dispatch_special(idx, None, args);
            } else {
                self.dispatch(idx, args);
                self.after_plain_dispatch(idx, args);
            }
            if self.postponed {
                self.postponed = false;
                return false;
            }
        }
        true
    }

    /// A command dispatched the plain way may have made its client special
    /// (CLIENT REPLY, CLIENT TRACKING, also inside EXEC): it is then the
    /// command the new mode counts from, as `dispatch_special` would have
    /// counted it.
    #[inline(always)]
    fn after_plain_dispatch(&mut self, idx: u32, args: Args) {
        if self.special_clients != 0 && !self.postponed {
            self.after_special(idx, table::lookup(args.get(0)));
        }
    }

    /// `run_unless_barrier` with a fold pending.
    #[inline(never)]
    fn run_in_fold(&mut self, idx: u32, args: Args) -> bool {
        if args.is_empty() {
            return true; // skipped without a reply
        }
        // Looked up once for both the fold's question and the dispatch
        // (twice was ~1.3% of a two-shard MSET pipeline).
        let cmd = table::lookup(args.get(0));
        if !self.joins_fold(idx, cmd, args) {
            self.flush_fold();
            return false;
        }
        if self.special_clients != 0 {
            self.dispatch_special(idx, Some(cmd), args);
        } else {
            self.dispatch_cmd(idx, cmd, args);
            self.after_plain_dispatch(idx, args);
        }
        if self.postponed {
            self.postponed = false;
            self.flush_fold();
            return false;
        }
        true
    }

    /// `dispatch` on a reactor where a client used CLIENT REPLY or CLIENT
    /// TRACKING. A tracking client's reads register their keys first
    /// (`track_reads`). A command of a client whose replies are off (or
    /// skipped once) runs, and what it answers is dropped; (un)subscribe
    /// confirmations still go out, as Redis sends them (pushes).
    #[cold]
    fn dispatch_special(
        &mut self,
        idx: u32,
        looked_up: Option<Option<&'static Command>>,
        args: Args,
    ) {
        let Some(c) = self.conn(idx) else { return };
        let cmd = looked_up.unwrap_or_else(|| table::lookup(args.get(0)));
        let tracking = c.client.tracking.is_some();
        let who = (self.id, token(idx, c.gen));
        if let (true, Some(cmd)) = (tracking, cmd) {
            self.track_reads(idx, cmd, args);
        }
        // Changes it makes here are its own (CLIENT TRACKING NOLOOP).
        let before = crate::tracking::set_by(Some(who));
        self.dispatch_replying(idx, args);
        crate::tracking::set_by(before);
        if !self.postponed {
            self.after_special(idx, cmd);
        }
    }

    /// After a client's top-level command (EXEC counts as one, as for
    /// Redis's resetClient): a skipped reply skips only the next command,
    /// CLIENT CACHING covers only the next one, and the client leaves the
    /// special count when nothing special is left.
    fn after_special(&mut self, idx: u32, cmd: Option<&'static Command>) {
        if let Some(c) = self.conn_mut(idx) {
            c.client.reply = c.client.reply.after_command();
            let in_multi = c.client.multi.is_some();
            if let Some(t) = c.client.tracking.as_deref_mut() {
                // CLIENT CACHING covers the next command (a whole MULTI).
                if !in_multi && cmd.is_some_and(|c| c.name != "client") {
                    t.caching = None;
                }
            }
        }
        self.recount_special(idx);
    }

    /// Keep `special_clients` true to the client's modes now.
    pub(super) fn recount_special(&mut self, idx: u32) {
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        let special = c.client.reply != client::ReplyMode::On || c.client.tracking.is_some();
        if special != c.special {
            c.special = special;
            if special {
                self.special_clients += 1;
            } else {
                self.special_clients -= 1;
            }
        }
    }

    fn dispatch_replying(&mut self, idx: u32, args: Args) {
        let Some(c) = self.conn_mut(idx) else { return };
        let pushes = ["subscribe", "psubscribe", "unsubscribe", "punsubscribe"]
            .iter()
            .any(|n| args.get(0).eq_ignore_ascii_case(n.as_bytes()));
        if !c.client.reply.drops() || pushes {
            self.dispatch(idx, args);
        } else {
            // Alone: a fold would write this reply with others' later.
            self.flush_fold();
            let Some(c) = self.conn_mut(idx) else { return };
            let mark = c.quiet_mark();
            self.dispatch(idx, args);
            self.flush_fold();
            let Some(c) = self.conn_mut(idx) else { return };
            c.drop_since(mark);
        }
    }

    /// Parse up to `AHEAD` complete commands from `off` and start their
    /// keys' lookups before any of them runs, so their cache misses
    /// overlap. The driver's pass over all connections (`prefetch`) reads
    /// only each batch's first command: reading every command there and
    /// again here was ~14% of a pipelined GET. Anything unusual (inline,
    /// incomplete, malformed) ends the look-ahead; the one-at-a-time path
    /// then meets it in order.
    fn parse_ahead(
        &mut self,
        parser: &mut Parser,
        ahead: &mut ParsedAhead,
        idx: u32,
        data: &[u8],
        mut at: usize,
    ) {
        let Some(db) = self.conn(idx).map(|c| c.client.db) else {
            return;
        };
        while ahead.cmds.len() < AHEAD && data.get(at) == Some(&b'*') {
            let Parsed::Command { consumed } = parser.parse(&data[at..]) else {
                break;
            };
            let from = ahead.ranges.len();
            let args = parser.args(&data[at..]);
            let (_, ranges) = args.raw();
            ahead
                .ranges
                .extend(ranges.iter().map(|r| r.start + at..r.end + at));
            at += consumed;
            ahead.cmds.push((at, from, ahead.ranges.len()));
        }
        if ahead.cmds.len() < 2 {
            // One command: nothing to overlap with (the driver's pass
            // already started its lookup).
            return;
        }
        let Some(d) = self.shard.dbs.get(db) else {
            return;
        };
        // Each command's first key (its second argument), slots then entries.
        let ranges = &ahead.ranges;
        d.prefetch_keys(
            ahead
                .cmds
                .iter()
                .filter(|&&(_, from, to)| to - from >= 2)
                .filter_map(|&(_, from, _)| data.get(ranges[from + 1].clone())),
        );
    }

    /// Would this command join the pending fold? Exactly the commands that
    /// `dispatch` hands to `run_keyed` as a folding fan-out with no reply
    /// written on the way: anything else must not run (nor answer) before
    /// the fold's transaction.
    fn joins_fold(&self, idx: u32, cmd: Option<&'static Command>, args: Args) -> bool {
        let Some(f) = self.fold.as_ref() else {
            return false;
        };
        let Some(c) = self.conn(idx) else {
            return false;
        };
        let Some(cmd) = cmd else {
            return false;
        };
        f.idx == idx
            && f.locks.iter().map(|(_, set)| set.len()).sum::<usize>() < fanout::MAX_FOLD_KEYS
            && matches!(cmd.kind, Kind::Multi(_, m) if m.folds())
            && cmd.arity_ok(args.len())
            && c.client.authed
            && c.client.multi.is_none()
            && self.shared.memory.maxmemory() == 0
            && !self.shared.writes_need_replicas.load(Ordering::Relaxed)
    }

    /// A merging command (`fanout::RunKind`) joins (or opens) this
    /// connection's fold, merged with the commands of its kind right
    /// before it.
    fn add_run_to_fold(&mut self, idx: u32, kind: fanout::RunKind, db: usize, args: Args) {
        let n = self.shared.nshards;
        let writes = kind.writes();
        let recording = self.shared.repl.primary.recording();
        match self.fold.as_mut() {
            Some(f) if f.idx == idx => {
                self.counters.tx_folded += 1;
                f.writes |= writes;
                if let Some(cmds) = f.cmds.as_mut() {
                    cmds.push((db, OwnedArgs::from_args(args)));
                }
                if f.run.as_ref().is_some_and(|r| !r.takes(kind, db)) {
                    f.close_run();
                }
                let run = f.run.get_or_insert_with(|| fanout::FoldRun::new(kind, db));
                run.push(args, n, &mut f.locks);
            }
            _ => {
                self.flush_fold();
                let mut run = fanout::FoldRun::new(kind, db);
                let mut locks = Vec::with_capacity(2);
                run.push(args, n, &mut locks);
                self.fold = Some(PendingFold {
                    idx,
                    plans: Vec::with_capacity(4),
                    run: Some(run),
                    locks,
                    writes,
                    cmds: recording.then(|| vec![(db, OwnedArgs::from_args(args))]),
                });
            }
        }
    }

    fn add_to_fold(
        &mut self,
        idx: u32,
        plan: Plan,
        locks: fanout::Locks,
        writes: bool,
        db: usize,
        args: Args,
    ) {
        let recording = self.shared.repl.primary.recording();
        match self.fold.as_mut() {
            Some(f) if f.idx == idx => {
                self.counters.tx_folded += 1;
                f.writes |= writes;
                if let Some(cmds) = f.cmds.as_mut() {
                    cmds.push((db, OwnedArgs::from_args(args)));
                }
                f.close_run();
                f.plans.push(plan);
                for (s, set) in locks {
                    let g = crate::tx::group_index(&mut f.locks, s, Vec::new);
                    f.locks[g].1.extend(set);
                }
            }
            _ => {
                self.flush_fold();
                let mut plans = Vec::with_capacity(4);
                plans.push(plan);
                self.fold = Some(PendingFold {
                    idx,
                    plans,
                    run: None,
                    locks,
                    writes,
                    cmds: recording.then(|| vec![(db, OwnedArgs::from_args(args))]),
                });
            }
        }
    }

    fn flush_fold(&mut self) {
        let Some(mut f) = self.fold.take() else {
            return;
        };
        f.close_run();
        let PendingFold {
            idx,
            mut plans,
            locks,
            writes,
            cmds,
            ..
        } = f;
        // A fold opened before any replica was attaching kept no commands:
        // if it runs after one attached, its end notices (`write_missed`).
        self.tx_writes = writes;
        if let Some(cmds) = cmds.filter(|_| writes) {
            self.tx_replicate = Some(Box::new(fanout::ToReplicate { cmds, exec: false }));
        }
        let plan = match plans.len() {
            1 => plans.pop(),
            _ => Some(fanout::fold(plans)),
        };
        if let Some(plan) = plan {
            self.start_tx(idx, plan, locks);
        }
    }

    #[inline(never)]
    fn dispatch(&mut self, idx: u32, args: Args) {
        self.dispatch_cmd(idx, table::lookup(args.get(0)), args)
    }

    /// `dispatch` of a command whose table entry is looked up already.
    #[inline(always)]
    fn dispatch_cmd(&mut self, idx: u32, cmd: Option<&'static Command>, args: Args) {
        self.counters.total_commands += 1;
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let proto = c.client.proto;
        let Some(cmd) = cmd else {
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(&args.get(0)[..args.get(0).len().min(128)])
            );
            for a in args.iter().skip(1) {
                msg.push_str(&format!(
                    "'{}' ",
                    String::from_utf8_lossy(&a[..a.len().min(128)])
                ));
            }
            return reject(c, false, &msg);
        };
        if c.client.replica && cmd.name != "replconf" {
            // A replica's connection carries the stream: its other
            // commands get no reply (Redis answers a replica nothing).
            return;
        }
        c.client.set_last_cmd(cmd, args);
        c.client.last_interaction_ms = self.now;
        let stat = table::stat_index(cmd, args);
        if !cmd.arity_ok(args.len()) {
            self.counters.rejected(stat);
            let msg = format!("ERR wrong number of arguments for '{}' command", cmd.name);
            return reject(c, false, &msg);
        }
        if !cmd.subcommands.is_empty() {
            if let Some(msg) = cmd.subcommand_error(args) {
                self.counters.rejected(stat);
                return reject(c, false, &msg);
            }
        }
        if !c.client.authed && !cmd.flags.contains(&"no_auth") {
            self.counters.rejected(stat);
            return reject(c, false, "NOAUTH Authentication required.");
        }
        if c.client.subs.is_some() && not_while_subscribed(c, cmd) {
            self.counters.rejected(stat);
            return;
        }
        if c.client.multi.is_some() && cmd.no_multi {
            self.counters.rejected(stat);
            return reject(c, false, "ERR Command not allowed inside a transaction");
        }
        // A replica refuses what Redis's replica refuses (READONLY,
        // MASTERDOWN, LOADING); its master connection is exempt, or
        // dropped once its session is over.
        let is_replica = self.shared.repl.is_replica.load(Ordering::Relaxed);
        if is_replica || c.client.master != 0 {
            match replica::gate(&self.shared.repl, &c.client, cmd) {
                replica::Gate::Run => {}
                replica::Gate::Drop => return,
                replica::Gate::Refuse(e) => {
                    self.counters.rejected(stat);
                    return reject(c, cmd.name == "exec", e);
                }
            }
        }
        // A script of a read-only replica's client runs read-only (what it
        // will write is unknown until it runs); its master's run as sent.
        let cmd = if cmd.script {
            let ro = is_replica
                && c.client.master == 0
                && self.shared.repl.replica.read_only.load(Ordering::Relaxed);
            crate::scripting::set_replica_read_only(ro);
            if ro {
                table::read_only_variant(cmd)
            } else {
                cmd
            }
        } else {
            cmd
        };
        if self.shared.memory.maxmemory() != 0 && c.client.master == 0 {
            // EXEC may use memory if a command it runs may; inside MULTI
            // queueing itself does, so all but EXEC/DISCARD/QUIT/RESET are
            // refused (Redis 7.0's processCommand).
            let in_multi = c.client.multi.as_ref();
            let may_use_memory = cmd.denyoom
                || match cmd.name {
                    "exec" => in_multi.is_some_and(|m| m.denyoom),
                    "discard" | "quit" | "reset" => false,
                    _ => in_multi.is_some(),
                };
            if self.over_maxmemory() && may_use_memory {
                self.counters.rejected(stat);
                let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
                    return;
                };
                return reject(c, cmd.name == "exec", maxmemory::OOM_ERR);
            }
        }
        if crate::pause::maybe() && self.held_by_pause(idx, cmd, args) {
            return self.postpone(idx);
        }
        if self.shared.monitor_count.load(Ordering::Relaxed) > 0 && !cmd.flags.contains(&"admin") {
            self.feed_monitors(idx, cmd, args);
        }
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        // min-replicas-to-write (with min-replicas-max-lag): a write needs
        // that many replicas whose last ACK is recent enough.
        if !is_replica
            && self.shared.writes_need_replicas.load(Ordering::Relaxed)
            && (cmd.is_write()
                || (cmd.name == "exec" && c.client.multi.as_ref().is_some_and(|m| m.write)))
            && !enough_replicas(&self.shared, self.now)
        {
            let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
                return;
            };
            self.counters.rejected(stat);
            return reject(c, cmd.name == "exec", NOREPLICAS);
        }
        if let Some(m) = c.client.multi.as_mut() {
            if !matches!(cmd.kind, Kind::Tx(_)) && cmd.name != "quit" && cmd.name != "reset" {
                m.write |= cmd.is_write();
                m.may_replicate |= pause::may_replicate(cmd, args, None);
                m.denyoom |= cmd.denyoom;
                m.denystale |= !cmd.stale;
                m.denyloading |= !cmd.loading;
                m.cmds.push(OwnedArgs::from_args(args));
                return Reply::new(c.reply_buf(), proto).simple("QUEUED");
            }
        }
        match cmd.kind {
            Kind::Conn(f) => self.run_conn(idx, cmd, f, args),
            Kind::Keyed(f) => self.run_keyed(idx, cmd, f, None, args),
            Kind::Multi(f, m) => self.run_keyed(idx, cmd, f, Some(m), args),
            Kind::All(op) => self.run_all(idx, op, args),
            Kind::Tx(t) => self.run_tx(idx, t, args),
        }
        // Counted once it ran (or started), as Redis counts after the
        // call: INFO does not count the call that is answering, and
        // RESETSTAT counts itself after the reset.
        self.counters.called(stat);
    }

    // Inlined into `dispatch_cmd`, its only caller on the hot path: as a
    // call it cost GET ~11 instructions of argument passing (callgrind).
    #[inline(always)]
    fn run_keyed(
        &mut self,
        idx: u32,
        cmd: &'static Command,
        f: table::KeyFn,
        multi: Option<Multi>,
        args: Args,
    ) {
        let n = self.shared.nshards;
        let mut target = None;
        let mut spans = false;
        // A pending fold (this connection's: see `joins_fold`) takes
        // every multi-key command, spanning or not, to keep their order:
        // where its keys live is the fold's business, so don't route them
        // here too (three CRC16s per 10-key MSET on average).
        let folding = self.fold.is_some();
        if n > 1 && !(folding && multi.is_some()) {
            if let Some(i) = cmd.only_key(args.len()) {
                target = Some(key_shard(args.get(i), n));
            } else {
                for i in cmd.keys_of(args) {
                    let s = key_shard(args.get(i), n);
                    match target {
                        None => target = Some(s),
                        Some(t) if t != s => {
                            spans = true;
                            break;
                        }
                        _ => {}
                    }
                }
            }
        }
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let db = c.client.db;
        let proto = c.client.proto;
        if cmd.script && n > 1 && crate::scripting::roams(crate::scripting::script_id(args)) {
            // Known to touch keys it does not declare: run on copies, where
            // meeting others costs only a restart.
            self.flush_fold();
            return self.script_tx(idx, Place::New, db, OwnedArgs::from_args(args), Vec::new());
        }
        if spans || folding {
            match multi {
                Some(Multi::MSet) if !args.len().is_multiple_of(2) => {
                    return self.add_run_to_fold(idx, fanout::RunKind::MSet, db, args);
                }
                Some(Multi::MGet) => {
                    return self.add_run_to_fold(idx, fanout::RunKind::MGet, db, args);
                }
                Some(m @ (Multi::Del | Multi::Exists | Multi::Touch)) => {
                    let mode = match m {
                        Multi::Del => CountMode::Delete,
                        Multi::Exists => CountMode::Look,
                        _ => CountMode::Touch,
                    };
                    return self.add_run_to_fold(idx, fanout::RunKind::Count(mode), db, args);
                }
                _ => {}
            }
            if let Some(m) = multi {
                let (plan, locks) =
                    match exec::spanning_plan(m, cmd, args, db, n, self.shard.dbs.len()) {
                        Ok(p) => p,
                        Err(e) => {
                            self.flush_fold();
                            let Some(c) = self.conn_mut(idx) else { return };
                            return Reply::new(c.reply_buf(), proto).error(&e);
                        }
                    };
                let locks = locks.unwrap_or_else(|| lock_keys(cmd, args, db, n));
                if m.folds() {
                    return self.add_to_fold(idx, plan, locks, cmd.is_write(), db, args);
                }
                self.flush_fold();
                if cmd.is_write() {
                    self.coordinated_command(db, args);
                }
                return self.start_tx(idx, plan, locks);
            }
        }
        if cmd.pattern_keys && n > 1 && crate::commands::sort::patterns_span(args, n, &self.shard) {
            // Keys only the sorted key's elements name: all shards locked,
            // read it, then gather what its patterns name.
            let store = cmd.option_key.and_then(|k| k(args)).map(|i| args.get(i));
            let locks = crate::commands::sort::patterns_locks(store, n);
            let env = self.gather_env(db);
            // SORT without STORE writes nothing: no write-back digests.
            let plan = crate::commands::sort::patterns_plan(
                f,
                store.is_some(),
                OwnedArgs::from_args(args),
                distinct_keys(cmd, args),
                env,
            );
            if store.is_some() {
                self.coordinated_command(db, args);
            }
            return self.start_tx(idx, plan, locks);
        }
        if spans && cmd.is_blocking() {
            // Wait on every shard first (no wake-up can be missed), then
            // attempt, as for a remote single-shard pop.
            return self.block_and_try(idx, cmd, args, db, blocking::SPANNING);
        }
        if spans {
            // No dedicated fan-out: run it on gathered copies, under locks.
            let locks = lock_keys(cmd, args, db, n);
            let env = self.gather_env(db);
            let plan = fanout::gather(
                f,
                cmd.may_write(),
                OwnedArgs::from_args(args),
                distinct_keys(cmd, args),
                env,
            );
            if cmd.may_write() {
                self.coordinated_command(db, args);
            }
            return self.start_tx(idx, plan, locks);
        }
        let target = target.unwrap_or(self.id);
        if target == self.id && !self.shard.locks.is_idle() {
            let keys: LockSet = cmd
                .keys_of(args)
                .map(|i| lock_id(db, args.get(i)))
                .collect();
            if self.shard.locks.blocked(&keys) {
                if cmd.is_blocking() {
                    // Its first try waits behind the transaction like any
                    // command, as a blocked client's attempt: finding
                    // nothing then, it blocks (run as a plain command it
                    // answered nothing at all).
                    return self.block_and_try(idx, cmd, args, db, self.id);
                }
                // A transaction holds (or waits for) these keys: run after it.
                let slot = c.push_remote();
                let reply = ReplyTo {
                    from: self.id,
                    conn: token(idx, c.gen),
                    slot,
                    part: 0,
                };
                let op = ShardOp::Exec {
                    db,
                    proto,
                    args: OwnedArgs::from_args(args),
                };
                self.shard.locks.park(keys, op, reply);
                return;
            }
        }
        if target == self.id {
            if cmd.script {
                return self.run_script_here(idx, cmd, f, args, db, proto);
            }
            let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
            let buf = c.reply_buf();
            let at = buf.len();
            let mut ctx = Ctx {
                shard: &mut self.shard,
                db,
                now: self.now,
                r: Reply::new(buf, proto),
                max_bulk: self.max_bulk,
            };
            f(&mut ctx, args);
            let usec = timed.map(crate::slowlog::elapsed_us);
            let wrote = ctx.r.out.len() > at;
            let failed = ctx.r.out.get(at) == Some(&b'-');
            let replicated = self
                .shared
                .repl
                .primary
                .active()
                .then(|| ctx.r.out[at..].to_vec());
            let unchanged = cmd.is_write()
                && !failed
                && ctx.shard.dbs[db].signals_changes()
                && changed_nothing(cmd, &ctx.r.out[at..]);
            if let Some(reply) = replicated {
                // Before the blocked clients it wakes pop: their pops
                // must follow it in the stream.
                self.replicate(cmd, db, args, &reply);
            }
            if failed || usec.is_some() {
                self.counters
                    .ran(table::stat_index(cmd, args), failed, usec);
            }
            if let Some(us) = usec.filter(|&us| crate::slowlog::is_slow(us)) {
                if let Some(c) = self.conn(idx) {
                    crate::slowlog::record(us, args, &c.client.addr, &c.client.name);
                }
            }
            // Tested here, not only inside: two calls that return at once
            // were ~3% of a pipelined GET.
            if cmd.is_write() && !failed {
                touch_written(&mut self.shard, cmd, db, args, unchanged);
                // A blocking attempt that found nothing changed nothing.
                if wrote {
                    self.signal_written(cmd, db, args);
                }
            }
            if !wrote && cmd.is_blocking() {
                self.block(idx, cmd, args, db, self.id, None);
            }
        } else {
            let tok = token(idx, c.gen);
            if !cmd.is_blocking() {
                let slot = c.push_remote();
                let me = self.id;
                let ob = &mut self.outbox[target];
                let args = ob.push_args(args);
                return ob.push(Msg::Cmd(RemoteCmd {
                    from: me,
                    conn: tok,
                    slot,
                    db,
                    proto,
                    cmd,
                    args,
                }));
            }
            // Registered with its command on the key's shard, which makes
            // the first try itself and always answers it: in flight until
            // then.
            self.block(idx, cmd, args, db, target, None);
            let Some(c) = self.conn_mut(idx) else { return };
            let Some(b) = c.blocked.as_mut() else { return };
            b.retrying = true;
            b.tried = true;
        }
    }

    /// What a command run on gathered copies needs from this reactor.
    fn gather_env(&self, db: usize) -> fanout::GatherEnv {
        fanout::GatherEnv {
            attempt: None,
            waited: 0,
            db,
            databases: self.shard.dbs.len(),
            now: self.now,
            max_bulk: self.max_bulk,
            nshards: self.shared.nshards,
            patterns_gathered: false,
            script_retry: true,
        }
    }

    fn run_all(&mut self, idx: u32, op: AllOp, args: Args) {
        let n = self.shared.nshards;
        let Some(c) = self.conn_mut(idx) else { return };
        let db = c.client.db;
        let proto = c.client.proto;
        let plan = match server_cmds::all_shards_plan(op, args, db, n, self.shard.dbs.len()) {
            Ok(p) => p,
            Err(e) => {
                if let Some(c) = self.conn_mut(idx) {
                    Reply::new(c.reply_buf(), proto).error(&e);
                }
                return;
            }
        };
        let Some(lock) = op.shard_lock() else {
            return self.start_plan(idx, plan);
        };
        if lock == crate::tx::locks::WHOLE_SHARD {
            self.coordinated_command(db, args);
        }
        let locks = (0..n).map(|s| (s, vec![lock])).collect();
        self.start_tx_min(idx, plan, locks, 1);
    }

    fn run_conn(&mut self, idx: u32, cmd: &'static Command, f: table::ConnFn, args: Args) {
        let shared = self.shared.clone();
        let now = self.now;
        let id = self.id;
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let proto = c.client.proto;
        let tok = token(idx, c.gen);
        let mut out = std::mem::take(c.reply_buf());
        let at = out.len();
        let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
        let mut ctx = ConnCtx {
            client: &mut c.client,
            shared: &shared,
            r: Reply::new(&mut out, proto),
            action: ConnAction::None,
            now,
            reactor: id,
            conn: tok,
        };
        f(&mut ctx, args);
        let action = std::mem::replace(&mut ctx.action, ConnAction::None);
        let usec = timed.map(crate::slowlog::elapsed_us);
        if let Some(us) = usec.filter(|&us| crate::slowlog::is_slow(us)) {
            crate::slowlog::record(us, args, &c.client.addr, &c.client.name);
        }
        let failed = out.get(at) == Some(&b'-');
        *c.reply_buf() = out;
        self.counters
            .ran(table::stat_index(cmd, args), failed, usec);
        match action {
            ConnAction::None => {}
            ConnAction::Close => c.close_after_flush = true,
            ConnAction::Plan(p) => self.start_plan(idx, p),
            ConnAction::Monitor => {
                c.client.monitor = true;
                let tok = token(idx, c.gen);
                self.shared.add_monitor(self.id, tok);
            }
            ConnAction::Sync { psync } => self.start_sync(idx, psync),
            ConnAction::Publish {
                channel,
                message,
                shard,
            } => {
                let db = c.client.db;
                let n = self.publish(db, &channel, &message, shard);
                if let Some(c) = self.conn_mut(idx) {
                    Reply::new(c.reply_buf(), proto).int(n as i64);
                }
            }
            ConnAction::Propagate(cmd) => {
                let db = c.client.db;
                if self.shared.repl.primary.active() {
                    self.repl_append(&[(db, cmd)], false);
                }
            }
            ConnAction::Wait { replicas, deadline } => {
                let slot = c.push_remote();
                self.waits.push(replicate::WaitFor {
                    conn: tok,
                    slot,
                    replicas,
                    deadline,
                    target: None,
                });
                self.check_waits();
            }
            ConnAction::StopMonitor => {
                c.client.monitor = false;
                let tok = token(idx, c.gen);
                self.shared.remove_monitor(self.id, tok);
            }
        }
        self.recount_special(idx);
    }

    /// Send `args` of a command about to run to every MONITOR client, in
    /// Redis's line format. Admin commands are not shown (as in Redis);
    /// AUTH and HELLO's credentials are redacted.
    fn feed_monitors(&mut self, idx: u32, cmd: &Command, args: Args) {
        let Some(c) = self.conn(idx) else { return };
        let line = monitor_line(c.client.db, &c.client.addr, cmd.name, args);
        // Redis feeds monitors after the command ran: a monitor's RESET has
        // already taken it out of the list.
        let skip = (cmd.name == "reset" && c.client.monitor).then(|| (self.id, token(idx, c.gen)));
        self.send_monitor_line(&line, skip);
    }

    /// The commands a script ran, as Redis shows them (`[db lua]`).
    pub(super) fn feed_script_monitors(&mut self) {
        let mut lines = std::mem::take(&mut self.shard.script_monitor);
        lines.extend(crate::scripting::take_copied_monitor());
        for (db, args) in lines {
            let a = args.args();
            let name = table::lookup(a.get(0)).map_or("", |c| c.name);
            let line = monitor_line(db, "lua", name, a);
            self.send_monitor_line(&line, None);
        }
    }

    fn send_monitor_line(&mut self, line: &[u8], skip: Option<(usize, Token)>) {
        // Copied out (into a reused list): delivering needs `&mut self`.
        let mut monitors = std::mem::take(&mut self.monitor_scratch);
        monitors.clear();
        monitors.extend_from_slice(
            &self
                .shared
                .monitors
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for &(r, tok) in &monitors {
            if skip == Some((r, tok)) {
                continue;
            }
            if r == self.id {
                self.deliver_monitor_line(tok, line);
            } else if let Some(ob) = self.outbox.get_mut(r) {
                let s = ob.bytes.len();
                ob.bytes.extend_from_slice(line);
                let line = s..ob.bytes.len();
                ob.push(Msg::Monitor { conn: tok, line });
            }
        }
        self.monitor_scratch = monitors;
    }

    fn deliver_monitor_line(&mut self, conn: Token, line: &[u8]) {
        // A monitor that does not read while the server is busy would grow
        // its output for ever: like Redis (monitors are in the replica
        // class, hard limit 256 MB by default), it is disconnected.
        self.push_unasked(conn, line, MONITOR_OUTPUT_LIMIT, "monitor", false);
    }

    /// Output nobody asked for (a MONITOR line, a Pub/Sub message) for a
    /// connection here; past `limit` bytes of unsent output the client is
    /// disconnected instead, as Redis's client-output-buffer-limit does for
    /// its `class`. `push`: a RESP2 array that a RESP3 client gets as a push
    /// (only the first byte differs), and only for a subscribed client.
    pub(super) fn push_unasked(
        &mut self,
        conn: Token,
        bytes: &[u8],
        limit: usize,
        class: &str,
        push: bool,
    ) {
        let Some((idx, c)) = self.conn_by_token(conn) else {
            return;
        };
        if c.closing || (push && c.client.subs.is_none()) {
            return;
        }
        if c.out.len() + c.sending.len() > limit {
            log::warn!(
                "Client id={} addr={} closed for overcoming of output buffer limits ({class}).",
                c.client.id,
                c.client.addr
            );
            return self.close(idx);
        }
        let resp3 = push && c.client.proto == crate::protocol::Proto::Resp3;
        let out = c.reply_buf();
        let at = out.len();
        out.extend_from_slice(bytes);
        if resp3 {
            out[at] = b'>';
        }
        self.mark_dirty(idx);
    }

    fn start_plan(&mut self, idx: u32, plan: Plan) {
        self.start_plan_in(idx, plan, Place::New)
    }

    /// Start a plan in a new reply slot, or (`at`) as the attempt of the
    /// blocked command waiting in that slot.
    fn start_plan_in(&mut self, idx: u32, plan: Plan, at: Place) {
        let Plan {
            ops,
            finish,
            barrier,
        } = plan;
        let replicate = self.tx_replicate.take();
        let writes = std::mem::take(&mut self.tx_writes);
        let Some(c) = self.conn_mut(idx) else { return };
        let mut coord = Coord::new(ops.len(), finish);
        coord.barrier = barrier;
        coord.replicate = replicate;
        coord.writes = writes;
        let Some(slot) = c.install(coord, at) else {
            return;
        };
        let tok = token(idx, c.gen);
        self.dispatch_ops(tok, slot, ops);
    }

    /// A script whose keys live here: run it now. Apart from the plain
    /// keyed path, which it would slow down with its checks.
    #[inline(never)]
    fn run_script_here(
        &mut self,
        idx: u32,
        cmd: &'static Command,
        f: table::KeyFn,
        args: Args,
        db: usize,
        proto: crate::protocol::Proto,
    ) {
        let oom = self.shared.memory.maxmemory() != 0 && self.over_maxmemory();
        crate::scripting::engine::set_oom(oom);
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let buf = c.reply_buf();
        let at = buf.len();
        let mut ctx = Ctx {
            shard: &mut self.shard,
            db,
            now: self.now,
            r: Reply::new(buf, proto),
            max_bulk: self.max_bulk,
        };
        crate::scripting::allow_retry(true);
        let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
        f(&mut ctx, args);
        let usec = timed.map(crate::slowlog::elapsed_us);
        crate::scripting::allow_retry(false);
        if crate::scripting::is_retry(&ctx.r.out[at..]) {
            let retry = ctx.r.out.split_off(at);
            return self.retry_script(idx, Place::New, &retry);
        }
        let failed = ctx.r.out.get(at) == Some(&b'-');
        self.counters
            .ran(table::stat_index(cmd, args), failed, usec);
        if let Some(us) = usec.filter(|&us| crate::slowlog::is_slow(us)) {
            if let Some(c) = self.conn(idx) {
                crate::slowlog::record(us, args, &c.client.addr, &c.client.name);
            }
        }
        // Deletions by expiry it caused; its own writes are its effects.
        self.replicate(cmd, db, args, &[]);
        self.script_done();
    }

    /// A script met a key it did not declare on another shard (its
    /// `RETRY` answer, `scripting::retry_reply`): run it again as a
    /// transaction with that key too, in its reply slot (`at`).
    fn retry_script(&mut self, idx: u32, at: Place, retry: &[u8]) {
        match crate::scripting::parse_retry(retry) {
            Some(r) => {
                let mut owned = OwnedArgs::new();
                for x in &r.args {
                    owned.push(x);
                }
                self.script_tx(idx, at, r.db, owned, r.extra)
            }
            None => self.script_refused(idx, at),
        }
    }

    /// Run a script as a transaction over its declared keys and `extra`
    /// (keys it met without declaring them): locked, even on one shard,
    /// copied to a scratch shard where it runs, written back (like any
    /// spanning command). Meeting yet another key starts it over again
    /// with that one too (`retry_script`).
    fn script_tx(&mut self, idx: u32, at: Place, db: usize, owned: OwnedArgs, extra: Vec<Vec<u8>>) {
        const MAX_EXTRA_KEYS: usize = 128;
        let a = owned.args();
        let Some(cmd) = table::lookup(a.get(0)) else {
            return self.script_refused(idx, at);
        };
        let Kind::Keyed(f) = cmd.kind else {
            return self.script_refused(idx, at);
        };
        if !cmd.script || extra.len() > MAX_EXTRA_KEYS {
            return self.script_refused(idx, at);
        }
        let mut keys = distinct_keys(cmd, a);
        for k in extra {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let n = self.shared.nshards;
        let mut locks: Vec<(usize, LockSet)> = Vec::new();
        for k in &keys {
            crate::tx::locks::add_lock_sized(&mut locks, n, db, k, keys.len());
        }
        let env = self.gather_env(db);
        if cmd.may_write() {
            self.coordinated_command(db, a);
        }
        let plan = fanout::gather(f, cmd.may_write(), owned, keys, env);
        self.start_tx_at(idx, plan, locks, 1, at);
    }

    fn script_refused(&mut self, idx: u32, at: Place) {
        let mut out = Vec::new();
        Reply::new(&mut out, crate::protocol::Proto::Resp2)
            .error("ERR Script attempted to access too many keys it did not declare in KEYS");
        self.answer_at(idx, at, out)
    }

    /// Answer a command with `out` in its reply slot.
    fn answer_at(&mut self, idx: u32, at: Place, out: Vec<u8>) {
        let Some(c) = self.conn_mut(idx) else { return };
        match at {
            Place::New => c.reply_buf().extend_from_slice(&out),
            Place::Blocked(slot) | Place::Replace(slot, _) => {
                let counted = matches!(at, Place::Replace(_, true));
                if let Some(s) = c.slot_mut(slot) {
                    *s = Slot::Ready(out);
                }
                self.slot_done(idx, counted);
            }
        }
    }

    /// Start a plan that must be atomic across shards: take its locks
    /// (one set per shard, in any order: sorted here) shard by shard in
    /// increasing order, then run it. A plan on a single
    /// shard needs no locks (the shard runs it in one step).
    fn start_tx(&mut self, idx: u32, plan: Plan, locks: Vec<(usize, LockSet)>) {
        self.start_tx_min(idx, plan, locks, 2)
    }

    /// `start_tx`, locking when at least `min_shards` shards are involved.
    fn start_tx_min(
        &mut self,
        idx: u32,
        plan: Plan,
        locks: Vec<(usize, LockSet)>,
        min_shards: usize,
    ) {
        self.start_tx_at(idx, plan, locks, min_shards, Place::New)
    }

    /// `start_tx` as the attempt of the blocked command in slot `at`.
    fn start_tx_in(&mut self, idx: u32, plan: Plan, locks: Vec<(usize, LockSet)>, at: u64) {
        self.start_tx_at(idx, plan, locks, 2, Place::Blocked(at))
    }

    fn start_tx_at(
        &mut self,
        idx: u32,
        plan: Plan,
        locks: Vec<(usize, LockSet)>,
        min_shards: usize,
        at: Place,
    ) {
        if locks.is_empty() || locks.len() < min_shards {
            return self.start_plan_in(idx, plan, at);
        }
        let Plan {
            ops,
            finish,
            barrier,
        } = plan;
        // Single-phase plans (no barrier) with one op per locked shard take
        // the short path: see TxState::fast.
        // Not while replicating: the coordinator appends to the stream
        // while it holds every lock, which the shortcut does not wait for.
        let fast = !barrier
            && !self.shared.repl.primary.recording()
            && ops.len() == locks.len()
            && locks
                .iter()
                .all(|(s, _)| ops.iter().filter(|(o, _)| o == s).count() == 1);
        let txid = self.shared.next_txid.fetch_add(1, Ordering::Relaxed);
        let mut shards = locks;
        // The one place the shard order is established (the deadlock
        // argument rests on it); the own-shard exception below follows it.
        shards.sort_unstable_by_key(|(s, _)| *s);
        let mut acquired = 0;
        let mut out_of_order = false;
        if let Some(i) = shards.iter().position(|(s, _)| *s == self.id) {
            if i > 0 && self.shard.locks.try_lock(txid, shards[i].1.clone()) {
                let mine = shards.remove(i);
                shards.insert(0, mine);
                acquired = 1;
                out_of_order = true;
            }
        }
        let replicate = self.tx_replicate.take();
        let writes = std::mem::take(&mut self.tx_writes);
        let Some(c) = self.conn_mut(idx) else {
            return self.unlock(txid);
        };
        let mut coord = Coord::new(ops.len(), finish);
        coord.barrier = true;
        coord.replicate = replicate;
        coord.writes = writes;
        coord.tx = Some(Box::new(TxState {
            txid,
            shards,
            acquired,
            out_of_order,
            first_ops: Some(ops),
            fast,
            fast_rest: None,
            last_part: None,
        }));
        let Some(slot) = c.install(coord, at) else {
            return self.unlock(txid);
        };
        let tok = token(idx, c.gen);
        self.acquire_next(tok, slot);
    }

    /// A shard reached out of order refused to wait: release what is held
    /// and start over in shard order, under a new transaction id (a late
    /// message of the old one then cannot be mistaken for the new one's).
    fn restart_in_order(&mut self, tok: Token, slot: u64, op_back: Option<(u32, ShardOp)>) {
        self.counters.tx_restarts += 1;
        let next_txid = self.shared.next_txid.fetch_add(1, Ordering::Relaxed);
        let Some((_, c)) = self.conn_by_token(tok) else {
            return;
        };
        let Some(Slot::Wait(coord)) = c.slot_mut(slot) else {
            return;
        };
        let Some(tx) = coord.tx.as_mut() else { return };
        let old = tx.txid;
        let held: Vec<usize> = tx.shards[..tx.acquired].iter().map(|(s, _)| *s).collect();
        // The fast path split the plan's ops: put them back in part order.
        if let Some(rest) = tx.fast_rest.take() {
            let mut ops: Vec<(u32, usize, ShardOp)> = rest;
            if let (Some((part, op)), Some(&(last, _))) = (op_back, tx.shards.get(tx.acquired)) {
                ops.push((part, last, op));
            }
            ops.sort_by_key(|(p, _, _)| *p);
            tx.first_ops = Some(ops.into_iter().map(|(_, s, op)| (s, op)).collect());
        }
        tx.last_part = None;
        tx.txid = next_txid;
        tx.acquired = 0;
        tx.out_of_order = false;
        tx.shards.sort_by_key(|(s, _)| *s);
        for s in held {
            self.unlock_on(s, old);
        }
        self.acquire_next(tok, slot);
    }

    /// Ask the next shard for its locks; once all are held, run phase one.
    fn acquire_next(&mut self, tok: Token, slot: u64) {
        loop {
            let replicating = self.shared.repl.primary.recording();
            let Some((_, c)) = self.conn_by_token(tok) else {
                return;
            };
            let Some(Slot::Wait(coord)) = c.slot_mut(slot) else {
                return;
            };
            let Some(tx) = coord.tx.as_mut() else { return };
            if tx.fast && tx.acquired + 1 == tx.shards.len() {
                if !replicating {
                    return self.lock_run_last(tok, slot);
                }
                // A replica attached since it started: see `start_tx_at`.
                tx.fast = false;
            }
            if tx.acquired == tx.shards.len() {
                let ops = tx.first_ops.take().unwrap_or_default();
                return self.dispatch_ops(tok, slot, ops);
            }
            let (shard, keys) = {
                let (s, k) = &tx.shards[tx.acquired];
                (*s, k.clone())
            };
            let op = ShardOp::Lock {
                txid: tx.txid,
                keys,
                wait: !(tx.out_of_order && shard < self.id),
            };
            if shard != self.id {
                return self.send_req(shard, tok, slot, LOCK_PART, op);
            }
            let reply = ReplyTo {
                from: self.id,
                conn: tok,
                slot,
                part: LOCK_PART,
            };
            match self.exec_or_park(op, reply) {
                Some(OpResult::Busy(_)) => return self.restart_in_order(tok, slot, None),
                Some(_) => {
                    if let Some((_, c)) = self.conn_by_token(tok) {
                        if let Some(Slot::Wait(coord)) = c.slot_mut(slot) {
                            if let Some(tx) = coord.tx.as_mut() {
                                tx.acquired += 1;
                            }
                        }
                    }
                }
                None => return,
            }
        }
    }

    /// Fast path, all shards but the last locked: the last one locks, runs
    /// its op and unlocks in one message; the others follow when it answers.
    fn lock_run_last(&mut self, tok: Token, slot: u64) {
        let Some((_, c)) = self.conn_by_token(tok) else {
            return;
        };
        let Some(Slot::Wait(coord)) = c.slot_mut(slot) else {
            return;
        };
        let Some(tx) = coord.tx.as_mut() else { return };
        let (last, keys) = {
            let (s, k) = &tx.shards[tx.acquired];
            (*s, k.clone())
        };
        let txid = tx.txid;
        let mut rest = Vec::new();
        let mut mine = None;
        for (part, (shard, op)) in tx
            .first_ops
            .take()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            if shard == last {
                mine = Some((part as u32, op));
            } else {
                rest.push((part as u32, shard, op));
            }
        }
        let Some((part, op)) = mine else { return };
        tx.fast_rest = Some(rest);
        tx.last_part = Some(part);
        let op = ShardOp::LockRun {
            txid,
            keys,
            op: Box::new(op),
            wait: !(tx.out_of_order && last < self.id),
        };
        if last != self.id {
            return self.send_req(last, tok, slot, part, op);
        }
        let reply = ReplyTo {
            from: self.id,
            conn: tok,
            slot,
            part,
        };
        if let Some(r) = self.exec_or_park(op, reply) {
            self.deliver(tok, slot, part, r);
        }
    }

    /// Release a transaction's locks on every shard it asked.
    fn unlock_all(&mut self, tx: &TxState) {
        for (shard, _) in &tx.shards {
            self.unlock_on(*shard, tx.txid);
        }
    }

    fn unlock_on(&mut self, shard: usize, txid: u64) {
        if shard == self.id {
            self.unlock(txid);
        } else {
            self.outbox[shard].push(Msg::Unlock { txid });
        }
    }

    /// Release locks here and run whatever was waiting for them.
    fn unlock(&mut self, txid: u64) {
        for w in self.shard.locks.release(txid) {
            let r = match w.what {
                Waiting::Lock { txid } => OpResult::Granted {
                    txid,
                    shard: self.id,
                },
                Waiting::LockRun { txid, op } => {
                    self.now = now_ms();
                    let before = crate::tracking::set_by(Some((w.reply.from, w.reply.conn)));
                    let r = self.exec_op(op);
                    crate::tracking::set_by(before);
                    self.unlock(txid);
                    r
                }
                Waiting::Op(op) => {
                    self.now = now_ms();
                    let before = crate::tracking::set_by(Some((w.reply.from, w.reply.conn)));
                    let r = self.exec_op(op);
                    crate::tracking::set_by(before);
                    r
                }
            };
            self.route(w.reply, r);
        }
    }

    /// Send a result to whoever asked, here or on another reactor.
    fn route(&mut self, to: ReplyTo, r: OpResult) {
        if to.from == self.id {
            self.deliver(to.conn, to.slot, to.part, r);
        } else {
            self.outbox[to.from].push(Msg::Resp(Response {
                conn: to.conn,
                slot: to.slot,
                part: to.part,
                result: r,
            }));
        }
    }

    /// Run an operation, unless it touches keys a transaction holds: then
    /// it waits in the shard's queue and its result is routed later.
    fn exec_or_park(&mut self, op: ShardOp, reply: ReplyTo) -> Option<OpResult> {
        // Its changes are the requester's (CLIENT TRACKING NOLOOP).
        if !crate::tracking::any() {
            return self.exec_or_park_as(op, reply);
        }
        let before = crate::tracking::set_by(Some((reply.from, reply.conn)));
        let r = self.exec_or_park_as(op, reply);
        crate::tracking::set_by(before);
        r
    }

    fn exec_or_park_as(&mut self, op: ShardOp, reply: ReplyTo) -> Option<OpResult> {
        match op {
            ShardOp::LockRun {
                txid,
                keys,
                op,
                wait,
            } => match self.shard.locks.lock_run(txid, keys, *op, reply, wait) {
                // Run at once: no lock was recorded, none to release.
                LockRunOutcome::Run(op) => Some(self.exec_op(op)),
                LockRunOutcome::Parked => None,
                LockRunOutcome::Busy(op) => Some(OpResult::Busy(Some(Box::new(op)))),
            },
            ShardOp::RunUnlock { txid, op } => {
                let r = self.exec_op(*op);
                self.unlock(txid);
                Some(r)
            }
            ShardOp::Lock { txid, keys, wait } => {
                let granted = if wait {
                    self.shard.locks.lock(txid, keys, reply)
                } else {
                    self.shard.locks.try_lock(txid, keys)
                };
                match (granted, wait) {
                    (true, _) => Some(OpResult::Granted {
                        txid,
                        shard: self.id,
                    }),
                    (false, true) => None,
                    (false, false) => Some(OpResult::Busy(None)),
                }
            }
            ShardOp::Exec { db, ref args, .. } | ShardOp::Attempt { db, ref args, .. }
                if !self.shard.locks.is_idle() =>
            {
                let mut keys = LockSet::new();
                let a = args.args();
                if let Some(cmd) = table::lookup(a.get(0)) {
                    keys.extend(cmd.keys_of(a).map(|i| lock_id(db, a.get(i))));
                }
                if self.shard.locks.blocked(&keys) {
                    self.shard.locks.park(keys, op, reply);
                    return None;
                }
                Some(self.exec_op(op))
            }
            ShardOp::Batch {
                ref cmds,
                in_tx: false,
                ..
            } if !self.shard.locks.is_idle() => {
                let mut keys = LockSet::new();
                for (db, args) in cmds {
                    let a = args.args();
                    if let Some(cmd) = table::lookup(a.get(0)) {
                        keys.extend(cmd.keys_of(a).map(|i| lock_id(*db, a.get(i))));
                    }
                }
                if self.shard.locks.blocked(&keys) {
                    self.shard.locks.park(keys, op, reply);
                    return None;
                }
                Some(self.exec_op(op))
            }
            op => Some(self.exec_op(op)),
        }
    }

    fn dispatch_ops(&mut self, tok: Token, slot: u64, ops: Vec<(usize, ShardOp)>) {
        if ops.is_empty() {
            return self.deliver(tok, slot, u32::MAX, OpResult::Unit);
        }
        for (part, (shard, op)) in ops.into_iter().enumerate() {
            if shard == self.id {
                let reply = ReplyTo {
                    from: self.id,
                    conn: tok,
                    slot,
                    part: part as u32,
                };
                if let Some(r) = self.exec_or_park(op, reply) {
                    self.deliver(tok, slot, part as u32, r);
                }
            } else {
                self.send_req(shard, tok, slot, part as u32, op);
            }
        }
    }

    fn send_req(&mut self, shard: usize, conn: Token, slot: u64, part: u32, op: ShardOp) {
        let from = self.id;
        self.outbox[shard].push(Msg::Req(Request {
            from,
            conn,
            slot,
            part,
            op: Box::new(op),
        }));
    }

    /// A part of a coordinated command finished (locally or remotely).
    fn deliver(&mut self, tok: Token, slot: u64, part: u32, r: OpResult) {
        let Some((idx, c)) = self.conn_by_token(tok) else {
            // The client is gone: a lock granted to its transaction must not
            // stay held.
            if let OpResult::Granted { txid, shard } = r {
                self.unlock_on(shard, txid);
            }
            return;
        };
        if part == LOCK_PART {
            if let OpResult::Busy(_) = r {
                return self.restart_in_order(tok, slot, None);
            }
            let granted = matches!(r, OpResult::Granted { .. });
            if let Some(Slot::Wait(coord)) = c.slot_mut(slot) {
                if let Some(tx) = coord.tx.as_mut() {
                    if granted {
                        tx.acquired += 1;
                    }
                }
            }
            return self.acquire_next(tok, slot);
        }
        let proto = c.client.proto;
        let Some((s, runs)) = c.slot_and_runs(slot) else {
            return;
        };
        if let Slot::Blocked = s {
            let out = match r {
                OpResult::Reply(b) => b,
                _ => Vec::new(),
            };
            return self.attempt_done(idx, out);
        }
        if let Slot::Remote = s {
            if let OpResult::Reply(b) = &r {
                if crate::scripting::is_retry(b) {
                    return self.retry_script(idx, Place::Replace(slot, false), b);
                }
            }
            *s = Slot::Ready(match r {
                OpResult::Reply(b) => b,
                _ => b"-ERR internal: unexpected shard reply\r\n".to_vec(),
            });
            return self.slot_done(idx, false);
        }
        let Slot::Wait(coord) = s else { return };
        if let OpResult::Busy(op) = r {
            return self.restart_in_order(tok, slot, op.map(|op| (part, *op)));
        }
        let all_in = part == u32::MAX || coord.record(part, r);
        // Fast path: the last shard answered, so every lock is held (its
        // own already released): the others run their op and unlock.
        let rest = match coord.tx.as_mut() {
            Some(tx) if tx.fast && tx.last_part == Some(part) => {
                tx.fast_rest.take().map(|r| (tx.txid, r))
            }
            _ => None,
        };
        // (A transaction on one shard has no others: the last shard's
        // answer is the whole result.)
        if let Some((txid, rest)) = rest.filter(|(_, r)| !r.is_empty()) {
            for (p, shard, op) in rest {
                let op = ShardOp::RunUnlock {
                    txid,
                    op: Box::new(op),
                };
                if shard == self.id {
                    let reply = ReplyTo {
                        from: self.id,
                        conn: tok,
                        slot,
                        part: p,
                    };
                    if let Some(r) = self.exec_or_park(op, reply) {
                        self.deliver(tok, slot, p, r);
                    }
                } else {
                    self.send_req(shard, tok, slot, p, op);
                }
            }
            return;
        }
        if !all_in {
            return;
        }
        let barrier = coord.barrier;
        if coord.out.capacity() == 0 {
            coord.out = runs.take();
        }
        match coord.complete(proto) {
            Some(ops) => self.dispatch_ops(tok, slot, ops),
            None if coord.block_attempt => {
                let out = std::mem::take(&mut coord.out);
                let tx = coord.tx.take();
                let replicate = coord.replicate.take();
                let writes = coord.writes;
                *s = Slot::Blocked;
                match replicate {
                    Some(what) => self.replicate_completed(*what, &out),
                    None if writes => self.write_missed(),
                    None => {}
                }
                if let Some(tx) = tx.filter(|t| !t.fast) {
                    self.unlock_all(&tx);
                }
                self.attempt_done(idx, out);
            }
            None => {
                let out = std::mem::take(&mut coord.out);
                let tx = coord.tx.take();
                let replicate = coord.replicate.take();
                let writes = coord.writes;
                if crate::scripting::is_retry(&out) {
                    // A script that met a key it did not declare: its run
                    // on copies is dropped, it starts over with that key.
                    if let Some(tx) = tx.filter(|t| !t.fast) {
                        self.unlock_all(&tx);
                    }
                    return self.retry_script(idx, Place::Replace(slot, barrier), &out);
                }
                // Appended before the locks go.
                match replicate {
                    Some(what) => self.replicate_completed(*what, &out),
                    None if writes => self.write_missed(),
                    None => {}
                }
                if let Some(s) = self.conn_mut(idx).and_then(|c| c.slot_mut(slot)) {
                    *s = Slot::Ready(out);
                }
                // The fast path's ops released their locks themselves.
                if let Some(tx) = tx.filter(|t| !t.fast) {
                    self.unlock_all(&tx);
                }
                self.slot_done(idx, barrier);
            }
        }
    }

    /// A slot became ready: move finished replies out, and resume parsing
    /// if this connection was paused on it.
    fn slot_done(&mut self, idx: u32, barrier: bool) {
        let Some(c) = self.conn_mut(idx) else { return };
        if barrier {
            c.barriers -= 1;
        }
        c.drain_ready();
        let resume = !c.inbuf.is_empty() && c.can_process();
        self.mark_dirty(idx);
        if self.processing > 0 {
            // Its unread input may be out of `inbuf` right now (it is the
            // connection being processed, or one that freed it): decided
            // by `drain_resumable` once that input is back.
            self.resumable.push_back(idx);
        } else if resume {
            self.resume(idx);
        }
        // A closed connection waiting for its last command can go now.
        if let Some(c) = self.conn_mut(idx) {
            if c.closing && c.slots.is_empty() {
                self.to_close.push(idx);
            }
        }
    }

    /// Run one keyed command on this shard, returning its reply.
    fn run_on_shard(&mut self, db: usize, proto: crate::protocol::Proto, a: Args) -> Vec<u8> {
        // Most replies are short (an integer, a small bulk): room for them
        // up front saves the two or three reallocations of growing from 0.
        let mut out = Vec::with_capacity(32);
        self.run_on_shard_into(db, proto, table::lookup(a.get(0)), a, &mut out);
        out
    }

    /// A `Msg::Cmd` from another reactor, with its arguments `a`: run it
    /// (or park it behind a transaction holding its keys) and queue its
    /// reply to that reactor.
    fn run_cmd_for(&mut self, m: &RemoteCmd, a: Args) {
        let RemoteCmd {
            from,
            conn,
            slot,
            db,
            proto,
            cmd,
            ..
        } = *m;
        if db >= self.shard.dbs.len() {
            // Cannot happen (SELECT checks the index), but the origin's
            // slot must be answered, never left waiting.
            if let Some(ob) = self.outbox.get_mut(from) {
                ob.push_reply(conn, slot, b"-ERR DB index is out of range\r\n");
            }
            return;
        }
        if !self.shard.locks.is_idle() {
            let keys: LockSet = cmd.keys_of(a).map(|i| lock_id(db, a.get(i))).collect();
            if self.shard.locks.blocked(&keys) {
                let op = ShardOp::Exec {
                    db,
                    proto,
                    args: OwnedArgs::from_args(a),
                };
                let reply = ReplyTo {
                    from,
                    conn,
                    slot,
                    part: 0,
                };
                return self.shard.locks.park(keys, op, reply);
            }
        }
        let mut out = std::mem::take(&mut self.remote_out);
        out.clear();
        if cmd.script {
            crate::scripting::allow_retry(true);
        }
        // Its changes are the requester's (CLIENT TRACKING NOLOOP).
        let tracked = crate::tracking::any();
        let before = if tracked {
            crate::tracking::set_by(Some((from, conn)))
        } else {
            None
        };
        let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
        self.run_on_shard_into(db, proto, Some(cmd), a, &mut out);
        let usec = timed.map(crate::slowlog::elapsed_us);
        if let Some(us) = usec.filter(|&us| crate::slowlog::is_slow(us)) {
            // Its client lives on another reactor: no address or name here.
            crate::slowlog::record(us, a, "", b"");
        }
        if tracked {
            crate::tracking::set_by(before);
        }
        crate::scripting::allow_retry(false);
        let failed = out.first() == Some(&b'-');
        if failed || usec.is_some() {
            self.counters.ran(table::stat_index(cmd, a), failed, usec);
        }
        if let Some(ob) = self.outbox.get_mut(from) {
            ob.push_reply(conn, slot, &out);
        }
        // Kept for the next reply, unless one big reply (a GET of a large
        // value) grew it: that room would stay allocated, and counted
        // against maxmemory, for good.
        if out.capacity() <= MAILBOX_KEEP_BYTES {
            self.remote_out = out;
        }
    }

    /// Replies to a connection's `Msg::Cmd`s came back: fill their slots,
    /// then settle the connection once.
    fn deliver_replies(&mut self, tok: Token, batch: &Batch, parts: std::ops::Range<usize>) {
        let Some((idx, c)) = self.conn_by_token(tok) else {
            return;
        };
        let mut filled = false;
        let mut retries = Vec::new();
        for (slot, reply) in batch.replies(parts) {
            if crate::scripting::is_retry(reply) {
                retries.push((slot, reply.to_vec()));
                continue;
            }
            filled |= c.fill_remote(slot, reply);
        }
        if filled {
            self.slot_done(idx, false);
        }
        for (slot, retry) in retries {
            self.retry_script(idx, Place::Replace(slot, false), &retry);
        }
    }

    fn run_on_shard_into(
        &mut self,
        db: usize,
        proto: crate::protocol::Proto,
        cmd: Option<&'static table::Command>,
        a: Args,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        if cmd.is_some_and(|c| c.script) {
            let oom = self.shared.memory.maxmemory() != 0 && self.over_maxmemory();
            crate::scripting::engine::set_oom(oom);
        }
        let mut ctx = Ctx {
            shard: &mut self.shard,
            db,
            now: self.now,
            r: Reply::new(out, proto),
            max_bulk: self.max_bulk,
        };
        match cmd.map(|c| c.kind) {
            Some(Kind::Keyed(f)) | Some(Kind::Multi(f, _)) => f(&mut ctx, a),
            // DEBUG OBJECT / DIGEST-VALUE: connection commands routed by key.
            _ if a.len() >= 3 && a.get(1).eq_ignore_ascii_case(b"digest-value") => {
                keys::debug_digest(&mut ctx, a.get(2))
            }
            _ if a.len() >= 3 => keys::debug_object(&mut ctx, a.get(2)),
            _ => ctx.r.error("ERR internal routing error"),
        }
        if self.shared.repl.primary.active() {
            if let Some(cmd) = cmd {
                let reply = out[start..].to_vec();
                self.replicate(cmd, db, a, &reply);
            }
        }
        if cmd.is_some_and(|c| c.script) {
            self.script_done();
        }
        if let Some(cmd) =
            cmd.filter(|c| c.is_write() && out.len() > start && out.get(start) != Some(&b'-'))
        {
            let unchanged = self.shard.dbs.get(db).is_some_and(|d| d.signals_changes())
                && changed_nothing(cmd, &out[start..]);
            touch_written(&mut self.shard, cmd, db, a, unchanged);
            self.signal_written(cmd, db, a);
        }
    }

    /// Run an operation another reactor (or this one) asked of this shard.
    pub(super) fn exec_op(&mut self, op: ShardOp) -> OpResult {
        let r = self.exec_op_inner(op);
        // Deletions by expiry during it are appended now, ahead of the
        // coordinator's append of the writes it is part of.
        self.replicate_deletions();
        r
    }

    fn exec_op_inner(&mut self, op: ShardOp) -> OpResult {
        let now = self.now;
        let shard = &mut self.shard;
        match op {
            // Only ever reached through `exec_or_park`, which takes locks.
            ShardOp::Lock { .. } | ShardOp::LockRun { .. } => OpResult::Unit,
            ShardOp::RunUnlock { txid, op } => {
                let r = self.exec_op(*op);
                self.unlock(txid);
                r
            }
            ShardOp::Watch { db, keys, flag } => {
                for k in keys.args().iter() {
                    self.shard.dbs[db].watch(k, flag.clone(), now);
                }
                OpResult::Unit
            }
            ShardOp::WatchExpired(w) => OpResult::Bool(w.failed(&self.shard.dbs, now)),
            ShardOp::Seq(ops) => OpResult::Seq(ops.into_iter().map(|o| self.exec_op(o)).collect()),
            ShardOp::Batch {
                proto,
                cmds,
                watch,
                in_tx,
            } => {
                if watch.is_some_and(|w| w.failed(&self.shard.dbs, now)) {
                    return OpResult::Bool(false);
                }
                self.replicate_batch(in_tx, |r| {
                    let mut replies = Vec::with_capacity(cmds.len());
                    for (db, args) in cmds {
                        let a = args.args();
                        let cmd = table::lookup(a.get(0));
                        let mut out = Vec::with_capacity(32);
                        r.run_on_shard_into(db, proto, cmd, a, &mut out);
                        if let Some(cmd) = cmd {
                            crate::callstats::record(cmd, a, out.first() == Some(&b'-'));
                        }
                        blocking::nil_if_blocked(cmd, &mut out, proto);
                        replies.push(out);
                    }
                    OpResult::Replies(replies)
                })
            }
            ShardOp::Exec { db, proto, args } => {
                // A parked command's reply goes to a `Slot::Remote`, which
                // takes a script's RETRY (see `deliver`).
                crate::scripting::allow_retry(true);
                let out = self.run_on_shard(db, proto, args.args());
                crate::scripting::allow_retry(false);
                OpResult::Reply(out)
            }
            ShardOp::Attempt {
                db,
                proto,
                args,
                attempt,
            } => {
                self.shard.attempt = Some(attempt);
                let out = self.run_on_shard(db, proto, args.args());
                self.shard.attempt = None;
                OpResult::Reply(out)
            }
            ShardOp::MGet { db, keys } => {
                let d = &mut shard.dbs[db];
                d.prefetch_keys(keys.args().iter());
                let mut buf = Vec::new();
                let mut items = Vec::with_capacity(keys.len());
                for k in keys.args().iter() {
                    items.push(match d.get(k, now, &mut shard.stats).map(|e| &e.value) {
                        Some(crate::types::Value::Str(s)) => {
                            let st = buf.len();
                            s.with_bytes(|b| buf.extend_from_slice(b));
                            Some(st..buf.len())
                        }
                        // MGET answers nil for keys of other types.
                        _ => None,
                    });
                }
                OpResult::Values(buf, items)
            }
            ShardOp::MSet { db, pairs } => {
                let a = pairs.args();
                shard.dbs[db].prefetch_keys(a.iter().step_by(2));
                for i in (0..a.len().saturating_sub(1)).step_by(2) {
                    let v =
                        crate::types::Value::Str(crate::types::StrVal::from_bytes(a.get(i + 1)));
                    shard.dbs[db].set(a.get(i), v, 0);
                    crate::notify::notify(crate::notify::STRING, "set", db, a.get(i));
                }
                OpResult::Spent(pairs)
            }
            ShardOp::AnyExists { db, keys } => OpResult::Bool(
                keys.args()
                    .iter()
                    .any(|k| shard.dbs[db].contains(k, now, &mut shard.stats)),
            ),
            ShardOp::Count { db, keys, mode } => {
                let mut n = 0;
                for k in keys.args().iter() {
                    n += i64::from(count_key(shard, db, k, mode, now));
                }
                OpResult::Int(n)
            }
            ShardOp::CountEach { db, keys, mode } => OpResult::Found(
                keys.args()
                    .iter()
                    .map(|k| count_key(shard, db, k, mode, now))
                    .collect(),
            ),
            ShardOp::Take {
                db,
                key,
                delete,
                behind,
            } => {
                if let Some(w) = behind {
                    let lk = crate::shard::dbkey::db_key(db, &key);
                    if shard.first_servable(&lk).is_some_and(|first| first != w) {
                        return OpResult::Taken(None);
                    }
                }
                let d = &mut shard.dbs[db];
                if d.get(&key, now, &mut shard.stats).is_none() {
                    return OpResult::Taken(None);
                }
                if delete {
                    OpResult::Taken(d.remove(&key).map(|e| (e.value, e.expire_at)))
                } else {
                    OpResult::Taken(
                        d.get(&key, now, &mut shard.stats)
                            .map(|e| (e.value.deep_clone(), e.expire_at)),
                    )
                }
            }
            ShardOp::Put {
                db,
                key,
                value,
                expire_at,
                nx,
            } => {
                let d = &mut shard.dbs[db];
                if nx && d.contains(&key, now, &mut shard.stats) {
                    return OpResult::Bool(false);
                }
                d.set(&key, value, expire_at);
                self.signal_key(db, &key);
                OpResult::Bool(true)
            }
            ShardOp::DbSize { db } => OpResult::Int(shard.dbs[db].len() as i64),
            ShardOp::Populate {
                db,
                count,
                prefix,
                size,
            } => {
                let (n, me) = (self.shared.nshards, self.id);
                let mut key = prefix;
                let stem = key.len();
                key.push(b':');
                let mut num = itoa::Buffer::new();
                for j in 0..count {
                    key.truncate(stem + 1);
                    key.extend_from_slice(num.format(j).as_bytes());
                    if key_shard(&key, n) != me {
                        continue;
                    }
                    let d = &mut self.shard.dbs[db];
                    if d.contains(&key, now, &mut self.shard.stats) {
                        continue;
                    }
                    // "value:N", or exactly `size` bytes of it, zero-padded.
                    let mut v = format!("value:{j}").into_bytes();
                    if let Some(size) = size {
                        v.resize(size, 0);
                    }
                    d.set(
                        &key,
                        crate::types::Value::Str(crate::types::StrVal::string(&v)),
                        0,
                    );
                }
                OpResult::Unit
            }
            ShardOp::Digest => {
                OpResult::Reply(crate::types::digest::dataset_digest(&shard.dbs, now).to_vec())
            }
            ShardOp::Reload => {
                for db in shard.dbs.iter_mut() {
                    reload_db(db, now);
                }
                OpResult::Unit
            }
            ShardOp::Keys { db, pattern } => {
                let all = pattern == b"*";
                let keys = shard.dbs[db]
                    .iter()
                    .filter(|(k, e)| {
                        (e.expire_at == 0 || e.expire_at > now)
                            && (all || crate::shard::pattern::glob_match(&pattern, k, false))
                    })
                    .map(|(k, _)| k.to_vec())
                    .collect();
                OpResult::Keys(keys)
            }
            ShardOp::Scan {
                db,
                pos,
                count,
                pattern,
                type_,
            } => {
                let mut keys = Vec::new();
                let pos = shard.dbs[db].scan(pos, count, now, &mut shard.stats, |k, e| {
                    if let Some(p) = &pattern {
                        if !crate::shard::pattern::glob_match(p, k, false) {
                            return;
                        }
                    }
                    if let Some(t) = &type_ {
                        if !t.eq_ignore_ascii_case(e.value.type_name().as_bytes()) {
                            return;
                        }
                    }
                    keys.push(k.to_vec());
                });
                OpResult::Scan { pos, keys }
            }
            ShardOp::RandomKey { db } => {
                OpResult::Key(shard.dbs[db].random_key(now, &mut shard.stats))
            }
            ShardOp::Flush { db } => {
                match db {
                    Some(d) => shard.dbs[d].clear(),
                    None => shard.dbs.iter_mut().for_each(|d| d.clear()),
                }
                self.invalidate_on_flush();
                OpResult::Unit
            }
            ShardOp::SwapDb { a, b } => {
                if a != b {
                    let (lo, hi) = (a.min(b), a.max(b));
                    let (left, right) = shard.dbs.split_at_mut(hi);
                    let (x, y) = (&mut left[lo], &mut right[0]);
                    x.touch_swapped(y, now);
                    y.touch_swapped(x, now);
                    shard.dbs.swap(a, b);
                    shard.dbs[a].id = a;
                    shard.dbs[b].id = b;
                    let (left, right) = shard.dbs.split_at_mut(hi);
                    left[lo].swap_watches(&mut right[0]);
                    // Clients blocked on a key of either database may now
                    // find data there (Redis's scanDatabaseForReadyKeys).
                    self.signal_dbs(&[a, b]);
                }
                OpResult::Unit
            }
            ShardOp::Stats => OpResult::Stats(Box::new(self.stats())),
            ShardOp::ResetStats => {
                self.reset_stats();
                OpResult::Unit
            }
            ShardOp::Snapshot => self.snapshot(),
            ShardOp::ClientList { id_filter } => {
                let mut s = String::new();
                for c in self.conns.iter().flatten() {
                    if c.closing {
                        continue;
                    }
                    if let Some(ids) = &id_filter {
                        if !ids.contains(&c.client.id) {
                            continue;
                        }
                    }
                    s.push_str(&c.client.info_line(
                        now,
                        c.inbuf.len(),
                        c.out.len(),
                        c.blocked.is_some(),
                    ));
                    s.push('\n');
                }
                OpResult::Text(s)
            }
            ShardOp::ClientKill { filter } => {
                let mut killed = Vec::new();
                let mut count = 0;
                for (i, c) in self.conns.iter_mut().enumerate() {
                    let Some(c) = c.as_mut().filter(|c| !c.closing) else {
                        continue;
                    };
                    if !filter.matches(c.client.id, &c.client.addr, &c.client.laddr) {
                        continue;
                    }
                    count += 1;
                    if c.client.id == filter.requester {
                        // Its reply first, as Redis's CLOSE_AFTER_REPLY.
                        c.close_after_flush = true;
                    } else {
                        killed.push(i as u32);
                    }
                }
                for i in killed {
                    self.close(i);
                }
                OpResult::Int(count)
            }
            ShardOp::ClientUnblock { id, error } => {
                OpResult::Int(self.client_unblock(id, error) as i64)
            }
            ShardOp::UnblockAll => OpResult::Int(self.unblock_all()),
        }
    }

    /// CONFIG RESETSTAT: what Redis's resetServerStats zeroes, here.
    fn reset_stats(&mut self) {
        let st = &mut self.shard.stats;
        st.expired_keys = 0;
        st.evicted_keys = 0;
        st.keyspace_hits = 0;
        st.keyspace_misses = 0;
        let k = &mut self.counters;
        k.total_connections = 0;
        k.rejected_connections = 0;
        k.total_commands = 0;
        k.net_input_bytes = 0;
        k.net_output_bytes = 0;
        k.cmd_calls.iter_mut().for_each(|c| *c = (0, 0));
        k.cmd_failed.iter_mut().for_each(|c| *c = 0);
        k.cmd_usec.iter_mut().for_each(|c| *c = 0);
        crate::errorstats::reset();
        crate::callstats::reset();
    }

    pub fn stats(&self) -> ShardStats {
        let mut cmd_calls = self.counters.cmd_calls.clone();
        let mut cmd_failed = self.counters.cmd_failed.clone();
        let cmd_usec = self.counters.cmd_usec.clone();
        crate::callstats::add_into(&mut cmd_calls, &mut cmd_failed);
        ShardStats {
            keyspace: self
                .shard
                .dbs
                .iter()
                .map(|d| (d.len(), d.expires_len()))
                .collect(),
            expired_keys: self.shard.stats.expired_keys,
            evicted_keys: self.shard.stats.evicted_keys,
            keyspace_hits: self.shard.stats.keyspace_hits,
            keyspace_misses: self.shard.stats.keyspace_misses,
            connected_clients: self.conns.iter().flatten().filter(|c| !c.closing).count(),
            blocked_clients: self
                .conns
                .iter()
                .flatten()
                .filter(|c| c.blocked.is_some())
                .count()
                + self.paused_count(),
            total_connections: self.counters.total_connections,
            total_commands: self.counters.total_commands,
            rejected_connections: self.counters.rejected_connections,
            net_input_bytes: self.counters.net_input_bytes,
            net_output_bytes: self.counters.net_output_bytes,
            wakes: self.shared.mailboxes[self.id].wakes.load(Ordering::Relaxed),
            tx_restarts: self.counters.tx_restarts,
            tx_folded: self.counters.tx_folded,
            cmd_calls,
            cmd_failed,
            cmd_usec,
            errors: crate::errorstats::snapshot(),
            memory_net: self.meter.net(),
        }
    }

    /// Drain this reactor's mailbox: run requests, deliver responses.
    pub fn drain_mailbox(&mut self) -> bool {
        let shared = self.shared.clone();
        let mb = &shared.mailboxes[self.id];
        let mut any = false;
        // Bounded so a flood of messages cannot starve the sockets.
        for _ in 0..64 {
            let Some(mut batch) = mb.pop() else { break };
            any = true;
            self.now = now_ms();
            self.prefetch_batch(&batch);
            let mut msgs = std::mem::take(&mut batch.msgs);
            for m in msgs.drain(..) {
                match m {
                    Msg::ReplPending => self.pump_replicas(),
                    Msg::Cmd(m) => {
                        if let Some(a) = batch.args(m.args.clone()) {
                            self.run_cmd_for(&m, a);
                        }
                    }
                    Msg::Message { conn, bytes } => {
                        if let Some(b) = batch.bytes.get(bytes) {
                            self.deliver_message(conn, b);
                        }
                    }
                    Msg::Track { key, tracker } => {
                        if let Some(k) = batch.bytes.get(key) {
                            crate::tracking::remember(k, tracker);
                        }
                    }
                    Msg::Invalidate {
                        tracker,
                        key,
                        redirected,
                    } => {
                        let k = key.and_then(|k| batch.bytes.get(k));
                        if redirected {
                            self.write_invalidation(tracker.conn, k, true);
                        } else {
                            self.deliver_invalidation(tracker, k);
                        }
                    }
                    Msg::Monitor { conn, line } => {
                        if let Some(l) = batch.bytes.get(line) {
                            self.deliver_monitor_line(conn, l);
                        }
                    }
                    Msg::Replies { conn, parts } => self.deliver_replies(conn, &batch, parts),
                    Msg::Req(Request {
                        from,
                        conn,
                        slot,
                        part,
                        op,
                    }) => {
                        let reply = ReplyTo {
                            from,
                            conn,
                            slot,
                            part,
                        };
                        if let Some(result) = self.exec_or_park(*op, reply) {
                            self.outbox[from].push(Msg::Resp(Response {
                                conn,
                                slot,
                                part,
                                result,
                            }));
                        }
                    }
                    Msg::Unlock { txid } => self.unlock(txid),
                    Msg::BlockOn {
                        what,
                        from,
                        conn,
                        id,
                        pops,
                    } => {
                        let (keys, serve) = *what;
                        self.register_waiter(keys, from, conn, id, pops, serve)
                    }
                    Msg::CancelWait {
                        from,
                        conn,
                        id,
                        slot,
                    } => self.cancel_wait(from, conn, id, slot),
                    Msg::Unblock {
                        keys,
                        from,
                        conn,
                        id,
                    } => self.unregister_waiter(&keys, from, conn, id),
                    Msg::KeyReady { conn, id } => self.on_key_ready(conn, id),
                    Msg::AdoptMaster(a) => self.adopt_master(*a),
                    Msg::Resp(Response {
                        conn,
                        slot,
                        part,
                        result,
                    }) => {
                        self.deliver(conn, slot, part, result);
                    }
                }
                self.serve_woken();
            }
            batch.msgs = msgs;
            self.recycle(batch);
        }
        any
    }

    /// Start the lookups of a batch's remote commands (their first key, as
    /// `parse_ahead` does for a local pipeline) before running any, so
    /// their cache misses overlap: a peer's batch holds a whole turn's
    /// commands for this shard.
    fn prefetch_batch(&self, batch: &Batch) {
        let mut started = [(0usize, 0u64); 16];
        let mut n = 0;
        for m in &batch.msgs {
            let Msg::Cmd(c) = m else { continue };
            let (Some(a), Some(d)) = (batch.args(c.args.clone()), self.shard.dbs.get(c.db)) else {
                continue;
            };
            if a.len() < 2 {
                continue;
            }
            started[n] = (c.db, d.prefetch_slot(a.get(1)));
            n += 1;
            if n == started.len() {
                self.prefetch_started(&started);
                n = 0;
            }
        }
        self.prefetch_started(&started[..n]);
    }

    fn prefetch_started(&self, started: &[(usize, u64)]) {
        for &(db, hash) in started {
            if let Some(d) = self.shard.dbs.get(db) {
                d.prefetch_entry(hash);
            }
        }
    }

    /// Keep a drained batch's allocation for an outbox of ours. Traffic
    /// between two reactors flows both ways (requests one way, responses
    /// back), so batches shuttle between them and a busy pair allocates
    /// none: a fresh Vec per target per turn, grown push by push (hundreds
    /// of messages a turn at -P 16, 128 bytes each then, 80 now), was ~4.5%
    /// of a reactor's time.
    fn recycle(&mut self, mut batch: Batch) {
        if batch.msgs.capacity() > MAILBOX_KEEP_CAPACITY {
            return;
        }
        batch.clear();
        // Bulk values (a pipelined load) are not worth keeping room
        // for: every shard keeps a few batches, and maxmemory counts them.
        if batch.bytes.capacity() > MAILBOX_KEEP_BYTES {
            batch.bytes = Vec::new();
        }
        if batch.ranges.capacity() > MAILBOX_KEEP_CAPACITY {
            batch.ranges = Vec::new();
        }
        if batch.replies.capacity() > MAILBOX_KEEP_CAPACITY {
            batch.replies = Vec::new();
        }
        if self.spare.len() < self.outbox.len() {
            self.spare.push(batch);
            return;
        }
        // Two reactors rarely take turns one for one: while one runs three
        // turns (three batches out) the other runs one (one batch back,
        // with every reply). Kept or dropped here, the surplus left the
        // first one allocating a fresh batch every 12-15 requests at
        // --threads 2 -P 1 (~90 instructions a request in allocation and
        // cross-thread frees): it goes back to the reactor that sent it.
        let origin = batch.origin;
        let batch = match self.shared.mailboxes.get(origin) {
            Some(mb) if origin != self.id => match mb.give_back(batch) {
                Ok(()) => return,
                Err(b) => b,
            },
            _ => batch,
        };
        // Full: keep the roomier batches. Dropping whichever came back last
        // threw away batches grown to a busy turn's size while fresh ones
        // grew again (reallocations into jemalloc's large classes, ~7-9k
        // instructions each).
        if let Some(small) = self
            .spare
            .iter_mut()
            .min_by_key(|b| b.msgs.capacity())
            .filter(|b| b.msgs.capacity() < batch.msgs.capacity())
        {
            *small = batch;
        }
    }

    /// Hand this turn's messages to their mailboxes, one batch and at most
    /// one wake per target (and a wake only if it is asleep). A full mailbox
    /// leaves the batch here for the next turn: backpressure, not loss.
    pub fn flush_outboxes(&mut self) {
        if crate::notify::pending() {
            self.publish_events();
        }
        if crate::tracking::pending() {
            for (t, keys) in crate::tracking::take_pending() {
                self.send_invalidation(t, Some(&keys));
            }
        }
        if self.shared.monitor_count.load(Ordering::Relaxed) > 0 {
            self.feed_script_monitors();
        }
        if !self.waits.is_empty() {
            self.check_waits();
        }
        if self.repl_pump {
            self.pump_replicas();
        }
        self.run_ready_waiters();
        for t in 0..self.outbox.len() {
            // Ring targets whose messages have waited a whole turn unrung.
            if self.unrung[t] > 0 {
                self.unrung[t] += 1;
                if self.unrung[t] > 2 {
                    self.ring(t);
                }
            }
            if self.outbox[t].is_empty() {
                continue;
            }
            let next = self
                .spare
                .pop()
                .or_else(|| self.shared.mailboxes[self.id].take_back())
                .unwrap_or_else(Batch::with_room);
            let mut batch = std::mem::replace(&mut self.outbox[t], next);
            batch.origin = self.id;
            match self.shared.mailboxes[t].push(batch) {
                Ok(()) => {}
                Err(batch) => {
                    self.outbox[t] = batch;
                    self.ring(t);
                    continue;
                }
            }
            if self.unrung[t] == 0 {
                self.unrung[t] = 1;
            }
        }
    }

    fn ring(&mut self, t: usize) {
        self.unrung[t] = 0;
        let mb = &self.shared.mailboxes[t];
        if mb.claim_wake() {
            self.wakes.push(mb.efd);
        }
    }

    /// Eventfds this turn must write to wake sleeping peers. The driver
    /// delivers them before it next blocks: io_uring as write SQEs riding the
    /// enter it makes anyway (no syscall of their own), epoll with write(2).
    pub fn take_wakes(&mut self) -> std::vec::Drain<'_, std::os::fd::RawFd> {
        self.wakes.drain(..)
    }

    /// Called by the driver just before it sleeps: wake every target that
    /// has unrung messages. Deferring the wake to here (or to the end of the
    /// next turn at the latest) lets a busy reactor hand over bigger batches,
    /// and when reactors share a CPU it avoids waking a peer that would
    /// preempt this one mid-turn only to handle a handful of requests.
    pub fn wake_before_sleep(&mut self) {
        for t in 0..self.unrung.len() {
            if self.unrung[t] > 0 {
                self.ring(t);
            }
        }
    }

    pub fn has_outbox(&self) -> bool {
        !self.ready_local.is_empty()
            || !self.ready_remote.is_empty()
            || self.outbox.iter().any(|o| !o.is_empty())
    }

    /// Periodic work (10 Hz): active expiry.
    pub fn tick(&mut self) {
        self.now = now_ms();
        self.expire_blocked();
        self.close_idle_clients();
        if self.shared.active_expire.load(Ordering::Relaxed) {
            self.shard
                .active_expire(self.now, std::time::Duration::from_millis(25));
        }
        self.replicate_deletions();
        self.replica_tick();
        self.check_waits();
    }

    /// `timeout N`: close clients idle for more than N seconds, except
    /// blocked ones (their own timeout governs them) and the master
    /// connection (idle while the master is), as Redis's
    /// clientsCronHandleTimeout.
    fn close_idle_clients(&mut self) {
        let secs = self.shared.config().int("timeout", 0);
        if secs <= 0 {
            return;
        }
        let limit = (secs as u64).saturating_mul(1000);
        let now = self.now;
        let idle: Vec<u32> = self
            .conns_iter()
            .filter(|(_, c)| {
                !c.closing
                    && c.blocked.is_none()
                    && c.client.master == 0
                    && c.slots.is_empty()
                    && now.saturating_sub(c.client.last_interaction_ms) > limit
            })
            .map(|(i, _)| i)
            .collect();
        for idx in idle {
            log::info!("Closing idle client");
            self.close(idx);
        }
    }

    /// Called by the driver after a send completed: account bytes.
    pub fn on_sent(&mut self, n: usize) {
        self.counters.net_output_bytes += n as u64;
    }

    /// Output is done for a connection: close it if it asked to be closed.
    pub fn after_flush(&mut self, idx: u32) {
        if let Some(c) = self.conn(idx) {
            if c.close_after_flush && c.out.is_empty() && c.slots.is_empty() && !c.send_inflight {
                self.close(idx);
            }
        }
    }

    pub(crate) fn conns_iter(&self) -> impl Iterator<Item = (u32, &Conn)> {
        self.conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i as u32, c)))
    }

    /// Start the keyspace lookups of the commands just received on `idx`
    /// (their first key, at most `PREFETCH_PER_CONN` commands) before any
    /// of them runs, so the cache misses of a batch overlap instead of
    /// following one another. Call `prefetch_entries` once the whole batch
    /// has been noted. A hint only: anything unusual is skipped. Keys of
    /// other shards are not filtered out: telling which they are costs a
    /// CRC16 (~66 instructions) that routing computes again anyway, more
    /// than the wasted lookup hint (callgrind, --threads 2, GET -P 16:
    /// 1957 -> 1879 instructions per request).
    pub fn prefetch(&mut self, idx: u32, data: &[u8]) {
        let Some(c) = self.conn(idx) else { return };
        if !c.inbuf.is_empty() {
            return;
        }
        let db = c.client.db;
        let Some(d) = self.shard.dbs.get(db) else {
            return;
        };
        let mut rest = data;
        for _ in 0..PREFETCH_PER_CONN {
            let Some((key, next)) = crate::protocol::parser::peek_command(rest) else {
                break;
            };
            if let Some(key) = key {
                if self.prefetched.len() < PREFETCH_MAX {
                    self.prefetched.push((db, d.prefetch_slot(key)));
                }
            }
            rest = next;
        }
    }

    pub fn prefetch_entries(&mut self) {
        for &(db, hash) in &self.prefetched {
            if let Some(d) = self.shard.dbs.get(db) {
                d.prefetch_entry(hash);
            }
        }
        self.prefetched.clear();
    }

    pub fn open_conns(&self) -> usize {
        self.conns.len() - self.free.len()
    }
}

/// One key of DEL/UNLINK/EXISTS/TOUCH: is it there (and, deleting, gone now)?
#[inline]
/// DEBUG RELOAD on one database: each value through its serialized form
/// and back (so encodings are those a load chooses), TTLs kept, keys
/// already expired dropped (as loading a snapshot as a master does).
fn reload_db(db: &mut crate::shard::Db, now: u64) {
    let keys: Vec<Vec<u8>> = db.iter().map(|(k, _)| k.to_vec()).collect();
    for k in keys {
        let Some(e) = db.peek(&k) else { continue };
        if e.expire_at != 0 && e.expire_at <= now {
            db.remove(&k);
            continue;
        }
        let payload = crate::rdb::dump(&e.value);
        if let Ok(v) = crate::rdb::restore(&payload) {
            db.set_keep_ttl(&k, v);
        }
    }
}

fn count_key(shard: &mut Shard, db: usize, k: &[u8], mode: CountMode, now: u64) -> bool {
    let Some(d) = shard.dbs.get_mut(db) else {
        return false;
    };
    let found = match mode {
        CountMode::Touch => d.get(k, now, &mut shard.stats).is_some(),
        CountMode::Look | CountMode::Delete | CountMode::Drop => {
            d.contains(k, now, &mut shard.stats)
        }
    };
    if found && matches!(mode, CountMode::Delete | CountMode::Drop) {
        d.remove(k);
        if mode == CountMode::Delete {
            crate::notify::notify(crate::notify::GENERIC, "del", db, k);
        }
    }
    found
}

/// `touch_written` for a write a script ran (`reply`: its reply).
pub fn touch_written_by(shard: &mut Shard, cmd: &Command, db: usize, a: Args, reply: &[u8]) {
    let unchanged = shard.dbs[db].signals_changes() && changed_nothing(cmd, reply);
    touch_written(shard, cmd, db, a, unchanged);
}

/// After a successful write command that may change values in place
/// (INCR, APPEND, HSET...): WATCHers of its keys must see the change.
/// `unchanged`: its reply shows it changed nothing (`changed_nothing`).
fn touch_written(shard: &mut Shard, cmd: &Command, db: usize, a: Args, unchanged: bool) {
    if cmd.is_write()
        && !unchanged
        && shard.dbs[db].signals_changes()
        && cmd.watch != WatchTouch::Precise
    {
        for i in cmd.keys_of(a) {
            shard.dbs[db].touch(a.get(i));
        }
    }
}

/// Whether a write command's reply shows it changed nothing, for the
/// commands whose replies tell (`Command::watch`). A blocking pop's
/// attempt that found nothing wrote no reply at all.
fn changed_nothing(cmd: &Command, reply: &[u8]) -> bool {
    match reply {
        [] => true,
        // LINSERT answers -1 when the pivot was not found.
        b":0\r\n" | b":-1\r\n" => cmd.watch == WatchTouch::UnlessZero,
        b"$-1\r\n" | b"*-1\r\n" | b"_\r\n" | b"*0\r\n" | b"~0\r\n" => {
            cmd.watch == WatchTouch::UnlessNone
        }
        _ => false,
    }
}

/// A command's keys, each once.
pub(crate) fn distinct_keys(cmd: &Command, args: Args) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for i in cmd.keys_of(args) {
        let k = args.get(i);
        if !keys.iter().any(|x| x == k) {
            keys.push(k.to_vec());
        }
    }
    keys
}

const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// A RESP2 client in subscribed mode may only send Pub/Sub commands, PING,
/// QUIT and RESET: refuse anything else (true when refused). Out of line:
/// every command passes this check.
#[cold]
#[inline(never)]
fn not_while_subscribed(c: &mut Conn, cmd: &Command) -> bool {
    if c.client.proto != crate::protocol::Proto::Resp2
        || crate::commands::pubsub::allowed_while_subscribed(cmd.name)
    {
        return false;
    }
    let msg = format!(
        "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        cmd.name
    );
    reject(c, false, &msg);
    true
}

fn enough_replicas(shared: &Shared, now: u64) -> bool {
    let (min, lag) = {
        let cfg = shared.config();
        (
            cfg.int("min-replicas-to-write", 0).max(0) as usize,
            cfg.int("min-replicas-max-lag", 10).max(0) as u64,
        )
    };
    shared.repl.primary.good_replicas(now, lag) >= min
}

/// Refuse a command (Redis's rejectCommand): inside MULTI the transaction
/// is doomed, and a refused EXEC (`abort_exec`) discards it with
/// EXECABORT naming the reason.
fn reject(c: &mut Conn, abort_exec: bool, err: &str) {
    let proto = c.client.proto;
    if abort_exec {
        c.client.multi = None;
        c.client.watch = None;
        let msg = format!("EXECABORT Transaction discarded because of: {err}");
        return Reply::new(c.reply_buf(), proto).error(&msg);
    }
    if let Some(m) = c.client.multi.as_mut() {
        m.error = true;
    }
    Reply::new(c.reply_buf(), proto).error(err);
}

/// The part number of lock grants in a coordinator's slot.
const LOCK_PART: u32 = u32::MAX - 1;

/// A multi-key command's locks, grouped by shard (`start_tx` orders them).
fn lock_keys(cmd: &Command, args: Args, db: usize, nshards: usize) -> Vec<(usize, LockSet)> {
    let mut by_shard: Vec<(usize, LockSet)> = Vec::with_capacity(2);
    // Every argument but the name, an upper bound on the keys: room for
    // them all at the first key of a shard, without a second walk of them.
    let room = args.len().saturating_sub(1);
    for i in cmd.keys_of(args) {
        crate::tx::locks::add_lock_sized(&mut by_shard, nshards, db, args.get(i), room);
    }
    by_shard
}

fn sock_name(fd: i32, peer: bool) -> String {
    // SAFETY: sockaddr_storage is large enough for any address family.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let p = &mut ss as *mut _ as *mut libc::sockaddr;
        let rc = if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        };
        if rc != 0 {
            return String::from("?:0");
        }
        match ss.ss_family as i32 {
            libc::AF_INET => {
                let a = &*(p as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                format!("{}:{}", ip, u16::from_be(a.sin_port))
            }
            libc::AF_INET6 => {
                let a = &*(p as *const libc::sockaddr_in6);
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                // Redis's form (anetFormatAddr): brackets around IPv6.
                format!("[{}]:{}", ip, u16::from_be(a.sin6_port))
            }
            _ => String::from("?:0"),
        }
    }
}

/// One MONITOR line, as Redis writes it: a status reply with the time,
/// the database and client address, then each argument quoted and escaped
/// (`"set" "k" "a\x00b"`).
fn monitor_line(db: usize, addr: &str, name: &str, args: Args) -> Vec<u8> {
    use std::io::Write;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(64);
    let _ = write!(
        out,
        "+{}.{:06} [{db} {addr}]",
        now.as_secs(),
        now.subsec_micros()
    );
    // Credentials never reach a monitor (Redis redacts them): every
    // argument of AUTH, the user and password after HELLO's AUTH.
    let redacted = match name {
        "auth" => 1..usize::MAX,
        "hello" => args
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"auth"))
            .map_or(0..0, |i| i + 1..i + 3),
        _ => 0..0,
    };
    for (i, a) in args.iter().enumerate() {
        out.push(b' ');
        if redacted.contains(&i) {
            out.extend_from_slice(b"\"(redacted)\"");
            continue;
        }
        out.push(b'"');
        for &b in a {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                7 => out.extend_from_slice(b"\\a"),
                8 => out.extend_from_slice(b"\\b"),
                b if b.is_ascii_graphic() || b == b' ' => out.push(b),
                b => {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn reactors(n: usize) -> (Arc<Shared>, Vec<Reactor>) {
        let cfg = Config {
            threads: n,
            ..Config::default()
        };
        let shared = Arc::new(Shared::new(cfg, "test").expect("eventfds"));
        let rs = (0..n).map(|i| Reactor::new(i, shared.clone())).collect();
        (shared, rs)
    }

    /// One reactor sends three turns' batches while its peer runs one
    /// turn: the peer keeps what its outboxes need and hands the rest
    /// back, and the sender reuses them instead of allocating.
    #[test]
    fn surplus_batches_go_back_to_the_reactor_that_sent_them() {
        let (shared, mut rs) = reactors(2);
        let (a, b) = rs.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        for _ in 0..3 {
            a.outbox[1].push(Msg::Unlock { txid: 0 });
            a.flush_outboxes();
        }
        assert!(a.spare.is_empty());
        assert!(b.drain_mailbox());
        assert_eq!(b.spare.len(), b.outbox.len(), "kept what it can use");
        let back = shared.mailboxes[0].take_back();
        assert!(back.as_ref().is_some_and(|b| b.is_empty() && b.origin == 0));
        assert!(shared.mailboxes[0].take_back().is_none());
        assert!(shared.mailboxes[1].take_back().is_none());
        // Given back again, it is the next batch the sender fills.
        if let Some(batch) = back {
            let _ = shared.mailboxes[0].give_back(batch);
        }
        a.outbox[1].push(Msg::Unlock { txid: 0 });
        a.flush_outboxes();
        assert!(shared.mailboxes[0].take_back().is_none(), "reused");
    }
}
