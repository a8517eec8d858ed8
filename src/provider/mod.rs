//! The capability provider: per-link settings, connections, policy and the exported handler.

mod compat;
pub mod config;
pub mod events;
pub mod guard;
pub mod handler;
pub mod links;
pub mod log_limit;
pub mod policy;
mod span;
pub mod supervise;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use tracing::{debug, info, warn};
use wasmcloud_provider_sdk::{
    initialize_observability, load_host_data, run_provider, LinkConfig, LinkDeleteInfo, Provider,
    ProviderConfigUpdate, ProviderInitConfig,
};

use crate::bindings;
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

/// A request to the serve loop to stop taking calls; answered once those it holds are done
/// (or [`DRAIN_BOUND`] has passed).
type DrainRequest = tokio::sync::oneshot::Sender<()>;

/// The lattice-control capability provider. Cheap to clone: clones share every link.
#[derive(Clone, Default)]
pub struct LatticeControlProvider {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    links: LinkTable,
    shut_down: AtomicBool,
    /// The host's side of the links, once the provider runs under a host (see
    /// [`links::host_view`]).
    host_view: OnceLock<links::HostView>,
    /// Reaches the serve loop, once it runs (see [`serve_exports`]).
    drain: OnceLock<tokio::sync::mpsc::Sender<DrainRequest>>,
    /// Summaries of refused and failed calls (see [`log_limit`]).
    log_limit: log_limit::LogLimiter,
    /// Audit lines of changes made through the provider (see [`handler`]).
    audit_limit: log_limit::LogLimiter<log_limit::AuditKey>,
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
        Self {
            inner: Arc::new(Inner {
                links,
                shut_down: AtomicBool::new(false),
                host_view: OnceLock::new(),
                drain: OnceLock::new(),
                log_limit: log_limit::LogLimiter::default(),
                audit_limit: log_limit::LogLimiter::default(),
            }),
        }
    }

    /// The provider's links.
    #[must_use]
    pub fn links(&self) -> &LinkTable {
        &self.inner.links
    }

    /// The host's side of the links, set when the provider runs under a host.
    pub(crate) fn host_view(&self) -> Option<&links::HostView> {
        self.inner.host_view.get()
    }
}

/// Runs the provider under a wasmCloud host: registers through the SDK, serves
/// `wasmcloud:lattice-control/lattice-control` over wRPC until the host shuts it down.
pub async fn run() -> anyhow::Result<()> {
    initialize_observability!(
        PROVIDER_NAME,
        std::env::var_os("PROVIDER_LATTICE_CONTROL_FLAMEGRAPH_PATH")
    );
    let host_data = load_host_data().context("failed to load host data")?;
    let defaults = ProviderDefaults::from_host_data(
        &host_data.lattice_rpc_prefix,
        &host_data.lattice_rpc_url,
        &host_data.lattice_rpc_user_jwt,
        &host_data.lattice_rpc_user_seed,
        &host_data.config,
        &host_data.secrets,
    );
    // the provider's own connection to its lattice (as the SDK's): link puts, the host's
    // view of the links and config changes; opened before the SDK subscribes, so no put
    // the SDK could see is missed here
    let own = links::connect_named(&config::own_connection(&defaults), OWN_CONNECTION_NAME)
        .await
        .map_err(anyhow::Error::msg)
        .context("failed to connect to the lattice's NATS")?;
    let intake = links::LinkIntake::from_host_data(host_data);
    let link_messages = own
        .subscribe(intake.subscription.clone())
        .await
        .context("failed to subscribe to link puts and deletes")?;
    let hub = events::EventHub::default().for_provider(&host_data.provider_key);
    let provider = LatticeControlProvider::with_links(LinkTable::new(defaults, hub));
    let view = host_view(
        own.clone(),
        &provider.links().defaults(),
        &host_data.lattice_rpc_prefix,
        &host_data.provider_key,
    );
    // the links the host had when it started the provider: puts like any other
    links::intake::start(
        intake,
        provider.links().clone(),
        &host_data.link_definitions,
        own,
        link_messages,
        view.clone(),
    );
    view.follow_configs(provider.links().clone());
    let _ = provider.inner.host_view.set(view);

    let shutdown = run_provider(provider.clone(), PROVIDER_NAME)
        .await
        .context("failed to run provider")?;
    // from here on the SDK's connection exists: event deliveries waiting for it go on
    events::sdk_connected();
    let connection = wasmcloud_provider_sdk::get_connection();
    let wrpc = connection
        .get_wrpc_client(connection.provider_key())
        .await
        .context("failed to get wRPC client")?;
    serve_exports(&wrpc, provider, shutdown)
        .await
        .context("failed to serve provider exports")
}

/// The provider's view of its own lattice (see [`links::host_view`]). Hosts answer control requests on
/// the default prefix and on the control connection; where the provider's own config and
/// secrets (`defaults`, no link's) name a connection or a prefix for the lattice it runs in,
/// the view uses them, else the RPC connection `own` (one NATS account for RPC and control,
/// as `wash up` runs). Connecting runs in a task: nothing here waits for the network.
fn host_view(
    own: async_nats::Client,
    defaults: &ProviderDefaults,
    lattice: &str,
    provider_id: &str,
) -> links::HostView {
    let no_keys = std::collections::HashMap::new();
    let settings = match config::resolve(&no_keys, &std::collections::HashMap::new(), defaults) {
        Ok(s) if s.client.lattice == lattice => Some(s),
        Ok(_) => None,
        Err(error) => {
            warn!(%error, "the provider's own settings are invalid; its host view uses the RPC connection");
            None
        }
    };
    let Some(settings) = settings else {
        let prefix = crate::ctl::subjects::DEFAULT_TOPIC_PREFIX;
        return links::HostView::new(own, lattice, prefix, provider_id);
    };
    let prefix = &settings.client.topic_prefix;
    if settings.connection == config::own_connection(defaults) {
        links::HostView::new(own, lattice, prefix, provider_id)
    } else {
        links::HostView::connecting(settings.connection, lattice, prefix, provider_id)
    }
}

/// Serves the exports until `shutdown`, one task per invocation, as the SDK's
/// `serve_provider_exports` does, but reaps each task when it ends. The SDK (0.17.1) keeps
/// every finished invocation task in a `JoinSet` it never joins: about 0.4 KiB per call,
/// held until the provider stops (the malformed-input corpus grew the RSS ~4 MiB per 10,000
/// calls with it).
///
/// On a drain request (the provider's shutdown) it drops its subscriptions first, so that a
/// replica of the provider on another host takes the next calls, and lets the calls it has
/// taken finish, within [`DRAIN_BOUND`], before links and connections go.
async fn serve_exports(
    wrpc: &wasmcloud_provider_sdk::provider::WrpcClient,
    provider: LatticeControlProvider,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    use futures::StreamExt as _;
    let (drain_tx, mut drain_rx) = tokio::sync::mpsc::channel::<DrainRequest>(1);
    let _ = provider.inner.drain.set(drain_tx);
    // the current version and 1.0.0, for components built against it (see `compat`)
    let mut streams = bindings::serve(wrpc, provider.clone())
        .await
        .context("failed to serve exports")?;
    streams.extend(
        bindings::v1_0::serve(wrpc, provider)
            .await
            .context("failed to serve the 1.0.0 exports")?,
    );
    let mut invocations = futures::stream::select_all(
        streams
            .into_iter()
            .map(|(instance, name, s)| s.map(move |res| (instance, name, res))),
    );
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tasks = tokio::task::JoinSet::new();
    let drained = loop {
        tokio::select! {
            Some((instance, name, res)) = invocations.next() => match res {
                Ok(invocation) => {
                    tasks.spawn(async move {
                        if let Err(error) = invocation.await {
                            warn!(?error, instance, name, "failed to serve invocation");
                        }
                    });
                }
                Err(error) => warn!(?error, instance, name, "failed to accept invocation"),
            },
            Some(done) = tasks.join_next() => {
                if let Err(error) = done {
                    warn!(%error, "an invocation task failed");
                }
            }
            Some(drained) = drain_rx.recv() => break drained,
            () = &mut shutdown => return Ok(()),
        }
    };
    // unsubscribe: the NATS server routes the next calls to another instance, if any
    drop(invocations);
    let in_flight = tasks.len();
    let finished = tokio::time::timeout(DRAIN_BOUND, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    info!(in_flight, finished, "stopped taking calls");
    let _ = drained.send(());
    shutdown.await;
    Ok(())
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
        if !self.inner.shut_down.swap(true, Ordering::SeqCst) {
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
