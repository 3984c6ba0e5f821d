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
