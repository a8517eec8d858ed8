//! The wadm manifests beside the code (`wadm.yaml`, `local.wadm.yaml`, `secrets.wadm.yaml`, the examples')
//! parse and validate with `wadm-types` (the types and rules wadm itself uses), deploy the same
//! application, link the example component to this provider's interface, and only use
//! configuration keys the provider knows. `wadm_deploy.rs` deploys the local one with a real
//! wadm.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lattice_control_e2e::link::{WIT_INTERFACE as INTERFACE, WIT_NAMESPACE as NAMESPACE, WIT_PACKAGE as PACKAGE};
use lattice_control_provider::provider::config::{KeySpec, KEYS, LATTICE};
use lattice_control_provider::provider::events::{EventSettings, EVENTS_KEY};
use lattice_control_provider::provider::policy::{KEY_ALLOW, KEY_ALLOWED_CONFIG_PREFIXES};
use serde_yaml::Value;
use wadm_types::validation::{validate_manifest_bytes, ValidationFailure, ValidationOutput};
use wadm_types::{LinkProperty, Manifest, Properties, TraitProperty};

/// A connection setting the provider knows, and whether it must come from a secret
/// (policy keys are checked apart).
fn provider_key(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.key.eq_ignore_ascii_case(key))
}

fn repo_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

fn read(name: &str) -> Result<Vec<u8>> {
    let path = repo_file(name);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

async fn validate(yaml: &[u8]) -> Result<(Manifest, Vec<ValidationFailure>)> {
    validate_manifest_bytes(yaml).await
}

/// wadm warns about any package it does not know under a namespace it owns (`wasmcloud`);
/// that warning, for our own interface, is the only one a manifest may produce.
fn unexpected_warnings(failures: &[ValidationFailure]) -> Vec<String> {
    let ours = format!("unrecognized interface [{NAMESPACE}:{PACKAGE}/{INTERFACE}]");
    failures.warnings().into_iter().filter(|w| w.msg != ours).map(ToString::to_string).collect()
}

/// The manifest's single link trait and the name of the component that declares it.
fn only_link(manifest: &Manifest) -> Result<(&str, &LinkProperty)> {
    let links: Vec<_> = manifest
        .components()
        .flat_map(|c| c.traits.iter().flatten().map(move |t| (c, t)))
        .filter_map(|(c, t)| match &t.properties {
            TraitProperty::Link(link) => Some((c.name.as_str(), link)),
            _ => None,
        })
        .collect();
    match links.as_slice() {
        [one] => Ok(*one),
        other => bail!("expected exactly one link trait, found {}", other.len()),
    }
}

fn image(props: &Properties) -> Option<&str> {
    match props {
        Properties::Component { properties } => properties.image.as_deref(),
        Properties::Capability { properties } => properties.image.as_deref(),
    }
}

/// The published manifest, the local-build one, and the credentials-as-secrets variant.
const MANIFESTS: [&str; 3] = [PUBLISHED, LOCAL, SECRETS];
const PUBLISHED: &str = "wadm.yaml";
const LOCAL: &str = "local.wadm.yaml";
const SECRETS: &str = "secrets.wadm.yaml";
/// The shared provider application the local manifests link to.
const PROVIDER: &str = "provider.wadm.yaml";
/// The one string a user replaces to deploy from their own registry.
const REGISTRY: &str = "ghcr.io/example/lattice-control/";

fn ids(props: &Properties) -> Option<&str> {
    match props {
        Properties::Component { properties } => properties.id.as_deref(),
        Properties::Capability { properties } => properties.id.as_deref(),
    }
}

/// Each manifest with every image set to `image`, the description and categories removed and
/// the link's target secrets and `lattice`/`nats_url` dropped: what must then be equal.
fn skeleton(mut manifest: Manifest) -> Manifest {
    manifest.metadata.name = "app".into();
    manifest.metadata.annotations.remove("description");
    manifest.metadata.annotations.remove("wasmcloud.dev/categories");
    manifest.spec.policies.clear();
    for component in &mut manifest.spec.components {
        match &mut component.properties {
            Properties::Component { properties } => properties.image = Some("image".into()),
            Properties::Capability { properties } => {
                // where the provider comes from (its own image, or the shared application's
                // in local.wadm.yaml) and how it is scaled is not the application's shape
                properties.image = Some("image".into());
                properties.application = None;
                component.traits = None;
            }
        }
        for t in component.traits.iter_mut().flatten() {
            if let TraitProperty::Link(link) = &mut t.properties {
                link.target.secrets.clear();
                for config in &mut link.target.config {
                    if let Some(props) = config.properties.as_mut() {
                        // (the config prefix names the application's own record: it differs by app)
                        props.retain(|k, _| k != LATTICE && k != "nats_url" && k != KEY_ALLOWED_CONFIG_PREFIXES);
                    }
                }
            }
        }
    }
    manifest
}

#[tokio::test]
async fn manifests_validate_with_wadm_rules() -> Result<()> {
    for name in MANIFESTS {
        let (manifest, failures) = validate(&read(name)?).await?;
        assert!(failures.valid(), "{name}: {:?}", failures.errors());
        assert_eq!(unexpected_warnings(&failures), Vec::<String>::new(), "{name}");
        assert_eq!(manifest.capability_providers().count(), 1, "{name}");
        assert_eq!(manifest.wasm_components().count(), 1, "{name}");
        // No fixed ids: wadm derives `{app}-{component}`, so two applications never collide.
        for component in manifest.components() {
            assert_eq!(ids(&component.properties), None, "{name}: {} sets an id", component.name);
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_three_manifests_deploy_the_same_application() -> Result<()> {
    let (published, _) = validate(&read(PUBLISHED)?).await?;
    for name in [LOCAL, SECRETS] {
        let (other, _) = validate(&read(name)?).await?;
        assert_eq!(skeleton(other), skeleton(published.clone()), "{name} differs from {PUBLISHED}");
    }
    Ok(())
}

#[tokio::test]
async fn images_are_published_references_or_local_build_paths() -> Result<()> {
    for name in [PUBLISHED, SECRETS] {
        let (manifest, _) = validate(&read(name)?).await?;
        for component in manifest.components() {
            let image = image(&component.properties).context("image")?;
            assert!(image.starts_with(REGISTRY), "{name}: {image} is not under {REGISTRY}");
        }
    }
    // The local manifest's `file://` paths are relative to its folder (what `wash app deploy`
    // resolves) and name what the build writes: `wash build` / tools/pack-par write
    // build/{bin_name}.par.gz, the example's build.sh dist/js-controller.wasm.
    let toml = String::from_utf8(read("wasmcloud.toml")?)?;
    let bin_name = toml
        .lines()
        .find_map(|l| l.strip_prefix("bin_name = \""))
        .and_then(|v| v.strip_suffix('"'))
        .context("wasmcloud.toml has no bin_name")?;
    let mut paths = Vec::new();
    for name in [LOCAL, PROVIDER] {
        let (local, _) = validate(&read(name)?).await?;
        paths.extend(local.components().filter_map(|c| image(&c.properties)).map(str::to_string));
    }
    let mut paths: Vec<String> = paths
        .iter()
        .map(|i| i.strip_prefix("file://").map(str::to_string).with_context(|| format!("{i} is not file://")))
        .collect::<Result<_>>()?;
    paths.sort_unstable();
    assert_eq!(
        paths,
        [format!("./build/{bin_name}.par.gz"), "./examples/js-controller/dist/js-controller.wasm".to_string()]
    );
    Ok(())
}

#[tokio::test]
async fn link_targets_this_provider_and_uses_known_keys() -> Result<()> {
    for name in MANIFESTS {
        let (manifest, _) = validate(&read(name)?).await?;
        let (source, link) = only_link(&manifest)?;
        assert_eq!((link.namespace.as_str(), link.package.as_str()), (NAMESPACE, PACKAGE), "{name}");
        assert_eq!(link.interfaces, [INTERFACE], "{name}");

        let lookup = manifest.component_lookup();
        let source = lookup.get(&source.to_string()).context("link source")?;
        assert!(matches!(source.properties, Properties::Component { .. }), "{name}");
        let target = lookup.get(&link.target.name).context("link target is not in the manifest")?;
        assert!(matches!(target.properties, Properties::Capability { .. }), "{name}");

        // Config and secrets are this link's settings in the provider: plain keys in config,
        // credentials (and only those) in secrets.
        let mut lattice = None;
        let mut allow = None;
        let mut events = None;
        let mut config_prefixes = None;
        for config in &link.target.config {
            let props = config.properties.as_ref().context("link config without properties")?;
            for (key, value) in props {
                if key == KEY_ALLOW {
                    allow = Some(value.as_str());
                    continue;
                }
                if key == EVENTS_KEY {
                    events = Some(value.as_str());
                    continue;
                }
                if key == KEY_ALLOWED_CONFIG_PREFIXES {
                    config_prefixes = Some(value.as_str());
                    continue;
                }
                let spec = provider_key(key).with_context(|| format!("{name}: unknown config key {key}"))?;
                assert!(!spec.secret, "{name}: credential {key} in plain config");
                if spec.key == LATTICE {
                    lattice = Some(value.as_str());
                }
            }
        }
        // The example reads the lattice and records the scales it sees: no more is granted.
        assert_eq!(allow, Some("read-only,put-config"), "{name}");
        assert_eq!(events, Some("component_scaled"), "{name}");
        // ...and may write its own record only: no config of any link's settings.
        let prefix = config_prefixes.with_context(|| format!("{name}: put-config without allowed_config_prefixes"))?;
        assert!(!prefix.contains(',') && prefix.ends_with("-js_controller-last-scale"), "{name}: {prefix}");
        let mut secrets: Vec<_> = link.target.secrets.iter().map(|s| s.name.as_str()).collect();
        secrets.sort_unstable();
        if name == SECRETS {
            // Another lattice, reached with credentials that arrive as secrets.
            assert!(lattice.is_some(), "{name}: no lattice");
            let mut credentials: Vec<_> = KEYS.iter().filter(|k| k.secret).map(|k| k.key).collect();
            credentials.sort_unstable();
            assert_eq!(secrets, credentials, "{name}");
        } else {
            // The provider's own lattice and connection (its documented default), and no
            // secrets: a host without a secrets backend would never deliver the link.
            assert_eq!(lattice, None, "{name}");
            assert_eq!(secrets, Vec::<&str>::new(), "{name}");
        }
    }
    Ok(())
}

/// The WIT the manifest links to is the one the provider exports.
#[test]
fn link_names_the_provider_wit() -> Result<()> {
    let wit = String::from_utf8(read("wit/lattice-control.wit")?)?;
    assert!(wit.contains(&format!("package {NAMESPACE}:{PACKAGE}@1.2.0;")));
    assert!(wit.contains(&format!("interface {INTERFACE} {{")));
    Ok(())
}

/// Applies `edit` to manifest `name`'s YAML and returns wadm's validation errors.
async fn errors_after(name: &str, edit: impl FnOnce(&mut Value) -> Option<()>) -> Result<Vec<String>> {
    let mut yaml: Value = serde_yaml::from_slice(&read(name)?)?;
    edit(&mut yaml).context("the edit did not find its place in the manifest")?;
    let (_, failures) = validate(serde_yaml::to_string(&yaml)?.as_bytes()).await?;
    Ok(failures.errors().into_iter().map(|e| e.msg.clone()).collect())
}

/// The `properties` of the link trait of the first component.
fn link_props(yaml: &mut Value) -> Option<&mut Value> {
    yaml.get_mut("spec")?
        .get_mut("components")?
        .get_mut(0)?
        .get_mut("traits")?
        .as_sequence_mut()?
        .iter_mut()
        .find(|t| t.get("type").and_then(Value::as_str) == Some("link"))?
        .get_mut("properties")
}

/// Applies `edit` to manifest `name`; wadm must then report an error containing `expected`.
async fn assert_refused(name: &str, edit: impl FnOnce(&mut Value) -> Option<()>, expected: &str) -> Result<()> {
    let errors = errors_after(name, edit).await?;
    assert!(errors.iter().any(|e| e.contains(expected)), "expected an error with {expected:?}, got {errors:?}");
    Ok(())
}

#[tokio::test]
async fn broken_manifests_fail_validation() -> Result<()> {
    // Sanity: no edit, no error.
    for name in MANIFESTS {
        assert_eq!(errors_after(name, |_| Some(())).await?, Vec::<String>::new(), "{name}");
    }

    // The link points at a component the manifest does not have.
    assert_refused(
        PUBLISHED,
        |y| {
            *link_props(y)?.get_mut("target")?.get_mut("name")? = "no-such-provider".into();
            Some(())
        },
        "no-such-provider",
    )
    .await?;
    // A link trait without `package` no longer parses as a link: wadm refuses it.
    assert_refused(
        PUBLISHED,
        |y| link_props(y)?.as_mapping_mut()?.remove("package").map(drop),
        "Link trait deserialized as custom trait",
    )
    .await?;
    // A secret names a policy the manifest does not define.
    assert_refused(
        SECRETS,
        |y| {
            let secret = link_props(y)?.get_mut("target")?.get_mut("secrets")?.get_mut(0)?;
            *secret.get_mut("properties")?.get_mut("policy")? = "no-such-policy".into();
            Some(())
        },
        "unknown policy 'no-such-policy'",
    )
    .await
}

/// An example's manifest: valid for wadm without unexpected warnings, application `app`,
/// no component with a fixed id.
async fn valid_example(name: &str, app: &str) -> Result<Manifest> {
    let (manifest, failures) = validate(&read(name)?).await?;
    assert!(failures.valid(), "{name}: {:?}", failures.errors());
    assert_eq!(unexpected_warnings(&failures), Vec::<String>::new(), "{name}");
    assert_eq!(manifest.metadata.name, app, "{name}");
    for component in manifest.components() {
        assert_eq!(ids(&component.properties), None, "{name}: {} sets an id", component.name);
    }
    Ok(manifest)
}

/// Each component's name and image, in manifest order.
fn images(manifest: &Manifest) -> Vec<(&str, &str)> {
    manifest.components().filter_map(|c| Some((c.name.as_str(), image(&c.properties)?))).collect()
}

/// `name`'s `lattice-control` component is the shared application's provider, not a copy.
fn assert_shared_provider(manifest: &Manifest, name: &str) -> Result<()> {
    let component = manifest.components().find(|c| c.name == "lattice-control").context("no lattice-control")?;
    let Properties::Capability { properties } = &component.properties else {
        bail!("{name}: lattice-control is not a capability");
    };
    let shared = properties.application.as_ref().with_context(|| format!("{name}: runs a provider of its own"))?;
    assert_eq!(
        (shared.name.as_str(), shared.component.as_str()),
        ("lattice-control-provider", "lattice-control"),
        "{name}"
    );
    assert_eq!(properties.image, None, "{name}");
    Ok(())
}

/// `provider.wadm.yaml`: valid, marked shared, one provider from the PAR the build writes; the
/// local manifests (and the examples') link to it.
#[tokio::test]
async fn the_provider_manifest_is_a_shared_application() -> Result<()> {
    let (manifest, failures) = validate(&read(PROVIDER)?).await?;
    assert!(failures.valid(), "{:?}", failures.errors());
    assert_eq!(manifest.metadata.name, "lattice-control-provider");
    assert_eq!(
        manifest.metadata.annotations.get("experimental.wasmcloud.dev/shared").map(String::as_str),
        Some("true")
    );
    assert_eq!(images(&manifest), [("lattice-control", "file://./build/lattice-control-provider.par.gz")]);
    let (local, _) = validate(&read(LOCAL)?).await?;
    assert_shared_provider(&local, LOCAL)
}

/// `provider.ha.wadm.yaml`: the same shared application as `provider.wadm.yaml` (same names,
/// so dependents link to either), with one replica per host.
#[tokio::test]
async fn the_ha_provider_manifest_runs_one_replica_per_host() -> Result<()> {
    let (ha, failures) = validate(&read("provider.ha.wadm.yaml")?).await?;
    assert!(failures.valid(), "{:?}", failures.errors());
    let (single, _) = validate(&read(PROVIDER)?).await?;
    assert_eq!(ha.metadata.name, single.metadata.name);
    assert_eq!(ha.metadata.annotations.get("experimental.wasmcloud.dev/shared").map(String::as_str), Some("true"));
    assert_eq!(images(&ha), images(&single));
    let component = ha.components().next().context("no component")?;
    let traits: Vec<&str> = component.traits.iter().flatten().map(|t| t.trait_type.as_str()).collect();
    assert_eq!(traits, ["daemonscaler"]);
    Ok(())
}

/// `examples/dashboard/local.wadm.yaml`: valid for wadm, no fixed ids, the dashboard on every
/// host, the built-in HTTP server linked to it with an address, the dashboard linked to this
/// provider without config (the read-only default), and local `file://` paths that the builds
/// write, relative to the manifest's folder.
#[tokio::test]
async fn the_dashboard_manifest_is_valid_and_read_only() -> Result<()> {
    use lattice_control_e2e::dashboard::SHIPPED_ADDRESS;
    const NAME: &str = "examples/dashboard/local.wadm.yaml";
    let manifest = valid_example(NAME, "lattice-dashboard").await?;
    assert_eq!(
        images(&manifest),
        [("dashboard", "file://./dist/dashboard.wasm"), ("http-server", "wasmcloud+builtin://http-server"),]
    );
    assert_shared_provider(&manifest, NAME)?;
    let links: Vec<(&str, &LinkProperty)> = manifest
        .components()
        .flat_map(|c| c.traits.iter().flatten().map(move |t| (c.name.as_str(), t)))
        .filter_map(|(c, t)| match &t.properties {
            TraitProperty::Link(link) => Some((c, link)),
            _ => None,
        })
        .collect();
    let [(from_dashboard, to_provider), (from_server, to_dashboard)] = links.as_slice() else {
        bail!("expected two links, found {}", links.len());
    };
    assert_eq!((*from_dashboard, to_provider.target.name.as_str()), ("dashboard", "lattice-control"));
    assert_eq!((to_provider.namespace.as_str(), to_provider.package.as_str()), (NAMESPACE, PACKAGE));
    assert_eq!(to_provider.interfaces, [INTERFACE]);
    assert!(to_provider.target.config.is_empty(), "the dashboard's link must keep the read-only default");
    assert_eq!((*from_server, to_dashboard.target.name.as_str()), ("http-server", "dashboard"));
    assert_eq!(
        (to_dashboard.namespace.as_str(), to_dashboard.package.as_str(), to_dashboard.interfaces.as_slice()),
        ("wasi", "http", ["incoming-handler".to_string()].as_slice())
    );
    let source = to_dashboard.source.as_ref().context("the server's link has no source config")?;
    let address = source.config.iter().find_map(|c| c.properties.as_ref()?.get("address"));
    assert_eq!(address.map(String::as_str), Some(SHIPPED_ADDRESS));
    // The paths `wash app deploy` resolves against the manifest's folder exist after the builds
    // (git-ignored): `dist/` from build.sh, the PAR from tools/pack-par.
    let folder = repo_file("examples/dashboard");
    assert!(folder.join("build.sh").is_file());
    assert_eq!(
        lattice_control_e2e::wadm::normalize(&folder.join("../../build")),
        lattice_control_e2e::wadm::normalize(&repo_file("build"))
    );
    Ok(())
}

/// `examples/drain-controller/local.wadm.yaml`: valid for wadm, no fixed ids, one controller,
/// linked to this provider with only the operations a drain needs, subscribed to the two
/// events it reacts to, with every key one the provider knows.
#[tokio::test]
async fn the_drain_manifest_is_valid_and_grants_only_what_draining_needs() -> Result<()> {
    const NAME: &str = "examples/drain-controller/local.wadm.yaml";
    let manifest = valid_example(NAME, "lattice-drain").await?;
    assert_eq!(images(&manifest), [("drain-controller", "file://./dist/drain-controller.wasm"),]);
    assert_shared_provider(&manifest, NAME)?;
    let (source, link) = only_link(&manifest)?;
    assert_eq!(source, "drain-controller");
    assert_eq!((link.namespace.as_str(), link.package.as_str()), (NAMESPACE, PACKAGE));
    assert_eq!(link.interfaces, [INTERFACE]);
    let mut props = BTreeMap::new();
    for config in &link.target.config {
        props.extend(config.properties.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
    }
    // What the provider parses those settings to (a typo would only show at run time).
    let settings: HashMap<String, String> = props.clone().into_iter().collect();
    let events = EventSettings::from_settings(&settings)?.context("the link asks for no events")?;
    assert_eq!(events.timeout, Duration::from_secs(60));
    assert_eq!(props.remove(KEY_ALLOW).as_deref(), Some("read-only,scale-component-and-wait,put-label,delete-label"));
    assert_eq!(props.remove(EVENTS_KEY).as_deref(), Some("labels_changed,component_scaled"));
    assert_eq!(props.keys().collect::<Vec<_>>(), ["event_timeout_ms"], "{NAME}");
    assert!(link.target.secrets.is_empty(), "{NAME}: a host without a secrets backend would never deliver the link");
    // One controller in the lattice.
    let controller = manifest.components().find(|c| c.name == "drain-controller").context("controller")?;
    let scalers: Vec<_> = controller.traits.iter().flatten().filter(|t| t.trait_type == "spreadscaler").collect();
    assert_eq!(scalers.len(), 1, "{NAME}");
    Ok(())
}
