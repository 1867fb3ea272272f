//! How many completions a sleeping uring reactor waits for before it
//! returns from `io_uring_enter` (the kernel's `min_wait`: wait up to the
//! linger time for that many, then return with whatever has arrived).
//!
//! Lingering pays off only when other clients are about to send anyway: under
//! a closed-loop load of many busy clients one enter then serves several
//! requests instead of one. It costs latency whenever the batch cannot fill:
//! a client alone on a server keeps sending one request at a time, and a
//! connection pool keeps many connections open of which few are busy. The
//! batch target was once half the *open* connections, and one busy client
//! next to 49 idle pooled ones lost 15% of its throughput to the linger
//! (p50 47 -> 55 us). So the target now follows the connections that
//! actually sent something lately, and the arrival rate must be high enough
//! for a second completion to be expected within the linger at all.

use std::time::{Duration, Instant};

/// Activity is counted over windows of this length; the target uses the
/// larger of the last complete window and the current one, so it rises as
/// soon as load does and falls one window after load goes away.
const WINDOW: Duration = Duration::from_millis(10);

/// Lingering needs clients that are busy elsewhere while we wait. With few
/// of them (redis-benchmark -c 4) each one is mostly waiting on us, and a
/// linger starves them: -c 4 GET ran at 53k req/s and 12.0 us of server CPU
/// per request with a 50 us linger, 66k and 9.6 us without.
const MIN_CLIENTS: u32 = 8;

/// Arrivals the recent rate must promise within one linger. A linger that
/// ends with one extra completion saved one wake-up and cost every request in
/// it up to the linger in latency; two make it pay for itself.
const MIN_EXPECTED: u128 = 2;

pub struct Batcher {
    /// Reactors sharing this one's CPU (1 with a CPU each).
    share: u32,
    /// Per connection slot: the window in which it last sent something.
    seen: Vec<u32>,
    window: u32,
    started: Instant,
    distinct: u32,
    arrivals: u32,
    prev_distinct: u32,
    prev_arrivals: u32,
    max_batch: u32,
    linger: Duration,
}

impl Batcher {
    /// `share`: how many reactors run on each CPU this one may use. While
    /// one of them lingers the CPU serves the others, so a linger costs no
    /// throughput, only latency, and each reactor sees only its share of
    /// the arrivals: judged on its own rate alone, two reactors on one CPU
    /// under redis-benchmark -c 50 -P 1 sat right at the threshold (~2.0
    /// expected per 50 us each) and flipped between batched runs (0.26
    /// syscalls per request) and unbatched ones (1.1, +40% CPU per
    /// request). The rate that decides is the CPU's: ours times `share`.
    pub fn new(max_batch: u32, linger: Duration, share: u32) -> Batcher {
        Batcher {
            share: share.max(1),
            seen: Vec::new(),
            // Slot entries start at 0: the first window is 1 so that every
            // connection counts once in it.
            window: 1,
            started: Instant::now(),
            distinct: 0,
            arrivals: 0,
            prev_distinct: 0,
            prev_arrivals: 0,
            max_batch,
            linger,
        }
    }

    /// A connection delivered data.
    #[inline]
    pub fn arrival(&mut self, conn: u32) {
        let i = conn as usize;
        if i >= self.seen.len() {
            self.seen.resize(i + 1, 0);
        }
        if self.seen[i] != self.window {
            self.seen[i] = self.window;
            self.distinct += 1;
        }
        self.arrivals += 1;
    }

    /// How many completions to wait for before returning (1: no linger).
    pub fn want(&mut self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= WINDOW {
            // A window with no activity at all (an idle gap) resets history.
            let idle = elapsed >= 2 * WINDOW;
            self.prev_distinct = if idle { 0 } else { self.distinct };
            self.prev_arrivals = if idle { 0 } else { self.arrivals };
            self.distinct = 0;
            self.arrivals = 0;
            self.window = self.window.wrapping_add(1).max(1);
            self.started = now;
        }
        let distinct = self.distinct.max(self.prev_distinct);
        let arrivals = self.arrivals.max(self.prev_arrivals) as u128 * self.share as u128;
        // Arrivals expected within one linger, at the rate of a window.
        let expected = arrivals * self.linger.as_nanos() / WINDOW.as_nanos();
        if expected < MIN_EXPECTED || distinct < MIN_CLIENTS {
            return 1;
        }
        (distinct / 2).min(self.max_batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINGER: Duration = Duration::from_micros(20);

    fn feed(b: &mut Batcher, conns: u32, per_conn: u32) {
        for _ in 0..per_conn {
            for c in 0..conns {
                b.arrival(c);
            }
        }
    }

    #[test]
    fn many_busy_clients_batch_up_to_the_cap() {
        let mut b = Batcher::new(16, LINGER, 1);
        let t0 = Instant::now();
        // 50 clients, 1000 requests in 10 ms: 2 expected per 20 us.
        feed(&mut b, 50, 20);
        assert_eq!(b.want(t0), 16);
        feed(&mut b, 10, 1);
        assert_eq!(b.want(t0 + WINDOW), 16, "the last window still counts");
    }

    #[test]
    fn one_busy_client_among_idle_ones_never_waits() {
        let mut b = Batcher::new(16, LINGER, 1);
        // Pooled connections that are open but silent do not count; one
        // busy client at a high rate is still one client.
        feed(&mut b, 1, 5000);
        assert_eq!(b.want(Instant::now()), 1);
    }

    #[test]
    fn a_slow_trickle_from_many_clients_does_not_wait() {
        let mut b = Batcher::new(16, LINGER, 1);
        // 40 clients, 40 requests in 10 ms: 0.08 expected per linger.
        feed(&mut b, 40, 1);
        assert_eq!(b.want(Instant::now()), 1);
        // 40 clients, 800 in 10 ms: 1.6 expected, still not worth a wait.
        feed(&mut b, 40, 19);
        assert_eq!(b.want(Instant::now()), 1);
    }

    #[test]
    fn a_few_busy_clients_do_not_wait_for_each_other() {
        let mut b = Batcher::new(16, LINGER, 1);
        // 4 clients at 200k req/s: each mostly waits on the server.
        feed(&mut b, 4, 500);
        assert_eq!(b.want(Instant::now()), 1);
        feed(&mut b, 8, 100);
        assert_eq!(b.want(Instant::now()), 4);
    }

    #[test]
    fn reactors_sharing_a_cpu_judge_the_cpu_rate() {
        // 25 clients, 250 requests in 10 ms: 1.25 expected per 50 us
        // linger alone, 2.5 for the CPU two such reactors share.
        let linger = Duration::from_micros(50);
        let mut alone = Batcher::new(16, linger, 1);
        let mut shared = Batcher::new(16, linger, 2);
        feed(&mut alone, 25, 10);
        feed(&mut shared, 25, 10);
        assert_eq!(alone.want(Instant::now()), 1);
        assert_eq!(shared.want(Instant::now()), 12);
        // Few clients still never wait, however the CPU is shared.
        let mut few = Batcher::new(16, linger, 4);
        feed(&mut few, 4, 500);
        assert_eq!(few.want(Instant::now()), 1);
    }

    #[test]
    fn history_fades_after_an_idle_gap() {
        let mut b = Batcher::new(16, LINGER, 1);
        let t0 = Instant::now();
        feed(&mut b, 50, 20);
        assert_eq!(b.want(t0), 16);
        assert_eq!(b.want(t0 + 3 * WINDOW), 1);
        // The new window counts each connection once again.
        feed(&mut b, 2, 1000);
        assert_eq!(b.want(t0 + 3 * WINDOW), 1);
        feed(&mut b, 8, 100);
        assert_eq!(b.want(t0 + 3 * WINDOW), 4);
    }
}
