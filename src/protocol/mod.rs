//! RESP2/RESP3: request parsing and reply encoding. Knows nothing of I/O.
pub mod parser;
pub mod reply;

pub use parser::{parse_i64, Args, Parsed, Parser};
pub use reply::{Proto, Reply};
