//! Lattice events: a ctl [`LatticeEvent`] (CloudEvent) to the WIT `lattice-event`.
//!
//! Payload fields follow what wasmCloud 1.9 hosts publish (`crates/host/src/event.rs`, the
//! heartbeat is the host inventory). Decoding is lenient: a missing or mistyped field becomes
//! its default, an unknown event type becomes `other`; the CloudEvent `data` always travels
//! as JSON text in `raw`.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::ctl::LatticeEvent;
use crate::provider::bindings::wasmcloud::lattice_control::types as wit;

/// The WIT form of `event`, published in `lattice`.
#[must_use]
pub fn lattice_event(event: &LatticeEvent, lattice: &str) -> wit::LatticeEvent {
    wit::LatticeEvent {
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

/// The typed payload of `event`, `other` for types without a case.
#[must_use]
pub fn event_data(event: &LatticeEvent) -> wit::EventData {
    use wit::EventData as D;
    let p = Payload::new(event);
    match event.short_type() {
        "host_started" => D::HostStarted(p.host()),
        "host_stopped" => D::HostStopped(p.host()),
        "host_heartbeat" => D::HostHeartbeat(p.host()),
        "component_scaled" => D::ComponentScaled(p.component_scale()),
        "component_scale_failed" => D::ComponentScaleFailed(p.component_scale()),
        "provider_started" => D::ProviderStarted(p.provider()),
        "provider_stopped" => D::ProviderStopped(p.provider()),
        "provider_start_failed" => D::ProviderStartFailed(p.provider()),
        "linkdef_set" => D::LinkSet(p.link()),
        "linkdef_deleted" => D::LinkDeleted(p.link_deleted()),
        "config_set" => D::ConfigSet(p.text("config_name")),
        "config_deleted" => D::ConfigDeleted(p.text("config_name")),
        "labels_changed" => D::LabelsChanged(wit::LabelsEvent {
            host_id: p.host_id(),
            labels: p.map("labels").unwrap_or_default(),
        }),
        _ => D::Other,
    }
}

/// Lenient field access over an event's `data` object (anything else reads as empty).
struct Payload<'a> {
    data: Option<&'a Map<String, Value>>,
    source: &'a str,
}

impl<'a> Payload<'a> {
    fn new(event: &'a LatticeEvent) -> Self {
        Self {
            data: event.data.as_object(),
            source: &event.source,
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.data.and_then(|d| d.get(name))
    }

    fn opt_text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Value::as_str).map(str::to_string)
    }

    fn text(&self, name: &str) -> String {
        self.opt_text(name).unwrap_or_default()
    }

    /// The payload's `host_id`, else the CloudEvent source (the publishing host): host
    /// lifecycle events carry no `host_id`.
    fn host_id(&self) -> String {
        self.opt_text("host_id")
            .unwrap_or_else(|| self.source.to_string())
    }

    /// A JSON object as string pairs, sorted by key; non-string values as JSON text.
    fn map(&self, name: &str) -> Option<Vec<(String, String)>> {
        let obj = self.get(name)?.as_object()?;
        let mut pairs: Vec<(String, String)> = obj
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), v)
            })
            .collect();
        pairs.sort();
        Some(pairs)
    }

    /// A JSON array of strings (other items skipped).
    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A count, saturated to `u32` (negative or non-numeric reads as 0).
    fn count(&self, name: &str) -> u32 {
        self.get(name)
            .and_then(Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn host(&self) -> wit::HostEvent {
        wit::HostEvent {
            host_id: self.host_id(),
            friendly_name: self.opt_text("friendly_name"),
            labels: self.map("labels"),
        }
    }

    fn component_scale(&self) -> wit::ComponentScaleEvent {
        wit::ComponentScaleEvent {
            host_id: self.host_id(),
            component_id: self.text("component_id"),
            image_ref: self.text("image_ref"),
            max_instances: self.count("max_instances"),
            annotations: self.map("annotations"),
            error: self.opt_text("error"),
        }
    }

    fn provider(&self) -> wit::ProviderEvent {
        wit::ProviderEvent {
            host_id: self.host_id(),
            provider_id: self.text("provider_id"),
            // `provider_start_failed` names the reference `provider_ref`
            image_ref: self
                .opt_text("image_ref")
                .or_else(|| self.opt_text("provider_ref")),
            annotations: self.map("annotations"),
            reason: self.opt_text("reason").or_else(|| self.opt_text("error")),
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

    fn link_deleted(&self) -> wit::DeleteLinkRequest {
        wit::DeleteLinkRequest {
            source_id: self.text("source_id"),
            name: self.text("name"),
            wit_namespace: self.text("wit_namespace"),
            wit_package: self.text("wit_package"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wit::EventData as D;

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
            D::HostHeartbeat(h) => assert_eq!(h.host_id, "NOTHER"),
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
                assert_eq!(p.reason.as_deref(), Some("failed to read archive"));
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
            D::LinkDeleted(d) => assert_eq!(d.wit_package, "lattice-control"),
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
        let w = lattice_event(&event("health_check_passed", data.clone()), "l");
        assert!(matches!(w.data, D::Other));
        assert_eq!(serde_json::from_str::<Value>(&w.raw).unwrap(), data);
        let w = lattice_event(&event("linkdef_set_failed", json!({})), "l");
        assert!(matches!(w.data, D::Other));
    }

    #[test]
    fn malformed_payloads_decode_to_defaults() {
        for data in [
            Value::Null,
            json!("text"),
            json!([1, 2]),
            json!({"component_id": 7, "max_instances": -1, "annotations": "x", "host_id": null}),
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
