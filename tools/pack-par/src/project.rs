//! What `wash build` reads from the repository: `wasmcloud.toml` and the WIT of `wit/`.

use std::path::PathBuf;

use anyhow::{anyhow, Context as _, Result};

/// `wasmcloud.toml`, compiled in: the archive names the provider as the project does.
const WASMCLOUD_TOML: &str = include_str!("../../../wasmcloud.toml");

/// The provider as `wasmcloud.toml` names it.
pub struct Project {
    /// `name` (the claims' name: `Lattice Control`).
    pub name: String,
    /// `[provider] vendor`.
    pub vendor: String,
    /// `version`.
    pub version: String,
}

/// The string value of `key = "…"` in `section` of `text` (`""` is the top level).
fn value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        if current != section || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

impl Project {
    /// From the repository's `wasmcloud.toml`.
    pub fn from_repository() -> Result<Project> {
        let get = |section: &str, key: &str| {
            value(WASMCLOUD_TOML, section, key)
                .ok_or_else(|| anyhow!("wasmcloud.toml has no `{key}` in [{section}]"))
        };
        Ok(Project {
            name: get("", "name")?,
            vendor: get("provider", "vendor")?,
            version: get("", "version")?,
        })
    }
}

/// The repository's `wit/` folder.
pub fn wit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../wit")
}

/// The WIT package of `wit/` as a binary WIT package (what `wkg wit build` writes, and what wash
/// embeds in a provider archive as its WIT world), with the package's name
/// (`wasmcloud:lattice-control@1.2.0`).
pub fn wit_package() -> Result<(String, Vec<u8>)> {
    let mut resolve = wit_parser::Resolve::default();
    let dir = wit_dir();
    let (package, _) = resolve
        .push_dir(&dir)
        .with_context(|| format!("reading the WIT of {}", dir.display()))?;
    let name = resolve.packages[package].name.to_string();
    let bytes = wit_component::encode(&resolve, package).context("encoding the WIT package")?;
    Ok((name, bytes))
}

/// The WIT world wash embeds in a provider archive: the binary WIT package of `wit/`.
pub fn wit_world() -> Result<Vec<u8>> {
    Ok(wit_package()?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wasmcloud_toml_as_wash_does() {
        let p = Project::from_repository().unwrap();
        assert_eq!(p.name, "Lattice Control");
        assert_eq!(p.vendor, "wasmCloud community");
        assert!(!p.version.is_empty());
        let text = "name = \"top\"\n[provider]\n# vendor = \"no\"\nvendor = \"v\"\n";
        assert_eq!(value(text, "provider", "vendor").as_deref(), Some("v"));
        assert_eq!(value(text, "", "vendor"), None);
    }
}
