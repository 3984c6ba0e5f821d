//! The one error type of the command line, and the exit codes it maps to.
//!
//! Every command (`serve`, `admin`, the server-client commands and `dev`)
//! returns [`Failure`], so that exit codes mean the same everywhere and a
//! script can tell "you called me wrong" from "the work failed":
//!
//! - 0: success;
//! - 1: the work failed (the server refused or could not do it, a
//!   connector's call failed, a run or check failed, rows were rejected);
//! - 2: bad usage or input (a malformed argument, an unreadable file, no API
//!   key);
//! - 3: `wharf dev` could not load the component.

use std::fmt;
use std::process::ExitCode;

/// A failed command: what to tell the person, and the exit code.
pub struct Failure {
    code: u8,
    /// Shown as `error[label]:`, so a reader sees which kind of failure it
    /// was without parsing the message (`wharf dev` names the call error's
    /// kind this way).
    label: Option<String>,
    message: String,
}

impl Failure {
    /// The work failed: exit code 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(1, message)
    }

    /// Bad usage or input: exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(2, message)
    }

    /// Exit code 1 with nothing more to say: for commands whose output has
    /// already told why (a failed check, a failed run, rejected rows).
    pub fn quiet() -> Self {
        Self::new(1, "")
    }

    /// Any exit code.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            label: None,
            message: message.into(),
        }
    }

    /// The same failure, shown as `error[label]: …`.
    pub fn labelled(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Print the message on stderr and give the exit code.
    pub fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            eprintln!("{self}");
        }
        ExitCode::from(self.code)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.label {
            Some(label) => write!(f, "error[{label}]: {}", self.message),
            None => write!(f, "error: {}", self.message),
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} (exit {})", self.code)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::failed(format!("{e:#}"))
    }
}
