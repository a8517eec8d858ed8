//! Where the provider's answers differ from what a wasmCloud 1.x host puts on the wire, or
//! where it refuses what a host would accept: each test shows the host's own behaviour on a
//! real host (raw control messages or upstream's client) beside the provider's answer.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context as _, Result};
use futures::StreamExt as _;
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, types, wit_scale, Caller, HOST_QUERY};
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{
    bounded, noop_component_ref, retry, shared_nats, start_provider, TestLattice, CALL_RETRY, CALL_TIMEOUT,
};

const PROVIDER: &str = "lattice-control";

type Answer<T> = std::result::Result<T, types::CtlError>;

/// One bounded call through the provider (commands are not retried).
async fn call<T>(what: &str, fut: impl Future<Output = anyhow::Result<Answer<T>>>) -> Result<Answer<T>> {
    bounded(what, Duration::from_secs(15), fut).await?
}

async fn linked(lattice: &TestLattice, source: &str) -> Result<Caller> {
    let settings = [("lattice", lattice.lattice()), ("allow", "all")];
    lattice_control_e2e::stress::linked_caller(lattice, PROVIDER, source, "default", &settings).await
}

/// The replies of the hosts to a raw control scatter, as JSON, collected for `within`.
async fn raw_scatter(
    lattice: &TestLattice,
    op: &str,
    body: serde_json::Value,
    within: Duration,
) -> Result<Vec<serde_json::Value>> {
    let nats = lattice.nats();
    let inbox = nats.new_inbox();
    let mut sub = nats.subscribe(inbox.clone()).await?;
    let subject = format!("wasmbus.ctl.v1.{}.{op}", lattice.lattice());
    nats.publish_with_reply(subject, inbox, serde_json::to_vec(&body)?.into()).await?;
    nats.flush().await?;
    let mut replies = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, sub.next()).await {
        replies.push(serde_json::from_slice(&msg.payload).context("a host's reply is not JSON")?);
    }
    Ok(replies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn component_auction_acks_name_the_requested_id_and_feed_a_scale() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let c = linked(&lattice, "auctioneer").await?;
    let reference = noop_component_ref()?;
    let id = "parity-auctioned";

    // The host: every ack's `component_id` is the request's reference.
    let body = serde_json::json!({ "component_ref": reference, "component_id": id, "constraints": {} });
    let raw = raw_scatter(&lattice, "component.auction", body, Duration::from_secs(2)).await?;
    ensure!(raw.len() == 2, "both hosts bid: {raw:?}");
    for r in &raw {
        assert_eq!(r["response"]["component_id"], reference.as_str(), "host quirk: the ack's id is the reference: {r}");
    }

    // The provider: the id asked about, and the ack's fields scale the component as they are.
    let request = types::ComponentAuctionRequest {
        component_ref: reference.clone(),
        component_id: id.into(),
        constraints: vec![],
    };
    let options = types::QueryOptions { timeout_ms: Some(1500) };
    let acks = retry("auction", CALL_RETRY, || lc::perform_component_auction(c.wrpc(), c.cx(), &request, &options))
        .await?
        .map_err(|e| anyhow!("auction: {e:?}"))?;
    ensure!(acks.len() == 2, "both hosts bid through the provider: {acks:?}");
    assert!(acks.iter().all(|a| a.component_id == id && a.component_ref == reference), "{acks:?}");
    let ack = &acks[0];
    let scale = wit_scale(ack.component_ref.clone(), ack.component_id.clone(), ack.host_id.clone(), 1);
    retry("scale (idempotent)", Duration::from_secs(30), || lc::scale_component(c.wrpc(), c.cx(), &scale))
        .await?
        .map_err(|e| anyhow!("scale with the ack's fields: {e:?}"))?;
    wait_for("the auctioned component runs on the bidding host", Duration::from_secs(30), || async {
        let inv = lattice.ctl().get_host_inventory(&ack.host_id).await?;
        Ok(inv.components.iter().any(|comp| comp.id == id).then_some(()))
    })
    .await?;

    // The host lowercases a reference before parsing it: an upper-case one gets bids too.
    let upper = types::ComponentAuctionRequest {
        component_ref: "GHCR.IO/Acme/Parity:0.1.0".into(),
        component_id: "parity-upper".into(),
        constraints: vec![],
    };
    let acks =
        retry("auction (upper case)", CALL_RETRY, || lc::perform_component_auction(c.wrpc(), c.cx(), &upper, &options))
            .await?
            .map_err(|e| anyhow!("auction with an upper-case reference: {e:?}"))?;
    assert_eq!(acks.len(), 2, "{acks:?}");

    // Provider auctions: the host fills the id from the request; the provider passes it on.
    let request = types::ProviderAuctionRequest {
        provider_ref: "ghcr.io/acme/parity-provider:0.1.0".into(),
        provider_id: "parity-provider".into(),
        constraints: vec![],
    };
    let acks =
        retry("provider auction", CALL_RETRY, || lc::perform_provider_auction(c.wrpc(), c.cx(), &request, &options))
            .await?
            .map_err(|e| anyhow!("provider auction: {e:?}"))?;
    assert_eq!(acks.len(), 2, "{acks:?}");
    assert!(acks.iter().all(|a| a.provider_id == "parity-provider"), "{acks:?}");
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_registries_counts_every_hosts_answer() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 3).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let c = linked(&lattice, "registrar").await?;
    let creds = [(
        "registry.example.test",
        types::RegistryCredential {
            registry_type: "oci".into(),
            username: Some("u".into()),
            password: Some("p".into()),
            token: None,
        },
    )];
    let ack =
        retry("put-registries (idempotent)", Duration::from_secs(30), || lc::put_registries(c.wrpc(), c.cx(), &creds))
            .await?
            .map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(ack.message, "successfully put registries on 3 of 3 hosts");
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_host_with_a_zero_timeout_stops_it_now() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let c = linked(&lattice, "stopper").await?;
    let gone = lattice.host_id(1)?.to_string();
    let stop = types::StopHostCommand { host_id: gone.clone(), timeout: Some(0) };
    call("stop-host", lc::stop_host(c.wrpc(), c.cx(), &stop))
        .await?
        .map_err(|e| anyhow!("stop-host with timeout 0: {e:?}"))?;
    wait_for("the stopped host leaves the lattice", Duration::from_secs(15), || async {
        let hosts = retry("get-hosts", CALL_RETRY, || lc::get_hosts(c.wrpc(), c.cx(), &HOST_QUERY)).await?;
        let hosts = hosts.map_err(|e| anyhow!("{e:?}"))?;
        Ok((!hosts.iter().any(|h| h.id == gone)).then_some(()))
    })
    .await?;
    lattice.shutdown().await
}

async fn labels(lattice: &TestLattice, host: &str) -> Result<BTreeMap<String, String>> {
    Ok(lattice.ctl().get_host_inventory(host).await?.labels)
}

/// Stricter than the host on purpose: a host deletes a `hostcore.*` label, and refuses to put
/// one, so the delete cannot be undone until the host restarts. The provider refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostcore_labels_cannot_be_deleted_through_the_provider() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let c = linked(&lattice, "labeller").await?;
    let (mine, other) = (lattice.host_id(0)?.to_string(), lattice.host_id(1)?.to_string());
    ensure!(labels(&lattice, &other).await?.contains_key("hostcore.os"), "a host starts with hostcore.os");

    let refused =
        retry("delete-label", Duration::from_secs(30), || lc::delete_label(c.wrpc(), c.cx(), &mine, "hostcore.os"))
            .await?;
    assert_eq!(refused.as_ref().map_err(error_kind).err(), Some("invalid-argument"), "{refused:?}");
    assert!(labels(&lattice, &mine).await?.contains_key("hostcore.os"), "the refused delete sent nothing");

    // What the host does when asked directly (upstream's client): deletes it, refuses to restore it.
    let up = lattice.upstream();
    let deleted = bounded("upstream delete", CALL_TIMEOUT, up.delete_label(&other, "hostcore.os")).await?;
    ensure!(deleted.map_err(|e| anyhow!("{e}"))?.succeeded(), "the host deletes a hostcore label");
    ensure!(!labels(&lattice, &other).await?.contains_key("hostcore.os"), "gone on the host");
    let put = bounded("upstream put", CALL_TIMEOUT, up.put_label(&other, "hostcore.os", "linux")).await?;
    ensure!(!put.map_err(|e| anyhow!("{e}"))?.succeeded(), "the host refuses to put it back");
    lattice.shutdown().await
}

/// A call that arrives with a `traceparent` sends it on with its control traffic: a
/// subscriber beside the host sees it on the request (`host.get`) and the scatter (`host.ping`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn control_traffic_carries_the_callers_trace_context() -> Result<()> {
    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let host = lattice.host_id(0)?.to_string();
    let c = linked(&lattice, "traced").await?.with_header("traceparent", PARENT).with_header("tracestate", "e2e=1");
    let mut seen = lattice.nats().subscribe(format!("wasmbus.ctl.v1.{}.host.>", lattice.lattice())).await?;
    lattice.nats().flush().await?;

    // reads, retried: the e2e caller's unpatched wRPC transport can lose a reply under load
    retry("get-host-inventory", Duration::from_secs(30), || lc::get_host_inventory(c.wrpc(), c.cx(), &host))
        .await?
        .map_err(|e| anyhow!("{e:?}"))?;
    retry("get-hosts", Duration::from_secs(30), || lc::get_hosts(c.wrpc(), c.cx(), &HOST_QUERY))
        .await?
        .map_err(|e| anyhow!("{e:?}"))?;

    let mut traced = BTreeMap::new();
    while traced.len() < 2 {
        let msg = bounded("control messages beside the host", CALL_TIMEOUT, seen.next())
            .await?
            .context("subscription ended")?;
        let op = if msg.subject.as_str().contains(".host.get.") {
            "host.get"
        } else if msg.subject.as_str().ends_with(".host.ping") {
            "host.ping"
        } else {
            continue;
        };
        let header = |name: &str| msg.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_string());
        traced.insert(op, (header("traceparent"), header("tracestate")));
    }
    for (op, (parent, state)) in &traced {
        // the provider may add its own span (same trace id) when it exports traces
        let trace_id = parent.as_deref().and_then(|p| p.split('-').nth(1));
        assert_eq!(trace_id, Some("4bf92f3577b34da6a3ce929d0e0e4736"), "{op}: traceparent {parent:?}");
        assert_eq!(state.as_deref(), Some("e2e=1"), "{op}: tracestate");
    }
    lattice.shutdown().await
}
