//! halocline: a Redis-protocol in-memory key-value server. Shared nothing:
//! one reactor thread per core, each owning an io_uring, its connections and
//! one shard of the keyspace; cross-shard work travels through mailboxes.
//! See docs/architecture.md.
pub mod alloc;
pub mod callstats;
pub mod commands;
pub mod config;
pub mod errorstats;
pub mod instant;
pub mod io;
pub mod latency;
pub mod logging;
pub mod memory;
pub mod notify;
pub mod pause;
pub mod protocol;
pub mod pubsub;
pub mod rdb;
pub mod reactor;
pub mod redact;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod shard;
pub mod slowlog;
pub mod supervisor;
pub mod tracking;
pub mod tx;
pub mod types;
