//! The `component_load` event: a lattice's load report, published every interval to
//! `wasmbus.evt.{lattice}.component_load` while a link asks for it, and delivered to the links
//! that subscribe like any lattice event (through their shared JetStream consumer).
//!
//! Every replica, and every link of one lattice that asks, publishes the same interval's
//! report under the same id: the interval's number since the epoch. The id is the CloudEvent
//! `id` and the `Nats-Msg-Id`, so the JetStream stream of the lattice's events keeps the first
//! and drops the others; a link receives each interval's report once. Without JetStream (core
//! NATS delivery) every publication is delivered: components de-duplicate by id.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{debug, warn};

use super::report::LoadFilter;
use super::LoadStore;
use crate::ctl::EVENT_TYPE_PREFIX;
use crate::provider::supervise::Ended;

/// The event's short type (the link config's `events` entry).
pub const EVENT: &str = "component_load";
/// Provider config key: the interval of `component_load` events, in ms.
pub const INTERVAL_KEY: &str = "load_interval_ms";
/// Default of [`INTERVAL_KEY`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Shortest accepted [`INTERVAL_KEY`].
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// What publishing needs: the store and the interval.
#[derive(Clone, Debug)]
pub struct LoadEvents {
    /// The lattice's load.
    pub store: Arc<LoadStore>,
    /// Time between two reports.
    pub interval: Duration,
    /// The CloudEvent `source` (the provider's id).
    pub source: String,
}

/// The interval `value` names (ms), else the default with why.
pub fn parse_interval(value: Option<&str>) -> Result<Duration, String> {
    let Some(value) = value else {
        return Ok(DEFAULT_INTERVAL);
    };
    match value.trim().parse::<u64>() {
        Ok(ms) if Duration::from_millis(ms) >= MIN_INTERVAL => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "`{INTERVAL_KEY}` must be a whole number of ms, at least {}",
            MIN_INTERVAL.as_millis()
        )),
    }
}

/// The id of the interval `at` falls in: the same on every replica whose clock agrees within
/// the interval.
#[must_use]
pub fn interval_id(lattice: &str, at: SystemTime, interval: Duration) -> (String, u128) {
    let since = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let n = since / interval.as_millis().max(1);
    (format!("{EVENT}.{lattice}.{n}"), n)
}

/// The CloudEvent of one report.
#[must_use]
pub fn cloud_event(
    id: &str,
    source: &str,
    report: &super::report::LoadReport,
) -> serde_json::Value {
    let time = rfc3339(SystemTime::now());
    serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": format!("{EVENT_TYPE_PREFIX}{EVENT}"),
        "datacontenttype": "application/json",
        "time": time,
        "data": report,
    })
}

fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // civil date from days since 1970-01-01 (Howard Hinnant's algorithm)
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Publishes `lattice`'s report on `nats` at the end of every interval while the lattice has
/// load to report. Ends only when aborted.
pub async fn run(nats: async_nats::Client, lattice: String, events: LoadEvents) -> Ended {
    let subject = format!("wasmbus.evt.{lattice}.{EVENT}");
    loop {
        // sleep to the next interval boundary, so replicas publish the same interval
        let now = SystemTime::now();
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let step = events.interval.as_millis().max(1);
        let into = since.as_millis() % step;
        let wait = Duration::from_millis(u64::try_from(step - into).unwrap_or(0));
        tokio::time::sleep(wait).await;
        if !events.store.has_lattice(&lattice) {
            continue;
        }
        let report = events
            .store
            .report(&lattice, &LoadFilter::default(), Instant::now());
        // the interval that just ended, named from its start
        let (id, _) = interval_id(
            &lattice,
            SystemTime::now() - events.interval / 2,
            events.interval,
        );
        let body = match serde_json::to_vec(&cloud_event(&id, &events.source, &report)) {
            Ok(body) => body,
            Err(error) => {
                warn!(%error, "could not encode a load report");
                continue;
            }
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        match nats
            .publish_with_headers(subject.clone(), headers, body.into())
            .await
        {
            Ok(()) => debug!(%lattice, %id, "component load published"),
            Err(error) => warn!(%lattice, %error, "could not publish component load"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_ids_agree_within_an_interval_and_differ_across() {
        let every = Duration::from_secs(10);
        let at = UNIX_EPOCH + Duration::from_secs(1_000_003);
        let (a, n) = interval_id("lat", at, every);
        let (b, _) = interval_id("lat", at + Duration::from_secs(6), every);
        let (c, _) = interval_id("lat", at + Duration::from_secs(7), every);
        assert_eq!((a.as_str(), n), ("component_load.lat.100000", 100_000));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn intervals_parse_with_a_floor() {
        assert_eq!(parse_interval(None), Ok(DEFAULT_INTERVAL));
        assert_eq!(
            parse_interval(Some("1500")),
            Ok(Duration::from_millis(1500))
        );
        assert!(parse_interval(Some("10")).is_err());
        assert!(parse_interval(Some("soon")).is_err());
    }

    #[test]
    fn times_are_rfc3339() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_601_600 + 3_723);
        assert_eq!(rfc3339(at), "2026-12-07T01:02:03Z");
    }
}
