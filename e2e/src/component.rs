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

/// Component-model text of a component whose one export, `lattice-control-e2e:hold/api.hold`,
/// holds its instance for a while: a loop of [`HOLD_ITERATIONS`] steps (some milliseconds of
/// one core). Called by more callers than it has instances, its calls queue at the host.
pub const HOLD_COMPONENT_WAT: &str = r#"(component
  (core module $m
    (func (export "hold")
      (local $n i32)
      i32.const 12000000
      local.set $n
      (loop $again
        local.get $n
        i32.const 1
        i32.sub
        local.tee $n
        br_if $again)))
  (core instance $i (instantiate $m))
  (func $hold (canon lift (core func $i "hold")))
  (instance $api (export "hold" (func $hold)))
  (export "lattice-control-e2e:hold/api" (instance $api))
)"#;

/// Steps of the hold component's loop (as written in [`HOLD_COMPONENT_WAT`]).
pub const HOLD_ITERATIONS: u32 = 12_000_000;

/// Path of the no-op component (`.wasm`), written once per process.
pub fn noop_component() -> Result<PathBuf> {
    static PATH: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(|| write_component("noop.wasm", NOOP_COMPONENT_WAT).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("no-op component: {e}"))
}

/// `file://…` reference of the hold component ([`HOLD_COMPONENT_WAT`]), written once per process.
pub fn hold_component_ref() -> Result<String> {
    static PATH: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let path = PATH
        .get_or_init(|| write_component("hold.wasm", HOLD_COMPONENT_WAT).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("hold component: {e}"))?;
    Ok(format!("file://{}", path.display()))
}

/// `file://…` reference of [`noop_component`], for scale/update commands.
pub fn noop_component_ref() -> Result<String> {
    Ok(format!("file://{}", noop_component()?.display()))
}

fn write_component(file: &str, text: &str) -> Result<PathBuf> {
    let bytes = wat::parse_str(text).with_context(|| format!("assembling {file}"))?;
    let path = crate::util::scratch_dir()?.join(file);
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
