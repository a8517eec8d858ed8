//! Which operations a link may call, read from the link's merged settings.
//!
//! | key | value | meaning |
//! |---|---|---|
//! | `allow` | `all`, `read-only`, or a comma list of operation names (may include `read-only`) | operations the link may call |
//! | `allowed_hosts` | comma list of host ids, host id prefixes, `label:key=value` | hosts that commands may change |
//! | `allowed_references` | comma list of reference prefixes, e.g. `ghcr.io/acme/` | what may be started, scaled or updated |
//! | `allowed_config_prefixes` | comma list of config name prefixes | configs that may be named, read or written |
//!
//! **Default: `read-only`.** A link with no `allow` key may only query the lattice. A
//! component that can scale, stop hosts and rewrite links holds the keys to the lattice, and
//! links are often put by tooling that does not know about this provider; granting control
//! must therefore be an explicit act (`allow=all` or a list), never the result of a missing
//! key. Any other key starting with `allow` is refused as a likely typo, so a misspelt
//! restriction fails loudly instead of silently lifting the restriction.
//!
//! Scope of the restrictions (read-only calls change nothing, so only config names, whose
//! values may be sensitive, restrict them):
//! * `allowed_hosts` applies to commands that change one host (scale, update, start/stop
//!   provider, stop host, labels); `put-registries` changes every host, so a link restricted
//!   to some hosts may not call it.
//! * `allowed_references` applies to commands that run an image (scale, update, start
//!   provider). Prefixes are plain string prefixes: end them with `/` or `:`.
//! * `allowed_config_prefixes` applies to every config name a call carries (put/get/delete
//!   config, link source/target configs, configs given to scale or start).
//!
//! Order, each rule once per call: [`Policy::grant`] before anything else (even before
//! connecting), [`Policy::check_arguments`] once the arguments are checked, before any
//! traffic; host rules need the resolved host id (a host argument may be a prefix or friendly
//! name), so [`Policy::check_host`] runs after that read.
//!
//! **`manage-links`** is the right to change the settings of links to or from this provider
//! (their named configs, the links themselves) and to read the credentials in them; `all`
//! does not imply it (`allow=all,manage-links` grants both). Without it, a granted
//! `put-config`, `delete-config`, `put-link` or `delete-link` is still refused where it would
//! change such settings, and `get-config` withholds their credentials (see
//! [`super::guard`]): no sequence of calls a policy permits can broaden any link's policy.
//!
//! `provider-info` is always allowed: it never reaches the lattice and reports the policy.
//! A `scale-component` grant also covers `scale-component-and-wait` (same change, it only
//! waits for the outcome); likewise for start/stop provider.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

/// Settings key: the operations a link may call.
pub const KEY_ALLOW: &str = "allow";
/// Settings key: hosts that a link's commands may change.
pub const KEY_ALLOWED_HOSTS: &str = "allowed_hosts";
/// Settings key: reference prefixes a link may run.
pub const KEY_ALLOWED_REFERENCES: &str = "allowed_references";
/// Settings key: config name prefixes a link may use.
pub const KEY_ALLOWED_CONFIG_PREFIXES: &str = "allowed_config_prefixes";
/// The `allow` item granting the right to change lattice-control link settings (see the
/// module docs); no operation, and `all` does not imply it.
pub const MANAGE_LINKS: &str = "manage-links";

const KEYS: [&str; 4] = [
    KEY_ALLOW,
    KEY_ALLOWED_HOSTS,
    KEY_ALLOWED_REFERENCES,
    KEY_ALLOWED_CONFIG_PREFIXES,
];

macro_rules! operations {
    ($($variant:ident => $name:literal, $read_only:literal;)*) => {
        /// One function of the `lattice-control` WIT interface.
        #[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
        pub enum Operation {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl Operation {
            /// Every operation, in WIT order.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant,)*];

            /// The WIT function name.
            pub fn name(self) -> &'static str {
                match self { $(Operation::$variant => $name,)* }
            }

            /// Whether the operation only queries the lattice (changes nothing).
            pub fn is_read_only(self) -> bool {
                match self { $(Operation::$variant => $read_only,)* }
            }
        }
    };
}

operations! {
    GetHosts => "get-hosts", true;
    GetHostInventory => "get-host-inventory", true;
    GetClaims => "get-claims", true;
    // Auctions ask hosts whether they could run something; nothing is started.
    PerformComponentAuction => "perform-component-auction", true;
    PerformProviderAuction => "perform-provider-auction", true;
    ScaleComponent => "scale-component", false;
    ScaleComponentAndWait => "scale-component-and-wait", false;
    UpdateComponent => "update-component", false;
    StartProvider => "start-provider", false;
    StartProviderAndWait => "start-provider-and-wait", false;
    StopProvider => "stop-provider", false;
    StopProviderAndWait => "stop-provider-and-wait", false;
    StopHost => "stop-host", false;
    PutLink => "put-link", false;
    DeleteLink => "delete-link", false;
    GetLinks => "get-links", true;
    PutConfig => "put-config", false;
    GetConfig => "get-config", true;
    DeleteConfig => "delete-config", false;
    PutLabel => "put-label", false;
    DeleteLabel => "delete-label", false;
    PutRegistries => "put-registries", false;
    ProviderInfo => "provider-info", true;
    GetComponentLoad => "get-component-load", true;
}

/// Which hosts an operation changes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum HostScope {
    None,
    One,
    Every,
}

impl Operation {
    /// The operation whose grant also covers this one (the base of an `-and-wait` form).
    fn granted_by(self) -> Operation {
        match self {
            Operation::ScaleComponentAndWait => Operation::ScaleComponent,
            Operation::StartProviderAndWait => Operation::StartProvider,
            Operation::StopProviderAndWait => Operation::StopProvider,
            op => op,
        }
    }

    fn host_scope(self) -> HostScope {
        use Operation::*;
        match self.granted_by() {
            ScaleComponent | UpdateComponent | StartProvider | StopProvider | StopHost
            | PutLabel | DeleteLabel => HostScope::One,
            PutRegistries => HostScope::Every,
            _ => HostScope::None,
        }
    }

    fn runs_image(self) -> bool {
        matches!(
            self.granted_by(),
            Operation::ScaleComponent | Operation::UpdateComponent | Operation::StartProvider
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a `lattice-control` function.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("unknown operation `{0}`")]
pub struct UnknownOperation(pub String);

impl FromStr for Operation {
    type Err = UnknownOperation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.name() == s)
            .ok_or_else(|| UnknownOperation(s.to_owned()))
    }
}

/// A link's policy settings that cannot be used; the link's calls fail with it.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// `allow` names operations that do not exist.
    #[error("invalid link policy: `allow` names unknown operations: {}", .0.join(", "))]
    UnknownOperations(Vec<String>),
    /// A policy key is present but lists nothing.
    #[error(
        "invalid link policy: `{0}` is set but empty (remove the key to lift the restriction)"
    )]
    Empty(&'static str),
    /// An `allowed_hosts` label rule is not `label:key=value`.
    #[error("invalid link policy: `allowed_hosts` rule `{0}` is not `label:key=value`")]
    BadLabelRule(String),
    /// A key that looks like a policy key but is not one (likely a typo).
    #[error("invalid link policy: unknown key `{0}` (policy keys: allow, allowed_hosts, allowed_references, allowed_config_prefixes)")]
    UnknownKey(String),
}

/// A call refused by policy; the message names the rule.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{rule}")]
pub struct Denied {
    /// The refused operation.
    pub operation: Operation,
    /// Which rule refused it, e.g. `allow=read-only forbids scale-component`.
    pub rule: String,
}

/// A host a command is addressed to.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostRef<'a> {
    /// Host id.
    pub id: &'a str,
    /// The host's labels, when fetched (see [`Policy::needs_host_labels`]).
    pub labels: Option<&'a BTreeMap<String, String>>,
}

/// What a call names, as far as policy cares before any traffic (the host a command is
/// addressed to is checked once resolved, by [`Policy::check_host`]).
#[derive(Clone, Debug, Default)]
pub struct Target<'a> {
    /// Component or provider image references the command runs.
    pub references: Vec<&'a str>,
    /// Config names the call reads, writes or attaches.
    pub config_names: Vec<&'a str>,
}

/// One `allowed_hosts` rule.
#[derive(Clone, Debug, Eq, PartialEq)]
enum HostRule {
    IdPrefix(String),
    Label { key: String, value: String },
}

/// Operations granted by `allow`.
#[derive(Clone, Debug, Eq, PartialEq)]
enum Allow {
    All,
    /// Read-only operations, plus the listed ones.
    List {
        read_only: bool,
        ops: BTreeSet<Operation>,
    },
}

/// A link's policy. Build it with [`Policy::from_settings`].
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Policy {
    allow: Allow,
    manage_links: bool,
    hosts: Option<Vec<HostRule>>,
    references: Option<Vec<String>>,
    config_prefixes: Option<Vec<String>>,
}

impl Default for Policy {
    /// The least-privilege default: read-only, no further restriction.
    fn default() -> Self {
        Policy {
            allow: Allow::List {
                read_only: true,
                ops: BTreeSet::new(),
            },
            manage_links: false,
            hosts: None,
            references: None,
            config_prefixes: None,
        }
    }
}

/// Splits a comma list, trimming and dropping empty items; `None` when nothing is left.
fn items(value: &str) -> Option<Vec<&str>> {
    let v: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// The list under `key`, if the key is present; an empty list is an error.
fn list<'a>(
    settings: &HashMap<String, &'a str>,
    key: &'static str,
) -> Result<Option<Vec<&'a str>>, PolicyError> {
    settings
        .get(key)
        .map(|v| items(v).ok_or(PolicyError::Empty(key)))
        .transpose()
}

fn owned(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_owned).collect()
}

impl Policy {
    /// Reads the policy from a link's merged settings (keys match case-insensitively);
    /// other keys are ignored.
    pub fn from_settings(settings: &HashMap<String, String>) -> Result<Policy, PolicyError> {
        let settings: HashMap<String, &str> = settings
            .iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.as_str()))
            .collect();
        let mut stray: Vec<&String> = settings
            .keys()
            .filter(|k| k.starts_with("allow") && !KEYS.contains(&k.as_str()))
            .collect();
        stray.sort();
        if let Some(key) = stray.first() {
            return Err(PolicyError::UnknownKey((*key).clone()));
        }
        let settings = &settings;
        let names = list(settings, KEY_ALLOW)?;
        let manage_links = names.as_ref().is_some_and(|n| n.contains(&MANAGE_LINKS));
        let allow = match names {
            None => Allow::List {
                read_only: true,
                ops: BTreeSet::new(),
            },
            Some(names) if names.contains(&"all") => Allow::All,
            Some(names) => {
                let mut read_only = false;
                let mut ops = BTreeSet::new();
                let mut unknown = Vec::new();
                for name in names {
                    match (name, name.parse::<Operation>()) {
                        ("read-only", _) => read_only = true,
                        (MANAGE_LINKS, _) => {}
                        (_, Ok(op)) => {
                            ops.insert(op);
                        }
                        (_, Err(UnknownOperation(n))) => unknown.push(n),
                    }
                }
                if !unknown.is_empty() {
                    return Err(PolicyError::UnknownOperations(unknown));
                }
                Allow::List { read_only, ops }
            }
        };
        let hosts = list(settings, KEY_ALLOWED_HOSTS)?
            .map(|rules| {
                rules
                    .into_iter()
                    .map(parse_host_rule)
                    .collect::<Result<_, _>>()
            })
            .transpose()?;
        Ok(Policy {
            allow,
            manage_links,
            hosts,
            references: list(settings, KEY_ALLOWED_REFERENCES)?.map(owned),
            config_prefixes: list(settings, KEY_ALLOWED_CONFIG_PREFIXES)?.map(owned),
        })
    }

    /// Whether `allow` grants `op` (restrictions aside).
    pub fn allows(&self, op: Operation) -> bool {
        match &self.allow {
            _ if op == Operation::ProviderInfo => true,
            Allow::All => true,
            Allow::List { read_only, ops } => {
                (*read_only && op.is_read_only())
                    || ops.contains(&op)
                    || ops.contains(&op.granted_by())
            }
        }
    }

    /// Whether the link holds [`MANAGE_LINKS`]: it may change the settings of links to or
    /// from this provider with the operations it is granted.
    #[must_use]
    pub fn manages_links(&self) -> bool {
        self.manage_links
    }

    /// Whether checking the host rule of a granted `op` on host `host_id` needs the host's
    /// labels: only when a label rule could decide it, so the handler fetches labels only
    /// then. (The grant itself is [`Policy::grant`]'s business, checked once before.)
    pub fn needs_host_labels(&self, op: Operation, host_id: &str) -> bool {
        let Some(rules) = &self.hosts else {
            return false;
        };
        !op.is_read_only()
            && op.host_scope() == HostScope::One
            && rules.iter().any(|r| matches!(r, HostRule::Label { .. }))
            && !rules
                .iter()
                .any(|r| matches!(r, HostRule::IdPrefix(p) if host_id.starts_with(p.as_str())))
    }

    /// The `allow` rule: whether the link may call `op` at all (checked once per call,
    /// before anything else).
    pub fn grant(&self, op: Operation) -> Result<(), Denied> {
        if self.allows(op) {
            return Ok(());
        }
        Err(Denied {
            operation: op,
            rule: format!("allow={} forbids {op}", self.describe_allow()),
        })
    }

    /// The rules on what a granted call names (config names, image references, a change of
    /// every host), known before any traffic.
    pub fn check_arguments(&self, op: Operation, target: &Target<'_>) -> Result<(), Denied> {
        let deny = |rule: String| {
            Err(Denied {
                operation: op,
                rule,
            })
        };
        if let Some(prefixes) = &self.config_prefixes {
            if let Some(name) = target.config_names.iter().find(|n| !covered(prefixes, n)) {
                return deny(format!(
                    "allowed_config_prefixes does not cover config `{name}`"
                ));
            }
        }
        if op.is_read_only() {
            return Ok(());
        }
        if let (Some(prefixes), true) = (&self.references, op.runs_image()) {
            if target.references.is_empty() {
                return deny(format!(
                    "allowed_references is set and this {op} names no reference"
                ));
            }
            if let Some(r) = target
                .references
                .iter()
                .find(|r| !reference_allowed(prefixes, r))
            {
                return deny(format!("allowed_references does not cover `{r}`"));
            }
        }
        if self.hosts.is_some() && op.host_scope() == HostScope::Every {
            return deny(format!("allowed_hosts is set and {op} changes every host"));
        }
        Ok(())
    }

    /// The `allowed_hosts` rule for a granted command to one host, once its host argument
    /// is resolved (`host` with labels if [`Policy::needs_host_labels`] said so).
    pub fn check_host(&self, op: Operation, host: Option<HostRef<'_>>) -> Result<(), Denied> {
        let Some(rules) = &self.hosts else {
            return Ok(());
        };
        if op.is_read_only() || op.host_scope() != HostScope::One {
            return Ok(());
        }
        let rule = match host {
            None => format!("allowed_hosts is set and this {op} names no host"),
            Some(host) if !host_allowed(rules, host) => {
                format!("allowed_hosts does not cover host {}", host.id)
            }
            Some(_) => return Ok(()),
        };
        Err(Denied {
            operation: op,
            rule,
        })
    }

    fn describe_allow(&self) -> String {
        let manage = self.manage_links.then_some(MANAGE_LINKS);
        match &self.allow {
            Allow::All => std::iter::once("all")
                .chain(manage)
                .collect::<Vec<_>>()
                .join(","),
            Allow::List { read_only, ops } => {
                let names = read_only
                    .then_some("read-only")
                    .into_iter()
                    .chain(ops.iter().map(|op| op.name()))
                    .chain(manage);
                names.collect::<Vec<_>>().join(",")
            }
        }
    }

    /// The effective policy in short, e.g. `read-only` or
    /// `all; allowed_references=ghcr.io/acme/` (reported by `provider-info`).
    pub fn describe(&self) -> String {
        let mut parts = vec![self.describe_allow()];
        if parts[0].is_empty() {
            parts[0] = "provider-info".into();
        }
        if let Some(rules) = &self.hosts {
            let rules: Vec<String> = rules
                .iter()
                .map(|r| match r {
                    HostRule::IdPrefix(p) => p.clone(),
                    HostRule::Label { key, value } => format!("label:{key}={value}"),
                })
                .collect();
            parts.push(format!("{KEY_ALLOWED_HOSTS}={}", rules.join(",")));
        }
        for (key, list) in [
            (KEY_ALLOWED_REFERENCES, &self.references),
            (KEY_ALLOWED_CONFIG_PREFIXES, &self.config_prefixes),
        ] {
            if let Some(list) = list {
                parts.push(format!("{key}={}", list.join(",")));
            }
        }
        parts.join("; ")
    }
}

fn parse_host_rule(rule: &str) -> Result<HostRule, PolicyError> {
    let Some(label) = rule.strip_prefix("label:") else {
        return Ok(HostRule::IdPrefix(rule.to_owned()));
    };
    match label.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok(HostRule::Label {
            key: key.trim().to_owned(),
            value: value.trim().to_owned(),
        }),
        _ => Err(PolicyError::BadLabelRule(rule.to_owned())),
    }
}

fn covered(prefixes: &[String], name: &str) -> bool {
    prefixes.iter().any(|p| name.starts_with(p.as_str()))
}

/// A `..` segment could step out of an allowed prefix (`file://` paths), so it never matches.
fn reference_allowed(prefixes: &[String], reference: &str) -> bool {
    !reference.split(['/', '\\']).any(|seg| seg == "..") && covered(prefixes, reference)
}

fn host_allowed(rules: &[HostRule], host: HostRef<'_>) -> bool {
    rules.iter().any(|rule| match rule {
        HostRule::IdPrefix(p) => host.id.starts_with(p.as_str()),
        HostRule::Label { key, value } => host
            .labels
            .and_then(|l| l.get(key))
            .is_some_and(|v| v == value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation::*;

    /// A whole call as these tests describe it: what it names and the host it is addressed
    /// to (shadows [`super::Target`], which leaves the host to [`Policy::check_host`]).
    #[derive(Clone, Debug, Default)]
    struct Target<'a> {
        host: Option<HostRef<'a>>,
        references: Vec<&'a str>,
        config_names: Vec<&'a str>,
    }

    impl Policy {
        /// Every rule, in the handler's order: [`Policy::grant`],
        /// [`Policy::check_arguments`], then [`Policy::check_host`].
        fn check(&self, op: Operation, target: &Target<'_>) -> Result<(), Denied> {
            self.precheck(op, target)?;
            self.check_host(op, target.host)
        }

        /// Every rule of [`Policy::check`] except the per-host one.
        fn precheck(&self, op: Operation, target: &Target<'_>) -> Result<(), Denied> {
            self.grant(op)?;
            let named = super::Target {
                references: target.references.clone(),
                config_names: target.config_names.clone(),
            };
            self.check_arguments(op, &named)
        }
    }

    fn policy(pairs: &[(&str, &str)]) -> Result<Policy, PolicyError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Policy::from_settings(&map)
    }

    fn host(id: &str) -> Target<'_> {
        Target {
            host: Some(HostRef { id, labels: None }),
            ..Target::default()
        }
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        assert_eq!(Operation::ALL.len(), 24);
        let names: BTreeSet<_> = Operation::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names.len(), Operation::ALL.len());
        for op in Operation::ALL {
            assert_eq!(op.name().parse::<Operation>(), Ok(*op));
        }
        assert!("scale_component".parse::<Operation>().is_err());
    }

    #[test]
    fn default_is_read_only() {
        let p = policy(&[("lattice", "default")]).unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.describe(), "read-only");
        for op in Operation::ALL {
            assert_eq!(
                p.check(*op, &Target::default()).is_ok(),
                op.is_read_only(),
                "{op}"
            );
        }
        let denied = p.check(ScaleComponent, &Target::default()).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "allow=read-only forbids scale-component"
        );
    }

    #[test]
    fn all_allows_everything() {
        let p = policy(&[("allow", " all ")]).unwrap();
        assert!(Operation::ALL
            .iter()
            .all(|op| p.check(*op, &Target::default()).is_ok()));
        assert_eq!(p.describe(), "all");
    }

    #[test]
    fn manage_links_is_granted_only_by_name() {
        let all = policy(&[("allow", "all")]).unwrap();
        assert!(!all.manages_links(), "all does not imply manage-links");
        let admin = policy(&[("allow", "all, manage-links")]).unwrap();
        assert!(admin.manages_links() && admin.allows(StopHost));
        assert_eq!(admin.describe(), "all,manage-links");
        let listed = policy(&[("allow", "read-only,put-config,manage-links")]).unwrap();
        assert!(listed.manages_links() && listed.allows(PutConfig) && !listed.allows(PutLink));
        assert_eq!(listed.describe(), "read-only,put-config,manage-links");
        assert!(!Policy::default().manages_links());
    }

    #[test]
    fn allow_list_grants_only_listed_and_wait_forms() {
        let p = policy(&[("allow", "get-hosts, scale-component,")]).unwrap();
        assert!(p.allows(GetHosts) && p.allows(ScaleComponent) && p.allows(ScaleComponentAndWait));
        assert!(p.allows(ProviderInfo), "provider-info is always allowed");
        assert!(!p.allows(GetLinks) && !p.allows(StopHost));
        // A wait form alone does not grant its base.
        let p = policy(&[("allow", "start-provider-and-wait")]).unwrap();
        assert!(p.allows(StartProviderAndWait) && !p.allows(StartProvider));
        let p = policy(&[("allow", "read-only,put-config")]).unwrap();
        assert!(p.allows(GetConfig) && p.allows(PutConfig) && !p.allows(DeleteConfig));
        assert_eq!(p.describe(), "read-only,put-config");
        let e = p.check(DeleteConfig, &Target::default()).unwrap_err();
        assert_eq!(e.rule, "allow=read-only,put-config forbids delete-config");
    }

    #[test]
    fn bad_settings_are_errors_never_allow_all() {
        assert_eq!(
            policy(&[("allow", "get-hosts,scale,nuke")]),
            Err(PolicyError::UnknownOperations(vec![
                "scale".into(),
                "nuke".into()
            ]))
        );
        assert_eq!(
            policy(&[("allow", " , ")]),
            Err(PolicyError::Empty("allow"))
        );
        assert_eq!(
            policy(&[("allow", "all"), ("allowed_references", "")]),
            Err(PolicyError::Empty("allowed_references"))
        );
        assert_eq!(
            policy(&[("allow", "all"), ("allowed_host", "N")]),
            Err(PolicyError::UnknownKey("allowed_host".into()))
        );
        assert_eq!(
            policy(&[(" ALLOW", "all")]).map(|p| p.describe()),
            Ok("all".into())
        );
        for bad in ["label:", "label:=x", "label:novalue"] {
            assert_eq!(
                policy(&[("allowed_hosts", bad)]),
                Err(PolicyError::BadLabelRule(bad.into()))
            );
        }
        let msg = policy(&[("allow", "nuke")]).unwrap_err().to_string();
        assert!(msg.contains("nuke"), "{msg}");
    }

    #[test]
    fn hosts_by_id_prefix() {
        let p = policy(&[("allow", "all"), ("allowed_hosts", "NAAA,NBBBFULLID")]).unwrap();
        assert!(p.check(ScaleComponent, &host("NAAA123")).is_ok());
        assert!(p.check(StopHost, &host("NBBBFULLID")).is_ok());
        let e = p.check(StopHost, &host("NCCC")).unwrap_err();
        assert_eq!(e.rule, "allowed_hosts does not cover host NCCC");
        // Fail closed when a host command names no host, or changes every host.
        assert!(p.check(PutLabel, &Target::default()).is_err());
        assert!(
            p.precheck(PutLabel, &Target::default()).is_ok(),
            "host comes later"
        );
        assert!(p.precheck(PutRegistries, &Target::default()).is_err());
        assert!(p
            .check(PutRegistries, &Target::default())
            .unwrap_err()
            .rule
            .contains("every host"));
        // Reads and lattice-wide data are not host-restricted.
        assert!(p.check(GetHostInventory, &host("NCCC")).is_ok());
        assert!(p.check(PutLink, &Target::default()).is_ok());
        assert!(!p.needs_host_labels(StopHost, "NCCC"), "no label rules");
    }

    #[test]
    fn hosts_by_label() {
        let p = policy(&[("allow", "all"), ("allowed_hosts", "NAAA,label:zone=edge")]).unwrap();
        assert!(p.needs_host_labels(StopHost, "NCCC"));
        assert!(!p.needs_host_labels(StopHost, "NAAA1"), "id rule decides");
        assert!(
            !p.needs_host_labels(GetHostInventory, "NCCC"),
            "reads are not restricted"
        );
        assert!(!p.needs_host_labels(PutRegistries, "NCCC"));
        let edge: BTreeMap<_, _> = [("zone".to_string(), "edge".to_string())].into();
        let core: BTreeMap<_, _> = [("zone".to_string(), "core".to_string())].into();
        let with = |labels| Target {
            host: Some(HostRef {
                id: "NCCC",
                labels: Some(labels),
            }),
            ..Target::default()
        };
        assert!(p.check(ScaleComponent, &with(&edge)).is_ok());
        assert!(p.check(ScaleComponent, &with(&core)).is_err());
        assert!(
            p.check(ScaleComponent, &host("NCCC")).is_err(),
            "labels unknown: refused"
        );
        let ro = policy(&[("allowed_hosts", "label:zone=edge")]).unwrap();
        assert!(ro.grant(StopHost).is_err(), "not allowed anyway");
        assert_eq!(ro.describe(), "read-only; allowed_hosts=label:zone=edge");
    }

    #[test]
    fn reference_prefixes() {
        let p = policy(&[
            ("allow", "all"),
            ("allowed_references", "ghcr.io/acme/,file:///srv/"),
        ])
        .unwrap();
        let refs = |r| Target {
            references: vec![r],
            ..Target::default()
        };
        assert!(p
            .check(ScaleComponent, &refs("ghcr.io/acme/app:1.0"))
            .is_ok());
        assert!(p
            .check(StartProviderAndWait, &refs("file:///srv/p.par.gz"))
            .is_ok());
        let e = p
            .check(UpdateComponent, &refs("ghcr.io/evil/app:1"))
            .unwrap_err();
        assert_eq!(
            e.rule,
            "allowed_references does not cover `ghcr.io/evil/app:1`"
        );
        assert!(p
            .check(StartProvider, &refs("file:///srv/../etc/p.par.gz"))
            .is_err());
        assert!(
            p.check(ScaleComponent, &Target::default()).is_err(),
            "no reference: refused"
        );
        // Auctions only ask; stop-provider names no image.
        assert!(p
            .check(PerformComponentAuction, &refs("ghcr.io/evil/x"))
            .is_ok());
        assert!(p.check(StopProvider, &Target::default()).is_ok());
    }

    #[test]
    fn config_prefixes_apply_to_reads_too() {
        let p = policy(&[("allow", "all"), ("allowed_config_prefixes", "app-")]).unwrap();
        let cfg = |names| Target {
            config_names: names,
            ..Target::default()
        };
        assert!(p.check(PutConfig, &cfg(vec!["app-db"])).is_ok());
        assert!(p.check(PutLink, &cfg(vec!["app-a", "app-b"])).is_ok());
        let e = p.check(GetConfig, &cfg(vec!["secret-db"])).unwrap_err();
        assert_eq!(
            e.rule,
            "allowed_config_prefixes does not cover config `secret-db`"
        );
        assert!(p
            .check(ScaleComponent, &cfg(vec!["app-x", "other"]))
            .is_err());
        assert_eq!(p.describe(), "all; allowed_config_prefixes=app-");
    }
}
