//! A `nats-server` in operator mode (decentralised JWT auth), keys and JWTs made here with
//! nkeys: no `nsc`. Clients authenticate with a user JWT + seed, exactly what the provider's
//! `nats_jwt` / `nats_seed` settings carry.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use lattice_control_e2e::nats::{free_port, spawn_with_parent_death_signal};
use nkeys::KeyPair;
use serde_json::{json, Value};
use wasmcloud_host::wasmbus::{Host, HostConfig};

/// A user credential: JWT signed by the account, and the user's seed.
#[derive(Clone)]
pub struct UserCreds {
    pub jwt: String,
    pub seed: String,
}

impl UserCreds {
    /// The key pair from the seed.
    pub fn key(&self) -> Result<KeyPair> {
        KeyPair::from_seed(&self.seed).context("user seed")
    }

    /// The `.creds` file text.
    pub fn creds_file_text(&self) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            self.jwt, self.seed
        )
    }
}

/// Encodes and signs NATS JWT claims (`alg: ed25519-nkey`).
fn encode_jwt(signer: &KeyPair, sub: &str, name: &str, nats: Value) -> Result<String> {
    let iat = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let claims = json!({
        // The server does not check `jti`; unique is enough.
        "jti": format!("{}{iat}", &sub[..16]),
        "iat": iat,
        "iss": signer.public_key(),
        "name": name,
        "sub": sub,
        "nats": nats,
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
    let signing_input = format!("{header}.{body}");
    let sig = signer.sign(signing_input.as_bytes()).context("signing a JWT")?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

fn user_jwt(account: &KeyPair, user: &KeyPair, name: &str) -> Result<String> {
    let nats = json!({
        "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
        "type": "user", "version": 2
    });
    encode_jwt(account, &user.public_key(), name, nats)
}

/// A user of `account` with a fresh key.
fn new_user(account: &KeyPair, name: &str) -> Result<UserCreds> {
    let user = KeyPair::new_user();
    Ok(UserCreds { jwt: user_jwt(account, &user, name)?, seed: user.seed().context("user seed")? })
}

/// A running operator-mode server with JetStream, killed on drop.
pub struct OperatorNats {
    port: u16,
    /// The trusted accounts (the first is [`OperatorNats::new_user`]'s).
    accounts: Vec<KeyPair>,
    _dir: tempfile::TempDir,
    child: Child,
}

impl OperatorNats {
    /// Starts a server trusting a fresh operator with one JetStream-enabled account.
    pub fn start() -> Result<OperatorNats> {
        Self::start_accounts(1)
    }

    /// Like [`OperatorNats::start`] with `n` JetStream-enabled accounts (apart: no exports or
    /// imports between them).
    pub fn start_accounts(n: usize) -> Result<OperatorNats> {
        let operator = KeyPair::new_operator();
        let accounts: Vec<KeyPair> = (0..n.max(1)).map(|_| KeyPair::new_account()).collect();
        let system = KeyPair::new_account();
        let operator_jwt = encode_jwt(
            &operator,
            &operator.public_key(),
            "e2e-operator",
            json!({"type": "operator", "version": 2, "system_account": system.public_key()}),
        )?;
        let unlimited = json!({
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
            "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1
        });
        let mut preload = String::new();
        for (i, account) in accounts.iter().enumerate() {
            let jwt = encode_jwt(
                &operator,
                &account.public_key(),
                &format!("e2e-account-{i}"),
                json!({"limits": unlimited, "type": "account", "version": 2}),
            )?;
            preload.push_str(&format!("  {}: \"{jwt}\"\n", account.public_key()));
        }
        let system_jwt = encode_jwt(&operator, &system.public_key(), "SYS", json!({"type": "account", "version": 2}))?;
        let dir = tempfile::Builder::new().prefix("lattice-control-opnats-").tempdir()?;
        let port = free_port()?;
        let conf = format!(
            "host: 127.0.0.1\nport: {port}\noperator: \"{operator_jwt}\"\nsystem_account: {sys}\n\
             resolver: MEMORY\nresolver_preload: {{\n{preload}  {sys}: \"{system_jwt}\"\n}}\n\
             jetstream: {{ store_dir: {store:?} }}\n",
            sys = system.public_key(),
            store = dir.path().join("js"),
        );
        let conf_path = dir.path().join("server.conf");
        std::fs::write(&conf_path, conf)?;
        let bin = std::env::var_os("NATS_SERVER_BIN").unwrap_or_else(|| "nats-server".into());
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("-c").arg(&conf_path).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let child = spawn_with_parent_death_signal(cmd).context("starting nats-server")?;
        let me = OperatorNats { port, accounts, _dir: dir, child };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(me._dir.path().join("server.log")).unwrap_or_default();
                bail!("operator-mode nats-server did not start: {log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(me)
    }

    /// `nats://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A fresh user of the trusted account.
    pub fn new_user(&self, name: &str) -> Result<UserCreds> {
        self.new_user_in(0, name)
    }

    /// A fresh user of account `index` (see [`OperatorNats::start_accounts`]).
    pub fn new_user_in(&self, index: usize, name: &str) -> Result<UserCreds> {
        let account = self.accounts.get(index).with_context(|| format!("no account {index}"))?;
        new_user(account, name)
    }

    /// Connects with `creds` (bounded, no retry).
    pub async fn connect(&self, creds: &UserCreds) -> Result<async_nats::Client> {
        let key = std::sync::Arc::new(creds.key()?);
        let opts = async_nats::ConnectOptions::with_jwt(creds.jwt.clone(), move |nonce| {
            let key = key.clone();
            async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
        });
        tokio::time::timeout(Duration::from_secs(5), opts.connect(self.url()))
            .await
            .context("connect timed out")?
            .context("connect")
    }
}

/// A user JWT from an account the server does not trust, with a matching seed: well formed
/// but refused.
pub fn untrusted_user() -> Result<UserCreds> {
    new_user(&KeyPair::new_account(), "untrusted")
}

impl Drop for OperatorNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A host of `lattice` on the operator-mode server, authenticated with `creds` (bounded start).
pub async fn managed_host(
    server: &OperatorNats,
    lattice: &str,
    creds: &UserCreds,
    host_key: std::sync::Arc<KeyPair>,
) -> Result<(std::sync::Arc<Host>, impl std::future::Future<Output = anyhow::Result<()>>)> {
    let url = wasmcloud_host::url::Url::parse(&server.url())?;
    let key = std::sync::Arc::new(creds.key()?);
    let config = HostConfig {
        ctl_nats_url: url.clone(),
        rpc_nats_url: url,
        ctl_jwt: Some(creds.jwt.clone()),
        ctl_key: Some(key.clone()),
        rpc_jwt: Some(creds.jwt.clone()),
        rpc_key: Some(key),
        lattice: std::sync::Arc::from(lattice),
        host_key: Some(host_key),
        ..HostConfig::default()
    };
    lattice_control_e2e::bounded("starting the managed host", Duration::from_secs(30), Host::new(config))
        .await?
        .context("starting a host on the operator-mode server")
}
