//! Link puts, read by the provider itself.
//!
//! The provider SDK (0.17.1) keeps one record per *source* component and drops a link put
//! when it holds one with the same namespace, package and name, even when the config
//! changed ("Ignoring duplicate link put"). So a changed link would never reach the
//! provider through the SDK's callback. The provider therefore subscribes to the same
//! subject the host publishes link puts on (`wasmbus.rpc.{lattice}.{id}.linkdefs.put`,
//! `id` being the provider's xkey, as the SDK does) before the SDK starts, applies the links
//! of its start-up data itself, and takes every put from that subscription; the SDK's put
//! callback does nothing. An identical re-put changes nothing (the link table compares),
//! so reading every put costs nothing extra. Deletes still come through the SDK's callback:
//! it has no filter.

use std::collections::HashMap;

use futures::StreamExt as _;
use nkeys::XKey;
use tracing::{debug, warn};
use wasmcloud_provider_sdk::core::secrets::SecretValue;
use wasmcloud_provider_sdk::core::HostData;
use wasmcloud_provider_sdk::InterfaceLinkDefinition;

use super::config::{secret_strings, Secret};
use super::links::{LinkKey, LinkTable};

/// The provider's keys for link secrets, from its start-up data.
#[derive(Clone)]
pub struct LinkKeys {
    provider: Option<std::sync::Arc<XKey>>,
    host: Option<std::sync::Arc<XKey>>,
    /// Where the host publishes this provider's link puts.
    pub put_subject: String,
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
        Self {
            provider,
            host,
            put_subject: format!("wasmbus.rpc.{}.{id}.linkdefs.put", data.lattice_rpc_prefix),
            provider_id: data.provider_key.clone(),
        }
    }

    /// A link's target secrets, decrypted (none: empty).
    fn target_secrets(
        &self,
        ld: &InterfaceLinkDefinition,
    ) -> Result<HashMap<String, Secret>, String> {
        let Some(sealed) = ld.target_secrets.as_deref() else {
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

    /// Applies one link definition to the table: a link to this provider is put (a link
    /// from it is not handled here).
    pub fn apply(&self, table: &LinkTable, ld: &InterfaceLinkDefinition) {
        if ld.target != self.provider_id {
            debug!(source_id = %ld.source_id, target = %ld.target, "link put not targeting this provider; ignored");
            return;
        }
        let key = LinkKey::new(&ld.source_id, &ld.name);
        match self.target_secrets(ld) {
            Ok(secrets) => {
                table.put(key, ld.target_config.clone(), secrets);
            }
            // a put whose secrets cannot be read is not applied: the previous settings stay
            Err(why) => warn!(link = %key, "{why}; link put not applied"),
        }
    }
}

/// Reads link puts from `sub` into `table` until the subscription ends.
pub fn spawn(keys: LinkKeys, table: LinkTable, mut sub: async_nats::Subscriber) {
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            match serde_json::from_slice::<InterfaceLinkDefinition>(&msg.payload) {
                Ok(ld) => keys.apply(&table, &ld),
                Err(error) => warn!(%error, "malformed link put from the host; ignored"),
            }
        }
        debug!("link put subscription ended");
    });
}
