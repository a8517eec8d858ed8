//! The exported `lattice-control` handler: one small function per WIT function.
//!
//! Every call runs in [`LatticeControlProvider::call`]: find the caller's link, refuse what
//! the policy does not grant, then the handler converts the arguments (bad ones fail before
//! any traffic), resolves host arguments, calls the control client and converts back. The
//! tracing span of a call carries operation, source component, link name, lattice, outcome
//! and latency, never arguments (they may carry credentials).

use std::future::Future;
use std::time::Instant;

use tracing::{debug, field, info, info_span, Instrument as _, Span};
use wasmcloud_provider_sdk::Context;

use super::bindings::exports::wasmcloud::lattice_control::lattice_control::Handler;
use super::bindings::wasmcloud::lattice_control::types as wit;
use super::links::{LinkError, LinkHandle, LinkKey};
use super::policy::{HostRef, Operation, Target};
use super::LatticeControlProvider;
use crate::convert::{self, call_timeout, hash_from_wit, registries_from_wit};
use crate::ctl::{self, validate};

type Reply<T> = anyhow::Result<Result<T, wit::CtlError>>;
type Outcome<T> = Result<T, wit::CtlError>;

const NO_SOURCE: &str =
    "the call named no source component (no `source-id` header); only linked components may call";

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
fn caller(cx: Option<&Context>) -> (Option<String>, String) {
    match cx {
        Some(c) => (c.component.clone(), c.link_name().to_string()),
        None => (None, "default".to_string()),
    }
}

/// The trace context the control traffic of a call carries: the provider's own span when
/// OpenTelemetry is on (a child of the caller's), else the caller's `traceparent` and
/// `tracestate` as they came, so a trace crosses the provider either way.
fn trace_headers(cx: Option<&Context>) -> ctl::trace::TraceHeaders {
    let own =
        wasmcloud_provider_sdk::wasmcloud_tracing::context::TraceContextInjector::default_with_span(
        );
    let own =
        ctl::trace::TraceHeaders::from_pairs(own.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if !own.is_empty() {
        return own;
    }
    match cx {
        Some(cx) => ctl::trace::TraceHeaders::from_pairs(
            cx.tracing.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        None => own,
    }
}

impl LatticeControlProvider {
    /// The wrapper of every call: the span, the caller's link key, outcome and latency.
    async fn traced<T, F, Fut>(&self, cx: Option<Context>, op: Operation, f: F) -> Reply<T>
    where
        F: FnOnce(LinkKey) -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        let started = Instant::now();
        let (source, link_name) = caller(cx.as_ref());
        let span = info_span!(
            "lattice_control",
            operation = op.name(),
            source_component = source.as_deref().unwrap_or(""),
            link_name = link_name.as_str(),
            lattice = field::Empty,
            outcome = field::Empty,
            latency_ms = field::Empty,
        );
        let result = async {
            wasmcloud_provider_sdk::propagate_trace_for_ctx!(cx);
            let trace = trace_headers(cx.as_ref());
            match source.as_deref() {
                Some(source) => {
                    let call = f(LinkKey::new(source, link_name.as_str()));
                    ctl::trace::with_context(trace, call).await
                }
                None => Err(wit::CtlError::NotLinked(NO_SOURCE.to_string())),
            }
        }
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
            if result.is_err() {
                let key = (source.unwrap_or_default(), link_name, op.name(), outcome);
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
    async fn call<T, F, Fut>(&self, cx: Option<Context>, op: Operation, f: F) -> Reply<T>
    where
        F: FnOnce(LinkHandle) -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        self.traced(cx, op, |key| async move {
            // refuse before any traffic, even before connecting; restrictions on hosts,
            // references and configs are checked by the handler once its arguments are known
            let policy = self.resolved(&key).await?.policy;
            if !policy.allows(op) {
                let denied = policy.check(op, &Target::default());
                return Err(not_permitted(op, denied.err()));
            }
            let link = self.links().get(&key).await?;
            Span::current().record("lattice", link.lattice());
            f(link).await
        })
        .await
    }
}

impl LatticeControlProvider {
    /// The caller's link settings; when the provider holds no such link but the host
    /// lists it, the error says why it never arrived.
    async fn resolved(&self, key: &LinkKey) -> Outcome<super::links::Resolved> {
        match self.links().resolved(key) {
            Err(LinkError::NotLinked(k)) => {
                let base = LinkError::NotLinked(k).to_string();
                let why = match self.host_view() {
                    Some(view) => view.explain_not_linked(key).await,
                    None => None,
                };
                Err(wit::CtlError::NotLinked(match why {
                    Some(why) => format!("{base}: {why}"),
                    None => base,
                }))
            }
            other => other.map_err(Into::into),
        }
    }
}

fn not_permitted(op: Operation, denied: Option<super::policy::Denied>) -> wit::CtlError {
    wit::CtlError::NotPermitted(match denied {
        Some(d) => d.to_string(),
        None => format!("the link's policy forbids {op}"),
    })
}

/// Checks `op` against the link's policy restrictions for what the call touches. Host
/// labels are fetched only when a label rule decides.
async fn permit(
    link: &LinkHandle,
    op: Operation,
    host: Option<&str>,
    references: &[&str],
    config_names: &[&str],
) -> Outcome<()> {
    let labels = match host {
        Some(h) if link.policy().needs_host_labels(op, h) => {
            Some(link.client.get_host_inventory(h).await?.labels)
        }
        _ => None,
    };
    let target = Target {
        host: host.map(|id| HostRef {
            id,
            labels: labels.as_ref(),
        }),
        references: references.to_vec(),
        config_names: config_names.to_vec(),
    };
    link.policy()
        .check(op, &target)
        .map_err(|d| not_permitted(op, Some(d)))
}

/// A host id from a full id, unique prefix or friendly name, then the policy check of a
/// command addressed to it.
async fn to_host(
    link: &LinkHandle,
    op: Operation,
    spec: &str,
    references: &[&str],
    config_names: &[&str],
) -> Outcome<String> {
    // every rule but the host's before resolving the host argument (a read)
    let target = Target {
        host: None,
        references: references.to_vec(),
        config_names: config_names.to_vec(),
    };
    link.policy()
        .precheck(op, &target)
        .map_err(|d| not_permitted(op, Some(d)))?;
    let host = link.client.resolve_host(spec).await?;
    permit(link, op, Some(&host), references, config_names).await?;
    Ok(host)
}

/// A command addressed to one host, as the policy sees it.
trait HostCommand: Sized {
    /// Trims and checks the arguments as the client would, before any traffic.
    fn checked(self) -> ctl::Result<Self>;
    fn host_mut(&mut self) -> &mut String;
    /// Image references the command runs.
    fn references(&self) -> Vec<&str>;
    /// Config names it attaches.
    fn config_names(&self) -> Vec<&str>;
}

macro_rules! host_commands {
    ($($ty:ident { refs: [$($r:ident),*], configs: $($c:ident)? })*) => {$(
        impl HostCommand for ctl::$ty {
            fn checked(self) -> ctl::Result<Self> {
                self.normalize()
            }
            fn host_mut(&mut self) -> &mut String {
                &mut self.host_id
            }
            fn references(&self) -> Vec<&str> {
                vec![$(self.$r.as_str()),*]
            }
            fn config_names(&self) -> Vec<&str> {
                #[allow(unused_mut)]
                let mut names = Vec::new();
                $(names.extend(self.$c.iter().map(String::as_str));)?
                names
            }
        }
    )*};
}

host_commands! {
    ScaleComponentCommand { refs: [component_ref], configs: config }
    UpdateComponentCommand { refs: [new_component_ref], configs: }
    StartProviderCommand { refs: [provider_ref], configs: config }
    StopProviderCommand { refs: [], configs: }
    StopHostCommand { refs: [], configs: }
}

/// A WIT command converted and checked, its host argument resolved, and the policy's
/// verdict on it.
async fn prepare<C: HostCommand>(
    link: &LinkHandle,
    op: Operation,
    command: impl Into<C>,
) -> Outcome<C> {
    let mut cmd = command.into().checked()?;
    let spec = cmd.host_mut().clone();
    let host = to_host(link, op, &spec, &cmd.references(), &cmd.config_names()).await?;
    *cmd.host_mut() = host;
    Ok(cmd)
}

fn wit_list<C, W: From<C>>(items: Vec<C>) -> Vec<W> {
    items.into_iter().map(W::from).collect()
}

impl Handler<Option<Context>> for LatticeControlProvider {
    async fn get_hosts(&self, cx: Option<Context>, query: wit::HostQuery) -> Reply<Vec<wit::Host>> {
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
    ) -> Reply<wit::HostInventory> {
        self.call(cx, Operation::GetHostInventory, |link| async move {
            let host = link.client.resolve_host(&host_id).await?;
            Ok(link.client.get_host_inventory(&host).await?.into())
        })
        .await
    }

    async fn get_claims(
        &self,
        cx: Option<Context>,
        options: wit::QueryOptions,
    ) -> Reply<Vec<wit::StringMap>> {
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
    ) -> Reply<Vec<wit::ComponentAuctionAck>> {
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
    ) -> Reply<Vec<wit::ProviderAuctionAck>> {
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
    ) -> Reply<wit::Ack> {
        let op = Operation::ScaleComponent;
        self.call(cx, op, |link| async move {
            let cmd: ctl::ScaleComponentCommand = prepare(&link, op, command).await?;
            Ok(link.client.scale_component(cmd).await?.into())
        })
        .await
    }

    async fn scale_component_and_wait(
        &self,
        cx: Option<Context>,
        command: wit::ScaleComponentCommand,
        wait: wit::WaitOptions,
    ) -> Reply<wit::LatticeEvent> {
        let op = Operation::ScaleComponentAndWait;
        self.call(cx, op, |link| async move {
            let within = convert::events::wait_timeout(&wait)?;
            let cmd: ctl::ScaleComponentCommand = prepare(&link, op, command).await?;
            let event = link.client.scale_component_and_wait(cmd, within).await?;
            Ok(convert::events::lattice_event(&event, link.lattice()))
        })
        .await
    }

    async fn update_component(
        &self,
        cx: Option<Context>,
        command: wit::UpdateComponentCommand,
    ) -> Reply<wit::Ack> {
        let op = Operation::UpdateComponent;
        self.call(cx, op, |link| async move {
            let cmd: ctl::UpdateComponentCommand = prepare(&link, op, command).await?;
            Ok(link.client.update_component(cmd).await?.into())
        })
        .await
    }

    async fn start_provider(
        &self,
        cx: Option<Context>,
        command: wit::StartProviderCommand,
    ) -> Reply<wit::Ack> {
        let op = Operation::StartProvider;
        self.call(cx, op, |link| async move {
            let cmd: ctl::StartProviderCommand = prepare(&link, op, command).await?;
            Ok(link.client.start_provider(cmd).await?.into())
        })
        .await
    }

    async fn start_provider_and_wait(
        &self,
        cx: Option<Context>,
        command: wit::StartProviderCommand,
        wait: wit::WaitOptions,
    ) -> Reply<wit::LatticeEvent> {
        let op = Operation::StartProviderAndWait;
        self.call(cx, op, |link| async move {
            let within = convert::events::wait_timeout(&wait)?;
            let cmd: ctl::StartProviderCommand = prepare(&link, op, command).await?;
            let event = link.client.start_provider_and_wait(cmd, within).await?;
            Ok(convert::events::lattice_event(&event, link.lattice()))
        })
        .await
    }

    async fn stop_provider(
        &self,
        cx: Option<Context>,
        command: wit::StopProviderCommand,
    ) -> Reply<wit::Ack> {
        let op = Operation::StopProvider;
        self.call(cx, op, |link| async move {
            let cmd: ctl::StopProviderCommand = prepare(&link, op, command).await?;
            Ok(link.client.stop_provider(cmd).await?.into())
        })
        .await
    }

    async fn stop_provider_and_wait(
        &self,
        cx: Option<Context>,
        command: wit::StopProviderCommand,
        wait: wit::WaitOptions,
    ) -> Reply<wit::LatticeEvent> {
        let op = Operation::StopProviderAndWait;
        self.call(cx, op, |link| async move {
            let within = convert::events::wait_timeout(&wait)?;
            let cmd: ctl::StopProviderCommand = prepare(&link, op, command).await?;
            let event = link.client.stop_provider_and_wait(cmd, within).await?;
            Ok(convert::events::lattice_event(&event, link.lattice()))
        })
        .await
    }

    async fn stop_host(
        &self,
        cx: Option<Context>,
        command: wit::StopHostCommand,
    ) -> Reply<wit::Ack> {
        let op = Operation::StopHost;
        self.call(cx, op, |link| async move {
            let cmd: ctl::StopHostCommand = prepare(&link, op, command).await?;
            Ok(link.client.stop_host(cmd).await?.into())
        })
        .await
    }

    async fn put_link(&self, cx: Option<Context>, link_def: wit::Link) -> Reply<wit::Ack> {
        let op = Operation::PutLink;
        self.call(cx, op, |link| async move {
            let def = ctl::Link::from(link_def);
            def.validate()?;
            let configs: Vec<&str> = def
                .source_config
                .iter()
                .chain(&def.target_config)
                .map(String::as_str)
                .collect();
            permit(&link, op, None, &[], &configs).await?;
            Ok(link.client.put_link(def).await?.into())
        })
        .await
    }

    async fn delete_link(
        &self,
        cx: Option<Context>,
        request: wit::DeleteLinkRequest,
    ) -> Reply<wit::Ack> {
        let op = Operation::DeleteLink;
        self.call(cx, op, |link| async move {
            let req = ctl::DeleteInterfaceLinkDefinitionRequest::from(request).normalize()?;
            permit(&link, op, None, &[], &[]).await?;
            Ok(link.client.delete_link(req).await?.into())
        })
        .await
    }

    async fn get_links(
        &self,
        cx: Option<Context>,
        options: wit::QueryOptions,
    ) -> Reply<Vec<wit::Link>> {
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
    ) -> Reply<wit::Ack> {
        let op = Operation::PutConfig;
        self.call(cx, op, |link| async move {
            permit(&link, op, None, &[], &[&name]).await?;
            Ok(link
                .client
                .put_config(&name, hash_from_wit(values))
                .await?
                .into())
        })
        .await
    }

    async fn get_config(&self, cx: Option<Context>, name: String) -> Reply<Option<wit::StringMap>> {
        let op = Operation::GetConfig;
        self.call(cx, op, |link| async move {
            permit(&link, op, None, &[], &[&name]).await?;
            let values = link.client.get_config(&name).await?;
            Ok(values.as_ref().map(convert::map_to_wit))
        })
        .await
    }

    async fn delete_config(&self, cx: Option<Context>, name: String) -> Reply<wit::Ack> {
        let op = Operation::DeleteConfig;
        self.call(cx, op, |link| async move {
            permit(&link, op, None, &[], &[&name]).await?;
            Ok(link.client.delete_config(&name).await?.into())
        })
        .await
    }

    async fn put_label(
        &self,
        cx: Option<Context>,
        host_id: String,
        key: String,
        value: String,
    ) -> Reply<wit::Ack> {
        let op = Operation::PutLabel;
        self.call(cx, op, |link| async move {
            validate::label_key(&key)?;
            let host = to_host(&link, op, &host_id, &[], &[]).await?;
            Ok(link.client.put_label(&host, &key, &value).await?.into())
        })
        .await
    }

    async fn delete_label(
        &self,
        cx: Option<Context>,
        host_id: String,
        key: String,
    ) -> Reply<wit::Ack> {
        let op = Operation::DeleteLabel;
        self.call(cx, op, |link| async move {
            validate::label_key(&key)?;
            let host = to_host(&link, op, &host_id, &[], &[]).await?;
            Ok(link.client.delete_label(&host, &key).await?.into())
        })
        .await
    }

    async fn put_registries(
        &self,
        cx: Option<Context>,
        registries: Vec<(String, wit::RegistryCredential)>,
    ) -> Reply<wit::Ack> {
        let op = Operation::PutRegistries;
        self.call(cx, op, |link| async move {
            permit(&link, op, None, &[], &[]).await?;
            let map = registries_from_wit(registries);
            Ok(link.client.put_registries(map).await?.into())
        })
        .await
    }

    async fn provider_info(
        &self,
        cx: Option<Context>,
        options: wit::QueryOptions,
    ) -> Reply<wit::LinkInfo> {
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
}
