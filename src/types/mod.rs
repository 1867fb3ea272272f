//! Value types stored in the keyspace.
pub mod limits;
pub mod string;

pub use string::StrVal;

/// A stored value. Kept at 24 bytes so a keyspace entry stays small; large
/// or growing representations live behind a Box.
pub enum Value {
    Str(StrVal),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
        }
    }
    pub fn deep_clone(&self) -> Value {
        match self {
            Value::Str(s) => Value::Str(s.clone()),
        }
    }
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
