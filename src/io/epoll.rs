//! The epoll driver: the same reactor core over non-blocking sockets, for
//! hosts where io_uring is unavailable (Docker's default seccomp profile,
//! `kernel.io_uring_disabled`, old kernels).
//!
//! Readiness is edge-triggered: on EPOLLIN a socket is read until EAGAIN;
//! replies are written directly at the end of the turn, and only a socket
//! whose buffer filled up asks for EPOLLOUT. The mailbox eventfd is
//! registered like any other fd.

use crate::reactor::{mailbox, token_parts, Reactor};
use std::sync::atomic::Ordering;

const LISTENER: u64 = 1 << 62;
const WAKE: u64 = 1 << 61;
const READ_BUF: usize = 64 * 1024;
const TICK_MS: u64 = 100;

struct Epoll {
    fd: i32,
}

impl Epoll {
    fn ctl(&self, op: i32, fd: i32, events: u32, data: u64) -> std::io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: epoll_ctl with a valid event struct on our own epoll fd.
        if unsafe { libc::epoll_ctl(self.fd, op, fd, &mut ev) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closing our own epoll fd.
        unsafe { libc::close(self.fd) };
    }
}

pub fn run(mut r: Reactor, listeners: Vec<i32>) -> std::io::Result<()> {
    // SAFETY: plain syscall, checked below.
    let efd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if efd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ep = Epoll { fd: efd };
    for (i, &fd) in listeners.iter().enumerate() {
        set_nonblocking(fd);
        ep.ctl(
            libc::EPOLL_CTL_ADD,
            fd,
            libc::EPOLLIN as u32,
            LISTENER | i as u64,
        )?;
    }
    let shared = r.shared.clone();
    let mb = &shared.mailboxes[r.id];
    ep.ctl(libc::EPOLL_CTL_ADD, mb.efd, libc::EPOLLIN as u32, WAKE)?;
    let mut events: Vec<libc::epoll_event> = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; READ_BUF];
    let mut next_tick = std::time::Instant::now() + std::time::Duration::from_millis(TICK_MS);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let idle = r.dirty.is_empty() && r.to_close.is_empty() && !r.has_outbox();
        if idle {
            r.wake_before_sleep();
        }
        for efd in r.take_wakes() {
            mailbox::ring_eventfd(efd);
        }
        let timeout = if idle && mb.prepare_sleep() {
            let tick = next_tick
                .saturating_duration_since(std::time::Instant::now())
                .as_millis()
                .min(TICK_MS as u128) as u64;
            // A blocked client's timeout bounds the sleep too.
            r.sleep_budget_ms().map_or(tick, |b| b.min(tick)) as i32
        } else {
            0
        };
        // SAFETY: `events` is a live buffer of the length we pass.
        let n =
            unsafe { libc::epoll_wait(ep.fd, events.as_mut_ptr(), events.len() as i32, timeout) };
        mb.awake();
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        // As in the uring driver: messages that were waiting go before the
        // input read in this turn.
        r.drain_mailbox();
        for ev in &events[..n as usize] {
            let (data, flags) = (ev.u64, ev.events);
            if data & LISTENER != 0 {
                accept_all(&mut r, &ep, listeners[(data & 0xFFFF) as usize]);
            } else if data & WAKE != 0 {
                let mut v = 0u64;
                // SAFETY: reading 8 bytes into a live u64 from our eventfd.
                unsafe { libc::read(mb.efd, &mut v as *mut u64 as *mut libc::c_void, 8) };
            } else {
                let (idx, _) = token_parts(data);
                if flags
                    & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32
                    != 0
                {
                    let hup =
                        flags & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
                    read_all(&mut r, idx, &mut buf, hup);
                }
                if flags & libc::EPOLLOUT as u32 != 0 {
                    if let Some(c) = r.conn_mut(idx) {
                        c.send_inflight = false;
                    }
                    write_out(&mut r, &ep, idx);
                }
            }
        }
        if std::time::Instant::now() >= next_tick {
            r.tick();
            next_tick = std::time::Instant::now() + std::time::Duration::from_millis(TICK_MS);
        }
        r.expire_due();
        r.memory_turn();
        r.drain_mailbox();
        for idx in r.take_adopted() {
            if let Some(fd) = r.conn(idx).map(|c| c.fd) {
                watch(&mut r, &ep, idx, fd);
            }
        }
        r.flush_outboxes();
        let dirty = std::mem::take(&mut r.dirty);
        for &idx in &dirty {
            if let Some(c) = r.conn_mut(idx) {
                c.dirty = false;
            }
            write_out(&mut r, &ep, idx);
        }
        while let Some(idx) = r.to_close.pop() {
            if r.conn(idx).is_some_and(|c| c.closing) && r.idle_for_release(idx) {
                // close() also removes the fd from the epoll set.
                r.release(idx);
            }
        }
    }
    for &fd in &listeners {
        // SAFETY: closing our own listener fds on shutdown.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

fn accept_all(r: &mut Reactor, ep: &Epoll, lfd: i32) {
    loop {
        // SAFETY: accept4 with null address pointers is allowed.
        let fd = unsafe {
            libc::accept4(
                lfd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EAGAIN) && e.raw_os_error() != Some(libc::EINTR) {
                log::warn!("accept failed: {e}");
            }
            return;
        }
        if let Some(idx) = r.accept(fd) {
            watch(r, ep, idx, fd);
        }
    }
}

/// Add a new connection (accepted, or a master connection a replication
/// link handed over) to the epoll set. A socket that already holds data
/// is reported at once.
fn watch(r: &mut Reactor, ep: &Epoll, idx: u32, fd: i32) {
    let tok = r.token_of(idx);
    let ev = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
    if ep.ctl(libc::EPOLL_CTL_ADD, fd, ev, tok).is_err() {
        r.close(idx);
    }
}

/// Edge-triggered: read until the socket is empty. A short read means it
/// is, saving the read that would return EAGAIN, unless the peer hung up:
/// then read on to the EOF, since no further edge will report it.
fn read_all(r: &mut Reactor, idx: u32, buf: &mut [u8], hup: bool) {
    loop {
        let Some(c) = r.conn(idx) else { return };
        if c.closing {
            return;
        }
        let fd = c.fd;
        // SAFETY: reading into our own buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n > 0 {
            // One read's pipeline at a time here (io_uring gets a whole
            // batch of connections): still, its lookups overlap.
            r.prefetch(idx, &buf[..n as usize]);
            r.prefetch_entries();
            r.on_recv(idx, &buf[..n as usize]);
            if (n as usize) < buf.len() && !hup {
                return;
            }
        } else if n == 0 {
            r.close(idx);
            return;
        } else {
            let e = std::io::Error::last_os_error().raw_os_error();
            if e == Some(libc::EINTR) {
                continue;
            }
            if e != Some(libc::EAGAIN) {
                r.close(idx);
            }
            return;
        }
    }
}

/// Write whatever is pending; if the socket is full, wait for EPOLLOUT
/// (`send_inflight` marks that wait, like an in-flight send in io_uring).
/// EPOLLOUT stays registered afterwards: edge-triggered, it only fires when
/// a full socket drains, which costs less than an epoll_ctl per stall.
fn write_out(r: &mut Reactor, ep: &Epoll, idx: u32) {
    let tok = r.token_of(idx);
    let mut sent = 0usize;
    let mut failed = false;
    if let Some(c) = r.conn_mut(idx) {
        if c.send_inflight || c.closing {
            return;
        }
        loop {
            if c.sending.is_empty() {
                if c.out.is_empty() || c.hold_output() {
                    break;
                }
                std::mem::swap(&mut c.sending, &mut c.out);
                c.send_off = 0;
            }
            let rest = &c.sending[c.send_off..];
            // SAFETY: sending from a live buffer; MSG_NOSIGNAL avoids SIGPIPE.
            let n = unsafe {
                libc::send(
                    c.fd,
                    rest.as_ptr() as *const libc::c_void,
                    rest.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                sent += n as usize;
                c.send_off += n as usize;
                if c.send_off >= c.sending.len() {
                    c.sent_all();
                }
                continue;
            }
            let e = std::io::Error::last_os_error().raw_os_error();
            if e == Some(libc::EINTR) {
                continue;
            }
            if e == Some(libc::EAGAIN) {
                c.send_inflight = true;
                let ev = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET | libc::EPOLLOUT) as u32;
                let _ = ep.ctl(libc::EPOLL_CTL_MOD, c.fd, ev, tok);
            } else {
                failed = true;
            }
            break;
        }
    }
    r.on_sent(sent);
    if failed {
        r.close(idx);
    } else {
        r.after_flush(idx);
    }
}
