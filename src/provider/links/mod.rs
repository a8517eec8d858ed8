//! Links: the whole life of each link, in one table.
//!
//! A link is keyed by (source component id, link name) and owns, in one `Entry`: its raw
//! config and secrets as last delivered, its settings as resolved against the provider's
//! defaults (connection, client, policy and event settings, each parsed once), its lease on
//! a shared control client, and its event delivery. Every transition goes through
//! [`LinkTable`] under one lock:
//!
//! | transition | what happens |
//! |---|---|
//! | put (new, or changed config/secrets) | resolve; keep the client and event delivery if their settings are unchanged, else release them and take new ones |
//! | identical put | nothing |
//! | delete | event delivery stops, the client lease is released, a connect no one else waits for is aborted |
//! | new provider defaults | every link is resolved again, as a put |
//! | connected / connection failed | every link waiting on those connection settings takes a client (and starts its events) or keeps the error |
//!
//! Nothing here awaits network I/O under a callback: connecting runs in a task per
//! connection settings, and a call that comes before its link's connection is up waits for
//! it, bounded by [`CALL_CONNECT_WAIT`]. Each entry carries a generation, bumped by every
//! transition that changes its settings, so a late task (a config re-read, an overtaken
//! delete check) can tell that what it computed is stale and drop it
//! ([`LinkTable::put_if_current`], [`LinkTable::remove_if_current`]).
//!
//! Where transitions come from: the host's link messages and the links of the provider's
//! start-up data ([`intake`], one path for both), and what the provider learns from the host
//! beyond them: overtaken deletes, named configs that change ([`host_view`]).

pub mod host_view;
pub mod intake;
mod pool;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::{info, warn};

use super::config::{
    self, ConfigError, ConnectionSettings, LinkSettings, ProviderDefaults, Secret,
};
use super::events::{EventConfigError, EventHub, EventSettings, Subscription};
use super::policy::{Policy, PolicyError};
use super::supervise::{self, Ended};
use crate::ctl;
use pool::{ClientKey, Pool};

pub use host_view::HostView;
pub use intake::LinkIntake;
pub use pool::{connect, connect_named, redact_urls, CONNECT_TIMEOUT, LINK_CONNECTION_NAME};

/// How long a call waits for its link's connection to come up.
pub const CALL_CONNECT_WAIT: Duration = Duration::from_millis(2500);

/// A link: the component at its other end and the link name. Most links come *from* a
/// component (it calls the provider's `lattice-control`); an *outgoing* link goes from the
/// provider to a component (the provider pushes it `lattice-events`), as upstream providers
/// that call into components are linked. The two kinds never share a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkKey {
    /// The component: the link's source, or its target when `outgoing`.
    pub source_id: String,
    /// Link name.
    pub link_name: String,
    /// A link from the provider to the component (events only; no calls come over it).
    pub outgoing: bool,
}

impl LinkKey {
    /// The key of a link from component `source_id` to the provider.
    #[must_use]
    pub fn new(source_id: impl Into<String>, link_name: impl Into<String>) -> Self {
        Self {
            source_id: source_id.into(),
            link_name: link_name.into(),
            outgoing: false,
        }
    }

    /// The key of a link from the provider to component `target_id`.
    #[must_use]
    pub fn outgoing(target_id: impl Into<String>, link_name: impl Into<String>) -> Self {
        Self {
            outgoing: true,
            ..Self::new(target_id, link_name)
        }
    }
}

impl std::fmt::Display for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arrow = if self.outgoing { "to:" } else { "" };
        write!(f, "{arrow}{}/{}", self.source_id, self.link_name)
    }
}

/// Why a link's settings cannot be used; its calls answer `invalid-argument` with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkConfigError {
    /// A connection setting is bad.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The policy settings are bad.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The event settings (`events`, `event_queue`, `event_timeout_ms`) are bad.
    #[error(transparent)]
    Events(#[from] EventConfigError),
}

/// Why a call cannot use its link.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No link from this component with this name.
    #[error("no link from component `{}` named `{}` targets this provider", .0.source_id, .0.link_name)]
    NotLinked(LinkKey),
    /// The link's settings are bad.
    #[error(transparent)]
    Invalid(LinkConfigError),
    /// The link's NATS connection failed (message without credentials).
    #[error("{0}")]
    Transport(String),
}

/// A link's settings, resolved once per transition.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Connection, client and merged values.
    pub settings: Arc<LinkSettings>,
    /// The link's policy.
    pub policy: Arc<Policy>,
    /// Its event settings (`None`: no events); shared, so a call's copy costs no allocation.
    pub events: Option<Arc<EventSettings>>,
}

impl Resolved {
    fn client_key(&self) -> ClientKey {
        (
            self.settings.connection.clone(),
            self.settings.client.clone(),
        )
    }

    /// The lattice this link manages.
    #[must_use]
    pub fn lattice(&self) -> &str {
        &self.settings.client.lattice
    }

    /// The event types the link receives (normalized patterns; empty: none).
    #[must_use]
    pub fn event_types(&self) -> Vec<String> {
        self.events
            .as_ref()
            .map(|e| e.types.clone())
            .unwrap_or_default()
    }
}

fn resolve(
    config: &HashMap<String, String>,
    secrets: &HashMap<String, Secret>,
    defaults: &ProviderDefaults,
) -> Result<Resolved, LinkConfigError> {
    let settings = config::resolve(config, secrets, defaults)?;
    let policy = Policy::from_settings(settings.values.as_map())?;
    let events = EventSettings::from_settings(settings.values.as_map())?.map(Arc::new);
    Ok(Resolved {
        settings: Arc::new(settings),
        policy: Arc::new(policy),
        events,
    })
}

/// A link ready for a call: its settings, policy and control client.
#[derive(Clone, Debug)]
pub struct LinkHandle {
    /// The resolved settings and policy.
    pub resolved: Resolved,
    /// The shared control client.
    pub client: ctl::Client,
}

impl LinkHandle {
    /// The lattice this link manages.
    #[must_use]
    pub fn lattice(&self) -> &str {
        self.resolved.lattice()
    }

    /// The link's policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.resolved.policy
    }

    /// The shared client, or one on the same connection and host table whose request and
    /// scatter timeouts are `timeout` (a call's own `timeout-ms`).
    #[must_use]
    pub fn client_within(&self, timeout: Option<Duration>) -> ctl::Client {
        match timeout {
            None => self.client.clone(),
            Some(t) => self.client.with_timeout(t),
        }
    }
}

/// What a put did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new link.
    Added,
    /// A held link whose settings changed.
    Changed,
    /// A held link put again with the same config and secrets: nothing changed.
    Unchanged,
    /// A put computed from an older generation of the link: dropped.
    Stale,
}

/// One link's whole state.
struct Entry {
    generation: u64,
    config: HashMap<String, String>,
    secrets: HashMap<String, Secret>,
    resolved: Result<Resolved, LinkConfigError>,
    /// Set while the link holds a reference on a shared client.
    client: Option<ctl::Client>,
    /// Why the last connect for the current settings failed (cleared by the next attempt).
    failure: Option<String>,
    /// The link's event delivery, once connected and if it asks for events.
    events: Option<Subscription>,
}

impl Entry {
    /// The connection settings it waits for: resolved and no client yet (a kept failure
    /// is refreshed by the next connect outcome).
    fn waits_for(&self) -> Option<&ConnectionSettings> {
        match (&self.resolved, &self.client) {
            (Ok(r), None) => Some(&r.settings.connection),
            _ => None,
        }
    }
}

struct State {
    defaults: ProviderDefaults,
    links: HashMap<LinkKey, Entry>,
    pool: Pool,
    next_generation: u64,
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Woken by every connect outcome and every removal (callers waiting for a link).
    changed: Notify,
    hub: EventHub,
}

/// Every link of the provider. Cheap to clone: clones share the table.
#[derive(Clone)]
pub struct LinkTable {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LinkTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (links, clients, connections) = self.counts();
        f.debug_struct("LinkTable")
            .field("links", &links)
            .field("clients", &clients)
            .field("connections", &connections)
            .finish()
    }
}

impl Default for LinkTable {
    fn default() -> Self {
        Self::new(ProviderDefaults::default(), EventHub::default())
    }
}

impl LinkTable {
    /// No links yet; `defaults` are the provider's own settings, `hub` delivers events.
    #[must_use]
    pub fn new(defaults: ProviderDefaults, hub: EventHub) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    defaults,
                    links: HashMap::new(),
                    pool: Pool::default(),
                    next_generation: 0,
                    closed: false,
                }),
                changed: Notify::new(),
                hub,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // a panic elsewhere while holding the lock must not take every later call down
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a link or applies new settings to it. A bad setting is stored with the link
    /// (its calls fail with it) and logged. Returns at once: connecting runs in a task.
    pub fn put(
        &self,
        key: LinkKey,
        config: HashMap<String, String>,
        secrets: HashMap<String, Secret>,
    ) -> PutOutcome {
        self.put_checked(key, config, secrets, None)
    }

    /// [`Self::put`] only if the link is still at `generation` (what a late task read).
    pub fn put_if_current(
        &self,
        key: LinkKey,
        config: HashMap<String, String>,
        secrets: HashMap<String, Secret>,
        generation: u64,
    ) -> PutOutcome {
        self.put_checked(key, config, secrets, Some(generation))
    }

    fn put_checked(
        &self,
        key: LinkKey,
        config: HashMap<String, String>,
        secrets: HashMap<String, Secret>,
        expect: Option<u64>,
    ) -> PutOutcome {
        let mut state = self.lock();
        if state.closed {
            return PutOutcome::Stale;
        }
        let held = state.links.get(&key);
        if let Some(expect) = expect {
            if held.map(|e| e.generation) != Some(expect) {
                return PutOutcome::Stale;
            }
        }
        if held.is_some_and(|e| e.config == config && e.secrets == secrets) {
            return PutOutcome::Unchanged;
        }
        let outcome = if held.is_some() {
            PutOutcome::Changed
        } else {
            PutOutcome::Added
        };
        let resolved = resolve(&config, &secrets, &state.defaults);
        self.replace(&mut state, &key, config, secrets, resolved);
        drop(state);
        info!(link = %key, ?outcome, "link settings applied");
        outcome
    }

    /// Installs new settings for `key` (a put or a defaults change), carrying over the
    /// client and event delivery whose settings stay the same, then settles the link.
    fn replace(
        &self,
        state: &mut State,
        key: &LinkKey,
        config: HashMap<String, String>,
        secrets: HashMap<String, Secret>,
        resolved: Result<Resolved, LinkConfigError>,
    ) {
        if let Err(e) = &resolved {
            warn!(link = %key, error = %e, "link settings invalid; its calls will fail");
        }
        state.next_generation += 1;
        let mut entry = Entry {
            generation: state.next_generation,
            config,
            secrets,
            resolved,
            client: None,
            failure: None,
            events: None,
        };
        let old = state.links.remove(key).map(|mut old| {
            let same_client = match (&old.resolved, &entry.resolved) {
                (Ok(a), Ok(b)) => a.client_key() == b.client_key(),
                _ => false,
            };
            if same_client {
                entry.client = old.client.take();
                entry.failure = old.failure.take();
                let same_events = match (&old.events, &entry.resolved) {
                    (Some(sub), Ok(r)) => r.events.as_deref() == Some(sub.settings()),
                    _ => false,
                };
                if same_events {
                    entry.events = old.events.take();
                }
            }
            old
        });
        state.links.insert(key.clone(), entry);
        // after the new entry is in: a connect it still waits for is not abandoned
        if let Some(old) = old {
            retire(state, old);
        }
        self.settle(state, key);
    }

    /// Brings a link towards ready: a client from an existing connection, or a connect
    /// attempt for its settings; event delivery once it has a client.
    fn settle(&self, state: &mut State, key: &LinkKey) {
        let State { links, pool, .. } = state;
        let Some(entry) = links.get_mut(key) else {
            return;
        };
        let Ok(resolved) = &entry.resolved else {
            return;
        };
        if entry.client.is_none() {
            match pool.acquire(&resolved.client_key()) {
                Some(Ok(client)) => {
                    entry.client = Some(client);
                    entry.failure = None;
                }
                // settings were checked when resolved: a client-side refusal
                Some(Err(e)) => entry.failure = Some(e.message().to_string()),
                None if entry.failure.is_none() => {
                    self.start_connect(pool, &resolved.settings.connection);
                }
                None => {}
            }
        }
        let (Some(client), Ok(resolved)) = (&entry.client, &entry.resolved) else {
            return;
        };
        match &resolved.events {
            Some(wanted) => {
                let current = entry
                    .events
                    .as_ref()
                    .is_some_and(|s| s.serves(client, &resolved.settings.connection, wanted));
                if !current && tokio::runtime::Handle::try_current().is_ok() {
                    entry.events = Some(self.inner.hub.subscribe(
                        &key.source_id,
                        key.to_string(),
                        client,
                        &resolved.settings.connection,
                        wanted,
                    ));
                }
            }
            None => entry.events = None,
        }
    }

    /// Starts the one connect attempt for `settings` unless it runs already (or there is
    /// no runtime to run it: the next call starts it).
    fn start_connect(&self, pool: &mut Pool, settings: &ConnectionSettings) {
        if pool.is_connecting(settings) {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let table = self.clone();
        let target = settings.clone();
        let name = format!("connect to {}", redact_urls(&settings.urls));
        let task = supervise::spawn(name, move || {
            let (table, target) = (table.clone(), target.clone());
            async move {
                let outcome = connect(&target).await;
                table.connect_done(&target, outcome);
                Ended::Done
            }
        });
        pool.connecting(settings.clone(), task.abort_handle());
    }

    /// A connect attempt ended: every link waiting on those settings takes its client (or
    /// keeps the error); a connection no link wants is closed again.
    fn connect_done(
        &self,
        settings: &ConnectionSettings,
        outcome: Result<async_nats::Client, String>,
    ) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        let (nats, failure) = match outcome {
            Ok(nats) => (Some(nats), None),
            Err(e) => (None, Some(e)),
        };
        state.pool.connected(settings, nats);
        let waiting: Vec<LinkKey> = state
            .links
            .iter()
            .filter(|(_, e)| e.waits_for() == Some(settings))
            .map(|(k, _)| k.clone())
            .collect();
        for key in waiting {
            match &failure {
                Some(message) => {
                    if let Some(entry) = state.links.get_mut(&key) {
                        entry.failure = Some(message.clone());
                    }
                    warn!(link = %key, error = %message, "link connection is not up");
                }
                None => self.settle(&mut state, &key),
            }
        }
        state.pool.drop_unused();
        drop(state);
        self.inner.changed.notify_waiters();
    }

    /// Removes a link: its events stop, its client lease goes. Returns its generation, or
    /// `None` when it was not held.
    pub fn remove(&self, key: &LinkKey) -> Option<u64> {
        self.remove_checked(key, None)
    }

    /// [`Self::remove`] only if the link is still at `generation`.
    pub fn remove_if_current(&self, key: &LinkKey, generation: u64) -> bool {
        self.remove_checked(key, Some(generation)).is_some()
    }

    fn remove_checked(&self, key: &LinkKey, expect: Option<u64>) -> Option<u64> {
        let mut state = self.lock();
        let held = state.links.get(key)?.generation;
        if expect.is_some_and(|g| g != held) {
            return None;
        }
        let mut entry = state.links.remove(key)?;
        // the link is gone, not replaced: its events' shared consumer goes with it
        if let Some(events) = entry.events.take() {
            events.release();
        }
        retire(&mut state, entry);
        drop(state);
        self.inner.changed.notify_waiters();
        Some(held)
    }

    /// The link's generation, if held.
    #[must_use]
    pub fn generation(&self, key: &LinkKey) -> Option<u64> {
        self.lock().links.get(key).map(|e| e.generation)
    }

    /// The secrets a link was last delivered with, and its generation (a config re-read
    /// keeps them).
    #[must_use]
    pub fn secrets(&self, key: &LinkKey) -> Option<(HashMap<String, Secret>, u64)> {
        self.lock()
            .links
            .get(key)
            .map(|e| (e.secrets.clone(), e.generation))
    }

    /// The keys of every link held.
    #[must_use]
    pub fn keys(&self) -> Vec<LinkKey> {
        self.lock().links.keys().cloned().collect()
    }

    /// New provider defaults: every link is resolved again; links whose settings change
    /// let go of their old client and events.
    pub fn set_defaults(&self, defaults: ProviderDefaults) {
        let mut state = self.lock();
        state.defaults = defaults;
        let keys: Vec<LinkKey> = state.links.keys().cloned().collect();
        for key in keys {
            let Some(entry) = state.links.get(&key) else {
                continue;
            };
            let (config, secrets) = (entry.config.clone(), entry.secrets.clone());
            let resolved = resolve(&config, &secrets, &state.defaults);
            self.replace(&mut state, &key, config, secrets, resolved);
        }
    }

    /// The provider's current defaults.
    #[must_use]
    pub fn defaults(&self) -> ProviderDefaults {
        self.lock().defaults.clone()
    }

    /// Drops every link, client, connection and connect attempt; later puts are ignored
    /// (the provider is shutting down).
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        // event deliveries (held by the entries) stop before the connections go
        state.links.clear();
        state.pool.clear();
        drop(state);
        self.inner.changed.notify_waiters();
    }

    /// Whether [`Self::close`] was called (the provider is shutting down).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// How many links, clients and connections exist (for tests and logs).
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize) {
        let s = self.lock();
        let (clients, connections) = s.pool.counts();
        (s.links.len(), clients, connections)
    }

    /// The link's settings and policy without connecting (`provider-info`, policy checks).
    pub fn resolved(&self, key: &LinkKey) -> Result<Resolved, LinkError> {
        let state = self.lock();
        let entry = state
            .links
            .get(key)
            .ok_or_else(|| LinkError::NotLinked(key.clone()))?;
        entry.resolved.clone().map_err(LinkError::Invalid)
    }

    /// The link ready for a call. Before its connection is up it waits for it, at most
    /// [`CALL_CONNECT_WAIT`]. A failure kept from before the call is retried once (the
    /// server may be back); a failure while the call waits is its answer.
    pub async fn get(&self, key: &LinkKey) -> Result<LinkHandle, LinkError> {
        self.get_checked(key, |_| Ok(())).await
    }

    /// [`Self::get`], with `check` run on the link's settings under the same lock as the
    /// lookup, once, before any connect is started or waited for (a policy refusal answers
    /// before any traffic).
    pub async fn get_checked<E: From<LinkError>>(
        &self,
        key: &LinkKey,
        check: impl FnOnce(&Resolved) -> Result<(), E>,
    ) -> Result<LinkHandle, E> {
        let deadline = Instant::now() + CALL_CONNECT_WAIT;
        let mut first = true;
        let mut check = Some(check);
        let mut servers = String::new();
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                let entry = state
                    .links
                    .get_mut(key)
                    .ok_or_else(|| LinkError::NotLinked(key.clone()))?;
                let settings = entry
                    .resolved
                    .as_ref()
                    .map_err(|e| LinkError::Invalid(e.clone()))?;
                if let Some(check) = check.take() {
                    check(settings)?;
                }
                let resolved = settings.clone();
                if let Some(client) = &entry.client {
                    return Ok(LinkHandle {
                        resolved,
                        client: client.clone(),
                    });
                }
                if let Some(failure) = entry.failure.clone() {
                    if !first {
                        return Err(LinkError::Transport(failure).into());
                    }
                    // kept from before this call: the server may be back
                    entry.failure = None;
                }
                first = false;
                if servers.is_empty() {
                    servers = redact_urls(&resolved.settings.connection.urls);
                }
                self.settle(&mut state, key);
                // settled at once (a connection that came up meanwhile)
                if let Some(entry) = state.links.get(key) {
                    if let Some(client) = &entry.client {
                        return Ok(LinkHandle {
                            resolved,
                            client: client.clone(),
                        });
                    }
                }
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return Err(LinkError::Transport(format!(
                    "the link's NATS connection to {servers} is not up after {} ms",
                    CALL_CONNECT_WAIT.as_millis()
                ))
                .into());
            }
        }
    }
}

/// Ends an entry that left the table (removed or replaced): its events stop, its client
/// lease is released, and a connect attempt no remaining link waits for is aborted.
fn retire(state: &mut State, mut entry: Entry) {
    entry.events = None;
    if let Ok(resolved) = &entry.resolved {
        if entry.client.take().is_some() {
            state.pool.release(&resolved.client_key());
        } else {
            let settings = &resolved.settings.connection;
            let still_wanted = state
                .links
                .values()
                .any(|e| e.waits_for() == Some(settings));
            if !still_wanted {
                state.pool.abandon(settings);
            }
        }
    }
}

#[cfg(test)]
mod tests;
