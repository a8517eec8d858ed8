//! Per-link policy holds against the calls it grants (README, Security): through a real host,
//! a component whose link grants `put-config`, `put-link`, `delete-link` or `get-config` cannot
//! broaden its own link's policy or any other lattice-control link's, nor read the credentials
//! in their settings, unless its link holds `manage-links`. Each refusal is checked where it
//! matters: the caller's policy (`provider-info`), and the host's configs and links read with
//! the upstream control client. Every change made through the provider is audited: one info
//! line naming operation, caller and target, never a value (read from the provider's stderr,
//! which is why this module runs alone).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, no_options, types};
use lattice_control_e2e::logs::StderrCapture;
use lattice_control_e2e::stress::linked_caller;
use lattice_control_e2e::util::{scratch_dir, unique_name, wait_for};
use lattice_control_e2e::{
    bounded, put_config, put_provider_link, retry, start_provider, Caller, TestLattice, CALL_RETRY, CALL_TIMEOUT,
};

/// The escalating component's grant: it may write and delete configs, nothing else.
const ESC_ALLOW: &str = "read-only,put-config,delete-config";

/// A call's answer: the provider's `Ok`, or the `ctl-error` case name and message.
type Answer<T> = std::result::Result<T, (&'static str, String)>;

/// Calls the provider as `caller` (bounded, transport retried; the calls here are refused or
/// idempotent): the answer, or the `ctl-error` case name and message.
macro_rules! call {
    ($what:expr, $caller:expr, |$w:ident, $cx:ident| $body:expr) => {{
        let c: &Caller = &$caller;
        let r = retry($what, CALL_RETRY, || {
            let ($w, $cx) = (c.wrpc(), c.cx());
            $body
        })
        .await?;
        let a: Answer<_> = r.map_err(|e| (error_kind(&e), format!("{e:?}")));
        a
    }};
}

fn refused<T: std::fmt::Debug>(what: &str, a: Answer<T>, words: &str) -> Result<()> {
    match a {
        Err(("not-permitted", msg)) if msg.contains(words) && msg.contains("manage-links") => Ok(()),
        other => bail!("{what}: expected not-permitted naming `{words}` and manage-links, got {other:?}"),
    }
}

async fn policy_of(caller: &Caller) -> Result<String> {
    let opts = no_options();
    let info = call!("provider-info", *caller, |w, cx| lc::provider_info(w, cx, &opts))
        .map_err(|e| anyhow!("provider-info: {e:?}"))?;
    Ok(info.policy)
}

/// The config `name` on the host, read with the upstream client.
async fn host_config(lattice: &TestLattice, name: &str) -> Result<HashMap<String, String>> {
    let r = bounded("get_config", CALL_TIMEOUT, lattice.upstream().get_config(name))
        .await?
        .map_err(|e| anyhow!("upstream get_config: {e}"))?;
    Ok(r.into_data().unwrap_or_default())
}

/// `(source, name, target)` of every link on the host, read with the upstream client.
async fn host_links(lattice: &TestLattice) -> Result<Vec<(String, String, String)>> {
    let r = bounded("get_links", CALL_TIMEOUT, lattice.upstream().get_links())
        .await?
        .map_err(|e| anyhow!("upstream get_links: {e}"))?;
    let links = r.into_data().unwrap_or_default();
    Ok(links.iter().map(|l| (l.source_id().to_string(), l.name().to_string(), l.target().to_string())).collect())
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn wit_link(source: &str, name: &str, target: &str, target_config: &[&str]) -> types::Link {
    types::Link {
        source_id: source.into(),
        target: target.into(),
        name: name.into(),
        wit_namespace: "wasmcloud".into(),
        wit_package: "lattice-control".into(),
        interfaces: vec!["lattice-control".into()],
        source_config: vec![],
        target_config: target_config.iter().map(|c| c.to_string()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policy_holds_against_the_calls_it_grants() -> Result<()> {
    // the provider's info lines (the host passes RUST_LOG on to the provider)
    std::env::set_var("RUST_LOG", "warn,lattice_control_provider=info");
    let capture = StderrCapture::start(scratch_dir()?.join("link-guard-stderr.log"))?;
    let outcome = run(&capture).await;
    drop(capture);
    outcome
}

async fn run(capture: &StderrCapture) -> Result<()> {
    let lattice = TestLattice::start(lattice_control_e2e::shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    // The provider's own config holds a setting; the host does not say which configs are the
    // provider's, so the guard knows it by what it holds.
    let provider_id = unique_name("guard-provider");
    let own = format!("{provider_id}-own");
    put_config(&lattice, &own, &[("timeout_ms", "2000")]).await?;
    start_provider(&lattice, 0, &provider_id, &[own.as_str()]).await?;
    // An operator's broad config, with credentials in plain config.
    let admin_cfg = "guard-admin-settings";
    let (jwt, seed) = ("eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e2e-guard-claims.sig", "SUAGUARDE2ESEEDNOTREAL");
    let admin_values =
        [("allow", "all"), ("ctl_jwt", jwt), ("ctl_seed", seed), ("nats_url", "nats://op:hunter2@127.0.0.1:1")];
    put_config(&lattice, admin_cfg, &admin_values).await?;

    // Vector 1: rewriting its own link's config. `linked_caller` names it `{source}-{link}`.
    let esc = linked_caller(&lattice, &provider_id, "guard-esc", "default", &[("allow", ESC_ALLOW)]).await?;
    let esc_cfg = "guard-esc-default";
    let a = call!("put-label", esc, |w, cx| lc::put_label(w, cx, &host, "guard", "x"));
    assert!(matches!(a, Err(("not-permitted", _))), "put-label before: {a:?}");
    let all = [("lattice", lattice.lattice()), ("allow", "all")];
    let a = call!("put-config own", esc, |w, cx| lc::put_config(w, cx, esc_cfg, &all));
    refused("put-config of its own link's config", a, "`allow`")?;
    // values without a setting key: still its link's config
    let plain = [("note", "x")];
    let a = call!("put-config own plain", esc, |w, cx| lc::put_config(w, cx, esc_cfg, &plain));
    refused("plain put-config of its own link's config", a, "is named by link `default` from `guard-esc`")?;
    let a = call!("delete-config own", esc, |w, cx| lc::delete_config(w, cx, esc_cfg));
    refused("delete-config of its own link's config", a, "is named by link")?;
    // vector 4: the provider's own config
    let a = call!("put-config provider's", esc, |w, cx| lc::put_config(w, cx, &own, &plain));
    refused("put-config of the provider's config", a, "holds the lattice-control link setting `timeout_ms`")?;
    let a = call!("delete-config provider's", esc, |w, cx| lc::delete_config(w, cx, &own));
    refused("delete-config of the provider's config", a, "`timeout_ms`")?;
    assert_eq!(host_config(&lattice, esc_cfg).await?, map(&[("allow", ESC_ALLOW)]));
    assert_eq!(host_config(&lattice, &own).await?, map(&[("timeout_ms", "2000")]));
    // the race: a config written first, linked later, cannot carry a setting
    let later = "guard-linked-later";
    let a = call!("put-config later", esc, |w, cx| lc::put_config(w, cx, later, &all));
    refused("put-config of settings into an unlinked config", a, "`allow`")?;
    assert!(host_config(&lattice, later).await?.is_empty(), "refused config reached the host");
    let a = call!("put-config later plain", esc, |w, cx| lc::put_config(w, cx, later, &plain));
    assert!(a.is_ok(), "a config outside any link's settings stays writable: {a:?}");
    put_provider_link(&lattice, "guard-later", "default", &provider_id, &[later]).await?;
    let later_caller = Caller::new(lattice.nats().clone(), lattice.lattice(), &provider_id)
        .await?
        .as_component("guard-later", "default");
    wait_for("the later link", Duration::from_secs(20), || async { Ok(policy_of(&later_caller).await.ok()) })
        .await
        .and_then(|p| if p == "read-only" { Ok(()) } else { Err(anyhow!("linked-later policy: {p}")) })?;

    // Vector 2: a link to itself under another name, naming the broad config.
    let linker = linked_caller(
        &lattice,
        &provider_id,
        "guard-linker",
        "default",
        &[("allow", "read-only,put-link,delete-link")],
    )
    .await?;
    let admin_link = wit_link("guard-linker", "admin", &provider_id, &[admin_cfg]);
    let a = call!("put-link admin", linker, |w, cx| lc::put_link(w, cx, &admin_link));
    refused("put-link to this provider", a, "is a lattice-control link")?;
    // vector 4: another component's link, replaced or deleted
    let broader = wit_link("guard-esc", "default", &provider_id, &[admin_cfg]);
    let a = call!("put-link other", linker, |w, cx| lc::put_link(w, cx, &broader));
    refused("put-link over another component's link", a, "lattice-control link")?;
    let del = types::DeleteLinkRequest {
        source_id: "guard-esc".into(),
        name: "default".into(),
        wit_namespace: "wasmcloud".into(),
        wit_package: "lattice-control".into(),
    };
    let a = call!("delete-link other", linker, |w, cx| lc::delete_link(w, cx, &del));
    refused("delete-link of another component's link", a, "lattice-control link")?;
    // a link of another package, to another provider, is the linker's business
    let kv = types::Link {
        wit_package: "keyvalue".into(),
        wit_namespace: "wasi".into(),
        interfaces: vec!["store".into()],
        ..wit_link("guard-linker", "default", "some-kv-provider", &[])
    };
    let a = call!("put-link kv", linker, |w, cx| lc::put_link(w, cx, &kv));
    assert!(a.is_ok(), "a link of another package: {a:?}");

    // Beyond the vectors: a replica of this provider under a config of the caller's
    // choosing would serve every link with it as defaults.
    let starter =
        linked_caller(&lattice, &provider_id, "guard-starter", "default", &[("allow", "read-only,start-provider")])
            .await?;
    let replica = types::StartProviderCommand {
        provider_id: provider_id.clone(),
        provider_ref: lattice_control_e2e::provider_par_ref()?,
        host_id: host.clone(),
        config: vec![admin_cfg.to_string()],
        annotations: None,
    };
    let a = call!("start-provider replica", starter, |w, cx| lc::start_provider(w, cx, &replica));
    refused("start-provider of this provider's id", a, "is this provider")?;

    // Vector 3: reading another link's credentials with the default read-only policy.
    let reader = linked_caller(&lattice, &provider_id, "guard-reader", "default", &[]).await?;
    let got = call!("get-config", reader, |w, cx| lc::get_config(w, cx, admin_cfg))
        .map_err(|e| anyhow!("get-config: {e:?}"))?
        .context("admin config missing")?;
    let got: HashMap<String, String> = got.into_iter().collect();
    let text = format!("{got:?}");
    for secret in [jwt, seed, "hunter2"] {
        assert!(!text.contains(secret), "a read-only link read a credential: {text}");
    }
    assert_eq!(got.get("allow").map(String::as_str), Some("all"), "non-credential values stay readable");
    assert!(got.get("ctl_seed").is_some_and(|v| v.contains("withheld")), "{got:?}");

    // Nothing moved: policies as granted, links and configs as the operator left them.
    assert_eq!(policy_of(&esc).await?, ESC_ALLOW);
    assert_eq!(policy_of(&linker).await?, "read-only,put-link,delete-link");
    let links = host_links(&lattice).await?;
    assert!(!links.iter().any(|(s, n, _)| s == "guard-linker" && n == "admin"), "admin link reached the host");
    assert!(
        links.iter().any(|(s, n, t)| s == "guard-esc" && n == "default" && *t == provider_id),
        "guard-esc's link was removed"
    );
    assert_eq!(host_config(&lattice, admin_cfg).await?, map(&admin_values));

    // The operator's path: a link granted `manage-links` changes another link's settings.
    let admin =
        linked_caller(&lattice, &provider_id, "guard-admin", "default", &[("allow", "all,manage-links")]).await?;
    let raised = [("allow", "read-only,put-config,put-label")];
    let a = call!("admin put-config", admin, |w, cx| lc::put_config(w, cx, esc_cfg, &raised));
    assert!(a.is_ok(), "manage-links put-config: {a:?}");
    wait_for("guard-esc follows its edited config", Duration::from_secs(20), || async {
        Ok((policy_of(&esc).await? == "read-only,put-config,put-label").then_some(()))
    })
    .await?;
    let a = call!("put-label after", esc, |w, cx| lc::put_label(w, cx, &host, "guard", "granted"));
    assert!(a.is_ok(), "put-label once the operator granted it: {a:?}");
    let got = call!("admin get-config", admin, |w, cx| lc::get_config(w, cx, admin_cfg))
        .map_err(|e| anyhow!("admin get-config: {e:?}"))?
        .unwrap_or_default();
    assert!(got.iter().any(|(k, v)| k == "ctl_seed" && v == seed), "manage-links reads credentials");
    let admin_link = wit_link("guard-linker", "admin", &provider_id, &[]);
    let a = call!("admin put-link", admin, |w, cx| lc::put_link(w, cx, &admin_link));
    assert!(a.is_ok(), "manage-links put-link: {a:?}");
    assert!(host_links(&lattice).await?.iter().any(|(s, n, _)| s == "guard-linker" && n == "admin"));

    // Audit: one line per change made through the provider, with caller and target, no value.
    let lines = wait_for("audit lines", Duration::from_secs(10), || async {
        let text = capture.text();
        let audit: Vec<String> =
            text.lines().filter(|l| l.contains("lattice changed through the provider")).map(str::to_string).collect();
        let want = [
            ("guard-esc", "put-label", format!("label guard of host {host}")),
            ("guard-admin", "put-config", format!("config {esc_cfg}")),
            ("guard-admin", "put-link", format!("link guard-linker -> {provider_id}")),
            ("guard-linker", "put-link", "link guard-linker -> some-kv-provider".to_string()),
            ("guard-esc", "put-config", format!("config {later}")),
        ];
        let found = want.iter().all(|(source, op, target)| {
            audit.iter().any(|l| l.contains(source) && l.contains(op) && l.contains(target.as_str()))
        });
        Ok(found.then_some(audit))
    })
    .await?;
    let all_lines = lines.join("\n");
    for value in ["granted", "read-only,put-config,put-label"] {
        assert!(!all_lines.contains(value), "an audit line carries a value ({value}): {all_lines}");
    }
    // refused changes are not audited
    assert!(!lines.iter().any(|l| l.contains(&format!("config {own}"))), "a refused change was audited");
    let text = capture.text();
    for secret in [jwt, seed, "hunter2"] {
        assert!(!text.contains(secret), "the provider logged a credential");
    }
    Ok(())
}
