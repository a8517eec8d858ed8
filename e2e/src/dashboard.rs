//! The dashboard example (`examples/dashboard`) deployed as a user deploys it: its
//! `local.wadm.yaml` as `wash app deploy` sends it, on hosts that have the built-in HTTP server.
//! Shared by the browser test and the demo.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use serde_yaml::Value as Yaml;
use wasmcloud_host::wasmbus::HostConfig;

use crate::par::product_root;
use crate::util::{http_get, wait_for};
use crate::wadm::deployable_manifest;

/// The application in the manifest, and the ids wadm derives for it.
pub const APP: &str = "lattice-dashboard";
/// The dashboard component's id.
pub const COMPONENT_ID: &str = "lattice_dashboard-dashboard";
/// The lattice-control provider's id: the shared application's (`provider.wadm.yaml`).
pub const PROVIDER_ID: &str = crate::wadm::SHARED_PROVIDER_ID;
/// The built-in HTTP server's id.
pub const HTTP_SERVER_ID: &str = "lattice_dashboard-http_server";
/// The address the shipped manifest serves on.
pub const SHIPPED_ADDRESS: &str = "127.0.0.1:8090";

/// `examples/dashboard/local.wadm.yaml`.
pub fn manifest_path() -> PathBuf {
    product_root().join("examples/dashboard/local.wadm.yaml")
}

/// Lets a host start `wasmcloud+builtin://http-server` (feature `builtin-http-server`).
pub fn with_builtin_http_server(config: &mut HostConfig) {
    config.experimental_features = wasmcloud_host::wasmbus::Features::new().enable_builtin_http_server();
}

/// Builds what the manifest names (the dashboard component, the provider's PAR from the built
/// binary) and returns the manifest as `wash app deploy` sends it, serving on `address`
/// instead of [`SHIPPED_ADDRESS`] (the one edit a user makes when that port is taken).
pub async fn prepare(address: &str) -> Result<Yaml> {
    crate::js::DASHBOARD.build().await?;
    crate::wadm::pack_manifest_par().await?;
    let mut manifest = deployable_manifest(&manifest_path())?;
    let replaced = set_address(&mut manifest, address);
    if replaced != 1 {
        bail!("{}: expected one `address: {SHIPPED_ADDRESS}`, found {replaced}", manifest_path().display());
    }
    Ok(manifest)
}

/// Replaces every `address: {SHIPPED_ADDRESS}` property; how many it replaced.
fn set_address(yaml: &mut Yaml, address: &str) -> usize {
    match yaml {
        Yaml::Mapping(map) => {
            let mut n = 0;
            for (key, value) in map.iter_mut() {
                if key.as_str() == Some("address") && value.as_str() == Some(SHIPPED_ADDRESS) {
                    *value = address.into();
                    n += 1;
                } else {
                    n += set_address(value, address);
                }
            }
            n
        }
        Yaml::Sequence(items) => items.iter_mut().map(|i| set_address(i, address)).sum(),
        _ => 0,
    }
}

/// `GET {base}/api/lattice` as JSON.
pub async fn api_lattice(base: &str) -> Result<Value> {
    let body = http_get(base, "/api/lattice").await?;
    serde_json::from_str(&body).with_context(|| format!("/api/lattice is not JSON: {body}"))
}

/// Polls `/api/lattice` (each request bounded) until it lists `hosts` hosts, for at most `limit`.
pub async fn wait_answering(base: &str, hosts: usize, limit: Duration) -> Result<Value> {
    wait_for(&format!("{base}/api/lattice listing {hosts} hosts"), limit, || async {
        let state = api_lattice(base).await?;
        let n = state["hosts"].as_array().map_or(0, Vec::len);
        Ok((n == hosts).then_some(state))
    })
    .await
}
