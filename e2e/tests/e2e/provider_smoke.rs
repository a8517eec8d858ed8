//! Smoke test of the provider on a real host: started from its PAR, linked, called over
//! wRPC as the host routes a component's import. The full suite is `provider_e2e.rs`.

use anyhow::{anyhow, Result};
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, no_options, types};
use lattice_control_e2e::util::unique_name;
use lattice_control_e2e::{
    put_config, put_provider_link, retry, shared_nats, start_provider, Caller, TestLattice, CALL_RETRY,
};

/// Flattens a provider answer so `retry` retries provider errors too (links arrive
/// a few ms after the ack).
fn ok<T>(r: Result<Result<T, types::CtlError>>) -> Result<T> {
    r?.map_err(|e| anyhow!("{}: {e:?}", error_kind(&e)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_serves_a_linked_component() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let provider_id = unique_name("lc");
    // build and pack first, so the figure is the cold start: start command -> healthy + served
    lattice_control_e2e::provider_par_ref()?;
    let started = std::time::Instant::now();
    start_provider(&lattice, 0, &provider_id, &[]).await?;
    eprintln!("cold start (start_provider -> ready): {:?}", started.elapsed());

    let cfg = unique_name("lc-link");
    put_config(&lattice, &cfg, &[("lattice", lattice.lattice()), ("allow", "all")]).await?;
    put_provider_link(&lattice, "smoke-comp", "default", &provider_id, &[&cfg]).await?;

    let base = Caller::new(lattice.nats().clone(), lattice.lattice(), &provider_id).await?;
    let caller = base.as_component("smoke-comp", "default");

    let info = retry("provider-info", CALL_RETRY, || async {
        ok(lc::provider_info(caller.wrpc(), caller.cx(), &no_options()).await)
    })
    .await?;
    assert_eq!(info.lattice, lattice.lattice());
    assert_eq!(info.source_id, "smoke-comp");
    assert!(info.allowed_operations.iter().any(|o| o == "put-config"));

    let query = types::HostQuery { expected: None, full_wait: false, timeout_ms: None };
    let hosts =
        retry("get-hosts", CALL_RETRY, || async { ok(lc::get_hosts(caller.wrpc(), caller.cx(), &query).await) })
            .await?;
    assert_eq!(hosts.iter().map(|h| h.id.clone()).collect::<Vec<_>>(), lattice.host_ids());

    let host = lattice.host_id(0)?.to_string();
    let inv = retry("get-host-inventory", CALL_RETRY, || async {
        ok(lc::get_host_inventory(caller.wrpc(), caller.cx(), &host).await)
    })
    .await?;
    assert!(inv.providers.iter().any(|p| p.id == provider_id));

    let name = unique_name("smoke-cfg");
    let values = vec![("k".to_string(), "v".to_string())];
    retry("put-config", CALL_RETRY, || async {
        ok(lc::put_config(caller.wrpc(), caller.cx(), &name, &[("k", "v")]).await)
    })
    .await?;
    let got = retry("get-config", CALL_RETRY, || async { ok(lc::get_config(caller.wrpc(), caller.cx(), &name).await) })
        .await?;
    assert_eq!(got, Some(values.clone()));

    // a component with no link, and a call with no headers at all
    for (who, c) in [("unlinked", base.as_component("stranger", "default")), ("anonymous", base.anonymous())] {
        let r = retry(who, CALL_RETRY, || async { lc::provider_info(c.wrpc(), c.cx(), &no_options()).await }).await?;
        match r {
            Err(e) => assert_eq!(error_kind(&e), "not-linked", "{who}: {e:?}"),
            Ok(i) => panic!("{who} got an answer: {i:?}"),
        }
    }
    lattice.shutdown().await
}
