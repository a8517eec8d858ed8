//! The control-interface client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::error::Result;
use super::events::EventStream;
use super::subjects::DEFAULT_TOPIC_PREFIX;
use super::types::*;

const DEFAULT_LATTICE: &str = "default";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_AUCTION_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_HOST_QUIET_PERIOD: Duration = Duration::from_millis(100);

/// Options of [`Client::get_hosts_with`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostQuery {
    /// Finish as soon as this many distinct hosts replied (must not be 0).
    pub expected: Option<usize>,
    /// Wait out the whole scatter timeout, as the upstream client does.
    pub full_wait: bool,
    /// Overall bound instead of the client's scatter timeout (must not be zero).
    pub timeout: Option<Duration>,
}

/// Builds a [`Client`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ClientBuilder {
    nats: async_nats::Client,
    lattice: String,
    topic_prefix: String,
    timeout: Duration,
    auction_timeout: Duration,
    host_quiet_period: Duration,
    track_hosts: bool,
}

impl ClientBuilder {
    /// A builder over an existing NATS connection, with the defaults: lattice `default`,
    /// topic prefix `wasmbus.ctl`, request timeout 2 s, scatter timeout 5 s.
    pub fn new(nats: async_nats::Client) -> Self {
        Self {
            nats,
            lattice: DEFAULT_LATTICE.to_string(),
            topic_prefix: DEFAULT_TOPIC_PREFIX.to_string(),
            timeout: DEFAULT_TIMEOUT,
            auction_timeout: DEFAULT_AUCTION_TIMEOUT,
            host_quiet_period: DEFAULT_HOST_QUIET_PERIOD,
            track_hosts: false,
        }
    }

    /// Lattice to manage.
    pub fn lattice(mut self, lattice: impl Into<String>) -> Self {
        self.lattice = lattice.into();
        self
    }

    /// Control topic prefix (default `wasmbus.ctl`).
    pub fn topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// Timeout of a request to one host (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout of a scatter (ping, auctions; default 5 s).
    pub fn auction_timeout(mut self, timeout: Duration) -> Self {
        self.auction_timeout = timeout;
        self
    }

    /// How long `get_hosts` waits after the last reply when it cannot tell that all hosts
    /// answered (default 100 ms).
    pub fn host_quiet_period(mut self, period: Duration) -> Self {
        self.host_quiet_period = period;
        self
    }

    /// Also learn live hosts from `host_started`/`host_heartbeat`/`host_stopped` events
    /// through a background subscription (needs a Tokio runtime at `build`).
    pub fn track_hosts(mut self, track: bool) -> Self {
        self.track_hosts = track;
        self
    }

    /// The client. Arguments are checked per call (a zero timeout fails every call with
    /// `InvalidArgument`); use [`ClientBuilder::try_build`] to check them now.
    pub fn build(self) -> Client {
        todo!()
    }

    /// The client, or `InvalidArgument` for an empty lattice or prefix or a zero timeout.
    pub fn try_build(self) -> Result<Client> {
        todo!()
    }
}

/// A control-interface client for one lattice. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    nats: async_nats::Client,
    lattice: String,
    topic_prefix: String,
    timeout: Duration,
    auction_timeout: Duration,
    host_quiet_period: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("lattice", &self.inner.lattice)
            .field("topic_prefix", &self.inner.topic_prefix)
            .field("timeout", &self.inner.timeout)
            .field("auction_timeout", &self.inner.auction_timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The lattice this client manages.
    #[must_use]
    pub fn lattice(&self) -> &str {
        &self.inner.lattice
    }

    /// The underlying NATS connection.
    #[must_use]
    pub fn nats_client(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    /// Live hosts of the lattice (fast strategy, see [`Client::get_hosts_with`]).
    pub async fn get_hosts(&self) -> Result<Vec<Host>> {
        self.get_hosts_with(HostQuery::default()).await
    }

    /// Live hosts of the lattice with explicit options.
    pub async fn get_hosts_with(&self, query: HostQuery) -> Result<Vec<Host>> {
        todo!()
    }

    /// One host's inventory.
    pub async fn get_host_inventory(&self, host_id: &str) -> Result<HostInventory> {
        todo!()
    }

    /// Claims of every component and provider in the lattice.
    pub async fn get_claims(&self) -> Result<Vec<HashMap<String, String>>> {
        todo!()
    }

    /// Bids of the hosts able to run a component (waits the scatter timeout).
    pub async fn perform_component_auction(
        &self,
        request: ComponentAuctionRequest,
    ) -> Result<Vec<ComponentAuctionAck>> {
        todo!()
    }

    /// Like [`Client::perform_component_auction`], waiting `within` instead.
    pub async fn perform_component_auction_within(
        &self,
        request: ComponentAuctionRequest,
        within: Duration,
    ) -> Result<Vec<ComponentAuctionAck>> {
        todo!()
    }

    /// Bids of the hosts able to run a provider (waits the scatter timeout).
    pub async fn perform_provider_auction(
        &self,
        request: ProviderAuctionRequest,
    ) -> Result<Vec<ProviderAuctionAck>> {
        todo!()
    }

    /// Like [`Client::perform_provider_auction`], waiting `within` instead.
    pub async fn perform_provider_auction_within(
        &self,
        request: ProviderAuctionRequest,
        within: Duration,
    ) -> Result<Vec<ProviderAuctionAck>> {
        todo!()
    }

    /// Scales a component on a host (0 stops it).
    pub async fn scale_component(&self, command: ScaleComponentCommand) -> Result<Ack> {
        todo!()
    }

    /// Replaces a running component's image.
    pub async fn update_component(&self, command: UpdateComponentCommand) -> Result<Ack> {
        todo!()
    }

    /// Starts a provider on a host.
    pub async fn start_provider(&self, command: StartProviderCommand) -> Result<Ack> {
        todo!()
    }

    /// Stops a provider on a host.
    pub async fn stop_provider(&self, command: StopProviderCommand) -> Result<Ack> {
        todo!()
    }

    /// Stops a host.
    pub async fn stop_host(&self, command: StopHostCommand) -> Result<Ack> {
        todo!()
    }

    /// Puts a label on a host.
    pub async fn put_label(&self, host_id: &str, key: &str, value: &str) -> Result<Ack> {
        todo!()
    }

    /// Deletes a label from a host.
    pub async fn delete_label(&self, host_id: &str, key: &str) -> Result<Ack> {
        todo!()
    }

    /// Puts a link.
    pub async fn put_link(&self, link: Link) -> Result<Ack> {
        todo!()
    }

    /// Deletes a link.
    pub async fn delete_link(&self, request: DeleteInterfaceLinkDefinitionRequest) -> Result<Ack> {
        todo!()
    }

    /// Every link of the lattice.
    pub async fn get_links(&self) -> Result<Vec<Link>> {
        todo!()
    }

    /// Puts a named config.
    pub async fn put_config(&self, name: &str, values: HashMap<String, String>) -> Result<Ack> {
        todo!()
    }

    /// A named config, `None` if it does not exist.
    pub async fn get_config(&self, name: &str) -> Result<Option<HashMap<String, String>>> {
        todo!()
    }

    /// Deletes a named config.
    pub async fn delete_config(&self, name: &str) -> Result<Ack> {
        todo!()
    }

    /// Puts registry credentials on every host (acknowledged by one).
    pub async fn put_registries(&self, registries: RegistryCredentialMap) -> Result<Ack> {
        todo!()
    }

    /// Lattice events of the given types (empty = all).
    pub async fn events(&self, types: &[String]) -> Result<EventStream> {
        todo!()
    }

    /// A host id from a full id, a unique id prefix or a friendly name.
    pub async fn resolve_host(&self, spec: &str) -> Result<String> {
        todo!()
    }
}
