//! A tiny valid component, built at run time from component-model text.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{anyhow, Context as _, Result};
use lattice_control_provider::ctl::ScaleComponentCommandBuilder;

/// Component-model text of the no-op component. It exports one function in an instance: a
/// component with no exports makes the host 0.27.1 spin a worker thread at 100% forever.
pub const NOOP_COMPONENT_WAT: &str = r#"(component
  (core module $m (func (export "noop")))
  (core instance $i (instantiate $m))
  (func $noop (canon lift (core func $i "noop")))
  (instance $api (export "noop" (func $noop)))
  (export "lattice-control-e2e:noop/api" (instance $api))
)"#;

/// Path of the no-op component (`.wasm`), written once per process.
pub fn noop_component() -> Result<PathBuf> {
    static PATH: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(|| write_noop().map_err(|e| format!("{e:#}"))).clone().map_err(|e| anyhow!("no-op component: {e}"))
}

/// `file://…` reference of [`noop_component`], for scale/update commands.
pub fn noop_component_ref() -> Result<String> {
    Ok(format!("file://{}", noop_component()?.display()))
}

fn write_noop() -> Result<PathBuf> {
    let bytes = wat::parse_str(NOOP_COMPONENT_WAT).context("assembling the no-op component")?;
    let path = crate::util::scratch_dir()?.join("noop.wasm");
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A scale of the no-op component `component_id` on `host_id` to `max_instances`, to build
/// (or to give annotations first).
pub fn noop_scale(host_id: &str, component_id: &str, max_instances: u32) -> Result<ScaleComponentCommandBuilder> {
    Ok(lattice_control_provider::ctl::ScaleComponentCommand::builder()
        .host_id(host_id)
        .component_ref(noop_component_ref()?)
        .component_id(component_id)
        .max_instances(max_instances))
}
