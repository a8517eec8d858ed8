//! wasmCloud capability provider that lets Wasm components manage the lattice they run in.
//!
//! * [`ctl`]: a wasmCloud control-interface client (wire-compatible with
//!   `wasmcloud-control-interface` 3.0.1), with no WIT or SDK types in it.

pub mod ctl;
pub mod provider;
