//! Components: descriptions, auctions, and the scale and update commands.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::ctl::error::Result;
use crate::ctl::validate;

/// A component in a host inventory.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ComponentDescription {
    /// Component id.
    #[serde(default)]
    pub id: String,
    /// Image reference it was started from.
    #[serde(default)]
    pub image_ref: String,
    /// Name from its claims, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Annotations of the scale request that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Revision.
    #[serde(default)]
    pub revision: i32,
    /// Maximum concurrent instances.
    #[serde(default)]
    pub max_instances: u32,
    /// Resource limits (serialized as `null` when absent, as upstream does).
    #[serde(default)]
    pub limits: Option<HashMap<String, String>>,
}

/// One instance of a component (kept for parity with upstream).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ComponentInstance {
    /// Annotations of the request that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Image reference.
    #[serde(default)]
    pub image_ref: String,
    /// Instance id.
    #[serde(default)]
    pub instance_id: String,
    /// Revision.
    #[serde(default)]
    pub revision: i32,
    /// Maximum concurrent instances.
    #[serde(default)]
    pub max_instances: u32,
}

/// Body of `component.auction`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ComponentAuctionRequest {
    /// Component image reference.
    #[serde(default)]
    pub component_ref: String,
    /// Component id.
    pub component_id: String,
    /// Host labels a bidder must have.
    pub constraints: BTreeMap<String, String>,
}

impl ComponentAuctionRequest {
    /// A builder; `build()` checks the arguments.
    pub fn builder() -> ComponentAuctionRequestBuilder {
        ComponentAuctionRequestBuilder::default()
    }

    /// Trims ids and checks them as the client does before sending.
    pub fn normalize(mut self) -> Result<Self> {
        self.component_ref = validate::image_ref("component_ref", &self.component_ref)?;
        self.component_id = validate::workload_id("component_id", &self.component_id)?;
        Ok(self)
    }
}

/// Builds a [`ComponentAuctionRequest`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ComponentAuctionRequestBuilder(ComponentAuctionRequest);

impl ComponentAuctionRequestBuilder {
    setters! {
        /// Component image reference (required).
        component_ref: String;
        /// Component id (required).
        component_id: String;
    }

    /// Label constraints a bidding host must satisfy.
    pub fn constraints(mut self, v: impl Into<BTreeMap<String, String>>) -> Self {
        self.0.constraints = v.into();
        self
    }

    /// The request, or `InvalidArgument`.
    pub fn build(self) -> Result<ComponentAuctionRequest> {
        self.0.normalize()
    }
}

/// A host's bid in a component auction.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ComponentAuctionAck {
    /// Component image reference.
    #[serde(default)]
    pub component_ref: String,
    /// Component id.
    #[serde(default)]
    pub component_id: String,
    /// Bidding host.
    #[serde(default)]
    pub host_id: String,
    /// Constraints the host satisfied.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

/// Body of `component.scale.{host}`; `max_instances` 0 stops the component.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ScaleComponentCommand {
    /// Component image reference.
    #[serde(default)]
    pub component_ref: String,
    /// Component id.
    pub component_id: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Maximum concurrent instances; `count` on the wire.
    #[serde(default, alias = "count", rename = "count")]
    pub max_instances: u32,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_limits: Option<HashMap<String, String>>,
    /// Target host.
    #[serde(default)]
    pub host_id: String,
    /// Named configs.
    #[serde(default)]
    pub config: Vec<String>,
    /// Whether a different image reference may replace a running one.
    #[serde(default)]
    pub allow_update: bool,
}

impl ScaleComponentCommand {
    /// A builder; `build()` checks the arguments.
    pub fn builder() -> ScaleComponentCommandBuilder {
        ScaleComponentCommandBuilder::default()
    }

    /// Trims ids and checks them as the client does before sending.
    pub fn normalize(mut self) -> Result<Self> {
        self.host_id = validate::subject_token("host_id", &self.host_id)?;
        self.component_ref = validate::image_ref("component_ref", &self.component_ref)?;
        self.component_id = validate::workload_id("component_id", &self.component_id)?;
        for c in &self.config {
            validate::check_non_empty("config name", c)?;
        }
        Ok(self)
    }
}

/// Builds a [`ScaleComponentCommand`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ScaleComponentCommandBuilder(ScaleComponentCommand);

impl ScaleComponentCommandBuilder {
    setters! {
        /// Target host (required).
        host_id: String;
        /// Component image reference (required).
        component_ref: String;
        /// Component id (required).
        component_id: String;
        /// Maximum concurrent instances (0 stops).
        max_instances: u32;
        /// Annotations.
        annotations: map BTreeMap<String, String>;
        /// Resource limits.
        component_limits: map HashMap<String, String>;
        /// Named configs.
        config: list;
        /// Allow replacing a running image reference.
        allow_update: bool;
    }

    /// The command, or `InvalidArgument`.
    pub fn build(self) -> Result<ScaleComponentCommand> {
        self.0.normalize()
    }
}

/// Body of `component.update.{host}`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct UpdateComponentCommand {
    /// Component to update.
    #[serde(default)]
    pub component_id: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Host running it.
    #[serde(default)]
    pub host_id: String,
    /// New image reference.
    #[serde(default)]
    pub new_component_ref: String,
}

impl UpdateComponentCommand {
    /// A builder; `build()` checks the arguments.
    pub fn builder() -> UpdateComponentCommandBuilder {
        UpdateComponentCommandBuilder::default()
    }

    /// Trims ids and checks them as the client does before sending.
    pub fn normalize(mut self) -> Result<Self> {
        self.host_id = validate::subject_token("host_id", &self.host_id)?;
        self.component_id = validate::workload_id("component_id", &self.component_id)?;
        self.new_component_ref = validate::image_ref("new_component_ref", &self.new_component_ref)?;
        Ok(self)
    }
}

/// Builds an [`UpdateComponentCommand`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct UpdateComponentCommandBuilder(UpdateComponentCommand);

impl UpdateComponentCommandBuilder {
    setters! {
        /// Host running the component (required).
        host_id: String;
        /// Component id (required).
        component_id: String;
        /// New image reference (required).
        new_component_ref: String;
        /// Annotations.
        annotations: map BTreeMap<String, String>;
    }

    /// The command, or `InvalidArgument`.
    pub fn build(self) -> Result<UpdateComponentCommand> {
        self.0.normalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::types::invalid;
    use crate::ctl::types::*;

    use serde_json::json;

    #[test]
    fn scale_builder_trims_and_validates() {
        let c = ScaleComponentCommand::builder()
            .host_id(" NH ")
            .component_ref(" file:///x.wasm ")
            .component_id(" c1 ")
            .max_instances(0)
            .config(["a"])
            .build()
            .unwrap();
        assert_eq!(c.host_id, "NH");
        assert_eq!(c.component_ref, "file:///x.wasm");
        assert_eq!(c.component_id, "c1");
        assert_eq!(
            serde_json::to_value(&c).unwrap()["count"],
            json!(0),
            "max_instances is `count` on the wire"
        );
        let ok = || {
            ScaleComponentCommand::builder()
                .host_id("NH")
                .component_ref("r")
                .component_id("c")
        };
        assert!(invalid(ok().host_id(" ").build()).contains("host_id"));
        assert!(invalid(ok().host_id("a.b").build()).contains("host_id"));
        assert!(invalid(ok().component_ref("").build()).contains("component_ref"));
        assert!(invalid(ok().component_id("\t").build()).contains("component_id"));
        assert!(invalid(ok().config([""]).build()).contains("config"));
    }

    #[test]
    fn update_builder_validates() {
        let ok = || {
            UpdateComponentCommand::builder()
                .host_id("NH")
                .component_id("c")
                .new_component_ref("r")
        };
        assert!(ok().build().is_ok());
        assert!(invalid(ok().host_id("").build()).contains("host_id"));
        assert!(invalid(ok().component_id(" ").build()).contains("component_id"));
        assert!(invalid(ok().new_component_ref("").build()).contains("new_component_ref"));
    }

    #[test]
    fn auction_builders_validate() {
        let r = ComponentAuctionRequest::builder()
            .component_ref("r")
            .component_id("c")
            .constraints([("zone".to_string(), "a".to_string())])
            .build()
            .unwrap();
        assert_eq!(r.constraints["zone"], "a");
        assert!(
            invalid(ComponentAuctionRequest::builder().component_id("c").build())
                .contains("component_ref")
        );
        assert!(
            invalid(ProviderAuctionRequest::builder().provider_ref("r").build())
                .contains("provider_id")
        );
    }
}
