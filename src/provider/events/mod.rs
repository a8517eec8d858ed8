//! Lattice events pushed to linked components (`lattice-events.handle-event`).
//!
//! A link opts in through its config: `events` (comma list of short event types, prefixes
//! ending in `_` or `*`, or `*` for all), `event_queue` (per-link queue bound, default 256)
//! and `event_timeout_ms` (bound of one delivery call, default 2000).
//!
//! This module is fan-out only: it knows nothing of links. The link table
//! ([`super::links`]) parses a link's event settings once and holds the [`Subscription`] that
//! [`EventHub::subscribe`] returns; dropping it stops that link's delivery at once.
//!
//! Shape: ONE event subscription per (NATS connection, lattice), fanned out to the
//! subscriptions whose filter passes the event. An event is converted to its WIT form once,
//! when the first subscription wants it, and shared by every queue. Each subscription has its
//! own bounded queue (oldest dropped first, counted, warned) and its own delivery task calling
//! the component over wRPC with a timeout, so a slow or failing component fills only its own
//! queue. The last subscription of a stream ends it (the NATS subscription is dropped). Both
//! tasks are supervised ([`super::supervise`]): one that fails is logged and started again.
//!
//! Components are called through the provider SDK's connection, which exists only once the
//! SDK runs; a delivery started before (a link of the provider's start-up data) waits for it
//! ([`sdk_connected`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tracing::{debug, info, info_span, warn, Instrument as _};

use crate::bindings::v1_0::types as old;
use crate::bindings::v1_1::wasmcloud::lattice_control::events as v1_1;
use crate::bindings::wasmcloud::lattice_control::{events as ev, lattice_events};
use crate::convert::events::lattice_event;
use crate::ctl::trace::TraceHeaders;
use crate::ctl::{Client, EventFilter, EVENT_TYPE_PREFIX};
use crate::provider::config::{lookup, ConnectionSettings};
use crate::provider::load::publish::{self as load_publish, LoadEvents};
use crate::provider::supervise::{self, Ended};
use wasmcloud_provider_sdk::ProviderConnection;

pub mod coordinated;
mod hub;
mod queue;
mod settings;
mod target;

pub use hub::*;
pub use queue::*;
pub use settings::*;
pub use target::*;

#[cfg(test)]
use test_support::{cfg, event};

/// Helpers of the tests of every part of the module.
#[cfg(test)]
mod test_support {
    use super::*;
    use crate::ctl::LatticeEvent;
    use serde_json::json;

    pub(super) fn cfg(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub(super) fn event(ty: &str, n: u64) -> Arc<QueuedEvent> {
        let ev = LatticeEvent::from_value(json!({"id": n.to_string(), "source": "NH",
            "type": format!("{EVENT_TYPE_PREFIX}{ty}"), "data": {"n": n}}))
        .unwrap();
        Arc::new(QueuedEvent::new(
            lattice_event(&ev, "lat"),
            TraceHeaders::from_cloud_event(&ev.raw),
        ))
    }
}
