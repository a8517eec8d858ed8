//! One series' window: running totals made from cumulative or delta readings, and the
//! readings of the last window, from which rates and quantiles are taken.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{ComponentLoad, Count, Reading, SeriesKey, Temporality};

/// Bucket counts over explicit upper bounds, as OTLP sends a histogram: `counts[i]` counts
/// values in `(bounds[i-1], bounds[i]]`, the last one those above every bound.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
}

impl Histogram {
    /// A histogram, if `counts` has one more entry than `bounds` and the bounds are finite and
    /// increasing.
    #[must_use]
    pub fn new(bounds: Vec<f64>, counts: Vec<u64>) -> Option<Self> {
        let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
        let finite = bounds.iter().all(|b| b.is_finite());
        (counts.len() == bounds.len() + 1 && increasing && finite)
            .then_some(Self { bounds, counts })
    }

    /// How many values it counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, c| a.saturating_add(*c))
    }

    /// Adds `other`'s counts where the bounds are the same (else leaves it as it is).
    pub fn merge(&mut self, other: &Self) {
        if self.bounds == other.bounds {
            for (a, b) in self.counts.iter_mut().zip(&other.counts) {
                *a = a.saturating_add(*b);
            }
        }
    }

    /// The counts added since `older` (same bounds, none lower), else `None`.
    fn since(&self, older: &Self) -> Option<Self> {
        if self.bounds != older.bounds || self.counts.iter().zip(&older.counts).any(|(a, b)| a < b)
        {
            return None;
        }
        let counts = self
            .counts
            .iter()
            .zip(&older.counts)
            .map(|(a, b)| a - b)
            .collect();
        Some(Self {
            bounds: self.bounds.clone(),
            counts,
        })
    }

    /// The `q` quantile (0 ≤ q ≤ 1), interpolated linearly inside its bucket (the first bucket
    /// starts at 0: durations are not negative); a value in the overflow bucket reads as the
    /// highest bound. `None` when it counts nothing.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0u64;
        for (i, count) in self.counts.iter().enumerate() {
            let through = below.saturating_add(*count);
            if *count > 0 && through as f64 >= rank {
                let Some(upper) = self.bounds.get(i) else {
                    return self.bounds.last().copied().or(Some(0.0));
                };
                let lower = if i == 0 { 0.0 } else { self.bounds[i - 1] };
                let lower = lower.min(*upper);
                let within = ((rank - below as f64) / *count as f64).clamp(0.0, 1.0);
                return Some(lower + (upper - lower) * within);
            }
            below = through;
        }
        self.bounds.last().copied()
    }
}

/// A counter's running total, from cumulative or delta readings.
#[derive(Clone, Debug, Default)]
struct Total {
    total: f64,
    /// The last cumulative reading: its start and value.
    last: Option<(u64, f64)>,
}

impl Total {
    /// Applies `count`; `seen_before`: the series had readings without this counter.
    fn apply(&mut self, count: Count, seen_before: bool) {
        if !count.value.is_finite() {
            return;
        }
        match count.temporality {
            Temporality::Delta => self.total += count.value.max(0.0),
            Temporality::Cumulative { start } => {
                match self.last {
                    // the same run of the exporter: what it added since
                    Some((s, v)) if s == start && count.value >= v => {
                        self.total += count.value - v;
                    }
                    // a new run (restarted host, reset counter): all of it is new
                    Some(_) => self.total += count.value.max(0.0),
                    // a counter that appears on a series already read: an exporter sends a
                    // point only once it was counted, so all of it came since the last read
                    None if seen_before => self.total += count.value.max(0.0),
                    // the first reading of the series: a baseline, whatever came before is
                    // not in the window
                    None => {}
                }
                self.last = Some((start, count.value));
            }
        }
    }
}

/// A histogram's running totals, as [`Total`] per bucket.
#[derive(Clone, Debug, Default)]
struct HistTotal {
    total: Option<Histogram>,
    last: Option<(u64, Histogram)>,
}

impl HistTotal {
    /// Applies `h`, as [`Total::apply`].
    fn apply(&mut self, h: &Histogram, temporality: Temporality, seen_before: bool) {
        let added = match temporality {
            Temporality::Delta => Some(h.clone()),
            Temporality::Cumulative { start } => {
                let added = match &self.last {
                    Some((s, last)) if *s == start => h.since(last).or_else(|| Some(h.clone())),
                    Some(_) => Some(h.clone()),
                    None if seen_before => Some(h.clone()),
                    None => None,
                };
                self.last = Some((start, h.clone()));
                added
            }
        };
        match (&mut self.total, added) {
            (Some(total), Some(added)) if total.bounds == added.bounds => total.merge(&added),
            // first counts, or new bounds: the window starts again from these
            (total, Some(added)) => *total = Some(added),
            (total @ None, None) => {
                *total = Some(Histogram {
                    bounds: h.bounds.clone(),
                    counts: vec![0; h.counts.len()],
                });
            }
            (Some(_), None) => {}
        }
    }
}

/// The totals at one reading.
#[derive(Clone, Debug)]
struct Sample {
    at: Instant,
    invocations: f64,
    errors: f64,
    duration: Option<Histogram>,
}

/// One (lattice, host, component) series.
#[derive(Clone, Debug, Default)]
pub(super) struct Series {
    component_ref: String,
    invocations: Total,
    errors: Total,
    active: f64,
    max: u64,
    duration: HistTotal,
    samples: VecDeque<Sample>,
}

impl Series {
    pub(super) fn apply(&mut self, r: &Reading, now: Instant, window: Duration) {
        let seen_before = !self.samples.is_empty();
        if let Some(reference) = &r.component_ref {
            self.component_ref.clone_from(reference);
        }
        if let Some(c) = r.invocations {
            self.invocations.apply(c, seen_before);
        }
        if let Some(c) = r.errors {
            self.errors.apply(c, seen_before);
        }
        if let Some(c) = r.active {
            if c.value.is_finite() {
                match c.temporality {
                    Temporality::Cumulative { .. } => self.active = c.value,
                    Temporality::Delta => self.active += c.value,
                }
            }
        }
        if let Some(max) = r.max {
            self.max = max;
        }
        if let Some((h, temporality)) = &r.duration {
            self.duration.apply(h, *temporality, seen_before);
        }
        self.samples.push_back(Sample {
            at: now,
            invocations: self.invocations.total,
            errors: self.errors.total,
            duration: self.duration.total.clone(),
        });
        // keep the window, and the newest reading before it as the base of the rates
        while self.samples.len() > 1
            && self
                .samples
                .get(1)
                .is_some_and(|s| now.saturating_duration_since(s.at) >= window)
        {
            self.samples.pop_front();
        }
    }

    pub(super) fn updated(&self) -> Instant {
        self.samples.back().map_or_else(Instant::now, |s| s.at)
    }

    /// The first and last readings that span the window ending at `now` (none once the last
    /// reading is older than the window: the host stopped exporting).
    fn span(&self, now: Instant, window: Duration) -> Option<(&Sample, &Sample)> {
        let last = self.samples.back()?;
        if now.saturating_duration_since(last.at) > window {
            return None;
        }
        let first = self.samples.front()?;
        (last.at > first.at).then_some((first, last))
    }

    fn window_histogram(&self, now: Instant, window: Duration) -> Option<Histogram> {
        let (first, last) = self.span(now, window)?;
        match (&first.duration, &last.duration) {
            (Some(a), Some(b)) => b.since(a).or_else(|| Some(b.clone())),
            (None, Some(b)) => Some(b.clone()),
            _ => None,
        }
    }

    /// The series' load at `now`, and the histogram of the window its quantiles come from (a
    /// sum over hosts merges them).
    pub(super) fn load(
        &self,
        key: &SeriesKey,
        now: Instant,
        window: Duration,
    ) -> (ComponentLoad, Option<Histogram>) {
        let active = self.active.round() as i64;
        let mut load = ComponentLoad {
            lattice: key.lattice.clone(),
            host: key.host.clone(),
            component: key.component.clone(),
            component_ref: self.component_ref.clone(),
            active_instances: active,
            max_instances: self.max,
            saturation: saturation(active, self.max),
            ..ComponentLoad::default()
        };
        if let Some((first, last)) = self.span(now, window) {
            let secs = last.at.duration_since(first.at).as_secs_f64();
            load.window = last.at.duration_since(first.at);
            load.invocations_per_s = (last.invocations - first.invocations).max(0.0) / secs;
            load.errors_per_s = (last.errors - first.errors).max(0.0) / secs;
        }
        let histogram = self.window_histogram(now, window);
        if let Some(h) = &histogram {
            load.set_quantiles(h);
        }
        (load, histogram)
    }
}

/// `active / max`, 0 when `max` is 0; never negative.
pub(super) fn saturation(active: i64, max: u64) -> f64 {
    if max == 0 {
        0.0
    } else {
        (active.max(0) as f64) / (max as f64)
    }
}
