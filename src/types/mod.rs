//! Value types stored in the keyspace.
pub mod digest;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod limits;
pub mod list;
pub mod listpack;
pub mod long_double;
pub mod set;
pub mod string;
pub mod zset;

pub use hash::HashVal;
pub use list::List;
pub use set::SetVal;
pub use string::StrVal;
pub use zset::ZSet;

/// A stored value. Kept at 24 bytes so a keyspace entry stays small; large
/// or growing representations live behind a Box.
pub enum Value {
    Str(StrVal),
    Hash(HashVal),
    Set(Box<SetVal>),
    List(Box<List>),
    ZSet(ZSet),
}

// A key's value is stored inline in the keyspace's entries: compact
// encodings (small strings, listpack hashes and sorted sets) must fit here
// without a box of their own.
const _: () = assert!(std::mem::size_of::<Value>() == 24);

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::List(_) => "list",
            Value::ZSet(_) => "zset",
        }
    }
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            // Redis 7.0 has no small-list encoding: always a quicklist.
            Value::List(_) => "quicklist",
            Value::ZSet(z) => z.encoding(),
        }
    }
    pub fn deep_clone(&self) -> Value {
        match self {
            Value::Str(s) => Value::Str(s.clone()),
            Value::Hash(h) => Value::Hash(h.clone()),
            Value::Set(s) => Value::Set(s.clone()),
            Value::List(l) => Value::List(l.clone()),
            Value::ZSet(z) => Value::ZSet(z.clone()),
        }
    }
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
