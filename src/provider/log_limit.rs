//! Log summaries for repeated call outcomes, so one misbehaving component cannot flood an
//! operator's log.
//!
//! Every call logs one line at debug. Refused and failed calls are also summarized at info,
//! per (source component, link name, operation, outcome): the first occurrence at once, then
//! at most one line per [`INTERVAL`], carrying how many occurred since the previous line.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most one summary line per key in this interval.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Keys tracked at most; beyond it, entries older than [`INTERVAL`] are dropped first.
const MAX_KEYS: usize = 4096;

/// What one summary line is about: source component, link name, operation, outcome.
pub type Key = (String, String, &'static str, &'static str);

/// What one audit line is about: source component, link name, operation, what changed.
pub type AuditKey = (String, String, &'static str, String);

/// Decides when a repeated outcome gets a log line.
pub struct LogLimiter<K = Key> {
    seen: Mutex<HashMap<K, (Instant, u64)>>,
}

impl<K> Default for LogLimiter<K> {
    fn default() -> Self {
        Self {
            seen: Mutex::default(),
        }
    }
}

impl<K: Eq + std::hash::Hash> LogLimiter<K> {
    /// Records one occurrence of `key` at `now`; `Some(n)` when a line is due, `n` being
    /// the occurrences it summarizes (this one included).
    pub fn record(&self, key: K, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_KEYS && !seen.contains_key(&key) {
            seen.retain(|_, (at, _)| now.duration_since(*at) < INTERVAL);
        }
        match seen.get_mut(&key) {
            Some((last, count)) if now.duration_since(*last) < INTERVAL => {
                *count += 1;
                None
            }
            Some((last, count)) => {
                let n = *count + 1;
                *last = now;
                *count = 0;
                Some(n)
            }
            None => {
                seen.insert(key, (now, 0));
                Some(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(op: &'static str) -> Key {
        ("comp".into(), "default".into(), op, "not-permitted")
    }

    #[test]
    fn ten_thousand_refusals_give_a_bounded_number_of_lines_the_first_at_once() {
        let limiter = LogLimiter::default();
        let start = Instant::now();
        // 10,000 refusals over 25 s (one every 2.5 ms)
        let mut lines = Vec::new();
        for i in 0..10_000u64 {
            let now = start + Duration::from_micros(2_500 * i);
            if let Some(n) = limiter.record(key("scale-component"), now) {
                lines.push((i, n));
            }
        }
        assert_eq!(
            lines.first(),
            Some(&(0, 1)),
            "the first refusal is logged at once"
        );
        // 25 s / 10 s: the first line and one per elapsed interval
        assert!(lines.len() <= 4, "{} lines: {lines:?}", lines.len());
        let summarized: u64 = lines.iter().map(|(_, n)| n).sum();
        assert!(
            summarized > 10_000 - 4_000 - 1,
            "lines count what they summarize: {lines:?}"
        );
        // another operation is its own key: logged at once
        assert_eq!(limiter.record(key("stop-host"), start), Some(1));
    }

    #[test]
    fn audit_lines_per_target_repeats_summarized() {
        let audit: LogLimiter<AuditKey> = LogLimiter::default();
        let key = |target: &str| {
            let t = target.to_string();
            ("comp".to_string(), "default".to_string(), "put-config", t)
        };
        let t0 = Instant::now();
        assert_eq!(audit.record(key("config a"), t0), Some(1));
        assert_eq!(
            audit.record(key("config b"), t0),
            Some(1),
            "each target at once"
        );
        for _ in 0..99 {
            assert_eq!(audit.record(key("config a"), t0), None);
        }
        assert_eq!(audit.record(key("config a"), t0 + INTERVAL), Some(100));
    }
}
