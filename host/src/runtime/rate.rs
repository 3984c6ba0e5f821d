//! Rate budgets as the runtime sees them: before each request (each
//! redirect hop too) the session asks its gate for a turn, and gives the
//! turn back when the answer is in. The gate of a stored connection keeps
//! the count in the database, so a budget holds across runs, syncs,
//! webhook deliveries and nodes (`crate::connections::rate`); sessions
//! without one (`wharf dev`, tests) have no gate.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

/// A turn to send a request; give it back with [`RateGate::done`].
#[derive(Debug, Default)]
pub struct Turn {
    /// Concurrency slots held, as (budget index, slot).
    pub slots: Vec<(usize, u32)>,
}

/// A future of a gate.
pub type GateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Where a session's requests wait for their turn.
pub trait RateGate: Send + Sync {
    /// Wait for a turn to send to `url`; an error (a daily budget spent)
    /// refuses the request, saying why.
    fn turn<'a>(&'a self, url: &'a Url) -> GateFuture<'a, Turn>;
    /// The request is over: free what `turn` held.
    fn done(&self, turn: Turn) -> GateFuture<'_, ()>;
}

/// A turn held for one request; given back when dropped (on a task, as
/// giving it back may touch the database).
pub struct Held {
    gate: std::sync::Arc<dyn RateGate>,
    turn: Option<Turn>,
}

impl Held {
    /// Wait at `gate` for a turn to send to `url`.
    pub async fn take(gate: &std::sync::Arc<dyn RateGate>, url: &Url) -> Result<Self, String> {
        let turn = gate.turn(url).await?;
        Ok(Self {
            gate: gate.clone(),
            turn: Some(turn),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(turn) = self.turn.take() else {
            return;
        };
        if turn.slots.is_empty() {
            return;
        }
        let gate = self.gate.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = gate.done(turn).await;
            });
        }
    }
}

impl std::fmt::Debug for dyn RateGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateGate")
    }
}

/// How long a session's requests have waited for their turns, a wait under
/// way included. A call's time limit leaves this out: it is the host
/// pacing the connection (60 a minute), not the connector working, and a
/// page of a big Xero organisation may wait most of a minute for it.
#[derive(Debug, Default)]
pub struct WaitClock {
    state: Mutex<WaitState>,
}

#[derive(Debug, Default)]
struct WaitState {
    total: Duration,
    /// Requests waiting now, and since when the first of them waits.
    waiting: usize,
    since: Option<Instant>,
}

impl WaitClock {
    /// All the waiting so far.
    pub fn waited(&self) -> Duration {
        let s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.total + s.since.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// A request starts waiting; it stops when the guard drops.
    pub fn begin(&self) -> Waiting<'_> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.waiting == 0 {
            s.since = Some(Instant::now());
        }
        s.waiting += 1;
        Waiting(self)
    }
}

/// A request waiting for its turn (see [`WaitClock::begin`]).
pub struct Waiting<'a>(&'a WaitClock);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut s = self
            .0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.waiting -= 1;
        if s.waiting == 0
            && let Some(since) = s.since.take()
        {
            s.total += since.elapsed();
        }
    }
}

/// `fut`, unless it runs longer than `limit` plus the time the clock
/// `paused` adds meanwhile (rate-budget waits, which are not the call's).
pub async fn within<F: Future>(
    fut: F,
    limit: Duration,
    paused: impl Fn() -> Duration,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let start = tokio::time::Instant::now();
    let before = paused();
    let mut fut = std::pin::pin!(fut);
    loop {
        let until = start + limit + (paused() - before);
        match tokio::time::timeout_at(until, &mut fut).await {
            Ok(done) => return Ok(done),
            Err(elapsed) if start + limit + (paused() - before) <= until => return Err(elapsed),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_waits_count_once() {
        let clock = WaitClock::default();
        assert_eq!(clock.waited(), Duration::ZERO);
        let a = clock.begin();
        let b = clock.begin();
        std::thread::sleep(Duration::from_millis(30));
        drop(a);
        std::thread::sleep(Duration::from_millis(30));
        drop(b);
        let waited = clock.waited();
        assert!(waited >= Duration::from_millis(60), "{waited:?}");
        assert!(waited < Duration::from_millis(120), "{waited:?}");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.waited(), waited, "nothing counts between waits");
    }
}
