//! The capability provider: per-link settings, connections, policy and the exported handler.

mod compat;
pub mod config;
pub mod events;
pub mod guard;
pub mod handler;
#[cfg(feature = "host")]
mod host;
pub mod links;
pub mod load;
pub mod log_limit;
pub mod policy;
mod span;
pub mod supervise;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::{debug, info};
use wasmcloud_provider_sdk::{
    LinkConfig, LinkDeleteInfo, Provider, ProviderConfigUpdate, ProviderInitConfig,
};

use config::ProviderDefaults;
use links::LinkTable;

/// Name the provider registers with (logs, NATS connection name, OTEL service).
pub const PROVIDER_NAME: &str = "lattice-control-provider";

/// Name of the provider's own NATS connection to its lattice (link puts, the host's view).
pub const OWN_CONNECTION_NAME: &str = "lattice-control-provider-own";

/// How long a shutdown waits for calls already taken to finish. The host kills the process
/// once the provider acknowledges its shutdown request, and `wasmcloud` waits 300 ms for that
/// acknowledgement by default.
const DRAIN_BOUND: Duration = Duration::from_millis(200);

/// How long after a stop begins a call still running is answered with a `timeout` error: the
/// host kills the process soon after, and a call cut off without an answer would leave its
/// caller (a component) waiting for good, as wRPC has no bound on a result.
const CUT_AFTER: Duration = Duration::from_millis(120);

/// A request to the serve loop to stop taking calls; answered once those it holds are done
/// (or [`DRAIN_BOUND`] has passed).
type DrainRequest = tokio::sync::oneshot::Sender<()>;

#[cfg(feature = "host")]
pub use host::run;

/// The lattice-control capability provider. Cheap to clone: clones share every link.
#[derive(Clone, Default)]
pub struct LatticeControlProvider {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    links: LinkTable,
    /// Set when the provider stops (once: the SDK may call `shutdown` twice); calls still
    /// running shortly after are answered with an error rather than cut off (see
    /// [`CUT_AFTER`]).
    stopping: tokio::sync::watch::Sender<bool>,
    /// The host's side of the links, once the provider runs under a host (see
    /// [`links::host_view`]).
    host_view: OnceLock<links::HostView>,
    /// Reaches the serve loop, once it runs (see `host::serve`).
    drain: OnceLock<tokio::sync::mpsc::Sender<DrainRequest>>,
    /// Summaries of refused and failed calls (see [`log_limit`]).
    log_limit: log_limit::LogLimiter,
    /// Audit lines of changes made through the provider (see [`handler`]).
    audit_limit: log_limit::LogLimiter<log_limit::AuditKey>,
    /// The component load the hosts reported (see [`load`]).
    load: Arc<load::LoadStore>,
}

impl LatticeControlProvider {
    /// A provider whose links default to `defaults`, delivering events through the SDK.
    #[must_use]
    pub fn new(defaults: ProviderDefaults) -> Self {
        Self::with_links(LinkTable::new(defaults, events::EventHub::default()))
    }

    /// A provider over `links`.
    #[must_use]
    pub fn with_links(links: LinkTable) -> Self {
        Self::with_links_and_load(links, Arc::default())
    }

    /// A provider over `links`, answering component load from `load`.
    #[must_use]
    pub fn with_links_and_load(links: LinkTable, load: Arc<load::LoadStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                links,
                stopping: tokio::sync::watch::channel(false).0,
                host_view: OnceLock::new(),
                drain: OnceLock::new(),
                log_limit: log_limit::LogLimiter::default(),
                audit_limit: log_limit::LogLimiter::default(),
                load,
            }),
        }
    }

    /// The provider's links.
    #[must_use]
    pub fn links(&self) -> &LinkTable {
        &self.inner.links
    }

    /// The component load the hosts reported.
    #[must_use]
    pub fn load(&self) -> &Arc<load::LoadStore> {
        &self.inner.load
    }

    /// Resolves [`CUT_AFTER`] after the provider began to stop.
    pub(crate) async fn cut_off(&self) {
        let mut stopping = self.inner.stopping.subscribe();
        if stopping.wait_for(|stopping| *stopping).await.is_ok() {
            tokio::time::sleep(CUT_AFTER).await;
        } else {
            std::future::pending::<()>().await;
        }
    }

    /// The host's side of the links, set when the provider runs under a host.
    pub(crate) fn host_view(&self) -> Option<&links::HostView> {
        self.inner.host_view.get()
    }
}

impl Provider for LatticeControlProvider {
    async fn init(&self, config: impl ProviderInitConfig) -> anyhow::Result<()> {
        info!(
            provider_id = config.get_provider_id(),
            "lattice-control provider starting"
        );
        Ok(())
    }

    /// Nothing to do: every put, this one included, comes through the provider's own
    /// subscription (see [`links::intake`]), which the SDK's duplicate filter does not stand in.
    async fn receive_link_config_as_target(&self, link: LinkConfig<'_>) -> anyhow::Result<()> {
        debug!(
            source_id = link.source_id,
            link_name = link.link_name,
            "link put seen by the SDK (applied from the provider's own subscription)"
        );
        Ok(())
    }

    /// Nothing to do: deletes come through the provider's own subscription too, in order with
    /// the puts (see [`links::intake`]).
    async fn delete_link_as_target(&self, info: impl LinkDeleteInfo) -> anyhow::Result<()> {
        debug!(
            source_id = info.get_source_id(),
            link_name = info.get_link_name(),
            "link delete seen by the SDK (applied from the provider's own subscription)"
        );
        Ok(())
    }

    async fn delete_link_as_source(&self, info: impl LinkDeleteInfo) -> anyhow::Result<()> {
        debug!(
            target_id = info.get_target_id(),
            link_name = info.get_link_name(),
            "link delete from the provider seen by the SDK (applied from the provider's own subscription)"
        );
        Ok(())
    }

    async fn on_config_update(&self, update: impl ProviderConfigUpdate) -> anyhow::Result<()> {
        let mut defaults = self.links().defaults();
        defaults.config = update.get_values().clone();
        self.links().set_defaults(defaults);
        info!("provider config updated; links re-resolved");
        Ok(())
    }

    async fn shutdown(&self) -> anyhow::Result<()> {
        // the SDK may call this twice; the host kills the process right after
        if !self.inner.stopping.send_replace(true) {
            if let Some(drain) = self.inner.drain.get() {
                let (done, drained) = tokio::sync::oneshot::channel();
                if drain.send(done).await.is_ok() {
                    // bounded by the serve loop; this bound only guards against a lost answer
                    let _ = tokio::time::timeout(DRAIN_BOUND * 2, drained).await;
                }
            }
            self.links().close();
            info!("lattice-control provider shut down");
        }
        Ok(())
    }
}
