//! Lattice event stream: CloudEvents published by hosts on `wasmbus.evt.{lattice}.{type}`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
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
        todo!()
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
        todo!()
    }

    /// Whether `event` passes.
    #[must_use]
    pub fn matches(&self, event: &LatticeEvent) -> bool {
        todo!()
    }
}

/// A stream of lattice events; malformed messages are yielded as `Decode` errors and the
/// stream goes on. Dropping it unsubscribes.
pub struct EventStream {
    sub: async_nats::Subscriber,
    filter: EventFilter,
}

impl EventStream {
    pub(crate) fn new(sub: async_nats::Subscriber, filter: EventFilter) -> Self {
        Self { sub, filter }
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

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        todo!()
    }
}
