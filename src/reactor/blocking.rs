//! Blocked clients (BLPOP & co). The command's handler is the non-blocking
//! attempt; when it writes nothing the client blocks: its reply slot waits,
//! the connection parses nothing more, and the shard owning its keys
//! records it as a waiter on each key. Any write to such a key sends the
//! waiters a `KeyReady`, in arrival order; each retries the same handler on
//! that shard (so the pop is an ordinary atomic shard operation), and the
//! first to find an element is served, the others keep waiting. Timeouts
//! are answered when due (the earliest deadline bounds the driver's
//! sleep). A client that disconnects, or a blocked command inside EXEC
//! (which never blocks), leaves nothing behind.

use super::coordinate::lock_keys;
use super::{distinct_keys, token, Reactor};
use crate::commands::blocking::{timeout_index, timeout_ms, timeout_reply};
use crate::commands::table::Command;
use crate::commands::table::{self, Kind};
use crate::protocol::{Args, Proto, Reply};
use crate::shard::dbkey::{db_key, group_db_key, split_db_key};
use crate::shard::Pops;
use crate::tx::fanout::{self, GatherEnv};
use crate::tx::{Msg, OpResult, OwnedArgs, ServeAt, ShardOp, Token};

use super::conn::Slot;

pub struct Blocked {
    pub id: u64,
    pub args: OwnedArgs,
    pub db: usize,
    pub proto: Proto,
    pub name: &'static str,
    /// Unix ms; 0 = forever.
    pub deadline: u64,
    /// The shard its attempts run on, or `SPANNING` when its keys live on
    /// several shards (each attempt is then a locked cross-shard step).
    pub shard: usize,
    /// The db keys waited on (`shard::dbkey`), grouped by the shard that
    /// holds them.
    pub waits: Vec<(usize, OwnedArgs)>,
    pub slot: u64,
    /// An attempt is in flight (its result decides).
    pub retrying: bool,
    /// A key became ready while an attempt was in flight: if that attempt
    /// finds nothing, try again (the data may have arrived after it looked).
    pub again: bool,
    /// An attempt was made: later ones are retries (see `Shard::attempt`).
    pub tried: bool,
    /// CLIENT UNBLOCK arrived during an attempt: the reply to give if that
    /// attempt finds nothing (if it pops, the element is the reply).
    pub cancel: Option<Vec<u8>>,
    /// A `Msg::CancelWait` went to the shard serving it: its answer, not
    /// an attempt's, decides.
    pub cancel_sent: bool,
    /// Microseconds its first run took here (0 if not timed, or run on
    /// another shard): the slow log judges a blocked command when it is
    /// served, as Redis 7.0's does (its time there also counts the run
    /// that served it).
    pub usec: u64,
}

impl Blocked {
    /// Its keys all live on another reactor's shard, which serves it
    /// (`Reactor::serve_remote`) and decides its timeout.
    fn served_by_shard(&self, me: usize) -> bool {
        self.shard != me && self.shard != SPANNING
    }
}

/// The lock ids of a command's keys (as `exec_or_park` computes them).
fn command_lock_keys(db: usize, args: &OwnedArgs) -> Option<crate::tx::locks::LockSet> {
    let a = args.args();
    let cmd = table::lookup(a.get(0))?;
    Some(
        cmd.keys_of(a)
            .map(|i| crate::tx::locks::lock_id(db, a.get(i)))
            .collect(),
    )
}

/// Shard side: a blocked client of another reactor whose keys all live on
/// this shard, with its command (`Msg::BlockOn`'s `serve`).
pub struct Served {
    pub keys: OwnedArgs,
    pub at: ServeAt,
    /// Served here when woken (else asked to retry: see `serve_remote`).
    pub here: bool,
}

/// How many of a blocking command's keys, first in order, it waits on (pops
/// from): BLMOVE/BRPOPLPUSH's destination is written, not waited on.
fn waited_keys(cmd: &Command) -> usize {
    if matches!(cmd.name, "blmove" | "brpoplpush") {
        1
    } else {
        usize::MAX
    }
}

/// `Blocked::shard` of a command whose keys span shards.
pub const SPANNING: usize = usize::MAX;

impl Reactor {
    /// Block `idx` on a blocking command whose attempt wrote nothing.
    /// `slot`: a reply slot already opened for it, or None to open one.
    pub(super) fn block(
        &mut self,
        idx: u32,
        cmd: &'static Command,
        args: Args,
        db: usize,
        shard: usize,
        slot: Option<u64>,
    ) {
        let now = self.now;
        let id = self.next_block_id();
        let nshards = self.shared.nshards;
        let Some(c) = self.conn_mut(idx) else { return };
        if c.closing {
            // A command read before the client hung up still runs, but
            // nobody is left to wait for: blocking now would pin the
            // connection (and its waiter entries) forever.
            if let Some(s) = slot.and_then(|s| c.slot_mut(s)) {
                *s = Slot::Ready(Vec::new());
                self.slot_done(idx, false);
            }
            return;
        }
        let deadline = match timeout_ms(args.get(timeout_index(cmd.name, args.len()))) {
            Ok(0) | Err(_) => 0,
            Ok(ms) => now + ms,
        };
        if deadline != 0 && (self.next_deadline == 0 || deadline < self.next_deadline) {
            self.next_deadline = deadline;
        }
        let Some(c) = self.conn_mut(idx) else { return };
        // Wait on the keys popped from: BLMOVE/BRPOPLPUSH's destination
        // is written, not waited on.
        let mut waits: Vec<(usize, OwnedArgs)> = Vec::new();
        for i in cmd.keys_of(args).take(waited_keys(cmd)) {
            group_db_key(&mut waits, nshards, db, args.get(i));
        }
        let slot = match slot {
            Some(s) => s,
            None => c.push_blocked(),
        };
        if let Some(s) = c.slot_mut(slot) {
            *s = Slot::Blocked;
        }
        if c.blocked.is_none() {
            c.barriers += 1;
        }
        let proto = c.client.proto;
        let tok = token(idx, c.gen);
        c.blocked = Some(Box::new(Blocked {
            id,
            args: OwnedArgs::from_args(args),
            db,
            proto,
            name: cmd.name,
            deadline,
            shard,
            waits: waits.clone(),
            slot,
            retrying: false,
            again: false,
            tried: false,
            cancel: None,
            cancel_sent: false,
            usec: 0,
        }));
        let from = self.id;
        let pops = Pops::of(cmd.name);
        // All its keys on one other shard: that shard tries and serves it.
        let serves = shard != self.id && shard != SPANNING;
        for (s, keys) in waits {
            if s == self.id {
                self.register_waiter(keys, from, tok, id, pops, None);
            } else {
                let serve = serves.then(|| ServeAt {
                    args: OwnedArgs::from_args(args),
                    db,
                    proto,
                    slot,
                });
                self.outbox[s].push(Msg::BlockOn {
                    what: Box::new((keys, serve)),
                    from,
                    conn: tok,
                    id,
                    pops,
                });
            }
        }
    }

    /// Block the client on `shard`'s keys, then make its first try (which
    /// waits behind any transaction holding them, like any command).
    pub(super) fn block_and_try(
        &mut self,
        idx: u32,
        cmd: &'static Command,
        args: Args,
        db: usize,
        shard: usize,
    ) {
        self.block(idx, cmd, args, db, shard, None);
        let Some(c) = self.conn(idx) else { return };
        let Some(id) = c.blocked.as_ref().map(|b| b.id) else {
            return;
        };
        let tok = token(idx, c.gen);
        self.on_key_ready(tok, id);
    }

    fn next_block_id(&mut self) -> u64 {
        self.block_seq += 1;
        self.block_seq
    }

    /// Shard side: record a waiter; if a key already has data (written
    /// between the attempt and this registration), wake it at once. A
    /// waiter sent with its command (`serve`) gets its first try here and
    /// now, answered to its reactor whatever it finds.
    pub(super) fn register_waiter(
        &mut self,
        keys: OwnedArgs,
        from: usize,
        conn: Token,
        id: u64,
        pops: Pops,
        serve: Option<ServeAt>,
    ) {
        for k in keys.args().iter() {
            self.shard
                .waiters
                .entry(k.to_vec())
                .or_default()
                .push(((from, conn, id), pops));
        }
        if let Some(at) = serve {
            let waiter = (from, conn, id);
            let op = ShardOp::Attempt {
                db: at.db,
                proto: at.proto,
                args: at.args.clone(),
                attempt: crate::shard::Attempt {
                    waiter,
                    retry: false,
                },
            };
            let reply = crate::tx::locks::ReplyTo {
                from,
                conn,
                slot: at.slot,
                part: 0,
            };
            let park_keys = self.blocking_locks(at.db, &at.args);
            let locked = park_keys.is_some();
            self.served_here.insert(
                waiter,
                Served {
                    keys: keys.clone(),
                    at,
                    // Behind a transaction the try waits in the lock queue
                    // and the client retries as before (see `serve_remote`).
                    here: !locked,
                },
            );
            if let Some(lock_keys) = park_keys {
                self.shard.locks.park(lock_keys, op, reply);
            } else if let OpResult::Reply(out) = self.exec_op(op) {
                if !out.is_empty() {
                    self.unregister_waiter(&keys, from, conn, id);
                }
                self.answer_waiter(waiter, reply.slot, out);
                return;
            }
        }
        for k in keys.args().iter() {
            self.wake_first(k);
        }
    }

    /// The lock ids of a command's keys if a transaction holds (or waits
    /// for) any of them: the command must wait its turn.
    fn blocking_locks(&self, db: usize, args: &OwnedArgs) -> Option<crate::tx::locks::LockSet> {
        if self.shard.locks.is_idle() {
            return None;
        }
        command_lock_keys(db, args).filter(|k| self.shard.locks.blocked(k))
    }

    fn answer_waiter(&mut self, waiter: crate::shard::Waiter, slot: u64, out: Vec<u8>) {
        let (to, conn, _) = waiter;
        if let Some(ob) = self.outbox.get_mut(to) {
            ob.push(Msg::Resp(crate::tx::Response {
                conn,
                slot,
                part: 0,
                result: OpResult::Reply(out),
            }));
        }
    }

    /// Serve a woken waiter of another reactor on this shard, right after
    /// the command that fed it, as Redis does: no command can come between
    /// the push and the pop. Its answer goes to its reactor as the reply
    /// of its blocked slot. Behind a transaction's locks it is asked to
    /// retry instead, as before, and from then on always is: a try of its
    /// own may be on its way, and two must never both pop.
    fn serve_remote(&mut self, waiter: crate::shard::Waiter) {
        let Some(sv) = self.served_here.get(&waiter).filter(|sv| sv.here) else {
            return;
        };
        let (db, proto, slot) = (sv.at.db, sv.at.proto, sv.at.slot);
        if self.blocking_locks(db, &sv.at.args).is_some() {
            if let Some(sv) = self.served_here.get_mut(&waiter) {
                sv.here = false;
            }
            let (to, conn, id) = waiter;
            self.outbox[to].push(Msg::KeyReady { conn, id });
            return;
        }
        let op = ShardOp::Attempt {
            db,
            proto,
            args: sv.at.args.clone(),
            attempt: crate::shard::Attempt {
                waiter,
                retry: true,
            },
        };
        let OpResult::Reply(out) = self.exec_op(op) else {
            return;
        };
        if out.is_empty() {
            return;
        }
        if let Some(keys) = self.served_here.get(&waiter).map(|sv| sv.keys.clone()) {
            self.unregister_waiter(&keys, waiter.0, waiter.1, waiter.2);
        }
        self.answer_waiter(waiter, slot, out);
    }

    /// A waiter's reactor gave up on it (timeout, CLIENT UNBLOCK): forget
    /// it, and answer its slot with nothing (its reactor then gives its
    /// own answer). Served already, its element went out before this.
    pub(super) fn cancel_wait(&mut self, from: usize, conn: Token, id: u64, slot: u64) {
        if let Some(keys) = self
            .served_here
            .get(&(from, conn, id))
            .map(|sv| sv.keys.clone())
        {
            self.unregister_waiter(&keys, from, conn, id);
        }
        self.answer_waiter((from, conn, id), slot, Vec::new());
    }

    /// Forget a waiter; if its key has data, the next waiter's turn.
    /// (Connection tokens and block ids are per reactor: `from` is part of
    /// a waiter's identity.)
    pub(super) fn unregister_waiter(
        &mut self,
        keys: &OwnedArgs,
        from: usize,
        conn: Token,
        id: u64,
    ) {
        self.served_here.remove(&(from, conn, id));
        for k in keys.args().iter() {
            if let Some(list) = self.shard.waiters.get_mut(k) {
                list.retain(|&((f, c, i), _)| !(f == from && c == conn && i == id));
                if list.is_empty() {
                    self.shard.waiters.remove(k);
                }
            }
            self.wake_first(k);
        }
    }

    /// FIFO: only the longest-waiting client that can pop the key (one
    /// of its kind: `Shard::first_servable`) is woken, once it has data. Its
    /// pop is itself a write to the key, which wakes the next one if data
    /// remains; if it finds nothing it keeps its place.
    fn wake_first(&mut self, db_key: &[u8]) {
        if !self.shard.waiters.contains_key(db_key) || !self.db_key_exists(db_key) {
            return;
        }
        if let Some((to, conn, id)) = self.shard.first_servable(db_key) {
            self.notify(to, conn, id);
        }
    }

    /// Is the key there, expired or not? Expiry is left to the woken
    /// client's try, as Redis leaves it (scanDatabaseForReadyKeys): its
    /// DEL then follows, in the replication stream, the write that woke
    /// it (a SWAPDB), instead of coming out of that write's middle.
    fn db_key_exists(&mut self, db_key: &[u8]) -> bool {
        let Some((db, key)) = split_db_key(db_key) else {
            return false;
        };
        self.shard
            .dbs
            .get(db)
            .is_some_and(|d| d.peek(key).is_some())
    }

    fn notify(&mut self, to: usize, conn: Token, id: u64) {
        if self
            .served_here
            .get(&(to, conn, id))
            .is_some_and(|sv| sv.here)
        {
            // Served here after the write that woke it.
            self.ready_remote.push((to, conn, id));
        } else if to == self.id {
            // Never retry in the middle of the write that woke it (a
            // MULTI/EXEC batch must finish first): after this turn's work.
            self.ready_local.push((conn, id));
        } else {
            self.outbox[to].push(Msg::KeyReady { conn, id });
        }
    }

    /// After a write on `db` to `key` (user key): wake its waiters.
    pub(super) fn signal_key(&mut self, db: usize, key: &[u8]) {
        if self.shard.waiters.is_empty() {
            return;
        }
        self.wake_first(&db_key(db, key));
    }

    /// After a whole database changed under its keys (SWAPDB): wake the
    /// waiters of every waited key of these databases.
    pub(super) fn signal_dbs(&mut self, dbs: &[usize]) {
        let keys: Vec<Vec<u8>> = self
            .shard
            .waiters
            .keys()
            .filter(|k| split_db_key(k).is_some_and(|(db, _)| dbs.contains(&db)))
            .cloned()
            .collect();
        for k in keys {
            self.wake_first(&k);
        }
    }

    /// After a write command: wake the waiters of its keys.
    pub(super) fn signal_written(&mut self, cmd: &Command, db: usize, a: Args) {
        if self.shard.waiters.is_empty() || !cmd.is_write() {
            return;
        }
        for i in cmd.keys_of(a) {
            self.signal_key(db, a.get(i));
        }
    }

    /// Serve the local waiters a command just woke before the next
    /// command runs, as Redis serves blocked clients right after the
    /// command that fed them: a pipelined `RPUSH l x` + `LLEN l` must
    /// answer 0 when a client was blocked on `l` (it answered 1: waiters
    /// ran at the end of the loop turn, after the whole pipeline).
    #[inline]
    pub(super) fn serve_woken(&mut self) {
        if !self.ready_local.is_empty() || !self.ready_remote.is_empty() {
            self.run_ready_waiters();
        }
    }

    /// Retry the local waiters woken during this turn.
    /// Bounded per turn: what is woken meanwhile waits for the next turn
    /// (the driver does not sleep while any is pending).
    pub fn run_ready_waiters(&mut self) {
        // The clock of the command that woke them may be stale by now (a
        // MULTI/EXEC that ran DEBUG SLEEP): a key that expired meanwhile
        // must not be served, as Redis refreshes its clock before serving
        // blocked clients.
        self.now = crate::server::now_ms();
        for _ in 0..64 {
            if self.ready_local.is_empty() && self.ready_remote.is_empty() {
                break;
            }
            let batch = std::mem::take(&mut self.ready_local);
            for (conn, id) in batch {
                self.on_key_ready(conn, id);
            }
            let remote = std::mem::take(&mut self.ready_remote);
            for w in remote {
                self.serve_remote(w);
            }
        }
    }

    /// Client side: a key may have data; retry unless already trying.
    pub(super) fn on_key_ready(&mut self, conn: Token, id: u64) {
        let me = self.id;
        let Some((idx, c)) = self.conn_by_token(conn) else {
            return;
        };
        let Some(b) = c.blocked.as_mut() else { return };
        if b.id != id || c.closing {
            return;
        }
        if b.retrying {
            b.again = true;
            return;
        }
        b.retrying = true;
        b.again = false;
        // A spanning command's first try comes through here too.
        let retry = b.tried || b.shard != SPANNING;
        b.tried = true;
        let attempt = crate::shard::Attempt {
            waiter: (me, conn, b.id),
            retry,
        };
        let (shard, db, proto, slot) = (b.shard, b.db, b.proto, b.slot);
        let args = b.args.clone();
        if shard == SPANNING {
            self.spanning_attempt(idx, db, args, slot, attempt);
        } else if shard == self.id {
            self.now = crate::server::now_ms();
            // The attempt, like any command here, waits behind locked keys.
            let reply = crate::tx::locks::ReplyTo {
                from: self.id,
                conn,
                slot,
                part: 0,
            };
            let op = ShardOp::Attempt {
                db,
                proto,
                args,
                attempt,
            };
            if let Some(crate::tx::OpResult::Reply(out)) = self.exec_or_park(op, reply) {
                self.attempt_done(idx, out);
            }
        } else {
            let op = ShardOp::Attempt {
                db,
                proto,
                args,
                attempt,
            };
            self.send_req(shard, conn, slot, 0, op);
        }
    }

    /// The result of an attempt: a reply ends the block, nothing keeps it.
    pub(super) fn attempt_done(&mut self, idx: u32, out: Vec<u8>) {
        let me = self.id;
        let Some(c) = self.conn_mut(idx) else { return };
        let Some(b) = c.blocked.as_mut() else { return };
        b.retrying = false;
        if out.is_empty() {
            if let Some(reply) = b.cancel.take() {
                // Given up (CLIENT UNBLOCK) while a try was in flight: the
                // shard that serves it may pop for it from now on, so it
                // must forget it first (`give_up`).
                if !b.cancel_sent && b.served_by_shard(me) {
                    return self.give_up(idx, reply);
                }
                return self.unblock(idx, reply);
            }
            if b.deadline != 0 && b.deadline <= crate::server::now_ms() {
                // Its time is up. Checked here, not only by the timer,
                // which passes over a client whose try is in flight: while
                // others keep pushing and popping its key, every try ends
                // with another wake-up pending and the next one starts at
                // once, so the timer never found it idle (a BLPOP of 10 ms
                // waited as long as the traffic lasted).
                let mut reply = Vec::new();
                timeout_reply(b.name, &mut Reply::new(&mut reply, b.proto));
                return self.give_up(idx, reply);
            }
            if b.again {
                let (tok, id) = (token(idx, c.gen), b.id);
                self.on_key_ready(tok, id);
            }
            return;
        }
        // Served: judged now, as Redis 7.0 judges a blocked command when
        // it serves it (not when it times out).
        if let Some(cmd) = table::lookup(b.args.args().get(0)) {
            if crate::slowlog::times(cmd) && crate::slowlog::took(cmd, b.usec) {
                crate::slowlog::record(b.usec, b.args.args(), &c.client.addr, &c.client.name);
            }
        }
        self.unblock(idx, out);
    }

    /// One attempt of a blocking command whose keys span shards: the same
    /// locked gather as any spanning command (so the pop is atomic across
    /// its shards), run in the blocked reply slot; `deliver` hands its
    /// reply to `attempt_done`.
    fn spanning_attempt(
        &mut self,
        idx: u32,
        db: usize,
        args: OwnedArgs,
        slot: u64,
        attempt: crate::shard::Attempt,
    ) {
        let a = args.args();
        let Some(cmd) = table::lookup(a.get(0)) else {
            return;
        };
        let (Kind::Keyed(f) | Kind::Multi(f, _)) = cmd.kind else {
            return;
        };
        let nshards = self.shared.nshards;
        let locks = lock_keys(cmd, a, db, nshards);
        let keys = distinct_keys(cmd, a);
        let env = GatherEnv {
            db,
            databases: self.shard.dbs.len(),
            now: self.now,
            max_bulk: self.max_bulk,
            nshards,
            attempt: Some(attempt),
            waited: waited_keys(cmd),
            patterns_gathered: false,
            script_retry: false,
        };
        let writes = cmd.is_write();
        if writes {
            self.coordinated_write(|| vec![(db, args.clone())], false);
        }
        let plan = fanout::gather(f, writes, args, keys, env);
        self.start_tx_in(idx, plan, locks, slot);
    }

    /// End a block with `reply` (an element, nil on timeout, or nothing when
    /// the client went away).
    pub(super) fn unblock(&mut self, idx: u32, reply: Vec<u8>) {
        let Some(c) = self.conn_mut(idx) else { return };
        let Some(b) = c.blocked.take() else { return };
        c.barriers = c.barriers.saturating_sub(1);
        match c.slot_mut(b.slot) {
            // A spanning attempt in flight holds locks: let it finish as an
            // ordinary command (its reply, if any, is this slot's).
            Some(Slot::Wait(coord)) => coord.block_attempt = false,
            Some(s) => *s = Slot::Ready(reply),
            None => {}
        }
        let tok = token(idx, c.gen);
        let from = self.id;
        for (s, keys) in b.waits {
            if s == self.id {
                self.unregister_waiter(&keys, from, tok, b.id);
            } else {
                self.outbox[s].push(Msg::Unblock {
                    keys,
                    from,
                    conn: tok,
                    id: b.id,
                });
            }
        }
        self.slot_done(idx, false);
    }

    /// CLIENT UNBLOCK for a connection of this reactor: whether it was
    /// blocked (and is now, or will be once its attempt in flight ends,
    /// unblocked).
    pub(super) fn client_unblock(&mut self, client_id: u64, error: bool) -> bool {
        let found = self.conns_iter().find_map(|(i, c)| {
            let b = c.blocked.as_ref()?;
            (c.client.id == client_id && !c.closing).then_some((i, b.name, b.proto))
        });
        let Some((idx, name, proto)) = found else {
            return false;
        };
        let mut reply = Vec::new();
        if error {
            Reply::new(&mut reply, proto).error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
        } else {
            timeout_reply(name, &mut Reply::new(&mut reply, proto));
        }
        self.give_up(idx, reply);
        true
    }

    /// End a block with `reply` (a timeout's, CLIENT UNBLOCK's). With a
    /// try in flight, that try decides; a client whose keys' shard serves
    /// it asks that shard to forget it first (`Msg::CancelWait`), and the
    /// shard's answer decides: the element it may have popped for it
    /// meanwhile comes first and is the reply.
    pub(super) fn give_up(&mut self, idx: u32, reply: Vec<u8>) {
        let me = self.id;
        let Some(c) = self.conn_mut(idx) else { return };
        let tok = token(idx, c.gen);
        let Some(b) = c.blocked.as_mut() else { return };
        if b.retrying {
            b.cancel = Some(reply);
        } else if b.served_by_shard(me) {
            b.retrying = true;
            b.cancel_sent = true;
            b.cancel = Some(reply);
            let (shard, id, slot) = (b.shard, b.id, b.slot);
            self.outbox[shard].push(Msg::CancelWait {
                from: me,
                conn: tok,
                id,
                slot,
            });
        } else {
            self.unblock(idx, reply);
        }
    }

    /// How long the driver may sleep before a blocked client's timeout is
    /// due (None: no deadline here). Timeouts are answered on time, not at
    /// the next 100 ms tick: a BLPOP with 0.05 s returns after 50 ms.
    pub fn sleep_budget_ms(&self) -> Option<u64> {
        let deadline = match (self.next_deadline, self.pause_deadline()) {
            (0, p) => p?,
            (d, Some(p)) => d.min(p),
            (d, None) => d,
        };
        Some(deadline.saturating_sub(crate::server::now_ms()))
    }

    /// Answer the blocked clients whose timeout has passed, if any is due;
    /// let clients held by a pause go once it ended (every loop turn).
    pub fn expire_due(&mut self) {
        if !self.paused_conns.is_empty() {
            self.resume_paused();
        }
        if self.next_deadline != 0 {
            let now = crate::server::now_ms();
            if now >= self.next_deadline {
                self.now = now;
                self.expire_blocked();
            }
        }
    }

    /// Answer blocked clients whose timeout passed (each tick, and when the
    /// earliest deadline is due).
    pub(super) fn expire_blocked(&mut self) {
        let now = self.now;
        let mut due = Vec::new();
        let mut next = 0;
        for (i, c) in self.conns_iter() {
            if let Some(b) = &c.blocked {
                if b.deadline == 0 {
                    continue;
                }
                if b.deadline <= now && !b.retrying {
                    let mut out = Vec::new();
                    timeout_reply(b.name, &mut Reply::new(&mut out, b.proto));
                    due.push((i, out));
                } else {
                    // A retrying client is checked again at its attempt's
                    // end at the latest (next tick).
                    let d = b.deadline.max(now + 1);
                    if next == 0 || d < next {
                        next = d;
                    }
                }
            }
        }
        self.next_deadline = next;
        for (i, out) in due {
            self.give_up(i, out);
        }
    }
}

/// Inside EXEC a blocking command never blocks: nothing becomes nil.
pub fn nil_if_blocked(cmd: Option<&Command>, out: &mut Vec<u8>, proto: Proto) {
    if out.is_empty() {
        if let Some(cmd) = cmd.filter(|c| c.is_blocking()) {
            timeout_reply(cmd.name, &mut Reply::new(out, proto));
        }
    }
}
