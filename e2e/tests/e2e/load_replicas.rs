//! Component load through the provider on a real lattice of two hosts and two replicas (the
//! hosts' own metrics, see `load.rs`). Runs in a process of its own.

use std::time::Duration;

use anyhow::Result;
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{bounded, shared_nats, TestLattice, CALL_TIMEOUT};
use lattice_control_provider::provider::load::http;

use lattice_control_e2e::noop_scale;

use super::load::{call_noop, export_metrics, COMPONENT, EXPORT_EVERY, SEEN_WITHIN};

/// The provider's answer to `get-component-load` through `caller`'s link.
async fn report(
    caller: &lattice_control_e2e::Caller,
    component: &str,
) -> Result<lattice_control_e2e::caller::load::LoadReport> {
    use lattice_control_e2e::caller::{error_kind, lattice_control as lc, load};
    let query = load::LoadQuery { component_id: Some(component.to_string()), host_id: None };
    let answer =
        bounded("get-component-load", CALL_TIMEOUT, lc::get_component_load(caller.wrpc(), caller.cx(), &query))
            .await??;
    answer.map_err(|e| anyhow::anyhow!("get-component-load: {}: {e:?}", error_kind(&e)))
}

/// Ingestion through the provider on a real lattice, two hosts and two replicas: the hosts
/// export to the receiver of the first replica only (its config names `otlp_listen`).
/// `get-component-load` counts the calls the test made and shows each host's `max_instances`;
/// `component_load` events reach a subscribed link once per interval (two replicas publish);
/// with the first replica stopped the second still answers for both hosts (the exports were
/// shared), and a host that stops leaves the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_component_load_answers_for_the_lattice_from_any_replica() -> Result<()> {
    use lattice_control_e2e::{put_config, put_provider_link, stand_in, start_provider, stop_provider, Caller};
    const PROVIDER: &str = "lc-load";
    const CALLS: usize = 40;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let meters = export_metrics(format!("http://127.0.0.1:{port}{}", http::METRICS_PATH), EXPORT_EVERY)?;
    let mut lattice = TestLattice::start(shared_nats()?, 2).await?;
    let hosts = lattice.host_ids();
    let listen = format!("127.0.0.1:{port}");
    put_config(&lattice, "lc-load-receiver", &[("otlp_listen", &listen), ("load_interval_ms", "1000")]).await?;
    put_config(&lattice, "lc-load-plain", &[("load_interval_ms", "1000")]).await?;
    start_provider(&lattice, 0, PROVIDER, &["lc-load-receiver"]).await?;
    start_provider(&lattice, 1, PROVIDER, &["lc-load-plain"]).await?;
    for (host, max) in [(&hosts[0], 4), (&hosts[1], 2)] {
        let scale = noop_scale(host, COMPONENT, max)?.build()?;
        bounded(
            "scaling the no-op component",
            CALL_TIMEOUT * 3,
            lattice.ctl().scale_component_and_wait(scale, Duration::from_secs(30)),
        )
        .await??;
    }
    put_config(&lattice, "lc-load-link", &[("lattice", lattice.lattice()), ("events", "component_load")]).await?;
    put_provider_link(&lattice, "load-watcher", "default", PROVIDER, &["lc-load-link"]).await?;
    let (mut events, _serving) =
        stand_in::serve(lattice.nats(), lattice.lattice(), "load-watcher", Duration::ZERO).await?;
    let caller =
        Caller::new(lattice.nats().clone(), lattice.lattice(), PROVIDER).await?.as_component("load-watcher", "default");

    // both hosts reported before the calls: the calls fall inside the window
    wait_for("both hosts in the report", SEEN_WITHIN, || async {
        let r = report(&caller, COMPONENT).await.ok();
        Ok(r.filter(|r| r.per_host.len() == 2))
    })
    .await?;
    call_noop(lattice.nats(), lattice.lattice(), CALLS).await?;
    let last = std::sync::Mutex::new(None);
    let counted = wait_for("the calls counted", SEEN_WITHIN, || async {
        let r = report(&caller, COMPONENT).await?;
        // each host's rate over its own window, as a count
        let sum: f64 = r.per_host.iter().map(|l| l.invocations_per_second * l.window_ms as f64 / 1000.0).sum();
        let done = (sum - CALLS as f64).abs() < 0.5;
        *last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((sum, r.clone()));
        Ok(done.then_some(r))
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!("{e:#}; last: {:?}", last.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    })?;
    eprintln!("get-component-load after {CALLS} calls: {counted:?}");
    let max: Vec<(String, u64)> = counted.per_host.iter().map(|l| (l.host_id.clone(), l.max_instances)).collect();
    let mut want = vec![(hosts[0].clone(), 4), (hosts[1].clone(), 2)];
    want.sort();
    assert_eq!(max, want, "each host's max_instances");
    assert_eq!(counted.summed[0].max_instances, 6);
    assert_eq!(counted.hosts_reporting, 2);

    // events: typed, both hosts, each interval once although two replicas publish
    let mut ids = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ids.len() < 4 && std::time::Instant::now() < deadline {
        if let Ok(Some((event, _))) = tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
            let stand_in::evt::EventData::ComponentLoad(r) = &event.data else {
                anyhow::bail!("not a component-load event: {event:?}");
            };
            anyhow::ensure!(r.lattice == lattice.lattice() && r.hosts_reporting == 2, "{r:?}");
            ids.push(event.id.clone());
        }
    }
    eprintln!("component_load events: {ids:?}");
    anyhow::ensure!(ids.len() >= 4, "{} component_load events in 30 s", ids.len());
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "an interval delivered twice: {ids:?}");

    // the receiving replica stops: the other answers for both hosts from what it was passed
    stop_provider(&lattice, 0, PROVIDER).await?;
    wait_for("the first replica gone", SEEN_WITHIN, || async {
        let inv = lattice.ctl().get_host_inventory(&hosts[0]).await?;
        Ok((!inv.providers.iter().any(|p| p.id == PROVIDER)).then_some(()))
    })
    .await?;
    let second = report(&caller, COMPONENT).await?;
    assert_eq!(second.per_host.len(), 2, "the second replica holds both hosts: {second:?}");

    // a host that stops leaves the report
    lattice.stop_host(0).await?;
    let left = wait_for("the stopped host gone from the report", SEEN_WITHIN, || async {
        let r = report(&caller, COMPONENT).await?;
        Ok((r.per_host.iter().all(|l| l.host_id != hosts[0])).then_some(r))
    })
    .await?;
    assert_eq!(left.per_host.len(), 1, "{left:?}");
    let _ = meters.shutdown();
    lattice.shutdown().await
}
