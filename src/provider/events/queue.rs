//! An event as every queue shares it, and a link's bounded queue (the oldest event makes room).

use super::*;

/// An event as queued, shared by every queue: its WIT form and the trace context it carried.
pub struct QueuedEvent {
    /// The event as a component built against the current version receives it.
    pub event: ev::LatticeEvent,
    /// The event's own trace context (CloudEvents distributed-tracing attributes), if any.
    pub trace: TraceHeaders,
    /// Its 1.1.0 form (none for a type 1.1.0 lacks), made once, when first needed.
    v1_1: std::sync::OnceLock<Option<v1_1::LatticeEvent>>,
    /// Its 1.0.0 form, made when a 1.0.0 component first needs it, once for all of them.
    v1_0: std::sync::OnceLock<old::LatticeEvent>,
}

impl QueuedEvent {
    /// An event to queue.
    #[must_use]
    pub fn new(event: ev::LatticeEvent, trace: TraceHeaders) -> Self {
        Self {
            event,
            trace,
            v1_1: std::sync::OnceLock::new(),
            v1_0: std::sync::OnceLock::new(),
        }
    }

    /// The event as a component built against 1.1.0 receives it; `None` for a type that
    /// version does not have (it is not sent).
    pub fn v1_1(&self) -> Option<&v1_1::LatticeEvent> {
        self.v1_1
            .get_or_init(|| crate::convert::events::v1_1::lattice_event(&self.event))
            .as_ref()
    }

    /// Whether a component built against 1.0.0 is sent it (1.0.0 lacks the types 1.2.0 added).
    pub fn for_v1_0(&self) -> bool {
        !matches!(self.event.data, ev::EventData::ComponentLoad(_))
    }

    /// The event as a component built against 1.0.0 receives it.
    pub fn v1_0(&self) -> &old::LatticeEvent {
        self.v1_0
            .get_or_init(|| crate::convert::events::v1_0::lattice_event(&self.event))
    }
}

/// The trace context of one push, taken inside its delivery span: the provider's own span
/// when OpenTelemetry exports (a child of the event's context, if it had one), else the
/// event's context as it came, else none: as upstream's host and SDK, which put a
/// `traceparent` on a call only when there is a trace to continue.
pub(super) fn push_trace(event_trace: &TraceHeaders) -> TraceHeaders {
    if !event_trace.is_empty() {
        wasmcloud_provider_sdk::wasmcloud_tracing::context::attach_span_context(
            &event_trace.to_pairs(),
        );
    }
    crate::provider::span::own_span_or(|| event_trace.clone())
}

/// A subscription's bounded event queue: the oldest event makes room for a new one.
pub(super) struct LinkQueue {
    pub(super) events: Mutex<VecDeque<Arc<QueuedEvent>>>,
    pub(super) capacity: usize,
    pub(super) ready: Notify,
    pub(super) dropped: AtomicU64,
    pub(super) link: String,
}

impl LinkQueue {
    pub(super) fn new(capacity: usize, link: String) -> Self {
        Self {
            events: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
            ready: Notify::new(),
            dropped: AtomicU64::new(0),
            link,
        }
    }

    pub(super) fn push(&self, event: Arc<QueuedEvent>) {
        let overflow = {
            let mut q = self.events.lock().unwrap_or_else(PoisonError::into_inner);
            let overflow = if q.len() >= self.capacity {
                q.pop_front()
            } else {
                None
            };
            q.push_back(event);
            overflow
        };
        if let Some(old) = overflow {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // 1, 2, 4, 8, ...: a component that stays slow does not flood the log
            if dropped.is_power_of_two() {
                warn!(link = %self.link, dropped, capacity = self.capacity,
                    oldest_type = short_type(&old),
                    "event queue full: dropped the oldest event");
            }
        }
        self.ready.notify_one();
    }

    pub(super) async fn pop(&self) -> Arc<QueuedEvent> {
        loop {
            let next = self
                .events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            if let Some(ev) = next {
                return ev;
            }
            // `notify_one` keeps a permit when nobody waits, so a push between the check
            // above and this await is not lost
            self.ready.notified().await;
        }
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counts one event skipped for this link (the coordinated delivery's backlog went
    /// beyond the queue bound), warning as [`Self::push`] does.
    pub(super) fn count_dropped(&self, event_type: &str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if dropped.is_power_of_two() {
            warn!(link = %self.link, dropped, capacity = self.capacity, oldest_type = event_type,
                "event backlog beyond the queue bound: skipped the oldest event");
        }
    }
}

pub(super) fn short_type(ev: &QueuedEvent) -> &str {
    ev.event
        .event_type
        .strip_prefix(EVENT_TYPE_PREFIX)
        .unwrap_or(&ev.event.event_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::LatticeEvent;
    use serde_json::json;

    #[test]
    fn a_push_carries_the_events_trace_context_or_none() {
        const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ev = LatticeEvent::from_value(json!({"id": "1", "source": "NH",
            "type": format!("{EVENT_TYPE_PREFIX}config_set"), "data": {},
            "traceparent": PARENT, "tracestate": "k=v"}))
        .unwrap();
        let trace = TraceHeaders::from_cloud_event(&ev.raw);
        // no OpenTelemetry exporter here: the event's context goes on as it came
        let span = info_span!("push");
        let sent = span.in_scope(|| push_trace(&trace));
        assert_eq!(sent, trace);
        assert_eq!(sent.traceparent(), Some(PARENT));
        // an event without one: no trace headers at all
        assert!(push_trace(&event("config_set", 1).trace)
            .to_headers()
            .is_none());
    }

    #[tokio::test]
    async fn full_queue_drops_oldest_and_counts() {
        let q = LinkQueue::new(3, "c/default".into());
        for n in 0..5 {
            q.push(event("config_set", n));
        }
        assert_eq!(q.dropped(), 2);
        for want in ["2", "3", "4"] {
            assert_eq!(q.pop().await.event.id, want);
        }
        // an empty queue waits for the next push
        assert!(tokio::time::timeout(Duration::from_millis(20), q.pop())
            .await
            .is_err());
        q.push(event("config_set", 9));
        assert_eq!(q.pop().await.event.id, "9");
    }
}
