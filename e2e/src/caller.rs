//! Calling the provider over wRPC exactly as the host routes a component's import.
//!
//! The host sends a component's `wasmcloud:lattice-control` call to
//! `{lattice}.{provider_id}.wrpc.0.0.1.wasmcloud:lattice-control/lattice-control@1.2.0.{func}`
//! with headers `source-id` (the component) and `link-name`. A [`Caller`] does the same:
//! ```no_run
//! # async fn t(lattice: &lattice_control_e2e::TestLattice) -> anyhow::Result<()> {
//! use lattice_control_e2e::caller::{lattice_control as lc, types, Caller};
//! use lattice_control_e2e::{retry, CALL_RETRY};
//! let caller = Caller::new(lattice.nats().clone(), lattice.lattice(), "lattice-control")
//!     .await?
//!     .as_component("my-component", "default");
//! // Outer `?`: transport (bounded, retried); inner `Result`: the provider's answer.
//! let hosts = retry("get-hosts", CALL_RETRY, || {
//!     lc::get_hosts(caller.wrpc(), caller.cx(), &lattice_control_e2e::caller::HOST_QUERY)
//! })
//! .await?;
//! # Ok(()) }
//! ```
//! Every call must be bounded ([`crate::bounded`] / [`crate::retry`]): with
//! wrpc-transport-nats 0.29 a reply can be lost under CPU load and the call never completes.

use anyhow::Result;

/// Bindings generated from `wit/` for the `controller` world (imports `lattice-control`).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen_wrpc::generate!({ world: "controller", path: "../wit" });
}

pub use bindings::wasmcloud::lattice_control::events;
pub use bindings::wasmcloud::lattice_control::lattice_control;
pub use bindings::wasmcloud::lattice_control::load;
pub use bindings::wasmcloud::lattice_control::types;

/// The `controller` world of `wasmcloud:lattice-control@1.0.0` as published
/// (`compat/wit-1.0.0`): a component built against 1.0.0. Its calls go to
/// `…/lattice-control@1.0.0.{func}`; a [`Caller`] makes them as it makes current ones.
#[allow(missing_docs, clippy::all)]
pub mod v1_0 {
    wit_bindgen_wrpc::generate!({ world: "controller", path: "../compat/wit-1.0.0" });
    pub use wasmcloud::lattice_control::{lattice_control, types};
}

/// The `controller` world of `wasmcloud:lattice-control@1.1.0` as published
/// (`compat/wit-1.1.0`): a component built against 1.1.0, calling `…@1.1.0.{func}`.
#[allow(missing_docs, clippy::all)]
pub mod v1_1 {
    wit_bindgen_wrpc::generate!({ world: "controller", path: "../compat/wit-1.1.0" });
    pub use wasmcloud::lattice_control::{events, lattice_control, types};
}

/// The `source-id` header: the calling component's id.
pub const SOURCE_ID_HEADER: &str = "source-id";
/// The `link-name` header: the name of the caller's link.
pub const LINK_NAME_HEADER: &str = "link-name";

/// A wRPC client for one provider in one lattice, with the headers of one caller.
#[derive(Clone, Debug)]
pub struct Caller {
    wrpc: wrpc_transport_nats::Client,
    headers: Option<async_nats::HeaderMap>,
}

impl Caller {
    /// A caller with no headers (as a call that names no component). See
    /// [`Caller::as_component`].
    pub async fn new(nats: async_nats::Client, lattice: &str, provider_id: &str) -> Result<Caller> {
        let wrpc = crate::bounded(
            "creating the wRPC client",
            crate::CALL_TIMEOUT,
            wrpc_transport_nats::Client::new(nats, format!("{lattice}.{provider_id}"), None),
        )
        .await??;
        Ok(Caller { wrpc, headers: None })
    }

    /// The same client, calling as component `source_id` over link `link_name`.
    #[must_use]
    pub fn as_component(&self, source_id: &str, link_name: &str) -> Caller {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(SOURCE_ID_HEADER, source_id);
        headers.insert(LINK_NAME_HEADER, link_name);
        Caller { wrpc: self.wrpc.clone(), headers: Some(headers) }
    }

    /// The same caller with one more header (e.g. `traceparent`, as a host passes a
    /// component's trace context).
    #[must_use]
    pub fn with_header(&self, name: &str, value: &str) -> Caller {
        let mut headers = self.headers.clone().unwrap_or_default();
        headers.insert(name, value);
        Caller { wrpc: self.wrpc.clone(), headers: Some(headers) }
    }

    /// The same client with no headers at all.
    #[must_use]
    pub fn anonymous(&self) -> Caller {
        Caller { wrpc: self.wrpc.clone(), headers: None }
    }

    /// The transport, first argument of the generated functions.
    pub fn wrpc(&self) -> &wrpc_transport_nats::Client {
        &self.wrpc
    }

    /// The invocation context (headers), second argument of the generated functions.
    pub fn cx(&self) -> Option<async_nats::HeaderMap> {
        self.headers.clone()
    }
}

/// A `query-options` with no override (a constant, so `&NO_OPTIONS` is `'static`).
pub const NO_OPTIONS: types::QueryOptions = types::QueryOptions { timeout_ms: None };

/// A `query-options` with no override.
pub fn no_options() -> types::QueryOptions {
    NO_OPTIONS
}

/// A `host-query` with the provider's defaults.
pub const HOST_QUERY: types::HostQuery = types::HostQuery { expected: None, full_wait: false, timeout_ms: None };

/// The error case's name (`not-linked`, `invalid-argument`, …), for assertions.
pub fn error_kind(err: &types::CtlError) -> &'static str {
    use types::CtlError as E;
    match err {
        E::Timeout(_) => "timeout",
        E::NoResponders(_) => "no-responders",
        E::Transport(_) => "transport",
        E::Decode(_) => "decode",
        E::InvalidArgument(_) => "invalid-argument",
        E::Rejected(_) => "rejected",
        E::NotLinked(_) => "not-linked",
        E::NotPermitted(_) => "not-permitted",
    }
}

/// A WIT `scale-component-command` with no annotations, limits or config, `allow-update` off:
/// set other fields with struct update syntax.
pub fn wit_scale(
    component_ref: impl Into<String>,
    component_id: impl Into<String>,
    host_id: impl Into<String>,
    max_instances: u32,
) -> types::ScaleComponentCommand {
    types::ScaleComponentCommand {
        component_ref: component_ref.into(),
        component_id: component_id.into(),
        host_id: host_id.into(),
        max_instances,
        annotations: None,
        component_limits: None,
        config: vec![],
        allow_update: false,
    }
}
