//! Link puts and deletes, read by the provider itself, in the order the host sent them.
//!
//! The provider SDK (0.17.1) keeps one record per *source* component and drops a link put
//! when it holds one with the same namespace, package and name, even when the config
//! changed ("Ignoring duplicate link put"). So a changed link would never reach the
//! provider through the SDK's callback. The provider therefore subscribes to the subjects the
//! host publishes link puts and deletes on (`wasmbus.rpc.{lattice}.{id}.linkdefs.put`, `id`
//! being the provider's xkey, as the SDK does; `…{provider_id}.linkdefs.del`) before the SDK
//! starts, applies the links of its start-up data itself, and takes every put and delete from
//! that one subscription; the SDK's link callbacks do nothing. An identical re-put changes
//! nothing (the link table compares), so reading every put costs nothing extra.
//!
//! Deletes come through the same subscription as puts because order matters: the host
//! publishes a link's delete while answering the control request, and the next put of that
//! link only after a later request. When deletes went through the SDK's loop and puts came
//! here, a delete could be applied after the put that followed it and drop a link the host
//! has. One subscription delivers both in the order the server routed them. When the
//! provider has an xkey, puts and deletes name different ids, so the subscription is
//! `wasmbus.rpc.{lattice}.*.linkdefs.*` and the messages for others are skipped (the host
//! also sends puts to the source and target ids, for providers older than xkeys).
//!
//! Links from the provider to a component (`interfaces: [lattice-events]`, the direction
//! upstream providers that call into components are linked in) arrive on the same subjects
//! and become outgoing entries of the table: events only, settings from the link's source
//! config.

use std::collections::HashMap;

use futures::StreamExt as _;
use nkeys::XKey;
use tracing::{debug, info, warn};
use wasmcloud_provider_sdk::core::secrets::SecretValue;
use wasmcloud_provider_sdk::core::HostData;
use wasmcloud_provider_sdk::InterfaceLinkDefinition;

use super::config::{secret_strings, Secret};
use super::events::EVENTS_KEY;
use super::links::{LinkKey, LinkTable};
use super::watch::HostView;

/// The interface a link from the provider to a component names to receive events.
pub const EVENTS_INTERFACE: &str = "lattice-events";

/// The provider's keys for link secrets, from its start-up data.
#[derive(Clone)]
pub struct LinkKeys {
    provider: Option<std::sync::Arc<XKey>>,
    host: Option<std::sync::Arc<XKey>>,
    /// Where the host publishes this provider's link puts.
    pub put_subject: String,
    /// Where the host publishes this provider's link deletes.
    pub del_subject: String,
    /// The one subscription that carries both, in order (see the module's notes).
    pub subscription: String,
    /// The provider's id (target of the links to it).
    pub provider_id: String,
}

impl LinkKeys {
    /// From the host's data (an empty key means the host sends no secrets).
    #[must_use]
    pub fn from_host_data(data: &HostData) -> Self {
        let provider = (!data.provider_xkey_private_key.is_empty())
            .then(|| XKey::from_seed(&data.provider_xkey_private_key).ok())
            .flatten()
            .map(std::sync::Arc::new);
        let host = (!data.host_xkey_public_key.is_empty())
            .then(|| XKey::from_public_key(&data.host_xkey_public_key).ok())
            .flatten()
            .map(std::sync::Arc::new);
        // the SDK's rule: the xkey when both keys are given, else the provider id
        let id = match (&provider, &host) {
            (Some(p), Some(_)) => p.public_key(),
            _ => data.provider_key.clone(),
        };
        let prefix = &data.lattice_rpc_prefix;
        let subscription = if id == data.provider_key {
            format!("wasmbus.rpc.{prefix}.{id}.linkdefs.*")
        } else {
            format!("wasmbus.rpc.{prefix}.*.linkdefs.*")
        };
        Self {
            provider,
            host,
            put_subject: format!("wasmbus.rpc.{prefix}.{id}.linkdefs.put"),
            del_subject: format!("wasmbus.rpc.{prefix}.{}.linkdefs.del", data.provider_key),
            subscription,
            provider_id: data.provider_key.clone(),
        }
    }

    /// Link secrets as sealed by the host, decrypted (none: empty).
    fn open_secrets(&self, sealed: Option<&[u8]>) -> Result<HashMap<String, Secret>, String> {
        let Some(sealed) = sealed else {
            return Ok(HashMap::new());
        };
        let (Some(provider), Some(host)) = (&self.provider, &self.host) else {
            return Err("the link carries secrets but the host gave the provider no keys".into());
        };
        let opened = provider.open(sealed, host).map_err(|_| {
            "the link's secrets cannot be decrypted with this provider's key".to_string()
        })?;
        let values: HashMap<String, SecretValue> = serde_json::from_slice(&opened)
            .map_err(|_| "the link's secrets are not a map of secret values".to_string())?;
        Ok(secret_strings(&values))
    }

    /// Applies one link definition to the table: a link to this provider with its target
    /// config and secrets; a link from it to a component's `lattice-events` with its source
    /// config and secrets (receiving every event type unless they set `events`).
    pub fn apply(&self, table: &LinkTable, ld: &InterfaceLinkDefinition) {
        let (key, config, sealed) = if ld.target == self.provider_id {
            let key = LinkKey::new(&ld.source_id, &ld.name);
            (key, ld.target_config.clone(), ld.target_secrets.as_deref())
        } else if ld.source_id == self.provider_id
            && ld.interfaces.iter().any(|i| i == EVENTS_INTERFACE)
        {
            let mut config = ld.source_config.clone();
            if !config.keys().any(|k| k.eq_ignore_ascii_case(EVENTS_KEY)) {
                config.insert(EVENTS_KEY.to_string(), "*".to_string());
            }
            let key = LinkKey::outgoing(&ld.target, &ld.name);
            (key, config, ld.source_secrets.as_deref())
        } else {
            debug!(source_id = %ld.source_id, target = %ld.target, "link put this provider does not serve; ignored");
            return;
        };
        match self.open_secrets(sealed) {
            Ok(secrets) => {
                table.put(key, config, secrets);
            }
            // a put whose secrets cannot be read is not applied: the previous settings stay
            Err(why) => warn!(link = %key, "{why}; link put not applied"),
        }
    }

    /// Removes the link a delete names from the table (as the SDK decides the direction:
    /// from the provider first, then to it); returns its key and whether it was held.
    pub fn remove(
        &self,
        table: &LinkTable,
        ld: &InterfaceLinkDefinition,
    ) -> Option<(LinkKey, bool)> {
        let key = if ld.source_id == self.provider_id {
            LinkKey::outgoing(&ld.target, &ld.name)
        } else if ld.target == self.provider_id {
            LinkKey::new(&ld.source_id, &ld.name)
        } else {
            return None;
        };
        let existed = table.remove(&key).is_some();
        Some((key, existed))
    }
}

/// Applies link puts and deletes from `sub` to `table`, in order, until the subscription
/// ends. After each delete of a link to this provider, `view` watches for a put of it that the
/// host published before that delete (see [`HostView::watch_overtaken_delete`]).
pub fn spawn(keys: LinkKeys, table: LinkTable, mut sub: async_nats::Subscriber, view: HostView) {
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let put = *msg.subject == *keys.put_subject;
            if !put && *msg.subject != *keys.del_subject {
                continue; // another provider's, or the copy of a put sent to the old subject
            }
            let ld = match serde_json::from_slice::<InterfaceLinkDefinition>(&msg.payload) {
                Ok(ld) => ld,
                Err(error) => {
                    warn!(%error, put, "malformed link message from the host; ignored");
                    continue;
                }
            };
            if put {
                keys.apply(&table, &ld);
            } else if let Some((key, existed)) = keys.remove(&table, &ld) {
                info!(link = %key, existed, "link deleted");
                if !key.outgoing {
                    view.watch_overtaken_delete(table.clone(), key);
                }
            }
        }
        debug!("link subscription ended");
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::config::ProviderDefaults;
    use crate::provider::events::EventHub;

    fn keys() -> (LinkKeys, XKey) {
        let provider = XKey::new();
        let host = XKey::new();
        let host_public = XKey::from_public_key(&host.public_key()).expect("public key");
        let keys = LinkKeys {
            provider: Some(std::sync::Arc::new(provider)),
            host: Some(std::sync::Arc::new(host_public)),
            put_subject: "unused".into(),
            del_subject: "unused".into(),
            subscription: "unused".into(),
            provider_id: "PROV".into(),
        };
        (keys, host)
    }

    fn table() -> LinkTable {
        LinkTable::new(
            ProviderDefaults::default(),
            EventHub::new(std::sync::Arc::new(|_| {
                Box::pin(async { Err(anyhow::anyhow!("no components in this test")) })
            })),
        )
    }

    fn link(source: &str, target: &str, interfaces: &[&str]) -> InterfaceLinkDefinition {
        InterfaceLinkDefinition {
            source_id: source.into(),
            target: target.into(),
            name: "default".into(),
            wit_namespace: "wasmcloud".into(),
            wit_package: "lattice-control".into(),
            interfaces: interfaces.iter().map(|i| i.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn target_and_outgoing_links_with_their_own_config_and_secrets() {
        let (keys, host) = keys();
        let table = table();
        let recipient =
            XKey::from_public_key(&keys.provider.as_ref().expect("key").public_key()).expect("key");
        let secrets = serde_json::to_vec(&HashMap::from([(
            "timeout_ms".to_string(),
            SecretValue::String("900".into()),
        )]))
        .expect("json");
        let mut incoming = link("comp", "PROV", &["lattice-control"]);
        incoming.target_config = HashMap::from([("lattice".to_string(), "a".to_string())]);
        incoming.target_secrets = Some(host.seal(&secrets, &recipient).expect("seal"));
        keys.apply(&table, &incoming);
        let (held, generation) = table
            .secrets(&LinkKey::new("comp", "default"))
            .expect("incoming link held");
        assert_eq!(held.get("timeout_ms").map(Secret::expose), Some("900"));

        // a link from the provider to a component's lattice-events: events default to all
        let mut outgoing = link("PROV", "comp", &["lattice-events"]);
        outgoing.source_config = HashMap::from([("lattice".to_string(), "b".to_string())]);
        keys.apply(&table, &outgoing);
        let out = table
            .resolved(&LinkKey::outgoing("comp", "default"))
            .expect("outgoing link held");
        assert_eq!(
            (out.lattice(), out.event_types()),
            ("b", vec!["*".to_string()])
        );
        // the incoming link of the same component and name is untouched
        assert_eq!(
            table.generation(&LinkKey::new("comp", "default")),
            Some(generation)
        );

        // links this provider does not serve, and secrets it cannot open, change nothing
        keys.apply(&table, &link("other", "ELSEWHERE", &["lattice-control"]));
        keys.apply(&table, &link("PROV", "comp2", &["something-else"]));
        let mut forged = incoming.clone();
        forged.target_config = HashMap::from([("lattice".to_string(), "forged".to_string())]);
        forged.target_secrets = Some(XKey::new().seal(&secrets, &recipient).expect("seal"));
        keys.apply(&table, &forged);
        assert_eq!(
            table
                .resolved(&LinkKey::new("comp", "default"))
                .expect("held")
                .lattice(),
            "a"
        );
        assert_eq!(table.counts().0, 2);
    }

    #[test]
    fn deletes_remove_by_direction_and_share_the_puts_subscription() {
        let (keys, _) = keys();
        let table = table();
        keys.apply(&table, &link("comp", "PROV", &["lattice-control"]));
        keys.apply(&table, &link("PROV", "comp", &["lattice-events"]));
        // the incoming link first: the outgoing one of the same component and name stays
        assert_eq!(
            keys.remove(&table, &link("comp", "PROV", &["lattice-control"])),
            Some((LinkKey::new("comp", "default"), true))
        );
        assert_eq!(table.counts().0, 1);
        assert_eq!(
            keys.remove(&table, &link("PROV", "comp", &["lattice-events"])),
            Some((LinkKey::outgoing("comp", "default"), true))
        );
        // a second delete finds nothing; another provider's link is not this one's
        assert_eq!(
            keys.remove(&table, &link("comp", "PROV", &[])),
            Some((LinkKey::new("comp", "default"), false))
        );
        assert_eq!(keys.remove(&table, &link("comp", "OTHER", &[])), None);

        // with an xkey, puts and deletes name different ids: one subscription covers both
        let provider = XKey::new();
        let data = HostData {
            lattice_rpc_prefix: "lat".into(),
            provider_key: "VPROV".into(),
            provider_xkey_private_key: provider.seed().expect("seed"),
            host_xkey_public_key: XKey::new().public_key(),
            ..HostData::default()
        };
        let with_xkey = LinkKeys::from_host_data(&data);
        let xkey = provider.public_key();
        assert_eq!(
            with_xkey.put_subject,
            format!("wasmbus.rpc.lat.{xkey}.linkdefs.put")
        );
        assert_eq!(with_xkey.del_subject, "wasmbus.rpc.lat.VPROV.linkdefs.del");
        assert_eq!(with_xkey.subscription, "wasmbus.rpc.lat.*.linkdefs.*");
        let without = LinkKeys::from_host_data(&HostData {
            lattice_rpc_prefix: "lat".into(),
            provider_key: "VPROV".into(),
            ..HostData::default()
        });
        assert_eq!(without.put_subject, "wasmbus.rpc.lat.VPROV.linkdefs.put");
        assert_eq!(without.subscription, "wasmbus.rpc.lat.VPROV.linkdefs.*");
    }
}
