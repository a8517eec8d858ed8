//! Conversions between the WIT types (`wasmcloud:lattice-control@1.2.0`) and the control
//! client's types. The only module that names both.
//!
//! Every record converts both ways (`From`), so the round trip is tested for each. Maps are
//! `list<tuple<string, string>>` in WIT; converting a map to WIT sorts it by key, so answers
//! are deterministic.

pub mod events;

use std::collections::HashMap;
use std::time::Duration;

use crate::bindings::wasmcloud::lattice_control::types as wit;
use crate::ctl::{self, CtlError, CtlErrorKind};

/// A WIT string map from any map (sorted by key).
pub fn map_to_wit<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> wit::StringMap {
    let mut out: wit::StringMap = map
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort();
    out
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

/// Longest per-call timeout a caller may ask for: the host abandons a provider call after 10 s.
pub const MAX_CALL_TIMEOUT_MS: u32 = 9_000;

/// A call's own timeout from WIT `timeout-ms`: none, or 1 to [`MAX_CALL_TIMEOUT_MS`] ms;
/// anything else is refused before any traffic.
pub fn call_timeout(ms: Option<u32>) -> Result<Option<Duration>, CtlError> {
    match ms {
        Some(0) => Err(CtlError::invalid_argument(
            "timeout-ms must be greater than zero",
        )),
        Some(ms) if ms > MAX_CALL_TIMEOUT_MS => Err(CtlError::invalid_argument(format!(
            "timeout-ms must be at most {MAX_CALL_TIMEOUT_MS} (the host gives a provider call 10 s)"
        ))),
        ms => Ok(millis(ms)),
    }
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

/// Both directions for records whose fields have the same names on both sides. Field
/// groups: `same` moves as is, `map` is a map (a sorted list in WIT), `opt_map` an optional
/// map, `list` a list of records converted one by one.
macro_rules! records {
    ($($wit:ident <=> $ctl:ident {
        same: [$($f:ident),*],
        map: [$($m:ident),*],
        opt_map: [$($o:ident),*],
        list: [$($l:ident),*] $(,)?
    })*) => {$(
        impl From<ctl::$ctl> for wit::$wit {
            fn from(v: ctl::$ctl) -> Self {
                Self {
                    $($m: map_to_wit(&v.$m),)*
                    $($o: opt_map_to_wit(&v.$o),)*
                    $($l: v.$l.into_iter().map(Into::into).collect(),)*
                    $($f: v.$f,)*
                }
            }
        }
        impl From<wit::$wit> for ctl::$ctl {
            fn from(v: wit::$wit) -> Self {
                Self {
                    $($m: v.$m.into_iter().collect(),)*
                    $($o: v.$o.map(|m| m.into_iter().collect()),)*
                    $($l: v.$l.into_iter().map(Into::into).collect(),)*
                    $($f: v.$f,)*
                }
            }
        }
    )*};
}

records! {
    Ack <=> Ack { same: [message], map: [], opt_map: [], list: [] }
    Host <=> Host {
        same: [id, friendly_name, lattice, version, uptime_seconds, uptime_human, rpc_host, ctl_host, js_domain],
        map: [labels], opt_map: [], list: [],
    }
    ComponentDescription <=> ComponentDescription {
        same: [id, image_ref, name, revision, max_instances],
        map: [], opt_map: [annotations, limits], list: [],
    }
    ProviderDescription <=> ProviderDescription {
        same: [id, image_ref, name, revision], map: [], opt_map: [annotations], list: [],
    }
    HostInventory <=> HostInventory {
        same: [host_id, friendly_name, version, uptime_human, uptime_seconds],
        map: [labels], opt_map: [], list: [components, providers],
    }
    Link <=> Link {
        same: [source_id, target, name, wit_namespace, wit_package, interfaces, source_config, target_config],
        map: [], opt_map: [], list: [],
    }
    DeleteLinkRequest <=> DeleteInterfaceLinkDefinitionRequest {
        same: [source_id, name, wit_namespace, wit_package], map: [], opt_map: [], list: [],
    }
    ComponentAuctionRequest <=> ComponentAuctionRequest {
        same: [component_ref, component_id], map: [constraints], opt_map: [], list: [],
    }
    ComponentAuctionAck <=> ComponentAuctionAck {
        same: [component_ref, component_id, host_id], map: [constraints], opt_map: [], list: [],
    }
    ProviderAuctionRequest <=> ProviderAuctionRequest {
        same: [provider_ref, provider_id], map: [constraints], opt_map: [], list: [],
    }
    ProviderAuctionAck <=> ProviderAuctionAck {
        same: [host_id, provider_ref, provider_id], map: [constraints], opt_map: [], list: [],
    }
    ScaleComponentCommand <=> ScaleComponentCommand {
        same: [component_ref, component_id, host_id, max_instances, config, allow_update],
        map: [], opt_map: [annotations, component_limits], list: [],
    }
    UpdateComponentCommand <=> UpdateComponentCommand {
        same: [component_id, host_id, new_component_ref], map: [], opt_map: [annotations], list: [],
    }
    StartProviderCommand <=> StartProviderCommand {
        same: [provider_id, provider_ref, host_id, config], map: [], opt_map: [annotations], list: [],
    }
    StopProviderCommand <=> StopProviderCommand {
        same: [host_id, provider_id], map: [], opt_map: [], list: [],
    }
    StopHostCommand <=> StopHostCommand { same: [host_id, timeout], map: [], opt_map: [], list: [] }
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

#[cfg(test)]
mod tests;
