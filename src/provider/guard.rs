//! What a link may not do to lattice-control link settings without `manage-links`.
//!
//! A link's settings are the named configs its link names, merged over the provider's own
//! config; the provider follows edits of those configs (its host view, in [`super::links`]). A component
//! granted `put-config` or `put-link` could therefore rewrite its own policy, or put a second
//! link to this provider naming a broader config. Without [`MANAGE_LINKS`] these calls are
//! refused where they would change lattice-control link settings:
//!
//! * `put-config` / `delete-config` of a config that a **lattice-control link** names (source
//!   or target config), or whose current or new values hold a **setting key** (any key the
//!   provider reads from link settings: policy, connection and event keys). The second rule
//!   covers the provider's own config (the host does not say which configs those are) and
//!   the race where a config is written first and linked later: a config a caller without
//!   the right wrote cannot hold a setting, so linking it later changes nothing.
//! * `put-link` / `delete-link` of a lattice-control link, or of a link whose key (source,
//!   namespace, package, name) a lattice-control link holds (a put would replace it).
//! * `start-provider` (and its wait form) under this provider's id: a replica started with a
//!   config of the caller's choosing would serve this provider's links with that config as
//!   their defaults.
//! * `get-config` of a config that holds a setting key answers with credential values
//!   withheld (credential keys, and user info in URLs); every credential the provider reads
//!   is a setting key, so this covers every config that gives a link credentials.
//!
//! A *lattice-control link* is a link whose source or target is this provider, or whose
//! package is `wasmcloud:lattice-control` (any instance of this provider, any lattice).
//! Which links exist is read from the host (`get-links`) of the lattice the call changes,
//! at the time of the call.
//!
//! [`MANAGE_LINKS`]: super::policy::MANAGE_LINKS

use std::collections::HashMap;

use super::config;
use super::events::{EVENTS_KEY, EVENT_QUEUE_KEY, EVENT_TIMEOUT_KEY};
use super::load;
use super::policy::MANAGE_LINKS;
use crate::ctl;

/// WIT namespace of this provider's links.
pub const WIT_NAMESPACE: &str = "wasmcloud";
/// WIT package of this provider's links.
pub const WIT_PACKAGE: &str = "lattice-control";

/// What a credential value reads as in a `get-config` answer without `manage-links`.
pub const WITHHELD: &str = "<withheld: needs manage-links>";

/// Prefixes of keys the provider reads, or may read, as link settings.
const SETTING_PREFIXES: [&str; 5] = ["allow", "ctl_", "nats_", "tls_", "event_"];

/// Parts of a key name that mark a credential, whatever reads it.
const CREDENTIAL_MARKS: [&str; 6] = ["jwt", "seed", "password", "secret", "token", "creds"];

/// Keys the provider reads from its own config only: a config holding one may be the
/// provider's, so writing it is a setting change like a link's.
const PROVIDER_KEYS: [&str; 3] = [
    load::http::LISTEN_KEY,
    load::publish::INTERVAL_KEY,
    crate::runtime::KEY,
];

/// Whether `key` is (or may be) read by the provider as a link setting, or as its own.
#[must_use]
pub fn is_setting_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    SETTING_PREFIXES.iter().any(|p| key.starts_with(p))
        || config::KEYS.iter().any(|k| k.key == key)
        || config::ALIASES.iter().any(|(alias, _)| *alias == key)
        || [EVENTS_KEY, EVENT_QUEUE_KEY, EVENT_TIMEOUT_KEY].contains(&key.as_str())
        || PROVIDER_KEYS.contains(&key.as_str())
}

/// Whether the value of `key` is a credential: a key the provider treats as one, or a key
/// whose name says it is.
#[must_use]
pub fn is_credential_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    CREDENTIAL_MARKS.iter().any(|m| key.contains(m))
        || config::KEYS.iter().any(|k| k.secret && k.key == key)
}

/// The first setting key among `keys`, if any.
fn first_setting_key<'a>(keys: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let mut found: Vec<&str> = keys
        .map(String::as_str)
        .filter(|k| is_setting_key(k))
        .collect();
    found.sort_unstable();
    found.first().copied()
}

/// `value` with the user info of every URL in it (a comma list) replaced.
fn without_userinfo(value: &str) -> Option<String> {
    let mut changed = false;
    let parts: Vec<String> = value
        .split(',')
        .map(|url| match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                changed = true;
                format!("{}{WITHHELD}{}", &url[..s + 3], &url[at..])
            }
            _ => url.to_string(),
        })
        .collect();
    changed.then(|| parts.join(","))
}

/// Withholds the credentials of `values` when it holds link settings; the number of values
/// withheld.
pub fn withhold_credentials(values: &mut HashMap<String, String>) -> usize {
    if first_setting_key(values.keys()).is_none() {
        return 0;
    }
    let mut withheld = 0;
    for (key, value) in values.iter_mut() {
        if is_credential_key(key) {
            *value = WITHHELD.to_string();
            withheld += 1;
        } else if let Some(v) = without_userinfo(value) {
            *value = v;
            withheld += 1;
        }
    }
    withheld
}

/// Whether `link` is a lattice-control link (see the module docs).
#[must_use]
pub fn is_lattice_control_link(
    provider_id: Option<&str>,
    source_id: &str,
    target: Option<&str>,
    wit_namespace: &str,
    wit_package: &str,
) -> bool {
    let this = |id: &str| provider_id.is_some_and(|p| p == id);
    this(source_id)
        || target.is_some_and(this)
        || (wit_namespace == WIT_NAMESPACE && wit_package == WIT_PACKAGE)
}

fn describe(link: &ctl::Link) -> String {
    format!(
        "link `{}` from `{}` to `{}` ({}:{})",
        link.name, link.source_id, link.target, link.wit_namespace, link.wit_package
    )
}

fn lattice_control(provider_id: Option<&str>, link: &ctl::Link) -> bool {
    is_lattice_control_link(
        provider_id,
        &link.source_id,
        Some(&link.target),
        &link.wit_namespace,
        &link.wit_package,
    )
}

fn needs_right(what: String) -> String {
    format!("{what}; that needs `{MANAGE_LINKS}` in the link's `allow`")
}

/// Why putting `values` into config `name` is refused without the right, whatever config it
/// is: they hold a link setting. Known before any request.
#[must_use]
pub fn settings_written(name: &str, values: &HashMap<String, String>) -> Option<String> {
    first_setting_key(values.keys()).map(|key| {
        needs_right(format!(
            "config `{name}`: `{key}` is a lattice-control link setting, and writing one"
        ))
    })
}

/// Why writing or deleting config `name` is refused without the right, given `current` (its
/// values on the host) and `links` (the host's links); the values a put writes are
/// [`settings_written`]'s.
#[must_use]
pub fn config_change_refused(
    provider_id: Option<&str>,
    name: &str,
    current: Option<&HashMap<String, String>>,
    links: &[ctl::Link],
) -> Option<String> {
    let named = links
        .iter()
        .filter(|l| lattice_control(provider_id, l))
        .find(|l| {
            l.source_config
                .iter()
                .chain(&l.target_config)
                .any(|c| c == name)
        })
        .map(|l| {
            needs_right(format!(
                "config `{name}` is named by {}, and changing it changes that link's settings",
                describe(l)
            ))
        });
    if named.is_some() {
        return named;
    }
    if let Some(key) = current.and_then(|v| first_setting_key(v.keys())) {
        return Some(needs_right(format!(
            "config `{name}` holds the lattice-control link setting `{key}`, and changing it"
        )));
    }
    None
}

/// Why starting a provider as `started_id` is refused without the right: it is this
/// provider's id.
#[must_use]
pub fn provider_start_refused(provider_id: Option<&str>, started_id: &str) -> Option<String> {
    (provider_id == Some(started_id)).then(|| {
        needs_right(format!(
            "`{started_id}` is this provider: a replica started with other config would serve its links"
        ))
    })
}

/// Why putting `link` is refused without the right, given the host's `links`.
#[must_use]
pub fn link_put_refused(
    provider_id: Option<&str>,
    link: &ctl::Link,
    links: &[ctl::Link],
) -> Option<String> {
    if lattice_control(provider_id, link) {
        return Some(needs_right(format!(
            "{} is a lattice-control link, and putting one",
            describe(link)
        )));
    }
    replaced(
        provider_id,
        &link.source_id,
        &link.wit_namespace,
        &link.wit_package,
        &link.name,
        links,
    )
}

/// Why deleting the link `request` names is refused without the right.
#[must_use]
pub fn link_delete_refused(
    provider_id: Option<&str>,
    request: &ctl::DeleteInterfaceLinkDefinitionRequest,
    links: &[ctl::Link],
) -> Option<String> {
    let (source, ns, pkg, name) = (
        &request.source_id,
        &request.wit_namespace,
        &request.wit_package,
        &request.name,
    );
    if is_lattice_control_link(provider_id, source, None, ns, pkg) {
        return Some(needs_right(format!(
            "link `{name}` from `{source}` ({ns}:{pkg}) is a lattice-control link, and deleting one"
        )));
    }
    replaced(provider_id, source, ns, pkg, name, links)
}

/// Why a put or delete of the link key (source, namespace, package, name) is refused: a
/// lattice-control link holds that key.
fn replaced(
    provider_id: Option<&str>,
    source: &str,
    ns: &str,
    pkg: &str,
    name: &str,
    links: &[ctl::Link],
) -> Option<String> {
    links
        .iter()
        .find(|l| {
            l.source_id == source
                && l.wit_namespace == ns
                && l.wit_package == pkg
                && l.name == name
                && lattice_control(provider_id, l)
        })
        .map(|l| needs_right(format!("this changes {}", describe(l))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(source: &str, target: &str, package: &str, configs: &[&str]) -> ctl::Link {
        ctl::Link {
            source_id: source.into(),
            target: target.into(),
            name: "default".into(),
            wit_namespace: "wasmcloud".into(),
            wit_package: package.into(),
            interfaces: vec![package.into()],
            target_config: configs.iter().map(|c| c.to_string()).collect(),
            ..ctl::Link::default()
        }
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn setting_keys_cover_policy_connection_and_event_keys() {
        for key in [
            "allow",
            " ALLOW ",
            "allowed_hosts",
            "allow_typo",
            "lattice",
            "nats_url",
            "cluster_uris",
            "client_seed",
            "ctl_jwt",
            "tls_ca",
            "topic_prefix",
            "timeout_ms",
            "events",
            "event_timeout_ms",
            "event_queue",
            "otlp_listen",
            "load_interval_ms",
            "runtime",
        ] {
            assert!(is_setting_key(key), "{key}");
        }
        for key in [
            "last_scale",
            "replicas",
            "owner",
            "k",
            "event-id",
            "eventual",
        ] {
            assert!(!is_setting_key(key), "{key}");
        }
    }

    #[test]
    fn config_writes_refused_by_values_and_by_links() {
        let links = vec![
            link("comp", "PROV", "lattice-control", &["acc-esc"]),
            link("comp", "other-prov", "keyvalue", &["kv-cfg"]),
        ];
        let prov = Some("PROV");
        let escalate = map(&[("allow", "all")]);
        let why = settings_written("fresh", &escalate);
        assert!(why.is_some_and(|w| w.contains("`allow`") && w.contains(MANAGE_LINKS)));
        let plain = map(&[("last_scale", "3")]);
        assert_eq!(settings_written("acc-esc", &plain), None);
        let why = config_change_refused(prov, "acc-esc", None, &links);
        assert!(why.is_some_and(|w| w.contains("named by link `default` from `comp`")));
        // the provider's own config: recognised by what it holds
        let own = map(&[("lattice", "default")]);
        assert!(config_change_refused(prov, "prov-cfg", Some(&own), &links).is_some());
        // configs of other providers' links and unlinked ones stay writable
        assert_eq!(config_change_refused(prov, "kv-cfg", None, &links), None);
        assert_eq!(
            config_change_refused(prov, "mine", Some(&plain), &links),
            None
        );
    }

    #[test]
    fn links_of_this_provider_or_package_are_refused() {
        let prov = Some("PROV");
        let existing = vec![link("comp", "PROV", "lattice-control", &[])];
        let to_us = link("comp", "PROV", "lattice-control", &["admin"]);
        assert!(link_put_refused(prov, &to_us, &[]).is_some());
        // another instance of this provider (another id, same package)
        let elsewhere = link("comp", "OTHER", "lattice-control", &[]);
        assert!(link_put_refused(prov, &elsewhere, &[]).is_some());
        let from_us = link("PROV", "kv", "keyvalue", &[]);
        assert!(link_put_refused(prov, &from_us, &[]).is_some());
        let kv = link("comp", "kv", "keyvalue", &[]);
        assert_eq!(link_put_refused(prov, &kv, &existing), None);

        let delete = |source: &str, package: &str| ctl::DeleteInterfaceLinkDefinitionRequest {
            source_id: source.into(),
            name: "default".into(),
            wit_namespace: "wasmcloud".into(),
            wit_package: package.into(),
        };
        assert!(link_delete_refused(prov, &delete("comp", "lattice-control"), &existing).is_some());
        assert!(link_delete_refused(prov, &delete("PROV", "keyvalue"), &[]).is_some());
        assert_eq!(
            link_delete_refused(prov, &delete("comp", "keyvalue"), &existing),
            None
        );
        // a link to this provider under another package is found in the host's links
        let odd = vec![link("comp", "PROV", "custom", &[])];
        assert!(link_delete_refused(prov, &delete("comp", "custom"), &odd).is_some());
    }

    #[test]
    fn starting_this_provider_again_is_refused() {
        assert!(provider_start_refused(Some("PROV"), "PROV").is_some());
        assert_eq!(provider_start_refused(Some("PROV"), "other"), None);
        assert_eq!(provider_start_refused(None, "PROV"), None);
    }

    #[test]
    fn credentials_withheld_only_in_settings() {
        let mut values = map(&[
            ("allow", "all"),
            ("ctl_jwt", "eyJ.jwt"),
            ("client_seed", "SUAXXX"),
            ("nats_url", "nats://user:pw@a:4222,nats://b:4222"),
            ("lattice", "default"),
        ]);
        assert_eq!(withhold_credentials(&mut values), 3);
        assert_eq!(values["ctl_jwt"], WITHHELD);
        assert_eq!(values["client_seed"], WITHHELD);
        assert_eq!(
            values["nats_url"],
            format!("nats://{WITHHELD}@a:4222,nats://b:4222")
        );
        assert_eq!(values["allow"], "all");
        let text = format!("{values:?}");
        assert!(!text.contains("SUAXXX") && !text.contains("user:pw") && !text.contains("eyJ"));
        // a component's own config is not the provider's business
        let mut app = map(&[("db_password", "p"), ("url", "https://u:p@h/")]);
        assert_eq!(withhold_credentials(&mut app), 0);
        assert_eq!(app["db_password"], "p");
    }
}
