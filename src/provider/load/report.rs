//! A lattice's load as the provider answers it (`get-component-load`) and publishes it (the
//! `component_load` event's CloudEvent `data`, JSON with these snake_case names).

use serde::{Deserialize, Serialize};

use super::ComponentLoad;

/// One component's load on one host, or summed over its hosts (`host_id` empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadEntry {
    /// The component's id.
    pub component_id: String,
    /// Its image reference.
    pub image_ref: String,
    /// The host; empty in a sum.
    pub host_id: String,
    /// Invocations per second over the window.
    pub invocations_per_second: f64,
    /// Failed invocations per second over the window.
    pub errors_per_second: f64,
    /// Invocations holding an instance, last reading.
    pub active_instances: i64,
    /// `max_instances`, last reading.
    pub max_instances: u64,
    /// `active / max`.
    pub saturation: f64,
    /// Median invocation time, ms.
    pub duration_p50_ms: Option<f64>,
    /// 99th percentile of invocation time, ms.
    pub duration_p99_ms: Option<f64>,
    /// The span the rates cover, ms.
    pub window_ms: u64,
}

impl From<&ComponentLoad> for LoadEntry {
    fn from(l: &ComponentLoad) -> Self {
        Self {
            component_id: l.component.clone(),
            image_ref: l.component_ref.clone(),
            host_id: l.host.clone(),
            invocations_per_second: l.invocations_per_s,
            errors_per_second: l.errors_per_s,
            active_instances: l.active_instances,
            max_instances: l.max_instances,
            saturation: l.saturation,
            duration_p50_ms: l.duration_p50_ms,
            duration_p99_ms: l.duration_p99_ms,
            window_ms: u64::try_from(l.window.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The load of a lattice's components.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadReport {
    /// The lattice.
    pub lattice: String,
    /// Per component and host, sorted by component then host.
    pub per_host: Vec<LoadEntry>,
    /// Per component summed over its hosts, sorted by component.
    pub summed: Vec<LoadEntry>,
    /// Hosts whose metrics the report holds.
    pub hosts_reporting: u32,
}

/// What a report is narrowed to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadFilter {
    /// Only this component.
    pub component: Option<String>,
    /// Only this host's rows in `per_host` (sums stay over every host).
    pub host: Option<String>,
}

impl LoadReport {
    /// The report of `lattice` from its per-host and summed loads, narrowed by `filter`.
    #[must_use]
    pub fn new(
        lattice: &str,
        per_host: &[ComponentLoad],
        summed: &[ComponentLoad],
        filter: &LoadFilter,
    ) -> Self {
        let hosts: std::collections::BTreeSet<&str> =
            per_host.iter().map(|l| l.host.as_str()).collect();
        let component_ok =
            |l: &&ComponentLoad| filter.component.as_ref().is_none_or(|c| *c == l.component);
        Self {
            lattice: lattice.to_string(),
            per_host: per_host
                .iter()
                .filter(component_ok)
                .filter(|l| filter.host.as_ref().is_none_or(|h| *h == l.host))
                .map(LoadEntry::from)
                .collect(),
            summed: summed
                .iter()
                .filter(component_ok)
                .map(LoadEntry::from)
                .collect(),
            hosts_reporting: u32::try_from(hosts.len()).unwrap_or(u32::MAX),
        }
    }
}
