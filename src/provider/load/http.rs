//! The OTLP/HTTP metrics receiver: `POST /v1/metrics` with a protobuf
//! `ExportMetricsServiceRequest`, as a host's OTLP exporter (or a collector) sends it.
//!
//! Bounded: a body larger than [`ReceiverLimits::max_body`] is refused (413) without being
//! read whole; a body that is not protobuf (415), not an export (400), or another path or
//! method (404, 405) is refused with an OTLP `Status`; each refusal is counted. It carries no
//! credentials and takes none: keep its address on loopback, or behind the collector.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tracing::{debug, warn};

use super::{otlp, LoadStore};

/// Provider config key: the address the receiver listens on (unset: no receiver).
pub const LISTEN_KEY: &str = "otlp_listen";

/// The path OTLP/HTTP exporters post metrics to.
pub const METRICS_PATH: &str = "/v1/metrics";
const PROTOBUF: &str = "application/x-protobuf";

/// Bounds of the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiverLimits {
    /// The largest body taken, in bytes.
    pub max_body: usize,
}

impl Default for ReceiverLimits {
    /// 1 MiB: a host's export of a hundred components is tens of KiB, a larger body costs
    /// several times its size to decode, and NATS's default `max_payload` (1 MiB) is what
    /// the replicas can pass on to each other.
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
        }
    }
}

/// What the receiver took and refused, counted since it started.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    /// Exports taken (answered 200).
    pub exports: AtomicU64,
    /// Points refused inside taken exports (partial success).
    pub rejected_points: AtomicU64,
    /// Requests refused: too large.
    pub too_large: AtomicU64,
    /// Requests refused: not protobuf, or compressed.
    pub unsupported: AtomicU64,
    /// Requests refused: not an export.
    pub malformed: AtomicU64,
    /// Requests refused: another path or method.
    pub not_found: AtomicU64,
    /// Exports taken but not passed on to the other replicas (their queue was full).
    pub not_shared: AtomicU64,
}

/// The `google.rpc.Status` an OTLP/HTTP error answer carries.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// A running receiver; dropping it stops it.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    stats: Arc<ReceiverStats>,
    task: tokio::task::AbortHandle,
}

impl Receiver {
    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it took and refused.
    #[must_use]
    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on `addr` and feeds the exports it receives to `store`.
///
/// # Errors
/// The address cannot be bound.
pub async fn listen(
    addr: SocketAddr,
    store: Arc<LoadStore>,
    limits: ReceiverLimits,
) -> std::io::Result<Receiver> {
    listen_forwarding(addr, store, limits, None).await
}

/// [`listen`], passing the body of every export it took to `forward` as well (dropped when
/// `forward` is full).
pub async fn listen_forwarding(
    addr: SocketAddr,
    store: Arc<LoadStore>,
    limits: ReceiverLimits,
    forward: Option<tokio::sync::mpsc::Sender<Bytes>>,
) -> std::io::Result<Receiver> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(ReceiverStats::default());
    let shared = Arc::clone(&stats);
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "OTLP receiver: accept failed");
                    continue;
                }
            };
            let (store, stats) = (Arc::clone(&store), Arc::clone(&shared));
            let forward = forward.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let (store, stats) = (Arc::clone(&store), Arc::clone(&stats));
                    let forward = forward.clone();
                    async move {
                        let response = handle(req, &store, &stats, limits, forward.as_ref()).await;
                        Ok::<_, Infallible>(response)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    debug!(%error, %peer, "OTLP receiver: connection ended");
                }
            });
        }
    })
    .abort_handle();
    Ok(Receiver { addr, stats, task })
}

async fn handle(
    req: Request<Incoming>,
    store: &LoadStore,
    stats: &ReceiverStats,
    limits: ReceiverLimits,
    forward: Option<&tokio::sync::mpsc::Sender<Bytes>>,
) -> Response<Full<Bytes>> {
    if req.uri().path() != METRICS_PATH {
        stats.not_found.fetch_add(1, Ordering::Relaxed);
        return refusal(StatusCode::NOT_FOUND, 5, "only POST /v1/metrics is served");
    }
    if req.method() != Method::POST {
        stats.not_found.fetch_add(1, Ordering::Relaxed);
        return refusal(StatusCode::METHOD_NOT_ALLOWED, 12, "use POST");
    }
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    if !header(hyper::header::CONTENT_TYPE).starts_with(PROTOBUF) {
        stats.unsupported.fetch_add(1, Ordering::Relaxed);
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            "only application/x-protobuf is taken (set the exporter's protocol to http/protobuf)",
        );
    }
    if !matches!(
        header(hyper::header::CONTENT_ENCODING).as_str(),
        "" | "identity"
    ) {
        stats.unsupported.fetch_add(1, Ordering::Relaxed);
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            "compressed bodies are not taken (set the exporter's compression to none)",
        );
    }
    let body = match Limited::new(req.into_body(), limits.max_body)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            if error.is::<http_body_util::LengthLimitError>() {
                stats.too_large.fetch_add(1, Ordering::Relaxed);
                let message = format!("the body exceeds {} bytes", limits.max_body);
                return refusal(StatusCode::PAYLOAD_TOO_LARGE, 8, &message);
            }
            stats.malformed.fetch_add(1, Ordering::Relaxed);
            return refusal(StatusCode::BAD_REQUEST, 3, "the body could not be read");
        }
    };
    let response = match otlp::ingest(store, &body, Instant::now()) {
        Ok(response) => response,
        Err(error) => {
            stats.malformed.fetch_add(1, Ordering::Relaxed);
            let message = format!("not an ExportMetricsServiceRequest: {error}");
            return refusal(StatusCode::BAD_REQUEST, 3, &message);
        }
    };
    if let Some(forward) = forward {
        // the other replicas get what this one took (see `share`); a full queue drops
        if forward.try_send(body).is_err() {
            stats.not_shared.fetch_add(1, Ordering::Relaxed);
        }
    }
    stats.exports.fetch_add(1, Ordering::Relaxed);
    if let Some(partial) = &response.partial_success {
        let rejected = u64::try_from(partial.rejected_data_points).unwrap_or_default();
        stats.rejected_points.fetch_add(rejected, Ordering::Relaxed);
    }
    protobuf(StatusCode::OK, prost::Message::encode_to_vec(&response))
}

fn refusal(status: StatusCode, code: i32, message: &str) -> Response<Full<Bytes>> {
    let body = prost::Message::encode_to_vec(&Status {
        code,
        message: message.to_string(),
    });
    protobuf(status, body)
}

fn protobuf(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(PROTOBUF),
    );
    response
}
