//! The measured figures and their markdown report, with each target met or missed.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::stats::{fmt_duration, median, Rate, Series};
use crate::sys::{bucket, Machine};
use crate::{Read, Way, CONCURRENCY};

/// (1) One read measured three ways.
#[derive(Debug)]
pub struct LatencyResult {
    pub read: Read,
    pub provider: Series,
    pub direct: Series,
    /// `provider-info` + direct, measured back to back.
    pub floor: Series,
    pub noop: Series,
}

impl LatencyResult {
    pub fn new(read: Read) -> Self {
        LatencyResult {
            read,
            provider: Series::default(),
            direct: Series::default(),
            floor: Series::default(),
            noop: Series::default(),
        }
    }
}

/// (2) One way at each of [`CONCURRENCY`].
#[derive(Debug)]
pub struct ThroughputResult {
    pub way: Way,
    pub rates: Vec<Rate>,
}

/// (3) `get-hosts` through the provider vs upstream's full scatter.
#[derive(Debug, Default)]
pub struct HostsResult {
    pub hosts: usize,
    pub ours: Series,
    pub upstream: Series,
    pub ours_mismatch: usize,
    pub upstream_mismatch: usize,
}

/// (4) One cold start.
#[derive(Debug)]
pub struct ColdStart {
    pub health: Duration,
    pub first_call: Option<Duration>,
}

/// Link put/delete churn.
#[derive(Debug, Default)]
pub struct ChurnResult {
    pub cycles: usize,
    pub elapsed: Duration,
    pub failed: usize,
    pub first_error: Option<String>,
}

/// One step of the churn: the cumulative cycles, this step's churn and RSS (KiB) after it.
#[derive(Debug, Default)]
pub struct ChurnStep {
    pub cycles: usize,
    pub churn: ChurnResult,
    pub rss_kib: u64,
    pub heap: Option<crate::sys::MallocStats>,
}

/// (5) Resident memory of the provider process, KiB.
#[derive(Debug, Default)]
pub struct MemoryResult {
    pub links: usize,
    pub idle_kib: u64,
    pub after_latency_kib: u64,
    pub after_throughput_kib: u64,
    pub after_load_kib: u64,
    pub with_links_kib: u64,
    /// After each churn step, in order.
    pub steps: Vec<ChurnStep>,
    pub links_removed_kib: u64,
    /// glibc's heap figures (`--malloc-stats`) with the links, after deleting them, and RSS
    /// and heap after `malloc_trim(0)` at the end of the section.
    pub with_links_heap: Option<crate::sys::MallocStats>,
    pub links_removed_heap: Option<crate::sys::MallocStats>,
    pub trimmed: Option<(u64, crate::sys::MallocStats)>,
}

/// (6) Where the provider's time goes.
#[derive(Debug, Default)]
pub struct ProfileResult {
    /// Provider CPU time per call and calls/s, at 16 concurrent callers.
    pub cpu_per_call: Vec<(Way, Duration, f64)>,
    /// The offered rate (calls/s) and the provider CPU per call at it: no-op, inventory.
    pub paced: Option<(u64, [Duration; 2])>,
    /// Paced calls that failed or got no answer.
    pub paced_failed: u64,
    /// `perf` profiles of the provider under the no-op's load and under inventory load.
    pub perf: Vec<PerfRun>,
    pub perf_error: Option<String>,
    /// Bytes of a real inventory reply and the time to decode it once.
    pub json: Option<(usize, Duration)>,
}

/// One `perf record` of the provider while one way was called at 16 callers.
#[derive(Debug)]
pub struct PerfRun {
    pub way: Way,
    /// Calls made while recording (answered or not).
    pub calls: u64,
    /// The provider's CPU time while recording.
    pub cpu: Duration,
    /// `perf report` rows: self-time percentage, symbol.
    pub rows: Vec<(f64, String)>,
}

impl PerfRun {
    /// A share of the recording's CPU as microseconds per call.
    fn per_call_us(&self, pct: f64) -> f64 {
        self.cpu.as_secs_f64() * 1e6 * pct / 100.0 / self.calls.max(1) as f64
    }

    /// Microseconds per call by area.
    fn areas(&self) -> Vec<(&'static str, f64)> {
        let mut buckets: Vec<(&'static str, f64)> = Vec::new();
        for (pct, sym) in &self.rows {
            let b = bucket(sym);
            let us = self.per_call_us(*pct);
            match buckets.iter_mut().find(|(n, _)| *n == b) {
                Some((_, v)) => *v += us,
                None => buckets.push((b, us)),
            }
        }
        buckets
    }

    /// Microseconds per call of `symbol` (0 when it was not sampled).
    fn symbol_us(&self, symbol: &str) -> f64 {
        self.rows.iter().filter(|(_, s)| s == symbol).map(|(p, _)| self.per_call_us(*p)).sum()
    }
}

/// A symbol for a markdown cell, at most 110 bytes.
fn symbol_cell(sym: &str) -> String {
    let mut s: String = sym.replace('|', "\\|");
    if s.len() > 110 {
        let cut = (0..=110).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The sections `--only` can name, in the order they run.
pub const SECTIONS: [&str; 10] =
    ["memory", "latency", "throughput", "hosts", "profile", "runtime", "fanout", "scale", "cold", "load"];

/// Whether `section` runs when `--only` named `only` (every section when it named none).
pub fn runs(only: &[String], section: &str) -> bool {
    only.is_empty() || only.iter().any(|s| s == section)
}

/// Everything one run measured.
pub struct Report {
    /// The sections `--only` named; every section when empty.
    pub only: Vec<String>,
    pub machine: Machine,
    pub provider_bin_size: u64,
    pub provider_bin: String,
    pub calls: usize,
    pub provider_version: String,
    pub provider_policy: String,
    pub latency: Vec<LatencyResult>,
    pub throughput: Vec<ThroughputResult>,
    pub hosts: HostsResult,
    pub profile: ProfileResult,
    pub cold_starts: Vec<ColdStart>,
    pub memory: MemoryResult,
    pub fan_out: Vec<crate::fanout::FanOutRow>,
    pub scale: Option<crate::fanout::ScaleResult>,
    /// Section `load`: OTLP ingestion cost and `get-component-load` latency.
    pub load: Option<crate::load::LoadBench>,
    pub runtime: Vec<crate::report_fan::RuntimeRow>,
    pub load_after: String,
    pub total: Duration,
    /// Sections that could not finish, with why.
    pub errors: Vec<String>,
}

/// Issue 14: provider CPU per `get-host-inventory` at most this many times the no-op's.
const CPU_TARGET: f64 = 1.35;
/// Issue 14: reads via the provider at 64 callers at least this share of the no-op's rate.
const THROUGHPUT_TARGET: f64 = 0.75;

/// The mark of a target in a table cell.
pub(crate) fn target_mark(met: bool) -> &'static str {
    if met {
        " ✓"
    } else {
        " ✗"
    }
}

/// A target's verdict for the summary table.
pub(crate) struct Verdict {
    pub target: String,
    pub figure: String,
    pub met: Option<bool>,
}

impl Report {
    pub fn new(machine: Machine, provider_bin: &Path, calls: usize) -> Report {
        Report {
            only: Vec::new(),
            machine,
            provider_bin_size: std::fs::metadata(provider_bin).map_or(0, |m| m.len()),
            provider_bin: provider_bin.display().to_string(),
            calls,
            provider_version: String::new(),
            provider_policy: String::new(),
            latency: Vec::new(),
            throughput: Vec::new(),
            hosts: HostsResult::default(),
            profile: ProfileResult::default(),
            cold_starts: Vec::new(),
            memory: MemoryResult::default(),
            fan_out: Vec::new(),
            scale: None,
            load: None,
            runtime: Vec::new(),
            load_after: String::new(),
            total: Duration::ZERO,
            errors: Vec::new(),
        }
    }

    /// The whole report as markdown.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let mut verdicts = Vec::new();
        self.header(&mut o);
        let ran = |section: &str| runs(&self.only, section);
        if !self.only.is_empty() {
            let _ = writeln!(o, "Sections run (`--only`): {}.\n", self.only.join(", "));
        }
        if ran("latency") {
            self.render_latency(&mut o, &mut verdicts);
        }
        if ran("throughput") {
            self.render_throughput(&mut o, &mut verdicts);
        }
        if ran("hosts") {
            self.render_hosts(&mut o, &mut verdicts);
        }
        if ran("cold") {
            self.render_cold(&mut o, &mut verdicts);
        }
        if ran("memory") {
            self.render_memory(&mut o, &mut verdicts);
        }
        if ran("profile") {
            self.render_profile(&mut o, &mut verdicts);
        }
        if ran("runtime") {
            self.render_runtime(&mut o);
        }
        if ran("fanout") {
            self.render_fan_out(&mut o, &mut verdicts);
        }
        if ran("scale") {
            self.render_scale(&mut o);
        }
        if ran("load") {
            self.render_load(&mut o);
        }

        if !self.errors.is_empty() {
            let _ = writeln!(o, "### Sections that failed\n");
            for e in &self.errors {
                let _ = writeln!(o, "- `{}`", e.replace('`', "'"));
            }
            o.push('\n');
        }
        let _ = writeln!(o, "### Targets\n\n| target | measured | met |\n|---|---|---|");
        for v in &verdicts {
            let met = match v.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "n/a",
            };
            let _ = writeln!(o, "| {} | {} | {met} |", v.target, v.figure);
        }
        let _ = writeln!(o, "\nWhole run: {:.0} s.", self.total.as_secs_f64());
        o
    }

    fn header(&self, o: &mut String) {
        let m = &self.machine;
        let _ = writeln!(
            o,
            "## Benchmarks\n\n\
             Produced by `scripts/bench.sh` (`e2e/src/bin/bench.rs`) on {date}.\n\n\
             - Machine: {cpus} CPUs ({model}), {ram} RAM, {kernel}; load average {before} before, {after} after.\n\
             - Software: {rustc}, {nats}, wasmcloud-host 0.27.1 (in process), wasmcloud-control-interface 3.0.1, \
             provider {ver}, bench at commit {commit}, provider binary `{bin}` (release build, {size:.1} MB, started from its PAR).\n\
             - Setup: one `nats-server` on loopback, three hosts on one lattice, the provider on host 0, the bench \
             process calling over wRPC as a linked component does (headers `source-id`, `link-name`; link policy \
             `{policy}`). Each way of calling has its own NATS connection. Every call is bounded (250 ms \
             in the latency runs, 1 s under load); a call without an answer by then counts as lost: \
             wRPC replies can be lost for good under CPU load (wrpc-transport-nats 0.29).\n",
            date = m.date,
            cpus = m.cpus,
            model = m.cpu_model,
            ram = m.ram,
            kernel = m.kernel,
            before = m.load_before,
            after = self.load_after,
            rustc = m.rustc,
            nats = m.nats_server,
            ver = self.provider_version,
            commit = m.commit,
            size = self.provider_bin_size as f64 / 1e6,
            bin = self.provider_bin,
            policy = self.provider_policy,
        );
    }

    fn render_latency(&self, o: &mut String, verdicts: &mut Vec<Verdict>) {
        let _ = writeln!(
            o,
            "### 1. Latency ({} calls per way and read, interleaved)\n\n\
             The floor is `provider-info` over wRPC (answered by the provider, no lattice traffic) plus the \
             direct call, measured back to back: the two hops any provider call makes.\n\n\
             | read | way | p50 | p90 | p99 | failed | lost |\n|---|---|---|---|---|---|---|",
            self.calls
        );
        for r in &self.latency {
            for (label, s) in [
                ("via provider (wRPC)", &r.provider),
                ("direct (upstream 3.0.1)", &r.direct),
                ("floor (provider-info + direct)", &r.floor),
                ("provider-info alone", &r.noop),
            ] {
                let (p50, p90, p99) = match s.percentiles() {
                    Some(p) => (fmt_duration(p.p50), fmt_duration(p.p90), fmt_duration(p.p99)),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                let _ =
                    writeln!(o, "| {} | {label} | {p50} | {p90} | {p99} | {} | {} |", r.read.name(), s.failed, s.lost);
            }
        }
        let _ = writeln!(o, "\n| read | provider/floor p50 (target ≤ 1.1×) | provider/floor p99 (target ≤ 1.5×) | provider/direct p50 | provider/direct p99 |\n|---|---|---|---|---|");
        for r in &self.latency {
            let (Some(p), Some(f), Some(d)) = (r.provider.percentiles(), r.floor.percentiles(), r.direct.percentiles())
            else {
                continue;
            };
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
            let (f50, f99) = (ratio(p.p50, f.p50), ratio(p.p99, f.p99));
            let _ = writeln!(
                o,
                "| {} | {f50:.2}×{} | {f99:.2}×{} | {:.2}× | {:.2}× |",
                r.read.name(),
                target_mark(f50 <= 1.1),
                target_mark(f99 <= 1.5),
                ratio(p.p50, d.p50),
                ratio(p.p99, d.p99)
            );
            verdicts.push(Verdict {
                target: format!("{} p50 ≤ 1.1× floor", r.read.name()),
                figure: format!("{f50:.2}× ({} vs {})", fmt_duration(p.p50), fmt_duration(f.p50)),
                met: Some(f50 <= 1.1),
            });
            verdicts.push(Verdict {
                target: format!("{} p99 ≤ 1.5× floor", r.read.name()),
                figure: format!("{f99:.2}× ({} vs {})", fmt_duration(p.p99), fmt_duration(f.p99)),
                met: Some(f99 <= 1.5),
            });
        }
        for r in &self.latency {
            if let (Some(p), Some(n), Some(d)) =
                (r.provider.percentiles(), r.noop.percentiles(), r.direct.percentiles())
            {
                let us = |x: Duration| x.as_secs_f64() * 1e6;
                let _ = writeln!(
                    o,
                    "\n{}: at p50 the provider call minus a no-op wRPC call leaves {:.0} µs for the \
                     provider's own work and its host round trip; the same round trip from the bench \
                     (direct) takes {:.0} µs, so the provider adds {:.0} µs beyond the floor.",
                    r.read.name(),
                    us(p.p50) - us(n.p50),
                    us(d.p50),
                    us(p.p50) - us(n.p50) - us(d.p50)
                );
            }
        }
        for r in &self.latency {
            for (label, s) in [("provider", &r.provider), ("direct", &r.direct), ("provider-info", &r.noop)] {
                if let Some(e) = &s.first_error {
                    let _ = writeln!(o, "\nFirst failure ({}, {label}): `{e}`", r.read.name());
                }
            }
        }
        o.push('\n');
    }

    fn render_throughput(&self, o: &mut String, verdicts: &mut Vec<Verdict>) {
        let _ = write!(o, "### 2. Throughput (successful calls/s; concurrent callers)\n\n| way |");
        for c in CONCURRENCY {
            let _ = write!(o, " {c} |");
        }
        let _ = write!(o, " × no-op at 64 | failed | lost |\n|---|");
        for _ in CONCURRENCY {
            o.push_str("---|");
        }
        o.push_str("---|---|---|\n");
        let at64 =
            |way: Way| self.throughput.iter().find(|t| t.way == way).and_then(|t| t.rates.last()).map(Rate::per_second);
        for t in &self.throughput {
            let _ = write!(o, "| {} |", t.way.label());
            for r in &t.rates {
                let _ = write!(o, " {:.0} |", r.per_second());
            }
            let ratio = match (t.rates.last(), at64(Way::NoOp)) {
                (Some(r), Some(noop)) => {
                    let x = r.per_second() / noop.max(1e-9);
                    let mark = match t.way {
                        Way::Provider(_) => target_mark(x >= THROUGHPUT_TARGET),
                        _ => "",
                    };
                    format!("{x:.2}×{mark}")
                }
                _ => "-".into(),
            };
            let failed: u64 = t.rates.iter().map(|r| r.failed).sum();
            let lost: u64 = t.rates.iter().map(|r| r.lost).sum();
            let _ = writeln!(o, " {ratio} | {failed} | {lost} |");
        }
        let _ = writeln!(
            o,
            "\nTarget (issue 14): via provider at 64 callers ≥ {THROUGHPUT_TARGET}× the no-op's (✓ met, ✗ missed)."
        );
        if let Some(noop) = at64(Way::NoOp) {
            for read in [Read::Inventory, Read::Links] {
                if let Some(p) = at64(Way::Provider(read)) {
                    let ratio = p / noop.max(1e-9);
                    verdicts.push(Verdict {
                        target: format!("{} at 64 callers ≥ {THROUGHPUT_TARGET}× no-op wRPC", read.name()),
                        figure: format!("{ratio:.2}× ({p:.0} vs {noop:.0} calls/s)"),
                        met: Some(ratio >= THROUGHPUT_TARGET),
                    });
                    verdicts.push(Verdict {
                        target: format!("{} at 64 callers ≥ 0.9× no-op wRPC (issue 8)", read.name()),
                        figure: format!("{ratio:.2}×"),
                        met: Some(ratio >= 0.9),
                    });
                }
                if let (Some(p), Some(u)) = (at64(Way::Provider(read)), at64(Way::Unshared(read))) {
                    verdicts.push(Verdict {
                        target: format!("{} at 64 callers: coalescing on vs off (no target)", read.name()),
                        figure: format!("{:.2}× ({p:.0} vs {u:.0} calls/s)", p / u.max(1e-9)),
                        met: None,
                    });
                }
                if let (Some(p), Some(d)) = (at64(Way::Provider(read)), at64(Way::Direct(read))) {
                    verdicts.push(Verdict {
                        target: format!("{} at 64 callers beats the direct client", read.name()),
                        figure: format!("{:.2}× ({p:.0} vs {d:.0} calls/s)", p / d.max(1e-9)),
                        met: Some(p > d),
                    });
                }
            }
        }
        let _ = writeln!(
            o,
            "\nReads through the provider share host requests (`coalesce_reads`, on by default): a \
             call that arrives while the same read is in flight waits for the next request, sent \
             when that one ends, together with every other call that arrived meanwhile. Every \
             answer comes from a request sent after its call arrived, so it is as fresh as a direct \
             call; none is served from cached state. The `coalescing off` rows are the same link \
             settings with one host request per call. The provider cannot beat the direct client \
             here: its calls pay the wRPC hop, and a no-op wRPC call alone is slower than a direct \
             inventory call.\n\n\
             A lost call stalls its caller for the 1 s bound, so with one caller a single loss costs \
             half a 2 s window: read the 1-caller column together with the lost count.\n"
        );
    }

    fn render_hosts(&self, o: &mut String, verdicts: &mut Vec<Verdict>) {
        let h = &self.hosts;
        let _ = writeln!(
            o,
            "### 3. `get-hosts` on a {}-host lattice\n\n\
             | way | calls | median | min | max | host set equal | failed / lost |\n|---|---|---|---|---|---|---|",
            h.hosts
        );
        for (label, s, mismatch) in [
            ("via provider (default query)", &h.ours, h.ours_mismatch),
            ("upstream 3.0.1 `get_hosts` (full scatter, default settings)", &h.upstream, h.upstream_mismatch),
        ] {
            let p = s.percentiles();
            let f = |d: Option<Duration>| d.map_or("-".into(), fmt_duration);
            let _ = writeln!(
                o,
                "| {label} | {} | {} | {} | {} | {}/{} | {} / {} |",
                s.len() + mismatch + s.failed + s.lost,
                f(p.map(|p| p.p50)),
                f(p.map(|p| p.min)),
                f(p.map(|p| p.max)),
                s.len(),
                s.len() + mismatch,
                s.failed,
                s.lost
            );
        }
        if let (Some(ours), Some(up)) = (h.ours.percentiles(), h.upstream.percentiles()) {
            let fraction = ours.p50.as_secs_f64() / up.p50.as_secs_f64().max(1e-9);
            verdicts.push(Verdict {
                target: "get-hosts ≤ 1/50 of upstream's time, same host set".into(),
                figure: format!(
                    "1/{:.0} ({} vs {}), sets equal in {}/{} and {}/{} calls",
                    1.0 / fraction.max(1e-9),
                    fmt_duration(ours.p50),
                    fmt_duration(up.p50),
                    h.ours.len(),
                    h.ours.len() + h.ours_mismatch,
                    h.upstream.len(),
                    h.upstream.len() + h.upstream_mismatch
                ),
                met: Some(fraction <= 1.0 / 50.0 && h.ours_mismatch == 0 && h.upstream_mismatch == 0),
            });
        }
        o.push('\n');
    }

    fn render_cold(&self, o: &mut String, verdicts: &mut Vec<Verdict>) {
        let _ = writeln!(
            o,
            "### 4. Cold start (release binary, `start_provider` sent → …)\n\n\
             | start | health answers | first wRPC call answered |\n|---|---|---|"
        );
        for (i, c) in self.cold_starts.iter().enumerate() {
            let note = if i == 0 { " (host unpacks the PAR)" } else { " (PAR cached by the host)" };
            let _ = writeln!(
                o,
                "| {}{note} | {} | {} |",
                i + 1,
                fmt_duration(c.health),
                c.first_call.map_or("none in 60 s".into(), fmt_duration)
            );
        }
        let health: Vec<Duration> = self.cold_starts.iter().map(|c| c.health).collect();
        if let Some(m) = median(&health) {
            let calls: Vec<Duration> = self.cold_starts.iter().filter_map(|c| c.first_call).collect();
            let _ = writeln!(
                o,
                "| median of {} | {} | {} |",
                health.len(),
                fmt_duration(m),
                median(&calls).map_or("-".into(), fmt_duration)
            );
            verdicts.push(Verdict {
                target: "cold start ≤ 300 ms (median of 5)".into(),
                figure: fmt_duration(m),
                met: Some(m <= Duration::from_millis(300)),
            });
        }
        o.push('\n');
    }

    fn render_memory(&self, o: &mut String, verdicts: &mut Vec<Verdict>) {
        let m = &self.memory;
        let mb = |kib: u64| format!("{:.1} MB", kib as f64 * 1024.0 / 1e6);
        // glibc's figures (`--malloc-stats`) as two more columns
        let malloc = m.with_links_heap.is_some();
        let heap = |h: Option<crate::sys::MallocStats>| match (malloc, h) {
            (false, _) => String::new(),
            (true, Some(h)) => format!(" {} | {} |", mb(h.in_use_kib), mb(h.free_kib)),
            (true, None) => " | |".to_string(),
        };
        let _ = writeln!(
            o,
            "### 5. Resident memory of the provider process (VmRSS)\n\n| state | RSS |{}\n|---|---|{}",
            if malloc { " heap in use | freed, kept by malloc |" } else { "" },
            if malloc { "---|---|" } else { "" },
        );
        let row = |o: &mut String, state: String, kib: u64, h: Option<crate::sys::MallocStats>| {
            let _ = writeln!(o, "| {state} | {} |{}", mb(kib), heap(h));
        };
        row(o, "idle, one link, right after start".into(), m.idle_kib, None);
        row(
            o,
            format!("{} more links to distinct lattices (one control client each, each used once)", m.links),
            m.with_links_kib,
            m.with_links_heap,
        );
        for step in &m.steps {
            let c = &step.churn;
            let state = format!(
                "after {} link put/delete cycles in all (this step: {}, {} failed, {:.0} cycles/s)",
                step.cycles,
                c.cycles,
                c.failed,
                c.cycles as f64 / c.elapsed.as_secs_f64().max(1e-9),
            );
            row(o, state, step.rss_kib, step.heap);
        }
        row(o, format!("after deleting the {} links", m.links), m.links_removed_kib, m.links_removed_heap);
        if let Some((kib, h)) = m.trimmed {
            row(o, "then after `malloc_trim(0)` in the provider".into(), kib, Some(h));
        }
        row(o, "then after the latency runs (sequential calls)".into(), m.after_latency_kib, None);
        row(o, "after the throughput runs (up to 64 concurrent callers)".into(), m.after_throughput_kib, None);
        row(o, "after the get-hosts and profile runs".into(), m.after_load_kib, None);
        o.push('\n');
        if malloc {
            let _ = writeln!(
                o,
                "Heap in use: bytes the provider allocated and has not freed (glibc `mallinfo2`, all \
                 arenas, read with gdb); a leak makes it grow. Freed, kept by malloc: free chunks the \
                 allocator holds in its arenas; retention makes it, and RSS, grow while the heap in use \
                 does not.\n"
            );
        }
        let _ = writeln!(
            o,
            "A cycle puts a link (rotating over 10 configs with distinct lattices), every 7th cycle \
             calls through it once the provider holds it (its control client is made), then deletes \
             it; 8 workers, one link key each. A cycle fails when the provider does not hold the \
             just-put link within 2 s.\n"
        );
        if let Some(e) = m.steps.iter().find_map(|s| s.churn.first_error.as_ref()) {
            let _ = writeln!(o, "First churn failure: `{e}`\n");
        }
        if m.with_links_kib == 0 {
            return; // the section failed: see the errors
        }
        verdicts.push(Verdict {
            target: format!("RSS ≤ 30 MB with {} links", m.links),
            figure: mb(m.with_links_kib),
            met: Some(m.with_links_kib * 1024 <= 30_000_000),
        });
        let (Some(first), Some(last)) = (m.steps.first(), m.steps.last()) else {
            return;
        };
        let failed: usize = m.steps.iter().map(|s| s.churn.failed).sum();
        let growth = |from: u64, to: u64| to as i64 - from as i64;
        let fmt = |kib: i64| format!("{:+.1} MB", kib as f64 * 1024.0 / 1e6);
        let all = growth(m.with_links_kib, last.rss_kib);
        verdicts.push(Verdict {
            target: format!("no RSS growth after {} link cycles (≤ 1 MB noise)", last.cycles),
            figure: fmt(all),
            met: Some(all * 1024 <= 1_000_000 && failed == 0),
        });
        if m.steps.len() > 1 {
            let later = growth(first.rss_kib, last.rss_kib);
            verdicts.push(Verdict {
                target: format!("no RSS growth from {} to {} link cycles (≤ 1 MB noise)", first.cycles, last.cycles),
                figure: fmt(later),
                met: Some(later * 1024 <= 1_000_000),
            });
        }
    }

    fn render_profile(&self, o: &mut String, verdicts: &mut Vec<Verdict>) {
        let p = &self.profile;
        let _ = writeln!(
            o,
            "### 6. Where the provider's time goes\n\n\
             Provider process CPU time per call (from `/proc/<pid>/stat`, 16 concurrent callers); \
             target (issue 14): `get-host-inventory` ≤ {CPU_TARGET}× the no-op's:\n\n\
             | call | provider CPU per call | × no-op | calls/s |\n|---|---|---|---|"
        );
        let noop = p.cpu_per_call.iter().find(|(w, ..)| *w == Way::NoOp).map(|(_, cpu, _)| *cpu);
        for (way, cpu, rate) in &p.cpu_per_call {
            let ratio = noop.map_or("-".into(), |n| {
                let r = cpu.as_secs_f64() / n.as_secs_f64().max(1e-9);
                let mark = if *way == Way::Provider(Read::Inventory) { target_mark(r <= CPU_TARGET) } else { "" };
                format!("{r:.2}×{mark}")
            });
            let _ = writeln!(o, "| {} | {} | {ratio} | {rate:.0} |", way.label(), fmt_duration(*cpu));
        }
        let inventory = p.cpu_per_call.iter().find(|(w, ..)| *w == Way::Provider(Read::Inventory));
        if let (Some(n), Some((_, cpu, _))) = (noop, inventory) {
            let r = cpu.as_secs_f64() / n.as_secs_f64().max(1e-9);
            verdicts.push(Verdict {
                target: format!("provider CPU per get-host-inventory ≤ {CPU_TARGET}× the no-op's (16 callers)"),
                figure: format!("{r:.2}× ({} vs {})", fmt_duration(*cpu), fmt_duration(n)),
                met: Some(r <= CPU_TARGET),
            });
        }
        if let Some((per_s, [noop, inv])) = p.paced {
            let r = inv.as_secs_f64() / noop.as_secs_f64().max(1e-9);
            let _ = writeln!(
                o,
                "\nThe same two calls offered at one rate, {per_s} calls/s each (half the slower one's rate above; \
                 two alternating rounds; {} failed or lost). At a fixed number of callers the slower call is \
                 also made less often, so each of its calls carries more of the wake-ups an idle provider pays \
                 for; at one rate that difference is gone:\n\n\
                 | call | provider CPU per call at {per_s}/s | × no-op |\n|---|---|---|\n\
                 | provider-info (no-op wRPC) | {} | 1.00× |\n\
                 | get-host-inventory via provider (wRPC) | {} | {r:.2}×{} |",
                p.paced_failed,
                fmt_duration(noop),
                fmt_duration(inv),
                target_mark(r <= CPU_TARGET),
            );
            verdicts.push(Verdict {
                target: format!(
                    "provider CPU per get-host-inventory ≤ {CPU_TARGET}× the no-op's (same rate, {per_s}/s)"
                ),
                figure: format!("{r:.2}× ({} vs {})", fmt_duration(inv), fmt_duration(noop)),
                met: Some(r <= CPU_TARGET),
            });
        }
        if let Some((bytes, d)) = p.json {
            let _ = writeln!(
                o,
                "\nDecoding one real `host.get` reply ({bytes} bytes) into our ctl types takes {} (release, this process).",
                fmt_duration(d)
            );
        }
        let (Some(noop), Some(inv)) = (
            p.perf.iter().find(|r| r.way == Way::NoOp),
            p.perf.iter().find(|r| r.way == Way::Provider(Read::Inventory)),
        ) else {
            let _ = writeln!(o, "\nNo perf profile: {}.\n", p.perf_error.as_deref().unwrap_or("unknown reason"));
            return;
        };
        let (noop_areas, inv_areas) = (noop.areas(), inv.areas());
        let mut areas: Vec<(&'static str, f64, f64)> = inv_areas
            .iter()
            .map(|(a, us)| (*a, noop_areas.iter().find(|(n, _)| n == a).map_or(0.0, |(_, v)| *v), *us))
            .chain(
                noop_areas.iter().filter(|(a, _)| !inv_areas.iter().any(|(n, _)| n == a)).map(|(a, us)| (*a, *us, 0.0)),
            )
            .collect();
        areas.sort_by(|a, b| (b.2 - b.1).total_cmp(&(a.2 - a.1)));
        let _ = writeln!(
            o,
            "\n`perf record -e cpu-clock` of the provider process, once under the no-op's load ({} calls) and once \
             under `get-host-inventory` ({} calls), 16 callers each. Self time by area, as provider CPU per call (the \
             recording's CPU time × the area's share ÷ calls; symbols bucketed by crate, and release code inlines \
             across crates, so the split is approximate), largest difference first:\n\n\
             | area | no-op, µs per call | get-host-inventory, µs per call | difference |\n|---|---|---|---|",
            noop.calls, inv.calls
        );
        for (a, n, i) in &areas {
            let _ = writeln!(o, "| {a} | {n:.1} | {i:.1} | {:+.1} |", i - n);
        }
        let (n_all, i_all): (f64, f64) = (noop.per_call_us(100.0), inv.per_call_us(100.0));
        let _ = writeln!(o, "| all | {n_all:.1} | {i_all:.1} | {:+.1} |", i_all - n_all);
        let mut symbols: Vec<(&str, f64, f64)> =
            inv.rows.iter().map(|(_, s)| (s.as_str(), noop.symbol_us(s), inv.symbol_us(s))).collect();
        symbols.sort_by(|a, b| (b.2 - b.1).total_cmp(&(a.2 - a.1)));
        symbols.dedup_by(|a, b| a.0 == b.0);
        let _ = writeln!(
            o,
            "\nSymbols that cost `get-host-inventory` the most over the no-op (µs per call):\n\n\
             | symbol | no-op | get-host-inventory | difference |\n|---|---|---|---|"
        );
        for (sym, n, i) in symbols.iter().take(15) {
            let _ = writeln!(o, "| `{}` | {n:.2} | {i:.2} | {:+.2} |", symbol_cell(sym), i - n);
        }
        let _ = writeln!(o, "\nTop symbols under `get-host-inventory`:\n\n| self | symbol |\n|---|---|");
        for (pct, sym) in inv.rows.iter().take(15) {
            let _ = writeln!(o, "| {pct:.1}% | `{}` |", symbol_cell(sym));
        }
        o.push('\n');
    }
}

impl Report {
    fn render_load(&self, o: &mut String) {
        let Some(l) = &self.load else {
            return;
        };
        let _ = writeln!(
            o,
            "### Component load: OTLP ingestion and `get-component-load`\n\n\
             Host-shaped exports (per component: the `max_instances` gauge, `active_instances`, the \
             invocation counter and a 16-bucket duration histogram) posted one after another to a \
             provider's receiver; its process CPU over them.\n\n\
             | components per export | data points | bytes | exports | CPU per export | CPU per point | wall per export |\n\
             |---|---|---|---|---|---|---|"
        );
        for i in &l.ingestion {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                i.components,
                i.points,
                i.bytes,
                i.exports,
                fmt_duration(i.cpu_per_export()),
                fmt_duration(i.cpu_per_point()),
                fmt_duration(i.wall / i.exports.max(1) as u32)
            );
        }
        if let [small, large] = l.ingestion.as_slice() {
            let ratio = large.cpu_per_point().as_secs_f64() / small.cpu_per_point().as_secs_f64().max(1e-12);
            let _ = writeln!(
                o,
                "\nCPU per point, {} vs {} components per export: {ratio:.2}x.",
                large.components, small.components
            );
        }
        let row = |name: &str, p: &Option<crate::stats::Percentiles>| match p {
            Some(p) => {
                format!("| {name} | {} | {} | {} |", fmt_duration(p.p50), fmt_duration(p.p90), fmt_duration(p.p99))
            }
            None => format!("| {name} | – | – | – |"),
        };
        let _ = writeln!(
            o,
            "\n`get-component-load` (the whole lattice: {} per-host rows) beside `provider-info`, interleaved:\n\n\
             | call | p50 | p90 | p99 |\n|---|---|---|---|\n{}\n{}",
            l.report_rows,
            row("get-component-load", &l.get_component_load),
            row("provider-info", &l.provider_info)
        );
        if let (Some(g), Some(i)) = (&l.get_component_load, &l.provider_info) {
            let _ = writeln!(o, "\np50 ratio: {:.2}x.\n", g.p50.as_secs_f64() / i.p50.as_secs_f64().max(1e-12));
        }
    }
}
