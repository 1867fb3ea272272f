//! Cross-reactor messages: draining this reactor's mailbox, the batches
//! it fills for the others, and the wakes that go with them.

use super::conn::Place;
use super::Reactor;
use crate::server::now_ms;
use crate::tx::locks::ReplyTo;
use crate::tx::{Batch, Msg, Request, Response, Token};
use std::sync::atomic::Ordering;

/// A drained batch bigger than this (messages) is freed, not kept: one
/// burst must not pin its memory for good.
pub(super) const MAILBOX_KEEP_CAPACITY: usize = 1024;
/// A kept batch's argument and reply bytes keep at most this much room.
pub(super) const MAILBOX_KEEP_BYTES: usize = 16 * 1024;

impl Reactor {
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
    pub(super) fn recycle(&mut self, mut batch: Batch) {
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
        self.send_pending_invalidations();
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

    pub(super) fn ring(&mut self, t: usize) {
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
}

#[cfg(test)]
mod tests {
    use super::Reactor;
    use crate::config::Config;
    use crate::server::Shared;
    use crate::tx::Msg;
    use std::sync::Arc;

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
