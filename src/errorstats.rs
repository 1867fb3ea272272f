//! INFO's error counters: `total_error_replies` and the `errorstats`
//! section (`errorstat_<CODE>:count=N`), as Redis keeps them. Every error
//! reply is counted where it is written, by its code (the message's first
//! word, as Redis takes it from the first 32 bytes; ERR when there is
//! none), on the thread that writes it: INFO adds up every reactor's
//! counts. Error replies are rare, so the reply path pays nothing else.

use std::cell::RefCell;

#[derive(Default, Clone, Debug, PartialEq)]
pub struct ErrorCounts {
    pub total: u64,
    /// Per error code, in first-seen order; at most `MAX_CODES` (scripts
    /// can reply errors with codes of their own making).
    pub by_code: Vec<(Box<str>, u64)>,
}

thread_local! {
    static COUNTS: RefCell<ErrorCounts> = RefCell::new(ErrorCounts::default());
}

/// The code Redis files an error reply `msg` (no leading '-') under.
pub fn code_of(msg: &str) -> &str {
    let head = &msg.as_bytes()[..msg.len().min(31)];
    match head.iter().position(|&b| b == b' ') {
        Some(0) | None => "ERR",
        Some(n) => &msg[..n],
    }
}

/// Count one error reply.
pub fn record(msg: &str) {
    let code = code_of(msg);
    COUNTS.with(|c| {
        let mut c = c.borrow_mut();
        c.total += 1;
        let full = c.by_code.len() >= MAX_CODES;
        match c.by_code.iter_mut().find(|(k, _)| &**k == code) {
            Some((_, n)) => *n += 1,
            None if !full => c.by_code.push((code.into(), 1)),
            // Counted in the total only (Redis 7.2 stops tracking codes
            // past its ERROR_STATS_NUMBER too).
            None => {}
        }
    });
}

/// How many distinct error codes are kept (per thread, and once summed).
const MAX_CODES: usize = 128;

/// This thread's counts.
pub fn snapshot() -> ErrorCounts {
    COUNTS.with(|c| c.borrow().clone())
}

/// CONFIG RESETSTAT, on this thread.
pub fn reset() {
    COUNTS.with(|c| *c.borrow_mut() = ErrorCounts::default());
}

impl ErrorCounts {
    /// Add another thread's counts.
    pub fn add(&mut self, o: &ErrorCounts) {
        self.total += o.total;
        for (code, n) in &o.by_code {
            let full = self.by_code.len() >= MAX_CODES;
            match self.by_code.iter_mut().find(|(k, _)| k == code) {
                Some((_, m)) => *m += n,
                None if !full => self.by_code.push((code.clone(), *n)),
                None => {}
            }
        }
    }

    /// INFO's `errorstats` lines, in Redis's order (by code).
    pub fn info_lines(&self) -> String {
        let mut codes: Vec<&(Box<str>, u64)> = self.by_code.iter().collect();
        codes.sort_by(|a, b| a.0.cmp(&b.0));
        codes
            .iter()
            .map(|(code, n)| format!("errorstat_{code}:count={n}\r\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_as_redis_files_them() {
        assert_eq!(code_of("ERR syntax error"), "ERR");
        assert_eq!(code_of("WRONGTYPE Operation against a key"), "WRONGTYPE");
        assert_eq!(code_of("MY_ERR_CODE custom"), "MY_ERR_CODE");
        assert_eq!(code_of("single"), "ERR");
        assert_eq!(code_of(""), "ERR");
        assert_eq!(code_of(" leading space"), "ERR");
        // Beyond Redis's 32-byte window: no code found.
        assert_eq!(code_of(&format!("{} x", "A".repeat(40))), "ERR");
    }

    #[test]
    fn counts_add_up_and_reset() {
        reset();
        record("ERR a");
        record("WRONGTYPE b");
        record("ERR c");
        let mut s = snapshot();
        assert_eq!(s.total, 3);
        s.add(&snapshot());
        assert_eq!(s.total, 6);
        assert_eq!(
            s.info_lines(),
            "errorstat_ERR:count=4\r\nerrorstat_WRONGTYPE:count=2\r\n"
        );
        reset();
        assert_eq!(snapshot(), ErrorCounts::default());
    }
}
