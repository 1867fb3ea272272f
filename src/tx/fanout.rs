//! The coordinator of a command whose keys span shards: it sends one
//! `ShardOp` per shard, gathers the results in part order and turns them into
//! the reply (or into the next phase: MSETNX checks then writes, RENAME takes
//! then puts).

use super::locks::{lock_id, LockSet};
use super::ops::{CountMode, OpResult, OwnedArgs, ShardOp};
use super::spares::SpareArgs;
use crate::notify;
use crate::protocol::{Args, Proto, Reply};
use crate::shard::slot::key_shard;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A fold takes no more commands once it locks this many keys. Its own
/// shard's keys stay locked for a round trip, and the more keys held, the
/// more other transactions collide and wait: redis-benchmark MSET -P 16
/// at --threads 2 on one CPU (50 clients, 100k keys), server CPU per
/// request against no folding: 4 MSETs (40 keys) -16%, 16 MSETs +20%.
pub const MAX_FOLD_KEYS: usize = 32;

pub type Finish = Box<dyn FnOnce(Vec<OpResult>, &mut Reply) -> Step>;

pub enum Step {
    Done,
    Next(Vec<(usize, ShardOp)>, Finish),
    /// Run this connection command (FUNCTION, CONFIG, CLIENT...) on the
    /// coordinator for its connection, then hand its reply to the
    /// finisher as the one result (`OpResult::Reply`): EXEC runs such a
    /// command in its place among the others, as Redis does, not when
    /// EXEC starts (`FCALL f; FUNCTION DELETE lib` must call f first).
    Conn(OwnedArgs, Finish),
}

/// What a coordinator does once a phase is complete, if anything is left.
pub enum Phase {
    Ops(Vec<(usize, ShardOp)>),
    Conn(OwnedArgs),
}

pub struct Coord {
    results: Vec<Option<OpResult>>,
    left: usize,
    finish: Option<Finish>,
    /// A coordinator with more than one phase must not let later commands of
    /// the same connection overtake it.
    pub barrier: bool,
    /// Locks this coordinator takes (multi-shard atomicity), if any.
    pub tx: Option<Box<TxState>>,
    /// The reply, as written by the phases so far (a phase may answer
    /// before the last one, e.g. a gathered command before its write-back).
    pub out: Vec<u8>,
    /// An attempt of a blocked command spanning shards (see
    /// `reactor::blocking`): its reply goes back to the blocked client.
    pub block_attempt: bool,
    /// Writes to replicate when this coordinator completes, while it still
    /// holds its locks (see `replication::primary`).
    pub replicate: Option<Box<ToReplicate>>,
    /// It writes (with `replicate` None while a replica is attached: its
    /// writes were not recorded).
    pub writes: bool,
}

/// The commands a coordinator ran, for the replication stream: their
/// replies are its reply (`exec`: the elements of EXEC's array, else one
/// after another).
pub struct ToReplicate {
    pub cmds: Vec<(usize, OwnedArgs)>,
    pub exec: bool,
}

/// A transaction's lock acquisition: shards in increasing order, one at a
/// time (see `locks`), then the plan's first phase.
pub struct TxState {
    pub txid: u64,
    /// (shard, lock keys), sorted by shard; or, when `out_of_order`, the
    /// coordinator's own shard first and the others sorted after it.
    pub shards: Vec<(usize, LockSet)>,
    pub acquired: usize,
    /// The coordinator's own shard was locked first, ahead of lower ones:
    /// those are asked not to wait (a refusal releases everything and
    /// starts over in order), so a wait cycle still cannot form, and the
    /// common uncontended transaction saves a round trip.
    pub out_of_order: bool,
    pub first_ops: Option<Vec<(usize, ShardOp)>>,
    /// Single-phase plan with one op per locked shard: the last shard locks,
    /// runs its op and unlocks in one message, then the others run theirs
    /// and unlock in one message each (one round trip for a 2-shard MSET).
    pub fast: bool,
    /// Fast path: the ops still to run once the last shard answered (the
    /// plan's ops without that shard's: op j is part j, or j + 1 from
    /// `last_part` on), and that shard's part number.
    pub fast_rest: Option<Vec<(usize, ShardOp)>>,
    pub last_part: Option<u32>,
}

impl Coord {
    pub fn new(parts: usize, finish: Finish) -> Coord {
        Coord {
            results: (0..parts).map(|_| None).collect(),
            left: parts,
            finish: Some(finish),
            barrier: false,
            tx: None,
            out: Vec::new(),
            block_attempt: false,
            replicate: None,
            writes: false,
        }
    }

    /// Record a part; true when every part of this phase is in.
    pub fn record(&mut self, part: u32, r: OpResult) -> bool {
        if let Some(slot) = self.results.get_mut(part as usize) {
            if slot.is_none() {
                *slot = Some(r);
                self.left -= 1;
            }
        }
        self.left == 0
    }

    /// Run the finisher, writing to `self.out`; returns the next phase,
    /// or None when the reply is complete.
    pub fn complete(&mut self, proto: Proto) -> Option<Phase> {
        const _: () = assert!(size_of::<Option<OpResult>>() == size_of::<OpResult>());
        // Collected in place (`Option<OpResult>` and `OpResult` share a
        // layout): no second vector per phase.
        let results: Vec<OpResult> = std::mem::take(&mut self.results)
            .into_iter()
            .map(|r| r.unwrap_or(OpResult::Unit))
            .collect();
        let finish = self.finish.take()?;
        let mut r = Reply::new(&mut self.out, proto);
        match finish(results, &mut r) {
            Step::Done => None,
            Step::Next(ops, f) => {
                self.expect(ops.len(), f);
                Some(Phase::Ops(ops))
            }
            Step::Conn(args, f) => {
                self.expect(1, f);
                Some(Phase::Conn(args))
            }
        }
    }

    fn expect(&mut self, parts: usize, finish: Finish) {
        self.results = (0..parts).map(|_| None).collect();
        self.left = parts;
        self.finish = Some(finish);
    }

    /// The connection command of a `Phase::Conn` asked for a fan-out of
    /// its own (INFO, CLIENT LIST...): run that as this phase instead,
    /// its reply becoming the command's.
    pub fn splice(&mut self, plan_parts: usize, inner: Finish, proto: Proto) {
        let Some(then) = self.finish.take() else {
            return;
        };
        self.expect(plan_parts, reply_of(inner, proto, then));
    }
}

/// Run a fan-out's finisher (and its later phases) into a buffer of its
/// own, then hand that buffer to `then` as the one result
/// (`OpResult::Reply`). A fan-out may write its reply in an early phase (a
/// gathered command answers before its write-back), so the buffer carries
/// over phases.
pub fn reply_of(inner: Finish, proto: Proto, then: Finish) -> Finish {
    reply_into(inner, Vec::new(), proto, then)
}

fn reply_into(inner: Finish, mut buf: Vec<u8>, proto: Proto, then: Finish) -> Finish {
    Box::new(move |results, r| {
        let step = {
            let mut tmp = Reply::new(&mut buf, proto);
            inner(results, &mut tmp)
        };
        match step {
            Step::Next(ops, f) => Step::Next(ops, reply_into(f, buf, proto, then)),
            Step::Conn(args, f) => Step::Conn(args, reply_into(f, buf, proto, then)),
            Step::Done => then(vec![OpResult::Reply(buf)], r),
        }
    })
}

/// A fan-out: the operations to send (shard, op) and how to finish.
pub struct Plan {
    pub ops: Vec<(usize, ShardOp)>,
    pub finish: Finish,
    pub barrier: bool,
}

/// Several single-phase plans of one connection's pipeline as one plan:
/// one operation per shard (`ShardOp::Seq`, the plans' operations on that
/// shard in pipeline order), whose finisher hands each plan its own results
/// and lets it write its reply, in order. Run under the union of the
/// plans' locks this is one transaction instead of one per command: a
/// client's commands read in one batch never interleave with other
/// clients' (Redis runs a client's whole query buffer in one go), so the
/// grouping is invisible, and the lock round trips are paid once.
pub fn fold(plans: Vec<Plan>) -> Plan {
    // (shard, its operations) in first-seen order, and for each plan's
    // parts: (merged part, index in that part's sequence).
    let mut shards: Vec<(usize, Vec<ShardOp>)> = Vec::with_capacity(2);
    let mut finishers = Vec::with_capacity(plans.len());
    for p in plans {
        let mut places = Vec::with_capacity(p.ops.len());
        for (s, op) in p.ops {
            let g = super::group_index(&mut shards, s, Vec::new);
            places.push((g, shards[g].1.len()));
            shards[g].1.push(op);
        }
        finishers.push((places, p.finish));
    }
    let ops = shards
        .into_iter()
        .map(|(s, ops)| (s, ShardOp::Seq(ops)))
        .collect();
    Plan {
        ops,
        barrier: false,
        finish: Box::new(move |results, r| {
            let mut parts: Vec<Vec<Option<OpResult>>> = results
                .into_iter()
                .map(|x| match x {
                    OpResult::Seq(v) => v.into_iter().map(Some).collect(),
                    _ => Vec::new(),
                })
                .collect();
            // At least a short reply each (MSET's +OK, DEL's count): grown
            // from empty it took several reallocations per fold.
            r.out.reserve(finishers.len() * 8);
            for (places, finish) in finishers {
                let mine = places
                    .iter()
                    .map(|&(g, i)| {
                        parts
                            .get_mut(g)
                            .and_then(|p| p.get_mut(i))
                            .and_then(Option::take)
                            .unwrap_or(OpResult::Unit)
                    })
                    .collect();
                // Only single-phase plans are folded: this is always Done.
                let _ = finish(mine, r);
            }
            Step::Done
        }),
    }
}

fn one_key(k: &[u8]) -> OwnedArgs {
    let mut a = OwnedArgs::new();
    a.push(k);
    a
}

/// For each key in request order: (its shard group, its index in the group).
type KeyPositions = Vec<(usize, usize)>;

/// A fan-out over the keys' shards, with the locks making it atomic:
/// one lock set per shard, in the plan's group order (`start_tx` sorts).
pub type Locks = Vec<(usize, LockSet)>;

/// Split keys (every `width`-th argument from 1, taking `width` arguments
/// each: 1 for keys, 2 for key/value pairs) into one argument list per
/// shard, and the locks of those keys in database `db`, grouped the same
/// way (each key is routed once). With `positions`, also where each key
/// went (MGET's reply order); the other callers skip that allocation.
fn group_args(
    a: Args,
    nshards: usize,
    width: usize,
    db: usize,
    positions: bool,
) -> (Vec<(usize, OwnedArgs)>, KeyPositions, Locks) {
    // Two passes, so that each group is allocated once at its final size:
    // grown push by push, the groups of a 10-key MSET cost more
    // reallocations than the whole command costs on one shard. The
    // arguments are walked as tuples of ranges rather than by index:
    // `Args::get` per argument was a fifth of this function.
    let (buf, ranges) = a.raw();
    let tuples = ranges
        .get(1..)
        .unwrap_or_default()
        .chunks_exact(width.max(1));
    let n = tuples.len();
    let mut pos: KeyPositions = Vec::with_capacity(if positions { n } else { 0 });
    // Per key: its group. Per group: its bytes; both on the stack for the
    // usual handful of keys and shards.
    let mut group_of: SmallVec<[u32; 32]> = SmallVec::with_capacity(n);
    let mut bytes: SmallVec<[usize; 4]> = SmallVec::new();
    let mut locks: Locks = Vec::with_capacity(2);
    for t in tuples.clone() {
        // The parser's ranges are in the buffer; an empty key otherwise
        // keeps `group_of` in step with the tuples.
        let key = buf.get(t[0].clone()).unwrap_or_default();
        let s = key_shard(key, nshards);
        let g = match locks.iter().position(|(gs, _)| *gs == s) {
            Some(g) => g,
            None => {
                // Room for the pipeline's next commands too: a folding
                // command's sets become the fold's (`Reactor::add_to_fold`),
                // which grew them twice per shard per fold.
                locks.push((s, Vec::with_capacity(n + MAX_FOLD_KEYS)));
                bytes.push(0);
                locks.len() - 1
            }
        };
        if positions {
            pos.push((g, locks[g].1.len()));
        }
        locks[g].1.push(lock_id(db, key));
        bytes[g] += t.iter().map(|r| r.len()).sum::<usize>();
        group_of.push(g as u32);
    }
    let mut groups: Vec<(usize, OwnedArgs)> = locks
        .iter()
        .zip(&bytes)
        .map(|((s, l), &b)| (*s, OwnedArgs::with_capacity(b, l.len() * width)))
        .collect();
    for (t, &g) in tuples.zip(&group_of) {
        if let Some((_, dst)) = groups.get_mut(g as usize) {
            for r in t {
                dst.push(buf.get(r.clone()).unwrap_or_default());
            }
        }
    }
    (groups, pos, locks)
}

pub fn mget(db: usize, a: Args, nshards: usize) -> (Plan, Locks) {
    let (groups, pos, locks) = group_args(a, nshards, 1, db, true);
    let ops = groups
        .into_iter()
        .map(|(s, keys)| (s, ShardOp::MGet { db, keys }))
        .collect();
    let plan = Plan {
        ops,
        barrier: false,
        finish: Box::new(move |results, r| {
            r.array(pos.len());
            for (g, i) in pos {
                write_mget_value(&results, g, i, r);
            }
            Step::Done
        }),
    };
    (plan, locks)
}

pub fn mset(db: usize, a: Args, nshards: usize) -> (Plan, Locks) {
    let (groups, _, locks) = group_args(a, nshards, 2, db, false);
    let ops = groups
        .into_iter()
        .map(|(s, pairs)| (s, ShardOp::MSet { db, pairs }))
        .collect();
    let plan = Plan {
        ops,
        barrier: false,
        finish: Box::new(|_, r| {
            r.ok();
            Step::Done
        }),
    };
    (plan, locks)
}

/// Which commands a `FoldRun` merges.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RunKind {
    MSet,
    MGet,
    /// DEL/UNLINK (`Delete`), EXISTS (`Look`), TOUCH (`Touch`).
    Count(CountMode),
}

impl RunKind {
    pub fn writes(self) -> bool {
        matches!(self, RunKind::MSet | RunKind::Count(CountMode::Delete))
    }
}

/// Consecutive commands of one kind (MSET; MGET; DEL/UNLINK; EXISTS;
/// TOUCH) of one fold, merged as they are read: one operation per shard
/// holding every key (and value) of the run in request order, and each
/// command's reply written from it.
/// For MSET, setting the pairs in that order is what running the MSETs
/// one after another does; MGETs only read. A pipeline of them then costs
/// one plan per fold instead of one per command plus `fold`'s sequences:
/// each command's own argument lists, lock sets, operation list and slot
/// in the fold's sequences were ~1.8k of a two-shard 10-key MSET's ~20k
/// instructions at -P 16.
pub struct FoldRun {
    kind: RunKind,
    db: usize,
    groups: Vec<(usize, OwnedArgs)>,
    /// MGET and counts: for every key of every command, (group, index in
    /// the group).
    places: Vec<(u32, u32)>,
    /// Per command: its number of keys (inline: at -P 1 a run is often
    /// one command).
    counts: SmallVec<[u32; 4]>,
    /// Per shard: (index in `groups`, index in the fold's lock sets), or
    /// `NO_ROUTE`. Looked up for every key instead of two linear searches,
    /// one through a closure that was not inlined: FoldRun::push went from
    /// 3.65k to 3.36k instructions per 10-key MSET (callgrind, -P 16).
    ///
    /// Inline for up to 8 shards: at -P 1 a fold is often one command, and
    /// a heap table would be one more allocation per command.
    route: SmallVec<[(u32, u32); 8]>,
}

const NO_ROUTE: (u32, u32) = (u32::MAX, u32::MAX);

impl FoldRun {
    pub fn new(kind: RunKind, db: usize) -> FoldRun {
        FoldRun {
            kind,
            db,
            groups: Vec::with_capacity(2),
            places: Vec::new(),
            counts: SmallVec::new(),
            route: SmallVec::new(),
        }
    }

    /// Whether a command of `kind` on database `db` extends this run.
    pub fn takes(&self, kind: RunKind, db: usize) -> bool {
        self.kind == kind && self.db == db
    }

    /// Add one command (for MSET an even number of arguments after the
    /// name: checked by the caller) and its keys' locks.
    pub fn push(&mut self, a: Args, nshards: usize, locks: &mut Locks, spare_args: &mut SpareArgs) {
        let width = match self.kind {
            RunKind::MSet => 2,
            RunKind::MGet | RunKind::Count(_) => 1,
        };
        let placed = self.kind != RunKind::MSet;
        let (buf, ranges) = a.raw();
        let tuples = ranges.get(1..).unwrap_or_default().chunks_exact(width);
        let n = tuples.len();
        // Room for the fold's next commands too (it stops at MAX_FOLD_KEYS).
        let room = n + MAX_FOLD_KEYS;
        let span = match (ranges.get(1), ranges.last()) {
            (Some(first), Some(last)) => last.end.saturating_sub(first.start),
            _ => 0,
        };
        let bytes = run_group_bytes(span, n, nshards);
        if placed && self.places.capacity() == 0 {
            self.places.reserve(room);
        }
        if self.route.len() != nshards {
            self.route = SmallVec::from_elem(NO_ROUTE, nshards);
        }
        for t in tuples {
            let key = buf.get(t[0].clone()).unwrap_or_default();
            let s = key_shard(key, nshards);
            let (g, l) = match self.route.get(s).copied() {
                // The fold's lock sets only grow by appending, so an index
                // once found stays right; checked anyway, it is one compare.
                Some((g, l))
                    if g != u32::MAX && locks.get(l as usize).is_some_and(|x| x.0 == s) =>
                {
                    (g as usize, l as usize)
                }
                _ => {
                    let g = super::group_index(&mut self.groups, s, || {
                        spare_args.take(bytes, width * room)
                    });
                    let l = super::group_index(locks, s, || Vec::with_capacity(room));
                    if let Some(r) = self.route.get_mut(s) {
                        *r = (g as u32, l as u32);
                    }
                    (g, l)
                }
            };
            let Some((_, dst)) = self.groups.get_mut(g) else {
                continue;
            };
            if placed {
                self.places.push((g as u32, dst.len() as u32));
            }
            for r in t {
                dst.push(buf.get(r.clone()).unwrap_or_default());
            }
            if let Some((_, set)) = locks.get_mut(l) {
                set.push(lock_id(self.db, key));
            }
        }
        self.counts.push(n as u32);
    }

    pub fn into_plan(self) -> Plan {
        let FoldRun {
            kind,
            db,
            groups,
            places,
            counts,
            ..
        } = self;
        match kind {
            RunKind::MSet => Plan {
                ops: groups
                    .into_iter()
                    .map(|(s, pairs)| (s, ShardOp::MSet { db, pairs }))
                    .collect(),
                barrier: false,
                finish: Box::new(move |_, r| {
                    for _ in &counts {
                        r.ok();
                    }
                    Step::Done
                }),
            },
            RunKind::MGet => Plan {
                ops: groups
                    .into_iter()
                    .map(|(s, keys)| (s, ShardOp::MGet { db, keys }))
                    .collect(),
                barrier: false,
                finish: Box::new(move |results, r| {
                    let mut places = places.into_iter();
                    for n in counts {
                        r.array(n as usize);
                        for (g, i) in places.by_ref().take(n as usize) {
                            write_mget_value(&results, g as usize, i as usize, r);
                        }
                    }
                    Step::Done
                }),
            },
            RunKind::Count(mode) => Plan {
                ops: groups
                    .into_iter()
                    .map(|(s, keys)| (s, ShardOp::CountEach { db, keys, mode }))
                    .collect(),
                barrier: false,
                finish: Box::new(move |results, r| {
                    let mut places = places.into_iter();
                    for n in counts {
                        let found = places.by_ref().take(n as usize).filter(|&(g, i)| {
                            matches!(results.get(g as usize),
                                Some(OpResult::Found(f)) if f.get(i as usize) == Some(&true))
                        });
                        r.int(found.count() as i64);
                    }
                    Step::Done
                }),
            },
        }
    }
}

/// The room a run's argument list for one shard starts with: this
/// command's share of the shards, times the commands of its size a fold
/// may still take (so the next ones do not reallocate), but never much
/// more than the command itself: a one-pair MSET of a 100 MB value would
/// otherwise reserve 33 times that.
fn run_group_bytes(span: usize, keys: usize, nshards: usize) -> usize {
    const SLACK: usize = 16 * 1024;
    let extrapolated = span.saturating_mul(1 + MAX_FOLD_KEYS / keys.max(1)) / nshards.max(1);
    extrapolated.min(span.saturating_add(SLACK))
}

/// One MGET answer: the value at `i` of shard group `g`'s results.
fn write_mget_value(results: &[OpResult], g: usize, i: usize, r: &mut Reply) {
    let v = match results.get(g) {
        Some(OpResult::Values(buf, items)) => items
            .get(i)
            .and_then(|x| x.clone())
            .and_then(|rg| buf.get(rg)),
        _ => None,
    };
    match v {
        Some(v) => r.bulk(v),
        None => r.null(),
    }
}

pub fn msetnx(db: usize, a: Args, nshards: usize) -> (Plan, Locks) {
    let (groups, _, locks) = group_args(a, nshards, 2, db, false);
    let ops = groups
        .iter()
        .map(|(s, pairs)| {
            let mut keys = OwnedArgs::new();
            for k in pairs.args().iter().step_by(2) {
                keys.push(k);
            }
            (*s, ShardOp::AnyExists { db, keys })
        })
        .collect();
    let plan = Plan {
        ops,
        barrier: true,
        finish: Box::new(move |results, r| {
            if results.iter().any(|x| matches!(x, OpResult::Bool(true))) {
                r.int(0);
                return Step::Done;
            }
            let ops = groups
                .into_iter()
                .map(|(s, pairs)| (s, ShardOp::MSet { db, pairs }))
                .collect();
            Step::Next(
                ops,
                Box::new(|_, r| {
                    r.int(1);
                    Step::Done
                }),
            )
        }),
    };
    (plan, locks)
}

/// DEL/UNLINK (delete) and EXISTS/TOUCH: the sum of per-shard counts.
pub fn count(db: usize, a: Args, nshards: usize, mode: CountMode) -> (Plan, Locks) {
    let (groups, _, locks) = group_args(a, nshards, 1, db, false);
    let ops = groups
        .into_iter()
        .map(|(s, keys)| (s, ShardOp::Count { db, keys, mode }))
        .collect();
    let plan = Plan {
        ops,
        barrier: false,
        finish: sum_finish(),
    };
    (plan, locks)
}

fn sum_finish() -> Finish {
    Box::new(|results, r| {
        r.int(sum_ints(&results));
        Step::Done
    })
}

/// The sum of the integer results of a fan-out (counts per shard).
pub fn sum_ints(results: &[OpResult]) -> i64 {
    results
        .iter()
        .map(|x| if let OpResult::Int(n) = x { *n } else { 0 })
        .sum()
}

/// RENAME/RENAMENX across shards: take the source, then put it.
pub fn rename(db: usize, a: Args, nshards: usize, nx: bool) -> Plan {
    let (src, dst) = (a.get(1).to_vec(), a.get(2).to_vec());
    let (ss, ds) = (key_shard(&src, nshards), key_shard(&dst, nshards));
    let first: Vec<(usize, ShardOp)> = if nx {
        vec![(
            ds,
            ShardOp::AnyExists {
                db,
                keys: one_key(&dst),
            },
        )]
    } else {
        vec![]
    };
    let take_then_put = move |r_src: Vec<u8>, dst: Vec<u8>| -> Step {
        Step::Next(
            vec![(
                ss,
                ShardOp::Take {
                    db,
                    key: r_src.clone(),
                    delete: true,
                    behind: None,
                },
            )],
            Box::new(move |res, r| {
                let Some(OpResult::Taken(Some((value, expire_at)))) = res.into_iter().next() else {
                    r.error("ERR no such key");
                    return Step::Done;
                };
                // Raised here, where both names are known (the shards'
                // Take and Put are also a gathered command's plumbing).
                notify::notify(notify::GENERIC, "rename_from", db, &r_src);
                notify::notify(notify::GENERIC, "rename_to", db, &dst);
                Step::Next(
                    vec![(
                        ds,
                        ShardOp::Put {
                            db,
                            key: dst,
                            value,
                            expire_at,
                            nx: false,
                        },
                    )],
                    Box::new(move |_, r| {
                        if nx {
                            r.int(1)
                        } else {
                            r.ok()
                        }
                        Step::Done
                    }),
                )
            }),
        )
    };
    if nx {
        Plan {
            ops: first,
            barrier: true,
            finish: Box::new(move |res, _r| {
                if matches!(res.first(), Some(OpResult::Bool(true))) {
                    // Redis checks the source first: a missing source is an error.
                    return Step::Next(
                        vec![(
                            ss,
                            ShardOp::AnyExists {
                                db,
                                keys: one_key(&src),
                            },
                        )],
                        Box::new(|res, r| {
                            if matches!(res.first(), Some(OpResult::Bool(true))) {
                                r.int(0)
                            } else {
                                r.error("ERR no such key")
                            }
                            Step::Done
                        }),
                    );
                }
                take_then_put(src, dst)
            }),
        }
    } else {
        match take_then_put(src, dst) {
            Step::Next(ops, finish) => Plan {
                ops,
                finish,
                barrier: true,
            },
            // (`take_then_put` never runs a connection command.)
            Step::Done | Step::Conn(..) => Plan {
                ops: vec![],
                finish: Box::new(|_, _| Step::Done),
                barrier: true,
            },
        }
    }
}

/// COPY across shards: read the source, then put a copy.
pub fn copy(db: usize, dst_db: usize, a: Args, nshards: usize, replace: bool) -> Plan {
    let (src, dst) = (a.get(1).to_vec(), a.get(2).to_vec());
    let (ss, ds) = (key_shard(&src, nshards), key_shard(&dst, nshards));
    Plan {
        ops: vec![(
            ss,
            ShardOp::Take {
                db,
                key: src,
                delete: false,
                behind: None,
            },
        )],
        barrier: true,
        finish: Box::new(move |res, r| {
            let Some(OpResult::Taken(Some((value, expire_at)))) = res.into_iter().next() else {
                r.int(0);
                return Step::Done;
            };
            Step::Next(
                vec![(
                    ds,
                    ShardOp::Put {
                        db: dst_db,
                        key: dst.clone(),
                        value,
                        expire_at,
                        nx: !replace,
                    },
                )],
                Box::new(move |res, r| {
                    let copied = matches!(res.first(), Some(OpResult::Bool(true)));
                    if copied {
                        notify::notify(notify::GENERIC, "copy_to", dst_db, &dst);
                    }
                    r.int(copied as i64);
                    Step::Done
                }),
            )
        }),
    }
}

pub fn all_shards(nshards: usize, mk: impl Fn(usize) -> ShardOp) -> Vec<(usize, ShardOp)> {
    (0..nshards).map(|s| (s, mk(s))).collect()
}

pub fn dbsize(db: usize, nshards: usize) -> Plan {
    Plan {
        ops: all_shards(nshards, |_| ShardOp::DbSize { db }),
        barrier: false,
        finish: sum_finish(),
    }
}

pub fn ok_all(nshards: usize, mk: impl Fn(usize) -> ShardOp, barrier: bool) -> Plan {
    Plan {
        ops: all_shards(nshards, mk),
        barrier,
        finish: Box::new(|_, r| {
            r.ok();
            Step::Done
        }),
    }
}

pub fn keys(db: usize, pattern: &[u8], nshards: usize) -> Plan {
    Plan {
        ops: all_shards(nshards, |_| ShardOp::Keys {
            db,
            pattern: pattern.to_vec(),
        }),
        barrier: false,
        finish: Box::new(|results, r| {
            let all: Vec<Vec<u8>> = results
                .into_iter()
                .flat_map(|x| {
                    if let OpResult::Keys(k) = x {
                        k
                    } else {
                        Vec::new()
                    }
                })
                .collect();
            r.array(all.len());
            for k in &all {
                r.bulk(k);
            }
            Step::Done
        }),
    }
}

/// SCAN: the cursor encodes (position within a shard, shard): shard =
/// cursor % nshards, position = cursor / nshards (0 = start of that shard).
pub fn scan(
    db: usize,
    cursor: u64,
    count: usize,
    pattern: Option<Vec<u8>>,
    type_: Option<Vec<u8>>,
    nshards: usize,
) -> Plan {
    let n = nshards as u64;
    let shard = (cursor % n) as usize;
    let pos = cursor / n;
    let step = ScanStep {
        db,
        count,
        pattern,
        type_,
        nshards,
        keys: Vec::new(),
    };
    let (ops, finish) = step.visit(shard, pos);
    // Later commands of the pipeline must not overtake a SCAN that moves on
    // to the next shard.
    Plan {
        ops,
        finish,
        barrier: true,
    }
}

/// One SCAN call walks shard after shard until it has `count` keys or has
/// finished the last shard, so an empty database answers cursor 0 at once.
struct ScanStep {
    db: usize,
    count: usize,
    pattern: Option<Vec<u8>>,
    type_: Option<Vec<u8>>,
    nshards: usize,
    keys: Vec<Vec<u8>>,
}

impl ScanStep {
    fn visit(self, shard: usize, pos: u64) -> (Vec<(usize, ShardOp)>, Finish) {
        let op = ShardOp::Scan {
            db: self.db,
            pos,
            count: self.count.saturating_sub(self.keys.len()).max(1),
            pattern: self.pattern.clone(),
            type_: self.type_.clone(),
        };
        (
            vec![(shard, op)],
            Box::new(move |results, r| self.finish(shard, results, r)),
        )
    }

    fn finish(mut self, shard: usize, results: Vec<OpResult>, r: &mut Reply) -> Step {
        let n = self.nshards as u64;
        let next = match results.into_iter().next() {
            Some(OpResult::Scan { pos, keys }) => {
                self.keys.extend(keys);
                pos
            }
            _ => 0,
        };
        let cursor = if next != 0 {
            next * n + shard as u64
        } else if shard + 1 < self.nshards {
            if self.keys.len() < self.count {
                let (ops, f) = self.visit(shard + 1, 0);
                return Step::Next(ops, f);
            }
            shard as u64 + 1
        } else {
            0
        };
        r.array(2);
        r.bulk(cursor.to_string().as_bytes());
        r.array(self.keys.len());
        for k in &self.keys {
            r.bulk(k);
        }
        Step::Done
    }
}

pub fn randomkey(db: usize, nshards: usize) -> Plan {
    Plan {
        ops: all_shards(nshards, |_| ShardOp::RandomKey { db }),
        barrier: false,
        finish: Box::new(|results, r| {
            let keys: Vec<Vec<u8>> = results
                .into_iter()
                .filter_map(|x| if let OpResult::Key(k) = x { k } else { None })
                .collect();
            if keys.is_empty() {
                r.null();
            } else {
                r.bulk(&keys[fastrand::usize(..keys.len())]);
            }
            Step::Done
        }),
    }
}

/// Any multi-key command whose keys span shards and that has no dedicated
/// fan-out (SMOVE, SUNIONSTORE, LMOVE, ZUNIONSTORE, LCS, ...): gather copies
/// of its keys into a scratch shard, run the command's own handler there,
/// then write every key back to its shard (or delete it). Run under the
/// transaction's locks, this is atomic, and it keeps one implementation of
/// each command's semantics.
/// Where and when a gathered command runs.
#[derive(Clone, Copy)]
pub struct GatherEnv {
    pub db: usize,
    pub databases: usize,
    pub now: u64,
    pub max_bulk: usize,
    pub nshards: usize,
    /// A blocked client's attempt (see `reactor::blocking`).
    pub attempt: Option<crate::shard::Attempt>,
    /// How many of the keys, first in order, the attempt waits on (the
    /// source only for BLMOVE and BRPOPLPUSH).
    pub waited: usize,
    /// The keys include every one SORT's patterns name
    /// (`Shard::patterns_gathered`).
    pub patterns_gathered: bool,
    /// A script may answer RETRY (`scripting::retry_reply`): its
    /// coordinator's completion takes it. Not inside EXEC, whose steps
    /// capture replies in place.
    pub script_retry: bool,
}

pub fn gather(
    f: crate::commands::table::KeyFn,
    writes: bool,
    args: OwnedArgs,
    keys: Vec<Vec<u8>>,
    env: GatherEnv,
) -> Plan {
    let GatherEnv {
        db,
        databases,
        now,
        max_bulk,
        nshards,
        attempt,
        waited,
        patterns_gathered,
        script_retry,
    } = env;
    // The scratch shard has no waiters, so the handler's FIFO check
    // (`Shard::waiting_ahead`) cannot see who blocked first: each shard
    // applies it as it hands the waited keys over. Without it, a client's
    // first try could take an element pushed for a client that blocked
    // before it.
    let ops = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                key_shard(k, nshards),
                ShardOp::Take {
                    db,
                    key: k.clone(),
                    delete: false,
                    behind: attempt.filter(|_| i < waited).map(|a| a.waiter),
                },
            )
        })
        .collect();
    Plan {
        ops,
        barrier: true,
        finish: Box::new(move |results, r| {
            let mut scratch = crate::shard::Shard::new(crate::shard::SCRATCH, databases);
            scratch.attempt = attempt;
            scratch.patterns_gathered = patterns_gathered;
            // Digest before the command: only keys it changed are written
            // back (an untouched source must not disturb its WATCHers).
            let mut before: Vec<Option<(String, u64)>> = Vec::with_capacity(keys.len());
            for (k, res) in keys.iter().zip(results) {
                if let OpResult::Taken(Some((value, expire_at))) = res {
                    before.push(writes.then(|| (value.digest(), expire_at)));
                    scratch.dbs[db].set(k, value, expire_at);
                } else {
                    before.push(None);
                }
            }
            // Which keys the command itself touched: a store (BITOP, SORT
            // STORE, ...) signals its destination even when the new value
            // equals the old one, as Redis's setKey does, so its digest
            // alone would hide that write from WATCHers on the key's shard.
            let touched: Vec<Arc<AtomicBool>> = keys
                .iter()
                .map(|k| {
                    let flag = Arc::new(AtomicBool::new(false));
                    if writes {
                        scratch.dbs[db].watch(k, Arc::downgrade(&flag), now);
                    }
                    flag
                })
                .collect();
            // Lent to the scratch shard for the run (a script checks the
            // keys it touches against them), then taken back.
            scratch.gathered_keys = Some(keys);
            let at = r.out.len();
            {
                let mut ctx = crate::commands::ctx::Ctx {
                    shard: &mut scratch,
                    db,
                    now,
                    r: Reply::new(r.out, r.proto),
                    max_bulk,
                };
                crate::scripting::allow_retry(script_retry);
                let monitored = crate::scripting::copied_monitor_len();
                f(&mut ctx, args.args());
                crate::scripting::allow_retry(false);
                if crate::scripting::is_retry(&ctx.r.out[at..]) {
                    crate::scripting::forget_copied_monitor(monitored);
                }
            }
            let keys = scratch.gathered_keys.take().unwrap_or_default();
            // A script that met a key it did not declare starts over
            // (`Reactor::retry_script`): nothing of this run is kept.
            if !writes || crate::scripting::is_retry(&r.out[at..]) {
                return Step::Done;
            }
            let mut ops = Vec::new();
            let mut stats = crate::shard::DbStats::default();
            for ((k, was), touched) in keys.into_iter().zip(before).zip(touched) {
                let shard = key_shard(&k, nshards);
                let touched = touched.load(Ordering::Acquire);
                match scratch.dbs[db].get(&k, now, &mut stats) {
                    Some(e) => {
                        let same =
                            was.is_some_and(|(d, exp)| exp == e.expire_at && d == e.value.digest());
                        if same && !touched {
                            continue;
                        }
                        let (value, expire_at) = (e.value.deep_clone(), e.expire_at);
                        ops.push((
                            shard,
                            ShardOp::Put {
                                db,
                                key: k,
                                value,
                                expire_at,
                                nx: false,
                            },
                        ));
                    }
                    None if was.is_some() => ops.push((
                        shard,
                        ShardOp::Count {
                            db,
                            keys: one_key(&k),
                            mode: CountMode::Drop,
                        },
                    )),
                    None => {}
                }
            }
            if ops.is_empty() {
                return Step::Done;
            }
            Step::Next(ops, Box::new(|_, _| Step::Done))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arguments as the parser leaves them: one buffer, with a separator
    /// between arguments (as RESP headers sit between them).
    fn args_buf(argv: &[Vec<u8>]) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for a in argv {
            buf.extend_from_slice(b"$\r\n");
            let s = buf.len();
            buf.extend_from_slice(a);
            ranges.push(s..buf.len());
        }
        (buf, ranges)
    }

    #[test]
    fn a_run_reserves_room_for_small_commands_not_for_big_values() {
        // A 10-pair MSET of short strings: room for the fold's next ones.
        assert_eq!(run_group_bytes(300, 10, 2), 600);
        // One pair with a 100 MB value: about its own size, not 33 times.
        let big = 100 << 20;
        assert!(run_group_bytes(big, 1, 2) <= big + 16 * 1024);
        assert!(run_group_bytes(big, 1, 1) <= big + 16 * 1024);
    }

    proptest::proptest! {
        /// Every key/value tuple lands in its key's shard group, in request
        /// order, with its lock beside it; MGET's positions lead back to
        /// each key.
        #[test]
        fn group_args_partitions_tuples_by_shard_in_order(
            keys in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 1..24),
            nshards in 1usize..6,
            width in 1usize..3,
            db in 0usize..3,
        ) {
            let mut argv = vec![b"cmd".to_vec()];
            for (i, k) in keys.iter().enumerate() {
                argv.push(k.clone());
                if width == 2 {
                    argv.push(format!("v{i}").into_bytes());
                }
            }
            let (buf, ranges) = args_buf(&argv);
            let a = Args::from_parts(&buf, &ranges);
            let (groups, pos, locks) = group_args(a, nshards, width, db, true);
            proptest::prop_assert_eq!(groups.len(), locks.len());
            proptest::prop_assert_eq!(pos.len(), keys.len());
            let mut next = vec![0usize; groups.len()];
            for (i, k) in keys.iter().enumerate() {
                let (g, j) = pos[i];
                proptest::prop_assert_eq!(j, next[g], "request order within a group");
                next[g] += 1;
                let (s, args) = &groups[g];
                proptest::prop_assert_eq!(*s, key_shard(k, nshards));
                proptest::prop_assert_eq!(locks[g].0, *s);
                proptest::prop_assert_eq!(locks[g].1[j], lock_id(db, k));
                let got = args.args();
                proptest::prop_assert_eq!(got.get(j * width), &k[..]);
                if width == 2 {
                    let v = format!("v{i}");
                    proptest::prop_assert_eq!(got.get(j * width + 1), v.as_bytes());
                }
            }
            for (g, (_, args)) in groups.iter().enumerate() {
                proptest::prop_assert_eq!(args.len(), next[g] * width, "nothing else in a group");
            }
        }

        /// A run's keys (and values) land in their shard's group and their
        /// locks in their shard's set of the fold, in request order, across
        /// several commands, whatever lock sets the fold held before the run
        /// began and in whatever shard order.
        #[test]
        fn fold_run_routes_every_key_to_its_shard_group_and_lock_set(
            cmds in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8), 1..6),
                1..5),
            nshards in 1usize..6,
            before in proptest::collection::vec(0usize..6, 0..4),
            mset in proptest::prelude::any::<bool>(),
        ) {
            let db = 1;
            let mut locks: Locks = Vec::new();
            for s in before.into_iter().filter(|&s| s < nshards) {
                crate::tx::group_index(&mut locks, s, || vec![0]);
            }
            let held: Vec<(usize, usize)> = locks.iter().map(|(s, l)| (*s, l.len())).collect();
            let kind = if mset { RunKind::MSet } else { RunKind::MGet };
            let width = if mset { 2 } else { 1 };
            let mut run = FoldRun::new(kind, db);
            let mut want: Vec<(usize, Vec<u8>)> = Vec::new();
            for (c, keys) in cmds.iter().enumerate() {
                let mut argv = vec![b"cmd".to_vec()];
                for (i, k) in keys.iter().enumerate() {
                    argv.push(k.clone());
                    want.push((key_shard(k, nshards), k.clone()));
                    if mset {
                        argv.push(format!("v{c}.{i}").into_bytes());
                    }
                }
                let (buf, ranges) = args_buf(&argv);
                run.push(Args::from_parts(&buf, &ranges), nshards, &mut locks, &mut SpareArgs::default());
            }
            for s in 0..nshards {
                let keys: Vec<&Vec<u8>> =
                    want.iter().filter(|(ks, _)| *ks == s).map(|(_, k)| k).collect();
                let old = held.iter().find(|(hs, _)| *hs == s).map_or(0, |(_, n)| *n);
                let set = locks.iter().find(|(ls, _)| *ls == s).map(|(_, l)| l.clone());
                let group = run.groups.iter().find(|(gs, _)| *gs == s);
                if keys.is_empty() {
                    proptest::prop_assert!(group.is_none());
                    proptest::prop_assert_eq!(set.map_or(0, |l| l.len()), old);
                    continue;
                }
                let set = set.unwrap_or_default();
                let ids: Vec<crate::tx::locks::LockId> = keys.iter().map(|k| lock_id(db, k)).collect();
                proptest::prop_assert_eq!(&set[old..], &ids[..]);
                let Some((_, args)) = group else {
                    proptest::prop_assert!(false, "no group for shard {}", s);
                    continue;
                };
                let got = args.args();
                proptest::prop_assert_eq!(args.len(), keys.len() * width);
                for (j, k) in keys.iter().enumerate() {
                    proptest::prop_assert_eq!(got.get(j * width), &k[..]);
                }
            }
        }
    }
}
