//! The JavaScript example component (`examples/js-controller`), built by its own `build.sh`
//! (npm ci + componentize-js) when its `.wasm` is missing or older than its sources.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _, Result};

use crate::util::bounded;

/// The caller's side of the example's export, from the example's own WIT.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen_wrpc::generate!({
        inline: "package lattice-control-e2e:js-caller;
                 world caller { import wasmcloud-examples:js-controller/summary@0.1.0; }",
        path: ["../examples/js-controller/wit"],
        world: "lattice-control-e2e:js-caller/caller",
        generate_all,
    });
}
pub use bindings::wasmcloud_examples::js_controller::summary;

/// `build.sh`: `npm ci` (~15 s) plus componentize (~15 s), with room for a slow registry.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// `examples/js-controller` of this repository.
pub fn example_dir() -> PathBuf {
    crate::par::product_root().join("examples/js-controller")
}

/// Where `build.sh` writes the component.
pub fn example_wasm() -> PathBuf {
    example_dir().join("dist/js-controller.wasm")
}

/// Whether `tool --version` runs and succeeds.
pub fn tool_present(tool: &str) -> bool {
    std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Whether `node` and `npm` are there to build the example; prints why a test is skipped
/// (`SKIPPED {test}: …`) when they are not.
pub fn node_available(test: &str) -> bool {
    let present = tool_present("node") && tool_present("npm");
    if !present {
        eprintln!("SKIPPED {test}: `node` and `npm` are needed to build examples/js-controller");
    }
    present
}

fn modified(path: &Path) -> Result<SystemTime> {
    path.metadata().and_then(|m| m.modified()).with_context(|| format!("reading the mtime of {}", path.display()))
}

/// Whether `wasm` is missing or older than any file it is built from.
fn needs_build(dir: &Path, wasm: &Path) -> Result<bool> {
    let Ok(built) = modified(wasm) else {
        return Ok(true);
    };
    let mut sources: Vec<PathBuf> =
        ["build.sh", "package-lock.json", "src/controller.js"].iter().map(|f| dir.join(f)).collect();
    for wit_dir in [dir.join("wit"), dir.join("wit/deps/lattice-control")] {
        for entry in std::fs::read_dir(&wit_dir).with_context(|| format!("{}", wit_dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "wit") {
                sources.push(path);
            }
        }
    }
    for source in sources {
        if modified(&source)? > built {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The built example component, (re)built by its `build.sh` when needed (bounded).
pub async fn js_component() -> Result<PathBuf> {
    let dir = example_dir();
    let wasm = example_wasm();
    if needs_build(&dir, &wasm)? {
        let started = Instant::now();
        let status = bounded(
            "examples/js-controller/build.sh",
            BUILD_TIMEOUT,
            tokio::process::Command::new(dir.join("build.sh")).kill_on_drop(true).status(),
        )
        .await?
        .context("running build.sh")?;
        if !status.success() {
            bail!("examples/js-controller/build.sh failed: {status}");
        }
        eprintln!("timing: build.sh (npm ci + componentize) {:.1?}", started.elapsed());
    }
    Ok(wasm)
}
