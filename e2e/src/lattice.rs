//! A per-test lattice of real in-process wasmCloud hosts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use lattice_control_provider::ctl;
use wasmcloud_host::wasmbus::{Host, HostConfig};

use crate::nats::Nats;
use crate::util::{bounded, unique_name, CALL_TIMEOUT};

/// How long a host may take to shut down before it is abandoned.
const HOST_STOP_TIMEOUT: Duration = Duration::from_secs(10);

type Shutdown = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// One running host and what it takes to stop it.
struct TestHost {
    id: String,
    host: Arc<Host>,
    shutdown: Shutdown,
}

/// A lattice with a unique name on a (possibly shared) NATS server and `n` real hosts.
///
/// Dropping it stops every host (inside a multi-thread runtime) and removes the hosts'
/// provider caches (`$TMPDIR/wasmcloudcache/<host id>`).
pub struct TestLattice {
    nats_url: String,
    monitor_url: String,
    lattice: String,
    hosts: Vec<Option<TestHost>>,
    nats: async_nats::Client,
    ctl: ctl::Client,
    upstream: wasmcloud_control_interface::Client,
}

impl std::fmt::Debug for TestLattice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestLattice").field("lattice", &self.lattice).field("hosts", &self.host_ids()).finish()
    }
}

impl TestLattice {
    /// Starts `n_hosts` hosts on a fresh lattice on `nats`.
    pub async fn start(nats: &Nats, n_hosts: usize) -> Result<TestLattice> {
        Self::start_named(nats, &unique_name("e2e"), n_hosts).await
    }

    /// Like [`TestLattice::start`] with a chosen lattice name.
    pub async fn start_named(nats: &Nats, lattice: &str, n_hosts: usize) -> Result<TestLattice> {
        let client = nats.connect().await?;
        let ctl = ctl::ClientBuilder::new(client.clone()).lattice(lattice).build();
        let upstream = wasmcloud_control_interface::ClientBuilder::new(client.clone()).lattice(lattice).build();
        let mut me = TestLattice {
            nats_url: nats.url(),
            monitor_url: nats.monitor_url(),
            lattice: lattice.to_string(),
            hosts: Vec::new(),
            nats: client,
            ctl,
            upstream,
        };
        for _ in 0..n_hosts {
            me.add_host().await?;
        }
        Ok(me)
    }

    /// Starts one more host; returns its index.
    pub async fn add_host(&mut self) -> Result<usize> {
        self.add_host_with(|_| {}).await
    }

    /// Like [`TestLattice::add_host`], letting `configure` adjust the host's config (e.g.
    /// `secrets_topic_prefix`, `log_level`) before it starts.
    pub async fn add_host_with(&mut self, configure: impl FnOnce(&mut HostConfig)) -> Result<usize> {
        let index = self.hosts.len();
        let key = Arc::new(nkeys::KeyPair::new_server());
        let id = key.public_key();
        let url = wasmcloud_host::url::Url::parse(&self.nats_url).context("NATS url")?;
        let mut config = HostConfig {
            ctl_nats_url: url.clone(),
            rpc_nats_url: url,
            lattice: Arc::from(self.lattice.as_str()),
            host_key: Some(key),
            allow_file_load: true,
            provider_shutdown_delay: Some(Duration::from_millis(300)),
            labels: [("e2e.index".to_string(), index.to_string())].into(),
            ..HostConfig::default()
        };
        configure(&mut config);
        let (host, shutdown) = bounded("starting a host", Duration::from_secs(30), Host::new(config))
            .await?
            .context("starting a wasmCloud host")?;
        self.hosts.push(Some(TestHost { id, host, shutdown: Box::pin(shutdown) }));
        Ok(index)
    }

    /// Stops host `index` (its providers first) and removes its provider cache. The index
    /// stays taken; [`TestLattice::host_ids`] no longer lists it.
    pub async fn stop_host(&mut self, index: usize) -> Result<()> {
        let host = self.take_host(index)?;
        stop(&self.ctl, host).await
    }

    /// Kills host `index` as a crash would: its provider processes get `SIGKILL` (no shutdown
    /// request, no drain), then the host goes without stopping anything first. The index stays
    /// taken.
    pub async fn kill_host(&mut self, index: usize) -> Result<()> {
        let host = self.take_host(index)?;
        for pid in crate::stress::provider_pids(&host.id)? {
            // SAFETY: a plain signal to a child process of this test.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        finish(host).await
    }

    /// Host `index`, taken out of the lattice (the index stays taken).
    fn take_host(&mut self, index: usize) -> Result<TestHost> {
        self.hosts.get_mut(index).and_then(Option::take).ok_or_else(|| anyhow!("no running host at index {index}"))
    }

    /// The lattice name.
    pub fn lattice(&self) -> &str {
        &self.lattice
    }

    /// URL of the NATS server.
    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    /// Monitoring URL of the NATS server (`/subsz?subs=1` lists subscriptions).
    pub fn monitor_url(&self) -> &str {
        &self.monitor_url
    }

    /// A NATS client connected to the lattice's server.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// Ids of the running hosts, in start order.
    pub fn host_ids(&self) -> Vec<String> {
        self.hosts.iter().flatten().map(|h| h.id.clone()).collect()
    }

    /// Id of host `index`.
    pub fn host_id(&self, index: usize) -> Result<&str> {
        self.hosts
            .get(index)
            .and_then(Option::as_ref)
            .map(|h| h.id.as_str())
            .ok_or_else(|| anyhow!("no running host at index {index}"))
    }

    /// The in-process host at `index` (for what the control interface cannot reach).
    pub fn host(&self, index: usize) -> Result<&Arc<Host>> {
        self.hosts
            .get(index)
            .and_then(Option::as_ref)
            .map(|h| &h.host)
            .ok_or_else(|| anyhow!("no running host at index {index}"))
    }

    /// Our control-interface client for this lattice.
    pub fn ctl(&self) -> &ctl::Client {
        &self.ctl
    }

    /// Upstream's `wasmcloud-control-interface` 3.0.1 client for this lattice (the oracle).
    pub fn upstream(&self) -> &wasmcloud_control_interface::Client {
        &self.upstream
    }

    /// Stops every host; what [`Drop`] does, but awaitable and reporting the first error.
    pub async fn shutdown(mut self) -> Result<()> {
        let mut first = Ok(());
        for host in std::mem::take(&mut self.hosts).into_iter().flatten() {
            let r = stop(&self.ctl, host).await;
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// Stops a host's providers (so their processes go now, not when the host is freed), runs
/// its shutdown, and removes its provider cache. Every step is bounded.
async fn stop(ctl: &ctl::Client, host: TestHost) -> Result<()> {
    if let Ok(Ok(inventory)) = tokio::time::timeout(CALL_TIMEOUT, ctl.get_host_inventory(&host.id)).await {
        for p in inventory.providers {
            if let Ok(cmd) = ctl::StopProviderCommand::builder().host_id(host.id.clone()).provider_id(p.id).build() {
                let _ = tokio::time::timeout(CALL_TIMEOUT, ctl.stop_provider(cmd)).await;
            }
        }
    }
    finish(host).await
}

/// Runs a host's shutdown (bounded), frees it and removes its provider cache.
async fn finish(host: TestHost) -> Result<()> {
    let result = bounded("stopping a host", HOST_STOP_TIMEOUT, host.shutdown).await;
    drop(host.host);
    remove_cache(&host.id);
    result?.map_err(|e| anyhow!("host shutdown: {e:#}"))
}

fn remove_cache(host_id: &str) {
    let dir = std::env::temp_dir().join("wasmcloudcache").join(host_id);
    let _ = std::fs::remove_dir_all(dir);
}

impl Drop for TestLattice {
    fn drop(&mut self) {
        let hosts: Vec<TestHost> = std::mem::take(&mut self.hosts).into_iter().flatten().collect();
        if hosts.is_empty() {
            return;
        }
        let ids: Vec<String> = hosts.iter().map(|h| h.id.clone()).collect();
        // Async shutdown needs a runtime we may block: only a multi-thread one allows it.
        // Otherwise the hosts go with the runtime (their provider processes are
        // kill-on-drop) and we only clean the caches.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                let ctl = self.ctl.clone();
                tokio::task::block_in_place(|| {
                    handle.block_on(async {
                        for host in hosts {
                            let _ = stop(&ctl, host).await;
                        }
                    })
                });
            }
        }
        for id in &ids {
            remove_cache(id);
        }
    }
}
