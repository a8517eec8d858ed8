//! One generic path for the control commands that the hosts acknowledge.
//!
//! A command type says, once, everything the path needs: how its arguments are checked
//! ([`Command::normalize`]), the subject and body it is sent with, the host it is addressed
//! to, the image references it runs and the config names it attaches (what a caller's policy
//! looks at), and, for the "and wait" forms, the lattice event that reports its outcome
//! ([`WaitCommand`]). [`Checked`] holds a command whose arguments were checked, so the
//! check runs once per call however many steps (policy, host resolution, sending, waiting)
//! the command goes through. A new operation adds its type here and its WIT mapping; the
//! client's [`Client::command`](super::Client::command) and the provider's handler serve it
//! unchanged.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;

use super::awaited::Awaited;
use super::error::{CtlError, Result};
use super::subjects;
use super::types::{
    DeleteInterfaceLinkDefinitionRequest, HostLabel, HostLabelIdentifier, Link,
    ScaleComponentCommand, StartProviderCommand, StopHostCommand, StopProviderCommand,
    UpdateComponentCommand,
};
use super::validate;

/// A control command acknowledged by a host (`{"success": …, "message": …}`).
pub trait Command: Sized {
    /// What the command is called in errors (`scale component`).
    const WHAT: &'static str;

    /// Trims and checks the arguments as they will be sent; `InvalidArgument` before any
    /// traffic when one is bad. Run through [`Checked::new`], once per call.
    fn normalize(self) -> Result<Self>;

    /// The subject of the command (prefix and lattice of the client sending it).
    fn subject(&self, prefix: &str, lattice: &str) -> String;

    /// The request body.
    fn body(&self) -> Result<Bytes>;

    /// The host the command is addressed to, for a command to one host.
    fn host(&self) -> Option<&str> {
        None
    }

    /// The host argument, to replace it by the id it resolves to.
    fn host_mut(&mut self) -> Option<&mut String> {
        None
    }

    /// Image references the command runs.
    fn references(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Config names the command names, reads, writes or attaches.
    fn config_names(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Whether an accepted command takes its host out of the lattice (the client then
    /// forgets the host).
    fn stops_host(&self) -> bool {
        false
    }

    /// What the command changes, named without any value it writes (an audit line's
    /// target: `component x on host N…`, `config y`, `link a -> b …`).
    fn changes(&self) -> String;
}

/// A command whose outcome the host reports later as a lattice event.
pub trait WaitCommand: Command {
    /// The success (and failure) event that reports this command's outcome.
    fn awaited(&self) -> Awaited;
}

/// A command whose arguments were checked by [`Command::normalize`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked<C>(C);

impl<C: Command> Checked<C> {
    /// Checks `command`'s arguments (the only place they are checked).
    pub fn new(command: C) -> Result<Self> {
        command.normalize().map(Self)
    }

    /// The command.
    #[must_use]
    pub fn get(&self) -> &C {
        &self.0
    }

    /// Sets the host argument to `host_id`, an id [`Client::resolve_host`] returned (a
    /// valid subject token, so the command stays checked).
    ///
    /// [`Client::resolve_host`]: super::Client::resolve_host
    pub(crate) fn set_host(&mut self, host_id: String) {
        if let Some(h) = self.0.host_mut() {
            *h = host_id;
        }
    }
}

/// The JSON body of `value`.
pub(crate) fn encode(value: &impl Serialize, what: &str) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|_| CtlError::invalid_argument(format!("{what} cannot be encoded as JSON")))
}

/// Commands to one host: the host id is the subject's last token. The body is the command
/// itself unless the entry says `body:` (a function of the command to what is sent).
macro_rules! host_commands {
    ($($ty:ident => $what:literal, $subject:path, refs: [$($r:ident),*], configs: [$($c:ident),*],
        stops_host: $stops:literal, changes: $changes:expr $(, body: $body:expr)?;)*) => {$(
        impl Command for $ty {
            const WHAT: &'static str = $what;

            fn normalize(self) -> Result<Self> {
                $ty::normalize(self)
            }

            fn subject(&self, prefix: &str, lattice: &str) -> String {
                $subject(prefix, lattice, &self.host_id)
            }

            fn body(&self) -> Result<Bytes> {
                host_commands!(@body self $(, $body)?)
            }

            fn host(&self) -> Option<&str> {
                Some(&self.host_id)
            }

            fn host_mut(&mut self) -> Option<&mut String> {
                Some(&mut self.host_id)
            }

            fn references(&self) -> Vec<&str> {
                vec![$(self.$r.as_str()),*]
            }

            fn config_names(&self) -> Vec<&str> {
                #[allow(unused_mut)]
                let mut names = Vec::new();
                $(names.extend(self.$c.iter().map(String::as_str));)*
                names
            }

            fn stops_host(&self) -> bool {
                $stops
            }

            fn changes(&self) -> String {
                let describe: fn(&$ty) -> String = $changes;
                describe(self)
            }
        }
    )*};
    (@body $self:ident) => {
        encode($self, Self::WHAT)
    };
    (@body $self:ident, $body:expr) => {{
        let body: fn(&Self) -> _ = $body;
        encode(&body($self), Self::WHAT)
    }};
}

host_commands! {
    ScaleComponentCommand => "scale component", subjects::component_scale,
        refs: [component_ref], configs: [config], stops_host: false,
        changes: |c| format!("component {} on host {}", c.component_id, c.host_id);
    UpdateComponentCommand => "update component", subjects::component_update,
        refs: [new_component_ref], configs: [], stops_host: false,
        changes: |c| format!("component {} on host {}", c.component_id, c.host_id);
    StartProviderCommand => "start provider", subjects::provider_start,
        refs: [provider_ref], configs: [config], stops_host: false,
        changes: |c| format!("provider {} on host {}", c.provider_id, c.host_id);
    StopProviderCommand => "stop provider", subjects::provider_stop,
        refs: [], configs: [], stops_host: false,
        changes: |c| format!("provider {} on host {}", c.provider_id, c.host_id);
    StopHostCommand => "stop host", subjects::host_stop,
        refs: [], configs: [], stops_host: true,
        changes: |c| format!("host {}", c.host_id);
    PutLabelCommand => "put label", subjects::label_put,
        refs: [], configs: [], stops_host: false,
        changes: |c| format!("label {} of host {}", c.key, c.host_id),
        body: |c| HostLabel { key: c.key.clone(), value: c.value.clone() };
    DeleteLabelCommand => "delete label", subjects::label_del,
        refs: [], configs: [], stops_host: false,
        changes: |c| format!("label {} of host {}", c.key, c.host_id),
        body: |c| HostLabelIdentifier { key: c.key.clone() };
}

impl WaitCommand for ScaleComponentCommand {
    fn awaited(&self) -> Awaited {
        Awaited::scale(self)
    }
}

impl WaitCommand for StartProviderCommand {
    fn awaited(&self) -> Awaited {
        Awaited::start_provider(self)
    }
}

impl WaitCommand for StopProviderCommand {
    fn awaited(&self) -> Awaited {
        Awaited::stop_provider(self)
    }
}

/// The host id and label key of a label command, checked.
fn label_target(host_id: &str, key: &str) -> Result<(String, String)> {
    Ok((
        validate::subject_token("host_id", host_id)?,
        validate::label_key(key)?,
    ))
}

/// `label.put.{host}`: puts a label on a host (`hostcore.*` keys are refused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutLabelCommand {
    /// Target host (id, unique id prefix or friendly name until resolved).
    pub host_id: String,
    /// Label key.
    pub key: String,
    /// Label value.
    pub value: String,
}

impl PutLabelCommand {
    /// Trims and checks the host id and the label key.
    fn normalize(mut self) -> Result<Self> {
        (self.host_id, self.key) = label_target(&self.host_id, &self.key)?;
        Ok(self)
    }
}

/// `label.del.{host}`: deletes a label from a host (`hostcore.*` keys are refused; an
/// unset key succeeds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteLabelCommand {
    /// Target host (id, unique id prefix or friendly name until resolved).
    pub host_id: String,
    /// Label key.
    pub key: String,
}

impl DeleteLabelCommand {
    /// Trims and checks the host id and the label key.
    fn normalize(mut self) -> Result<Self> {
        (self.host_id, self.key) = label_target(&self.host_id, &self.key)?;
        Ok(self)
    }
}

impl Command for Link {
    const WHAT: &'static str = "put link";

    /// Checks the link (see [`Link::validate`]); it is sent as given.
    fn normalize(self) -> Result<Self> {
        self.validate()?;
        Ok(self)
    }

    fn subject(&self, prefix: &str, lattice: &str) -> String {
        subjects::link_put(prefix, lattice)
    }

    fn body(&self) -> Result<Bytes> {
        encode(self, "link")
    }

    fn changes(&self) -> String {
        format!(
            "link {} -> {} ({}:{}, name {})",
            self.source_id, self.target, self.wit_namespace, self.wit_package, self.name
        )
    }

    fn config_names(&self) -> Vec<&str> {
        self.source_config
            .iter()
            .chain(&self.target_config)
            .map(String::as_str)
            .collect()
    }
}

impl Command for DeleteInterfaceLinkDefinitionRequest {
    const WHAT: &'static str = "delete link";

    fn normalize(self) -> Result<Self> {
        DeleteInterfaceLinkDefinitionRequest::normalize(self)
    }

    fn subject(&self, prefix: &str, lattice: &str) -> String {
        subjects::link_del(prefix, lattice)
    }

    fn body(&self) -> Result<Bytes> {
        encode(self, "delete link request")
    }

    fn changes(&self) -> String {
        format!(
            "link from {} ({}:{}, name {})",
            self.source_id, self.wit_namespace, self.wit_package, self.name
        )
    }
}

/// `config.put.{name}`: puts a named config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutConfigCommand {
    /// Config name (one subject token).
    pub name: String,
    /// Its values.
    pub values: HashMap<String, String>,
}

impl Command for PutConfigCommand {
    const WHAT: &'static str = "put config";

    fn normalize(mut self) -> Result<Self> {
        self.name = validate::subject_token("config name", &self.name)?;
        Ok(self)
    }

    fn subject(&self, prefix: &str, lattice: &str) -> String {
        subjects::config_put(prefix, lattice, &self.name)
    }

    fn body(&self) -> Result<Bytes> {
        encode(&self.values, "config")
    }

    fn changes(&self) -> String {
        format!("config {}", self.name)
    }

    fn config_names(&self) -> Vec<&str> {
        vec![self.name.as_str()]
    }
}

/// `config.del.{name}`: deletes a named config (succeeds if it does not exist).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteConfigCommand {
    /// Config name (one subject token).
    pub name: String,
}

impl Command for DeleteConfigCommand {
    const WHAT: &'static str = "delete config";

    fn normalize(mut self) -> Result<Self> {
        self.name = validate::subject_token("config name", &self.name)?;
        Ok(self)
    }

    fn subject(&self, prefix: &str, lattice: &str) -> String {
        subjects::config_del(prefix, lattice, &self.name)
    }

    fn body(&self) -> Result<Bytes> {
        Ok(Bytes::new())
    }

    fn changes(&self) -> String {
        format!("config {}", self.name)
    }

    fn config_names(&self) -> Vec<&str> {
        vec![self.name.as_str()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_commands_say_what_policy_needs() {
        let scale = Checked::new(ScaleComponentCommand {
            host_id: " NHOST ".into(),
            component_ref: "file:///c.wasm".into(),
            component_id: "c".into(),
            config: vec!["app-a".into(), "app-b".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(scale.get().host(), Some("NHOST"));
        assert_eq!(scale.get().references(), vec!["file:///c.wasm"]);
        assert_eq!(scale.get().config_names(), vec!["app-a", "app-b"]);
        assert_eq!(
            scale.get().subject("wasmbus.ctl", "lat"),
            "wasmbus.ctl.v1.lat.component.scale.NHOST"
        );
        assert!(!scale.get().stops_host());
        let stop = Checked::new(StopHostCommand {
            host_id: "NHOST".into(),
            timeout: None,
        })
        .unwrap();
        assert!(stop.get().stops_host());
        assert!(stop.get().references().is_empty());
    }

    #[test]
    fn set_host_replaces_the_host_argument() {
        let mut label = Checked::new(PutLabelCommand {
            host_id: "NH".into(),
            key: " zone ".into(),
            value: "edge".into(),
        })
        .unwrap();
        label.set_host("NHOSTFULL".into());
        assert_eq!(label.get().host(), Some("NHOSTFULL"));
        assert_eq!(
            label.get().subject("wasmbus.ctl", "lat"),
            "wasmbus.ctl.v1.lat.label.put.NHOSTFULL"
        );
        assert_eq!(
            label.get().body().unwrap(),
            Bytes::from_static(br#"{"key":"zone","value":"edge"}"#)
        );
    }

    #[test]
    fn lattice_commands_check_and_name_configs() {
        let e = Checked::new(PutConfigCommand {
            name: "a b".into(),
            values: HashMap::new(),
        })
        .unwrap_err();
        assert!(e.message().contains("config name"), "{e}");
        let del = Checked::new(DeleteConfigCommand {
            name: " app-x ".into(),
        })
        .unwrap();
        assert_eq!(del.get().config_names(), vec!["app-x"]);
        assert!(del.get().body().unwrap().is_empty());
        assert!(Checked::new(Link::default()).is_err());
        assert!(Checked::new(DeleteLabelCommand {
            host_id: "NH".into(),
            key: "hostcore.os".into(),
        })
        .is_err());
    }
}
