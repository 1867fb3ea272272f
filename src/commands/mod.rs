//! Commands: the table (`table`), the contexts they run in, and one file per
//! family, like Redis's t_string.c / db.c / server.c.
pub mod absent;
pub mod acl;
pub mod args;
pub mod bitops;
pub mod blocking;
pub mod coll;
pub mod conn;
pub mod connection;
pub mod ctx;
pub mod docs;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod key_specs;
pub mod keys;
pub mod list;
pub mod memory;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod table;
pub mod zset;
