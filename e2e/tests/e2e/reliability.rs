//! Reliability on a real lattice: NATS outages, losing a provider replica, absent hosts.
//! Heavy: `scripts/test.sh` runs this file alone with `--test-threads=1`.
//! Figures are printed (`cargo test --test e2e -- --nocapture reliability::`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use lattice_control_e2e::caller::{lattice_control as lc, Caller};
use lattice_control_e2e::stress::{linked_caller, outcome, provider_healthy, provider_pid, retry_lost, Outcome};
use lattice_control_e2e::{shared_nats, start_provider, stop_provider, Nats, TestLattice};
use lattice_control_provider::provider::policy::Operation;

const PROVIDER: &str = "lattice-control";
/// Bound of one call in these tests: above the link's 500 ms timeouts, far below a hang.
const CALL_BOUND: Duration = Duration::from_secs(3);
/// The recovery the issue asks for.
const RECOVERY: Duration = Duration::from_secs(5);

/// One finished call: when it started, how long it took, how it ended.
type Record = (Instant, Duration, Outcome);

/// `tasks` callers each calling `get-host-inventory(host)` in a loop until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<Record>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(caller: &Caller, host: &str, tasks: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..tasks)
            .map(|_| {
                let (caller, host, stop, records) = (caller.clone(), host.to_string(), stop.clone(), records.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let o = outcome(CALL_BOUND, lc::get_host_inventory(caller.wrpc(), caller.cx(), &host)).await;
                        let failed = o != Outcome::Ok;
                        records.lock().unwrap_or_else(|p| p.into_inner()).push((t, t.elapsed(), o));
                        // do not spin when calls fail fast (NATS down)
                        tokio::time::sleep(Duration::from_millis(if failed { 50 } else { 5 })).await;
                    }
                })
            })
            .collect();
        Load { stop, records, tasks }
    }

    /// Stops the callers (bounded) and returns every record in start order.
    async fn finish(self) -> Vec<Record> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = tokio::time::timeout(CALL_BOUND * 2, t).await;
        }
        let mut r = std::mem::take(&mut *self.records.lock().unwrap_or_else(|p| p.into_inner()));
        r.sort_by_key(|(t, _, _)| *t);
        r
    }
}

/// Start of the first successful call that started at or after `since`.
fn first_ok_after(records: &[Record], since: Instant) -> Option<Instant> {
    records.iter().filter(|(t, _, o)| *t >= since && *o == Outcome::Ok).map(|(t, d, _)| *t + *d).min()
}

/// Waits until a call started after `since` succeeded (checked every 100 ms), at most `limit`.
async fn wait_first_ok(load: &Load, since: Instant, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(t) = first_ok_after(&load.records.lock().unwrap_or_else(|p| p.into_inner()), since) {
            return Some(t);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The NATS server of the *managed* lattice dies while calls run: the provider (reached over
/// another server) answers every call during the outage with a typed error within its
/// timeout, and serves again after the restart without being restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn managed_lattice_nats_outage_typed_errors_then_recovery() -> Result<()> {
    let managed_nats = Nats::start()?;
    let managed = TestLattice::start(&managed_nats, 1).await?;
    let managed_host = managed.host_id(0)?.to_string();
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let pid = provider_pid(lattice.host_id(0)?)?;
    let url = managed_nats.url();
    let caller = linked_caller(
        &lattice,
        PROVIDER,
        "rel-outage",
        "default",
        &[("nats_url", &url), ("lattice", managed.lattice()), ("timeout_ms", "500"), ("scatter_timeout_ms", "500")],
    )
    .await?;

    let load = Load::start(&caller, &managed_host, 8);
    let warm = wait_first_ok(&load, Instant::now(), Duration::from_secs(10)).await;
    ensure!(warm.is_some(), "no call succeeded before the outage");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Instant::now();
    managed_nats.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    managed_nats.restart()?;
    let restarted = Instant::now();
    let recovered = wait_first_ok(&load, restarted, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let records = load.finish().await;

    // Calls that ran wholly inside the outage.
    let during: Vec<&Record> =
        records.iter().filter(|(t, d, _)| *t > killed + Duration::from_millis(100) && *t + *d < restarted).collect();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (_, _, o) in &during {
        *kinds.entry(format!("{o:?}")).or_default() += 1;
    }
    let slowest = during.iter().map(|(_, d, _)| *d).max().unwrap_or_default();
    let recovery = recovered.map(|t| t.saturating_duration_since(restarted));
    println!(
        "managed-lattice NATS outage: {} calls during the outage {kinds:?}, slowest {slowest:?}; \
         recovery after restart {recovery:?}; {} calls in total",
        during.len(),
        records.len()
    );
    ensure!(!during.is_empty(), "no call ran during the outage");
    for (_, d, o) in &during {
        ensure!(
            matches!(o, Outcome::Typed("timeout" | "transport" | "no-responders")),
            "a call during the outage ended {o:?} after {d:?}"
        );
    }
    let recovery = recovery.ok_or_else(|| anyhow::anyhow!("the provider did not serve again within 20 s"))?;
    ensure!(recovery <= RECOVERY, "recovery took {recovery:?}");
    ensure!(provider_pid(lattice.host_id(0)?)? == pid, "the provider process was restarted");
    managed.shutdown().await?;
    lattice.shutdown().await
}

/// The only NATS server (host, provider, caller) dies while calls run: every call ends within
/// its bound (none hangs), and after the restart the same provider process serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_nats_outage_bounded_then_same_provider_serves() -> Result<()> {
    let nats = Nats::start()?;
    let lattice = TestLattice::start(&nats, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let pid = provider_pid(&host)?;
    let caller = linked_caller(&lattice, PROVIDER, "rel-outage-all", "default", &[("timeout_ms", "500")]).await?;

    let load = Load::start(&caller, &host, 8);
    ensure!(wait_first_ok(&load, Instant::now(), Duration::from_secs(10)).await.is_some());
    let killed = Instant::now();
    nats.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    nats.restart()?;
    let restarted = Instant::now();
    let recovered = wait_first_ok(&load, restarted, Duration::from_secs(20)).await;
    let records = load.finish().await;

    // calls that overlapped the outage
    let during: Vec<&Record> = records.iter().filter(|(t, d, _)| *t < restarted && *t + *d > killed).collect();
    let failed = during.iter().filter(|(_, _, o)| *o != Outcome::Ok).count();
    let slowest = records.iter().map(|(_, d, _)| *d).max().unwrap_or_default();
    let recovery = recovered.map(|t| t.saturating_duration_since(restarted));
    println!(
        "whole NATS outage: {} calls overlapped it ({failed} failed), slowest call {slowest:?}; \
         recovery after restart {recovery:?}",
        during.len()
    );
    // `outcome` bounds each call by CALL_BOUND: a slower record would mean the bound failed.
    ensure!(slowest <= CALL_BOUND + Duration::from_millis(500), "a call took {slowest:?}");
    let recovery = recovery.ok_or_else(|| anyhow::anyhow!("the provider did not serve again within 20 s"))?;
    ensure!(recovery <= RECOVERY, "recovery took {recovery:?}");
    ensure!(provider_pid(&host)? == pid, "the provider process was restarted");
    ensure!(provider_healthy(&lattice, PROVIDER).await, "provider not healthy after the outage");
    lattice.shutdown().await
}

/// Two instances of the provider (same id, two hosts) share the calls; stopping one while
/// calls run leaves the other answering; the stopped one finishes the calls it took (drain).
/// Reports the calls that failed in the switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replica_loss_other_instance_keeps_answering() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    let host0 = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    start_provider(&lattice, 1, PROVIDER, &[]).await?;
    let caller = linked_caller(&lattice, PROVIDER, "rel-replica", "default", &[]).await?;
    // both instances have the link once 50 calls in a row (spread by the queue group) succeed
    lattice_control_e2e::retry("both instances serve the link", Duration::from_secs(20), || async {
        for _ in 0..50 {
            let o = outcome(CALL_BOUND, lc::get_host_inventory(caller.wrpc(), caller.cx(), &host0)).await;
            ensure!(o == Outcome::Ok, "before the switch: {o:?}");
        }
        Ok(())
    })
    .await?;

    let load = Load::start(&caller, &host0, 16);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    stop_provider(&lattice, 1, PROVIDER).await?;
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let records = load.finish().await;

    let failed: Vec<&Record> = records.iter().filter(|(_, _, o)| *o != Outcome::Ok).collect();
    // when each failed call started, relative to the stop (negative: before it)
    let offsets: Vec<String> = failed
        .iter()
        .map(|(t, _, o)| {
            let ms =
                if *t >= stopped { (*t - stopped).as_millis() as i128 } else { -((stopped - *t).as_millis() as i128) };
            format!("{o:?}@{ms}ms")
        })
        .collect();
    let after: Vec<&Record> = records.iter().filter(|(t, _, _)| *t > stopped + Duration::from_secs(1)).collect();
    let after_failed: Vec<&Outcome> = after.iter().map(|(_, _, o)| o).filter(|o| **o != Outcome::Ok).collect();
    let after_lost = after_failed.iter().filter(|o| ***o == Outcome::Lost).count();
    println!(
        "replica loss: {} calls, {} failed {offsets:?}; stop took {:?}; {} calls after the switch, {} failed ({after_lost} lost)",
        records.len(),
        failed.len(),
        stopped - stopping,
        after.len(),
        after_failed.len(),
    );
    ensure!(!after.is_empty(), "no calls after the switch");
    // The stopping instance unsubscribes first and finishes the calls it took before its links
    // go: no call anywhere in the run is answered with an error (`not-linked` before the drain).
    let answered_failed: Vec<&String> =
        failed.iter().zip(&offsets).filter(|((_, _, o), _)| *o != Outcome::Lost).map(|(_, s)| s).collect();
    ensure!(answered_failed.is_empty(), "calls answered with an error in the switch: {answered_failed:?}");
    ensure!(failed.len() * 100 <= records.len(), "{} of {} calls lost", failed.len(), records.len());
    // After the switch the remaining instance answers every call. A call lost in the caller's
    // own wRPC transport (the race of wrpc-transport-nats 0.29, PLATFORM-NOTES; ~0.1% under
    // load, as in the soak) is not an answer from either instance: counted, bounded at 1%.
    // Calls still routed to the stopped instance would fail about half the time.
    ensure!(after_failed.len() == after_lost, "the remaining instance failed calls: {after_failed:?}");
    ensure!(after_lost * 100 <= after.len(), "{after_lost} of {} calls after the switch lost", after.len());
    ensure!(provider_healthy(&lattice, PROVIDER).await);
    lattice.shutdown().await
}

/// A link to a lattice with no hosts, and one to a NATS server that is not there: clear
/// typed errors, each within its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn empty_lattice_and_absent_server_clear_errors() -> Result<()> {
    let nats = shared_nats()?;
    let empty = TestLattice::start(nats, 0).await?;
    let lattice = TestLattice::start(nats, 1).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let to_empty = linked_caller(
        &lattice,
        PROVIDER,
        "rel-empty",
        "default",
        &[("lattice", empty.lattice()), ("timeout_ms", "500"), ("scatter_timeout_ms", "500"), ("allow", "all")],
    )
    .await?;
    let dead_url = format!("nats://127.0.0.1:{}", lattice_control_e2e::nats::free_port()?);
    let to_nowhere = linked_caller(&lattice, PROVIDER, "rel-nowhere", "default", &[("nats_url", &dead_url)]).await?;
    let host = "NABSENTHOSTABSENTHOSTABSENTHOSTABSENTHOSTABSENTHOSTABSEN";

    let t = Instant::now();
    let hosts = tokio::time::timeout(
        CALL_BOUND,
        lc::get_hosts(
            to_empty.wrpc(),
            to_empty.cx(),
            &lattice_control_e2e::caller::types::HostQuery { expected: None, full_wait: false, timeout_ms: None },
        ),
    )
    .await??;
    println!("empty lattice: get-hosts {hosts:?} in {:?}", t.elapsed());
    ensure!(matches!(&hosts, Ok(h) if h.is_empty()), "get-hosts on an empty lattice: {hosts:?}");

    // every call refused on the empty lattice or the dead server: a lost attempt (caller-side
    // wRPC loss, PLATFORM-NOTES) is tried again and counted; at most one is tolerated
    let mut seen = Vec::new();
    let mut lost = 0;
    for (caller, op) in [
        (&to_empty, Operation::GetHostInventory),
        (&to_empty, Operation::StopProvider),
        (&to_empty, Operation::PutLabel),
        (&to_nowhere, Operation::GetHostInventory),
        (&to_nowhere, Operation::GetClaims),
    ] {
        let t = Instant::now();
        let (o, l) = retry_lost(3, || lattice_control_e2e::stress::call_function(caller, op, host, CALL_BOUND)).await?;
        lost += l;
        let took = t.elapsed();
        seen.push(format!("{}: {o:?} in {took:?}", op.name()));
        ensure!(matches!(o, Outcome::Typed(_)), "{}: {o:?}", op.name());
    }
    // each within the link's timeouts (500 ms; 2 s to connect), not the caller's bound
    println!("absent host / server: {seen:#?}; lost attempts {lost}");
    let get_inventory = |c: &Caller| {
        let c = c.clone();
        move || {
            let c = c.clone();
            async move { Ok(outcome(CALL_BOUND, lc::get_host_inventory(c.wrpc(), c.cx(), host)).await) }
        }
    };
    let (o, l) = retry_lost(3, get_inventory(&to_nowhere)).await?;
    lost += l;
    ensure!(o == Outcome::Typed("transport"), "dead server: {o:?}");
    let (o, l) = retry_lost(3, get_inventory(&to_empty)).await?;
    lost += l;
    ensure!(matches!(o, Outcome::Typed("no-responders" | "timeout" | "invalid-argument")), "absent host: {o:?}");
    ensure!(lost <= 1, "{lost} of 7 calls lost an attempt");
    empty.shutdown().await?;
    lattice.shutdown().await
}
