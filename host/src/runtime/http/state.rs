//! The HTTP capability as one call sees it: the session's client, the
//! call's log, and the requests the egress policy refused in this call
//! (logged one by one up to a point, then counted; past the limit the call
//! ends, as a guest probing for a way out would otherwise go on).

use std::sync::Arc;

use super::super::bindings::wharf::connector::http::{Host, HttpError, Request, Response};
use super::super::limits::LimitExceeded;
use super::super::log::{CallLog, LogSource};
use super::HttpSession;

/// Refusals a call logs one by one; the rest are summed up at its end.
const DENIAL_LINES: u32 = 10;

/// Per-call state behind `wharf:connector/http`: the session, the call's
/// log, and its count of refused requests.
pub struct HttpState {
    pub(crate) session: Arc<HttpSession>,
    pub(crate) log: CallLog,
    pub(crate) denied: u32,
    pub(crate) denial_limit: u32,
}

impl HttpState {
    /// Sum up the refusals that were not logged one by one.
    pub(crate) fn finish(&self) {
        if self.denied > DENIAL_LINES {
            let _ = self.log.host_line(
                LogSource::Host,
                format!(
                    "… and {} more requests refused in this call",
                    self.denied - DENIAL_LINES
                ),
            );
        }
    }
}

impl Host for HttpState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let result = self.session.send(req).await;
        if let Err(HttpError::Denied(why)) = &result {
            self.denied += 1;
            if self.denied > self.denial_limit {
                return Err(LimitExceeded::Refusals {
                    limit: self.denial_limit,
                }
                .into());
            }
            if self.denied <= DENIAL_LINES {
                self.log
                    .host_line(LogSource::Host, format!("http request refused: {why}"))?;
            }
        }
        Ok(result)
    }
}
