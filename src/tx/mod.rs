//! Cross-shard work: the messages reactors exchange, the operations a shard
//! runs for another reactor, and the coordinator that fans a multi-shard
//! command out and combines the parts.
//!
//! Every message names the origin connection and a reply slot, so a scheduler
//! (global sequence numbers, per-shard intent queues) can later be placed
//! between `Coord` and the shards without changing either side.
pub mod fanout;
pub mod locks;
pub mod multi;
pub mod ops;

pub use fanout::{Coord, Step};
pub use ops::{OpResult, OwnedArgs, ShardOp};

/// The index of `shard`'s entry in a list of per-shard groups (lock sets,
/// operations), appending `new()` for a shard not seen yet: the lists
/// hold one to a few shards, so a scan beats a map.
pub fn group_index<T>(
    groups: &mut Vec<(usize, T)>,
    shard: usize,
    new: impl FnOnce() -> T,
) -> usize {
    match groups.iter().position(|(s, _)| *s == shard) {
        Some(g) => g,
        None => {
            groups.push((shard, new()));
            groups.len() - 1
        }
    }
}

/// Identifies a connection across reactors: (generation << 32) | slab index.
pub type Token = u64;

pub struct Request {
    pub from: usize,
    pub conn: Token,
    pub slot: u64,
    pub part: u32,
    pub op: ShardOp,
}

pub struct Response {
    pub conn: Token,
    pub slot: u64,
    pub part: u32,
    pub result: OpResult,
}

pub enum Msg {
    Req(Request),
    Resp(Response),
    /// Register a blocked client on keys of the receiving shard.
    BlockOn {
        keys: OwnedArgs,
        from: usize,
        conn: Token,
        id: u64,
    },
    /// Forget that registration.
    Unblock {
        keys: OwnedArgs,
        from: usize,
        conn: Token,
        id: u64,
    },
    /// One of the keys a blocked client waits on was written.
    KeyReady {
        conn: Token,
        id: u64,
    },
    /// A transaction is over: release its locks on the receiving shard.
    Unlock {
        txid: u64,
    },
}

/// Everything one reactor has for another in one loop turn travels as one
/// queue element: one queue operation and one allocation per turn and
/// target, not per request.
pub type Batch = Vec<Msg>;
