//! A reactor's mailbox: a bounded lock-free MPSC queue plus an eventfd.
//!
//! Senders never touch the target's ring. The target keeps a read armed on
//! its eventfd inside its own ring, so an eventfd write wakes it out of
//! `io_uring_enter`. Wakes are rare by construction: the target raises
//! `sleeping` just before it blocks (and re-checks the queue after raising
//! it), and a sender writes the eventfd only if it is the one that lowers the
//! flag. An awake target is never rung; under load wakes cost ~0 syscalls.

use crate::tx::Batch;
use crossbeam_queue::ArrayQueue;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// In batches: a sender pushes at most one batch per loop turn.
pub const MAILBOX_CAPACITY: usize = 1 << 10;

/// Emptied batches waiting to be reused by the reactor that sent them.
const RETURNED_CAPACITY: usize = 16;

pub struct Mailbox {
    queue: ArrayQueue<Batch>,
    /// Emptied batches this reactor sent, handed back by a peer that has
    /// enough of its own (`Reactor::recycle`).
    returned: ArrayQueue<Batch>,
    pub efd: RawFd,
    sleeping: AtomicBool,
    /// eventfd writes made to wake this reactor (INFO, benchmarks).
    pub wakes: AtomicU64,
}

impl Mailbox {
    pub fn new() -> std::io::Result<Mailbox> {
        // SAFETY: plain syscall, result checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mailbox {
            queue: ArrayQueue::new(MAILBOX_CAPACITY),
            returned: ArrayQueue::new(RETURNED_CAPACITY),
            efd,
            sleeping: AtomicBool::new(false),
            wakes: AtomicU64::new(0),
        })
    }

    /// Enqueue without waking; `Err` gives the message back when full so the
    /// sender can keep it for its next turn (backpressure, not loss).
    #[inline]
    pub fn push(&self, m: Batch) -> Result<(), Batch> {
        self.queue.push(m)
    }

    #[inline]
    pub fn pop(&self) -> Option<Batch> {
        self.queue.pop()
    }

    /// Give an emptied batch back to this mailbox's owner, which sent it;
    /// `Err` if it already has enough.
    #[inline]
    pub fn give_back(&self, b: Batch) -> Result<(), Batch> {
        self.returned.push(b)
    }

    /// One of our batches a peer gave back, if any.
    #[inline]
    pub fn take_back(&self) -> Option<Batch> {
        self.returned.pop()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// True if the owner announced it is going to sleep and this caller is
    /// the one that must wake it (by `ring`, or by an eventfd write of its
    /// own, such as a write SQE in the caller's ring).
    #[inline]
    pub fn claim_wake(&self) -> bool {
        let claimed =
            self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst);
        if claimed {
            self.wakes.fetch_add(1, Ordering::Relaxed);
        }
        claimed
    }

    /// Unconditional wake (shutdown, threads that own no ring).
    pub fn ring(&self) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        ring_eventfd(self.efd);
    }

    /// Called by the owner before blocking. Returns false if messages are
    /// already waiting, in which case the owner must not sleep.
    #[inline]
    pub fn prepare_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        if !self.queue.is_empty() {
            self.sleeping.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    #[inline]
    pub fn awake(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }
}

/// What wakes a mailbox's owner: 1 added to its eventfd counter.
pub static EVENTFD_ONE: u64 = 1;

pub fn ring_eventfd(efd: RawFd) {
    // SAFETY: writing 8 bytes from a live u64 to an eventfd; a full counter
    // (EAGAIN) already means a wake is pending.
    unsafe { libc::write(efd, &EVENTFD_ONE as *const u64 as *const libc::c_void, 8) };
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.efd) };
    }
}
