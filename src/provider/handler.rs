//! The exported `lattice-control` handler: one small function per WIT function.
//!
//! Every call runs in `LatticeControlProvider::call`: one lookup of the caller's link,
//! which refuses what the policy does not grant before any traffic. A control command then
//! takes the one generic path, `admit`: its arguments converted and checked once (bad
//! ones fail before any traffic), the policy's rules on what it names, its host argument
//! resolved and the host rule checked; the client sends it as it is
//! ([`ctl::Client::command`]) and the answer is converted back. The tracing span of a call
//! carries operation, source component, link name, lattice, outcome and latency, never
//! arguments (they may carry credentials).
//!
//! Every change made through the provider is audited: one info line per successful change
//! naming operation, caller (source component, link name) and what changed (host,
//! component, provider, link or config name; never a value). Repeats of the same change by
//! the same link are summarized like refusals (see [`super::log_limit`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use tracing::{debug, field, info, info_span, Instrument as _, Span};
use wasmcloud_provider_sdk::Context;

use super::config;
use super::guard;
use super::links::{LinkError, LinkHandle, LinkKey};
use super::policy::{HostRef, Operation, Target};
use super::LatticeControlProvider;
use crate::bindings::exports::wasmcloud::lattice_control::lattice_control::Handler;
use crate::bindings::wasmcloud::lattice_control::{events as ev, load, types as wit};
use crate::convert::{self, call_timeout, hash_from_wit, registries_from_wit};
use crate::ctl;

/// What a function of the exported interface returns: a failure of the provider itself
/// outside (none here), the call's own error inside.
type CallResult<T> = anyhow::Result<Result<T, wit::CtlError>>;
type Outcome<T> = Result<T, wit::CtlError>;

tokio::task_local! {
    /// What the current call changes, set once it is admitted (see [`audit_target`]).
    static CHANGES: RefCell<Option<String>>;
}

/// Records what the current call changes, for its audit line.
fn audit_target(changes: String) {
    let _ = CHANGES.try_with(|c| *c.borrow_mut() = Some(changes));
}

/// Added to `no-responders` of a link on the provider's RPC connection: the likeliest cause
/// is a lattice whose control traffic is on another NATS account.
const RPC_CONNECTION_HINT: &str = " (this link has no connection keys, so it uses the provider's RPC connection; where the lattice's control traffic is on another NATS account, set the link's ctl_* keys, or nats_url, for that account)";

const NO_SOURCE: &str =
    "the call named no source component (no `source-id` header); only linked components may call";

/// The `timeout` of a call still running when the replica stopped (see
/// [`LatticeControlProvider::cut_off`]).
const STOPPED: &str = "the provider replica serving this call stopped before it ended; a change it made may or may not have been applied (another replica takes the next call)";

impl From<LinkError> for wit::CtlError {
    fn from(e: LinkError) -> Self {
        let m = e.to_string();
        match e {
            LinkError::NotLinked(_) => Self::NotLinked(m),
            LinkError::Invalid(_) => Self::InvalidArgument(m),
            LinkError::Transport(_) => Self::Transport(m),
        }
    }
}

/// The caller's component id (if the call said) and link name (`default` if it did not).
fn caller(cx: Option<&Context>) -> (Option<&str>, &str) {
    match cx {
        Some(c) => (c.component.as_deref(), c.link_name()),
        None => (None, "default"),
    }
}

/// The trace context the control traffic of a call carries: the provider's own span when
/// OpenTelemetry is on (a child of the caller's), else the caller's `traceparent` and
/// `tracestate` as they came, so a trace crosses the provider either way. Without a tracer
/// the injector stays empty and nothing is allocated for it.
fn trace_headers(cx: Option<&Context>) -> ctl::trace::TraceHeaders {
    super::span::own_span_or(|| {
        cx.map(|cx| super::span::from_map(&cx.tracing))
            .unwrap_or_default()
    })
}

impl LatticeControlProvider {
    /// The wrapper of every call: the span, the caller's link key, outcome and latency.
    async fn traced<T, F, Fut>(&self, cx: Option<Context>, op: Operation, f: F) -> CallResult<T>
    where
        F: FnOnce(LinkKey) -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        let started = Instant::now();
        let (source, link_name) = caller(cx.as_ref());
        let span = info_span!(
            "lattice_control",
            operation = op.name(),
            source_component = source.unwrap_or(""),
            link_name,
            lattice = field::Empty,
            outcome = field::Empty,
            latency_ms = field::Empty,
        );
        let (result, changed) = CHANGES
            .scope(RefCell::new(None), async {
                wasmcloud_provider_sdk::propagate_trace_for_ctx!(cx);
                let trace = trace_headers(cx.as_ref());
                let result = match source {
                    Some(source) => {
                        let call = f(LinkKey::new(source, link_name));
                        tokio::select! {
                            result = ctl::trace::with_context(trace, call) => result,
                            () = self.cut_off() => Err(wit::CtlError::Timeout(STOPPED.to_string())),
                        }
                    }
                    None => Err(wit::CtlError::NotLinked(NO_SOURCE.to_string())),
                };
                (result, CHANGES.with(|c| c.borrow_mut().take()))
            })
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => convert::error_kind(e),
        };
        span.record("outcome", outcome);
        span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
        span.in_scope(|| {
            // one line per call at debug; the span names source, operation and outcome, and
            // a refusal's rule text stays out of the log
            debug!("lattice-control call done");
            if let (Ok(_), Some(target), false) = (&result, &changed, op.is_read_only()) {
                let key = (
                    source.unwrap_or_default().to_string(),
                    link_name.to_string(),
                    op.name(),
                    target.clone(),
                );
                if let Some(count) = self.inner.audit_limit.record(key, Instant::now()) {
                    info!(target = %target, count, "lattice changed through the provider (audit: at most one line per 10 s per link, operation and target)");
                }
            }
            if result.is_err() {
                let key = (
                    source.unwrap_or_default().to_string(),
                    link_name.to_string(),
                    op.name(),
                    outcome,
                );
                if let Some(count) = self.inner.log_limit.record(key, Instant::now()) {
                    if outcome == "not-permitted" {
                        info!(count, "lattice-control calls refused by link policy (summary: at most one line per 10 s per link, operation and outcome)");
                    } else {
                        info!(count, "lattice-control calls failed (summary: at most one line per 10 s per link, operation and outcome)");
                    }
                }
            }
        });
        Ok(result)
    }

    /// [`Self::traced`] with the caller's link connected and `op` granted by its policy.
    async fn call<T, F, Fut>(&self, cx: Option<Context>, op: Operation, f: F) -> CallResult<T>
    where
        F: FnOnce(LinkHandle) -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        self.traced(cx, op, |key| async move {
            // one lookup: the grant is checked under it, before any traffic, even before
            // connecting; restrictions on hosts, references and configs are checked by
            // `admit` once the arguments are known
            let granted = self
                .links()
                .get_checked(&key, |resolved| {
                    resolved
                        .policy
                        .grant(op)
                        .map_err(|d| Refused::Policy(not_permitted(op, Some(d))))
                })
                .await;
            let link = match granted {
                Ok(link) => link,
                Err(Refused::Link(LinkError::NotLinked(k))) => {
                    return Err(self.not_linked(LinkError::NotLinked(k), &key).await)
                }
                Err(Refused::Link(e)) => return Err(e.into()),
                Err(Refused::Policy(e)) => return Err(e),
            };
            Span::current().record("lattice", link.lattice());
            let settings = std::sync::Arc::clone(&link.resolved.settings);
            match f(link).await {
                Err(wit::CtlError::NoResponders(m))
                    if settings.connection == config::own_connection(&self.links().defaults()) =>
                {
                    Err(wit::CtlError::NoResponders(format!(
                        "{m}{RPC_CONNECTION_HINT}"
                    )))
                }
                other => other,
            }
        })
        .await
    }
}

/// Why a call cannot use its link: the link's own state, or its policy's grant.
enum Refused {
    Link(LinkError),
    Policy(wit::CtlError),
}

impl From<LinkError> for Refused {
    fn from(e: LinkError) -> Self {
        Self::Link(e)
    }
}

impl LatticeControlProvider {
    /// The caller's link settings; when the provider holds no such link but the host
    /// lists it, the error says why it never arrived.
    async fn resolved(&self, key: &LinkKey) -> Outcome<super::links::Resolved> {
        match self.links().resolved(key) {
            Err(e @ LinkError::NotLinked(_)) => Err(self.not_linked(e, key).await),
            other => other.map_err(Into::into),
        }
    }

    /// `not-linked` for `key`, with why the link never arrived when the host lists it.
    async fn not_linked(&self, e: LinkError, key: &LinkKey) -> wit::CtlError {
        let base = e.to_string();
        let why = match self.host_view() {
            Some(view) => view.explain_not_linked(key).await,
            None => None,
        };
        wit::CtlError::NotLinked(match why {
            Some(why) => format!("{base}: {why}"),
            None => base,
        })
    }
}

fn not_permitted(op: Operation, denied: Option<super::policy::Denied>) -> wit::CtlError {
    wit::CtlError::NotPermitted(match denied {
        Some(d) => d.to_string(),
        None => format!("the link's policy forbids {op}"),
    })
}

/// The generic path of a control command, after [`LatticeControlProvider::call`] granted
/// `op`: its arguments checked (once), the policy's rules on what it names, its host
/// argument resolved, and the policy's host rule on the resolved host (labels fetched only
/// when a label rule decides). The command is then ready to send as it is.
async fn admit<C: ctl::Command>(
    link: &LinkHandle,
    op: Operation,
    command: impl Into<C>,
) -> Outcome<ctl::Checked<C>> {
    let mut cmd = ctl::Checked::new(command.into())?;
    let policy = link.policy();
    let denied = |d| not_permitted(op, Some(d));
    {
        let target = Target {
            references: cmd.get().references(),
            config_names: cmd.get().config_names(),
        };
        policy.check_arguments(op, &target).map_err(denied)?;
    }
    if cmd.get().host().is_some() {
        link.client.resolve_command_host(&mut cmd).await?;
        let host = cmd.get().host().unwrap_or_default();
        let labels = if policy.needs_host_labels(op, host) {
            Some(link.client.inventory_of(host).await?.labels)
        } else {
            None
        };
        let host = HostRef {
            id: host,
            labels: labels.as_ref(),
        };
        policy.check_host(op, Some(host)).map_err(denied)?;
    }
    // named with the resolved host id, once the command is admitted
    audit_target(cmd.get().changes());
    Ok(cmd)
}

/// The policy's rules on what a call that is no command names (a read of one config,
/// registries of every host).
fn permit(link: &LinkHandle, op: Operation, config_names: &[&str]) -> Outcome<()> {
    let target = Target {
        references: Vec::new(),
        config_names: config_names.to_vec(),
    };
    link.policy()
        .check_arguments(op, &target)
        .map_err(|d| not_permitted(op, Some(d)))
}

impl LatticeControlProvider {
    /// This provider's id, when it runs under a host.
    fn provider_id(&self) -> Option<&str> {
        self.host_view().map(|v| &*v.provider_id)
    }

    /// Refuses a put (`new_values`) or delete of config `name` that would change
    /// lattice-control link settings, unless the link holds `manage-links` (see [`guard`]).
    async fn guard_config(
        &self,
        link: &LinkHandle,
        name: &str,
        new_values: Option<&HashMap<String, String>>,
    ) -> Outcome<()> {
        if link.policy().manages_links() {
            return Ok(());
        }
        let refused = |why| wit::CtlError::NotPermitted(why);
        // what a put writes is refused before any request
        if let Some(why) = new_values.and_then(|v| guard::settings_written(name, v)) {
            return Err(refused(why));
        }
        let (links, current) =
            tokio::try_join!(link.client.get_links(), link.client.get_config(name))?;
        let why = guard::config_change_refused(self.provider_id(), name, current.as_ref(), &links);
        why.map_or(Ok(()), |why| Err(refused(why)))
    }

    /// Refuses starting a replica of this provider, unless the link holds `manage-links`.
    fn guard_provider_start(&self, link: &LinkHandle, started_id: &str) -> Outcome<()> {
        if link.policy().manages_links() {
            return Ok(());
        }
        guard::provider_start_refused(self.provider_id(), started_id)
            .map_or(Ok(()), |why| Err(wit::CtlError::NotPermitted(why)))
    }

    /// Refuses a link put or delete that would change a lattice-control link, unless the
    /// link holds `manage-links` (see [`guard`]).
    async fn guard_link(
        &self,
        link: &LinkHandle,
        refused: impl FnOnce(Option<&str>, &[ctl::Link]) -> Option<String>,
    ) -> Outcome<()> {
        if link.policy().manages_links() {
            return Ok(());
        }
        let links = link.client.get_links().await?;
        refused(self.provider_id(), &links)
            .map_or(Ok(()), |why| Err(wit::CtlError::NotPermitted(why)))
    }
}

/// What the provider checks of a command beyond its link's policy, after [`admit`]: that it
/// leaves this provider's links and replicas alone unless the link holds `manage-links` (see
/// [`guard`]). Most commands need nothing more.
trait Guarded: ctl::Command {
    async fn guard(&self, provider: &LatticeControlProvider, link: &LinkHandle) -> Outcome<()> {
        let _ = (provider, link);
        Ok(())
    }
}

impl Guarded for ctl::ScaleComponentCommand {}
impl Guarded for ctl::UpdateComponentCommand {}
impl Guarded for ctl::StopProviderCommand {}
impl Guarded for ctl::StopHostCommand {}
impl Guarded for ctl::PutLabelCommand {}
impl Guarded for ctl::DeleteLabelCommand {}

impl Guarded for ctl::StartProviderCommand {
    async fn guard(&self, provider: &LatticeControlProvider, link: &LinkHandle) -> Outcome<()> {
        provider.guard_provider_start(link, &self.provider_id)
    }
}

impl Guarded for ctl::Link {
    async fn guard(&self, provider: &LatticeControlProvider, link: &LinkHandle) -> Outcome<()> {
        provider
            .guard_link(link, |id, links| guard::link_put_refused(id, self, links))
            .await
    }
}

impl Guarded for ctl::DeleteInterfaceLinkDefinitionRequest {
    async fn guard(&self, provider: &LatticeControlProvider, link: &LinkHandle) -> Outcome<()> {
        provider
            .guard_link(link, |id, links| {
                guard::link_delete_refused(id, self, links)
            })
            .await
    }
}

impl Guarded for ctl::PutConfigCommand {
    async fn guard(&self, provider: &LatticeControlProvider, link: &LinkHandle) -> Outcome<()> {
        provider
            .guard_config(link, &self.name, Some(&self.values))
            .await
    }
}

impl Guarded for ctl::DeleteConfigCommand {
    async fn guard(&self, provider: &LatticeControlProvider, link: &LinkHandle) -> Outcome<()> {
        provider.guard_config(link, &self.name, None).await
    }
}

impl LatticeControlProvider {
    /// A command the hosts acknowledge: `op` granted, the command admitted (see [`admit`])
    /// and guarded (see [`Guarded`]), sent, and its ack converted.
    async fn command<C: Guarded>(
        &self,
        cx: Option<Context>,
        op: Operation,
        command: impl Into<C>,
    ) -> CallResult<wit::Ack> {
        self.call(cx, op, |link| async move {
            let cmd = admit::<C>(&link, op, command).await?;
            cmd.get().guard(self, &link).await?;
            Ok(link.client.command(cmd).await?.into())
        })
        .await
    }

    /// The "and wait" form of [`Self::command`]: the wait options checked first, then the
    /// lattice event that reports the command's outcome, converted.
    async fn command_and_wait<C: Guarded + ctl::WaitCommand>(
        &self,
        cx: Option<Context>,
        op: Operation,
        command: impl Into<C>,
        wait: wit::WaitOptions,
    ) -> CallResult<ev::LatticeEvent> {
        self.call(cx, op, |link| async move {
            let within = convert::events::wait_timeout(&wait)?;
            let cmd = admit::<C>(&link, op, command).await?;
            cmd.get().guard(self, &link).await?;
            let event = link.client.command_and_wait(cmd, within).await?;
            Ok(convert::events::lattice_event(&event, link.lattice()))
        })
        .await
    }
}

fn wit_list<C, W: From<C>>(items: Vec<C>) -> Vec<W> {
    items.into_iter().map(W::from).collect()
}

impl Handler<Option<Context>> for LatticeControlProvider {
    async fn get_hosts(
        &self,
        cx: Option<Context>,
        query: wit::HostQuery,
    ) -> CallResult<Vec<wit::Host>> {
        self.call(cx, Operation::GetHosts, |link| async move {
            call_timeout(query.timeout_ms)?;
            Ok(wit_list(link.client.get_hosts_with(query.into()).await?))
        })
        .await
    }

    async fn get_host_inventory(
        &self,
        cx: Option<Context>,
        host_id: String,
    ) -> CallResult<wit::HostInventory> {
        self.call(cx, Operation::GetHostInventory, |link| async move {
            Ok(link.client.resolved_host_inventory(&host_id).await?.into())
        })
        .await
    }

    async fn get_claims(
        &self,
        cx: Option<Context>,
        options: wit::QueryOptions,
    ) -> CallResult<Vec<wit::StringMap>> {
        self.call(cx, Operation::GetClaims, |link| async move {
            let claims = link
                .client_within(call_timeout(options.timeout_ms)?)
                .get_claims()
                .await?;
            Ok(claims.iter().map(convert::map_to_wit).collect())
        })
        .await
    }

    async fn perform_component_auction(
        &self,
        cx: Option<Context>,
        request: wit::ComponentAuctionRequest,
        options: wit::QueryOptions,
    ) -> CallResult<Vec<wit::ComponentAuctionAck>> {
        self.call(cx, Operation::PerformComponentAuction, |link| async move {
            let within = call_timeout(options.timeout_ms)?
                .unwrap_or(link.resolved.settings.client.scatter_timeout);
            let acks = link
                .client
                .perform_component_auction_within(request.into(), within)
                .await?;
            Ok(wit_list(acks))
        })
        .await
    }

    async fn perform_provider_auction(
        &self,
        cx: Option<Context>,
        request: wit::ProviderAuctionRequest,
        options: wit::QueryOptions,
    ) -> CallResult<Vec<wit::ProviderAuctionAck>> {
        self.call(cx, Operation::PerformProviderAuction, |link| async move {
            let within = call_timeout(options.timeout_ms)?
                .unwrap_or(link.resolved.settings.client.scatter_timeout);
            let acks = link
                .client
                .perform_provider_auction_within(request.into(), within)
                .await?;
            Ok(wit_list(acks))
        })
        .await
    }

    async fn scale_component(
        &self,
        cx: Option<Context>,
        command: wit::ScaleComponentCommand,
    ) -> CallResult<wit::Ack> {
        self.command::<ctl::ScaleComponentCommand>(cx, Operation::ScaleComponent, command)
            .await
    }

    async fn scale_component_and_wait(
        &self,
        cx: Option<Context>,
        command: wit::ScaleComponentCommand,
        wait: wit::WaitOptions,
    ) -> CallResult<ev::LatticeEvent> {
        self.command_and_wait::<ctl::ScaleComponentCommand>(
            cx,
            Operation::ScaleComponentAndWait,
            command,
            wait,
        )
        .await
    }

    async fn update_component(
        &self,
        cx: Option<Context>,
        command: wit::UpdateComponentCommand,
    ) -> CallResult<wit::Ack> {
        self.command::<ctl::UpdateComponentCommand>(cx, Operation::UpdateComponent, command)
            .await
    }

    async fn start_provider(
        &self,
        cx: Option<Context>,
        command: wit::StartProviderCommand,
    ) -> CallResult<wit::Ack> {
        self.command::<ctl::StartProviderCommand>(cx, Operation::StartProvider, command)
            .await
    }

    async fn start_provider_and_wait(
        &self,
        cx: Option<Context>,
        command: wit::StartProviderCommand,
        wait: wit::WaitOptions,
    ) -> CallResult<ev::LatticeEvent> {
        self.command_and_wait::<ctl::StartProviderCommand>(
            cx,
            Operation::StartProviderAndWait,
            command,
            wait,
        )
        .await
    }

    async fn stop_provider(
        &self,
        cx: Option<Context>,
        command: wit::StopProviderCommand,
    ) -> CallResult<wit::Ack> {
        self.command::<ctl::StopProviderCommand>(cx, Operation::StopProvider, command)
            .await
    }

    async fn stop_provider_and_wait(
        &self,
        cx: Option<Context>,
        command: wit::StopProviderCommand,
        wait: wit::WaitOptions,
    ) -> CallResult<ev::LatticeEvent> {
        self.command_and_wait::<ctl::StopProviderCommand>(
            cx,
            Operation::StopProviderAndWait,
            command,
            wait,
        )
        .await
    }

    async fn stop_host(
        &self,
        cx: Option<Context>,
        command: wit::StopHostCommand,
    ) -> CallResult<wit::Ack> {
        self.command::<ctl::StopHostCommand>(cx, Operation::StopHost, command)
            .await
    }

    async fn put_link(&self, cx: Option<Context>, link_def: wit::Link) -> CallResult<wit::Ack> {
        self.command::<ctl::Link>(cx, Operation::PutLink, link_def)
            .await
    }

    async fn delete_link(
        &self,
        cx: Option<Context>,
        request: wit::DeleteLinkRequest,
    ) -> CallResult<wit::Ack> {
        self.command::<ctl::DeleteInterfaceLinkDefinitionRequest>(
            cx,
            Operation::DeleteLink,
            request,
        )
        .await
    }

    async fn get_links(
        &self,
        cx: Option<Context>,
        options: wit::QueryOptions,
    ) -> CallResult<Vec<wit::Link>> {
        self.call(cx, Operation::GetLinks, |link| async move {
            Ok(wit_list(
                link.client_within(call_timeout(options.timeout_ms)?)
                    .get_links()
                    .await?,
            ))
        })
        .await
    }

    async fn put_config(
        &self,
        cx: Option<Context>,
        name: String,
        values: wit::StringMap,
    ) -> CallResult<wit::Ack> {
        let values = hash_from_wit(values);
        let put = ctl::PutConfigCommand { name, values };
        self.command::<ctl::PutConfigCommand>(cx, Operation::PutConfig, put)
            .await
    }

    async fn get_config(
        &self,
        cx: Option<Context>,
        name: String,
    ) -> CallResult<Option<wit::StringMap>> {
        let op = Operation::GetConfig;
        self.call(cx, op, |link| async move {
            permit(&link, op, &[&name])?;
            let mut values = link.client.get_config(&name).await?;
            if let (Some(values), false) = (values.as_mut(), link.policy().manages_links()) {
                guard::withhold_credentials(values);
            }
            Ok(values.as_ref().map(convert::map_to_wit))
        })
        .await
    }

    async fn delete_config(&self, cx: Option<Context>, name: String) -> CallResult<wit::Ack> {
        let delete = ctl::DeleteConfigCommand { name };
        self.command::<ctl::DeleteConfigCommand>(cx, Operation::DeleteConfig, delete)
            .await
    }

    async fn put_label(
        &self,
        cx: Option<Context>,
        host_id: String,
        key: String,
        value: String,
    ) -> CallResult<wit::Ack> {
        let label = ctl::PutLabelCommand {
            host_id,
            key,
            value,
        };
        self.command::<ctl::PutLabelCommand>(cx, Operation::PutLabel, label)
            .await
    }

    async fn delete_label(
        &self,
        cx: Option<Context>,
        host_id: String,
        key: String,
    ) -> CallResult<wit::Ack> {
        let label = ctl::DeleteLabelCommand { host_id, key };
        self.command::<ctl::DeleteLabelCommand>(cx, Operation::DeleteLabel, label)
            .await
    }

    async fn put_registries(
        &self,
        cx: Option<Context>,
        registries: Vec<(String, wit::RegistryCredential)>,
    ) -> CallResult<wit::Ack> {
        let op = Operation::PutRegistries;
        self.call(cx, op, |link| async move {
            permit(&link, op, &[])?;
            audit_target("registries of every host".to_string());
            let map = registries_from_wit(registries);
            Ok(link.client.put_registries(map).await?.into())
        })
        .await
    }

    async fn provider_info(
        &self,
        cx: Option<Context>,
        options: wit::QueryOptions,
    ) -> CallResult<wit::LinkInfo> {
        // answered locally: the options only keep the call's parameters non-empty
        let _ = options;
        self.traced(cx, Operation::ProviderInfo, |key| async move {
            let resolved = self.resolved(&key).await?;
            let policy = &resolved.policy;
            Span::current().record("lattice", resolved.lattice());
            Ok(wit::LinkInfo {
                version: env!("CARGO_PKG_VERSION").to_string(),
                lattice: resolved.lattice().to_string(),
                source_id: key.source_id,
                link_name: key.link_name,
                policy: policy.describe(),
                allowed_operations: Operation::ALL
                    .iter()
                    .filter(|op| policy.allows(**op))
                    .map(|op| op.name().to_string())
                    .collect(),
                event_subscriptions: resolved.event_types(),
            })
        })
        .await
    }

    async fn get_component_load(
        &self,
        cx: Option<Context>,
        query: load::LoadQuery,
    ) -> CallResult<load::LoadReport> {
        let op = Operation::GetComponentLoad;
        self.call(cx, op, |link| async move {
            let store = self.load();
            let lattice = link.lattice();
            let host = match query.host_id {
                None => None,
                // a host that reports is named as the store has it; any other is resolved
                // as every host argument is (id prefix, friendly name)
                Some(spec) if store.hosts(lattice).contains(&spec) => Some(spec),
                Some(spec) => Some(link.client.resolve_host(&spec).await?),
            };
            let filter = crate::provider::load::report::LoadFilter {
                component: query.component_id,
                host,
            };
            let report = store.report(lattice, &filter, Instant::now());
            let json = serde_json::to_value(&report)
                .map_err(|e| wit::CtlError::Decode(format!("load report: {e}")))?;
            Ok(convert::events::load_report(&json))
        })
        .await
    }
}
