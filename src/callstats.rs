//! Calls of commands run inside other commands: EXEC's queued keyed
//! commands (run by their shard's reactor as a batch) and the commands
//! scripts call (again if the script starts over on copies). Queued
//! connection and whole-keyspace commands are not counted here. Redis
//! counts each in INFO commandstats as a call of its own (and a failure if
//! it answered an error); they are counted here per thread, where they
//! run, and the reactor adds them to its own counts for INFO.

use std::cell::RefCell;

use crate::commands::table::{self, Command};
use crate::protocol::Args;

thread_local! {
    /// (calls, failed calls, rejected calls) per statistics slot, grown
    /// on first use.
    static INNER: RefCell<Vec<(u64, u64, u64)>> = const { RefCell::new(Vec::new()) };
}

/// `cmd` (with `args`) ran inside another command; `failed`: it answered
/// an error.
pub fn record(cmd: &Command, args: Args, failed: bool) {
    count(cmd, args, |c| {
        c.0 += 1;
        c.1 += u64::from(failed);
    });
}

/// A script's call of `cmd` was refused before it ran (arity, a command
/// scripts may not call, a write from a read-only script, OOM).
pub fn rejected(cmd: &Command, args: Args) {
    count(cmd, args, |c| c.2 += 1);
}

fn count(cmd: &Command, args: Args, f: impl FnOnce(&mut (u64, u64, u64))) {
    let Some(i) = table::stat_index(cmd, args) else {
        return;
    };
    INNER.with(|v| {
        let mut v = v.borrow_mut();
        if v.len() <= i {
            v.resize(table::stat_slots().max(i + 1), (0, 0, 0));
        }
        f(&mut v[i]);
    });
}

/// This thread's counts, added into `calls` (calls, rejected) and
/// `failed`, both indexed by statistics slot (inner calls are not timed).
pub fn add_into(calls: &mut [(u64, u64)], failed: &mut [u64]) {
    INNER.with(|v| {
        for (i, &(c, f, r)) in v.borrow().iter().enumerate() {
            if let Some(x) = calls.get_mut(i) {
                x.0 += c;
                x.1 += r;
            }
            if let Some(x) = failed.get_mut(i) {
                *x += f;
            }
        }
    });
}

/// CONFIG RESETSTAT, on this thread.
pub fn reset() {
    INNER.with(|v| v.borrow_mut().clear());
}
