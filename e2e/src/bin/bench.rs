//! `lattice-bench`: the provider's performance, side by side with the upstream client, on a
//! real lattice (nats-server on loopback, three in-process hosts, the provider started from
//! its PAR). Run it through `scripts/bench.sh`, which builds release binaries and sets
//! `LATTICE_CONTROL_PROVIDER_BIN`.
//!
//! ```text
//! lattice-bench [--out FILE] [--calls N] [--churn N | --churn-steps N,N,…] [--quick] [--only SECTION,…]
//! ```
//! The memory section churns links in steps (cumulative cycles, default 5000,10000,20000) and
//! reads the provider's RSS after each; `--churn N` is one step of N cycles. `--malloc-stats`
//! adds glibc's heap in use and free-but-kept beside each RSS (read with gdb), and the RSS
//! after the provider is made to call `malloc_trim(0)` at the end of the section.
//! `--only` runs some sections: memory, latency, throughput, hosts, profile, runtime, fanout, load,
//! scale, cold.
//! Prints a markdown report and writes it to `FILE` (default `bench-results.md` in the repo).
//! Every network call is bounded ([`stats::LATENCY_BOUND`], [`stats::LOAD_BOUND`], retries
//! with [`ATTEMPT_BOUND`]); calls without an answer are counted as lost, never waited on.

#[path = "bench/fanout.rs"]
mod fanout;
#[path = "bench/load.rs"]
mod load;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/report_fan.rs"]
mod report_fan;
#[path = "bench/stats.rs"]
mod stats;
#[path = "bench/sys.rs"]
mod sys;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use lattice_control_e2e::caller::{lattice_control as lc, no_options, types, Caller};
use lattice_control_e2e::link::{delete_provider_link, put_config, put_provider_link};
use lattice_control_e2e::{bounded, Nats, TestLattice, CALL_TIMEOUT};
use lattice_control_provider::ctl;
use report::{
    ChurnResult, ChurnStep, ColdStart, HostsResult, LatencyResult, MemoryResult, ProfileResult, Report,
    ThroughputResult,
};
use stats::{timed, Outcome, Rate, LATENCY_BOUND, LOAD_BOUND};

/// Provider id of the provider under test.
const PROVIDER_ID: &str = "lattice-control";
/// The same binary with `runtime=current_thread`, on host 1, for the runtime comparison.
const PROVIDER_CT: &str = "lattice-control-ct";
/// Links and lattices of the many-links section (issue 14).
const MANY_LINKS: (usize, usize) = (1000, 50);
/// The component the bench calls as (the link's source).
const SOURCE: &str = "bench-component";
/// A second caller whose link turns read coalescing off (`coalesce_reads=false`).
const SOURCE_UNSHARED: &str = "bench-component-unshared";
const LINK: &str = "default";
/// Concurrency levels of the throughput table.
const CONCURRENCY: [usize; 3] = [1, 16, 64];
/// Bound of one attempt of a retried set-up call (a lost wRPC reply never comes).
const ATTEMPT_BOUND: Duration = Duration::from_secs(1);

/// Command-line settings.
struct Args {
    out: std::path::PathBuf,
    calls: usize,
    warmup: usize,
    /// Cumulative link put/delete cycles after which the memory section reads RSS.
    churn_steps: Vec<usize>,
    window: Duration,
    rounds: usize,
    /// The sections to run (`--only`); all when empty.
    only: Vec<String>,
    /// `--malloc-stats`: the memory section also reads glibc's heap figures (with gdb) and
    /// makes the provider trim its heap at its end.
    malloc_stats: bool,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut args = Args {
            out: lattice_control_e2e::par::product_root().join("bench-results.md"),
            calls: 2000,
            warmup: 200,
            churn_steps: vec![5_000, 10_000, 20_000],
            window: Duration::from_millis(1000),
            rounds: 2,
            only: Vec::new(),
            malloc_stats: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value"));
            match a.as_str() {
                "--out" => args.out = value("--out")?.into(),
                "--calls" => args.calls = value("--calls")?.parse().context("--calls")?,
                "--churn" => args.churn_steps = vec![value("--churn")?.parse().context("--churn")?],
                "--churn-steps" => args.churn_steps = churn_steps(&value("--churn-steps")?)?,
                "--malloc-stats" => args.malloc_stats = true,
                "--quick" => {
                    args.calls = 300;
                    args.warmup = 50;
                    args.churn_steps = vec![250, 500];
                    args.window = Duration::from_millis(300);
                    args.rounds = 1;
                }
                "--only" => {
                    args.only = value("--only")?.split(',').map(|s| s.trim().to_string()).collect();
                    if let Some(bad) = args.only.iter().find(|s| !report::SECTIONS.contains(&s.as_str())) {
                        bail!("unknown section {bad} (sections: {})", report::SECTIONS.join(", "));
                    }
                }
                "-h" | "--help" => {
                    println!(
                        "lattice-bench [--out FILE] [--calls N] [--churn N | --churn-steps N,N,…] [--malloc-stats] [--quick] \
                         [--only SECTION,…]"
                    );
                    println!("sections: {}", report::SECTIONS.join(", "));
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other}"),
            }
        }
        Ok(args)
    }
}

/// Cumulative churn steps from `5000,10000,20000`: positive and increasing.
fn churn_steps(text: &str) -> Result<Vec<usize>> {
    let steps = text
        .split(',')
        .map(|s| s.trim().parse::<usize>().with_context(|| format!("--churn-steps: `{s}` is not a number")))
        .collect::<Result<Vec<_>>>()?;
    if steps.first() == Some(&0) || steps.windows(2).any(|w| w[0] >= w[1]) {
        bail!("--churn-steps: cumulative cycle counts, positive and increasing (e.g. 5000,10000,20000)");
    }
    Ok(steps)
}

/// The two reads measured three ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    Inventory,
    Links,
}

impl Read {
    pub fn name(self) -> &'static str {
        match self {
            Read::Inventory => "get-host-inventory",
            Read::Links => "get-links",
        }
    }
}

/// One way of getting an answer, for the throughput table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// Through the provider over wRPC, as the host routes a component's call.
    Provider(Read),
    /// The same on a link with read coalescing off: one host request per call.
    Unshared(Read),
    /// The upstream 3.0.1 client, straight to the hosts.
    Direct(Read),
    /// The unavoidable hops: `provider-info` over wRPC, then the direct call.
    Floor(Read),
    /// `provider-info` alone: a wRPC call that never reaches the lattice.
    NoOp,
}

impl Way {
    pub fn label(self) -> String {
        match self {
            Way::Provider(r) => format!("{} via provider (wRPC)", r.name()),
            Way::Unshared(r) => format!("{} via provider, coalescing off", r.name()),
            Way::Direct(r) => format!("{} direct (upstream 3.0.1)", r.name()),
            Way::Floor(r) => format!("{} floor (provider-info + direct)", r.name()),
            Way::NoOp => "provider-info (no-op wRPC)".into(),
        }
    }

    async fn run(self, b: &Bench) -> Result<(), String> {
        match self {
            Way::Provider(r) => b.provider(&b.caller, r).await,
            Way::Unshared(r) => b.provider(&b.unshared, r).await,
            Way::Direct(r) => b.direct(r).await,
            Way::Floor(r) => {
                b.noop().await?;
                b.direct(r).await
            }
            Way::NoOp => b.noop().await,
        }
    }
}

/// The clients of the measured ways, each on its own NATS connection.
struct Bench {
    caller: Caller,
    unshared: Caller,
    upstream: wasmcloud_control_interface::Client,
    host_id: String,
}

impl Bench {
    /// A read through the provider by `caller`; checks the answer is the one asked for.
    async fn provider(&self, caller: &Caller, read: Read) -> Result<(), String> {
        let (wrpc, cx) = (caller.wrpc(), caller.cx());
        match read {
            Read::Inventory => {
                let inv = lc::get_host_inventory(wrpc, cx, &self.host_id)
                    .await
                    .map_err(|e| format!("transport: {e:#}"))?
                    .map_err(|e| format!("{e:?}"))?;
                if inv.host_id != self.host_id {
                    return Err(format!("inventory of {} instead of {}", inv.host_id, self.host_id));
                }
            }
            Read::Links => {
                let links = lc::get_links(wrpc, cx, &no_options())
                    .await
                    .map_err(|e| format!("transport: {e:#}"))?
                    .map_err(|e| format!("{e:?}"))?;
                if !links.iter().any(|l| l.source_id == SOURCE) {
                    return Err("the bench's own link is missing".into());
                }
            }
        }
        Ok(())
    }

    /// The same read with the upstream client.
    async fn direct(&self, read: Read) -> Result<(), String> {
        match read {
            Read::Inventory => {
                let r = self.upstream.get_host_inventory(&self.host_id).await.map_err(|e| e.to_string())?;
                let inv = r.data().ok_or_else(|| format!("refused: {}", r.message()))?;
                if inv.host_id() != self.host_id {
                    return Err("inventory of another host".into());
                }
            }
            Read::Links => {
                let r = self.upstream.get_links().await.map_err(|e| e.to_string())?;
                let links = r.data().ok_or_else(|| format!("refused: {}", r.message()))?;
                if !links.iter().any(|l| l.source_id() == SOURCE) {
                    return Err("the bench's own link is missing".into());
                }
            }
        }
        Ok(())
    }

    /// `provider-info`: answered by the provider without lattice traffic.
    async fn noop(&self) -> Result<(), String> {
        let info = lc::provider_info(self.caller.wrpc(), self.caller.cx(), &no_options())
            .await
            .map_err(|e| format!("transport: {e:#}"))?
            .map_err(|e| format!("{e:?}"))?;
        if info.source_id != SOURCE {
            return Err(format!("provider-info names {}", info.source_id));
        }
        Ok(())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let args = Args::parse()?;
    let provider_bin = std::env::var_os(lattice_control_e2e::par::PROVIDER_BIN_ENV)
        .map(std::path::PathBuf::from)
        .ok_or_else(|| {
            anyhow!(
                "set {} to a release provider binary (scripts/bench.sh does)",
                lattice_control_e2e::par::PROVIDER_BIN_ENV
            )
        })?;
    let machine = sys::Machine::describe(&lattice_control_e2e::par::product_root());
    let started = Instant::now();
    let mut report = Report::new(machine, &provider_bin, args.calls);
    report.only = args.only.clone();
    let runs = |section: &str| report::runs(&args.only, section);

    let nats = Nats::start()?;
    let mut lattice = TestLattice::start(&nats, 3).await?;
    let host_id = lattice.host_id(0)?.to_string();
    progress(started, "lattice up (3 hosts)");

    // the link first: links put before a provider starts arrive right after its init
    put_provider_link(&lattice, SOURCE, LINK, PROVIDER_ID, &[]).await?;
    lattice_control_e2e::start_provider(&lattice, 0, PROVIDER_ID, &[]).await?;
    let caller = Caller::new(nats.connect().await?, lattice.lattice(), PROVIDER_ID).await?.as_component(SOURCE, LINK);
    let info = retry_wrpc("provider-info", || async {
        lc::provider_info(caller.wrpc(), caller.cx(), &no_options()).await?.map_err(|e| anyhow!("{e:?}"))
    })
    .await?;
    report.provider_version = info.version.clone();
    report.provider_policy = info.policy.clone();
    let pid = sys::provider_pid(&host_id)?;
    let rss_idle = sys::rss_kib(pid)?;
    progress(started, &format!("provider {} ready, pid {pid}", info.version));

    let upstream =
        wasmcloud_control_interface::ClientBuilder::new(nats.connect().await?).lattice(lattice.lattice()).build();
    put_config(&lattice, "bench-unshared", &[("coalesce_reads", "false")]).await?;
    put_provider_link(&lattice, SOURCE_UNSHARED, LINK, PROVIDER_ID, &["bench-unshared"]).await?;
    let unshared =
        Caller::new(nats.connect().await?, lattice.lattice(), PROVIDER_ID).await?.as_component(SOURCE_UNSHARED, LINK);
    let b = Arc::new(Bench { caller, unshared, upstream, host_id: host_id.clone() });
    // every way must agree before it is timed
    for read in [Read::Inventory, Read::Links] {
        retry_wrpc(read.name(), || async {
            b.provider(&b.caller, read).await.map_err(|e| anyhow!(e))?;
            b.provider(&b.unshared, read).await.map_err(|e| anyhow!(e))?;
            b.direct(read).await.map_err(|e| anyhow!(e))
        })
        .await?;
    }

    // memory first, so the link figures are not mixed with what the load leaves behind;
    // a section that fails from here on is reported, and the others still run
    if runs("memory") {
        match memory(&lattice, &nats, pid, &args.churn_steps, args.malloc_stats).await {
            Ok(m) => report.memory = m,
            Err(e) => report.errors.push(format!("memory: {e:#}")),
        }
        progress(started, "memory done");
    }
    if runs("latency") {
        report.latency = latency(&b, args.warmup, args.calls).await;
        progress(started, "latency done");
    }
    let rss_after_latency = sys::rss_kib(pid)?;
    if runs("throughput") {
        report.throughput = throughput(&b, args.window, args.rounds).await?;
        progress(started, "throughput done");
    }
    let rss_after_throughput = sys::rss_kib(pid)?;
    if runs("hosts") {
        match get_hosts(&b, &lattice).await {
            Ok(h) => report.hosts = h,
            Err(e) => report.errors.push(format!("get-hosts: {e:#}")),
        }
        progress(started, "get-hosts done");
    }
    if runs("profile") {
        match profile(&b, &lattice, pid, args.window).await {
            Ok(p) => report.profile = p,
            Err(e) => report.errors.push(format!("profile: {e:#}")),
        }
        progress(started, "profile done");
    }
    let rss_after_load = sys::rss_kib(pid)?;
    if runs("runtime") {
        match runtime_flavors(&b, pid, &lattice, &nats, args.window).await {
            Ok(r) => report.runtime = r,
            Err(e) => report.errors.push(format!("runtime: {e:#}")),
        }
        progress(started, "runtime comparison done");
    }
    if runs("fanout") {
        match fanout::fan_out(&lattice, &nats, PROVIDER_ID, pid, args.window * 4).await {
            Ok(r) => report.fan_out = r,
            Err(e) => report.errors.push(format!("fan-out: {e:#}")),
        }
        progress(started, "fan-out done");
    }
    if runs("scale") {
        let (links, lattices) = MANY_LINKS;
        match fanout::many_links(&lattice, &nats, &b.caller, &host_id, PROVIDER_ID, pid, links, lattices).await {
            Ok(r) => report.scale = Some(r),
            Err(e) => report.errors.push(format!("many links: {e:#}")),
        }
        progress(started, "many links done");
    }
    if runs("load") {
        match load::load(&lattice, &nats, 1).await {
            Ok(l) => report.load = Some(l),
            Err(e) => report.errors.push(format!("load: {e:#}")),
        }
        progress(started, "component load done");
    }
    if runs("cold") {
        match cold_starts(&lattice, &nats, 2, 5).await {
            Ok(c) => report.cold_starts = c,
            Err(e) => report.errors.push(format!("cold start: {e:#}")),
        }
        progress(started, "cold starts done");
    }
    report.memory.idle_kib = rss_idle;
    report.memory.after_load_kib = rss_after_load;
    report.memory.after_latency_kib = rss_after_latency;
    report.memory.after_throughput_kib = rss_after_throughput;
    // the provider must still answer its original caller after all that
    if let Err(e) = retry_wrpc("provider-info at the end", || async { b.noop().await.map_err(|e| anyhow!(e)) }).await {
        report.errors.push(format!("{e:#}"));
    }

    report.load_after = sys::load_average();
    report.total = started.elapsed();
    let text = report.render();
    println!("{text}");
    std::fs::write(&args.out, &text).with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {}", args.out.display());

    // stop the extra hosts first; shutdown stops the provider with host 0
    for i in [2, 1] {
        let _ = lattice.stop_host(i).await;
    }
    lattice.shutdown().await
}

/// Retries an idempotent wRPC call for [`CALL_TIMEOUT`] in total, each attempt bounded by
/// [`ATTEMPT_BOUND`].
async fn retry_wrpc<T, F, Fut>(what: &str, op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    retry_wrpc_within(what, CALL_TIMEOUT, op).await
}

/// [`retry_wrpc`] for `total` in all.
async fn retry_wrpc_within<T, F, Fut>(what: &str, total: Duration, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    lattice_control_e2e::retry(what, total, || {
        let fut = op();
        async move { bounded(what, ATTEMPT_BOUND, fut).await? }
    })
    .await
}

/// Progress on stdout: stderr carries the hosts' and the provider's logs.
fn progress(started: Instant, what: &str) {
    println!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

/// (1) Latency, interleaved: per iteration and read, the provider call, then `provider-info`
/// and the direct call back to back (the floor), alternating which comes first.
async fn latency(b: &Bench, warmup: usize, calls: usize) -> Vec<LatencyResult> {
    let reads = [Read::Inventory, Read::Links];
    let mut results: Vec<LatencyResult> = reads.iter().map(|r| LatencyResult::new(*r)).collect();
    for i in 0..warmup + calls {
        for (k, read) in reads.iter().enumerate() {
            let provider_first = i % 2 == 0;
            let mut p = None;
            if provider_first {
                p = Some(timed(LATENCY_BOUND, b.provider(&b.caller, *read)).await);
            }
            let n = timed(LATENCY_BOUND, b.noop()).await;
            let d = timed(LATENCY_BOUND, b.direct(*read)).await;
            if !provider_first {
                p = Some(timed(LATENCY_BOUND, b.provider(&b.caller, *read)).await);
            }
            if i < warmup {
                continue;
            }
            if k == 0 && (i - warmup) % 1000 == 999 {
                let lost: usize = results.iter().map(|r| r.provider.lost + r.noop.lost + r.direct.lost).sum();
                println!("  latency: {} of {calls} iterations, {lost} calls lost so far", i - warmup + 1);
            }
            let r = &mut results[k];
            r.provider.record(p.unwrap_or(Outcome::Lost));
            let n = r.noop.record(n);
            let d = r.direct.record(d);
            match (n, d) {
                (Some(n), Some(d)) => r.floor.push(n + d),
                _ => r.floor.lost += 1,
            }
        }
    }
    results
}

/// Successful calls of `way` by `tasks` concurrent callers over `window`.
async fn rate(b: &Arc<Bench>, way: Way, tasks: usize, window: Duration) -> Result<Rate> {
    let start = Instant::now();
    let deadline = start + window;
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move {
                let mut r = Rate::default();
                while Instant::now() < deadline {
                    match timed(LOAD_BOUND, way.run(&b)).await {
                        // an answer after the window is not the window's
                        Outcome::Done(_) if Instant::now() > deadline => {}
                        outcome => r.count(&outcome),
                    }
                }
                r
            })
        })
        .collect();
    let joined = bounded(
        "throughput tasks",
        window + LOAD_BOUND * 2 + Duration::from_secs(1),
        futures::future::join_all(handles),
    )
    .await?;
    let mut total = Rate { elapsed: window, ..Rate::default() };
    for r in joined {
        total.add(r.context("throughput task panicked")?);
    }
    Ok(total)
}

/// Calls of `way` offered at `per_s` calls per second over `window` (a new call each tick,
/// whether or not earlier ones have answered), so two ways can be compared at the same rate.
async fn paced(b: &Arc<Bench>, way: Way, per_s: u64, window: Duration) -> Result<Rate> {
    const TICK: Duration = Duration::from_millis(2);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let ticks = (window.as_secs_f64() / TICK.as_secs_f64()).round() as u64;
    let mut handles = Vec::new();
    let (mut owed, per_tick) = (0.0, per_s as f64 * TICK.as_secs_f64());
    for _ in 0..ticks {
        tick.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let b = b.clone();
            handles.push(tokio::spawn(async move { timed(LOAD_BOUND, way.run(&b)).await }));
        }
    }
    let joined =
        bounded("paced calls", LOAD_BOUND * 2 + Duration::from_secs(1), futures::future::join_all(handles)).await?;
    let mut total = Rate { elapsed: window, ..Rate::default() };
    for o in joined {
        total.count(&o.context("paced call panicked")?);
    }
    Ok(total)
}

/// (2) Throughput: every way at every concurrency, round-robin over `rounds` rounds so
/// load drift hits all ways alike.
async fn throughput(b: &Arc<Bench>, window: Duration, rounds: usize) -> Result<Vec<ThroughputResult>> {
    let mut ways = vec![Way::NoOp];
    for r in [Read::Inventory, Read::Links] {
        ways.extend([Way::Provider(r), Way::Unshared(r), Way::Direct(r), Way::Floor(r)]);
    }
    let mut results: Vec<ThroughputResult> =
        ways.iter().map(|w| ThroughputResult { way: *w, rates: vec![Rate::default(); CONCURRENCY.len()] }).collect();
    for _ in 0..rounds {
        for (c, tasks) in CONCURRENCY.iter().enumerate() {
            for res in results.iter_mut() {
                let r = rate(b, res.way, *tasks, window).await?;
                res.rates[c].add(r);
                // let stragglers of this window drain before the next starts
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    Ok(results)
}

/// (3) `get-hosts` on the 3-host lattice: through the provider (default query) vs the
/// upstream client's full scatter, interleaved; both must return the lattice's host set.
async fn get_hosts(b: &Bench, lattice: &TestLattice) -> Result<HostsResult> {
    let mut expected = lattice.host_ids();
    expected.sort();
    let query = types::HostQuery { expected: None, full_wait: false, timeout_ms: None };
    let mut res = HostsResult::default();
    let upstream = lattice.upstream();
    for _ in 0..3 {
        for _ in 0..10 {
            let start = Instant::now();
            let got =
                bounded("get-hosts via provider", CALL_TIMEOUT, lc::get_hosts(b.caller.wrpc(), b.caller.cx(), &query))
                    .await;
            let elapsed = start.elapsed();
            let ids = match got {
                Ok(Ok(Ok(hosts))) => hosts.into_iter().map(|h| h.id).collect(),
                Ok(Ok(Err(e))) => {
                    res.ours.record(Outcome::Failed(format!("{e:?}")));
                    continue;
                }
                Ok(Err(e)) => {
                    res.ours.record(Outcome::Failed(format!("transport: {e:#}")));
                    continue;
                }
                Err(_) => {
                    res.ours.record(Outcome::Lost);
                    continue;
                }
            };
            if sorted(ids) == expected {
                res.ours.push(elapsed);
            } else {
                res.ours_mismatch += 1;
            }
        }
        let start = Instant::now();
        match bounded("upstream get_hosts", Duration::from_secs(15), upstream.get_hosts()).await {
            Ok(Ok(replies)) => {
                let elapsed = start.elapsed();
                let ids = replies.into_iter().filter_map(|r| r.into_data()).map(|h| h.id().to_string()).collect();
                if sorted(ids) == expected {
                    res.upstream.push(elapsed);
                } else {
                    res.upstream_mismatch += 1;
                }
            }
            Ok(Err(e)) => {
                res.upstream.record(Outcome::Failed(e.to_string()));
            }
            Err(_) => {
                res.upstream.record(Outcome::Lost);
            }
        }
    }
    res.hosts = expected.len();
    Ok(res)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// (6) Where the provider's time goes: its CPU time per call for the no-op and the two
/// reads, a `perf` profile under inventory load, and the JSON decode alone.
async fn profile(b: &Arc<Bench>, lattice: &TestLattice, pid: u32, window: Duration) -> Result<ProfileResult> {
    let mut res = ProfileResult::default();
    let load = window * 2;
    for way in [Way::NoOp, Way::Provider(Read::Inventory), Way::Provider(Read::Links)] {
        let before = sys::cpu_time(pid)?;
        let r = rate(b, way, 16, load).await?;
        let cpu = sys::cpu_time(pid)?.saturating_sub(before);
        let attempts = r.attempts().max(1);
        res.cpu_per_call.push((way, cpu / attempts as u32, r.per_second()));
    }

    // the same two ways at one offered rate, half the slower one's rate at 16 callers, in
    // alternating rounds: CPU per call without the difference in pace
    let slower = res.cpu_per_call.iter().take(2).map(|(_, _, r)| *r).fold(f64::MAX, f64::min);
    let per_s = ((slower / 2.0 / 100.0).floor() as u64 * 100).max(100);
    let mut at_rate = [(Duration::ZERO, 0u64); 2];
    for _ in 0..2 {
        for (i, way) in [Way::NoOp, Way::Provider(Read::Inventory)].into_iter().enumerate() {
            let before = sys::cpu_time(pid)?;
            let r = paced(b, way, per_s, load).await?;
            at_rate[i].0 += sys::cpu_time(pid)?.saturating_sub(before);
            at_rate[i].1 += r.attempts();
            res.paced_failed += r.failed + r.lost;
        }
    }
    res.paced = Some((per_s, at_rate.map(|(cpu, n)| cpu / n.max(1) as u32)));

    let data = lattice_control_e2e::util::scratch_dir()?.join("provider.perf.data");
    for way in [Way::NoOp, Way::Provider(Read::Inventory)] {
        let Some(recording) = sys::PerfRecording::start(pid, &data) else {
            res.perf_error = Some("perf is not available".into());
            break;
        };
        // perf attaches within this pause; the CPU time counts from the first call
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = sys::cpu_time(pid)?;
        let r = rate(b, way, 16, load).await?;
        let cpu = sys::cpu_time(pid)?.saturating_sub(before);
        match tokio::task::spawn_blocking(move || recording.finish()).await? {
            Ok(rows) => res.perf.push(report::PerfRun { way, calls: r.attempts(), cpu, rows }),
            Err(e) => res.perf_error = Some(format!("{e:#}")),
        }
        let _ = std::fs::remove_file(&data);
    }

    res.json = Some(json_decode_cost(lattice, &b.host_id).await?);
    Ok(res)
}

/// (9) The default runtime against `runtime=current_thread`: a second provider from the same
/// binary on host 1, both measured alternately (two rounds); the second is stopped after.
async fn runtime_flavors(
    b: &Arc<Bench>,
    pid: u32,
    lattice: &TestLattice,
    nats: &Nats,
    window: Duration,
) -> Result<Vec<report_fan::RuntimeRow>> {
    put_config(lattice, "bench-ct", &[("runtime", "current_thread")]).await?;
    put_provider_link(lattice, SOURCE, "ct", PROVIDER_CT, &[]).await?;
    lattice_control_e2e::start_provider(lattice, 1, PROVIDER_CT, &["bench-ct"]).await?;
    let caller = Caller::new(nats.connect().await?, lattice.lattice(), PROVIDER_CT).await?.as_component(SOURCE, "ct");
    let upstream =
        wasmcloud_control_interface::ClientBuilder::new(nats.connect().await?).lattice(lattice.lattice()).build();
    let ct = Arc::new(Bench { caller: caller.clone(), unshared: caller, upstream, host_id: b.host_id.clone() });
    retry_wrpc("current_thread provider's first call", || async {
        ct.provider(&ct.caller, Read::Inventory).await.map_err(|e| anyhow!(e))
    })
    .await?;
    let ct_pid = sys::provider_pid(lattice.host_id(1)?)?;
    let ways = [Way::NoOp, Way::Provider(Read::Inventory)];
    // per provider and way: (cpu, attempts at 16) and the rate at 64
    let mut cpu = [[(Duration::ZERO, 0u64); 2]; 2];
    let mut rates = [[Rate::default(); 2]; 2];
    let (mut failed, mut lost) = ([0u64; 2], [0u64; 2]);
    for _ in 0..2 {
        for (p, (bench, pid)) in [(b, pid), (&ct, ct_pid)].into_iter().enumerate() {
            for (w, way) in ways.iter().enumerate() {
                let before = sys::cpu_time(pid)?;
                let r = rate(bench, *way, 16, window * 2).await?;
                cpu[p][w].0 += sys::cpu_time(pid)?.saturating_sub(before);
                cpu[p][w].1 += r.attempts();
                let r64 = rate(bench, *way, 64, window).await?;
                rates[p][w].add(r64);
                failed[p] += r.failed + r64.failed;
                lost[p] += r.lost + r64.lost;
            }
        }
    }
    lattice_control_e2e::stop_provider(lattice, 1, PROVIDER_CT).await?;
    delete_provider_link(lattice, SOURCE, "ct").await?;
    let per_call = |(c, n): (Duration, u64)| c / n.max(1) as u32;
    Ok(["multi_thread", "current_thread"]
        .into_iter()
        .enumerate()
        .map(|(p, flavor)| report_fan::RuntimeRow {
            flavor,
            cpu_noop: per_call(cpu[p][0]),
            cpu_inventory: per_call(cpu[p][1]),
            rate_noop: rates[p][0].per_second(),
            rate_inventory: rates[p][1].per_second(),
            failed: failed[p],
            lost: lost[p],
        })
        .collect())
}

/// JSON decode time of a real `host.get` reply into our ctl types, per decode.
async fn json_decode_cost(lattice: &TestLattice, host_id: &str) -> Result<(usize, Duration)> {
    #[derive(serde::Deserialize)]
    struct Reply {
        #[allow(dead_code)]
        success: bool,
        response: Option<ctl::HostInventory>,
    }
    let subject = format!("wasmbus.ctl.v1.{}.host.get.{host_id}", lattice.lattice());
    let msg = bounded("host.get", CALL_TIMEOUT, lattice.nats().request(subject, "".into())).await??;
    let payload = msg.payload;
    const N: u32 = 20_000;
    let start = Instant::now();
    for _ in 0..N {
        let r: Reply = serde_json::from_slice(&payload).context("decoding the inventory")?;
        std::hint::black_box(r.response);
    }
    Ok((payload.len(), start.elapsed() / N))
}

/// (4) Cold start on host `host_index`: `start_provider` sent → health answers, and →
/// first wRPC call answered. Each provider gets its own id and is stopped afterwards.
async fn cold_starts(lattice: &TestLattice, nats: &Nats, host_index: usize, n: usize) -> Result<Vec<ColdStart>> {
    let client = nats.connect().await?;
    let host_id = lattice.host_id(host_index)?.to_string();
    let par = lattice_control_e2e::provider_par_ref()?;
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("bench-cold-{i}");
        let source = format!("bench-cold-src-{i}");
        put_provider_link(lattice, &source, LINK, &id, &[]).await?;
        let caller = Caller::new(client.clone(), lattice.lattice(), &id).await?.as_component(&source, LINK);
        let health_subject = format!("wasmbus.rpc.{}.{id}.health", lattice.lattice());
        let cmd = ctl::StartProviderCommand::builder()
            .host_id(host_id.clone())
            .provider_ref(par.clone())
            .provider_id(id.clone())
            .build()?;

        let start = Instant::now();
        bounded("start_provider", CALL_TIMEOUT, lattice.ctl().start_provider(cmd))
            .await?
            .context("start_provider refused")?;
        let limit = start + Duration::from_secs(60);
        let health = loop {
            if Instant::now() > limit {
                bail!("{id}: no healthy answer within 60 s");
            }
            let reply =
                tokio::time::timeout(Duration::from_millis(250), client.request(health_subject.clone(), "".into()))
                    .await;
            if let Ok(Ok(msg)) = reply {
                let v: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap_or_default();
                if v["healthy"] == true {
                    break start.elapsed();
                }
            }
            // no responders comes back at once: poll again shortly
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let first_call = loop {
            if Instant::now() > limit {
                break None;
            }
            let r = tokio::time::timeout(
                Duration::from_millis(250),
                lc::provider_info(caller.wrpc(), caller.cx(), &no_options()),
            )
            .await;
            if let Ok(Ok(Ok(_))) = r {
                break Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        out.push(ColdStart { health, first_call });
        lattice_control_e2e::stop_provider(lattice, host_index, &id).await?;
        delete_provider_link(lattice, &source, LINK).await?;
    }
    Ok(out)
}

/// (5) Resident memory: with 100 links to distinct lattices (one control client each, all
/// used once), then after each step of link put/delete cycles (`steps`: cumulative counts).
/// With `malloc`, glibc's heap figures beside each, and RSS after a `malloc_trim(0)` at the end.
async fn memory(lattice: &TestLattice, nats: &Nats, pid: u32, steps: &[usize], malloc: bool) -> Result<MemoryResult> {
    let heap = || -> Result<Option<sys::MallocStats>> {
        if malloc {
            sys::malloc_stats(pid).map(Some)
        } else {
            Ok(None)
        }
    };
    const LINKS: usize = 100;
    let mut res = MemoryResult { links: LINKS, ..MemoryResult::default() };
    let base = Caller::new(nats.connect().await?, lattice.lattice(), PROVIDER_ID).await?;
    for i in 0..LINKS {
        let config = format!("bench-rss-{i}");
        let managed = format!("bench-rss-lattice-{i}");
        put_config(lattice, &config, &[("lattice", managed.as_str())]).await?;
        let source = format!("bench-rss-src-{i}");
        put_provider_link(lattice, &source, LINK, PROVIDER_ID, &[config.as_str()]).await?;
    }
    // one call per link makes the provider build its client (clients are made lazily)
    for i in 0..LINKS {
        let caller = base.as_component(&format!("bench-rss-src-{i}"), LINK);
        use_link(&caller, &format!("bench-rss-lattice-{i}"), CALL_TIMEOUT).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    res.with_links_kib = sys::rss_kib(pid)?;
    res.with_links_heap = heap()?;

    let mut done = 0;
    for &step in steps {
        let churn = churn_links(lattice, &base, step - done).await?;
        done = step;
        // deletes reach the provider a few ms after their ack
        tokio::time::sleep(Duration::from_secs(1)).await;
        res.steps.push(ChurnStep { cycles: step, churn, rss_kib: sys::rss_kib(pid)?, heap: heap()? });
    }

    for i in 0..LINKS {
        delete_provider_link(lattice, &format!("bench-rss-src-{i}"), LINK).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    res.links_removed_kib = sys::rss_kib(pid)?;
    res.links_removed_heap = heap()?;
    if malloc {
        sys::malloc_trim(pid)?;
        res.trimmed = Some((sys::rss_kib(pid)?, sys::malloc_stats(pid)?));
    }
    Ok(res)
}

/// Waits until the provider has the caller's link for `lattice`, then makes one call that
/// needs its control client (its lattice has no hosts: an error answer is expected).
async fn use_link(caller: &Caller, lattice: &str, total: Duration) -> Result<()> {
    // retried until the provider has this link, not a previous one of the same key whose
    // deletion it has not seen yet
    retry_wrpc_within("link delivered", total, || async {
        let info = lc::provider_info(caller.wrpc(), caller.cx(), &no_options()).await?.map_err(|e| anyhow!("{e:?}"))?;
        if info.lattice != lattice {
            bail!("link manages {} instead of {lattice}", info.lattice);
        }
        Ok(())
    })
    .await?;
    let options = types::QueryOptions { timeout_ms: Some(200) };
    // any answer will do (an error is expected); only a lost one is retried
    let _ = retry_wrpc("get-links", || async { lc::get_links(caller.wrpc(), caller.cx(), &options).await }).await?;
    Ok(())
}

/// `cycles` link put/delete cycles by 8 concurrent workers (one source each), rotating
/// over 10 configs with distinct lattices; every 7th cycle calls through the link first, so
/// control clients are made and released too.
async fn churn_links(lattice: &TestLattice, base: &Caller, cycles: usize) -> Result<ChurnResult> {
    const WORKERS: usize = 8;
    const CONFIGS: usize = 10;
    // coprime with CONFIGS, so the calls go through every config's client in turn
    const CALL_EVERY: usize = 7;
    for k in 0..CONFIGS {
        let managed = format!("bench-churn-lattice-{k}");
        put_config(lattice, &format!("bench-churn-{k}"), &[("lattice", managed.as_str())]).await?;
    }
    let start = Instant::now();
    let work = (0..WORKERS).map(|w| async move {
        let source = format!("bench-churn-src-{w}");
        let caller = base.as_component(&source, LINK);
        let mut failed = 0usize;
        let mut first_error = None;
        for j in (w..cycles).step_by(WORKERS) {
            let k = (j / WORKERS) % CONFIGS;
            let config = format!("bench-churn-{k}");
            let r = async {
                put_provider_link(lattice, &source, LINK, PROVIDER_ID, &[config.as_str()]).await?;
                if (j / WORKERS).is_multiple_of(CALL_EVERY) {
                    // a link that has not arrived in 2 s fails the cycle (counted)
                    use_link(&caller, &format!("bench-churn-lattice-{k}"), Duration::from_secs(2)).await?;
                }
                delete_provider_link(lattice, &source, LINK).await
            }
            .await;
            if let Err(e) = r {
                failed += 1;
                first_error.get_or_insert(format!("{e:#}"));
            }
        }
        (failed, first_error)
    });
    let results = futures::future::join_all(work).await;
    let mut res = ChurnResult { cycles, elapsed: start.elapsed(), ..ChurnResult::default() };
    for (failed, e) in results {
        res.failed += failed;
        if res.first_error.is_none() {
            res.first_error = e;
        }
    }
    Ok(res)
}
