//! One call of a session: a fresh store with the session's capabilities
//! and limits and a fresh instance, or the instance the session's last
//! call left (its limits restarted: time, log, refusals; its memory stays
//! counted), the call under its time limit (less the
//! host's rate-budget waits) and a backstop, and every way it can fail
//! mapped to a [`CallError`] that names the cause, in words redacted for
//! the session's secrets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use wasmtime::{Store, UpdateDeadline};

use super::super::bindings::wharf::connector::types as wit;
use super::super::blobs::BlobsState;
use super::super::connector::Connector;
use super::super::engine::Ctx;
use super::super::engine::KeptInstance;
use super::super::error::{CallError, ConnectorError, clip_message, panic_message};
use super::super::guest::{Guest, Instance};
use super::super::http::HttpState;
use super::super::http::QUOTA_REFUSAL;
use super::super::limits::{LimitExceeded, MemoryGuard};
use super::super::log::{CallLog, LogBudget, LogState};
use super::super::pages::PagesState;
use super::super::rate;
use super::super::secrets::SecretsState;
use super::super::state::{OAuthInfoState, StateState};
use super::super::wasi::{MAX_RESOURCES_KEPT, WasiState};
use super::{CallFuture, Session};
use crate::model::resources::{CALLS_KEPT, CallUse};
use crate::runtime::http::HttpCounters;

/// What wasmtime 48 says when a crossing spends the store's hostcall fuel
/// (`Limits::transfer_bytes`); a hostile test holds it to this text.
const HOSTCALL_FUEL_SPENT: &str = "fuel allocated for hostcalls has been exhausted";

/// An instance and its store, with the pool slot it holds.
pub(super) struct Warm {
    store: Store<Ctx>,
    instance: Instance,
    /// The connector it is an instance of.
    digest: String,
    /// When it was started (a taped store's monotonic clock counts from
    /// here).
    started: Instant,
    /// Whether the session's call that left it ended well: its result
    /// checked too, not only the call (see [`Session::settle_instance`]).
    ended_well: bool,
    /// Declared last, so the slot is given back only after the store
    /// (and its instance) is dropped.
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Where a session keeps its instance between calls; given back to the
/// node when a call elsewhere finds no free slot.
#[derive(Default)]
pub(super) struct WarmSlot {
    warm: Mutex<Option<Warm>>,
    /// Whether the runtime lists it among the holders to ask (once, not
    /// once per call kept).
    listed: AtomicBool,
}

impl WarmSlot {
    fn take(&self) -> Option<Warm> {
        self.warm.lock().expect("warm lock").take()
    }

    fn put(&self, warm: Warm) {
        *self.warm.lock().expect("warm lock") = Some(warm);
    }
}

impl KeptInstance for WarmSlot {
    /// The runtime asks once and forgets the holder: the next instance
    /// kept lists it again.
    fn release(&self) {
        self.listed.store(false, Ordering::Relaxed);
        drop(self.take());
    }
}

/// What the store knew of one call when it ended.
#[derive(Default)]
pub(super) struct CallFacts {
    epoch_ticks: u64,
    memory: u64,
}

impl Session {
    pub(super) fn guest_error(&self, e: wit::Error) -> CallError {
        // A request refused in the call: its reason joins the message
        // unless the connector said it already (a refused `fetch()` in
        // JavaScript is only a `NetworkError` to the guest).
        let refusal = self.last_refusal.lock().expect("refusal lock").clone();
        let r = |s: String| {
            let s = match &refusal {
                Some(why) if !s.contains(why.as_str()) => {
                    format!("{s} (the host refused a request: {why})")
                }
                _ => s,
            };
            clip_message(&self.secrets.redactor().redact_str(&s))
        };
        // The connector failed because a request passed a quota of the
        // connection: a limit an administrator set, not a broken connection.
        if let Some(why) = refusal.as_deref().filter(|w| w.starts_with(QUOTA_REFUSAL)) {
            return CallError::Limit(LimitExceeded::Quota(why.to_string()));
        }
        // The connector failed because the host's login was refused: the
        // credentials are wrong, whatever the connector called it.
        if let wit::Error::Config(m) | wit::Error::Fatal(m) | wit::Error::Transient(m) = &e
            && let Some(refusal) = self.http.credentials_refused()
            && m.contains(&refusal)
        {
            return CallError::Connector(ConnectorError::Auth(r(format!(
                "credentials refused: {refusal}"
            ))));
        }
        CallError::Connector(match e {
            wit::Error::Config(m) => ConnectorError::Config(r(m)),
            wit::Error::Auth(m) => ConnectorError::Auth(r(m)),
            wit::Error::AuthExpired(m) => ConnectorError::AuthExpired(r(m)),
            wit::Error::RateLimited(n) => ConnectorError::RateLimited(n),
            wit::Error::Transient(m) => ConnectorError::Transient(r(m)),
            wit::Error::Fatal(m) => ConnectorError::Fatal(r(m)),
            wit::Error::Unsupported => ConnectorError::Unsupported,
        })
    }

    pub(in crate::runtime) fn new_store(&self) -> Store<Ctx> {
        let limits = &self.limits;
        let budget = LogBudget {
            lines: limits.log_lines_per_call,
            bytes: limits.log_bytes_per_call,
        };
        let call = CallLog::new(self.log.clone(), budget);
        let ctx = Ctx {
            wasi: WasiState::new(&call, self.tape.as_ref().map(|t| t.inputs(None))),
            http: HttpState::new(
                self.http.clone(),
                call.clone(),
                limits.http_denials_per_call,
                limits.memory_bytes,
            ),
            secrets: SecretsState {
                book: self.secrets.clone(),
                log: call.clone(),
            },
            log: LogState { call: call.clone() },
            blobs: BlobsState {
                store: self.blobs.clone(),
                log: call,
            },
            state: StateState {
                store: self.state.clone(),
                redactor: self.secrets.shared_redactor(),
            },
            oauth: OAuthInfoState {
                info: self.oauth_info.clone(),
            },
            pages: PagesState::new(
                limits.max_records_per_call,
                limits.max_output_bytes,
                self.blobs.clone(),
            ),
            guard: MemoryGuard::new(limits.memory_bytes),
            deadline: Instant::now() + limits.call_timeout,
            timeout: limits.call_timeout,
            rate_waited: self.http.rate_waited(),
            epoch_ticks: 0,
        };
        let mut store = Store::new(&self.runtime.inner.engine, ctx);
        store.limiter(|c| &mut c.guard);
        store.set_hostcall_fuel(limits.transfer_bytes());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            ctx.data_mut().epoch_ticks += 1;
            let ctx = ctx.data();
            if Instant::now() >= ctx.deadline + ctx.http.session.rate_waited() - ctx.rate_waited {
                return Err(wasmtime::Error::new(LimitExceeded::Time(ctx.timeout)));
            }
            // Refusals counted by `wasi:http` requests, which run outside
            // the store and cannot end the call themselves.
            if ctx.http.refusals.exceeded() {
                return Err(wasmtime::Error::new(ctx.http.refusals.exceeded_error()));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Instantiate `connector` in a fresh store (or take the instance the
    /// session's last call left), make one call, and turn
    /// every way it can fail into a [`CallError`] that names the cause.
    pub(super) async fn invoke<R: Send>(
        &self,
        function: &'static str,
        connector: &Connector,
        call: impl for<'a> FnOnce(Guest<'a>, &'a mut Store<Ctx>) -> CallFuture<'a, R>,
        output_size: impl FnOnce(&R) -> usize,
    ) -> Result<R, CallError> {
        let started = Instant::now();
        let before = (self.http.counters(), self.log.bytes());
        let mut facts = CallFacts::default();
        let result = self
            .invoke_timed(connector, call, output_size, &mut facts)
            .await;
        let elapsed = started.elapsed();
        self.call_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.keep_call(function, elapsed, &before, &facts);
        result
    }

    /// Keep one call's figures, while fewer than [`CALLS_KEPT`] are kept.
    /// Its HTTP and log figures are what the session's counters moved by
    /// during it (calls of one session do not overlap in a run).
    fn keep_call(
        &self,
        function: &'static str,
        elapsed: Duration,
        (http, log_bytes): &(HttpCounters, u64),
        facts: &CallFacts,
    ) {
        let mut kept = self.per_call.lock().expect("per-call lock");
        if kept.0.len() >= CALLS_KEPT {
            kept.1 += 1;
            return;
        }
        let now = self.http.counters();
        let ms = elapsed.as_millis() as u64;
        let http_ms = now.busy_nanos.saturating_sub(http.busy_nanos) / 1_000_000;
        kept.0.push(CallUse {
            function: function.to_string(),
            ms,
            wasm_ms: ms.saturating_sub(http_ms),
            epoch_ticks: facts.epoch_ticks,
            peak_memory_bytes: facts.memory,
            http_requests: now.requests.saturating_sub(http.requests),
            bytes_out: now.bytes_out.saturating_sub(http.bytes_out),
            bytes_in: now.bytes_in.saturating_sub(http.bytes_in),
            log_bytes: self.log.bytes().saturating_sub(*log_bytes),
        });
    }

    async fn invoke_timed<R: Send>(
        &self,
        connector: &Connector,
        call: impl for<'a> FnOnce(Guest<'a>, &'a mut Store<Ctx>) -> CallFuture<'a, R>,
        output_size: impl FnOnce(&R) -> usize,
        facts: &mut CallFacts,
    ) -> Result<R, CallError> {
        let limits = &self.limits;
        let mut warm = match self.take_warm(connector) {
            Some(warm) => warm,
            None => {
                let Some(slot) = self.runtime.instance_slot().await else {
                    return Err(CallError::Sandbox(format!(
                        "all {} sandbox instances of this node stayed busy for {:?}; try again later",
                        limits.max_instances, limits.call_timeout
                    )));
                };
                let mut store = self.new_store();
                self.instances.fetch_add(1, Ordering::Relaxed);
                let instance = match connector.pre.instantiate(&mut store).await {
                    Ok(i) => i,
                    Err(e) => return Err(self.classify(e, &store)),
                };
                Warm {
                    store,
                    instance,
                    digest: connector.digest.clone(),
                    started: Instant::now(),
                    ended_well: false,
                    _slot: slot,
                }
            }
        };
        let Warm {
            store, instance, ..
        } = &mut warm;
        let memory_before = store.data().guard.memory_in_use();
        // Backstop: epoch interruption does not fire inside host calls.
        let backstop = limits.call_timeout + Duration::from_secs(1);
        let outcome = {
            let fut = call(instance.guest(), &mut *store);
            let http = self.http.clone();
            // A panic in the host while serving this call (a bug in Wharf,
            // reached through guest input) ends the call, not the process
            // or the task that runs it.
            std::panic::AssertUnwindSafe(rate::within(fut, backstop, move || http.rate_waited()))
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
        facts.epoch_ticks = store.data().epoch_ticks;
        facts.memory = store.data().guard.memory_in_use() as u64;
        self.epoch_ticks
            .fetch_add(facts.epoch_ticks, Ordering::Relaxed);
        *self.last_refusal.lock().expect("refusal lock") = store.data().http.refusals.first();
        store.data().wasi.flush();
        self.peak_memory
            .fetch_max(store.data().guard.memory_in_use() as u64, Ordering::Relaxed);
        if let Some(limit) = store.data().log.call.exceeded() {
            return Err(CallError::Limit(limit));
        }
        if store.data().http.refusals.exceeded() {
            return Err(CallError::Limit(
                store.data().http.refusals.exceeded_error(),
            ));
        }
        let value = match outcome {
            Err(_) => return Err(CallError::Limit(LimitExceeded::Time(limits.call_timeout))),
            Ok(Err(e)) => return Err(self.classify(e, store)),
            Ok(Ok(value)) => value,
        };
        let size = output_size(&value);
        if size > limits.max_output_bytes {
            return Err(CallError::Limit(LimitExceeded::Output {
                size,
                limit: limits.max_output_bytes,
            }));
        }
        self.keep_warm(warm, memory_before);
        Ok(value)
    }

    /// The instance the last call left, made ready for a new call, if that
    /// call ended well and it is of `connector`.
    fn take_warm(&self, connector: &Connector) -> Option<Warm> {
        let mut warm = self.warm.take()?;
        if !warm.ended_well || warm.digest != connector.digest {
            return None;
        }
        let started = warm.started;
        let ctx = warm.store.data_mut();
        ctx.wasi
            .next_call(self.tape.as_ref().map(|t| t.inputs(Some(started))));
        ctx.log.call.restart();
        // Closed when the last call ended; closed again in case a path
        // that keeps an instance ever skips that.
        ctx.pages.close();
        ctx.guard.hit = false;
        ctx.deadline = Instant::now() + self.limits.call_timeout;
        ctx.rate_waited = self.http.rate_waited();
        ctx.epoch_ticks = 0;
        warm.store.set_epoch_deadline(1);
        Some(warm)
    }

    /// Keep an instance whose call ended well for the session's next
    /// call: not in a session taped call by call (`wharf dev --record`,
    /// `--replay`, a script), where each call must replay alone exactly as
    /// it ran; not after a refused request or a refused memory grow; not
    /// with a `wasi:http` request out or a body held; not holding more than
    /// [`MAX_RESOURCES_KEPT`] resources (handles a runtime never dropped);
    /// not once it holds
    /// more than half its memory limit, unless a next call that grows its
    /// memory as much as this one did (`before` → now), and by at least an
    /// eighth of the limit, still fits (a connector that leaks steadily
    /// starts afresh rather than fail a later call, while a runtime whose
    /// heap settles above half the limit, as ComponentizeJS's does at
    /// 64 MiB, stays warm); and only while more than half
    /// the node's instances are free (a call that finds none free makes
    /// kept instances give theirs back: `Runtime::instance_slot`).
    ///
    /// Kept only provisionally: the session's method checks what the call
    /// returned, and only if all of it is right is the instance used again
    /// ([`Session::settle_instance`]).
    fn keep_warm(&self, mut warm: Warm, before: usize) {
        let few_resources = warm.store.data_mut().wasi.resources_held() <= MAX_RESOURCES_KEPT;
        let ctx = warm.store.data();
        let now = ctx.guard.memory_in_use();
        // A leak may grow in bursts (a map that doubles, a bigger page):
        // the next call is given at least an eighth of the limit.
        let next_growth = now.saturating_sub(before).max(ctx.guard.memory_bytes / 8);
        let room = now <= ctx.guard.memory_bytes / 2 || now + next_growth <= ctx.guard.memory_bytes;
        let keep = self.tape.as_ref().is_none_or(|t| !t.call_by_call())
            && ctx.http.refusals.first().is_none()
            && ctx.http.outgoing.idle()
            && !ctx.guard.hit
            && few_resources
            && room
            && self.runtime.may_keep_instance();
        if keep {
            self.warm.put(warm);
            if !self.warm.listed.swap(true, Ordering::Relaxed) {
                self.runtime
                    .list_kept(Arc::downgrade(&self.warm) as Weak<dyn KeptInstance>);
            }
        }
    }

    /// The session's method ended, `well` or not: the instance its call
    /// left may serve the next call only if it ended well.
    pub(super) fn settle_instance(&self, well: bool) {
        let mut slot = self.warm.warm.lock().expect("warm lock");
        match slot.as_mut() {
            Some(warm) if well => warm.ended_well = true,
            _ => *slot = None,
        }
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
        // Wasmtime's error for spent hostcall fuel is not a public type. Its
        // root cause only: a guest's own trap carries a backtrace that
        // names the guest's functions, which it may name as it likes.
        if e.root_cause().to_string().ends_with(HOSTCALL_FUEL_SPENT) {
            return CallError::Limit(LimitExceeded::Transfer {
                limit: self.limits.transfer_bytes(),
            });
        }
        match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::StackOverflow) => CallError::Limit(LimitExceeded::Stack {
                limit: self.limits.max_wasm_stack,
            }),
            Some(wasmtime::Trap::Interrupt) => {
                CallError::Limit(LimitExceeded::Time(self.limits.call_timeout))
            }
            Some(wasmtime::Trap::MemoryOutOfBounds) => CallError::Trap(format!(
                "{} (in Rust guests this is often a stack overflow: the shadow stack lives in linear memory)",
                wasmtime::Trap::MemoryOutOfBounds
            )),
            Some(trap) => CallError::Trap(trap.to_string()),
            None => {
                let text = format!("{e:#}");
                let text = clip_message(&self.secrets.redactor().redact_str(&text));
                // The pooling allocator's own error, told by its type: the
                // text carries a backtrace of the guest's functions.
                let pool_full = e
                    .chain()
                    .any(|cause| cause.is::<wasmtime::PoolConcurrencyLimitError>());
                if pool_full {
                    CallError::Sandbox(text)
                } else {
                    CallError::Trap(text)
                }
            }
        }
    }
}
