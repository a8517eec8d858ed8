//! (7) Event fan-out and (8) many links: events pushed by the provider to 1, 10 and 100
//! subscribed component stand-ins (served by this process, answering at once) beside one
//! stuck handler, and the provider holding 1,000 links over 50 lattices.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use futures::{StreamExt as _, TryStreamExt as _};
use lattice_control_e2e::caller::{lattice_control as lc, no_options, Caller};
use lattice_control_e2e::link::{delete_provider_link, put_config, put_provider_link};
use lattice_control_e2e::stand_in::{self, drain, Received, Serving};
use lattice_control_e2e::{bounded, Nats, TestLattice};
use tokio::sync::mpsc;

use crate::stats::{median, Series};
use crate::sys;

/// The synthetic event type the stand-ins subscribe to (arrives as `other`).
const TICK: &str = "bench_tick";
/// Link counts of the fan-out table.
pub const FAN_LINKS: [usize; 3] = [1, 10, 100];
/// Deliveries offered per second in the paced phase, whatever the link count (events/s =
/// this / links), so every row does the same delivery work.
const DELIVERIES_PER_S: usize = 500;
/// Events published at once in the burst phase (below the default 256-event link queue).
const BURST: usize = 200;
/// The stuck handler's queue (`event_queue`): it overflows, and that is counted.
const STUCK_QUEUE: &str = "16";
/// Bound of the wait for every delivery of a phase.
const SETTLE_BOUND: Duration = Duration::from_secs(20);

/// One row of the fan-out table.
#[derive(Debug, Default, Clone)]
pub struct FanOutRow {
    pub links: usize,
    /// Paced phase: events published, deliveries expected (to the links that answer) and made.
    pub events: usize,
    pub expected: usize,
    pub delivered: usize,
    /// Publish → handler call, paced phase.
    pub p50: Duration,
    pub p99: Duration,
    /// Provider CPU over the paced phase, per delivered event.
    pub cpu_per_delivery: Duration,
    /// CPU per delivered event net of what each process spends idle over the same time:
    /// the provider, nats-server and this process (the stand-ins, beside three idle hosts).
    pub net_cpu_per_delivery: [Duration; 3],
    /// Messages nats-server received over the paced phase, per delivered event.
    pub messages_per_delivery: f64,
    /// Burst phase: deliveries per second until the last of `BURST` events reached every link.
    pub burst_rate: f64,
    pub burst_missing: usize,
    pub rss_kib: u64,
    /// `handle-event` calls the stuck handler received up to this row (each one times out).
    pub stuck_calls: usize,
}

/// (8) The provider holding many links.
#[derive(Debug, Default, Clone)]
pub struct ScaleResult {
    pub links: usize,
    pub lattices: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub connections_before: usize,
    pub connections_after: usize,
    /// p50 of `get-host-inventory` on the bench's own link, before and with the links.
    pub inventory_before: Duration,
    pub inventory_after: Duration,
    /// p50 of `provider-info` on the bench's link before, and on the last of the many links.
    pub info_before: Duration,
    pub info_after_last: Duration,
    pub put_time: Duration,
}

/// A subscribed stand-in and what it has received.
struct Sub {
    rx: mpsc::UnboundedReceiver<Received>,
    _serving: Serving,
}

/// Every stand-in of the fan-out, the lattice and the provider process.
struct Fan<'a> {
    lattice: &'a TestLattice,
    server: &'a Nats,
    nats: async_nats::Client,
    provider_id: &'a str,
    pid: u32,
    subs: Vec<Sub>,
    stuck: Sub,
}

impl Fan<'_> {
    /// Adds stand-ins and their links up to `n` (the link config asks for `bench_tick`).
    async fn grow_to(&mut self, n: usize) -> Result<()> {
        let first_new = self.subs.len();
        while self.subs.len() < n {
            let id = format!("fan-{}", self.subs.len());
            let (rx, serving) = stand_in::serve(&self.nats, self.lattice.lattice(), &id, Duration::ZERO).await?;
            put_provider_link(self.lattice, &id, "default", self.provider_id, &["bench-fan"]).await?;
            self.subs.push(Sub { rx, _serving: serving });
        }
        // probe until every new link's subscription delivers
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut live = vec![false; self.subs.len()];
        live[..first_new].fill(true);
        let mut probe = 0u64;
        while !live.iter().all(|l| *l) {
            anyhow::ensure!(Instant::now() < deadline, "fan-out links not live within 30 s: {live:?}");
            publish(&self.nats, self.lattice.lattice(), &format!("probe-{probe}")).await?;
            probe += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            for (i, s) in self.subs.iter_mut().enumerate() {
                if !drain(&mut s.rx).is_empty() {
                    live[i] = true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for s in &mut self.subs {
            drain(&mut s.rx);
        }
        Ok(())
    }

    /// Polls until each stand-in has `per_link` events with ids starting `prefix`, or the
    /// bound; returns every (id, arrival) seen.
    async fn collect(&mut self, prefix: &str, per_link: usize) -> Vec<Vec<(String, Instant)>> {
        let mut got: Vec<Vec<(String, Instant)>> = vec![Vec::new(); self.subs.len()];
        let deadline = Instant::now() + SETTLE_BOUND;
        loop {
            for (i, s) in self.subs.iter_mut().enumerate() {
                for (ev, at) in drain(&mut s.rx) {
                    if ev.id.starts_with(prefix) {
                        got[i].push((ev.id, at));
                    }
                }
            }
            if got.iter().all(|g| g.len() >= per_link) || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The paced and burst phases with the current links.
    async fn row(&mut self, window: Duration) -> Result<FanOutRow> {
        let n = self.subs.len();
        let lattice = self.lattice.lattice().to_string();
        let mut row = FanOutRow { links: n, ..FanOutRow::default() };

        // paced: DELIVERIES_PER_S / n events per second, published on 5 ms ticks
        let per_s = (DELIVERIES_PER_S as f64 / n as f64).max(1.0);
        let total = ((per_s * window.as_secs_f64()).round() as usize).max(10);
        let published: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let prefix = format!("paced-{n}-");
        let nats_pid = self.server.pid().ok_or_else(|| anyhow!("nats-server is not running"))?;
        let bench_pid = std::process::id();
        let pids = [self.pid, nats_pid, bench_pid];
        let cpu_now = || -> Result<[Duration; 3]> {
            Ok([sys::cpu_time(pids[0])?, sys::cpu_time(pids[1])?, sys::cpu_time(pids[2])?])
        };
        // what each process spends with no event (heartbeats, the idle hosts), to subtract
        let idle_start = (Instant::now(), cpu_now()?);
        tokio::time::sleep(window).await;
        let idle_cpu = cpu_now()?;
        let idle_elapsed = idle_start.0.elapsed();
        let paced_start = Instant::now();
        let cpu_before = cpu_now()?;
        let messages_before = lattice_control_e2e::stress::messages_in(&self.server.monitor_url()).await?;
        {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let mut owed = 0.0;
            let mut sent = 0;
            while sent < total {
                tick.tick().await;
                owed += per_s * 0.005;
                while owed >= 1.0 && sent < total {
                    let id = format!("{prefix}{sent}");
                    published.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), Instant::now());
                    publish_unflushed(&self.nats, &lattice, &id).await?;
                    owed -= 1.0;
                    sent += 1;
                }
                self.nats.flush().await?;
            }
        }
        let got = self.collect(&prefix, total).await;
        {
            let delivered = got.iter().map(Vec::len).sum::<usize>().max(1);
            let (after, paced) = (cpu_now()?, paced_start.elapsed().as_secs_f64());
            let scale = paced / idle_elapsed.as_secs_f64().max(1e-3);
            let per = |i: usize| -> Duration {
                let idle = idle_cpu[i].saturating_sub(idle_start.1[i]).mul_f64(scale);
                after[i].saturating_sub(cpu_before[i]).saturating_sub(idle) / delivered as u32
            };
            row.cpu_per_delivery = after[0].saturating_sub(cpu_before[0]) / delivered as u32;
            row.net_cpu_per_delivery = [per(0), per(1), per(2)];
            let messages = lattice_control_e2e::stress::messages_in(&self.server.monitor_url()).await?;
            row.messages_per_delivery = messages.saturating_sub(messages_before) as f64 / delivered as f64;
        }
        let published = published.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut lat = Series::default();
        for (id, at) in got.iter().flatten() {
            if let Some(p) = published.get(id) {
                lat.push(at.saturating_duration_since(*p));
            }
        }
        row.events = total;
        row.expected = total * n;
        row.delivered = got.iter().map(Vec::len).sum();
        let pct = lat.percentiles().ok_or_else(|| anyhow!("no event delivered with {n} links"))?;
        row.p50 = pct.p50;
        row.p99 = pct.p99;

        // burst: BURST events at once; time until the last delivery
        let prefix = format!("burst-{n}-");
        let start = Instant::now();
        for i in 0..BURST {
            publish_unflushed(&self.nats, &lattice, &format!("{prefix}{i}")).await?;
        }
        self.nats.flush().await?;
        let got = self.collect(&prefix, BURST).await;
        let last = got.iter().flatten().map(|(_, at)| *at).max().unwrap_or(start);
        let delivered: usize = got.iter().map(Vec::len).sum();
        row.burst_rate = delivered as f64 / last.saturating_duration_since(start).as_secs_f64().max(1e-6);
        row.burst_missing = BURST * n - delivered;
        row.stuck_calls = drain(&mut self.stuck.rx).len();
        row.rss_kib = sys::rss_kib(self.pid)?;
        Ok(row)
    }
}

async fn publish_unflushed(nats: &async_nats::Client, lattice: &str, id: &str) -> Result<()> {
    stand_in::publish_event(nats, lattice, TICK, id, serde_json::json!({ "bench": true })).await
}

async fn publish(nats: &async_nats::Client, lattice: &str, id: &str) -> Result<()> {
    publish_unflushed(nats, lattice, id).await?;
    Ok(nats.flush().await?)
}

/// (7) The fan-out table: one row per entry of [`FAN_LINKS`], links added between rows;
/// all links (and the stuck one) deleted at the end.
pub async fn fan_out(
    lattice: &TestLattice,
    nats: &Nats,
    provider_id: &str,
    pid: u32,
    window: Duration,
) -> Result<Vec<FanOutRow>> {
    put_config(lattice, "bench-fan", &[("events", TICK)]).await?;
    put_config(lattice, "bench-fan-stuck", &[("events", TICK), ("event_queue", STUCK_QUEUE)]).await?;
    let client = nats.connect().await?;
    let (rx, serving) = stand_in::serve(&client, lattice.lattice(), "fan-stuck", Duration::from_secs(3600)).await?;
    put_provider_link(lattice, "fan-stuck", "default", provider_id, &["bench-fan-stuck"]).await?;
    let mut fan = Fan {
        lattice,
        server: nats,
        nats: client,
        provider_id,
        pid,
        subs: Vec::new(),
        stuck: Sub { rx, _serving: serving },
    };
    let mut rows = Vec::new();
    let mut stuck_total = 0;
    for n in FAN_LINKS {
        fan.grow_to(n).await.with_context(|| format!("adding links up to {n}"))?;
        let mut row = fan.row(window).await.with_context(|| format!("fan-out with {n} links"))?;
        stuck_total += row.stuck_calls;
        row.stuck_calls = stuck_total;
        rows.push(row);
    }
    for i in 0..fan.subs.len() {
        delete_provider_link(lattice, &format!("fan-{i}"), "default").await?;
    }
    delete_provider_link(lattice, "fan-stuck", "default").await?;
    Ok(rows)
}

/// The provider's NATS connections on the server (named `lattice-control-provider…`).
async fn provider_connections(nats: &Nats) -> Result<usize> {
    let names = lattice_control_e2e::stress::connection_names(&nats.monitor_url()).await?;
    Ok(names.iter().flatten().filter(|n| n.starts_with("lattice-control-provider")).count())
}

/// p50 of `calls` sequential calls of `op` (each bounded by 250 ms; a lost one is skipped).
async fn p50<F, Fut>(calls: usize, mut op: F) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        if let Ok(Ok(())) = tokio::time::timeout(crate::stats::LATENCY_BOUND, op()).await {
            times.push(start.elapsed());
        }
    }
    median(&times).ok_or_else(|| anyhow!("no call answered"))
}

/// (8) `links` links over `lattices` lattices (one named config per lattice), put through
/// the control interface; RSS, the provider's connections and call latency before and with
/// them. The links are deleted at the end.
#[allow(clippy::too_many_arguments)]
pub async fn many_links(
    lattice: &TestLattice,
    nats: &Nats,
    caller: &Caller,
    host_id: &str,
    provider_id: &str,
    pid: u32,
    links: usize,
    lattices: usize,
) -> Result<ScaleResult> {
    let inventory = |c: Caller| {
        let host = host_id.to_string();
        move || {
            let (c, host) = (c.clone(), host.clone());
            async move {
                lc::get_host_inventory(c.wrpc(), c.cx(), &host).await?.map_err(|e| anyhow!("{e:?}"))?;
                Ok(())
            }
        }
    };
    let info = |c: Caller| {
        move || {
            let c = c.clone();
            async move {
                lc::provider_info(c.wrpc(), c.cx(), &no_options()).await?.map_err(|e| anyhow!("{e:?}"))?;
                Ok(())
            }
        }
    };
    let mut res = ScaleResult { links, lattices, ..ScaleResult::default() };
    res.rss_before_kib = sys::rss_kib(pid)?;
    res.connections_before = provider_connections(nats).await?;
    res.inventory_before = p50(300, inventory(caller.clone())).await?;
    res.info_before = p50(300, info(caller.clone())).await?;

    for k in 0..lattices {
        put_config(lattice, &format!("scale-lat-{k}"), &[("lattice", &format!("bench-scale-{k}"))]).await?;
    }
    let start = Instant::now();
    futures::stream::iter(0..links)
        .map(|j| async move {
            let config = format!("scale-lat-{}", j % lattices);
            put_provider_link(lattice, &format!("scale-{j}"), "default", provider_id, &[config.as_str()]).await
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    res.put_time = start.elapsed();
    let last = caller.as_component(&format!("scale-{}", links - 1), "default");
    lattice_control_e2e::retry("the last link answers", Duration::from_secs(30), || {
        let last = last.clone();
        async move {
            let i = lc::provider_info(last.wrpc(), last.cx(), &no_options()).await?.map_err(|e| anyhow!("{e:?}"))?;
            anyhow::ensure!(i.lattice.starts_with("bench-scale-"), "the last link manages {}", i.lattice);
            Ok(())
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    res.rss_after_kib = sys::rss_kib(pid)?;
    res.connections_after = provider_connections(nats).await?;
    res.inventory_after = p50(300, inventory(caller.clone())).await?;
    res.info_after_last = p50(300, info(last)).await?;

    futures::stream::iter(0..links)
        .map(|j| async move { delete_provider_link(lattice, &format!("scale-{j}"), "default").await })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    bounded("settle", Duration::from_secs(2), tokio::time::sleep(Duration::from_millis(300))).await?;
    Ok(res)
}
