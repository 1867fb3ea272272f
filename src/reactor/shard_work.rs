//! The shard side of cross-shard work: commands and operations other
//! reactors (or this one's coordinators) ask of this reactor's shard.

use super::inbox::MAILBOX_KEEP_BYTES;
use super::{blocking, Reactor};
use crate::commands::ctx::Ctx;
use crate::commands::keys;
use crate::commands::table::{self, Command, Kind, WatchTouch};
use crate::protocol::{Args, Reply};
use crate::shard::slot::key_shard;
use crate::shard::Shard;
use crate::tx::locks::{lock_id, LockSet, ReplyTo};
use crate::tx::ops::CountMode;
use crate::tx::{OpResult, OwnedArgs, RemoteCmd, ShardOp};

impl Reactor {
    /// Run one keyed command on this shard, returning its reply.
    fn run_on_shard(&mut self, db: usize, proto: crate::protocol::Proto, a: Args) -> Vec<u8> {
        // Most replies are short (an integer, a small bulk): room for them
        // up front saves the two or three reallocations of growing from 0.
        let mut out = Vec::with_capacity(32);
        self.run_on_shard_into(db, proto, table::lookup(a.get(0)), a, &mut out);
        out
    }

    /// A `Msg::Cmd` from another reactor, with its arguments `a`: run it
    /// (or park it behind a transaction holding its keys) and queue its
    /// reply to that reactor.
    pub(super) fn run_cmd_for(&mut self, m: &RemoteCmd, a: Args) {
        let RemoteCmd {
            from,
            conn,
            slot,
            db,
            proto,
            cmd,
            ..
        } = *m;
        if db >= self.shard.dbs.len() {
            // Cannot happen (SELECT checks the index), but the origin's
            // slot must be answered, never left waiting.
            if let Some(ob) = self.outbox.get_mut(from) {
                ob.push_reply(conn, slot, b"-ERR DB index is out of range\r\n");
            }
            return;
        }
        if !self.shard.locks.is_idle() {
            let keys: LockSet = cmd.keys_of(a).map(|i| lock_id(db, a.get(i))).collect();
            if self.shard.locks.blocked(&keys) {
                let op = ShardOp::Exec {
                    db,
                    proto,
                    args: OwnedArgs::from_args(a),
                };
                let reply = ReplyTo {
                    from,
                    conn,
                    slot,
                    part: 0,
                };
                return self.shard.locks.park(keys, op, reply);
            }
        }
        let mut out = std::mem::take(&mut self.remote_out);
        out.clear();
        if cmd.script {
            crate::scripting::allow_retry(true);
        }
        // Its changes are the requester's (CLIENT TRACKING NOLOOP).
        let tracked = crate::tracking::any();
        let before = if tracked {
            crate::tracking::set_by(Some((from, conn)))
        } else {
            None
        };
        let timed = crate::slowlog::times(cmd).then(std::time::Instant::now);
        self.run_on_shard_into(db, proto, Some(cmd), a, &mut out);
        let usec = timed.map(crate::slowlog::elapsed_us);
        if let Some(us) = usec.filter(|&us| crate::slowlog::took(cmd, us)) {
            // Its client lives on another reactor: no address or name here.
            crate::slowlog::record(us, a, "", b"");
        }
        if tracked {
            crate::tracking::set_by(before);
        }
        crate::scripting::allow_retry(false);
        let failed = out.first() == Some(&b'-');
        if failed || usec.is_some() {
            self.counters.ran(table::stat_index(cmd, a), failed, usec);
        }
        if let Some(ob) = self.outbox.get_mut(from) {
            ob.push_reply(conn, slot, &out);
        }
        // Kept for the next reply, unless one big reply (a GET of a large
        // value) grew it: that room would stay allocated, and counted
        // against maxmemory, for good.
        if out.capacity() <= MAILBOX_KEEP_BYTES {
            self.remote_out = out;
        }
    }

    fn run_on_shard_into(
        &mut self,
        db: usize,
        proto: crate::protocol::Proto,
        cmd: Option<&'static table::Command>,
        a: Args,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        if cmd.is_some_and(|c| c.script) {
            let oom = self.shared.memory.maxmemory() != 0 && self.over_maxmemory();
            crate::scripting::engine::set_oom(oom);
        }
        let mut ctx = Ctx {
            shard: &mut self.shard,
            db,
            now: self.now,
            r: Reply::new(out, proto),
            max_bulk: self.max_bulk,
        };
        match cmd.map(|c| c.kind) {
            Some(Kind::Keyed(f)) | Some(Kind::Multi(f, _)) => f(&mut ctx, a),
            // DEBUG OBJECT / DIGEST-VALUE: connection commands routed by key.
            _ if a.len() >= 3 && a.get(1).eq_ignore_ascii_case(b"digest-value") => {
                keys::debug_digest(&mut ctx, a.get(2))
            }
            _ if a.len() >= 3 => keys::debug_object(&mut ctx, a.get(2)),
            _ => ctx.r.error("ERR internal routing error"),
        }
        if self.shared.repl.primary.active() {
            if let Some(cmd) = cmd {
                let reply = out[start..].to_vec();
                self.replicate(cmd, db, a, &reply);
            }
        }
        if cmd.is_some_and(|c| c.script) {
            self.script_done();
        }
        if let Some(cmd) =
            cmd.filter(|c| c.is_write() && out.len() > start && out.get(start) != Some(&b'-'))
        {
            let unchanged = self.shard.dbs.get(db).is_some_and(|d| d.signals_changes())
                && changed_nothing(cmd, &out[start..]);
            touch_written(&mut self.shard, cmd, db, a, unchanged);
            self.signal_written(cmd, db, a);
        }
    }

    /// Run an operation another reactor (or this one) asked of this shard.
    pub(crate) fn exec_op(&mut self, op: ShardOp) -> OpResult {
        let r = self.exec_op_inner(op);
        // Deletions by expiry during it are appended now, ahead of the
        // coordinator's append of the writes it is part of.
        self.replicate_deletions();
        // Its keyspace events go out ahead of its result, as they would
        // ahead of a command's reply: a transaction's later steps (a
        // PUBLISH queued after the writes) are heard after them.
        if crate::notify::pending() {
            self.publish_events();
        }
        r
    }

    fn exec_op_inner(&mut self, op: ShardOp) -> OpResult {
        let now = self.now;
        let shard = &mut self.shard;
        match op {
            // Only ever reached through `exec_or_park`, which takes locks.
            ShardOp::Lock { .. } | ShardOp::LockRun { .. } => OpResult::Unit,
            ShardOp::RunUnlock { txid, op } => {
                let r = self.exec_op(*op);
                self.unlock(txid);
                r
            }
            ShardOp::Watch { db, keys, flag } => {
                for k in keys.args().iter() {
                    self.shard.dbs[db].watch(k, flag.clone(), now);
                }
                OpResult::Unit
            }
            ShardOp::WatchExpired(w) => OpResult::Bool(w.failed(&self.shard.dbs, now)),
            ShardOp::TrimTracking => {
                crate::tracking::enforce_max_keys();
                self.send_pending_invalidations();
                OpResult::Unit
            }
            ShardOp::Evict => {
                self.evict_for_peer();
                OpResult::Unit
            }
            ShardOp::Seq(ops) => OpResult::Seq(ops.into_iter().map(|o| self.exec_op(o)).collect()),
            ShardOp::Batch {
                proto,
                cmds,
                watch,
                in_tx,
                track,
            } => {
                if watch.is_some_and(|w| w.failed(&self.shard.dbs, now)) {
                    return OpResult::Bool(false);
                }
                self.replicate_batch(in_tx, |r| {
                    let mut replies = Vec::with_capacity(cmds.len());
                    for (db, args) in cmds {
                        let a = args.args();
                        let cmd = table::lookup(a.get(0));
                        let mut out = Vec::with_capacity(32);
                        let timed = cmd
                            .is_some_and(crate::slowlog::times)
                            .then(std::time::Instant::now);
                        r.run_on_shard_into(db, proto, cmd, a, &mut out);
                        let usec = timed.map(crate::slowlog::elapsed_us);
                        if let Some(cmd) = cmd {
                            crate::callstats::record(cmd, a, out.first() == Some(&b'-'));
                            if let Some(us) = usec.filter(|&us| crate::slowlog::took(cmd, us)) {
                                // The client may live on another reactor:
                                // no address or name here.
                                crate::slowlog::record(us, a, "", b"");
                            }
                        }
                        blocking::nil_if_blocked(cmd, &mut out, proto);
                        if let (Some(t), Some(cmd)) = (track, cmd) {
                            if super::tracking::reads_keys(cmd) {
                                for i in cmd.keys_of(a) {
                                    crate::tracking::remember(a.get(i), t);
                                }
                            }
                        }
                        replies.push(out);
                    }
                    OpResult::Replies(replies)
                })
            }
            ShardOp::Exec { db, proto, args } => {
                // A parked command's reply goes to a `Slot::Remote`, which
                // takes a script's RETRY (see `deliver`).
                crate::scripting::allow_retry(true);
                let out = self.run_on_shard(db, proto, args.args());
                crate::scripting::allow_retry(false);
                OpResult::Reply(out)
            }
            ShardOp::Attempt {
                db,
                proto,
                args,
                attempt,
            } => {
                self.shard.attempt = Some(attempt);
                let out = self.run_on_shard(db, proto, args.args());
                self.shard.attempt = None;
                OpResult::Reply(out)
            }
            ShardOp::MGet { db, keys } => {
                let d = &mut shard.dbs[db];
                d.prefetch_keys(keys.args().iter());
                let mut buf = Vec::new();
                let mut items = Vec::with_capacity(keys.len());
                for k in keys.args().iter() {
                    items.push(match d.get(k, now, &mut shard.stats).map(|e| &e.value) {
                        Some(crate::types::Value::Str(s)) => {
                            let st = buf.len();
                            s.with_bytes(|b| buf.extend_from_slice(b));
                            Some(st..buf.len())
                        }
                        // MGET answers nil for keys of other types.
                        _ => None,
                    });
                }
                OpResult::Values(buf, items)
            }
            ShardOp::MSet { db, pairs } => {
                let a = pairs.args();
                shard.dbs[db].prefetch_keys(a.iter().step_by(2));
                for i in (0..a.len().saturating_sub(1)).step_by(2) {
                    let v =
                        crate::types::Value::Str(crate::types::StrVal::from_bytes(a.get(i + 1)));
                    shard.dbs[db].set(a.get(i), v, 0);
                    crate::notify::notify(crate::notify::STRING, "set", db, a.get(i));
                }
                OpResult::Spent(pairs)
            }
            ShardOp::AnyExists { db, keys } => OpResult::Bool(
                keys.args()
                    .iter()
                    .any(|k| shard.dbs[db].contains(k, now, &mut shard.stats)),
            ),
            ShardOp::Count { db, keys, mode } => {
                let mut n = 0;
                for k in keys.args().iter() {
                    n += i64::from(count_key(shard, db, k, mode, now));
                }
                OpResult::Int(n)
            }
            ShardOp::CountEach { db, keys, mode } => OpResult::Found(
                keys.args()
                    .iter()
                    .map(|k| count_key(shard, db, k, mode, now))
                    .collect(),
            ),
            ShardOp::Take {
                db,
                key,
                delete,
                behind,
            } => {
                if let Some(w) = behind {
                    let lk = crate::shard::dbkey::db_key(db, &key);
                    if shard.first_servable(&lk).is_some_and(|first| first != w) {
                        return OpResult::Taken(None);
                    }
                }
                let d = &mut shard.dbs[db];
                if d.get(&key, now, &mut shard.stats).is_none() {
                    return OpResult::Taken(None);
                }
                if delete {
                    OpResult::Taken(d.remove(&key).map(|e| (e.value, e.expire_at)))
                } else {
                    OpResult::Taken(
                        d.get(&key, now, &mut shard.stats)
                            .map(|e| (e.value.deep_clone(), e.expire_at)),
                    )
                }
            }
            ShardOp::Put {
                db,
                key,
                value,
                expire_at,
                nx,
            } => {
                let d = &mut shard.dbs[db];
                if nx && d.contains(&key, now, &mut shard.stats) {
                    return OpResult::Bool(false);
                }
                d.set(&key, value, expire_at);
                self.signal_key(db, &key);
                OpResult::Bool(true)
            }
            ShardOp::DbSize { db } => OpResult::Int(shard.dbs[db].len() as i64),
            ShardOp::Populate {
                db,
                count,
                prefix,
                size,
            } => {
                let (n, me) = (self.shared.nshards, self.id);
                let mut key = prefix;
                let stem = key.len();
                key.push(b':');
                let mut num = itoa::Buffer::new();
                for j in 0..count {
                    key.truncate(stem + 1);
                    key.extend_from_slice(num.format(j).as_bytes());
                    if key_shard(&key, n) != me {
                        continue;
                    }
                    let d = &mut self.shard.dbs[db];
                    if d.contains(&key, now, &mut self.shard.stats) {
                        continue;
                    }
                    // "value:N", or exactly `size` bytes of it, zero-padded.
                    let mut v = format!("value:{j}").into_bytes();
                    if let Some(size) = size {
                        v.resize(size, 0);
                    }
                    d.set(
                        &key,
                        crate::types::Value::Str(crate::types::StrVal::string(&v)),
                        0,
                    );
                }
                OpResult::Unit
            }
            ShardOp::MemoryUsage { db, proto, key, .. } => {
                let mut out = Vec::new();
                let mut ctx = Ctx {
                    shard,
                    db,
                    now,
                    r: Reply::new(&mut out, proto),
                    max_bulk: self.max_bulk,
                };
                crate::commands::memory::usage(&mut ctx, &key);
                OpResult::Reply(out)
            }
            ShardOp::Digest => {
                OpResult::Reply(crate::types::digest::dataset_digest(&shard.dbs, now).to_vec())
            }
            ShardOp::Reload => {
                for db in shard.dbs.iter_mut() {
                    reload_db(db, now);
                }
                OpResult::Unit
            }
            ShardOp::Keys { db, pattern } => {
                let all = pattern == b"*";
                let keys = shard.dbs[db]
                    .iter()
                    .filter(|(k, e)| {
                        (e.expire_at == 0 || e.expire_at > now)
                            && (all || crate::shard::pattern::glob_match(&pattern, k, false))
                    })
                    .map(|(k, _)| k.to_vec())
                    .collect();
                OpResult::Keys(keys)
            }
            ShardOp::Scan {
                db,
                pos,
                count,
                pattern,
                type_,
            } => {
                let mut keys = Vec::new();
                let pos = shard.dbs[db].scan(pos, count, now, &mut shard.stats, |k, e| {
                    if let Some(p) = &pattern {
                        if !crate::shard::pattern::glob_match(p, k, false) {
                            return;
                        }
                    }
                    if let Some(t) = &type_ {
                        if !t.eq_ignore_ascii_case(e.value.type_name().as_bytes()) {
                            return;
                        }
                    }
                    keys.push(k.to_vec());
                });
                OpResult::Scan { pos, keys }
            }
            ShardOp::RandomKey { db } => {
                OpResult::Key(shard.dbs[db].random_key(now, &mut shard.stats))
            }
            ShardOp::Flush { db } => {
                match db {
                    Some(d) => shard.dbs[d].clear(),
                    None => shard.dbs.iter_mut().for_each(|d| d.clear()),
                }
                self.invalidate_on_flush();
                OpResult::Unit
            }
            ShardOp::SwapDb { a, b } => {
                if a != b {
                    let (lo, hi) = (a.min(b), a.max(b));
                    let (left, right) = shard.dbs.split_at_mut(hi);
                    let (x, y) = (&mut left[lo], &mut right[0]);
                    x.touch_swapped(y, now);
                    y.touch_swapped(x, now);
                    shard.dbs.swap(a, b);
                    shard.dbs[a].id = a;
                    shard.dbs[b].id = b;
                    let (left, right) = shard.dbs.split_at_mut(hi);
                    left[lo].swap_watches(&mut right[0]);
                    // Clients blocked on a key of either database may now
                    // find data there (Redis's scanDatabaseForReadyKeys).
                    self.signal_dbs(&[a, b]);
                }
                OpResult::Unit
            }
            ShardOp::Stats => OpResult::Stats(Box::new(self.stats())),
            ShardOp::Publish {
                db,
                channel,
                message,
                shard,
                replicated,
            } => {
                let n = if replicated {
                    self.deliver_publish(&channel, &message, shard)
                } else {
                    self.publish(db, &channel, &message, shard)
                };
                OpResult::Int(n as i64)
            }
            ShardOp::ResetStats => {
                self.reset_stats();
                OpResult::Unit
            }
            ShardOp::Snapshot => self.snapshot(),
            ShardOp::ClientList { id_filter } => {
                let mut s = String::new();
                for c in self.conns.iter().flatten() {
                    if c.closing {
                        continue;
                    }
                    if let Some(ids) = &id_filter {
                        if !ids.contains(&c.client.id) {
                            continue;
                        }
                    }
                    s.push_str(&c.client.info_line(
                        now,
                        c.inbuf.len(),
                        c.out.len(),
                        c.blocked.is_some(),
                    ));
                    s.push('\n');
                }
                OpResult::Text(s)
            }
            ShardOp::ClientKill { filter } => {
                let mut killed = Vec::new();
                let mut count = 0;
                for (i, c) in self.conns.iter_mut().enumerate() {
                    let Some(c) = c.as_mut().filter(|c| !c.closing) else {
                        continue;
                    };
                    if !filter.matches(c.client.id, &c.client.addr, &c.client.laddr) {
                        continue;
                    }
                    count += 1;
                    if c.client.id == filter.requester {
                        // Its reply first, as Redis's CLOSE_AFTER_REPLY.
                        c.close_after_flush = true;
                    } else {
                        killed.push(i as u32);
                    }
                }
                for i in killed {
                    self.close(i);
                }
                OpResult::Int(count)
            }
            ShardOp::ClientUnblock { id, error } => {
                OpResult::Int(self.client_unblock(id, error) as i64)
            }
            ShardOp::UnblockAll => OpResult::Int(self.unblock_all()),
        }
    }
}

/// DEBUG RELOAD on one database: each value through its serialized form
/// and back (so encodings are those a load chooses), TTLs kept, keys
/// already expired dropped (as loading a snapshot as a master does).
fn reload_db(db: &mut crate::shard::Db, now: u64) {
    let keys: Vec<Vec<u8>> = db.iter().map(|(k, _)| k.to_vec()).collect();
    for k in keys {
        let Some(e) = db.peek(&k) else { continue };
        if e.expire_at != 0 && e.expire_at <= now {
            db.remove(&k);
            continue;
        }
        let payload = crate::rdb::dump(&e.value);
        if let Ok(v) = crate::rdb::restore(&payload) {
            db.set_keep_ttl(&k, v);
        }
    }
}

/// One key of DEL/UNLINK/EXISTS/TOUCH: is it there (and, deleting, gone now)?
#[inline]
fn count_key(shard: &mut Shard, db: usize, k: &[u8], mode: CountMode, now: u64) -> bool {
    let Some(d) = shard.dbs.get_mut(db) else {
        return false;
    };
    let found = match mode {
        CountMode::Touch => d.get(k, now, &mut shard.stats).is_some(),
        CountMode::Look | CountMode::Delete | CountMode::Drop => {
            d.contains(k, now, &mut shard.stats)
        }
    };
    if found && matches!(mode, CountMode::Delete | CountMode::Drop) {
        d.remove(k);
        if mode == CountMode::Delete {
            crate::notify::notify(crate::notify::GENERIC, "del", db, k);
        }
    }
    found
}

/// `touch_written` for a write a script ran (`reply`: its reply).
pub fn touch_written_by(shard: &mut Shard, cmd: &Command, db: usize, a: Args, reply: &[u8]) {
    let unchanged = shard.dbs[db].signals_changes() && changed_nothing(cmd, reply);
    touch_written(shard, cmd, db, a, unchanged);
}

/// After a successful write command that may change values in place
/// (INCR, APPEND, HSET...): WATCHers of its keys must see the change.
/// `unchanged`: its reply shows it changed nothing (`changed_nothing`).
pub(super) fn touch_written(shard: &mut Shard, cmd: &Command, db: usize, a: Args, unchanged: bool) {
    if cmd.is_write()
        && !unchanged
        && shard.dbs[db].signals_changes()
        && cmd.watch != WatchTouch::Precise
    {
        for i in cmd.keys_of(a) {
            shard.dbs[db].touch(a.get(i));
        }
    }
}

/// Whether a write command's reply shows it changed nothing, for the
/// commands whose replies tell (`Command::watch`). A blocking pop's
/// attempt that found nothing wrote no reply at all.
pub(super) fn changed_nothing(cmd: &Command, reply: &[u8]) -> bool {
    match reply {
        [] => true,
        // LINSERT answers -1 when the pivot was not found.
        b":0\r\n" | b":-1\r\n" => cmd.watch == WatchTouch::UnlessZero,
        b"$-1\r\n" | b"*-1\r\n" | b"_\r\n" | b"*0\r\n" | b"~0\r\n" => {
            cmd.watch == WatchTouch::UnlessNone
        }
        _ => false,
    }
}
