//! A real `secrets-nats-kv` backend beside a lattice (the crate wasmCloud ships as its NATS-KV
//! secrets backend), driven through the crate's own client as its CLI does.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use lattice_control_e2e::util::unique_name;
use lattice_control_e2e::{bounded, retry, CALL_TIMEOUT};

/// Topic prefix hosts use to reach the backend (`wash up --secrets-topic`).
pub const SECRETS_PREFIX: &str = "wasmcloud.secrets";
/// The backend's name in secret references (it listens on `{prefix}.v1alpha1.{name}`).
pub const BACKEND: &str = "nats-kv";

/// The backend, running until dropped.
pub struct SecretsBackend {
    nats: async_nats::Client,
    transit: nkeys::XKey,
    task: tokio::task::JoinHandle<()>,
}

impl SecretsBackend {
    /// Starts a backend with fresh xkeys and its own KV bucket on `nats`, and waits until it
    /// answers (it creates its buckets first).
    pub async fn start(nats: &async_nats::Client) -> Result<SecretsBackend> {
        let server_xkey = nkeys::XKey::new();
        let api = secrets_nats_kv::Api::new(
            nkeys::XKey::from_seed(&server_xkey.seed()?)?,
            nkeys::XKey::new(),
            nats.clone(),
            SECRETS_PREFIX.to_string(),
            BACKEND.to_string(),
            unique_name("SECRETS"),
            8,
            "wasmcloud_secrets".to_string(),
            "v1alpha1".to_string(),
        );
        let task = tokio::spawn(async move {
            let _ = api.run().await;
        });
        let transit = nkeys::XKey::from_public_key(&server_xkey.public_key())?;
        let backend = SecretsBackend { nats: nats.clone(), transit, task };
        retry("the secrets backend answering", Duration::from_secs(20), || backend.mapping_of("probe", HashSet::new()))
            .await?;
        Ok(backend)
    }

    /// `secrets-nats-kv put KEY --string VALUE`.
    pub async fn put(&self, key: &str, value: &str) -> Result<()> {
        let request = secrets_nats_kv::PutSecretRequest {
            key: key.to_string(),
            string_secret: Some(value.to_string()),
            ..Default::default()
        };
        bounded(
            "put_secret",
            CALL_TIMEOUT,
            secrets_nats_kv::client::put_secret(&self.nats, SECRETS_PREFIX, &self.transit, request),
        )
        .await?
        .map_err(|e| anyhow!("put_secret {key}: {e}"))
    }

    /// `secrets-nats-kv add-mapping SUBJECT --secret …`.
    async fn mapping_of(&self, subject: &str, names: HashSet<String>) -> Result<()> {
        bounded(
            "add_mapping",
            CALL_TIMEOUT,
            secrets_nats_kv::client::add_mapping(&self.nats, SECRETS_PREFIX, subject, names),
        )
        .await?
        .map_err(|e| anyhow!("add_mapping: {e}"))
    }

    /// Lets the provider packed in `par` read `names`: maps the PAR's service key (its claims'
    /// subject, what `wash inspect` prints as "Service") to them.
    pub async fn map_provider(&self, par: &Path, names: &[&str]) -> Result<()> {
        let archive = provider_archive::ProviderArchive::try_load_file(par)
            .await
            .map_err(|e| anyhow!("loading the PAR {}: {e}", par.display()))?;
        let subject = archive.claims().context("PAR has no claims")?.subject;
        self.mapping_of(&subject, names.iter().map(|n| n.to_string()).collect()).await
    }
}

impl Drop for SecretsBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}
