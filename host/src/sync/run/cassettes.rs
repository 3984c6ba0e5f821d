//! A failed run's failed calls, stored per side as cassettes
//! (`GET /api/v1/runs/{id}/cassette`).

use super::Run;
use crate::app::App;

/// The largest cassette a failed run keeps per side: a failed call's
/// exchanges can hold large responses, and a cassette is for debugging.
const MAX_CASSETTE_BYTES: usize = 16 << 20;

/// Store the failed calls of a failed run, per side, as cassettes; a
/// side's cassette larger than [`MAX_CASSETTE_BYTES`] keeps only its last
/// call, or nothing. Losing them loses a debugging aid, not data: a store
/// error is logged, and the run's outcome stands.
pub(super) async fn keep_cassettes(app: &App, r: &Run<'_>) {
    let mut cassettes = Vec::new();
    for o in r.opened() {
        if o.tape.calls() == 0 {
            continue;
        }
        // Redacting and printing up to a few calls' bodies is CPU work: on
        // the blocking pool, not an async worker.
        let tape = o.tape.clone();
        let text = tokio::task::spawn_blocking(move || {
            let mut cassette = tape.cassette();
            let mut text = cassette.to_json();
            if text.len() > MAX_CASSETTE_BYTES && cassette.calls.len() > 1 {
                cassette.calls.drain(..cassette.calls.len() - 1);
                text = cassette.to_json();
            }
            text
        })
        .await;
        match text {
            Ok(text) if text.len() <= MAX_CASSETTE_BYTES => cassettes.push((o.side.name(), text)),
            Ok(text) => {
                tracing::warn!(run = %r.run.id, side = o.side.name(), bytes = text.len(), "a failed call's cassette is too large to keep");
            }
            Err(e) => {
                tracing::warn!(run = %r.run.id, error = %e, "a failed call's cassette could not be written")
            }
        }
    }
    if cassettes.is_empty() {
        return;
    }
    if let Err(e) = app.store.save_run_cassettes(&r.run.id, &cassettes).await {
        tracing::warn!(run = %r.run.id, error = %e, "the failed run's cassettes were not stored");
    }
}
