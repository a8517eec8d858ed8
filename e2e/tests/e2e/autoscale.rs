//! The closed loop: `examples/autoscaler/local.wadm.yaml` deployed through a real wadm beside the
//! shared provider (its config naming an `otlp_listen` address the in-process host exports its
//! own metrics to, see `load.rs`); a component that holds each call for a while runs with
//! `max_instances` 1 and is called by 8 callers at once. The provider publishes
//! `component_load`, the autoscaler raises the component's instances, the calls' p99 falls;
//! once the calls stop it lowers them again. Runs in a process of its own.

use std::time::Duration;

use anyhow::Result;
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{bounded, shared_nats, TestLattice, CALL_TIMEOUT};
use lattice_control_provider::provider::load::http;

use super::load::{export_metrics, EXPORT_EVERY};

const HOLD: &str = "load-hold";
const AUTOSCALER_APP: &str = "lattice-autoscaler";
/// Callers of the hold component at once.
const CALLERS: usize = 8;
/// How often the provider publishes `component_load` here (its `load_interval_ms`).
const LOAD_EVERY: Duration = Duration::from_millis(1000);
/// The autoscaler's cool-down here (its `autoscale_cooldown_ms`).
const COOLDOWN: Duration = Duration::from_secs(3);
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);
const SCALE_TIMEOUT: Duration = Duration::from_secs(90);

/// One call of the hold component: when it started, how long it took, whether it was answered.
#[derive(Clone, Copy, Debug)]
struct Call {
    started: std::time::Instant,
    took: Duration,
    ok: bool,
}

/// Calls the hold component from `CALLERS` tasks until `stop`; every call is recorded.
fn drive(
    nats: async_nats::Client,
    lattice: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<Result<Vec<Call>>>> {
    (0..CALLERS)
        .map(|_| {
            let (nats, lattice, stop) = (nats.clone(), lattice.clone(), stop.clone());
            tokio::spawn(async move {
                let client = wrpc_transport_nats::Client::new(nats, format!("{lattice}.{HOLD}"), None).await?;
                let mut calls = Vec::new();
                while !*stop.borrow() {
                    let started = std::time::Instant::now();
                    let call = wrpc_transport::InvokeExt::invoke_values_blocking::<_, (), ()>(
                        &client,
                        None,
                        "lattice-control-e2e:hold/api",
                        "hold",
                        (),
                        &[[None::<usize>; 0]; 0],
                    );
                    let ok = matches!(tokio::time::timeout(CALL_TIMEOUT, call).await, Ok(Ok(_)));
                    calls.push(Call { started, took: started.elapsed(), ok });
                    if !ok {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                Ok(calls)
            })
        })
        .collect()
}

/// The 99th percentile of the answered calls' times, and how many calls it covers.
fn p99(calls: &[&Call]) -> (Option<Duration>, usize) {
    let mut took: Vec<Duration> = calls.iter().filter(|c| c.ok).map(|c| c.took).collect();
    took.sort();
    let at = (took.len() * 99).div_ceil(100).saturating_sub(1);
    (took.get(at).copied(), took.len())
}

/// The hold component's `max_instances` on `host` (0: not running).
async fn instances(ctl: &lattice_control_provider::ctl::Client, host: &str) -> Result<u32> {
    let inventory = bounded("host inventory", CALL_TIMEOUT, ctl.get_host_inventory(host)).await??;
    Ok(inventory.components.iter().find(|c| c.id == HOLD).map_or(0, |c| c.max_instances))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_autoscaler_component_raises_and_lowers_a_saturated_component() -> Result<()> {
    use lattice_control_e2e::js::{node_or_skip, AUTOSCALER};
    use lattice_control_e2e::wadm::{deployable_manifest, pack_manifest_par, SHARED_PROVIDER_APP, SHARED_PROVIDER_ID};
    if !node_or_skip("load")? {
        return Ok(());
    }
    AUTOSCALER.build().await?;
    pack_manifest_par().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let meters = export_metrics(format!("http://127.0.0.1:{port}{}", http::METRICS_PATH), EXPORT_EVERY)?;

    let nats = shared_nats()?;
    let mut wadm = lattice_control_e2e::TestWadm::start(nats).await?;
    let lattice = TestLattice::start(nats, 1).await?;
    let (ctl, host) = (lattice.ctl().clone(), lattice.host_id(0)?.to_string());
    let apps = wadm.client_for(&lattice).await?;
    // the shared provider, its config naming the receiver's address and the report interval
    let mut provider = deployable_manifest(&lattice_control_e2e::par::product_root().join("provider.wadm.yaml"))?;
    provider["spec"]["components"][0]["properties"]["config"] = serde_yaml::from_str(&format!(
        "- name: lattice-control-load\n  properties:\n    otlp_listen: \"127.0.0.1:{port}\"\n    load_interval_ms: \"{}\"\n",
        LOAD_EVERY.as_millis()
    ))?;
    apps.put_and_deploy(serde_yaml::to_string(&provider)?.into_bytes()).await?;
    apps.wait_deployed(SHARED_PROVIDER_APP, DEPLOY_TIMEOUT).await?;
    lattice_control_e2e::wait_provider_ready(&lattice, SHARED_PROVIDER_ID).await?;
    // the autoscaler's manifest as shipped, with a shorter cool-down and only the hold component
    let mut manifest = deployable_manifest(&AUTOSCALER.dir().join("local.wadm.yaml"))?;
    let link = &mut manifest["spec"]["components"][0]["traits"][1]["properties"]["target"]["config"][0]["properties"];
    anyhow::ensure!(link.get("events").is_some(), "the autoscaler's link config moved in its manifest");
    link["autoscale_cooldown_ms"] = COOLDOWN.as_millis().to_string().into();
    link["autoscale_components"] = HOLD.into();
    apps.deploy_and_wait(AUTOSCALER_APP, serde_yaml::to_string(&manifest)?.into_bytes(), DEPLOY_TIMEOUT).await?;

    let scale = lattice_control_provider::ctl::ScaleComponentCommand::builder()
        .host_id(&host)
        .component_ref(lattice_control_e2e::component::hold_component_ref()?)
        .component_id(HOLD)
        .max_instances(1)
        .build()?;
    bounded(
        "scaling the hold component",
        CALL_TIMEOUT * 3,
        ctl.scale_component_and_wait(scale, Duration::from_secs(30)),
    )
    .await??;

    // saturate it
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let t0 = std::time::Instant::now();
    let callers = drive(lattice.nats().clone(), lattice.lattice().to_string(), stopped);
    let raised = wait_for("the autoscaler raising max_instances", SCALE_TIMEOUT, || async {
        let n = instances(&ctl, &host).await?;
        Ok((n > 1).then_some(n))
    })
    .await;
    let raised = match raised {
        Ok(n) => n,
        Err(error) => {
            // what the autoscaler recorded says why
            for name in [format!("autoscaler-{HOLD}"), "autoscaler-lattice_autoscaler-autoscaler".to_string()] {
                let record = ctl.get_config(&name).await;
                eprintln!("config {name}: {record:?}");
            }
            return Err(error);
        }
    };
    let t_raised = t0.elapsed();
    let record = bounded("the decision record", CALL_TIMEOUT, ctl.get_config(&format!("autoscaler-{HOLD}"))).await??;
    let record = record.unwrap_or_default();
    // calls after the raise: long enough for a p99 of their own
    tokio::time::sleep(Duration::from_secs(8)).await;
    let _ = stop.send(true);
    let t_stop = t0.elapsed();
    let mut calls = Vec::new();
    for caller in callers {
        calls.extend(bounded("a caller", CALL_TIMEOUT * 2, caller).await???);
    }
    let lowered = wait_for("the autoscaler lowering max_instances to 1", SCALE_TIMEOUT, || async {
        let n = instances(&ctl, &host).await?;
        Ok((n == 1).then_some(n))
    })
    .await?;
    let t_lowered = t0.elapsed();
    let last = bounded("the last decision record", CALL_TIMEOUT, ctl.get_config(&format!("autoscaler-{HOLD}")))
        .await??
        .unwrap_or_default();

    let before: Vec<&Call> = calls.iter().filter(|c| c.started.duration_since(t0) + c.took < t_raised).collect();
    let after: Vec<&Call> =
        calls.iter().filter(|c| c.started.duration_since(t0) > t_raised + Duration::from_secs(2)).collect();
    let (p99_before, n_before) = p99(&before);
    let (p99_after, n_after) = p99(&after);
    let failed = calls.iter().filter(|c| !c.ok).count();
    let failed_at: Vec<String> =
        calls.iter().filter(|c| !c.ok).map(|c| format!("{:.1}", c.started.duration_since(t0).as_secs_f64())).collect();
    let get = |r: &std::collections::HashMap<String, String>, k: &str| r.get(k).cloned().unwrap_or_default();
    println!("closed loop ({CALLERS} callers, component with max_instances 1, reports every {LOAD_EVERY:?}, host exports every {EXPORT_EVERY:?}):");
    println!("  0.0 s  calls start: the component saturates");
    println!(
        "  decision: {} from {} to {} at saturation {} after {} reports (p99 then {} ms), recorded {}",
        get(&record, "action"),
        get(&record, "from"),
        get(&record, "to"),
        get(&record, "saturation"),
        get(&record, "intervals"),
        get(&record, "p99_ms"),
        get(&record, "at")
    );
    println!("  {:.1} s  max_instances {raised} seen on the host", t_raised.as_secs_f64());
    println!("  p99 of calls before the raise: {p99_before:?} ({n_before} calls); from 2 s after it: {p99_after:?} ({n_after} calls)");
    println!(
        "  {:.1} s  calls stop ({} calls, {failed} failed, started at {failed_at:?} s)",
        t_stop.as_secs_f64(),
        calls.len()
    );
    println!(
        "  {:.1} s  max_instances back to {lowered} (last decision: {} from {} to {})",
        t_lowered.as_secs_f64(),
        get(&last, "action"),
        get(&last, "from"),
        get(&last, "to")
    );
    anyhow::ensure!(get(&record, "action") == "raise", "first decision: {record:?}");
    let intervals: u32 = get(&record, "intervals").parse().unwrap_or_default();
    anyhow::ensure!(intervals >= 2, "raised after {intervals} saturated reports: {record:?}");
    let saturation: f64 = get(&record, "saturation").parse().unwrap_or_default();
    anyhow::ensure!(saturation >= 0.8, "raised at saturation {saturation}: {record:?}");
    anyhow::ensure!(get(&last, "action") == "lower", "last decision: {last:?}");
    // the host serves a rescaled component anew: each caller's call waiting at that moment may
    // be lost (the caller's bound ends it), no more
    anyhow::ensure!(failed <= CALLERS, "{failed} calls failed, at {failed_at:?} s");
    match (p99_before, p99_after) {
        (Some(b), Some(a)) => anyhow::ensure!(a < b, "p99 did not fall: {b:?} before, {a:?} after"),
        other => anyhow::bail!("too few calls for a p99 on both sides: {other:?}"),
    }

    apps.undeploy(AUTOSCALER_APP).await?;
    lattice_control_e2e::wadm::undeploy_shared_provider(&apps, &lattice, SCALE_TIMEOUT).await?;
    wadm.check_running()?;
    drop(wadm);
    let _ = meters.shutdown();
    lattice.shutdown().await
}
