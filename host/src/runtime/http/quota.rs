//! The connection's quotas (`grants.quotas`, set by an administrator), as a
//! session enforces them before each request goes: body bytes a run, and
//! requests in any 60 seconds to one origin.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

use crate::model::limits::ConnectionQuotas;

/// How a refusal for a passed quota starts (the session turns a call that
/// failed on one into a limit, not a broken connection).
pub const QUOTA_REFUSAL: &str = "quota: ";

/// A session's quotas and what it has used of the per-minute one.
#[derive(Default)]
pub(super) struct Quota {
    quotas: ConnectionQuotas,
    /// When each origin's requests of the last minute went.
    minute: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Quota {
    pub(super) fn new(quotas: ConnectionQuotas) -> Self {
        Self {
            quotas,
            minute: Mutex::default(),
        }
    }

    /// Before a request to `url` sending `body_len` body bytes, with
    /// `used` body bytes moved so far: the refusal's reason when it would
    /// pass a quota (nothing is sent then).
    pub(super) fn take(&self, url: &Url, body_len: u64, used: u64) -> Result<(), String> {
        if let Some(max) = self.quotas.bytes_per_run
            && used + body_len > max
        {
            return Err(format!(
                "{QUOTA_REFUSAL}this connection may move at most {max} body bytes per run ({used} so far, this request sends {body_len}); an administrator sets grants.quotas.bytes_per_run"
            ));
        }
        if let Some(max) = self.quotas.requests_per_minute_per_host {
            let origin = url.origin().ascii_serialization();
            let now = Instant::now();
            let mut minute = self.minute.lock().expect("quota lock");
            let sent = minute.entry(origin.clone()).or_default();
            while sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
            {
                sent.pop_front();
            }
            if sent.len() >= max as usize {
                return Err(format!(
                    "{QUOTA_REFUSAL}this connection may send at most {max} requests a minute to {origin}; an administrator sets grants.quotas.requests_per_minute_per_host"
                ));
            }
            sent.push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_origin_has_its_own_minute_and_bytes_add_up() {
        let q = Quota::new(ConnectionQuotas {
            requests_per_minute_per_host: Some(2),
            bytes_per_run: Some(100),
        });
        let a = Url::parse("https://a.example.com/x").unwrap();
        let b = Url::parse("https://b.example.com/x").unwrap();
        assert!(q.take(&a, 0, 0).is_ok());
        assert!(q.take(&a, 0, 0).is_ok());
        let refused = q.take(&a, 0, 0).unwrap_err();
        assert!(refused.starts_with(QUOTA_REFUSAL), "{refused}");
        assert!(refused.contains("https://a.example.com"), "{refused}");
        assert!(q.take(&b, 0, 0).is_ok(), "another origin, another minute");
        assert!(q.take(&b, 40, 60).is_ok());
        assert!(q.take(&b, 41, 60).unwrap_err().contains("100 body bytes"));
    }
}
