//! Section `load`: what the provider's OTLP receiver costs per export and per data point (its
//! process CPU over many host-shaped exports, at two sizes side by side), and the latency of
//! `get-component-load` beside `provider-info` (answered by the provider alone) in one run.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use lattice_control_e2e::caller::{lattice_control as lc, load, no_options, Caller};
use lattice_control_e2e::link::{put_config, put_provider_link};
use lattice_control_e2e::otlp::{host_export, post, PROTOBUF};
use lattice_control_e2e::TestLattice;

use crate::stats::{Percentiles, Series};
use crate::sys;

const PROVIDER: &str = "bench-load";
const SOURCE: &str = "bench-load-caller";
/// Exports sent per size.
const EXPORTS: usize = 400;
/// Calls of each function timed.
const CALLS: usize = 500;
const BOUND: Duration = Duration::from_secs(10);

/// Ingestion at one export size.
#[derive(Clone, Debug, Default)]
pub struct Ingestion {
    pub components: usize,
    pub points: usize,
    pub bytes: usize,
    pub exports: usize,
    pub cpu: Duration,
    pub wall: Duration,
}

impl Ingestion {
    pub fn cpu_per_export(&self) -> Duration {
        self.cpu / self.exports.max(1) as u32
    }

    pub fn cpu_per_point(&self) -> Duration {
        self.cpu / (self.exports * self.points).max(1) as u32
    }
}

/// The section's figures.
#[derive(Clone, Debug, Default)]
pub struct LoadBench {
    pub ingestion: Vec<Ingestion>,
    pub get_component_load: Option<Percentiles>,
    pub provider_info: Option<Percentiles>,
    pub report_rows: usize,
}

pub async fn load(lattice: &TestLattice, nats: &lattice_control_e2e::Nats, host_index: usize) -> Result<LoadBench> {
    let port = lattice_control_e2e::nats::free_port()?;
    let addr = format!("127.0.0.1:{port}");
    put_config(lattice, "bench-load-receiver", &[("otlp_listen", &addr)]).await?;
    lattice_control_e2e::start_provider(lattice, host_index, PROVIDER, &["bench-load-receiver"]).await?;
    let pid = sys::provider_pid(lattice.host_id(host_index)?)?;
    put_provider_link(lattice, SOURCE, "default", PROVIDER, &[]).await?;
    let caller = Caller::new(nats.connect().await?, lattice.lattice(), PROVIDER).await?.as_component(SOURCE, "default");
    let started_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    // the receiver is up once an export is taken
    let deadline = Instant::now() + BOUND;
    let (warm, _) = host_export(lattice.lattice(), "NBENCH0", 1, 1, started_ns);
    while post(&addr, "POST", "/v1/metrics", PROTOBUF, "", &warm, BOUND).await.ok() != Some(200) {
        ensure!(Instant::now() < deadline, "the receiver did not answer within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut out = LoadBench::default();
    for (host, components) in [("NBENCH10", 10), ("NBENCH100", 100)] {
        let before = sys::cpu_time(pid)?;
        let t0 = Instant::now();
        let mut bytes = 0;
        let mut points = 0;
        for n in 0..EXPORTS {
            let (body, p) = host_export(lattice.lattice(), host, components, n as u64 * 10, started_ns);
            bytes = body.len();
            points = p;
            let status = post(&addr, "POST", "/v1/metrics", PROTOBUF, "", &body, BOUND).await?;
            ensure!(status == 200, "export {n}: HTTP {status}");
        }
        out.ingestion.push(Ingestion {
            components,
            points,
            bytes,
            exports: EXPORTS,
            cpu: sys::cpu_time(pid)?.saturating_sub(before),
            wall: t0.elapsed(),
        });
    }
    // interleaved, so both see the same machine
    let query = load::LoadQuery { component_id: None, host_id: None };
    let (mut gcl, mut info) = (Series::default(), Series::default());
    for _ in 0..CALLS {
        let t = Instant::now();
        let r = tokio::time::timeout(BOUND, lc::get_component_load(caller.wrpc(), caller.cx(), &query)).await;
        if let Ok(Ok(Ok(report))) = r {
            gcl.push(t.elapsed());
            out.report_rows = report.per_host.len();
        }
        let t = Instant::now();
        if let Ok(Ok(Ok(_))) =
            tokio::time::timeout(BOUND, lc::provider_info(caller.wrpc(), caller.cx(), &no_options())).await
        {
            info.push(t.elapsed());
        }
    }
    out.get_component_load = gcl.percentiles();
    out.provider_info = info.percentiles();
    let _ = lattice_control_e2e::stop_provider(lattice, host_index, PROVIDER).await;
    Ok(out)
}
