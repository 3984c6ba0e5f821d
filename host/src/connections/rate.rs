//! A connection's rate budgets, kept in the database: the spec declares,
//! per host, requests per window, requests per UTC day and requests at
//! once (Xero: 60 a minute, 5 at once, 5,000 a day; Trendyol: 50 per
//! 10 s). Every session of the connection — runs of any sync, checks,
//! webhook deliveries — on every node waits at the same counts.
//!
//! The window slides: a request goes when fewer than the budget's count
//! were made in the window's length before it, so a burst across a minute
//! boundary cannot send twice the count (Xero counts a rolling minute). The
//! day is the UTC day. A wait within [`MAX_WAIT`] is waited out; a longer
//! one (a spent day) refuses the request, naming the budget, so the run
//! fails or retries by its own rules instead of holding a worker for hours.

use std::time::Duration;

use url::Url;

use crate::app::App;
use crate::model::grants::HostPattern;
use crate::model::spec::{RateBudget, Spec, expand_host_template};
use crate::runtime::rate::{GateFuture, RateGate, Turn};

/// Longest a request waits for a window to end.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long a concurrency slot is held at most (a node that dies holding
/// one frees it after this).
const SLOT_LEASE_MS: i64 = 5 * 60 * 1000;
const DAY_MS: i64 = 86_400_000;

/// The budgets of one connection.
pub struct ConnectionBudgets {
    app: App,
    connection: String,
    /// Each budget with the host it applies to (expanded for the config).
    budgets: Vec<(RateBudget, HostPattern)>,
    /// This session's name as a slot holder.
    holder: String,
}

impl ConnectionBudgets {
    /// The gate of connection `id`, if its spec declares budgets that
    /// apply to its config (a budget whose host needs config the
    /// connection lacks does not apply).
    pub fn new(app: &App, id: &str, spec: &Spec, config: &serde_json::Value) -> Option<Self> {
        let budgets: Vec<(RateBudget, HostPattern)> = spec
            .rate_budgets
            .iter()
            .filter_map(|b| Some((b.clone(), expand_host_template(&b.host, config).ok()?)))
            .collect();
        (!budgets.is_empty()).then(|| Self {
            app: app.clone(),
            connection: id.to_string(),
            budgets,
            holder: format!("{}:{}", app.node, crate::ids::new_id()),
        })
    }

    /// A turn at every budget that applies to `url`. The slot comes first
    /// and the window's count last, so a request is counted when it is
    /// about to go, not while it waits for a slot: the API's own count
    /// (Xero's rolling minute) sees it at the time the window does. A
    /// refusal gives back the slots already taken.
    async fn take(&self, url: &Url) -> Result<Turn, String> {
        let mut turn = Turn::default();
        for (i, (b, host)) in self.budgets.iter().enumerate() {
            if !host.matches(url) {
                continue;
            }
            if let Some(slots) = b.concurrency {
                let slot = self.slot(&host.to_string(), slots).await;
                match slot {
                    Ok(slot) => turn.slots.push((i, slot)),
                    Err(e) => return Err(self.give_back(turn, e).await),
                }
            }
            if let Err(e) = self.count(b, &host.to_string()).await {
                return Err(self.give_back(turn, e).await);
            }
        }
        Ok(turn)
    }

    /// Wait for one of `slots` concurrency slots at `key`.
    async fn slot(&self, key: &str, slots: u32) -> Result<u32, String> {
        loop {
            let now = crate::clock::now_ms();
            let taken = self
                .app
                .store
                .rate_slot(
                    &self.connection,
                    key,
                    slots.max(1),
                    &self.holder,
                    now + SLOT_LEASE_MS,
                    now,
                )
                .await
                .map_err(|e| e.to_string())?;
            if let Some(slot) = taken {
                return Ok(slot);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Count one request in the day and the window of `b` at `key`,
    /// waiting for the window when its turn comes within [`MAX_WAIT`].
    async fn count(&self, b: &RateBudget, key: &str) -> Result<(), String> {
        let store = &self.app.store;
        let err = |e: crate::store::StoreError| e.to_string();
        if let Some(daily) = b.daily {
            let now = crate::clock::now_ms();
            let day = now - now.rem_euclid(DAY_MS);
            if !store
                .rate_take(&self.connection, key, "day", day, daily)
                .await
                .map_err(err)?
            {
                return Err(format!(
                    "the daily budget of {daily} requests to {key} is spent; it renews at 00:00 UTC"
                ));
            }
        }
        if let Some(limit) = b.requests {
            let window = i64::from(b.window_secs.max(1)) * 1000;
            // The API counts a request when it arrives, some milliseconds
            // after it was counted here, and not always the same number:
            // a request counts here a little longer than the window (a
            // twentieth of it, at most a second), so one sent the moment
            // the window allows does not arrive inside the API's.
            let margin = (window / 20).min(1000);
            let window = window + margin;
            loop {
                let now = crate::clock::now_ms();
                let Some(wait) = store
                    .rate_slide(&self.connection, key, now, window, limit)
                    .await
                    .map_err(err)?
                else {
                    break;
                };
                let wait = Duration::from_millis(wait.max(1) as u64);
                if wait > MAX_WAIT + Duration::from_millis(margin as u64) {
                    return Err(format!(
                        "the budget of {limit} requests per {} s to {key} is spent for the next {} s",
                        b.window_secs,
                        wait.as_secs()
                    ));
                }
                tokio::time::sleep(wait).await;
            }
        }
        Ok(())
    }

    /// Free the slots of a turn that was refused; the refusal.
    async fn give_back(&self, turn: Turn, refusal: String) -> String {
        if let Err(e) = self.free(turn).await {
            tracing::warn!(connection = %self.connection, error = %e, "could not free rate slots");
        }
        refusal
    }

    async fn free(&self, turn: Turn) -> Result<(), String> {
        for (i, slot) in turn.slots {
            let key = self.budgets[i].1.to_string();
            self.app
                .store
                .rate_free(&self.connection, &key, slot, &self.holder)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl RateGate for ConnectionBudgets {
    fn turn<'a>(&'a self, url: &'a Url) -> GateFuture<'a, Turn> {
        Box::pin(self.take(url))
    }

    fn done(&self, turn: Turn) -> GateFuture<'_, ()> {
        Box::pin(self.free(turn))
    }
}
