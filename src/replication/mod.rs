//! Replication with Redis's protocol: this server as a master (SYNC/PSYNC,
//! an RDB snapshot, then the stream of writes) and as a replica
//! (REPLICAOF).

pub mod primary;
pub mod replica;
pub mod rewrite;

use std::sync::atomic::AtomicBool;

/// Replication state every reactor may read.
#[derive(Default)]
pub struct State {
    /// REPLICAOF is in force: ordinary clients' writes are refused with
    /// READONLY and nothing is propagated from here.
    pub is_replica: AtomicBool,
    pub primary: primary::Primary,
    /// REPLICAOF's link to the master, and what the command gate reads.
    pub replica: replica::Replica,
}
