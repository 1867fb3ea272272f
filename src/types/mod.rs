//! Value types stored in the keyspace.
pub mod digest;
pub mod hash;
pub mod limits;
pub mod set;
pub mod string;

pub use hash::HashVal;
pub use set::SetVal;
pub use string::StrVal;

/// A stored value. Kept at 24 bytes so a keyspace entry stays small; large
/// or growing representations live behind a Box.
pub enum Value {
    Str(StrVal),
    Hash(Box<HashVal>),
    Set(Box<SetVal>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
        }
    }
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
        }
    }
    pub fn deep_clone(&self) -> Value {
        match self {
            Value::Str(s) => Value::Str(s.clone()),
            Value::Hash(h) => Value::Hash(h.clone()),
            Value::Set(s) => Value::Set(s.clone()),
        }
    }
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
