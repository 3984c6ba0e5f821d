//! A stream as a walk of the account's tree: hubs → projects → top
//! folders → folder contents (recursively) → item versions, or hubs →
//! projects → issues. The work left is a stack of tasks kept in the
//! cursor, taken depth first (a folder's subfolders before its next page),
//! so the cursor stays small and the host can stop and resume anywhere.
//! Each call does a bounded amount of work (requests, records, downloaded
//! bytes) and returns a page. When the run's blob space is spent, a
//! download stays first in the cursor and the page says no more for this
//! run; the next run goes on from it, the pass still in progress.
//!
//! Incremental: a pass remembers the newest `lastModifiedTime` (issues:
//! `updatedAt`) it emitted; the next pass takes only what changed after it
//! (or after a little before the last pass began, if that is earlier: a
//! change made during a pass may sit in a folder already read). Folders
//! whose `lastModifiedTimeRollup` (the newest change anywhere below them)
//! is older are not opened at all.

use serde::{Deserialize, Serialize};
use wharf_sdk::prelude::*;

use crate::Config;
use crate::records::Place;
use crate::{download, issues, tree};

/// The streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Hubs,
    Projects,
    Folders,
    Items,
    Versions,
    Issues,
}

impl Kind {
    /// The stream named `name`.
    pub fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "hubs" => Kind::Hubs,
            "projects" => Kind::Projects,
            "folders" => Kind::Folders,
            "items" => Kind::Items,
            "versions" => Kind::Versions,
            "issues" => Kind::Issues,
            _ => return None,
        })
    }

    /// Whether later passes read only what changed: hubs and projects are
    /// few and carry no modification time, so they are read whole.
    pub fn incremental(self) -> bool {
        !matches!(self, Kind::Hubs | Kind::Projects)
    }
}

/// Work left in a pass.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Task {
    /// List the hubs (from `next`, a later page).
    Hubs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// List a hub's projects; `acc` for BIM 360 / ACC accounts (the only
    /// ones with issues).
    Projects {
        at: Place,
        #[serde(default)]
        acc: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// List a project's top folders.
    Top { at: Place },
    /// List the folder `at.folder`.
    Contents {
        at: Place,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// List an item's versions (newest first).
    Versions {
        at: Place,
        item: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Download a version's file and emit its record.
    Download { record: Map<String, Value> },
    /// List a project's issues (deleted ones in a second round).
    Issues {
        at: Place,
        #[serde(default)]
        offset: u64,
        #[serde(default)]
        deleted: bool,
    },
}

/// Where a stream stands.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
pub struct Cursor {
    /// Resources modified at or before this (Unix ms) did not change
    /// since the last pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// When the pass in progress began (the host's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<i64>,
    /// The newest modification the pass in progress emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<i64>,
    /// A pass is in progress.
    #[serde(default)]
    pub walking: bool,
    /// Its work left; the last is done first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub todo: Vec<Task>,
}

/// Requests one call makes at most: 30 s per call is the host's default
/// limit, and APS answers in well under a second.
const CALLS_PER_PAGE: u32 = 10;
const RECORDS_PER_PAGE: usize = 500;
/// Files downloaded in one call at most, by count and by bytes: each is
/// kept in the host's memory until the page is written.
const DOWNLOADS_PER_PAGE: u32 = 4;
const DOWNLOAD_BYTES_PER_PAGE: u64 = 32 << 20;

/// One call's work on a stream.
pub struct Walk<'a> {
    pub config: &'a Config,
    pub kind: Kind,
    /// What changed after this is read (none: everything).
    pub bound: Option<i64>,
    /// The newest modification emitted in this pass.
    pub seen: Option<i64>,
    pub records: Vec<Record>,
    pub calls: u32,
    pub downloads: u32,
    pub downloaded: u64,
    /// The run's blob space is spent: the download in hand waits.
    pub no_room: bool,
}

impl Walk<'_> {
    /// Whether a resource modified at `t` changed since the last pass (one
    /// without a time counts as changed).
    pub fn after(&self, t: Option<i64>) -> bool {
        match (self.bound, t) {
            (Some(bound), Some(t)) => t > bound,
            _ => true,
        }
    }

    /// A resource modified at `t` is emitted.
    pub fn note(&mut self, t: Option<i64>) {
        if let Some(t) = t {
            self.seen = Some(self.seen.map_or(t, |s| s.max(t)));
        }
    }

    fn full(&self) -> bool {
        self.calls >= CALLS_PER_PAGE
            || self.records.len() >= RECORDS_PER_PAGE
            || self.downloads >= DOWNLOADS_PER_PAGE
            || self.downloaded >= DOWNLOAD_BYTES_PER_PAGE
    }

    /// Do `task`; the tasks it leads to, in the order they are pushed.
    fn step(&mut self, task: Task) -> Result<Vec<Task>> {
        match task {
            Task::Hubs { next } => tree::hubs(self, next),
            Task::Projects { at, acc, next } => tree::projects(self, at, acc, next),
            Task::Top { at } => tree::top(self, at),
            Task::Contents { at, next } => tree::contents(self, at, next),
            Task::Versions { at, item, next } => tree::versions(self, at, item, next),
            Task::Download { record } => download::version(self, record).map(|()| Vec::new()),
            Task::Issues {
                at,
                offset,
                deleted,
            } => issues::page(self, at, offset, deleted),
        }
    }
}

/// The tasks a listing leads to, in push order: its next page first (so
/// it is done last), then its children with the first on top.
pub fn stack(next: Option<Task>, mut children: Vec<Task>) -> Vec<Task> {
    children.reverse();
    next.into_iter().chain(children).collect()
}

/// One page of `kind` after `cursor`.
pub fn fetch(config: &Config, kind: Kind, cursor: Option<&str>) -> Result<Page> {
    let mut at: Cursor = match cursor.filter(|c| !c.trim().is_empty()) {
        Some(c) => serde_json::from_str(c).map_err(|e| {
            Error::Config(format!(
                "the cursor is not this connector's ({e}); reset the stream's cursor to read it again"
            ))
        })?,
        None => Cursor::default(),
    };
    if !at.walking {
        at.walking = true;
        at.started = Some(wharf_sdk::time::now_ms());
        at.seen = None;
        at.todo = vec![Task::Hubs { next: None }];
    }
    let mut walk = Walk {
        config,
        kind,
        bound: at.since.filter(|_| kind.incremental()),
        seen: at.seen,
        records: Vec::new(),
        calls: 0,
        downloads: 0,
        downloaded: 0,
        no_room: false,
    };
    while let Some(task) = at.todo.pop() {
        if walk.full() {
            at.todo.push(task);
            break;
        }
        match walk.step(task.clone()) {
            // No room for the file in this run: the download (whose time
            // the pass already noted) stays in the cursor, not a record
            // without content; the next run has space of its own.
            Ok(_) if walk.no_room => {
                at.todo.push(task);
                break;
            }
            Ok(next) => at.todo.extend(next),
            // Keep what this call already read: the page goes to the
            // destination and the task is tried again by the next call,
            // which meets the wait (or the outage) itself.
            Err(e @ (Error::RateLimited(_) | Error::Transient(_))) if !walk.records.is_empty() => {
                wharf_sdk::log::info(format!("the walk pauses: {e}"));
                at.todo.push(task);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    at.seen = walk.seen;
    // Out of blob space, the run stops here; the pass is not over.
    let more = !at.todo.is_empty() && !walk.no_room;
    if at.todo.is_empty() {
        let started = at.started.unwrap_or_else(wharf_sdk::time::now_ms);
        if kind.incremental() {
            let lookback = i64::from(config.lookback_secs) * 1000;
            at.since = Some(end_of_pass(at.since, at.seen, started, lookback));
        }
        at.walking = false;
        at.started = None;
        at.seen = None;
    }
    let cursor = serde_json::to_string(&at).map_err(Error::fatal)?;
    Ok(Page::new(walk.records, Some(cursor), more))
}

/// The bound of the next pass: the newest change this pass emitted, or a
/// little before this pass began if that is earlier, and never before the
/// bound this pass had.
pub fn end_of_pass(since: Option<i64>, seen: Option<i64>, started: i64, lookback: i64) -> i64 {
    let overlap = started - lookback;
    let bound = seen.map_or(overlap, |s| s.min(overlap));
    since.map_or(bound, |s| s.max(bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_ends_at_its_newest_change_or_before_it_began() {
        let started = 1_800_000_000_000;
        let end = |since, seen| end_of_pass(since, seen, started, 300_000);
        assert_eq!(end(None, Some(1_700_000_000_000)), 1_700_000_000_000);
        assert_eq!(end(None, Some(started + 5)), started - 300_000);
        assert_eq!(end(Some(5), None), started - 300_000);
        assert_eq!(end(Some(started), None), started);
    }

    #[test]
    fn cursors_round_trip() {
        let at = Cursor {
            since: Some(1),
            started: Some(2),
            seen: None,
            walking: true,
            todo: vec![
                Task::Hubs { next: None },
                Task::Contents {
                    at: Place {
                        hub: "b.h".into(),
                        project: "b.p".into(),
                        folder: Some("urn:adsk.wipprod:fs.folder:co.x".into()),
                        path: "P/Project Files".into(),
                        region: Some("US".into()),
                    },
                    next: Some("/data/v1/x?page%5Bnumber%5D=1".into()),
                },
            ],
        };
        let text = serde_json::to_string(&at).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&text).unwrap(), at);
        assert_eq!(
            stack(
                Some(Task::Hubs { next: None }),
                vec![Task::Top {
                    at: Place::default()
                }]
            ),
            vec![
                Task::Hubs { next: None },
                Task::Top {
                    at: Place::default()
                }
            ]
        );
    }
}
