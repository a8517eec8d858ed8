//! Wire compatibility of `lattice_control_provider::ctl` types with the upstream
//! `wasmcloud-control-interface` 3.0.1 types (the oracle): JSON round trips both ways,
//! populated and empty, compared as `serde_json::Value`, plus decoding of partial and
//! legacy JSON (defaults, aliases, renames) with the same outcome on both sides.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use lattice_control_provider::ctl as ours;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use wasmcloud_control_interface as up;

/// ours → JSON → upstream → JSON → ours: equal JSON both times and an equal value back.
fn ours_to_upstream<O, U>(value: &O) -> Value
where
    O: Serialize + DeserializeOwned + PartialEq + Debug,
    U: Serialize + DeserializeOwned,
{
    let j1 = serde_json::to_value(value).unwrap();
    let u: U = serde_json::from_value(j1.clone())
        .unwrap_or_else(|e| panic!("upstream cannot decode ours {j1}: {e}"));
    let j2 = serde_json::to_value(&u).unwrap();
    assert_eq!(j1, j2, "upstream re-encodes ours differently");
    let back: O = serde_json::from_value(j2).unwrap();
    assert_eq!(&back, value);
    j1
}

/// upstream → JSON → ours → JSON → upstream: equal JSON both times.
fn upstream_to_ours<U, O>(value: &U) -> Value
where
    U: Serialize + DeserializeOwned,
    O: Serialize + DeserializeOwned,
{
    let j1 = serde_json::to_value(value).unwrap();
    let o: O = serde_json::from_value(j1.clone())
        .unwrap_or_else(|e| panic!("ours cannot decode upstream {j1}: {e}"));
    let j2 = serde_json::to_value(&o).unwrap();
    assert_eq!(j1, j2, "ours re-encodes upstream differently");
    let u2: U = serde_json::from_value(j2).unwrap();
    assert_eq!(serde_json::to_value(&u2).unwrap(), j1);
    j1
}

/// Both directions for a populated pair and for the empty (default) pair; the JSON of the
/// populated pair must be the same from both sides.
fn both_ways<O, U>(ours_full: O, up_full: U)
where
    O: Serialize + DeserializeOwned + PartialEq + Debug + Default,
    U: Serialize + DeserializeOwned + Default,
{
    let a = ours_to_upstream::<O, U>(&ours_full);
    let b = upstream_to_ours::<U, O>(&up_full);
    assert_eq!(a, b, "populated values differ between ours and upstream");
    let a = ours_to_upstream::<O, U>(&O::default());
    let b = upstream_to_ours::<U, O>(&U::default());
    assert_eq!(a, b, "default values differ between ours and upstream");
}

/// The same JSON decodes on both sides (to the same re-encoded JSON), or fails on both.
fn same_decode<O, U>(input: Value)
where
    O: Serialize + DeserializeOwned,
    U: Serialize + DeserializeOwned,
{
    let o = serde_json::from_value::<O>(input.clone()).map(|v| serde_json::to_value(v).unwrap());
    let u = serde_json::from_value::<U>(input.clone()).map(|v| serde_json::to_value(v).unwrap());
    match (o, u) {
        (Ok(o), Ok(u)) => assert_eq!(o, u, "decoded differently: {input}"),
        (Err(_), Err(_)) => {}
        (o, u) => panic!("outcome differs for {input}: ours {o:?}, upstream {u:?}"),
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (s(k), s(v))).collect()
}

fn hmap(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (s(k), s(v))).collect()
}

fn ours_component() -> ours::ComponentDescription {
    ours::ComponentDescription {
        id: s("http-hello"),
        image_ref: s("ghcr.io/x/hello:0.1.0"),
        name: Some(s("Hello")),
        annotations: Some(map(&[("wasmcloud.dev/appspec", "app")])),
        revision: 3,
        max_instances: 7,
        limits: Some(hmap(&[("maxLinearMemory", "1024")])),
    }
}

fn up_component() -> up::ComponentDescription {
    up::ComponentDescription::builder()
        .id(s("http-hello"))
        .image_ref(s("ghcr.io/x/hello:0.1.0"))
        .name(s("Hello"))
        .annotations(map(&[("wasmcloud.dev/appspec", "app")]))
        .revision(3)
        .max_instances(7)
        .limits(Some(hmap(&[("maxLinearMemory", "1024")])))
        .build()
        .unwrap()
}

fn ours_provider() -> ours::ProviderDescription {
    ours::ProviderDescription {
        id: s("lattice-control"),
        image_ref: Some(s("file:///tmp/p.par.gz")),
        name: Some(s("Lattice control")),
        revision: 1,
        annotations: Some(map(&[("a", "b")])),
    }
}

fn up_provider() -> up::ProviderDescription {
    up::ProviderDescription::builder()
        .id("lattice-control")
        .image_ref("file:///tmp/p.par.gz")
        .name("Lattice control")
        .revision(1)
        .annotations(map(&[("a", "b")]))
        .build()
        .unwrap()
}

fn ours_host() -> ours::Host {
    ours::Host {
        rpc_host: Some(s("nats://127.0.0.1:4222")),
        ctl_host: Some(s("nats://127.0.0.1:4223")),
        friendly_name: s("misty-sun-1234"),
        id: s("NHOSTID"),
        js_domain: Some(s("core")),
        labels: map(&[("hostcore.os", "linux"), ("zone", "a")]),
        lattice: s("lat"),
        uptime_human: Some(s("1m 2s")),
        uptime_seconds: 62,
        version: Some(s("1.9.0")),
    }
}

fn up_host() -> up::Host {
    up::Host::builder()
        .rpc_host(s("nats://127.0.0.1:4222"))
        .ctl_host(s("nats://127.0.0.1:4223"))
        .friendly_name(s("misty-sun-1234"))
        .id(s("NHOSTID"))
        .js_domain(s("core"))
        .labels(map(&[("hostcore.os", "linux"), ("zone", "a")]))
        .lattice(s("lat"))
        .uptime_human(s("1m 2s"))
        .uptime_seconds(62)
        .version(s("1.9.0"))
        .build()
        .unwrap()
}

fn ours_inventory() -> ours::HostInventory {
    ours::HostInventory {
        components: vec![ours_component(), ours::ComponentDescription::default()],
        providers: vec![ours_provider()],
        host_id: s("NHOSTID"),
        friendly_name: s("misty-sun-1234"),
        labels: map(&[("zone", "a")]),
        version: s("1.9.0"),
        uptime_human: s("5s"),
        uptime_seconds: 5,
    }
}

fn up_inventory() -> up::HostInventory {
    up::HostInventory::builder()
        .components(vec![up_component(), up::ComponentDescription::default()])
        .providers(vec![up_provider()])
        .host_id(s("NHOSTID"))
        .friendly_name(s("misty-sun-1234"))
        .labels(map(&[("zone", "a")]))
        .version(s("1.9.0"))
        .uptime_human(s("5s"))
        .uptime_seconds(5)
        .build()
        .unwrap()
}

fn ours_link() -> ours::Link {
    ours::Link {
        source_id: s("controller"),
        target: s("lattice-control"),
        name: s("admin"),
        wit_namespace: s("wasmcloud"),
        wit_package: s("lattice-control"),
        interfaces: vec![s("lattice-control")],
        source_config: vec![s("src-cfg")],
        target_config: vec![s("t1"), s("t2")],
    }
}

fn up_link() -> up::Link {
    up::Link::builder()
        .source_id("controller")
        .target("lattice-control")
        .name("admin")
        .wit_namespace("wasmcloud")
        .wit_package("lattice-control")
        .interfaces(vec![s("lattice-control")])
        .source_config(vec![s("src-cfg")])
        .target_config(vec![s("t1"), s("t2")])
        .build()
        .unwrap()
}

#[test]
fn host() {
    both_ways(ours_host(), up_host());
    // optional fields absent when None
    let j = serde_json::to_value(ours::Host::default()).unwrap();
    assert!(j.get("rpc_host").is_none() && j.get("version").is_none());
}

#[test]
fn host_inventory() {
    both_ways(ours_inventory(), up_inventory());
}

#[test]
fn host_label_and_identifier() {
    both_ways(
        ours::HostLabel {
            key: s("zone"),
            value: s("a"),
        },
        up::HostLabel::from_kv("zone", "a"),
    );
    both_ways(
        ours::HostLabelIdentifier { key: s("zone") },
        up::HostLabelIdentifier::from_key("zone"),
    );
}

#[test]
fn component_description() {
    both_ways(ours_component(), up_component());
    // `limits` is written as null when absent, like upstream
    let j = serde_json::to_value(ours::ComponentDescription::default()).unwrap();
    assert_eq!(j["limits"], Value::Null);
    assert!(j.as_object().unwrap().contains_key("limits"));
}

#[test]
fn component_instance() {
    both_ways(
        ours::ComponentInstance {
            annotations: Some(map(&[("a", "b")])),
            image_ref: s("ref"),
            instance_id: s("iid"),
            revision: 2,
            max_instances: 4,
        },
        up::ComponentInstance::builder()
            .annotations(map(&[("a", "b")]))
            .image_ref(s("ref"))
            .instance_id(s("iid"))
            .revision(2)
            .max_instances(4)
            .build()
            .unwrap(),
    );
}

#[test]
fn provider_description() {
    both_ways(ours_provider(), up_provider());
}

#[test]
fn link() {
    both_ways(ours_link(), up_link());
}

#[test]
fn component_auction_request_and_ack() {
    both_ways(
        ours::ComponentAuctionRequest {
            component_ref: s("ref"),
            component_id: s("cid"),
            constraints: map(&[("zone", "a")]),
        },
        up::ComponentAuctionRequest::builder()
            .component_ref(s("ref"))
            .component_id(s("cid"))
            .constraints(map(&[("zone", "a")]))
            .build()
            .unwrap(),
    );
    both_ways(
        ours::ComponentAuctionAck {
            component_ref: s("ref"),
            component_id: s("cid"),
            host_id: s("NH"),
            constraints: map(&[("zone", "a")]),
        },
        up::ComponentAuctionAck::builder()
            .component_ref(s("ref"))
            .component_id(s("cid"))
            .host_id(s("NH"))
            .constraints(map(&[("zone", "a")]))
            .build()
            .unwrap(),
    );
}

#[test]
fn provider_auction_request_and_ack() {
    both_ways(
        ours::ProviderAuctionRequest {
            provider_ref: s("ref"),
            provider_id: s("pid"),
            constraints: map(&[("zone", "a")]),
        },
        up::ProviderAuctionRequest::builder()
            .provider_ref(s("ref"))
            .provider_id(s("pid"))
            .constraints(map(&[("zone", "a")]))
            .build()
            .unwrap(),
    );
    both_ways(
        ours::ProviderAuctionAck {
            host_id: s("NH"),
            provider_ref: s("ref"),
            provider_id: s("pid"),
            constraints: map(&[("zone", "a")]),
        },
        up::ProviderAuctionAck::builder()
            .host_id(s("NH"))
            .provider_ref(s("ref"))
            .provider_id(s("pid"))
            .constraints(map(&[("zone", "a")]))
            .build()
            .unwrap(),
    );
}

#[test]
fn scale_component_command() {
    let ours_cmd = ours::ScaleComponentCommand::builder()
        .host_id("NH")
        .component_ref("file:///c.wasm")
        .component_id("cid")
        .max_instances(5)
        .annotations(map(&[("a", "b")]))
        .component_limits(hmap(&[("maxLinearMemory", "64")]))
        .config(["c1", "c2"])
        .allow_update(true)
        .build()
        .unwrap();
    let up_cmd = up::ScaleComponentCommand::builder()
        .host_id("NH")
        .component_ref("file:///c.wasm")
        .component_id("cid")
        .max_instances(5)
        .annotations(map(&[("a", "b")]))
        .component_limits(Some(hmap(&[("maxLinearMemory", "64")])))
        .config(vec![s("c1"), s("c2")])
        .allow_update(true)
        .build()
        .unwrap();
    both_ways(ours_cmd, up_cmd);
}

#[test]
fn update_component_command() {
    both_ways(
        ours::UpdateComponentCommand::builder()
            .host_id("NH")
            .component_id("cid")
            .new_component_ref("ref2")
            .annotations(map(&[("a", "b")]))
            .build()
            .unwrap(),
        up::UpdateComponentCommand::builder()
            .host_id("NH")
            .component_id("cid")
            .new_component_ref("ref2")
            .annotations(map(&[("a", "b")]))
            .build()
            .unwrap(),
    );
}

#[test]
fn start_provider_command() {
    both_ways(
        ours::StartProviderCommand::builder()
            .host_id("NH")
            .provider_ref("file:///p.par.gz")
            .provider_id("pid")
            .config(["c1"])
            .annotations(map(&[("a", "b")]))
            .build()
            .unwrap(),
        up::StartProviderCommand::builder()
            .host_id("NH")
            .provider_ref("file:///p.par.gz")
            .provider_id("pid")
            .config(vec![s("c1")])
            .annotations(map(&[("a", "b")]))
            .build()
            .unwrap(),
    );
}

#[test]
fn stop_provider_command() {
    both_ways(
        ours::StopProviderCommand::builder()
            .host_id("NH")
            .provider_id("pid")
            .build()
            .unwrap(),
        up::StopProviderCommand::builder()
            .host_id("NH")
            .provider_id("pid")
            .build()
            .unwrap(),
    );
}

#[test]
fn stop_host_command() {
    both_ways(
        ours::StopHostCommand::builder()
            .host_id("NH")
            .timeout_ms(1500)
            .build()
            .unwrap(),
        up::StopHostCommand::builder()
            .host_id("NH")
            .timeout(1500)
            .build()
            .unwrap(),
    );
}

#[test]
fn delete_link_request() {
    both_ways(
        ours::DeleteInterfaceLinkDefinitionRequest::builder()
            .source_id("controller")
            .name("admin")
            .wit_namespace("wasmcloud")
            .wit_package("lattice-control")
            .build()
            .unwrap(),
        up::DeleteInterfaceLinkDefinitionRequest::from_source_and_link_metadata(
            "controller",
            "admin",
            "wasmcloud",
            "lattice-control",
        ),
    );
}

#[test]
fn registry_credential_and_map() {
    both_ways(
        ours::RegistryCredential {
            username: Some(s("alice")),
            password: Some(s("pw")),
            token: None,
            registry_type: s("oci"),
        },
        up::RegistryCredential::from_username_password("alice", "pw", "oci"),
    );
    both_ways(
        ours::RegistryCredential {
            token: Some(s("tok")),
            registry_type: s("oci"),
            ..Default::default()
        },
        up::RegistryCredential::from_token("tok", "oci"),
    );
    let ours_map: ours::RegistryCredentialMap = HashMap::from([(
        s("ghcr.io"),
        ours::RegistryCredential {
            token: Some(s("tok")),
            registry_type: s("oci"),
            ..Default::default()
        },
    )]);
    let up_map: HashMap<String, up::RegistryCredential> = HashMap::from([(
        s("ghcr.io"),
        up::RegistryCredential::from_token("tok", "oci"),
    )]);
    both_ways(ours_map, up_map);
}

/// `CtlResponse` has no `Default`/`PartialEq` upstream: round trips by hand.
fn ctl_response_both_ways<T, U>(ours_resp: ours::CtlResponse<T>, up_resp: up::CtlResponse<U>)
where
    T: Serialize + DeserializeOwned,
    U: Serialize + DeserializeOwned,
{
    let j_ours = serde_json::to_value(&ours_resp).unwrap();
    let j_up = serde_json::to_value(&up_resp).unwrap();
    assert_eq!(j_ours, j_up);
    let u: up::CtlResponse<U> = serde_json::from_value(j_ours.clone()).unwrap();
    assert_eq!(serde_json::to_value(&u).unwrap(), j_ours);
    let o: ours::CtlResponse<T> = serde_json::from_value(j_up.clone()).unwrap();
    assert_eq!(serde_json::to_value(&o).unwrap(), j_up);
}

#[test]
fn ctl_response_variants() {
    // query replies, populated and empty
    ctl_response_both_ways(
        ours::CtlResponse {
            success: true,
            message: s(""),
            response: Some(ours_host()),
        },
        up::CtlResponse::ok(up_host()),
    );
    ctl_response_both_ways(
        ours::CtlResponse {
            success: true,
            message: s(""),
            response: Some(ours_inventory()),
        },
        up::CtlResponse::ok(up_inventory()),
    );
    ctl_response_both_ways(
        ours::CtlResponse {
            success: true,
            message: s(""),
            response: Some(vec![ours_link()]),
        },
        up::CtlResponse::ok(vec![up_link()]),
    );
    ctl_response_both_ways(
        ours::CtlResponse {
            success: true,
            message: s(""),
            response: Some(Vec::<ours::Link>::new()),
        },
        up::CtlResponse::ok(Vec::<up::Link>::new()),
    );
    ctl_response_both_ways(
        ours::CtlResponse {
            success: true,
            message: s(""),
            response: Some(vec![hmap(&[("k", "v")])]),
        },
        up::CtlResponse::ok(vec![hmap(&[("k", "v")])]),
    );
    // acks and refusals
    ctl_response_both_ways(
        ours::CtlResponse::<()> {
            success: true,
            message: s("successfully put label"),
            response: None,
        },
        up::CtlResponse::<()>::success(s("successfully put label")),
    );
    ctl_response_both_ways(
        ours::CtlResponse::<()> {
            success: false,
            message: s("hostcore.* labels cannot be set dynamically"),
            response: None,
        },
        up::CtlResponse::<()>::error("hostcore.* labels cannot be set dynamically"),
    );
    ctl_response_both_ways(
        ours::CtlResponse::<()> {
            success: false,
            message: s(""),
            response: None,
        },
        up::CtlResponse::<()>::error(""),
    );
}

#[test]
fn ctl_response_internal_failure_form_only_ours_decodes() {
    // the host's fallback when it cannot encode a CtlResponse; upstream cannot read it
    let raw = json!({"success": false, "error": "failed to encode"});
    assert!(serde_json::from_value::<up::CtlResponse<()>>(raw.clone()).is_err());
    let o: ours::CtlResponse<()> = serde_json::from_value(raw).unwrap();
    assert!(!o.success);
    assert_eq!(o.message, "failed to encode");
}

#[test]
fn config_get_missing_form() {
    // what the host answers for a missing config name
    let raw = json!({"success": true, "message": "Configuration not found"});
    same_decode::<
        ours::CtlResponse<HashMap<String, String>>,
        up::CtlResponse<HashMap<String, String>>,
    >(raw);
}

#[test]
fn partial_and_legacy_json_decode_alike() {
    // empty objects: required fields must be required on both sides
    same_decode::<ours::Host, up::Host>(json!({}));
    same_decode::<ours::HostInventory, up::HostInventory>(json!({}));
    same_decode::<ours::HostInventory, up::HostInventory>(
        json!({"components": [], "providers": []}),
    );
    same_decode::<ours::HostLabel, up::HostLabel>(json!({}));
    same_decode::<ours::HostLabel, up::HostLabel>(json!({"key": "k"}));
    same_decode::<ours::ComponentDescription, up::ComponentDescription>(json!({}));
    same_decode::<ours::ComponentInstance, up::ComponentInstance>(json!({}));
    same_decode::<ours::ProviderDescription, up::ProviderDescription>(json!({}));
    same_decode::<ours::Link, up::Link>(json!({}));
    same_decode::<ours::Link, up::Link>(json!({
        "source_id": "s", "target": "t", "wit_namespace": "n", "wit_package": "p",
        "interfaces": ["i"]
    }));
    same_decode::<ours::ComponentAuctionRequest, up::ComponentAuctionRequest>(json!({}));
    same_decode::<ours::ComponentAuctionRequest, up::ComponentAuctionRequest>(
        json!({"component_id": "c", "constraints": {}}),
    );
    same_decode::<ours::ComponentAuctionAck, up::ComponentAuctionAck>(json!({}));
    same_decode::<ours::ProviderAuctionRequest, up::ProviderAuctionRequest>(json!({}));
    same_decode::<ours::ProviderAuctionRequest, up::ProviderAuctionRequest>(
        json!({"provider_id": "p", "constraints": {"a": "b"}}),
    );
    same_decode::<ours::ProviderAuctionAck, up::ProviderAuctionAck>(json!({}));
    same_decode::<ours::ScaleComponentCommand, up::ScaleComponentCommand>(json!({}));
    same_decode::<ours::ScaleComponentCommand, up::ScaleComponentCommand>(
        json!({"component_id": "c", "count": 3}),
    );
    same_decode::<ours::UpdateComponentCommand, up::UpdateComponentCommand>(json!({}));
    same_decode::<ours::StartProviderCommand, up::StartProviderCommand>(json!({}));
    same_decode::<ours::StartProviderCommand, up::StartProviderCommand>(
        json!({"provider_id": "p"}),
    );
    same_decode::<ours::StopProviderCommand, up::StopProviderCommand>(json!({}));
    same_decode::<ours::StopHostCommand, up::StopHostCommand>(json!({}));
    same_decode::<
        ours::DeleteInterfaceLinkDefinitionRequest,
        up::DeleteInterfaceLinkDefinitionRequest,
    >(json!({}));
    same_decode::<
        ours::DeleteInterfaceLinkDefinitionRequest,
        up::DeleteInterfaceLinkDefinitionRequest,
    >(json!({"source_id": "s", "wit_namespace": "n", "wit_package": "p"}));
    same_decode::<ours::RegistryCredential, up::RegistryCredential>(json!({}));
    // aliases and renames
    same_decode::<ours::HostInventory, up::HostInventory>(json!({
        "actors": [{"id": "c", "image_ref": "r"}], "providers": [], "host_id": "NH"
    }));
    same_decode::<ours::StopProviderCommand, up::StopProviderCommand>(
        json!({"host_id": "NH", "provider_ref": "p"}),
    );
    same_decode::<ours::RegistryCredential, up::RegistryCredential>(
        json!({"registryType": "oci", "token": "t"}),
    );
    // wrong types fail on both sides
    same_decode::<ours::Host, up::Host>(json!({"uptime_seconds": "x"}));
    same_decode::<ours::ScaleComponentCommand, up::ScaleComponentCommand>(
        json!({"component_id": "c", "count": -1}),
    );
}

#[test]
fn defaults_applied_on_decode() {
    let l: ours::Link = serde_json::from_value(json!({
        "source_id": "s", "target": "t", "wit_namespace": "n", "wit_package": "p",
        "interfaces": ["i"]
    }))
    .unwrap();
    assert_eq!(l.name, "default");
    assert!(l.source_config.is_empty() && l.target_config.is_empty());
    let d: ours::DeleteInterfaceLinkDefinitionRequest =
        serde_json::from_value(json!({"source_id": "s", "wit_namespace": "n", "wit_package": "p"}))
            .unwrap();
    assert_eq!(d.name, "default");
    let c: ours::ScaleComponentCommand =
        serde_json::from_value(json!({"component_id": "c", "count": 3})).unwrap();
    assert_eq!(c.max_instances, 3);
    let r: ours::RegistryCredential = serde_json::from_value(json!({})).unwrap();
    assert_eq!(r.registry_type, "oci");
    let inv: ours::HostInventory = serde_json::from_value(json!({
        "actors": [{"id": "c"}], "providers": []
    }))
    .unwrap();
    assert_eq!(inv.components[0].id, "c");
}
