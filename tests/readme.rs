//! The configuration table (docs/configuration.md) documents every key the provider reads.

use lattice_control_provider::provider::{config, events, load, policy};
use lattice_control_provider::runtime;

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    std::fs::read_to_string(path).expect("docs/configuration.md is readable")
}

/// The rows of the configuration table: `| \`key\` | default | secret? | … |` (four columns).
fn documented_keys(readme: &str) -> Vec<String> {
    readme
        .lines()
        .filter(|l| l.matches(" | ").count() == 3)
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(k, _)| k.to_string()))
        .collect()
}

#[test]
fn every_setting_is_in_the_readme_table() {
    let documented = documented_keys(&readme());
    let mut keys: Vec<&str> = config::KEYS.iter().map(|k| k.key).collect();
    keys.extend([
        policy::KEY_ALLOW,
        policy::KEY_ALLOWED_HOSTS,
        policy::KEY_ALLOWED_REFERENCES,
        policy::KEY_ALLOWED_CONFIG_PREFIXES,
        events::EVENTS_KEY,
        events::EVENT_QUEUE_KEY,
        events::EVENT_TIMEOUT_KEY,
        runtime::KEY,
        load::http::LISTEN_KEY,
        load::publish::INTERVAL_KEY,
    ]);
    let missing: Vec<&&str> = keys
        .iter()
        .filter(|k| !documented.iter().any(|d| d == *k))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from the README table: {missing:?}"
    );
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|d| !keys.contains(&d.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "README documents keys the provider does not read: {unknown:?}"
    );
}

#[test]
fn secret_keys_are_marked_secret() {
    let readme = readme();
    for spec in config::KEYS.iter().filter(|k| k.secret) {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", spec.key)))
            .unwrap_or_else(|| panic!("no README row for {}", spec.key));
        assert!(
            row.contains("**yes**"),
            "README row of secret key {} must say so: {row}",
            spec.key
        );
    }
}

/// The row of `key` in the configuration table.
fn row<'a>(readme: &'a str, key: &str) -> Option<&'a str> {
    readme
        .lines()
        .find(|l| l.starts_with(&format!("| `{key}` |")))
}

#[test]
fn every_alias_is_listed_in_its_primary_row_and_has_no_row_of_its_own() {
    let readme = readme();
    for (alias, primary) in config::ALIASES {
        let primary_row =
            row(&readme, primary).unwrap_or_else(|| panic!("no README row for {primary}"));
        assert!(
            primary_row.contains(&format!("`{alias}`")),
            "the row of {primary} must list its alias {alias}: {primary_row}"
        );
        assert!(
            row(&readme, alias).is_none(),
            "{alias} is an alias of {primary}, not a key of its own"
        );
    }
}

#[test]
fn the_ctl_names_are_the_primary_ones() {
    let keys: Vec<&str> = config::KEYS.iter().map(|k| k.key).collect();
    for name in [
        "lattice",
        "ctl_host",
        "ctl_port",
        "ctl_jwt",
        "ctl_seed",
        "ctl_credsfile",
        "ctl_tls_ca_file",
        "ctl_tls_first",
        "tls_ca",
    ] {
        assert!(keys.contains(&name), "{name} is a primary key");
    }
}
