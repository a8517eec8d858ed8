//! `pack-par [pack] <provider binary> <out.par.gz> [--keys-dir DIR] [--target T]`
//! `pack-par insert <par.gz> <provider binary> --target T [--keys-dir DIR]`
//! `pack-par push <artifact> <registry/repository:tag> [--insecure]` (see [`push`])
//! `pack-par wit <out.wasm>`
//!
//! Packs the provider into a signed, gzip-compressed provider archive in the shape `wash build`
//! writes for a provider: claims named as `wasmcloud.toml` names the provider (`name`,
//! `[provider] vendor`, `version`, revision 0), the WIT world of `wit/` embedded (encoded as
//! wash encodes it), and the library under its target (`x86_64-linux`, … as wash detects it;
//! `--target` for a binary built for another machine). `insert` adds a binary for a further
//! target to an existing archive (as `wash par insert`) and signs it again, so one archive
//! carries every platform.
//!
//! Keys are wash's (see [`keys`]): `~/.wash/keys` unless `--keys-dir`, the account key
//! `$USER_account.nk` and the service key `lattice-control-provider_service.nk`, generated on
//! first use. Switching between `wash build` and this tool keeps the provider's service key
//! (a secrets backend maps secrets to it). Prints the archive's path and the service key.
//!
//! `wit` writes the WIT package of `wit/` (`wasmcloud:lattice-control@1.2.0`) as a binary WIT
//! package, as `wkg wit build` does; `push` publishes it where `wkg`/`wash build` fetch it
//! (`<registry>/<prefix>wasmcloud/lattice-control:1.2.0`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};

mod keys;
mod project;
mod push;

const USAGE: &str =
    "usage: pack-par [pack] <provider binary> <out.par.gz> [--keys-dir DIR] [--target T]
       pack-par insert <par.gz> <provider binary> --target T [--keys-dir DIR]
       pack-par push <artifact> <registry/repository:tag> [--insecure] [--allow-latest]
       pack-par wit <out.wasm>";

/// The target of a binary built for this machine, named as wash names it.
fn this_target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

struct Args {
    /// `pack`: binary, out; `insert`: archive, binary.
    paths: [PathBuf; 2],
    keys_dir: Option<PathBuf>,
    target: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let mut positional = Vec::new();
    let (mut keys_dir, mut target) = (None, None);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .ok_or_else(|| anyhow!("{arg} needs {what}\n{USAGE}"))
        };
        match arg.as_str() {
            "--keys-dir" => keys_dir = Some(PathBuf::from(value("a directory")?)),
            "--target" => target = Some(value("a target such as aarch64-linux")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    let paths: [PathBuf; 2] = positional.try_into().map_err(|_| anyhow!("{USAGE}"))?;
    Ok(Args {
        paths,
        keys_dir,
        target,
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// A new archive of `binary` for `target`: wash's claims and the WIT world of `wit/`.
pub async fn pack(
    binary: &Path,
    target: &str,
    out: &Path,
    keys: &keys::Keys,
) -> Result<provider_archive::ProviderArchive> {
    let project = project::Project::from_repository()?;
    let mut par = provider_archive::ProviderArchive::new(
        &project.name,
        &project.vendor,
        Some(0),
        Some(project.version.clone()),
    );
    par.add_wit_world(&project::wit_world()?)
        .map_err(|e| anyhow!("embedding the WIT world: {e}"))?;
    par.add_library(target, &read(binary)?)
        .map_err(|e| anyhow!("adding the {target} library: {e}"))?;
    write(&mut par, out, keys).await?;
    Ok(par)
}

/// `archive` with `binary` added for `target`, signed again and written back.
pub async fn insert(
    archive: &Path,
    binary: &Path,
    target: &str,
    keys: &keys::Keys,
) -> Result<provider_archive::ProviderArchive> {
    let mut par = provider_archive::ProviderArchive::try_load(&read(archive)?)
        .await
        .map_err(|e| anyhow!("{}: not a provider archive: {e}", archive.display()))?;
    if par.targets().iter().any(|t| t == target) {
        bail!("{} already carries {target}", archive.display());
    }
    par.add_library(target, &read(binary)?)
        .map_err(|e| anyhow!("adding the {target} library: {e}"))?;
    write(&mut par, archive, keys).await?;
    Ok(par)
}

async fn write(
    par: &mut provider_archive::ProviderArchive,
    out: &Path,
    keys: &keys::Keys,
) -> Result<()> {
    if out.extension().is_none_or(|e| e != "gz") {
        bail!(
            "{}: the archive is compressed, name it *.par.gz",
            out.display()
        );
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    par.write(out, &keys.account, &keys.service, true)
        .await
        .map_err(|e| anyhow!("writing {}: {e}", out.display()))
}

/// Writes the binary WIT package of `wit/` to `out`; the package's name.
fn write_wit_package(out: &Path) -> Result<String> {
    let (name, bytes) = project::wit_package()?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(name)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime")?;
    let command = match args.peek().map(String::as_str) {
        Some(c @ ("push" | "insert" | "pack" | "wit")) => {
            let c = c.to_string();
            args.next();
            c
        }
        _ => "pack".to_string(),
    };
    if command == "push" {
        let push = push::parse_args(args)?;
        let digest = runtime.block_on(push::push(&push))?;
        println!("pushed {digest}");
        return Ok(());
    }
    if command == "wit" {
        let [out]: [String; 1] = args
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| anyhow!("{USAGE}"))?;
        let name = write_wit_package(Path::new(&out))?;
        println!("{out}");
        println!("package: {name}");
        return Ok(());
    }
    let args = parse_args(args)?;
    let keys = keys::Keys::load_or_create(args.keys_dir.as_deref())?;
    let [first, second] = &args.paths;
    let (out, par) = if command == "insert" {
        let target = args
            .target
            .ok_or_else(|| anyhow!("insert needs --target (e.g. aarch64-linux)\n{USAGE}"))?;
        (
            first,
            runtime.block_on(insert(first, second, &target, &keys))?,
        )
    } else {
        let target = args.target.unwrap_or_else(this_target);
        (
            second,
            runtime.block_on(pack(first, &target, second, &keys))?,
        )
    };
    println!("{}", out.display());
    println!("targets: {}", par.targets().join(", "));
    println!("service key: {}", keys.service.public_key());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pack-par-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Packs, inserts a second target, and reads the archive back as a host reads it.
    #[tokio::test]
    async fn one_archive_many_targets_in_wash_shape() {
        let dir = scratch("shape");
        let keys = keys::Keys::load_or_create(Some(&dir.join("keys"))).unwrap();
        let (linux, arm) = (dir.join("x86"), dir.join("arm"));
        std::fs::write(&linux, b"x86_64 binary").unwrap();
        std::fs::write(&arm, b"aarch64 binary").unwrap();
        let out = dir.join("p.par.gz");
        pack(&linux, "x86_64-linux", &out, &keys).await.unwrap();
        insert(&out, &arm, "aarch64-linux", &keys).await.unwrap();
        assert!(
            insert(&out, &arm, "aarch64-linux", &keys).await.is_err(),
            "a target twice"
        );

        let par = provider_archive::ProviderArchive::try_load(&std::fs::read(&out).unwrap())
            .await
            .unwrap();
        let mut targets = par.targets();
        targets.sort();
        assert_eq!(targets, ["aarch64-linux", "x86_64-linux"]);
        assert_eq!(
            par.target_bytes("aarch64-linux").unwrap(),
            b"aarch64 binary"
        );
        let claims = par.claims().unwrap();
        let project = project::Project::from_repository().unwrap();
        let metadata = claims.metadata.unwrap();
        assert_eq!(metadata.name.as_deref(), Some("Lattice Control"));
        assert_eq!(metadata.vendor, project.vendor);
        assert_eq!(metadata.ver.as_deref(), Some(project.version.as_str()));
        assert_eq!(claims.subject, keys.service.public_key());
        assert_eq!(claims.issuer, keys.account.public_key());
        let world = par.wit_world().unwrap();
        let decoded = wit_component::decode(world).unwrap();
        let resolve = decoded.resolve();
        let names: Vec<String> = resolve
            .packages
            .iter()
            .map(|(_, p)| p.name.to_string())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("wasmcloud:lattice-control@1.")),
            "{names:?}"
        );
    }

    /// `wit` writes a binary WIT package that decodes to the package of `wit/`, every interface
    /// and world in it.
    #[test]
    fn wit_package_is_the_package_of_wit_dir() {
        let dir = scratch("wit");
        let out = dir.join("lattice-control.wasm");
        let name = write_wit_package(&out).unwrap();
        assert!(name.starts_with("wasmcloud:lattice-control@1."), "{name}");
        let decoded = wit_component::decode(&std::fs::read(&out).unwrap()).unwrap();
        let wit_component::DecodedWasm::WitPackage(resolve, package) = decoded else {
            panic!("not a WIT package");
        };
        assert_eq!(resolve.packages[package].name.to_string(), name);
        let mut source = wit_parser::Resolve::default();
        let (id, _) = source.push_dir(super::project::wit_dir()).unwrap();
        let names = |r: &wit_parser::Resolve, p: wit_parser::PackageId| {
            let pkg = &r.packages[p];
            let mut n: Vec<String> = pkg
                .interfaces
                .keys()
                .chain(pkg.worlds.keys())
                .cloned()
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(&resolve, package), names(&source, id));
        assert!(names(&source, id).contains(&"lattice-control".to_string()));
    }
}
