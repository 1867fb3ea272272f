//! Context of a connection/server command: the client, the shared server
//! state, and what the reactor must do afterwards.

use crate::protocol::Reply;
use crate::reactor::client::Client;
use crate::server::Shared;
use crate::tx::fanout::Plan;

pub enum ConnAction {
    None,
    /// Close the connection once the reply is written (QUIT).
    Close,
    /// Gather from shards/reactors; the plan writes the reply.
    Plan(Plan),
    /// Enter MONITOR mode (the reactor registers the connection).
    Monitor,
    /// Leave MONITOR mode (RESET).
    StopMonitor,
    /// SYNC / PSYNC: snapshot every shard, then attach as a replica.
    Sync {
        psync: bool,
    },
    /// WAIT: answer once `replicas` acknowledged this client's writes, or
    /// at `deadline` (unix ms; 0: never).
    Wait {
        replicas: usize,
        deadline: u64,
    },
    /// PUBLISH (SPUBLISH: `shard`): deliver to the subscribers, reply with
    /// how many.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
        shard: bool,
    },
    /// A server-wide change (FUNCTION LOAD/DELETE/FLUSH) done and
    /// answered: append the command to the replication stream.
    Propagate(Vec<Vec<u8>>),
}

pub struct ConnCtx<'a> {
    pub client: &'a mut Client,
    pub shared: &'a Shared,
    pub r: Reply<'a>,
    pub action: ConnAction,
    pub now: u64,
    pub reactor: usize,
    /// The connection's token on `reactor` (what Pub/Sub registers).
    pub conn: crate::tx::Token,
}
