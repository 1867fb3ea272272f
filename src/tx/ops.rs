//! Operations one shard performs on behalf of a command coordinated by
//! another reactor (or by its own, for the local part of a fan-out).

use super::locks::LockSet;
use crate::protocol::{Args, Proto};
use crate::types::Value;
use std::ops::Range;

/// A command's arguments copied out of a receive buffer, to travel to
/// another shard.
#[derive(Clone)]
pub struct OwnedArgs {
    buf: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl Default for OwnedArgs {
    fn default() -> Self {
        OwnedArgs::new()
    }
}

impl OwnedArgs {
    pub fn new() -> OwnedArgs {
        OwnedArgs {
            buf: Vec::new(),
            ranges: Vec::new(),
        }
    }
    pub fn with_capacity(bytes: usize, args: usize) -> OwnedArgs {
        OwnedArgs {
            buf: Vec::with_capacity(bytes),
            ranges: Vec::with_capacity(args),
        }
    }
    /// Empty, with room for `bytes` in `args` arguments (`tx::spares`).
    pub fn clear_reserve(&mut self, bytes: usize, args: usize) {
        self.buf.clear();
        self.ranges.clear();
        self.buf.reserve(bytes);
        self.ranges.reserve(args);
    }
    /// Bytes held by its two buffers.
    pub fn capacity_bytes(&self) -> usize {
        self.buf.capacity() + self.ranges.capacity() * std::mem::size_of::<Range<usize>>()
    }
    pub fn push(&mut self, a: &[u8]) {
        let s = self.buf.len();
        super::append_bytes(&mut self.buf, a);
        self.ranges.push(s..self.buf.len());
    }
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    pub fn from_args(a: Args) -> OwnedArgs {
        let total: usize = a.iter().map(|x| x.len()).sum();
        let mut buf = Vec::with_capacity(total);
        let mut ranges = Vec::with_capacity(a.len());
        for x in a.iter() {
            let s = buf.len();
            super::append_bytes(&mut buf, x);
            ranges.push(s..buf.len());
        }
        OwnedArgs { buf, ranges }
    }
    pub fn args(&self) -> Args<'_> {
        Args::from_parts(&self.buf, &self.ranges)
    }
}

/// What EXEC checks about a client's watched keys on a shard.
pub struct WatchCheck {
    pub flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// (db, key) watched on this shard.
    pub keys: Vec<(usize, Vec<u8>)>,
}

impl WatchCheck {
    /// True if the transaction must abort.
    pub fn failed(&self, dbs: &[crate::shard::Db], now: u64) -> bool {
        if self.flag.load(std::sync::atomic::Ordering::Acquire) {
            return true;
        }
        let weak = std::sync::Arc::downgrade(&self.flag);
        self.keys.iter().any(|(db, k)| {
            dbs.get(*db)
                .is_some_and(|d| d.watched_key_expired(k, &weak, now))
        })
    }
}

/// What `ShardOp::Count` does to the keys it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountMode {
    /// EXISTS: only look (not an access).
    Look,
    /// TOUCH: an access (LRU/LFU clock).
    Touch,
    /// DEL/UNLINK.
    Delete,
    /// Delete as a gathered command's write-back: the command itself
    /// raised its events (no "del" notification here).
    Drop,
}

pub enum ShardOp {
    /// Take a transaction's locks on this shard (replies `Granted`, maybe
    /// later; or, with `wait` false, `Busy` at once if it would wait).
    Lock {
        txid: u64,
        keys: LockSet,
        wait: bool,
    },
    /// Take the locks, run `op`, release: the last shard of a single-phase
    /// transaction (replies `op`'s result, maybe later; or, with `wait`
    /// false, `Busy` carrying `op` back at once if it would wait).
    LockRun {
        txid: u64,
        keys: LockSet,
        op: Box<ShardOp>,
        wait: bool,
    },
    /// Run `op` under locks already held, then release them.
    RunUnlock {
        txid: u64,
        op: Box<ShardOp>,
    },
    /// Run several commands (db, args) in order as one step: a single-shard
    /// MULTI/EXEC (`in_tx` false: waits for locked keys), or one shard's
    /// share of a transaction that already holds its locks (`in_tx` true).
    /// With `watch`, a raised flag aborts the batch (`OpResult::Bool(false)`).
    Batch {
        proto: Proto,
        cmds: Vec<(usize, OwnedArgs)>,
        in_tx: bool,
        watch: Option<WatchCheck>,
        /// A tracking client's EXEC: each read registers its keys right
        /// after it runs, as Redis's call() does, so a write earlier in the
        /// same transaction does not invalidate them.
        track: Option<crate::tracking::Tracker>,
    },
    /// Several operations run in order as one step (`fanout::fold`:
    /// pipelined multi-key commands folded into one transaction); replies
    /// `OpResult::Seq`, one result each.
    Seq(Vec<ShardOp>),
    /// EXEC: did a key watched while live expire since? (`Bool`)
    WatchExpired(WatchCheck),
    /// Over maxmemory with nothing left to evict on the asking reactor's
    /// shard: evict here until under the limit or out of candidates
    /// (`Unit`), before its command runs.
    Evict,
    /// tracking-table-max-keys was set: while all shards' tables together
    /// are over it, trim this shard's now, its invalidations ahead of the
    /// answer (`Unit`).
    TrimTracking,
    /// WATCH these keys for the client owning `flag`.
    Watch {
        db: usize,
        keys: OwnedArgs,
        flag: std::sync::Weak<std::sync::atomic::AtomicBool>,
    },
    /// MEMORY USAGE of one key: a look at the table. Behind a lock on
    /// the key it waits like any command (after the client's earlier
    /// writes), except inside EXEC (`in_tx`), where the lock is the
    /// transaction's own.
    MemoryUsage {
        db: usize,
        proto: Proto,
        key: Vec<u8>,
        in_tx: bool,
    },
    /// Run a whole command whose keys all live on the target shard.
    Exec {
        db: usize,
        proto: Proto,
        args: OwnedArgs,
    },
    /// `Exec` of a blocked client's attempt (see `reactor::blocking`).
    Attempt {
        db: usize,
        proto: Proto,
        args: OwnedArgs,
        attempt: crate::shard::Attempt,
    },
    MGet {
        db: usize,
        keys: OwnedArgs,
    },
    /// Keys and values alternating.
    MSet {
        db: usize,
        pairs: OwnedArgs,
    },
    AnyExists {
        db: usize,
        keys: OwnedArgs,
    },
    /// Count present keys (DEL/UNLINK/EXISTS/TOUCH).
    Count {
        db: usize,
        keys: OwnedArgs,
        mode: CountMode,
    },
    /// `Count`, answering for each key whether it was found
    /// (`OpResult::Found`): several folded commands' keys in one operation
    /// (`fanout::FoldRun`), each command summing its own.
    CountEach {
        db: usize,
        keys: OwnedArgs,
        mode: CountMode,
    },
    /// Read (and optionally remove) a value with its TTL (RENAME, COPY).
    Take {
        db: usize,
        key: Vec<u8>,
        delete: bool,
        /// A blocked client's attempt reading a key it waits on: the key
        /// reads as absent while another client waits on it ahead of this
        /// one, who gets its elements first (Redis serves blocked clients
        /// in the order they blocked).
        behind: Option<crate::shard::Waiter>,
    },
    /// Store a value; with `nx` only if the key is absent.
    Put {
        db: usize,
        key: Vec<u8>,
        value: Value,
        expire_at: u64,
        nx: bool,
    },
    DbSize {
        db: usize,
    },
    /// DEBUG DIGEST: this shard's part of the dataset's digest (20 bytes,
    /// `OpResult::Reply`).
    Digest,
    /// DEBUG RELOAD / LOADAOF: every value of this shard serialized and
    /// loaded back, as a save and load would leave it.
    Reload,
    /// DEBUG POPULATE: create this shard's share of `prefix:0` ..
    /// `prefix:count-1` (existing keys are left alone).
    Populate {
        db: usize,
        count: u64,
        prefix: Vec<u8>,
        size: Option<usize>,
    },
    Keys {
        db: usize,
        pattern: Vec<u8>,
    },
    Scan {
        db: usize,
        pos: u64,
        count: usize,
        pattern: Option<Vec<u8>>,
        type_: Option<Vec<u8>>,
    },
    RandomKey {
        db: usize,
    },
    Flush {
        db: Option<usize>,
    },
    SwapDb {
        a: usize,
        b: usize,
    },
    /// Statistics of this reactor and its shard (INFO).
    Stats,
    /// PUBLISH or SPUBLISH queued in MULTI: its own step of the EXEC, on
    /// the coordinator's shard, so that subscribers hear it only after the
    /// writes queued before it are done (run when EXEC's plan was built, it
    /// went out before any of them). Answers `Int`, the receivers.
    Publish {
        db: usize,
        channel: Vec<u8>,
        message: Vec<u8>,
        shard: bool,
        /// The transaction's coordinator appends it to the replication
        /// stream, in its place among the writes (else it appends itself).
        replicated: bool,
    },
    /// CONFIG RESETSTAT: zero this reactor's and its shard's counters.
    ResetStats,
    /// Serialize this shard's keys for a replica's snapshot (RDB entries
    /// per database), and from now on keep expiry and eviction deletions
    /// for its stream. Run under every shard's lock.
    Snapshot,
    /// CLIENT LIST lines of this reactor's connections.
    ClientList {
        id_filter: Option<Vec<u64>>,
    },
    /// CLIENT KILL: close the connections living here that match.
    ClientKill {
        filter: Box<crate::commands::connection::KillFilter>,
    },
    /// CLIENT UNBLOCK: end a blocking command of a connection living here,
    /// as a timeout or with an UNBLOCKED error.
    ClientUnblock {
        id: u64,
        error: bool,
    },
    /// REPLICAOF: every client of this reactor blocked on keys gets
    /// UNBLOCKED and is disconnected (the master's writes must not feed
    /// them).
    UnblockAll,
}

pub enum OpResult {
    /// The locks of transaction `txid` on `shard` are held.
    Granted {
        txid: u64,
        shard: usize,
    },
    /// A no-wait lock request found its keys taken (with the operation of
    /// a `LockRun`, handed back).
    Busy(Option<Box<ShardOp>>),
    /// One result per operation of a `Seq`.
    Seq(Vec<OpResult>),
    /// One reply per command of a `Batch`.
    Replies(Vec<Vec<u8>>),
    Reply(Vec<u8>),
    /// String values (None = missing or not a string), all in one buffer.
    Values(Vec<u8>, Vec<Option<Range<usize>>>),
    Int(i64),
    /// Per key of a `CountEach`: found (and, deleting, removed).
    Found(Vec<bool>),
    Bool(bool),
    Keys(Vec<Vec<u8>>),
    Scan {
        pos: u64,
        keys: Vec<Vec<u8>>,
    },
    Key(Option<Vec<u8>>),
    Taken(Option<(Value, u64)>),
    Stats(Box<ShardStats>),
    Text(String),
    /// Per non-empty database: (db, keys, keys with a TTL, RDB entries).
    Snapshot(Vec<(usize, usize, usize, Vec<u8>)>),
    Unit,
    /// Done; the operation's arguments, handed back so that they are freed
    /// by the reactor that allocated them. An MSET part's pairs freed on
    /// the shard that ran them sent those buffers across threads, through
    /// jemalloc's cache flush and refill slow paths: handing them back took
    /// a two-shard MSET from 21169 to 20933 instructions at -P 1 (14672 to
    /// 14493 at -P 16; callgrind).
    Spent(OwnedArgs),
}

#[derive(Default, Clone)]
pub struct ShardStats {
    /// (keys, expires) per database.
    pub keyspace: Vec<(usize, usize)>,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub connected_clients: usize,
    /// Clients waiting in a blocking pop.
    pub blocked_clients: usize,
    pub total_connections: u64,
    pub total_commands: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub wakes: u64,
    /// Transactions that restarted in shard order after a shard reached
    /// out of order refused to wait (see `TxState::out_of_order`).
    pub tx_restarts: u64,
    /// Commands that joined a transaction of earlier commands of their
    /// pipeline instead of starting their own (`fanout::fold`).
    pub tx_folded: u64,
    /// Commands, input bytes and output bytes per second, lately
    /// (`instant::Rate`).
    pub instant_ops: u64,
    pub instant_input: u64,
    pub instant_output: u64,
    /// Keys in this shard's tracking table, and their client entries.
    pub tracking_keys: usize,
    pub tracking_items: usize,
    /// This reactor's clients with CLIENT TRACKING on.
    pub tracking_clients: usize,
    /// (calls, rejected calls) per statistics slot (`table::stat_index`).
    pub cmd_calls: Vec<(u64, u64)>,
    /// Failed calls per statistics slot.
    pub cmd_failed: Vec<u64>,
    /// Microseconds of timed calls per statistics slot.
    pub cmd_usec: Vec<u64>,
    /// Error replies this reactor's thread wrote.
    pub errors: crate::errorstats::ErrorCounts,
    /// Bytes the reactor's thread allocated minus bytes it freed (see
    /// `memory::ThreadMeter`), read when it answered.
    pub memory_net: i64,
    /// Bytes held by this reactor's connections' buffers (MEMORY STATS).
    pub client_buffers: u64,
    /// (main table, expires) bytes per database (MEMORY STATS).
    pub db_overhead: Vec<(u64, u64)>,
}

impl ShardStats {
    /// The sum of a `ShardOp::Stats` fan-out's results.
    pub fn sum(results: &[OpResult]) -> ShardStats {
        let mut st = ShardStats::default();
        for x in results {
            if let OpResult::Stats(s) = x {
                st.add(s);
            }
        }
        st
    }

    pub fn add(&mut self, o: &ShardStats) {
        if self.keyspace.len() < o.keyspace.len() {
            self.keyspace.resize(o.keyspace.len(), (0, 0));
        }
        for (i, (k, e)) in o.keyspace.iter().enumerate() {
            self.keyspace[i].0 += k;
            self.keyspace[i].1 += e;
        }
        if self.db_overhead.len() < o.db_overhead.len() {
            self.db_overhead.resize(o.db_overhead.len(), (0, 0));
        }
        for (i, (m, e)) in o.db_overhead.iter().enumerate() {
            self.db_overhead[i].0 += m;
            self.db_overhead[i].1 += e;
        }
        self.client_buffers += o.client_buffers;
        self.expired_keys += o.expired_keys;
        self.evicted_keys += o.evicted_keys;
        self.keyspace_hits += o.keyspace_hits;
        self.keyspace_misses += o.keyspace_misses;
        self.connected_clients += o.connected_clients;
        self.blocked_clients += o.blocked_clients;
        self.total_connections += o.total_connections;
        self.total_commands += o.total_commands;
        self.rejected_connections += o.rejected_connections;
        self.net_input_bytes += o.net_input_bytes;
        self.net_output_bytes += o.net_output_bytes;
        self.wakes += o.wakes;
        self.tx_restarts += o.tx_restarts;
        self.tx_folded += o.tx_folded;
        self.instant_ops += o.instant_ops;
        self.instant_input += o.instant_input;
        self.instant_output += o.instant_output;
        self.tracking_keys += o.tracking_keys;
        self.tracking_items += o.tracking_items;
        self.tracking_clients += o.tracking_clients;
        self.memory_net += o.memory_net;
        self.errors.add(&o.errors);
        if self.cmd_calls.len() < o.cmd_calls.len() {
            self.cmd_calls.resize(o.cmd_calls.len(), (0, 0));
        }
        if self.cmd_failed.len() < o.cmd_failed.len() {
            self.cmd_failed.resize(o.cmd_failed.len(), 0);
        }
        for (i, f) in o.cmd_failed.iter().enumerate() {
            self.cmd_failed[i] += f;
        }
        if self.cmd_usec.len() < o.cmd_usec.len() {
            self.cmd_usec.resize(o.cmd_usec.len(), 0);
        }
        for (i, u) in o.cmd_usec.iter().enumerate() {
            self.cmd_usec[i] += u;
        }
        for (i, (c, r)) in o.cmd_calls.iter().enumerate() {
            self.cmd_calls[i].0 += c;
            self.cmd_calls[i].1 += r;
        }
    }
}
