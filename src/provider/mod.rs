//! The capability provider: per-link settings, policy and the exported handler.

pub mod policy;
