//! The JavaScript example component (`examples/js-controller`) on a real host: scaled by
//! `file://`, linked to the provider started from its PAR, its export `summary.list-hosts`
//! invoked over wRPC; the answer must name the lattice and the hosts that really run. A link
//! from the provider to the component (`lattice-events`, source config `events`) pushes a
//! `component_scaled` that the host-run component records through the provider.
//!
//! Needs `node` and `npm` (it runs the example's `build.sh` when the `.wasm` is missing or
//! older than its sources); without them the test says so and passes. Timings go to stderr
//! (`--nocapture`).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use futures::StreamExt as _;
use lattice_control_e2e::js::{js_component, node_available};
use lattice_control_e2e::link::{events_link, WIT_NAMESPACE, WIT_PACKAGE};
use lattice_control_e2e::noop_scale;
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{
    bounded, delete_provider_link, put_config, put_provider_link, retry, shared_nats, start_provider, TestLattice,
    CALL_TIMEOUT,
};
use lattice_control_provider::ctl::{self, ScaleComponentCommand};
use lattice_control_provider::provider::config::LATTICE;
use lattice_control_provider::provider::events::EVENTS_KEY;
use lattice_control_provider::provider::policy::KEY_ALLOW;
use serde_json::Value;

use lattice_control_e2e::js::summary;

const COMPONENT_ID: &str = "js-controller";
const PROVIDER_ID: &str = "lattice-control";
/// The host compiles the ~13 MB component before it runs (~14 s with the e2e profile).
const SCALE_TIMEOUT: Duration = Duration::from_secs(300);
/// Calls retry while the component's export and the provider's subscriptions settle.
const CALL_RETRY: Duration = Duration::from_secs(60);

/// Calls `summary.list-hosts` on the component; wRPC failures are retried (the call is a
/// read). Returns the component's own answer: JSON text, or its error.
async fn call_list_hosts(
    wrpc: &wrpc_transport_nats::Client,
    probe: &str,
) -> Result<std::result::Result<String, String>> {
    retry("summary.list-hosts", CALL_RETRY, || summary::list_hosts(wrpc, None, probe)).await
}

/// [`call_list_hosts`], expecting a summary.
async fn list_hosts(wrpc: &wrpc_transport_nats::Client, probe: &str) -> Result<Value> {
    let answer = call_list_hosts(wrpc, probe).await?.map_err(|e| anyhow!("the component answered an error: {e}"))?;
    serde_json::from_str(&answer).with_context(|| format!("answer is not JSON: {answer}"))
}

fn host_ids(summary: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = summary["host-ids"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn js_component_lists_the_hosts_of_its_lattice() -> Result<()> {
    if !node_available("js_component") {
        return Ok(());
    }
    let wasm = js_component().await?;

    let mut lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host_id = lattice.host_id(0)?.to_string();
    let ctl = lattice.ctl().clone();

    // The link's target config names the lattice to manage: this test's own.
    let config_name = "js-controller-link";
    put_config(&lattice, config_name, &[(LATTICE, lattice.lattice())]).await?;
    start_provider(&lattice, 0, PROVIDER_ID, &[]).await?;
    put_provider_link(&lattice, COMPONENT_ID, "default", PROVIDER_ID, &[config_name]).await?;

    // The host acks a scale before compiling: its outcome is an event.
    let mut events = bounded(
        "subscribing to events",
        CALL_TIMEOUT,
        ctl.events(&["component_scaled".into(), "component_scale_failed".into()]),
    )
    .await??;
    let scale = ScaleComponentCommand::builder()
        .host_id(host_id.clone())
        .component_ref(format!("file://{}", wasm.display()))
        .component_id(COMPONENT_ID)
        .max_instances(1)
        .build()?;
    let started = Instant::now();
    bounded("scale_component", CALL_TIMEOUT, ctl.scale_component(scale)).await??;
    let outcome = bounded("the scale outcome event", SCALE_TIMEOUT, async {
        while let Some(event) = events.next().await {
            let event = event?;
            if event.data["component_id"] == COMPONENT_ID {
                return Ok(event);
            }
        }
        bail!("the event stream ended")
    })
    .await??;
    if outcome.short_type() != "component_scaled" {
        bail!("scaling the JS component failed: {}", outcome.data);
    }
    // The control interface is busy while the host compiles: poll with retries.
    wait_for("the component in the inventory", SCALE_TIMEOUT, || async {
        let inventory = ctl.get_host_inventory(&host_id).await?;
        Ok(inventory.components.iter().any(|c| c.id == COMPONENT_ID).then_some(()))
    })
    .await?;
    eprintln!("timing: scale to running (host compile) {:.1?}", started.elapsed());

    let prefix = format!("{}.{COMPONENT_ID}", lattice.lattice());
    let wrpc =
        bounded("wRPC client", CALL_TIMEOUT, wrpc_transport_nats::Client::new(lattice.nats().clone(), prefix, None))
            .await??;

    let started = Instant::now();
    let first = list_hosts(&wrpc, "probe-1").await?;
    eprintln!("timing: first list-hosts call {:.1?}", started.elapsed());
    assert_eq!(first["probe"], "probe-1");
    assert_eq!(first["lattice"], lattice.lattice());
    assert_eq!(first["source-id"], COMPONENT_ID, "the provider saw another caller");
    assert_eq!(first["link-name"], "default");
    assert_eq!(host_ids(&first), [host_id.as_str()]);
    assert_eq!(first["hosts"][0]["lattice"], lattice.lattice());

    let mut calls = Vec::new();
    for i in 0..10 {
        let started = Instant::now();
        let again = list_hosts(&wrpc, &format!("warm-{i}")).await?;
        calls.push(started.elapsed());
        assert_eq!(again["probe"], format!("warm-{i}"));
    }
    calls.sort_unstable();
    eprintln!("timing: warm list-hosts calls, median {:.1?} of {}", calls[calls.len() / 2], calls.len());

    // A second host joins: the component's next answers must show it.
    let second = lattice.add_host().await?;
    let mut expected = vec![host_id.clone(), lattice.host_id(second)?.to_string()];
    expected.sort_unstable();
    wait_for("the new host in list-hosts", CALL_RETRY, || async {
        let summary = list_hosts(&wrpc, "two-hosts").await?;
        Ok((host_ids(&summary) == expected).then_some(()))
    })
    .await?;

    // Events over a link from the provider to the component (`interfaces: [lattice-events]`,
    // settings in its source config: the direction upstream providers are linked in). The
    // component's handler records the scale through its own link, which must grant put-config.
    put_config(&lattice, config_name, &[(LATTICE, lattice.lattice()), (KEY_ALLOW, "read-only,put-config")]).await?;
    let events_config = "js-controller-events";
    put_config(&lattice, events_config, &[(EVENTS_KEY, "component_scaled")]).await?;
    let outgoing = events_link(PROVIDER_ID, COMPONENT_ID, &[events_config])?;
    bounded("put the provider -> component link", CALL_TIMEOUT, ctl.put_link(outgoing)).await??;
    let scaled_id = "js-e2e-scaled";
    let noop = |max: u32| -> Result<ScaleComponentCommand> { Ok(noop_scale(&host_id, scaled_id, max)?.build()?) };
    let last_scale = format!("{COMPONENT_ID}-last-scale");
    let scaled_at = Instant::now();
    // The link reaches the provider a few ms after the host's ack: scale until an event is
    // recorded (each scale to 1 is a `component_scaled`).
    let record = wait_for("the component's record of a scale pushed over the outgoing link", CALL_RETRY, || async {
        bounded("scale_component", CALL_TIMEOUT, ctl.scale_component(noop(1)?)).await??;
        let record = ctl.get_config(&last_scale).await?;
        Ok(record.filter(|r| r.get("component-id").map(String::as_str) == Some(scaled_id)))
    })
    .await?;
    eprintln!("timing: scale to the component's record (provider -> component link) {:.1?}", scaled_at.elapsed());
    assert_eq!(record.get("seen-by").map(String::as_str), Some(COMPONENT_ID), "{record:?}");
    assert_eq!(record.get("host-id"), Some(&host_id), "{record:?}");
    let request = ctl::DeleteInterfaceLinkDefinitionRequest::builder()
        .source_id(PROVIDER_ID)
        .name("default")
        .wit_namespace(WIT_NAMESPACE)
        .wit_package(WIT_PACKAGE)
        .build()?;
    bounded("delete the outgoing link", CALL_TIMEOUT, ctl.delete_link(request)).await??;
    bounded("scale the noop to 0", CALL_TIMEOUT, ctl.scale_component(noop(0)?)).await??;
    bounded("delete the record", CALL_TIMEOUT, ctl.delete_config(&last_scale)).await??;

    // A link whose policy leaves out get-hosts: the provider refuses with a typed error and
    // the component reports it. (With no link at all the host itself refuses the import, so
    // the provider's `not-linked` cannot be seen through a host-run component.)
    delete_provider_link(&lattice, COMPONENT_ID, "default").await?;
    let narrow = "js-controller-narrow";
    put_config(&lattice, narrow, &[(LATTICE, lattice.lattice()), (KEY_ALLOW, "get-host-inventory")]).await?;
    put_provider_link(&lattice, COMPONENT_ID, "default", PROVIDER_ID, &[narrow]).await?;
    let refusal =
        wait_for("a not-permitted refusal", CALL_RETRY, || async { Ok(call_list_hosts(&wrpc, "narrow").await?.err()) })
            .await?;
    let refusal: Value = serde_json::from_str(&refusal).with_context(|| format!("error is not JSON: {refusal}"))?;
    assert_eq!(refusal["error"], "not-permitted", "{refusal}");
    assert!(refusal["message"].as_str().is_some_and(|m| m.contains("get-hosts")), "{refusal}");

    lattice.shutdown().await
}
