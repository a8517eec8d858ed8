//! The provider binary and its PAR (provider archive), as the host loads it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context as _, Result};

/// Env var naming a prebuilt provider binary (skips the `cargo build`).
pub const PROVIDER_BIN_ENV: &str = "LATTICE_CONTROL_PROVIDER_BIN";

/// Root of the product crate (the parent of this crate).
pub fn product_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".."))
}

/// The provider binary: `$LATTICE_CONTROL_PROVIDER_BIN`, else built with
/// `cargo build --bin lattice-control-provider` into `$CARGO_TARGET_DIR` (or the product's
/// `target/`). Built once per process.
pub fn provider_bin() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| find_or_build_bin().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("provider binary: {e}"))
}

fn find_or_build_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(PROVIDER_BIN_ENV) {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("{PROVIDER_BIN_ENV}={} is not a file", bin.display());
        }
        return Ok(bin);
    }
    cargo_build(&product_root().join("Cargo.toml"), None, "lattice-control-provider")
}

/// Builds binary `bin` of the crate at `manifest` (debug) into `$CARGO_TARGET_DIR` (or the
/// product's `target/`), under `subdir` when given (a crate with its own lockfile); its path.
pub fn cargo_build(manifest: &Path, subdir: Option<&str>, bin: &str) -> Result<PathBuf> {
    let mut target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| product_root().join("target"));
    if let Some(subdir) = subdir {
        target = target.join(subdir);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--bin", bin, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .with_context(|| format!("running cargo build for {bin}"))?;
    if !status.success() {
        bail!("cargo build --bin {bin} failed: {status}");
    }
    let path = target.join("debug").join(bin);
    if !path.is_file() {
        bail!("{} missing after the build", path.display());
    }
    Ok(path)
}

/// The provider packed into a signed, compressed PAR (fresh keys), once per process.
pub fn provider_par() -> Result<PathBuf> {
    static PAR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    PAR.get_or_init(|| {
        let run = || -> Result<PathBuf> {
            let bin = provider_bin()?;
            let out = crate::util::scratch_dir()?.join("lattice-control.par.gz");
            // Packing is async in provider-archive; a private runtime keeps this callable
            // from sync code and from inside a test's runtime alike.
            std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .context("building a runtime for packing")?
                        .block_on(pack_par(&bin, &out))
                })
                .join()
                .map_err(|_| anyhow!("packing thread panicked"))?
            })?;
            Ok(out)
        };
        run().map_err(|e| format!("{e:#}"))
    })
    .clone()
    .map_err(|e| anyhow!("provider PAR: {e}"))
}

/// `file://…` reference of [`provider_par`], for `start_provider`.
pub fn provider_par_ref() -> Result<String> {
    Ok(format!("file://{}", provider_par()?.display()))
}

/// Packs `binary` for this platform (`x86_64-linux`) into a compressed PAR at `out`, signed
/// with freshly generated account and service keys.
pub async fn pack_par(binary: &Path, out: &Path) -> Result<()> {
    let bytes = tokio::fs::read(binary).await.with_context(|| format!("reading {}", binary.display()))?;
    let mut par = provider_archive::ProviderArchive::new(
        "lattice-control",
        "lattice-control-provider",
        None,
        Some(env!("CARGO_PKG_VERSION").to_string()),
    );
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    par.add_library(&target, &bytes).map_err(|e| anyhow!("adding the {target} library: {e}"))?;
    let issuer = nkeys::KeyPair::new_account();
    let subject = nkeys::KeyPair::new_service();
    par.write(out, &issuer, &subject, true).await.map_err(|e| anyhow!("writing {}: {e}", out.display()))?;
    Ok(())
}
