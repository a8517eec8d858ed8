//! Links and the connections they use.
//!
//! Links are keyed by (source component id, link name). Each link resolves to
//! [`LinkSettings`]; links with equal connection settings share one NATS connection, and
//! links with equal connection and client settings share one control client. Both are
//! reference-counted: removing a link closes only what no other link uses.
//!
//! Connecting is lazy and bounded: a link whose connection fails keeps the error, its calls
//! return `transport`, and the next call tries again, so a NATS restart needs no provider
//! restart.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{debug, info, warn};

use super::config::{
    self, Auth, ClientSettings, ConfigError, ConnectionSettings, LinkSettings, ProviderDefaults,
    Secret,
};
use super::events::{EventConfigError, EventSettings};
use super::policy::{Policy, PolicyError};
use crate::ctl::{self, ClientBuilder};

/// How long one attempt to connect to NATS may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A link: the calling component and the link name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkKey {
    /// Source component id.
    pub source_id: String,
    /// Link name.
    pub link_name: String,
}

impl LinkKey {
    /// A key from its parts.
    #[must_use]
    pub fn new(source_id: impl Into<String>, link_name: impl Into<String>) -> Self {
        Self {
            source_id: source_id.into(),
            link_name: link_name.into(),
        }
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

/// A link ready for a call: its settings, policy and control client.
#[derive(Clone, Debug)]
pub struct LinkHandle {
    /// The link's key.
    pub key: LinkKey,
    /// The resolved settings.
    pub settings: Arc<LinkSettings>,
    /// The link's policy.
    pub policy: Arc<Policy>,
    /// The shared control client.
    pub client: ctl::Client,
}

impl LinkHandle {
    /// The lattice this link manages.
    #[must_use]
    pub fn lattice(&self) -> &str {
        &self.settings.client.lattice
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

/// A link's settings, resolved from its raw config against the current defaults.
#[derive(Clone, Debug)]
struct Resolved {
    settings: Arc<LinkSettings>,
    policy: Arc<Policy>,
}

impl Resolved {
    fn client_key(&self) -> ClientKey {
        (
            self.settings.connection.clone(),
            self.settings.client.clone(),
        )
    }
}

fn resolve(
    config: &HashMap<String, String>,
    secrets: &HashMap<String, Secret>,
    defaults: &ProviderDefaults,
) -> Result<Resolved, LinkConfigError> {
    let settings = config::resolve(config, secrets, defaults)?;
    let policy = Policy::from_settings(settings.values.as_map())?;
    EventSettings::from_settings(settings.values.as_map())?;
    Ok(Resolved {
        settings: Arc::new(settings),
        policy: Arc::new(policy),
    })
}

struct LinkEntry {
    config: HashMap<String, String>,
    secrets: HashMap<String, Secret>,
    resolved: Result<Resolved, LinkConfigError>,
    /// Set once the link holds a reference on a shared client.
    client: Option<ctl::Client>,
}

type ClientKey = (ConnectionSettings, ClientSettings);

struct Shared<T> {
    value: T,
    users: usize,
}

#[derive(Default)]
struct State {
    defaults: ProviderDefaults,
    links: HashMap<LinkKey, LinkEntry>,
    connections: HashMap<ConnectionSettings, Shared<async_nats::Client>>,
    clients: HashMap<ClientKey, Shared<ctl::Client>>,
}

impl State {
    /// Drops the link's reference on its client, and the client's on its connection when
    /// it was the last user.
    fn release(&mut self, entry: &mut LinkEntry) {
        let (Some(_), Ok(resolved)) = (entry.client.take(), &entry.resolved) else {
            return;
        };
        let key = resolved.client_key();
        if !dec(&mut self.clients, &key) {
            return;
        }
        if dec(&mut self.connections, &key.0) {
            debug!("closing a NATS connection no link uses any more");
        }
    }

    /// Takes a reference on the shared client for `key`, building it on an existing
    /// connection if needed; `None` when there is no such connection yet.
    fn acquire(&mut self, key: &ClientKey) -> Option<Result<ctl::Client, ctl::CtlError>> {
        if let Some(shared) = self.clients.get_mut(key) {
            shared.users += 1;
            return Some(Ok(shared.value.clone()));
        }
        let conn = self.connections.get_mut(&key.0)?;
        let client = match builder(conn.value.clone(), &key.1)
            .track_hosts(true)
            .try_build()
        {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        conn.users += 1;
        self.clients.insert(
            key.clone(),
            Shared {
                value: client.clone(),
                users: 1,
            },
        );
        Some(Ok(client))
    }
}

/// Decrements a shared entry; removes it and returns `true` at zero.
fn dec<K: std::hash::Hash + Eq, T>(map: &mut HashMap<K, Shared<T>>, key: &K) -> bool {
    let Some(shared) = map.get_mut(key) else {
        return false;
    };
    shared.users = shared.users.saturating_sub(1);
    if shared.users == 0 {
        map.remove(key);
        return true;
    }
    false
}

fn builder(nats: async_nats::Client, s: &ClientSettings) -> ClientBuilder {
    ClientBuilder::new(nats)
        .lattice(&s.lattice)
        .topic_prefix(&s.topic_prefix)
        .timeout(s.timeout)
        .auction_timeout(s.scatter_timeout)
        .coalesce_reads(s.coalesce_reads)
}

/// Every link of the provider and the connections they share.
#[derive(Default)]
pub struct Links {
    state: Mutex<State>,
    /// One connect attempt at a time per connection settings, so equal settings never open
    /// two connections and an unreachable server delays only the links that use it. An
    /// entry lives while someone connects with those settings.
    connecting: Mutex<HashMap<ConnectionSettings, Arc<tokio::sync::Mutex<()>>>>,
}

impl Links {
    /// No links yet; `defaults` are the provider's own settings.
    #[must_use]
    pub fn new(defaults: ProviderDefaults) -> Self {
        Self {
            state: Mutex::new(State {
                defaults,
                ..State::default()
            }),
            connecting: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // a panic elsewhere while holding the lock must not take every later call down
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds or replaces a link. A bad setting is stored with the link (its calls fail with
    /// it) and returned for logging.
    pub fn put(
        &self,
        key: LinkKey,
        config: HashMap<String, String>,
        secrets: HashMap<String, Secret>,
    ) -> Result<(), LinkConfigError> {
        let mut state = self.lock();
        let resolved = resolve(&config, &secrets, &state.defaults);
        let outcome = resolved.as_ref().map(|_| ()).map_err(Clone::clone);
        let mut entry = LinkEntry {
            config,
            secrets,
            resolved,
            client: None,
        };
        if let Some(mut old) = state.links.remove(&key) {
            if same_client(&old, &entry) {
                entry.client = old.client.take();
            }
            state.release(&mut old);
        }
        state.links.insert(key, entry);
        outcome
    }

    /// Whether a link with this key is held.
    #[must_use]
    pub fn contains(&self, key: &LinkKey) -> bool {
        self.lock().links.contains_key(key)
    }

    /// The keys of every link held.
    #[must_use]
    pub fn keys(&self) -> Vec<LinkKey> {
        self.lock().links.keys().cloned().collect()
    }

    /// Removes a link; returns whether it existed.
    pub fn remove(&self, key: &LinkKey) -> bool {
        let mut state = self.lock();
        match state.links.remove(key) {
            Some(mut entry) => {
                state.release(&mut entry);
                true
            }
            None => false,
        }
    }

    /// New provider defaults: every link is resolved again; links whose settings change
    /// let go of their old client.
    pub fn set_defaults(&self, defaults: ProviderDefaults) {
        let mut state = self.lock();
        state.defaults = defaults;
        let keys: Vec<LinkKey> = state.links.keys().cloned().collect();
        for key in keys {
            let Some(mut old) = state.links.remove(&key) else {
                continue;
            };
            let resolved = resolve(&old.config, &old.secrets, &state.defaults);
            if let Err(e) = &resolved {
                warn!(source_id = %key.source_id, link_name = %key.link_name, error = %e, "link settings invalid after a provider config update");
            }
            let mut entry = LinkEntry {
                config: std::mem::take(&mut old.config),
                secrets: std::mem::take(&mut old.secrets),
                resolved,
                client: None,
            };
            if same_client(&old, &entry) {
                entry.client = old.client.take();
            }
            state.release(&mut old);
            state.links.insert(key, entry);
        }
    }

    /// The provider's current defaults.
    #[must_use]
    pub fn defaults(&self) -> ProviderDefaults {
        self.lock().defaults.clone()
    }

    /// Drops every link, client and connection.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.links.clear();
        state.clients.clear();
        state.connections.clear();
    }

    /// How many links, clients and connections exist (for tests and logs).
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize) {
        let s = self.lock();
        (s.links.len(), s.clients.len(), s.connections.len())
    }

    /// The link's settings and policy without connecting (`provider-info`).
    pub fn settings(&self, key: &LinkKey) -> Result<(Arc<LinkSettings>, Arc<Policy>), LinkError> {
        let r = self.resolved(key)?;
        Ok((r.settings, r.policy))
    }

    /// The link's resolved settings, or why it has none.
    fn resolved(&self, key: &LinkKey) -> Result<Resolved, LinkError> {
        let state = self.lock();
        let entry = state
            .links
            .get(key)
            .ok_or_else(|| LinkError::NotLinked(key.clone()))?;
        entry.resolved.clone().map_err(LinkError::Invalid)
    }

    /// The link ready for a call, connecting first (bounded by [`CONNECT_TIMEOUT`]) if it
    /// has no client yet.
    pub async fn get(&self, key: &LinkKey) -> Result<LinkHandle, LinkError> {
        if let Some(handle) = self.try_ready(key)? {
            return Ok(handle);
        }
        let connection = self.resolved(key)?.settings.connection.clone();
        let gate = self.gate(&connection);
        let outcome = {
            let _one_at_a_time = gate.lock().await;
            self.connect_and_take(key, connection.clone()).await
        };
        self.release_gate(&connection, gate);
        outcome
    }

    /// The connect lock of these settings.
    fn gate(&self, connection: &ConnectionSettings) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self
            .connecting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(gates.entry(connection.clone()).or_default())
    }

    /// Drops the settings' connect lock when no one else holds or waits for it.
    fn release_gate(&self, connection: &ConnectionSettings, gate: Arc<tokio::sync::Mutex<()>>) {
        let mut gates = self
            .connecting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // the map's reference and ours
        if Arc::strong_count(&gate) <= 2 {
            gates.remove(connection);
        }
    }

    /// Under the settings' connect lock: the link's handle, connecting first if no call
    /// connected it meanwhile.
    async fn connect_and_take(
        &self,
        key: &LinkKey,
        connection: ConnectionSettings,
    ) -> Result<LinkHandle, LinkError> {
        if let Some(handle) = self.try_ready(key)? {
            return Ok(handle);
        }
        let nats = connect(&connection).await.map_err(LinkError::Transport)?;
        self.lock().connections.entry(connection).or_insert(Shared {
            value: nats,
            users: 0,
        });
        // the link may have been deleted or re-put while connecting: whatever the outcome,
        // a connection no link took is closed before returning (it leaked on `NotLinked`)
        let handle = self.try_ready(key);
        self.drop_unused_connections();
        handle?.ok_or_else(|| {
            LinkError::Transport("the link changed while connecting; call again".to_string())
        })
    }

    /// The link with its client, taking a client reference if a connection exists;
    /// `None` when it must connect first.
    fn try_ready(&self, key: &LinkKey) -> Result<Option<LinkHandle>, LinkError> {
        let mut state = self.lock();
        let (resolved, client) = {
            let entry = state
                .links
                .get(key)
                .ok_or_else(|| LinkError::NotLinked(key.clone()))?;
            let resolved = entry.resolved.clone().map_err(LinkError::Invalid)?;
            (resolved, entry.client.clone())
        };
        let client = match client {
            Some(c) => c,
            None => match state.acquire(&resolved.client_key()) {
                None => return Ok(None),
                // settings were checked when the link was put; this is a client-side refusal
                Some(Err(e)) => return Err(LinkError::Transport(e.message().to_string())),
                Some(Ok(c)) => {
                    if let Some(entry) = state.links.get_mut(key) {
                        entry.client = Some(c.clone());
                    }
                    c
                }
            },
        };
        Ok(Some(LinkHandle {
            key: key.clone(),
            settings: resolved.settings,
            policy: resolved.policy,
            client,
        }))
    }

    /// A connection opened for a link that went away meanwhile is closed again.
    fn drop_unused_connections(&self) {
        self.lock().connections.retain(|_, c| c.users > 0);
    }
}

/// Whether two versions of a link use the same shared client (so a re-put keeps it).
fn same_client(old: &LinkEntry, new: &LinkEntry) -> bool {
    match (&old.resolved, &new.resolved) {
        (Ok(a), Ok(b)) => a.client_key() == b.client_key(),
        _ => false,
    }
}

/// Server URLs for messages: user info (`user:password@`) is replaced.
#[must_use]
pub fn redact_urls(urls: &[String]) -> String {
    urls.iter()
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}<redacted>{}", &u[..s + 3], &u[at..]),
            (None, Some(at)) => format!("<redacted>{}", &u[at..]),
            _ => u.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Logs a link connection's events, naming its servers (without user info). A closed
/// connection is routine (its last link went) and logs at debug, not as an error.
fn log_connection_events(
    options: async_nats::ConnectOptions,
    servers: String,
) -> async_nats::ConnectOptions {
    options.event_callback(move |event| {
        let servers = servers.clone();
        async move {
            use async_nats::Event;
            match event {
                Event::Connected => info!(%servers, "link NATS connection up"),
                Event::Disconnected => warn!(%servers, "link NATS connection lost; reconnecting"),
                Event::Closed => debug!(%servers, "link NATS connection closed"),
                Event::LameDuckMode | Event::Draining => {
                    info!(%servers, %event, "link NATS server going away")
                }
                Event::SlowConsumer(_) | Event::ServerError(_) | Event::ClientError(_) => {
                    warn!(%servers, %event, "link NATS connection");
                }
            }
        }
    })
}

/// Opens a NATS connection, bounded by [`CONNECT_TIMEOUT`]. Errors name the servers
/// (without user info) and never a credential.
async fn connect(settings: &ConnectionSettings) -> Result<async_nats::Client, String> {
    let servers = redact_urls(&settings.urls);
    let options = match &settings.auth {
        Auth::None => async_nats::ConnectOptions::new(),
        Auth::Jwt { jwt, seed } => {
            async_nats::ConnectOptions::with_credentials(&config::creds_text(jwt, seed))
                .map_err(|_| "nats_jwt/nats_seed are not a valid JWT and nkey seed".to_string())?
        }
        Auth::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| {
                format!(
                    "cannot read nats_creds_file {}: {}",
                    path.display(),
                    e.kind()
                )
            })?,
    };
    let mut options = log_connection_events(options, servers.clone())
        .name("lattice-control-provider")
        .connection_timeout(CONNECT_TIMEOUT);
    if let Some(ca) = &settings.tls_ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if settings.tls_first {
        options = options.tls_first();
    }
    let addrs = settings
        .urls
        .iter()
        .map(|u| async_nats::ServerAddr::from_str(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("bad NATS server URL in {servers}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect(addrs)).await {
        Ok(Ok(client)) => {
            info!(servers = %servers, "connected to NATS for a link");
            Ok(client)
        }
        Ok(Err(e)) => Err(format!("cannot connect to NATS at {servers}: {}", e.kind())),
        Err(_) => Err(format!(
            "cannot connect to NATS at {servers} within {} ms",
            CONNECT_TIMEOUT.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests;
