//! Mailbox round trip between two threads, as between two reactors.
//!
//! `cargo bench --bench mailbox`
//!
//! Thread A (the bench loop) pushes one batch of requests into mailbox B and
//! wakes it; thread B drains its mailbox, answers every request, pushes the
//! batch of responses into mailbox A and wakes it; A waits for that batch.
//! One iteration = one round trip.
//!
//! * `sleep_wake`: both sides block the way a reactor does: `prepare_sleep`,
//!   then wait on the mailbox's eventfd (`poll` + `read`), so every round trip
//!   pays two eventfd writes and two wake-ups (the idle-reactor case).
//! * `spin`: both sides busy-poll the queue and never sleep, so `wake` finds
//!   nobody asleep and costs no syscall (the loaded-reactor case). This is the
//!   queue transport alone; it needs two free CPUs to mean anything.
//!
//! The requests are `DbSize` and the responses `Int`, the cheapest messages,
//! so the figures are transport cost, not command execution.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use halocline::reactor::mailbox::{self, Mailbox};
use halocline::tx::{Batch, Msg, OpResult, Request, Response, ShardOp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    SleepWake,
    Spin,
}

/// Block until the eventfd is readable, then clear it.
fn wait_eventfd(efd: i32) {
    let mut pfd = libc::pollfd {
        fd: efd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the eventfd outlives the call (the mailbox is
    // kept alive by an Arc on this thread).
    unsafe {
        if libc::poll(&mut pfd, 1, 100) > 0 {
            let mut v: u64 = 0;
            // Non-blocking eventfd: EAGAIN is fine (someone else cleared it).
            libc::read(efd, &mut v as *mut u64 as *mut libc::c_void, 8);
        }
    }
}

/// Next batch from `mb`, waiting as `mode` says. `None` once `stop` is raised.
fn recv(mb: &Mailbox, mode: Mode, stop: &AtomicBool) -> Option<Batch> {
    loop {
        if let Some(b) = mb.pop() {
            return Some(b);
        }
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match mode {
            Mode::Spin => std::hint::spin_loop(),
            Mode::SleepWake => {
                // Messages may have arrived between pop and prepare_sleep.
                if !mb.prepare_sleep() {
                    continue;
                }
                wait_eventfd(mb.efd);
                mb.awake();
            }
        }
    }
}

fn send(mb: &Mailbox, mut batch: Batch) {
    loop {
        match mb.push(batch) {
            Ok(()) => break,
            Err(b) => {
                batch = b;
                std::hint::spin_loop();
            }
        }
    }
    if mb.claim_wake() {
        mailbox::ring_eventfd(mb.efd);
    }
}

fn requests(n: usize, seq: u64) -> Batch {
    let msgs = (0..n)
        .map(|i| {
            Msg::Req(Request {
                from: 0,
                conn: 1,
                slot: seq + i as u64,
                part: 0,
                op: Box::new(ShardOp::DbSize { db: 0 }),
            })
        })
        .collect();
    Batch {
        msgs,
        ..Batch::default()
    }
}

/// Thread B: answer every request of every batch with one batch back to A.
fn responder(a: Arc<Mailbox>, b: Arc<Mailbox>, mode: Mode, stop: Arc<AtomicBool>) {
    while let Some(batch) = recv(&b, mode, &stop) {
        let mut out = Batch::default();
        for m in batch.msgs {
            if let Msg::Req(r) = m {
                out.push(Msg::Resp(Response {
                    conn: r.conn,
                    slot: r.slot,
                    part: r.part,
                    result: OpResult::Int(0),
                }));
            }
        }
        send(&a, out);
    }
}

fn bench_mailbox(c: &mut Criterion) {
    let mut g = c.benchmark_group("mailbox_round_trip");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);

    for (mname, mode) in [("sleep_wake", Mode::SleepWake), ("spin", Mode::Spin)] {
        for batch in [1usize, 16] {
            let a = Arc::new(Mailbox::new().expect("eventfd"));
            let b = Arc::new(Mailbox::new().expect("eventfd"));
            let stop = Arc::new(AtomicBool::new(false));
            let th = {
                let (a, b, stop) = (a.clone(), b.clone(), stop.clone());
                thread::spawn(move || responder(a, b, mode, stop))
            };
            let never = AtomicBool::new(false);
            let mut seq = 0u64;
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(BenchmarkId::new(mname, batch), &batch, |bch, &n| {
                bch.iter(|| {
                    send(&b, requests(n, seq));
                    seq += n as u64;
                    let back = recv(&a, mode, &never).expect("response batch");
                    debug_assert_eq!(back.msgs.len(), n);
                    black_box(back)
                })
            });
            stop.store(true, Ordering::Relaxed);
            b.ring();
            th.join().expect("responder thread");
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_mailbox
}
criterion_main!(benches);
