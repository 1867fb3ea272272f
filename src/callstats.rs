//! Calls of commands run inside other commands: EXEC's queued keyed
//! commands (run by their shard's reactor as a batch) and the commands
//! scripts call (again if the script starts over on copies). Queued
//! connection and whole-keyspace commands are not counted here. Redis
//! counts each in INFO commandstats as a call of its own (and a failure if
//! it answered an error); they are counted here per thread, where they
//! run, and the reactor adds them to its own counts for INFO.

use std::cell::RefCell;

use crate::commands::table::{self, Command};

thread_local! {
    /// (calls, failed calls) per command-table index, grown on first use.
    static INNER: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
}

/// `cmd` ran inside another command; `failed`: it answered an error.
pub fn record(cmd: &Command, failed: bool) {
    let i = table::index_of(cmd);
    INNER.with(|v| {
        let mut v = v.borrow_mut();
        if v.len() <= i {
            v.resize(table::COMMANDS.len().max(i + 1), (0, 0));
        }
        v[i].0 += 1;
        v[i].1 += u64::from(failed);
    });
}

/// This thread's counts, added into `calls` (calls, rejected) and
/// `failed`, both indexed by command.
pub fn add_into(calls: &mut [(u64, u64)], failed: &mut [u64]) {
    INNER.with(|v| {
        for (i, &(c, f)) in v.borrow().iter().enumerate() {
            if let Some(x) = calls.get_mut(i) {
                x.0 += c;
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
