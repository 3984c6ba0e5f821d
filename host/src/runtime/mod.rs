//! The sandbox: one wasmtime engine per process, connectors compiled once
//! and cached, and a fresh, limited store for every call.
//!
//! - [`Runtime`] owns the engine (epoch ticker, pooling allocator when the
//!   address space allows), the linker and the artifact cache.
//! - [`Connector`] is a loaded, checked component with its spec and an
//!   `InstancePre`, shared by every session that uses it.
//! - [`Session`] is one use of a connector (a run, or a `wharf dev` command):
//!   config, grants, secrets, HTTP budget and log. Each call instantiates a
//!   fresh instance in a fresh store, so a crash or a broken limit cannot
//!   leak into the next call, and connectors hold no state between calls.

pub mod bindings;
pub mod http;
pub mod limits;
pub mod loader;
pub mod log;
pub mod secrets;
pub mod wasi;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use ipnet::IpNet;
use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasData, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use crate::egress::networks::NetworkPolicy;
use crate::egress::policy::EgressPolicy;
use crate::model::grants::HostPattern;
use crate::model::record::{Op, Page, PushResult, Record, Rejection};
use crate::model::spec::Spec;
use bindings::exports::wharf::connector::connector::Guest;
use bindings::wharf::connector::types as wit;
pub use http::{HttpCounters, STATUS_CLASSES};
use http::{HttpSession, HttpState};
use limits::MemoryGuard;
pub use limits::{LimitExceeded, Limits};
pub use loader::LoadError;
use log::{CallLog, LogBudget, LogState, SessionLog};
pub use log::{Level, LogLine, LogSource};
use secrets::{SecretBook, SecretSetupError, SecretValue, SecretsState};
use wasi::WasiState;

/// How often the epoch advances: the granularity of call deadlines and of
/// yielding to other tasks while a guest computes.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How a [`Runtime`] is set up.
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    /// Limits applied to every connector.
    pub limits: Limits,
    /// Where compiled artifacts are cached (none: compile on every load).
    pub cache_dir: Option<PathBuf>,
    /// Do not try the pooling allocator.
    pub no_pooling: bool,
}

/// The process-wide sandbox. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<Ctx>,
    limits: Limits,
    cache: loader::ArtifactCache,
    pooling: bool,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("pooling", &self.inner.pooling)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Create the engine, linker and epoch ticker.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let limits = options.limits;
        let (engine, pooling) = make_engine(&limits, !options.no_pooling)?;
        let mut linker = Linker::new(&engine);
        add_capabilities(&mut linker)?;
        let cache = loader::ArtifactCache::new(options.cache_dir, &engine);
        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                limits,
                cache,
                pooling,
                _ticker: ticker,
            }),
        })
    }

    /// The limits every connector runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether instances come from the pooling allocator.
    pub fn uses_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// Check, compile (or load from the cache) and describe a component.
    pub async fn load(&self, bytes: &[u8]) -> Result<Arc<Connector>, LoadError> {
        let inspection = loader::inspect(bytes, self.inner.limits.component_bytes)?;
        let digest = hex::encode(Sha256::digest(bytes));
        let (component, cached) = self.compile(&digest, bytes).await?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = bindings::SandboxedConnectorPre::new(pre)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let mut connector = Connector {
            digest,
            spec: placeholder_spec(),
            pre,
            imports: inspection.imports.clone(),
            wasi_imports: inspection.wasi_imports(),
            size: bytes.len(),
            from_cache: cached,
        };
        let session = Session::for_spec(self);
        let spec = session
            .spec_of(&connector)
            .await
            .map_err(|e| LoadError::Spec(e.to_string()))?;
        spec.validate().map_err(|e| LoadError::Spec(e.0))?;
        connector.spec = spec;
        Ok(Arc::new(connector))
    }

    /// Compiled code for `bytes`: from the cache when this process (or an
    /// earlier one with the same engine) compiled it, else compiled now, off
    /// the async threads, within the compile time limit.
    async fn compile(&self, digest: &str, bytes: &[u8]) -> Result<(Component, bool), LoadError> {
        let cache = &self.inner.cache;
        if let Some(path) = cache.path(digest).filter(|p| p.exists()) {
            // Read, not mapped: a mapped file changed underneath by another
            // process would crash this one with SIGBUS.
            let loaded = tokio::fs::read(&path)
                .await
                .map_err(wasmtime::Error::from)
                .and_then(|artifact| {
                    // SAFETY: the file was written by `ArtifactCache::store`
                    // from `Component::serialize` under this engine's
                    // compatibility hash; user bytes are never stored there.
                    #[allow(unsafe_code)]
                    unsafe {
                        Component::deserialize(&self.inner.engine, &artifact)
                    }
                });
            match loaded {
                Ok(c) => return Ok((c, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "dropping unusable cached artifact");
                    cache.evict(&path);
                }
            }
        }
        let engine = self.inner.engine.clone();
        let owned = bytes.to_vec();
        let limit = self.inner.limits.compile_timeout;
        let task = tokio::task::spawn_blocking(move || -> wasmtime::Result<_> {
            let component = Component::new(&engine, &owned)?;
            let artifact = component.serialize()?;
            Ok((component, artifact))
        });
        let (component, artifact) = match tokio::time::timeout(limit, task).await {
            Err(_) => return Err(LoadError::CompileTimeout(limit)),
            Ok(Err(join)) => return Err(LoadError::Compile(join.to_string())),
            Ok(Ok(Err(e))) => return Err(LoadError::Compile(format!("{e:#}"))),
            Ok(Ok(Ok(done))) => done,
        };
        if let Err(e) = cache.store(digest, &artifact) {
            tracing::warn!(error = %e, "could not cache compiled artifact");
        }
        Ok((component, false))
    }
}

fn make_engine(limits: &Limits, try_pooling: bool) -> anyhow::Result<(Engine, bool)> {
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(limits.max_wasm_stack)
        .async_stack_size(limits.max_wasm_stack + (1 << 20));
    if try_pooling {
        let slots = limits.max_instances.max(1);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            .total_core_instances(slots * 16)
            .total_memories(slots * limits::MEMORIES_PER_INSTANCE)
            .max_memories_per_component(limits::MEMORIES_PER_INSTANCE)
            .total_tables(slots * 16)
            .total_stacks(slots)
            .max_memory_size(limits.memory_bytes)
            .max_unused_warm_slots(limits::WARM_SLOTS)
            // Instances are created and dropped for every call. Keeping the
            // low pages of memories, tables and stacks resident, and
            // resetting only the pages a call dirtied (PAGEMAP_SCAN on Linux
            // 6.7+, memset otherwise), avoids an madvise and page faults per
            // call; batching the remaining decommits saves syscalls.
            .linear_memory_keep_resident(limits::KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(256 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .decommit_batch_size(32);
        let mut pooled = config.clone();
        pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&pooled) {
            Ok(engine) => {
                tracing::debug!(
                    instances = slots,
                    memory_bound_mib = limits.node_memory_bound() >> 20,
                    "sandbox pool ready"
                );
                return Ok((engine, true));
            }
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
            }
        }
    }
    Ok((Engine::new(&config)?, false))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wharf-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn epoch ticker");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The store data of one call: each capability's state, and the limits.
pub(crate) struct Ctx {
    wasi: WasiState,
    http: HttpState,
    secrets: SecretsState,
    log: LogState,
    guard: MemoryGuard,
    deadline: Instant,
    timeout: Duration,
}

impl wasmtime_wasi::WasiView for Ctx {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.wasi.view()
    }
}

struct HttpData;
impl HasData for HttpData {
    type Data<'a> = &'a mut HttpState;
}
struct SecretsData;
impl HasData for SecretsData {
    type Data<'a> = &'a mut SecretsState;
}
struct LogData;
impl HasData for LogData {
    type Data<'a> = &'a mut LogState;
}

/// Link every interface a connector may import, each to the state of the
/// module that owns it.
fn add_capabilities(linker: &mut Linker<Ctx>) -> wasmtime::Result<()> {
    use bindings::wharf::connector as iface;
    iface::http::add_to_linker::<Ctx, HttpData>(linker, |c| &mut c.http)?;
    iface::secrets::add_to_linker::<Ctx, SecretsData>(linker, |c| &mut c.secrets)?;
    iface::log::add_to_linker::<Ctx, LogData>(linker, |c| &mut c.log)?;
    wasi::add_to_linker(linker)
}

/// A loaded connector: checked, compiled, described by its spec.
pub struct Connector {
    digest: String,
    spec: Spec,
    pre: bindings::SandboxedConnectorPre<Ctx>,
    imports: Vec<String>,
    wasi_imports: Vec<String>,
    size: usize,
    from_cache: bool,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.spec.name)
            .field("version", &self.spec.version)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Hex SHA-256 of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// What the connector declares.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    /// Every top-level import.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
    /// The WASI interfaces it imports (all given nothing).
    pub fn wasi_imports(&self) -> &[String] {
        &self.wasi_imports
    }
    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Whether the compiled code came from the artifact cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }
}

fn placeholder_spec() -> Spec {
    Spec {
        name: String::new(),
        version: String::new(),
        description: String::new(),
        roles: Vec::new(),
        streams: Vec::new(),
        config_schema: Value::Null,
        secrets: Vec::new(),
        hosts: Vec::new(),
        oauth2: None,
        webhook: None,
    }
}

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
    /// The connection's OAuth2 access token, for `{{oauth:access_token}}`.
    pub oauth_token: Option<SecretValue>,
}

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The config is not a JSON object.
    #[error("config must be a JSON object")]
    ConfigNotObject,
    /// A secret's setup failed.
    #[error(transparent)]
    Secrets(#[from] SecretSetupError),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A connector's own error: what the host should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ConnectorError {
    /// Bad config; not retried.
    #[error("config error: {0}")]
    Config(String),
    /// Credentials rejected; not retried.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Retry after this many seconds.
    #[error("rate limited: retry after {0} s")]
    RateLimited(u32),
    /// Temporary; retried with backoff.
    #[error("transient error: {0}")]
    Transient(String),
    /// Permanent; the run fails.
    #[error("fatal error: {0}")]
    Fatal(String),
    /// The function is not implemented by this connector.
    #[error("unsupported: the connector does not implement this function")]
    Unsupported,
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The connector returned an error.
    #[error(transparent)]
    Connector(ConnectorError),
    /// A sandbox limit was broken.
    #[error(transparent)]
    Limit(LimitExceeded),
    /// The connector crashed (trap, panic).
    #[error("the connector crashed: {0}")]
    Trap(String),
    /// The connector returned data that breaks the contract.
    #[error("the connector broke the contract: {0}")]
    Protocol(String),
    /// The sandbox could not run the call (e.g. no free instance slot).
    #[error("the sandbox could not run the call: {0}")]
    Sandbox(String),
}

impl CallError {
    /// A short machine-readable kind: `config`, `auth`, `rate_limited`,
    /// `transient`, `fatal`, `unsupported`, `limit`, `trap`, `protocol`,
    /// `sandbox`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connector(ConnectorError::Config(_)) => "config",
            Self::Connector(ConnectorError::Auth(_)) => "auth",
            Self::Connector(ConnectorError::RateLimited(_)) => "rate_limited",
            Self::Connector(ConnectorError::Transient(_)) => "transient",
            Self::Connector(ConnectorError::Fatal(_)) => "fatal",
            Self::Connector(ConnectorError::Unsupported) => "unsupported",
            Self::Limit(_) => "limit",
            Self::Trap(_) => "trap",
            Self::Protocol(_) => "protocol",
            Self::Sandbox(_) => "sandbox",
        }
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
    call_nanos: std::sync::atomic::AtomicU64,
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
        let mut book = SecretBook::new(&connector.spec, &options.config, &options.secrets)?;
        if let Some(token) = options.oauth_token {
            // The token may go where the connector says its API is.
            let hosts = connector
                .spec
                .host_patterns(&options.config)
                .unwrap_or_default();
            book = book.with_oauth(token, hosts);
        }
        let book = Arc::new(book);
        let name: Arc<str> = connector.spec.name.as_str().into();
        let limits = runtime.limits();
        let session_log = Arc::new(log(SessionLog::new(
            name,
            limits.log_lines_kept,
            book.redactor().clone(),
        )));
        let policy = EgressPolicy {
            hosts: options.hosts,
            networks: NetworkPolicy::new(options.networks),
        };
        let http = Arc::new(HttpSession::new(policy, book.clone(), limits)?);
        Ok(Self {
            runtime: runtime.clone(),
            connector: Some(connector.clone()),
            config: options.config.to_string(),
            http,
            secrets: book,
            log: session_log,
            call_nanos: Default::default(),
        })
    }

    /// The session used to call `spec` while loading: no grants, no secrets.
    fn for_spec(runtime: &Runtime) -> Self {
        let book = Arc::new(SecretBook::empty());
        let log = Arc::new(SessionLog::new(
            "loading".into(),
            runtime.limits().log_lines_kept,
            book.redactor().clone(),
        ));
        let http = HttpSession::new(EgressPolicy::default(), book.clone(), runtime.limits())
            .expect("an HTTP client with default settings always builds");
        Self {
            runtime: runtime.clone(),
            connector: None,
            config: "{}".into(),
            http: Arc::new(http),
            secrets: book,
            log,
            call_nanos: Default::default(),
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

    async fn spec_of(&self, connector: &Connector) -> Result<Spec, CallError> {
        let spec = self
            .invoke(connector, |g, s| Box::pin(g.call_spec(s)), wit_spec_size)
            .await?;
        Ok(spec_from_wit(spec))
    }

    /// Run the connector's `check`.
    pub async fn check(&self) -> Result<(), CallError> {
        let config = self.config.clone();
        let r = self
            .invoke(
                self.connector(),
                move |g, s| Box::pin(async move { g.call_check(s, &config).await }),
                |r| r.as_ref().err().map_or(0, wit_error_size),
            )
            .await?;
        r.map_err(|e| self.guest_error(e))
    }

    /// Fetch one page of `stream` after `cursor`.
    pub async fn fetch(&self, stream: &str, cursor: Option<&str>) -> Result<Page, CallError> {
        let config = self.config.clone();
        let stream = stream.to_string();
        let cursor = cursor.map(str::to_string);
        let page = self
            .invoke(
                self.connector(),
                move |g, s| {
                    Box::pin(
                        async move { g.call_fetch(s, &config, &stream, cursor.as_deref()).await },
                    )
                },
                |r| match r {
                    Ok(p) => {
                        wit_records_size(&p.records) + p.cursor.as_ref().map_or(0, String::len)
                    }
                    Err(e) => wit_error_size(e),
                },
            )
            .await?
            .map_err(|e| self.guest_error(e))?;
        Ok(Page {
            records: records_from_wit(page.records, self.runtime.limits())?,
            cursor: page.cursor,
            more: page.more,
        })
    }

    /// Map records.
    pub async fn map(&self, records: &[Record]) -> Result<Vec<Record>, CallError> {
        let config = self.config.clone();
        let input = records_to_wit(records);
        let out = self
            .invoke(
                self.connector(),
                move |g, s| Box::pin(async move { g.call_map(s, &config, &input).await }),
                |r| {
                    r.as_ref()
                        .map_or_else(wit_error_size, |v| wit_records_size(v))
                },
            )
            .await?
            .map_err(|e| self.guest_error(e))?;
        records_from_wit(out, self.runtime.limits())
    }

    /// Push records to the destination.
    pub async fn push(&self, records: &[Record]) -> Result<PushResult, CallError> {
        let config = self.config.clone();
        let input = records_to_wit(records);
        let count = records.len();
        let r = self
            .invoke(
                self.connector(),
                move |g, s| Box::pin(async move { g.call_push(s, &config, &input).await }),
                |r| {
                    r.as_ref().map_or_else(wit_error_size, |p| {
                        p.rejected
                            .iter()
                            .map(|x| {
                                RECORD_OVERHEAD
                                    + x.message.len()
                                    + x.field.as_ref().map_or(0, String::len)
                            })
                            .sum()
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
        })
    }

    /// Turn a verified webhook delivery into records.
    pub async fn receive(
        &self,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<Record>, CallError> {
        let config = self.config.clone();
        let delivery = wit::Incoming { headers, body };
        let out = self
            .invoke(
                self.connector(),
                move |g, s| Box::pin(async move { g.call_receive(s, &config, &delivery).await }),
                |r| {
                    r.as_ref()
                        .map_or_else(wit_error_size, |v| wit_records_size(v))
                },
            )
            .await?
            .map_err(|e| self.guest_error(e))?;
        records_from_wit(out, self.runtime.limits())
    }

    fn guest_error(&self, e: wit::Error) -> CallError {
        let r = |s: String| clip_message(&self.secrets.redactor().redact_str(&s));
        CallError::Connector(match e {
            wit::Error::Config(m) => ConnectorError::Config(r(m)),
            wit::Error::Auth(m) => ConnectorError::Auth(r(m)),
            wit::Error::RateLimited(n) => ConnectorError::RateLimited(n),
            wit::Error::Transient(m) => ConnectorError::Transient(r(m)),
            wit::Error::Fatal(m) => ConnectorError::Fatal(r(m)),
            wit::Error::Unsupported => ConnectorError::Unsupported,
        })
    }

    fn new_store(&self) -> Store<Ctx> {
        let limits = self.runtime.limits();
        let budget = LogBudget {
            lines: limits.log_lines_per_call,
            bytes: limits.log_bytes_per_call,
        };
        let call = CallLog::new(self.log.clone(), budget);
        let ctx = Ctx {
            wasi: WasiState::new(&call),
            http: HttpState {
                session: self.http.clone(),
                log: call.clone(),
                denied: 0,
                denial_limit: limits.http_denials_per_call,
            },
            secrets: SecretsState {
                book: self.secrets.clone(),
                log: call.clone(),
            },
            log: LogState { call },
            guard: MemoryGuard::new(limits.memory_bytes),
            deadline: Instant::now() + limits.call_timeout,
            timeout: limits.call_timeout,
        };
        let mut store = Store::new(&self.runtime.inner.engine, ctx);
        store.limiter(|c| &mut c.guard);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            let ctx = ctx.data();
            if Instant::now() >= ctx.deadline {
                return Err(wasmtime::Error::new(LimitExceeded::Time(ctx.timeout)));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Instantiate `connector` in a fresh store, make one call, and turn
    /// every way it can fail into a [`CallError`] that names the cause.
    async fn invoke<R: Send>(
        &self,
        connector: &Connector,
        call: impl for<'a> FnOnce(&'a Guest, &'a mut Store<Ctx>) -> CallFuture<'a, R>,
        output_size: impl FnOnce(&R) -> usize,
    ) -> Result<R, CallError> {
        let started = Instant::now();
        let result = self.invoke_timed(connector, call, output_size).await;
        self.call_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    async fn invoke_timed<R: Send>(
        &self,
        connector: &Connector,
        call: impl for<'a> FnOnce(&'a Guest, &'a mut Store<Ctx>) -> CallFuture<'a, R>,
        output_size: impl FnOnce(&R) -> usize,
    ) -> Result<R, CallError> {
        let limits = self.runtime.limits();
        let mut store = self.new_store();
        let instance = match connector.pre.instantiate_async(&mut store).await {
            Ok(i) => i,
            Err(e) => return Err(self.classify(e, &store)),
        };
        // Backstop: epoch interruption does not fire inside host calls.
        let backstop = limits.call_timeout + Duration::from_secs(1);
        let outcome = {
            let fut = call(instance.wharf_connector_connector(), &mut store);
            // A panic in the host while serving this call (a bug in Wharf,
            // reached through guest input) ends the call, not the process
            // or the task that runs it.
            std::panic::AssertUnwindSafe(tokio::time::timeout(backstop, fut))
                .catch_unwind()
                .await
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(panic) => {
                let what = panic_message(&*panic);
                tracing::error!(connector = %connector.spec.name, panic = %what, "the host panicked while serving a call");
                return Err(CallError::Sandbox(format!(
                    "the host failed while serving this call and stopped it (a bug in Wharf: {what})"
                )));
            }
        };
        store.data().http.finish();
        store.data().wasi.flush();
        if let Some(limit) = store.data().log.call.exceeded() {
            return Err(CallError::Limit(limit));
        }
        let value = match outcome {
            Err(_) => return Err(CallError::Limit(LimitExceeded::Time(limits.call_timeout))),
            Ok(Err(e)) => return Err(self.classify(e, &store)),
            Ok(Ok(value)) => value,
        };
        let size = output_size(&value);
        if size > limits.max_output_bytes {
            return Err(CallError::Limit(LimitExceeded::Output {
                size,
                limit: limits.max_output_bytes,
            }));
        }
        Ok(value)
    }

    fn classify(&self, e: wasmtime::Error, store: &Store<Ctx>) -> CallError {
        let ctx = store.data();
        if let Some(limit) = e.downcast_ref::<LimitExceeded>() {
            return CallError::Limit(limit.clone());
        }
        if ctx.guard.hit {
            return CallError::Limit(LimitExceeded::Memory {
                limit: ctx.guard.memory_bytes,
            });
        }
        match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::StackOverflow) => CallError::Limit(LimitExceeded::Stack {
                limit: self.runtime.limits().max_wasm_stack,
            }),
            Some(wasmtime::Trap::Interrupt) => {
                CallError::Limit(LimitExceeded::Time(self.runtime.limits().call_timeout))
            }
            Some(wasmtime::Trap::MemoryOutOfBounds) => CallError::Trap(format!(
                "{} (in Rust guests this is often a stack overflow: the shadow stack lives in linear memory)",
                wasmtime::Trap::MemoryOutOfBounds
            )),
            Some(trap) => CallError::Trap(trap.to_string()),
            None => {
                let text = format!("{e:#}");
                let text = clip_message(&self.secrets.redactor().redact_str(&text));
                if text.contains("instance") && text.contains("limit") {
                    CallError::Sandbox(text)
                } else {
                    CallError::Trap(text)
                }
            }
        }
    }
}

/// What a record costs against the output limit: its strings, plus what
/// the host spends on one more record even when they are empty.
const RECORD_OVERHEAD: usize = 64;

fn wit_spec_size(s: &wit::ConnectorSpec) -> usize {
    let list = |v: &[String]| v.iter().map(String::len).sum::<usize>();
    s.name.len()
        + s.version.len()
        + s.description.len()
        + s.config_schema.len()
        + list(&s.hosts)
        + s.streams
            .iter()
            .map(|x| RECORD_OVERHEAD + x.name.len() + x.description.len() + x.schema.len())
            .sum::<usize>()
        + s.secrets
            .iter()
            .map(|x| RECORD_OVERHEAD + x.name.len() + x.description.len() + list(&x.hosts))
            .sum::<usize>()
}

fn wit_error_size(e: &wit::Error) -> usize {
    match e {
        wit::Error::Config(m)
        | wit::Error::Auth(m)
        | wit::Error::Transient(m)
        | wit::Error::Fatal(m) => m.len(),
        wit::Error::RateLimited(_) | wit::Error::Unsupported => 0,
    }
}

fn wit_records_size(records: &[wit::Record]) -> usize {
    records
        .iter()
        .map(|r| {
            RECORD_OVERHEAD + r.stream.len() + r.key.as_ref().map_or(0, String::len) + r.data.len()
        })
        .sum()
}

/// Longest message from a connector the host keeps (errors, rejections):
/// they end up in the run, the connection's status, logs and events.
pub const MAX_MESSAGE_BYTES: usize = 4 << 10;

/// `text` cut to [`MAX_MESSAGE_BYTES`] at a character boundary.
fn clip_message(text: &str) -> String {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &text[..end], text.len() - end)
}

/// The text of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn records_to_wit(records: &[Record]) -> Vec<wit::Record> {
    records
        .iter()
        .map(|r| wit::Record {
            stream: r.stream.clone(),
            key: r.key.clone(),
            op: match r.op {
                Op::Upsert => wit::Op::Upsert,
                Op::Delete => wit::Op::Delete,
            },
            data: r.data.get().to_string(),
        })
        .collect()
}

fn records_from_wit(records: Vec<wit::Record>, limits: &Limits) -> Result<Vec<Record>, CallError> {
    if records.len() > limits.max_records_per_call {
        return Err(CallError::Limit(LimitExceeded::Records {
            count: records.len(),
            limit: limits.max_records_per_call,
        }));
    }
    if let Some(index) = records
        .iter()
        .position(|r| crate::model::record::nests_deeper_than(&r.data, limits.max_json_depth))
    {
        return Err(CallError::Limit(LimitExceeded::Depth {
            index,
            limit: limits.max_json_depth,
        }));
    }
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let op = match r.op {
                wit::Op::Upsert => Op::Upsert,
                wit::Op::Delete => Op::Delete,
            };
            let stream = r.stream;
            Record::new(stream.clone(), r.key, op, r.data).map_err(|reason| {
                CallError::Protocol(format!(
                    "record {i} of stream `{stream}`: data is not a JSON object ({reason})"
                ))
            })
        })
        .collect()
}

fn spec_from_wit(s: wit::ConnectorSpec) -> Spec {
    use crate::model::spec::{OAuth2Spec, Role, SecretSpec, StreamSpec, WebhookScheme};
    let json = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
    Spec {
        name: s.name,
        version: s.version,
        description: s.description,
        roles: s
            .roles
            .into_iter()
            .map(|r| match r {
                wit::Role::Source => Role::Source,
                wit::Role::Destination => Role::Destination,
                wit::Role::Mapper => Role::Mapper,
            })
            .collect(),
        streams: s
            .streams
            .into_iter()
            .map(|st| StreamSpec {
                schema: json(&st.schema),
                name: st.name,
                description: st.description,
                key_field: st.key_field,
                cursor_field: st.cursor_field,
            })
            .collect(),
        config_schema: json(&s.config_schema),
        secrets: s
            .secrets
            .into_iter()
            .map(|x| SecretSpec {
                name: x.name,
                description: x.description,
                hosts: x.hosts,
                reveal: x.reveal,
                required: x.required,
            })
            .collect(),
        hosts: s.hosts,
        oauth2: s.oauth2.map(|o| OAuth2Spec {
            authorize_url: o.authorize_url,
            token_url: o.token_url,
            scopes: o.scopes,
            pkce: o.pkce,
        }),
        webhook: s.webhook.map(|w| match w {
            wit::WebhookScheme::StandardWebhooks => WebhookScheme::StandardWebhooks,
            wit::WebhookScheme::Github => WebhookScheme::Github,
            wit::WebhookScheme::Shopify => WebhookScheme::Shopify,
            wit::WebhookScheme::Stripe => WebhookScheme::Stripe,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component with `n` core instances, each with its own memory, and
    /// an export that tries to grow every one of them by `limit`.
    fn many_memories(n: usize, grow_pages: u32) -> Vec<u8> {
        let instances: String = (0..n)
            .map(|i| format!("(core instance $i{i} (instantiate $m))\n"))
            .collect();
        let imports: String = (0..n)
            .map(|i| format!("(import \"m{i}\" \"grow\" (func $g{i} (result i32)))\n"))
            .collect();
        let calls: String = (0..n)
            .map(|i| {
                format!(
                    "(if (i32.ne (call $g{i}) (i32.const -1)) (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))\n"
                )
            })
            .collect();
        let withs: String = (0..n)
            .map(|i| format!("(with \"m{i}\" (instance $i{i}))"))
            .collect();
        let text = format!(
            r#"(component
                (core module $m
                    (memory 0)
                    (func (export "grow") (result i32) (memory.grow (i32.const {grow_pages}))))
                {instances}
                (core module $driver
                    {imports}
                    (func (export "run") (result i32) (local $ok i32)
                        {calls}
                        (local.get $ok)))
                (core instance $d (instantiate $driver {withs}))
                (func (export "run") (result u32) (canon lift (core func $d "run"))))"#
        );
        wat::parse_str(&text).expect("valid component text")
    }

    #[tokio::test]
    async fn the_memory_limit_holds_for_all_memories_of_an_instance() {
        let pages_of_limit = (Limits::default().memory_bytes / 65_536) as u32;
        for pooling in [false, true] {
            let rt = Runtime::new(RuntimeOptions {
                no_pooling: !pooling,
                ..RuntimeOptions::default()
            })
            .unwrap();
            let session = Session::for_spec(&rt);
            let linker = Linker::<Ctx>::new(&rt.inner.engine);

            // Four memories, each asking for the whole limit: one gets it.
            let component =
                Component::new(&rt.inner.engine, many_memories(4, pages_of_limit)).unwrap();
            let mut store = session.new_store();
            let instance = linker
                .instantiate_async(&mut store, &component)
                .await
                .unwrap();
            let run = instance
                .get_typed_func::<(), (u32,)>(&mut store, "run")
                .unwrap();
            let (grown,) = run.call_async(&mut store, ()).await.unwrap();
            assert_eq!(grown, 1, "pooling {pooling}");
            assert!(store.data().guard.memory_in_use() <= Limits::default().memory_bytes);
            assert!(store.data().guard.hit);

            // Sixteen memories are refused before any of them is used: at
            // compile time by the pool, at instantiation by the limiter.
            let err = match Component::new(&rt.inner.engine, many_memories(16, 1)) {
                Err(e) => e,
                Ok(component) => {
                    let mut store = session.new_store();
                    linker
                        .instantiate_async(&mut store, &component)
                        .await
                        .err()
                        .unwrap_or_else(|| panic!("16 memories instantiated (pooling {pooling})"))
                }
            };
            let text = format!("{err:#}");
            assert!(text.contains("memor"), "pooling {pooling}: {text}");
        }
    }
}
