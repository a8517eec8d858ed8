//! The provider running on several hosts under one provider id (wadm's `daemonscaler`, or a
//! `spreadscaler` with more than one instance): each lattice event reaches each subscribed
//! link once, in the order it was published, and delivery goes on, losing nothing, when a
//! replica is killed. Runs on the suite's nats-server, which has JetStream, as every wadm
//! lattice's NATS has.
//!
//! `LATTICE_CONTROL_REPLICA_EVENTS` sets how many events each steady-state phase publishes
//! (default 10,000; a smaller number for a quick run).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context as _, Result};
use async_nats::jetstream;
use futures::TryStreamExt as _;
use lattice_control_e2e::caller::{lattice_control as lc, no_options, Caller};
use lattice_control_e2e::stand_in::{self, publish_event, Received};
use lattice_control_e2e::stress::provider_pid;
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{delete_provider_link, put_provider_link_with, shared_nats, start_provider, TestLattice};
use tokio::sync::mpsc;

const PROVIDER: &str = "lattice-control";
const COMPONENT: &str = "replica-watcher";
/// The event type published (one the host never sends, so nothing else interleaves).
const PROBE: &str = "replica_probe";
/// A phase fails when no event arrives for this long (polling, not a fixed sleep).
const STALL: Duration = Duration::from_secs(30);
/// Events published around the kills, one every [`KILL_PACE`] (slower than the replicas
/// deliver, so the backlog after a kill's pause drains before the next kill).
const KILL_EVENTS: usize = 4_500;
const KILL_PACE: Duration = Duration::from_millis(6);
/// Replicas killed one after another (each on its own host, each once the one killed before
/// was back): which replica holds the event in flight is the server's choice, so several
/// kills make it likely that one of them lands mid-call.
const KILLS: usize = 3;
/// Bound of one call made across the kill (a call the killed replica took gets no answer).
const CALL_BOUND: Duration = Duration::from_secs(2);
/// Pause between two calls made across the kill.
const CALL_PACE: Duration = Duration::from_millis(20);

/// Calls made through the provider while a replica is killed: how many, which failed, when.
#[derive(Default)]
struct Calls {
    made: usize,
    failed: Vec<Instant>,
}

/// Calls `provider-info` as the linked component every [`CALL_PACE`] until `stop` is set.
async fn call_until(caller: Caller, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Calls {
    let mut calls = Calls::default();
    let as_watcher = caller.as_component(COMPONENT, "default");
    let options = no_options();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let call = lc::provider_info(as_watcher.wrpc(), as_watcher.cx(), &options);
        let ok = matches!(tokio::time::timeout(CALL_BOUND, call).await, Ok(Ok(Ok(_))));
        calls.made += 1;
        if !ok {
            calls.failed.push(Instant::now());
        }
        tokio::time::sleep(CALL_PACE).await;
    }
    calls
}

fn steady_events() -> usize {
    std::env::var("LATTICE_CONTROL_REPLICA_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// The link's consumers on the server: those of the stream capturing the lattice's events
/// whose filter names this lattice.
async fn consumers(nats: &async_nats::Client, lattice: &str) -> Result<Vec<jetstream::consumer::Info>> {
    let js = jetstream::new(nats.clone());
    let prefix = format!("wasmbus.evt.{lattice}.");
    let Ok(name) = js.stream_by_subject(format!("{prefix}>")).await else {
        return Ok(Vec::new());
    };
    let stream = js.get_stream(&name).await.map_err(|e| anyhow!("stream {name}: {e}"))?;
    let infos: Vec<jetstream::consumer::Info> =
        stream.consumers().try_collect().await.map_err(|e| anyhow!("consumers of {name}: {e}"))?;
    Ok(infos
        .into_iter()
        .filter(|c| {
            c.config.filter_subject.starts_with(&prefix)
                || c.config.filter_subjects.iter().any(|s| s.starts_with(&prefix))
        })
        .collect())
}

/// Waits until the link has its one consumer and `replicas` replicas pull from it.
async fn pulling(lattice: &TestLattice, replicas: usize) -> Result<()> {
    wait_for(&format!("{replicas} replicas pulling from the link's consumer"), STALL, || async {
        let found = consumers(lattice.nats(), lattice.lattice()).await?;
        ensure!(found.len() <= 1, "more than one consumer for one link: {}", found.len());
        Ok(found.first().filter(|c| c.num_waiting >= replicas).map(|_| ()))
    })
    .await
}

/// What the stand-in received for one phase's ids: how often each, and in what order.
#[derive(Default)]
struct Tally {
    count: HashMap<u64, u32>,
    reorders: usize,
    last: Option<u64>,
    /// The longest pause between two pushes, and when it ended.
    gap: Duration,
    last_at: Option<Instant>,
}

impl Tally {
    fn take(&mut self, n: u64, at: Instant) {
        *self.count.entry(n).or_default() += 1;
        // a redelivery repeats the last event: a duplicate, not a reorder
        if self.last.is_some_and(|l| n < l) {
            self.reorders += 1;
        }
        self.last = Some(n);
        if let Some(prev) = self.last_at {
            self.gap = self.gap.max(at.saturating_duration_since(prev));
        }
        self.last_at = Some(at);
    }

    fn duplicates(&self) -> Vec<(u64, u32)> {
        let mut d: Vec<_> = self.count.iter().filter(|(_, c)| **c > 1).map(|(n, c)| (*n, *c)).collect();
        d.sort_unstable();
        d
    }

    fn missing(&self, total: usize) -> usize {
        (0..total as u64).filter(|n| !self.count.contains_key(n)).count()
    }
}

/// The sequence number of a push of phase `phase` (ids `{phase}-{n}`), if it is one.
fn seq(event: &Received, phase: &str) -> Option<u64> {
    event.0.id.strip_prefix(phase)?.strip_prefix('-')?.parse().ok()
}

/// Receives pushes of `phase` until all `total` arrived (or nothing came for [`STALL`]).
async fn collect(rx: &mut mpsc::UnboundedReceiver<Received>, phase: &str, total: usize) -> Result<Tally> {
    collect_copies(rx, phase, total, 1).await
}

async fn publish(lattice: &TestLattice, phase: &str, n: usize) -> Result<()> {
    publish_event(lattice.nats(), lattice.lattice(), PROBE, format!("{phase}-{n}"), serde_json::json!({ "n": n })).await
}

/// Publishes `total` events of `phase` at once and checks each arrives once, in order.
async fn steady(
    lattice: &TestLattice,
    rx: &mut mpsc::UnboundedReceiver<Received>,
    phase: &str,
    replicas: usize,
    total: usize,
) -> Result<()> {
    let started = Instant::now();
    for n in 0..total {
        publish(lattice, phase, n).await?;
    }
    lattice.nats().flush().await?;
    let tally = collect(rx, phase, total).await?;
    let took = started.elapsed();
    let duplicates = tally.duplicates();
    eprintln!(
        "replicas={replicas}: {total} events published, {} delivered, {} duplicates, {} reorders, in {took:?} \
         ({:.0} events/s)",
        tally.count.values().sum::<u32>(),
        duplicates.len(),
        tally.reorders,
        total as f64 / took.as_secs_f64()
    );
    ensure!(duplicates.is_empty(), "{phase}: events pushed more than once: {duplicates:?}");
    ensure!(tally.reorders == 0, "{phase}: {} events out of order", tally.reorders);
    Ok(())
}

/// One subscribed link, the provider on 2 then 3 hosts: every event once and in order; then
/// replicas killed (`SIGKILL`) one after another while events flow: none lost, at most the
/// one in flight pushed twice per kill (same id), calls still answered; the link deleted:
/// its consumer is gone from the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_event_reaches_the_link_once_in_order_with_replicas_and_across_a_kill() -> Result<()> {
    let total = steady_events();
    let lattice = TestLattice::start(shared_nats()?, 3).await?;
    let (mut rx, _serving) = stand_in::serve(lattice.nats(), lattice.lattice(), COMPONENT, Duration::ZERO).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    start_provider(&lattice, 1, PROVIDER, &[]).await?;
    put_provider_link_with(&lattice, COMPONENT, PROVIDER, &[("events", PROBE), ("event_queue", "65536")]).await?;
    pulling(&lattice, 2).await?;
    steady(&lattice, &mut rx, "two", 2, total).await?;

    start_provider(&lattice, 2, PROVIDER, &[]).await?;
    pulling(&lattice, 3).await?;
    steady(&lattice, &mut rx, "three", 3, total).await?;

    // events flow at a steady pace; a replica is killed at each quarter of the way
    let publisher = {
        let (nats, name) = (lattice.nats().clone(), lattice.lattice().to_string());
        tokio::spawn(async move {
            let mut pace = tokio::time::interval(KILL_PACE);
            for n in 0..KILL_EVENTS {
                pace.tick().await;
                publish_event(&nats, &name, PROBE, format!("kill-{n}"), serde_json::json!({ "n": n })).await?;
            }
            nats.flush().await?;
            anyhow::Ok(())
        })
    };
    let stop_calls = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let caller = Caller::new(lattice.nats().clone(), lattice.lattice(), PROVIDER).await?;
    let calling = tokio::spawn(call_until(caller, std::sync::Arc::clone(&stop_calls)));
    let mut tally = Tally::default();
    let mut kills: Vec<Instant> = Vec::new();
    let mut checked = Instant::now();
    while tally.count.len() < KILL_EVENTS {
        let due = kills.len() < KILLS && tally.count.len() >= KILL_EVENTS * (kills.len() + 1) / (KILLS + 1);
        // the next kill once every replica pulls again (the host restarted the one killed)
        if due && checked.elapsed() >= Duration::from_millis(100) {
            checked = Instant::now();
            let pulling = consumers(lattice.nats(), lattice.lattice()).await?.first().map_or(0, |c| c.num_waiting);
            if pulling >= 3 {
                let host = lattice.host_id(kills.len() % 3)?.to_string();
                let pid = provider_pid(&host)?;
                let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status()?;
                ensure!(status.success(), "kill -9 {pid}: {status}");
                kills.push(Instant::now());
            }
        }
        let got = match tokio::time::timeout(STALL, rx.recv()).await {
            Ok(Some(got)) => got,
            _ => return Err(anyhow!("kill: {} of {KILL_EVENTS} events never arrived", tally.missing(KILL_EVENTS))),
        };
        if let Some(n) = seq(&got, "kill") {
            tally.take(n, got.1);
        }
    }
    publisher.await.context("publisher")??;
    stop_calls.store(true, std::sync::atomic::Ordering::SeqCst);
    let calls = calling.await.context("caller")?;
    while let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        if let Some(n) = seq(&got, "kill") {
            tally.take(n, got.1);
        }
    }
    let duplicates = tally.duplicates();
    eprintln!(
        "{} replicas SIGKILLed one after another while {KILL_EVENTS} events flowed (one every {KILL_PACE:?}): {} \
         lost, {} pushed twice {duplicates:?}, {} reorders, longest gap between pushes {:?}",
        kills.len(),
        tally.missing(KILL_EVENTS),
        duplicates.len(),
        tally.reorders,
        tally.gap
    );
    let recovered =
        calls.failed.last().map(|f| kills.iter().filter(|k| *k <= f).map(|k| f.saturating_duration_since(*k)).min());
    eprintln!(
        "calls across the kills (provider-info every {CALL_PACE:?}, each bounded by {CALL_BOUND:?}): {} made, {} \
         failed, the last failure {} after the kill before it",
        calls.made,
        calls.failed.len(),
        recovered.flatten().map_or("-".to_string(), |d| format!("{d:?}"))
    );
    ensure!(kills.len() == KILLS, "only {} of {KILLS} replicas were killed", kills.len());
    ensure!(calls.failed.len() <= 5 * KILLS, "{} calls failed across the kills", calls.failed.len());
    ensure!(tally.missing(KILL_EVENTS) == 0, "events lost across the kills");
    ensure!(
        duplicates.len() <= KILLS && duplicates.iter().all(|(_, c)| *c == 2),
        "pushed twice: {duplicates:?} (at most the one in flight per kill)"
    );
    ensure!(tally.reorders == 0, "{} events out of order across the kills", tally.reorders);
    ensure!(tally.gap <= Duration::from_secs(5), "delivery paused {:?} across a kill", tally.gap);

    // the link deleted: every replica gets the delete; the consumer goes from the server
    delete_provider_link(&lattice, COMPONENT, "default").await?;
    let deleted = Instant::now();
    wait_for("the link's consumer deleted", STALL, || async {
        Ok(consumers(lattice.nats(), lattice.lattice()).await?.is_empty().then_some(()))
    })
    .await?;
    eprintln!("link deleted: its consumer gone from the server after {:?}", deleted.elapsed());
    lattice.shutdown().await
}

/// The NATS permissions `docs/events.md` gives a limited link user, as written there, for
/// `lattice` (the page's example is lattice `default`).
fn documented_permissions(lattice: &str) -> Result<String> {
    let page = std::fs::read_to_string(lattice_control_e2e::par::product_root().join("docs/events.md"))?;
    let start = page.find("```conf\n").context("docs/events.md: no ```conf block")? + "```conf\n".len();
    let len = page[start..].find("```").context("docs/events.md: unterminated ```conf block")?;
    let block = &page[start..start + len];
    ensure!(block.contains("wasmbus.evt.default.>"), "the block should name lattice `default`: {block}");
    Ok(block.replace(".default.", &format!(".{lattice}.")))
}

/// Pushes of `phase` received until each of `total` arrived `copies` times (or nothing came
/// for [`STALL`]); then whatever comes right after (a redelivery of the last event, one more
/// copy of anything).
async fn collect_copies(
    rx: &mut mpsc::UnboundedReceiver<Received>,
    phase: &str,
    total: usize,
    copies: u32,
) -> Result<Tally> {
    let mut tally = Tally::default();
    while tally.count.len() < total || tally.count.values().any(|c| *c < copies) {
        let got = match tokio::time::timeout(STALL, rx.recv()).await {
            Ok(Some(got)) => got,
            Ok(None) => return Err(anyhow!("{phase}: stand-in gone")),
            Err(_) => {
                return Err(anyhow!("{phase}: {} of {total} events never arrived", tally.missing(total)));
            }
        };
        if let Some(n) = seq(&got, phase) {
            tally.take(n, got.1);
        }
    }
    while let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        if let Some(n) = seq(&got, phase) {
            tally.take(n, got.1);
        }
    }
    Ok(tally)
}

/// Two replicas and two links on NATS users limited to the subjects they need: one with the
/// permissions `docs/events.md` lists (JetStream delivery: each event once, in order, from one
/// consumer), one without the `$JS` subjects (the provider says so in its log and falls back
/// to core NATS: each replica pushes each event, so each arrives twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limited_accounts_get_one_delivery_with_the_documented_permissions_and_one_per_replica_without() -> Result<()> {
    const WITH_JS: &str = "limited-js";
    const CORE_ONLY: &str = "limited-core";
    const EVENTS: usize = 200;
    const FALLBACK_WITHIN: Duration = Duration::from_secs(90);
    let l = lattice_control_e2e::util::unique_name("limited");
    let permissions = documented_permissions(&l)?;
    let users = format!(
        r#"
    {{ user: events, password: events-pw, {permissions} }}
    {{ user: core, password: core-pw, permissions: {{
        publish: {{ allow: ["wasmbus.ctl.v1.{l}.>"] }}
        subscribe: {{ allow: ["_INBOX.>", "wasmbus.evt.{l}.>"] }}
    }} }}"#
    );
    let capture =
        lattice_control_e2e::logs::StderrCapture::start(lattice_control_e2e::util::scratch_dir()?.join("limited.log"))?;
    let nats = lattice_control_e2e::Nats::start_with_users(&users)?;
    let lattice = TestLattice::start_named(&nats, &l, 2).await?;
    let (mut js_rx, _js_serving) = stand_in::serve(lattice.nats(), &l, WITH_JS, Duration::ZERO).await?;
    let (mut core_rx, _core_serving) = stand_in::serve(lattice.nats(), &l, CORE_ONLY, Duration::ZERO).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    start_provider(&lattice, 1, PROVIDER, &[]).await?;
    let started = Instant::now();
    for (component, user) in [(WITH_JS, "events:events-pw"), (CORE_ONLY, "core:core-pw")] {
        let url = format!("nats://{user}@127.0.0.1:{}", nats.port());
        put_provider_link_with(&lattice, component, PROVIDER, &[("nats_url", url.as_str()), ("events", PROBE)]).await?;
    }
    pulling(&lattice, 2).await?;
    // the core-only link's replicas give up on JetStream after three tries (a request each,
    // unanswered); until both deliver, a probe is pushed to it less than twice
    let mut probe = 0;
    loop {
        probe += 1;
        let phase = format!("probe{probe}");
        publish(&lattice, &phase, 0).await?;
        lattice.nats().flush().await?;
        let mut copies = 0;
        while let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(500), core_rx.recv()).await {
            copies += u32::from(seq(&got, &phase) == Some(0));
        }
        if copies >= 2 {
            break;
        }
        ensure!(started.elapsed() < FALLBACK_WITHIN, "the core-only link not delivered by both replicas");
    }
    let fallback_after = started.elapsed();
    let fallback_logged =
        capture.count_lines("JetStream does not answer") + capture.count_lines("no JetStream on the lattice");
    drop(capture);
    eprintln!("core-only link: both replicas deliver {fallback_after:?} after the link put");
    ensure!(fallback_logged >= 2, "each replica should log its fallback ({fallback_logged} lines)");
    while js_rx.try_recv().is_ok() {}

    for n in 0..EVENTS {
        publish(&lattice, "limited", n).await?;
    }
    lattice.nats().flush().await?;
    let js_tally = collect_copies(&mut js_rx, "limited", EVENTS, 1).await?;
    let core_tally = collect_copies(&mut core_rx, "limited", EVENTS, 2).await?;
    eprintln!(
        "limited users, 2 replicas, {EVENTS} events: documented permissions {} pushes ({} duplicates, {} \
         reorders); no $JS permissions {} pushes",
        js_tally.count.values().sum::<u32>(),
        js_tally.duplicates().len(),
        js_tally.reorders,
        core_tally.count.values().sum::<u32>()
    );
    ensure!(js_tally.duplicates().is_empty(), "documented permissions: pushed twice: {:?}", js_tally.duplicates());
    ensure!(js_tally.reorders == 0, "documented permissions: {} reorders", js_tally.reorders);
    ensure!(core_tally.count.values().all(|c| *c == 2), "without $JS permissions each replica pushes each event once");
    ensure!(consumers(lattice.nats(), &l).await?.len() == 1, "one consumer: the documented-permissions link's");

    // the link deleted by the limited user's replicas: its consumer goes
    delete_provider_link(&lattice, WITH_JS, "default").await?;
    wait_for("the limited link's consumer deleted", STALL, || async {
        Ok(consumers(lattice.nats(), &l).await?.is_empty().then_some(()))
    })
    .await?;
    lattice.shutdown().await
}
