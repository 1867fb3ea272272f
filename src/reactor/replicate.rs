//! Replication, master side, as the reactor runs it: SYNC's snapshot,
//! the writes each path appends to the stream (`replication::primary`
//! says why appending where a write runs keeps the stream in order), and
//! moving the stream to this reactor's replica connections.
//!
//! Where writes are appended:
//! * a command whose keys live on one shard: by that shard, right after it
//!   ran (`Reactor::replicate`), before any blocked client it wakes runs;
//! * a single-shard MULTI/EXEC (`ShardOp::Batch` outside a transaction):
//!   by its shard, as one MULTI ... EXEC unit;
//! * anything coordinated under locks (multi-key commands across shards,
//!   multi-shard EXEC, FLUSHALL, SWAPDB...): by the coordinator when its
//!   reply is complete and before it releases the locks
//!   (`ToReplicate`); its parts append nothing. While a replica is
//!   attached, transactions do not take the single-phase shortcut (whose
//!   last shard unlocks before the coordinator hears back), and a fold of
//!   pipelined multi-key commands keeps the commands for its coordinator;
//! * keys deleted by expiry or eviction: a DEL each, by their shard,
//!   before anything else it appends and after every operation it runs
//!   for a coordinator (so the DEL precedes the coordinator's writes).

use super::Reactor;
use crate::commands::table::{self, Command};
use crate::protocol::Args;
use crate::replication::primary::Propagated;
use crate::replication::rewrite;
use crate::tx::fanout::{Plan, Step, ToReplicate};
use crate::tx::locks::WHOLE_SHARD_READ;
use crate::tx::{Msg, OpResult, ShardOp, Token};

/// Where the writes run now go.
pub(super) enum Emit {
    /// Appended to the stream as they run.
    Direct,
    /// Gathered for one MULTI/EXEC unit (a single-shard EXEC's batch).
    Collect(Vec<Propagated>),
    /// Not appended here: the coordinator appends them.
    Off,
}

/// A client in WAIT: its reply slot, how many replicas it waits for, until
/// when, and the stream offset they must acknowledge (taken once every
/// earlier command of the connection has answered, so it covers their
/// writes).
pub(super) struct WaitFor {
    pub conn: Token,
    pub slot: u64,
    pub replicas: usize,
    pub deadline: u64,
    pub target: Option<u64>,
}

/// EVAL as called, EVALSHA as the EVAL of its body (a replica may not
/// have the script); nothing for the read-only forms.
fn script_as_eval(cmd: &Command, a: Args) -> Option<Vec<Vec<u8>>> {
    match cmd.name {
        "eval" | "fcall" => Some(a.to_vec()),
        "evalsha" => {
            let body = crate::scripting::body(&crate::scripting::parse_sha(a.get(1))?)?;
            let mut c = a.to_vec();
            c[0] = b"EVAL".to_vec();
            c[1] = body.to_vec();
            Some(c)
        }
        _ => None,
    }
}

impl Reactor {
    /// Answer the WAITs that are satisfied or timed out (each turn while
    /// any waits, and each tick).
    pub(super) fn check_waits(&mut self) {
        let now = crate::server::now_ms();
        let mut i = 0;
        while i < self.waits.len() {
            let (tok, slot) = (self.waits[i].conn, self.waits[i].slot);
            let Some((_, c)) = self.conn_by_token(tok) else {
                self.waits.swap_remove(i);
                continue;
            };
            if c.first_slot != slot {
                i += 1; // earlier commands still running
                continue;
            }
            let target = match self.waits[i].target {
                Some(t) => t,
                None => {
                    let (offset, wake) = self.shared.repl.primary.offset_with_getack();
                    self.wake_replicas(wake);
                    self.waits[i].target = Some(offset);
                    offset
                }
            };
            let acked = self.shared.repl.primary.acked(target);
            let w = &self.waits[i];
            if acked < w.replicas && (w.deadline == 0 || now < w.deadline) {
                i += 1;
                continue;
            }
            self.waits.swap_remove(i);
            let Some((idx, c)) = self.conn_by_token(tok) else {
                continue;
            };
            let mut reply = Vec::new();
            crate::protocol::Reply::new(&mut reply, c.client.proto).int(acked as i64);
            if c.fill_remote(slot, &reply) {
                self.slot_done(idx, false);
            }
        }
    }

    /// A keyed command ran on this shard (`reply`: its reply; empty for a
    /// blocking attempt that found nothing): replicate what it changed.
    pub(super) fn replicate(&mut self, cmd: &Command, db: usize, a: Args, reply: &[u8]) {
        self.replicate_deletions();
        if !cmd.is_write() || matches!(self.emit, Emit::Off) {
            return;
        }
        let how = if cmd.name == "migrate" {
            self.migrated_away()
        } else {
            rewrite::replicated(cmd, a, reply, self.now)
        };
        let cmds = match how {
            rewrite::Replicated::Nothing => return,
            rewrite::Replicated::AsCalled if matches!(self.emit, Emit::Direct) => {
                // The common case, without building argument vectors.
                if self.is_replica() {
                    return;
                }
                let mut bytes = std::mem::take(&mut self.repl_scratch);
                bytes.clear();
                crate::replication::primary::encode_args(&mut bytes, a);
                let wake = self.shared.repl.primary.append_encoded(db, &bytes);
                self.repl_scratch = bytes;
                return self.wake_replicas(wake);
            }
            rewrite::Replicated::AsCalled => vec![a.iter().map(|x| x.to_vec()).collect()],
            rewrite::Replicated::Rewritten(cmds) => cmds,
        };
        if cmds.is_empty() {
            return;
        }
        let unit: Vec<Propagated> = cmds.into_iter().map(|c| (db, c)).collect();
        match &mut self.emit {
            Emit::Collect(v) => v.extend(unit),
            _ => {
                let wrap = unit.len() > 1;
                self.repl_append(&unit, wrap);
            }
        }
    }

    /// What a MIGRATE that ran here changes on a replica: DEL of the keys
    /// it deleted (those the target took, unless COPY; none when nothing
    /// went), as Redis replicates it, error reply or not.
    fn migrated_away(&mut self) -> rewrite::Replicated {
        let gone = std::mem::take(&mut self.shard.migrated);
        if gone.is_empty() {
            return rewrite::Replicated::Nothing;
        }
        let mut del = Vec::with_capacity(gone.len() + 1);
        del.push(b"DEL".to_vec());
        del.extend(gone);
        rewrite::Replicated::Rewritten(vec![del])
    }

    /// A script ran on this shard: replicate its writes as one unit (as
    /// MULTI ... EXEC when more than one, as Redis 7.0 does), then wake
    /// the clients blocked on what it wrote.
    pub(super) fn script_done(&mut self) {
        if !self.shard.script_monitor.is_empty() {
            self.feed_script_monitors();
        }
        if self.shard.script_effects.is_empty() {
            return;
        }
        let effects = std::mem::take(&mut self.shard.script_effects);
        if self.shared.repl.primary.active() {
            let own_unit = matches!(self.emit, Emit::Direct);
            if own_unit {
                self.emit = Emit::Collect(Vec::new());
            }
            for e in &effects {
                self.replicate(e.cmd, e.db, e.args.args(), &e.reply);
            }
            if own_unit {
                if let Emit::Collect(unit) = std::mem::replace(&mut self.emit, Emit::Direct) {
                    let wrap = unit.len() > 1;
                    self.repl_append(&unit, wrap);
                }
            }
        }
        for e in &effects {
            if e.cmd.name == "publish" || e.cmd.name == "spublish" {
                let a = e.args.args();
                self.publish(e.db, a.get(1), a.get(2), e.cmd.name == "spublish");
            } else {
                self.signal_written(e.cmd, e.db, e.args.args());
            }
        }
    }

    pub(super) fn repl_append(&mut self, unit: &[Propagated], wrap: bool) {
        if self.is_replica() {
            return;
        }
        let wake = self.shared.repl.primary.append(unit, wrap);
        self.wake_replicas(wake);
    }

    /// A replica applies its master's stream and passes nothing on (no
    /// chained replication).
    fn is_replica(&self) -> bool {
        self.shared
            .repl
            .is_replica
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tell the reactors of replicas whose buffers just stopped being
    /// empty to send.
    fn wake_replicas(&mut self, reactors: Vec<usize>) {
        for r in reactors {
            if r == self.id {
                self.repl_pump = true;
            } else if let Some(ob) = self.outbox.get_mut(r) {
                ob.push(Msg::ReplPending);
            }
        }
    }

    /// DEL every key expiry or eviction deleted here since the last call;
    /// stop keeping them once no replica is attached.
    pub(super) fn replicate_deletions(&mut self) {
        if !self.shard.logs_deletions {
            return;
        }
        if !self.shared.repl.primary.active() {
            // Between this shard's snapshot and the replica's attaching
            // (a coordinator's round trip) nobody is attached yet: keep
            // logging for a while before concluding nobody will be.
            if self.now.saturating_sub(self.snapshot_ms) > 60_000 {
                self.shard.logs_deletions = false;
                for d in &mut self.shard.dbs {
                    d.log_deletions(false);
                }
            }
            return;
        }
        // Every deletion kept is also counted in the shard's statistics:
        // unchanged counts mean nothing to look for in the databases.
        let seen = self.shard.stats.expired_keys + self.shard.stats.evicted_keys;
        if seen == self.deletions_seen {
            return;
        }
        self.deletions_seen = seen;
        for db in 0..self.shard.dbs.len() {
            for k in self.shard.dbs[db].take_deleted() {
                self.repl_append(&[(db, vec![b"DEL".to_vec(), k.to_vec()])], false);
            }
        }
    }

    /// Run a single-shard EXEC's commands (`run`) as one unit: appended
    /// as MULTI ... EXEC when more than one wrote; with `in_tx`, not at all
    /// (a coordinator holding the locks appends the whole transaction).
    pub(super) fn replicate_batch<T>(
        &mut self,
        in_tx: bool,
        run: impl FnOnce(&mut Self) -> T,
    ) -> T {
        if !self.shared.repl.primary.active() {
            return run(self);
        }
        let mode = if in_tx {
            Emit::Off
        } else {
            Emit::Collect(Vec::new())
        };
        let prev = std::mem::replace(&mut self.emit, mode);
        let r = run(self);
        if let Emit::Collect(unit) = std::mem::replace(&mut self.emit, prev) {
            let wrap = unit.len() > 1;
            self.repl_append(&unit, wrap);
        }
        r
    }

    /// A coordinator completed with reply `out`: append what its commands
    /// changed (it still holds its locks).
    pub(super) fn replicate_completed(&mut self, what: ToReplicate, out: &[u8]) {
        self.replicate_deletions();
        if !self.shared.repl.primary.active() {
            return;
        }
        let replies = rewrite::split_replies(out, what.exec);
        let mut unit: Vec<Propagated> = Vec::new();
        for ((db, args), reply) in what.cmds.iter().zip(replies) {
            let a = args.args();
            let Some(cmd) = table::lookup(a.get(0)) else {
                continue;
            };
            if cmd.script {
                // A script run under locks (keys on several shards, or in
                // a multi-shard EXEC) is replicated as the script itself:
                // its writes happened on scratch copies.
                if let Some(c) = script_as_eval(cmd, a) {
                    if what.exec {
                        unit.push((*db, c));
                    } else {
                        self.repl_append(&[(*db, c)], false);
                    }
                }
                continue;
            }
            // PUBLISH is no write, but Redis propagates it, in its place.
            if !cmd.is_write() && !matches!(cmd.name, "publish" | "spublish") {
                continue;
            }
            for c in rewrite::propagated(cmd, a, reply, self.now) {
                if what.exec {
                    unit.push((*db, c));
                } else {
                    self.repl_append(&[(*db, c)], false);
                }
            }
        }
        let wrap = unit.len() > 1;
        self.repl_append(&unit, wrap);
    }

    /// The coordinator about to start writes: it carries its commands
    /// (`cmds`, made only while replicas are attached or attaching).
    pub(super) fn coordinated_write(
        &mut self,
        cmds: impl FnOnce() -> Vec<(usize, crate::tx::OwnedArgs)>,
        exec: bool,
    ) {
        self.tx_writes = true;
        if self.shared.repl.primary.recording() {
            self.tx_replicate = Some(Box::new(ToReplicate { cmds: cmds(), exec }));
        }
    }

    /// `coordinated_write` of one command as it was called.
    pub(super) fn coordinated_command(&mut self, db: usize, args: Args) {
        self.coordinated_write(|| vec![(db, crate::tx::OwnedArgs::from_args(args))], false);
    }

    /// A coordinator that writes completed, holding its locks, without
    /// its commands: it started before any replica was attaching, and a
    /// replica attached before it ran (its restart in shard order queued
    /// it behind the snapshot). Its writes are in no stream: every
    /// replica resynchronizes.
    pub(super) fn write_missed(&mut self) {
        if !self.shared.repl.primary.active() {
            return;
        }
        log::warn!("A transaction ran after a replica's snapshot without being streamed: replicas resynchronize");
        for r in self.shared.repl.primary.drop_all() {
            if r == self.id {
                self.repl_pump = true;
            } else if let Some(ob) = self.outbox.get_mut(r) {
                ob.push(Msg::ReplPending);
            }
        }
    }

    /// Move the stream waiting for this reactor's replicas to their
    /// connections; drop one that fell too far behind.
    pub(super) fn pump_replicas(&mut self) {
        self.repl_pump = false;
        for (tok, bytes, over) in self.shared.repl.primary.take(self.id) {
            let Some((idx, c)) = self.conn_by_token(tok) else {
                continue;
            };
            if over {
                log::warn!("Replica {} dropped: it must resynchronize", c.client.addr);
                self.close(idx);
                continue;
            }
            c.reply_buf().extend_from_slice(&bytes);
            self.mark_dirty(idx);
        }
    }

    /// A replica's connection is closing.
    pub(super) fn replica_gone(&mut self, tok: Token) {
        self.shared.repl.primary.detach(self.id, tok);
    }

    /// SYNC / PSYNC from connection `idx`: every shard locked (shared:
    /// nothing writes meanwhile), each serializes its keys, and the
    /// coordinator, still holding the locks, attaches the replica, so
    /// every write after the snapshot and none before it reaches the
    /// stream. The payload is the RDB file as a bulk without trailing CRLF
    /// (what replicas read), after +FULLRESYNC for PSYNC.
    pub(super) fn start_sync(&mut self, idx: u32, psync: bool) {
        let n = self.shared.nshards;
        let me = self.id;
        let shared = self.shared.clone();
        let Some(c) = self.conn_mut(idx) else { return };
        c.client.replica = true;
        let tok = super::token(idx, c.gen);
        let id = c.client.id;
        let port = c.client.replica_port;
        let ip = c
            .client
            .addr
            .rsplit_once(':')
            .map_or(c.client.addr.clone(), |(ip, _)| ip.to_string());
        let dbs = self.shard.dbs.len();
        log::info!("Replica {ip}:{port} asks for synchronization");
        self.shared.repl.primary.sync_started();
        let plan = Plan {
            ops: crate::tx::fanout::all_shards(n, |_| ShardOp::Snapshot),
            barrier: true,
            finish: Box::new(move |results, r| {
                let mut per_db: Vec<(usize, usize, Vec<u8>)> = vec![(0, 0, Vec::new()); dbs];
                for res in results {
                    if let OpResult::Snapshot(parts) = res {
                        for (db, keys, expires, bytes) in parts {
                            if let Some(d) = per_db.get_mut(db) {
                                d.0 += keys;
                                d.1 += expires;
                                d.2.extend_from_slice(&bytes);
                            }
                        }
                    }
                }
                let (replid, offset) = shared.repl.primary.attach(me, tok, id, ip, port);
                let ctime = (crate::server::now_ms() / 1000).to_string();
                let offset_s = offset.to_string();
                let mut rdb = Vec::new();
                crate::rdb::put_file_header(
                    &mut rdb,
                    &[
                        ("redis-ver", crate::server::REDIS_VERSION.as_bytes()),
                        ("redis-bits", b"64"),
                        ("ctime", ctime.as_bytes()),
                        ("used-mem", b"0"),
                        ("repl-stream-db", b"0"),
                        ("repl-id", replid.as_bytes()),
                        ("repl-offset", offset_s.as_bytes()),
                        ("aof-base", b"0"),
                    ],
                );
                for lib in crate::scripting::functions::libraries() {
                    crate::rdb::put_function(&mut rdb, &lib.code);
                }
                for (db, (keys, expires, bytes)) in per_db.into_iter().enumerate() {
                    if keys > 0 {
                        crate::rdb::put_db_header(&mut rdb, db, keys, expires);
                        rdb.extend_from_slice(&bytes);
                    }
                }
                crate::rdb::put_file_end(&mut rdb);
                if psync {
                    r.out
                        .extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
                }
                r.out
                    .extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
                r.out.extend_from_slice(&rdb);
                Step::Done
            }),
        };
        let locks = (0..n).map(|s| (s, vec![WHOLE_SHARD_READ])).collect();
        self.start_tx_min(idx, plan, locks, 1);
    }

    /// This shard's part of a snapshot (`ShardOp::Snapshot`).
    pub(super) fn snapshot(&mut self) -> OpResult {
        let now = self.now;
        // Deletions kept so far go to the replicas already attached; with
        // none, they are history the snapshot already shows.
        self.replicate_deletions();
        for d in &mut self.shard.dbs {
            d.take_deleted();
        }
        self.snapshot_ms = now;
        self.shard.logs_deletions = true;
        let mut parts = Vec::new();
        for (i, d) in self.shard.dbs.iter_mut().enumerate() {
            d.log_deletions(true);
            if d.is_empty() {
                continue;
            }
            let (mut keys, mut expires) = (0, 0);
            let mut bytes = Vec::new();
            for (k, e) in d.iter() {
                // Already expired: its DEL would follow anyway.
                if e.expire_at != 0 && e.expire_at <= now {
                    continue;
                }
                keys += 1;
                if e.expire_at != 0 {
                    expires += 1;
                }
                crate::rdb::put_entry(&mut bytes, k, &e.value, e.expire_at);
            }
            if keys > 0 {
                parts.push((i, keys, expires, bytes));
            }
        }
        OpResult::Snapshot(parts)
    }

    /// `repl-ping-replica-period`: a PING in the stream keeps idle
    /// replicas from timing out (reactor 0's tick).
    /// Each tick: replicas dropped from elsewhere (REPLICAOF) are closed.
    pub(super) fn replica_tick(&mut self) {
        if self.shared.repl.primary.active() {
            self.pump_replicas();
        }
        self.replica_keepalive();
    }

    pub(super) fn replica_keepalive(&mut self) {
        if self.id != 0 || !self.shared.repl.primary.active() {
            return;
        }
        let period = self
            .shared
            .config()
            .int("repl-ping-replica-period", 10)
            .max(1) as u64
            * 1000;
        if self.now.saturating_sub(self.last_repl_ping) >= period {
            self.last_repl_ping = self.now;
            let wake = self.shared.repl.primary.append_raw(&[b"PING"]);
            self.wake_replicas(wake);
        }
    }
}
