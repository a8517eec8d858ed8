//! `pack-par [pack] <provider binary> <out.par.gz> [--keys-dir DIR]`
//! `pack-par push <artifact> <registry/repository:tag> [--insecure]` (see [`push`])
//!
//! Packs a provider binary built for this machine into a signed, gzip-compressed provider
//! archive, as `wash build` does for a provider: the library for this target
//! (`x86_64-linux`, …) and a claims JWT naming the provider (`lattice-control`, the vendor of
//! `wasmcloud.toml`, the product crate's version).
//!
//! Keys: without `--keys-dir`, a fresh account (issuer) and service (subject) key per run.
//! With it, `DIR/lattice_control_provider_account.nk` and `…_service.nk` (nkey seeds, the
//! file names `wash` uses) are read, or generated and written there on first use, so the
//! provider keeps its service key across builds (a secrets backend maps secrets to it).
//! Prints the archive's path and the provider's service key.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use nkeys::KeyPair;

mod push;

const NAME: &str = "lattice-control";
const VENDOR: &str = "wasmCloud community";
const KEY_PREFIX: &str = "lattice_control_provider";
/// The product crate's manifest: the archive carries the provider's version, not this tool's.
const PRODUCT_MANIFEST: &str = include_str!("../../../Cargo.toml");
const USAGE: &str = "usage: pack-par [pack] <provider binary> <out.par.gz> [--keys-dir DIR]\n       pack-par push <artifact> <registry/repository:tag> [--insecure] [--allow-latest]";

struct Args {
    binary: PathBuf,
    out: PathBuf,
    keys_dir: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let mut positional = Vec::new();
    let mut keys_dir = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--keys-dir" => {
                let dir = args
                    .next()
                    .ok_or_else(|| anyhow!("--keys-dir needs a directory\n{USAGE}"))?;
                keys_dir = Some(PathBuf::from(dir));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    let [binary, out]: [PathBuf; 2] = positional.try_into().map_err(|_| anyhow!("{USAGE}"))?;
    Ok(Args {
        binary,
        out,
        keys_dir,
    })
}

/// The key in `dir/{KEY_PREFIX}_{kind}.nk`, created with `generate` when the file is missing.
fn load_or_create_key(dir: &Path, kind: &str, generate: fn() -> KeyPair) -> Result<KeyPair> {
    let path = dir.join(format!("{KEY_PREFIX}_{kind}.nk"));
    match std::fs::read_to_string(&path) {
        Ok(seed) => KeyPair::from_seed(seed.trim())
            .map_err(|e| anyhow!("{}: not an nkey seed: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let key = generate();
            let seed = key
                .seed()
                .map_err(|e| anyhow!("encoding a new {kind} key: {e}"))?;
            write_private(&path, &seed)?;
            eprintln!("pack-par: new {kind} key in {}", path.display());
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
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

/// `version = "…"` of the product's `[package]` (its first `version` line).
fn product_version() -> Result<String> {
    PRODUCT_MANIFEST
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no version line in the product's Cargo.toml"))
}

async fn pack(args: &Args) -> Result<String> {
    let bytes = std::fs::read(&args.binary)
        .with_context(|| format!("reading {}", args.binary.display()))?;
    let (issuer, subject) = match &args.keys_dir {
        Some(dir) => (
            load_or_create_key(dir, "account", KeyPair::new_account)?,
            load_or_create_key(dir, "service", KeyPair::new_service)?,
        ),
        None => (KeyPair::new_account(), KeyPair::new_service()),
    };
    let mut par =
        provider_archive::ProviderArchive::new(NAME, VENDOR, None, Some(product_version()?));
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    par.add_library(&target, &bytes)
        .map_err(|e| anyhow!("adding the {target} library: {e}"))?;
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    par.write(&args.out, &issuer, &subject, true)
        .await
        .map_err(|e| anyhow!("writing {}: {e}", args.out.display()))?;
    Ok(subject.public_key())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime")?;
    match args.peek().map(String::as_str) {
        Some("push") => {
            let push = push::parse_args(args.skip(1))?;
            let digest = runtime.block_on(push::push(&push))?;
            println!("pushed {digest}");
            return Ok(());
        }
        Some("pack") => {
            args.next();
        }
        _ => {}
    }
    let args = parse_args(args)?;
    if args.out.extension().is_none_or(|e| e != "gz") {
        bail!(
            "{}: the archive is compressed, name it *.par.gz",
            args.out.display()
        );
    }
    let service_key = runtime.block_on(pack(&args))?;
    println!("{}", args.out.display());
    println!("service key: {service_key}");
    Ok(())
}
