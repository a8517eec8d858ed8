//! Component stand-ins that export `lattice-events`: each serves `handle-event` at
//! `{lattice}.{component_id}` as the host would for a component, records every call with
//! when it arrived, then takes `delay` to answer (a long delay makes a stuck handler).

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt as _;
use tokio::sync::mpsc;

use crate::util::{bounded, CALL_TIMEOUT};

/// Bindings of the `event-handler` world: what a component reacting to events exports.
pub mod handler_bindings {
    wit_bindgen_wrpc::generate!({ world: "event-handler", path: "../wit" });
}

/// The same world of `wasmcloud:lattice-control@1.0.0` as published: a component built
/// against 1.0.0.
#[allow(missing_docs, clippy::all)]
pub mod handler_bindings_v1_0 {
    wit_bindgen_wrpc::generate!({ world: "event-handler", path: "../compat/wit-1.0.0" });
}

/// The same world of `wasmcloud:lattice-control@1.1.0` as published.
#[allow(missing_docs, clippy::all)]
pub mod handler_bindings_v1_1 {
    wit_bindgen_wrpc::generate!({ world: "event-handler", path: "../compat/wit-1.1.0" });
}

pub use handler_bindings::wasmcloud::lattice_control::events as evt;
/// 1.0.0's event records (they were in its `types`).
pub use handler_bindings_v1_0::wasmcloud::lattice_control::types as evt_v1_0;
/// 1.1.0's events (every type but `component-load`).
pub use handler_bindings_v1_1::wasmcloud::lattice_control::events as evt_v1_1;

/// One `handle-event` call as the stand-in saw it: the event and when the call arrived.
pub type Received = (evt::LatticeEvent, Instant);
/// One `handle-event` call as a 1.1.0 stand-in saw it.
pub type ReceivedV1_1 = (evt_v1_1::LatticeEvent, Instant);
/// One `handle-event` call as a 1.0.0 stand-in saw it.
pub type ReceivedV1_0 = (evt_v1_0::LatticeEvent, Instant);

#[derive(Clone)]
struct StandIn<E> {
    tx: mpsc::UnboundedSender<(E, Instant)>,
    delay: Duration,
}

impl<E> StandIn<E> {
    async fn record(&self, event: E) -> anyhow::Result<Result<(), String>> {
        let _ = self.tx.send((event, Instant::now()));
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(Ok(()))
    }
}

impl handler_bindings::exports::wasmcloud::lattice_control::lattice_events::Handler<Option<async_nats::HeaderMap>>
    for StandIn<evt::LatticeEvent>
{
    async fn handle_event(
        &self,
        _cx: Option<async_nats::HeaderMap>,
        event: evt::LatticeEvent,
    ) -> anyhow::Result<Result<(), String>> {
        self.record(event).await
    }
}

impl handler_bindings_v1_0::exports::wasmcloud::lattice_control::lattice_events::Handler<Option<async_nats::HeaderMap>>
    for StandIn<evt_v1_0::LatticeEvent>
{
    async fn handle_event(
        &self,
        _cx: Option<async_nats::HeaderMap>,
        event: evt_v1_0::LatticeEvent,
    ) -> anyhow::Result<Result<(), String>> {
        self.record(event).await
    }
}

impl handler_bindings_v1_1::exports::wasmcloud::lattice_control::lattice_events::Handler<Option<async_nats::HeaderMap>>
    for StandIn<evt_v1_1::LatticeEvent>
{
    async fn handle_event(
        &self,
        _cx: Option<async_nats::HeaderMap>,
        event: evt_v1_1::LatticeEvent,
    ) -> anyhow::Result<Result<(), String>> {
        self.record(event).await
    }
}

/// Keeps a stand-in serving; it stops when this is dropped.
pub struct Serving {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Serves a stand-in for `component_id` in `lattice` on `nats` (bounded set-up); its calls
/// arrive on the receiver.
pub async fn serve(
    nats: &async_nats::Client,
    lattice: &str,
    component_id: &str,
    delay: Duration,
) -> Result<(mpsc::UnboundedReceiver<Received>, Serving)> {
    let wrpc = stand_in_client(nats, lattice, component_id).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let invocations =
        bounded("serving handle-event", CALL_TIMEOUT, handler_bindings::serve(&wrpc, StandIn { tx, delay })).await??;
    Ok((rx, spawn_serving(wrpc, invocations)))
}

/// [`serve`] for a component built against `wasmcloud:lattice-control@1.0.0` (it exports
/// `lattice-events@1.0.0` only).
pub async fn serve_v1_0(
    nats: &async_nats::Client,
    lattice: &str,
    component_id: &str,
    delay: Duration,
) -> Result<(mpsc::UnboundedReceiver<ReceivedV1_0>, Serving)> {
    let wrpc = stand_in_client(nats, lattice, component_id).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let invocations =
        bounded("serving handle-event@1.0.0", CALL_TIMEOUT, handler_bindings_v1_0::serve(&wrpc, StandIn { tx, delay }))
            .await??;
    Ok((rx, spawn_serving(wrpc, invocations)))
}

/// [`serve`] for a component built against `wasmcloud:lattice-control@1.1.0`.
pub async fn serve_v1_1(
    nats: &async_nats::Client,
    lattice: &str,
    component_id: &str,
    delay: Duration,
) -> Result<(mpsc::UnboundedReceiver<ReceivedV1_1>, Serving)> {
    let wrpc = stand_in_client(nats, lattice, component_id).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let invocations =
        bounded("serving handle-event@1.1.0", CALL_TIMEOUT, handler_bindings_v1_1::serve(&wrpc, StandIn { tx, delay }))
            .await??;
    Ok((rx, spawn_serving(wrpc, invocations)))
}

async fn stand_in_client(
    nats: &async_nats::Client,
    lattice: &str,
    component_id: &str,
) -> Result<wrpc_transport_nats::Client> {
    bounded(
        "stand-in wRPC client",
        CALL_TIMEOUT,
        wrpc_transport_nats::Client::new(nats.clone(), format!("{lattice}.{component_id}"), None),
    )
    .await?
}

/// One task per served function, each taking its invocations until the [`Serving`] drops.
fn spawn_serving<S, T>(wrpc: wrpc_transport_nats::Client, invocations: Vec<(&'static str, &'static str, S)>) -> Serving
where
    S: futures::Stream<Item = anyhow::Result<T>> + Send + Unpin + 'static,
    T: std::future::Future + Send + 'static,
    T::Output: Send + 'static,
{
    let mut tasks = Vec::new();
    for (_, _, mut calls) in invocations {
        let keep = wrpc.clone();
        tasks.push(tokio::spawn(async move {
            let _keep = keep;
            while let Some(call) = calls.next().await {
                if let Ok(call) = call {
                    tokio::spawn(call);
                }
            }
        }));
    }
    Serving { tasks }
}

/// Everything received so far, without waiting.
pub fn drain(rx: &mut mpsc::UnboundedReceiver<Received>) -> Vec<Received> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

/// A lattice event as the host publishes it (a CloudEvent on `wasmbus.evt.{lattice}.{ty}`),
/// with `id` and JSON `data` of the caller's choosing (not flushed: the caller flushes).
pub async fn publish_event(
    nats: &async_nats::Client,
    lattice: &str,
    ty: &str,
    id: impl Into<String>,
    data: serde_json::Value,
) -> Result<()> {
    let body = serde_json::to_vec(&serde_json::json!({
        "specversion": "1.0", "id": id.into(), "source": "lattice-control-e2e",
        "type": format!("com.wasmcloud.lattice.{ty}"), "datacontenttype": "application/json",
        "data": data,
    }))?;
    nats.publish(format!("wasmbus.evt.{lattice}.{ty}"), body.into()).await?;
    Ok(())
}
