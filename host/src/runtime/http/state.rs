//! The HTTP capability as one call sees it: the session's client, the
//! call's log, and the requests the egress policy refused in this call
//! (logged one by one up to a point, then counted; past the limit the call
//! ends, as a guest probing for a way out would otherwise go on).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::super::bindings::wharf::connector::http::{Host, HttpError, Request, Response};
use super::super::limits::LimitExceeded;
use super::super::log::{CallLog, LogSource};
use super::HttpSession;
use super::outgoing::OutgoingHooks;

/// Refusals a call logs one by one; the rest are summed up at its end.
const DENIAL_LINES: u32 = 10;

/// One call's refused requests, through `wharf:connector/http` and
/// `wasi:http` alike. Shared with the tasks that perform `wasi:http`
/// requests outside the store.
pub struct Refusals {
    log: CallLog,
    count: AtomicU32,
    limit: u32,
    first: std::sync::Mutex<Option<String>>,
}

impl Refusals {
    /// No refusals yet; the call ends past `limit`.
    pub fn new(log: CallLog, limit: u32) -> Self {
        Self {
            log,
            count: AtomicU32::new(0),
            limit,
            first: std::sync::Mutex::new(None),
        }
    }

    /// Count a refused request and log why (the first few). Past the
    /// limit (or the log's), the call must end with the error returned.
    pub fn note(&self, why: &str) -> Result<(), LimitExceeded> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        self.first
            .lock()
            .expect("refusal lock")
            .get_or_insert_with(|| why.to_string());
        if n > self.limit {
            return Err(self.exceeded_error());
        }
        if n <= DENIAL_LINES {
            self.log
                .host_line(LogSource::Host, format!("http request refused: {why}"))?;
        }
        Ok(())
    }

    /// Why the call's first refused request was refused.
    pub fn first(&self) -> Option<String> {
        self.first.lock().expect("refusal lock").clone()
    }

    /// Whether the call refused more requests than it may.
    pub fn exceeded(&self) -> bool {
        self.count.load(Ordering::Relaxed) > self.limit
    }

    /// The error that ends a call past its limit.
    pub fn exceeded_error(&self) -> LimitExceeded {
        LimitExceeded::Refusals { limit: self.limit }
    }

    /// Sum up the refusals that were not logged one by one.
    fn finish(&self) {
        let n = self.count.load(Ordering::Relaxed);
        if n > DENIAL_LINES {
            let _ = self.log.host_line(
                LogSource::Host,
                format!(
                    "… and {} more requests refused in this call",
                    n - DENIAL_LINES
                ),
            );
        }
    }
}

/// Per-call state behind `wharf:connector/http` and `wasi:http`: the
/// session, and the call's refused requests.
pub struct HttpState {
    pub(crate) session: Arc<HttpSession>,
    pub(crate) refusals: Arc<Refusals>,
    /// What `wasi:http/outgoing-handler` sends through.
    pub(crate) outgoing: OutgoingHooks,
}

impl HttpState {
    /// The state of one call of `session`, logging to `log`; what the host
    /// holds for its `wasi:http` requests stays within `memory_bytes`.
    pub(crate) fn new(
        session: Arc<HttpSession>,
        log: CallLog,
        denial_limit: u32,
        memory_bytes: usize,
    ) -> Self {
        let refusals = Arc::new(Refusals::new(log, denial_limit));
        Self {
            outgoing: OutgoingHooks::new(session.clone(), refusals.clone(), memory_bytes),
            session,
            refusals,
        }
    }

    /// Sum up the refusals that were not logged one by one.
    pub(crate) fn finish(&self) {
        self.refusals.finish();
    }
}

impl Host for HttpState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let result = self.session.send(req).await;
        if let Err(HttpError::Denied(why)) = &result {
            self.refusals.note(why)?;
        }
        Ok(result)
    }
}
