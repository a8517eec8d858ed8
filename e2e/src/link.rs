//! Named configs and links to the provider, put through our control client.

use anyhow::{Context as _, Result};
use lattice_control_provider::ctl;

use crate::lattice::TestLattice;
use crate::util::{bounded, CALL_TIMEOUT};

/// WIT namespace, package and interface a component links to the provider with.
pub const WIT_NAMESPACE: &str = "wasmcloud";
/// See [`WIT_NAMESPACE`].
pub const WIT_PACKAGE: &str = "lattice-control";
/// See [`WIT_NAMESPACE`].
pub const WIT_INTERFACE: &str = "lattice-control";

/// Puts named config `name` with `values` (bounded; refused puts are errors).
pub async fn put_config(lattice: &TestLattice, name: &str, values: &[(&str, &str)]) -> Result<()> {
    let values = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    bounded("put_config", CALL_TIMEOUT, lattice.ctl().put_config(name, values))
        .await?
        .with_context(|| format!("put_config {name}"))?;
    Ok(())
}

/// The link a component `source_id` uses to import `lattice-control` from `provider_id`.
pub fn provider_link(source_id: &str, link_name: &str, provider_id: &str, target_config: &[&str]) -> Result<ctl::Link> {
    Ok(ctl::Link::builder()
        .source_id(source_id)
        .target(provider_id)
        .name(link_name)
        .wit_namespace(WIT_NAMESPACE)
        .wit_package(WIT_PACKAGE)
        .interfaces([WIT_INTERFACE])
        .target_config(target_config.iter().copied())
        .build()?)
}

/// The link from `provider_id` to a component's `lattice-events` export (the direction
/// upstream providers that call into components are linked in), its event settings in
/// `source_config`.
pub fn events_link(provider_id: &str, component_id: &str, source_config: &[&str]) -> Result<ctl::Link> {
    Ok(ctl::Link::builder()
        .source_id(provider_id)
        .target(component_id)
        .name("default")
        .wit_namespace(WIT_NAMESPACE)
        .wit_package(WIT_PACKAGE)
        .interfaces(["lattice-events"])
        .source_config(source_config.iter().copied())
        .build()?)
}

/// Puts [`provider_link`] (bounded; refused puts are errors). The provider receives it a
/// few ms after the ack: callers should retry their first call.
pub async fn put_provider_link(
    lattice: &TestLattice,
    source_id: &str,
    link_name: &str,
    provider_id: &str,
    target_config: &[&str],
) -> Result<()> {
    let link = provider_link(source_id, link_name, provider_id, target_config)?;
    bounded("put_link", CALL_TIMEOUT, lattice.ctl().put_link(link))
        .await?
        .with_context(|| format!("put_link {source_id} -> {provider_id} ({link_name})"))?;
    Ok(())
}

/// Deletes the link `put_provider_link` made (bounded).
pub async fn delete_provider_link(lattice: &TestLattice, source_id: &str, link_name: &str) -> Result<()> {
    let request = ctl::DeleteInterfaceLinkDefinitionRequest::builder()
        .source_id(source_id)
        .name(link_name)
        .wit_namespace(WIT_NAMESPACE)
        .wit_package(WIT_PACKAGE)
        .build()?;
    bounded("delete_link", CALL_TIMEOUT, lattice.ctl().delete_link(request))
        .await?
        .with_context(|| format!("delete_link {source_id} ({link_name})"))?;
    Ok(())
}

/// Links `source_id` to `provider_id` (link `default`) with its settings in a target config of
/// its own, `cfg-{source_id}`, holding `values` (e.g. `events`, `allow`).
pub async fn put_provider_link_with(
    lattice: &TestLattice,
    source_id: &str,
    provider_id: &str,
    values: &[(&str, &str)],
) -> Result<()> {
    let config = format!("cfg-{source_id}");
    put_config(lattice, &config, values).await?;
    put_provider_link(lattice, source_id, "default", provider_id, &[config.as_str()]).await
}
