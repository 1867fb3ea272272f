//! The reactor core: connections, command dispatch, cross-shard messages.
//! It is driven by an I/O driver (`io::uring`) that tells it what arrived and
//! asks it what to send; it knows nothing of command semantics beyond the
//! table's routing information.

pub mod client;
pub mod conn;
pub mod mailbox;

use crate::commands::conn::{ConnAction, ConnCtx};
use crate::commands::ctx::Ctx;
use crate::commands::table::{self, AllOp, Command, Kind, Multi};
use crate::commands::{keys, server as server_cmds};
use crate::protocol::parser::Parsed;
use crate::protocol::{Args, Parser, Reply};
use crate::server::{now_ms, Shared};
use crate::shard::slot::key_shard;
use crate::shard::Shard;
use crate::tx::fanout::{self, Plan};
use crate::tx::ops::ShardStats;
use crate::tx::{Coord, Msg, OpResult, OwnedArgs, Request, Response, ShardOp, Token};
use client::Client;
use conn::{Conn, Slot};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Redis's client-query-buffer-limit default: a client that sends more
/// unparsed input than this is disconnected.
const QUERY_BUFFER_LIMIT: usize = 1 << 30;

#[derive(Default)]
pub struct Counters {
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub total_commands: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// (calls, rejected calls) per command-table index.
    pub cmd_calls: Vec<(u64, u64)>,
}

pub struct Reactor {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub shard: Shard,
    conns: Vec<Option<Conn>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    outbox: Vec<std::collections::VecDeque<Msg>>,
    parser: Parser,
    /// Connections with output to send (the driver drains this).
    pub dirty: Vec<u32>,
    /// Connections to close once their I/O is quiet (the driver drains this).
    pub to_close: Vec<u32>,
    pub counters: Counters,
    pub now: u64,
    pub max_bulk: usize,
}

pub fn token(idx: u32, gen: u32) -> Token {
    ((gen as u64 & 0xFF_FFFF) << 32) | idx as u64
}

pub fn token_parts(t: Token) -> (u32, u32) {
    (t as u32, ((t >> 32) & 0xFF_FFFF) as u32)
}

impl Reactor {
    pub fn new(id: usize, shared: Arc<Shared>) -> Reactor {
        let (databases, max_bulk) = {
            let c = shared.config();
            (c.databases, c.proto_max_bulk_len)
        };
        let n = shared.nshards;
        Reactor {
            id,
            shard: Shard::new(id, databases),
            shared,
            conns: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            outbox: (0..n).map(|_| Default::default()).collect(),
            parser: Parser::new(max_bulk),
            dirty: Vec::new(),
            to_close: Vec::new(),
            counters: Counters {
                cmd_calls: vec![(0, 0); table::COMMANDS.len()],
                ..Default::default()
            },
            now: now_ms(),
            max_bulk,
        }
    }

    pub fn conn(&self, idx: u32) -> Option<&Conn> {
        self.conns.get(idx as usize).and_then(|c| c.as_ref())
    }

    pub fn conn_mut(&mut self, idx: u32) -> Option<&mut Conn> {
        self.conns.get_mut(idx as usize).and_then(|c| c.as_mut())
    }

    fn conn_by_token(&mut self, t: Token) -> Option<(u32, &mut Conn)> {
        let (idx, gen) = token_parts(t);
        match self.conns.get_mut(idx as usize) {
            Some(Some(c)) if c.gen & 0xFF_FFFF == gen && !c.closing => Some((idx, c)),
            _ => None,
        }
    }

    /// A new connection from the listener. Returns its slab index, or None
    /// if it was refused (maxclients): the refusal is written to the socket
    /// and the fd closed here.
    pub fn accept(&mut self, fd: i32) -> Option<u32> {
        let (maxclients, requirepass) = {
            let c = self.shared.config();
            (c.maxclients, !c.requirepass.is_empty())
        };
        if self.shared.clients.fetch_add(1, Ordering::Relaxed) >= maxclients {
            self.shared.clients.fetch_sub(1, Ordering::Relaxed);
            self.counters.rejected_connections += 1;
            let msg = b"-ERR max number of clients reached\r\n";
            // SAFETY: writing a static buffer to a socket we own, then closing it.
            unsafe {
                libc::write(fd, msg.as_ptr() as *const libc::c_void, msg.len());
                libc::close(fd);
            }
            return None;
        }
        set_nodelay(fd);
        self.counters.total_connections += 1;
        let id = self.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let (addr, laddr) = (sock_name(fd, true), sock_name(fd, false));
        let client = Client::new(id, fd, addr, laddr, !requirepass, self.now);
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.gens.push(0);
                (self.conns.len() - 1) as u32
            }
        };
        self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
        self.conns[idx as usize] = Some(Conn::new(fd, self.gens[idx as usize], client));
        Some(idx)
    }

    pub fn token_of(&self, idx: u32) -> Token {
        token(idx, self.gens.get(idx as usize).copied().unwrap_or(0))
    }

    /// Free a connection whose I/O has fully completed.
    pub fn release(&mut self, idx: u32) {
        if let Some(slot) = self.conns.get_mut(idx as usize) {
            if let Some(c) = slot.take() {
                // SAFETY: the driver only releases once no operation on fd is in flight.
                unsafe { libc::close(c.fd) };
                self.shared.clients.fetch_sub(1, Ordering::Relaxed);
                self.free.push(idx);
            }
        }
    }

    /// Mark for closing; the driver cancels its I/O and calls `release`.
    pub fn close(&mut self, idx: u32) {
        if let Some(c) = self.conn_mut(idx) {
            if !c.closing {
                c.closing = true;
                self.to_close.push(idx);
            }
        }
    }

    fn mark_dirty(&mut self, idx: u32) {
        if let Some(c) = self.conn_mut(idx) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(idx);
            }
        }
    }

    /// Bytes received on a connection.
    pub fn on_recv(&mut self, idx: u32, data: &[u8]) {
        self.counters.net_input_bytes += data.len() as u64;
        let Some(c) = self.conn_mut(idx) else { return };
        if c.closing {
            return;
        }
        if c.inbuf.is_empty() {
            // Fast path: parse straight from the receive buffer.
            let used = self.process(idx, data);
            if used < data.len() {
                if let Some(c) = self.conn_mut(idx) {
                    c.inbuf.extend_from_slice(&data[used..]);
                }
            }
        } else {
            c.inbuf.extend_from_slice(data);
            self.resume(idx);
        }
        if let Some(c) = self.conn(idx) {
            if c.inbuf.len() > QUERY_BUFFER_LIMIT {
                log::warn!("closing client {}: query buffer limit reached", c.client.id);
                self.close(idx);
            }
        }
        self.mark_dirty(idx);
    }

    /// Re-run buffered input (after more data, or after a pause ended).
    fn resume(&mut self, idx: u32) {
        let Some(c) = self.conn_mut(idx) else { return };
        let buf = std::mem::take(&mut c.inbuf);
        let used = self.process(idx, &buf);
        if let Some(c) = self.conn_mut(idx) {
            let mut buf = buf;
            buf.drain(..used);
            // Anything appended meanwhile cannot exist: processing is synchronous.
            c.inbuf = buf;
        }
    }

    /// Parse and run as many commands as allowed; returns bytes consumed.
    fn process(&mut self, idx: u32, data: &[u8]) -> usize {
        let mut parser = std::mem::take(&mut self.parser);
        let mut off = 0;
        self.now = now_ms();
        while off < data.len() {
            match self.conn(idx) {
                Some(c) if c.can_process() => {}
                _ => break,
            }
            match parser.parse(&data[off..]) {
                Parsed::Command { consumed } => {
                    let args = parser.args(&data[off..]);
                    off += consumed;
                    if !args.is_empty() {
                        self.dispatch(idx, args);
                    }
                }
                Parsed::Incomplete { hint } => {
                    if let Some(c) = self.conn_mut(idx) {
                        if hint > c.inbuf.capacity() {
                            c.inbuf.reserve(hint - c.inbuf.len());
                        }
                    }
                    break;
                }
                Parsed::Error(e) => {
                    if let Some(c) = self.conn_mut(idx) {
                        let proto = c.client.proto;
                        Reply::new(c.reply_buf(), proto).error(&format!("ERR {e}"));
                        c.close_after_flush = true;
                    }
                    off = data.len();
                    break;
                }
            }
        }
        self.parser = parser;
        off
    }

    fn dispatch(&mut self, idx: u32, args: Args) {
        self.counters.total_commands += 1;
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let proto = c.client.proto;
        let Some(cmd) = table::lookup(args.get(0)) else {
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
            return Reply::new(c.reply_buf(), proto).error(&msg);
        };
        c.client.last_cmd = cmd.name;
        c.client.last_interaction_ms = self.now;
        let stat = table::index_of(cmd);
        if !cmd.arity_ok(args.len()) {
            self.counters.cmd_calls[stat].1 += 1;
            let msg = format!("ERR wrong number of arguments for '{}' command", cmd.name);
            return Reply::new(c.reply_buf(), proto).error(&msg);
        }
        if !c.client.authed && !cmd.flags.contains(&"no_auth") {
            self.counters.cmd_calls[stat].1 += 1;
            return Reply::new(c.reply_buf(), proto).error("NOAUTH Authentication required.");
        }
        self.counters.cmd_calls[stat].0 += 1;
        match cmd.kind {
            Kind::Conn(f) => self.run_conn(idx, f, args),
            Kind::Keyed(f) => self.run_keyed(idx, cmd, f, None, args),
            Kind::Multi(f, m) => self.run_keyed(idx, cmd, f, Some(m), args),
            Kind::All(op) => self.run_all(idx, op, args),
        }
    }

    fn run_keyed(
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
        if n > 1 {
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
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let db = c.client.db;
        let proto = c.client.proto;
        if spans {
            if let Some(m) = multi {
                let plan = match m {
                    Multi::MGet => fanout::mget(db, args, n),
                    Multi::MSet | Multi::MSetNx if args.len().is_multiple_of(2) => {
                        let msg =
                            format!("ERR wrong number of arguments for '{}' command", cmd.name);
                        return Reply::new(c.reply_buf(), proto).error(&msg);
                    }
                    Multi::MSet => fanout::mset(db, args, n),
                    Multi::MSetNx => fanout::msetnx(db, args, n),
                    Multi::Del => fanout::count(db, args, n, true),
                    Multi::Exists => fanout::count(db, args, n, false),
                    Multi::Rename => fanout::rename(db, args, n, false),
                    Multi::RenameNx => fanout::rename(db, args, n, true),
                    Multi::Copy => {
                        let dbs = self.shard.dbs.len();
                        match keys::copy_options(args, db, dbs) {
                            Ok((dst_db, replace)) => fanout::copy(db, dst_db, args, n, replace),
                            Err(e) => return Reply::new(c.reply_buf(), proto).error(e),
                        }
                    }
                };
                return self.start_plan(idx, plan);
            }
        }
        if spans {
            return Reply::new(c.reply_buf(), proto)
                .error("CROSSSLOT Keys in request don't hash to the same slot");
        }
        let target = target.unwrap_or(self.id);
        if target == self.id {
            let mut ctx = Ctx {
                shard: &mut self.shard,
                db,
                now: self.now,
                r: Reply::new(c.reply_buf(), proto),
                max_bulk: self.max_bulk,
            };
            f(&mut ctx, args);
        } else {
            let op = ShardOp::Exec {
                db,
                proto,
                args: OwnedArgs::from_args(args),
            };
            let slot = c.push_wait(Coord::new(1, raw_finish()));
            let tok = token(idx, c.gen);
            self.send_req(target, tok, slot, 0, op);
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
        self.start_plan(idx, plan);
    }

    fn run_conn(&mut self, idx: u32, f: table::ConnFn, args: Args) {
        let shared = self.shared.clone();
        let now = self.now;
        let id = self.id;
        let Some(c) = self.conns.get_mut(idx as usize).and_then(|c| c.as_mut()) else {
            return;
        };
        let proto = c.client.proto;
        let mut out = std::mem::take(c.reply_buf());
        let mut ctx = ConnCtx {
            client: &mut c.client,
            shared: &shared,
            r: Reply::new(&mut out, proto),
            action: ConnAction::None,
            now,
            reactor: id,
        };
        f(&mut ctx, args);
        let action = std::mem::replace(&mut ctx.action, ConnAction::None);
        *c.reply_buf() = out;
        match action {
            ConnAction::None => {}
            ConnAction::Close => c.close_after_flush = true,
            ConnAction::Plan(p) => self.start_plan(idx, p),
        }
    }

    fn start_plan(&mut self, idx: u32, plan: Plan) {
        let Plan {
            ops,
            finish,
            barrier,
        } = plan;
        let Some(c) = self.conn_mut(idx) else { return };
        let mut coord = Coord::new(ops.len(), finish);
        coord.barrier = barrier;
        let slot = c.push_wait(coord);
        let tok = token(idx, c.gen);
        self.dispatch_ops(tok, slot, ops);
    }

    fn dispatch_ops(&mut self, tok: Token, slot: u64, ops: Vec<(usize, ShardOp)>) {
        if ops.is_empty() {
            return self.deliver(tok, slot, u32::MAX, OpResult::Unit);
        }
        for (part, (shard, op)) in ops.into_iter().enumerate() {
            if shard == self.id {
                let r = self.exec_op(op);
                self.deliver(tok, slot, part as u32, r);
            } else {
                self.send_req(shard, tok, slot, part as u32, op);
            }
        }
    }

    fn send_req(&mut self, shard: usize, conn: Token, slot: u64, part: u32, op: ShardOp) {
        let from = self.id;
        self.outbox[shard].push_back(Msg::Req(Box::new(Request {
            from,
            conn,
            slot,
            part,
            op,
        })));
    }

    /// A part of a coordinated command finished (locally or remotely).
    fn deliver(&mut self, tok: Token, slot: u64, part: u32, r: OpResult) {
        let Some((idx, c)) = self.conn_by_token(tok) else {
            return;
        };
        let proto = c.client.proto;
        let Some(Slot::Wait(coord)) = c.slot_mut(slot) else {
            return;
        };
        let all_in = part == u32::MAX || coord.record(part, r);
        if !all_in {
            return;
        }
        let barrier = coord.barrier;
        let mut out = Vec::new();
        match coord.complete(&mut out, proto) {
            Some(ops) => self.dispatch_ops(tok, slot, ops),
            None => {
                if let Some(s) = c.slot_mut(slot) {
                    *s = Slot::Ready(out);
                }
                if barrier {
                    c.barriers -= 1;
                }
                c.drain_ready();
                let resume = !c.inbuf.is_empty() && c.can_process();
                self.mark_dirty(idx);
                if resume {
                    self.resume(idx);
                }
            }
        }
    }

    /// Run an operation another reactor (or this one) asked of this shard.
    fn exec_op(&mut self, op: ShardOp) -> OpResult {
        let now = self.now;
        let shard = &mut self.shard;
        match op {
            ShardOp::Exec { db, proto, args } => {
                let a = args.args();
                let mut out = Vec::new();
                let mut ctx = Ctx {
                    shard,
                    db,
                    now,
                    r: Reply::new(&mut out, proto),
                    max_bulk: self.max_bulk,
                };
                match table::lookup(a.get(0)).map(|c| c.kind) {
                    Some(Kind::Keyed(f)) | Some(Kind::Multi(f, _)) => f(&mut ctx, a),
                    _ if a.len() >= 3 => keys::debug_object(&mut ctx, a.get(2)),
                    _ => ctx.r.error("ERR internal routing error"),
                }
                OpResult::Reply(out)
            }
            ShardOp::MGet { db, keys } => {
                let d = &mut shard.dbs[db];
                OpResult::Values(
                    keys.iter()
                        .map(|k| match d.get(k, now, &mut shard.stats) {
                            Some(e) => match &e.value {
                                crate::types::Value::Str(s) => Some(s.to_vec()),
                                // MGET answers nil for keys of other types.
                                _ => None,
                            },
                            None => None,
                        })
                        .collect(),
                )
            }
            ShardOp::MSet { db, pairs } => {
                for (k, v) in pairs {
                    shard.dbs[db].set(
                        &k,
                        crate::types::Value::Str(crate::types::StrVal::from_bytes(&v)),
                        0,
                    );
                }
                OpResult::Unit
            }
            ShardOp::AnyExists { db, keys } => OpResult::Bool(
                keys.iter()
                    .any(|k| shard.dbs[db].contains(k, now, &mut shard.stats)),
            ),
            ShardOp::Count { db, keys, delete } => {
                let mut n = 0;
                for k in &keys {
                    if shard.dbs[db].contains(k, now, &mut shard.stats) {
                        n += 1;
                        if delete {
                            shard.dbs[db].remove(k);
                        }
                    }
                }
                OpResult::Int(n)
            }
            ShardOp::Take { db, key, delete } => {
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
                OpResult::Bool(true)
            }
            ShardOp::DbSize { db } => OpResult::Int(shard.dbs[db].len() as i64),
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
                let pos = shard.dbs[db].scan(pos, count, now, |k, e| {
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
                OpResult::Unit
            }
            ShardOp::SwapDb { a, b } => {
                shard.dbs.swap(a, b);
                OpResult::Unit
            }
            ShardOp::Stats => OpResult::Stats(Box::new(self.stats())),
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
                    s.push_str(&c.client.info_line(now, c.inbuf.len(), c.out.len()));
                    s.push('\n');
                }
                OpResult::Text(s)
            }
            ShardOp::ClientKill { id } => {
                let found = self
                    .conns
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.as_ref().is_some_and(|c| c.client.id == id && !c.closing))
                    .map(|(i, _)| i as u32);
                match found {
                    Some(i) => {
                        self.close(i);
                        OpResult::Int(1)
                    }
                    None => OpResult::Int(0),
                }
            }
        }
    }

    pub fn stats(&self) -> ShardStats {
        ShardStats {
            keyspace: self
                .shard
                .dbs
                .iter()
                .map(|d| (d.len(), d.expires_len()))
                .collect(),
            expired_keys: self.shard.stats.expired_keys,
            keyspace_hits: self.shard.stats.keyspace_hits,
            keyspace_misses: self.shard.stats.keyspace_misses,
            connected_clients: self.conns.iter().flatten().filter(|c| !c.closing).count(),
            total_connections: self.counters.total_connections,
            total_commands: self.counters.total_commands,
            rejected_connections: self.counters.rejected_connections,
            net_input_bytes: self.counters.net_input_bytes,
            net_output_bytes: self.counters.net_output_bytes,
            wakes: self.shared.mailboxes[self.id].wakes.load(Ordering::Relaxed),
            cmd_calls: self.counters.cmd_calls.clone(),
        }
    }

    /// Drain this reactor's mailbox: run requests, deliver responses.
    pub fn drain_mailbox(&mut self) -> bool {
        let shared = self.shared.clone();
        let mb = &shared.mailboxes[self.id];
        let mut any = false;
        // Bounded so a flood of messages cannot starve the sockets.
        for _ in 0..4096 {
            let Some(m) = mb.pop() else { break };
            any = true;
            match m {
                Msg::Req(req) => {
                    let Request {
                        from,
                        conn,
                        slot,
                        part,
                        op,
                    } = *req;
                    self.now = now_ms();
                    let result = self.exec_op(op);
                    self.outbox[from].push_back(Msg::Resp(Box::new(Response {
                        conn,
                        slot,
                        part,
                        result,
                    })));
                }
                Msg::Resp(resp) => {
                    let Response {
                        conn,
                        slot,
                        part,
                        result,
                    } = *resp;
                    self.deliver(conn, slot, part, result);
                }
            }
        }
        any
    }

    /// Hand queued messages to their mailboxes, ringing each target at most
    /// once per turn (and only if it is asleep). Messages that do not fit
    /// stay queued for the next turn.
    pub fn flush_outboxes(&mut self) {
        for t in 0..self.outbox.len() {
            let q = &mut self.outbox[t];
            if q.is_empty() {
                continue;
            }
            let mb = &self.shared.mailboxes[t];
            let mut sent = 0;
            while let Some(m) = q.pop_front() {
                if let Err(m) = mb.push(m) {
                    // Full: keep it (and the rest, in order) for the next turn.
                    q.push_front(m);
                    break;
                }
                sent += 1;
            }
            if sent > 0 {
                mb.wake();
            }
        }
    }

    pub fn has_outbox(&self) -> bool {
        self.outbox.iter().any(|o| !o.is_empty())
    }

    /// Periodic work (10 Hz): active expiry.
    pub fn tick(&mut self) {
        self.now = now_ms();
        if self.shared.active_expire.load(Ordering::Relaxed) {
            self.shard
                .active_expire(self.now, std::time::Duration::from_millis(25));
        }
    }

    /// Called by the driver after a send completed: account bytes.
    pub fn on_sent(&mut self, n: usize) {
        self.counters.net_output_bytes += n as u64;
    }

    /// Output is done for a connection: close it if it asked to be closed.
    pub fn after_flush(&mut self, idx: u32) {
        if let Some(c) = self.conn(idx) {
            if c.close_after_flush && c.out.is_empty() && c.slots.is_empty() && !c.send_inflight {
                self.close(idx);
            }
        }
    }

    pub fn open_conns(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    pub fn all_conns(&self) -> Vec<u32> {
        (0..self.conns.len() as u32)
            .filter(|&i| self.conn(i).is_some())
            .collect()
    }
}

fn raw_finish() -> fanout::Finish {
    Box::new(|results, r| {
        if let Some(OpResult::Reply(b)) = results.into_iter().next() {
            r.out.extend_from_slice(&b);
        }
        fanout::Step::Done
    })
}

fn set_nodelay(fd: i32) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid pointer to a c_int.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
}

fn sock_name(fd: i32, peer: bool) -> String {
    // SAFETY: sockaddr_storage is large enough for any address family.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let p = &mut ss as *mut _ as *mut libc::sockaddr;
        let rc = if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        };
        if rc != 0 {
            return String::from("?:0");
        }
        match ss.ss_family as i32 {
            libc::AF_INET => {
                let a = &*(p as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                format!("{}:{}", ip, u16::from_be(a.sin_port))
            }
            libc::AF_INET6 => {
                let a = &*(p as *const libc::sockaddr_in6);
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                format!("{}:{}", ip, u16::from_be(a.sin6_port))
            }
            _ => String::from("?:0"),
        }
    }
}
