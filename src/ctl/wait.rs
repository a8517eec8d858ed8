//! "And wait" forms: send a command, then wait for the lattice event that reports its outcome.
//!
//! Hosts acknowledge scale and start commands before acting on them, so the ack says nothing
//! about success; the outcome only shows as an event. The event subscription is made before
//! the command is sent (same NATS connection, so the server sees SUB before PUB) and events
//! that arrive while the ack is awaited stay queued in the subscription: none is missed, even
//! `provider_stopped`, which the host publishes before it acks.

use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tracing::debug;

use super::awaited::{Awaited, Outcome};
use super::client::Client;
use super::command::{Checked, WaitCommand};
use super::error::{CtlError, Result};
use super::events::{EventStream, LatticeEvent};
use super::types::{ScaleComponentCommand, StartProviderCommand, StopProviderCommand};

fn check_timeout(timeout: Duration) -> Result<()> {
    if timeout.is_zero() {
        return Err(CtlError::invalid_argument(
            "wait timeout must be greater than zero",
        ));
    }
    Ok(())
}

/// Reads `events` until the awaited outcome or `deadline`.
async fn wait_for(
    events: &mut EventStream,
    awaited: &Awaited,
    timeout: Duration,
    deadline: Instant,
) -> Result<LatticeEvent> {
    let mut last: Option<LatticeEvent> = None;
    loop {
        let next = tokio::select! {
            n = events.next() => n,
            () = tokio::time::sleep_until(deadline) => {
                return Err(CtlError::timeout(awaited.timeout_message(timeout, last.as_ref())));
            }
        };
        let ev = match next {
            Some(Ok(ev)) => ev,
            Some(Err(error)) => {
                debug!(%error, "skipping malformed lattice event");
                continue;
            }
            None => {
                return Err(CtlError::transport(
                    "event subscription closed while waiting for the outcome",
                ))
            }
        };
        match awaited.outcome(&ev) {
            Outcome::Succeeded => return Ok(ev),
            Outcome::Failed(message) => return Err(CtlError::rejected(message)),
            Outcome::Other => last = Some(ev),
            Outcome::Unrelated => {}
        }
    }
}

impl Client {
    /// Sends a checked command and waits for the lattice event that reports its outcome
    /// (see [`WaitCommand`]): the success event is returned, a failure event is `Rejected`
    /// with the host's error, and no outcome within `timeout` (not zero) is `Timeout` saying
    /// what was last seen. The event subscription is made before the command is sent; a
    /// refused command (`success: false`) returns at once; the whole call is bounded by
    /// `timeout`.
    pub async fn command_and_wait<C: WaitCommand>(
        &self,
        command: Checked<C>,
        timeout: Duration,
    ) -> Result<LatticeEvent> {
        check_timeout(timeout)?;
        let awaited = command.get().awaited();
        let deadline = Instant::now() + timeout;
        let mut events = self.events(&awaited.types()).await?;
        tokio::time::timeout_at(deadline, self.command(command))
            .await
            .map_err(|_| {
                CtlError::timeout(format!(
                    "the host did not acknowledge the command within {} ms",
                    timeout.as_millis()
                ))
            })??;
        wait_for(&mut events, &awaited, timeout, deadline).await
    }

    /// Scales a component and waits for `component_scaled` or `component_scale_failed`
    /// (see [`Client::command_and_wait`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use lattice_control_provider::ctl::ScaleComponentCommand;
    ///
    /// # use lattice_control_provider::ctl::ClientBuilder;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), async_nats::Error> {
    /// # let client = ClientBuilder::new(async_nats::connect("127.0.0.1:4222").await?).build();
    /// let scale = ScaleComponentCommand::builder()
    ///     .host_id("NBZ3")
    ///     .component_ref("ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0")
    ///     .component_id("hello")
    ///     .max_instances(1)
    ///     .build()?;
    /// // `component_scaled`, or an error carrying the `component_scale_failed` reason
    /// let event = client
    ///     .scale_component_and_wait(scale, Duration::from_secs(30))
    ///     .await?;
    /// println!("{} from host {}", event.ty, event.source);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn scale_component_and_wait(
        &self,
        command: ScaleComponentCommand,
        timeout: Duration,
    ) -> Result<LatticeEvent> {
        self.command_and_wait(Checked::new(command)?, timeout).await
    }

    /// Starts a provider and waits for `provider_started` or `provider_start_failed`
    /// (see [`Client::command_and_wait`]).
    pub async fn start_provider_and_wait(
        &self,
        command: StartProviderCommand,
        timeout: Duration,
    ) -> Result<LatticeEvent> {
        self.command_and_wait(Checked::new(command)?, timeout).await
    }

    /// Stops a provider and waits for `provider_stopped` (see [`Client::command_and_wait`]).
    pub async fn stop_provider_and_wait(
        &self,
        command: StopProviderCommand,
        timeout: Duration,
    ) -> Result<LatticeEvent> {
        self.command_and_wait(Checked::new(command)?, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::CtlErrorKind;
    use serde_json::{json, Value};

    const HOST: &str = "NHOSTA";

    fn event(ty: &str, data: Value) -> LatticeEvent {
        LatticeEvent::from_value(json!({
            "specversion": "1.0",
            "id": "0190-0000",
            "type": format!("com.wasmcloud.lattice.{ty}"),
            "source": HOST,
            "datacontenttype": "application/json",
            "time": "2026-11-01T10:00:00Z",
            "data": data,
        }))
        .unwrap()
    }

    fn scale(n: u32) -> Awaited {
        Awaited::scale(&ScaleComponentCommand {
            component_ref: "file:///c.wasm".into(),
            component_id: "echo".into(),
            host_id: HOST.into(),
            max_instances: n,
            ..Default::default()
        })
    }

    /// `component_scaled` as wasmCloud 1.9 publishes it (no claims).
    fn scaled(id: &str, host: &str, n: u64) -> Value {
        json!({"annotations": {}, "host_id": host, "image_ref": "file:///c.wasm",
               "max_instances": n, "component_id": id})
    }

    #[test]
    fn scale_matches_id_host_and_count() {
        let w = scale(2);
        assert_eq!(
            w.outcome(&event("component_scaled", scaled("echo", HOST, 2))),
            Outcome::Succeeded
        );
        for other in [
            scaled("other", HOST, 2),
            scaled("echo", "NHOSTB", 2),
            scaled("echo", HOST, 3),
            json!({}),
        ] {
            assert_eq!(w.outcome(&event("component_scaled", other)), Outcome::Other);
        }
        assert_eq!(
            w.outcome(&event("host_heartbeat", json!({"host_id": HOST}))),
            Outcome::Unrelated
        );
        assert_eq!(
            w.outcome(&event("provider_started", scaled("echo", HOST, 2))),
            Outcome::Unrelated
        );
    }

    #[test]
    fn scale_failure_carries_host_error() {
        let w = scale(1);
        let failed = json!({"annotations": {}, "component_id": "echo", "host_id": HOST,
            "image_ref": "file:///nope.wasm", "max_instances": 1,
            "error": "failed to read component file: No such file or directory (os error 2)"});
        assert_eq!(
            w.outcome(&event("component_scale_failed", failed)),
            Outcome::Failed(
                "failed to read component file: No such file or directory (os error 2)".into()
            )
        );
        let bare = json!({"component_id": "echo", "host_id": HOST});
        match w.outcome(&event("component_scale_failed", bare)) {
            Outcome::Failed(m) => assert!(m.contains("component_scale_failed"), "{m}"),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn host_falls_back_to_event_source() {
        let w = scale(1);
        let no_host = json!({"component_id": "echo", "max_instances": 1});
        assert_eq!(
            w.outcome(&event("component_scaled", no_host)),
            Outcome::Succeeded
        );
    }

    #[test]
    fn provider_start_and_stop_match_their_events() {
        let start = Awaited::start_provider(&StartProviderCommand {
            provider_id: "lc".into(),
            provider_ref: "file:///p.par.gz".into(),
            host_id: HOST.into(),
            ..Default::default()
        });
        let started = json!({"host_id": HOST, "image_ref": "file:///p.par.gz",
            "provider_id": "lc", "annotations": {}});
        assert_eq!(
            start.outcome(&event("provider_started", started)),
            Outcome::Succeeded
        );
        let failed = json!({"provider_ref": "file:///p.par.gz", "provider_id": "lc",
            "host_id": HOST, "error": "failed to read provider archive", "link_name": "default"});
        assert_eq!(
            start.outcome(&event("provider_start_failed", failed)),
            Outcome::Failed("failed to read provider archive".into())
        );
        let stop = Awaited::stop_provider(&StopProviderCommand {
            host_id: HOST.into(),
            provider_id: "lc".into(),
        });
        let stopped = json!({"host_id": HOST, "provider_id": "lc", "annotations": {},
            "reason": "stop", "instance_id": "lc", "public_key": "lc", "link_name": "default"});
        assert_eq!(
            stop.outcome(&event("provider_stopped", stopped)),
            Outcome::Succeeded
        );
        // stop has no failure event: a start failure is not its business
        assert_eq!(
            stop.outcome(&event(
                "provider_start_failed",
                json!({"provider_id": "lc"})
            )),
            Outcome::Unrelated
        );
        assert_eq!(stop.types(), vec!["provider_stopped".to_string()]);
        assert_eq!(
            start.types(),
            vec![
                "provider_started".to_string(),
                "provider_start_failed".to_string()
            ]
        );
    }

    #[test]
    fn timeout_message_says_what_was_last_seen() {
        let w = scale(2);
        let m = w.timeout_message(Duration::from_millis(250), None);
        assert!(
            m.contains("`component_scaled` or `component_scale_failed`")
                && m.contains("`echo`")
                && m.contains(HOST)
                && m.contains("250 ms")
                && m.contains("no such event was seen"),
            "{m}"
        );
        let other = event(
            "component_scale_failed",
            json!({"component_id": "x", "host_id": HOST, "max_instances": 4,
                   "error": "private detail"}),
        );
        let m = w.timeout_message(Duration::from_millis(250), Some(&other));
        assert!(
            m.contains("last seen: component_scale_failed for component_id `x`")
                && m.contains("(max_instances 4)")
                && !m.contains("private detail"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn zero_timeout_and_bad_commands_fail_before_traffic() {
        let nats = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect("127.0.0.1:1")
            .await
            .unwrap();
        let c = crate::ctl::ClientBuilder::new(nats).build();
        let cmd = ScaleComponentCommand {
            component_ref: "r".into(),
            component_id: "c".into(),
            host_id: HOST.into(),
            ..Default::default()
        };
        let bound = Duration::from_millis(500);
        let e = tokio::time::timeout(bound, c.scale_component_and_wait(cmd, Duration::ZERO))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::InvalidArgument);
        assert!(e.message().contains("timeout"), "{e}");
        let e = tokio::time::timeout(
            bound,
            c.start_provider_and_wait(StartProviderCommand::default(), Duration::from_secs(1)),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::InvalidArgument);
        let e = tokio::time::timeout(
            bound,
            c.stop_provider_and_wait(StopProviderCommand::default(), Duration::from_secs(1)),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::InvalidArgument);
    }
}
