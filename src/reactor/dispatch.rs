//! Dispatch: one parsed command is checked against the command table
//! (arity, AUTH, subscribed mode, replica and OOM refusals) and routed by
//! its kind: inline on this shard, to one other shard, as a fan-out, or as
//! a connection command.

use super::conn::{Conn, Place};
use super::coordinate::lock_keys;
use super::shard_work::{changed_nothing, touch_written};
use super::{blocking, client, distinct_keys, exec, maxmemory, pause, replicate, token, Reactor};
use crate::commands::conn::{ConnAction, ConnCtx};
use crate::commands::ctx::Ctx;
use crate::commands::server as server_cmds;
use crate::commands::table::{self, AllOp, Command, Kind, Multi};
use crate::protocol::{Args, Reply};
use crate::replication::replica;
use crate::server::Shared;
use crate::shard::slot::key_shard;
use crate::tx::locks::{lock_id, LockSet, ReplyTo};
use crate::tx::ops::CountMode;
use crate::tx::{fanout, Msg, OwnedArgs, RemoteCmd, ShardOp};
use std::sync::atomic::Ordering;

impl Reactor {
    /// `dispatch` on a reactor where a client used CLIENT REPLY or CLIENT
    /// TRACKING. A tracking client's reads register their keys first
    /// (`track_reads`). A command of a client whose replies are off (or
    /// skipped once) runs, and what it answers is dropped; (un)subscribe
    /// confirmations still go out, as Redis sends them (pushes).
    #[cold]
    pub(super) fn dispatch_special(
        &mut self,
        idx: u32,
        looked_up: Option<Option<&'static Command>>,
        args: Args,
    ) {
        let Some(c) = self.conn(idx) else { return };
        let cmd = looked_up.unwrap_or_else(|| table::lookup(args.get(0)));
        let tracking = c.client.tracking.is_some();
        let who = (self.id, token(idx, c.gen));
        if let (true, Some(cmd)) = (tracking, cmd) {
            self.track_reads(idx, cmd, args);
        }
        // Changes it makes here are its own (CLIENT TRACKING NOLOOP).
        let before = crate::tracking::set_by(Some(who));
        self.dispatch_replying(idx, args);
        crate::tracking::set_by(before);
        if !self.postponed {
            self.after_special(idx, cmd);
        }
    }

    /// After a client's top-level command (EXEC counts as one, as for
    /// Redis's resetClient): a skipped reply skips only the next command,
    /// CLIENT CACHING covers only the next one, and the client leaves the
    /// special count when nothing special is left.
    pub(super) fn after_special(&mut self, idx: u32, cmd: Option<&'static Command>) {
        if let Some(c) = self.conn_mut(idx) {
            c.client.reply = c.client.reply.after_command();
            let in_multi = c.client.multi.is_some();
            if let Some(t) = c.client.tracking.as_deref_mut() {
                // CLIENT CACHING covers the next command (a whole MULTI).
                if !in_multi && cmd.is_some_and(|c| c.name != "client") {
                    t.caching = None;
                }
            }
        }
        self.recount_special(idx);
    }

    /// Keep `special_clients` true to the client's modes now.
    pub(crate) fn recount_special(&mut self, idx: u32) {
        let Some(c) = self.conns.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        let special = c.client.reply != client::ReplyMode::On || c.client.tracking.is_some();
        if special != c.special {
            c.special = special;
            if special {
                self.special_clients += 1;
            } else {
                self.special_clients -= 1;
            }
        }
    }

    fn dispatch_replying(&mut self, idx: u32, args: Args) {
        let Some(c) = self.conn_mut(idx) else { return };
        let pushes = ["subscribe", "psubscribe", "unsubscribe", "punsubscribe"]
            .iter()
            .any(|n| args.get(0).eq_ignore_ascii_case(n.as_bytes()));
        if !c.client.reply.drops() || pushes {
            self.dispatch(idx, args);
        } else {
            // Alone: a fold would write this reply with others' later.
            self.flush_fold();
            let Some(c) = self.conn_mut(idx) else { return };
            let mark = c.quiet_mark();
            self.dispatch(idx, args);
            self.flush_fold();
            let Some(c) = self.conn_mut(idx) else { return };
            c.drop_since(mark);
        }
    }

    #[inline(never)]
    pub(super) fn dispatch(&mut self, idx: u32, args: Args) {
        self.dispatch_cmd(idx, table::lookup(args.get(0)), args)
    }

    /// `dispatch` of a command whose table entry is looked up already.
    #[inline(always)]
    pub(super) fn dispatch_cmd(&mut self, idx: u32, cmd: Option<&'static Command>, args: Args) {
        self.counters.total_commands += 1;
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let proto = c.client.proto;
        let Some(cmd) = cmd else {
            // CLIENT LIST's cmd=NULL, as Redis's lastcmd after a failed lookup.
            c.client.last_cmd = None;
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(&args.get(0)[..args.get(0).len().min(128)])
            );
            for a in args.iter().skip(1) {
                msg.push_str(&format!(
                    "'{}' ",
                    String::from_utf8_lossy(&a[..a.len().min(128)])
                ));
            }
            return reject(c, false, &msg);
        };
        if c.client.replica && cmd.name != "replconf" {
            // A replica's connection carries the stream: its other
            // commands get no reply (Redis answers a replica nothing).
            return;
        }
        c.client.set_last_cmd(cmd, args);
        c.client.last_interaction_ms = self.now;
        let stat = table::stat_index(cmd, args);
        if !cmd.arity_ok(args.len()) {
            self.counters.rejected(stat);
            let msg = format!("ERR wrong number of arguments for '{}' command", cmd.name);
            return reject(c, cmd.name == "exec", &msg);
        }
        // A container's subcommand is gated and runs under its own entry:
        // its flags, keys and categories are Redis's for it, not the
        // container's (FUNCTION LOAD is a write, FUNCTION LIST is not).
        let cmd = if cmd.subcommands.is_empty() {
            cmd
        } else {
            if let Some(msg) = cmd.subcommand_error(args) {
                self.counters.rejected(stat);
                return reject(c, false, &msg);
            }
            cmd.for_sub(args)
        };
        if !c.client.authed && !cmd.flags.contains(&"no_auth") {
            self.counters.rejected(stat);
            return reject(c, cmd.name == "exec", "NOAUTH Authentication required.");
        }
        if c.client.subs.is_some() && not_while_subscribed(c, cmd) {
            self.counters.rejected(stat);
            return;
        }
        if c.client.multi.is_some() && cmd.no_multi {
            self.counters.rejected(stat);
            return reject(c, false, "ERR Command not allowed inside a transaction");
        }
        // A replica refuses what Redis's replica refuses (READONLY,
        // MASTERDOWN, LOADING); its master connection is exempt, or
        // dropped once its session is over.
        let is_replica = self.shared.repl.is_replica.load(Ordering::Relaxed);
        if is_replica || c.client.master != 0 {
            match replica::gate(&self.shared.repl, &c.client, cmd) {
                replica::Gate::Run => {}
                replica::Gate::Drop => return,
                replica::Gate::Refuse(e) => {
                    self.counters.rejected(stat);
                    return reject(c, cmd.name == "exec", e);
                }
            }
        }
        // A script of a read-only replica's client runs read-only (what it
        // will write is unknown until it runs); its master's run as sent.
        let cmd = if cmd.script {
            let ro = is_replica
                && c.client.master == 0
                && self.shared.repl.replica.read_only.load(Ordering::Relaxed);
            crate::scripting::set_replica_read_only(ro);
            if ro {
                table::read_only_variant(cmd)
            } else {
                cmd
            }
        } else {
            cmd
        };
        if self.shared.memory.maxmemory() != 0 && c.client.master == 0 {
            // EXEC may use memory if a command it runs may; inside MULTI
            // queueing itself does, so all but EXEC/DISCARD/QUIT/RESET are
            // refused (Redis 7.0's processCommand).
            let in_multi = c.client.multi.as_ref();
            let may_use_memory = cmd.denyoom
                || match cmd.name {
                    "exec" => in_multi.is_some_and(|m| m.denyoom),
                    "discard" | "quit" | "reset" => false,
                    _ => in_multi.is_some(),
                };
            let waited = std::mem::take(&mut c.evict_waited);
            match self.make_room() {
                maxmemory::Room::Refuse if may_use_memory => {
                    self.counters.rejected(stat);
                    let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
                        return;
                    };
                    return reject(c, cmd.name == "exec", maxmemory::OOM_ERR);
                }
                maxmemory::Room::Elsewhere if !waited => return self.wait_for_eviction(idx),
                maxmemory::Room::Elsewhere => self.nudge_evictors(),
                _ => {}
            }
        }
        if crate::pause::maybe() && self.held_by_pause(idx, cmd, args) {
            return self.postpone(idx);
        }
        if self.shared.monitor_count.load(Ordering::Relaxed) > 0 && !cmd.flags.contains(&"admin") {
            self.feed_monitors(idx, cmd, args);
        }
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        // min-replicas-to-write (with min-replicas-max-lag): a write needs
        // that many replicas whose last ACK is recent enough.
        if !is_replica
            && self.shared.writes_need_replicas.load(Ordering::Relaxed)
            && (cmd.is_write()
                || (cmd.name == "exec" && c.client.multi.as_ref().is_some_and(|m| m.write)))
            && !enough_replicas(&self.shared, self.now)
        {
            let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
                return;
            };
            self.counters.rejected(stat);
            return reject(c, cmd.name == "exec", NOREPLICAS);
        }
        if c.client.multi.is_some()
            && cmd.name == "migrate"
            && migrate_spans(cmd, args, &self.shared)
        {
            self.counters.rejected(stat);
            return reject(c, false, crate::commands::migrate::SPANS);
        }
        if let Some(m) = c.client.multi.as_mut() {
            if !matches!(cmd.kind, Kind::Tx(_)) && cmd.name != "quit" && cmd.name != "reset" {
                m.write |= cmd.is_write();
                m.may_replicate |= pause::may_replicate(cmd, args, None);
                m.denyoom |= cmd.denyoom;
                m.denystale |= !cmd.stale;
                m.denyloading |= !cmd.loading;
                m.cmds.push(OwnedArgs::from_args(args));
                return Reply::new(c.reply_buf(), proto).simple("QUEUED");
            }
        }
        match cmd.kind {
            Kind::Conn(f) => self.run_conn(idx, cmd, f, args),
            Kind::Keyed(f) => self.run_keyed(idx, cmd, f, None, args),
            Kind::Multi(f, m) => self.run_keyed(idx, cmd, f, Some(m), args),
            Kind::All(op) => self.run_all(idx, op, args),
            Kind::Tx(t) => self.run_tx(idx, t, args),
        }
        // Counted once it ran (or started), as Redis counts after the
        // call: INFO does not count the call that is answering, and
        // RESETSTAT counts itself after the reset.
        self.counters.called(stat);
    }

    // Inlined into `dispatch_cmd`, its only caller on the hot path: as a
    // call it cost GET ~11 instructions of argument passing (callgrind).
    #[inline(always)]
    pub(super) fn run_keyed(
        &mut self,
        idx: u32,
        cmd: &'static Command,
        f: table::KeyFn,
        multi: Option<Multi>,
        args: Args,
    ) {
        let n = self.shared.nshards;
        let mut target = None;
        let mut spans = false;
        // A pending fold (this connection's: see `joins_fold`) takes
        // every multi-key command, spanning or not, to keep their order:
        // where its keys live is the fold's business, so don't route them
        // here too (three CRC16s per 10-key MSET on average).
        let folding = self.fold.is_some();
        if n > 1 && !(folding && multi.is_some()) {
            if let Some(i) = cmd.only_key(args.len()) {
                target = Some(key_shard(args.get(i), n));
            } else {
                for i in cmd.keys_of(args) {
                    let s = key_shard(args.get(i), n);
                    match target {
                        None => target = Some(s),
                        Some(t) if t != s => {
                            spans = true;
                            break;
                        }
                        _ => {}
                    }
                }
            }
        }
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let db = c.client.db;
        let proto = c.client.proto;
        if cmd.script && n > 1 && crate::scripting::roams(crate::scripting::script_id(args)) {
            // Known to touch keys it does not declare: run on copies, where
            // meeting others costs only a restart.
            self.flush_fold();
            return self.script_tx(idx, Place::New, db, OwnedArgs::from_args(args), Vec::new());
        }
        if spans || folding {
            match multi {
                Some(Multi::MSet) if !args.len().is_multiple_of(2) => {
                    return self.add_run_to_fold(idx, fanout::RunKind::MSet, db, args);
                }
                Some(Multi::MGet) => {
                    return self.add_run_to_fold(idx, fanout::RunKind::MGet, db, args);
                }
                Some(m @ (Multi::Del | Multi::Exists | Multi::Touch)) => {
                    let mode = match m {
                        Multi::Del => CountMode::Delete,
                        Multi::Exists => CountMode::Look,
                        _ => CountMode::Touch,
                    };
                    return self.add_run_to_fold(idx, fanout::RunKind::Count(mode), db, args);
                }
                _ => {}
            }
            if let Some(m) = multi {
                let (plan, locks) =
                    match exec::spanning_plan(m, cmd, args, db, n, self.shard.dbs.len()) {
                        Ok(p) => p,
                        Err(e) => {
                            self.flush_fold();
                            let Some(c) = self.conn_mut(idx) else { return };
                            return Reply::new(c.reply_buf(), proto).error(&e);
                        }
                    };
                let locks = locks.unwrap_or_else(|| lock_keys(cmd, args, db, n));
                if m.folds() {
                    return self.add_to_fold(idx, plan, locks, cmd.is_write(), db, args);
                }
                self.flush_fold();
                if cmd.is_write() {
                    self.coordinated_command(db, args);
                }
                return self.start_tx(idx, plan, locks);
            }
        }
        if cmd.pattern_keys && n > 1 && crate::commands::sort::patterns_span(args, n, &self.shard) {
            // Keys only the sorted key's elements name: all shards locked,
            // read it, then gather what its patterns name.
            let store = cmd.option_key.and_then(|k| k(args)).map(|i| args.get(i));
            let locks = crate::commands::sort::patterns_locks(store, n);
            let env = self.gather_env(db);
            // SORT without STORE writes nothing: no write-back digests.
            let plan = crate::commands::sort::patterns_plan(
                f,
                store.is_some(),
                OwnedArgs::from_args(args),
                distinct_keys(cmd, args),
                env,
            );
            if store.is_some() {
                self.coordinated_command(db, args);
            }
            return self.start_tx(idx, plan, locks);
        }
        if spans && cmd.is_blocking() {
            // Wait on every shard first (no wake-up can be missed), then
            // attempt, as for a remote single-shard pop.
            return self.block_and_try(idx, cmd, args, db, blocking::SPANNING);
        }
        if spans && cmd.name == "migrate" {
            // On copies its deletions could not be replicated as DELs.
            self.flush_fold();
            let Some(c) = self.conn_mut(idx) else { return };
            return Reply::new(c.reply_buf(), proto).error(crate::commands::migrate::SPANS);
        }
        if spans {
            // No dedicated fan-out: run it on gathered copies, under locks.
            let locks = lock_keys(cmd, args, db, n);
            let env = self.gather_env(db);
            let plan = fanout::gather(
                f,
                cmd.may_write(),
                OwnedArgs::from_args(args),
                distinct_keys(cmd, args),
                env,
            );
            if cmd.may_write() {
                self.coordinated_command(db, args);
            }
            return self.start_tx(idx, plan, locks);
        }
        let target = target.unwrap_or(self.id);
        if target == self.id && !self.shard.locks.is_idle() {
            let keys: LockSet = cmd
                .keys_of(args)
                .map(|i| lock_id(db, args.get(i)))
                .collect();
            if self.shard.locks.blocked(&keys) {
                if cmd.is_blocking() {
                    // Its first try waits behind the transaction like any
                    // command, as a blocked client's attempt: finding
                    // nothing then, it blocks (run as a plain command it
                    // answered nothing at all).
                    return self.block_and_try(idx, cmd, args, db, self.id);
                }
                // A transaction holds (or waits for) these keys: run after it.
                let slot = c.push_remote();
                let reply = ReplyTo {
                    from: self.id,
                    conn: token(idx, c.gen),
                    slot,
                    part: 0,
                };
                let op = ShardOp::Exec {
                    db,
                    proto,
                    args: OwnedArgs::from_args(args),
                };
                self.shard.locks.park(keys, op, reply);
                return;
            }
        }
        if target == self.id {
            if cmd.script {
                return self.run_script_here(idx, cmd, f, args, db, proto);
            }
            let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
            let buf = c.reply_buf();
            let at = buf.len();
            let mut ctx = Ctx {
                shard: &mut self.shard,
                db,
                now: self.now,
                r: Reply::new(buf, proto),
                max_bulk: self.max_bulk,
            };
            f(&mut ctx, args);
            let usec = timed.map(crate::slowlog::elapsed_us);
            let wrote = ctx.r.out.len() > at;
            let failed = ctx.r.out.get(at) == Some(&b'-');
            let replicated = self
                .shared
                .repl
                .primary
                .active()
                .then(|| ctx.r.out[at..].to_vec());
            let unchanged = cmd.is_write()
                && !failed
                && ctx.shard.dbs[db].signals_changes()
                && changed_nothing(cmd, &ctx.r.out[at..]);
            if let Some(reply) = replicated {
                // Before the blocked clients it wakes pop: their pops
                // must follow it in the stream.
                self.replicate(cmd, db, args, &reply);
            }
            if failed || usec.is_some() {
                self.counters
                    .ran(table::stat_index(cmd, args), failed, usec);
            }
            let blocks = !wrote && cmd.is_blocking();
            // A command that blocks is judged when it is served.
            if let Some(us) = usec.filter(|&us| !blocks && crate::slowlog::took(cmd, us)) {
                if let Some(c) = self.conn(idx) {
                    crate::slowlog::record(us, args, &c.client.addr, &c.client.name);
                }
            }
            // Tested here, not only inside: two calls that return at once
            // were ~3% of a pipelined GET.
            if cmd.is_write() && !failed {
                touch_written(&mut self.shard, cmd, db, args, unchanged);
                // A blocking attempt that found nothing changed nothing.
                if wrote {
                    self.signal_written(cmd, db, args);
                }
            }
            if blocks {
                self.block(idx, cmd, args, db, self.id, None);
                if let Some(b) = self.conn_mut(idx).and_then(|c| c.blocked.as_mut()) {
                    b.usec = usec.unwrap_or(0);
                }
            }
        } else {
            let tok = token(idx, c.gen);
            if !cmd.is_blocking() {
                let slot = c.push_remote();
                let me = self.id;
                let ob = &mut self.outbox[target];
                let args = ob.push_args(args);
                return ob.push(Msg::Cmd(RemoteCmd {
                    from: me,
                    conn: tok,
                    slot,
                    db,
                    proto,
                    cmd,
                    args,
                }));
            }
            // Registered with its command on the key's shard, which makes
            // the first try itself and always answers it: in flight until
            // then.
            self.block(idx, cmd, args, db, target, None);
            let Some(c) = self.conn_mut(idx) else { return };
            let Some(b) = c.blocked.as_mut() else { return };
            b.retrying = true;
            b.tried = true;
        }
    }

    /// What a command run on gathered copies needs from this reactor.
    pub(super) fn gather_env(&self, db: usize) -> fanout::GatherEnv {
        fanout::GatherEnv {
            attempt: None,
            waited: 0,
            db,
            databases: self.shard.dbs.len(),
            now: self.now,
            max_bulk: self.max_bulk,
            nshards: self.shared.nshards,
            patterns_gathered: false,
            script_retry: true,
        }
    }

    fn run_all(&mut self, idx: u32, op: AllOp, args: Args) {
        let n = self.shared.nshards;
        let Some(c) = self.conn_mut(idx) else { return };
        let db = c.client.db;
        let proto = c.client.proto;
        let plan = match server_cmds::all_shards_plan(op, args, db, n, self.shard.dbs.len()) {
            Ok(p) => p,
            Err(e) => {
                if let Some(c) = self.conn_mut(idx) {
                    Reply::new(c.reply_buf(), proto).error(&e);
                }
                return;
            }
        };
        let Some(lock) = op.shard_lock() else {
            return self.start_plan(idx, plan);
        };
        if lock == crate::tx::locks::WHOLE_SHARD {
            self.coordinated_command(db, args);
        }
        let locks = (0..n).map(|s| (s, vec![lock])).collect();
        self.start_tx_min(idx, plan, locks, 1);
    }

    fn run_conn(&mut self, idx: u32, cmd: &'static Command, f: table::ConnFn, args: Args) {
        let shared = self.shared.clone();
        let now = self.now;
        let id = self.id;
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let proto = c.client.proto;
        let tok = token(idx, c.gen);
        let mut out = std::mem::take(c.reply_buf());
        let at = out.len();
        let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
        let mut ctx = ConnCtx {
            client: &mut c.client,
            shared: &shared,
            r: Reply::new(&mut out, proto),
            action: ConnAction::None,
            now,
            reactor: id,
            conn: tok,
        };
        f(&mut ctx, args);
        let action = std::mem::replace(&mut ctx.action, ConnAction::None);
        let usec = timed.map(crate::slowlog::elapsed_us);
        if let Some(us) = usec.filter(|&us| crate::slowlog::took(cmd, us)) {
            crate::slowlog::record(us, args, &c.client.addr, &c.client.name);
        }
        let failed = out.get(at) == Some(&b'-');
        *c.reply_buf() = out;
        self.counters
            .ran(table::stat_index(cmd, args), failed, usec);
        match action {
            ConnAction::None => {}
            ConnAction::Close => c.close_after_flush = true,
            ConnAction::Plan(p) => self.start_plan(idx, p),
            ConnAction::Monitor => {
                c.client.monitor = true;
                let tok = token(idx, c.gen);
                self.shared.add_monitor(self.id, tok);
            }
            ConnAction::Sync { psync } => self.start_sync(idx, psync),
            ConnAction::Publish {
                channel,
                message,
                shard,
            } => {
                let db = c.client.db;
                let n = self.publish(db, &channel, &message, shard);
                if let Some(c) = self.conn_mut(idx) {
                    Reply::new(c.reply_buf(), proto).int(n as i64);
                }
            }
            ConnAction::Propagate(cmd) => {
                let db = c.client.db;
                if self.shared.repl.primary.active() {
                    self.repl_append(&[(db, cmd)], false);
                }
            }
            ConnAction::Wait { replicas, deadline } => {
                let slot = c.push_remote();
                self.waits.push(replicate::WaitFor {
                    conn: tok,
                    slot,
                    replicas,
                    deadline,
                    target: None,
                });
                self.check_waits();
            }
            ConnAction::StopMonitor => {
                c.client.monitor = false;
                let tok = token(idx, c.gen);
                self.shared.remove_monitor(self.id, tok);
            }
        }
        self.recount_special(idx);
    }
}

const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// A RESP2 client in subscribed mode may only send Pub/Sub commands, PING,
/// QUIT and RESET: refuse anything else (true when refused). Out of line:
/// every command passes this check.
#[cold]
#[inline(never)]
fn not_while_subscribed(c: &mut Conn, cmd: &Command) -> bool {
    if c.client.proto != crate::protocol::Proto::Resp2
        || crate::commands::pubsub::allowed_while_subscribed(cmd.name)
    {
        return false;
    }
    let msg = format!(
        "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        cmd.name
    );
    reject(c, cmd.name == "exec", &msg);
    true
}

fn enough_replicas(shared: &Shared, now: u64) -> bool {
    let (min, lag) = {
        let cfg = shared.config();
        (
            cfg.int("min-replicas-to-write", 0).max(0) as usize,
            cfg.int("min-replicas-max-lag", 10).max(0) as u64,
        )
    };
    shared.repl.primary.good_replicas(now, lag) >= min
}

/// Whether a MIGRATE's keys live on more than one shard (refused: see
/// `commands::migrate`).
#[cold]
fn migrate_spans(cmd: &Command, args: Args, shared: &crate::server::Shared) -> bool {
    let n = shared.nshards;
    let mut shards = cmd.keys_of(args).map(|i| key_shard(args.get(i), n));
    let first = shards.next();
    shards.any(|s| Some(s) != first)
}

/// Refuse a command (Redis's rejectCommand): inside MULTI the transaction
/// is doomed, and a refused EXEC (`abort_exec`: every refusal of EXEC,
/// whatever the reason, as in Redis) discards it with EXECABORT naming
/// the reason, without the generic "ERR " (Redis formats those reasons
/// without it: "...because of: wrong number of arguments for 'exec'
/// command").
fn reject(c: &mut Conn, abort_exec: bool, err: &str) {
    let proto = c.client.proto;
    if abort_exec {
        c.client.multi = None;
        c.client.watch = None;
        let reason = err.strip_prefix("ERR ").unwrap_or(err);
        let msg = format!("EXECABORT Transaction discarded because of: {reason}");
        return Reply::new(c.reply_buf(), proto).error(&msg);
    }
    if let Some(m) = c.client.multi.as_mut() {
        m.error = true;
    }
    Reply::new(c.reply_buf(), proto).error(err);
}
