//! Event targets: the component a link's events are delivered to, called over wRPC through the provider SDK's connection.

use super::*;

/// Calls one component's `handle-event`.
pub trait EventTarget: Send + Sync {
    /// Delivers `event` with `headers` (its trace context) on the call; the outer error is
    /// the transport's, the inner the component's.
    fn handle_event(
        &self,
        event: Arc<QueuedEvent>,
        headers: Option<async_nats::HeaderMap>,
    ) -> BoxFuture<'_, anyhow::Result<Result<(), String>>>;
}

/// Makes the [`EventTarget`] of a component id (called once per subscription, in its
/// delivery task).
pub type TargetFactory =
    Arc<dyn Fn(String) -> BoxFuture<'static, anyhow::Result<Arc<dyn EventTarget>>> + Send + Sync>;

/// The versions of `lattice-events` the provider calls: a component exports the one it was
/// built against, and the host serves it under that versioned name only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    /// `lattice-events@1.2.0`: every event type typed, component load included.
    Current,
    /// `lattice-events@1.1.0`: every type but `component-load` ([`crate::convert::events::v1_1`]).
    V1_1,
    /// `lattice-events@1.0.0`: the 1.0.0 form ([`crate::convert::events::v1_0`]).
    V1_0,
}

impl Version {
    /// Every version, newest first: the order they are tried in.
    const ALL: [Version; 3] = [Version::Current, Version::V1_1, Version::V1_0];

    fn index(self) -> u8 {
        match self {
            Self::Current => 0,
            Self::V1_1 => 1,
            Self::V1_0 => 2,
        }
    }
}

/// Whether a call failed because nobody serves its subject: the component is not running, or
/// it exports another version of the interface (the wRPC transport's `NotConnected`, from
/// NATS's no-responders status).
pub(super) fn no_responders(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotConnected)
    })
}

/// The component behind the provider SDK's wRPC client (`{lattice}.{component_id}` on the
/// provider's own lattice). It learns which version the component exports from its answers:
/// the last version that was answered is tried first, and when nobody serves it the others
/// are tried at once, newest first (so a component rebuilt against another version is
/// followed). An event type the component's version lacks is not sent.
pub(super) struct ComponentTarget {
    wrpc: wasmcloud_provider_sdk::provider::WrpcClient,
    /// The version the component last answered ([`Version::index`]).
    answers: std::sync::atomic::AtomicU8,
}

impl ComponentTarget {
    fn new(wrpc: wasmcloud_provider_sdk::provider::WrpcClient) -> Self {
        Self {
            wrpc,
            answers: std::sync::atomic::AtomicU8::new(0),
        }
    }

    fn version(&self) -> Version {
        let index = self.answers.load(Ordering::Relaxed);
        Version::ALL
            .into_iter()
            .find(|v| v.index() == index)
            .unwrap_or(Version::Current)
    }

    /// One call at `version`; `None` when that version lacks the event's type.
    async fn call(
        &self,
        version: Version,
        event: &QueuedEvent,
        headers: Option<async_nats::HeaderMap>,
    ) -> Option<anyhow::Result<Result<(), String>>> {
        use crate::bindings::v1_0::wasmcloud::lattice_control::lattice_events as v1_0;
        use crate::bindings::v1_1::wasmcloud::lattice_control::lattice_events as v1_1;
        Some(match version {
            Version::Current => {
                lattice_events::handle_event(&self.wrpc, headers, &event.event).await
            }
            Version::V1_1 => v1_1::handle_event(&self.wrpc, headers, event.v1_1()?).await,
            Version::V1_0 => {
                if !event.for_v1_0() {
                    return None;
                }
                v1_0::handle_event(&self.wrpc, headers, event.v1_0()).await
            }
        })
    }
}

impl EventTarget for ComponentTarget {
    fn handle_event(
        &self,
        event: Arc<QueuedEvent>,
        headers: Option<async_nats::HeaderMap>,
    ) -> BoxFuture<'_, anyhow::Result<Result<(), String>>> {
        Box::pin(async move {
            let first = self.version();
            let Some(answer) = self.call(first, &event, headers.clone()).await else {
                debug!(version = ?first, "event type not in the component's version: not sent");
                return Ok(Ok(()));
            };
            let error = match answer {
                Err(error) if no_responders(&error) => error,
                answer => return answer,
            };
            for other in Version::ALL.into_iter().filter(|v| *v != first) {
                match self.call(other, &event, headers.clone()).await {
                    Some(Err(e)) if no_responders(&e) => continue,
                    // the component's version lacks the type: nothing learned, not sent
                    None => continue,
                    Some(answer) => {
                        debug!(version = ?other, "component exports this version of lattice-events");
                        self.answers.store(other.index(), Ordering::Relaxed);
                        return answer;
                    }
                }
            }
            // nobody serves any version: say so for the one tried first
            Err(error)
        })
    }
}

/// The provider SDK's connection, once [`sdk_connected`] has said it exists. The SDK keeps
/// it in a process-wide static and panics when asked for it earlier; links (those of the
/// provider's start-up data among them) exist before it, so their deliveries wait here.
pub(super) static SDK_CONNECTION: tokio::sync::SetOnce<&'static ProviderConnection> =
    tokio::sync::SetOnce::const_new();

/// How long one attempt to make a target waits for the SDK's connection before it fails (and
/// the delivery retries, saying so).
pub(super) const SDK_CONNECTION_WAIT: Duration = Duration::from_secs(30);

/// Tells the event targets that the SDK's connection exists. Call only after
/// `wasmcloud_provider_sdk::run_provider` has returned: that is what makes it.
pub fn sdk_connected() {
    let _ = SDK_CONNECTION.set(wasmcloud_provider_sdk::get_connection());
}

/// Targets reached through the provider SDK's connection. Making one waits for that
/// connection (see [`sdk_connected`]), at most `SDK_CONNECTION_WAIT` per attempt.
#[must_use]
pub fn sdk_targets() -> TargetFactory {
    Arc::new(|component_id: String| Box::pin(sdk_target(component_id, SDK_CONNECTION_WAIT)))
}

pub(super) async fn sdk_target(
    component_id: String,
    wait: Duration,
) -> anyhow::Result<Arc<dyn EventTarget>> {
    let Ok(connection) = tokio::time::timeout(wait, SDK_CONNECTION.wait()).await else {
        anyhow::bail!(
            "the provider's connection to its host is not up after {} ms",
            wait.as_millis()
        );
    };
    let client = connection.get_wrpc_client(&component_id).await?;
    Ok(Arc::new(ComponentTarget::new(client)) as Arc<dyn EventTarget>)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before the SDK's connection exists, making a target waits (bounded) and fails; it
    /// never asks the SDK, which would panic.
    #[tokio::test]
    async fn a_target_before_the_sdk_connection_waits_then_fails_without_panicking() {
        let started = std::time::Instant::now();
        let Err(error) = sdk_target("c".into(), Duration::from_millis(50)).await else {
            panic!("no SDK connection exists in unit tests");
        };
        assert!(error.to_string().contains("not up after 50 ms"), "{error}");
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
