//! The coordinator side of cross-shard work: plans, transactions taking
//! their locks shard by shard, the results they collect, and the unlocks
//! (docs/architecture.md, "Atomicity across shards").

use super::conn::{Place, Slot};
use super::{token, Reactor};
use crate::commands::table::{self, Command};
use crate::protocol::Args;
use crate::server::now_ms;
use crate::tx::fanout::{Phase, Plan, TxState};
use crate::tx::locks::{lock_id, LockRunOutcome, LockSet, ReplyTo, Waiting};
use crate::tx::{Coord, Msg, OpResult, Request, Response, ShardOp, Token};
use std::sync::atomic::Ordering;

impl Reactor {
    pub(super) fn start_plan(&mut self, idx: u32, plan: Plan) {
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

    /// Start a plan that must be atomic across shards: take its locks
    /// (one set per shard, in any order: sorted here) shard by shard in
    /// increasing order, then run it. A plan on a single
    /// shard needs no locks (the shard runs it in one step).
    pub(super) fn start_tx(&mut self, idx: u32, plan: Plan, locks: Vec<(usize, LockSet)>) {
        self.start_tx_min(idx, plan, locks, 2)
    }

    /// `start_tx`, locking when at least `min_shards` shards are involved.
    pub(super) fn start_tx_min(
        &mut self,
        idx: u32,
        plan: Plan,
        locks: Vec<(usize, LockSet)>,
        min_shards: usize,
    ) {
        self.start_tx_at(idx, plan, locks, min_shards, Place::New)
    }

    /// `start_tx` as the attempt of the blocked command in slot `at`.
    pub(super) fn start_tx_in(
        &mut self,
        idx: u32,
        plan: Plan,
        locks: Vec<(usize, LockSet)>,
        at: u64,
    ) {
        self.start_tx_at(idx, plan, locks, 2, Place::Blocked(at))
    }

    pub(super) fn start_tx_at(
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
        if let Some(mut ops) = tx.fast_rest.take() {
            if let (Some((part, op)), Some(&(last, _))) = (op_back, tx.shards.get(tx.acquired)) {
                ops.insert((part as usize).min(ops.len()), (last, op));
            }
            tx.first_ops = Some(ops);
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
        // The plan's ops minus the last shard's (one op per shard): its
        // vector, reused as the rest.
        let mut rest = tx.first_ops.take().unwrap_or_default();
        let Some(i) = rest.iter().position(|(shard, _)| *shard == last) else {
            return;
        };
        let (_, op) = rest.remove(i);
        let part = i as u32;
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
    pub(super) fn unlock(&mut self, txid: u64) {
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
    pub(super) fn route(&mut self, to: ReplyTo, r: OpResult) {
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
    pub(super) fn exec_or_park(&mut self, op: ShardOp, reply: ReplyTo) -> Option<OpResult> {
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
            ShardOp::MemoryUsage {
                db,
                ref key,
                in_tx: false,
                ..
            } if !self.shard.locks.is_idle() => {
                let keys: LockSet = std::iter::once(lock_id(db, key)).collect();
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

    pub(super) fn send_req(
        &mut self,
        shard: usize,
        conn: Token,
        slot: u64,
        part: u32,
        op: ShardOp,
    ) {
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
    pub(super) fn deliver(&mut self, tok: Token, slot: u64, part: u32, r: OpResult) {
        // A part's arguments, back from the shard that ran them: kept for
        // the next fold's groups.
        let r = match r {
            OpResult::Spent(a) => {
                self.spare_args.put(a);
                OpResult::Unit
            }
            r => r,
        };
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
        let Some(s) = c.slot_mut(slot) else {
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
            for (j, (shard, op)) in rest.into_iter().enumerate() {
                let p = if j < part as usize { j } else { j + 1 } as u32;
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
        self.phase_done(idx, tok, slot);
    }

    /// Every part of a coordinator's phase is in: finish it, then start the
    /// next phase or complete the reply. A connection command of EXEC
    /// (`Phase::Conn`) runs right here, and the loop goes on to the phase
    /// after it without recursing: a transaction may queue thousands.
    fn phase_done(&mut self, idx: u32, tok: Token, slot: u64) {
        loop {
            let Some((_, c)) = self.conn_by_token(tok) else {
                return;
            };
            let proto = c.client.proto;
            let Some((s, runs)) = c.slot_and_runs(slot) else {
                return;
            };
            let Slot::Wait(coord) = s else { return };
            let barrier = coord.barrier;
            if coord.out.capacity() == 0 {
                coord.out = runs.take();
            }
            match coord.complete(proto) {
                Some(Phase::Ops(ops)) => return self.dispatch_ops(tok, slot, ops),
                Some(Phase::Conn(args)) => {
                    let ran = self.conn_step(idx, &args);
                    let Some((_, c)) = self.conn_by_token(tok) else {
                        return;
                    };
                    let Some(Slot::Wait(coord)) = c.slot_mut(slot) else {
                        return;
                    };
                    match ran {
                        Ok(bytes) => {
                            coord.record(0, OpResult::Reply(bytes));
                        }
                        Err(plan) => {
                            coord.splice(plan.ops.len(), plan.finish, proto);
                            return self.dispatch_ops(tok, slot, plan.ops);
                        }
                    }
                }
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
                    return self.attempt_done(idx, out);
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
                    return self.slot_done(idx, barrier);
                }
            }
        }
    }

    /// A slot became ready: move finished replies out, and resume parsing
    /// if this connection was paused on it.
    pub(super) fn slot_done(&mut self, idx: u32, barrier: bool) {
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
}

/// The part number of lock grants in a coordinator's slot.
const LOCK_PART: u32 = u32::MAX - 1;

/// A multi-key command's locks, grouped by shard (`start_tx` orders them).
pub(super) fn lock_keys(
    cmd: &Command,
    args: Args,
    db: usize,
    nshards: usize,
) -> Vec<(usize, LockSet)> {
    let mut by_shard: Vec<(usize, LockSet)> = Vec::with_capacity(2);
    // Every argument but the name, an upper bound on the keys: room for
    // them all at the first key of a shard, without a second walk of them.
    let room = args.len().saturating_sub(1);
    for i in cmd.keys_of(args) {
        crate::tx::locks::add_lock_sized(&mut by_shard, nshards, db, args.get(i), room);
    }
    by_shard
}
