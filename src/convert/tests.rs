//! Round trips ctl -> WIT -> ctl (and WIT -> ctl -> WIT) for every record: populated,
//! empty, and with optional fields both `None` and `Some`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::time::Duration;

use super::*;

fn bmap(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn hmap(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn round_trip<C, W>(value: C)
where
    C: Clone + PartialEq + Debug + Into<W>,
    W: Clone + PartialEq + Debug + Into<C>,
{
    let w: W = value.clone().into();
    let back: C = w.clone().into();
    assert_eq!(back, value);
    let again: W = back.into();
    assert_eq!(again, w);
}

/// Populated, then `Default` (empty strings, empty maps, `None` options).
fn both<C, W>(populated: C)
where
    C: Clone + PartialEq + Debug + Default + Into<W>,
    W: Clone + PartialEq + Debug + Into<C>,
{
    round_trip::<C, W>(populated);
    round_trip::<C, W>(C::default());
}

#[test]
fn host() {
    both::<_, wit::Host>(ctl::Host {
        rpc_host: Some("rpc".into()),
        ctl_host: Some("ctl".into()),
        friendly_name: "quiet-fog".into(),
        id: "NHOST".into(),
        js_domain: Some("js".into()),
        labels: bmap(&[("b", "2"), ("a", "1")]),
        lattice: "default".into(),
        uptime_human: Some("1m".into()),
        uptime_seconds: 60,
        version: Some("1.9.0".into()),
    });
}

#[test]
fn host_labels_are_sorted_in_wit() {
    let w: wit::Host = ctl::Host {
        labels: bmap(&[("z", "1"), ("a", "2")]),
        ..Default::default()
    }
    .into();
    assert_eq!(
        w.labels,
        vec![("a".into(), "2".into()), ("z".into(), "1".into())]
    );
}

#[test]
fn host_inventory() {
    both::<_, wit::HostInventory>(ctl::HostInventory {
        components: vec![
            ctl::ComponentDescription {
                id: "c1".into(),
                image_ref: "file:///c.wasm".into(),
                name: Some("c".into()),
                annotations: Some(bmap(&[("k", "v")])),
                revision: -1,
                max_instances: 3,
                limits: Some(hmap(&[("mem", "1"), ("cpu", "2")])),
            },
            ctl::ComponentDescription::default(),
        ],
        providers: vec![
            ctl::ProviderDescription {
                id: "p1".into(),
                image_ref: Some("file:///p.par.gz".into()),
                name: Some("p".into()),
                revision: 2,
                annotations: Some(BTreeMap::new()),
            },
            ctl::ProviderDescription::default(),
        ],
        host_id: "NHOST".into(),
        friendly_name: "f".into(),
        labels: bmap(&[("a", "1")]),
        version: "1.9.0".into(),
        uptime_human: "1s".into(),
        uptime_seconds: 1,
    });
}

#[test]
fn empty_option_map_is_not_none() {
    let w: wit::ComponentDescription = ctl::ComponentDescription {
        annotations: Some(BTreeMap::new()),
        ..Default::default()
    }
    .into();
    assert_eq!(w.annotations, Some(vec![]));
    assert_eq!(w.limits, None);
}

#[test]
fn link_and_delete_request() {
    both::<_, wit::Link>(ctl::Link {
        source_id: "comp".into(),
        target: "prov".into(),
        name: "default".into(),
        wit_namespace: "wasmcloud".into(),
        wit_package: "lattice-control".into(),
        interfaces: vec!["lattice-control".into()],
        source_config: vec!["s".into()],
        target_config: vec!["t1".into(), "t2".into()],
    });
    both::<_, wit::DeleteLinkRequest>(ctl::DeleteInterfaceLinkDefinitionRequest {
        source_id: "comp".into(),
        name: "default".into(),
        wit_namespace: "wasmcloud".into(),
        wit_package: "lattice-control".into(),
    });
}

#[test]
fn auctions() {
    let c = bmap(&[("zone", "a")]);
    both::<_, wit::ComponentAuctionRequest>(ctl::ComponentAuctionRequest {
        component_ref: "r".into(),
        component_id: "i".into(),
        constraints: c.clone(),
    });
    both::<_, wit::ComponentAuctionAck>(ctl::ComponentAuctionAck {
        component_ref: "r".into(),
        component_id: "i".into(),
        host_id: "h".into(),
        constraints: c.clone(),
    });
    both::<_, wit::ProviderAuctionRequest>(ctl::ProviderAuctionRequest {
        provider_ref: "r".into(),
        provider_id: "i".into(),
        constraints: c.clone(),
    });
    both::<_, wit::ProviderAuctionAck>(ctl::ProviderAuctionAck {
        host_id: "h".into(),
        provider_ref: "r".into(),
        provider_id: "i".into(),
        constraints: c,
    });
}

#[test]
fn commands() {
    both::<_, wit::ScaleComponentCommand>(ctl::ScaleComponentCommand {
        component_ref: "r".into(),
        component_id: "i".into(),
        annotations: Some(bmap(&[("a", "b")])),
        max_instances: 5,
        component_limits: Some(hmap(&[("x", "y")])),
        host_id: "h".into(),
        config: vec!["cfg".into()],
        allow_update: true,
    });
    both::<_, wit::UpdateComponentCommand>(ctl::UpdateComponentCommand {
        component_id: "i".into(),
        annotations: Some(bmap(&[("a", "b")])),
        host_id: "h".into(),
        new_component_ref: "r2".into(),
    });
    both::<_, wit::StartProviderCommand>(ctl::StartProviderCommand {
        provider_id: "p".into(),
        provider_ref: "r".into(),
        host_id: "h".into(),
        config: vec!["c1".into(), "c2".into()],
        annotations: Some(bmap(&[("a", "b")])),
    });
    both::<_, wit::StopProviderCommand>(ctl::StopProviderCommand {
        host_id: "h".into(),
        provider_id: "p".into(),
    });
    both::<_, wit::StopHostCommand>(ctl::StopHostCommand {
        host_id: "h".into(),
        timeout: Some(1500),
    });
}

#[test]
fn ack_and_host_query() {
    both::<_, wit::Ack>(ctl::Ack {
        message: "ok".into(),
    });
    both::<_, wit::HostQuery>(ctl::HostQuery {
        expected: Some(2),
        full_wait: true,
        timeout: Some(Duration::from_millis(1500)),
    });
}

#[test]
fn registry_credentials() {
    let cred = ctl::RegistryCredential {
        password: Some("pw".into()),
        token: Some("tok".into()),
        username: Some("me".into()),
        registry_type: "oci".into(),
    };
    round_trip::<_, wit::RegistryCredential>(cred.clone());
    round_trip::<_, wit::RegistryCredential>(ctl::RegistryCredential {
        registry_type: "oci".into(),
        ..Default::default()
    });
    let map: ctl::RegistryCredentialMap = [
        ("b.io".to_string(), cred.clone()),
        ("a.io".to_string(), cred),
    ]
    .into();
    let w = registries_to_wit(map.clone());
    assert_eq!(w[0].0, "a.io");
    assert_eq!(registries_from_wit(w), map);
}

#[test]
fn empty_registry_type_means_oci() {
    let c: ctl::RegistryCredential = wit::RegistryCredential {
        registry_type: String::new(),
        username: None,
        password: None,
        token: None,
    }
    .into();
    assert_eq!(c.registry_type, "oci");
}

#[test]
fn errors_keep_kind_and_message() {
    let cases = [
        (CtlError::timeout("t"), wit::CtlError::Timeout("t".into())),
        (
            CtlError::no_responders("n"),
            wit::CtlError::NoResponders("n".into()),
        ),
        (
            CtlError::transport("x"),
            wit::CtlError::Transport("x".into()),
        ),
        (CtlError::decode("d"), wit::CtlError::Decode("d".into())),
        (
            CtlError::invalid_argument("i"),
            wit::CtlError::InvalidArgument("i".into()),
        ),
        (CtlError::rejected("r"), wit::CtlError::Rejected("r".into())),
    ];
    for (from, want) in cases {
        let kind = from.kind().as_str().replace('_', "-");
        let got = wit::CtlError::from(from);
        assert_eq!(error_kind(&got), kind);
        assert_eq!(got, want);
    }
}

#[test]
fn wit_maps_with_repeated_keys_keep_the_last() {
    let m = btree_from_wit(vec![("a".into(), "1".into()), ("a".into(), "2".into())]);
    assert_eq!(m, bmap(&[("a", "2")]));
}

#[test]
fn call_timeout_bounds() {
    use super::{call_timeout, MAX_CALL_TIMEOUT_MS};
    use crate::ctl::CtlErrorKind;
    assert_eq!(call_timeout(None).unwrap(), None);
    assert_eq!(
        call_timeout(Some(MAX_CALL_TIMEOUT_MS)).unwrap(),
        Some(std::time::Duration::from_millis(9000))
    );
    for bad in [0, MAX_CALL_TIMEOUT_MS + 1, u32::MAX] {
        let e = call_timeout(Some(bad)).unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::InvalidArgument, "{bad}");
        assert!(e.message().contains("timeout-ms"));
    }
}

/// A sorted map from a WIT string map (a repeated key: the last one wins).
fn btree_from_wit(map: wit::StringMap) -> std::collections::BTreeMap<String, String> {
    map.into_iter().collect()
}

/// Registry credentials to WIT, sorted by registry name (the reverse of
/// [`registries_from_wit`]).
fn registries_to_wit(map: ctl::RegistryCredentialMap) -> Vec<(String, wit::RegistryCredential)> {
    let mut out: Vec<_> = map.into_iter().map(|(k, v)| (k, v.into())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
