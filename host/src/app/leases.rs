//! Keeping leases alive on a thread of their own.
//!
//! A run's lease is renewed by heartbeat; if heartbeats stop, another
//! worker rescues the run. Heartbeats therefore must not depend on the
//! async workers that execute runs: a guest or a host bug that keeps those
//! busy would let leases expire while the runs go on, and the rescued runs
//! would start a second time. The keeper runs on its own OS thread, with
//! its own single-threaded runtime and its own database connection, renews
//! every lease this node holds, and tells a run when its lease was lost or
//! its cancellation was asked for. (Fencing in the store makes a lost lease
//! harmless as well: see [`crate::store::runs`].)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::Store;
use crate::store::runs::Lease;

/// What the keeper tells the execution that holds a lease.
pub trait LeaseHolder: Send + Sync {
    /// The lease is gone: another execution owns the run now.
    fn lease_lost(&self);
    /// Someone asked for the run to be cancelled.
    fn cancel(&self);
}

/// A holder's handle.
type StopSignal = dyn LeaseHolder;

/// How often cancellation requests are looked for.
const CANCEL_CHECK: Duration = Duration::from_secs(1);

struct Held {
    lease: Lease,
    stop: Arc<StopSignal>,
}

/// Held leases by run and generation: a run claimed again by this node
/// while its old execution still runs is two entries, never one.
type HeldMap = Arc<Mutex<HashMap<(String, i64), Held>>>;

/// Renews this node's leases. Dropping it stops the thread.
pub struct LeaseKeeper {
    held: HeldMap,
    closed: Arc<AtomicBool>,
}

impl std::fmt::Debug for LeaseKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseKeeper").finish_non_exhaustive()
    }
}

/// While this lives, the keeper renews the lease; dropping it lets go of
/// this generation only.
pub struct LeaseGuard {
    key: (String, i64),
    held: HeldMap,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.held.lock().expect("leases lock").remove(&self.key);
    }
}

impl LeaseKeeper {
    /// Start the keeper thread: leases last `lease`, renewed every `beat`.
    pub fn start(store: Store, lease: Duration, beat: Duration) -> Self {
        let held: HeldMap = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let (map, flag) = (held.clone(), closed.clone());
        let spawned = std::thread::Builder::new()
            .name("wharf-leases".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "the lease keeper could not start a runtime");
                        return;
                    }
                };
                rt.block_on(keep(store, map, flag, lease, beat));
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "the lease keeper thread could not start");
        }
        Self { held, closed }
    }

    /// Renew `lease` until the guard is dropped; `stop` hears of a lost
    /// lease or a cancellation. An older generation of the same run still
    /// held here has lost its lease by definition, and is told so.
    pub fn hold(&self, lease: Lease, stop: Arc<StopSignal>) -> LeaseGuard {
        let key = (lease.run_id.clone(), lease.generation);
        let mut held = self.held.lock().expect("leases lock");
        held.retain(|(run, generation), h| {
            let older = *run == key.0 && *generation < key.1;
            if older {
                h.stop.lease_lost();
            }
            !older
        });
        held.insert(key.clone(), Held { lease, stop });
        LeaseGuard {
            key,
            held: self.held.clone(),
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

async fn keep(
    shared: Store,
    held: HeldMap,
    closed: Arc<AtomicBool>,
    lease: Duration,
    beat: Duration,
) {
    // Connections of the shared pool belong to the main runtime's I/O
    // driver, which is exactly what may be starved; use our own.
    let store = match shared.reopen().await {
        Ok(own) => own,
        Err(e) => {
            tracing::warn!(error = %e, "the lease keeper uses the shared pool: its own could not open");
            shared
        }
    };
    let lease_ms = lease.as_millis() as i64;
    let tick = CANCEL_CHECK.min(beat);
    let mut since_beat = Duration::ZERO;
    while !closed.load(Ordering::Relaxed) {
        tokio::time::sleep(tick).await;
        since_beat += tick;
        let current: Vec<(Lease, Arc<StopSignal>)> = held
            .lock()
            .expect("leases lock")
            .values()
            .map(|h| (h.lease.clone(), h.stop.clone()))
            .collect();
        if current.is_empty() {
            continue;
        }
        // A database call that hangs must not hold up the other leases:
        // each gets a fraction of the lease.
        let limit = lease / 4;
        if since_beat >= beat {
            since_beat = Duration::ZERO;
            for (lease, stop) in &current {
                match tokio::time::timeout(limit, store.heartbeat(lease, lease_ms)).await {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => {
                        tracing::warn!(run = %lease.run_id, "lease lost; another execution owns the run now");
                        stop.lease_lost();
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(run = %lease.run_id, error = %e, "heartbeat failed")
                    }
                    Err(_) => tracing::warn!(run = %lease.run_id, "heartbeat timed out"),
                }
            }
        }
        let ids: Vec<&str> = current.iter().map(|(l, _)| l.run_id.as_str()).collect();
        match tokio::time::timeout(limit, store.cancel_requested_among(&ids)).await {
            Ok(Ok(cancelled)) => {
                for (lease, stop) in &current {
                    if cancelled.contains(&lease.run_id) {
                        stop.cancel();
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "checking for cancellations failed"),
            Err(_) => tracing::warn!("checking for cancellations timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Signal {
        lost: AtomicBool,
    }

    impl LeaseHolder for Signal {
        fn lease_lost(&self) {
            self.lost.store(true, Ordering::SeqCst);
        }
        fn cancel(&self) {}
    }

    #[tokio::test]
    async fn a_newer_generation_replaces_an_older_one_and_each_guard_drops_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite_dir(dir.path()).await.unwrap();
        let keeper = LeaseKeeper::start(store, Duration::from_secs(30), Duration::from_secs(5));
        let lease = |generation| Lease {
            run_id: "r".into(),
            owner: "n".into(),
            generation,
        };
        let (old_stop, new_stop) = (Arc::new(Signal::default()), Arc::new(Signal::default()));
        let old = keeper.hold(lease(1), old_stop.clone());
        let new = keeper.hold(lease(2), new_stop.clone());
        // The old execution hears that it lost the run...
        assert!(old_stop.lost.load(Ordering::SeqCst));
        assert!(!new_stop.lost.load(Ordering::SeqCst));
        // ...and letting go of it leaves the new one held.
        drop(old);
        let held: Vec<(String, i64)> = keeper.held.lock().unwrap().keys().cloned().collect();
        assert_eq!(held, [("r".to_string(), 2)]);
        drop(new);
        assert!(keeper.held.lock().unwrap().is_empty());
    }
}
