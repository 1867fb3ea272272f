//! The io_uring driver: one ring per reactor, created on the reactor's own
//! thread (SINGLE_ISSUER), with DEFER_TASKRUN so completions are processed
//! only when this thread enters the kernel, once per loop turn.
//!
//! Per turn: enter the kernel once (submitting every queued SQE and waiting
//! only when there is nothing to do), handle all completions, drain the
//! mailbox, hand messages to other reactors, then queue sends.

use super::batch::Batcher;
use super::bufring::BufRing;
use crate::reactor::{mailbox, token_parts, Reactor};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::sync::atomic::Ordering;

const ACCEPT: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;
const WAKE: u64 = 4;
const TIMER: u64 = 5;
/// A write to a peer's eventfd (`Driver::ring_peer`); its completion needs nothing.
const PEER_WAKE: u64 = 6;

/// IORING_ENTER_GETEVENTS: the crate's `submit()` omits it, but with
/// DEFER_TASKRUN completions only run when we enter with it.
const ENTER_GETEVENTS: u32 = 1;

/// IORING_ENTER_EXT_ARG: the last argument is an `io_uring_getevents_arg`.
const ENTER_EXT_ARG: u32 = 8;

/// `struct io_uring_getevents_arg` (Linux 6.12+ names the old pad field
/// `min_wait_usec`).
#[repr(C)]
struct GetEventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// How long a sleeping reactor lingers for more completions once the first
/// one has arrived. Each loop turn costs one io_uring_enter and one wake-up:
/// under a closed-loop load of many clients (redis-benchmark -c 50) the
/// server otherwise wakes for almost every request. How many completions it
/// waits for is `io::batch`'s call: a lone client, or a few that mostly
/// wait on us, never wait. The linger adds up to its length to the latency
/// of a request that arrives just after the reactor went to sleep. 20 us
/// was too short for batches to form: at -c 50 -P 1 the server landed in
/// the unbatched regime (~8.8 us of CPU per GET) in 6 runs of 7; with 50 us
/// it stayed batched (~6.2 us) in 6 of 6.
const LINGER_USEC: u32 = 50;
const MAX_BATCH: u32 = 16;

/// The kernel takes provided buffers in ring order, so under any sustained
/// load every one of them becomes resident: the ring's size is a fixed RSS
/// cost per reactor (512 x 16 KiB made 8 MiB, a third of the memory of 100k
/// small hashes). 256 entries cover one outstanding receive for each of a
/// few hundred busy connections between two reaps (ENOBUFS only ends the
/// multishot receive, which `on_recv` re-arms); 8 KiB holds a deep pipeline of small commands,
/// and larger requests simply span several buffers.
const BUF_ENTRIES: u16 = 256;
const BUF_SIZE: usize = 8 * 1024;
const BGID: u16 = 0;

fn ud(kind: u64, tok: u64) -> u64 {
    (kind << 56) | (tok & ((1 << 56) - 1))
}

struct Driver {
    ring: IoUring,
    bufs: BufRing,
    wake_buf: Box<u64>,
    timespec: Box<types::Timespec>,
    listeners: Vec<i32>,
    batch: Batcher,
    /// Connection slots whose socket is in the ring's file table (at the
    /// same index): their recv and send SQEs skip the per-request file
    /// lookup and reference count (`fget`/`fput`, ~1% of the CPU at -P 1).
    fixed: Vec<bool>,
}

impl Driver {
    fn push(&mut self, e: squeue::Entry) {
        loop {
            // SAFETY: every entry's buffers (provided-buffer ring, a
            // connection's `sending` Vec, wake_buf, timespec) live until its
            // completion is reaped: connections are only released once no
            // operation on them is in flight.
            if unsafe { self.ring.submission().push(&e) }.is_ok() {
                return;
            }
            if let Err(err) = self.ring.submit() {
                log::warn!("io_uring submit failed while the SQ was full: {err}");
            }
        }
    }

    fn arm_accept(&mut self, i: usize) {
        let e = opcode::AcceptMulti::new(types::Fd(self.listeners[i]))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ud(ACCEPT, i as u64));
        self.push(e);
    }

    fn arm_recv(&mut self, fd: i32, tok: u64) {
        let e = match self.fixed_slot(token_parts(tok).0) {
            Some(i) => opcode::RecvMulti::new(types::Fixed(i), BGID).build(),
            None => opcode::RecvMulti::new(types::Fd(fd), BGID).build(),
        };
        self.push(e.user_data(ud(RECV, tok)));
    }

    #[inline]
    fn fixed_slot(&self, idx: u32) -> Option<u32> {
        self.fixed
            .get(idx as usize)
            .copied()
            .unwrap_or(false)
            .then_some(idx)
    }

    /// Put a new connection's socket in the file table, if it has room;
    /// a connection outside it simply uses its fd.
    fn register(&mut self, idx: u32, fd: i32) {
        let Some(slot) = self.fixed.get_mut(idx as usize) else {
            return;
        };
        *slot = self
            .ring
            .submitter()
            .register_files_update(idx, &[fd])
            .is_ok();
    }

    /// Drop a released connection's socket from the file table: the table
    /// holds a reference that would keep the socket open past close().
    fn unregister(&mut self, idx: u32) {
        if let Some(slot) = self.fixed.get_mut(idx as usize) {
            if std::mem::take(slot) {
                if let Err(e) = self.ring.submitter().register_files_update(idx, &[-1]) {
                    log::warn!("io_uring file table update failed: {e}");
                }
            }
        }
    }

    fn arm_wake(&mut self, efd: i32) {
        let p = &mut *self.wake_buf as *mut u64 as *mut u8;
        let e = opcode::Read::new(types::Fd(efd), p, 8)
            .build()
            .user_data(ud(WAKE, 0));
        self.push(e);
    }

    /// Wake a sleeping peer by a write to its eventfd that rides this ring's
    /// next enter: the eventfd write costs no syscall of its own (t2 on one
    /// CPU made ~0.2 write(2) per request before).
    fn ring_peer(&mut self, efd: i32) {
        let one = &mailbox::EVENTFD_ONE as *const u64 as *const u8;
        // No completion on success: one would end this very enter's wait.
        let e = opcode::Write::new(types::Fd(efd), one, 8)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(ud(PEER_WAKE, 0));
        self.push(e);
    }

    fn arm_timer(&mut self) {
        let e = opcode::Timeout::new(&*self.timespec as *const types::Timespec)
            .build()
            .user_data(ud(TIMER, 0));
        self.push(e);
    }
}

/// How many reactors share each CPU this process may run on (1 when each
/// has its own).
fn reactors_per_cpu(reactors: usize) -> u32 {
    let cpus = super::sched::allowed_cpus().unwrap_or(reactors).max(1);
    reactors.div_ceil(cpus).max(1) as u32
}

pub fn run(mut r: Reactor, listeners: Vec<i32>) -> std::io::Result<()> {
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .setup_cqsize(16384)
        .build(4096)?;
    let bufs = BufRing::new(&ring, BUF_ENTRIES, BUF_SIZE, BGID)?;
    let linger_us = std::env::var("HALOCLINE_LINGER_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LINGER_USEC);
    let mut d = Driver {
        ring,
        bufs,
        wake_buf: Box::new(0),
        timespec: Box::new(types::Timespec::new().nsec(100_000_000)),
        listeners,
        batch: Batcher::new(
            MAX_BATCH,
            std::time::Duration::from_micros(linger_us as u64),
            reactors_per_cpu(r.shared.nshards),
        ),
        fixed: Vec::new(),
    };
    let table = fixed_table_size();
    match d.ring.submitter().register_files_sparse(table) {
        Ok(()) => d.fixed = vec![false; table as usize],
        Err(e) => log::debug!("no io_uring file table ({e}): connections use plain fds"),
    }
    let shared = r.shared.clone();
    let mb = &shared.mailboxes[r.id];
    for i in 0..d.listeners.len() {
        d.arm_accept(i);
    }
    d.arm_wake(mb.efd);
    d.arm_timer();
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(1024);
    let mut linger = d.ring.params().is_feature_min_timeout() && linger_us > 0;
    if let Err(e) = d.ring.submitter().register_ring_fd() {
        log::debug!("register_ring_fd: {e}");
    }
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let idle = r.dirty.is_empty() && r.to_close.is_empty() && !r.has_outbox();
        if idle {
            r.wake_before_sleep();
        }
        for efd in r.take_wakes() {
            d.ring_peer(efd);
        }
        // A blocked client's timeout bounds the sleep (None: no deadline).
        let budget = r.sleep_budget_ms();
        let res = if idle && budget != Some(0) && mb.prepare_sleep() {
            let want = d.batch.want(std::time::Instant::now());
            let lingering = want > 1 && linger;
            let res = if lingering || budget.is_some() {
                let n = d.ring.submission().len() as u32;
                let ts = budget.map(|ms| {
                    types::Timespec::new()
                        .sec(ms / 1000)
                        .nsec(((ms % 1000) * 1_000_000) as u32)
                });
                let arg = GetEventsArg {
                    sigmask: 0,
                    sigmask_sz: 0,
                    min_wait_usec: if lingering { linger_us } else { 0 },
                    ts: ts
                        .as_ref()
                        .map_or(0, |t| t as *const types::Timespec as u64),
                };
                let want = if lingering { want } else { 1 };
                // SAFETY: `arg` and the timespec it points to are live for
                // the call; Timespec has the kernel's __kernel_timespec layout.
                let res = unsafe {
                    d.ring
                        .submitter()
                        .enter(n, want, ENTER_GETEVENTS | ENTER_EXT_ARG, Some(&arg))
                };
                if lingering && matches!(&res, Err(e) if e.raw_os_error() == Some(libc::EINVAL)) {
                    linger = false;
                }
                res
            } else {
                d.ring.submit_and_wait(1)
            };
            mb.awake();
            res
        } else {
            let n = d.ring.submission().len() as u32;
            // SAFETY: plain io_uring_enter on our own ring; no argument struct.
            unsafe {
                d.ring
                    .submitter()
                    .enter::<libc::sigset_t>(n, 0, ENTER_GETEVENTS, None)
            }
        };
        if let Err(e) = res {
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) | Some(libc::ETIME) => {}
                _ => return Err(e),
            }
        }
        cqes.clear();
        cqes.extend(
            d.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        // Messages that were waiting when this turn began go before the
        // input it read: a peer's BlockOn (a client that blocked earlier on
        // another reactor) is registered before a local client's blocking
        // command read now, so waiters stay in the order they blocked.
        // (Before the prefetch pass, so its work does not evict what the
        // pass brought in.)
        r.drain_mailbox();
        for &(u, res, flags) in &cqes {
            if u >> 56 == RECV && res > 0 {
                if let Some(bid) = cqueue::buffer_select(flags) {
                    let (idx, _) = token_parts(u & ((1 << 56) - 1));
                    r.prefetch(idx, d.bufs.data(bid, res as usize));
                }
            }
        }
        r.prefetch_entries();
        let mut returned_bufs = false;
        for &(u, res, flags) in &cqes {
            let kind = u >> 56;
            let tok = u & ((1 << 56) - 1);
            match kind {
                ACCEPT => on_accept(&mut r, &mut d, tok as usize, res, flags),
                RECV => {
                    if res > 0 {
                        d.batch.arrival(token_parts(tok).0);
                    }
                    returned_bufs |= on_recv(&mut r, &mut d, tok, res, flags)
                }
                SEND => on_send(&mut r, &mut d, tok, res),
                WAKE => d.arm_wake(mb.efd),
                TIMER => {
                    r.tick();
                    d.arm_timer();
                }
                _ => {}
            }
        }
        if returned_bufs {
            d.bufs.publish();
        }
        r.expire_due();
        r.memory_turn();
        r.drain_mailbox();
        for idx in r.take_adopted() {
            if let Some(fd) = r.conn(idx).map(|c| c.fd) {
                start_conn(&mut r, &mut d, idx, fd);
            }
        }
        r.flush_outboxes();
        flush_sends(&mut r, &mut d);
        flush_closes(&mut r, &mut d);
    }
    release_sockets(&r, &d);
    Ok(())
}

/// Every request still in flight (the multishot accept on each listener, a
/// multishot receive on each connection) holds a reference to its file, and
/// the kernel tears the ring down in a worker after the process is gone: a
/// socket that is only closed stays alive until then, so a restarted server
/// found its port taken and clients saw no EOF for a while. `shutdown`
/// takes effect at once, whoever still holds the file.
fn release_sockets(r: &Reactor, d: &Driver) {
    for &fd in &d.listeners {
        // SAFETY: shutting down and closing our own listener fds on exit.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
            libc::close(fd);
        }
    }
    for (_, c) in r.conns_iter() {
        // SAFETY: our own connection fds; they are closed when the process
        // exits right after this.
        unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
    }
}

fn on_accept(r: &mut Reactor, d: &mut Driver, li: usize, res: i32, flags: u32) {
    if res >= 0 {
        if let Some(idx) = r.accept(res) {
            start_conn(r, d, idx, res);
        }
    } else if res != -libc::ECANCELED {
        log::warn!("accept failed: {}", std::io::Error::from_raw_os_error(-res));
    }
    if !cqueue::more(flags) && !r.shared.stop.load(Ordering::Relaxed) && li < d.listeners.len() {
        d.arm_accept(li);
    }
}

/// Start reading a new connection: accepted, or a master connection a
/// replication link handed over (`Reactor::take_adopted`).
fn start_conn(r: &mut Reactor, d: &mut Driver, idx: u32, fd: i32) {
    d.register(idx, fd);
    let tok = r.token_of(idx);
    if let Some(c) = r.conn_mut(idx) {
        c.recv_armed = true;
    }
    d.arm_recv(fd, tok);
}

/// Returns true if a provided buffer was handed back.
fn on_recv(r: &mut Reactor, d: &mut Driver, tok: u64, res: i32, flags: u32) -> bool {
    let (idx, _) = token_parts(tok);
    let bid = cqueue::buffer_select(flags);
    if res > 0 {
        if let Some(bid) = bid {
            r.on_recv(idx, d.bufs.data(bid, res as usize));
            d.bufs.push(bid);
        }
    } else if res == 0 || (res < 0 && res != -libc::ENOBUFS) {
        // EOF or a socket error: the client is gone.
        r.close(idx);
    }
    if !cqueue::more(flags) {
        let rearm = match r.conn_mut(idx) {
            Some(c) => {
                c.recv_armed = false;
                if !c.closing {
                    c.recv_armed = true;
                    Some(c.fd)
                } else {
                    None
                }
            }
            None => None,
        };
        match rearm {
            Some(fd) => d.arm_recv(fd, tok),
            None => maybe_release(r, d, idx),
        }
    }
    bid.is_some()
}

fn on_send(r: &mut Reactor, d: &mut Driver, tok: u64, res: i32) {
    let (idx, _) = token_parts(tok);
    let Some(c) = r.conn_mut(idx) else { return };
    c.send_inflight = false;
    if res < 0 || c.closing {
        if res < 0 {
            r.close(idx);
        }
        return maybe_release(r, d, idx);
    }
    c.send_off += res as usize;
    if c.send_off >= c.sending.len() {
        c.sent_all();
    }
    r.on_sent(res as usize);
    start_send(r, d, idx);
    if let Some(c) = r.conn(idx) {
        if !c.send_inflight {
            r.after_flush(idx);
        }
    }
}

fn start_send(r: &mut Reactor, d: &mut Driver, idx: u32) {
    let tok = r.token_of(idx);
    let Some(c) = r.conn_mut(idx) else { return };
    if c.send_inflight || c.closing {
        return;
    }
    if c.sending.is_empty() {
        if c.out.is_empty() || c.hold_output() {
            return;
        }
        std::mem::swap(&mut c.sending, &mut c.out);
        c.send_off = 0;
    }
    let rest = &c.sending[c.send_off..];
    let (ptr, len) = (rest.as_ptr(), rest.len().min(u32::MAX as usize) as u32);
    let e = match d.fixed_slot(idx) {
        Some(i) => opcode::Send::new(types::Fixed(i), ptr, len),
        None => opcode::Send::new(types::Fd(c.fd), ptr, len),
    }
    .flags(libc::MSG_NOSIGNAL)
    .build()
    .user_data(ud(SEND, tok));
    c.send_inflight = true;
    d.push(e);
}

fn flush_sends(r: &mut Reactor, d: &mut Driver) {
    let dirty = std::mem::take(&mut r.dirty);
    for &idx in &dirty {
        if let Some(c) = r.conn_mut(idx) {
            c.dirty = false;
        }
        start_send(r, d, idx);
        if let Some(c) = r.conn(idx) {
            if !c.send_inflight {
                r.after_flush(idx);
            }
        }
    }
    let mut dirty = dirty;
    dirty.clear();
    if r.dirty.is_empty() {
        r.dirty = dirty;
    }
}

fn flush_closes(r: &mut Reactor, d: &mut Driver) {
    while let Some(idx) = r.to_close.pop() {
        if let Some(c) = r.conn(idx).filter(|c| c.closing) {
            // Ends the multishot recv (it completes with 0) and fails any
            // send in flight; the slot is released once both have completed.
            // SAFETY: shutdown on a socket we own.
            unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
        }
        maybe_release(r, d, idx);
    }
}

fn maybe_release(r: &mut Reactor, d: &mut Driver, idx: u32) {
    if let Some(c) = r.conn(idx) {
        if c.closing && !c.recv_armed && !c.send_inflight && r.idle_for_release(idx) {
            d.unregister(idx);
            r.release(idx);
        }
    }
}

/// Room for this many connections per reactor in the ring's file table
/// (the kernel refuses a table larger than RLIMIT_NOFILE).
fn fixed_table_size() -> u32 {
    const WANT: u64 = 16384;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a plain struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    WANT.min(lim.rlim_cur) as u32
}
