//! Per-link settings: which lattice a link manages and how to reach it.
//!
//! A link's settings are merged, per key and case-insensitively, from (highest first) the
//! link's secrets, the link's target config, the provider's secrets and the provider's config.
//! Keys this module does not know (policy, events) are passed through in
//! [`LinkSettings::values`] for their own parsers. Parsing never panics: a bad value is a
//! [`ConfigError`] naming the key, never the value.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tracing::warn;
use wasmcloud_provider_sdk::core::secrets::SecretValue;

/// Settings key: the lattice the link manages.
pub const LATTICE: &str = "lattice";
/// Settings key: NATS server URL(s), comma-separated for cluster failover.
pub const NATS_URL: &str = "nats_url";
/// Settings key: NATS host (when `nats_url` is not set).
pub const NATS_HOST: &str = "nats_host";
/// Settings key: NATS port (when `nats_url` is not set).
pub const NATS_PORT: &str = "nats_port";
/// Settings key: NATS user JWT (secret).
pub const NATS_JWT: &str = "nats_jwt";
/// Settings key: NATS user nkey seed (secret).
pub const NATS_SEED: &str = "nats_seed";
/// Settings key: path of a NATS `.creds` file.
pub const NATS_CREDS_FILE: &str = "nats_creds_file";
/// Settings key: PEM file of CA certificates to trust for TLS.
pub const TLS_CA_FILE: &str = "tls_ca_file";
/// Settings key: start TLS before the NATS handshake.
pub const TLS_FIRST: &str = "tls_first";
/// Settings key: control topic prefix.
pub const TOPIC_PREFIX: &str = "topic_prefix";
/// Settings key: request timeout in ms.
pub const TIMEOUT_MS: &str = "timeout_ms";
/// Settings key: scatter (ping, auction) timeout in ms.
pub const SCATTER_TIMEOUT_MS: &str = "scatter_timeout_ms";
/// Settings key: share one host request between concurrent identical reads.
pub const COALESCE_READS: &str = "coalesce_reads";

/// The longest scatter wait: the host gives a provider 10 s to answer a call.
pub const MAX_SCATTER_TIMEOUT_MS: u64 = 9000;
const DEFAULT_TIMEOUT_MS: u64 = 2000;
const DEFAULT_SCATTER_TIMEOUT_MS: u64 = 3000;
const DEFAULT_TOPIC_PREFIX: &str = "wasmbus.ctl";
const DEFAULT_NATS_HOST: &str = "127.0.0.1";
const DEFAULT_NATS_PORT: u16 = 4222;
const DEFAULT_LATTICE: &str = "default";

/// One connection setting, as documented in the README table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// Key name (lower case; keys match case-insensitively).
    pub key: &'static str,
    /// Default, in words.
    pub default: &'static str,
    /// Whether the value is a credential that belongs in a secret.
    pub secret: bool,
    /// What it does.
    pub description: &'static str,
}

/// Every connection setting of a link (policy and event keys are documented by their modules).
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        key: LATTICE,
        default: "the lattice the provider runs in",
        secret: false,
        description: "lattice the link manages",
    },
    KeySpec {
        key: NATS_URL,
        default: "the provider's own NATS URL",
        secret: false,
        description: "NATS server URL; a comma-separated list fails over between cluster members; `user:password@` or `token@` in a URL are its credentials (then put the URL in secrets)",
    },
    KeySpec {
        key: NATS_HOST,
        default: "127.0.0.1",
        secret: false,
        description: "NATS host, used when `nats_url` is not set",
    },
    KeySpec {
        key: NATS_PORT,
        default: "4222",
        secret: false,
        description: "NATS port, used when `nats_url` is not set",
    },
    KeySpec {
        key: NATS_JWT,
        default: "none (the provider's own when no connection key is set)",
        secret: true,
        description: "NATS user JWT; needs `nats_seed`",
    },
    KeySpec {
        key: NATS_SEED,
        default: "none (the provider's own when no connection key is set)",
        secret: true,
        description: "NATS user nkey seed; needs `nats_jwt`",
    },
    KeySpec {
        key: NATS_CREDS_FILE,
        default: "none",
        secret: false,
        description: "path of a NATS `.creds` file (instead of `nats_jwt` + `nats_seed`)",
    },
    KeySpec {
        key: TLS_CA_FILE,
        default: "none (system roots)",
        secret: false,
        description: "PEM file of CA certificates to trust",
    },
    KeySpec {
        key: TLS_FIRST,
        default: "false",
        secret: false,
        description: "start TLS before the NATS handshake (`true`/`false`)",
    },
    KeySpec {
        key: TOPIC_PREFIX,
        default: DEFAULT_TOPIC_PREFIX,
        secret: false,
        description: "control-interface topic prefix",
    },
    KeySpec {
        key: TIMEOUT_MS,
        default: "2000",
        secret: false,
        description: "timeout of a request to one host, ms (> 0)",
    },
    KeySpec {
        key: SCATTER_TIMEOUT_MS,
        default: "3000",
        secret: false,
        description: "how long pings and auctions collect answers, ms (1..=9000)",
    },
    KeySpec {
        key: COALESCE_READS,
        default: "true",
        secret: false,
        description: "concurrent identical reads (inventory, links, claims, config) share one host request sent after each of them asked",
    },
];

/// Keys that choose the NATS connection; with none of them a link uses the provider's own.
const CONNECTION_KEYS: [&str; 8] = [
    NATS_URL,
    NATS_HOST,
    NATS_PORT,
    NATS_JWT,
    NATS_SEED,
    NATS_CREDS_FILE,
    TLS_CA_FILE,
    TLS_FIRST,
];

/// A credential. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for the NATS connect call only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A bad setting. The message names the key, never the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid link setting `{key}`: {reason}")]
pub struct ConfigError {
    /// The offending key.
    pub key: String,
    /// Why it was refused.
    pub reason: String,
}

fn bad(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// How the NATS connection authenticates.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Auth {
    /// No credentials.
    None,
    /// A user JWT and its nkey seed.
    Jwt {
        /// User JWT.
        jwt: Secret,
        /// User nkey seed.
        seed: Secret,
    },
    /// A `.creds` file.
    CredsFile(PathBuf),
}

/// Everything that makes one NATS connection; links with equal values share it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionSettings {
    /// Server URLs (several: failover within a cluster).
    pub urls: Vec<String>,
    /// Credentials.
    pub auth: Auth,
    /// Extra CA certificates.
    pub tls_ca_file: Option<PathBuf>,
    /// TLS before the NATS handshake.
    pub tls_first: bool,
}

/// Everything that makes one control client on a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientSettings {
    /// Lattice to manage.
    pub lattice: String,
    /// Control topic prefix.
    pub topic_prefix: String,
    /// Request timeout.
    pub timeout: Duration,
    /// Scatter timeout.
    pub scatter_timeout: Duration,
    /// Share read requests between concurrent callers ([`crate::ctl::ClientBuilder::coalesce_reads`]).
    pub coalesce_reads: bool,
}

/// The merged settings of a link, keys lower case. `Debug` shows keys only (values may be
/// credentials).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SettingsMap(HashMap<String, String>);

impl SettingsMap {
    /// The value of `key` (lower case).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Every merged key and value, for the policy and event parsers.
    #[must_use]
    pub fn as_map(&self) -> &HashMap<String, String> {
        &self.0
    }
}

impl fmt::Debug for SettingsMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: BTreeSet<&String> = self.0.keys().collect();
        f.debug_struct("SettingsMap").field("keys", &keys).finish()
    }
}

/// A link's resolved settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSettings {
    /// The NATS connection.
    pub connection: ConnectionSettings,
    /// The control client on it.
    pub client: ClientSettings,
    /// Every merged key (including policy and event keys).
    pub values: SettingsMap,
}

/// What the provider itself was started with: the defaults of every link.
#[derive(Clone, Default)]
pub struct ProviderDefaults {
    /// The lattice the provider runs in.
    pub lattice: String,
    /// The provider's own NATS URL.
    pub rpc_url: String,
    /// The provider's own NATS JWT and seed, if any.
    pub rpc_credentials: Option<(Secret, Secret)>,
    /// The provider's named config.
    pub config: HashMap<String, String>,
    /// The provider's secrets.
    pub secrets: HashMap<String, Secret>,
}

impl fmt::Debug for ProviderDefaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderDefaults")
            .field("lattice", &self.lattice)
            .field("rpc_credentials", &self.rpc_credentials.is_some())
            .field("config_keys", &self.config.keys().collect::<BTreeSet<_>>())
            .field("secret_keys", &self.secrets.keys().collect::<BTreeSet<_>>())
            .finish()
    }
}

impl ProviderDefaults {
    /// Defaults from the host's data for this provider.
    #[must_use]
    pub fn from_host_data(
        lattice: &str,
        rpc_url: &str,
        rpc_jwt: &str,
        rpc_seed: &str,
        config: &HashMap<String, String>,
        secrets: &HashMap<String, SecretValue>,
    ) -> Self {
        let rpc_credentials = match (rpc_jwt.trim(), rpc_seed.trim()) {
            ("", _) | (_, "") => None,
            (jwt, seed) => Some((Secret::new(jwt), Secret::new(seed))),
        };
        Self {
            lattice: lattice.to_string(),
            rpc_url: rpc_url.to_string(),
            rpc_credentials,
            config: config.clone(),
            secrets: secret_strings(secrets),
        }
    }
}

/// Secrets that are strings (or UTF-8 bytes); others are left out with a warning (key only).
#[must_use]
pub fn secret_strings(secrets: &HashMap<String, SecretValue>) -> HashMap<String, Secret> {
    let mut out = HashMap::new();
    for (key, value) in secrets {
        let text = match value {
            SecretValue::String(s) => Some(s.clone()),
            SecretValue::Bytes(b) => String::from_utf8(b.clone()).ok(),
        };
        match text {
            Some(t) => {
                out.insert(key.clone(), Secret::new(t));
            }
            None => warn!(key = %key, "ignoring a secret that is not UTF-8 text"),
        }
    }
    out
}

/// Where a merged value came from (only to warn about credentials in plain config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Secret,
    Config,
}

/// Names other wasmCloud tools give the same settings, read as the key they stand for:
/// `wash` and upstream's `provider-wadm` (`ctl_*`), the NATS providers (`cluster_uris`,
/// `client_jwt`, `client_seed`).
pub const ALIASES: &[(&str, &str)] = &[
    ("ctl_host", NATS_HOST),
    ("ctl_port", NATS_PORT),
    ("ctl_jwt", NATS_JWT),
    ("ctl_seed", NATS_SEED),
    ("ctl_credsfile", NATS_CREDS_FILE),
    ("ctl_tls_ca_file", TLS_CA_FILE),
    ("ctl_tls_first", TLS_FIRST),
    ("cluster_uris", NATS_URL),
    ("client_jwt", NATS_JWT),
    ("client_seed", NATS_SEED),
];

/// The key `key` (lower case) stands for.
fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, k)| k)
}

/// Merges the four sources, highest priority last wins, keys lower-cased, trimmed and read
/// through [`ALIASES`]. Two names of one setting with different values in one source are an
/// error (which one was meant is unknowable).
fn merge(
    link_config: &HashMap<String, String>,
    link_secrets: &HashMap<String, Secret>,
    defaults: &ProviderDefaults,
) -> Result<HashMap<String, (String, Origin)>, ConfigError> {
    let mut merged = HashMap::new();
    let mut conflict = None;
    let mut put = |source: &mut dyn Iterator<Item = (&String, &str)>, origin| {
        // sort so that keys differing only in case resolve the same way every time
        let mut items: Vec<(&String, &str)> = source.collect();
        items.sort();
        let mut named: HashMap<String, (String, &str)> = HashMap::new();
        for (k, v) in items {
            let written = k.trim().to_ascii_lowercase();
            let key = canonical(&written).to_string();
            if let Some((other, value)) = named.get(&key) {
                if *other != written && value.trim() != v.trim() && conflict.is_none() {
                    conflict = Some(bad(
                        &key,
                        format!("`{other}` and `{written}` name the same setting with different values; set one"),
                    ));
                }
            }
            named.insert(key.clone(), (written, v));
            merged.insert(key, (v.to_string(), origin));
        }
    };
    put(
        &mut defaults.config.iter().map(|(k, v)| (k, v.as_str())),
        Origin::Config,
    );
    put(
        &mut defaults.secrets.iter().map(|(k, v)| (k, v.expose())),
        Origin::Secret,
    );
    put(
        &mut link_config.iter().map(|(k, v)| (k, v.as_str())),
        Origin::Config,
    );
    put(
        &mut link_secrets.iter().map(|(k, v)| (k, v.expose())),
        Origin::Secret,
    );
    match conflict {
        Some(e) => Err(e),
        None => Ok(merged),
    }
}

/// Resolves a link's settings from its config and secrets over the provider's defaults.
pub fn resolve(
    link_config: &HashMap<String, String>,
    link_secrets: &HashMap<String, Secret>,
    defaults: &ProviderDefaults,
) -> Result<LinkSettings, ConfigError> {
    let merged = merge(link_config, link_secrets, defaults)?;
    for spec in KEYS.iter().filter(|s| s.secret) {
        if let Some((_, Origin::Config)) = merged.get(spec.key) {
            warn!(
                key = spec.key,
                "credential given in plain config; put it in a secret instead"
            );
        }
    }
    let get = |key: &str| {
        merged
            .get(key)
            .map(|(v, _)| v.trim())
            .filter(|v| !v.is_empty())
    };

    let connection = if CONNECTION_KEYS.iter().any(|k| get(k).is_some()) {
        connection_settings(&get, defaults)?
    } else {
        own_connection(defaults)
    };

    let lattice = match get(LATTICE) {
        Some(l) => l.to_string(),
        None if defaults.lattice.trim().is_empty() => DEFAULT_LATTICE.to_string(),
        None => defaults.lattice.trim().to_string(),
    };
    check_token(LATTICE, &lattice)?;
    let topic_prefix = get(TOPIC_PREFIX)
        .unwrap_or(DEFAULT_TOPIC_PREFIX)
        .to_string();
    if topic_prefix
        .split('.')
        .any(|t| check_token(TOPIC_PREFIX, t).is_err())
    {
        return Err(bad(
            TOPIC_PREFIX,
            "expected dot-separated NATS subject tokens without wildcards",
        ));
    }
    let timeout = millis(TIMEOUT_MS, get(TIMEOUT_MS), DEFAULT_TIMEOUT_MS, u64::MAX)?;
    let scatter_timeout = millis(
        SCATTER_TIMEOUT_MS,
        get(SCATTER_TIMEOUT_MS),
        DEFAULT_SCATTER_TIMEOUT_MS,
        MAX_SCATTER_TIMEOUT_MS,
    )?;
    let coalesce_reads = flag(COALESCE_READS, get(COALESCE_READS), true)?;

    Ok(LinkSettings {
        connection,
        client: ClientSettings {
            lattice,
            topic_prefix,
            timeout,
            scatter_timeout,
            coalesce_reads,
        },
        values: SettingsMap(merged.into_iter().map(|(k, (v, _))| (k, v)).collect()),
    })
}

/// The provider's own connection (no connection key set anywhere).
#[must_use]
pub fn own_connection(defaults: &ProviderDefaults) -> ConnectionSettings {
    let auth = match &defaults.rpc_credentials {
        Some((jwt, seed)) => Auth::Jwt {
            jwt: jwt.clone(),
            seed: seed.clone(),
        },
        None => Auth::None,
    };
    ConnectionSettings {
        urls: vec![own_url(defaults)],
        auth,
        tls_ca_file: None,
        tls_first: false,
    }
}

fn own_url(defaults: &ProviderDefaults) -> String {
    match defaults.rpc_url.trim() {
        "" => format!("nats://{DEFAULT_NATS_HOST}:{DEFAULT_NATS_PORT}"),
        url => url.to_string(),
    }
}

fn connection_settings<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    defaults: &ProviderDefaults,
) -> Result<ConnectionSettings, ConfigError> {
    let urls = match (get(NATS_URL), get(NATS_HOST), get(NATS_PORT)) {
        (Some(list), _, _) => {
            let urls: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect();
            if urls.is_empty() {
                return Err(bad(NATS_URL, "no URL given"));
            }
            urls
        }
        (None, None, None) => vec![own_url(defaults)],
        (None, host, port) => {
            let port = match port {
                None => DEFAULT_NATS_PORT,
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad(NATS_PORT, "expected a port number (1-65535)"))?,
            };
            let host = host.unwrap_or(DEFAULT_NATS_HOST);
            if host.contains(['/', '@', ' ', ',']) {
                return Err(bad(NATS_HOST, "expected a host name or address"));
            }
            vec![format!("nats://{host}:{port}")]
        }
    };
    for (i, url) in urls.iter().enumerate() {
        // the value may carry user:password, so the message gives its position only
        if async_nats::ServerAddr::from_str(url).is_err() {
            return Err(bad(
                NATS_URL,
                format!("entry {} is not a NATS server URL", i + 1),
            ));
        }
    }
    let auth = match (get(NATS_CREDS_FILE), get(NATS_JWT), get(NATS_SEED)) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(bad(
                NATS_CREDS_FILE,
                "set either a creds file or nats_jwt + nats_seed, not both",
            ))
        }
        (Some(path), None, None) => Auth::CredsFile(PathBuf::from(path)),
        (None, Some(jwt), Some(seed)) => {
            let (jwt, seed) = (Secret::new(jwt), Secret::new(seed));
            // parse now, so a bad pair is `invalid-argument` rather than a failed connect
            if !jwt_shaped(jwt.expose()) || nkeys::KeyPair::from_seed(seed.expose()).is_err() {
                return Err(bad(
                    NATS_SEED,
                    "nats_jwt and nats_seed are not a valid JWT and nkey seed",
                ));
            }
            Auth::Jwt { jwt, seed }
        }
        (None, Some(_), None) => return Err(bad(NATS_SEED, "missing (nats_jwt is set)")),
        (None, None, Some(_)) => return Err(bad(NATS_JWT, "missing (nats_seed is set)")),
        // the provider's own credentials go with the provider's own server only
        (None, None, None)
            if get(NATS_URL).is_none() && get(NATS_HOST).is_none() && get(NATS_PORT).is_none() =>
        {
            own_connection(defaults).auth
        }
        (None, None, None) => Auth::None,
    };
    let tls_first = flag(TLS_FIRST, get(TLS_FIRST), false)?;
    Ok(ConnectionSettings {
        urls,
        auth,
        tls_ca_file: get(TLS_CA_FILE).map(PathBuf::from),
        tls_first,
    })
}

/// Whether `jwt` has a JWT's three non-empty, dot-separated base64url parts.
fn jwt_shaped(jwt: &str) -> bool {
    let parts: Vec<&str> = jwt.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A true/false setting, `default` when absent.
fn flag(key: &str, value: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => parse_bool(v).ok_or_else(|| bad(key, "expected true or false")),
    }
}

fn millis(key: &str, value: Option<&str>, default: u64, max: u64) -> Result<Duration, ConfigError> {
    let ms = match value {
        None => default,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| bad(key, "expected a whole number of milliseconds"))?,
    };
    if ms == 0 {
        return Err(bad(key, "must be greater than zero"));
    }
    if ms > max {
        return Err(bad(key, format!("must be at most {max}")));
    }
    Ok(Duration::from_millis(ms))
}

/// One NATS subject token: non-empty, no dots, spaces or wildcards.
fn check_token(key: &str, token: &str) -> Result<(), ConfigError> {
    if token.is_empty() || token.contains(['.', '*', '>']) || token.chars().any(char::is_whitespace)
    {
        return Err(bad(
            key,
            "expected one NATS subject token (no dots, spaces or wildcards)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
