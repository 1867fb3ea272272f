//! MULTI/EXEC and WATCH state, and the plan of an EXEC.
//!
//! An EXEC whose keys (watched ones included) live on one shard is one
//! `Batch` operation on that shard: atomic because a shard runs it in one
//! step, with no extra hop when the shard is local (the hash-tag case).
//! Otherwise it is a transaction: locks on every key, shard by shard in
//! increasing order (`locks`), then the WATCH check, then the commands as a
//! chain of steps (consecutive single-shard commands batched per shard and
//! run in parallel; a multi-shard command as its own fan-out), then unlock.

use super::fanout::{reply_of, Finish, Plan, Step};
use super::{OpResult, OwnedArgs, ShardOp};
use crate::protocol::{Proto, Reply};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Commands queued after MULTI.
#[derive(Default)]
pub struct MultiState {
    pub cmds: Vec<OwnedArgs>,
    /// A queued command was rejected: EXEC answers EXECABORT.
    pub error: bool,
    /// A queued command may use memory (EXEC is then refused when over
    /// maxmemory).
    pub denyoom: bool,
    /// A queued command writes (EXEC is then refused without enough
    /// replicas, see min-replicas-to-write).
    pub write: bool,
    /// A queued command may write or replicate (CLIENT PAUSE WRITE holds
    /// such an EXEC).
    pub may_replicate: bool,
    /// A queued command lacks the `stale` / `loading` flag: a replica
    /// refuses EXEC while its link is down (with replica-serve-stale-data
    /// no) or while it loads its master's snapshot, as Redis checks the
    /// queued commands' flags again at EXEC.
    pub denystale: bool,
    pub denyloading: bool,
}

/// Keys watched by a client. Shards hold a `Weak` of `flag` in each watched
/// key's entry and raise it on any change (write, expiry, flush).
pub struct WatchState {
    pub flag: Arc<AtomicBool>,
    pub keys: Vec<(usize, Vec<u8>)>,
}

impl WatchState {
    pub fn new() -> WatchState {
        WatchState {
            flag: Arc::new(AtomicBool::new(false)),
            keys: Vec::new(),
        }
    }
    pub fn dirty(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

impl Default for WatchState {
    fn default() -> Self {
        WatchState::new()
    }
}

/// Single-shard commands of one step, per shard: (shard, [(position in
/// the transaction, db, args)]).
pub type ShardBatches = Vec<(usize, Vec<(usize, usize, OwnedArgs)>)>;

/// One step of a multi-shard EXEC.
pub enum ExecStep {
    Batch(ShardBatches),
    /// A command that is its own fan-out (multi-shard key command, DBSIZE,
    /// INFO...): (position, plan).
    Plan(usize, Plan),
    /// A connection command (FUNCTION, CONFIG, CLIENT...), run by the
    /// coordinator when the steps before it are done (`Step::Conn`).
    Conn(usize, OwnedArgs),
}

type Replies = Rc<RefCell<Vec<Option<Vec<u8>>>>>;

/// What every `Batch` of one EXEC carries: its client's protocol, and its
/// tracker if the client tracks its reads (`ShardOp::Batch::track`).
#[derive(Clone, Copy)]
pub struct BatchCtx {
    pub proto: Proto,
    pub track: Option<crate::tracking::Tracker>,
}

/// Chain the steps into a coordinator plan that starts (once the locks are
/// held) with the WATCH check and ends writing the EXEC array.
pub fn chain(
    checks: Vec<(usize, ShardOp)>,
    steps: Vec<ExecStep>,
    replies: Vec<Option<Vec<u8>>>,
    watch: Option<Arc<AtomicBool>>,
    ctx: BatchCtx,
) -> Plan {
    let replies: Replies = Rc::new(RefCell::new(replies));
    let steps: VecDeque<ExecStep> = steps.into();
    Plan {
        ops: checks,
        barrier: true,
        finish: Box::new(move |results, r| {
            let expired = results.iter().any(|x| matches!(x, OpResult::Bool(true)));
            if expired || watch.is_some_and(|f| f.load(Ordering::Acquire)) {
                r.null_array();
                return Step::Done;
            }
            next(steps, replies, ctx, r)
        }),
    }
}

/// An EXEC with no WATCH whose commands each run on one shard (no fan-out
/// among them): one `Batch` per shard in a single-phase plan, so the
/// transaction takes the one-round-trip path (`TxState::fast`: the last
/// shard locks, runs and unlocks in one message) instead of a lock round
/// trip, a run round trip and an unlock message.
pub fn single_batch(groups: ShardBatches, replies: Vec<Option<Vec<u8>>>, ctx: BatchCtx) -> Plan {
    let (ops, positions) = batch_ops(groups, ctx);
    Plan {
        ops,
        barrier: false,
        finish: Box::new(move |results, r| {
            let mut all = replies;
            fill(&mut all, results, positions);
            write_exec_array(all, r);
            Step::Done
        }),
    }
}

/// One `Batch` operation per shard, and where each command's reply goes.
fn batch_ops(groups: ShardBatches, ctx: BatchCtx) -> (Vec<(usize, ShardOp)>, Vec<Vec<usize>>) {
    let mut ops = Vec::with_capacity(groups.len());
    let mut positions = Vec::with_capacity(groups.len());
    for (shard, cmds) in groups {
        let mut pos = Vec::with_capacity(cmds.len());
        let mut list = Vec::with_capacity(cmds.len());
        for (p, db, args) in cmds {
            pos.push(p);
            list.push((db, args));
        }
        positions.push(pos);
        ops.push((
            shard,
            ShardOp::Batch {
                proto: ctx.proto,
                cmds: list,
                in_tx: true,
                watch: None,
                track: ctx.track,
            },
        ));
    }
    (ops, positions)
}

/// The batches' replies, each into its command's place.
fn fill(all: &mut [Option<Vec<u8>>], results: Vec<OpResult>, positions: Vec<Vec<usize>>) {
    for (res, pos) in results.into_iter().zip(positions) {
        if let OpResult::Replies(list) = res {
            for (b, p) in list.into_iter().zip(pos) {
                if let Some(slot) = all.get_mut(p) {
                    *slot = Some(b);
                }
            }
        }
    }
}

fn write_exec_array(all: Vec<Option<Vec<u8>>>, r: &mut Reply) {
    r.array(all.len());
    for x in all {
        match x {
            Some(b) if !b.is_empty() => r.out.extend_from_slice(&b),
            // Never a malformed array, whatever a step failed to say.
            _ => r.null(),
        }
    }
}

fn next(mut steps: VecDeque<ExecStep>, replies: Replies, ctx: BatchCtx, r: &mut Reply) -> Step {
    let Some(step) = steps.pop_front() else {
        let all = std::mem::take(&mut *replies.borrow_mut());
        write_exec_array(all, r);
        return Step::Done;
    };
    match step {
        ExecStep::Batch(groups) => {
            let (ops, positions) = batch_ops(groups, ctx);
            let rep = replies.clone();
            Step::Next(
                ops,
                Box::new(move |results, r| {
                    fill(&mut rep.borrow_mut(), results, positions);
                    next(steps, rep, ctx, r)
                }),
            )
        }
        ExecStep::Plan(pos, plan) => {
            let then = then_next(pos, steps, replies, ctx);
            Step::Next(plan.ops, reply_of(plan.finish, ctx.proto, then))
        }
        ExecStep::Conn(pos, args) => Step::Conn(args, then_next(pos, steps, replies, ctx)),
    }
}

/// Keep a step's reply (`OpResult::Reply`, `fanout::reply_of`) as the
/// reply of command `pos`, then go on with the remaining steps.
fn then_next(pos: usize, steps: VecDeque<ExecStep>, replies: Replies, ctx: BatchCtx) -> Finish {
    Box::new(move |results, r| {
        if let Some(OpResult::Reply(b)) = results.into_iter().next() {
            if let Some(slot) = replies.borrow_mut().get_mut(pos) {
                *slot = Some(b);
            }
        }
        next(steps, replies, ctx, r)
    })
}
