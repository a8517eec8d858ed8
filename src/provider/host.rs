//! Running under a wasmCloud host: [`run`] registers through the SDK and serves the exports over
//! wRPC, the calls components make through their links.
//!
//! The provider serves on a wRPC client of its own rather than the SDK's (`get_wrpc_client`), on
//! the same lattice subjects and queue group, so that a stop can end serving without losing a
//! call: [`serve`] drains its subscriptions (the vendored transport's
//! `Client::drain_serving`), answers the calls NATS had already sent to this replica, and only
//! then lets the host stop it. Dropping the SDK's streams instead discarded those calls, and
//! their callers (a component inside a host) waited for an answer until the host's 10-minute
//! execution limit.

use anyhow::Context as _;
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use tracing::{info, warn};
use wasmcloud_provider_sdk::{initialize_observability, load_host_data, run_provider, Context};

use super::{
    config, events, links, load, DrainRequest, LatticeControlProvider, LinkTable, ProviderDefaults,
    DRAIN_BOUND, OWN_CONNECTION_NAME, PROVIDER_NAME,
};
use crate::bindings;

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
    // calls come in on this connection too (see `Exports`)
    let serving = own.clone();
    let intake = links::LinkIntake::from_host_data(host_data);
    let link_messages = own
        .subscribe(intake.subscription.clone())
        .await
        .context("failed to subscribe to link puts and deletes")?;
    let store = std::sync::Arc::new(load::LoadStore::new(load::LoadLimits::default()));
    let hub = events::EventHub::default()
        .for_provider(&host_data.provider_key)
        .with_load(load_events(
            &host_data.config,
            &store,
            &host_data.provider_key,
        ));
    // the hosts' metrics, shared with the other replicas (see `load::share`)
    let forward = load::share::start(
        own.clone(),
        &host_data.lattice_rpc_prefix,
        &host_data.provider_key,
        std::sync::Arc::clone(&store),
    );
    // serves until the provider stops
    let _receiver =
        receive_metrics(&host_data.config, std::sync::Arc::clone(&store), forward).await?;
    let provider =
        LatticeControlProvider::with_links_and_load(LinkTable::new(defaults, hub), store);
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

    let shutdown = Box::pin(run_provider(provider.clone(), PROVIDER_NAME))
        .await
        .context("failed to run provider")?;
    // from here on the SDK's connection exists: event deliveries waiting for it go on
    events::sdk_connected();
    let exports = Exports::new(
        serving,
        &host_data.lattice_rpc_prefix,
        &host_data.provider_key,
    )
    .await
    .context("failed to set up the wRPC exports")?;
    Box::pin(serve(&exports, provider, shutdown))
        .await
        .context("failed to serve provider exports")
}

/// How `component_load` events are published: `load_interval_ms` from the provider's config
/// (a bad value is logged and the default used).
fn load_events(
    config: &std::collections::HashMap<String, String>,
    store: &std::sync::Arc<load::LoadStore>,
    provider_id: &str,
) -> load::publish::LoadEvents {
    let interval =
        load::publish::parse_interval(config::lookup(config, load::publish::INTERVAL_KEY))
            .unwrap_or_else(|error| {
                warn!(%error, "provider config: using the default load interval");
                load::publish::DEFAULT_INTERVAL
            });
    load::publish::LoadEvents {
        store: std::sync::Arc::clone(store),
        interval,
        source: provider_id.to_string(),
    }
}

/// Starts the OTLP/HTTP metrics receiver on the provider config's `otlp_listen` address, if
/// it names one. An address that does not parse or cannot be bound stops the provider: the
/// operator asked for it.
async fn receive_metrics(
    config: &std::collections::HashMap<String, String>,
    store: std::sync::Arc<load::LoadStore>,
    forward: tokio::sync::mpsc::Sender<bytes::Bytes>,
) -> anyhow::Result<Option<load::http::Receiver>> {
    let Some(addr) = config::lookup(config, load::http::LISTEN_KEY) else {
        return Ok(None);
    };
    let addr: std::net::SocketAddr = addr.trim().parse().with_context(|| {
        format!(
            "provider config `{}`: not an address such as 127.0.0.1:4318",
            load::http::LISTEN_KEY
        )
    })?;
    let receiver = load::http::listen_forwarding(
        addr,
        store,
        load::http::ReceiverLimits::default(),
        Some(forward),
    )
    .await
    .with_context(|| format!("the OTLP metrics receiver cannot listen on {addr}"))?;
    info!(addr = %receiver.addr(), "receiving host metrics over OTLP/HTTP");
    Ok(Some(receiver))
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

/// The provider's wRPC server: its NATS connection, on the subjects the host routes a linked
/// component's calls to (`{lattice}.{provider id}`), in the queue group every replica shares.
#[derive(Clone)]
pub(super) struct Exports {
    nats: wrpc_transport_nats::Client,
}

impl Exports {
    pub(super) async fn new(
        nats: async_nats::Client,
        lattice: &str,
        provider_id: &str,
    ) -> anyhow::Result<Self> {
        let prefix: std::sync::Arc<str> = format!("{lattice}.{provider_id}").into();
        let nats = wrpc_transport_nats::Client::new(nats, prefix.clone(), Some(prefix))
            .await
            .context("failed to set up the wRPC client")?;
        Ok(Self { nats })
    }
}

/// As the SDK's client serves: the invocation's headers become the handler's [`Context`]
/// (`source-id`, `link-name`, trace context).
impl wrpc_transport::Serve for Exports {
    type Context = Option<Context>;
    type Outgoing = <wrpc_transport_nats::Client as wrpc_transport::Serve>::Outgoing;
    type Incoming = <wrpc_transport_nats::Client as wrpc_transport::Serve>::Incoming;

    async fn serve(
        &self,
        instance: &str,
        func: &str,
        paths: impl Into<std::sync::Arc<[Box<[Option<usize>]>]>> + Send,
    ) -> anyhow::Result<
        impl Stream<Item = anyhow::Result<(Self::Context, Self::Outgoing, Self::Incoming)>>
            + Send
            + 'static,
    > {
        let invocations = self.nats.serve(instance, func, paths).await?;
        Ok(invocations.map_ok(|(cx, tx, rx)| {
            let cx = cx
                .as_ref()
                .map(wasmcloud_provider_sdk::provider::invocation_context);
            (cx, tx, rx)
        }))
    }
}

/// Serves the exports until `shutdown`, one task per invocation, reaping each task when it
/// ends (the SDK's `serve_provider_exports` keeps every finished task until the provider
/// stops: about 0.4 KiB per call).
///
/// On a drain request (the provider's shutdown) it drains its subscriptions, so that NATS
/// routes the next calls to a replica on another host, serves the calls already sent here,
/// and lets them finish, all within [`DRAIN_BOUND`], before links and connections go.
pub(super) async fn serve(
    exports: &Exports,
    provider: LatticeControlProvider,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (drain_tx, mut drain_rx) = tokio::sync::mpsc::channel::<DrainRequest>(1);
    let _ = provider.inner.drain.set(drain_tx);
    // the current version, 1.1.0 and 1.0.0, for components built against them (see `compat`)
    // each version's serve future is large (one stream per function): kept off the stack
    let mut streams = Box::pin(bindings::serve(exports, provider.clone()))
        .await
        .context("failed to serve exports")?;
    streams.extend(
        Box::pin(bindings::v1_1::serve(exports, provider.clone()))
            .await
            .context("failed to serve the 1.1.0 exports")?,
    );
    streams.extend(
        Box::pin(bindings::v1_0::serve(exports, provider))
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
            Some((instance, name, res)) = invocations.next() => {
                take(&mut tasks, instance, name, res);
            }
            Some(done) = tasks.join_next() => reaped(done),
            Some(drained) = drain_rx.recv() => break drained,
            () = &mut shutdown => return Ok(()),
        }
    };
    exports.nats.drain_serving();
    let in_flight = tasks.len();
    let bounded = tokio::time::timeout(DRAIN_BOUND, async {
        // the calls NATS sent before it took the unsubscribe, then every call to its end
        while let Some((instance, name, res)) = invocations.next().await {
            take(&mut tasks, instance, name, res);
        }
        while let Some(done) = tasks.join_next().await {
            reaped(done);
        }
    })
    .await;
    info!(
        in_flight,
        finished = bounded.is_ok(),
        unfinished = tasks.len(),
        "stopped taking calls"
    );
    let _ = drained.send(());
    shutdown.await;
    Ok(())
}

type Invocation = anyhow::Result<
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send + 'static>>,
>;

fn take(
    tasks: &mut tokio::task::JoinSet<()>,
    instance: &'static str,
    name: &'static str,
    res: Invocation,
) {
    match res {
        Ok(invocation) => {
            tasks.spawn(async move {
                if let Err(error) = invocation.await {
                    warn!(?error, instance, name, "failed to serve invocation");
                }
            });
        }
        Err(error) => warn!(?error, instance, name, "failed to accept invocation"),
    }
}

fn reaped(done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done {
        warn!(%error, "an invocation task failed");
    }
}
