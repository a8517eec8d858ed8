use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point::Value, AggregationTemporality, Gauge, Histogram as OtlpHist,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

fn attrs(host: &str, component: &str) -> Vec<KeyValue> {
    vec![
        kv("component.id", component),
        kv("component.ref", "ghcr.io/acme/busy:0.1.0"),
        kv("lattice", "lat"),
        kv("host", host),
    ]
}

fn point(attributes: Vec<KeyValue>, start: u64, value: i64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        value: Some(Value::AsInt(value)),
        ..Default::default()
    }
}

fn sum(name: &str, temporality: AggregationTemporality, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: name != names::ACTIVE,
        })),
        ..Default::default()
    }
}

fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

fn hist(attributes: Vec<KeyValue>, start: u64, bounds: &[f64], counts: &[u64]) -> Metric {
    Metric {
        name: names::DURATION.into(),
        data: Some(Data::Histogram(OtlpHist {
            data_points: vec![HistogramDataPoint {
                attributes,
                start_time_unix_nano: start,
                count: counts.iter().sum(),
                bucket_counts: counts.to_vec(),
                explicit_bounds: bounds.to_vec(),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

fn export(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "wasmcloud-host")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// What a host exports for one component at one moment (cumulative, as the host's SDK does).
fn full_export(
    host: &str,
    start: u64,
    invocations: i64,
    errors: i64,
    active: i64,
    max: i64,
    counts: &[u64],
) -> ExportMetricsServiceRequest {
    let c = AggregationTemporality::Cumulative;
    export(vec![
        sum(
            names::INVOCATIONS,
            c,
            vec![point(attrs(host, "busy"), start, invocations)],
        ),
        sum(
            names::ERRORS,
            c,
            vec![point(attrs(host, "busy"), start, errors)],
        ),
        sum(
            names::ACTIVE,
            c,
            vec![point(attrs(host, "busy"), start, active)],
        ),
        gauge(names::MAX, vec![point(attrs(host, "busy"), 0, max)]),
        hist(attrs(host, "busy"), start, &[1e6, 2e6, 4e6], counts),
    ])
}

fn ingest(store: &LoadStore, request: &ExportMetricsServiceRequest, at: Instant) -> Ingested {
    let r = otlp::readings(request);
    assert_eq!(r.skipped, 0, "{:?}", r.reason);
    store.ingest(r.readings, at)
}

#[test]
fn histogram_quantiles_interpolate_inside_buckets() {
    let h = Histogram::new(vec![1.0, 2.0, 4.0], vec![0, 10, 0, 0]).unwrap();
    assert_eq!(h.quantile(0.5), Some(1.5));
    assert_eq!(h.quantile(1.0), Some(2.0));
    let overflow = Histogram::new(vec![1.0, 2.0], vec![0, 0, 5]).unwrap();
    assert_eq!(
        overflow.quantile(0.99),
        Some(2.0),
        "beyond every bound reads as the highest"
    );
    let first = Histogram::new(vec![10.0], vec![4, 0]).unwrap();
    assert_eq!(
        first.quantile(0.5),
        Some(5.0),
        "the first bucket starts at 0"
    );
    assert_eq!(
        Histogram::new(vec![1.0], vec![0, 0]).unwrap().quantile(0.5),
        None
    );
    assert!(
        Histogram::new(vec![2.0, 1.0], vec![0, 0, 0]).is_none(),
        "bounds must increase"
    );
    assert!(
        Histogram::new(vec![1.0], vec![0]).is_none(),
        "one count more than bounds"
    );
    assert!(Histogram::new(vec![f64::NAN], vec![0, 0]).is_none());
    let huge = Histogram::new(vec![1.0], vec![u64::MAX, u64::MAX]).unwrap();
    assert_eq!(huge.total(), u64::MAX, "counts saturate");
    assert!(huge.quantile(0.5).is_some());
}

#[test]
fn cumulative_exports_become_rates_instances_and_quantiles() {
    let store = LoadStore::new(LoadLimits::default());
    let t0 = Instant::now();
    // the first export is a baseline: what the host counted before is not a burst now
    ingest(
        &store,
        &full_export("H1", 7, 1_000, 10, 0, 4, &[100, 0, 0, 0]),
        t0,
    );
    let first = store.per_host("lat", t0);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].invocations_per_s, 0.0);
    assert_eq!(first[0].max_instances, 4);
    ingest(
        &store,
        &full_export("H1", 7, 1_100, 15, 3, 4, &[100, 80, 20, 0]),
        t0 + Duration::from_secs(10),
    );
    let load = &store.per_host("lat", t0 + Duration::from_secs(10))[0];
    assert_eq!(
        (
            load.lattice.as_str(),
            load.host.as_str(),
            load.component.as_str()
        ),
        ("lat", "H1", "busy")
    );
    assert_eq!(load.component_ref, "ghcr.io/acme/busy:0.1.0");
    assert!((load.invocations_per_s - 10.0).abs() < 1e-9, "{load:?}");
    assert!((load.errors_per_s - 0.5).abs() < 1e-9);
    assert_eq!((load.active_instances, load.max_instances), (3, 4));
    assert!((load.saturation - 0.75).abs() < 1e-9);
    // the window's 100 timings: 80 in (1, 2] ms, 20 in (2, 4] ms
    let p50 = load.duration_p50_ms.unwrap();
    assert!((p50 - 1.625).abs() < 1e-9, "p50 {p50}");
    let p99 = load.duration_p99_ms.unwrap();
    assert!(p99 > 3.8 && p99 <= 4.0, "p99 {p99}");
    assert_eq!(load.window, Duration::from_secs(10));
    // nothing exported for longer than the window: no rates, last instances kept
    let later = &store.per_host("lat", t0 + Duration::from_secs(60))[0];
    assert_eq!(later.invocations_per_s, 0.0);
    assert_eq!(later.duration_p50_ms, None);
    assert_eq!(later.active_instances, 3);
}

#[test]
fn a_restarted_exporter_is_a_reset_and_deltas_add_up() {
    let store = LoadStore::new(LoadLimits::default());
    let t0 = Instant::now();
    let at = |s| t0 + Duration::from_secs(s);
    let inv = |start, n| {
        export(vec![sum(
            names::INVOCATIONS,
            AggregationTemporality::Cumulative,
            vec![point(attrs("H1", "busy"), start, n)],
        )])
    };
    ingest(&store, &inv(1, 500), at(0));
    // the host restarted: its total starts again from 0 (a new start time)
    ingest(&store, &inv(2, 40), at(10));
    let load = &store.per_host("lat", at(10))[0];
    assert!((load.invocations_per_s - 4.0).abs() < 1e-9, "{load:?}");
    // a lower total with the same start is a reset too, never a negative rate
    ingest(&store, &inv(2, 10), at(20));
    assert!(store.per_host("lat", at(20))[0].invocations_per_s >= 0.0);

    let delta = LoadStore::new(LoadLimits::default());
    for (s, n) in [(0, 5), (5, 5), (10, 10)] {
        let request = export(vec![
            sum(
                names::INVOCATIONS,
                AggregationTemporality::Delta,
                vec![point(attrs("H1", "busy"), 0, n)],
            ),
            sum(
                names::ACTIVE,
                AggregationTemporality::Delta,
                vec![point(attrs("H1", "busy"), 0, 1)],
            ),
        ]);
        ingest(&delta, &request, at(s));
    }
    let load = &delta.per_host("lat", at(10))[0];
    assert!(
        (load.invocations_per_s - 1.5).abs() < 1e-9,
        "15 over 10 s: {load:?}"
    );
    assert_eq!(load.active_instances, 3, "up-down deltas add up");
}

#[test]
fn sums_over_hosts_and_forgetting_a_host() {
    let store = LoadStore::new(LoadLimits::default());
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_secs(5);
    for host in ["H1", "H2"] {
        ingest(&store, &full_export(host, 7, 0, 0, 0, 2, &[0, 0, 0, 0]), t0);
    }
    ingest(
        &store,
        &full_export("H1", 7, 50, 0, 2, 2, &[0, 50, 0, 0]),
        t1,
    );
    ingest(
        &store,
        &full_export("H2", 7, 25, 5, 0, 2, &[0, 0, 25, 0]),
        t1,
    );
    let sums = store.summed("lat", t1);
    assert_eq!(sums.len(), 1);
    let s = &sums[0];
    assert_eq!(s.host, "");
    assert!((s.invocations_per_s - 15.0).abs() < 1e-9, "{s:?}");
    assert!((s.errors_per_s - 1.0).abs() < 1e-9);
    assert_eq!((s.active_instances, s.max_instances), (2, 4));
    assert!((s.saturation - 0.5).abs() < 1e-9);
    assert!(
        s.duration_p99_ms.unwrap() > 2.0,
        "merged: H2's slower timings count"
    );
    assert!(store.summed("other", t1).is_empty());

    store.forget_host("lat", "H1");
    let left = store.per_host("lat", t1);
    assert_eq!(
        left.iter().map(|l| l.host.as_str()).collect::<Vec<_>>(),
        ["H2"]
    );
    store.drop_stale(t1 + store.limits().stale_after);
    assert!(store.is_empty());
}

#[test]
fn the_series_cap_refuses_new_series_and_says_why() {
    let store = LoadStore::new(LoadLimits {
        max_series: 2,
        ..LoadLimits::default()
    });
    let points = (0..5)
        .map(|i| point(attrs("H1", &format!("c{i}")), 1, 1))
        .collect();
    let request = export(vec![sum(
        names::INVOCATIONS,
        AggregationTemporality::Cumulative,
        points,
    )]);
    let readings = otlp::readings(&request);
    let ingested = store.ingest(readings.readings, Instant::now());
    assert_eq!((ingested.accepted, ingested.rejected), (2, 3));
    assert!(ingested.reason.unwrap().contains("series limit"));
    assert_eq!(store.len(), 2);
    // the series it holds still take readings
    let known: Vec<_> = store
        .per_host("lat", Instant::now())
        .into_iter()
        .map(|l| l.component)
        .collect();
    let again = (0..5)
        .map(|i| point(attrs("H1", &format!("c{i}")), 1, 2))
        .collect();
    let request = export(vec![sum(
        names::INVOCATIONS,
        AggregationTemporality::Cumulative,
        again,
    )]);
    let ingested = store.ingest(otlp::readings(&request).readings, Instant::now());
    assert_eq!(ingested.accepted, 2);
    assert_eq!(known.len(), 2);
}

#[test]
fn points_the_store_cannot_use_are_counted_and_other_metrics_ignored() {
    let no_host = vec![kv("component.id", "busy"), kv("lattice", "lat")];
    let request = export(vec![
        sum(
            names::INVOCATIONS,
            AggregationTemporality::Cumulative,
            vec![point(no_host, 1, 1)],
        ),
        sum(
            names::ERRORS,
            AggregationTemporality::Unspecified,
            vec![point(attrs("H1", "busy"), 1, 1)],
        ),
        hist(attrs("H1", "busy"), 1, &[2.0, 1.0], &[0, 0, 0]),
        gauge(
            "wasmcloud_host.process.cpu.usage",
            vec![point(vec![], 0, 3)],
        ),
        sum(
            names::INVOCATIONS,
            AggregationTemporality::Cumulative,
            vec![point(attrs("H1", "ok"), 1, 1)],
        ),
    ]);
    let r = otlp::readings(&request);
    assert_eq!(r.skipped, 3, "{:?}", r.reason);
    assert!(r.reason.unwrap().contains("without lattice and host"));
    assert_eq!(r.readings.len(), 1);
    assert_eq!(r.readings[0].0.component, "ok");

    // attributes on the resource serve points that lack them
    let mut on_resource = export(vec![sum(
        names::INVOCATIONS,
        AggregationTemporality::Cumulative,
        vec![point(vec![kv("component.id", "busy")], 1, 1)],
    )]);
    let resource = on_resource.resource_metrics[0].resource.as_mut().unwrap();
    resource
        .attributes
        .extend([kv("lattice", "lat"), kv("host", "H9")]);
    let r = otlp::readings(&on_resource);
    assert_eq!(r.readings[0].0.host, "H9");
}

/// A request over a plain TCP connection; the status code and body of the answer.
async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // a refused body may be cut off before it is all written
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or_else(Vec::new, |i| answer[i + 4..].to_vec());
    (status, body)
}

#[tokio::test]
async fn the_receiver_takes_exports_and_refuses_bad_requests() {
    let store = std::sync::Arc::new(LoadStore::new(LoadLimits {
        max_series: 1,
        ..LoadLimits::default()
    }));
    let limits = http::ReceiverLimits {
        max_body: 64 * 1024,
    };
    let receiver = http::listen(
        "127.0.0.1:0".parse().unwrap(),
        std::sync::Arc::clone(&store),
        limits,
    )
    .await
    .unwrap();
    let addr = receiver.addr();
    let body = prost::Message::encode_to_vec(&full_export("H1", 7, 3, 0, 1, 2, &[0, 3, 0, 0]));
    let (status, answer) = post(addr, "/v1/metrics", "application/x-protobuf", &body).await;
    assert_eq!(status, 200);
    let answer: ExportMetricsServiceResponse = prost::Message::decode(answer.as_slice()).unwrap();
    assert_eq!(answer.partial_success, None);
    assert_eq!(store.len(), 1);

    // a second component: beyond the cap, refused as a partial success
    let points = vec![point(attrs("H1", "other"), 1, 1)];
    let more = prost::Message::encode_to_vec(&export(vec![sum(
        names::INVOCATIONS,
        AggregationTemporality::Cumulative,
        points,
    )]));
    let (status, answer) = post(addr, "/v1/metrics", "application/x-protobuf", &more).await;
    assert_eq!(status, 200);
    let answer: ExportMetricsServiceResponse = prost::Message::decode(answer.as_slice()).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_data_points, 1);
    assert!(partial.error_message.contains("series limit"));

    let cases: [(&str, &str, Vec<u8>, u16); 5] = [
        ("/v1/metrics", "application/json", b"{}".to_vec(), 415),
        (
            "/v1/metrics",
            "application/x-protobuf",
            body[..body.len() / 2].to_vec(),
            400,
        ),
        ("/v1/metrics", "application/x-protobuf", vec![0xff; 16], 400),
        (
            "/v1/metrics",
            "application/x-protobuf",
            vec![0; 128 * 1024],
            413,
        ),
        ("/v1/traces", "application/x-protobuf", body.clone(), 404),
    ];
    for (path, content_type, body, want) in cases {
        let (status, answer) = post(addr, path, content_type, &body).await;
        assert_eq!(status, want, "{path} {content_type} ({} bytes)", body.len());
        assert!(!answer.is_empty(), "a refusal carries a Status");
    }
    let stats = receiver.stats();
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(count(&stats.exports), 2);
    assert_eq!(count(&stats.rejected_points), 1);
    assert_eq!((count(&stats.unsupported), count(&stats.malformed)), (1, 2));
    assert_eq!((count(&stats.too_large), count(&stats.not_found)), (1, 1));
    assert_eq!(store.len(), 1, "nothing refused reached the store");
}

/// The host names a component in its invocation metrics by `component.ref` and operation only:
/// those points belong to the one component its host runs from that reference (known from the
/// points naming both), split operations add up, and a reference two components share is
/// not guessed.
#[test]
fn invocation_points_by_reference_and_operation_find_their_component() {
    let by_ref = |reference: &str, operation: &str, n: i64| {
        point(
            vec![
                kv("component.ref", reference),
                kv("lattice", "lat"),
                kv("host", "H1"),
                kv("operation", operation),
            ],
            7,
            n,
        )
    };
    let named = |id: &str, reference: &str| {
        point(
            vec![
                kv("component.id", id),
                kv("component.ref", reference),
                kv("lattice", "lat"),
                kv("host", "H1"),
            ],
            0,
            2,
        )
    };
    let request = export(vec![
        gauge(
            names::MAX,
            vec![
                named("busy", "ref-a"),
                named("twin-1", "ref-b"),
                named("twin-2", "ref-b"),
            ],
        ),
        sum(
            names::INVOCATIONS,
            AggregationTemporality::Cumulative,
            vec![
                by_ref("ref-a", "api/get", 3),
                by_ref("ref-a", "api/put", 4),
                by_ref("ref-b", "api/get", 9),
            ],
        ),
    ]);
    let r = otlp::readings(&request);
    assert_eq!(r.skipped, 1, "the shared reference's point: {:?}", r.reason);
    let busy = r
        .readings
        .iter()
        .find(|(k, _)| k.component == "busy")
        .unwrap();
    assert_eq!(busy.1.invocations.unwrap().value, 7.0, "operations add up");
    assert_eq!(busy.1.max, Some(2));
    assert!(r
        .readings
        .iter()
        .filter(|(k, _)| k.component.starts_with("twin"))
        .all(|(_, r)| r.invocations.is_none()));
}

/// A host exports a component's invocation counter only once it counted something: a counter
/// that appears on a series already read counts from zero (the burst that made it appear is
/// not swallowed as a baseline); one present at the series' first reading is a baseline.
#[test]
fn a_counter_that_appears_later_counts_from_zero() {
    let t0 = Instant::now();
    let at = t0 + Duration::from_secs(2);
    let max = || gauge(names::MAX, vec![point(attrs("H1", "c"), 0, 4)]);
    let invocations = |n| {
        let cumulative = AggregationTemporality::Cumulative;
        sum(
            names::INVOCATIONS,
            cumulative,
            vec![point(attrs("H1", "c"), 1, n)],
        )
    };
    let store = LoadStore::new(LoadLimits::default());
    ingest(&store, &export(vec![max()]), t0);
    ingest(&store, &export(vec![max(), invocations(40)]), at);
    let load = &store.per_host("lat", at)[0];
    assert_eq!(load.invocations_per_s * load.window.as_secs_f64(), 40.0);

    let store = LoadStore::new(LoadLimits::default());
    ingest(&store, &export(vec![max(), invocations(40)]), t0);
    ingest(&store, &export(vec![max(), invocations(40)]), at);
    assert_eq!(store.per_host("lat", at)[0].invocations_per_s, 0.0);
}
