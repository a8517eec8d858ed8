//! The wadm manifests beside the code (`wadm.yaml`, `wadm.local.yaml`) parse and validate with
//! `wadm-types` (the types and rules wadm itself uses), link the example component to this
//! provider's interface, and only use configuration keys the provider knows.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lattice_control_e2e::link::{WIT_INTERFACE as INTERFACE, WIT_NAMESPACE as NAMESPACE, WIT_PACKAGE as PACKAGE};
use lattice_control_provider::provider::config::{KeySpec, KEYS, LATTICE};
use lattice_control_provider::provider::policy::KEY_ALLOW;
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

#[tokio::test]
async fn manifests_validate_with_wadm_rules() -> Result<()> {
    for name in ["wadm.yaml", "wadm.local.yaml"] {
        let (manifest, failures) = validate(&read(name)?).await?;
        assert!(failures.valid(), "{name}: {:?}", failures.errors());
        assert_eq!(unexpected_warnings(&failures), Vec::<String>::new(), "{name}");
        assert_eq!(manifest.capability_providers().count(), 1, "{name}");
        assert_eq!(manifest.wasm_components().count(), 1, "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn local_manifest_is_the_published_one_with_file_references() -> Result<()> {
    let (published, _) = validate(&read("wadm.yaml")?).await?;
    let (mut local, _) = validate(&read("wadm.local.yaml")?).await?;
    for (p, l) in published.components().zip(local.components()) {
        let (p_image, l_image) = (image(&p.properties), image(&l.properties));
        assert!(p_image.is_some_and(|i| !i.starts_with("file://")), "{p_image:?}");
        assert!(l_image.is_some_and(|i| i.starts_with("file://")), "{l_image:?}");
    }
    // Apart from the images, both deploy the same application.
    for (l, p) in local.spec.components.iter_mut().zip(&published.spec.components) {
        match (&mut l.properties, &p.properties) {
            (Properties::Component { properties: l }, Properties::Component { properties: p }) => {
                l.image.clone_from(&p.image)
            }
            (Properties::Capability { properties: l }, Properties::Capability { properties: p }) => {
                l.image.clone_from(&p.image)
            }
            _ => bail!("component kinds differ between the manifests"),
        }
    }
    assert_eq!(local, published);
    Ok(())
}

#[tokio::test]
async fn link_targets_this_provider_and_uses_known_keys() -> Result<()> {
    let (manifest, _) = validate(&read("wadm.yaml")?).await?;
    let (source, link) = only_link(&manifest)?;
    assert_eq!((link.namespace.as_str(), link.package.as_str()), (NAMESPACE, PACKAGE));
    assert_eq!(link.interfaces, [INTERFACE]);

    let lookup = manifest.component_lookup();
    let source = lookup.get(&source.to_string()).context("link source")?;
    assert!(matches!(source.properties, Properties::Component { .. }));
    let target = lookup.get(&link.target.name).context("link target is not in the manifest")?;
    assert!(matches!(target.properties, Properties::Capability { .. }));

    // Config and secrets are this link's connection settings in the provider: plain keys
    // in config, credentials (and only those) in secrets.
    let mut lattice = None;
    let mut allow = None;
    for config in &link.target.config {
        let props = config.properties.as_ref().context("link config without properties")?;
        for (key, value) in props {
            if key == KEY_ALLOW {
                allow = Some(value.as_str());
                continue;
            }
            let spec = provider_key(key).with_context(|| format!("unknown config key {key}"))?;
            assert!(!spec.secret, "credential {key} in plain config");
            if spec.key == LATTICE {
                lattice = Some(value.as_str());
            }
        }
    }
    // The example only queries: the manifest grants no more than that.
    assert_eq!(allow, Some("read-only"));
    assert_eq!(lattice, Some("default"));
    let mut secrets: Vec<_> = link.target.secrets.iter().map(|s| s.name.as_str()).collect();
    secrets.sort_unstable();
    let mut credentials: Vec<_> = KEYS.iter().filter(|k| k.secret).map(|k| k.key).collect();
    credentials.sort_unstable();
    assert_eq!(secrets, credentials);
    Ok(())
}

/// The WIT the manifest links to is the one the provider exports.
#[test]
fn link_names_the_provider_wit() -> Result<()> {
    let wit = String::from_utf8(read("wit/lattice-control.wit")?)?;
    assert!(wit.contains(&format!("package {NAMESPACE}:{PACKAGE}@1.0.0;")));
    assert!(wit.contains(&format!("interface {INTERFACE} {{")));
    Ok(())
}

/// Applies `edit` to the published manifest's YAML and returns wadm's validation errors.
async fn errors_after(edit: impl FnOnce(&mut Value) -> Option<()>) -> Result<Vec<String>> {
    let mut yaml: Value = serde_yaml::from_slice(&read("wadm.yaml")?)?;
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

/// Applies `edit` to the published manifest; wadm must then report an error containing `expected`.
async fn assert_refused(edit: impl FnOnce(&mut Value) -> Option<()>, expected: &str) -> Result<()> {
    let errors = errors_after(edit).await?;
    assert!(errors.iter().any(|e| e.contains(expected)), "expected an error with {expected:?}, got {errors:?}");
    Ok(())
}

#[tokio::test]
async fn broken_manifests_fail_validation() -> Result<()> {
    // Sanity: no edit, no error.
    assert_eq!(errors_after(|_| Some(())).await?, Vec::<String>::new());

    // The link points at a component the manifest does not have.
    assert_refused(
        |y| {
            *link_props(y)?.get_mut("target")?.get_mut("name")? = "no-such-provider".into();
            Some(())
        },
        "no-such-provider",
    )
    .await?;
    // A link trait without `package` no longer parses as a link: wadm refuses it.
    assert_refused(
        |y| link_props(y)?.as_mapping_mut()?.remove("package").map(drop),
        "Link trait deserialized as custom trait",
    )
    .await?;
    // A secret names a policy the manifest does not define.
    assert_refused(
        |y| {
            let secret = link_props(y)?.get_mut("target")?.get_mut("secrets")?.get_mut(0)?;
            *secret.get_mut("properties")?.get_mut("policy")? = "no-such-policy".into();
            Some(())
        },
        "unknown policy 'no-such-policy'",
    )
    .await
}
