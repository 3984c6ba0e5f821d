//! A tape's answers: from the cassette when playing back (whatever the
//! order of requests in flight), from the script when scripted.

use super::super::super::bindings::wharf::connector::http::{HttpError, Response};
use super::super::super::blobs::BlobStore;
use super::super::TapedRequest;
use super::super::diff::request_difference;
use super::{Tape, note};

impl Tape {
    pub(super) fn scripted_answer(
        &self,
        request: &TapedRequest,
        blobs: &BlobStore,
    ) -> Result<Response, HttpError> {
        let mut st = self.lock();
        if let Some(s) = st.script.iter().find(|s| s.answers(request)) {
            return s.outcome.replay(blobs);
        }
        let what = format!(
            "no scripted answer for `{} {}`",
            request.method, request.url
        );
        if let Some((index, op)) = st.current.as_ref().map(|c| (c.index, c.op.clone())) {
            note(&mut st, index, &op, what.clone());
        }
        Err(HttpError::Denied(what))
    }

    /// Playing back: the recorded exchange that answers `request`: the
    /// first one of the call not answered yet, or, among the requests that
    /// were in flight together with it when recorded (`fetch()` calls in
    /// JavaScript, which may come in another order), the first equal to
    /// it. Otherwise the difference from the first exchange not answered
    /// yet is the mismatch: a sequential connector that reorders its
    /// requests fails its replay.
    pub(super) fn answer(
        &self,
        request: TapedRequest,
        blobs: &BlobStore,
    ) -> Result<Response, HttpError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(c) = st.current.as_mut() else {
            return Err(HttpError::Denied("replay: a request outside a call".into()));
        };
        let (index, op, n) = (c.index, c.op.clone(), c.answered);
        c.answered += 1;
        let what = match st.cassette.calls.get(index) {
            Some(call) => {
                let held = call.exchanges.len();
                c.taken.resize(held, false);
                let first = (0..held).find(|i| !c.taken[*i]);
                let open = || (0..held).filter(|i| !c.taken[*i]);
                // The first open exchange, or one recorded in flight with
                // it (every exchange between them was, too).
                let reachable = |i: &usize| {
                    first.is_some_and(|f| {
                        *i == f || call.exchanges[f + 1..=*i].iter().all(|e| e.in_flight)
                    })
                };
                let same = open()
                    .filter(reachable)
                    .find(|i| request_difference(&call.exchanges[*i].request, &request).is_none());
                match (same, open().next()) {
                    (Some(i), _) => {
                        c.taken[i] = true;
                        return call.exchanges[i].outcome.replay(blobs);
                    }
                    (None, Some(i)) => {
                        let d = request_difference(&call.exchanges[i].request, &request)
                            .unwrap_or_default();
                        format!("request {} differs from the cassette: {d}", n + 1)
                    }
                    (None, None) => format!(
                        "request {} (`{} {}`) is not in the cassette, which holds {held} requests for this call",
                        n + 1,
                        request.method,
                        request.url
                    ),
                }
            }
            None => format!(
                "request {} (`{} {}`) is not in the cassette",
                n + 1,
                request.method,
                request.url
            ),
        };
        let refusal = HttpError::Denied(format!("replay: {what}"));
        note(st, index, &op, what);
        Err(refusal)
    }
}
