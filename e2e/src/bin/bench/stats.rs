//! Call outcomes, latency series and percentiles.

use std::future::Future;
use std::time::{Duration, Instant};

/// Bound of one sequential call in the latency runs (p99 is a few ms); a call without an
/// answer by then counts as lost. wRPC replies can be lost for good under CPU load
/// (wrpc-transport-nats 0.29), so the bound is what a lost call costs the run.
pub const LATENCY_BOUND: Duration = Duration::from_millis(250);
/// Bound of one call under load (up to 64 concurrent callers).
pub const LOAD_BOUND: Duration = Duration::from_secs(1);

/// What one bounded call came to.
#[derive(Debug)]
pub enum Outcome {
    /// Answered correctly after this long.
    Done(Duration),
    /// Answered with an error, or with a wrong result.
    Failed(String),
    /// No answer within the call's bound.
    Lost,
}

/// Runs `fut` bounded by `bound` and times it.
pub async fn timed(bound: Duration, fut: impl Future<Output = Result<(), String>>) -> Outcome {
    let start = Instant::now();
    match tokio::time::timeout(bound, fut).await {
        Ok(Ok(())) => Outcome::Done(start.elapsed()),
        Ok(Err(e)) => Outcome::Failed(e),
        Err(_) => Outcome::Lost,
    }
}

/// Latencies of one way of calling, with the calls that failed or were lost.
#[derive(Clone, Debug, Default)]
pub struct Series {
    samples: Vec<Duration>,
    /// Calls answered with an error or a wrong result.
    pub failed: usize,
    /// Calls not answered within their bound.
    pub lost: usize,
    /// The first failure, to show what went wrong.
    pub first_error: Option<String>,
}

impl Series {
    /// Records an outcome; returns the latency if the call succeeded.
    pub fn record(&mut self, outcome: Outcome) -> Option<Duration> {
        match outcome {
            Outcome::Done(d) => {
                self.samples.push(d);
                Some(d)
            }
            Outcome::Failed(e) => {
                self.failed += 1;
                self.first_error.get_or_insert(e);
                None
            }
            Outcome::Lost => {
                self.lost += 1;
                None
            }
        }
    }

    /// Records a latency measured outside [`timed`].
    pub fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    /// Number of successful samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// p50, p90, p99 (nearest rank), or `None` without samples.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let mut s = self.samples.clone();
        if s.is_empty() {
            return None;
        }
        s.sort_unstable();
        let at = |p: f64| {
            let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
            s[rank.clamp(1, s.len()) - 1]
        };
        Some(Percentiles { p50: at(50.0), p90: at(90.0), p99: at(99.0), min: s[0], max: s[s.len() - 1] })
    }
}

/// Summary of a [`Series`].
#[derive(Clone, Copy, Debug)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub min: Duration,
    pub max: Duration,
}

/// Completed, failed and lost calls over a measured time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    pub ok: u64,
    pub failed: u64,
    pub lost: u64,
    pub elapsed: Duration,
}

impl Rate {
    /// Adds another window's counts.
    pub fn add(&mut self, other: Rate) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.lost += other.lost;
        self.elapsed += other.elapsed;
    }

    /// Counts one call's outcome.
    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Done(_) => self.ok += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Lost => self.lost += 1,
        }
    }

    /// Calls made, however they ended.
    pub fn attempts(&self) -> u64 {
        self.ok + self.failed + self.lost
    }

    /// Successful calls per second.
    pub fn per_second(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.ok as f64 / self.elapsed.as_secs_f64()
        }
    }
}

/// A duration for a table: µs below 10 ms, else ms or s.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.0} µs")
    } else if us < 10_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// The median of some durations (`None` when empty).
pub fn median(values: &[Duration]) -> Option<Duration> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len().checked_sub(1)? / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Series::default();
        for i in 1..=100 {
            s.push(Duration::from_micros(i));
        }
        let p = s.percentiles().unwrap();
        assert_eq!(p.p50, Duration::from_micros(50));
        assert_eq!(p.p90, Duration::from_micros(90));
        assert_eq!(p.p99, Duration::from_micros(99));
        assert_eq!(
            median(&[Duration::from_millis(3), Duration::from_millis(1), Duration::from_millis(2)]),
            Some(Duration::from_millis(2))
        );
    }
}
