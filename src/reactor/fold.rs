//! Folding: consecutive multi-key commands of one pipeline (MSET, MGET,
//! DEL, UNLINK, EXISTS, TOUCH) become one transaction (`fanout::fold`).

use super::Reactor;
use crate::commands::table::{self, Command, Kind};
use crate::protocol::Args;
use crate::tx::fanout::{self, Plan};
use crate::tx::OwnedArgs;
use std::sync::atomic::Ordering;

pub(super) struct PendingFold {
    idx: u32,
    plans: Vec<Plan>,
    /// The commands of one kind (MSET, MGET, DEL/UNLINK, EXISTS, TOUCH)
    /// read since the last plan, merged (`fanout::FoldRun`); they become
    /// one plan when another kind joins or the fold starts.
    run: Option<fanout::FoldRun>,
    locks: fanout::Locks,
    /// Some of its commands write (MSET, DEL...).
    writes: bool,
    /// Its commands in order, kept while replicas are attached or
    /// attaching (the fold's coordinator replicates them; its reply is
    /// theirs, one after another).
    cmds: Option<Vec<(usize, OwnedArgs)>>,
}

impl PendingFold {
    fn close_run(&mut self) {
        if let Some(run) = self.run.take() {
            self.plans.push(run.into_plan());
        }
    }
}

impl Reactor {
    /// `run_unless_barrier` with a fold pending.
    #[inline(never)]
    pub(super) fn run_in_fold(&mut self, idx: u32, args: Args) -> bool {
        if args.is_empty() {
            return true; // skipped without a reply
        }
        // Looked up once for both the fold's question and the dispatch
        // (twice was ~1.3% of a two-shard MSET pipeline).
        let cmd = table::lookup(args.get(0));
        if !self.joins_fold(idx, cmd, args) {
            self.flush_fold();
            return false;
        }
        if self.special_clients != 0 {
            self.dispatch_special(idx, Some(cmd), args);
        } else {
            self.dispatch_cmd(idx, cmd, args);
            self.after_plain_dispatch(idx, args);
        }
        if self.postponed {
            self.postponed = false;
            self.flush_fold();
            return false;
        }
        true
    }

    /// Would this command join the pending fold? Exactly the commands that
    /// `dispatch` hands to `run_keyed` as a folding fan-out with no reply
    /// written on the way: anything else must not run (nor answer) before
    /// the fold's transaction.
    pub(super) fn joins_fold(&self, idx: u32, cmd: Option<&'static Command>, args: Args) -> bool {
        let Some(f) = self.fold.as_ref() else {
            return false;
        };
        let Some(c) = self.conn(idx) else {
            return false;
        };
        let Some(cmd) = cmd else {
            return false;
        };
        f.idx == idx
            && f.locks.iter().map(|(_, set)| set.len()).sum::<usize>() < fanout::MAX_FOLD_KEYS
            && matches!(cmd.kind, Kind::Multi(_, m) if m.folds())
            && cmd.arity_ok(args.len())
            && c.client.authed
            && c.client.multi.is_none()
            && self.shared.memory.maxmemory() == 0
            && !self.shared.writes_need_replicas.load(Ordering::Relaxed)
    }

    /// A merging command (`fanout::RunKind`) joins (or opens) this
    /// connection's fold, merged with the commands of its kind right
    /// before it.
    pub(super) fn add_run_to_fold(
        &mut self,
        idx: u32,
        kind: fanout::RunKind,
        db: usize,
        args: Args,
    ) {
        let n = self.shared.nshards;
        let writes = kind.writes();
        let recording = self.shared.repl.primary.recording();
        match self.fold.as_mut() {
            Some(f) if f.idx == idx => {
                self.counters.tx_folded += 1;
                f.writes |= writes;
                if let Some(cmds) = f.cmds.as_mut() {
                    cmds.push((db, OwnedArgs::from_args(args)));
                }
                if f.run.as_ref().is_some_and(|r| !r.takes(kind, db)) {
                    f.close_run();
                }
                let run = f.run.get_or_insert_with(|| fanout::FoldRun::new(kind, db));
                run.push(args, n, &mut f.locks, &mut self.spare_args);
            }
            _ => {
                self.flush_fold();
                let mut run = fanout::FoldRun::new(kind, db);
                let mut locks = Vec::with_capacity(2);
                run.push(args, n, &mut locks, &mut self.spare_args);
                self.fold = Some(PendingFold {
                    idx,
                    // Allocated if another plan joins: at -P 1 a fold is
                    // often this one run (`flush_fold`).
                    plans: Vec::new(),
                    run: Some(run),
                    locks,
                    writes,
                    cmds: recording.then(|| vec![(db, OwnedArgs::from_args(args))]),
                });
            }
        }
    }

    pub(super) fn add_to_fold(
        &mut self,
        idx: u32,
        plan: Plan,
        locks: fanout::Locks,
        writes: bool,
        db: usize,
        args: Args,
    ) {
        let recording = self.shared.repl.primary.recording();
        match self.fold.as_mut() {
            Some(f) if f.idx == idx => {
                self.counters.tx_folded += 1;
                f.writes |= writes;
                if let Some(cmds) = f.cmds.as_mut() {
                    cmds.push((db, OwnedArgs::from_args(args)));
                }
                f.close_run();
                f.plans.push(plan);
                for (s, set) in locks {
                    let g = crate::tx::group_index(&mut f.locks, s, Vec::new);
                    f.locks[g].1.extend(set);
                }
            }
            _ => {
                self.flush_fold();
                let mut plans = Vec::with_capacity(4);
                plans.push(plan);
                self.fold = Some(PendingFold {
                    idx,
                    plans,
                    run: None,
                    locks,
                    writes,
                    cmds: recording.then(|| vec![(db, OwnedArgs::from_args(args))]),
                });
            }
        }
    }

    pub(super) fn flush_fold(&mut self) {
        let Some(f) = self.fold.take() else {
            return;
        };
        let PendingFold {
            idx,
            mut plans,
            run,
            locks,
            writes,
            cmds,
        } = f;
        // A fold opened before any replica was attaching kept no commands:
        // if it runs after one attached, its end notices (`write_missed`).
        self.tx_writes = writes;
        if let Some(cmds) = cmds.filter(|_| writes) {
            self.tx_replicate = Some(Box::new(fanout::ToReplicate { cmds, exec: false }));
        }
        let plan = match run {
            // At -P 1 a fold is often one run: its plan, with no vector of
            // plans to fold.
            Some(run) if plans.is_empty() => Some(run.into_plan()),
            run => {
                plans.extend(run.map(fanout::FoldRun::into_plan));
                if plans.len() == 1 {
                    plans.pop()
                } else {
                    Some(fanout::fold(plans))
                }
            }
        };
        if let Some(plan) = plan {
            self.start_tx(idx, plan, locks);
        }
    }
}
