//! Conversions between the WIT types (`wasmcloud:lattice-control@1.0.0`) and the control
//! client's types. The only module that names both.
//!
//! Every record converts both ways (`From`), so the round trip is tested for each. Maps are
//! `list<tuple<string, string>>` in WIT; converting a map to WIT sorts it by key, so answers
//! are deterministic.

pub mod events;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::ctl::{self, CtlError, CtlErrorKind};
use crate::provider::bindings::wasmcloud::lattice_control::types as wit;

/// A WIT string map from any map (sorted by key).
pub fn map_to_wit<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> wit::StringMap {
    let mut out: wit::StringMap = map
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort();
    out
}

/// A sorted map from a WIT string map (a repeated key: the last one wins).
pub fn btree_from_wit(map: wit::StringMap) -> BTreeMap<String, String> {
    map.into_iter().collect()
}

/// A hash map from a WIT string map (a repeated key: the last one wins).
pub fn hash_from_wit(map: wit::StringMap) -> HashMap<String, String> {
    map.into_iter().collect()
}

fn opt_map_to_wit<'a, M>(map: &'a Option<M>) -> Option<wit::StringMap>
where
    &'a M: IntoIterator<Item = (&'a String, &'a String)>,
{
    map.as_ref().map(map_to_wit)
}

/// A duration from an optional WIT millisecond count.
pub fn millis(ms: Option<u32>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(u64::from(ms)))
}

impl From<CtlError> for wit::CtlError {
    fn from(e: CtlError) -> Self {
        let m = e.message().to_string();
        match e.kind() {
            CtlErrorKind::Timeout => Self::Timeout(m),
            CtlErrorKind::NoResponders => Self::NoResponders(m),
            CtlErrorKind::Transport => Self::Transport(m),
            CtlErrorKind::Decode => Self::Decode(m),
            CtlErrorKind::InvalidArgument => Self::InvalidArgument(m),
            CtlErrorKind::Rejected => Self::Rejected(m),
        }
    }
}

/// The stable kind name of a WIT error (tracing `outcome` field).
pub fn error_kind(e: &wit::CtlError) -> &'static str {
    match e {
        wit::CtlError::Timeout(_) => "timeout",
        wit::CtlError::NoResponders(_) => "no-responders",
        wit::CtlError::Transport(_) => "transport",
        wit::CtlError::Decode(_) => "decode",
        wit::CtlError::InvalidArgument(_) => "invalid-argument",
        wit::CtlError::Rejected(_) => "rejected",
        wit::CtlError::NotLinked(_) => "not-linked",
        wit::CtlError::NotPermitted(_) => "not-permitted",
    }
}

impl From<wit::HostQuery> for ctl::HostQuery {
    fn from(q: wit::HostQuery) -> Self {
        Self {
            expected: q.expected.map(|n| n as usize),
            full_wait: q.full_wait,
            timeout: millis(q.timeout_ms),
        }
    }
}

impl From<ctl::HostQuery> for wit::HostQuery {
    fn from(q: ctl::HostQuery) -> Self {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        Self {
            expected: q.expected.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            full_wait: q.full_wait,
            timeout_ms: q.timeout.map(ms),
        }
    }
}

impl From<ctl::Ack> for wit::Ack {
    fn from(a: ctl::Ack) -> Self {
        Self { message: a.message }
    }
}

impl From<wit::Ack> for ctl::Ack {
    fn from(a: wit::Ack) -> Self {
        Self { message: a.message }
    }
}

impl From<ctl::Host> for wit::Host {
    fn from(h: ctl::Host) -> Self {
        Self {
            labels: map_to_wit(&h.labels),
            id: h.id,
            friendly_name: h.friendly_name,
            lattice: h.lattice,
            version: h.version,
            uptime_seconds: h.uptime_seconds,
            uptime_human: h.uptime_human,
            rpc_host: h.rpc_host,
            ctl_host: h.ctl_host,
            js_domain: h.js_domain,
        }
    }
}

impl From<wit::Host> for ctl::Host {
    fn from(h: wit::Host) -> Self {
        Self {
            labels: btree_from_wit(h.labels),
            id: h.id,
            friendly_name: h.friendly_name,
            lattice: h.lattice,
            version: h.version,
            uptime_seconds: h.uptime_seconds,
            uptime_human: h.uptime_human,
            rpc_host: h.rpc_host,
            ctl_host: h.ctl_host,
            js_domain: h.js_domain,
        }
    }
}

impl From<ctl::ComponentDescription> for wit::ComponentDescription {
    fn from(c: ctl::ComponentDescription) -> Self {
        Self {
            annotations: opt_map_to_wit(&c.annotations),
            limits: opt_map_to_wit(&c.limits),
            id: c.id,
            image_ref: c.image_ref,
            name: c.name,
            revision: c.revision,
            max_instances: c.max_instances,
        }
    }
}

impl From<wit::ComponentDescription> for ctl::ComponentDescription {
    fn from(c: wit::ComponentDescription) -> Self {
        Self {
            annotations: c.annotations.map(btree_from_wit),
            limits: c.limits.map(hash_from_wit),
            id: c.id,
            image_ref: c.image_ref,
            name: c.name,
            revision: c.revision,
            max_instances: c.max_instances,
        }
    }
}

impl From<ctl::ProviderDescription> for wit::ProviderDescription {
    fn from(p: ctl::ProviderDescription) -> Self {
        Self {
            annotations: opt_map_to_wit(&p.annotations),
            id: p.id,
            image_ref: p.image_ref,
            name: p.name,
            revision: p.revision,
        }
    }
}

impl From<wit::ProviderDescription> for ctl::ProviderDescription {
    fn from(p: wit::ProviderDescription) -> Self {
        Self {
            annotations: p.annotations.map(btree_from_wit),
            id: p.id,
            image_ref: p.image_ref,
            name: p.name,
            revision: p.revision,
        }
    }
}

impl From<ctl::HostInventory> for wit::HostInventory {
    fn from(i: ctl::HostInventory) -> Self {
        Self {
            labels: map_to_wit(&i.labels),
            host_id: i.host_id,
            friendly_name: i.friendly_name,
            version: i.version,
            uptime_human: i.uptime_human,
            uptime_seconds: i.uptime_seconds,
            components: i.components.into_iter().map(Into::into).collect(),
            providers: i.providers.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wit::HostInventory> for ctl::HostInventory {
    fn from(i: wit::HostInventory) -> Self {
        Self {
            labels: btree_from_wit(i.labels),
            host_id: i.host_id,
            friendly_name: i.friendly_name,
            version: i.version,
            uptime_human: i.uptime_human,
            uptime_seconds: i.uptime_seconds,
            components: i.components.into_iter().map(Into::into).collect(),
            providers: i.providers.into_iter().map(Into::into).collect(),
        }
    }
}

/// Records whose fields are the same on both sides, apart from the naming convention.
macro_rules! same_fields {
    ($($wit:ident <=> $ctl:ident { $($f:ident),* $(,)? })*) => {$(
        impl From<ctl::$ctl> for wit::$wit {
            fn from(v: ctl::$ctl) -> Self {
                Self { $($f: v.$f),* }
            }
        }
        impl From<wit::$wit> for ctl::$ctl {
            fn from(v: wit::$wit) -> Self {
                Self { $($f: v.$f),* }
            }
        }
    )*};
}

same_fields! {
    Link <=> Link {
        source_id, target, name, wit_namespace, wit_package, interfaces, source_config, target_config,
    }
    DeleteLinkRequest <=> DeleteInterfaceLinkDefinitionRequest {
        source_id, name, wit_namespace, wit_package,
    }
    StopProviderCommand <=> StopProviderCommand { host_id, provider_id }
    StopHostCommand <=> StopHostCommand { host_id, timeout }
}

/// Records with one constraints map and otherwise identical fields.
macro_rules! with_constraints {
    ($($wit:ident <=> $ctl:ident { $($f:ident),* $(,)? })*) => {$(
        impl From<ctl::$ctl> for wit::$wit {
            fn from(v: ctl::$ctl) -> Self {
                Self { constraints: map_to_wit(&v.constraints), $($f: v.$f),* }
            }
        }
        impl From<wit::$wit> for ctl::$ctl {
            fn from(v: wit::$wit) -> Self {
                Self { constraints: btree_from_wit(v.constraints), $($f: v.$f),* }
            }
        }
    )*};
}

with_constraints! {
    ComponentAuctionRequest <=> ComponentAuctionRequest { component_ref, component_id }
    ComponentAuctionAck <=> ComponentAuctionAck { component_ref, component_id, host_id }
    ProviderAuctionRequest <=> ProviderAuctionRequest { provider_ref, provider_id }
    ProviderAuctionAck <=> ProviderAuctionAck { host_id, provider_ref, provider_id }
}

impl From<wit::ScaleComponentCommand> for ctl::ScaleComponentCommand {
    fn from(c: wit::ScaleComponentCommand) -> Self {
        Self {
            component_ref: c.component_ref,
            component_id: c.component_id,
            host_id: c.host_id,
            max_instances: c.max_instances,
            annotations: c.annotations.map(btree_from_wit),
            component_limits: c.component_limits.map(hash_from_wit),
            config: c.config,
            allow_update: c.allow_update,
        }
    }
}

impl From<ctl::ScaleComponentCommand> for wit::ScaleComponentCommand {
    fn from(c: ctl::ScaleComponentCommand) -> Self {
        Self {
            annotations: opt_map_to_wit(&c.annotations),
            component_limits: opt_map_to_wit(&c.component_limits),
            component_ref: c.component_ref,
            component_id: c.component_id,
            host_id: c.host_id,
            max_instances: c.max_instances,
            config: c.config,
            allow_update: c.allow_update,
        }
    }
}

impl From<wit::UpdateComponentCommand> for ctl::UpdateComponentCommand {
    fn from(c: wit::UpdateComponentCommand) -> Self {
        Self {
            component_id: c.component_id,
            host_id: c.host_id,
            new_component_ref: c.new_component_ref,
            annotations: c.annotations.map(btree_from_wit),
        }
    }
}

impl From<ctl::UpdateComponentCommand> for wit::UpdateComponentCommand {
    fn from(c: ctl::UpdateComponentCommand) -> Self {
        Self {
            annotations: opt_map_to_wit(&c.annotations),
            component_id: c.component_id,
            host_id: c.host_id,
            new_component_ref: c.new_component_ref,
        }
    }
}

impl From<wit::StartProviderCommand> for ctl::StartProviderCommand {
    fn from(c: wit::StartProviderCommand) -> Self {
        Self {
            provider_id: c.provider_id,
            provider_ref: c.provider_ref,
            host_id: c.host_id,
            config: c.config,
            annotations: c.annotations.map(btree_from_wit),
        }
    }
}

impl From<ctl::StartProviderCommand> for wit::StartProviderCommand {
    fn from(c: ctl::StartProviderCommand) -> Self {
        Self {
            annotations: opt_map_to_wit(&c.annotations),
            provider_id: c.provider_id,
            provider_ref: c.provider_ref,
            host_id: c.host_id,
            config: c.config,
        }
    }
}

impl From<wit::RegistryCredential> for ctl::RegistryCredential {
    fn from(c: wit::RegistryCredential) -> Self {
        // WIT documents an empty type as the hosts' only supported one
        let registry_type = if c.registry_type.trim().is_empty() {
            "oci".to_string()
        } else {
            c.registry_type
        };
        Self {
            registry_type,
            username: c.username,
            password: c.password,
            token: c.token,
        }
    }
}

impl From<ctl::RegistryCredential> for wit::RegistryCredential {
    fn from(c: ctl::RegistryCredential) -> Self {
        Self {
            registry_type: c.registry_type,
            username: c.username,
            password: c.password,
            token: c.token,
        }
    }
}

/// Registry credentials from WIT (a repeated registry name: the last one wins).
pub fn registries_from_wit(
    list: Vec<(String, wit::RegistryCredential)>,
) -> ctl::RegistryCredentialMap {
    list.into_iter().map(|(k, v)| (k, v.into())).collect()
}

/// Registry credentials to WIT, sorted by registry name.
pub fn registries_to_wit(
    map: ctl::RegistryCredentialMap,
) -> Vec<(String, wit::RegistryCredential)> {
    let mut out: Vec<_> = map.into_iter().map(|(k, v)| (k, v.into())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests;
