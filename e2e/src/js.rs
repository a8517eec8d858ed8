//! The JavaScript example components (`examples/js-controller`, `examples/dashboard`,
//! `examples/drain-controller`), each built by its own `build.sh` (npm ci + componentize-js)
//! when its `.wasm` is missing or older than its sources.

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

/// A JavaScript example under `examples/`, built by its own `build.sh`.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// Folder name under `examples/`.
    pub name: &'static str,
    /// The built component, relative to the example's folder.
    pub wasm: &'static str,
    /// Files (relative to the folder) the component is built from, besides every `.wit` under `wit/`.
    pub sources: &'static [&'static str],
}

/// `examples/js-controller`: the summary/events controller component.
pub const JS_CONTROLLER: Example = Example {
    name: "js-controller",
    wasm: "dist/js-controller.wasm",
    sources: &["build.sh", "package-lock.json", "src/controller.js"],
};

/// `examples/dashboard`: the lattice dashboard (an HTTP component).
pub const DASHBOARD: Example = Example {
    name: "dashboard",
    wasm: "dist/dashboard.wasm",
    sources: &["build.sh", "package-lock.json", "src/dashboard.js", "src/page.html"],
};

/// `examples/drain-controller`: drains a host labelled `drain=true` (events only, no export of its own).
pub const DRAIN_CONTROLLER: Example = Example {
    name: "drain-controller",
    wasm: "dist/drain-controller.wasm",
    sources: &["build.sh", "package-lock.json", "src/drain.js"],
};

/// `examples/autoscaler`: scales components to their load (`component_load` events).
pub const AUTOSCALER: Example = Example {
    name: "autoscaler",
    wasm: "dist/autoscaler.wasm",
    sources: &["build.sh", "package-lock.json", "src/autoscaler.js", "src/decide.js"],
};

impl Example {
    /// The example's folder in this repository.
    pub fn dir(&self) -> PathBuf {
        crate::par::product_root().join("examples").join(self.name)
    }

    /// Where `build.sh` writes the component.
    pub fn wasm_path(&self) -> PathBuf {
        self.dir().join(self.wasm)
    }

    /// The built component, (re)built by its `build.sh` when missing or older than a source (bounded).
    pub async fn build(&self) -> Result<PathBuf> {
        let dir = self.dir();
        let wasm = self.wasm_path();
        if needs_build(&dir, &wasm, self.sources)? {
            let started = Instant::now();
            let what = format!("examples/{}/build.sh", self.name);
            let status = bounded(
                &what,
                BUILD_TIMEOUT,
                tokio::process::Command::new(dir.join("build.sh")).kill_on_drop(true).status(),
            )
            .await?
            .with_context(|| format!("running {what}"))?;
            if !status.success() {
                bail!("{what} failed: {status}");
            }
            eprintln!("timing: {what} (npm ci + componentize) {:.1?}", started.elapsed());
        }
        Ok(wasm)
    }
}

/// `examples/js-controller` of this repository.
pub fn example_dir() -> PathBuf {
    JS_CONTROLLER.dir()
}

/// Where `examples/js-controller/build.sh` writes the component.
pub fn example_wasm() -> PathBuf {
    JS_CONTROLLER.wasm_path()
}

/// Whether `tool --version` runs and succeeds.
pub fn tool_present(tool: &str) -> bool {
    std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Whether this runs in CI (`CI=true`), where a missing tool fails a test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `node` and `npm` are there to build the examples; prints why a test is skipped
/// (`SKIPPED {test}: …`) when they are not.
pub fn node_available(test: &str) -> bool {
    let present = tool_present("node") && tool_present("npm");
    if !present {
        eprintln!("SKIPPED {test}: `node` and `npm` are needed to build the JavaScript examples");
    }
    present
}

/// [`node_available`] for a test that may skip without them only outside CI: whether to run
/// (false: skip), or an error in CI.
pub fn node_or_skip(test: &str) -> Result<bool> {
    if node_available(test) {
        return Ok(true);
    }
    if in_ci() {
        bail!("node/npm missing in CI");
    }
    Ok(false)
}

fn modified(path: &Path) -> Result<SystemTime> {
    path.metadata().and_then(|m| m.modified()).with_context(|| format!("reading the mtime of {}", path.display()))
}

/// Whether `wasm` is missing or older than any file it is built from: `sources` and every
/// `.wit` in `wit/` and its `deps/*` folders.
fn needs_build(dir: &Path, wasm: &Path, sources: &[&str]) -> Result<bool> {
    let Ok(built) = modified(wasm) else {
        return Ok(true);
    };
    let mut files: Vec<PathBuf> = sources.iter().map(|f| dir.join(f)).collect();
    let mut wit_dirs = vec![dir.join("wit")];
    let deps = dir.join("wit/deps");
    for entry in std::fs::read_dir(&deps).with_context(|| format!("{}", deps.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            wit_dirs.push(path);
        }
    }
    for wit_dir in wit_dirs {
        for entry in std::fs::read_dir(&wit_dir).with_context(|| format!("{}", wit_dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "wit") {
                files.push(path);
            }
        }
    }
    for file in files {
        if modified(&file)? > built {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The built `examples/js-controller` component (see [`Example::build`]).
pub async fn js_component() -> Result<PathBuf> {
    JS_CONTROLLER.build().await
}
