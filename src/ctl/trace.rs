//! W3C trace context on control traffic: every request and scatter sent inside
//! [`with_context`] carries its `traceparent` (and `tracestate`) as NATS headers, as upstream's
//! client puts the current span's context on its requests; the host attaches it to its spans.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CONTEXT: TraceHeaders;
}

/// The trace headers of one call: `traceparent` and `tracestate`, checked. No trace context
/// costs no allocation (most calls carry none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceHeaders(Option<Arc<[(&'static str, String)]>>);

/// Longest header value kept (W3C: `tracestate` is at most 512 characters).
const MAX_VALUE_LEN: usize = 512;

impl TraceHeaders {
    /// The `traceparent` / `tracestate` entries of `pairs` (names compared
    /// case-insensitively); a value that is empty, too long or not printable ASCII is left out,
    /// so nothing a caller sends can break a NATS header.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut kept: Vec<(&'static str, String)> = Vec::new();
        for (name, value) in pairs {
            let name = if name.eq_ignore_ascii_case("traceparent") {
                "traceparent"
            } else if name.eq_ignore_ascii_case("tracestate") {
                "tracestate"
            } else {
                continue;
            };
            let value = value.trim();
            let printable = value.bytes().all(|b| (0x20..0x7f).contains(&b));
            if value.is_empty() || value.len() > MAX_VALUE_LEN || !printable {
                continue;
            }
            if !kept.iter().any(|(n, _)| *n == name) {
                kept.push((name, value.to_string()));
            }
        }
        // a tracestate without a traceparent means nothing
        if !kept.iter().any(|(n, _)| *n == "traceparent") {
            return Self::default();
        }
        Self(Some(kept.into()))
    }

    fn pairs(&self) -> &[(&'static str, String)] {
        self.0.as_deref().unwrap_or_default()
    }

    /// Whether there is no trace context.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    /// The value of `traceparent`, if any.
    #[must_use]
    pub fn traceparent(&self) -> Option<&str> {
        self.pairs()
            .iter()
            .find(|(n, _)| *n == "traceparent")
            .map(|(_, v)| v.as_str())
    }

    /// The trace context a CloudEvent carries in its distributed-tracing extension attributes
    /// (`traceparent`, `tracestate` beside `id` and `type`), checked as [`Self::from_pairs`].
    #[must_use]
    pub fn from_cloud_event(envelope: &serde_json::Value) -> Self {
        let attr = |name: &'static str| {
            envelope
                .get(name)
                .and_then(serde_json::Value::as_str)
                .map(|v| (name, v))
        };
        Self::from_pairs(attr("traceparent").into_iter().chain(attr("tracestate")))
    }

    /// The entries as owned pairs (the shape OpenTelemetry extractors take).
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.pairs()
            .iter()
            .map(|(n, v)| ((*n).to_string(), v.clone()))
            .collect()
    }

    /// The entries as NATS headers, `None` when there is no trace context.
    #[must_use]
    pub fn to_headers(&self) -> Option<async_nats::HeaderMap> {
        (!self.is_empty()).then(|| self.header_map())
    }

    fn header_map(&self) -> async_nats::HeaderMap {
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in self.pairs() {
            headers.insert(*name, value.as_str());
        }
        headers
    }
}

/// Runs `fut` with `headers` as the trace context of the control traffic it sends.
pub async fn with_context<F: Future>(headers: TraceHeaders, fut: F) -> F::Output {
    CONTEXT.scope(headers, fut).await
}

/// The NATS headers for a control message sent now, if the task has a trace context.
pub(crate) fn current_headers() -> Option<async_nats::HeaderMap> {
    CONTEXT
        .try_with(|h| (!h.is_empty()).then(|| h.header_map()))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn keeps_only_well_formed_trace_headers() {
        let h = TraceHeaders::from_pairs([
            ("source-id", "comp"),
            ("TraceParent", PARENT),
            ("tracestate", "vendor=1"),
            ("tracestate", "second=ignored"),
        ]);
        assert_eq!(h.traceparent(), Some(PARENT));
        assert_eq!(h.pairs().len(), 2);
        assert_eq!(TraceHeaders::from_pairs([("source-id", "comp")]).0, None);
        assert!(TraceHeaders::from_pairs([("traceparent", "a\r\nb")]).is_empty());
        assert!(TraceHeaders::from_pairs([("tracestate", "x=1")]).is_empty());
        let long = "a".repeat(600);
        assert!(TraceHeaders::from_pairs([("traceparent", long.as_str())]).is_empty());
    }

    #[test]
    fn reads_the_cloudevent_tracing_attributes() {
        let ev = serde_json::json!({"id": "1", "type": "t", "traceparent": PARENT,
            "tracestate": "k=v", "data": {"traceparent": "not this one"}});
        let h = TraceHeaders::from_cloud_event(&ev);
        assert_eq!(h.traceparent(), Some(PARENT));
        let headers = h.to_headers().expect("headers");
        assert_eq!(headers.get("tracestate").map(|v| v.as_str()), Some("k=v"));
        assert!(TraceHeaders::from_cloud_event(&serde_json::json!({"id": "1"})).is_empty());
        assert!(TraceHeaders::default().to_headers().is_none());
        assert!(TraceHeaders::from_cloud_event(&serde_json::json!({"traceparent": 7})).is_empty());
    }

    #[tokio::test]
    async fn headers_exist_only_inside_the_scope() {
        assert!(current_headers().is_none());
        let h = TraceHeaders::from_pairs([("traceparent", PARENT)]);
        let inside = with_context(h, async { current_headers() }).await;
        let inside = inside.expect("headers in scope");
        assert_eq!(inside.get("traceparent").map(|v| v.as_str()), Some(PARENT));
        assert!(current_headers().is_none());
    }
}
