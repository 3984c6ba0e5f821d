//! The clocks and randomness of a taped call: recording clocks read the
//! real time and note each reading; played-back clocks hand the readings
//! out again in order. Randomness comes from a seeded generator either
//! way, so only the seed is kept.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Readings kept per clock and call; a guest that reads the clock in a
/// loop is not recorded without end (past this, replay goes on counting
/// from the last reading).
const MAX_READINGS: usize = 10_000;

/// The readings of one clock in one call.
pub(super) type Readings = Arc<Mutex<Vec<u64>>>;

/// The wall clock, each reading noted.
pub(super) struct RecordingWall(pub Readings);

impl HostWallClock for RecordingWall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        note(&self.0, now.as_nanos() as u64);
        now
    }
}

/// The monotonic clock (from the call's start), each reading noted.
pub(super) struct RecordingMonotonic {
    pub start: Instant,
    pub readings: Readings,
}

impl HostMonotonicClock for RecordingMonotonic {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        let now = self.start.elapsed().as_nanos() as u64;
        note(&self.readings, now);
        now
    }
}

fn note(readings: &Readings, value: u64) {
    let mut r = readings.lock().expect("clock readings");
    if r.len() < MAX_READINGS {
        r.push(value);
    }
}

/// A clock that hands out recorded readings in order; past the last one
/// it advances a microsecond a reading, so a guest waiting for time to
/// pass still sees it pass.
pub(super) struct Played {
    readings: Vec<u64>,
    next: AtomicUsize,
    /// Where to start when nothing was recorded.
    origin: u64,
}

impl Played {
    pub fn new(readings: Vec<u64>, origin: u64) -> Self {
        Self {
            readings,
            next: AtomicUsize::new(0),
            origin,
        }
    }

    fn read(&self) -> u64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match self.readings.get(n) {
            Some(v) => *v,
            None => {
                let last = self.readings.last().copied().unwrap_or(self.origin);
                let past = (n + 1 - self.readings.len()) as u64;
                last.saturating_add(past * 1_000)
            }
        }
    }
}

/// A played-back wall clock.
pub(super) struct PlayedWall(pub Arc<Played>);

impl HostWallClock for PlayedWall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.read())
    }
}

/// A played-back monotonic clock.
pub(super) struct PlayedMonotonic(pub Arc<Played>);

impl HostMonotonicClock for PlayedMonotonic {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.read()
    }
}

/// A fresh seed for a recorded call.
pub(super) fn fresh_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the system's randomness");
    seed
}

/// The call's generators from its seed: one for `wasi:random/random`,
/// one for `insecure`, and the `insecure-seed` value, each from its own
/// hash of the seed (so no one reveals another).
pub(super) fn generators(seed: [u8; 32]) -> (StdRng, StdRng, u128) {
    use sha2::Digest as _;
    let derive = |label: &[u8]| -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(label);
        h.update(seed);
        h.finalize().into()
    };
    let insecure_seed = u128::from_le_bytes(
        derive(b"wharf insecure-seed")[..16]
            .try_into()
            .expect("16 bytes"),
    );
    (
        StdRng::from_seed(derive(b"wharf random")),
        StdRng::from_seed(derive(b"wharf insecure")),
        insecure_seed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn played_clocks_repeat_the_readings_then_advance() {
        let p = Played::new(vec![5, 9], 0);
        assert_eq!(
            (p.read(), p.read(), p.read(), p.read()),
            (5, 9, 1_009, 2_009)
        );
        let empty = Played::new(Vec::new(), 100);
        assert_eq!((empty.read(), empty.read()), (1_100, 2_100));
    }

    #[test]
    fn the_same_seed_draws_the_same_bytes() {
        use rand::Rng as _;
        let seed = fresh_seed();
        let (mut a, _, s1) = generators(seed);
        let (mut b, _, s2) = generators(seed);
        assert_eq!((a.next_u64(), s1), (b.next_u64(), s2));
    }
}
