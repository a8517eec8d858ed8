//! Pure functions building every NATS subject of the control protocol (`wasmbus.ctl.v1`).
//!
//! Every control subject is `{topic_prefix}.v1.{lattice}.{operation…}`; events are published
//! by hosts on `wasmbus.evt.{lattice}.{event type}` whatever the topic prefix.

/// Default topic prefix of the control interface.
pub const DEFAULT_TOPIC_PREFIX: &str = "wasmbus.ctl";

/// Version segment of the control protocol spoken by wasmCloud 1.x hosts.
pub const CTL_API_VERSION: &str = "v1";

/// Prefix of lattice event subjects (not affected by the control topic prefix).
pub const EVENT_PREFIX: &str = "wasmbus.evt";

fn ctl(prefix: &str, lattice: &str, rest: &str) -> String {
    format!("{prefix}.{CTL_API_VERSION}.{lattice}.{rest}")
}

/// `host.ping`: scatter, every host replies with its [`Host`](super::Host).
#[must_use]
pub fn host_ping(prefix: &str, lattice: &str) -> String {
    ctl(prefix, lattice, "host.ping")
}

/// `host.get.{host}`: one host's inventory.
#[must_use]
pub fn host_get(prefix: &str, lattice: &str, host_id: &str) -> String {
    ctl(prefix, lattice, &format!("host.get.{host_id}"))
}

/// `host.stop.{host}`: stop one host.
#[must_use]
pub fn host_stop(prefix: &str, lattice: &str, host_id: &str) -> String {
    ctl(prefix, lattice, &format!("host.stop.{host_id}"))
}

/// `claims.get`: claims of every component and provider (queue group, one host answers).
#[must_use]
pub fn claims_get(prefix: &str, lattice: &str) -> String {
    ctl(prefix, lattice, "claims.get")
}

/// `component.auction`: scatter, hosts matching the constraints reply.
#[must_use]
pub fn component_auction(prefix: &str, lattice: &str) -> String {
    ctl(prefix, lattice, "component.auction")
}

/// `provider.auction`: scatter, hosts matching the constraints reply.
#[must_use]
pub fn provider_auction(prefix: &str, lattice: &str) -> String {
    ctl(prefix, lattice, "provider.auction")
}

/// `component.scale.{host}`.
#[must_use]
pub fn component_scale(prefix: &str, lattice: &str, host_id: &str) -> String {
    ctl(prefix, lattice, &format!("component.scale.{host_id}"))
}

/// `component.update.{host}`.
#[must_use]
pub fn component_update(prefix: &str, lattice: &str, host_id: &str) -> String {
    ctl(prefix, lattice, &format!("component.update.{host_id}"))
}

/// `provider.start.{host}`.
#[must_use]
pub fn provider_start(prefix: &str, lattice: &str, host_id: &str) -> String {
    ctl(prefix, lattice, &format!("provider.start.{host_id}"))
}

/// `provider.stop.{host}`.
#[must_use]
pub fn provider_stop(prefix: &str, lattice: &str, host_id: &str) -> String {
    ctl(prefix, lattice, &format!("provider.stop.{host_id}"))
}

/// `link.put`.
#[must_use]
pub fn link_put(prefix: &str, lattice: &str) -> String {
    ctl(prefix, lattice, "link.put")
}

/// `link.del`.
#[must_use]
pub fn link_del(prefix: &str, lattice: &str) -> String {
    ctl(prefix, lattice, "link.del")
}

/// `link.get`.
#[must_use]
pub fn link_get(prefix: &str, lattice: &str) -> String {
    ctl(prefix, lattice, "link.get")
}

/// `config.put.{name}`.
#[must_use]
pub fn config_put(prefix: &str, lattice: &str, name: &str) -> String {
    ctl(prefix, lattice, &format!("config.put.{name}"))
}

/// `config.get.{name}`.
#[must_use]
pub fn config_get(prefix: &str, lattice: &str, name: &str) -> String {
    ctl(prefix, lattice, &format!("config.get.{name}"))
}

/// `config.del.{name}`.
#[must_use]
pub fn config_del(prefix: &str, lattice: &str, name: &str) -> String {
    ctl(prefix, lattice, &format!("config.del.{name}"))
}

/// `label.put.{host}`.
#[must_use]
pub fn label_put(prefix: &str, lattice: &str, host_id: &str) -> String {
    ctl(prefix, lattice, &format!("label.put.{host_id}"))
}

/// `label.del.{host}`.
#[must_use]
pub fn label_del(prefix: &str, lattice: &str, host_id: &str) -> String {
    ctl(prefix, lattice, &format!("label.del.{host_id}"))
}

/// `registry.put`: every host subscribes (no queue group).
#[must_use]
pub fn registry_put(prefix: &str, lattice: &str) -> String {
    ctl(prefix, lattice, "registry.put")
}

/// `wasmbus.evt.{lattice}.>`: every event of a lattice.
#[must_use]
pub fn events_all(lattice: &str) -> String {
    format!("{EVENT_PREFIX}.{lattice}.>")
}

/// `wasmbus.evt.{lattice}.{event_type}`, `event_type` being the short name (`host_started`).
#[must_use]
pub fn event(lattice: &str, event_type: &str) -> String {
    format!("{EVENT_PREFIX}.{lattice}.{event_type}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = DEFAULT_TOPIC_PREFIX;
    const L: &str = "lat";
    const H: &str = "NHOST";

    #[test]
    fn host_subjects() {
        assert_eq!(host_ping(P, L), "wasmbus.ctl.v1.lat.host.ping");
        assert_eq!(host_get(P, L, H), "wasmbus.ctl.v1.lat.host.get.NHOST");
        assert_eq!(host_stop(P, L, H), "wasmbus.ctl.v1.lat.host.stop.NHOST");
    }

    #[test]
    fn claims_subject() {
        assert_eq!(claims_get(P, L), "wasmbus.ctl.v1.lat.claims.get");
    }

    #[test]
    fn auction_subjects() {
        assert_eq!(
            component_auction(P, L),
            "wasmbus.ctl.v1.lat.component.auction"
        );
        assert_eq!(
            provider_auction(P, L),
            "wasmbus.ctl.v1.lat.provider.auction"
        );
    }

    #[test]
    fn component_subjects() {
        assert_eq!(
            component_scale(P, L, H),
            "wasmbus.ctl.v1.lat.component.scale.NHOST"
        );
        assert_eq!(
            component_update(P, L, H),
            "wasmbus.ctl.v1.lat.component.update.NHOST"
        );
    }

    #[test]
    fn provider_subjects() {
        assert_eq!(
            provider_start(P, L, H),
            "wasmbus.ctl.v1.lat.provider.start.NHOST"
        );
        assert_eq!(
            provider_stop(P, L, H),
            "wasmbus.ctl.v1.lat.provider.stop.NHOST"
        );
    }

    #[test]
    fn link_subjects() {
        assert_eq!(link_put(P, L), "wasmbus.ctl.v1.lat.link.put");
        assert_eq!(link_del(P, L), "wasmbus.ctl.v1.lat.link.del");
        assert_eq!(link_get(P, L), "wasmbus.ctl.v1.lat.link.get");
    }

    #[test]
    fn config_subjects() {
        assert_eq!(config_put(P, L, "c1"), "wasmbus.ctl.v1.lat.config.put.c1");
        assert_eq!(config_get(P, L, "c1"), "wasmbus.ctl.v1.lat.config.get.c1");
        assert_eq!(config_del(P, L, "c1"), "wasmbus.ctl.v1.lat.config.del.c1");
    }

    #[test]
    fn label_subjects() {
        assert_eq!(label_put(P, L, H), "wasmbus.ctl.v1.lat.label.put.NHOST");
        assert_eq!(label_del(P, L, H), "wasmbus.ctl.v1.lat.label.del.NHOST");
    }

    #[test]
    fn registry_subject() {
        assert_eq!(registry_put(P, L), "wasmbus.ctl.v1.lat.registry.put");
    }

    #[test]
    fn custom_prefix_is_used() {
        assert_eq!(host_ping("my.ctl", "x"), "my.ctl.v1.x.host.ping");
        assert_eq!(config_get("p", "x", "n"), "p.v1.x.config.get.n");
    }

    #[test]
    fn event_subjects() {
        assert_eq!(events_all(L), "wasmbus.evt.lat.>");
        assert_eq!(event(L, "host_started"), "wasmbus.evt.lat.host_started");
    }
}
