//! `pack-par push <artifact> <reference> [--insecure] [--allow-latest]`
//!
//! Pushes a provider archive or a Wasm component to an OCI registry as `wash push` does, so a
//! host (and wadm) pulls it as it pulls a first-party provider:
//!
//! * a PAR: config `application/vnd.wasmcloud.provider.archive.config` (body `{}`), one layer
//!   `application/vnd.wasmcloud.provider.archive.layer.v1+par` holding the `.par.gz` as it is;
//! * a component: the Wasm OCI artifact layout of `oci-wasm` (config
//!   `application/vnd.wasm.config.v0+json`, layer `application/wasm`);
//! * a binary WIT package (`pack-par wit`): the same layout, as `wkg publish` pushes one, with the
//!   package's version in the manifest annotation `org.opencontainers.image.version`. `wkg` and
//!   `wash build` fetch `ns:name@version` from `<registry>/<prefix>ns/name:version`.
//!
//! `--insecure` talks plain HTTP (a registry on loopback); a `latest` tag is refused unless
//! `--allow-latest`, as wash refuses it (hosts refuse to pull it by default too). Credentials,
//! when the registry needs them, come from `PACK_PAR_REGISTRY_USER` / `PACK_PAR_REGISTRY_PASSWORD`
//! and are never printed. Prints the pushed reference and the manifest digest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _, Result};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_wasm::{ToConfig as _, WasmConfig, WASM_MANIFEST_MEDIA_TYPE};

/// Media type of a PAR's config blob (what `wash push` writes).
pub const PAR_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasmcloud.provider.archive.config";
/// Media type of a PAR's one layer (what hosts accept, `wasmcloud-core`'s fetcher).
pub const PAR_LAYER_MEDIA_TYPE: &str = "application/vnd.wasmcloud.provider.archive.layer.v1+par";

const USAGE: &str =
    "usage: pack-par push <artifact (.par.gz, component or WIT package .wasm)> <registry/repository:tag> [--insecure] [--allow-latest]";

/// What `push` was asked to do.
pub struct PushArgs {
    artifact: PathBuf,
    reference: String,
    insecure: bool,
    allow_latest: bool,
}

/// Reads `push`'s arguments.
pub fn parse_args(args: impl Iterator<Item = String>) -> Result<PushArgs> {
    let mut positional = Vec::new();
    let (mut insecure, mut allow_latest) = (false, false);
    for arg in args {
        match arg.as_str() {
            "--insecure" => insecure = true,
            "--allow-latest" => allow_latest = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
            _ => positional.push(arg),
        }
    }
    let [artifact, reference]: [String; 2] =
        positional.try_into().map_err(|_| anyhow!("{USAGE}"))?;
    Ok(PushArgs {
        artifact: PathBuf::from(artifact),
        reference,
        insecure,
        allow_latest,
    })
}

/// What is pushed: its config and layer, and the manifest's annotations.
struct Parts {
    config: Config,
    layer: ImageLayer,
    /// A Wasm artifact (component or WIT package), pushed with the Wasm manifest media type.
    wasm: bool,
    annotations: Option<BTreeMap<String, String>>,
}

/// The version of a binary WIT package (`None` for a component or a package without one).
fn wit_package_version(bytes: &[u8]) -> Option<String> {
    match wit_component::decode(bytes).ok()? {
        wit_component::DecodedWasm::WitPackage(resolve, package) => {
            Some(resolve.packages[package].name.version.as_ref()?.to_string())
        }
        wit_component::DecodedWasm::Component(..) => None,
    }
}

/// The parts of `bytes`: a component or WIT package, else a PAR (checked by loading it).
async fn artifact_parts(bytes: Vec<u8>) -> Result<Parts> {
    if is_component(&bytes) {
        let annotations = wit_package_version(&bytes).map(|version| {
            BTreeMap::from([("org.opencontainers.image.version".to_string(), version)])
        });
        let (config, layer) = WasmConfig::from_raw_component(bytes, None)
            .context("reading the component's WIT for its OCI config")?;
        return Ok(Parts {
            config: config.to_config()?,
            layer,
            wasm: true,
            annotations,
        });
    }
    provider_archive::ProviderArchive::try_load(&bytes)
        .await
        .map_err(|e| anyhow!("neither a Wasm component nor a provider archive: {e}"))?;
    let config = Config {
        data: b"{}".to_vec(),
        media_type: PAR_CONFIG_MEDIA_TYPE.to_string(),
        annotations: None,
    };
    let layer = ImageLayer {
        data: bytes,
        media_type: PAR_LAYER_MEDIA_TYPE.to_string(),
        annotations: None,
    };
    Ok(Parts {
        config,
        layer,
        wasm: false,
        annotations: None,
    })
}

/// A component starts with the Wasm magic and the component-model layer version.
fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [0x0d, 0x00, 0x01, 0x00]
}

/// Pushes `args.artifact` to `args.reference`; the manifest digest.
pub async fn push(args: &PushArgs) -> Result<String> {
    let reference: Reference = args
        .reference
        .parse()
        .with_context(|| format!("`{}` is not an OCI reference", args.reference))?;
    if reference.tag() == Some("latest") && !args.allow_latest {
        bail!("pushing with tag `latest` is refused (hosts refuse to pull it by default); pass --allow-latest to push it anyway");
    }
    let bytes = tokio::fs::read(&args.artifact)
        .await
        .with_context(|| format!("reading {}", args.artifact.display()))?;
    let Parts {
        config,
        layer,
        wasm,
        annotations,
    } = artifact_parts(bytes).await?;
    let layers = [layer];
    let mut manifest = OciImageManifest::build(&layers, &config, annotations);
    if wasm {
        manifest.media_type = Some(WASM_MANIFEST_MEDIA_TYPE.to_string());
    }
    let client = Client::new(ClientConfig {
        protocol: if args.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..ClientConfig::default()
    });
    let auth = match (
        std::env::var("PACK_PAR_REGISTRY_USER"),
        std::env::var("PACK_PAR_REGISTRY_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) => RegistryAuth::Basic(user, password),
        _ => RegistryAuth::Anonymous,
    };
    let pushed = client
        .push(&reference, &layers, config, &auth, Some(manifest))
        .await
        .map_err(|e| anyhow!("pushing to {}: {e}", reference.whole()))?;
    Ok(digest_of(&pushed.manifest_url))
}

/// The `sha256:…` digest at the end of a manifest URL (or the URL when it has none).
fn digest_of(manifest_url: &str) -> String {
    manifest_url
        .rsplit('/')
        .next()
        .filter(|d| d.starts_with("sha256:"))
        .unwrap_or(manifest_url)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_told_from_modules_and_archives() {
        assert!(is_component(b"\0asm\x0d\x00\x01\x00rest"));
        assert!(!is_component(b"\0asm\x01\x00\x00\x00"), "a core module");
        assert!(!is_component(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), "gzip");
    }

    #[test]
    fn wit_packages_carry_their_version_components_none() {
        let (name, package) = crate::project::wit_package().unwrap();
        let version = wit_package_version(&package).unwrap();
        assert!(
            name.ends_with(&format!("@{version}")),
            "{name} vs {version}"
        );
        let empty_component = b"\0asm\x0d\x00\x01\x00";
        assert_eq!(wit_package_version(empty_component), None);
        assert_eq!(wit_package_version(b"not wasm"), None);
    }

    #[test]
    fn arguments() {
        let args = |v: &[&str]| parse_args(v.iter().map(|s| s.to_string()));
        let a = args(&["x.par.gz", "localhost:5000/p:0.2.0", "--insecure"]).unwrap();
        assert!(a.insecure && !a.allow_latest && a.reference == "localhost:5000/p:0.2.0");
        assert!(args(&["x.par.gz"]).is_err());
        assert!(args(&["a", "b", "--bogus"]).is_err());
    }

    #[test]
    fn digest_from_manifest_url() {
        assert_eq!(
            digest_of("http://127.0.0.1:5000/v2/p/manifests/sha256:abc"),
            "sha256:abc"
        );
    }
}
