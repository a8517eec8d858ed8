//! An OTLP metrics export (`ExportMetricsServiceRequest`) read into [`Reading`]s: the host's
//! component metrics only (other metrics are ignored), one reading per series and export.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point::Value, AggregationTemporality, NumberDataPoint,
};

use super::{names, Count, Histogram, Ingested, Reading, SeriesKey, Temporality};

/// Buckets a histogram point may have; a point with more is skipped.
pub const MAX_BUCKETS: usize = 512;

/// What an export held for the store, and the points it could not use.
#[derive(Debug, Default, PartialEq)]
pub struct Readings {
    /// One reading per series.
    pub readings: Vec<(SeriesKey, Reading)>,
    /// Points of the host's metrics that could not be used (no `component.id`, `host` or
    /// `lattice` attribute, no temporality, too many buckets), with the first reason.
    pub skipped: u64,
    /// Why the first point was skipped.
    pub reason: Option<String>,
}

/// Decodes an export's protobuf body.
///
/// # Errors
/// The body is not an `ExportMetricsServiceRequest`.
pub fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest, prost::DecodeError> {
    <ExportMetricsServiceRequest as prost::Message>::decode(body)
}

/// The readings of the host's component metrics in `request`.
#[must_use]
pub fn readings(request: &ExportMetricsServiceRequest) -> Readings {
    let ids = component_ids(request);
    let key = |point: &[KeyValue], resource: &[KeyValue]| key(point, resource, &ids);
    let mut by_key: HashMap<SeriesKey, Reading> = HashMap::new();
    let mut out = Readings::default();
    // `n` points skipped for `reason` (the first reason is kept)
    let mut skip = |n: usize, reason: &str| {
        if n > 0 {
            out.skipped = out.skipped.saturating_add(n as u64);
            out.reason.get_or_insert_with(|| reason.to_string());
        }
    };
    for rm in &request.resource_metrics {
        let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let Some(data) = &metric.data else { continue };
            match (metric.name.as_str(), data) {
                (names::INVOCATIONS | names::ERRORS | names::ACTIVE, Data::Sum(sum)) => {
                    let Some(temporality) = temporality(sum.aggregation_temporality) else {
                        skip(
                            sum.data_points.len(),
                            "a sum without aggregation temporality",
                        );
                        continue;
                    };
                    for point in &sum.data_points {
                        let Some(key) = key(&point.attributes, resource) else {
                            skip(1, NO_SERIES);
                            continue;
                        };
                        let count = Count {
                            value: number(point),
                            temporality: start(temporality, point.start_time_unix_nano),
                        };
                        let reading = reading(&mut by_key, key, &point.attributes, resource);
                        let slot = match metric.name.as_str() {
                            names::INVOCATIONS => &mut reading.invocations,
                            names::ERRORS => &mut reading.errors,
                            _ => &mut reading.active,
                        };
                        add(slot, count);
                    }
                }
                (names::MAX, Data::Gauge(gauge)) => {
                    for point in &gauge.data_points {
                        let Some(key) = key(&point.attributes, resource) else {
                            skip(1, NO_SERIES);
                            continue;
                        };
                        let value = number(point);
                        let max = if value.is_finite() && value >= 0.0 {
                            value.min(u64::MAX as f64) as u64
                        } else {
                            0
                        };
                        reading(&mut by_key, key, &point.attributes, resource).max = Some(max);
                    }
                }
                (names::DURATION, Data::Histogram(hist)) => {
                    let Some(temporality) = temporality(hist.aggregation_temporality) else {
                        let reason = "a histogram without aggregation temporality";
                        skip(hist.data_points.len(), reason);
                        continue;
                    };
                    for point in &hist.data_points {
                        let Some(key) = key(&point.attributes, resource) else {
                            skip(1, NO_SERIES);
                            continue;
                        };
                        if point.bucket_counts.len() > MAX_BUCKETS {
                            skip(1, "a histogram with too many buckets");
                            continue;
                        }
                        let Some(h) = Histogram::new(
                            point.explicit_bounds.clone(),
                            point.bucket_counts.clone(),
                        ) else {
                            skip(1, "a histogram whose buckets and bounds do not match");
                            continue;
                        };
                        let t = start(temporality, point.start_time_unix_nano);
                        let slot =
                            &mut reading(&mut by_key, key, &point.attributes, resource).duration;
                        match slot {
                            Some((total, _)) => total.merge(&h),
                            None => *slot = Some((h, t)),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out.readings = by_key.into_iter().collect();
    out
}

/// Decodes `body`, applies its readings to `store` at `now` and answers as an OTLP receiver
/// does. A body that is not an export is an error; nothing is applied from it.
pub fn ingest(
    store: &super::LoadStore,
    body: &[u8],
    now: std::time::Instant,
) -> Result<ExportMetricsServiceResponse, prost::DecodeError> {
    let request = decode(body)?;
    let Readings {
        readings,
        skipped,
        reason,
    } = readings(&request);
    let ingested = store.ingest(readings, now);
    Ok(response(skipped, reason, &ingested))
}

/// The answer to an export: a partial success naming what was refused, if anything was
/// (`skipped` points that named no series or could not be read, and what the store refused).
#[must_use]
pub fn response(
    skipped: u64,
    skip_reason: Option<String>,
    ingested: &Ingested,
) -> ExportMetricsServiceResponse {
    let rejected = skipped.saturating_add(ingested.rejected);
    let partial_success = (rejected > 0).then(|| ExportMetricsPartialSuccess {
        rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: ingested.reason.clone().or(skip_reason).unwrap_or_default(),
    });
    ExportMetricsServiceResponse { partial_success }
}

fn reading<'a>(
    by_key: &'a mut HashMap<SeriesKey, Reading>,
    key: SeriesKey,
    point: &[KeyValue],
    resource: &[KeyValue],
) -> &'a mut Reading {
    let reading = by_key.entry(key).or_default();
    if reading.component_ref.is_none() {
        reading.component_ref = attribute(point, resource, "component.ref").map(str::to_string);
    }
    reading
}

fn temporality(t: i32) -> Option<AggregationTemporality> {
    match AggregationTemporality::try_from(t) {
        Ok(AggregationTemporality::Unspecified) | Err(_) => None,
        Ok(t) => Some(t),
    }
}

fn start(t: AggregationTemporality, start: u64) -> Temporality {
    match t {
        AggregationTemporality::Delta => Temporality::Delta,
        _ => Temporality::Cumulative { start },
    }
}

fn number(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(Value::AsDouble(v)) => v,
        Some(Value::AsInt(v)) => v as f64,
        None => 0.0,
    }
}

/// Why a point names no series.
const NO_SERIES: &str = "a point without lattice and host attributes, or without component.id \
    and a component.ref that names one component on its host";

/// The point's series: `lattice`, `host` and `component.id` from its attributes, else the
/// resource's. The host's invocation metrics name the component by `component.ref` only
/// (with the operation): such a point belongs to the one component its host runs from that
/// reference (`ids`, from the points that name both), and to none if it runs several.
fn key(point: &[KeyValue], resource: &[KeyValue], ids: &ComponentIds) -> Option<SeriesKey> {
    let get = |name| attribute(point, resource, name).filter(|v| !v.is_empty());
    let (lattice, host) = (get("lattice")?, get("host")?);
    let component = match get("component.id") {
        Some(id) => id.to_string(),
        None => {
            let reference = get("component.ref")?;
            match ids.get(&(lattice, host, reference))?.as_slice() {
                [one] => (*one).to_string(),
                _ => return None,
            }
        }
    };
    Some(SeriesKey {
        lattice: lattice.to_string(),
        host: host.to_string(),
        component,
    })
}

/// The component ids each (lattice, host, reference) runs, from the points naming both.
type ComponentIds<'a> = HashMap<(&'a str, &'a str, &'a str), Vec<&'a str>>;

fn component_ids(request: &ExportMetricsServiceRequest) -> ComponentIds<'_> {
    let mut ids: ComponentIds<'_> = HashMap::new();
    for rm in &request.resource_metrics {
        let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let points: Vec<&[KeyValue]> = match &metric.data {
                Some(Data::Gauge(g)) => g
                    .data_points
                    .iter()
                    .map(|p| p.attributes.as_slice())
                    .collect(),
                Some(Data::Sum(s)) => s
                    .data_points
                    .iter()
                    .map(|p| p.attributes.as_slice())
                    .collect(),
                _ => continue,
            };
            for point in points {
                let get = |name| attribute(point, resource, name).filter(|v| !v.is_empty());
                if let (Some(l), Some(h), Some(r), Some(id)) = (
                    get("lattice"),
                    get("host"),
                    get("component.ref"),
                    get("component.id"),
                ) {
                    let known = ids.entry((l, h, r)).or_default();
                    if !known.contains(&id) {
                        known.push(id);
                    }
                }
            }
        }
    }
    ids
}

/// Adds a point to what a series already has in this export: the host splits its counters by
/// operation, so one component's points add up.
fn add(slot: &mut Option<Count>, count: Count) {
    match (
        slot.as_mut().map(|t| (&mut t.value, &mut t.temporality)),
        count.temporality,
    ) {
        (Some((value, Temporality::Delta)), Temporality::Delta) => *value += count.value,
        (
            Some((value, Temporality::Cumulative { start })),
            Temporality::Cumulative { start: s },
        ) => {
            // the earliest run of the parts: a part that starts later is added, not a reset
            *value += count.value;
            *start = (*start).min(s);
        }
        _ => *slot = Some(count),
    }
}

fn attribute<'a>(point: &'a [KeyValue], resource: &'a [KeyValue], name: &str) -> Option<&'a str> {
    point
        .iter()
        .chain(resource)
        .find(|kv| kv.key == name)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}
