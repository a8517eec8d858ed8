//! Helpers for reliability tests: a bounded CPU hog, the provider process's memory, NATS
//! connection counts, call-outcome tallies and a "does every function still answer" probe.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};

use crate::caller::{error_kind, lattice_control as lc, types, wit_scale, Caller};
use crate::util::http_get;
use lattice_control_provider::provider::policy::Operation;

/// `n` busy processes (`yes > /dev/null`) competing for the CPU. Killed by pid on
/// [`CpuHog::stop`] or drop, and at the latest after the `max` given to [`CpuHog::start`]
/// (a watchdog thread), and with the test process (parent-death signal).
pub struct CpuHog {
    children: Arc<Mutex<Vec<Child>>>,
    stopped: Arc<AtomicBool>,
}

impl CpuHog {
    /// Starts `n` hog processes that live at most `max`.
    pub fn start(n: usize, max: Duration) -> Result<CpuHog> {
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            let mut cmd = Command::new("yes");
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            children.push(crate::nats::spawn_with_parent_death_signal(cmd).context("spawning `yes`")?);
        }
        let hog = CpuHog { children: Arc::new(Mutex::new(children)), stopped: Arc::new(AtomicBool::new(false)) };
        let (children, stopped) = (hog.children.clone(), hog.stopped.clone());
        std::thread::Builder::new()
            .name("cpu-hog-watchdog".into())
            .spawn(move || {
                let deadline = std::time::Instant::now() + max;
                while std::time::Instant::now() < deadline {
                    if stopped.load(Ordering::Acquire) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                kill_all(&children);
            })
            .context("spawning the hog watchdog")?;
        Ok(hog)
    }

    /// Process ids of the hogs still running.
    pub fn pids(&self) -> Vec<u32> {
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        children.iter_mut().filter_map(|c| matches!(c.try_wait(), Ok(None)).then(|| c.id())).collect()
    }

    /// Kills every hog by its pid and reaps it.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        kill_all(&self.children);
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn kill_all(children: &Mutex<Vec<Child>>) {
    let mut children = children.lock().unwrap_or_else(|p| p.into_inner());
    for mut child in children.drain(..) {
        // Child::kill sends SIGKILL to this child's pid only.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Pids of the provider processes the host `host_id` spawned (their binaries live in the
/// host's cache, `$TMPDIR/wasmcloudcache/<host id>/…`).
pub fn provider_pids(host_id: &str) -> Result<Vec<u32>> {
    let marker = format!("wasmcloudcache/{host_id}/");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        if exe.to_string_lossy().contains(&marker) {
            found.push(pid);
        }
    }
    Ok(found)
}

/// Pid of the one provider process the host `host_id` spawned.
pub fn provider_pid(host_id: &str) -> Result<u32> {
    match provider_pids(host_id)?.as_slice() {
        [pid] => Ok(*pid),
        [] => bail!("no provider process of host {host_id}"),
        many => bail!("several provider processes of host {host_id}: {many:?}"),
    }
}

/// Resident set size of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// Client connections on the server at `monitor_url` (its `/connz`), only those whose
/// connection name is `name` when given.
pub async fn connection_count(monitor_url: &str, name: Option<&str>) -> Result<usize> {
    Ok(connection_names(monitor_url)
        .await?
        .iter()
        .filter(|n| name.is_none_or(|want| n.as_deref() == Some(want)))
        .count())
}

/// The name of every client connection on the server (`None` when a client set none).
pub async fn connection_names(monitor_url: &str) -> Result<Vec<Option<String>>> {
    let body = http_get(monitor_url, "/connz?limit=100000").await?;
    let connz: serde_json::Value = serde_json::from_str(&body).context("/connz is not JSON")?;
    let list = connz["connections"].as_array().ok_or_else(|| anyhow!("/connz has no connections list"))?;
    Ok(list.iter().map(|c| c["name"].as_str().map(str::to_string)).collect())
}

/// Messages the server has received from its clients so far (`/varz` `in_msgs`).
pub async fn messages_in(monitor_url: &str) -> Result<u64> {
    let body = http_get(monitor_url, "/varz").await?;
    let varz: serde_json::Value = serde_json::from_str(&body).context("/varz is not JSON")?;
    varz["in_msgs"].as_u64().ok_or_else(|| anyhow!("/varz has no in_msgs"))
}

/// How one wRPC call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The provider answered `ok`.
    Ok,
    /// The provider answered with a typed `ctl-error` (its case name).
    Typed(&'static str),
    /// The caller's transport failed (the call never got an answer).
    Transport(String),
    /// No answer within the bound (a call lost in the caller's or provider's transport).
    Lost,
}

/// Runs one call bounded by `limit` and classifies its end.
pub async fn outcome<T>(
    limit: Duration,
    call: impl Future<Output = anyhow::Result<Result<T, types::CtlError>>>,
) -> Outcome {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(Ok(_))) => Outcome::Ok,
        Ok(Ok(Err(e))) => Outcome::Typed(error_kind(&e)),
        Ok(Err(e)) => Outcome::Transport(format!("{e:#}")),
        Err(_) => Outcome::Lost,
    }
}

/// Makes a call until its outcome is not [`Outcome::Lost`], at most `attempts` times: a call
/// lost in the wRPC transport (PLATFORM-NOTES: the unbiased router of wrpc-transport-nats
/// 0.29 drops a reply now and then under load) is tried again. Returns the last outcome and
/// how many attempts were lost, for the caller to bound and report.
pub async fn retry_lost<F, Fut>(attempts: u32, mut call: F) -> anyhow::Result<(Outcome, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Outcome>>,
{
    let mut lost = 0;
    loop {
        let o = call().await?;
        if o != Outcome::Lost || lost + 1 >= attempts.max(1) {
            let lost = lost + u32::from(o == Outcome::Lost);
            return Ok((o, lost));
        }
        lost += 1;
    }
}

/// Counts of call outcomes, typed errors by kind.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Calls answered `ok`.
    pub ok: u64,
    /// Typed errors by kind.
    pub typed: BTreeMap<&'static str, u64>,
    /// Caller transport failures, with one example message.
    pub transport: u64,
    /// First transport failure message seen.
    pub transport_example: Option<String>,
    /// Calls with no answer within their bound.
    pub lost: u64,
}

impl Tally {
    /// Adds one outcome.
    pub fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Ok => self.ok += 1,
            Outcome::Typed(k) => *self.typed.entry(k).or_default() += 1,
            Outcome::Transport(m) => {
                self.transport += 1;
                self.transport_example.get_or_insert(m);
            }
            Outcome::Lost => self.lost += 1,
        }
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        for (k, n) in other.typed {
            *self.typed.entry(k).or_default() += n;
        }
        self.transport += other.transport;
        if self.transport_example.is_none() {
            self.transport_example = other.transport_example;
        }
        self.lost += other.lost;
    }

    /// Calls with a typed error.
    pub fn typed_total(&self) -> u64 {
        self.typed.values().sum()
    }

    /// Every call counted.
    pub fn total(&self) -> u64 {
        self.ok + self.typed_total() + self.transport + self.lost
    }
}

/// Runs `calls` calls made by `make(i)` with `concurrency` callers at a time, each bounded by
/// `limit`; returns the tally.
pub async fn run_calls<F, Fut>(calls: u64, concurrency: usize, limit: Duration, make: F) -> Tally
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    use futures::StreamExt as _;
    let make = Arc::new(make);
    let limit_each = limit;
    futures::stream::iter(0..calls)
        .map(|i| {
            let make = make.clone();
            // bounded again here: `make` may build a call that ignores its own bound
            async move {
                tokio::spawn(async move {
                    tokio::time::timeout(limit_each + Duration::from_secs(1), make(i)).await.unwrap_or(Outcome::Lost)
                })
                .await
                .unwrap_or_else(|e| Outcome::Transport(format!("call task failed: {e}")))
            }
        })
        .buffer_unordered(concurrency)
        .fold(Tally::default(), |mut t, o| async move {
            t.add(o);
            t
        })
        .await
}

/// Calls function `op` once (every [`Operation`] has an arm: a new operation does not compile
/// here until it has one) with harmless arguments addressed to `host_id` (mutating calls
/// name a component/provider/config that does not exist, so they change nothing; a read-only
/// link refuses them before any NATS traffic), bounded by `limit`.
pub async fn call_function(caller: &Caller, op: Operation, host_id: &str, limit: Duration) -> Result<Outcome> {
    let (w, cx) = (caller.wrpc(), caller.cx());
    let opts = crate::caller::no_options();
    let wait = types::WaitOptions { timeout_ms: 500 };
    let none = "rel-probe-absent";
    let scale = wit_scale("file:///nonexistent/rel-probe.wasm", none, host_id, 0);
    let start = types::StartProviderCommand {
        provider_id: none.into(),
        provider_ref: "file:///nonexistent/rel-probe.par.gz".into(),
        host_id: host_id.into(),
        config: vec![],
        annotations: None,
    };
    let stop = types::StopProviderCommand { host_id: host_id.into(), provider_id: none.into() };
    let link = types::Link {
        source_id: none.into(),
        target: none.into(),
        name: "rel-probe".into(),
        wit_namespace: "rel".into(),
        wit_package: "probe".into(),
        interfaces: vec!["probe".into()],
        source_config: vec![],
        target_config: vec![],
    };
    let del = types::DeleteLinkRequest {
        source_id: none.into(),
        name: "rel-probe".into(),
        wit_namespace: "rel".into(),
        wit_package: "probe".into(),
    };
    let o = match op {
        Operation::GetHosts => {
            let q = types::HostQuery { expected: Some(1), full_wait: false, timeout_ms: Some(500) };
            outcome(limit, lc::get_hosts(w, cx, &q)).await
        }
        Operation::GetHostInventory => outcome(limit, lc::get_host_inventory(w, cx, host_id)).await,
        Operation::GetClaims => outcome(limit, lc::get_claims(w, cx, &opts)).await,
        Operation::PerformComponentAuction => {
            let r = types::ComponentAuctionRequest {
                component_ref: "file:///nonexistent/rel-probe.wasm".into(),
                component_id: none.into(),
                constraints: vec![("rel-probe".into(), "absent".into())],
            };
            let o = types::QueryOptions { timeout_ms: Some(200) };
            outcome(limit, lc::perform_component_auction(w, cx, &r, &o)).await
        }
        Operation::PerformProviderAuction => {
            let r = types::ProviderAuctionRequest {
                provider_ref: "file:///nonexistent/rel-probe.par.gz".into(),
                provider_id: none.into(),
                constraints: vec![("rel-probe".into(), "absent".into())],
            };
            let o = types::QueryOptions { timeout_ms: Some(200) };
            outcome(limit, lc::perform_provider_auction(w, cx, &r, &o)).await
        }
        Operation::ScaleComponent => outcome(limit, lc::scale_component(w, cx, &scale)).await,
        Operation::ScaleComponentAndWait => outcome(limit, lc::scale_component_and_wait(w, cx, &scale, &wait)).await,
        Operation::UpdateComponent => {
            let c = types::UpdateComponentCommand {
                component_id: none.into(),
                host_id: host_id.into(),
                new_component_ref: "file:///nonexistent/rel-probe.wasm".into(),
                annotations: None,
            };
            outcome(limit, lc::update_component(w, cx, &c)).await
        }
        Operation::StartProvider => outcome(limit, lc::start_provider(w, cx, &start)).await,
        Operation::StartProviderAndWait => outcome(limit, lc::start_provider_and_wait(w, cx, &start, &wait)).await,
        Operation::StopProvider => outcome(limit, lc::stop_provider(w, cx, &stop)).await,
        Operation::StopProviderAndWait => outcome(limit, lc::stop_provider_and_wait(w, cx, &stop, &wait)).await,
        Operation::StopHost => {
            // an id no host has: even an `allow=all` link cannot stop a real host with it
            let c = types::StopHostCommand { host_id: "NREL0PROBE0ABSENT".into(), timeout: Some(1) };
            outcome(limit, lc::stop_host(w, cx, &c)).await
        }
        Operation::PutLink => outcome(limit, lc::put_link(w, cx, &link)).await,
        Operation::DeleteLink => outcome(limit, lc::delete_link(w, cx, &del)).await,
        Operation::GetLinks => outcome(limit, lc::get_links(w, cx, &opts)).await,
        Operation::PutConfig => outcome(limit, lc::put_config(w, cx, "rel-probe", &[])).await,
        Operation::GetConfig => outcome(limit, lc::get_config(w, cx, "rel-probe-absent")).await,
        Operation::DeleteConfig => outcome(limit, lc::delete_config(w, cx, "rel-probe-absent")).await,
        Operation::PutLabel => outcome(limit, lc::put_label(w, cx, host_id, "rel-probe", "1")).await,
        Operation::DeleteLabel => outcome(limit, lc::delete_label(w, cx, host_id, "rel-probe-absent")).await,
        Operation::PutRegistries => outcome(limit, lc::put_registries(w, cx, &[])).await,
        Operation::ProviderInfo => outcome(limit, lc::provider_info(w, cx, &opts)).await,
        Operation::GetComponentLoad => {
            let q = crate::caller::load::LoadQuery { component_id: Some("rel-probe".into()), host_id: None };
            outcome(limit, lc::get_component_load(w, cx, &q)).await
        }
    };
    Ok(o)
}

/// Checks that every function of the interface still answers (an `ok` or a typed error):
/// a wedged function (see PLATFORM-NOTES, the wRPC transport race) would not. A call lost in
/// the caller's transport is retried up to `attempts` times. Returns each function's outcome.
pub async fn every_function_answers(
    caller: &Caller,
    host_id: &str,
    attempts: usize,
) -> Result<Vec<(&'static str, Outcome)>> {
    let mut out = Vec::new();
    for &op in Operation::ALL {
        let name = op.name();
        let mut last = Outcome::Lost;
        for _ in 0..attempts.max(1) {
            last = call_function(caller, op, host_id, crate::CALL_TIMEOUT).await?;
            if matches!(last, Outcome::Ok | Outcome::Typed(_)) {
                break;
            }
        }
        if !matches!(last, Outcome::Ok | Outcome::Typed(_)) {
            bail!("function {name} does not answer after {attempts} attempts: {last:?}");
        }
        out.push((name, last));
    }
    Ok(out)
}

/// Puts named config `{source_id}-{link_name}` with `settings` (when there are any) and a
/// link from `source_id` to `provider_id` using it, then waits (bounded) until the provider
/// has the link (`provider-info` answers `ok`). Returns the caller for that component/link.
pub async fn linked_caller(
    lattice: &crate::TestLattice,
    provider_id: &str,
    source_id: &str,
    link_name: &str,
    settings: &[(&str, &str)],
) -> Result<Caller> {
    let config = format!("{source_id}-{link_name}");
    let configs: Vec<&str> = if settings.is_empty() {
        vec![]
    } else {
        crate::put_config(lattice, &config, settings).await?;
        vec![config.as_str()]
    };
    crate::put_provider_link(lattice, source_id, link_name, provider_id, &configs).await?;
    let caller =
        Caller::new(lattice.nats().clone(), lattice.lattice(), provider_id).await?.as_component(source_id, link_name);
    crate::retry("the provider has the link", Duration::from_secs(20), || async {
        match lc::provider_info(caller.wrpc(), caller.cx(), &crate::caller::no_options()).await? {
            Ok(info) => anyhow::Ok(info),
            Err(e) => Err(anyhow!("provider-info: {e:?}")),
        }
    })
    .await?;
    Ok(caller)
}

/// Whether `wasmbus.rpc.{lattice}.{provider_id}.health` answers healthy within 2 s.
pub async fn provider_healthy(lattice: &crate::TestLattice, provider_id: &str) -> bool {
    let subject = format!("wasmbus.rpc.{}.{provider_id}.health", lattice.lattice());
    match tokio::time::timeout(Duration::from_secs(2), lattice.nats().request(subject, "".into())).await {
        Ok(Ok(reply)) => {
            serde_json::from_slice::<serde_json::Value>(&reply.payload).is_ok_and(|v| v["healthy"] == true)
        }
        _ => false,
    }
}
