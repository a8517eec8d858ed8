//! What the replicas of the provider share, so that whichever one a component calls answers
//! for the whole lattice.
//!
//! Hosts export to one replica each (the one on their own host, or the one a collector
//! forwards to). Every export a replica takes is published, as received, on the provider's
//! own NATS connection ([`subject`]); every replica subscribes and applies the exports of the
//! others, so each holds every host's series. A replica started later has the whole picture
//! after one export interval. The same connection carries the hosts' `host_stopped` events
//! of the provider's own lattice, which drop that host's series at once; a host of another
//! lattice, or one gone without a word, is dropped once its series go stale.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{otlp, LoadStore};
use crate::provider::supervise::{self, Ended};

/// Header naming the replica that published an export (its own exports it skips).
pub const REPLICA_HEADER: &str = "Lattice-Control-Replica";
/// Exports waiting to be passed on, at most.
pub const FORWARD_QUEUE: usize = 64;
/// How often series not updated for the store's `stale_after` are dropped.
pub const DROP_STALE_EVERY: Duration = Duration::from_secs(10);

/// The subject the replicas of `provider_id` in `lattice` share exports on.
#[must_use]
pub fn subject(lattice: &str, provider_id: &str) -> String {
    format!("lattice-control.{lattice}.{provider_id}.otlp")
}

/// A name for this replica, unique enough to tell its own exports from the others'.
#[must_use]
pub fn replica_name() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// The sharing of one replica: passes on what its receiver took, applies what the others
/// took, forgets stopped hosts and drops stale series. Every task is supervised; dropping the
/// returned handles does not stop them (they live as long as the process).
pub fn start(
    nats: async_nats::Client,
    lattice: &str,
    provider_id: &str,
    store: Arc<LoadStore>,
) -> mpsc::Sender<Bytes> {
    let subject = subject(lattice, provider_id);
    let replica = replica_name();
    let (forward, exports) = mpsc::channel::<Bytes>(FORWARD_QUEUE);
    let exports = Arc::new(tokio::sync::Mutex::new(exports));
    {
        let (nats, subject, replica) = (nats.clone(), subject.clone(), replica.clone());
        supervise::spawn(
            "passing OTLP exports on to the other replicas".into(),
            move || {
                let (nats, subject, replica, exports) = (
                    nats.clone(),
                    subject.clone(),
                    replica.clone(),
                    Arc::clone(&exports),
                );
                async move {
                    let mut exports = exports.lock().await;
                    while let Some(body) = exports.recv().await {
                        publish(&nats, &subject, &replica, body).await;
                    }
                    Ended::Done
                }
            },
        );
    }
    {
        let (nats, store) = (nats.clone(), Arc::clone(&store));
        supervise::spawn(
            "applying the other replicas' OTLP exports".into(),
            move || {
                follow(
                    nats.clone(),
                    subject.clone(),
                    replica.clone(),
                    Arc::clone(&store),
                )
            },
        );
    }
    {
        let (nats, store) = (nats.clone(), Arc::clone(&store));
        supervise::spawn("dropping the load of stopped hosts".into(), move || {
            forget_stopped(nats.clone(), Arc::clone(&store))
        });
    }
    supervise::spawn("dropping stale load series".into(), move || {
        let store = Arc::clone(&store);
        async move {
            let mut every = tokio::time::interval(DROP_STALE_EVERY);
            loop {
                every.tick().await;
                store.drop_stale(Instant::now());
            }
        }
    });
    forward
}

async fn publish(nats: &async_nats::Client, subject: &str, replica: &str, body: Bytes) {
    let max = nats.server_info().max_payload;
    if body.len() > max {
        debug!(
            bytes = body.len(),
            max, "an OTLP export is larger than the server takes: not shared"
        );
        return;
    }
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(REPLICA_HEADER, replica);
    if let Err(error) = nats
        .publish_with_headers(subject.to_string(), headers, body)
        .await
    {
        warn!(%error, "could not pass an OTLP export on to the other replicas");
    }
}

async fn follow(
    nats: async_nats::Client,
    subject: String,
    replica: String,
    store: Arc<LoadStore>,
) -> Ended {
    let mut exports = match nats.subscribe(subject).await {
        Ok(s) => s,
        // the supervisor pauses before the next attempt
        Err(error) => {
            return Ended::Unexpectedly(format!("subscribing to shared exports: {error}"))
        }
    };
    while let Some(message) = exports.next().await {
        let own = message
            .headers
            .as_ref()
            .and_then(|h| h.get(REPLICA_HEADER))
            .is_some_and(|from| from.as_str() == replica);
        if own {
            continue;
        }
        if let Err(error) = otlp::ingest(&store, &message.payload, Instant::now()) {
            debug!(%error, "skipping a shared OTLP export that does not decode");
        }
    }
    Ended::Unexpectedly("the shared exports' subscription ended".into())
}

/// The `host_stopped` events of every lattice on this connection: the host's series go.
async fn forget_stopped(nats: async_nats::Client, store: Arc<LoadStore>) -> Ended {
    let mut stopped = match nats.subscribe("wasmbus.evt.*.host_stopped").await {
        Ok(s) => s,
        Err(error) => return Ended::Unexpectedly(format!("subscribing to host_stopped: {error}")),
    };
    while let Some(message) = stopped.next().await {
        let Some(lattice) = message.subject.split('.').nth(2) else {
            continue;
        };
        // the stopped host is the CloudEvent's source (the payload has no host id)
        let source = serde_json::from_slice::<serde_json::Value>(&message.payload)
            .ok()
            .and_then(|v| v.get("source").and_then(|s| s.as_str()).map(str::to_string));
        if let Some(host) = source {
            debug!(%lattice, %host, "host stopped: its load series dropped");
            store.forget_host(lattice, &host);
        }
    }
    Ended::Unexpectedly("the host_stopped subscription ended".into())
}
