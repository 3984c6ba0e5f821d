//! A session's `state` seen through its tape: what the connector read is
//! an input like any response, so each read is kept with its call and, in
//! a replay, answered from the cassette (a run's cassette holds what the
//! connection had stored, which the laptop replaying it does not). Writes
//! during a replay go nowhere.

use std::sync::Arc;

use super::Tape;
use crate::runtime::state::{StateFuture, StateStore};

/// A state store whose reads go on `tape`.
pub struct TapedState {
    inner: Arc<dyn StateStore>,
    tape: Arc<Tape>,
}

impl TapedState {
    /// `inner`, read through `tape`.
    pub fn new(inner: Arc<dyn StateStore>, tape: Arc<Tape>) -> Self {
        Self { inner, tape }
    }
}

impl StateStore for TapedState {
    fn get(&self, key: String) -> StateFuture<'_, Option<String>> {
        Box::pin(async move {
            if self.tape.replaying() {
                return Ok(self.tape.state_read(&key));
            }
            let value = self.inner.get(key.clone()).await?;
            self.tape.note_state(key, value.clone());
            Ok(value)
        })
    }

    fn set(&self, key: String, value: String, ttl_secs: Option<u32>) -> StateFuture<'_, ()> {
        if self.tape.replaying() {
            return Box::pin(async { Ok(()) });
        }
        self.inner.set(key, value, ttl_secs)
    }

    fn remove(&self, key: String) -> StateFuture<'_, ()> {
        if self.tape.replaying() {
            return Box::pin(async { Ok(()) });
        }
        self.inner.remove(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::state::MemoryState;
    use serde_json::Value;

    #[tokio::test]
    async fn reads_are_kept_and_answered_again_in_order() {
        let stored: Arc<dyn StateStore> = Arc::new(MemoryState::default());
        stored
            .set("tenant".into(), "acme-42".into(), None)
            .await
            .unwrap();
        let tape = Arc::new(Tape::recorder());
        let state = TapedState::new(stored, tape.clone());
        tape.begin("fetch", &|| Value::Null);
        assert_eq!(
            state.get("tenant".into()).await.unwrap().as_deref(),
            Some("acme-42")
        );
        assert_eq!(state.get("missing".into()).await.unwrap(), None);
        tape.end(false, &|| Value::Null, &|| Value::Null);
        let cassette = tape.cassette();
        assert_eq!(cassette.calls[0].state.len(), 2);

        // Played back against an empty store: the same answers.
        let player = Arc::new(Tape::player(cassette));
        let empty: Arc<dyn StateStore> = Arc::new(MemoryState::default());
        let state = TapedState::new(empty.clone(), player.clone());
        player.begin("fetch", &|| Value::Null);
        assert_eq!(
            state.get("tenant".into()).await.unwrap().as_deref(),
            Some("acme-42")
        );
        state
            .set("tenant".into(), "changed".into(), None)
            .await
            .unwrap();
        assert_eq!(
            empty.get("tenant".into()).await.unwrap(),
            None,
            "a replay writes nothing"
        );
        assert_eq!(state.get("other".into()).await.unwrap(), None);
        player.end(false, &|| Value::Null, &|| Value::Null);
        let m = player.finish().unwrap_err();
        assert!(
            m.what
                .contains("state read 2: the cassette read `missing`, the connector `other`"),
            "{m}"
        );
    }
}
