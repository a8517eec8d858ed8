//! Draining a host from inside the lattice: `examples/drain-controller/local.wadm.yaml` deployed
//! through a real wadm (in-process) as `wash app deploy` sends it, on a lattice of three real
//! hosts. The controller is a host-run JavaScript component that only reacts to lattice events
//! the provider pushes to it (`labels_changed`, `component_scaled`) and acts through the provider.
//!
//! 1. Two components run on the second host (2 instances with an annotation, and 1).
//! 2. The label `drain=true` is put on that host (as `wash label` does): both components leave
//!    it for the other hosts with their instance counts and annotations, and the host gets
//!    `drain-status=drained`.
//! 3. Cordoned: a component scaled up on the drained host is moved off it again.
//! 4. Deleting `drain` un-cordons the host: `drain-status` goes away.
//! 5. Undeploy leaves no provider or component of the application.
//!
//! Needs `node` and `npm` (the example's `build.sh`); without them it says so and passes,
//! except in CI.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use lattice_control_e2e::js::{node_or_skip, DRAIN_CONTROLLER};
use lattice_control_e2e::provider::wait_provider_ready;
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::wadm::{
    deploy_shared_provider, deployable_manifest, pack_manifest_par, undeploy_shared_provider, StatusType,
    SHARED_PROVIDER_ID,
};
use lattice_control_e2e::{bounded, noop_scale, shared_nats, TestLattice, TestWadm, CALL_TIMEOUT};
use lattice_control_provider::ctl::{self, ScaleComponentCommand};

/// The application and the ids wadm derives for it.
const APP: &str = "lattice-drain";
const CONTROLLER_ID: &str = "lattice_drain-drain_controller";
/// The shared provider the manifest links to (`provider.wadm.yaml`).
const PROVIDER_ID: &str = SHARED_PROVIDER_ID;

/// The host compiles the ~13 MB component first.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);
/// A drain pass: an auction and two scale-and-waits per component, behind the event delivery.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

const A: &str = "drain-e2e-a";
const B: &str = "drain-e2e-b";
const C: &str = "drain-e2e-late";

fn scale(host_id: &str, id: &str, instances: u32, annotations: &[(&str, &str)]) -> Result<ScaleComponentCommand> {
    Ok(noop_scale(host_id, id, instances)?
        .annotations(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>())
        .build()?)
}

/// Instances of `id` per host, and the annotations each host runs it with.
async fn placement(
    ctl: &ctl::Client,
    hosts: &[String],
    id: &str,
) -> Result<BTreeMap<String, (u32, BTreeMap<String, String>)>> {
    let mut out = BTreeMap::new();
    for host in hosts {
        let inventory = ctl.get_host_inventory(host).await?;
        if let Some(c) = inventory.components.iter().find(|c| c.id == id) {
            out.insert(host.clone(), (c.max_instances, c.annotations.clone().unwrap_or_default()));
        }
    }
    Ok(out)
}

async fn labels(ctl: &ctl::Client, host: &str) -> Result<BTreeMap<String, String>> {
    Ok(ctl.get_host_inventory(host).await?.labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_run_controller_drains_a_labelled_host_and_keeps_it_cordoned() -> Result<()> {
    if !node_or_skip("drain")? {
        return Ok(());
    }
    DRAIN_CONTROLLER.build().await?;
    pack_manifest_par().await?;
    let manifest = deployable_manifest(&DRAIN_CONTROLLER.dir().join("local.wadm.yaml"))?;

    let nats = shared_nats()?;
    let mut wadm = TestWadm::start(nats).await?;
    // One host while wadm deploys (the controller and provider land there), two more after.
    let mut lattice = TestLattice::start(nats, 1).await?;
    let ctl = lattice.ctl().clone();
    let apps = wadm.client_for(&lattice).await?;
    let deployed_at = Instant::now();
    deploy_shared_provider(&apps, &lattice, DEPLOY_TIMEOUT).await?;
    apps.deploy_and_wait(APP, serde_yaml::to_string(&manifest)?.into_bytes(), DEPLOY_TIMEOUT).await?;
    eprintln!("timing: both applications deployed {:.1?}", deployed_at.elapsed());
    wait_provider_ready(&lattice, PROVIDER_ID).await?;
    lattice.add_host().await?;
    lattice.add_host().await?;
    let hosts = lattice.host_ids();
    let drained = hosts[1].clone();
    wait_for("three hosts answering", SETTLE_TIMEOUT, || async {
        Ok((ctl.get_hosts().await?.len() == 3).then_some(()))
    })
    .await?;
    // The controller runs where wadm put it, on the first host.
    let controller = placement(&ctl, &hosts, CONTROLLER_ID).await?;
    assert_eq!(controller.keys().collect::<Vec<_>>(), [&hosts[0]], "controller placement {controller:?}");

    // 1. Two components on the host to drain.
    bounded("scale a", CALL_TIMEOUT, ctl.scale_component(scale(&drained, A, 2, &[("team", "e2e")])?)).await??;
    bounded("scale b", CALL_TIMEOUT, ctl.scale_component(scale(&drained, B, 1, &[])?)).await??;
    wait_for("both components on the host to drain", SETTLE_TIMEOUT, || async {
        let a = placement(&ctl, &hosts, A).await?;
        let b = placement(&ctl, &hosts, B).await?;
        Ok((a.contains_key(&drained) && b.contains_key(&drained)).then_some(()))
    })
    .await?;

    // 2. Cordon and drain.
    let labelled_at = Instant::now();
    bounded("put-label drain=true", CALL_TIMEOUT, ctl.put_label(&drained, "drain", "true")).await??;
    wait_for("drain-status=drained on the host", DRAIN_TIMEOUT, || async {
        let labels = labels(&ctl, &drained).await?;
        Ok((labels.get("drain-status").map(String::as_str) == Some("drained")).then_some(()))
    })
    .await?;
    eprintln!("timing: label put to drain-status=drained {:.1?}", labelled_at.elapsed());
    let a = placement(&ctl, &hosts, A).await?;
    let b = placement(&ctl, &hosts, B).await?;
    eprintln!("after the drain: {A} {a:?}, {B} {b:?}");
    assert!(!a.contains_key(&drained) && !b.contains_key(&drained), "still on the drained host: {a:?} {b:?}");
    assert_eq!(a.values().map(|(n, _)| n).sum::<u32>(), 2, "{A}: {a:?}");
    assert_eq!(b.values().map(|(n, _)| n).sum::<u32>(), 1, "{B}: {b:?}");
    assert!(a.values().all(|(_, ann)| ann.get("team").map(String::as_str) == Some("e2e")), "annotations lost: {a:?}");
    // Spread: the two components went to the two other hosts, one each.
    assert_ne!(a.keys().next(), b.keys().next(), "both moved to one host: {a:?} {b:?}");

    // 3. Cordoned: a component scaled up there later is moved again.
    let late_at = Instant::now();
    bounded("scale late", CALL_TIMEOUT, ctl.scale_component(scale(&drained, C, 1, &[])?)).await??;
    let moved = wait_for("the late component moved off the drained host", DRAIN_TIMEOUT, || async {
        let c = placement(&ctl, &hosts, C).await?;
        Ok((!c.is_empty() && !c.contains_key(&drained)).then_some(c))
    })
    .await?;
    eprintln!("timing: scaled on the cordoned host to moved off it {:.1?} ({moved:?})", late_at.elapsed());
    assert_eq!(moved.values().map(|(n, _)| n).sum::<u32>(), 1);

    // 4. Un-cordon.
    bounded("delete-label drain", CALL_TIMEOUT, ctl.delete_label(&drained, "drain")).await??;
    wait_for("drain-status removed", DRAIN_TIMEOUT, || async {
        Ok((!labels(&ctl, &drained).await?.contains_key("drain-status")).then_some(()))
    })
    .await?;

    // 5. Undeploy: the controller goes, the shared provider stays until its own application is
    // undeployed; the moved components are not wadm's.
    apps.undeploy(APP).await?;
    wait_for("the controller gone", SETTLE_TIMEOUT, || async {
        Ok(placement(&ctl, &hosts, CONTROLLER_ID).await?.is_empty().then_some(()))
    })
    .await?;
    apps.wait_status(APP, StatusType::Undeployed, SETTLE_TIMEOUT).await?;
    undeploy_shared_provider(&apps, &lattice, SETTLE_TIMEOUT).await?;
    wadm.check_running()?;
    drop(wadm);
    lattice.shutdown().await
}
