//! The lattice dashboard as a person sees it: `examples/dashboard/local.wadm.yaml` deployed
//! through a real wadm (in-process) on a lattice of two real hosts with the built-in HTTP
//! server, a sample component running on the second host, and the page loaded in headless
//! Chromium from the host's HTTP server.
//!
//! The manifest is sent as `wash app deploy` sends it (relative `file://` paths made absolute),
//! with one edit a user makes when the shipped port is taken: the server's `address` is a free
//! port. Its dashboard link has no config, so the provider's default policy, `read-only`, holds.
//!
//! Asserted from the rendered DOM (DevTools protocol, the page's own script running):
//! - every host id of the lattice has its card, with the components running on it (the
//!   dashboard on both hosts, the sample on the second) and the provider; the header shows the
//!   lattice and the link's policy;
//! - a label put through the control client appears on its host's card by itself (the page's
//!   periodic refresh, no reload);
//! - clicking "scale" on the sample component (a POST the provider refuses under `read-only`)
//!   shows `not-permitted` on the page, and the component is not scaled.
//!
//! Also: the page (HTML with its script) is under 64 KiB; the `/api/lattice` latency (host →
//! component → provider → hosts) is measured and printed, not asserted. A screenshot is saved
//! under the target dir and its path printed.
//!
//! Needs `node`/`npm` (the example's `build.sh`) and Chromium (`chromium` on PATH or `$CHROMIUM`);
//! without them it prints `SKIPPED` and passes, except in CI (`CI=true`), where it fails.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use lattice_control_e2e::browser::{chromium_binary, Browser};
use lattice_control_e2e::dashboard::{self, APP, COMPONENT_ID, HTTP_SERVER_ID, PROVIDER_ID};
use lattice_control_e2e::js::{in_ci, tool_present};
use lattice_control_e2e::nats::free_port;
use lattice_control_e2e::provider::wait_provider_ready;
use lattice_control_e2e::util::{http_get, wait_for};
use lattice_control_e2e::{bounded, noop_scale, retry, shared_nats, TestLattice, TestWadm, CALL_RETRY, CALL_TIMEOUT};
use serde_json::Value;

/// Deploy to `Deployed`: both hosts compile the ~14 MB component (30 s or more each on 2 cores).
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(400);
/// The page served and listing both hosts once deployed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// Something the page shows after its next refreshes (it refreshes every second here).
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// The page and its script.
const PAGE_BUDGET: usize = 64 * 1024;
const SAMPLE_ID: &str = "dashboard-e2e-sample";
const LABEL: (&str, &str) = ("dashboard-e2e", "seen-by-the-page");
/// `/api/lattice` requests for the latency figures.
const LATENCY_SAMPLES: usize = 20;

/// `Ok(true)` if present; else `SKIPPED` locally, an error in CI.
fn required(present: bool, what: &str) -> Result<bool> {
    if present {
        return Ok(true);
    }
    if in_ci() {
        bail!("{what} is missing (CI=true: the dashboard test must run; .ci/run installs it)");
    }
    eprintln!("SKIPPED dashboard: {what} is missing");
    Ok(false)
}

/// Where the screenshot goes: `$CARGO_TARGET_DIR`, else the e2e crate's `target/`.
fn artifact_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("e2e-artifacts")
}

/// What the page shows, read from its DOM.
const DOM_VIEW: &str = r##"JSON.stringify({
  refreshed: document.body.getAttribute("data-refreshed"),
  lattice: document.getElementById("lattice-name").textContent,
  policy: document.getElementById("policy").textContent,
  status: document.getElementById("status").textContent,
  result: document.getElementById("action-result").textContent,
  errors: document.getElementById("errors").textContent,
  links: document.querySelectorAll("#links tbody tr").length,
  load: {
    reporting: document.getElementById("load").getAttribute("data-hosts-reporting"),
    error: document.getElementById("load").getAttribute("data-load-error"),
    note: document.getElementById("load-note").textContent
  },
  hosts: Array.from(document.querySelectorAll(".host")).map(function (h) {
    return {
      id: h.getAttribute("data-host-id"),
      components: Array.from(h.querySelectorAll(".component")).map(function (c) { return c.getAttribute("data-component-id"); }),
      providers: Array.from(h.querySelectorAll(".provider")).map(function (p) { return p.getAttribute("data-provider-id"); }),
      labels: Array.from(h.querySelectorAll(".label code")).map(function (l) { return l.textContent; }),
      deletable: Array.from(h.querySelectorAll(".label")).filter(function (l) { return l.querySelector("button.delete-label"); })
        .map(function (l) { return l.getAttribute("data-key"); })
    };
  })
})"##;

async fn dom(browser: &mut Browser) -> Result<Value> {
    let text = browser.eval(DOM_VIEW).await?;
    let text = text.as_str().context("the DOM view is not a string")?;
    serde_json::from_str(text).context("the DOM view is not JSON")
}

/// Polls the rendered page until `check` holds; the error shows the last view.
async fn wait_page(browser: &mut Browser, what: &str, check: impl Fn(&Value) -> bool) -> Result<Value> {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        // Fails while the page is still loading (no dashboard elements yet).
        let last = match dom(browser).await {
            Ok(view) if check(&view) => return Ok(view),
            Ok(view) => view.to_string(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("the page did not show {what} within {PAGE_TIMEOUT:?}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn host_card<'a>(view: &'a Value, host_id: &str) -> Option<&'a Value> {
    view["hosts"].as_array()?.iter().find(|h| h["id"] == host_id)
}

fn card_has(view: &Value, host_id: &str, field: &str, item: &str) -> bool {
    host_card(view, host_id).and_then(|h| h[field].as_array()).is_some_and(|items| items.iter().any(|i| i == item))
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_shows_the_lattice_in_a_real_browser() -> Result<()> {
    lattice_control_e2e::util::logs_on_request();
    if !required(tool_present("node") && tool_present("npm"), "`node`/`npm` (to build examples/dashboard)")? {
        return Ok(());
    }
    let Some(chromium) = chromium_binary() else {
        required(false, "Chromium (`chromium` on PATH, or $CHROMIUM)")?;
        return Ok(());
    };
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let manifest = dashboard::prepare(&format!("127.0.0.1:{port}")).await?;

    // wadm first (it manages a lattice once it sees a host start), then hosts that can run the
    // built-in HTTP server.
    let nats = shared_nats()?;
    let mut wadm = TestWadm::start(nats).await?;
    let mut lattice = TestLattice::start(nats, 0).await?;
    // The second host joins after the deploy: while a host compiles the ~14 MB component its
    // control interface does not answer, and with every host compiling at once wadm takes the
    // providers for gone and starts them again elsewhere; two built-in HTTP servers in one
    // process cannot both bind the address, and the one wadm keeps may be the one that failed.
    lattice.add_host_with(dashboard::with_builtin_http_server).await?;
    let ctl = lattice.ctl().clone();
    let apps = wadm.client_for(&lattice).await?;

    let deployed_at = Instant::now();
    lattice_control_e2e::wadm::deploy_shared_provider(&apps, &lattice, DEPLOY_TIMEOUT).await?;
    let (name, _) = apps.put_and_deploy(serde_yaml::to_string(&manifest)?.into_bytes()).await?;
    assert_eq!(name, APP);
    apps.wait_deployed(APP, DEPLOY_TIMEOUT).await?;
    eprintln!("timing: deploy to status Deployed {:.1?}", deployed_at.elapsed());
    wadm.check_running()?;
    wait_provider_ready(&lattice, PROVIDER_ID).await?;

    // A second host: wadm's daemonscaler runs the dashboard there too.
    let second = lattice.add_host_with(dashboard::with_builtin_http_server).await?;
    let host_ids = lattice.host_ids();
    let joined_at = Instant::now();
    wait_for("the dashboard on the second host", DEPLOY_TIMEOUT, || async {
        let inventory = ctl.get_host_inventory(lattice.host_id(second)?).await?;
        Ok(inventory.components.iter().any(|c| c.id == COMPONENT_ID).then_some(()))
    })
    .await?;
    apps.wait_deployed(APP, DEPLOY_TIMEOUT).await?;
    eprintln!("timing: second host joined to the dashboard running there {:.1?}", joined_at.elapsed());

    // Something else to see: a sample component on the second host.
    let sample = noop_scale(&host_ids[1], SAMPLE_ID, 1)?.build()?;
    bounded("scale the sample", CALL_TIMEOUT, ctl.scale_component(sample)).await??;
    wait_for("the sample component running", ANSWER_TIMEOUT, || async {
        let inventory = ctl.get_host_inventory(&host_ids[1]).await?;
        Ok(inventory.components.iter().any(|c| c.id == SAMPLE_ID).then_some(()))
    })
    .await?;

    // The HTTP path answers: host's server → component → provider → hosts.
    let state = match dashboard::wait_answering(&base, host_ids.len(), ANSWER_TIMEOUT).await {
        Ok(state) => state,
        Err(e) => {
            // Where the server and the dashboard run, for the failure report.
            for h in &host_ids {
                let inventory = ctl.get_host_inventory(h).await;
                eprintln!("host {h}: {inventory:?}");
            }
            eprintln!("links: {:?}", ctl.get_links().await);
            eprintln!("status: {:?}", apps.status(APP).await.map(|s| lattice_control_e2e::wadm::describe(&s)));
            return Err(e);
        }
    };
    eprintln!("timing: deploy to the dashboard answering {:.1?}", deployed_at.elapsed());
    assert_eq!(state["link"]["lattice"], lattice.lattice(), "{state}");
    assert_eq!(state["link"]["source-id"], COMPONENT_ID, "{state}");
    assert_eq!(state["link"]["policy"], "read-only", "{state}");
    assert_eq!(state["errors"].as_array().map(Vec::len), Some(0), "{state}");
    // get-component-load answered the component (read-only grants it): no host exports
    // metrics to this provider, so nothing reports
    assert!(state["load"]["error"].is_null(), "{state}");
    assert_eq!(state["load"]["hosts-reporting"], 0, "{state}");

    let page = http_get(&base, "/").await?;
    eprintln!("page: {} bytes (HTML with its style and script; budget {PAGE_BUDGET})", page.len());
    assert!(page.len() < PAGE_BUDGET, "the page is {} bytes", page.len());
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "the page loads an external asset");

    // A request can go unanswered when a wRPC message inside the lattice is lost under load
    // (PLATFORM-NOTES: the transport's router race); such a request is counted, not timed.
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    let mut component_ms = Vec::with_capacity(LATENCY_SAMPLES);
    let mut lost = 0;
    while latencies.len() < LATENCY_SAMPLES {
        let started = Instant::now();
        match dashboard::api_lattice(&base).await {
            Ok(state) => {
                latencies.push(started.elapsed());
                assert_eq!(state["hosts"].as_array().map(Vec::len), Some(host_ids.len()), "{state}");
                component_ms.extend(state["elapsed-ms"].as_u64());
            }
            Err(e) => {
                lost += 1;
                eprintln!("/api/lattice unanswered ({:.1?}): {e:#}", started.elapsed());
                assert!(lost <= 3, "{lost} of {} /api/lattice requests unanswered", latencies.len() + lost);
            }
        }
    }
    latencies.sort_unstable();
    component_ms.sort_unstable();
    eprintln!(
        "measured: GET /api/lattice ({} hosts; host's HTTP server → component → provider → hosts), {} requests: \
         p50 {:.1?}, p90 {:.1?}, max {:.1?}; inside the component p50 {} ms; unanswered {lost}",
        host_ids.len(),
        LATENCY_SAMPLES,
        percentile(&latencies, 50),
        percentile(&latencies, 90),
        latencies[latencies.len() - 1],
        component_ms.get(component_ms.len() / 2).copied().unwrap_or_default(),
    );

    // The browser.
    let mut browser = Browser::start(&chromium).await?;
    browser.open(&format!("{base}/?refresh=1000")).await?;
    let view = wait_page(&mut browser, "every host with what runs on it", |v| {
        host_ids.iter().all(|h| card_has(v, h, "components", COMPONENT_ID))
            && card_has(v, &host_ids[1], "components", SAMPLE_ID)
            && v["hosts"].as_array().map(Vec::len) == Some(host_ids.len())
    })
    .await?;
    assert_eq!(view["lattice"], lattice.lattice(), "{view}");
    assert_eq!(view["policy"], "read-only", "{view}");
    assert_eq!(view["errors"], "", "{view}");
    assert_eq!((view["load"]["reporting"].as_str(), view["load"]["error"].as_str()), (Some("0"), Some("")), "{view}");
    assert!(view["load"]["note"].as_str().is_some_and(|n| n.contains("otlp_listen")), "{view}");
    let providers: Vec<&str> = view["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|h| h["providers"].as_array().into_iter().flatten().filter_map(Value::as_str))
        .collect();
    assert!(providers.contains(&PROVIDER_ID) && providers.contains(&HTTP_SERVER_ID), "{view}");
    assert!(view["links"].as_u64().is_some_and(|n| n >= 2), "the page lists no links: {view}");
    eprintln!("page rendered in Chromium: {}", view["status"]);

    // A label put by someone else appears after a refresh.
    bounded("put_label", CALL_TIMEOUT, ctl.put_label(&host_ids[0], LABEL.0, LABEL.1)).await??;
    let label = format!("{}={}", LABEL.0, LABEL.1);
    let label_put = Instant::now();
    wait_page(&mut browser, "the label put through the control client", |v| {
        card_has(v, &host_ids[0], "labels", &label)
    })
    .await?;
    eprintln!("timing: label put → on the page {:.1?}", label_put.elapsed());
    // Only labels the provider may delete get a delete button: not the host's `hostcore.*`.
    let view = dom(&mut browser).await?;
    let card = host_card(&view, &host_ids[0]).context("no card for the first host")?;
    let deletable: Vec<&str> = card["deletable"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let keys: Vec<&str> =
        card["labels"].as_array().into_iter().flatten().filter_map(|l| l.as_str()?.split('=').next()).collect();
    let expected: Vec<&str> = keys.iter().copied().filter(|k| !k.starts_with("hostcore.")).collect();
    assert!(keys.iter().any(|k| k.starts_with("hostcore.")), "the host shows no hostcore labels: {view}");
    assert!(deletable.contains(&LABEL.0), "{view}");
    assert_eq!(deletable, expected, "labels with a delete button: {view}");

    // A refused action: scale the sample to 2 from the page, under `read-only`.
    let click = format!(
        r#"(function () {{
  var row = document.querySelector('.host[data-host-id="{host}"] .component[data-component-id="{SAMPLE_ID}"]');
  if (!row) return false;
  row.querySelector("input.instances").value = "2";
  row.querySelector("button.scale").click();
  return true;
}})()"#,
        host = host_ids[1]
    );
    assert_eq!(browser.eval(&click).await?, Value::Bool(true), "no scale button for the sample");
    let view = wait_page(&mut browser, "the refused scale", |v| {
        v["result"].as_str().is_some_and(|r| r.contains("not-permitted"))
    })
    .await?;
    eprintln!("page says: {}", view["result"]);
    let inventory = retry("get_host_inventory", CALL_RETRY, || ctl.get_host_inventory(&host_ids[1])).await?;
    let scaled = inventory.components.iter().find(|c| c.id == SAMPLE_ID).map(|c| c.max_instances);
    assert_eq!(scaled, Some(1), "a refused scale changed the sample");

    let shot = artifact_dir().join("dashboard.png");
    let size = browser.screenshot(&shot).await?;
    assert!(size > 1000, "the screenshot is {size} bytes");
    println!("screenshot: {} ({size} bytes)", shot.display());
    drop(browser);

    apps.undeploy(APP).await?;
    lattice_control_e2e::wadm::undeploy_shared_provider(&apps, &lattice, DEPLOY_TIMEOUT).await?;
    wadm.check_running()?;
    drop(wadm);
    lattice.shutdown().await?;
    Ok(())
}
