//! The log capability: guest log lines (and WASI stdout/stderr) go into the
//! session's bounded log and to `tracing`, inside the caller's span.
//!
//! Two bounds: per call, a guest that writes more than the cap fails that
//! call with a limit error (a log flood is a bug or an attack, not data);
//! per session, only the first lines are kept and the rest are counted.
//! Lines the host writes because of a call (refused requests, secret
//! reveals) are charged to that call like the guest's own, and a line that
//! is not kept is not written to the server log either: nothing a guest
//! does can make the server log grow faster than its run log.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::bindings::wharf::connector::log::{Host, Level as WitLevel};
use super::limits::LimitExceeded;
use super::secrets::SharedRedactor;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Very detailed.
    Trace,
    /// Debugging.
    Debug,
    /// Progress.
    Info,
    /// Odd but not fatal.
    Warn,
    /// Failure.
    Error,
}

impl From<WitLevel> for Level {
    fn from(l: WitLevel) -> Self {
        match l {
            WitLevel::Trace => Self::Trace,
            WitLevel::Debug => Self::Debug,
            WitLevel::Info => Self::Info,
            WitLevel::Warn => Self::Warn,
            WitLevel::Error => Self::Error,
        }
    }
}

/// Who wrote a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The connector, through `wharf:connector/log`.
    Guest,
    /// The connector's WASI stdout.
    Stdout,
    /// The connector's WASI stderr.
    Stderr,
    /// The host, about the connector (refused requests, limits).
    Host,
    /// The audit trail (secret reveals).
    Audit,
}

/// One line of a session's log.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Severity.
    pub level: Level,
    /// Who wrote it.
    pub source: LogSource,
    /// The text, with secret values redacted.
    pub message: String,
}

/// Called with every line as it arrives.
type Echo = Box<dyn Fn(&LogLine) + Send + Sync>;

/// The log of one session (a run, or one `wharf dev` command).
pub struct SessionLog {
    lines: Mutex<VecDeque<LogLine>>,
    keep: u64,
    accepted: AtomicU64,
    /// Bytes of the accepted lines' messages (as the connector wrote them).
    bytes: AtomicU64,
    dropped: AtomicU64,
    redactor: SharedRedactor,
    connector: Arc<str>,
    echo: Option<Echo>,
}

impl SessionLog {
    /// A log that keeps at most `keep` lines over the whole session.
    pub fn new(connector: Arc<str>, keep: usize, redactor: SharedRedactor) -> Self {
        Self {
            lines: Mutex::new(VecDeque::new()),
            keep: keep as u64,
            accepted: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            redactor,
            connector,
            echo: None,
        }
    }

    /// Also hand every line to `echo` as it arrives (used by `wharf dev`).
    pub fn with_echo(mut self, echo: impl Fn(&LogLine) + Send + Sync + 'static) -> Self {
        self.echo = Some(Box::new(echo));
        self
    }

    /// Record a line; the message is redacted here, so no caller can forget.
    /// Past the session's cap the line is only counted: not redacted, not
    /// stored, not echoed, not written to the server log.
    pub fn push(&self, level: Level, source: LogSource, message: &str) -> bool {
        let taken = self
            .accepted
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.keep).then_some(n + 1)
            });
        if taken.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.bytes
            .fetch_add(message.len() as u64, Ordering::Relaxed);
        let message = self.redactor.snapshot().redact_str(message).into_owned();
        match level {
            Level::Trace => tracing::trace!(connector = %self.connector, ?source, "{message}"),
            Level::Debug => tracing::debug!(connector = %self.connector, ?source, "{message}"),
            Level::Info => tracing::info!(connector = %self.connector, ?source, "{message}"),
            Level::Warn => tracing::warn!(connector = %self.connector, ?source, "{message}"),
            Level::Error => tracing::error!(connector = %self.connector, ?source, "{message}"),
        }
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let line = LogLine {
            at_ms,
            level,
            source,
            message,
        };
        if let Some(echo) = &self.echo {
            echo(&line);
        }
        self.lines.lock().expect("log lock").push_back(line);
        true
    }

    /// A line from the host about the connector.
    pub fn host_line(&self, source: LogSource, message: String) {
        self.push(Level::Warn, source, &message);
    }

    /// Lines accepted so far (kept, or already drained).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Bytes of the lines accepted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Take the lines kept so far.
    pub fn drain(&self) -> Vec<LogLine> {
        self.lines.lock().expect("log lock").drain(..).collect()
    }

    /// Lines not kept because the session's log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The log as one call sees it: the session's log and the call's budget.
/// Everything a call causes to be written goes through here.
#[derive(Clone)]
pub struct CallLog {
    pub(crate) log: Arc<SessionLog>,
    pub(crate) used: Arc<Mutex<(u32, usize)>>,
    pub(crate) budget: LogBudget,
}

impl CallLog {
    /// A fresh budget for one call.
    pub fn new(log: Arc<SessionLog>, budget: LogBudget) -> Self {
        Self {
            log,
            used: Arc::default(),
            budget,
        }
    }

    /// A fresh budget for the next call, for every holder of this log.
    pub fn restart(&self) {
        *self.used.lock().expect("log budget lock") = (0, 0);
    }

    /// Count one line of `bytes` against the call's budget.
    pub fn charge(&self, bytes: usize) -> Result<(), LimitExceeded> {
        charge(&self.used, self.budget, bytes)
    }

    /// Charge and write one line.
    pub fn write(
        &self,
        level: Level,
        source: LogSource,
        message: &str,
    ) -> Result<(), LimitExceeded> {
        self.charge(message.len())?;
        self.log.push(level, source, message);
        Ok(())
    }

    /// A line from the host about what the call did, charged to the call.
    pub fn host_line(&self, source: LogSource, message: String) -> Result<(), LimitExceeded> {
        self.write(Level::Warn, source, &message)
    }

    /// An audit line: charged like any other, and an error unless it was
    /// kept, so the audited action does not happen unrecorded.
    pub fn audit(&self, message: String) -> Result<(), LimitExceeded> {
        self.charge(message.len())?;
        if self.log.push(Level::Info, LogSource::Audit, &message) {
            Ok(())
        } else {
            Err(LimitExceeded::LogVolume {
                lines: self.budget.lines,
                bytes: self.budget.bytes,
            })
        }
    }

    /// The limit, if this call went over it (through any path, including
    /// stdout/stderr, where a guest may swallow the write error).
    pub fn exceeded(&self) -> Option<LimitExceeded> {
        let used = self.used.lock().expect("log budget lock");
        (used.0 > self.budget.lines || used.1 > self.budget.bytes).then_some(
            LimitExceeded::LogVolume {
                lines: self.budget.lines,
                bytes: self.budget.bytes,
            },
        )
    }
}

/// Per-call log budget, shared by the log interface and stdout/stderr.
#[derive(Clone, Copy, Debug)]
pub struct LogBudget {
    /// Lines a single call may write.
    pub lines: u32,
    /// Bytes a single call may write.
    pub bytes: usize,
}

/// Per-call state behind `wharf:connector/log`.
pub struct LogState {
    pub(crate) call: CallLog,
}

fn charge(
    used: &Mutex<(u32, usize)>,
    budget: LogBudget,
    bytes: usize,
) -> Result<(), LimitExceeded> {
    let mut used = used.lock().expect("log budget lock");
    used.0 += 1;
    used.1 += bytes;
    if used.0 > budget.lines || used.1 > budget.bytes {
        return Err(LimitExceeded::LogVolume {
            lines: budget.lines,
            bytes: budget.bytes,
        });
    }
    Ok(())
}

impl Host for LogState {
    async fn log(&mut self, level: WitLevel, message: String) -> wasmtime::Result<()> {
        self.call.write(level.into(), LogSource::Guest, &message)?;
        Ok(())
    }
}

/// WASI stdout/stderr of a guest: split into lines, charged to the same
/// per-call budget, written to the session log.
#[derive(Clone)]
pub struct GuestOutput {
    pub(crate) call: CallLog,
    pub(crate) source: LogSource,
    pub(crate) partial: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    fn write_bytes(&self, data: &[u8]) -> std::io::Result<()> {
        let mut partial = self.partial.lock().expect("output lock");
        partial.extend_from_slice(data);
        while let Some(nl) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=nl).collect();
            self.emit(&line[..line.len() - 1])?;
        }
        // An unterminated line longer than the byte budget is a flood too.
        if partial.len() > self.call.budget.bytes {
            let line = std::mem::take(&mut *partial);
            self.emit(&line)?;
        }
        Ok(())
    }

    fn emit(&self, line: &[u8]) -> std::io::Result<()> {
        let level = match self.source {
            LogSource::Stderr => Level::Warn,
            _ => Level::Info,
        };
        self.call
            .write(level, self.source, &String::from_utf8_lossy(line))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::QuotaExceeded, e.to_string()))
    }

    /// Write out a final line without a newline.
    pub fn flush_partial(&self) {
        let line = std::mem::take(&mut *self.partial.lock().expect("output lock"));
        if !line.is_empty() {
            let _ = self.emit(&line);
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.write_bytes(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_log_keeps_a_bounded_number_of_redacted_lines() {
        let log = SessionLog::new(
            "t".into(),
            2,
            SharedRedactor::new(crate::model::redact::Redactor::new(["topsecret"])),
        );
        log.push(Level::Info, LogSource::Guest, "token=topsecret");
        log.push(Level::Info, LogSource::Guest, "two");
        log.push(Level::Info, LogSource::Guest, "three");
        let lines = log.drain();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message, "token=[REDACTED]");
        assert_eq!(log.dropped(), 1);
        // The cap holds for the session, not for what is left after a drain.
        log.push(Level::Info, LogSource::Guest, "four");
        assert!(log.drain().is_empty());
        assert_eq!(log.dropped(), 2);
    }

    #[test]
    fn call_budget_is_enforced() {
        let used = Mutex::new((0, 0));
        let budget = LogBudget {
            lines: 2,
            bytes: 100,
        };
        assert!(charge(&used, budget, 10).is_ok());
        assert!(charge(&used, budget, 10).is_ok());
        assert!(charge(&used, budget, 10).is_err());
        let used = Mutex::new((0, 0));
        assert!(charge(&used, budget, 101).is_err());
    }
}
