//! What the provider learns about its links from the host, beyond the link messages.
//!
//! * **Overtaken deletes.** The host publishes a link's put from its KV watch and its
//!   delete from the control handler, so a delete sent right after a put (a link's first, or a
//!   changed one) can reach the provider first; the put then arrives for a link the host no
//!   longer has. After every delete the provider watches the key for the next 17 s: if a put
//!   of it arrives meanwhile, it asks the host (`get-links` on its own lattice) and drops the
//!   link again and two answers at least 2 s apart do not list it (a host learns links
//!   from a KV watch, so one answer may lag a fresh put). A link the host lists is never
//!   touched, and a newer put (a new generation) cancels the check. A key has one watch: a
//!   new delete of it replaces the running one (which it covers: a put that arrives after it
//!   is seen by the new watch, one that arrived before it is removed by that delete), so a
//!   link put and deleted again and again costs one sleeping task, not one per delete.
//! * **Named configs that change.** Editing a named config a link uses delivers nothing to a
//!   provider in wasmCloud 1.x (the link itself is unchanged, so the host sends no put; this
//!   is what a wadm manifest update of a link's config properties does). The provider
//!   follows `config_set` events of its own lattice: for each link it holds whose host
//!   record names that config, it reads the link's named configs again (`get-config`,
//!   merged in the link's order, later names win, as the host merges them) and applies them
//!   as a put, keeping the secrets last delivered (they cannot be read back).
//! * **Links the host has but never delivered.** A call from a component the provider holds
//!   no link for is explained when the host lists that link (most often it names secrets and
//!   the host has no secrets backend).
//!
//! All of this is control traffic (`get-links`, `get-config`, `config_set` events), which a
//! host sends and answers on its *control* connection. By default the view uses the
//! provider's RPC connection, which reaches the hosts where RPC and control share one NATS
//! account (`wash up`). Where they are separate accounts, the connection keys (`ctl_*`,
//! `nats_url`, …) in the provider's own config and secrets, for its own lattice, give the
//! view its connection ([`HostView::connecting`]): opened in a task, retried until it is up,
//! never awaited by a provider callback. Every task here is supervised
//! ([`crate::provider::supervise`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tracing::{debug, info, warn};

use super::{connect_named, redact_urls, LinkKey, LinkTable};
use crate::ctl::{self, ClientBuilder};
use crate::provider::config::ConnectionSettings;
use crate::provider::supervise::{self, Ended};

/// Name of the host view's NATS connection when it has one of its own (what `/connz` lists).
pub const HOST_VIEW_CONNECTION_NAME: &str = "lattice-control-provider-host-view";

/// Pauses between attempts to open the host view's own connection, in order; the last repeats.
const RECONNECT_PAUSES: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(15),
];

/// When, after the overtaking delete, the provider looks for a late put (each wait follows
/// the previous check: at 0.3, 2.3, 7.3 and 17.3 s). Public for the tests that hold a link
/// across every look.
pub const CHECKS: [Duration; 4] = [
    Duration::from_millis(300),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Bound of one request to the host.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the answer to "why is this caller not linked" is reused.
const EXPLAIN_TTL: Duration = Duration::from_secs(5);

/// Prefix of a named config that is a secret reference (`SECRET_…`); not readable.
const SECRET_PREFIX: &str = "SECRET_";

/// Answers of [`HostView::explain_not_linked`] by key, with when they were made.
type Explained = HashMap<LinkKey, (Instant, Option<String>)>;

/// The running overtaken-delete watches: per key, the watch's number and its task.
#[derive(Default)]
struct Watches {
    next: u64,
    running: HashMap<LinkKey, (u64, tokio::task::AbortHandle)>,
}

/// The host's view of this provider's links: its own lattice, on the provider's RPC
/// connection or on the control connection its own config names.
#[derive(Clone)]
pub struct HostView {
    /// Control client for the lattice the provider runs in, once connected.
    ctl: tokio::sync::watch::Receiver<Option<ctl::Client>>,
    /// This provider's id (the `target` of its links).
    pub provider_id: Arc<str>,
    explained: Arc<Mutex<Explained>>,
    watches: Arc<Mutex<Watches>>,
}

impl HostView {
    /// A view over `nats` (connected) for `lattice`; `topic_prefix` is the hosts' control
    /// prefix.
    #[must_use]
    pub fn new(
        nats: async_nats::Client,
        lattice: &str,
        topic_prefix: &str,
        provider_id: &str,
    ) -> Self {
        let (_, ctl) = tokio::sync::watch::channel(Some(client(nats, lattice, topic_prefix)));
        Self::with_client(ctl, provider_id)
    }

    /// A view on a connection of its own, `settings` (the control connection of the
    /// provider's lattice, from its own config): connected in a task, retried until it is
    /// up. Until then the view's checks wait for it, each bounded. Errors are logged without
    /// credentials (the connect error names the servers only).
    #[must_use]
    pub fn connecting(
        settings: ConnectionSettings,
        lattice: &str,
        topic_prefix: &str,
        provider_id: &str,
    ) -> Self {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let (lattice, topic_prefix) = (lattice.to_string(), topic_prefix.to_string());
        supervise::spawn("host view connect".into(), move || {
            let (tx, settings) = (tx.clone(), settings.clone());
            let (lattice, topic_prefix) = (lattice.clone(), topic_prefix.clone());
            async move {
                let mut attempt = 0;
                loop {
                    match connect_named(&settings, HOST_VIEW_CONNECTION_NAME).await {
                        Ok(nats) => {
                            info!(
                                servers = %redact_urls(&settings.urls),
                                "the provider's host view uses the control connection of its own config"
                            );
                            let _ = tx.send(Some(client(nats, &lattice, &topic_prefix)));
                            return Ended::Done;
                        }
                        Err(error) => {
                            warn!(%error, "cannot open the host view's control connection (from the provider's own config); retrying");
                        }
                    }
                    if tx.is_closed() {
                        return Ended::Done;
                    }
                    tokio::time::sleep(RECONNECT_PAUSES[attempt.min(RECONNECT_PAUSES.len() - 1)])
                        .await;
                    attempt += 1;
                }
            }
        });
        Self::with_client(rx, provider_id)
    }

    fn with_client(
        ctl: tokio::sync::watch::Receiver<Option<ctl::Client>>,
        provider_id: &str,
    ) -> Self {
        Self {
            ctl,
            provider_id: Arc::from(provider_id),
            explained: Arc::default(),
            watches: Arc::default(),
        }
    }

    /// The control client, waiting at most `wait` for its connection (`None`: not up).
    async fn client(&self, wait: Duration) -> Option<ctl::Client> {
        let mut rx = self.ctl.clone();
        let ready = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match ready {
            Ok(Ok(c)) => c.clone(),
            _ => None,
        }
    }

    /// The control client once it is connected (`None`: it never will be).
    async fn client_when_up(&self) -> Option<ctl::Client> {
        let mut rx = self.ctl.clone();
        let ready = rx.wait_for(Option::is_some).await;
        ready.ok().and_then(|c| c.clone())
    }

    fn find<'a>(&self, links: &'a [ctl::Link], key: &LinkKey) -> Option<&'a ctl::Link> {
        host_link(links, key, &self.provider_id)
    }

    /// Watches a deleted link's key: a put overtaken by the delete may still come. Costs a
    /// sleeping task, and host requests only if the key is put again meanwhile. A watch of
    /// the key already running is aborted: this one covers it, and starts its looks afresh.
    pub fn watch_overtaken_delete(&self, table: LinkTable, key: LinkKey) {
        let name = format!("overtaken-delete check of link {key}");
        let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        watches.next += 1;
        let id = watches.next;
        let view = self.clone();
        let watched = key.clone();
        // the task takes the lock to forget itself, so it cannot do that before it is recorded
        let task = supervise::spawn(name, move || {
            let (view, table, key) = (view.clone(), table.clone(), key.clone());
            async move {
                view.check_overtaken_delete(&table, &key).await;
                let mut watches = view.watches.lock().unwrap_or_else(PoisonError::into_inner);
                if watches
                    .running
                    .get(&key)
                    .is_some_and(|(running, _)| *running == id)
                {
                    watches.running.remove(&key);
                }
                Ended::Done
            }
        });
        if let Some((_, replaced)) = watches.running.insert(watched, (id, task.abort_handle())) {
            replaced.abort();
        }
    }

    /// How many overtaken-delete watches run.
    #[cfg(test)]
    fn watches_running(&self) -> usize {
        self.watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .running
            .len()
    }

    /// The checks of [`Self::watch_overtaken_delete`].
    async fn check_overtaken_delete(&self, table: &LinkTable, key: &LinkKey) {
        // the generation of the late put, once an answer of the host lacked it
        let mut lacked: Option<u64> = None;
        for wait in CHECKS {
            tokio::time::sleep(wait).await;
            let Some(generation) = table.generation(key) else {
                lacked = None;
                continue;
            };
            if lacked.is_some_and(|g| g != generation) {
                // put again since: that put is the host's word
                return;
            }
            let Some(ctl) = self.client(REQUEST_TIMEOUT).await else {
                debug!(link = %key, "the host view's connection is not up; link not checked");
                continue;
            };
            let links = match ctl.get_links().await {
                Ok(l) => l,
                Err(error) => {
                    debug!(link = %key, %error, "cannot ask the host for its links; link not checked");
                    continue;
                }
            };
            if self.find(&links, key).is_some() {
                return;
            }
            if lacked.is_some() {
                if table.remove_if_current(key, generation) {
                    info!(link = %key, "dropped a link whose delete overtook its put (the host no longer has it)");
                }
                return;
            }
            lacked = Some(generation);
        }
    }

    /// Follows `config_set` events of the provider's lattice and re-reads the named configs
    /// of the links that use the changed one, in a supervised task: should it stop while the
    /// table is open (the subscription refused or closed, a panic), it is logged and started
    /// again.
    pub fn follow_configs(&self, table: LinkTable) -> tokio::task::JoinHandle<()> {
        let view = self.clone();
        supervise::spawn("named config following".into(), move || {
            let (view, table) = (view.clone(), table.clone());
            async move { view.follow_configs_once(&table).await }
        })
    }

    /// One run of [`Self::follow_configs`].
    async fn follow_configs_once(&self, table: &LinkTable) -> Ended {
        let types = vec!["config_set".to_string()];
        let Some(ctl) = self.client_when_up().await else {
            return Ended::Unexpectedly("the host view has no connection".into());
        };
        let mut events = match ctl.events(&types).await {
            Ok(events) => events,
            Err(error) => {
                return Ended::Unexpectedly(format!(
                    "cannot follow named config changes (a changed config applies when its link is put again): {error}"
                ))
            }
        };
        while let Some(next) = events.next().await {
            let Ok(event) = next else { continue };
            let Some(name) = event.data.get("config_name").and_then(|v| v.as_str()) else {
                continue;
            };
            if table.counts().0 == 0 {
                continue;
            }
            self.reread_links_using(&ctl, table, name).await;
        }
        if table.is_closed() {
            Ended::Done
        } else {
            Ended::Unexpectedly("the config_set subscription ended".into())
        }
    }

    /// Applies the current values of every named config of each held link that uses `name`.
    async fn reread_links_using(&self, ctl: &ctl::Client, table: &LinkTable, name: &str) {
        let links = match ctl.get_links().await {
            Ok(l) => l,
            Err(error) => {
                warn!(config = name, %error, "cannot ask the host which links use a changed config");
                return;
            }
        };
        for link in links
            .iter()
            .filter(|l| *l.target == *self.provider_id && l.target_config.iter().any(|c| c == name))
        {
            let key = LinkKey::new(&link.source_id, &link.name);
            let Some((secrets, generation)) = table.secrets(&key) else {
                continue;
            };
            let mut merged = HashMap::new();
            let mut complete = true;
            for config in link
                .target_config
                .iter()
                .filter(|c| !c.starts_with(SECRET_PREFIX))
            {
                match ctl.get_config(config).await {
                    Ok(values) => merged.extend(values.unwrap_or_default()),
                    Err(error) => {
                        warn!(link = %key, config = %config, %error, "cannot read a link's config; settings kept");
                        complete = false;
                        break;
                    }
                }
            }
            if complete {
                let outcome = table.put_if_current(key.clone(), merged, secrets, generation);
                info!(link = %key, config = name, ?outcome, "named config changed: link settings re-read");
            }
        }
    }

    /// Why `key` is not linked, when the host lists that link: it was never delivered to
    /// this provider. Logged once at warn per `EXPLAIN_TTL` and key; `None` when the host
    /// does not list it (or cannot be asked).
    pub async fn explain_not_linked(&self, key: &LinkKey) -> Option<String> {
        {
            let cache = self
                .explained
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((at, why)) = cache.get(key) {
                if at.elapsed() < EXPLAIN_TTL {
                    return why.clone();
                }
            }
        }
        let links = self.client(REQUEST_TIMEOUT).await?.get_links().await.ok()?;
        let why = self.find(&links, key).map(|l| {
            let secrets = l.target_config.iter().any(|c| c.starts_with(SECRET_PREFIX));
            format!(
                "the host has a link from `{}` named `{}` to this provider, but never delivered it{}",
                key.source_id,
                key.link_name,
                if secrets {
                    ": it names secrets, and a host without a secrets backend acks such a link and never delivers it (configure the host's secrets backend, or drop the link's secrets)"
                } else {
                    " (a link put moments ago may still be on its way; otherwise the host's log says why)"
                }
            )
        });
        let mut cache = self
            .explained
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let fresh = cache
            .get(key)
            .is_none_or(|(at, _)| at.elapsed() >= EXPLAIN_TTL);
        if fresh {
            if let Some(why) = &why {
                warn!(link = %key, "{why}");
            }
        }
        cache.retain(|_, (at, _)| at.elapsed() < EXPLAIN_TTL);
        cache.insert(key.clone(), (Instant::now(), why.clone()));
        why
    }
}

fn client(nats: async_nats::Client, lattice: &str, topic_prefix: &str) -> ctl::Client {
    ClientBuilder::new(nats)
        .lattice(lattice)
        .topic_prefix(topic_prefix)
        .timeout(REQUEST_TIMEOUT)
        .build()
}

/// The host's record of link `key` to `provider_id`, if it has one.
#[must_use]
pub fn host_link<'a>(
    links: &'a [ctl::Link],
    key: &LinkKey,
    provider_id: &str,
) -> Option<&'a ctl::Link> {
    links.iter().find(|l| {
        l.source_id == key.source_id && l.name == key.link_name && l.target == provider_id
    })
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

    /// Deleting one key again and again keeps one watch of it (the replaced ones are
    /// aborted, their tasks gone); another key has its own.
    #[tokio::test]
    async fn a_new_delete_of_a_key_replaces_its_watch() {
        let (_tx, rx) = tokio::sync::watch::channel(None);
        let view = HostView::with_client(rx, "VP");
        let table = LinkTable::new(
            super::super::ProviderDefaults::default(),
            crate::provider::events::EventHub::default(),
        );
        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let (a, b) = (LinkKey::new("a", "default"), LinkKey::new("b", "default"));
        for _ in 0..1000 {
            view.watch_overtaken_delete(table.clone(), a.clone());
        }
        view.watch_overtaken_delete(table.clone(), b.clone());
        assert_eq!(view.watches_running(), 2);
        for _ in 0..200 {
            if metrics.num_alive_tasks() <= before + 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            metrics.num_alive_tasks(),
            before + 2,
            "one watch task per key"
        );
    }

    #[test]
    fn host_link_matches_source_name_and_target() {
        let links = vec![
            link("a", "default", "p"),
            link("b", "other", "p"),
            link("c", "default", "q"),
        ];
        let has = |s: &str, n: &str| host_link(&links, &LinkKey::new(s, n), "p").is_some();
        assert!(has("a", "default"));
        assert!(has("b", "other"));
        // same source, another link name
        assert!(!has("b", "default"));
        // a link to another provider
        assert!(!has("c", "default"));
        assert!(host_link(&[], &LinkKey::new("a", "default"), "p").is_none());
    }
}
