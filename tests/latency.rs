//! Latency guards for the io_uring driver's batching (`io::batch`).
//!
//! This binary holds one test on purpose: it widens the linger through the
//! process environment, which every server spawned from this binary
//! inherits.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// One busy client next to many idle pooled connections must not wait for
/// completions that will never come. The batch target used to be half the
/// open connections: with a 20 ms linger each of these PINGs took 20 ms.
#[test]
fn a_busy_client_among_idle_connections_does_not_wait_for_a_batch() {
    std::env::set_var("HALOCLINE_LINGER_US", "20000");
    let s = Server::start(1);
    let idle: Vec<Raw> = (0..49).map(|_| s.raw()).collect();
    let mut busy = s.raw();
    assert_eq!(busy.call(&["PING"]), Resp::simple("PONG"));
    // Let the reactor accept every idle connection.
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    for _ in 0..50 {
        assert_eq!(busy.call(&["PING"]), Resp::simple("PONG"));
    }
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(400),
        "50 sequential PINGs took {took:?} (a lingering reactor waits 20 ms each)"
    );
    drop(idle);
}
