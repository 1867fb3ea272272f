//! MEMORY: USAGE (on the key's shard), STATS and DOCTOR (every shard's
//! figures with the allocator's), PURGE, MALLOC-STATS and HELP.

use super::conn::{ConnAction, ConnCtx};
use super::ctx::{arg_i64, eq_ic, Ctx, ERR_SYNTAX};
use crate::memory::MemoryLimit;
use crate::protocol::{Args, Reply};
use crate::shard::slot::key_shard;
use crate::tx::fanout::{all_shards, Plan, Step};
use crate::tx::ops::ShardStats;
use crate::tx::{OpResult, ShardOp};

/// MEMORY USAGE, STATS, DOCTOR, PURGE, MALLOC-STATS and HELP. A connection
/// command because STATS and DOCTOR need every shard's figures; USAGE
/// runs on its key's shard (`usage`).
pub fn memory(c: &mut ConnCtx, a: Args) {
    let sub = a.get(1);
    if eq_ic(sub, "usage") {
        if let Err(e) = usage_options(a) {
            return c.r.error(e);
        }
        let key = a.get(2);
        let (db, proto) = (c.client.db, c.r.proto);
        c.action = ConnAction::Plan(Plan {
            ops: vec![(
                key_shard(key, c.shared.nshards),
                ShardOp::MemoryUsage {
                    db,
                    proto,
                    key: key.to_vec(),
                    in_tx: false,
                },
            )],
            barrier: false,
            finish: Box::new(|results, r| {
                if let Some(OpResult::Reply(b)) = results.into_iter().next() {
                    r.out.extend_from_slice(&b);
                }
                Step::Done
            }),
        });
    } else if eq_ic(sub, "stats") || eq_ic(sub, "doctor") {
        let doctor = eq_ic(sub, "doctor");
        let fixed = MemoryFixed::now(c.shared);
        c.action = ConnAction::Plan(Plan {
            ops: all_shards(c.shared.nshards, |_| ShardOp::Stats),
            barrier: false,
            finish: Box::new(move |results, r| {
                let m = MemoryOverhead::new(&fixed, &ShardStats::sum(&results));
                if doctor {
                    r.verbatim(m.doctor().as_bytes());
                } else {
                    m.reply(r);
                }
                Step::Done
            }),
        });
    } else if eq_ic(sub, "purge") {
        if crate::alloc::release_freed_pages() {
            c.r.ok();
        } else {
            c.r.error("ERR Error purging dirty pages");
        }
    } else if eq_ic(sub, "malloc-stats") {
        c.r.verbatim(crate::alloc::stats_report().as_bytes());
    } else if eq_ic(sub, "help") {
        c.r.help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ]);
    } else {
        // The table's subcommand check answers first; kept for safety.
        c.r.error(&super::table::subcommand_message("memory", sub, false));
    }
}

/// MEMORY USAGE's options, checked before the key is looked up (Redis's
/// order). SAMPLES is accepted and has no effect: every element is
/// counted, nothing is sampled.
pub fn usage_options(a: Args) -> Result<(), &'static str> {
    let mut j = 3;
    while j < a.len() {
        if !(eq_ic(a.get(j), "samples") && j + 1 < a.len()) {
            return Err(ERR_SYNTAX);
        }
        match arg_i64(a.get(j + 1)) {
            None => return Err(super::ctx::ERR_NOT_INT),
            Some(n) if n < 0 => return Err(ERR_SYNTAX),
            Some(_) => {}
        }
        j += 2;
    }
    Ok(())
}

/// What MEMORY STATS and DOCTOR read outside the shards, taken when the
/// command runs.
struct MemoryFixed {
    base: i64,
    rss: u64,
    allocator: crate::alloc::AllocatorStats,
    scripts_bytes: u64,
    script_count: usize,
}

impl MemoryFixed {
    fn now(shared: &crate::server::Shared) -> MemoryFixed {
        let (script_count, scripts_bytes) = crate::scripting::cache_stats();
        MemoryFixed {
            base: shared.memory.base(),
            rss: super::server::rss_bytes(),
            allocator: crate::alloc::AllocatorStats::read(),
            scripts_bytes: scripts_bytes as u64,
            script_count,
        }
    }
}

/// Redis's `redisMemOverhead`: where the memory in use goes, from the
/// shards' figures and the allocator's.
struct MemoryOverhead {
    peak: u64,
    total: u64,
    startup: u64,
    clients_normal: u64,
    clients: u64,
    lua_caches: u64,
    /// (database, main table bytes, expires bytes), non-empty ones only.
    dbs: Vec<(usize, u64, u64)>,
    overhead_total: u64,
    keys: u64,
    script_count: usize,
    rss: u64,
    allocator: crate::alloc::AllocatorStats,
}

impl MemoryOverhead {
    fn new(f: &MemoryFixed, st: &ShardStats) -> MemoryOverhead {
        let total = MemoryLimit::used_from(f.base, st.memory_net);
        let startup = f.base.max(0) as u64;
        let dbs: Vec<(usize, u64, u64)> = st
            .keyspace
            .iter()
            .enumerate()
            .filter(|(_, (keys, _))| *keys > 0)
            .map(|(i, _)| {
                let (main, expires) = st.db_overhead.get(i).copied().unwrap_or((0, 0));
                (i, main, expires)
            })
            .collect();
        let tables: u64 = dbs.iter().map(|(_, m, e)| m + e).sum();
        MemoryOverhead {
            peak: crate::memory::note_peak(total),
            total,
            startup,
            clients_normal: st.client_buffers,
            clients: st.connected_clients as u64,
            lua_caches: f.scripts_bytes,
            overhead_total: startup + st.client_buffers + f.scripts_bytes + tables,
            dbs,
            keys: st.keyspace.iter().map(|(k, _)| *k as u64).sum(),
            script_count: f.script_count,
            rss: f.rss,
            allocator: f.allocator,
        }
    }

    /// Memory in use beyond what the server held at start-up (1 if none,
    /// as Redis divides by it).
    fn net_usage(&self) -> u64 {
        if self.total > self.startup {
            self.total - self.startup
        } else {
            1
        }
    }

    /// A ratio as Redis computes it: in single precision.
    fn ratio(a: u64, b: u64) -> f64 {
        if b == 0 {
            return 0.0;
        }
        (a as f32 / b as f32) as f64
    }

    fn reply(&self, r: &mut Reply) {
        /// A field's value: Redis replies integers, and ratios as doubles.
        enum F {
            Int(i64),
            Ratio(u64, u64),
        }
        let field = |r: &mut Reply, name: &str, v: F| {
            r.bulk(name.as_bytes());
            match v {
                F::Int(n) => r.int(n),
                F::Ratio(x, y) => r.double(Self::ratio(x, y)),
            }
        };
        let int = |n: u64| F::Int(n as i64);
        let diff = |x: u64, y: u64| F::Int(x as i64 - y as i64);
        let a = &self.allocator;
        let dataset = self.total.saturating_sub(self.overhead_total);
        r.map(27 + self.dbs.len());
        let head = [
            ("peak.allocated", int(self.peak)),
            ("total.allocated", int(self.total)),
            ("startup.allocated", int(self.startup)),
            ("replication.backlog", int(0)),
            ("clients.slaves", int(0)),
            ("clients.normal", int(self.clients_normal)),
            ("cluster.links", int(0)),
            ("aof.buffer", int(0)),
            ("lua.caches", int(self.lua_caches)),
            ("functions.caches", int(0)),
        ];
        for (name, v) in head {
            field(r, name, v);
        }
        for &(db, main, expires) in &self.dbs {
            r.bulk(format!("db.{db}").as_bytes());
            r.map(3);
            field(r, "overhead.hashtable.main", int(main));
            field(r, "overhead.hashtable.expires", int(expires));
            field(r, "overhead.hashtable.slot-to-keys", int(0));
        }
        let tail = [
            ("overhead.total", int(self.overhead_total)),
            ("keys.count", int(self.keys)),
            (
                "keys.bytes-per-key",
                int(self.net_usage().checked_div(self.keys).unwrap_or(0)),
            ),
            ("dataset.bytes", int(dataset)),
            (
                "dataset.percentage",
                F::Ratio(dataset * 100, self.net_usage()),
            ),
            ("peak.percentage", F::Ratio(self.total * 100, self.peak)),
            ("allocator.allocated", int(a.allocated)),
            ("allocator.active", int(a.active)),
            ("allocator.resident", int(a.resident)),
            (
                "allocator-fragmentation.ratio",
                F::Ratio(a.active, a.allocated),
            ),
            ("allocator-fragmentation.bytes", diff(a.active, a.allocated)),
            ("allocator-rss.ratio", F::Ratio(a.resident, a.active)),
            ("allocator-rss.bytes", diff(a.resident, a.active)),
            ("rss-overhead.ratio", F::Ratio(self.rss, a.resident)),
            ("rss-overhead.bytes", diff(self.rss, a.resident)),
            ("fragmentation", F::Ratio(self.rss, self.total)),
            ("fragmentation.bytes", diff(self.rss, self.total)),
        ];
        for (name, v) in tail {
            field(r, name, v);
        }
    }

    /// MEMORY DOCTOR: Redis's checks and thresholds. The two verdicts
    /// without findings are Redis's words; findings are described in ours.
    fn doctor(&self) -> String {
        const MB: u64 = 1 << 20;
        if self.total < 5 * MB {
            return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
        }
        let a = &self.allocator;
        let over = |x: u64, y: u64, ratio: f64| Self::ratio(x, y) > ratio && x > y + 10 * MB;
        let mut found: Vec<&str> = Vec::new();
        if Self::ratio(self.peak, self.total) > 1.5 {
            found.push("Peak memory: more than 150% of the memory in use now was in use earlier. The allocator keeps most of what a peak took, so RSS and fragmentation look high; the memory is reused as data grows again. MEMORY PURGE returns what can be returned; a restart returns the rest.");
        }
        if over(self.rss, self.total, 1.4) {
            found.push("High total RSS: the process's resident memory is more than 1.4 times (and 10 MB above) what the server has allocated, usually left by a memory peak (see above) or by a workload that fragments the allocator's pages.");
        }
        if over(a.active, a.allocated, 1.1) {
            found.push("High allocator fragmentation: the allocator's active pages exceed what it has handed out by more than 10% (and 10 MB), usually after a memory peak or heavy churn of differently sized values.");
        }
        if over(a.resident, a.active, 1.1) {
            found.push("High allocator RSS overhead: the allocator holds resident pages more than 10% (and 10 MB) beyond its active ones, usually after a memory peak; MEMORY PURGE returns them to the system.");
        }
        if over(self.rss, a.resident, 1.1) {
            found.push("High process RSS overhead: the process's resident memory exceeds the allocator's by more than 10% (and 10 MB): memory the allocator does not manage, such as the Lua interpreters'.");
        }
        if self.clients_normal / self.clients.max(1) > 200 * 1024 {
            found.push("Big client buffers: clients' input and output buffers hold more than 200 KB on average, from clients that read their replies slowly (Pub/Sub subscribers, large replies) or send very long pipelines. CLIENT LIST shows each client's buffers.");
        }
        if self.script_count > 1000 {
            found.push("Many scripts: more than 1000 scripts are cached, which happens when scripts are generated and EVALed instead of taking their values as KEYS and ARGV. SCRIPT FLUSH empties the cache.");
        }
        if found.is_empty() {
            return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
        }
        let mut s = String::from(
            "Sam, I detected a few issues in this Redis instance memory implants:\n\n",
        );
        for f in found {
            s.push_str(" * ");
            s.push_str(f);
            s.push_str("\n\n");
        }
        s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
        s
    }
}

/// MEMORY USAGE's part on the key's shard (`memory` checked the
/// options): an estimate of the bytes the key costs (entry, key and value
/// allocations), nil if there is none. Like Redis's, it looks at the
/// table as it is: no lazy expiry, no hit or miss counted.
pub fn usage(c: &mut Ctx, key: &[u8]) {
    let Some(e) = c.shard.dbs[c.db].peek(key) else {
        return c.r.null();
    };
    let value = match &e.value {
        crate::types::Value::Str(s) => match s {
            crate::types::StrVal::Int(_) => 0,
            crate::types::StrVal::Inline(..) => 0,
            crate::types::StrVal::Emb(b) => b.len(),
            crate::types::StrVal::Raw(b) => b.capacity() + 24,
        },
        crate::types::Value::Hash(h) => {
            std::mem::size_of::<crate::types::HashVal>() + h.mem_usage()
        }
        crate::types::Value::Set(s) => std::mem::size_of::<crate::types::SetVal>() + s.mem_usage(),
        crate::types::Value::List(l) => 48 + l.payload_bytes(),
        crate::types::Value::ZSet(z) => 48 + z.payload_bytes(),
    };
    c.r.int((56 + key.len() + value) as i64);
}
