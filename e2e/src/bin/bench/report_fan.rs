//! Rendering of the fan-out (7), many-links (8) and runtime (9) sections.

use std::fmt::Write as _;
use std::time::Duration;

use crate::fanout::{FanOutRow, ScaleResult};
use crate::report::{target_mark, Report, Verdict};
use crate::stats::fmt_duration;

/// Issue 14: p99 publish → handler with 100 links at most this many times that with 1.
const FAN_P99_TARGET: f64 = 2.0;
/// Issue 14: provider CPU per delivered event does not grow with the links (noise margin).
const FAN_CPU_TARGET: f64 = 1.2;

/// One provider's figures in the runtime comparison.
#[derive(Debug, Clone)]
pub struct RuntimeRow {
    pub flavor: &'static str,
    /// Provider CPU per call at 16 callers: no-op, get-host-inventory.
    pub cpu_noop: Duration,
    pub cpu_inventory: Duration,
    /// Calls/s at 64 callers: no-op, get-host-inventory; and calls lost in all its runs.
    pub rate_noop: f64,
    pub rate_inventory: f64,
    pub lost: u64,
    pub failed: u64,
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

impl Report {
    pub(crate) fn render_fan_out(&self, o: &mut String, verdicts: &mut Vec<Verdict>) {
        let rows: &[FanOutRow] = &self.fan_out;
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            o,
            "### 7. Event fan-out (one lattice, links subscribed to one event type)\n\n\
             Component stand-ins served by the bench (wRPC `handle-event`, answering at once) beside one \
             stuck handler that never answers (its link: `event_queue=16`; each push times out after the \
             default 2 s). Paced: 500 deliveries/s offered whatever the link count (events/s = 500 / links), \
             latency from publish to the handler's call. Burst: 200 events published at once, deliveries/s \
             until the last one reached every link.\n\n\
             | links | events | delivered / expected | p50 | p99 | provider CPU per delivery | burst deliveries/s | burst missing | RSS | stuck handler calls |\n\
             |---|---|---|---|---|---|---|---|---|---|"
        );
        for r in rows {
            let _ = writeln!(
                o,
                "| {} | {} | {} / {} | {} | {} | {} | {:.0} | {} | {:.1} MB | {} |",
                r.links,
                r.events,
                r.delivered,
                r.expected,
                fmt_duration(r.p50),
                fmt_duration(r.p99),
                fmt_duration(r.cpu_per_delivery),
                r.burst_rate,
                r.burst_missing,
                r.rss_kib as f64 * 1024.0 / 1e6,
                r.stuck_calls,
            );
        }
        let cores = self.machine.cpus.max(1);
        let _ = writeln!(
            o,
            "\nWhere one delivery's CPU goes (paced phase, each process's idle CPU over the same time \
             subtracted): every process on the machine works for it. A `handle-event` call over \
             wrpc-transport-nats 0.29 is several NATS messages (the invocation, the handler's handshake, the \
             stream ends and the result), each read and written by nats-server. An event to n links is n such \
             calls; the last column is the CPU the other processes spend on one event's n deliveries, spread \
             over the {cores} cores: what the last delivery waits for even if the provider cost nothing:\n\n\
             | links | messages per delivery | provider CPU | nats-server CPU | bench CPU (stand-ins) | all, per delivery | p99 | one event's CPU outside the provider ÷ {cores} cores |\n\
             |---|---|---|---|---|---|---|---|"
        );
        for r in rows {
            let [p, n, b] = r.net_cpu_per_delivery;
            let others = (n + b) * r.links as u32 / cores as u32;
            let _ = writeln!(
                o,
                "| {} | {:.1} | {} | {} | {} | {} | {} | {} |",
                r.links,
                r.messages_per_delivery,
                fmt_duration(p),
                fmt_duration(n),
                fmt_duration(b),
                fmt_duration(p + n + b),
                fmt_duration(r.p99),
                fmt_duration(others),
            );
        }
        let (first, last) = (&rows[0], &rows[rows.len() - 1]);
        let p99 = ratio(last.p99, first.p99);
        let cpu = ratio(last.cpu_per_delivery, first.cpu_per_delivery);
        let _ = writeln!(
            o,
            "\n{} links vs {}: p99 {p99:.2}×{}, CPU per delivery {cpu:.2}×{}.\n",
            last.links,
            first.links,
            target_mark(p99 <= FAN_P99_TARGET),
            target_mark(cpu <= FAN_CPU_TARGET),
        );
        verdicts.push(Verdict {
            target: format!("p99 delivery with {} links ≤ {FAN_P99_TARGET}× that with {}", last.links, first.links),
            figure: format!("{p99:.2}× ({} vs {})", fmt_duration(last.p99), fmt_duration(first.p99)),
            met: Some(p99 <= FAN_P99_TARGET),
        });
        verdicts.push(Verdict {
            target: format!(
                "provider CPU per delivered event does not grow with links ({} vs {}, ≤ {FAN_CPU_TARGET}×)",
                last.links, first.links
            ),
            figure: format!(
                "{cpu:.2}× ({} vs {})",
                fmt_duration(last.cpu_per_delivery),
                fmt_duration(first.cpu_per_delivery)
            ),
            met: Some(cpu <= FAN_CPU_TARGET),
        });
        let missing: usize = rows.iter().map(|r| r.expected - r.delivered.min(r.expected) + r.burst_missing).sum();
        verdicts.push(Verdict {
            target: "no event lost to a link that answers, beside a stuck one".into(),
            figure: format!("{missing} missing"),
            met: Some(missing == 0),
        });
    }

    pub(crate) fn render_scale(&self, o: &mut String) {
        let Some(s): Option<&ScaleResult> = self.scale.as_ref() else { return };
        let mb = |kib: u64| format!("{:.1} MB", kib as f64 * 1024.0 / 1e6);
        let _ = writeln!(
            o,
            "### 8. {} links over {} lattices\n\n\
             Links put through the control interface ({} configs naming distinct lattices, 16 puts at a time: \
             {:.1} s for all), each held by the provider; p50 of 300 sequential calls.\n\n\
             | | with the bench's links only | with {} more links |\n|---|---|---|\n\
             | provider RSS | {} | {} |\n\
             | provider NATS connections | {} | {} |\n\
             | p50 `get-host-inventory` (bench's link) | {} | {} |\n\
             | p50 `provider-info` (bench's link / the last of the many) | {} | {} |\n",
            s.links,
            s.lattices,
            s.lattices,
            s.put_time.as_secs_f64(),
            s.links,
            mb(s.rss_before_kib),
            mb(s.rss_after_kib),
            s.connections_before,
            s.connections_after,
            fmt_duration(s.inventory_before),
            fmt_duration(s.inventory_after),
            fmt_duration(s.info_before),
            fmt_duration(s.info_after_last),
        );
        let _ = writeln!(
            o,
            "Links that share connection settings share one NATS connection whatever lattice they name; \
             a control client per lattice is made on a link's first call (these links are never called \
             but the last).\n"
        );
    }

    pub(crate) fn render_runtime(&self, o: &mut String) {
        if self.runtime.is_empty() {
            return;
        }
        let _ = writeln!(
            o,
            "### 9. Runtime: the provider's `runtime` config\n\n\
             Two providers from the same binary, on two hosts of the lattice, measured alternately: the \
             default (`multi_thread`) and `runtime=current_thread`. CPU per call at 16 callers, calls/s at 64.\n\n\
             | runtime | CPU per no-op | CPU per get-host-inventory | × no-op | no-op calls/s (64) | inventory calls/s (64) | inventory / no-op | failed | lost |\n\
             |---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.runtime {
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {:.2}× | {:.0} | {:.0} | {:.2}× | {} | {} |",
                r.flavor,
                fmt_duration(r.cpu_noop),
                fmt_duration(r.cpu_inventory),
                ratio(r.cpu_inventory, r.cpu_noop),
                r.rate_noop,
                r.rate_inventory,
                r.rate_inventory / r.rate_noop.max(1e-9),
                r.failed,
                r.lost,
            );
        }
        o.push('\n');
    }
}
