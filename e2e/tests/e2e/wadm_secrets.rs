//! `secrets.wadm.yaml` as a user deploys it, through a real wadm (in-process): the link manages
//! another lattice on an operator-mode NATS server, with its credentials as secrets.
//!
//! 1. On a host without a secrets backend (what a user gets before the set-up): wadm reports
//!    the application deployed, the host acks the link and never delivers it; the component's
//!    call is answered `not-linked` with why (the link names secrets, no backend), not left
//!    without an answer.
//! 2. After exactly the set-up steps the manifest's header lists: a real `secrets-nats-kv`
//!    backend, the host started with its secrets topic, the two credentials stored, the
//!    provider's service key mapped to them, `lattice` and `nats_url` set. The component's call
//!    then lists the managed lattice's host: the credentials arrived as secrets and the link
//!    connected to the operator-mode server with them.
//!
//! The images are replaced by the local builds (the one edit the manifest asks for, made here
//! with `file://` references instead of a registry). Needs `node` and `npm`.

use std::sync::Arc;
use std::time::Duration;

use crate::support::operator::{managed_host, OperatorNats};
use crate::support::secrets::{SecretsBackend, SECRETS_PREFIX};
use anyhow::{bail, Context as _, Result};
use lattice_control_e2e::js::{js_component, node_or_skip, summary};
use lattice_control_e2e::par::product_root;
use lattice_control_e2e::provider::wait_provider_ready;
use lattice_control_e2e::util::{unique_name, wait_for};
use lattice_control_e2e::wadm::{normalize, pack_manifest_par, StatusType};
use lattice_control_e2e::{bounded, shared_nats, TestLattice, TestWadm, WadmClient, CALL_TIMEOUT};
use serde_json::Value;

const MANIFEST: &str = "secrets.wadm.yaml";
const APP: &str = "lattice-control-remote";
const COMPONENT_ID: &str = "lattice_control_remote-js_controller";
const PROVIDER_ID: &str = "lattice_control_remote-lattice_control";
/// What the shipped manifest names, and the user replaces.
const COMPONENT_IMAGE: &str = "ghcr.io/example/lattice-control/js-controller:0.2.0";
const PROVIDER_IMAGE: &str = "ghcr.io/example/lattice-control/provider:0.2.0";
const SHIPPED_LATTICE: &str = "lattice: managed\n";
const SHIPPED_NATS_URL: &str = "nats_url: nats://managed-nats.example.com:4222\n";
/// The secret keys of the manifest's `secrets:` block (step 3 of its header).
const JWT_KEY: &str = "lattice-control-nats-jwt";
const SEED_KEY: &str = "lattice-control-nats-seed";

const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(90);

/// The shipped manifest with the user's edits: local images, the managed lattice and its server.
fn edited_manifest(component: &str, par: &str, lattice: &str, nats_url: &str) -> Result<Vec<u8>> {
    let path = product_root().join(MANIFEST);
    let mut text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    for (from, to) in [
        (COMPONENT_IMAGE, format!("file://{component}")),
        (PROVIDER_IMAGE, format!("file://{par}")),
        (SHIPPED_LATTICE, format!("lattice: {lattice}\n")),
        (SHIPPED_NATS_URL, format!("nats_url: {nats_url}\n")),
    ] {
        // Image lines plus the header's mention of the prefix: replace the manifest's values only.
        let value_lines = text.lines().filter(|l| l.trim_start().ends_with(from.trim_end())).count();
        if value_lines != 1 || !text.contains(from) {
            bail!("{MANIFEST}: expected `{}` once as a value, found {value_lines}", from.trim_end());
        }
        text = text.replacen(&format!(" {from}"), &format!(" {to}"), 1);
    }
    Ok(text.into_bytes())
}

/// The component's answer to `summary.list-hosts` once it gives one (the component and the
/// provider's subscriptions settle first): `Ok(json)` or the component's error text.
async fn first_answer(lattice: &TestLattice, probe: &str) -> Result<Result<Value, String>> {
    let wrpc = bounded(
        "wRPC client",
        CALL_TIMEOUT,
        wrpc_transport_nats::Client::new(lattice.nats().clone(), format!("{}.{COMPONENT_ID}", lattice.lattice()), None),
    )
    .await??;
    let answer = wait_for("an answer from the component", ANSWER_TIMEOUT, || async {
        Ok(bounded("summary.list-hosts", CALL_TIMEOUT, summary::list_hosts(&wrpc, None, probe)).await?.ok())
    })
    .await?;
    Ok(match answer {
        Ok(json) => Ok(serde_json::from_str(&json).with_context(|| format!("not JSON: {json}"))?),
        Err(e) => Err(e),
    })
}

async fn deploy(apps: &WadmClient, manifest: Vec<u8>) -> Result<()> {
    apps.deploy_and_wait(APP, manifest, DEPLOY_TIMEOUT).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_secrets_manifest_explains_a_missing_backend_and_works_after_the_documented_set_up() -> Result<()> {
    if !node_or_skip("wadm_secrets")? {
        return Ok(());
    }
    let component = normalize(&js_component().await?).display().to_string();
    let par = pack_manifest_par().await?;
    let par_text = par.display().to_string();

    // The lattice to manage: operator mode, one host; a user of its account for the link.
    let server = OperatorNats::start()?;
    let managed = unique_name("managed");
    let managed_key = Arc::new(nkeys::KeyPair::new_server());
    let managed_id = managed_key.public_key();
    let (managed_host, stop_managed) = managed_host(&server, &managed, &server.new_user("host")?, managed_key).await?;
    let user = server.new_user("lattice-control")?;
    let manifest = edited_manifest(&component, &par_text, &managed, &server.url())?;

    let nats = shared_nats()?;
    let mut wadm = TestWadm::start(nats).await?;

    // 1. No secrets backend yet.
    let bare = TestLattice::start(nats, 1).await?;
    let apps = wadm.client_for(&bare).await?;
    deploy(&apps, manifest.clone()).await?;
    wait_provider_ready(&bare, PROVIDER_ID).await?;
    let refused = first_answer(&bare, "no-backend").await?;
    let message = refused.err().context("answered without a secrets backend")?;
    eprintln!("without a backend the component got: {message}");
    let error: Value =
        serde_json::from_str(&message).with_context(|| format!("not the component's error JSON: {message}"))?;
    assert_eq!(error["error"], "not-linked", "{message}");
    let why = error["message"].as_str().unwrap_or_default();
    assert!(why.contains("never delivered") && why.contains("secrets backend"), "{why}");
    apps.undeploy(APP).await?;
    apps.wait_status(APP, StatusType::Undeployed, ANSWER_TIMEOUT).await?;
    bare.shutdown().await?;

    // 2. The set-up of the manifest's header, step by step.
    let mut home = TestLattice::start(nats, 0).await?;
    // 1: the backend beside the lattice.
    let backend = SecretsBackend::start(home.nats()).await?;
    // 2: the host started with its secrets topic.
    home.add_host_with(|c| c.secrets_topic_prefix = Some(SECRETS_PREFIX.to_string())).await?;
    // 3: the credentials stored.
    backend.put(JWT_KEY, &user.jwt).await?;
    backend.put(SEED_KEY, &user.seed).await?;
    // 4: the provider's service key mapped to them.
    backend.map_provider(&par, &[JWT_KEY, SEED_KEY]).await?;
    // 5 (`lattice`, `nats_url`) is in `manifest`.
    let apps = wadm.client_for(&home).await?;
    deploy(&apps, manifest).await?;
    wait_provider_ready(&home, PROVIDER_ID).await?;
    let answer = first_answer(&home, "with-backend").await?.map_err(|e| anyhow::anyhow!("component error: {e}"))?;
    assert_eq!(answer["lattice"], managed.as_str(), "{answer}");
    assert_eq!(answer["host-ids"], serde_json::json!([managed_id]), "{answer}");
    assert_eq!(answer["source-id"], COMPONENT_ID, "{answer}");

    apps.undeploy(APP).await?;
    apps.wait_status(APP, StatusType::Undeployed, ANSWER_TIMEOUT).await?;
    wadm.check_running()?;
    drop(wadm);
    drop(backend);
    home.shutdown().await?;
    drop(managed_host);
    let _ = bounded("managed host shutdown", Duration::from_secs(10), stop_managed).await;
    Ok(())
}
