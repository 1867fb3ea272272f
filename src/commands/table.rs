//! The command table: the single source of truth for every command's name,
//! arity, flags, key positions and handler. Routing, arity checks, COMMAND
//! and COMMAND DOCS all read it.

use super::conn::ConnCtx;
use super::ctx::Ctx;
use super::{
    absent, acl, bitops, blocking, connection, geo, hash, hll, keys, list, memory, migrate, pubsub,
    replication, scripting, server, set, sort, string, zset,
};
use crate::protocol::Args;

pub type KeyFn = fn(&mut Ctx, Args);
pub type ConnFn = fn(&mut ConnCtx, Args);
/// Finds the arguments an option makes keys (MIGRATE's KEYS ...).
pub type OptionKeysFn = fn(Args) -> Option<std::ops::Range<usize>>;

/// How a multi-key command is split when its keys live on several shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Multi {
    MGet,
    MSet,
    MSetNx,
    Del,
    Exists,
    Touch,
    Rename,
    RenameNx,
    Copy,
}

impl Multi {
    /// Its fan-out is single-phase with one operation per shard, so that
    /// consecutive ones of a pipeline can run as one transaction
    /// (`tx::fanout::fold`).
    pub fn folds(self) -> bool {
        matches!(
            self,
            Multi::MGet | Multi::MSet | Multi::Del | Multi::Exists | Multi::Touch
        )
    }
}

/// Transaction commands, run by the reactor (`reactor::exec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxCmd {
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
}

/// Whole-keyspace commands: run on every shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllOp {
    DbSize,
    Keys,
    Scan,
    RandomKey,
    FlushDb,
    FlushAll,
    SwapDb,
}

impl AllOp {
    /// The lock it takes on every shard, so that it sees a multi-shard
    /// command or EXEC whole or not at all: shared for the reads (with an
    /// exclusive one, 50 concurrent DBSIZE clients at --threads 2 on one
    /// CPU took turns: 31k req/s instead of 99k unlocked), exclusive for
    /// the writes. None for SCAN and RANDOMKEY, which promise
    /// nothing about keys changed while they run (SCAN may or may not
    /// return them; Redis's own iteration spans calls).
    pub fn shard_lock(self) -> Option<crate::tx::locks::LockId> {
        use crate::tx::locks::{WHOLE_SHARD, WHOLE_SHARD_READ};
        match self {
            AllOp::Scan | AllOp::RandomKey => None,
            AllOp::DbSize | AllOp::Keys => Some(WHOLE_SHARD_READ),
            AllOp::FlushDb | AllOp::FlushAll | AllOp::SwapDb => Some(WHOLE_SHARD),
        }
    }
}

#[derive(Clone, Copy)]
pub enum Kind {
    /// Keys all live on one shard (usually one key): run where they live.
    Keyed(KeyFn),
    /// Run on one shard when all keys share it, else fan out.
    Multi(KeyFn, Multi),
    /// Connection or server command, run on the client's reactor.
    Conn(ConnFn),
    /// Every shard takes part.
    All(AllOp),
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH.
    Tx(TxCmd),
}

#[derive(Clone, Copy)]
pub struct Command {
    pub name: &'static str,
    /// Redis's `fullname`: the name, or `container|sub` in a subcommand's
    /// entry (whose `name` stays the container's: it dispatches as it).
    pub full_name: &'static str,
    /// Redis arity: N = exactly N args (with the name), -N = at least N.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub kind: Kind,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub acl: &'static [&'static str],
    /// Position of a numkeys argument whose keys follow it (ZUNION,
    /// LMPOP...), 0 if none. Those keys come on top of first/last/step,
    /// which (as in Redis's COMMAND INFO) only cover fixed positions.
    pub numkeys_at: usize,
    /// Finds a key at a position only a scan of the options reveals
    /// (SORT's STORE destination).
    pub option_key: Option<fn(Args) -> Option<usize>>,
    /// Keys an option names in place of the fixed ones (MIGRATE's KEYS
    /// k1 k2 ...): when it finds any, the fixed key position is not a key.
    pub option_keys: Option<OptionKeysFn>,
    /// Flags the hot path tests, derived from `flags` once, at compile time.
    pub denyoom: bool,
    pub no_multi: bool,
    pub write: bool,
    /// May block the client (BLPOP...): tested on every cross-shard dispatch.
    pub blocking: bool,
    /// A container's subcommands (Redis 7.0's, for those halocline has):
    /// checked before the command runs, as Redis does, which then runs
    /// under the subcommand's own entry (`for_sub`). Empty for any other
    /// command.
    pub subcommands: &'static [Sub],
    /// In a subcommand's entry, its container's (`for_sub`).
    pub parent: Option<&'static Command>,
    /// Timed for SLOWLOG only at low thresholds (`slowlog`): Redis's
    /// `fast` commands (O(1)), and the string writes benchmarks hammer
    /// (SET, MSET...; O(1) per key but for their values' size): two clock
    /// reads were ~9% of a pipelined SET.
    pub fast: bool,
    /// Allowed on a replica whose link to its master is down while
    /// replica-serve-stale-data is no (Redis's CMD_STALE).
    pub stale: bool,
    /// Allowed while a replica loads its master's snapshot (CMD_LOADING).
    pub loading: bool,
    /// How a successful run signals WATCHers of its keys, from its name
    /// (`watch_rule`), at compile time.
    pub watch: WatchTouch,
    /// Reads keys that only its arguments' values name (SORT's BY and GET
    /// patterns): `sort::patterns_span` decides where it runs.
    pub pattern_keys: bool,
    /// EVAL and its kin: a script's writes are its `redis.call`s
    /// (`Shard::script_effects`), not the command itself.
    pub script: bool,
}

/// How a write command signals a change to WATCHers. Redis signals a key
/// only when a command modified it, so a WATCH survives SADD of a member
/// already there, LPOP of a missing list, DEL of a missing key...
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WatchTouch {
    /// Every change goes through the keyspace's primitives (set, remove,
    /// set_expire), which touch precisely: nothing to add after it.
    Precise,
    /// Touch its keys unless it answered 0 (added, removed or pushed
    /// nothing) or, LINSERT, -1 (no pivot).
    UnlessZero,
    /// Touch its keys unless it answered nil or an empty array (popped
    /// nothing).
    UnlessNone,
    /// Touch its keys after every successful run.
    Keys,
}

/// One subcommand of a container: what Redis 7.0 keeps per subcommand.
pub struct Sub {
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// The categories Redis names for it (without those its flags imply).
    pub acl: &'static [&'static str],
}

const fn sub(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    first_key: i32,
    last_key: i32,
    step: i32,
    acl: &'static [&'static str],
) -> Sub {
    Sub {
        name,
        arity,
        flags,
        first_key,
        last_key,
        step,
        acl,
    }
}

const fn has_flag(flags: &[&str], want: &str) -> bool {
    let mut i = 0;
    while i < flags.len() {
        let (a, b) = (flags[i].as_bytes(), want.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// Commands whose every change goes through the keyspace's own primitives
/// (set, remove, set_expire), which touch WATCHed keys precisely: when
/// they change nothing (DEL of a missing key, SET NX on an existing one,
/// PERSIST without TTL...), WATCHers must not see a change, as in Redis.
const PRECISE_WRITERS: &[&str] = &[
    "del",
    "migrate",
    "unlink",
    "getdel",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "persist",
    "set",
    "setnx",
    "setex",
    "psetex",
    "getset",
    "getex",
    "mset",
    "msetnx",
    "rename",
    "renamenx",
    "copy",
    "move",
    "incrbyfloat",
    "sort",
    "smove",
    "zadd",
    "zincrby",
    "setrange",
    "setbit",
    // Writes its destination with Db::set / Db::remove, reads its sources.
    "bitop",
    // Touches its key itself, only when a subcommand changed a bit.
    "bitfield",
    "ltrim",
    // Writes its key with Db::set / Db::remove.
    "restore",
    // The stores write their destination with Db::set / Db::remove and
    // only read their sources.
    "sinterstore",
    "sunionstore",
    "sdiffstore",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "zrangestore",
    // ZADD underneath; the searches' STORE writes with Db::set / Db::remove.
    "geoadd",
    "georadius",
    "georadiusbymember",
    "geosearchstore",
    // Touches its destination itself; PFDEBUG changes only the encoding.
    "pfmerge",
    "pfdebug",
];

const ZERO_IS_NOTHING: &[&str] = &[
    "pfadd",
    "sadd",
    "srem",
    "hdel",
    "hsetnx",
    "zrem",
    "zremrangebyscore",
    "zremrangebyrank",
    "zremrangebylex",
    "lrem",
    "lpushx",
    "rpushx",
    "linsert",
];

/// SPOP with a count of 0 answers an empty set (`~0` in RESP3).
const NONE_IS_NOTHING: &[&str] = &[
    "lpop",
    "rpop",
    "spop",
    "zpopmin",
    "zpopmax",
    "lmpop",
    "zmpop",
    "rpoplpush",
    "lmove",
];

/// The subcommands halocline implements of each container command, each
/// with Redis 7.0's arity, flags, key positions and ACL categories (those
/// it names; `acl_categories` adds the ones its flags imply), so a
/// subcommand is refused, gated and listed as Redis does it (FUNCTION LOAD
/// is a denyoom write, FUNCTION LIST is not; CLIENT HELP runs while
/// loading). A subcommand Redis has and halocline lacks is answered as
/// unknown.
#[rustfmt::skip]
const fn subcommands_of(name: &str) -> &'static [Sub] {
    const CONFIG: &[Sub] = &[
        sub("get", -3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &[]),
        sub("resetstat", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("rewrite", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("set", -4, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
    ];
    const CLIENT: &[Sub] = &[
        sub("caching", 3, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("getname", 2, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("getredir", 2, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("id", 2, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("info", 2, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("kill", -3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("list", -2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("no-evict", 3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        // Redis 7.2's (clients send it); its flags there.
        sub("no-touch", 3, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("pause", -3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("reply", 3, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        // Redis 7.2's (clients send it); its flags there.
        sub("setinfo", 4, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("setname", 3, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("tracking", -3, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("trackinginfo", 2, &["noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("unblock", -3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("unpause", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &["@connection"]),
    ];
    const COMMAND: &[Sub] = &[
        sub("count", 2, &["loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("docs", -2, &["loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("getkeys", -4, &["loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("getkeysandflags", -4, &["loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("info", -2, &["loading", "stale"], 0, 0, 0, &["@connection"]),
        sub("list", -2, &["loading", "stale"], 0, 0, 0, &["@connection"]),
    ];
    const OBJECT: &[Sub] = &[
        sub("encoding", 3, &["readonly"], 2, 2, 1, &["@keyspace"]),
        sub("freq", 3, &["readonly"], 2, 2, 1, &["@keyspace"]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &["@keyspace"]),
        sub("idletime", 3, &["readonly"], 2, 2, 1, &["@keyspace"]),
        sub("refcount", 3, &["readonly"], 2, 2, 1, &["@keyspace"]),
    ];
    const MEMORY: &[Sub] = &[
        sub("doctor", 2, &[], 0, 0, 0, &[]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &[]),
        sub("malloc-stats", 2, &[], 0, 0, 0, &[]),
        sub("purge", 2, &[], 0, 0, 0, &[]),
        sub("stats", 2, &[], 0, 0, 0, &[]),
        sub("usage", -3, &["readonly"], 2, 2, 1, &[]),
    ];
    const SCRIPT: &[Sub] = &[
        sub("debug", 3, &["noscript"], 0, 0, 0, &["@scripting"]),
        sub("exists", -3, &["noscript"], 0, 0, 0, &["@scripting"]),
        sub("flush", -2, &["noscript"], 0, 0, 0, &["@scripting"]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &["@scripting"]),
        sub("kill", 2, &["noscript", "allow_busy"], 0, 0, 0, &["@scripting"]),
        sub("load", 3, &["noscript", "stale"], 0, 0, 0, &["@scripting"]),
    ];
    const FUNCTION: &[Sub] = &[
        sub("delete", 3, &["write", "noscript"], 0, 0, 0, &["@scripting"]),
        sub("dump", 2, &["noscript"], 0, 0, 0, &["@scripting"]),
        sub("flush", -2, &["write", "noscript"], 0, 0, 0, &["@scripting"]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &["@scripting"]),
        sub("kill", 2, &["noscript", "allow_busy"], 0, 0, 0, &["@scripting"]),
        sub("list", -2, &["noscript"], 0, 0, 0, &["@scripting"]),
        sub("load", -3, &["write", "denyoom", "noscript"], 0, 0, 0, &["@scripting"]),
        sub("restore", -3, &["write", "denyoom", "noscript"], 0, 0, 0, &["@scripting"]),
        sub("stats", 2, &["noscript", "allow_busy"], 0, 0, 0, &["@scripting"]),
    ];
    const PUBSUB: &[Sub] = &[
        sub("channels", -2, &["pubsub", "loading", "stale"], 0, 0, 0, &[]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &[]),
        sub("numpat", 2, &["pubsub", "loading", "stale"], 0, 0, 0, &[]),
        sub("numsub", -2, &["pubsub", "loading", "stale"], 0, 0, 0, &[]),
        sub("shardchannels", -2, &["pubsub", "loading", "stale"], 0, 0, 0, &[]),
        sub("shardnumsub", -2, &["pubsub", "loading", "stale"], 0, 0, 0, &[]),
    ];
    const SLOWLOG: &[Sub] = &[
        sub("get", -2, &["admin", "loading", "stale"], 0, 0, 0, &[]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &[]),
        sub("len", 2, &["admin", "loading", "stale"], 0, 0, 0, &[]),
        sub("reset", 2, &["admin", "loading", "stale"], 0, 0, 0, &[]),
    ];
    const LATENCY: &[Sub] = &[
        sub("doctor", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("graph", 3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &[]),
        sub("histogram", -2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("history", 3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("latest", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("reset", -2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
    ];
    const CLUSTER: &[Sub] = &[
        sub("addslots", -3, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("addslotsrange", -4, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("bumpepoch", 2, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("count-failure-reports", 3, &["admin", "stale"], 0, 0, 0, &[]),
        sub("countkeysinslot", 3, &["stale"], 0, 0, 0, &[]),
        sub("delslots", -3, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("delslotsrange", -4, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("failover", -2, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("flushslots", 2, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("forget", 3, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("getkeysinslot", 4, &["stale"], 0, 0, 0, &[]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &[]),
        sub("info", 2, &["stale"], 0, 0, 0, &[]),
        sub("keyslot", 3, &["stale"], 0, 0, 0, &[]),
        sub("links", 2, &["stale"], 0, 0, 0, &[]),
        sub("meet", -4, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("myid", 2, &["stale"], 0, 0, 0, &[]),
        sub("nodes", 2, &["stale"], 0, 0, 0, &[]),
        sub("replicas", 3, &["admin", "stale"], 0, 0, 0, &[]),
        sub("replicate", 3, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("reset", -2, &["admin", "noscript", "stale"], 0, 0, 0, &[]),
        sub("saveconfig", 2, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("set-config-epoch", 3, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("setslot", -4, &["admin", "stale", "no_async_loading"], 0, 0, 0, &[]),
        sub("shards", 2, &["stale"], 0, 0, 0, &[]),
        sub("slaves", 3, &["admin", "stale"], 0, 0, 0, &[]),
        sub("slots", 2, &["stale"], 0, 0, 0, &[]),
    ];
    const MODULE: &[Sub] = &[
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &[]),
        sub("list", 2, &["admin", "noscript"], 0, 0, 0, &[]),
        sub("load", -3, &["admin", "noscript", "no_async_loading"], 0, 0, 0, &[]),
        sub("loadex", -3, &["admin", "noscript", "no_async_loading"], 0, 0, 0, &[]),
        sub("unload", 3, &["admin", "noscript", "no_async_loading"], 0, 0, 0, &[]),
    ];
    const ACL: &[Sub] = &[
        sub("cat", -2, &["noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("deluser", -3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("dryrun", -4, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("genpass", -2, &["noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("getuser", 3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("help", 2, &["loading", "stale"], 0, 0, 0, &[]),
        sub("list", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("load", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("log", -2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("save", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("setuser", -3, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("users", 2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, &[]),
        sub("whoami", 2, &["noscript", "loading", "stale"], 0, 0, 0, &[]),
    ];

    const NONE: &[Sub] = &[];
    let groups: [(&str, &[Sub]); 13] = [
        ("config", CONFIG),
        ("client", CLIENT),
        ("command", COMMAND),
        ("object", OBJECT),
        ("memory", MEMORY),
        ("script", SCRIPT),
        ("function", FUNCTION),
        ("pubsub", PUBSUB),
        ("slowlog", SLOWLOG),
        ("latency", LATENCY),
        ("cluster", CLUSTER),
        ("module", MODULE),
        ("acl", ACL),
    ];
    let mut i = 0;
    while i < groups.len() {
        if has_flag(&[groups[i].0], name) {
            return groups[i].1;
        }
        i += 1;
    }
    NONE
}

/// Redis 7.0's refusal of subcommand `sub` of `container`: one it has with
/// the wrong number of arguments (`known`), or one it does not have (named
/// as sent, cut at 128 bytes).
pub fn subcommand_message(container: &str, sub: &[u8], known: bool) -> String {
    let shown = String::from_utf8_lossy(&sub[..sub.len().min(128)]);
    if known {
        format!(
            "ERR wrong number of arguments for '{container}|{}' command",
            shown.to_lowercase()
        )
    } else {
        format!(
            "ERR unknown subcommand '{shown}'. Try {} HELP.",
            container.to_uppercase()
        )
    }
}

/// Whether `argc` arguments (the name included) satisfy Redis arity `arity`.
pub fn arity_allows(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

const fn watch_rule(name: &str) -> WatchTouch {
    if has_flag(PRECISE_WRITERS, name) {
        WatchTouch::Precise
    } else if has_flag(ZERO_IS_NOTHING, name) {
        WatchTouch::UnlessZero
    } else if has_flag(NONE_IS_NOTHING, name) {
        WatchTouch::UnlessNone
    } else {
        WatchTouch::Keys
    }
}

impl Command {
    pub fn arity_ok(&self, argc: usize) -> bool {
        arity_allows(self.arity, argc)
    }
    /// A container Redis lists as one (no flags, keys or categories of its
    /// own but @slow): one that cannot run without a subcommand. COMMAND,
    /// which can, is a command with subcommands.
    pub fn is_pure_container(&self) -> bool {
        !self.subcommands.is_empty() && self.arity == -2 && self.parent.is_none()
    }
    /// Redis's refusal of a container's subcommand before it runs: unknown
    /// (named as sent), or with the wrong number of arguments.
    pub fn subcommand_error(&self, args: Args) -> Option<String> {
        if self.subcommands.is_empty() || args.len() < 2 {
            return None;
        }
        let sub = args.get(1);
        match self.find_sub(sub) {
            None => Some(subcommand_message(self.name, sub, false)),
            Some(s) if !arity_allows(self.subcommands[s].arity, args.len()) => {
                Some(subcommand_message(self.name, sub, true))
            }
            Some(_) => None,
        }
    }
    /// The position of subcommand `sub` (any case) among this container's.
    pub fn find_sub(&self, sub: &[u8]) -> Option<usize> {
        self.subcommands
            .iter()
            .position(|s| sub.eq_ignore_ascii_case(s.name.as_bytes()))
    }
    /// The entry a call runs under: for a container's known subcommand
    /// the subcommand's (the container's, with the subcommand's flags,
    /// keys and categories), else this one.
    pub fn for_sub(&'static self, args: Args) -> &'static Command {
        if self.subcommands.is_empty() || args.len() < 2 {
            return self;
        }
        match self.find_sub(args.get(1)) {
            Some(s) => self.sub_entry(s),
            None => self,
        }
    }
    /// Subcommand `s`'s entry (`for_sub`); this one if there is none.
    pub fn sub_entry(&'static self, s: usize) -> &'static Command {
        let i = index_of(self);
        SUB_ENTRIES
            .get(i)
            .and_then(|subs| subs.get(s))
            .unwrap_or(self)
    }
    #[inline]
    pub fn is_blocking(&self) -> bool {
        self.blocking
    }
    #[inline]
    pub fn is_write(&self) -> bool {
        self.write
    }
    /// A write command, or a script that may write (EVAL, EVALSHA): what
    /// a coordinator must write back and replicate.
    pub fn may_write(&self) -> bool {
        self.write || (self.script && !self.flags.contains(&"readonly"))
    }
    /// Declare the keys as following a numkeys argument at `at`.
    pub const fn numkeys(mut self, at: usize) -> Command {
        self.numkeys_at = at;
        self
    }

    /// Declare a key found by scanning the options.
    pub const fn option_key(mut self, f: fn(Args) -> Option<usize>) -> Command {
        self.option_key = Some(f);
        self
    }

    /// Declare keys an option names instead of the fixed key.
    pub const fn option_keys(mut self, f: OptionKeysFn) -> Command {
        self.option_keys = Some(f);
        self
    }

    /// The key's index when the command has exactly one, at a fixed
    /// position (GET, SET, INCR, HSET...): routing then needs no iterator
    /// over key specs, which cost more than the key's CRC16.
    #[inline]
    pub fn only_key(&self, argc: usize) -> Option<usize> {
        let first = self.first_key;
        (first > 0
            && self.last_key == first
            && self.numkeys_at == 0
            && self.option_key.is_none()
            && self.option_keys.is_none()
            && (first as usize) < argc)
            .then_some(first as usize)
    }

    /// Indices of all key arguments of a concrete invocation: the fixed
    /// positions plus the keys after numkeys. An invalid numkeys (not a
    /// positive integer, or more keys than arguments) yields no extra keys:
    /// the command then runs where it was received and reports the error.
    pub fn keys_of<'a>(&self, a: Args<'a>) -> impl Iterator<Item = usize> + 'a {
        let argc = a.len();
        let moved = self.option_keys.and_then(|f| f(a));
        // Keys an option names replace the fixed one.
        let fixed = self.key_indices(if moved.is_some() { 0 } else { argc });
        let at = self.numkeys_at;
        let extra = if let Some(keys) = moved {
            keys
        } else if at == 0 || at >= argc {
            0..0
        } else {
            match crate::protocol::parse_i64(a.get(at)) {
                Some(n) if n > 0 && (n as u64) < (argc - at) as u64 => {
                    (at + 1)..(at + 1 + n as usize)
                }
                _ => 0..0,
            }
        };
        let option = self.option_key.and_then(|f| f(a));
        fixed.chain(extra).chain(option)
    }

    /// Indices of the key arguments at fixed positions.
    pub fn key_indices(&self, argc: usize) -> impl Iterator<Item = usize> {
        let first = self.first_key.max(0) as usize;
        let last = if self.last_key < 0 {
            argc as i64 + self.last_key as i64
        } else {
            self.last_key as i64
        };
        let step = self.step.max(1) as usize;
        let end = if first == 0 {
            0
        } else {
            (last.max(0) as usize + 1).min(argc)
        };
        (first..end.max(first)).step_by(step)
    }
}

const W: &[&str] = &["write", "denyoom"];
const WF: &[&str] = &["write", "denyoom", "fast"];
const WD: &[&str] = &["write"];
const WDF: &[&str] = &["write", "fast"];
const R: &[&str] = &["readonly"];
const RF: &[&str] = &["readonly", "fast"];
const ADMIN: &[&str] = &["admin", "noscript", "loading", "stale"];
const REPLICAOF: &[&str] = &["admin", "noscript", "stale", "no_async_loading"];

macro_rules! cmd {
    ($name:expr, $arity:expr, $flags:expr, $fk:expr, $lk:expr, $st:expr, $kind:expr, $group:expr, $since:expr, $acl:expr, $summary:expr) => {
        Command {
            name: $name,
            full_name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $fk,
            last_key: $lk,
            step: $st,
            kind: $kind,
            group: $group,
            since: $since,
            summary: $summary,
            acl: $acl,
            numkeys_at: 0,
            option_key: None,
            option_keys: None,
            denyoom: has_flag($flags, "denyoom"),
            no_multi: has_flag($flags, "no_multi"),
            write: has_flag($flags, "write"),
            blocking: has_flag($flags, "blocking"),
            subcommands: subcommands_of($name),
            parent: None,
            fast: has_flag($flags, "fast")
                || has_flag(
                    &[
                        "set", "mset", "msetnx", "setex", "psetex", "getset", "getex", "getdel",
                        "append",
                    ],
                    $name,
                ),
            stale: has_flag($flags, "stale"),
            loading: has_flag($flags, "loading"),
            watch: watch_rule($name),
            pattern_keys: has_flag(&["sort", "sort_ro"], $name),
            script: has_flag(
                &[
                    "eval",
                    "evalsha",
                    "eval_ro",
                    "evalsha_ro",
                    "fcall",
                    "fcall_ro",
                ],
                $name,
            ),
        }
    };
}

use Kind::*;

const S: &[&str] = &["@string"];
const K: &[&str] = &["@keyspace"];
const KD: &[&str] = &["@keyspace", "@dangerous"];
const SORT: &[&str] = &["@set", "@sortedset", "@list", "@dangerous"];
const C: &[&str] = &["@connection"];
const SV: &[&str] = &["@admin", "@dangerous"];
const PS: &[&str] = &["@pubsub"];
const H: &[&str] = &["@hash"];
const ST: &[&str] = &["@set"];
const L: &[&str] = &["@list"];
const Z: &[&str] = &["@sortedset"];
const G: &[&str] = &["@geo"];
const HLL: &[&str] = &["@hyperloglog"];
const RM: &[&str] = &["readonly", "movablekeys"];
const SC: &[&str] = &["@scripting"];
const SCRIPT_RW: &[&str] = &[
    "noscript",
    "stale",
    "skip_monitor",
    "may_replicate",
    "no_mandatory_keys",
    "movablekeys",
];
const SCRIPT_RO: &[&str] = &[
    "noscript",
    "stale",
    "skip_monitor",
    "no_mandatory_keys",
    "movablekeys",
    "readonly",
];
const WM: &[&str] = &["write", "movablekeys"];
const WDM: &[&str] = &["write", "denyoom", "movablekeys"];

pub static COMMANDS: &[Command] = &[
    // strings
    cmd!("get", 2, RF, 1, 1, 1, Keyed(string::get), "string", "1.0.0", S, "Returns the string value of a key."),
    cmd!("set", -3, W, 1, 1, 1, Keyed(string::set), "string", "1.0.0", S, "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    cmd!("setnx", 3, WF, 1, 1, 1, Keyed(string::setnx), "string", "1.0.0", S, "Set the string value of a key only when the key doesn't exist."),
    cmd!("setex", 4, W, 1, 1, 1, Keyed(string::setex), "string", "2.0.0", S, "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."),
    cmd!("psetex", 4, W, 1, 1, 1, Keyed(string::psetex), "string", "2.6.0", S, "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist."),
    cmd!("getset", 3, WF, 1, 1, 1, Keyed(string::getset), "string", "1.0.0", S, "Returns the previous string value of a key after setting it to a new value."),
    cmd!("getdel", 2, WDF, 1, 1, 1, Keyed(string::getdel), "string", "6.2.0", S, "Returns the string value of a key after deleting the key."),
    cmd!("getex", -2, WDF, 1, 1, 1, Keyed(string::getex), "string", "6.2.0", S, "Returns the string value of a key after setting its expiration time."),
    cmd!("append", 3, WF, 1, 1, 1, Keyed(string::append), "string", "2.0.0", S, "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    cmd!("strlen", 2, RF, 1, 1, 1, Keyed(string::strlen), "string", "2.2.0", S, "Returns the length of a string value."),
    cmd!("incr", 2, WF, 1, 1, 1, Keyed(string::incr), "string", "1.0.0", S, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    cmd!("decr", 2, WF, 1, 1, 1, Keyed(string::decr), "string", "1.0.0", S, "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    cmd!("incrby", 3, WF, 1, 1, 1, Keyed(string::incrby), "string", "1.0.0", S, "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    cmd!("decrby", 3, WF, 1, 1, 1, Keyed(string::decrby), "string", "1.0.0", S, "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."),
    cmd!("incrbyfloat", 3, WF, 1, 1, 1, Keyed(string::incrbyfloat), "string", "2.6.0", S, "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    cmd!("getrange", 4, R, 1, 1, 1, Keyed(string::getrange), "string", "2.4.0", S, "Returns a substring of the string stored at a key."),
    cmd!("substr", 4, R, 1, 1, 1, Keyed(string::getrange), "string", "1.0.0", S, "Returns a substring from a string value."),
    cmd!("setrange", 4, W, 1, 1, 1, Keyed(string::setrange), "string", "2.2.0", S, "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    cmd!("mget", -2, RF, 1, -1, 1, Multi(string::mget, Multi::MGet), "string", "1.0.0", S, "Atomically returns the string values of one or more keys."),
    cmd!("mset", -3, W, 1, -1, 2, Multi(string::mset, Multi::MSet), "string", "1.0.1", S, "Atomically creates or modifies the string values of one or more keys."),
    cmd!("msetnx", -3, W, 1, -1, 2, Multi(string::msetnx, Multi::MSetNx), "string", "1.0.1", S, "Atomically modifies the string values of one or more keys only when all keys don't exist."),
    cmd!("lcs", -3, R, 1, 2, 1, Keyed(string::lcs), "string", "7.0.0", S, "Finds the longest common substring."),
    cmd!("sort", -2, WDM, 1, 1, 1, Keyed(sort::sort), "generic", "1.0.0", SORT, "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.").option_key(sort::store_key),
    cmd!("sort_ro", -2, &["readonly", "movablekeys"], 1, 1, 1, Keyed(sort::sort_ro), "generic", "7.0.0", SORT, "Returns the sorted elements of a list, a set, or a sorted set."),
    cmd!("setbit", 4, W, 1, 1, 1, Keyed(bitops::setbit), "bitmap", "2.2.0", &["@bitmap"], "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."),
    cmd!("getbit", 3, RF, 1, 1, 1, Keyed(bitops::getbit), "bitmap", "2.2.0", &["@bitmap"], "Returns a bit value by offset."),
    cmd!("bitcount", -2, R, 1, 1, 1, Keyed(bitops::bitcount), "bitmap", "2.6.0", &["@bitmap"], "Counts the number of set bits (population counting) in a string."),
    cmd!("bitpos", -3, R, 1, 1, 1, Keyed(bitops::bitpos), "bitmap", "2.8.7", &["@bitmap"], "Finds the first set (1) or clear (0) bit in a string."),
    cmd!("bitop", -4, W, 2, -1, 1, Keyed(bitops::bitop), "bitmap", "2.6.0", &["@bitmap"], "Performs bitwise operations on multiple strings, and stores the result."),
    cmd!("bitfield", -2, W, 1, 1, 1, Keyed(bitops::bitfield), "bitmap", "3.2.0", &["@bitmap"], "Performs arbitrary bitfield integer operations on strings."),
    cmd!("bitfield_ro", -2, RF, 1, 1, 1, Keyed(bitops::bitfield_ro), "bitmap", "6.0.0", &["@bitmap"], "Performs arbitrary read-only bitfield integer operations on strings."),
    // hashes
    cmd!("hset", -4, WF, 1, 1, 1, Keyed(hash::hset), "hash", "2.0.0", H, "Set the string value of a hash field"),
    cmd!("hsetnx", 4, WF, 1, 1, 1, Keyed(hash::hsetnx), "hash", "2.0.0", H, "Set the value of a hash field, only if the field does not exist"),
    cmd!("hget", 3, RF, 1, 1, 1, Keyed(hash::hget), "hash", "2.0.0", H, "Get the value of a hash field"),
    cmd!("hmget", -3, RF, 1, 1, 1, Keyed(hash::hmget), "hash", "2.0.0", H, "Get the values of all the given hash fields"),
    cmd!("hmset", -4, WF, 1, 1, 1, Keyed(hash::hmset), "hash", "2.0.0", H, "Set multiple hash fields to multiple values"),
    cmd!("hgetall", 2, R, 1, 1, 1, Keyed(hash::hgetall), "hash", "2.0.0", H, "Get all the fields and values in a hash"),
    cmd!("hdel", -3, WDF, 1, 1, 1, Keyed(hash::hdel), "hash", "2.0.0", H, "Delete one or more hash fields"),
    cmd!("hlen", 2, RF, 1, 1, 1, Keyed(hash::hlen), "hash", "2.0.0", H, "Get the number of fields in a hash"),
    cmd!("hexists", 3, RF, 1, 1, 1, Keyed(hash::hexists), "hash", "2.0.0", H, "Determine if a hash field exists"),
    cmd!("hkeys", 2, R, 1, 1, 1, Keyed(hash::hkeys), "hash", "2.0.0", H, "Get all the fields in a hash"),
    cmd!("hvals", 2, R, 1, 1, 1, Keyed(hash::hvals), "hash", "2.0.0", H, "Get all the values in a hash"),
    cmd!("hincrby", 4, WF, 1, 1, 1, Keyed(hash::hincrby), "hash", "2.0.0", H, "Increment the integer value of a hash field by the given number"),
    cmd!("hincrbyfloat", 4, WF, 1, 1, 1, Keyed(hash::hincrbyfloat), "hash", "2.6.0", H, "Increment the float value of a hash field by the given amount"),
    cmd!("hstrlen", 3, RF, 1, 1, 1, Keyed(hash::hstrlen), "hash", "3.2.0", H, "Get the length of the value of a hash field"),
    cmd!("hrandfield", -2, R, 1, 1, 1, Keyed(hash::hrandfield), "hash", "6.2.0", H, "Get one or multiple random fields from a hash"),
    cmd!("hscan", -3, R, 1, 1, 1, Keyed(hash::hscan), "hash", "2.8.0", H, "Incrementally iterate hash fields and associated values"),
    // sets
    cmd!("sadd", -3, WF, 1, 1, 1, Keyed(set::sadd), "set", "1.0.0", ST, "Add one or more members to a set"),
    cmd!("srem", -3, WDF, 1, 1, 1, Keyed(set::srem), "set", "1.0.0", ST, "Remove one or more members from a set"),
    cmd!("scard", 2, RF, 1, 1, 1, Keyed(set::scard), "set", "1.0.0", ST, "Get the number of members in a set"),
    cmd!("sismember", 3, RF, 1, 1, 1, Keyed(set::sismember), "set", "1.0.0", ST, "Determine if a given value is a member of a set"),
    cmd!("smismember", -3, RF, 1, 1, 1, Keyed(set::smismember), "set", "6.2.0", ST, "Returns the membership associated with the given elements for a set"),
    cmd!("smembers", 2, R, 1, 1, 1, Keyed(set::smembers), "set", "1.0.0", ST, "Get all the members in a set"),
    cmd!("spop", -2, WDF, 1, 1, 1, Keyed(set::spop), "set", "1.0.0", ST, "Remove and return one or multiple random members from a set"),
    cmd!("srandmember", -2, R, 1, 1, 1, Keyed(set::srandmember), "set", "1.0.0", ST, "Get one or multiple random members from a set"),
    cmd!("smove", 4, WDF, 1, 2, 1, Keyed(set::smove), "set", "1.0.0", ST, "Move a member from one set to another"),
    cmd!("sinter", -2, R, 1, -1, 1, Keyed(set::sinter), "set", "1.0.0", ST, "Intersect multiple sets"),
    cmd!("sintercard", -3, &["readonly", "movablekeys"], 0, 0, 0, Keyed(set::sintercard), "set", "7.0.0", ST, "Intersect multiple sets and return the cardinality of the result").numkeys(1),
    cmd!("sinterstore", -3, W, 1, -1, 1, Keyed(set::sinterstore), "set", "1.0.0", ST, "Intersect multiple sets and store the resulting set in a key"),
    cmd!("sunion", -2, R, 1, -1, 1, Keyed(set::sunion), "set", "1.0.0", ST, "Add multiple sets"),
    cmd!("sunionstore", -3, W, 1, -1, 1, Keyed(set::sunionstore), "set", "1.0.0", ST, "Add multiple sets and store the resulting set in a key"),
    cmd!("sdiff", -2, R, 1, -1, 1, Keyed(set::sdiff), "set", "1.0.0", ST, "Subtract multiple sets"),
    cmd!("sdiffstore", -3, W, 1, -1, 1, Keyed(set::sdiffstore), "set", "1.0.0", ST, "Subtract multiple sets and store the resulting set in a key"),
    cmd!("sscan", -3, R, 1, 1, 1, Keyed(set::sscan), "set", "2.8.0", ST, "Incrementally iterate Set elements"),
    // lists
    cmd!("lpush", -3, WF, 1, 1, 1, Keyed(list::lpush), "list", "1.0.0", L, "Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    cmd!("rpush", -3, WF, 1, 1, 1, Keyed(list::rpush), "list", "1.0.0", L, "Appends one or more elements to a list. Creates the key if it doesn't exist."),
    cmd!("lpushx", -3, WF, 1, 1, 1, Keyed(list::lpushx), "list", "2.2.0", L, "Prepends one or more elements to a list only when the list exists."),
    cmd!("rpushx", -3, WF, 1, 1, 1, Keyed(list::rpushx), "list", "2.2.0", L, "Appends an element to a list only when the list exists."),
    cmd!("lpop", -2, WDF, 1, 1, 1, Keyed(list::lpop), "list", "1.0.0", L, "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    cmd!("rpop", -2, WDF, 1, 1, 1, Keyed(list::rpop), "list", "1.0.0", L, "Returns and removes the last elements of a list. Deletes the list if the last element was popped."),
    cmd!("llen", 2, RF, 1, 1, 1, Keyed(list::llen), "list", "1.0.0", L, "Returns the length of a list."),
    cmd!("lrange", 4, R, 1, 1, 1, Keyed(list::lrange), "list", "1.0.0", L, "Returns a range of elements from a list."),
    cmd!("lindex", 3, R, 1, 1, 1, Keyed(list::lindex), "list", "1.0.0", L, "Returns an element from a list by its index."),
    cmd!("lset", 4, W, 1, 1, 1, Keyed(list::lset), "list", "1.0.0", L, "Sets the value of an element in a list by its index."),
    cmd!("linsert", 5, W, 1, 1, 1, Keyed(list::linsert), "list", "2.2.0", L, "Inserts an element before or after another element in a list."),
    cmd!("lrem", 4, WD, 1, 1, 1, Keyed(list::lrem), "list", "1.0.0", L, "Removes elements from a list. Deletes the list if the last element was removed."),
    cmd!("ltrim", 4, WD, 1, 1, 1, Keyed(list::ltrim), "list", "1.0.0", L, "Removes elements from both ends a list. Deletes the list if all elements were trimmed."),
    cmd!("lpos", -3, R, 1, 1, 1, Keyed(list::lpos), "list", "6.0.6", L, "Returns the index of matching elements in a list."),
    cmd!("lmove", 5, W, 1, 2, 1, Keyed(list::lmove), "list", "6.2.0", L, "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved."),
    cmd!("rpoplpush", 3, W, 1, 2, 1, Keyed(list::rpoplpush), "list", "1.2.0", L, "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped."),
    cmd!("lmpop", -4, WM, 0, 0, 0, Keyed(list::lmpop), "list", "7.0.0", L, "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.").numkeys(1),
    // blocking pops (commands/blocking.rs; the waiting is reactor/blocking.rs)
    cmd!("blpop", -3, &["write", "noscript", "blocking"], 1, -2, 1, Keyed(blocking::blpop), "list", "2.0.0", L, "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    cmd!("brpop", -3, &["write", "noscript", "blocking"], 1, -2, 1, Keyed(blocking::brpop), "list", "2.0.0", L, "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    cmd!("brpoplpush", 4, &["write", "denyoom", "noscript", "blocking"], 1, 2, 1, Keyed(blocking::brpoplpush), "list", "2.2.0", L, "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."),
    cmd!("blmove", 6, &["write", "denyoom", "noscript", "blocking"], 1, 2, 1, Keyed(blocking::blmove), "list", "6.2.0", L, "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."),
    cmd!("blmpop", -5, &["write", "blocking", "movablekeys"], 0, 0, 0, Keyed(blocking::blmpop), "list", "7.0.0", L, "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.").numkeys(2),
    cmd!("bzpopmin", -3, &["write", "noscript", "blocking", "fast"], 1, -2, 1, Keyed(blocking::bzpopmin), "sorted-set", "5.0.0", Z, "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    cmd!("bzpopmax", -3, &["write", "noscript", "blocking", "fast"], 1, -2, 1, Keyed(blocking::bzpopmax), "sorted-set", "5.0.0", Z, "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped."),
    cmd!("bzmpop", -5, &["write", "blocking", "movablekeys"], 0, 0, 0, Keyed(blocking::bzmpop), "sorted-set", "7.0.0", Z, "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.").numkeys(2),
    // sorted sets
    cmd!("zadd", -4, WF, 1, 1, 1, Keyed(zset::zadd), "sorted-set", "1.2.0", Z, "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    cmd!("zincrby", 4, WF, 1, 1, 1, Keyed(zset::zincrby), "sorted-set", "1.2.0", Z, "Increments the score of a member in a sorted set."),
    cmd!("zrem", -3, WDF, 1, 1, 1, Keyed(zset::zrem), "sorted-set", "1.2.0", Z, "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    cmd!("zcard", 2, RF, 1, 1, 1, Keyed(zset::zcard), "sorted-set", "1.2.0", Z, "Returns the number of members in a sorted set."),
    cmd!("zscore", 3, RF, 1, 1, 1, Keyed(zset::zscore), "sorted-set", "1.2.0", Z, "Returns the score of a member in a sorted set."),
    cmd!("zmscore", -3, RF, 1, 1, 1, Keyed(zset::zmscore), "sorted-set", "6.2.0", Z, "Returns the score of one or more members in a sorted set."),
    cmd!("zrank", 3, RF, 1, 1, 1, Keyed(zset::zrank), "sorted-set", "2.0.0", Z, "Returns the index of a member in a sorted set ordered by ascending scores."),
    cmd!("zrevrank", 3, RF, 1, 1, 1, Keyed(zset::zrevrank), "sorted-set", "2.0.0", Z, "Returns the index of a member in a sorted set ordered by descending scores."),
    cmd!("zcount", 4, RF, 1, 1, 1, Keyed(zset::zcount), "sorted-set", "2.0.0", Z, "Returns the count of members in a sorted set that have scores within a range."),
    cmd!("zlexcount", 4, RF, 1, 1, 1, Keyed(zset::zlexcount), "sorted-set", "2.8.9", Z, "Returns the number of members in a sorted set within a lexicographical range."),
    cmd!("zrange", -4, R, 1, 1, 1, Keyed(zset::zrange), "sorted-set", "1.2.0", Z, "Returns members in a sorted set within a range of indexes."),
    cmd!("zrangestore", -5, W, 1, 2, 1, Keyed(zset::zrangestore), "sorted-set", "6.2.0", Z, "Stores a range of members from sorted set in a key."),
    cmd!("zrevrange", -4, R, 1, 1, 1, Keyed(zset::zrevrange), "sorted-set", "1.2.0", Z, "Returns members in a sorted set within a range of indexes in reverse order."),
    cmd!("zrangebyscore", -4, R, 1, 1, 1, Keyed(zset::zrangebyscore), "sorted-set", "1.0.5", Z, "Returns members in a sorted set within a range of scores."),
    cmd!("zrevrangebyscore", -4, R, 1, 1, 1, Keyed(zset::zrevrangebyscore), "sorted-set", "2.2.0", Z, "Returns members in a sorted set within a range of scores in reverse order."),
    cmd!("zrangebylex", -4, R, 1, 1, 1, Keyed(zset::zrangebylex), "sorted-set", "2.8.9", Z, "Returns members in a sorted set within a lexicographical range."),
    cmd!("zrevrangebylex", -4, R, 1, 1, 1, Keyed(zset::zrevrangebylex), "sorted-set", "2.8.9", Z, "Returns members in a sorted set within a lexicographical range in reverse order."),
    cmd!("zremrangebyrank", 4, WD, 1, 1, 1, Keyed(zset::zremrangebyrank), "sorted-set", "2.0.0", Z, "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    cmd!("zremrangebyscore", 4, WD, 1, 1, 1, Keyed(zset::zremrangebyscore), "sorted-set", "1.2.0", Z, "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    cmd!("zremrangebylex", 4, WD, 1, 1, 1, Keyed(zset::zremrangebylex), "sorted-set", "2.8.9", Z, "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    cmd!("zpopmin", -2, WDF, 1, 1, 1, Keyed(zset::zpopmin), "sorted-set", "5.0.0", Z, "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    cmd!("zpopmax", -2, WDF, 1, 1, 1, Keyed(zset::zpopmax), "sorted-set", "5.0.0", Z, "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    cmd!("zmpop", -4, WM, 0, 0, 0, Keyed(zset::zmpop), "sorted-set", "7.0.0", Z, "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.").numkeys(1),
    cmd!("zrandmember", -2, R, 1, 1, 1, Keyed(zset::zrandmember), "sorted-set", "6.2.0", Z, "Returns one or more random members from a sorted set."),
    cmd!("zscan", -3, R, 1, 1, 1, Keyed(zset::zscan), "sorted-set", "2.8.0", Z, "Iterates over members and scores of a sorted set."),
    cmd!("zunion", -3, RM, 0, 0, 0, Keyed(zset::zunion), "sorted-set", "6.2.0", Z, "Returns the union of multiple sorted sets.").numkeys(1),
    cmd!("zinter", -3, RM, 0, 0, 0, Keyed(zset::zinter), "sorted-set", "6.2.0", Z, "Returns the intersect of multiple sorted sets.").numkeys(1),
    cmd!("zdiff", -3, RM, 0, 0, 0, Keyed(zset::zdiff), "sorted-set", "6.2.0", Z, "Returns the difference between multiple sorted sets.").numkeys(1),
    cmd!("zintercard", -3, RM, 0, 0, 0, Keyed(zset::zintercard), "sorted-set", "7.0.0", Z, "Returns the number of members of the intersect of multiple sorted sets.").numkeys(1),
    cmd!("zunionstore", -4, WDM, 1, 1, 1, Keyed(zset::zunionstore), "sorted-set", "2.0.0", Z, "Stores the union of multiple sorted sets in a key.").numkeys(2),
    cmd!("zinterstore", -4, WDM, 1, 1, 1, Keyed(zset::zinterstore), "sorted-set", "2.0.0", Z, "Stores the intersect of multiple sorted sets in a key.").numkeys(2),
    cmd!("zdiffstore", -4, WDM, 1, 1, 1, Keyed(zset::zdiffstore), "sorted-set", "6.2.0", Z, "Stores the difference of multiple sorted sets in a key.").numkeys(2),
    // geo (sorted sets whose scores are geohashes)
    cmd!("geoadd", -5, W, 1, 1, 1, Keyed(geo::geoadd), "geo", "3.2.0", G, "Adds one or more members to a geospatial index. The key is created if it doesn't exist."),
    cmd!("geodist", -4, R, 1, 1, 1, Keyed(geo::geodist), "geo", "3.2.0", G, "Returns the distance between two members of a geospatial index."),
    cmd!("geohash", -2, R, 1, 1, 1, Keyed(geo::geohash_cmd), "geo", "3.2.0", G, "Returns members from a geospatial index as geohash strings."),
    cmd!("geopos", -2, R, 1, 1, 1, Keyed(geo::geopos), "geo", "3.2.0", G, "Returns the longitude and latitude of members from a geospatial index."),
    cmd!("georadius", -6, WDM, 1, 1, 1, Keyed(geo::georadius), "geo", "3.2.0", G, "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.").option_key(geo::georadius_store_key),
    cmd!("georadius_ro", -6, R, 1, 1, 1, Keyed(geo::georadius_ro), "geo", "3.2.10", G, "Returns members from a geospatial index that are within a distance from a coordinate."),
    cmd!("georadiusbymember", -5, WDM, 1, 1, 1, Keyed(geo::georadiusbymember), "geo", "3.2.0", G, "Queries a geospatial index for members within a distance from a member, optionally stores the result.").option_key(geo::georadiusbymember_store_key),
    cmd!("georadiusbymember_ro", -5, R, 1, 1, 1, Keyed(geo::georadiusbymember_ro), "geo", "3.2.10", G, "Returns members from a geospatial index that are within a distance from a member."),
    cmd!("geosearch", -7, R, 1, 1, 1, Keyed(geo::geosearch), "geo", "6.2.0", G, "Queries a geospatial index for members inside an area of a box or a circle."),
    cmd!("geosearchstore", -8, W, 1, 2, 1, Keyed(geo::geosearchstore), "geo", "6.2.0", G, "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result."),
    // hyperloglog (string values in Redis's HLL format)
    cmd!("pfadd", -2, WF, 1, 1, 1, Keyed(hll::pfadd), "hyperloglog", "2.8.9", HLL, "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."),
    cmd!("pfcount", -2, &["readonly", "may_replicate"], 1, -1, 1, Keyed(hll::pfcount), "hyperloglog", "2.8.9", HLL, "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s)."),
    cmd!("pfmerge", -2, W, 1, -1, 1, Keyed(hll::pfmerge), "hyperloglog", "2.8.9", HLL, "Merges one or more HyperLogLog values into a single key."),
    cmd!("pfdebug", 3, &["write", "denyoom", "admin"], 2, 2, 1, Keyed(hll::pfdebug), "hyperloglog", "2.8.9", HLL, "Internal commands for debugging HyperLogLog values."),
    cmd!("pfselftest", 1, &["admin"], 0, 0, 0, Conn(hll::pfselftest), "hyperloglog", "2.8.9", HLL, "An internal command for testing HyperLogLog values."),
    // keys
    cmd!("del", -2, WD, 1, -1, 1, Multi(keys::del, Multi::Del), "generic", "1.0.0", K, "Deletes one or more keys."),
    cmd!("unlink", -2, WDF, 1, -1, 1, Multi(keys::del, Multi::Del), "generic", "4.0.0", K, "Asynchronously deletes one or more keys."),
    cmd!("exists", -2, RF, 1, -1, 1, Multi(keys::exists, Multi::Exists), "generic", "1.0.0", K, "Determines whether one or more keys exist."),
    cmd!("touch", -2, RF, 1, -1, 1, Multi(keys::touch, Multi::Touch), "generic", "3.2.1", K, "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    cmd!("type", 2, RF, 1, 1, 1, Keyed(keys::type_), "generic", "1.0.0", K, "Determines the type of value stored at a key."),
    cmd!("expire", -3, WDF, 1, 1, 1, Keyed(keys::expire), "generic", "1.0.0", K, "Sets the expiration time of a key in seconds."),
    cmd!("pexpire", -3, WDF, 1, 1, 1, Keyed(keys::pexpire), "generic", "2.6.0", K, "Sets the expiration time of a key in milliseconds."),
    cmd!("expireat", -3, WDF, 1, 1, 1, Keyed(keys::expireat), "generic", "1.2.0", K, "Sets the expiration time of a key to a Unix timestamp."),
    cmd!("pexpireat", -3, WDF, 1, 1, 1, Keyed(keys::pexpireat), "generic", "2.6.0", K, "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    cmd!("ttl", 2, RF, 1, 1, 1, Keyed(keys::ttl), "generic", "1.0.0", K, "Returns the expiration time in seconds of a key."),
    cmd!("pttl", 2, RF, 1, 1, 1, Keyed(keys::pttl), "generic", "2.6.0", K, "Returns the expiration time in milliseconds of a key."),
    cmd!("expiretime", 2, RF, 1, 1, 1, Keyed(keys::expiretime), "generic", "7.0.0", K, "Returns the expiration time of a key as a Unix timestamp."),
    cmd!("pexpiretime", 2, RF, 1, 1, 1, Keyed(keys::pexpiretime), "generic", "7.0.0", K, "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    cmd!("persist", 2, WDF, 1, 1, 1, Keyed(keys::persist), "generic", "2.2.0", K, "Removes the expiration time of a key."),
    cmd!("rename", 3, WD, 1, 2, 1, Multi(keys::rename, Multi::Rename), "generic", "1.0.0", K, "Renames a key and overwrites the destination."),
    cmd!("renamenx", 3, WDF, 1, 2, 1, Multi(keys::renamenx, Multi::RenameNx), "generic", "1.0.0", K, "Renames a key only when the target key name doesn't exist."),
    cmd!("copy", -3, W, 1, 2, 1, Multi(keys::copy, Multi::Copy), "generic", "6.2.0", K, "Copies the value of a key to a new key."),
    cmd!("move", 3, WDF, 1, 1, 1, Keyed(keys::move_), "generic", "1.0.0", K, "Moves a key to another database."),
    cmd!("object", -2, R, 2, 2, 1, Keyed(keys::object), "generic", "2.2.3", K, "A container for object introspection commands."),
    cmd!("dump", 2, R, 1, 1, 1, Keyed(keys::dump), "generic", "2.6.0", K, "Returns a serialized representation of the value stored at a key."),
    cmd!("migrate", -6, &["write", "movablekeys"], 3, 3, 1, Keyed(migrate::migrate), "generic", "2.6.0", KD, "Moves keys to another Redis server, atomically: restored there, then deleted here.").option_keys(migrate::keys),
    cmd!("restore", -4, W, 1, 1, 1, Keyed(keys::restore), "generic", "2.6.0", KD, "Creates a key from the serialized representation of a value."),
    cmd!("memory", -2, R, 2, 2, 1, Conn(memory::memory), "server", "4.0.0", &["@slow"], "A container for memory diagnostics commands."),
    cmd!("keys", 2, R, 0, 0, 0, All(AllOp::Keys), "generic", "1.0.0", KD, "Returns all key names that match a pattern."),
    cmd!("scan", -2, R, 0, 0, 0, All(AllOp::Scan), "generic", "2.8.0", K, "Iterates over the key names in the database."),
    cmd!("randomkey", 1, R, 0, 0, 0, All(AllOp::RandomKey), "generic", "1.0.0", K, "Returns a random key name from the database."),
    cmd!("dbsize", 1, RF, 0, 0, 0, All(AllOp::DbSize), "server", "1.0.0", K, "Returns the number of keys in the database."),
    cmd!("flushdb", -1, WD, 0, 0, 0, All(AllOp::FlushDb), "server", "1.0.0", KD, "Remove all keys from the current database."),
    cmd!("flushall", -1, WD, 0, 0, 0, All(AllOp::FlushAll), "server", "1.0.0", KD, "Removes all keys from all databases."),
    cmd!("swapdb", 3, WDF, 0, 0, 0, All(AllOp::SwapDb), "server", "4.0.0", KD, "Swaps two Redis databases."),
    // connection
    cmd!("ping", -1, &["fast"], 0, 0, 0, Conn(connection::ping), "connection", "1.0.0", C, "Returns the server's liveliness response."),
    cmd!("echo", 2, &["loading", "stale", "fast"], 0, 0, 0, Conn(connection::echo), "connection", "1.0.0", C, "Returns the given string."),
    cmd!("quit", -1, &["noscript", "loading", "stale", "fast", "allow_busy", "no_auth"], 0, 0, 0, Conn(connection::quit), "connection", "1.0.0", C, "Closes the connection."),
    cmd!("select", 2, &["loading", "stale", "fast"], 0, 0, 0, Conn(connection::select), "connection", "1.0.0", C, "Changes the selected database."),
    cmd!("hello", -1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], 0, 0, 0, Conn(connection::hello), "connection", "6.0.0", C, "Handshakes with the Redis server."),
    cmd!("auth", -2, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], 0, 0, 0, Conn(connection::auth), "connection", "1.0.0", C, "Authenticates the connection."),
    cmd!("monitor", 1, &["admin", "noscript", "loading", "stale"], 0, 0, 0, Conn(connection::monitor), "server", "1.0.0", SV, "Listen for all requests received by the server in real time"),
    cmd!("reset", 1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], 0, 0, 0, Conn(connection::reset), "connection", "6.2.0", C, "Resets the connection."),
    cmd!("client", -2, &["noscript", "loading", "stale"], 0, 0, 0, Conn(connection::client), "connection", "2.4.0", C, "A container for client connection commands."),
    // transactions
    cmd!("multi", 1, &["noscript", "loading", "stale", "fast", "allow_busy"], 0, 0, 0, Tx(TxCmd::Multi), "transactions", "1.2.0", &["@transaction"], "Starts a transaction."),
    cmd!("exec", 1, &["noscript", "loading", "stale", "skip_slowlog"], 0, 0, 0, Tx(TxCmd::Exec), "transactions", "1.2.0", &["@transaction"], "Executes all commands in a transaction."),
    cmd!("discard", 1, &["noscript", "loading", "stale", "fast", "allow_busy"], 0, 0, 0, Tx(TxCmd::Discard), "transactions", "2.0.0", &["@transaction"], "Discards a transaction."),
    cmd!("watch", -2, &["noscript", "loading", "stale", "fast", "allow_busy"], 1, -1, 1, Tx(TxCmd::Watch), "transactions", "2.2.0", &["@transaction"], "Monitors changes to keys to determine the execution of a transaction."),
    cmd!("unwatch", 1, &["noscript", "loading", "stale", "fast", "allow_busy"], 0, 0, 0, Tx(TxCmd::Unwatch), "transactions", "2.2.0", &["@transaction"], "Forgets about watched keys of a transaction."),
    // server
    cmd!("info", -1, &["loading", "stale"], 0, 0, 0, Conn(server::info), "server", "1.0.0", &["@slow", "@dangerous"], "Returns information and statistics about the server."),
    cmd!("config", -2, ADMIN, 0, 0, 0, Conn(server::config), "server", "2.0.0", SV, "A container for server configuration commands."),
    cmd!("command", -1, &["loading", "stale"], 0, 0, 0, Conn(server::command), "server", "2.8.13", &["@slow", "@connection"], "Returns detailed information about all commands."),
    cmd!("slowlog", -2, &["admin", "loading", "stale"], 0, 0, 0, Conn(server::slowlog), "server", "2.2.12", &["@admin", "@slow", "@dangerous"], "A container for slow log commands."),
    cmd!("latency", -2, &["admin", "noscript", "loading", "stale"], 0, 0, 0, Conn(server::latency), "server", "2.8.13", &["@admin", "@slow", "@dangerous"], "A container for latency diagnostics commands."),
    cmd!("time", 1, &["loading", "stale", "fast"], 0, 0, 0, Conn(server::time), "server", "2.6.0", &["@fast"], "Returns the server time."),
    cmd!("lastsave", 1, &["loading", "stale", "fast"], 0, 0, 0, Conn(server::lastsave), "server", "1.0.0", SV, "Returns the Unix timestamp of the last successful save to disk."),
    cmd!("sync", 1, &["admin", "noscript", "no_async_loading", "no_multi"], 0, 0, 0, Conn(replication::sync), "server", "1.0.0", SV, "Internal command used for replication"),
    cmd!("psync", -3, &["admin", "noscript", "no_async_loading", "no_multi"], 0, 0, 0, Conn(replication::psync), "server", "2.8.0", SV, "Internal command used for replication"),
    cmd!("replconf", -1, &["admin", "noscript", "loading", "stale", "allow_busy"], 0, 0, 0, Conn(replication::replconf), "server", "3.0.0", SV, "An internal command for configuring the replication stream"),
    cmd!("role", 1, &["noscript", "loading", "stale", "fast"], 0, 0, 0, Conn(replication::role), "server", "2.8.12", SV, "Return the role of the instance in the context of replication"),
    cmd!("wait", 3, &["noscript"], 0, 0, 0, Conn(replication::wait), "generic", "3.0.0", C, "Wait for the synchronous replication of all the write commands sent in the context of the current connection"),
    cmd!("subscribe", -2, &["pubsub", "noscript", "loading", "stale"], 0, 0, 0, Conn(pubsub::subscribe), "pubsub", "2.0.0", PS, "Listen for messages published to the given channels"),
    cmd!("unsubscribe", -1, &["pubsub", "noscript", "loading", "stale"], 0, 0, 0, Conn(pubsub::unsubscribe), "pubsub", "2.0.0", PS, "Stop listening for messages posted to the given channels"),
    cmd!("psubscribe", -2, &["pubsub", "noscript", "loading", "stale"], 0, 0, 0, Conn(pubsub::psubscribe), "pubsub", "2.0.0", PS, "Listen for messages published to channels matching the given patterns"),
    cmd!("punsubscribe", -1, &["pubsub", "noscript", "loading", "stale"], 0, 0, 0, Conn(pubsub::punsubscribe), "pubsub", "2.0.0", PS, "Stop listening for messages posted to channels matching the given patterns"),
    cmd!("ssubscribe", -2, &["pubsub", "noscript", "loading", "stale"], 0, 0, 0, Conn(pubsub::ssubscribe), "pubsub", "7.0.0", PS, "Listens for messages published to shard channels."),
    cmd!("sunsubscribe", -1, &["pubsub", "noscript", "loading", "stale"], 0, 0, 0, Conn(pubsub::sunsubscribe), "pubsub", "7.0.0", PS, "Stops listening to messages posted to shard channels."),
    cmd!("spublish", 3, &["pubsub", "loading", "stale", "fast", "may_replicate"], 0, 0, 0, Conn(pubsub::spublish), "pubsub", "7.0.0", PS, "Post a message to a shard channel"),
    cmd!("publish", 3, &["pubsub", "loading", "stale", "fast", "may_replicate"], 0, 0, 0, Conn(pubsub::publish), "pubsub", "2.0.0", PS, "Post a message to a channel"),
    // scripting
    cmd!("eval", -3, SCRIPT_RW, 0, 0, 0, Keyed(scripting::eval), "scripting", "2.6.0", SC, "Executes a server-side Lua script.").numkeys(2),
    cmd!("evalsha", -3, SCRIPT_RW, 0, 0, 0, Keyed(scripting::evalsha), "scripting", "2.6.0", SC, "Executes a server-side Lua script by SHA1 digest.").numkeys(2),
    cmd!("eval_ro", -3, SCRIPT_RO, 0, 0, 0, Keyed(scripting::eval_ro), "scripting", "7.0.0", SC, "Executes a read-only server-side Lua script.").numkeys(2),
    cmd!("evalsha_ro", -3, SCRIPT_RO, 0, 0, 0, Keyed(scripting::evalsha_ro), "scripting", "7.0.0", SC, "Executes a read-only server-side Lua script by SHA1 digest.").numkeys(2),
    cmd!("fcall", -3, SCRIPT_RW, 0, 0, 0, Keyed(scripting::fcall), "scripting", "7.0.0", SC, "Invokes a function.").numkeys(2),
    cmd!("fcall_ro", -3, SCRIPT_RO, 0, 0, 0, Keyed(scripting::fcall_ro), "scripting", "7.0.0", SC, "Invokes a read-only function.").numkeys(2),
    cmd!("function", -2, &["noscript"], 0, 0, 0, Conn(scripting::function), "scripting", "7.0.0", SC, "A container for function commands"),
    cmd!("script", -2, &["noscript"], 0, 0, 0, Conn(scripting::script), "scripting", "2.6.0", SC, "A container for Lua scripts management commands"),
    cmd!("pubsub", -2, &["pubsub", "loading", "stale"], 0, 0, 0, Conn(pubsub::pubsub), "pubsub", "2.8.0", PS, "A container for Pub/Sub commands"),
    cmd!("shutdown", -1, &["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"], 0, 0, 0, Conn(server::shutdown), "server", "1.0.0", SV, "Synchronously saves the database(s) to disk and shuts down the Redis server."),
    cmd!("acl", -2, &[], 0, 0, 0, Conn(acl::acl), "server", "6.0.0", &["@slow"], "A container for Access List Control commands."),
    cmd!("bgsave", -1, &["admin", "noscript", "no_async_loading"], 0, 0, 0, Conn(absent::no_persistence), "server", "1.0.0", SV, "Asynchronously saves the database(s) to disk."),
    cmd!("bgrewriteaof", 1, &["admin", "noscript", "no_async_loading"], 0, 0, 0, Conn(absent::no_persistence), "server", "1.0.0", SV, "Asynchronously rewrites the append-only file to disk."),
    cmd!("cluster", -2, &[], 0, 0, 0, Conn(absent::cluster_disabled), "cluster", "3.0.0", &["@slow"], "A container for Redis Cluster commands."),
    cmd!("readonly", 1, &["fast", "loading", "stale"], 0, 0, 0, Conn(absent::cluster_disabled), "cluster", "3.0.0", C, "Enables read-only queries for a connection to a Redis Cluster replica node."),
    cmd!("readwrite", 1, &["fast", "loading", "stale"], 0, 0, 0, Conn(absent::cluster_disabled), "cluster", "3.0.0", C, "Enables read-write queries for a connection to a Redis Cluster replica node."),
    cmd!("asking", 1, &["fast"], 0, 0, 0, Conn(absent::cluster_disabled), "cluster", "3.0.0", C, "Signals that a cluster client is following an -ASK redirect."),
    cmd!("module", -2, &[], 0, 0, 0, Conn(absent::module), "server", "4.0.0", &["@slow"], "A container for module commands."),
    cmd!("save", 1, &["admin", "noscript", "no_async_loading", "no_multi"], 0, 0, 0, Conn(absent::no_persistence), "server", "1.0.0", SV, "Synchronously saves the database(s) to disk."),
    cmd!("debug", -2, ADMIN, 0, 0, 0, Conn(server::debug), "server", "1.0.0", SV, "A container for debugging commands."),
    // replication (replica side)
    cmd!("replicaof", 3, REPLICAOF, 0, 0, 0, Conn(crate::replication::replica::replicaof), "server", "5.0.0", SV, "Make the server a replica of another instance, or promote it as master."),
    cmd!("slaveof", 3, REPLICAOF, 0, 0, 0, Conn(crate::replication::replica::replicaof), "server", "1.0.0", SV, "Make the server a replica of another instance, or promote it as master."),
];

/// A command by name, or a subcommand by its full name (`config|get`,
/// any case), as COMMAND INFO takes them: its entry.
pub fn lookup_full(name: &[u8]) -> Option<&'static Command> {
    let Some(bar) = name.iter().position(|&b| b == b'|') else {
        return lookup(name);
    };
    let cmd = lookup(&name[..bar])?;
    let s = cmd.find_sub(&name[bar + 1..])?;
    Some(cmd.sub_entry(s))
}

/// Case-insensitive lookup, run for every request. A general hash map cost
/// ~14 ns a name (lower-casing copy, seeded hash, probe); this table hashes
/// the length and three bytes folded to lower case and compares the name in
/// place, ~5 ns. 1024 slots for ~250 names keep probes short.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.is_empty() {
        return None;
    }
    let slots = name_index();
    let mut i = name_hash(name);
    loop {
        let e = slots[i];
        if e == EMPTY {
            return None;
        }
        let c = &COMMANDS[e as usize];
        if c.name.len() == name.len() && c.name.as_bytes().eq_ignore_ascii_case(name) {
            return Some(c);
        }
        i = (i + 1) & (NAME_SLOTS - 1);
    }
}

/// EVAL_RO for EVAL, EVALSHA_RO for EVALSHA, FCALL_RO for FCALL (a read-
/// only replica's clients run scripts read-only).
pub fn read_only_variant(cmd: &'static Command) -> &'static Command {
    let ro = match cmd.name {
        "eval" => "eval_ro",
        "evalsha" => "evalsha_ro",
        "fcall" => "fcall_ro",
        _ => return cmd,
    };
    lookup(ro.as_bytes()).unwrap_or(cmd)
}

/// Position of a command in the table (a subcommand's entry: its
/// container's).
pub fn index_of(cmd: &Command) -> usize {
    let cmd = cmd.parent.unwrap_or(cmd);
    (cmd as *const Command as usize - COMMANDS.as_ptr() as usize) / std::mem::size_of::<Command>()
}

/// Every container's subcommands' entries (`Command::for_sub`), by the
/// container's position in the table.
static SUB_ENTRIES: std::sync::LazyLock<Vec<Vec<Command>>> = std::sync::LazyLock::new(|| {
    COMMANDS
        .iter()
        .map(|c| {
            c.subcommands
                .iter()
                .map(|s| Command {
                    // Once per subcommand, for the life of the process.
                    full_name: Box::leak(format!("{}|{}", c.name, s.name).into_boxed_str()),
                    arity: s.arity,
                    flags: s.flags,
                    first_key: s.first_key,
                    last_key: s.last_key,
                    step: s.step,
                    acl: s.acl,
                    denyoom: has_flag(s.flags, "denyoom"),
                    no_multi: has_flag(s.flags, "no_multi"),
                    write: has_flag(s.flags, "write"),
                    blocking: has_flag(s.flags, "blocking"),
                    fast: has_flag(s.flags, "fast"),
                    stale: has_flag(s.flags, "stale"),
                    loading: has_flag(s.flags, "loading"),
                    parent: Some(c),
                    ..*c
                })
                .collect()
        })
        .collect()
});

/// Statistics slots (INFO commandstats): one per command, then one per
/// subcommand of each container, which Redis 7 counts as commands of
/// their own (`cmdstat_config|get`).
struct StatSlots {
    /// Per command: where its subcommands' slots start.
    sub_base: Vec<usize>,
    names: Vec<String>,
}

static STAT_SLOTS: std::sync::LazyLock<StatSlots> = std::sync::LazyLock::new(|| {
    let mut names: Vec<String> = COMMANDS.iter().map(|c| c.name.to_string()).collect();
    let mut sub_base = Vec::with_capacity(COMMANDS.len());
    for c in COMMANDS {
        sub_base.push(names.len());
        names.extend((0..c.subcommands.len()).map(|i| c.sub_entry(i).full_name.to_string()));
    }
    StatSlots { sub_base, names }
});

pub fn stat_slots() -> usize {
    STAT_SLOTS.names.len()
}

/// The name INFO commandstats shows for a slot.
pub fn stat_name(slot: usize) -> &'static str {
    STAT_SLOTS.names.get(slot).map_or("", String::as_str)
}

/// The statistics slot of a call: the command's, or for a container its
/// subcommand's (the container's own when none is given). `None` for an
/// unknown subcommand, which Redis counts under no command.
#[inline(always)]
pub fn stat_index(cmd: &Command, args: Args) -> Option<usize> {
    if cmd.subcommands.is_empty() {
        return Some(index_of(cmd));
    }
    subcommand_stat_index(cmd, args)
}

#[inline(never)]
fn subcommand_stat_index(cmd: &Command, args: Args) -> Option<usize> {
    let i = index_of(cmd);
    if args.len() < 2 {
        return Some(i);
    }
    let sub = args.get(1);
    let at = cmd.find_sub(sub)?;
    Some(STAT_SLOTS.sub_base[i] + at)
}

const NAME_SLOTS: usize = 1024;
const EMPTY: u16 = u16::MAX;

#[inline]
fn name_hash(name: &[u8]) -> usize {
    // `| 0x20` folds ASCII letters to lower case (it also merges a few
    // non-letters, which only costs a probe).
    let b = |i: usize| (name[i] | 0x20) as u32;
    let n = name.len();
    let h = (n as u32).wrapping_mul(0x9E37_79B1)
        ^ b(0).wrapping_mul(0x85EB_CA77)
        ^ b(n / 2).wrapping_mul(0xC2B2_AE3D)
        ^ b(n - 1).wrapping_mul(0x27D4_EB2F);
    (h.wrapping_mul(0x9E37_79B1) >> (32 - NAME_SLOTS.trailing_zeros())) as usize
}

fn name_index() -> &'static [u16; NAME_SLOTS] {
    static INDEX: std::sync::OnceLock<Box<[u16; NAME_SLOTS]>> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut t = Box::new([EMPTY; NAME_SLOTS]);
        for (ci, c) in COMMANDS.iter().enumerate() {
            let mut i = name_hash(c.name.as_bytes());
            while t[i] != EMPTY {
                i = (i + 1) & (NAME_SLOTS - 1);
            }
            t[i] = ci as u16;
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name a WATCH rule lists is a write command of the table (a
    /// misspelt one would silently fall back to touching every key), and
    /// the rule reaches the table's entries.
    #[test]
    fn watch_rules_name_write_commands() {
        for (list, rule) in [
            (PRECISE_WRITERS, WatchTouch::Precise),
            (ZERO_IS_NOTHING, WatchTouch::UnlessZero),
            (NONE_IS_NOTHING, WatchTouch::UnlessNone),
        ] {
            for name in list {
                let c = COMMANDS.iter().find(|c| c.name == *name);
                assert!(c.is_some_and(|c| c.write), "{name}");
                assert_eq!(c.map(|c| c.watch), Some(rule), "{name}");
            }
        }
        let incr = COMMANDS.iter().find(|c| c.name == "incr");
        assert_eq!(incr.map(|c| c.watch), Some(WatchTouch::Keys));
    }

    /// Containers refuse an unknown subcommand, or one with the wrong
    /// number of arguments, with Redis 7.0's messages (from redis-server).
    #[test]
    fn subcommands_are_checked_like_redis() {
        let check = |words: &[&str]| {
            let mut buf = Vec::new();
            let mut ranges = Vec::new();
            for w in words {
                let s = buf.len();
                buf.extend_from_slice(w.as_bytes());
                ranges.push(s..buf.len());
            }
            let cmd = lookup(words[0].as_bytes()).expect("in the table");
            cmd.subcommand_error(Args::from_parts(&buf, &ranges))
        };
        assert_eq!(check(&["config", "get", "x"]), None);
        assert_eq!(
            check(&["config", "get"]).as_deref(),
            Some("ERR wrong number of arguments for 'config|get' command")
        );
        assert_eq!(
            check(&["CoNfIg", "foo"]).as_deref(),
            Some("ERR unknown subcommand 'foo'. Try CONFIG HELP.")
        );
        assert_eq!(
            check(&["latency", "help", "x"]).as_deref(),
            Some("ERR wrong number of arguments for 'latency|help' command")
        );
        assert_eq!(
            check(&["object", "ENCODING"]).as_deref(),
            Some("ERR wrong number of arguments for 'object|encoding' command")
        );
        assert_eq!(check(&["get", "k"]), None, "not a container");
        let long = "x".repeat(200);
        let msg = check(&["slowlog", &long]).unwrap_or_default();
        assert!(msg.contains(&format!("'{}'", "x".repeat(128))), "{msg}");
    }

    /// The blocking pops, and not their non-blocking kin, are `blocking`.
    #[test]
    fn derived_flags_match_the_flag_list() {
        for name in [
            "blpop",
            "brpop",
            "blmove",
            "brpoplpush",
            "bzpopmin",
            "blmpop",
        ] {
            assert!(
                lookup(name.as_bytes()).is_some_and(|c| c.is_blocking()),
                "{name}"
            );
        }
        for name in ["get", "lpop", "lmove", "zpopmin", "eval"] {
            assert!(
                lookup(name.as_bytes()).is_some_and(|c| !c.is_blocking()),
                "{name}"
            );
        }
    }

    /// Routing's single-key shortcut names exactly the key the general
    /// key-spec walk finds, for every command and argument count, and is
    /// taken by the common single-key commands.
    #[test]
    fn only_key_agrees_with_keys_of() {
        for c in COMMANDS {
            let min = c.arity.unsigned_abs() as usize;
            for argc in min..min + 5 {
                let mut buf = Vec::new();
                let mut ranges = Vec::new();
                for i in 0..argc {
                    let s = buf.len();
                    // "1" everywhere: a valid numkeys wherever one is read.
                    buf.extend_from_slice(if i == 0 { c.name.as_bytes() } else { b"1" });
                    ranges.push(s..buf.len());
                }
                let a = Args::from_parts(&buf, &ranges);
                if let Some(k) = c.only_key(argc) {
                    let all: Vec<usize> = c.keys_of(a).collect();
                    assert_eq!(all, vec![k], "{} with {argc} arguments", c.name);
                }
            }
        }
        for name in ["get", "set", "incr", "hset", "lpush", "zadd", "expire"] {
            let c = lookup(name.as_bytes()).expect("in the table");
            assert_eq!(
                c.only_key(c.arity.unsigned_abs() as usize),
                Some(1),
                "{name}"
            );
        }
        for name in ["mset", "mget", "del", "rename", "zunionstore", "ping"] {
            let c = lookup(name.as_bytes()).expect("in the table");
            assert_eq!(c.only_key(4), None, "{name}");
        }
    }

    /// The commands Redis 7.0 marks STALE (its src/commands/*.json), and
    /// the containers all of whose subcommands are: a replica with a
    /// broken link and replica-serve-stale-data no refuses the others.
    #[test]
    fn stale_flags_match_redis() {
        const STALE: &[&str] = &[
            "auth",
            "command",
            "debug",
            "discard",
            "echo",
            "eval",
            "eval_ro",
            "evalsha",
            "evalsha_ro",
            "exec",
            "failover",
            "fcall",
            "fcall_ro",
            "hello",
            "info",
            "lastsave",
            "monitor",
            "multi",
            "psubscribe",
            "publish",
            "punsubscribe",
            "quit",
            "readonly",
            "readwrite",
            "replconf",
            "replicaof",
            "reset",
            "role",
            "select",
            "shutdown",
            "slaveof",
            "spublish",
            "ssubscribe",
            "subscribe",
            "sunsubscribe",
            "time",
            "unsubscribe",
            "unwatch",
            "watch",
            "client",
            "config",
            "pubsub",
            "slowlog",
            "latency",
        ];
        for c in COMMANDS {
            assert_eq!(c.stale, STALE.contains(&c.name), "{}", c.name);
        }
        for name in ["get", "ping", "set"] {
            assert!(lookup(name.as_bytes()).is_some_and(|c| !c.stale), "{name}");
        }
    }

    #[test]
    fn names_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            assert_eq!(c.name, c.name.to_lowercase());
            assert!(seen.insert(c.name), "duplicate {}", c.name);
            assert!(c.arity != 0);
        }
    }

    #[test]
    fn every_name_is_found_in_any_case() {
        assert!(COMMANDS.len() < NAME_SLOTS / 2, "grow NAME_SLOTS");
        for c in COMMANDS {
            let upper = c.name.to_uppercase();
            let mixed: String = c
                .name
                .chars()
                .enumerate()
                .map(|(i, ch)| {
                    if i % 2 == 0 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    }
                })
                .collect();
            for n in [c.name, upper.as_str(), mixed.as_str()] {
                assert_eq!(lookup(n.as_bytes()).map(|x| x.name), Some(c.name), "{n}");
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// The table agrees with a linear scan on arbitrary input,
        /// including near-misses of real names.
        #[test]
        fn lookup_matches_a_linear_scan(
            name in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..20),
                (0..COMMANDS.len(), 0usize..4, any::<u8>()).prop_map(|(i, at, b)| {
                    let mut n = COMMANDS[i].name.as_bytes().to_vec();
                    let at = at.min(n.len().saturating_sub(1));
                    n[at] = b;
                    n
                }),
            ]
        ) {
            let scan = COMMANDS.iter().find(|c| c.name.as_bytes().eq_ignore_ascii_case(&name));
            prop_assert_eq!(lookup(&name).map(|c| c.name), scan.map(|c| c.name));
        }
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"GeT").map(|c| c.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
    }

    #[test]
    fn key_positions() {
        let mset = lookup(b"mset").map(|c| c.key_indices(5).collect::<Vec<_>>());
        assert_eq!(mset, Some(vec![1, 3]));
        let get = lookup(b"get").map(|c| c.key_indices(2).collect::<Vec<_>>());
        assert_eq!(get, Some(vec![1]));
        let obj = lookup(b"object").map(|c| c.key_indices(3).collect::<Vec<_>>());
        assert_eq!(obj, Some(vec![2]));
        let ping = lookup(b"ping").map(|c| c.key_indices(1).collect::<Vec<_>>());
        assert_eq!(ping, Some(vec![]));
    }

    #[test]
    fn numkeys_positions() {
        fn keys(argv: &[&str]) -> Vec<usize> {
            let mut buf = Vec::new();
            let mut ranges = Vec::new();
            for x in argv {
                let s = buf.len();
                buf.extend_from_slice(x.as_bytes());
                ranges.push(s..buf.len());
            }
            let a = Args::from_parts(&buf, &ranges);
            lookup(a.get(0))
                .map(|c| c.keys_of(a).collect())
                .unwrap_or_default()
        }
        assert_eq!(
            keys(&["zunionstore", "d", "2", "a", "b", "weights", "1", "2"]),
            vec![1, 3, 4]
        );
        assert_eq!(keys(&["zunion", "2", "a", "b", "withscores"]), vec![2, 3]);
        assert_eq!(keys(&["lmpop", "2", "a", "b", "left"]), vec![2, 3]);
        // numkeys covering every remaining argument leaves no room for
        // LEFT/RIGHT, but still names keys only (Redis errors at run time).
        assert_eq!(keys(&["zunion", "2", "a", "b"]), vec![2, 3]);
        assert_eq!(keys(&["zunion", "3", "a", "b"]), Vec::<usize>::new());
        assert_eq!(keys(&["zunion", "-1", "a"]), Vec::<usize>::new());
        assert_eq!(keys(&["zunion", "x", "a"]), Vec::<usize>::new());
        assert_eq!(keys(&["lmove", "a", "b", "left", "right"]), vec![1, 2]);
    }
}
