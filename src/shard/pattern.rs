//! Glob-style matching with Redis's stringmatchlen rules (KEYS, SCAN MATCH):
//! `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.

pub fn glob_match(pat: &[u8], s: &[u8], nocase: bool) -> bool {
    // Greedy matching with one backtrack point (the last `*`): O(len(pat) *
    // len(s)) at worst, where naive recursion is exponential on patterns
    // like "a*a*a*...b" (Redis guards the same case with skipLongerMatches).
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    while p < pat.len() && pat[p] == b'*' {
                        p += 1;
                    }
                    if p == pat.len() {
                        return true;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(pat, p, s[i], nocase) {
                        if matched {
                            p = next;
                            i += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if eq(pat[p + 1], s[i], nocase) {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, s[i], nocase) {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        // Mismatch: let the last star swallow one more byte, or fail.
        match star {
            Some((sp, si)) => {
                p = sp;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Match `c` against the class starting at `pat[p] == '['`. Returns whether
/// it matched and the index after the class (an unterminated class runs to
/// the end of the pattern, as in Redis).
fn class(pat: &[u8], p: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    let mut j = p + 1;
    let not = j < pat.len() && pat[j] == b'^';
    if not {
        j += 1;
    }
    let mut matched = false;
    while j < pat.len() && pat[j] != b']' {
        if pat[j] == b'\\' && j + 1 < pat.len() {
            j += 1;
            if pat[j] == c {
                matched = true;
            }
        } else if j + 2 < pat.len() && pat[j + 1] == b'-' {
            let (mut lo, mut hi) = (pat[j], pat[j + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let (x, lo, hi) = if nocase {
                (
                    c.to_ascii_lowercase(),
                    lo.to_ascii_lowercase(),
                    hi.to_ascii_lowercase(),
                )
            } else {
                (c, lo, hi)
            };
            if x >= lo && x <= hi {
                matched = true;
            }
            j += 2;
        } else if eq(pat[j], c, nocase) {
            matched = true;
        }
        j += 1;
    }
    let next = if j < pat.len() { j + 1 } else { j };
    Some((matched != not, next))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"foo*", b"foo", false));
        assert!(glob_match(b"f?o", b"foo", false));
        assert!(!glob_match(b"f?o", b"fo", false));
        assert!(glob_match(b"h[ae]llo", b"hello", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(!glob_match(b"a\\*b", b"axb", false));
        assert!(glob_match(b"*a*", b"bab", false));
        assert!(!glob_match(b"a*", b"", false));
        assert!(glob_match(b"*", b"", false));
        assert!(glob_match(b"key:*", b"key:1", false));
        assert!(!glob_match(
            b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
            &[b'a'; 40],
            false
        ));
        assert!(glob_match(b"*[0-9]", b"key9", false));
    }
}
