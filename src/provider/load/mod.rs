//! Component load from the hosts' own metrics (work toward WIT 1.2.0's `get-component-load`).
//!
//! A wasmCloud 0.27.1 host with metrics enabled exports, per component (attributes
//! `component.id`, `component.ref`, `lattice`, `host`), over OTLP:
//! `wasmcloud_host.component.invocations` and `….invocation.errors` (counters),
//! `wasmcloud_host.component.active_instances` (an up-down counter of invocations holding an
//! instance), `wasmcloud_host.component.max_instances` (a gauge) and the
//! `wasmcloud_host.handle_rpc_message.duration` histogram (nanoseconds). [`LoadStore`] keeps,
//! per (lattice, host, component), a short window of them and answers with rates, instances,
//! saturation (active / max) and duration quantiles ([`ComponentLoad`]). [`otlp`] takes the
//! exports (`ExportMetricsServiceRequest`), [`http`] receives them over OTLP/HTTP.
//!
//! Counters and histograms may come cumulative (a running total since the exporter started) or
//! delta (the change since its last export): both become one running total per series here, so
//! a restarted host (its totals start again) is a reset, not a negative rate.

pub mod http;
pub mod otlp;
pub mod publish;
pub mod report;
pub mod share;
mod window;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use window::Histogram;
use window::Series;

/// Metric names the host exports.
pub mod names {
    /// Invocations of a component (counter).
    pub const INVOCATIONS: &str = "wasmcloud_host.component.invocations";
    /// Invocations that failed (counter).
    pub const ERRORS: &str = "wasmcloud_host.component.invocation.errors";
    /// Invocations holding an instance (up-down counter).
    pub const ACTIVE: &str = "wasmcloud_host.component.active_instances";
    /// The component's `max_instances` on that host (gauge).
    pub const MAX: &str = "wasmcloud_host.component.max_instances";
    /// Time to handle an invocation, in nanoseconds (histogram).
    pub const DURATION: &str = "wasmcloud_host.handle_rpc_message.duration";
}

/// Bounds of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadLimits {
    /// Series kept at most (one per lattice, host and component); points of a new series
    /// beyond it are refused and counted.
    pub max_series: usize,
    /// How far back rates and quantiles look.
    pub window: Duration,
    /// A series not updated for this long is dropped (a host gone without `host_stopped`).
    pub stale_after: Duration,
}

impl Default for LoadLimits {
    fn default() -> Self {
        Self {
            max_series: 10_000,
            window: Duration::from_secs(30),
            stale_after: Duration::from_secs(120),
        }
    }
}

/// Which component on which host of which lattice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The lattice (the host's `lattice` attribute).
    pub lattice: String,
    /// The host's id (its `host` attribute).
    pub host: String,
    /// The component's id (`component.id`).
    pub component: String,
}

/// One reading of the host's metrics for one series, as [`otlp`] takes it from an export.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    /// `component.ref`, when the point carried it.
    pub component_ref: Option<String>,
    /// Invocations: a running total (cumulative) or the change (delta).
    pub invocations: Option<Count>,
    /// Failed invocations, as `invocations`.
    pub errors: Option<Count>,
    /// Invocations holding an instance: the value (cumulative) or the change (delta).
    pub active: Option<Count>,
    /// The component's `max_instances`.
    pub max: Option<u64>,
    /// The duration histogram (nanoseconds): running totals or changes, per bucket.
    pub duration: Option<(Histogram, Temporality)>,
}

/// How a counter's value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temporality {
    /// A running total since `start` (ns since the epoch; a new start is a reset).
    Cumulative {
        /// When the exporter's running total began.
        start: u64,
    },
    /// The change since the exporter's previous export.
    Delta,
}

/// A counter's value and how it reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Count {
    /// The value (a total, or a change, per `temporality`; an up-down counter may be negative).
    pub value: f64,
    /// How `value` reads.
    pub temporality: Temporality,
}

/// One component's load on one host (or summed over the hosts, `host` empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComponentLoad {
    /// The lattice.
    pub lattice: String,
    /// The host; empty in a sum over hosts.
    pub host: String,
    /// The component's id.
    pub component: String,
    /// Its image reference, as last exported.
    pub component_ref: String,
    /// Invocations per second over the window.
    pub invocations_per_s: f64,
    /// Failed invocations per second over the window.
    pub errors_per_s: f64,
    /// Invocations holding an instance, last reading.
    pub active_instances: i64,
    /// `max_instances`, last reading (summed over hosts in a sum).
    pub max_instances: u64,
    /// `active / max` (0 when max is 0 or unknown).
    pub saturation: f64,
    /// Median invocation time in ms over the window, if any invocation was timed.
    pub duration_p50_ms: Option<f64>,
    /// 99th percentile of invocation time in ms over the window.
    pub duration_p99_ms: Option<f64>,
    /// The span the rates cover (0 until two readings arrived).
    pub window: Duration,
}

/// What an ingest took and refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Readings applied.
    pub accepted: u64,
    /// Readings refused (the series cap), with why.
    pub rejected: u64,
    /// Why the first refusal happened.
    pub reason: Option<String>,
}

/// The windows of every series. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct LoadStore {
    limits: LoadLimits,
    series: Mutex<HashMap<SeriesKey, Series>>,
}

impl LoadStore {
    /// An empty store bounded by `limits`.
    #[must_use]
    pub fn new(limits: LoadLimits) -> Self {
        Self {
            limits,
            series: Mutex::default(),
        }
    }

    /// Its bounds.
    #[must_use]
    pub fn limits(&self) -> LoadLimits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SeriesKey, Series>> {
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `readings` taken at `now`. A reading of a series the store does not hold yet is
    /// refused once it holds [`LoadLimits::max_series`]; the others are applied.
    pub fn ingest(&self, readings: Vec<(SeriesKey, Reading)>, now: Instant) -> Ingested {
        let mut series = self.lock();
        let mut out = Ingested::default();
        for (key, reading) in readings {
            if !series.contains_key(&key) && series.len() >= self.limits.max_series {
                out.rejected += 1;
                out.reason.get_or_insert_with(|| {
                    format!(
                        "series limit reached ({} series): new components are not tracked",
                        self.limits.max_series
                    )
                });
                continue;
            }
            series
                .entry(key)
                .or_default()
                .apply(&reading, now, self.limits.window);
            out.accepted += 1;
        }
        out
    }

    /// Drops a host's series (its `host_stopped`).
    pub fn forget_host(&self, lattice: &str, host: &str) {
        self.lock()
            .retain(|k, _| !(k.lattice == lattice && k.host == host));
    }

    /// Drops series not updated within [`LoadLimits::stale_after`] of `now`.
    pub fn drop_stale(&self, now: Instant) {
        let stale_after = self.limits.stale_after;
        self.lock()
            .retain(|_, s| now.saturating_duration_since(s.updated()) < stale_after);
    }

    /// How many series it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds no series.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hosts of `lattice` the store holds series of.
    #[must_use]
    pub fn hosts(&self, lattice: &str) -> std::collections::BTreeSet<String> {
        self.lock()
            .keys()
            .filter(|k| k.lattice == lattice)
            .map(|k| k.host.clone())
            .collect()
    }

    /// Whether the store holds any series of `lattice`.
    #[must_use]
    pub fn has_lattice(&self, lattice: &str) -> bool {
        self.lock().keys().any(|k| k.lattice == lattice)
    }

    /// The report of `lattice` at `now`, narrowed by `filter`.
    #[must_use]
    pub fn report(
        &self,
        lattice: &str,
        filter: &report::LoadFilter,
        now: Instant,
    ) -> report::LoadReport {
        report::LoadReport::new(
            lattice,
            &self.per_host(lattice, now),
            &self.summed(lattice, now),
            filter,
        )
    }

    /// Each component's load on each host of `lattice` at `now`, sorted by component then host.
    #[must_use]
    pub fn per_host(&self, lattice: &str, now: Instant) -> Vec<ComponentLoad> {
        let series = self.lock();
        let mut out: Vec<ComponentLoad> = series
            .iter()
            .filter(|(k, _)| k.lattice == lattice)
            .map(|(k, s)| s.load(k, now, self.limits.window).0)
            .collect();
        out.sort_by(|a, b| (&a.component, &a.host).cmp(&(&b.component, &b.host)));
        out
    }

    /// Each component's load in `lattice` summed over its hosts: rates and instances added,
    /// saturation of the sums, quantiles from the merged histograms.
    #[must_use]
    pub fn summed(&self, lattice: &str, now: Instant) -> Vec<ComponentLoad> {
        let series = self.lock();
        let mut sums: std::collections::BTreeMap<&str, (ComponentLoad, Option<Histogram>)> =
            std::collections::BTreeMap::new();
        for (k, s) in series.iter().filter(|(k, _)| k.lattice == lattice) {
            let (one, one_hist) = s.load(k, now, self.limits.window);
            let (sum, hist) = sums.entry(k.component.as_str()).or_insert_with(|| {
                let load = ComponentLoad {
                    lattice: lattice.to_string(),
                    component: k.component.clone(),
                    ..ComponentLoad::default()
                };
                (load, None)
            });
            if sum.component_ref.is_empty() {
                sum.component_ref.clone_from(&one.component_ref);
            }
            sum.invocations_per_s += one.invocations_per_s;
            sum.errors_per_s += one.errors_per_s;
            sum.active_instances += one.active_instances;
            sum.max_instances += one.max_instances;
            sum.window = sum.window.max(one.window);
            if let Some(h) = one_hist {
                match hist {
                    Some(total) => total.merge(&h),
                    None => *hist = Some(h),
                }
            }
        }
        sums.into_values()
            .map(|(mut sum, hist)| {
                sum.saturation = window::saturation(sum.active_instances, sum.max_instances);
                if let Some(h) = hist {
                    sum.set_quantiles(&h);
                }
                sum
            })
            .collect()
    }
}

impl ComponentLoad {
    /// p50 and p99 from `h` (nanoseconds) in ms.
    fn set_quantiles(&mut self, h: &Histogram) {
        let ms = |ns: f64| ns / 1_000_000.0;
        self.duration_p50_ms = h.quantile(0.5).map(ms);
        self.duration_p99_ms = h.quantile(0.99).map(ms);
    }
}

#[cfg(test)]
mod tests;
