//! The trace context the provider sends on: its own span's when OpenTelemetry is on.

use std::collections::HashMap;

use wasmcloud_provider_sdk::wasmcloud_tracing::context::TraceContextInjector;

use crate::ctl::trace::TraceHeaders;

/// The trace context of a `HashMap` of header pairs (only `traceparent`/`tracestate` kept).
pub(crate) fn from_map(map: &HashMap<String, String>) -> TraceHeaders {
    TraceHeaders::from_pairs(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The current span's trace context when a tracer fills it, else `fallback()` (nothing is
/// parsed when no tracer is installed).
pub(crate) fn own_span_or(fallback: impl FnOnce() -> TraceHeaders) -> TraceHeaders {
    let own = TraceContextInjector::default_with_span();
    if !own.as_ref().is_empty() {
        let own = from_map(own.as_ref());
        if !own.is_empty() {
            return own;
        }
    }
    fallback()
}
