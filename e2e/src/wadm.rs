//! A real wadm (0.21.1, the server as a library) on the test NATS, and the client `wash app`
//! uses (`wadm-client` 0.10) with every call bounded.
//!
//! One wadm serves every lattice on its NATS server: it starts managing a lattice when it sees
//! that lattice's `host_started` or `host_heartbeat` event. Start it **before** the lattice's
//! hosts (it then sees their `host_started`); [`TestWadm::start`] returns once wadm listens for
//! events and API requests, [`TestWadm::wait_lattice`] once it manages a lattice. Its JetStream streams and buckets live on the NATS server
//! (in memory here), so the server needs JetStream (`-js`, as [`crate::Nats`] starts it).
//!
//! ```no_run
//! # async fn t() -> anyhow::Result<()> {
//! use lattice_control_e2e::{shared_nats, TestLattice, TestWadm};
//! let nats = shared_nats()?;
//! let wadm = TestWadm::start(nats).await?;
//! let lattice = TestLattice::start(nats, 1).await?;
//! wadm.wait_lattice(lattice.lattice()).await?;
//! let apps = wadm.client(lattice.lattice()).await?;
//! let (name, _version) = apps.put_and_deploy(std::fs::read("app.wadm.yaml")?).await?;
//! apps.wait_deployed(&name, std::time::Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use ::wadm::config::WadmConfig;
use anyhow::{anyhow, bail, Context as _, Result};
use serde_yaml::Value as Yaml;
use tokio::task::JoinSet;
use wadm_client::{Client, ClientConnectOptions};
pub use wadm_types::api::{Status, StatusType};

use crate::nats::Nats;
use crate::util::{bounded, http_get, unique_name, wait_for, CALL_TIMEOUT};

/// How long wadm may take to create its streams and subscribe.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// [`WadmClient::wait_deployed`] re-sends a deploy that got no status for this long.
pub const UNHEARD: Duration = Duration::from_secs(30);
/// ... at most this many times.
pub const REDEPLOYS: u32 = 3;
/// The subject wadm's observer watches for new lattices (non-multitenant).
const EVENTS_SUBJECT: &str = "wasmbus.evt.*.>";

/// A wadm running in this process; its tasks are aborted on drop.
pub struct TestWadm {
    tasks: JoinSet<anyhow::Result<()>>,
    nats_url: String,
    api_prefix: String,
}

impl std::fmt::Debug for TestWadm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestWadm").field("nats_url", &self.nats_url).field("tasks", &self.tasks.len()).finish()
    }
}

impl TestWadm {
    /// Starts wadm on `nats` (streams in memory, a unique wadm id) and waits (bounded) until
    /// its API and its lattice observer are subscribed.
    pub async fn start(nats: &Nats) -> Result<TestWadm> {
        crate::util::logs_on_request();
        let config = WadmConfig {
            host_id: Some(unique_name("e2e-wadm")),
            nats_server: nats.url(),
            stream_persistence: ::wadm::StreamPersistence::Memory,
            ..WadmConfig::default()
        };
        let api_prefix = config.api_prefix.clone();
        let tasks = bounded("starting wadm", START_TIMEOUT, ::wadm::start_wadm(config))
            .await?
            .map_err(|e| anyhow!("starting wadm: {e:#}"))?;
        let mut me = TestWadm { tasks, nats_url: nats.url(), api_prefix };
        let monitor = nats.monitor_url();
        let api_subject = format!("{}.>", me.api_prefix);
        wait_for("wadm's API and event subscriptions", START_TIMEOUT, || async {
            let body = http_get(&monitor, "/subsz?subs=1&limit=100000").await?;
            let subsz: serde_json::Value = serde_json::from_str(&body).context("/subsz is not JSON")?;
            let has = |subject: &str| {
                subsz["subscriptions_list"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|s| s["subject"].as_str() == Some(subject)))
            };
            Ok((has(&api_subject) && has(EVENTS_SUBJECT)).then_some(()))
        })
        .await?;
        me.check_running()?;
        Ok(me)
    }

    /// Fails if one of wadm's tasks has ended (wadm's tasks run until aborted).
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(ended) = self.tasks.try_join_next() {
            match ended {
                Ok(Ok(())) => bail!("a wadm task ended"),
                Ok(Err(e)) => bail!("a wadm task failed: {e:#}"),
                Err(e) => bail!("a wadm task panicked or was cancelled: {e}"),
            }
        }
        Ok(())
    }

    /// Waits (bounded) until wadm manages `lattice`: its event and command consumers for that
    /// lattice exist on the server (wadm creates them when it sees a host of the lattice start).
    /// A manifest deployed before that is stored but only acted on once they exist.
    pub async fn wait_lattice(&self, lattice: &str) -> Result<()> {
        use ::wadm::consumers::COMMANDS_CONSUMER_PREFIX;
        let nats = bounded("connecting to NATS", CALL_TIMEOUT, async_nats::connect(&self.nats_url))
            .await?
            .context("connecting to NATS")?;
        let js = async_nats::jetstream::new(nats);
        // (stream, durable consumer) as wadm names them for a lattice.
        let consumers = [
            events_consumer(lattice),
            (::wadm::DEFAULT_COMMAND_STREAM_NAME, format!("{COMMANDS_CONSUMER_PREFIX}-{lattice}")),
        ];
        wait_for(&format!("wadm managing lattice {lattice}"), START_TIMEOUT, || async {
            for (stream, consumer) in &consumers {
                let stream = js.get_stream(*stream).await.with_context(|| format!("stream {stream}"))?;
                if stream.consumer_info(consumer).await.is_err() {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
        .await
    }

    /// Waits until wadm manages `lattice` ([`TestWadm::wait_lattice`]), then a client for it,
    /// connected as `wash app` connects (its own NATS connection).
    pub async fn client_for(&self, lattice: &crate::TestLattice) -> Result<WadmClient> {
        self.wait_lattice(lattice.lattice()).await?;
        self.client(lattice.lattice()).await
    }

    /// A client for `lattice` (as `wash app … --lattice`), without waiting for wadm to manage it.
    pub async fn client(&self, lattice: &str) -> Result<WadmClient> {
        let opts = ClientConnectOptions { url: Some(self.nats_url.clone()), ..ClientConnectOptions::default() };
        let client = bounded("connecting the wadm client", CALL_TIMEOUT, Client::new(lattice, None, opts))
            .await?
            .context("connecting the wadm client")?;
        // A second connection, only to read wadm's consumer state when a deploy is not acted on.
        let nats = bounded("connecting to NATS", CALL_TIMEOUT, async_nats::connect(&self.nats_url))
            .await?
            .context("connecting to NATS")?;
        Ok(WadmClient { client, lattice: lattice.to_string(), js: async_nats::jetstream::new(nats) })
    }
}

impl Drop for TestWadm {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// [`wadm_client::Client`] for one lattice with every request bounded by [`CALL_TIMEOUT`].
pub struct WadmClient {
    client: Client,
    lattice: String,
    js: async_nats::jetstream::Context,
}

impl std::fmt::Debug for WadmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WadmClient").field("lattice", &self.lattice).finish()
    }
}

impl WadmClient {
    /// The lattice this client deploys to.
    pub fn lattice(&self) -> &str {
        &self.lattice
    }

    /// The underlying client, for calls not wrapped here (bound them yourself).
    pub fn inner(&self) -> &Client {
        &self.client
    }

    /// Puts a manifest (YAML or JSON bytes, or a parsed manifest) and deploys that version,
    /// as `wash app deploy` does. Returns its name and version.
    pub async fn put_and_deploy(&self, manifest: impl wadm_client::loader::ManifestLoader) -> Result<(String, String)> {
        bounded("put_and_deploy_manifest", CALL_TIMEOUT, self.client.put_and_deploy_manifest(manifest))
            .await?
            .map_err(|e| anyhow!("put_and_deploy_manifest: {e}"))
    }

    /// The application's current status.
    pub async fn status(&self, name: &str) -> Result<Status> {
        bounded("get_manifest_status", CALL_TIMEOUT, self.client.get_manifest_status(name))
            .await?
            .map_err(|e| anyhow!("get_manifest_status {name}: {e}"))
    }

    /// Puts and deploys `manifest` and waits for application `name` as [`WadmClient::wait_deployed`]
    /// does; prints how long it took.
    pub async fn deploy_and_wait(
        &self,
        name: &str,
        manifest: impl wadm_client::loader::ManifestLoader,
        limit: Duration,
    ) -> Result<Status> {
        let started = std::time::Instant::now();
        self.put_and_deploy(manifest).await?;
        let status = self.wait_deployed(name, limit).await?;
        eprintln!("timing: deploy {name} to Deployed {:.1?} ({})", started.elapsed(), describe(&status));
        Ok(status)
    }

    /// Polls the status until it is `Deployed` (at most `limit`); the error names the last
    /// status seen and its scalers' messages.
    ///
    /// wadm 0.21.1 acts on a deploy through its per-lattice events consumer, which redelivers a
    /// message whose handling outlives a 2 s ack wait and gives it up after 3 deliveries. On a
    /// loaded machine the deploy notification can be given up that way: the manifest is stored
    /// and deployed, but nothing acts on it and wadm never publishes a status for it (seen on
    /// CI). A user re-runs `wash app deploy`; so does this wait, at most [`REDEPLOYS`] times,
    /// when wadm has published no status [`UNHEARD`] after the last deploy request, and it says
    /// so on stderr with the consumer's counts.
    pub async fn wait_deployed(&self, name: &str, limit: Duration) -> Result<Status> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut asked = tokio::time::Instant::now();
        let mut redeploys = 0;
        loop {
            let last = match self.status(name).await {
                Ok(status) if status.info.status_type == StatusType::Deployed => return Ok(status),
                Ok(status) => {
                    let unheard = status == Status::default();
                    if unheard && asked.elapsed() >= UNHEARD && redeploys < REDEPLOYS {
                        redeploys += 1;
                        eprintln!(
                            "wadm: no status for {name} {UNHEARD:?} after the deploy request ({}); deploy sent again ({redeploys}/{REDEPLOYS})",
                            self.events_consumer_state().await
                        );
                        bounded("deploy_manifest", CALL_TIMEOUT, self.client.deploy_manifest(name, None))
                            .await?
                            .map_err(|e| anyhow!("deploy_manifest {name}: {e}"))?;
                        asked = tokio::time::Instant::now();
                    }
                    describe(&status)
                }
                Err(e) => format!("{e:#}"),
            };
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{name} Deployed: gave up after {limit:?} ({redeploys} deploys re-sent); last status: {last}; {}",
                    self.events_consumer_state().await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// wadm's events consumer for this lattice, in one line (or why it could not be read).
    async fn events_consumer_state(&self) -> String {
        let (stream, consumer) = events_consumer(&self.lattice);
        let info = async {
            let stream = self.js.get_stream(stream).await?;
            stream.consumer_info(&consumer).await.map_err(|e| anyhow!("{e}"))
        };
        match bounded("consumer info", CALL_TIMEOUT, info).await {
            Ok(Ok(i)) => format!(
                "wadm events consumer: {} pending, {} awaiting ack, {} redelivered, delivered up to {}, acked up to {}",
                i.num_pending,
                i.num_ack_pending,
                i.num_redelivered,
                i.delivered.stream_sequence,
                i.ack_floor.stream_sequence
            ),
            Ok(Err(e)) => format!("wadm events consumer {consumer}: {e:#}"),
            Err(e) => format!("{e:#}"),
        }
    }

    /// Polls the status until it is `wanted` (at most `limit`).
    pub async fn wait_status(&self, name: &str, wanted: StatusType, limit: Duration) -> Result<Status> {
        let last = std::sync::Mutex::new(None);
        let found = wait_for(&format!("{name} {wanted:?}"), limit, || {
            let last = &last;
            async move {
                let status = self.status(name).await?;
                if status.info.status_type == wanted {
                    return Ok(Some(status));
                }
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(describe(&status));
                Ok(None)
            }
        })
        .await;
        let last = last.into_inner().unwrap_or_else(|p| p.into_inner());
        found.with_context(|| format!("last status: {}", last.as_deref().unwrap_or("none")))
    }

    /// Undeploys the application (acknowledged, not yet done).
    pub async fn undeploy(&self, name: &str) -> Result<()> {
        bounded("undeploy_manifest", CALL_TIMEOUT, self.client.undeploy_manifest(name))
            .await?
            .map_err(|e| anyhow!("undeploy_manifest {name}: {e}"))?;
        Ok(())
    }

    /// Deletes every version of the application; whether there was one.
    pub async fn delete(&self, name: &str) -> Result<bool> {
        bounded("delete_manifest", CALL_TIMEOUT, self.client.delete_manifest(name, None))
            .await?
            .map_err(|e| anyhow!("delete_manifest {name}: {e}"))
    }
}

/// (stream, durable consumer) of wadm's events consumer for `lattice`, as wadm names them.
fn events_consumer(lattice: &str) -> (&'static str, String) {
    (
        ::wadm::DEFAULT_WADM_EVENT_CONSUMER_STREAM_NAME,
        format!("{}-{lattice}", ::wadm::consumers::EVENTS_CONSUMER_PREFIX),
    )
}

/// `Deployed`, or `Reconciling: message [scaler: status message; …]`.
pub fn describe(status: &Status) -> String {
    let mut text = format!("{:?}", status.info.status_type);
    if !status.info.message.is_empty() {
        text.push_str(&format!(": {}", status.info.message));
    }
    let scalers: Vec<String> = status
        .scalers
        .iter()
        .filter(|s| s.info.status_type != StatusType::Deployed)
        .map(|s| format!("{} {:?} {}", s.name, s.info.status_type, s.info.message))
        .collect();
    if !scalers.is_empty() {
        text.push_str(&format!(" [{}]", scalers.join("; ")));
    }
    text
}

/// The manifest as `wash app deploy` sends it: each `file://` string not starting with `/`
/// resolved against `base` (the manifest's folder). Fails, as wash does, if that file is missing.
pub fn resolve_relative_file_paths(yaml: &mut Yaml, base: &Path) -> Result<()> {
    match yaml {
        Yaml::String(s) => {
            if let Some(path) = s.strip_prefix("file://").filter(|p| !p.starts_with('/')) {
                let absolute = normalize(&base.join(path));
                if !absolute.is_file() {
                    bail!("{s}: {} does not exist", absolute.display());
                }
                *s = format!("file://{}", absolute.display());
            }
        }
        Yaml::Sequence(items) => {
            for item in items {
                resolve_relative_file_paths(item, base)?;
            }
        }
        Yaml::Mapping(map) => {
            for (_, value) in map.iter_mut() {
                resolve_relative_file_paths(value, base)?;
            }
        }
        Yaml::Tagged(tagged) => resolve_relative_file_paths(&mut tagged.value, base)?,
        Yaml::Null | Yaml::Bool(_) | Yaml::Number(_) => {}
    }
    Ok(())
}

/// `a/./b/../c` → `a/c`, without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The manifest at `path` as `wash app deploy` sends it: parsed, with its relative `file://`
/// paths resolved against its folder.
pub fn deployable_manifest(path: &Path) -> Result<Yaml> {
    let path = normalize(path);
    let base = path.parent().with_context(|| format!("{} has no folder", path.display()))?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut yaml: Yaml = serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    resolve_relative_file_paths(&mut yaml, base)?;
    Ok(yaml)
}

/// The shared provider application (`provider.wadm.yaml`) that the local manifests link to.
pub const SHARED_PROVIDER_APP: &str = "lattice-control-provider";
/// The id wadm derives for its provider (`{app}-{component}`).
pub const SHARED_PROVIDER_ID: &str = "lattice_control_provider-lattice_control";

/// Where the repository's manifests name the provider's PAR (`file://./build/…`).
pub fn manifest_par_path() -> PathBuf {
    normalize(&crate::par::product_root().join("build/lattice-control-provider.par.gz"))
}

/// Packs the built provider binary where the manifests name it ([`manifest_par_path`]).
pub async fn pack_manifest_par() -> Result<PathBuf> {
    let par = manifest_par_path();
    std::fs::create_dir_all(par.parent().context("PAR path")?)?;
    let started = std::time::Instant::now();
    crate::pack_par(&crate::provider_bin()?, &par).await?;
    eprintln!("timing: packing the PAR {:.1?}", started.elapsed());
    Ok(par)
}

/// Deploys `provider.wadm.yaml` as `wash app deploy` sends it (the PAR it names must exist:
/// `build/lattice-control-provider.par.gz`) and waits, within `limit`, until it is deployed
/// and the provider is ready. The applications that link to it are deployed after it.
pub async fn deploy_shared_provider(apps: &WadmClient, lattice: &crate::TestLattice, limit: Duration) -> Result<()> {
    let manifest = deployable_manifest(&crate::par::product_root().join("provider.wadm.yaml"))?;
    apps.put_and_deploy(serde_yaml::to_string(&manifest)?.into_bytes()).await?;
    apps.wait_deployed(SHARED_PROVIDER_APP, limit).await?;
    crate::provider::wait_provider_ready(lattice, SHARED_PROVIDER_ID).await
}

/// Undeploys the shared provider application and waits, within `limit`, until no host of
/// `lattice` runs its provider.
pub async fn undeploy_shared_provider(apps: &WadmClient, lattice: &crate::TestLattice, limit: Duration) -> Result<()> {
    apps.undeploy(SHARED_PROVIDER_APP).await?;
    wait_for("the shared provider gone", limit, || async {
        for host in lattice.host_ids() {
            let inventory = lattice.ctl().get_host_inventory(&host).await?;
            if inventory.providers.iter().any(|p| p.id == SHARED_PROVIDER_ID) {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await
}

/// Where a test application's provider comes from.
pub enum ProviderFrom<'a> {
    /// Its own capability component running this image.
    Image(&'a str),
    /// The shared application's ([`SHARED_PROVIDER_APP`]).
    Shared,
}

/// A manifest of application `app` (`version`): a no-op component (`component_image`, one
/// instance, id `{app}-noop`) linked to the provider (link `default`, no config: read-only).
pub fn noop_app_manifest(app: &str, version: &str, component_image: &str, provider: ProviderFrom<'_>) -> Vec<u8> {
    let provider = match provider {
        ProviderFrom::Image(image) => format!(
            "        image: {image}\n      traits:\n        - type: spreadscaler\n          properties:\n            instances: 1\n"
        ),
        ProviderFrom::Shared => format!(
            "        application:\n          name: {SHARED_PROVIDER_APP}\n          component: lattice-control\n"
        ),
    };
    format!(
        r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: {app}
  annotations:
    version: {version}
spec:
  components:
    - name: noop
      type: component
      properties:
        image: {component_image}
      traits:
        - type: spreadscaler
          properties:
            instances: 1
        - type: link
          properties:
            namespace: wasmcloud
            package: lattice-control
            interfaces: [lattice-control]
            target:
              name: lattice-control
    - name: lattice-control
      type: capability
      properties:
{provider}"#
    )
    .into_bytes()
}
