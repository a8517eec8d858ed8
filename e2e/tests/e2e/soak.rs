//! Soak: many calls at 64 concurrent callers with a CPU hog running. Heavy: `scripts/test.sh`
//! runs this file alone. `LATTICE_CONTROL_SOAK_CALLS` (default 100000) sets the call count,
//! `LATTICE_CONTROL_SOAK_EVENTS` (default 10000) the event pushes, `LATTICE_CONTROL_SOAK_HOGS`
//! (default 2) the number of busy processes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use lattice_control_e2e::caller::{lattice_control as lc, no_options, types};
use lattice_control_e2e::logs::{StderrCapture, CALL_DONE, CALL_DONE_LOG};
use lattice_control_e2e::stand_in::{self, drain};
use lattice_control_e2e::stress::{
    every_function_answers, linked_caller, outcome, provider_healthy, run_calls, CpuHog, Outcome,
};
use lattice_control_e2e::util::scratch_dir;
use lattice_control_e2e::{put_config, shared_nats, start_provider, TestLattice};

const PROVIDER: &str = "lattice-control";
const CONCURRENCY: usize = 64;
/// Bound of one call: the host gives a provider 10 s; a call still unanswered is lost.
const CALL_BOUND: Duration = Duration::from_secs(10);
/// The hog lives at most this long even if the test is stuck.
const HOG_MAX: Duration = Duration::from_secs(600);

/// Starts the provider with the Tokio scheduler `LATTICE_CONTROL_SOAK_RUNTIME` names
/// (`multi_thread` or `current_thread`; unset: the provider's default), so both can be
/// soaked and their losses compared by side.
async fn start_soaked_provider(lattice: &TestLattice) -> Result<()> {
    let runtime = std::env::var("LATTICE_CONTROL_SOAK_RUNTIME").ok();
    println!("soak: provider runtime {}", runtime.as_deref().unwrap_or("(default)"));
    match runtime {
        Some(r) => {
            put_config(lattice, "soak-runtime", &[(lattice_control_provider::runtime::KEY, r.as_str())]).await?;
            start_provider(lattice, 0, PROVIDER, &["soak-runtime"]).await
        }
        None => start_provider(lattice, 0, PROVIDER, &[]).await,
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_under_cpu_load_no_wedged_function() -> Result<()> {
    let calls = env_or("LATTICE_CONTROL_SOAK_CALLS", 100_000);
    let hogs = env_or("LATTICE_CONTROL_SOAK_HOGS", 2) as usize;
    // Where a lost call was lost: the provider logs one line per call it answered (the host
    // passes RUST_LOG on; its stderr is this process's, redirected to a file).
    std::env::set_var("RUST_LOG", CALL_DONE_LOG);
    let capture = StderrCapture::start(scratch_dir()?.join("soak-stderr.log"))?;
    let outcome = soak(calls, hogs, &capture).await;
    drop(capture);
    outcome
}

async fn soak(calls: u64, hogs: usize, capture: &StderrCapture) -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_soaked_provider(&lattice).await?;
    // read-only (the default): mutating calls are refused by the provider, no lattice change
    let caller = linked_caller(&lattice, PROVIDER, "rel-soak", "default", &[]).await?;

    // the set-up's own calls (linked_caller's provider-info) are not the soak's
    let before_run = capture.count_lines(CALL_DONE);
    let hog = CpuHog::start(hogs, HOG_MAX)?;
    println!("soak: {calls} calls, {CONCURRENCY} callers, CPU hog pids {:?}", hog.pids());
    let started = Instant::now();
    let (c, h) = (Arc::new(caller.clone()), Arc::new(host.clone()));
    let tally = run_calls(calls, CONCURRENCY, CALL_BOUND, move |i| {
        let (c, h) = (c.clone(), h.clone());
        async move {
            let (w, cx) = (c.wrpc(), c.cx());
            // a mix over queries, the provider-local call and a refused command
            match i % 6 {
                0 => outcome(CALL_BOUND, lc::provider_info(w, cx, &no_options())).await,
                1 | 2 => outcome(CALL_BOUND, lc::get_host_inventory(w, cx, &h)).await,
                3 => {
                    let q = types::HostQuery { expected: Some(1), full_wait: false, timeout_ms: Some(2000) };
                    outcome(CALL_BOUND, lc::get_hosts(w, cx, &q)).await
                }
                4 => outcome(CALL_BOUND, lc::get_config(w, cx, "rel-soak-absent")).await,
                _ => outcome(CALL_BOUND, lc::put_label(w, cx, &h, "rel-soak", "1")).await,
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    hog.stop();
    // Every call has ended for the caller (answered or past its bound); the provider's lines
    // arrive through a non-blocking writer: read until the count stops growing.
    let answered_by_provider =
        settled(Duration::from_secs(10), || capture.count_lines(CALL_DONE), |_| true).await - before_run;
    ensure!(hog.pids().is_empty(), "hog processes left");

    let answers = every_function_answers(&caller, &host, 3).await?;
    let lost_rate = tally.lost as f64 / tally.total().max(1) as f64;
    println!(
        "soak: {} calls in {elapsed:?} ({:.0}/s): ok {}, typed {:?}, caller transport errors {} (e.g. {:?}), \
         lost (no answer in {CALL_BOUND:?}) {} = {:.4}%; after: all {} functions answer",
        tally.total(),
        tally.total() as f64 / elapsed.as_secs_f64(),
        tally.ok,
        tally.typed,
        tally.transport,
        tally.transport_example,
        tally.lost,
        lost_rate * 100.0,
        answers.len(),
    );
    // Lost by the provider: calls it never answered (its transport dropped the invocation, or it
    // never finished). Lost by the caller: answered by the provider, never read by the caller.
    let answered_by_caller = tally.total() - tally.lost;
    let provider_side = (calls as usize).saturating_sub(answered_by_provider);
    let caller_side = answered_by_provider.saturating_sub(answered_by_caller as usize);
    println!(
        "soak: lost calls by side: provider {provider_side} (answered {answered_by_provider} of {calls}), \
         caller {caller_side} (answers it never read; {} in all)",
        tally.lost
    );
    ensure!(tally.total() == calls);
    // The refused command is the only expected typed error; load may add timeouts from hosts.
    for kind in tally.typed.keys() {
        ensure!(matches!(*kind, "not-permitted" | "timeout" | "no-responders"), "unexpected typed error {kind}");
    }
    // every refused command answered as such (unless it was lost)
    let refused = tally.typed.get("not-permitted").copied().unwrap_or(0);
    ensure!(refused <= calls / 6 && refused + tally.lost + tally.transport >= calls / 6, "{refused} refusals");
    // Losses come from the wRPC transport race of wrpc-transport-nats 0.29 (PLATFORM-NOTES),
    // measured ~0.1% here under the hog; each is a bounded timeout. 1% would mean something new.
    ensure!(lost_rate < 0.01, "lost {} of {} calls", tally.lost, tally.total());
    ensure!(answers.iter().all(|(_, o)| matches!(o, Outcome::Ok | Outcome::Typed(_))));
    ensure!(provider_healthy(&lattice, PROVIDER).await);
    lattice.shutdown().await
}

/// Reads `read` every 200 ms (for at most `within`) until it returns the same value twice in
/// a row and that value is `enough`: log lines that a non-blocking writer is still flushing.
async fn settled<T: PartialEq + Copy>(within: Duration, read: impl Fn() -> T, enough: impl Fn(&T) -> bool) -> T {
    let mut seen = read();
    for _ in 0..within.as_millis() / 200 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = read();
        if now == seen && enough(&seen) {
            break;
        }
        seen = now;
    }
    seen
}

/// The provider's debug lines per event push (`provider::events`), and its timeouts.
const PUSH_DONE: &str = "event delivered";
const PUSH_TIMED_OUT: &str = "event delivery timed out";
const PUSH_FAILED: &str = "event delivery failed";
const PUSH_LOG: &str = "warn,lattice_control_provider::provider::events=debug";
/// Events published ahead of what the handler has received (the link's queue holds more, so
/// none is dropped for room).
const PUSH_AHEAD: usize = 400;
/// Bound of one push (the link's `event_timeout_ms`): as for calls, an answer not read within
/// 10 s is lost. A shorter bound counted a slow answer under the hogs as a loss (one in 10,000
/// at 1 s on a CI machine).
const PUSH_BOUND: Duration = CALL_BOUND;
/// At most one push in this many may end with its answer unread: CI saw one in 10,000 once
/// (stop 30), with nothing in the provider's log but the timeout.
const PUSH_LOSS_PER: usize = 10_000;

/// 10,000 `handle-event` pushes to one handler beside the CPU hog, counted on both sides: what
/// the provider (the caller here, on its patched transport) reports per push, and what the
/// handler (a stand-in served by this process on the unpatched transport) received.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_pushes_under_cpu_load_counted_by_side() -> Result<()> {
    let events = env_or("LATTICE_CONTROL_SOAK_EVENTS", 10_000) as usize;
    let hogs = env_or("LATTICE_CONTROL_SOAK_HOGS", 2) as usize;
    std::env::set_var("RUST_LOG", PUSH_LOG);
    let capture = StderrCapture::start(scratch_dir()?.join("soak-events-stderr.log"))?;
    let outcome = pushes(events, hogs, &capture).await;
    drop(capture);
    outcome
}

async fn pushes(events: usize, hogs: usize, capture: &StderrCapture) -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    start_soaked_provider(&lattice).await?;
    let (mut rx, _serving) = stand_in::serve(lattice.nats(), lattice.lattice(), "soak-handler", Duration::ZERO).await?;
    let (queue, bound) = ((PUSH_AHEAD * 4).to_string(), PUSH_BOUND.as_millis().to_string());
    linked_caller(
        &lattice,
        PROVIDER,
        "soak-handler",
        "default",
        &[("events", "soak_tick"), ("event_queue", &queue), ("event_timeout_ms", &bound)],
    )
    .await?;
    let (nats, name) = (lattice.nats(), lattice.lattice());
    let publish = |id: String| stand_in::publish_event(nats, name, "soak_tick", id, serde_json::json!({}));
    // the link's subscription is live once a probe arrives
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        publish("probe".into()).await?;
        nats.flush().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !drain(&mut rx).is_empty() {
            break;
        }
        ensure!(Instant::now() < deadline, "the handler got no event within 30 s");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain(&mut rx);
    let probes_done = capture.count_lines(PUSH_DONE);

    let hog = CpuHog::start(hogs, HOG_MAX)?;
    let started = Instant::now();
    let mut received = std::collections::HashSet::new();
    let mut published = 0;
    // publish ahead of the handler by at most PUSH_AHEAD; stop waiting 20 s after the last
    // publish or when the handler has them all
    let mut last_progress = Instant::now();
    while received.len() < events && last_progress.elapsed() < Duration::from_secs(20) {
        while published < events && published < received.len() + PUSH_AHEAD {
            publish(format!("soak-{published}")).await?;
            published += 1;
        }
        nats.flush().await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let before = received.len();
        received.extend(drain(&mut rx).into_iter().map(|(ev, _)| ev.id).filter(|id| id.starts_with("soak-")));
        if received.len() > before {
            last_progress = Instant::now();
        }
    }
    let elapsed = started.elapsed();
    hog.stop();
    // the provider's lines arrive through a non-blocking writer: read until they stop growing
    let count = || {
        (
            capture.count_lines(PUSH_DONE).saturating_sub(probes_done),
            capture.count_lines(PUSH_TIMED_OUT),
            capture.count_lines(PUSH_FAILED),
        )
    };
    // a push whose answer never came ends PUSH_BOUND later: wait past that
    let (acked, timed_out, failed) =
        settled(PUSH_BOUND + Duration::from_secs(5), count, |&(a, t, f)| a + t + f >= published).await;
    // Provider side (the caller): pushes the handler received whose answer the provider did not
    // read. Handler side (the server): pushes the provider made that the handler never received.
    let provider_side = received.len().saturating_sub(acked);
    let handler_side = (acked + timed_out + failed).saturating_sub(received.len());
    println!(
        "soak: {published} events pushed in {elapsed:?} ({:.0}/s) beside {hogs} CPU hogs: handler received {}, \
         provider acked {acked}, timed out {timed_out}, failed {failed}; lost by side: provider {provider_side}, \
         handler {handler_side}",
        published as f64 / elapsed.as_secs_f64(),
        received.len(),
    );
    ensure!(published == events, "published {published} of {events}");
    // every event was pushed exactly once (answered, timed out or failed): none dropped
    ensure!(acked + timed_out + failed == events, "{acked} + {timed_out} + {failed} pushes for {events} events");
    // The handler is served on the stock transport (as a real host serves a component), so
    // an answer counted here may have been lost on either side after the handler took the
    // event. A routine loss (the router race of the vendored change 1) still fails it.
    ensure!(
        provider_side * PUSH_LOSS_PER <= events,
        "{provider_side} answers the handler sent were never read (at most one per {PUSH_LOSS_PER} events)"
    );
    ensure!(received.len() * 100 >= events * 99, "the handler received {} of {events}", received.len());
    lattice.shutdown().await
}
