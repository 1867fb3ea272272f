//! C's `long double`, for the two commands Redis computes in it:
//! INCRBYFLOAT and HINCRBYFLOAT parse with `strtold`, add in long double
//! and store `%.17Lf` with the trailing zeros cut (`ld2string`'s human
//! mode). On x86_64 Linux that is the x87's 80-bit format, whose 64-bit
//! mantissa is why Redis answers `INCRBYFLOAT k 0.1` then `0.2` with `0.3`
//! where a double gives `0.30000000000000004`: replies and stored values
//! show every digit, so nothing short of the same arithmetic matches them.
//!
//! Rust has no 80-bit float, so the three operations go through a few
//! lines of assembly: the sum is the x87's own `fadd`, and the
//! conversions are glibc's `strtold` and `snprintf`, the very functions
//! Redis calls (exact decimal rounding both ways, hex floats, `inf`).
//! Elsewhere a `double` stands in, as it did before.

/// A long double (the x87 extended format: 8 bytes of mantissa, then
/// sign and exponent; the rest is padding), or a double stand-in.
#[derive(Clone, Copy, Debug)]
pub struct LongDouble(imp::Repr);

/// Redis's MAX_LONG_DOUBLE_CHARS: longer input is not a number.
const MAX_CHARS: usize = 5 * 1024;

impl LongDouble {
    /// Redis's `string2ld`: the whole of `s` is a number `strtold`
    /// reads, without leading space, not NaN, not out of range.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS || s[0].is_ascii_whitespace() || s[0] == 0x0b {
            return None;
        }
        imp::parse(s).map(LongDouble)
    }

    pub fn zero() -> LongDouble {
        LongDouble(imp::ZERO)
    }

    /// Neither NaN nor infinite.
    pub fn is_finite(self) -> bool {
        imp::is_finite(self.0)
    }

    /// The nearest double (infinite past the double's range).
    pub fn to_f64(self) -> f64 {
        imp::to_f64(self.0)
    }

    /// `ld2string(..., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros (and a
    /// bare point) removed, `-0` as `0`; infinities as `inf`/`-inf`.
    pub fn to_human(self) -> String {
        if let Some(inf) = imp::infinity(self.0) {
            return inf.into();
        }
        human_form(imp::fixed17(self.0))
    }
}

/// `ld2string`'s human form of a fixed-point rendering: trailing zeros
/// after the point (and a bare point) removed, `-0` as `0`. Shared with
/// GEO's coordinates, which Redis prints the same way.
pub fn human_form(mut s: String) -> String {
    if s.contains('.') {
        let kept = s.trim_end_matches('0').len();
        s.truncate(kept);
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;
    /// Rounded to the format's precision, as C's `+` on long doubles.
    fn add(self, other: LongDouble) -> LongDouble {
        LongDouble(imp::add(self.0, other.0))
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::ffi::c_char;

    /// The 10 bytes of an x87 extended value, padded to 16.
    pub type Repr = [u8; 16];
    pub const ZERO: Repr = [0; 16];

    // SAFETY (of what the Rust side relies on): each routine follows the
    // System V ABI, keeps the stack 16-byte aligned at its calls, saves
    // the one callee-saved register it uses, and leaves the x87 stack
    // empty. `strtold` returns in st(0); a variadic long double travels
    // on the stack, 16-byte aligned; AL = 0 tells `snprintf` no vector
    // register carries an argument.
    std::arch::global_asm!(
        ".pushsection .text.halocline_ld,\"ax\",@progbits",
        ".p2align 4",
        ".globl halocline_ld_strtold",
        ".hidden halocline_ld_strtold",
        "halocline_ld_strtold:",
        "push rbx",
        "mov rbx, rdx",
        "call strtold@PLT",
        "fstp tbyte ptr [rbx]",
        "pop rbx",
        "ret",
        ".p2align 4",
        ".globl halocline_ld_add",
        ".hidden halocline_ld_add",
        "halocline_ld_add:",
        "fld tbyte ptr [rdi]",
        "fld tbyte ptr [rsi]",
        "faddp st(1), st",
        "fstp tbyte ptr [rdx]",
        "ret",
        ".p2align 4",
        ".globl halocline_ld_snprintf",
        ".hidden halocline_ld_snprintf",
        "halocline_ld_snprintf:",
        "push rbp",
        "mov rbp, rsp",
        "sub rsp, 16",
        "mov rax, qword ptr [rcx]",
        "mov qword ptr [rsp], rax",
        "movzx eax, word ptr [rcx + 8]",
        "mov qword ptr [rsp + 8], rax",
        "xor eax, eax",
        "call snprintf@PLT",
        "leave",
        "ret",
        ".popsection",
    );

    extern "C" {
        /// `*out = strtold(s, end)`.
        fn halocline_ld_strtold(s: *const c_char, end: *mut *mut c_char, out: *mut u8);
        /// `*out = *a + *b`.
        fn halocline_ld_add(a: *const u8, b: *const u8, out: *mut u8);
        /// `snprintf(buf, len, fmt, *ld)`.
        fn halocline_ld_snprintf(
            buf: *mut c_char,
            len: usize,
            fmt: *const c_char,
            ld: *const u8,
        ) -> i32;
    }

    fn exponent(v: &Repr) -> u16 {
        u16::from_le_bytes([v[8], v[9]]) & 0x7fff
    }

    fn mantissa(v: &Repr) -> u64 {
        let mut m = [0u8; 8];
        m.copy_from_slice(&v[..8]);
        u64::from_le_bytes(m)
    }

    fn negative(v: &Repr) -> bool {
        v[9] & 0x80 != 0
    }

    pub fn is_finite(v: Repr) -> bool {
        exponent(&v) != 0x7fff
    }

    pub fn to_f64(v: Repr) -> f64 {
        if !is_finite(v) {
            return if is_nan(&v) {
                f64::NAN
            } else if negative(&v) {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
        }
        // mantissa * 2^(exponent - bias - 63), the integer bit explicit;
        // scaled in two steps so neither power of two overflows alone.
        let e = i32::from(exponent(&v)) - 16383 - 63;
        let m = mantissa(&v) as f64 * 2f64.powi(e / 2) * 2f64.powi(e - e / 2);
        if negative(&v) {
            -m
        } else {
            m
        }
    }

    fn is_nan(v: &Repr) -> bool {
        exponent(v) == 0x7fff && mantissa(v) << 1 != 0
    }

    fn is_zero(v: &Repr) -> bool {
        exponent(v) == 0 && mantissa(v) == 0
    }

    pub fn infinity(v: Repr) -> Option<&'static str> {
        if exponent(&v) == 0x7fff && mantissa(&v) << 1 == 0 {
            Some(if negative(&v) { "-inf" } else { "inf" })
        } else {
            None
        }
    }

    pub fn parse(s: &[u8]) -> Option<Repr> {
        // NUL-terminated as strtold wants it; it must read every byte (an
        // embedded NUL stops it short: not a number).
        let mut buf = Vec::with_capacity(s.len() + 1);
        buf.extend_from_slice(s);
        buf.push(0);
        let mut out: Repr = ZERO;
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: errno is this thread's; `buf` is NUL-terminated and
        // outlives the call; `out` has room for the 10 bytes written.
        let errno = unsafe {
            *libc::__errno_location() = 0;
            halocline_ld_strtold(buf.as_ptr().cast(), &mut end, out.as_mut_ptr());
            *libc::__errno_location()
        };
        let read = (end as usize).wrapping_sub(buf.as_ptr() as usize);
        let overflowed = errno == libc::ERANGE && (infinity(out).is_some() || is_zero(&out));
        if read != s.len() || overflowed || errno == libc::EINVAL || is_nan(&out) {
            return None;
        }
        Some(out)
    }

    pub fn add(a: Repr, b: Repr) -> Repr {
        let mut out = ZERO;
        // SAFETY: three 16-byte buffers, the result written to the last.
        unsafe { halocline_ld_add(a.as_ptr(), b.as_ptr(), out.as_mut_ptr()) };
        out
    }

    /// `%.17Lf` of a finite value.
    pub fn fixed17(v: Repr) -> String {
        // Room for the usual sizes first; snprintf tells the length when it
        // did not fit (the largest long double has 4933 integer digits).
        let mut buf = vec![0u8; 64];
        loop {
            // SAFETY: `buf` has the length passed; the format takes exactly
            // the one long double given.
            let n = unsafe {
                halocline_ld_snprintf(
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    c"%.17Lf".as_ptr(),
                    v.as_ptr(),
                )
            };
            let n = usize::try_from(n).unwrap_or(0);
            if n < buf.len() || buf.len() > 8192 {
                buf.truncate(n.min(buf.len().saturating_sub(1)));
                return String::from_utf8(buf).unwrap_or_default();
            }
            buf.resize(n + 1, 0);
        }
    }
}

/// Without the x87 (or glibc): a double, close to but not always Redis's
/// digits (its long double there may be wider: binary128 on aarch64).
#[cfg(not(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")))]
mod imp {
    pub type Repr = f64;
    pub const ZERO: Repr = 0.0;

    pub fn parse(s: &[u8]) -> Option<Repr> {
        let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
        (!v.is_nan()).then_some(v)
    }
    pub fn add(a: Repr, b: Repr) -> Repr {
        a + b
    }
    pub fn is_finite(v: Repr) -> bool {
        v.is_finite()
    }
    pub fn to_f64(v: Repr) -> f64 {
        v
    }
    pub fn infinity(v: Repr) -> Option<&'static str> {
        v.is_infinite()
            .then_some(if v > 0.0 { "inf" } else { "-inf" })
    }
    pub fn fixed17(v: Repr) -> String {
        format!("{v:.17}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(s: &str) -> LongDouble {
        LongDouble::parse(s.as_bytes()).expect(s)
    }

    fn sum(a: &str, b: &str) -> String {
        (ld(a) + ld(b)).to_human()
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    fn converts_to_the_nearest_double() {
        assert_eq!(ld("0.1").to_f64(), 0.1);
        assert_eq!(ld("-2.5").to_f64(), -2.5);
        assert_eq!(ld("0x10").to_f64(), 16.0);
        assert_eq!(ld("0x0.1").to_f64(), 0.0625);
        assert_eq!(ld("123456789012345678").to_f64(), 123456789012345678.0);
        assert_eq!(ld("1e400").to_f64(), f64::INFINITY);
        assert_eq!(ld("-inf").to_f64(), f64::NEG_INFINITY);
        assert_eq!(ld("1e-400").to_f64(), 0.0);
        assert_eq!(ld("0").to_f64(), 0.0);
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    fn sums_print_as_redis_prints_them() {
        // Each pair checked against redis-server 7.0 (INCRBYFLOAT).
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("0.3", "1e-5"), "0.30001");
        assert_eq!(sum("0.3", "3.0e3"), "3000.30000000000000004");
        assert_eq!(sum("5000", "1.23456789012345678"), "5001.23456789012345691");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("0", "0x1p3"), "8");
        assert_eq!(sum("-1", "1"), "0");
        assert_eq!(sum("-0.0", "0"), "0");
        assert_eq!(
            sum("1.7976931348623157e308", "1e308"),
            concat!(
                "27976931348623157000235224044135007878929992917961993400398769561769337",
                "09188303646840149442210420509873411557103615441716861480292765053071387",
                "77262321877129888036065002204239033812550598509174132739480498569620043",
                "58276054118936586655152256174143531703129452774401187815979317466568877",
                "3926186886103199182225408"
            )
        );
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    fn redis_rejects_what_string2ld_rejects() {
        for bad in [
            "", " 1", "1 ", "abc", "1.5x", "nan", "1e99999", "--1", "\t2", "\0", "1\0",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        for good in [
            "1",
            "+1",
            "-1.5",
            "1e3",
            ".5",
            "5.",
            "inf",
            "-infinity",
            "1e-400",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert!(LongDouble::parse(&b"1".repeat(MAX_CHARS)).is_none());
        assert!(!ld("inf").is_finite());
        assert_eq!(ld("-inf").to_human(), "-inf");
        assert!((ld("1e4000") + ld("1e4000")).is_finite());
    }
}
