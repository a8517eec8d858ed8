//! Hosts: what a ping and an inventory answer, and the command that stops a host.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ComponentDescription, ProviderDescription};
use crate::ctl::error::Result;
use crate::ctl::validate;

/// A host as it answers a ping (`host.ping`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Host {
    /// NATS server used for RPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_host: Option<String>,
    /// NATS server used for the control interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctl_host: Option<String>,
    /// Human-friendly name.
    #[serde(default)]
    pub friendly_name: String,
    /// Host id (nkey server public key, `N…`).
    #[serde(default)]
    pub id: String,
    /// JetStream domain, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_domain: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Lattice the host belongs to.
    #[serde(default)]
    pub lattice: String,
    /// Uptime, human readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_human: Option<String>,
    /// Uptime in seconds.
    #[serde(default)]
    pub uptime_seconds: u64,
    /// Host software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// What a host runs (`host.get.{host}`; also the payload of `host_heartbeat` events).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct HostInventory {
    /// Components running on the host (`actors` accepted from old hosts).
    #[serde(alias = "actors")]
    pub components: Vec<ComponentDescription>,
    /// Providers running on the host.
    pub providers: Vec<ProviderDescription>,
    /// Host id.
    #[serde(default)]
    pub host_id: String,
    /// Human-friendly name.
    #[serde(default)]
    pub friendly_name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Host software version.
    #[serde(default)]
    pub version: String,
    /// Uptime, human readable.
    #[serde(default)]
    pub uptime_human: String,
    /// Uptime in seconds.
    #[serde(default)]
    pub uptime_seconds: u64,
}

/// Body of `host.stop.{host}`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct StopHostCommand {
    /// Host to stop.
    #[serde(default)]
    pub host_id: String,
    /// Graceful-stop deadline in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl StopHostCommand {
    /// A builder; `build()` checks the arguments.
    pub fn builder() -> StopHostCommandBuilder {
        StopHostCommandBuilder::default()
    }

    /// Trims the id and checks it as the client does before sending. A timeout of 0 is sent
    /// as it is: the host's deadline is then "now" (it stops without waiting for its
    /// components and providers), as with upstream's client.
    pub fn normalize(mut self) -> Result<Self> {
        self.host_id = validate::subject_token("host_id", &self.host_id)?;
        Ok(self)
    }
}

/// Builds a [`StopHostCommand`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct StopHostCommandBuilder(StopHostCommand);

impl StopHostCommandBuilder {
    setters! {
        /// Host to stop (required).
        host_id: String;
    }

    /// Graceful-stop deadline in milliseconds (not zero).
    pub fn timeout_ms(mut self, v: u64) -> Self {
        self.0.timeout = Some(v);
        self
    }

    /// The command, or `InvalidArgument`.
    pub fn build(self) -> Result<StopHostCommand> {
        self.0.normalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::types::invalid;

    #[test]
    fn stop_host_sends_a_zero_timeout_as_now() {
        assert!(StopHostCommand::builder().host_id("NH").build().is_ok());
        for ms in [0, 10] {
            let stop = StopHostCommand::builder()
                .host_id(" NH ")
                .timeout_ms(ms)
                .build()
                .unwrap();
            assert_eq!((stop.host_id.as_str(), stop.timeout), ("NH", Some(ms)));
        }
        assert!(invalid(StopHostCommand::builder().build()).contains("host_id"));
    }
}
