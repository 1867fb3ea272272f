//! The string type, with Redis's three encodings: `int` (a canonical i64),
//! `embstr` (short, immutable) and `raw` (mutable, grown in place by APPEND
//! and SETRANGE).

use crate::protocol::parse_i64;

/// Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT.
const EMBSTR_LIMIT: usize = 44;

/// Strings up to this long are stored inside the value itself: no
/// allocation on SET, no pointer chase on GET.
pub const INLINE_MAX: usize = 22;

#[derive(Clone)]
pub enum StrVal {
    Int(i64),
    /// Short string stored inline (reported as `embstr`, like Redis's
    /// single-allocation strings).
    Inline(u8, [u8; INLINE_MAX]),
    Emb(Box<[u8]>),
    Raw(Box<Vec<u8>>),
}

impl StrVal {
    /// Store bytes as Redis would: canonical integers of up to 20 chars as
    /// `int`, the rest as a string.
    pub fn from_bytes(b: &[u8]) -> StrVal {
        if b.len() <= 20 {
            if let Some(v) = parse_i64(b) {
                return StrVal::Int(v);
            }
        }
        Self::string_inline(b)
    }

    /// Store bytes as a string even if they spell an integer (Redis's
    /// createStringObject: what INCRBYFLOAT stores is `embstr`).
    pub fn string(b: &[u8]) -> StrVal {
        Self::string_inline(b)
    }

    /// `string`, always inlined: called out of line from `from_bytes`, it
    /// cost a 10-key MSET's loop +130 instructions (callgrind).
    #[inline(always)]
    fn string_inline(b: &[u8]) -> StrVal {
        if b.len() <= INLINE_MAX {
            let mut buf = [0u8; INLINE_MAX];
            buf[..b.len()].copy_from_slice(b);
            StrVal::Inline(b.len() as u8, buf)
        } else if b.len() <= EMBSTR_LIMIT {
            StrVal::Emb(b.into())
        } else {
            StrVal::Raw(Box::new(b.to_vec()))
        }
    }
    pub fn encoding(&self) -> &'static str {
        match self {
            StrVal::Int(_) => "int",
            StrVal::Inline(..) | StrVal::Emb(_) => "embstr",
            StrVal::Raw(_) => "raw",
        }
    }
    pub fn len(&self) -> usize {
        match self {
            StrVal::Int(v) => itoa::Buffer::new().format(*v).len(),
            StrVal::Inline(n, _) => *n as usize,
            StrVal::Emb(b) => b.len(),
            StrVal::Raw(b) => b.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Call `f` with the byte form (integers are formatted on a stack buffer).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrVal::Int(v) => f(itoa::Buffer::new().format(*v).as_bytes()),
            StrVal::Inline(n, b) => f(&b[..*n as usize]),
            StrVal::Emb(b) => f(b),
            StrVal::Raw(b) => f(b),
        }
    }
    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
    /// The mutable form, converting to `raw` like Redis does before an
    /// in-place change.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrVal::Raw(_)) {
            let v = self.to_vec();
            *self = StrVal::Raw(Box::new(v));
        }
        match self {
            StrVal::Raw(b) => b,
            // Just converted above.
            _ => unreachable!(),
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            StrVal::Int(v) => Some(*v),
            StrVal::Inline(n, b) => parse_i64(&b[..*n as usize]),
            StrVal::Emb(b) => parse_i64(b),
            StrVal::Raw(b) => parse_i64(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_and_size() {
        assert_eq!(std::mem::size_of::<StrVal>(), 24);
        assert_eq!(std::mem::size_of::<crate::types::Value>(), 24);
        assert_eq!(StrVal::from_bytes(b"123").encoding(), "int");
        assert_eq!(StrVal::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(StrVal::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(StrVal::from_bytes(&[b'a'; 45]).encoding(), "raw");
        for n in [0usize, 1, 22, 23, 44, 45, 100] {
            let v = vec![b'x'; n];
            assert_eq!(StrVal::from_bytes(&v).to_vec(), v);
        }
    }
}
