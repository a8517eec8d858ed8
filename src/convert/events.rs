//! Lattice events: a ctl [`LatticeEvent`] (CloudEvent) to the WIT `lattice-event`.
//!
//! Payload fields follow what wasmCloud 1.9 hosts publish (`wasmcloud-host` 0.27.1,
//! `src/wasmbus/event.rs`; the heartbeat is the host inventory). Every type the host publishes
//! has a case in 1.1.0 ([`lattice_event`]); [`v1_0`] gives the cut-down 1.0.0 form that
//! components built against 1.0.0 receive. Decoding is lenient: a missing or mistyped field
//! becomes its default, an unknown event type becomes `other`; the CloudEvent `data` always
//! travels as JSON text in `raw`.

use std::time::Duration;

use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::bindings::wasmcloud::lattice_control::{events as ev, load, types as wit};
use crate::ctl::{self, LatticeEvent};

/// The WIT form of `event`, published in `lattice`.
#[must_use]
pub fn lattice_event(event: &LatticeEvent, lattice: &str) -> ev::LatticeEvent {
    ev::LatticeEvent {
        event_type: event.ty.clone(),
        id: event.id.clone(),
        source: event.source.clone(),
        time: event.time.clone(),
        lattice: lattice.to_string(),
        data: event_data(event),
        raw: event.data.to_string(),
    }
}

/// Longest wait of a `*-and-wait` call: the host gives a provider 10 s to answer a call.
pub const MAX_WAIT_MS: u32 = 9_000;

/// The bound of a `*-and-wait` call: 1 to [`MAX_WAIT_MS`] ms, else `invalid-argument`.
pub fn wait_timeout(wait: &wit::WaitOptions) -> Result<Duration, wit::CtlError> {
    match wait.timeout_ms {
        0 => Err(wit::CtlError::InvalidArgument(
            "wait timeout-ms must be greater than zero".to_string(),
        )),
        ms if ms > MAX_WAIT_MS => Err(wit::CtlError::InvalidArgument(format!(
            "wait timeout-ms must be at most {MAX_WAIT_MS} (the host gives a provider call 10 s)"
        ))),
        ms => Ok(Duration::from_millis(u64::from(ms))),
    }
}

/// The typed payload of `event`, `other` for types a 1.9 host does not publish.
#[must_use]
pub fn event_data(event: &LatticeEvent) -> ev::EventData {
    use ev::EventData as D;
    let p = Payload::new(event);
    match event.short_type() {
        "host_started" => D::HostStarted(p.host()),
        "host_stopped" => D::HostStopped(p.host()),
        "host_heartbeat" => D::HostHeartbeat(p.inventory()),
        "component_scaled" => D::ComponentScaled(p.component_scale()),
        "component_scale_failed" => D::ComponentScaleFailed(p.component_scale()),
        "provider_started" => D::ProviderStarted(p.provider()),
        "provider_stopped" => D::ProviderStopped(p.provider()),
        "provider_start_failed" => D::ProviderStartFailed(p.provider()),
        "health_check_passed" => D::HealthCheckPassed(p.health_check()),
        "health_check_failed" => D::HealthCheckFailed(p.health_check()),
        "health_check_status" => D::HealthCheckStatus(p.health_check()),
        "linkdef_set" => D::LinkSet(p.link()),
        "linkdef_set_failed" => D::LinkSetFailed(ev::LinkSetFailedEvent {
            link: p.link(),
            error: p.text("error"),
        }),
        "linkdef_deleted" => D::LinkDeleted(p.link_deleted()),
        "config_set" => D::ConfigSet(p.text("config_name")),
        "config_deleted" => D::ConfigDeleted(p.text("config_name")),
        "labels_changed" => D::LabelsChanged(ev::LabelsEvent {
            host_id: p.host_id(),
            labels: p.map("labels").unwrap_or_default(),
        }),
        "component_load" => D::ComponentLoad(load_report(&event.data)),
        _ => D::Other,
    }
}

/// The 1.0.0 form of events, for components built against `wasmcloud:lattice-control@1.0.0`:
/// the 13 types it typed, each cut to its 1.0.0 fields; the others are `other`.
pub mod v1_0 {
    use super::ev;
    use crate::bindings::v1_0::types as old;

    /// `event` as 1.0.0 has it.
    #[must_use]
    pub fn lattice_event(event: &ev::LatticeEvent) -> old::LatticeEvent {
        old::LatticeEvent {
            event_type: event.event_type.clone(),
            id: event.id.clone(),
            source: event.source.clone(),
            time: event.time.clone(),
            lattice: event.lattice.clone(),
            data: event_data(&event.data),
            raw: event.raw.clone(),
        }
    }

    fn host(h: &ev::HostEvent) -> old::HostEvent {
        old::HostEvent {
            host_id: h.host_id.clone(),
            friendly_name: h.friendly_name.clone(),
            labels: h.labels.clone(),
        }
    }

    fn component(c: &ev::ComponentScaleEvent) -> old::ComponentScaleEvent {
        old::ComponentScaleEvent {
            host_id: c.host_id.clone(),
            component_id: c.component_id.clone(),
            image_ref: c.image_ref.clone(),
            max_instances: c.max_instances,
            annotations: c.annotations.clone(),
            error: c.error.clone(),
        }
    }

    fn provider(p: &ev::ProviderEvent) -> old::ProviderEvent {
        old::ProviderEvent {
            host_id: p.host_id.clone(),
            provider_id: p.provider_id.clone(),
            image_ref: p.image_ref.clone(),
            annotations: p.annotations.clone(),
            // 1.0.0 had one field for the stop reason and the start error
            reason: p.reason.clone().or_else(|| p.error.clone()),
        }
    }

    fn event_data(data: &ev::EventData) -> old::EventData {
        use ev::EventData as D;
        use old::EventData as O;
        match data {
            D::HostStarted(h) => O::HostStarted(host(h)),
            D::HostStopped(h) => O::HostStopped(host(h)),
            D::HostHeartbeat(inv) => O::HostHeartbeat(old::HostEvent {
                host_id: inv.host_id.clone(),
                friendly_name: Some(inv.friendly_name.clone()),
                labels: Some(inv.labels.clone()),
            }),
            D::ComponentScaled(c) => O::ComponentScaled(component(c)),
            D::ComponentScaleFailed(c) => O::ComponentScaleFailed(component(c)),
            D::ProviderStarted(p) => O::ProviderStarted(provider(p)),
            D::ProviderStopped(p) => O::ProviderStopped(provider(p)),
            D::ProviderStartFailed(p) => O::ProviderStartFailed(provider(p)),
            D::LinkSet(l) => O::LinkSet(old::EventLink {
                source_id: l.source_id.clone(),
                target: l.target.clone(),
                name: l.name.clone(),
                wit_namespace: l.wit_namespace.clone(),
                wit_package: l.wit_package.clone(),
                interfaces: l.interfaces.clone(),
                source_config: l.source_config.clone(),
                target_config: l.target_config.clone(),
            }),
            D::LinkDeleted(d) => O::LinkDeleted(old::EventDeleteLinkRequest {
                source_id: d.source_id.clone(),
                name: d.name.clone(),
                wit_namespace: d.wit_namespace.clone(),
                wit_package: d.wit_package.clone(),
            }),
            D::ConfigSet(n) => O::ConfigSet(n.clone()),
            D::ConfigDeleted(n) => O::ConfigDeleted(n.clone()),
            D::LabelsChanged(l) => O::LabelsChanged(old::LabelsEvent {
                host_id: l.host_id.clone(),
                labels: l.labels.clone(),
            }),
            D::HealthCheckPassed(_)
            | D::HealthCheckFailed(_)
            | D::HealthCheckStatus(_)
            | D::LinkSetFailed(_)
            | D::ComponentLoad(_)
            | D::Other => O::Other,
        }
    }
}

/// A load report (the provider's JSON form: the `component_load` event's `data`, and what
/// `get-component-load` answers) as WIT. Lenient: a missing or mistyped field is its default.
#[must_use]
pub fn load_report(data: &Value) -> load::LoadReport {
    let entries = |name: &str| -> Vec<load::ComponentLoad> {
        data.get(name)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(component_load).collect())
            .unwrap_or_default()
    };
    load::LoadReport {
        lattice: text(data, "lattice"),
        per_host: entries("per_host"),
        summed: entries("summed"),
        hosts_reporting: data
            .get("hosts_reporting")
            .and_then(Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
    }
}

fn text(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn component_load(v: &Value) -> load::ComponentLoad {
    let float = |name: &str| v.get(name).and_then(Value::as_f64);
    let unsigned = |name: &str| v.get(name).and_then(Value::as_u64).unwrap_or_default();
    load::ComponentLoad {
        component_id: text(v, "component_id"),
        image_ref: text(v, "image_ref"),
        host_id: text(v, "host_id"),
        invocations_per_second: float("invocations_per_second").unwrap_or_default(),
        errors_per_second: float("errors_per_second").unwrap_or_default(),
        active_instances: v
            .get("active_instances")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        max_instances: unsigned("max_instances"),
        saturation: float("saturation").unwrap_or_default(),
        duration_p50_ms: float("duration_p50_ms"),
        duration_p99_ms: float("duration_p99_ms"),
        window_ms: unsigned("window_ms"),
    }
}

/// The 1.1.0 form of events, for components built against `wasmcloud:lattice-control@1.1.0`:
/// every case but `component-load`, which 1.2.0 added (`None`: such a component is not sent
/// it). The records are 1.1.0's own types with the same fields.
pub mod v1_1 {
    use super::ev;
    use crate::bindings::v1_1::wasmcloud::lattice_control::events as old;

    /// Copies records whose fields 1.1.0 and 1.2.0 share, field by field.
    macro_rules! same_fields {
        ($($fn:ident: $ty:ident { $($field:ident),* };)*) => {
            $(
                fn $fn(r: &ev::$ty) -> old::$ty {
                    old::$ty { $($field: r.$field.clone()),* }
                }
            )*
        };
    }

    same_fields! {
        host: HostEvent { host_id, friendly_name, labels, version, uptime_seconds };
        component: ComponentScaleEvent { host_id, component_id, image_ref, max_instances, annotations, public_key, claims, error };
        provider: ProviderEvent { host_id, provider_id, image_ref, annotations, claims, reason, error };
        health: HealthCheckEvent { host_id, provider_id };
        link_set_failed: LinkSetFailedEvent { link, error };
        link_deleted: LinkDeletedEvent { source_id, name, wit_namespace, wit_package, target, interfaces };
        labels: LabelsEvent { host_id, labels };
    }

    /// `event` as 1.1.0 has it; `None` for a type 1.1.0 does not have.
    #[must_use]
    pub fn lattice_event(event: &ev::LatticeEvent) -> Option<old::LatticeEvent> {
        use ev::EventData as D;
        use old::EventData as O;
        let data = match &event.data {
            D::HostStarted(h) => O::HostStarted(host(h)),
            D::HostStopped(h) => O::HostStopped(host(h)),
            D::HostHeartbeat(inv) => O::HostHeartbeat(inv.clone()),
            D::ComponentScaled(c) => O::ComponentScaled(component(c)),
            D::ComponentScaleFailed(c) => O::ComponentScaleFailed(component(c)),
            D::ProviderStarted(p) => O::ProviderStarted(provider(p)),
            D::ProviderStopped(p) => O::ProviderStopped(provider(p)),
            D::ProviderStartFailed(p) => O::ProviderStartFailed(provider(p)),
            D::HealthCheckPassed(h) => O::HealthCheckPassed(health(h)),
            D::HealthCheckFailed(h) => O::HealthCheckFailed(health(h)),
            D::HealthCheckStatus(h) => O::HealthCheckStatus(health(h)),
            D::LinkSet(l) => O::LinkSet(l.clone()),
            D::LinkSetFailed(l) => O::LinkSetFailed(link_set_failed(l)),
            D::LinkDeleted(d) => O::LinkDeleted(link_deleted(d)),
            D::ConfigSet(n) => O::ConfigSet(n.clone()),
            D::ConfigDeleted(n) => O::ConfigDeleted(n.clone()),
            D::LabelsChanged(l) => O::LabelsChanged(labels(l)),
            D::ComponentLoad(_) => return None,
            D::Other => O::Other,
        };
        Some(old::LatticeEvent {
            event_type: event.event_type.clone(),
            id: event.id.clone(),
            source: event.source.clone(),
            time: event.time.clone(),
            lattice: event.lattice.clone(),
            data,
            raw: event.raw.clone(),
        })
    }
}

/// Lenient field access over an event's `data` object (anything else reads as empty).
struct Payload<'a> {
    data: &'a Value,
    source: &'a str,
}

impl<'a> Payload<'a> {
    fn new(event: &'a LatticeEvent) -> Self {
        Self {
            data: &event.data,
            source: &event.source,
        }
    }

    /// A field of the `data` object (none when `data` is no object).
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.data.get(name)
    }

    fn opt_text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Value::as_str).map(str::to_string)
    }

    fn text(&self, name: &str) -> String {
        self.opt_text(name).unwrap_or_default()
    }

    /// The payload's `host_id`, else the CloudEvent source (the publishing host): host
    /// lifecycle events carry no `host_id`, and an empty one names no host either.
    fn host_id(&self) -> String {
        or_source(self.opt_text("host_id").unwrap_or_default(), self.source)
    }

    /// A JSON object as string pairs, sorted by key; non-string values as JSON text, `null`
    /// values left out.
    fn map(&self, name: &str) -> Option<Vec<(String, String)>> {
        self.get(name).and_then(Value::as_object).map(object_pairs)
    }

    /// A JSON array of strings (other items skipped).
    fn list(&self, name: &str) -> Vec<String> {
        self.opt_list(name).unwrap_or_default()
    }

    fn opt_list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
    }

    /// A count, saturated to `u32` (negative or non-numeric reads as 0).
    fn count(&self, name: &str) -> u32 {
        self.get(name)
            .and_then(Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn host(&self) -> ev::HostEvent {
        ev::HostEvent {
            host_id: self.host_id(),
            friendly_name: self.opt_text("friendly_name"),
            labels: self.map("labels"),
            version: self.opt_text("version"),
            uptime_seconds: self.get("uptime_seconds").and_then(Value::as_u64),
        }
    }

    /// A heartbeat: the host inventory as `host.get` answers it (a malformed one reads as an
    /// empty inventory of the publishing host).
    fn inventory(&self) -> wit::HostInventory {
        let mut inv = ctl::HostInventory::deserialize(self.data).unwrap_or_default();
        inv.host_id = or_source(std::mem::take(&mut inv.host_id), self.source);
        inv.into()
    }

    fn component_scale(&self) -> ev::ComponentScaleEvent {
        ev::ComponentScaleEvent {
            host_id: self.host_id(),
            component_id: self.text("component_id"),
            image_ref: self.text("image_ref"),
            max_instances: self.count("max_instances"),
            annotations: self.map("annotations"),
            public_key: self.opt_text("public_key"),
            claims: self.map("claims"),
            error: self.opt_text("error"),
        }
    }

    fn provider(&self) -> ev::ProviderEvent {
        ev::ProviderEvent {
            host_id: self.host_id(),
            provider_id: self.text("provider_id"),
            // `provider_start_failed` names the reference `provider_ref`
            image_ref: self
                .opt_text("image_ref")
                .or_else(|| self.opt_text("provider_ref")),
            annotations: self.map("annotations"),
            claims: self.map("claims"),
            reason: self.opt_text("reason"),
            error: self.opt_text("error"),
        }
    }

    fn health_check(&self) -> ev::HealthCheckEvent {
        ev::HealthCheckEvent {
            host_id: self.host_id(),
            provider_id: self.text("provider_id"),
        }
    }

    fn link(&self) -> wit::Link {
        wit::Link {
            source_id: self.text("source_id"),
            target: self.text("target"),
            name: self.text("name"),
            wit_namespace: self.text("wit_namespace"),
            wit_package: self.text("wit_package"),
            interfaces: self.list("interfaces"),
            source_config: self.list("source_config"),
            target_config: self.list("target_config"),
        }
    }

    fn link_deleted(&self) -> ev::LinkDeletedEvent {
        ev::LinkDeletedEvent {
            source_id: self.text("source_id"),
            name: self.text("name"),
            wit_namespace: self.text("wit_namespace"),
            wit_package: self.text("wit_package"),
            target: self.opt_text("target"),
            interfaces: self.opt_list("interfaces"),
        }
    }
}

/// `host_id` unless it is empty, else the event's source.
fn or_source(host_id: String, source: &str) -> String {
    if host_id.is_empty() {
        source.to_string()
    } else {
        host_id
    }
}

fn object_pairs(obj: &Map<String, Value>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = obj
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k.clone(), v)
        })
        .collect();
    pairs.sort();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::v1_0::types as old;
    use ev::EventData as D;
    use serde_json::json;

    const HOST: &str = "NBZ3HOSTID";

    fn event(ty: &str, data: Value) -> LatticeEvent {
        LatticeEvent::from_value(json!({
            "specversion": "1.0",
            "id": "01936a7e-0000-7000-8000-000000000001",
            "type": format!("com.wasmcloud.lattice.{ty}"),
            "source": HOST,
            "datacontenttype": "application/json",
            "time": "2026-11-01T10:00:00.123456Z",
            "data": data,
        }))
        .unwrap()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn wait_timeout_bounds() {
        let w = |ms| wit::WaitOptions { timeout_ms: ms };
        assert_eq!(wait_timeout(&w(1500)), Ok(Duration::from_millis(1500)));
        assert_eq!(
            wait_timeout(&w(MAX_WAIT_MS)),
            Ok(Duration::from_millis(9000))
        );
        for bad in [0, MAX_WAIT_MS + 1, u32::MAX] {
            assert!(matches!(
                wait_timeout(&w(bad)),
                Err(wit::CtlError::InvalidArgument(_))
            ));
        }
    }

    #[test]
    fn envelope_fields_and_raw_data() {
        let data = json!({"config_name": "db"});
        let w = lattice_event(&event("config_set", data.clone()), "prod");
        assert_eq!(w.event_type, "com.wasmcloud.lattice.config_set");
        assert_eq!(w.id, "01936a7e-0000-7000-8000-000000000001");
        assert_eq!(w.source, HOST);
        assert_eq!(w.time.as_deref(), Some("2026-11-01T10:00:00.123456Z"));
        assert_eq!(w.lattice, "prod");
        assert!(matches!(w.data, D::ConfigSet(ref n) if n == "db"));
        assert_eq!(serde_json::from_str::<Value>(&w.raw).unwrap(), data);
    }

    #[test]
    fn host_events_take_host_id_from_source() {
        // host_started as the 1.9 host publishes it
        let started = json!({"friendly_name": "quiet-river-1234", "labels":
            {"hostcore.os": "linux", "zone": "a"}, "uptime_seconds": 0, "version": "1.9.0"});
        match event_data(&event("host_started", started)) {
            D::HostStarted(h) => {
                assert_eq!(h.host_id, HOST);
                assert_eq!(h.friendly_name.as_deref(), Some("quiet-river-1234"));
                assert_eq!(
                    h.labels,
                    Some(pairs(&[("hostcore.os", "linux"), ("zone", "a")]))
                );
            }
            d => panic!("{d:?}"),
        }
        match event_data(&event("host_stopped", json!({"labels": {}}))) {
            D::HostStopped(h) => {
                assert_eq!(h.host_id, HOST);
                assert_eq!(h.friendly_name, None);
                assert_eq!(h.labels, Some(vec![]));
            }
            d => panic!("{d:?}"),
        }
        // heartbeat = the host inventory
        let hb = json!({"components": [], "providers": [], "friendly_name": "f",
            "labels": {"a": "b"}, "host_id": "NOTHER", "version": "1.9.0",
            "uptime_human": "1m", "uptime_seconds": 60});
        match event_data(&event("host_heartbeat", hb)) {
            D::HostHeartbeat(h) => {
                assert_eq!(h.host_id, "NOTHER");
                assert_eq!((h.version.as_str(), h.uptime_seconds), ("1.9.0", 60));
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn component_scale_events() {
        let scaled = json!({"public_key": "MCOMP", "claims": {"issuer": "A"},
            "annotations": {"wasmcloud.dev/appspec": "app"}, "host_id": HOST,
            "image_ref": "file:///tmp/c.wasm", "max_instances": 3, "component_id": "echo"});
        match event_data(&event("component_scaled", scaled)) {
            D::ComponentScaled(c) => {
                assert_eq!(
                    (
                        c.host_id.as_str(),
                        c.component_id.as_str(),
                        c.image_ref.as_str()
                    ),
                    (HOST, "echo", "file:///tmp/c.wasm")
                );
                assert_eq!(c.max_instances, 3);
                assert_eq!(
                    c.annotations,
                    Some(pairs(&[("wasmcloud.dev/appspec", "app")]))
                );
                assert_eq!(c.error, None);
            }
            d => panic!("{d:?}"),
        }
        let failed = json!({"annotations": {}, "component_id": "echo", "host_id": HOST,
            "image_ref": "file:///missing.wasm", "max_instances": 1,
            "error": "failed to fetch component: No such file or directory (os error 2)"});
        match event_data(&event("component_scale_failed", failed)) {
            D::ComponentScaleFailed(c) => {
                assert_eq!(c.max_instances, 1);
                assert!(c.error.unwrap().contains("os error 2"));
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn provider_events() {
        let started = json!({"host_id": HOST, "image_ref": "file:///p.par.gz",
            "provider_id": "lc", "annotations": {}, "claims": {"issuer": "A"},
            "instance_id": "lc", "public_key": "lc", "link_name": "default"});
        match event_data(&event("provider_started", started)) {
            D::ProviderStarted(p) => {
                assert_eq!(p.provider_id, "lc");
                assert_eq!(p.image_ref.as_deref(), Some("file:///p.par.gz"));
                assert_eq!(p.reason, None);
            }
            d => panic!("{d:?}"),
        }
        let failed = json!({"provider_ref": "file:///nope.par.gz", "provider_id": "lc",
            "host_id": HOST, "error": "failed to read archive", "link_name": "default"});
        match event_data(&event("provider_start_failed", failed)) {
            D::ProviderStartFailed(p) => {
                assert_eq!(p.image_ref.as_deref(), Some("file:///nope.par.gz"));
                assert_eq!(p.error.as_deref(), Some("failed to read archive"));
                assert_eq!(p.reason, None);
                assert_eq!(p.annotations, None);
            }
            d => panic!("{d:?}"),
        }
        let stopped = json!({"host_id": HOST, "provider_id": "lc", "annotations": {"k": "v"},
            "reason": "stop", "instance_id": "lc", "public_key": "lc", "link_name": "default"});
        match event_data(&event("provider_stopped", stopped)) {
            D::ProviderStopped(p) => {
                assert_eq!(p.reason.as_deref(), Some("stop"));
                assert_eq!(p.annotations, Some(pairs(&[("k", "v")])));
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn link_config_and_label_events() {
        let set = json!({"source_id": "echo", "target": "lc", "name": "default",
            "wit_namespace": "wasmcloud", "wit_package": "lattice-control",
            "interfaces": ["lattice-control"], "source_config": [], "target_config": ["cfg"]});
        match event_data(&event("linkdef_set", set)) {
            D::LinkSet(l) => {
                assert_eq!((l.source_id.as_str(), l.target.as_str()), ("echo", "lc"));
                assert_eq!(l.interfaces, vec!["lattice-control".to_string()]);
                assert_eq!(l.target_config, vec!["cfg".to_string()]);
            }
            d => panic!("{d:?}"),
        }
        // a deleted link that did not exist has no target/interfaces
        let del = json!({"source_id": "echo", "name": "default",
            "wit_namespace": "wasmcloud", "wit_package": "lattice-control"});
        match event_data(&event("linkdef_deleted", del)) {
            D::LinkDeleted(d) => {
                assert_eq!(d.wit_package, "lattice-control");
                assert_eq!((d.target, d.interfaces), (None, None));
            }
            d => panic!("{d:?}"),
        }
        match event_data(&event("config_deleted", json!({"config_name": "db"}))) {
            D::ConfigDeleted(n) => assert_eq!(n, "db"),
            d => panic!("{d:?}"),
        }
        let labels = json!({"host_id": HOST, "labels": {"zone": "b", "hostcore.os": "linux"}});
        match event_data(&event("labels_changed", labels)) {
            D::LabelsChanged(l) => {
                assert_eq!(l.host_id, HOST);
                assert_eq!(l.labels, pairs(&[("hostcore.os", "linux"), ("zone", "b")]));
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn unknown_types_are_other_with_raw() {
        let data = json!({"host_id": HOST, "provider_id": "lc"});
        let w = lattice_event(&event("host_exploded", data.clone()), "l");
        assert!(matches!(w.data, D::Other));
        assert_eq!(serde_json::from_str::<Value>(&w.raw).unwrap(), data);
        assert!(matches!(
            v1_0::lattice_event(&w).data,
            old::EventData::Other
        ));
    }

    #[test]
    fn malformed_payloads_decode_to_defaults() {
        for data in [
            Value::Null,
            json!("text"),
            json!([1, 2]),
            json!({"component_id": 7, "max_instances": -1, "annotations": "x", "host_id": null}),
            json!({"host_id": ""}),
        ] {
            match event_data(&event("component_scaled", data)) {
                D::ComponentScaled(c) => {
                    assert_eq!(c.host_id, HOST);
                    assert_eq!(c.component_id, "");
                    assert_eq!(c.max_instances, 0);
                    assert_eq!(c.annotations, None);
                }
                d => panic!("{d:?}"),
            }
        }
        let big = json!({"max_instances": u64::MAX, "labels": {"n": 1, "b": true}});
        match event_data(&event("component_scaled", big.clone())) {
            D::ComponentScaled(c) => assert_eq!(c.max_instances, u32::MAX),
            d => panic!("{d:?}"),
        }
        match event_data(&event("host_started", big)) {
            D::HostStarted(h) => assert_eq!(h.labels, Some(pairs(&[("b", "true"), ("n", "1")]))),
            d => panic!("{d:?}"),
        }
        let w = lattice_event(
            &LatticeEvent::from_value(json!({"id": "1", "source": "s", "type": "t"})).unwrap(),
            "l",
        );
        assert_eq!(w.raw, "null");
        assert!(matches!(w.data, D::Other));
    }
}
