//! `lattice-demo [--stay]`: a local lattice with this provider, driven the way a component
//! drives it.
//!
//! Starts NATS, a real wasmCloud host, the provider from its PAR; puts a link whose target
//! config names the lattice; then makes real calls over wRPC exactly as the host routes a
//! component's import, and prints the answers. `--stay` keeps everything up until Ctrl-C so
//! `wash` can be pointed at it.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, types, wit_scale, HOST_QUERY, NO_OPTIONS};
use lattice_control_e2e::{bounded, noop_component_ref, retry, start_provider, Nats, TestLattice};

const PROVIDER: &str = "lattice-control";
const COMPONENT: &str = "demo-controller";
const LATTICE: &str = "demo";

fn main() -> Result<()> {
    // Quiet by default; the host passes RUST_LOG on to the provider process too. Set before
    // any thread exists.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build()?.block_on(run())
}

async fn run() -> Result<()> {
    let stay = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => false,
        [flag] if flag == "--stay" => true,
        _ => bail!("usage: lattice-demo [--stay]"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();

    let t = Instant::now();
    let nats = Nats::start()?;
    println!("NATS        {} (monitoring {})", nats.url(), nats.monitor_url());
    let lattice = TestLattice::start_named(&nats, LATTICE, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    println!("host        {host} in lattice `{LATTICE}`");
    println!("provider    packing {} ...", lattice_control_e2e::provider_bin()?.display());
    lattice_control_e2e::provider_par()?;
    let started = Instant::now();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    println!("provider    `{PROVIDER}` started from its PAR, ready in {:?}", started.elapsed());

    let settings = [("lattice", LATTICE), ("allow", "all")];
    let caller =
        lattice_control_e2e::stress::linked_caller(&lattice, PROVIDER, COMPONENT, "default", &settings).await?;
    println!("link        {COMPONENT} -> {PROVIDER} (target config: lattice={LATTICE}, allow=all)");
    println!("setup took {:?}\n", t.elapsed());
    let (w, cx) = (caller.wrpc(), || caller.cx());
    let limit = Duration::from_secs(20);

    let info = answer(retry("provider-info", limit, || lc::provider_info(w, cx(), &NO_OPTIONS)).await?)?;
    println!("provider-info");
    println!(
        "  version {}, lattice `{}`, caller {} / link {}",
        info.version, info.lattice, info.source_id, info.link_name
    );
    println!("  policy: {}", info.policy);

    let t = Instant::now();
    let hosts = answer(retry("get-hosts", limit, || lc::get_hosts(w, cx(), &HOST_QUERY)).await?)?;
    println!("get-hosts ({:?})", t.elapsed());
    for h in &hosts {
        println!(
            "  {}  {}  version {}  up {}s",
            h.id,
            h.friendly_name,
            h.version.as_deref().unwrap_or("?"),
            h.uptime_seconds
        );
    }

    print_inventory(
        "get-host-inventory",
        &answer(retry("inventory", limit, || lc::get_host_inventory(w, cx(), &host)).await?)?,
    );

    let scale = wit_scale(noop_component_ref()?, "demo-noop", host.clone(), 2);
    let wait = types::WaitOptions { timeout_ms: 8_000 };
    let ev = answer(bounded("scale", limit, lc::scale_component_and_wait(w, cx(), &scale, &wait)).await??)?;
    println!("scale-component-and-wait demo-noop x2 -> event {} from {}", ev.event_type, ev.source);
    print_inventory(
        "get-host-inventory",
        &answer(retry("inventory", limit, || lc::get_host_inventory(w, cx(), &host)).await?)?,
    );

    let links = answer(retry("get-links", limit, || lc::get_links(w, cx(), &NO_OPTIONS)).await?)?;
    println!("get-links");
    for l in &links {
        println!(
            "  {} -> {} ({}:{}/{}, name {}, target config {:?})",
            l.source_id,
            l.target,
            l.wit_namespace,
            l.wit_package,
            l.interfaces.join(","),
            l.name,
            l.target_config
        );
    }

    let unlinked = caller.as_component("not-linked-component", "default");
    let r = retry("get-hosts", limit, || lc::get_hosts(unlinked.wrpc(), unlinked.cx(), &HOST_QUERY)).await?;
    println!("get-hosts from a component without a link -> {}", r.as_ref().map_or_else(|e| error_kind(e), |_| "ok"));

    if stay {
        println!("\nThe lattice stays up until Ctrl-C. Point wash at it:");
        println!(
            "  export WASMCLOUD_CTL_HOST=127.0.0.1 WASMCLOUD_CTL_PORT={} WASMCLOUD_LATTICE={LATTICE}",
            nats.port()
        );
        println!("  wash get inventory   # or: wash get hosts, wash get links");
        tokio::signal::ctrl_c().await?;
        println!("stopping");
    }
    lattice.shutdown().await
}

/// The provider's answer, or an error naming its error case.
fn answer<T>(r: std::result::Result<T, types::CtlError>) -> Result<T> {
    r.map_err(|e| anyhow!("provider answered {}: {e:?}", error_kind(&e)))
}

fn print_inventory(title: &str, inv: &types::HostInventory) {
    println!("{title} {}", inv.host_id);
    let labels: Vec<String> = inv.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("  labels: {}", labels.join(", "));
    for c in &inv.components {
        println!("  component {} x{} ({})", c.id, c.max_instances, c.image_ref);
    }
    for p in &inv.providers {
        println!("  provider  {} ({})", p.id, p.image_ref.as_deref().unwrap_or("?"));
    }
}
