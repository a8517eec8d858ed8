//! A link's whole life on a real host: links whose server never answers do not hold up a
//! good one (nor health, deletes or shutdown), a changed put and an edited named config
//! apply without "delete and put again", and two link names of one component keep their own
//! settings through each other's puts and deletes.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, no_options, types, Caller};
use lattice_control_e2e::stress::provider_healthy;
use lattice_control_e2e::util::unique_name;
use lattice_control_e2e::{
    bounded, delete_provider_link, put_config, put_provider_link, shared_nats, start_provider, stop_provider,
    TestLattice,
};

/// Bound of one call attempt: these calls answer in ms, so beyond this the attempt was lost
/// in the caller's wRPC transport (PLATFORM-NOTES) and is tried again.
const ATTEMPT: Duration = Duration::from_secs(2);

/// How long a settings change may take to show in a call (the bound).
const APPLIES_WITHIN: Duration = Duration::from_secs(2);

/// Bound of one attempt while polling: a lost attempt must leave time for others within
/// [`APPLIES_WITHIN`] (one lost 2 s attempt used the whole window on a loaded CI machine).
const POLL_ATTEMPT: Duration = Duration::from_millis(500);

/// The answer of one `provider-info` call: the link info, or the error case's name.
async fn info(caller: &Caller) -> Result<std::result::Result<types::LinkInfo, &'static str>> {
    info_within(caller, ATTEMPT).await
}

async fn info_within(caller: &Caller, bound: Duration) -> Result<std::result::Result<types::LinkInfo, &'static str>> {
    let answer =
        bounded("provider-info", bound, lc::provider_info(caller.wrpc(), caller.cx(), &no_options())).await??;
    Ok(answer.map_err(|e| error_kind(&e)))
}

/// Polls `provider-info` until `check` passes, for at most `within`; returns how long it took.
async fn until_info(
    caller: &Caller,
    what: &str,
    within: Duration,
    check: impl Fn(&std::result::Result<types::LinkInfo, &'static str>) -> bool,
) -> Result<Duration> {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < within {
        if let Ok(answer) = info_within(caller, POLL_ATTEMPT).await {
            if check(&answer) {
                return Ok(start.elapsed());
            }
            last = Some(answer);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{what}: not seen within {within:?} (last answer {last:?})")
}

fn allows(answer: &std::result::Result<types::LinkInfo, &'static str>, op: &str) -> bool {
    answer.as_ref().is_ok_and(|i| i.allowed_operations.iter().any(|o| o == op))
}

/// A TCP listener that accepts and never speaks NATS (a client waits for INFO until its
/// connect timeout). Held open by the test; its sockets are kept by the acceptor thread.
fn silent_listener() -> Result<(String, std::thread::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("nats://{}", listener.local_addr()?);
    listener.set_nonblocking(true)?;
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Ok((url, handle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_links_hold_up_nothing() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let provider = unique_name("lc-stall");
    start_provider(&lattice, 0, &provider, &[]).await?;
    let wrpc = Caller::new(lattice.nats().clone(), lattice.lattice(), &provider).await?;

    // ten links whose server accepts TCP and never speaks NATS, put together with a good one
    let mut listeners = Vec::new();
    for i in 0..10 {
        let (url, handle) = silent_listener()?;
        let config = format!("{provider}-stalled-{i}");
        put_config(&lattice, &config, &[("nats_url", &url)]).await?;
        put_provider_link(&lattice, &format!("stalled-{i}"), "default", &provider, &[config.as_str()]).await?;
        listeners.push(handle);
    }
    put_provider_link(&lattice, "good", "default", &provider, &[]).await?;
    let put_at = Instant::now();
    let good = wrpc.as_component("good", "default");
    // get-links needs the link's connection: callable means connected
    let answered = loop {
        if put_at.elapsed() > Duration::from_secs(10) {
            bail!("the good link never answered get-links");
        }
        if let Ok(Ok(Ok(_))) = bounded("get-links", ATTEMPT, lc::get_links(good.wrpc(), good.cx(), &no_options())).await
        {
            break put_at.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let health_start = Instant::now();
    let healthy = provider_healthy(&lattice, &provider).await;
    let health = health_start.elapsed();
    println!(
        "stall: good link answered get-links {answered:?} after its put beside 10 stalled links; health answered in {health:?}"
    );
    assert!(healthy, "health answers while 10 links are stalled");
    // the old provider answered after 5 x 2 s; anything near one connect timeout is a stall
    assert!(answered < Duration::from_millis(1500), "good link waited {answered:?}: a stalled link held it up");

    // a stalled link's delete takes effect at once
    let stalled = wrpc.as_component("stalled-0", "default");
    assert_eq!(info(&stalled).await?.map(|_| "ok"), Ok("ok"));
    delete_provider_link(&lattice, "stalled-0", "default").await?;
    let gone = until_info(&stalled, "stalled link deleted", Duration::from_secs(2), |a| matches!(a, Err("not-linked")))
        .await?;
    println!("stall: delete of a stalled link applied after {gone:?}");

    // a stalled link's call is a bounded transport error naming the server
    let other = wrpc.as_component("stalled-1", "default");
    let answer =
        bounded("stalled get-links", Duration::from_secs(8), lc::get_links(other.wrpc(), other.cx(), &no_options()))
            .await??;
    match answer {
        Err(types::CtlError::Transport(m)) => assert!(m.contains("127.0.0.1"), "{m}"),
        other => bail!("expected a transport error from a stalled link, got {other:?}"),
    }

    // shutdown is not delayed by the stalled connects
    let stop_at = Instant::now();
    stop_provider(&lattice, 0, &provider).await?;
    println!("stall: provider stopped {:?} after the stop command", stop_at.elapsed());
    drop(listeners);
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changed_puts_and_edited_configs_apply_live() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let provider = unique_name("lc-live");
    start_provider(&lattice, 0, &provider, &[]).await?;
    let wrpc = Caller::new(lattice.nats().clone(), lattice.lattice(), &provider).await?;
    let caller = wrpc.as_component("live", "default");

    let narrow = format!("{provider}-narrow");
    put_config(&lattice, &narrow, &[("allow", "read-only")]).await?;
    put_provider_link(&lattice, "live", "default", &provider, &[narrow.as_str()]).await?;
    until_info(&caller, "link put", Duration::from_secs(10), |a| a.as_ref().is_ok_and(|i| i.policy == "read-only"))
        .await?;
    assert!(!allows(&info(&caller).await?, "scale-component"));

    // a second put of the same link with another named config (the SDK alone drops it)
    let wide = format!("{provider}-wide");
    put_config(&lattice, &wide, &[("allow", "all"), ("lattice", "elsewhere")]).await?;
    put_provider_link(&lattice, "live", "default", &provider, &[wide.as_str()]).await?;
    let took = until_info(&caller, "changed put", APPLIES_WITHIN, |a| {
        allows(a, "scale-component") && a.as_ref().is_ok_and(|i| i.lattice == "elsewhere")
    })
    .await?;
    println!("live: changed put applied after {took:?}");

    // editing the named config the link uses (what a wadm manifest update does)
    put_config(&lattice, &wide, &[("allow", "get-hosts,put-label"), ("lattice", "third")]).await?;
    let took = until_info(&caller, "edited config", APPLIES_WITHIN, |a| {
        allows(a, "put-label") && !allows(a, "scale-component") && a.as_ref().is_ok_and(|i| i.lattice == "third")
    })
    .await?;
    println!("live: edited named config applied after {took:?}");

    // an identical re-put changes nothing
    put_provider_link(&lattice, "live", "default", &provider, &[wide.as_str()]).await?;
    // the provider applies link puts in the order the host sent them: once a later put (a
    // marker link) is live, the re-put has been applied
    put_provider_link(&lattice, "live-marker", "default", &provider, &[]).await?;
    let marker = wrpc.as_component("live-marker", "default");
    until_info(&marker, "the marker link", APPLIES_WITHIN, |a| a.is_ok()).await?;
    let now = info(&caller).await?;
    assert!(allows(&now, "put-label") && now.as_ref().is_ok_and(|i| i.lattice == "third"), "{now:?}");

    // the edited config reached the link through the provider: its calls manage `third`
    // (no host there, so get-hosts answers an empty list)
    let hosts = bounded(
        "get-hosts",
        Duration::from_secs(8),
        lc::get_hosts(caller.wrpc(), caller.cx(), &lattice_control_e2e::caller::HOST_QUERY),
    )
    .await??;
    match hosts {
        Ok(h) => assert!(h.is_empty(), "lattice `third` has no hosts: {h:?}"),
        Err(e) => bail!("get-hosts on the edited link: {e:?}"),
    }
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_link_names_keep_their_own_settings() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let provider = unique_name("lc-names");
    start_provider(&lattice, 0, &provider, &[]).await?;
    let wrpc = Caller::new(lattice.nats().clone(), lattice.lattice(), &provider).await?;
    let (default, admin) = (wrpc.as_component("multi", "default"), wrpc.as_component("multi", "admin"));
    let (a, b) = (format!("{provider}-a"), format!("{provider}-b"));
    put_config(&lattice, &a, &[("lattice", "lattice-a")]).await?;
    put_config(&lattice, &b, &[("lattice", "lattice-b"), ("allow", "all")]).await?;
    put_provider_link(&lattice, "multi", "default", &provider, &[a.as_str()]).await?;
    put_provider_link(&lattice, "multi", "admin", &provider, &[b.as_str()]).await?;
    let on = |lattice: &'static str, policy: &'static str| {
        move |x: &std::result::Result<types::LinkInfo, &'static str>| {
            x.as_ref().is_ok_and(|i| i.lattice == lattice && i.policy.starts_with(policy))
        }
    };
    until_info(&default, "default link", Duration::from_secs(10), on("lattice-a", "read-only")).await?;
    until_info(&admin, "admin link", Duration::from_secs(10), on("lattice-b", "all")).await?;

    // re-put default with another config: admin keeps its settings
    let c = format!("{provider}-c");
    put_config(&lattice, &c, &[("lattice", "lattice-c")]).await?;
    put_provider_link(&lattice, "multi", "default", &provider, &[c.as_str()]).await?;
    until_info(&default, "default re-put", APPLIES_WITHIN, on("lattice-c", "read-only")).await?;
    assert!(on("lattice-b", "all")(&info(&admin).await?), "admin kept its settings");

    // delete admin: default stays
    delete_provider_link(&lattice, "multi", "admin").await?;
    until_info(&admin, "admin deleted", APPLIES_WITHIN, |x| matches!(x, Err("not-linked"))).await?;
    assert!(on("lattice-c", "read-only")(&info(&default).await?), "default kept its settings");

    // admin again: both are there
    put_provider_link(&lattice, "multi", "admin", &provider, &[b.as_str()]).await?;
    until_info(&admin, "admin put again", APPLIES_WITHIN, on("lattice-b", "all")).await?;
    assert!(on("lattice-c", "read-only")(&info(&default).await?));
    lattice.shutdown().await
}
