//! Control-interface client for wasmCloud 1.x lattices (`wasmbus.ctl.v1`).
//!
//! Wire-compatible with `wasmcloud-control-interface` 3.0.1, with typed errors, command
//! structs with validating builders, and a `get_hosts` that does not sit out the whole
//! scatter timeout. Knows nothing of WIT or the provider SDK.

mod awaited;
mod client;
mod coalesce;
mod command;
mod error;
mod events;
pub mod subjects;
pub mod trace;
mod types;
pub(crate) mod validate;
mod wait;

pub use awaited::Awaited;
pub use client::{Client, ClientBuilder, HostQuery, DEFAULT_LATTICE, DEFAULT_TIMEOUT};
pub use command::{
    Checked, Command, DeleteConfigCommand, DeleteLabelCommand, PutConfigCommand, PutLabelCommand,
    WaitCommand,
};
pub use error::{CtlError, CtlErrorKind, Result};
pub use events::{EventFilter, EventStream, LatticeEvent, EVENT_TYPE_PREFIX};
pub use types::*;
