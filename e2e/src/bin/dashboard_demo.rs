//! `lattice-dashboard-demo [--stay]`: the main job. A local lattice (NATS, two real hosts with
//! the built-in HTTP server, a real wadm) on which wadm deploys, as `wash app deploy` would,
//! `examples/dashboard/local.wadm.yaml` (the dashboard, its HTTP server and the provider) and
//! the repository's `local.wadm.yaml` (the JavaScript controller), plus a sample component.
//! Prints the dashboard's URL and what it answers, and a few of the controller's calls and
//! events. `--stay` keeps everything up until Ctrl-C and says how to point `wash` at it.
//!
//! The dashboard listens on `$DASHBOARD_ADDRESS`, else the manifest's 127.0.0.1:8090 if free,
//! else a free port.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use lattice_control_e2e::dashboard::{self, SHIPPED_ADDRESS};
use lattice_control_e2e::js::{summary, JS_CONTROLLER};
use lattice_control_e2e::par::product_root;
use lattice_control_e2e::util::wait_for;
use lattice_control_e2e::wadm::deployable_manifest;
use lattice_control_e2e::{bounded, noop_scale, retry, Nats, TestLattice, TestWadm, CALL_TIMEOUT};
use serde_json::Value;

const LATTICE: &str = "demo";
const CONTROLLER_APP: &str = "lattice-control";
const CONTROLLER_ID: &str = "lattice_control-js_controller";
const SAMPLE_ID: &str = "demo-sample";
/// Each host compiles the ~14 MB dashboard (and one the controller) before the apps are deployed.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(600);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

fn main() -> Result<()> {
    // Quiet by default (`RUST_LOG` overrides; the host passes it on to providers): wadm logs an
    // error each time a host busy compiling a component does not ack a command in time, and
    // retries; that is expected here.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error,wadm=off");
    }
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build()?.block_on(async {
        // Ctrl-C at any point drops the lattice, which stops its hosts and their providers.
        tokio::select! {
            done = run() => done,
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                Ok(())
            }
        }
    })
}

fn address() -> Result<String> {
    if let Ok(address) = std::env::var("DASHBOARD_ADDRESS") {
        return Ok(address);
    }
    if TcpListener::bind(SHIPPED_ADDRESS).is_ok() {
        return Ok(SHIPPED_ADDRESS.to_string());
    }
    Ok(format!("127.0.0.1:{}", lattice_control_e2e::nats::free_port()?))
}

async fn run() -> Result<()> {
    let stay = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => false,
        [flag] if flag == "--stay" => true,
        _ => bail!("usage: lattice-dashboard-demo [--stay]"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into()))
        .with_writer(std::io::stderr)
        .init();
    let t = Instant::now();
    let address = address()?;
    let url = format!("http://{address}");
    println!("building    examples/dashboard, examples/js-controller, the provider's PAR ...");
    let dashboard_manifest = dashboard::prepare(&address).await?;
    JS_CONTROLLER.build().await?;
    let controller_manifest = deployable_manifest(&product_root().join("local.wadm.yaml"))?;
    println!("            (one provider for both applications: provider.wadm.yaml, a wadm shared application)");

    let nats = Nats::start()?;
    println!("NATS        {} (monitoring {})", nats.url(), nats.monitor_url());
    let mut wadm = TestWadm::start(&nats).await?;
    println!("wadm        running (in-process)");
    let mut lattice = TestLattice::start_named(&nats, LATTICE, 0).await?;
    // One host first; the second joins once the applications run (hosts compiling at once stop
    // answering, and wadm would start the providers again elsewhere).
    lattice.add_host_with(dashboard::with_builtin_http_server).await?;
    println!("host        {} in lattice `{LATTICE}` (built-in HTTP server enabled)", lattice.host_id(0)?);
    wadm.wait_lattice(LATTICE).await?;
    let apps = wadm.client(LATTICE).await?;
    let ctl = lattice.ctl().clone();

    lattice_control_e2e::wadm::deploy_shared_provider(&apps, &lattice, DEPLOY_TIMEOUT).await?;
    println!("deploy      provider.wadm.yaml: the shared provider application");
    for (what, manifest) in
        [("examples/dashboard/local.wadm.yaml", &dashboard_manifest), ("local.wadm.yaml", &controller_manifest)]
    {
        let (name, version) = apps.put_and_deploy(serde_yaml::to_string(manifest)?.into_bytes()).await?;
        println!("deploy      {what}: application {name} {version}");
    }
    println!("            (the host compiles the JavaScript components; this takes a while in a debug build)");
    for name in [dashboard::APP, CONTROLLER_APP] {
        let started = Instant::now();
        apps.wait_deployed(name, DEPLOY_TIMEOUT).await?;
        println!("deployed    {name} ({:.0?})", started.elapsed());
    }
    let second = lattice.add_host_with(dashboard::with_builtin_http_server).await?;
    let hosts = lattice.host_ids();
    println!("host        {} joined; wadm runs the dashboard there too", lattice.host_id(second)?);
    let started = Instant::now();
    wait_for("the dashboard on the second host", DEPLOY_TIMEOUT, || async {
        let inventory = ctl.get_host_inventory(&hosts[1]).await?;
        Ok(inventory.components.iter().any(|c| c.id == dashboard::COMPONENT_ID).then_some(()))
    })
    .await?;
    println!("deployed    the dashboard on the second host ({:.0?})", started.elapsed());
    wadm.check_running()?;

    // Something to see: a sample component on the second host. Its scale is a lattice event
    // the controller receives and records through the provider.
    let sample = noop_scale(&hosts[1], SAMPLE_ID, 2)?.build()?;
    bounded("scaling the sample", CALL_TIMEOUT, ctl.scale_component(sample)).await??;
    println!("component   {SAMPLE_ID} x2 on the second host");

    let state = dashboard::wait_answering(&url, hosts.len(), ANSWER_TIMEOUT).await?;
    let started = Instant::now();
    let state_again = retry("/api/lattice", CALL_TIMEOUT, || dashboard::api_lattice(&url)).await?;
    let latency = started.elapsed();
    print_summary(&state, &state_again, latency);

    controller(&lattice).await?;

    println!("\nDashboard:  {url}/   (JSON: {url}/api/lattice)");
    println!("setup took {:.0?}", t.elapsed());
    if stay {
        println!("\nThe lattice stays up until Ctrl-C. Point wash at it:");
        println!("  WASMCLOUD_LATTICE={LATTICE} wash get hosts --ctl-host 127.0.0.1 --ctl-port {}", nats.port());
        println!("  WASMCLOUD_LATTICE={LATTICE} wash get inventory --ctl-port {}", nats.port());
        println!("  wash app list --lattice {LATTICE} --ctl-port {}", nats.port());
        tokio::signal::ctrl_c().await?;
        println!("stopping");
    }
    drop(wadm);
    // A host still compiling a component wadm asked for can miss the bounded stop; the demo
    // has shown what it came to show, so that is reported, not a failure.
    if let Err(e) = lattice.shutdown().await {
        eprintln!("note: {e:#}; the demo completed, its processes end with it");
    }
    Ok(())
}

fn print_summary(state: &Value, again: &Value, latency: Duration) {
    let link = &state["link"];
    println!(
        "dashboard   answered: lattice `{}`, its link {} / {}, policy {}",
        link["lattice"].as_str().unwrap_or("?"),
        link["source-id"].as_str().unwrap_or("?"),
        link["link-name"].as_str().unwrap_or("?"),
        link["policy"].as_str().unwrap_or("?")
    );
    for host in again["hosts"].as_array().into_iter().flatten() {
        println!(
            "  host {} ({}), version {}",
            host["friendly-name"].as_str().unwrap_or("?"),
            host["id"].as_str().unwrap_or("?"),
            host["version"].as_str().unwrap_or("?")
        );
        for c in host["components"].as_array().into_iter().flatten() {
            println!("    component {} x{}", c["id"].as_str().unwrap_or("?"), c["max-instances"]);
        }
        for p in host["providers"].as_array().into_iter().flatten() {
            println!("    provider  {}", p["id"].as_str().unwrap_or("?"));
        }
    }
    println!(
        "  {} links; GET /api/lattice took {latency:.1?} (host → component → provider → hosts)",
        again["links"].as_array().map_or(0, Vec::len)
    );
}

/// A few of the JavaScript controller's calls (its export, answered through the provider) and
/// what it did on the sample's `component_scaled` event.
async fn controller(lattice: &TestLattice) -> Result<()> {
    let prefix = format!("{LATTICE}.{CONTROLLER_ID}");
    let wrpc =
        bounded("wRPC client", CALL_TIMEOUT, wrpc_transport_nats::Client::new(lattice.nats().clone(), prefix, None))
            .await??;
    let answer = retry("summary.list-hosts", ANSWER_TIMEOUT, || summary::list_hosts(&wrpc, None, "demo"))
        .await?
        .map_err(|e| anyhow!("the controller answered an error: {e}"))?;
    let summary: Value = serde_json::from_str(&answer).context("the controller's answer is not JSON")?;
    println!(
        "controller  {CONTROLLER_ID}: summary.list-hosts -> {} hosts {}, policy {}",
        summary["host-ids"].as_array().map_or(0, Vec::len),
        summary["host-ids"],
        summary["policy"].as_str().unwrap_or("?")
    );
    let config = format!("{CONTROLLER_ID}-last-scale");
    let ctl = lattice.ctl();
    match wait_for("the controller's record of the sample's scale", Duration::from_secs(30), || async {
        let record = ctl.get_config(&config).await?;
        Ok(record.filter(|r| r.get("component-id").map(String::as_str) == Some(SAMPLE_ID)))
    })
    .await
    {
        Ok(record) => println!(
            "controller  saw component_scaled of {SAMPLE_ID} (x{}) and wrote config {config} through the provider",
            record.get("max-instances").map_or("?", String::as_str)
        ),
        Err(e) => println!("controller  no record of the sample's scale yet: {e:#}"),
    }
    Ok(())
}
