//! Component load from a real host's own metrics (groundwork of issue 25): the in-process host
//! records its component metrics on the global OpenTelemetry meter, as a `wasmcloud` host with
//! metrics enabled does; an OTLP/HTTP exporter (the one `wasmcloud-tracing` uses, protobuf)
//! sends them to the provider's receiver (`provider::load::http`), and the store shows the
//! component: its reference, the `max_instances` it was scaled to, and invocations per second
//! once it was called.
//!
//! `load_replicas.rs` takes these metrics through the provider and its replicas, and
//! `autoscale.rs` closes the loop with the autoscaler component.
//!
//! Each of the three modules runs in a process of its own (`scripts/test.sh` runs them as
//! separate heavy steps): the meter provider is global to the process, and a second test
//! installing its own in the same process left the next provider a host started unhealthy.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use lattice_control_e2e::component::{noop_component_ref, noop_scale};
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{bounded, shared_nats, TestLattice, CALL_TIMEOUT};
use lattice_control_provider::provider::load::{http, LoadLimits, LoadStore};
use opentelemetry_otlp::WithExportConfig as _;

pub(crate) const COMPONENT: &str = "load-busy";
const MAX_INSTANCES: u32 = 4;
/// How often the exporter sends (a host's default is 60 s; short here).
pub(crate) const EXPORT_EVERY: Duration = Duration::from_millis(500);
pub(crate) const SEEN_WITHIN: Duration = Duration::from_secs(30);

/// An OTLP/HTTP exporter of this process's global meter provider to `endpoint`, every `every`:
/// what a host with metrics enabled runs. Install it before a host starts.
pub(crate) fn export_metrics(
    endpoint: String,
    every: Duration,
) -> Result<opentelemetry_sdk::metrics::SdkMeterProvider> {
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .context("building the OTLP exporter")?;
    let reader = opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader::builder(
        exporter,
        opentelemetry_sdk::runtime::Tokio,
    )
    .with_interval(every)
    .build();
    let meters = opentelemetry_sdk::metrics::SdkMeterProvider::builder().with_reader(reader).build();
    // the host takes its meter from the global provider when it is made
    opentelemetry::global::set_meter_provider(meters.clone());
    Ok(meters)
}

/// Calls the no-op component's export `n` times over wRPC, as another component would: a
/// client per call (a client reused across calls of this component lost an answer in some
/// runs, and the call then waited for good; a fresh one never did).
pub(crate) async fn call_noop(nats: &async_nats::Client, lattice: &str, n: usize) -> Result<()> {
    for _ in 0..n {
        let client = wrpc_transport_nats::Client::new(nats.clone(), format!("{lattice}.{COMPONENT}"), None).await?;
        let call = wrpc_transport::InvokeExt::invoke_values_blocking::<_, (), ()>(
            &client,
            None,
            "lattice-control-e2e:noop/api",
            "noop",
            (),
            &[[None::<usize>; 0]; 0],
        );
        bounded("a call of the no-op component", CALL_TIMEOUT, call).await??;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hosts_own_metrics_become_component_load() -> Result<()> {
    let store = Arc::new(LoadStore::new(LoadLimits::default()));
    let receiver = http::listen("127.0.0.1:0".parse()?, Arc::clone(&store), http::ReceiverLimits::default()).await?;
    let meters = export_metrics(format!("http://{}{}", receiver.addr(), http::METRICS_PATH), EXPORT_EVERY)?;

    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let scale = noop_scale(&host, COMPONENT, MAX_INSTANCES)?.build()?;
    bounded(
        "scaling the no-op component",
        CALL_TIMEOUT * 3,
        lattice.ctl().scale_component_and_wait(scale, Duration::from_secs(30)),
    )
    .await??;
    call_noop(lattice.nats(), lattice.lattice(), 20).await?;
    let reference = noop_component_ref()?;

    // the first export of the invocation counter is a baseline; calls after it are a rate
    let seen = wait_for("the component in the store", SEEN_WITHIN, || async {
        Ok(store.per_host(lattice.lattice(), std::time::Instant::now()).into_iter().find(|l| l.component == COMPONENT))
    })
    .await?;
    assert_eq!(seen.host, host);
    assert_eq!(seen.component_ref, reference);
    let busy = wait_for("invocations per second above 0", SEEN_WITHIN, || {
        let (nats, name, store) = (lattice.nats().clone(), lattice.lattice().to_string(), Arc::clone(&store));
        async move {
            call_noop(&nats, &name, 10).await?;
            let load = store.per_host(&name, std::time::Instant::now()).into_iter().find(|l| l.component == COMPONENT);
            Ok(load.filter(|l| l.invocations_per_s > 0.0))
        }
    })
    .await?;
    eprintln!("component load from the host's own metrics: {busy:?}");
    assert_eq!(busy.max_instances, u64::from(MAX_INSTANCES), "the host's max_instances gauge");
    assert_eq!(busy.errors_per_s, 0.0);
    // The duration histogram comes too, but with the OpenTelemetry SDK's default bounds (0 to
    // 10,000) on a value in nanoseconds: anything slower than 10 µs is in the overflow bucket,
    // so its quantiles only say "at least 0.01 ms" (a finding for issue 25).
    assert!(busy.duration_p50_ms.is_some_and(|p| p >= 0.01), "{busy:?}");
    let stats = receiver.stats();
    let exports = stats.exports.load(std::sync::atomic::Ordering::Relaxed);
    let refused = stats.malformed.load(std::sync::atomic::Ordering::Relaxed)
        + stats.unsupported.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("exports received: {exports}, refused: {refused}");
    assert_eq!(refused, 0, "the host's exporter speaks what the receiver takes");
    let rejected = stats.rejected_points.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(rejected, 0, "every point of the host's component metrics found its series");
    let _ = meters.shutdown();
    lattice.shutdown().await
}
