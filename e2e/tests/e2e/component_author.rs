//! A component author's path, from an empty folder, as `docs/component-authors.md` tells it:
//!
//! 1. the WIT package of `wit/` built as a binary WIT package (`pack-par wit`) and pushed to a
//!    real OCI registry (Debian's `docker-registry`) with `pack-par push`;
//! 2. the page's `wkg` configuration (its `ghcr.io` swapped for the registry on loopback) given to
//!    `wasm-pkg-core`'s `fetch_dependencies` over `wasm-pkg-client`, which is what `wkg wit fetch`
//!    and wash 0.43 run: it writes `wit/deps/…/package.wit` for the page's `wit/world.wit`;
//! 3. the fetched package is `wit/` (printed the same) and the registry's blob is the pushed file;
//! 4. the page's `greeter.js` built with componentize-js against that folder, run on a real host
//!    linked to the provider: a `hello` label put on the host comes back as `hello-seen`.
//!
//! Needs `node`/`npm` and `docker-registry`: without them it says so and passes, except in CI.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use futures::TryStreamExt as _;
use lattice_control_e2e::js::{node_or_skip, JS_CONTROLLER};
use lattice_control_e2e::link::{events_link, put_config, put_provider_link};
use lattice_control_e2e::par::product_root;
use lattice_control_e2e::registry::{push, wit_package, Registry};
use lattice_control_e2e::util::{scratch_dir, wait_for};
use lattice_control_e2e::{bounded, shared_nats, start_provider, TestLattice, CALL_TIMEOUT};
use lattice_control_provider::ctl::ScaleComponentCommand;
use lattice_control_provider::provider::config::LATTICE;
use lattice_control_provider::provider::events::EVENTS_KEY;
use lattice_control_provider::provider::policy::KEY_ALLOW;

const PAGE: &str = "docs/component-authors.md";
/// Where the page says the package lives, below the registry.
const PREFIX: &str = "example/lattice-control/";
const COMPONENT_ID: &str = "greeter";
const PROVIDER_ID: &str = "lattice-control";
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// The host compiles the ~13 MB component before it runs.
const SCALE_TIMEOUT: Duration = Duration::from_secs(300);
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The fenced code block of `page` whose first line is `first_line`, without that line.
fn block(page: &str, first_line: &str) -> Result<String> {
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
            if body.first() == Some(&first_line) {
                return Ok(body[1..].join("\n") + "\n");
            }
        }
    }
    bail!("{PAGE} has no code block starting with `{first_line}`")
}

/// The WIT text of package `name` in the folder `dir` (its `deps/` included), as wkg prints it.
fn printed(dir: &Path, name: &str) -> Result<String> {
    let mut resolve = wit_parser::Resolve::default();
    resolve.push_dir(dir).with_context(|| format!("parsing {}", dir.display()))?;
    let (id, _) = resolve
        .packages
        .iter()
        .find(|(_, p)| p.name.to_string() == name)
        .ok_or_else(|| anyhow!("{} holds no package {name}", dir.display()))?;
    let mut printer = wit_component::WitPrinter::default();
    printer.print(&resolve, id, &[])?;
    Ok(printer.output.to_string())
}

/// The package's bytes as the registry serves them, through `wasm-pkg-client`.
async fn fetched_bytes(client: &wasm_pkg_client::Client, name: &str) -> Result<Vec<u8>> {
    let (package, version) = name.split_once('@').ok_or_else(|| anyhow!("{name} has no version"))?;
    let package: wasm_pkg_client::PackageRef = package.parse()?;
    let version: wasm_pkg_client::Version = version.parse()?;
    let release = client.get_release(&package, &version).await?;
    let chunks: Vec<bytes::Bytes> = client.stream_content(&package, &release).await?.try_collect().await?;
    Ok(chunks.concat())
}

/// `componentize-js` from the JS examples' own `node_modules` (installed by their build).
async fn componentize(folder: &Path) -> Result<PathBuf> {
    JS_CONTROLLER.build().await?;
    let tool = JS_CONTROLLER.dir().join("node_modules/.bin/componentize-js");
    let out = folder.join("greeter.wasm");
    let started = Instant::now();
    let status = bounded(
        "componentize-js greeter.js",
        BUILD_TIMEOUT,
        tokio::process::Command::new(&tool)
            .current_dir(folder)
            .args(["greeter.js", "--wit", "wit", "--world-name", "greeter"])
            .args(["--disable", "http", "--disable", "fetch-event", "-o", "greeter.wasm"])
            .kill_on_drop(true)
            .status(),
    )
    .await?
    .with_context(|| format!("running {}", tool.display()))?;
    if !status.success() {
        bail!("componentize-js failed: {status}");
    }
    eprintln!("timing: componentize greeter.js {:.1?}", started.elapsed());
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn from_an_empty_folder_to_a_component_that_manages_its_lattice() -> Result<()> {
    if !node_or_skip("component_author")? {
        return Ok(());
    }
    let Some(registry) = Registry::start("component_author")? else {
        return Ok(());
    };
    let page = std::fs::read_to_string(product_root().join(PAGE))?;

    // 1. Build and publish the package.
    let dir = scratch_dir()?.join("component-author");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let artifact = dir.join("lattice-control-wit.wasm");
    let name = wit_package(&artifact)?;
    let (bare, version) = name.split_once('@').ok_or_else(|| anyhow!("{name} has no version"))?;
    let repository = format!("{PREFIX}{}", bare.replace(':', "/"));
    let started = Instant::now();
    let digest = push(&artifact, &registry.reference(&repository, version))?;
    let size = std::fs::metadata(&artifact)?.len();
    eprintln!("timing: push {name} ({size} bytes) {:.2?} -> {digest}", started.elapsed());

    // 2. The author's folder and configuration, from the page.
    let folder = dir.join("greeter");
    std::fs::create_dir_all(folder.join("wit"))?;
    std::fs::write(folder.join("wit/world.wit"), block(&page, "// wit/world.wit")?)?;
    std::fs::write(folder.join("greeter.js"), block(&page, "// greeter.js")?)?;
    let toml = block(&page, "# ~/.config/wasm-pkg/config.toml")?.replace("ghcr.io", registry.addr())
        + &format!("\n[registry.\"{}\".oci]\nprotocol = \"http\"\n", registry.addr());
    let config = wasm_pkg_client::Config::from_toml(&toml).context("the page's wkg configuration")?;
    let client = wasm_pkg_client::Client::new(config);
    let cache = wasm_pkg_client::caching::FileCache::new(dir.join("cache")).await?;
    let caching = wasm_pkg_client::caching::CachingClient::new(Some(client.clone()), cache);
    let mut lock = wasm_pkg_core::lock::LockFile::new_with_path([], folder.join("wkg.lock")).await?;
    let started = Instant::now();
    bounded(
        "fetching the WIT dependencies",
        CALL_TIMEOUT * 4,
        wasm_pkg_core::wit::fetch_dependencies(
            &wasm_pkg_core::config::Config::default(),
            folder.join("wit"),
            &mut lock,
            caching,
            wasm_pkg_core::wit::OutputType::Wit,
        ),
    )
    .await??;
    eprintln!("timing: fetch the package (wkg wit fetch) {:.2?}", started.elapsed());
    let written = folder.join(format!("wit/deps/{}/package.wit", name.replace([':', '@'], "-")));
    assert!(written.is_file(), "wkg's layout: {} missing", written.display());

    // 3. What was fetched is `wit/`, and the registry serves the pushed bytes.
    assert_eq!(printed(&folder.join("wit"), &name)?, printed(&product_root().join("wit"), &name)?);
    assert_eq!(fetched_bytes(&client, &name).await?, std::fs::read(&artifact)?, "the registry's blob");

    // 4. The page's component, built and run against the provider.
    let wasm = componentize(&folder).await?;
    let decoded = wit_component::decode(&std::fs::read(&wasm)?)?;
    let imports: Vec<String> = match &decoded {
        wit_component::DecodedWasm::Component(resolve, world) => {
            resolve.worlds[*world].imports.keys().map(|k| resolve.name_world_key(k)).collect()
        }
        wit_component::DecodedWasm::WitPackage(..) => bail!("componentize-js wrote a WIT package"),
    };
    let import = format!("{bare}/lattice-control@{version}");
    assert!(imports.contains(&import), "{import} not among {imports:?}");

    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    let ctl = lattice.ctl().clone();
    start_provider(&lattice, 0, PROVIDER_ID, &[]).await?;
    let scale = ScaleComponentCommand::builder()
        .host_id(host.clone())
        .component_ref(format!("file://{}", wasm.display()))
        .component_id(COMPONENT_ID)
        .max_instances(1)
        .build()?;
    bounded("scale the greeter", CALL_TIMEOUT, ctl.scale_component(scale)).await??;
    wait_for("the greeter running", SCALE_TIMEOUT, || async {
        let inventory = ctl.get_host_inventory(&host).await?;
        Ok(inventory.components.iter().any(|c| c.id == COMPONENT_ID).then_some(()))
    })
    .await?;
    // The links the page describes: the import (allow put-label) and the events.
    let calls = "greeter-calls";
    put_config(&lattice, calls, &[(LATTICE, lattice.lattice()), (KEY_ALLOW, "put-label")]).await?;
    put_provider_link(&lattice, COMPONENT_ID, "default", PROVIDER_ID, &[calls]).await?;
    let events = "greeter-events";
    put_config(&lattice, events, &[(EVENTS_KEY, "labels_changed")]).await?;
    let outgoing = events_link(PROVIDER_ID, COMPONENT_ID, &[events])?;
    bounded("put the events link", CALL_TIMEOUT, ctl.put_link(outgoing)).await??;

    // The events link reaches the provider a few ms after the ack: put a new value until the
    // component answers one (each put is a `labels_changed`).
    let started = Instant::now();
    let mut round = 0u32;
    let seen = wait_for("hello-seen put by the component", EVENT_TIMEOUT, || {
        round += 1;
        let value = format!("world-{round}");
        let ctl = ctl.clone();
        let host = host.clone();
        async move {
            bounded("put the hello label", CALL_TIMEOUT, ctl.put_label(&host, "hello", &value)).await??;
            let poll = Instant::now();
            while poll.elapsed() < Duration::from_secs(3) {
                let labels = ctl.get_host_inventory(&host).await?.labels;
                if labels.get("hello-seen") == Some(&value) {
                    return Ok(Some(value));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(None)
        }
    })
    .await?;
    eprintln!("timing: label to the component's answer ({seen}) {:.1?}", started.elapsed());
    lattice.shutdown().await?;
    drop(registry);
    Ok(())
}
