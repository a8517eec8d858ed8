//! A clean stop is quiet: the provider binary, given its host data on stdin as a host gives it
//! (real NATS, a link that subscribes to events, fresh xkeys), is sent the host's shutdown
//! request, answers it and exits by itself; its whole stderr holds its own shutdown line and no
//! ERROR line. Eight times over: the SDK's command loop used to pick a closed command channel
//! before its quit signal at random and log `failed to handle … shutdown` at ERROR
//! (`vendor/wasmcloud-provider-sdk-0.17.1/README.md`).
//!
//! A call still running at the stop is answered (an error) before the process exits.
//!
//! The process is started here rather than through a host because a 0.27.1 host kills a
//! provider (SIGKILL, `kill_on_drop`) right after it acknowledges the shutdown request, which
//! would cut off the very lines this test reads. Everything else is what a host does.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use base64::Engine as _;
use futures::StreamExt as _;
use lattice_control_e2e::caller::{lattice_control as lc, no_options, types, Caller};
use lattice_control_e2e::util::{bounded, retry, unique_name};
use lattice_control_e2e::{provider_bin, shared_nats, CALL_TIMEOUT};
use lattice_control_provider::provider::events::EVENTS_KEY;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const STOPS: usize = 8;
/// The provider's last line at a clean stop.
const SHUT_DOWN: &str = "lattice-control provider shut down";
/// Until the provider has subscribed to its shutdown subject and answers it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Host data as a host writes it for a provider `provider_id` with one linked component.
fn host_data(nats_url: &str, lattice: &str, host_id: &str, provider_id: &str) -> Result<String> {
    let link = serde_json::from_value(serde_json::json!({
        "source_id": "quiet",
        "target": provider_id,
        "name": "default",
        "wit_namespace": "wasmcloud",
        "wit_package": "lattice-control",
        "interfaces": ["lattice-control"],
        "target_config": { "lattice": lattice, EVENTS_KEY: "labels_changed" },
    }))?;
    let data = wasmcloud_core::HostData {
        host_id: host_id.to_string(),
        lattice_rpc_prefix: lattice.to_string(),
        link_name: "default".to_string(),
        lattice_rpc_url: nats_url.to_string(),
        provider_key: provider_id.to_string(),
        instance_id: unique_name("instance"),
        link_definitions: vec![link],
        host_xkey_public_key: nkeys::XKey::new().public_key(),
        provider_xkey_private_key: nkeys::XKey::new().seed()?,
        ..Default::default()
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&data)?) + "\n")
}

/// A provider process started as a host starts it, with its stderr being read.
struct Life {
    child: tokio::process::Child,
    reader: tokio::task::JoinHandle<std::io::Result<String>>,
    lattice: String,
    host_id: String,
    provider_id: String,
}

fn start(nats_url: &str, round: usize) -> Result<Life> {
    let lattice = unique_name("clean-stop");
    let host_id = nkeys::KeyPair::new_server().public_key();
    let provider_id = format!("clean-stop-{round}");
    let mut child = tokio::process::Command::new(provider_bin()?)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the provider binary")?;
    let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
    let data = host_data(nats_url, &lattice, &host_id, &provider_id)?;
    let mut stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let reader = tokio::spawn(async move {
        stdin.write_all(data.as_bytes()).await?;
        drop(stdin);
        let mut text = String::new();
        stderr.read_to_string(&mut text).await.map(|_| text)
    });
    Ok(Life { child, reader, lattice, host_id, provider_id })
}

/// Sends the host's shutdown request (`{"host_id": …}` on the provider's shutdown subject,
/// answered once the provider has shut down) until answered; waits for the exit; the stderr.
async fn stop(nats: &async_nats::Client, life: Life) -> Result<String> {
    let Life { mut child, reader, lattice, host_id, provider_id } = life;
    let subject = format!("wasmbus.rpc.{lattice}.{provider_id}.default.shutdown");
    let payload = serde_json::to_vec(&serde_json::json!({ "host_id": host_id }))?;
    let answered = bounded("the provider answering the shutdown request", ANSWER_TIMEOUT, async {
        loop {
            let request =
                async_nats::Request::new().payload(payload.clone().into()).timeout(Some(Duration::from_secs(2)));
            if nats.send_request(subject.clone(), request).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                return Err(anyhow!("the provider exited with {status} before it answered"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await?;
    let status = bounded("the provider exiting by itself", EXIT_TIMEOUT, child.wait()).await??;
    let text = bounded("reading the provider's stderr", EXIT_TIMEOUT, reader).await???;
    if let Err(e) = answered {
        bail!("{e}:\n{text}");
    }
    if !status.success() {
        bail!("the provider exited with {status} after a clean stop:\n{text}");
    }
    Ok(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_stop_logs_no_error() -> Result<()> {
    let server = shared_nats()?;
    let nats = server.connect().await?;
    for round in 1..=STOPS {
        let text = stop(&nats, start(&server.url(), round)?).await?;
        if !text.contains(SHUT_DOWN) {
            bail!("stop {round}: no `{SHUT_DOWN}` line in the provider's stderr:\n{text}");
        }
        let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
        if !errors.is_empty() {
            bail!("stop {round}: {} ERROR line(s) at a clean stop:\n{}", errors.len(), errors.join("\n"));
        }
    }
    Ok(())
}

/// A call still running when the provider is stopped (an auction that collects bids for 8 s)
/// is answered, with a `timeout` saying the replica stopped, before the provider exits: a
/// call cut off without an answer would leave its caller, a component, waiting for good (a
/// wRPC result has no bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_running_at_a_stop_is_answered() -> Result<()> {
    let server = shared_nats()?;
    let nats = server.connect().await?;
    let life = start(&server.url(), 0)?;
    let caller = Caller::new(nats.clone(), &life.lattice, &life.provider_id).await?.as_component("quiet", "default");
    retry("the provider answering calls", ANSWER_TIMEOUT, || async {
        let options = no_options();
        let info = bounded("provider-info", CALL_TIMEOUT, lc::provider_info(caller.wrpc(), caller.cx(), &options));
        info.await??.map(|_| ()).map_err(|e| anyhow!("{e:?}"))
    })
    .await?;
    let request = types::ComponentAuctionRequest {
        component_ref: "ghcr.io/acme/cut:0.1.0".into(),
        component_id: "cut".into(),
        constraints: vec![],
    };
    let options = types::QueryOptions { timeout_ms: Some(8_000) };
    // the call is in the provider's hands once its auction has gone out to the lattice
    let mut auctions = nats.subscribe(format!("wasmbus.ctl.v1.{}.component.auction", life.lattice)).await?;
    nats.flush().await?;
    let call = tokio::spawn({
        let caller = caller.clone();
        async move {
            // bounded well below the auction's own 8 s: only the stop can end it this soon
            bounded(
                "the auction running at the stop",
                Duration::from_secs(5),
                lc::perform_component_auction(caller.wrpc(), caller.cx(), &request, &options),
            )
            .await
        }
    });
    if bounded("the auction sent to the lattice", CALL_TIMEOUT, auctions.next()).await.is_err() {
        bail!("no auction seen; the call: {:?}", call.await?);
    }
    let text = stop(&nats, life).await?;
    let answer = call.await??;
    let err = match answer {
        Ok(Ok(acks)) => bail!("the auction ended normally ({} acks) though the provider stopped", acks.len()),
        Ok(Err(e)) => e,
        Err(e) => bail!("the call failed without an answer: {e:#}\n{text}"),
    };
    assert!(
        matches!(&err, types::CtlError::Timeout(m) if m.contains("stopped")),
        "a timeout saying the replica stopped: {err:?}"
    );
    Ok(())
}
