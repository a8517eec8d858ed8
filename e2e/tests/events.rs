//! Lattice events on real hosts: the wait forms of the control client, and (through the
//! provider) events pushed to a component stand-in that exports `handle-event`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use lattice_control_e2e::{bounded, noop_component_ref, shared_nats, TestLattice, CALL_TIMEOUT};
use lattice_control_provider::ctl::{self, CtlErrorKind};

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
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(&self.path)
        {
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
        lattice
            .ctl()
            .scale_component_and_wait(scale(&host, &noop, "waiter", 2)?, WAIT),
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
        lattice
            .ctl()
            .scale_component_and_wait(scale(&host, &noop, "waiter", 0)?, WAIT),
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
        lattice
            .ctl()
            .scale_component_and_wait(scale(&host, missing, "ghost", 1)?, WAIT),
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
    let cmd = ctl::StopProviderCommand::builder()
        .host_id(host.clone())
        .provider_id("not-running")
        .build()?;
    let started = std::time::Instant::now();
    let err = bounded(
        "stop a provider that does not run",
        CALL_TIMEOUT,
        lattice.ctl().stop_provider_and_wait(cmd, WAIT),
    )
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
        lattice
            .ctl()
            .scale_component_and_wait(scale(&host, &stall.reference(), "stalled", 1)?, short),
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
        lattice
            .ctl()
            .scale_component_and_wait(scale(&host, &second.reference(), "stalled2", 1)?, wait),
    )
    .await?
    .expect_err("still no outcome");
    bystander.await???;
    assert_eq!(err.kind(), CtlErrorKind::Timeout, "{err}");
    assert!(
        err.message()
            .contains("last seen: component_scaled for component_id `bystander`"),
        "{err}"
    );

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
        lattice.ctl().scale_component_and_wait(
            scale(&host, &noop_component_ref()?, "z", 1)?,
            Duration::ZERO,
        ),
    )
    .await?
    .expect_err("zero timeout");
    assert_eq!(err.kind(), CtlErrorKind::InvalidArgument, "{err}");
    lattice.shutdown().await
}
