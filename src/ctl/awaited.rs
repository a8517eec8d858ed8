//! What a wait form waits for: the outcome events of one command, and how an event relates
//! to them. Pure: no I/O (the waiting is in `wait`).

use std::time::Duration;

use serde_json::Value;

use super::events::LatticeEvent;
use super::types::{ScaleComponentCommand, StartProviderCommand, StopProviderCommand};

/// The outcome events of one command: which event types, for which entity on which host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Awaited {
    /// Short type of the success event (`component_scaled`).
    success: &'static str,
    /// Short type of the failure event, if the operation has one.
    failure: Option<&'static str>,
    /// Payload field naming the entity (`component_id`, `provider_id`).
    id_field: &'static str,
    id: String,
    host_id: String,
    /// For scales: the instance count asked for (events of another scale do not match).
    max_instances: Option<u64>,
}

/// How one event relates to an [`Awaited`] outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The success event of this command.
    Succeeded,
    /// The failure event of this command, with the host's error message.
    Failed(String),
    /// An event of a watched type about another entity, host or scale.
    Other,
    /// An event of a type this wait does not watch.
    Unrelated,
}

impl Awaited {
    pub(crate) fn scale(cmd: &ScaleComponentCommand) -> Self {
        Self {
            success: "component_scaled",
            failure: Some("component_scale_failed"),
            id_field: "component_id",
            id: cmd.component_id.clone(),
            host_id: cmd.host_id.clone(),
            max_instances: Some(u64::from(cmd.max_instances)),
        }
    }

    pub(crate) fn start_provider(cmd: &StartProviderCommand) -> Self {
        Self {
            success: "provider_started",
            failure: Some("provider_start_failed"),
            id_field: "provider_id",
            id: cmd.provider_id.clone(),
            host_id: cmd.host_id.clone(),
            max_instances: None,
        }
    }

    pub(crate) fn stop_provider(cmd: &StopProviderCommand) -> Self {
        Self {
            success: "provider_stopped",
            failure: None,
            id_field: "provider_id",
            id: cmd.provider_id.clone(),
            host_id: cmd.host_id.clone(),
            max_instances: None,
        }
    }

    pub(crate) fn types(&self) -> Vec<String> {
        std::iter::once(self.success)
            .chain(self.failure)
            .map(str::to_string)
            .collect()
    }

    /// Whether `ev` is this command's success or failure event.
    ///
    /// The host puts the command's host id in the payload (`host_id`); the CloudEvent
    /// `source` (the publishing host) stands in when a payload lacks it. A count in the
    /// payload must equal the requested one; a payload without a count is not refused.
    pub(crate) fn outcome(&self, ev: &LatticeEvent) -> Outcome {
        let ty = ev.short_type();
        let failed = self.failure == Some(ty);
        if ty != self.success && !failed {
            return Outcome::Unrelated;
        }
        let text = |name: &str| ev.data.get(name).and_then(Value::as_str);
        let host = text("host_id").unwrap_or(&ev.source);
        let same_count = match (self.max_instances, ev.data.get("max_instances")) {
            (Some(want), Some(got)) => got.as_u64() == Some(want),
            _ => true,
        };
        if text(self.id_field) != Some(self.id.as_str()) || host != self.host_id || !same_count {
            return Outcome::Other;
        }
        if !failed {
            return Outcome::Succeeded;
        }
        let message = match text("error") {
            Some(e) if !e.trim().is_empty() => e.to_string(),
            _ => format!("the host reported {ty} without an error message"),
        };
        Outcome::Failed(message)
    }

    /// The timeout message: what was awaited and the last watched event seen, if any.
    pub(crate) fn timeout_message(&self, timeout: Duration, last: Option<&LatticeEvent>) -> String {
        let what = match self.failure {
            Some(f) => format!("`{}` or `{f}`", self.success),
            None => format!("`{}`", self.success),
        };
        let seen = last.map_or_else(
            || "no such event was seen".to_string(),
            |ev| format!("last seen: {}", describe(ev)),
        );
        format!(
            "no {what} event for {} `{}` on host `{}` within {} ms; {seen}",
            self.id_field,
            self.id,
            self.host_id,
            timeout.as_millis()
        )
    }
}

/// A short, secret-free description of an event: type, entity, host and count. The payload's
/// error text is left out (it may belong to another caller's command).
fn describe(ev: &LatticeEvent) -> String {
    let text = |name: &str| ev.data.get(name).and_then(Value::as_str);
    let mut out = ev.short_type().to_string();
    for field in ["component_id", "provider_id"] {
        if let Some(id) = text(field) {
            out.push_str(&format!(" for {field} `{id}`"));
        }
    }
    out.push_str(&format!(
        " on host `{}`",
        text("host_id").unwrap_or(&ev.source)
    ));
    if let Some(n) = ev.data.get("max_instances").and_then(Value::as_u64) {
        out.push_str(&format!(" (max_instances {n})"));
    }
    out
}
