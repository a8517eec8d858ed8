//! OTLP/HTTP exports as a wasmCloud host sends them, and a raw HTTP/1.1 poster for the
//! provider's receiver (every byte as given, so malformed requests can be made too).

use std::time::Duration;

use anyhow::{anyhow, Result};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};

/// The content type the receiver takes.
pub const PROTOBUF: &str = "application/x-protobuf";

/// One request to `addr`; the answer's HTTP status. A server that answers before the body is
/// all sent (413) may close the socket under the writer: the status is still read.
pub async fn post(
    addr: &str,
    method: &str,
    path: &str,
    content_type: &str,
    extra_headers: &str,
    body: &[u8],
    bound: Duration,
) -> Result<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut socket = tokio::time::timeout(bound, tokio::net::TcpStream::connect(addr)).await??;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {content_type}\r\n{extra_headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let sent = async {
        socket.write_all(head.as_bytes()).await?;
        socket.write_all(body).await?;
        socket.flush().await
    };
    let _ = tokio::time::timeout(bound, sent).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(bound, socket.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    status.ok_or_else(|| anyhow!("no HTTP status in {:?}", text.chars().take(80).collect::<String>()))
}

fn kv(k: &str, v: String) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(v)) }) }
}

fn request(metrics: Vec<Metric>) -> Vec<u8> {
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    };
    prost::Message::encode_to_vec(&request)
}

/// An export of `series` components' `max_instances` (one gauge point each) on host `host`
/// of lattice `lattice`, ids from `first` on.
pub fn max_instances_export(lattice: &str, host: &str, first: usize, series: usize, value: f64) -> Vec<u8> {
    let points = (first..first + series)
        .map(|i| NumberDataPoint {
            attributes: vec![
                kv("component.id", format!("c-{i}")),
                kv("component.ref", format!("file:///load/{i}.wasm")),
                kv("lattice", lattice.into()),
                kv("host", host.into()),
            ],
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        })
        .collect();
    request(vec![Metric {
        name: "wasmcloud_host.component.max_instances".into(),
        data: Some(Data::Gauge(Gauge { data_points: points })),
        ..Default::default()
    }])
}

/// A full export of `components` components on `host`, as a 0.27.1 host makes it: the
/// `max_instances` gauge and `active_instances` (with the component's id), the invocation
/// counter and the duration histogram (its reference only, as the host records them), each
/// cumulative at `invocations` since `start_ns`. Returns the body and its data points.
pub fn host_export(lattice: &str, host: &str, components: usize, invocations: u64, start_ns: u64) -> (Vec<u8>, usize) {
    let with_id = |i: usize| {
        vec![
            kv("component.id", format!("c-{i}")),
            kv("component.ref", format!("file:///load/{i}.wasm")),
            kv("lattice", lattice.into()),
            kv("host", host.into()),
        ]
    };
    let by_ref = |i: usize| {
        vec![
            kv("component.ref", format!("file:///load/{i}.wasm")),
            kv("lattice", lattice.into()),
            kv("host", host.into()),
            kv("operation", "wasi:http/incoming-handler.handle".into()),
        ]
    };
    let number = |attributes, v: i64| NumberDataPoint {
        attributes,
        start_time_unix_nano: start_ns,
        value: Some(number_data_point::Value::AsInt(v)),
        ..Default::default()
    };
    let sum = |name: &str, points: Vec<NumberDataPoint>, monotonic| Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    };
    let bounds: Vec<f64> =
        vec![0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0];
    let hist_points = (0..components)
        .map(|i| {
            let mut counts = vec![0u64; bounds.len() + 1];
            counts[bounds.len()] = invocations;
            HistogramDataPoint {
                attributes: by_ref(i),
                start_time_unix_nano: start_ns,
                count: invocations,
                bucket_counts: counts,
                explicit_bounds: bounds.clone(),
                ..Default::default()
            }
        })
        .collect();
    let metrics = vec![
        Metric {
            name: "wasmcloud_host.component.max_instances".into(),
            data: Some(Data::Gauge(Gauge { data_points: (0..components).map(|i| number(with_id(i), 4)).collect() })),
            ..Default::default()
        },
        sum(
            "wasmcloud_host.component.active_instances",
            (0..components).map(|i| number(with_id(i), 1)).collect(),
            false,
        ),
        sum(
            "wasmcloud_host.component.invocations",
            (0..components).map(|i| number(by_ref(i), invocations as i64)).collect(),
            true,
        ),
        Metric {
            name: "wasmcloud_host.handle_rpc_message.duration".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: hist_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        },
    ];
    (request(metrics), components * 4)
}
