//! Reading a connection's input: requests are parsed from the received
//! bytes (a whole pipelined batch ahead of running it, so its keys can be
//! prefetched) and run one by one, in order, unless a barrier holds them.

use super::{conn, Reactor};
use crate::commands::table;
use crate::protocol::parser::Parsed;
use crate::protocol::{Args, Parser, Reply};
use crate::server::now_ms;

/// Redis's client-query-buffer-limit default: a client that sends more
/// unparsed input than this is disconnected.
const QUERY_BUFFER_LIMIT: usize = 1 << 30;

/// Commands parsed ahead of running them (`Reactor::parse_ahead`).
const AHEAD: usize = 16;

/// Commands whose effect on parsing (AUTH's limits, CONFIG's bulk limit)
/// must be seen before the next command is parsed.
const STATEFUL_PARSE: [&[u8]; 4] = [b"auth", b"hello", b"reset", b"config"];

/// Commands of one batch parsed before running: (end offset, argument
/// ranges in `ranges`), `next` the first not yet run.
#[derive(Default)]
pub struct ParsedAhead {
    cmds: Vec<(usize, usize, usize)>,
    ranges: Vec<std::ops::Range<usize>>,
    next: usize,
}

impl ParsedAhead {
    pub fn clear(&mut self) {
        self.cmds.clear();
        self.ranges.clear();
        self.next = 0;
    }

    /// Keep the commands not run yet, their offsets made relative to
    /// `off` (where the next call's input will start).
    fn keep_rest(&mut self, off: usize) {
        let Some(&(_, r0, _)) = self.cmds.get(self.next) else {
            return self.clear();
        };
        self.cmds.drain(..self.next);
        self.ranges.drain(..r0);
        for c in &mut self.cmds {
            c.0 -= off;
            c.1 -= r0;
            c.2 -= r0;
        }
        for r in &mut self.ranges {
            r.start -= off;
            r.end -= off;
        }
        self.next = 0;
    }
}

/// The driver's prefetch pass reads each connection's first command only
/// (`parse_ahead` covers the rest of a pipelined batch).
const PREFETCH_PER_CONN: usize = 1;
const PREFETCH_MAX: usize = 256;

impl Reactor {
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
            self.drain_resumable();
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
    pub(super) fn resume(&mut self, idx: u32) {
        let Some(c) = self.conn_mut(idx) else { return };
        let buf = std::mem::take(&mut c.inbuf);
        let used = self.process(idx, &buf);
        if let Some(c) = self.conn_mut(idx) {
            let mut buf = buf;
            buf.drain(..used);
            // Emptied after a large request (a big value arrives over many
            // receives): not worth keeping that room.
            if buf.is_empty() && buf.capacity() > conn::CONN_KEEP_BYTES {
                buf = Vec::new();
            }
            // Anything appended meanwhile cannot exist: processing is synchronous.
            c.inbuf = buf;
        }
        self.drain_resumable();
    }

    /// Parse and run as many commands as allowed; returns bytes consumed.
    /// Then, at the outermost call, resume the connections that became
    /// able to run meanwhile.
    pub(super) fn process(&mut self, idx: u32, data: &[u8]) -> usize {
        self.processing += 1;
        let used = self.process_input(idx, data);
        self.processing -= 1;
        used
    }

    /// Resume the connections that became able to run while input was
    /// being processed. Called by `on_recv` and `resume` once the input
    /// they processed is back in its buffer: a connection freed while its
    /// own unread input was out of `inbuf` (a client whose BLPOP was
    /// served by a command another connection's resumption ran) must find
    /// that input there. Iterative: resumptions during the drain queue up
    /// behind it.
    pub(super) fn drain_resumable(&mut self) {
        if self.processing > 0 || self.draining_resumable {
            return;
        }
        self.draining_resumable = true;
        while let Some(i) = self.resumable.pop_front() {
            if self
                .conn(i)
                .is_some_and(|c| !c.inbuf.is_empty() && c.can_process())
            {
                self.resume(i);
            }
        }
        self.draining_resumable = false;
    }

    fn process_input(&mut self, idx: u32, data: &[u8]) -> usize {
        let mut parser = std::mem::take(&mut self.parser);
        let mut ahead = std::mem::take(&mut self.ahead);
        ahead.clear();
        // Commands parsed ahead in an earlier call that stopped before
        // running them (a transaction's barrier): `data` starts where that
        // call stopped, so they are still valid.
        if let Some(c) = self.conn_mut(idx) {
            if !c.ahead.cmds.is_empty() {
                std::mem::swap(&mut ahead, &mut c.ahead);
            }
            c.client.qbuf = data.len();
        }
        if ahead
            .cmds
            .last()
            .is_some_and(|&(end, _, _)| end > data.len())
        {
            ahead.clear();
        }
        let mut off = 0;
        self.now = now_ms();
        // The keys' access clock must be current for these commands.
        crate::memory::set_clock(self.now);
        while off < data.len() {
            match self.conn(idx) {
                Some(c) if c.can_process() => parser.unauthenticated = !c.client.authed,
                _ => break,
            }
            if ahead.cmds.is_empty() && !parser.unauthenticated {
                self.parse_ahead(&mut parser, &mut ahead, idx, data, off);
            }
            if let Some(&(end, from, to)) = ahead.cmds.get(ahead.next) {
                let args = Args::from_parts(data, &ahead.ranges[from..to]);
                if !self.run_unless_barrier(idx, args) {
                    continue;
                }
                self.serve_woken();
                off = end;
                ahead.next += 1;
                // Parsing depends on the connection (AUTH: the limits for
                // unauthenticated clients) and on CONFIG (the bulk limit):
                // after such a command, what follows is parsed again.
                if ahead.next == ahead.cmds.len()
                    || args.iter().next().is_some_and(|name| {
                        STATEFUL_PARSE.iter().any(|n| name.eq_ignore_ascii_case(n))
                    })
                {
                    ahead.clear();
                }
                continue;
            }
            match parser.parse(&data[off..]) {
                Parsed::Command { consumed } => {
                    if self.run_unless_barrier(idx, parser.args(&data[off..])) {
                        self.serve_woken();
                        off += consumed;
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
        self.flush_fold();
        self.parser = parser;
        if let Some(c) = self.conn_mut(idx) {
            c.client.qbuf = 0;
        }
        if ahead.next < ahead.cmds.len() {
            ahead.keep_rest(off);
            if let Some(c) = self.conn_mut(idx) {
                std::mem::swap(&mut ahead, &mut c.ahead);
            }
        }
        ahead.clear();
        self.ahead = ahead;
        off
    }

    /// Parse up to `AHEAD` complete commands from `off` and start their
    /// keys' lookups before any of them runs, so their cache misses
    /// overlap. The driver's pass over all connections (`prefetch`) reads
    /// only each batch's first command: reading every command there and
    /// again here was ~14% of a pipelined GET. Anything unusual (inline,
    /// incomplete, malformed) ends the look-ahead; the one-at-a-time path
    /// then meets it in order.
    pub(super) fn parse_ahead(
        &mut self,
        parser: &mut Parser,
        ahead: &mut ParsedAhead,
        idx: u32,
        data: &[u8],
        mut at: usize,
    ) {
        let Some(db) = self.conn(idx).map(|c| c.client.db) else {
            return;
        };
        while ahead.cmds.len() < AHEAD && data.get(at) == Some(&b'*') {
            let Parsed::Command { consumed } = parser.parse(&data[at..]) else {
                break;
            };
            let from = ahead.ranges.len();
            let args = parser.args(&data[at..]);
            let (_, ranges) = args.raw();
            ahead
                .ranges
                .extend(ranges.iter().map(|r| r.start + at..r.end + at));
            at += consumed;
            ahead.cmds.push((at, from, ahead.ranges.len()));
        }
        if ahead.cmds.len() < 2 {
            // One command: nothing to overlap with (the driver's pass
            // already started its lookup).
            return;
        }
        let Some(d) = self.shard.dbs.get(db) else {
            return;
        };
        // Each command's first key (its second argument), slots then entries.
        let ranges = &ahead.ranges;
        d.prefetch_keys(
            ahead
                .cmds
                .iter()
                .filter(|&&(_, from, to)| to - from >= 2)
                .filter_map(|&(_, from, _)| data.get(ranges[from + 1].clone())),
        );
    }

    /// Start the keyspace lookups of the commands just received on `idx`
    /// (their first key, at most `PREFETCH_PER_CONN` commands) before any
    /// of them runs, so the cache misses of a batch overlap instead of
    /// following one another. Call `prefetch_entries` once the whole batch
    /// has been noted. A hint only: anything unusual is skipped. Keys of
    /// other shards are not filtered out: telling which they are costs a
    /// CRC16 (~66 instructions) that routing computes again anyway, more
    /// than the wasted lookup hint (callgrind, --threads 2, GET -P 16:
    /// 1957 -> 1879 instructions per request).
    pub fn prefetch(&mut self, idx: u32, data: &[u8]) {
        let Some(c) = self.conn(idx) else { return };
        if !c.inbuf.is_empty() {
            return;
        }
        let db = c.client.db;
        let Some(d) = self.shard.dbs.get(db) else {
            return;
        };
        let mut rest = data;
        for _ in 0..PREFETCH_PER_CONN {
            let Some((key, next)) = crate::protocol::parser::peek_command(rest) else {
                break;
            };
            if let Some(key) = key {
                if self.prefetched.len() < PREFETCH_MAX {
                    self.prefetched.push((db, d.prefetch_slot(key)));
                }
            }
            rest = next;
        }
    }

    pub fn prefetch_entries(&mut self) {
        for &(db, hash) in &self.prefetched {
            if let Some(d) = self.shard.dbs.get(db) {
                d.prefetch_entry(hash);
            }
        }
        self.prefetched.clear();
    }

    /// Run a parsed command, unless this connection's pending fold cannot
    /// take it: then the fold's transaction starts (a barrier) and the
    /// command waits for it, to be met again (false).
    #[inline]
    pub(super) fn run_unless_barrier(&mut self, idx: u32, args: Args) -> bool {
        if self.fold.is_some() {
            return self.run_in_fold(idx, args);
        }
        if !args.is_empty() {
            if self.special_clients != 0 {
                self.dispatch_special(idx, None, args);
            } else {
                self.dispatch(idx, args);
                self.after_plain_dispatch(idx, args);
            }
            if self.postponed {
                self.postponed = false;
                return false;
            }
        }
        true
    }

    /// A command dispatched the plain way may have made its client special
    /// (CLIENT REPLY, CLIENT TRACKING, also inside EXEC): it is then the
    /// command the new mode counts from, as `dispatch_special` would have
    /// counted it.
    #[inline(always)]
    pub(super) fn after_plain_dispatch(&mut self, idx: u32, args: Args) {
        if self.special_clients != 0 && !self.postponed {
            self.after_special(idx, table::lookup(args.get(0)));
        }
    }
}
