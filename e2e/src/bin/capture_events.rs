//! Captures one lattice event of every type a real wasmCloud host publishes, as the host
//! sent it, into `tests/fixtures/host-events/{type}.json` (the product crate's tests decode
//! each one: `src/convert/events.rs`).
//!
//! ```sh
//! scripts/prepare-host.sh
//! cd e2e && cargo run --bin capture-events [-- OUT_DIR]
//! ```
//!
//! What it does on one in-process host 0.27.1 (heartbeat every 2 s): puts and deletes a named
//! config, scales a signed component (and one whose file is missing), starts the provider
//! (and one whose archive is missing), puts a link (and one naming a missing config), deletes
//! it (and again, when it no longer exists), puts a label; waits for the host's health checks of the
//! provider (passed after 5 s, status 30 s later), then stops the provider process
//! (SIGSTOP) and answers the next check unhealthy in its place (failed); stops the provider
//! and the host. About 75 s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use futures::StreamExt as _;
use lattice_control_e2e::{noop_component, noop_scale, start_provider, Nats, TestLattice, CALL_TIMEOUT};
use lattice_control_provider::ctl;

const LATTICE: &str = "capture";
const PROVIDER: &str = "lattice-control";
const COMPONENT: &str = "captured";

/// The event types of a 0.27.1 host; `linkdef_deleted` is kept twice (a link that existed,
/// and one that did not: `linkdef_deleted-unknown`; the host publishes nothing when the source
/// has no links at all).
const TYPES: [&str; 17] = [
    "host_started",
    "host_stopped",
    "host_heartbeat",
    "component_scaled",
    "component_scale_failed",
    "provider_started",
    "provider_stopped",
    "provider_start_failed",
    "health_check_passed",
    "health_check_failed",
    "health_check_status",
    "linkdef_set",
    "linkdef_set_failed",
    "linkdef_deleted",
    "config_set",
    "config_deleted",
    "labels_changed",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let out = std::env::args().nth(1).map_or_else(|| PathBuf::from("../tests/fixtures/host-events"), PathBuf::from);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let nats = Nats::start()?;
    let watcher = nats.connect().await?;
    let mut events = watcher.subscribe(format!("wasmbus.evt.{LATTICE}.>")).await?;
    let captured = tokio::spawn(async move {
        let mut seen: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        while let Some(msg) = events.next().await {
            let Ok(ev) = serde_json::from_slice::<serde_json::Value>(&msg.payload) else { continue };
            let ty = msg.subject.as_str().rsplit('.').next().unwrap_or_default().to_string();
            let key = if ty == "linkdef_deleted" && ev["data"].get("target").is_none() {
                "linkdef_deleted-unknown".to_string()
            } else {
                ty.clone()
            };
            // the heartbeat that lists the most; the first of every other type
            let richer = |old: &serde_json::Value| {
                let n = |v: &serde_json::Value| {
                    v["data"]["components"].as_array().map_or(0, Vec::len)
                        + v["data"]["providers"].as_array().map_or(0, Vec::len)
                };
                n(&ev) > n(old)
            };
            match seen.get(&key) {
                Some(old) if ty != "host_heartbeat" || !richer(old) => {}
                _ => {
                    eprintln!("captured {key}");
                    seen.insert(key, ev);
                }
            }
            if seen.contains_key("host_stopped") {
                break;
            }
        }
        seen
    });

    let mut lattice = TestLattice::start_named(&nats, LATTICE, 0).await?;
    lattice.add_host_with(|c| c.heartbeat_interval = Some(Duration::from_secs(2))).await?;
    let host = lattice.host_id(0)?.to_string();
    let ctl = lattice.ctl().clone();

    ctl.put_config("capture-config", std::collections::HashMap::from([("key".to_string(), "value".to_string())]))
        .await?;
    let signed = signed_component()?;
    let scale = ctl::ScaleComponentCommand::builder()
        .host_id(&host)
        .component_ref(format!("file://{}", signed.display()))
        .component_id(COMPONENT)
        .max_instances(2)
        .annotations(BTreeMap::from([("team".to_string(), "capture".to_string())]))
        .build()?;
    ctl.scale_component(scale).await?;
    let missing = noop_scale(&host, "missing", 1)?.component_ref("file:///nonexistent/missing.wasm").build()?;
    ctl.scale_component(missing).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let provider_started = tokio::time::Instant::now();
    let bad_provider = ctl::StartProviderCommand::builder()
        .host_id(&host)
        .provider_ref("file:///nonexistent/missing.par.gz")
        .provider_id("missing-provider")
        .build()?;
    ctl.start_provider(bad_provider).await?;
    let link = |configs: Vec<String>| {
        ctl::Link::builder()
            .source_id(COMPONENT)
            .target(PROVIDER)
            .name("default")
            .wit_namespace("wasmcloud")
            .wit_package("lattice-control")
            .interfaces(["lattice-control"])
            .target_config(configs)
            .build()
    };
    ctl.put_link(link(vec!["capture-config".to_string()])?).await?;
    let refused = ctl::Link::builder()
        .source_id("other")
        .target(PROVIDER)
        .name("default")
        .wit_namespace("wasmcloud")
        .wit_package("lattice-control")
        .interfaces(["lattice-control"])
        .target_config(["no-such-config"])
        .build()?;
    let _ = ctl.put_link(refused).await; // refused: that is the event
                                         // the second delete finds the component's spec but no such link: the event has no target
    for source in [COMPONENT, COMPONENT] {
        let del = ctl::DeleteInterfaceLinkDefinitionRequest::builder()
            .source_id(source)
            .wit_namespace("wasmcloud")
            .wit_package("lattice-control")
            .build()?;
        ctl.delete_link(del).await?;
    }
    ctl.put_label(&host, "zone", "capture").await?;
    ctl.delete_config("capture-config").await?;

    // health checks: passed ~5 s after the start, status 30 s later
    let status_at = provider_started + Duration::from_secs(37);
    tokio::time::sleep_until(status_at).await;
    // failed: the provider stops answering; a stand-in answers unhealthy in its place
    let pid = lattice_control_e2e::stress::provider_pid(&host)?;
    signal(pid, libc::SIGSTOP)?;
    let health = watcher.subscribe(format!("wasmbus.rpc.{LATTICE}.{PROVIDER}.health")).await?;
    let responder = tokio::spawn(answer_unhealthy(watcher.clone(), health));
    tokio::time::sleep(Duration::from_secs(32)).await;
    responder.abort();
    signal(pid, libc::SIGCONT)?;

    let stop = ctl::StopProviderCommand::builder().host_id(&host).provider_id(PROVIDER).build()?;
    ctl.stop_provider(stop).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    lattice.stop_host(0).await?;
    let seen = tokio::time::timeout(CALL_TIMEOUT, captured).await.context("host_stopped never came")??;

    let mut missing_types = Vec::new();
    for ty in TYPES.iter().map(|t| t.to_string()).chain(["linkdef_deleted-unknown".to_string()]) {
        match seen.get(&ty) {
            Some(ev) => {
                let path = out.join(format!("{ty}.json"));
                std::fs::write(&path, serde_json::to_string_pretty(ev)? + "\n")?;
                println!("wrote {}", path.display());
            }
            None => missing_types.push(ty),
        }
    }
    if !missing_types.is_empty() {
        bail!("no event seen of: {missing_types:?}");
    }
    Ok(())
}

/// The no-op component with embedded claims (name, version, revision, tags, call alias).
fn signed_component() -> Result<PathBuf> {
    let bytes = std::fs::read(noop_component()?)?;
    let account = nkeys::KeyPair::new_account();
    let module = nkeys::KeyPair::new_module();
    let signed = wascap::wasm::sign_buffer_with_claims(
        "captured".to_string(),
        &bytes,
        &module,
        &account,
        None,
        None,
        vec!["e2e".to_string()],
        false,
        Some(3),
        Some("0.3.0".to_string()),
        Some("captured-alias".to_string()),
    )
    .context("signing the component")?;
    let path = lattice_control_e2e::util::scratch_dir()?.join("signed.wasm");
    std::fs::write(&path, signed)?;
    Ok(path)
}

async fn answer_unhealthy(nats: async_nats::Client, mut health: async_nats::Subscriber) {
    while let Some(msg) = health.next().await {
        if let Some(reply) = msg.reply {
            let body = serde_json::json!({"healthy": false, "message": "stopped by capture-events"});
            let _ = nats.publish(reply, body.to_string().into()).await;
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) -> Result<()> {
    let pid = libc::pid_t::try_from(pid).context("pid")?;
    // SAFETY: kill(2) with a pid read from /proc and a valid signal number.
    if unsafe { libc::kill(pid, sig) } != 0 {
        bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}
