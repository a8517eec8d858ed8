//! Delivery coordinated between replicas through JetStream.
//!
//! The provider may run on several hosts under one provider id (wadm's `daemonscaler`, or a
//! `spreadscaler` with more than one instance). Each replica gets every link put, so each
//! would push every lattice event to every linked component. Here a link's events come
//! instead from ONE durable pull consumer on the stream that captures the lattice's events,
//! shared by every replica: JetStream hands each event to one of the replicas pulling, and
//! with one unacknowledged event at a time (`max_ack_pending` 1) they are pushed in the order
//! the host published them. An event is acknowledged once the component answered (or the
//! link's `event_timeout_ms` gave up on it), so a replica that dies mid-call leaves it to be
//! redelivered, with the same CloudEvent id, to another replica after [`ACK_WAIT`].
//!
//! The stream is the one wadm keeps (`wasmbus_events`, subjects `wasmbus.evt.*.>`). JetStream
//! refuses two streams with overlapping subjects, so an existing stream capturing the
//! lattice's events is reused whatever its name; when there is none it is created with
//! wadm's own settings, so a wadm started later adopts it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream, AckKind};

/// Name of the stream created when none captures the lattice's events (wadm's name).
pub const STREAM_NAME: &str = "wasmbus_events";
/// Subjects of that stream (wadm's, every lattice's events).
pub const STREAM_SUBJECTS: &str = "wasmbus.evt.*.>";
/// How long the stream keeps an event (wadm's setting).
pub const STREAM_MAX_AGE: Duration = Duration::from_secs(70);
/// How long an event handed to a replica waits for its ack before another replica gets it:
/// the longest pause in delivery after a replica dies mid-call.
pub const ACK_WAIT: Duration = Duration::from_secs(4);
/// How often a replica tells JetStream it is still working on a call that lasts.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(1500);
/// A consumer nobody pulled from for this long is deleted by the server: the links of a
/// provider gone for good leave nothing behind.
pub const INACTIVE_THRESHOLD: Duration = Duration::from_secs(600);
/// Times one event is handed out before JetStream gives up on it (each replica acks after
/// its call, answered or not; only a replica dying mid-call makes a redelivery).
pub const MAX_DELIVER: i64 = 10;
/// How long one pull request waits on the server; short so a pull of a replica that died
/// does not hold an event back for long.
pub const PULL_EXPIRES: Duration = Duration::from_secs(4);
/// Idle heartbeat of a pull request (a silent server is noticed, and pulled from again).
pub const PULL_HEARTBEAT: Duration = Duration::from_secs(2);

/// The subject that holds every event of `lattice`.
#[must_use]
pub fn lattice_subject(lattice: &str) -> String {
    format!("wasmbus.evt.{lattice}.>")
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike the standard hasher, so
/// replicas of different builds (an upgrade under way) name a consumer alike.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The consumer's name: the same on every replica of provider `provider_id` for the link
/// `link` in `lattice` asking for `types` (order and repeats do not count), another for any
/// other provider, link, lattice or set of types.
#[must_use]
pub fn consumer_name(provider_id: &str, link: &str, lattice: &str, types: &[String]) -> String {
    let mut types: Vec<&str> = types.iter().map(String::as_str).collect();
    types.sort_unstable();
    types.dedup();
    let joined = types.join(",");
    format!(
        "lattice-control-{:016x}",
        fnv1a(&[provider_id, link, lattice, &joined])
    )
}

/// The subjects a link's consumer filters on: one per exact event type, so JetStream hands
/// out nothing else; the whole lattice for `*` or a prefix pattern (filtered on arrival).
#[must_use]
pub fn filter_subjects(lattice: &str, types: &[String]) -> Vec<String> {
    if types.is_empty() || types.iter().any(|t| t.ends_with('*')) {
        return vec![lattice_subject(lattice)];
    }
    let mut subjects: Vec<String> = types
        .iter()
        .map(|t| format!("wasmbus.evt.{lattice}.{t}"))
        .collect();
    subjects.sort();
    subjects.dedup();
    subjects
}

/// The stream created when none captures the lattice's events: wadm's `wasmbus_events`.
#[must_use]
pub fn stream_config() -> stream::Config {
    stream::Config {
        name: STREAM_NAME.to_string(),
        description: Some(
            "A stream that stores all events coming in on the wasmbus.evt subject in a cluster"
                .to_string(),
        ),
        num_replicas: 1,
        retention: stream::RetentionPolicy::Limits,
        subjects: vec![STREAM_SUBJECTS.to_string()],
        max_age: STREAM_MAX_AGE,
        allow_rollup: false,
        max_bytes: -1,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// A link's consumer: durable, shared by the replicas, one event unacknowledged at a time,
/// starting with the events published after it was made.
#[must_use]
pub fn consumer_config(name: &str, subjects: Vec<String>, link: &str) -> consumer::pull::Config {
    let (filter_subject, filter_subjects) = match <[String; 1]>::try_from(subjects) {
        Ok([one]) => (one, Vec::new()),
        Err(many) => (String::new(), many),
    };
    consumer::pull::Config {
        durable_name: Some(name.to_string()),
        name: Some(name.to_string()),
        description: Some(format!("lattice-control event delivery to link {link}")),
        deliver_policy: consumer::DeliverPolicy::New,
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: 1,
        max_deliver: MAX_DELIVER,
        inactive_threshold: INACTIVE_THRESHOLD,
        filter_subject,
        filter_subjects,
        ..Default::default()
    }
}

/// Why the coordinated delivery cannot run on a connection.
#[derive(Debug)]
pub enum Unusable {
    /// The server (or the account) has no JetStream: deliver over core NATS.
    NoJetStream(String),
    /// JetStream answered, but not usefully (refused, timed out): try again later.
    Failed(String),
}

/// Whether JetStream serves this connection's account.
pub async fn check(js: &jetstream::Context) -> Result<(), Unusable> {
    use async_nats::jetstream::context::AccountErrorKind;
    match js.query_account().await {
        Ok(_) => Ok(()),
        Err(e) => match e.kind() {
            AccountErrorKind::JetStreamUnavailable => Err(Unusable::NoJetStream(e.to_string())),
            AccountErrorKind::JetStream(inner) if inner.code() == 503 => {
                Err(Unusable::NoJetStream(inner.to_string()))
            }
            _ => Err(Unusable::Failed(e.to_string())),
        },
    }
}

/// The name of the stream capturing `lattice`'s events, made (as wadm makes it) if none
/// does. A replica creating it at the same time is no error: the lookup follows.
pub async fn ensure_stream(js: &jetstream::Context, lattice: &str) -> Result<String, String> {
    let subject = lattice_subject(lattice);
    if let Ok(name) = js.stream_by_subject(subject.clone()).await {
        return Ok(name);
    }
    match js.create_stream(stream_config()).await {
        Ok(_) => Ok(STREAM_NAME.to_string()),
        Err(create) => js
            .stream_by_subject(subject)
            .await
            .map_err(|_| format!("no stream captures the lattice's events and creating `{STREAM_NAME}` failed: {create}")),
    }
}

/// The link's consumer on `stream`, made if missing (every replica asks; the first makes it).
pub async fn ensure_consumer(
    js: &jetstream::Context,
    stream: &str,
    config: consumer::pull::Config,
) -> Result<consumer::PullConsumer, String> {
    let name = config.durable_name.clone().unwrap_or_default();
    let stream = js
        .get_stream_no_info(stream)
        .await
        .map_err(|e| format!("stream `{stream}`: {e}"))?;
    stream
        .get_or_create_consumer(&name, config)
        .await
        .map_err(|e| format!("consumer `{name}`: {e}"))
}

/// Deletes a link's consumer (the link is gone); a consumer already deleted (by another
/// replica) is no error.
pub async fn delete_consumer(nats: async_nats::Client, lattice: String, name: String) {
    let js = jetstream::new(nats);
    let Ok(stream) = js.stream_by_subject(lattice_subject(&lattice)).await else {
        return;
    };
    match js.delete_consumer_from_stream(&name, &stream).await {
        Ok(_) => tracing::debug!(consumer = %name, "event consumer deleted with its link"),
        Err(e) => tracing::debug!(consumer = %name, error = %e, "event consumer not deleted"),
    }
}

/// Tells JetStream the replica still works on `msg`, every [`PROGRESS_EVERY`], while `work`
/// runs; returns what `work` returned.
pub async fn with_progress<F: std::future::Future>(msg: &jetstream::Message, work: F) -> F::Output {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                if let Err(error) = msg.ack_with(AckKind::Progress).await {
                    tracing::debug!(%error, "progress ack not sent");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn consumer_names_are_shared_by_replicas_and_differ_per_link() {
        let a = consumer_name("VP", "c/default", "lat", &types(&["b", "a"]));
        // same inputs, types in another order or repeated: the same name on every replica
        assert_eq!(
            a,
            consumer_name("VP", "c/default", "lat", &types(&["a", "b", "a"]))
        );
        assert!(a.starts_with("lattice-control-") && a.len() == 16 + 16);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        for other in [
            consumer_name("VQ", "c/default", "lat", &types(&["a", "b"])),
            consumer_name("VP", "c/other", "lat", &types(&["a", "b"])),
            consumer_name("VP", "c/default", "lat2", &types(&["a", "b"])),
            consumer_name("VP", "c/default", "lat", &types(&["a"])),
            // the separators count: `ab` + `c` is not `a` + `bc`
            consumer_name("VPc", "/default", "lat", &types(&["a", "b"])),
        ] {
            assert_ne!(a, other);
        }
        // fixed across builds: replicas of two versions share it
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&["a"]), fnv1a(&["a"]));
    }

    #[test]
    fn filters_name_exact_types_and_widen_for_patterns() {
        assert_eq!(
            filter_subjects(
                "lat",
                &types(&["host_stopped", "config_set", "host_stopped"])
            ),
            vec!["wasmbus.evt.lat.config_set", "wasmbus.evt.lat.host_stopped"]
        );
        assert_eq!(
            filter_subjects("lat", &types(&["config_set", "provider_*"])),
            vec!["wasmbus.evt.lat.>"]
        );
        assert_eq!(
            filter_subjects("lat", &types(&["*"])),
            vec!["wasmbus.evt.lat.>"]
        );
    }

    #[test]
    fn configs_match_wadm_and_keep_one_event_in_flight() {
        let s = stream_config();
        assert_eq!(
            (s.name.as_str(), s.subjects.clone()),
            (STREAM_NAME, vec![STREAM_SUBJECTS.to_string()])
        );
        assert_eq!(s.retention, stream::RetentionPolicy::Limits);
        assert_eq!(
            (s.max_age, s.max_bytes, s.num_replicas),
            (STREAM_MAX_AGE, -1, 1)
        );
        assert_eq!(s.storage, stream::StorageType::File);

        let one = consumer_config("n", vec!["wasmbus.evt.lat.a".into()], "c/default");
        assert_eq!(one.filter_subject, "wasmbus.evt.lat.a");
        assert!(one.filter_subjects.is_empty());
        assert_eq!(one.durable_name.as_deref(), Some("n"));
        assert_eq!(one.max_ack_pending, 1);
        assert_eq!(one.ack_policy, consumer::AckPolicy::Explicit);
        assert_eq!(one.deliver_policy, consumer::DeliverPolicy::New);
        assert!(one.ack_wait <= Duration::from_secs(5) && PROGRESS_EVERY < one.ack_wait);
        assert_eq!(one.inactive_threshold, INACTIVE_THRESHOLD);
        let two = consumer_config("n", vec!["x.a".into(), "x.b".into()], "c/default");
        assert!(two.filter_subject.is_empty());
        assert_eq!(two.filter_subjects, vec!["x.a", "x.b"]);
    }
}
