//! Two versions of the package on a real host: a component built against
//! `wasmcloud:lattice-control@1.0.0` (bindings from the published WIT in `compat/wit-1.0.0`)
//! calls the provider and receives its events in the 1.0.0 form, beside one built against
//! 1.2.0, which receives every event type typed, with the fields the host put in it.

use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use lattice_control_e2e::caller::{events, lattice_control as lc, types, v1_0, Caller};
use lattice_control_e2e::stand_in::{self, evt, evt_v1_0};
use lattice_control_e2e::{
    bounded, noop_component_ref, provider_par, put_provider_link, put_provider_link_with, retry, shared_nats,
    start_provider, TestLattice, CALL_RETRY, CALL_TIMEOUT,
};
use lattice_control_provider::ctl;
use tokio::sync::mpsc;

const PROVIDER: &str = "lattice-control";
/// The events both stand-ins ask for.
const EVENTS: &str = "component_scaled,labels_changed,linkdef_set_failed,linkdef_deleted,health_check_passed,provider_stopped,host_heartbeat";

/// Waits (bounded) for the first event on `rx` that `pick` accepts; skips the others.
async fn wait_event<E, T>(
    rx: &mut mpsc::UnboundedReceiver<(E, Instant)>,
    what: &str,
    mut pick: impl FnMut(&E) -> Option<T>,
) -> Result<T> {
    bounded(what, Duration::from_secs(30), async {
        while let Some((e, _)) = rx.recv().await {
            if let Some(t) = pick(&e) {
                return Ok(t);
            }
        }
        Err(anyhow!("{what}: stand-in gone"))
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn components_of_both_versions_call_and_receive_events() -> Result<()> {
    let mut lattice = TestLattice::start(shared_nats()?, 0).await?;
    // a heartbeat every second instead of 30 s
    lattice.add_host_with(|c| c.heartbeat_interval = Some(Duration::from_secs(1))).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;

    let (mut current, _c) = stand_in::serve(lattice.nats(), lattice.lattice(), "current", Duration::ZERO).await?;
    let (mut old, _o) = stand_in::serve_v1_0(lattice.nats(), lattice.lattice(), "old", Duration::ZERO).await?;
    put_provider_link_with(&lattice, "current", PROVIDER, &[("events", EVENTS), ("allow", "all")]).await?;
    put_provider_link_with(&lattice, "old", PROVIDER, &[("events", EVENTS), ("allow", "all")]).await?;

    // both links subscribed: the next heartbeat reaches both (the provider learnt on the way
    // that "old" serves only lattice-events@1.0.0)
    let inventory = wait_event(&mut current, "a heartbeat, typed", |e: &evt::LatticeEvent| match &e.data {
        evt::EventData::HostHeartbeat(inv) => Some(inv.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(inventory.host_id, host, "heartbeat host id");
    assert!(inventory.providers.iter().any(|p| p.id == PROVIDER), "the heartbeat lists the provider: {inventory:?}");
    assert!(!inventory.version.is_empty() && inventory.labels.iter().any(|(k, _)| k == "hostcore.os"));
    let old_heartbeat = wait_event(&mut old, "a heartbeat, 1.0.0 form", |e: &evt_v1_0::LatticeEvent| match &e.data {
        evt_v1_0::EventData::HostHeartbeat(h) => Some(h.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(old_heartbeat.host_id, host);
    assert!(old_heartbeat.labels.is_some_and(|l| l.iter().any(|(k, _)| k == "hostcore.os")));

    // calls of a 1.0.0 component: same answers, its wait form answers the 1.0.0 event
    let callers = Caller::new(lattice.nats().clone(), lattice.lattice(), PROVIDER).await?;
    let as_old = callers.as_component("old", "default");
    let query = v1_0::types::HostQuery { expected: Some(1), full_wait: false, timeout_ms: None };
    let hosts = retry("get-hosts@1.0.0", CALL_RETRY, || async {
        v1_0::lattice_control::get_hosts(as_old.wrpc(), as_old.cx(), &query).await?.map_err(|e| anyhow!("{e:?}"))
    })
    .await?;
    assert_eq!(hosts.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec![host.as_str()]);
    let info = retry("provider-info@1.0.0", CALL_RETRY, || async {
        v1_0::lattice_control::provider_info(
            as_old.wrpc(),
            as_old.cx(),
            &v1_0::types::QueryOptions { timeout_ms: None },
        )
        .await?
        .map_err(|e| anyhow!("{e:?}"))
    })
    .await?;
    assert_eq!((info.source_id.as_str(), info.lattice.as_str()), ("old", lattice.lattice()));

    let noop = noop_component_ref()?;
    let old_scale = v1_0::types::ScaleComponentCommand {
        component_ref: noop.clone(),
        component_id: "by-old".into(),
        host_id: host.clone(),
        max_instances: 1,
        annotations: None,
        component_limits: None,
        config: vec![],
        allow_update: false,
    };
    let waited = bounded(
        "scale-component-and-wait@1.0.0",
        CALL_TIMEOUT,
        v1_0::lattice_control::scale_component_and_wait(
            as_old.wrpc(),
            as_old.cx(),
            &old_scale,
            &v1_0::types::WaitOptions { timeout_ms: 5000 },
        ),
    )
    .await??
    .map_err(|e| anyhow!("{e:?}"))?;
    match &waited.data {
        evt_like_old @ v1_0::types::EventData::ComponentScaled(c) => {
            assert_eq!(
                (c.component_id.as_str(), c.host_id.as_str(), c.max_instances),
                ("by-old", host.as_str(), 1),
                "{evt_like_old:?}"
            );
        }
        other => panic!("1.0.0 wait form answered {other:?}"),
    }

    // the same through 1.2.0
    let as_current = callers.as_component("current", "default");
    let scale = types::ScaleComponentCommand { component_id: "by-current".into(), ..into_current(&old_scale) };
    let waited = bounded(
        "scale-component-and-wait@1.2.0",
        CALL_TIMEOUT,
        lc::scale_component_and_wait(
            as_current.wrpc(),
            as_current.cx(),
            &scale,
            &types::WaitOptions { timeout_ms: 5000 },
        ),
    )
    .await??
    .map_err(|e| anyhow!("{e:?}"))?;
    match &waited.data {
        events::EventData::ComponentScaled(c) => {
            assert_eq!((c.component_id.as_str(), c.max_instances), ("by-current", 1));
            // an unsigned component: no key, no claims
            assert_eq!((c.public_key.as_deref(), c.claims.as_ref()), (None, None));
        }
        other => panic!("1.2.0 wait form answered {other:?}"),
    }
    // each handler got both scales, each in its own form
    for id in ["by-old", "by-current"] {
        wait_event(&mut current, id, |e: &evt::LatticeEvent| {
            matches!(&e.data, evt::EventData::ComponentScaled(c) if c.component_id == id).then_some(())
        })
        .await?;
        wait_event(&mut old, id, |e: &evt_v1_0::LatticeEvent| {
            matches!(&e.data, evt_v1_0::EventData::ComponentScaled(c) if c.component_id == id).then_some(())
        })
        .await?;
    }

    // a link the host refuses: typed in 1.2.0, `other` (with its raw JSON) in 1.0.0
    let refused = ctl::Link::builder()
        .source_id("nobody")
        .target(PROVIDER)
        .wit_namespace("wasmcloud")
        .wit_package("lattice-control")
        .interfaces(["lattice-control"])
        .target_config(["no-such-config"])
        .build()?;
    let answer = bounded("put a link naming a missing config", CALL_TIMEOUT, lattice.ctl().put_link(refused)).await?;
    ensure!(answer.is_err(), "the host accepted a link naming a missing config");
    let failed = wait_event(&mut current, "linkdef_set_failed", |e: &evt::LatticeEvent| match &e.data {
        evt::EventData::LinkSetFailed(f) => Some(f.clone()),
        _ => None,
    })
    .await?;
    assert_eq!((failed.link.source_id.as_str(), failed.link.target.as_str()), ("nobody", PROVIDER));
    assert_eq!(failed.link.target_config, vec!["no-such-config".to_string()]);
    assert!(failed.error.contains("no-such-config"), "{}", failed.error);
    let raw = wait_event(&mut old, "linkdef_set_failed as other", |e: &evt_v1_0::LatticeEvent| {
        (e.event_type.ends_with(".linkdef_set_failed") && matches!(e.data, evt_v1_0::EventData::Other))
            .then(|| e.raw.clone())
    })
    .await?;
    assert!(raw.contains("no-such-config"), "{raw}");

    // a deleted link that existed names its target and interfaces; deleted again, none (a
    // source that never had a link gets no event at all)
    put_provider_link(&lattice, "doomed", "default", PROVIDER, &[]).await?;
    for source in ["doomed", "doomed"] {
        let del = ctl::DeleteInterfaceLinkDefinitionRequest::builder()
            .source_id(source)
            .wit_namespace("wasmcloud")
            .wit_package("lattice-control")
            .build()?;
        bounded("delete_link", CALL_TIMEOUT, lattice.ctl().delete_link(del)).await??;
    }
    for (source, target, interfaces) in
        [("doomed", Some(PROVIDER.to_string()), Some(vec!["lattice-control".to_string()])), ("doomed", None, None)]
    {
        let deleted = wait_event(&mut current, source, |e: &evt::LatticeEvent| match &e.data {
            evt::EventData::LinkDeleted(d) if d.source_id == source => Some(d.clone()),
            _ => None,
        })
        .await?;
        assert_eq!((deleted.target, deleted.interfaces), (target, interfaces), "linkdef_deleted of {source}");
    }

    // health checks of a provider started now (a copy of the archive: a host cannot run two
    // providers from one cached file), then its stop
    let copy = provider_par()?.with_file_name("second.par.gz");
    std::fs::copy(provider_par()?, &copy)?;
    let start = ctl::StartProviderCommand::builder()
        .host_id(&host)
        .provider_id("second")
        .provider_ref(format!("file://{}", copy.display()))
        .build()?;
    bounded("start the second provider", CALL_TIMEOUT, lattice.ctl().start_provider(start)).await??;
    // the host checks 5 s after the start
    let passed = wait_event(&mut current, "health_check_passed", |e: &evt::LatticeEvent| match &e.data {
        evt::EventData::HealthCheckPassed(h) if h.provider_id == "second" => Some(h.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(passed.host_id, host);
    let stop = ctl::StopProviderCommand::builder().host_id(&host).provider_id("second").build()?;
    bounded("stop the second provider", CALL_TIMEOUT, lattice.ctl().stop_provider(stop)).await??;
    let stopped = wait_event(&mut current, "provider_stopped", |e: &evt::LatticeEvent| match &e.data {
        evt::EventData::ProviderStopped(p) if p.provider_id == "second" => Some(p.clone()),
        _ => None,
    })
    .await?;
    assert!(stopped.reason.is_some() && stopped.error.is_none(), "{stopped:?}");
    let old_stopped =
        wait_event(&mut old, "provider_stopped, 1.0.0 form", |e: &evt_v1_0::LatticeEvent| match &e.data {
            evt_v1_0::EventData::ProviderStopped(p) if p.provider_id == "second" => Some(p.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(old_stopped.reason, stopped.reason);
    let _ = std::fs::remove_file(copy);
    lattice.shutdown().await
}

/// The 1.2.0 form of a 1.0.0 scale command (the record did not change).
fn into_current(c: &v1_0::types::ScaleComponentCommand) -> types::ScaleComponentCommand {
    types::ScaleComponentCommand {
        component_ref: c.component_ref.clone(),
        component_id: c.component_id.clone(),
        host_id: c.host_id.clone(),
        max_instances: c.max_instances,
        annotations: c.annotations.clone(),
        component_limits: c.component_limits.clone(),
        config: c.config.clone(),
        allow_update: c.allow_update,
    }
}

/// A component built against 1.1.0 (the published release before component load): its calls
/// are answered at `…@1.1.0`, its wait form answers in 1.1.0's event form, and it receives its
/// events at `lattice-events@1.1.0`, every 1.1.0 type typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_component_built_against_1_1_0_calls_and_receives_events() -> Result<()> {
    use lattice_control_e2e::caller::v1_1;
    use lattice_control_e2e::stand_in::evt_v1_1;
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let (mut events, _serving) = stand_in::serve_v1_1(lattice.nats(), lattice.lattice(), "v11", Duration::ZERO).await?;
    put_provider_link_with(
        &lattice,
        "v11",
        PROVIDER,
        &[("events", "labels_changed,component_scaled"), ("allow", "all")],
    )
    .await?;
    let caller = Caller::new(lattice.nats().clone(), lattice.lattice(), PROVIDER).await?.as_component("v11", "default");

    let info = retry("provider-info@1.1.0", CALL_RETRY, || async {
        v1_1::lattice_control::provider_info(
            caller.wrpc(),
            caller.cx(),
            &v1_1::types::QueryOptions { timeout_ms: None },
        )
        .await?
        .map_err(|e| anyhow!("{e:?}"))
    })
    .await?;
    assert_eq!((info.source_id.as_str(), info.lattice.as_str()), ("v11", lattice.lattice()));
    // the 1.2.0 operation is listed (the grant is the link's), not callable at 1.1.0
    assert!(info.allowed_operations.iter().any(|o| o == "get-component-load"), "{info:?}");

    let scale = v1_1::types::ScaleComponentCommand {
        component_ref: noop_component_ref()?,
        component_id: "by-v11".into(),
        host_id: host.clone(),
        max_instances: 1,
        annotations: None,
        component_limits: None,
        config: vec![],
        allow_update: false,
    };
    let waited = bounded(
        "scale-component-and-wait@1.1.0",
        CALL_TIMEOUT,
        v1_1::lattice_control::scale_component_and_wait(
            caller.wrpc(),
            caller.cx(),
            &scale,
            &v1_1::types::WaitOptions { timeout_ms: 5000 },
        ),
    )
    .await??
    .map_err(|e| anyhow!("{e:?}"))?;
    match &waited.data {
        v1_1::events::EventData::ComponentScaled(c) => {
            assert_eq!((c.component_id.as_str(), c.host_id.as_str(), c.max_instances), ("by-v11", host.as_str(), 1));
        }
        other => panic!("1.1.0 wait form answered {other:?}"),
    }

    // events at lattice-events@1.1.0: the scale above, then a label
    let scaled = wait_event(&mut events, "component_scaled at 1.1.0", |e: &evt_v1_1::LatticeEvent| match &e.data {
        evt_v1_1::EventData::ComponentScaled(c) if c.component_id == "by-v11" => Some(c.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(scaled.host_id, host);
    bounded("put-label", CALL_TIMEOUT, lattice.ctl().put_label(&host, "v11", "yes")).await??;
    let labels = wait_event(&mut events, "labels_changed at 1.1.0", |e: &evt_v1_1::LatticeEvent| match &e.data {
        evt_v1_1::EventData::LabelsChanged(l) if l.labels.iter().any(|(k, _)| k == "v11") => Some(l.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(labels.host_id, host);
    lattice.shutdown().await
}
