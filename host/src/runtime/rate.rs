//! Rate budgets as the runtime sees them: before each request (each
//! redirect hop too) the session asks its gate for a turn, and gives the
//! turn back when the answer is in. The gate of a stored connection keeps
//! the count in the database, so a budget holds across runs, syncs,
//! webhook deliveries and nodes (`crate::connections::rate`); sessions
//! without one (`wharf dev`, tests) have no gate.

use std::future::Future;
use std::pin::Pin;

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
