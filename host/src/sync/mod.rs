//! The sync engine: workers that claim runs from the durable queue and
//! execute them page by page, and a scheduler that enqueues due runs
//! exactly once across nodes.
//!
//! - [`run`]: one run: fetch → map → validate → push → commit.
//! - [`ingest`]: records that do not come from `fetch` (imports, webhook
//!   deliveries), each landing as a run of its own.
//! - [`worker`]: claiming, rescue of expired leases, graceful shutdown.
//! - [`scheduler`]: due times to queued runs.
//! - [`schedule`]: interval and cron arithmetic.

pub mod ingest;
pub mod run;
pub mod schedule;
pub mod scheduler;
pub mod worker;
