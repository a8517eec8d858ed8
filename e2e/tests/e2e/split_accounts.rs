//! A lattice whose RPC and control traffic are on different NATS accounts, as wasmCloud
//! recommends: an operator-mode server with two accounts, hosts whose control connection
//! authenticates as a user of account `CTL` and whose RPC connection as a user of account
//! `RPC`, so the provider's RPC connection (the one the host gives it) sees no control
//! subject and no lattice event.
//!
//! * A link with `ctl_jwt` + `ctl_seed` of a control-account user manages the lattice; a link
//!   with no connection keys uses the provider's RPC connection and gets a `no-responders`
//!   that says why, at once (no hang).
//! * The provider's own host view follows the control connection its own config names: an
//!   edited named config (a `config_set` event, published on the control account) reaches
//!   the link that uses it. On the RPC connection the event never arrives.

use std::sync::Arc;
use std::time::Duration;

use crate::support::operator::{OperatorNats, UserCreds};
use anyhow::{anyhow, bail, Context as _, Result};
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, no_options, types, Caller, HOST_QUERY};
use lattice_control_e2e::util::{unique_name, wait_for};
use lattice_control_e2e::{bounded, retry, CALL_TIMEOUT};
use lattice_control_provider::ctl;
use wasmcloud_host::wasmbus::{Host, HostConfig};

/// How long a provider may take from its start command to answering health.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// How long an edited named config may take to reach its link (measured: tens of ms).
const APPLIES_WITHIN: Duration = Duration::from_secs(10);

/// Bound of one call attempt (a lost wRPC reply is tried again, see PLATFORM-NOTES).
const ATTEMPT: Duration = Duration::from_secs(5);

/// Account indexes on the server.
const CTL: usize = 0;
const RPC: usize = 1;

type Shutdown = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// The split lattice: its hosts, a control client on the control account, a NATS client on
/// the RPC account.
struct Split {
    name: String,
    hosts: Vec<(String, Arc<Host>, Shutdown)>,
    ctl: ctl::Client,
    rpc: async_nats::Client,
}

impl Split {
    async fn start(server: &OperatorNats, n_hosts: usize) -> Result<Split> {
        let name = unique_name("split");
        let url = wasmcloud_host::url::Url::parse(&server.url())?;
        let mut hosts = Vec::new();
        for i in 0..n_hosts {
            let (ctl_user, rpc_user) = (server.new_user_in(CTL, "host-ctl")?, server.new_user_in(RPC, "host-rpc")?);
            let key = Arc::new(nkeys::KeyPair::new_server());
            let id = key.public_key();
            let config = HostConfig {
                ctl_nats_url: url.clone(),
                rpc_nats_url: url.clone(),
                ctl_jwt: Some(ctl_user.jwt.clone()),
                ctl_key: Some(Arc::new(ctl_user.key()?)),
                rpc_jwt: Some(rpc_user.jwt.clone()),
                rpc_key: Some(Arc::new(rpc_user.key()?)),
                lattice: Arc::from(name.as_str()),
                host_key: Some(key),
                allow_file_load: true,
                provider_shutdown_delay: Some(Duration::from_millis(300)),
                labels: [("e2e.index".to_string(), i.to_string())].into(),
                ..HostConfig::default()
            };
            let (host, shutdown) = bounded("starting a host", Duration::from_secs(30), Host::new(config))
                .await?
                .context("starting a split-account host")?;
            hosts.push((id, host, Box::pin(shutdown) as Shutdown));
        }
        let ctl_nats = server.connect(&server.new_user_in(CTL, "test-ctl")?).await?;
        let rpc = server.connect(&server.new_user_in(RPC, "test-rpc")?).await?;
        let ctl = ctl::ClientBuilder::new(ctl_nats).lattice(&name).build();
        Ok(Split { name, hosts, ctl, rpc })
    }

    fn host_ids(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.0.clone()).collect()
    }

    async fn put_config(&self, name: &str, values: &[(&str, &str)]) -> Result<()> {
        let values = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        bounded("put_config", CALL_TIMEOUT, self.ctl.put_config(name, values)).await?.context("put_config")?;
        Ok(())
    }

    async fn put_link(&self, source: &str, provider: &str, config: &[&str]) -> Result<()> {
        let link = lattice_control_e2e::link::provider_link(source, "default", provider, config)?;
        bounded("put_link", CALL_TIMEOUT, self.ctl.put_link(link)).await?.context("put_link")?;
        Ok(())
    }

    /// Starts provider `id` on host `host` with named configs `config` and waits (bounded)
    /// for its health answer, on the RPC account (where the host talks to providers).
    async fn start_provider(&self, host: usize, id: &str, config: &[&str]) -> Result<Caller> {
        let cmd = ctl::StartProviderCommand::builder()
            .host_id(self.hosts[host].0.clone())
            .provider_ref(lattice_control_e2e::provider_par_ref()?)
            .provider_id(id)
            .config(config.iter().copied())
            .build()?;
        bounded("start_provider", CALL_TIMEOUT, self.ctl.start_provider(cmd)).await?.context("start_provider")?;
        let subject = format!("wasmbus.rpc.{}.{id}.health", self.name);
        wait_for("provider health on the RPC account", READY_WITHIN, || async {
            let Ok(Ok(reply)) =
                tokio::time::timeout(Duration::from_secs(2), self.rpc.request(subject.clone(), "".into())).await
            else {
                return Ok(None);
            };
            let health: serde_json::Value = serde_json::from_slice(&reply.payload)?;
            Ok((health["healthy"] == true).then_some(()))
        })
        .await?;
        Caller::new(self.rpc.clone(), &self.name, id).await
    }

    /// Stops the providers, then the hosts (each step bounded).
    async fn shutdown(self) -> Result<()> {
        for (id, host, shutdown) in self.hosts {
            if let Ok(Ok(inventory)) = tokio::time::timeout(CALL_TIMEOUT, self.ctl.get_host_inventory(&id)).await {
                for p in inventory.providers {
                    if let Ok(cmd) = ctl::StopProviderCommand::builder().host_id(id.clone()).provider_id(p.id).build() {
                        let _ = tokio::time::timeout(CALL_TIMEOUT, self.ctl.stop_provider(cmd)).await;
                    }
                }
            }
            bounded("stopping a host", Duration::from_secs(10), shutdown).await?.map_err(|e| anyhow!("{e:#}"))?;
            drop(host);
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join("wasmcloudcache").join(&id));
        }
        Ok(())
    }
}

/// The link settings of a control-account user.
fn ctl_keys(user: &UserCreds) -> [(&str, &str); 2] {
    [("ctl_jwt", user.jwt.as_str()), ("ctl_seed", user.seed.as_str())]
}

/// `provider-info` through `caller`, retried until the provider holds the link.
async fn linked_info(caller: &Caller) -> Result<types::LinkInfo> {
    retry("the provider has the link", Duration::from_secs(20), || async {
        match lc::provider_info(caller.wrpc(), caller.cx(), &no_options()).await? {
            Ok(info) => anyhow::Ok(info),
            Err(e) => Err(anyhow!("provider-info: {e:?}")),
        }
    })
    .await
}

async fn get_links(caller: &Caller) -> Result<std::result::Result<Vec<types::Link>, types::CtlError>> {
    bounded("get-links", ATTEMPT, lc::get_links(caller.wrpc(), caller.cx(), &no_options())).await?
}

/// (a) A provider with no connection keys of its own: a link with ctl keys reaches the
/// hosts, a link without gets `no-responders` naming the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_reaches_the_control_account_through_its_ctl_keys() -> Result<()> {
    let server = OperatorNats::start_accounts(2)?;
    let lattice = Split::start(&server, 2).await?;

    // the accounts really are apart: a control request on the RPC account reaches no host
    let ping = format!("wasmbus.ctl.v1.{}.ping.hosts", lattice.name);
    let alone = bounded("a ping on the RPC account", CALL_TIMEOUT, lattice.rpc.request(ping, "".into())).await?;
    assert!(alone.is_err(), "the RPC account must not reach the hosts' control subjects: {alone:?}");

    let plain = "lc-split-plain";
    let wrpc = lattice.start_provider(0, plain, &[]).await?;
    let link_user = server.new_user_in(CTL, "link")?;
    lattice.put_config("keyed-link", &ctl_keys(&link_user)).await?;
    lattice.put_link("keyed", plain, &["keyed-link"]).await?;
    let keyed = wrpc.as_component("keyed", "default");
    linked_info(&keyed).await?;
    let hosts = retry("get-hosts through the keyed link", Duration::from_secs(20), || async {
        let hosts = lc::get_hosts(keyed.wrpc(), keyed.cx(), &HOST_QUERY).await?;
        hosts.map_err(|e| anyhow!("get-hosts: {e:?}"))
    })
    .await?;
    let mut seen: Vec<String> = hosts.into_iter().map(|h| h.id).collect();
    seen.sort();
    let mut want = lattice.host_ids();
    want.sort();
    assert_eq!(seen, want, "the keyed link sees the lattice's hosts");

    lattice.put_link("bare", plain, &[]).await?;
    let bare = wrpc.as_component("bare", "default");
    linked_info(&bare).await?;
    // each attempt bounded by ATTEMPT; a lost wRPC reply (PLATFORM-NOTES) is tried again,
    // a hang of the provider would fail every attempt
    let answer = retry("get-links through the bare link", Duration::from_secs(20), || get_links(&bare)).await?;
    match answer {
        Err(types::CtlError::NoResponders(m)) => {
            assert!(m.contains("RPC connection") && m.contains("ctl_"), "the error says why: {m}");
        }
        Err(e) => bail!("expected no-responders, got {}: {e:?}", error_kind(&e)),
        Ok(links) => bail!("the RPC account answered get-links: {links:?}"),
    }

    lattice.shutdown().await
}

/// (b) A provider whose own config names a control-account user: its host view follows
/// `config_set` there, and links with no keys of their own take the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_host_view_follows_the_control_account_its_config_names() -> Result<()> {
    let server = OperatorNats::start_accounts(2)?;
    let lattice = Split::start(&server, 1).await?;
    let own_user = server.new_user_in(CTL, "provider")?;
    lattice.put_config("lc-own", &ctl_keys(&own_user)).await?;
    let own = "lc-split-own";
    let wrpc = lattice.start_provider(0, own, &["lc-own"]).await?;
    lattice.put_config("follower-link", &[("allow", "read-only")]).await?;
    lattice.put_link("follower", own, &["follower-link"]).await?;
    let follower = wrpc.as_component("follower", "default");
    let info = linked_info(&follower).await?;
    assert_eq!(info.policy, "read-only");
    let links = retry("get-links through the follower", Duration::from_secs(20), || async {
        get_links(&follower).await?.map_err(|e| anyhow!("get-links: {e:?}"))
    })
    .await?;
    assert!(links.iter().any(|l| l.source_id == "follower"), "the provider's config reaches the lattice: {links:?}");

    // edit the named config the link uses: the host tells the provider nothing but the
    // `config_set` event on the control account
    lattice.put_config("follower-link", &[("allow", "get-hosts,put-label")]).await?;
    let applied = wait_for("the edited config reaches the link", APPLIES_WITHIN, || async {
        let info = bounded("provider-info", ATTEMPT, lc::provider_info(follower.wrpc(), follower.cx(), &no_options()))
            .await??
            .map_err(|e| anyhow!("provider-info: {e:?}"))?;
        Ok(info.allowed_operations.iter().any(|o| o == "put-label").then_some(info))
    })
    .await?;
    assert!(!applied.allowed_operations.iter().any(|o| o == "scale-component"), "{applied:?}");
    lattice.shutdown().await
}
