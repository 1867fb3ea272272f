//! A provided-buffer ring (IORING_REGISTER_PBUF_RING) for multishot recv.
//!
//! The io-uring crate exposes only the raw registration call and the entry
//! type, so the ring itself (one mmap for the entries, one allocation for the
//! buffers, a Release store of the tail) is written here.

use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use std::sync::atomic::{AtomicU16, Ordering};

pub struct BufRing {
    ring: *mut BufRingEntry,
    entries: u16,
    mask: u16,
    tail: u16,
    buf_size: usize,
    bufs: Vec<u8>,
    pub bgid: u16,
}

impl BufRing {
    pub fn new(
        uring: &IoUring,
        entries: u16,
        buf_size: usize,
        bgid: u16,
    ) -> std::io::Result<BufRing> {
        assert!(entries.is_power_of_two());
        let bytes = entries as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: anonymous private mapping; checked for MAP_FAILED.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_ANONYMOUS | libc::MAP_PRIVATE,
                -1,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let mut br = BufRing {
            ring: ring as *mut BufRingEntry,
            entries,
            mask: entries - 1,
            tail: 0,
            buf_size,
            bufs: vec![0u8; entries as usize * buf_size],
            bgid,
        };
        // SAFETY: the mapping lives as long as `br` (unmapped in Drop after
        // unregistering happens with the ring's own teardown).
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ring as u64, entries, bgid, 0)?;
        }
        for bid in 0..entries {
            br.push(bid);
        }
        br.publish();
        Ok(br)
    }

    /// Give buffer `bid` back to the kernel (visible after `publish`).
    pub fn push(&mut self, bid: u16) {
        let idx = (self.tail & self.mask) as usize;
        // SAFETY: idx < entries; the entry memory is ours to write until the
        // tail store below publishes it.
        unsafe {
            let e = &mut *self.ring.add(idx);
            e.set_addr(self.bufs.as_ptr().add(bid as usize * self.buf_size) as u64);
            e.set_len(self.buf_size as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    pub fn publish(&mut self) {
        // SAFETY: the tail field overlays entry 0's `resv`, per the kernel ABI.
        unsafe {
            let tail = BufRingEntry::tail(self.ring) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// The bytes the kernel wrote into buffer `bid`.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        let start = (bid as usize % self.entries as usize) * self.buf_size;
        &self.bufs[start..start + len.min(self.buf_size)]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        let bytes = self.entries as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: unmapping our own mapping; the ring that used it is gone or
        // going (the reactor drops the IoUring first).
        unsafe { libc::munmap(self.ring as *mut libc::c_void, bytes) };
    }
}
