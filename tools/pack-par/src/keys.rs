//! Signing keys, where and as `wash` keeps them.
//!
//! `wash build` signs a provider with an account key named after the user
//! (`$USER_account.nk`, `user_account.nk` without `USER`) and a service key named after the
//! binary (`lattice-control-provider_service.nk`), in `~/.wash/keys` unless told otherwise,
//! and generates either on first use. Reading the same files keeps the provider's service key
//! whichever of the two tools packed it. Keys written under this tool's earlier names
//! (`lattice_control_provider_{account,service}.nk`) are still read, so an existing service
//! key survives the rename.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};
use nkeys::KeyPair;

/// The binary stem wash names the service key after.
pub const BINARY_STEM: &str = "lattice-control-provider";
/// This tool's earlier key file prefix.
const EARLIER_PREFIX: &str = "lattice_control_provider";

/// The account (issuer) and service (subject) keys of an archive.
pub struct Keys {
    pub account: KeyPair,
    pub service: KeyPair,
}

/// `~/.wash/keys`, wash's default key directory.
fn wash_keys_dir() -> Result<PathBuf> {
    let home =
        std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set: pass --keys-dir"))?;
    Ok(PathBuf::from(home).join(".wash").join("keys"))
}

/// Wash's file names of the two keys.
fn file_names() -> (String, String) {
    let user = std::env::var("USER").unwrap_or_else(|_| "user".to_string());
    (
        format!("{user}_account.nk"),
        format!("{BINARY_STEM}_service.nk"),
    )
}

impl Keys {
    /// The keys in `dir` (default `~/.wash/keys`), generated and written where missing.
    pub fn load_or_create(dir: Option<&Path>) -> Result<Keys> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => wash_keys_dir()?,
        };
        let (account, service) = file_names();
        Ok(Keys {
            account: load_or_create(&dir, &account, "account", KeyPair::new_account)?,
            service: load_or_create(&dir, &service, "service", KeyPair::new_service)?,
        })
    }
}

fn load_or_create(
    dir: &Path,
    name: &str,
    kind: &str,
    generate: fn() -> KeyPair,
) -> Result<KeyPair> {
    let earlier = dir.join(format!("{EARLIER_PREFIX}_{kind}.nk"));
    let path = dir.join(name);
    for candidate in [&path, &earlier] {
        match std::fs::read_to_string(candidate) {
            Ok(seed) => {
                return KeyPair::from_seed(seed.trim())
                    .map_err(|e| anyhow!("{}: not an nkey seed: {e}", candidate.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", candidate.display())),
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = generate();
    let seed = key
        .seed()
        .map_err(|e| anyhow!("encoding a new {kind} key: {e}"))?;
    write_private(&path, &seed)?;
    eprintln!("pack-par: new {kind} key in {}", path.display());
    Ok(key)
}

/// Writes a seed readable by its owner only.
fn write_private(path: &Path, seed: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(seed.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_under_wash_names_and_earlier_names_are_read() {
        let dir = std::env::temp_dir().join(format!("pack-par-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = Keys::load_or_create(Some(&dir)).unwrap();
        let again = Keys::load_or_create(Some(&dir)).unwrap();
        assert_eq!(first.service.public_key(), again.service.public_key());
        let (account, service) = file_names();
        assert!(dir.join(account).is_file() && dir.join(&service).is_file());
        assert!(service.ends_with("lattice-control-provider_service.nk"));

        // an archive packed by this tool before keeps its service key
        let old = std::env::temp_dir().join(format!("pack-par-old-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::create_dir_all(&old).unwrap();
        let kept = KeyPair::new_service();
        std::fs::write(
            old.join("lattice_control_provider_service.nk"),
            kept.seed().unwrap(),
        )
        .unwrap();
        let keys = Keys::load_or_create(Some(&old)).unwrap();
        assert_eq!(keys.service.public_key(), kept.public_key());
    }
}
