//! Lattice event stream: CloudEvents published by hosts on `wasmbus.evt.{lattice}.{type}`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use serde_json::Value;

use super::error::{CtlError, Result};

/// Prefix of the CloudEvent `type` of every lattice event.
pub const EVENT_TYPE_PREFIX: &str = "com.wasmcloud.lattice.";

/// One lattice event (a CloudEvents 1.0 JSON envelope as hosts publish it).
#[derive(Clone, Debug, PartialEq)]
pub struct LatticeEvent {
    /// CloudEvent `id`.
    pub id: String,
    /// CloudEvent `source`: the publishing host's id.
    pub source: String,
    /// CloudEvent `type`, e.g. `com.wasmcloud.lattice.host_started`.
    pub ty: String,
    /// CloudEvent `time` (RFC 3339), if present.
    pub time: Option<String>,
    /// CloudEvent `data` (`null` if absent).
    pub data: Value,
    /// The whole envelope as received.
    pub raw: Value,
}

impl LatticeEvent {
    /// The short event name: `ty` without `com.wasmcloud.lattice.` (e.g. `host_started`).
    #[must_use]
    pub fn short_type(&self) -> &str {
        self.ty.strip_prefix(EVENT_TYPE_PREFIX).unwrap_or(&self.ty)
    }

    /// Decodes an event from its JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        // serde_json's message may quote event content, so only its category and position
        // are reported: event data can carry config values.
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| {
            CtlError::decode(format!(
                "lattice event is not JSON ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        Self::from_value(raw)
    }

    /// Decodes an event from a parsed CloudEvents JSON envelope.
    pub fn from_value(raw: Value) -> Result<Self> {
        let text = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_string);
        let required = |name: &str| {
            text(name).ok_or_else(|| {
                CtlError::decode(format!(
                    "lattice event lacks the CloudEvent `{name}` string"
                ))
            })
        };
        Ok(Self {
            id: required("id")?,
            source: required("source")?,
            ty: required("type")?,
            time: text("time"),
            data: raw.get("data").cloned().unwrap_or(Value::Null),
            raw,
        })
    }
}

/// Which event types to pass: empty = all; otherwise each entry matches a short name
/// (`host_started`) or a full CloudEvent type, and an entry ending in `*` matches a prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    patterns: Vec<String>,
}

impl EventFilter {
    /// A filter from type names or `prefix*` patterns; an empty list passes everything.
    #[must_use]
    pub fn new(types: &[String]) -> Self {
        let patterns = types
            .iter()
            .map(|t| {
                let t = t.trim();
                // one form for matching: the short name
                t.strip_prefix(EVENT_TYPE_PREFIX).unwrap_or(t).to_string()
            })
            .collect();
        Self { patterns }
    }

    /// Whether `event` passes.
    #[must_use]
    pub fn matches(&self, event: &LatticeEvent) -> bool {
        self.matches_name(event.short_type())
    }

    /// Whether an event of short name `name` (e.g. `host_started`) passes.
    #[must_use]
    pub fn matches_name(&self, name: &str) -> bool {
        self.patterns.is_empty()
            || self.patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
    }
}

/// A stream of lattice events; malformed messages are yielded as `Decode` errors and the
/// stream goes on. Dropping it unsubscribes.
pub struct EventStream {
    subs: futures::stream::SelectAll<async_nats::Subscriber>,
    filter: EventFilter,
}

impl EventStream {
    /// Events from `subs` (one per subscribed subject), passed through `filter`.
    pub(crate) fn new(subs: Vec<async_nats::Subscriber>, filter: EventFilter) -> Self {
        Self {
            subs: futures::stream::select_all(subs),
            filter,
        }
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Result<LatticeEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let msg = match self.subs.poll_next_unpin(cx) {
                Poll::Ready(Some(msg)) => msg,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            // Hosts publish `{type}` as the last subject token: filter before decoding so a
            // malformed event of an unwanted type is not reported.
            let name = msg.subject.rsplit('.').next().unwrap_or_default();
            if !self.filter.matches_name(name) {
                continue;
            }
            match LatticeEvent::from_slice(&msg.payload) {
                Ok(ev) if self.filter.matches(&ev) => return Poll::Ready(Some(Ok(ev))),
                Ok(_) => continue,
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::CtlErrorKind;
    use serde_json::json;

    fn host_event() -> Value {
        // the shape cloudevents-sdk 0.9 produces for the host's `publish_event`
        json!({
            "specversion": "1.0",
            "id": "01890f6e-0000-0000-0000-000000000000",
            "type": "com.wasmcloud.lattice.host_started",
            "source": "NHOSTID",
            "datacontenttype": "application/json",
            "time": "2026-11-01T10:00:00.123Z",
            "data": {"labels": {"a": "b"}, "friendly_name": "x"}
        })
    }

    #[test]
    fn decodes_host_cloudevent() {
        let ev = LatticeEvent::from_slice(&serde_json::to_vec(&host_event()).unwrap()).unwrap();
        assert_eq!(ev.source, "NHOSTID");
        assert_eq!(ev.ty, "com.wasmcloud.lattice.host_started");
        assert_eq!(ev.short_type(), "host_started");
        assert_eq!(ev.time.as_deref(), Some("2026-11-01T10:00:00.123Z"));
        assert_eq!(ev.data["labels"]["a"], "b");
        assert_eq!(ev.raw, host_event());
    }

    #[test]
    fn missing_required_attribute_or_bad_json_is_decode_error() {
        let mut v = host_event();
        v.as_object_mut().unwrap().remove("source");
        let e = LatticeEvent::from_value(v).unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::Decode);
        assert!(e.message().contains("source"));
        let e = LatticeEvent::from_slice(b"{\"secret\": ").unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::Decode);
        assert!(!e.message().contains("secret"));
    }

    #[test]
    fn missing_data_and_time_are_tolerated() {
        let ev = LatticeEvent::from_value(json!({"id": "1", "source": "s", "type": "t"})).unwrap();
        assert_eq!(ev.data, Value::Null);
        assert!(ev.time.is_none());
        assert_eq!(ev.short_type(), "t");
    }

    #[test]
    fn filter_matches_short_full_and_prefix() {
        let ev = LatticeEvent::from_value(host_event()).unwrap();
        assert!(EventFilter::new(&[]).matches(&ev));
        assert!(EventFilter::new(&["host_started".into()]).matches(&ev));
        assert!(EventFilter::new(&["com.wasmcloud.lattice.host_started".into()]).matches(&ev));
        assert!(EventFilter::new(&["host_*".into()]).matches(&ev));
        assert!(EventFilter::new(&["com.wasmcloud.lattice.host*".into()]).matches(&ev));
        assert!(!EventFilter::new(&["host_stopped".into()]).matches(&ev));
        assert!(!EventFilter::new(&["component_*".into(), "host".into()]).matches(&ev));
    }
}
