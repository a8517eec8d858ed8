//! Malformed input over wRPC and link churn: every bad call a typed error, the provider alive
//! and healthy after, its memory and NATS connections bounded. Heavy: `scripts/test.sh` runs
//! this file alone. `LATTICE_CONTROL_CORPUS` (default 10000) and `LATTICE_CONTROL_CHURN`
//! (default 10000) set the sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use lattice_control_e2e::caller::{lattice_control as lc, types, Caller, NO_OPTIONS};
use lattice_control_e2e::stress::{
    connection_count, every_function_answers, linked_caller, outcome, provider_healthy, provider_pid, retry_lost,
    rss_kib, run_calls, Outcome,
};
use lattice_control_e2e::{
    delete_provider_link, put_config, put_provider_link, shared_nats, start_provider, TestLattice,
};

const PROVIDER: &str = "lattice-control";
const CALL_BOUND: Duration = Duration::from_secs(10);
/// Stated bound: the provider's RSS may grow at most this much over a whole corpus (all its
/// passes) or churn run (allocator slack; a leak of one small allocation per call would
/// exceed it).
const RSS_GROWTH_BOUND_KIB: u64 = 16 * 1024;

/// Passes over the same corpus. RSS moves by several MiB either way between passes
/// (allocator pages taken and given back: measured 93 -> 90 -> 98 -> 83 MiB in one run), so
/// a leak shows as growth over all passes, not between two.
/// `LATTICE_CONTROL_CORPUS_PASSES` overrides it.
const PASSES: u64 = 3;

/// Bound of one attempt on a churned link, far above its answer time; beyond it the wRPC
/// call is counted as lost on the caller side and tried again.
const ATTEMPT_BOUND: Duration = Duration::from_secs(2);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A small deterministic generator (xorshift64*), so a failing corpus item can be replayed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    /// A bad string: empty, whitespace, subject wildcards, control characters, or huge.
    fn bad_string(&mut self) -> String {
        match self.next() % 8 {
            0 => String::new(),
            1 => " ".repeat(1 + (self.next() % 8) as usize),
            2 => "a.*.>".into(),
            3 => "\u{0}\u{7}\n\t".into(),
            4 => "x".repeat(64 * 1024 + (self.next() % 1024) as usize),
            5 => "ü💥".repeat(1000),
            6 => format!("bad subject {}", self.next()),
            _ => ">".into(),
        }
    }
    /// A host id no host has (well-formed, malformed, empty or huge).
    fn bad_host(&mut self) -> String {
        match self.next() % 4 {
            0 => format!("N{:055X}", self.next()),
            1 => format!("N{}", self.next()),
            _ => self.bad_string(),
        }
    }
    /// An OCI reference that cannot be valid.
    fn bad_ref(&mut self) -> String {
        match self.next() % 5 {
            0 => String::new(),
            1 => "::::".into(),
            2 => "ghcr.io/UPPER CASE/with spaces:tag".into(),
            3 => format!("file:///nonexistent/{}", self.bad_string()),
            _ => "http://[::1".into(),
        }
    }
    /// An annotation map: empty, or oversized (thousands of entries / huge values).
    fn annotations(&mut self) -> Option<Vec<(String, String)>> {
        match self.next() % 3 {
            0 => None,
            1 => Some((0..5000).map(|i| (format!("k{i}"), "v".into())).collect()),
            _ => Some(vec![(self.bad_string(), self.bad_string())]),
        }
    }
    fn count(&mut self) -> u32 {
        *[0, 1, u32::MAX, u32::MAX - 1].get((self.next() % 4) as usize).unwrap_or(&0)
    }
    fn timeout(&mut self) -> Option<u32> {
        [Some(0), Some(u32::MAX), None][(self.next() % 3) as usize]
    }
}

/// Makes bad call number `i` (deterministic in `i`) and classifies its end.
async fn bad_call(c: &Caller, real_host: &str, i: u64) -> Outcome {
    let mut g = Gen(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (w, cx) = (c.wrpc(), c.cx());
    let b = CALL_BOUND;
    match i % 16 {
        0 => outcome(b, lc::get_host_inventory(w, cx, &g.bad_host())).await,
        1 => {
            // hostcore.* labels on the real host are refused
            let key = format!("hostcore.{}", g.pick(&["os", "arch", "osfamily", "x", ""]));
            outcome(b, lc::put_label(w, cx, real_host, &key, "v")).await
        }
        2 => outcome(b, lc::delete_label(w, cx, real_host, &format!("hostcore.{}", g.pick(&["os", "arch"])))).await,
        3 | 4 => {
            let cmd = types::ScaleComponentCommand {
                component_ref: g.bad_ref(),
                component_id: g.bad_string(),
                host_id: g.bad_host(),
                max_instances: g.count(),
                annotations: g.annotations(),
                component_limits: g.annotations(),
                config: vec![g.bad_string()],
                allow_update: g.next().is_multiple_of(2),
            };
            if i % 16 == 3 {
                outcome(b, lc::scale_component(w, cx, &cmd)).await
            } else {
                let wait = types::WaitOptions { timeout_ms: g.timeout().unwrap_or(0) };
                outcome(b, lc::scale_component_and_wait(w, cx, &cmd, &wait)).await
            }
        }
        5 => {
            let cmd = types::StartProviderCommand {
                provider_id: g.bad_string(),
                provider_ref: g.bad_ref(),
                host_id: g.bad_host(),
                config: vec![g.bad_string()],
                annotations: g.annotations(),
            };
            outcome(b, lc::start_provider(w, cx, &cmd)).await
        }
        6 => {
            let cmd = types::StopProviderCommand { host_id: g.bad_host(), provider_id: g.bad_string() };
            outcome(b, lc::stop_provider(w, cx, &cmd)).await
        }
        7 => {
            let cmd = types::StopHostCommand { host_id: g.bad_host(), timeout: Some(g.next()) };
            outcome(b, lc::stop_host(w, cx, &cmd)).await
        }
        8 => {
            let cmd = types::UpdateComponentCommand {
                component_id: g.bad_string(),
                host_id: g.bad_host(),
                new_component_ref: g.bad_ref(),
                annotations: g.annotations(),
            };
            outcome(b, lc::update_component(w, cx, &cmd)).await
        }
        9 => {
            // bad link fields: each link has at least one empty or invalid required field
            let mut link = types::Link {
                source_id: "rel-corpus-src".into(),
                target: "rel-corpus-target".into(),
                name: "default".into(),
                wit_namespace: "rel".into(),
                wit_package: "corpus".into(),
                interfaces: vec!["x".into()],
                source_config: vec![],
                target_config: vec![],
            };
            match g.next() % 6 {
                0 => link.source_id = String::new(),
                1 => link.target = String::new(),
                2 => link.wit_namespace = String::new(),
                3 => link.wit_package = String::new(),
                4 => link.interfaces = vec![],
                _ => link.name = String::new(),
            }
            outcome(b, lc::put_link(w, cx, &link)).await
        }
        10 => {
            let req = types::DeleteLinkRequest {
                source_id: String::new(),
                name: g.bad_string(),
                wit_namespace: g.bad_string(),
                wit_package: String::new(),
            };
            outcome(b, lc::delete_link(w, cx, &req)).await
        }
        11 => {
            // config names that cannot be subjects, with oversized maps
            let name = match g.next() % 3 {
                0 => String::new(),
                1 => format!("bad name {}", g.next()),
                _ => "a.*".into(),
            };
            let owned = g.annotations().unwrap_or_default();
            let values: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            match g.next() % 3 {
                0 => outcome(b, lc::put_config(w, cx, &name, &values)).await,
                1 => outcome(b, lc::get_config(w, cx, &name)).await,
                _ => outcome(b, lc::delete_config(w, cx, &name)).await,
            }
        }
        12 => {
            let o = types::QueryOptions { timeout_ms: Some(0) };
            match g.next() % 2 {
                0 => outcome(b, lc::get_claims(w, cx, &o)).await,
                _ => outcome(b, lc::get_links(w, cx, &o)).await,
            }
        }
        13 => {
            let r = types::ComponentAuctionRequest {
                component_ref: g.bad_ref(),
                component_id: g.bad_string(),
                constraints: g.annotations().unwrap_or_default(),
            };
            let o = types::QueryOptions { timeout_ms: g.timeout().map(|t| t.max(1)).or(Some(0)) };
            outcome(b, lc::perform_component_auction(w, cx, &r, &o)).await
        }
        14 => {
            let q = types::HostQuery {
                expected: Some(g.count()),
                full_wait: g.next().is_multiple_of(2),
                timeout_ms: Some(0),
            };
            outcome(b, lc::get_hosts(w, cx, &q)).await
        }
        _ => {
            let r = types::ProviderAuctionRequest {
                provider_ref: g.bad_ref(),
                provider_id: String::new(),
                constraints: vec![],
            };
            let o = types::QueryOptions { timeout_ms: Some(u32::MAX) };
            outcome(b, lc::perform_provider_auction(w, cx, &r, &o)).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_corpus_every_call_a_typed_error() -> Result<()> {
    let size = env_or("LATTICE_CONTROL_CORPUS", 10_000);
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let pid = provider_pid(&host)?;
    // `allow=all` so bad arguments get past the policy to validation and the hosts
    let caller = linked_caller(
        &lattice,
        PROVIDER,
        "rel-corpus",
        "default",
        &[("allow", "all"), ("timeout_ms", "300"), ("scatter_timeout_ms", "300")],
    )
    .await?;
    let probe = linked_caller(&lattice, PROVIDER, "rel-corpus-probe", "default", &[]).await?;
    // bad link settings: every call through this link is refused with invalid-argument
    put_config(&lattice, "rel-corpus-badlink", &[("timeout_ms", "soon"), ("allow", "all")]).await?;
    put_provider_link(&lattice, "rel-corpus-badlink", "default", PROVIDER, &["rel-corpus-badlink"]).await?;
    let bad_link = probe.as_component("rel-corpus-badlink", "default");
    lattice_control_e2e::retry("the bad link arrived", Duration::from_secs(10), || async {
        match outcome(CALL_BOUND, lc::get_host_inventory(bad_link.wrpc(), bad_link.cx(), &host)).await {
            Outcome::Typed("invalid-argument") => Ok(()),
            o => Err(anyhow::anyhow!("{o:?}")),
        }
    })
    .await?;
    let unlinked = probe.as_component("rel-corpus-unlinked", "nolink");

    // warm up so the first allocations are not counted as growth
    let c = Arc::new(caller.clone());
    let h = Arc::new(host.clone());
    let (c1, h1) = (c.clone(), h.clone());
    run_calls(500, 16, CALL_BOUND, move |i| {
        let (c, h) = (c1.clone(), h1.clone());
        async move { bad_call(&c, &h, i).await }
    })
    .await;
    let rss_before = rss_kib(pid)?;
    let started = Instant::now();
    let (c2, h2) = (c.clone(), h.clone());
    // outcomes other than a typed error, by corpus category (i % 16), to name what slipped
    let odd = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<(u64, String), u64>::new()));
    let odd2 = odd.clone();
    let pass = move || {
        let (c2, h2, odd2) = (c2.clone(), h2.clone(), odd2.clone());
        run_calls(size, 16, CALL_BOUND, move |i| {
            let (c, h, odd) = (c2.clone(), h2.clone(), odd2.clone());
            async move {
                let o = bad_call(&c, &h, i).await;
                if !matches!(o, Outcome::Typed(_)) {
                    *odd.lock().unwrap_or_else(|p| p.into_inner()).entry((i % 16, format!("{o:?}"))).or_default() += 1;
                }
                o
            }
        })
    };
    let tally = pass().await;
    let elapsed = started.elapsed();
    let mut rss_passes = vec![rss_kib(pid)?];
    let mut later = Vec::new();
    let passes = env_or("LATTICE_CONTROL_CORPUS_PASSES", PASSES).max(1);
    for _ in 1..passes {
        later.push(pass().await);
        rss_passes.push(rss_kib(pid)?);
    }
    println!("corpus: provider RSS {rss_before} KiB, after each pass {rss_passes:?} KiB; later passes {later:?}");
    println!(
        "corpus: outcomes other than typed errors by category: {:?}",
        odd.lock().unwrap_or_else(|p| p.into_inner())
    );
    // calls that name no component, name one with no link, or come over a link with bad settings
    let mut extra = lattice_control_e2e::stress::Tally::default();
    let mut extra_lost = 0u32;
    for i in 0..300u64 {
        let who = match i % 3 {
            0 => probe.anonymous(),
            1 => unlinked.clone(),
            _ => bad_link.clone(),
        };
        let (o, lost) = retry_lost(3, || async {
            Ok(outcome(CALL_BOUND, lc::get_host_inventory(who.wrpc(), who.cx(), &host)).await)
        })
        .await?;
        extra_lost += lost;
        extra.add(o);
    }
    let rss_after = rss_kib(pid)?;
    let answers = every_function_answers(&probe, &host, 3).await?;
    let healthy = provider_healthy(&lattice, PROVIDER).await;
    println!(
        "corpus: {} bad calls in {elapsed:?}: ok {}, typed {:?}, caller transport {} ({:?}), lost {}; \
         unlinked/anonymous/bad link: {:?}; provider RSS {rss_before} KiB -> {rss_after} KiB; healthy {healthy}; \
         all {} functions answer",
        tally.total(),
        tally.ok,
        tally.typed,
        tally.transport,
        tally.transport_example,
        tally.lost,
        extra.typed,
        answers.len(),
    );
    ensure!(tally.total() == size);
    ensure!(tally.ok == 0, "{} bad calls succeeded", tally.ok);
    // stated bound, as soak.rs: under 1% of the calls lost in the wRPC transport (PLATFORM-NOTES:
    // the unbiased router of wrpc-transport-nats 0.29); measured 0-12 per 10,000
    ensure!(tally.transport == 0 && tally.lost <= size / 100, "calls without an answer: {tally:?}");
    ensure!(extra_lost <= 3, "{extra_lost} of 300 unlinked/bad-link call attempts lost");
    ensure!(extra.typed.get("not-linked").copied() == Some(200), "unlinked calls: {extra:?}");
    ensure!(extra.typed.get("invalid-argument").copied() == Some(100), "bad-link calls: {extra:?}");
    ensure!(healthy, "provider not healthy after the corpus");
    ensure!(provider_pid(&host)? == pid, "the provider process changed");
    for (n, t) in later.iter().enumerate() {
        ensure!(t.ok == 0 && t.transport == 0 && t.lost <= size / 100, "pass {}: {t:?}", n + 2);
    }
    // stated bound: a leak of 1 KiB per bad call would be ~30 MiB over the passes
    ensure!(
        rss_after.saturating_sub(rss_before) <= RSS_GROWTH_BOUND_KIB,
        "provider RSS grew over {passes} passes of {size} bad calls: {rss_before} -> {rss_after} KiB (after each pass {rss_passes:?})"
    );
    lattice.shutdown().await
}

/// Calls `call` until its answer passes `accept`, for at most 10 s. Each attempt is bounded
/// by [`ATTEMPT_BOUND`] (these calls answer in ms): an attempt without an answer is a lost
/// wRPC call (PLATFORM-NOTES), counted in `lost` and retried, as in soak.rs.
async fn answered<T, F, Fut>(
    lost: &std::sync::atomic::AtomicU64,
    what: &str,
    mut call: F,
    accept: impl Fn(&T) -> std::result::Result<(), String>,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<std::result::Result<T, types::CtlError>>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let last = match tokio::time::timeout(ATTEMPT_BOUND, call()).await {
            Ok(Ok(Ok(answer))) => match accept(&answer) {
                Ok(()) => return Ok(()),
                Err(why) => why,
            },
            Ok(Ok(Err(e))) => format!("{e:?}"),
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => {
                lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                "attempt lost".into()
            }
        };
        ensure!(Instant::now() < deadline, "{what}: no accepted answer in 10 s: {last}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_churn_with_changed_puts_leaves_connections_and_memory_where_they_started() -> Result<()> {
    let cycles = env_or("LATTICE_CONTROL_CHURN", 10_000);
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let pid = provider_pid(&host)?;
    // churned links use their own connection settings, so each call opens a connection
    let settings = "rel-churn-settings";
    put_config(&lattice, settings, &[("nats_url", lattice.nats_url()), ("timeout_ms", "1000")]).await?;
    // the changed put of each cycle: same connection, another lattice (a new client)
    let changed = "rel-churn-changed";
    put_config(&lattice, changed, &[("nats_url", lattice.nats_url()), ("timeout_ms", "1000"), ("lattice", "churn-b")])
        .await?;
    let base = Caller::new(lattice.nats().clone(), lattice.lattice(), PROVIDER).await?;

    let lost = std::sync::atomic::AtomicU64::new(0);
    let cycle = |i: u64| {
        let (lattice, base, host, lost) = (&lattice, &base, &host, &lost);
        async move {
            let source = format!("rel-churn-{i}");
            put_provider_link(lattice, &source, "default", PROVIDER, &[settings]).await?;
            let c = base.as_component(&source, "default");
            if i.is_multiple_of(10) {
                // the link reaches the provider ~ms after the ack: retry until it is known
                answered(lost, "churned link call", || lc::get_host_inventory(c.wrpc(), c.cx(), host), |_| Ok(()))
                    .await?;
            }
            // the same link put again with other settings (the SDK alone drops this put)
            put_provider_link(lattice, &source, "default", PROVIDER, &[changed]).await?;
            if i.is_multiple_of(10) {
                let applied = |info: &types::LinkInfo| match info.lattice.as_str() {
                    "churn-b" => Ok(()),
                    other => Err(format!("still managing {other}")),
                };
                answered(lost, "changed put", || lc::provider_info(c.wrpc(), c.cx(), &NO_OPTIONS), applied).await?;
            }
            delete_provider_link(lattice, &source, "default").await
        }
    };
    // connections before any churned link exists: a warm-up link whose delete overtook its
    // put may hold one for up to 17 s (src/provider/watch.rs), so not after the warm-up
    tokio::time::sleep(Duration::from_millis(500)).await;
    let conns_before = connection_count(lattice.monitor_url(), None).await?;
    let provider_conns_before = connection_count(lattice.monitor_url(), Some("lattice-control-provider")).await?;
    // warm-up: allocations and one connection cycle before measuring memory
    for i in 0..50 {
        cycle(cycles + i).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(pid)?;
    let started = Instant::now();
    use futures::StreamExt as _;
    let results: Vec<Result<()>> = futures::stream::iter(0..cycles).map(cycle).buffer_unordered(4).collect().await;
    let elapsed = started.elapsed();
    let failures: Vec<String> = results.iter().filter_map(|r| r.as_ref().err()).map(|e| format!("{e:#}")).collect();
    // deletes reach the provider a few ms after their ack; a put that its delete overtook is
    // dropped by the provider's check against the host, 2.3-17.3 s after the delete
    // (src/provider/watch.rs): wait for the counts to settle, bounded
    let settle = Instant::now();
    let (conns_after, provider_conns_after) = loop {
        let all = connection_count(lattice.monitor_url(), None).await?;
        let provider = connection_count(lattice.monitor_url(), Some("lattice-control-provider")).await?;
        if (all == conns_before && provider == provider_conns_before) || settle.elapsed() > Duration::from_secs(30) {
            break (all, provider);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!("link churn: connection counts settled after {:?}", settle.elapsed());
    let rss_after = rss_kib(pid)?;
    println!(
        "link churn: {cycles} put/changed-put/delete cycles ({} with a call) in {elapsed:?}, {} failed; server connections \
         {conns_before} -> {conns_after} (provider link connections {provider_conns_before} -> {provider_conns_after}); \
         provider RSS {rss_before} KiB -> {rss_after} KiB; lost call attempts (retried) {}",
        cycles.div_ceil(10),
        failures.len(),
        lost.load(std::sync::atomic::Ordering::Relaxed),
    );
    ensure!(failures.is_empty(), "churn failures: {:?}", &failures[..failures.len().min(5)]);
    // lost attempts are retried (every cycle's call was answered, checked above) and reported;
    // measured 5, 12 and 17 per 1,000 calls here (the in-process host busy with link puts and
    // deletes beside the test's wRPC client), against ~1 per 1,000 in the soak. The bound only
    // catches a regression where calls on fresh links go unanswered wholesale.
    let lost = lost.load(std::sync::atomic::Ordering::Relaxed);
    ensure!(lost * 100 < 5 * cycles.div_ceil(10).max(1), "{lost} lost call attempts (bound 5%)");
    ensure!(provider_conns_after == provider_conns_before, "provider link connections leaked");
    ensure!(conns_after == conns_before, "server connections {conns_before} -> {conns_after}");
    ensure!(
        rss_after.saturating_sub(rss_before) <= RSS_GROWTH_BOUND_KIB,
        "provider RSS grew {rss_before} -> {rss_after} KiB"
    );
    ensure!(provider_healthy(&lattice, PROVIDER).await);
    lattice.shutdown().await
}

/// Stated bound: what the provider's RSS may grow by through the OTLP corpus (10,000 series
/// kept, and what the allocator keeps of decoding 100,000 more per pass).
const OTLP_RSS_BOUND_KIB: u64 = 64 * 1024;

/// Malformed and hostile OTLP exports at the provider's receiver: each refused with its HTTP
/// status, the provider healthy after, its memory bounded through 100,000 series (the store
/// keeps 10,000 and refuses the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_otlp_exports_are_refused_and_memory_stays_bounded() -> Result<()> {
    use lattice_control_e2e::otlp::{max_instances_export, PROTOBUF};
    let otlp_post = |addr: &str, method: &str, path: &str, content_type: &str, extra: &str, body: &[u8]| {
        let (addr, method, path, ct, extra, body) = (
            addr.to_string(),
            method.to_string(),
            path.to_string(),
            content_type.to_string(),
            extra.to_string(),
            body.to_vec(),
        );
        async move { lattice_control_e2e::otlp::post(&addr, &method, &path, &ct, &extra, &body, CALL_BOUND).await }
    };
    let otlp_export = |first, series, value| max_instances_export("corpus", "NCORPUS", first, series, value);
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let port = lattice_control_e2e::nats::free_port()?;
    let addr = format!("127.0.0.1:{port}");
    put_config(&lattice, "rel-otlp", &[("otlp_listen", &addr)]).await?;
    start_provider(&lattice, 0, PROVIDER, &["rel-otlp"]).await?;
    let pid = provider_pid(&host)?;
    let good = otlp_export(0, 10, 4.0);
    lattice_control_e2e::retry("the receiver listening", Duration::from_secs(10), || async {
        ensure!(otlp_post(&addr, "POST", "/v1/metrics", PROTOBUF, "", &good).await? == 200, "not yet");
        Ok(())
    })
    .await?;
    let before = rss_kib(pid)?;

    let truncated = &good[..good.len() / 2];
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let oversized = vec![0u8; 2 * 1024 * 1024];
    // what, method, path, content type, extra headers, body, the status wanted
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a [u8], u16);
    let cases: Vec<Case<'_>> = vec![
        ("truncated protobuf", "POST", "/v1/metrics", PROTOBUF, "", truncated, 400),
        ("garbage bytes", "POST", "/v1/metrics", PROTOBUF, "", &garbage, 400),
        ("JSON content type", "POST", "/v1/metrics", "application/json", "", b"{}", 415),
        ("gzip body", "POST", "/v1/metrics", PROTOBUF, "content-encoding: gzip\r\n", &good, 415),
        ("2 MiB body", "POST", "/v1/metrics", PROTOBUF, "", &oversized, 413),
        ("another path", "POST", "/v1/traces", PROTOBUF, "", &good, 404),
        ("GET", "GET", "/v1/metrics", PROTOBUF, "", b"", 405),
    ];
    for (what, method, path, content_type, extra, body, want) in cases {
        let got = otlp_post(&addr, method, path, content_type, extra, body).await?;
        eprintln!("otlp corpus: {what}: {got}");
        ensure!(got == want, "{what}: HTTP {got}, wanted {want}");
    }
    // huge, negative and non-finite values: taken (a gauge value is not checked against a
    // range), never a panic
    for value in [f64::MAX, -1.0, f64::NAN, f64::INFINITY] {
        let got = otlp_post(&addr, "POST", "/v1/metrics", PROTOBUF, "", &otlp_export(0, 10, value)).await?;
        ensure!(got == 200, "max_instances {value}: HTTP {got}");
    }
    // 100,000 series in exports of 5,000 (under the 1 MiB body cap): the store keeps its cap,
    // answers 200 with the rest refused (partial success), three times over
    let mut after_passes = Vec::new();
    for _pass in 0..env_or("LATTICE_CONTROL_OTLP_PASSES", 3) {
        for batch in 0..20 {
            let body = otlp_export(batch * 5_000, 5_000, 1.0);
            let got = otlp_post(&addr, "POST", "/v1/metrics", PROTOBUF, "", &body).await?;
            ensure!(got == 200, "a batch of 5,000 series: HTTP {got}");
        }
        after_passes.push(rss_kib(pid)?);
    }
    ensure!(provider_healthy(&lattice, PROVIDER).await, "the provider is not healthy after the corpus");
    println!(
        "otlp corpus: provider RSS {} MiB before, {:?} MiB after each pass of 100,000 series",
        before / 1024,
        after_passes.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
    // the store holds at most 10,000 series whatever comes; what a pass decodes is given back
    // to the allocator, which keeps some of it (RSS moves by tens of MiB between passes)
    let worst = after_passes.iter().copied().max().unwrap_or(before);
    ensure!(
        worst <= before + OTLP_RSS_BOUND_KIB,
        "RSS {worst} KiB after a pass, {before} KiB before: more than {OTLP_RSS_BOUND_KIB} KiB more"
    );
    lattice.shutdown().await
}
