//! [`Tape`]: a cassette being recorded while a session runs, or played
//! back to it.
//!
//! The session tells the tape when a call begins and ends; the call's
//! store takes its clocks and randomness from it; the HTTP capability
//! hands it each request. Recording, the tape notes everything (and
//! redacts it when the cassette is taken); a run's tape keeps only the
//! calls that failed; playing back, it answers requests from the cassette
//! and keeps the first [`Mismatch`]. A request that differs is refused (`denied`, "replay: …"),
//! so the connector fails the way it would against a server that answered
//! something else, and the mismatch says what differed.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::StdRng;
use serde_json::Value;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use super::clock::{self, Played, PlayedMonotonic, PlayedWall, Readings};
use super::diff::first_difference;
use super::{
    Body, Cassette, Exchange, FORMAT, MAX_TAPED_BODY, MAX_TAPED_BYTES_PER_CALL,
    MAX_TAPED_EXCHANGES_PER_CALL, Scripted, StateRead, TapedCall, TapedConnector, TapedOutcome,
    TapedRequest,
};
use crate::model::limits::ConnectorLimits;
use crate::model::redact::{Redactor, SharedRedactor};
use crate::runtime::bindings::wharf::connector::http::{HttpError, Request, Response};
use crate::runtime::blobs::BlobStore;

/// The first place where a replay differed from its cassette.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("call {call} (`{op}`): {what}")]
pub struct Mismatch {
    /// The call, counted from 1.
    pub call: usize,
    /// Its operation.
    pub op: String,
    /// What differed.
    pub what: String,
}

/// A cassette being recorded or played back.
pub struct Tape {
    mode: Mode,
    redactor: Mutex<Option<SharedRedactor>>,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Keep every call.
    Record,
    /// Keep the last this many calls that failed.
    Failures(usize),
    /// Keep every call; answer requests from a script.
    Script,
    /// Play a cassette back.
    Replay,
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tape({:?})", self.mode)
    }
}

struct State {
    cassette: Cassette,
    /// Calls begun so far.
    begun: usize,
    current: Option<Current>,
    mismatch: Option<Mismatch>,
    /// The answers of a scripted tape.
    script: Vec<Scripted>,
}

/// The call in progress.
struct Current {
    /// Its index among the calls (recorded or played).
    index: usize,
    op: String,
    args: Option<Value>,
    seed: [u8; 32],
    /// Recording: the arguments (unless only failures are kept: then they
    /// are taken when a call failed), the clocks' readings and the
    /// exchanges so far.
    wall: Readings,
    monotonic: Readings,
    started: Instant,
    exchanges: Vec<Exchange>,
    /// Playing back: the recorded clocks, and requests answered so far.
    played_wall: Arc<Played>,
    played_monotonic: Arc<Played>,
    answered: usize,
    /// Playing back: which of the call's recorded exchanges have answered.
    taken: Vec<bool>,
    /// Body bytes kept for this call so far.
    taped_bytes: usize,
    /// Recording: the state reads; playing back: reads answered so far.
    state: Vec<StateRead>,
    state_answered: usize,
}

impl Current {
    /// Body bytes this call may still keep.
    fn room(&self) -> usize {
        MAX_TAPED_BYTES_PER_CALL.saturating_sub(self.taped_bytes)
    }
}

/// What a taped call's store uses for clocks and randomness.
pub struct CallInputs {
    /// `wasi:clocks/wall-clock`.
    pub wall: Box<dyn HostWallClock + Send>,
    /// `wasi:clocks/monotonic-clock`.
    pub monotonic: Box<dyn HostMonotonicClock + Send>,
    /// `wasi:random/random`.
    pub random: StdRng,
    /// `wasi:random/insecure`.
    pub insecure: StdRng,
    /// `wasi:random/insecure-seed`.
    pub insecure_seed: u128,
}

impl Tape {
    /// A tape that records every call of a session.
    pub fn recorder() -> Self {
        Self::new(Mode::Record, Self::blank())
    }

    /// A tape that keeps the last `keep` calls of a session that failed,
    /// for a run's cassette.
    pub fn failures(keep: usize) -> Self {
        Self::new(Mode::Failures(keep.max(1)), Self::blank())
    }

    /// A tape that records every call and answers requests from
    /// `script` (the first entry that answers a request); a request no
    /// entry answers is refused and kept as the mismatch.
    pub fn scripted(script: Vec<Scripted>) -> Self {
        let tape = Self::new(Mode::Script, Self::blank());
        tape.lock().script = script;
        tape
    }

    /// A tape that plays `cassette` back.
    pub fn player(cassette: Cassette) -> Self {
        Self::new(Mode::Replay, cassette)
    }

    fn blank() -> Cassette {
        Cassette {
            wharf_cassette: FORMAT,
            connector: TapedConnector {
                name: String::new(),
                version: String::new(),
                digest: String::new(),
            },
            recorded_at_ms: crate::clock::now_ms(),
            config: Value::Null,
            limits: ConnectorLimits::default(),
            calls: Vec::new(),
        }
    }

    fn new(mode: Mode, cassette: Cassette) -> Self {
        Self {
            mode,
            redactor: Mutex::new(None),
            state: Mutex::new(State {
                cassette,
                begun: 0,
                current: None,
                mismatch: None,
                script: Vec::new(),
            }),
        }
    }

    /// Whether this tape keeps or plays every call, one by one (recording,
    /// a script, playing back), rather than only the calls that failed.
    pub(crate) fn call_by_call(&self) -> bool {
        !matches!(self.mode, Mode::Failures(_))
    }

    /// Whether this tape plays a cassette back.
    pub fn replaying(&self) -> bool {
        self.mode == Mode::Replay
    }

    /// The calls on the tape so far.
    pub fn calls(&self) -> usize {
        self.lock().cassette.calls.len()
    }

    /// The cassette as it stands, every string redacted.
    pub fn cassette(&self) -> Cassette {
        let cassette = self.lock().cassette.clone();
        cassette.redacted(&self.redactor())
    }

    /// The session of this tape: its connector and config, and the
    /// redactor of its secrets (which learns tokens as the session fetches
    /// them).
    pub(crate) fn attach(
        &self,
        connector: TapedConnector,
        config: &Value,
        limits: ConnectorLimits,
        redactor: SharedRedactor,
    ) {
        *self.redactor.lock().expect("tape redactor") = Some(redactor);
        if self.mode != Mode::Replay {
            let mut st = self.lock();
            st.cassette.connector = connector;
            st.cassette.config = config.clone();
            st.cassette.limits = limits;
        }
    }

    fn redactor(&self) -> Redactor {
        self.redactor
            .lock()
            .expect("tape redactor")
            .as_ref()
            .map(SharedRedactor::snapshot)
            .unwrap_or_else(|| Redactor::new([]))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("tape state")
    }

    /// The current call was dropped before it ended (its run was stopped
    /// or timed out): kept as a failed call, `stopped`, with what it had
    /// sent.
    pub(crate) fn abandon(&self) {
        let args = || Value::Null;
        let result = || serde_json::json!({"error": {"kind": "stopped", "message": "the call was stopped before it ended"}});
        self.end(true, &args, &result);
    }

    /// A call of `op` begins.
    pub(crate) fn begin(&self, op: &str, args: &dyn Fn() -> Value) {
        // Calls of a session do not overlap; one left open was dropped.
        if self.lock().current.is_some() {
            self.abandon();
        }
        let args = match self.mode {
            Mode::Failures(_) => None,
            Mode::Record | Mode::Replay | Mode::Script => Some(args()),
        };
        let mut st = self.lock();
        let index = st.begun;
        st.begun += 1;
        let recorded_at = (st.cassette.recorded_at_ms.max(0) as u64).saturating_mul(1_000_000);
        let mut current = Current {
            index,
            op: op.into(),
            args,
            seed: clock::fresh_seed(),
            wall: Readings::default(),
            monotonic: Readings::default(),
            started: Instant::now(),
            exchanges: Vec::new(),
            played_wall: Arc::new(Played::new(Vec::new(), recorded_at)),
            played_monotonic: Arc::new(Played::new(Vec::new(), 0)),
            answered: 0,
            taken: Vec::new(),
            taped_bytes: 0,
            state: Vec::new(),
            state_answered: 0,
        };
        if self.mode == Mode::Replay {
            let held = st.cassette.calls.len();
            let difference = match st.cassette.calls.get(index) {
                None => Some(format!(
                    "the cassette holds {held} calls; the connector was called once more"
                )),
                Some(call) => {
                    current.seed = parse_seed(&call.seed).unwrap_or([0; 32]);
                    current.played_wall =
                        Arc::new(Played::new(call.wall_clock.clone(), recorded_at));
                    current.played_monotonic =
                        Arc::new(Played::new(call.monotonic_clock.clone(), 0));
                    if call.op != op {
                        Some(format!("the cassette has a call of `{}` here", call.op))
                    } else {
                        current
                            .args
                            .as_ref()
                            .filter(|_| !call.args.is_null())
                            .and_then(|args| {
                                first_difference(&call.args, args).map(|d| {
                                    format!("the arguments differ from the cassette's {d}")
                                })
                            })
                    }
                }
            };
            if let Some(what) = difference {
                note(&mut st, index, op, what);
            }
        }
        st.current = Some(current);
    }

    /// The clocks and randomness of a store of the current call. The
    /// monotonic clock counts from `instance_started` when the store
    /// already served calls (a clock that never goes back), from the
    /// call's start otherwise.
    pub(crate) fn inputs(&self, instance_started: Option<Instant>) -> CallInputs {
        let st = self.lock();
        let (seed, wall, monotonic): (
            [u8; 32],
            Box<dyn HostWallClock + Send>,
            Box<dyn HostMonotonicClock + Send>,
        ) = match &st.current {
            Some(c) if self.mode == Mode::Replay => (
                c.seed,
                Box::new(PlayedWall(c.played_wall.clone())),
                Box::new(PlayedMonotonic(c.played_monotonic.clone())),
            ),
            Some(c) => (
                c.seed,
                Box::new(clock::RecordingWall(c.wall.clone())),
                Box::new(clock::RecordingMonotonic {
                    start: instance_started.unwrap_or(c.started),
                    readings: c.monotonic.clone(),
                }),
            ),
            // Not within a taped call: real clocks, nothing kept.
            None => (
                clock::fresh_seed(),
                Box::new(clock::RecordingWall(Readings::default())),
                Box::new(clock::RecordingMonotonic {
                    start: instance_started.unwrap_or_else(Instant::now),
                    readings: Readings::default(),
                }),
            ),
        };
        let (random, insecure, insecure_seed) = clock::generators(seed);
        CallInputs {
            wall,
            monotonic,
            random,
            insecure,
            insecure_seed,
        }
    }

    /// A request of the current call: recording, `live` sends it and the
    /// exchange is kept; playing back, the cassette answers it.
    pub(crate) async fn exchange<F, Fut>(
        &self,
        req: Request,
        blobs: &BlobStore,
        live: F,
    ) -> Result<Response, HttpError>
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Result<Response, HttpError>>,
    {
        if self.mode == Mode::Replay {
            return self.answer(TapedRequest::new(&req, MAX_TAPED_BODY), blobs);
        }
        // The request is kept before it is sent, as `pending`: a call
        // stopped while it is in flight still shows it.
        let at = {
            let mut st = self.lock();
            match st.current.as_mut() {
                Some(c) if c.exchanges.len() < MAX_TAPED_EXCHANGES_PER_CALL => {
                    let request = TapedRequest::new(&req, c.room());
                    c.taped_bytes += request.body.as_ref().map_or(0, Body::len);
                    let in_flight = c.exchanges.iter().any(|e| e.outcome.is_pending());
                    c.exchanges.push(Exchange {
                        request,
                        outcome: TapedOutcome::Error {
                            kind: "pending".into(),
                            message: None,
                        },
                        in_flight,
                    });
                    Some((c.index, c.exchanges.len() - 1))
                }
                _ => None,
            }
        };
        let result = if self.mode == Mode::Script {
            let request = TapedRequest::new(&req, MAX_TAPED_BODY);
            self.scripted_answer(&request, blobs)
        } else {
            live(req).await
        };
        if let Some((index, n)) = at {
            let mut st = self.lock();
            if let Some(c) = st.current.as_mut().filter(|c| c.index == index) {
                let outcome = TapedOutcome::new(&result, blobs, c.room());
                if let TapedOutcome::Response { body, .. } = &outcome {
                    c.taped_bytes += body.len();
                }
                c.exchanges[n].outcome = outcome;
            }
        }
        result
    }

    /// Recording: a read of the connection's state in the current call.
    pub(crate) fn note_state(&self, key: String, value: Option<String>) {
        if let Some(c) = self.lock().current.as_mut()
            && c.state.len() < MAX_TAPED_EXCHANGES_PER_CALL
        {
            c.state.push(StateRead { key, value });
        }
    }

    /// Playing back: the next state read of the current call, answered
    /// from the cassette; a read of another key is the mismatch.
    pub(crate) fn state_read(&self, key: &str) -> Option<String> {
        let mut st = self.lock();
        let c = st.current.as_mut()?;
        let (index, op, n) = (c.index, c.op.clone(), c.state_answered);
        c.state_answered += 1;
        let recorded = st
            .cassette
            .calls
            .get(index)
            .and_then(|call| call.state.get(n).cloned());
        let what = match recorded {
            Some(read) if read.key == key => return read.value,
            Some(read) => format!(
                "state read {}: the cassette read `{}`, the connector `{key}`",
                n + 1,
                read.key
            ),
            None => format!("state read {} (`{key}`) is not in the cassette", n + 1),
        };
        note(&mut st, index, &op, what);
        None
    }

    /// Every request of the calls so far (a recording or scripted tape's),
    /// in order, redacted like a cassette.
    pub fn requests(&self) -> Vec<TapedRequest> {
        let redactor = self.redactor();
        let st = self.lock();
        let current = st.current.iter().flat_map(|c| &c.exchanges);
        st.cassette
            .calls
            .iter()
            .flat_map(|c| &c.exchanges)
            .chain(current)
            .map(|e| e.request.clone().redacted(&redactor))
            .collect()
    }

    /// The current call ended: `failed` or not, with `result` (`{"ok": …}`
    /// or `{"error": …}`), its arguments `args`.
    pub(crate) fn end(&self, failed: bool, args: &dyn Fn() -> Value, result: &dyn Fn() -> Value) {
        let mut st = self.lock();
        let Some(c) = st.current.take() else {
            return;
        };
        if let Mode::Failures(_) = self.mode
            && !failed
        {
            return;
        }
        let result = result();
        if self.mode != Mode::Replay {
            let take = |r: &Readings| std::mem::take(&mut *r.lock().expect("clock readings"));
            let call = TapedCall {
                op: c.op,
                args: c.args.unwrap_or_else(args),
                // A run's cassette leaves out the seed: whoever reads it
                // could otherwise rebuild every random value of the call
                // (nonces, verifiers), not only those it sent.
                seed: match self.mode {
                    Mode::Failures(_) => String::new(),
                    _ => hex::encode(c.seed),
                },
                wall_clock: take(&c.wall),
                monotonic_clock: take(&c.monotonic),
                exchanges: c.exchanges,
                result,
                state: c.state,
            };
            st.cassette.calls.push(call);
            if let Mode::Failures(keep) = self.mode
                && st.cassette.calls.len() > keep
            {
                st.cassette.calls.remove(0);
            }
            return;
        }
        let Some(recorded) = st.cassette.calls.get(c.index) else {
            return;
        };
        let held = recorded.exchanges.len();
        let what = if c.answered < held {
            Some(format!(
                "the connector made {} requests; the cassette holds {held} for this call",
                c.answered
            ))
        } else if recorded.result.is_null() {
            None
        } else {
            first_difference(&recorded.result, &result)
                .map(|d| format!("the result differs from the cassette's {d}"))
        };
        if let Some(what) = what {
            note(&mut st, c.index, &c.op, what);
        }
    }

    /// Playing back: the first mismatch, or calls of the cassette that
    /// were never made.
    pub fn finish(&self) -> Result<(), Mismatch> {
        let st = self.lock();
        if let Some(m) = &st.mismatch {
            return Err(m.clone());
        }
        if self.mode == Mode::Replay && st.begun < st.cassette.calls.len() {
            let missing = &st.cassette.calls[st.begun];
            return Err(Mismatch {
                call: st.begun + 1,
                op: missing.op.clone(),
                what: format!(
                    "the cassette holds {} calls; the connector was called {} times",
                    st.cassette.calls.len(),
                    st.begun
                ),
            });
        }
        Ok(())
    }
}

/// Keep the first mismatch.
fn note(st: &mut State, index: usize, op: &str, what: String) {
    st.mismatch.get_or_insert(Mismatch {
        call: index + 1,
        op: op.into(),
        what,
    });
}

fn parse_seed(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

mod play;
#[cfg(test)]
mod tests;
