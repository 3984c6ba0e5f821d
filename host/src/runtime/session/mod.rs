//! One use of a connector (a run, a check, a `wharf dev` command): config,
//! grants, secrets, HTTP budget and log. A call runs in a fresh instance,
//! or in the one the session's last call left if that call ended well:
//! a trap, a broken limit or a refused request never reaches the next
//! call, and a session's instance never serves another session. One
//! call's store, instance, limits and error mapping are in [`call`].
//!
//! Kept whole though over 600 lines: one public method per export of the
//! contract, each with the checks of what its export returned; how a call
//! runs is already apart, in [`call`].

mod call;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::Value;

use super::bindings::wharf::connector::types as wit;
use super::blobs::{BlobStore, Input};
use super::cassette::{Tape, TapedConnector, TapedState};
use super::connector::Connector;
use super::convert::{
    RECORD_OVERHEAD, page_from_wit, records_from_wit, records_to_wit, stream_from_wit,
    wit_error_size, wit_records_size,
};
use super::engine::Runtime;
use super::error::{CallError, SessionError, clip_message};
use super::http::{HttpCounters, HttpSession};
use super::log::SessionLog;
use super::secrets::{SecretBook, SecretValue, TokenSlot, TokenSource};
use super::state::{MemoryState, StateStore};
use crate::egress::networks::NetworkPolicy;
use crate::egress::policy::EgressPolicy;
use crate::model::grants::HostPattern;
use crate::model::limits::ConnectorLimits;
use crate::model::record::{
    Page, PushResult, Record, Rejection, mapper_rejection, rejection_record, reserved_stream,
};
use crate::model::resources::CallUse;
use crate::model::spec::Spec;

/// What a session may use.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// The connection's config (a JSON object).
    pub config: Value,
    /// Granted host patterns.
    pub hosts: Vec<HostPattern>,
    /// Granted networks (otherwise blocked).
    pub networks: Vec<IpNet>,
    /// Secret values by name.
    pub secrets: BTreeMap<String, SecretValue>,
    /// Where the connection's OAuth2 access token comes from, for
    /// `{{oauth:access_token}}`; fetched when a request needs it.
    pub oauth: Option<Arc<dyn TokenSource>>,
    /// Where the connection's login session comes from, for
    /// `{{session:token}}`; logged in when a request needs it.
    pub login: Option<Arc<dyn TokenSource>>,
    /// Statuses that mean "log in again" (401 when empty).
    pub relogin_on: Vec<u16>,
    /// The non-secret facts of the OAuth2 grant (`oauth.info`).
    pub oauth_info: Vec<(String, String)>,
    /// Where the connection keeps its `state` (none: in memory, for this
    /// session only).
    pub state: Option<Arc<dyn StateStore>>,
    /// Files handed to the session (a run's input files).
    pub inputs: Vec<Input>,
    /// Secrets the connector may read with `secrets.reveal`.
    pub reveal: Vec<String>,
    /// Where requests wait for the connection's rate budgets.
    pub rate: Option<Arc<dyn super::rate::RateGate>>,
    /// Certificates (PEM) the connection trusts besides the public roots,
    /// set by an administrator.
    pub tls_ca: Option<String>,
    /// Record the session's calls and inputs on this tape, or play them
    /// back from it (`super::cassette`).
    pub tape: Option<Arc<Tape>>,
    /// The connector's own memory and time limits (set at upload), within
    /// the node's maxima.
    pub limits: ConnectorLimits,
    /// The connection's quotas (requests a minute per host, bytes a run).
    pub quotas: crate::model::limits::ConnectionQuotas,
}

impl std::fmt::Debug for dyn StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateStore")
    }
}

impl std::fmt::Debug for dyn TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource")
    }
}

type CallFuture<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// One use of a connector: a run, a check, a `wharf dev` command.
pub struct Session {
    runtime: Runtime,
    connector: Option<Arc<Connector>>,
    config: String,
    http: Arc<HttpSession>,
    secrets: Arc<SecretBook>,
    log: Arc<SessionLog>,
    blobs: Arc<BlobStore>,
    state: Arc<dyn StateStore>,
    oauth_info: Arc<Vec<(String, String)>>,
    call_nanos: std::sync::atomic::AtomicU64,
    calls: std::sync::atomic::AtomicU64,
    /// Instances started: fewer than calls when one served several.
    instances: std::sync::atomic::AtomicU64,
    /// The most linear memory one call's instance held.
    peak_memory: std::sync::atomic::AtomicU64,
    /// Epoch ticks seen by the guest's own code, over all calls.
    epoch_ticks: std::sync::atomic::AtomicU64,
    /// The first calls one by one, and how many more there were.
    per_call: std::sync::Mutex<(Vec<CallUse>, u64)>,
    tape: Option<Arc<Tape>>,
    /// The runtime's limits with the connector's own.
    limits: super::limits::Limits,
    /// Why the last call's first refused request was refused, for its
    /// error's message.
    last_refusal: std::sync::Mutex<Option<String>>,
    /// The instance the last call left for the next one, if it may serve
    /// it (see [`call`]).
    warm: Arc<call::WarmSlot>,
}

/// What a session used, for `wharf dev` to report as the server would
/// count it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Usage {
    /// Calls made.
    pub calls: u64,
    /// Instances started for them: fewer than calls when an instance
    /// served several calls of the session.
    pub instances: u64,
    /// Time in calls (instantiation, the guest, host calls).
    pub call_time: Duration,
    /// The most linear memory one call held, in bytes.
    pub peak_memory: u64,
    /// Epoch ticks (10 ms) in which the guest's own code ran: CPU time
    /// inside Wasm at the sandbox's tick, without waits on the host.
    pub epoch_ticks: u64,
    /// The first calls one by one.
    pub per_call: Vec<CallUse>,
    /// Calls after those.
    pub calls_not_kept: u64,
    /// HTTP requests, bytes, statuses, refusals.
    pub http: HttpCounters,
    /// Requests and bytes per origin: the grants used.
    pub origins: Vec<(String, super::http::OriginUse)>,
    /// Log lines accepted.
    pub log_lines: u64,
    /// Bytes of those lines.
    pub log_bytes: u64,
    /// Log lines dropped past the session's limit.
    pub log_dropped: u64,
}

impl Session {
    /// A session of `connector` with these grants and secrets.
    pub fn new(
        runtime: &Runtime,
        connector: &Arc<Connector>,
        options: SessionOptions,
        log: impl FnOnce(SessionLog) -> SessionLog,
    ) -> Result<Self, SessionError> {
        if !options.config.is_object() {
            return Err(SessionError::ConfigNotObject);
        }
        let mut book = SecretBook::new(
            &connector.spec,
            &options.config,
            &options.secrets,
            &options.reveal,
        )?;
        if let Some(source) = options.oauth {
            // The token may go where the connector says its API is.
            let hosts = connector
                .spec
                .host_patterns(&options.config)
                .unwrap_or_default();
            book = book.with_oauth(TokenSlot::new(hosts, source));
        }
        if let Some(source) = options.login {
            // The session goes where the connector says its API is, too.
            let hosts = connector
                .spec
                .host_patterns(&options.config)
                .unwrap_or_default();
            book = book.with_session(TokenSlot::new(hosts, source).renewed_on(options.relogin_on));
        }
        let book = Arc::new(book);
        let name: Arc<str> = connector.spec.name.as_str().into();
        let limits = runtime.limits().for_connector(&options.limits);
        let limits = &limits;
        let session_log = Arc::new(log(SessionLog::new(
            name,
            limits.log_lines_kept,
            book.shared_redactor(),
        )));
        let policy = EgressPolicy {
            hosts: options.hosts,
            networks: NetworkPolicy::new(options.networks),
            tls_ca: options.tls_ca,
        };
        let blobs = Arc::new(BlobStore::new(limits.blob_bytes, options.inputs));
        if let Some(tape) = &options.tape {
            let spec = &connector.spec;
            tape.attach(
                TapedConnector {
                    name: spec.name.clone(),
                    version: spec.version.clone(),
                    digest: connector.digest().to_string(),
                },
                &options.config,
                options.limits,
                book.shared_redactor(),
            );
        }
        let http = Arc::new(
            HttpSession::new(policy, book.clone(), blobs.clone(), limits)?
                .with_rate(options.rate)
                .with_tape(options.tape.clone())
                .with_quotas(options.quotas),
        );
        Ok(Self {
            runtime: runtime.clone(),
            connector: Some(connector.clone()),
            config: options.config.to_string(),
            http,
            secrets: book,
            log: session_log,
            blobs,
            state: {
                let state = options
                    .state
                    .unwrap_or_else(|| Arc::new(MemoryState::default()));
                // What the connector reads of its state is an input the
                // tape keeps (and answers in a replay).
                match &options.tape {
                    Some(tape) => Arc::new(TapedState::new(state, tape.clone())),
                    None => state,
                }
            },
            oauth_info: Arc::new(options.oauth_info),
            call_nanos: Default::default(),
            calls: Default::default(),
            instances: Default::default(),
            peak_memory: Default::default(),
            epoch_ticks: Default::default(),
            per_call: Default::default(),
            tape: options.tape,
            limits: limits.clone(),
            last_refusal: Default::default(),
            warm: Default::default(),
        })
    }

    /// The session used to call `spec` while loading: no grants, no secrets.
    pub(super) fn for_spec(runtime: &Runtime) -> Self {
        let book = Arc::new(SecretBook::empty());
        let log = Arc::new(SessionLog::new(
            "loading".into(),
            runtime.limits().log_lines_kept,
            book.shared_redactor(),
        ));
        let blobs = Arc::new(BlobStore::new(0, Vec::new()));
        let http = HttpSession::new(
            EgressPolicy::default(),
            book.clone(),
            blobs.clone(),
            runtime.limits(),
        )
        .expect("an HTTP client with default settings always builds");
        Self {
            runtime: runtime.clone(),
            connector: None,
            config: "{}".into(),
            http: Arc::new(http),
            secrets: book,
            log,
            blobs,
            state: Arc::new(MemoryState::default()),
            oauth_info: Arc::default(),
            call_nanos: Default::default(),
            calls: Default::default(),
            instances: Default::default(),
            peak_memory: Default::default(),
            epoch_ticks: Default::default(),
            per_call: Default::default(),
            tape: None,
            limits: runtime.limits().clone(),
            last_refusal: Default::default(),
            warm: Default::default(),
        }
    }

    /// The session's log.
    pub fn log(&self) -> &SessionLog {
        &self.log
    }

    /// HTTP requests and bytes so far.
    pub fn http_counters(&self) -> HttpCounters {
        self.http.counters()
    }

    /// What the session used so far.
    pub fn usage(&self) -> Usage {
        let (per_call, calls_not_kept) = self.per_call.lock().expect("per-call lock").clone();
        Usage {
            calls: self.calls.load(Ordering::Relaxed),
            instances: self.instances.load(Ordering::Relaxed),
            call_time: self.call_time(),
            peak_memory: self.peak_memory.load(Ordering::Relaxed),
            epoch_ticks: self.epoch_ticks.load(Ordering::Relaxed),
            per_call,
            calls_not_kept,
            http: self.http.counters(),
            origins: self.http.origins(),
            log_lines: self.log.accepted(),
            log_bytes: self.log.bytes(),
            log_dropped: self.log.dropped(),
        }
    }

    /// Time spent in calls so far (instantiation, the guest, and host calls
    /// such as HTTP, which [`Session::http_counters`] times separately).
    pub fn call_time(&self) -> Duration {
        Duration::from_nanos(self.call_nanos.load(Ordering::Relaxed))
    }

    fn connector(&self) -> &Arc<Connector> {
        self.connector
            .as_ref()
            .expect("sessions of loaded connectors")
    }

    pub(super) async fn spec_of(&self, connector: &Connector) -> Result<Spec, CallError> {
        self.invoke(
            "spec",
            connector,
            |g, s| Box::pin(async move { g.spec(s).await }),
            |spec| serde_json::to_string(spec).map_or(0, |t| t.len()),
        )
        .await
    }

    /// The blobs of this session.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Run `call` as the call `op` with `args` on the session's tape, if
    /// it has one: recorded, or played back and compared.
    async fn taped<T: serde::Serialize>(
        &self,
        op: &str,
        args: impl Fn() -> Value,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        let Some(tape) = &self.tape else {
            let result = call.await;
            self.settle_instance(result.is_ok());
            return result;
        };
        tape.begin(op, &args);
        /// Ends the tape's call as stopped if the call is dropped (its run
        /// stopped or timed out) before it ends.
        struct Open<'a>(&'a Tape, bool);
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.abandon();
                }
            }
        }
        let mut open = Open(tape, false);
        let result = call.await;
        self.settle_instance(result.is_ok());
        open.1 = true;
        // Taken only when the tape keeps the call (a run's tape keeps the
        // failed ones), as they copy the call's records.
        let outcome = || match &result {
            Ok(value) => serde_json::json!({ "ok": value }),
            Err(e) => {
                serde_json::json!({ "error": { "kind": e.kind(), "message": e.to_string() } })
            }
        };
        tape.end(result.is_err(), &args, &outcome);
        result
    }

    /// Run the connector's `check`.
    pub async fn check(&self) -> Result<(), CallError> {
        self.taped("check", || Value::Null, self.check_untaped())
            .await
    }

    async fn check_untaped(&self) -> Result<(), CallError> {
        let config = self.config.clone();
        let r = self
            .invoke(
                "check",
                self.connector(),
                move |g, s| Box::pin(async move { g.check(s, &config).await }),
                |r| r.as_ref().err().map_or(0, wit_error_size),
            )
            .await?;
        r.map_err(|e| self.guest_error(e))
    }

    /// Renew the tokens this session holds (the connector answered
    /// `auth-expired`); false when it holds none, so calling again would
    /// not help.
    pub async fn renew_credentials(&self) -> bool {
        self.secrets.renew_held().await.unwrap_or(false)
    }

    /// The streams this connection offers (`discover`); `unsupported` for
    /// connectors whose streams are in their spec or config.
    pub async fn discover(&self) -> Result<Vec<crate::model::spec::StreamSpec>, CallError> {
        self.taped("discover", || Value::Null, self.discover_untaped())
            .await
    }

    async fn discover_untaped(&self) -> Result<Vec<crate::model::spec::StreamSpec>, CallError> {
        let config = self.config.clone();
        let streams = self
            .invoke(
                "discover",
                self.connector(),
                move |g, s| Box::pin(async move { g.discover(s, &config).await }),
                |r| match r {
                    Ok(list) => list
                        .iter()
                        .map(|x| {
                            RECORD_OVERHEAD
                                + x.name.len()
                                + x.description.len()
                                + x.schema.len()
                                + x.key_field.as_ref().map_or(0, String::len)
                                + x.cursor_field.as_ref().map_or(0, String::len)
                        })
                        .sum(),
                    Err(e) => wit_error_size(e),
                },
            )
            .await?
            .map_err(|e| self.guest_error(e))?;
        Ok(streams.into_iter().map(stream_from_wit).collect())
    }

    /// Fetch one page of `stream` after `cursor`.
    pub async fn fetch(&self, stream: &str, cursor: Option<&str>) -> Result<Page, CallError> {
        let args = || serde_json::json!({ "stream": stream, "cursor": cursor });
        self.taped("fetch", args, self.fetch_untaped(stream, cursor))
            .await
    }

    async fn fetch_untaped(&self, stream: &str, cursor: Option<&str>) -> Result<Page, CallError> {
        let config = self.config.clone();
        let stream = stream.to_string();
        let cursor = cursor.map(str::to_string);
        let page = self
            .invoke(
                "fetch",
                self.connector(),
                move |g, s| {
                    Box::pin(async move {
                        // Records the guest staged through `wharf:pages`
                        // come first, then the page's own; all are checked
                        // below as one page.
                        s.data_mut().pages.open();
                        let answer = g.fetch(s, &config, &stream, cursor.as_deref()).await;
                        let staged = s.data_mut().pages.close();
                        answer.map(|r| {
                            r.map(|mut page| {
                                if !staged.is_empty() {
                                    page.records.splice(0..0, staged);
                                }
                                page
                            })
                        })
                    })
                },
                |r| match r {
                    Ok(p) => {
                        wit_records_size(&p.records)
                            + p.cursor.as_ref().map_or(0, String::len)
                            + p.row_errors
                                .iter()
                                .map(|e| {
                                    RECORD_OVERHEAD
                                        + e.stream.len()
                                        + e.row.len()
                                        + e.message.len()
                                        + e.field.as_ref().map_or(0, String::len)
                                })
                                .sum::<usize>()
                    }
                    Err(e) => wit_error_size(e),
                },
            )
            .await?
            .map_err(|e| self.guest_error(e))?;
        let mut page = page_from_wit(page, &self.limits)?;
        if let Some(stream) = reserved_stream(&page.records) {
            return Err(reserved(stream));
        }
        let redact = |s: &str| clip_message(&self.secrets.redactor().redact_str(s));
        for e in &mut page.row_errors {
            e.message = redact(&e.message);
            e.row = redact(&e.row);
        }
        Ok(page)
    }

    /// Map records.
    pub async fn map(&self, records: &[Record]) -> Result<Vec<Record>, CallError> {
        let args = || serde_json::json!({ "records": records });
        self.taped("map", args, self.map_untaped(records)).await
    }

    async fn map_untaped(&self, records: &[Record]) -> Result<Vec<Record>, CallError> {
        let config = self.config.clone();
        let input = records_to_wit(records);
        let out = self
            .invoke(
                "map",
                self.connector(),
                move |g, s| Box::pin(async move { g.map(s, &config, &input).await }),
                |r| {
                    r.as_ref()
                        .map_or_else(wit_error_size, |v| wit_records_size(v))
                },
            )
            .await?
            .map_err(|e| self.guest_error(e))?;
        let mut out = records_from_wit(out, &self.limits)?;
        // A refusal's words are the connector's: redacted and clipped like
        // a destination's rejections.
        let redact = |s: &str| clip_message(&self.secrets.redactor().redact_str(s));
        for r in out.iter_mut() {
            if let Some(mut e) = mapper_rejection(r) {
                (e.message, e.row) = (redact(&e.message), redact(&e.row));
                *r = rejection_record(&e);
            }
        }
        Ok(out)
    }

    /// Push records to the destination.
    pub async fn push(&self, records: &[Record]) -> Result<PushResult, CallError> {
        let args = || serde_json::json!({ "records": records });
        self.taped("push", args, self.push_untaped(records)).await
    }

    async fn push_untaped(&self, records: &[Record]) -> Result<PushResult, CallError> {
        let config = self.config.clone();
        let input = records_to_wit(records);
        let count = records.len();
        let r = self
            .invoke(
                "push",
                self.connector(),
                move |g, s| Box::pin(async move { g.push(s, &config, &input).await }),
                |r| {
                    r.as_ref().map_or_else(wit_error_size, |p| {
                        p.rejected
                            .iter()
                            .map(|x| {
                                RECORD_OVERHEAD
                                    + x.message.len()
                                    + x.field.as_ref().map_or(0, String::len)
                            })
                            .sum::<usize>()
                            + p.accepted_job.as_ref().map_or(0, String::len)
                    })
                },
            )
            .await?
            .map_err(|e| self.guest_error(e))?;
        // Each record is rejected at most once, and only records of the
        // batch: rejections are stored per record, so a destination must
        // not be able to multiply them.
        if r.rejected.len() > count {
            return Err(CallError::Protocol(format!(
                "push rejected {} records of a batch of {count}",
                r.rejected.len()
            )));
        }
        let mut seen = vec![false; count];
        for x in &r.rejected {
            match seen.get_mut(x.index as usize) {
                Some(s) if !*s => *s = true,
                Some(_) => {
                    return Err(CallError::Protocol(format!(
                        "push rejected record index {} twice",
                        x.index
                    )));
                }
                None => {
                    return Err(CallError::Protocol(format!(
                        "push rejected record index {} of a batch of {count}",
                        x.index
                    )));
                }
            }
        }
        let redact = |s: &str| clip_message(&self.secrets.redactor().redact_str(s));
        let rejected = r
            .rejected
            .into_iter()
            .map(|x| Rejection {
                index: x.index,
                field: x.field.map(|f| redact(&f)),
                message: redact(&x.message),
            })
            .collect::<Vec<_>>();
        Ok(PushResult {
            created: r.created,
            updated: r.updated,
            deleted: r.deleted,
            rejected,
            accepted_job: r.accepted_job.map(|j| redact(&j)),
        })
    }

    /// Turn a verified webhook delivery into records.
    pub async fn receive(
        &self,
        method: &str,
        headers: Vec<(String, String)>,
        query: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<Record>, CallError> {
        if self.tape.is_none() {
            return self.receive_untaped(method, headers, query, body).await;
        }
        let args = serde_json::json!({
            "method": method,
            "headers": headers,
            "query": query,
            "body": String::from_utf8_lossy(&body),
        });
        self.taped(
            "receive",
            || args.clone(),
            self.receive_untaped(method, headers, query, body),
        )
        .await
    }

    async fn receive_untaped(
        &self,
        method: &str,
        headers: Vec<(String, String)>,
        query: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<Record>, CallError> {
        let config = self.config.clone();
        let delivery = wit::Incoming {
            method: method.to_string(),
            headers,
            query,
            body,
        };
        let out = self
            .invoke(
                "receive",
                self.connector(),
                move |g, s| Box::pin(async move { g.receive(s, &config, &delivery).await }),
                |r| {
                    r.as_ref()
                        .map_or_else(wit_error_size, |v| wit_records_size(v))
                },
            )
            .await?
            .map_err(|e| self.guest_error(e))?;
        let records = records_from_wit(out, &self.limits)?;
        match reserved_stream(&records) {
            Some(stream) => Err(reserved(stream)),
            None => Ok(records),
        }
    }
}

/// A source named a stream only the host may name.
fn reserved(stream: &str) -> CallError {
    CallError::Protocol(format!(
        "the stream `{stream}` is the host's: a source may not emit records of it"
    ))
}
