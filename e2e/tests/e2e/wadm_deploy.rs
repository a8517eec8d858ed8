//! The user's journey with a real wadm: the repository's `local.wadm.yaml`, as shipped, deployed
//! through wadm 0.21.1 (in-process) with the client `wash app deploy` uses, on a fresh lattice
//! with a real host.
//!
//! The only change made to the manifest is the one `wash app deploy` makes: every `file://`
//! path that does not start with `/` is made absolute against the manifest's folder (wash
//! refuses the manifest if that file is missing; wadm and the host do not resolve relative
//! paths). The lattice is the wadm client's (`wash app deploy --lattice …`): the manifest's
//! link has no `lattice` key, so it manages the lattice the provider runs in (the provider's
//! documented default), which is the lattice wadm deploys the provider to.
//!
//! Steps, each bounded, timings printed (`--nocapture`):
//! 1. deploy `provider.wadm.yaml` (the shared provider application), then the manifest: status
//!    `Deployed`; the provider started from the PAR (health, inventory), the component scaled,
//!    the link put with its config;
//! 2. the component's export answers through the provider with the host that really runs
//!    (deploy-to-first-answer);
//! 3. a lattice event pushed to the host-run component: a `component_scaled` makes it record
//!    that scale in a named config through the provider (event-to-action);
//! 4. a second manifest version narrows the link's `allow`: wadm puts the same-named config
//!    with new values and leaves the identical link alone, so the host tells the provider
//!    nothing; the component's next calls must see the new policy (update-applied);
//! 5. a second application links to the same shared provider: one provider, both answer;
//! 6. undeploy: the controller's component and link go, the shared provider stays and still
//!    answers the other application (undeploy-to-clean); undeploying the shared application
//!    leaves no provider and no provider subscription.
//!
//! Needs `node` and `npm` (the example is built by its `build.sh`); without them the test says
//! so and passes. The PAR is packed from the freshly built provider binary to the path the
//! manifest names (`build/lattice-control-provider.par.gz`, git-ignored).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use futures::StreamExt as _;
use lattice_control_e2e::caller::{lattice_control as lc, types};
use lattice_control_e2e::js::{js_component, node_available};
use lattice_control_e2e::par::product_root;
use lattice_control_e2e::provider::{wait_provider_ready, wrpc_subscription_count};
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::wadm::{
    deploy_shared_provider, deployable_manifest, describe, manifest_par_path, noop_app_manifest, pack_manifest_par,
    undeploy_shared_provider, ProviderFrom, StatusType, SHARED_PROVIDER_ID,
};
use lattice_control_e2e::{
    bounded, noop_component, noop_scale, retry, shared_nats, Caller, TestLattice, TestWadm, CALL_TIMEOUT,
};
use lattice_control_provider::ctl::{self, ScaleComponentCommand};
use lattice_control_provider::provider::policy::{KEY_ALLOW, KEY_ALLOWED_CONFIG_PREFIXES};
use serde_json::Value;
use serde_yaml::Value as Yaml;

use lattice_control_e2e::js::summary;

const MANIFEST: &str = "local.wadm.yaml";
/// wadm derives ids from the application and component names (`{app}-{component}`, every
/// character other than ASCII letters and digits as `_`), the manifest sets none.
const APP: &str = "lattice-control";
const COMPONENT_ID: &str = "lattice_control-js_controller";
/// The shared provider the manifest links to (`provider.wadm.yaml`, deployed first).
const PROVIDER_ID: &str = SHARED_PROVIDER_ID;
/// A second application linking to the same provider: a no-op component of its own.
const OTHER_APP: &str = "lattice-control-other";
const OTHER_COMPONENT_ID: &str = "lattice_control_other-noop";
/// The link's target config as wadm names it: `{app}-{config name}`, sanitised the same way.
const LINK_CONFIG: &str = "lattice_control-js_controller_link";
/// The policy the shipped manifest grants, and what the second version narrows it to.
const SHIPPED_ALLOW: &str = "read-only,put-config";
const NARROWED_ALLOW: &str = "read-only";
/// The one config the shipped manifest lets the component write: its own record.
const SHIPPED_CONFIG_PREFIX: &str = "lattice_control-js_controller-last-scale";

/// The policy `provider-info` reports for `allow` under the shipped config restriction.
fn reported_policy(allow: &str) -> String {
    format!("{allow}; {KEY_ALLOWED_CONFIG_PREFIXES}={SHIPPED_CONFIG_PREFIX}")
}

/// Deploy to `Deployed`: the host compiles the ~13 MB component first (7–70 s on 2 cores).
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);
/// Calls retry while the component, the provider's subscriptions and the link settle.
const CALL_RETRY: Duration = Duration::from_secs(60);
/// A lattice event reaching the component and its write arriving.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// A changed link config reaching the component's calls.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(15);
/// Undeploy until the host has nothing of the application left.
const UNDEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

/// The shipped manifest, transformed as `wash app deploy` transforms it.
fn shipped_manifest() -> Result<Yaml> {
    deployable_manifest(&product_root().join(MANIFEST))
}

/// The link trait's target config properties of the manifest's first component.
fn link_config_props(yaml: &mut Yaml) -> Option<&mut serde_yaml::Mapping> {
    yaml.get_mut("spec")?
        .get_mut("components")?
        .as_sequence_mut()?
        .iter_mut()
        .flat_map(|c| c.get_mut("traits").and_then(Yaml::as_sequence_mut).into_iter().flatten())
        .find(|t| t.get("type").and_then(Yaml::as_str) == Some("link"))?
        .get_mut("properties")?
        .get_mut("target")?
        .get_mut("config")?
        .get_mut(0)?
        .get_mut("properties")?
        .as_mapping_mut()
}

/// A new version of `manifest` whose link config grants `allow`: what a user edits and
/// deploys again.
fn with_allow(mut manifest: Yaml, version: &str, allow: &str) -> Result<Yaml> {
    let annotations = manifest
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Yaml::as_mapping_mut)
        .context("manifest has no metadata.annotations")?;
    annotations.insert("version".into(), version.into());
    let props = link_config_props(&mut manifest).context("manifest has no link target config")?;
    props.insert(KEY_ALLOW.into(), allow.into());
    Ok(manifest)
}

fn yaml_bytes(yaml: &Yaml) -> Result<Vec<u8>> {
    Ok(serde_yaml::to_string(yaml)?.into_bytes())
}

/// `summary.list-hosts` on the host-run component (wRPC failures retried: it is a read).
async fn list_hosts(wrpc: &wrpc_transport_nats::Client, probe: &str) -> Result<Value> {
    let answer = retry("summary.list-hosts", CALL_RETRY, || summary::list_hosts(wrpc, None, probe))
        .await?
        .map_err(|e| anyhow!("the component answered an error: {e}"))?;
    serde_json::from_str(&answer).with_context(|| format!("answer is not JSON: {answer}"))
}

fn strings(value: &Value) -> Vec<&str> {
    let mut items: Vec<&str> = value.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    items.sort_unstable();
    items
}

/// The application's component, provider and link as the host reports them; `None` for
/// whatever is absent. Reads are retried: the control interface does not answer while the
/// host compiles a component.
struct HostView {
    component: Option<ctl::ComponentDescription>,
    provider: Option<ctl::ProviderDescription>,
    links: Vec<ctl::Link>,
}

async fn host_view(lattice: &TestLattice, host_id: &str) -> Result<HostView> {
    let ctl = lattice.ctl();
    let inventory = retry("get_host_inventory", CALL_RETRY, || ctl.get_host_inventory(host_id)).await?;
    let links = retry("get_links", CALL_RETRY, || ctl.get_links()).await?;
    Ok(HostView {
        component: inventory.components.into_iter().find(|c| c.id == COMPONENT_ID),
        provider: inventory.providers.into_iter().find(|p| p.id == PROVIDER_ID),
        links: links.into_iter().filter(|l| l.source_id == COMPONENT_ID).collect(),
    })
}

fn annotation<'a>(annotations: &'a Option<std::collections::BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wadm_deploys_the_local_manifest_and_a_host_run_component_manages_the_lattice() -> Result<()> {
    lattice_control_e2e::util::logs_on_request();
    if !node_available("wadm_deploy") {
        return Ok(());
    }
    // What the manifest deploys must exist where it says: the example component and the
    // provider's PAR, packed from the freshly built binary.
    js_component().await?;
    pack_manifest_par().await?;
    let manifest = shipped_manifest()?;

    // wadm first: it starts managing a lattice when it sees a host start there.
    let nats = shared_nats()?;
    let mut wadm = TestWadm::start(nats).await?;
    let lattice = TestLattice::start(nats, 1).await?;
    let host_id = lattice.host_id(0)?.to_string();
    let ctl = lattice.ctl().clone();
    let apps = wadm.client_for(&lattice).await?;

    // 1. Deploy: the shared provider application, then the controller's that links to it.
    let deployed_at = Instant::now();
    deploy_shared_provider(&apps, &lattice, DEPLOY_TIMEOUT).await?;
    let (name, version) = apps.put_and_deploy(yaml_bytes(&manifest)?).await?;
    assert_eq!((name.as_str(), version.as_str()), (APP, "v0.2.0"));
    let status = apps.wait_deployed(APP, DEPLOY_TIMEOUT).await?;
    eprintln!("timing: deploy to status Deployed {:.1?} ({})", deployed_at.elapsed(), describe(&status));
    wadm.check_running()?;

    // wadm started the provider from the PAR; it answers health and serves wRPC.
    wait_provider_ready(&lattice, PROVIDER_ID).await?;
    let view = wait_for("the application on the host", DEPLOY_TIMEOUT, || async {
        let view = host_view(&lattice, &host_id).await?;
        Ok((view.component.is_some() && view.provider.is_some() && !view.links.is_empty()).then_some(view))
    })
    .await?;
    let provider = view.provider.context("provider")?;
    // The host reports a provider's `file://` reference as the bare path.
    let par_path = manifest_par_path().display().to_string();
    let provider_ref = provider.image_ref.as_deref().map(|r| r.strip_prefix("file://").unwrap_or(r));
    assert_eq!(provider_ref, Some(par_path.as_str()));
    assert_eq!(annotation(&provider.annotations, "wasmcloud.dev/managed-by"), Some("wadm"));
    assert_eq!(
        annotation(&provider.annotations, "wasmcloud.dev/appspec"),
        Some(lattice_control_e2e::wadm::SHARED_PROVIDER_APP),
        "the provider is the shared application's"
    );
    let component = view.component.context("component")?;
    assert_eq!(component.max_instances, 1);
    assert!(
        component.image_ref.ends_with("/examples/js-controller/dist/js-controller.wasm"),
        "{}",
        component.image_ref
    );
    assert!(component.image_ref.starts_with("file:///"), "{}", component.image_ref);
    assert_eq!(annotation(&component.annotations, "wasmcloud.dev/appspec"), Some(APP));
    // One link, from the component to the provider, with the config wadm put.
    let [link] = view.links.as_slice() else {
        bail!("expected one link of the application, found {:?}", view.links);
    };
    assert_eq!((link.source_id.as_str(), link.target.as_str()), (COMPONENT_ID, PROVIDER_ID));
    assert_eq!((link.wit_namespace.as_str(), link.wit_package.as_str()), ("wasmcloud", "lattice-control"));
    assert_eq!(link.interfaces, ["lattice-control"]);
    assert_eq!(link.name, "default");
    assert_eq!(link.target_config, [LINK_CONFIG]);
    let config = retry("get_config", CALL_RETRY, || ctl.get_config(LINK_CONFIG)).await?.context("no link config")?;
    let expected: HashMap<String, String> = [
        (KEY_ALLOW, SHIPPED_ALLOW),
        (KEY_ALLOWED_CONFIG_PREFIXES, SHIPPED_CONFIG_PREFIX),
        ("events", "component_scaled"),
    ]
    .map(|(k, v)| (k.into(), v.into()))
    .into();
    assert_eq!(config, expected);

    // 2. The component's export answers through the provider, about the lattice it runs in.
    let prefix = format!("{}.{COMPONENT_ID}", lattice.lattice());
    let wrpc =
        bounded("wRPC client", CALL_TIMEOUT, wrpc_transport_nats::Client::new(lattice.nats().clone(), prefix, None))
            .await??;
    let first = list_hosts(&wrpc, "first").await?;
    eprintln!("timing: deploy to first answer {:.2?}", deployed_at.elapsed());
    assert_eq!(first["probe"], "first");
    assert_eq!(first["lattice"], lattice.lattice());
    assert_eq!(first["source-id"], COMPONENT_ID, "the provider saw another caller");
    assert_eq!(first["link-name"], "default");
    assert_eq!(strings(&first["host-ids"]), [host_id.as_str()]);
    assert_eq!(first["policy"], reported_policy(SHIPPED_ALLOW));
    assert!(strings(&first["allowed-operations"]).contains(&"put-config"), "{first}");
    assert_eq!(strings(&first["event-subscriptions"]), ["component_scaled"], "{first}");

    // 3. A real event: another component scales; the provider pushes `component_scaled` to
    // the host-run component, which records it through the provider (put-config).
    let last_scale = format!("{COMPONENT_ID}-last-scale");
    let scaled_id = "e2e-scaled-by-test";
    let mut events = bounded("subscribing to events", CALL_TIMEOUT, ctl.events(&["component_scaled".into()])).await??;
    let scale = |max: u32| -> Result<ScaleComponentCommand> { Ok(noop_scale(&host_id, scaled_id, max)?.build()?) };
    bounded("scale_component", CALL_TIMEOUT, ctl.scale_component(scale(1)?)).await??;
    bounded("the component_scaled event", EVENT_TIMEOUT, async {
        while let Some(event) = events.next().await {
            if event?.data["component_id"] == scaled_id {
                return Ok(());
            }
        }
        bail!("the event stream ended")
    })
    .await??;
    let event_seen = Instant::now();
    let record = wait_for("the component's record of the scale", EVENT_TIMEOUT, || async {
        let record = ctl.get_config(&last_scale).await?;
        Ok(record.filter(|r| r.get("component-id").map(String::as_str) == Some(scaled_id)))
    })
    .await?;
    eprintln!(
        "timing: event to action (event published → the component's config write read back) {:.1?}",
        event_seen.elapsed()
    );
    assert_eq!(record.get("seen-by").map(String::as_str), Some(COMPONENT_ID), "{record:?}");
    assert_eq!(record.get("host-id"), Some(&host_id), "{record:?}");
    assert_eq!(record.get("max-instances").map(String::as_str), Some("1"), "{record:?}");
    bounded("scale_component to 0", CALL_TIMEOUT, ctl.scale_component(scale(0)?)).await??;
    wait_for("the test's component gone", CALL_RETRY, || async {
        let inventory = ctl.get_host_inventory(&host_id).await?;
        Ok((!inventory.components.iter().any(|c| c.id == scaled_id)).then_some(()))
    })
    .await?;

    // 4. A new version narrows the policy. wadm puts the same-named config with the new value;
    // the link is unchanged, so the host sends the provider nothing about it. Recorded, not
    // returned at once: undeploy is still measured.
    let updated = update_applies(&apps, &ctl, &wrpc, &manifest).await;
    if let Err(e) = &updated {
        eprintln!("FAILED manifest update: {e:#}");
    }

    // 5. A second application links to the same provider: one provider serves both.
    let other = other_application()?;
    apps.put_and_deploy(other).await?;
    apps.wait_deployed(OTHER_APP, DEPLOY_TIMEOUT).await?;
    let other_caller = Caller::new(lattice.nats().clone(), lattice.lattice(), PROVIDER_ID)
        .await?
        .as_component(OTHER_COMPONENT_ID, "default");
    assert_eq!(hosts_seen_by(&other_caller).await?, 1, "the second application's link");
    let inventory = ctl.get_host_inventory(&host_id).await?;
    assert_eq!(inventory.providers.len(), 1, "one provider for both applications: {:?}", inventory.providers);

    // 6. Undeploy the controller's application: its component and link go, the shared provider
    // stays and still answers the other application.
    let undeployed_at = Instant::now();
    apps.undeploy(APP).await?;
    wait_for("the host clean of the application", UNDEPLOY_TIMEOUT, || async {
        let view = host_view(&lattice, &host_id).await?;
        Ok((view.component.is_none() && view.links.is_empty()).then_some(view))
    })
    .await
    .and_then(|view| view.provider.map(drop).context("the shared provider went with the application"))?;
    eprintln!(
        "timing: undeploy to clean (no component or link; the shared provider stays) {:.1?}",
        undeployed_at.elapsed()
    );
    assert_eq!(hosts_seen_by(&other_caller).await?, 1, "the other application after the undeploy");
    apps.undeploy(OTHER_APP).await?;
    undeploy_shared_provider(&apps, &lattice, UNDEPLOY_TIMEOUT).await?;
    wait_for("no provider subscription left", UNDEPLOY_TIMEOUT, || async {
        Ok((wrpc_subscription_count(&lattice, PROVIDER_ID).await? == 0).then_some(()))
    })
    .await?;
    apps.wait_status(APP, StatusType::Undeployed, CALL_RETRY).await?;
    assert!(apps.delete(APP).await?, "delete_manifest found nothing to delete");
    // The component's own record is not wadm's: it outlives the application.
    bounded("delete_config", CALL_TIMEOUT, ctl.delete_config(&last_scale)).await??;
    wadm.check_running()?;
    drop(wadm);
    lattice.shutdown().await?;
    updated
}

/// A second application: the no-op component linked to the shared provider (default policy).
fn other_application() -> Result<Vec<u8>> {
    let image = format!("file://{}", noop_component()?.display());
    Ok(noop_app_manifest(OTHER_APP, "v0.2.0", &image, ProviderFrom::Shared))
}

/// How many hosts `caller`'s link lists through the provider, once it answers.
async fn hosts_seen_by(caller: &Caller) -> Result<usize> {
    wait_for("the link answers", DEPLOY_TIMEOUT, || async {
        let query = types::HostQuery { expected: None, full_wait: false, timeout_ms: None };
        Ok(lc::get_hosts(caller.wrpc(), caller.cx(), &query).await?.ok().map(|h| h.len()))
    })
    .await
}

/// Deploys a second version of `manifest` whose link grants only [`NARROWED_ALLOW`] and waits
/// (at most [`UPDATE_TIMEOUT`]) until the component's calls report that policy.
async fn update_applies(
    apps: &lattice_control_e2e::WadmClient,
    ctl: &ctl::Client,
    wrpc: &wrpc_transport_nats::Client,
    manifest: &Yaml,
) -> Result<()> {
    let v2 = with_allow(manifest.clone(), "v0.2.1", NARROWED_ALLOW)?;
    let updated_at = Instant::now();
    let (_, version) = apps.put_and_deploy(yaml_bytes(&v2)?).await?;
    assert_eq!(version, "v0.2.1");
    apps.wait_deployed(APP, CALL_RETRY).await?;
    // wadm's part: the named config has the new value.
    wait_for("the link config with the new allow", CALL_RETRY, || async {
        let config = ctl.get_config(LINK_CONFIG).await?;
        Ok(config.filter(|c| c.get(KEY_ALLOW).map(String::as_str) == Some(NARROWED_ALLOW)).map(drop))
    })
    .await?;
    eprintln!("timing: update deployed, link config changed {:.1?}", updated_at.elapsed());
    // The provider's part: the component's next calls see the new policy.
    let last = std::sync::Mutex::new(Value::Null);
    let seen = wait_for("the component's calls under the new policy", UPDATE_TIMEOUT, || {
        let last = &last;
        async move {
            let summary = list_hosts(wrpc, "after-update").await?;
            let applied = summary["policy"] == reported_policy(NARROWED_ALLOW);
            *last.lock().unwrap_or_else(|p| p.into_inner()) = summary;
            Ok(applied.then_some(()))
        }
    })
    .await;
    let last = last.into_inner().unwrap_or_else(|p| p.into_inner());
    match seen {
        Ok(()) => {
            eprintln!(
                "timing: manifest update applied (deploy → the component sees the policy) {:.1?}",
                updated_at.elapsed()
            );
            let summary = list_hosts(wrpc, "narrowed").await?;
            assert!(!strings(&summary["allowed-operations"]).contains(&"put-config"), "{summary}");
            Ok(())
        }
        Err(e) => Err(e.context(format!(
            "the provider still applies policy {} {:.1?} after the update (wadm changed the named config \
             {LINK_CONFIG}; the link is identical, so the host delivers nothing: the provider must follow \
             config_set of a config its link uses)",
            last["policy"],
            updated_at.elapsed()
        ))),
    }
}
