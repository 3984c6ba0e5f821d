//! The process-wide sandbox: one wasmtime engine (epoch ticker, pooling
//! allocator when the address space allows), the linker with every
//! capability, and the compiled-artifact cache.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, HasData, Linker};

use super::bindings;
use super::blobs::BlobsState;
use super::connector::{Connector, placeholder_spec};
use super::guest::Pre;
use super::http::HttpState;
use super::limits::{self, Limits, MemoryGuard};
use super::loader::{self, LoadError};
use super::log::LogState;
use super::pages::PagesState;
use super::secrets::SecretsState;
use super::session::Session;
use super::state::{OAuthInfoState, StateState};
use super::wasi::{self, WasiState};

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
    pub(super) inner: Arc<RuntimeInner>,
}

pub(super) struct RuntimeInner {
    pub(super) engine: Engine,
    linker: Linker<Ctx>,
    limits: Limits,
    cache: loader::ArtifactCache,
    pooling: bool,
    /// One permit per instance the node may hold at once: a call waits
    /// for one instead of failing when a burst (webhook deliveries, many
    /// runs) asks for more than the pool has.
    instances: Arc<tokio::sync::Semaphore>,
    /// Sessions that keep an instance for their next call: they give it
    /// back when a call finds no free slot.
    kept: std::sync::Mutex<Vec<Weak<dyn KeptInstance>>>,
    _ticker: EpochTicker,
}

/// What holds an instance only to reuse it, and lets it go on request.
pub(super) trait KeptInstance: Send + Sync {
    /// Drop the instance kept, if any.
    fn release(&self);
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
        let slots = limits.max_instances.max(1) as usize;
        Ok(Self {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                limits,
                cache,
                pooling,
                instances: Arc::new(tokio::sync::Semaphore::new(slots)),
                kept: Default::default(),
                _ticker: ticker,
            }),
        })
    }

    /// The limits every connector runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Wait, at most the call timeout, for room for one more instance;
    /// `None` when every slot stayed busy that long.
    pub(super) async fn instance_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let instances = &self.inner.instances;
        if let Ok(slot) = instances.clone().try_acquire_owned() {
            return Some(slot);
        }
        // No slot free: instances kept for a session's next call give
        // theirs back before anyone waits.
        let kept = std::mem::take(&mut *self.inner.kept.lock().expect("kept lock"));
        for k in kept.iter().filter_map(Weak::upgrade) {
            k.release();
        }
        let wait = self.inner.limits.call_timeout;
        tokio::time::timeout(wait, instances.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// Whether an instance may stay for its session's next call: unless
    /// every call must start afresh, only while more than half of this
    /// node's instances are free.
    pub(super) fn may_keep_instance(&self) -> bool {
        if self.inner.limits.fresh_instances {
            return false;
        }
        let half = (self.inner.limits.max_instances.max(1) / 2) as usize;
        self.inner.instances.available_permits() > half
    }

    /// List `kept` among the holders asked to give their instance back
    /// when a call finds no free slot.
    pub(super) fn list_kept(&self, kept: Weak<dyn KeptInstance>) {
        let mut list = self.inner.kept.lock().expect("kept lock");
        list.retain(|k| k.strong_count() > 0);
        list.push(kept);
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
        let pre =
            Pre::new(inspection.contract, pre).map_err(|e| LoadError::Link(format!("{e:#}")))?;
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
    // `WHARF_PERF_MAP=1`: name the compiled connector code for `perf`
    // (in /tmp/perf-PID.map), so profiles show guest functions.
    if std::env::var_os("WHARF_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if try_pooling {
        let slots = limits.max_instances.max(1);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            .total_core_instances(slots * 16)
            .total_memories(slots * limits::MEMORIES_PER_INSTANCE)
            .max_memories_per_component(limits::MEMORIES_PER_INSTANCE)
            .total_tables(slots * 16)
            .total_stacks(slots)
            // A connector may be given more than the default at upload.
            .max_memory_size(limits.memory_bytes.max(limits.max_memory_bytes))
            .max_unused_warm_slots(limits::WARM_SLOTS)
            // Instances are created and dropped for every run (and for every
            // call with `--fresh-instances`). Keeping the
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
    pub(super) wasi: WasiState,
    pub(super) http: HttpState,
    pub(super) secrets: SecretsState,
    pub(super) log: LogState,
    pub(super) blobs: BlobsState,
    pub(super) state: StateState,
    pub(super) oauth: OAuthInfoState,
    pub(super) pages: PagesState,
    pub(super) guard: MemoryGuard,
    pub(super) deadline: Instant,
    pub(super) timeout: Duration,
    /// The session's rate-budget waits when the call began: the deadline
    /// moves by what is waited during the call.
    pub(super) rate_waited: Duration,
    /// Epoch ticks the guest's own code saw during this call: one each
    /// time the deadline callback runs (every tick while Wasm executes,
    /// once after a host call that outlasted one).
    pub(super) epoch_ticks: u64,
}

impl wasmtime_wasi::WasiView for Ctx {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.wasi.view()
    }
}

impl wasmtime_wasi_http::WasiHttpView for Ctx {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        let (ctx, table) = self.wasi.http_parts();
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx,
            table,
            hooks: &mut self.http.outgoing,
        }
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
struct BlobsData;
impl HasData for BlobsData {
    type Data<'a> = &'a mut BlobsState;
}
struct StateData;
impl HasData for StateData {
    type Data<'a> = &'a mut StateState;
}
struct PagesData;
impl HasData for PagesData {
    type Data<'a> = &'a mut PagesState;
}
struct OAuthData;
impl HasData for OAuthData {
    type Data<'a> = &'a mut OAuthInfoState;
}

/// Link every interface a connector may import, of every contract version,
/// each to the state of the module that owns it (0.1's through the adapter
/// in `super::v01`).
fn add_capabilities(linker: &mut Linker<Ctx>) -> wasmtime::Result<()> {
    use bindings::v01::wharf::connector as old;
    use bindings::wharf::connector as iface;
    iface::http::add_to_linker::<Ctx, HttpData>(linker, |c| &mut c.http)?;
    iface::blobs::add_to_linker::<Ctx, BlobsData>(linker, |c| &mut c.blobs)?;
    iface::oauth::add_to_linker::<Ctx, OAuthData>(linker, |c| &mut c.oauth)?;
    iface::state::add_to_linker::<Ctx, StateData>(linker, |c| &mut c.state)?;
    iface::secrets::add_to_linker::<Ctx, SecretsData>(linker, |c| &mut c.secrets)?;
    iface::log::add_to_linker::<Ctx, LogData>(linker, |c| &mut c.log)?;
    bindings::pages::wharf::pages::pages::add_to_linker::<Ctx, PagesData>(linker, |c| {
        &mut c.pages
    })?;
    old::http::add_to_linker::<Ctx, HttpData>(linker, |c| &mut c.http)?;
    old::secrets::add_to_linker::<Ctx, SecretsData>(linker, |c| &mut c.secrets)?;
    old::log::add_to_linker::<Ctx, LogData>(linker, |c| &mut c.log)?;
    wasi::add_to_linker(linker)
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
