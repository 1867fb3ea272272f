//! Scripts that run on this reactor but may touch keys of other shards:
//! the first attempt runs here, a retry runs as a transaction.

use super::conn::{Place, Slot};
use super::{distinct_keys, Reactor};
use crate::commands::ctx::Ctx;
use crate::commands::table::{self, Command, Kind};
use crate::protocol::{Args, Reply};
use crate::tx::locks::LockSet;
use crate::tx::{fanout, OwnedArgs};

impl Reactor {
    /// A script whose keys live here: run it now. Apart from the plain
    /// keyed path, which it would slow down with its checks.
    #[inline(never)]
    pub(super) fn run_script_here(
        &mut self,
        idx: u32,
        cmd: &'static Command,
        f: table::KeyFn,
        args: Args,
        db: usize,
        proto: crate::protocol::Proto,
    ) {
        let oom = self.shared.memory.maxmemory() != 0 && self.over_maxmemory();
        crate::scripting::engine::set_oom(oom);
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let buf = c.reply_buf();
        let at = buf.len();
        let mut ctx = Ctx {
            shard: &mut self.shard,
            db,
            now: self.now,
            r: Reply::new(buf, proto),
            max_bulk: self.max_bulk,
        };
        crate::scripting::allow_retry(true);
        let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
        f(&mut ctx, args);
        let usec = timed.map(crate::slowlog::elapsed_us);
        crate::scripting::allow_retry(false);
        if crate::scripting::is_retry(&ctx.r.out[at..]) {
            let retry = ctx.r.out.split_off(at);
            return self.retry_script(idx, Place::New, &retry);
        }
        let failed = ctx.r.out.get(at) == Some(&b'-');
        self.counters
            .ran(table::stat_index(cmd, args), failed, usec);
        if let Some(us) = usec.filter(|&us| crate::slowlog::took(cmd, us)) {
            if let Some(c) = self.conn(idx) {
                crate::slowlog::record(us, args, &c.client.addr, &c.client.name);
            }
        }
        // Deletions by expiry it caused; its own writes are its effects.
        self.replicate(cmd, db, args, &[]);
        self.script_done();
    }

    /// A script met a key it did not declare on another shard (its
    /// `RETRY` answer, `scripting::retry_reply`): run it again as a
    /// transaction with that key too, in its reply slot (`at`).
    pub(super) fn retry_script(&mut self, idx: u32, at: Place, retry: &[u8]) {
        match crate::scripting::parse_retry(retry) {
            Some(r) => {
                let mut owned = OwnedArgs::new();
                for x in &r.args {
                    owned.push(x);
                }
                self.script_tx(idx, at, r.db, owned, r.extra)
            }
            None => self.script_refused(idx, at),
        }
    }

    /// Run a script as a transaction over its declared keys and `extra`
    /// (keys it met without declaring them): locked, even on one shard,
    /// copied to a scratch shard where it runs, written back (like any
    /// spanning command). Meeting yet another key starts it over again
    /// with that one too (`retry_script`).
    pub(super) fn script_tx(
        &mut self,
        idx: u32,
        at: Place,
        db: usize,
        owned: OwnedArgs,
        extra: Vec<Vec<u8>>,
    ) {
        const MAX_EXTRA_KEYS: usize = 128;
        let a = owned.args();
        let Some(cmd) = table::lookup(a.get(0)) else {
            return self.script_refused(idx, at);
        };
        let Kind::Keyed(f) = cmd.kind else {
            return self.script_refused(idx, at);
        };
        if !cmd.script || extra.len() > MAX_EXTRA_KEYS {
            return self.script_refused(idx, at);
        }
        let mut keys = distinct_keys(cmd, a);
        for k in extra {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let n = self.shared.nshards;
        let mut locks: Vec<(usize, LockSet)> = Vec::new();
        for k in &keys {
            crate::tx::locks::add_lock_sized(&mut locks, n, db, k, keys.len());
        }
        let env = self.gather_env(db);
        if cmd.may_write() {
            self.coordinated_command(db, a);
        }
        let plan = fanout::gather(f, cmd.may_write(), owned, keys, env);
        self.start_tx_at(idx, plan, locks, 1, at);
    }

    fn script_refused(&mut self, idx: u32, at: Place) {
        let mut out = Vec::new();
        Reply::new(&mut out, crate::protocol::Proto::Resp2)
            .error("ERR Script attempted to access too many keys it did not declare in KEYS");
        self.answer_at(idx, at, out)
    }

    /// Answer a command with `out` in its reply slot.
    fn answer_at(&mut self, idx: u32, at: Place, out: Vec<u8>) {
        let Some(c) = self.conn_mut(idx) else { return };
        match at {
            Place::New => c.reply_buf().extend_from_slice(&out),
            Place::Blocked(slot) | Place::Replace(slot, _) => {
                let counted = matches!(at, Place::Replace(_, true));
                if let Some(s) = c.slot_mut(slot) {
                    *s = Slot::Ready(out);
                }
                self.slot_done(idx, counted);
            }
        }
    }
}
