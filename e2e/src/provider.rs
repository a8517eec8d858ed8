//! Starting and stopping the provider through a host, with a bounded readiness wait.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use lattice_control_provider::ctl;

use crate::lattice::TestLattice;
use crate::util::{bounded, http_get, wait_for, CALL_TIMEOUT};

/// How long a provider may take from the start command to answering wRPC.
pub const PROVIDER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the provider (from [`crate::provider_par`]) on host `host_index` with the named
/// configs, then waits until it is ready (see [`wait_provider_ready`]).
pub async fn start_provider(
    lattice: &TestLattice,
    host_index: usize,
    provider_id: &str,
    config_names: &[&str],
) -> Result<()> {
    let par_ref = crate::par::provider_par_ref()?;
    let cmd = ctl::StartProviderCommand::builder()
        .host_id(lattice.host_id(host_index)?)
        .provider_ref(par_ref)
        .provider_id(provider_id)
        .config(config_names.iter().copied())
        .build()?;
    bounded("start_provider", CALL_TIMEOUT, lattice.ctl().start_provider(cmd))
        .await?
        .context("start_provider refused")?;
    wait_provider_ready(lattice, provider_id).await
}

/// Waits (bounded) until `wasmbus.rpc.{lattice}.{provider_id}.health` answers healthy and
/// the provider's wRPC subscriptions exist on the server (stable over two polls).
pub async fn wait_provider_ready(lattice: &TestLattice, provider_id: &str) -> Result<()> {
    let subject = format!("wasmbus.rpc.{}.{provider_id}.health", lattice.lattice());
    let nats = lattice.nats();
    wait_for("provider health", PROVIDER_READY_TIMEOUT, || async {
        let Ok(Ok(reply)) =
            tokio::time::timeout(Duration::from_secs(2), nats.request(subject.clone(), "".into())).await
        else {
            return Ok(None);
        };
        let health: serde_json::Value = serde_json::from_slice(&reply.payload).context("health reply is not JSON")?;
        Ok((health["healthy"] == true).then_some(()))
    })
    .await?;
    // Subscriptions appear a few ms after health answers; wait until the count is stable.
    let deadline = tokio::time::Instant::now() + PROVIDER_READY_TIMEOUT;
    let mut last = 0;
    loop {
        let n = wrpc_subscription_count(lattice, provider_id).await?;
        if n > 0 && n == last {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("provider {provider_id}: {n} wRPC subscriptions, not stable within {PROVIDER_READY_TIMEOUT:?}");
        }
        last = n;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Number of wRPC subscriptions (`{lattice}.{provider_id}.wrpc.…`) on the server.
pub async fn wrpc_subscription_count(lattice: &TestLattice, provider_id: &str) -> Result<usize> {
    let body = http_get(lattice.monitor_url(), "/subsz?subs=1&limit=100000").await?;
    let subsz: serde_json::Value = serde_json::from_str(&body).context("/subsz is not JSON")?;
    let prefix = format!("{}.{provider_id}.wrpc.", lattice.lattice());
    let Some(list) = subsz["subscriptions_list"].as_array() else {
        bail!("/subsz has no subscriptions_list");
    };
    Ok(list.iter().filter(|s| s["subject"].as_str().is_some_and(|s| s.starts_with(&prefix))).count())
}

/// Stops the provider on host `host_index` and waits (bounded) until it has left that
/// host's inventory.
pub async fn stop_provider(lattice: &TestLattice, host_index: usize, provider_id: &str) -> Result<()> {
    let host_id = lattice.host_id(host_index)?.to_string();
    let cmd = ctl::StopProviderCommand::builder().host_id(host_id.clone()).provider_id(provider_id).build()?;
    bounded("stop_provider", CALL_TIMEOUT, lattice.ctl().stop_provider(cmd)).await?.context("stop_provider refused")?;
    wait_for("provider gone from inventory", CALL_TIMEOUT, || async {
        let inv = lattice.ctl().get_host_inventory(&host_id).await?;
        Ok((!inv.providers.iter().any(|p| p.id == provider_id)).then_some(()))
    })
    .await
}
