//! Repairs the link table when a link's delete overtakes its put.
//!
//! The SDK (0.17.1) reads link puts and link deletes from two subscriptions and hands them
//! to the provider through one `select!`, so a delete sent right after a put can reach the
//! provider first. The put then arrives for a link the host no longer has, and without a
//! repair it would stay (with its NATS connection) until the provider restarts: the link
//! churn test saw one such link in 10,000 put/delete cycles.
//!
//! A delete for a link the provider does not hold is the sign. The provider then asks the
//! host a few times over the next seconds (`get_links` on its own lattice) and drops the
//! link again if it arrived meanwhile and two answers at least 2 s apart do not list it (a
//! host learns links from a KV watch, so one answer may lag a fresh put). The check runs only
//! for those keys, so a link the host has is never touched; a legitimate delete followed by
//! a new put is kept because the host lists it.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info};

use super::connections::LinkKey;
use super::LatticeControlProvider;
use crate::ctl::{self, ClientBuilder};

/// When, after the overtaking delete, the provider looks for a late put (each wait follows
/// the previous check: at 0.3, 2.3, 7.3 and 17.3 s).
const CHECKS: [Duration; 4] = [
    Duration::from_millis(300),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Bound of one `get_links` request of a check.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the provider's links come from: its own lattice, on the host's connection.
#[derive(Clone)]
pub struct HostView {
    /// Control client for the lattice the provider runs in.
    pub ctl: ctl::Client,
    /// This provider's id (the `target` of its links).
    pub provider_id: Arc<str>,
    /// The SDK's record of links to this provider, keyed by source id; it ignores a put for
    /// a key it holds, so a link dropped here must go there too.
    pub sdk_links: Arc<
        tokio::sync::RwLock<
            std::collections::HashMap<String, wasmcloud_provider_sdk::InterfaceLinkDefinition>,
        >,
    >,
}

impl HostView {
    /// A view over the host's connection; `topic_prefix` is the hosts' control prefix.
    #[must_use]
    pub fn new(
        connection: &wasmcloud_provider_sdk::ProviderConnection,
        topic_prefix: &str,
    ) -> Self {
        Self {
            ctl: ClientBuilder::new((*connection.nats).clone())
                .lattice(&*connection.lattice)
                .topic_prefix(topic_prefix)
                .timeout(REQUEST_TIMEOUT)
                .build(),
            provider_id: Arc::clone(&connection.provider_id),
            sdk_links: Arc::clone(&connection.target_links),
        }
    }
}

/// Whether the host's links include `key` as a link to `provider_id`.
#[must_use]
pub fn host_has(links: &[ctl::Link], key: &LinkKey, provider_id: &str) -> bool {
    links
        .iter()
        .any(|l| l.source_id == key.source_id && l.name == key.link_name && l.target == provider_id)
}

impl LatticeControlProvider {
    /// Called for a delete of a link the provider does not hold: its put may still come.
    pub(crate) fn watch_overtaken_delete(&self, key: LinkKey) {
        let Some(view) = self.host_view() else {
            debug!(source_id = %key.source_id, link_name = %key.link_name,
                "delete of an unknown link before the provider is running; not checked");
            return;
        };
        let provider = self.clone();
        tokio::spawn(async move {
            // the previous check found the link held and the host without it
            let mut absent_before = false;
            for wait in CHECKS {
                tokio::time::sleep(wait).await;
                if provider.is_shut_down() {
                    return;
                }
                // held now (the late put arrived): is it still the host's?
                if !provider.links().contains(&key) {
                    absent_before = false;
                    continue;
                }
                let links = match view.ctl.get_links().await {
                    Ok(l) => l,
                    Err(error) => {
                        debug!(source_id = %key.source_id, link_name = %key.link_name, %error,
                            "cannot ask the host for its links; link not checked");
                        continue;
                    }
                };
                if host_has(&links, &key, &view.provider_id) {
                    return;
                }
                if absent_before {
                    provider.drop_link(&key, &view).await;
                    return;
                }
                absent_before = true;
            }
        });
    }

    /// Drops a link the host no longer has, here and in the SDK's record.
    async fn drop_link(&self, key: &LinkKey, view: &HostView) {
        let existed = self.forget_link(key);
        {
            let mut sdk = view.sdk_links.write().await;
            if sdk
                .get(&key.source_id)
                .is_some_and(|l| l.name == key.link_name)
            {
                sdk.remove(&key.source_id);
            }
        }
        if existed {
            info!(source_id = %key.source_id, link_name = %key.link_name,
                "dropped a link whose delete overtook its put (the host no longer has it)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(source: &str, name: &str, target: &str) -> ctl::Link {
        ctl::Link {
            source_id: source.into(),
            target: target.into(),
            name: name.into(),
            wit_namespace: "wasmcloud".into(),
            wit_package: "lattice-control".into(),
            interfaces: vec!["lattice-control".into()],
            ..ctl::Link::default()
        }
    }

    #[test]
    fn host_has_matches_source_name_and_target() {
        let links = vec![
            link("a", "default", "p"),
            link("b", "other", "p"),
            link("c", "default", "q"),
        ];
        assert!(host_has(&links, &LinkKey::new("a", "default"), "p"));
        assert!(host_has(&links, &LinkKey::new("b", "other"), "p"));
        // same source, another link name
        assert!(!host_has(&links, &LinkKey::new("b", "default"), "p"));
        // a link to another provider
        assert!(!host_has(&links, &LinkKey::new("c", "default"), "p"));
        assert!(!host_has(&[], &LinkKey::new("a", "default"), "p"));
    }
}
