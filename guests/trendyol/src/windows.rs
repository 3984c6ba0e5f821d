//! Reading by time windows: Trendyol answers for at most 14 days of
//! `lastModifiedDate` per request, so a run walks from where the last one
//! stopped (less a lookback) to the moment it started, window by window,
//! and within a window page by page (a page number or a cursor token).
//! The high-water mark is the run's start time, not the newest record
//! seen, because every window up to it was read whole.

use serde::{Deserialize, Serialize};
use wharf_sdk::{Error, Result};

pub const DAY_MS: i64 = 86_400_000;
/// The widest window Trendyol accepts.
pub const MAX_WINDOW_MS: i64 = 14 * DAY_MS;

/// Where a stream stands: the next run's start, and this run's position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The next run reads from here (less the lookback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// The run in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
}

/// A run in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Start of the current window (epoch ms).
    pub from: i64,
    /// The run's end: when it started.
    pub until: i64,
    /// Page within the window.
    #[serde(default)]
    pub page: u64,
    /// Cursor token within the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl State {
    pub fn from_cursor(cursor: Option<&str>) -> Result<Self> {
        cursor.map_or(Ok(Self::default()), |c| {
            serde_json::from_str(c)
                .map_err(|e| Error::Fatal(format!("unreadable cursor `{c}`: {e}")))
        })
    }

    /// The run in progress, or a new one from the last run's mark (less
    /// `lookback_ms`), or from `first_ms` ago on a first run.
    pub fn run(&mut self, now: i64, lookback_ms: i64, first_ms: i64) -> &mut Run {
        let since = self.since;
        self.run.get_or_insert_with(|| Run {
            from: since.map_or(now - first_ms, |s| s - lookback_ms),
            until: now,
            page: 0,
            token: None,
        })
    }

    /// The page was read: `next` is the next page or token in this window
    /// (`None`: the window is done). The cursor to return, and whether the
    /// run goes on.
    pub fn advance(&mut self, next: Option<Next>, window_ms: i64) -> Result<(String, bool)> {
        let run = self
            .run
            .as_mut()
            .ok_or_else(|| Error::fatal("no run in progress"))?;
        match next {
            Some(Next::Page(p)) => run.page = p,
            Some(Next::Token(t)) => run.token = Some(t),
            None => {
                run.from = window_end(run, window_ms) + 1;
                run.page = 0;
                run.token = None;
            }
        }
        let more = run.from <= run.until;
        if !more {
            self.since = Some(run.until);
            self.run = None;
        }
        Ok((serde_json::to_string(self).map_err(Error::fatal)?, more))
    }
}

/// The last millisecond of the current window.
pub fn window_end(run: &Run, window_ms: i64) -> i64 {
    (run.from + window_ms - 1).min(run.until)
}

/// How the page after this one is found.
pub enum Next {
    Page(u64),
    Token(String),
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    wharf_sdk::time::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_walks_windows_and_ends_at_its_start() {
        let mut s = State::default();
        let now = 100 * DAY_MS;
        let run = s.run(now, 3_600_000, 30 * DAY_MS).clone();
        assert_eq!((run.from, run.until), (70 * DAY_MS, now));
        assert_eq!(window_end(&run, MAX_WINDOW_MS), 84 * DAY_MS - 1);
        let (_, more) = s.advance(Some(Next::Page(1)), MAX_WINDOW_MS).unwrap();
        assert!(more);
        assert_eq!(s.run.as_ref().unwrap().page, 1);
        let (_, more) = s.advance(None, MAX_WINDOW_MS).unwrap();
        assert!(more);
        assert_eq!(s.run.as_ref().unwrap().from, 84 * DAY_MS);
        s.advance(None, MAX_WINDOW_MS).unwrap();
        let (cursor, more) = s.advance(None, MAX_WINDOW_MS).unwrap();
        assert!(!more);
        assert_eq!(cursor, format!(r#"{{"since":{now}}}"#));
        // The next run starts an hour before the mark.
        let mut next = State::from_cursor(Some(&cursor)).unwrap();
        assert_eq!(next.run(now + 5, 3_600_000, 0).from, now - 3_600_000);
    }
}
