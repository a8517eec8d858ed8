//! The end-to-end suite, one test binary: a module per area, each on real parts (a real
//! `nats-server`, in-process `wasmcloud-host` 0.27.1 hosts, the provider started from its PAR,
//! a real wadm where deployment is the point).
//!
//! One binary instead of one per file: every file used to compile and link the whole host on
//! its own (about 20 s of CPU each, 180 MB each). `scripts/test.sh` runs the light modules
//! together and each heavy one (and `credentials`, which redirects the process's stderr) alone
//! by module filter: `cargo test --test e2e -- --test-threads=1 soak::`.

mod support;

mod autoscale;
mod clean_stop;
mod cluster;
mod coalesce;
mod component_author;
mod corpus;
mod credentials;
mod ctl_oracle;
mod dashboard;
mod drain;
mod events;
mod fixture;
mod ha;
mod host_parity;
mod js_component;
mod link_guard;
mod link_lifecycle;
mod link_order;
mod load;
mod load_replicas;
mod policy;
mod provider_e2e;
mod provider_smoke;
mod registry;
mod reliability;
mod replicas;
mod resolution;
mod restart;
mod soak;
mod split_accounts;
mod versions;
mod wadm_deploy;
mod wadm_manifest;
mod wadm_secrets;
