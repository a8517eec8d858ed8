//! The provider started from its PAR through a real host and called over wRPC exactly as the
//! host routes a component's import (`source-id` / `link-name` headers). Every
//! `lattice-control` function is called; what it did is checked through upstream
//! `wasmcloud-control-interface` 3.0.1 on the same lattice.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use futures::StreamExt as _;
use lattice_control_e2e::caller::{
    error_kind, events, lattice_control as lc, types, wit_scale, Caller, HOST_QUERY, NO_OPTIONS,
};
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{
    bounded, delete_provider_link, noop_component_ref, provider_par_ref, retry, shared_nats, start_provider,
    TestLattice, CALL_TIMEOUT,
};

const PROVIDER: &str = "lattice-control";
/// Bound of one call that changes something (not retried).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

type Answer<T> = std::result::Result<T, types::CtlError>;

/// A read through the provider, retried while the transport fails (bounded).
async fn read<T, F, Fut>(what: &str, op: F) -> Result<Answer<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Answer<T>>>,
{
    retry(what, Duration::from_secs(20), op).await
}

/// A command through the provider: one bounded attempt.
async fn command<T>(what: &str, fut: impl Future<Output = anyhow::Result<Answer<T>>>) -> Result<Answer<T>> {
    bounded(what, COMMAND_TIMEOUT, fut).await?
}

/// `Ok` value, or an error naming the provider's error case.
fn ok<T>(what: &str, answer: Answer<T>) -> Result<T> {
    answer.map_err(|e| anyhow!("{what}: provider answered {} ({e:?})", error_kind(&e)))
}

/// Upstream call, bounded.
async fn up<T>(
    what: &str,
    fut: impl Future<Output = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>>,
) -> Result<T> {
    bounded(what, CALL_TIMEOUT, fut).await?.map_err(|e| anyhow!("upstream {what}: {e}"))
}

async fn upstream_host_ids(lattice: &TestLattice) -> Result<BTreeSet<String>> {
    let hosts = up("get_hosts", lattice.upstream().get_hosts()).await?;
    Ok(hosts.into_iter().filter_map(|h| h.into_data()).map(|h| h.id().to_string()).collect())
}

async fn upstream_inventory(lattice: &TestLattice, host: &str) -> Result<wasmcloud_control_interface::HostInventory> {
    up("inventory", lattice.upstream().get_host_inventory(host)).await?.into_data().context("inventory without data")
}

/// A caller `source` linked to the provider with settings `{lattice, allow=all}`; returns once
/// the provider has the link.
async fn linked(lattice: &TestLattice, source: &str, managed_lattice: &str) -> Result<Caller> {
    let settings = [("lattice", managed_lattice), ("allow", "all")];
    lattice_control_e2e::stress::linked_caller(lattice, PROVIDER, source, "default", &settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_function_over_wrpc_as_the_host_routes_it() -> Result<()> {
    let mut lattice = TestLattice::start(shared_nats()?, 2).await?;
    let l = lattice.lattice().to_string();
    provider_par_ref()?; // build + pack first: the timing is the host's part only
    let started = Instant::now();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    eprintln!("TIMING start_provider -> healthy + subscribed: {:?}", started.elapsed());
    let c = linked(&lattice, "controller", &l).await?;
    let (w, cx) = (c.wrpc(), || c.cx());
    let ids = lattice.host_ids();
    let (h0, h1) = (ids[0].clone(), ids[1].clone());

    // provider-info
    let info = ok("provider-info", read("provider-info", || lc::provider_info(w, cx(), &NO_OPTIONS)).await?)?;
    assert_eq!(
        (info.lattice.as_str(), info.source_id.as_str(), info.link_name.as_str()),
        (l.as_str(), "controller", "default")
    );
    assert!(info.allowed_operations.iter().any(|o| o == "scale-component"), "{info:?}");

    // get-hosts: the same set as upstream's full scatter.
    let hosts = ok("get-hosts", read("get-hosts", || lc::get_hosts(w, cx(), &HOST_QUERY)).await?)?;
    assert_eq!(hosts.iter().map(|h| h.id.clone()).collect::<BTreeSet<_>>(), upstream_host_ids(&lattice).await?);
    assert!(hosts.iter().all(|h| h.lattice == l));

    // get-host-inventory: the provider itself runs on host 0.
    let inv = ok("get-host-inventory", read("inventory", || lc::get_host_inventory(w, cx(), &h0)).await?)?;
    let theirs = upstream_inventory(&lattice, &h0).await?;
    assert_eq!(inv.host_id, theirs.host_id());
    assert_eq!(
        inv.providers.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        theirs.providers().iter().map(|p| p.id().to_string()).collect::<Vec<_>>()
    );
    assert!(inv.providers.iter().any(|p| p.id == PROVIDER));
    assert_eq!(inv.labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(), *theirs.labels());

    // get-claims
    let claims = ok("get-claims", read("claims", || lc::get_claims(w, cx(), &NO_OPTIONS)).await?)?;
    let their_claims = up("claims", lattice.upstream().get_claims()).await?.into_data().unwrap_or_default();
    assert_eq!(claims.len(), their_claims.len());

    // Auctions: with a constraint only host 1 bids.
    command("put-label", lc::put_label(w, cx(), &h1, "pick", "me")).await?.map_err(|e| anyhow!("{e:?}"))?;
    let theirs = upstream_inventory(&lattice, &h1).await?;
    assert_eq!(theirs.labels().get("pick").map(String::as_str), Some("me"), "label put through the provider");
    let opts = types::QueryOptions { timeout_ms: Some(1500) };
    let reference = noop_component_ref()?;
    let req = types::ComponentAuctionRequest {
        component_ref: reference.clone(),
        component_id: "auctioned".into(),
        constraints: vec![("pick".into(), "me".into())],
    };
    let acks = ok(
        "component auction",
        read("component auction", || lc::perform_component_auction(w, cx(), &req, &opts)).await?,
    )?;
    assert_eq!(acks.iter().map(|a| a.host_id.clone()).collect::<Vec<_>>(), vec![h1.clone()]);
    let req = types::ProviderAuctionRequest {
        provider_ref: provider_par_ref()?,
        provider_id: "second".into(),
        constraints: vec![],
    };
    let acks =
        ok("provider auction", read("provider auction", || lc::perform_provider_auction(w, cx(), &req, &opts)).await?)?;
    assert_eq!(acks.iter().map(|a| a.host_id.clone()).collect::<BTreeSet<_>>(), ids.iter().cloned().collect());
    ok("delete-label", command("delete-label", lc::delete_label(w, cx(), &h1, "pick")).await?)?;
    assert!(!upstream_inventory(&lattice, &h1).await?.labels().contains_key("pick"));

    // scale-component, update-component, scale-component-and-wait (ok and failed).
    let scale = |id: &str, r: &str, n: u32| wit_scale(r, id, h1.clone(), n);
    ok("scale-component", command("scale", lc::scale_component(w, cx(), &scale("noop", &reference, 1))).await?)?;
    let has = |id: &'static str, r: String| {
        let lattice = &lattice;
        let h1 = h1.clone();
        async move {
            wait_for("component in upstream inventory", CALL_TIMEOUT, || async {
                let inv = upstream_inventory(lattice, &h1).await?;
                Ok(inv.components().iter().any(|c| c.id() == id && c.image_ref() == r).then_some(()))
            })
            .await
        }
    };
    has("noop", reference.clone()).await?;
    let copy = lattice_control_e2e::util::scratch_dir()?.join("noop-provider-e2e.wasm");
    std::fs::copy(lattice_control_e2e::noop_component()?, &copy)?;
    let reference2 = format!("file://{}", copy.display());
    let update = types::UpdateComponentCommand {
        component_id: "noop".into(),
        host_id: h1.clone(),
        new_component_ref: reference2.clone(),
        annotations: None,
    };
    ok("update-component", command("update", lc::update_component(w, cx(), &update)).await?)?;
    has("noop", reference2.clone()).await?;
    let wait = types::WaitOptions { timeout_ms: 8000 };
    let ev = ok(
        "scale-and-wait",
        command("scale-and-wait", lc::scale_component_and_wait(w, cx(), &scale("noop-b", &reference, 1), &wait))
            .await?,
    )?;
    assert!(ev.event_type.ends_with("component_scaled"), "{}", ev.event_type);
    assert!(
        matches!(ev.data, events::EventData::ComponentScaled(ref d) if d.component_id == "noop-b"),
        "{:?}",
        ev.data
    );
    let failed = command(
        "scale-and-wait missing",
        lc::scale_component_and_wait(w, cx(), &scale("noop-missing", "file:///nonexistent/x.wasm", 1), &wait),
    )
    .await?;
    assert!(matches!(failed, Err(types::CtlError::Rejected(_))), "{failed:?}");
    for id in ["noop", "noop-b"] {
        ok("scale to 0", command("scale 0", lc::scale_component(w, cx(), &scale(id, &reference2, 0))).await?)?;
    }
    wait_for("components gone", CALL_TIMEOUT, || async {
        Ok(upstream_inventory(&lattice, &h1).await?.components().is_empty().then_some(()))
    })
    .await?;

    // start-provider(-and-wait), stop-provider(-and-wait): a second instance on host 1.
    let start = |id: &str| types::StartProviderCommand {
        provider_id: id.into(),
        provider_ref: provider_par_ref().unwrap_or_default(),
        host_id: h1.clone(),
        config: vec![],
        annotations: None,
    };
    let stop = |id: &str| types::StopProviderCommand { host_id: h1.clone(), provider_id: id.into() };
    let ev = ok(
        "start-provider-and-wait",
        command("start-and-wait", lc::start_provider_and_wait(w, cx(), &start("second"), &wait)).await?,
    )?;
    assert!(ev.event_type.ends_with("provider_started"), "{}", ev.event_type);
    let ev = ok(
        "stop-provider-and-wait",
        command("stop-and-wait", lc::stop_provider_and_wait(w, cx(), &stop("second"), &wait)).await?,
    )?;
    assert!(ev.event_type.ends_with("provider_stopped"), "{}", ev.event_type);
    ok("start-provider", command("start", lc::start_provider(w, cx(), &start("third"))).await?)?;
    lattice_control_e2e::wait_provider_ready(&lattice, "third").await?;
    ok("stop-provider", command("stop", lc::stop_provider(w, cx(), &stop("third"))).await?)?;
    wait_for("providers gone from host 1", Duration::from_secs(15), || async {
        Ok(upstream_inventory(&lattice, &h1).await?.providers().is_empty().then_some(()))
    })
    .await?;

    // put-config, get-config, delete-config, checked through upstream.
    let values = [("k", "v")];
    ok("put-config", command("put-config", lc::put_config(w, cx(), "made-by-component", &values)).await?)?;
    let theirs = up("get_config", lattice.upstream().get_config("made-by-component")).await?.into_data();
    assert_eq!(theirs, Some([("k".to_string(), "v".to_string())].into()));
    let got = ok("get-config", read("get-config", || lc::get_config(w, cx(), "made-by-component")).await?)?;
    assert_eq!(got, Some(vec![("k".to_string(), "v".to_string())]));
    ok("delete-config", command("delete-config", lc::delete_config(w, cx(), "made-by-component")).await?)?;
    let got = ok("get-config", read("get-config", || lc::get_config(w, cx(), "made-by-component")).await?)?;
    assert_eq!(got, None);

    // put-link, get-links, delete-link.
    let link = types::Link {
        source_id: "someone".into(),
        target: "some-provider".into(),
        name: "default".into(),
        wit_namespace: "wasi".into(),
        wit_package: "keyvalue".into(),
        interfaces: vec!["store".into()],
        source_config: vec![],
        target_config: vec![],
    };
    ok("put-link", command("put-link", lc::put_link(w, cx(), &link)).await?)?;
    let theirs = up("get_links", lattice.upstream().get_links()).await?.into_data().unwrap_or_default();
    assert!(theirs.iter().any(|x| x.source_id() == "someone" && x.target() == "some-provider"));
    let links = ok("get-links", read("get-links", || lc::get_links(w, cx(), &NO_OPTIONS)).await?)?;
    assert_eq!(links.len(), theirs.len());
    assert!(links.iter().any(|x| format!("{x:?}") == format!("{link:?}")), "{links:?}");
    let del = types::DeleteLinkRequest {
        source_id: "someone".into(),
        name: "default".into(),
        wit_namespace: "wasi".into(),
        wit_package: "keyvalue".into(),
    };
    ok("delete-link", command("delete-link", lc::delete_link(w, cx(), &del)).await?)?;
    let theirs = up("get_links", lattice.upstream().get_links()).await?.into_data().unwrap_or_default();
    assert!(!theirs.iter().any(|x| x.source_id() == "someone"));

    // put-registries
    let creds = [(
        "registry.example.com",
        types::RegistryCredential {
            registry_type: "oci".into(),
            username: Some("u".into()),
            password: Some("p".into()),
            token: None,
        },
    )];
    ok("put-registries", command("put-registries", lc::put_registries(w, cx(), &creds)).await?)?;

    // stop-host: a third host, stopped through the provider, leaves upstream's view.
    let i = lattice.add_host().await?;
    let h2 = lattice.host_id(i)?.to_string();
    ok(
        "stop-host",
        command(
            "stop-host",
            lc::stop_host(w, cx(), &types::StopHostCommand { host_id: h2.clone(), timeout: Some(1000) }),
        )
        .await?,
    )?;
    wait_for("stopped host gone", Duration::from_secs(15), || async {
        Ok((!upstream_host_ids(&lattice).await?.contains(&h2)).then_some(()))
    })
    .await?;
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unlinked_callers_and_bad_input() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let l = lattice.lattice().to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let linked_caller = linked(&lattice, "controller", &l).await?;

    for (who, caller) in [
        ("component with no link", linked_caller.as_component("stranger", "default")),
        ("linked component, other link name", linked_caller.as_component("controller", "other")),
        ("no headers", linked_caller.anonymous()),
    ] {
        let r = read("get-hosts", || lc::get_hosts(caller.wrpc(), caller.cx(), &HOST_QUERY)).await?;
        assert_eq!(r.as_ref().map_err(error_kind).err(), Some("not-linked"), "{who}: {r:?}");
        let r = read("provider-info", || lc::provider_info(caller.wrpc(), caller.cx(), &NO_OPTIONS)).await?;
        assert_eq!(r.as_ref().map_err(error_kind).err(), Some("not-linked"), "{who}: {r:?}");
    }

    // Bad input: refused before any traffic reaches the lattice.
    let mut sniff =
        bounded("subscribe", CALL_TIMEOUT, lattice.nats().subscribe(format!("wasmbus.ctl.v1.{l}.>"))).await??;
    bounded("flush", CALL_TIMEOUT, lattice.nats().flush()).await??;
    let (w, cx) = (linked_caller.wrpc(), || linked_caller.cx());
    let host = lattice.host_id(0)?.to_string();
    let bad_scale = wit_scale(String::new(), "x", host.clone(), 1);
    let calls: Vec<(&str, Answer<()>)> = vec![
        ("blank host id", command("inventory", lc::get_host_inventory(w, cx(), " ")).await?.map(|_| ())),
        ("empty config name", command("config", lc::put_config(w, cx(), "", &[])).await?.map(|_| ())),
        ("empty reference", command("scale", lc::scale_component(w, cx(), &bad_scale)).await?.map(|_| ())),
    ];
    for (what, r) in &calls {
        assert_eq!(r.as_ref().map_err(error_kind).err(), Some("invalid-argument"), "{what}: {r:?}");
    }
    let leaked = tokio::time::timeout(Duration::from_millis(300), sniff.next()).await;
    assert!(leaked.is_err(), "bad input reached the lattice: {:?}", leaked.ok().flatten().map(|m| m.subject));

    // A `hostcore.*` label is refused too (after the host argument is resolved, see
    // `hostcore_label_refused_before_traffic`).
    let r = command("label", lc::put_label(w, cx(), &host, "hostcore.os", "x")).await?;
    assert_eq!(r.as_ref().map_err(error_kind).err(), Some("invalid-argument"), "{r:?}");
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_links_manage_two_lattices() -> Result<()> {
    let nats = shared_nats()?;
    let a = TestLattice::start(nats, 1).await?;
    let b = TestLattice::start(nats, 2).await?;
    start_provider(&a, 0, PROVIDER, &[]).await?;
    let ca = linked(&a, "comp-a", a.lattice()).await?;
    let cb = linked(&a, "comp-b", b.lattice()).await?;

    for (caller, lattice) in [(&ca, &a), (&cb, &b)] {
        let info = ok(
            "provider-info",
            read("provider-info", || lc::provider_info(caller.wrpc(), caller.cx(), &NO_OPTIONS)).await?,
        )?;
        assert_eq!(info.lattice, lattice.lattice());
        let hosts =
            ok("get-hosts", read("get-hosts", || lc::get_hosts(caller.wrpc(), caller.cx(), &HOST_QUERY)).await?)?;
        assert_eq!(
            hosts.into_iter().map(|h| h.id).collect::<BTreeSet<_>>(),
            lattice.host_ids().into_iter().collect::<BTreeSet<_>>(),
            "each link sees only its own lattice"
        );
    }
    // A command through link B lands in lattice B only.
    let hb = b.host_id(1)?.to_string();
    ok("put-label", command("put-label", lc::put_label(cb.wrpc(), cb.cx(), &hb, "via", "b")).await?)?;
    assert_eq!(upstream_inventory(&b, &hb).await?.labels().get("via").map(String::as_str), Some("b"));
    let r = read("inventory", || lc::get_host_inventory(ca.wrpc(), ca.cx(), &hb)).await?;
    assert!(r.is_err(), "link A cannot reach lattice B's host: {r:?}");

    // Deleting link A stops A only.
    delete_provider_link(&a, "comp-a", "default").await?;
    wait_for("link A gone", CALL_TIMEOUT, || async {
        let r = lc::provider_info(ca.wrpc(), ca.cx(), &NO_OPTIONS).await?;
        Ok(matches!(r, Err(types::CtlError::NotLinked(_))).then_some(()))
    })
    .await?;
    let hosts = ok("get-hosts via B", read("get-hosts", || lc::get_hosts(cb.wrpc(), cb.cx(), &HOST_QUERY)).await?)?;
    assert_eq!(hosts.len(), 2);
    b.shutdown().await?;
    a.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostcore_label_refused_before_traffic() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let l = lattice.lattice().to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let c = linked(&lattice, "controller", &l).await?;
    let mut sniff =
        bounded("subscribe", CALL_TIMEOUT, lattice.nats().subscribe(format!("wasmbus.ctl.v1.{l}.>"))).await??;
    bounded("flush", CALL_TIMEOUT, lattice.nats().flush()).await??;
    let r = command("label", lc::put_label(c.wrpc(), c.cx(), lattice.host_id(0)?, "hostcore.os", "x")).await?;
    assert_eq!(r.as_ref().map_err(error_kind).err(), Some("invalid-argument"), "{r:?}");
    let leaked = tokio::time::timeout(Duration::from_millis(300), sniff.next()).await;
    assert!(leaked.is_err(), "bad label reached the lattice: {:?}", leaked.ok().flatten().map(|m| m.subject));
    lattice.shutdown().await
}
