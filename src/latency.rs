//! The latency monitor (LATENCY LATEST, HISTORY, RESET, GRAPH, DOCTOR):
//! every timed event that took at least latency-monitor-threshold
//! milliseconds (0: the monitor is off) is a sample of its event class:
//! "command" and "fast-command" (the commands the slow log times: not
//! those spanning shards or whole-keyspace ones), "expire-cycle",
//! "eviction-cycle". Per class, as in
//! Redis: the last 160 seconds that had a sample, the slowest sample of
//! each second, and the slowest ever.
//!
//! Process-wide behind one lock: a sample is taken only when something
//! was already slow, so the lock is never on a fast path; the check that
//! decides is one relaxed load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Samples kept per event class (Redis's LATENCY_TS_LEN).
const KEPT: usize = 160;

static THRESHOLD_MS: AtomicU64 = AtomicU64::new(0);
static EVENTS: Mutex<BTreeMap<&'static str, Series>> = Mutex::new(BTreeMap::new());

#[derive(Default)]
struct Series {
    /// (unix seconds, ms), oldest first, one per second.
    samples: std::collections::VecDeque<(u64, u64)>,
    max: u64,
}

fn events() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, Series>> {
    EVENTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// latency-monitor-threshold (start-up, CONFIG SET).
pub fn set_threshold(ms: i64) {
    THRESHOLD_MS.store(ms.max(0) as u64, Ordering::Relaxed);
}

/// Whether the monitor is on: worth timing what it samples.
#[inline]
pub fn enabled() -> bool {
    THRESHOLD_MS.load(Ordering::Relaxed) != 0
}

/// `event` took `ms`: a sample if that reaches the threshold.
#[inline]
pub fn sample(event: &'static str, ms: u64) {
    let threshold = THRESHOLD_MS.load(Ordering::Relaxed);
    if threshold != 0 && ms >= threshold {
        add(event, ms, unix_secs());
    }
}

/// A command's run of `us` microseconds (`fast`: a command the table
/// flags fast, Redis's "fast-command" class).
#[inline]
pub fn command(fast: bool, us: u64) {
    sample(if fast { "fast-command" } else { "command" }, us / 1000);
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cold]
fn add(event: &'static str, ms: u64, now: u64) {
    let mut all = events();
    let s = all.entry(event).or_default();
    s.max = s.max.max(ms);
    match s.samples.back_mut() {
        // The same second: its slowest sample stands for it.
        Some(last) if last.0 == now => last.1 = last.1.max(ms),
        _ => {
            if s.samples.len() == KEPT {
                s.samples.pop_front();
            }
            s.samples.push_back((now, ms));
        }
    }
}

/// LATENCY LATEST: (event, time, latency, max) of each class's newest sample.
pub fn latest() -> Vec<(&'static str, u64, u64, u64)> {
    events()
        .iter()
        .filter_map(|(e, s)| s.samples.back().map(|&(t, ms)| (*e, t, ms, s.max)))
        .collect()
}

/// LATENCY HISTORY: a class's samples, oldest first (none if unknown).
pub fn history(event: &[u8]) -> Vec<(u64, u64)> {
    events()
        .iter()
        .find(|(e, _)| e.as_bytes() == event)
        .map(|(_, s)| s.samples.iter().copied().collect())
        .unwrap_or_default()
}

/// LATENCY RESET: forget the named classes (all with none named); how
/// many there were.
pub fn reset(named: &[&[u8]]) -> usize {
    let mut all = events();
    if named.is_empty() {
        let n = all.len();
        all.clear();
        return n;
    }
    let before = all.len();
    all.retain(|e, _| !named.contains(&e.as_bytes()));
    before - all.len()
}

/// LATENCY GRAPH: a class's samples as a bar chart, four rows high, one
/// column per sample (oldest left), each labelled with how long ago it
/// was; None if the class has no sample.
pub fn graph(event: &[u8]) -> Option<String> {
    let all = events();
    let (name, s) = all.iter().find(|(e, _)| e.as_bytes() == event)?;
    let now = unix_secs();
    let lo = s.samples.iter().map(|x| x.1).min()?;
    let hi = s.samples.iter().map(|x| x.1).max()?;
    let mut out = format!(
        "{name} - high {hi} ms, low {lo} ms (all time high {} ms)\n{}\n",
        s.max,
        "-".repeat(80)
    );
    const ROWS: u64 = 4;
    // Each sample's height, 1..=ROWS (the lowest still shows).
    let heights: Vec<u64> = s
        .samples
        .iter()
        .map(|&(_, ms)| {
            if hi == lo {
                ROWS
            } else {
                1 + (ms - lo) * (ROWS - 1) / (hi - lo)
            }
        })
        .collect();
    for row in (1..=ROWS).rev() {
        let line: String = heights
            .iter()
            .map(|&h| if h >= row { '#' } else { ' ' })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // Labels written downwards, one column per sample (Redis's layout).
    let labels: Vec<Vec<char>> = s
        .samples
        .iter()
        .map(|&(t, _)| ago(now.saturating_sub(t)).chars().collect())
        .collect();
    let depth = labels.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..depth {
        let line: String = labels
            .iter()
            .map(|l| l.get(i).copied().unwrap_or(' '))
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Some(out)
}

/// How long ago, in the largest whole unit (Redis's labels: 42s, 5m, 3h, 2d).
fn ago(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// LATENCY DOCTOR: per class, how many spikes, their average and mean
/// deviation, how often they come, and the worst. The verdicts with
/// nothing to analyse are Redis's words; the analysis is worded here.
pub fn doctor() -> String {
    let all = events();
    if all.is_empty() {
        if !enabled() {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
        }
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n".into();
    }
    let mut out = String::from("Latency spikes observed, by event class:\n\n");
    for (i, (name, s)) in all.iter().enumerate() {
        let n = s.samples.len() as u64;
        let sum: u64 = s.samples.iter().map(|x| x.1).sum();
        let avg = sum / n.max(1);
        let mad = s.samples.iter().map(|x| x.1.abs_diff(avg)).sum::<u64>() / n.max(1);
        let span = match (s.samples.front(), s.samples.back()) {
            // Wall-clock seconds: a clock stepped back gives 0, not a wrap.
            (Some(a), Some(b)) => b.0.saturating_sub(a.0),
            _ => 0,
        };
        out.push_str(&format!(
            "{}. {name}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            span as f64 / n.max(1) as f64,
            s.max
        ));
        let advice = match *name {
            "command" => "   Slow commands: SLOWLOG GET shows which; commands that work on whole large values (SMEMBERS, HGETALL, LRANGE 0 -1, SORT...) take time in proportion to them.\n",
            "fast-command" => "   Commands that should take constant time were slow: usually the process was not running (a busy or oversubscribed host, swapping, a virtual machine's steal time).\n",
            "expire-cycle" => "   Active expiry deleted large values or many keys at once; a key holding a large collection takes time to free when it expires.\n",
            "eviction-cycle" => "   Eviction freed many keys at once to get under maxmemory; large writes, or a maxmemory lowered at run time, cause mass eviction.\n",
            _ => "",
        };
        out.push_str(advice);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_the_slowest_and_at_most_160() {
        let ev = "test-ring";
        for t in 0..200u64 {
            add(ev, 10 + t % 3, 1000 + t);
            add(ev, 5, 1000 + t);
        }
        add(ev, 99, 1199);
        let h = history(ev.as_bytes());
        assert_eq!(h.len(), KEPT);
        assert_eq!(h.first(), Some(&(1040, 10 + 40 % 3)));
        assert_eq!(h.last(), Some(&(1199, 99)));
        let l = latest();
        let mine = l.iter().find(|x| x.0 == ev).copied();
        assert_eq!(mine, Some((ev, 1199, 99, 99)));
        assert!(graph(ev.as_bytes()).is_some_and(|g| g.starts_with("test-ring - high 99 ms")));
        assert_eq!(reset(&[b"TEST-RING".as_slice()]), 0);
        assert_eq!(reset(&[b"test-ring".as_slice()]), 1);
        assert!(history(ev.as_bytes()).is_empty());
        assert!(graph(ev.as_bytes()).is_none());
    }

    #[test]
    fn labels_name_the_largest_unit() {
        assert_eq!(ago(59), "59s");
        assert_eq!(ago(60), "1m");
        assert_eq!(ago(7200), "2h");
        assert_eq!(ago(86400 * 3), "3d");
    }
}
