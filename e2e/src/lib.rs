//! Real-lattice test fixture for the lattice-control provider.
//!
//! Everything here runs real parts: a `nats-server` child process ([`nats`]), in-process
//! `wasmcloud-host` 0.27.1 hosts on a per-test lattice ([`lattice`]), a tiny component
//! ([`component`]), the provider packed into a PAR ([`par`]) and started through a host
//! ([`provider`]), and a real wadm with the client `wash app` uses ([`wadm`]).
//!
//! Typical test:
//! ```no_run
//! # async fn t() -> anyhow::Result<()> {
//! use lattice_control_e2e::{shared_nats, TestLattice};
//! let lattice = TestLattice::start(shared_nats()?, 1).await?;
//! let hosts = lattice.ctl().get_hosts().await?;
//! assert_eq!(hosts.len(), 1);
//! # Ok(()) }
//! ```
//! Tests should use `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`: the hosts
//! run on the test's runtime and need room.

pub mod browser;
pub mod caller;
pub mod component;
pub mod dashboard;
pub mod js;
pub mod lattice;
pub mod link;
pub mod logs;
pub mod nats;
pub mod otlp;
pub mod par;
pub mod provider;
pub mod registry;
pub mod stand_in;
pub mod stress;
pub mod util;
pub mod wadm;

pub use caller::Caller;
pub use component::{noop_component, noop_component_ref, noop_scale};
pub use lattice::TestLattice;
pub use link::{delete_provider_link, put_config, put_provider_link, put_provider_link_with};
pub use nats::{shared_nats, Nats};
pub use par::{pack_par, provider_bin, provider_par, provider_par_ref};
pub use provider::{start_provider, stop_provider, wait_provider_ready};
pub use util::{bounded, retry, CALL_RETRY, CALL_TIMEOUT};
pub use wadm::{TestWadm, WadmClient};
