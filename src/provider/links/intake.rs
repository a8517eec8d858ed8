//! The host's link messages: link puts and deletes, read by the provider itself, in the
//! order the host sent them, and the links of the provider's start-up data, applied as puts
//! through the same path.
//!
//! The provider SDK (0.17.1) keeps one record per *source* component and drops a link put
//! when it holds one with the same namespace, package and name, even when the config
//! changed ("Ignoring duplicate link put"). So a changed link would never reach the
//! provider through the SDK's callback. The provider therefore subscribes to the subjects the
//! host publishes link puts and deletes on (`wasmbus.rpc.{lattice}.{id}.linkdefs.put`, `id`
//! being the provider's xkey, as the SDK does; `…{provider_id}.linkdefs.del`) before the SDK
//! starts, and takes every put and delete from that one subscription; the SDK's link
//! callbacks do nothing. An identical re-put changes nothing (the link table compares), so
//! reading every put costs nothing extra.
//!
//! The links of the start-up data (those the host had when it started the provider: every
//! restart of a linked provider) are puts like any other: [`start`] applies them through the
//! same code as a put read from the subscription, before it reads the first message. Nothing
//! they start needs the SDK to run yet (event deliveries wait for its connection).
//!
//! Deletes come through the same subscription as puts because order matters: the host
//! publishes a link's delete while answering the control request, and the next put of that
//! link only after a later request. Were deletes taken from the SDK's loop and puts from
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

use super::host_view::HostView;
use super::{LinkKey, LinkTable};
use crate::provider::config::{secret_strings, Secret};
use crate::provider::events::EVENTS_KEY;
use crate::provider::supervise::{self, Ended};

/// The interface a link from the provider to a component names to receive events.
pub const EVENTS_INTERFACE: &str = "lattice-events";

/// How the provider reads the host's link messages: the subjects they come on, its keys for
/// the secrets they carry, and its id (which end of a link it is). From its start-up data.
#[derive(Clone)]
pub struct LinkIntake {
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

impl LinkIntake {
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

/// What a link message asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Put,
    Delete,
}

impl LinkIntake {
    /// Applies one link message: a put to the table, or a delete, after which `view` watches
    /// for a put of the link that the host published before that delete (see
    /// [`HostView::watch_overtaken_delete`]).
    fn take(
        &self,
        table: &LinkTable,
        view: &HostView,
        change: Change,
        ld: &InterfaceLinkDefinition,
    ) {
        match change {
            Change::Put => self.apply(table, ld),
            Change::Delete => {
                if let Some((key, existed)) = self.remove(table, ld) {
                    info!(link = %key, existed, "link deleted");
                    if !key.outgoing {
                        view.watch_overtaken_delete(table.clone(), key);
                    }
                }
            }
        }
    }

    /// The change a message from the subscription asks for (`None`: not for this provider,
    /// or malformed).
    fn read(&self, msg: &async_nats::Message) -> Option<(Change, InterfaceLinkDefinition)> {
        let change = if *msg.subject == *self.put_subject {
            Change::Put
        } else if *msg.subject == *self.del_subject {
            Change::Delete
        } else {
            return None; // another provider's, or the copy of a put sent to the provider id
        };
        match serde_json::from_slice::<InterfaceLinkDefinition>(&msg.payload) {
            Ok(ld) => Some((change, ld)),
            Err(error) => {
                warn!(%error, ?change, "malformed link message from the host; ignored");
                None
            }
        }
    }
}

/// Starts taking the host's link messages into `table`: the links of the provider's start-up
/// data first, as puts (before this returns), then every put and delete from `sub`, in
/// order, in a supervised task. `sub` is the subscription to [`LinkIntake::subscription`],
/// made before the SDK started so that no put the SDK could see is missed. Should the task
/// end while the table is open (the subscription closed, a panic), it is logged and started
/// again with a new subscription on `nats`.
pub fn start(
    intake: LinkIntake,
    table: LinkTable,
    startup: &[InterfaceLinkDefinition],
    nats: async_nats::Client,
    sub: async_nats::Subscriber,
    view: HostView,
) -> tokio::task::JoinHandle<()> {
    for ld in startup {
        intake.take(&table, &view, Change::Put, ld);
    }
    let mut first = Some(sub);
    supervise::spawn("link intake".into(), move || {
        let (intake, table, view, nats) =
            (intake.clone(), table.clone(), view.clone(), nats.clone());
        let sub = first.take();
        async move {
            let mut sub = match sub {
                Some(sub) => sub,
                None => match nats.subscribe(intake.subscription.clone()).await {
                    Ok(sub) => {
                        warn!("subscribed to link puts and deletes again; one sent while the intake was down applies when its link is put again");
                        sub
                    }
                    Err(error) => {
                        return Ended::Unexpectedly(format!(
                            "cannot subscribe to link puts and deletes: {error}"
                        ))
                    }
                },
            };
            while let Some(msg) = sub.next().await {
                if let Some((change, ld)) = intake.read(&msg) {
                    intake.take(&table, &view, change, &ld);
                }
            }
            if table.is_closed() {
                debug!("link subscription ended (the provider is shutting down)");
                Ended::Done
            } else {
                Ended::Unexpectedly("the link subscription ended".into())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::config::ProviderDefaults;
    use crate::provider::events::EventHub;

    fn intake() -> (LinkIntake, XKey) {
        let provider = XKey::new();
        let host = XKey::new();
        let host_public = XKey::from_public_key(&host.public_key()).expect("public key");
        let intake = LinkIntake {
            provider: Some(std::sync::Arc::new(provider)),
            host: Some(std::sync::Arc::new(host_public)),
            put_subject: "unused".into(),
            del_subject: "unused".into(),
            subscription: "unused".into(),
            provider_id: "PROV".into(),
        };
        (intake, host)
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

    async fn publish(nats: &async_nats::Client, subject: &str, ld: &InterfaceLinkDefinition) {
        let body = serde_json::to_vec(ld).expect("json");
        nats.publish(subject.to_string(), body.into())
            .await
            .expect("publish");
    }

    /// The links of the start-up data and the messages read later take one path: the
    /// start-up links are in the table when `start` returns, before any message is read; a
    /// put and a delete from the subscription follow, in order.
    #[tokio::test]
    async fn start_up_links_then_host_messages_through_one_path() {
        use crate::test_nats::{free_port, NatsServer};
        let server = NatsServer::start_on(free_port());
        let nats = async_nats::connect(server.url()).await.expect("connect");
        let (mut intake, _) = intake();
        intake.put_subject = "wasmbus.rpc.lat.PROV.linkdefs.put".into();
        intake.del_subject = "wasmbus.rpc.lat.PROV.linkdefs.del".into();
        intake.subscription = "wasmbus.rpc.lat.PROV.linkdefs.*".into();
        let sub = nats
            .subscribe(intake.subscription.clone())
            .await
            .expect("subscribe");
        let table = table();
        let view = HostView::new(nats.clone(), "lat", "wasmbus.ctl", "PROV");
        let startup = [
            link("comp", "PROV", &["lattice-control"]),
            link("PROV", "comp", &["lattice-events"]),
        ];
        let task = start(
            intake.clone(),
            table.clone(),
            &startup,
            nats.clone(),
            sub,
            view,
        );
        let mut held = table.keys();
        held.sort();
        assert_eq!(
            held,
            vec![
                LinkKey::new("comp", "default"),
                LinkKey::outgoing("comp", "default")
            ]
        );

        publish(&nats, &intake.put_subject, &link("comp2", "PROV", &[])).await;
        publish(&nats, &intake.del_subject, &link("comp", "PROV", &[])).await;
        nats.flush().await.expect("flush");
        let want = vec![
            LinkKey::outgoing("comp", "default"),
            LinkKey::new("comp2", "default"),
        ];
        let applied = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                let mut held = table.keys();
                held.sort();
                if held == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(applied.is_ok(), "held {:?}, want {want:?}", table.keys());
        task.abort();
    }

    #[test]
    fn target_and_outgoing_links_with_their_own_config_and_secrets() {
        let (intake, host) = intake();
        let table = table();
        let recipient = XKey::from_public_key(&intake.provider.as_ref().expect("key").public_key())
            .expect("key");
        let secrets = serde_json::to_vec(&HashMap::from([(
            "timeout_ms".to_string(),
            SecretValue::String("900".into()),
        )]))
        .expect("json");
        let mut incoming = link("comp", "PROV", &["lattice-control"]);
        incoming.target_config = HashMap::from([("lattice".to_string(), "a".to_string())]);
        incoming.target_secrets = Some(host.seal(&secrets, &recipient).expect("seal"));
        intake.apply(&table, &incoming);
        let (held, generation) = table
            .secrets(&LinkKey::new("comp", "default"))
            .expect("incoming link held");
        assert_eq!(held.get("timeout_ms").map(Secret::expose), Some("900"));

        // a link from the provider to a component's lattice-events: events default to all
        let mut outgoing = link("PROV", "comp", &["lattice-events"]);
        outgoing.source_config = HashMap::from([("lattice".to_string(), "b".to_string())]);
        intake.apply(&table, &outgoing);
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
        intake.apply(&table, &link("other", "ELSEWHERE", &["lattice-control"]));
        intake.apply(&table, &link("PROV", "comp2", &["something-else"]));
        let mut forged = incoming.clone();
        forged.target_config = HashMap::from([("lattice".to_string(), "forged".to_string())]);
        forged.target_secrets = Some(XKey::new().seal(&secrets, &recipient).expect("seal"));
        intake.apply(&table, &forged);
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
        let (intake, _) = intake();
        let table = table();
        intake.apply(&table, &link("comp", "PROV", &["lattice-control"]));
        intake.apply(&table, &link("PROV", "comp", &["lattice-events"]));
        // the incoming link first: the outgoing one of the same component and name stays
        assert_eq!(
            intake.remove(&table, &link("comp", "PROV", &["lattice-control"])),
            Some((LinkKey::new("comp", "default"), true))
        );
        assert_eq!(table.counts().0, 1);
        assert_eq!(
            intake.remove(&table, &link("PROV", "comp", &["lattice-events"])),
            Some((LinkKey::outgoing("comp", "default"), true))
        );
        // a second delete finds nothing; another provider's link is not this one's
        assert_eq!(
            intake.remove(&table, &link("comp", "PROV", &[])),
            Some((LinkKey::new("comp", "default"), false))
        );
        assert_eq!(intake.remove(&table, &link("comp", "OTHER", &[])), None);

        // with an xkey, puts and deletes name different ids: one subscription covers both
        let provider = XKey::new();
        let data = HostData {
            lattice_rpc_prefix: "lat".into(),
            provider_key: "VPROV".into(),
            provider_xkey_private_key: provider.seed().expect("seed"),
            host_xkey_public_key: XKey::new().public_key(),
            ..HostData::default()
        };
        let with_xkey = LinkIntake::from_host_data(&data);
        let xkey = provider.public_key();
        assert_eq!(
            with_xkey.put_subject,
            format!("wasmbus.rpc.lat.{xkey}.linkdefs.put")
        );
        assert_eq!(with_xkey.del_subject, "wasmbus.rpc.lat.VPROV.linkdefs.del");
        assert_eq!(with_xkey.subscription, "wasmbus.rpc.lat.*.linkdefs.*");
        let without = LinkIntake::from_host_data(&HostData {
            lattice_rpc_prefix: "lat".into(),
            provider_key: "VPROV".into(),
            ..HostData::default()
        });
        assert_eq!(without.put_subject, "wasmbus.rpc.lat.VPROV.linkdefs.put");
        assert_eq!(without.subscription, "wasmbus.rpc.lat.VPROV.linkdefs.*");
    }
}
