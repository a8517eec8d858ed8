//! The hub: one event stream per (NATS connection, lattice), fanned out to the subscriptions whose filter passes an event, and each subscription's delivery task.

use super::*;

/// How long a subscription waits before retrying after NATS refused it.
pub(super) const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// A stream: `(connection key, lattice, event types it subscribes to)`; no types: every event.
pub(super) type StreamKey = (String, String, Vec<String>);

pub(super) struct Subscriber {
    filter: EventFilter,
    queue: Arc<LinkQueue>,
}

pub(super) type Subscribers = Arc<RwLock<HashMap<u64, Subscriber>>>;

pub(super) struct Stream {
    subscribers: Subscribers,
    task: AbortHandle,
}

#[derive(Default)]
pub(super) struct HubState {
    streams: HashMap<StreamKey, Stream>,
    next_id: u64,
}

/// Fans lattice events out to subscriptions. Cheap to clone.
#[derive(Clone)]
pub struct EventHub {
    state: Arc<Mutex<HubState>>,
    targets: TargetFactory,
    /// The provider's id: with the link, it names the link's JetStream consumer.
    provider_id: Arc<str>,
    /// Publishes `component_load` reports for the links that ask for them.
    load: Option<LoadEvents>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("streams", &lock(&self.state).streams.len())
            .finish_non_exhaustive()
    }
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new(sdk_targets())
    }
}

pub(super) fn lock(state: &Mutex<HubState>) -> std::sync::MutexGuard<'_, HubState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One component's share of a stream: its queue and delivery task. Dropping it stops the
/// delivery at once (the in-flight call is abandoned, queued events dropped) and ends the
/// stream if it was the last.
pub struct Subscription {
    hub: Weak<Mutex<HubState>>,
    stream: StreamKey,
    id: u64,
    queue: Arc<LinkQueue>,
    task: AbortHandle,
    /// Publishes the link's lattice's `component_load` reports, when it asks for them.
    publisher: Option<AbortHandle>,
    settings: EventSettings,
    /// Set (under the hub's lock) when it is dropped: a delivery falling back to core NATS
    /// after that does not join the fan-out.
    gone: Arc<std::sync::atomic::AtomicBool>,
    /// The connection, lattice and name of the link's JetStream consumer.
    consumer: (async_nats::Client, String, String),
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("link", &self.queue.link)
            .field("types", &self.settings.types)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The settings it was made with.
    #[must_use]
    pub fn settings(&self) -> &EventSettings {
        &self.settings
    }

    /// Whether it delivers `settings` from the lattice of `client` on `connection`.
    #[must_use]
    pub fn serves(
        &self,
        client: &Client,
        connection: &ConnectionSettings,
        settings: &EventSettings,
    ) -> bool {
        self.stream == stream_key(client, connection, settings) && self.settings == *settings
    }

    /// Events dropped so far from its full queue.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// Ends the delivery for good, the link being deleted: its JetStream consumer, shared by
    /// the provider's replicas, is deleted too (each replica gets the delete; the second
    /// finds nothing to do). A subscription merely dropped (the provider stopping, the link's
    /// settings replaced) leaves the consumer to the other replicas.
    pub fn release(self) {
        let (nats, lattice, name) = self.consumer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(coordinated::delete_consumer(nats, lattice, name));
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(publisher) = &self.publisher {
            publisher.abort();
        }
        let dropped = self.queue.dropped();
        if dropped > 0 {
            warn!(link = %self.queue.link, dropped, "event delivery stopped; events dropped over its lifetime");
        }
        let Some(state) = self.hub.upgrade() else {
            return;
        };
        let mut state = lock(&state);
        self.gone.store(true, Ordering::SeqCst);
        let last = state.streams.get(&self.stream).is_some_and(|s| {
            let mut subs = s
                .subscribers
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            subs.remove(&self.id);
            subs.is_empty()
        });
        if last {
            if let Some(s) = state.streams.remove(&self.stream) {
                s.task.abort();
                debug!(lattice = %self.stream.1, "last event subscription gone: unsubscribed");
            }
        }
    }
}

/// A key of a NATS connection's settings, a lattice and the event types asked for:
/// subscriptions with equal keys share one stream. The connection part is a hash, so no
/// credential is kept in the key. A stream subscribes to its types' own subjects
/// (`wasmbus.evt.{lattice}.{type}`) where they are exact names, so an account granted only
/// those subjects works and no heartbeat is read that nobody asked for.
pub(super) fn stream_key(
    client: &Client,
    settings: &ConnectionSettings,
    events: &EventSettings,
) -> StreamKey {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    settings.hash(&mut h);
    let mut types = if events.types.iter().any(|t| t == "*") {
        Vec::new()
    } else {
        events.types.clone()
    };
    types.sort();
    types.dedup();
    (
        format!("{:016x}", h.finish()),
        client.lattice().to_string(),
        types,
    )
}

impl EventHub {
    /// A hub calling components through `targets` (see [`sdk_targets`]).
    #[must_use]
    pub fn new(targets: TargetFactory) -> Self {
        Self {
            state: Arc::default(),
            targets,
            provider_id: Arc::from(""),
            load: None,
        }
    }

    /// The same hub publishing `component_load` reports (see [`crate::provider::load::publish`])
    /// to the lattices of the links that ask for them.
    #[must_use]
    pub fn with_load(mut self, load: LoadEvents) -> Self {
        self.load = Some(load);
        self
    }

    /// The same hub for provider `provider_id`: every replica of it shares a link's
    /// JetStream consumer.
    #[must_use]
    pub fn for_provider(mut self, provider_id: &str) -> Self {
        self.provider_id = Arc::from(provider_id);
        self
    }

    /// Delivers the events `settings` asks for, from the lattice `client` manages, to
    /// `component_id`'s `handle-event`. `client` runs on a NATS connection made from
    /// `connection`; subscriptions on equal connections and lattices share one stream. Must
    /// run inside a Tokio runtime. `label` names the subscription in logs.
    #[must_use]
    pub fn subscribe(
        &self,
        component_id: &str,
        label: String,
        client: &Client,
        connection: &ConnectionSettings,
        settings: &EventSettings,
    ) -> Subscription {
        let key = stream_key(client, connection, settings);
        let queue = Arc::new(LinkQueue::new(settings.queue, label.clone()));
        let id = {
            let mut state = lock(&self.state);
            state.next_id += 1;
            state.next_id
        };
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let consumer = coordinated::consumer_name(
            &self.provider_id,
            &label,
            client.lattice(),
            &settings.types,
        );
        let link = Arc::new(LinkDelivery {
            hub: Arc::downgrade(&self.state),
            key: key.clone(),
            id,
            gone: Arc::clone(&gone),
            client: client.clone(),
            filter: settings.filter(),
            types: settings.types.clone(),
            consumer: consumer.clone(),
            queue: Arc::clone(&queue),
            targets: Arc::clone(&self.targets),
            component_id: component_id.to_string(),
            timeout: settings.timeout,
        });
        let name = format!("event delivery to link {label}");
        // it only ends when aborted (the subscription dropped) or by a panic
        let task = supervise::spawn(name, move || {
            let link = Arc::clone(&link);
            async move {
                link.run().await;
                Ended::Unexpectedly("the delivery loop returned".into())
            }
        })
        .abort_handle();
        let publisher = self
            .load
            .clone()
            .filter(|_| settings.types.iter().any(|t| t == load_publish::EVENT))
            .map(|load| {
                let (nats, lattice) = (client.nats_client().clone(), client.lattice().to_string());
                let name = format!("component load reports for link {label}");
                supervise::spawn(name, move || {
                    load_publish::run(nats.clone(), lattice.clone(), load.clone())
                })
                .abort_handle()
            });
        info!(link = %label, types = ?settings.types, lattice = client.lattice(),
            "delivering lattice events");
        Subscription {
            hub: Arc::downgrade(&self.state),
            stream: key,
            id,
            queue,
            task,
            publisher,
            settings: settings.clone(),
            gone,
            consumer: (
                client.nats_client().clone(),
                client.lattice().to_string(),
                consumer,
            ),
        }
    }

    /// Number of live event streams (one per connection, lattice and set of event types).
    #[cfg(test)]
    #[must_use]
    pub(crate) fn stream_count(&self) -> usize {
        lock(&self.state).streams.len()
    }
}

/// Reads the lattice's events and queues each for the subscriptions whose filter passes
/// it, converted to WIT once. Re-subscribes after a refused subscription or a closed stream.
pub(super) async fn fan_out(client: Client, types: Vec<String>, subscribers: Subscribers) {
    let lattice = client.lattice().to_string();
    loop {
        let mut events = match client.events(&types).await {
            Ok(events) => events,
            Err(error) => {
                warn!(%error, %lattice, "event subscription failed; retrying");
                tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                continue;
            }
        };
        while let Some(next) = events.next().await {
            let ev = match next {
                Ok(ev) => ev,
                Err(error) => {
                    debug!(%error, "skipping malformed lattice event");
                    continue;
                }
            };
            let subs = subscribers.read().unwrap_or_else(PoisonError::into_inner);
            let mut shared: Option<Arc<QueuedEvent>> = None;
            for sub in subs.values().filter(|s| s.filter.matches(&ev)) {
                let wit = shared.get_or_insert_with(|| {
                    Arc::new(QueuedEvent::new(
                        lattice_event(&ev, &lattice),
                        TraceHeaders::from_cloud_event(&ev.raw),
                    ))
                });
                sub.queue.push(Arc::clone(wit));
            }
        }
        warn!(%lattice, "event subscription closed; subscribing again");
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

/// At most 200 characters of a component's message (it is the component's to choose).
pub(super) fn short(message: &str) -> &str {
    message
        .char_indices()
        .nth(200)
        .map_or(message, |(i, _)| &message[..i])
}

/// How many times in a row JetStream may fail to answer before a link's delivery falls back
/// to core NATS (an account without `$JS.API` permissions gets no answer at all).
pub(super) const JETSTREAM_TRIES: u32 = 3;

/// Everything one link's delivery task needs.
pub(super) struct LinkDelivery {
    hub: Weak<Mutex<HubState>>,
    key: StreamKey,
    id: u64,
    gone: Arc<std::sync::atomic::AtomicBool>,
    client: Client,
    filter: EventFilter,
    types: Vec<String>,
    consumer: String,
    queue: Arc<LinkQueue>,
    targets: TargetFactory,
    component_id: String,
    timeout: Duration,
}

impl LinkDelivery {
    /// Delivers through the link's JetStream consumer where the connection's account has
    /// JetStream; otherwise through the lattice's core NATS fan-out (every replica then
    /// pushes every event, and nothing published while no replica runs is delivered).
    async fn run(&self) {
        let js = async_nats::jetstream::new(self.client.nats_client().clone());
        let mut failures = 0;
        loop {
            match coordinated::check(&js).await {
                Ok(()) => return self.pull(&js).await,
                Err(coordinated::Unusable::NoJetStream(why)) => {
                    warn!(link = %self.queue.link, reason = %why,
                        "no JetStream on the lattice's NATS: events delivered over core NATS \
                         (each replica of the provider pushes each event; none replayed)");
                    break;
                }
                Err(coordinated::Unusable::Failed(why)) => {
                    failures += 1;
                    if failures >= JETSTREAM_TRIES {
                        tracing::error!(link = %self.queue.link, reason = %why,
                            "JetStream does not answer (missing $JS.API permissions?): events \
                             delivered over core NATS (each replica pushes each event)");
                        break;
                    }
                    tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                }
            }
        }
        self.join_fan_out();
        deliver(
            Arc::clone(&self.queue),
            Arc::clone(&self.targets),
            self.component_id.clone(),
            self.timeout,
        )
        .await;
    }

    /// Joins (or starts) the core NATS fan-out of the link's stream key, unless the
    /// subscription was dropped meanwhile (checked under the hub's lock, which its drop takes).
    fn join_fan_out(&self) {
        let Some(state) = self.hub.upgrade() else {
            return;
        };
        let mut state = lock(&state);
        if self.gone.load(Ordering::SeqCst) {
            return;
        }
        let stream = state.streams.entry(self.key.clone()).or_insert_with(|| {
            let subscribers = Subscribers::default();
            let (client, types, subs) = (
                self.client.clone(),
                self.key.2.clone(),
                Arc::clone(&subscribers),
            );
            let name = format!("event fan-out of lattice {}", client.lattice());
            // it only ends when its stream goes (aborted) or by a panic
            let task = supervise::spawn(name, move || {
                let run = fan_out(client.clone(), types.clone(), Arc::clone(&subs));
                async move {
                    run.await;
                    Ended::Unexpectedly("the fan-out loop returned".into())
                }
            })
            .abort_handle();
            Stream { subscribers, task }
        });
        stream
            .subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(self.id)
            .or_insert_with(|| Subscriber {
                filter: self.filter.clone(),
                queue: Arc::clone(&self.queue),
            });
    }

    /// Pulls the link's events from its consumer, shared with the provider's other replicas,
    /// and pushes each to the component, acknowledging it once the call ended. Makes the
    /// stream and consumer when missing, again after the consumer went (deleted, expired).
    async fn pull(&self, js: &async_nats::jetstream::Context) {
        let target = make_target(&self.targets, &self.component_id, &self.queue.link).await;
        let lattice = self.client.lattice().to_string();
        let subjects = coordinated::filter_subjects(&lattice, &self.types);
        loop {
            let made = async {
                let stream = coordinated::ensure_stream(js, &lattice).await?;
                let config = coordinated::consumer_config(
                    &self.consumer,
                    subjects.clone(),
                    &self.queue.link,
                );
                let consumer = coordinated::ensure_consumer(js, &stream, config).await?;
                consumer
                    .stream()
                    .max_messages_per_batch(1)
                    .expires(coordinated::PULL_EXPIRES)
                    .heartbeat(coordinated::PULL_HEARTBEAT)
                    .messages()
                    .await
                    .map_err(|e| format!("pulling from consumer `{}`: {e}", self.consumer))
                    .map(|messages| (stream, messages))
            };
            let (stream, mut messages) = match made.await {
                Ok(made) => made,
                Err(error) => {
                    warn!(link = %self.queue.link, %error, "cannot read the link's events from JetStream; retrying");
                    tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                    continue;
                }
            };
            info!(link = %self.queue.link, %stream, consumer = %self.consumer,
                "link's events come from a JetStream consumer shared by the provider's replicas");
            while let Some(next) = messages.next().await {
                match next {
                    Ok(msg) => self.handle(&msg, target.as_ref(), &lattice).await,
                    Err(error)
                        if matches!(
                            error.kind(),
                            async_nats::jetstream::consumer::pull::MessagesErrorKind::MissingHeartbeat
                        ) =>
                    {
                        debug!(link = %self.queue.link, %error, "pull heartbeat missed");
                    }
                    Err(error) => {
                        warn!(link = %self.queue.link, %error, "event consumer failed; making it again");
                        break;
                    }
                }
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    }

    /// One message of the consumer: pushed if the link wants it and its backlog is within
    /// the queue bound, then acknowledged (also when the call failed or timed out: a stuck
    /// component must not hold its link's consumer forever).
    async fn handle(
        &self,
        msg: &async_nats::jetstream::Message,
        target: &dyn EventTarget,
        lattice: &str,
    ) {
        match crate::ctl::LatticeEvent::from_slice(&msg.payload) {
            Err(error) => debug!(%error, "skipping malformed lattice event"),
            Ok(ev) if !self.filter.matches(&ev) => {}
            Ok(ev) => {
                let backlog = msg.info().map_or(0, |i| i.pending);
                if backlog >= self.queue.capacity as u64 {
                    self.queue.count_dropped(ev.short_type());
                } else {
                    let pushed = Arc::new(QueuedEvent::new(
                        lattice_event(&ev, lattice),
                        TraceHeaders::from_cloud_event(&ev.raw),
                    ));
                    coordinated::with_progress(
                        msg,
                        push(target, pushed, &self.queue.link, self.timeout),
                    )
                    .await;
                }
            }
        }
        if let Err(error) = msg.ack().await {
            warn!(link = %self.queue.link, %error, "event not acknowledged; it will come again");
        }
    }
}

/// Starts a core NATS delivery task over `queue` alone (no JetStream check, no fan-out).
#[cfg(test)]
pub(super) fn spawn_delivery(
    queue: Arc<LinkQueue>,
    targets: TargetFactory,
    component_id: &str,
    timeout: Duration,
) -> AbortHandle {
    let name = format!("event delivery to link {}", queue.link);
    let component_id = component_id.to_string();
    supervise::spawn(name, move || {
        let run = deliver(
            Arc::clone(&queue),
            Arc::clone(&targets),
            component_id.clone(),
            timeout,
        );
        async move {
            run.await;
            Ended::Unexpectedly("the delivery loop returned".into())
        }
    })
    .abort_handle()
}

/// The component's target, retried until it can be made.
pub(super) async fn make_target(
    targets: &TargetFactory,
    component_id: &str,
    link: &str,
) -> Arc<dyn EventTarget> {
    loop {
        match targets(component_id.to_string()).await {
            Ok(t) => return t,
            Err(error) => {
                warn!(%link, %error, "cannot reach the component; retrying");
                tokio::time::sleep(RESUBSCRIBE_DELAY).await;
            }
        }
    }
}

/// The core NATS delivery loop over a link's queue: one `handle-event` call at a time, each
/// bounded by `timeout`.
pub(super) async fn deliver(
    queue: Arc<LinkQueue>,
    targets: TargetFactory,
    component_id: String,
    timeout: Duration,
) {
    let target = make_target(&targets, &component_id, &queue.link).await;
    loop {
        let ev = queue.pop().await;
        push(target.as_ref(), ev, &queue.link, timeout).await;
    }
}

/// One `handle-event` call, bounded by `timeout`, its outcome logged.
pub(super) async fn push(
    target: &dyn EventTarget,
    ev: Arc<QueuedEvent>,
    link: &str,
    timeout: Duration,
) {
    let ty = short_type(&ev).to_string();
    let span = info_span!("lattice_event_push", %link, event = %ty);
    let headers = span.in_scope(|| push_trace(&ev.trace)).to_headers();
    let call = target.handle_event(ev, headers).instrument(span);
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(Ok(()))) => debug!(%link, event = %ty, "event delivered"),
        Ok(Ok(Err(message))) => warn!(%link, event = %ty,
            message = %short(&message), "component returned an error for the event"),
        Ok(Err(error)) => {
            warn!(%link, event = %ty, %error, "event delivery failed")
        }
        Err(_) => warn!(%link, event = %ty,
            timeout_ms = timeout.as_millis() as u64, "event delivery timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::ClientBuilder;
    use crate::test_nats::NatsServer as Nats;
    use serde_json::json;
    use tokio::sync::mpsc;

    /// Records deliveries on a channel; sleeps `delay` per call first, and panics on the first
    /// event instead when `panics` is set (an injected failure).
    struct Recorder {
        tx: mpsc::UnboundedSender<ev::LatticeEvent>,
        delay: Duration,
        panics: std::sync::atomic::AtomicBool,
    }

    impl EventTarget for Recorder {
        fn handle_event(
            &self,
            event: Arc<QueuedEvent>,
            _headers: Option<async_nats::HeaderMap>,
        ) -> BoxFuture<'_, anyhow::Result<Result<(), String>>> {
            Box::pin(async move {
                assert!(
                    !self.panics.swap(false, Ordering::SeqCst),
                    "injected failure: handle-event"
                );
                tokio::time::sleep(self.delay).await;
                let _ = self.tx.send(event.event.clone());
                Ok(Ok(()))
            })
        }
    }

    /// The first target cannot be made (the factory panics), the second panics on its first
    /// event: each time the delivery is logged and restarted over the same queue, and the
    /// events queued meanwhile still arrive, in order.
    #[tokio::test]
    async fn a_failed_delivery_is_restarted_and_events_still_arrive() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let made = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&made);
        let factory: TargetFactory = Arc::new(move |_component_id: String| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            Box::pin(async move {
                assert!(n != 0, "injected failure: target factory");
                let panics = std::sync::atomic::AtomicBool::new(n == 1);
                let target = Recorder {
                    tx,
                    delay: Duration::ZERO,
                    panics,
                };
                Ok(Arc::new(target) as Arc<dyn EventTarget>)
            })
        });
        let queue = Arc::new(LinkQueue::new(16, "c/default".into()));
        for n in 0..3 {
            queue.push(event("config_set", n));
        }
        let task = spawn_delivery(Arc::clone(&queue), factory, "c", Duration::from_secs(1));
        // event 0 was in flight when the second target panicked: that one is lost
        assert_eq!(next(&mut rx).await.id, "1");
        assert_eq!(next(&mut rx).await.id, "2");
        queue.push(event("config_set", 3));
        assert_eq!(next(&mut rx).await.id, "3");
        assert_eq!(
            made.load(Ordering::SeqCst),
            3,
            "two restarts, one target each"
        );
        // aborting (the subscription dropped) stops it for good
        task.abort();
        queue.push(event("config_set", 4));
        none_within(&mut rx, 200).await;
    }

    /// Targets by component id: `slow` sleeps 1 s per call, others answer at once.
    fn recorders() -> (
        TargetFactory,
        HashMap<&'static str, mpsc::UnboundedReceiver<ev::LatticeEvent>>,
    ) {
        let mut senders = HashMap::new();
        let mut receivers = HashMap::new();
        for id in ["fast", "slow", "other"] {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.insert(id.to_string(), tx);
            receivers.insert(id, rx);
        }
        let factory: TargetFactory = Arc::new(move |id: String| {
            let tx = senders.get(&id).cloned();
            Box::pin(async move {
                let tx = tx.ok_or_else(|| anyhow::anyhow!("unknown component {id}"))?;
                let delay = if id == "slow" {
                    Duration::from_secs(1)
                } else {
                    Duration::ZERO
                };
                let panics = std::sync::atomic::AtomicBool::new(false);
                Ok(Arc::new(Recorder { tx, delay, panics }) as Arc<dyn EventTarget>)
            })
        });
        (factory, receivers)
    }

    async fn nats() -> (Nats, async_nats::Client) {
        nats_server(false).await
    }

    /// A server with JetStream when `jetstream` (its store in a fresh directory).
    async fn nats_server(jetstream: bool) -> (Nats, async_nats::Client) {
        let server = Nats::start(jetstream);
        let client = server.connect().await;
        (server, client)
    }

    async fn publish(nats: &async_nats::Client, ty: &str, n: u64) {
        let body = serde_json::to_vec(&json!({"specversion": "1.0", "id": n.to_string(),
            "source": "NH", "type": format!("{EVENT_TYPE_PREFIX}{ty}"),
            "time": "2026-11-01T10:00:00Z", "data": {"n": n}}))
        .unwrap();
        nats.publish(format!("wasmbus.evt.lat.{ty}"), body.into())
            .await
            .unwrap();
        nats.flush().await.unwrap();
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<ev::LatticeEvent>) -> ev::LatticeEvent {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("event within 5 s")
            .expect("recorder alive")
    }

    async fn none_within(rx: &mut mpsc::UnboundedReceiver<ev::LatticeEvent>, ms: u64) {
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(ms), rx.recv()).await {
            panic!("unexpected delivery {}", ev.event_type);
        }
    }

    /// Fan-out over a real NATS server: filters per link, a slow link does not delay a fast
    /// one, deleting a link stops it at once, the last link ends the subscription.
    #[tokio::test]
    async fn hub_fans_out_filters_and_isolates_links() {
        let (_server, nats) = nats().await;
        let client = ClientBuilder::new(nats.clone()).lattice("lat").build();
        let (factory, mut rx) = recorders();
        let hub = EventHub::new(factory);
        let conn = ConnectionSettings {
            urls: vec!["nats://127.0.0.1:4222".into()],
            auth: crate::provider::config::Auth::None,
            tls_ca_file: None,
            tls_ca: None,
            tls_first: false,
        };
        let sub = |id: &str, events: &str, queue: &str| {
            let settings =
                EventSettings::from_settings(&cfg(&[("events", events), ("event_queue", queue)]))
                    .unwrap()
                    .unwrap();
            hub.subscribe(id, format!("{id}/default"), &client, &conn, &settings)
        };
        // no JetStream on this server: each link falls back to the core fan-out, joining it
        // once it found that out
        let streams = |n: usize| {
            let hub = hub.clone();
            async move {
                for _ in 0..200 {
                    if hub.stream_count() == n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                panic!("{} streams, not {n}", hub.stream_count());
            }
        };
        let fast = sub("fast", "component_scaled,provider_", "64");
        let slow = sub("slow", "*", "2");
        let other = sub("other", "host_stopped", "2");
        // one stream per set of types; links asking for the same types share one
        streams(3).await;
        let twin = sub("twin", " host_stopped", "2");
        streams(3).await;
        drop(twin);
        assert_eq!(hub.stream_count(), 3);
        // a link dropped before it joined the fan-out never joins it
        drop(sub("brief", "config_set", "2"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(hub.stream_count(), 3);
        assert_eq!(
            fast.settings().types,
            vec!["component_scaled", "provider_*"]
        );
        // no lattice traffic yet: let the subscription reach the server
        nats.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;

        for n in 0..5 {
            publish(&nats, "component_scaled", n).await;
        }
        publish(&nats, "config_set", 5).await;
        publish(&nats, "provider_started", 6).await;
        let fast_rx = rx.get_mut("fast").unwrap();
        for n in 0..5 {
            let ev = next(fast_rx).await;
            assert_eq!(ev.id, n.to_string());
            assert_eq!(ev.lattice, "lat");
        }
        // provider_started arrives well before the slow link finished its first call
        assert_eq!(next(fast_rx).await.id, "6");
        none_within(fast_rx, 100).await;
        none_within(rx.get_mut("other").unwrap(), 1).await;

        // the slow link (queue 2) got all 7 events within ~0 s: at most 1 in flight + 2
        // queued, the rest dropped oldest first; it still delivers
        next(rx.get_mut("slow").unwrap()).await;
        assert!(slow.dropped() >= 4, "{}", slow.dropped());

        drop(slow);
        none_within(rx.get_mut("slow").unwrap(), 1500).await;

        // the last subscription ends the stream
        drop(fast);
        assert_eq!(hub.stream_count(), 1);
        drop(other);
        assert_eq!(hub.stream_count(), 0);
        publish(&nats, "component_scaled", 7).await;
        none_within(rx.get_mut("fast").unwrap(), 200).await;
    }

    /// Polls `check` (every 25 ms, at most 5 s) until it holds.
    async fn until<F, Fut>(what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..200 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{what}: not within 5 s");
    }

    /// The link's consumers on the lattice's stream, and how many pull requests wait on them.
    async fn consumers(nats: &async_nats::Client) -> (usize, usize) {
        use futures::TryStreamExt as _;
        let js = async_nats::jetstream::new(nats.clone());
        let Ok(name) = js.stream_by_subject("wasmbus.evt.lat.>").await else {
            return (0, 0);
        };
        let stream = js.get_stream(&name).await.unwrap();
        let infos: Vec<async_nats::jetstream::consumer::Info> =
            stream.consumers().try_collect().await.unwrap();
        (infos.len(), infos.iter().map(|c| c.num_waiting).sum())
    }

    /// Two replicas of one provider (two hubs), one link each for the same component. With
    /// JetStream they share the link's consumer: each event is pushed once, in order, and
    /// releasing the link deletes the consumer. Without, each replica pushes each event.
    #[tokio::test]
    async fn replicas_push_each_event_once_with_jetstream_and_each_without() {
        for jetstream in [true, false] {
            let (_server, nats) = nats_server(jetstream).await;
            let client = ClientBuilder::new(nats.clone()).lattice("lat").build();
            let (factory, mut rx) = recorders();
            let conn = ConnectionSettings {
                urls: vec!["nats://127.0.0.1:4222".into()],
                auth: crate::provider::config::Auth::None,
                tls_ca_file: None,
                tls_ca: None,
                tls_first: false,
            };
            let settings = EventSettings::from_settings(&cfg(&[("events", "config_set")]))
                .unwrap()
                .unwrap();
            let hubs = [
                EventHub::new(Arc::clone(&factory)).for_provider("VP"),
                EventHub::new(factory).for_provider("VP"),
            ];
            let mut subs: Vec<Subscription> = hubs
                .iter()
                .map(|h| h.subscribe("fast", "fast/default".into(), &client, &conn, &settings))
                .collect();
            if jetstream {
                until("both replicas pull from one consumer", || async {
                    consumers(&nats).await == (1, 2)
                })
                .await;
                assert!(hubs.iter().all(|h| h.stream_count() == 0));
            } else {
                until("both replicas on the core fan-out", || async {
                    hubs.iter().all(|h| h.stream_count() == 1)
                })
                .await;
                nats.flush().await.unwrap();
            }
            for n in 0..20 {
                publish(&nats, "config_set", n).await;
            }
            let fast = rx.get_mut("fast").unwrap();
            let mut got = Vec::new();
            for _ in 0..if jetstream { 20 } else { 40 } {
                got.push(next(fast).await.id.parse::<u64>().unwrap());
            }
            none_within(fast, 300).await;
            if jetstream {
                assert_eq!(got, (0..20).collect::<Vec<_>>(), "once each, in order");
                // one replica stops (its consumer stays for the other), the link is deleted
                drop(subs.remove(0));
                assert_eq!(consumers(&nats).await.0, 1);
                subs.remove(0).release();
                until("the consumer deleted with the link", || async {
                    consumers(&nats).await.0 == 0
                })
                .await;
            } else {
                got.sort_unstable();
                let twice: Vec<u64> = (0..20).flat_map(|n| [n, n]).collect();
                assert_eq!(got, twice, "each replica pushes each event");
            }
        }
    }
}
