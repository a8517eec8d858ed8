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

use crate::ctl::subjects::DEFAULT_TOPIC_PREFIX;
use crate::ctl::{self, validate, DEFAULT_LATTICE};

/// Settings key: the lattice the link manages.
pub const LATTICE: &str = "lattice";
/// Settings key: NATS server URL(s), comma-separated for cluster failover.
pub const NATS_URL: &str = "nats_url";
/// Settings key: NATS host (when `nats_url` is not set); `wash`'s and `provider-wadm`'s name.
pub const CTL_HOST: &str = "ctl_host";
/// Settings key: NATS port (when `nats_url` is not set).
pub const CTL_PORT: &str = "ctl_port";
/// Settings key: NATS user JWT (secret).
pub const CTL_JWT: &str = "ctl_jwt";
/// Settings key: NATS user nkey seed (secret).
pub const CTL_SEED: &str = "ctl_seed";
/// Settings key: path of a NATS `.creds` file.
pub const CTL_CREDSFILE: &str = "ctl_credsfile";
/// Settings key: PEM file of CA certificates to trust for TLS.
pub const CTL_TLS_CA_FILE: &str = "ctl_tls_ca_file";
/// Settings key: CA certificates to trust for TLS, as PEM text (the NATS providers' name).
pub const TLS_CA: &str = "tls_ca";
/// Settings key: start TLS before the NATS handshake.
pub const CTL_TLS_FIRST: &str = "ctl_tls_first";
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
/// The control client's request timeout (the `KEYS` row says it in words).
const DEFAULT_TIMEOUT_MS: u64 = ctl::DEFAULT_TIMEOUT.as_millis() as u64;
const DEFAULT_SCATTER_TIMEOUT_MS: u64 = 3000;
const DEFAULT_NATS_HOST: &str = "127.0.0.1";
const DEFAULT_NATS_PORT: u16 = 4222;

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
        key: CTL_HOST,
        default: "127.0.0.1",
        secret: false,
        description: "NATS host, used when `nats_url` is not set",
    },
    KeySpec {
        key: CTL_PORT,
        default: "4222",
        secret: false,
        description: "NATS port, used when `nats_url` is not set",
    },
    KeySpec {
        key: CTL_JWT,
        default: "none (the provider's own when no connection key is set)",
        secret: true,
        description: "NATS user JWT; needs `ctl_seed`",
    },
    KeySpec {
        key: CTL_SEED,
        default: "none (the provider's own when no connection key is set)",
        secret: true,
        description: "NATS user nkey seed; needs `ctl_jwt`",
    },
    KeySpec {
        key: CTL_CREDSFILE,
        default: "none",
        secret: false,
        description: "path of a NATS `.creds` file (instead of `ctl_jwt` + `ctl_seed`)",
    },
    KeySpec {
        key: CTL_TLS_CA_FILE,
        default: "none (system roots)",
        secret: false,
        description: "PEM file of CA certificates to trust",
    },
    KeySpec {
        key: TLS_CA,
        default: "none (system roots)",
        secret: false,
        description: "CA certificates to trust, as PEM text (instead of `ctl_tls_ca_file`); read from secrets first, like every key",
    },
    KeySpec {
        key: CTL_TLS_FIRST,
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
const CONNECTION_KEYS: [&str; 9] = [
    NATS_URL,
    CTL_HOST,
    CTL_PORT,
    CTL_JWT,
    CTL_SEED,
    CTL_CREDSFILE,
    CTL_TLS_CA_FILE,
    TLS_CA,
    CTL_TLS_FIRST,
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
    /// Extra CA certificates, from a file.
    pub tls_ca_file: Option<PathBuf>,
    /// Extra CA certificates given inline (PEM text, checked when resolved).
    pub tls_ca: Option<Secret>,
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

/// The value of `key` in `settings`, keys compared case-insensitively (an exact match wins).
pub fn lookup<'a>(settings: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    settings
        .get(key)
        .or_else(|| {
            settings
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
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

/// Other names accepted for a setting, read as the key they stand for: this provider's
/// earlier names (`nats_*`, `tls_ca_file`, `tls_first`) and the NATS providers' (`cluster_uris`,
/// `client_jwt`, `client_seed`). The primary names are those of `wash` and upstream's
/// `provider-wadm` (`ctl_*`, `lattice`).
pub const ALIASES: &[(&str, &str)] = &[
    ("nats_host", CTL_HOST),
    ("nats_port", CTL_PORT),
    ("nats_jwt", CTL_JWT),
    ("nats_seed", CTL_SEED),
    ("nats_creds_file", CTL_CREDSFILE),
    ("tls_ca_file", CTL_TLS_CA_FILE),
    ("tls_first", CTL_TLS_FIRST),
    ("cluster_uris", NATS_URL),
    ("client_jwt", CTL_JWT),
    ("client_seed", CTL_SEED),
];

/// The key `key` (lower case) stands for.
fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, k)| k)
}

/// One merged setting: its value, where it came from, and the name it was written under
/// (lower case), so that an error names the key the user wrote.
struct Value {
    value: String,
    origin: Origin,
    written: String,
}

/// The merged settings, keyed by primary name.
struct Merged(HashMap<String, Value>);

impl Merged {
    /// The trimmed, non-empty value of `key`.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(|v| v.value.trim())
            .filter(|v| !v.is_empty())
    }

    /// The name `key` was written under (`key` itself when it was not given).
    fn name<'a>(&'a self, key: &'a str) -> &'a str {
        self.0.get(key).map_or(key, |v| v.written.as_str())
    }

    /// An error about `key`, under the name the user wrote.
    fn bad(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        bad(self.name(key), reason)
    }
}

/// Merges the four sources, highest priority last wins, keys lower-cased, trimmed and read
/// through [`ALIASES`]. Two names of one setting with different values in one source are an
/// error (which one was meant is unknowable).
fn merge(
    link_config: &HashMap<String, String>,
    link_secrets: &HashMap<String, Secret>,
    defaults: &ProviderDefaults,
) -> Result<Merged, ConfigError> {
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
                        &written,
                        format!("`{other}` and `{written}` name the same setting with different values; set one"),
                    ));
                }
            }
            named.insert(key.clone(), (written.clone(), v));
            merged.insert(
                key,
                Value {
                    value: v.to_string(),
                    origin,
                    written,
                },
            );
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
        None => Ok(Merged(merged)),
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
        if let Some(Value {
            origin: Origin::Config,
            written,
            ..
        }) = merged.0.get(spec.key)
        {
            warn!(
                key = %written,
                "credential given in plain config; put it in a secret instead"
            );
        }
    }

    let connection = if CONNECTION_KEYS.iter().any(|k| merged.get(k).is_some()) {
        connection_settings(&merged, defaults)?
    } else {
        own_connection(defaults)
    };

    let lattice = match merged.get(LATTICE) {
        Some(l) => l.to_string(),
        None if defaults.lattice.trim().is_empty() => DEFAULT_LATTICE.to_string(),
        None => defaults.lattice.trim().to_string(),
    };
    check_token(LATTICE, &lattice)?;
    let topic_prefix = merged
        .get(TOPIC_PREFIX)
        .unwrap_or(DEFAULT_TOPIC_PREFIX)
        .to_string();
    if !validate::is_subject_prefix(&topic_prefix) {
        return Err(bad(
            TOPIC_PREFIX,
            "expected dot-separated NATS subject tokens without wildcards, whitespace or control characters",
        ));
    }
    let timeout = millis(
        TIMEOUT_MS,
        merged.get(TIMEOUT_MS),
        DEFAULT_TIMEOUT_MS,
        u64::MAX,
    )?;
    let scatter_timeout = millis(
        SCATTER_TIMEOUT_MS,
        merged.get(SCATTER_TIMEOUT_MS),
        DEFAULT_SCATTER_TIMEOUT_MS,
        MAX_SCATTER_TIMEOUT_MS,
    )?;
    let coalesce_reads = flag(COALESCE_READS, merged.get(COALESCE_READS), true)?;

    Ok(LinkSettings {
        connection,
        client: ClientSettings {
            lattice,
            topic_prefix,
            timeout,
            scatter_timeout,
            coalesce_reads,
        },
        values: SettingsMap(merged.0.into_iter().map(|(k, v)| (k, v.value)).collect()),
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
        tls_ca: None,
        tls_first: false,
    }
}

fn own_url(defaults: &ProviderDefaults) -> String {
    match defaults.rpc_url.trim() {
        "" => format!("nats://{DEFAULT_NATS_HOST}:{DEFAULT_NATS_PORT}"),
        url => url.to_string(),
    }
}

fn connection_settings(
    m: &Merged,
    defaults: &ProviderDefaults,
) -> Result<ConnectionSettings, ConfigError> {
    let urls = match (m.get(NATS_URL), m.get(CTL_HOST), m.get(CTL_PORT)) {
        (Some(list), _, _) => {
            let urls: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect();
            if urls.is_empty() {
                return Err(m.bad(NATS_URL, "no URL given"));
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
                    .ok_or_else(|| m.bad(CTL_PORT, "expected a port number (1-65535)"))?,
            };
            let host = host.unwrap_or(DEFAULT_NATS_HOST);
            if host.contains(['/', '@', ' ', ',']) {
                return Err(m.bad(CTL_HOST, "expected a host name or address"));
            }
            vec![format!("nats://{host}:{port}")]
        }
    };
    for (i, url) in urls.iter().enumerate() {
        // the value may carry user:password, so the message gives its position only
        if async_nats::ServerAddr::from_str(url).is_err() {
            return Err(m.bad(
                NATS_URL,
                format!("entry {} is not a NATS server URL", i + 1),
            ));
        }
    }
    let (jwt_key, seed_key) = (m.name(CTL_JWT), m.name(CTL_SEED));
    let auth = match (m.get(CTL_CREDSFILE), m.get(CTL_JWT), m.get(CTL_SEED)) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(m.bad(
                CTL_CREDSFILE,
                format!("set either a creds file or {jwt_key} + {seed_key}, not both"),
            ))
        }
        (Some(path), None, None) => Auth::CredsFile(PathBuf::from(path)),
        (None, Some(jwt), Some(seed)) => {
            let (jwt, seed) = (Secret::new(jwt), Secret::new(seed));
            // parse now, so a bad pair is `invalid-argument` rather than a failed connect
            if !jwt_shaped(jwt.expose()) || nkeys::KeyPair::from_seed(seed.expose()).is_err() {
                return Err(m.bad(
                    CTL_SEED,
                    format!("{jwt_key} and {seed_key} are not a valid JWT and nkey seed"),
                ));
            }
            Auth::Jwt { jwt, seed }
        }
        (None, Some(_), None) => return Err(bad(seed_key, format!("missing ({jwt_key} is set)"))),
        (None, None, Some(_)) => return Err(bad(jwt_key, format!("missing ({seed_key} is set)"))),
        // the provider's own credentials go with the provider's own server only
        (None, None, None)
            if m.get(NATS_URL).is_none()
                && m.get(CTL_HOST).is_none()
                && m.get(CTL_PORT).is_none() =>
        {
            own_connection(defaults).auth
        }
        (None, None, None) => Auth::None,
    };
    let tls_first = flag(m.name(CTL_TLS_FIRST), m.get(CTL_TLS_FIRST), false)?;
    let tls_ca = match (m.get(TLS_CA), m.get(CTL_TLS_CA_FILE)) {
        (Some(_), Some(_)) => {
            return Err(bad(
                TLS_CA,
                format!(
                    "set either {TLS_CA} (PEM text) or {} (a file), not both",
                    m.name(CTL_TLS_CA_FILE)
                ),
            ))
        }
        (Some(pem), None) => {
            root_store(pem).map_err(|reason| bad(TLS_CA, reason))?;
            Some(Secret::new(pem))
        }
        (None, _) => None,
    };
    Ok(ConnectionSettings {
        urls,
        auth,
        tls_ca_file: m.get(CTL_TLS_CA_FILE).map(PathBuf::from),
        tls_ca,
        tls_first,
    })
}

/// The CA certificates of PEM text `pem` as a root store. The reason of a refusal never
/// quotes the text.
pub fn root_store(pem: &str) -> Result<async_nats::rustls::RootCertStore, String> {
    use async_nats::rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = async_nats::rustls::RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let cert = cert.map_err(|_| format!("certificate {} is not valid PEM", i + 1))?;
        roots
            .add(cert)
            .map_err(|_| format!("certificate {} is not a valid X.509 certificate", i + 1))?;
    }
    if roots.is_empty() {
        return Err("expected PEM text with at least one CERTIFICATE block".to_string());
    }
    Ok(roots)
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

/// One NATS subject token (see [`validate::is_subject_token`]).
fn check_token(key: &str, token: &str) -> Result<(), ConfigError> {
    if !validate::is_subject_token(token) {
        return Err(bad(
            key,
            "expected one NATS subject token (no dots, wildcards, whitespace or control characters)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
