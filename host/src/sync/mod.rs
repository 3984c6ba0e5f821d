//! The sync engine: workers that claim runs from the durable queue and
//! execute them page by page, and a scheduler that enqueues due runs
//! exactly once across nodes.
//!
//! - [`runner`]: one run: fetch → map → validate → push → commit.
//! - [`worker`]: claiming, rescue of expired leases, graceful shutdown.
//! - [`scheduler`]: due times to queued runs.
//! - [`schedule`]: interval and cron arithmetic.

pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod worker;

/// Random factor in [0.5, 1.5) for backoff jitter.
pub(crate) fn jitter() -> f64 {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).expect("the OS random source works");
    0.5 + f64::from(u16::from_le_bytes(b)) / 65_536.0
}
