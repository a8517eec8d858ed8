//! A 3-node NATS cluster on loopback (routes between `nats-server` processes): hosts on
//! different nodes, the provider on one, the link listing several servers. Killing the node
//! the provider's control connection uses: it fails over and serves again within 5 s.
//! Heavy: `scripts/test.sh` runs this file alone.

use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use lattice_control_e2e::caller::{lattice_control as lc, types};
use lattice_control_e2e::stress::{connection_count, linked_caller, outcome, provider_pid, Outcome};
use lattice_control_e2e::{start_provider, Nats, TestLattice};

const PROVIDER: &str = "lattice-control";
/// Connection name the provider gives its links' NATS connections.
const LINK_CONNECTION: &str = "lattice-control-provider";
const RECOVERY: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn control_connection_fails_over_to_another_node() -> Result<()> {
    let nodes = Nats::start_cluster(3).await?;
    // host 0 (runs the provider) on node 0, hosts 1 and 2 on nodes 1 and 2
    let mut lattice = TestLattice::start(&nodes[0], 1).await?;
    for node in &nodes[1..] {
        let url = wasmcloud_host::url::Url::parse(&node.url())?;
        lattice
            .add_host_with(|c| {
                c.ctl_nats_url = url.clone();
                c.rpc_nats_url = url.clone();
            })
            .await?;
    }
    let host0 = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let pid = provider_pid(&host0)?;
    // the link manages the lattice through nodes 1 and 2 (not the provider's own node 0)
    let urls = format!("{},{}", nodes[1].url(), nodes[2].url());
    let caller = linked_caller(
        &lattice,
        PROVIDER,
        "rel-cluster",
        "default",
        &[("nats_url", &urls), ("timeout_ms", "500"), ("scatter_timeout_ms", "1000")],
    )
    .await?;
    let query = types::HostQuery { expected: Some(3), full_wait: false, timeout_ms: None };
    let hosts = lattice_control_e2e::retry("3 hosts through the link", Duration::from_secs(20), || async {
        match lc::get_hosts(caller.wrpc(), caller.cx(), &query).await? {
            Ok(h) if h.len() == 3 => Ok(h),
            other => Err(anyhow!("{other:?}")),
        }
    })
    .await?;
    ensure!(hosts.len() == 3);

    // which node holds the link's control connection
    let mut used = Vec::new();
    for (i, node) in nodes.iter().enumerate().skip(1) {
        if connection_count(&node.monitor_url(), Some(LINK_CONNECTION)).await? > 0 {
            used.push(i);
        }
    }
    ensure!(used.len() == 1, "link connection on nodes {used:?}");
    let victim = used[0];
    let killed = Instant::now();
    nodes[victim].kill();
    let mut attempts = 0;
    let recovered = loop {
        attempts += 1;
        let o = outcome(Duration::from_secs(2), lc::get_host_inventory(caller.wrpc(), caller.cx(), &host0)).await;
        if o == Outcome::Ok {
            break Some(killed.elapsed());
        }
        ensure!(matches!(o, Outcome::Typed(_)), "during failover: {o:?}");
        if killed.elapsed() > Duration::from_secs(20) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut now_on = Vec::new();
    for (i, node) in nodes.iter().enumerate().filter(|(i, _)| *i != victim) {
        now_on.push((i, connection_count(&node.monitor_url(), Some(LINK_CONNECTION)).await?));
    }
    println!(
        "cluster failover: killed node {victim}; served again after {recovered:?} ({attempts} attempts); \
         provider connections per surviving node {now_on:?}"
    );
    let recovered = recovered.ok_or_else(|| anyhow!("no successful call within 20 s of the kill"))?;
    ensure!(recovered <= RECOVERY, "failover took {recovered:?}");
    ensure!(provider_pid(&host0)? == pid, "the provider process was restarted");
    lattice.shutdown().await
}
