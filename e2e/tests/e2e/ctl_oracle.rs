//! Our control client (`lattice_control_provider::ctl`) against upstream
//! `wasmcloud-control-interface` 3.0.1 on the same real lattice: every operation through both,
//! same outcome. Upstream results are converted to our types through JSON (the wire format the
//! two share, proven by `tests/ctl_wire.rs`) and compared with `assert_eq!`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use futures::StreamExt as _;
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{bounded, noop_component_ref, retry, shared_nats, TestLattice, CALL_RETRY, CALL_TIMEOUT};
use lattice_control_provider::ctl::{self, CtlErrorKind};
use serde::{de::DeserializeOwned, Serialize};

type UpstreamResult<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Scatter window for auctions in these tests (both clients).
const AUCTION: Duration = Duration::from_millis(1500);

static COMPARISONS: AtomicUsize = AtomicUsize::new(0);

/// Asserts our outcome equals upstream's and counts the comparison.
#[track_caller]
fn same<T: PartialEq + std::fmt::Debug>(what: &str, ours: T, theirs: T) {
    assert_eq!(ours, theirs, "{what}: our client and upstream differ");
    let n = COMPARISONS.fetch_add(1, Ordering::Relaxed) + 1;
    eprintln!("oracle comparison #{n}: {what}: same");
}

/// A bounded call through upstream's client.
async fn up<T>(what: &str, fut: impl Future<Output = UpstreamResult<T>>) -> Result<T> {
    bounded(what, CALL_TIMEOUT, fut).await?.map_err(|e| anyhow!("upstream {what}: {e}"))
}

/// A bounded call through our client; the inner result is the client's answer.
async fn ours<T>(what: &str, fut: impl Future<Output = ctl::Result<T>>) -> Result<ctl::Result<T>> {
    bounded(what, CALL_TIMEOUT, fut).await
}

/// Upstream value -> our type, through the shared wire format.
fn conv<T: Serialize, U: DeserializeOwned>(v: &T) -> Result<U> {
    serde_json::from_value(serde_json::to_value(v)?).context("upstream value in our type")
}

/// Upstream scatter answers (auction acks) in our type.
fn acks<T: Serialize, U: DeserializeOwned>(v: Vec<wasmcloud_control_interface::CtlResponse<T>>) -> Result<Vec<U>> {
    v.into_iter().filter_map(|r| r.into_data()).map(|a| conv(&a)).collect()
}

/// `v` sorted by host id (scatter answers arrive in any order).
fn by_host<T: Clone>(v: &[T], host: impl Fn(&T) -> &String) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| host(a).cmp(host(b)));
    v
}

/// An upstream `CtlResponse<()>` as our outcome: `Ok(message)` or `Err(host message)`.
fn up_outcome<T>(r: &wasmcloud_control_interface::CtlResponse<T>) -> std::result::Result<String, String> {
    if r.succeeded() {
        Ok(r.message().to_string())
    } else {
        Err(r.message().to_string())
    }
}

/// Our ack as the same outcome shape; only a host rejection maps to `Err`.
fn our_outcome(r: ctl::Result<ctl::Ack>) -> Result<std::result::Result<String, String>> {
    match r {
        Ok(ack) => Ok(Ok(ack.message)),
        Err(e) if e.kind() == CtlErrorKind::Rejected => Ok(Err(e.message().to_string())),
        Err(e) => Err(anyhow!("unexpected error kind: {e}")),
    }
}

/// `outcome` with `id` replaced by `<id>`, for messages about different components.
fn masked(outcome: std::result::Result<String, String>, id: &str) -> std::result::Result<String, String> {
    outcome.map(|m| m.replace(id, "<id>")).map_err(|m| m.replace(id, "<id>"))
}

fn normalize_inventory(mut inv: ctl::HostInventory) -> ctl::HostInventory {
    inv.uptime_seconds = 0;
    inv.uptime_human.clear();
    inv.components.sort_by(|a, b| a.id.cmp(&b.id));
    inv.providers.sort_by(|a, b| a.id.cmp(&b.id));
    inv
}

async fn inventories_match(lattice: &TestLattice, host_id: &str) -> Result<ctl::HostInventory> {
    let mine = ours("inventory", lattice.ctl().get_host_inventory(host_id)).await??;
    let theirs = up("inventory", lattice.upstream().get_host_inventory(host_id)).await?;
    let theirs: ctl::HostInventory = conv(&theirs.into_data().context("inventory without data")?)?;
    let mine = normalize_inventory(mine);
    same("get_host_inventory", mine.clone(), normalize_inventory(theirs));
    Ok(mine)
}

fn scale(host: &str, reference: &str, id: &str, n: u32) -> Result<ctl::ScaleComponentCommand> {
    Ok(ctl::ScaleComponentCommand::builder()
        .host_id(host)
        .component_ref(reference)
        .component_id(id)
        .max_instances(n)
        .build()?)
}

async fn wait_component(lattice: &TestLattice, host: &str, id: &str, n: u32) -> Result<()> {
    wait_for("component scaled", CALL_TIMEOUT, || async {
        let inv = lattice.ctl().get_host_inventory(host).await?;
        let found = inv.components.iter().find(|c| c.id == id).map(|c| c.max_instances);
        Ok((found.unwrap_or(0) == n).then_some(()))
    })
    .await
}

fn sorted_ids(hosts: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = hosts.into_iter().collect();
    v.sort();
    v
}

async fn upstream_host_ids(lattice: &TestLattice) -> Result<Vec<String>> {
    let hosts = up("get_hosts", lattice.upstream().get_hosts()).await?;
    Ok(sorted_ids(hosts.into_iter().filter_map(|h| h.into_data()).map(|h| h.id().to_string())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_hosts_same_set_and_timings() -> Result<()> {
    let nats = shared_nats()?;
    for n in [1usize, 3] {
        let lattice = TestLattice::start(nats, n).await?;
        let expected = sorted_ids(lattice.host_ids());

        // Warm-up so both measure a steady lattice (the hosts just started).
        retry("get_hosts", CALL_RETRY, || lattice.ctl().get_hosts()).await?;

        let t = Instant::now();
        let mine = ours("get_hosts", lattice.ctl().get_hosts()).await??;
        let our_time = t.elapsed();
        let t = Instant::now();
        let theirs = upstream_host_ids(&lattice).await?;
        let their_time = t.elapsed();
        same(&format!("get_hosts ids ({n} hosts)"), sorted_ids(mine.iter().map(|h| h.id.clone())), theirs.clone());
        assert_eq!(theirs, expected);

        let full = ours(
            "get_hosts full wait",
            lattice.ctl().get_hosts_with(ctl::HostQuery {
                full_wait: true,
                timeout: Some(Duration::from_secs(2)),
                ..Default::default()
            }),
        )
        .await??;
        same(
            &format!("get_hosts full-wait ids ({n} hosts)"),
            sorted_ids(full.into_iter().map(|h| h.id)),
            expected.clone(),
        );

        // Whole host records agree too (uptime aside).
        let theirs_full = up("get_hosts", lattice.upstream().get_hosts()).await?;
        let mut theirs_full: Vec<ctl::Host> =
            theirs_full.into_iter().filter_map(|r| r.into_data()).map(|h| conv(&h)).collect::<Result<_>>()?;
        let mut mine = mine;
        for h in mine.iter_mut().chain(theirs_full.iter_mut()) {
            h.uptime_seconds = 0;
            h.uptime_human = None;
        }
        mine.sort_by(|a, b| a.id.cmp(&b.id));
        theirs_full.sort_by(|a, b| a.id.cmp(&b.id));
        same(&format!("get_hosts records ({n} hosts)"), mine, theirs_full);

        eprintln!("TIMING get_hosts {n} host(s): ours {our_time:?}, upstream {their_time:?}");
        lattice.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn labels_land_on_one_host_only() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 3).await?;
    let ids = lattice.host_ids();

    let mine = ours("put_label", lattice.ctl().put_label(&ids[0], "zone", "ours")).await?;
    let theirs = up("put_label", lattice.upstream().put_label(&ids[1], "zone", "upstream")).await?;
    same("put_label outcome", our_outcome(mine)?, up_outcome(&theirs));

    for (i, id) in ids.iter().enumerate() {
        let inv = inventories_match(&lattice, id).await?;
        let want = match i {
            0 => Some("ours"),
            1 => Some("upstream"),
            _ => None,
        };
        assert_eq!(inv.labels.get("zone").map(String::as_str), want, "host {i}");
    }

    // hostcore.* keys: ours refuses before sending, the host refuses upstream's request.
    let mine = ours("hostcore label", lattice.ctl().put_label(&ids[2], "hostcore.os", "x")).await?;
    assert_eq!(mine.expect_err("hostcore.* must be refused").kind(), CtlErrorKind::InvalidArgument);
    let theirs = up("hostcore label", lattice.upstream().put_label(&ids[2], "hostcore.os", "x")).await?;
    assert!(!theirs.succeeded(), "the host refuses hostcore.* labels");

    let mine = ours("delete_label", lattice.ctl().delete_label(&ids[1], "zone")).await?;
    let theirs = up("delete_label", lattice.upstream().delete_label(&ids[0], "zone")).await?;
    same("delete_label outcome", our_outcome(mine)?, up_outcome(&theirs));
    // Deleting a label that is not there: both see the host's answer.
    let mine = ours("delete missing label", lattice.ctl().delete_label(&ids[2], "nope")).await?;
    let theirs = up("delete missing label", lattice.upstream().delete_label(&ids[2], "nope")).await?;
    same("delete missing label outcome", our_outcome(mine)?, up_outcome(&theirs));
    for id in &ids {
        let inv = inventories_match(&lattice, id).await?;
        assert!(!inv.labels.contains_key("zone"));
    }
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auctions_pick_the_same_hosts() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 3).await?;
    let ids = lattice.host_ids();
    let upstream = wasmcloud_control_interface::ClientBuilder::new(lattice.nats().clone())
        .lattice(lattice.lattice())
        .auction_timeout(AUCTION)
        .build();
    let reference = noop_component_ref()?;
    ours("label", lattice.ctl().put_label(&ids[2], "pick", "me")).await??;

    for (constraints, want) in [
        (BTreeMap::new(), ids.clone()),
        (BTreeMap::from([("pick".to_string(), "me".to_string())]), vec![ids[2].clone()]),
        (BTreeMap::from([("pick".to_string(), "nobody".to_string())]), vec![]),
    ] {
        let request = ctl::ComponentAuctionRequest::builder()
            .component_ref(reference.clone())
            .component_id("auctioned")
            .constraints(constraints.clone())
            .build()?;
        let mine = bounded(
            "component auction",
            CALL_TIMEOUT,
            lattice.ctl().perform_component_auction_within(request, AUCTION),
        )
        .await??;
        let theirs =
            up("component auction", upstream.perform_component_auction(&reference, "auctioned", constraints.clone()))
                .await?;
        let mut theirs: Vec<ctl::ComponentAuctionAck> = acks(theirs)?;
        // A known divergence: 1.x hosts put the reference in each ack's `component_id`, which
        // upstream passes on; ours names the id asked about (see e2e/tests/e2e/host_parity.rs).
        for ack in &mut theirs {
            assert_eq!(ack.component_id, reference, "upstream's ack carries the reference as its id");
            ack.component_id = "auctioned".into();
        }
        same(
            &format!("component auction {constraints:?}"),
            by_host(&mine, |a| &a.host_id),
            by_host(&theirs, |a| &a.host_id),
        );
        assert_eq!(sorted_ids(mine.into_iter().map(|a| a.host_id)), sorted_ids(want.clone()));

        let request = ctl::ProviderAuctionRequest::builder()
            .provider_ref("file:///nonexistent/p.par.gz")
            .provider_id("auctioned-provider")
            .constraints(constraints.clone())
            .build()?;
        let mine =
            bounded("provider auction", CALL_TIMEOUT, lattice.ctl().perform_provider_auction_within(request, AUCTION))
                .await??;
        let theirs = up(
            "provider auction",
            upstream.perform_provider_auction(
                "file:///nonexistent/p.par.gz",
                "auctioned-provider",
                constraints.clone(),
            ),
        )
        .await?;
        let theirs: Vec<ctl::ProviderAuctionAck> = acks(theirs)?;
        same(
            &format!("provider auction {constraints:?}"),
            by_host(&mine, |a| &a.host_id),
            by_host(&theirs, |a| &a.host_id),
        );
        assert_eq!(sorted_ids(mine.into_iter().map(|a| a.host_id)), sorted_ids(want));
    }
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_and_update_a_real_component() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    let ids = lattice.host_ids();
    let reference = noop_component_ref()?;
    // A second image of the same component, for update.
    let copy = lattice_control_e2e::util::scratch_dir()?.join("noop-v2.wasm");
    std::fs::copy(lattice_control_e2e::noop_component()?, &copy)?;
    let reference2 = format!("file://{}", copy.display());

    // Ours scales on host 0, upstream on host 1: same ack.
    let mine = ours("scale", lattice.ctl().scale_component(scale(&ids[0], &reference, "by-ours", 2)?)).await?;
    let theirs =
        up("scale", lattice.upstream().scale_component(&ids[1], &reference, "by-upstream", 2, None, vec![], false))
            .await?;
    same("scale_component outcome", our_outcome(mine)?, up_outcome(&theirs));
    wait_component(&lattice, &ids[0], "by-ours", 2).await?;
    wait_component(&lattice, &ids[1], "by-upstream", 2).await?;
    for id in &ids {
        inventories_match(&lattice, id).await?;
    }

    // Update: a running component to a new image; an unknown id is refused by the host.
    let update = |host: &str, id: &str, r: &str| {
        ctl::UpdateComponentCommand::builder().host_id(host).component_id(id).new_component_ref(r).build()
    };
    let mine = ours("update", lattice.ctl().update_component(update(&ids[0], "by-ours", &reference2)?)).await?;
    let theirs = up("update", lattice.upstream().update_component(&ids[1], "by-upstream", &reference2, None)).await?;
    // The host's message names the component: compare with the ids masked.
    same("update_component outcome", masked(our_outcome(mine)?, "by-ours"), masked(up_outcome(&theirs), "by-upstream"));
    for (host, id) in [(&ids[0], "by-ours"), (&ids[1], "by-upstream")] {
        wait_for("updated image", CALL_TIMEOUT, || async {
            let inv = lattice.ctl().get_host_inventory(host).await?;
            Ok(inv.components.iter().any(|c| c.id == id && c.image_ref == reference2).then_some(()))
        })
        .await?;
    }
    let mine = ours("update unknown", lattice.ctl().update_component(update(&ids[0], "ghost", &reference2)?)).await?;
    let theirs = up("update unknown", lattice.upstream().update_component(&ids[0], "ghost", &reference2, None)).await?;
    let mine = our_outcome(mine)?;
    assert!(mine.is_err(), "update of an unknown component is rejected: {mine:?}");
    same("update unknown component outcome", mine, up_outcome(&theirs));

    // Claims: both see the same list.
    let mine = ours("claims", lattice.ctl().get_claims()).await??;
    let theirs = up("claims", lattice.upstream().get_claims()).await?;
    same("get_claims", mine, theirs.into_data().unwrap_or_default());

    // Scale to 0 through the other client each.
    let mine = ours("scale 0", lattice.ctl().scale_component(scale(&ids[1], &reference2, "by-upstream", 0)?)).await?;
    let theirs =
        up("scale 0", lattice.upstream().scale_component(&ids[0], &reference2, "by-ours", 0, None, vec![], false))
            .await?;
    same("scale to 0 outcome", our_outcome(mine)?, up_outcome(&theirs));
    wait_component(&lattice, &ids[0], "by-ours", 0).await?;
    wait_component(&lattice, &ids[1], "by-upstream", 0).await?;
    for id in &ids {
        let inv = inventories_match(&lattice, id).await?;
        assert!(inv.components.is_empty());
    }
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_scale_is_acked_and_reported_as_event() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let mut events = ours("events", lattice.ctl().events(&["component_scale_failed".to_string()])).await??;
    let missing = "file:///nonexistent/missing-component.wasm";

    let mine = ours("scale missing", lattice.ctl().scale_component(scale(&host, missing, "missing-ours", 1)?)).await?;
    let theirs = up(
        "scale missing",
        lattice.upstream().scale_component(&host, missing, "missing-upstream", 1, None, vec![], false),
    )
    .await?;
    let mine = our_outcome(mine)?;
    assert!(mine.is_ok(), "the host acks a scale before trying it: {mine:?}");
    same("failed scale ack", mine, up_outcome(&theirs));

    let mut failed = HashSet::new();
    while failed.len() < 2 {
        let ev = bounded("component_scale_failed event", CALL_TIMEOUT, events.next())
            .await?
            .context("event stream ended")??;
        assert_eq!(ev.short_type(), "component_scale_failed");
        assert_eq!(ev.source, host);
        let id = ev.data["component_id"].as_str().unwrap_or_default().to_string();
        assert!(ev.data["error"].as_str().is_some_and(|e| !e.is_empty()), "{:?}", ev.data);
        failed.insert(id);
    }
    assert_eq!(failed, HashSet::from(["missing-ours".to_string(), "missing-upstream".to_string()]));
    let inv = inventories_match(&lattice, &host).await?;
    assert!(inv.components.is_empty());
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configs_and_links_agree() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let values = HashMap::from([("lattice".to_string(), "x".to_string()), ("k".to_string(), "v".to_string())]);

    // Config: written by one, read by the other.
    let mine = ours("put_config", lattice.ctl().put_config("cfg-ours", values.clone())).await?;
    let theirs = up("put_config", lattice.upstream().put_config("cfg-upstream", values.clone())).await?;
    same("put_config outcome", our_outcome(mine)?, up_outcome(&theirs));
    for name in ["cfg-ours", "cfg-upstream"] {
        let mine = retry("get_config", CALL_RETRY, || lattice.ctl().get_config(name)).await?;
        let theirs = up("get_config", lattice.upstream().get_config(name)).await?;
        same(&format!("get_config {name}"), mine, theirs.into_data());
    }
    let mine = ours("get missing config", lattice.ctl().get_config("no-such-config")).await??;
    let theirs = up("get missing config", lattice.upstream().get_config("no-such-config")).await?;
    assert!(theirs.succeeded());
    same("get_config missing", mine, theirs.into_data().filter(|m| !m.is_empty()));

    // Links: put by one, listed by both.
    let link = |source: &str, target: &str, config: &str| {
        ctl::Link::builder()
            .source_id(source)
            .target(target)
            .wit_namespace("wasmcloud")
            .wit_package("lattice-control")
            .interfaces(["lattice-control"])
            .target_config([config])
            .build()
    };
    let mine = ours("put_link", lattice.ctl().put_link(link("comp-a", "prov", "cfg-ours")?)).await?;
    let up_link: wasmcloud_control_interface::Link = conv(&link("comp-b", "prov", "cfg-upstream")?)?;
    let theirs = up("put_link", lattice.upstream().put_link(up_link)).await?;
    same("put_link outcome", our_outcome(mine)?, up_outcome(&theirs));
    let sorted = |mut v: Vec<ctl::Link>| {
        v.sort_by(|a, b| a.source_id.cmp(&b.source_id));
        v
    };
    let mine = ours("get_links", lattice.ctl().get_links()).await??;
    let theirs = up("get_links", lattice.upstream().get_links()).await?;
    let theirs: Vec<ctl::Link> = theirs.into_data().unwrap_or_default().iter().map(conv).collect::<Result<_>>()?;
    same("get_links", sorted(mine.clone()), sorted(theirs));
    assert_eq!(mine.len(), 2);

    // Refusals: same link with another target; a target config that does not exist.
    let mine =
        our_outcome(ours("conflicting link", lattice.ctl().put_link(link("comp-a", "other", "cfg-ours")?)).await?)?;
    let theirs =
        up("conflicting link", lattice.upstream().put_link(conv(&link("comp-a", "other", "cfg-ours")?)?)).await?;
    assert!(mine.is_err(), "a link with another target is refused: {mine:?}");
    same("conflicting put_link", mine, up_outcome(&theirs));
    let mine = our_outcome(
        ours("missing config link", lattice.ctl().put_link(link("comp-c", "prov", "no-such-config")?)).await?,
    )?;
    let theirs =
        up("missing config link", lattice.upstream().put_link(conv(&link("comp-c", "prov", "no-such-config")?)?))
            .await?;
    assert!(mine.is_err(), "a link naming a missing config is refused: {mine:?}");
    same("put_link with missing config", mine, up_outcome(&theirs));

    // Delete: each deletes the link the other put.
    let delete = |source: &str| {
        ctl::DeleteInterfaceLinkDefinitionRequest::builder()
            .source_id(source)
            .name("default")
            .wit_namespace("wasmcloud")
            .wit_package("lattice-control")
            .build()
    };
    let mine = ours("delete_link", lattice.ctl().delete_link(delete("comp-b")?)).await?;
    let theirs =
        up("delete_link", lattice.upstream().delete_link("comp-a", "default", "wasmcloud", "lattice-control")).await?;
    same("delete_link outcome", our_outcome(mine)?, up_outcome(&theirs));
    let mine = ours("get_links", lattice.ctl().get_links()).await??;
    let theirs = up("get_links", lattice.upstream().get_links()).await?;
    same("get_links after delete", mine.len(), theirs.into_data().unwrap_or_default().len());
    assert!(mine.is_empty());

    let mine = ours("delete_config", lattice.ctl().delete_config("cfg-upstream")).await?;
    let theirs = up("delete_config", lattice.upstream().delete_config("cfg-ours")).await?;
    same("delete_config outcome", our_outcome(mine)?, up_outcome(&theirs));
    for name in ["cfg-ours", "cfg-upstream"] {
        let mine = ours("get deleted config", lattice.ctl().get_config(name)).await??;
        assert_eq!(mine, None, "{name} deleted");
    }

    // Registry credentials: both acked alike.
    let mut mine_creds = ctl::RegistryCredentialMap::new();
    mine_creds.insert(
        "registry.example.com".to_string(),
        ctl::RegistryCredential {
            username: Some("u".into()),
            password: Some("p".into()),
            registry_type: "oci".into(),
            ..Default::default()
        },
    );
    let their_creds: HashMap<String, wasmcloud_control_interface::RegistryCredential> = conv(&mine_creds)?;
    let mine = ours("put_registries", lattice.ctl().put_registries(mine_creds)).await?;
    let theirs = up("put_registries", lattice.upstream().put_registries(their_creds)).await?;
    // Upstream publishes without waiting and makes up its own message; ours waits for the
    // host's reply. Only success can be compared.
    same("put_registries succeeded", our_outcome(mine)?.is_ok(), theirs.succeeded());
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_host_through_either_client() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 3).await?;
    let ids = lattice.host_ids();
    let cmd = ctl::StopHostCommand::builder().host_id(ids[2].clone()).timeout_ms(1000).build()?;
    let mine = ours("stop_host", lattice.ctl().stop_host(cmd)).await?;
    let theirs = up("stop_host", lattice.upstream().stop_host(&ids[1], Some(1000))).await?;
    same("stop_host outcome", our_outcome(mine)?, up_outcome(&theirs));
    // Only host 0 still answers, to both clients.
    let remaining = wait_for("stopped hosts gone", Duration::from_secs(15), || async {
        let hosts = lattice.ctl().get_hosts().await?;
        Ok((hosts.len() == 1).then_some(hosts))
    })
    .await?;
    same(
        "get_hosts after stop_host",
        sorted_ids(remaining.into_iter().map(|h| h.id)),
        upstream_host_ids(&lattice).await?,
    );
    assert_eq!(upstream_host_ids(&lattice).await?, vec![ids[0].clone()]);
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_start_and_stop_agree() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    let ids = lattice.host_ids();
    let par = lattice_control_e2e::provider_par_ref()?;

    // Start through each client on its own host; both acks alike; both show in inventories.
    let cmd = ctl::StartProviderCommand::builder()
        .host_id(ids[0].clone())
        .provider_ref(par.clone())
        .provider_id("p-ours")
        .build()?;
    let mine = ours("start_provider", lattice.ctl().start_provider(cmd)).await?;
    let theirs =
        up("start_provider", lattice.upstream().start_provider(&ids[1], &par, "p-upstream", None, vec![])).await?;
    same("start_provider outcome", our_outcome(mine)?, up_outcome(&theirs));
    lattice_control_e2e::wait_provider_ready(&lattice, "p-ours").await?;
    lattice_control_e2e::wait_provider_ready(&lattice, "p-upstream").await?;
    for id in &ids {
        let inv = inventories_match(&lattice, id).await?;
        assert_eq!(inv.providers.len(), 1, "one provider on each host");
    }

    // Stop each through the other client.
    let cmd = ctl::StopProviderCommand::builder().host_id(ids[1].clone()).provider_id("p-upstream").build()?;
    let mine = ours("stop_provider", lattice.ctl().stop_provider(cmd)).await?;
    let theirs = up("stop_provider", lattice.upstream().stop_provider(&ids[0], "p-ours")).await?;
    same("stop_provider outcome", our_outcome(mine)?, up_outcome(&theirs));
    for id in &ids {
        wait_for("provider stopped", CALL_TIMEOUT, || async {
            Ok(lattice.ctl().get_host_inventory(id).await?.providers.is_empty().then_some(()))
        })
        .await?;
        inventories_match(&lattice, id).await?;
    }
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn error_kinds_against_a_real_lattice() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    // Watch the lattice's control subjects: refused arguments must send nothing.
    let mut sniff =
        bounded("subscribe", CALL_TIMEOUT, lattice.nats().subscribe(format!("wasmbus.ctl.v1.{}.>", lattice.lattice())))
            .await??;
    bounded("flush", CALL_TIMEOUT, lattice.nats().flush()).await??;

    let bad: Vec<(&str, ctl::Result<ctl::Ack>)> = vec![
        ("blank label key", lattice.ctl().put_label(&host, " ", "v").await),
        ("hostcore label", lattice.ctl().put_label(&host, "hostcore.arch", "v").await),
        ("blank host id", lattice.ctl().put_label("  ", "k", "v").await),
        ("blank config name", lattice.ctl().put_config("", HashMap::new()).await),
        ("blank delete config", lattice.ctl().delete_config(" ").await),
    ];
    for (what, r) in bad {
        let err = r.expect_err(what);
        assert_eq!(err.kind(), CtlErrorKind::InvalidArgument, "{what}: {err}");
    }
    for (what, r) in [
        (
            "empty ref",
            ctl::ScaleComponentCommand::builder().host_id(host.clone()).component_id("c").build().map(|_| ()),
        ),
        ("empty link", ctl::Link::builder().build().map(|_| ())),
    ] {
        let err = r.expect_err(what);
        assert_eq!(err.kind(), CtlErrorKind::InvalidArgument, "{what}: {err}");
    }
    // Nothing reached the wire.
    bounded("flush", CALL_TIMEOUT, lattice.nats().flush()).await??;
    let leaked = tokio::time::timeout(Duration::from_millis(300), sniff.next()).await;
    assert!(leaked.is_err(), "refused arguments sent {:?}", leaked.ok().flatten().map(|m| m.subject));
    // The sniffer is a responder too: gone before testing "no responders".
    bounded("unsubscribe", CALL_TIMEOUT, sniff.unsubscribe()).await??;
    bounded("flush", CALL_TIMEOUT, lattice.nats().flush()).await??;

    // Unknown host id: nobody listens on its subject.
    let ghost = nkeys::KeyPair::new_server().public_key();
    let err =
        ours("inventory of unknown host", lattice.ctl().get_host_inventory(&ghost)).await?.expect_err("unknown host");
    assert_eq!(err.kind(), CtlErrorKind::NoResponders, "{err}");
    assert!(up("inventory of unknown host", lattice.upstream().get_host_inventory(&ghost)).await.is_err());

    // A lattice with no host at all.
    let empty = ctl::ClientBuilder::new(lattice.nats().clone())
        .lattice(format!("{}-empty", lattice.lattice()))
        .timeout(Duration::from_millis(500))
        .build();
    let err = ours("label on empty lattice", empty.put_label(&host, "k", "v")).await?.expect_err("no host");
    assert_eq!(err.kind(), CtlErrorKind::NoResponders, "{err}");
    let hosts = ours("get_hosts on empty lattice", empty.get_hosts()).await??;
    assert!(hosts.is_empty());

    // A responder that never answers: timeout.
    let silent_lattice = format!("{}-silent", lattice.lattice());
    let _silent =
        bounded("subscribe", CALL_TIMEOUT, lattice.nats().subscribe(format!("wasmbus.ctl.v1.{silent_lattice}.>")))
            .await??;
    bounded("flush", CALL_TIMEOUT, lattice.nats().flush()).await??;
    let silent = ctl::ClientBuilder::new(lattice.nats().clone())
        .lattice(silent_lattice)
        .timeout(Duration::from_millis(300))
        .build();
    let err = ours("silent host", silent.get_host_inventory(&host)).await?.expect_err("silent");
    assert_eq!(err.kind(), CtlErrorKind::Timeout, "{err}");

    // A host rejection carries the host's message.
    let cmd = ctl::UpdateComponentCommand::builder()
        .host_id(host.clone())
        .component_id("ghost")
        .new_component_ref(noop_component_ref()?)
        .build()?;
    let err = ours("update unknown", lattice.ctl().update_component(cmd)).await?.expect_err("rejected");
    assert_eq!(err.kind(), CtlErrorKind::Rejected, "{err}");
    assert!(!err.message().is_empty());

    // NATS gone: once the client knows, requests fail fast with `transport`.
    let own = lattice_control_e2e::Nats::start()?;
    let client = own.connect().await?;
    let dead = ctl::ClientBuilder::new(client.clone()).lattice("dead").timeout(Duration::from_millis(500)).build();
    own.kill();
    wait_for("client sees the outage", CALL_TIMEOUT, || async {
        Ok((client.connection_state() != async_nats::connection::State::Connected).then_some(()))
    })
    .await?;
    let err = ours("request with NATS down", dead.get_host_inventory(&host)).await?.expect_err("NATS down");
    assert_eq!(err.kind(), CtlErrorKind::Transport, "{err}");
    let err = ours("scatter with NATS down", dead.get_hosts()).await?.expect_err("NATS down");
    assert_eq!(err.kind(), CtlErrorKind::Transport, "{err}");
    lattice.shutdown().await
}
