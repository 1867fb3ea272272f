//! The reactor core: one per thread, owning its connections and its shard.
//! It is driven by an I/O driver (`io::uring`, `io::epoll`) that tells it
//! what arrived and asks it what to send; it knows nothing of command
//! semantics beyond the table's routing information.
//!
//! This file holds the reactor's state and its connections' life cycle;
//! a request's path runs through `input` (parse a batch, run it in order),
//! `dispatch` (check and route one command), `fold` (a pipeline's
//! multi-key commands as one transaction), `coordinate` (cross-shard plans
//! and transactions, as their coordinator), `shard_work` (what other
//! reactors ask of this shard) and `inbox` (the mailboxes between them).

pub mod blocking;
pub mod client;
pub mod conn;
mod coordinate;
mod dispatch;
mod exec;
mod fold;
mod inbox;
mod input;
pub mod mailbox;
mod master_link;
mod maxmemory;
mod monitor;
mod pause;
mod pubsub;
mod replicate;
mod script;
mod shard_work;
mod tracking;

use crate::commands::table::{self, Command};
use crate::protocol::{Args, Parser};
use crate::server::{now_ms, Shared};
use crate::shard::Shard;
use crate::tx::fanout::{self};
use crate::tx::ops::ShardStats;
use crate::tx::{Batch, Token};
use client::Client;
use conn::Conn;
use fold::PendingFold;
use input::ParsedAhead;
pub use shard_work::touch_written_by;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
    /// Argument lists of finished fan-out parts, for the next folds.
    spare_args: crate::tx::spares::SpareArgs,
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
    /// INFO's instantaneous rates, sampled on `tick`.
    pub rates: crate::instant::Rates,
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
            spare_args: Default::default(),
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
            rates: Default::default(),
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
        let (tracking_keys, tracking_items) = crate::tracking::table_counts();
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
            instant_ops: self.rates.commands.per_sec(),
            instant_input: self.rates.net_input.per_sec(),
            instant_output: self.rates.net_output.per_sec(),
            tracking_keys,
            tracking_items,
            tracking_clients: self
                .conns
                .iter()
                .flatten()
                .filter(|c| c.client.tracking.is_some() && !c.closing)
                .count(),
            cmd_calls,
            cmd_failed,
            cmd_usec,
            errors: crate::errorstats::snapshot(),
            memory_net: self.meter.net(),
            client_buffers: self
                .conns
                .iter()
                .flatten()
                .map(|c| (c.inbuf.capacity() + c.out.capacity() + c.sending.capacity()) as u64)
                .sum(),
            db_overhead: self.shard.dbs.iter().map(|d| d.overhead()).collect(),
        }
    }

    /// Periodic work (10 Hz): active expiry (a latency monitor sample when
    /// it was slow), timeouts, and on reactor 0 the memory peak.
    pub fn tick(&mut self) {
        self.now = now_ms();
        // DEBUG PAUSE-CRON stops what Redis's serverCron does; blocked
        // clients' and WAIT's timeouts (outside Redis's cron) and the
        // replication link go on.
        let cron = !self.shared.pause_cron.load(Ordering::Relaxed);
        if cron {
            self.rates
                .commands
                .sample(self.now, self.counters.total_commands);
            self.rates
                .net_input
                .sample(self.now, self.counters.net_input_bytes);
            self.rates
                .net_output
                .sample(self.now, self.counters.net_output_bytes);
            crate::tracking::enforce_max_keys();
        }
        self.expire_blocked();
        if cron {
            self.close_idle_clients();
        }
        if cron && self.shared.active_expire.load(Ordering::Relaxed) {
            let timed = crate::latency::enabled().then(std::time::Instant::now);
            self.shard
                .active_expire(self.now, std::time::Duration::from_millis(25));
            if let Some(t) = timed {
                crate::latency::sample("expire-cycle", t.elapsed().as_millis() as u64);
            }
        }
        self.replicate_deletions();
        self.replica_tick();
        self.check_waits();
        if cron && self.id == 0 {
            let used = self.shared.memory.used(self.id, self.meter.net());
            crate::memory::note_peak(used);
        }
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

    pub fn open_conns(&self) -> usize {
        self.conns.len() - self.free.len()
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
