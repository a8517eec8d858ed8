//! Providers: descriptions, auctions, and the start and stop commands.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ctl::error::Result;
use crate::ctl::validate;

/// A provider in a host inventory.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ProviderDescription {
    /// Provider id.
    #[serde(default)]
    pub id: String,
    /// Image reference, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// Name from its claims, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Revision.
    #[serde(default)]
    pub revision: i32,
    /// Annotations of the start request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Body of `provider.auction`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ProviderAuctionRequest {
    /// Provider image reference.
    #[serde(default)]
    pub provider_ref: String,
    /// Provider id.
    pub provider_id: String,
    /// Host labels a bidder must have.
    pub constraints: BTreeMap<String, String>,
}

impl ProviderAuctionRequest {
    /// A builder; `build()` checks the arguments.
    pub fn builder() -> ProviderAuctionRequestBuilder {
        ProviderAuctionRequestBuilder::default()
    }

    /// Trims ids and checks them as the client does before sending.
    pub fn normalize(mut self) -> Result<Self> {
        self.provider_ref = validate::image_ref("provider_ref", &self.provider_ref)?;
        self.provider_id = validate::workload_id("provider_id", &self.provider_id)?;
        Ok(self)
    }
}

/// Builds a [`ProviderAuctionRequest`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ProviderAuctionRequestBuilder(ProviderAuctionRequest);

impl ProviderAuctionRequestBuilder {
    setters! {
        /// Provider image reference (required).
        provider_ref: String;
        /// Provider id (required).
        provider_id: String;
    }

    /// Label constraints a bidding host must satisfy.
    pub fn constraints(mut self, v: impl Into<BTreeMap<String, String>>) -> Self {
        self.0.constraints = v.into();
        self
    }

    /// The request, or `InvalidArgument`.
    pub fn build(self) -> Result<ProviderAuctionRequest> {
        self.0.normalize()
    }
}

/// A host's bid in a provider auction.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ProviderAuctionAck {
    /// Bidding host.
    #[serde(default)]
    pub host_id: String,
    /// Provider image reference.
    #[serde(default)]
    pub provider_ref: String,
    /// Provider id.
    #[serde(default)]
    pub provider_id: String,
    /// Constraints the host satisfied.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

/// Body of `provider.start.{host}`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct StartProviderCommand {
    /// Provider id.
    pub provider_id: String,
    /// Provider image reference (OCI or `file://`).
    #[serde(default)]
    pub provider_ref: String,
    /// Target host.
    #[serde(default)]
    pub host_id: String,
    /// Named configs.
    #[serde(default)]
    pub config: Vec<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl StartProviderCommand {
    /// A builder; `build()` checks the arguments.
    pub fn builder() -> StartProviderCommandBuilder {
        StartProviderCommandBuilder::default()
    }

    /// Trims ids and checks them as the client does before sending.
    pub fn normalize(mut self) -> Result<Self> {
        self.host_id = validate::subject_token("host_id", &self.host_id)?;
        self.provider_ref = validate::image_ref("provider_ref", &self.provider_ref)?;
        self.provider_id = validate::workload_id("provider_id", &self.provider_id)?;
        for c in &self.config {
            validate::check_non_empty("config name", c)?;
        }
        Ok(self)
    }
}

/// Builds a [`StartProviderCommand`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct StartProviderCommandBuilder(StartProviderCommand);

impl StartProviderCommandBuilder {
    setters! {
        /// Target host (required).
        host_id: String;
        /// Provider image reference (required).
        provider_ref: String;
        /// Provider id (required).
        provider_id: String;
        /// Named configs.
        config: list;
        /// Annotations.
        annotations: map BTreeMap<String, String>;
    }

    /// The command, or `InvalidArgument`.
    pub fn build(self) -> Result<StartProviderCommand> {
        self.0.normalize()
    }
}

/// Body of `provider.stop.{host}`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct StopProviderCommand {
    /// Host running the provider.
    #[serde(default)]
    pub host_id: String,
    /// Provider id (`provider_ref` accepted from old clients).
    #[serde(default, alias = "provider_ref")]
    pub provider_id: String,
}

impl StopProviderCommand {
    /// A builder; `build()` checks the arguments.
    pub fn builder() -> StopProviderCommandBuilder {
        StopProviderCommandBuilder::default()
    }

    /// Trims ids and checks them as the client does before sending.
    pub fn normalize(mut self) -> Result<Self> {
        self.host_id = validate::subject_token("host_id", &self.host_id)?;
        self.provider_id = validate::workload_id("provider_id", &self.provider_id)?;
        Ok(self)
    }
}

/// Builds a [`StopProviderCommand`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct StopProviderCommandBuilder(StopProviderCommand);

impl StopProviderCommandBuilder {
    setters! {
        /// Host running the provider (required).
        host_id: String;
        /// Provider id (required).
        provider_id: String;
    }

    /// The command, or `InvalidArgument`.
    pub fn build(self) -> Result<StopProviderCommand> {
        self.0.normalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::types::invalid;

    #[test]
    fn provider_builders_validate() {
        let ok = || {
            StartProviderCommand::builder()
                .host_id("NH")
                .provider_id("p")
                .provider_ref("file:///p.par.gz")
        };
        assert!(ok().build().is_ok());
        assert!(invalid(ok().provider_ref(" ").build()).contains("provider_ref"));
        assert!(invalid(ok().provider_id("").build()).contains("provider_id"));
        assert!(invalid(ok().host_id("*").build()).contains("host_id"));
        let stop = StopProviderCommand::builder()
            .host_id("NH")
            .provider_id(" p ");
        assert_eq!(stop.build().unwrap().provider_id, "p");
        assert!(
            invalid(StopProviderCommand::builder().host_id("NH").build()).contains("provider_id")
        );
    }
}
