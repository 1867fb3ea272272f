//! Reply encoding for RESP2 and RESP3. Pure functions over a `Vec<u8>`: the
//! caller owns (and reuses) the output buffer.

/// The protocol a connection negotiated with HELLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Resp2,
    Resp3,
}

pub struct Reply<'a> {
    pub out: &'a mut Vec<u8>,
    pub proto: Proto,
}

#[inline]
pub fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

impl<'a> Reply<'a> {
    pub fn new(out: &'a mut Vec<u8>, proto: Proto) -> Self {
        Reply { out, proto }
    }
    #[inline]
    pub fn resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }
    #[inline]
    pub fn ok(&mut self) {
        self.out.extend_from_slice(b"+OK\r\n");
    }
    #[inline]
    pub fn simple(&mut self, s: &str) {
        self.out.push(b'+');
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }
    /// An error reply. `msg` is the full message including its code
    /// ("ERR ...", "WRONGTYPE ..."); newlines are replaced like Redis does.
    pub fn error(&mut self, msg: &str) {
        crate::errorstats::record(msg);
        self.error_uncounted(msg);
    }
    /// An error reply counted already where it arose (a script returning
    /// the error a command it called answered).
    pub fn error_uncounted(&mut self, msg: &str) {
        self.out.push(b'-');
        for &b in msg.as_bytes() {
            self.out
                .push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.out.extend_from_slice(b"\r\n");
    }
    #[inline]
    pub fn int(&mut self, v: i64) {
        self.out.push(b':');
        push_int(self.out, v);
        self.out.extend_from_slice(b"\r\n");
    }
    #[inline]
    pub fn bulk(&mut self, s: &[u8]) {
        self.out.push(b'$');
        push_int(self.out, s.len() as i64);
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(s);
        self.out.extend_from_slice(b"\r\n");
    }
    pub fn bulk_int(&mut self, v: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(v).as_bytes());
    }
    /// Null bulk string (RESP2 `$-1`, RESP3 `_`).
    #[inline]
    pub fn null(&mut self) {
        if self.resp3() {
            self.out.extend_from_slice(b"_\r\n");
        } else {
            self.out.extend_from_slice(b"$-1\r\n");
        }
    }
    /// Null array (RESP2 `*-1`, RESP3 `_`).
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.out.extend_from_slice(b"_\r\n");
        } else {
            self.out.extend_from_slice(b"*-1\r\n");
        }
    }
    /// A HELP subcommand's reply: one status line each.
    pub fn help(&mut self, lines: &[&str]) {
        self.array(lines.len());
        for l in lines {
            self.simple(l);
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }
    /// A map of `n` pairs (RESP2: flat array of 2n).
    pub fn map(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'%', n);
        } else {
            self.header(b'*', n * 2);
        }
    }
    pub fn set(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'~', n);
        } else {
            self.header(b'*', n);
        }
    }
    pub fn boolean(&mut self, v: bool) {
        if self.resp3() {
            self.out
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }
    /// Double: RESP3 `,`; RESP2 a bulk string, formatted like Redis 7.0's
    /// addReplyDouble (`%.17g`, so ZSCORE of 1.1 is "1.1000000000000001").
    pub fn double(&mut self, v: f64) {
        let s = format_g17(v);
        if self.resp3() {
            self.out.push(b',');
            self.out.extend_from_slice(s.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }
    /// A double already formatted (Redis's addReplyHumanLongDouble):
    /// RESP3 `,`, RESP2 a bulk string.
    pub fn double_text(&mut self, s: &str) {
        if self.resp3() {
            self.out.push(b',');
            self.out.extend_from_slice(s.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }
    /// Verbatim text (RESP3 `=`, RESP2 bulk), used by INFO and CLIENT INFO/LIST.
    pub fn verbatim(&mut self, s: &[u8]) {
        if self.resp3() {
            self.out.push(b'=');
            push_int(self.out, s.len() as i64 + 4);
            self.out.extend_from_slice(b"\r\ntxt:");
            self.out.extend_from_slice(s);
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }
    /// Big number (RESP3 `(`, RESP2 bulk string).
    pub fn bignum(&mut self, digits: &str) {
        if self.resp3() {
            self.out.push(b'(');
            self.out.extend_from_slice(digits.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }
    /// RESP3 attribute header; callers skip attributes entirely on RESP2.
    pub fn attribute(&mut self, n: usize) {
        self.header(b'|', n);
    }
    /// RESP3 push header.
    pub fn push(&mut self, n: usize) {
        self.header(b'>', n);
    }
    fn header(&mut self, c: u8, n: usize) {
        self.out.push(c);
        push_int(self.out, n as i64);
        self.out.extend_from_slice(b"\r\n");
    }
}

/// C's `%.17g` (what Redis 7.0 replies scores with): 17 significant
/// digits, trailing zeros dropped, exponent form below 1e-4 or from 1e17.
/// Rust's `{:e}` with a precision rounds exactly like glibc's printf.
pub fn format_g17(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.is_nan() {
        return "nan".into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e_form = format!("{v:.16e}");
    let (mant, exp) = match e_form.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (e_form.as_str(), 0),
    };
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut out = String::with_capacity(26);
    if neg {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Redis's d2string (how a listpack stores a score, seen by ZSCAN):
/// integral values within ±2^62 as integers, else `%.17g`.
pub fn format_d2string(v: f64) -> String {
    const LIM: f64 = (i64::MAX / 2) as f64;
    if v.is_finite() && v != 0.0 && (-LIM..=LIM).contains(&v) && v == v.trunc() {
        return (v as i64).to_string();
    }
    format_g17(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_both_protocols() {
        let mut v = Vec::new();
        let mut r = Reply::new(&mut v, Proto::Resp2);
        r.null();
        r.map(1);
        r.double(1.5);
        assert_eq!(v, b"$-1\r\n*2\r\n$3\r\n1.5\r\n");
        let mut v = Vec::new();
        let mut r = Reply::new(&mut v, Proto::Resp3);
        r.null();
        r.map(1);
        r.double(1.5);
        assert_eq!(v, b"_\r\n%1\r\n,1.5\r\n");
    }

    #[test]
    fn g17_like_printf() {
        let cases: &[(f64, &str)] = &[
            (1.1, "1.1000000000000001"),
            (0.1, "0.10000000000000001"),
            (1.25, "1.25"),
            (1.5, "1.5"),
            (10.0, "10"),
            (-2.0, "-2"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (-0.0, "-0"),
            (0.8786644561143104, "0.87866445611431043"),
            (5e-324, "4.9406564584124654e-324"),
        ];
        for (v, want) in cases {
            assert_eq!(format_g17(*v), *want, "{v:e}");
        }
        assert_eq!(format_d2string(1e17), "100000000000000000");
        assert_eq!(format_d2string(1.5), "1.5");
        assert_eq!(format_d2string(-0.0), "-0");
    }
}
