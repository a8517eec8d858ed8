//! A provider started while an event link to it already exists: what every restart is (the
//! host restarting a provider that died, a stop and start, wadm moving it to another host).
//! The link then comes in the provider's start-up data, not as a put, and its events must be
//! delivered all the same.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use lattice_control_e2e::provider::PROVIDER_READY_TIMEOUT;
use lattice_control_e2e::stand_in::{self, drain, evt, Received};
use lattice_control_e2e::stress::provider_pid;
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::{
    bounded, put_provider_link_with, shared_nats, start_provider, stop_provider, wait_provider_ready, TestLattice,
    CALL_TIMEOUT,
};
use tokio::sync::mpsc;

const PROVIDER: &str = "lattice-control";
const COMPONENT: &str = "restart-watcher";
const LABEL: &str = "restart-probe";
/// Bound on the first event after a start: generous for a debug build on a loaded machine,
/// far below "never".
const FIRST_EVENT_WAIT: Duration = Duration::from_secs(30);
/// Label puts after each start whose events must all arrive.
const BURST: usize = 20;

/// The value of [`LABEL`] in a pushed `labels_changed` event.
fn probe_value(event: &Received) -> Option<String> {
    match &event.0.data {
        evt::EventData::LabelsChanged(l) => l.labels.iter().find(|(k, _)| k == LABEL).map(|(_, v)| v.clone()),
        _ => None,
    }
}

/// Puts label [`LABEL`] on `host` (a fresh value each time, starting with `what`) until a
/// `labels_changed` push of one of them reaches the component, polling; returns the time
/// from `since` to that push.
async fn first_push(
    lattice: &TestLattice,
    host: &str,
    rx: &mut mpsc::UnboundedReceiver<Received>,
    since: Instant,
    what: &str,
) -> Result<Duration> {
    let deadline = Instant::now() + FIRST_EVENT_WAIT;
    for n in 0u64.. {
        let value = format!("{what}-{n}");
        bounded("put_label", CALL_TIMEOUT, lattice.ctl().put_label(host, LABEL, &value)).await??;
        let poll = tokio::time::sleep(Duration::from_millis(250));
        tokio::pin!(poll);
        loop {
            tokio::select! {
                got = rx.recv() => {
                    let got = got.ok_or_else(|| anyhow!("{what}: stand-in gone"))?;
                    // only a value put here: nothing from before this start counts
                    if probe_value(&got).is_some_and(|v| v.starts_with(&format!("{what}-"))) {
                        return Ok(since.elapsed());
                    }
                }
                () = &mut poll => break,
            }
        }
        ensure!(Instant::now() < deadline, "{what}: no labels_changed event delivered within {FIRST_EVENT_WAIT:?}");
    }
    unreachable!("the loop returns or fails")
}

/// Puts [`BURST`] label values on `host` and waits (bounded) until the component received a
/// push for each of them.
async fn burst_arrives(
    lattice: &TestLattice,
    host: &str,
    rx: &mut mpsc::UnboundedReceiver<Received>,
    what: &str,
) -> Result<()> {
    drain(rx);
    let wanted: BTreeSet<String> = (0..BURST).map(|i| format!("{what}-burst-{i}")).collect();
    for value in &wanted {
        bounded("put_label", CALL_TIMEOUT, lattice.ctl().put_label(host, LABEL, value)).await??;
    }
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + CALL_TIMEOUT;
    while !wanted.is_subset(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(got)) = tokio::time::timeout(left, rx.recv()).await else {
            let missing: Vec<_> = wanted.difference(&seen).collect();
            return Err(anyhow!("{what}: {} of {BURST} events not delivered: {missing:?}", missing.len()));
        };
        if let Some(value) = probe_value(&got) {
            seen.insert(value);
        }
    }
    Ok(())
}

/// The provider is stopped and started again on its host, killed (`SIGKILL`) and restarted
/// by the host, then stopped there and started on another host, each time with a link
/// subscribed to `labels_changed` in place: after every start its events are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_delivered_after_the_provider_restarts_with_its_link_in_place() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    let (host0, host1) = (lattice.host_id(0)?.to_string(), lattice.host_id(1)?.to_string());
    let (mut rx, _serving) = stand_in::serve(lattice.nats(), lattice.lattice(), COMPONENT, Duration::ZERO).await?;

    // the link is put while the provider runs: the path every other test walks
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    put_provider_link_with(&lattice, COMPONENT, PROVIDER, &[("events", "labels_changed")]).await?;
    first_push(&lattice, &host0, &mut rx, Instant::now(), "linked").await?;

    // stopped and started again on the same host: the link comes in the start-up data
    stop_provider(&lattice, 0, PROVIDER).await?;
    drain(&mut rx);
    let started = Instant::now();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let ready = started.elapsed();
    let first = first_push(&lattice, &host0, &mut rx, started, "restarted").await?;
    eprintln!("provider stopped and started on the same host: ready after {ready:?}, first event delivered {first:?} after the start command");
    burst_arrives(&lattice, &host0, &mut rx, "restarted").await?;

    // killed: the host starts the process again by itself, with the link in its start-up data
    let pid = provider_pid(&host0)?;
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status()?;
    ensure!(status.success(), "kill -9 {pid}: {status}");
    let killed = Instant::now();
    drain(&mut rx);
    wait_for("the host restarts the killed provider", PROVIDER_READY_TIMEOUT, || async {
        Ok(provider_pid(&host0).ok().filter(|p| *p != pid))
    })
    .await?;
    wait_provider_ready(&lattice, PROVIDER).await?;
    let first = first_push(&lattice, &host0, &mut rx, killed, "killed").await?;
    eprintln!("provider killed (SIGKILL) and restarted by its host: first event delivered {first:?} after the kill");
    burst_arrives(&lattice, &host0, &mut rx, "killed").await?;

    // moved: stopped on its host, started on another one with the same provider id
    stop_provider(&lattice, 0, PROVIDER).await?;
    drain(&mut rx);
    let started = Instant::now();
    start_provider(&lattice, 1, PROVIDER, &[]).await?;
    let first = first_push(&lattice, &host1, &mut rx, started, "moved").await?;
    eprintln!(
        "provider stopped on one host and started on another: first event delivered {first:?} after the start command"
    );
    burst_arrives(&lattice, &host1, &mut rx, "moved").await?;

    lattice.shutdown().await
}
