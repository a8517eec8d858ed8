//! Per-link policy through a real host: links with different policies call the provider over
//! wRPC as the host routes a component's import; refusals are `not-permitted` naming the
//! rule and send nothing to the lattice.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use futures::StreamExt as _;
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, no_options, types, wit_scale};
use lattice_control_e2e::stress::linked_caller;
use lattice_control_e2e::util::unique_name;
use lattice_control_e2e::{
    bounded, noop_component, noop_component_ref, retry, shared_nats, start_provider, TestLattice, CALL_RETRY,
    CALL_TIMEOUT,
};

/// A call's answer: the provider's `Ok` or the `ctl-error` case name and message.
type Answer<T> = std::result::Result<T, (&'static str, String)>;

fn answer<T>(r: std::result::Result<T, types::CtlError>) -> Answer<T> {
    r.map_err(|e| {
        let kind = error_kind(&e);
        (kind, format!("{e:?}"))
    })
}

/// Calls `f` (bounded, transport retried; the calls here are idempotent or refused).
macro_rules! call {
    ($what:expr, $caller:expr, |$w:ident, $cx:ident| $body:expr) => {{
        let c = &$caller;
        answer(
            retry($what, CALL_RETRY, || {
                let ($w, $cx) = (c.wrpc(), c.cx());
                $body
            })
            .await?,
        )
    }};
}

fn expect_refused<T: std::fmt::Debug>(what: &str, a: Answer<T>, rule: &str) -> Result<()> {
    match a {
        Err(("not-permitted", msg)) if msg.contains(rule) => Ok(()),
        other => bail!("{what}: expected not-permitted naming `{rule}`, got {other:?}"),
    }
}

fn scale(reference: &str, host: &str, id: &str, count: u32) -> types::ScaleComponentCommand {
    types::ScaleComponentCommand { allow_update: true, ..wit_scale(reference, id, host, count) }
}

fn all_hosts() -> types::HostQuery {
    types::HostQuery { expected: None, full_wait: false, timeout_ms: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_policies_through_a_real_host() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 2).await?;
    let provider_id = unique_name("policy-provider");
    start_provider(&lattice, 0, &provider_id, &[]).await?;
    let (h0, h1) = (lattice.host_id(0)?.to_string(), lattice.host_id(1)?.to_string());
    let noop_ref = noop_component_ref()?;
    let noop_dir = format!("file://{}/", noop_component()?.parent().context("component dir")?.display());

    // One link per policy, each from its own component; no `lattice` key: the provider's own.
    let policies: [(&str, Vec<(&str, &str)>); 5] = [
        ("ro", vec![]),
        ("list", vec![("allow", "get-hosts,put-config")]),
        ("refs", vec![("allow", "all"), ("allowed_references", &noop_dir)]),
        ("hostid", vec![("allow", "all"), ("allowed_hosts", &h1)]),
        ("label", vec![("allow", "all"), ("allowed_hosts", "label:e2e.index=1")]),
    ];
    let mut callers = std::collections::HashMap::new();
    for (name, values) in &policies {
        let source = format!("comp-{name}");
        let caller = linked_caller(&lattice, &provider_id, &source, "default", values).await?;
        let opts = no_options();
        let info = call!("provider-info", caller, |w, cx| lc::provider_info(w, cx, &opts))
            .map_err(|e| anyhow::anyhow!("provider-info: {e:?}"))?;
        callers.insert(*name, (caller, info));
    }

    // Default (no `allow`): read-only. Queries work, commands are refused naming the rule.
    let opts = no_options();
    let (ro, info) = &callers["ro"];
    assert_eq!(info.policy, "read-only");
    assert!(!info.allowed_operations.iter().any(|o| o == "scale-component"));
    let query = all_hosts();
    let hosts = call!("get-hosts", ro, |w, cx| lc::get_hosts(w, cx, &query))
        .map_err(|e| anyhow::anyhow!("read-only get-hosts: {e:?}"))?;
    assert_eq!(hosts.len(), 2, "get-hosts on a read-only link");
    let cmd = scale(&noop_ref, &h0, "policy-ro-c", 1);
    let a = call!("scale", ro, |w, cx| lc::scale_component(w, cx, &cmd));
    expect_refused("read-only scale", a, "allow=read-only forbids scale-component")?;

    // Allow-list: listed operations only.
    let (list, info) = &callers["list"];
    assert_eq!(info.policy, "get-hosts,put-config");
    let values = [("k", "v")];
    let a = call!("put-config", list, |w, cx| lc::put_config(w, cx, "policy-list-cfg", &values));
    assert!(a.is_ok(), "allow-listed put-config: {a:?}");
    let a = call!("get-links", list, |w, cx| lc::get_links(w, cx, &opts));
    expect_refused("unlisted get-links", a, "forbids get-links")?;
    let a = call!("delete-config", list, |w, cx| lc::delete_config(w, cx, "policy-list-cfg"));
    expect_refused("unlisted delete-config", a, "forbids delete-config")?;

    // Reference prefixes: the no-op component's directory only.
    let (refs, _) = &callers["refs"];
    let bad = scale("file:///elsewhere/x.wasm", &h0, "policy-refs-bad", 1);
    let a = call!("scale bad ref", refs, |w, cx| lc::scale_component(w, cx, &bad));
    expect_refused("foreign reference", a, "allowed_references does not cover")?;
    let good = scale(&noop_ref, &h0, "policy-refs-ok", 1);
    let a = call!("scale good ref", refs, |w, cx| lc::scale_component(w, cx, &good));
    assert!(a.is_ok(), "covered reference: {a:?}");
    let stop = scale(&noop_ref, &h0, "policy-refs-ok", 0);
    let a = call!("scale to 0", refs, |w, cx| lc::scale_component(w, cx, &stop));
    assert!(a.is_ok(), "scale to 0: {a:?}");

    // Host restrictions, by id and by label: host 1 only (its label e2e.index=1).
    for name in ["hostid", "label"] {
        let (c, _) = &callers[name];
        let a = call!("label h1", c, |w, cx| lc::put_label(w, cx, &h1, "policy", name));
        assert!(a.is_ok(), "{name}: put-label on the allowed host: {a:?}");
        let a = call!("label h0", c, |w, cx| lc::put_label(w, cx, &h0, "policy", name));
        expect_refused(name, a, &format!("allowed_hosts does not cover host {h0}"))?;
        let a = call!("registries", c, |w, cx| lc::put_registries(w, cx, &[]));
        expect_refused(name, a, "changes every host")?;
    }
    let inv0 = lattice.ctl().get_host_inventory(&h0).await?;
    assert!(!inv0.labels.contains_key("policy"), "refused label reached host 0");

    // Refused calls send nothing to the lattice's control subjects.
    let watcher = lattice.nats().clone();
    let mut sub = watcher.subscribe(format!("wasmbus.ctl.v1.{}.>", lattice.lattice())).await?;
    bounded("flush", CALL_TIMEOUT, watcher.flush()).await??;
    let cmd = scale(&noop_ref, &h0, "policy-ro-c", 1);
    let a = call!("scale", ro, |w, cx| lc::scale_component(w, cx, &cmd));
    expect_refused("read-only scale", a, "forbids")?;
    let a = call!("get-links", list, |w, cx| lc::get_links(w, cx, &opts));
    expect_refused("get-links", a, "forbids")?;
    let a = call!("scale bad ref", refs, |w, cx| lc::scale_component(w, cx, &bad));
    expect_refused("foreign reference", a, "allowed_references")?;
    let (hostid, _) = &callers["hostid"];
    let a = call!("registries", hostid, |w, cx| lc::put_registries(w, cx, &[]));
    expect_refused("registries", a, "changes every host")?;
    match tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        Err(_) => {}
        Ok(msg) => bail!("a refused call sent control traffic: {:?}", msg.map(|m| m.subject)),
    }
    Ok(())
}
