//! What an administrator may give one connector beyond the node's default
//! sandbox limits, at upload: more (or less) memory per instance and time
//! per call, within the node's maxima. A Python or JavaScript runtime, or a
//! connector that reads large pages, needs more than a small Rust one. And
//! the quotas an administrator may set on one connection: requests a minute
//! to each host, body bytes a run.

use serde::{Deserialize, Serialize};

/// One connector's limits; `None` keeps the node's default.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ConnectorLimits {
    /// Linear memory per instance, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Time per call, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_timeout_secs: Option<u32>,
}

impl ConnectorLimits {
    /// Whether none is set.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Refuse values outside 1..=the node's maxima, naming the field and
    /// the maximum.
    pub fn check(&self, max_memory_mib: u32, max_call_timeout_secs: u32) -> Result<(), String> {
        for (field, value, max) in [
            ("memory_mib", self.memory_mib, max_memory_mib),
            (
                "call_timeout_secs",
                self.call_timeout_secs,
                max_call_timeout_secs,
            ),
        ] {
            if let Some(v) = value
                && !(1..=max).contains(&v)
            {
                return Err(format!(
                    "{field} must be between 1 and {max} (this node's maximum); it is {v}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_stay_within_the_node_maxima() {
        let l = |m, t| ConnectorLimits {
            memory_mib: m,
            call_timeout_secs: t,
        };
        assert!(l(None, None).check(256, 300).is_ok());
        assert!(l(Some(256), Some(300)).check(256, 300).is_ok());
        let e = l(Some(512), None).check(256, 300).unwrap_err();
        assert!(e.contains("memory_mib must be between 1 and 256"), "{e}");
        let e = l(None, Some(0)).check(256, 300).unwrap_err();
        assert!(e.contains("call_timeout_secs"), "{e}");
    }
}

/// Quotas on one connection, enforced by the host in each of its sessions
/// (a run, a check, a webhook delivery); `None` sets none.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ConnectionQuotas {
    /// Requests in any 60 seconds to any one origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub requests_per_minute_per_host: Option<u32>,
    /// Request and response body bytes in one session (a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub bytes_per_run: Option<u64>,
}

impl ConnectionQuotas {
    /// Whether none is set.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Refuse zeros (a quota of nothing is a disabled connection), naming
    /// the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.requests_per_minute_per_host == Some(0) {
            return Err((
                "requests_per_minute_per_host",
                "must be at least 1 (omit it for no quota)".into(),
            ));
        }
        if self.bytes_per_run == Some(0) {
            return Err((
                "bytes_per_run",
                "must be at least 1 (omit it for no quota)".into(),
            ));
        }
        Ok(())
    }
}
