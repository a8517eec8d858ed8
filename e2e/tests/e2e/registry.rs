//! Published and pulled like a first-party provider: the PAR and a component pushed with the
//! project's own command (`tools/pack-par push`) to a real OCI registry (Debian's
//! `docker-registry` on loopback), a manifest naming the registry's references deployed by a
//! real wadm to a host that allows that registry over HTTP; the provider runs from the pulled
//! PAR and answers the linked component; a manifest version naming a second tag replaces the
//! provider. Prints push times, artifact sizes and the deploy and upgrade times.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use lattice_control_e2e::caller::{lattice_control as lc, no_options, types};
use lattice_control_e2e::registry::{push, Registry};
use lattice_control_e2e::util::{scratch_dir, wait_for};
use lattice_control_e2e::wadm::{describe, noop_app_manifest, ProviderFrom};
use lattice_control_e2e::{
    noop_component, pack_par, provider_bin, shared_nats, wait_provider_ready, Caller, TestLattice, TestWadm,
};

const APP: &str = "registry-e2e";
/// wadm's ids: `{app}-{component}`, `-` turned into `_` in each part.
const COMPONENT_ID: &str = "registry_e2e-noop";
const PROVIDER_ID: &str = "registry_e2e-lattice_control";
const REPOSITORY: &str = "lattice-control";
/// Deploy to `Deployed`, the PAR pulled and started (debug build: ~70 MB uncompressed).
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(180);

fn manifest(version: &str, component: &str, provider: &str) -> Vec<u8> {
    noop_app_manifest(APP, version, component, ProviderFrom::Image(provider))
}

/// The image the host reports for the provider, once it runs one.
async fn provider_image(lattice: &TestLattice, host: &str) -> Result<Option<String>> {
    let inventory = lattice.ctl().get_host_inventory(host).await?;
    Ok(inventory.providers.into_iter().find(|p| p.id == PROVIDER_ID).and_then(|p| p.image_ref))
}

/// The component's link answers: `provider-info` and `get-hosts` through the provider.
async fn answers(caller: &Caller) -> Result<usize> {
    wait_for("the component's link answers", Duration::from_secs(30), || async {
        let Ok(Ok(_)) = lc::provider_info(caller.wrpc(), caller.cx(), &no_options()).await else {
            return Ok(None);
        };
        let query = types::HostQuery { expected: None, full_wait: false, timeout_ms: None };
        Ok(lc::get_hosts(caller.wrpc(), caller.cx(), &query).await?.ok().map(|h| h.len()))
    })
    .await
}

fn size_mib(path: &std::path::Path) -> Result<f64> {
    Ok(std::fs::metadata(path)?.len() as f64 / (1024.0 * 1024.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushed_with_our_tool_pulled_by_the_host_through_wadm() -> Result<()> {
    let Some(registry) = Registry::start("registry")? else {
        return Ok(());
    };
    // Two PAR builds (fresh signatures): the second tag is what a manifest update deploys.
    let dir = scratch_dir()?;
    let (par_a, par_b) = (dir.join("registry-a.par.gz"), dir.join("registry-b.par.gz"));
    pack_par(&provider_bin()?, &par_a).await?;
    pack_par(&provider_bin()?, &par_b).await?;
    let (ref_a, ref_b) = (registry.reference(REPOSITORY, "0.2.0"), registry.reference(REPOSITORY, "0.2.1"));
    let component_ref = registry.reference("noop", "0.1.0");
    lattice_control_e2e::registry::pack_par_tool()?;
    for (artifact, reference) in [(&par_a, &ref_a), (&par_b, &ref_b), (&noop_component()?, &component_ref)] {
        let started = Instant::now();
        let digest = push(artifact, reference)?;
        eprintln!("timing: push {reference} ({:.1} MiB) {:.2?} -> {digest}", size_mib(artifact)?, started.elapsed());
        assert!(digest.starts_with("sha256:"), "{digest}");
    }
    let tags = registry.tags(REPOSITORY)?;
    assert!(tags.contains("0.2.0") && tags.contains("0.2.1"), "{tags}");

    let nats = shared_nats()?;
    let mut wadm = TestWadm::start(nats).await?;
    let mut lattice = TestLattice::start(nats, 0).await?;
    let insecure = registry.addr().to_string();
    lattice.add_host_with(|c| c.oci_opts.allowed_insecure = vec![insecure]).await?;
    let host = lattice.host_id(0)?.to_string();
    let apps = wadm.client_for(&lattice).await?;

    let started = Instant::now();
    apps.put_and_deploy(manifest("v0.2.0", &component_ref, &ref_a)).await?;
    let status = apps.wait_deployed(APP, DEPLOY_TIMEOUT).await?;
    wait_provider_ready(&lattice, PROVIDER_ID).await?;
    eprintln!("timing: deploy from the registry to a ready provider {:.1?} ({})", started.elapsed(), describe(&status));
    assert_eq!(provider_image(&lattice, &host).await?.as_deref(), Some(ref_a.as_str()));
    let inventory = lattice.ctl().get_host_inventory(&host).await?;
    let component = inventory.components.iter().find(|c| c.id == COMPONENT_ID).context("component not running")?;
    assert_eq!(component.image_ref, component_ref, "the component came from the registry");
    let caller = Caller::new(lattice.nats().clone(), lattice.lattice(), PROVIDER_ID)
        .await?
        .as_component(COMPONENT_ID, "default");
    assert_eq!(answers(&caller).await?, 1, "get-hosts through the pulled provider");

    // A manifest version naming the second tag replaces the provider.
    let started = Instant::now();
    apps.put_and_deploy(manifest("v0.2.1", &component_ref, &ref_b)).await?;
    wait_for("the provider from the second tag", DEPLOY_TIMEOUT, || async {
        Ok((provider_image(&lattice, &host).await?.as_deref() == Some(ref_b.as_str())).then_some(()))
    })
    .await?;
    wait_provider_ready(&lattice, PROVIDER_ID).await?;
    assert_eq!(answers(&caller).await?, 1, "get-hosts through the upgraded provider");
    eprintln!("timing: manifest update to the second tag answering {:.1?}", started.elapsed());

    apps.undeploy(APP).await?;
    wait_for("the provider gone", DEPLOY_TIMEOUT, || async {
        Ok(provider_image(&lattice, &host).await?.is_none().then_some(()))
    })
    .await?;
    wadm.check_running()?;
    drop(wadm);
    lattice.shutdown().await?;
    drop(registry);
    Ok(())
}

#[test]
fn refused_artifacts_name_the_reason() -> Result<()> {
    let Some(registry) = Registry::start("registry")? else {
        return Ok(());
    };
    let junk = scratch_dir()?.join("not-an-artifact.bin");
    std::fs::write(&junk, b"neither a component nor a PAR")?;
    let err = push(&junk, &registry.reference("junk", "0.1.0")).err().ok_or_else(|| anyhow!("junk pushed"))?;
    assert!(format!("{err:#}").contains("neither a Wasm component nor a provider archive"), "{err:#}");
    let err = push(&noop_component()?, &registry.reference("noop", "latest")).err().context("latest pushed")?;
    if !format!("{err:#}").contains("latest") {
        bail!("expected the latest tag refused: {err:#}");
    }
    Ok(())
}
