//! Wire types of the control protocol.
//!
//! Field names, renames, aliases, defaults and `skip_serializing_if` are those of
//! `wasmcloud-control-interface` 3.0.1, so the JSON is identical both ways (proven by
//! `tests/ctl_wire.rs`). Maps are `BTreeMap` where upstream uses one, for a stable order.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::error::{CtlError, Result};
use super::validate;

/// Setters of a `Builder(Command)` tuple struct, one line per field:
/// `String` fields take `impl Into<String>`, `list` fields any iterable of strings,
/// `map` fields set `Some(map)`, other types are stored as given.
macro_rules! setters {
    () => {};
    ($(#[$m:meta])* $f:ident: String; $($rest:tt)*) => {
        $(#[$m])*
        pub fn $f(mut self, v: impl Into<String>) -> Self {
            self.0.$f = v.into();
            self
        }
        setters!($($rest)*);
    };
    ($(#[$m:meta])* $f:ident: list; $($rest:tt)*) => {
        $(#[$m])*
        pub fn $f(mut self, v: impl IntoIterator<Item = impl Into<String>>) -> Self {
            self.0.$f = v.into_iter().map(Into::into).collect();
            self
        }
        setters!($($rest)*);
    };
    ($(#[$m:meta])* $f:ident: map $t:ty; $($rest:tt)*) => {
        $(#[$m])*
        pub fn $f(mut self, v: impl Into<$t>) -> Self {
            self.0.$f = Some(v.into());
            self
        }
        setters!($($rest)*);
    };
    ($(#[$m:meta])* $f:ident: $t:ty; $($rest:tt)*) => {
        $(#[$m])*
        pub fn $f(mut self, v: $t) -> Self {
            self.0.$f = v;
            self
        }
        setters!($($rest)*);
    };
}

fn default_link_name() -> String {
    "default".to_string()
}

fn default_registry_type() -> String {
    "oci".to_string()
}

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

/// A host label (`label.put` body).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct HostLabel {
    /// Key (`arch` in `arch=amd64`).
    pub key: String,
    /// Value (`amd64` in `arch=amd64`).
    pub value: String,
}

/// The key of a host label (`label.del` body).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct HostLabelIdentifier {
    /// Key of the label to delete.
    pub key: String,
}

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

/// A wasmCloud 1.x interface link (`link.put` body, `link.get` items).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize, Hash)]
pub struct Link {
    /// Source component id.
    pub source_id: String,
    /// Target component or provider id.
    pub target: String,
    /// Link name (`default` when absent on the wire).
    #[serde(default = "default_link_name")]
    pub name: String,
    /// WIT namespace, e.g. `wasi`.
    pub wit_namespace: String,
    /// WIT package, e.g. `keyvalue`.
    pub wit_package: String,
    /// WIT interfaces, e.g. `["store"]`.
    pub interfaces: Vec<String>,
    /// Named configs for the source side.
    #[serde(default)]
    pub source_config: Vec<String>,
    /// Named configs for the target side.
    #[serde(default)]
    pub target_config: Vec<String>,
}

impl Link {
    /// A builder; `build()` checks every field.
    pub fn builder() -> LinkBuilder {
        LinkBuilder(Self {
            name: default_link_name(),
            ..Self::default()
        })
    }

    /// Checks the link as the client does before `put_link`: source, target, name, WIT
    /// namespace and package not blank, at least one interface, none blank.
    pub fn validate(&self) -> Result<()> {
        validate::workload_id("link source_id", &self.source_id)?;
        validate::workload_id("link target", &self.target)?;
        validate::check_non_empty("link name", &self.name)?;
        validate::check_non_empty("link wit_namespace", &self.wit_namespace)?;
        validate::check_non_empty("link wit_package", &self.wit_package)?;
        if self.interfaces.is_empty() {
            return Err(CtlError::invalid_argument(
                "link interfaces must name at least one interface",
            ));
        }
        for i in &self.interfaces {
            validate::check_non_empty("link interface", i)?;
        }
        for c in self.source_config.iter().chain(&self.target_config) {
            validate::check_non_empty("link config name", c)?;
        }
        Ok(())
    }
}

/// Builds a [`Link`]; the name defaults to `default`.
#[derive(Clone, Debug)]
#[must_use]
pub struct LinkBuilder(Link);

impl LinkBuilder {
    setters! {
        /// Source component id (required).
        source_id: String;
        /// Target component or provider id (required).
        target: String;
        /// Link name (default `default`).
        name: String;
        /// WIT namespace (required).
        wit_namespace: String;
        /// WIT package (required).
        wit_package: String;
        /// WIT interfaces (at least one).
        interfaces: list;
        /// Source config names.
        source_config: list;
        /// Target config names.
        target_config: list;
    }

    /// The link, or `InvalidArgument` (see [`Link::validate`]).
    pub fn build(self) -> Result<Link> {
        self.0.validate()?;
        Ok(self.0)
    }
}

/// Reply envelope of every control request: `{"success", "message", "response"?}`.
///
/// Decoding also accepts the host's internal-failure form `{"success":false,"error":"…"}`
/// (the text lands in `message`) and a missing `message`; encoding is upstream's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CtlResponse<T> {
    /// Whether the host handled the request.
    pub success: bool,
    /// The host's message (empty for most successes).
    pub message: String,
    /// The payload, for queries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<T>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for CtlResponse<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(bound(deserialize = "T: Deserialize<'de>"))]
        struct Wire<T> {
            success: bool,
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            error: Option<String>,
            #[serde(default = "Option::default")]
            response: Option<T>,
        }
        let w = Wire::<T>::deserialize(deserializer)?;
        Ok(CtlResponse {
            success: w.success,
            message: w.message.or(w.error).unwrap_or_default(),
            response: w.response,
        })
    }
}

/// A host's acknowledgement of a command: its message on success.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    /// The host's message (often empty, e.g. for scale).
    pub message: String,
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

/// Body of `link.del`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteInterfaceLinkDefinitionRequest {
    /// Source component id.
    pub source_id: String,
    /// Link name (`default` when absent on the wire).
    #[serde(default = "default_link_name")]
    pub name: String,
    /// WIT namespace.
    pub wit_namespace: String,
    /// WIT package.
    pub wit_package: String,
}

impl DeleteInterfaceLinkDefinitionRequest {
    /// A builder; the name defaults to `default`.
    pub fn builder() -> DeleteInterfaceLinkDefinitionRequestBuilder {
        DeleteInterfaceLinkDefinitionRequestBuilder(Self {
            name: default_link_name(),
            ..Self::default()
        })
    }

    /// Trims the fields and checks that none is blank, as the client does before sending.
    pub fn normalize(mut self) -> Result<Self> {
        self.source_id = validate::workload_id("link source_id", &self.source_id)?;
        self.name = validate::non_empty("link name", &self.name)?;
        self.wit_namespace = validate::non_empty("link wit_namespace", &self.wit_namespace)?;
        self.wit_package = validate::non_empty("link wit_package", &self.wit_package)?;
        Ok(self)
    }
}

/// Builds a [`DeleteInterfaceLinkDefinitionRequest`].
#[derive(Clone, Debug)]
#[must_use]
pub struct DeleteInterfaceLinkDefinitionRequestBuilder(DeleteInterfaceLinkDefinitionRequest);

impl DeleteInterfaceLinkDefinitionRequestBuilder {
    setters! {
        /// Source component id (required).
        source_id: String;
        /// Link name (default `default`).
        name: String;
        /// WIT namespace (required).
        wit_namespace: String;
        /// WIT package (required).
        wit_package: String;
    }

    /// The request, or `InvalidArgument`.
    pub fn build(self) -> Result<DeleteInterfaceLinkDefinitionRequest> {
        self.0.normalize()
    }
}

/// Credentials for one registry (`registry.put` body values).
///
/// `Debug` redacts the password and token.
#[derive(Clone, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct RegistryCredential {
    /// Password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Token (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Registry type; only `oci` is supported by hosts.
    #[serde(rename = "registryType", default = "default_registry_type")]
    pub registry_type: String,
}

impl fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegistryCredential")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("token", &redact(&self.token))
            .field("registry_type", &self.registry_type)
            .finish()
    }
}

/// Registry name (e.g. `ghcr.io`) → credentials.
pub type RegistryCredentialMap = HashMap<String, RegistryCredential>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::CtlErrorKind;
    use serde_json::json;

    fn invalid<T: fmt::Debug>(r: Result<T>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::InvalidArgument, "{e}");
        e.message().to_string()
    }

    #[test]
    fn ctl_response_decodes_internal_failure_form() {
        let r: CtlResponse<Host> =
            serde_json::from_value(json!({"success": false, "error": "boom"})).unwrap();
        assert!(!r.success);
        assert_eq!(r.message, "boom");
        assert!(r.response.is_none());
    }

    #[test]
    fn ctl_response_decodes_normal_and_null_response() {
        let r: CtlResponse<Vec<Link>> =
            serde_json::from_value(json!({"success": true, "message": "", "response": null}))
                .unwrap();
        assert!(r.success && r.response.is_none());
        let r: CtlResponse<HashMap<String, String>> = serde_json::from_value(
            json!({"success": true, "message": "m", "response": {"a": "b"}}),
        )
        .unwrap();
        assert_eq!(r.message, "m");
        assert_eq!(r.response.unwrap()["a"], "b");
        // `success` is what makes it a control reply
        assert!(serde_json::from_value::<CtlResponse<()>>(json!({"message": "x"})).is_err());
    }

    #[test]
    fn ctl_response_encodes_like_upstream() {
        let r = CtlResponse::<()> {
            success: true,
            message: "ok".into(),
            response: None,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"success": true, "message": "ok"})
        );
    }

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

    #[test]
    fn link_builder_defaults_name_and_validates() {
        let ok = || {
            Link::builder()
                .source_id("s")
                .target("t")
                .wit_namespace("wasi")
                .wit_package("keyvalue")
                .interfaces(["store"])
        };
        assert_eq!(ok().build().unwrap().name, "default");
        assert!(invalid(ok().name(" ").build()).contains("name"));
        assert!(invalid(ok().source_id("").build()).contains("source_id"));
        assert!(invalid(ok().target("").build()).contains("target"));
        assert!(invalid(ok().wit_namespace("").build()).contains("wit_namespace"));
        assert!(invalid(ok().wit_package(" ").build()).contains("wit_package"));
        assert!(invalid(ok().interfaces(Vec::<String>::new()).build()).contains("interfaces"));
        assert!(invalid(ok().interfaces([""]).build()).contains("interface"));
        assert!(invalid(ok().target_config([" "]).build()).contains("config"));
    }

    #[test]
    fn delete_link_builder_defaults_name_and_validates() {
        let ok = || {
            DeleteInterfaceLinkDefinitionRequest::builder()
                .source_id("s")
                .wit_namespace("wasi")
                .wit_package("keyvalue")
        };
        assert_eq!(ok().build().unwrap().name, "default");
        assert!(invalid(ok().name("").build()).contains("name"));
        assert!(invalid(ok().source_id(" ").build()).contains("source_id"));
        assert!(invalid(ok().wit_namespace("").build()).contains("wit_namespace"));
        assert!(invalid(ok().wit_package("").build()).contains("wit_package"));
    }

    #[test]
    fn registry_credential_debug_redacts_secrets() {
        let c = RegistryCredential {
            username: Some("alice".into()),
            password: Some("hunter2-secret".into()),
            token: Some("tok-secret".into()),
            registry_type: "oci".into(),
        };
        let dbg = format!("{c:?}");
        assert!(dbg.contains("alice"));
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("tok-secret"),
            "{dbg}"
        );
    }

    #[test]
    fn registry_type_defaults_to_oci() {
        let c: RegistryCredential = serde_json::from_value(json!({"token": "t"})).unwrap();
        assert_eq!(c.registry_type, "oci");
    }
}
