//! A connection as the reactor sees it: socket, buffers, the client state,
//! and the reply slots that keep a pipeline's replies in request order when
//! some of its commands run on other shards.

use super::client::Client;
use crate::tx::Coord;
use std::collections::VecDeque;

pub enum Slot {
    /// Replies ready to go out, waiting only for an earlier slot.
    Ready(Vec<u8>),
    /// A single command running on another shard; its reply arrives as is.
    Remote,
    /// A command fanned out over shards.
    Wait(Box<Coord>),
    /// A blocking pop waiting for an element (see `reactor::blocking`).
    Blocked,
}

/// Where a coordinator goes in a connection's reply slots.
#[derive(Clone, Copy, Debug)]
pub enum Place {
    New,
    Blocked(u64),
    Replace(u64, bool),
}

pub struct Conn {
    pub fd: i32,
    pub gen: u32,
    pub client: Client,
    /// Unparsed input (only when a command straddles receives, or when
    /// processing is paused).
    pub inbuf: Vec<u8>,
    /// Replies not yet handed to the kernel.
    pub out: Vec<u8>,
    /// The buffer of the send in flight: never touched until it completes.
    pub sending: Vec<u8>,
    pub send_off: usize,
    pub send_inflight: bool,
    pub recv_armed: bool,
    /// Reply slots; slot ids are consecutive from `first_slot`.
    pub slots: VecDeque<Slot>,
    pub first_slot: u64,
    /// Multi-phase coordinators in flight: later commands wait for them.
    pub barriers: u32,
    pub close_after_flush: bool,
    /// The blocking command this connection waits on, if any.
    pub blocked: Option<Box<super::blocking::Blocked>>,
    pub closing: bool,
    pub dirty: bool,
    /// Commands parsed ahead that a barrier stopped from running
    /// (`Reactor::process`); offsets relative to the start of `inbuf`.
    pub ahead: super::input::ParsedAhead,
    /// Emptied reply-run buffers (`Slot::Ready`), reused for the next run.
    spare_runs: Vec<Vec<u8>>,
    /// CLIENT REPLY OFF/SKIP: the command being dispatched answers
    /// nothing, so the slots it opens are dropped (`quiet`, ascending ids)
    /// instead of sent when they complete.
    pub muting: bool,
    /// Counted in the reactor's `special_clients` (replies not plainly on,
    /// or tracking on).
    pub special: bool,
    /// Held by CLIENT PAUSE: its next command waits, unread, in `inbuf`.
    pub paused: bool,
    /// Its next command waited once already for other shards to evict
    /// (`Reactor::wait_for_eviction`): it runs now whatever they freed.
    pub evict_waited: bool,
    quiet: Vec<u64>,
}

/// Where a command's reply would start (`Conn::quiet_mark`).
pub struct QuietMark {
    slots: usize,
    len: usize,
    /// The id of the first slot the command may open.
    next_id: u64,
}

/// A pipeline may run this many commands ahead of its oldest unfinished
/// remote reply; beyond that, input waits (bounded memory per connection).
pub const MAX_SLOTS: usize = 1024;

/// Initial capacity of a run of local replies queued behind a remote one.
const REPLY_RUN_CAPACITY: usize = 64;

/// A connection keeps at most this many emptied reply-run buffers, each
/// of at most `SPARE_RUN_BYTES`: enough for the runs of one pipeline's
/// round trip, little for a connection that goes idle.
const SPARE_RUNS: usize = 4;
const SPARE_RUN_BYTES: usize = 4096;

/// Output up to this size waits for a pending cross-shard reply behind it.
const HOLD_LIMIT: usize = 64 * 1024;

/// A connection's input and send buffers keep at most this much room once
/// emptied. Room is kept so that a busy pipeline reuses its buffers, but
/// one large value sent or received (an 8 MB SET or GET) must not pin its
/// size for the rest of a pooled connection's life: Redis likewise frees
/// its reply blocks once written and shrinks idle query buffers.
pub const CONN_KEEP_BYTES: usize = 256 * 1024;

/// A connection's spare reply runs, borrowed beside one of its slots.
pub struct SpareRuns<'a>(&'a mut Vec<Vec<u8>>);

impl SpareRuns<'_> {
    pub fn take(self) -> Vec<u8> {
        spare_run(self.0)
    }
}

fn spare_run(spare: &mut Vec<Vec<u8>>) -> Vec<u8> {
    spare
        .pop()
        .unwrap_or_else(|| Vec::with_capacity(REPLY_RUN_CAPACITY))
}

impl Conn {
    pub fn new(fd: i32, gen: u32, client: Client) -> Conn {
        Conn {
            fd,
            gen,
            client,
            inbuf: Vec::new(),
            out: Vec::with_capacity(512),
            sending: Vec::with_capacity(512),
            send_off: 0,
            send_inflight: false,
            recv_armed: false,
            slots: VecDeque::new(),
            first_slot: 0,
            barriers: 0,
            close_after_flush: false,
            blocked: None,
            closing: false,
            dirty: false,
            ahead: Default::default(),
            spare_runs: Vec::new(),
            muting: false,
            special: false,
            paused: false,
            evict_waited: false,
            quiet: Vec::new(),
        }
    }

    /// Before a command whose reply is to be dropped.
    pub fn quiet_mark(&mut self) -> QuietMark {
        self.muting = true;
        let len = match self.slots.back() {
            None => self.out.len(),
            Some(Slot::Ready(b)) => b.len(),
            Some(_) => 0,
        };
        QuietMark {
            slots: self.slots.len(),
            len,
            next_id: self.first_slot + self.slots.len() as u64,
        }
    }

    /// After it: drop what it wrote in place (its slots are in `quiet`),
    /// unless it turned replies back on (CLIENT REPLY ON answers).
    pub fn drop_since(&mut self, m: QuietMark) {
        self.muting = false;
        if self.client.reply == super::client::ReplyMode::On {
            self.quiet.retain(|&q| q < m.next_id);
            return;
        }
        if m.slots == 0 {
            // Nothing was pending: its reply went to `out`, or its slots
            // may have completed and drained into `out` already.
            self.out.truncate(m.len);
        } else if let Some(Slot::Ready(b)) = self.slots.get_mut(m.slots - 1) {
            b.truncate(m.len);
        }
        // A run of local replies it opened is complete already: emptied
        // now, and no longer dropped, since the next commands' replies
        // are appended to it.
        let first = self.first_slot;
        for (i, s) in self.slots.iter_mut().enumerate() {
            let id = first + i as u64;
            if let (true, Slot::Ready(b)) = (id >= m.next_id, s) {
                b.clear();
                self.quiet.retain(|&q| q != id);
            }
        }
    }

    #[inline]
    fn opened(&mut self, id: u64) {
        if self.muting {
            self.quiet.push(id);
        }
    }

    /// Whether the slot leaving the front now is a dropped one.
    #[inline]
    fn dropped(&mut self, id: u64) -> bool {
        if self.quiet.is_empty() {
            return false;
        }
        self.quiet.retain(|&q| q >= id);
        if self.quiet.first() == Some(&id) {
            self.quiet.remove(0);
            return true;
        }
        false
    }

    /// Where a reply produced now must be written so it leaves in order.
    #[inline]
    pub fn reply_buf(&mut self) -> &mut Vec<u8> {
        if self.slots.is_empty() {
            return &mut self.out;
        }
        if !matches!(self.slots.back(), Some(Slot::Ready(_))) {
            // Room for a few short replies at once: grown from empty, the
            // first GET reply written here reallocated twice, and at
            // --threads 2 -P 16 three local GETs in four land here.
            let run = self.new_run();
            self.slots.push_back(Slot::Ready(run));
            self.opened(self.first_slot + self.slots.len() as u64 - 1);
        }
        match self.slots.back_mut() {
            Some(Slot::Ready(b)) => b,
            // Ensured just above.
            _ => &mut self.out,
        }
    }

    /// An empty buffer for a run of replies: a spare one if any. At
    /// --threads 2 -P 16 a GET pipeline opens a run every few commands;
    /// allocated each time and dropped into `out` after one use, runs were
    /// ~3% of a GET's instructions (malloc, free, and `out` regrown from
    /// the run's small capacity after taking its place).
    #[inline(never)]
    fn new_run(&mut self) -> Vec<u8> {
        spare_run(&mut self.spare_runs)
    }

    fn recycle_run(&mut self, mut b: Vec<u8>) {
        if self.spare_runs.len() < SPARE_RUNS && b.capacity() <= SPARE_RUN_BYTES {
            b.clear();
            self.spare_runs.push(b);
        }
    }

    /// The send buffer went out whole: empty it for the next one.
    pub fn sent_all(&mut self) {
        self.sending.clear();
        self.send_off = 0;
        if self.sending.capacity() > CONN_KEEP_BYTES {
            self.sending = Vec::new();
        }
    }

    /// Open a slot for a reply that another shard will produce.
    pub fn push_wait(&mut self, c: Coord) -> u64 {
        if c.barrier {
            self.barriers += 1;
        }
        self.slots.push_back(Slot::Wait(Box::new(c)));
        let id = self.first_slot + self.slots.len() as u64 - 1;
        self.opened(id);
        id
    }

    /// Put a coordinator in a new slot, or in an existing one (`Place`).
    pub fn install(&mut self, mut c: Coord, at: Place) -> Option<u64> {
        match at {
            Place::New => Some(self.push_wait(c)),
            // The slot of the blocked command it is an attempt of: that
            // slot already holds the connection's barrier, and `deliver`
            // gives the result back to the blocked command instead of
            // sending it.
            Place::Blocked(at) => {
                c.barrier = false;
                c.block_attempt = true;
                let s = self.slot_mut(at)?;
                *s = Slot::Wait(Box::new(c));
                Some(at)
            }
            // A command whose reply was due in this slot starts over as
            // this coordinator (a script that met an undeclared key);
            // `counted`: the slot already holds a barrier.
            Place::Replace(at, counted) => {
                let s = self.slot_mut(at)?;
                *s = Slot::Wait(Box::new(c));
                if !counted {
                    self.barriers += 1;
                }
                Some(at)
            }
        }
    }

    /// Open a slot for a blocking command's eventual reply.
    pub fn push_blocked(&mut self) -> u64 {
        self.slots.push_back(Slot::Blocked);
        let id = self.first_slot + self.slots.len() as u64 - 1;
        self.opened(id);
        id
    }

    /// Open a slot for the verbatim reply of one remote command.
    pub fn push_remote(&mut self) -> u64 {
        self.slots.push_back(Slot::Remote);
        let id = self.first_slot + self.slots.len() as u64 - 1;
        self.opened(id);
        id
    }

    /// The reply of a remote command (`Slot::Remote`), borrowed from the
    /// peer's batch: at the front of the queue it goes straight to the
    /// output, with no buffer of its own. False if no such slot waits.
    pub fn fill_remote(&mut self, id: u64, reply: &[u8]) -> bool {
        let Some(mut i) = id.checked_sub(self.first_slot).map(|i| i as usize) else {
            return false;
        };
        if !matches!(self.slots.get(i), Some(Slot::Remote)) {
            return false;
        }
        if i > 0 && matches!(self.slots.front(), Some(Slot::Ready(_))) {
            // The local replies between this one and the last remote
            // reply filled (`Msg::Replies` fills a pipeline's in order):
            // out first, so this one follows them into `out` too rather
            // than into a run of its own, copied again later.
            self.drain_ready();
            i = (id - self.first_slot) as usize;
        }
        if i == 0 {
            self.slots.pop_front();
            if !self.dropped(self.first_slot) {
                self.out.extend_from_slice(reply);
            }
            self.first_slot += 1;
        } else {
            let mut run = self.new_run();
            run.extend_from_slice(reply);
            if let Some(s) = self.slots.get_mut(i) {
                *s = Slot::Ready(run);
            }
        }
        true
    }

    pub fn slot_mut(&mut self, id: u64) -> Option<&mut Slot> {
        let i = id.checked_sub(self.first_slot)? as usize;
        self.slots.get_mut(i)
    }

    /// `slot_mut`, and the spare runs to take one from to write that slot's reply into (a spare one
    /// if any) for when it completes: a coordinator's reply grew from an
    /// empty buffer, four reallocations for a fold of 16 MSETs' `+OK`s
    /// (~2% of a two-shard MSET pipeline).
    pub fn slot_and_runs(&mut self, id: u64) -> Option<(&mut Slot, SpareRuns<'_>)> {
        let i = id.checked_sub(self.first_slot)? as usize;
        Some((self.slots.get_mut(i)?, SpareRuns(&mut self.spare_runs)))
    }

    /// Move finished slots at the front into the output buffer.
    pub fn drain_ready(&mut self) {
        while let Some(Slot::Ready(_)) = self.slots.front() {
            if let Some(Slot::Ready(mut b)) = self.slots.pop_front() {
                // The larger buffer becomes `out`: a big reply moves
                // without a copy, a short run is copied and reused.
                if self.dropped(self.first_slot) {
                    b.clear();
                } else if self.out.is_empty() && b.capacity() > self.out.capacity() {
                    std::mem::swap(&mut self.out, &mut b);
                } else {
                    self.out.extend_from_slice(&b);
                }
                self.recycle_run(b);
            }
            self.first_slot += 1;
        }
    }

    /// Whether the replies in `out` should wait for the cross-shard reply
    /// right behind them. It comes back within a round of the peer's loop,
    /// and a pipeline whose replies leave in one send costs one TCP segment
    /// for the kernel and the client instead of one per shard hop (the
    /// client cannot use a partial pipeline anyway). A blocked command
    /// never holds output (its wait is unbounded), nor does a large output.
    #[inline]
    pub fn hold_output(&self) -> bool {
        self.out.len() < HOLD_LIMIT
            && matches!(self.slots.front(), Some(Slot::Remote | Slot::Wait(_)))
    }

    pub fn can_process(&self) -> bool {
        !self.close_after_flush
            && !self.paused
            && self.barriers == 0
            && self.slots.len() < MAX_SLOTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        Conn::new(
            -1,
            0,
            Client::new(1, -1, String::new(), String::new(), true, 0),
        )
    }

    #[test]
    fn output_waits_only_for_a_cross_shard_reply_and_only_while_small() {
        let mut c = conn();
        c.out.extend_from_slice(b"+OK\r\n");
        assert!(!c.hold_output(), "nothing pending: send now");
        c.push_remote();
        assert!(
            c.hold_output(),
            "the remote reply comes back within a round"
        );
        c.out.resize(HOLD_LIMIT, b'x');
        assert!(!c.hold_output(), "a large output goes out regardless");

        let mut c = conn();
        c.out.extend_from_slice(b"+OK\r\n");
        c.slots.push_back(Slot::Blocked);
        assert!(!c.hold_output(), "a blocked command may wait forever");
    }

    /// A pipeline's remote replies arrive together, in order: each goes
    /// straight to `out` behind the local replies before it, with no run
    /// of its own to copy again.
    #[test]
    fn remote_replies_filled_in_order_go_straight_to_out() {
        let mut c = conn();
        let r0 = c.push_remote();
        c.reply_buf().extend_from_slice(b":1\r\n");
        let r2 = c.push_remote();
        c.reply_buf().extend_from_slice(b":3\r\n");
        let spare = c.spare_runs.len();
        assert!(c.fill_remote(r0, b":0\r\n"));
        assert!(c.fill_remote(r2, b":2\r\n"));
        assert_eq!(c.out, b":0\r\n:1\r\n:2\r\n");
        assert_eq!(c.slots.len(), 1, "only the last local run is left");
        assert!(c.spare_runs.len() >= spare, "no run was taken for a reply");
        c.drain_ready();
        assert_eq!(c.out, b":0\r\n:1\r\n:2\r\n:3\r\n");
        assert!(!c.fill_remote(r2, b":2\r\n"), "a slot is filled once");
    }

    /// Local replies queued behind remote ones, remote replies arriving in
    /// and out of order, several rounds: reused run buffers must never
    /// leak a byte of an earlier round, and `out` keeps request order.
    #[test]
    fn reply_runs_are_reused_and_replies_stay_in_order() {
        let mut c = conn();
        for round in 0..6u8 {
            let tag = |i: u8| format!(":{round}{i}\r\n").into_bytes();
            let mut want = Vec::new();
            let r0 = c.push_remote();
            c.reply_buf().extend_from_slice(&tag(1));
            let r2 = c.push_remote();
            c.reply_buf().extend_from_slice(&tag(3));
            c.reply_buf().extend_from_slice(&tag(4));
            for i in 0..5 {
                want.extend_from_slice(&tag(i));
            }
            // The later remote reply first (into a run), then the front.
            if round % 2 == 0 {
                assert!(c.fill_remote(r2, &tag(2)));
                assert!(c.fill_remote(r0, &tag(0)));
            } else {
                assert!(c.fill_remote(r0, &tag(0)));
                c.drain_ready();
                assert!(c.fill_remote(r2, &tag(2)));
            }
            c.drain_ready();
            assert!(c.slots.is_empty());
            assert_eq!(c.out, want, "round {round}");
            c.out.clear();
        }
        assert!(!c.spare_runs.is_empty(), "runs are kept for reuse");
        assert!(c.spare_runs.iter().all(|b| b.is_empty()));
    }
}
