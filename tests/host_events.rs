//! Every event type a wasmCloud 1.9 host publishes, decoded from a payload captured from a
//! real host (`wasmcloud-host` 0.27.1; `tests/fixtures/host-events/`, written by
//! `e2e/src/bin/capture_events.rs`), in both WIT forms: 1.1.0 (every field the host sent)
//! and 1.0.0 (what components built against it always got).

use lattice_control_provider::bindings::v1_0::types as old;
use lattice_control_provider::bindings::wasmcloud::lattice_control::events::{
    self as ev, EventData as D,
};
use lattice_control_provider::convert::events::{lattice_event, v1_0};
use lattice_control_provider::ctl::LatticeEvent;
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/host-events");

/// The captured event `name` (a file stem) and its decoded `data`.
fn captured(name: &str) -> (LatticeEvent, Value) {
    let path = format!("{DIR}/{name}.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let event = LatticeEvent::from_slice(&bytes).expect("a captured event decodes");
    let data = event.data.clone();
    (event, data)
}

fn decoded(name: &str) -> (ev::LatticeEvent, Value, String) {
    let (event, data) = captured(name);
    let wit = lattice_event(&event, "capture");
    assert_eq!(
        wit.event_type,
        format!("com.wasmcloud.lattice.{}", event.short_type())
    );
    assert_eq!(
        (wit.id.as_str(), wit.source.as_str()),
        (event.id.as_str(), event.source.as_str())
    );
    assert!(wit.time.is_some(), "{name}: time");
    assert_eq!(wit.lattice, "capture");
    assert_eq!(
        serde_json::from_str::<Value>(&wit.raw).expect("raw is JSON"),
        data,
        "{name}: raw"
    );
    (wit, data, event.source)
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not text"))
        .to_string()
}

/// A JSON object as the sorted string pairs of a `string-map` (null values left out).
fn pairs(v: &Value) -> Vec<(String, String)> {
    let mut p: Vec<_> = v
        .as_object()
        .expect("an object")
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    p.sort();
    p
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().expect("an array").iter().map(text).collect()
}

#[test]
fn every_type_the_host_publishes_has_a_fixture_and_a_case() {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .expect("fixtures")
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        18,
        "17 types, linkdef_deleted twice: {names:?}"
    );
    for name in names {
        let (wit, _, _) = decoded(&name);
        assert!(!matches!(wit.data, D::Other), "{name} decoded as other");
        // and the 1.0.0 form never fails to build
        let _ = v1_0::lattice_event(&wit);
    }
}

#[test]
fn host_started_and_stopped() {
    let (wit, data, source) = decoded("host_started");
    let D::HostStarted(h) = wit.data else {
        panic!("{:?}", wit.data)
    };
    // host events carry no host_id: the CloudEvent source is the host
    assert_eq!(h.host_id, source);
    assert_eq!(h.friendly_name, Some(text(&data["friendly_name"])));
    assert_eq!(h.labels, Some(pairs(&data["labels"])));
    assert_eq!(
        (h.version.as_deref(), h.uptime_seconds),
        (Some("0.27.1"), Some(0))
    );

    let (wit, data, source) = decoded("host_stopped");
    let D::HostStopped(h) = wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(h.host_id, source);
    assert_eq!(h.labels, Some(pairs(&data["labels"])));
    assert!(h
        .labels
        .as_ref()
        .is_some_and(|l| l.contains(&("zone".into(), "capture".into()))));
    assert_eq!(
        (h.friendly_name, h.version, h.uptime_seconds),
        (None, None, None)
    );
}

#[test]
fn heartbeat_is_the_whole_inventory() {
    let (wit, data, source) = decoded("host_heartbeat");
    let D::HostHeartbeat(inv) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(inv.host_id, source);
    assert_eq!(inv.friendly_name, text(&data["friendly_name"]));
    assert_eq!(inv.labels, pairs(&data["labels"]));
    assert_eq!(inv.version, "0.27.1");
    assert_eq!(
        inv.uptime_seconds,
        data["uptime_seconds"].as_u64().expect("uptime")
    );
    assert_eq!(inv.uptime_human, text(&data["uptime_human"]));
    let [c] = inv.components.as_slice() else {
        panic!("{:?}", inv.components)
    };
    assert_eq!(
        (
            c.id.as_str(),
            c.name.as_deref(),
            c.revision,
            c.max_instances
        ),
        ("captured", Some("captured"), 3, 2)
    );
    assert_eq!(c.image_ref, text(&data["components"][0]["image_ref"]));
    assert_eq!(c.annotations, Some(vec![("team".into(), "capture".into())]));
    assert_eq!(c.limits, None);
    let [p] = inv.providers.as_slice() else {
        panic!("{:?}", inv.providers)
    };
    assert_eq!(
        (p.id.as_str(), p.name.as_deref(), p.revision),
        ("lattice-control", Some("lattice-control"), 0)
    );

    // 1.0.0: the host's id, name and labels
    let old::EventData::HostHeartbeat(h) = v1_0::lattice_event(&wit).data else {
        panic!()
    };
    assert_eq!(h.host_id, source);
    assert_eq!(h.friendly_name, Some(inv.friendly_name.clone()));
    assert_eq!(h.labels, Some(inv.labels.clone()));
}

#[test]
fn component_scaled_with_claims_and_scale_failed() {
    let (wit, data, _) = decoded("component_scaled");
    let D::ComponentScaled(c) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(c.host_id, text(&data["host_id"]));
    assert_eq!((c.component_id.as_str(), c.max_instances), ("captured", 2));
    assert_eq!(c.image_ref, text(&data["image_ref"]));
    assert_eq!(c.annotations, Some(vec![("team".into(), "capture".into())]));
    assert_eq!(c.public_key, Some(text(&data["public_key"])));
    assert!(
        c.public_key.as_ref().is_some_and(|k| k.starts_with('M')),
        "a module key"
    );
    let claims = c.claims.clone().expect("a signed component's claims");
    assert_eq!(claims, pairs(&data["claims"]));
    let claim = |k: &str| claims.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        (
            claim("name"),
            claim("version"),
            claim("revision"),
            claim("tags"),
            claim("call_alias")
        ),
        (
            Some("captured"),
            Some("0.3.0"),
            Some("3"),
            Some(r#"["e2e"]"#),
            Some("captured_alias")
        )
    );
    assert_eq!(c.error, None);
    // 1.0.0 had neither key nor claims
    let old::EventData::ComponentScaled(o) = v1_0::lattice_event(&wit).data else {
        panic!()
    };
    assert_eq!(
        (
            o.component_id.as_str(),
            o.max_instances,
            o.annotations.clone()
        ),
        ("captured", 2, c.annotations.clone())
    );

    let (wit, data, _) = decoded("component_scale_failed");
    let D::ComponentScaleFailed(c) = wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!((c.component_id.as_str(), c.max_instances), ("missing", 1));
    assert_eq!(c.image_ref, "file:///nonexistent/missing.wasm");
    assert_eq!(c.error, Some(text(&data["error"])));
    assert!(c.error.as_ref().is_some_and(|e| e.contains("No such file")));
    assert_eq!(
        (c.public_key, c.claims, c.annotations),
        (None, None, Some(vec![]))
    );
}

#[test]
fn provider_started_stopped_and_start_failed() {
    let (wit, data, _) = decoded("provider_started");
    let D::ProviderStarted(p) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(
        (p.provider_id.as_str(), p.host_id.clone()),
        ("lattice-control", text(&data["host_id"]))
    );
    assert_eq!(p.image_ref, Some(text(&data["image_ref"])));
    assert_eq!(p.annotations, Some(vec![]));
    let claims = p.claims.clone().expect("a PAR's claims");
    assert_eq!(claims, pairs(&data["claims"]));
    assert!(
        claims.contains(&("name".into(), "lattice-control".into())),
        "{claims:?}"
    );
    assert!(
        !claims.iter().any(|(k, _)| k == "tags"),
        "a null claim is left out: {claims:?}"
    );
    assert_eq!((p.reason.clone(), p.error.clone()), (None, None));

    let (wit, _, _) = decoded("provider_stopped");
    let D::ProviderStopped(p) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(
        (
            p.provider_id.as_str(),
            p.reason.as_deref(),
            p.error.as_deref()
        ),
        ("lattice-control", Some("stop"), None)
    );
    assert_eq!(p.image_ref, None);
    let old::EventData::ProviderStopped(o) = v1_0::lattice_event(&wit).data else {
        panic!()
    };
    assert_eq!(o.reason.as_deref(), Some("stop"));

    let (wit, data, _) = decoded("provider_start_failed");
    let D::ProviderStartFailed(p) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(p.provider_id, "missing-provider");
    // the reference is `provider_ref` in this event
    assert_eq!(
        p.image_ref.as_deref(),
        Some("file:///nonexistent/missing.par.gz")
    );
    assert_eq!(
        (p.error.clone(), p.reason.clone()),
        (Some(text(&data["error"])), None)
    );
    // 1.0.0 carried the error as the reason
    let old::EventData::ProviderStartFailed(o) = v1_0::lattice_event(&wit).data else {
        panic!()
    };
    assert_eq!(o.reason, p.error);
}

#[test]
fn health_checks() {
    for (name, pick) in [
        (
            "health_check_passed",
            (|d: &D| matches!(d, D::HealthCheckPassed(_))) as fn(&D) -> bool,
        ),
        ("health_check_failed", |d| {
            matches!(d, D::HealthCheckFailed(_))
        }),
        ("health_check_status", |d| {
            matches!(d, D::HealthCheckStatus(_))
        }),
    ] {
        let (wit, data, _) = decoded(name);
        assert!(pick(&wit.data), "{name}: {:?}", wit.data);
        let (D::HealthCheckPassed(h) | D::HealthCheckFailed(h) | D::HealthCheckStatus(h)) =
            &wit.data
        else {
            panic!()
        };
        assert_eq!(
            (h.host_id.clone(), h.provider_id.as_str()),
            (text(&data["host_id"]), "lattice-control")
        );
        // not typed in 1.0.0
        assert!(
            matches!(v1_0::lattice_event(&wit).data, old::EventData::Other),
            "{name}"
        );
    }
}

#[test]
fn links() {
    let (wit, data, _) = decoded("linkdef_set");
    let D::LinkSet(l) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(
        (l.source_id.as_str(), l.target.as_str(), l.name.as_str()),
        ("captured", "lattice-control", "default")
    );
    assert_eq!(
        (l.wit_namespace.as_str(), l.wit_package.as_str()),
        ("wasmcloud", "lattice-control")
    );
    assert_eq!(l.interfaces, strings(&data["interfaces"]));
    assert_eq!(
        (l.source_config.clone(), l.target_config.clone()),
        (vec![], vec!["capture-config".to_string()])
    );

    let (wit, data, _) = decoded("linkdef_set_failed");
    let D::LinkSetFailed(f) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(
        (f.link.source_id.as_str(), f.link.target.as_str()),
        ("other", "lattice-control")
    );
    assert_eq!(f.link.target_config, vec!["no-such-config".to_string()]);
    assert_eq!(f.error, text(&data["error"]));
    assert!(f.error.contains("no-such-config not found"), "{}", f.error);
    assert!(matches!(
        v1_0::lattice_event(&wit).data,
        old::EventData::Other
    ));

    let (wit, _, _) = decoded("linkdef_deleted");
    let D::LinkDeleted(d) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(
        (
            d.source_id.as_str(),
            d.name.as_str(),
            d.wit_package.as_str()
        ),
        ("captured", "default", "lattice-control")
    );
    assert_eq!(
        (d.target.as_deref(), d.interfaces.clone()),
        (
            Some("lattice-control"),
            Some(vec!["lattice-control".to_string()])
        )
    );
    let old::EventData::LinkDeleted(o) = v1_0::lattice_event(&wit).data else {
        panic!()
    };
    assert_eq!(
        (o.source_id.as_str(), o.wit_namespace.as_str()),
        ("captured", "wasmcloud")
    );

    let (wit, _, _) = decoded("linkdef_deleted-unknown");
    let D::LinkDeleted(d) = wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(
        (d.source_id.as_str(), d.target, d.interfaces),
        ("captured", None, None)
    );
}

#[test]
fn configs_and_labels() {
    for (name, want) in [("config_set", true), ("config_deleted", false)] {
        let (wit, _, _) = decoded(name);
        match (&wit.data, want) {
            (D::ConfigSet(n), true) | (D::ConfigDeleted(n), false) => {
                assert_eq!(n, "capture-config")
            }
            (other, _) => panic!("{name}: {other:?}"),
        }
    }
    let (wit, data, _) = decoded("labels_changed");
    let D::LabelsChanged(l) = &wit.data else {
        panic!("{:?}", wit.data)
    };
    assert_eq!(l.host_id, text(&data["host_id"]));
    assert_eq!(l.labels, pairs(&data["labels"]));
    assert!(l.labels.contains(&("zone".into(), "capture".into())));
    let old::EventData::LabelsChanged(o) = v1_0::lattice_event(&wit).data else {
        panic!()
    };
    assert_eq!(o.labels, l.labels);
}
