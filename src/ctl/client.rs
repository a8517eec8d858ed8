//! The control-interface client.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::coalesce::Coalescer;
use super::command::{
    encode, Checked, Command, DeleteConfigCommand, DeleteLabelCommand, PutConfigCommand,
    PutLabelCommand,
};
use super::error::{CtlError, CtlErrorKind, Result};
use super::events::{EventFilter, EventStream, LatticeEvent};
use super::subjects::{self, DEFAULT_TOPIC_PREFIX};
use super::types::*;
use super::validate;

/// The lattice a [`ClientBuilder`] manages unless told otherwise.
pub const DEFAULT_LATTICE: &str = "default";
/// The timeout of a request to one host unless a [`ClientBuilder`] is told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_AUCTION_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_HOST_QUIET_PERIOD: Duration = Duration::from_millis(100);
/// After every known host replied, how long to wait for a host not yet known.
const KNOWN_HOSTS_GRACE: Duration = Duration::from_millis(5);

/// Options of [`Client::get_hosts_with`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostQuery {
    /// Finish as soon as this many distinct hosts replied (must not be 0).
    pub expected: Option<usize>,
    /// Wait out the whole scatter timeout, as the upstream client does.
    pub full_wait: bool,
    /// Overall bound instead of the client's scatter timeout (must not be zero).
    pub timeout: Option<Duration>,
}

/// Builds a [`Client`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ClientBuilder {
    nats: async_nats::Client,
    lattice: String,
    topic_prefix: String,
    timeout: Duration,
    auction_timeout: Duration,
    host_quiet_period: Duration,
    track_hosts: bool,
    coalesce_reads: bool,
}

impl ClientBuilder {
    /// A builder over an existing NATS connection, with the defaults: lattice `default`,
    /// topic prefix `wasmbus.ctl`, request timeout 2 s, scatter timeout 5 s.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use lattice_control_provider::ctl::ClientBuilder;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), async_nats::Error> {
    /// let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// let client = ClientBuilder::new(nats)
    ///     .lattice("default")
    ///     .timeout(Duration::from_secs(2))
    ///     .try_build()?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(nats: async_nats::Client) -> Self {
        Self {
            nats,
            lattice: DEFAULT_LATTICE.to_string(),
            topic_prefix: DEFAULT_TOPIC_PREFIX.to_string(),
            timeout: DEFAULT_TIMEOUT,
            auction_timeout: DEFAULT_AUCTION_TIMEOUT,
            host_quiet_period: DEFAULT_HOST_QUIET_PERIOD,
            track_hosts: false,
            coalesce_reads: true,
        }
    }

    /// Lattice to manage.
    pub fn lattice(mut self, lattice: impl Into<String>) -> Self {
        self.lattice = lattice.into();
        self
    }

    /// Control topic prefix (default `wasmbus.ctl`).
    pub fn topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// Timeout of a request to one host (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout of a scatter (ping, auctions; default 5 s).
    pub fn auction_timeout(mut self, timeout: Duration) -> Self {
        self.auction_timeout = timeout;
        self
    }

    /// How long `get_hosts` waits after the last reply when it cannot tell that all hosts
    /// answered (default 100 ms).
    pub fn host_quiet_period(mut self, period: Duration) -> Self {
        self.host_quiet_period = period;
        self
    }

    /// Also learn live hosts from `host_started`/`host_heartbeat`/`host_stopped` events
    /// through a background subscription (needs a Tokio runtime at `build`).
    pub fn track_hosts(mut self, track: bool) -> Self {
        self.track_hosts = track;
        self
    }

    /// Share one request between concurrent identical reads (inventory of one host, claims,
    /// links, one named config; default on). A caller only ever gets the reply to a request
    /// sent after it asked, so answers are as fresh as without sharing; under load the
    /// lattice sees one request per read and round trip instead of one per caller.
    pub fn coalesce_reads(mut self, coalesce: bool) -> Self {
        self.coalesce_reads = coalesce;
        self
    }

    /// The client. Arguments are checked per call (a zero timeout fails every call with
    /// `InvalidArgument`); use [`ClientBuilder::try_build`] to check them now.
    pub fn build(self) -> Client {
        self.build_sharing(Arc::default())
    }

    /// The client, with `known` as its table of known hosts (fed by its own tracker only if
    /// `track_hosts`).
    fn build_sharing(self, known: Arc<KnownHosts>) -> Client {
        let config_error = self.check().err().map(|e| e.message().to_string());
        let tracker = if self.track_hosts && config_error.is_none() {
            spawn_tracker(&self.nats, &self.lattice, Arc::clone(&known))
        } else {
            None
        };
        Client {
            inner: Arc::new(Inner {
                nats: self.nats,
                lattice: self.lattice,
                topic_prefix: self.topic_prefix,
                timeout: self.timeout,
                auction_timeout: self.auction_timeout,
                host_quiet_period: self.host_quiet_period,
                config_error,
                known,
                tracker,
                coalesce_reads: self.coalesce_reads,
                reads: Coalescer::default(),
            }),
        }
    }

    /// The client, or `InvalidArgument` for a bad lattice or prefix or a zero timeout.
    pub fn try_build(self) -> Result<Client> {
        self.check()?;
        Ok(self.build())
    }

    fn check(&self) -> Result<()> {
        validate::subject_token("lattice", &self.lattice)?;
        validate::check_non_empty("topic prefix", &self.topic_prefix)?;
        if !validate::is_subject_prefix(&self.topic_prefix) {
            return Err(CtlError::invalid_argument(
                "topic prefix must be dot-separated subject tokens without wildcards, whitespace or control characters",
            ));
        }
        for (name, d) in [
            ("request timeout", self.timeout),
            ("auction timeout", self.auction_timeout),
            ("host quiet period", self.host_quiet_period),
        ] {
            if d.is_zero() {
                return Err(CtlError::invalid_argument(format!(
                    "{name} must be greater than zero"
                )));
            }
        }
        Ok(())
    }
}

/// Host ids believed live, shared by every clone of a [`Client`].
#[derive(Debug, Default)]
struct KnownHosts(Mutex<HashSet<String>>);

impl KnownHosts {
    fn with<R>(&self, f: impl FnOnce(&mut HashSet<String>) -> R) -> R {
        // a panic elsewhere while holding the lock leaves a set that is still usable
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    fn snapshot(&self) -> HashSet<String> {
        self.with(|s| s.clone())
    }

    /// A host event's source (the host id) joins the table, or leaves it on `host_stopped`.
    fn apply(&self, ev: &LatticeEvent) {
        match ev.short_type() {
            "host_stopped" => self.with(|s| s.remove(&ev.source)),
            "host_started" | "host_heartbeat" => self.with(|s| s.insert(ev.source.clone())),
            _ => false,
        };
    }
}

/// Follows `host_started`/`host_heartbeat`/`host_stopped` to keep `known` current.
fn spawn_tracker(
    nats: &async_nats::Client,
    lattice: &str,
    known: Arc<KnownHosts>,
) -> Option<tokio::task::AbortHandle> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        warn!("no Tokio runtime at build: host tracking disabled");
        return None;
    };
    let nats = nats.clone();
    let names = ["host_started", "host_heartbeat", "host_stopped"];
    let subjects: Vec<String> = names.iter().map(|n| subjects::event(lattice, n)).collect();
    let task = runtime.spawn(async move {
        let mut subs = Vec::new();
        for subject in subjects {
            match nats.subscribe(subject).await {
                Ok(sub) => subs.push(sub),
                Err(error) => {
                    warn!(%error, "host tracking subscription failed");
                    return;
                }
            }
        }
        let mut all = futures::stream::select_all(subs);
        while let Some(msg) = all.next().await {
            if let Ok(ev) = LatticeEvent::from_slice(&msg.payload) {
                known.apply(&ev);
            }
        }
    });
    Some(task.abort_handle())
}

/// A control-interface client for one lattice. Cheap to clone: clones share the NATS
/// connection and the table of known hosts.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    nats: async_nats::Client,
    lattice: String,
    topic_prefix: String,
    timeout: Duration,
    auction_timeout: Duration,
    host_quiet_period: Duration,
    /// Why the builder's settings are unusable, reported by every call.
    config_error: Option<String>,
    known: Arc<KnownHosts>,
    tracker: Option<tokio::task::AbortHandle>,
    coalesce_reads: bool,
    /// Reads in flight or waiting, by subject; an error is shared as its kind and message.
    reads: Coalescer<String, std::result::Result<Bytes, (CtlErrorKind, String)>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(t) = &self.tracker {
            t.abort();
        }
    }
}

impl Client {
    /// A client on the same connection, lattice and table of known hosts whose request and
    /// scatter timeouts are `timeout` (a call's own timeout). Cheap: no new subscription. A
    /// zero timeout fails every call with `InvalidArgument`.
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        let i = &self.inner;
        // no tracker of its own: the table stays fed by this client's
        ClientBuilder::new(i.nats.clone())
            .lattice(&i.lattice)
            .topic_prefix(&i.topic_prefix)
            .timeout(timeout)
            .auction_timeout(timeout)
            .host_quiet_period(i.host_quiet_period)
            .coalesce_reads(i.coalesce_reads)
            .build_sharing(Arc::clone(&i.known))
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("lattice", &self.inner.lattice)
            .field("topic_prefix", &self.inner.topic_prefix)
            .field("timeout", &self.inner.timeout)
            .field("auction_timeout", &self.inner.auction_timeout)
            .field("host_quiet_period", &self.inner.host_quiet_period)
            .field("track_hosts", &self.inner.tracker.is_some())
            .field("coalesce_reads", &self.inner.coalesce_reads)
            .finish_non_exhaustive()
    }
}

/// One message of a scatter, classified.
enum ScatterReply<T> {
    /// The server's 503: nobody subscribes to the subject.
    NoResponders,
    Item(CtlResponse<T>),
    Bad(CtlError),
}

fn classify<T: DeserializeOwned>(msg: &async_nats::Message, what: &str) -> ScatterReply<T> {
    if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
        return ScatterReply::NoResponders;
    }
    match decode::<T>(&msg.payload, what) {
        Ok(r) => ScatterReply::Item(r),
        Err(e) => ScatterReply::Bad(e),
    }
}

/// Decodes a reply envelope. serde_json's message can quote reply content (config values),
/// so only the error category and position are kept.
fn decode<T: DeserializeOwned>(payload: &[u8], what: &str) -> Result<CtlResponse<T>> {
    serde_json::from_slice(payload).map_err(|e| {
        CtlError::decode(format!(
            "malformed {what} reply ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

fn rejected(message: String) -> CtlError {
    if message.is_empty() {
        CtlError::rejected("the host refused the request without a message")
    } else {
        CtlError::rejected(message)
    }
}

fn into_ack(resp: CtlResponse<IgnoredAny>) -> Result<Ack> {
    if resp.success {
        Ok(Ack {
            message: resp.message,
        })
    } else {
        Err(rejected(resp.message))
    }
}

fn into_required<T>(resp: CtlResponse<T>, what: &str) -> Result<T> {
    if !resp.success {
        return Err(rejected(resp.message));
    }
    resp.response
        .ok_or_else(|| CtlError::decode(format!("{what} reply has success but no response")))
}

/// The replies of a scatter in the order they came (a malformed one as its decode error),
/// until `deadline`, a 503 (nobody listens), the end of `sub`, or `most` replies.
async fn collect_replies<T: DeserializeOwned>(
    sub: &mut async_nats::Subscriber,
    deadline: Instant,
    what: &str,
    most: usize,
) -> Vec<Result<CtlResponse<T>>> {
    let mut replies = Vec::new();
    while replies.len() < most {
        let msg = tokio::select! {
            m = sub.next() => m,
            () = tokio::time::sleep_until(deadline) => break,
        };
        let Some(msg) = msg else { break };
        match classify::<T>(&msg, what) {
            ScatterReply::NoResponders => break,
            ScatterReply::Item(r) => replies.push(Ok(r)),
            ScatterReply::Bad(e) => replies.push(Err(e)),
        }
    }
    replies
}

/// The short names of `types` (`host_started`, from a short name or a full CloudEvent type),
/// without repeats, if every entry is one exact event subject token; `None` for no types, a
/// pattern, or a name no host publishes under its own subject.
fn exact_event_names(types: &[String]) -> Option<Vec<&str>> {
    if types.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = Vec::with_capacity(types.len());
    for t in types {
        let t = t.trim();
        let name = t.strip_prefix(crate::ctl::EVENT_TYPE_PREFIX).unwrap_or(t);
        let token = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !token {
            return None;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Some(names)
}

/// The result of a put-registries scatter: all `expected` hosts accepted, or why not
/// (`refused` holds the refusals and unreadable answers).
fn registries_outcome(
    expected: usize,
    accepted: usize,
    refused: &[String],
    within: Duration,
) -> Result<Ack> {
    if accepted == expected {
        return Ok(Ack {
            message: format!("successfully put registries on {accepted} of {expected} hosts"),
        });
    }
    let silent = expected.saturating_sub(accepted + refused.len());
    let counts = format!(
        "{accepted} of {expected} hosts accepted, {} refused, {silent} did not answer within {} ms",
        refused.len(),
        within.as_millis()
    );
    match refused.first() {
        Some(first) => Err(rejected(format!(
            "put registries: {counts}; first refusal: {first}"
        ))),
        None => Err(CtlError::timeout(format!("put registries: {counts}"))),
    }
}

/// Successful payloads of a scatter; if none, the first refusal or decode failure explains.
fn scatter_result<T>(items: Vec<CtlResponse<T>>, bad: Option<CtlError>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(items.len());
    let mut refusal = None;
    for item in items {
        match item {
            CtlResponse {
                success: true,
                response: Some(r),
                ..
            } => out.push(r),
            CtlResponse {
                success: false,
                message,
                ..
            } => {
                refusal.get_or_insert(message);
            }
            _ => {}
        }
    }
    if out.is_empty() {
        if let Some(m) = refusal {
            return Err(rejected(m));
        }
        if let Some(e) = bad {
            return Err(e);
        }
    }
    Ok(out)
}

impl Client {
    /// The lattice this client manages.
    #[must_use]
    pub fn lattice(&self) -> &str {
        &self.inner.lattice
    }

    /// The underlying NATS connection (the provider's event subscriptions share it).
    #[must_use]
    pub(crate) fn nats_client(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    fn ready(&self) -> Result<&Inner> {
        match &self.inner.config_error {
            Some(m) => Err(CtlError::invalid_argument(m.clone())),
            None => Ok(&self.inner),
        }
    }

    /// Fails fast with `Transport` while NATS is down, instead of letting a scatter
    /// report an empty lattice or a request wait out its timeout.
    fn connected(&self) -> Result<()> {
        match self.inner.nats.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(CtlError::transport(format!(
                "not connected to NATS ({state})"
            ))),
        }
    }

    fn prefix(&self) -> (&str, &str) {
        (&self.inner.topic_prefix, &self.inner.lattice)
    }

    /// One request, one reply, bounded by the request timeout.
    async fn request<T: DeserializeOwned>(
        &self,
        subject: String,
        body: Bytes,
        what: &str,
    ) -> Result<CtlResponse<T>> {
        decode(&self.send(subject, body, what).await?, what)
    }

    /// One request, the reply's payload, bounded by the request timeout.
    async fn send(&self, subject: String, body: Bytes, what: &str) -> Result<Bytes> {
        let inner = self.ready()?;
        self.connected()?;
        debug!(%subject, "control request");
        let mut req = async_nats::Request::new()
            .payload(body)
            .timeout(Some(inner.timeout));
        if let Some(headers) = super::trace::current_headers() {
            req = req.headers(headers);
        }
        let msg = inner.nats.send_request(subject, req).await.map_err(|e| {
            let e = CtlError::from(e);
            CtlError::new(e.kind(), format!("{what}: {}", e.message()))
        })?;
        Ok(msg.payload)
    }

    /// A read (a request without a body), shared with concurrent reads of the same subject
    /// unless coalescing is off (see [`ClientBuilder::coalesce_reads`]). A shared read waits
    /// for the same read in flight at most half the request timeout before its own request
    /// (bounded by the request timeout) is sent.
    async fn read<T: DeserializeOwned>(
        &self,
        subject: String,
        what: &str,
    ) -> Result<CtlResponse<T>> {
        let inner = self.ready()?;
        if !inner.coalesce_reads {
            return self.request(subject, Bytes::new(), what).await;
        }
        let key = subject.clone();
        let shared = inner
            .reads
            .run(&key, inner.timeout / 2, || async {
                self.send(subject, Bytes::new(), what)
                    .await
                    .map_err(|e| (e.kind(), e.message().to_string()))
            })
            .await;
        match shared {
            Ok(payload) => decode(&payload, what),
            Err((kind, message)) => Err(CtlError::new(kind, message)),
        }
    }

    async fn ack(&self, subject: String, body: Bytes, what: &str) -> Result<Ack> {
        into_ack(self.request(subject, body, what).await?)
    }

    /// Sends a checked control command and reads the host's acknowledgement: the one path
    /// of every acknowledged command (see [`Command`]). `Rejected` when the host refuses.
    pub async fn command<C: Command>(&self, command: Checked<C>) -> Result<Ack> {
        let cmd = command.get();
        let (p, l) = self.prefix();
        let ack = self.ack(cmd.subject(p, l), cmd.body()?, C::WHAT).await?;
        if let (true, Some(host)) = (cmd.stops_host(), cmd.host()) {
            self.inner.known.with(|s| s.remove(host));
        }
        Ok(ack)
    }

    /// Subscribes a fresh inbox and publishes `body` to `subject` with it as reply subject.
    async fn open_scatter(
        &self,
        subject: String,
        body: Bytes,
        deadline: Instant,
    ) -> Result<async_nats::Subscriber> {
        self.connected()?;
        let nats = &self.inner.nats;
        debug!(%subject, "control scatter");
        let open = async {
            let inbox = nats.new_inbox();
            let sub = nats.subscribe(inbox.clone()).await?;
            match super::trace::current_headers() {
                Some(headers) => {
                    nats.publish_with_reply_and_headers(subject, inbox, headers, body)
                        .await?
                }
                None => nats.publish_with_reply(subject, inbox, body).await?,
            }
            Ok::<_, CtlError>(sub)
        };
        // a disconnected client may queue forever: bound it like the replies
        tokio::time::timeout_at(deadline, open)
            .await
            .map_err(|_| CtlError::timeout("scatter could not be sent within its timeout"))?
    }

    /// Collects replies until `deadline` (hosts that do not match an auction stay silent,
    /// so only the deadline or a 503 ends it).
    async fn scatter_until<T: DeserializeOwned>(
        &self,
        subject: fn(&str, &str) -> String,
        body: &impl Serialize,
        within: Duration,
        what: &str,
    ) -> Result<Vec<T>> {
        check_within(within)?;
        let body = encode(body, what)?;
        self.ready()?;
        let (p, l) = self.prefix();
        let deadline = Instant::now() + within;
        let mut sub = self.open_scatter(subject(p, l), body, deadline).await?;
        let (mut items, mut bad) = (Vec::new(), None);
        for reply in collect_replies::<T>(&mut sub, deadline, what, usize::MAX).await {
            match reply {
                Ok(r) => items.push(r),
                Err(e) => {
                    warn!(error = %e, "ignoring malformed scatter reply");
                    bad.get_or_insert(e);
                }
            }
        }
        scatter_result(items, bad)
    }

    /// Live hosts of the lattice (fast strategy, see [`Client::get_hosts_with`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use lattice_control_provider::ctl::ClientBuilder;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), async_nats::Error> {
    /// # let client = ClientBuilder::new(async_nats::connect("127.0.0.1:4222").await?).build();
    /// for host in client.get_hosts().await? {
    ///     println!("{} ({})", host.id, host.friendly_name);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_hosts(&self) -> Result<Vec<Host>> {
        self.get_hosts_with(HostQuery::default()).await
    }

    /// Live hosts of the lattice with explicit options.
    ///
    /// Hosts answer a ping (`host.ping`) but nobody says when the last one has answered, so
    /// upstream waits out the whole scatter timeout. Unless `full_wait` is set, this ping
    /// finishes at the first of:
    /// 1. `expected` distinct hosts replied;
    /// 2. every host in the client's table of known hosts replied and no other reply came
    ///    for 5 ms (the table holds the hosts of the previous ping and, with
    ///    [`ClientBuilder::track_hosts`], hosts seen in `host_started`/`host_heartbeat`
    ///    events minus `host_stopped`);
    /// 3. at least one host replied and none came for the quiet period (100 ms by default,
    ///    [`ClientBuilder::host_quiet_period`]);
    /// 4. the scatter timeout (or `query.timeout`); a 503 (no host at all) ends it at once
    ///    with an empty list.
    ///
    /// Trade-off: a host that answers later than the grace (2) or quiet period (3) after the
    /// others, e.g. one just starting and not yet known, or one across a slow link, is missed
    /// where a full scatter would include it. On loopback and LANs hosts answer within a
    /// few milliseconds of each other, so the sets are equal; use `full_wait` (or a longer
    /// quiet period) across slow links, or `expected` when the count is known.
    pub async fn get_hosts_with(&self, query: HostQuery) -> Result<Vec<Host>> {
        let inner = self.ready()?;
        if query.expected == Some(0) {
            return Err(CtlError::invalid_argument(
                "expected host count must be greater than zero",
            ));
        }
        if query.timeout.is_some_and(|t| t.is_zero()) {
            return Err(CtlError::invalid_argument(
                "host query timeout must be greater than zero",
            ));
        }
        let within = query.timeout.unwrap_or(inner.auction_timeout);
        let deadline = Instant::now() + within;
        let (p, l) = self.prefix();
        let known = inner.known.snapshot();
        let mut sub = self
            .open_scatter(subjects::host_ping(p, l), Bytes::new(), deadline)
            .await?;

        let mut hosts: Vec<Host> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut refusals = Vec::new();
        let mut bad = None;
        let mut last_reply: Option<Instant> = None;
        let mut reached_expected = false;
        loop {
            let Some(wake) = ping_wake(
                &query,
                &known,
                &seen,
                last_reply,
                inner.host_quiet_period,
                deadline,
            ) else {
                reached_expected = true;
                break;
            };
            let msg = tokio::select! {
                m = sub.next() => m,
                () = tokio::time::sleep_until(wake) => break,
            };
            let Some(msg) = msg else { break };
            match classify::<Host>(&msg, "host ping") {
                ScatterReply::NoResponders => break,
                ScatterReply::Item(r) => {
                    last_reply = Some(Instant::now());
                    match r {
                        CtlResponse {
                            success: true,
                            response: Some(h),
                            ..
                        } => {
                            if seen.insert(h.id.clone()) {
                                hosts.push(h);
                            }
                        }
                        other => refusals.push(other),
                    }
                }
                ScatterReply::Bad(e) => {
                    warn!(error = %e, "ignoring malformed ping reply");
                    bad.get_or_insert(e);
                }
            }
        }

        inner.known.with(|set| {
            // an early stop on `expected` may not have heard every host: keep the others
            if !reached_expected {
                set.clear();
            }
            set.extend(seen.iter().cloned());
        });
        if hosts.is_empty() {
            scatter_result::<Host>(refusals, bad)?;
        }
        Ok(hosts)
    }

    /// One host's inventory.
    pub async fn get_host_inventory(&self, host_id: &str) -> Result<HostInventory> {
        let host_id = validate::subject_token("host_id", host_id)?;
        self.inventory_of(&host_id).await
    }

    /// The inventory of the host a full id, unique id prefix or friendly name names (see
    /// [`Client::resolve_host`]); the spec is checked once.
    pub async fn resolved_host_inventory(&self, spec: &str) -> Result<HostInventory> {
        let spec = validate::subject_token("host_id", spec)?;
        let host_id = self.resolve_token(spec).await?;
        self.inventory_of(&host_id).await
    }

    /// The inventory of `host_id`, a checked host id.
    pub(crate) async fn inventory_of(&self, host_id: &str) -> Result<HostInventory> {
        let (p, l) = self.prefix();
        let subject = subjects::host_get(p, l, host_id);
        into_required(
            self.read(subject, "host inventory").await?,
            "host inventory",
        )
    }

    /// Claims of every component and provider in the lattice.
    pub async fn get_claims(&self) -> Result<Vec<HashMap<String, String>>> {
        let (p, l) = self.prefix();
        let subject = subjects::claims_get(p, l);
        into_required(self.read(subject, "claims").await?, "claims")
    }

    /// Bids of the hosts able to run a component. Hosts that do not satisfy the constraints
    /// stay silent, so this waits the whole scatter timeout.
    pub async fn perform_component_auction(
        &self,
        request: ComponentAuctionRequest,
    ) -> Result<Vec<ComponentAuctionAck>> {
        let within = self.ready()?.auction_timeout;
        self.perform_component_auction_within(request, within).await
    }

    /// Like [`Client::perform_component_auction`], waiting `within` (not zero) instead.
    pub async fn perform_component_auction_within(
        &self,
        request: ComponentAuctionRequest,
        within: Duration,
    ) -> Result<Vec<ComponentAuctionAck>> {
        let request = request.normalize()?;
        let mut acks: Vec<ComponentAuctionAck> = self
            .scatter_until(
                subjects::component_auction,
                &request,
                within,
                "component auction",
            )
            .await?;
        // wasmCloud 1.x hosts fill an ack's `component_id` with the request's *reference*
        // (the request's id accessor returns the reference), so the ack names the id asked about.
        for ack in &mut acks {
            ack.component_id.clone_from(&request.component_id);
        }
        Ok(acks)
    }

    /// Bids of the hosts able to run a provider (waits the whole scatter timeout).
    pub async fn perform_provider_auction(
        &self,
        request: ProviderAuctionRequest,
    ) -> Result<Vec<ProviderAuctionAck>> {
        let within = self.ready()?.auction_timeout;
        self.perform_provider_auction_within(request, within).await
    }

    /// Like [`Client::perform_provider_auction`], waiting `within` (not zero) instead.
    pub async fn perform_provider_auction_within(
        &self,
        request: ProviderAuctionRequest,
        within: Duration,
    ) -> Result<Vec<ProviderAuctionAck>> {
        let request = request.normalize()?;
        self.scatter_until(
            subjects::provider_auction,
            &request,
            within,
            "provider auction",
        )
        .await
    }

    /// Scales a component on a host (0 stops it).
    ///
    /// The host acknowledges before it acts: a scale that later fails (missing file or
    /// config, bad id) is still `Ok`; the failure arrives as a `component_scale_failed` event.
    /// [`Client::scale_component_and_wait`] waits for that event.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use lattice_control_provider::ctl::ScaleComponentCommand;
    ///
    /// # use lattice_control_provider::ctl::ClientBuilder;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), async_nats::Error> {
    /// # let client = ClientBuilder::new(async_nats::connect("127.0.0.1:4222").await?).build();
    /// // the host may be named by its id, a unique id prefix or its friendly name
    /// let scale = ScaleComponentCommand::builder()
    ///     .host_id("NBZ3")
    ///     .component_ref("ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0")
    ///     .component_id("hello")
    ///     .max_instances(4)
    ///     .build()?;
    /// client.scale_component(scale).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn scale_component(&self, command: ScaleComponentCommand) -> Result<Ack> {
        self.command(Checked::new(command)?).await
    }

    /// Replaces a running component's image (`Rejected` if the host does not run it).
    pub async fn update_component(&self, command: UpdateComponentCommand) -> Result<Ack> {
        self.command(Checked::new(command)?).await
    }

    /// Starts a provider on a host (acknowledged before the provider runs).
    pub async fn start_provider(&self, command: StartProviderCommand) -> Result<Ack> {
        self.command(Checked::new(command)?).await
    }

    /// Stops a provider on a host.
    pub async fn stop_provider(&self, command: StopProviderCommand) -> Result<Ack> {
        self.command(Checked::new(command)?).await
    }

    /// Stops a host (and forgets it as a known host).
    pub async fn stop_host(&self, command: StopHostCommand) -> Result<Ack> {
        self.command(Checked::new(command)?).await
    }

    /// Puts a label on a host (`hostcore.*` keys are refused).
    pub async fn put_label(&self, host_id: &str, key: &str, value: &str) -> Result<Ack> {
        let command = PutLabelCommand {
            host_id: host_id.to_string(),
            key: key.to_string(),
            value: value.to_string(),
        };
        self.command(Checked::new(command)?).await
    }

    /// Deletes a label from a host (`hostcore.*` keys are refused; an unset key succeeds).
    pub async fn delete_label(&self, host_id: &str, key: &str) -> Result<Ack> {
        let command = DeleteLabelCommand {
            host_id: host_id.to_string(),
            key: key.to_string(),
        };
        self.command(Checked::new(command)?).await
    }

    /// Puts a link (see [`Link::validate`] for the checks).
    pub async fn put_link(&self, link: Link) -> Result<Ack> {
        self.command(Checked::new(link)?).await
    }

    /// Deletes a link (succeeds if it does not exist).
    pub async fn delete_link(&self, request: DeleteInterfaceLinkDefinitionRequest) -> Result<Ack> {
        self.command(Checked::new(request)?).await
    }

    /// Every link of the lattice.
    pub async fn get_links(&self) -> Result<Vec<Link>> {
        let (p, l) = self.prefix();
        let subject = subjects::link_get(p, l);
        into_required(self.read(subject, "links").await?, "links")
    }

    /// Puts a named config (the name must be one subject token).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::collections::HashMap;
    ///
    /// # use lattice_control_provider::ctl::ClientBuilder;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), async_nats::Error> {
    /// # let client = ClientBuilder::new(async_nats::connect("127.0.0.1:4222").await?).build();
    /// let values = HashMap::from([("greeting".to_string(), "hello".to_string())]);
    /// client.put_config("app-config", values).await?;
    /// assert!(client.get_config("app-config").await?.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn put_config(&self, name: &str, values: HashMap<String, String>) -> Result<Ack> {
        let command = PutConfigCommand {
            name: name.to_string(),
            values,
        };
        self.command(Checked::new(command)?).await
    }

    /// A named config, `None` if it does not exist (the host answers success without a
    /// response).
    pub async fn get_config(&self, name: &str) -> Result<Option<HashMap<String, String>>> {
        let name = validate::subject_token("config name", name)?;
        let (p, l) = self.prefix();
        let resp: CtlResponse<HashMap<String, String>> = self
            .read(subjects::config_get(p, l, &name), "get config")
            .await?;
        if resp.success {
            Ok(resp.response)
        } else {
            Err(rejected(resp.message))
        }
    }

    /// Deletes a named config (succeeds if it does not exist).
    pub async fn delete_config(&self, name: &str) -> Result<Ack> {
        let command = DeleteConfigCommand {
            name: name.to_string(),
        };
        self.command(Checked::new(command)?).await
    }

    /// Puts registry credentials on every host. Upstream publishes and reports success without
    /// an answer; every host answers on its own, so this pings the lattice for its hosts, then
    /// collects one answer per host (within the request timeout) and succeeds only if all of
    /// them accepted. A host's answer does not name the host, so a refusal carries the host's
    /// message and the counts, not the host id. No host at all is `NoResponders`.
    pub async fn put_registries(&self, registries: RegistryCredentialMap) -> Result<Ack> {
        for name in registries.keys() {
            validate::check_non_empty("registry name", name)?;
        }
        let body = encode(&registries, "registry credentials")?;
        let inner = self.ready()?;
        let expected = self.get_hosts().await?.len();
        if expected == 0 {
            return Err(CtlError::no_responders(
                "put registries: no host in the lattice",
            ));
        }
        let (p, l) = self.prefix();
        let deadline = Instant::now() + inner.timeout;
        let mut sub = self
            .open_scatter(subjects::registry_put(p, l), body, deadline)
            .await?;
        let (mut accepted, mut refused) = (0usize, Vec::new());
        for reply in
            collect_replies::<IgnoredAny>(&mut sub, deadline, "put registries", expected).await
        {
            match reply {
                Ok(r) if r.success => accepted += 1,
                Ok(r) => refused.push(r.message),
                Err(e) => refused.push(e.to_string()),
            }
        }
        registries_outcome(expected, accepted, &refused, inner.timeout)
    }

    /// Lattice events of the given types (empty = all); each entry is a short name
    /// (`host_started`), a full CloudEvent type, or a `prefix*` pattern.
    pub async fn events(&self, types: &[String]) -> Result<EventStream> {
        let inner = self.ready()?;
        for t in types {
            validate::check_non_empty("event type", t)?;
        }
        // Exact types: one subject each (`wasmbus.evt.{lattice}.{type}`), so the stream carries
        // nothing else (no heartbeats) and an account granted only those subjects works.
        // Patterns or no types: the whole lattice's events.
        let subjects = match exact_event_names(types) {
            Some(names) => names
                .iter()
                .map(|n| subjects::event(&inner.lattice, n))
                .collect(),
            None => vec![subjects::events_all(&inner.lattice)],
        };
        let subscribe = async {
            let mut subs = Vec::with_capacity(subjects.len());
            for subject in subjects {
                subs.push(inner.nats.subscribe(subject).await?);
            }
            Ok::<_, async_nats::SubscribeError>(subs)
        };
        let subs = tokio::time::timeout(inner.timeout, subscribe)
            .await
            .map_err(|_| CtlError::timeout("event subscription not made within the timeout"))??;
        Ok(EventStream::new(subs, EventFilter::new(types)))
    }

    /// A host id from a full id, a unique id prefix or a friendly name.
    ///
    /// A full id already in the table of known hosts is returned without a ping; otherwise
    /// the lattice is pinged. No match or several matches → `InvalidArgument` (naming the
    /// candidates). A spec that cannot name a host (blank, dots, wildcards, whitespace) is
    /// refused before the ping. (The provider resolves a command's host with
    /// [`Client::resolve_command_host`]; the e2e suite calls this one.)
    pub async fn resolve_host(&self, spec: &str) -> Result<String> {
        let spec = validate::subject_token("host_id", spec)?;
        self.resolve_token(spec).await
    }

    /// Resolves the host argument of a checked command in place (the argument was checked
    /// with the command: no second check). A command to no host is left as it is.
    pub async fn resolve_command_host<C: Command>(&self, command: &mut Checked<C>) -> Result<()> {
        let Some(spec) = command.get().host() else {
            return Ok(());
        };
        let host_id = self.resolve_token(spec.to_string()).await?;
        command.set_host(host_id);
        Ok(())
    }

    /// [`Client::resolve_host`] of a spec that is already one subject token.
    async fn resolve_token(&self, spec: String) -> Result<String> {
        if self.inner.known.with(|s| s.contains(&spec)) {
            return Ok(spec);
        }
        let hosts = self.get_hosts().await?;
        if hosts.iter().any(|h| h.id == spec) {
            return Ok(spec);
        }
        let candidates: Vec<&Host> = hosts
            .iter()
            .filter(|h| h.id.starts_with(&spec) || h.friendly_name == spec)
            .collect();
        match candidates.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(CtlError::invalid_argument(format!(
                "no host of lattice `{}` has id, id prefix or name `{spec}`",
                self.lattice()
            ))),
            many => {
                let names: Vec<String> = many
                    .iter()
                    .map(|h| format!("{} ({})", h.id, h.friendly_name))
                    .collect();
                Err(CtlError::invalid_argument(format!(
                    "`{spec}` is ambiguous: {}",
                    names.join(", ")
                )))
            }
        }
    }
}

/// Until when a ping keeps listening given what it heard so far; `None` = stop now
/// (`expected` reached). See [`Client::get_hosts_with`] for the rules.
fn ping_wake(
    query: &HostQuery,
    known: &HashSet<String>,
    seen: &HashSet<String>,
    last_reply: Option<Instant>,
    quiet: Duration,
    deadline: Instant,
) -> Option<Instant> {
    if query.full_wait {
        return Some(deadline);
    }
    let Some(last) = last_reply else {
        return Some(deadline);
    };
    if query.expected.is_some_and(|n| seen.len() >= n) {
        return None;
    }
    let all_known = !known.is_empty() && known.iter().all(|h| seen.contains(h));
    let wait = if all_known { KNOWN_HOSTS_GRACE } else { quiet };
    Some(deadline.min(last + wait))
}

fn check_within(within: Duration) -> Result<()> {
    if within.is_zero() {
        return Err(CtlError::invalid_argument(
            "auction timeout must be greater than zero",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::CtlErrorKind;

    fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    const Q: Duration = Duration::from_millis(100);

    #[test]
    fn ping_waits_for_first_reply_until_deadline() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(5);
        let q = HostQuery::default();
        assert_eq!(
            ping_wake(&q, &set(&["A"]), &set(&[]), None, Q, deadline),
            Some(deadline)
        );
    }

    #[test]
    fn ping_uses_quiet_period_when_hosts_unknown() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(5);
        let q = HostQuery::default();
        assert_eq!(
            ping_wake(&q, &set(&[]), &set(&["A"]), Some(now), Q, deadline),
            Some(now + Q)
        );
        // a known host has not answered yet: still the quiet period
        assert_eq!(
            ping_wake(&q, &set(&["A", "B"]), &set(&["A"]), Some(now), Q, deadline),
            Some(now + Q)
        );
    }

    #[test]
    fn ping_uses_grace_once_every_known_host_replied() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(5);
        let q = HostQuery::default();
        assert_eq!(
            ping_wake(
                &q,
                &set(&["A", "B"]),
                &set(&["A", "B", "C"]),
                Some(now),
                Q,
                deadline
            ),
            Some(now + KNOWN_HOSTS_GRACE)
        );
    }

    #[test]
    fn ping_stops_at_expected_and_never_passes_deadline() {
        let now = Instant::now();
        let deadline = now + Duration::from_millis(10);
        let q = HostQuery {
            expected: Some(2),
            ..HostQuery::default()
        };
        assert_eq!(
            ping_wake(&q, &set(&[]), &set(&["A", "B"]), Some(now), Q, deadline),
            None
        );
        assert_eq!(
            ping_wake(&q, &set(&[]), &set(&["A"]), Some(now), Q, deadline),
            Some(deadline)
        );
    }

    #[test]
    fn full_wait_waits_for_deadline() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(5);
        let q = HostQuery {
            full_wait: true,
            expected: Some(1),
            ..HostQuery::default()
        };
        assert_eq!(
            ping_wake(&q, &set(&["A"]), &set(&["A"]), Some(now), Q, deadline),
            Some(deadline)
        );
    }

    fn ok<T>(response: Option<T>) -> CtlResponse<T> {
        CtlResponse {
            success: true,
            message: String::new(),
            response,
        }
    }

    fn refused<T>(message: &str) -> CtlResponse<T> {
        CtlResponse {
            success: false,
            message: message.to_string(),
            response: None,
        }
    }

    #[test]
    fn host_events_update_known_hosts() {
        let ev = |ty: &str, source: &str| {
            LatticeEvent::from_value(serde_json::json!({
                "id": "1", "source": source, "type": format!("com.wasmcloud.lattice.{ty}")
            }))
            .unwrap()
        };
        let known = KnownHosts::default();
        known.apply(&ev("host_started", "A"));
        known.apply(&ev("host_heartbeat", "B"));
        known.apply(&ev("config_set", "C"));
        assert_eq!(known.snapshot(), set(&["A", "B"]));
        known.apply(&ev("host_stopped", "A"));
        assert_eq!(known.snapshot(), set(&["B"]));
    }

    #[test]
    fn ack_and_required_map_host_outcomes() {
        let a = into_ack(CtlResponse {
            success: true,
            message: "done".into(),
            response: None,
        })
        .unwrap();
        assert_eq!(a.message, "done");
        let e = into_ack(refused("no such component")).unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::Rejected);
        assert_eq!(e.message(), "no such component");
        assert_eq!(
            into_ack(refused("")).unwrap_err().kind(),
            CtlErrorKind::Rejected
        );
        assert_eq!(into_required(ok(Some(3)), "x").unwrap(), 3);
        assert_eq!(
            into_required(ok::<u8>(None), "x").unwrap_err().kind(),
            CtlErrorKind::Decode
        );
        assert_eq!(
            into_required(refused::<u8>("nope"), "x")
                .unwrap_err()
                .message(),
            "nope"
        );
    }

    #[test]
    fn scatter_result_prefers_successes() {
        let r = scatter_result(vec![refused("bad"), ok(Some(1)), ok(None)], None).unwrap();
        assert_eq!(r, vec![1]);
        let e = scatter_result::<u8>(vec![refused("bad")], None).unwrap_err();
        assert_eq!((e.kind(), e.message()), (CtlErrorKind::Rejected, "bad"));
        let e = scatter_result::<u8>(vec![], Some(CtlError::decode("x"))).unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::Decode);
        assert!(scatter_result::<u8>(vec![], None).unwrap().is_empty());
    }

    #[test]
    fn decode_errors_do_not_echo_payload() {
        let e =
            decode::<u64>(br#"{"success": true, "response": "s3cr3t-value"}"#, "x").unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::Decode);
        assert!(!e.message().contains("s3cr3t"), "{}", e.message());
    }

    /// A client whose NATS connection never comes up: any call that reached the network
    /// would wait out its timeout, so an immediate `InvalidArgument` proves the check ran
    /// before any traffic.
    async fn offline_client(b: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
        let nats = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect("127.0.0.1:1")
            .await
            .unwrap();
        b(ClientBuilder::new(nats).timeout(Duration::from_secs(30))).build()
    }

    async fn assert_invalid<T: std::fmt::Debug>(
        fut: impl std::future::Future<Output = Result<T>>,
        needle: &str,
    ) {
        let r = tokio::time::timeout(Duration::from_millis(500), fut)
            .await
            .expect("argument check must not wait for the network");
        let e = r.unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains(needle), "{e} lacks {needle}");
    }

    #[tokio::test]
    async fn bad_arguments_fail_before_traffic() {
        let c = offline_client(|b| b).await;
        assert_invalid(c.get_host_inventory(" "), "host_id").await;
        assert_invalid(c.get_host_inventory("a.b"), "host_id").await;
        assert_invalid(c.put_label("NH", "hostcore.os", "x"), "hostcore").await;
        assert_invalid(c.delete_label("NH", "HOSTCORE.arch"), "hostcore").await;
        assert_invalid(c.put_label("", "k", "v"), "host_id").await;
        assert_invalid(c.put_config("", HashMap::new()), "config name").await;
        assert_invalid(c.get_config("a b"), "config name").await;
        assert_invalid(c.delete_config("*"), "config name").await;
        assert_invalid(c.put_link(Link::default()), "link").await;
        assert_invalid(
            c.delete_link(DeleteInterfaceLinkDefinitionRequest::default()),
            "link",
        )
        .await;
        assert_invalid(
            c.scale_component(ScaleComponentCommand::default()),
            "host_id",
        )
        .await;
        assert_invalid(
            c.update_component(UpdateComponentCommand {
                host_id: "NH".into(),
                component_id: "c".into(),
                ..Default::default()
            }),
            "new_component_ref",
        )
        .await;
        assert_invalid(
            c.start_provider(StartProviderCommand {
                host_id: "NH".into(),
                provider_id: "p".into(),
                ..Default::default()
            }),
            "provider_ref",
        )
        .await;
        assert_invalid(c.stop_provider(StopProviderCommand::default()), "host_id").await;
        assert_invalid(c.stop_host(StopHostCommand::default()), "host_id").await;
        assert_invalid(
            c.perform_component_auction(ComponentAuctionRequest::default()),
            "component_ref",
        )
        .await;
        assert_invalid(
            c.perform_provider_auction_within(
                ProviderAuctionRequest {
                    provider_ref: "r".into(),
                    provider_id: "p".into(),
                    ..Default::default()
                },
                Duration::ZERO,
            ),
            "timeout",
        )
        .await;
        assert_invalid(
            c.get_hosts_with(HostQuery {
                expected: Some(0),
                ..HostQuery::default()
            }),
            "expected",
        )
        .await;
        assert_invalid(
            c.get_hosts_with(HostQuery {
                timeout: Some(Duration::ZERO),
                ..HostQuery::default()
            }),
            "timeout",
        )
        .await;
        assert_invalid(
            c.put_registries(HashMap::from([(
                " ".to_string(),
                RegistryCredential::default(),
            )])),
            "registry",
        )
        .await;
        assert_invalid(c.events(&["".to_string()]), "event type").await;
        assert_invalid(c.resolve_host("  "), "host").await;
        assert_invalid(c.resolve_host("a.*"), "host_id").await;
    }

    #[test]
    fn exact_event_types_get_their_own_subjects() {
        let names = |t: &[&str]| {
            let owned: Vec<String> = t.iter().map(|s| s.to_string()).collect();
            exact_event_names(&owned).map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            names(&[
                "component_scaled",
                "com.wasmcloud.lattice.component_scale_failed",
                " component_scaled "
            ]),
            Some(vec![
                "component_scaled".to_string(),
                "component_scale_failed".to_string()
            ])
        );
        assert_eq!(names(&[]), None);
        assert_eq!(names(&["component_*"]), None);
        assert_eq!(names(&["host_started", "a.b"]), None);
        assert_eq!(names(&["com.example.other"]), None);
    }

    #[test]
    fn put_registries_succeeds_only_when_every_host_accepted() {
        let within = Duration::from_millis(2000);
        let ok = registries_outcome(2, 2, &[], within).unwrap();
        assert_eq!(ok.message, "successfully put registries on 2 of 2 hosts");
        let refused = registries_outcome(3, 1, &["bad creds".into()], within).unwrap_err();
        assert_eq!(refused.kind(), CtlErrorKind::Rejected);
        let text = refused.to_string();
        assert!(
            text.contains("1 of 3 hosts accepted, 1 refused, 1 did not answer within 2000 ms"),
            "{text}"
        );
        assert!(text.contains("first refusal: bad creds"), "{text}");
        let silent = registries_outcome(2, 1, &[], within).unwrap_err();
        assert_eq!(silent.kind(), CtlErrorKind::Timeout);
        assert!(
            silent.to_string().contains("1 of 2 hosts accepted"),
            "{silent}"
        );
    }

    #[tokio::test]
    async fn bad_builder_settings_fail_every_call() {
        let c = offline_client(|b| b.timeout(Duration::ZERO)).await;
        assert_invalid(c.get_links(), "request timeout").await;
        assert_invalid(c.get_hosts(), "request timeout").await;
        let c = offline_client(|b| b.lattice("a.b")).await;
        assert_invalid(c.get_claims(), "lattice").await;
        let c = offline_client(|b| b.topic_prefix("wasmbus.*")).await;
        assert_invalid(c.get_claims(), "topic prefix").await;
        let c = offline_client(|b| b.topic_prefix("wasmbus.c\u{1}tl")).await;
        assert_invalid(c.get_claims(), "topic prefix").await;
        let c = offline_client(|b| b.host_quiet_period(Duration::ZERO)).await;
        assert_invalid(c.get_hosts(), "quiet").await;
    }

    #[tokio::test]
    async fn try_build_checks_settings() {
        let nats = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect("127.0.0.1:1")
            .await
            .unwrap();
        let e = ClientBuilder::new(nats.clone())
            .auction_timeout(Duration::ZERO)
            .try_build()
            .unwrap_err();
        assert_eq!(e.kind(), CtlErrorKind::InvalidArgument);
        let c = ClientBuilder::new(nats)
            .lattice("lat")
            .topic_prefix("my.ctl")
            .track_hosts(true)
            .try_build()
            .unwrap();
        assert_eq!(c.lattice(), "lat");
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains("my.ctl") && dbg.contains("track_hosts: true"),
            "{dbg}"
        );
    }

    #[tokio::test]
    async fn with_timeout_shares_the_host_table_and_checks_zero() {
        let c = offline_client(|b| b.lattice("lat").timeout(Duration::from_secs(3))).await;
        let short = c.with_timeout(Duration::from_millis(40));
        assert_eq!(short.lattice(), "lat");
        assert!(format!("{short:?}").contains("40ms"), "{short:?}");
        // hosts learnt through the original are known to the short-lived client, both ways
        c.inner.known.with(|s| s.insert("NHOST".to_string()));
        assert!(short.inner.known.snapshot().contains("NHOST"));
        // a zero per-call timeout fails its calls before any traffic
        assert_invalid(c.with_timeout(Duration::ZERO).get_links(), "timeout").await;
    }

    #[tokio::test]
    async fn offline_calls_fail_fast_as_transport() {
        let c = offline_client(|b| b).await;
        for r in [
            tokio::time::timeout(Duration::from_secs(2), c.get_links())
                .await
                .map(|r| r.map(|_| ())),
            tokio::time::timeout(Duration::from_secs(2), c.get_hosts())
                .await
                .map(|r| r.map(|_| ())),
        ] {
            let e = r.expect("must not wait for the network").unwrap_err();
            assert_eq!(e.kind(), CtlErrorKind::Transport, "{e}");
        }
    }
}
