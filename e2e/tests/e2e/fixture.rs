//! Self-tests of the fixture: NATS outage/restart, hosts, component, PAR, provider start.

use std::time::Duration;

use anyhow::{Context as _, Result};
use lattice_control_e2e::{bounded, retry, shared_nats, Nats, TestLattice, CALL_RETRY, CALL_TIMEOUT};
use lattice_control_provider::ctl;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_kill_and_restart_keep_port() -> Result<()> {
    let nats = Nats::start()?;
    let client = nats.connect().await?;
    bounded("flush", CALL_TIMEOUT, client.flush()).await??;
    let port = nats.port();

    nats.kill();
    assert!(
        tokio::time::timeout(Duration::from_secs(2), async_nats::connect(nats.url()))
            .await
            .map_or(true, |r| r.is_err()),
        "connect must fail while the server is down"
    );

    nats.restart()?;
    assert_eq!(nats.port(), port);
    let again = nats.connect().await?;
    bounded("flush", CALL_TIMEOUT, again.flush()).await??;
    let varz = lattice_control_e2e::util::http_get(&nats.monitor_url(), "/varz").await?;
    assert!(varz.contains("\"jetstream\""), "monitoring answers /varz");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_answer_both_clients() -> Result<()> {
    let mut lattice = TestLattice::start(shared_nats()?, 2).await?;
    let mut expected = lattice.host_ids();
    expected.sort();

    let mut ours: Vec<String> =
        retry("get_hosts", CALL_RETRY, || lattice.ctl().get_hosts()).await?.into_iter().map(|h| h.id).collect();
    ours.sort();
    assert_eq!(ours, expected);

    let upstream = bounded("upstream get_hosts", CALL_TIMEOUT, lattice.upstream().get_hosts())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut theirs: Vec<String> =
        upstream.into_iter().filter_map(|r| r.into_data()).map(|h| h.id().to_string()).collect();
    theirs.sort();
    assert_eq!(theirs, expected);

    // A stopped host leaves the lattice.
    let gone = lattice.host_id(1)?.to_string();
    lattice.stop_host(1).await?;
    assert_eq!(lattice.host_ids().len(), 1);
    let err = bounded("inventory of a stopped host", CALL_TIMEOUT, lattice.ctl().get_host_inventory(&gone))
        .await?
        .expect_err("a stopped host must not answer");
    assert!(matches!(err.kind(), ctl::CtlErrorKind::NoResponders | ctl::CtlErrorKind::Timeout), "{err}");
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn noop_component_scales_up_and_down() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let scale = |n: u32| {
        ctl::ScaleComponentCommand::builder()
            .host_id(host.clone())
            .component_ref(lattice_control_e2e::noop_component_ref().expect("component"))
            .component_id("noop")
            .max_instances(n)
            .build()
    };
    bounded("scale", CALL_TIMEOUT, lattice.ctl().scale_component(scale(1)?)).await??;
    lattice_control_e2e::util::wait_for("component in inventory", CALL_TIMEOUT, || async {
        let inv = lattice.ctl().get_host_inventory(&host).await?;
        Ok(inv.components.iter().any(|c| c.id == "noop" && c.max_instances == 1).then_some(()))
    })
    .await?;
    bounded("scale to 0", CALL_TIMEOUT, lattice.ctl().scale_component(scale(0)?)).await??;
    lattice_control_e2e::util::wait_for("component gone", CALL_TIMEOUT, || async {
        let inv = lattice.ctl().get_host_inventory(&host).await?;
        Ok(inv.components.is_empty().then_some(()))
    })
    .await
}

#[tokio::test]
async fn par_holds_this_platform_and_claims() -> Result<()> {
    let par = lattice_control_e2e::provider_par()?;
    let archive = provider_archive::ProviderArchive::try_load_file(&par)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading {}", par.display()))?;
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    assert!(archive.targets().contains(&target), "{:?}", archive.targets());
    let claims = archive.claims().context("PAR without claims")?;
    assert!(claims.subject.starts_with('V'), "service key subject: {}", claims.subject);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_starts_from_par_and_stops() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    lattice_control_e2e::start_provider(&lattice, 0, "lattice-control", &[]).await?;
    let inv = bounded("inventory", CALL_TIMEOUT, lattice.ctl().get_host_inventory(lattice.host_id(0)?)).await??;
    assert!(inv.providers.iter().any(|p| p.id == "lattice-control"));
    assert!(lattice_control_e2e::provider::wrpc_subscription_count(&lattice, "lattice-control").await? > 0);
    lattice_control_e2e::stop_provider(&lattice, 0, "lattice-control").await?;
    lattice.shutdown().await
}
