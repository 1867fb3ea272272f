//! RESP request parser: multibulk (`*N\r\n$len\r\n...`) and inline commands.
//!
//! The parser never copies multibulk arguments: it records byte ranges into the
//! caller's buffer, so the hot path (GET/SET/INCR) parses in place from the
//! receive buffer. Inline commands may contain quoted, escaped arguments; those
//! are unescaped into the parser's own scratch buffer and the ranges point there.

use std::ops::Range;

/// Redis's PROTO_INLINE_MAX_SIZE: an inline line or a `*`/`$` header longer
/// than this without a newline is a protocol error.
pub const INLINE_MAX: usize = 64 * 1024;
/// Redis's default proto-max-bulk-len.
pub const DEFAULT_MAX_BULK: usize = 512 * 1024 * 1024;
/// Redis refuses multibulk counts above INT_MAX... but also caps what it
/// preallocates; we cap the count itself at 1M like Redis's own hard limit
/// for non-master clients in spirit while keeping its error text.
const MAX_MULTIBULK: i64 = 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command was parsed; `consumed` bytes of input belong to it.
    /// The command may be empty (`*0`, an empty inline line): callers skip it.
    Command { consumed: usize },
    /// More input is needed. `hint` is how many bytes the whole command needs
    /// when known (a large bulk), so the caller can reserve once.
    Incomplete { hint: usize },
    /// A protocol error: reply with this error and close the connection.
    Error(String),
}

/// Where the arguments of the last parsed command live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgSource {
    Input,
    Scratch,
}

#[derive(Default)]
pub struct Parser {
    ranges: Vec<Range<usize>>,
    scratch: Vec<u8>,
    source: Option<ArgSource>,
    pub max_bulk: usize,
    /// Redis keeps requests of clients that have not authenticated tiny
    /// (10 arguments, 16 KiB bulks), so a stranger cannot make it buffer
    /// much before AUTH.
    pub unauthenticated: bool,
}

impl Parser {
    pub fn new(max_bulk: usize) -> Self {
        Parser {
            ranges: Vec::with_capacity(16),
            scratch: Vec::new(),
            source: None,
            max_bulk,
            unauthenticated: false,
        }
    }

    /// Arguments of the last parsed command, borrowed from `input` (the same
    /// slice given to `parse`) or from the scratch buffer.
    pub fn args<'a>(&'a self, input: &'a [u8]) -> Args<'a> {
        let buf = match self.source {
            Some(ArgSource::Scratch) => &self.scratch[..],
            _ => input,
        };
        Args {
            buf,
            ranges: &self.ranges,
        }
    }

    pub fn argc(&self) -> usize {
        self.ranges.len()
    }

    /// Parse one command from the start of `input`.
    pub fn parse(&mut self, input: &[u8]) -> Parsed {
        self.ranges.clear();
        self.source = None;
        if input.is_empty() {
            return Parsed::Incomplete { hint: 0 };
        }
        if input[0] == b'*' {
            self.parse_multibulk(input)
        } else {
            self.parse_inline(input)
        }
    }

    fn parse_multibulk(&mut self, input: &[u8]) -> Parsed {
        let (count, mut pos) = match quick_number(input, 1) {
            Some((n, next)) if n as i64 <= MAX_MULTIBULK => (n as i64, next),
            _ => {
                let Some(nl) = find_crlf(input, 1) else {
                    if input.len() > INLINE_MAX {
                        return Parsed::Error("Protocol error: too big mbulk count string".into());
                    }
                    return Parsed::Incomplete { hint: 0 };
                };
                match parse_i64(&input[1..nl]) {
                    Some(n) if n <= MAX_MULTIBULK => (n, nl + 2),
                    _ => return Parsed::Error("Protocol error: invalid multibulk length".into()),
                }
            }
        };
        if self.unauthenticated && count > 10 {
            return Parsed::Error("Protocol error: unauthenticated multibulk length".into());
        }
        if count <= 0 {
            self.source = Some(ArgSource::Input);
            return Parsed::Command { consumed: pos };
        }
        for _ in 0..count {
            if pos >= input.len() {
                return Parsed::Incomplete { hint: 0 };
            }
            if input[pos] != b'$' {
                return Parsed::Error(format!(
                    "Protocol error: expected '$', got '{}'",
                    input[pos] as char
                ));
            }
            let (len, start) = match quick_number(input, pos + 1) {
                Some((n, next)) if n <= self.max_bulk => (n, next),
                _ => {
                    let Some(nl) = find_crlf(input, pos + 1) else {
                        if input.len() - pos > INLINE_MAX {
                            return Parsed::Error(
                                "Protocol error: too big bulk count string".into(),
                            );
                        }
                        return Parsed::Incomplete { hint: 0 };
                    };
                    match parse_i64(&input[pos + 1..nl]) {
                        Some(n) if n >= 0 && (n as u64) <= self.max_bulk as u64 => {
                            (n as usize, nl + 2)
                        }
                        _ => return Parsed::Error("Protocol error: invalid bulk length".into()),
                    }
                }
            };
            if self.unauthenticated && len > 16384 {
                return Parsed::Error("Protocol error: unauthenticated bulk length".into());
            }
            let end = start + len;
            if end + 2 > input.len() {
                return Parsed::Incomplete { hint: end + 2 };
            }
            self.ranges.push(start..end);
            pos = end + 2;
        }
        self.source = Some(ArgSource::Input);
        Parsed::Command { consumed: pos }
    }

    fn parse_inline(&mut self, input: &[u8]) -> Parsed {
        let Some(nl) = input.iter().position(|&b| b == b'\n') else {
            if input.len() > INLINE_MAX {
                return Parsed::Error("Protocol error: too big inline request".into());
            }
            return Parsed::Incomplete { hint: 0 };
        };
        let mut line = &input[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.scratch.clear();
        if split_args(line, &mut self.scratch, &mut self.ranges).is_err() {
            self.ranges.clear();
            return Parsed::Error("Protocol error: unbalanced quotes in request".into());
        }
        self.source = Some(ArgSource::Scratch);
        Parsed::Command { consumed: nl + 1 }
    }
}

/// Borrowed view of one command's arguments.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    pub fn from_parts(buf: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Args { buf, ranges }
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.buf[self.ranges[i].clone()]
    }
    /// The receive buffer and every argument's range in it: for loops
    /// that walk arguments in fixed strides (key/value pairs) without a
    /// bounds check per `get`.
    #[inline]
    pub fn raw(&self) -> (&'a [u8], &'a [Range<usize>]) {
        (self.buf, self.ranges)
    }
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|r| &self.buf[r.clone()])
    }
    /// The arguments from `from` on (COMMAND GETKEYS reads a command
    /// embedded in its own arguments).
    pub fn tail(&self, from: usize) -> Args<'a> {
        Args {
            buf: self.buf,
            ranges: &self.ranges[from.min(self.ranges.len())..],
        }
    }
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        self.iter().map(|a| a.to_vec()).collect()
    }
}

/// A quick look at the complete RESP command at the start of `buf`: its
/// second argument (the first key, for most commands; `None` for a command
/// of one argument) and what follows the command. `None` when the command
/// is incomplete, inline, or not well formed: the caller only wants a hint
/// (see `Reactor::prefetch`), and the real parser decides.
pub fn peek_command(buf: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    fn number(buf: &[u8], at: usize, sigil: u8) -> Option<(usize, usize)> {
        if buf.get(at) != Some(&sigil) {
            return None;
        }
        quick_number(buf, at + 1)
    }
    let (argc, mut at) = number(buf, 0, b'*')?;
    let mut second = None;
    for i in 0..argc {
        let (len, start) = number(buf, at, b'$')?;
        let end = start.checked_add(len)?;
        if buf.len() < end.checked_add(2)? {
            return None;
        }
        if i == 1 {
            second = Some(&buf[start..end]);
        }
        at = end + 2;
    }
    Some((second, &buf[at..]))
}

/// A `*`/`$` header's number in its canonical form (1 to 18 digits, no
/// leading zero, then CRLF), read in one pass: the value and the position
/// after the CRLF. Anything else (a sign, a leading zero, more digits, a
/// header not all received yet) is `None`, and the caller takes the general
/// path, which knows every error. Finding the CRLF and then parsing the
/// digits walked each header twice: ~40% of the parser's instructions.
#[inline]
fn quick_number(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let digits = buf.get(from..)?;
    // One or two digits: nearly every header (counts, keys, small values)
    // read with a fixed handful of comparisons instead of the loop's
    // per-byte bookkeeping (~80 instructions a header before).
    if let Some(&[d0, d1, d2, d3]) = digits.get(..4) {
        let (a, b) = (d0.wrapping_sub(b'0'), d1.wrapping_sub(b'0'));
        if a < 10 && d1 == b'\r' && d2 == b'\n' {
            return Some((a as usize, from + 3));
        }
        if a < 10 && a != 0 && b < 10 && d2 == b'\r' && d3 == b'\n' {
            return Some((a as usize * 10 + b as usize, from + 4));
        }
    }
    let mut n = 0usize;
    for (i, &b) in digits.iter().enumerate().take(19) {
        match b {
            b'0'..=b'9' => n = n * 10 + (b - b'0') as usize,
            b'\r' if i > 0 && (i == 1 || digits[0] != b'0') => {
                return (digits.get(i + 1) == Some(&b'\n')).then_some((n, from + i + 2));
            }
            _ => return None,
        }
    }
    None
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        match buf[i..].iter().position(|&b| b == b'\r') {
            Some(p) => {
                let at = i + p;
                if at + 1 >= buf.len() {
                    return None;
                }
                if buf[at + 1] == b'\n' {
                    return Some(at);
                }
                i = at + 1;
            }
            None => return None,
        }
    }
    None
}

/// Strict decimal i64 as Redis's string2ll: optional '-', no '+', no spaces,
/// no leading zeros except "0" itself.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    if neg && digits == b"0" {
        return None;
    }
    let mut v: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// One hex digit's value (either case).
pub fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[derive(Debug)]
pub struct UnbalancedQuotes;

/// Split an inline command line like Redis's sdssplitargs: whitespace
/// separated, "double quotes" with \n \r \t \b \a \\ \" \xHH escapes, 'single
/// quotes' with only \' escaped. A closing quote must be followed by a space.
pub fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    ranges: &mut Vec<Range<usize>>,
) -> Result<(), UnbalancedQuotes> {
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Ok(());
        }
        let start = out.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return Err(UnbalancedQuotes);
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex_val(line[i + 2]).is_some()
                    && hex_val(line[i + 3]).is_some()
                {
                    let h =
                        hex_val(line[i + 2]).unwrap_or(0) * 16 + hex_val(line[i + 3]).unwrap_or(0);
                    out.push(h);
                    i += 3;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    out.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if line[i] == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return Err(UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    out.push(line[i]);
                }
            } else if in_sq {
                if i >= n {
                    return Err(UnbalancedQuotes);
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    out.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return Err(UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    out.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => out.push(c),
                }
            }
            i += 1;
        }
        ranges.push(start..out.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(p: &mut Parser, mut input: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            match p.parse(input) {
                Parsed::Command { consumed } => {
                    if p.argc() > 0 {
                        out.push(p.args(input).to_vec());
                    }
                    input = &input[consumed..];
                }
                Parsed::Incomplete { .. } => return out,
                Parsed::Error(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let mut p = Parser::new(DEFAULT_MAX_BULK);
        let cmds = parse_all(
            &mut p,
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset \"a b\" 'c\\'d'\r\n",
        );
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(
            cmds[2],
            vec![b"set".to_vec(), b"a b".to_vec(), b"c'd".to_vec()]
        );
    }

    #[test]
    fn protocol_errors() {
        let mut p = Parser::new(DEFAULT_MAX_BULK);
        let err = |p: &mut Parser, s: &[u8]| match p.parse(s) {
            Parsed::Error(e) => e,
            other => panic!("{other:?}"),
        };
        assert!(err(&mut p, b"*3000000000\r\n").contains("invalid multibulk length"));
        assert!(err(&mut p, b"*1\r\nfoo\r\n").contains("expected '$', got 'f'"));
        assert!(err(&mut p, b"*1\r\n$-10\r\n").contains("invalid bulk length"));
        assert!(err(&mut p, b"*1\r\n$blabla\r\n").contains("invalid bulk length"));
        assert!(err(&mut p, b"*1\r\n$2000000000\r\n").contains("invalid bulk length"));
        assert!(err(&mut p, b"set \"\"\"a\"\"\" b\r\n").contains("unbalanced quotes"));
        assert!(err(&mut p, b"set \"a\r\n").contains("unbalanced quotes"));
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"-0"), None);
    }

    /// RESP multibulk encoding of `cmds`, back to back.
    fn encode_stream(cmds: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut stream = Vec::new();
        for c in cmds {
            stream.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
            for a in c {
                stream.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                stream.extend_from_slice(a);
                stream.extend_from_slice(b"\r\n");
            }
        }
        stream
    }

    proptest::proptest! {
        /// Any split of a valid stream parses to the same commands.
        #[test]
        fn any_split_parses_the_same(
            cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..5), 1..8),
            cut in 0usize..400,
        ) {
            let stream = encode_stream(&cmds);
            let cut = cut.min(stream.len());
            let mut p = Parser::new(DEFAULT_MAX_BULK);
            // Feed in two pieces, keeping unconsumed bytes like a connection does.
            let mut buf = Vec::new();
            let mut got = Vec::new();
            for piece in [&stream[..cut], &stream[cut..]] {
                buf.extend_from_slice(piece);
                let mut off = 0;
                loop {
                    match p.parse(&buf[off..]) {
                        Parsed::Command { consumed } => {
                            got.push(p.args(&buf[off..]).to_vec());
                            off += consumed;
                        }
                        Parsed::Incomplete { .. } => break,
                        Parsed::Error(e) => panic!("{e}"),
                    }
                }
                buf.drain(..off);
            }
            proptest::prop_assert_eq!(got, cmds);
        }

        /// The one-pass header number agrees with find_crlf + parse_i64
        /// wherever it answers, and answers for every canonical count.
        #[test]
        fn quick_number_agrees_with_the_general_path(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"0123456789-+\r\n x".to_vec()), 0..24),
            n in proptest::prelude::any::<u64>(),
        ) {
            if let Some((v, next)) = quick_number(&bytes, 0) {
                proptest::prop_assert_eq!(find_crlf(&bytes, 0), Some(next - 2));
                proptest::prop_assert_eq!(parse_i64(&bytes[..next - 2]), Some(v as i64));
            }
            let n = n % 1_000_000_000_000_000_000;
            let canon = format!("{n}\r\nrest");
            proptest::prop_assert_eq!(
                quick_number(canon.as_bytes(), 0),
                Some((n as usize, canon.len() - 4))
            );
        }

        /// `peek_command` agrees with the parser on every complete command
        /// of a stream (its second argument and where it ends), and says
        /// nothing about an incomplete or damaged one.
        #[test]
        fn peek_agrees_with_the_parser(
            cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..5), 1..8),
            cut in 0usize..400,
            flip in proptest::prelude::any::<(usize, u8)>(),
        ) {
            let stream = encode_stream(&cmds);
            let mut rest = &stream[..cut.min(stream.len())];
            let mut p = Parser::new(DEFAULT_MAX_BULK);
            loop {
                let peeked = peek_command(rest);
                match p.parse(rest) {
                    Parsed::Command { consumed } => {
                        let args = p.args(rest).to_vec();
                        let (second, after) = peeked.expect("a complete command");
                        proptest::prop_assert_eq!(second.map(|s| s.to_vec()), args.get(1).cloned());
                        proptest::prop_assert_eq!(after.len(), rest.len() - consumed);
                        rest = &rest[consumed..];
                    }
                    _ => {
                        proptest::prop_assert!(peeked.is_none());
                        break;
                    }
                }
            }
            // Damaged input never makes it read out of bounds or loop.
            let mut damaged = stream.clone();
            let at = flip.0 % damaged.len();
            damaged[at] = flip.1;
            let mut rest = &damaged[..];
            while let Some((_, after)) = peek_command(rest) {
                proptest::prop_assert!(after.len() < rest.len());
                rest = after;
            }
        }
    }
}
