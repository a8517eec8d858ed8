//! NATS connections and control clients shared between links.
//!
//! Links with equal connection settings share one NATS connection, and links with equal
//! connection and client settings share one control client. Both are reference-counted:
//! releasing the last user closes what no link uses any more. At most one connect attempt
//! runs per connection settings; its task is aborted when no link waits for it.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use crate::ctl::{self, ClientBuilder};
use crate::provider::config::{self, Auth, ClientSettings, ConnectionSettings};

/// How long one attempt to connect to NATS may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a shared control client is keyed by.
pub(super) type ClientKey = (ConnectionSettings, ClientSettings);

struct Shared<T> {
    value: T,
    users: usize,
}

/// The shared connections and clients, and the connect attempts under way.
#[derive(Default)]
pub(super) struct Pool {
    connections: HashMap<ConnectionSettings, Shared<async_nats::Client>>,
    clients: HashMap<ClientKey, Shared<ctl::Client>>,
    connecting: HashMap<ConnectionSettings, AbortHandle>,
}

impl Pool {
    /// Takes a reference on the shared client for `key`, building it on an existing
    /// connection if needed; `None` when there is no such connection yet.
    pub(super) fn acquire(
        &mut self,
        key: &ClientKey,
    ) -> Option<Result<ctl::Client, ctl::CtlError>> {
        if let Some(shared) = self.clients.get_mut(key) {
            shared.users += 1;
            return Some(Ok(shared.value.clone()));
        }
        let conn = self.connections.get_mut(&key.0)?;
        let client = match builder(conn.value.clone(), &key.1)
            .track_hosts(true)
            .try_build()
        {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        conn.users += 1;
        self.clients.insert(
            key.clone(),
            Shared {
                value: client.clone(),
                users: 1,
            },
        );
        Some(Ok(client))
    }

    /// Drops one reference on the client for `key`, and the client's on its connection when
    /// it was the last user.
    pub(super) fn release(&mut self, key: &ClientKey) {
        if !dec(&mut self.clients, key) {
            return;
        }
        if dec(&mut self.connections, &key.0) {
            debug!("closing a NATS connection no link uses any more");
        }
    }

    /// Whether a connect attempt for these settings is under way.
    pub(super) fn is_connecting(&self, settings: &ConnectionSettings) -> bool {
        self.connecting.contains_key(settings)
    }

    /// Records the task of a connect attempt.
    pub(super) fn connecting(&mut self, settings: ConnectionSettings, task: AbortHandle) {
        self.connecting.insert(settings, task);
    }

    /// The attempt for these settings ended: a new connection is kept (with no user yet).
    pub(super) fn connected(
        &mut self,
        settings: &ConnectionSettings,
        outcome: Option<async_nats::Client>,
    ) {
        self.connecting.remove(settings);
        if let Some(nats) = outcome {
            self.connections.entry(settings.clone()).or_insert(Shared {
                value: nats,
                users: 0,
            });
        }
    }

    /// Aborts the connect attempt for these settings (no link waits for it any more).
    pub(super) fn abandon(&mut self, settings: &ConnectionSettings) {
        if let Some(task) = self.connecting.remove(settings) {
            task.abort();
            debug!("abandoned a NATS connect no link waits for");
        }
    }

    /// Closes connections no client uses (one opened for links that went meanwhile).
    pub(super) fn drop_unused(&mut self) {
        self.connections.retain(|_, c| c.users > 0);
    }

    /// Drops every client, connection and connect attempt.
    pub(super) fn clear(&mut self) {
        for (_, task) in self.connecting.drain() {
            task.abort();
        }
        self.clients.clear();
        self.connections.clear();
    }

    /// Connect attempts under way.
    #[cfg(test)]
    pub(super) fn counts_connecting(&self) -> usize {
        self.connecting.len()
    }

    /// (clients, connections) held.
    pub(super) fn counts(&self) -> (usize, usize) {
        (self.clients.len(), self.connections.len())
    }
}

/// Decrements a shared entry; removes it and returns `true` at zero.
fn dec<K: std::hash::Hash + Eq, T>(map: &mut HashMap<K, Shared<T>>, key: &K) -> bool {
    let Some(shared) = map.get_mut(key) else {
        return false;
    };
    shared.users = shared.users.saturating_sub(1);
    if shared.users == 0 {
        map.remove(key);
        return true;
    }
    false
}

fn builder(nats: async_nats::Client, s: &ClientSettings) -> ClientBuilder {
    ClientBuilder::new(nats)
        .lattice(&s.lattice)
        .topic_prefix(&s.topic_prefix)
        .timeout(s.timeout)
        .auction_timeout(s.scatter_timeout)
        .coalesce_reads(s.coalesce_reads)
}

/// Credentials written in a server URL, as NATS clients read them: `nats://user:pass@host`
/// is a user and password, `nats://token@host` a token.
#[derive(Debug, PartialEq, Eq)]
enum UrlAuth {
    UserPassword(String, String),
    Token(String),
}

/// The credentials in the first server URL that has any (percent-decoded). async-nats 0.39
/// parses them but does not send them, so the connection would be anonymous without this.
fn url_user_info(urls: &[String]) -> Option<UrlAuth> {
    urls.iter().find_map(|u| {
        let url = url::Url::parse(u).ok()?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = decode(url.username());
        match url.password() {
            Some(password) => Some(UrlAuth::UserPassword(user, decode(password))),
            None if !user.is_empty() => Some(UrlAuth::Token(user)),
            None => None,
        }
    })
}

/// Server URLs for messages: user info (`user:password@`) is replaced.
#[must_use]
pub fn redact_urls(urls: &[String]) -> String {
    urls.iter()
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}<redacted>{}", &u[..s + 3], &u[at..]),
            (None, Some(at)) => format!("<redacted>{}", &u[at..]),
            _ => u.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Logs a link connection's events, naming its servers (without user info). A closed
/// connection is routine (its last link went) and logs at debug, not as an error.
fn log_connection_events(
    options: async_nats::ConnectOptions,
    servers: String,
) -> async_nats::ConnectOptions {
    options.event_callback(move |event| {
        let servers = servers.clone();
        async move {
            use async_nats::Event;
            match event {
                Event::Connected => info!(%servers, "link NATS connection up"),
                Event::Disconnected => warn!(%servers, "link NATS connection lost; reconnecting"),
                Event::Closed => debug!(%servers, "link NATS connection closed"),
                Event::LameDuckMode | Event::Draining => {
                    info!(%servers, %event, "link NATS server going away")
                }
                Event::SlowConsumer(_) | Event::ServerError(_) | Event::ClientError(_) => {
                    warn!(%servers, %event, "link NATS connection");
                }
            }
        }
    })
}

/// Opens a NATS connection, bounded by [`CONNECT_TIMEOUT`]. Errors name the servers
/// (without user info) and never a credential.
pub async fn connect(settings: &ConnectionSettings) -> Result<async_nats::Client, String> {
    connect_named(settings, LINK_CONNECTION_NAME).await
}

/// The name of the links' NATS connections (what a server's `/connz` lists).
pub const LINK_CONNECTION_NAME: &str = "lattice-control-provider";

/// [`connect`] with a connection name of its own.
pub async fn connect_named(
    settings: &ConnectionSettings,
    name: &str,
) -> Result<async_nats::Client, String> {
    let servers = redact_urls(&settings.urls);
    let options = match &settings.auth {
        Auth::None => match url_user_info(&settings.urls) {
            Some(UrlAuth::UserPassword(user, password)) => {
                async_nats::ConnectOptions::with_user_and_password(user, password)
            }
            Some(UrlAuth::Token(token)) => async_nats::ConnectOptions::with_token(token),
            None => async_nats::ConnectOptions::new(),
        },
        Auth::Jwt { jwt, seed } => {
            // sign the server's nonce with the seed: no creds text holding both is built
            let key = std::sync::Arc::new(
                nkeys::KeyPair::from_seed(seed.expose())
                    .map_err(|_| "the nkey seed (ctl_seed) is not valid".to_string())?,
            );
            async_nats::ConnectOptions::with_jwt(jwt.expose().to_string(), move |nonce| {
                let key = std::sync::Arc::clone(&key);
                async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
            })
        }
        Auth::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| {
                format!(
                    "cannot read the creds file (ctl_credsfile) {}: {}",
                    path.display(),
                    e.kind()
                )
            })?,
    };
    let mut options = log_connection_events(options, servers.clone())
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT);
    if let Some(ca) = &settings.tls_ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some(pem) = &settings.tls_ca {
        options = options
            .tls_client_config(inline_ca_config(pem.expose())?)
            .require_tls(true);
    }
    if settings.tls_first {
        options = options.tls_first();
    }
    let addrs = settings
        .urls
        .iter()
        .map(|u| async_nats::ServerAddr::from_str(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("bad NATS server URL in {servers}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect(addrs)).await {
        Ok(Ok(client)) => {
            info!(servers = %servers, "connected to NATS for a link");
            Ok(client)
        }
        Ok(Err(e)) => Err(format!("cannot connect to NATS at {servers}: {}", e.kind())),
        Err(_) => Err(format!(
            "cannot connect to NATS at {servers} within {} ms",
            CONNECT_TIMEOUT.as_millis()
        )),
    }
}

/// A TLS client configuration trusting exactly the CA certificates of `pem` (already checked
/// when the settings were resolved; an error here names the key, never the text).
fn inline_ca_config(pem: &str) -> Result<async_nats::rustls::ClientConfig, String> {
    use async_nats::rustls;
    let roots = config::root_store(pem).map_err(|reason| format!("tls_ca: {reason}"))?;
    // name the crypto provider: `ClientConfig::builder()` panics when the build has two
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls_ca: cannot build a TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod url_auth_tests {
    use super::*;

    fn urls(u: &[&str]) -> Vec<String> {
        u.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn user_info_in_a_server_url_becomes_the_credentials() {
        assert_eq!(
            url_user_info(&urls(&["nats://waiter:p%40ss+w@127.0.0.1:4222"])),
            Some(UrlAuth::UserPassword("waiter".into(), "p@ss+w".into()))
        );
        assert_eq!(
            url_user_info(&urls(&[
                "nats://127.0.0.1:4222",
                "tls://s3cr3t@nats.example:4222"
            ])),
            Some(UrlAuth::Token("s3cr3t".into()))
        );
        assert_eq!(url_user_info(&urls(&["nats://127.0.0.1:4222"])), None);
        assert_eq!(url_user_info(&urls(&["127.0.0.1:4222"])), None);
    }
}
