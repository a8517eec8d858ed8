//! wasmCloud capability provider that lets Wasm components manage the lattice they run in.
//!
//! * [`ctl`]: a wasmCloud control-interface client (wire-compatible with
//!   `wasmcloud-control-interface` 3.0.1), with no WIT or SDK types in it.
//! * [`provider`]: the capability provider exporting `wasmcloud:lattice-control@1.2.0`.
//! * [`bindings`]: the WIT bindings, of both package versions the provider serves.
//! * [`convert`]: WIT <-> control-client conversions.
//! * [`runtime`]: the async runtime the provider's own config picks.

pub mod bindings;
pub mod convert;
pub mod ctl;
pub mod provider;
pub mod runtime;
#[cfg(test)]
pub(crate) mod test_nats;

#[cfg(feature = "host")]
pub use provider::run;
