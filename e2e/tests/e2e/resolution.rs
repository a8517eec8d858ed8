//! Host resolution on real hosts: a host-id argument may be a full id, a unique id prefix or
//! a friendly name; ambiguous or unknown specs are `invalid-argument` naming the candidates.
//!
//! Host ids are random server nkeys, and friendly names are random too (the host offers no
//! setting for one), so ambiguity uses what every server key shares: the leading `N`.

use anyhow::Result;
use lattice_control_e2e::{bounded, retry, shared_nats, TestLattice, CALL_RETRY, CALL_TIMEOUT};
use lattice_control_provider::ctl::{self, CtlErrorKind};

/// The shortest prefix of `id` that no other id starts with.
fn unique_prefix(id: &str, others: &[String]) -> String {
    (1..=id.len())
        .map(|n| &id[..n])
        .find(|p| !others.iter().any(|o| o != id && o.starts_with(p)))
        .unwrap_or(id)
        .to_string()
}

async fn friendly_name(ctl: &ctl::Client, host_id: &str) -> Result<String> {
    let inv = retry("inventory", CALL_RETRY, || ctl.get_host_inventory(host_id)).await?;
    Ok(inv.friendly_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolve_by_id_prefix_and_friendly_name() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    let ids = lattice.host_ids();
    let ctl = lattice.ctl();
    let resolve = |spec: String| async move {
        bounded("resolve_host", CALL_TIMEOUT, ctl.resolve_host(&spec)).await?.map_err(anyhow::Error::from)
    };

    for id in &ids {
        assert_eq!(&resolve(id.clone()).await?, id, "full id");
        let prefix = unique_prefix(id, &ids);
        assert!(prefix.len() < id.len());
        assert_eq!(&resolve(prefix.clone()).await?, id, "unique prefix {prefix}");
        // surrounding blanks are not part of the spec
        assert_eq!(&resolve(format!("  {prefix} ")).await?, id);
        let name = friendly_name(ctl, id).await?;
        assert!(!name.is_empty());
        assert_eq!(&resolve(name.clone()).await?, id, "friendly name {name}");
    }
    lattice.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ambiguous_and_unknown_specs_are_invalid_arguments() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    let ids = lattice.host_ids();
    let ctl = lattice.ctl();
    // every server nkey starts with `N`: two hosts, one shared prefix
    assert!(ids.iter().all(|id| id.starts_with('N')));
    let err = bounded("resolve_host", CALL_TIMEOUT, ctl.resolve_host("N")).await?.expect_err("`N` matches both hosts");
    assert_eq!(err.kind(), CtlErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("ambiguous"), "{err}");
    for id in &ids {
        let name = friendly_name(ctl, id).await?;
        assert!(
            err.message().contains(id.as_str()) && err.message().contains(&name),
            "candidates {id} ({name}) named: {err}"
        );
    }

    let err = bounded("resolve_host", CALL_TIMEOUT, ctl.resolve_host("no-such-host")).await?.expect_err("unknown host");
    assert_eq!(err.kind(), CtlErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("no-such-host"), "{err}");
    // a host id of another lattice is unknown here, not passed through
    let stranger = nkeys::KeyPair::new_server().public_key();
    let err =
        bounded("resolve_host", CALL_TIMEOUT, ctl.resolve_host(&stranger)).await?.expect_err("a host of no lattice");
    assert_eq!(err.kind(), CtlErrorKind::InvalidArgument, "{err}");
    lattice.shutdown().await
}
