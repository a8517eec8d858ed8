//! Lattice events on real hosts: the wait forms of the control client, and (through the
//! provider) events pushed to a component stand-in that exports `handle-event`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use futures::StreamExt as _;
use lattice_control_e2e::caller::{error_kind, events, lattice_control as lc, no_options, types, wit_scale, Caller};
use lattice_control_e2e::stand_in::{self, drain, evt, Received, Serving};
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{
    bounded, delete_provider_link, noop_component_ref, put_provider_link_with, retry, shared_nats, start_provider,
    TestLattice, CALL_RETRY, CALL_TIMEOUT,
};
use lattice_control_provider::ctl::{self, CtlErrorKind};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn scale(host: &str, component_ref: &str, id: &str, n: u32) -> Result<ctl::ScaleComponentCommand> {
    Ok(ctl::ScaleComponentCommand::builder()
        .host_id(host)
        .component_ref(component_ref)
        .component_id(id)
        .max_instances(n)
        .build()?)
}

/// A FIFO the host blocks on when asked to load it as a component: the scale is acked, and
/// no outcome event comes until something is written. Dropping it writes garbage so the
/// host's blocked read ends (the scale then fails).
struct StallingRef {
    path: PathBuf,
}

impl StallingRef {
    fn new(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let status = std::process::Command::new("mkfifo").arg(&path).status()?;
        anyhow::ensure!(status.success(), "mkfifo failed: {status}");
        Ok(Self { path })
    }

    fn reference(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Unblocks the host's read (opening for write without a reader would block: the
    /// non-blocking open fails instead when nobody reads).
    fn release(&self) {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        const O_NONBLOCK: i32 = 0o4000;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).custom_flags(O_NONBLOCK).open(&self.path) {
            let _ = f.write_all(b"not a component");
        }
    }
}

impl Drop for StallingRef {
    fn drop(&mut self) {
        self.release();
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_and_wait_returns_the_scaled_event() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let noop = noop_component_ref()?;
    let ev = bounded(
        "scale_component_and_wait",
        WAIT + CALL_TIMEOUT,
        lattice.ctl().scale_component_and_wait(scale(&host, &noop, "waiter", 2)?, WAIT),
    )
    .await??;
    assert_eq!(ev.short_type(), "component_scaled");
    assert_eq!(ev.data["component_id"], "waiter");
    assert_eq!(ev.data["max_instances"], 2);
    assert_eq!(ev.source, host);
    // it really runs
    let inv = bounded("inventory", CALL_TIMEOUT, lattice.ctl().get_host_inventory(&host)).await??;
    assert!(inv.components.iter().any(|c| c.id == "waiter" && c.max_instances == 2));

    let ev = bounded(
        "scale to 0 and wait",
        WAIT + CALL_TIMEOUT,
        lattice.ctl().scale_component_and_wait(scale(&host, &noop, "waiter", 0)?, WAIT),
    )
    .await??;
    assert_eq!(ev.data["max_instances"], 0);
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_forms_report_the_hosts_failure_message() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let missing = "file:///nonexistent/lattice-control-e2e/missing.wasm";
    let err = bounded(
        "scale a missing component and wait",
        WAIT + CALL_TIMEOUT,
        lattice.ctl().scale_component_and_wait(scale(&host, missing, "ghost", 1)?, WAIT),
    )
    .await?
    .expect_err("the component file does not exist");
    assert_eq!(err.kind(), CtlErrorKind::Rejected, "{err}");
    // the host's own error text (`failed to read component: No such file or directory`)
    assert!(err.message().contains("No such file"), "{err}");

    let cmd = ctl::StartProviderCommand::builder()
        .host_id(host.clone())
        .provider_id("bad-provider")
        .provider_ref("file:///nonexistent/lattice-control-e2e/missing.par.gz")
        .build()?;
    let err = bounded(
        "start a missing provider and wait",
        WAIT + CALL_TIMEOUT,
        lattice.ctl().start_provider_and_wait(cmd, WAIT),
    )
    .await?
    .expect_err("the provider archive does not exist");
    assert_eq!(err.kind(), CtlErrorKind::Rejected, "{err}");
    assert!(!err.message().is_empty());
    assert!(!err.message().contains("without an error message"), "{err}");

    // the command's own refusal comes back at once, without waiting for an event
    let cmd = ctl::StopProviderCommand::builder().host_id(host.clone()).provider_id("not-running").build()?;
    let started = std::time::Instant::now();
    let err =
        bounded("stop a provider that does not run", CALL_TIMEOUT, lattice.ctl().stop_provider_and_wait(cmd, WAIT))
            .await?
            .expect_err("not running");
    assert_eq!(err.kind(), CtlErrorKind::Rejected, "{err}");
    assert!(err.message().contains("not running"), "{err}");
    assert!(started.elapsed() < WAIT / 2, "a refusal does not wait");
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_times_out_saying_what_was_seen() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let dir = tempfile::tempdir()?;
    let stall = StallingRef::new(dir.path(), "stall-1.wasm")?;

    // nothing related happens: the host is stuck reading the FIFO
    let short = Duration::from_millis(400);
    let err = bounded(
        "scale a stalled component and wait",
        short + CALL_TIMEOUT,
        lattice.ctl().scale_component_and_wait(scale(&host, &stall.reference(), "stalled", 1)?, short),
    )
    .await?
    .expect_err("no outcome while the host is blocked");
    assert_eq!(err.kind(), CtlErrorKind::Timeout, "{err}");
    assert!(err.message().contains("400 ms") && err.message().contains("no such event"), "{err}");

    // another component's scale is seen but does not end the wait; the timeout names it
    let other = lattice.ctl().clone();
    let noop = noop_component_ref()?;
    let host2 = host.clone();
    let bystander = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let cmd = scale(&host2, &noop, "bystander", 1).expect("command");
        bounded("bystander scale", CALL_TIMEOUT, other.scale_component(cmd)).await
    });
    let second = StallingRef::new(dir.path(), "stall-2.wasm")?;
    let wait = Duration::from_millis(1500);
    let err = bounded(
        "scale another stalled component and wait",
        wait + CALL_TIMEOUT,
        lattice.ctl().scale_component_and_wait(scale(&host, &second.reference(), "stalled2", 1)?, wait),
    )
    .await?
    .expect_err("still no outcome");
    bystander.await???;
    assert_eq!(err.kind(), CtlErrorKind::Timeout, "{err}");
    assert!(err.message().contains("last seen: component_scaled for component_id `bystander`"), "{err}");

    // releasing the FIFO lets the host fail the scale: the next wait sees it
    drop(stall);
    drop(second);
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zero_wait_timeout_is_refused() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let err = bounded(
        "zero timeout",
        CALL_TIMEOUT,
        lattice.ctl().scale_component_and_wait(scale(&host, &noop_component_ref()?, "z", 1)?, Duration::ZERO),
    )
    .await?
    .expect_err("zero timeout");
    assert_eq!(err.kind(), CtlErrorKind::InvalidArgument, "{err}");
    lattice.shutdown().await
}

const PROVIDER: &str = "lattice-control";

/// Serves a stand-in for `component_id` on the test's lattice.
async fn serve_stand_in(
    lattice: &TestLattice,
    component_id: &str,
    delay: Duration,
) -> Result<(mpsc::UnboundedReceiver<Received>, Serving)> {
    stand_in::serve(lattice.nats(), lattice.lattice(), component_id, delay).await
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Received>, what: &str) -> Result<Received> {
    bounded(what, CALL_TIMEOUT, rx.recv()).await?.ok_or_else(|| anyhow!("{what}: stand-in gone"))
}

async fn provider_info(caller: &Caller) -> Result<types::LinkInfo> {
    retry("provider-info", CALL_RETRY, || async {
        lc::provider_info(caller.wrpc(), caller.cx(), &no_options()).await?.map_err(|e| anyhow!("{e:?}"))
    })
    .await
}

/// Pokes the lattice until the stand-in receives an event (its link's subscription is live).
async fn probe<F, Fut>(rx: &mut mpsc::UnboundedReceiver<Received>, what: &str, mut poke: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        bounded(what, CALL_TIMEOUT, poke()).await??;
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: no event within 30 s");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Events pushed through the provider to component stand-ins: typed delivery of
/// `component_scaled` after a scale through the provider, per-link filters, a stuck handler
/// not delaying another link, link deletion stopping delivery, delivery latency, and the
/// wait forms through the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_linked_components_through_the_provider() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;

    let (mut watcher, _w) = serve_stand_in(&lattice, "watcher", Duration::ZERO).await?;
    let (mut picky, _p) = serve_stand_in(&lattice, "picky", Duration::ZERO).await?;
    // never answers within the test: its call stays in flight, its queue overflows
    let (mut stuck, _s) = serve_stand_in(&lattice, "stuck", Duration::from_secs(120)).await?;
    put_provider_link_with(&lattice, "watcher", PROVIDER, &[("events", "component_scaled"), ("allow", "all")]).await?;
    put_provider_link_with(&lattice, "picky", PROVIDER, &[("events", "config_deleted")]).await?;
    put_provider_link_with(
        &lattice,
        "stuck",
        PROVIDER,
        &[("events", "*"), ("event_queue", "2"), ("event_timeout_ms", "60000")],
    )
    .await?;

    let callers = Caller::new(lattice.nats().clone(), lattice.lattice(), PROVIDER).await?;
    let as_watcher = callers.as_component("watcher", "default");
    assert_eq!(provider_info(&as_watcher).await?.event_subscriptions, vec!["component_scaled"]);
    let as_picky = callers.as_component("picky", "default");
    assert_eq!(provider_info(&as_picky).await?.event_subscriptions, vec!["config_deleted"]);

    // the links' subscription is made in the background: probe until each link gets one
    let ctl = lattice.ctl();
    let noop = noop_component_ref()?;
    probe(&mut watcher, "watcher subscribed", || async {
        ctl.scale_component(scale(&host, &noop, "probe", 0)?).await?;
        Ok(())
    })
    .await?;
    probe(&mut picky, "picky subscribed", || async {
        ctl.delete_config("probe").await?;
        Ok(())
    })
    .await?;
    next_event(&mut stuck, "stuck link's first event").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drain(&mut watcher);

    // a scale through the provider (host given by a prefix of its id), waiting for its event
    let prefix = &host[..6];
    let cmd = wit_scale(noop.clone(), "subject", prefix, 1);
    let waited = bounded(
        "scale-component-and-wait through the provider",
        CALL_TIMEOUT,
        lc::scale_component_and_wait(
            as_watcher.wrpc(),
            as_watcher.cx(),
            &cmd,
            &types::WaitOptions { timeout_ms: 5000 },
        ),
    )
    .await??
    .map_err(|e| anyhow!("{e:?}"))?;
    assert_eq!(waited.event_type, "com.wasmcloud.lattice.component_scaled");
    assert_eq!(waited.lattice, lattice.lattice());
    match &waited.data {
        events::EventData::ComponentScaled(c) => {
            assert_eq!((c.component_id.as_str(), c.host_id.as_str()), ("subject", host.as_str()));
            assert_eq!(c.max_instances, 1);
        }
        other => panic!("typed as {other:?}"),
    }
    // ...and the linked stand-in got that very event, typed
    let (pushed, _) = next_event(&mut watcher, "component_scaled pushed").await?;
    assert_eq!(pushed.id, waited.id);
    match &pushed.data {
        evt::EventData::ComponentScaled(c) => assert_eq!(c.component_id, "subject"),
        other => panic!("typed as {other:?}"),
    }
    let raw: serde_json::Value = serde_json::from_str(&pushed.raw)?;
    assert_eq!(raw["component_id"], "subject");

    // latency: the test's own subscriber receives each event, the stand-in its call
    let mut seen = bounded(
        "test subscription",
        CALL_TIMEOUT,
        lattice.nats().subscribe(format!("wasmbus.evt.{}.component_scaled", lattice.lattice())),
    )
    .await??;
    bounded("flush", CALL_TIMEOUT, lattice.nats().flush()).await??;
    const ROUNDS: u32 = 30;
    let mut published: HashMap<String, Instant> = HashMap::new();
    let mut handled: HashMap<String, Instant> = HashMap::new();
    for n in 0..ROUNDS {
        let ev = bounded(
            "scale and wait",
            CALL_TIMEOUT * 2,
            ctl.scale_component_and_wait(scale(&host, &noop, "subject", 2 + n % 2)?, WAIT),
        )
        .await??;
        while !published.contains_key(&ev.id) {
            let msg = bounded("test subscriber", CALL_TIMEOUT, seen.next())
                .await?
                .ok_or_else(|| anyhow!("test subscription closed"))?;
            let at = Instant::now();
            let v: serde_json::Value = serde_json::from_slice(&msg.payload)?;
            if let Some(id) = v["id"].as_str() {
                published.insert(id.to_string(), at);
            }
        }
        while !handled.contains_key(&ev.id) {
            let (e, at) = next_event(&mut watcher, "scaled event pushed").await?;
            assert!(matches!(e.data, evt::EventData::ComponentScaled(_)), "{:?}", e.data);
            handled.insert(e.id, at);
        }
    }
    let mut latencies: Vec<Duration> =
        handled.iter().filter_map(|(id, h)| published.get(id).map(|p| h.saturating_duration_since(*p))).collect();
    latencies.sort();
    assert_eq!(latencies.len(), ROUNDS as usize);
    println!(
        "event delivery latency (published -> handle-event called), {} events: p50 {:?}, p90 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies[latencies.len() - 1],
    );

    // the stuck link is still in its first call: it delayed nobody, and got nothing more
    assert!(drain(&mut stuck).is_empty(), "the stuck handler was called again");

    // the picky link only ever got `config_deleted`
    ctl.delete_config("marker").await?;
    let mut got_marker = false;
    while !got_marker {
        let (e, _) = next_event(&mut picky, "config_deleted marker").await?;
        match e.data {
            evt::EventData::ConfigDeleted(name) => got_marker = name == "marker",
            other => panic!("picky got an unsubscribed event: {other:?}"),
        }
    }

    // wait forms through the provider: the host's failure message, timeout, bad bounds
    let bad = types::StartProviderCommand {
        provider_id: "bad-provider".into(),
        provider_ref: "file:///nonexistent/lattice-control-e2e/missing.par.gz".into(),
        host_id: host.clone(),
        config: vec![],
        annotations: None,
    };
    let err = bounded(
        "start-provider-and-wait (bad reference)",
        CALL_TIMEOUT,
        lc::start_provider_and_wait(as_watcher.wrpc(), as_watcher.cx(), &bad, &types::WaitOptions { timeout_ms: 5000 }),
    )
    .await??
    .expect_err("missing archive");
    match &err {
        types::CtlError::Rejected(m) => assert!(!m.is_empty() && !m.contains("without an error"), "{m}"),
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir()?;
    let stall = StallingRef::new(dir.path(), "stall.wasm")?;
    let stalled = types::ScaleComponentCommand {
        component_ref: stall.reference(),
        component_id: "stalled".into(),
        ..cmd.clone()
    };
    let err = bounded(
        "scale-component-and-wait (stalled)",
        CALL_TIMEOUT,
        lc::scale_component_and_wait(
            as_watcher.wrpc(),
            as_watcher.cx(),
            &stalled,
            &types::WaitOptions { timeout_ms: 300 },
        ),
    )
    .await??
    .expect_err("stalled");
    match &err {
        types::CtlError::Timeout(m) => assert!(m.contains("300 ms") && m.contains("stalled"), "{m}"),
        other => panic!("{other:?}"),
    }
    drop(stall);
    for ms in [0, 9001] {
        let err = bounded(
            "scale-component-and-wait (bad bound)",
            CALL_TIMEOUT,
            lc::scale_component_and_wait(
                as_watcher.wrpc(),
                as_watcher.cx(),
                &cmd,
                &types::WaitOptions { timeout_ms: ms },
            ),
        )
        .await??
        .expect_err("bad bound");
        assert_eq!(error_kind(&err), "invalid-argument", "{err:?}");
    }
    // read-only links may not use the wait forms
    let err = bounded(
        "scale-component-and-wait (read-only link)",
        CALL_TIMEOUT,
        lc::scale_component_and_wait(as_picky.wrpc(), as_picky.cx(), &cmd, &types::WaitOptions { timeout_ms: 1000 }),
    )
    .await??
    .expect_err("read-only");
    assert_eq!(error_kind(&err), "not-permitted", "{err:?}");

    // deleting the link stops delivery at once
    drain(&mut watcher);
    delete_provider_link(&lattice, "watcher", "default").await?;
    // the provider has the delete once it answers the watcher's link `not-linked`
    wait_for("the provider dropping the watcher's link", CALL_RETRY, || async {
        let answer = lc::provider_info(as_watcher.wrpc(), as_watcher.cx(), &no_options()).await;
        Ok(matches!(answer, Ok(Err(ref e)) if error_kind(e) == "not-linked").then_some(()))
    })
    .await?;
    ctl.scale_component_and_wait(scale(&host, &noop, "subject", 5)?, WAIT).await?;
    ctl.delete_config("marker2").await?;
    loop {
        // picky is still served: once it has the marker, the scale's event was fanned out
        let (e, _) = next_event(&mut picky, "second marker").await?;
        if matches!(e.data, evt::EventData::ConfigDeleted(ref n) if n == "marker2") {
            break;
        }
    }
    // a negative check: a window for an event the deleted link should not get (the marker above
    // already proves the scale's event was fanned out to every link still there)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = drain(&mut watcher);
    assert!(late.is_empty(), "deleted link still got {} event(s)", late.len());
    lattice.shutdown().await
}

/// A NATS account that may subscribe only to the two outcome events of a scale (and its
/// inboxes): the provider's `scale-component-and-wait` on a link with those credentials gets
/// its `component_scaled`, while a catch-all subscription on the same account gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_forms_work_on_an_account_granted_only_the_events_they_await() -> Result<()> {
    let l = lattice_control_e2e::util::unique_name("perm");
    let users = format!(
        r#"
    {{ user: waiter, password: waiter-pw, permissions: {{
        publish: {{ allow: ["wasmbus.ctl.v1.{l}.>"] }}
        subscribe: {{ allow: ["_INBOX.>", "wasmbus.evt.{l}.component_scaled", "wasmbus.evt.{l}.component_scale_failed"] }}
    }} }}"#
    );
    let nats = lattice_control_e2e::Nats::start_with_users(&users)?;
    let lattice = TestLattice::start_named(&nats, &l, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let url = format!("nats://waiter:waiter-pw@127.0.0.1:{}", nats.port());
    let settings = [("lattice", l.as_str()), ("allow", "all"), ("nats_url", url.as_str())];
    let c = lattice_control_e2e::stress::linked_caller(&lattice, PROVIDER, "waiter", "default", &settings).await?;

    // the same account, subscribed to every event of the lattice: refused by the server
    let limited = bounded(
        "connecting as the limited user",
        CALL_TIMEOUT,
        async_nats::ConnectOptions::with_user_and_password("waiter".into(), "waiter-pw".into()).connect(nats.url()),
    )
    .await??;
    let mut catch_all = limited.subscribe(format!("wasmbus.evt.{l}.>")).await?;
    limited.flush().await?;

    let cmd = wit_scale(noop_component_ref()?, "perm-waiter", host.clone(), 1);
    let wait = types::WaitOptions { timeout_ms: 8_000 };
    let ev = bounded(
        "scale-component-and-wait",
        WAIT + CALL_TIMEOUT,
        lc::scale_component_and_wait(c.wrpc(), c.cx(), &cmd, &wait),
    )
    .await??
    .map_err(|e| anyhow!("scale-and-wait on the limited account: {} ({e:?})", error_kind(&e)))?;
    assert_eq!(ev.event_type, "com.wasmcloud.lattice.component_scaled");
    assert_eq!(ev.source, host);
    let leaked = tokio::time::timeout(Duration::from_millis(500), catch_all.next()).await;
    assert!(!matches!(leaked, Ok(Some(_))), "the account must not see the lattice's other events: {leaked:?}");
    lattice.shutdown().await
}

/// The pushes (`handle-event` invocations) to `component`, read by a plain subscriber beside
/// the component's own server: each message on the function's subject is the start of one
/// call, with the headers the caller put on it.
async fn push_watcher(lattice: &TestLattice, component: &str) -> Result<async_nats::Subscriber> {
    let subject = format!("{}.{component}.wrpc.>", lattice.lattice());
    Ok(bounded("push subscriber", CALL_TIMEOUT, lattice.nats().subscribe(subject)).await??)
}

/// The next push start seen on `pushes` (messages on other wRPC subjects are skipped).
async fn next_push(pushes: &mut async_nats::Subscriber, what: &str) -> Result<async_nats::Message> {
    loop {
        let msg = bounded(what, CALL_TIMEOUT, pushes.next()).await?.ok_or_else(|| anyhow!("{what}: gone"))?;
        if msg.subject.as_str().ends_with("lattice-events@1.2.0.handle-event") {
            return Ok(msg);
        }
    }
}

fn header<'a>(msg: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    msg.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str())
}

/// Trace context on `handle-event` pushes, as a subscriber beside the component sees them: an
/// event whose CloudEvent carries `traceparent`/`tracestate` (the CloudEvents
/// distributed-tracing attributes) is pushed with them; a 0.27.1 host's own events carry none,
/// and with no OpenTelemetry exporter in the provider their pushes carry none either (as
/// upstream's host and SDK, which put trace context on a call only when there is a trace).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handle_event_pushes_carry_the_events_trace_context() -> Result<()> {
    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let (mut tracer, _t) = serve_stand_in(&lattice, "tracer", Duration::ZERO).await?;
    let mut pushes = push_watcher(&lattice, "tracer").await?;
    put_provider_link_with(&lattice, "tracer", PROVIDER, &[("events", "config_set")]).await?;
    let ctl = lattice.ctl();
    probe(&mut tracer, "tracer subscribed", || async {
        ctl.put_config("probe", HashMap::from([("k".to_string(), "v".to_string())])).await?;
        Ok(())
    })
    .await?;
    // let the probes' pushes pass, then start from a quiet subject
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), pushes.next()).await {}
    drain(&mut tracer);

    // the host's own event: no trace context on it, none on the push
    ctl.put_config("plain", HashMap::from([("k".to_string(), "v".to_string())])).await?;
    let push = next_push(&mut pushes, "push of the host's event").await?;
    assert_eq!(header(&push, "source-id"), Some(PROVIDER), "the push is the provider's call");
    assert_eq!(header(&push, "traceparent"), None, "no trace to continue, no traceparent");
    next_event(&mut tracer, "host event delivered").await?;

    // an event that carries trace context: the push continues that trace
    let event = serde_json::json!({
        "specversion": "1.0",
        "id": "0190ffff-0000-7000-8000-000000000001",
        "type": "com.wasmcloud.lattice.config_set",
        "source": lattice.host_id(0)?,
        "datacontenttype": "application/json",
        "time": "2026-12-02T05:00:00Z",
        "traceparent": PARENT,
        "tracestate": "vendor=e2e",
        "data": {"config_name": "traced"}
    });
    let subject = format!("wasmbus.evt.{}.config_set", lattice.lattice());
    lattice.nats().publish(subject, serde_json::to_vec(&event)?.into()).await?;
    // (a late push of a host event, without trace context, may come first)
    let push = loop {
        let push = next_push(&mut pushes, "push of the traced event").await?;
        if header(&push, "traceparent").is_some() {
            break push;
        }
    };
    assert_eq!(header(&push, "traceparent"), Some(PARENT), "the event's trace context goes on");
    assert_eq!(header(&push, "tracestate"), Some("vendor=e2e"));
    while next_event(&mut tracer, "traced event delivered").await?.0.id != "0190ffff-0000-7000-8000-000000000001" {}

    lattice.shutdown().await
}
