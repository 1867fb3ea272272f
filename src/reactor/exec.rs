//! MULTI, EXEC, DISCARD, WATCH, UNWATCH: the reactor side (the plan of an
//! EXEC is built here from the queued commands; `tx::multi` chains it).

use super::Reactor;
use crate::commands::conn::{ConnAction, ConnCtx};
use crate::commands::ctx::arg_i64;
use crate::commands::keys;
use crate::commands::server as server_cmds;
use crate::commands::table::{self, Kind, Multi, TxCmd};
use crate::protocol::{Args, Reply};
use crate::shard::slot::key_shard;
use crate::tx::fanout::{self, Plan, Step};
use crate::tx::locks::{add_lock, LockSet};
use crate::tx::multi::{self, ExecStep, MultiState, ShardBatches, WatchState};
use crate::tx::ops::{CountMode, WatchCheck};
use crate::tx::{OpResult, OwnedArgs, ShardOp};
use std::sync::Arc;

impl Reactor {
    pub(super) fn run_tx(&mut self, idx: u32, t: TxCmd, args: Args) {
        let n = self.shared.nshards;
        let Some(c) = self.conn_mut(idx) else { return };
        let proto = c.client.proto;
        match t {
            TxCmd::Multi => {
                if c.client.multi.is_some() {
                    return Reply::new(c.reply_buf(), proto)
                        .error("ERR MULTI calls can not be nested");
                }
                c.client.multi = Some(MultiState::default());
                Reply::new(c.reply_buf(), proto).ok();
            }
            TxCmd::Discard => {
                if c.client.multi.take().is_none() {
                    return Reply::new(c.reply_buf(), proto).error("ERR DISCARD without MULTI");
                }
                c.client.watch = None;
                Reply::new(c.reply_buf(), proto).ok();
            }
            TxCmd::Unwatch => {
                c.client.watch = None;
                Reply::new(c.reply_buf(), proto).ok();
            }
            TxCmd::Watch => {
                if c.client.multi.is_some() {
                    return Reply::new(c.reply_buf(), proto)
                        .error("ERR WATCH inside MULTI is not allowed");
                }
                let db = c.client.db;
                let w = c.client.watch.get_or_insert_with(WatchState::new);
                let flag = Arc::downgrade(&w.flag);
                let mut by_shard: Vec<(usize, OwnedArgs)> = Vec::new();
                for k in args.iter().skip(1) {
                    w.keys.push((db, k.to_vec()));
                    let s = key_shard(k, n);
                    match by_shard.iter_mut().find(|(x, _)| *x == s) {
                        Some((_, ks)) => ks.push(k),
                        None => {
                            let mut ks = OwnedArgs::new();
                            ks.push(k);
                            by_shard.push((s, ks));
                        }
                    }
                }
                let ops = by_shard
                    .into_iter()
                    .map(|(s, keys)| {
                        (
                            s,
                            ShardOp::Watch {
                                db,
                                keys,
                                flag: flag.clone(),
                            },
                        )
                    })
                    .collect();
                let plan = Plan {
                    ops,
                    barrier: false,
                    finish: Box::new(|_, r| {
                        r.ok();
                        Step::Done
                    }),
                };
                self.start_plan(idx, plan);
            }
            TxCmd::Exec => self.exec(idx),
        }
    }

    fn exec(&mut self, idx: u32) {
        let n = self.shared.nshards;
        let replicating = self.shared.repl.primary.recording();
        let databases = self.shard.dbs.len();
        // A tracking client's queued reads register their keys as they run.
        let track = self.read_tracker(idx);
        let Some(c) = self.conn_mut(idx) else { return };
        let proto = c.client.proto;
        let Some(m) = c.client.multi.take() else {
            return Reply::new(c.reply_buf(), proto).error("ERR EXEC without MULTI");
        };
        let watch = c.client.watch.take();
        if m.error {
            return Reply::new(c.reply_buf(), proto)
                .error("EXECABORT Transaction discarded because of previous errors.");
        }
        if watch.as_ref().is_some_and(|w| w.dirty()) {
            return Reply::new(c.reply_buf(), proto).null_array();
        }
        if m.cmds.is_empty() {
            return Reply::new(c.reply_buf(), proto).array(0);
        }
        let flag = watch.as_ref().map(|w| w.flag.clone());
        // EXEC also fails if a key watched while live has expired since.
        let mut checks: Vec<(usize, WatchCheck)> = Vec::new();
        if let Some(w) = &watch {
            for (db, k) in &w.keys {
                let s = key_shard(k, n);
                let i = match checks.iter().position(|(x, _)| *x == s) {
                    Some(i) => i,
                    None => {
                        checks.push((
                            s,
                            WatchCheck {
                                flag: w.flag.clone(),
                                keys: Vec::new(),
                            },
                        ));
                        checks.len() - 1
                    }
                };
                checks[i].1.keys.push((*db, k.clone()));
            }
        }

        // Classify: which shard each command runs on, and with which db
        // (SELECT inside the transaction changes it for the rest).
        let mut db = c.client.db;
        let mut single_shard: Option<usize> = None;
        let mut simple = true;
        let mut placed: Vec<(usize, Option<usize>)> = Vec::with_capacity(m.cmds.len());
        for args in &m.cmds {
            let a = args.args();
            let Some(cmd) = table::lookup(a.get(0)) else {
                placed.push((db, None));
                simple = false;
                continue;
            };
            match cmd.kind {
                Kind::Keyed(_) | Kind::Multi(..) => {
                    let mut target = None;
                    let mut spans = false;
                    for i in cmd.keys_of(a) {
                        let s = key_shard(a.get(i), n);
                        match target {
                            None => target = Some(s),
                            Some(t) if t != s => spans = true,
                            _ => {}
                        }
                    }
                    if spans {
                        simple = false;
                    }
                    let s = target.unwrap_or(self.id);
                    if *single_shard.get_or_insert(s) != s {
                        simple = false;
                    }
                    placed.push((db, if spans { None } else { Some(s) }));
                }
                _ => {
                    if cmd.name == "select" {
                        if let Some(v) =
                            arg_i64(a.get(1)).filter(|v| *v >= 0 && (*v as usize) < databases)
                        {
                            db = v as usize;
                        }
                    }
                    simple = false;
                    placed.push((db, None));
                }
            }
        }
        if let Some(w) = &watch {
            for (_, k) in &w.keys {
                let s = key_shard(k, n);
                if *single_shard.get_or_insert(s) != s {
                    simple = false;
                }
            }
        }

        // MIGRATE's deletions reach replicas as DEL from a one-shard batch
        // only (a transaction's coordinator replicates what it ran as
        // called): anywhere else it is refused, before anything runs.
        if !simple
            && m.cmds
                .iter()
                .any(|a| a.args().get(0).eq_ignore_ascii_case(b"migrate"))
        {
            let Some(c) = self.conn_mut(idx) else { return };
            return Reply::new(c.reply_buf(), proto).error(&format!(
                "EXECABORT Transaction discarded because of: {}",
                crate::commands::migrate::IN_TX
            ));
        }
        // Everything queued, with the database each runs in, for the
        // replication stream: a transaction's coordinator appends it (a
        // single-shard batch is appended by its shard).
        let writes = m.write;
        let replicate: Option<Vec<(usize, OwnedArgs)>> = (replicating && !simple).then(|| {
            m.cmds
                .iter()
                .zip(&placed)
                .map(|(a, (db, _))| (*db, a.clone()))
                .collect()
        });
        if simple {
            // One shard, keyed commands only: one step on that shard.
            let shard = single_shard.unwrap_or(self.id);
            let cmds: Vec<(usize, OwnedArgs)> = placed.iter().map(|p| p.0).zip(m.cmds).collect();
            let op = ShardOp::Batch {
                proto,
                cmds,
                in_tx: false,
                watch: checks.pop().map(|(_, c)| c),
                track,
            };
            // No barrier: like any command on another shard, the batch
            // travels in order behind this connection's earlier requests
            // to that shard, and later commands need not wait for its
            // reply (a pipeline of hash-tagged transactions would otherwise
            // pay a round trip each).
            let plan = Plan {
                ops: vec![(shard, op)],
                barrier: false,
                finish: Box::new(|results, r| {
                    match results.into_iter().next() {
                        Some(OpResult::Replies(list)) => {
                            r.array(list.len());
                            for b in list {
                                r.out.extend_from_slice(&b);
                            }
                        }
                        _ => r.null_array(),
                    }
                    Step::Done
                }),
            };
            return self.start_plan(idx, plan);
        }

        // The general case: a transaction over several shards.
        let mut replies: Vec<Option<Vec<u8>>> = vec![None; m.cmds.len()];
        let mut steps: Vec<ExecStep> = Vec::new();
        let mut batch: ShardBatches = Vec::new();
        let mut locks: Vec<(usize, LockSet)> = Vec::new();
        let add_lock =
            |locks: &mut Vec<(usize, LockSet)>, db: usize, k: &[u8]| add_lock(locks, n, db, k);
        if let Some(w) = &watch {
            for (wdb, k) in &w.keys {
                add_lock(&mut locks, *wdb, k);
            }
        }
        for (pos, (args, (db, shard))) in m.cmds.into_iter().zip(placed).enumerate() {
            let a = args.args();
            let Some(cmd) = table::lookup(a.get(0)) else {
                continue;
            };
            match cmd.kind {
                Kind::Keyed(_) | Kind::Multi(..) => {
                    for i in cmd.keys_of(a) {
                        add_lock(&mut locks, db, a.get(i));
                    }
                    // COPY ... DB n writes its destination in database n.
                    if let Kind::Multi(_, Multi::Copy) = cmd.kind {
                        if let Ok((dst_db, _)) = keys::copy_options(a, db, databases) {
                            add_lock(&mut locks, dst_db, a.get(2));
                        }
                    }
                    // A read spanning shards runs as its own fan-out, not a
                    // Batch: its keys are registered before EXEC runs.
                    if let (None, Some(t)) = (shard, track) {
                        if super::tracking::reads_keys(cmd) {
                            self.register_reads(t, cmd.keys_of(a).map(|i| a.get(i)));
                        }
                    }
                    match (shard, cmd.kind) {
                        (Some(s), _) => match batch.iter_mut().find(|(x, _)| *x == s) {
                            Some((_, list)) => list.push((pos, db, args)),
                            None => batch.push((s, vec![(pos, db, args)])),
                        },
                        (None, Kind::Multi(_, mk)) => {
                            if !batch.is_empty() {
                                steps.push(ExecStep::Batch(std::mem::take(&mut batch)));
                            }
                            match spanning_plan(mk, cmd, a, db, n, databases) {
                                Ok((p, _)) => steps.push(ExecStep::Plan(pos, p)),
                                Err(e) => replies[pos] = Some(error_bytes(&e, proto)),
                            }
                        }
                        (None, Kind::Keyed(f)) => {
                            if !batch.is_empty() {
                                steps.push(ExecStep::Batch(std::mem::take(&mut batch)));
                            }
                            let env = fanout::GatherEnv {
                                attempt: None,
                                waited: 0,
                                db,
                                databases,
                                now: self.now,
                                max_bulk: self.max_bulk,
                                nshards: n,
                                patterns_gathered: false,
                                script_retry: false,
                            };
                            let keys = super::distinct_keys(cmd, a);
                            steps.push(ExecStep::Plan(
                                pos,
                                fanout::gather(f, cmd.may_write(), args.clone(), keys, env),
                            ));
                        }
                        _ => {}
                    }
                }
                Kind::All(op) => {
                    if !batch.is_empty() {
                        steps.push(ExecStep::Batch(std::mem::take(&mut batch)));
                    }
                    // As outside MULTI (`AllOp::shard_lock`), every shard
                    // whole, here exclusively: this transaction may write.
                    if op.shard_lock().is_some() {
                        for s in 0..n {
                            let g = crate::tx::group_index(&mut locks, s, Vec::new);
                            locks[g].1.push(crate::tx::locks::WHOLE_SHARD);
                        }
                    }
                    match server_cmds::all_shards_plan(op, a, db, n, databases) {
                        Ok(p) => steps.push(ExecStep::Plan(pos, p)),
                        Err(e) => replies[pos] = Some(error_bytes(&e, proto)),
                    }
                }
                Kind::Conn(_) if matches!(cmd.name, "publish" | "spublish") => {
                    if !batch.is_empty() {
                        steps.push(ExecStep::Batch(std::mem::take(&mut batch)));
                    }
                    let op = ShardOp::Publish {
                        db,
                        channel: a.get(1).to_vec(),
                        message: a.get(2).to_vec(),
                        shard: cmd.name == "spublish",
                        // With writes, the coordinator replicates it.
                        replicated: writes,
                    };
                    let plan = Plan {
                        ops: vec![(self.id, op)],
                        barrier: false,
                        finish: Box::new(|results, r| {
                            r.int(crate::tx::fanout::sum_ints(&results));
                            Step::Done
                        }),
                    };
                    steps.push(ExecStep::Plan(pos, plan));
                }
                // In its place: run by the coordinator once the steps
                // before it are done (`conn_step`).
                Kind::Conn(_) => {
                    if !batch.is_empty() {
                        steps.push(ExecStep::Batch(std::mem::take(&mut batch)));
                    }
                    steps.push(ExecStep::Conn(pos, args));
                }
                Kind::Tx(_) => {}
            }
        }
        if !batch.is_empty() {
            steps.push(ExecStep::Batch(batch));
        }
        // No WATCH and nothing that fans out: one round trip.
        if checks.is_empty()
            && flag.is_none()
            && matches!(steps.as_slice(), [] | [ExecStep::Batch(_)])
        {
            let groups = match steps.pop() {
                Some(ExecStep::Batch(groups)) => groups,
                _ => Vec::new(),
            };
            let plan = multi::single_batch(groups, replies, multi::BatchCtx { proto, track });
            if writes {
                self.coordinated_write(|| replicate.unwrap_or_default(), true);
            }
            return self.start_tx_min(idx, plan, locks, 1);
        }
        let checks: Vec<(usize, ShardOp)> = checks
            .into_iter()
            .map(|(s, c)| (s, ShardOp::WatchExpired(c)))
            .collect();
        let plan = multi::chain(
            checks,
            steps,
            replies,
            flag,
            multi::BatchCtx { proto, track },
        );
        if writes {
            self.coordinated_write(|| replicate.unwrap_or_default(), true);
        }
        // Even one shard is locked here: the steps run in several hops.
        self.start_tx_min(idx, plan, locks, 1);
    }

    /// The connection command EXEC reached (`ExecStep::Conn`), run now for
    /// connection `idx`, the coordinator's.
    pub(super) fn conn_step(&mut self, idx: u32, args: &OwnedArgs) -> Result<Vec<u8>, Plan> {
        let a = args.args();
        match table::lookup(a.get(0)) {
            Some(cmd) => match cmd.kind {
                Kind::Conn(f) => {
                    self.now = crate::server::now_ms();
                    self.run_conn_captured(idx, cmd, f, a)
                }
                _ => Ok(b"-ERR internal: not a connection command\r\n".to_vec()),
            },
            None => Ok(b"-ERR internal: unknown command\r\n".to_vec()),
        }
    }

    /// Run a connection command now, for EXEC: its reply bytes, or the plan
    /// it asked for (INFO, CLIENT LIST...).
    pub(super) fn run_conn_captured(
        &mut self,
        idx: u32,
        cmd: &'static table::Command,
        f: table::ConnFn,
        a: Args,
    ) -> Result<Vec<u8>, Plan> {
        let shared = self.shared.clone();
        let (now, id) = (self.now, self.id);
        let Some(c) = self.conn_mut(idx) else {
            return Ok(Vec::new());
        };
        let proto = c.client.proto;
        let tok = super::token(idx, c.gen);
        let mut out = Vec::new();
        let mut ctx = ConnCtx {
            client: &mut c.client,
            shared: &shared,
            r: Reply::new(&mut out, proto),
            action: ConnAction::None,
            now,
            reactor: id,
            conn: tok,
        };
        // Timed as run outside MULTI: the slow log names the commands
        // EXEC ran, never EXEC itself (as Redis's). This mirrors
        // `run_conn`'s call on purpose: one helper shared by both cost
        // PING 3-6% more instructions (callgrind, -P16), inlined or not.
        let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
        f(&mut ctx, a);
        let usec = timed.map(crate::slowlog::elapsed_us);
        let action = std::mem::replace(&mut ctx.action, ConnAction::None);
        if let Some(us) = usec.filter(|&us| crate::slowlog::took(cmd, us)) {
            crate::slowlog::record(us, a, &c.client.addr, &c.client.name);
        }
        self.recount_special(idx);
        let Some(c) = self.conn_mut(idx) else {
            return Ok(Vec::new());
        };
        match action {
            ConnAction::Plan(mut p) => {
                for (_, op) in &mut p.ops {
                    if let ShardOp::MemoryUsage { in_tx, .. } = op {
                        *in_tx = true;
                    }
                }
                Err(p)
            }
            ConnAction::Close => {
                c.close_after_flush = true;
                Ok(out)
            }
            // Inside EXEC a client must get one reply per command, as
            // Redis's DENY_BLOCKING clients: no MONITOR.
            ConnAction::Monitor => {
                let mut out = Vec::new();
                crate::protocol::Reply::new(&mut out, proto)
                    .error("ERR MONITOR isn't allowed for DENY BLOCKING client");
                Ok(out)
            }
            // RESET is never queued (it ends the transaction instead), so
            // it cannot leave MONITOR mode from inside EXEC.
            // Inside EXEC nothing blocks: how many replicas have the
            // stream so far, as Redis answers a client that cannot block.
            ConnAction::Wait { .. } => {
                let primary = &self.shared.repl.primary;
                let n = primary.acked(primary.offset());
                let mut out = Vec::new();
                crate::protocol::Reply::new(&mut out, proto).int(n as i64);
                Ok(out)
            }
            ConnAction::Publish {
                channel,
                message,
                shard,
            } => {
                let db = c.client.db;
                let n = self.publish(db, &channel, &message, shard);
                let mut out = Vec::new();
                crate::protocol::Reply::new(&mut out, proto).int(n as i64);
                Ok(out)
            }
            ConnAction::Propagate(cmd) => {
                let db = c.client.db;
                if self.shared.repl.primary.active() {
                    self.repl_append(&[(db, cmd)], false);
                }
                Ok(out)
            }
            ConnAction::None | ConnAction::StopMonitor | ConnAction::Sync { .. } => Ok(out),
        }
    }
}

fn error_bytes(msg: &str, proto: crate::protocol::Proto) -> Vec<u8> {
    let mut v = Vec::new();
    Reply::new(&mut v, proto).error(msg);
    v
}

/// The fan-out of a multi-key command whose keys span shards.
pub(super) fn spanning_plan(
    m: Multi,
    cmd: &table::Command,
    a: Args,
    db: usize,
    n: usize,
    databases: usize,
) -> Result<(Plan, Option<fanout::Locks>), String> {
    let with_locks = |(p, l)| (p, Some(l));
    Ok(match m {
        Multi::MGet => with_locks(fanout::mget(db, a, n)),
        Multi::MSet | Multi::MSetNx if a.len().is_multiple_of(2) => {
            return Err(format!(
                "ERR wrong number of arguments for '{}' command",
                cmd.name
            ))
        }
        Multi::MSet => with_locks(fanout::mset(db, a, n)),
        Multi::MSetNx => with_locks(fanout::msetnx(db, a, n)),
        Multi::Del => with_locks(fanout::count(db, a, n, CountMode::Delete)),
        Multi::Exists => with_locks(fanout::count(db, a, n, CountMode::Look)),
        Multi::Touch => with_locks(fanout::count(db, a, n, CountMode::Touch)),
        Multi::Rename => (fanout::rename(db, a, n, false), None),
        Multi::RenameNx => (fanout::rename(db, a, n, true), None),
        Multi::Copy => match keys::copy_options(a, db, databases) {
            Ok((dst_db, replace)) => {
                // The destination's lock is in its own database (COPY ...
                // DB n): a lock on (db, dst) would not exclude writers of
                // (n, dst).
                let mut locks = Vec::with_capacity(2);
                add_lock(&mut locks, n, db, a.get(1));
                add_lock(&mut locks, n, dst_db, a.get(2));
                (fanout::copy(db, dst_db, a, n, replace), Some(locks))
            }
            Err(e) => return Err(e.to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::locks::lock_id;

    #[test]
    fn copy_to_another_database_locks_the_destination_there() {
        let cmd = table::lookup(b"copy").expect("COPY is in the table");
        let argv: Vec<&[u8]> = vec![b"copy", b"src", b"dst", b"db", b"3"];
        let buf: Vec<u8> = argv.concat();
        let mut ranges = Vec::new();
        let mut at = 0;
        for x in &argv {
            ranges.push(at..at + x.len());
            at += x.len();
        }
        let a = Args::from_parts(&buf, &ranges);
        let Ok((_, Some(locks))) = spanning_plan(Multi::Copy, cmd, a, 0, 4, 16) else {
            panic!("COPY across shards plans with its own locks");
        };
        let ids: Vec<u64> = locks.into_iter().flat_map(|(_, l)| l).collect();
        assert!(ids.contains(&lock_id(0, b"src")));
        assert!(
            ids.contains(&lock_id(3, b"dst")),
            "destination locked in db 3"
        );
        assert!(!ids.contains(&lock_id(0, b"dst")));
    }
}
