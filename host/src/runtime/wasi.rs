//! WASI 0.2, linked in full with nothing behind it.
//!
//! Components from any toolchain import parts of WASI (Rust's std imports
//! filesystem and sockets; componentize-py imports more), so refusing those
//! imports would refuse most real connectors. Instead every interface is
//! linked and given nothing: no preopened directories, TCP, UDP and name
//! lookup denied, empty environment and arguments, stdin empty. Clocks and
//! randomness work (from the tape, in a taped session: `super::cassette`).
//! stdout and stderr go to the session log. `wasi:http`'s outgoing requests
//! are linked too, and go through the HTTP capability like `http.send`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;

use super::cassette::CallInputs;
use super::log::{CallLog, GuestOutput, LogSource};

/// A taped store's clocks and randomness, the current call's: an instance
/// may serve several calls of its session, and each call's inputs are its
/// own on the tape, so the store reads them through this handle, which
/// [`WasiState::next_call`] points at the next call's.
#[derive(Clone)]
struct TapedInputs(Arc<Mutex<CallInputs>>);

impl TapedInputs {
    fn with<T>(&self, f: impl FnOnce(&mut CallInputs) -> T) -> T {
        f(&mut self.0.lock().expect("taped inputs lock"))
    }
}

/// `wasi:clocks/wall-clock` of a taped store.
struct TapedWall(TapedInputs);

impl wasmtime_wasi::HostWallClock for TapedWall {
    fn resolution(&self) -> std::time::Duration {
        self.0.with(|i| i.wall.resolution())
    }
    fn now(&self) -> std::time::Duration {
        self.0.with(|i| i.wall.now())
    }
}

/// `wasi:clocks/monotonic-clock` of a taped store.
struct TapedMonotonic(TapedInputs);

impl wasmtime_wasi::HostMonotonicClock for TapedMonotonic {
    fn resolution(&self) -> u64 {
        self.0.with(|i| i.monotonic.resolution())
    }
    fn now(&self) -> u64 {
        self.0.with(|i| i.monotonic.now())
    }
}

/// `wasi:random/random` (or, `insecure`, `wasi:random/insecure`) of a
/// taped store.
struct TapedRandom {
    inputs: TapedInputs,
    insecure: bool,
}

impl TapedRandom {
    fn rng<T>(&self, f: impl FnOnce(&mut rand::rngs::StdRng) -> T) -> T {
        self.inputs.with(|i| {
            f(if self.insecure {
                &mut i.insecure
            } else {
                &mut i.random
            })
        })
    }
}

impl rand::TryRng for TapedRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.rng(rand::Rng::next_u32))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.rng(rand::Rng::next_u64))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.rng(|r| rand::Rng::fill_bytes(r, dst));
        Ok(())
    }
}

/// Resources (streams, pollables, `wasi:http` fields, requests…) one call
/// may hold at once. Each can hold host memory the guest's limit does not
/// count (a fields resource up to [`MAX_FIELDS_BYTES`]), so their number is
/// bounded; a connector holds a few dozen.
const MAX_RESOURCES: usize = 4096;

/// Resources an instance may hold between calls and still serve the next
/// one: a guest whose runtime drops its handles only when its collector
/// runs (ComponentizeJS's `fetch()` leaves ~9 per call behind) would
/// otherwise fill the table a few hundred calls into a run and trap, and
/// what the handles hold stays in the host's memory for the whole run.
pub(crate) const MAX_RESOURCES_KEPT: usize = MAX_RESOURCES / 8;
/// The largest header section a `wasi:http` fields resource may hold (as
/// the crate counts it); the contract's own limit is 64 KiB on the wire.
const MAX_FIELDS_BYTES: usize = 64 << 10;

/// WASI state of one store (one instance, for one or more calls).
pub struct WasiState {
    ctx: WasiCtx,
    /// `wasi:http`'s context; its resources share the table with the
    /// streams and pollables of `wasi:io`.
    http: WasiHttpCtx,
    table: ResourceTable,
    outputs: [GuestOutput; 2],
    /// A taped store's clocks and randomness.
    taped: Option<TapedInputs>,
}

impl WasiState {
    /// A context that grants nothing; output is charged to the call.
    /// A taped call's clocks and randomness come from its tape.
    pub fn new(call: &CallLog, taped: Option<CallInputs>) -> Self {
        let output = |source| GuestOutput {
            call: call.clone(),
            source,
            partial: Arc::default(),
        };
        let stdout = output(LogSource::Stdout);
        let stderr = output(LogSource::Stderr);
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        let taped = taped.map(|inputs| {
            // The seed is a value, not a source: a later call of the same
            // instance reads the first call's (docs/contract.md).
            builder.insecure_random_seed(inputs.insecure_seed);
            let taped = TapedInputs(Arc::new(Mutex::new(inputs)));
            builder
                .wall_clock(TapedWall(taped.clone()))
                .monotonic_clock(TapedMonotonic(taped.clone()))
                .secure_random(TapedRandom {
                    inputs: taped.clone(),
                    insecure: false,
                })
                .insecure_random(TapedRandom {
                    inputs: taped.clone(),
                    insecure: true,
                });
            taped
        });
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Self {
            ctx: builder.build(),
            http,
            table,
            outputs: [stdout, stderr],
            taped,
        }
    }

    /// Ready for the next call of the same instance: a taped store reads
    /// that call's clocks and randomness from now on.
    pub fn next_call(&mut self, inputs: Option<CallInputs>) {
        if let (Some(taped), Some(inputs)) = (&self.taped, inputs) {
            taped.with(|current| *current = inputs);
        }
    }

    /// The view `wasmtime_wasi` works through.
    pub fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }

    /// What `wasi:http` works through, with hooks from elsewhere.
    pub fn http_parts(&mut self) -> (&mut WasiHttpCtx, &mut ResourceTable) {
        (&mut self.http, &mut self.table)
    }

    /// How many resources the guest holds now.
    pub fn resources_held(&mut self) -> usize {
        self.table.iter_mut().count()
    }

    /// Write out output lines that had no final newline.
    pub fn flush(&self) {
        for o in &self.outputs {
            o.flush_partial();
        }
    }
}

/// Link every WASI 0.2 interface, and `wasi:http`'s outgoing requests
/// (served by the HTTP capability: `super::http::outgoing`).
pub fn add_to_linker<T>(linker: &mut Linker<T>) -> wasmtime::Result<()>
where
    T: WasiView + wasmtime_wasi_http::WasiHttpView + 'static,
{
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// The `wasi:http` interfaces a component may import: requests out, never
/// a server's handler.
const HTTP_INTERFACES: &[&str] = &["wasi:http/types@", "wasi:http/outgoing-handler@"];

/// Whether a component import is a WASI 0.2 interface that
/// [`add_to_linker`] provides.
pub fn is_wasi_import(name: &str) -> bool {
    const PACKAGES: &[&str] = &[
        "wasi:cli/",
        "wasi:clocks/",
        "wasi:filesystem/",
        "wasi:io/",
        "wasi:random/",
        "wasi:sockets/",
    ];
    (PACKAGES.iter().any(|p| name.starts_with(p))
        || HTTP_INTERFACES.iter().any(|p| name.starts_with(p)))
        && name
            .rsplit_once('@')
            .is_some_and(|(_, v)| v.starts_with("0.2."))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
    use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

    use super::*;

    struct At(u64);

    impl HostWallClock for At {
        fn resolution(&self) -> Duration {
            Duration::from_nanos(1)
        }
        fn now(&self) -> Duration {
            Duration::from_secs(self.0)
        }
    }

    impl HostMonotonicClock for At {
        fn resolution(&self) -> u64 {
            1
        }
        fn now(&self) -> u64 {
            self.0
        }
    }

    fn inputs(at: u64, seed: u64) -> CallInputs {
        CallInputs {
            wall: Box::new(At(at)),
            monotonic: Box::new(At(at)),
            random: StdRng::seed_from_u64(seed),
            insecure: StdRng::seed_from_u64(seed + 1),
            insecure_seed: 0,
        }
    }

    #[test]
    fn a_kept_store_reads_each_calls_own_clocks_and_randomness() {
        let taped = TapedInputs(Arc::new(Mutex::new(inputs(5, 1))));
        let wall = TapedWall(taped.clone());
        let monotonic = TapedMonotonic(taped.clone());
        let mut random = TapedRandom {
            inputs: taped.clone(),
            insecure: false,
        };
        let mut insecure = TapedRandom {
            inputs: taped.clone(),
            insecure: true,
        };
        assert_eq!(wall.now(), Duration::from_secs(5));
        assert_eq!(monotonic.now(), 5);
        let first = random.next_u64();
        assert_ne!(first, insecure.next_u64(), "two streams, not one");

        // The next call's inputs: its clocks, and its own stream from its
        // seed (the same seed gives the same values again).
        taped.with(|current| *current = inputs(9, 1));
        assert_eq!(wall.now(), Duration::from_secs(9));
        assert_eq!(monotonic.now(), 9);
        assert_eq!(random.next_u64(), first);
        let mut bytes = [0u8; 8];
        taped.with(|current| *current = inputs(9, 2));
        random.fill_bytes(&mut bytes);
        assert_ne!(u64::from_le_bytes(bytes), first);
    }
}
