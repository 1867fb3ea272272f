//! CLIENT PAUSE on a reactor (`crate::pause` holds the state): which
//! commands wait, holding their connection with its input unread, and
//! letting them go when the pause ends or changes.

use super::Reactor;
use crate::commands::table::Command;
use crate::protocol::Args;
use crate::tx::multi::MultiState;

/// Whether a command may write or replicate (Redis's test for a WRITE
/// pause): a write, a may-replicate command (PUBLISH, PFCOUNT...), a
/// script unless declared no-writes, or an EXEC of such.
pub(super) fn may_replicate(cmd: &Command, args: Args, multi: Option<&MultiState>) -> bool {
    if cmd.name == "exec" {
        return multi.is_some_and(|m| m.write || m.may_replicate);
    }
    if cmd.script {
        return crate::scripting::engine::may_write(cmd, args);
    }
    cmd.is_write() || cmd.flags.contains(&"may_replicate")
}

impl Reactor {
    /// A pause is set: does this client's command wait for its end?
    /// Replicas and the master link never wait.
    #[cold]
    pub(super) fn held_by_pause(&self, idx: u32, cmd: &Command, args: Args) -> bool {
        let Some(c) = self.conn(idx) else {
            return false;
        };
        if c.client.replica || c.client.master != 0 {
            return false;
        }
        match crate::pause::active(self.now) {
            None => false,
            Some(true) => true,
            Some(false) => may_replicate(cmd, args, c.client.multi.as_ref()),
        }
    }

    /// Hold the connection: the command stays unread and runs when the
    /// pause ends.
    #[cold]
    pub(super) fn postpone(&mut self, idx: u32) {
        // Counted when it runs.
        self.counters.total_commands -= 1;
        self.postponed = true;
        self.paused_under = crate::pause::until_ms();
        if let Some(c) = self.conn_mut(idx) {
            if !c.paused {
                c.paused = true;
                self.paused_conns.push(idx);
            }
        }
    }

    /// Every loop turn while connections are held: once the pause has
    /// ended or changed (UNPAUSE, a new PAUSE: every reactor is rung),
    /// they run again, in the order they were held; those still held
    /// wait again.
    pub(super) fn resume_paused(&mut self) {
        let now = crate::server::now_ms();
        let until = crate::pause::until_ms();
        if until == self.paused_under && crate::pause::active(now).is_some() {
            return;
        }
        let held = std::mem::take(&mut self.paused_conns);
        for &idx in &held {
            if let Some(c) = self.conn_mut(idx) {
                c.paused = false;
                self.resumable.push_back(idx);
            }
        }
        self.drain_resumable();
        // What they answered goes out with this turn's sends.
        for idx in held {
            self.mark_dirty(idx);
        }
    }

    /// The held connections (counted as blocked clients, as in Redis).
    pub(super) fn paused_count(&self) -> usize {
        self.paused_conns.len()
    }

    /// When the pause holding connections here ends, if it does.
    pub(super) fn pause_deadline(&self) -> Option<u64> {
        let until = crate::pause::until_ms();
        (!self.paused_conns.is_empty() && until != 0).then_some(until)
    }
}
